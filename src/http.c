/*
 * http.c - the public HTTP server: evhttp on the collector's event base.
 *
 * Every request goes through one generic callback with a strict path
 * parser (no evhttp_set_cb prefix magic) and ends in exactly one
 * evhttp_send_reply. Feed bytes are served as the snapshot holds them,
 * by reference (evbuffer_add_reference), with the snapshot's reference
 * count held until libevent has written or dropped them; conditional GET
 * (If-None-Match) answers 304. Everything else gets an RFC 9457 problem
 * body. Requests libevent itself refuses before our callback (malformed
 * request line, headers over HTTP_MAX_HEADERS, body over HTTP_MAX_BODY,
 * unknown method names) get libevent's own short HTML error page.
 */
#include "slotfeed/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "slotfeed/clock.h"
#include "slotfeed/conf.h"

#define HTTP_MAX_HEADERS 8192       /* request line + headers */
#define HTTP_MAX_BODY 1024          /* we take no bodies; be strict */
#define HTTP_MAX_URI 2048           /* longer -> 414 */
#define HTTP_TIMEOUT_S 15           /* idle read/write timeout */
#define HTTP_DEFAULT_MAX_AGE 30
#define HTTP_RETRY_AFTER "5"        /* seconds, on 503 while starting */

#define CT_JSON "application/json; charset=utf-8"
#define CT_PROBLEM "application/problem+json"

struct http_server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    int port;
    int max_age_s;
    http_snapshot_fn get;
    void *arg;
};

/* --- replies ------------------------------------------------------------- */

static void set_header(struct evhttp_request *req, const char *k,
                       const char *v)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_remove_header(h, k);
    evhttp_add_header(h, k, v);
}

/*
 * Send `len` bytes of `body` (copied) with status/reason. For HEAD the body
 * is left out but its Content-Length kept: libevent 2.1 would otherwise
 * write the body after the headers of a HEAD reply.
 */
static void send_copy(struct evhttp_request *req, int status,
                      const char *reason, const char *body, size_t len)
{
    struct evbuffer *buf = NULL;
    char clen[32];

    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        snprintf(clen, sizeof(clen), "%zu", len);
        set_header(req, "Content-Length", clen);
    } else if ((buf = evbuffer_new()) != NULL) {
        evbuffer_add(buf, body, len);
    }
    evhttp_send_reply(req, status, reason, buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

/* RFC 9457 problem details; detail may be NULL. */
static void send_problem(struct evhttp_request *req, int status,
                         const char *title, const char *detail)
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
    set_header(req, "Content-Type", CT_PROBLEM);
    set_header(req, "Cache-Control", "no-store");
    if (text == NULL) {
        /* Out of memory: still exactly one reply, just without a body. */
        send_copy(req, status, title, "", 0);
        return;
    }
    send_copy(req, status, title, text, strlen(text));
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

/* Every If-None-Match header line counts (a list may be split). */
static int not_modified(struct evhttp_request *req, const char *etag)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;

    for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
        if (strcasecmp(kv->key, "If-None-Match") == 0 &&
            inm_matches(kv->value, etag))
            return 1;
    return 0;
}

/* --- serving a feed document --------------------------------------------- */

/* evbuffer cleanup: libevent is done with the snapshot's bytes. */
static void on_bytes_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    feed_snapshot_unref(arg);
}

static void serve_doc(struct http_server *s, struct evhttp_request *req,
                      const struct feed_snapshot *snap,
                      const struct feed_doc *doc)
{
    /* The reference count is the one mutable part of a snapshot; the
     * snapshot itself was malloc'd by feed_build, so this is sound. */
    struct feed_snapshot *mut = (struct feed_snapshot *)snap;
    struct evbuffer *buf;
    char cc[48];

    snprintf(cc, sizeof(cc), "public, max-age=%d", s->max_age_s);
    set_header(req, "ETag", doc->etag);
    set_header(req, "Cache-Control", cc);
    set_header(req, "Access-Control-Allow-Origin", "*");
    if (not_modified(req, doc->etag)) {
        /* 304: validators and caching headers, no body, no type. */
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    set_header(req, "Content-Type", CT_JSON);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ||
        (buf = evbuffer_new()) == NULL) {
        send_copy(req, 200, "OK", doc->json, doc->len);
        return;
    }
    feed_snapshot_ref(mut);
    if (evbuffer_add_reference(buf, doc->json, doc->len, on_bytes_done,
                               mut) != 0) {
        /* Not added, so the cleanup will not run: drop our ref, copy. */
        feed_snapshot_unref(mut);
        evbuffer_add(buf, doc->json, doc->len);
    }
    evhttp_send_reply(req, 200, "OK", buf);
    evbuffer_free(buf);
}

