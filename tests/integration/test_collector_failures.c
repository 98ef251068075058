/*
 * test_collector_failures.c - a table of the collector's failure paths,
 * one clinic per row, all polled in one pass through the real fetch,
 * scheduler and smart-bulk adapter, to prove memory safety on the failure
 * paths. Meant to run under the sanitizer build too: every row ends a poll
 * on a failure path (the request freed, the error built), and ASan reports
 * any read of what was freed.
 *
 * The rows: URLs no request can go to (bad ports, broken IPv6, a host
 * over the DNS limit, handed to the collector without the config check),
 * a manifest whose output file lives on an over-long host (the upstream
 * way to the same path), and one upstream per fetch error class on
 * loopback: refused, timeout (a listener that never answers), HTTP
 * status, too large, hostile (gzip bomb), parse (not JSON, broken UTF-8)
 * and not_connected. For each: the error class, the clinic state (error,
 * no data; web state by class), and a message that is valid UTF-8, starts
 * with the clinic and names what failed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <zlib.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "th_loopback.h"
#include "th_text.h"

/* 2026-03-02 08:00 local */
#define T0 1772434800LL

/* Five 63-character labels: over the DNS limit and the scheduler key. */
#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_HOST L63 "." L63 "." L63 "." L63 "." L63

/* fetch's default size cap (4 MiB): the bomb meets the ratio cap first */
#define MAX_BODY ((size_t)4 << 20)

enum where {
    SRV,
    REFUSED,
    HANG,
    RAW
};

struct row {
    const char *name; /* path on the server, or the raw URL */
    enum where where;
    enum sf_errclass want;
    const char *says;     /* the message names this */
    enum web_booking web; /* web state after one failed poll */
};

