/*
 * http.c - the public HTTP server: evhttp on the collector's event base.
 *
 * Every request goes through one generic callback with a strict path
 * parser (no evhttp_set_cb prefix magic) and ends in exactly one
 * evhttp_send_reply, counted in metrics. Feed bytes are served as the
 * snapshot holds them (plain or pre-gzipped), by reference
 * (evbuffer_add_reference), with the snapshot's reference count held until
 * libevent has written or dropped them; filtered documents come from a
 * per-snapshot cache (api.c) and are held the same way. Conditional GET
 * (If-None-Match, else If-Modified-Since) answers 304. Everything else
 * gets an RFC 9457 problem body. Requests libevent itself refuses before
 * our callback (malformed request line, headers over HTTP_MAX_HEADERS,
 * body over HTTP_MAX_BODY, unknown method names) get libevent's own short
 * HTML error page.
 *
 * Connections are counted from accept. libevent 2.1.12 has no hook for
 * "connection accepted" (evhttp_set_newreqcb is 2.2), so we install a
 * bufferevent factory (evhttp_set_bevcb) that returns a plain socket
 * bufferevent - exactly what evhttp would make itself, no filter - and
 * notes it. evhttp builds the connection around it synchronously in the
 * same accept callback, so an event we activate there runs before any
 * read on it and finds the evhttp_connection as the bufferevent's
 * callback argument (http.c 2.1.12, evhttp_connection_base_bufferevent_
 * new; we check that evhttp_connection_get_bufferevent() agrees). From
 * then on the close callback tells us when it goes.
 *
 * Connection cap: libevent 2.1 has none. At the cap the listener is
 * disabled (evconnlistener_disable; the accept loop stops at once), so
 * further clients wait in the kernel's accept queue, and re-enabled when
 * one closes.
 *
 * Request deadline (slowloris): evhttp's 15 s idle timeout restarts with
 * every byte, so a client dripping a header byte every few seconds would
 * hold its connection forever. Each connection therefore carries the
 * time its current request started (accept, or the end of the previous
 * reply on a kept-alive connection: evhttp_request_set_on_complete_cb);
 * the stamp is cleared while we answer (gencb). A coarse sweeper timer
 * frees every connection whose stamp is older than the deadline, from
 * its own callback, never from inside one of that connection's.
  */
#include "slotfeed/http.h"
#include "slotfeed/http_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* major/minor: no getter in 2.1 */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <sqlite3.h>

#include "slotfeed/api.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/http_framing.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"
#include "slotfeed/nearest.h"
#include "slotfeed/overview.h"
#include "slotfeed/page.h"
#include "slotfeed/report.h"
#include "slotfeed/reportq.h"
#include "slotfeed/smartpub.h"
#include "slotfeed/web.h"

#define HTTP_MAX_HEADERS 8192    /* request line + headers */
#define HTTP_MAX_BODY 1024       /* we take no bodies; be strict */
#define HTTP_MAX_URI 2048        /* longer -> 414 */
#define HTTP_TIMEOUT_S 15        /* idle read/write timeout */
#define HTTP_ACCEPT_RETRY_MS 200 /* listener pause after accept failed */
#define HTTP_DEFAULT_MAX_AGE 30
#define HTTP_RETRY_AFTER "5"        /* seconds, on 503 while starting */
#define HTTP_REPORT_RETRY_AFTER "2" /* seconds, on 503 at the report cap */
#define HTTP_STATIC_MAX_AGE "public, max-age=300"
#define HTTP_CACHE_ENTRIES 64 /* filtered docs kept per snapshot */
#define HTTP_HOST_MAX 255
#define HTTP_SWEEP_MAX_MS 1000 /* sweeper period: deadline/4, capped */
#define HTTP_FD_RESERVE 64     /* fds kept for SQLite, curl, logs */

#define CT_JSON "application/json; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"
#define CT_PROBLEM "application/problem+json"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* One open connection: since_ms = start of the request being read
 * (monotonic ms), 0 while we answer one. */
struct conn {
    struct evhttp_connection *evcon; /* NULL = free slot */
    int64_t since_ms;
    int close_after; /* refused framing: close after the reply */
};

/* Open connections: accepted and not closed yet. */
struct conn_set {
    struct conn *v; /* cap slots (power of two > 2 * max) */
    size_t cap, n, max;
};

struct report_wait;

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    enum http_role role;
    char self_base[HTTP_HOST_MAX + 16]; /* "http://HOST:PORT" as bound */
    int max_age_s;
    http_snapshot_fn get;
    void *arg;
    struct conn_set conns;
    struct bufferevent **pend; /* accepted, connection not adopted yet; */
    size_t npend;              /* each holds a bufferevent reference */
    struct event *adopt_ev;    /* activated on accept */
    struct event *sweep_ev;    /* request deadline sweeper */
    struct event *close_ev;    /* closes close_after connections */
    int64_t deadline_ms;
    int sweep_ms;
    int paused;               /* listener disabled at the cap */
    int backoff;              /* listener disabled after accept failed */
    struct event *retry_ev;   /* ends the backoff */
    struct http_server *next; /* all servers (see on_accept_error) */
    int closing;              /* in http_free: the listener is gone */
    struct api_cache *cache;
    struct http_streams *streams;      /* replies inflated as they go */
    struct api_cache *pages;           /* the rendered patient page "/" */
    struct api_cache *overview;        /* the filled "/overview" */
    const struct geo_table *geo;       /* borrowed from opts */
    char (*asset_etags)[DOC_ETAG_LEN]; /* parallel to web_assets[] */
    struct doc *asset_gz;              /* their gzip forms, made at start (json
                                 * NULL: not worth it or no memory) */
    size_t nassets;
    struct reportq *reports; /* started with the first report request */
    struct reportq_opts report_opts;
    struct report_wait *waits; /* requests whose report is computing */
    char cache_control[48];    /* "public, max-age=N", made once */
    int64_t lm_at;             /* the time lm_text shows (0 = none yet) */
    char lm_text[CLOCK_HTTP_DATE_LEN];
};

/* One request being answered. */
struct rq {
    struct http_server *s;
    struct evhttp_request *req;
    enum metrics_route route;
    int64_t t0_us;    /* monotonic us the request arrived */
    const char *vary; /* Vary of a served doc; NULL = encoding */
};

/* --- replies ------------------------------------------------------------- */

static void set_header(struct evhttp_request *req, const char *k, const char *v)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_remove_header(h, k);
    evhttp_add_header(h, k, v);
}

/* A header this reply has not set yet: no search for an old one (each
 * evhttp_remove_header is a case-insensitive scan of the list). */
static void add_header(struct evhttp_request *req, const char *k, const char *v)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), k, v);
}

/*
 * Write the reply evhttp has just queued on bev now, instead of waiting
 * for the next loop round's EPOLLOUT, and when all of it went out tell
 * evhttp so at once (its write callback ends the request and starts
 * reading the next one). With the epoll changelist (app_base_new) the
 * read-off/write-on/write-off/read-on of one request then cancel out:
 * no epoll_ctl and no extra epoll_wait per request (docs/performance.md).
 * A short write (socket buffer full) or an error is left to the
 * bufferevent as before. The output's front is frozen for everyone but
 * the bufferevent itself, hence the unfreeze around the write; the
 * reference keeps bev's memory valid should evhttp free the connection
 * inside the callback.
 */
static void write_now(struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    evutil_socket_t fd = bufferevent_getfd(bev);
    int rc;

    if (fd < 0 || evbuffer_get_length(out) == 0)
        return;
    evbuffer_unfreeze(out, 1);
    rc = evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    if (rc < 0 || evbuffer_get_length(out) > 0)
        return;
    bufferevent_incref(bev);
    bufferevent_trigger(bev, EV_WRITE, 0);
    bufferevent_decref(bev);
}

/*
 * The one place every reply leaves through. buf may be NULL. q->req is
 * gone when this returns (write_now may complete the request).
 *
 * libevent writes at most 16 KiB per write callback by default, so the
 * ~25 KB feed took two writev calls and an extra loop round per reply.
 * Lifting the limit makes it one writev: plain 200 went from 0.64x to
 * about 1x nginx on loopback (docs/performance.md, bench/http_bench.sh).
 */
static void finish(struct rq *q, int status, const char *reason,
                   struct evbuffer *buf)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(q->req);
    struct bufferevent *bev = NULL;

    if (conn != NULL) {
        bev = evhttp_connection_get_bufferevent(conn);
        bufferevent_set_max_single_write(bev, 1 << 20);
    }
    add_header(q->req, "Access-Control-Allow-Origin", "*");
    evhttp_send_reply(q->req, status, reason, buf);
    metrics_http(q->route, status, (double)(clock_mono_us() - q->t0_us) / 1e6);
    if (bev != NULL)
        write_now(bev);
}

