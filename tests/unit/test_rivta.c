/*
 * test_rivta.c - the RIV-TA crm:scheduling adapter: requests validated
 * against the vendored XSDs, response parsing of real-shaped and hostile
 * fixtures, and the whole begin/step conversation with canned answers.
 *
 * Expected instants and day numbers were computed independently (Python's
 * calendar.timegm / date arithmetic on the wall times with the CET/CEST
 * offset worked out by hand), never taken from the code under test.
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

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/log.h"
#include "slotfeed/rivta.h"

#define SPECS SLOTFEED_SOURCE_DIR "/specs/riv-crm-scheduling-1.1"
#define FIXTURES SLOTFEED_SOURCE_DIR "/tests/fixtures/riv/"

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"

/* Day numbers (days since 1970-01-01) of the dates the tests use. */
#define D_0326 20538
#define D_0327 20539
#define D_0330 20542
#define D_0402 20545
#define D_0406 20549
#define D_0408 20551

/* --- helpers --------------------------------------------------------------- */

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

struct errbuf {
    char text[2048];
};

static void collect_error(void *arg, xmlErrorPtr e)
{
    struct errbuf *b = arg;
    size_t n = strlen(b->text);

    if (e != NULL && e->message != NULL && n < sizeof(b->text) - 1)
        snprintf(b->text + n, sizeof(b->text) - n, "%s", e->message);
}

/*
 * Validate a copy of `node` as the root of its own document against the
 * XSD at xsd_path. Returns 0 when valid; the validator's messages go to
 * out (may be NULL).
 */
static int validate_node(const char *xsd_path, xmlNodePtr node,
                         struct errbuf *out)
{
    struct errbuf local = {{0}};
    struct errbuf *eb = out != NULL ? out : &local;
    xmlSchemaParserCtxtPtr pc;
    xmlSchemaPtr schema;
    xmlSchemaValidCtxtPtr vc;
    xmlDocPtr doc;
    xmlNodePtr copy;
    int rc;

    pc = xmlSchemaNewParserCtxt(xsd_path);
    assert_non_null(pc);
    xmlSchemaSetParserStructuredErrors(pc, collect_error, eb);
    schema = xmlSchemaParse(pc);
    if (schema == NULL)
        fail_msg("schema %s did not load: %s", xsd_path, eb->text);
    doc = xmlNewDoc(BAD_CAST "1.0");
    copy = xmlDocCopyNode(node, doc, 1);
    assert_non_null(copy);
    xmlDocSetRootElement(doc, copy);
    vc = xmlSchemaNewValidCtxt(schema);
    assert_non_null(vc);
    xmlSchemaSetValidStructuredErrors(vc, collect_error, eb);
    rc = xmlSchemaValidateDoc(vc, doc);
    xmlSchemaFreeValidCtxt(vc);
    xmlFreeDoc(doc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    return rc;
}

static const char *responder_xsd(enum riv_contract c)
{
    switch (c) {
    case RIV_GET_AVAILABLE_DATES:
        return SPECS "/interactions/GetAvailableDatesInteraction/"
                     "GetAvailableDatesResponder_1.1.xsd";
    case RIV_GET_AVAILABLE_TIMESLOTS:
        return SPECS "/interactions/GetAvailableTimeslotsInteraction/"
                     "GetAvailableTimeslotsResponder_1.1.xsd";
    case RIV_GET_ALL_TIME_TYPES:
        return SPECS "/interactions/GetAllTimeTypesInteraction/"
                     "GetAllTimeTypesResponder_1.1.xsd";
    }
    return NULL;
}

/* XPath evaluation over a request with fixed prefixes. */
struct xq {
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
};

static void xq_open(struct xq *x, const char *xml, enum riv_contract c)
{
    char ns1[128], ns11[128];

    x->doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(x->doc);
    x->ctx = xmlXPathNewContext(x->doc);
    assert_non_null(x->ctx);
    snprintf(ns1, sizeof(ns1), "urn:riv:crm:scheduling:%sResponder:1",
             riv_contract_name(c));
    snprintf(ns11, sizeof(ns11), "urn:riv:crm:scheduling:%sResponder:1.1",
             riv_contract_name(c));
    xmlXPathRegisterNs(x->ctx, BAD_CAST "s", BAD_CAST SOAP_NS);
    xmlXPathRegisterNs(x->ctx, BAD_CAST "reg",
                       BAD_CAST "urn:riv:itintegration:registry:1");
    xmlXPathRegisterNs(x->ctx, BAD_CAST "ih",
                       BAD_CAST "urn:riv:interoperability:headers:1");
    xmlXPathRegisterNs(x->ctx, BAD_CAST "q", BAD_CAST ns1);
    xmlXPathRegisterNs(x->ctx, BAD_CAST "qx", BAD_CAST ns11);
}

static void xq_close(struct xq *x)
{
    xmlXPathFreeContext(x->ctx);
    xmlFreeDoc(x->doc);
}

/* Nodes matching expr; caller frees with xmlXPathFreeObject. */
static xmlXPathObjectPtr xq_eval(struct xq *x, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, x->ctx);

    assert_non_null(o);
    return o;
}

static int xq_count(struct xq *x, const char *expr)
{
    xmlXPathObjectPtr o = xq_eval(x, expr);
    int n = o->nodesetval != NULL ? o->nodesetval->nodeNr : 0;

    xmlXPathFreeObject(o);
    return n;
}

/* Text of the single node matching expr (asserts exactly one). */
static void xq_text(struct xq *x, const char *expr, char *buf, size_t cap)
{
    xmlXPathObjectPtr o = xq_eval(x, expr);
    xmlChar *t;

    if (o->nodesetval == NULL || o->nodesetval->nodeNr != 1)
        fail_msg("expected one node for %s", expr);
    t = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
    snprintf(buf, cap, "%s", t != NULL ? (const char *)t : "");
    xmlFree(t);
    xmlXPathFreeObject(o);
}

