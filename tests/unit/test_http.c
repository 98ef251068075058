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
#include <signal.h>
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
#include <time.h>
#include <unistd.h>

#include <math.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <zlib.h>

#include "slotfeed/api.h"
#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/http.h"
#include "slotfeed/http_stream.h"
#include "slotfeed/web.h"
#include "slotfeed/metrics.h"
#include "th_schema.h"
#include "th_scale.h"
#include "th_skip.h"
#include "th_text.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00 */

/* --- a two-clinic region and its snapshot ------------------------------- */

static struct conf_clinic clinics[2];
static struct conf_region region;
static struct clinic_state states[2];

static struct feed_snapshot *make_snapshot(void)
{
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
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
    assert_int_equal(avail_slots_add(&states[0].slots, NOW + 3600, NOW + 5400,
                                     "Dalmo, Jacob", NULL, NULL),
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
    struct feed_snapshot *snap; /* current; NULL = not built yet */
    int port;
    struct http_server *admin; /* admin listener (admin_setup), or NULL */
    int admin_port;
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

/* Options of the next server_setup (tests change them before). */
static struct http_opts server_opts;
static struct geo_table *test_geo;
static int want_admin; /* next server_setup adds an admin listener */

static int server_setup(void **state)
{
    struct server *sv = calloc(1, sizeof(*sv));
    struct sf_error err = { 0 };

    assert_non_null(sv);
    clock_set_fake(NOW + 42);
    pthread_mutex_init(&sv->mu, NULL);
    assert_int_equal(pipe(sv->pipefd), 0);
    sv->base = event_base_new();
    assert_non_null(sv->base);
    sv->http =
        http_new(sv->base, "127.0.0.1", 0, &server_opts, provide, sv, &err);
    if (sv->http == NULL)
        fail_msg("http_new: %s", err.msg);
    sv->port = http_port(sv->http);
    assert_true(sv->port > 0 && sv->port < 65536);
    if (want_admin) {
        struct http_opts ao = server_opts;

        ao.role = HTTP_ROLE_ALL;
        sv->admin = http_new(sv->base, "127.0.0.1", 0, &ao, provide, sv, &err);
        if (sv->admin == NULL)
            fail_msg("http_new (admin): %s", err.msg);
        sv->admin_port = http_port(sv->admin);
    }
    sv->stop_ev =
        event_new(sv->base, sv->pipefd[0], EV_READ, on_stop, sv->base);
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
    http_free(sv->admin);
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

/* HEAD of path: 200, the GET's Content-Length clen, no body. */
static void expect_head(struct server *sv, const char *path, const char *clen)
{
    struct resp r;

    request(sv, "HEAD", path, NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Length", clen);
    assert_int_equal(r.blen, 0);
    resp_free(&r);
}

static void expect_problem(const struct resp *r, long status, const char *title)
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
    struct timeval tv = { 5, 0 };
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
    /* The page before the first feed: the static shell, not a 503. */
    request(sv, NULL, "/", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "Hämtar lediga tider"));
    resp_free(&r);
    request(sv, NULL, "/overview", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Hämtar uppgifter"));
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
    assert_string_equal(cJSON_GetObjectItem(o, "feed_generated_at")
                            ->valuestring,
                        "2026-03-31T09:00:00+02:00");
    assert_int_equal(cJSON_GetObjectItem(o, "feed_age_s")->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(o, "clinics")->valueint, 2);
    cJSON_Delete(o);
    resp_free(&r);

    /* 200: the snapshot's bytes as they are, with the headers. */
    request(sv, NULL, "/v1/availability", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, s->all.len);
    assert_memory_equal(r.body, th_doc_text(&s->all), s->all.len);
    expect_header(&r, "Content-Type", "application/json; charset=utf-8");
    expect_header(&r, "ETag", s->all.etag);
    expect_header(&r, "Cache-Control", "public, max-age=30");
    snprintf(clen, sizeof(clen), "%zu", s->all.len);
    expect_header(&r, "Content-Length", clen);
    resp_free(&r);

    /* A filter that keeps both clinics still answers a filtered doc. */
    request(sv, NULL, "/v1/availability?municipality=Karlstad", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, ",\"filters\":{\"municipality\":[\"Karlstad\"]},"));
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
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"nope-1\", W/%s", s->all.etag);
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
    assert_memory_equal(r.body, th_doc_text(&s->clinics[0]), r.blen);
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
    out = raw(sv,
              "HEAD /v1/availability HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\n\r\n",
              &len);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", s->all.len);
    assert_non_null(strstr(out, want));
    end = strstr(out, "\r\n\r\n");
    assert_non_null(end);
    assert_int_equal(len, (size_t)(end + 4 - out));
    free(out);

    /* HEAD of a problem: status and type, no body either. */
    out = raw(sv,
              "HEAD /nope HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\n\r\n",
              &len);
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
    assert_null(strstr(out + 1, "HTTP/1.1 ")); /* exactly one reply */
    free(out);
    free(req);

    /* An unknown method name: libevent 2.1 answers 501 (HTML) itself. */
    out = raw(sv,
              "BREW /v1/availability HTTP/1.1\r\nHost: t\r\n"
              "Connection: close\r\n\r\n",
              &len);
    assert_true(strncmp(out, "HTTP/1.1 501 ", 13) == 0);
    free(out);

    /* A body over HTTP_MAX_BODY: 413 before our 405. */
    out = raw(sv,
              "POST /v1/availability HTTP/1.1\r\nHost: t\r\n"
              "Content-Length: 5000\r\nConnection: close\r\n\r\n",
              &len);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    free(out);
}

static void test_bind_error(void **state)
{
    struct server *sv = *state;
    struct event_base *b = event_base_new();
    struct sf_error err = { 0 };
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

/* --- a seven-clinic region for filters, near, gzip, slots ----------------- */

#define DAY 86400

enum {
    C_CENTRUM,
    C_KIL,
    C_TOCKS,
    C_SKOG,
    C_KRIS,
    C_SAFF,
    C_AKTIV,
    NR
};

static const char *const r_ids[NR] = {
    "SE2321000156-AAA1", "SE2321000156-BBB2", "SE2321000156-CCC3",
    "SE2321000156-DDD4", "SE2321000156-EEE5", "SE2321000156-FFF6",
    "SE2321000156-GGG7",
};
static const char *const r_names[NR] = {
    "Fysio Centrum",       "Kilkliniken",  "Töcksfors Fysio", "Skoghalls Rehab",
    "Kristinehamns Fysio", "Säffle Fysio", "Aktiv Fysio",
};
static const char *const r_mun[NR] = {
    "Karlstad",     "Kil",    "Årjäng",   "Hammarö",
    "Kristinehamn", "Säffle", "Karlstad",
};
static const char *const r_loc[NR] = {
    "Karlstad",     "Kil",    "Töcksfors", "Skoghall",
    "Kristinehamn", "Säffle", "Karlstad",
};
static struct conf_clinic r_clin[NR];
static struct conf_region r_region;
static struct clinic_state r_st[NR];

/* Variations of make_region; a test that sets one resets it. */
static const char *r_tocks_place;  /* TOCKS's municipality and locality */
static const char *r_long_address; /* KIL's and SAFF's address */
static int r_aktiv_extra;          /* extra slots at AKTIV, a day apart */

static void r_slot(int i, int64_t start, const char *who)
{
    assert_int_equal(avail_slots_add(&r_st[i].slots, start, start + 1800, who,
                                     "Nybesök", "NYB"),
                     0);
}

/*
 * Facts by hand: within_guarantee true for CENTRUM (tomorrow), KRIS (stale
 * but tomorrow) and AKTIV (in 2 days); false for KIL (10 days) and SAFF
 * (no slots); unknown for TOCKS (never answered) and SKOG (no booking).
 */
static struct feed_snapshot *make_region(void)
{
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    int i;

    memset(r_clin, 0, sizeof(r_clin));
    memset(r_st, 0, sizeof(r_st));
    memset(&r_region, 0, sizeof(r_region));
    for (i = 0; i < NR; i++) {
        struct conf_clinic *c = &r_clin[i];

        c->id = (char *)r_ids[i];
        c->name = (char *)r_names[i];
        c->municipality = (char *)r_mun[i];
        c->locality = (char *)r_loc[i];
        if (i == C_TOCKS && r_tocks_place != NULL)
            c->municipality = c->locality = (char *)r_tocks_place;
        if (i == C_KIL || i == C_SAFF)
            c->address = (char *)r_long_address;
        c->operator_kind =
            (i == C_KIL || i == C_SKOG || i == C_SAFF) ? "region" : "private";
        c->has_booking = i != C_SKOG;
        c->booking.booking_url = "https://e-tjanster.1177.se/boka";
        c->booking.time_type_name =
            i == C_TOCKS ? "Återbesök" : "Nybesök fysioterapeut";
        r_st[i].conf = c;
        r_st[i].web = WEB_OPEN;
        r_st[i].has_data = true;
        r_st[i].checked_at = r_st[i].valid_at = NOW - 10;
        avail_slots_init(&r_st[i].slots);
    }
    r_slot(C_CENTRUM, NOW + DAY + 3600, "Dalmo, Jacob"); /* 1 apr */
    r_slot(C_CENTRUM, NOW + 5 * DAY, "Dalmo, Jacob");    /* 5 apr */
    r_slot(C_CENTRUM, NOW + 40 * DAY, NULL);             /* 10 maj */
    r_slot(C_KIL, NOW + 10 * DAY, NULL);
    r_slot(C_KRIS, NOW + DAY, NULL);
    r_slot(C_AKTIV, NOW + 2 * DAY, NULL);
    for (i = 0; i < r_aktiv_extra; i++)
        r_slot(C_AKTIV, NOW + (3 + i) * DAY, NULL);
    r_st[C_TOCKS].web = WEB_UNKNOWN;
    r_st[C_TOCKS].status = CLINIC_ERROR;
    r_st[C_TOCKS].has_data = false;
    r_st[C_SKOG].web = WEB_NONE;
    r_st[C_SKOG].has_data = false;
    r_st[C_KRIS].web = WEB_UNREACHABLE;
    r_st[C_KRIS].status = CLINIC_STALE;
    r_st[C_KRIS].err_class = SF_ERR_TRANSPORT;
    snprintf(r_st[C_KRIS].error, sizeof(r_st[C_KRIS].error), "refused");
    r_region.name = "Värmland";
    r_region.timezone = "Europe/Stockholm";
    r_region.guarantee.days = 3;
    r_region.poll_interval_s = 60;
    r_region.horizon_days = 28;
    r_region.clinics = r_clin;
    r_region.nclinics = NR;
    assert_int_equal(feed_build(&r_region, r_st, NOW, &s, &err), 0);
    for (i = 0; i < NR; i++)
        avail_slots_clear(&r_st[i].slots);
    return s;
}

/* --- JSON Schema validation (python3-jsonschema, as test_feed.c) -------- */

static char workdir[512];
static int have_jsonschema = -1;

/* Validate json against $defs/def; skipped (with a note) without module. */
static void expect_valid(const char *def, const char *json)
{
    static int n;
    char doc[64];
    int rc;

    if (workdir[0] == '\0')
        snprintf(workdir, sizeof(workdir), "%s/test-http", SLOTFEED_BINARY_DIR);
    if (have_jsonschema == 0)
        return;
    snprintf(doc, sizeof(doc), "doc-%d.json", n++);
    rc = th_schema_validate(workdir, def, doc, json);
    if (rc == TH_SCHEMA_NO_MODULE) {
        th_skip_note("no python3 jsonschema; schema checks not run");
        have_jsonschema = 0;
        return;
    }
    have_jsonschema = 1;
    if (rc != 0)
        fail_msg("%s/%s does not validate as %s", workdir, doc, def);
}

/* --- filters -------------------------------------------------------------- */

/* Ids of the clinics array, in order, into want-comparable form. */
static void expect_ids(const cJSON *doc, const int *want, int n)
{
    const cJSON *arr = cJSON_GetObjectItem(doc, "clinics");
    int i;

    assert_int_equal(cJSON_GetArraySize(arr), n);
    for (i = 0; i < n; i++)
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i),
                                                "id")
                                ->valuestring,
                            r_ids[want[i]]);
}

