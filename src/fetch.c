/*
 * fetch.c - libcurl's multi interface driven by a libevent base.
 *
 * The cycle (see docs: style.md, curl's hiperfifo.c):
 *   - curl tells us which sockets to watch (on_curl_socket) and when it
 *     next needs a timeout (on_curl_timer). We keep one persistent event
 *     per socket and one evtimer; neither callback calls back into curl.
 *   - When a socket is ready or the timer fires, we call
 *     curl_multi_socket_action() and then drain curl_multi_info_read() for
 *     finished transfers, whose done callbacks run right there, on the loop.
 *
 * Every transfer carries its own hard limits (connect/total timeouts, a
 * low-speed floor, a size cap checked while receiving, http/https only,
 * redirects off unless configured), so one hostile or dead upstream costs
 * at most timeout_ms and max_body_bytes. Content codings (gzip, deflate)
 * are decoded here, not by curl, so that the decompression-ratio cap
 * counts encoded bytes exactly (body_inflate); unknown codings are
 * refused.
 *
 * Ownership: struct fetch owns every struct xfer (a doubly linked list),
 * every struct sockev (also listed, so teardown can free what curl did
 * not report) and the curl handles. The request passed to fetch_start is
 * copied.
 *
 * A finished transfer is kept on an idle list (at most FETCH_POOL_MAX)
 * with its easy handle, reset with curl_easy_reset, and its URL, POST and
 * response buffers with their capacity: at 10,000 clinics a new handle and
 * fresh buffers per transfer were a tenth of a poll's CPU. The reset
 * clears every option (private pointer, header list, callbacks and their
 * data, TLS files, caps); xfer_setopts sets all of them again for each
 * transfer, and the per-response strings are freed, so nothing of one
 * transfer reaches the next. Connections and the DNS cache live in the
 * multi handle either way.
 */
#include "slotfeed/fetch.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <zlib.h>

#include "slotfeed/clock.h"
#include "slotfeed/url.h"

#define FETCH_DEF_CONNECT_MS 3000L
#define FETCH_DEF_TIMEOUT_MS 10000L
#define FETCH_DEF_MAX_BODY ((size_t)4 << 20)
#define FETCH_DEF_UA "slotfeed"
/*
 * Slow-drip floor: fewer than this many bytes/s over half the total
 * timeout aborts. Half, so that a server that thinks for a while before
 * answering (RIV allows seconds) is not cut off, while a drip is stopped
 * well before the total timeout when the latter is configured large.
 */
#define FETCH_LOW_SPEED_BPS 16L
/* curl's receive buffer: its default, 16 KiB. A ~20 KiB RIV answer is
 * two recvfrom instead of five at 4 KiB (strace, 1,000-clinic pass: 1.5
 * recvfrom and 2.6 polls a request). 32 KiB makes it one, but measured
 * slower (poll bench, 3 alternating rounds: 0.79 vs 0.72 ms a poll at
 * 10,000). The ratio check does not depend on it: fetch decodes bodies
 * itself and counts encoded bytes exactly (body_inflate). */
#define FETCH_RECV_BUF 16384L
/* Accept-Encoding sent; on_body decodes exactly these (and identity). */
#define FETCH_CODINGS "gzip, deflate"
/* Idle transfers kept for reuse: about the transfers in flight at once
 * (max_concurrent_per_host x hosts) so a steady pass allocates none. */
#define FETCH_POOL_MAX 128
/* A kept buffer larger than this is freed instead (one RIV answer is
 * ~20 KiB; a rare large body must not stay resident in the pool). */
#define FETCH_KEEP_BYTES ((size_t)64 << 10)
/* Idle connections curl may keep (CURLMOPT_MAXCONNECTS). curl's default
 * is 4 x the transfers in flight right now, so whenever few are in flight
 * (clinics waiting for politeness tokens, a staggered minute) it closes
 * kept-alive connections that the next burst opens again. A fixed cap
 * keeps them; a host never runs more transfers at once than its
 * max_concurrent_per_host (sched), so it needs no more connections. */
#define FETCH_MAX_CONNECTS 256L

struct fetch;

/* One watched socket; curl_multi_assign()ed to its fd. */
struct sockev {
    struct fetch *f;
    curl_socket_t fd;
    struct event *ev;
    struct sockev *prev, *next;
};

