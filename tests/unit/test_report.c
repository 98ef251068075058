/*
 * test_report.c - the web-booking and care-guarantee reports against small
 * hand-built histories written with plain SQL in the store.h schema, so
 * the expectations are worked out by hand here (comments show the
 * arithmetic), not taken from the program.
 *
 * Instants come from glibc's timegm plus the Stockholm offset worked out by
 * hand for 2026 (CET +1; CEST +2 from 2026-03-29 02:00 local to
 * 2026-10-25 03:00 local), local days from timegm(date) / 86400, so they do
 * not come from clock.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sqlite3.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/feed.h"
#include "slotfeed/history.h"
#include "slotfeed/http.h"
#include "slotfeed/log.h"
#include "slotfeed/report.h"
#include "slotfeed/store.h"
#include "th_time.h"
#include "th_skip.h"
#include "th_store.h"

/* --- time helpers (independent of clock.c) --------------------------------- */

/* th_utc() to the minute (th_time.h). */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    return th_utc(y, mo, d, h, mi, 0);
}

/* Stockholm local wall time in 2026 -> instant (hand rule, see top). */
static int64_t loc(int mo, int d, int h, int mi)
{
    int cest;

    if (mo > 3 && mo < 10)
        cest = 1;
    else if (mo == 3)
        cest = d > 29 || (d == 29 && h >= 3);
    else if (mo == 10)
        cest = d < 25 || (d == 25 && h < 3);
    else
        cest = 0;
    return utc(2026, mo, d, h, mi) - (cest ? 7200 : 3600);
}

/* --- a store file built with SQL (th_store.h) ----------------------------- */

struct fx {
    char dir[64];
    char path[128];
    sqlite3 *db;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/test_report.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/h.db", f->dir);
    if (sqlite3_open(f->path, &f->db) != SQLITE_OK ||
        sqlite3_exec(f->db, th_store_schema, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    assert_int_equal(STORE_APPLICATION_ID, 1397509972);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];

    sqlite3_close(f->db);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static void clinic(sqlite3 *db, int id, const char *name, const char *muni,
                   const char *op, int has_booking, int64_t first, int64_t last)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "INSERT INTO clinic VALUES (%d, "
             "'SE2321000156-%04d', '%s', '%s', '%s', %d, %lld, %lld, NULL)",
             id, id, name, muni, op, has_booking, (long long)first,
             (long long)last);
    exec(db, sql);
}

/* One poll run; ff < 0: first_free NULL; within < 0: NULL. Figures are
 * NULL unless status is ok, as store.h says. */
static void run(sqlite3 *db, int cid, int64_t t0, int64_t t1, int interval,
                int status, int web, int64_t ff, int within)
{
    char sql[512], ffs[32], ws[8];
    int64_t n = (t1 - t0) / interval + 1;
    int32_t day = (int32_t)((t0 + (t0 >= utc(2026, 3, 29, 1, 0) &&
                                           t0 < utc(2026, 10, 25, 1, 0)
                                       ? 7200
                                       : 3600)) /
                            86400);

    if (ff < 0 || status != 0)
        strcpy(ffs, "NULL");
    else
        snprintf(ffs, sizeof ffs, "%lld", (long long)ff);
    if (within < 0 || status != 0)
        strcpy(ws, "NULL");
    else
        snprintf(ws, sizeof ws, "%d", within);
    snprintf(sql, sizeof sql,
             "INSERT INTO poll (clinic_id, t_first, t_last,"
             " n, interval_s, local_day, deadline_day, status, web,"
             " first_free, within_guarantee, free_slots, free_within) VALUES"
             " (%d, %lld, %lld, %lld, %d, %d, %d, %d, %d, %s, %s, %s, %s)",
             cid, (long long)t0, (long long)t1, (long long)n, interval,
             (int)day, (int)day + 3, status, web, ffs, ws,
             status == 0 ? "5" : "NULL", status == 0 ? "1" : "NULL");
    exec(db, sql);
}

static void slot(sqlite3 *db, int cid, int64_t start, int64_t gone,
                 const char *reason, int within)
{
    char sql[512];

    if (reason == NULL)
        snprintf(sql, sizeof sql,
                 "INSERT INTO slot (clinic_id, start, end,"
                 " first_seen) VALUES (%d, %lld, %lld, %lld)",
                 cid, (long long)start, (long long)start + 1800,
                 (long long)start - 86400 * 5);
    else
        snprintf(sql, sizeof sql,
                 "INSERT INTO slot (clinic_id, start, end,"
                 " first_seen, last_seen, gone_at, gone_reason,"
                 " within_at_gone) VALUES (%d, %lld, %lld, %lld, %lld, %lld,"
                 " '%s', %s)",
                 cid, (long long)start, (long long)start + 1800,
                 (long long)start - 86400 * 5, (long long)gone - 600,
                 (long long)gone, reason,
                 strcmp(reason, "vanished") == 0 ? (within ? "1" : "0")
                                                 : "NULL");
    exec(db, sql);
}

static int is_weekday(int mo, int d)
{
    int wd = (int)(((th_dayn(2026, mo, d) % 7) + 7 + 3) % 7); /* 0 = Monday */

    return wd < 5;
}

/* --- report helpers --------------------------------------------------------- */

static cJSON *build(const struct fx *f, const struct report_params *p)
{
    sqlite3 *db = NULL;
    cJSON *doc = NULL;
    struct sf_error err = { 0 };

    if (report_db_open(f->path, &db, &err) != 0)
        fail_msg("open: %s", err.msg);
    if (report_build(db, p, &doc, &err) != 0)
        fail_msg("build: %s", err.msg);
    sqlite3_close(db);
    return doc;
}

static const cJSON *find(const cJSON *arr, const char *key, const char *val)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        const cJSON *v = cJSON_GetObjectItem(it, key);

        if (cJSON_IsString(v) && strcmp(v->valuestring, val) == 0)
            return it;
    }
    fail_msg("no %s = %s", key, val);
    return NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);

    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", k);
    return v->valuedouble;
}

static int is_null(const cJSON *o, const char *k)
{
    return cJSON_IsNull(cJSON_GetObjectItem(o, k));
}

#define NUM(o, k, want) assert_true(fabs(num((o), (k)) - (want)) < 1e-9)

static void guarantee_params(struct report_params *p, int month)
{
    report_params_init(p);
    p->kind = REPORT_GUARANTEE;
    p->from_day = th_dayn(2026, month, 1);
    p->to_day = th_dayn(2026, month + 1, 1) - 1;
    p->now = utc(2026, 12, 1, 0, 0);
}

/*
 * The main month: March 2026 has 22 weekdays (2-6, 9-13, 16-20, 23-27,
 * 30-31). Open hours 08-17 = 32400 s a day, so 712800 s per clinic.
 *
 * A "Alfa": every weekday polled every 600 s 08:00..16:50 (54 polls):
 *   08:00..13:50 (36 polls) within = 1, first free next day;
 *   14:00..16:50 (18 polls) within = 0, first free 5 days on.
 * B "Beta": ok and within (first free in 2 days) on Mar 2-13 and 16
 *   (11 days), stale Mar 17-18, error/unreachable Mar 19-20 and 23-27
 *   (7 days), nothing at all Mar 30-31: the unreachable half month.
 * C "Ceta": no web booking configured, never polled.
 */
