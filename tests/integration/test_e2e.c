/*
 * test_e2e.c - loopback end to end: simulator <-> collector <-> feed <->
 * HTTP, all on one event base, on a fixed "now".
 *
 * The expected availability of each clinic is derived independently from
 * the simulator's ground truth (sim_schedule_day) with a direct scan here,
 * not from the availability module under test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libxml/parser.h>

#include "slotfeed/rivta.h"
#include "slotfeed/app.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/log.h"
#include "slotfeed/sim.h"

#define SEED 4242u
#define E2E_DB SLOTFEED_BINARY_DIR "/test_e2e.db"

/* Tuesday 31 March 2026, 09:00 CEST (two days after the spring switch). */
static const char *NOW = "2026-03-31T09:00:00+02:00";

#define REGION_FMT                                                                      \
    "{\"name\":\"e2e\",\"timezone\":\"Europe/Stockholm\","                              \
    "\"guarantee\":{\"days\":3,\"counting\":\"calendar\"},"                             \
    "\"horizon_days\":28,\"poll_interval_s\":60,"                                       \
    "\"fetch\":{\"connect_timeout_ms\":1000,\"timeout_ms\":1500},"                      \
    "\"riv\":{\"subject_of_care\":\"191212121212\"},"                                   \
    "\"politeness\":{\"rate_per_s\":200,\"burst\":50,\"max_concurrent_per_host\":16},"  \
    "\"listen\":\"127.0.0.1:8080\","                                                    \
    "\"store\":\"" E2E_DB "\","                                                         \
    "\"clinics\":["                                                                     \
    "{\"id\":\"SE2321000156-E001\",\"name\":\"Normal\",\"municipality\":\"Karlstad\","  \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\",\"time_type_id\":\"NYB\"}},"                   \
    "{\"id\":\"SE2321000156-E002\",\"name\":\"Full\",\"municipality\":\"Arvika\","      \
    " \"operator\":\"private\",\"booking\":{\"adapter\":\"rivta-scheduling\","          \
    " \"url\":\"http://127.0.0.1:%d/vp\"},\"sim\":{\"profile\":\"full\"}},"             \
    "{\"id\":\"SE2321000156-E003\",\"name\":\"NotConnected\",\"municipality\":\"Kil\"," \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\"},\"sim\":{\"profile\":\"vp007\"}},"            \
    "{\"id\":\"SE2321000156-E004\",\"name\":\"NoBooking\",\"municipality\":\"Kil\","    \
    " \"operator\":\"private\",\"phone\":\"070-174 06 05\"},"                           \
    "{\"id\":\"SE2321000156-E005\",\"name\":\"Dead\",\"municipality\":\"Sunne\","       \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\"}},"                                            \
    "{\"id\":\"SE2321000156-E006\",\"name\":\"Garbage\",\"municipality\":\"Sunne\","    \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\"},\"sim\":{\"profile\":\"garbage\"}},"          \
    "{\"id\":\"SE2321000156-E007\",\"name\":\"Hostile\",\"municipality\":\"Torsby\","   \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\"},\"sim\":{\"profile\":\"hostile\"}},"          \
    "{\"id\":\"SE2321000156-E008\",\"name\":\"Hang\",\"municipality\":\"Torsby\","      \
    " \"operator\":\"region\",\"booking\":{\"adapter\":\"rivta-scheduling\","           \
    " \"url\":\"http://127.0.0.1:%d/vp\"},\"sim\":{\"profile\":\"hang\"}}"              \
    "]}"

static struct conf_region *make_region(int sim_port, int dead_port)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    char buf[8192];
    int n;

    n = snprintf(buf, sizeof(buf), REGION_FMT, sim_port, sim_port, sim_port,
                 dead_port, sim_port, sim_port, sim_port);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    if (conf_parse(buf, (size_t)n, &r, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "config: %s\n", errs.v[i]);
    }
    conf_errors_free(&errs);
    assert_non_null(r);
    return r;
}

