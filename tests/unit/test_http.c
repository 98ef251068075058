/*
 * test_http.c - the HTTP server over real loopback connections.
 *
 * The server runs its event loop in a second thread; the test thread talks
 * to it with libcurl (an independent HTTP implementation) and, where the
 * exact bytes on the wire matter (HEAD), with a plain socket. The only
 * cross-thread traffic is the provider's current-snapshot pointer (under a
 * mutex) and one byte on a pipe that stops the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/http.h"

#define NOW INT64_C(1774940400)   /* 2026-03-31T09:00:00+02:00 */

/* --- a two-clinic region and its snapshot ------------------------------- */

static struct conf_clinic clinics[2];
static struct conf_region region;
static struct clinic_state states[2];

static struct feed_snapshot *make_snapshot(void)
{
    struct feed_snapshot *s = NULL;
    struct sf_error err = {0};
    int i;

    memset(clinics, 0, sizeof(clinics));
    memset(states, 0, sizeof(states));
    memset(&region, 0, sizeof(region));
    clinics[0].id = "SE2321000156-AAA1";
    clinics[1].id = "SE2321000156-BBB2";
    for (i = 0; i < 2; i++) {
        clinics[i].name = "Fysio";
        clinics[i].municipality = "Karlstad";
        clinics[i].operator_kind = "private";
        states[i].conf = &clinics[i];
        avail_slots_init(&states[i].slots);
    }
    clinics[0].has_booking = true;
    states[0].web = WEB_OPEN;
    states[0].status = CLINIC_OK;
    states[0].checked_at = states[0].valid_at = NOW - 10;
    states[0].has_data = true;
    assert_int_equal(avail_slots_add(&states[0].slots, NOW + 3600,
                                     NOW + 5400, "Dalmo, Jacob", NULL, NULL),
                     0);
    states[1].web = WEB_NONE;
    region.name = "Test";
    region.timezone = "Europe/Stockholm";
    region.guarantee.days = 3;
    region.poll_interval_s = 60;
    region.clinics = clinics;
    region.nclinics = 2;
    assert_int_equal(feed_build(&region, states, NOW, &s, &err), 0);
    avail_slots_clear(&states[0].slots);
    return s;
}

/* --- the server thread ---------------------------------------------------- */

struct server {
    struct event_base *base;
    struct http_server *http;
    struct event *stop_ev;
    int pipefd[2];
    pthread_t th;
    pthread_mutex_t mu;
    struct feed_snapshot *snap;   /* current; NULL = not built yet */
    int port;
};

