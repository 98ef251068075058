/*
 * clock.h - time for slotfeed: an injectable "now", Europe/Stockholm local
 * date/time <-> UTC, date arithmetic on local dates, and the Swedish
 * holiday calendar.
 *
 * Everything here is pure (no TZ environment, no tzdata files): the
 * Stockholm rule is built in (CET/CEST, EU rule: CEST from the last Sunday
 * of March 01:00 UTC to the last Sunday of October 01:00 UTC), so results
 * are the same on every machine. Instants are int64_t seconds since the
 * Unix epoch (UTC). A local *date* is an int32_t day number: days since
 * 1970-01-01 of the proleptic Gregorian calendar; day arithmetic is plain
 * integer arithmetic on these numbers, never UTC seconds / 86400.
 */
#ifndef SLOTFEED_CLOCK_H
#define SLOTFEED_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_TZ_NAME "Europe/Stockholm"

/* "2026-03-31T10:00:00+02:00" plus NUL */
#define CLOCK_RFC3339_LEN 26
/* "2026-03-31" plus NUL */
#define CLOCK_DATE_LEN 11

struct clock_civil {
    int year, month, day; /* month 1..12, day 1..31 */
    int hour, min, sec;   /* 0..23, 0..59, 0..59 */
};

/* --- injectable now ----------------------------------------------------- */

/* Current instant: real time, unless clock_set_fake() fixed it. */
int64_t clock_now(void);
/* Fix "now" to t (tests, `poll --once --now T`); t < 0 returns to real time. */
void clock_set_fake(int64_t t);
/*
 * Monotonic milliseconds (CLOCK_MONOTONIC), for timers, deadlines and
 * durations on the loop. Never faked: clock_set_fake moves the calendar,
 * not the time that passes.
 */
int64_t clock_mono_ms(void);
/* The same clock in microseconds, for durations measured below a
 * millisecond (request latency, store flushes). */
int64_t clock_mono_us(void);

/* --- calendar arithmetic ------------------------------------------------ */

/* Day number of a civil date (no range check beyond what the math needs). */
int32_t clock_days_from_civil(int year, int month, int day);
void clock_civil_from_days(int32_t days, int *year, int *month, int *day);
/* ISO weekday of a day number: 1 = Monday ... 7 = Sunday. */
int clock_weekday(int32_t day);
/* Days in month (leap years handled). */
int clock_days_in_month(int year, int month);

/* --- Europe/Stockholm ---------------------------------------------------- */

/* Offset from UTC in seconds (3600 or 7200) in force at instant t. */
int clock_offset_at(int64_t t);
/* Local civil time of instant t; *offset_s (may be NULL) gets the offset. */
void clock_to_local(int64_t t, struct clock_civil *out, int *offset_s);
/* Local date (day number) of instant t. */
int32_t clock_local_day(int64_t t);

enum clock_local_result {
    CLOCK_OK = 0,
    CLOCK_AMBIGUOUS = 1,    /* October's repeated hour: first (CEST) chosen */
    CLOCK_NONEXISTENT = -1, /* March's skipped hour: *out not set */
    CLOCK_INVALID = -2      /* fields out of range: *out not set */
};

/*
 * Instant of a local wall-clock time. In the repeated hour on the October
 * switch day the earlier instant (still CEST, +02:00) is chosen and
 * CLOCK_AMBIGUOUS returned, deterministically; a time in the skipped March
 * hour does not exist and is refused.
 */
enum clock_local_result clock_from_local(const struct clock_civil *lt,
                                         int64_t *out);

/* Instant of local midnight (00:00) starting local date `day`. */
int64_t clock_day_start(int32_t day);

/* --- formatting and parsing --------------------------------------------- */

/* RFC 3339 in Stockholm local time with explicit offset; returns length. */
size_t clock_format_rfc3339(int64_t t, char buf[CLOCK_RFC3339_LEN]);
/* "YYYY-MM-DD" of a day number; returns length. */
size_t clock_format_date(int32_t day, char buf[CLOCK_DATE_LEN]);
/* "YYYYMMDD" (RIV DT) of a day number; buf must hold 9 bytes. */
size_t clock_format_riv_date(int32_t day, char buf[9]);
/* "HH:MM" local time of instant t; buf must hold 6 bytes. */
size_t clock_format_hhmm(int64_t t, char buf[6]);

/*
 * Parse an RFC 3339 date-time that carries an offset ("Z" or +hh:mm /
 * -hh:mm), fractional seconds allowed and dropped. Returns 0 or -1.
 */
int clock_parse_rfc3339(const char *s, int64_t *out);
/* Parse "YYYY-MM-DD" into a day number. Returns 0 or -1. */
int clock_parse_date(const char *s, int32_t *day);
/* Parse RIV DT "YYYYMMDD". Returns 0 or -1. */
int clock_parse_riv_date(const char *s, int32_t *day);
/*
 * Parse RIV TS "YYYYMMDDhhmmss" (naive Swedish local time) into an instant.
 * Returns a clock_local_result: CLOCK_OK, CLOCK_AMBIGUOUS (first occurrence
 * taken, *out set), or a negative value (*out not set) for bad text or a
 * time that does not exist.
 */
int clock_parse_riv_ts(const char *s, int64_t *out);

/* --- HTTP-date (RFC 9110 §5.6.7) ----------------------------------------- */

#define CLOCK_HTTP_DATE_LEN 30
/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" of t into buf. */
void clock_format_http_date(int64_t t, char buf[CLOCK_HTTP_DATE_LEN]);
/*
 * The project's one HTTP-date parser (If-Modified-Since in the server and
 * the simulator, Date and Retry-After from upstreams in fetch.c): exactly
 * the three forms of RFC 9110 §5.6.7 - IMF-fixdate "Sun, 06 Nov 1994
 * 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit year
 * resolved against clock_now() as the RFC says) and asctime "Sun Nov  6
 * 08:49:37 1994" - with real dates and times from 1970 on; the value
 * comes from libcurl's curl_getdate. 0 with *out = seconds since the
 * epoch, or -1 for anything else (which RFC 9110 says to ignore).
 */
int clock_parse_http_date(const char *s, int64_t *out);

/* --- Swedish holidays ----------------------------------------------------- */

/* Easter Sunday of `year` (Gregorian, anonymous algorithm) as a day number. */
int32_t clock_easter(int year);
/*
 * Public holiday under Lag (1989:253) om allmänna helgdagar as in force
 * since 2005: every Sunday, nyårsdagen, trettondedag jul, långfredagen,
 * påskdagen, annandag påsk, 1 maj, Kristi himmelsfärd, pingstdagen,
 * nationaldagen, midsommardagen, alla helgons dag, juldagen, annandag jul.
 */
bool clock_is_public_holiday(int32_t day);
/* De-facto closed eves: midsommarafton, julafton, nyårsafton. */
bool clock_is_closed_eve(int32_t day);
/* Monday-Friday that is neither a public holiday nor a closed eve. */
bool clock_is_working_day(int32_t day);

#endif