/* A port with nothing listening: bind, read the port, close. */
static int dead_port(void)
{
    struct event_base *b = event_base_new();
    struct evhttp *h = evhttp_new(b);
    struct evhttp_bound_socket *s =
        evhttp_bind_socket_with_handle(h, "127.0.0.1", 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int port;

    assert_non_null(s);
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss, &len);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    evhttp_free(h);
    event_base_free(b);
    return port;
}

struct expect {
    int64_t first_free; /* 0 = none */
    int within;         /* slots within guarantee */
    int total;
    int32_t days[64];
    int ndays;
};

/* Independent expectation from the simulator's own schedule. */
static void expect_for(const struct conf_clinic *c, int64_t now,
                       struct expect *e)
{
    int32_t today = clock_local_day(now), d;
    size_t i;

    memset(e, 0, sizeof(*e));
    for (d = today; d < today + 28; d++) {
        struct avail_slots s;
        int any = 0;

        avail_slots_init(&s);
        assert_int_equal(sim_schedule_day(SEED, c, d, &s), 0);
        for (i = 0; i < s.n; i++) {
            if (s.v[i].start <= now)
                continue;
            any = 1;
            e->total++;
            if (d <= today + 3)
                e->within++;
            if (e->first_free == 0 || s.v[i].start < e->first_free)
                e->first_free = s.v[i].start;
        }
        if (any)
            e->days[e->ndays++] = d;
        avail_slots_clear(&s);
    }
}

struct http_get {
    struct event_base *base;
    int status;
    char *body;
    char etag[128];
};

static void on_response(struct evhttp_request *req, void *arg)
{
    struct http_get *g = arg;
    struct evbuffer *in;
    const char *etag;
    size_t n;

    event_base_loopbreak(g->base);
    if (req == NULL)
        return;
    g->status = evhttp_request_get_response_code(req);
    etag = evhttp_find_header(evhttp_request_get_input_headers(req), "ETag");
    if (etag)
        snprintf(g->etag, sizeof(g->etag), "%s", etag);
    in = evhttp_request_get_input_buffer(req);
    n = evbuffer_get_length(in);
    g->body = malloc(n + 1);
    evbuffer_remove(in, g->body, n);
    g->body[n] = '\0';
}

static void http_get(struct event_base *base, int port, const char *path,
                     const char *inm, struct http_get *g)
{
    struct evhttp_connection *conn;
    struct evhttp_request *req;

    memset(g, 0, sizeof(*g));
    g->base = base;
    conn = evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                      (unsigned short)port);
    req = evhttp_request_new(on_response, g);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
                      "localhost");
    if (inm)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "If-None-Match", inm);
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET, path), 0);
    event_base_dispatch(base);
    evhttp_connection_free(conn);
}

static void on_pass(void *arg)
{
    int *done = arg;
    *done = 1;
}

