/*
 * test_store.c - the SQLite history store: migrations, poll runs, slot
 * observation intervals (vanished vs passed), retention, batching, the
 * local day on DST days, failures.
 *
 * Instants come from glibc's timegm on UTC times worked out by hand
 * (Stockholm is UTC+1 in winter, UTC+2 from the last Sunday of March to
 * the last Sunday of October), and local days from timegm(date)/86400, so
 * the expectations do not come from clock.c or store.c. Every check reads
 * the file back with plain SQL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/log.h"
#include "slotfeed/store.h"
#include "th_time.h"

static const struct avail_rule CAL3 = { 3, AVAIL_COUNT_CALENDAR };

/* --- fixture: a temp directory with one db path -------------------------------- */

struct fx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/test_store.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/h.db", f->dir);
    log_quiet();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* --- helpers --------------------------------------------------------------------- */

static void mk_clinic(struct conf_clinic *cc, const char *id, bool booking)
{
    memset(cc, 0, sizeof *cc);
    cc->id = (char *)id;
    cc->name = (char *)"Fysio Test";
    cc->municipality = (char *)"Karlstad";
    cc->operator_kind = (char *)"private";
    cc->has_booking = booking;
}

/* A successful poll's state listing `n` slots (starts[i], 30 min each,
 * practitioner "P"). */
static void st_ok(struct clinic_state *cs, const struct conf_clinic *cc,
                  const int64_t *starts, size_t n)
{
    avail_slots_clear(&cs->slots);
    memset(cs, 0, sizeof *cs);
    cs->conf = cc;
    cs->web = WEB_OPEN;
    cs->status = CLINIC_OK;
    cs->has_data = true;
    avail_slots_init(&cs->slots);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(avail_slots_add(&cs->slots, starts[i],
                                         starts[i] + 1800, "P", "Nybesök",
                                         "NB"),
                         0);
    avail_slots_sort(&cs->slots);
}

static int64_t q1(struct store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -999;

    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL),
                     SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_type(s, 0) == SQLITE_NULL
                ? -1
                : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* q1 of a query with one %lld (the format stays a checked literal). */
static char qbuf[512];
#define q1f(st, fmt, a) \
    (snprintf(qbuf, sizeof qbuf, fmt, (long long)(a)), q1((st), qbuf))

static void record(struct store *st, const struct conf_clinic *cc,
                   const struct clinic_state *cs, int64_t t)
{
    assert_int_equal(store_record_poll(st, cc, cs, t, &CAL3), 0);
}

static void flush_ok(struct store *st)
{
    struct sf_error err = { 0 };

    if (store_flush(st, &err) != 0)
        fail_msg("flush: %s", err.msg);
}

/* --- migrations -------------------------------------------------------------------- */