/*
 * Send `len` bytes of `body` (copied) with status/reason. For HEAD the body
 * is left out but its Content-Length kept: libevent 2.1 would otherwise
 * write the body after the headers of a HEAD reply.
 */
static void send_copy(struct rq *q, int status, const char *reason,
                      const char *body, size_t len)
{
    struct evbuffer *buf = NULL;
    char clen[32];

    if (evhttp_request_get_command(q->req) == EVHTTP_REQ_HEAD) {
        snprintf(clen, sizeof(clen), "%zu", len);
        set_header(q->req, "Content-Length", clen);
    } else if ((buf = evbuffer_new()) != NULL) {
        evbuffer_add(buf, body, len);
    }
    finish(q, status, reason, buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

/*
 * Send bytes by reference: cleanup(data, len, arg) runs when libevent is
 * done with them (also when they could not be queued, in which case they
 * are copied first). HEAD sends only the length.
 */
static void send_ref(struct rq *q, int status, const char *data, size_t len,
                     evbuffer_ref_cleanup_cb cleanup, void *arg)
{
    struct evbuffer *buf;

    if (evhttp_request_get_command(q->req) == EVHTTP_REQ_HEAD ||
        (buf = evbuffer_new()) == NULL) {
        send_copy(q, status, "OK", data, len);
        if (cleanup != NULL)
            cleanup(data, len, arg);
        return;
    }
    if (evbuffer_add_reference(buf, data, len, cleanup, arg) != 0) {
        evbuffer_add(buf, data, len);
        if (cleanup != NULL)
            cleanup(data, len, arg);
    }
    finish(q, status, "OK", buf);
    evbuffer_free(buf);
}

/*
 * Send a document kept as pieces (doc.h) by reference, without copying
 * them together: cleanup(NULL, 0, arg) runs once libevent is done with
 * the last piece (chains are freed in order, so with all of them).
 */
static void send_segs(struct rq *q, const struct doc *d, bool copy,
                      evbuffer_ref_cleanup_cb cleanup, void *arg)
{
    struct evbuffer *buf;
    size_t i, last = d->nseg;
    int held = 0;

    if (evhttp_request_get_command(q->req) == EVHTTP_REQ_HEAD) {
        send_copy(q, 200, "OK", NULL, d->len); /* length only */
        cleanup(NULL, 0, arg);
        return;
    }
    if ((buf = evbuffer_new()) == NULL) {
        finish(q, 503, "Service Unavailable", NULL);
        cleanup(NULL, 0, arg);
        return;
    }
    while (last > 0 && d->segs[last - 1].len == 0)
        last--;
    if (copy)
        evbuffer_expand(buf, d->len); /* one chain for all the pieces */
    for (i = 0; i < last; i++) {
        int rc;

        if (d->segs[i].len == 0)
            continue;
        if (copy) {
            evbuffer_add(buf, d->segs[i].p, d->segs[i].len);
            continue;
        }
        rc = evbuffer_add_reference(buf, d->segs[i].p, d->segs[i].len,
                                    i + 1 == last ? cleanup : NULL,
                                    i + 1 == last ? arg : NULL);
        if (rc != 0) {
            evbuffer_add(buf, d->segs[i].p, d->segs[i].len);
        } else if (i + 1 == last) {
            held = 1;
        }
    }
    finish(q, 200, "OK", buf);
    evbuffer_free(buf);
    if (!held)
        cleanup(NULL, 0, arg);
}

/*
 * Send a document kept only compressed to a client that does not take
 * gzip, or one of many pieces: inflated or copied a bounded piece at a
 * time as the client reads (http_stream.h). HEAD sends only the length.
 */
static void send_streamed(struct rq *q, const struct doc *d,
                          evbuffer_ref_cleanup_cb cleanup, void *arg)
{
    if (evhttp_request_get_command(q->req) == EVHTTP_REQ_HEAD) {
        send_copy(q, 200, "OK", NULL, d->len); /* length only */
        cleanup(NULL, 0, arg);
        return;
    }
    add_header(q->req, "Access-Control-Allow-Origin", "*");
    if (http_stream_start(q->s->streams, q->req, d, cleanup, arg) != 0) {
        evhttp_remove_header(evhttp_request_get_output_headers(q->req),
                             "Access-Control-Allow-Origin"); /* finish's */
        finish(q, 503, "Service Unavailable", NULL);
        return;
    }
    /* Counted when the head is out, as finish counts a whole reply. */
    metrics_http(q->route, 200, (double)(clock_mono_us() - q->t0_us) / 1e6);
}

/*
 * The one writer of RFC 9457 problem bodies (every route's, the reports'
 * too): a new string (free()), or NULL when out of memory. detail may be
 * NULL.
 */
static char *problem_text(int status, const char *title, const char *detail)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o != NULL && cJSON_AddStringToObject(o, "type", "about:blank") &&
        cJSON_AddStringToObject(o, "title", title) &&
        cJSON_AddNumberToObject(o, "status", status) &&
        (detail == NULL ? cJSON_AddNullToObject(o, "detail")
                        : cJSON_AddStringToObject(o, "detail", detail)))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* RFC 9457 problem details; detail may be NULL. */
static void send_problem(struct rq *q, int status, const char *title,
                         const char *detail)
{
    char *text = problem_text(status, title, detail);

    set_header(q->req, "Content-Type", CT_PROBLEM);
    set_header(q->req, "Cache-Control", "no-store");
    if (text == NULL) {
        /* Out of memory: still exactly one reply, just without a body. */
        send_copy(q, status, title, "", 0);
        return;
    }
    send_copy(q, status, title, text, strlen(text));
    free(text);
}

/* --- conditional GET ----------------------------------------------------- */

/*
 * Does one If-None-Match field value match our strong `etag`? The value is
 * "*" or a comma list of entity tags, each maybe W/-prefixed; RFC 9110
 * §13.1.2 asks for the weak comparison, i.e. W/ is ignored. A malformed
 * list stops matching at the first bad element (-> full 200 reply, the
 * safe answer).
 */
static int inm_matches(const char *v, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = v, *q;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return 0;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (*p != '"' || (q = strchr(p + 1, '"')) == NULL)
            return 0;
        if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
            return 1;
        p = q + 1;
    }
}

/*
 * The request headers conditional GET and content coding look at, found
 * in one pass over the list (they were three to four evhttp_find_header
 * scans per request). Pointers into the request's own header list.
 */
struct cond_hdrs {
    const char *inm, *ims, *ae; /* first line of each, NULL = none */
    int ninm, nae;              /* lines of If-None-Match, A-E */
};

static void cond_scan(struct evhttp_request *req, struct cond_hdrs *c)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;

    memset(c, 0, sizeof(*c));
    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "If-None-Match") == 0) {
            if (c->ninm++ == 0)
                c->inm = kv->value;
        } else if (strcasecmp(kv->key, "Accept-Encoding") == 0) {
            if (c->nae++ == 0)
                c->ae = kv->value;
        } else if (c->ims == NULL &&
                   strcasecmp(kv->key, "If-Modified-Since") == 0) {
            c->ims = kv->value;
        }
    }
}

/* Every If-None-Match header line counts (a list may be split). */
static int not_modified(struct evhttp_request *req, const struct cond_hdrs *c,
                        const char *etag)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;

    if (c->ninm == 1)
        return inm_matches(c->inm, etag);
    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        if (strcasecmp(kv->key, "If-None-Match") == 0 &&
            inm_matches(kv->value, etag))
            return 1;
    return 0;
}

/*
 * Conditional GET per RFC 9110 §13.2.2: If-None-Match decides when sent;
 * otherwise If-Modified-Since against Last-Modified (lm 0 = none).
 */
static int cond_not_modified(struct evhttp_request *req,
                             const struct cond_hdrs *c, const char *etag,
                             int64_t lm)
{
    int64_t t;

    if (c->ninm > 0)
        return not_modified(req, c, etag);
    return lm > 0 && c->ims != NULL && clock_parse_http_date(c->ims, &t) == 0 &&
           lm <= t;
}

static int is_not_modified(struct evhttp_request *req, const char *etag,
                           int64_t lm)
{
    struct cond_hdrs c;

    cond_scan(req, &c);
    return cond_not_modified(req, &c, etag, lm);
}