static void fill_main(sqlite3 *db)
{
    int d;

    clinic(db, 1, "Alfa", "Karlstad", "private", 1, utc(2026, 2, 1, 0, 0),
           utc(2026, 4, 1, 12, 0));
    clinic(db, 2, "Beta", "Arvika", "region", 1, utc(2026, 2, 1, 0, 0),
           utc(2026, 4, 1, 12, 0));
    clinic(db, 3, "Ceta", "Karlstad", "private", 0, utc(2026, 2, 1, 0, 0),
           utc(2026, 4, 1, 12, 0));
    exec(db, "BEGIN");
    for (d = 1; d <= 31; d++) {
        if (!is_weekday(3, d))
            continue;
        run(db, 1, loc(3, d, 8, 0), loc(3, d, 13, 50), 600, 0, 1,
            loc(3, d, 9, 0) + 86400, 1);
        run(db, 1, loc(3, d, 14, 0), loc(3, d, 16, 50), 600, 0, 1,
            loc(3, d, 9, 0) + 5 * 86400, 0);
        if (d <= 16)
            run(db, 2, loc(3, d, 8, 0), loc(3, d, 16, 50), 600, 0, 1,
                loc(3, d, 9, 0) + 2 * 86400, 1);
        else if (d <= 18)
            run(db, 2, loc(3, d, 8, 0), loc(3, d, 16, 50), 600, 1, 1, -1, -1);
        else if (d <= 27)
            run(db, 2, loc(3, d, 8, 0), loc(3, d, 16, 50), 600, 2, 3, -1, -1);
    }
    /* Alfa's slots: 3 vanished within the guarantee, 2 vanished later,
     * 4 passed, 1 still open, and two gone outside March. */
    slot(db, 1, loc(3, 10, 9, 0), loc(3, 9, 10, 0), "vanished", 1);
    slot(db, 1, loc(3, 11, 9, 0), loc(3, 9, 11, 0), "vanished", 1);
    slot(db, 1, loc(3, 31, 9, 0), loc(3, 30, 9, 0), "vanished", 1);
    slot(db, 1, loc(3, 20, 9, 0), loc(3, 9, 10, 0), "vanished", 0);
    slot(db, 1, loc(4, 20, 9, 0), loc(3, 31, 16, 0), "vanished", 0);
    slot(db, 1, loc(3, 2, 9, 0), loc(3, 2, 9, 0), "passed", 0);
    slot(db, 1, loc(3, 3, 9, 0), loc(3, 3, 9, 0), "passed", 0);
    slot(db, 1, loc(3, 4, 9, 0), loc(3, 4, 9, 0), "passed", 0);
    slot(db, 1, loc(3, 31, 16, 0), loc(3, 31, 16, 0), "passed", 0);
    slot(db, 1, loc(4, 20, 10, 0), 0, NULL, 0);
    slot(db, 1, loc(3, 2, 9, 0), loc(2, 27, 9, 0), "vanished", 1);
    slot(db, 1, loc(4, 1, 9, 0), loc(4, 1, 9, 0), "passed", 0);
    exec(db, "COMMIT");
}

static void test_guarantee_month(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    cJSON *doc;
    const cJSON *cl, *a, *b, *c, *t;

    fill_main(f->db);
    guarantee_params(&p, 3);
    doc = build(f, &p);
    cl = cJSON_GetObjectItem(doc, "clinics");
    assert_int_equal(cJSON_GetArraySize(cl), 3);
    assert_string_equal(cJSON_GetObjectItem(doc, "month")->valuestring,
                        "2026-03");

    a = find(cl, "name", "Alfa");
    assert_string_equal(cJSON_GetObjectItem(a, "web_booking")->valuestring,
                        "open");
    NUM(a, "observed_days", 22);
    NUM(a, "open_s", 712800);
    NUM(a, "covered_s", 712800);
    NUM(a, "coverage", 1);
    NUM(a, "within_s", 22 * 6 * 3600); /* 08-14 each day */
    NUM(a, "share_within", 0.6667);    /* 6 h of 9 */
    NUM(a, "share_within_open", 0.6667);
    NUM(a, "stale_s", 0);
    NUM(a, "error_s", 0);
    NUM(a, "gap_s", 0);
    NUM(a, "polls_expected", 1188); /* 712800 / 600 */
    NUM(a, "polls_made", 1188);
    NUM(a, "polls_missed", 0);
    NUM(a, "polls_ok", 1188);
    /* waits: 792 polls x 1 day, 396 x 5; ranks 594 and 1070 */
    NUM(a, "median_days", 1);
    NUM(a, "p90_days", 5);
    NUM(a, "polls_without_free", 0);
    NUM(a, "bookings_within", 3);
    NUM(a, "bookings_later", 2);
    NUM(a, "slots_passed", 4);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "reliable")));

    b = find(cl, "name", "Beta");
    assert_string_equal(cJSON_GetObjectItem(b, "web_booking")->valuestring,
                        "open");
    NUM(b, "observed_days", 11);
    NUM(b, "open_s", 712800);
    NUM(b, "covered_s", 11 * 32400);
    NUM(b, "coverage", 0.5); /* shown, never hidden */
    NUM(b, "stale_s", 2 * 32400);
    NUM(b, "error_s", 7 * 32400);
    NUM(b, "gap_s", 2 * 32400);
    NUM(b, "within_s", 11 * 32400);
    NUM(b, "share_within", 1);        /* of the covered time */
    NUM(b, "share_within_open", 0.5); /* the gap is not compliance */
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(b, "reliable")));
    NUM(b, "polls_expected", 1188);
    NUM(b, "polls_made", 20 * 54);
    NUM(b, "polls_missed", 108);
    NUM(b, "polls_ok", 11 * 54);
    NUM(b, "median_days", 2);
    NUM(b, "p90_days", 2);
    NUM(b, "bookings_within", 0);

    c = find(cl, "name", "Ceta");
    assert_string_equal(cJSON_GetObjectItem(c, "web_booking")->valuestring,
                        "none");
    assert_true(is_null(c, "share_within"));
    assert_true(is_null(c, "coverage"));
    assert_true(is_null(c, "median_days"));
    assert_true(is_null(c, "open_s"));

    /* Region: Alfa + Beta (Ceta has no figure). */
    t = cJSON_GetObjectItem(doc, "total");
    NUM(t, "clinics", 3);
    NUM(t, "clinics_with_web", 2);
    NUM(t, "open_s", 2 * 712800);
    NUM(t, "covered_s", 712800 + 356400);
    NUM(t, "coverage", 0.75);
    NUM(t, "within_s", 475200 + 356400);
    NUM(t, "share_within", 0.7778);      /* 831600 / 1069200 */
    NUM(t, "share_within_open", 0.5833); /* 831600 / 1425600 */
    NUM(t, "gap_s", 64800);
    NUM(t, "polls_missed", 108);
    /* pooled waits 1 x 792, 2 x 594, 5 x 396; ranks 891 and 1604 */
    NUM(t, "median_days", 2);
    NUM(t, "p90_days", 5);
    NUM(t, "observed_days", 33);
    cJSON_Delete(doc);

    /* by operator: private = Alfa + Ceta (1 with web), region = Beta */
    p.by = REPORT_BY_OPERATOR;
    doc = build(f, &p);
    cl = cJSON_GetObjectItem(doc, "groups");
    assert_int_equal(cJSON_GetArraySize(cl), 2);
    a = find(cl, "group", "private");
    NUM(a, "clinics", 2);
    NUM(a, "clinics_with_web", 1);
    NUM(a, "within_s", 475200);
    NUM(a, "bookings_within", 3);
    b = find(cl, "group", "region");
    NUM(b, "coverage", 0.5);
    cJSON_Delete(doc);
}