/* Recount the summary from the clinic objects themselves. */
static void expect_summary_consistent(const cJSON *doc)
{
    const cJSON *sum = cJSON_GetObjectItem(doc, "summary"), *c;
    const cJSON *wb = cJSON_GetObjectItem(sum, "web_booking");
    int n = 0, open = 0, none = 0, unr = 0, unk = 0, wf = 0, wg = 0, st = 0;
    int er = 0;

    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "clinics")) {
        const char *w = cJSON_GetObjectItem(c, "web_booking")->valuestring;
        const char *s = cJSON_GetObjectItem(c, "status")->valuestring;
        const cJSON *fs = cJSON_GetObjectItem(c, "free_slots");

        n++;
        open += strcmp(w, "open") == 0;
        none += strcmp(w, "none") == 0;
        unr += strcmp(w, "unreachable") == 0;
        unk += strcmp(w, "unknown") == 0;
        wf += cJSON_IsNumber(fs) && fs->valueint > 0;
        wg += cJSON_IsTrue(cJSON_GetObjectItem(c, "within_guarantee"));
        st += strcmp(s, "stale") == 0;
        er += strcmp(s, "error") == 0;
    }
    assert_int_equal(cJSON_GetObjectItem(sum, "clinics")->valueint, n);
    assert_int_equal(cJSON_GetObjectItem(wb, "open")->valueint, open);
    assert_int_equal(cJSON_GetObjectItem(wb, "none")->valueint, none);
    assert_int_equal(cJSON_GetObjectItem(wb, "unreachable")->valueint, unr);
    assert_int_equal(cJSON_GetObjectItem(wb, "unknown")->valueint, unk);
    assert_int_equal(cJSON_GetObjectItem(sum, "with_free_slots")->valueint, wf);
    assert_int_equal(cJSON_GetObjectItem(sum, "within_guarantee")->valueint,
                     wg);
    assert_int_equal(cJSON_GetObjectItem(sum, "stale")->valueint, st);
    assert_int_equal(cJSON_GetObjectItem(sum, "error")->valueint, er);
}

/* GET path: 200, schema-valid, summary consistent; parsed doc returned. */
static cJSON *get_feed(struct server *sv, const char *path, struct resp *r)
{
    cJSON *o;

    request(sv, NULL, path, NULL, r);
    if (r->status != 200)
        fail_msg("%s: status %ld: %s", path, r->status, r->body ? r->body : "");
    o = cJSON_Parse(r->body);
    assert_non_null(o);
    expect_valid("feed", r->body);
    expect_summary_consistent(o);
    return o;
}

static void expect_filtered(struct server *sv, const char *path,
                            const int *want, int n)
{
    struct resp r;
    cJSON *o = get_feed(sv, path, &r);

    assert_non_null(cJSON_GetObjectItem(o, "filters"));
    expect_ids(o, want, n);
    cJSON_Delete(o);
    resp_free(&r);
}

static void expect_bad(struct server *sv, const char *path, const char *what)
{
    struct resp r;
    cJSON *o;

    request(sv, NULL, path, NULL, &r);
    expect_problem(&r, 400, "Bad Request");
    o = cJSON_Parse(r.body);
    if (strstr(cJSON_GetObjectItem(o, "detail")->valuestring, what) == NULL)
        fail_msg("%s: detail \"%s\" does not name %s", path,
                 cJSON_GetObjectItem(o, "detail")->valuestring, what);
    cJSON_Delete(o);
    resp_free(&r);
}

static void test_filters(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    static const int karlstad[] = { C_CENTRUM, C_AKTIV };
    static const int karl_kil[] = { C_CENTRUM, C_KIL, C_AKTIV };
    static const int tocks[] = { C_TOCKS };
    static const int by_region[] = { C_KIL, C_SKOG, C_SAFF };
    static const int within[] = { C_CENTRUM, C_KRIS, C_AKTIV };
    static const int not_within[] = { C_KIL, C_SAFF };
    static const int open[] = { C_CENTRUM, C_KIL, C_SAFF, C_AKTIV };
    static const int none_unr[] = { C_SKOG, C_KRIS };
    static const int nybesok[] = { C_CENTRUM, C_KIL, C_KRIS, C_SAFF, C_AKTIV };
    struct resp r, r2;
    cJSON *o, *f;

    set_snapshot(sv, s);
    expect_filtered(sv, "/v1/availability?municipality=Karlstad", karlstad, 2);
    expect_filtered(sv, "/v1/availability?municipality=karlstad,%20KIL",
                    karl_kil, 3);
    expect_filtered(sv, "/v1/availability?municipality=%C3%85RJ%C3%84NG", tocks,
                    1);
    expect_filtered(sv, "/v1/availability?operator=region", by_region, 3);
    expect_filtered(sv, "/v1/availability?within_guarantee=true", within, 3);
    expect_filtered(sv, "/v1/availability?within_guarantee=false", not_within,
                    2);
    expect_filtered(sv, "/v1/availability?web_booking=open", open, 4);
    expect_filtered(sv, "/v1/availability?web_booking=none,unreachable",
                    none_unr, 2);
    expect_filtered(sv, "/v1/availability?web_booking=unknown", tocks, 1);
    expect_filtered(sv, "/v1/availability?service=%C3%A5terbes%C3%B6k", tocks,
                    1);
    expect_filtered(sv, "/v1/availability?service=Nybes%C3%B6k+fysioterapeut",
                    nybesok, 5);
    expect_filtered(sv,
                    "/v1/availability?municipality=Karlstad,Kil&"
                    "within_guarantee=true&operator=private",
                    karlstad, 2);
    expect_filtered(sv,
                    "/v1/availability?municipality=Kil&"
                    "within_guarantee=true",
                    NULL, 0);

    /* The summary of one subset, by hand: CENTRUM, KRIS, AKTIV. */
    o = get_feed(sv, "/v1/availability?within_guarantee=true", &r);
    f = cJSON_GetObjectItem(o, "summary");
    assert_int_equal(cJSON_GetObjectItem(f, "clinics")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "web_booking"),
                                         "unreachable")
                         ->valueint,
                     1);
    assert_int_equal(cJSON_GetObjectItem(f, "stale")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(f, "within_guarantee")->valueint, 3);
    /* Head and clinic objects are the unfiltered document's bytes. */
    assert_memory_equal(r.body, th_doc_text(&s->all), s->head_len);
    assert_non_null(strstr(r.body, s->info[C_CENTRUM].obj));
    assert_non_null(strstr(th_doc_text(&s->all), s->info[C_CENTRUM].obj));
    expect_header(&r, "Vary", "Accept-Encoding");
    cJSON_Delete(o);
    resp_free(&r);

    /* Repeated and comma forms, any case: one canonical document. */
    request(sv, NULL, "/v1/availability?municipality=Kil,karlstad", NULL, &r);
    request(sv, NULL,
            "/v1/availability?municipality=KARLSTAD&municipality="
            "kil&municipality=Kil",
            NULL, &r2);
    assert_int_equal(r.status, 200);
    assert_int_equal(r2.status, 200);
    assert_int_equal(r.blen, r2.blen);
    assert_memory_equal(r.body, r2.body, r.blen);
    o = cJSON_Parse(r.body);
    f = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "filters"), "municipality");
    assert_int_equal(cJSON_GetArraySize(f), 2);
    assert_string_equal(cJSON_GetArrayItem(f, 0)->valuestring, "Karlstad");
    assert_string_equal(cJSON_GetArrayItem(f, 1)->valuestring, "Kil");
    cJSON_Delete(o);
    {
        char etag[128], hdr[160];
        header(&r, "ETag", etag, sizeof(etag));
        assert_int_equal(etag[0], '"');
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
        resp_free(&r);
        request(sv, NULL, "/v1/availability?municipality=kil,Karlstad", hdr,
                &r);
        assert_int_equal(r.status, 304);
    }
    resp_free(&r);
    resp_free(&r2);

    /* Both operators = no operator filter = the pre-serialized bytes,
     * here a piece per clinic: streamed, copied from the pieces (the
     * two-clinic feed above goes by reference). */
    assert_true(s->all.nseg > HTTP_SEGS_REF_MAX);
    request(sv, NULL, "/v1/availability?operator=private,region", NULL, &r);
    assert_int_equal(r.status, 200);
    {
        char clen[32];

        snprintf(clen, sizeof(clen), "%zu", s->all.len);
        expect_header(&r, "Content-Length", clen);
    }
    assert_int_equal(r.blen, s->all.len);
    assert_memory_equal(r.body, th_doc_text(&s->all), r.blen);
    resp_free(&r);

    /* Bad names and values: 400 naming the parameter. */
    expect_bad(sv, "/v1/availability?foo=1", "foo");
    expect_bad(sv, "/v1/availability?Municipality=Kil", "Municipality");
    expect_bad(sv, "/v1/availability?municipality=Oslo", "municipality");
    expect_bad(sv, "/v1/availability?municipality=Kil,", "municipality");
    expect_bad(sv, "/v1/availability?municipality=", "municipality");
    expect_bad(sv, "/v1/availability?operator=public", "operator");
    expect_bad(sv, "/v1/availability?within_guarantee=yes", "within_guarantee");
    expect_bad(sv,
               "/v1/availability?within_guarantee=true&"
               "within_guarantee=false",
               "within_guarantee");
    expect_bad(sv, "/v1/availability?service=Massage", "service");
    expect_bad(sv, "/v1/availability?web_booking=closed", "web_booking");
    expect_bad(sv, "/v1/availability?near=Oslo", "near");
    expect_bad(sv, "/v1/availability?near=111%2022", "near");
}