static xmlNodePtr xq_node(struct xq *x, const char *expr)
{
    xmlXPathObjectPtr o = xq_eval(x, expr);
    xmlNodePtr n;

    if (o->nodesetval == NULL || o->nodesetval->nodeNr != 1)
        fail_msg("expected one node for %s", expr);
    n = o->nodesetval->nodeTab[0];
    xmlXPathFreeObject(o);
    return n;
}

/* Validate Body child and both headers of a request. 0 when all valid. */
static int validate_request(const char *xml, enum riv_contract c,
                            struct errbuf *eb)
{
    struct xq x;
    int rc = 0;

    xq_open(&x, xml, c);
    if (validate_node(responder_xsd(c), xq_node(&x, "/s:Envelope/s:Body/*"),
                      eb) != 0)
        rc = -1;
    if (validate_node(SPECS "/core_components/itintegration_registry_1.0.xsd",
                      xq_node(&x, "/s:Envelope/s:Header/reg:LogicalAddress"),
                      eb) != 0)
        rc = -1;
    if (validate_node(SPECS "/core_components/"
                            "interoperability_headers_1.0.xsd",
                      xq_node(&x, "/s:Envelope/s:Header/ih:Actor"), eb) != 0)
        rc = -1;
    xq_close(&x);
    return rc;
}

static const struct riv_query base_query = {
    .logical_address = "SE2321000016-F1Z1",
    .subject_of_care = "191212121212",
    .actor_type = "subject_of_care",
    .first_day = D_0326,
    .last_day = D_0408,
    .time_type_id = "FYS-NY",
};

static bool slots_mention(const struct avail_slots *s, const char *needle)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *f[3] = {s->v[i].practitioner, s->v[i].service,
                            s->v[i].service_id};

        for (int k = 0; k < 3; k++)
            if (f[k] != NULL && strstr(f[k], needle) != NULL)
                return true;
    }
    return false;
}

static int setup_quiet(void **state)
{
    (void)state;
    log_quiet();
    return 0;
}

/* --- request building ------------------------------------------------------ */

static void test_contract_names(void **state)
{
    (void)state;
    assert_string_equal(riv_contract_name(RIV_GET_AVAILABLE_DATES),
                        "GetAvailableDates");
    assert_string_equal(riv_contract_name(RIV_GET_AVAILABLE_TIMESLOTS),
                        "GetAvailableTimeslots");
    assert_string_equal(riv_contract_name(RIV_GET_ALL_TIME_TYPES),
                        "GetAllTimeTypes");
}

static void check_envelope(enum riv_contract c, const struct riv_query *q)
{
    struct sf_error err;
    struct errbuf eb = {{0}};
    struct xq x;
    char *xml, buf[256];

    sf_error_clear(&err);
    xml = riv_build_envelope(c, q, &err);
    assert_non_null(xml);
    if (validate_request(xml, c, &eb) != 0)
        fail_msg("%s request invalid: %s\n%s", riv_contract_name(c), eb.text,
                 xml);

    xq_open(&x, xml, c);
    xq_text(&x, "/s:Envelope/s:Header/reg:LogicalAddress", buf, sizeof(buf));
    assert_string_equal(buf, q->logical_address);
    xq_text(&x, "/s:Envelope/s:Header/ih:Actor/ih:actorId", buf, sizeof(buf));
    assert_string_equal(buf, q->subject_of_care);
    xq_text(&x, "/s:Envelope/s:Header/ih:Actor/ih:actorType", buf,
            sizeof(buf));
    assert_string_equal(buf, q->actor_type != NULL ? q->actor_type
                                                   : "subject_of_care");
    snprintf(buf, sizeof(buf), "/s:Envelope/s:Body/q:%s",
             riv_contract_name(c));
    assert_int_equal(xq_count(&x, buf), 1);
    xq_text(&x, "/s:Envelope/s:Body/*/q:healthcare_facility", buf,
            sizeof(buf));
    assert_string_equal(buf, q->logical_address);
    xq_text(&x, "/s:Envelope/s:Body/*/qx:subject_of_care", buf, sizeof(buf));
    assert_string_equal(buf, q->subject_of_care);
    if (c == RIV_GET_ALL_TIME_TYPES) {
        assert_int_equal(xq_count(&x, "//q:startDateInclusive"), 0);
        assert_int_equal(xq_count(&x, "//q:timeTypeID"), 0);
    } else {
        xq_text(&x, "/s:Envelope/s:Body/*/q:startDateInclusive", buf,
                sizeof(buf));
        assert_string_equal(buf, q->first_day == D_0326 ? "20260326"
                                                        : "20260406");
        xq_text(&x, "/s:Envelope/s:Body/*/q:endDateInclusive", buf,
                sizeof(buf));
        assert_string_equal(buf, q->last_day == D_0408 ? "20260408"
                                                       : "20260406");
        if (q->time_type_id != NULL) {
            xq_text(&x, "/s:Envelope/s:Body/*/q:timeTypeID", buf,
                    sizeof(buf));
            assert_string_equal(buf, q->time_type_id);
        } else {
            assert_int_equal(xq_count(&x, "//q:timeTypeID"), 0);
        }
    }
    xq_close(&x);
    free(xml);
}

