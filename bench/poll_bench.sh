#!/usr/bin/env bash
# Collector bench (issue 4): one full poll pass over N simulated RIV
# clinics on loopback, for N = 1,000 and 10,000. Not a test; not run by CI.
#
#   bash bench/poll_bench.sh            # build dir build-bench
#
# Environment:
#   SLOTFEED_BENCH_BUILD    build directory (default build-bench)
#   SLOTFEED_BENCH_N        clinic counts (default "1000 10000")
#   SLOTFEED_BENCH_HOSTS    simulators, one per loopback address
#                           127.0.0.2, 127.0.0.3, ... (default 4)
#   SLOTFEED_BENCH_RATE     politeness rate_per_s per simulator host
#                           (default 1000, the config maximum)
#   SLOTFEED_BENCH_CONC     max_concurrent_per_host (default 32)
#   SLOTFEED_BENCH_FEED     0: skip the one-shot feed_build after the
#                           pass (A/B runs of the collector alone)
#   SLOTFEED_BENCH_WRAP     command prefix for poll_bench, e.g.
#                           "perf record -g -o /tmp/perf.data" (profiling)
#
# For each N the script writes a region of N rivta-scheduling clinics
# (HSA-ids SE2321000156-B00001 ...) spread round-robin over the hosts,
# with a politeness override per host (the default of 1 request/s per host
# would make a 10,000-clinic pass take hours; a real RIV producer gets the
# default), starts one slotfeed-sim per host as a separate process (their
# CPU is not counted), runs bench/poll_bench.c (collector + fetch on one
# event base, one collector_poll_all pass, then feed_build), stops the
# simulators and takes their request totals. Figures: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
NS=${SLOTFEED_BENCH_N:-1000 10000}
HOSTS=${SLOTFEED_BENCH_HOSTS:-4}
RATE=${SLOTFEED_BENCH_RATE:-1000}
CONC=${SLOTFEED_BENCH_CONC:-32}
read -r -a WRAP <<<"${SLOTFEED_BENCH_WRAP:-}"

. scripts/lib.sh
quiet cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build "$BUILD" -j"$(nproc)" --target slotfeed-sim poll_bench

out=$root/$BUILD/poll-bench
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

die() { echo "poll_bench: $*" >&2; exit 1; }

results=$out/results.txt
{
    echo "one collector_poll_all pass, N rivta-scheduling clinics on $HOSTS" \
         "slotfeed-sim processes (127.0.0.2..), rate_per_s $RATE," \
         "max_concurrent_per_host $CONC per host"
    echo "$(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%7s %7s %5s %8s %7s %8s %9s %10s %7s %9s %9s %8s %7s %7s %8s %6s | %9s %8s %9s\n' \
        clinics polls fail requests wall_s req/s cpu_s "cpu/1k" share \
        "waits" "pass_peak" "pass_now" "ref_us" "per_ref" "re_cpu/1k" \
        "same" "feed_peak" "feed_s" "feed_KB"
} | tee "$results"

for n in $NS; do
    dir=$out/n$n
    mkdir -p "$dir"
    # Region and one sub-region per simulator (only its own clinics).
    python3 - "$dir" "$n" "$HOSTS" "$RATE" "$CONC" <<'EOF'
import json, socket, sys
d, n, hosts, rate, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
munis = ["Karlstad", "Arvika", "Kristinehamn", "Säffle", "Torsby",
         "Hagfors", "Sunne", "Filipstad", "Grums", "Hammarö"]
addrs = []
for h in range(hosts):
    ip = "127.0.0.%d" % (h + 2)
    s = socket.socket()
    s.bind((ip, 0))
    addrs.append((ip, s.getsockname()[1]))
    s.close()
def region(clinics):
    return {
        "name": "poll bench, %d clinics" % n,
        "timezone": "Europe/Stockholm",
        "poll_interval_s": 60,
        "riv": {"subject_of_care": "191212121212"},
        "politeness": {"hosts": {ip: {
            "rate_per_s": rate, "burst": min(1000, max(1, int(rate / 10))),
            "max_concurrent_per_host": conc,
            "backoff_base_s": 1, "backoff_max_s": 10,
            "breaker_failures": 1000, "breaker_cooldown_s": 5}
            for ip, _ in addrs}},
        "clinics": clinics,
    }
all_c, per = [], [[] for _ in addrs]
for i in range(n):
    ip, port = addrs[i % hosts]
    hsa = "SE2321000156-B%05d" % (i + 1)
    c = {"id": hsa, "name": "Fysioterapi %d" % (i + 1),
         "municipality": munis[i % len(munis)], "operator": "private",
         "booking": {"adapter": "rivta-scheduling",
                     "url": "http://%s:%d/vp" % (ip, port),
                     "time_type_id": "NYB",
                     "time_type_name": "Nybesök fysioterapeut"}}
    all_c.append(c)
    per[i % hosts].append(c)