/* --- near ------------------------------------------------------------------- */

/* The table's point of a locality, read with cJSON here (not geo.c). */
static void table_point(const cJSON *tab, const char *loc, double *lat,
                        double *lon)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, cJSON_GetObjectItem(tab, "localities"))
        if (strcmp(cJSON_GetObjectItem(e, "name")->valuestring, loc) == 0) {
            *lat = cJSON_GetObjectItem(e, "lat")->valuedouble;
            *lon = cJSON_GetObjectItem(e, "lon")->valuedouble;
            return;
        }
    fail_msg("no locality %s in the table", loc);
}

struct exp_row {
    int i;
    long deci;
};

static int exp_cmp(const void *a, const void *b)
{
    const struct exp_row *x = a, *y = b;

    if (x->deci != y->deci)
        return x->deci < y->deci ? -1 : 1;
    return strcmp(r_names[x->i], r_names[y->i]);
}

/*
 * Expected order from `from` (a locality): spherical law of cosines on the
 * table's coordinates, rounded to 0.1 km, ties by name.
 */
static void expect_near(struct server *sv, const cJSON *tab, const char *query,
                        const char *from)
{
    struct exp_row rows[NR];
    double la, lo, rad = acos(-1.0) / 180.0;
    char path[256];
    struct resp r;
    cJSON *o, *arr;
    int i;

    table_point(tab, from, &la, &lo);
    for (i = 0; i < NR; i++) {
        double lb, lob, c;
        table_point(tab, r_loc[i], &lb, &lob);
        c = sin(la * rad) * sin(lb * rad) +
            cos(la * rad) * cos(lb * rad) * cos((lob - lo) * rad);
        rows[i].i = i;
        rows[i].deci = (long)floor(6371.0 * acos(c > 1 ? 1 : c) * 10 + 0.5);
    }
    qsort(rows, NR, sizeof(rows[0]), exp_cmp);
    snprintf(path, sizeof(path), "/v1/availability?near=%s", query);
    o = get_feed(sv, path, &r);
    arr = cJSON_GetObjectItem(o, "clinics");
    assert_int_equal(cJSON_GetArraySize(arr), NR);
    for (i = 0; i < NR; i++) {
        cJSON *c = cJSON_GetArrayItem(arr, i);
        double d = cJSON_GetObjectItem(c, "distance_km")->valuedouble;

        if (strcmp(cJSON_GetObjectItem(c, "id")->valuestring,
                   r_ids[rows[i].i]) != 0)
            fail_msg("near=%s: position %d is %s, want %s", query, i,
                     cJSON_GetObjectItem(c, "id")->valuestring,
                     r_ids[rows[i].i]);
        assert_true(fabs(d - rows[i].deci / 10.0) < 0.051);
    }
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o,
                                                                    "filters"),
                                                "near"),
                            "place")
            ->valuestring,
        from);
    cJSON_Delete(o);
    resp_free(&r);
}

static void test_near(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    FILE *f = fopen(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", "rb");
    static const int within_near[] = { C_KRIS, C_AKTIV, C_CENTRUM };
    char buf[16384];
    size_t n;
    cJSON *tab;
    struct resp r, r2;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    tab = cJSON_Parse(buf);
    assert_non_null(tab);
    set_snapshot(sv, s);
    expect_near(sv, tab, "Karlstad", "Karlstad");
    expect_near(sv, tab, "skoghall", "Skoghall");
    expect_near(sv, tab, "681%2030", "Kristinehamn");
    expect_near(sv, tab, "%C3%A5rj%C3%A4ng", "Årjäng");
    cJSON_Delete(tab);

    /* A postcode and its place give the very same document. */
    request(sv, NULL, "/v1/availability?near=652+24", NULL, &r);
    request(sv, NULL, "/v1/availability?near=Karlstad", NULL, &r2);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.blen, r2.blen);
    assert_memory_equal(r.body, r2.body, r.blen);
    resp_free(&r);
    resp_free(&r2);

    /* The region's wish: nearest with a slot within the guarantee. From
     * Kristinehamn: KRIS itself (0), then the two Karlstad clinics. */
    expect_filtered(sv,
                    "/v1/availability?near=Kristinehamn&"
                    "within_guarantee=true",
                    within_near, 3);
}

/*
 * A clinic whose place the table does not know comes last, with
 * distance_km null (docs/feed.md), whatever its name; the others stay
 * nearest first. The demo region has no such clinic.
 */
static void test_near_unplaced_last(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s;
    const cJSON *arr, *c, *d;
    double prev = -1;
    struct resp r;
    cJSON *o;
    int i;

    r_tocks_place = "Ingenstans";
    s = make_region();
    r_tocks_place = NULL;
    set_snapshot(sv, s);
    o = get_feed(sv, "/v1/availability?near=Karlstad", &r);
    arr = cJSON_GetObjectItem(o, "clinics");
    assert_int_equal(cJSON_GetArraySize(arr), NR);
    for (i = 0; i < NR; i++) {
        c = cJSON_GetArrayItem(arr, i);
        d = cJSON_GetObjectItem(c, "distance_km");
        assert_non_null(d);
        if (i == NR - 1) {
            assert_string_equal(cJSON_GetObjectItem(c, "id")->valuestring,
                                r_ids[C_TOCKS]);
            assert_true(cJSON_IsNull(d));
        } else {
            if (!cJSON_IsNumber(d))
                fail_msg("position %d (%s): distance_km is not a number", i,
                         cJSON_GetObjectItem(c, "id")->valuestring);
            assert_true(d->valuedouble >= prev);
            prev = d->valuedouble;
        }
    }
    cJSON_Delete(o);
    resp_free(&r);
}

/*
 * Filtered answers are cached per snapshot: a new snapshot must answer
 * from its own data, not from the answer cached for the one before.
 */
static void test_filtered_cache_follows_snapshot(void **state)
{
    static const int karlstad[] = { C_CENTRUM, C_AKTIV };
    static const char path[] = "/v1/availability?municipality=Karlstad";
    struct server *sv = *state;
    struct feed_snapshot *s1, *s2;
    char e1[128], e2[128];
    struct resp r1, r2;
    cJSON *o1, *o2;

    s1 = make_region();
    set_snapshot(sv, s1);
    o1 = get_feed(sv, path, &r1);
    expect_ids(o1, karlstad, 2);
    assert_int_equal(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(cJSON_GetObjectItem(o1, "clinics"),
                                            1),
                         "free_slots")
                         ->valueint,
                     1);

    r_aktiv_extra = 2;
    s2 = make_region();
    r_aktiv_extra = 0;
    set_snapshot(sv, s2);
    assert_int_equal(s1->extra_refs, 0);
    feed_snapshot_free(s1);
    o2 = get_feed(sv, path, &r2);
    expect_ids(o2, karlstad, 2);
    assert_int_equal(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(cJSON_GetObjectItem(o2, "clinics"),
                                            1),
                         "free_slots")
                         ->valueint,
                     3);
    assert_non_null(header(&r1, "ETag", e1, sizeof(e1)));
    assert_non_null(header(&r2, "ETag", e2, sizeof(e2)));
    assert_string_not_equal(e1, e2);
    cJSON_Delete(o1);
    cJSON_Delete(o2);
    resp_free(&r1);
    resp_free(&r2);
}

static void test_near_unavailable(void **state)
{
    struct server *sv = *state;

    /* A readable geo file in the region changes nothing: the server reads
     * no file while answering (the app loads the table at start, before
     * privileges are dropped, and passes it in http_opts). */
    set_snapshot(sv, make_region());
    r_region.geo = (char *)SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json";
    expect_bad(sv, "/v1/availability?near=Karlstad", "near is not available");
    r_region.geo = NULL;
}

/* --- gzip, validators, CORS ----------------------------------------------- */

static char *gunzip(const char *in, size_t len, size_t *outlen)
{
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    z_stream z;

    assert_non_null(out);
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    inflateEnd(&z);
    return out;
}

/* GET with Accept-Encoding ae: 1 when the gzip variant came, else 0. */
static int got_gzip(struct server *sv, const char *path, const char *ae)
{
    char hdr[200], v[64];
    struct resp r;
    int gz;

    snprintf(hdr, sizeof(hdr), "Accept-Encoding: %s", ae);
    request(sv, NULL, path, hdr, &r);
    assert_int_equal(r.status, 200);
    gz = header(&r, "Content-Encoding", v, sizeof(v)) != NULL;
    if (gz)
        assert_string_equal(v, "gzip");
    resp_free(&r);
    return gz;
}

