#!/usr/bin/env bash
# No function over 120 lines in src/, adapters/ and sim/: a function that
# fits on a screen can be read whole. A function starts at a line in
# column 0 that opens a parameter list (continued on more lines or not),
# followed by a line "{"; it ends at the next "}" in column 0. Its length
# is the number of lines between the two braces.
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
limit=120

cd "$src"
out=$(find src adapters sim -name '*.c' | sort | xargs awk -v limit="$limit" '
    FNR == 1 { sig = ""; start = 0 }
    /^[a-z].*\(/ { sig = $0 }
    /^$/ || /^[^ \t].*;[ \t]*$/ { sig = "" }
    /^\{/ && sig != "" {
        name = sig
        sub(/\(.*/, "", name)
        sub(/.*[ *]/, "", name)
        start = FNR
        sig = ""
    }
    /^\}/ && start {
        n = FNR - start - 1
        found++
        if (n > limit)
            printf "FAIL: %s:%s is %d lines (limit %d)\n", FILENAME, name,
                   n, limit
        start = 0
    }
    END { printf "functions %d\n", found }
')

# A parser that finds nothing would pass everything: the tree has
# several hundred functions.
found=$(sed -n 's/^functions //p' <<< "$out")
if [ "${found:-0}" -lt 300 ]; then
    echo "FAIL: only ${found:-0} functions found; is the pattern broken?"
    exit 1
fi
if grep '^FAIL' <<< "$out"; then
    exit 1
fi
echo "ok: $found functions, none over $limit lines"
