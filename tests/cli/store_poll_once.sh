#!/usr/bin/env bash
# History built step by step on a simulated clock: `slotfeed poll --once
# --now T` twice, one interval apart, against slotfeed-sim (fixed clock)
# on loopback, with the config key `store` relative to the working
# directory. Expected, from the demo region itself: the roster holds every
# clinic (has_booking as configured); each polled clinic has one poll run
# of 2 polls (identical answers 60 s apart extend the run), t_first = T,
# t_last = T + 60, local_day = the Stockholm date of T; a third poll two
# intervals later (a missed poll) starts a new run. A store path in a
# missing directory is reported and the feed is still printed.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
sim=${SLOTFEED_SIM_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
tmp=$(mktemp -d)
sim_pid=""
cleanup() {
    # Only the simulator this script started.
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "store_poll_once.sh: FAIL: $*" >&2; exit 1; }

t0=2026-03-31T09:00:00+02:00      # 07:00Z, local date 2026-03-31
t1=2026-03-31T09:01:00+02:00
t3=2026-03-31T09:03:00+02:00
"$sim" --config "$src/conf/demo-region.json" --listen 127.0.0.1:0 --now "$t0" \
    >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$tmp/sim.out" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || fail "sim: $(cat "$tmp/sim.err")"
    sleep 0.05
done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/sim.out")
[ -n "$port" ] || fail "no port in: $(cat "$tmp/sim.out")"

python3 - "$src/conf/demo-region.json" "$tmp/region.json" "$port" <<'EOF'
import json, sys
src, dst, port = sys.argv[1:4]
text = open(src, encoding="utf-8").read().replace(
    "http://127.0.0.1:18471/", "http://127.0.0.1:%s/" % port)
r = json.loads(text)
r["poll_interval_s"] = 60
r["store"] = "hist/h.db"          # relative: against the working directory
json.dump(r, open(dst, "w", encoding="utf-8"), ensure_ascii=False)
r["politeness"] = {"rate_per_s": 1000, "burst": 100,
                   "max_concurrent_per_host": 50}
json.dump(r, open(dst + ".fast", "w", encoding="utf-8"), ensure_ascii=False)
EOF
# Faster polls when this build knows the politeness key.
"$bin" check-config "$tmp/region.json.fast" >/dev/null 2>&1 &&
    mv "$tmp/region.json.fast" "$tmp/region.json"

mkdir -p "$tmp/wd/hist"
for t in "$t0" "$t1" "$t3"; do
    (cd "$tmp/wd" && "$bin" poll --once --config "$tmp/region.json" \
        --now "$t" >"$tmp/feed.json" 2>>"$tmp/poll.err") ||
        fail "poll --once --now $t: $(tail -3 "$tmp/poll.err")"
done
[ -f "$tmp/wd/hist/h.db" ] || fail "no store at the relative path hist/h.db"

python3 - "$tmp/wd/hist/h.db" "$tmp/region.json" <<'EOF'
import datetime, json, sqlite3, sys
db, region = sys.argv[1:3]
r = json.load(open(region, encoding="utf-8"))
booked = {c["id"].upper() for c in r["clinics"] if c.get("booking")}
c = sqlite3.connect(db)
assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
roster = dict(c.execute("SELECT hsa_id, has_booking FROM clinic"))
assert set(roster) == {x["id"].upper() for x in r["clinics"]}, roster
assert {k for k, v in roster.items() if v} == booked
t0 = int(datetime.datetime(2026, 3, 31, 7, 0, tzinfo=datetime.timezone.utc).timestamp())
day = (datetime.date(2026, 3, 31) - datetime.date(1970, 1, 1)).days
rows = c.execute(
    "SELECT hsa_id, t_first, t_last, n, local_day FROM poll"
    " JOIN clinic ON clinic.id = poll.clinic_id ORDER BY poll.id").fetchall()
polled = {h for h, *_ in rows}
assert polled == booked, (sorted(booked - polled), sorted(polled - booked))
first = [x for x in rows if x[1] == t0]
assert len(first) == len(booked), len(first)
for h, tf, tl, n, ld in first:
    assert (tl, n, ld) == (t0 + 60, 2, day), (h, tf, tl, n, ld)
later = [x for x in rows if x[1] == t0 + 180]
assert len(later) == len(booked) and all(x[3] == 1 for x in later), later[:3]
assert len(rows) == 2 * len(booked), len(rows)
print("store_poll_once.sh: ok:", len(booked), "clinics, runs", len(rows))
EOF

# An unusable store costs the history only.
python3 - "$tmp/region.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
r["store"] = "/nonexistent/dir/h.db"
json.dump(r, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
EOF
"$bin" poll --once --config "$tmp/region.json" --now "$t0" \
    >"$tmp/feed2.json" 2>"$tmp/poll2.err" || fail "poll failed with a bad store"
grep -q "history not recorded: store /nonexistent/dir/h.db" "$tmp/poll2.err" ||
    fail "no clear store error: $(grep -v event=poll "$tmp/poll2.err" | head -3)"
python3 -c "import json,sys; assert len(json.load(open(sys.argv[1]))['clinics']) > 0" \
    "$tmp/feed2.json" || fail "no feed with a bad store"
echo "store_poll_once.sh: bad store reported, feed printed"