/* One transfer in flight (or waiting for its deferred failure). */
struct xfer {
    struct fetch *f;
    CURL *easy;
    struct curl_slist *headers;
    char *url;
    char *post;               /* our copy of the POST body, or NULL */
    size_t url_cap, post_cap; /* kept across reuse */
    bool has_post;            /* this transfer POSTs post */
    char *buf;                /* response body, NUL-terminated */
    size_t len, cap;
    bool too_large;
    bool ratio_hit;        /* decompression ratio over the cap */
    curl_off_t raw_at_hit; /* bytes received when it was */
    size_t decoded_at_hit; /* bytes decoded by then */
    /* Content coding of the current response (Content-Encoding); the
     * body is decoded in on_body, not by curl, so that the encoded bytes
     * are counted exactly when the ratio is checked. */
    enum {
        CODING_IDENTITY,
        CODING_GZIP,
        CODING_DEFLATE,
        CODING_UNKNOWN
    } coding;
    char coding_name[32]; /* an unsupported coding, for the message */
    z_stream *z;          /* inflate state, kept across reuse, or NULL */
    bool z_live;          /* z set up for this response's body */
    bool z_end;           /* its stream ended (later bytes ignored) */
    bool z_raw;           /* "deflate" sent without the zlib wrapper */
    curl_off_t raw;       /* this response's body bytes, still encoded */
    char decode_err[96];  /* why decoding failed, or "" */
    char *content_type;   /* from the last response's headers */
    char *etag;
    char *last_modified;
    long retry_after_s;
    char date_raw[64];     /* Date: of the last response, trimmed, or "";
                            * parsed only if a Retry-After HTTP-date
                            * needs it (parsing every answer's cost ~1 %
                            * of a RIV poll) */
    char *retry_after_raw; /* HTTP-date form, resolved at the end */
    char errbuf[CURL_ERROR_SIZE];
    fetch_done_fn done;
    void *arg;
    struct event *defer; /* zero-timeout failure delivery, or NULL */
    struct sf_error defer_err;
    struct xfer *prev, *next;
};

struct fetch {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    long connect_timeout_ms, timeout_ms, max_redirects, max_ratio;
    size_t max_body_bytes;
    char *user_agent;
    char *ca_file;
    struct xfer *xfers;
    size_t nxfers;
    struct xfer *idle; /* finished, reset, kept for reuse (->next) */
    size_t nidle;
    struct sockev *socks;
};

static void xfer_unlink(struct xfer *x)
{
    struct fetch *f = x->f;

    if (x->prev)
        x->prev->next = x->next;
    else
        f->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    f->nxfers--;
}

