/*
 * test_fhir.c - the FHIR R4 Slot adapter over canned Bundles: the first
 * request (URL, window instants, headers, bearer token), paging to the
 * end and the page cap, next links that leave the server, status and
 * offset handling, _include practitioner names, and the error classes.
 *
 * Expected instants were computed independently with Python
 * (calendar.timegm of the fixture's wall time and offset), never taken
 * from the code under test. Day numbers: 2026-03-26 = 20538,
 * 2026-04-08 = 20551 (days since 1970-01-01).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/fhir.h"
#include "slotfeed/log.h"
#include "th_file.h"

#define FIXTURES SLOTFEED_SOURCE_DIR "/tests/fixtures/fhir/"

#define D_0326 20538
#define D_0408 20551

/* 2026-03-26 12:00 +01:00 */
#define NOW 1774522800

static char *read_fixture(const char *name, size_t *len)
{
    char *buf = th_read_file(FIXTURES, name, len);

    assert_non_null(buf);
    return buf;
}

struct fx {
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
};

static void fx_init(struct fx *x, const char *url, const char *actor)
{
    memset(x, 0, sizeof(*x));
    x->clinic.id = (char *)"SE2321000156-F001";
    x->clinic.has_booking = true;
    x->clinic.booking.adapter = (char *)"fhir-slot";
    x->clinic.booking.url = (char *)url;
    x->clinic.booking.actor = (char *)actor;
    x->clinic.booking.page_cap = CONF_DEFAULT_PAGE_CAP;
    x->ctx.region = &x->region;
    x->ctx.clinic = &x->clinic;
    x->ctx.now = NOW;
    x->ctx.first_day = D_0326;
    x->ctx.last_day = D_0408;
}

/* One canned answer: status and either a fixture file or an inline body. */
struct answer {
    long status;
    const char *fixture;
    const char *body;
};

#define MAX_REQ 8

/* What a conversation did. */
struct run {
    enum adapter_status rc;
    struct sf_error err;
    struct avail_slots slots;
    int nreq;
    char *urls[MAX_REQ];
    char *hdr[MAX_REQ][ADAPTER_MAX_HEADERS];
};

static void run_free(struct run *r)
{
    avail_slots_clear(&r->slots);
    for (int i = 0; i < r->nreq; i++) {
        free(r->urls[i]);
        for (int h = 0; h < ADAPTER_MAX_HEADERS; h++)
            free(r->hdr[i][h]);
    }
}

static void record(struct run *r, const struct adapter_request *req)
{
    assert_true(r->nreq < MAX_REQ);
    assert_non_null(req->url);
    assert_null(req->body); /* every FHIR request is a GET */
    r->urls[r->nreq] = strdup(req->url);
    for (int h = 0; h < ADAPTER_MAX_HEADERS; h++)
        r->hdr[r->nreq][h] = req->headers[h] ? strdup(req->headers[h]) : NULL;
    r->nreq++;
}

/* Drive begin/step with answers[0..n) in order, like the collector. */
static void converse(struct fx *x, const struct answer *answers, size_t n,
                     struct run *r)
{
    const struct adapter *ad = adapter_find("fhir-slot");
    struct adapter_request req;
    struct adapter_response resp;
    void *state = NULL;
    size_t i = 0;

    assert_ptr_equal(ad, &adapter_fhir);
    memset(r, 0, sizeof(*r));
    avail_slots_init(&r->slots);
    sf_error_clear(&r->err);
    memset(&req, 0, sizeof(req));
    r->rc = ad->begin(&x->ctx, &state, &req, &r->err);
    while (r->rc == ADAPTER_MORE) {
        size_t len = 0;
        char *body = NULL;

        record(r, &req);
        adapter_request_clear(&req);
        assert_true(i < n); /* asked for more than the test planned */
        if (answers[i].fixture) {
            body = read_fixture(answers[i].fixture, &len);
        } else {
            body = strdup(answers[i].body);
            len = strlen(body);
        }
        memset(&resp, 0, sizeof(resp));
        resp.http_status = answers[i].status;
        resp.body = body;
        resp.len = len;
        resp.content_type = "application/fhir+json";
        r->rc = ad->step(&x->ctx, state, &resp, &r->slots, &req, &r->err);
        free(body);
        i++;
    }
    adapter_request_clear(&req);
    ad->end(state);
    if (r->rc == ADAPTER_DONE)
        avail_slots_sort(&r->slots);
}