static void test_gzip(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    char hdr[256], etag[128], want[128];
    struct resp r;
    size_t len;
    char *plain;

    set_snapshot(sv, s);
    /* Round trip: inflating the gzip variant gives the plain bytes. */
    request(sv, NULL, "/v1/availability", "Accept-Encoding: gzip", &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    expect_header(&r, "Vary", "Accept-Encoding");
    assert_true(r.blen < s->all.len);
    plain = gunzip(r.body, r.blen, &len);
    assert_int_equal(len, s->all.len);
    assert_memory_equal(plain, th_doc_text(&s->all), len);
    free(plain);
    /* Its ETag: the plain one with -gz inside the quotes. */
    snprintf(want, sizeof(want), "%.*s-gz\"", (int)strlen(s->all.etag) - 1,
             s->all.etag);
    expect_header(&r, "ETag", want);
    resp_free(&r);
    /* Plain without Accept-Encoding, still Vary. */
    request(sv, NULL, "/v1/availability", NULL, &r);
    expect_header(&r, "ETag", s->all.etag);
    expect_header(&r, "Vary", "Accept-Encoding");
    resp_free(&r);

    /* 304 per variant: each tag matches its own variant only. */
    snprintf(hdr, sizeof(hdr), "Accept-Encoding: gzip\nIf-None-Match: %s",
             want);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 304);
    expect_header(&r, "ETag", want);
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", want);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "Accept-Encoding: gzip\nIf-None-Match: %s",
             s->all.etag);
    request(sv, NULL, "/v1/availability", hdr, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    resp_free(&r);

    /* Accept-Encoding edge cases. */
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip"), 1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "GZIP"), 1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "x-gzip"), 1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip;q=0"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip; q=0.000"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip;q=0.001"), 1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip;q=abc"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "*"), 1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "*;q=0"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "*, gzip;q=0"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzip;q=0, *"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "deflate, br"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability",
                              "deflate;q=1.0, gzip;q=0.5"),
                     1);
    assert_int_equal(got_gzip(sv, "/v1/availability", "identity"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", "gzipx"), 0);
    assert_int_equal(got_gzip(sv, "/v1/availability", ""), 0);

    /* Clinic documents and filtered documents gzip too. */
    request(sv, NULL, "/v1/clinics/SE2321000156-AAA1", "Accept-Encoding: gzip",
            &r);
    plain = gunzip(r.body, r.blen, &len);
    assert_int_equal(len, s->clinics[0].len);
    assert_memory_equal(plain, th_doc_text(&s->clinics[0]), len);
    free(plain);
    resp_free(&r);
    {
        struct resp p;
        request(sv, NULL, "/v1/availability?within_guarantee=true", NULL, &p);
        request(sv, NULL, "/v1/availability?within_guarantee=true",
                "Accept-Encoding: gzip", &r);
        expect_header(&r, "Content-Encoding", "gzip");
        plain = gunzip(r.body, r.blen, &len);
        assert_int_equal(len, p.blen);
        assert_memory_equal(plain, p.body, len);
        header(&r, "ETag", etag, sizeof(etag));
        assert_non_null(strstr(etag, "-gz\""));
        free(plain);
        resp_free(&p);
        resp_free(&r);
    }
    /* HEAD of the gzip variant: its length, no body. */
    request(sv, "HEAD", "/v1/availability", "Accept-Encoding: gzip", &r);
    snprintf(want, sizeof(want), "%zu", s->all_gz.len);
    expect_header(&r, "Content-Length", want);
    resp_free(&r);
}

/* The page's assets (HTML, JS, CSS) go out gzip'd like the feed: made at
 * start, own ETag per variant, Vary: Accept-Encoding. */
static void test_asset_gzip(void **state)
{
    static const char *const paths[] = { "/app.js", "/common.js", "/style.css",
                                         "/index.html" };
    struct server *sv = *state;
    char hdr[256], etag[128], plain_etag[128];
    struct resp r;
    size_t i, len;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        const struct web_asset *a = web_asset_find(paths[i]);
        char *body;

        assert_non_null(a);
        request(sv, NULL, paths[i], NULL, &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Vary", "Accept-Encoding");
        assert_null(strstr(r.head, "Content-Encoding"));
        header(&r, "ETag", plain_etag, sizeof(plain_etag));
        resp_free(&r);
        request(sv, NULL, paths[i], "Accept-Encoding: gzip, br", &r);
        assert_int_equal(r.status, 200);
        expect_header(&r, "Content-Encoding", "gzip");
        expect_header(&r, "Vary", "Accept-Encoding");
        assert_true(r.blen * 2 < a->len); /* text: at least halved */
        body = gunzip(r.body, r.blen, &len);
        assert_int_equal(len, a->len);
        assert_memory_equal(body, a->data, len);
        free(body);
        header(&r, "ETag", etag, sizeof(etag));
        assert_string_not_equal(etag, plain_etag);
        resp_free(&r);
        snprintf(hdr, sizeof(hdr),
                 "Accept-Encoding: gzip\nIf-None-Match: "
                 "%s",
                 etag);
        request(sv, NULL, paths[i], hdr, &r);
        assert_int_equal(r.status, 304);
        resp_free(&r);
    }
}

static void test_last_modified_and_cors(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    struct resp r;
    char hdr[256];

    set_snapshot(sv, s);
    /* The content first appeared at NOW = 07:00:00Z (first build of this
     * region in the process, or the same content since). */
    request(sv, NULL, "/v1/availability", NULL, &r);
    expect_header(&r, "Last-Modified", "Tue, 31 Mar 2026 07:00:00 GMT");
    expect_header(&r, "Access-Control-Allow-Origin", "*");
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Tue, 31 Mar 2026 07:00:00 GMT", &r);
    assert_int_equal(r.status, 304);
    expect_header(&r, "Last-Modified", "Tue, 31 Mar 2026 07:00:00 GMT");
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Wed, 01 Apr 2026 00:00:00 GMT", &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Tue, 31 Mar 2026 06:59:59 GMT", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    request(sv, NULL, "/v1/availability", "If-Modified-Since: yesterday", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* The other two HTTP-date forms of RFC 9110 §5.6.7 (were 200). */
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Tuesday, 31-Mar-26 07:00:00 GMT", &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Tue Mar 31 07:00:00 2026", &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Wed Apr  1 00:00:00 2026", &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/v1/availability",
            "If-Modified-Since: Tuesday, 31-Mar-26 06:59:59 GMT", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* Invalid dates are ignored (200), however lenient curl_getdate is:
     * ISO 8601, a Feb 30, a moved space, lower-case names, no zone. */
    {
        static const char *const bad[] = {
            "If-Modified-Since: 2026-04-01T00:00:00Z",
            "If-Modified-Since: Wed, 30 Feb 2026 00:00:00 GMT",
            "If-Modified-Since: Wed,  1 Apr 2026 00:00:00 GMT",
            "If-Modified-Since: wed, 01 apr 2026 00:00:00 GMT",
            "If-Modified-Since: Wed, 01 Apr 2026 00:00:00",
            "If-Modified-Since: Wed Apr 01 00:00:00 2026",
            "If-Modified-Since: Wednesday, 01-Apr-2026 00:00:00 GMT",
            "If-Modified-Since: Wed, 01 Apr 2026 00:00:00 GMT+1",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            request(sv, NULL, "/v1/availability", bad[i], &r);
            if (r.status != 200)
                fail_msg("%s: %ld", bad[i], r.status);
            resp_free(&r);
        }
    }
    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
    request(sv, NULL, "/v1/availability",
            "If-None-Match: \"x-1\"\n"
            "If-Modified-Since: Wed, 01 Apr 2026 00:00:00 GMT",
            &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(hdr, sizeof(hdr),
             "If-Modified-Since: Tue, 31 Mar 2026 "
             "07:00:00 GMT\nAccept-Encoding: gzip");
    request(sv, NULL, "/v1/clinics/SE2321000156-BBB2", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);

    /* CORS preflight. */
    request(sv, "OPTIONS", "/v1/availability",
            "Origin: https://portal.example\n"
            "Access-Control-Request-Method: GET\n"
            "Access-Control-Request-Headers: if-none-match",
            &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.blen, 0);
    expect_header(&r, "Access-Control-Allow-Origin", "*");
    expect_header(&r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    expect_header(&r, "Access-Control-Allow-Headers",
                  "If-None-Match, If-Modified-Since, Cache-Control");
    expect_header(&r, "Access-Control-Max-Age", "86400");
    resp_free(&r);
    request(sv, "OPTIONS", "/v1/clinics/SE2321000156-AAA1/slots", NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    /* Problems carry it too, so a page can read them. */
    request(sv, NULL, "/v1/availability?foo=1", NULL, &r);
    expect_header(&r, "Access-Control-Allow-Origin", "*");
    resp_free(&r);
}

/* --- slots ------------------------------------------------------------------- */

static cJSON *get_slots(struct server *sv, const char *path, int nslots)
{
    struct resp r;
    cJSON *o;

    request(sv, NULL, path, NULL, &r);
    if (r.status != 200)
        fail_msg("%s: %ld %s", path, r.status, r.body ? r.body : "");
    expect_valid("slots", r.body);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    if (nslots >= 0)
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "slots")),
                         nslots);
    resp_free(&r);
    return o;
}

static void test_slots(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    cJSON *o, *e;
    struct resp r;

    set_snapshot(sv, s);
    /* Default: 2026-03-31 .. +28 days = 2026-04-28; the 10 May slot out. */
    o = get_slots(sv, "/v1/clinics/SE2321000156-AAA1/slots", 2);
    assert_string_equal(cJSON_GetObjectItem(o, "from")->valuestring,
                        "2026-03-31");
    assert_string_equal(cJSON_GetObjectItem(o, "to")->valuestring,
                        "2026-04-28");
    e = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "slots"), 0);
    /* NOW + 1 day + 1 h = 1 April 10:00 local. */
    assert_string_equal(cJSON_GetObjectItem(e, "date")->valuestring,
                        "2026-04-01");
    assert_string_equal(cJSON_GetObjectItem(e, "start")->valuestring,
                        "2026-04-01T10:00:00+02:00");
    assert_string_equal(cJSON_GetObjectItem(e, "time")->valuestring, "10:00");
    assert_string_equal(cJSON_GetObjectItem(e, "practitioner")->valuestring,
                        "Dalmo, Jacob");
    assert_string_equal(cJSON_GetObjectItem(e, "booking_url")->valuestring,
                        "https://e-tjanster.1177.se/boka");
    cJSON_Delete(o);
    /* Inclusive bounds. */
    cJSON_Delete(get_slots(sv,
                           "/v1/clinics/SE2321000156-AAA1/slots?"
                           "from=2026-04-01&to=2026-04-01",
                           1));
    cJSON_Delete(get_slots(sv,
                           "/v1/clinics/SE2321000156-AAA1/slots?"
                           "from=2026-04-02&to=2026-04-04",
                           0));
    cJSON_Delete(get_slots(sv,
                           "/v1/clinics/SE2321000156-AAA1/slots?"
                           "from=2026-04-05&to=2026-05-10",
                           2));
    /* from alone: to = from + 28 days = 2026-04-30 (5 April in, 10 May
     * out); the id case-insensitively. */
    o = get_slots(sv, "/v1/clinics/se2321000156-aaa1/slots?from=2026-04-02", 1);
    assert_string_equal(cJSON_GetObjectItem(o, "to")->valuestring,
                        "2026-04-30");
    cJSON_Delete(o);
    /* 92 days inclusive is the most. */
    cJSON_Delete(get_slots(sv,
                           "/v1/clinics/SE2321000156-AAA1/slots?"
                           "from=2026-03-01&to=2026-05-31",
                           3));
    /* Unknown availability: slots null, not []. */
    o = get_slots(sv, "/v1/clinics/SE2321000156-CCC3/slots", -1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "slots")));
    cJSON_Delete(o);
    o = get_slots(sv, "/v1/clinics/SE2321000156-FFF6/slots", 0);
    cJSON_Delete(o);

    expect_bad(sv,
               "/v1/clinics/SE2321000156-AAA1/slots?from=2026-03-01&"
               "to=2026-06-01",
               "to");
    expect_bad(sv,
               "/v1/clinics/SE2321000156-AAA1/slots?from=2026-04-02&"
               "to=2026-04-01",
               "to");
    expect_bad(sv, "/v1/clinics/SE2321000156-AAA1/slots?from=2026-02-30",
               "from");
    expect_bad(sv, "/v1/clinics/SE2321000156-AAA1/slots?from=2026-4-1", "from");
    expect_bad(sv, "/v1/clinics/SE2321000156-AAA1/slots?to=tomorrow", "to");
    expect_bad(sv,
               "/v1/clinics/SE2321000156-AAA1/slots?from=2026-04-01&"
               "from=2026-04-02",
               "from");
    expect_bad(sv, "/v1/clinics/SE2321000156-AAA1/slots?day=2026-04-01", "day");
    request(sv, NULL, "/v1/clinics/SE2321000156-ZZZ9/slots", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/SE2321000156-AAA1/days", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
    request(sv, NULL, "/v1/clinics/bad/slots", NULL, &r);
    expect_problem(&r, 400, "Bad Request");
    resp_free(&r);
    /* The clinic detail documents are still schema-valid. */
    request(sv, NULL, "/v1/clinics/SE2321000156-AAA1", NULL, &r);
    expect_valid("clinic_detail", r.body);
    resp_free(&r);
}