static const struct row rows[] = {
    /* bad URLs straight into the collector (the config refuses them) */
    { "http://127.0.0.1:65536/$bulk-publish", RAW, SF_ERR_CONFIG,
      "manifest: politeness: URL refused: not a valid URL", WEB_UNKNOWN },
    { "http://127.0.0.1:-1/$bulk-publish", RAW, SF_ERR_CONFIG, "Port number",
      WEB_UNKNOWN },
    { "http://127.0.0.1:abc/$bulk-publish", RAW, SF_ERR_CONFIG, "Port number",
      WEB_UNKNOWN },
    { "http://127.0.0.1:0/$bulk-publish", RAW, SF_ERR_CONFIG,
      "port 0 is not in 1..65535", WEB_UNKNOWN },
    { "http://[::1/$bulk-publish", RAW, SF_ERR_CONFIG, "Bad IPv6 address",
      WEB_UNKNOWN },
    { "http://h]/$bulk-publish", RAW, SF_ERR_CONFIG, "Bad hostname",
      WEB_UNKNOWN },
    { "http://" LONG_HOST "/$bulk-publish", RAW, SF_ERR_CONFIG,
      "host longer than 253 characters", WEB_UNKNOWN },
    /* an over-long host from the upstream: a manifest's output file */
    { "/longhost/$bulk-publish", SRV, SF_ERR_PARSE,
      "host longer than 253 characters", WEB_UNKNOWN },
    /* one per fetch / adapter error class */
    { "/any/$bulk-publish", REFUSED, SF_ERR_TRANSPORT,
      "manifest: 127.0.0.1:", WEB_UNKNOWN },
    { "/any/$bulk-publish", HANG, SF_ERR_TIMEOUT, "timed out after",
      WEB_UNKNOWN },
    { "/h503/$bulk-publish", SRV, SF_ERR_HTTP, "manifest: HTTP 503",
      WEB_UNKNOWN },
    { "/h302/$bulk-publish", SRV, SF_ERR_HTTP, "manifest: HTTP 302",
      WEB_UNKNOWN },
    { "/big/$bulk-publish", SRV, SF_ERR_TOO_LARGE,
      "response larger than 4194304 bytes", WEB_UNKNOWN },
    { "/bomb/$bulk-publish", SRV, SF_ERR_HOSTILE, "decompression ratio",
      WEB_UNKNOWN },
    { "/garbage/$bulk-publish", SRV, SF_ERR_PARSE, "manifest", WEB_UNKNOWN },
    { "/badutf8/$bulk-publish", SRV, SF_ERR_PARSE, "not UTF-8", WEB_UNKNOWN },
    { "/notmanifest/$bulk-publish", SRV, SF_ERR_PARSE,
      "not a $bulk-publish manifest", WEB_UNKNOWN },
    { "/empty/$bulk-publish", SRV, SF_ERR_NOT_CONNECTED, "manifest lists no",
      WEB_NONE },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

struct fx {
    struct event_base *base;
    struct evhttp *http;
    int port, hang_port, hang_fd, refused_port;
    struct fetch *f;
    struct collector *coll;
    struct conf_region region;
    struct conf_clinic clinics[NROWS];
    char ids[NROWS][32];
    char urls[NROWS][512];
    int passes;
    unsigned char *bomb; /* made once: deflate is slow under ASan */
    size_t bomb_len;
};

static void reply(struct evhttp_request *req, int code, const char *ctype,
                  const void *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add(b, body, len);
    if (ctype != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", ctype);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Nope", b);
    evbuffer_free(b);
}

/* gzip of n zero bytes (a bomb: ~1000:1). Caller frees. */
static unsigned char *gzip_zeros(size_t n, size_t *out_len)
{
    z_stream z;
    unsigned char *in = calloc(1, n), *out = malloc(n / 100 + 4096);

    assert_non_null(in);
    assert_non_null(out);
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY),
                     Z_OK);
    z.next_in = in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)(n / 100 + 4096);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    free(in);
    return out;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    static const char json[] = "application/json";

    struct fx *fx = arg;

    if (strncmp(uri, "/longhost/", 10) == 0) {
        static const char m[] =
            "{\"transactionTime\":\"2026-03-02T07:00:00Z\",\"output\":["
            "{\"type\":\"Location\",\"url\":\"https://" LONG_HOST
            "/Location.ndjson\"}]}";

        reply(req, 200, json, m, strlen(m));
    } else if (strncmp(uri, "/h503/", 6) == 0) {
        reply(req, 503, "text/plain", "busy", 4);
    } else if (strncmp(uri, "/h302/", 6) == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
                          "http://127.0.0.1:1/elsewhere");
        reply(req, 302, "text/plain", "", 0);
    } else if (strncmp(uri, "/big/", 5) == 0) {
        char *big = malloc(MAX_BODY * 2);

        assert_non_null(big);
        memset(big, ' ', MAX_BODY * 2);
        reply(req, 200, json, big, MAX_BODY * 2);
        free(big);
    } else if (strncmp(uri, "/bomb/", 6) == 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Encoding", "gzip");
        reply(req, 200, json, fx->bomb, fx->bomb_len);
    } else if (strncmp(uri, "/garbage/", 9) == 0) {
        reply(req, 200, json, "<html>not json", 14);
    } else if (strncmp(uri, "/badutf8/", 9) == 0) {
        static const char m[] = "{\"transactionTime\":\"2026\xff\xfe\","
                                "\"output\":[]}";

        reply(req, 200, json, m, strlen(m));
    } else if (strncmp(uri, "/notmanifest/", 13) == 0) {
        reply(req, 200, json, "{\"a\":1}", 7);
    } else if (strncmp(uri, "/empty/", 7) == 0) {
        static const char m[] = "{\"transactionTime\":\"2026-03-02T07:00:00Z"
                                "\",\"output\":[]}";

        reply(req, 200, json, m, strlen(m));
    } else {
        reply(req, 404, "text/plain", "no", 2);
    }
}

