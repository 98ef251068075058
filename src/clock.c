/*
 * clock.c - injectable now, Europe/Stockholm <-> UTC, date arithmetic and
 * the Swedish holiday calendar.
 *
 * Pure by design: no TZ variable, no tzdata, no localtime(). The EU rule
 * (CEST from the last Sunday of March 01:00 UTC to the last Sunday of
 * October 01:00 UTC, CET otherwise) is computed here, so every machine and
 * every test gets the same answers. The rule is applied to all years,
 * including those before it existed (Sweden used other rules before 1996);
 * slotfeed only deals with the present and near future.
 *
 * Civil <-> day-number conversion works on 400-year eras counted from
 * 0000-03-01, so that the leap day is the last day of its "year" and the
 * month lengths from March on follow a 153-days-per-5-months pattern.
 * All intermediate arithmetic is int64_t so no input can overflow.
 */
#include "slotfeed/clock.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define SECS_PER_DAY 86400
#define CET_OFFSET 3600
#define CEST_OFFSET 7200
/*
 * Instants are clamped to +-1e14 s (about +-3 million years) before any
 * arithmetic: far beyond any real use, but it keeps t + offset, the year
 * and the day number inside their types for any int64_t a caller passes.
 */
#define T_LIMIT INT64_C(100000000000000)

/* Days from 0000-03-01 to 1970-01-01. */
#define EPOCH_SHIFT INT64_C(719468)
#define DAYS_PER_ERA INT64_C(146097)

/* --- injectable now ----------------------------------------------------- */

/* -1 = real time. Atomic so a test thread or signal path sees whole values. */
static _Atomic int64_t fake_now = -1;

int64_t clock_now(void)
{
    int64_t f = atomic_load(&fake_now);
    struct timespec ts;

    if (f >= 0)
        return f;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (int64_t)time(NULL);
    return (int64_t)ts.tv_sec;
}

void clock_set_fake(int64_t t)
{
    atomic_store(&fake_now, t < 0 ? -1 : t);
}

int64_t clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

/* --- calendar arithmetic ------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t days_from_civil64(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, mp, doy, doe;

    /* Count years from March so February (and its leap day) comes last. */
    if (m <= 2)
        y--;
    era = floor_div(y, 400);
    yoe = y - era * 400;              /* 0..399 */
    mp = m > 2 ? m - 3 : m + 9;       /* March = 0 ... February = 11 */
    doy = (153 * mp + 2) / 5 + d - 1; /* day of the March-based year */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * DAYS_PER_ERA + doe - EPOCH_SHIFT;
}