/* --- the clinicians' view: /v1/nearest and /narmast --------------------- */

static void test_nearest_routes(void **state)
{
    struct server *sv = *state;
    struct resp r;
    cJSON *o, *w;
    char *page;
    size_t len;

    set_snapshot(sv, make_region());
    /* Near Skoghall: the nearest clinic is Skoghall's (no web booking);
     * the nearest within the guarantee are Karlstad's two. */
    request(sv, NULL, "/v1/nearest?near=Skoghall&limit=2", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "application/json; charset=utf-8");
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
                                                                   "nearest"),
                                               0),
                            "id")
            ->valuestring,
        r_ids[C_SKOG]);
    w = cJSON_GetObjectItem(o, "nearest_within_guarantee");
    assert_int_equal(cJSON_GetArraySize(w), 2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 0), "id")
                            ->valuestring,
                        r_ids[C_AKTIV]); /* same place: by name */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(w, 1), "id")
                            ->valuestring,
                        r_ids[C_CENTRUM]);
    cJSON_Delete(o);
    resp_free(&r);
    /* The same 400 problems as every route. */
    expect_bad(sv, "/v1/nearest", "near: required");
    expect_bad(sv, "/v1/nearest?near=Oslo", "Oslo");
    expect_bad(sv, "/v1/nearest?near=Kil&limit=99", "limit");
    expect_bad(sv, "/v1/nearest?near=Kil&x=1", "unknown parameter");
    expect_bad(sv, "/v1/nearest?near=%ff", "UTF-8");
    /* The page: the form alone, a result, a place it does not know. */
    request(sv, NULL, "/narmast", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "name=\"nara\""));
    resp_free(&r);
    request(sv, NULL, "/narmast?nara=663+40", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "Närmast Skoghall"));
    assert_non_null(strstr(r.body, "Skoghalls Rehab"));
    expect_header(&r, "Vary", "Accept-Encoding");
    resp_free(&r);
    /* Gzip-compressed like the page's assets when the client takes it. */
    request(sv, NULL, "/narmast?nara=663+40", "Accept-Encoding: gzip", &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    expect_header(&r, "Vary", "Accept-Encoding");
    page = gunzip(r.body, r.blen, &len);
    page[len] = '\0';
    assert_non_null(strstr(page, "Närmast Skoghall"));
    free(page);
    resp_free(&r);
    request(sv, NULL, "/narmast?nara=%3Cb%3E", NULL, &r);
    assert_int_equal(r.status, 400);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_null(strstr(r.body, "<b>"));
    assert_non_null(strstr(r.body, "role=\"alert\""));
    resp_free(&r);
}

static void test_nearest_unavailable(void **state)
{
    struct server *sv = *state;
    struct resp r;

    set_snapshot(sv, make_region());
    expect_bad(sv, "/v1/nearest?near=Karlstad", "near is not available");
    request(sv, NULL, "/narmast?nara=Karlstad", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "finns inte"));
    resp_free(&r);
}

/* --- metrics, openapi, static, SMART ---------------------------------------- */

static void test_metrics_endpoint(void **state)
{
    struct server *sv = *state;
    struct resp r;
    unsigned long before;
    char *p;

    set_snapshot(sv, make_region());
    before = metrics_http_total(METRICS_ROUTE_AVAILABILITY, 200);
    request(sv, NULL, "/v1/availability", NULL, &r);
    resp_free(&r);
    request(sv, NULL, "/v1/availability?foo=1", NULL, &r);
    resp_free(&r);
    request(sv, NULL, "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type",
                  "text/plain; version=0.0.4; charset=utf-8");
    /* Counted by route and status; the feed gauges from the snapshot:
     * ok = 5 (TOCKS error, KRIS stale), unreachable = 1. */
    assert_true(metrics_http_total(METRICS_ROUTE_AVAILABILITY, 200) >=
                before + 1);
    assert_non_null(strstr(r.body, "slotfeed_http_requests_total{route="
                                   "\"availability\",code=\"400\"} "));
    assert_non_null(strstr(r.body, "\nslotfeed_clinics{status=\"ok\"} 5\n"));
    assert_non_null(strstr(r.body, "\nslotfeed_clinics{status=\"stale\"} "
                                   "1\n"));
    assert_non_null(strstr(r.body, "\nslotfeed_clinics_web_booking{"
                                   "web_booking=\"unreachable\"} 1\n"));
    assert_non_null(strstr(r.body, "\nslotfeed_feed_age_seconds 42\n"));
    p = strstr(r.body, "slotfeed_http_request_duration_seconds_bucket{le="
                       "\"+Inf\"}");
    assert_non_null(p);
    resp_free(&r);
}

/* Every route the server serves, as the OpenAPI document must list it. */
static const char *const served_routes[] = {
    "/v1/availability",
    "/v1/clinics/{id}",
    "/v1/clinics/{id}/slots",
    "/healthz",
    "/metrics",
    "/$bulk-publish",
    "/bulk/Location.ndjson",
    "/bulk/Schedule.ndjson",
    "/bulk/Slot.ndjson",
    "/",
    "/overview",
    "/openapi.json",
    "/v1/reports/web-booking",
    "/v1/reports/guarantee",
    "/v1/nearest",
    "/narmast",
};

static void test_openapi_and_static(void **state)
{
    struct server *sv = *state;
    size_t nr = sizeof(served_routes) / sizeof(served_routes[0]), i;
    struct resp r;
    cJSON *o, *paths, *p;
    char etag[128], hdr[200];

    set_snapshot(sv, make_region());
    request(sv, NULL, "/openapi.json", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "application/json; charset=utf-8");
    expect_header(&r, "Cache-Control", "public, max-age=300");
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "openapi")->valuestring,
                        "3.1.0");
    paths = cJSON_GetObjectItem(o, "paths");
    /* Exactly the served routes, no more, no less. */
    assert_int_equal(cJSON_GetArraySize(paths), (int)nr);
    for (i = 0; i < nr; i++)
        if (cJSON_GetObjectItem(paths, served_routes[i]) == NULL)
            fail_msg("openapi.json does not list %s", served_routes[i]);
    /* And each listed route answers (not 404) on this server. */
    cJSON_ArrayForEach(p, paths) {
        char path[200], *id;
        struct resp x;

        snprintf(path, sizeof(path), "%s", p->string);
        if ((id = strstr(path, "{id}")) != NULL) {
            char rest[64];
            snprintf(rest, sizeof(rest), "%s", id + 4);
            snprintf(id, sizeof(path) - (size_t)(id - path), "%s%s", r_ids[0],
                     rest);
        }
        request(sv, NULL, path, NULL, &x);
        /* Reports need parameters and a history store, which this server
         * has neither of: they must answer with a documented problem. */
        if (strncmp(path, "/v1/reports/", 12) == 0 ||
            strcmp(path, "/v1/nearest") == 0) {
            if (x.status != 400 && x.status != 503)
                fail_msg("%s answers %ld, want 400 or 503", path, x.status);
        } else if (x.status != 200)
            fail_msg("%s (listed as %s) answers %ld", path, p->string,
                     x.status);
        resp_free(&x);
    }
    /* The components carry the feed schemas. */
    assert_non_null(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(o, "components"), "schemas"),
        "feed"));
    cJSON_Delete(o);
    header(&r, "ETag", etag, sizeof(etag));
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    request(sv, NULL, "/openapi.json", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    /* "/" is the page rendered from the snapshot (page.h), cached with
     * it like the feed, in the language asked for. */
    request(sv, NULL, "/", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    expect_header(&r, "Vary", "Accept-Encoding, Accept-Language");
    assert_non_null(strstr(r.body, "<html lang=\"sv\">"));
    assert_non_null(strstr(r.body, "Centrum"));
    header(&r, "ETag", etag, sizeof(etag));
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    request(sv, NULL, "/", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/", "Accept-Language: en-GB,en;q=0.8", &r);
    assert_non_null(strstr(r.body, "<html lang=\"en\">"));
    resp_free(&r);
    request(sv, NULL, "/?lang=en&kommun=Karlstad", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<html lang=\"en\">"));
    assert_non_null(strstr(r.body, "<option value=\"Karlstad\" selected>"));
    resp_free(&r);
    request(sv, NULL, "/?kommun=Oslo", NULL, &r);
    assert_int_equal(r.status, 400);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    expect_header(&r, "Cache-Control", "no-store");
    assert_non_null(strstr(r.body, "Kommunen ”Oslo” finns inte"));
    resp_free(&r);
    request(sv, NULL, "/", "Accept-Encoding: gzip", &r);
    expect_header(&r, "Content-Encoding", "gzip");
    resp_free(&r);
    request(sv, NULL, "/nothing.js", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
}

static void test_smart_routes(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    struct resp r;
    cJSON *o;
    char want[200];

    set_snapshot(sv, s);
    request(sv, NULL, "/$bulk-publish", NULL, &r);
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "output")), 3);
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/$bulk-publish", sv->port);
    assert_string_equal(cJSON_GetObjectItem(o, "request")->valuestring, want);
    cJSON_Delete(o);
    resp_free(&r);
    request(sv, NULL, "/bulk/Location.ndjson", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "application/fhir+ndjson");
    assert_int_equal(r.blen, s->smart.doc[0].len);
    {
        /* Sent by reference from the pieces, byte for byte. */
        int copy = 0;
        const char *flat = doc_flatten(&s->smart.doc[0], &copy);

        assert_non_null(flat);
        assert_memory_equal(r.body, flat, r.blen);
        if (copy)
            free((char *)flat);
    }
    resp_free(&r);
    request(sv, NULL, "/bulk/Patient.ndjson", NULL, &r);
    expect_problem(&r, 404, "Not Found");
    resp_free(&r);
}