static const cJSON *clinic_by_id(const cJSON *feed, const char *id)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(feed, "clinics")) {
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "id");
        if (cJSON_IsString(cid) && strcmp(cid->valuestring, id) == 0)
            return c;
    }
    fail_msg("clinic %s missing from feed", id);
    return NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_loopback_end_to_end(void **state)
{
    struct event_base *base;
    struct conf_region *sim_region, *region;
    struct sim *sim;
    struct sim_opts so = { SEED, 0 };
    struct app_opts ao = { 0 };
    struct app *app;
    struct sf_error err = { 0 };
    struct http_get g, g304, gd;
    struct expect e;
    cJSON *feed, *detail;
    const cJSON *c, *days;
    int64_t now;
    int done = 0, port;
    char ts[CLOCK_RFC3339_LEN], date[CLOCK_DATE_LEN];

    (void)state;
    unlink(E2E_DB);
    unlink(E2E_DB "-wal");
    unlink(E2E_DB "-shm");
    assert_int_equal(clock_parse_rfc3339(NOW, &now), 0);
    clock_set_fake(now);
    base = event_base_new();

    /* The sim only needs the clinic list; URLs are filled in afterwards. */
    sim_region = make_region(1, 1);
    sim = sim_new(base, sim_region, "127.0.0.1", 0, &so, &err);
    assert_non_null(sim);
    region = make_region(sim_port(sim), dead_port());

    ao.listen_host = "127.0.0.1";
    ao.listen_port = 0;
    app = app_new(base, region, &ao, &err);
    if (app == NULL)
        fail_msg("app_new: %s", err.msg);
    port = app_port(app);

    assert_int_equal(app_poll_now(app, on_pass, &done), 0);
    while (!done)
        event_base_loop(base, EVLOOP_ONCE);

    http_get(base, port, "/v1/availability", NULL, &g);
    assert_int_equal(g.status, 200);
    assert_true(g.etag[0] == '"');
    feed = cJSON_Parse(g.body);
    assert_non_null(feed);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(feed, "clinics")),
                     8);

    /* Normal clinic: every figure matches the simulator's ground truth. */
    expect_for(&region->clinics[0], now, &e);
    assert_true(e.total > 0);
    c = clinic_by_id(feed, "SE2321000156-E001");
    assert_string_equal(str(c, "web_booking"), "open");
    assert_string_equal(str(c, "status"), "ok");
    clock_format_rfc3339(e.first_free, ts);
    assert_string_equal(str(c, "first_free"), ts);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(c, "within_guarantee")),
                     e.within > 0);
    assert_int_equal(cJSON_GetObjectItem(c, "free_slots_within_guarantee")
                         ->valueint,
                     e.within);
    assert_int_equal(cJSON_GetObjectItem(c, "free_slots")->valueint, e.total);
    days = cJSON_GetObjectItem(c, "upcoming_days");
    assert_int_equal(cJSON_GetArraySize(days), e.ndays < 3 ? e.ndays : 3);
    clock_format_date(e.days[0], date);
    assert_string_equal(cJSON_GetArrayItem(days, 0)->valuestring, date);
    assert_int_equal(cJSON_GetObjectItem(c, "more_days")->valueint,
                     e.ndays > 3 ? e.ndays - 3 : 0);

    /* Full clinic: web booking open, answered, no free time. */
    c = clinic_by_id(feed, "SE2321000156-E002");
    assert_string_equal(str(c, "web_booking"), "open");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "first_free")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "within_guarantee")));

    /* VP007 and no booking config: both "none". */
    assert_string_equal(str(clinic_by_id(feed, "SE2321000156-E003"),
                            "web_booking"),
                        "none");
    assert_string_equal(str(clinic_by_id(feed, "SE2321000156-E004"),
                            "web_booking"),
                        "none");

    /* Dead address, garbage, hostile XML, hang: errors, never "no times". */
    for (const char *const *id =
             (const char *const[]){ "SE2321000156-E005", "SE2321000156-E006",
                                    "SE2321000156-E007", "SE2321000156-E008",
                                    NULL };
         *id; id++) {
        c = clinic_by_id(feed, *id);
        assert_string_equal(str(c, "status"), "error");
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "within_guarantee")));
        assert_true(cJSON_IsObject(cJSON_GetObjectItem(c, "error")));
    }
    assert_string_equal(
        str(cJSON_GetObjectItem(clinic_by_id(feed, "SE2321000156-E007"),
                                "error"),
            "class"),
        "hostile");
    assert_string_equal(
        str(cJSON_GetObjectItem(clinic_by_id(feed, "SE2321000156-E008"),
                                "error"),
            "class"),
        "timeout");

    /* Conditional GET. */
    http_get(base, port, "/v1/availability", g.etag, &g304);
    assert_int_equal(g304.status, 304);
    assert_int_equal(strlen(g304.body), 0);

    /* Clinic detail: one slot per ground-truth slot, day by day. */
    http_get(base, port, "/v1/clinics/se2321000156-e001", NULL, &gd);
    assert_int_equal(gd.status, 200);
    detail = cJSON_Parse(gd.body);
    assert_non_null(detail);
    {
        int nslots = 0;
        const cJSON *day;
        cJSON_ArrayForEach(day, cJSON_GetObjectItem(detail, "days"))
            nslots += cJSON_GetArraySize(cJSON_GetObjectItem(day, "slots"));
        assert_int_equal(nslots, e.total);
        assert_int_equal(cJSON_GetArraySize(
                             cJSON_GetObjectItem(detail, "days")),
                         e.ndays);
    }

    cJSON_Delete(detail);
    cJSON_Delete(feed);
    free(g.body);
    free(g304.body);
    free(gd.body);
    app_free(app); /* flushes the history store */

    /* History: one poll run per polled clinic (7 have booking), all at
     * now, and the normal clinic's figures as the feed showed them. */
    {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_open_v2(E2E_DB, &db, SQLITE_OPEN_READONLY,
                                         NULL),
                         SQLITE_OK);
        assert_int_equal(
            sqlite3_prepare_v2(
                db, "SELECT count(*), min(t_first), max(t_last) FROM poll", -1,
                &st, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 7);
        assert_int_equal(sqlite3_column_int64(st, 1), now);
        assert_int_equal(sqlite3_column_int64(st, 2), now);
        sqlite3_finalize(st);
        assert_int_equal(
            sqlite3_prepare_v2(
                db,
                "SELECT p.first_free, p.free_slots, p.free_within FROM poll p "
                "JOIN clinic c ON c.id = p.clinic_id "
                "WHERE c.hsa_id = 'SE2321000156-E001'",
                -1, &st, NULL),
            SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), e.first_free);
        assert_int_equal(sqlite3_column_int(st, 1), e.total);
        assert_int_equal(sqlite3_column_int(st, 2), e.within);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    sim_free(sim);
    conf_free(region);
    conf_free(sim_region);
    event_base_free(base);
    clock_set_fake(-1);
}

