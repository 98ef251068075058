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
#                          the feed (new generated_at, new ETag; at most
#                          every publish_interval_s) during the
#                          measurement; each 304 round revalidates with
#                          the ETag of that moment, and the script prints
#                          how many of slotfeed's replies were 304 (a
#                          republish during a round turns the rest into
#                          200s).
#   SLOTFEED_BENCH_DURATION  seconds per case (default 5)
#   SLOTFEED_BENCH_CONNS     wrk connections (default 50)
#   SLOTFEED_BENCH_REPEAT    rounds per case (default 3)
#
# Cases: 200 plain, 200 gzip (slotfeed's pre-gzipped snapshot bytes; nginx
# serves the very same .gz file with Content-Encoding: gzip), 304
# (If-None-Match), each slotfeed vs nginx; and, for information only (no
# nginx counterpart), a filtered query ?municipality=Karlstad.
# Prints, per case, the best and the median round (requests/s, p99) of
# each server and the slotfeed/nginx ratio of both; also written to
# BUILD/bench/results.txt. Target: ratio >= 0.8.
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
    bench_serve

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
    user_args=()    # slotfeed refuses root without --user
    [ "$(id -u)" -eq 0 ] && { chown nobody "$out"; user_args=(--user nobody); }
    "${pin_srv[@]}" "$BUILD/slotfeed" run --config "$out/region.json" --poll-now \
        "${user_args[@]}" >"$out/slotfeed.log" 2>&1 &
    pids+=($!)
    ;;
bench_serve)
    "${pin_srv[@]}" "$BUILD/bench_serve" "$out/region.json" "$feed_port" \
        >"$out/slotfeed.log" 2>&1 &
    pids+=($!)
    ;;
*) die "SLOTFEED_BENCH_DRIVER: want bench_serve or run, not $DRIVER" ;;
esac
feed_pid=$!
if [ "$DRIVER" = bench_serve ]; then
    # Ready = the whole first pass is done (slow and hanging demo clinics
    # included) and its snapshot built; earlier, later polls would still
    # change the bytes and the ETag under the measurement.
    wait_for "$feed_pid" bench_serve grep -q "bench_serve: ready" \
        "$out/slotfeed.log"
fi
wait_for "$feed_pid" slotfeed has_data

# The exact bytes slotfeed serves, plain and gzip.
curl -fsS -D "$out/plain.hdr" -o "$out/nginx/html/availability.json" "$url"
curl -fsS -H 'Accept-Encoding: gzip' -D "$out/gzip.hdr" \
    -o "$out/nginx/html/availability.json.gz" "$url"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p' "$out/plain.hdr")
[ -n "$etag" ] || die "no ETag from slotfeed"
grep -qi '^content-encoding: *gzip' "$out/gzip.hdr" ||
    die "slotfeed did not gzip for Accept-Encoding: gzip"
gzip -t <"$out/nginx/html/availability.json.gz" ||
    die "slotfeed's gzip body does not decompress"
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
curl -fsS -H 'Accept-Encoding: gzip' -D "$out/nginx-gz.hdr" \
    -o "$out/nginx-gz.body" "$nurl"
cmp -s "$out/nginx-gz.body" "$out/nginx/html/availability.json.gz" ||
    die "nginx does not serve the saved gzip bytes"
grep -qi '^content-encoding: *gzip' "$out/nginx-gz.hdr" ||
    die "nginx: no Content-Encoding: gzip on the .gz file"
furl="$url?municipality=Karlstad"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$furl")" = 200 ] ||
    die "slotfeed: filtered query did not give 200"

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
         "$REPEAT alternating rounds per server and case"
    echo "driver: $DRIVER; $(nproc) CPUs; ${pin_srv[*]:-no pinning} (servers)" \
         "${pin_wrk[*]:-} (wrk); nginx $(nginx -v 2>&1 | sed 's/.*\///')" \
         "(1 worker); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "body: plain $plain_len bytes, gzip $gz_len bytes (same bytes from both)"
    echo "best = round with most req/s (its p99); median = median req/s and"
    echo "median p99 over the rounds; ratio = slotfeed / nginx req/s"
    printf '%-12s %-6s %10s %9s %10s %9s %6s\n' case "" "slotfeed" "p99" \
        "nginx" "p99" ratio
} | tee "$results"

