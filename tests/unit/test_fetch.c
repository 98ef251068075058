/*
 * test_fetch.c - fetch (libcurl multi on libevent) against an evhttp
 * server on 127.0.0.1:<ephemeral> driven by the same base.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <zlib.h>

#include "slotfeed/conf.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "th_loopback.h"
#include "th_scale.h"

/* --- the server ------------------------------------------------------------ */

struct seen {
    int requests;
    char method[8];
    char soap_action[128];
    char content_type[128];
    char user_agent[128];
    char accept[128];
    char accept_encoding[128];
    char if_none_match[128];
    char *body;
    size_t body_len;
};

static void copy_hdr(struct evhttp_request *req, const char *name, char *out,
                     size_t n)
{
    const char *v =
        evhttp_find_header(evhttp_request_get_input_headers(req), name);

    snprintf(out, n, "%s", v ? v : "");
}

/* N bytes of blanks or of slot-like JSON (compresses about 10-30:1). */
static char *test_plain(size_t n, bool blank)
{
    char *plain = malloc(n + 64);
    size_t i;

    assert_non_null(plain);
    if (blank) {
        memset(plain, ' ', n);
    } else {
        for (i = 0; i < n;)
            i += (size_t)snprintf(plain + i, 64,
                                  "{\"id\":%zu,\"start\":"
                                  "\"2026-03-%02zuT%02zu:%02zu\"},",
                                  i, 1 + i % 28, 8 + i % 9, i % 60);
    }
    plain[n] = '\0';
    return plain;
}

/* n bytes compressed with zlib's windowBits bits (31 gzip, 15 zlib,
 * -15 raw deflate); *zn gets the size. */
