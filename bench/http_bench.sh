#!/usr/bin/env bash
# HTTP bench: GET /v1/availability from slotfeed versus nginx serving the
# very same bytes as static files, measured with wrk on loopback in one run
# (design.md §8). Not a test and not run by CI.
#
#   bash bench/http_bench.sh            # build dir build-bench, 5 s per case
#
# Environment:
#   SLOTFEED_BENCH_BUILD   build directory (default build-bench)
#   SLOTFEED_BENCH_DRIVER  bench_serve (default) or run. bench_serve is the
#                          daemon's own wiring (app_new) that polls every
#                          clinic once and then only serves, so the feed's
#                          bytes and ETag stay fixed while wrk runs; `run`
#                          is `slotfeed run`, whose periodic polls rebuild
#                          the feed (new generated_at, new ETag) during the
#                          measurement, which turns a share of the "304"
#                          requests into 200s.
#   SLOTFEED_BENCH_DURATION  seconds per case (default 5)
#   SLOTFEED_BENCH_CONNS     wrk connections (default 50)
#   SLOTFEED_BENCH_REPEAT    rounds per case, best counts (default 3)
#
# Prints requests/s and p99 latency per case and the slotfeed/nginx ratio;
# also written to BUILD/bench/results.txt. Target: ratio >= 0.8.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
DRIVER=${SLOTFEED_BENCH_DRIVER:-bench_serve}
DUR=${SLOTFEED_BENCH_DURATION:-5}
CONNS=${SLOTFEED_BENCH_CONNS:-50}
REPEAT=${SLOTFEED_BENCH_REPEAT:-3}
CONFIG=conf/demo-region.json

bash scripts/deps.sh --bench
. scripts/lib.sh
quiet cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build "$BUILD" -j"$(nproc)" --target slotfeed slotfeed-sim \
    slotfeed_core

out=$root/$BUILD/bench
rm -rf "$out"
mkdir -p "$out/nginx/html" "$out/nginx/logs" "$out/nginx/tmp"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "http_bench: $*" >&2; exit 1; }

# A free loopback port (the kernel's pick; released before use).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until command "$@" succeeds (at most ~30 s); $pid must stay alive.
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

# Two cores: the servers on CPU 0, wrk on CPU 1, so they do not compete.
pin_srv=() pin_wrk=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_srv=(taskset -c 0)
    pin_wrk=(taskset -c 1)
fi

sim_port=$(free_port)
feed_port=$(free_port)
nginx_port=$(free_port)

# The demo region with our ports: the simulator's in every booking.url.
python3 - "$CONFIG" "$out/region.json" "$sim_port" "$feed_port" <<'EOF'
import json, re, sys
src, dst, sim, feed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
r = json.load(open(src, encoding="utf-8"))
r["listen"] = "127.0.0.1:" + feed
for c in r.get("clinics", []):
    b = c.get("booking")
    if b and "url" in b:
        b["url"] = re.sub(r"^http://127\.0\.0\.1:\d+", "http://127.0.0.1:" + sim,
                          b["url"])
json.dump(r, open(dst, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
EOF

"${pin_srv[@]}" "$BUILD/slotfeed-sim" --config "$out/region.json" \
    --listen "127.0.0.1:$sim_port" >"$out/sim.log" 2>&1 &
pids+=($!)
wait_for "$!" slotfeed-sim grep -q "listening on" "$out/sim.log"

url=http://127.0.0.1:$feed_port/v1/availability
# The feed has data once some clinic's availability is known.
has_data() {
    curl -fsS "$url" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(c.get("free_slots") is not None for c in d["clinics"]) else 1)'
}

case $DRIVER in
run)
    "${pin_srv[@]}" "$BUILD/slotfeed" run --config "$out/region.json" --poll-now \
        >"$out/slotfeed.log" 2>&1 &
    pids+=($!)
    ;;
bench_serve)
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude \
        bench/bench_serve.c "$BUILD/libslotfeed_core.a" \
        $(pkg-config --libs libevent libcurl libxml-2.0 libcjson sqlite3 zlib) \
        -lm -o "$out/bench_serve"
    "${pin_srv[@]}" "$out/bench_serve" "$out/region.json" "$feed_port" \
        >"$out/slotfeed.log" 2>&1 &
    pids+=($!)
    ;;
*) die "SLOTFEED_BENCH_DRIVER: want bench_serve or run, not $DRIVER" ;;
esac
feed_pid=$!
wait_for "$feed_pid" slotfeed has_data

# The exact bytes slotfeed serves, plain and gzip.
curl -fsS -D "$out/plain.hdr" -o "$out/nginx/html/availability.json" "$url"
curl -fsS -H 'Accept-Encoding: gzip' -D "$out/gzip.hdr" \
    -o "$out/nginx/html/availability.json.gz" "$url"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$out/plain.hdr")
[ -n "$etag" ] || die "no ETag from slotfeed"
feed_gzip=yes
if ! grep -qi '^content-encoding: *gzip' "$out/gzip.hdr"; then
    # Not (yet) compressed by slotfeed: nginx gets gzip -6 of the same JSON.
    feed_gzip=no
    gzip -6 -n -c "$out/nginx/html/availability.json" \
        >"$out/nginx/html/availability.json.gz"
fi
plain_len=$(stat -c %s "$out/nginx/html/availability.json")
gz_len=$(stat -c %s "$out/nginx/html/availability.json.gz")

