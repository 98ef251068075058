/*
 * test_reportq.c - reports over HTTP are computed off the event loop
 * (reportq.h, http.c serve_report): the same bytes as http_report_now()
 * computes directly; the same strict query rules and problem bodies as
 * the other /v1 routes; /healthz answered while a report computes; the
 * bound on concurrent reports (503 + Retry-After); a client that leaves,
 * and a server freed (drain, shutdown), while its report computes.
 *
 * Ordering is made deterministic with the workers' test hook: a gate
 * that blocks the worker before each job until the test opens it. The
 * loop is run until a condition holds, with a generous deadline that
 * only bounds a failure; nothing sleeps to wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sqlite3.h>

#include "slotfeed/api.h"
#include "slotfeed/app.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/feed.h"
#include "slotfeed/http.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"
#include "slotfeed/report.h"
#include "slotfeed/reportq.h"
#include "slotfeed/store.h"
#include "th_store.h"
#include "th_time.h"

#define DEADLINE_MS 10000

/* --- a small store: two clinics, March 2026, one run per hour ------------- */

struct fx {
    char dir[64];
    char path[128];
    struct conf_clinic cc;
    struct conf_region region;
    struct clinic_state cs;
    struct feed_snapshot *snap;
    struct event_base *base;
    struct http_server *h;
    int port;
    /* the gate (test hook) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int entered, released;
};

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static void fill(const char *path)
{
    sqlite3 *db = NULL;
    char sql[512];
    int64_t t0 = th_utc(2026, 3, 1, 0, 0, 0) - 3600; /* local midnight */
    int c, d, h;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, th_store_schema);
    exec(db, "BEGIN");
    for (c = 1; c <= 2; c++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO clinic VALUES (%d, "
                 "'SE2321000156-%04d', 'Clinic %d', '%s', '%s', 1, %lld, "
                 "%lld, NULL)",
                 c, c, c, c == 1 ? "Karlstad" : "Kil",
                 c == 1 ? "private" : "region", (long long)(t0 - 86400 * 30),
                 (long long)(t0 + 86400 * 40));
        exec(db, sql);
        for (d = 0; d < 31; d++)
            for (h = 0; h < 24; h++) {
                int64_t a = t0 + d * 86400 + h * 3600;
                int32_t day = (int32_t)((t0 + d * 86400 + 3600) / 86400);
                int within = (h + c + d) % 3 != 0;

                snprintf(sql, sizeof sql,
                         "INSERT INTO poll (clinic_id, "
                         "t_first, t_last, n, interval_s, local_day, "
                         "deadline_day, status, web, first_free, "
                         "within_guarantee, free_slots, free_within) VALUES "
                         "(%d, %lld, %lld, 60, 60, %d, %d, 0, %d, %lld, %d, "
                         "5, %d)",
                         c, (long long)a, (long long)(a + 3540), (int)day,
                         (int)day + 3, (h + c) % 5 != 0,
                         (long long)(a + 86400 * (within ? 1 : 6)), within,
                         within);
                exec(db, sql);
            }
    }
    exec(db, "COMMIT");
    sqlite3_close(db);
}

