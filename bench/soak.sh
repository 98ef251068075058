#!/usr/bin/env bash
# Soak run (issue 7 part 4; owner: soak engineer).
#
#   bash bench/soak.sh [SECONDS]        # default 1200 (20 minutes)
#
# slotfeed-sim serves a region of simulated clinics (RIV, FHIR and SMART,
# a fifth of them faulty: fail_rate, latency, flaky, http429, truncated,
# garbage, SOAP faults, resets, hang, huge, gzip-bomb, redirect loop,
# drip; schedules that change every 20..120 s) and `slotfeed run
# --poll-now` polls it every 10 s with the history store on, listening on
# an ephemeral loopback port. bench/soak.py drives a steady mix of client
# requests (/v1/availability plain, gzip, If-None-Match, filtered;
# /v1/clinics/{id}; /$bulk-publish and NDJSON; /metrics; /healthz;
# /overview; both reports) and samples the daemon's RSS, peak RSS, open
# fds, threads and /metrics counters. At the end the daemon gets SIGTERM
# and must exit 0 within SOAK_TERM_S; its stderr must hold no sanitizer
# report (LeakSanitizer runs at exit in an ASan build). Prints the samples,
# the load's figures and a verdict; exits nonzero when a bound is broken.
#
# Environment:
#   SLOTFEED_BIN, SLOTFEED_SIM_BIN  binaries (default ./build/slotfeed,
#                  ./build/slotfeed-sim; ./build is built when missing)
#   SOAK_CLINICS   clinics in the region (default 120)
#   SOAK_RATE      client requests per second (default 150)
#   SOAK_SAMPLE_S  seconds between samples (default 10; 1 for runs < 300 s)
#   SOAK_TERM_S    seconds the daemon gets to exit after SIGTERM (20)
#   SOAK_KEEP=1    keep the work directory (logs, region, samples.json)
#   SOAK_RSS_CHECK 0 = report RSS growth without judging it (default 0 for
#                  sanitizer binaries: ASan's quarantine holds freed memory)
#   SOAK_RSS_TOL_KIB, SOAK_RSS_TOL_PCT, SOAK_FD_TOL  bounds (2048, 5, 8);
#                  see bench/soak.py.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SECS=${1:-1200}
case $SECS in
    '' | *[!0-9]*) echo "usage: bash bench/soak.sh [SECONDS]" >&2; exit 2 ;;
esac
[ "$SECS" -ge 20 ] || { echo "soak: SECONDS must be at least 20" >&2; exit 2; }
CLINICS=${SOAK_CLINICS:-120}
TERM_S=${SOAK_TERM_S:-20}
if [ "$SECS" -lt 300 ]; then
    export SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-1}
else
    export SOAK_SAMPLE_S=${SOAK_SAMPLE_S:-10}
fi

slotfeed=${SLOTFEED_BIN:-$root/build/slotfeed}
sim=${SLOTFEED_SIM_BIN:-$root/build/slotfeed-sim}
if [ -z "${SLOTFEED_BIN:-}" ] && { [ ! -x "$slotfeed" ] || [ ! -x "$sim" ]; }; then
    echo "soak: building ./build" >&2
    cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$root/build" -j2 --target slotfeed slotfeed-sim >/dev/null
fi
[ -x "$slotfeed" ] || { echo "soak: no slotfeed binary at $slotfeed" >&2; exit 2; }
[ -x "$sim" ] || { echo "soak: no slotfeed-sim binary at $sim" >&2; exit 2; }

# Sanitizer binaries: leaks are found by LeakSanitizer at exit, and RSS is
# dominated by ASan's quarantine, so RSS growth is reported, not judged.
sanitized=0
# (ldd's output is read whole first: `ldd | grep -q` under pipefail fails
# at random when grep's early exit makes ldd die of SIGPIPE.)
libs=$(ldd "$slotfeed" 2>/dev/null || true)
if grep -q 'libasan\|libubsan' <<<"$libs"; then
    sanitized=1
    export SOAK_RSS_CHECK=${SOAK_RSS_CHECK:-0}
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
fi

work=$(mktemp -d /tmp/slotfeed-soak.XXXXXX)
. "$root/tests/helpers/proc.sh"
sim_pid=""
run_pid=""
verdict=1
cleanup() {
    # Only the processes this script started.
    if [ -n "$run_pid" ]; then stop "$run_pid"; fi
    if [ -n "$sim_pid" ]; then stop "$sim_pid"; fi
    if [ "${SOAK_KEEP:-0}" = 1 ] || [ "$verdict" != 0 ]; then
        echo "soak: logs and samples kept in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
    echo "soak: FAIL: $*" >&2
    exit 1
}

python3 "$root/bench/soak.py" region "$work/region.json" "$CLINICS" \
    "$work/history.db" 7