static void test_migrate_and_reopen(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    assert_int_equal(q1(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(q1(st, "PRAGMA application_id"), STORE_APPLICATION_ID);
    assert_int_equal(q1(st, "PRAGMA foreign_keys"), 1);
    assert_int_equal(q1(st, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(q1(st, "SELECT count(*) FROM sqlite_schema WHERE "
                            "type='table' AND name IN "
                            "('clinic','poll','slot')"),
                     3);
    /* journal_mode answers text; compare through SQL. */
    assert_int_equal(q1(st, "SELECT journal_mode = 'wal' FROM "
                            "pragma_journal_mode"),
                     1);
    store_close(st);

    /* Re-open: nothing to migrate, nothing duplicated, data kept. */
    st = store_open(f->path, &err);
    assert_non_null(st);
    assert_int_equal(q1(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(q1(st, "SELECT count(*) FROM sqlite_schema WHERE "
                            "type='index' AND name LIKE 'poll%'"),
                     1);
    /* The FK is enforced: a poll for a clinic that does not exist. */
    assert_int_not_equal(
        sqlite3_exec(store_db(st),
                     "INSERT INTO poll(clinic_id,t_first,t_last,n,interval_s,"
                     "local_day,deadline_day,status,web) "
                     "VALUES(42,1,1,1,60,0,3,0,1)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    store_close(st);
}

static void test_refuses_foreign_files(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    sqlite3 *db = NULL;
    char p[160];
    FILE *fp;

    /* Someone else's database (tables, no version). */
    snprintf(p, sizeof p, "%s/other.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(p, &err));
    assert_non_null(strstr(err.msg, "not a slotfeed store"));
    assert_non_null(strstr(err.msg, p));

    /* A newer schema than we know. */
    snprintf(p, sizeof p, "%s/newer.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA application_id=1397509972;"
                                  "PRAGMA user_version=99",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    memset(&err, 0, sizeof err);
    assert_null(store_open(p, &err));
    assert_non_null(strstr(err.msg, "newer"));

    /* Not a database at all. */
    snprintf(p, sizeof p, "%s/text.db", f->dir);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite file, just some text long enough\n", fp);
    for (int i = 0; i < 100; i++)
        fputs("0123456789abcdef0123456789abcdef0123456789abcdef\n", fp);
    fclose(fp);
    memset(&err, 0, sizeof err);
    assert_null(store_open(p, &err));
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "not a database"));
}

static void test_bad_path(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    char p[160];

    snprintf(p, sizeof p, "%s/no/such/dir/h.db", f->dir);
    assert_null(store_open(p, &err));
    assert_non_null(strstr(err.msg, p));
    assert_non_null(strstr(err.msg, "cannot open"));
    memset(&err, 0, sizeof err);
    assert_null(store_open("", &err));
    assert_string_equal(err.msg, "store: empty path");
}

/*
 * The store is opened as root before --user; a link the
 * service user plants at the path (or at its -wal / -shm) must be
 * refused, and nothing created where it points.
 */
static void test_refuses_symlinks(void **state)
{
    static const char *const sfx[] = { "", "-wal", "-shm" };
    struct fx *f = *state;
    struct sf_error err;
    char target[160], link_at[200];
    struct stat sb;
    size_t i;

    for (i = 0; i < 3; i++) {
        snprintf(target, sizeof target, "%s/created-by-root%zu", f->dir, i);
        snprintf(link_at, sizeof link_at, "%s%s", f->path, sfx[i]);
        assert_int_equal(symlink(target, link_at), 0);
        memset(&err, 0, sizeof err);
        assert_null(store_open(f->path, &err));
        assert_non_null(strstr(err.msg, "symbolic link"));
        assert_non_null(strstr(err.msg, link_at));
        /* Nothing at the target, no -wal or -shm beside it. */
        assert_int_equal(lstat(target, &sb), -1);
        snprintf(link_at, sizeof link_at, "%s-wal", target);
        assert_int_equal(lstat(link_at, &sb), -1);
        snprintf(link_at, sizeof link_at, "%s%s", f->path, sfx[i]);
        assert_int_equal(unlink(link_at), 0);
    }
    /* A link to an existing store is refused too (not just dangling). */
    snprintf(target, sizeof target, "%s/real.db", f->dir);
    store_close(store_open(target, &err));
    assert_int_equal(symlink(target, f->path), 0);
    memset(&err, 0, sizeof err);
    assert_null(store_open(f->path, &err));
    assert_non_null(strstr(err.msg, "symbolic link"));
}

/* Files the store creates are owner-only whatever the umask (here 0). */
static void test_owner_only_modes(void **state)
{
    static const char *const sfx[] = { "", "-wal", "-shm" };
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct store *st;
    struct stat sb;
    char p[200];
    mode_t old = umask(0);
    size_t i;

    st = store_open(f->path, &err);
    umask(old);
    assert_non_null(st);
    /* The migration wrote through the WAL: all three files exist now. */
    for (i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        assert_int_equal(lstat(p, &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
        assert_int_equal(sb.st_mode & 07777, 0600);
    }
    store_close(st);
}

/* --- runs and slot intervals --------------------------------------------------------- */

static void test_slot_lifecycle(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    /* Tuesday 2026-03-10, 08:00 CET = 07:00Z; CAL3 deadline = 13 March. */
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0);
    int64_t A = th_utc(2026, 3, 10, 9, 0, 0);   /* 10:00 local, within */
    int64_t B = th_utc(2026, 3, 20, 9, 0, 0);   /* far: not within */
    int64_t C = t0 + 1800;                      /* 08:30 local today */
    int64_t D = th_utc(2026, 3, 13, 23, 30, 0); /* 14 March 00:30 local:
                                                  UTC date 13, not within */
    int64_t all[] = { A, B, C, D }, bc[] = { B, C }, b[] = { B }, a[] = { A };
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-T001", true);
    avail_slots_init(&cs.slots);

    st_ok(&cs, &cc, all, 4);
    record(st, &cc, &cs, t0);
    record(st, &cc, &cs, t0 + 60); /* same: run extended */
    st_ok(&cs, &cc, bc, 2);
    record(st, &cc, &cs, t0 + 120);  /* A and D vanish */
    record(st, &cc, &cs, t0 + 2400); /* C listed but started */
    st_ok(&cs, &cc, b, 1);
    cs.status = CLINIC_STALE; /* failed poll, old data */
    cs.err_class = SF_ERR_TIMEOUT;
    record(st, &cc, &cs, t0 + 2460);
    st_ok(&cs, &cc, NULL, 0);
    record(st, &cc, &cs, t0 + 2520); /* B vanishes */
    st_ok(&cs, &cc, a, 1);
    record(st, &cc, &cs, t0 + 2580); /* A offered again */
    flush_ok(st);

    /* Poll runs: [t0,t0+60]x2, t0+120, t0+2400, stale t0+2460, t0+2520,
     * t0+2580 (the last four are > 90 s after a different run anyway). */
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 6);
    assert_int_equal(q1(st, "SELECT sum(n) FROM poll"), 7);
    assert_int_equal(q1f(st, "SELECT n FROM poll WHERE t_first=%lld", t0), 2);
    assert_int_equal(q1f(st, "SELECT t_last FROM poll WHERE t_first=%lld", t0),
                     t0 + 60);
    /* Figures of the first run: 4 free, A and C within (D is on local
     * 14 March), first free C. */
    assert_int_equal(q1f(st,
                         "SELECT free_slots*100+free_within*10+"
                         "within_guarantee FROM poll WHERE t_first=%lld",
                         t0),
                     421);
    assert_int_equal(q1f(st, "SELECT first_free FROM poll WHERE t_first=%lld",
                         t0),
                     C);
    assert_int_equal(q1f(st, "SELECT local_day FROM poll WHERE t_first=%lld",
                         t0),
                     th_dayn(2026, 3, 10));
    assert_int_equal(q1f(st,
                         "SELECT deadline_day FROM poll WHERE "
                         "t_first=%lld",
                         t0),
                     th_dayn(2026, 3, 13));
    /* At 08:40 C has started: only B is free, nothing within. */
    assert_int_equal(q1f(st,
                         "SELECT free_slots*100+free_within*10+"
                         "within_guarantee FROM poll WHERE t_first=%lld",
                         t0 + 2400),
                     100);
    assert_int_equal(q1f(st, "SELECT first_free FROM poll WHERE t_first=%lld",
                         t0 + 2400),
                     B);
    /* The stale poll: status 1, error class kept, figures unknown. */
    assert_int_equal(q1f(st,
                         "SELECT status*10+web FROM poll WHERE "
                         "t_first=%lld",
                         t0 + 2460),
                     STORE_STATUS_STALE * 10 + STORE_WEB_OPEN);
    assert_int_equal(q1f(st,
                         "SELECT err_class='timeout' AND free_slots IS "
                         "NULL AND within_guarantee IS NULL AND "
                         "first_free IS NULL FROM poll WHERE t_first=%lld",
                         t0 + 2460),
                     1);
    /* Empty answer: known zero, not unknown. */
    assert_int_equal(q1f(st,
                         "SELECT free_slots*10+within_guarantee FROM poll"
                         " WHERE t_first=%lld AND first_free IS NULL",
                         t0 + 2520),
                     0);

    /* Slot intervals: A, B, C, D, and A again. */
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 5);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     1);
    /* A: vanished before its start while within the guarantee. */
    assert_int_equal(q1f(st,
                         "SELECT gone_reason='vanished' AND within_at_gone"
                         "=1 FROM slot WHERE start=%lld AND gone_at IS "
                         "NOT NULL",
                         A),
                     1);
    assert_int_equal(q1f(st,
                         "SELECT last_seen FROM slot WHERE start=%lld AND "
                         "gone_at IS NOT NULL",
                         A),
                     t0 + 60);
    assert_int_equal(q1f(st,
                         "SELECT gone_at FROM slot WHERE start=%lld AND "
                         "gone_at IS NOT NULL",
                         A),
                     t0 + 120);
    /* D: vanished, but local 14 March is past the deadline. */
    assert_int_equal(q1f(st,
                         "SELECT gone_reason='vanished' AND within_at_gone"
                         "=0 FROM slot WHERE start=%lld",
                         D),
                     1);
    /* C: passed (still listed after its start), no within flag. */
    assert_int_equal(q1f(st,
                         "SELECT gone_reason='passed' AND within_at_gone "
                         "IS NULL AND gone_at=%lld FROM slot WHERE start="
                         "(SELECT min(start) FROM slot)",
                         t0 + 2400),
                     1);
    assert_int_equal(q1f(st, "SELECT last_seen FROM slot WHERE start=%lld", C),
                     t0 + 120);
    /* B: the failed poll changed nothing; last seen by the 08:40 poll. */
    assert_int_equal(q1f(st,
                         "SELECT last_seen*10+within_at_gone FROM slot "
                         "WHERE start=%lld",
                         B),
                     (t0 + 2400) * 10 + 0);
    assert_int_equal(q1f(st, "SELECT gone_at FROM slot WHERE start=%lld", B),
                     t0 + 2520);
    /* A again: a new interval, open. */
    assert_int_equal(q1f(st,
                         "SELECT first_seen FROM slot WHERE start=%lld "
                         "AND gone_at IS NULL",
                         A),
                     t0 + 2580);
    assert_int_equal(q1(st, "SELECT last_ok FROM clinic"), t0 + 2580);
    assert_int_equal(q1(st, "SELECT first_seen FROM clinic"), t0);

    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* The edges: a slot on the deadline day itself, a poll after local
 * midnight but before UTC midnight, a slot starting exactly at a poll,
 * and a listed slot that had already started (never opened). */
static void test_within_edges(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    int64_t p1 = th_utc(2026, 3, 10, 22, 30, 0); /* 23:30 local 10 March */
    int64_t p2 = th_utc(2026, 3, 10, 23, 30, 0); /* 00:30 local 11 March */
    int64_t G = th_utc(2026, 3, 14, 10, 0, 0);   /* 11:00 local 14 March */
    int64_t H = th_utc(2026, 3, 14, 23, 30, 0);  /* 00:30 local 15 March */
    int64_t F = p2;                              /* starts at the 2nd poll */
    int64_t E = p1 - 600;                        /* already started */
    int64_t l1[] = { E, F, G, H }, l2[] = { F };
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-T010", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cc, l1, 4);
    record(st, &cc, &cs, p1);
    st_ok(&cs, &cc, l2, 1);
    record(st, &cc, &cs, p2);
    flush_ok(st);
    /* E was never offered in the future: no row. */
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 3);
    assert_int_equal(q1f(st, "SELECT count(*) FROM slot WHERE start=%lld", E),
                     0);
    /* Contact day at p2 is local 11 March, deadline 14 March (inclusive):
     * G is within, H (local 15 March) is not. */
    assert_int_equal(q1f(st,
                         "SELECT within_at_gone FROM slot WHERE start="
                         "%lld",
                         G),
                     1);
    assert_int_equal(q1f(st,
                         "SELECT within_at_gone FROM slot WHERE start="
                         "%lld",
                         H),
                     0);
    /* F starts exactly at p2: passed, even though still listed. */
    assert_int_equal(q1f(st,
                         "SELECT gone_reason='passed' FROM slot WHERE "
                         "start=%lld",
                         F),
                     1);
    /* At p1 (contact day 10, deadline 13) neither G nor H was within;
     * F was: 3 free, 1 within. */
    assert_int_equal(q1f(st,
                         "SELECT free_slots*100+free_within*10+"
                         "within_guarantee FROM poll WHERE t_first=%lld",
                         p1),
                     311);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* The same history written across restarts: caches come back from the
 * file, so runs continue and open slots are not duplicated. */
static void test_restart_continues(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), A = t0 + 86400, B = t0 + 7200;
    int64_t ab[] = { A, B }, a[] = { A };
    struct store *st;

    mk_clinic(&cc, "SE2321000016-T002", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cc, ab, 2);
    for (int i = 0; i < 3; i++) {
        st = store_open(f->path, &err);
        assert_non_null(st);
        record(st, &cc, &cs, t0 + 60 * i);
        store_close(st); /* flushes */
    }
    st = store_open(f->path, &err);
    assert_non_null(st);
    assert_int_equal(q1(st, "SELECT count(*)*100+sum(n) FROM poll"), 103);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 2);
    st_ok(&cs, &cc, a, 1);
    record(st, &cc, &cs, t0 + 180);
    store_close(st);
    st = store_open(f->path, &err);
    assert_int_equal(q1f(st,
                         "SELECT last_seen*10+within_at_gone FROM slot "
                         "WHERE start=%lld",
                         B),
                     (t0 + 120) * 10 + 1);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     1);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* Run boundaries: 1.5 intervals is the most a run spans between polls, and
 * local midnight always cuts. */
static void test_run_gaps_and_midnight(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    /* 2026-03-10 12:00 local = 11:00Z */
    int64_t t = th_utc(2026, 3, 10, 11, 0, 0);
    /* 23:58 local on 10 March = 22:58Z */
    int64_t m = th_utc(2026, 3, 10, 22, 58, 0);
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    store_set_poll_interval(st, 60);
    mk_clinic(&cc, "SE2321000016-T003", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cc, NULL, 0);
    record(st, &cc, &cs, t);
    record(st, &cc, &cs, t + 90);  /* exactly 1.5 intervals: same */
    record(st, &cc, &cs, t + 181); /* 91 s: a missed poll -> new */
    record(st, &cc, &cs, m);
    record(st, &cc, &cs, m + 60);  /* 23:59 */
    record(st, &cc, &cs, m + 120); /* 00:00 11 March: new day */
    record(st, &cc, &cs, m + 180);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 4);
    assert_int_equal(q1f(st, "SELECT n FROM poll WHERE t_first=%lld", t), 2);
    assert_int_equal(q1f(st, "SELECT n FROM poll WHERE t_first=%lld", t + 181),
                     1);
    assert_int_equal(q1f(st,
                         "SELECT n*100000+local_day FROM poll WHERE "
                         "t_first=%lld",
                         m),
                     2 * 100000 + th_dayn(2026, 3, 10));
    assert_int_equal(q1f(st,
                         "SELECT n*100000+local_day FROM poll WHERE "
                         "t_first=%lld",
                         m + 120),
                     2 * 100000 + th_dayn(2026, 3, 11));
    /* A new interval setting starts a new run too. */
    store_set_poll_interval(st, 120);
    record(st, &cc, &cs, m + 240);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 5);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* local_day is the Stockholm date on both switch days. */
static void test_dst_local_day(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    struct {
        int64_t t;
        int32_t day;
    } cases[] = {
        /* 29 March 2026, CET -> CEST at 01:00Z */
        /* 23:59 CET */
        { th_utc(2026, 3, 28, 22, 59, 0), th_dayn(2026, 3, 28) },
        /* 00:30 CET */
        { th_utc(2026, 3, 28, 23, 30, 0), th_dayn(2026, 3, 29) },
        /* 23:59 CEST */
        { th_utc(2026, 3, 29, 21, 59, 0), th_dayn(2026, 3, 29) },
        /* 00:00 CEST */
        { th_utc(2026, 3, 29, 22, 0, 0), th_dayn(2026, 3, 30) },
        /* 25 October 2026, CEST -> CET at 01:00Z */
        /* 23:59 CEST */
        { th_utc(2026, 10, 24, 21, 59, 0), th_dayn(2026, 10, 24) },
        /* 00:00 CEST */
        { th_utc(2026, 10, 24, 22, 0, 0), th_dayn(2026, 10, 25) },
        /* 23:59 CET */
        { th_utc(2026, 10, 25, 22, 59, 0), th_dayn(2026, 10, 25) },
        /* 00:00 CET */
        { th_utc(2026, 10, 25, 23, 0, 0), th_dayn(2026, 10, 26) },
    };
    size_t i;
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-T004", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cc, NULL, 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        record(st, &cc, &cs, cases[i].t);
    flush_ok(st);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(q1f(st,
                             "SELECT local_day FROM poll WHERE "
                             "t_first=%lld",
                             cases[i].t),
                         cases[i].day);
        /* CAL3: the deadline is three calendar days on, whatever the
         * length of the day. */
        assert_int_equal(q1f(st,
                             "SELECT deadline_day FROM poll WHERE "
                             "t_first=%lld",
                             cases[i].t),
                         cases[i].day + 3);
    }
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* --- retention -------------------------------------------------------------------------- */

static void test_retention_purge(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic c1, c2;
    struct clinic_state cs = { 0 };
    int64_t now = th_utc(2027, 6, 1, 10, 0, 0);
    int64_t told = now - 500 * 86400, tnew = now - 10 * 86400;
    int64_t s1[] = { told + 7200 }, s3[] = { told + 3600 },
            s2[] = { tnew + 86400 };
    size_t del, total = 0, calls = 0;
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&c1, "SE2321000016-T005", true);
    mk_clinic(&c2, "SE2321000016-T006", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &c1, s1, 1);
    record(st, &c1, &cs, told); /* old run 1, S1 opens */
    st_ok(&cs, &c1, NULL, 0);
    record(st, &c1, &cs, told + 60); /* old run 2, S1 vanishes */
    st_ok(&cs, &c2, s3, 1);
    record(st, &c2, &cs, told); /* old run 3, S3 open forever */
    st_ok(&cs, &c1, s2, 1);
    record(st, &c1, &cs, tnew); /* recent run, S2 open */
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 4);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 3);

    do {
        assert_int_equal(store_purge(st, now, 400, 2, &del, &err), 0);
        assert_true(del <= 2);
        total += del;
        calls++;
    } while (del > 0 && calls < 10);
    /* 3 old runs + S1 (closed long ago) + S3 (open, started long ago). */
    assert_int_equal(total, 5);
    assert_int_equal(calls, 4); /* 2 + 2 + 1 + 0 */
    assert_int_equal(q1f(st, "SELECT count(*) FROM poll WHERE t_first=%lld",
                         tnew),
                     1);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 1);
    assert_int_equal(q1f(st, "SELECT count(*) FROM slot WHERE start=%lld",
                         s2[0]),
                     1);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 1);
    assert_int_equal(q1(st, "SELECT count(*) FROM clinic"), 2);
    /* Recording goes on after a purge (caches reloaded from the file). */
    record(st, &c1, &cs, tnew + 60);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*)*10+sum(n) FROM poll"), 12);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 1);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* --- batching --------------------------------------------------------------------------- */