/* Every Accept-Encoding line counts (a list may be split over lines). */
static int cond_gzip(struct evhttp_request *req, const struct cond_hdrs *c)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    char joined[1024];
    size_t len = 0;

    if (c->nae <= 1)
        return api_accepts_gzip(c->ae != NULL ? c->ae : "");
    joined[0] = '\0';
    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        if (strcasecmp(kv->key, "Accept-Encoding") == 0) {
            int n = snprintf(joined + len, sizeof(joined) - len, "%s%s",
                             len ? "," : "", kv->value);
            if (n < 0 || (size_t)n >= sizeof(joined) - len)
                break; /* absurdly long: use what fits */
            len += (size_t)n;
        }
    return api_accepts_gzip(joined);
}

static int wants_gzip(struct evhttp_request *req)
{
    struct cond_hdrs c;

    cond_scan(req, &c);
    return cond_gzip(req, &c);
}

/* Last-Modified text for lm, formatted once per distinct time (it is the
 * snapshot's changed_at for nearly every request). */
static const char *last_modified(struct http_server *s, int64_t lm)
{
    if (lm != s->lm_at) {
        clock_format_http_date(lm, s->lm_text);
        s->lm_at = lm;
    }
    return s->lm_text;
}

/* --- serving a feed document --------------------------------------------- */

/* evbuffer cleanup: libevent is done with the snapshot's bytes. */
static void on_bytes_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    feed_snapshot_unref(arg);
}

static void on_entry_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    api_entry_unref(arg);
}

/*
 * Reply with doc (or gz, when the client takes gzip and gz is not NULL),
 * validators and caching headers. holder/cleanup keep the bytes alive:
 * the caller has taken one reference for this reply, released here in
 * every case.
 */
static void serve_doc(struct rq *q, const struct doc *doc, const struct doc *gz,
                      int64_t last_mod, const char *content_type,
                      evbuffer_ref_cleanup_cb cleanup, void *holder)
{
    const struct doc *d = doc;
    struct cond_hdrs c;
    bool many;

    /* The reply's first headers: none is set yet (add_header). */
    cond_scan(q->req, &c);
    if (gz != NULL && (gz->json != NULL || gz->segs != NULL) &&
        cond_gzip(q->req, &c))
        d = gz;
    add_header(q->req, "ETag", d->etag);
    add_header(q->req, "Cache-Control", q->s->cache_control);
    add_header(q->req, "Access-Control-Expose-Headers", "ETag, Last-Modified");
    if (gz != NULL)
        add_header(q->req, "Vary",
                   q->vary != NULL ? q->vary : "Accept-Encoding");
    if (last_mod > 0)
        add_header(q->req, "Last-Modified", last_modified(q->s, last_mod));
    if (cond_not_modified(q->req, &c, d->etag, last_mod)) {
        /* 304: validators and caching headers, no body, no type. */
        finish(q, 304, "Not Modified", NULL);
        cleanup(NULL, 0, holder);
        return;
    }
    add_header(q->req, "Content-Type", content_type);
    if (d == gz)
        add_header(q->req, "Content-Encoding", "gzip");
    /* Pieces by reference cost libevent a 1 KB chain each: all.json and
     * the SMART files, a piece per clinic, are copied as they go out, in
     * one go when they fit one stream piece (a region's 28 KB feed: the
     * stream's per-reply machinery halved its req/s against nginx). */
    many = d->segs != NULL && d->nseg > HTTP_SEGS_REF_MAX;
    if (many && d->len <= HTTP_STREAM_PIECE)
        send_segs(q, d, true, cleanup, holder);
    else if (many || d->zsrc != NULL)
        send_streamed(q, d, cleanup, holder);
    else if (d->segs != NULL)
        send_segs(q, d, false, cleanup, holder);
    else
        send_ref(q, 200, d->json, d->len, cleanup, holder);
}

/* A snapshot doc: hold the snapshot for the reply. */
static void serve_snap_doc(struct rq *q, const struct feed_snapshot *snap,
                           const struct doc *doc, const struct doc *gz,
                           int64_t last_mod, const char *ct)
{
    /* The reference count is the one mutable part of a snapshot; the
     * snapshot itself was malloc'd by feed_build, so this is sound. */
    struct feed_snapshot *mut = (struct feed_snapshot *)snap;

    feed_snapshot_ref(mut);
    serve_doc(q, doc, gz, last_mod, ct, on_bytes_done, mut);
}

/* A document made for this request only (copied out, then freed). */
static void serve_own_doc(struct rq *q, struct doc *doc, int64_t lm)
{
    set_header(q->req, "ETag", doc->etag);
    set_header(q->req, "Cache-Control", q->s->cache_control);
    set_header(q->req, "Access-Control-Expose-Headers", "ETag, Last-Modified");
    if (lm > 0)
        set_header(q->req, "Last-Modified", last_modified(q->s, lm));
    if (is_not_modified(q->req, doc->etag, lm)) {
        finish(q, 304, "Not Modified", NULL);
    } else {
        set_header(q->req, "Content-Type", CT_JSON);
        send_copy(q, 200, "OK", doc->json, doc->len);
    }
    free(doc->json);
    doc->json = NULL;
}

