/*
 * page.h - the patient page "/" rendered on the server, so that it works
 * without JavaScript and paints before any script runs (issue 14 §3, §4).
 *
 * The page is made from the same immutable snapshot as the feed: the
 * clinic list goes through the API's own filter and near-sort code
 * (api_filter_parse, api_filter_build), so a no-script patient sees what
 * /v1/availability answers. The script (web/app.js) then enhances the
 * same markup (the element ids are the ones index.html has).
 *
 * Query parameters are the form's: kommun (a municipality of the region),
 * nara (place, municipality or postcode), vy=inom-3-dagar (only clinics
 * with a free time within the care guarantee) and lang=sv|en. Others are
 * ignored (links may carry tracking parameters). Without lang the first
 * of sv/en in Accept-Language wins; Swedish is the default.
 *
 * Every string from the region or upstream is HTML-escaped; only http(s)
 * URLs become links. Nothing here does I/O.
 */
#ifndef SLOTFEED_PAGE_H
#define SLOTFEED_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/api.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/sbuf.h"

enum page_lang {
    PAGE_SV = 0,
    PAGE_EN = 1
};

/* What a request asks of the page (strings borrowed from the params). */
struct page_query {
    const char *kommun; /* NULL or "" = every municipality */
    const char *nara;   /* NULL or "" = no near sort */
    bool guarantee;     /* vy=inom-3-dagar */
    enum page_lang lang;
};

/*
 * Read the page's parameters out of p (already api_params_parse'd) and
 * the Accept-Language header (may be NULL). Never fails: unknown
 * parameters and values are ignored (a bad kommun/nara is reported by
 * page_render on the page itself).
 */
void page_query_of(const struct api_params *p, const char *accept_language,
                   struct page_query *q);

/*
 * Render the page for q over snapshot s into out (a new doc: json holds
 * the HTML, malloc'd, caller frees; ETag set). *status is 200, or 400
 * when kommun names no municipality of the region (the page then shows
 * every clinic and says so). An unknown nara place is a 200 page that
 * says it and shows the list without distances. *cacheable is false for
 * pages that echo a value the patient typed which matched nothing.
 * geo may be NULL (near not available). Returns 0, or -1 out of memory.
 */
int page_render(const struct feed_snapshot *s, const struct geo_table *geo,
                const struct page_query *q, struct doc *out, int *status,
                bool *cacheable);

/*
 * The page's text helpers, shared with the overview (overview.h) so both
 * pages write names, links and dates alike. page_name_cmp orders names
 * as Swedish does (case-blind, Å Ä Ö after Z); page_safe_url returns u
 * when it is an absolute http(s) URL without blanks or controls, else
 * NULL; page_instant appends "tis 31 mars kl. 10:00" for an instant
 * with offset, page_weekday_date "tisdag 31 mars" for a date (nothing
 * for a malformed value). Strings are borrowed.
 */
int page_name_cmp(const char *a, const char *b);
const char *page_safe_url(const char *u);
void page_instant(struct sbuf *b, enum page_lang lang, const char *instant);
void page_weekday_date(struct sbuf *b, enum page_lang lang, const char *date);

/* --- cache of rendered pages (per snapshot) ------------------------------ */

/* Pages are kept in an api_cache (api.h: api_cache_new/free; at most max
 * pages, dropped whole when the snapshot changes). */

/*
 * The page for q on s, with its gzip form: from the cache when this
 * snapshot already rendered it (the same bytes, the same ETag), else
 * rendered now and kept (when cacheable). Returns a new reference
 * (api_entry_unref when the reply is done) with *status set, or NULL out
 * of memory.
 */
struct api_entry *page_cache_get(struct api_cache *c,
                                 const struct feed_snapshot *s,
                                 const struct geo_table *geo,
                                 const struct page_query *q, int *status);

#endif
