/*
 * test_smart.c - the SMART Scheduling Links bulk adapter end to end over a
 * publisher's files: manifest -> Location/Schedule/Slot NDJSON -> the slots
 * of one Location, with the join, the extensions, the per-clinic cache
 * (unchanged transactionTime, 304), and the error classes.
 *
 * Fixtures: tests/fixtures/smart/publisher/ (our own files in the shape of
 * the specification's examples; see its NOTICE), and the specification's
 * own examples/ files vendored in tests/fixtures/smart/spec-example/ (see
 * its NOTICE), over which the same conversation runs (test_spec_examples).
 * tests/integration/test_smart_spec.c reads them over loopback HTTP.
 *
 * Expected instants were computed with Python's calendar.timegm from the
 * fixtures' wall times and offsets; the expected slots for the upstream
 * examples with a Python join over the upstream files. Nothing here is
 * taken from the code under test. Day numbers: 2026-03-26 = 20538,
 * 2026-04-08 = 20551; 2021-03-01 = 18687, 2021-03-31 = 18717.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/log.h"
#include "slotfeed/smart.h"
#include "th_file.h"

#define PUB SLOTFEED_SOURCE_DIR "/tests/fixtures/smart/publisher/"
#define MANIFEST_URL "https://booking.rehab.example/fhir/$bulk-publish"

#define D_0326 20538
#define D_0331 20543
#define D_0408 20551

struct fx {
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
    void *cache;
};

static void fx_init(struct fx *x, const char *url, const char *location)
{
    memset(x, 0, sizeof(*x));
    x->clinic.id = (char *)"SE2321000156-F004";
    x->clinic.has_booking = true;
    x->clinic.booking.adapter = (char *)"smart-bulk";
    x->clinic.booking.url = (char *)url;
    x->clinic.booking.location = (char *)location;
    x->ctx.region = &x->region;
    x->ctx.clinic = &x->clinic;
    x->ctx.first_day = D_0326;
    x->ctx.last_day = D_0408;
    x->ctx.cache = &x->cache; /* what the collector does per clinic */
}

static void fx_free(struct fx *x)
{
    adapter_smart.cache_free(x->cache);
    x->cache = NULL;
}

/*
 * The "server": answers by the last path segment of the URL. Any
 * request not routed gets a 404. An override replaces one file's answer.
 */
struct route {
    const char *name; /* last path segment */
    long status;
    const char *body; /* inline body, or NULL: the file `name` */
    const char *etag, *last_modified;
};

#define MAX_REQ 16

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
    memset(r, 0, sizeof(*r));
}

static const char *last_segment(const char *url)
{
    const char *s = strrchr(url, '/');

    return s ? s + 1 : url;
}

static const char *header(const struct run *r, int req, const char *name)
{
    size_t n = strlen(name);

    for (int h = 0; h < ADAPTER_MAX_HEADERS && r->hdr[req][h]; h++)
        if (strncmp(r->hdr[req][h], name, n) == 0 && r->hdr[req][h][n] == ':')
            return r->hdr[req][h] + n + 2;
    return NULL;
}

static void converse(struct fx *x, const char *dir, const struct route *rt,
                     size_t nrt, struct run *r)
{
    struct adapter_request req;
    struct adapter_response resp;
    void *state = NULL;

    memset(r, 0, sizeof(*r));
    avail_slots_init(&r->slots);
    sf_error_clear(&r->err);
    memset(&req, 0, sizeof(req));
    r->rc = adapter_smart.begin(&x->ctx, &state, &req, &r->err);
    while (r->rc == ADAPTER_MORE) {
        const char *name = last_segment(req.url);
        const struct route *hit = NULL;
        char *body = NULL;
        size_t len = 0;

        assert_true(r->nreq < MAX_REQ);
        assert_null(req.body);
        r->urls[r->nreq] = strdup(req.url);
        for (int h = 0; h < ADAPTER_MAX_HEADERS; h++)
            r->hdr[r->nreq][h] = req.headers[h] ? strdup(req.headers[h]) : NULL;
        r->nreq++;
        for (size_t i = 0; i < nrt; i++)
            if (strcmp(rt[i].name, name) == 0)
                hit = &rt[i];
        memset(&resp, 0, sizeof(resp));
        if (hit == NULL) {
            body = strdup("not found");
            len = strlen(body);
            resp.http_status = 404;
        } else {
            if (hit->body != NULL) {
                body = strdup(hit->body);
                len = strlen(body);
            } else {
                body = th_read_file(dir, name, &len);
                assert_non_null(body);
            }
            resp.http_status = hit->status;
            resp.etag = hit->etag;
            resp.last_modified = hit->last_modified;
        }
        resp.body = body;
        resp.len = len;
        adapter_request_clear(&req);
        r->rc =
            adapter_smart.step(&x->ctx, state, &resp, &r->slots, &req, &r->err);
        free(body);
    }
    adapter_request_clear(&req);
    adapter_smart.end(state);
    if (r->rc == ADAPTER_DONE)
        avail_slots_sort(&r->slots);
}