/* Report "now" in the middle of the month: open time stops at now. */
static void test_guarantee_until_now(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    cJSON *doc;
    const cJSON *a;

    fill_main(f->db);
    guarantee_params(&p, 3);
    p.now = loc(3, 4, 12, 0); /* Mar 2, 3 whole, Mar 4 08-12 */
    doc = build(f, &p);
    a = find(cJSON_GetObjectItem(doc, "clinics"), "name", "Alfa");
    NUM(a, "open_s", 2 * 32400 + 4 * 3600);
    /* Runs of Mar 4 are in the file (written "ahead" here); coverage is
     * clipped to open time up to now. */
    NUM(a, "covered_s", 2 * 32400 + 4 * 3600);
    NUM(a, "within_s", 2 * 21600 + 4 * 3600);
    cJSON_Delete(doc);
}

/*
 * DST: every day of March and October 2026 (open every day, 08-17) with
 * two runs a day covering the whole local day: 00:00..11:50 within, first
 * free the next local day; 12:00..23:50 not within, first free 3 days on.
 * 29 March has 23 hours, 25 October 25: the open hours are 9 h on both,
 * within is 08-12 = 4 h every day. Morning runs have 72 polls, 66 on
 * 29 March, 78 on 25 October; afternoon runs 72.
 */
static void fill_dst(sqlite3 *db, int mo)
{
    int d, nd = 31;

    exec(db, "BEGIN");
    for (d = 1; d <= nd; d++) {
        int64_t mid = loc(mo, d, 0, 0), noon = loc(mo, d, 12, 0);
        int64_t next = d < nd ? loc(mo, d + 1, 0, 0) : loc(mo + 1, 1, 0, 0);

        run(db, 1, mid, noon - 600, 600, 0, 1, next + 9 * 3600, 1);
        run(db, 1, noon, next - 600, 600, 0, 1, next + 2 * 86400 + 9 * 3600, 0);
    }
    exec(db, "COMMIT");
}

static void test_guarantee_dst(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    cJSON *doc;
    const cJSON *a;

    clinic(f->db, 1, "Dst", "Karlstad", "private", 1, utc(2026, 1, 1, 0, 0),
           utc(2026, 12, 1, 0, 0));
    fill_dst(f->db, 3);
    fill_dst(f->db, 10);

    guarantee_params(&p, 3);
    p.open_days_mask = 0xfe; /* every day, so the Sunday switch counts */
    doc = build(f, &p);
    a = find(cJSON_GetObjectItem(doc, "clinics"), "name", "Dst");
    NUM(a, "open_s", 31 * 32400);
    NUM(a, "covered_s", 31 * 32400);
    NUM(a, "within_s", 31 * 4 * 3600);
    NUM(a, "polls_expected", 31 * 54);
    NUM(a, "polls_made", 31 * 54);
    NUM(a, "observed_days", 31);
    /* morning 30 x 72 + 66 = 2226 polls at 1 day, afternoon 2232 at 3;
     * median rank 2229 falls in the afternoon */
    NUM(a, "polls_ok", 2226 + 2232);
    NUM(a, "median_days", 3);
    cJSON_Delete(doc);

    guarantee_params(&p, 10);
    p.open_days_mask = 0xfe;
    doc = build(f, &p);
    a = find(cJSON_GetObjectItem(doc, "clinics"), "name", "Dst");
    NUM(a, "open_s", 31 * 32400);
    NUM(a, "within_s", 31 * 4 * 3600);
    NUM(a, "polls_made", 31 * 54);
    /* morning 30 x 72 + 78 = 2238 >= rank 2235 of 4470 */
    NUM(a, "polls_ok", 2238 + 2232);
    NUM(a, "median_days", 1);
    NUM(a, "p90_days", 3);
    cJSON_Delete(doc);
}

/* Median and p90 on small known sets, nearest rank, weighted by n. */
static void test_percentiles(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    cJSON *doc;
    const cJSON *cl, *g, *h, *i;
    int64_t t0 = utc(2026, 1, 1, 0, 0), t1 = utc(2026, 12, 1, 0, 0);

    clinic(f->db, 1, "G", "Karlstad", "private", 1, t0, t1);
    clinic(f->db, 2, "H", "Karlstad", "private", 1, t0, t1);
    clinic(f->db, 3, "I", "Karlstad", "private", 1, t0, t1);
    /* G: 0 x1, 1 x2, 2 x3, 7 x4 -> ranks 5 and 9 -> 2 and 7 */
    run(f->db, 1, loc(3, 2, 8, 0), loc(3, 2, 8, 0), 600, 0, 1, loc(3, 2, 10, 0),
        1);
    run(f->db, 1, loc(3, 2, 8, 10), loc(3, 2, 8, 20), 600, 0, 1,
        loc(3, 3, 10, 0), 1);
    run(f->db, 1, loc(3, 3, 8, 0), loc(3, 3, 8, 20), 600, 0, 1,
        loc(3, 5, 10, 0), 1);
    run(f->db, 1, loc(3, 4, 8, 0), loc(3, 4, 8, 30), 600, 0, 1,
        loc(3, 11, 10, 0), 0);
    /* H: 0 x5, no free slot x5 -> median 0, p90 none (null) */
    run(f->db, 2, loc(3, 2, 8, 0), loc(3, 2, 8, 40), 600, 0, 1,
        loc(3, 2, 15, 0), 1);
    run(f->db, 2, loc(3, 3, 8, 0), loc(3, 3, 8, 40), 600, 0, 1, -1, 0);
    /* I: a poll at 23:30 on Saturday 28 March, first free 00:30 the next
     * local day: both instants on the same UTC date, 1 local day apart. */
    run(f->db, 3, loc(3, 28, 23, 30), loc(3, 28, 23, 30), 600, 0, 1,
        loc(3, 29, 0, 30), 1);
    assert_int_equal(loc(3, 28, 23, 30) / 86400, loc(3, 29, 0, 30) / 86400);

    guarantee_params(&p, 3);
    doc = build(f, &p);
    cl = cJSON_GetObjectItem(doc, "clinics");
    g = find(cl, "name", "G");
    NUM(g, "median_days", 2);
    NUM(g, "p90_days", 7);
    NUM(g, "polls_ok", 10);
    h = find(cl, "name", "H");
    NUM(h, "median_days", 0);
    assert_true(is_null(h, "p90_days"));
    NUM(h, "polls_without_free", 5);
    i = find(cl, "name", "I");
    NUM(i, "median_days", 1);
    NUM(i, "p90_days", 1);
    cJSON_Delete(doc);
}

