#!/usr/bin/env bash
# Scale bench (issue 12 item 7): the real daemon (`slotfeed run --poll-now`)
# with N clinics over RIV, FHIR and SMART served by simulators on loopback,
# while clients load the feed, revalidate it, probe /healthz and ask for a
# report. Not a test; not run by CI.
#
#   bash bench/scale.sh [N]             # default 10000; build dir build-bench
#
# Environment:
#   SLOTFEED_BENCH_BUILD     build directory (default build-bench)
#   SLOTFEED_BENCH_DURATION  seconds measured from the daemon's start, the
#                            first pass included (default 90)
#   SLOTFEED_BENCH_HOSTS     simulators, one per loopback address 127.0.0.2..
#                            (default 4)
#   SLOTFEED_BENCH_RATE      politeness rate_per_s per simulator (1000, the
#                            config maximum; a real upstream gets the default)
#   SLOTFEED_BENCH_LOAD      paced feed requests per second (default 200)
#   SLOTFEED_BENCH_NGINX     1 (default): also run bench/http_bench.sh with
#                            the daemon polling the demo region while it
#                            serves (the feed-vs-nginx ratios); 0: skip
#
# The region: 80 % rivta-scheduling clinics, 10 % fhir-slot, 10 %
# smart-bulk grouped 40 locations to a publisher (one manifest URL), spread
# round-robin over the simulators. Prints the daemon's CPU share (user+sys
# over wall: collector, snapshots and HTTP together), its peak RSS
# (VmHWM), snapshot rebuild time p50/p99, the longest build step (the
# loop held by snapshot work at once) and loop lag p99/max from its
# /metrics histograms, /healthz p99/max, the 304 share of once-a-second
# revalidations, the report client's answers, the host stalls seen by a
# 10 s probe afterwards (bench/hoststall.c), then the nginx ratios.
# Figures: docs/performance.md ("Scale").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

N=${1:-10000}
BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
DUR=${SLOTFEED_BENCH_DURATION:-90}
HOSTS=${SLOTFEED_BENCH_HOSTS:-4}
RATE=${SLOTFEED_BENCH_RATE:-1000}
LOAD=${SLOTFEED_BENCH_LOAD:-200}
NGINX=${SLOTFEED_BENCH_NGINX:-1}

. scripts/lib.sh
quiet cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build "$BUILD" -j"$(nproc)" --target slotfeed slotfeed-sim \
    hoststall

out=$root/$BUILD/bench/scale-$N
rm -rf "$out"
mkdir -p "$out"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "scale: $*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pub_port=$(free_port)
adm_port=$(free_port)
python3 - "$out" "$N" "$HOSTS" "$RATE" "$pub_port" "$adm_port" <<'EOF'
import json, socket, sys
d, n, hosts, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4])
pub, adm = sys.argv[5], sys.argv[6]
munis = ["Karlstad", "Arvika", "Kristinehamn", "Säffle", "Torsby",
         "Hagfors", "Sunne", "Filipstad", "Grums", "Hammarö"]
addrs = []
for h in range(hosts):
    ip = "127.0.0.%d" % (h + 2)
    s = socket.socket()
    s.bind((ip, 0))
    addrs.append((ip, s.getsockname()[1]))
    s.close()
def region(clinics, **extra):
    r = {"name": "scale bench, %d clinics" % n,
         "timezone": "Europe/Stockholm", "poll_interval_s": 60,
         "riv": {"subject_of_care": "191212121212"},
         "politeness": {"hosts": {ip: {
             "rate_per_s": rate, "burst": min(1000, max(1, int(rate / 10))),
             "max_concurrent_per_host": 32,
             "backoff_base_s": 1, "backoff_max_s": 10,
             "breaker_failures": 1000, "breaker_cooldown_s": 5}
             for ip, _ in addrs}},
         "clinics": clinics}
    r.update(extra)
    return r
all_c, per = [], [[] for _ in addrs]
smart_k = 0
for i in range(n):
    h = i % hosts
    ip, port = addrs[h]
    base = "http://%s:%d" % (ip, port)
    hsa = "SE2321000156-S%05d" % (i + 1)
    kind = i % 10
    if kind < 8:
        b = {"adapter": "rivta-scheduling", "url": base + "/vp",
             "time_type_id": "NYB"}
    elif kind == 8:
        b = {"adapter": "fhir-slot", "url": base + "/fhir/r4",
             "actor": "Location/s%05d" % (i + 1)}
    else:
        # 40 locations per publisher; publishers live on one host each.
        pubno = smart_k // 40
        smart_k += 1
        ip, port = addrs[pubno % hosts]
        h = pubno % hosts
        b = {"adapter": "smart-bulk",
             "url": "http://%s:%d/smart/p%d/$bulk-publish" % (ip, port, pubno),
             "location": "loc-%05d" % (i + 1)}
    b["time_type_name"] = "Nybesök fysioterapeut"
    c = {"id": hsa, "name": "Fysioterapi %d" % (i + 1),
         "municipality": munis[i % len(munis)], "operator": "private",
         "booking": b}
    all_c.append(c)
    per[h].append(c)
json.dump(region(all_c, listen="127.0.0.1:" + pub,
                 http={"admin_listen": "127.0.0.1:" + adm},
                 store=d + "/history.db"),
          open(d + "/region.json", "w"), ensure_ascii=False)
with open(d + "/sims.txt", "w") as f:
    for h, (ip, port) in enumerate(addrs):
        json.dump(region(per[h]), open("%s/sim%d.json" % (d, h), "w"),
                  ensure_ascii=False)
        f.write("%d %s %d\n" % (h, ip, port))
EOF

