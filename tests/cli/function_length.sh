#!/usr/bin/env bash
# No function over 120 lines in src/, adapters/ and sim/ (a function that
# fits on a screen can be read whole). A function starts at a line in
# column 0 that opens a parameter list (continued on more lines or not),
# followed by a line "{"; it ends at
# the next "}" in column 0. Its length is the lines between the braces.
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
limit=120

# Functions not split yet, as file:function. This list may only shrink.
allowed=" \
sim/sim.c:answer_soap \
"

cd "$src"
long=$(find src adapters sim -name '*.c' | sort | xargs awk -v limit="$limit" '
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
        if (n > limit) printf "%s:%s %d\n", FILENAME, name, n
        start = 0
    }
')

fail=0
while read -r fn n; do
    [ -n "$fn" ] || continue
    case "$allowed" in
        *" $fn "*) echo "allowed (split it): $fn $n lines" ;;
        *) echo "FAIL: $fn is $n lines (limit $limit)"; fail=1 ;;
    esac
done <<< "$long"
exit $fail