/*
 * Web booking, 16-22 March 2026 (ISO week 12):
 *   Alfa (Karlstad, private): open every day.
 *   Beta (Arvika, region): open 16-17; on 18 one open and one unreachable
 *     run; unreachable 19-22.
 *   Ceta (Karlstad, private): no booking configured.
 *   Epsilon (Arvika, private): polled daily, platform says not connected.
 *   Fi (Karlstad, region): joins on 19 March 10:00, open every day after.
 */
static void fill_web(sqlite3 *db)
{
    int64_t t0 = utc(2026, 1, 1, 0, 0), t1 = utc(2026, 4, 1, 0, 0);
    int d;

    clinic(db, 11, "Alfa", "Karlstad", "private", 1, t0, t1);
    clinic(db, 12, "Beta", "Arvika", "region", 1, t0, t1);
    clinic(db, 13, "Ceta", "Karlstad", "private", 0, t0, t1);
    clinic(db, 14, "Epsilon", "Arvika", "private", 1, t0, t1);
    clinic(db, 15, "Fi", "Karlstad", "region", 1, loc(3, 19, 10, 0), t1);
    for (d = 16; d <= 22; d++) {
        run(db, 11, loc(3, d, 8, 0), loc(3, d, 9, 0), 600, 0, 1, -1, 0);
        if (d <= 18)
            run(db, 12, loc(3, d, 8, 0), loc(3, d, 9, 0), 600, 0, 1, -1, 0);
        if (d >= 18)
            run(db, 12, loc(3, d, 10, 0), loc(3, d, 11, 0), 600, 2, 3, -1, -1);
        run(db, 14, loc(3, d, 8, 0), loc(3, d, 9, 0), 600, 2, 2, -1, -1);
        if (d >= 19)
            run(db, 15, loc(3, d, 10, 0), loc(3, d, 11, 0), 600, 0, 1, -1, 0);
    }
}

static void web_params(struct report_params *p, enum report_per per)
{
    report_params_init(p);
    p->kind = REPORT_WEB_BOOKING;
    p->per = per;
    p->from_day = th_dayn(2026, 3, 16);
    p->to_day = th_dayn(2026, 3, 22);
    p->now = utc(2026, 12, 1, 0, 0);
}

static void test_web_booking(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    cJSON *doc;
    const cJSON *per, *d, *g, *none;
    /* day: clinics, observed, open, open_all */
    static const int want[7][4] = { { 4, 3, 2, 2 }, { 4, 3, 2, 2 },
                                    { 4, 3, 2, 1 }, { 5, 4, 2, 2 },
                                    { 5, 4, 2, 2 }, { 5, 4, 2, 2 },
                                    { 5, 4, 2, 2 } };
    int i;

    fill_web(f->db);
    web_params(&p, REPORT_PER_DAY);
    doc = build(f, &p);
    per = cJSON_GetObjectItem(doc, "periods");
    assert_int_equal(cJSON_GetArraySize(per), 7);
    for (i = 0; i < 7; i++) {
        d = cJSON_GetArrayItem(per, i);
        NUM(d, "clinics", want[i][0]);
        NUM(d, "observed", want[i][1]);
        NUM(d, "open", want[i][2]);
        NUM(d, "open_all", want[i][3]);
    }
    d = cJSON_GetArrayItem(per, 2);
    assert_string_equal(cJSON_GetObjectItem(d, "period")->valuestring,
                        "2026-03-18");
    NUM(d, "share", 0.5);
    NUM(d, "share_all", 0.25);
    NUM(cJSON_GetArrayItem(per, 3), "share", 0.4);
    none = cJSON_GetObjectItem(doc, "without_web_booking");
    assert_int_equal(cJSON_GetArraySize(none), 2);
    g = find(none, "name", "Ceta");
    assert_string_equal(cJSON_GetObjectItem(g, "reason")->valuestring,
                        "no_booking_configured");
    g = find(none, "name", "Epsilon");
    assert_string_equal(cJSON_GetObjectItem(g, "reason")->valuestring,
                        "not_connected");
    cJSON_Delete(doc);

    /* The week: 5 clinics; open some day: Alfa, Beta, Fi; open at every
     * poll of every roster day: Alfa, Fi. */
    web_params(&p, REPORT_PER_WEEK);
    p.by = REPORT_BY_MUNICIPALITY;
    doc = build(f, &p);
    per = cJSON_GetObjectItem(doc, "periods");
    assert_int_equal(cJSON_GetArraySize(per), 1);
    d = cJSON_GetArrayItem(per, 0);
    assert_string_equal(cJSON_GetObjectItem(d, "period")->valuestring,
                        "2026-W12");
    NUM(d, "clinics", 5);
    NUM(d, "open", 3);
    NUM(d, "open_all", 2);
    NUM(d, "share", 0.6);
    g = find(cJSON_GetObjectItem(d, "groups"), "group", "Arvika");
    NUM(g, "clinics", 2);
    NUM(g, "open", 1);
    NUM(g, "open_all", 0);
    g = find(cJSON_GetObjectItem(d, "groups"), "group", "Karlstad");
    NUM(g, "clinics", 3);
    NUM(g, "open", 2);
    NUM(g, "open_all", 2);
    cJSON_Delete(doc);

    /* Month granularity over a range inside one month: one period. */
    web_params(&p, REPORT_PER_MONTH);
    doc = build(f, &p);
    per = cJSON_GetObjectItem(doc, "periods");
    assert_int_equal(cJSON_GetArraySize(per), 1);
    d = cJSON_GetArrayItem(per, 0);
    assert_string_equal(cJSON_GetObjectItem(d, "period")->valuestring,
                        "2026-03");
    assert_string_equal(cJSON_GetObjectItem(d, "from")->valuestring,
                        "2026-03-16");
    NUM(d, "open", 3);
    cJSON_Delete(doc);
}

/* --- CSV and JSON carry the same numbers -------------------------------------- */

/* Split one CSV line (no quoted commas in these fixtures) into cells. */
static int split(char *line, char **cells, int max)
{
    int n = 0;
    char *s = line, *c;

    for (;;) {
        if (n == max)
            return n;
        cells[n++] = s;
        if ((c = strchr(s, ',')) == NULL)
            return n;
        *c = '\0';
        s = c + 1;
    }
}

/* The JSON key of a Swedish CSV heading (report_column_label), or the
 * heading itself when no key has it. */
static const char *key_of(const char *label)
{
    static const char *const keys[] = { "period",
                                        "from",
                                        "to",
                                        "group",
                                        "clinics",
                                        "observed",
                                        "open",
                                        "open_all",
                                        "share",
                                        "share_all",
                                        "hsa_id",
                                        "name",
                                        "municipality",
                                        "operator",
                                        "reason",
                                        "web_booking",
                                        "clinics_with_web",
                                        "observed_days",
                                        "open_s",
                                        "covered_s",
                                        "coverage",
                                        "stale_s",
                                        "error_s",
                                        "gap_s",
                                        "within_s",
                                        "share_within",
                                        "share_within_open",
                                        "reliable",
                                        "polls_expected",
                                        "polls_made",
                                        "polls_missed",
                                        "polls_ok",
                                        "median_days",
                                        "p90_days",
                                        "polls_without_free",
                                        "bookings_within",
                                        "bookings_later",
                                        "slots_passed" };
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(report_column_label(keys[i]), label) == 0)
            return keys[i];
    fail_msg("CSV heading \"%s\" is no known column", label);
    return label;
}