static int on_commit(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void test_batching(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc[50];
    char ids[50][32];
    struct clinic_state cs = { 0 };
    struct store_stats stats;
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), sl[] = { t0 + 86400 };
    int commits = 0;
    sqlite3 *reader = NULL;
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    avail_slots_init(&cs.slots);
    for (int i = 0; i < 50; i++) {
        snprintf(ids[i], sizeof ids[i], "SE2321000016-B%03d", i);
        mk_clinic(&cc[i], ids[i], true);
    }
    sqlite3_commit_hook(store_db(st), on_commit, &commits);
    for (int i = 0; i < 50; i++) {
        st_ok(&cs, &cc[i], sl, 1);
        record(st, &cc[i], &cs, t0 + i);
    }
    assert_int_equal(store_pending(st), 50);
    assert_int_equal(commits, 0);
    /* Nothing is in the file before the flush (another connection). */
    assert_int_equal(sqlite3_open(f->path, &reader), SQLITE_OK);
    {
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM poll",
                                            -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 0);
        sqlite3_finalize(s);
    }
    flush_ok(st);
    assert_int_equal(commits, 1); /* 50 records, one transaction */
    assert_int_equal(store_pending(st), 0);
    store_get_stats(st, &stats);
    assert_int_equal(stats.records, 50);
    assert_int_equal(stats.records_written, 50);
    assert_int_equal(stats.flushes, 1);
    assert_int_equal(stats.runs_inserted, 50);
    assert_int_equal(stats.slots_inserted, 50);
    assert_true(stats.flush_us_total >= stats.flush_us_last);
    assert_int_equal(q1(st, "SELECT count(*) FROM clinic"), 50);

    /* Pending records reach the file on close, without a flush call. */
    for (int i = 0; i < 50; i++) {
        st_ok(&cs, &cc[i], sl, 1);
        record(st, &cc[i], &cs, t0 + 60 + i);
    }
    sqlite3_commit_hook(store_db(st), NULL, NULL);
    store_close(st);
    {
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(reader,
                                            "SELECT count(*), sum(n) FROM "
                                            "poll",
                                            -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 50); /* extended */
        assert_int_equal(sqlite3_column_int(s, 1), 100);
        sqlite3_finalize(s);
    }
    sqlite3_close(reader);
    avail_slots_clear(&cs.slots);
}