/* The publisher answering normally, with validators on the manifest. */
static const struct route normal[] = {
    { "$bulk-publish", 200, NULL, "\"m-1\"", "Thu, 26 Mar 2026 06:00:00 GMT" },
    { "locations.ndjson", 200, NULL, NULL, NULL },
    { "schedules.ndjson", 200, NULL, NULL, NULL },
    { "slots-2026-W13.ndjson", 200, NULL, NULL, NULL },
    { "slots-2026-W14.ndjson", 200, NULL, NULL, NULL },
};
#define NNORMAL (sizeof(normal) / sizeof(normal[0]))

static void expect_slot(const struct avail_slot *s, int64_t start, int64_t end,
                        const char *service, const char *url, const char *phone,
                        int capacity)
{
    assert_int_equal(s->start, start);
    assert_int_equal(s->end, end);
    assert_null(s->practitioner);
    assert_string_equal(s->service, service);
    if (url)
        assert_string_equal(s->booking_url, url);
    else
        assert_null(s->booking_url);
    if (phone)
        assert_string_equal(s->booking_phone, phone);
    else
        assert_null(s->booking_phone);
    assert_int_equal(s->capacity, capacity);
}

/* The five slots of Location/kil-1 in 2026-03-26 .. 2026-04-08. */
static void expect_kil1(const struct avail_slots *s)
{
    assert_int_equal(s->n, 5);
    /* id 1: sch-a, 08:00+01:00, all three extensions */
    expect_slot(&s->v[0], 1774594800, 1774597500, "Nybesök fysioterapeut",
                "https://boka.rehab.example/slot?id=1", "0554-100 00", 2);
    /* id 5: javascript: deep link dropped, capacity 0 read as 1 */
    expect_slot(&s->v[1], 1774598400, 1774600200, "Nybesök fysioterapeut", NULL,
                NULL, 1);
    /* id 4: sch-c joined through an absolute Location reference; its deep
     * link carries credentials (user:pass@): never published */
    expect_slot(&s->v[2], 1774616400, 1774619100, "Återbesök", NULL, NULL, 1);
    /* id 10: CEST offset, phone and capacity 5 */
    expect_slot(&s->v[3], 1774934100, 1774936800, "Återbesök", NULL,
                "0554-100 02", 5);
    /* id 11: 21:30Z = 23:30 local on the window's last day */
    expect_slot(&s->v[4], 1775683800, 1775686500, "Nybesök fysioterapeut", NULL,
                NULL, 1);
}

/* --- tests ------------------------------------------------------------------ */

