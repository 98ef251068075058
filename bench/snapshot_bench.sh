#!/usr/bin/env bash
# Snapshot rebuild bench (issue 12 part 1): full rebuild vs a rebuild after
# one clinic changed, at N clinics with S free slots each, in memory (no
# simulators, no network). Not a test; not run by CI. Figures:
# docs/performance.md "Incremental snapshots".
#
#   bash bench/snapshot_bench.sh [N [S]]     # default 10000 171
#
# Environment:
#   SLOTFEED_BENCH_BUILD   build directory (default build-bench)
#   SLOTFEED_BENCH_FULL    full rebuilds timed (default 3)
#   SLOTFEED_BENCH_INCR    one-clinic-changed rebuilds timed (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
N=${1:-10000}
S=${2:-171}

. scripts/lib.sh
quiet cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build "$BUILD" -j"$(nproc)" --target snapshot_bench
"$BUILD/snapshot_bench" "$N" "$S" "${SLOTFEED_BENCH_FULL:-3}" \
    "${SLOTFEED_BENCH_INCR:-200}"