static unsigned char *test_deflate(const char *plain, size_t n, int bits,
                                   size_t *zn)
{
    z_stream z;
    size_t cap = n / 4 + 4096;
    unsigned char *out = malloc(cap);

    assert_non_null(out);
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, bits, 8,
                                  Z_DEFAULT_STRATEGY),
                     Z_OK);
    z.next_in = (unsigned char *)plain;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *zn = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/*
 * Routes by path:
 *   /hello          200 "hello, world"
 *   /echo           200, records method/headers/body in struct seen
 *   /fault          500 with a SOAP-ish body
 *   /chunked/N      200, N bytes of 'x' sent as 4 chunks (chunked encoding)
 *   /busy           503, Retry-After: 120
 *   /busydate       503, Retry-After as HTTP-date 2 min after Date:
 *   /n/K            200 "body-K"
 *   /gz/blank/N, /gz/json/N   gzip of N blanks or N bytes of JSON
 *   /enc/MODE/N     N bytes of JSON coded by MODE: zlib and raw (both
 *                   "deflate"), cut (gzip without its last 100 bytes),
 *                   br and stacked ("gzip, gzip": unsupported labels)
 */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct seen *seen = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct evbuffer *buf = evbuffer_new();

    seen->requests++;
    if (strcmp(uri, "/hello") == 0) {
        evhttp_add_header(out, "Content-Type", "text/plain");
        evbuffer_add_printf(buf, "hello, world");
        evhttp_send_reply(req, 200, "OK", buf);
    } else if (strcmp(uri, "/echo") == 0) {
        snprintf(seen->method, sizeof(seen->method), "%s",
                 evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST"
                                                                    : "GET");
        copy_hdr(req, "SOAPAction", seen->soap_action,
                 sizeof(seen->soap_action));
        copy_hdr(req, "Content-Type", seen->content_type,
                 sizeof(seen->content_type));
        copy_hdr(req, "User-Agent", seen->user_agent, sizeof(seen->user_agent));
        copy_hdr(req, "Accept", seen->accept, sizeof(seen->accept));
        copy_hdr(req, "Accept-Encoding", seen->accept_encoding,
                 sizeof(seen->accept_encoding));
        copy_hdr(req, "If-None-Match", seen->if_none_match,
                 sizeof(seen->if_none_match));
        evhttp_add_header(out, "ETag", "\"v42\"");
        evhttp_add_header(out, "Last-Modified",
                          "Wed, 21 Oct 2015 07:28:00 GMT");
        free(seen->body);
        seen->body = th_lo_body(req, &seen->body_len);
        evbuffer_add_printf(buf, "ok");
        evhttp_send_reply(req, 200, "OK", buf);
    } else if (strcmp(uri, "/fault") == 0) {
        evhttp_add_header(out, "Content-Type", "text/xml; charset=UTF-8");
        evbuffer_add_printf(buf, "<Fault>VP009</Fault>");
        evhttp_send_reply(req, 500, "Internal Server Error", buf);
    } else if (strncmp(uri, "/chunked/", 9) == 0) {
        long n = strtol(uri + 9, NULL, 10);
        long i, part = n / 4;

        evhttp_send_reply_start(req, 200, "OK");
        for (i = 0; i < 4; i++) {
            long k = i < 3 ? part : n - 3 * part;
            char *chunk = malloc((size_t)k + 1);

            memset(chunk, 'x', (size_t)k);
            evbuffer_add(buf, chunk, (size_t)k);
            evhttp_send_reply_chunk(req, buf);
            free(chunk);
        }
        evhttp_send_reply_end(req);
    } else if (strcmp(uri, "/busy") == 0) {
        evhttp_add_header(out, "Retry-After", "120");
        evhttp_send_reply(req, 503, "Service Unavailable", buf);
    } else if (strcmp(uri, "/busydate") == 0) {
        evhttp_add_header(out, "Date", "Wed, 21 Oct 2015 07:28:00 GMT");
        evhttp_add_header(out, "Retry-After", "Wed, 21 Oct 2015 07:30:00 GMT");
        evhttp_send_reply(req, 503, "Service Unavailable", buf);
    } else if (strncmp(uri, "/gz/", 4) == 0 || strncmp(uri, "/enc/", 5) == 0) {
        /* /gz/blank/N: gzip of N blanks (a bomb); /gz/json/N: gzip of N
         * bytes of slot-like JSON (compresses about 10-30:1) */
        bool gz = uri[1] == 'g';
        const char *mode = uri + (gz ? 4 : 5);
        size_t n = (size_t)strtoul(strchr(mode, '/') + 1, NULL, 10);
        char *plain = test_plain(n, strncmp(mode, "blank/", 6) == 0);
        int bits = strncmp(mode, "zlib/", 5) == 0  ? 15
                   : strncmp(mode, "raw/", 4) == 0 ? -15
                                                   : 31;
        size_t zn;
        unsigned char *z = test_deflate(plain, n, bits, &zn);

        if (strncmp(mode, "cut/", 4) == 0)
            zn -= 100;
        evbuffer_add(buf, z, zn);
        free(z);
        free(plain);
        evhttp_add_header(out, "Content-Encoding",
                          bits != 31                          ? "deflate"
                          : strncmp(mode, "br/", 3) == 0      ? "br"
                          : strncmp(mode, "stacked/", 8) == 0 ? "gzip, gzip"
                                                              : "gzip");
        evhttp_send_reply(req, 200, "OK", buf);
    } else if (strncmp(uri, "/n/", 3) == 0) {
        evbuffer_add_printf(buf, "body-%s", uri + 3);
        evhttp_send_reply(req, 200, "OK", buf);
    } else {
        evhttp_send_error(req, 404, NULL);
    }
    evbuffer_free(buf);
}

/* --- fixture ---------------------------------------------------------------- */

struct result {
    int calls;
    enum sf_errclass code;
    char msg[512];
    long status;
    char *body;
    size_t len;
    char content_type[128];
    char etag[64];
    char last_modified[64];
    long retry_after;
    struct timeval at;
};

struct fx {
    struct event_base *base;
    struct evhttp *http;
    int port;
    struct seen seen;
    struct fetch *f;
};

static void on_done(const struct fetch_result *res, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->code = res->err.code;
    snprintf(r->msg, sizeof(r->msg), "%s", res->err.msg);
    r->status = res->http_status;
    free(r->body);
    r->body = malloc(res->len + 1);
    memcpy(r->body, res->body, res->len + 1);
    r->len = res->len;
    snprintf(r->content_type, sizeof(r->content_type), "%s",
             res->content_type ? res->content_type : "");
    r->retry_after = res->retry_after_s;
    snprintf(r->etag, sizeof(r->etag), "%s", res->etag ? res->etag : "");
    snprintf(r->last_modified, sizeof(r->last_modified), "%s",
             res->last_modified ? res->last_modified : "");
    gettimeofday(&r->at, NULL);
}