static void test_envelopes_validate(void **state)
{
    struct riv_query q = base_query;

    (void)state;
    check_envelope(RIV_GET_AVAILABLE_DATES, &q);
    check_envelope(RIV_GET_AVAILABLE_TIMESLOTS, &q);
    check_envelope(RIV_GET_ALL_TIME_TYPES, &q);
    /* without time type, one-day window, agent actor, default actor */
    q.time_type_id = NULL;
    q.first_day = q.last_day = D_0406;
    q.actor_type = "subject_of_care_agent";
    check_envelope(RIV_GET_AVAILABLE_DATES, &q);
    check_envelope(RIV_GET_AVAILABLE_TIMESLOTS, &q);
    q.actor_type = NULL;
    check_envelope(RIV_GET_AVAILABLE_TIMESLOTS, &q);
    check_envelope(RIV_GET_ALL_TIME_TYPES, &q);
}

/* Replace the first occurrence of from with to (test helper, malloc'd). */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    size_t n;
    char *out;

    assert_non_null(p);
    n = strlen(s) - strlen(from) + strlen(to);
    out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, s, (size_t)(p - s));
    strcpy(out + (p - s), to);
    strcat(out, p + strlen(from));
    return out;
}

/* The validator really runs: broken requests fail. */
static void test_broken_requests_fail_validation(void **state)
{
    struct sf_error err;
    char *xml, *bad;

    (void)state;
    xml = riv_build_envelope(RIV_GET_AVAILABLE_TIMESLOTS, &base_query, &err);
    assert_non_null(xml);
    assert_int_equal(validate_request(xml, RIV_GET_AVAILABLE_TIMESLOTS, NULL),
                     0);
    /* date in the wrong format */
    bad = replace(xml, ">20260326<", ">2026-03-26<");
    assert_int_not_equal(
        validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS, NULL), 0);
    free(bad);
    /* mandatory subject_of_care removed */
    bad = replace(xml, "<qx:subject_of_care>191212121212</qx:subject_of_care>",
                  "");
    assert_int_not_equal(
        validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS, NULL), 0);
    free(bad);
    /* actorType outside its enumeration (header schema) */
    bad = replace(xml, ">subject_of_care</hdr:actorType>",
                  ">citizen</hdr:actorType>");
    assert_int_not_equal(
        validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS, NULL), 0);
    free(bad);
    /* wrong contract's schema */
    assert_int_not_equal(
        validate_request(xml, RIV_GET_AVAILABLE_DATES, NULL), 0);
    free(xml);
}

static void test_envelope_escaping(void **state)
{
    struct riv_query q = base_query;
    struct sf_error err;
    struct xq x;
    char *xml, buf[256];
    const char *odd_la = "SE2321000016-<A&B>\"'x]]>";
    const char *odd_id = "19121212&<1>";

    (void)state;
    q.logical_address = odd_la;
    q.subject_of_care = odd_id;
    q.time_type_id = "T<&>";
    xml = riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err);
    assert_non_null(xml);
    assert_null(strstr(xml, "<A&B>"));
    assert_non_null(strstr(xml, "&lt;A&amp;B&gt;"));
    assert_null(strstr(xml, "&<1>"));
    xq_open(&x, xml, RIV_GET_AVAILABLE_DATES);
    xq_text(&x, "/s:Envelope/s:Header/reg:LogicalAddress", buf, sizeof(buf));
    assert_string_equal(buf, odd_la);
    xq_text(&x, "//q:healthcare_facility", buf, sizeof(buf));
    assert_string_equal(buf, odd_la);
    xq_text(&x, "//ih:actorId", buf, sizeof(buf));
    assert_string_equal(buf, odd_id);
    xq_text(&x, "//qx:subject_of_care", buf, sizeof(buf));
    assert_string_equal(buf, odd_id);
    xq_text(&x, "//q:timeTypeID", buf, sizeof(buf));
    assert_string_equal(buf, "T<&>");
    /* Only the element structure we built: no injected elements. */
    assert_int_equal(xq_count(&x, "//*"), 13);
    xq_close(&x);
    free(xml);
}

static void test_envelope_bad_input(void **state)
{
    struct riv_query q;
    struct sf_error err;

    (void)state;
    q = base_query;
    q.subject_of_care = NULL;
    sf_error_clear(&err);
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.logical_address = "";
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.logical_address = "SE2321000016-\x01";   /* not an XML character */
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.subject_of_care = "19121212\xff\xfe";   /* not UTF-8 */
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.actor_type = "citizen";
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.first_day = D_0408;
    q.last_day = D_0326;
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_TIMESLOTS, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);
}

/* --- display names --------------------------------------------------------- */