/* --- reload: restart-only keys ------------------------------------------- */

#define RELOAD_DB SLOTFEED_BINARY_DIR "/test_e2e_reload.db"

/* One clinic without booking: nothing is polled, only the config counts. */
#define RELOAD_FMT                                                   \
    "{\"name\":\"reload\",\"timezone\":\"Europe/Stockholm\","        \
    "\"poll_interval_s\":%d,\"listen\":\"%s\",\"store\":\"%s\"%s,"   \
    "\"fetch\":{\"connect_timeout_ms\":%d,\"timeout_ms\":%d,"        \
    " \"max_body_bytes\":%d,\"max_decompress_ratio\":%d,"            \
    " \"user_agent\":\"%s\"},"                                       \
    "\"http\":{\"request_timeout_ms\":%d,\"max_connections\":%d%s}," \
    "\"clinics\":[{\"id\":\"SE2321000156-R001\",\"name\":\"R\","     \
    " \"municipality\":\"Kil\",\"operator\":\"region\"}]}"

static struct conf_region *reload_region(int changed)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    char buf[2048];
    int n;

    if (!changed)
        n = snprintf(buf, sizeof(buf), RELOAD_FMT, 60, "127.0.0.1:8080",
                     RELOAD_DB, "", 1000, 1500, 1048576, 50, "slotfeed-test/1",
                     5000, 256, "");
    else
        n = snprintf(buf, sizeof(buf), RELOAD_FMT, 120, "127.0.0.1:9090",
                     RELOAD_DB "-other",
                     ",\"geo\":\"" SLOTFEED_SOURCE_DIR
                     "/conf/geo-varmland.json\"",
                     2000, 2500, 2097152, 60, "slotfeed-test/2", 6000, 300,
                     ",\"admin_listen\":\"127.0.0.1:9091\"");
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    if (conf_parse(buf, (size_t)n, &r, &errs) != 0)
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "config: %s\n", errs.v[i]);
    conf_errors_free(&errs);
    assert_non_null(r);
    return r;
}

