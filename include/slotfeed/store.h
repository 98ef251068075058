/*
 * store.h - the history store: every poll's figures and every free slot's
 * observation interval, in one SQLite file (config key `store`).
 *
 * Owns one SQLite connection (the only writer; readers such as reports
 * may open their own connections: WAL lets them read while we write).
 * Pragmas: journal_mode=WAL, foreign_keys=ON, synchronous=NORMAL,
 * busy_timeout=5000. synchronous=NORMAL because in WAL mode it never
 * corrupts the file and a process crash (kill -9) loses nothing that was
 * committed (the WAL is in the OS page cache); only a power loss / kernel
 * crash can lose the last transactions since the last checkpoint's sync,
 * i.e. a few seconds of polls, which the coverage figures then show as a
 * gap. FULL would fsync on every commit for no gain to the reports.
 *
 * Writes are batched: store_record_poll() only copies what it needs into
 * memory; store_flush() (called by the evtimer armed by store_attach(),
 * at close, or explicitly) writes every pending record in ONE
 * transaction. A kill -9 therefore loses at most the records of the last
 * flush_ms (the poll(s) in flight), never a committed one.
 *
 * ---------------------------------------------------------------------
 * SCHEMA (version STORE_SCHEMA_VERSION, in PRAGMA user_version; the file
 * carries PRAGMA application_id = STORE_APPLICATION_ID). Times are
 * instants in Unix seconds (UTC). "*_day" columns are Europe/Stockholm
 * local dates as day numbers since 1970-01-01 (clock.h), never t/86400.
 *
 *   CREATE TABLE clinic (
 *     id           INTEGER PRIMARY KEY,
 *     hsa_id       TEXT NOT NULL UNIQUE,   -- upper case, as in config
 *     name         TEXT NOT NULL,
 *     municipality TEXT NOT NULL,
 *     operator     TEXT NOT NULL,          -- 'private' | 'region'
 *     has_booking  INTEGER NOT NULL,       -- 1: config has a booking block
 *     first_seen   INTEGER NOT NULL,       -- first time in a config / poll
 *     last_seen    INTEGER NOT NULL,       -- last time in a config / poll
 *     last_ok      INTEGER                 -- last successful poll, NULL never
 *   );
 *   -- The region's roster on local day D is every clinic with
 *   -- local_day(first_seen) <= D <= local_day(last_seen). Clinics without
 *   -- booking are never polled: store_sync_region() keeps their row (and
 *   -- last_seen, at least once per local day while the daemon runs).
 *
 *   CREATE TABLE poll (                    -- one row = a RUN of polls
 *     id           INTEGER PRIMARY KEY,
 *     clinic_id    INTEGER NOT NULL REFERENCES clinic(id),
 *     t_first      INTEGER NOT NULL,       -- first poll of the run
 *     t_last       INTEGER NOT NULL,       -- last poll of the run
 *     n            INTEGER NOT NULL,       -- polls in the run, >= 1
 *     interval_s   INTEGER NOT NULL,       -- poll interval in force
 *     local_day    INTEGER NOT NULL,       -- local date of every poll = day 0
 *     deadline_day INTEGER NOT NULL,       -- last local date within guarantee
 *     status       INTEGER NOT NULL,       -- 0 ok, 1 stale, 2 error
 *     web          INTEGER NOT NULL,       -- 0 unknown,1 open,2 none,3 unreach.
 *     err_class    TEXT,                   -- sf_errclass_name(), NULL if none
 *     first_free   INTEGER,                -- earliest free start > t, or NULL
 *     within_guarantee INTEGER,            -- 1/0 slot within guarantee; NULL
 *     free_slots   INTEGER,                --   = unknown. These four are
 *     free_within  INTEGER                 --   NULL unless status = 0 (ok)
 *   );
 *   CREATE INDEX poll_clinic_t ON poll(clinic_id, t_first);
 *   -- A run is a maximal sequence of polls of one clinic, on one local
 *   -- day, with identical (interval_s, deadline_day, status, web,
 *   -- err_class, first_free, within_guarantee, free_slots, free_within),
 *   -- each poll
 *   -- at most interval_s * 3 / 2 seconds after the previous one. So a run
 *   -- covers [t_first, t_last] without a missed poll; a missed poll, a
 *   -- restart gap or midnight starts a new run. Per-poll figures are
 *   -- exact (n polls, each with this row's values); only the times of the
 *   -- inner polls are not kept (they are spaced <= 1.5 * interval_s).
 *   -- Per-poll rows would be 21.5 M rows/year for 41 clinics (> 1 GB).
 *   -- The wait to the first free slot at a poll at t is first_free - t;
 *   -- in local days: local_day(first_free) - local_day.
 *
 *   CREATE TABLE slot (                    -- one observation interval
 *     id             INTEGER PRIMARY KEY,
 *     clinic_id      INTEGER NOT NULL REFERENCES clinic(id),
 *     start          INTEGER NOT NULL,
 *     end            INTEGER NOT NULL,
 *     practitioner   TEXT,                 -- NULL if the system gave none
 *     service        TEXT,
 *     first_seen     INTEGER NOT NULL,     -- first successful poll listing it
 *     last_seen      INTEGER,              -- last poll listing it; NULL = open
 *     gone_at        INTEGER,              -- first poll not listing it (or at
 *                                          --   or after its start); NULL open
 *     gone_reason    TEXT,                 -- NULL open, 'vanished', 'passed'
 *     within_at_gone INTEGER               -- vanished only: 1 if still within
 *   );                                     --   the guarantee at gone_at
 *   CREATE INDEX slot_clinic_start ON slot(clinic_id, start);
 *   CREATE INDEX slot_open ON slot(clinic_id) WHERE gone_at IS NULL;
 *   -- A slot's identity is (clinic, start, end, practitioner, service).
 *   -- Only successful polls (status ok) open or close intervals; a failed
 *   -- poll changes nothing. At a successful poll at t: an open slot no
 *   -- longer listed with start > t is closed 'vanished' (probably booked);
 *   -- an open slot with start <= t is closed 'passed' (listed or not);
 *   -- listed slots not open get a new row (a cancelled-then-reoffered
 *   -- slot is a new interval). within_at_gone = start > gone_at and
 *   -- local_day(start) <= avail_deadline(local_day(gone_at), rule).
 *   -- An open slot is listed by every successful poll since first_seen
 *   -- (up to clinic.last_ok); last_seen is written when it closes.
 *
 * Migrations: version 0 (empty file) -> 1 creates the above, each step in
 * its own transaction that also sets user_version. A file with a newer
 * version or another application_id is refused with a clear error.
 *
 * Retention (config key retention_days, default 400): store_purge()
 * deletes, in small batches (one transaction each), poll runs with
 * t_last < cutoff and slots closed before the cutoff (or starting before it).
 * Clinic rows stay.
 */