static void civil_from_days64(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += EPOCH_SHIFT;
    era = floor_div(z, DAYS_PER_ERA);
    doe = z - era * DAYS_PER_ERA; /* 0..146096 */
    /* Remove the leap days before doe to get whole 365-day years. */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

int32_t clock_days_from_civil(int year, int month, int day)
{
    return (int32_t)days_from_civil64(year, month, day);
}

void clock_civil_from_days(int32_t days, int *year, int *month, int *day)
{
    int64_t y;

    civil_from_days64(days, &y, month, day);
    *year = (int)y;
}

static int weekday64(int64_t day)
{
    /* 1970-01-01 was a Thursday (ISO 4). */
    int64_t r = (day % 7 + 7) % 7; /* 0 = Thursday */

    return (int)((r + 3) % 7) + 1;
}

int clock_weekday(int32_t day)
{
    return weekday64(day);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int clock_days_in_month(int year, int month)
{
    static const int len[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && is_leap(year))
        return 29;
    return len[month - 1];
}

/* --- Europe/Stockholm ---------------------------------------------------- */

/* Day number of the last Sunday of `month` (31-day months only). */
static int64_t last_sunday(int64_t year, int month)
{
    int64_t d31 = days_from_civil64(year, month, 31);

    return d31 - weekday64(d31) % 7; /* Sunday (7) -> itself */
}

static int64_t clamp_t(int64_t t)
{
    if (t > T_LIMIT)
        return T_LIMIT;
    if (t < -T_LIMIT)
        return -T_LIMIT;
    return t;
}

int clock_offset_at(int64_t t)
{
    int64_t y, start, end;
    int m, d;

    t = clamp_t(t);
    /* The switches are in March and October, so the UTC year is the one. */
    civil_from_days64(floor_div(t, SECS_PER_DAY), &y, &m, &d);
    start = last_sunday(y, 3) * SECS_PER_DAY + 3600;
    end = last_sunday(y, 10) * SECS_PER_DAY + 3600;
    return (t >= start && t < end) ? CEST_OFFSET : CET_OFFSET;
}

void clock_to_local(int64_t t, struct clock_civil *out, int *offset_s)
{
    int off, m, d;
    int64_t local, day, sod, y;

    t = clamp_t(t);
    off = clock_offset_at(t);
    local = t + off;
    day = floor_div(local, SECS_PER_DAY);
    sod = local - day * SECS_PER_DAY;
    civil_from_days64(day, &y, &m, &d);
    out->year = (int)y;
    out->month = m;
    out->day = d;
    out->hour = (int)(sod / 3600);
    out->min = (int)(sod / 60 % 60);
    out->sec = (int)(sod % 60);
    if (offset_s != NULL)
        *offset_s = off;
}

int32_t clock_local_day(int64_t t)
{
    t = clamp_t(t);
    return (int32_t)floor_div(t + clock_offset_at(t), SECS_PER_DAY);
}

/*
 * Instant of local seconds-since-epoch `local` (the wall clock read as if
 * it were UTC). A wall time maps to UTC with one of the two offsets; each
 * candidate is valid when that offset is really in force at it.
 */
static enum clock_local_result local_to_instant(int64_t local, int64_t *out)
{
    int64_t summer = local - CEST_OFFSET, winter = local - CET_OFFSET;
    bool s_ok = clock_offset_at(summer) == CEST_OFFSET;
    bool w_ok = clock_offset_at(winter) == CET_OFFSET;

    if (s_ok && w_ok) {
        *out = summer; /* repeated hour: earlier instant */
        return CLOCK_AMBIGUOUS;
    }
    if (s_ok) {
        *out = summer;
        return CLOCK_OK;
    }
    if (w_ok) {
        *out = winter;
        return CLOCK_OK;
    }
    return CLOCK_NONEXISTENT; /* skipped hour */
}

static bool civil_valid(const struct clock_civil *lt)
{
    /* Years limited to what RFC 3339 and RIV can write (4 digits). */
    if (lt->year < 0 || lt->year > 9999)
        return false;
    if (lt->month < 1 || lt->month > 12)
        return false;
    if (lt->day < 1 || lt->day > clock_days_in_month(lt->year, lt->month))
        return false;
    /* No leap second: neither RIV nor our feeds carry one. */
    return lt->hour >= 0 && lt->hour <= 23 && lt->min >= 0 && lt->min <= 59 &&
           lt->sec >= 0 && lt->sec <= 59;
}

enum clock_local_result clock_from_local(const struct clock_civil *lt,
                                         int64_t *out)
{
    int64_t local;

    if (lt == NULL || !civil_valid(lt))
        return CLOCK_INVALID;
    local = days_from_civil64(lt->year, lt->month, lt->day) * SECS_PER_DAY +
            lt->hour * 3600 + lt->min * 60 + lt->sec;
    return local_to_instant(local, out);
}

int64_t clock_day_start(int32_t day)
{
    int64_t local = (int64_t)day * SECS_PER_DAY, t;

    /* Stockholm never switches at midnight; the fallback is for safety. */
    if (local_to_instant(local, &t) == CLOCK_NONEXISTENT)
        t = local - CET_OFFSET;
    return t;
}

/* --- formatting ---------------------------------------------------------- */

/* snprintf's result, clamped to what actually landed in the buffer. */
static size_t fmt_len(int n, size_t cap)
{
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t clock_format_rfc3339(int64_t t, char buf[CLOCK_RFC3339_LEN])
{
    struct clock_civil c;
    int off;

    clock_to_local(t, &c, &off);
    return fmt_len(snprintf(buf, CLOCK_RFC3339_LEN,
                            "%04d-%02d-%02dT%02d:%02d:%02d+%02d:00", c.year,
                            c.month, c.day, c.hour, c.min, c.sec, off / 3600),
                   CLOCK_RFC3339_LEN);
}

size_t clock_format_date(int32_t day, char buf[CLOCK_DATE_LEN])
{
    int y, m, d;

    clock_civil_from_days(day, &y, &m, &d);
    return fmt_len(snprintf(buf, CLOCK_DATE_LEN, "%04d-%02d-%02d", y, m, d),
                   CLOCK_DATE_LEN);
}

size_t clock_format_riv_date(int32_t day, char buf[9])
{
    int y, m, d;

    clock_civil_from_days(day, &y, &m, &d);
    return fmt_len(snprintf(buf, 9, "%04d%02d%02d", y, m, d), 9);
}

size_t clock_format_hhmm(int64_t t, char buf[6])
{
    struct clock_civil c;

    clock_to_local(t, &c, NULL);
    return fmt_len(snprintf(buf, 6, "%02d:%02d", c.hour, c.min), 6);
}

/* --- parsing ------------------------------------------------------------- */

/* Exactly n ASCII digits at *p (locale-independent); advances *p. */
static bool take_digits(const char **p, int n, int *val)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *val = v;
    return true;
}

static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* "YYYY-MM-DD" into c's date fields; advances *p. */
static bool take_date(const char **p, struct clock_civil *c)
{
    return take_digits(p, 4, &c->year) && take_char(p, '-') &&
           take_digits(p, 2, &c->month) && take_char(p, '-') &&
           take_digits(p, 2, &c->day);
}

int clock_parse_rfc3339(const char *s, int64_t *out)
{
    struct clock_civil c = { 0 };
    const char *p = s;
    int off = 0, oh, om;
    int64_t local;

    if (s == NULL)
        return -1;
    if (!take_date(&p, &c))
        return -1;
    /* RFC 3339 5.6: the separator "T" may be written in lower case. */
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (!take_digits(&p, 2, &c.hour) || !take_char(&p, ':') ||
        !take_digits(&p, 2, &c.min) || !take_char(&p, ':') ||
        !take_digits(&p, 2, &c.sec))
        return -1;
    if (take_char(&p, '.')) {
        /* Fraction: at least one digit, then dropped (we work in seconds). */
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!take_digits(&p, 2, &oh) || !take_char(&p, ':') ||
            !take_digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1; /* offset is required */
    }
    if (*p != '\0' || !civil_valid(&c))
        return -1;
    local = days_from_civil64(c.year, c.month, c.day) * SECS_PER_DAY +
            c.hour * 3600 + c.min * 60 + c.sec;
    *out = local - off;
    return 0;
}

static int finish_date(const struct clock_civil *c, const char *p, int32_t *day)
{
    if (*p != '\0' || c->month < 1 || c->month > 12 || c->day < 1 ||
        c->day > clock_days_in_month(c->year, c->month))
        return -1;
    *day = clock_days_from_civil(c->year, c->month, c->day);
    return 0;
}

int clock_parse_date(const char *s, int32_t *day)
{
    struct clock_civil c = { 0 };
    const char *p = s;

    if (s == NULL || !take_date(&p, &c))
        return -1;
    return finish_date(&c, p, day);
}

int clock_parse_riv_date(const char *s, int32_t *day)
{
    struct clock_civil c = { 0 };
    const char *p = s;

    if (s == NULL || !take_digits(&p, 4, &c.year) ||
        !take_digits(&p, 2, &c.month) || !take_digits(&p, 2, &c.day))
        return -1;
    return finish_date(&c, p, day);
}

/*
 * Local days clock_parse_riv_ts saw lately, each while the offset is the
 * same all through it: a poll's timestamps are a few hundred over a few
 * weeks, one practitioner's run of days after another's, and the two
 * offset look-ups per new day were ~3 % of a parse. Direct mapped by
 * (day + month) % RIV_DAYS; per thread, so readers on other threads need
 * no lock.
 */
#define RIV_DAYS 16

struct riv_day_cache {
    bool valid;
    int year, month, day;
    int64_t start; /* local seconds at its midnight */
    int offset;    /* in force all day */
};
static _Thread_local struct riv_day_cache riv_days[RIV_DAYS];

/*
 * Fill e for local day y-m-d (a valid date); false, e unchanged, when a
 * switch falls in it: the offset differs at the two ends of a window of
 * instants holding the whole day under either offset (switches are months
 * apart).
 */
static bool riv_day_fill(struct riv_day_cache *e, int y, int m, int d)
{
    int64_t start = days_from_civil64(y, m, d) * SECS_PER_DAY;
    int first = clock_offset_at(start - CEST_OFFSET);

    if (first != clock_offset_at(start + SECS_PER_DAY - CET_OFFSET))
        return false;
    e->start = start;
    e->offset = first;
    e->year = y;
    e->month = m;
    e->day = d;
    e->valid = true;
    return true;
}

int clock_parse_riv_ts(const char *s, int64_t *out)
{
    struct clock_civil c = { 0 };
    struct riv_day_cache *e;
    const char *p = s;

    if (s == NULL || !take_digits(&p, 4, &c.year) ||
        !take_digits(&p, 2, &c.month) || !take_digits(&p, 2, &c.day) ||
        !take_digits(&p, 2, &c.hour) || !take_digits(&p, 2, &c.min) ||
        !take_digits(&p, 2, &c.sec) || *p != '\0')
        return CLOCK_INVALID;
    e = &riv_days[(unsigned)(c.day + c.month) % RIV_DAYS];
    if (!e->valid || e->day != c.day || e->month != c.month ||
        e->year != c.year) {
        /* Only valid dates are cached: a hit is one. */
        if (!civil_valid(&c))
            return CLOCK_INVALID;
        if (!riv_day_fill(e, c.year, c.month, c.day))
            return clock_from_local(&c, out); /* a switch day: full rules */
    }
    if (c.hour > 23 || c.min > 59 || c.sec > 59)
        return CLOCK_INVALID;
    *out = e->start + c.hour * 3600 + c.min * 60 + c.sec - e->offset;
    return CLOCK_OK;
}

/* --- Swedish holidays ----------------------------------------------------- */

static int64_t easter64(int year)
{
    /* Anonymous Gregorian algorithm (Meeus/Jones/Butcher). */
    int a = year % 19, b = year / 100, c = year % 100;
    int d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30; /* epact-related */
    int i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7; /* to the Sunday */
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31;
    int day = (h + l - 7 * m + 114) % 31 + 1;

    return days_from_civil64(year, month, day);
}

int32_t clock_easter(int year)
{
    return (int32_t)easter64(year);
}

/* First day >= `from` with ISO weekday `wd`. */
static int64_t on_or_after(int64_t from, int wd)
{
    return from + (wd - weekday64(from) + 7) % 7;
}

/* int64_t, so that day numbers at the ends of int32_t cannot overflow. */
static int64_t midsommardagen(int year)
{
    return on_or_after(days_from_civil64(year, 6, 20), 6);
}

bool clock_is_public_holiday(int32_t day)
{
    int y, m, d;
    int64_t e;

    if (clock_weekday(day) == 7)
        return true;
    clock_civil_from_days(day, &y, &m, &d);
    if ((m == 1 && (d == 1 || d == 6)) || (m == 5 && d == 1) ||
        (m == 6 && d == 6) || (m == 12 && (d == 25 || d == 26)))
        return true;
    e = easter64(y);
    /* Långfredagen, annandag påsk, Kristi himmelsfärd (påskdagen and
     * pingstdagen are Sundays, caught above; listed for clarity). */
    if (day == e - 2 || day == e || day == e + 1 || day == e + 39 ||
        day == e + 49)
        return true;
    if (day == midsommardagen(y))
        return true;
    /* Alla helgons dag: the Saturday in 31 October - 6 November. */
    return day == on_or_after(days_from_civil64(y, 10, 31), 6);
}

bool clock_is_closed_eve(int32_t day)
{
    int y, m, d;

    clock_civil_from_days(day, &y, &m, &d);
    if (m == 12 && (d == 24 || d == 31))
        return true;
    return day == midsommardagen(y) - 1;
}

bool clock_is_working_day(int32_t day)
{
    return clock_weekday(day) <= 5 && !clock_is_public_holiday(day) &&
           !clock_is_closed_eve(day);
}

/* --- HTTP-date (clock.h) ------------------------------------------------- */

static const char *const wdays[7] = { "Mon", "Tue", "Wed", "Thu",
                                      "Fri", "Sat", "Sun" };
static const char *const months[12] = { "Jan", "Feb", "Mar", "Apr",
                                        "May", "Jun", "Jul", "Aug",
                                        "Sep", "Oct", "Nov", "Dec" };

void clock_format_http_date(int64_t t, char buf[CLOCK_HTTP_DATE_LEN])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t sec = t - days * 86400;
    int y, mo, d;

    clock_civil_from_days((int32_t)days, &y, &mo, &d);
    snprintf(buf, CLOCK_HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             wdays[clock_weekday((int32_t)days) - 1], d, months[mo - 1], y,
             (int)(sec / 3600), (int)(sec / 60 % 60), (int)(sec % 60));
}

/*
 * The three HTTP-date shapes of RFC 9110 §5.6.7, exactly ('a' a letter,
 * 'd' a digit, anything else itself; ' d' in asctime is a space or a
 * digit). sscanf or curl_getdate alone would take " 6", "+6", "-1",
 * moved spaces and much else (fuzz_http found "... 1994 -1:-1:-1 GMT"
 * accepted); RFC 9110 says an invalid date is to be ignored.
 */
static const char shape_imf[] = "aaa, dd aaa dddd dd:dd:dd GMT";
static const char shape_850[] = "dd-aaa-dd dd:dd:dd GMT"; /* after ", " */
static const char shape_asc[] = "aaa aaa Dd dd:dd:dd dddd";

static bool shape_is(const char *s, const char *shape)
{
    size_t i;

    for (i = 0; shape[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (shape[i] == 'd'   ? !isdigit(c)
            : shape[i] == 'a' ? !isalpha(c)
            : shape[i] == 'D' ? !(c == ' ' || isdigit(c))
                              : (char)c != shape[i])
            return false;
    }
    return s[i] == '\0';
}

static int two(const char *p)
{
    return (p[0] == ' ' ? 0 : p[0] - '0') * 10 + (p[1] - '0');
}

/* Index of the 3-letter name in names (case-sensitive, RFC 9110), or -1. */
static int name3(const char *p, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strncmp(p, names[i], 3) == 0)
            return i;
    return -1;
}

static const char *const wdays_long[7] = { "Monday",   "Tuesday", "Wednesday",
                                           "Thursday", "Friday",  "Saturday",
                                           "Sunday" };

int clock_parse_http_date(const char *s, int64_t *out)
{
    const char *f; /* "dd-Mmm-yy" or "dd Mmm yyyy": fields */
    int d, mo, y, h, mi, sec;
    char imf[30];
    time_t t;

    if (s == NULL)
        return -1;
    if (shape_is(s, shape_imf) && name3(s, wdays, 7) >= 0) {
        f = s + 5;
        d = two(f), mo = name3(f + 3, months, 12);
        y = two(f + 7) * 100 + two(f + 9);
        h = two(f + 12), mi = two(f + 15), sec = two(f + 18);
    } else if (shape_is(s, shape_asc) && name3(s, wdays, 7) >= 0) {
        mo = name3(s + 4, months, 12), d = two(s + 8);
        h = two(s + 11), mi = two(s + 14), sec = two(s + 17);
        y = two(s + 20) * 100 + two(s + 22);
        if (s[8] == '0')
            return -1; /* asctime pads the day with a space */
    } else {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        int wd;
        size_t wl;

        for (wd = 0; wd < 7; wd++) {
            wl = strlen(wdays_long[wd]);
            if (strncmp(s, wdays_long[wd], wl) == 0 && s[wl] == ',' &&
                s[wl + 1] == ' ')
                break;
        }
        if (wd == 7 || !shape_is(s + wl + 2, shape_850))
            return -1;
        f = s + wl + 2;
        d = two(f), mo = name3(f + 3, months, 12), y = two(f + 7);
        h = two(f + 10), mi = two(f + 13), sec = two(f + 16);
        /* RFC 9110: a two-digit year more than 50 years ahead is the most
         * recent past year with those digits. */
        {
            int cy, cm, cd;

            clock_civil_from_days((int32_t)(clock_now() / 86400), &cy, &cm,
                                  &cd);
            y += cy / 100 * 100;
            if (y > cy + 50)
                y -= 100;
            else if (y <= cy - 50)
                y += 100;
        }
    }
    if (mo < 0 || y < 1970 || y > 9999 || d < 1 ||
        d > clock_days_in_month(y, mo + 1) || h > 23 || mi > 59 || sec > 60)
        return -1;
    /* The value: libcurl's parser, the one the fetch side uses too, on
     * the canonical IMF-fixdate of the fields checked above. */
    snprintf(imf, sizeof(imf), "Mon, %02d %s %04d %02d:%02d:%02d GMT", d,
             months[mo], y, h, mi, sec);
    t = curl_getdate(imf, NULL);
    if (t == (time_t)-1)
        return -1;
    *out = (int64_t)t;
    return 0;
}
