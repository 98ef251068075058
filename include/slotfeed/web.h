/*
 * web.h - the static files of the patient page and the overview, compiled
 * into the binary from web/ (cmake/embed.cmake). Read-only, static
 * storage: nothing to free.
 */
#ifndef SLOTFEED_WEB_H
#define SLOTFEED_WEB_H

#include <stddef.h>

struct web_asset {
    const char *path; /* "/index.html", "/app.js", ... */
    const char *content_type;
    const unsigned char *data; /* len bytes (plus a NUL not counted) */
    size_t len;
};

/* Generated table, terminated by an entry with path NULL. */
extern const struct web_asset web_assets[];

/*
 * Asset for a request path: "/" maps to "/index.html" and "/overview" to
 * "/overview.html". NULL when there is none.
 */
const struct web_asset *web_asset_find(const char *path);

#endif