/*
 * The timer's flush is cut in slices (issue 12: one transaction of a
 * first pass's records held the loop up to 500 ms): with a cap of 3
 * records per slice, 10 pending records take four transactions, one per
 * loop turn, other events run between them, and every record reaches the
 * file once.
 */
static int turns_seen;

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct event *ev = arg;
    struct timeval zero = { 0, 0 };

    (void)fd;
    (void)what;
    turns_seen++;
    if (turns_seen < 50)
        evtimer_add(ev, &zero);
}

static void test_sliced_flush(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc[10];
    char ids[10][32];
    struct clinic_state cs = { 0 };
    struct store_stats stats;
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), sl[] = { t0 + 86400 };
    int commits = 0;
    size_t seen[5];
    int nseen = 0;
    struct event_base *base = event_base_new();
    struct store *st = store_open(f->path, &err);
    struct event *tick;
    struct timeval zero = { 0, 0 };

    assert_non_null(base);
    assert_non_null(st);
    store_set_retention(st, 0);
    assert_int_equal(store_attach(st, base, 1), 0);
    store_set_flush_slice(st, 0, 3);
    avail_slots_init(&cs.slots);
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "SE2321000016-S%03d", i);
        mk_clinic(&cc[i], ids[i], true);
        st_ok(&cs, &cc[i], sl, 1);
        record(st, &cc[i], &cs, t0 + i);
    }
    sqlite3_commit_hook(store_db(st), on_commit, &commits);
    tick = evtimer_new(base, on_turn, NULL);
    assert_non_null(tick);
    event_assign(tick, base, -1, 0, on_turn, tick);
    /* Wait for the timer (1 ms), then watch the slices turn by turn. */
    while (store_pending(st) == 10)
        event_base_loop(base, EVLOOP_ONCE);
    turns_seen = 0;
    evtimer_add(tick, &zero);
    while (store_pending(st) > 0 && nseen < 5) {
        seen[nseen++] = store_pending(st);
        event_base_loop(base, EVLOOP_ONCE);
    }
    assert_int_equal(store_pending(st), 0);
    assert_int_equal(nseen, 3);
    assert_int_equal(seen[0], 7);
    assert_int_equal(seen[1], 4);
    assert_int_equal(seen[2], 1);
    assert_true(turns_seen >= 2); /* the loop ran other events between */
    assert_int_equal(commits, 4); /* 3 + 3 + 3 + 1: one per slice */
    store_get_stats(st, &stats);
    assert_int_equal(stats.records_written, 10);
    assert_int_equal(stats.flushes, 4);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 10);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 10);
    sqlite3_commit_hook(store_db(st), NULL, NULL);
    store_close(st);
    event_free(tick);
    event_base_free(base);
    avail_slots_clear(&cs.slots);
}