static const struct feed_snapshot *provide(void *arg)
{
    struct server *sv = arg;
    const struct feed_snapshot *s;

    pthread_mutex_lock(&sv->mu);
    s = sv->snap;
    pthread_mutex_unlock(&sv->mu);
    return s;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *run_loop(void *arg)
{
    struct server *sv = arg;

    event_base_dispatch(sv->base);
    return NULL;
}

static int server_setup(void **state)
{
    struct server *sv = calloc(1, sizeof(*sv));
    struct sf_error err = {0};

    assert_non_null(sv);
    clock_set_fake(NOW + 42);
    pthread_mutex_init(&sv->mu, NULL);
    assert_int_equal(pipe(sv->pipefd), 0);
    sv->base = event_base_new();
    assert_non_null(sv->base);
    sv->http = http_new(sv->base, "127.0.0.1", 0, NULL, provide, sv, &err);
    if (sv->http == NULL)
        fail_msg("http_new: %s", err.msg);
    sv->port = http_port(sv->http);
    assert_true(sv->port > 0 && sv->port < 65536);
    sv->stop_ev = event_new(sv->base, sv->pipefd[0], EV_READ, on_stop,
                            sv->base);
    assert_int_equal(event_add(sv->stop_ev, NULL), 0);
    assert_int_equal(pthread_create(&sv->th, NULL, run_loop, sv), 0);
    *state = sv;
    return 0;
}

static int server_teardown(void **state)
{
    struct server *sv = *state;

    assert_int_equal(write(sv->pipefd[1], "x", 1), 1);
    pthread_join(sv->th, NULL);
    /* Every reply that referenced the snapshot's bytes released it. */
    if (sv->snap != NULL)
        assert_int_equal(sv->snap->extra_refs, 0);
    http_free(sv->http);
    event_free(sv->stop_ev);
    event_base_free(sv->base);
    close(sv->pipefd[0]);
    close(sv->pipefd[1]);
    feed_snapshot_free(sv->snap);
    pthread_mutex_destroy(&sv->mu);
    clock_set_fake(-1);
    free(sv);
    return 0;
}

static void set_snapshot(struct server *sv, struct feed_snapshot *s)
{
    pthread_mutex_lock(&sv->mu);
    sv->snap = s;
    pthread_mutex_unlock(&sv->mu);
}

/* --- a libcurl client ----------------------------------------------------- */

struct resp {
    long status;
    char head[8192];
    size_t hlen;
    char *body;
    size_t blen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    char *nb = realloc(r->body, r->blen + sz * n + 1);

    if (nb == NULL)
        return 0;
    r->body = nb;
    memcpy(r->body + r->blen, p, sz * n);
    r->blen += sz * n;
    r->body[r->blen] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;

    if (r->hlen + len < sizeof(r->head)) {
        memcpy(r->head + r->hlen, p, len);
        r->hlen += len;
        r->head[r->hlen] = '\0';
    }
    return len;
}

/* method NULL = GET; extra: one request header line or NULL. */
static void request(struct server *sv, const char *method, const char *path,
                    const char *extra, struct resp *r)
{
    struct curl_slist *hl = NULL;
    char url[4096];
    CURL *c = curl_easy_init();
    CURLcode rc;

    assert_non_null(c);
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sv->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (method != NULL && strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method != NULL)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (extra != NULL) {
        /* One or more header lines, separated by '\n'. */
        char line[1024];
        const char *p = extra;

        while (*p != '\0') {
            const char *e = strchr(p, '\n');
            size_t len = e ? (size_t)(e - p) : strlen(p);

            snprintf(line, sizeof(line), "%.*s", (int)len, p);
            hl = curl_slist_append(hl, line);
            p = e ? e + 1 : p + len;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Value of header `name` (first occurrence), copied into out; NULL if none. */
static const char *header(const struct resp *r, const char *name, char *out,
                          size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = r->head;

    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e;
            size_t len;
            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            len = e ? (size_t)(e - v) : strlen(v);
            if (len >= outlen)
                len = outlen - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return out;
        }
        p = strstr(p, "\r\n");
        if (p != NULL)
            p += 2;
    }
    return NULL;
}

static void expect_header(const struct resp *r, const char *name,
                          const char *want)
{
    char buf[256];

    if (header(r, name, buf, sizeof(buf)) == NULL)
        fail_msg("no %s header in:\n%s", name, r->head);
    assert_string_equal(buf, want);
}

static void expect_problem(const struct resp *r, long status,
                           const char *title)
{
    cJSON *o, *v;

    assert_int_equal(r->status, status);
    expect_header(r, "Content-Type", "application/problem+json");
    assert_non_null(r->body);
    o = cJSON_Parse(r->body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring,
                        "about:blank");
    assert_string_equal(cJSON_GetObjectItem(o, "title")->valuestring, title);
    assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, status);
    v = cJSON_GetObjectItem(o, "detail");
    assert_true(cJSON_IsString(v) && v->valuestring[0] != '\0');
    assert_int_equal(cJSON_GetArraySize(o), 4);
    cJSON_Delete(o);
}

/* One raw request; returns everything the server sent until it closed. */
static char *raw(struct server *sv, const char *text, size_t *len)
{
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t k;

    assert_non_null(buf);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)sv->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    while (n < cap && (k = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)k;
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* --- tests --------------------------------------------------------------- */

static void test_before_snapshot(void **state)
{
    struct server *sv = *state;
    struct resp r;
    cJSON *o;

    request(sv, NULL, "/healthz", NULL, &r);
    assert_int_equal(r.status, 503);
    expect_header(&r, "Content-Type", "application/json; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-store");
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring,
                        "starting");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "feed_generated_at")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "feed_age_s")));
    assert_int_equal(cJSON_GetObjectItem(o, "clinics")->valueint, 0);
    cJSON_Delete(o);
    resp_free(&r);

    request(sv, NULL, "/v1/availability", NULL, &r);
    expect_problem(&r, 503, "Service Unavailable");
    expect_header(&r, "Retry-After", "5");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/SE2321000156-AAA1", NULL, &r);
    expect_problem(&r, 503, "Service Unavailable");
    resp_free(&r);
}