static void check_name(const char *in, const char *want)
{
    char *got = riv_display_name(in);

    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_display_name(void **state)
{
    (void)state;
    check_name("Jacob Dalmo", "Dalmo, Jacob");
    check_name("leg. fysioterapeut Jacob Dalmo", "Dalmo, Jacob");
    check_name("Leg. Fysioterapeut Jacob Dalmo", "Dalmo, Jacob");
    check_name("Dalmo, Jacob", "Dalmo, Jacob");
    check_name("  Dalmo,   Jacob ", "Dalmo, Jacob");
    check_name("Jacob Erik Dalmo", "Dalmo, Jacob Erik");
    check_name("Sjukgymnast Lena Ek", "Ek, Lena");
    check_name("Dr. Dalmo", "Dalmo");
    check_name("fysioterapeut Dalmo", "Dalmo");
    check_name("jacob dalmo", "dalmo, jacob");
    check_name("Dalmo", "Dalmo");
    check_name("Åsa Öberg", "Öberg, Åsa");
    check_name("", NULL);
    check_name("   ", NULL);
    check_name(NULL, NULL);
}

/* --- parsing --------------------------------------------------------------- */

static void test_parse_timeslots_fixture(void **state)
{
    struct avail_slots s;
    struct sf_error err;
    size_t len, skipped = 0;
    char *body = read_fixture("timeslots_ok.xml", &len);

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(skipped, 4);
    /* 2026-03-27 08:30 CET = 07:30Z */
    assert_int_equal(s.v[0].start, 1774596600);
    assert_int_equal(s.v[0].end, 1774599300);
    assert_string_equal(s.v[0].practitioner, "Dalmo, Jacob");
    assert_string_equal(s.v[0].service, "Nybesök");
    assert_string_equal(s.v[0].service_id, "FYS-NY");
    /* switch day 2026-03-29, 10:00 CEST = 08:00Z */
    assert_int_equal(s.v[1].start, 1774771200);
    assert_int_equal(s.v[1].end, 1774773900);
    assert_string_equal(s.v[1].practitioner, "Berg, Anna Maria");
    /* 2026-03-30 13:00 CEST = 11:00Z; "last, first" kept */
    assert_int_equal(s.v[2].start, 1774868400);
    assert_int_equal(s.v[2].end, 1774870200);
    assert_string_equal(s.v[2].practitioner, "Dalmo, Jacob");
    assert_string_equal(s.v[2].service, "Återbesök");
    assert_string_equal(s.v[2].service_id, "FYS-ATER");
    /* 2026-03-31 08:00 CEST = 06:00Z, nothing optional */
    assert_int_equal(s.v[3].start, 1774936800);
    assert_int_equal(s.v[3].end, 1774939500);
    assert_null(s.v[3].practitioner);
    assert_null(s.v[3].service);
    assert_null(s.v[3].service_id);
    avail_slots_clear(&s);
    free(body);
}

static void test_parse_default_ns_and_bare(void **state)
{
    struct avail_slots s;
    struct sf_error err;
    size_t len, skipped = 0;
    char *body = read_fixture("timeslots_default_ns.xml", &len);

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(skipped, 0);
    /* 2026-10-25 02:30 is repeated: first (CEST) = 00:30Z; 03:30 CET = 02:30Z */
    assert_int_equal(s.v[0].start, 1792888200);
    assert_int_equal(s.v[0].end, 1792888200 + 2 * 3600);
    assert_string_equal(s.v[0].practitioner, "Åkesson-<Ek>, Per-Olof");
    assert_string_equal(s.v[0].service, "Nybesök <30 min>");
    assert_string_equal(s.v[0].service_id, "A&B");
    free(body);

    /* bare response element, appended after what is there */
    body = read_fixture("timeslots_bare.xml", &len);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.v[1].start, 1774936800);
    assert_string_equal(s.v[1].practitioner, "Ek, Lena");
    free(body);

    body = read_fixture("timeslots_empty.xml", &len);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), 0);
    assert_int_equal(s.n, 2);
    free(body);
    avail_slots_clear(&s);
}

static void test_parse_dates(void **state)
{
    int32_t days[8];
    size_t n = 8, len;
    struct sf_error err;
    char *body = read_fixture("dates_ok.xml", &len);

    (void)state;
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(days[0], D_0327);
    assert_int_equal(days[1], D_0330);
    assert_int_equal(days[2], D_0402);
    assert_int_equal(days[3], D_0406);
    /* capacity 2 keeps the earliest two */
    n = 2;
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(days[0], D_0327);
    assert_int_equal(days[1], D_0330);
    free(body);

    body = read_fixture("dates_empty.xml", &len);
    n = 8;
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), 0);
    assert_int_equal(n, 0);
    free(body);

    /* a timeslots answer is not a dates answer */
    body = read_fixture("timeslots_ok.xml", &len);
    n = 8;
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    free(body);
}

static void expect_fault(const char *fixture, enum sf_errclass want,
                         const char *needle)
{
    struct avail_slots s;
    struct sf_error err;
    int32_t days[4];
    size_t n = 4, len;
    char *body = read_fixture(fixture, &len);

    avail_slots_init(&s);
    sf_error_clear(&err);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), -1);
    assert_int_equal(err.code, want);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("%s: '%s' not in '%s'", fixture, needle, err.msg);
    assert_int_equal(s.n, 0);
    sf_error_clear(&err);
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), -1);
    assert_int_equal(err.code, want);
    assert_int_equal(n, 0);
    free(body);
}

static void test_faults(void **state)
{
    struct sf_error err;
    struct avail_slots s;
    size_t len;
    char *body;

    (void)state;
    expect_fault("fault_vp007.xml", SF_ERR_NOT_CONNECTED, "VP007");
    expect_fault("fault_vp004.xml", SF_ERR_NOT_CONNECTED, "VP004");
    expect_fault("fault_server.xml", SF_ERR_FAULT, "NullPointerException");

    /* an identity echoed by the producer is not quoted back */
    {
        const char *e =
            "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body><s:Fault>"
            "<faultcode>s:Client</faultcode><faultstring>bad subject_of_care "
            "191212121212 / 19121212-1212 / 121212-1212; unit "
            "SE2321000016-F1Z1</faultstring></s:Fault></s:Body></s:Envelope>";

        avail_slots_init(&s);
        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err),
                         -1);
        assert_int_equal(err.code, SF_ERR_FAULT);
        assert_null(strstr(err.msg, "1212"));
        assert_non_null(strstr(err.msg, "bad subject_of_care [redacted] / "
                                        "[redacted] / [redacted]; unit"));
        assert_non_null(strstr(err.msg, "SE2321000016-F1Z1"));
        assert_non_null(strstr(err.msg, "s:Client"));
    }

    /* an identity straddling the quote limit is not cut in half */
    {
        char e[1024];
        int n = snprintf(e, sizeof(e),
                         "<s:Fault xmlns:s='" SOAP_NS "'><faultcode>s:Server"
                         "</faultcode><faultstring>%0195d 191212121212 tail"
                         "</faultstring></s:Fault>", 0);

        assert_int_equal(riv_parse_timeslots(e, (size_t)n, &s, NULL, &err),
                         -1);
        assert_int_equal(err.code, SF_ERR_FAULT);
        assert_null(strstr(err.msg, "1212"));
        assert_null(strstr(err.msg, "tail"));   /* quote is bounded */
    }

    /* the quoted fault text is one line and bounded */
    body = read_fixture("fault_server.xml", &len);
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), -1);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\t'));
    free(body);
}