static void serve_health(struct rq *q, const struct feed_snapshot *snap)
{
    char ts[CLOCK_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    int ok = snap != NULL;

    if (o == NULL)
        goto out;
    if (ok) {
        clock_format_rfc3339(snap->generated_at, ts);
        if (!cJSON_AddStringToObject(o, "status", "ok") ||
            !cJSON_AddStringToObject(o, "feed_generated_at", ts) ||
            !cJSON_AddNumberToObject(o, "feed_age_s",
                                     (double)(clock_now() -
                                              snap->generated_at)) ||
            !cJSON_AddNumberToObject(o, "clinics", (double)snap->nclinics))
            goto out;
    } else if (!cJSON_AddStringToObject(o, "status", "starting") ||
               !cJSON_AddNullToObject(o, "feed_generated_at") ||
               !cJSON_AddNullToObject(o, "feed_age_s") ||
               !cJSON_AddNumberToObject(o, "clinics", 0)) {
        goto out;
    }
    text = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    if (text == NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    set_header(q->req, "Content-Type", CT_JSON);
    set_header(q->req, "Cache-Control", "no-store");
    if (!ok)
        set_header(q->req, "Retry-After", HTTP_RETRY_AFTER);
    send_copy(q, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", text,
              strlen(text));
    free(text);
}

static void serve_metrics(struct rq *q, const struct feed_snapshot *snap)
{
    struct metrics_feed gauges;
    size_t len = 0;
    char *text;

    if (snap != NULL)
        feed_metrics(snap, &gauges);
    text = metrics_render(snap != NULL ? &gauges : NULL, clock_now(), &len);

    if (text == NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    set_header(q->req, "Content-Type", CT_METRICS);
    set_header(q->req, "Cache-Control", "no-store");
    send_copy(q, 200, "OK", text, len);
    free(text);
}

/* Assets are static storage, their gzip forms the server's until
 * http_free: nothing to release per reply. */
static void serve_asset(struct rq *q, const struct web_asset *a)
{
    size_t i = (size_t)(a - web_assets);
    const char *etag = q->s->asset_etags[i];
    const struct doc *gz = &q->s->asset_gz[i];
    int use_gz = gz->json != NULL && wants_gzip(q->req);

    if (use_gz)
        etag = gz->etag;
    set_header(q->req, "ETag", etag);
    set_header(q->req, "Cache-Control", HTTP_STATIC_MAX_AGE);
    if (gz->json != NULL)
        set_header(q->req, "Vary", "Accept-Encoding");
    if (is_not_modified(q->req, etag, 0)) {
        finish(q, 304, "Not Modified", NULL);
        return;
    }
    set_header(q->req, "Content-Type", a->content_type);
    if (use_gz) {
        set_header(q->req, "Content-Encoding", "gzip");
        send_ref(q, 200, gz->json, gz->len, NULL, NULL);
    } else {
        send_ref(q, 200, (const char *)a->data, a->len, NULL, NULL);
    }
}

/*
 * ETags and gzip of the web assets, once at start (the bytes are compiled
 * in and never change): HTML, JS, CSS and JSON text, when gzip is at
 * least 10% smaller. A failed gzip just serves that asset plain.
 */
static int assets_prepare(struct http_server *s)
{
    size_t i;

    if ((s->asset_etags = calloc(s->nassets + 1, sizeof(*s->asset_etags))) ==
            NULL ||
        (s->asset_gz = calloc(s->nassets + 1, sizeof(*s->asset_gz))) == NULL)
        return -1;
    for (i = 0; i < s->nassets; i++) {
        const struct web_asset *a = &web_assets[i];
        struct doc *gz = &s->asset_gz[i];

        doc_etag((const char *)a->data, a->len, s->asset_etags[i]);
        if ((strncmp(a->content_type, "text/", 5) != 0 &&
             strstr(a->content_type, "javascript") == NULL &&
             strstr(a->content_type, "json") == NULL) ||
            doc_gzip((const char *)a->data, a->len, s->asset_etags[i], gz) != 0)
            continue;
        if (gz->len * 10 > a->len * 9) {
            free(gz->json);
            memset(gz, 0, sizeof(*gz));
        }
    }
    return 0;
}

/* --- connections: cap and request deadline ------------------------------ */

/*
 * The open connections: a small open-addressing set keyed by the
 * evhttp_connection pointer, entered when the connection is adopted
 * (just after accept) and left from its close callback (evhttp calls it
 * from evhttp_connection_free, also inside evhttp_free).
 */
static size_t conn_slot(const struct conn_set *c, const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 2654435761u) & (c->cap - 1);
}

static int conn_find(const struct conn_set *c, const void *p, size_t *at)
{
    size_t i = conn_slot(c, p), k;

    for (k = 0; k < c->cap; k++, i = (i + 1) & (c->cap - 1)) {
        if (c->v[i].evcon == p) {
            *at = i;
            return 1;
        }
        if (c->v[i].evcon == NULL) {
            *at = i;
            return 0;
        }
    }
    *at = c->cap;
    return 0;
}

static void conn_remove(struct conn_set *c, const void *p)
{
    size_t i, j, k;

    if (!conn_find(c, p, &i) || i == c->cap)
        return;
    c->v[i].evcon = NULL;
    c->n--;
    /* Re-insert the rest of the cluster (linear probing deletion). */
    for (j = (i + 1) & (c->cap - 1); c->v[j].evcon != NULL;
         j = (j + 1) & (c->cap - 1)) {
        struct conn q = c->v[j];
        c->v[j].evcon = NULL;
        conn_find(c, q.evcon, &k);
        c->v[k] = q;
    }
}

/* Connections counted by the cap: adopted ones and those just accepted. */
static size_t conns_open(const struct http_server *s)
{
    return s->conns.n + s->npend;
}

static struct http_server *servers; /* the loop's thread only */

/* After any change of the count: pause or resume the listener. The
 * gauge counts every listener's (public and admin). */
static void conns_changed(struct http_server *s)
{
    size_t n = conns_open(s), all = 0;
    const struct http_server *o;

    for (o = servers; o != NULL; o = o->next)
        all += conns_open(o);
    metrics_http_connections((unsigned long)all);
    if (s->sock == NULL || s->closing)
        return;
    if (!s->paused && n >= s->conns.max) {
        evconnlistener_disable(evhttp_bound_socket_get_listener(s->sock));
        s->paused = 1;
    } else if (s->paused && n < s->conns.max) {
        if (!s->backoff)
            evconnlistener_enable(evhttp_bound_socket_get_listener(s->sock));
        s->paused = 0;
    }
}

/*
 * accept() failed for a reason other than "try again" (out of fds:
 * EMFILE/ENFILE, or ENOBUFS). libevent 2.1 would log and retry at once:
 * the socket stays readable, so the loop spins at 100 % CPU until an fd
 * frees. Pause the listener instead and try again shortly; waiting
 * clients stay in the kernel's accept queue meanwhile.
 */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct http_server *s;
    struct timeval tv = { 0, HTTP_ACCEPT_RETRY_MS * 1000 };
    int e = EVUTIL_SOCKET_ERROR();

    /* The callback gets the listener's argument, which evhttp set to
     * itself: find our server by it. */
    for (s = servers; s != NULL && s->http != arg; s = s->next)
        ;
    metrics_http_accept_error();
    if (s == NULL || s->backoff || s->closing)
        return;
    log_warn("http_accept_failed", "error=\"%s\" open=%zu retry_ms=%d",
             evutil_socket_error_to_string(e), conns_open(s),
             HTTP_ACCEPT_RETRY_MS);
    evconnlistener_disable(l);
    s->backoff = 1;
    evtimer_add(s->retry_ev, &tv);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;

    (void)fd;
    (void)what;
    s->backoff = 0;
    if (!s->paused && !s->closing && s->sock != NULL)
        evconnlistener_enable(evhttp_bound_socket_get_listener(s->sock));
}

static void sweep_arm(struct http_server *s)
{
    struct timeval tv = { s->sweep_ms / 1000, (s->sweep_ms % 1000) * 1000 };

    if (s->conns.n > 0 && !evtimer_pending(s->sweep_ev, NULL))
        evtimer_add(s->sweep_ev, &tv);
}

static void reports_conn_gone(struct http_server *s,
                              struct evhttp_connection *evcon);

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct http_server *s = arg;

    reports_conn_gone(s, evcon);
    http_streams_conn_gone(s->streams, evcon);
    conn_remove(&s->conns, evcon);
    conns_changed(s);
}

/* Enter evcon (if new) with its request clock started at since_ms. */
static struct conn *conn_add(struct http_server *s,
                             struct evhttp_connection *evcon, int64_t since_ms,
                             int *added)
{
    size_t at;

    if (conn_find(&s->conns, evcon, &at))
        return &s->conns.v[at];
    if (added != NULL)
        *added = 1;
    if (at == s->conns.cap)
        return NULL; /* cannot happen: cap > 2 * max */
    s->conns.v[at].evcon = evcon;
    s->conns.v[at].since_ms = since_ms;
    s->conns.v[at].close_after = 0;
    s->conns.n++;
    evhttp_connection_set_closecb(evcon, on_conn_close, s);
    return &s->conns.v[at];
}

/*
 * evhttp_set_bevcb: a connection is being accepted. Count it now and
 * adopt its evhttp_connection once evhttp has built it (on_adopt). The
 * reference we take keeps the bufferevent's memory valid should evhttp
 * free the connection first (bufferevent_free clears its callbacks).
 */
static struct bufferevent *on_accept_bev(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

    /* Readers first: the base's highest priority (app.c; a base with one
     * priority has only this one). */
    if (bev != NULL)
        bufferevent_priority_set(bev, 0);
    if (bev == NULL || s->npend > s->conns.max)
        return bev; /* NULL: evhttp tries its own; else untracked */
    bufferevent_incref(bev);
    s->pend[s->npend++] = bev;
    event_active(s->adopt_ev, EV_TIMEOUT, 1);
    conns_changed(s);
    return bev;
}

/* Runs after the accept callback(s), before any read on the new ones. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    int64_t now = clock_mono_ms();
    size_t i;

    (void)fd;
    (void)what;
    for (i = 0; i < s->npend; i++) {
        struct bufferevent *bev = s->pend[i];
        void *cbarg = NULL;

        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
        if (cbarg != NULL && evhttp_connection_get_bufferevent(cbarg) == bev)
            conn_add(s, cbarg, now, NULL);
        bufferevent_decref(bev);
    }
    s->npend = 0;
    conns_changed(s);
    sweep_arm(s);
}

/* Close every connection whose request is overdue. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    int64_t now = clock_mono_ms();
    struct evhttp_connection **late;
    size_t i, n = 0;

    (void)fd;
    (void)what;
    /* Collect first: each free runs on_conn_close, which reorders the set. */
    if ((late = malloc(s->conns.n * sizeof(*late) + 1)) != NULL) {
        for (i = 0; i < s->conns.cap; i++)
            if (s->conns.v[i].evcon != NULL && s->conns.v[i].since_ms > 0 &&
                now - s->conns.v[i].since_ms >= s->deadline_ms)
                late[n++] = s->conns.v[i].evcon;
        for (i = 0; i < n; i++)
            evhttp_connection_free(late[i]);
        free(late);
    }
    if (n > 0) {
        metrics_http_slow_dropped(n);
        log_info("http_slow_clients_dropped", "count=%zu deadline_ms=%lld", n,
                 (long long)s->deadline_ms);
    }
    sweep_arm(s);
}

/* on_complete: the reply is out; a kept-alive connection's next request
 * starts its clock now (evhttp frees the others right after). */
static void on_reply_done(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    size_t at;

    if (evcon != NULL && conn_find(&s->conns, evcon, &at)) {
        s->conns.v[at].since_ms = clock_mono_ms();
        if (s->conns.v[at].close_after)
            event_active(s->close_ev, EV_TIMEOUT, 1);
        sweep_arm(s);
    }
}