#ifndef SLOTFEED_STORE_H
#define SLOTFEED_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/availability.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_APPLICATION_ID 0x534c4f54 /* "SLOT" */
#define STORE_DEFAULT_FLUSH_MS 200
/* Mode of a store file store_open creates (and so of its -wal, -shm). */
#define STORE_FILE_MODE 0600
#define STORE_PURGE_BATCH 2000
/* store_record_poll() flushes synchronously beyond this many pending. */
#define STORE_PENDING_MAX 4096
/* Loop time one flush slice of the timer may take (us): the loop-lag
 * budget is 50 ms for any one piece of work. */
#define STORE_FLUSH_SLICE_US 20000

/* Codes of poll.status and poll.web (stable; independent of the C enums). */
#define STORE_STATUS_OK 0
#define STORE_STATUS_STALE 1
#define STORE_STATUS_ERROR 2
#define STORE_WEB_UNKNOWN 0
#define STORE_WEB_OPEN 1
#define STORE_WEB_NONE 2
#define STORE_WEB_UNREACHABLE 3

struct store;
struct event_base;
struct sqlite3;

struct store_stats {
    unsigned long records;         /* store_record_poll() calls accepted */
    unsigned long records_written; /* records committed */
    unsigned long records_dropped; /* lost to failed flushes */
    unsigned long runs_inserted, runs_extended;
    unsigned long slots_inserted, slots_closed;
    unsigned long rows_purged;
    unsigned long flushes, flush_errors;
    uint64_t flush_us_total; /* wall time spent in flushes */
    uint64_t flush_us_max;
    uint64_t flush_us_last;
};