/* Every cell of CSV row `cells` equals the JSON member of the same name. */
static void same_row(const cJSON *o, char **head, char **cells, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItem(o, key_of(head[i]));

        if (v == NULL || cJSON_IsNull(v))
            assert_string_equal(cells[i], "");
        else if (cJSON_IsNumber(v))
            assert_true(fabs(strtod(cells[i], NULL) - v->valuedouble) < 1e-12);
        else if (cJSON_IsBool(v))
            assert_string_equal(cells[i], cJSON_IsTrue(v) ? "true" : "false");
        else
            assert_string_equal(cells[i], v->valuestring);
    }
}

static void test_csv_equals_json(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    struct sf_error err = { 0 };
    cJSON *doc;
    char *csv = NULL, *line, *save = NULL, *head[40], *cells[40];
    size_t len;
    int nh, nc, rows = 0;

    fill_main(f->db);
    guarantee_params(&p, 3);
    doc = build(f, &p);
    assert_int_equal(report_render(doc, REPORT_FMT_CSV, &csv, &len, &err), 0);
    assert_int_equal(strlen(csv), len);
    assert_non_null(strstr(csv, "\r\n"));
    line = strtok_r(csv, "\r\n", &save);
    nh = split(line, head, 40);
    assert_string_equal(head[0], "HSA-id");
    while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
        const cJSON *o;

        nc = split(line, cells, 40);
        assert_int_equal(nc, nh);
        if (strcmp(cells[0], "all") == 0)
            o = cJSON_GetObjectItem(doc, "total");
        else
            o = find(cJSON_GetObjectItem(doc, "clinics"), "hsa_id", cells[0]);
        same_row(o, head + 1, cells + 1, nc - 1);
        rows++;
    }
    assert_int_equal(rows, 4); /* three clinics and the total */
    free(csv);
    cJSON_Delete(doc);

    /* web-booking: the period rows ("all") and the group rows */
    fill_web(f->db);
    web_params(&p, REPORT_PER_DAY);
    p.by = REPORT_BY_OPERATOR;
    doc = build(f, &p);
    assert_int_equal(report_render(doc, REPORT_FMT_CSV, &csv, &len, &err), 0);
    save = NULL;
    line = strtok_r(csv, "\n", &save);
    line[strcspn(line, "\r")] = '\0';
    nh = split(line, head, 40);
    assert_string_equal(head[0], "Period");
    rows = 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        const cJSON *per, *o;

        line[strcspn(line, "\r")] = '\0';
        if (*line == '\0')
            break; /* the list of clinics without web booking follows */
        nc = split(line, cells, 40);
        assert_int_equal(nc, nh);
        per = find(cJSON_GetObjectItem(doc, "periods"), "period", cells[0]);
        o = strcmp(cells[3], "all") == 0
                ? per
                : find(cJSON_GetObjectItem(per, "groups"), "group", cells[3]);
        same_row(o, head + 4, cells + 4, nc - 4);
        rows++;
    }
    assert_true(rows >= 7 + 7);
    line = strtok_r(NULL, "\n", &save);
    assert_non_null(line);
    assert_non_null(strstr(line, "HSA-id,Mottagning,Kommun,Driftform,Orsak"));
    free(csv);
    cJSON_Delete(doc);
}

/* HTML is escaped and carries the figures. */
static void test_html(void **state)
{
    struct fx *f = *state;
    struct report_params p;
    struct sf_error err = { 0 };
    cJSON *doc;
    char *html = NULL;
    size_t len;

    clinic(f->db, 1, "<b>X&Y</b>", "Karlstad", "private", 0,
           utc(2026, 1, 1, 0, 0), utc(2026, 4, 1, 0, 0));
    web_params(&p, REPORT_PER_DAY);
    doc = build(f, &p);
    assert_int_equal(report_render(doc, REPORT_FMT_HTML, &html, &len, &err), 0);
    assert_null(strstr(html, "<b>X"));
    assert_non_null(strstr(html, "&lt;b&gt;X&amp;Y&lt;/b&gt;"));
    assert_non_null(strstr(html, "<table>"));
    /* One main landmark (axe best practice: landmark-one-main). */
    assert_non_null(strstr(html, "<body>\n<main><h1>"));
    assert_non_null(strstr(html, "</main></body>"));
    free(html);
    cJSON_Delete(doc);
}

/* --- database refusal ---------------------------------------------------------- */