/* Lines of text that contain needle. */
static int count_lines(const char *text, const char *needle)
{
    const char *p = text;
    int n = 0;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/*
 * docs/operations.md: listen, store, geo, the fetch limits and the http
 * limits need a restart; a reload that changes one logs
 * reload_needs_restart key=... and keeps the running value (written back
 * into the new region), while the rest (poll_interval_s) follows.
 */
static void test_reload_needs_restart(void **state)
{
    static const char *const keys[] = {
        "listen",
        "store",
        "geo",
        "fetch.user_agent",
        "http.admin_listen",
        "fetch.connect_timeout_ms",
        "fetch.timeout_ms",
        "fetch.max_body_bytes",
        "fetch.max_decompress_ratio",
        "http.request_timeout_ms",
        "http.max_connections",
    };
    struct event_base *base = event_base_new();
    struct conf_region *r1 = reload_region(0), *r2, *r3;
    struct app_opts ao = { 0 };
    struct sf_error err = { 0 };
    char *text = NULL, needle[96];
    size_t len = 0, i;
    struct app *app;
    FILE *cap;

    (void)state;
    unlink(RELOAD_DB);
    ao.listen_host = "127.0.0.1";
    ao.listen_port = 0;
    app = app_new(base, r1, &ao, &err);
    if (app == NULL)
        fail_msg("app_new: %s", err.msg);
    cap = open_memstream(&text, &len);
    assert_non_null(cap);
    log_set_output(cap);
    log_set_level(LOG_LVL_INFO);

    r2 = reload_region(1);
    assert_int_equal(app_reload(app, r2, &err), 0); /* r2 is the app's */
    fflush(cap);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(needle, sizeof(needle), "event=reload_needs_restart key=%s ",
                 keys[i]);
        if (count_lines(text, needle) != 1)
            fail_msg("%s logged %d times:\n%s", needle,
                     count_lines(text, needle), text);
    }
    assert_int_equal(count_lines(text, "event=reload_needs_restart"),
                     (int)(sizeof(keys) / sizeof(keys[0])));
    assert_non_null(strstr(text, "event=reload_needs_restart key=listen "
                                 "running=127.0.0.1:8080 configured="
                                 "127.0.0.1:9090 kept=running"));
    assert_non_null(strstr(text, "event=reload_needs_restart "
                                 "key=fetch.timeout_ms running=1500 "
                                 "configured=2500 kept=running"));
    /* The running values, written back; the others follow. */
    assert_string_equal(r2->listen, "127.0.0.1:8080");
    assert_string_equal(r2->store, RELOAD_DB);
    assert_null(r2->geo);
    assert_null(r2->http_admin_listen);
    assert_string_equal(r2->user_agent, "slotfeed-test/1");
    assert_int_equal(r2->connect_timeout_ms, 1000);
    assert_int_equal(r2->timeout_ms, 1500);
    assert_int_equal(r2->max_body_bytes, 1048576);
    assert_int_equal(r2->max_decompress_ratio, 50);
    assert_int_equal(r2->http_request_timeout_ms, 5000);
    assert_int_equal(r2->http_max_connections, 256);
    assert_int_equal(r2->poll_interval_s, 120);
    assert_non_null(strstr(text, "event=reload "));
    assert_non_null(strstr(text, "added=0 removed=0 changed=0 kept=1"));

    /* The same restart-only values again: nothing to report. */
    fclose(cap);
    free(text);
    text = NULL;
    cap = open_memstream(&text, &len);
    assert_non_null(cap);
    log_set_output(cap);
    r3 = reload_region(0);
    assert_int_equal(app_reload(app, r3, &err), 0);
    fflush(cap);
    assert_null(strstr(text, "reload_needs_restart"));
    assert_non_null(strstr(text, "event=reload "));

    log_set_output(NULL);
    log_quiet();
    fclose(cap);
    free(text);
    app_free(app);
    conf_free(r1);
    event_base_free(base);
    unlink(RELOAD_DB);
    unlink(RELOAD_DB "-wal");
    unlink(RELOAD_DB "-shm");
}

