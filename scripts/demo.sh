#!/usr/bin/env bash
# Install what is missing, build, and run the demo region: the booking-system
# simulator and the slotfeed daemon, both on loopback. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG=${SLOTFEED_CONFIG:-conf/demo-region.json}
SIM_LISTEN=${SLOTFEED_SIM_LISTEN:-127.0.0.1:18471}

bash scripts/deps.sh

. scripts/lib.sh
quiet cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build build -j"$(nproc)"

simlog=$(mktemp)
cleanup() {
    [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -f "$simlog"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

./build/slotfeed-sim --config "$CONFIG" --listen "$SIM_LISTEN" >"$simlog" &
sim_pid=$!
for _ in $(seq 1 100); do
    grep -q "listening on" "$simlog" && break
    kill -0 "$sim_pid" 2>/dev/null || { echo "demo: simulator failed to start" >&2; exit 1; }
    sleep 0.1
done
cat "$simlog"

# slotfeed refuses to serve as root: a root shell (a fresh Debian box) has it
# switch to nobody once start-up is done (docs/operations.md).
user_args=()
[ "$(id -u)" -eq 0 ] && user_args=(--user "${SLOTFEED_USER:-nobody}")
./build/slotfeed run --config "$CONFIG" --poll-now "${user_args[@]}"