static void test_db_refused(void **state)
{
    struct fx *f = *state;
    struct sf_error err = { 0 };
    sqlite3 *db = NULL, *other;
    char path[160];
    FILE *fp;

    snprintf(path, sizeof path, "%s/missing.db", f->dir);
    assert_int_equal(report_db_open(path, &db, &err), -1);
    assert_non_null(strstr(err.msg, "missing.db"));
    assert_int_equal(access(path, F_OK), -1); /* never created */

    snprintf(path, sizeof path, "%s/other.db", f->dir);
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    exec(other, "CREATE TABLE t (x); PRAGMA application_id = 42;");
    sqlite3_close(other);
    assert_int_equal(report_db_open(path, &db, &err), -1);
    assert_non_null(strstr(err.msg, "not a slotfeed store"));

    snprintf(path, sizeof path, "%s/text.db", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("this is not a database at all, just some text.\n", fp);
    fclose(fp);
    assert_int_equal(report_db_open(path, &db, &err), -1);
    assert_non_null(strstr(err.msg, "text.db"));

    exec(f->db, "PRAGMA user_version = 7");
    assert_int_equal(report_db_open(f->path, &db, &err), -1);
    assert_non_null(strstr(err.msg, "schema version 7"));
    assert_null(db);
}

static void test_parsers(void **state)
{
    struct sf_error err = { 0 };
    struct report_params p;
    int32_t a, b;
    enum report_by by;
    enum report_format fmt;

    (void)state;
    assert_int_equal(report_parse_month("2026-02", &a, &b, &err), 0);
    assert_int_equal(a, th_dayn(2026, 2, 1));
    assert_int_equal(b, th_dayn(2026, 2, 28));
    assert_int_equal(report_parse_month("2024-02", &a, &b, &err), 0);
    assert_int_equal(b - a, 28);
    assert_int_equal(report_parse_month("2026-13", &a, &b, &err), -1);
    assert_non_null(strstr(err.msg, "2026-13"));
    assert_int_equal(report_parse_month("2026-3", &a, &b, &err), -1);
    assert_int_equal(report_parse_month(NULL, &a, &b, &err), -1);
    assert_int_equal(report_parse_by("operator", &by, &err), 0);
    assert_int_equal(by, REPORT_BY_OPERATOR);
    assert_int_equal(report_parse_by("kommun", &by, &err), -1);
    assert_int_equal(report_parse_format("csv", &fmt, &err), 0);
    assert_int_equal(fmt, REPORT_FMT_CSV);
    assert_int_equal(report_parse_format("xml", &fmt, &err), -1);
    report_params_init(&p);
    assert_int_equal(report_parse_hours("07:30-18:00", &p, &err), 0);
    assert_int_equal(p.open_from_min, 450);
    assert_int_equal(p.open_to_min, 1080);
    assert_int_equal(report_parse_hours("18:00-07:00", &p, &err), -1);
    assert_int_equal(report_parse_hours("8-17", &p, &err), -1);
}

/* --- HTTP handler and CLI give the same document --------------------------------- */

static char *run_cli(const char *args)
{
    const char *bin = getenv("SLOTFEED_BIN");
    char cmd[1024], buf[4096];
    char *out = NULL;
    size_t n = 0, r;
    FILE *p;

    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    if ((p = popen(cmd, "r")) == NULL)
        return NULL;
    while ((r = fread(buf, 1, sizeof buf, p)) > 0) {
        out = realloc(out, n + r + 1);
        memcpy(out + n, buf, r);
        n += r;
        out[n] = '\0';
    }
    if (pclose(p) != 0 && out != NULL) {
        char *tagged = malloc(n + 8);

        snprintf(tagged, n + 8, "FAIL:%s", out);
        free(out);
        return tagged;
    }
    return out;
}

static void test_http_handler(void **state)
{
    struct fx *f = *state;
    int status;
    const char *ct;
    char *body = NULL;
    size_t len;
    cJSON *doc;

    fill_main(f->db);
    clock_set_fake(utc(2026, 12, 1, 0, 0));
    assert_int_equal(http_report_now("/v1/reports/guarantee", "month=2026-03",
                                     NULL, f->path, &status, &ct, &body, &len),
                     0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(ct, "application/json"));
    doc = cJSON_Parse(body);
    assert_non_null(doc);
    NUM(cJSON_GetObjectItem(doc, "total"), "coverage", 0.75);
    cJSON_Delete(doc);
    free(body);

    /* CSV by Accept, and by format= (which wins) */
    assert_int_equal(http_report_now("/v1/reports/guarantee", "month=2026-03",
                                     "text/csv", f->path, &status, &ct, &body,
                                     &len),
                     0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(ct, "text/csv"));
    assert_int_equal(strncmp(body, "HSA-id,", 7), 0);
    free(body);
    assert_int_equal(http_report_now("/v1/reports/guarantee",
                                     "month=2026-03&format=json", "text/csv",
                                     f->path, &status, &ct, &body, &len),
                     0);
    assert_int_equal(body[0], '{');
    free(body);

    /* errors: 400 with a problem body naming the parameter, 404, 503 */
    assert_int_equal(http_report_now("/v1/reports/guarantee", "month=2026-3",
                                     NULL, f->path, &status, &ct, &body, &len),
                     0);
    assert_int_equal(status, 400);
    assert_non_null(strstr(body, "month"));
    free(body);
    assert_int_equal(http_report_now("/v1/reports/web-booking",
                                     "from=2026-03-01", NULL, f->path, &status,
                                     &ct, &body, &len),
                     0);
    assert_int_equal(status, 400);
    free(body);
    assert_int_equal(http_report_now("/v1/reports/web-booking",
                                     "from=2026-03-01&to=2026-03-02&x=1", NULL,
                                     f->path, &status, &ct, &body, &len),
                     0);
    assert_int_equal(status, 400);
    assert_non_null(strstr(body, "\\\"x\\\""));
    free(body);
    assert_int_equal(http_report_now("/v1/reports/nope", NULL, NULL, f->path,
                                     &status, &ct, &body, &len),
                     0);
    assert_int_equal(status, 404);
    free(body);
    assert_int_equal(http_report_now("/v1/reports/guarantee", "month=2026-03",
                                     NULL, NULL, &status, &ct, &body, &len),
                     0);
    assert_int_equal(status, 503);
    free(body);
    clock_set_fake(-1);
}

/*
 * A store that cannot be read: the public 503 names no local path (the
 * path and the reason go to the log only), where a detail such as
 * "store /tmp/.../absent.db: No such file or directory" would show it.
 */
static void test_http_no_path_in_errors(void **state)
{
    struct fx *f = *state;
    char absent[160], notdb[160], *logged = NULL, *body = NULL;
    const char *paths[2] = { absent, notdb }, *ct;
    size_t len, n = 0;
    FILE *logf, *w;
    int status, i;

    snprintf(absent, sizeof absent, "%s/absent.db", f->dir);
    snprintf(notdb, sizeof notdb, "%s/notdb.db", f->dir);
    w = fopen(notdb, "w");
    assert_non_null(w);
    fputs("not a database, just text\n", w);
    fclose(w);
    logf = open_memstream(&logged, &n);
    assert_non_null(logf);
    log_set_output(logf);
    for (i = 0; i < 2; i++) {
        assert_int_equal(http_report_now("/v1/reports/guarantee",
                                         "month=2026-03", NULL, paths[i],
                                         &status, &ct, &body, &len),
                         0);
        assert_int_equal(status, 503);
        assert_non_null(strstr(ct, "problem+json"));
        assert_null(strstr(body, f->dir));
        assert_null(strstr(body, "/tmp"));
        assert_null(strstr(body, ".db"));
        assert_non_null(strstr(body, "history store"));
        free(body);
        body = NULL;
    }
    log_set_output(NULL);
    fclose(logf);
    /* The operator still learns which file and why. */
    assert_non_null(strstr(logged, absent));
    assert_non_null(strstr(logged, notdb));
    free(logged);
}

static void test_cli_same_as_http(void **state)
{
    struct fx *f = *state;
    const char *bin = getenv("SLOTFEED_BIN");
    char args[512], *out;
    char *body = NULL;
    const char *ct;
    size_t len;
    int status;
    cJSON *a, *b;

    if (bin == NULL || access(bin, X_OK) != 0) {
        th_skip("SLOTFEED_BIN not set or not built");
    }
    fill_main(f->db);
    fill_web(f->db);
    clock_set_fake(utc(2026, 12, 1, 0, 0));
    snprintf(args, sizeof args,
             "report guarantee --month 2026-03 --by "
             "municipality --db %s --now 2026-12-01T01:00:00+01:00",
             f->path);
    out = run_cli(args);
    assert_non_null(out);
    assert_int_not_equal(strncmp(out, "FAIL:", 5), 0);
    a = cJSON_Parse(out);
    assert_non_null(a);
    assert_int_equal(http_report_now("/v1/reports/guarantee",
                                     "month=2026-03&by=municipality", NULL,
                                     f->path, &status, &ct, &body, &len),
                     0);
    b = cJSON_Parse(body);
    assert_non_null(b);
    assert_true(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(out);
    free(body);

    snprintf(args, sizeof args,
             "report web-booking --from 2026-03-16 --to "
             "2026-03-22 --per week --format csv --db %s --now "
             "2026-12-01T01:00:00+01:00",
             f->path);
    out = run_cli(args);
    assert_int_equal(http_report_now("/v1/reports/web-booking",
                                     "from=2026-03-16&to=2026-03-22&per=week",
                                     "text/csv", f->path, &status, &ct, &body,
                                     &len),
                     0);
    assert_string_equal(out, body);
    free(out);
    free(body);

    /* CLI errors: exit status and a message naming the problem */
    snprintf(args, sizeof args, "report guarantee --month 2026-13 --db %s",
             f->path);
    out = run_cli(args);
    assert_int_equal(strncmp(out, "FAIL:", 5), 0);
    assert_non_null(strstr(out, "2026-13"));
    free(out);
    snprintf(args, sizeof args,
             "report guarantee --month 2026-03 --format"
             " xml --db %s",
             f->path);
    out = run_cli(args);
    assert_int_equal(strncmp(out, "FAIL:", 5), 0);
    assert_non_null(strstr(out, "xml"));
    free(out);
    snprintf(args, sizeof args,
             "report web-booking --from 2026-02-30 --to "
             "2026-03-01 --db %s",
             f->path);
    out = run_cli(args);
    assert_int_equal(strncmp(out, "FAIL:", 5), 0);
    assert_non_null(strstr(out, "2026-02-30"));
    free(out);
    snprintf(args, sizeof args,
             "report guarantee --month 2026-03 --db "
             "%s/none.db",
             f->dir);
    out = run_cli(args);
    assert_int_equal(strncmp(out, "FAIL:", 5), 0);
    assert_non_null(strstr(out, "none.db"));
    free(out);
    out = run_cli("report guarantee --help");
    assert_int_not_equal(strncmp(out, "FAIL:", 5), 0);
    assert_non_null(strstr(out, "--month"));
    free(out);
    clock_set_fake(-1);
}

/* --- the real HTTP server answers the same ---------------------------------- */

struct reply {
    struct event_base *base;
    int done, status;
    char ct[128];
    char disposition[160]; /* Content-Disposition, or "" */
    char *body;
};

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct reply *r = arg;
    struct evbuffer *b;
    const char *ct;
    size_t n;

    r->done = 1;
    if (req == NULL)
        return;
    r->status = evhttp_request_get_response_code(req);
    ct = evhttp_find_header(evhttp_request_get_input_headers(req),
                            "Content-Type");
    snprintf(r->ct, sizeof r->ct, "%s", ct ? ct : "");
    ct = evhttp_find_header(evhttp_request_get_input_headers(req),
                            "Content-Disposition");
    snprintf(r->disposition, sizeof r->disposition, "%s", ct ? ct : "");
    b = evhttp_request_get_input_buffer(req);
    n = evbuffer_get_length(b);
    r->body = malloc(n + 1);
    evbuffer_remove(b, r->body, n);
    r->body[n] = '\0';
    event_base_loopbreak(r->base);
}

static const struct feed_snapshot *provide(void *arg)
{
    return arg;
}

static void get(struct event_base *base, int port, const char *uri,
                const char *accept, struct reply *r)
{
    struct evhttp_connection *c =
        evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                   (unsigned short)port);
    struct evhttp_request *req = evhttp_request_new(on_reply, r);
    struct timeval tv = { 10, 0 };

    memset(r, 0, sizeof(*r));
    r->base = base;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
                      "127.0.0.1");
    if (accept)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Accept",
                          accept);
    assert_int_equal(evhttp_make_request(c, req, EVHTTP_REQ_GET, uri), 0);
    event_base_loopexit(base, &tv); /* bound in time */
    event_base_dispatch(base);
    assert_true(r->done);
    evhttp_connection_free(c);
}

