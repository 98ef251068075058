/*
 * test_clock.c - clock.c against independent references: glibc's
 * timegm/gmtime_r for UTC calendar math, glibc's localtime_r with the
 * system tzdata for Europe/Stockholm, and dates worked out by hand (the
 * published EU switch dates, the Swedish holiday law, Easter tables).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slotfeed/clock.h"
#include "th_time.h"
#include "th_skip.h"

static void assert_civil(const struct clock_civil *c, int y, int mo, int d,
                         int h, int mi, int s)
{
    assert_int_equal(c->year, y);
    assert_int_equal(c->month, mo);
    assert_int_equal(c->day, d);
    assert_int_equal(c->hour, h);
    assert_int_equal(c->min, mi);
    assert_int_equal(c->sec, s);
}

static struct clock_civil civil(int y, int mo, int d, int h, int mi, int s)
{
    struct clock_civil c = { y, mo, d, h, mi, s };
    return c;
}

/* --- now ------------------------------------------------------------------ */

static void test_fake_now(void **state)
{
    int64_t real;

    (void)state;
    clock_set_fake(1774951200);
    assert_int_equal(clock_now(), 1774951200);
    clock_set_fake(0);
    assert_int_equal(clock_now(), 0);
    clock_set_fake(-1);
    real = clock_now();
    /* Real time: after this code was written (2026) and not absurd. */
    assert_true(real > 1767225600);
    assert_true(real < INT64_C(32503680000));
    assert_true(clock_now() >= real);
}

/* --- calendar math ------------------------------------------------------- */

