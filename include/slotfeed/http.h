/*
 * http.h - the public HTTP server (evhttp on the collector's event base).
 *
 * Routes (docs/feed.md "HTTP API", web/openapi.json): GET/HEAD
 * /v1/availability (filters), /v1/clinics/{id}, /v1/clinics/{id}/slots,
 * /healthz, /metrics, /$bulk-publish, /bulk/{Location,Schedule,Slot}.ndjson,
 * and the compiled-in web/ files (/, /overview, /openapi.json, ...);
 * OPTIONS answers CORS preflights. Feed documents are served from the
 * snapshot's pre-serialized (and pre-gzipped) bytes with strong ETags
 * (If-None-Match -> 304), Last-Modified (If-Modified-Since), Cache-Control
 * and CORS; anything else gets a JSON problem body (RFC 9457 shape) with a
 * 4xx status. TCP_NODELAY is set on the listener (see design.md §8).
 *
 * The $bulk-publish manifest's absolute URLs start with the snapshot
 * region's http.public_base_url, else "http://HOST:PORT" of this listener;
 * never with the request's Host header (a shared cache would keep a
 * manifest pointing wherever one client said).
 */
#ifndef SLOTFEED_HTTP_H
#define SLOTFEED_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/error.h"
#include "slotfeed/feed.h"

struct event_base;
struct http_server;

/*
 * Returns the snapshot to serve now (borrowed; must stay valid until the
 * loop runs again), or NULL when none is ready yet (-> 503).
 *
 * Lifetime (http.c): the snapshot must come from feed_build(). A reply
 * written from its bytes holds a feed_snapshot_ref() until libevent has
 * sent or dropped them, so the provider may feed_snapshot_free() a
 * replaced snapshot as soon as the callback has returned; the memory goes
 * when the last such reply is done. All on the loop's thread.
 */
typedef const struct feed_snapshot *(*http_snapshot_fn)(void *arg);

struct geo_table;
struct reportq_opts;

/*
 * Which routes a listener serves (config http.admin_listen). The
 * operator's routes are /metrics, /v1/reports/... and the vardvalsenhet's
 * /overview page with its scripts (/overview.html, /overview.js,
 * /history.js).
 */
enum http_role {
    HTTP_ROLE_ALL = 0, /* everything: the one listener, or the admin one */
    HTTP_ROLE_PUBLIC   /* the operator's routes answer 404 (as absent) */
};

struct http_opts {
    int max_age_s; /* Cache-Control max-age; default 30 */
    /*
     * Most connections open at once (accepted, not yet closed); at the cap
     * the listener pauses and further clients wait in the kernel's accept
     * queue until one closes. 0 = HTTP_DEFAULT_MAX_CONNECTIONS. Lowered
     * to what RLIMIT_NOFILE leaves after a reserve (logged).
     */
    int max_connections;
    /*
     * Request deadline in ms: a connection must deliver a whole request
     * (request line, headers and any body) within this time of its start
     * - the accept for the first request, the end of the previous reply
     * for a kept-alive one (so it is also the keep-alive idle limit) -
     * else it is closed without an answer and counted in
     * slotfeed_http_slow_clients_dropped_total. Bytes arriving do not
     * extend it (slowloris). 0 = HTTP_DEFAULT_REQUEST_TIMEOUT_MS.
     */
    int request_timeout_ms;
    /* Place table for near= (borrowed, must outlive the server), or NULL:
     * then near= answers "not available". The caller loads it before the
     * daemon drops privileges (app.c), never a request. */
    const struct geo_table *geo;
    enum http_role role; /* default HTTP_ROLE_ALL */
    /*
     * Report workers (reportq.h; copied): /v1/reports/... are computed
     * off the loop by these threads, started with the first report
     * request. NULL = defaults (1 worker, 4 waiting; beyond: 503 with
     * Retry-After). http_free cancels running reports and joins them.
     */
    const struct reportq_opts *reports;
};

#define HTTP_DEFAULT_MAX_CONNECTIONS 1024u
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000

/*
 * Listen on host:port (port 0 = ephemeral; see http_port). Returns NULL
 * with err set when the address cannot be bound.
 */
struct http_server *http_new(struct event_base *base, const char *host,
                             int port, const struct http_opts *opts,
                             http_snapshot_fn get, void *arg,
                             struct sf_error *err);

/* The port actually bound. */
int http_port(const struct http_server *s);

/* Report requests accepted and not answered yet (computing or waiting). */
size_t http_reports_pending(const struct http_server *s);

/*
 * Closes every connection (a report still computing is cancelled, its
 * document dropped), joins the report workers. NULL ok.
 */
void http_free(struct http_server *s);

/*
 * GET path?query of a report (/v1/reports/...) answered on the calling
 * thread, as the server answers it but without a loop or a worker: the
 * same strict query parser and parameter rules (api.h), the same
 * computation (reportq_open, reportq_compute) and the same problem
 * bodies. db_path NULL: no store configured (503). Sets *status (200,
 * 400, 404, 500, 503), *content_type (a static string), *body (malloc'd,
 * free()) and *len; returns 0, or -1 when out of memory for the problem
 * body itself (then *body is NULL). For tests and tools; the server
 * computes reports on its report workers (reportq.h).
 */
int http_report_now(const char *path, const char *query, const char *accept,
                    const char *db_path, int *status, const char **content_type,
                    char **body, size_t *len);

/*
 * The route the server gives a request path (the part before '?'), by
 * name: "availability", "clinic", "slots", "bad_id", "health", "metrics",
 * "manifest", "ndjson", "report" or "not_found" (static files are looked
 * up after "not_found"). For "clinic" and "slots" *id points at the
 * HSA-id inside path, *idlen bytes long; otherwise *id is NULL. The same
 * parser every request goes through, exposed for the fuzzer and tests.
 */
const char *http_route(const char *path, const char **id, size_t *idlen);

#endif