/*
 * After a refused request's reply: close its connection. evhttp already
 * does for every method but CONNECT (it ignores "Connection: close" there
 * and would read the bytes after it as the next request). Runs from the
 * loop, before evhttp's deferred read of those bytes (that is scheduled
 * for the next round), never inside one of the connection's callbacks.
 */
static void on_close_refused(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    struct evhttp_connection **doomed;
    size_t i, n = 0;

    (void)fd;
    (void)what;
    /* Collect first: each free runs on_conn_close, which reorders the set. */
    if ((doomed = malloc(s->conns.n * sizeof(*doomed) + 1)) == NULL)
        return;
    for (i = 0; i < s->conns.cap; i++)
        if (s->conns.v[i].evcon != NULL && s->conns.v[i].close_after)
            doomed[n++] = s->conns.v[i].evcon;
    for (i = 0; i < n; i++)
        evhttp_connection_free(doomed[i]);
    free(doomed);
}

/* A whole request arrived on its connection: stop its clock while we
 * answer (a connection we missed at accept is counted from here). */
static void conn_seen(struct http_server *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct conn *c;
    int added = 0;

    if (evcon == NULL || (c = conn_add(s, evcon, 0, &added)) == NULL)
        return;
    c->since_ms = 0;
    evhttp_request_set_on_complete_cb(req, on_reply_done, s);
    if (added) /* only a connection we missed at accept is new here */
        conns_changed(s);
}

/* --- routing ------------------------------------------------------------- */

enum route {
    R_NOT_FOUND,
    R_BAD_ID,
    R_AVAILABILITY,
    R_CLINIC,
    R_SLOTS,
    R_HEALTH,
    R_METRICS,
    R_MANIFEST,
    R_NDJSON,
    R_STATIC,
    R_REPORT,
    R_NEAREST,
    R_NEAREST_PAGE
};

/*
 * Exact paths only: no trailing slash, no percent-decoding (an HSA-id has
 * no character that needs it, so "%" in an id is simply malformed; "$" of
 * $bulk-publish may come as %24). *id points into path for R_CLINIC and
 * R_SLOTS (length *idlen), *arg is the NDJSON type for R_NDJSON.
 */
static enum route parse_path(const char *path, const char **id, size_t *idlen,
                             const char **arg)
{
    static const char clinics[] = "/v1/clinics/";
    static const char *const types[] = { "Location", "Schedule", "Slot" };
    const char *rest, *slash;
    char idbuf[CONF_HSA_ID_MAX + 2];
    size_t i;

    *id = NULL;
    *idlen = 0;
    *arg = NULL;
    if (path == NULL)
        return R_NOT_FOUND;
    if (strcmp(path, "/v1/availability") == 0)
        return R_AVAILABILITY;
    if (strcmp(path, "/healthz") == 0)
        return R_HEALTH;
    if (strcmp(path, NEAREST_API_PATH) == 0)
        return R_NEAREST;
    if (strcmp(path, NEAREST_PAGE_PATH) == 0)
        return R_NEAREST_PAGE;
    if (strcmp(path, "/metrics") == 0)
        return R_METRICS;
    if (api_report_path(path))
        return R_REPORT;
    if (strcmp(path, SMARTPUB_MANIFEST_PATH) == 0 ||
        strcmp(path, "/%24bulk-publish") == 0)
        return R_MANIFEST;
    if (strncmp(path, SMARTPUB_NDJSON_PREFIX,
                sizeof(SMARTPUB_NDJSON_PREFIX) - 1) == 0) {
        rest = path + sizeof(SMARTPUB_NDJSON_PREFIX) - 1;
        for (i = 0; i < 3; i++) {
            size_t tl = strlen(types[i]);
            if (strncmp(rest, types[i], tl) == 0 &&
                strcmp(rest + tl, ".ndjson") == 0) {
                *arg = types[i];
                return R_NDJSON;
            }
        }
        return R_NOT_FOUND;
    }
    if (strncmp(path, clinics, sizeof(clinics) - 1) != 0)
        return R_NOT_FOUND;
    rest = path + sizeof(clinics) - 1;
    slash = strchr(rest, '/');
    if (*rest == '\0' || slash == rest)
        return R_NOT_FOUND;
    if (slash != NULL && strcmp(slash, "/slots") != 0)
        return R_NOT_FOUND;
    *idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (*idlen >= sizeof(idbuf))
        return R_BAD_ID;
    memcpy(idbuf, rest, *idlen);
    idbuf[*idlen] = '\0';
    if (!conf_valid_hsa_id(idbuf))
        return R_BAD_ID;
    *id = rest;
    return slash ? R_SLOTS : R_CLINIC;
}

const char *http_route(const char *path, const char **id, size_t *idlen)
{
    static const char *const names[] = { [R_NOT_FOUND] = "not_found",
                                         [R_BAD_ID] = "bad_id",
                                         [R_AVAILABILITY] = "availability",
                                         [R_CLINIC] = "clinic",
                                         [R_SLOTS] = "slots",
                                         [R_HEALTH] = "health",
                                         [R_METRICS] = "metrics",
                                         [R_MANIFEST] = "manifest",
                                         [R_NDJSON] = "ndjson",
                                         [R_STATIC] = "static",
                                         [R_REPORT] = "report",
                                         [R_NEAREST] = "nearest",
                                         [R_NEAREST_PAGE] = "nearest_page" };
    const char *arg;

    return names[parse_path(path, id, idlen, &arg)];
}

static enum metrics_route metrics_route_of(enum route r)
{
    switch (r) {
    case R_AVAILABILITY:
        return METRICS_ROUTE_AVAILABILITY;
    case R_CLINIC:
        return METRICS_ROUTE_CLINIC;
    case R_SLOTS:
        return METRICS_ROUTE_SLOTS;
    case R_HEALTH:
        return METRICS_ROUTE_HEALTH;
    case R_METRICS:
        return METRICS_ROUTE_METRICS;
    case R_MANIFEST:
    case R_NDJSON:
        return METRICS_ROUTE_BULK;
    case R_STATIC:
        return METRICS_ROUTE_STATIC;
    case R_BAD_ID:
        return METRICS_ROUTE_CLINIC;
    case R_NEAREST_PAGE:
        return METRICS_ROUTE_STATIC;
    case R_NEAREST:
    case R_NOT_FOUND:
    case R_REPORT:
        break;
    }
    return METRICS_ROUTE_OTHER;
}