/* A region of n clinics without a booking system (nothing to poll). */
static struct conf_region *many_region(int n)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t cap = 256 + (size_t)n * 160, len;
    char *buf = malloc(cap);
    int i;

    assert_non_null(buf);
    len = (size_t)snprintf(buf, cap,
                           "{\"name\":\"many\",\"listen\":\"127.0.0.1:8080\","
                           "\"clinics\":[");
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"id\":\"SE2321000156-M%04d\",\"name\":"
                                "\"M%d\",\"municipality\":\"Kil\","
                                "\"operator\":\"region\"}",
                                i ? "," : "", i, i);
    len += (size_t)snprintf(buf + len, cap - len, "]}");
    assert_true(len < cap);
    if (conf_parse(buf, len, &r, &errs) != 0)
        fail_msg("config: %s", errs.n > 0 ? errs.v[0] : "?");
    conf_errors_free(&errs);
    free(buf);
    return r;
}

struct probe {
    struct event *ev;
    int ticks;
};

/* Another event of the loop: a 0 s timer re-armed from its own run. */
static void on_probe(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    struct timeval now0 = { 0, 0 };

    (void)fd;
    (void)what;
    p->ticks++;
    evtimer_add(p->ev, &now0);
}

/* Clinics in the body of a GET /v1/availability, -1 when unparsable. */
static int feed_clinics(const char *body)
{
    cJSON *f = cJSON_Parse(body);
    int n = f ? cJSON_GetArraySize(cJSON_GetObjectItem(f, "clinics")) : -1;

    cJSON_Delete(f);
    return n;
}

static void on_drained(void *arg)
{
    *(int *)arg = 1;
}

/*
 * issue 12: a reload builds the new region's feed in slices. Right after
 * app_reload the old snapshot (old region) is still public; the loop runs
 * other events and answers requests from it between the steps; the new
 * one is published after a known number of steps (5 clinics each, then
 * all.json and the SMART files a step each) and logged as reload_published. A drain abandons a
 * reload's build (no build while draining) and still ends.
 */