# Binaries from before issue 7's hostile-transport profiles: leave those
# two profiles out rather than fail.
if ! "$slotfeed" check-config "$work/region.json" >"$work/check.out" 2>&1 &&
    grep -q 'unknown profile "\(gzip-bomb\|redirect-loop\)"' "$work/check.out"; then
    echo "soak: these binaries lack the gzip-bomb/redirect-loop profiles;" \
         "the region uses drip instead" >&2
    SOAK_NO_HOSTILE=1 python3 "$root/bench/soak.py" region \
        "$work/region.json" "$CLINICS" "$work/history.db" 7
fi

"$sim" --config "$work/region.json" --listen 127.0.0.1:0 --seed 7 \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
wait_line "$work/sim.out" "listening on" "$sim_pid" 20 ||
    die "slotfeed-sim did not start: $(head -5 "$work/sim.err")"
sim_url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$work/sim.out")
sim_origin=${sim_url%/vp}
case $sim_origin in
    http://127.0.0.1:[1-9]*) ;;
    *) die "cannot read the sim's address from: $(cat "$work/sim.out")" ;;
esac
sed -i "s|\"http://127\.0\.0\.1:1/|\"$sim_origin/|g" "$work/region.json"
! grep -q '"http://127\.0\.0\.1:1/' "$work/region.json" ||
    die "the region still points at the placeholder port 1"
"$slotfeed" check-config "$work/region.json" >"$work/check.out" 2>&1 ||
    die "the generated region does not pass check-config: $(head -20 "$work/check.out")"

# `slotfeed run` refuses root without --user: as root, run it as nobody
# and hand it the work directory (config, store and its -wal/-shm there).
user_args=()
if [ "$(id -u)" -eq 0 ] && "$slotfeed" run --help 2>&1 | grep -q -- --user; then
    chown nobody "$work"
    user_args=(--user nobody)
fi
# In $work: the daemon keeps its state file in its working directory.
(cd "$work" && exec "$slotfeed" run --config "$work/region.json" \
    "${user_args[@]}" --listen 127.0.0.1:0 --poll-now \
    >"$work/run.out" 2>"$work/run.err") &
run_pid=$!
wait_line "$work/run.out" "serving" "$run_pid" 30 ||
    die "slotfeed run did not start: $(head -5 "$work/run.err")"
base=$(sed -n 's|.*serving .* at \(http://[^/ ]*\)/.*|\1|p' "$work/run.out")
case $base in
    http://127.0.0.1:[1-9]*) ;;
    *) die "cannot read the daemon's address from: $(cat "$work/run.out")" ;;
esac

echo "soak: ${SECS} s, $CLINICS clinics, daemon pid $run_pid at $base," \
     "sim at $sim_origin, sample every ${SOAK_SAMPLE_S} s," \
     "$( [ $sanitized = 1 ] && echo "sanitizer build" || echo "plain build")," \
     "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
drive_rc=0
python3 "$root/bench/soak.py" drive "$base" "$run_pid" "$SECS" "$work" ||
    drive_rc=$?

# Clean stop: SIGTERM, then a bounded wait for exit status 0.
fail=()
[ "$drive_rc" = 0 ] || fail+=("load/growth check failed (exit $drive_rc, above)")
term_rc=""
if kill -TERM "$run_pid" 2>/dev/null; then
    t0=$SECONDS
    for _ in $(seq 1 $((TERM_S * 10))); do
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$run_pid" 2>/dev/null; then
        fail+=("the daemon did not exit within ${TERM_S} s of SIGTERM")
        kill -KILL "$run_pid" 2>/dev/null || true
    fi
    term_rc=0
    wait "$run_pid" || term_rc=$?
    run_pid=""
    echo "soak: SIGTERM -> exit status $term_rc after $((SECONDS - t0)) s"
    [ "$term_rc" = 0 ] || fail+=("exit status $term_rc after SIGTERM, want 0")
else
    fail+=("the daemon was gone before SIGTERM")
    wait "$run_pid" 2>/dev/null || true
    run_pid=""
fi
if grep -q "ERROR: LeakSanitizer\|ERROR: AddressSanitizer\|runtime error" \
    "$work/run.err"; then
    fail+=("sanitizer report in the daemon's stderr:
$(grep -A12 "ERROR: LeakSanitizer\|ERROR: AddressSanitizer\|runtime error" \
    "$work/run.err" | head -40)")
fi
echo "soak: daemon log: $(wc -l <"$work/run.err") lines;" \
     "$(grep -c 'level=error\|"level":"error"' "$work/run.err" || true) error lines"

if [ ${#fail[@]} -ne 0 ]; then
    for f in "${fail[@]}"; do echo "soak: FAIL: $f"; done
    echo "soak: daemon log ends:"
    tail -n 15 "$work/run.err"
    exit 1
fi
verdict=0
echo "soak: PASS"
