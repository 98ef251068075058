/*
 * report.h - the vårdvalsenhet's reports, computed from the history store
 * (store.h SCHEMA) over a separate read-only SQLite connection:
 *
 *   web-booking  per day / ISO week / month of a date range: clinics in the
 *                roster, clinics with open web booking (at some poll of the
 *                period, and at every poll), share, breakdown by
 *                municipality / operator / clinic, and the clinics that
 *                had none.
 *   guarantee    per clinic for one month: observed days, share of open
 *                hours with a slot within the care guarantee on offer,
 *                median and 90th percentile of days to the first free
 *                slot, inferred bookings within / beyond the guarantee,
 *                and data coverage (expected vs made polls, stale, error
 *                and gap time) next to every share.
 *
 * docs/compliance-method.md defines every figure. A report is built once
 * as a cJSON document (report_build); CSV and HTML are rendered from that
 * document (report_render.h), so every format carries the same numbers.
 * The CLI (slotfeed report ...) goes through report_run(); HTTP
 * (/v1/reports/...) is parsed with the other routes (api.h
 * api_report_parse, http.c) and computed on a report worker (reportq.h):
 * the same build and render. Nothing here writes to the store, and
 * nothing here knows HTTP.
 */
#ifndef SLOTFEED_REPORT_H
#define SLOTFEED_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/error.h"
#include "slotfeed/report_render.h"

struct sqlite3;
struct cJSON;

enum report_kind {
    REPORT_WEB_BOOKING = 0,
    REPORT_GUARANTEE
};
enum report_by {
    REPORT_BY_NONE = 0,
    REPORT_BY_MUNICIPALITY,
    REPORT_BY_OPERATOR,
    REPORT_BY_CLINIC
};
enum report_per {
    REPORT_PER_DAY = 0,
    REPORT_PER_WEEK,
    REPORT_PER_MONTH
};

/* Longest web-booking range, days (bounds memory: clinics x days bytes). */
#define REPORT_MAX_DAYS 1000
#define REPORT_DEFAULT_OPEN_FROM_MIN (8 * 60)
#define REPORT_DEFAULT_OPEN_TO_MIN (17 * 60)
/* ISO weekdays Monday..Friday as bits 1 << weekday (1 = Monday). */
#define REPORT_WEEKDAYS_MASK 0x3e
/* Poll interval assumed when the store has no poll run at all. */
#define REPORT_DEFAULT_INTERVAL_S 60

struct report_params {
    enum report_kind kind;
    int32_t from_day, to_day; /* local dates, inclusive; guarantee: month */
    enum report_by by;
    enum report_per per;     /* web-booking only */
    int open_from_min;       /* open hours, local minutes after 00:00 */
    int open_to_min;         /*   [from, to), to > from, <= 24 * 60 */
    unsigned open_days_mask; /* bits 1 << ISO weekday counted as open */
    int64_t now;             /* figures stop here; 0 = clock_now() */
};

/* Defaults: web-booking, per day, no breakdown, 08:00-17:00 Mon-Fri. */
void report_params_init(struct report_params *p);

/* Name parsers; each returns 0 or -1 (err names the value and the choices). */
int report_parse_by(const char *s, enum report_by *out, struct sf_error *err);
int report_parse_per(const char *s, enum report_per *out, struct sf_error *err);
/* "YYYY-MM" -> first and last local date of the month. */
int report_parse_month(const char *s, int32_t *first, int32_t *last,
                       struct sf_error *err);
/* "HH:MM-HH:MM" -> open_from_min / open_to_min. */
int report_parse_hours(const char *s, struct report_params *p,
                       struct sf_error *err);
const char *report_by_name(enum report_by by);

/*
 * Open the store at path read-only (never creating it) and check that it
 * is a slotfeed store (application_id, schema version). On success *out
 * owns the connection (close with sqlite3_close). On failure returns -1
 * with err saying "store PATH: no such file", "... is not a slotfeed
 * store", "... has schema version N, this build reads 1", etc.
 */
int report_db_open(const char *path, struct sqlite3 **out,
                   struct sf_error *err);

/*
 * Compute the report p describes from db (borrowed, read only) into a new
 * cJSON document (*out, free with cJSON_Delete). Returns 0 or -1 with err
 * (bad parameters: SF_ERR_CONFIG; database errors: SF_ERR_INTERNAL).
 */
int report_build(struct sqlite3 *db, const struct report_params *p,
                 struct cJSON **out, struct sf_error *err);

/*
 * Open db_path, build, render (report_render), close: what the CLI calls.
 * 0 with *out malloc'd (free()) and *len, or -1 with *out NULL and err.
 */
int report_run(const char *db_path, const struct report_params *p,
               enum report_format fmt, char **out, size_t *len,
               struct sf_error *err);

/*
 * The file name a download of p as fmt is saved under (ASCII, no quote
 * or slash): "webbokning-2026-03-01--2026-03-31.csv",
 * "vardgaranti-2026-03.csv" (.json, .html likewise). Truncated to n.
 */
void report_filename(const struct report_params *p, enum report_format fmt,
                     char *buf, size_t n);

/* A report as asked over HTTP (api_report_parse): what and in which
 * format. Plain data, copied freely (reportq copies it to a worker). */
struct report_request {
    struct report_params p;
    enum report_format fmt;
};

#endif