static struct fetch *new_fetch(struct fx *fx, long timeout_ms, size_t cap)
{
    struct fetch_opts o;
    struct sf_error err;

    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 1000;
    o.timeout_ms = timeout_ms;
    o.max_body_bytes = cap;
    o.user_agent = "slotfeed-test/1";
    fx->f = fetch_new(fx->base, &o, &err);
    assert_non_null(fx->f);
    return fx->f;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    log_quiet();
    fx->base = event_base_new();
    fx->http = th_lo_http(fx->base, on_request, &fx->seen, &fx->port);
    assert_non_null(fx->http);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    fetch_free(fx->f);
    evhttp_free(fx->http);
    event_base_free(fx->base);
    free(fx->seen.body);
    free(fx);
    return 0;
}

static void start_get(struct fx *fx, const char *path, struct result *r,
                      int port)
{
    struct adapter_request req;
    struct sf_error err;
    char url[256];

    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    req.url = url;
    assert_int_equal(fetch_start(fx->f, &req, on_done, r, &err), 0);
    /* never re-entrant: nothing may have been delivered yet */
    assert_int_equal(r->calls, 0);
}

static long ms_since(const struct timeval *a, const struct timeval *b)
{
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_usec - a->tv_usec) / 1000;
}

/* --- tests ------------------------------------------------------------------- */

static void test_get_body(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };

    new_fetch(fx, 2000, 1024);
    start_get(fx, "/hello", &r, fx->port);
    assert_int_equal(fetch_active(fx->f), 1);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_NONE);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, strlen("hello, world"));
    assert_string_equal(r.body, "hello, world");
    assert_string_equal(r.content_type, "text/plain");
    assert_int_equal(r.retry_after, -1);
    assert_int_equal(fetch_active(fx->f), 0);
    free(r.body);
}

static void test_post_headers(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct adapter_request req;
    struct sf_error err;
    char url[128];
    /* over 1 KiB so curl would otherwise send Expect: 100-continue */
    char body[3000];

    new_fetch(fx, 2000, 1024);
    memset(body, 'b', sizeof(body));
    memcpy(body, "<Envelope>", 10);
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", fx->port);
    req.url = url;
    req.body = body;
    req.body_len = sizeof(body); /* not NUL-terminated on purpose */
    req.content_type = "text/xml; charset=UTF-8";
    req.soap_action = "urn:riv:crm:scheduling:GetAvailableDatesResponder:1:"
                      "GetAvailableDates";
    req.label = "GetAvailableDates";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_NONE);
    assert_int_equal(r.status, 200);
    assert_string_equal(fx->seen.method, "POST");
    assert_string_equal(fx->seen.soap_action,
                        "\"urn:riv:crm:scheduling:GetAvailableDatesResponder:"
                        "1:GetAvailableDates\"");
    assert_string_equal(fx->seen.content_type, "text/xml; charset=UTF-8");
    assert_string_equal(fx->seen.user_agent, "slotfeed-test/1");
    assert_int_equal(fx->seen.body_len, sizeof(body));
    assert_memory_equal(fx->seen.body, body, sizeof(body));
    free(r.body);
}

/*
 * Transfers reuse idle curl handles and buffers: nothing of one transfer
 * may reach the next (method, body, SOAPAction, Content-Type, extra
 * headers, the answer's validators, an earlier body behind an empty one,
 * the done argument).
 */
