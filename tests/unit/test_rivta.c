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
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <event2/event.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "slotfeed/rivta.h"

#include "th_file.h"
#include "th_loopback.h"
#include "th_skip.h"

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
    char *buf = th_read_file(FIXTURES, name, len);

    assert_non_null(buf);
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
    struct errbuf local = { { 0 } };
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
        const char *f[3] = { s->v[i].practitioner, s->v[i].service,
                             s->v[i].service_id };

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
    struct errbuf eb = { { 0 } };
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
    xq_text(&x, "/s:Envelope/s:Header/ih:Actor/ih:actorType", buf, sizeof(buf));
    assert_string_equal(buf, q->actor_type != NULL ? q->actor_type
                                                   : "subject_of_care");
    snprintf(buf, sizeof(buf), "/s:Envelope/s:Body/q:%s", riv_contract_name(c));
    assert_int_equal(xq_count(&x, buf), 1);
    xq_text(&x, "/s:Envelope/s:Body/*/q:healthcare_facility", buf, sizeof(buf));
    assert_string_equal(buf, q->logical_address);
    xq_text(&x, "/s:Envelope/s:Body/*/qx:subject_of_care", buf, sizeof(buf));
    assert_string_equal(buf, q->subject_of_care);
    if (c == RIV_GET_ALL_TIME_TYPES) {
        assert_int_equal(xq_count(&x, "//q:startDateInclusive"), 0);
        assert_int_equal(xq_count(&x, "//q:timeTypeID"), 0);
    } else {
        xq_text(&x, "/s:Envelope/s:Body/*/q:startDateInclusive", buf,
                sizeof(buf));
        assert_string_equal(buf,
                            q->first_day == D_0326 ? "20260326" : "20260406");
        xq_text(&x, "/s:Envelope/s:Body/*/q:endDateInclusive", buf,
                sizeof(buf));
        assert_string_equal(buf,
                            q->last_day == D_0408 ? "20260408" : "20260406");
        if (q->time_type_id != NULL) {
            xq_text(&x, "/s:Envelope/s:Body/*/q:timeTypeID", buf, sizeof(buf));
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
    assert_int_not_equal(validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS,
                                          NULL),
                         0);
    free(bad);
    /* mandatory subject_of_care removed */
    bad = replace(xml, "<qx:subject_of_care>191212121212</qx:subject_of_care>",
                  "");
    assert_int_not_equal(validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS,
                                          NULL),
                         0);
    free(bad);
    /* actorType outside its enumeration (header schema) */
    bad = replace(xml, ">subject_of_care</hdr:actorType>",
                  ">citizen</hdr:actorType>");
    assert_int_not_equal(validate_request(bad, RIV_GET_AVAILABLE_TIMESLOTS,
                                          NULL),
                         0);
    free(bad);
    /* wrong contract's schema */
    assert_int_not_equal(validate_request(xml, RIV_GET_AVAILABLE_DATES, NULL),
                         0);
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
    q.logical_address = "SE2321000016-\x01"; /* not an XML character */
    assert_null(riv_build_envelope(RIV_GET_AVAILABLE_DATES, &q, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);

    q = base_query;
    q.subject_of_care = "19121212\xff\xfe"; /* not UTF-8 */
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

/*
 * The envelope as it was built before the template (libxml2 tree API +
 * serializer), kept as the reference: the template must write the same
 * bytes for every valid input, escapes included.
 */
static char *tree_envelope(enum riv_contract c, const struct riv_query *q)
{
    const char *name = riv_contract_name(c);
    const char *at = q->actor_type != NULL && q->actor_type[0] != '\0'
                         ? q->actor_type
                         : "subject_of_care";
    char ns1[128], ns11[128], day[9];
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr env = xmlNewNode(NULL, BAD_CAST "Envelope");
    xmlNodePtr hdr, actor, req;
    xmlNsPtr s_ns, reg_ns, hdr_ns, q_ns, qx_ns;
    xmlChar *mem = NULL;
    int size = 0;
    char *out;

    snprintf(ns1, sizeof(ns1), "urn:riv:crm:scheduling:%sResponder:1", name);
    snprintf(ns11, sizeof(ns11), "urn:riv:crm:scheduling:%sResponder:1.1",
             name);
    xmlDocSetRootElement(doc, env);
    s_ns = xmlNewNs(env, BAD_CAST SOAP_NS, BAD_CAST "soapenv");
    reg_ns = xmlNewNs(env, BAD_CAST "urn:riv:itintegration:registry:1",
                      BAD_CAST "reg");
    hdr_ns = xmlNewNs(env, BAD_CAST "urn:riv:interoperability:headers:1",
                      BAD_CAST "hdr");
    q_ns = xmlNewNs(env, BAD_CAST ns1, BAD_CAST "q");
    qx_ns = xmlNewNs(env, BAD_CAST ns11, BAD_CAST "qx");
    xmlSetNs(env, s_ns);
    hdr = xmlNewChild(env, s_ns, BAD_CAST "Header", NULL);
    xmlNewTextChild(hdr, reg_ns, BAD_CAST "LogicalAddress",
                    BAD_CAST q->logical_address);
    actor = xmlNewChild(hdr, hdr_ns, BAD_CAST "Actor", NULL);
    xmlNewTextChild(actor, hdr_ns, BAD_CAST "actorId",
                    BAD_CAST q->subject_of_care);
    xmlNewTextChild(actor, hdr_ns, BAD_CAST "actorType", BAD_CAST at);
    req = xmlNewChild(xmlNewChild(env, s_ns, BAD_CAST "Body", NULL), q_ns,
                      BAD_CAST name, NULL);
    xmlNewTextChild(req, q_ns, BAD_CAST "healthcare_facility",
                    BAD_CAST q->logical_address);
    if (c != RIV_GET_ALL_TIME_TYPES) {
        clock_format_riv_date(q->first_day, day);
        xmlNewTextChild(req, q_ns, BAD_CAST "startDateInclusive", BAD_CAST day);
        clock_format_riv_date(q->last_day, day);
        xmlNewTextChild(req, q_ns, BAD_CAST "endDateInclusive", BAD_CAST day);
        if (q->time_type_id != NULL && q->time_type_id[0] != '\0')
            xmlNewTextChild(req, q_ns, BAD_CAST "timeTypeID",
                            BAD_CAST q->time_type_id);
    }
    xmlNewTextChild(req, qx_ns, BAD_CAST "subject_of_care",
                    BAD_CAST q->subject_of_care);
    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 0);
    assert_non_null(mem);
    out = strndup((const char *)mem, (size_t)size);
    assert_non_null(out);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}

/* Template == tree serializer, byte for byte, over escapes, non-ASCII,
 * CR/LF/TAB, every contract, with and without a time type. */
static void test_envelope_template_equals_tree(void **state)
{
    static const char *las[] = {
        "SE2321000016-F1Z1",
        "SE2321000016-<A&B>\"'x]]>",
        "&&&",
        "<>",
        "a\rb\nc\td",
        "Vårdcentral Åsa \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
        "&lt;already&amp;",
        " lead and trail ",
        "x"
    };
    static const char *ids[] = { "191212121212", "19121212&<1>", "\r\r" };
    static const char *tts[] = { NULL, "", "FYS-NY", "T<&>", "\xc3\xa5\r" };
    static const char *actors[] = { NULL, "", "subject_of_care",
                                    "subject_of_care_agent" };
    static const enum riv_contract cs[] = { RIV_GET_AVAILABLE_DATES,
                                            RIV_GET_AVAILABLE_TIMESLOTS,
                                            RIV_GET_ALL_TIME_TYPES };
    size_t a, b, t, k, i, cases = 0;

    (void)state;
    for (a = 0; a < sizeof(las) / sizeof(las[0]); a++)
        for (b = 0; b < sizeof(ids) / sizeof(ids[0]); b++)
            for (t = 0; t < sizeof(tts) / sizeof(tts[0]); t++)
                for (k = 0; k < sizeof(actors) / sizeof(actors[0]); k++)
                    for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
                        struct riv_query q = base_query;
                        struct sf_error err;
                        char *want, *got;

                        q.logical_address = las[a];
                        q.subject_of_care = ids[b];
                        q.time_type_id = tts[t];
                        q.actor_type = actors[k];
                        q.first_day = (a & 1) ? D_0406 : D_0326;
                        q.last_day = (a & 1) ? D_0406 : D_0408;
                        want = tree_envelope(cs[i], &q);
                        got = riv_build_envelope(cs[i], &q, &err);
                        assert_non_null(got);
                        if (strcmp(want, got) != 0)
                            fail_msg("template differs:\nwant %s\ngot  %s",
                                     want, got);
                        free(want);
                        free(got);
                        cases++;
                    }
    assert_int_equal(cases, 9 * 3 * 5 * 4 * 3);
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
        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err), -1);
        assert_int_equal(err.code, SF_ERR_FAULT);
        assert_null(strstr(err.msg, "1212"));
        assert_non_null(strstr(err.msg,
                               "bad subject_of_care [personnummer] / "
                               "[personnummer] / [personnummer]; unit"));
        assert_non_null(strstr(err.msg, "SE2321000016-F1Z1"));
        assert_non_null(strstr(err.msg, "s:Client"));
    }

    /* an identity straddling the quote limit is not cut in half */
    {
        char e[1024];
        int n = snprintf(e, sizeof(e),
                         "<s:Fault xmlns:s='" SOAP_NS "'><faultcode>s:Server"
                         "</faultcode><faultstring>%0195d 191212121212 tail"
                         "</faultstring></s:Fault>",
                         0);

        assert_int_equal(riv_parse_timeslots(e, (size_t)n, &s, NULL, &err), -1);
        assert_int_equal(err.code, SF_ERR_FAULT);
        assert_null(strstr(err.msg, "1212"));
        assert_null(strstr(err.msg, "tail")); /* quote is bounded */
    }

    /* the quoted fault text is one line and bounded */
    body = read_fixture("fault_server.xml", &len);
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), -1);
    assert_null(strchr(err.msg, '\n'));
    assert_null(strchr(err.msg, '\t'));
    free(body);
}