static void test_end_to_end(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, MANIFEST_URL, "kil-1");
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    /* manifest, then Location, Schedule, Slot files whatever the
     * manifest's order; the PractitionerRole file is not fetched; the
     * relative Location url resolves against the manifest's */
    assert_int_equal(r.nreq, 5);
    assert_string_equal(r.urls[0], MANIFEST_URL);
    assert_string_equal(r.urls[1],
                        "https://booking.rehab.example/fhir/locations.ndjson");
    assert_string_equal(r.urls[2],
                        "https://booking.rehab.example/fhir/schedules.ndjson");
    assert_string_equal(r.urls[3],
                        "https://cdn.rehab.example/bulk/slots-2026-W13.ndjson");
    assert_string_equal(r.urls[4],
                        "https://cdn.rehab.example/bulk/slots-2026-W14.ndjson");
    assert_string_equal(header(&r, 0, "Accept"), "application/json");
    assert_null(header(&r, 0, "If-None-Match")); /* nothing known yet */
    assert_null(header(&r, 0, "If-Modified-Since"));
    expect_kil1(&r.slots);
    run_free(&r);

    /* another location of the same publisher: only its own slot (id 3) */
    fx_free(&x);
    fx_init(&x, MANIFEST_URL, "kil-2");
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.slots.n, 1);
    expect_slot(&r.slots.v[0], 1774598400, 1774600200, "Nybesök",
                "https://boka.rehab.example/slot?id=3", NULL, 1);
    run_free(&r);

    /* time_type_name overrides the Schedule's service */
    fx_free(&x);
    fx_init(&x, MANIFEST_URL, "kil-2");
    x.clinic.booking.time_type_name = (char *)"Nybesök fysioterapeut";
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_string_equal(r.slots.v[0].service, "Nybesök fysioterapeut");
    run_free(&r);
    fx_free(&x);
}

static void test_unchanged_manifest(void **state)
{
    struct fx x;
    struct run r;
    /* same manifest body, new validators (e.g. a CDN re-upload) */
    const struct route same[] = {
        { "$bulk-publish", 200, NULL, "\"m-2\"", NULL },
    };
    const struct route not_modified[] = {
        { "$bulk-publish", 304, "", NULL, NULL },
    };

    (void)state;
    fx_init(&x, MANIFEST_URL, "kil-1");
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.nreq, 5);
    run_free(&r);

    /* second poll: validators sent; 200 with the same transactionTime
     * ends after the one request, with the same slots */
    converse(&x, PUB, same, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 1);
    assert_string_equal(header(&r, 0, "If-None-Match"), "\"m-1\"");
    assert_string_equal(header(&r, 0, "If-Modified-Since"),
                        "Thu, 26 Mar 2026 06:00:00 GMT");
    expect_kil1(&r.slots);
    run_free(&r);

    /* third poll: the new ETag is what is sent now; a 304 (without
     * validators) also answers from memory */
    converse(&x, PUB, not_modified, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 1);
    assert_string_equal(header(&r, 0, "If-None-Match"), "\"m-2\"");
    assert_string_equal(header(&r, 0, "If-Modified-Since"),
                        "Thu, 26 Mar 2026 06:00:00 GMT");
    expect_kil1(&r.slots);
    run_free(&r);

    /* days later: memory holds every slot, the window picks today's */
    x.ctx.first_day = D_0331;
    x.ctx.last_day = D_0331 + 13;
    converse(&x, PUB, not_modified, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.slots.n, 3); /* ids 10, 11 and 12 */
    assert_int_equal(r.slots.v[0].start, 1774934100);
    assert_int_equal(r.slots.v[1].start, 1775683800);
    assert_int_equal(r.slots.v[2].start, 1775714400);
    run_free(&r);
    fx_free(&x);
}