static void test_reuse_leaks_nothing(void **state)
{
    struct fx *fx = *state;
    struct result a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 };
    struct adapter_request req;
    struct sf_error err;
    char url[128];

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", fx->port);
    req.url = url;
    req.body = "<Envelope>first</Envelope>";
    req.body_len = strlen(req.body);
    req.content_type = "text/xml; charset=UTF-8";
    req.soap_action = "urn:first";
    req.headers[0] = "Accept: application/fhir+json";
    req.headers[1] = "If-None-Match: \"v41\"";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &a, &err), 0);
    assert_int_equal(th_lo_run_until(fx->base, &a.calls, 3000), 1);
    assert_string_equal(fx->seen.method, "POST");
    assert_string_equal(a.etag, "\"v42\"");
    /* the same handle again, as a plain GET */
    start_get(fx, "/echo", &b, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &b.calls, 3000), 1);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.code, SF_ERR_NONE);
    assert_string_equal(fx->seen.method, "GET");
    assert_int_equal(fx->seen.body_len, 0);
    assert_string_equal(fx->seen.soap_action, "");
    assert_string_equal(fx->seen.content_type, "");
    assert_string_equal(fx->seen.accept, "*/*"); /* curl's default */
    assert_string_equal(fx->seen.if_none_match, "");
    assert_string_equal(fx->seen.user_agent, "slotfeed-test/1");
    /* the codings on_body decodes itself, also on a reused handle */
    assert_string_equal(fx->seen.accept_encoding, "gzip, deflate");
    /* a body, then an empty answer on the reused buffer */
    start_get(fx, "/hello", &c, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &c.calls, 3000), 1);
    assert_string_equal(c.body, "hello, world");
    assert_string_equal(c.content_type, "text/plain");
    assert_string_equal(c.etag, ""); /* b's ETag does not stay */
    start_get(fx, "/busy", &d, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &d.calls, 3000), 1);
    assert_int_equal(d.status, 503);
    assert_int_equal(d.len, 0);
    assert_string_equal(d.body, "");
    assert_string_not_equal(d.content_type, "text/plain");
    assert_string_equal(d.etag, "");
    assert_int_equal(d.retry_after, 120);
    /* and the caps still hold on a reused handle */
    start_get(fx, "/chunked/5000", &e, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &e.calls, 3000), 1);
    assert_int_equal(e.code, SF_ERR_TOO_LARGE);
    assert_int_equal(a.calls + b.calls + c.calls + d.calls, 4);
    free(a.body);
    free(b.body);
    free(c.body);
    free(d.body);
    free(e.body);
}

#ifdef ADAPTER_MAX_HEADERS /* adapter.h change in flight */
static void test_extra_headers_and_validators(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 }, plain = { 0 };
    struct adapter_request req;
    struct sf_error err;
    char url[128];

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", fx->port);
    req.url = url;
    req.headers[0] = "Accept: application/fhir+json";
    req.headers[1] = "If-None-Match: \"v41\"";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_NONE);
    assert_string_equal(fx->seen.method, "GET");
    assert_string_equal(fx->seen.accept, "application/fhir+json");
    assert_string_equal(fx->seen.if_none_match, "\"v41\"");
    assert_string_equal(r.etag, "\"v42\"");
    assert_string_equal(r.last_modified, "Wed, 21 Oct 2015 07:28:00 GMT");
    /* an answer without validators reports none */
    start_get(fx, "/hello", &plain, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &plain.calls, 3000), 1);
    assert_string_equal(plain.etag, "");
    assert_string_equal(plain.last_modified, "");
    free(r.body);
    free(plain.body);
}

static void test_header_injection_refused(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct adapter_request req;
    struct sf_error err;
    char url[128];
    int never = 0;

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", fx->port);
    req.url = url;
    req.headers[0] = "Accept: a\r\nX-Evil: 1";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), -1);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    req.headers[0] = "no colon here";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), -1);
    assert_int_equal(fetch_active(fx->f), 0);
    th_lo_run_until(fx->base, &never, 20);
    assert_int_equal(r.calls, 0);
    assert_int_equal(fx->seen.requests, 0);
}

#endif

static void test_500_is_an_answer(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };

    new_fetch(fx, 2000, 1024);
    start_get(fx, "/fault", &r, fx->port);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_NONE);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "<Fault>VP009</Fault>");
    assert_string_equal(r.content_type, "text/xml; charset=UTF-8");
    free(r.body);
}

static void test_size_cap_chunked(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 }, exact = { 0 };

    new_fetch(fx, 2000, 1000);
    /* exactly the cap is fine, one byte more is not */
    start_get(fx, "/chunked/1000", &exact, fx->port);
    start_get(fx, "/chunked/1001", &r, fx->port);
    th_lo_run_until(fx->base, &r.calls, 3000);
    th_lo_run_until(fx->base, &exact.calls, 3000);
    assert_int_equal(exact.calls, 1);
    assert_int_equal(exact.code, SF_ERR_NONE);
    assert_int_equal(exact.len, 1000);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.code, SF_ERR_TOO_LARGE);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.msg, "/chunked/1001"));
    free(r.body);
    free(exact.body);
}

/* The ratio error's "(D bytes decoded from R received)". */
static void ratio_numbers(const char *msg, size_t *decoded, long long *raw)
{
    const char *p = strrchr(msg, '(');

    assert_non_null(p);
    assert_int_equal(sscanf(p, "(%zu bytes decoded from %lld received)",
                            decoded, raw),
                     2);
}

