/*
 * test_smart_spec.c - the SMART Scheduling Links specification's own
 * example feed (tests/fixtures/smart/spec-example/, vendored unmodified;
 * see its NOTICE) served on loopback and read end to end by the real
 * collector + fetch + smart-bulk adapter.
 *
 * The manifest's URLs point at raw.githubusercontent.com; the server
 * rewrites that prefix to itself while serving (the files on disk stay as
 * published). The expected slots are computed here, independently of the
 * adapter: a plain cJSON walk over the NDJSON files (Slot.schedule ->
 * Schedule.actor -> Location/0, status free, local date in the poll
 * window) with instants from strptime/timegm.
 *
 * Time: now = 2021-03-08T12:00:00Z = 18694 * 86400 + 43200 = 1615204800
 * (day 18694 = 2021-03-08, 13:00 CET). The poll window is days
 * 18694 .. 18694 + horizon_days(28) - 1 = 18721 (2021-04-04).
 */
#define _XOPEN_SOURCE 700 /* strptime */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"

#include "th_file.h"
#include "th_loopback.h"

#define SPEC SLOTFEED_SOURCE_DIR "/tests/fixtures/smart/spec-example/"
#define UPSTREAM_PREFIX                                                       \
    "https://raw.githubusercontent.com/smart-on-fhir/smart-scheduling-links/" \
    "master/examples/"
#define NOW 1615204800
#define FIRST_DAY 18694
#define LAST_DAY 18721
#define LOCATION "0"
#define EXT_LINK \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
#define EXT_PHONE \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"
#define EXT_CAP \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"

/* Every occurrence of from replaced by to (malloc'd). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0, o = 0;
    const char *p;
    char *out;

    for (p = strstr(s, from); p != NULL; p = strstr(p + fl, from))
        n++;
    out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1);
    assert_non_null(out);
    while ((p = strstr(s, from)) != NULL) {
        memcpy(out + o, s, (size_t)(p - s));
        o += (size_t)(p - s);
        memcpy(out + o, to, tl);
        o += tl;
        s = p + fl;
    }
    strcpy(out + o, s);
    return out;
}

/* --- the publisher on loopback ---------------------------------------------- */

struct server {
    int port;
    int requests;
    int manifest_requests;
    char last_path[256];
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    const char *name = strrchr(uri, '/');
    struct evbuffer *out = evbuffer_new();
    char *body = NULL, prefix[64];
    size_t len = 0;

    s->requests++;
    snprintf(s->last_path, sizeof(s->last_path), "%s", uri);
    name = name != NULL ? name + 1 : uri;
    /* only files of the example directory; no path tricks */
    if (strncmp(uri, "/examples/", 10) == 0 && strchr(name, '.') != name &&
        strstr(uri, "..") == NULL)
        body = th_read_file(SPEC, name, &len);
    if (body == NULL || strcmp(name, "NOTICE") == 0) {
        free(body);
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        evbuffer_free(out);
        return;
    }
    if (strcmp(name, "$bulk-publish") == 0) {
        char *r;

        s->manifest_requests++;
        snprintf(prefix, sizeof(prefix), "http://127.0.0.1:%d/examples/",
                 s->port);
        r = replace_all(body, UPSTREAM_PREFIX, prefix);
        free(body);
        body = r;
        len = strlen(r);
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", "application/json");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Content-Type", "application/fhir+ndjson");
    }
    evbuffer_add(out, body, len);
    evhttp_send_reply(req, HTTP_OK, "OK", out);
    evbuffer_free(out);
    free(body);
}

/* --- the expectation, computed without the adapter ---------------------------- */

struct want_slot {
    int64_t start, end;
    char link[256], phone[64];
    int capacity;
};

struct want {
    struct want_slot v[512];
    size_t n;
    size_t slots_total; /* Slot lines in the feed, for the record */
};

/* "2021-03-01T14:00:00.000Z" -> instant; asserts the Z form. */
static int64_t utc_instant(const char *s, int *utc_hour, char *date)
{
    struct tm tm;
    const char *rest;

    memset(&tm, 0, sizeof(tm));
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(rest);
    assert_true(strcmp(rest, ".000Z") == 0 || strcmp(rest, "Z") == 0);
    *utc_hour = tm.tm_hour;
    memcpy(date, s, 10);
    date[10] = '\0';
    return (int64_t)timegm(&tm);
}

/* Days since 1970-01-01 of "YYYY-MM-DD" (via timegm at noon). */
static int32_t day_of(const char *date)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(date, "%Y-%m-%d", &tm));
    tm.tm_hour = 12;
    return (int32_t)(timegm(&tm) / 86400);
}

/* Calls fn for each JSON line of file name. */
static void each_line(const char *name, void (*fn)(cJSON *, void *), void *arg)
{
    size_t len;
    char *buf = th_read_file(SPEC, name, &len), *line, *save = NULL;

    assert_non_null(buf);
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);

        assert_non_null(o);
        fn(o, arg);
        cJSON_Delete(o);
    }
    free(buf);
}