static void test_feed_and_conditional(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_snapshot();
    struct resp r;
    char hdr[256], clen[32];
    cJSON *o;

    set_snapshot(sv, s);
    request(sv, NULL, "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "ok");
    assert_string_equal(
        cJSON_GetObjectItem(o, "feed_generated_at")->valuestring,
        "2026-03-31T09:00:00+02:00");
    assert_int_equal(cJSON_GetObjectItem(o, "feed_age_s")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(o, "clinics")->valueint, 2);
    cJSON_Delete(o);
    resp_free(&r);

    /* 200: the snapshot's bytes as they are, with the headers. */
    request(sv, NULL, "/v1/availability", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, s->all.len);
    assert_memory_equal(r.body, s->all.json, s->all.len);
    expect_header(&r, "Content-Type", "application/json; charset=utf-8");
    expect_header(&r, "ETag", s->all.etag);
    expect_header(&r, "Cache-Control", "public, max-age=30");
    snprintf(clen, sizeof(clen), "%zu", s->all.len);
    expect_header(&r, "Content-Length", clen);
    resp_free(&r);

    /* A filter that keeps both clinics still answers a filtered doc. */
    request(sv, NULL, "/v1/availability?municipality=Karlstad", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body,
                           ",\"filters\":{\"municipality\":[\"Karlstad\"]},"));
    resp_free(&r);
    /* Empty pairs alone are no filter: the pre-serialized bytes. */
    request(sv, NULL, "/v1/availability?&&", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, s->all.len);
    resp_free(&r);

    /* If-None-Match: exact, in a list, weak form, and "*" -> 304. */
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", s->all.etag);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.blen, 0);
    expect_header(&r, "ETag", s->all.etag);
    expect_header(&r, "Cache-Control", "public, max-age=30");
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"nope-1\", W/%s",
             s->all.etag);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/v1/availability", "If-None-Match: *", &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);

    /* Not matching (another doc's tag, a bare token): full 200. */
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", s->clinics[0].etag);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, s->all.len);
    resp_free(&r);
    request(sv, NULL, "/v1/availability", "If-None-Match: abc", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_clinic_routes(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_snapshot();
    struct resp r;
    char hdr[256];

    set_snapshot(sv, s);
    /* Found case-insensitively; the detail doc's bytes and tag. */
    request(sv, NULL, "/v1/clinics/se2321000156-aaa1", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, s->clinics[0].len);
    assert_memory_equal(r.body, s->clinics[0].json, r.blen);
    expect_header(&r, "ETag", s->clinics[0].etag);
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", s->clinics[1].etag);
    request(sv, NULL, "/v1/clinics/SE2321000156-BBB2", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);

    request(sv, NULL, "/v1/clinics/SE2321000156-ZZZ9", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/not-an-id", NULL, &r);
    expect_problem(&r, 400, "Bad Request");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/SE2321000156-AA%41", NULL, &r);
    expect_problem(&r, 400, "Bad Request");
    resp_free(&r);
    /* Strict paths: no trailing slash, no deeper path, no prefix match. */
    request(sv, NULL, "/v1/clinics/SE2321000156-AAA1/", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/availability/", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/availabilityx", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/nope.html", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
}

static void test_methods_and_limits(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_snapshot();
    struct resp r;
    char *uri;

    set_snapshot(sv, s);
    request(sv, "POST", "/v1/availability", NULL, &r);
    expect_problem(&r, 405, "Method Not Allowed");
    expect_header(&r, "Allow", "GET, HEAD, OPTIONS");
    resp_free(&r);
    request(sv, "DELETE", "/v1/clinics/SE2321000156-AAA1", NULL, &r);
    expect_problem(&r, 405, "Method Not Allowed");
    resp_free(&r);
    request(sv, "PATCH", "/healthz", NULL, &r);
    expect_problem(&r, 405, "Method Not Allowed");
    resp_free(&r);
    request(sv, "OPTIONS", "/nope", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);

    /* 2049-byte request target -> 414; 2048 gets past the check (404). */
    uri = malloc(2050);
    assert_non_null(uri);
    memset(uri, 'a', 2049);
    uri[0] = '/';
    uri[2049] = '\0';
    request(sv, NULL, uri, NULL, &r);
    expect_problem(&r, 414, "URI Too Long");
    resp_free(&r);
    uri[2048] = '\0';
    request(sv, NULL, uri, NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    free(uri);
}

static void test_head(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_snapshot();
    struct resp r;
    char want[64], *out, *end;
    size_t len;

    set_snapshot(sv, s);
    request(sv, "HEAD", "/v1/availability", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "ETag", s->all.etag);
    snprintf(want, sizeof(want), "%zu", s->all.len);
    expect_header(&r, "Content-Length", want);
    resp_free(&r);

    /* On the wire: headers with the GET's Content-Length, then nothing. */
    out = raw(sv, "HEAD /v1/availability HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n\r\n", &len);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", s->all.len);
    assert_non_null(strstr(out, want));
    end = strstr(out, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(len, (size_t)(end + 4 - out));
    free(out);

    /* HEAD of a problem: status and type, no body either. */
    out = raw(sv, "HEAD /nope HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n\r\n", &len);
    assert_true(strncmp(out, "HTTP/1.1 404 ", 13) == 0);
    assert_non_null(strstr(out, "Content-Type: application/problem+json"));
    end = strstr(out, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(len, (size_t)(end + 4 - out));
    free(out);
}

/* Requests libevent refuses itself still get exactly one (4xx) answer. */
static void test_libevent_limits(void **state)
{
    struct server *sv = *state;
    char *req, *out;
    size_t len, n = 10000;

    /* Headers over 8 KiB: libevent answers 400 and closes. */
    req = malloc(n + 200);
    assert_non_null(req);
    strcpy(req, "GET /v1/availability HTTP/1.1\r\nHost: t\r\nX-Big: ");
    len = strlen(req);
    memset(req + len, 'b', n);
    strcpy(req + len + n, "\r\nConnection: close\r\n\r\n");
    out = raw(sv, req, &len);
    assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
    assert_null(strstr(out + 1, "HTTP/1.1 "));   /* exactly one reply */
    free(out);
    free(req);

    /* An unknown method name: libevent 2.1 answers 501 (HTML) itself. */
    out = raw(sv, "BREW /v1/availability HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n\r\n", &len);
    assert_true(strncmp(out, "HTTP/1.1 501 ", 13) == 0);
    free(out);

    /* A body over HTTP_MAX_BODY: 413 before our 405. */
    out = raw(sv, "POST /v1/availability HTTP/1.1\r\nHost: t\r\n"
                  "Content-Length: 5000\r\nConnection: close\r\n\r\n",
              &len);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    free(out);
}

static void test_bind_error(void **state)
{
    struct server *sv = *state;
    struct event_base *b = event_base_new();
    struct sf_error err = {0};
    struct http_server *h;

    /* Port already taken by the running server. */
    assert_non_null(b);
    h = http_new(b, "127.0.0.1", sv->port, NULL, provide, sv, &err);
    assert_null(h);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    h = http_new(b, "127.0.0.1", 70000, NULL, provide, sv, &err);
    assert_null(h);
    http_free(NULL);
    event_base_free(b);
}

int main(void)
{
    /* Each test gets a fresh server; snapshots are freed in teardown. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_before_snapshot, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_feed_and_conditional,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_clinic_routes, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_limits,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_head, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_libevent_limits, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_bind_error, server_setup,
                                        server_teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