static void test_decompression_ratio(void **state)
{
    struct fx *fx = *state;
    struct result bomb = { 0 }, json = { 0 }, small = { 0 };
    char path[64];

    new_fetch(fx, 5000, 16u << 20);
    /* 8 MiB of blanks in ~8 KiB: over 100:1 past the 1 MiB floor */
    snprintf(path, sizeof(path), "/gz/blank/%u", 8u << 20);
    start_get(fx, path, &bomb, fx->port);
    /* 4 MiB of varied JSON: compressible, but far under 100:1 */
    snprintf(path, sizeof(path), "/gz/json/%u", 4u << 20);
    start_get(fx, path, &json, fx->port);
    /* a bomb under the floor is left to the size cap and the parsers */
    start_get(fx, "/gz/blank/500000", &small, fx->port);
    th_lo_run_until(fx->base, &bomb.calls, 5000);
    th_lo_run_until(fx->base, &json.calls, 5000);
    th_lo_run_until(fx->base, &small.calls, 5000);
    if (getenv("TF_VERBOSE"))
        fprintf(stderr, "ratio: %s\n", bomb.msg);
    assert_int_equal(bomb.calls, 1);
    assert_int_equal(bomb.code, SF_ERR_HOSTILE);
    assert_non_null(strstr(bomb.msg, "127.0.0.1"));
    assert_non_null(strstr(bomb.msg, "/gz/blank/"));
    assert_non_null(strstr(bomb.msg, "over cap 100:1"));
    /* exact: stopped one byte past the larger of the floor and 100 x the
     * encoded bytes received, whatever curl's read size */
    {
        size_t decoded;
        long long raw;

        ratio_numbers(bomb.msg, &decoded, &raw);
        assert_true(raw > 0 && raw < 64 * 1024);
        assert_int_equal(decoded, (100 * (size_t)raw > FETCH_RATIO_FLOOR
                                       ? 100 * (size_t)raw
                                       : FETCH_RATIO_FLOOR) +
                                      1);
    }
    assert_int_equal(json.code, SF_ERR_NONE);
    assert_true(json.len >= (4u << 20));
    assert_int_equal(small.code, SF_ERR_NONE);
    assert_int_equal(small.len, 500000);
    /* a higher cap lets the same bomb through (within the size cap) */
    fetch_set_max_decompress_ratio(fx->f, 100000);
    free(bomb.body);
    memset(&bomb, 0, sizeof(bomb));
    snprintf(path, sizeof(path), "/gz/blank/%u", 8u << 20);
    start_get(fx, path, &bomb, fx->port);
    th_lo_run_until(fx->base, &bomb.calls, 5000);
    assert_int_equal(bomb.code, SF_ERR_NONE);
    assert_int_equal(bomb.len, 8u << 20);
    free(bomb.body);
    free(json.body);
    free(small.body);
}

/* The region's fetch.max_decompress_ratio reaches the client through
 * fetch_opts_from_region: lifted, the bomb above passes whole. */
static void test_decompression_ratio_from_region(void **state)
{
    struct fx *fx = *state;
    struct conf_region r;
    struct fetch_opts o;
    struct sf_error err;
    struct result bomb = { 0 };
    char path[64];

    memset(&r, 0, sizeof(r));
    r.connect_timeout_ms = 1000;
    r.timeout_ms = 5000;
    r.max_body_bytes = 16L << 20;
    r.user_agent = "slotfeed-test/1";
    r.max_decompress_ratio = 100000;
    fetch_opts_from_region(&o, &r);
    fx->f = fetch_new(fx->base, &o, &err);
    assert_non_null(fx->f);
    snprintf(path, sizeof(path), "/gz/blank/%u", 8u << 20);
    start_get(fx, path, &bomb, fx->port);
    th_lo_run_until(fx->base, &bomb.calls, 5000);
    assert_int_equal(bomb.calls, 1);
    assert_int_equal(bomb.code, SF_ERR_NONE);
    assert_int_equal(bomb.len, 8u << 20);
    free(bomb.body);
}

/* gzip, zlib- and raw-"deflate" decode to the same bytes, one after
 * another on reused handles (an identity answer after a coded one is not
 * decoded); unknown or stacked codings and a cut stream are refused. */