static void on_pass(void *arg)
{
    ((struct fx *)arg)->passes++;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    log_quiet();
    fx->base = event_base_new();
    fx->http = th_lo_http(fx->base, on_request, fx, &fx->port);
    fx->bomb = gzip_zeros((size_t)8 << 20, &fx->bomb_len);
    assert_non_null(fx->http);
    fx->hang_fd = th_lo_black_hole(&fx->hang_port);
    assert_true(fx->hang_fd >= 0);
    fx->refused_port = th_lo_refused_port();
    fx->region.name = "test";
    fx->region.timezone = "Europe/Stockholm";
    fx->region.guarantee.days = 3;
    fx->region.guarantee.counting = AVAIL_COUNT_CALENDAR;
    fx->region.horizon_days = 7;
    fx->region.poll_interval_s = 60;
    fx->region.clinics = fx->clinics;
    fx->region.politeness.rate_per_s = 1000;
    fx->region.politeness.burst = 100;
    fx->region.politeness.max_concurrent_per_host = 32;
    fx->region.politeness.backoff_base_s = 1;
    fx->region.politeness.backoff_max_s = 1;
    fx->region.politeness.breaker_failures = 100;
    clock_set_fake(T0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    fetch_free(fx->f);
    collector_free(fx->coll);
    evhttp_free(fx->http);
    event_base_free(fx->base);
    close(fx->hang_fd);
    clock_set_fake(-1);
    free(fx->bomb);
    free(fx);
    return 0;
}

static void add_row(struct fx *fx, size_t i)
{
    struct conf_clinic *c = &fx->clinics[i];
    const struct row *r = &rows[i];
    int port = r->where == REFUSED ? fx->refused_port
               : r->where == HANG  ? fx->hang_port
                                   : fx->port;

    snprintf(fx->ids[i], sizeof(fx->ids[i]), "SE2321000156-T%zu", i);
    if (r->where == RAW)
        snprintf(fx->urls[i], sizeof(fx->urls[i]), "%s", r->name);
    else
        snprintf(fx->urls[i], sizeof(fx->urls[i]), "http://127.0.0.1:%d%s",
                 port, r->name);
    memset(c, 0, sizeof(*c));
    c->id = fx->ids[i];
    c->name = fx->ids[i];
    c->municipality = "Karlstad";
    c->operator_kind = "private";
    c->has_booking = true;
    c->booking.adapter = "smart-bulk";
    c->booking.url = fx->urls[i];
    c->booking.location = "loc-1";
    fx->region.nclinics++;
}

static void test_failure_table(void **state)
{
    struct fx *fx = *state;
    struct fetch_opts o;
    struct sf_error err;
    const struct clinic_state *st;
    struct timespec t0, t;
    size_t i, n;
    int never = 0;

    for (i = 0; i < NROWS; i++)
        add_row(fx, i);
    memset(&o, 0, sizeof(o));
    /* Only the black hole takes this long; generous for sanitizer runs. */
    o.connect_timeout_ms = 2000;
    o.timeout_ms = 2000;
    fx->f = fetch_new(fx->base, &o, &err);
    assert_non_null(fx->f);
    fx->coll = collector_new(fx->base, &fx->region, fx->f, &err);
    assert_non_null(fx->coll);
    assert_int_equal(collector_poll_all(fx->coll, on_pass, fx), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        th_lo_run_until(fx->base, &never, 20);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (fx->passes == 0 && t.tv_sec - t0.tv_sec < 30);
    assert_int_equal(fx->passes, 1);
    assert_int_equal(collector_active(fx->coll), 0);

    st = collector_states(fx->coll, &n);
    assert_int_equal(n, NROWS);
    for (i = 0; i < NROWS; i++) {
        char head[64];
        bool ok;

        snprintf(head, sizeof(head), "clinic %s: ", fx->ids[i]);
        ok = st[i].err_class == rows[i].want && st[i].status == CLINIC_ERROR &&
             !st[i].has_data && st[i].consecutive_failures == 1 &&
             st[i].web == rows[i].web && th_text_clean(st[i].error) &&
             strncmp(st[i].error, head, strlen(head)) == 0 &&
             strstr(st[i].error, rows[i].says) != NULL;
        if (!ok)
            fail_msg("row %zu (%.60s): class %s (want %s), status %d, "
                     "web %d, error \"%s\" (want \"%s\")",
                     i, rows[i].name, sf_errclass_name(st[i].err_class),
                     sf_errclass_name(rows[i].want), (int)st[i].status,
                     (int)st[i].web, st[i].error, rows[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failure_table, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
