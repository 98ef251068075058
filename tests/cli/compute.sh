#!/usr/bin/env bash
# slotfeed compute on a real-shaped GetAvailableTimeslots answer around the
# spring DST switch (Sunday 2026-03-29). Expected values are worked out by
# hand in the comments of the fixture and below.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
fx=${SLOTFEED_SOURCE_DIR:?}/tests/fixtures/cli/timeslots-dst.xml
py=/usr/bin/python3

# now = Friday 27 March 12:00 CET, calendar rule, 3 days: deadline Monday 30.
out=$("$bin" compute --now 2026-03-27T12:00:00+01:00 "$fx")
"$py" - "$out" <<'PY'
import json, sys
a = json.loads(sys.argv[1])
assert a["first_free"] == "2026-03-27T15:00:00+01:00", a["first_free"]
assert a["within_guarantee"] is True
assert a["guarantee_deadline"] == "2026-03-30", a["guarantee_deadline"]
assert a["free_slots_within_guarantee"] == 2, a   # 27 Mar 15:00, 30 Mar 23:59
assert a["free_slots"] == 6, a                    # 11:00 has passed
assert a["upcoming_days"] == ["2026-03-27", "2026-03-30", "2026-03-31"], a
assert a["more_days"] == 2, a                     # 1 Apr, 15 Apr
day30 = [d for d in a["days"] if d["date"] == "2026-03-30"][0]
s = day30["slots"][0]
assert s["start"] == "2026-03-30T23:59:00+02:00", s
assert s["time"] == "23:59" and s["practitioner"] == "Lind, Anna", s
print("compute calendar: ok")
PY

# Working days: Mon 30 (1), Tue 31 (2), Wed 1 Apr (3) -> deadline 1 April.
out=$("$bin" compute --now 2026-03-27T12:00:00+01:00 --counting working "$fx")
"$py" - "$out" <<'PY'
import json, sys
a = json.loads(sys.argv[1])
assert a["guarantee_deadline"] == "2026-04-01", a["guarantee_deadline"]
assert a["free_slots_within_guarantee"] == 5, a
print("compute working: ok")
PY

# Guarantee 0 days, after the last slot of the day: nothing within.
out=$("$bin" compute --now 2026-03-27T15:00:00+01:00 --guarantee-days 0 "$fx")
"$py" - "$out" <<'PY'
import json, sys
a = json.loads(sys.argv[1])
assert a["within_guarantee"] is False, a          # 15:00 is not after now
assert a["first_free"] == "2026-03-30T23:59:00+02:00", a
print("compute day 0: ok")
PY

# Bad input: clear error naming the file, non-zero exit, no crash.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'not xml at all' >"$tmp/garbage.xml"
if "$bin" compute --now 2026-03-27T12:00:00+01:00 "$tmp/garbage.xml" 2>"$tmp/err"; then
    echo "compute accepted garbage" >&2; exit 1
fi
grep -q "garbage.xml" "$tmp/err"
if "$bin" compute --now yesterday "$fx" 2>"$tmp/err"; then
    echo "compute accepted a bad --now" >&2; exit 1
fi
grep -q -- "--now" "$tmp/err"
if "$bin" compute --now 2026-03-27T12:00:00+01:00 --counting weekly "$fx" 2>"$tmp/err"; then
    echo "compute accepted a bad --counting" >&2; exit 1
fi
echo "compute errors: ok"