static void test_not_xml_and_truncated(void **state)
{
    struct avail_slots s;
    struct sf_error err;
    size_t len, skipped = 0;
    char *body;

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(avail_slots_add(&s, 1, 2, "Kept, Earlier", NULL, NULL),
                     0);

    body = read_fixture("not_xml.html", &len);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    /* HTML's <hr> is never closed: libxml2 names the line */
    assert_non_null(strstr(err.msg, "line"));
    free(body);

    body = read_fixture("truncated.xml", &len);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line"));
    /* the complete first slot of the truncated body is not kept */
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0].practitioner, "Kept, Earlier");
    free(body);

    assert_int_equal(riv_parse_timeslots("", 0, &s, NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    assert_int_equal(riv_parse_timeslots("{\"slots\":[]}", 12, &s, NULL,
                                         &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    /* well-formed but something else entirely */
    assert_int_equal(riv_parse_timeslots("<a xmlns='urn:x'/>", 18, &s, NULL,
                                         &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    /* SOAP envelope without a response */
    {
        const char *e = "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body/>"
                        "</s:Envelope>";

        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err),
                         -1);
        assert_int_equal(err.code, SF_ERR_PARSE);
    }
    /* trailing garbage after the root */
    {
        const char *e = "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:"
                        "crm:scheduling:GetAvailableTimeslotsResponder:1'/>"
                        "<junk/>";

        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err),
                         -1);
        assert_int_equal(err.code, SF_ERR_PARSE);
    }
    assert_int_equal(s.n, 1);
    avail_slots_clear(&s);
}

static void expect_hostile(const char *body, size_t len, const char *what)
{
    struct avail_slots s;
    struct sf_error err;
    int32_t days[4];
    size_t n = 4;

    avail_slots_init(&s);
    sf_error_clear(&err);
    if (riv_parse_timeslots(body, len, &s, NULL, &err) != -1 ||
        err.code != SF_ERR_HOSTILE)
        fail_msg("%s: not refused as hostile (%s)", what, err.msg);
    /* refused by the DTD probe, before the streaming reader ran */
    assert_non_null(strstr(err.msg, "document type declaration"));
    assert_int_equal(s.n, 0);
    assert_false(slots_mention(&s, "lol"));
    assert_false(slots_mention(&s, "root:"));
    sf_error_clear(&err);
    assert_int_equal(riv_parse_dates(body, len, days, &n, &err), -1);
    assert_int_equal(err.code, SF_ERR_HOSTILE);
    assert_int_equal(n, 0);
    assert_null(strstr(err.msg, "lol"));
    assert_null(strstr(err.msg, "root:"));
    avail_slots_clear(&s);
}

/* ASCII text as UTF-16LE with a BOM (malloc'd). */
static char *to_utf16le(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 2);

    assert_non_null(out);
    out[0] = (char)0xFF;
    out[1] = (char)0xFE;
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = s[i];
        out[3 + 2 * i] = 0;
    }
    *len = 2 * n + 2;
    return out;
}

static void test_hostile_bodies(void **state)
{
    static const char *const files[] = {"xxe.xml", "billion_laughs.xml",
                                        "dtd_envelope.xml"};
    size_t len;
    char *body, *wide;

    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        body = read_fixture(files[i], &len);
        expect_hostile(body, len, files[i]);
        free(body);
    }
    /* the same bomb in UTF-16: the probe is an XML parser, not a grep */
    body = read_fixture("billion_laughs.xml", &len);
    {
        char *p = strstr(body, "encoding=\"UTF-8\"");

        assert_non_null(p);
        memcpy(p, "encoding=\"UTF16\"", 16);
    }
    wide = to_utf16le(body, &len);
    expect_hostile(wide, len, "billion_laughs UTF-16");
    free(wide);
    free(body);
    /* DOCTYPE after a comment and a PI, minimal */
    {
        const char *e = "<!-- hi --><?pi x?><!DOCTYPE x><x/>";

        expect_hostile(e, strlen(e), "late doctype");
    }
}

/* libxml2 must not print anything while we parse bad input. */
static void test_no_stderr_noise(void **state)
{
    static const char *const files[] = {"not_xml.html", "truncated.xml",
                                        "xxe.xml", "billion_laughs.xml",
                                        "fault_server.xml"};
    FILE *tmp = tmpfile();
    int saved;
    struct avail_slots s;
    struct sf_error err;
    long size;

    (void)state;
    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), 2), 2);
    avail_slots_init(&s);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len;
        char *body = read_fixture(files[i], &len);

        (void)riv_parse_timeslots(body, len, &s, NULL, &err);
        free(body);
    }
    (void)riv_parse_timeslots("<a><b></a>", 10, &s, NULL, &err);
    (void)riv_parse_timeslots("<a xmlns:p='urn:x'><q:b/></a>", 29, &s, NULL,
                              &err);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    fseek(tmp, 0, SEEK_END);
    size = ftell(tmp);
    fclose(tmp);
    assert_int_equal(size, 0);
    avail_slots_clear(&s);
}