/* Hostile fixtures with a personnummer in every spelling, in
 * a fault and in slot names: nothing of the number is left. */
static bool holds_number(const char *s)
{
    return s != NULL &&
           (strstr(s, "9876") != NULL || strstr(s, "9873") != NULL ||
            strstr(s, "811218") != NULL);
}

static void test_personnummer_fixtures(void **state)
{
    struct avail_slots s;
    struct sf_error err;
    size_t len, skipped = 0;
    char *body = read_fixture("fault_pnr.xml", &len);

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_FAULT);
    if (holds_number(err.msg))
        fail_msg("%s", err.msg);
    assert_non_null(strstr(err.msg, "subject_of_care [personnummer] / "
                                    "[personnummer] / [personnummer] / "
                                    "[personnummer] / [personnummer] / "
                                    "[personnummer] / [personnummer] / "
                                    "[personnummer] / [personnummer] not"));
    assert_non_null(strstr(err.msg, "soap:Client [personnummer]"));
    free(body);

    body = read_fixture("timeslots_pnr.xml", &len);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), 0);
    assert_int_equal(s.n, 2);
    for (size_t i = 0; i < s.n; i++) {
        assert_false(holds_number(s.v[i].practitioner));
        assert_false(holds_number(s.v[i].service));
        assert_false(holds_number(s.v[i].service_id));
    }
    assert_string_equal(s.v[0].practitioner, "Berg, Anna [personnummer]");
    assert_string_equal(s.v[0].service, "Nybes\xc3\xb6k f\xc3\xb6r "
                                        "[personnummer]");
    assert_string_equal(s.v[0].service_id, "T-[personnummer]");
    assert_string_equal(s.v[1].practitioner, "Berg, Anna [personnummer]");
    avail_slots_clear(&s);
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
    assert_int_equal(avail_slots_add(&s, 1, 2, "Kept, Earlier", NULL, NULL), 0);

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
    assert_int_equal(riv_parse_timeslots("{\"slots\":[]}", 12, &s, NULL, &err),
                     -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    /* well-formed but something else entirely */
    assert_int_equal(riv_parse_timeslots("<a xmlns='urn:x'/>", 18, &s, NULL,
                                         &err),
                     -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    /* SOAP envelope without a response */
    {
        const char *e = "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body/>"
                        "</s:Envelope>";

        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err), -1);
        assert_int_equal(err.code, SF_ERR_PARSE);
    }
    /* trailing garbage after the root */
    {
        const char *e = "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:"
                        "crm:scheduling:GetAvailableTimeslotsResponder:1'/>"
                        "<junk/>";

        assert_int_equal(riv_parse_timeslots(e, strlen(e), &s, NULL, &err), -1);
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
    static const char *const files[] = { "xxe.xml", "billion_laughs.xml",
                                         "dtd_envelope.xml" };
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
    static const char *const files[] = { "not_xml.html", "truncated.xml",
                                         "xxe.xml", "billion_laughs.xml",
                                         "fault_server.xml" };
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

#define SX_OPEN_MEMO                                                    \
    "<?xml version='1.0' encoding='UTF-8'?>"                            \
    "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body>"                        \
    "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:" \
    "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"

static void test_large_body(void **state)
{
    enum {
        N = 10000
    };
    size_t cap = 512 + (size_t)N * 400, len = 0;
    char *body = malloc(cap);
    struct avail_slots s;
    struct sf_error err;
    size_t skipped = 0;

    (void)state;
    assert_non_null(body);
    len += (size_t)snprintf(
        body + len, cap - len,
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body>"
        "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:"
        "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>");
    for (int i = 0; i < N; i++) {
        /* 2026-01-05 .. : day i/20, 20 slots of 15 min from 08:00 */
        int day = 5 + (i / 20) % 20, month = 1 + (i / 400) % 12;
        int min = 8 * 60 + (i % 20) * 15;

        len += (size_t)snprintf(
            body + len, cap - len,
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

/* Display names are remembered per response (a few at a time): with more
 * distinct performers than it remembers, interleaved and repeated, in
 * spellings that map to the same or to other names, every slot still gets
 * riv_display_name of its own performerName. */
static void test_display_name_memo(void **state)
{
    static const char *const raw[] = {
        "Jacob Dalmo",     "Dalmo, Jacob",  " Jacob  Dalmo ", "Anna Berg",
        "Dr Anna Berg",    "Per Ek",        "leg. Per Ek",    "Eva Lind",
        "Lind, Eva Maria", "Olof Sjöström",
    };
    enum {
        NR = sizeof(raw) / sizeof(raw[0]),
        N = 60
    };
    size_t cap = 1024 + (size_t)N * 400, len = 0;
    char *body = malloc(cap);
    struct avail_slots s;
    struct sf_error err;

    (void)state;
    assert_non_null(body);
    len += (size_t)snprintf(body + len, cap - len, "%s", SX_OPEN_MEMO);
    for (int i = 0; i < N; i++) {
        /* a performer order that revisits names after 1..6 others */
        int k = (i * 7 + i / 5) % NR, min = 8 * 60 + i * 5;

        len += (size_t)snprintf(
            body + len, cap - len,
            "<r:timeslotDetail><c:startTimeInclusive>20260401%02d%02d00"
            "</c:startTimeInclusive><c:endTimeExclusive>20260401%02d%02d00"
            "</c:endTimeExclusive><c:performerName>%s</c:performerName>"
            "</r:timeslotDetail>",
            min / 60, min % 60, (min + 5) / 60, (min + 5) % 60, raw[k]);
    }
    len += (size_t)snprintf(body + len, cap - len,
                            "</r:GetAvailableTimeslotsResponse></s:Body>"
                            "</s:Envelope>");
    assert_true(len < cap);
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), 0);
    assert_int_equal(s.n, N);
    for (size_t i = 0; i < s.n; i++) {
        int k = ((int)i * 7 + (int)i / 5) % NR;
        char *want = riv_display_name(raw[k]);

        assert_non_null(want);
        assert_non_null(s.v[i].practitioner);
        assert_string_equal(s.v[i].practitioner, want);
        free(want);
    }
    avail_slots_clear(&s);
    free(body);
}

/*
 * The SAX walk (no tree) decides each element's role from its parent's and
 * collects text in pieces; these pin what the reader-based walk did.
 */
#define SX_OPEN                                                         \
    "<?xml version='1.0' encoding='UTF-8'?>"                            \
    "<s:Envelope xmlns:s='" SOAP_NS "'><s:Header/><s:Body>"             \
    "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:" \
    "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
#define SX_CLOSE "</r:GetAvailableTimeslotsResponse></s:Body></s:Envelope>"
#define SX_TIMES                                                  \
    "<c:startTimeInclusive>20260401080000</c:startTimeInclusive>" \
    "<c:endTimeExclusive>20260401083000</c:endTimeExclusive>"

/* One slot parsed from the timeslotDetail children `inner`. */
static void parse_one_slot(const char *inner, struct avail_slots *s)
{
    size_t len = strlen(SX_OPEN) + strlen(inner) + strlen(SX_CLOSE) + 64;
    char *body = malloc(len);
    struct sf_error err;

    assert_non_null(body);
    snprintf(body, len, "%s<r:timeslotDetail>%s</r:timeslotDetail>%s", SX_OPEN,
             inner, SX_CLOSE);
    avail_slots_init(s);
    if (riv_parse_timeslots(body, strlen(body), s, NULL, &err) != 0)
        fail_msg("parse failed: %s", err.msg);
    assert_int_equal(s->n, 1);
    free(body);
}

static void test_text_in_pieces(void **state)
{
    struct avail_slots s;

    (void)state;
    /* text, CDATA, references and comments join; a nested element's own
     * text is not the field's, the text around it is */
    parse_one_slot(
        SX_TIMES
        "<c:timeTypeName> Ny<![CDATA[bes\xc3\xb6k]]> &amp;&#32;r<!-- c -->"
        "ygg </c:timeTypeName>"
        "<c:timeTypeID>FYS<c:x>not this</c:x>-NY<c:y/></c:timeTypeID>",
        &s);
    assert_string_equal(s.v[0].service, "Nybes\xc3\xb6k & rygg");
    assert_string_equal(s.v[0].service_id, "FYS-NY");
    avail_slots_clear(&s);
}

static void test_field_cap_in_pieces(void **state)
{
    enum {
        PAD = 4095
    }; /* FIELD_MAX - 1 */
    char *inner = malloc(PAD + 512);
    struct avail_slots s;
    size_t n;

    (void)state;
    assert_non_null(inner);
    /* the cap falls inside a two-byte character that arrives as its own
     * piece (a character reference): it is cut before that character and
     * nothing after it is appended, as when the text was one whole node */
    n = (size_t)sprintf(inner, "%s<c:timeTypeName>", SX_TIMES);
    memset(inner + n, 'a', PAD);
    n += PAD;
    sprintf(inner + n, "&#233;bbb</c:timeTypeName>");
    parse_one_slot(inner, &s);
    assert_int_equal(strlen(s.v[0].service), PAD);
    assert_null(strchr(s.v[0].service, 'b'));
    avail_slots_clear(&s);
    free(inner);
}

/* An undeclared prefix is a namespace error libxml2 lets pass: such an
 * element is in no namespace with a prefixed name, never an unqualified
 * faultstring. */
static void test_unbound_prefix(void **state)
{
    static const char fault[] =
        "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body><s:Fault>"
        "<x:faultcode>s:Server</x:faultcode>"
        "<x:faultstring>VP004 no route</x:faultstring>"
        "</s:Fault></s:Body></s:Envelope>";
    static const char root[] = "<soap:Envelope><soap:Body/></soap:Envelope>";
    struct avail_slots s;
    struct sf_error err;

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(fault, sizeof(fault) - 1, &s, NULL,
                                         &err),
                     -1);
    assert_int_equal(err.code, SF_ERR_FAULT);
    assert_non_null(strstr(err.msg, "(no faultstring)"));
    assert_int_equal(riv_parse_timeslots(root, sizeof(root) - 1, &s, NULL,
                                         &err),
                     -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    assert_non_null(strstr(err.msg, "unexpected root element {}soap:Envelope"));
    avail_slots_clear(&s);
}

/* Only the Envelope's first Body and the Body's first response count;
 * items elsewhere are not read. */
static void test_only_first_body_and_response(void **state)
{
    static const char body[] =
        "<s:Envelope xmlns:s='" SOAP_NS "' "
        "xmlns:r='urn:riv:crm:scheduling:GetAvailableTimeslotsResponder:1' "
        "xmlns:c='urn:riv:crm:scheduling:1'><s:Body>"
        "<r:timeslotDetail>" SX_TIMES "</r:timeslotDetail>"
        "<r:GetAvailableTimeslotsResponse><r:timeslotDetail>" SX_TIMES
        "</r:timeslotDetail><r:x><r:timeslotDetail>" SX_TIMES
        "</r:timeslotDetail></r:x></r:GetAvailableTimeslotsResponse>"
        "<r:GetAvailableTimeslotsResponse><r:timeslotDetail>" SX_TIMES
        "</r:timeslotDetail></r:GetAvailableTimeslotsResponse>"
        "</s:Body><s:Body><r:GetAvailableTimeslotsResponse>"
        "<r:timeslotDetail>" SX_TIMES "</r:timeslotDetail>"
        "</r:GetAvailableTimeslotsResponse></s:Body></s:Envelope>";
    struct avail_slots s;
    struct sf_error err;

    (void)state;
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, sizeof(body) - 1, &s, NULL,
                                         &err),
                     0);
    assert_int_equal(s.n, 1);
    avail_slots_clear(&s);
}