/*
 * Open (creating if needed) the store at path, set the pragmas and run the
 * migrations. Returns a new store (free with store_close) or NULL with err
 * naming the path and what failed (e.g. "store /x/y.db: unable to open
 * database file"). Safe to call as root in a directory others can write:
 * a symbolic link at path, path-wal or path-shm is refused ("is a
 * symbolic link"), never followed; a file it creates gets mode
 * STORE_FILE_MODE whatever the umask (SQLite gives -wal and -shm the
 * same). An existing file keeps its mode.
 */
struct store *store_open(const char *path, struct sf_error *err);

/*
 * Flush what is pending (errors logged), detach from the loop, finalize
 * every statement and close the connection. NULL ok.
 */
void store_close(struct store *st);

/*
 * Flush pending records every flush_ms (<= 0: STORE_DEFAULT_FLUSH_MS) from
 * a timer on base, armed when a record arrives, in slices of loop time
 * (store_set_flush_slice). Also runs one retention
 * purge batch per flush while old rows remain (checked once per local day).
 * Returns 0 or -1.
 */
int store_attach(struct store *st, struct event_base *base, long flush_ms);

/*
 * The timer's flush is cut in slices: one transaction of the records
 * that fit in slice_us of loop time (<= 0: STORE_FLUSH_SLICE_US), and at
 * most max_records of them (0: no cap; tests), at least one; the rest
 * in the next loop turn. The day's clinic sync is sliced the same way
 * (max_records clinics), its rest on the next tick. store_flush() itself (drain, close, the
 * pending cap) still writes everything at once.
 */
void store_set_flush_slice(struct store *st, long slice_us, size_t max_records);

/*
 * With a loop (store_attach) WAL checkpoints run on a thread of the store
 * with its own connection (PASSIVE, after each commit, at least once a
 * second), not inside the loop's commits. For tests: wait (bounded, 10 s)
 * until the thread has run `runs` checkpoints; *frames (NULL ok) gets
 * the WAL frames they copied. 0, or -1 (no thread, or not reached).
 */
int store_checkpoint_wait(struct store *st, unsigned long runs,
                          unsigned long *frames);
unsigned long store_checkpoint_runs(struct store *st);

/* Poll interval in force (run gap rule above); default 60. */
void store_set_poll_interval(struct store *st, int seconds);
/* Retention in days for the automatic purge; <= 0 disables it. Default 400. */
void store_set_retention(struct store *st, int days);

/*
 * Upsert every clinic of region r (name, municipality, operator,
 * has_booking, last_seen = now) immediately, and remember r (borrowed: it
 * must outlive the store or the next successful store_sync_region call)
 * so the flush timer refreshes last_seen once per local day. Returns 0,
 * or -1 with err set and the previous region still the one remembered.
 */
int store_sync_region(struct store *st, const struct conf_region *r,
                      int64_t now, struct sf_error *err);

/*
 * Queue the result of a finished poll of clinic cc (state cs at instant
 * now; figures from avail_compute(&cs->slots, now, rule) when the poll
 * succeeded). Borrows nothing after returning: the listed slots are kept
 * until the flush as a view of cs->slots (avail_slots_share: no copy when
 * the list is frozen, as the collector leaves it; a copy otherwise), so
 * the caller may clear or replace its list at once.
 * Never blocks on I/O unless STORE_PENDING_MAX records are pending.
 * Returns 0, or -1 (out of memory; logged).
 */
int store_record_poll(struct store *st, const struct conf_clinic *cc,
                      const struct clinic_state *cs, int64_t now,
                      const struct avail_rule *rule);

/*
 * Write every pending record in one transaction. On failure the
 * transaction is rolled back, the records are dropped (counted), the
 * in-memory caches are reloaded from the file on next use, err is set and
 * -1 returned. 0 when nothing was pending.
 */
int store_flush(struct store *st, struct sf_error *err);

/*
 * Delete at most `batch` rows older than now - days (poll runs, then
 * slots) in one transaction; *deleted (may be NULL) gets the count, 0 when
 * nothing is left. Returns 0 or -1.
 */
int store_purge(struct store *st, int64_t now, int days, size_t batch,
                size_t *deleted, struct sf_error *err);

void store_get_stats(const struct store *st, struct store_stats *out);

/* Pending (unflushed) records. */
size_t store_pending(const struct store *st);

/* Path as given to store_open (borrowed). */
const char *store_path(const struct store *st);

/*
 * The connection, borrowed, for reads on the same thread (reports in the
 * daemon). Do not write through it or change pragmas.
 */
struct sqlite3 *store_db(struct store *st);

#endif