static void test_large_body(void **state)
{
    enum { N = 10000 };
    size_t cap = 512 + (size_t)N * 400, len = 0;
    char *body = malloc(cap);
    struct avail_slots s;
    struct sf_error err;
    size_t skipped = 0;

    (void)state;
    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len,
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body>"
        "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:"
        "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>");
    for (int i = 0; i < N; i++) {
        /* 2026-01-05 .. : day i/20, 20 slots of 15 min from 08:00 */
        int day = 5 + (i / 20) % 20, month = 1 + (i / 400) % 12;
        int min = 8 * 60 + (i % 20) * 15;

        len += (size_t)snprintf(body + len, cap - len,
            "<r:timeslotDetail><c:startTimeInclusive>2026%02d%02d%02d%02d00"
            "</c:startTimeInclusive><c:endTimeExclusive>2026%02d%02d%02d%02d00"
            "</c:endTimeExclusive><c:healthcare_facility>SE2321000016-F1Z1"
            "</c:healthcare_facility><c:performerName>Jacob Dalmo"
            "</c:performerName><c:timeTypeID>FYS-NY</c:timeTypeID>"
            "</r:timeslotDetail>",
            month, day, min / 60, min % 60, month, day, (min + 15) / 60,
            (min + 15) % 60);
    }
    len += (size_t)snprintf(body + len, cap - len,
                            "</r:GetAvailableTimeslotsResponse></s:Body>"
                            "</s:Envelope>");
    assert_true(len < cap);
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), 0);
    assert_int_equal(s.n, N);
    assert_int_equal(skipped, 0);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.v[i].end - s.v[i].start, 15 * 60);
    avail_slots_clear(&s);
    free(body);
}

/* --- the conversation ------------------------------------------------------ */

struct world {
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    w->region.name = "Test";
    w->region.riv_subject_of_care = "191212121212";
    w->region.riv_actor_type = "subject_of_care";
    w->clinic.id = "SE2321000016-F1Z1";
    w->clinic.name = "Fysio Test";
    w->clinic.has_booking = true;
    w->clinic.booking.adapter = "rivta-scheduling";
    w->clinic.booking.url = "http://127.0.0.1:1/vp/";
    w->clinic.booking.time_type_id = "FYS-NY";
    w->region.clinics = &w->clinic;
    w->region.nclinics = 1;
    w->ctx.region = &w->region;
    w->ctx.clinic = &w->clinic;
    w->ctx.now = 1774512000;   /* 2026-03-26 08:00Z */
    w->ctx.first_day = D_0326;
    w->ctx.last_day = D_0408;
}

static void check_request(const struct adapter_request *r,
                          enum riv_contract c, const char *start,
                          const char *end, const char *time_type)
{
    char want[256], buf[256];
    struct xq x;

    snprintf(want, sizeof(want),
             "http://127.0.0.1:1/vp/crm/scheduling/%s/1/rivtabp21",
             riv_contract_name(c));
    assert_string_equal(r->url, want);
    snprintf(want, sizeof(want), "urn:riv:crm:scheduling:%sResponder:1:%s",
             riv_contract_name(c), riv_contract_name(c));
    assert_string_equal(r->soap_action, want);
    assert_string_equal(r->content_type, "text/xml; charset=UTF-8");
    assert_string_equal(r->label, riv_contract_name(c));
    assert_non_null(r->body);
    assert_int_equal(r->body_len, strlen(r->body));
    assert_int_equal(validate_request(r->body, c, NULL), 0);
    xq_open(&x, r->body, c);
    xq_text(&x, "//q:startDateInclusive", buf, sizeof(buf));
    assert_string_equal(buf, start);
    xq_text(&x, "//q:endDateInclusive", buf, sizeof(buf));
    assert_string_equal(buf, end);
    if (time_type != NULL) {
        xq_text(&x, "//q:timeTypeID", buf, sizeof(buf));
        assert_string_equal(buf, time_type);
    } else {
        assert_int_equal(xq_count(&x, "//q:timeTypeID"), 0);
    }
    xq_close(&x);
}

static struct adapter_response canned(long status, const char *body,
                                      size_t len)
{
    struct adapter_response r = {
        .http_status = status, .body = body, .len = len,
        .content_type = "text/xml",
    };

    return r;
}

/* Slots on the last span's date: one in the window, one local-next-day. */
static const char last_span_body[] =
    "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:"
    "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
    /* 2026-04-06 00:30 CEST = 04-05 22:30Z: local date in the window */
    "<r:timeslotDetail><c:startTimeInclusive>20260406003000"
    "</c:startTimeInclusive><c:endTimeExclusive>20260406010000"
    "</c:endTimeExclusive><c:healthcare_facility>SE2321000016-F1Z1"
    "</c:healthcare_facility></r:timeslotDetail>"
    /* 2026-04-09 00:30 CEST = 04-08 22:30Z: UTC date in, local date out */
    "<r:timeslotDetail><c:startTimeInclusive>20260409003000"
    "</c:startTimeInclusive><c:endTimeExclusive>20260409010000"
    "</c:endTimeExclusive><c:healthcare_facility>SE2321000016-F1Z1"
    "</c:healthcare_facility></r:timeslotDetail>"
    "</r:GetAvailableTimeslotsResponse>";