static void test_days_known(void **state)
{
    int y, m, d;

    (void)state;
    assert_int_equal(clock_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(clock_days_from_civil(1969, 12, 31), -1);
    /* 2000-01-01 is 30 years incl. 7 leap days: 30*365+7 = 10957. */
    assert_int_equal(clock_days_from_civil(2000, 1, 1), 10957);
    assert_int_equal(clock_days_from_civil(2000, 3, 1), 10957 + 31 + 29);
    /* 1767225600 = 2026-01-01T00:00:00Z, / 86400 */
    assert_int_equal(clock_days_from_civil(2026, 1, 1), 20454);
    clock_civil_from_days(20454 + 59, &y, &m, &d);
    assert_int_equal(y, 2026);
    assert_int_equal(m, 3);
    assert_int_equal(d, 1);
    clock_civil_from_days(-719468, &y, &m, &d); /* 0000-03-01 */
    assert_int_equal(y, 0);
    assert_int_equal(m, 3);
    assert_int_equal(d, 1);

    assert_int_equal(clock_weekday(0), 4); /* Thursday */
    assert_int_equal(clock_weekday(-1), 3);
    assert_int_equal(clock_weekday(th_dayn(2026, 3, 29)), 7); /* Sunday */
    assert_int_equal(clock_weekday(th_dayn(2026, 3, 30)), 1);

    assert_int_equal(clock_days_in_month(2024, 2), 29);
    assert_int_equal(clock_days_in_month(2026, 2), 28);
    assert_int_equal(clock_days_in_month(2000, 2), 29);
    assert_int_equal(clock_days_in_month(2100, 2), 28);
    assert_int_equal(clock_days_in_month(2026, 4), 30);
    assert_int_equal(clock_days_in_month(2026, 12), 31);
    assert_int_equal(clock_days_in_month(2026, 13), 0);
}

/* Every day 1900-01-01 .. 2200-12-31 against gmtime_r. */
static void test_days_vs_gmtime(void **state)
{
    int32_t first = th_dayn(1900, 1, 1), last = th_dayn(2200, 12, 31);

    (void)state;
    for (int32_t day = first; day <= last; day++) {
        struct tm tm;
        time_t t = (time_t)day * 86400;
        int y, m, d;

        assert_non_null(gmtime_r(&t, &tm));
        clock_civil_from_days(day, &y, &m, &d);
        assert_int_equal(y, tm.tm_year + 1900);
        assert_int_equal(m, tm.tm_mon + 1);
        assert_int_equal(d, tm.tm_mday);
        assert_int_equal(clock_days_from_civil(y, m, d), day);
        assert_int_equal(clock_weekday(day), tm.tm_wday == 0 ? 7 : tm.tm_wday);
        assert_int_equal(clock_days_in_month(y, m) >= d, 1);
    }
}

/* --- DST switches ---------------------------------------------------------- */

/* Offsets just before/at the switch instant (01:00 UTC) of three years. */
static void test_offset_switches(void **state)
{
    /* Last Sundays of March / October, from a printed calendar. */
    static const int sw[][4] = {
        { 2025, 30, 26, 0 },
        { 2026, 29, 25, 0 },
        { 2027, 28, 31, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
        int y = sw[i][0];
        int64_t on = th_utc(y, 3, sw[i][1], 1, 0, 0);
        int64_t off = th_utc(y, 10, sw[i][2], 1, 0, 0);

        assert_int_equal(clock_offset_at(on - 3600), 3600);
        assert_int_equal(clock_offset_at(on - 1), 3600);
        assert_int_equal(clock_offset_at(on), 7200);
        assert_int_equal(clock_offset_at(on + 3600), 7200);
        assert_int_equal(clock_offset_at(off - 1), 7200);
        assert_int_equal(clock_offset_at(off), 3600);
        assert_int_equal(clock_offset_at(off + 86400), 3600);
    }
    assert_int_equal(clock_offset_at(th_utc(2026, 1, 15, 12, 0, 0)), 3600);
    assert_int_equal(clock_offset_at(th_utc(2026, 7, 15, 12, 0, 0)), 7200);
    assert_int_equal(clock_offset_at(th_utc(2026, 12, 31, 23, 59, 59)), 3600);
}

static void test_to_local_switch_days(void **state)
{
    struct clock_civil c;
    int off;

    (void)state;
    /* March: local 01:59:59 CET is followed by 03:00:00 CEST. */
    clock_to_local(th_utc(2026, 3, 29, 0, 59, 59), &c, &off);
    assert_civil(&c, 2026, 3, 29, 1, 59, 59);
    assert_int_equal(off, 3600);
    clock_to_local(th_utc(2026, 3, 29, 1, 0, 0), &c, &off);
    assert_civil(&c, 2026, 3, 29, 3, 0, 0);
    assert_int_equal(off, 7200);
    /* October: 02:59:59 CEST is followed by 02:00:00 CET. */
    clock_to_local(th_utc(2026, 10, 25, 0, 59, 59), &c, &off);
    assert_civil(&c, 2026, 10, 25, 2, 59, 59);
    assert_int_equal(off, 7200);
    clock_to_local(th_utc(2026, 10, 25, 1, 0, 0), &c, &off);
    assert_civil(&c, 2026, 10, 25, 2, 0, 0);
    assert_int_equal(off, 3600);
    clock_to_local(th_utc(2026, 10, 25, 0, 30, 0), &c, NULL);
    assert_civil(&c, 2026, 10, 25, 2, 30, 0);
    clock_to_local(th_utc(2026, 10, 25, 1, 30, 0), &c, NULL);
    assert_civil(&c, 2026, 10, 25, 2, 30, 0);
    /* Another year: 2027-10-31. */
    clock_to_local(th_utc(2027, 10, 31, 1, 0, 0), &c, &off);
    assert_civil(&c, 2027, 10, 31, 2, 0, 0);
    assert_int_equal(off, 3600);
    /* Year boundary: 2026-12-31T23:30Z is 2027-01-01 00:30 local. */
    clock_to_local(th_utc(2026, 12, 31, 23, 30, 0), &c, &off);
    assert_civil(&c, 2027, 1, 1, 0, 30, 0);
}

static void test_from_local(void **state)
{
    struct clock_civil c;
    int64_t t;

    (void)state;
    /* Ordinary winter and summer times. */
    c = civil(2026, 1, 15, 12, 0, 0);
    assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
    assert_int_equal(t, th_utc(2026, 1, 15, 11, 0, 0));
    c = civil(2026, 7, 15, 12, 0, 0);
    assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
    assert_int_equal(t, th_utc(2026, 7, 15, 10, 0, 0));

    /* March skipped hour 02:00:00-02:59:59 does not exist; *out untouched. */
    static const int march[][3] = { { 2025, 3, 30 },
                                    { 2026, 3, 29 },
                                    { 2027, 3, 28 } };
    for (size_t i = 0; i < 3; i++) {
        int y = march[i][0], mo = march[i][1], d = march[i][2];
        c = civil(y, mo, d, 2, 30, 0);
        t = 42;
        assert_int_equal(clock_from_local(&c, &t), CLOCK_NONEXISTENT);
        assert_int_equal(t, 42);
        c = civil(y, mo, d, 2, 0, 0);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_NONEXISTENT);
        c = civil(y, mo, d, 2, 59, 59);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_NONEXISTENT);
        c = civil(y, mo, d, 1, 59, 59);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
        assert_int_equal(t, th_utc(y, mo, d, 0, 59, 59));
        c = civil(y, mo, d, 3, 0, 0);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
        assert_int_equal(t, th_utc(y, mo, d, 1, 0, 0));
    }

    /* October repeated hour: first occurrence (+02:00) and AMBIGUOUS. */
    static const int oct[][3] = { { 2025, 10, 26 },
                                  { 2026, 10, 25 },
                                  { 2027, 10, 31 } };
    for (size_t i = 0; i < 3; i++) {
        int y = oct[i][0], mo = oct[i][1], d = oct[i][2];
        c = civil(y, mo, d, 2, 30, 0);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_AMBIGUOUS);
        assert_int_equal(t, th_utc(y, mo, d, 0, 30, 0));
        c = civil(y, mo, d, 2, 0, 0);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_AMBIGUOUS);
        assert_int_equal(t, th_utc(y, mo, d, 0, 0, 0));
        c = civil(y, mo, d, 2, 59, 59);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_AMBIGUOUS);
        assert_int_equal(t, th_utc(y, mo, d, 0, 59, 59));
        c = civil(y, mo, d, 1, 59, 59);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
        assert_int_equal(t, th_utc(y, mo, d - 1, 23, 59, 59));
        c = civil(y, mo, d, 3, 0, 0);
        assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
        assert_int_equal(t, th_utc(y, mo, d, 2, 0, 0));
    }
}