static void test_changed_manifest(void **state)
{
    struct fx x;
    struct run r;
    /* new transactionTime; W14 now has a single slot */
    const char *manifest2 =
        "{\"transactionTime\":\"2026-03-26T07:00:00Z\",\"request\":\"x\","
        "\"output\":[{\"type\":\"Location\",\"url\":\"locations.ndjson\"},"
        "{\"type\":\"Schedule\",\"url\":\"schedules.ndjson\"},"
        "{\"type\":\"Slot\",\"url\":\"slots-2026-W14.ndjson\"}]}";
    const char *w14 =
        "{\"resourceType\":\"Slot\",\"id\":\"20\",\"schedule\":{\"reference\":"
        "\"Schedule/sch-a\"},\"status\":\"free\",\"start\":"
        "\"2026-03-31T07:15:00+02:00\",\"end\":\"2026-03-31T08:00:00+02:00\"}\n";
    struct route changed[] = {
        { "$bulk-publish", 200, manifest2, NULL, NULL },
        { "locations.ndjson", 200, NULL, NULL, NULL },
        { "schedules.ndjson", 200, NULL, NULL, NULL },
        { "slots-2026-W14.ndjson", 500, "oops", NULL, NULL },
    };

    (void)state;
    fx_init(&x, MANIFEST_URL, "kil-1");
    converse(&x, PUB, normal, NNORMAL, &r);
    run_free(&r);

    /* changed, but a file fails: error, and memory keeps the old poll */
    converse(&x, PUB, changed, 4, &r);
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, SF_ERR_HTTP);
    assert_non_null(strstr(r.err.msg, "Slot file 3/3: HTTP 500"));
    assert_int_equal(r.nreq, 4);
    run_free(&r);
    converse(&x, PUB, normal, NNORMAL, &r); /* old manifest: from memory */
    assert_int_equal(r.nreq, 1);
    expect_kil1(&r.slots);
    run_free(&r);

    /* changed and complete: downloaded again, memory replaced */
    changed[3].status = 200;
    changed[3].body = w14;
    converse(&x, PUB, changed, 4, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 4);
    assert_int_equal(r.slots.n, 1);
    assert_int_equal(r.slots.v[0].start, 1774934100);
    run_free(&r);
    converse(&x, PUB, changed, 1, &r);
    assert_int_equal(r.nreq, 1);
    assert_int_equal(r.slots.n, 1);
    run_free(&r);
    fx_free(&x);

    /* without a cache slot every poll downloads everything */
    fx_init(&x, MANIFEST_URL, "kil-1");
    x.ctx.cache = NULL;
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.nreq, 5);
    run_free(&r);
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.nreq, 5);
    assert_null(header(&r, 0, "If-None-Match"));
    expect_kil1(&r.slots);
    run_free(&r);

    /* a 304 with nothing remembered is an HTTP error */
    {
        const struct route nm[] = { { "$bulk-publish", 304, "", NULL, NULL } };

        converse(&x, PUB, nm, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_HTTP);
        run_free(&r);
    }
}

static void test_location_not_published(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    /* kil-10 exists only as sch-d's actor, not as a Location */
    fx_init(&x, MANIFEST_URL, "kil-10");
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, SF_ERR_NOT_CONNECTED);
    assert_non_null(strstr(r.err.msg, "Location/kil-10"));
    assert_int_equal(r.nreq, 2); /* stopped after the Location file */
    run_free(&r);
    assert_null(x.cache);
    fx_free(&x);
}

static void expect_manifest_error(const char *body, enum sf_errclass code,
                                  const char *msg)
{
    struct fx x;
    struct run r;
    const struct route rt[] = { { "$bulk-publish", 200, body, NULL, NULL } };

    fx_init(&x, MANIFEST_URL, "kil-1");
    converse(&x, PUB, rt, 1, &r);
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, code);
    if (strstr(r.err.msg, msg) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", r.err.msg, msg);
    assert_int_equal(r.nreq, 1);
    run_free(&r);
    fx_free(&x);
}

/* A personnummer in a manifest's output URL is not quoted in
 * the error, and one in a slot's deep link or phone is not kept. */
static bool holds_number(const char *s)
{
    return s != NULL &&
           (strstr(s, "9876") != NULL || strstr(s, "811218") != NULL);
}

static void test_personnummer_scrubbed(void **state)
{
    static const char *const urls[] = {
        "http://cdn.example/19811218-9876/s.ndjson",
        "http://cdn.example/p/8112189876",
        "http://cdn.example/p?who=19811218 9876",
        "http://cdn.example/p/19811218\xe2\x80\x93"
        "9876",
        "ftp://cdn.example/19811218%209876",
        "http://19811218-9876.example/s.ndjson",
    };
    static const struct route rt[] = {
        { "$bulk-publish", 200, NULL, NULL, NULL },
        { "locations.ndjson", 200, NULL, NULL, NULL },
        { "schedules.ndjson", 200, NULL, NULL, NULL },
        { "slots-pnr.ndjson", 200, NULL, NULL, NULL },
    };
    char body[512];
    struct fx x;
    struct run r;

    (void)state;
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        const struct route m[] = { { "$bulk-publish", 200, body, NULL, NULL } };

        snprintf(body, sizeof(body),
                 "{\"transactionTime\":\"t\",\"output\":"
                 "[{\"type\":\"Slot\",\"url\":\"%s\"}]}",
                 urls[i]);
        fx_init(&x, MANIFEST_URL, "kil-1");
        converse(&x, PUB, m, 1, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        if (holds_number(r.err.msg) || !strstr(r.err.msg, "[personnummer]"))
            fail_msg("%s: %s", urls[i], r.err.msg);
        run_free(&r);
        fx_free(&x);
    }
    fx_init(&x, MANIFEST_URL, "kil-1");
    converse(&x, SLOTFEED_SOURCE_DIR "/tests/fixtures/smart/pnr/", rt, 4, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.slots.n, 2);
    for (size_t i = 0; i < r.slots.n; i++) {
        assert_false(holds_number(r.slots.v[i].booking_url));
        assert_false(holds_number(r.slots.v[i].booking_phone));
        assert_non_null(strstr(r.slots.v[i].booking_phone, "[personnummer]"));
    }
    assert_string_equal(r.slots.v[0].booking_url,
                        "https://boka.rehab.example/slot?id=1&pnr="
                        "[personnummer]");
    run_free(&r);
    fx_free(&x);
}

