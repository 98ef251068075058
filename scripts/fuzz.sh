#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and run
# each for SECONDS (default 600) on a scratch copy of its seed corpus.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   TARGET: riv fhir smart conf http avail pnr (default: all)
#
# New inputs go to build-fuzz/corpus-NAME (kept between runs, never into
# the repo), crash files to build-fuzz/artifacts-NAME/, the full log to
# build-fuzz/fuzz-NAME.log. Prints per target: executions, exec/s, final
# coverage/features, corpus size, and "clean" or the crash file. Exits 1
# if any target crashed. A crash file is replayed with
#   build-fuzz/fuzz_NAME CRASHFILE
# and, once fixed, kept in tests/fuzz/regress/NAME/ (docs/security.md).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
[ $# -gt 0 ] && shift
all=(riv fhir smart conf http avail pnr)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

bash scripts/deps.sh

bdir=build-fuzz
CC=clang cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSLOTFEED_FUZZ=ON >"$bdir.configure.log" 2>&1 ||
    { cat "$bdir.configure.log"; exit 1; }
mv -f "$bdir.configure.log" "$bdir/configure.log"
# Only the fuzz targets (and the core library they need): the tests and
# benches are built and run by scripts/test.sh.
build=()
for t in "${targets[@]}"; do build+=(--target "fuzz_$t"); done
cmake --build "$bdir" -j"$(nproc)" "${build[@]}" >"$bdir/build.log" 2>&1 ||
    { tail -50 "$bdir/build.log"; exit 1; }

# UBSan findings must stop the run like ASan's do.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "${targets[@]}"; do
    corpus="$bdir/corpus-$t"
    arts="$bdir/artifacts-$t"
    log="$bdir/fuzz-$t.log"
    mkdir -p "$corpus" "$arts"
    cp -n tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    cp -n tests/fuzz/regress/"$t"/* "$corpus"/ 2>/dev/null || true
    dict=()
    [ -f tests/fuzz/"$t".dict ] && dict=(-dict=tests/fuzz/"$t".dict)
    rc=0
    "$bdir/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$arts/" >"$log" 2>&1 || rc=$?
    # "Done N runs in S second(s)" and the last status line (cov/ft/exec/s)
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    eps=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
    [ -z "$runs" ] && runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
    ncorp=$(find "$corpus" -type f | wc -l)
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if [ $rc -ne 0 ] || [ -n "$crash" ]; then
        result="CRASH ${crash:-(exit $rc, see $log)}"
        failed=1
    else
        result=clean
    fi
    printf 'fuzz %-6s %5ss  execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %-5s %s\n' \
        "$t" "$secs" "${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" \
        "$ncorp" "$result"
done
exit $failed