static void test_from_local_invalid(void **state)
{
    static const struct clock_civil bad[] = {
        { 2026, 0, 1, 0, 0, 0 },  { 2026, 13, 1, 0, 0, 0 },
        { 2026, 4, 31, 0, 0, 0 }, { 2026, 2, 29, 0, 0, 0 },
        { 2026, 1, 0, 0, 0, 0 },  { 2026, 1, 32, 0, 0, 0 },
        { 2026, 1, 1, 24, 0, 0 }, { 2026, 1, 1, -1, 0, 0 },
        { 2026, 1, 1, 0, 60, 0 }, { 2026, 1, 1, 0, 0, 60 },
        { 2026, 1, 1, 0, 0, -1 }, { -1, 1, 1, 0, 0, 0 },
        { 10000, 1, 1, 0, 0, 0 }, { 2100, 2, 29, 0, 0, 0 },
    };
    struct clock_civil ok = { 2024, 2, 29, 23, 59, 59 };
    int64_t t = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(clock_from_local(&bad[i], &t), CLOCK_INVALID);
        assert_int_equal(t, 42);
    }
    assert_int_equal(clock_from_local(NULL, &t), CLOCK_INVALID);
    assert_int_equal(clock_from_local(&ok, &t), CLOCK_OK);
    assert_int_equal(t, th_utc(2024, 2, 29, 22, 59, 59));
}

/* Every 5 minutes of the switch days: local -> UTC -> local round trip. */
static void test_round_trip_switch_days(void **state)
{
    static const int days[][3] = {
        { 2026, 3, 29 }, { 2026, 10, 25 }, { 2027, 3, 28 }, { 2027, 10, 31 }
    };

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        int64_t from =
            th_utc(days[i][0], days[i][1], days[i][2], 0, 0, 0) - 3 * 3600;
        for (int64_t t = from; t < from + 30 * 3600; t += 300) {
            struct clock_civil c;
            int off;
            int64_t back = -1;
            enum clock_local_result r;

            clock_to_local(t, &c, &off);
            r = clock_from_local(&c, &back);
            if (r == CLOCK_AMBIGUOUS && off == 3600) {
                /* second pass through the repeated hour: maps to first */
                assert_int_equal(back, t - 3600);
            } else {
                assert_true(r == CLOCK_OK || r == CLOCK_AMBIGUOUS);
                assert_int_equal(back, t);
            }
            /* The wall clock is UTC + offset, whatever the day. */
            assert_int_equal(clock_local_day(t), (t + off) / 86400);
        }
    }
}

static void test_local_day_midnight(void **state)
{
    (void)state;
    /* Winter: local midnight is 23:00 UTC the day before. */
    assert_int_equal(clock_local_day(th_utc(2026, 1, 15, 22, 59, 59)),
                     th_dayn(2026, 1, 15));
    assert_int_equal(clock_local_day(th_utc(2026, 1, 15, 23, 0, 0)),
                     th_dayn(2026, 1, 16));
    assert_int_equal(clock_local_day(th_utc(2026, 1, 15, 23, 30, 0)),
                     th_dayn(2026, 1, 16));
    /* Summer: 22:00 UTC. */
    assert_int_equal(clock_local_day(th_utc(2026, 7, 15, 21, 59, 59)),
                     th_dayn(2026, 7, 15));
    assert_int_equal(clock_local_day(th_utc(2026, 7, 15, 22, 0, 0)),
                     th_dayn(2026, 7, 16));
    /* Before 1970: floor, not truncation. */
    assert_int_equal(clock_local_day(th_utc(1969, 12, 31, 22, 0, 0)), -1);
    assert_int_equal(clock_local_day(th_utc(1969, 12, 31, 23, 0, 0)), 0);

    assert_int_equal(clock_day_start(th_dayn(2026, 1, 16)),
                     th_utc(2026, 1, 15, 23, 0, 0));
    assert_int_equal(clock_day_start(th_dayn(2026, 7, 16)),
                     th_utc(2026, 7, 15, 22, 0, 0));
    /* Switch days are 23 and 25 hours long. */
    assert_int_equal(clock_day_start(th_dayn(2026, 3, 29)),
                     th_utc(2026, 3, 28, 23, 0, 0));
    assert_int_equal(clock_day_start(th_dayn(2026, 3, 30)),
                     th_utc(2026, 3, 29, 22, 0, 0));
    assert_int_equal(clock_day_start(th_dayn(2026, 10, 25)),
                     th_utc(2026, 10, 24, 22, 0, 0));
    assert_int_equal(clock_day_start(th_dayn(2026, 10, 26)),
                     th_utc(2026, 10, 25, 23, 0, 0));
    assert_int_equal(clock_day_start(th_dayn(2026, 3, 30)) -
                         clock_day_start(th_dayn(2026, 3, 29)),
                     23 * 3600);
    assert_int_equal(clock_day_start(th_dayn(2026, 10, 26)) -
                         clock_day_start(th_dayn(2026, 10, 25)),
                     25 * 3600);
}