static void expect_slot(const struct avail_slot *s, int64_t start, int64_t end,
                        const char *pract, const char *service)
{
    assert_int_equal(s->start, start);
    assert_int_equal(s->end, end);
    if (pract)
        assert_string_equal(s->practitioner, pract);
    else
        assert_null(s->practitioner);
    if (service)
        assert_string_equal(s->service, service);
    else
        assert_null(s->service);
    assert_int_equal(s->capacity, 1);
    assert_null(s->booking_url);
}

static const struct answer three_pages[] = {
    { 200, "page1.json", NULL },
    { 200, "page2.json", NULL },
    { 200, "page3.json", NULL },
};

/* --- tests ------------------------------------------------------------------- */

static void test_first_request(void **state)
{
    struct fx x;
    struct run r;
    static const struct answer empty[] = {
        { 200, NULL, "{\"resourceType\":\"Bundle\",\"type\":\"searchset\"}" },
    };

    (void)state;
    fx_init(&x, "https://fhir.example/r4/", "Location/123");
    converse(&x, empty, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.slots.n, 0);
    assert_int_equal(r.nreq, 1);
    /* window: 2026-03-26 00:00 CET .. 2026-04-09 00:00 CEST (DST on 29th);
     * '+' escaped, trailing slash of the base not doubled */
    assert_string_equal(
        r.urls[0], "https://fhir.example/r4/Slot?schedule.actor=Location/123"
                   "&status=free&start=ge2026-03-26T00:00:00%2B01:00"
                   "&start=lt2026-04-09T00:00:00%2B02:00&_include=Slot:schedule"
                   "&_sort=start&_count=100");
    assert_string_equal(r.hdr[0][0], "Accept: application/fhir+json");
    assert_null(r.hdr[0][1]); /* no token_file: no Authorization */
    run_free(&r);

    /* booking.search appended verbatim */
    x.clinic.booking.search = (char *)"service-type=NYB&_elements=start";
    converse(&x, empty, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_non_null(
        strstr(r.urls[0], "&_count=100&service-type=NYB&_elements=start"));
    assert_int_equal(strlen(strstr(r.urls[0], "&_count=100")),
                     strlen("&_count=100&service-type=NYB&_elements=start"));
    run_free(&r);
}

static void test_paging_to_end(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");
    converse(&x, three_pages, 3, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 3);
    /* page 2 is the next link as given; page 3's link differs only in
     * host case and an explicit default port: still the same server */
    assert_string_equal(r.urls[1], "https://fhir.example/r4?_getpages=abc"
                                   "&_getpagesoffset=100&_count=100");
    assert_non_null(strstr(r.urls[2], "_getpagesoffset=200"));
    /* paging requests carry the same headers */
    assert_string_equal(r.hdr[2][0], "Accept: application/fhir+json");

    /*
     * 6 free slots in the window. Dropped: s3/s4/s5 (busy,
     * busy-unavailable, entered-in-error), s6b ("Free" is not the code
     * "free"), s6 (no start), s11 (2026-04-09 00:30 local: after the
     * window).
     */
    assert_int_equal(r.slots.n, 6);
    /* s1 09:00+01:00 = 08:00Z; Practitioner display; service from the
     * Schedule's coding display */
    expect_slot(&r.slots.v[0], 1774598400, 1774601100, "Dalmo, Jacob",
                "Nybesök fysioterapeut");
    /* s2 08:30Z, absolute Schedule reference, PractitionerRole display,
     * Slot.serviceType text wins over the Schedule's */
    expect_slot(&r.slots.v[1], 1774600200, 1774602900, "Lind, Anna", "Nybesök");
    /* s7 10:00+02:00 and s8 08:00Z are the same instant */
    expect_slot(&r.slots.v[2], 1774857600, 1774860300, "Dalmo, Jacob",
                "Nybesök fysioterapeut");
    expect_slot(&r.slots.v[3], 1774857600, 1774860300, "Lind, Anna",
                "Återbesök");
    /* s9 via a versioned reference Schedule/sch-1/_history/3 */
    expect_slot(&r.slots.v[4], 1774959300, 1774962000, "Dalmo, Jacob",
                "Nybesök fysioterapeut");
    /* s10 joins a Schedule included on page 1 */
    expect_slot(&r.slots.v[5], 1775559600, 1775561400, "Lind, Anna",
                "Återbesök");
    run_free(&r);

    /* booking.time_type_name overrides every service name */
    x.clinic.booking.time_type_name = (char *)"Nybesök fysioterapeut";
    converse(&x, three_pages, 3, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.slots.n, 6);
    for (size_t i = 0; i < r.slots.n; i++)
        assert_string_equal(r.slots.v[i].service, "Nybesök fysioterapeut");
    run_free(&r);
}

static void test_page_cap(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");
    x.clinic.booking.page_cap = 2;
    converse(&x, three_pages, 3, &r);
    /* the cap stops paging after page 2 and keeps what was read */
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 2);
    assert_int_equal(r.slots.n, 5);
    assert_int_equal(r.slots.v[4].start, 1774959300);
    run_free(&r);

    x.clinic.booking.page_cap = 1;
    converse(&x, three_pages, 3, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 1);
    assert_int_equal(r.slots.n, 2);
    run_free(&r);
}