static void test_bad_input(void **state)
{
    struct fx x;
    struct run r;

    (void)state;
    expect_manifest_error("{\"transactionTime\":", SF_ERR_PARSE,
                          "malformed JSON");
    expect_manifest_error("{\"output\":[]}", SF_ERR_PARSE,
                          "not a $bulk-publish manifest");
    expect_manifest_error("{\"transactionTime\":\"t\",\"output\":[]}",
                          SF_ERR_NOT_CONNECTED, "no web booking");
    expect_manifest_error("{\"transactionTime\":\"t\",\"output\":[{\"type\":"
                          "\"Slot\",\"url\":\"http://cdn.example/s.ndjson\"}"
                          "]}",
                          SF_ERR_PARSE, "downgrades from https");
    expect_manifest_error("{\"transactionTime\":\"t\",\"output\":[{\"type\":"
                          "\"Slot\",\"url\":\"file:///etc/passwd\"}]}",
                          SF_ERR_PARSE, "not an http(s) URL");
    expect_manifest_error("{\"transactionTime\":\"t\",\"output\":[{\"type\":"
                          "\"Slot\"}]}",
                          SF_ERR_PARSE, "has no url");

    /* a file with no good line at all */
    {
        const struct route rt[] = {
            normal[0],
            normal[1],
            normal[2],
            { "slots-2026-W13.ndjson", 200, "garbage\n\n{\"x\":1}\n[", NULL,
              NULL },
            normal[4],
        };

        fx_init(&x, MANIFEST_URL, "kil-1");
        converse(&x, PUB, rt, 5, &r);
        assert_int_equal(r.rc, ADAPTER_ERROR);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        /* lines 1, 3 and 4 are bad; line 2 is blank */
        assert_non_null(strstr(r.err.msg, "Slot file 3/4: no valid Slot "
                                          "line (3 bad, first at line 1)"));
        run_free(&r);
        fx_free(&x);
    }
    /* a Schedule file served as the Slot file: every line is the wrong
     * resource type, so nothing of it counts */
    {
        const struct route rt[] = {
            normal[0],
            normal[1],
            normal[2],
            { "slots-2026-W13.ndjson", 200,
              "{\"resourceType\":\"Schedule\",\"id\":\"z\"}", NULL, NULL },
            normal[4],
        };

        fx_init(&x, MANIFEST_URL, "kil-1");
        converse(&x, PUB, rt, 5, &r);
        assert_int_equal(r.err.code, SF_ERR_PARSE);
        run_free(&r);
        fx_free(&x);
    }
    /* the manifest itself missing */
    {
        const struct route rt[] = { { "$bulk-publish", 404, "", NULL, NULL } };

        fx_init(&x, MANIFEST_URL, "kil-1");
        converse(&x, PUB, rt, 1, &r);
        assert_int_equal(r.err.code, SF_ERR_HTTP);
        run_free(&r);
        fx_free(&x);
    }
}

/*
 * The specification's own example feed (smart-on-fhir/smart-scheduling-links
 * examples/, vendored in tests/fixtures/smart/spec-example/): manifest with
 * absolute URLs, 10
 * Locations, 10 Schedules, 5 weekly Slot files of 300 slots in all.
 * Location/0 has Schedule/10 and 30 free slots, one a day 2021-03-01 ..
 * 2021-03-30 at 14:00Z, each with a deep link, phone and capacity 100.
 */