/* Absurd instants must not crash or overflow (UBSan build). */
static void test_extremes(void **state)
{
    struct clock_civil c;
    char buf[CLOCK_RFC3339_LEN];
    int off;

    (void)state;
    clock_to_local(INT64_MAX, &c, &off);
    clock_to_local(INT64_MIN, &c, &off);
    (void)clock_offset_at(INT64_MAX);
    (void)clock_local_day(INT64_MIN);
    (void)clock_day_start(INT32_MAX);
    (void)clock_day_start(INT32_MIN);
    assert_true(clock_format_rfc3339(INT64_MAX, buf) < CLOCK_RFC3339_LEN);
    assert_int_equal(strlen(buf), clock_format_rfc3339(INT64_MAX, buf));
    (void)clock_is_working_day(INT32_MAX);
    (void)clock_is_working_day(INT32_MIN);
}

/*
 * Property: for every hour 2000..2037 (and the second before each hour,
 * which catches the 01:00 UTC switch instants), clock.c agrees with glibc's
 * localtime_r using the installed tzdata.
 */
static void test_vs_glibc_tzdata(void **state)
{
    const char *zone = "/usr/share/zoneinfo/" CLOCK_TZ_NAME;
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    int64_t from = th_utc(2000, 1, 1, 0, 0, 0);
    int64_t to = th_utc(2038, 1, 1, 0, 0, 0);
    long checked = 0;

    (void)state;
    if (access(zone, R_OK) != 0) {
        free(old);
        th_skip("/usr/share/zoneinfo/" CLOCK_TZ_NAME " missing; cannot "
                "cross-check with tzdata");
    }
    setenv("TZ", CLOCK_TZ_NAME, 1);
    tzset();
    for (int64_t h = from; h < to; h += 3600) {
        for (int k = 0; k < 2; k++) {
            int64_t t = h - k;
            time_t tt = (time_t)t;
            struct tm tm;
            struct clock_civil c;
            int off;
            int64_t back;

            assert_non_null(localtime_r(&tt, &tm));
            clock_to_local(t, &c, &off);
            assert_int_equal(off, tm.tm_gmtoff);
            assert_int_equal(clock_offset_at(t), tm.tm_gmtoff);
            assert_civil(&c, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
            assert_int_equal(clock_local_day(t),
                             th_dayn(tm.tm_year + 1900, tm.tm_mon + 1,
                                     tm.tm_mday));
            if (clock_from_local(&c, &back) == CLOCK_OK)
                assert_int_equal(back, t);
            checked++;
        }
    }
    if (old)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
    assert_true(checked > 2 * 38L * 365 * 24);
}

/* --- formatting and parsing ----------------------------------------------- */

static void test_format(void **state)
{
    char b[CLOCK_RFC3339_LEN], d[CLOCK_DATE_LEN], r[9], hm[6];

    (void)state;
    assert_int_equal(clock_format_rfc3339(th_utc(2026, 3, 31, 8, 0, 0), b), 25);
    assert_string_equal(b, "2026-03-31T10:00:00+02:00");
    clock_format_rfc3339(th_utc(2026, 1, 15, 23, 30, 5), b);
    assert_string_equal(b, "2026-01-16T00:30:05+01:00");
    clock_format_rfc3339(th_utc(2026, 10, 25, 0, 30, 0), b);
    assert_string_equal(b, "2026-10-25T02:30:00+02:00");
    clock_format_rfc3339(th_utc(2026, 10, 25, 1, 30, 0), b);
    assert_string_equal(b, "2026-10-25T02:30:00+01:00");

    assert_int_equal(clock_format_date(th_dayn(2026, 3, 1), d), 10);
    assert_string_equal(d, "2026-03-01");
    assert_int_equal(clock_format_riv_date(th_dayn(2026, 12, 31), r), 8);
    assert_string_equal(r, "20261231");
    assert_int_equal(clock_format_hhmm(th_utc(2026, 7, 1, 6, 5, 59), hm), 5);
    assert_string_equal(hm, "08:05");
    clock_format_hhmm(th_utc(2026, 1, 1, 6, 5, 0), hm);
    assert_string_equal(hm, "07:05");
}

static void test_parse_rfc3339_valid(void **state)
{
    static const struct {
        const char *s;
        int y, mo, d, h, mi, sec; /* expected UTC */
    } ok[] = {
        { "2026-03-31T10:00:00+02:00", 2026, 3, 31, 8, 0, 0 },
        { "2026-03-31T08:00:00Z", 2026, 3, 31, 8, 0, 0 },
        { "2026-03-31t08:00:00z", 2026, 3, 31, 8, 0, 0 },
        { "2026-03-31T08:00:00.5Z", 2026, 3, 31, 8, 0, 0 },
        { "2026-03-31T08:00:59.999999999+00:00", 2026, 3, 31, 8, 0, 59 },
        { "2026-03-31T08:00:00-00:00", 2026, 3, 31, 8, 0, 0 },
        { "2026-01-15T18:30:00-05:30", 2026, 1, 16, 0, 0, 0 },
        { "2026-01-01T00:30:00+01:00", 2025, 12, 31, 23, 30, 0 },
        { "2024-02-29T23:59:59+23:59", 2024, 2, 29, 0, 0, 59 },
        { "1969-12-31T23:59:59Z", 1969, 12, 31, 23, 59, 59 },
    };
    int64_t t;

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        t = -42;
        assert_int_equal(clock_parse_rfc3339(ok[i].s, &t), 0);
        assert_int_equal(t, th_utc(ok[i].y, ok[i].mo, ok[i].d, ok[i].h,
                                   ok[i].mi, ok[i].sec));
    }
    /* format -> parse is the identity on whole seconds */
    for (int64_t x = th_utc(2026, 10, 24, 20, 0, 0);
         x < th_utc(2026, 10, 25, 4, 0, 0); x += 599) {
        char b[CLOCK_RFC3339_LEN];
        clock_format_rfc3339(x, b);
        assert_int_equal(clock_parse_rfc3339(b, &t), 0);
        assert_int_equal(t, x);
    }
}

