#!/usr/bin/env bash
# Report bench: time to compute a month's care-guarantee report and
# web-booking report for 41 and for 1,000 clinics from synthetic stores
# written in the store.h schema (issue 6). Not a test and not run by CI.
#
#   bash bench/report_bench.sh          # build dir build-bench
#
# Each store holds March 2026 at a pessimistic density: polls every 60 s
# around the clock with the figures changing every 10 minutes, so 144
# poll runs per clinic and day (4,464 a month; a steadier clinic has far
# fewer), and 100 closed slot intervals per clinic and day.
#
# Environment: SLOTFEED_BENCH_BUILD (default build-bench),
# SLOTFEED_BENCH_BUILD_TYPE (Release), SLOTFEED_BENCH_SIZES (default
# "41 1000"), SLOTFEED_BENCH_REPEAT (3).
# Prints the best wall time of `slotfeed report ...` (process start, open,
# compute, CSV out) per size; also written to BUILD/bench/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${SLOTFEED_BENCH_BUILD:-build-bench}
SIZES=${SLOTFEED_BENCH_SIZES:-"41 1000"}
REPEAT=${SLOTFEED_BENCH_REPEAT:-3}

cmake -S "$root" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE="${SLOTFEED_BENCH_BUILD_TYPE:-Release}" >/dev/null
cmake --build "$BUILD" -j2 --target slotfeed >/dev/null
mkdir -p "$BUILD/bench"
out="$BUILD/bench/report.txt"
: >"$out"

for n in $SIZES; do
    db="$BUILD/bench/report-$n.db"
    if [ ! -s "$db" ]; then
        rm -f "$db" "$db-wal" "$db-shm"
        python3 - "$db" "$n" <<'PY'
import sqlite3, sys, calendar
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
db.executescript("""
PRAGMA journal_mode=WAL;
CREATE TABLE clinic (id INTEGER PRIMARY KEY, hsa_id TEXT NOT NULL UNIQUE,
 name TEXT NOT NULL, municipality TEXT NOT NULL, operator TEXT NOT NULL,
 has_booking INTEGER NOT NULL, first_seen INTEGER NOT NULL,
 last_seen INTEGER NOT NULL, last_ok INTEGER);
CREATE TABLE poll (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL
 REFERENCES clinic(id), t_first INTEGER NOT NULL, t_last INTEGER NOT NULL,
 n INTEGER NOT NULL, interval_s INTEGER NOT NULL, local_day INTEGER NOT
 NULL, deadline_day INTEGER NOT NULL, status INTEGER NOT NULL, web INTEGER
 NOT NULL, err_class TEXT, first_free INTEGER, within_guarantee INTEGER,
 free_slots INTEGER, free_within INTEGER);
CREATE INDEX poll_clinic_t ON poll(clinic_id, t_first);
CREATE TABLE slot (id INTEGER PRIMARY KEY, clinic_id INTEGER NOT NULL
 REFERENCES clinic(id), start INTEGER NOT NULL, end INTEGER NOT NULL,
 practitioner TEXT, service TEXT, first_seen INTEGER NOT NULL, last_seen
 INTEGER, gone_at INTEGER, gone_reason TEXT, within_at_gone INTEGER);
CREATE INDEX slot_clinic_start ON slot(clinic_id, start);
CREATE INDEX slot_open ON slot(clinic_id) WHERE gone_at IS NULL;
PRAGMA application_id = 1397509972;
PRAGMA user_version = 1;
""")
t0 = calendar.timegm((2026, 3, 1, 0, 0, 0)) - 3600   # local midnight CET
munis = ["Arvika", "Karlstad", "Kil", "Sunne", "Torsby", "Hagfors"]
for c in range(1, n + 1):
    db.execute("INSERT INTO clinic VALUES (?,?,?,?,?,?,?,?,NULL)",
               (c, "SE2321000156-B%05d" % c, "Clinic %05d" % c,
                munis[c % len(munis)], "private" if c % 3 else "region",
                0 if c % 7 == 0 else 1, t0 - 86400 * 60, t0 + 86400 * 32))
    if c % 7 == 0:
        continue
    runs, slots = [], []
    for d in range(31):
        ds = t0 + d * 86400          # close enough for a bench (DST aside)
        day = ds // 86400 + 1
        for k in range(144):
            a = ds + k * 600
            within = 1 if (k + c) % 5 else 0
            runs.append((c, a, a + 540, 10, 60, day, day + 3, 0, 1,
                         a + 86400 * (1 if within else 5), within, 12, 3))
        for k in range(100):
            s = ds + 86400 + k * 600
            g = ds + k * 800
            slots.append((c, s, s + 1800, g - 86400, g - 60, g,
                          "vanished" if k % 3 else "passed",
                          1 if k % 2 else 0))
    db.executemany("INSERT INTO poll (clinic_id, t_first, t_last, n,"
                   " interval_s, local_day, deadline_day, status, web,"
                   " first_free, within_guarantee, free_slots, free_within)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", runs)
    db.executemany("INSERT INTO slot (clinic_id, start, end, first_seen,"
                   " last_seen, gone_at, gone_reason, within_at_gone)"
                   " VALUES (?,?,?,?,?,?,?,?)", slots)
    if c % 50 == 0:
        db.commit()
db.commit()
db.close()
PY
    fi
    size=$(du -m "$db" | cut -f1)
    for kind in guarantee web-booking; do
        if [ $kind = guarantee ]; then
            args="guarantee --month 2026-03"
        else
            args="web-booking --from 2026-03-01 --to 2026-03-31"
        fi
        best=
        for _ in $(seq "$REPEAT"); do
            s=$(date +%s.%N)
            "$BUILD/slotfeed" report $args --format csv --db "$db" \
                --now 2026-04-01T00:00:00+02:00 >/dev/null
            e=$(date +%s.%N)
            ms=$(echo "($e - $s) * 1000" | bc -l | xargs printf '%.0f')
            if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
        done
        line="clinics=$n report=$kind store_mb=$size best_ms=$best"
        echo "$line" | tee -a "$out"
    done
done