"$BUILD/slotfeed" check-config "$out/region.json" >/dev/null ||
    die "the generated region does not pass check-config"
while read -r h ip port; do
    "$BUILD/slotfeed-sim" --config "$out/sim$h.json" --listen "$ip:$port" \
        >"$out/sim$h.out" 2>"$out/sim$h.err" &
    pids+=($!)
done <"$out/sims.txt"
for h in $(seq 0 $((HOSTS - 1))); do
    for _ in $(seq 1 300); do
        grep -q "listening on" "$out/sim$h.out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "listening on" "$out/sim$h.out" || die "sim $h not ready"
done

user_args=()    # slotfeed refuses root without --user
if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody "$out"
    user_args=(--user nobody)
fi
"$BUILD/slotfeed" run --config "$out/region.json" --poll-now \
    "${user_args[@]}" --log-level warn >"$out/slotfeed.log" 2>&1 &
dpid=$!
pids+=($dpid)
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$pub_port/healthz" >/dev/null 2>&1 && break
    kill -0 "$dpid" 2>/dev/null || die "slotfeed exited early (see $out)"
    sleep 0.1
done
start=$(date +%s.%N)
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' "/proc/$dpid/stat")

python3 bench/scale_client.py "$pub_port" "$adm_port" "$DUR" "$LOAD" \
    >"$out/client.txt"

cpu1=$(awk '{print $14 + $15}' "/proc/$dpid/stat")
end=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$dpid/status")
curl -fsS "http://127.0.0.1:$adm_port/metrics" >"$out/metrics.txt"
curl -fsS "http://127.0.0.1:$pub_port/v1/availability" >"$out/feed.json"

# p-quantile (upper bucket bound) and the largest finite bucket reached of
# a Prometheus histogram in the scrape; "n/a" when the daemon lacks it.
hist() {
    python3 - "$out/metrics.txt" "$1" <<'EOF'
import re, sys
text, name = open(sys.argv[1]).read(), sys.argv[2]
b = [(float("inf") if m[0] == "+Inf" else float(m[0]), float(m[1]))
     for m in re.findall(r'^%s_bucket\{le="([^"]+)"\} (\S+)' % name, text, re.M)]
if not b or b[-1][1] == 0:
    print("n/a n/a n/a"); sys.exit()
total = b[-1][1]
def q(p):
    for le, c in b:
        if c >= p * total:
            return "%g" % (le * 1000) if le != float("inf") else ">%g" % (b[-2][0] * 1000)
prev, top = 0, "0"
for le, c in b:
    if c > prev:
        top = "%g" % (le * 1000) if le != float("inf") else ">%g" % (b[-2][0] * 1000)
    prev = c
print(q(0.5), q(0.99), top)
EOF
}
read -r rb50 rb99 _ < <(hist slotfeed_feed_rebuild_seconds)
read -r _ lag99 lagmax < <(hist slotfeed_loop_lag_seconds)
read -r _ st99 stmax < <(hist slotfeed_feed_build_step_seconds)
read -r _ fl99 flmax < <(hist slotfeed_store_flush_seconds)
polls=$(awk '/^slotfeed_polls_total/ {s += $2} END {print s + 0}' \
        "$out/metrics.txt")
fresh=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = d.get("clinics", [])
print(sum(1 for x in c if x.get("status") == "ok"), len(c))' "$out/feed.json")
# shellcheck disable=SC1090
. <(sed -n 's/^\([a-z0-9_]*\)=\([0-9.a-z]*\)$/c_\1=\2/p' "$out/client.txt")

results=$out/results.txt
# shellcheck disable=SC2154
{
    echo "scale bench: $N clinics (80 % RIV, 10 % FHIR, 10 % SMART in"
    echo "publishers of 40), $HOSTS simulators, ${DUR} s from start-up,"
    echo "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '  %-34s %s\n' \
        "polls finished / clinics ok" "$polls / ${fresh% *} of ${fresh#* }" \
        "daemon CPU share (of one core)" \
        "$(echo "($cpu1 - $cpu0) / $ticks / ($end - $start) * 100" | bc -l |
           xargs printf '%.1f %%')" \
        "daemon peak RSS" "$((hwm / 1024)) MB" \
        "rebuild p50 / p99 (ms, bucket)" "$rb50 / $rb99" \
        "build step p99 / max (ms, bucket)" "$st99 / $stmax" \
        "store flush p99 / max (ms, bucket)" "$fl99 / $flmax" \
        "loop lag p99 / max (ms, bucket)" "$lag99 / $lagmax" \
        "/healthz p99 / max (ms)" "$c_healthz_p99_ms / $c_healthz_max_ms (n $c_healthz_n, failed $c_healthz_fail)" \
        "feed load p99 (ms)" "$c_load_p99_ms (n $c_load_n, failed $c_load_fail)" \
        "revalidations answered 304" "$c_share_304 (n $c_reval_n)" \
        "report client 200 / 503 / other" "$c_report_200 / $c_report_503 / $c_report_other (p50 $c_report_p50_ms ms)"
} | tee "$results"
cleanup
# On a virtual machine the host may take the CPU away unseen for ~100 ms;
# the loop-lag and build-step maxima above cannot be shorter than that.
printf '  %s\n' "$("$BUILD/hoststall" 10)" | tee -a "$results"

if [ "$NGINX" = 1 ]; then
    echo "feed vs nginx, the daemon polling the demo region while it serves:"
    SLOTFEED_BENCH_BUILD=$BUILD SLOTFEED_BENCH_DRIVER=run \
        bash bench/http_bench.sh | grep -E 'ratio|^\| |best|median' |
        tee -a "$results" || true
fi
echo "details: $out"