static void test_conversation(void **state)
{
    const struct adapter *a = adapter_find("rivta-scheduling");
    struct world w;
    struct adapter_request req;
    struct adapter_response resp;
    struct avail_slots slots;
    struct sf_error err;
    void *st = NULL;
    size_t len;
    char *dates = read_fixture("dates_ok.xml", &len), *ts;
    size_t ts_len;

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(a, &adapter_rivta);
    world_init(&w);
    avail_slots_init(&slots);
    memset(&req, 0, sizeof(req));

    assert_int_equal(a->begin(&w.ctx, &st, &req, &err), ADAPTER_MORE);
    check_request(&req, RIV_GET_AVAILABLE_DATES, "20260326", "20260408",
                  "FYS-NY");
    adapter_request_clear(&req);

    /* dates 03-27, 03-30, 04-02 | 04-06: two spans */
    resp = canned(200, dates, len);
    assert_int_equal(a->step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_MORE);
    assert_int_equal(slots.n, 0);
    check_request(&req, RIV_GET_AVAILABLE_TIMESLOTS, "20260327", "20260402",
                  "FYS-NY");
    adapter_request_clear(&req);

    ts = read_fixture("timeslots_ok.xml", &ts_len);
    resp = canned(200, ts, ts_len);
    assert_int_equal(a->step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_MORE);
    /* FYS-ATER slot dropped by time type; no-type slot kept */
    assert_int_equal(slots.n, 3);
    assert_int_equal(slots.v[0].start, 1774596600);
    assert_int_equal(slots.v[1].start, 1774771200);
    assert_int_equal(slots.v[2].start, 1774936800);
    check_request(&req, RIV_GET_AVAILABLE_TIMESLOTS, "20260406", "20260406",
                  "FYS-NY");
    adapter_request_clear(&req);

    resp = canned(200, last_span_body, strlen(last_span_body));
    assert_int_equal(a->step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_DONE);
    assert_null(req.url);
    assert_int_equal(slots.n, 4);
    assert_int_equal(slots.v[3].start, 1775428200);
    a->end(st);
    avail_slots_clear(&slots);
    free(ts);
    free(dates);
}

/* Every date of a 14-day window: spans of 7, 7. */
static void test_conversation_spans(void **state)
{
    struct world w;
    struct adapter_request req;
    struct adapter_response resp;
    struct avail_slots slots;
    struct sf_error err;
    void *st = NULL;
    char body[4096];
    size_t len = 0;
    const char *empty = "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:"
                        "crm:scheduling:GetAvailableTimeslotsResponder:1'/>";

    (void)state;
    world_init(&w);
    w.clinic.booking.time_type_id = NULL;
    w.clinic.booking.url = "http://127.0.0.1:1/vp";   /* no slash */
    w.region.riv_actor_type = NULL;
    avail_slots_init(&slots);
    memset(&req, 0, sizeof(req));
    len += (size_t)snprintf(body + len, sizeof(body) - len,
        "<d:GetAvailableDatesResponse xmlns:d='urn:riv:crm:scheduling:"
        "GetAvailableDatesResponder:1'>");
    /* 2026-03-20 (outside) then 03-26 .. 04-08, then 04-10 (outside) */
    {
        static const char *const ds[] = {
            "20260320", "20260326", "20260327", "20260328", "20260329",
            "20260330", "20260331", "20260401", "20260402", "20260403",
            "20260404", "20260405", "20260406", "20260407", "20260408",
            "20260410"};

        for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
            len += (size_t)snprintf(body + len, sizeof(body) - len,
                "<d:performerAvailabilityByDate><d:healthcare_facility>X"
                "</d:healthcare_facility><d:date>%s</d:date>"
                "</d:performerAvailabilityByDate>", ds[i]);
    }
    len += (size_t)snprintf(body + len, sizeof(body) - len,
                            "</d:GetAvailableDatesResponse>");
    assert_true(len < sizeof(body));

    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    check_request(&req, RIV_GET_AVAILABLE_DATES, "20260326", "20260408",
                  NULL);
    {
        struct xq x;
        char buf[64];

        xq_open(&x, req.body, RIV_GET_AVAILABLE_DATES);
        xq_text(&x, "//ih:actorType", buf, sizeof(buf));
        assert_string_equal(buf, "subject_of_care");
        xq_close(&x);
    }
    adapter_request_clear(&req);
    resp = canned(200, body, len);
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_MORE);
    check_request(&req, RIV_GET_AVAILABLE_TIMESLOTS, "20260326", "20260401",
                  NULL);
    adapter_request_clear(&req);
    resp = canned(200, empty, strlen(empty));
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_MORE);
    check_request(&req, RIV_GET_AVAILABLE_TIMESLOTS, "20260402", "20260408",
                  NULL);
    adapter_request_clear(&req);
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_DONE);
    assert_int_equal(slots.n, 0);
    adapter_rivta.end(st);
}

static void test_conversation_no_dates(void **state)
{
    struct world w;
    struct adapter_request req;
    struct adapter_response resp;
    struct avail_slots slots;
    struct sf_error err;
    void *st = NULL;
    size_t len;
    char *body = read_fixture("dates_empty.xml", &len);
    const char *outside =
        "<d:GetAvailableDatesResponse xmlns:d='urn:riv:crm:scheduling:"
        "GetAvailableDatesResponder:1'><d:performerAvailabilityByDate>"
        "<d:healthcare_facility>X</d:healthcare_facility><d:date>20260501"
        "</d:date></d:performerAvailabilityByDate>"
        "</d:GetAvailableDatesResponse>";

    (void)state;
    world_init(&w);
    avail_slots_init(&slots);
    memset(&req, 0, sizeof(req));
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    adapter_request_clear(&req);
    resp = canned(200, body, len);
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_DONE);
    assert_int_equal(slots.n, 0);
    assert_null(req.url);
    adapter_rivta.end(st);

    /* only dates outside the window: nothing to ask for either */
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    adapter_request_clear(&req);
    resp = canned(200, outside, strlen(outside));
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
                     ADAPTER_DONE);
    assert_int_equal(slots.n, 0);
    adapter_rivta.end(st);
    free(body);
}