/* Detach from curl and free everything; no callback. */
static void xfer_destroy(struct xfer *x)
{
    if (x->easy) {
        curl_multi_remove_handle(x->f->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    if (x->defer)
        event_free(x->defer);
    curl_slist_free_all(x->headers);
    free(x->url);
    free(x->post);
    free(x->buf);
    free(x->content_type);
    free(x->etag);
    free(x->last_modified);
    free(x->retry_after_raw);
    if (x->z != NULL) {
        inflateEnd(x->z);
        free(x->z);
    }
    free(x);
}

/* The per-response strings of x (headers we keep), freed and cleared. */
static void xfer_forget_response(struct xfer *x)
{
    free(x->content_type);
    free(x->etag);
    free(x->last_modified);
    free(x->retry_after_raw);
    x->content_type = x->etag = x->last_modified = NULL;
    x->retry_after_raw = NULL;
}

/*
 * A finished transfer, already unlinked: reset its handle and keep it
 * with its buffers on the idle list, or destroy it when the list is full
 * or it has no handle. Everything but the handle and the buffers' bytes
 * and capacities is cleared, as calloc would.
 */
static void xfer_recycle(struct xfer *x)
{
    struct fetch *f = x->f;
    struct xfer keep;

    if (x->easy == NULL || x->defer != NULL || f->nidle >= FETCH_POOL_MAX) {
        xfer_destroy(x);
        return;
    }
    curl_multi_remove_handle(f->multi, x->easy);
    curl_easy_reset(x->easy);
    curl_slist_free_all(x->headers);
    xfer_forget_response(x);
    keep = *x;
    memset(x, 0, sizeof(*x));
    x->f = f;
    x->easy = keep.easy;
    x->z = keep.z; /* inflate state, reset when next used */
#define KEEP(p, cap)                        \
    do {                                    \
        if (keep.cap <= FETCH_KEEP_BYTES) { \
            x->p = keep.p;                  \
            x->cap = keep.cap;              \
        } else {                            \
            free(keep.p);                   \
        }                                   \
    } while (0)
    KEEP(url, url_cap);
    KEEP(post, post_cap);
    KEEP(buf, cap);
#undef KEEP
    x->next = f->idle;
    f->idle = x;
    f->nidle++;
}

/* An idle transfer (handle reset, buffers kept) or a new zeroed one. */
static struct xfer *xfer_take(struct fetch *f)
{
    struct xfer *x = f->idle;

    if (x == NULL)
        return calloc(1, sizeof(*x));
    f->idle = x->next;
    f->nidle--;
    x->next = NULL;
    /* the previous body must not show through an empty answer */
    if (x->buf != NULL)
        x->buf[0] = '\0';
    return x;
}

/* Copy n bytes of s (plus a NUL) into *p, growing it only when needed. */
static int keep_copy(char **p, size_t *cap, const char *s, size_t n)
{
    if (*p == NULL || *cap < n + 1) {
        char *nb = realloc(*p, n + 1);

        if (nb == NULL)
            return -1;
        *p = nb;
        *cap = n + 1;
    }
    memcpy(*p, s, n);
    (*p)[n] = '\0';
    return 0;
}

/* "host:port/path" of url without scheme, credentials or query. */
static void url_where(const char *url, char *out, size_t outsz)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;

    snprintf(out, outsz, "%s", "(bad url)");
    if (u == NULL || url == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    snprintf(out, outsz, "%s%s%s%s", host ? host : "?", port ? ":" : "",
             port ? port : "", path ? path : "/");
out:
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}

/* --- response callbacks ------------------------------------------------- */

/* A buffer of at least need bytes (need <= lim + 1), grown by doubling
 * from 4 KiB but never past lim + 1 bytes (the body and its NUL). 0, or
 * -1 out of memory. */
static int body_grow(struct xfer *x, size_t need, size_t lim)
{
    size_t cap;
    char *nb;

    if (need <= x->cap)
        return 0;
    cap = x->cap ? x->cap : 4096;
    while (cap < need)
        cap *= 2;
    if (cap > lim + 1)
        cap = lim + 1;
    nb = realloc(x->buf, cap);
    if (nb == NULL)
        return -1;
    x->buf = nb;
    x->cap = cap;
    return 0;
}

/* Identity body: append data as it is, within the size cap. */
static size_t body_plain(struct xfer *x, const char *data, size_t n)
{
    /* The cap is checked on what reaches the body, i.e. after decoding:
     * it bounds chunked and decompressed bodies alike. */
    if (n > x->f->max_body_bytes - x->len) {
        x->too_large = true;
        return 0; /* short count: curl aborts with CURLE_WRITE_ERROR */
    }
    if (body_grow(x, x->len + n + 1, x->f->max_body_bytes) != 0)
        return 0;
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/*
 * Decoded bytes the body may hold now: the size cap, and past
 * FETCH_RATIO_FLOOR no more than max_ratio x the encoded bytes received
 * so far (x->raw, counted exactly, this read included).
 */
static size_t body_limit(const struct xfer *x)
{
    const struct fetch *f = x->f;
    size_t ratio = (size_t)f->max_ratio, raw = (size_t)x->raw;
    size_t lim = raw > SIZE_MAX / ratio ? SIZE_MAX : raw * ratio;

    if (lim < FETCH_RATIO_FLOOR)
        lim = FETCH_RATIO_FLOOR;
    return lim < f->max_body_bytes ? lim : f->max_body_bytes;
}

/* (Re)start inflate for this response: zlib or gzip wrapper detected,
 * or none for a raw "deflate". 0, or -1 with decode_err set. */
static int body_zstart(struct xfer *x, bool raw)
{
    int bits = raw ? -15 : 15 + 32;

    if (x->z == NULL) {
        x->z = calloc(1, sizeof(*x->z));
        if (x->z == NULL || inflateInit2(x->z, bits) != Z_OK) {
            free(x->z);
            x->z = NULL;
            return -1; /* out of memory */
        }
    } else if (inflateReset2(x->z, bits) != Z_OK) {
        snprintf(x->decode_err, sizeof(x->decode_err), "inflate reset");
        return -1;
    }
    x->z_raw = raw;
    x->z_live = true;
    return 0;
}

/*
 * gzip/deflate body: inflate data into the body, never past
 * body_limit(). Output stops at the limit; one more byte (inflated into
 * a probe) means the body is over it: the size cap when that is the
 * limit, else the ratio cap, exact to the byte. 0, or -1 (flags set).
 */
static int body_inflate(struct xfer *x, const char *data, size_t n)
{
    size_t lim = body_limit(x);
    z_stream *z;
    bool first = x->raw == (curl_off_t)n; /* on_body counted this read */

    if (!x->z_live && body_zstart(x, false) != 0)
        return -1;
    if (x->z_end || n == 0)
        return 0; /* bytes after the stream's end: counted, ignored */
    z = x->z;
    z->next_in = (Bytef *)data;
    z->avail_in = (uInt)n;
    /* until the input is used up and inflate has no output pending */
    for (;;) {
        unsigned char probe;
        uInt room, in0 = z->avail_in;
        int rc;

        if (x->len < lim) {
            /* room for one more byte and the NUL */
            if (body_grow(x, x->len + 2, lim) != 0)
                return -1; /* out of memory */
            room =
                (uInt)(x->cap - 1 - x->len < lim - x->len ? x->cap - 1 - x->len
                                                          : lim - x->len);
            z->next_out = (Bytef *)x->buf + x->len;
        } else {
            room = 1;
            z->next_out = &probe;
        }
        z->avail_out = room;
        rc = inflate(z, Z_NO_FLUSH);
        if (x->len >= lim && z->avail_out == 0) {
            /* one byte past the limit */
            if (lim == x->f->max_body_bytes) {
                x->too_large = true;
            } else {
                x->ratio_hit = true;
                x->raw_at_hit = x->raw;
                x->decoded_at_hit = x->len + 1;
            }
            return -1;
        }
        if (x->len < lim)
            x->len += room - z->avail_out;
        x->buf[x->len] = '\0';
        if (rc == Z_STREAM_END) {
            x->z_end = true;
            return 0;
        }
        /* "deflate" is zlib-wrapped by the standard, raw by some
         * servers: a first read that is not zlib starts over raw. */
        if (rc == Z_DATA_ERROR && x->coding == CODING_DEFLATE && !x->z_raw &&
            first && z->total_out == 0) {
            if (body_zstart(x, true) != 0)
                return -1;
            z->next_in = (Bytef *)data;
            z->avail_in = (uInt)n;
            continue;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(x->decode_err, sizeof(x->decode_err), "%s",
                     z->msg ? z->msg : "bad data");
            return -1;
        }
        /* all input used and room left: nothing pending in zlib */
        if (z->avail_in == 0 && z->avail_out > 0)
            return 0;
        if (z->avail_in == in0 && z->avail_out == room) {
            snprintf(x->decode_err, sizeof(x->decode_err), "no progress");
            return -1;
        }
    }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;

    x->raw += (curl_off_t)n;
    switch (x->coding) {
    case CODING_IDENTITY:
        return body_plain(x, data, n);
    case CODING_GZIP:
    case CODING_DEFLATE:
        return body_inflate(x, data, n) == 0 ? n : 0;
    default:
        snprintf(x->decode_err, sizeof(x->decode_err),
                 "unsupported Content-Encoding \"%s\" (accepted: %s)",
                 x->coding_name, FETCH_CODINGS);
        return 0;
    }
}

/* Content-Encoding: a list of codings; identity entries are no coding,
 * and one gzip (x-gzip) or deflate is what we decode. Anything else, or
 * two codings stacked, is kept as unsupported (refused if a body comes). */
static void header_coding(struct xfer *x, const char *v, size_t n)
{
    size_t i = 0;

    x->coding = CODING_IDENTITY;
    while (i < n) {
        size_t j, k;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        for (j = i; j < n && v[j] != ',' && !isspace((unsigned char)v[j]);)
            j++;
        k = j - i;
        if (k == 0)
            break;
        if (k == 8 && strncasecmp(v + i, "identity", 8) == 0) {
            /* no coding */
        } else if (x->coding == CODING_IDENTITY &&
                   ((k == 4 && strncasecmp(v + i, "gzip", 4) == 0) ||
                    (k == 6 && strncasecmp(v + i, "x-gzip", 6) == 0))) {
            x->coding = CODING_GZIP;
        } else if (x->coding == CODING_IDENTITY && k == 7 &&
                   strncasecmp(v + i, "deflate", 7) == 0) {
            x->coding = CODING_DEFLATE;
        } else {
            size_t m, c = 0;

            x->coding = CODING_UNKNOWN;
            /* quoted in our error: token characters only, cut */
            for (m = 0; m < n && c + 1 < sizeof(x->coding_name); m++)
                if (isalnum((unsigned char)v[m]) || strchr("-_.,+ ", v[m]))
                    x->coding_name[c++] = v[m];
            x->coding_name[c] = '\0';
            return;
        }
        i = j;
    }
}

/* A header value without its leading blanks and trailing white space. */
static void header_trim(const char **v, size_t *n)
{
    while (*n > 0 && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n > 0 && isspace((unsigned char)(*v)[*n - 1]))
        (*n)--;
}

/* Copy of a header value with surrounding whitespace/CRLF removed. */
static char *header_value(const char *v, size_t n)
{
    char *s;

    header_trim(&v, &n);
    s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, v, n);
    s[n] = '\0';
    return s;
}

static bool header_is(const char *line, size_t n, const char *name,
                      const char **value, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return false;
    *value = line + k + 1;
    *vlen = n - k - 1;
    return true;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct xfer *x = userp;
    size_t n = size * nmemb;
    const char *v;
    size_t vn;
    char *s;

    /* A new status line starts a new response (redirect, 100-continue):
     * forget the previous one's headers. */
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        xfer_forget_response(x);
        x->retry_after_s = -1;
        x->date_raw[0] = '\0';
        x->coding = CODING_IDENTITY;
        x->z_live = x->z_end = false;
        x->raw = 0;
        return n;
    }
    if (header_is(line, n, "Content-Encoding", &v, &vn)) {
        header_trim(&v, &vn);
        header_coding(x, v, vn);
        return n;
    }
    if (header_is(line, n, "Content-Type", &v, &vn)) {
        free(x->content_type);
        x->content_type = header_value(v, vn);
    } else if (header_is(line, n, "ETag", &v, &vn)) {
        free(x->etag);
        x->etag = header_value(v, vn);
    } else if (header_is(line, n, "Last-Modified", &v, &vn)) {
        free(x->last_modified);
        x->last_modified = header_value(v, vn);
    } else if (header_is(line, n, "Date", &v, &vn)) {
        /* An HTTP-date is 29 characters: a longer value is none. */
        header_trim(&v, &vn);
        vn = vn < sizeof(x->date_raw) ? vn : 0;
        memcpy(x->date_raw, v, vn);
        x->date_raw[vn] = '\0';
    } else if (header_is(line, n, "Retry-After", &v, &vn)) {
        s = header_value(v, vn);
        if (s == NULL)
            return n;
        if (s[0] >= '0' && s[0] <= '9') {
            char *end;
            long secs = strtol(s, &end, 10);

            if (*end == '\0' && secs >= 0)
                x->retry_after_s = secs;
            free(s);
        } else {
            /* HTTP-date: resolved against Date: once all headers are in */
            free(x->retry_after_raw);
            x->retry_after_raw = s;
        }
    }
    return n;
}

/* --- completion ----------------------------------------------------------- */

static enum sf_errclass classify(CURLcode rc, bool too_large, bool ratio_hit,
                                 bool bad_coding)
{
    switch (rc) {
    case CURLE_OK:
        return SF_ERR_NONE;
    case CURLE_OPERATION_TIMEDOUT: /* connect, total and low-speed */
        return SF_ERR_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED:
        return SF_ERR_TOO_LARGE;
    case CURLE_WRITE_ERROR:
        if (ratio_hit)
            return SF_ERR_HOSTILE; /* a bomb, like an entity bomb */
        if (bad_coding)
            return SF_ERR_TRANSPORT; /* as curl's own decoder reported */
        return too_large ? SF_ERR_TOO_LARGE : SF_ERR_NOMEM;
    case CURLE_TOO_MANY_REDIRECTS:
        /* An answer, but only ever "go elsewhere": like a 3xx with
         * redirects off, which the adapters report as http. */
        return SF_ERR_HTTP;
    case CURLE_OUT_OF_MEMORY:
        return SF_ERR_NOMEM;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return SF_ERR_CONFIG;
    default:
        /* resolve/connect/reset/recv/send/TLS/bad reply: no usable answer */
        return SF_ERR_TRANSPORT;
    }
}

static long resolve_retry_after(const struct xfer *x)
{
    int64_t when, ref, date;

    if (x->retry_after_s >= 0 || x->retry_after_raw == NULL)
        return x->retry_after_s;
    if (clock_parse_http_date(x->retry_after_raw, &when) != 0)
        return -1;
    if (x->date_raw[0] == '\0' ||
        clock_parse_http_date(x->date_raw, &date) != 0)
        date = -1;
    /* Relative to the server's own Date: when given, so clock skew
     * between us and the server does not matter. */
    ref = date >= 0 ? date : (int64_t)time(NULL);
    return when > ref ? (long)(when - ref) : 0;
}

/*
 * The error of a failed transfer: where (host:port/path) and, for every
 * cap, which one and its value, so an operator can tell a slow upstream
 * from a small limit.
 */
static void fail_message(const struct xfer *x, CURLcode rc,
                         enum sf_errclass cls, const char *where, double total,
                         struct sf_error *err)
{
    const struct fetch *f = x->f;
    const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

    if (x->ratio_hit) {
        size_t raw = x->raw_at_hit > 0 ? (size_t)x->raw_at_hit : 1;

        /* rounded up: the check is exact, so decoded / raw is just over
         * the cap when the stop comes from the ratio, not the floor */
        sf_error_set(err, cls,
                     "%s: decompression ratio %zu:1 over cap "
                     "%ld:1 (%zu bytes decoded from %lld received)",
                     where, (x->decoded_at_hit + raw - 1) / raw, f->max_ratio,
                     x->decoded_at_hit, (long long)x->raw_at_hit);
        return;
    }
    if (x->decode_err[0] != '\0') {
        sf_error_set(err, cls, "%s: content decoding failed after %.0f ms: %s",
                     where, total * 1000.0, x->decode_err);
        return;
    }
    switch (rc) {
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        if (cls == SF_ERR_TOO_LARGE) {
            sf_error_set(err, cls,
                         "%s: response larger than %zu bytes "
                         "(size cap fetch.max_body_bytes)",
                         where, f->max_body_bytes);
            return;
        }
        break;
    case CURLE_OPERATION_TIMEDOUT:
        /* curl's own text tells the three apart (CONNECT_TIME cannot:
         * it is 0 on a reused connection). */
        if (strncmp(detail, "Connection timed out", 20) == 0 ||
            strncmp(detail, "Failed to connect", 17) == 0 ||
            strncmp(detail, "Resolving timed out", 19) == 0)
            sf_error_set(err, cls,
                         "%s: timed out after %.0f ms (connect "
                         "timeout %ld ms, fetch.connect_timeout_ms: %s)",
                         where, total * 1000.0, f->connect_timeout_ms, detail);
        else if (strncmp(detail, "Operation too slow", 18) == 0)
            sf_error_set(err, cls,
                         "%s: timed out after %.0f ms (low-speed "
                         "limit %ld B/s: %s)",
                         where, total * 1000.0, FETCH_LOW_SPEED_BPS, detail);
        else
            sf_error_set(err, cls,
                         "%s: timed out after %.0f ms (total "
                         "timeout %ld ms, fetch.timeout_ms: %s)",
                         where, total * 1000.0, f->timeout_ms, detail);
        return;
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
        /* curl's own text names the local file (booking.tls.*), and this
         * message becomes the clinic's public error: no local paths. */
        sf_error_set(err, cls,
                     "%s: %s after %.0f ms (a booking.tls file "
                     "of this clinic)",
                     where, curl_easy_strerror(rc), total * 1000.0);
        return;
    case CURLE_TOO_MANY_REDIRECTS:
        sf_error_set(err, cls,
                     "%s: more than %ld redirects (redirect cap "
                     "max_redirects) after %.0f ms",
                     where, f->max_redirects, total * 1000.0);
        return;
    default:
        break;
    }
    sf_error_set(err, cls, "%s: %s after %.0f ms (%s)", where,
                 curl_easy_strerror(rc), total * 1000.0, detail);
}

/* Hand x's outcome to its owner, then free x. */
static void xfer_finish(struct xfer *x, CURLcode rc)
{
    struct fetch_result res;
    char where[256];
    double total = 0;
    curl_off_t wire = 0;
    fetch_done_fn done = x->done;
    void *arg = x->arg;

    memset(&res, 0, sizeof(res));
    sf_error_clear(&res.err);
    res.retry_after_s = -1;
    curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &total);
    curl_easy_getinfo(x->easy, CURLINFO_SIZE_DOWNLOAD_T, &wire);
    res.total_time_s = total;
    res.received = x->len;
    res.wire_bytes = (long long)wire;
    /* A compressed body cut short decodes to a prefix: no answer. */
    if (rc == CURLE_OK && x->raw > 0 && !x->z_end &&
        (x->coding == CODING_GZIP || x->coding == CODING_DEFLATE)) {
        snprintf(x->decode_err, sizeof(x->decode_err),
                 "compressed body ends early");
        rc = CURLE_BAD_CONTENT_ENCODING;
    }
    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.http_status);
        res.body = x->buf ? x->buf : "";
        res.len = x->len;
        res.content_type = x->content_type;
        res.etag = x->etag;
        res.last_modified = x->last_modified;
        res.retry_after_s = resolve_retry_after(x);
    } else {
        enum sf_errclass cls =
            classify(rc, x->too_large, x->ratio_hit, x->decode_err[0] != '\0');

        url_where(x->url, where, sizeof(where));
        fail_message(x, rc, cls, where, total, &res.err);
        res.body = "";
    }
    xfer_unlink(x);
    /* res borrows x's buffers: recycle only after the callback. */
    done(&res, arg);
    xfer_recycle(x);
}