static void gate_hook(void *arg)
{
    struct fx *f = arg;

    pthread_mutex_lock(&f->mu);
    f->entered++;
    pthread_cond_broadcast(&f->cv);
    while (!f->released)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static int gate_entered(struct fx *f)
{
    int n;

    pthread_mutex_lock(&f->mu);
    n = f->entered;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void gate_open(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    f->released = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until cond(arg) holds; fail after DEADLINE_MS. The tick
 * only makes each round return: it is not what anything waits for. */
static void run_until(struct fx *f, int (*cond)(void *), void *arg)
{
    struct timeval step = { 0, 10000 };
    struct event *tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
    int64_t end = mono_ms() + DEADLINE_MS;

    assert_non_null(tick);
    event_add(tick, &step);
    while (!cond(arg) && mono_ms() < end)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(tick);
    assert_true(cond(arg));
}

static int cond_entered(void *arg)
{
    return gate_entered(arg) > 0;
}

static int cond_idle(void *arg)
{
    return http_reports_pending(((struct fx *)arg)->h) == 0;
}

static int cond_two_pending(void *arg)
{
    return http_reports_pending(((struct fx *)arg)->h) == 2;
}

static const struct feed_snapshot *provide(void *arg)
{
    return arg;
}

/* gated: install the gate hook; queue: reportq_opts.queue. */
static void start(struct fx *f, int gated, int queue)
{
    struct reportq_opts ro = { 0 };
    struct http_opts ho = { 0 };
    struct sf_error err = { 0 };

    ro.workers = 1;
    ro.queue = queue;
    if (gated) {
        ro.hook = gate_hook;
        ro.hook_arg = f;
    }
    ho.reports = &ro;
    f->cc.id = "SE2321000156-0001";
    f->cc.name = "Alfa";
    f->cc.municipality = "Karlstad";
    f->cc.operator_kind = "private";
    f->cs.conf = &f->cc;
    f->cs.web = WEB_NONE;
    avail_slots_init(&f->cs.slots);
    f->region.name = "Test";
    f->region.timezone = "Europe/Stockholm";
    f->region.guarantee.days = 3;
    f->region.poll_interval_s = 60;
    f->region.clinics = &f->cc;
    f->region.nclinics = 1;
    f->region.store = f->path;
    assert_int_equal(feed_build(&f->region, &f->cs, clock_now(), &f->snap,
                                &err),
                     0);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->h = http_new(f->base, "127.0.0.1", 0, &ho, provide, f->snap, &err);
    assert_non_null(f->h);
    f->port = http_port(f->h);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    strcpy(f->dir, "/tmp/test_reportq.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof f->path, "%s/h.db", f->dir);
    fill(f->path);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    log_quiet();
    signal(SIGPIPE, SIG_IGN); /* as the daemon: replies to gone peers */
    clock_set_fake(th_utc(2026, 4, 2, 12, 0, 0));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[160];

    gate_open(f); /* never leave a worker blocked */
    http_free(f->h);
    if (f->base != NULL)
        event_base_free(f->base);
    feed_snapshot_free(f->snap);
    clock_set_fake(-1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    return 0;
}

/* --- an HTTP client on the same loop --------------------------------------- */

struct reply {
    struct evhttp_connection *c;
    int done, status;
    int order; /* 1 = first reply to arrive, ... */
    char ct[128], retry_after[16];
    char *body;
    size_t len;
};

static int replies; /* replies arrived, for .order */

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct reply *r = arg;
    const char *v;
    struct evbuffer *b;

    r->done = 1;
    r->order = ++replies;
    if (req == NULL)
        return;
    r->status = evhttp_request_get_response_code(req);
    v = evhttp_find_header(evhttp_request_get_input_headers(req),
                           "Content-Type");
    snprintf(r->ct, sizeof r->ct, "%s", v ? v : "");
    v = evhttp_find_header(evhttp_request_get_input_headers(req),
                           "Retry-After");
    snprintf(r->retry_after, sizeof r->retry_after, "%s", v ? v : "");
    b = evhttp_request_get_input_buffer(req);
    r->len = evbuffer_get_length(b);
    r->body = malloc(r->len + 1);
    evbuffer_remove(b, r->body, r->len);
    r->body[r->len] = '\0';
}

static void send_get(struct fx *f, const char *uri, const char *accept,
                     struct reply *r)
{
    struct evhttp_request *req = evhttp_request_new(on_reply, r);

    memset(r, 0, sizeof(*r));
    r->c = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
                                      (unsigned short)f->port);
    assert_non_null(r->c);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
                      "127.0.0.1");
    if (accept != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Accept",
                          accept);
    assert_int_equal(evhttp_make_request(r->c, req, EVHTTP_REQ_GET, uri), 0);
}

static int cond_done(void *arg)
{
    return ((struct reply *)arg)->done;
}

static void wait_reply(struct fx *f, struct reply *r)
{
    run_until(f, cond_done, r);
}

static void reply_free(struct reply *r)
{
    if (r->c != NULL)
        evhttp_connection_free(r->c);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void get(struct fx *f, const char *uri, const char *accept,
                struct reply *r)
{
    send_get(f, uri, accept, r);
    wait_reply(f, r);
}

/* The body http_report_now() computes directly on this thread. */
static char *direct(struct fx *f, const char *path, const char *query,
                    const char *accept, size_t *len, int *status)
{
    const char *ct = NULL;
    char *body = NULL;

    assert_int_equal(http_report_now(path, query, accept, f->path, status, &ct,
                                     &body, len),
                     0);
    return body;
}

/* A raw client: connect and send a request, return the socket. */
static int raw_send(struct fx *f, const char *uri)
{
    struct sockaddr_in sa = { 0 };
    char req[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int n;

    assert_true(fd >= 0);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)f->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", uri);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

/* --- tests ------------------------------------------------------------------ */

#define GUAR "/v1/reports/guarantee"
#define WEB "/v1/reports/web-booking"

/* Off the loop, the reply is still exactly what http_report_now computes. */
static void test_same_bytes(void **state)
{
    static const struct {
        const char *path, *query, *accept;
    } cases[] = {
        { GUAR, "month=2026-03&by=operator", NULL },
        { GUAR, "month=2026-03", "text/csv" },
        { GUAR, "month=2026-03&format=html", NULL },
        { WEB, "from=2026-03-01&to=2026-03-31&per=week&by=municipality", NULL },
        { WEB, "from=2026-03-01&to=2026-03-31", "text/csv" },
        { WEB, "from=2026-03-02&to=2026-03-08&format=html", NULL },
        { GUAR, "month=march", NULL },                  /* 400 on the loop */
        { WEB, "from=2026-01-01&to=2029-01-01", NULL }, /* 400 from a worker */
    };
    struct fx *f = *state;
    struct reply r;
    char uri[256], *want;
    size_t i, len;
    int status;

    start(f, 0, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(uri, sizeof uri, "%s?%s", cases[i].path, cases[i].query);
        get(f, uri, cases[i].accept, &r);
        want = direct(f, cases[i].path, cases[i].query, cases[i].accept, &len,
                      &status);
        assert_int_equal(r.status, status);
        assert_int_equal(r.len, len);
        assert_memory_equal(r.body, want, len);
        if (i < 6)
            assert_int_equal(status, 200);
        else
            assert_int_equal(status, 400);
        free(want);
        reply_free(&r);
    }
    assert_int_equal(http_reports_pending(f->h), 0);
}

/*
 * A report's query meets the strict parser and the rules of the /v1
 * routes: a parameter given twice, or a bad percent-escape, gets the very
 * 400 problem body that /v1/clinics/{id}/slots gives, from the server and
 * from http_report_now alike. (The old report parser,
 * evhttp_parse_query_str, took the last of two "from" and answered 200,
 * and read "%zz" as three letters of an unknown parameter.)
 */
static void test_strict_query_as_v1(void **state)
{
    static const struct {
        const char *path, *query, *v1;
    } cases[] = {
        { WEB, "from=2026-03-01&from=2026-03-02&to=2026-03-05",
          "/v1/clinics/SE2321000156-0001/slots?from=2026-03-01&"
          "from=2026-03-02" },
        { GUAR, "month=2026-03&from=%zz",
          "/v1/clinics/SE2321000156-0001/slots?from=%zz" },
    };
    struct fx *f = *state;
    struct reply rep, v1;
    char uri[256], *want;
    size_t i, len;
    int status;

    start(f, 0, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(uri, sizeof uri, "%s?%s", cases[i].path, cases[i].query);
        get(f, uri, NULL, &rep);
        get(f, cases[i].v1, NULL, &v1);
        assert_int_equal(v1.status, 400);
        assert_int_equal(rep.status, 400);
        assert_non_null(strstr(rep.ct, "application/problem+json"));
        assert_string_equal(rep.ct, v1.ct);
        assert_int_equal(rep.len, v1.len);
        assert_memory_equal(rep.body, v1.body, v1.len);
        want = direct(f, cases[i].path, cases[i].query, NULL, &len, &status);
        assert_int_equal(status, 400);
        assert_int_equal(len, v1.len);
        assert_memory_equal(want, v1.body, v1.len);
        free(want);
        reply_free(&rep);
        reply_free(&v1);
    }
    assert_int_equal(http_reports_pending(f->h), 0);
}

/* /healthz is answered while a report computes: the report's worker is
 * held at the gate, so on the old code (report on the loop) the health
 * reply could never come first. */
static void test_healthz_during_report(void **state)
{
    struct fx *f = *state;
    struct reply rep, hz;
    char *want;
    size_t len;
    int status;

    start(f, 1, 0);
    replies = 0;
    send_get(f, GUAR "?month=2026-03", NULL, &rep);
    run_until(f, cond_entered, f);
    get(f, "/healthz", NULL, &hz);
    assert_int_equal(hz.status, 200);
    assert_int_equal(hz.order, 1);
    assert_false(rep.done);
    assert_int_equal(http_reports_pending(f->h), 1);
    gate_open(f);
    wait_reply(f, &rep);
    assert_int_equal(rep.order, 2);
    assert_int_equal(rep.status, 200);
    want = direct(f, GUAR, "month=2026-03", NULL, &len, &status);
    assert_int_equal(rep.len, len);
    assert_memory_equal(rep.body, want, len);
    free(want);
    reply_free(&rep);
    reply_free(&hz);
}

/* One worker and one place in the queue: the third concurrent report
 * gets 503 with Retry-After at once; the two accepted ones complete. */
static void test_bound_503(void **state)
{
    struct fx *f = *state;
    struct reply a, b, c, d;
    unsigned long rejected = metrics_reports_rejected_total();

    start(f, 1, 1);
    send_get(f, GUAR "?month=2026-03", NULL, &a);
    run_until(f, cond_entered, f);
    send_get(f, WEB "?from=2026-03-01&to=2026-03-31", NULL, &b);
    run_until(f, cond_two_pending, f);
    get(f, GUAR "?month=2026-03&by=clinic", NULL, &c);
    assert_int_equal(c.status, 503);
    assert_string_equal(c.retry_after, "2");
    assert_non_null(strstr(c.ct, "problem+json"));
    assert_int_equal(metrics_reports_rejected_total(), rejected + 1);
    assert_false(a.done);
    assert_false(b.done);
    gate_open(f);
    wait_reply(f, &a);
    wait_reply(f, &b);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    run_until(f, cond_idle, f);
    get(f, GUAR "?month=2026-03&by=clinic", NULL, &d);
    assert_int_equal(d.status, 200);
    reply_free(&a);
    reply_free(&b);
    reply_free(&c);
    reply_free(&d);
}

/* A client that leaves while its report computes: the finished document
 * goes to a dead socket (or nowhere), nothing crashes (ASan build), and
 * the next request is answered. */
static void test_client_leaves(void **state)
{
    struct fx *f = *state;
    struct reply r;
    int fd;

    start(f, 1, 0);
    fd = raw_send(f, GUAR "?month=2026-03");
    run_until(f, cond_entered, f);
    close(fd);
    gate_open(f);
    run_until(f, cond_idle, f);
    get(f, GUAR "?month=2026-03", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    get(f, "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

/* The server is freed (drain: app_drain -> http_free; shutdown) while one
 * report computes and another waits: libevent frees both requests with
 * their connections, the close callback cancels the jobs, the workers
 * are joined, and no reply is written to a freed request - the clients
 * see the connection close without a byte. */
static void test_free_while_computing(void **state)
{
    struct fx *f = *state;
    struct http_server *h;
    char buf[64];
    int fa, fb;

    start(f, 1, 1);
    fa = raw_send(f, GUAR "?month=2026-03");
    run_until(f, cond_entered, f);
    fb = raw_send(f, WEB "?from=2026-03-01&to=2026-03-31");
    run_until(f, cond_two_pending, f);
    gate_open(f); /* the worker may finish before or after the free */
    h = f->h;
    f->h = NULL; /* teardown must not free it again */
    http_free(h);
    assert_int_equal(read(fa, buf, sizeof buf), 0);
    assert_int_equal(read(fb, buf, sizeof buf), 0);
    close(fa);
    close(fb);
}

/* reportq alone: cancel of a waiting job delivers it, cancelled, from
 * the loop (never inside reportq_cancel); the bound counts waiting and
 * running jobs only. */
struct got {
    int n, cancelled, status;
    char *body; /* taken from the result: ours */
    size_t len;
    int second_take; /* a second reportq_take_body gave something */
};

static void on_done(const struct reportq_result *r, void *arg)
{
    struct got *g = arg;

    g->n++;
    g->cancelled = r->cancelled;
    g->status = r->status;
    if (r->status == 200) {
        g->body = reportq_take_body(r);
        g->len = r->len;
        g->second_take = reportq_take_body(r) != NULL;
    }
}

static int cond_got(void *arg)
{
    return ((struct got *)arg)->n > 0;
}

static void test_queue_cancel(void **state)
{
    struct fx *f = *state;
    struct reportq_opts ro = { 1, 1, gate_hook, f };
    struct report_request rq;
    struct reportq_job *ja, *jb;
    struct sf_error err = { 0 };
    struct got ga = { 0 }, gb = { 0 }, gc = { 0 };
    struct api_params params = { .n = 0 };
    struct reportq *q;

    f->base = event_base_new();
    q = reportq_new(f->base, &ro, &err);
    assert_non_null(q);
    assert_int_equal(api_params_parse("month=2026-03", &params, &err), 0);
    assert_int_equal(api_report_parse(GUAR, &params, NULL, &rq, &err), 0);
    api_params_clear(&params);
    ja = reportq_submit(q, f->path, &rq, on_done, &ga, &err);
    assert_non_null(ja);
    jb = reportq_submit(q, f->path, &rq, on_done, &gb, &err);
    assert_non_null(jb);
    assert_null(reportq_submit(q, f->path, &rq, on_done, &gc, &err));
    assert_int_equal(err.code, SF_ERR_TIMEOUT);
    assert_int_equal(reportq_pending(q), 2);
    reportq_cancel(q, jb);
    assert_int_equal(gb.n, 0); /* not from inside cancel */
    run_until(f, cond_got, &gb);
    assert_int_equal(gb.n, 1);
    assert_true(gb.cancelled);
    assert_int_equal(gb.status, 0); /* never computed */
    gate_open(f);
    run_until(f, cond_got, &ga);
    assert_false(ga.cancelled);
    assert_int_equal(ga.status, 200);
    /* the document was handed over whole, once: it outlives the job
     * (ASan: reportq neither frees nor keeps it) */
    assert_non_null(ga.body);
    assert_true(ga.len > 2 && ga.body[0] == '{');
    assert_non_null(memchr(ga.body + ga.len - 2, '}', 2)); /* "}\n" */
    assert_false(ga.second_take);
    assert_null(gb.body);
    assert_int_equal(reportq_pending(q), 0);
    reportq_free(q);
    free(ga.body);
    assert_int_equal(ga.n, 1);
    assert_int_equal(gb.n, 1);
    assert_int_equal(gc.n, 0);
}

/* The whole daemon (app.c): a report computing across a reload (SIGHUP)
 * is answered after it; one computing at drain (SIGTERM) is cancelled,
 * its client sees the connection close without a byte, the drain ends
 * and app_free returns (the worker joined). */
static void on_drained(void *arg)
{
    *(int *)arg = 1;
}

static int cond_flag(void *arg)
{
    return *(int *)arg;
}

static struct conf_region *region_json(struct fx *f)
{
    struct conf_region *r = NULL;
    struct conf_errors errs = { 0 };
    char json[512];

    snprintf(json, sizeof json,
             "{\"name\": \"T\", \"listen\": \"127.0.0.1:8080\", "
             "\"store\": \"%s\", \"clinics\": ["
             "{\"id\": \"SE2321000156-0001\", \"name\": \"A\", "
             "\"municipality\": \"Karlstad\", \"operator\": \"private\"}]}",
             f->path);
    if (conf_parse(json, strlen(json), &r, &errs) != 0)
        fail_msg("config: %s", errs.n > 0 ? errs.v[0] : "?");
    conf_errors_free(&errs);
    return r;
}

static void test_app_reload_and_drain(void **state)
{
    struct fx *f = *state;
    struct reportq_opts ro = { 1, 0, gate_hook, f };
    struct app_opts ao = { 0 };
    struct conf_region *r1 = region_json(f), *r2 = region_json(f);
    struct sf_error err = { 0 };
    struct reply r;
    struct app *app;
    char buf[64], *want;
    size_t len;
    int status, fd, drained = 0;

    ao.listen_host = "127.0.0.1";
    ao.listen_port = 0;
    ao.reports = &ro;
    f->base = event_base_new();
    app = app_new(f->base, r1, &ao, &err);
    if (app == NULL)
        fail_msg("app_new: %s", err.msg);
    f->port = app_port(app);

    send_get(f, GUAR "?month=2026-03", NULL, &r);
    run_until(f, cond_entered, f);
    assert_int_equal(app_reload(app, r2, &err), 0); /* r2 is app's */
    gate_open(f);
    wait_reply(f, &r);
    assert_int_equal(r.status, 200);
    want = direct(f, GUAR, "month=2026-03", NULL, &len, &status);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.body, want, len);
    free(want);
    reply_free(&r);

    pthread_mutex_lock(&f->mu);
    f->entered = 0;
    f->released = 0;
    pthread_mutex_unlock(&f->mu);
    fd = raw_send(f, GUAR "?month=2026-03");
    run_until(f, cond_entered, f);
    gate_open(f); /* the worker may finish before or after the drain */
    assert_int_equal(app_drain(app, 1000, on_drained, &drained), 0);
    assert_int_equal(read(fd, buf, sizeof buf), 0);
    close(fd);
    run_until(f, cond_flag, &drained);
    app_free(app);
    conf_free(r1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strict_query_as_v1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_healthz_during_report, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bound_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_computing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_app_reload_and_drain, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
