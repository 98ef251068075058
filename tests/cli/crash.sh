#!/usr/bin/env bash
# Crash test of the history store: slotfeed-sim and `slotfeed run
# --poll-now` on loopback; the daemon is killed with SIGKILL at a random
# moment, 8 times, and restarted on the same store. Just before each kill
# a separate reader takes what is committed (poll run ids with their poll
# counts, slot row ids); after the kill the store must pass
# PRAGMA integrity_check and still hold all of it (a run's n never
# shrinks, no row disappears), and the total of polls only grows across
# restarts. A last run ends with SIGTERM: its pending polls are flushed.
# The kill moments come from bash's RANDOM seeded with CRASH_SEED (printed
# at the start and on failure; set it to replay a run). Bounded: about
# 25 s, hard limit 60 s for the loop (times SLOTFEED_TEST_TIME_SCALE).
set -euo pipefail

src=${SLOTFEED_SOURCE_DIR:?SLOTFEED_SOURCE_DIR not set}
slotfeed=${SLOTFEED_BIN:?SLOTFEED_BIN not set}
sim=${SLOTFEED_SIM_BIN:?SLOTFEED_SIM_BIN not set}
py=python3
ITER=${CRASH_ITER:-8}
scale=${SLOTFEED_TEST_TIME_SCALE:-1}
[[ $scale =~ ^[1-9][0-9]?$ ]] || scale=1
seed=${CRASH_SEED:-$(( $(date +%s%N) / 1000 % 32768 ))}
[[ $seed =~ ^[0-9]+$ ]] || { echo "crash.sh: CRASH_SEED must be a number" >&2; exit 2; }
RANDOM=$seed
echo "crash.sh: seed $seed (CRASH_SEED=$seed replays these kill moments)"

fail() {
    echo "crash.sh: FAIL: $* (CRASH_SEED=$seed)" >&2
    exit 1
}
[ -x "$slotfeed" ] || fail "slotfeed binary $slotfeed missing"
[ -x "$sim" ] || fail "slotfeed-sim binary $sim missing"
"$py" -c 'import sqlite3' 2>/dev/null || { echo "SKIPPED: python3 sqlite3 missing"; exit 77; }

