#!/usr/bin/env bash
# bench/hostile.sh [N] - hostile clients against a real `slotfeed run`.
#
# Builds nothing. Binaries: $SLOTFEED_BIN / $SLOTFEED_SIM_BIN if set, else
# $SLOTFEED_BINARY_DIR/{slotfeed,slotfeed-sim}, else ./build/... (run from
# the repository root after `cmake --build build`).
#
# Starts slotfeed-sim and `slotfeed run` on a copy of conf/demo-region.json
# (41 clinics, polls going on meanwhile) on 127.0.0.1:<ephemeral>, then
# bench/hostile.py: N (default 1000) slowloris connections holding partial
# headers and dripping a byte a second, 50 GET /healthz (one per 100 ms,
# fresh connection each) while they are held, the drop of every slow
# connection at the request deadline (10 s), and hostile single requests
# (huge header, long URL, many headers, bodies, pipelined garbage,
# HTTP/0.9, invalid method). Exits nonzero if a /healthz fails or takes
# >= HOSTILE_MAX_MS (default 100) ms, a slow connection outlives the
# deadline, or a hostile request is neither answered 4xx nor closed.
# Raises the soft fd limit (N + 256 needed, daemon and driver) when the
# hard limit allows. About deadline + 10 s in all.
set -euo pipefail

N=${1:-1000}
here=$(cd "$(dirname "$0")" && pwd)
src=${SLOTFEED_SOURCE_DIR:-$(cd "$here/.." && pwd)}
bdir=${SLOTFEED_BINARY_DIR:-$src/build}
slotfeed=${SLOTFEED_BIN:-$bdir/slotfeed}
sim=${SLOTFEED_SIM_BIN:-$bdir/slotfeed-sim}
max_ms=${HOSTILE_MAX_MS:-100}

fail() {
    echo "hostile.sh: FAIL: $*" >&2
    exit 1
}
[ -x "$slotfeed" ] || fail "no slotfeed binary at $slotfeed (build first, or set SLOTFEED_BINARY_DIR)"
[ -x "$sim" ] || fail "no slotfeed-sim binary at $sim"
command -v python3 >/dev/null || fail "python3 missing"

need=$((N + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null ||
        ulimit -n "$(ulimit -H -n)" ||
        fail "cannot raise the fd limit to $need (hard $(ulimit -H -n))"
fi
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] ||
    fail "fd limit $(ulimit -n) < $need for N=$N"

work=$(mktemp -d)
. "$src/tests/helpers/proc.sh"
sim_pid=""
run_pid=""
cleanup() {
    # Only the processes this script started.
    [ -n "$run_pid" ] && stop "$run_pid"
    [ -n "$sim_pid" ] && stop "$sim_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$src/conf/demo-region.json" "$work/region.json"
"$sim" --config "$work/region.json" --listen 127.0.0.1:0 \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
wait_line "$work/sim.out" "listening on" "$sim_pid" 10 ||
    fail "slotfeed-sim did not start: $(cat "$work/sim.err")"
sim_url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$work/sim.out")
[ -n "$sim_url" ] || fail "cannot read the sim's URL"
sed -i "s|http://127\.0\.0\.1:18471|${sim_url%/}|" "$work/region.json"
grep -q "${sim_url%/}" "$work/region.json" ||
    fail "could not point the region copy at the sim"
# The request deadline comes from the config (http.request_timeout_ms):
# HOSTILE_DEADLINE_S seconds, default the daemon's own 10.
deadline=${HOSTILE_DEADLINE_S:-10}
python3 - "$work/region.json" "$deadline" <<'PY'
import json, sys
p, d = sys.argv[1], float(sys.argv[2])
r = json.load(open(p, encoding="utf-8"))
r["http"] = {"request_timeout_ms": int(d * 1000)}
json.dump(r, open(p, "w", encoding="utf-8"), ensure_ascii=False)
PY

# `slotfeed run` refuses root without --user: as root, run it as nobody
# and hand it the work directory (config and store live there).
user_args=()
if [ "$(id -u)" = 0 ] && "$slotfeed" run --help 2>&1 | grep -q -- --user; then
    chown nobody "$work"
    user_args=(--user nobody)
fi
(cd "$work" && exec "$slotfeed" run --config "$work/region.json" \
    --listen 127.0.0.1:0 "${user_args[@]}" >"$work/run.out" \
    2>"$work/run.err") &
run_pid=$!
wait_line "$work/run.out" "serving" "$run_pid" 10 ||
    fail "slotfeed run did not start: $(tail -5 "$work/run.err")"
port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$work/run.out" |
       head -1)
[ -n "$port" ] || fail "cannot read the daemon's port"
echo "slotfeed run pid $run_pid on port $port (fd limit $(ulimit -n)), N=$N"

rc=0
python3 "$here/hostile.py" --port "$port" --pid "$run_pid" --n "$N" \
    --max-ms "$max_ms" --deadline "$deadline" || rc=$?
kill -0 "$run_pid" 2>/dev/null || fail "the daemon died: $(tail -5 "$work/run.err")"
# Stop it before reading its stderr: a sanitizer's leak report comes at exit.
stop "$run_pid"
run_pid=""
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error" "$work/run.err"; then
    grep -A20 "Sanitizer\|runtime error" "$work/run.err" | head -40 >&2
    fail "sanitizer report from the daemon"
fi
[ "$rc" = 0 ] || fail "hostile.py found problems (above)"
echo "hostile.sh: PASS"