static void test_parse_rfc3339_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "2026-03-31",
        "2026-03-31T10:00:00",  /* offset required */
        "2026-03-31 10:00:00Z", /* space separator */
        " 2026-03-31T10:00:00Z",
        "2026-03-31T10:00:00Z ", /* trailing junk */
        "2026-03-31T10:00:00Zx",
        "2026-03-31T10:00:00+02:00x",
        "2026-03-31T10:00:00+02:00Z",
        "2026-03-31T10:00:00+0200",
        "2026-03-31T10:00:00+02",
        "2026-03-31T10:00:00+2:00",
        "2026-03-31T10:00:00+24:00",
        "2026-03-31T10:00:00+02:60",
        "2026-03-31T10:00:00.Z", /* empty fraction */
        "2026-03-31T10:00:00,5Z",
        "2026-03-31T10:00Z", /* seconds required */
        "2026-3-31T10:00:00Z",
        "2026-03-1T10:00:00Z",
        "26-03-31T10:00:00Z",
        "20a6-03-31T10:00:00Z",
        "2026/03/31T10:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-00-01T10:00:00Z",
        "2026-02-29T10:00:00Z",
        "2026-04-31T10:00:00Z",
        "2026-03-32T10:00:00Z",
        "2026-03-00T10:00:00Z",
        "2026-03-31T24:00:00Z",
        "2026-03-31T10:60:00Z",
        "2026-03-31T10:00:60Z",
        "2026-03-31T-1:00:00Z",
        "+2026-03-31T10:00:00Z",
        "2026-03-31T10:00:00+02:00\n",
        "garbage",
    };
    int64_t t = 42;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (clock_parse_rfc3339(bad[i], &t) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(t, 42);
    }
    assert_int_equal(clock_parse_rfc3339(NULL, &t), -1);
}