static void test_http_server(void **state)
{
    struct fx *f = *state;
    struct conf_clinic cc = { 0 };
    struct conf_region region = { 0 };
    struct clinic_state cs = { 0 };
    struct feed_snapshot *snap = NULL;
    struct sf_error err = { 0 };
    struct event_base *base;
    struct http_server *h;
    struct reply r;
    int status;
    const char *ct;
    char *body = NULL;
    size_t len;
    cJSON *a, *b;

    fill_main(f->db);
    log_quiet();
    clock_set_fake(utc(2026, 12, 1, 0, 0));
    cc.id = "SE2321000156-0001";
    cc.name = "Alfa";
    cc.municipality = "Karlstad";
    cc.operator_kind = "private";
    cs.conf = &cc;
    cs.web = WEB_NONE;
    avail_slots_init(&cs.slots);
    region.name = "Test";
    region.timezone = "Europe/Stockholm";
    region.guarantee.days = 3;
    region.poll_interval_s = 60;
    region.clinics = &cc;
    region.nclinics = 1;
    region.store = f->path;
    assert_int_equal(feed_build(&region, &cs, clock_now(), &snap, &err), 0);
    base = event_base_new();
    h = http_new(base, "127.0.0.1", 0, NULL, provide, snap, &err);
    assert_non_null(h);

    get(base, http_port(h), "/v1/reports/guarantee?month=2026-03&by=operator",
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ct, "application/json"));
    assert_int_equal(http_report_now("/v1/reports/guarantee",
                                     "month=2026-03&by=operator", NULL, f->path,
                                     &status, &ct, &body, &len),
                     0);
    a = cJSON_Parse(r.body);
    b = cJSON_Parse(body);
    assert_non_null(a);
    assert_true(cJSON_Compare(a, b, 1));
    NUM(cJSON_GetObjectItem(a, "total"), "coverage", 0.75);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(body);
    free(r.body);

    get(base, http_port(h),
        "/v1/reports/web-booking?from=2026-03-02&"
        "to=2026-03-08",
        "text/csv", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ct, "text/csv"));
    assert_int_equal(strncmp(r.body, "Period,", 7), 0);
    /* Saved as a file named after the report and its range. */
    assert_string_equal(r.disposition,
                        "attachment; filename=\""
                        "webbokning-2026-03-02--2026-03-08.csv\"");
    free(r.body);
    get(base, http_port(h),
        "/v1/reports/guarantee?month=2026-03&"
        "format=csv",
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.disposition,
                        "attachment; filename=\"vardgaranti-2026-03.csv\"");
    assert_int_equal(strncmp(r.body, "HSA-id,Mottagning,", 18), 0);
    free(r.body);

    get(base, http_port(h), "/v1/reports/guarantee?month=2026-03&format=html",
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<table>"));
    assert_string_equal(r.disposition, ""); /* shown, not saved */
    free(r.body);

    get(base, http_port(h), "/v1/reports/guarantee?month=march", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.ct, "problem+json"));
    free(r.body);

    http_free(h);
    event_base_free(base);
    feed_snapshot_free(snap);
    clock_set_fake(-1);
}

/* --- demo history: simulator + collector on the fake clock ------------------ */