static void test_reload_sliced(void **state)
{
    struct event_base *base = event_base_new();
    struct conf_region *r1 = many_region(300), *r2 = many_region(301), *r3, *r4;
    struct app_opts ao = { 0 };
    struct sf_error err = { 0 };
    struct probe pr = { NULL, 0 };
    struct timeval now0 = { 0, 0 };
    struct http_get g = { 0 }, g2;
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    const struct feed_snapshot *s;
    uint64_t serial0;
    char *text = NULL;
    size_t len = 0;
    int turns = 0, old_served = -1, drained = 0;
    struct app *app;
    FILE *cap;

    (void)state;
    ao.listen_host = "127.0.0.1";
    ao.listen_port = 0;
    ao.build_slice_parts = 5;
    app = app_new(base, r1, &ao, &err);
    if (app == NULL)
        fail_msg("app_new: %s", err.msg);
    serial0 = app_snapshot(app)->serial;
    cap = open_memstream(&text, &len);
    assert_non_null(cap);
    log_set_output(cap);
    log_set_level(LOG_LVL_INFO);

    assert_int_equal(app_reload(app, r2, &err), 0); /* r2 is the app's */
    s = app_snapshot(app);
    assert_ptr_equal(s->region, r1); /* not built in one piece */
    assert_int_equal(s->serial, serial0);

    pr.ev = evtimer_new(base, on_probe, &pr);
    evtimer_add(pr.ev, &now0);
    g.base = base;
    conn = evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                      (unsigned short)app_port(app));
    req = evhttp_request_new(on_response, &g);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
                      "localhost");
    assert_int_equal(evhttp_make_request(conn, req, EVHTTP_REQ_GET,
                                         "/v1/availability"),
                     0);
    while (app_snapshot(app)->region != r2 && turns < 10000) {
        event_base_loop(base, EVLOOP_ONCE);
        turns++;
        if (g.body != NULL && old_served < 0 && app_snapshot(app)->region == r1)
            old_served = feed_clinics(g.body);
    }
    assert_ptr_equal(app_snapshot(app)->region, r2);
    assert_int_equal(old_served, 300); /* answered meanwhile, old feed */
    assert_true(turns >= 61);
    assert_true(pr.ticks >= 61); /* the probe ran between the steps */
    fflush(cap);
    if (strstr(text, "event=reload_published clinics=301 ") == NULL ||
        strstr(text, " steps=63 ") == NULL)
        fail_msg("no reload_published line with 63 steps:\n%s", text);
    evhttp_connection_free(conn);
    free(g.body);
    event_free(pr.ev);
    http_get(base, app_port(app), "/v1/availability", NULL, &g2);
    assert_int_equal(feed_clinics(g2.body), 301);
    free(g2.body);

    /* Again: r2, replaced, is freed when r3's feed is published (the
     * sweep at that publication must not look at the finished job). */
    r3 = many_region(302);
    assert_int_equal(app_reload(app, r3, &err), 0);
    for (turns = 0; app_snapshot(app)->region != r3 && turns < 10000; turns++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_ptr_equal(app_snapshot(app)->region, r3);

    /* A drain during a reload's build: abandoned, the drain ends. */
    r4 = many_region(299);
    assert_int_equal(app_reload(app, r4, &err), 0);
    assert_int_equal(app_drain(app, 1000, on_drained, &drained), 0);
    for (turns = 0; !drained && turns < 10000; turns++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_true(drained);
    assert_ptr_equal(app_snapshot(app)->region, r3);

    log_set_output(NULL);
    log_quiet();
    fclose(cap);
    free(text);
    app_free(app);
    conf_free(r1);
    event_base_free(base);
}

/*
 * issue 12: the end of app_poll_now's pass is published by a sliced
 * build too (one clinic per step here: 8 steps and the assembly in two: all.json, the SMART files), and
 * the caller is told once it is public.
 */
static void test_pass_end_sliced(void **state)
{
    struct event_base *base;
    struct conf_region *sim_region, *region;
    struct sim *sim;
    struct sim_opts so = { SEED, 0 };
    struct app_opts ao = { 0 };
    struct sf_error err = { 0 };
    const struct feed_snapshot *s;
    struct app *app;
    char *text = NULL;
    size_t len = 0, i;
    int done = 0;
    int64_t now;
    FILE *cap;

    (void)state;
    unlink(E2E_DB);
    assert_int_equal(clock_parse_rfc3339(NOW, &now), 0);
    clock_set_fake(now);
    base = event_base_new();
    sim_region = make_region(1, 1);
    sim = sim_new(base, sim_region, "127.0.0.1", 0, &so, &err);
    assert_non_null(sim);
    region = make_region(sim_port(sim), dead_port());
    ao.listen_host = "127.0.0.1";
    ao.listen_port = 0;
    ao.build_slice_parts = 1;
    app = app_new(base, region, &ao, &err);
    if (app == NULL)
        fail_msg("app_new: %s", err.msg);
    cap = open_memstream(&text, &len);
    assert_non_null(cap);
    log_set_output(cap);
    log_set_level(LOG_LVL_INFO);

    assert_int_equal(app_poll_now(app, on_pass, &done), 0);
    while (!done)
        event_base_loop(base, EVLOOP_ONCE);
    fflush(cap);
    if (strstr(text, "event=pass_published clinics=8 ") == NULL ||
        strstr(text, " steps=10 ") == NULL)
        fail_msg("no pass_published line with 10 steps:\n%s", text);
    /* Every polled clinic's result is public (E004 has no booking). */
    s = app_snapshot(app);
    for (i = 0; i < s->nclinics; i++)
        if (i != 3)
            assert_true(s->info[i].checked_at != 0);

    log_set_output(NULL);
    log_quiet();
    fclose(cap);
    free(text);
    app_free(app);
    sim_free(sim);
    conf_free(region);
    conf_free(sim_region);
    event_base_free(base);
    clock_set_fake(-1);
    unlink(E2E_DB);
    unlink(E2E_DB "-wal");
    unlink(E2E_DB "-shm");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_end_to_end),
        cmocka_unit_test(test_reload_needs_restart),
        cmocka_unit_test(test_reload_sliced),
        cmocka_unit_test(test_pass_end_sliced),
    };
    int rc;

    log_quiet();
    signal(SIGPIPE, SIG_IGN); /* as the daemon: replies to gone peers */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    riv_parse_release();
    xmlCleanupParser();
    curl_global_cleanup();
    return rc;
}
