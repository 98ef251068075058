#!/usr/bin/env python3
"""Write a synthetic history store (store.h schema) for the report benches.

    python3 bench/report_store.py PATH CLINICS

March 2026 at a pessimistic density: polls every 60 s around the clock
with the figures changing every 10 minutes, so 144 poll runs per clinic
and day, and 100 closed slot intervals per clinic and day; every 7th
clinic has no booking and no history. Used by report_bench.sh and
report_load.sh. Not a test.
"""
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