struct schedules {
    char ids[64][32];
    size_t n;
};

static void on_schedule(cJSON *o, void *arg)
{
    struct schedules *s = arg;
    cJSON *a, *id = cJSON_GetObjectItemCaseSensitive(o, "id");

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "actor")) {
        cJSON *ref = cJSON_GetObjectItemCaseSensitive(a, "reference");

        if (cJSON_IsString(ref) &&
            strcmp(ref->valuestring, "Location/" LOCATION) == 0) {
            assert_true(s->n < 64);
            snprintf(s->ids[s->n++], sizeof(s->ids[0]), "Schedule/%s",
                     id->valuestring);
        }
    }
}

struct slot_walk {
    const struct schedules *sch;
    struct want *w;
};

static void on_slot(cJSON *o, void *arg)
{
    struct slot_walk *sw = arg;
    struct want_slot ws;
    cJSON *ref = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "schedule"), "reference");
    cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    cJSON *e;
    bool ours = false;
    char date[11], edate[11];
    int hour, ehour;

    sw->w->slots_total++;
    for (size_t i = 0; cJSON_IsString(ref) && i < sw->sch->n; i++)
        ours = ours || strcmp(ref->valuestring, sw->sch->ids[i]) == 0;
    if (!ours || !cJSON_IsString(status) ||
        strcmp(status->valuestring, "free") != 0)
        return;
    memset(&ws, 0, sizeof(ws));
    ws.start =
        utc_instant(cJSON_GetObjectItemCaseSensitive(o, "start")->valuestring,
                    &hour, date);
    ws.end =
        utc_instant(cJSON_GetObjectItemCaseSensitive(o, "end")->valuestring,
                    &ehour, edate);
    /* Stockholm is UTC+1/+2: a start between 00:00Z and 21:59Z has the
     * same local date as its UTC date, so the window test below may use
     * the UTC date. Assert that instead of assuming it. */
    assert_true(hour <= 21);
    if (day_of(date) < FIRST_DAY || day_of(date) > LAST_DAY)
        return;
    ws.capacity = 1;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "extension")) {
        const char *url =
            cJSON_GetObjectItemCaseSensitive(e, "url")->valuestring;
        cJSON *v;

        if (strcmp(url, EXT_LINK) == 0 &&
            (v = cJSON_GetObjectItemCaseSensitive(e, "valueUrl")) != NULL)
            snprintf(ws.link, sizeof(ws.link), "%s", v->valuestring);
        else if (strcmp(url, EXT_PHONE) == 0 &&
                 (v = cJSON_GetObjectItemCaseSensitive(e, "valueString")))
            snprintf(ws.phone, sizeof(ws.phone), "%s", v->valuestring);
        else if (strcmp(url, EXT_CAP) == 0 &&
                 (v = cJSON_GetObjectItemCaseSensitive(e, "valueInteger")))
            ws.capacity = v->valueint;
    }
    assert_true(sw->w->n < sizeof(sw->w->v) / sizeof(sw->w->v[0]));
    sw->w->v[sw->w->n++] = ws;
}

static int cmp_want(const void *a, const void *b)
{
    const struct want_slot *x = a, *y = b;

    return (x->start > y->start) - (x->start < y->start);
}

/* The slots of Location/0 in the window, from the files listed in the
 * manifest (read with cJSON here too). */
static void expected(struct want *w)
{
    struct schedules sch = { .n = 0 };
    struct slot_walk sw = { &sch, w };
    size_t len;
    char *m = th_read_file(SPEC, "$bulk-publish", &len);
    cJSON *man, *out;

    memset(w, 0, sizeof(*w));
    each_line("schedules.ndjson", on_schedule, &sch);
    assert_true(sch.n >= 1);
    man = cJSON_Parse(m);
    assert_non_null(man);
    cJSON_ArrayForEach(out, cJSON_GetObjectItemCaseSensitive(man, "output")) {
        const char *type =
            cJSON_GetObjectItemCaseSensitive(out, "type")->valuestring;
        const char *url =
            cJSON_GetObjectItemCaseSensitive(out, "url")->valuestring;

        if (strcmp(type, "Slot") == 0)
            each_line(strrchr(url, '/') + 1, on_slot, &sw);
    }
    cJSON_Delete(man);
    free(m);
    qsort(w->v, w->n, sizeof(w->v[0]), cmp_want);
}

/* --- the test ------------------------------------------------------------------ */

struct pass_flag {
    int done;
};

static void on_pass(void *arg)
{
    ((struct pass_flag *)arg)->done = 1;
}