# pick MODE FILE: from lines "rps p99ms", the best (most req/s, its p99)
# or the median req/s and median p99 (p99 in ms, wrk's units converted).
pick() {
    awk -v mode="$1" '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        { r[NR] = $1 + 0; p[NR] = ms($2) }
        END {
            if (mode == "best") {
                b = 1
                for (i = 2; i <= NR; i++) if (r[i] > r[b]) b = i
                printf "%.0f %.2fms\n", r[b], p[b]; exit
            }
            n = NR
            for (i = 2; i <= n; i++)   # insertion sort: mawk has no asort
                for (j = i; j > 1 && r[j - 1] > r[j]; j--) {
                    t = r[j]; r[j] = r[j - 1]; r[j - 1] = t
                }
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && p[j - 1] > p[j]; j--) {
                    t = p[j]; p[j] = p[j - 1]; p[j - 1] = t
                }
            m = int((n + 1) / 2)
            if (n % 2) printf "%.0f %.2fms\n", r[m], p[m]
            else printf "%.0f %.2fms\n", (r[m] + r[m + 1]) / 2,
                        (p[m] + p[m + 1]) / 2
        }' "$2"
}

row() {
    local name=$1 mode=$2 f n ratio
    f=$(pick "$mode" "$out/runs-slotfeed-$name.txt")
    if [ -s "$out/runs-nginx-$name.txt" ]; then
        n=$(pick "$mode" "$out/runs-nginx-$name.txt")
    else
        n="- -"
    fi
    # shellcheck disable=SC2086
    set -- $f $n
    ratio=$(awk -v a="$1" -v b="$3" \
        'BEGIN {if (b + 0 > 0) printf "%.2f", a / b; else print "-"}')
    printf '%-12s %-6s %10s %9s %10s %9s %6s\n' "$name" "$mode" "$1" "$2" \
        "$3" "$4" "$ratio" | tee -a "$results"
}

# One case: REPEAT rounds, slotfeed and nginx alternating so that load
# from elsewhere on the machine hits both alike. NH "-" = slotfeed only.
bench_case() {
    local name=$1 fu=$2 fh=$3 nh=$4 r
    : >"$out/runs-slotfeed-$name.txt"
    : >"$out/runs-nginx-$name.txt"
    for r in $(seq 1 "$REPEAT"); do
        # "@etag": revalidate with the ETag slotfeed serves right now; with
        # the `run` driver the feed is republished every
        # publish_interval_s, so the ETag read at the start goes stale
        # and a "304" case would measure 200s.
        [ "$3" = @etag ] && fh="If-None-Match: $(current_etag)"
        run_wrk "slotfeed-$name-$r" "$fu" ${fh:+"$fh"} \
            >>"$out/runs-slotfeed-$name.txt"
        [ "$nh" = - ] && continue
        run_wrk "nginx-$name-$r" "$nurl" ${nh:+"$nh"} \
            >>"$out/runs-nginx-$name.txt"
    done
    row "$name" best
    row "$name" median
}

# Warm both servers up (first-touch allocations, caches); not measured.
DUR=1 run_wrk warmup-slotfeed "$url" >/dev/null
DUR=1 run_wrk warmup-nginx "$nurl" >/dev/null

bench_case 200-plain "$url" "" ""
bench_case 200-gzip "$url" "Accept-Encoding: gzip" "Accept-Encoding: gzip"
# slotfeed's own count of its /v1/availability replies with status $1
# (its /metrics; the wrk runs are the only such requests meanwhile).
avail_count() {
    curl -fsS "http://127.0.0.1:$feed_port/metrics" | awk -v code="$1" '
        index($1, "route=\"availability\"") &&
        index($1, "code=\"" code "\"") { n += $2 }
        END { print n + 0 }'
}
current_etag() {
    curl -fsS -D - -o /dev/null "$url" |
        sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p'
}
n200=$(avail_count 200) n304=$(avail_count 304)
bench_case 304 "$url" @etag "If-None-Match: $netag"
n200=$(($(avail_count 200) - n200)) n304=$(($(avail_count 304) - n304))
echo "304 case: slotfeed answered $n304 x 304 and $n200 x 200" \
     "($(awk -v a="$n304" -v b="$n200" \
         'BEGIN {if (a + b > 0) printf "%.1f", 100 * a / (a + b); else print 0}'\
     ) % 304; a 200 = the feed was republished and wrk's ETag went stale)" |
    tee -a "$results"
# For information: a filtered document (spliced and cached per snapshot).
bench_case filtered-gz "$furl" "Accept-Encoding: gzip" -

# With bench_serve the feed must not have changed during the runs.
[ "$(current_etag)" = "$etag" ] ||
    echo "note: the feed's ETag changed during the run (see the 304 line)" |
    tee -a "$results"
echo "raw wrk output: $out/wrk-*.txt" | tee -a "$results"