static void test_spec_examples(void **state)
{
    const char *d = SLOTFEED_SOURCE_DIR "/tests/fixtures/smart/spec-example/";
    struct fx x;
    struct run r;
    static const struct route rt[] = {
        { "$bulk-publish", 200, NULL, NULL, NULL },
        { "locations.ndjson", 200, NULL, NULL, NULL },
        { "schedules.ndjson", 200, NULL, NULL, NULL },
        { "slots-2021-W09.ndjson", 200, NULL, NULL, NULL },
        { "slots-2021-W10.ndjson", 200, NULL, NULL, NULL },
        { "slots-2021-W11.ndjson", 200, NULL, NULL, NULL },
        { "slots-2021-W12.ndjson", 200, NULL, NULL, NULL },
        { "slots-2021-W13.ndjson", 200, NULL, NULL, NULL },
    };

    (void)state;
    fx_init(&x,
            "https://raw.githubusercontent.com/smart-on-fhir/"
            "smart-scheduling-links/master/examples/$bulk-publish",
            "0");
    x.ctx.first_day = 18687;
    x.ctx.last_day = 18717;
    converse(&x, d, rt, sizeof(rt) / sizeof(rt[0]), &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 8);
    assert_int_equal(r.slots.n, 30);
    assert_int_equal(r.slots.v[0].start, 1614607200);
    assert_int_equal(r.slots.v[0].end, 1614639600);
    assert_string_equal(r.slots.v[0].booking_url,
                        "https://ehr-portal.example.org/bookings?slot=1000000");
    assert_string_equal(r.slots.v[0].booking_phone, "000-000-0000");
    assert_int_equal(r.slots.v[0].capacity, 100);
    assert_string_equal(r.slots.v[0].service, "Immunization");
    assert_int_equal(r.slots.v[29].start, 1617112800);
    run_free(&r);
    /* second poll: one request */
    converse(&x, d, rt, 1, &r);
    assert_int_equal(r.nreq, 1);
    assert_int_equal(r.slots.n, 30);
    run_free(&r);
    fx_free(&x);
}

/*
 * A foreign publisher (no clinic-state extension) is read as before and
 * relays nothing, on a full poll and on the 304 that follows.
 */