static void serve_availability(struct rq *q, const struct feed_snapshot *snap,
                               const struct api_params *params)
{
    struct sf_error err = { 0 };
    struct api_filter f;
    struct api_entry *e;
    int gz;

    if (params->n == 0) {
        serve_snap_doc(q, snap, &snap->all, &snap->all_gz, snap->changed_at,
                       CT_JSON);
        return;
    }
    if (api_filter_parse(params, snap, q->s->geo, &f, &err) != 0) {
        send_problem(q, 400, "Bad Request", err.msg);
        return;
    }
    if (api_filter_empty(&f)) {
        serve_snap_doc(q, snap, &snap->all, &snap->all_gz, snap->changed_at,
                       CT_JSON);
        return;
    }
    gz = wants_gzip(q->req);
    if ((e = api_cache_get(q->s->cache, snap, q->s->geo, &f, gz)) == NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    serve_doc(q, &e->plain, &e->gz, e->changed_at, CT_JSON, on_entry_done, e);
}

/* The patient page "/" (page.h): per snapshot and variant, cached. */
static void serve_page(struct rq *q, const struct feed_snapshot *snap,
                       const struct api_params *params)
{
    struct page_query pq;
    struct api_entry *e;
    int status;

    page_query_of(params,
                  evhttp_find_header(evhttp_request_get_input_headers(q->req),
                                     "Accept-Language"),
                  &pq);
    if ((e = page_cache_get(q->s->pages, snap, q->s->geo, &pq, &status)) ==
        NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    q->vary = "Accept-Encoding, Accept-Language";
    if (status == 200) {
        serve_doc(q, &e->plain, &e->gz, e->changed_at, CT_HTML, on_entry_done,
                  e);
        return;
    }
    /* A page that says what was wrong with the query (page_render). */
    set_header(q->req, "Content-Type", CT_HTML);
    set_header(q->req, "Cache-Control", "no-store");
    send_copy(q, status, "Bad Request", e->plain.json, e->plain.len);
    api_entry_unref(e);
}

/* The overview (overview.h): its shell filled from the snapshot, once
 * per snapshot, so its tables are there without scripts. */
static void serve_overview(struct rq *q, const struct feed_snapshot *snap,
                           const struct web_asset *shell)
{
    struct api_entry *e;

    if ((e = overview_cache_get(q->s->overview, snap, (const char *)shell->data,
                                shell->len)) == NULL) {
        send_problem(q, 500, "Internal Server Error",
                     "cannot render the overview");
        return;
    }
    serve_doc(q, &e->plain, &e->gz, e->changed_at, CT_HTML, on_entry_done, e);
}

static void serve_manifest(struct rq *q, const struct feed_snapshot *snap)
{
    const char *base =
        snap->region != NULL && snap->region->http_public_base_url != NULL
            ? snap->region->http_public_base_url
            : q->s->self_base;
    struct doc doc;
    size_t len = 0;

    /* The request's Host never shapes the body: it is served to every
     * client of a shared cache with Cache-Control: public. */
    memset(&doc, 0, sizeof(doc));
    if ((doc.json = smartpub_manifest(&snap->smart, base, &len)) == NULL) {
        send_problem(q, 500, "Internal Server Error",
                     "cannot build the manifest");
        return;
    }
    doc.len = len;
    doc_etag(doc.json, doc.len, doc.etag);
    serve_own_doc(q, &doc, snap->smart.transaction_time);
}

/*
 * /v1/reports/...: parsed here, computed by a report worker (reportq.h)
 * from the history store over the worker's own read-only connection, and
 * answered from on_report_done when the document is back on the loop.
 *
 * The request waits in a report_wait. libevent 2.1 stops reading a
 * connection while its request awaits our reply, so it does not notice a
 * client that leaves; but the connection can still be freed under us
 * (http_free at drain or shutdown, evhttp's own error paths), and that
 * frees the request without telling us (libevent issues #643, #997). The
 * connection's close callback (on_conn_close) therefore clears the
 * wait's request pointer and cancels the job: the finished document is
 * then dropped, never written to a freed request.
 */
struct report_wait {
    struct http_server *s;
    struct evhttp_request *req; /* NULL once its connection went */
    struct evhttp_connection *evcon;
    struct reportq_job *job;
    int64_t t0_us;
    enum metrics_route route;
    char filename[96]; /* CSV: the download's name */
    struct report_wait *next;
};

/* The reason phrase of a status we answer with from a computed code. */
static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

static void reports_conn_gone(struct http_server *s,
                              struct evhttp_connection *evcon)
{
    struct report_wait *w;

    for (w = s->waits; w != NULL; w = w->next)
        if (w->evcon == evcon && w->req != NULL) {
            w->req = NULL;
            reportq_cancel(s->reports, w->job);
        }
}

static void free_report_body(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)(uintptr_t)data);
}

static void on_report_done(const struct reportq_result *r, void *arg)
{
    struct report_wait *w = arg, **pp;
    char disposition[128] = "";
    char *body;
    struct rq q;

    for (pp = &w->s->waits; *pp != NULL; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    if (w->req == NULL) { /* the client is gone: drop the document */
        free(w);
        return;
    }
    q.s = w->s;
    q.req = w->req;
    q.route = w->route;
    q.t0_us = w->t0_us;
    q.vary = NULL;
    if (w->filename[0] != '\0')
        snprintf(disposition, sizeof(disposition),
                 "attachment; filename=\"%s\"", w->filename);
    free(w);
    if (r->cancelled || r->status == 0) {
        set_header(q.req, "Retry-After", HTTP_REPORT_RETRY_AFTER);
        send_problem(&q, 503, "Service Unavailable",
                     "the report was cancelled (shutting down)");
        return;
    }
    if (r->status != 200) {
        send_problem(&q, r->status, status_reason(r->status), r->detail);
        return;
    }
    if (r->body == NULL || (body = reportq_take_body(r)) == NULL) {
        send_problem(&q, 500, "Internal Server Error", "out of memory");
        return;
    }
    set_header(q.req, "Content-Type", r->content_type);
    set_header(q.req, "Cache-Control", "no-cache");
    /* A spreadsheet file is saved, under a name saying what it holds. */
    if (disposition[0] != '\0')
        set_header(q.req, "Content-Disposition", disposition);
    /* By reference: a report of a large region is megabytes, and copying
     * it was the loop's work (2 % of its samples under report load). */
    send_ref(&q, r->status, body, r->len, free_report_body, NULL);
}

/*
 * A report request (params through api_params_parse already) up to the
 * point where the store is needed: 0 with *rr to compute, or the status
 * to answer with err->msg as the detail (404, 400, 503 without a store).
 */
static int report_request_of(const char *path, const struct api_params *params,
                             const char *accept, const char *store,
                             struct report_request *rr, struct sf_error *err)
{
    int status = api_report_parse(path, params, accept, rr, err);

    if (status != 0)
        return status;
    if (store == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "no history store configured "
                     "(config key \"store\")");
        return 503;
    }
    /* Fixed now: the figures stop when the request came, not when a
     * worker got round to it. */
    rr->p.now = clock_now();
    return 0;
}

static void serve_report(struct rq *q, const char *path,
                         const struct api_params *params,
                         const struct feed_snapshot *snap)
{
    struct http_server *s = q->s;
    struct evhttp_connection *evcon = evhttp_request_get_connection(q->req);
    const char *accept =
        evhttp_find_header(evhttp_request_get_input_headers(q->req), "Accept");
    struct report_request rr;
    struct report_wait *w = NULL;
    struct sf_error err = { 0 };
    size_t at;
    int status;

    status =
        report_request_of(path, params, accept, snap->region->store, &rr, &err);
    if (status != 0) { /* answered without the store */
        send_problem(q, status, status_reason(status), err.msg);
        return;
    }
    /* Only a connection whose close we hear about may wait. */
    if (evcon == NULL || !conn_find(&s->conns, evcon, &at)) {
        send_problem(q, 500, "Internal Server Error",
                     "connection not "
                     "tracked");
        return;
    }
    if (s->reports == NULL &&
        (s->reports = reportq_new(s->base, &s->report_opts, &err)) == NULL) {
        log_error("report_workers_failed", "err=\"%s\"", err.msg);
        send_problem(q, 503, "Service Unavailable",
                     "reports cannot be "
                     "computed now");
        return;
    }
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    w->s = s;
    w->req = q->req;
    w->evcon = evcon;
    w->t0_us = q->t0_us;
    w->route = q->route;
    if (rr.fmt == REPORT_FMT_CSV)
        report_filename(&rr.p, rr.fmt, w->filename, sizeof(w->filename));
    if ((w->job = reportq_submit(s->reports, snap->region->store, &rr,
                                 on_report_done, w, &err)) == NULL) {
        free(w);
        if (err.code != SF_ERR_TIMEOUT) {
            send_problem(q, 500, "Internal Server Error", "out of memory");
            return;
        }
        metrics_report_rejected();
        set_header(q->req, "Retry-After", HTTP_REPORT_RETRY_AFTER);
        send_problem(q, 503, "Service Unavailable",
                     "as many reports as "
                     "allowed are being computed; retry shortly");
        return;
    }
    w->next = s->waits;
    s->waits = w;
}

size_t http_reports_pending(const struct http_server *s)
{
    return s != NULL ? reportq_pending(s->reports) : 0;
}

int http_report_now(const char *path, const char *query, const char *accept,
                    const char *db_path, int *status, const char **content_type,
                    char **body, size_t *len)
{
    struct api_params params = { .n = 0 };
    struct report_request rr;
    struct sf_error err = { 0 };
    char detail[REPORTQ_DETAIL_LEN];
    const char *why = err.msg;
    struct sqlite3 *db = NULL;

    *content_type = CT_PROBLEM;
    *body = NULL;
    *len = 0;
    if (api_params_parse(query, &params, &err) != 0)
        *status = 400; /* as on_request answers any route */
    else
        *status = report_request_of(path, &params, accept, db_path, &rr, &err);
    api_params_clear(&params);
    if (*status == 0) {
        (void)reportq_open(db_path, &db);
        reportq_compute(db, &rr, status, body, len, detail);
        sqlite3_close(db);
        why = detail;
    }
    if (*status == 200) {
        *content_type = report_format_content_type(rr.fmt);
        return 0;
    }
    if ((*body = problem_text(*status, status_reason(*status), why)) == NULL)
        return -1;
    *len = strlen(*body);
    return 0;
}