/* Run dates_ok then `resp` as the timeslots answer; return the status. */
static enum adapter_status second_step(long status, const char *body,
                                       size_t len, struct sf_error *err)
{
    struct world w;
    struct adapter_request req;
    struct adapter_response resp;
    struct avail_slots slots;
    void *st = NULL;
    size_t dlen;
    char *dates = read_fixture("dates_ok.xml", &dlen);
    enum adapter_status rc;

    world_init(&w);
    avail_slots_init(&slots);
    memset(&req, 0, sizeof(req));
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, err),
                     ADAPTER_MORE);
    adapter_request_clear(&req);
    resp = canned(200, dates, dlen);
    assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, err),
                     ADAPTER_MORE);
    adapter_request_clear(&req);
    sf_error_clear(err);
    resp = canned(status, body, len);
    rc = adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, err);
    assert_null(req.url);
    if (rc == ADAPTER_ERROR)
        assert_int_equal(slots.n, 0);
    adapter_request_clear(&req);
    adapter_rivta.end(st);
    avail_slots_clear(&slots);
    free(dates);
    return rc;
}

static void test_conversation_errors(void **state)
{
    struct sf_error err;
    size_t len;
    char *body;

    (void)state;
    body = read_fixture("fault_vp004.xml", &len);
    assert_int_equal(second_step(500, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_NOT_CONNECTED);
    /* a fault with HTTP 200 is still a fault */
    assert_int_equal(second_step(200, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_NOT_CONNECTED);
    free(body);

    body = read_fixture("fault_server.xml", &len);
    assert_int_equal(second_step(500, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_FAULT);
    free(body);

    body = read_fixture("not_xml.html", &len);
    assert_int_equal(second_step(502, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_HTTP);
    assert_non_null(strstr(err.msg, "502"));
    assert_non_null(strstr(err.msg, "GetAvailableTimeslots"));
    /* the same body with 200 is a parse error */
    assert_int_equal(second_step(200, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_PARSE);
    free(body);

    /* a valid answer with a non-200 status is not trusted */
    body = read_fixture("timeslots_ok.xml", &len);
    assert_int_equal(second_step(503, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_HTTP);
    assert_non_null(strstr(err.msg, "503"));
    free(body);

    body = read_fixture("xxe.xml", &len);
    assert_int_equal(second_step(200, body, len, &err), ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_HOSTILE);
    free(body);

    /* first step: VP007 on GetAvailableDates */
    {
        struct world w;
        struct adapter_request req;
        struct adapter_response resp;
        struct avail_slots slots;
        void *st = NULL;

        world_init(&w);
        avail_slots_init(&slots);
        memset(&req, 0, sizeof(req));
        body = read_fixture("fault_vp007.xml", &len);
        assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                         ADAPTER_MORE);
        adapter_request_clear(&req);
        resp = canned(500, body, len);
        assert_int_equal(
            adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
            ADAPTER_ERROR);
        assert_int_equal(err.code, SF_ERR_NOT_CONNECTED);
        adapter_rivta.end(st);

        st = NULL;
        assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                         ADAPTER_MORE);
        adapter_request_clear(&req);
        resp = canned(404, "Not Found", 9);
        assert_int_equal(
            adapter_rivta.step(&w.ctx, st, &resp, &slots, &req, &err),
            ADAPTER_ERROR);
        assert_int_equal(err.code, SF_ERR_HTTP);
        assert_non_null(strstr(err.msg, "404"));
        assert_non_null(strstr(err.msg, "GetAvailableDates"));
        adapter_rivta.end(st);
        free(body);
    }
}

static void test_conversation_config(void **state)
{
    struct world w;
    struct adapter_request req;
    struct sf_error err;
    void *st = NULL;
    struct xq x;
    char buf[128];

    (void)state;
    memset(&req, 0, sizeof(req));
    world_init(&w);
    w.region.riv_subject_of_care = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    assert_null(req.url);
    adapter_rivta.end(st);

    world_init(&w);
    w.region.riv_subject_of_care = "";
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    adapter_rivta.end(st);

    world_init(&w);
    w.clinic.has_booking = false;
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    adapter_rivta.end(st);

    /* odd characters in the HSA-id and identity are escaped in the body */
    world_init(&w);
    w.clinic.id = "SE2321000016-<x&y>";
    w.region.riv_subject_of_care = "1912'\"&<>";
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    xq_open(&x, req.body, RIV_GET_AVAILABLE_DATES);
    xq_text(&x, "//reg:LogicalAddress", buf, sizeof(buf));
    assert_string_equal(buf, "SE2321000016-<x&y>");
    xq_text(&x, "//q:healthcare_facility", buf, sizeof(buf));
    assert_string_equal(buf, "SE2321000016-<x&y>");
    xq_text(&x, "//qx:subject_of_care", buf, sizeof(buf));
    assert_string_equal(buf, "1912'\"&<>");
    xq_text(&x, "//ih:actorId", buf, sizeof(buf));
    assert_string_equal(buf, "1912'\"&<>");
    xq_close(&x);
    adapter_request_clear(&req);
    adapter_rivta.end(st);

    /* a control character cannot be sent at all */
    world_init(&w);
    w.region.riv_subject_of_care = "19121212\x1b[0m";
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_ERROR);
    assert_int_equal(err.code, SF_ERR_CONFIG);
    assert_null(req.url);
    adapter_rivta.end(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_names),
        cmocka_unit_test(test_envelopes_validate),
        cmocka_unit_test(test_broken_requests_fail_validation),
        cmocka_unit_test(test_envelope_escaping),
        cmocka_unit_test(test_envelope_bad_input),
        cmocka_unit_test(test_display_name),
        cmocka_unit_test(test_parse_timeslots_fixture),
        cmocka_unit_test(test_parse_default_ns_and_bare),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_not_xml_and_truncated),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_no_stderr_noise),
        cmocka_unit_test(test_large_body),
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_conversation_spans),
        cmocka_unit_test(test_conversation_no_dates),
        cmocka_unit_test(test_conversation_errors),
        cmocka_unit_test(test_conversation_config),
    };

    return cmocka_run_group_tests(tests, setup_quiet, NULL);
}