static void test_foreign_relays_nothing(void **state)
{
    struct adapter_relay relay;
    struct fx x;
    struct run r;

    (void)state;
    fx_init(&x, MANIFEST_URL, "kil-1");
    memset(&relay, 0, sizeof(relay));
    x.ctx.relay = &relay;
    converse(&x, PUB, normal, NNORMAL, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    expect_kil1(&r.slots);
    assert_false(relay.set);
    run_free(&r);
    {
        const struct route again[] = {
            { "$bulk-publish", 304, "", "\"m-1\"", NULL },
        };

        converse(&x, PUB, again, 1, &r);
        assert_int_equal(r.rc, ADAPTER_DONE);
        assert_int_equal(r.nreq, 1);
        expect_kil1(&r.slots);
        assert_false(relay.set);
        run_free(&r);
    }
    fx_free(&x);
}

#define RELAY_MANIFEST                                                 \
    "{\"transactionTime\":\"2026-03-26T06:00:00Z\",\"request\":\"x\"," \
    "\"output\":[{\"type\":\"Location\",\"url\":\"loc.ndjson\"},"      \
    "{\"type\":\"Schedule\",\"url\":\"sch.ndjson\"},"                  \
    "{\"type\":\"Slot\",\"url\":\"slot.ndjson\"}],\"error\":[]}"
#define STATE_EXT(parts)                                                       \
    "{\"resourceType\":\"Location\",\"id\":\"kil-1\",\"extension\":[{\"url\":" \
    "\"" SMART_EXT_CLINIC_STATE "\",\"extension\":[" parts "]}]}\n"

/* One poll of Location kil-1 whose Location line is loc; the relay. */
static void relay_of(const char *loc, struct adapter_relay *relay,
                     struct run *r, struct fx *x)
{
    const struct route rt[] = {
        { "$bulk-publish", 200, RELAY_MANIFEST, "\"r-1\"", NULL },
        { "loc.ndjson", 200, loc, NULL, NULL },
        { "sch.ndjson", 200, "", NULL, NULL },
        { "slot.ndjson", 200, "", NULL, NULL },
    };

    fx_init(x, MANIFEST_URL, "kil-1");
    memset(relay, 0, sizeof(*relay));
    x->ctx.relay = relay;
    converse(x, PUB, rt, 4, r);
    assert_int_equal(r->rc, ADAPTER_DONE);
}

/* The clinic-state extension, read strictly (smart.h). */
static void test_clinic_state_extension(void **state)
{
    const struct route again[] = {
        { "$bulk-publish", 304, "", "\"r-1\"", NULL },
    };
    struct adapter_relay relay;
    struct fx x;
    struct run r;

    (void)state;
    relay_of(
        STATE_EXT(
            "{\"url\":\"web-booking\",\"valueCode\":\"unreachable\"},"
            "{\"url\":\"status\",\"valueCode\":\"stale\"},"
            "{\"url\":\"valid-at\",\"valueInstant\":\"2026-03-26T05:00:00Z\"},"
            "{\"url\":\"checked-at\",\"valueInstant\":\"2026-03-26T07:00:00+02:00\"},"
            "{\"url\":\"error-class\",\"valueCode\":\"timeout\"},"
            "{\"url\":\"error-message\",\"valueString\":\"clinic X: a\\u0007b\"},"
            "{\"url\":\"future-part\",\"valueCode\":\"x\"}"),
        &relay, &r, &x);
    assert_true(relay.set);
    assert_string_equal(relay.web, "unreachable");
    assert_string_equal(relay.status, "stale");
    assert_int_equal(relay.valid_at, 1774501200); /* timegm */
    assert_int_equal(relay.checked_at, 1774501200);
    assert_int_equal(relay.err_class, SF_ERR_TIMEOUT);
    assert_string_equal(relay.error, "clinic X: a?b"); /* BEL made '?' */
    run_free(&r);
    /* unchanged manifest: the remembered state again */
    memset(&relay, 0, sizeof(relay));
    converse(&x, PUB, again, 1, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_true(relay.set);
    assert_string_equal(relay.web, "unreachable");
    assert_int_equal(relay.err_class, SF_ERR_TIMEOUT);
    run_free(&r);
    fx_free(&x);

    /* half a state, or words that are not ours: nothing relayed */
    relay_of(STATE_EXT("{\"url\":\"web-booking\",\"valueCode\":\"none\"}"),
             &relay, &r, &x);
    assert_false(relay.set);
    run_free(&r);
    fx_free(&x);
    relay_of(STATE_EXT("{\"url\":\"web-booking\",\"valueCode\":\"none\"},"
                       "{\"url\":\"status\",\"valueCode\":\"OK<b>\"}"),
             &relay, &r, &x);
    assert_false(relay.set);
    run_free(&r);
    fx_free(&x);
    /* an unknown error class is no error; a bad instant no time */
    relay_of(STATE_EXT("{\"url\":\"web-booking\",\"valueCode\":\"none\"},"
                       "{\"url\":\"status\",\"valueCode\":\"ok\"},"
                       "{\"url\":\"valid-at\",\"valueInstant\":\"yesterday\"},"
                       "{\"url\":\"error-class\",\"valueCode\":\"gremlins\"},"
                       "{\"url\":\"error-message\",\"valueString\":\"x\"}"),
             &relay, &r, &x);
    assert_true(relay.set);
    assert_string_equal(relay.web, "none");
    assert_int_equal(relay.valid_at, 0);
    assert_int_equal(relay.err_class, SF_ERR_NONE);
    assert_string_equal(relay.error, "");
    run_free(&r);
    fx_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_foreign_relays_nothing),
        cmocka_unit_test(test_clinic_state_extension),
        cmocka_unit_test(test_unchanged_manifest),
        cmocka_unit_test(test_changed_manifest),
        cmocka_unit_test(test_location_not_published),
        cmocka_unit_test(test_personnummer_scrubbed),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_spec_examples),
    };

    log_quiet();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
