#!/usr/bin/env bash
# slotfeed version: its own version and commit, and the runtime library
# versions, which must agree with what pkg-config says is installed.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
out=$("$bin" version)
echo "$out"
fail() { echo "FAIL: $*" >&2; exit 1; }

first=$(head -1 <<<"$out")
[[ $first =~ ^slotfeed\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ ([0-9a-f]{12}|unknown)\)$ ]] ||
    fail "first line '$first'"
[ "$("$bin" --version)" = "$out" ] || fail "--version differs from version"

# Each library line against the installed package's own version.
check() {  # name pkg-config-module
    local want got
    want=$(pkg-config --modversion "$2")
    got=$(awk -v n="$1" '$1 == n { print $2 }' <<<"$out")
    [ -n "$got" ] || fail "no $1 line"
    case "$got" in
        "$want"*) ;;
        *) fail "$1: slotfeed says $got, pkg-config says $want" ;;
    esac
}
check libevent libevent
check libcurl libcurl
check libxml2 libxml-2.0
check cJSON libcjson
check SQLite sqlite3
check zlib zlib
echo "ok: version and 6 library versions agree with pkg-config"