static void run_pass(struct event_base *base, struct collector *c)
{
    struct pass_flag p = { 0 };

    assert_int_equal(collector_poll_all(c, on_pass, &p), 0);
    th_lo_run_until(base, &p.done, 10000);
    assert_int_equal(p.done, 1);
}

static void check_slots(const struct clinic_state *st, const struct want *w)
{
    assert_int_equal(st->slots.n, w->n);
    for (size_t i = 0; i < w->n; i++) {
        const struct avail_slot *sl = &st->slots.v[i];

        assert_int_equal(sl->start, w->v[i].start);
        assert_int_equal(sl->end, w->v[i].end);
        assert_int_equal(sl->capacity, w->v[i].capacity);
        if (w->v[i].link[0] != '\0')
            assert_string_equal(sl->booking_url, w->v[i].link);
        else
            assert_null(sl->booking_url);
        if (w->v[i].phone[0] != '\0')
            assert_string_equal(sl->booking_phone, w->v[i].phone);
        else
            assert_null(sl->booking_phone);
        assert_false(sl->follow_up);
    }
}

static void test_spec_example_feed(void **state)
{
    struct event_base *base;
    struct evhttp *http;
    struct server srv;
    struct conf_region *region = NULL;
    struct conf_errors errs = { NULL, 0 };
    struct fetch_opts o;
    struct fetch *f;
    struct collector *c;
    struct sf_error err;
    const struct clinic_state *st;
    struct avail_result res;
    const struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    struct want *w = calloc(1, sizeof(*w));
    char json[1024];
    size_t n;
    int first_requests;

    (void)state;
    assert_non_null(w);
    expected(w);
    /* The feed has 10 locations x 30 daily slots; Location/0 has one free
     * slot a day 2021-03-01 .. 03-30, so 03-08 .. 03-30 are in the window:
     * 23. (The count above is the one checked; this pins the reading.) */
    assert_int_equal(w->slots_total, 300);
    assert_int_equal(w->n, 23);

    memset(&srv, 0, sizeof(srv));
    base = event_base_new();
    assert_non_null(base);
    http = th_lo_http(base, on_request, &srv, &srv.port);
    assert_non_null(http);
    snprintf(json, sizeof(json),
             /* politeness lifted: 8 files at the default 1/s would make
              * the test wait for the rate limiter, not for the feed */
             "{\"name\":\"Spec\",\"politeness\":{\"rate_per_s\":100,"
             "\"burst\":20},\"clinics\":[{\"id\":\"SE2321000016-S0\","
             "\"name\":\"SMART Vaccine Clinic Boston\",\"municipality\":"
             "\"Karlstad\",\"operator\":\"private\",\"booking\":{\"adapter\":"
             "\"smart-bulk\",\"url\":\"http://127.0.0.1:%d/examples/"
             "$bulk-publish\",\"location\":\"" LOCATION "\"}}]}",
             srv.port);
    if (conf_parse(json, strlen(json), &region, &errs) != 0)
        fail_msg("config: %s", errs.n > 0 ? errs.v[0] : "?");

    clock_set_fake(NOW);
    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 3000;
    o.timeout_ms = 5000;
    f = fetch_new(base, &o, &err);
    assert_non_null(f);
    c = collector_new(base, region, f, &err);
    assert_non_null(c);

    run_pass(base, c);
    st = collector_states(c, &n);
    assert_int_equal(n, 1);
    if (st->err_class != SF_ERR_NONE)
        fail_msg("poll failed: %s", st->error);
    assert_int_equal(st->web, WEB_OPEN);
    assert_int_equal(st->status, CLINIC_OK);
    /* manifest + every output file (1 + 7), all on loopback */
    assert_int_equal(srv.manifest_requests, 1);
    assert_int_equal(srv.requests, 8);
    check_slots(st, w);

    /* first free after now (12:00Z): today's 14:00Z slot; the guarantee
     * (03-08 + 3 = 03-11) holds 03-08 .. 03-11: 4 slots */
    avail_compute(&st->slots, NOW, &rule, &res);
    assert_true(res.has_first_free);
    assert_int_equal(res.first_free, w->v[0].start);
    assert_int_equal(res.first_free, 1615212000); /* 2021-03-08T14:00Z */
    assert_int_equal(res.free_slots_within_guarantee, 4);

    /* second pass: the manifest's transactionTime is unchanged, so only
     * the manifest is fetched and the slots stay */
    first_requests = srv.requests;
    clock_set_fake(NOW + 60);
    run_pass(base, c);
    st = collector_states(c, &n);
    assert_int_equal(st->err_class, SF_ERR_NONE);
    assert_int_equal(srv.requests, first_requests + 1);
    assert_int_equal(srv.manifest_requests, 2);
    check_slots(st, w);

    fetch_free(f);
    collector_free(c);
    evhttp_free(http);
    event_base_free(base);
    conf_free(region);
    clock_set_fake(-1);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_feed),
    };

    log_quiet();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