static void test_parse_dates(void **state)
{
    int32_t d = 42;
    static const char *bad_iso[] = { "2026-02-29",  "2026-13-01",  "2026-1-01",
                                     "20260301",    "2026-03-01x", "",
                                     "2026-03-01 ", "2026-03-00" };
    static const char *bad_riv[] = { "2026033",  "202603311", "2026-03-31",
                                     "20261301", "20260230",  "2026033a",
                                     "",         " 20260331", "20260331 ",
                                     "20260300" };

    (void)state;
    assert_int_equal(clock_parse_date("2026-03-31", &d), 0);
    assert_int_equal(d, th_dayn(2026, 3, 31));
    assert_int_equal(clock_parse_date("2024-02-29", &d), 0);
    assert_int_equal(d, th_dayn(2024, 2, 29));
    assert_int_equal(clock_parse_riv_date("20261231", &d), 0);
    assert_int_equal(d, th_dayn(2026, 12, 31));
    d = 42;
    for (size_t i = 0; i < sizeof(bad_iso) / sizeof(bad_iso[0]); i++) {
        if (clock_parse_date(bad_iso[i], &d) != -1)
            fail_msg("accepted date \"%s\"", bad_iso[i]);
    }
    for (size_t i = 0; i < sizeof(bad_riv) / sizeof(bad_riv[0]); i++) {
        if (clock_parse_riv_date(bad_riv[i], &d) != -1)
            fail_msg("accepted RIV DT \"%s\"", bad_riv[i]);
    }
    assert_int_equal(d, 42);
    assert_int_equal(clock_parse_date(NULL, &d), -1);
    assert_int_equal(clock_parse_riv_date(NULL, &d), -1);
}

static void test_parse_riv_ts(void **state)
{
    static const char *bad[] = {
        "2026033110000",  "202603311000000", "2026-03-31T1000",
        "2026033110000a", "20260331240000",  "20260331106000",
        "20260331100060", "20260230100000",  "",
        "20260331100000 "
    };
    int64_t t = 42;

    (void)state;
    assert_int_equal(clock_parse_riv_ts("20260331100000", &t), CLOCK_OK);
    assert_int_equal(t, th_utc(2026, 3, 31, 8, 0, 0));
    assert_int_equal(clock_parse_riv_ts("20260115083000", &t), CLOCK_OK);
    assert_int_equal(t, th_utc(2026, 1, 15, 7, 30, 0));
    assert_int_equal(clock_parse_riv_ts("20261025023000", &t), CLOCK_AMBIGUOUS);
    assert_int_equal(t, th_utc(2026, 10, 25, 0, 30, 0));
    t = 42;
    assert_true(clock_parse_riv_ts("20260329023000", &t) < 0);
    assert_int_equal(t, 42);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (clock_parse_riv_ts(bad[i], &t) >= 0)
            fail_msg("accepted RIV TS \"%s\"", bad[i]);
    }
    assert_int_equal(t, 42);
    assert_true(clock_parse_riv_ts(NULL, &t) < 0);
}

/*
 * clock_parse_riv_ts caches the offsets of recent local days without a
 * switch (direct mapped): it must agree with clock_from_local for every
 * hour of three years (switch days included), in day order, hopping
 * between days, and between days that share a cache entry, and a cached
 * day must not let a bad stamp through.
 */
static void check_riv_ts(int y, int m, int d, int hh, int mm, int ss)
{
    struct clock_civil c = { y, m, d, hh, mm, ss };
    char s[32];
    int64_t want = -1, got = -1;
    int wrc, grc;

    snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02d", y, m, d, hh, mm, ss);
    wrc = clock_from_local(&c, &want);
    grc = clock_parse_riv_ts(s, &got);
    if (wrc != grc || (wrc >= 0 && want != got))
        fail_msg("%s: rc %d t %lld, want rc %d t %lld", s, grc, (long long)got,
                 wrc, (long long)want);
}