static void drain_done(struct fetch *f)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
        struct xfer *x = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        if (x == NULL)
            continue;
        xfer_finish(x, msg->data.result);
    }
}

/* --- the libevent <-> curl cycle --------------------------------------- */

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running = 0;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
                 (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(f->multi, fd, action, &running);
    drain_done(f);
    if (running == 0 && f->nxfers == 0)
        evtimer_del(f->timer);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(f);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arm or disarm our timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct fetch *f = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(f->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return evtimer_add(f->timer, &tv) == 0 ? 0 : -1;
}

static void sockev_free(struct sockev *s)
{
    struct fetch *f = s->f;

    if (s->prev)
        s->prev->next = s->next;
    else
        f->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->ev)
        event_free(s->ev);
    free(s);
}

/* CURLMOPT_SOCKETFUNCTION: one persistent event per socket. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp)
{
    struct fetch *f = userp;
    struct sockev *s = socketp;
    short kind;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(f->multi, fd, NULL);
            sockev_free(s);
        }
        return 0;
    }
    kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
           (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->f = f;
        s->fd = fd;
        s->next = f->socks;
        if (f->socks)
            f->socks->prev = s;
        f->socks = s;
        curl_multi_assign(f->multi, fd, s);
    } else if (s->ev) {
        event_free(s->ev);
        s->ev = NULL;
    }
    s->ev = event_new(f->base, fd, kind, on_socket_ready, f);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0)
        return -1;
    return 0;
}

/* --- public ---------------------------------------------------------------- */

