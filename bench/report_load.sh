#!/usr/bin/env bash
# Report load bench (issue 12 item 3): does a report stall the loop?
# The real daemon (`slotfeed run`) serves a synthetic month store of N
# clinics (bench/report_store.py, the density of report_bench.sh) while
# two clients ask for the guarantee and the web-booking report in a loop
# and a prober asks /healthz every 20 ms. Prints /healthz p50/p99/max and
# the reports answered (200) and refused (503). Not a test, not run by CI.
#
#   bash bench/report_load.sh                 # build dir build-bench
#   SLOTFEED_BENCH_BIN=/path/to/slotfeed bash bench/report_load.sh
#                                             # another build (before/after)
#
# Environment: SLOTFEED_BENCH_BUILD (build-bench), SLOTFEED_BENCH_BIN
# (default BUILD/slotfeed, built here), SLOTFEED_BENCH_SIZES ("300"),
# SLOTFEED_BENCH_DURATION (seconds of load, 20), SLOTFEED_BENCH_CLIENTS (2).
# As root the daemon runs with --user nobody (the bench directory is
# handed to nobody: the store is written by the daemon too).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
SIZES=${SLOTFEED_BENCH_SIZES:-"300"}
DUR=${SLOTFEED_BENCH_DURATION:-20}
CLIENTS=${SLOTFEED_BENCH_CLIENTS:-2}

if [ -z "${SLOTFEED_BENCH_BIN:-}" ]; then
    cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j2 --target slotfeed >/dev/null
fi
BIN=${SLOTFEED_BENCH_BIN:-$root/$BUILD/slotfeed}
out=$root/$BUILD/bench/report_load
mkdir -p "$out"

pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "report_load: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for n in $SIZES; do
    src="$root/$BUILD/bench/report-$n.db"     # shared with report_bench.sh
    if [ ! -s "$src" ]; then
        mkdir -p "$(dirname "$src")"
        rm -f "$src" "$src-wal" "$src-shm"
        python3 bench/report_store.py "$src" "$n"
    fi
    # A fresh copy per run: the daemon writes its own clinic into it.
    run=$out/run-$n
    rm -rf "$run"
    mkdir -p "$run"
    cp "$src" "$run/history.db"
    port=$(free_port)
    # One clinic nobody answers for (its polls fail fast on a closed
    # port): the collector stays nearly idle, the loop serves HTTP.
    python3 - conf/demo-region.json "$run/region.json" "$port" \
        "$run/history.db" "$(free_port)" <<'EOF'
import json, re, sys
src, dst, port, store, dead = sys.argv[1:6]
r = json.load(open(src, encoding="utf-8"))
r["listen"] = "127.0.0.1:" + port
r["store"] = store
r["clinics"] = r["clinics"][:1]
for c in r["clinics"]:
    b = c.get("booking")
    if b and "url" in b:
        b["url"] = re.sub(r"^http://127\.0\.0\.1:\d+",
                          "http://127.0.0.1:" + dead, b["url"])
json.dump(r, open(dst, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
EOF
    user_args=()    # slotfeed refuses root without --user
    if [ "$(id -u)" -eq 0 ]; then
        chown -R nobody "$run"
        user_args=(--user nobody)
    fi
    "$BIN" run --config "$run/region.json" "${user_args[@]}" \
        >"$run/slotfeed.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || die "slotfeed exited early (see $run)"
        sleep 0.1
    done
    # One report on the CLI for scale: what a request costs.
    s=$(date +%s.%N)
    "$BIN" report guarantee --month 2026-03 --format csv --db "$src" \
        --now 2026-04-01T00:00:00+02:00 >/dev/null
    e=$(date +%s.%N)
    cli_ms=$(echo "($e - $s) * 1000" | bc -l | xargs printf '%.0f')

    python3 - "$port" "$DUR" "$CLIENTS" "$n" "$cli_ms" <<'EOF' |
import http.client, sys, threading, time
port, dur, nclients, n, cli_ms = (int(sys.argv[1]), float(sys.argv[2]),
                                  int(sys.argv[3]), sys.argv[4], sys.argv[5])
paths = ["/v1/reports/guarantee?month=2026-03",
         "/v1/reports/web-booking?from=2026-03-01&to=2026-03-31"]
stop = time.monotonic() + dur
counts = {"200": 0, "503": 0, "other": 0}
lock = threading.Lock()

def get(path, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status

def client(k):
    i = k
    while time.monotonic() < stop:
        try:
            st = get(paths[i % 2])
        except OSError:
            st = 0
        key = str(st) if st in (200, 503) else "other"
        with lock:
            counts[key] += 1
        if st == 503:
            time.sleep(0.2)     # a polite client honours Retry-After
        i += 1

lat = []
def prober():
    while time.monotonic() < stop:
        t = time.monotonic()
        try:
            get("/healthz", timeout=30)
        except OSError:
            pass
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(0.02)

ts = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
ts.append(threading.Thread(target=prober))
for t in ts:
    t.start()
for t in ts:
    t.join()
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print("clinics=%s clients=%d cli_guarantee_ms=%s healthz_n=%d p50_ms=%.1f "
      "p99_ms=%.1f max_ms=%.1f reports_200=%d reports_503=%d other=%d" %
      (n, nclients, cli_ms, len(lat), pct(50), pct(99), lat[-1],
       counts["200"], counts["503"], counts["other"]))
EOF
    tee -a "$out/report_load.txt"
    cleanup
    pid=
done