static void test_parse_riv_ts_cache(void **state)
{
    static const int mins[] = { 0, 1, 30, 59 };
    int32_t day, first = clock_days_from_civil(2025, 1, 1);
    int32_t last = clock_days_from_civil(2027, 12, 31);
    int y, m, d;
    int64_t t = 42;

    (void)state;
    for (day = first; day <= last; day++) {
        clock_civil_from_days(day, &y, &m, &d);
        for (int hh = 0; hh < 24; hh++)
            for (size_t k = 0; k < 4; k++)
                check_riv_ts(y, m, d, hh, mins[k], mins[k] % 60);
    }
    /* hopping: each stamp on another day than the last */
    for (day = first; day <= last; day += 37) {
        clock_civil_from_days(day, &y, &m, &d);
        check_riv_ts(y, m, d, 2, 30, 0);
        check_riv_ts(2026, 3, 29, 2, 30, 0); /* skipped hour */
        check_riv_ts(y, m, d, 23, 59, 59);
        check_riv_ts(2026, 10, 25, 2, 30, 0); /* repeated hour */
    }
    /* Runs of days as practitioners come one after another, and pairs
     * that share an entry with a switch day (29 + 3 = 28 + 4, 25 + 10 =
     * 24 + 11): each stamp must be its own day's. */
    for (int rep = 0; rep < 3; rep++) {
        for (int k = 0; k < 40; k++) {
            clock_civil_from_days(clock_days_from_civil(2026, 3, 20) + k, &y,
                                  &m, &d);
            check_riv_ts(y, m, d, 9 + rep, 15, 0);
        }
        check_riv_ts(2026, 4, 28, 2, 30, 0);
        check_riv_ts(2026, 3, 29, 2, 30, 0);
        check_riv_ts(2026, 4, 28, 3, 30, 0);
        check_riv_ts(2026, 3, 29, 3, 30, 0);
        check_riv_ts(2026, 11, 24, 2, 30, 0);
        check_riv_ts(2026, 10, 25, 2, 30, 0);
        check_riv_ts(2026, 11, 24, 2, 30, 0);
        check_riv_ts(2026, 10, 25, 3, 30, 0);
    }
    /* a cached day does not excuse a bad time, nor another bad date */
    assert_int_equal(clock_parse_riv_ts("20260415100000", &t), CLOCK_OK);
    t = 42;
    assert_true(clock_parse_riv_ts("20260415240000", &t) < 0);
    assert_true(clock_parse_riv_ts("20260415106000", &t) < 0);
    assert_true(clock_parse_riv_ts("20260415100060", &t) < 0);
    assert_true(clock_parse_riv_ts("20260431100000", &t) < 0);
    assert_true(clock_parse_riv_ts("00000000000000", &t) < 0);
    assert_true(clock_parse_riv_ts("20260400100000", &t) < 0);
    assert_int_equal(t, 42);
}

/* --- holidays --------------------------------------------------------------- */