static void test_content_codings(void **state)
{
    static const char *const ok[] = { "/enc/gzip/300000", "/n/plain",
                                      "/enc/zlib/300000", "/enc/raw/300000",
                                      "/gz/json/300000" };
    static const char *const bad[] = { "/enc/br/3000", "/enc/stacked/3000",
                                       "/enc/cut/300000" };
    struct fx *fx = *state;
    char *plain = test_plain(300000, false);
    size_t i;

    new_fetch(fx, 5000, 1u << 20);
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct result r = { 0 };

        start_get(fx, ok[i], &r, fx->port);
        th_lo_run_until(fx->base, &r.calls, 5000);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.code, SF_ERR_NONE);
        assert_int_equal(r.status, 200);
        if (strcmp(ok[i], "/n/plain") == 0) {
            assert_string_equal(r.body, "body-plain");
        } else {
            assert_int_equal(r.len, 300000);
            assert_memory_equal(r.body, plain, 300000);
        }
        free(r.body);
    }
    /* sizes around the body buffer's doublings (4 KiB, 8 KiB, ...):
     * output that inflate still holds when the input runs out must not
     * be lost (it would read as a cut stream) */
    for (i = 0; i < 2 * 8; i++) {
        static const size_t sizes[] = { 1,    4094, 4095,  4096,
                                        4097, 8191, 65543, 1000003 };
        struct result r = { 0 };
        char path[64];
        char *want = test_plain(sizes[i % 8], i < 8);

        snprintf(path, sizeof(path), "/gz/%s/%zu", i < 8 ? "blank" : "json",
                 sizes[i % 8]);
        start_get(fx, path, &r, fx->port);
        th_lo_run_until(fx->base, &r.calls, 5000);
        assert_int_equal(r.code, SF_ERR_NONE);
        assert_int_equal(r.len, sizes[i % 8]);
        assert_memory_equal(r.body, want, sizes[i % 8]);
        free(want);
        free(r.body);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct result r = { 0 };

        start_get(fx, bad[i], &r, fx->port);
        th_lo_run_until(fx->base, &r.calls, 5000);
        if (getenv("TF_VERBOSE"))
            fprintf(stderr, "coding: %s\n", r.msg);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.code, SF_ERR_TRANSPORT);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.len, 0);
        assert_non_null(strstr(r.msg, "127.0.0.1"));
        assert_non_null(strstr(r.msg, "content decoding failed"));
        if (i == 0)
            assert_non_null(
                strstr(r.msg, "unsupported Content-Encoding \"br\""));
        else if (i == 1)
            assert_non_null(strstr(r.msg, "\"gzip, gzip\""));
        else
            assert_non_null(strstr(r.msg, "ends early"));
        free(r.body);
    }
    free(plain);
}

static void test_timeout(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct timeval t0;
    int port, fd = th_lo_black_hole(&port);
    long el;

    assert_true(fd >= 0);
    new_fetch(fx, 300, 1024);
    gettimeofday(&t0, NULL);
    start_get(fx, "/never", &r, port);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, (long)th_ms(3000)), 1);
    el = ms_since(&t0, &r.at);
    if (getenv("TF_VERBOSE"))
        fprintf(stderr, "timeout: %s (%ld ms)\n", r.msg, el);
    assert_int_equal(r.code, SF_ERR_TIMEOUT);
    assert_int_equal(r.status, 0);
    /* not before the limit; after it with slack for a loaded machine
     * (th_scale.h) */
    assert_true(el >= 250);
    assert_true(el < th_ms(1500));
    assert_non_null(strstr(r.msg, "127.0.0.1"));
    assert_non_null(strstr(r.msg, "/never"));
    close(fd);
    free(r.body);
}

static void test_refused(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    int port = th_lo_refused_port();

    assert_true(port > 0);
    new_fetch(fx, 2000, 1024);
    start_get(fx, "/x", &r, port);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    if (getenv("TF_VERBOSE"))
        fprintf(stderr, "refused: %s\n", r.msg);
    assert_int_equal(r.code, SF_ERR_TRANSPORT);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.msg, "/x"));
    free(r.body);
}

static void test_bad_scheme_deferred(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct adapter_request req;
    struct sf_error err;

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    req.url = "file:///etc/passwd";
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_CONFIG);
    assert_int_equal(r.len, 0);
    free(r.body);
}