static void test_history_generate(void **state)
{
    struct fx *f = *state;
    char json[2048], db[160];
    struct conf_region *r = NULL;
    struct conf_errors errs = { 0 };
    struct history_opts ho = { 0 };
    struct history_result hr;
    struct sf_error err = { 0 };
    struct report_params p;
    cJSON *doc;
    const cJSON *a, *b;

    log_quiet();
    snprintf(db, sizeof db, "%s/demo.db", f->dir);
    snprintf(json, sizeof json,
             "{\"name\": \"T\", \"store\": \"%s\", \"riv\": "
             "{\"subject_of_care\": \"191212121212\"}, \"clinics\": ["
             "{\"id\": \"SE2321000156-A1\", \"name\": \"A\", "
             "\"municipality\": \"Kil\", \"operator\": \"region\", "
             "\"booking\": {\"adapter\": \"rivta-scheduling\", \"url\": "
             "\"http://192.0.2.1:1/vp\", \"time_type_id\": \"NYB\"}},"
             "{\"id\": \"SE2321000156-B2\", \"name\": \"B\", "
             "\"municipality\": \"Kil\", \"operator\": \"private\"}]}",
             db);
    assert_int_equal(conf_parse(json, strlen(json), &r, &errs), 0);
    conf_errors_free(&errs);
    /* Tuesday 3 March 2026: 07:00..17:45 every 900 s = 44 passes. */
    ho.from_day = th_dayn(2026, 3, 3);
    ho.days = 1;
    ho.change_every_s = 3600;
    if (history_generate(r, &ho, &hr, &err) != 0)
        fail_msg("history: %s", err.msg);
    assert_int_equal(hr.passes, 44);
    assert_int_equal(hr.polls, 44); /* only A has booking */

    guarantee_params(&p, 3);
    p.now = loc(3, 4, 0, 0); /* later days would be gaps (not polled) */
    {
        sqlite3 *h = NULL;

        assert_int_equal(report_db_open(db, &h, &err), 0);
        assert_int_equal(report_build(h, &p, &doc, &err), 0);
        sqlite3_close(h);
    }
    a = find(cJSON_GetObjectItem(doc, "clinics"), "name", "A");
    NUM(a, "observed_days", 1);
    NUM(a, "polls_ok", 44);
    /* Only 3 March counts: the clinic joined that day at 07:00 and the
     * report stops at midnight. */
    NUM(a, "open_s", 32400);
    NUM(a, "coverage", 1);
    NUM(a, "polls_expected", 36); /* 32400 / 900 */
    NUM(a, "polls_made", 36);     /* 08:00 .. 16:45 */
    /* Schedules change every hour: some free times vanish early. */
    assert_true(num(a, "bookings_within") + num(a, "bookings_later") > 0);
    b = find(cJSON_GetObjectItem(doc, "clinics"), "name", "B");
    assert_string_equal(cJSON_GetObjectItem(b, "web_booking")->valuestring,
                        "none");
    cJSON_Delete(doc);
    conf_free(r);
}

/* --- out of memory: an error, never a partial report ------------------------ */

/*
 * cJSON's allocator for the tests below: counts the calls and fails the
 * one numbered oom_fail_at (1-based; 0 = none). cJSON's hooks are global,
 * so these tests call the report functions directly, on this thread only
 * (never through reportq's workers).
 */
static long oom_calls, oom_fail_at;

static void *oom_malloc(size_t n)
{
    if (++oom_calls == oom_fail_at)
        return NULL;
    return malloc(n);
}

static void oom_hooks(long fail_at)
{
    cJSON_Hooks h = { oom_malloc, free };

    oom_calls = 0;
    oom_fail_at = fail_at;
    cJSON_InitHooks(&h);
}

/* Build and render p as fmt with cJSON's allocation number fail_at
 * failing. 0 and *out (free()) or -1 with err. */
static int oom_run(sqlite3 *db, const struct report_params *p,
                   enum report_format fmt, long fail_at, char **out,
                   struct sf_error *err)
{
    cJSON *doc = NULL;
    size_t len;
    int rc;

    *out = NULL;
    oom_hooks(fail_at);
    rc = report_build(db, p, &doc, err);
    if (rc == 0)
        rc = report_render(doc, fmt, out, &len, err);
    cJSON_Delete(doc);
    cJSON_InitHooks(NULL);
    return rc;
}

/*
 * The SQLite-style OOM test: count the cJSON allocations one report
 * makes (build and render), then fail each of them in turn. Every run
 * must fail with SF_ERR_NOMEM and no output: an unchecked add would
 * instead give a report with a field, a row or a total missing.
 */
static void oom_every_allocation(const struct fx *f,
                                 const struct report_params *p,
                                 enum report_format fmt)
{
    struct sf_error err = { 0 };
    sqlite3 *db = NULL;
    char *want = NULL, *got = NULL;
    long total, n;

    if (report_db_open(f->path, &db, &err) != 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(oom_run(db, p, fmt, 0, &want, &err), 0);
    total = oom_calls;
    assert_true(total > 20);
    for (n = 1; n <= total; n++) {
        memset(&err, 0, sizeof(err));
        if (oom_run(db, p, fmt, n, &got, &err) == 0)
            fail_msg("allocation %ld of %ld failed, yet the report "
                     "succeeded (%zu bytes, %zu expected)",
                     n, total, strlen(got), strlen(want));
        assert_null(got);
        assert_int_equal(err.code, SF_ERR_NOMEM);
    }
    /* And with the allocator back, the same bytes as the first run. */
    assert_int_equal(oom_run(db, p, fmt, 0, &got, &err), 0);
    assert_string_equal(got, want);
    free(got);
    free(want);
    sqlite3_close(db);
}

static void test_oom_guarantee(void **state)
{
    struct fx *f = *state;
    struct report_params p;

    fill_main(f->db);
    guarantee_params(&p, 3);
    oom_every_allocation(f, &p, REPORT_FMT_JSON);
    oom_every_allocation(f, &p, REPORT_FMT_CSV); /* the total row */
    p.by = REPORT_BY_MUNICIPALITY;
    oom_every_allocation(f, &p, REPORT_FMT_JSON); /* groups */
}

static void test_oom_web_booking(void **state)
{
    struct fx *f = *state;
    struct report_params p;

    fill_web(f->db);
    web_params(&p, REPORT_PER_WEEK);
    p.by = REPORT_BY_OPERATOR;
    oom_every_allocation(f, &p, REPORT_FMT_JSON);
    oom_every_allocation(f, &p, REPORT_FMT_CSV); /* the "all" rows */
}

/* Over HTTP (http_report_now, on this thread): out of memory anywhere in the
 * report is a 500 problem or no body at all, never a 200. */
static void test_oom_http(void **state)
{
    struct fx *f = *state;
    const char *ct;
    char *body = NULL;
    size_t len;
    long total, n;
    int status, rc;

    /* Each failure logs report_failed: one line per allocation. */
    FILE *devnull = fopen("/dev/null", "w");

    assert_non_null(devnull);
    log_set_output(devnull);
    fill_web(f->db);
    oom_hooks(0);
    rc = http_report_now("/v1/reports/web-booking",
                         "from=2026-03-16&to=2026-03-22&by=municipality", NULL,
                         f->path, &status, &ct, &body, &len);
    total = oom_calls;
    cJSON_InitHooks(NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(status, 200);
    free(body);
    for (n = 1; n <= total; n++) {
        oom_hooks(n);
        rc = http_report_now("/v1/reports/web-booking",
                             "from=2026-03-16&to=2026-03-22&by=municipality",
                             NULL, f->path, &status, &ct, &body, &len);
        cJSON_InitHooks(NULL);
        if (rc == 0 && status != 500)
            fail_msg("allocation %ld of %ld failed: status %d", n, total,
                     status);
        if (rc != 0)
            assert_null(body);
        free(body);
    }
    log_set_output(NULL);
    fclose(devnull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),
        cmocka_unit_test_setup_teardown(test_guarantee_month, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guarantee_until_now, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_guarantee_dst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_booking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_equals_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_no_path_in_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cli_same_as_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_guarantee, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_web_booking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_http, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN); /* as the daemon: replies to gone peers */
    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
