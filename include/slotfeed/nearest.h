/*
 * nearest.h - the referring clinician's question: "where can this patient
 * be seen within the guarantee?" (närhetsprincipen). From a place or
 * postcode (geo_resolve) to the nearest clinics by distance and the
 * nearest clinics with a free new-patient time within the guarantee, as
 * JSON (GET /v1/nearest) and as one printable, server-rendered Swedish
 * page (GET /narmast) made from that same JSON, so the two cannot differ.
 *
 * Nothing here does I/O; everything is computed from one snapshot. The
 * clinic objects are the snapshot's own bytes (as in /v1/availability)
 * with distance_km spliced in.
 */
#ifndef SLOTFEED_NEAREST_H
#define SLOTFEED_NEAREST_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/api.h"
#include "slotfeed/doc.h"
#include "slotfeed/error.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"

#define NEAREST_API_PATH "/v1/nearest"
#define NEAREST_PAGE_PATH "/narmast"
#define NEAREST_LIMIT_DEFAULT 3
#define NEAREST_LIMIT_MAX 10

struct nearest_query {
    bool has_place; /* false: the page's empty form */
    struct geo_point pt;
    const char *place;             /* the table's spelling (borrowed) */
    int limit;                     /* clinics per list */
    char typed[API_MAX_VALUE + 1]; /* what was typed, for the form */
};

/*
 * The API's parameters: near (required, once: a place or postcode as
 * /v1/availability takes it) and limit (1..NEAREST_LIMIT_MAX, default
 * NEAREST_LIMIT_DEFAULT, once). Unknown names are refused. geo NULL:
 * "near is not available". 0, or -1 with err as a 400 detail naming the
 * parameter. Pointers in *q borrow from geo.
 */
int nearest_parse_api(const struct api_params *p, const struct geo_table *geo,
                      struct nearest_query *q, struct sf_error *err);

/*
 * The page's form: nara (optional, once; empty or absent = the form
 * alone, has_place false), nothing else. q->typed keeps the value even
 * on error, so the page can show it back. 0 or -1 with err (Swedish).
 */
int nearest_parse_page(const struct api_params *p, const struct geo_table *geo,
                       struct nearest_query *q, struct sf_error *err);

/*
 * The JSON document (docs/feed.md "Nearest clinics"): the snapshot's head
 * fields (version, generated_at, timezone, region, guarantee), "near"
 * {place, lat, lon}, "limit", and two lists of clinic objects as in
 * /v1/availability plus distance_km, nearest first (ties by name, id):
 * "nearest" (any state) and "nearest_within_guarantee" (within_guarantee
 * true). Clinics whose place the table lacks are left out. q->has_place
 * must be true. 0 with doc->json malloc'd (caller frees) and its ETag, or
 * -1 (out of memory).
 */
int nearest_build(const struct feed_snapshot *s, const struct geo_table *geo,
                  const struct nearest_query *q, struct doc *doc);

/*
 * The page (text/html, lang="sv"): the form with q->typed, then, when
 * json (a nearest_build document, may be NULL) is given, both lists with
 * distance, address, phone (tel: link), website, booking link and the
 * first free time; or errmsg (may be NULL) as an alert. Every text from
 * the document is HTML-escaped; links only for http(s) URLs. Returns a
 * malloc'd NUL-terminated page (*len its length), or NULL when out of
 * memory or json does not parse.
 */
char *nearest_page(const struct nearest_query *q, const char *json,
                   size_t json_len, const char *errmsg, size_t *len);

#endif