/*
 * A TLS file that cannot be loaded (booking.tls.ca / cert)
 * fails the poll, and the message (published as the clinic's error)
 * names no local path; curl's own error text does.
 */
static void test_tls_file_error_names_no_path(void **state)
{
    static const char ca[] = "/nonexistent-slotfeed/secret-ca.pem";
    static const char cert[] = "/nonexistent-slotfeed/secret-client.pem";
    struct fx *fx = *state;
    struct adapter_request req;
    struct sf_error err;
    char url[128];
    int k;

    new_fetch(fx, 2000, 1024);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/x", fx->port);
    for (k = 0; k < 2; k++) {
        struct result r = { 0 };

        memset(&req, 0, sizeof(req));
        req.url = url;
        if (k == 0)
            req.tls_ca = (char *)ca;
        else
            req.tls_cert = (char *)cert;
        assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
        assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
        if (getenv("TF_VERBOSE"))
            fprintf(stderr, "tls file: %s\n", r.msg);
        assert_int_not_equal(r.code, SF_ERR_NONE);
        assert_null(strstr(r.msg, "nonexistent-slotfeed"));
        assert_null(strstr(r.msg, "secret"));
        assert_non_null(strstr(r.msg, "booking.tls"));
        free(r.body);
    }
    /* The kept handle comes back without the last request's TLS files:
     * this request fails at the handshake (the server speaks plain
     * HTTP), not at a client certificate it never named. */
    {
        struct result r = { 0 };

        memset(&req, 0, sizeof(req));
        req.url = url;
        assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
        assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
        assert_int_not_equal(r.code, SF_ERR_NONE);
        assert_null(strstr(r.msg, "booking.tls"));
        free(r.body);
    }
}

#define NMANY 50

static void test_many_concurrent(void **state)
{
    struct fx *fx = *state;
    static struct result r[NMANY];
    int i, all = 0;
    char path[32], want[32];

    memset(r, 0, sizeof(r));
    new_fetch(fx, 5000, 1024);
    for (i = 0; i < NMANY; i++) {
        snprintf(path, sizeof(path), "/n/%d", i);
        start_get(fx, path, &r[i], fx->port);
    }
    assert_int_equal(fetch_active(fx->f), NMANY);
    for (i = 0; i < 500 && !all; i++) {
        int k;

        th_lo_run_until(fx->base, &all, 10);
        all = 1;
        for (k = 0; k < NMANY; k++)
            if (r[k].calls == 0)
                all = 0;
    }
    assert_true(all);
    for (i = 0; i < NMANY; i++) {
        snprintf(want, sizeof(want), "body-%d", i);
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].code, SF_ERR_NONE);
        assert_string_equal(r[i].body, want);
        free(r[i].body);
    }
    assert_int_equal(fetch_active(fx->f), 0);
}

/* evhttp's per-connection hook: counts the connections it accepts. */
static int conns_accepted;

static struct bufferevent *count_conn(struct event_base *base, void *arg)
{
    (void)arg;
    conns_accepted++;
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* Start n GETs of /n/K at once and run until all are answered. */
static void burst(struct fx *fx, struct result *r, int n)
{
    char path[32];
    int i, all = 0;

    memset(r, 0, sizeof(*r) * (size_t)n);
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/n/%d", i);
        start_get(fx, path, &r[i], fx->port);
    }
    for (i = 0; i < 500 && !all; i++) {
        th_lo_run_until(fx->base, &all, 10);
        all = 1;
        for (int k = 0; k < n; k++)
            if (r[k].calls == 0)
                all = 0;
    }
    assert_true(all);
    for (i = 0; i < n; i++) {
        assert_int_equal(r[i].code, SF_ERR_NONE);
        free(r[i].body);
    }
}

/* Kept-alive connections outlive a quiet spell: a burst of 8, three
 * transfers one at a time, another burst of 8 open 8 connections in all.
 * (curl's default cache is 4 x the transfers in flight: the quiet spell
 * used to close half of them and the second burst to reconnect.) */