/*
 * The day's clinic sync on the timer is sliced too (3 clinics per tick
 * here) and refreshes names without dropping a loaded clinic's open
 * slots: a repeat poll after it opens no new interval.
 */
static void test_sync_sliced(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cl[7];
    char ids[7][32];
    struct conf_region r;
    struct clinic_state cs = { 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), sl[] = { t0 + 86400 };
    int64_t seen[4];
    int nseen = 0;
    struct event_base *base = event_base_new();
    struct store *st = store_open(f->path, &err);

    assert_non_null(base);
    assert_non_null(st);
    memset(&r, 0, sizeof r);
    for (int i = 0; i < 7; i++) {
        snprintf(ids[i], sizeof ids[i], "SE2321000016-Y%03d", i);
        mk_clinic(&cl[i], ids[i], true);
    }
    r.clinics = cl;
    r.nclinics = 7;
    /* Synced for t0's day: the timer's first tick (today) syncs again. */
    assert_int_equal(store_sync_region(st, &r, t0, &err), 0);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cl[0], sl, 1);
    record(st, &cl[0], &cs, t0);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 1);
    cl[0].name = (char *)"Nytt namn";
    store_set_retention(st, 0);
    assert_int_equal(store_attach(st, base, 1), 0);
    store_set_flush_slice(st, 0, 3);
    while (nseen < 4) {
        event_base_loop(base, EVLOOP_ONCE);
        seen[nseen++] =
            q1f(st, "SELECT count(*) FROM clinic WHERE last_seen > %lld", t0);
        if (seen[nseen - 1] == 7)
            break;
    }
    assert_int_equal(nseen, 3);
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 6);
    assert_int_equal(seen[2], 7);
    assert_int_equal(q1(st, "SELECT count(*) FROM clinic WHERE name='Nytt "
                            "namn'"),
                     1);
    /* The loaded cache kept its open interval: the same slot again
     * continues it. */
    st_ok(&cs, &cl[0], sl, 1);
    record(st, &cl[0], &cs, t0 + 60);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 1);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     1);
    store_close(st);
    event_base_free(base);
    avail_slots_clear(&cs.slots);
}

