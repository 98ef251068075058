#!/usr/bin/env bash
# No personnummer in any public or stored output.
#
# A hostile upstream on loopback (tests/helpers/pii_upstream.py) answers a
# region of clinics on all three adapters with a personnummer, in every
# spelling, where booking systems put outside text:
#   RIV   SOAP faults with 8112189876, 19811218 9876, 19811218–9876 (en
#         dash) and 19811218-9876; performerName/timeTypeName of a slot;
#   FHIR  an OperationOutcome "Patient 19811218-9876 not found";
#   SMART a manifest whose output URL holds one; a slot whose deep link
#         and phone hold one.
# `slotfeed run --poll-now` polls them once; then the feed, every clinic
# document, every slots document, /$bulk-publish, /bulk/*.ndjson, the
# overview's data (/v1/availability) and report endpoints, /metrics, the
# SQLite store (sqlite3 .dump) and the logs are searched for the number
# in every spelling, also with separators removed between digits. Then
# a config with a JSON syntax error near "subject_of_care": +191212121212
# goes to check-config, run and slotfeed-sim: no echo. The markers must
# show up (the upstream was really heard), so the test is not vacuous.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
sim=${SLOTFEED_SIM_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
. "$src/tests/helpers/proc.sh"
tmp=$(mktemp -d)
up_pid=
run_pid=
cleanup() {
    [ -n "$run_pid" ] && stop "$run_pid"
    [ -n "$up_pid" ] && stop "$up_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "no_pii_public.sh: FAIL: $*" >&2; exit 1; }

/usr/bin/python3 "$src/tests/helpers/pii_upstream.py" >"$tmp/up.out" \
    2>"$tmp/up.err" &
up_pid=$!
wait_line "$tmp/up.out" "listening on" "$up_pid" 10 ||
    fail "upstream did not start: $(cat "$tmp/up.err")"
port=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$tmp/up.out")

mkdir -p "$tmp/state"
/usr/bin/python3 - "$tmp/region.json" "$port" "$tmp/state/s.db" <<'PY'
import json, sys
dst, port, store = sys.argv[1], sys.argv[2], sys.argv[3]
base = "http://127.0.0.1:%s" % port
def clinic(n, booking):
    return {"id": "SE2321000156-X%03d" % n, "name": "Clinic %d" % n,
            "municipality": "Karlstad", "operator": "private",
            "booking": booking}
riv = lambda: {"adapter": "rivta-scheduling", "url": base + "/vp"}
clinics = [clinic(i, riv()) for i in range(1, 6)]          # X001..X005
clinics.append(clinic(6, {"adapter": "fhir-slot", "url": base + "/fhir",
                          "actor": "Location/x006"}))
clinics.append(clinic(7, {"adapter": "smart-bulk",
                          "url": base + "/smart-bad/$bulk-publish",
                          "location": "kil-1"}))
clinics.append(clinic(8, {"adapter": "smart-bulk",
                          "url": base + "/smart/$bulk-publish",
                          "location": "kil-1"}))
r = {"name": "Hostile region", "timezone": "Europe/Stockholm",
     "guarantee": {"days": 3, "counting": "calendar"}, "horizon_days": 28,
     "poll_interval_s": 3600, "store": store,
     "riv": {"subject_of_care": "191212121212",
             "actor_type": "subject_of_care"},
     "politeness": {"hosts": {"127.0.0.1": {
         "rate_per_s": 200, "burst": 20, "max_concurrent_per_host": 16}}},
     "clinics": clinics}
json.dump(r, open(dst, "w"), ensure_ascii=False, indent=1)
PY
chmod 0755 "$tmp"
chmod 0644 "$tmp/region.json"
# shellcheck disable=SC2207
user=($(service_user_args "$tmp/state"))

"$bin" run --config "$tmp/region.json" --listen 127.0.0.1:0 --poll-now \
    ${user[@]+"${user[@]}"} >"$tmp/run.out" 2>"$tmp/run.err" &
run_pid=$!
wait_line "$tmp/run.err" "startup_poll_done" "$run_pid" 60 ||
    fail "run never finished its startup pass: $(tail -5 "$tmp/run.err")"
api=$(sed -n 's/.*event=listening url=\(http:\/\/[^ ]*\)\/ .*/\1/p' \
      "$tmp/run.err" | head -1)
[ -n "$api" ] || fail "no listening line: $(head -5 "$tmp/run.err")"

get() { # PATH FILE
    curl -sS --max-time 10 -o "$2" "$api$1" || fail "GET $1"
}
from=$(date -u +%Y-%m-%d)
to=$(date -u -d '+27 days' +%Y-%m-%d)
month=$(date -u +%Y-%m)
# The feed is rebuilt shortly after the polls (coalesced, app.c): read it
# until every clinic shows the outcome of its startup poll.
for _ in $(seq 1 100); do
    get /v1/availability "$tmp/o-feed.json"
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if sum(c.get("status") in ("ok", "error")
                  for c in d["clinics"]) == 8 else 1)' "$tmp/o-feed.json" &&
        break
    sleep 0.1
done
get /metrics "$tmp/o-metrics.txt"
get '/$bulk-publish' "$tmp/o-manifest.json"
for t in Location Schedule Slot; do
    get "/bulk/$t.ndjson" "$tmp/o-bulk-$t.ndjson"
done
get "/v1/reports/web-booking?from=$from&to=$to" "$tmp/o-report-web.json"
get "/v1/reports/guarantee?month=$month" "$tmp/o-report-guar.json"
for i in 1 2 3 4 5 6 7 8; do
    id=SE2321000156-X00$i
    get "/v1/clinics/$id" "$tmp/o-clinic-$i.json"
    get "/v1/clinics/$id/slots?from=$from&to=$to" "$tmp/o-slots-$i.json"
done
stop "$run_pid"
run_pid=
sqlite3 "$tmp/state/s.db" .dump >"$tmp/o-store.sql" ||
    fail "cannot dump the store"

# Not vacuous: every hostile clinic failed with our marker, the named
# slot and the SMART slots arrived, and the store holds their text.
grep -q '"status":"error"' "$tmp/o-feed.json" || fail "no clinic in error"
n=$(grep -o '\[personnummer\]' "$tmp/o-feed.json" | wc -l || true)
[ "$n" -ge 6 ] || fail "only $n markers in the feed: $(cat "$tmp/o-feed.json")"
for i in 1 2 3 4 6 7; do
    grep -q '\[personnummer\]' "$tmp/o-clinic-$i.json" ||
        fail "clinic X00$i: no marker: $(cat "$tmp/o-clinic-$i.json")"
done
grep -q 'Anna \[personnummer\]' "$tmp/o-slots-5.json" ||
    fail "RIV slot names: $(cat "$tmp/o-slots-5.json")"
grep -q 'pnr=\[personnummer\]' "$tmp/o-bulk-Slot.ndjson" ||
    fail "SMART deep link: $(cat "$tmp/o-bulk-Slot.ndjson")"
grep -q '\[personnummer\]' "$tmp/o-store.sql" || fail "nothing stored"

# The number in every spelling the upstream used (and the JSON escape of
# the en dash), then the digits with any separator between them removed.
python3 - "$tmp"/o-* "$tmp/run.err" "$tmp/run.out" <<'PY' || fail "leak"
import re, sys
spellings = ["198112189876", "8112189876", "19811218-9876", "811218-9876",
             "19811218 9876", "811218 9876", "19811218\u20139876",
             "811218\u20139876", "19811218\\u20139876", "19811218+9876",
             "19811218%209876", "19811218%2D9876", "811278-9873",
             "8112789873"]
sep = re.compile(r"(?<=\d)(?:[-+ \t\u2013\u2212\u00a0]|\\u2013|\\u2212|"
                 r"%2[0bBdD]|%E2%80%93|%e2%80%93)(?=\d)")
bad = 0
for f in sys.argv[1:]:
    text = open(f, encoding="utf-8", errors="replace").read()
    joined = sep.sub("", text)
    for s in spellings:
        if s in text:
            print("%s: %r" % (f, s), file=sys.stderr)
            bad += 1
    for core in ("8112189876", "8112789873"):
        if core in joined:
            i = joined.index(core)
            print("%s: digits %s in %r" % (f, core, joined[i-40:i+20]),
                  file=sys.stderr)
            bad += 1
sys.exit(1 if bad else 0)
PY

# Config errors: a syntax error right at the identity, in each command.
cat >"$tmp/bad.json" <<'EOF'
{
  "name": "R",
  "riv": { "subject_of_care": +191212121212, "actor_type": "subject_of_care" },
  "clinics": []
}
EOF
chmod 0644 "$tmp/bad.json"
"$bin" check-config "$tmp/bad.json" >"$tmp/c-check.out" 2>&1 &&
    fail "check-config accepted the bad config"
"$bin" run --config "$tmp/bad.json" --listen 127.0.0.1:0 \
    ${user[@]+"${user[@]}"} >"$tmp/c-run.out" 2>&1 &&
    fail "run accepted the bad config"
"$sim" --config "$tmp/bad.json" --listen 127.0.0.1:0 >"$tmp/c-sim.out" 2>&1 &&
    fail "slotfeed-sim accepted the bad config"
for f in "$tmp"/c-*.out; do
    grep -q "line 3" "$f" || fail "$(basename "$f"): no syntax error: $(cat "$f")"
    if grep -E -q "1212121212|121212-1212" "$f"; then
        fail "$(basename "$f") echoes the number: $(cat "$f")"
    fi
done
echo "no personnummer in $(ls "$tmp"/o-* | wc -l) public/stored outputs, the logs ($(wc -l <"$tmp/run.err") lines) or config errors"
