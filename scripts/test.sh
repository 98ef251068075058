#!/usr/bin/env bash
# Install what is missing, build twice (plain, and with AddressSanitizer +
# UBSan), and run the whole test suite on both builds. The last lines are
# ctest's summary of the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh --package --browser   # + the .deb tools (tests/cli/package.sh), axe-core (browser.sh)

. scripts/lib.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo)"
quiet cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
quiet cmake --build build -j"$jobs"
echo "== tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j"$jobs"

# Fuzz smoke (scripts/fuzz.sh, docs/security.md): every libFuzzer target
# for 20 s on its corpus; before the ASan run so that ctest's summary
# stays last.
echo "== fuzz smoke (clang, libFuzzer, 20 s per target)"
bash scripts/fuzz.sh 20

echo "== build (ASan + UBSan)"
quiet cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSLOTFEED_SANITIZE=ON
quiet cmake --build build-asan -j"$jobs"
echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