/*
 * With a loop the WAL is checkpointed by the store's own thread, not in
 * the loop's commits: the loop's connection has the automatic checkpoint
 * off, a flush kicks the thread, which copies the WAL's frames; after
 * close the file reads back complete (and a store without a loop keeps
 * SQLite's automatic checkpoint).
 */
static void test_checkpoint_thread(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc[20];
    char ids[20][32];
    struct clinic_state cs = { 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), sl[] = { t0 + 86400 };
    unsigned long frames = 0, runs;
    struct event_base *base = event_base_new();
    struct store *st = store_open(f->path, &err);

    assert_non_null(base);
    assert_non_null(st);
    assert_int_equal(q1(st, "PRAGMA wal_autocheckpoint"), 1000);
    assert_int_equal(store_checkpoint_wait(st, 1, NULL), -1); /* no thread */
    assert_int_equal(store_attach(st, base, 1000), 0);
    assert_int_equal(q1(st, "PRAGMA wal_autocheckpoint"), 0);
    avail_slots_init(&cs.slots);
    runs = store_checkpoint_runs(st);
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "SE2321000016-W%03d", i);
        mk_clinic(&cc[i], ids[i], true);
        st_ok(&cs, &cc[i], sl, 1);
        record(st, &cc[i], &cs, t0 + i);
    }
    flush_ok(st);
    assert_int_equal(store_checkpoint_wait(st, runs + 1, &frames), 0);
    assert_true(frames > 0);
    store_close(st);
    event_base_free(base);
    assert_non_null(st = store_open(f->path, &err));
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 20);
    store_close(st);
    avail_slots_clear(&cs.slots);
}

/* --- a failing store ----------------------------------------------------------------------- */

static void test_failing_flush(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    struct store_stats stats;
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), a[] = { t0 + 3600 },
            ab[] = { t0 + 3600, t0 + 7200 };
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-T007", true);
    avail_slots_init(&cs.slots);
    st_ok(&cs, &cc, a, 1);
    record(st, &cc, &cs, t0);
    flush_ok(st);
    /* Writes now fail (as on a full disk or a read-only file). */
    assert_int_equal(sqlite3_exec(store_db(st), "PRAGMA query_only=1", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    st_ok(&cs, &cc, ab, 2);
    record(st, &cc, &cs, t0 + 60);
    assert_int_equal(store_flush(st, &err), -1);
    assert_non_null(strstr(err.msg, f->path));
    store_get_stats(st, &stats);
    assert_int_equal(stats.records_dropped, 1);
    assert_int_equal(stats.flush_errors, 1);
    assert_int_equal(store_pending(st), 0);
    /* The disk comes back: recording continues from what the file holds. */
    assert_int_equal(sqlite3_exec(store_db(st), "PRAGMA query_only=0", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    record(st, &cc, &cs, t0 + 120);
    flush_ok(st);
    /* Runs: t0 (1 slot) and t0+120 (2 slots; the lost poll is a gap). */
    assert_int_equal(q1(st, "SELECT count(*)*10+sum(n) FROM poll"), 22);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 2);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     2);
    assert_int_equal(q1(st, "SELECT first_seen FROM slot WHERE id=2"),
                     t0 + 120);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* --- the region roster ------------------------------------------------------------------ */

static void test_sync_region(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cl[2];
    struct conf_region r;
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0);
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    memset(&r, 0, sizeof r);
    mk_clinic(&cl[0], "SE2321000016-T008", true);
    mk_clinic(&cl[1], "SE2321000016-T009", false);
    cl[1].name = (char *)"Utan Webbokning";
    r.clinics = cl;
    r.nclinics = 2;
    assert_int_equal(store_sync_region(st, &r, t0, &err), 0);
    assert_int_equal(store_sync_region(st, &r, t0 + 86400, &err), 0);
    assert_int_equal(q1(st, "SELECT count(*) FROM clinic"), 2);
    assert_int_equal(q1(st, "SELECT has_booking FROM clinic WHERE "
                            "name='Utan Webbokning'"),
                     0);
    assert_int_equal(q1(st, "SELECT first_seen FROM clinic WHERE hsa_id="
                            "'SE2321000016-T009'"),
                     t0);
    assert_int_equal(q1(st, "SELECT last_seen FROM clinic WHERE hsa_id="
                            "'SE2321000016-T009'"),
                     t0 + 86400);
    assert_int_equal(q1(st, "SELECT count(*) FROM poll"), 0);
    store_close(st);
}

/* --- slot identity without strings in memory ------------------------------------ */

/* A successful poll's state listing one slot per key (start, end, prac,
 * svc); prac/svc may be NULL. */
struct tkey {
    int64_t start, end;
    const char *prac, *svc;
};

static void st_keys(struct clinic_state *cs, const struct conf_clinic *cc,
                    const struct tkey *k, size_t n)
{
    st_ok(cs, cc, NULL, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(avail_slots_add(&cs->slots, k[i].start, k[i].end,
                                         k[i].prac, k[i].svc, NULL),
                         0);
}

/* Keys that differ only in practitioner, in NULL vs "" (either field), or
 * in where practitioner ends and service begins are distinct intervals,
 * in memory and after the caches are rebuilt from the file. */
static void test_key_fields_distinct(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), S = t0 + 86400, E = S + 1800;
    const struct tkey all[] = {
        { S, E, "A", "X" },      { S, E, "B", "X" },  { S, E, "A", NULL },
        { S, E, "A", "" },       { S, E, NULL, "X" }, { S, E, "", "X" },
        { S, E, "ab", "c" },     { S, E, "a", "bc" }, { S, E, "abc", NULL },
        { S, E + 60, "A", "X" }, { S, E, "A", "X" }, /* repeat: one */
    };
    const size_t nall = sizeof all / sizeof all[0], ndistinct = nall - 1;
    struct tkey less[sizeof all / sizeof all[0]];
    size_t nless = 0;
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-K001", true);
    avail_slots_init(&cs.slots);
    st_keys(&cs, &cc, all, nall);
    record(st, &cc, &cs, t0);
    record(st, &cc, &cs, t0 + 60);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), ndistinct);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     ndistinct);
    store_close(st);

    /* A new process: the open intervals come back from the file. */
    st = store_open(f->path, &err);
    assert_non_null(st);
    record(st, &cc, &cs, t0 + 120);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), ndistinct);
    /* Drop the three keys with a NULL field: exactly those vanish; their
     * ""-twins stay open. */
    for (size_t i = 0; i < nall; i++)
        if (all[i].svc != NULL && all[i].prac != NULL)
            less[nless++] = all[i];
    st_keys(&cs, &cc, less, nless);
    record(st, &cc, &cs, t0 + 180);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), ndistinct);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     ndistinct - 3);
    assert_int_equal(q1f(st,
                         "SELECT count(*) FROM slot WHERE gone_at=%lld AND "
                         "gone_reason='vanished' AND (service IS NULL OR "
                         "practitioner IS NULL)",
                         t0 + 180),
                     3);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL "
                            "AND (service='' OR practitioner='')"),
                     2);
    store_close(st);

    /* Reopened once more: the survivors continue, nothing is reopened. */
    st = store_open(f->path, &err);
    assert_non_null(st);
    record(st, &cc, &cs, t0 + 240);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), ndistinct);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     ndistinct - 3);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL "
                            "AND first_seen <> (SELECT min(first_seen) FROM "
                            "slot)"),
                     0);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* A pending record keeps the slots it was given although the collector
 * clears or replaces its own list before the flush (frozen: shared; not
 * frozen: copied). ASan catches a record that only borrowed them. */