static void test_easter(void **state)
{
    static const int e[][3] = {
        { 2024, 3, 31 },
        { 2025, 4, 20 },
        { 2026, 4, 5 },
        { 2027, 3, 28 },
        { 2028, 4, 16 },
        { 2029, 4, 1 },
        { 2030, 4, 21 },
        /* extremes of the range: 2285-03-22, 1943-04-25, 2038-04-25 */
        { 2285, 3, 22 },
        { 1943, 4, 25 },
        { 2038, 4, 25 },
        { 2000, 4, 23 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(e) / sizeof(e[0]); i++)
        assert_int_equal(clock_easter(e[i][0]),
                         th_dayn(e[i][0], e[i][1], e[i][2]));
    /* Always a Sunday between 22 March and 25 April. */
    for (int y = 1900; y <= 2200; y++) {
        int32_t d = clock_easter(y);
        assert_int_equal(clock_weekday(d), 7);
        assert_true(d >= th_dayn(y, 3, 22) && d <= th_dayn(y, 4, 25));
    }
}

struct ymd {
    int m, d;
};

/*
 * The complete holiday set of a year: every day is a public holiday iff it
 * is a Sunday or listed, a closed eve iff listed, a working day iff
 * Monday-Friday and neither.
 */
static void check_year(int y, const struct ymd *hol, size_t nhol,
                       const struct ymd *eve, size_t neve)
{
    for (int32_t day = th_dayn(y, 1, 1); day <= th_dayn(y, 12, 31); day++) {
        bool h = false, e = false, weekend;
        struct tm tm;
        time_t tt = (time_t)day * 86400;

        gmtime_r(&tt, &tm);
        for (size_t i = 0; i < nhol; i++)
            if (hol[i].m == tm.tm_mon + 1 && hol[i].d == tm.tm_mday)
                h = true;
        for (size_t i = 0; i < neve; i++)
            if (eve[i].m == tm.tm_mon + 1 && eve[i].d == tm.tm_mday)
                e = true;
        weekend = tm.tm_wday == 0 || tm.tm_wday == 6;
        if (tm.tm_wday == 0)
            h = true;
        if (clock_is_public_holiday(day) != h ||
            clock_is_closed_eve(day) != e ||
            clock_is_working_day(day) != (!weekend && !h && !e))
            fail_msg("%d-%02d-%02d: holiday %d/%d eve %d/%d", y, tm.tm_mon + 1,
                     tm.tm_mday, clock_is_public_holiday(day), h,
                     clock_is_closed_eve(day), e);
    }
}

static void test_holidays_2025(void **state)
{
    static const struct ymd hol[] = {
        { 1, 1 },  { 1, 6 },   { 4, 18 },  { 4, 20 }, { 4, 21 },
        { 5, 1 },  { 5, 29 },  { 6, 6 },   { 6, 8 },  { 6, 21 },
        { 11, 1 }, { 12, 25 }, { 12, 26 },
    };
    static const struct ymd eve[] = { { 6, 20 }, { 12, 24 }, { 12, 31 } };

    (void)state;
    check_year(2025, hol, sizeof(hol) / sizeof(hol[0]), eve, 3);
}

static void test_holidays_2026(void **state)
{
    static const struct ymd hol[] = {
        { 1, 1 },   { 1, 6 },   { 4, 3 },   { 4, 5 }, { 4, 6 },
        { 5, 1 },   { 5, 14 },  { 5, 24 },  { 6, 6 }, { 6, 20 },
        { 10, 31 }, { 12, 25 }, { 12, 26 },
    };
    static const struct ymd eve[] = { { 6, 19 }, { 12, 24 }, { 12, 31 } };

    (void)state;
    check_year(2026, hol, sizeof(hol) / sizeof(hol[0]), eve, 3);
}

static void test_holidays_2027(void **state)
{
    /* Midsommardagen on the 26th and alla helgons dag on 6 November: the
     * late ends of their windows. */
    static const struct ymd hol[] = {
        { 1, 1 },  { 1, 6 },   { 3, 26 },  { 3, 28 }, { 3, 29 },
        { 5, 1 },  { 5, 6 },   { 5, 16 },  { 6, 6 },  { 6, 26 },
        { 11, 6 }, { 12, 25 }, { 12, 26 },
    };
    static const struct ymd eve[] = { { 6, 25 }, { 12, 24 }, { 12, 31 } };

    (void)state;
    check_year(2027, hol, sizeof(hol) / sizeof(hol[0]), eve, 3);
}

static void test_working_days(void **state)
{
    (void)state;
    /* Easter 2026: skärtorsdagen works, Fri-Mon closed, Tuesday works. */
    assert_true(clock_is_working_day(th_dayn(2026, 4, 2)));
    assert_false(clock_is_working_day(th_dayn(2026, 4, 3)));
    assert_false(clock_is_working_day(th_dayn(2026, 4, 4)));
    assert_false(clock_is_public_holiday(th_dayn(2026, 4, 4))); /* påskafton */
    assert_false(clock_is_working_day(th_dayn(2026, 4, 5)));
    assert_false(clock_is_working_day(th_dayn(2026, 4, 6)));
    assert_true(clock_is_working_day(th_dayn(2026, 4, 7)));
    /* Annandag pingst is no holiday since 2005. */
    assert_true(clock_is_working_day(th_dayn(2026, 5, 25)));
    /* Midsommar 2026. */
    assert_true(clock_is_working_day(th_dayn(2026, 6, 18)));
    assert_false(clock_is_working_day(th_dayn(2026, 6, 19)));
    assert_true(clock_is_closed_eve(th_dayn(2026, 6, 19)));
    assert_false(clock_is_public_holiday(th_dayn(2026, 6, 19)));
    assert_true(clock_is_working_day(th_dayn(2026, 6, 22)));
    /* Christmas and new year 2026/27. */
    assert_true(clock_is_working_day(th_dayn(2026, 12, 23)));
    assert_false(clock_is_working_day(th_dayn(2026, 12, 24)));
    assert_false(clock_is_working_day(th_dayn(2026, 12, 25)));
    assert_true(clock_is_working_day(th_dayn(2026, 12, 28)));
    assert_true(clock_is_working_day(th_dayn(2026, 12, 30)));
    assert_false(clock_is_working_day(th_dayn(2026, 12, 31)));
    assert_false(clock_is_working_day(th_dayn(2027, 1, 1)));
    assert_true(clock_is_working_day(th_dayn(2027, 1, 4)));
    /* trettondagsafton */
    assert_true(clock_is_working_day(th_dayn(2027, 1, 5)));
    assert_false(clock_is_working_day(th_dayn(2027, 1, 6)));
    /* Nationaldagen on a weekday (2025: Friday). */
    assert_false(clock_is_working_day(th_dayn(2025, 6, 6)));
    assert_true(clock_is_working_day(th_dayn(2025, 6, 5)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_now),
        cmocka_unit_test(test_days_known),
        cmocka_unit_test(test_days_vs_gmtime),
        cmocka_unit_test(test_offset_switches),
        cmocka_unit_test(test_to_local_switch_days),
        cmocka_unit_test(test_from_local),
        cmocka_unit_test(test_from_local_invalid),
        cmocka_unit_test(test_round_trip_switch_days),
        cmocka_unit_test(test_local_day_midnight),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_vs_glibc_tzdata),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_rfc3339_valid),
        cmocka_unit_test(test_parse_rfc3339_invalid),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_parse_riv_ts),
        cmocka_unit_test(test_parse_riv_ts_cache),
        cmocka_unit_test(test_easter),
        cmocka_unit_test(test_holidays_2025),
        cmocka_unit_test(test_holidays_2026),
        cmocka_unit_test(test_holidays_2027),
        cmocka_unit_test(test_working_days),
    };
    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
