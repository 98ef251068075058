#!/usr/bin/env bash
# Report bench: time to compute a month's care-guarantee report and
# web-booking report for 41 and for 1,000 clinics from synthetic stores
# written in the store.h schema (issue 6). Not a test and not run by CI.
#
#   bash bench/report_bench.sh          # build dir build-bench
#
# Each store holds March 2026 at a pessimistic density: polls every 60 s
# around the clock with the figures changing every 10 minutes, so 144
# poll runs per clinic and day (4,464 a month; a steadier clinic has far
# fewer), and 100 closed slot intervals per clinic and day.
#
# Environment: SLOTFEED_BENCH_BUILD (default build-bench),
# SLOTFEED_BENCH_BUILD_TYPE (Release), SLOTFEED_BENCH_SIZES (default
# "41 1000"), SLOTFEED_BENCH_REPEAT (3).
# Prints the best wall time of `slotfeed report ...` (process start, open,
# compute, CSV out) per size; also written to BUILD/bench/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
SIZES=${SLOTFEED_BENCH_SIZES:-"41 1000"}
REPEAT=${SLOTFEED_BENCH_REPEAT:-3}

cmake -S "$root" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE="${SLOTFEED_BENCH_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD" -j2 --target slotfeed >/dev/null
mkdir -p "$BUILD/bench"
out="$BUILD/bench/report.txt"
: >"$out"

for n in $SIZES; do
    db="$BUILD/bench/report-$n.db"
    if [ ! -s "$db" ]; then
        rm -f "$db" "$db-wal" "$db-shm"
        python3 bench/report_store.py "$db" "$n"
    fi
    size=$(du -m "$db" | cut -f1)
    for kind in guarantee web-booking; do
        if [ $kind = guarantee ]; then
            args="guarantee --month 2026-03"
        else
            args="web-booking --from 2026-03-01 --to 2026-03-31"
        fi
        best=
        for _ in $(seq "$REPEAT"); do
            s=$(date +%s.%N)
            "$BUILD/slotfeed" report $args --format csv --db "$db" \
                --now 2026-04-01T00:00:00+02:00 >/dev/null
            e=$(date +%s.%N)
            ms=$(echo "($e - $s) * 1000" | bc -l | xargs printf '%.0f')
            if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        done
        line="clinics=$n report=$kind store_mb=$size best_ms=$best"
        echo "$line" | tee -a "$out"
    done
done