work=$(mktemp -d)
. "$src/tests/helpers/proc.sh"
sim_pid=""
run_pid=""
cleanup() {
    # Only the processes this script started.
    [ -n "$run_pid" ] && stop "$run_pid"
    [ -n "$sim_pid" ] && stop "$sim_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# 1. A small region (8 clinics with booking, 2 without), 10 s polls, the
#    store in $work.
"$py" - "$src/conf/demo-region.json" "$work/region.json" "$work/h.db" <<'EOF'
import json, sys
src, dst, db = sys.argv[1:4]
with open(src, encoding="utf-8") as f:
    r = json.load(f)
booked = [c for c in r["clinics"] if c.get("booking")][:8]
# Answers slowed differently per clinic (0 .. 560 ms per request), so the
# startup pass finishes over a few seconds and a kill lands mid-pass.
for i, c in enumerate(booked):
    c.setdefault("sim", {})["latency_ms"] = 80 * i
none = [c for c in r["clinics"] if not c.get("booking")][:2]
r["clinics"] = booked + none
r["poll_interval_s"] = 10
r["store"] = db
with open(dst, "w", encoding="utf-8") as f:
    json.dump(r, f, ensure_ascii=False, indent=1)
EOF

"$sim" --config "$work/region.json" --listen 127.0.0.1:0 \
    >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
wait_line "$work/sim.out" "listening on" "$sim_pid" 10 ||
    fail "slotfeed-sim did not start: $(cat "$work/sim.err")"
sim_url=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' "$work/sim.out")
[ -n "$sim_url" ] || fail "cannot read the sim's URL"
sed -i "s|\"url\": \"http://127\.0\.0\.1:18471/vp\"|\"url\": \"$sim_url\"|" \
    "$work/region.json"
grep -q "\"url\": \"$sim_url\"" "$work/region.json" ||
    fail "could not point the region copy at the sim"
# Polls must finish within the short runs: lift the per-host politeness
# limits for the loopback sim (left out when this build has no such key).
cp "$work/region.json" "$work/plain.json"
"$py" - "$work/region.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
r["politeness"] = {"rate_per_s": 1000, "burst": 100,
                   "max_concurrent_per_host": 50}
json.dump(r, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
EOF
"$slotfeed" check-config "$work/region.json" >/dev/null 2>&1 ||
    cp "$work/plain.json" "$work/region.json"

# snapshot FILE: what a reader sees committed now (JSON).
snapshot() {
    "$py" - "$work/h.db" "$1" <<'EOF'
import json, sqlite3, sys
db, out = sys.argv[1:3]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
try:
    polls = dict(c.execute("SELECT id, n FROM poll"))
    slots = [r[0] for r in c.execute("SELECT id FROM slot")]
    closed = [r[0] for r in c.execute(
        "SELECT id FROM slot WHERE gone_at IS NOT NULL")]
except sqlite3.OperationalError:   # schema not created yet
    polls, slots, closed = {}, [], []
c.close()
json.dump({"polls": polls, "slots": slots, "closed": closed},
          open(out, "w"))
EOF
}

# check BEFORE: integrity ok and everything in BEFORE still there.
check() {
    "$py" - "$work/h.db" "$1" <<'EOF'
import json, sqlite3, sys
db, before = sys.argv[1:3]
b = json.load(open(before))
c = sqlite3.connect(db, timeout=5)
ic = c.execute("PRAGMA integrity_check").fetchall()
if ic != [("ok",)]:
    sys.exit("integrity_check: %r" % (ic,))
fk = c.execute("PRAGMA foreign_key_check").fetchall()
if fk:
    sys.exit("foreign_key_check: %r" % (fk[:5],))
polls = dict(c.execute("SELECT id, n FROM poll"))
for pid, n in b["polls"].items():
    pid = int(pid)
    if pid not in polls:
        sys.exit("committed poll run %d is missing" % pid)
    if polls[pid] < n:
        sys.exit("poll run %d shrank from %d to %d polls" % (pid, n, polls[pid]))
slots = {r[0]: r[1] for r in c.execute("SELECT id, gone_at FROM slot")}
for sid in b["slots"]:
    if sid not in slots:
        sys.exit("committed slot %d is missing" % sid)
for sid in b["closed"]:
    if slots[sid] is None:
        sys.exit("closed slot %d reopened" % sid)
print(sum(polls.values()))
c.close()
EOF
}

user_args=$(service_user_args "$work")
start_daemon() {
    # shellcheck disable=SC2086 # empty or two words
    (cd "$work" && exec "$slotfeed" run --config "$work/region.json" $user_args \
        --listen 127.0.0.1:0 --poll-now >"$work/run.out" 2>"$work/run.err") &
    run_pid=$!
}

echo '{"polls": {}, "slots": [], "closed": []}' >"$work/snap.json"
prev_total=0
grew=0
t_end=$((SECONDS + 60 * scale))
for i in $(seq 1 "$ITER"); do
    [ $SECONDS -lt $t_end ] || fail "loop over $((60 * scale)) s at iteration $i"
    start_daemon
    wait_line "$work/run.out" "serving\|listening" "$run_pid" 10 ||
        fail "slotfeed run did not start: $(head -5 "$work/run.err")"
    # A random moment within the startup poll pass (0.3 .. 2.9 s), from
    # the seeded sequence: printed, so a failing kill can be replayed.
    pause="$(( RANDOM % 27 / 10 )).$(( RANDOM % 10 + 3 ))"
    echo "crash.sh: kill $i after ${pause} s"
    sleep "$pause"
    snapshot "$work/snap.json"
    kill -KILL "$run_pid"
    wait "$run_pid" 2>/dev/null || true
    run_pid=""
    total=$(check "$work/snap.json") || fail "after kill $i"
    [ "$total" -ge "$prev_total" ] ||
        fail "polls went from $prev_total to $total after kill $i"
    [ "$total" -gt "$prev_total" ] && grew=$((grew + 1))
    echo "crash.sh: kill $i: $total polls recorded, store ok"
    prev_total=$total
done
# History accumulated across restarts (not one run's worth each time).
[ "$grew" -ge 2 ] || fail "history grew in only $grew of $ITER runs"

# A clean stop flushes: what was committed is still there, more is added.
start_daemon
wait_line "$work/run.out" "serving\|listening" "$run_pid" 10 ||
    fail "slotfeed run did not start: $(head -5 "$work/run.err")"
sleep 1.5
snapshot "$work/snap.json"
stop "$run_pid"
run_pid=""
total=$(check "$work/snap.json") || fail "after SIGTERM"
[ "$total" -ge "$prev_total" ] || fail "polls shrank after SIGTERM"
grep -q "store_flush_failed\|store_unavailable" "$work/run.err" &&
    fail "the daemon reported store errors: $(grep store_ "$work/run.err")"
# The roster holds every configured clinic, with or without booking.
n_clinics=$("$py" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*)*10+sum(has_booking=0) FROM clinic').fetchone()[0])" "$work/h.db")
[ "$n_clinics" = "102" ] || fail "clinic roster: want 10 clinics (2 without booking) -> 102, got $n_clinics"
echo "crash.sh: ok ($total polls after $ITER kills and a clean stop)"
