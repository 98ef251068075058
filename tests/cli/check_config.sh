#!/usr/bin/env bash
# slotfeed check-config: the demo region passes; a broken file reports every
# error with its JSON path and exits non-zero; --help works on each command.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

out=$("$bin" check-config "$src/conf/demo-region.json")
echo "$out"
grep -q "41 clinics" <<<"$out"

cat >"$tmp/bad.json" <<'JSON'
{
  "timezone": "Europe/Stockholm",
  "guarantee": {"days": 3, "counting": "weekly"},
  "horizon_dayz": 28,
  "riv": {"subject_of_care": "191212121212"},
  "clinics": [
    {"id": "SE123", "name": "A", "municipality": "Kil", "operator": "private"},
    {"id": "SE2321000156-X1", "name": "", "municipality": "Kil", "operator": "region",
     "booking": {"adapter": "nosuch", "url": "ftp://x"}}
  ]
}
JSON
if "$bin" check-config "$tmp/bad.json" 2>"$tmp/err"; then
    echo "bad config accepted" >&2; exit 1
fi
cat "$tmp/err"
for path in '$.guarantee.counting' '$.horizon_dayz' '$.clinics[0].id' \
            '$.clinics[1].name' '$.clinics[1].booking.adapter' '$.clinics[1].booking.url'; do
    grep -qF "$path" "$tmp/err" || { echo "missing error for $path" >&2; exit 1; }
done
grep -q "bad.json" "$tmp/err"

# URLs the runtime could never fetch are refused with their path
# (libcurl's parser, port 1..65535), credentials never, and never echoed.
if "$bin" check-config "$src/tests/fixtures/conf/bad-urls.json" 2>"$tmp/err"; then
    echo "bad URLs accepted" >&2; exit 1
fi
cat "$tmp/err"
for i in 0 1 2 3 4 5 6 7; do
    grep -qF "\$.clinics[$i].website: " "$tmp/err" ||
        { echo "missing error for clinics[$i].website" >&2; exit 1; }
done
grep -qF '$.clinics[8].booking.url: has a user name or password' "$tmp/err"
grep -qF '$.clinics[8].booking.booking_url: has a user name or password' "$tmp/err"
if grep -q "hunter2" "$tmp/err"; then echo "password echoed" >&2; exit 1; fi
if grep -qF '$.clinics[9]' "$tmp/err"; then
    echo "IPv6 [::1]:8080 refused" >&2; exit 1
fi
[ "$(wc -l <"$tmp/err")" -eq 10 ] || { echo "want exactly 10 errors" >&2; exit 1; }

printf '{"clinics": [' >"$tmp/trunc.json"
if "$bin" check-config "$tmp/trunc.json" 2>"$tmp/err"; then
    echo "truncated config accepted" >&2; exit 1
fi
grep -qi "line" "$tmp/err"

if "$bin" check-config "$tmp/does-not-exist.json" 2>"$tmp/err"; then
    echo "missing file accepted" >&2; exit 1
fi
grep -q "does-not-exist.json" "$tmp/err"

for cmd in run poll compute check-config; do
    "$bin" "$cmd" --help | grep -q "usage: slotfeed $cmd"
done
"$bin" --help | grep -q "commands:"
if "$bin" frobnicate 2>/dev/null; then echo "unknown command accepted" >&2; exit 1; fi
echo "check-config: ok"