static void test_connections_kept_when_quiet(void **state)
{
    struct fx *fx = *state;
    struct result r[8];

    conns_accepted = 0;
    evhttp_set_bevcb(fx->http, count_conn, NULL);
    new_fetch(fx, 5000, 1024);
    burst(fx, r, 8);
    assert_int_equal(conns_accepted, 8);
    for (int i = 0; i < 3; i++)
        burst(fx, r, 1);
    burst(fx, r, 8);
    assert_int_equal(fx->seen.requests, 19);
    assert_int_equal(conns_accepted, 8);
}

static void test_free_in_flight(void **state)
{
    struct fx *fx = *state;
    struct result r[6];
    int port, fd = th_lo_black_hole(&port), never = 0, i;

    memset(r, 0, sizeof(r));
    assert_true(fd >= 0);
    new_fetch(fx, 5000, 1024);
    for (i = 0; i < 3; i++)
        start_get(fx, "/hang", &r[i], port);
    for (i = 3; i < 6; i++)
        start_get(fx, "/hello", &r[i], fx->port);
    /* let connections open and requests go out, then pull the plug */
    th_lo_run_until(fx->base, &never, 100);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 0);
    fetch_free(fx->f);
    fx->f = NULL;
    /* nothing may fire later either */
    th_lo_run_until(fx->base, &never, 50);
    for (i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 0);
    for (i = 0; i < 6; i++)
        free(r[i].body);
    close(fd);
}

/* A URL curl refuses at setopt time (over its 8 MB input limit). */
static char *huge_url(void)
{
    size_t n = 9u << 20;
    char *u = malloc(n + 1);

    memcpy(u, "http://127.0.0.1/", 17);
    memset(u + 17, 'a', n - 17);
    u[n] = '\0';
    return u;
}

static void test_setopt_failure_deferred(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct adapter_request req;
    struct sf_error err;

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    req.url = huge_url();
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
    free(req.url);
    /* the failure is known now but must arrive from the loop */
    assert_int_equal(r.calls, 0);
    assert_int_equal(fetch_active(fx->f), 1);
    assert_int_equal(th_lo_run_until(fx->base, &r.calls, 3000), 1);
    assert_int_equal(r.code, SF_ERR_CONFIG);
    assert_int_equal(r.status, 0);
    assert_int_equal(fetch_active(fx->f), 0);
    free(r.body);
}

static void test_free_with_deferred_failure(void **state)
{
    struct fx *fx = *state;
    struct result r = { 0 };
    struct adapter_request req;
    struct sf_error err;
    int never = 0;

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    req.url = huge_url();
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), 0);
    free(req.url);
    fetch_free(fx->f);
    fx->f = NULL;
    th_lo_run_until(fx->base, &never, 30);
    assert_int_equal(r.calls, 0);
}

static void test_retry_after(void **state)
{
    struct fx *fx = *state;
    struct result secs = { 0 }, date = { 0 };

    new_fetch(fx, 2000, 1024);
    start_get(fx, "/busy", &secs, fx->port);
    start_get(fx, "/busydate", &date, fx->port);
    th_lo_run_until(fx->base, &secs.calls, 3000);
    th_lo_run_until(fx->base, &date.calls, 3000);
    assert_int_equal(secs.code, SF_ERR_NONE);
    assert_int_equal(secs.status, 503);
    assert_int_equal(secs.retry_after, 120);
    assert_int_equal(date.status, 503);
    /* 07:30:00 - 07:28:00 by the server's own Date: */
    assert_int_equal(date.retry_after, 120);
    free(secs.body);
    free(date.body);
}

static void test_bad_args(void **state)
{
    struct fx *fx = *state;
    struct adapter_request req;
    struct sf_error err;
    struct result r = { 0 };

    new_fetch(fx, 2000, 1024);
    memset(&req, 0, sizeof(req));
    assert_int_equal(fetch_start(fx->f, &req, on_done, &r, &err), -1);
    assert_int_not_equal(err.code, SF_ERR_NONE);
    assert_int_equal(fetch_active(fx->f), 0);
    fetch_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_leaks_nothing, setup,
                                        teardown),
#ifdef ADAPTER_MAX_HEADERS
        cmocka_unit_test_setup_teardown(test_extra_headers_and_validators,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_injection_refused, setup,
                                        teardown),
#endif
        cmocka_unit_test_setup_teardown(test_500_is_an_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decompression_ratio_from_region,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_decompression_ratio, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_content_codings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_file_error_names_no_path,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_scheme_deferred, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_kept_when_quiet, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setopt_failure_deferred, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_with_deferred_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
