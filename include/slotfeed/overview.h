/*
 * overview.h - the vårdvalsenhet's overview "/overview" filled on the
 * server, so that its current-state tables and key figures are there
 * without JavaScript (issue 14 §3).
 *
 * The shell is web/overview.html as compiled in (web.h): the renderer
 * fills the content of the elements with these ids, each empty or plain
 * text in the shell: region-name, freshness, figures, table-operator,
 * table-municipality, table-problems and table-none. An id the shell
 * lacks is skipped, the rest of the shell is copied unchanged. The rows,
 * columns, headings and numbers are those web/overview.js draws from
 * /v1/availability (it reads the same snapshot's all.json here), so the
 * script may simply redraw them. The chart stays the script's.
 *
 * Every string from the region or upstream is HTML-escaped; only http(s)
 * URLs become links. Nothing here does I/O. The page is Swedish only,
 * like the rest of the overview.
 */
#ifndef SLOTFEED_OVERVIEW_H
#define SLOTFEED_OVERVIEW_H

#include <stddef.h>

#include "slotfeed/api.h"
#include "slotfeed/feed.h"

/*
 * Fill the shell tmpl (tlen bytes) from snapshot s into out (a new doc:
 * json holds the HTML, malloc'd, caller frees; ETag set). Returns 0, or
 * -1 when s's feed cannot be read or out of memory (out then empty).
 */
int overview_render(const struct feed_snapshot *s, const char *tmpl,
                    size_t tlen, struct doc *out);

/* --- one page per snapshot --------------------------------------------- */

/* Kept in an api_cache of its own (api.h; one entry, dropped with the
 * snapshot). */

/*
 * The page for s, with its gzip form: the kept one when s is the
 * snapshot it was rendered from (the same bytes, the same ETag), else
 * rendered now and kept in its place. Returns a new reference
 * (api_entry_unref when the reply is done), or NULL on failure.
 */
struct api_entry *overview_cache_get(struct api_cache *c,
                                     const struct feed_snapshot *s,
                                     const char *tmpl, size_t tlen);

#endif