struct fetch *fetch_new(struct event_base *base, const struct fetch_opts *opts,
                        struct sf_error *err)
{
    struct fetch *f = NULL;
    const char *ua = opts && opts->user_agent ? opts->user_agent : FETCH_DEF_UA;

    if (base == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "fetch: no event base");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        sf_error_set(err, SF_ERR_INTERNAL, "fetch: curl_global_init failed");
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        goto nomem;
    f->base = base;
    f->connect_timeout_ms = opts && opts->connect_timeout_ms > 0
                                ? opts->connect_timeout_ms
                                : FETCH_DEF_CONNECT_MS;
    f->timeout_ms =
        opts && opts->timeout_ms > 0 ? opts->timeout_ms : FETCH_DEF_TIMEOUT_MS;
    f->max_body_bytes = opts && opts->max_body_bytes > 0 ? opts->max_body_bytes
                                                         : FETCH_DEF_MAX_BODY;
    f->max_redirects =
        opts && opts->max_redirects > 0 ? opts->max_redirects : 0;
    f->max_ratio = opts && opts->max_decompress_ratio > 0
                       ? opts->max_decompress_ratio
                       : FETCH_DEF_DECOMPRESS_RATIO;
    f->user_agent = strdup(ua);
    if (f->user_agent == NULL)
        goto nomem;
    if (opts && opts->ca_file) {
        f->ca_file = strdup(opts->ca_file);
        if (f->ca_file == NULL)
            goto nomem;
    }
    f->multi = curl_multi_init();
    f->timer = evtimer_new(base, on_timeout, f);
    if (f->multi == NULL || f->timer == NULL)
        goto nomem;
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, FETCH_MAX_CONNECTS);
    return f;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "fetch: out of memory");
    fetch_free(f);
    if (f == NULL)
        curl_global_cleanup();
    return NULL;
}

