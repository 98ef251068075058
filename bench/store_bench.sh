#!/usr/bin/env bash
# Build bench/store_bench.c against a build directory's core library and
# run it in a scratch directory (figures: docs/store.md).
#   bench/store_bench.sh [BUILD_DIR [MEM_CLINICS]]   (default: build 2000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
lib=$build/libslotfeed_core.a
[ -f "$lib" ] || { echo "store_bench.sh: $lib missing (build first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -I"$here/include" "$here/bench/store_bench.c" "$lib" \
    $(pkg-config --libs libevent libcurl libxml-2.0 libcjson sqlite3 zlib) -lm \
    -o "$work/store_bench"
"$work/store_bench" "$work" "${2:-2000}"