/* Stops a transfer after its first bytes (a client that goes away). */
static size_t on_body_abort(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    (void)sz;
    (void)n;
    return 0;
}

/*
 * all.json is kept as a piece per clinic (feed.c), more than
 * HTTP_SEGS_REF_MAX: a plain client gets it copied as it reads
 * (http_stream). Here it is more than two stream pieces long and two
 * clinics' objects are each longer than a piece, so pieces end inside a
 * clinic's bytes. The body is the document byte for byte, with its
 * Content-Length and no chunked framing; HEAD gives the length.
 */
static void test_all_streamed(void **state)
{
    static char addr[HTTP_STREAM_PIECE + HTTP_STREAM_PIECE / 4];
    struct server *sv = *state;
    struct feed_snapshot *s;
    struct resp r;
    char clen[32], v[64];

    memset(addr, 'x', sizeof(addr) - 1);
    r_long_address = addr;
    s = make_region();
    r_long_address = NULL;
    set_snapshot(sv, s);
    assert_true(s->all.nseg > HTTP_SEGS_REF_MAX);
    assert_true(s->all.len > 2 * HTTP_STREAM_PIECE);
    snprintf(clen, sizeof(clen), "%zu", s->all.len);

    request(sv, NULL, "/v1/availability", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Length", clen);
    expect_header(&r, "ETag", s->all.etag);
    assert_null(header(&r, "Transfer-Encoding", v, sizeof(v)));
    assert_int_equal(r.blen, s->all.len);
    assert_memory_equal(r.body, th_doc_text(&s->all), s->all.len);
    resp_free(&r);

    expect_head(sv, "/v1/availability", clen);
}

/*
 * Slot.ndjson is kept only compressed (feed.c): a gzip client gets the
 * member assembled by reference, a plain client the text inflated as it
 * reads, in several pieces (the file is made larger than
 * HTTP_STREAM_PIECE), with Content-Length and no chunked framing; HEAD
 * gives the length. Both bodies are the file's text byte for byte, and a
 * client leaving halfway releases the snapshot (teardown checks the
 * count, LeakSanitizer the rest).
 */
static void test_slot_file_streamed(void **state)
{
    struct server *sv = *state;
    struct feed_snapshot *s;
    const struct doc *d;
    const char *want;
    struct resp r;
    char v[128], clen[32], *plain;
    size_t len;

    r_aktiv_extra = 1500;
    s = make_region();
    r_aktiv_extra = 0;
    set_snapshot(sv, s);
    d = smartpub_ndjson(&s->smart, "Slot");
    assert_non_null(d);
    assert_non_null(d->zsrc);
    assert_true(d->len > 2 * HTTP_STREAM_PIECE);
    want = th_doc_text(d);
    snprintf(clen, sizeof(clen), "%zu", d->len);

    request(sv, NULL, "/bulk/Slot.ndjson", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Length", clen);
    expect_header(&r, "ETag", d->etag);
    expect_header(&r, "Vary", "Accept-Encoding");
    assert_null(header(&r, "Transfer-Encoding", v, sizeof(v)));
    assert_null(header(&r, "Content-Encoding", v, sizeof(v)));
    assert_int_equal(r.blen, d->len);
    assert_memory_equal(r.body, want, d->len);
    resp_free(&r);

    request(sv, NULL, "/bulk/Slot.ndjson", "Accept-Encoding: gzip", &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    expect_header(&r, "ETag", d->zsrc->etag);
    plain = gunzip(r.body, r.blen, &len);
    assert_int_equal(len, d->len);
    assert_memory_equal(plain, want, len);
    free(plain);
    resp_free(&r);

    expect_head(sv, "/bulk/Slot.ndjson", clen);

    /* A client that leaves after the first bytes. */
    {
        CURL *c = curl_easy_init();
        char url[128];

        assert_non_null(c);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/bulk/Slot.ndjson",
                 sv->port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_abort);
        assert_int_equal(curl_easy_perform(c), CURLE_WRITE_ERROR);
        curl_easy_cleanup(c);
    }
    /* The server goes on serving it whole. */
    request(sv, NULL, "/bulk/Slot.ndjson", NULL, &r);
    assert_int_equal(r.blen, d->len);
    assert_memory_equal(r.body, want, d->len);
    resp_free(&r);
}

/*
 * The manifest's absolute URLs never come from the request's
 * Host (the reply is Cache-Control: public, so one request would poison
 * every shared cache). Without http.public_base_url they name the
 * listener; with it, the configured base.
 */
static void test_manifest_ignores_host(void **state)
{
    static const char *const hosts[] = { "Host: evil.example",
                                         "Host: evil.example:8080",
                                         "X-Forwarded-Host: evil.example" };
    struct server *sv = *state;
    struct feed_snapshot *s = make_region();
    struct resp r;
    char *plain, etag[64], etag2[64], want[200];
    cJSON *o, *it;
    size_t i;

    set_snapshot(sv, s);
    request(sv, NULL, "/$bulk-publish", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header(&r, "ETag", etag, sizeof(etag)));
    plain = r.body;
    r.body = NULL;
    for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        request(sv, NULL, "/$bulk-publish", hosts[i], &r);
        assert_int_equal(r.status, 200);
        assert_null(strstr(r.body, "evil"));
        assert_string_equal(r.body, plain);
        expect_header(&r, "ETag", etag);
        resp_free(&r);
    }
    free(plain);
    /* A Host that is no host never reaches the manifest (framing: 400). */
    request(sv, NULL, "/$bulk-publish", "Host: bad host", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);

    /* The configured base (its trailing slash dropped), whatever Host. */
    r_region.http_public_base_url = "https://feed.example.se/vardval/";
    request(sv, NULL, "/$bulk-publish", "Host: evil.example", &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "evil"));
    assert_null(strstr(r.body, "127.0.0.1"));
    assert_non_null(header(&r, "ETag", etag2, sizeof(etag2)));
    assert_string_not_equal(etag2, etag);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "request")->valuestring,
                        "https://feed.example.se/vardval/$bulk-publish");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "output")) {
        snprintf(want, sizeof(want),
                 "https://feed.example.se/vardval/bulk/%s.ndjson",
                 cJSON_GetObjectItem(it, "type")->valuestring);
        assert_string_equal(cJSON_GetObjectItem(it, "url")->valuestring, want);
    }
    cJSON_Delete(o);
    resp_free(&r);
    request(sv, NULL, "/$bulk-publish", "Host: other.example", &r);
    expect_header(&r, "ETag", etag2);
    resp_free(&r);
    r_region.http_public_base_url = NULL;
}

/* Rows of the count table after `from` in body: its "<tr><th" heads up
 * to the end of that table. */
static int count_rows(const char *body, const char *from)
{
    const char *p = strstr(body, from), *end;
    int n = 0;

    assert_non_null(p);
    end = strstr(p, "</table>");
    assert_non_null(end);
    while ((p = strstr(p, "<tr><th scope=\"row\">")) != NULL && p < end) {
        n++;
        p++;
    }
    return n;
}

/*
 * The overview on sv (overview.h): the current-state tables are in the
 * HTML itself (no script needed), one row per municipality of the feed
 * plus the total, cached with the snapshot (ETag, 304, gzip).
 */
static void expect_overview(struct server *sv)
{
    struct resp r;
    cJSON *o, *c;
    char etag[128], hdr[200], seen[16][64];
    int nmun = 0, i;

    request(sv, NULL, "/v1/availability", NULL, &r);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "clinics")) {
        const char *m = cJSON_GetObjectItem(c, "municipality")->valuestring;

        for (i = 0; i < nmun && strcmp(seen[i], m) != 0; i++)
            ;
        if (i == nmun && nmun < 16)
            snprintf(seen[nmun++], sizeof(seen[0]), "%s", m);
    }
    cJSON_Delete(o);
    resp_free(&r);
    request(sv, NULL, "/overview", NULL, &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8");
    assert_null(strstr(r.body, "Hämtar uppgifter"));
    assert_int_equal(count_rows(r.body, "id=\"table-municipality\""), nmun + 1);
    assert_int_equal(count_rows(r.body, "id=\"table-operator\""), 3);
    for (i = 0; i < nmun; i++) {
        snprintf(hdr, sizeof(hdr), "<tr><th scope=\"row\">%s</th>", seen[i]);
        assert_non_null(strstr(r.body, hdr));
    }
    assert_non_null(strstr(r.body, "id=\"fig-clinics\""));
    header(&r, "ETag", etag, sizeof(etag));
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    request(sv, NULL, "/overview", hdr, &r);
    assert_int_equal(r.status, 304);
    resp_free(&r);
    request(sv, NULL, "/overview.html", "Accept-Encoding: gzip", &r);
    assert_int_equal(r.status, 200);
    expect_header(&r, "Content-Encoding", "gzip");
    resp_free(&r);
}

/*
 * With an admin listener, the operator's routes are absent
 * from the public one (404, as an unknown path) and served on the admin
 * one, which also serves everything public.
 */