static void test_record_outlives_list(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc[2];
    struct clinic_state cs = { 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), S = t0 + 86400;
    char prac[2][32], svc[32];
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc[0], "SE2321000016-V001", true);
    mk_clinic(&cc[1], "SE2321000016-V002", true);
    avail_slots_init(&cs.slots);
    for (int c = 0; c < 2; c++) {
        /* Text in buffers the test overwrites: the list interned it. */
        snprintf(prac[c], sizeof prac[c], "Prakt %d", c);
        snprintf(svc, sizeof svc, "Tjänst %d", c);
        st_ok(&cs, &cc[c], NULL, 0);
        assert_int_equal(avail_slots_add(&cs.slots, S, S + 1800, prac[c], svc,
                                         "ID"),
                         0);
        assert_int_equal(avail_slots_add(&cs.slots, S + 3600, S + 5400, NULL,
                                         svc, NULL),
                         0);
        if (c == 0)
            assert_int_equal(avail_slots_freeze(&cs.slots), 0);
        record(st, &cc[c], &cs, t0);
        /* The collector's next answer replaces the list. */
        avail_slots_clear(&cs.slots);
        memset(prac[c], 'x', sizeof prac[c] - 1);
        memset(svc, 'y', sizeof svc - 1);
        assert_int_equal(avail_slots_add(&cs.slots, S + 7200, S + 9000, prac[c],
                                         svc, NULL),
                         0);
        avail_slots_clear(&cs.slots);
    }
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 4);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot s JOIN clinic c ON "
                            "c.id=s.clinic_id WHERE c.hsa_id="
                            "'SE2321000016-V001' AND s.practitioner="
                            "'Prakt 0' AND s.service='Tjänst 0'"),
                     1);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot s JOIN clinic c ON "
                            "c.id=s.clinic_id WHERE c.hsa_id="
                            "'SE2321000016-V002' AND s.practitioner IS NULL "
                            "AND s.service='Tjänst 1'"),
                     1);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE practitioner "
                            "LIKE 'x%' OR service LIKE 'y%'"),
                     0);
    /* Two polls of one clinic pending at once, the first list gone. */
    {
        int64_t s1[] = { S, S + 3600 }, s2[] = { S + 3600 };
        st_ok(&cs, &cc[0], s1, 2);
        assert_int_equal(avail_slots_freeze(&cs.slots), 0);
        record(st, &cc[0], &cs, t0 + 60);
        st_ok(&cs, &cc[0], s2, 1);
        assert_int_equal(avail_slots_freeze(&cs.slots), 0);
        record(st, &cc[0], &cs, t0 + 120);
        avail_slots_clear(&cs.slots);
        flush_ok(st);
    }
    /* st_ok lists practitioner "P": the two earlier intervals of clinic
     * 0 vanished at t0+60, its S interval at t0+120. */
    assert_int_equal(q1(st, "SELECT count(*) FROM slot s JOIN clinic c ON "
                            "c.id=s.clinic_id WHERE c.hsa_id="
                            "'SE2321000016-V001' AND gone_at IS NULL AND "
                            "practitioner='P'"),
                     1);
    assert_int_equal(q1f(st,
                         "SELECT count(*) FROM slot WHERE practitioner='P' "
                         "AND gone_reason='vanished' AND gone_at=%lld",
                         t0 + 120),
                     1);
    store_close(st);
}

/* A flush that fails in the middle of a merge (one slot's insert fails
 * after others were written and one interval closed) leaves the file as
 * before that flush, and the next poll continues from the file. */