/* A page whose next link is `link`, with one free slot. */
static char *page_with_next(const char *link)
{
    char *s = malloc(1024);

    assert_non_null(s);
    snprintf(s, 1024,
             "{\"resourceType\":\"Bundle\",\"type\":\"searchset\","
             "\"link\":[{\"relation\":\"next\",\"url\":\"%s\"}],"
             "\"entry\":[{\"resource\":{\"resourceType\":\"Slot\","
             "\"status\":\"free\",\"start\":\"2026-03-27T09:00:00+01:00\","
             "\"end\":\"2026-03-27T09:30:00+01:00\"}}]}",
             link);
    return s;
}

static void expect_next_refused(const char *base, const char *link)
{
    struct fx x;
    struct run r;
    char *body = page_with_next(link);
    struct answer a[] = { { 200, NULL, body } };

    fx_init(&x, base, "Location/123");
    converse(&x, a, 1, &r);
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, SF_ERR_PARSE);
    assert_non_null(strstr(r.err.msg, "next link leaves the server"));
    assert_int_equal(r.nreq, 1); /* nothing was asked of the other host */
    run_free(&r);
    free(body);
}

static void test_next_link_leaves_host(void **state)
{
    struct fx x;
    struct run r;
    char *body;

    (void)state;
    expect_next_refused("https://fhir.example/r4",
                        "https://evil.example/r4?page=2");
    /* a look-alike host */
    expect_next_refused("https://fhir.example/r4",
                        "https://fhir.example.evil.example/r4?page=2");
    /* credentials in front of another host */
    expect_next_refused("https://fhir.example/r4",
                        "https://fhir.example@evil.example/r4?page=2");
    /* same host, other port */
    expect_next_refused("https://fhir.example/r4",
                        "https://fhir.example:8443/r4?page=2");
    /* same host, downgraded scheme */
    expect_next_refused("https://fhir.example/r4",
                        "http://fhir.example/r4?page=2");
    /* explicit ports compared as numbers */
    expect_next_refused("http://127.0.0.1:8080/fhir",
                        "http://127.0.0.1:8081/fhir?page=2");

    /* a relative link resolves on the same server and is followed */
    body = page_with_next("/r4?page=2");
    {
        struct answer a[] = {
            { 200, NULL, body },
            { 200, NULL,
              "{\"resourceType\":\"Bundle\","
              "\"type\":\"searchset\"}" },
        };

        fx_init(&x, "http://127.0.0.1:8080/r4", "Location/123");
        converse(&x, a, 2, &r);
        assert_int_equal(r.rc, ADAPTER_DONE);
        assert_int_equal(r.nreq, 2);
        assert_string_equal(r.urls[1], "http://127.0.0.1:8080/r4?page=2");
        assert_int_equal(r.slots.n, 1);
        run_free(&r);
    }
    free(body);

    /* a next link that is not a URL at all */
    body = page_with_next("http://[::1");
    {
        struct answer a[] = { { 200, NULL, body } };

        fx_init(&x, "https://fhir.example/r4", "Location/123");
        converse(&x, a, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        run_free(&r);
    }
    free(body);
}

static void test_http_errors(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");

    /* 404 + OperationOutcome on the search: the actor has no booking */
    {
        struct answer a[] = { { 404, "outcome_404.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_NOT_CONNECTED);
        assert_non_null(strstr(r.err.msg, "Location/123"));
        assert_non_null(strstr(r.err.msg, "not-found"));
        assert_non_null(strstr(r.err.msg, "is not known"));
        run_free(&r);
    }
    /* 404 with an HTML body is still "not connected" */
    {
        struct answer a[] = { { 404, NULL, "<html>Not Found</html>" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_NOT_CONNECTED);
        run_free(&r);
    }
    /* 404 on a later page is an expired paging link, not "no booking" */
    {
        struct answer a[] = { { 200, "page1.json", NULL },
                              { 404, "outcome_404.json", NULL } };

        converse(&x, a, 2, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_FAULT);
        run_free(&r);
    }
    /* 401 / 403: HTTP, with a hint */
    {
        struct answer a[] = { { 401, NULL, "" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_HTTP);
        assert_non_null(strstr(r.err.msg, "HTTP 401"));
        assert_non_null(strstr(r.err.msg, "token_file"));
        run_free(&r);
    }
    {
        struct answer a[] = { { 403, "outcome_404.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_HTTP);
        run_free(&r);
    }
    /* 500 with an OperationOutcome: a fault; without: HTTP */
    {
        struct answer a[] = { { 500, NULL,
                                "{\"resourceType\":"
                                "\"OperationOutcome\",\"issue\":[{\"severity\":"
                                "\"fatal\",\"code\":\"exception\","
                                "\"diagnostics\":\"db\\ndown\"}]}" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_FAULT);
        assert_non_null(strstr(r.err.msg, "exception: \"db down\""));
        run_free(&r);
    }
    {
        struct answer a[] = { { 503, NULL, "busy" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_HTTP);
        assert_non_null(strstr(r.err.msg, "HTTP 503"));
        run_free(&r);
    }
    /* 200 carrying an OperationOutcome instead of a Bundle */
    {
        struct answer a[] = { { 200, "outcome_404.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_FAULT);
        run_free(&r);
    }
}

/* A personnummer in an OperationOutcome (every spelling) or in
 * a Slot's or Schedule's names never reaches the error or a slot. */
static bool holds_number(const char *s)
{
    return s != NULL &&
           (strstr(s, "9876") != NULL || strstr(s, "9873") != NULL ||
            strstr(s, "811218") != NULL);
}

static void test_personnummer_scrubbed(void **state)
{
    struct fx x;
    struct run r;
    static const long statuses[] = { 404, 500, 200 };

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");
    for (size_t i = 0; i < 3; i++) {
        struct answer a[] = { { statuses[i], "outcome_pnr.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        if (holds_number(r.err.msg))
            fail_msg("HTTP %ld: %s", statuses[i], r.err.msg);
        assert_non_null(strstr(r.err.msg, "Patient [personnummer] not "
                                          "found"));
        run_free(&r);
    }
    {
        struct answer a[] = { { 200, "page_pnr.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.rc, ADAPTER_DONE);
        assert_int_equal(r.slots.n, 2);
        for (size_t i = 0; i < r.slots.n; i++) {
            assert_false(holds_number(r.slots.v[i].practitioner));
            assert_false(holds_number(r.slots.v[i].service));
            assert_false(holds_number(r.slots.v[i].service_id));
        }
        assert_string_equal(r.slots.v[0].practitioner,
                            "Berg, Anna ([personnummer])");
        assert_string_equal(r.slots.v[0].service,
                            "\xc3\x85terbes\xc3\xb6k [personnummer]");
        assert_string_equal(r.slots.v[1].service,
                            "Nybes\xc3\xb6k f\xc3\xb6r [personnummer]");
        run_free(&r);
    }
}

static void test_malformed(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");
    {
        struct answer a[] = { { 200, "truncated.json", NULL } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        assert_non_null(strstr(r.err.msg, "malformed JSON"));
        /* the body ends on line 6 */
        assert_non_null(strstr(r.err.msg, "line 6"));
        run_free(&r);
    }
    {
        /* bad UTF-8 (a lone continuation byte) on line 2, column 8 */
        struct answer a[] = { { 200, NULL, "{\n\"id\":\"\x80\"}" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        assert_non_null(strstr(r.err.msg, "not UTF-8"));
        assert_non_null(strstr(r.err.msg, "line 2, column 7"));
        run_free(&r);
    }
    {
        struct answer a[] = { { 200, NULL,
                                "{\"resourceType\":\"Bundle\"} {}" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        assert_non_null(strstr(r.err.msg, "text after the JSON value"));
        run_free(&r);
    }
    {
        struct answer a[] = { { 200, NULL, "[1,2,3]" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        assert_non_null(strstr(r.err.msg, "not a searchset Bundle"));
        run_free(&r);
    }
    {
        struct answer a[] = { { 200, NULL,
                                "{\"resourceType\":\"Bundle\","
                                "\"type\":\"searchset\",\"entry\":{}}" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        run_free(&r);
    }
    {
        struct answer a[] = { { 200, NULL, "" } };

        converse(&x, a, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        run_free(&r);
    }
}

/*
 * The token comes with the configuration (conf_load reads booking.
 * token_file: test_adapter_conf); a poll only borrows it and reads no
 * file, so the file named here does not even exist.
 */
static void test_bearer_token(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, "https://fhir.example/r4", "Location/123");
    x.clinic.booking.token_file = (char *)"/nonexistent/slotfeed-token";
    x.clinic.booking.token = (char *)"eyJhbGciOi.J9-_x~+/=";
    converse(&x, three_pages, 3, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.hdr[i][0], "Accept: application/fhir+json");
        assert_string_equal(r.hdr[i][1],
                            "Authorization: Bearer eyJhbGciOi.J9-_x~+/=");
        assert_null(r.hdr[i][2]);
    }
    run_free(&r);

    /* a token_file whose token was never loaded (a region built without
     * conf_load): CONFIG naming the key, not the path (the message is
     * published as the clinic's error), no request made */
    x.clinic.booking.token = NULL;
    converse(&x, three_pages, 3, &r);
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, SF_ERR_CONFIG);
    assert_non_null(strstr(r.err.msg, "booking.token_file"));
    assert_null(strstr(r.err.msg, "/nonexistent"));
    assert_int_equal(r.nreq, 0);
    run_free(&r);
}

static void test_headers_api(void **state)
{
    struct adapter_request req;

    (void)state;
    memset(&req, 0, sizeof(req));
    assert_int_equal(adapter_request_add_header(&req, "A", "1"), 0);
    assert_int_equal(adapter_request_add_header(&req, "B", "x\r\nEvil: 1"), -1);
    assert_int_equal(adapter_request_add_header(&req, "C:", "1"), -1);
    assert_int_equal(adapter_request_add_header(&req, "", "1"), -1);
    for (int i = 1; i < ADAPTER_MAX_HEADERS; i++)
        assert_int_equal(adapter_request_add_header(&req, "N", "v"), 0);
    assert_int_equal(adapter_request_add_header(&req, "Full", "v"), -1);
    assert_string_equal(req.headers[0], "A: 1");
    assert_string_equal(req.headers[1], "N: v");
    adapter_request_clear(&req);
    assert_null(req.headers[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_request),
        cmocka_unit_test(test_paging_to_end),
        cmocka_unit_test(test_page_cap),
        cmocka_unit_test(test_next_link_leaves_host),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_personnummer_scrubbed),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_headers_api),
    };

    log_quiet();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