static void preflight(struct rq *q)
{
    set_header(q->req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    set_header(q->req, "Access-Control-Allow-Headers",
               "If-None-Match, If-Modified-Since, Cache-Control");
    set_header(q->req, "Access-Control-Max-Age", "86400");
    set_header(q->req, "Allow", "GET, HEAD, OPTIONS");
    set_header(q->req, "Content-Length", "0");
    finish(q, 204, "No Content", NULL);
}

/*
 * A request whose framing is not unambiguous (http_framing.h): answer
 * status and close the connection, so nothing after it on the connection
 * is ever read as a request. A 505 goes out as HTTP/1.1 (evhttp would
 * echo the client's "HTTP/1.9" in the status line).
 */
static void refuse_framing(struct rq *q, int status, const char *why)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(q->req);
    size_t at;

    if (evcon != NULL && conn_find(&q->s->conns, evcon, &at))
        q->s->conns.v[at].close_after = 1;
    if (status == 505) {
        q->req->major = 1;
        q->req->minor = 1;
    }
    set_header(q->req, "Connection", "close");
    send_problem(q, status, status_reason(status), why);
}

/*
 * An HTML page made for this request: gzip-compressed when the client
 * takes it, as the page's assets and the feed are (the clinicians' page
 * is read on phones too). Compressing fails only for memory: then plain.
 */
static void send_html_copy(struct rq *q, int status, const char *reason,
                           const char *page, size_t len)
{
    struct doc gz = { 0 };

    set_header(q->req, "Content-Type", "text/html; charset=utf-8");
    set_header(q->req, "Vary", "Accept-Encoding");
    if (wants_gzip(q->req) && doc_gzip(page, len, NULL, &gz) == 0 &&
        gz.len < len) {
        set_header(q->req, "Content-Encoding", "gzip");
        send_copy(q, status, reason, gz.json, gz.len);
    } else {
        send_copy(q, status, reason, page, len);
    }
    free(gz.json);
}

/*
 * /v1/nearest (JSON, 400 problems as every route) and /narmast (the
 * clinicians' page, made from the same document; a bad place is a 400
 * with the page and the form, so a clinician can type again).
 */
static void serve_nearest(struct rq *q, const struct feed_snapshot *snap,
                          enum route r, const struct api_params *params)
{
    struct sf_error err = { 0 };
    struct nearest_query nq;
    struct doc doc = { 0 };
    char *page, cc[48];
    size_t len = 0;
    int bad;

    bad = r == R_NEAREST ? nearest_parse_api(params, q->s->geo, &nq, &err)
                         : nearest_parse_page(params, q->s->geo, &nq, &err);
    if (bad != 0 && r == R_NEAREST) {
        send_problem(q, 400, "Bad Request", err.msg);
        return;
    }
    if (bad == 0 && nq.has_place &&
        nearest_build(snap, q->s->geo, &nq, &doc) != 0) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    if (r == R_NEAREST) {
        serve_own_doc(q, &doc, snap->changed_at);
        return;
    }
    page = nearest_page(&nq, doc.json, doc.len, bad ? err.msg : NULL, &len);
    free(doc.json);
    if (page == NULL) {
        send_problem(q, 500, "Internal Server Error", "out of memory");
        return;
    }
    snprintf(cc, sizeof(cc), "public, max-age=%d", q->s->max_age_s);
    set_header(q->req, "Cache-Control", cc);
    send_html_copy(q, bad ? 400 : 200, bad ? "Bad Request" : "OK", page, len);
    free(page);
}

/*
 * The operator's and the vardvalsenhet's routes, kept off a public
 * listener when an admin one exists: metrics, the reports, and the
 * overview page (it is the vardvalsenhet's, and its history section
 * reads the reports).
 */
static int admin_route(enum route r, const struct web_asset *asset)
{
    static const char *const admin_assets[] = { "/overview.html",
                                                "/overview.js", "/history.js",
                                                "/overview.css", NULL };
    size_t i;

    if (r == R_METRICS || r == R_REPORT)
        return 1;
    for (i = 0; r == R_STATIC && admin_assets[i] != NULL; i++)
        if (strcmp(asset->path, admin_assets[i]) == 0)
            return 1;
    return 0;
}

/* on_request, a clinic's own route (R_CLINIC or its slots): id is the
 * clinic's HSA-id from the path, already checked for shape. */
static void serve_clinic(struct rq *q, const struct feed_snapshot *snap,
                         enum route r, const char *id, size_t idlen,
                         const struct api_params *params)
{
    char idbuf[CONF_HSA_ID_MAX + 1], detail[160];
    struct sf_error err = { 0 };
    long ci;

    memcpy(idbuf, id, idlen);
    idbuf[idlen] = '\0';
    if ((ci = feed_clinic_index(snap, idbuf)) < 0) {
        snprintf(detail, sizeof(detail), "no clinic %.40s in this region",
                 idbuf);
        send_problem(q, 404, "Not Found", detail);
        return;
    }
    if (r == R_CLINIC) {
        serve_snap_doc(q, snap, &snap->clinics[ci],
                       snap->clinics_gz ? &snap->clinics_gz[ci] : NULL,
                       snap->changed_at, CT_JSON);
    } else {
        struct doc doc;

        if (api_slots_build(snap, (size_t)ci, params, &doc, &err) != 0) {
            if (err.code == SF_ERR_NOMEM)
                send_problem(q, 500, "Internal Server Error", err.msg);
            else
                send_problem(q, 400, "Bad Request", err.msg);
            return;
        }
        serve_own_doc(q, &doc, snap->changed_at);
    }
}

/* One of the SMART files (/bulk/<Type>.ndjson). */
static void serve_ndjson(struct rq *q, const struct feed_snapshot *snap,
                         const char *type)
{
    const struct doc *d = smartpub_ndjson(&snap->smart, type);

    if (d == NULL) {
        send_problem(q, 404, "Not Found", "no such NDJSON file");
        return;
    }
    serve_snap_doc(q, snap, d, smartpub_ndjson_gz(&snap->smart, type),
                   snap->smart.transaction_time, SMARTPUB_CONTENT_TYPE);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct rq q = { arg, req, METRICS_ROUTE_OTHER, 0, NULL };
    struct http_server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct web_asset *asset = NULL;
    const struct feed_snapshot *snap;
    struct api_params params = { .n = 0 };
    struct sf_error err = { 0 };
    const char *path, *id, *type, *why = NULL;
    char detail[160];
    size_t idlen;
    enum route r;
    int st;

    q.t0_us = clock_mono_us();
    conn_seen(s, req);
    /* First: evhttp has read the head (and a body by its own reading),
     * nothing after this request yet. */
    if ((st = http_framing_check(req->major, req->minor,
                                 evhttp_request_get_input_headers(req),
                                 &why)) != 0) {
        refuse_framing(&q, st, why);
        return;
    }
    if (uri != NULL && strlen(uri) > HTTP_MAX_URI) {
        send_problem(&q, 414, "URI Too Long",
                     "request target over 2048 "
                     "bytes");
        return;
    }
    path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    r = parse_path(path, &id, &idlen, &type);
    if (r == R_NOT_FOUND && (asset = web_asset_find(path)) != NULL)
        r = R_STATIC;
    if (s->role == HTTP_ROLE_PUBLIC && admin_route(r, asset))
        r = R_NOT_FOUND; /* the same answer as for a path that is not */
    q.route = metrics_route_of(r);
    if (r == R_NOT_FOUND) {
        snprintf(detail, sizeof(detail), "no resource at %.100s",
                 path != NULL ? path : "(none)");
        send_problem(&q, 404, "Not Found", detail);
        return;
    }
    if (m == EVHTTP_REQ_OPTIONS) {
        preflight(&q);
        return;
    }
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        set_header(req, "Allow", "GET, HEAD, OPTIONS");
        send_problem(&q, 405, "Method Not Allowed",
                     "only GET, HEAD and OPTIONS are served");
        return;
    }
    if (r == R_BAD_ID) {
        send_problem(&q, 400, "Bad Request",
                     "clinic id is not an HSA-id (SE + 10 digits + '-' + "
                     "letters/digits, at most 31 characters)");
        return;
    }
    /* Every query is checked (limits, escapes, UTF-8), used or not. */
    if (api_params_parse(u != NULL ? evhttp_uri_get_query(u) : NULL, &params,
                         &err) != 0) {
        api_params_clear(&params);
        send_problem(&q, 400, "Bad Request", err.msg);
        return;
    }
    if (r == R_STATIC) {
        /* "/" is rendered from the snapshot; before the first one, the
         * static shell (index.html) says the times are on their way. */
        if (strcmp(path, "/") == 0 && (snap = s->get(s->arg)) != NULL)
            serve_page(&q, snap, &params);
        else if (strcmp(asset->path, "/overview.html") == 0 &&
                 (snap = s->get(s->arg)) != NULL)
            serve_overview(&q, snap, asset);
        else
            serve_asset(&q, asset);
        goto out;
    }
    snap = s->get(s->arg);
    if (r == R_HEALTH) {
        serve_health(&q, snap);
        goto out;
    }
    if (r == R_METRICS) {
        serve_metrics(&q, snap);
        goto out;
    }
    if (snap == NULL) {
        set_header(req, "Retry-After", HTTP_RETRY_AFTER);
        send_problem(&q, 503, "Service Unavailable",
                     "the first feed is not built yet");
        goto out;
    }
    switch (r) {
    case R_REPORT:
        serve_report(&q, path, &params, snap);
        goto out;
    case R_AVAILABILITY:
        serve_availability(&q, snap, &params);
        goto out;
    case R_NEAREST:
    case R_NEAREST_PAGE:
        serve_nearest(&q, snap, r, &params);
        goto out;
    case R_MANIFEST:
        serve_manifest(&q, snap);
        goto out;
    case R_NDJSON:
        serve_ndjson(&q, snap, type);
        goto out;
    default:
        break;
    }
    serve_clinic(&q, snap, r, id, idlen, &params);