static void test_failed_merge_rolls_back(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic cc;
    struct clinic_state cs = { 0 };
    struct store_stats stats;
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), S = t0 + 86400;
    const struct tkey k1[] = { { S, S + 1800, "A", "X" },
                               { S + 3600, S + 5400, "B", "X" } };
    const struct tkey k2[] = { { S, S + 1800, "A", "X" },
                               { S + 7200, S + 9000, "C", NULL },
                               { S + 9000, S + 10800, "BOOM", "X" } };
    const struct tkey k3[] = { { S, S + 1800, "A", "X" },
                               { S + 7200, S + 9000, "C", NULL },
                               { S + 9000, S + 10800, "D", "" } };
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    mk_clinic(&cc, "SE2321000016-F001", true);
    avail_slots_init(&cs.slots);
    st_keys(&cs, &cc, k1, 2);
    record(st, &cc, &cs, t0);
    flush_ok(st);
    assert_int_equal(sqlite3_exec(store_db(st),
                                  "CREATE TEMP TRIGGER boom BEFORE INSERT ON "
                                  "main.slot WHEN NEW.practitioner='BOOM' "
                                  "BEGIN SELECT RAISE(ABORT, 'boom'); END;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    st_keys(&cs, &cc, k2, 3);
    record(st, &cc, &cs, t0 + 60);
    assert_int_equal(store_flush(st, &err), -1);
    assert_non_null(strstr(err.msg, "boom"));
    store_get_stats(st, &stats);
    assert_int_equal(stats.records_dropped, 1);
    /* Nothing of the failed flush is in the file. */
    assert_int_equal(q1(st, "SELECT count(*)*10+sum(n) FROM poll"), 11);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 2);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     2);
    assert_int_equal(q1(st, "SELECT last_ok FROM clinic"), t0);
    assert_int_equal(sqlite3_exec(store_db(st), "DROP TRIGGER boom", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    /* The next poll: B vanishes (last seen at t0), C and D open. */
    st_keys(&cs, &cc, k3, 3);
    record(st, &cc, &cs, t0 + 120);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot"), 4);
    assert_int_equal(q1f(st,
                         "SELECT count(*) FROM slot WHERE practitioner='B' "
                         "AND gone_reason='vanished' AND last_seen=%lld",
                         t0),
                     1);
    assert_int_equal(q1f(st,
                         "SELECT count(*) FROM slot WHERE gone_at IS NULL "
                         "AND first_seen=%lld AND ((practitioner='C' AND "
                         "service IS NULL) OR (practitioner='D' AND "
                         "service=''))",
                         t0 + 120),
                     2);
    /* And the rebuilt cache agrees with the file: the same list again
     * changes no slot row. */
    record(st, &cc, &cs, t0 + 180);
    flush_ok(st);
    assert_int_equal(q1(st, "SELECT count(*)*10+sum(gone_at IS NULL) FROM "
                            "slot"),
                     43);
    avail_slots_clear(&cs.slots);
    store_close(st);
}

/* Statements run, by the start of their SQL. */
struct sqlcount {
    int slot_open, clinic_upsert;
};

static int on_trace(unsigned type, void *ctx, void *p, void *x)
{
    struct sqlcount *n = ctx;
    const char *sql = sqlite3_sql(p);

    (void)type;
    (void)x;
    if (sql != NULL && strncmp(sql, "SELECT id, start, end,", 22) == 0)
        n->slot_open++;
    if (sql != NULL && strncmp(sql, "INSERT INTO clinic(", 19) == 0)
        n->clinic_upsert++;
    return 0;
}

/* Many clinics (the index grows several times): each record reaches its
 * own clinic's cache, found again without reloading it from the file. */
static void test_many_clinics(void **state)
{
    enum {
        NC = 3000
    };
    struct fx *f = *state;
    struct sf_error err = { 0 };
    struct conf_clinic *cc = calloc(NC, sizeof *cc);
    char(*ids)[32] = calloc(NC, sizeof *ids);
    struct clinic_state cs = { 0 };
    struct sqlcount n = { 0, 0 };
    int64_t t0 = th_utc(2026, 3, 10, 7, 0, 0), base = t0 + 86400;
    struct store *st = store_open(f->path, &err);

    assert_non_null(st);
    assert_non_null(cc);
    assert_non_null(ids);
    avail_slots_init(&cs.slots);
    for (int i = 0; i < NC; i++) {
        snprintf(ids[i], sizeof ids[i], "SE2321000016-M%05d", i);
        mk_clinic(&cc[i], ids[i], true);
    }
    sqlite3_trace_v2(store_db(st), SQLITE_TRACE_STMT, on_trace, &n);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NC; i++) {
            int64_t s[] = { base + (int64_t)i * 60 };
            st_ok(&cs, &cc[i], s, 1);
            record(st, &cc[i], &cs, t0 + round * 60 + i % 60);
        }
        flush_ok(st);
        if (round == 0) {
            /* The counter sees the first load of every clinic. */
            assert_int_equal(n.slot_open, NC);
            assert_int_equal(n.clinic_upsert, NC);
            n.slot_open = n.clinic_upsert = 0;
        }
    }
    sqlite3_trace_v2(store_db(st), 0, NULL, NULL);
    assert_int_equal(n.slot_open, 0);
    assert_int_equal(n.clinic_upsert, 0);
    assert_int_equal(q1(st, "SELECT count(*) FROM clinic"), NC);
    assert_int_equal(q1(st, "SELECT count(*)*10000+sum(n) FROM poll"),
                     (int64_t)NC * 10000 + 2 * NC);
    assert_int_equal(q1(st, "SELECT count(*) FROM slot WHERE gone_at IS NULL"),
                     NC);
    /* Every slot sits with the clinic whose number its start encodes. */
    assert_int_equal(q1f(st,
                         "SELECT count(*) FROM slot s JOIN clinic c ON "
                         "c.id=s.clinic_id WHERE c.hsa_id <> "
                         "printf('SE2321000016-M%%05d', (s.start-%lld)/60)",
                         base),
                     0);
    avail_slots_clear(&cs.slots);
    store_close(st);
    free(cc);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_and_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refuses_foreign_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_only_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slot_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_within_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_gaps_and_midnight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dst_local_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sliced_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_sliced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_region, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_fields_distinct, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_record_outlives_list, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_merge_rolls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_clinics, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
