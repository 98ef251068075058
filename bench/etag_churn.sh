#!/usr/bin/env bash
# ETag churn bench: the demo region (slotfeed-sim + `slotfeed run`, both on
# loopback) while one client revalidates GET /v1/availability once a second
# with the last ETag it got (If-None-Match), as a browser or a cache would.
# Prints the distinct ETags seen per minute and the share of revalidations
# answered 304. Not a test and not run by CI.
#
#   bash bench/etag_churn.sh             # build dir build, 60 s
#
# Environment:
#   SLOTFEED_BENCH_BUILD     build directory holding slotfeed and
#                            slotfeed-sim (default build; built if missing
#                            targets). Point it at another tree's build to
#                            measure an older commit with this script.
#   SLOTFEED_CHURN_DURATION  seconds of revalidation (default 60)
#   SLOTFEED_CHURN_WARMUP    seconds to wait after the feed has data, so the
#                            first poll pass (slow and hanging demo clinics
#                            included) is over (default 15)
#   SLOTFEED_CHURN_PUBLISH   publish_interval_s written into the region
#                            (default unset: the daemon's default, 30;
#                            builds older than the key reject it)
#
# Target (docs/performance.md): <= 3 distinct ETags per minute and >= 90 %
# of the once-a-second revalidations answered 304.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BUILD=${SLOTFEED_BENCH_BUILD:-build}
DUR=${SLOTFEED_CHURN_DURATION:-60}
WARMUP=${SLOTFEED_CHURN_WARMUP:-15}
PUBLISH=${SLOTFEED_CHURN_PUBLISH:-}
CONFIG=$root/conf/demo-region.json

. scripts/lib.sh
if [ ! -x "$BUILD/slotfeed" ] || [ ! -x "$BUILD/slotfeed-sim" ]; then
    quiet cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    quiet cmake --build "$BUILD" -j2 --target slotfeed slotfeed-sim
fi
BUILD=$(cd "$BUILD" && pwd)

out=$(mktemp -d /tmp/etag_churn.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$out"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "etag_churn: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() {
    local pid=$1 what=$2
    shift 2
    for _ in $(seq 1 300); do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || die "$what exited early"
        sleep 0.1
    done
    die "$what not ready after 30 s"
}

sim_port=$(free_port)
feed_port=$(free_port)

# The demo region with our ports, its store in the scratch directory.
python3 - "$CONFIG" "$out/region.json" "$sim_port" "$feed_port" \
    "$out/slotfeed.db" "$PUBLISH" <<'EOF'
import json, re, sys
src, dst, sim, feed, db, pub = sys.argv[1:7]
r = json.load(open(src, encoding="utf-8"))
r["listen"] = "127.0.0.1:" + feed
r["store"] = db
if pub:
    r["publish_interval_s"] = int(pub)
for c in r.get("clinics", []):
    b = c.get("booking")
    if b and "url" in b:
        b["url"] = re.sub(r"^http://127\.0\.0\.1:\d+", "http://127.0.0.1:" + sim,
                          b["url"])
json.dump(r, open(dst, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
EOF

"$BUILD/slotfeed-sim" --config "$out/region.json" \
    --listen "127.0.0.1:$sim_port" >"$out/sim.log" 2>&1 &
pids+=($!)
wait_for "$!" slotfeed-sim grep -q "listening on" "$out/sim.log"

user_args=()    # slotfeed refuses root without --user
[ "$(id -u)" -eq 0 ] && { chown nobody "$out"; user_args=(--user nobody); }
"$BUILD/slotfeed" run --config "$out/region.json" --poll-now \
    "${user_args[@]}" >"$out/slotfeed.log" 2>&1 &
pids+=($!)
feed_pid=$!

url=http://127.0.0.1:$feed_port/v1/availability
has_data() {
    curl -fsS "$url" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(c.get("free_slots") is not None for c in d["clinics"]) else 1)'
}
wait_for "$feed_pid" slotfeed has_data
sleep "$WARMUP"

python3 - "$feed_port" "$DUR" <<'EOF'
import http.client, sys, time
port, dur = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def get(etag):
    h = {"If-None-Match": etag} if etag else {}
    conn.request("GET", "/v1/availability", headers=h)
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("ETag")
_, etag = get(None)
seen, n304, n = {etag}, 0, 0
t0 = time.monotonic()
for i in range(1, dur + 1):
    time.sleep(max(0.0, t0 + i - time.monotonic()))
    st, tag = get(etag)
    n += 1
    if st == 304:
        n304 += 1
    elif st == 200:
        etag = tag
        seen.add(tag)
    else:
        sys.exit("etag_churn: unexpected status %d" % st)
# The ETag held at the start counts as one: distinct tags in the window.
print("etag_churn: %d s, %d revalidations: %d distinct ETags "
      "(%.1f per minute), %d answered 304 (%.1f %%)"
      % (dur, n, len(seen), len(seen) * 60.0 / dur, n304, 100.0 * n304 / n))
EOF
kill -0 "$feed_pid" 2>/dev/null || die "slotfeed exited during the run"