out:
    api_params_clear(&params);
}

/* --- setup --------------------------------------------------------------- */

static int bound_port(evutil_socket_t fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/*
 * A connection cap above what RLIMIT_NOFILE allows would end in accept()
 * failing with EMFILE, which evhttp 2.1 retries in a busy loop: keep the
 * cap below the soft limit, with a reserve for everything else.
 */
static size_t fd_limited(size_t max)
{
    struct rlimit rl;
    size_t room;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return max;
    room = rl.rlim_cur > 2 * HTTP_FD_RESERVE
               ? (size_t)rl.rlim_cur - HTTP_FD_RESERVE
               : (size_t)rl.rlim_cur / 2;
    if (max <= room)
        return max;
    log_warn("http_connection_cap_lowered",
             "max_connections=%zu "
             "nofile=%llu cap=%zu",
             max, (unsigned long long)rl.rlim_cur, room);
    return room > 0 ? room : 1;
}

struct http_server *http_new(struct event_base *base, const char *host,
                             int port, const struct http_opts *opts,
                             http_snapshot_fn get, void *arg,
                             struct sf_error *err)
{
    struct http_server *s = NULL;
    struct timeval tv = { HTTP_TIMEOUT_S, 0 };
    evutil_socket_t fd;
    int one = 1;

    if (base == NULL || host == NULL || get == NULL || port < 0 ||
        port > 65535) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "http: bad arguments (host %s, "
                     "port %d)",
                     host ? host : "(null)", port);
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->cache = api_cache_new(HTTP_CACHE_ENTRIES)) == NULL ||
        (s->pages = api_cache_new(HTTP_CACHE_ENTRIES)) == NULL ||
        (s->overview = api_cache_new(1)) == NULL ||
        (s->streams = http_streams_new()) == NULL ||
        (s->http = evhttp_new(base)) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    while (web_assets[s->nassets].path != NULL)
        s->nassets++;
    if (assets_prepare(s) != 0) {
        sf_error_set(err, SF_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    s->base = base;
    s->get = get;
    s->arg = arg;
    if (opts != NULL && opts->reports != NULL)
        s->report_opts = *opts->reports;
    s->max_age_s = opts != NULL && opts->max_age_s > 0 ? opts->max_age_s
                                                       : HTTP_DEFAULT_MAX_AGE;
    snprintf(s->cache_control, sizeof(s->cache_control), "public, max-age=%d",
             s->max_age_s);
    s->conns.max = opts != NULL && opts->max_connections > 0
                       ? (size_t)opts->max_connections
                       : HTTP_DEFAULT_MAX_CONNECTIONS;
    s->conns.max = fd_limited(s->conns.max);
    s->deadline_ms = opts != NULL && opts->request_timeout_ms > 0
                         ? opts->request_timeout_ms
                         : HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    s->sweep_ms = (int)(s->deadline_ms / 4);
    if (s->sweep_ms > HTTP_SWEEP_MAX_MS)
        s->sweep_ms = HTTP_SWEEP_MAX_MS;
    if (s->sweep_ms < 1)
        s->sweep_ms = 1;
    for (s->conns.cap = 16; s->conns.cap <= 2 * s->conns.max;)
        s->conns.cap *= 2;
    if ((s->conns.v = calloc(s->conns.cap, sizeof(*s->conns.v))) == NULL ||
        (s->pend = calloc(s->conns.max + 1, sizeof(*s->pend))) == NULL ||
        (s->adopt_ev = event_new(base, -1, 0, on_adopt, s)) == NULL ||
        (s->sweep_ev = evtimer_new(base, on_sweep, s)) == NULL ||
        (s->close_ev = event_new(base, -1, 0, on_close_refused, s)) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    s->geo = opts != NULL ? opts->geo : NULL;
    s->role = opts != NULL ? opts->role : HTTP_ROLE_ALL;
    /*
     * Every method libevent knows reaches our callback, which answers 405
     * with Allow itself: a narrower allowed set makes libevent 2.1 reply
     * "501 Not Implemented" with an HTML page - and, for CONNECT, keep the
     * connection open whatever its framing, so the framing check must see
     * CONNECT too.
     */
    evhttp_set_allowed_methods(s->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH |
                                   EVHTTP_REQ_CONNECT);
    evhttp_set_max_headers_size(s->http, HTTP_MAX_HEADERS);
    evhttp_set_max_body_size(s->http, HTTP_MAX_BODY);
    evhttp_set_timeout_tv(s->http, &tv);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_bevcb(s->http, on_accept_bev, s);
    if ((s->sock = evhttp_bind_socket_with_handle(s->http, host,
                                                  (ev_uint16_t)port)) == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "http: cannot listen on %s:%d: %s",
                     host, port, strerror(errno));
        goto fail;
    }
    if ((s->retry_ev = evtimer_new(base, on_accept_retry, s)) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(s->sock),
                                on_accept_error);
    s->next = servers;
    servers = s;
    fd = evhttp_bound_socket_get_fd(s->sock);
    /* Accepted sockets inherit it (Linux): headers and body then leave
     * without waiting for the peer's delayed ACK (design.md §8). */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        sf_error_set(err, SF_ERR_INTERNAL, "http: TCP_NODELAY on %s:%d: %s",
                     host, port, strerror(errno));
        goto fail;
    }
    if ((s->port = bound_port(fd)) < 0) {
        sf_error_set(err, SF_ERR_INTERNAL, "http: getsockname on %s:%d: %s",
                     host, port, strerror(errno));
        goto fail;
    }
    /* The manifest's fallback base: this listener as bound. */
    snprintf(s->self_base, sizeof(s->self_base),
             strchr(host, ':') != NULL ? "http://[%.*s]:%d" : "http://%.*s:%d",
             HTTP_HOST_MAX, host, s->port);
    return s;
fail:
    http_free(s);
    return NULL;
}

int http_port(const struct http_server *s)
{
    return s != NULL ? s->port : -1;
}

void http_free(struct http_server *s)
{
    size_t i;

    if (s == NULL)
        return;
    /* Frees open connections too (their close callbacks still find s);
     * pending output buffers release their snapshot and cache references
     * through the cleanups. */
    s->closing = 1; /* evhttp_free frees the listener first */
    for (struct http_server **pp = &servers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (s->http != NULL)
        evhttp_free(s->http);
    /* After the connections: their close callbacks have cancelled every
     * waiting report; this interrupts the running ones, joins the
     * workers and drops the documents (on_report_done, req NULL). */
    reportq_free(s->reports);
    http_streams_free(s->streams); /* empty: each close ended its own */
    while (s->npend > 0)
        bufferevent_decref(s->pend[--s->npend]);
    if (s->adopt_ev != NULL)
        event_free(s->adopt_ev);
    if (s->sweep_ev != NULL)
        event_free(s->sweep_ev);
    if (s->close_ev != NULL)
        event_free(s->close_ev);
    if (s->retry_ev != NULL)
        event_free(s->retry_ev);
    free(s->pend);
    free(s->conns.v);
    api_cache_free(s->cache);
    api_cache_free(s->pages);
    api_cache_free(s->overview);
    free(s->asset_etags);
    for (i = 0; s->asset_gz != NULL && i < s->nassets; i++)
        free(s->asset_gz[i].json);
    free(s->asset_gz);
    free(s);
}