static void on_deferred_fail(evutil_socket_t fd, short what, void *arg)
{
    struct xfer *x = arg;
    struct fetch_result res;
    fetch_done_fn done = x->done;
    void *cbarg = x->arg;

    (void)fd;
    (void)what;
    memset(&res, 0, sizeof(res));
    res.err = x->defer_err;
    res.body = "";
    res.retry_after_s = -1;
    xfer_unlink(x);
    xfer_destroy(x);
    done(&res, cbarg);
}

/*
 * curl refused the transfer before it started: report it through the
 * loop like any other failure, so done never runs inside fetch_start.
 */
static int defer_failure(struct xfer *x, enum sf_errclass cls, const char *what,
                         struct sf_error *err)
{
    struct timeval zero = { 0, 0 };
    char where[256];

    url_where(x->url, where, sizeof(where));
    sf_error_set(&x->defer_err, cls, "%s: %s", where, what);
    if (x->easy) {
        curl_multi_remove_handle(x->f->multi, x->easy);
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    x->defer = evtimer_new(x->f->base, on_deferred_fail, x);
    if (x->defer == NULL || evtimer_add(x->defer, &zero) != 0) {
        sf_error_set(err, SF_ERR_NOMEM, "%s: cannot schedule failure", where);
        xfer_unlink(x);
        xfer_destroy(x);
        return -1;
    }
    return 0;
}

/* fetch_start: the request's header lines, each checked to be one line.
 * 0, or -1 with err set; the caller destroys x either way on failure. */
static int xfer_headers(struct xfer *x, const struct adapter_request *req,
                        struct sf_error *err)
{
    char line[600];
    struct curl_slist *h;
    size_t i;

