#!/usr/bin/env bash
# The simulator is not the product: the daemon binary carries none of the
# simulator library (sim/), and the demo history for the reports is made
# by `slotfeed-sim history generate` (README "Reports"), whose output the
# daemon's `slotfeed report` reads. `slotfeed history` points there.
set -euo pipefail
bin=${SLOTFEED_BIN:?}
sim=${SLOTFEED_SIM_BIN:?}
src=${SLOTFEED_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. No simulator symbol in the daemon (functions and data, global or
#    file-local). A stripped binary cannot be checked: skip.
command -v nm >/dev/null || { echo "SKIPPED: no nm"; exit 77; }
nm "$bin" >"$work/nm" 2>/dev/null || { echo "SKIPPED: nm failed"; exit 77; }
[ -s "$work/nm" ] || { echo "SKIPPED: stripped binary"; exit 77; }
grep -q ' main$' "$work/nm" || { echo "SKIPPED: no symbols"; exit 77; }
if grep -E ' [A-Za-z] (sim_|history_generate|history_main|bomb_make)' \
        "$work/nm"; then
    fail "the daemon links simulator code (symbols above)"
fi
# ... while slotfeed-sim has them, so the check above can see them.
nm "$sim" >"$work/nm-sim" 2>/dev/null || true
grep -q ' T sim_new$' "$work/nm-sim" || fail "slotfeed-sim has no sim_new?"

# 2. The README walkthrough, one simulated day (hourly polls, 07-18).
"$sim" history generate --config "$src/conf/demo-region.json" \
    --from 2026-03-02 --days 1 --interval 3600 --db "$work/h.db" \
    >"$work/gen.out" 2>"$work/gen.err" ||
    fail "history generate: rc $? $(cat "$work/gen.err")"
grep -Eq '^slotfeed-sim: history: 11 passes, [1-9][0-9]* polls recorded' \
    "$work/gen.out" || fail "history generate said: $(cat "$work/gen.out")"
"$bin" report web-booking --from 2026-03-02 --to 2026-03-02 --per day \
    --by municipality --format csv --db "$work/h.db" >"$work/wb.csv" ||
    fail "report web-booking on the generated history"
[ "$(wc -l <"$work/wb.csv")" -ge 2 ] || fail "empty web-booking report"
"$bin" report guarantee --month 2026-03 --format csv --db "$work/h.db" \
    >"$work/g.csv" || fail "report guarantee on the generated history"
grep -q ',open,' "$work/g.csv" || fail "no clinic with open web booking"

# 3. Usage errors exit 2; the daemon's old command names the new one.
rc=0; "$sim" history generate --config x 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "missing --from/--days: rc $rc, want 2"
rc=0; "$sim" history 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "history without generate: rc $rc, want 2"
rc=0; "$bin" history generate --config x 2>"$work/old.err" || rc=$?
[ "$rc" = 2 ] || fail "slotfeed history: rc $rc, want 2"
grep -q 'slotfeed-sim history generate' "$work/old.err" ||
    fail "slotfeed history does not name the new command"
echo "ok: daemon without simulator symbols; slotfeed-sim history generate" \
     "feeds slotfeed report"