static void test_admin_listener(void **state)
{
    static const char *const admin_paths[] = {
        "/metrics",
        "/v1/reports/guarantee?month=2026-03",
        "/v1/reports/web-booking",
        "/overview",
        "/overview.html",
        "/overview.js",
        "/history.js",
        "/overview.css"
    };
    static const char *const public_paths[] = {
        "/v1/availability",  "/healthz", "/$bulk-publish",      "/", "/app.js",
        "/bulk/Slot.ndjson", "/narmast", "/v1/nearest?near=Kil"
    };
    struct server *sv = *state;
    struct resp r;
    int pub = sv->port;
    size_t i;

    set_snapshot(sv, make_region());
    for (i = 0; i < sizeof(admin_paths) / sizeof(admin_paths[0]); i++) {
        sv->port = pub;
        request(sv, NULL, admin_paths[i], NULL, &r);
        expect_problem(&r, 404, "Not Found");
        resp_free(&r);
        sv->port = sv->admin_port;
        request(sv, NULL, admin_paths[i], NULL, &r);
        /* the reports have no store here: 503, but they are served */
        assert_int_not_equal(r.status, 404);
        if (strncmp(admin_paths[i], "/v1/reports/", 12) != 0)
            assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    for (i = 0; i < sizeof(public_paths) / sizeof(public_paths[0]); i++) {
        sv->port = pub;
        request(sv, NULL, public_paths[i], NULL, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        sv->port = sv->admin_port;
        request(sv, NULL, public_paths[i], NULL, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    sv->port = sv->admin_port;
    expect_overview(sv);
    sv->port = pub;
    /* HEAD and OPTIONS do not reveal them either. */
    request(sv, "OPTIONS", "/metrics", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

/* --- hostile requests ----------------------------------------------------- */

static void test_hostile_queries(void **state)
{
    struct server *sv = *state;
    char path[2048];
    size_t i;

    set_snapshot(sv, make_region());
    expect_bad(sv, "/v1/availability?municipality=Kil%00x", "NUL");
    expect_bad(sv, "/v1/availability?municipality=%zz", "percent");
    expect_bad(sv, "/v1/availability?municipality=Kil%", "percent");
    expect_bad(sv, "/v1/availability?municipality=Kil%4", "percent");
    expect_bad(sv, "/v1/availability?municipality=%C3%28", "UTF-8");
    expect_bad(sv, "/v1/availability?municipality=%ED%A0%80", "UTF-8");
    expect_bad(sv, "/v1/availability?municipality=%C0%AF", "UTF-8");
    expect_bad(sv, "/v1/availability?%FF=1", "UTF-8");
    /* Checked on every route, even where parameters are ignored. */
    expect_bad(sv, "/healthz?x=%00", "NUL");
    /* 33 parameters; one value of 257 bytes; a 33-byte name. */
    strcpy(path, "/v1/availability?");
    for (i = 0; i < 33; i++)
        strcat(path, "operator=region&");
    expect_bad(sv, path, "more than 32");
    strcpy(path, "/v1/availability?near=");
    memset(path + strlen(path), 'a', 257);
    path[22 + 257] = '\0';
    expect_bad(sv, path, "longer than 256");
    strcpy(path, "/v1/availability?");
    memset(path + 17, 'n', 33);
    strcpy(path + 50, "=1");
    expect_bad(sv, path, "longer than 32");
}

/* At the cap, the next client waits until a counted connection closes. */
static void test_connection_cap(void **state)
{
    struct server *sv = *state;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    struct sockaddr_in sa;
    int fd[3], i;
    char buf[4096];
    struct pollfd pf;

    set_snapshot(sv, make_region());
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)sv->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Two keep-alive connections, each answered once: now both count. */
    for (i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(write(fd[i], req, strlen(req)), (ssize_t)strlen(req));
        pf.fd = fd[i];
        pf.events = POLLIN;
        assert_int_equal(poll(&pf, 1, 5000), 1);
        assert_true(read(fd[i], buf, sizeof(buf)) > 12);
        assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    }
    /* The third connects (kernel queue) but is not served... */
    fd[2] = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd[2], (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd[2], req, strlen(req)), (ssize_t)strlen(req));
    pf.fd = fd[2];
    pf.events = POLLIN;
    assert_int_equal(poll(&pf, 1, 300), 0);
    /* ...until one of the others goes. */
    close(fd[0]);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_true(read(fd[2], buf, sizeof(buf)) > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(fd[1]);
    close(fd[2]);
}

/* --- slow and hostile clients (request deadline, cap from accept) -------- */

#define DEADLINE_MS 300

static int64_t ms_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int connect_lo(struct server *sv)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)sv->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* A metric's value in GET /metrics (served on the loop's thread). */
static unsigned long metric(struct server *sv, const char *name)
{
    struct resp r;
    char key[128];
    const char *p;
    unsigned long v;

    request(sv, NULL, "/metrics", NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(r.body, key);
    if (p == NULL)
        fail_msg("no %s in /metrics", name);
    v = strtoul(p + strlen(key), NULL, 10);
    resp_free(&r);
    return v;
}

/* Poll /metrics until slotfeed_http_connections == want (the request
 * asking counts itself: want includes it) or 5 s pass. */
static void expect_open_conns(struct server *sv, unsigned long want)
{
    int64_t end = ms_now() + 5000;
    unsigned long v;
    struct pollfd none = { -1, 0, 0 };

    while ((v = metric(sv, "slotfeed_http_connections")) != want &&
           ms_now() < end)
        poll(&none, 0, 20); /* let the loop see the closes */
    assert_int_equal(v, want);
}

/*
 * Drip one byte every 50 ms on fd until the server closes it; returns ms
 * from t0 to the close. Anything but EOF/reset (an answer) fails.
 */
static int64_t drip_until_closed(int fd, int64_t t0, long max_ms)
{
    static const char drip[] = "X-Drip: abcdefghijklmnopqrstuvwxyz\r\n";
    struct pollfd pf = { fd, POLLIN, 0 };
    size_t i = 0;
    char buf[256];
    ssize_t k;

    while (ms_now() - t0 < max_ms) {
        if (poll(&pf, 1, 50) == 1) {
            k = read(fd, buf, sizeof(buf));
            if (k > 0)
                fail_msg("slow client got an answer: %.*s", (int)k, buf);
            return ms_now() - t0; /* EOF or reset */
        }
        /* The write may fail once the server has closed: then read. */
        (void)!send(fd, &drip[i++ % (sizeof(drip) - 1)], 1, MSG_NOSIGNAL);
    }
    fail_msg("slow client still open after %ld ms", max_ms);
    return -1;
}

/*
 * A slowloris client (partial headers, one byte every 50 ms, so the idle
 * timeout never fires) is closed at the deadline without an answer while
 * an ordinary client on the same server is served; the drop is counted.
 */
static void test_request_deadline(void **state)
{
    struct server *sv = *state;
    static const char start[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
    unsigned long dropped0;
    struct resp r;
    int64_t t0, took;
    int fd;

    set_snapshot(sv, make_region());
    dropped0 = metric(sv, "slotfeed_http_slow_clients_dropped_total");
    t0 = ms_now();
    fd = connect_lo(sv);
    assert_int_equal(write(fd, start, strlen(start)), (ssize_t)strlen(start));
    /* Meanwhile, others are served at once. */
    request(sv, NULL, "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    took = drip_until_closed(fd, t0, th_ms(5000));
    close(fd);
    /* Not before the deadline; within it plus a sweep period (75 ms) and
     * generous scheduling slack (th_scale.h: ASan, a loaded machine). */
    assert_true(took >= DEADLINE_MS);
    assert_true(took < DEADLINE_MS + th_ms(1500));
    assert_int_equal(metric(sv, "slotfeed_http_slow_clients_dropped_total"),
                     dropped0 + 1);
    expect_open_conns(sv, 1);
}

/* A body dripped after complete headers is under the same deadline. */
static void test_request_deadline_body(void **state)
{
    struct server *sv = *state;
    static const char head[] = "POST /healthz HTTP/1.1\r\nHost: t\r\n"
                               "Content-Length: 1000\r\n\r\n";
    int64_t t0 = ms_now(), took;
    int fd = connect_lo(sv);

    assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    took = drip_until_closed(fd, t0, th_ms(5000));
    close(fd);
    assert_true(took >= DEADLINE_MS && took < DEADLINE_MS + th_ms(1500));
}

/*
 * Keep-alive: after a reply the next request must come (and complete)
 * within the deadline counted from the end of that reply; a connection
 * that answers in time is served again.
 */
static void test_keepalive_deadline(void **state)
{
    struct server *sv = *state;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    struct pollfd pf;
    char buf[4096];
    int64_t t0, took;
    int fd, i;
    ssize_t k;

    set_snapshot(sv, make_region());
    fd = connect_lo(sv);
    pf.fd = fd;
    pf.events = POLLIN;
    /* Three requests, each sent 2/3 of a deadline after the last reply:
     * the connection lives longer than one deadline in all. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        assert_int_equal(poll(&pf, 1, 5000), 1);
        k = read(fd, buf, sizeof(buf) - 1);
        assert_true(k > 12);
        assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
        if (i < 2)
            assert_int_equal(poll(&pf, 1, DEADLINE_MS * 2 / 3), 0);
    }
    /* Then idle: closed one deadline after the last reply. */
    t0 = ms_now();
    assert_int_equal(poll(&pf, 1, (int)th_ms(5000)), 1);
    took = ms_now() - t0;
    assert_true(read(fd, buf, sizeof(buf)) <= 0);
    close(fd);
    assert_true(took >= DEADLINE_MS - 20); /* reply end is a bit before t0 */
    assert_true(took < DEADLINE_MS + th_ms(1500));
}

/* Connections count from accept: silent ones hold the cap (max 2) and
 * the count goes back down when they go. */
static void test_cap_counts_silent(void **state)
{
    struct server *sv = *state;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n"
                              "Connection: close\r\n\r\n";
    struct pollfd pf;
    char buf[4096];
    int fd[3];

    set_snapshot(sv, make_region());
    fd[0] = connect_lo(sv);
    fd[1] = connect_lo(sv);
    /* Never sent a byte, yet the third waits in the accept queue. */
    fd[2] = connect_lo(sv);
    assert_int_equal(write(fd[2], req, strlen(req)), (ssize_t)strlen(req));
    pf.fd = fd[2];
    pf.events = POLLIN;
    assert_int_equal(poll(&pf, 1, 300), 0);
    close(fd[0]);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_true(read(fd[2], buf, sizeof(buf)) > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(fd[2]);
    close(fd[1]);
    /* All gone: only the /metrics request itself is open. */
    expect_open_conns(sv, 1);
}

/*
 * Out of file descriptors: accept() fails with EMFILE. The server must
 * not spin on the readable listener (libevent 2.1's default without an
 * error callback): it counts the failure, pauses the listener, retries,
 * and serves the waiting client once an fd is free again. Without the
 * error callback the count stays 0 (the wait below fails); without the
 * pause it would climb by thousands before the client is served.
 */
static void test_accept_out_of_fds(void **state)
{
    struct server *sv = *state;
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n"
                              "Connection: close\r\n\r\n";
    struct sockaddr_in sa;
    struct rlimit old, low;
    struct pollfd pf, none = { -1, 0, 0 };
    unsigned long before = metrics_http_accept_errors_total(), after;
    int64_t end;
    char buf[4096];
    int fd, probe;

    set_snapshot(sv, make_region());
    fd = socket(AF_INET, SOCK_STREAM, 0); /* made while fds remain */
    assert_true(fd >= 0);
    probe = dup(0); /* the lowest free fd */
    assert_true(probe >= 0);
    close(probe);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)probe; /* no new fd anywhere */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)sv->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    end = ms_now() + 5000;
    while (metrics_http_accept_errors_total() == before && ms_now() < end)
        poll(&none, 0, 10);
    after = metrics_http_accept_errors_total();
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(after > before);

    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    pf.fd = fd;
    pf.events = POLLIN;
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_true(read(fd, buf, sizeof(buf)) > 12);
    assert_int_equal(strncmp(buf, "HTTP/1.1 200", 12), 0);
    close(fd);
    after = metrics_http_accept_errors_total() - before;
    if (after > 10)
        fail_msg("%lu accept failures: the listener spun", after);
}

/* Oversized and malformed requests: each answered 4xx or closed. */
static void test_hostile_requests(void **state)
{
    struct server *sv = *state;
    char *req, *out;
    size_t len, i;

    set_snapshot(sv, make_region());
    /* A body on GET over the 1 KiB cap: 413. */
    req = malloc(4096);
    assert_non_null(req);
    strcpy(req, "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 2000"
                "\r\nConnection: close\r\n\r\n");
    len = strlen(req);
    memset(req + len, 'x', 2000);
    req[len + 2000] = '\0';
    out = raw(sv, req, &len);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    free(out);
    /* 300 small headers (over 8 KiB together): 400. */
    strcpy(req, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
    out = NULL;
    {
        char *big = malloc(16384);

        assert_non_null(big);
        strcpy(big, req);
        for (i = 0; i < 300; i++)
            strcat(big, "X-Many: 123456789012345678901234\r\n");
        strcat(big, "\r\n");
        out = raw(sv, big, &len);
        free(big);
    }
    assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
    free(out);
    /* HTTP/0.9 (no version) and a garbage line: 400 or closed. */
    out = raw(sv, "GET /healthz\r\n\r\n", &len);
    assert_true(len == 0 || strncmp(out, "HTTP/1.1 400 ", 13) == 0);
    free(out);
    out = raw(sv, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", &len);
    assert_true(len == 0 || strncmp(out, "HTTP/1.1 4", 10) == 0);
    free(out);
    free(req);
    /* Still healthy, and nothing left open but the asking request. */
    expect_open_conns(sv, 1);
}

/*
 * Request smuggling: each request below hides "GET /metrics"
 * behind framing a front proxy may read differently. Each must get one
 * answer with the given status, the connection closed, and the hidden
 * request never answered. Before the framing check every one of these
 * was answered 200 (the hidden /metrics too, for the smuggling ones).
 */
#define HIDDEN "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
#define HIDDEN_LEN "53"

/* Send text, read until the server closes (1) or 3 s pass (0). */
static char *raw_close(struct server *sv, const char *text, size_t *len,
                       int *closed)
{
    struct pollfd pf;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    int fd = connect_lo(sv);
    int64_t end = ms_now() + 3000;
    ssize_t k;

    assert_non_null(buf);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    *closed = 0;
    pf.fd = fd;
    pf.events = POLLIN;
    while (n < cap && ms_now() < end) {
        if (poll(&pf, 1, 50) != 1)
            continue;
        if ((k = read(fd, buf + n, cap - n)) <= 0) {
            *closed = 1;
            break;
        }
        n += (size_t)k;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void expect_refused(struct server *sv, const char *text,
                           const char *status_line)
{
    size_t len;
    int closed;
    char *out = raw_close(sv, text, &len, &closed);

    if (strncmp(out, status_line, strlen(status_line)) != 0)
        fail_msg("want %s for:\n%s\ngot:\n%.300s", status_line, text, out);
    if (strstr(out, "HTTP/1.1 200") != NULL ||
        strstr(out, "slotfeed_http") != NULL)
        fail_msg(
            "a second (hidden) request was answered for:\n%s\ngot:\n%.600s",
            text, out);
    if (!closed)
        fail_msg("connection left open after refusing:\n%s", text);
    /* Ours (a problem body) unless Debian's libevent refused it first. */
    if (strstr(out, "application/problem+json") == NULL &&
        strstr(out, "<H1>Bad Request</H1>") == NULL)
        fail_msg("not a problem reply for:\n%s\ngot:\n%.400s", text, out);
    free(out);
}

static void test_framing_refused(void **state)
{
    struct server *sv = *state;
    static const struct {
        const char *text, *status;
    } cases[] = {
        /* two Content-Length, either order */
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
          "Content-Length: " HIDDEN_LEN "\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: " HIDDEN_LEN
          "\r\nContent-Length: 0\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        /* space before the colon (evhttp: a field "Content-Length ") */
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length : " HIDDEN_LEN
          "\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        /* transfer codings we do not implement: 501 */
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked"
          "\r\n\r\n" HIDDEN,
          "HTTP/1.1 501 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip"
          "\r\n\r\n" HIDDEN,
          "HTTP/1.1 501 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, "
          "chunked\r\n\r\n0\r\n\r\n" HIDDEN,
          "HTTP/1.1 501 " },
        /* chunked, but not as evhttp reads it, or with Content-Length */
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked"
          "\r\n\r\n0\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, "
          "chunked\r\n\r\n0\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
          "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
          "\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\n\r\n" HIDDEN,
          "HTTP/1.0 400 " },
        /* Content-Length that is not 1*DIGIT, and obs-fold into it */
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\n"
          "xxxxx" HIDDEN,
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length:\r\n 5\r\n\r\n"
          "xxxxx" HIDDEN,
          "HTTP/1.1 400 " },
        /* Host: missing in 1.1, twice, invalid */
        { "GET /healthz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: t\r\nHost: evil.example\r\n\r\n",
          "HTTP/1.1 400 " },
        { "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "HTTP/1.1 400 " },
        /* versions: answered as HTTP/1.1, not echoed */
        { "GET /healthz HTTP/1.9\r\nHost: t\r\n\r\n", "HTTP/1.1 505 " },
        { "GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n", "HTTP/1.1 505 " },
        /* CONNECT: evhttp would keep the connection whatever the reply */
        { "CONNECT t:80 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
          "Content-Length: " HIDDEN_LEN "\r\n\r\n" HIDDEN,
          "HTTP/1.1 400 " },
    };
    size_t i;

    set_snapshot(sv, make_region());
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_refused(sv, cases[i].text, cases[i].status);
    /* Still healthy, and nothing left open but the asking request. */
    expect_open_conns(sv, 1);
}

/* Valid framing still works: keep-alive and pipelined GET/HEAD, HTTP/1.0
 * without Host, a chunked body (405 for POST), an empty Host. */
static void test_framing_valid(void **state)
{
    struct server *sv = *state;
    size_t len;
    int closed;
    char *out;

    set_snapshot(sv, make_region());
    out = raw_close(sv,
                    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                    "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /v1/availability HTTP/1.1\r\nHost: t:80\r\n"
                    "Content-Length: 0\r\nConnection: close\r\n\r\n",
                    &len, &closed);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    {
        const char *p = strstr(out + 1, "HTTP/1.1 200 ");
        assert_non_null(p);
        assert_non_null(strstr(p + 1, "HTTP/1.1 200 "));
    }
    free(out);
    out = raw_close(sv, "GET /healthz HTTP/1.0\r\n\r\n", &len, &closed);
    assert_true(strncmp(out, "HTTP/1.0 200 ", 13) == 0);
    free(out);
    out = raw_close(sv,
                    "POST /healthz HTTP/1.1\r\nHost: t\r\n"
                    "Transfer-Encoding: Chunked\r\nConnection: close"
                    "\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                    &len, &closed);
    assert_true(strncmp(out, "HTTP/1.1 405 ", 13) == 0);
    free(out);
    out = raw_close(sv,
                    "GET /healthz HTTP/1.1\r\nHost:\r\n"
                    "Connection: close\r\n\r\n",
                    &len, &closed);
    assert_true(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
    free(out);
}

static int deadline_setup(void **state)
{
    memset(&server_opts, 0, sizeof(server_opts));
    server_opts.request_timeout_ms = DEADLINE_MS;
    return server_setup(state);
}

static int cap_silent_setup(void **state)
{
    memset(&server_opts, 0, sizeof(server_opts));
    server_opts.max_connections = 2;
    return server_setup(state);
}

static int cap_setup(void **state)
{
    server_opts.max_connections = 2;
    return server_setup(state);
}

static int nogeo_setup(void **state)
{
    server_opts.geo = NULL;
    return server_setup(state);
}

static int default_setup(void **state)
{
    memset(&server_opts, 0, sizeof(server_opts));
    server_opts.geo = test_geo;
    want_admin = 0;
    return server_setup(state);
}

/* A public listener (operator's routes off) plus an admin one. */
static int admin_setup(void **state)
{
    int rc;

    memset(&server_opts, 0, sizeof(server_opts));
    server_opts.geo = test_geo;
    server_opts.role = HTTP_ROLE_PUBLIC;
    want_admin = 1;
    rc = server_setup(state);
    want_admin = 0;
    return rc;
}

int main(void)
{
    /* Each test gets a fresh server; snapshots are freed in teardown. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_before_snapshot, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_asset_gzip, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_feed_and_conditional,
                                        default_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_clinic_routes, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_limits, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_head, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_libevent_limits, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_bind_error, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_filters, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_near, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_near_unplaced_last, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_filtered_cache_follows_snapshot,
                                        default_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_near_unavailable, nogeo_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_gzip, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_last_modified_and_cors,
                                        default_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_slots, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_ignores_host,
                                        default_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_admin_listener, admin_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_nearest_routes, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_nearest_unavailable, nogeo_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_openapi_and_static, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_all_streamed, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_slot_file_streamed, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_smart_routes, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_queries, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, cap_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_request_deadline, deadline_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_request_deadline_body,
                                        deadline_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_deadline, deadline_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_cap_counts_silent,
                                        cap_silent_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_accept_out_of_fds, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_framing_refused, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_framing_valid, default_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_requests, default_setup,
                                        server_teardown),
    };
    int rc;

    struct sf_error err = { 0 };

    test_geo = geo_load(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", &err);
    if (test_geo == NULL) {
        fprintf(stderr, "geo_load: %s\n", err.msg);
        return 1;
    }
    /* As the daemon: a client that leaves mid-reply must cost its
     * connection, not the process. */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    geo_free(test_geo);
    return th_exit(rc);
}