/* Caps without a tree: nesting deeper than libxml2's 256 and a text run
 * over 10,000,000 bytes (the reader's text-node limit) are malformed. */
static void test_depth_and_text_caps(void **state)
{
    enum {
        DEEP = 300,
        RUN = 10000001
    };
    size_t cap = 256 + (size_t)DEEP * 8 + RUN, n;
    char *body = malloc(cap);
    struct avail_slots s;
    struct sf_error err;

    (void)state;
    assert_non_null(body);
    avail_slots_init(&s);
    n = (size_t)sprintf(body, "%s", SX_OPEN);
    for (int i = 0; i < DEEP; i++)
        n += (size_t)sprintf(body + n, "<c:x>");
    for (int i = 0; i < DEEP; i++)
        n += (size_t)sprintf(body + n, "</c:x>");
    n += (size_t)sprintf(body + n, "%s", SX_CLOSE);
    assert_int_equal(riv_parse_timeslots(body, n, &s, NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line"));

    n = (size_t)sprintf(body, "%s<r:x>", SX_OPEN);
    memset(body + n, 'a', RUN);
    n += RUN;
    n += (size_t)sprintf(body + n, "</r:x>%s", SX_CLOSE);
    assert_int_equal(riv_parse_timeslots(body, n, &s, NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    assert_non_null(strstr(err.msg, "line"));
    assert_int_equal(s.n, 0);
    free(body);
    avail_slots_clear(&s);
}

/* The good fixture's four slots, parsed again (the parser context is
 * reused: nothing of the previous parse may show). */
static void expect_fixture_slots(void)
{
    struct avail_slots s;
    struct sf_error err;
    size_t len, skipped = 0;
    char *body = read_fixture("timeslots_ok.xml", &len);

    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, &skipped, &err), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(skipped, 4);
    assert_int_equal(s.v[0].start, 1774596600);
    assert_string_equal(s.v[2].service, "Återbesök");
    avail_slots_clear(&s);
    free(body);
}

static void *parse_in_thread(void *arg)
{
    (void)arg;
    expect_fixture_slots();
    return NULL;
}

/* Each thread keeps one parser context between parses. A refused, capped
 * or stopped parse leaves nothing behind, a context whose dictionary a
 * body filled is dropped, and a thread's context goes with the thread
 * (ASan's leak check). */
static void test_context_reused(void **state)
{
    enum {
        NAMES = 3000
    };
    struct avail_slots s;
    struct sf_error err;
    size_t len, n;
    char *body;
    pthread_t t;

    (void)state;
    expect_fixture_slots();
    body = read_fixture("billion_laughs.xml", &len);
    expect_hostile(body, len, "billion_laughs");
    free(body);
    expect_fixture_slots();

    body = read_fixture("truncated.xml", &len);
    avail_slots_init(&s);
    assert_int_equal(riv_parse_timeslots(body, len, &s, NULL, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    free(body);
    expect_fixture_slots();

    /* Many distinct names, each a new dictionary entry. */
    body = malloc(256 + (size_t)NAMES * 24);
    assert_non_null(body);
    n = (size_t)sprintf(body, "%s", SX_OPEN);
    for (int i = 0; i < NAMES; i++)
        n += (size_t)sprintf(body + n, "<c:n%d/>", i);
    n += (size_t)sprintf(body + n, "%s", SX_CLOSE);
    assert_int_equal(riv_parse_timeslots(body, n, &s, NULL, &err), 0);
    assert_int_equal(s.n, 0);
    free(body);
    avail_slots_clear(&s);
    expect_fixture_slots();

    assert_int_equal(pthread_create(&t, NULL, parse_in_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    riv_parse_release();
    expect_fixture_slots();
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
    w->ctx.now = 1774512000; /* 2026-03-26 08:00Z */
    w->ctx.first_day = D_0326;
    w->ctx.last_day = D_0408;
}

static void check_request(const struct adapter_request *r, enum riv_contract c,
                          const char *start, const char *end,
                          const char *time_type)
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

static struct adapter_response canned(long status, const char *body, size_t len)
{
    struct adapter_response r = {
        .http_status = status,
        .body = body,
        .len = len,
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

/*
 * One poll of three answers (dates, then two timeslot spans, as in
 * test_conversation) into slots; returns the final status and sets *same
 * as the adapter left it.
 */
static enum adapter_status poll3(struct world *w, const char *const *b,
                                 const size_t *len, struct avail_slots *slots,
                                 bool *same)
{
    struct adapter_request req;
    struct adapter_response resp;
    struct sf_error err;
    enum adapter_status rc;
    void *st = NULL;

    memset(&req, 0, sizeof(req));
    avail_slots_truncate(slots, 0);
    *same = false;
    rc = adapter_rivta.begin(&w->ctx, &st, &req, &err);
    for (int i = 0; i < 3 && rc == ADAPTER_MORE; i++) {
        adapter_request_clear(&req);
        resp = canned(200, b[i], len[i]);
        rc = adapter_rivta.step(&w->ctx, st, &resp, slots, &req, &err);
    }
    adapter_request_clear(&req);
    adapter_rivta.end(st);
    avail_slots_sort(slots);
    return rc;
}

/*
 * Unchanged answers (adapter.h, ctx.same): a poll whose every answer is
 * the applied poll's ends DONE with no slots and *same set; one that
 * differs at any step gets exactly the slots a fresh parse gives (answers
 * held unparsed are parsed then); nothing is skipped when the last poll
 * was not applied, when the window moved, or when the caller keeps no
 * slots (ctx.same NULL).
 */
static void test_unchanged_answers(void **state)
{
    struct world w;
    struct avail_slots got, want;
    void *cache = NULL;
    bool same, fresh_same;
    size_t len[3], tl;
    char *dates = read_fixture("dates_ok.xml", &len[0]);
    char *ts = read_fixture("timeslots_ok.xml", &tl);
    const char *b[3] = { dates, ts, last_span_body };
    const char *later[3] = { dates, ts, NULL };
    const char *first_differs[3] = { dates, NULL, last_span_body };
    const char *empty = "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:"
                        "crm:scheduling:GetAvailableTimeslotsResponder:1'/>";

    (void)state;
    len[1] = tl;
    len[2] = strlen(last_span_body);
    world_init(&w);
    avail_slots_init(&got);
    avail_slots_init(&want);
    w.ctx.cache = &cache;
    w.ctx.same = &same;

    /* the first poll parses (nothing to match), 4 slots */
    assert_int_equal(poll3(&w, b, len, &got, &same), ADAPTER_DONE);
    assert_false(same);
    assert_int_equal(got.n, 4);
    avail_slots_share(&want, &got, 0);
    avail_slots_clear(&got);
    /* applied, then the same answers: nothing parsed, nothing added */
    w.ctx.last_applied = true;
    assert_int_equal(poll3(&w, b, len, &got, &same), ADAPTER_DONE);
    assert_true(same);
    assert_int_equal(got.n, 0);
    /* not applied (held, failed): parsed again whatever the answers */
    w.ctx.last_applied = false;
    assert_int_equal(poll3(&w, b, len, &got, &same), ADAPTER_DONE);
    assert_false(same);
    assert_true(avail_slots_equal(&got, &want));

    /* the last answer differs: the held one is parsed, then this one */
    {
        size_t l2[3] = { len[0], len[1], strlen(empty) };
        struct world f;

        later[2] = empty;
        w.ctx.last_applied = true;
        assert_int_equal(poll3(&w, later, l2, &got, &same), ADAPTER_DONE);
        assert_false(same);
        /* as a caller that keeps nothing parses them */
        f = w;
        f.ctx.cache = NULL;
        f.ctx.same = NULL;
        f.ctx.last_applied = false;
        assert_int_equal(poll3(&f, later, l2, &want, &fresh_same),
                         ADAPTER_DONE);
        assert_false(fresh_same);
        assert_int_equal(want.n, 3);
        assert_true(avail_slots_equal(&got, &want));
        /* and the memo is now this poll's */
        assert_int_equal(poll3(&w, later, l2, &got, &same), ADAPTER_DONE);
        assert_true(same);
    }
    /* the first timeslot answer differs: nothing was held yet */
    {
        size_t l3[3] = { len[0], strlen(empty), len[2] };
        struct world f;

        first_differs[1] = empty;
        assert_int_equal(poll3(&w, first_differs, l3, &got, &same),
                         ADAPTER_DONE);
        assert_false(same);
        f = w;
        f.ctx.cache = NULL;
        f.ctx.same = NULL;
        assert_int_equal(poll3(&f, first_differs, l3, &want, &fresh_same),
                         ADAPTER_DONE);
        assert_true(avail_slots_equal(&got, &want));
        assert_int_equal(got.n, 1);
    }
    /* the same answers to another window's questions are not the same */
    w.ctx.first_day++;
    assert_int_equal(poll3(&w, b, len, &got, &same), ADAPTER_DONE);
    assert_false(same);
    w.ctx.first_day--;
    /* and without a caller that keeps slots, never */
    w.ctx.same = NULL;
    assert_int_equal(poll3(&w, b, len, &got, &fresh_same), ADAPTER_DONE);
    assert_int_equal(got.n, 4);

    adapter_rivta.cache_free(cache);
    avail_slots_clear(&got);
    avail_slots_clear(&want);
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
    w.clinic.booking.url = "http://127.0.0.1:1/vp"; /* no slash */
    w.region.riv_actor_type = NULL;
    avail_slots_init(&slots);
    memset(&req, 0, sizeof(req));
    len += (size_t)
        snprintf(body + len, sizeof(body) - len,
                 "<d:GetAvailableDatesResponse xmlns:d='urn:riv:crm:scheduling:"
                 "GetAvailableDatesResponder:1'>");
    /* 2026-03-20 (outside) then 03-26 .. 04-08, then 04-10 (outside) */
    {
        static const char *const ds[] = { "20260320", "20260326", "20260327",
                                          "20260328", "20260329", "20260330",
                                          "20260331", "20260401", "20260402",
                                          "20260403", "20260404", "20260405",
                                          "20260406", "20260407", "20260408",
                                          "20260410" };

        for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
            len += (size_t)snprintf(
                body + len, sizeof(body) - len,
                "<d:performerAvailabilityByDate><d:healthcare_facility>X"
                "</d:healthcare_facility><d:date>%s</d:date>"
                "</d:performerAvailabilityByDate>",
                ds[i]);
    }
    len += (size_t)snprintf(body + len, sizeof(body) - len,
                            "</d:GetAvailableDatesResponse>");
    assert_true(len < sizeof(body));

    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    check_request(&req, RIV_GET_AVAILABLE_DATES, "20260326", "20260408", NULL);
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
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, err), ADAPTER_MORE);
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
        assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req,
                                            &err),
                         ADAPTER_ERROR);
        assert_int_equal(err.code, SF_ERR_NOT_CONNECTED);
        adapter_rivta.end(st);

        st = NULL;
        assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                         ADAPTER_MORE);
        adapter_request_clear(&req);
        resp = canned(404, "Not Found", 9);
        assert_int_equal(adapter_rivta.step(&w.ctx, st, &resp, &slots, &req,
                                            &err),
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

/* --- GetAllTimeTypes and the time-type mapping ----------------------------- */

static void test_parse_time_types(void **state)
{
    struct riv_time_types tt = { NULL, 0 };
    struct sf_error err;
    struct errbuf eb = { { 0 } };
    struct xq x;
    size_t len;
    char *body = read_fixture("time_types_ok.xml", &len);
    /* a repeated id, an entry without id, and an empty name */
    static const char odd[] =
        "<t:GetAllTimeTypesResponse xmlns:t='urn:riv:crm:scheduling:"
        "GetAllTimeTypesResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
        "<t:ListOfTimeTypes><c:timeTypeName>A</c:timeTypeName>"
        "<c:timeTypeId>T1</c:timeTypeId></t:ListOfTimeTypes>"
        "<t:ListOfTimeTypes><c:timeTypeName>no id</c:timeTypeName>"
        "</t:ListOfTimeTypes>"
        /* timeTypeID (capital D) is the timeslot spelling: not an id here */
        "<t:ListOfTimeTypes><c:timeTypeName>wrong case</c:timeTypeName>"
        "<c:timeTypeID>T9</c:timeTypeID></t:ListOfTimeTypes>"
        "<t:ListOfTimeTypes><c:timeTypeName>again</c:timeTypeName>"
        "<c:timeTypeId>T1</c:timeTypeId></t:ListOfTimeTypes>"
        "<t:ListOfTimeTypes><c:timeTypeName></c:timeTypeName>"
        "<c:timeTypeId> T2 </c:timeTypeId></t:ListOfTimeTypes>"
        "</t:GetAllTimeTypesResponse>";

    (void)state;
    /* The fixture is a valid response per the contract's own XSD. */
    xq_open(&x, body, RIV_GET_ALL_TIME_TYPES);
    if (validate_node(responder_xsd(RIV_GET_ALL_TIME_TYPES),
                      xq_node(&x, "/s:Envelope/s:Body/*"), &eb) != 0)
        fail_msg("fixture invalid: %s", eb.text);
    xq_close(&x);

    sf_error_clear(&err);
    assert_int_equal(riv_parse_time_types(body, len, &tt, &err), 0);
    assert_int_equal(tt.n, 3);
    assert_string_equal(tt.v[0].id, "FYS-NY");
    assert_string_equal(tt.v[0].name, "Nybesök fysioterapeut 60 min");
    assert_string_equal(tt.v[1].id, "FYS-ATER");
    assert_string_equal(tt.v[1].name, "Återbesök fysioterapeut");
    assert_string_equal(tt.v[2].id, "LAB-X");

    /* parsing again replaces the old content */
    assert_int_equal(riv_parse_time_types(odd, strlen(odd), &tt, &err), 0);
    assert_int_equal(tt.n, 2);
    assert_string_equal(tt.v[0].id, "T1");
    assert_string_equal(tt.v[0].name, "A");
    assert_string_equal(tt.v[1].id, "T2");
    assert_null(tt.v[1].name);
    riv_time_types_clear(&tt);
    assert_int_equal(tt.n, 0);
    free(body);

    /* faults and refusals as for the other contracts; *out untouched */
    body = read_fixture("fault_vp007.xml", &len);
    assert_int_equal(riv_parse_time_types(body, len, &tt, &err), -1);
    assert_int_equal(err.code, SF_ERR_NOT_CONNECTED);
    assert_non_null(strstr(err.msg, "GetAllTimeTypes"));
    assert_int_equal(tt.n, 0);
    free(body);
    body = read_fixture("xxe.xml", &len);
    assert_int_equal(riv_parse_time_types(body, len, &tt, &err), -1);
    assert_int_equal(err.code, SF_ERR_HOSTILE);
    free(body);
    body = read_fixture("dates_ok.xml", &len);
    assert_int_equal(riv_parse_time_types(body, len, &tt, &err), -1);
    assert_int_equal(err.code, SF_ERR_PARSE);
    free(body);
}

/* The clinic's local types: two new-visit types and one follow-up. */
static struct conf_time_type tt_map[] = {
    { "FYS-NY", "Nybesök fysioterapeut", true },
    { "FYS-NY-RYGG", "Nybesök fysioterapeut, rygg", true },
    { "FYS-ATER", "Återbesök fysioterapeut", false },
};

/* One request seen by tt_converse, checked against the XSDs. */
struct seen_req {
    enum riv_contract c;
    char url[160];
    char soap_action[160];
    char tt[32]; /* timeTypeID sent, "" when none */
    char start[9], end[9];
};

#define TT_MAX_REQ 8

struct tt_run {
    enum adapter_status rc;
    struct sf_error err;
    struct avail_slots slots;
    struct seen_req req[TT_MAX_REQ];
    int nreq;
};

static enum riv_contract contract_of(const char *label)
{
    if (strcmp(label, "GetAvailableDates") == 0)
        return RIV_GET_AVAILABLE_DATES;
    if (strcmp(label, "GetAvailableTimeslots") == 0)
        return RIV_GET_AVAILABLE_TIMESLOTS;
    assert_string_equal(label, "GetAllTimeTypes");
    return RIV_GET_ALL_TIME_TYPES;
}

/* Record and validate req (every request the adapter makes). */
static void see(struct tt_run *r, const struct adapter_request *req)
{
    struct seen_req *s;
    struct errbuf eb = { { 0 } };
    struct xq x;

    assert_true(r->nreq < TT_MAX_REQ);
    s = &r->req[r->nreq++];
    memset(s, 0, sizeof(*s));
    s->c = contract_of(req->label);
    snprintf(s->url, sizeof(s->url), "%s", req->url);
    snprintf(s->soap_action, sizeof(s->soap_action), "%s", req->soap_action);
    assert_non_null(req->body);
    if (validate_request(req->body, s->c, &eb) != 0)
        fail_msg("%s request invalid: %s", req->label, eb.text);
    xq_open(&x, req->body, s->c);
    if (xq_count(&x, "//q:timeTypeID") == 1)
        xq_text(&x, "//q:timeTypeID", s->tt, sizeof(s->tt));
    if (s->c != RIV_GET_ALL_TIME_TYPES) {
        xq_text(&x, "//q:startDateInclusive", s->start, sizeof(s->start));
        xq_text(&x, "//q:endDateInclusive", s->end, sizeof(s->end));
    }
    xq_close(&x);
}

/* Answer the adapter's requests with bodies[] in order (all HTTP 200). */
static void tt_converse(struct world *w, const char *const *bodies, int nbodies,
                        struct tt_run *r)
{
    struct adapter_request req;
    struct adapter_response resp;
    void *st = NULL;
    int i = 0;

    memset(r, 0, sizeof(*r));
    avail_slots_init(&r->slots);
    memset(&req, 0, sizeof(req));
    r->rc = adapter_rivta.begin(&w->ctx, &st, &req, &r->err);
    while (r->rc == ADAPTER_MORE) {
        see(r, &req);
        adapter_request_clear(&req);
        if (i == nbodies)
            fail_msg("adapter asked for request %d; only %d answers", i + 1,
                     nbodies);
        resp = canned(200, bodies[i], strlen(bodies[i]));
        i++;
        r->rc =
            adapter_rivta.step(&w->ctx, st, &resp, &r->slots, &req, &r->err);
    }
    assert_null(req.url);
    adapter_rivta.end(st);
    if (r->rc == ADAPTER_DONE)
        avail_slots_sort(&r->slots);
}

#define TT_OPEN                                                   \
    "<t:GetAllTimeTypesResponse xmlns:t='urn:riv:crm:scheduling:" \
    "GetAllTimeTypesResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
#define TT_ITEM(id)                                                          \
    "<t:ListOfTimeTypes><c:timeTypeName>x</c:timeTypeName><c:timeTypeId>" id \
    "</c:timeTypeId></t:ListOfTimeTypes>"
#define TT_CLOSE "</t:GetAllTimeTypesResponse>"
#define DATES_OPEN                                                  \
    "<d:GetAvailableDatesResponse xmlns:d='urn:riv:crm:scheduling:" \
    "GetAvailableDatesResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
#define DATE(d)                                                       \
    "<d:performerAvailabilityByDate><c:healthcare_facility>"          \
    "SE2321000016-F1Z1</c:healthcare_facility><c:date>" d "</c:date>" \
    "</d:performerAvailabilityByDate>"
#define DATES_CLOSE "</d:GetAvailableDatesResponse>"
#define TS_OPEN                                                         \
    "<r:GetAvailableTimeslotsResponse xmlns:r='urn:riv:crm:scheduling:" \
    "GetAvailableTimeslotsResponder:1' xmlns:c='urn:riv:crm:scheduling:1'>"
/* a 30-minute slot at local wall time ts, of time type id (or none) */
#define SLOT(ts, te, extra)                                                  \
    "<r:timeslotDetail><c:startTimeInclusive>" ts "</c:startTimeInclusive>"  \
    "<c:endTimeExclusive>" te "</c:endTimeExclusive><c:healthcare_facility>" \
    "SE2321000016-F1Z1</c:healthcare_facility>" extra "</r:timeslotDetail>"
#define TT_NAME_ID(name, id)                                     \
    "<c:timeTypeName>" name "</c:timeTypeName><c:timeTypeID>" id \
    "</c:timeTypeID>"
#define TS_CLOSE "</r:GetAvailableTimeslotsResponse>"

/*
 * Instants (CET, +01:00, before the 2026-03-29 switch): 2026-03-27 is day
 * 20539, its 00:00Z is 20539 * 86400 = 1774569600; 08:00 local = 07:00Z =
 * 1774594800, 09:00 = 1774598400, 10:00 = 1774602000, 11:00 = 1774605600.
 * CEST (+02:00): 2026-04-02 (day 20545) 10:00 local = 08:00Z =
 * 20545 * 86400 + 28800 = 1775116800.
 */
#define T0327_0800 1774594800
#define T0327_0900 1774598400
#define T0327_1000 1774602000
#define T0402_1000 1775116800

static void test_time_type_mapping(void **state)
{
    struct world w;
    struct tt_run r;
    struct avail_result res;
    const struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    static const char *const bodies[] = {
        /* the unit offers FYS-NY, FYS-ATER and LAB-X, not FYS-NY-RYGG */
        TT_OPEN TT_ITEM("FYS-NY") TT_ITEM("FYS-ATER") TT_ITEM("LAB-X") TT_CLOSE,
        DATES_OPEN DATE("20260327") DATES_CLOSE,
        /* the producer returns more than asked (sloppy filter): a
         * follow-up slot before the new-visit one, an unmapped one, and
         * one without timeTypeID (= the type asked for) */
        TS_OPEN SLOT("20260327080000", "20260327083000",
                     TT_NAME_ID("Återbesök 30", "FYS-ATER"))
            SLOT("20260327090000", "20260327093000",
                 TT_NAME_ID("Nybesök 60 min lokal text", "FYS-NY"))
                SLOT("20260327100000", "20260327103000", "")
                    SLOT("20260327110000", "20260327113000",
                         TT_NAME_ID("Provtagning", "LAB-X")) TS_CLOSE,
    };

    (void)state;
    world_init(&w);
    w.clinic.booking.time_type_id = NULL;
    w.clinic.booking.time_types = tt_map;
    w.clinic.booking.ntime_types = 3;
    tt_converse(&w, bodies, 3, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    /* GetAllTimeTypes (more than one mapped id), then one Dates ->
     * Timeslots conversation for the one offered new-visit type. */
    assert_int_equal(r.nreq, 3);
    assert_int_equal(r.req[0].c, RIV_GET_ALL_TIME_TYPES);
    assert_string_equal(r.req[0].url, "http://127.0.0.1:1/vp/crm/scheduling/"
                                      "GetAllTimeTypes/1/rivtabp21");
    assert_string_equal(r.req[0].soap_action,
                        "urn:riv:crm:scheduling:"
                        "GetAllTimeTypesResponder:1:GetAllTimeTypes");
    assert_int_equal(r.req[1].c, RIV_GET_AVAILABLE_DATES);
    assert_string_equal(r.req[1].tt, "FYS-NY");
    assert_string_equal(r.req[1].start, "20260326");
    assert_string_equal(r.req[1].end, "20260408");
    assert_int_equal(r.req[2].c, RIV_GET_AVAILABLE_TIMESLOTS);
    assert_string_equal(r.req[2].tt, "FYS-NY");
    assert_string_equal(r.req[2].start, "20260327");
    assert_string_equal(r.req[2].end, "20260327");

    /* LAB-X dropped; the others carry OUR service names */
    assert_int_equal(r.slots.n, 3);
    assert_int_equal(r.slots.v[0].start, T0327_0800);
    assert_string_equal(r.slots.v[0].service, "Återbesök fysioterapeut");
    assert_string_equal(r.slots.v[0].service_id, "FYS-ATER");
    assert_true(r.slots.v[0].follow_up);
    assert_int_equal(r.slots.v[1].start, T0327_0900);
    assert_string_equal(r.slots.v[1].service, "Nybesök fysioterapeut");
    assert_false(r.slots.v[1].follow_up);
    assert_int_equal(r.slots.v[2].start, T0327_1000);
    assert_string_equal(r.slots.v[2].service_id, "FYS-NY");
    assert_string_equal(r.slots.v[2].service, "Nybesök fysioterapeut");
    assert_false(r.slots.v[2].follow_up);
    assert_false(slots_mention(&r.slots, "LAB-X"));
    assert_false(slots_mention(&r.slots, "lokal text"));

    /* first_free is the first NEW-VISIT slot (09:00), not the 08:00
     * follow-up; both new-visit slots are within the guarantee (03-26 +
     * 3 = 03-29), the follow-up is published but does not count. */
    avail_compute(&r.slots, w.ctx.now, &rule, &res);
    assert_true(res.has_first_free);
    assert_int_equal(res.first_free, T0327_0900);
    assert_true(res.within_guarantee);
    assert_int_equal(res.free_slots_within_guarantee, 2);
    assert_int_equal(res.free_slots, 3);
    avail_slots_clear(&r.slots);
}

/* Only a follow-up slot within the guarantee: not within the guarantee. */
static void test_time_type_follow_up_only(void **state)
{
    struct world w;
    struct tt_run r;
    struct avail_result res;
    const struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    static const char *const bodies[] = {
        DATES_OPEN DATE("20260327") DATE("20260402") DATES_CLOSE,
        TS_OPEN SLOT("20260327080000", "20260327083000",
                     TT_NAME_ID("Återbesök", "FYS-ATER"))
            SLOT("20260402100000", "20260402103000",
                 TT_NAME_ID("Nybesök", "FYS-NY")) TS_CLOSE,
    };
    static struct conf_time_type map2[] = {
        { "FYS-NY", "Nybesök fysioterapeut", true },
    };
    struct conf_time_type map3[2] = {
        { "FYS-NY", "Nybesök fysioterapeut", true },
        { "FYS-ATER", "Återbesök fysioterapeut", false },
    };

    (void)state;
    world_init(&w);
    w.clinic.booking.time_type_id = NULL;
    /* both types mapped, discovery off but two ids: GetAllTimeTypes */
    w.clinic.booking.time_types = map3;
    w.clinic.booking.ntime_types = 2;
    {
        static const char *const b3[] = {
            TT_OPEN TT_ITEM("FYS-NY") TT_ITEM("FYS-ATER") TT_CLOSE,
            DATES_OPEN DATE("20260327") DATE("20260402") DATES_CLOSE,
            TS_OPEN SLOT("20260327080000", "20260327083000",
                         TT_NAME_ID("Återbesök", "FYS-ATER"))
                SLOT("20260402100000", "20260402103000",
                     TT_NAME_ID("Nybesök", "FYS-NY")) TS_CLOSE,
        };

        tt_converse(&w, b3, 3, &r);
    }
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 3);
    /* follow-up types are never asked for: only new visits matter */
    assert_string_equal(r.req[1].tt, "FYS-NY");
    assert_string_equal(r.req[2].tt, "FYS-NY");
    assert_string_equal(r.req[2].start, "20260327");
    assert_string_equal(r.req[2].end, "20260402");
    assert_int_equal(r.slots.n, 2);
    avail_compute(&r.slots, w.ctx.now, &rule, &res);
    assert_false(res.within_guarantee);
    assert_int_equal(res.free_slots_within_guarantee, 0);
    assert_true(res.has_first_free);
    assert_int_equal(res.first_free, T0402_1000);
    assert_int_equal(res.free_slots, 2);
    avail_slots_clear(&r.slots);

    /* one mapped id and no discovery: no GetAllTimeTypes round trip; the
     * unmapped FYS-ATER slot is dropped */
    w.clinic.booking.time_types = map2;
    w.clinic.booking.ntime_types = 1;
    tt_converse(&w, bodies, 2, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 2);
    assert_int_equal(r.req[0].c, RIV_GET_AVAILABLE_DATES);
    assert_string_equal(r.req[0].tt, "FYS-NY");
    assert_int_equal(r.slots.n, 1);
    assert_int_equal(r.slots.v[0].start, T0402_1000);
    avail_slots_clear(&r.slots);

    /* discover_time_types with one id: asked; not offered -> no time,
     * after one request */
    w.clinic.booking.discover_time_types = true;
    {
        static const char *const b1[] = {
            TT_OPEN TT_ITEM("FYS-ATER") TT_CLOSE,
        };

        tt_converse(&w, b1, 1, &r);
    }
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 1);
    assert_int_equal(r.req[0].c, RIV_GET_ALL_TIME_TYPES);
    assert_int_equal(r.slots.n, 0);
    avail_slots_clear(&r.slots);
}

/* Two offered new-visit types: one Dates/Timeslots conversation each. */
static void test_time_type_per_type(void **state)
{
    struct world w;
    struct tt_run r;
    static const char *const bodies[] = {
        TT_OPEN TT_ITEM("FYS-NY-RYGG") TT_ITEM("FYS-NY") TT_CLOSE,
        DATES_OPEN DATE("20260327") DATES_CLOSE,
        TS_OPEN SLOT("20260327090000", "20260327093000", "") TS_CLOSE,
        DATES_OPEN DATES_CLOSE, /* the second type has no dates */
    };
    static const char *const fault_body =
        "<s:Envelope xmlns:s='" SOAP_NS "'><s:Body><s:Fault>"
        "<faultcode>s:Server</faultcode><faultstring>VP007 Authorization "
        "missing for serviceNamespace: x</faultstring></s:Fault></s:Body>"
        "</s:Envelope>";

    (void)state;
    world_init(&w);
    w.clinic.booking.time_type_id = NULL;
    w.clinic.booking.time_types = tt_map;
    w.clinic.booking.ntime_types = 3;
    tt_converse(&w, bodies, 4, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 4);
    /* config order, not the producer's */
    assert_string_equal(r.req[1].tt, "FYS-NY");
    assert_string_equal(r.req[2].tt, "FYS-NY");
    assert_int_equal(r.req[3].c, RIV_GET_AVAILABLE_DATES);
    assert_string_equal(r.req[3].tt, "FYS-NY-RYGG");
    assert_int_equal(r.slots.n, 1);
    assert_string_equal(r.slots.v[0].service_id, "FYS-NY");
    avail_slots_clear(&r.slots);

    /* a platform fault on GetAllTimeTypes fails the poll like the others */
    {
        const char *const fb[] = { fault_body };

        tt_converse(&w, fb, 1, &r);
    }
    assert_int_equal(r.rc, ADAPTER_ERROR);
    assert_int_equal(r.err.code, SF_ERR_NOT_CONNECTED);
    assert_non_null(strstr(r.err.msg, "GetAllTimeTypes"));
    avail_slots_clear(&r.slots);
}

/* Count lines holding needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* Unknown local types are logged once, not at every poll. */
static void test_time_type_unknown_logged_once(void **state)
{
    struct world w;
    struct tt_run r;
    void *cache = NULL;
    char path[] = "/tmp/test_rivta_log_XXXXXX";
    int fd = mkstemp(path), saved;
    static const char *const a[] = {
        TT_OPEN TT_ITEM("FYS-NY") TT_ITEM("LAB-X") TT_CLOSE,
        DATES_OPEN DATES_CLOSE,
    };
    static const char *const b[] = {
        TT_OPEN TT_ITEM("FYS-NY") TT_ITEM("LAB-X") TT_ITEM("RTG") TT_CLOSE,
        DATES_OPEN DATES_CLOSE,
    };

    (void)state;
    assert_true(fd >= 0);
    world_init(&w);
    w.clinic.booking.time_type_id = NULL;
    w.clinic.booking.time_types = tt_map;
    w.clinic.booking.ntime_types = 3;
    w.ctx.cache = &cache;
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    log_set_level(LOG_LVL_WARN);
    tt_converse(&w, a, 2, &r); /* logs LAB-X */
    avail_slots_clear(&r.slots);
    tt_converse(&w, a, 2, &r); /* same set: quiet */
    avail_slots_clear(&r.slots);
    tt_converse(&w, b, 2, &r); /* set changed: logs LAB-X,RTG */
    avail_slots_clear(&r.slots);
    tt_converse(&w, b, 2, &r);
    avail_slots_clear(&r.slots);
    fflush(stderr);
    log_quiet();
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    close(fd);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(count_in_file(path, "riv_time_types_unmapped"), 2);
    assert_int_equal(count_in_file(path, "types=LAB-X "), 1);
    assert_int_equal(count_in_file(path, "types=LAB-X,RTG "), 1);
    unlink(path);
    assert_non_null(cache);
    adapter_rivta.cache_free(cache);
}

/* booking.endpoints overrides one contract's URL and SOAPAction. */
static void test_endpoints_override(void **state)
{
    struct world w;
    struct tt_run r;
    struct conf_endpoint ep[] = {
        { "GetAvailableDates", "https://regional.example/tb/dates/v1",
          "urn:example:dates" },
        { "GetAvailableTimeslots", NULL, "urn:example:slots" },
    };
    static const char *const bodies[] = {
        DATES_OPEN DATE("20260327") DATES_CLOSE,
        TS_OPEN TS_CLOSE,
    };

    (void)state;
    world_init(&w);
    w.clinic.booking.endpoints = ep;
    w.clinic.booking.nendpoints = 2;
    tt_converse(&w, bodies, 2, &r);
    assert_int_equal(r.rc, ADAPTER_DONE);
    assert_int_equal(r.nreq, 2);
    assert_string_equal(r.req[0].url, "https://regional.example/tb/dates/v1");
    assert_string_equal(r.req[0].soap_action, "urn:example:dates");
    /* only the SOAPAction overridden: default URL */
    assert_string_equal(r.req[1].url, "http://127.0.0.1:1/vp/crm/scheduling/"
                                      "GetAvailableTimeslots/1/rivtabp21");
    assert_string_equal(r.req[1].soap_action, "urn:example:slots");
    avail_slots_clear(&r.slots);
}

/* booking.tls reaches every request; without it no TLS fields. */
static void test_tls_fields(void **state)
{
    struct world w;
    struct adapter_request req;
    struct sf_error err;
    void *st = NULL;

    (void)state;
    world_init(&w);
    memset(&req, 0, sizeof(req));
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    assert_null(req.tls_cert);
    assert_null(req.tls_key);
    assert_null(req.tls_ca);
    adapter_request_clear(&req);
    adapter_rivta.end(st);

    w.clinic.booking.tls_cert = "/etc/slotfeed/client.pem";
    w.clinic.booking.tls_key = "/etc/slotfeed/client.key";
    w.clinic.booking.tls_ca = "/etc/slotfeed/ca.pem";
    st = NULL;
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    assert_string_equal(req.tls_cert, "/etc/slotfeed/client.pem");
    assert_string_equal(req.tls_key, "/etc/slotfeed/client.key");
    assert_string_equal(req.tls_ca, "/etc/slotfeed/ca.pem");
    adapter_request_clear(&req);
    assert_null(req.tls_cert);
    adapter_rivta.end(st);
}

/* --- config: time_types, endpoints, tls -------------------------------------- */

/* A region with one clinic whose booking object is `booking` (JSON). */
static int parse_region(const char *booking, struct conf_region **out,
                        struct conf_errors *errs)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "{\"name\":\"T\",\"riv\":{\"subject_of_care\":\"191212121212\"},"
             "\"clinics\":[{\"id\":\"SE2321000016-F1Z1\",\"name\":\"C\","
             "\"municipality\":\"Kil\",\"operator\":\"region\","
             "\"booking\":%s}]}",
             booking);
    memset(errs, 0, sizeof(*errs));
    *out = NULL;
    return conf_parse(text, strlen(text), out, errs);
}

/* The config is refused with exactly one error line, equal to want. */
static void expect_conf_error(const char *booking, const char *want)
{
    struct conf_region *r;
    struct conf_errors errs;

    assert_int_equal(parse_region(booking, &r, &errs), -1);
    assert_null(r);
    if (errs.n != 1 || strcmp(errs.v[0], want) != 0)
        fail_msg("want \"%s\", got %zu errors, first \"%s\"", want, errs.n,
                 errs.n > 0 ? errs.v[0] : "");
    conf_errors_free(&errs);
}

#define RIVB \
    "\"adapter\":\"rivta-scheduling\",\"url\":\"https://vp.example/vp\""
#define P "$.clinics[0].booking"

static void test_conf_time_types_endpoints_tls(void **state)
{
    struct conf_region *r;
    struct conf_errors errs;
    const struct conf_booking *b;
    char booking[2048], want[512];
    const char *cert = FIXTURES "time_types_ok.xml"; /* any readable file */

    (void)state;
    snprintf(booking, sizeof(booking),
             "{" RIVB ",\"time_types\":{"
             "\"FYS-NY\":{\"service\":\"Nybesök fysioterapeut\","
             "\"new_visit\":true},"
             "\"FYS-ATER\":{\"new_visit\":false,\"service\":\"Återbesök\"}},"
             "\"discover_time_types\":true,"
             "\"endpoints\":{\"GetAllTimeTypes\":{\"url\":"
             "\"https://vp.example/tt\"},\"GetAvailableDates\":"
             "{\"soap_action\":\"urn:x:dates\"}},"
             "\"tls\":{\"cert\":\"%s\",\"key\":\"%s\",\"ca\":\"%s\"}}",
             cert, cert, cert);
    assert_int_equal(parse_region(booking, &r, &errs), 0);
    assert_int_equal(errs.n, 0);
    b = &r->clinics[0].booking;
    assert_int_equal(b->ntime_types, 2);
    assert_string_equal(b->time_types[0].id, "FYS-NY");
    assert_string_equal(b->time_types[0].service, "Nybesök fysioterapeut");
    assert_true(b->time_types[0].new_visit);
    assert_string_equal(b->time_types[1].id, "FYS-ATER");
    assert_false(b->time_types[1].new_visit);
    assert_true(b->discover_time_types);
    assert_int_equal(b->nendpoints, 2);
    assert_string_equal(b->endpoints[0].contract, "GetAllTimeTypes");
    assert_string_equal(b->endpoints[0].url, "https://vp.example/tt");
    assert_null(b->endpoints[0].soap_action);
    assert_string_equal(b->endpoints[1].contract, "GetAvailableDates");
    assert_null(b->endpoints[1].url);
    assert_string_equal(b->endpoints[1].soap_action, "urn:x:dates");
    assert_string_equal(b->tls_cert, cert);
    assert_string_equal(b->tls_key, cert);
    assert_string_equal(b->tls_ca, cert);
    conf_free(r);

    /* defaults: none of it */
    assert_int_equal(parse_region("{" RIVB "}", &r, &errs), 0);
    b = &r->clinics[0].booking;
    assert_int_equal(b->ntime_types, 0);
    assert_false(b->discover_time_types);
    assert_int_equal(b->nendpoints, 0);
    assert_null(b->tls_cert);
    conf_free(r);

    /* errors, each with its JSON path */
    expect_conf_error("{" RIVB ",\"time_types\":{\"FYS-NY\":{\"service\":"
                      "\"N\"}}}",
                      P ".time_types.FYS-NY: missing required key "
                        "\"new_visit\"");
    expect_conf_error("{" RIVB ",\"time_types\":{\"FYS-NY\":{\"service\":"
                      "\"N\",\"new_visit\":\"yes\"}}}",
                      P ".time_types.FYS-NY.new_visit: expected true or "
                        "false, got a string");
    expect_conf_error("{" RIVB ",\"time_types\":{\"FYS-NY\":{\"service\":"
                      "\"N\",\"new_visit\":true,\"newvisit\":1}}}",
                      P ".time_types.FYS-NY.newvisit: unknown key (did you "
                        "mean \"new_visit\"?)");
    expect_conf_error("{" RIVB ",\"time_types\":{\"A\":{\"service\":\"N\","
                      "\"new_visit\":false}}}",
                      P ".time_types: no time type has \"new_visit\": true "
                        "(nothing would count for the care guarantee)");
    expect_conf_error("{" RIVB ",\"time_types\":{}}",
                      P ".time_types: must map at least one time type");
    expect_conf_error("{" RIVB ",\"time_types\":{\"A\":{\"service\":\"N\","
                      "\"new_visit\":true},\"A\":{\"service\":\"M\","
                      "\"new_visit\":true}}}",
                      P ".time_types.A: duplicate time type id");
    expect_conf_error("{" RIVB ",\"time_type_id\":\"A\",\"time_types\":"
                      "{\"A\":{\"service\":\"N\",\"new_visit\":true}}}",
                      P ": \"time_type_id\" and \"time_types\" exclude each "
                        "other (list the type in time_types instead)");
    expect_conf_error("{" RIVB ",\"discover_time_types\":1}",
                      P ".discover_time_types: expected true or false, got "
                        "a number");
    expect_conf_error("{\"adapter\":\"fhir-slot\",\"url\":\"https://f.example/"
                      "fhir\",\"actor\":\"Location/1\",\"time_types\":{\"A\":"
                      "{\"service\":\"N\",\"new_visit\":true}}}",
                      P ".time_types: only used by the rivta-scheduling "
                        "adapter, not by fhir-slot");
    expect_conf_error("{" RIVB ",\"endpoints\":{\"GetAvailableDate\":"
                      "{\"url\":\"https://x.example/\"}}}",
                      P ".endpoints.GetAvailableDate: unknown key (did you "
                        "mean \"GetAvailableDates\"?)");
    expect_conf_error("{" RIVB ",\"endpoints\":{\"GetAvailableDates\":"
                      "{\"url\":\"ftp://x.example/\"}}}",
                      P ".endpoints.GetAvailableDates.url: \"ftp://x.example/"
                        "\" is not an http:// or https:// URL");
    expect_conf_error("{" RIVB ",\"endpoints\":{\"GetAvailableDates\":"
                      "{\"soap_action\":\"a\\\"b\"}}}",
                      P ".endpoints.GetAvailableDates.soap_action: must not "
                        "contain '\"'");
    expect_conf_error("{" RIVB ",\"endpoints\":{\"GetAllTimeTypes\":{}}}",
                      P ".endpoints.GetAllTimeTypes: expected \"url\" and/or "
                        "\"soap_action\"");
    expect_conf_error("{" RIVB ",\"tls\":{\"cert\":\"/nonexistent/c.pem\"}}",
                      P ".tls.cert: cannot read \"/nonexistent/c.pem\": No "
                        "such file or directory");
    snprintf(booking, sizeof(booking), "{" RIVB ",\"tls\":{\"ca\":\"%s\"}}",
             FIXTURES);
    snprintf(want, sizeof(want), P ".tls.ca: \"%s\" is not a regular file",
             FIXTURES);
    /* the path shown is cut at 60 bytes like every shown value */
    if (strlen(FIXTURES) <= 60)
        expect_conf_error(booking, want);
    snprintf(booking, sizeof(booking), "{" RIVB ",\"tls\":{\"key\":\"%s\"}}",
             cert);
    expect_conf_error(booking, P ".tls: \"key\" needs \"cert\"");
    expect_conf_error("{" RIVB ",\"tls\":{}}",
                      P ".tls: expected at least one of \"cert\", \"key\", "
                        "\"ca\"");
}

/* --- mutual TLS over loopback ------------------------------------------------ */

/*
 * A throwaway PKI made with the openssl CLI at test time in a private
 * temporary directory: CA "ca" signs the server (SAN IP:127.0.0.1) and the
 * client; "other" is an unrelated CA. `openssl s_server -Verify 1
 * -verify_return_error -www` on 127.0.0.1:<ephemeral> demands a client
 * certificate signed by ca and answers GET with a status page.
 */
struct tls_fx {
    char dir[64];
    pid_t pid;
    int out; /* s_server's stdout */
    int port;
    struct event_base *base;
};

static int run_cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run_cmd(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static void make_pki(const char *d)
{
    /* EC keys: fast; every file in d (mode 0700). */
    static const char *const key =
        "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

    assert_int_equal(run_cmd("cd %s && openssl req -x509 %s -keyout ca.key "
                             "-out ca.pem -days 2 -subj /CN=slotfeed-test-ca "
                             ">/dev/null 2>&1",
                             d, key),
                     0);
    assert_int_equal(run_cmd("cd %s && openssl req -x509 %s -keyout "
                             "other.key -out other.pem -days 2 -subj "
                             "/CN=other-ca >/dev/null 2>&1",
                             d, key),
                     0);
    assert_int_equal(run_cmd("cd %s && openssl req %s -keyout srv.key -out "
                             "srv.csr -subj /CN=127.0.0.1 >/dev/null 2>&1 && "
                             "printf 'subjectAltName=IP:127.0.0.1\\n' > "
                             "srv.ext && openssl x509 -req -in srv.csr -CA "
                             "ca.pem -CAkey ca.key -CAcreateserial -out "
                             "srv.pem -days 2 -extfile srv.ext >/dev/null "
                             "2>&1",
                             d, key),
                     0);
    assert_int_equal(run_cmd("cd %s && openssl req %s -keyout cli.key -out "
                             "cli.csr -subj /CN=slotfeed-client >/dev/null "
                             "2>&1 && openssl x509 -req -in cli.csr -CA "
                             "ca.pem -CAkey ca.key -CAcreateserial -out "
                             "cli.pem -days 2 >/dev/null 2>&1",
                             d, key),
                     0);
    assert_int_equal(run_cmd("cd %s && printf 'not a certificate\\n' > "
                             "junk.pem",
                             d),
                     0);
}

/* Start s_server and read its "ACCEPT 127.0.0.1:PORT" line (<= 10 s). */
static void start_server(struct tls_fx *t)
{
    int pfd[2];
    char buf[512], path[5][96];
    size_t n = 0;
    const char *names[] = { "srv.pem", "srv.key", "ca.pem" };

    for (int i = 0; i < 3; i++)
        snprintf(path[i], sizeof(path[i]), "%s/%s", t->dir, names[i]);
    assert_int_equal(pipe(pfd), 0);
    t->pid = fork();
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(pfd[1], 1);
        dup2(null, 2);
        dup2(null, 0);
        close(pfd[0]);
        execlp("openssl", "openssl", "s_server", "-accept", "127.0.0.1:0",
               "-cert", path[0], "-key", path[1], "-CAfile", path[2], "-Verify",
               "1", "-verify_return_error", "-www", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    t->out = pfd[0];
    t->port = 0;
    while (t->port == 0 && n < sizeof(buf) - 1) {
        struct pollfd p = { t->out, POLLIN, 0 };
        const char *a;
        ssize_t k;

        if (poll(&p, 1, 10000) != 1)
            fail_msg("openssl s_server did not start within 10 s");
        k = read(t->out, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0)
            fail_msg("openssl s_server exited before listening");
        n += (size_t)k;
        buf[n] = '\0';
        a = strstr(buf, "ACCEPT 127.0.0.1:");
        if (a != NULL && strchr(a, '\n') != NULL)
            t->port = atoi(a + strlen("ACCEPT 127.0.0.1:"));
    }
    assert_true(t->port > 0 && t->port < 65536);
}

struct tls_done {
    int done;
    enum sf_errclass cls;
    long status;
    char msg[256];
};

static void on_tls_done(const struct fetch_result *res, void *arg)
{
    struct tls_done *d = arg;

    d->done = 1;
    d->cls = res->err.code;
    d->status = res->http_status;
    snprintf(d->msg, sizeof(d->msg), "%s", res->err.msg);
}

/*
 * The rivta adapter's first request for a clinic with booking.tls set to
 * files of t's PKI (NULL: not set), sent as a GET to the s_server (it
 * answers GET only; the TLS handshake is what is under test).
 */
static struct tls_done tls_request(struct tls_fx *t, const char *cert,
                                   const char *key, const char *ca)
{
    struct world w;
    struct adapter_request req;
    struct fetch_opts o;
    struct fetch *f;
    struct sf_error err;
    struct tls_done d;
    char pc[96], pk[96], pa[96], url[64];
    void *st = NULL;

    memset(&d, 0, sizeof(d));
    world_init(&w);
    snprintf(pc, sizeof(pc), "%s/%s", t->dir, cert ? cert : "");
    snprintf(pk, sizeof(pk), "%s/%s", t->dir, key ? key : "");
    snprintf(pa, sizeof(pa), "%s/%s", t->dir, ca ? ca : "");
    w.clinic.booking.tls_cert = cert ? pc : NULL;
    w.clinic.booking.tls_key = key ? pk : NULL;
    w.clinic.booking.tls_ca = ca ? pa : NULL;
    memset(&req, 0, sizeof(req));
    assert_int_equal(adapter_rivta.begin(&w.ctx, &st, &req, &err),
                     ADAPTER_MORE);
    adapter_rivta.end(st);
    free(req.body);
    req.body = NULL;
    req.body_len = 0;
    free(req.url);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", t->port);
    req.url = strdup(url);
    assert_non_null(req.url);

    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = 5000;
    o.timeout_ms = 10000;
    o.max_body_bytes = 1 << 20;
    f = fetch_new(t->base, &o, &err);
    assert_non_null(f);
    assert_int_equal(fetch_start(f, &req, on_tls_done, &d, &err), 0);
    adapter_request_clear(&req);
    th_lo_run_until(t->base, &d.done, 15000);
    assert_int_equal(d.done, 1);
    fetch_free(f);
    return d;
}

static void test_mutual_tls_loopback(void **state)
{
    struct tls_fx t;
    struct tls_done d;

    (void)state;
    if (system("openssl version >/dev/null 2>&1") != 0) {
        th_skip("openssl CLI not found: mutual TLS test not run");
    }
    memset(&t, 0, sizeof(t));
    snprintf(t.dir, sizeof(t.dir), "/tmp/slotfeed-tls-XXXXXX");
    assert_non_null(mkdtemp(t.dir));
    make_pki(t.dir);
    start_server(&t);
    t.base = event_base_new();
    assert_non_null(t.base);

    /* client certificate + the right CA: handshake and HTTP 200 */
    d = tls_request(&t, "cli.pem", "cli.key", "ca.pem");
    if (d.cls != SF_ERR_NONE)
        fail_msg("with client cert: %s", d.msg);
    assert_int_equal(d.status, 200);

    /* no client certificate: the server refuses the handshake */
    d = tls_request(&t, NULL, NULL, "ca.pem");
    assert_int_equal(d.cls, SF_ERR_TRANSPORT);
    assert_int_equal(d.status, 0);

    /* a CA that did not sign the server: our verification fails */
    d = tls_request(&t, "cli.pem", "cli.key", "other.pem");
    assert_int_equal(d.cls, SF_ERR_TRANSPORT);
    assert_int_equal(d.status, 0);

    /* an unusable certificate file is a configuration problem */
    d = tls_request(&t, "junk.pem", "cli.key", "ca.pem");
    assert_int_equal(d.cls, SF_ERR_CONFIG);

    /* and the right setup still works after the failures */
    d = tls_request(&t, "cli.pem", "cli.key", "ca.pem");
    assert_int_equal(d.cls, SF_ERR_NONE);
    assert_int_equal(d.status, 200);

    kill(t.pid, SIGTERM);
    assert_int_equal(waitpid(t.pid, NULL, 0), t.pid);
    close(t.out);
    event_base_free(t.base);
    assert_int_equal(run_cmd("rm -rf %s", t.dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_names),
        cmocka_unit_test(test_envelopes_validate),
        cmocka_unit_test(test_broken_requests_fail_validation),
        cmocka_unit_test(test_envelope_escaping),
        cmocka_unit_test(test_envelope_bad_input),
        cmocka_unit_test(test_envelope_template_equals_tree),
        cmocka_unit_test(test_display_name),
        cmocka_unit_test(test_parse_timeslots_fixture),
        cmocka_unit_test(test_parse_default_ns_and_bare),
        cmocka_unit_test(test_parse_dates),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_personnummer_fixtures),
        cmocka_unit_test(test_not_xml_and_truncated),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_context_reused),
        cmocka_unit_test(test_no_stderr_noise),
        cmocka_unit_test(test_large_body),
        cmocka_unit_test(test_display_name_memo),
        cmocka_unit_test(test_text_in_pieces),
        cmocka_unit_test(test_field_cap_in_pieces),
        cmocka_unit_test(test_unbound_prefix),
        cmocka_unit_test(test_only_first_body_and_response),
        cmocka_unit_test(test_depth_and_text_caps),
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_unchanged_answers),
        cmocka_unit_test(test_conversation_spans),
        cmocka_unit_test(test_conversation_no_dates),
        cmocka_unit_test(test_conversation_errors),
        cmocka_unit_test(test_conversation_config),
        cmocka_unit_test(test_parse_time_types),
        cmocka_unit_test(test_time_type_mapping),
        cmocka_unit_test(test_time_type_follow_up_only),
        cmocka_unit_test(test_time_type_per_type),
        cmocka_unit_test(test_time_type_unknown_logged_once),
        cmocka_unit_test(test_endpoints_override),
        cmocka_unit_test(test_tls_fields),
        cmocka_unit_test(test_conf_time_types_endpoints_tls),
        cmocka_unit_test(test_mutual_tls_loopback),
    };

    return th_exit(cmocka_run_group_tests(tests, setup_quiet, NULL));
}