user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$out/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $out/nginx/nginx.pid;
error_log $out/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $out/nginx/tmp/body;
    proxy_temp_path $out/nginx/tmp/proxy;
    fastcgi_temp_path $out/nginx/tmp/fastcgi;
    uwsgi_temp_path $out/nginx/tmp/uwsgi;
    scgi_temp_path $out/nginx/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    etag on;
    gzip off;
    map \$http_accept_encoding \$gz_suffix { ~*gzip .gz; default ""; }
    map \$http_accept_encoding \$gz_enc { ~*gzip gzip; default ""; }
    server {
        listen 127.0.0.1:$nginx_port;
        root $out/nginx/html;
        location = /v1/availability {
            default_type application/json;
            add_header Content-Encoding \$gz_enc;
            add_header Cache-Control "public, max-age=30";
            try_files /availability.json\$gz_suffix =404;
        }
    }
}
EOF
"${pin_srv[@]}" nginx -p "$out/nginx" -c "$out/nginx/nginx.conf" \
    >"$out/nginx/logs/stderr.log" 2>&1 &
pids+=($!)
nurl=http://127.0.0.1:$nginx_port/v1/availability
wait_for "$!" nginx curl -fsS -o /dev/null "$nurl"
curl -fsS -D "$out/nginx.hdr" -o "$out/nginx.body" "$nurl"
cmp -s "$out/nginx.body" "$out/nginx/html/availability.json" ||
    die "nginx does not serve the saved bytes"
netag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$out/nginx.hdr")
[ -n "$netag" ] || die "no ETag from nginx"

# Sanity: each case gives the status we mean to measure.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(status -H "If-None-Match: $etag" "$url")" = 304 ] ||
    die "slotfeed: If-None-Match did not give 304"
[ "$(status -H "If-None-Match: $netag" "$nurl")" = 304 ] ||
    die "nginx: If-None-Match did not give 304"

# run_wrk NAME URL [HEADER...]: one bounded wrk run; prints "rps p99".
run_wrk() {
    local name=$1 u=$2 hdr=()
    shift 2
    for h in "$@"; do hdr+=(-H "$h"); done
    "${pin_wrk[@]}" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${hdr[@]}" "$u" \
        >"$out/wrk-$name.txt" 2>&1 || die "wrk $name failed"
    if grep -q "Non-2xx or 3xx" "$out/wrk-$name.txt"; then
        die "wrk $name: error responses (see $out/wrk-$name.txt)"
    fi
    awk '/^Requests\/sec:/ {rps=$2} $1=="99%" {p99=$2}
         END {printf "%s %s\n", rps, p99}' "$out/wrk-$name.txt"
}

results=$out/results.txt
{
    echo "GET /v1/availability, wrk -t1 -c$CONNS -d${DUR}s --latency, loopback," \
         "best of $REPEAT alternating rounds"
    echo "driver: $DRIVER; $(nproc) CPUs; ${pin_srv[*]:-no pinning} (servers)" \
         "${pin_wrk[*]:-} (wrk); nginx $(nginx -v 2>&1 | sed 's/.*\///')" \
         "(1 worker)"
    echo "body: plain $plain_len bytes, gzip $gz_len bytes" \
         "(slotfeed gzip: $feed_gzip)"
    printf '%-12s %12s %10s %12s %10s %7s\n' case "slotfeed r/s" "p99" \
        "nginx r/s" "p99" ratio
} | tee "$results"

# best OLD NEW: the run with more requests/s ("rps p99" each).
best() {
    awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " ");
        print ((a == "" || y[1] + 0 > x[1] + 0) ? b : a)}'
}

# One case: REPEAT rounds, slotfeed and nginx alternating so that load
# from elsewhere on the machine hits both alike; the best round counts.
bench_case() {
    local name=$1 fh=$2 nh=$3 f="" n="" r
    for r in $(seq 1 "$REPEAT"); do
        f=$(best "$f" "$(run_wrk "slotfeed-$name-$r" "$url" ${fh:+"$fh"})")
        n=$(best "$n" "$(run_wrk "nginx-$name-$r" "$nurl" ${nh:+"$nh"})")
    done
    # shellcheck disable=SC2086
    set -- $f $n
    ratio=$(awk -v a="$1" -v b="$3" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
    # Without gzip from slotfeed the two gzip rows serve different bytes.
    [ "$name" = 200-gzip ] && [ "$feed_gzip" = no ] && ratio="n/a"
    printf '%-12s %12s %10s %12s %10s %7s\n' "$name" "$1" "$2" "$3" "$4" \
        "$ratio" | tee -a "$results"
}

# Warm both servers up (first-touch allocations, caches); not measured.
DUR=1 run_wrk warmup-slotfeed "$url" >/dev/null
DUR=1 run_wrk warmup-nginx "$nurl" >/dev/null

bench_case 200-plain "" ""
bench_case 200-gzip "Accept-Encoding: gzip" "Accept-Encoding: gzip"
bench_case 304 "If-None-Match: $etag" "If-None-Match: $netag"

# The feed must not have changed under the 304 run (see DRIVER above).
now_etag=$(curl -fsS -D - -o /dev/null "$url" |
           sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p')
[ "$now_etag" = "$etag" ] ||
    echo "note: the feed's ETag changed during the run (304 figure mixed)" |
    tee -a "$results"
echo "raw wrk output: $out/wrk-*.txt" | tee -a "$results"
