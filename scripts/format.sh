#!/usr/bin/env bash
# The C sources in the house style (.clang-format, made for clang-format
# 14, Debian 12's). `bash scripts/format.sh` rewrites them in place;
# `--check` changes nothing and lists the files that differ (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

CF=${CLANG_FORMAT:-clang-format}
mode=${1:-}

files=$(git ls-files 2>/dev/null -- '*.c' '*.h' || true)
if [ -z "$files" ]; then
    # not a git checkout (an unpacked tarball): the same directories
    files=$(find src include adapters sim tests bench -name '*.[ch]' | sort)
fi

if [ "$mode" = "--check" ]; then
    bad=0
    for f in $files; do
        if ! "$CF" --style=file "$f" | cmp -s - "$f"; then
            echo "not formatted: $f (bash scripts/format.sh)"
            bad=1
        fi
    done
    exit $bad
fi
# shellcheck disable=SC2086
"$CF" --style=file -i $files
