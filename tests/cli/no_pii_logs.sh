#!/usr/bin/env bash
# No personnummer in the logs. A region whose riv.subject_of_care is a
# (valid, made-up) personnummer is polled against slotfeed-sim with
# clinics on the fault profiles that make error texts (SOAP Fault,
# garbage, DTD, VP004/VP007, truncated, connection refused), twice:
# `slotfeed run -v --poll-now` (debug level, until the startup pass is
# done, then SIGTERM) and `slotfeed poll --once`; in JSON log format too
# when the binary has --log-format. The number must not appear in any
# spelling (12/10 digits, with or without '-'/'+') on stdout or stderr,
# and the runs must have produced debug, warn and per-clinic poll lines
# (a silent run would pass vacuously).
set -euo pipefail
bin=${SLOTFEED_BIN:?}
sim=${SLOTFEED_SIM_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
. "$src/tests/helpers/proc.sh"
now=2026-03-31T09:00:00+02:00
tmp=$(mktemp -d)
cleanup() {
    [ -n "${run_pid:-}" ] && stop "$run_pid"
    [ -n "${sim_pid:-}" ] && stop "$sim_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 19811218-9876: 8 1 1 2 1 8 9 8 7 -> 7+1+2+2+2+8+9+8+5 = 44 -> check 6.
pnr=198112189876
spellings=(198112189876 19811218-9876 8112189876 811218-9876 811218+9876
           19811218+9876)

# Region: the demo's header, one RIV clinic per profile.
/usr/bin/python3 - "$src/conf/demo-region.json" "$tmp/region.json" "$pnr" \
    "$tmp/state/slotfeed.db" <<'PY'
import copy, json, sys
demo = json.load(open(sys.argv[1]))
tmpl = next(c for c in demo["clinics"]
            if c.get("booking", {}).get("adapter") == "rivta-scheduling")
# No 503/429: their Retry-After holds the whole host for a minute.
profiles = ["normal", "busy", "error", "garbage", "hostile", "vp004",
            "vp007", "truncated", "normal"]
clinics = []
for i, p in enumerate(profiles, 1):
    c = copy.deepcopy(tmpl)
    c["id"] = "SE2321000156-P%03d" % i
    c["name"] = "Clinic %s" % p
    c["booking"]["booking_url"] = "https://example.invalid/" + c["id"]
    c["sim"] = {"profile": p}
    clinics.append(c)
# The last one where nothing listens: a transport error.
clinics[-1]["booking"]["url"] = "http://127.0.0.1:9/vp"
demo["clinics"] = clinics
# A tight bucket so clinics wait for the host: debug (sched_wait) lines.
demo["politeness"]["hosts"]["127.0.0.1"].update(
    {"rate_per_s": 20, "burst": 1, "max_concurrent_per_host": 2})
demo["riv"]["subject_of_care"] = sys.argv[3]
demo["store"] = sys.argv[4]
json.dump(demo, open(sys.argv[2], "w"), ensure_ascii=False, indent=1)
PY
mkdir -p "$tmp/state"
chmod 0777 "$tmp/state"
chmod 0755 "$tmp"
chmod 0644 "$tmp/region.json"
grep -q "\"$pnr\"" "$tmp/region.json" || fail "personnummer not in the config"

"$sim" --config "$tmp/region.json" --listen 127.0.0.1:0 --now "$now" \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
wait_line "$tmp/sim.out" "listening on" "$sim_pid" 10 ||
    fail "simulator did not start: $(cat "$tmp/sim.err")"
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
sed -i "s#http://127.0.0.1:18471/#http://127.0.0.1:$port/#g" "$tmp/region.json"

# Options the binary may or may not have yet (docs/operations.md).
run_help=$("$bin" run --help)
extra=()
if grep -q -- "--user" <<<"$run_help" && [ "$(id -u)" -eq 0 ]; then
    extra+=(--user nobody)   # root must name a user to drop to
fi
formats=(kv)
grep -q -- "--log-format" <<<"$run_help" && formats+=(json)

check_clean() { # FILE...
    local f s
    for f in "$@"; do
        for s in "${spellings[@]}"; do
            if grep -qF -- "$s" "$f"; then
                grep -nF -- "$s" "$f" | head -3 >&2
                fail "personnummer ($s) in $(basename "$f")"
            fi
        done
    done
}

# The check itself catches every spelling (else it proves nothing).
for s in "${spellings[@]}"; do
    echo "error=\"subject $s unknown\"" >"$tmp/probe"
    if (check_clean "$tmp/probe") 2>/dev/null; then
        fail "check_clean misses $s"
    fi
done

for fmt in "${formats[@]}"; do
    fmtopt=()
    [ "$fmt" = json ] && fmtopt=(--log-format json)
    "$bin" run --config "$tmp/region.json" --listen 127.0.0.1:0 --poll-now -v \
        ${extra[@]+"${extra[@]}"} ${fmtopt[@]+"${fmtopt[@]}"} \
        >"$tmp/run-$fmt.out" 2>"$tmp/run-$fmt.err" &
    run_pid=$!
    wait_line "$tmp/run-$fmt.err" "startup_poll_done" "$run_pid" 60 ||
        fail "run ($fmt) never finished its startup pass: $(tail -5 "$tmp/run-$fmt.err")"
    stop "$run_pid"
    run_pid=
    check_clean "$tmp/run-$fmt.out" "$tmp/run-$fmt.err"

    e=$tmp/run-$fmt.err
    lines=$(wc -l <"$e")
    if [ "$fmt" = kv ]; then
        debug=$(grep -c "level=debug" "$e" || true)
        warn=$(grep -c "level=warn event=poll " "$e" || true)
        polls=$(grep -o "event=poll clinic=[^ ]*" "$e" | sort -u | wc -l)
    else
        # Every line must be one JSON object.
        /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$e" || fail "run (json): not one JSON object per line"
        debug=$(grep -c '"level":"debug"' "$e" || true)
        warn=$(grep '"level":"warn"' "$e" | grep -c '"event":"poll"' || true)
        polls=$(grep '"event":"poll"' "$e" | grep -o '"clinic":"[^"]*"' | sort -u | wc -l)
    fi
    echo "run ($fmt): $lines log lines, $debug debug, $warn failed polls, $polls clinics polled"
    [ "$debug" -gt 0 ] || fail "run ($fmt): no debug lines with -v"
    [ "$warn" -ge 6 ] || fail "run ($fmt): only $warn failed-poll lines, want the fault clinics"
    [ "$polls" -ge 9 ] || fail "run ($fmt): only $polls clinics in poll lines"
done

"$bin" poll --once --config "$tmp/region.json" --now "$now" \
    >"$tmp/poll.out" 2>"$tmp/poll.err"
check_clean "$tmp/poll.out" "$tmp/poll.err"
grep -q "event=poll " "$tmp/poll.err" || fail "poll --once logged no polls"
grep -q '"status":"error"' "$tmp/poll.out" || fail "poll --once: no clinic in error"
echo "poll --once: $(wc -l <"$tmp/poll.err") log lines, feed $(wc -c <"$tmp/poll.out") bytes, no personnummer"
