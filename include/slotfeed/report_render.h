/*
 * report_render.h - a report document as the text a reader gets: JSON,
 * CSV or HTML. Its own module, apart from the computation (report.h),
 * because it needs nothing but the document: a format changes here
 * without touching SQL or arithmetic, and the figures cannot differ
 * between formats (every table is read from the same cJSON document).
 */
#ifndef SLOTFEED_REPORT_RENDER_H
#define SLOTFEED_REPORT_RENDER_H

#include <stddef.h>

#include "slotfeed/error.h"

struct cJSON;

enum report_format {
    REPORT_FMT_JSON = 0,
    REPORT_FMT_CSV,
    REPORT_FMT_HTML
};

/* "json", "csv" or "html" -> *out; 0, or -1 (err names the value and the
 * choices). */
int report_parse_format(const char *s, enum report_format *out,
                        struct sf_error *err);

/* The Content-Type of fmt (a static string). */
const char *report_format_content_type(enum report_format f);

/*
 * The Swedish heading CSV and HTML give the column of JSON key `key`
 * (static storage); an unknown key is returned as it is.
 */
const char *report_column_label(const char *key);

/*
 * Render a document made by report_build (borrowed, not changed) as fmt
 * into a new NUL-terminated buffer (*out, free with free(); *len its
 * length). JSON is pretty-printed; CSV is RFC 4180 (CRLF, quoted when
 * needed); HTML is one self-contained page with escaped text. Returns 0,
 * or -1 with *out NULL (out of memory, or doc is not a report).
 */
int report_render(const struct cJSON *doc, enum report_format fmt, char **out,
                  size_t *len, struct sf_error *err);

#endif
