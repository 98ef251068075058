/*
 * api.h - the query side of Feed v1 for the HTTP server: query-string
 * parsing (strict: limits, percent-decoding, UTF-8), /v1/availability
 * filters, filtered documents spliced from the snapshot's bytes, and the
 * /v1/clinics/{id}/slots document.
 *
 * Nothing here does I/O. Errors are 400-worthy messages that name the
 * parameter ("municipality: \"Oslo\" is not a municipality of this
 * region"). Filtered documents are cached per snapshot and canonical
 * filter (api_cache), so a popular query is spliced once per rebuild.
 */
#ifndef SLOTFEED_API_H
#define SLOTFEED_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotfeed/error.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/report.h"

#define API_MAX_PARAMS 32     /* name=value pairs per query */
#define API_MAX_NAME 32       /* bytes of a decoded name */
#define API_MAX_VALUE 256     /* bytes of a decoded value */
#define API_MAX_VALUES 32     /* values of one repeatable filter */
#define API_SLOTS_MAX_SPAN 92 /* days from..to inclusive */

struct api_param {
    char *name, *value; /* decoded, NUL-free, valid UTF-8 */
};

struct api_params {
    struct api_param v[API_MAX_PARAMS];
    size_t n;
};

/*
 * Split and decode a raw query string (NULL or "" = none): '&'-separated
 * name[=value], %XX and '+' decoded. Refuses (-1, err names the
 * parameter) more than API_MAX_PARAMS pairs, over-long names or values,
 * invalid percent-escapes, NUL bytes, and invalid UTF-8. Empty pairs
 * ("a=1&&b=2") are skipped. Free with api_params_clear (also on error).
 */
int api_params_parse(const char *query, struct api_params *out,
                     struct sf_error *err);
void api_params_clear(struct api_params *p);

/* Parsed /v1/availability filters; an empty filter selects everything. */
struct api_filter {
    const char *municipality[API_MAX_VALUES]; /* region's spelling */
    size_t nmunicipality;
    unsigned operator_mask; /* bit 0 private, bit 1 region; 0 = any */
    int within;             /* -1 any, 0 false, 1 true */
    const char *service[API_MAX_VALUES]; /* region's spelling */
    size_t nservice;
    unsigned web_mask; /* bits 1 << enum web_booking; 0 = any */
    bool near;
    struct geo_point near_pt;
    const char *near_place; /* table's spelling */
    char key[1024];         /* canonical form, for caching */
};

/*
 * Check params against the availability filters and the snapshot's region
 * (values must exist there) and the geo table (may be NULL: near is then
 * "not available"). Unknown parameter names are refused. 0 or -1 with err.
 * Strings in *f point into the region or the table.
 */
int api_filter_parse(const struct api_params *p, const struct feed_snapshot *s,
                     const struct geo_table *geo, struct api_filter *f,
                     struct sf_error *err);

/* True when f selects everything and adds nothing (serve s->all). */
bool api_filter_empty(const struct api_filter *f);

/*
 * The filtered document: head, recomputed summary, "filters", and the
 * matching clinic objects (with distance_km, nearest first, when near).
 * Returns 0 with doc->json malloc'd (caller frees) and its ETag, or -1.
 */
int api_filter_build(const struct feed_snapshot *s, const struct geo_table *geo,
                     const struct api_filter *f, struct doc *doc);

/*
 * /v1/clinics/{id}/slots of clinic index ci: params from/to (YYYY-MM-DD,
 * local, inclusive; default today .. today + horizon_days, today = local
 * date of generated_at), to >= from, at most API_SLOTS_MAX_SPAN days.
 * 0 with doc (json malloc'd, ETag set), or -1 with err (bad request) /
 * err->code SF_ERR_NOMEM.
 */
int api_slots_build(const struct feed_snapshot *s, size_t ci,
                    const struct api_params *p, struct doc *doc,
                    struct sf_error *err);

/* --- reports ------------------------------------------------------------ */

/* The path prefix of the reports (/v1/reports/web-booking, .../guarantee). */
#define API_REPORT_PREFIX "/v1/reports/"

/* True when path is under API_REPORT_PREFIX (the route "report"). */
bool api_report_path(const char *path);

/*
 * /v1/reports/{web-booking,guarantee}: the request alone, from params
 * (already through api_params_parse, like every route's) and the Accept
 * header (may be NULL; text/csv -> CSV unless format= says otherwise).
 * Parameters: web-booking from, to (YYYY-MM-DD, required), per;
 * guarantee month (YYYY-MM, required); both by, hours, format. Each at
 * most once ("NAME: given twice", as the slots route says); unknown ones
 * are refused. Returns 0 with *rq filled (rq->p.now left 0), or the HTTP
 * status to answer with err->msg as the problem's detail: 404 (no such
 * report) or 400 (a parameter).
 */
int api_report_parse(const char *path, const struct api_params *p,
                     const char *accept, struct report_request *rq,
                     struct sf_error *err);

/* --- near= order ----------------------------------------------------------- */

/*
 * A clinic in near= order (docs/feed.md): by distance from a point in
 * 0.1 km as published, clinics without a known place last, then by name,
 * then by id. api_near_row fills r for clinic i of s (has: its place is
 * in geo); api_near_sort sorts n rows. Borrowed strings (the region's).
 */
struct api_near_row {
    size_t i;
    bool has;
    long deci_km;
    const char *name, *id;
};
void api_near_row(struct api_near_row *r, const struct feed_snapshot *s,
                  size_t i, const struct geo_table *geo, struct geo_point from);
void api_near_sort(struct api_near_row *rows, size_t n);

/* --- cache of filtered documents ----------------------------------------- */

/* A cached document; replies hold a reference while libevent sends it. */
struct api_entry {
    struct doc plain, gz; /* gz.json NULL until first asked */
    int64_t changed_at;   /* the snapshot's, for Last-Modified */
    unsigned refs;        /* cache's own + replies in flight */
    char *key;
};

struct api_cache;

/* At most `max` entries (LRU-ish: the oldest is dropped). */
struct api_cache *api_cache_new(size_t max);
void api_cache_free(struct api_cache *c);

/*
 * Entry for filter f on snapshot s (built and inserted on a miss; the
 * whole cache is dropped when s->serial changes). With want_gz the gzip
 * variant is made on first need. Returns a new reference (api_entry_unref
 * when done) or NULL on allocation failure.
 */
struct api_entry *api_cache_get(struct api_cache *c,
                                const struct feed_snapshot *s,
                                const struct geo_table *geo,
                                const struct api_filter *f, bool want_gz);
void api_entry_unref(struct api_entry *e);

/*
 * The cache's two halves, for other documents kept per snapshot and key
 * (page.c's rendered pages): api_cache_find drops every entry when serial
 * (the snapshot's) changed, then returns a new reference to key's entry,
 * or NULL. api_cache_put keeps e (its own reference; e->key set), the
 * oldest entry dropped when full.
 */
struct api_entry *api_cache_find(struct api_cache *c, uint64_t serial,
                                 const char *key);
void api_cache_put(struct api_cache *c, struct api_entry *e);

/* Accept-Encoding: is gzip acceptable (q > 0, directly or via "*")? */
bool api_accepts_gzip(const char *accept_encoding);

#endif