json.dump(region(all_c), open(d + "/region.json", "w"), ensure_ascii=False)
with open(d + "/sims.txt", "w") as f:
    for h, (ip, port) in enumerate(addrs):
        json.dump(region(per[h]), open("%s/sim%d.json" % (d, h), "w"),
                  ensure_ascii=False)
        f.write("%d %s %d\n" % (h, ip, port))
EOF
    sim_pids=()
    while read -r h ip port; do
        "$BUILD/slotfeed-sim" --config "$dir/sim$h.json" \
            --listen "$ip:$port" >"$dir/sim$h.out" 2>"$dir/sim$h.err" &
        pids+=($!)
        sim_pids+=($!)
    done <"$dir/sims.txt"
    for h in $(seq 0 $((HOSTS - 1))); do
        for _ in $(seq 1 300); do
            grep -q "listening on" "$dir/sim$h.out" 2>/dev/null && break
            sleep 0.1
        done
        grep -q "listening on" "$dir/sim$h.out" || die "sim $h not ready"
    done

    rc=0
    timeout 110 "${WRAP[@]}" "$BUILD/poll_bench" "$dir/region.json" \
        >"$dir/bench.txt" 2>"$dir/bench.log" || rc=$?
    # Request totals: each simulator prints them when told to stop.
    for p in "${sim_pids[@]}"; do kill -TERM "$p"; done
    for p in "${sim_pids[@]}"; do wait "$p" || true; done
    pids=()
    [ "$rc" = 0 ] || [ "$rc" = 3 ] ||
        die "poll_bench failed for N=$n (rc $rc): $(tail -3 "$dir/bench.log")"
    reqs=$(cat "$dir"/sim*.err |
           sed -n 's/.*shutting down after \([0-9]*\) requests.*/\1/p' |
           awk '{s += $1} END {print s + 0}')
    # Sets b_clinics, b_polls, ... from poll_bench's key=value lines.
    # shellcheck disable=SC1090
    . <(sed -n 's/^\([a-z0-9_]*\)=\([0-9.]*\)$/b_\1=\2/p' "$dir/bench.txt")
    # shellcheck disable=SC2154
    awk -v n="$b_clinics" -v polls="$b_polls" -v fail="$b_failures" \
        -v reqs="$reqs" -v wall="$b_pass_wall_s" -v cpu="$b_pass_cpu_s" \
        -v k="$b_cpu_s_per_1000_polls" -v share="$b_share_10k_per_min" \
        -v waits="$b_sched_waits" -v ppeak="$b_rss_after_pass_kb" \
        -v pnow="$b_rss_now_pass_kb" -v rss="$b_rss_peak_kb" \
        -v fs="$b_feed_build_s" -v fb="$b_feed_all_bytes" \
        -v ru="${b_ref_unit_us:-0}" -v pr="${b_pass_per_ref:-0}" \
        -v rk="${b_repoll_cpu_s_per_1000_polls:-0}" \
        -v rp="${b_repoll_polls:-0}" -v rs="${b_repoll_unchanged:-0}" \
        -v rw="${b_repoll_wall_s:-0}" 'BEGIN {
        printf "%7d %7d %5d %8d %7.2f %8.0f %9.2f %10.3f %6.1f%% %9d %9.1f %8.1f %7.1f %7.3f %9.3f %5.1f%% | %9.1f %8.3f %9.0f\n",
            n, polls, fail, reqs, wall, reqs / (wall + rw), cpu, k,
            share * 100, waits, ppeak / 1024, pnow / 1024, ru, pr, rk,
            (rp > 0 ? rs * 100 / rp : 0), rss / 1024, fs, fb / 1024 }' |
        tee -a "$results"
done
{
    echo "cpu/1k = CPU s (user+sys of the bench process) per 1,000 polls;"
    echo "share = that x 10,000 clinics / 60 s: one core's share for 10,000"
    echo "clinics polled once a minute (target < 20 %); waits = sched WAIT"
    echo "verdicts. ref_us = CPU of one reference unit sampled through the"
    echo "pass, per_ref = CPU per poll / ref_us: compare builds by per_ref,"
    echo "which this guest's speed swings move far less (poll_bench.c)."
    echo "re_cpu/1k = the same for a second pass right after the first"
    echo "(SLOTFEED_BENCH_REPOLL=0: none), as the daemon re-polls in steady"
    echo "state; same = its polls whose answers were all unchanged (not"
    echo "parsed again). requests and req/s: both passes; polls, fail,"
    echo "wall_s, cpu/1k: the first."
    echo "The collector's memory (target < 300 MB): pass_peak ="
    echo "peak RSS (ru_maxrss, MB) up to the end of the pass, pass_now ="
    echo "resident after the pass (after malloc_trim). Right of '|', NOT the"
    echo "collector: feed_peak = peak RSS including the feed_build done"
    echo "afterwards, feed = that build (s, all.json KB)."
    echo "details: $out/n*/bench.txt"
} | tee -a "$results"