static void serve_health(struct http_server *s, struct evhttp_request *req,
                         const struct feed_snapshot *snap)
{
    char ts[CLOCK_RFC3339_LEN];
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    int ok = snap != NULL;

    (void)s;
    if (o == NULL)
        goto out;
    if (ok) {
        clock_format_rfc3339(snap->generated_at, ts);
        if (!cJSON_AddStringToObject(o, "status", "ok") ||
            !cJSON_AddStringToObject(o, "feed_generated_at", ts) ||
            !cJSON_AddNumberToObject(
                o, "feed_age_s", (double)(clock_now() - snap->generated_at)) ||
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
        send_problem(req, 500, "Internal Server Error", "out of memory");
        return;
    }
    set_header(req, "Content-Type", CT_JSON);
    set_header(req, "Cache-Control", "no-store");
    if (!ok)
        set_header(req, "Retry-After", HTTP_RETRY_AFTER);
    send_copy(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", text,
              strlen(text));
    free(text);
}

/* --- routing ------------------------------------------------------------- */

enum route { R_NOT_FOUND, R_BAD_ID, R_AVAILABILITY, R_CLINIC, R_HEALTH };

/*
 * Exact paths only: no trailing slash, no percent-decoding (an HSA-id has
 * no character that needs it, so "%" in an id is simply malformed).
 * *id points into path for R_CLINIC.
 */
static enum route parse_path(const char *path, const char **id)
{
    static const char clinics[] = "/v1/clinics/";
    const char *rest;

    *id = NULL;
    if (path == NULL)
        return R_NOT_FOUND;
    if (strcmp(path, "/v1/availability") == 0)
        return R_AVAILABILITY;
    if (strcmp(path, "/healthz") == 0)
        return R_HEALTH;
    if (strncmp(path, clinics, sizeof(clinics) - 1) != 0)
        return R_NOT_FOUND;
    rest = path + sizeof(clinics) - 1;
    /* "/v1/clinics/" alone or a deeper path: no such resource (yet). */
    if (*rest == '\0' || strchr(rest, '/') != NULL)
        return R_NOT_FOUND;
    if (!conf_valid_hsa_id(rest))
        return R_BAD_ID;
    *id = rest;
    return R_CLINIC;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct feed_snapshot *snap;
    const struct feed_doc *doc;
    const char *path, *id;
    enum route r;
    char detail[160];

    if (uri != NULL && strlen(uri) > HTTP_MAX_URI) {
        send_problem(req, 414, "URI Too Long", "request target over 2048 "
                     "bytes");
        return;
    }
    path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    r = parse_path(path, &id);
    if (r == R_NOT_FOUND) {
        snprintf(detail, sizeof(detail), "no resource at %.100s",
                 path != NULL ? path : "(none)");
        send_problem(req, 404, "Not Found", detail);
        return;
    }
    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        set_header(req, "Allow", "GET, HEAD");
        send_problem(req, 405, "Method Not Allowed",
                     "only GET and HEAD are served");
        return;
    }
    if (r == R_BAD_ID) {
        send_problem(req, 400, "Bad Request",
                     "clinic id is not an HSA-id (SE + 10 digits + '-' + "
                     "letters/digits, at most 31 characters)");
        return;
    }
    snap = s->get(s->arg);
    if (r == R_HEALTH) {
        serve_health(s, req, snap);
        return;
    }
    if (snap == NULL) {
        set_header(req, "Retry-After", HTTP_RETRY_AFTER);
        send_problem(req, 503, "Service Unavailable",
                     "the first feed is not built yet");
        return;
    }
    if (r == R_AVAILABILITY) {
        serve_doc(s, req, snap, &snap->all);
        return;
    }
    if ((doc = feed_clinic_doc(snap, id)) == NULL) {
        snprintf(detail, sizeof(detail), "no clinic %.40s in this region",
                 id);
        send_problem(req, 404, "Not Found", detail);
        return;
    }
    serve_doc(s, req, snap, doc);
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

struct http_server *http_new(struct event_base *base, const char *host,
                             int port, const struct http_opts *opts,
                             http_snapshot_fn get, void *arg,
                             struct sf_error *err)
{
    struct http_server *s = NULL;
    struct timeval tv = {HTTP_TIMEOUT_S, 0};
    evutil_socket_t fd;
    int one = 1;

    if (base == NULL || host == NULL || get == NULL || port < 0 ||
        port > 65535) {
        sf_error_set(err, SF_ERR_CONFIG, "http: bad arguments (host %s, "
                     "port %d)", host ? host : "(null)", port);
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->http = evhttp_new(base)) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "http: out of memory");
        goto fail;
    }
    s->get = get;
    s->arg = arg;
    s->max_age_s = opts != NULL && opts->max_age_s > 0 ? opts->max_age_s
                                                      : HTTP_DEFAULT_MAX_AGE;
    /*
     * Every method libevent knows reaches our callback, which answers 405
     * with Allow itself: a narrower allowed set makes libevent 2.1 reply
     * "501 Not Implemented" with an HTML page.
     */
    evhttp_set_allowed_methods(s->http,
        EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
        EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(s->http, HTTP_MAX_HEADERS);
    evhttp_set_max_body_size(s->http, HTTP_MAX_BODY);
    evhttp_set_timeout_tv(s->http, &tv);
    evhttp_set_gencb(s->http, on_request, s);
    if ((s->sock = evhttp_bind_socket_with_handle(s->http, host,
                                                  (ev_uint16_t)port)) ==
        NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "http: cannot listen on %s:%d: %s",
                     host, port, strerror(errno));
        goto fail;
    }
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
    if (s == NULL)
        return;
    /* Frees open connections too; their pending output buffers release
     * their snapshot references through on_bytes_done. */
    if (s->http != NULL)
        evhttp_free(s->http);
    free(s);
}
