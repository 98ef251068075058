#!/usr/bin/env bash
# Root and --user: `slotfeed run` as root without --user refuses; with
# --user nobody it runs as nobody (checked in /proc), owns its store so
# the report connection, opened per request after the switch, works even
# under umask 077, and names at start-up a token file the user cannot
# read. Skipped when not root. Bounded: a few seconds.
set -euo pipefail
src=${SLOTFEED_SOURCE_DIR:?}
bin=${SLOTFEED_BIN:?}
. "$src/tests/helpers/proc.sh"
fail() { echo "FAIL: $*" >&2; [ -f "$work/run.err" ] && tail -20 "$work/run.err" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIPPED: needs root (the switch itself)"
    exit 77
fi
work=$(mktemp -d)
run_pid=""
trap '[ -n "$run_pid" ] && stop "$run_pid"; rm -rf "$work"' EXIT
chown nobody "$work"                       # the store's directory
mkdir -m 700 "$work/secret"                # root's only
echo "not-a-real-token" >"$work/secret/token"
chmod 600 "$work/secret/token"
cat >"$work/region.json" <<JSON
{
  "name": "user switch test",
  "clinics": [{
    "id": "SE2321000156-U001", "name": "Fysio U", "municipality": "Kil",
    "operator": "private",
    "booking": {"adapter": "fhir-slot", "url": "http://127.0.0.1:9/fhir",
                "actor": "Location/u1", "token_file": "$work/secret/token"}
  }]
}
JSON

# 1. root without --user: refused, nothing started.
if "$bin" run --config "$work/region.json" --listen 127.0.0.1:0 \
        >"$work/refused.out" 2>&1; then
    fail "ran as root without --user"
fi
grep -q "refusing to run as root" "$work/refused.out" ||
    fail "no refusal message: $(cat "$work/refused.out")"

# 2. --user nobody, umask 077 (root-made files unreadable to others).
(cd "$work" && umask 077 && exec "$bin" run --config "$work/region.json" \
    --listen 127.0.0.1:0 --user nobody >"$work/run.out" 2>"$work/run.err") &
run_pid=$!
wait_line "$work/run.out" "serving" "$run_pid" 10 || fail "did not start"
base=$(sed -n 's|.*serving .* at \(http://[^/ ]*\)/.*|\1|p' "$work/run.out")
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$run_pid/status")
[ "$uid" = "$(id -u nobody)" ] || fail "effective uid $uid, not nobody's"
grep -q "event=privileges_dropped user=nobody" "$work/run.err" ||
    fail "no privileges_dropped line"
grep -q "event=unreadable_after_switch clinic=SE2321000156-U001 key=booking.token_file" \
    "$work/run.err" || fail "unreadable token file not reported"
[ "$(stat -c %U "$work/slotfeed.db")" = nobody ] || fail "store not given to nobody"
code=$(curl -s -o "$work/report.json" -w '%{http_code}' \
    "$base/v1/reports/guarantee?month=2026-11")
[ "$code" = 200 ] || fail "report after the switch: HTTP $code: $(head -c 300 "$work/report.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")
[ "$code" = 200 ] || fail "healthz: HTTP $code"
stop "$run_pid"
run_pid=""
echo "ok: refused as root; ran as nobody (uid $uid), store owned by nobody, report 200 under umask 077, unreadable token file named"