    if (req->body && req->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        h = curl_slist_append(x->headers, line);
        if (h == NULL)
            goto nomem;
        x->headers = h;
    }
    if (req->soap_action) {
        snprintf(line, sizeof(line), "SOAPAction: \"%s\"", req->soap_action);
        h = curl_slist_append(x->headers, line);
        if (h == NULL)
            goto nomem;
        x->headers = h;
    }
    for (i = 0; i < ADAPTER_MAX_HEADERS && req->headers[i] != NULL; i++) {
        const char *hl = req->headers[i];

        /* One line each: a CR/LF would let a header smuggle another. */
        if (strpbrk(hl, "\r\n") != NULL || strchr(hl, ':') == NULL ||
            hl[0] == ':') {
            sf_error_set(err, SF_ERR_CONFIG,
                         "fetch %s: malformed request "
                         "header %zu",
                         req->label ? req->label : "request", i);
            return -1;
        }
        h = curl_slist_append(x->headers, hl);
        if (h == NULL)
            goto nomem;
        x->headers = h;
    }
    /* No "Expect: 100-continue" round trip for POST bodies. */
    h = curl_slist_append(x->headers, "Expect:");
    if (h == NULL)
        goto nomem;
    x->headers = h;
    return 0;

nomem:
    sf_error_set(err, SF_ERR_NOMEM, "fetch %s: out of memory",
                 req->label ? req->label : "request");
    return -1;
}

/* fetch_start: every curl option of one transfer; the first that fails
 * stops the rest and is returned. */
static CURLcode xfer_setopts(const struct fetch *f, struct xfer *x,
                             const struct adapter_request *req)
{
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                 \
    do {                                              \
        if (rc == CURLE_OK)                           \
            rc = curl_easy_setopt(x->easy, opt, val); \
    } while (0)
    SET(CURLOPT_URL, x->url);
    SET(CURLOPT_PRIVATE, x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_CONNECTTIMEOUT_MS, f->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, f->timeout_ms);
    SET(CURLOPT_LOW_SPEED_LIMIT, FETCH_LOW_SPEED_BPS);
    SET(CURLOPT_LOW_SPEED_TIME,
        f->timeout_ms >= 2000 ? f->timeout_ms / 2000 : 1L);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->max_body_bytes);
    /* Accept-Encoding sent, decoding ours (on_body): the ratio cap
     * counts the encoded bytes exactly. */
    SET(CURLOPT_ACCEPT_ENCODING, FETCH_CODINGS);
    SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SET(CURLOPT_BUFFERSIZE, FETCH_RECV_BUF);
    SET(CURLOPT_USERAGENT, f->user_agent);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_HTTPHEADER, x->headers);
    if (f->max_redirects > 0) {
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, f->max_redirects);
    } else {
        SET(CURLOPT_FOLLOWLOCATION, 0L);
    }
    /* The request's CA (mutual TLS per clinic) wins over fetch's. libcurl
     * copies string options, so req may go away after this call. */
    if (req->tls_ca)
        SET(CURLOPT_CAINFO, req->tls_ca);
    else if (f->ca_file)
        SET(CURLOPT_CAINFO, f->ca_file);
    if (req->tls_cert) {
        SET(CURLOPT_SSLCERT, req->tls_cert);
        SET(CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (req->tls_key) {
        SET(CURLOPT_SSLKEY, req->tls_key);
        SET(CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (x->has_post) {
        SET(CURLOPT_POSTFIELDS, x->post);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
#undef SET
    return rc;
}

int fetch_start(struct fetch *f, const struct adapter_request *req,
                fetch_done_fn done, void *arg, struct sf_error *err)
{
    struct xfer *x;
    char line[600];
    CURLcode rc;
    CURLMcode mrc;

    if (f == NULL || req == NULL || req->url == NULL || done == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "fetch_start: missing argument");
        return -1;
    }
    x = xfer_take(f);
    if (x == NULL)
        goto nomem;
    x->f = f;
    x->done = done;
    x->arg = arg;
    x->retry_after_s = -1;
    x->date_raw[0] = '\0';
    if (keep_copy(&x->url, &x->url_cap, req->url, strlen(req->url)) != 0)
        goto nomem;
    if (req->body) {
        if (keep_copy(&x->post, &x->post_cap, req->body, req->body_len) != 0)
            goto nomem;
        x->has_post = true;
    }
    /* Linked before anything can fail later, so fetch_free sees it. */
    x->next = f->xfers;
    if (f->xfers)
        f->xfers->prev = x;
    f->xfers = x;
    f->nxfers++;

    /* The configuration's own check (url.h): a URL it would refuse is
     * refused here too, whoever made it (an upstream's link). */
    if (url_check(x->url, 0, line, sizeof(line)) != 0)
        return defer_failure(x, SF_ERR_CONFIG, line, err);
    if (x->easy == NULL)
        x->easy = curl_easy_init();
    if (x->easy == NULL)
        return defer_failure(x, SF_ERR_NOMEM, "curl_easy_init failed", err);

    if (xfer_headers(x, req, err) != 0) {
        xfer_unlink(x);
        xfer_destroy(x);
        return -1;
    }

    rc = xfer_setopts(f, x, req);
    if (rc != CURLE_OK)
        return defer_failure(x, classify(rc, false, false, false),
                             curl_easy_strerror(rc), err);
    mrc = curl_multi_add_handle(f->multi, x->easy);
    if (mrc != CURLM_OK)
        return defer_failure(x, SF_ERR_INTERNAL, curl_multi_strerror(mrc), err);
    /* curl arms our timer (0 ms) from add_handle; the loop starts it. */
    return 0;

nomem:
    if (x)
        xfer_destroy(x);
    sf_error_set(err, SF_ERR_NOMEM, "fetch %s: out of memory",
                 req->label ? req->label : "request");
    return -1;
}

void fetch_set_max_decompress_ratio(struct fetch *f, long ratio)
{
    if (f != NULL)
        f->max_ratio = ratio > 0 ? ratio : FETCH_DEF_DECOMPRESS_RATIO;
}

size_t fetch_active(const struct fetch *f)
{
    return f ? f->nxfers : 0;
}

void fetch_free(struct fetch *f)
{
    if (f == NULL)
        return;
    while (f->xfers) {
        struct xfer *x = f->xfers;

        xfer_unlink(x);
        xfer_destroy(x);
    }
    while (f->idle) {
        struct xfer *x = f->idle;

        f->idle = x->next;
        xfer_destroy(x);
    }
    /* Closing the connection cache reports CURL_POLL_REMOVE for its
     * sockets, which frees their events; f must still be whole here. */
    if (f->multi)
        curl_multi_cleanup(f->multi);
    while (f->socks)
        sockev_free(f->socks);
    if (f->timer)
        event_free(f->timer);
    free(f->user_agent);
    free(f->ca_file);
    free(f);
    curl_global_cleanup();
}

void fetch_opts_from_region(struct fetch_opts *fo, const struct conf_region *r)
{
    memset(fo, 0, sizeof(*fo));
    fo->connect_timeout_ms = r->connect_timeout_ms;
    fo->timeout_ms = r->timeout_ms;
    fo->max_body_bytes = (size_t)r->max_body_bytes;
    fo->user_agent = r->user_agent;
    fo->max_decompress_ratio = r->max_decompress_ratio;
}
