/*
 * fetch.h - HTTP client on the event loop: libcurl's multi interface driven
 * by a libevent base (the socket/timer callback cycle of curl's
 * hiperfifo.c). One struct fetch per loop; any number of transfers in
 * flight. Every transfer has connect and total timeouts, a low-speed limit
 * against slow drips, a response size cap enforced while receiving (so it
 * also bounds chunked and decompressed bodies), a decompression-ratio cap
 * against gzip bombs, http/https only, and no redirects unless configured
 * (then at most max_redirects). Every cap's error names the URL's host
 * and the cap: too_large (size), timeout (connect, total or low-speed),
 * hostile (decompression ratio), http (too many redirects).
 */
#ifndef SLOTFEED_FETCH_H
#define SLOTFEED_FETCH_H

#include <stddef.h>

#include "slotfeed/adapter.h"
#include "slotfeed/error.h"

struct event_base;
struct fetch;

struct fetch_opts {
    long connect_timeout_ms; /* default 3000 */
    long timeout_ms;         /* default 10000 */
    size_t max_body_bytes;   /* default 4 MiB */
    long max_redirects;      /* default 0 */
    const char *user_agent;  /* copied; default "slotfeed" */
    /* TLS: verification is always on; these may be NULL. Copied. */
    const char *ca_file;
    /* Decompression-ratio cap (below); 0 = FETCH_DEF_DECOMPRESS_RATIO. */
    long max_decompress_ratio;
};

/* --- decompression-ratio cap (a small gzip body must not decode to GBs) -- */

/* Decoded bytes below which the ratio is not checked (small answers). */
#define FETCH_RATIO_FLOOR ((size_t)1 << 20)
#define FETCH_DEF_DECOMPRESS_RATIO 100L

/*
 * Decompression-ratio cap: once a body has decoded to more than
 * FETCH_RATIO_FLOOR bytes, decoded bytes may not exceed `ratio` times the
 * encoded bytes received so far, exactly: fetch decodes gzip and deflate
 * itself (curl only de-chunks), stops output at that bound and aborts on
 * the first byte past it, with SF_ERR_HOSTILE
 * "HOST:PORT/PATH: decompression ratio N:1 over cap M:1 (...)".
 * ratio <= 0 restores the default (100). Applies to transfers started
 * afterwards. Set at creation by fetch_opts.max_decompress_ratio; the
 * setter changes it later (tests lift it to reach the size cap).
 */
void fetch_set_max_decompress_ratio(struct fetch *f, long ratio);

/*
 * Outcome of one transfer, borrowed by the callback only. On transport
 * failure err.code != SF_ERR_NONE and http_status is 0. A completed HTTP
 * exchange has err.code == SF_ERR_NONE whatever the status.
 */
struct fetch_result {
    struct sf_error err;
    long http_status;
    const char *body; /* NUL-terminated (not counted in len) */
    size_t len;
    const char *content_type; /* or NULL */
    long retry_after_s;       /* Retry-After seconds, or -1 */
    double total_time_s;
    const char *etag;          /* ETag of the answer, or NULL */
    const char *last_modified; /* Last-Modified of the answer, or NULL */
    /* what the transfer cost, also on failure (metrics, caps) */
    size_t received;      /* decoded body bytes kept (<= the cap) */
    long long wire_bytes; /* body bytes received, before decoding */
};

/*
 * Options from a region's `fetch` config (timeouts, body cap, User-Agent);
 * fields not in the config stay zero (= defaults). Borrows the region's
 * strings: the region must outlive fetch_new (which copies them).
 */
void fetch_opts_from_region(struct fetch_opts *fo, const struct conf_region *r);

typedef void (*fetch_done_fn)(const struct fetch_result *res, void *arg);

/* New fetcher on base. Returns NULL with err set on failure. */
struct fetch *fetch_new(struct event_base *base, const struct fetch_opts *opts,
                        struct sf_error *err);

/*
 * Start req (copied; caller keeps ownership of req). done is called exactly
 * once, later, from the event loop, never from inside fetch_start.
 * req->headers are sent verbatim after Content-Type/SOAPAction (a line
 * holding CR or LF, or without ':', is refused) and never logged.
 * Returns 0, or -1 with err set (done will not be called).
 */
int fetch_start(struct fetch *f, const struct adapter_request *req,
                fetch_done_fn done, void *arg, struct sf_error *err);

/* Transfers in flight. */
size_t fetch_active(const struct fetch *f);

/*
 * Abort all transfers (their callbacks are NOT called) and free. NULL ok.
 * Not from inside a done callback.
 */
void fetch_free(struct fetch *f);

#endif
