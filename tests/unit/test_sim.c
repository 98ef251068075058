/*
 * test_sim.c - the booking-system simulator, over real HTTP on loopback.
 *
 * The simulator runs in-process on 127.0.0.1:<ephemeral>; an evhttp client
 * on the same base sends hand-written SOAP envelopes (not the rivta
 * adapter's), and answers are checked with libxml2 directly: against the
 * vendored Responder XSDs, against sim_schedule_day() (the ground truth,
 * itself checked against rules derived by hand: working days, hours,
 * lunch, DST offsets, free share per profile), and for the exact fault
 * strings of the platform profiles. "now" is fixed with clock_set_fake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/sim.h"

#include "th_skip.h"

#define SPEC SLOTFEED_SOURCE_DIR "/specs/riv-crm-scheduling-1.1/interactions/"
#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define CORE_NS "urn:riv:crm:scheduling:1"
#define VP "/vp/crm/scheduling/"
#define PATH_SLOTS VP "GetAvailableTimeslots/1/rivtabp21"
#define PATH_DATES VP "GetAvailableDates/1/rivtabp21"
#define PATH_TYPES VP "GetAllTimeTypes/1/rivtabp21"
#define SOC "191212121212"

#define ID_NORMAL "SE2321000156-T001"
#define ID_BUSY "SE2321000156-T002"
#define ID_FULL "SE2321000156-T003"
#define ID_VP004 "SE2321000156-T004"
#define ID_VP007 "SE2321000156-T005"
#define ID_ERROR "SE2321000156-T006"
#define ID_GARBAGE "SE2321000156-T007"
#define ID_HOSTILE "SE2321000156-T008"
#define ID_HANG "SE2321000156-T009"
#define ID_503 "SE2321000156-T010"
#define ID_OWNTT "SE2321000156-T011"

/* A region built by hand, so this test does not depend on conf files. */
static struct conf_clinic clinics[] = {
    { .id = ID_NORMAL,
      .name = "Fysio Normal & Söner <AB>",
      .sim_profile = "normal" },
    { .id = ID_BUSY, .name = "Fysio Busy", .sim_profile = "busy" },
    { .id = ID_FULL, .name = "Fysio Full", .sim_profile = "full" },
    { .id = ID_VP004, .name = "Fysio VP004", .sim_profile = "vp004" },
    { .id = ID_VP007, .name = "Fysio VP007", .sim_profile = "vp007" },
    { .id = ID_ERROR, .name = "Fysio Error", .sim_profile = "error" },
    { .id = ID_GARBAGE, .name = "Fysio Garbage", .sim_profile = "garbage" },
    { .id = ID_HOSTILE, .name = "Fysio Hostile", .sim_profile = "hostile" },
    { .id = ID_HANG, .name = "Fysio Hang", .sim_profile = "hang" },
    { .id = ID_503, .name = "Fysio 503", .sim_profile = "http503" },
    { .id = ID_OWNTT,
      .name = "Fysio Own Type",
      .sim_profile = NULL,
      .has_booking = true,
      .booking = { .adapter = "rivta-scheduling", .time_type_id = "FYS-NY" } },
};
static struct conf_region region = { .name = "test",
                                     .clinics = clinics,
                                     .nclinics =
                                         sizeof(clinics) / sizeof(clinics[0]) };

/* Tuesday 2026-03-10 10:05 in Stockholm (CET, +01:00). */
static int64_t test_now(void)
{
    return (int64_t)clock_days_from_civil(2026, 3, 10) * 86400 + 9 * 3600 +
           5 * 60;
}

/* --- fixture: one base, one sim, an evhttp client ------------------------ */

struct fx {
    struct event_base *base;
    struct sim *sim;
    int port;
};

static struct fx *fx_new(uint32_t seed, int latency_ms)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sim_opts o = { seed, latency_ms };
    struct sf_error err = { 0 };

    assert_non_null(f);
    f->base = event_base_new();
    assert_non_null(f->base);
    f->sim = sim_new(f->base, &region, "127.0.0.1", 0, &o, &err);
    if (f->sim == NULL)
        fail_msg("sim_new: %s", err.msg);
    f->port = sim_port(f->sim);
    assert_true(f->port > 0);
    return f;
}

static void fx_free(struct fx *f)
{
    sim_free(f->sim);
    event_base_free(f->base);
    free(f);
}

static int setup(void **state)
{
    clock_set_fake(test_now());
    *state = fx_new(7, 0);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    clock_set_fake(-1);
    return 0;
}

struct resp {
    int done;
    int status;
    char ctype[128];
    char *body;
    size_t len;
};

static void resp_clear(struct resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static void on_resp(struct evhttp_request *req, void *arg)
{
    struct resp *r = arg;
    const char *ct;
    struct evbuffer *in;

    r->done = 1;
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        r->status = -1;
        return;
    }
    r->status = evhttp_request_get_response_code(req);
    ct = evhttp_find_header(evhttp_request_get_input_headers(req),
                            "Content-Type");
    snprintf(r->ctype, sizeof(r->ctype), "%s", ct != NULL ? ct : "");
    in = evhttp_request_get_input_buffer(req);
    r->len = evbuffer_get_length(in);
    r->body = malloc(r->len + 1);
    assert_non_null(r->body);
    evbuffer_copyout(in, r->body, r->len);
    r->body[r->len] = '\0';
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until pred(arg) or ms pass; returns pred's last value. */
static bool run_until(struct event_base *base, bool (*pred)(void *), void *arg,
                      long ms)
{
    struct timeval step = { 0, 5000 }, t0, t1;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    bool ok;

    assert_non_null(tick);
    event_add(tick, &step);
    gettimeofday(&t0, NULL);
    while (!(ok = pred(arg))) {
        event_base_loop(base, EVLOOP_ONCE);
        gettimeofday(&t1, NULL);
        if ((t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_usec - t0.tv_usec) / 1000 >
            ms)
            break;
    }
    event_free(tick);
    return ok || pred(arg);
}

static bool resp_done(void *arg)
{
    return ((struct resp *)arg)->done != 0;
}

/* Send a request on a new connection; returns the connection (free it). */
static struct evhttp_connection *
start_request(struct fx *f, enum evhttp_cmd_type cmd, const char *path,
              const char *body, size_t len, struct resp *out)
{
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct evkeyvalq *h;

    conn = evhttp_connection_base_new(f->base, NULL, "127.0.0.1",
                                      (ev_uint16_t)f->port);
    assert_non_null(conn);
    evhttp_connection_set_timeout(conn, 10);
    req = evhttp_request_new(on_resp, out);
    assert_non_null(req);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "Content-Type", "text/xml; charset=UTF-8");
    evhttp_add_header(h, "SOAPAction", "\"urn:riv:crm:scheduling\"");
    if (body != NULL)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
    return conn;
}

/* One request/response round trip, bounded to 5 s. */
static void http_do(struct fx *f, enum evhttp_cmd_type cmd, const char *path,
                    const char *body, struct resp *out)
{
    struct evhttp_connection *conn;

    memset(out, 0, sizeof(*out));
    conn = start_request(f, cmd, path, body, body ? strlen(body) : 0, out);
    assert_true(run_until(f->base, resp_done, out, 5000));
    evhttp_connection_free(conn);
}

/* --- hand-written requests ----------------------------------------------- */

struct q {
    const char *contract; /* "GetAvailableTimeslots", ... */
    const char *la;       /* LogicalAddress header, NULL = none */
    const char *hf;       /* healthcare_facility, NULL = same as la */
    const char *d0, *d1;  /* DT */
    const char *tt;       /* timeTypeID or NULL */
    const char *soc;      /* subject_of_care or NULL = omit */
    bool soc_wrong_ns;    /* put subject_of_care in the :1 namespace */
};

static char *envelope(const struct q *q)
{
    char *buf = malloc(4096);
    const char *c = q->contract;
    int n;

    assert_non_null(buf);
    n = snprintf(buf, 4096,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<s:Envelope xmlns:s=\"" SOAP_NS "\""
                 " xmlns:reg=\"urn:riv:itintegration:registry:1\""
                 " xmlns:ih=\"urn:riv:interoperability:headers:1\""
                 " xmlns:m=\"urn:riv:crm:scheduling:%sResponder:1\""
                 " xmlns:mx=\"urn:riv:crm:scheduling:%sResponder:1.1\">"
                 "<s:Header>%s%s%s"
                 "<ih:Actor><ih:actorId>" SOC "</ih:actorId>"
                 "<ih:actorType>subject_of_care</ih:actorType></ih:Actor>"
                 "</s:Header><s:Body><m:%s>"
                 "<m:healthcare_facility>%s</m:healthcare_facility>"
                 "%s%s%s%s%s%s%s%s%s"
                 "%s%s%s%s%s"
                 "</m:%s></s:Body></s:Envelope>",
                 c, c, q->la ? "<reg:LogicalAddress>" : "", q->la ? q->la : "",
                 q->la ? "</reg:LogicalAddress>" : "", c,
                 q->hf ? q->hf : (q->la ? q->la : ""),
                 q->d0 ? "<m:startDateInclusive>" : "", q->d0 ? q->d0 : "",
                 q->d0 ? "</m:startDateInclusive>" : "",
                 q->d1 ? "<m:endDateInclusive>" : "", q->d1 ? q->d1 : "",
                 q->d1 ? "</m:endDateInclusive>" : "",
                 q->tt ? "<m:timeTypeID>" : "", q->tt ? q->tt : "",
                 q->tt ? "</m:timeTypeID>" : "",
                 q->soc ? (q->soc_wrong_ns ? "<m:subject_of_care>"
                                           : "<mx:subject_of_care>")
                        : "",
                 q->soc ? q->soc : "",
                 q->soc ? (q->soc_wrong_ns ? "</m:subject_of_care>"
                                           : "</mx:subject_of_care>")
                        : "",
                 "", "", c);
    assert_true(n > 0 && n < 4096);
    return buf;
}

static void soap(struct fx *f, const char *path, const struct q *q,
                 struct resp *out)
{
    char *body = envelope(q);

    http_do(f, EVHTTP_REQ_POST, path, body, out);
    free(body);
}

/* --- checking answers with libxml2 --------------------------------------- */

static xmlDoc *parse_strict(const struct resp *r)
{
    xmlDoc *d = xmlReadMemory(r->body, (int)r->len, "resp.xml", NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR |
                                  XML_PARSE_NOWARNING);
    assert_non_null(d);
    assert_null(d->intSubset); /* the simulator never sends a DTD unasked */
    return d;
}

static xmlXPathObject *xp(xmlDoc *d, const char *expr)
{
    xmlXPathContext *ctx = xmlXPathNewContext(d);
    xmlXPathObject *o;

    assert_non_null(ctx);
    xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST SOAP_NS);
    xmlXPathRegisterNs(ctx, BAD_CAST "c", BAD_CAST CORE_NS);
    xmlXPathRegisterNs(
        ctx, BAD_CAST "ts",
        BAD_CAST "urn:riv:crm:scheduling:GetAvailableTimeslotsResponder:1");
    xmlXPathRegisterNs(ctx, BAD_CAST "ad",
                       BAD_CAST
                       "urn:riv:crm:scheduling:GetAvailableDatesResponder:1");
    xmlXPathRegisterNs(ctx, BAD_CAST "tt",
                       BAD_CAST
                       "urn:riv:crm:scheduling:GetAllTimeTypesResponder:1");
    o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    assert_non_null(o);
    xmlXPathFreeContext(ctx);
    return o;
}

static int xp_count(xmlDoc *d, const char *expr)
{
    xmlXPathObject *o = xp(d, expr);
    int n = o->nodesetval ? o->nodesetval->nodeNr : 0;

    xmlXPathFreeObject(o);
    return n;
}

/* String value of expr (malloc'd). */
static char *xp_str(xmlDoc *d, const char *expr)
{
    char buf[600];
    xmlXPathObject *o;
    xmlChar *s;
    char *out;

    snprintf(buf, sizeof(buf), "string(%s)", expr);
    o = xp(d, buf);
    s = xmlXPathCastToString(o);
    out = strdup((const char *)s);
    xmlFree(s);
    xmlXPathFreeObject(o);
    return out;
}

static char *child_text(xmlNode *n, const char *ns, const char *name)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && c->ns &&
            strcmp((const char *)c->ns->href, ns) == 0 &&
            strcmp((const char *)c->name, name) == 0) {
            xmlChar *t = xmlNodeGetContent(c);
            char *s = strdup((const char *)t);
            xmlFree(t);
            return s;
        }
    return NULL;
}

/* Validate the child of soap:Body against the Responder XSD of contract. */
static void validate_body(xmlDoc *d, const char *contract)
{
    char xsd[512];
    xmlSchemaParserCtxt *pc;
    xmlSchema *schema;
    xmlSchemaValidCtxt *vc;
    xmlXPathObject *o = xp(d, "/s:Envelope/s:Body/*");

    assert_int_equal(o->nodesetval ? o->nodesetval->nodeNr : 0, 1);
    snprintf(xsd, sizeof(xsd), SPEC "%sInteraction/%sResponder_1.1.xsd",
             contract, contract);
    pc = xmlSchemaNewParserCtxt(xsd);
    assert_non_null(pc);
    schema = xmlSchemaParse(pc);
    assert_non_null(schema);
    vc = xmlSchemaNewValidCtxt(schema);
    assert_non_null(vc);
    assert_int_equal(xmlSchemaValidateOneElement(vc, o->nodesetval->nodeTab[0]),
                     0);
    xmlSchemaFreeValidCtxt(vc);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pc);
    xmlXPathFreeObject(o);
}

/* A SOAP Fault answer: HTTP 500, text/xml, the given code and string. */
static void check_fault(const struct resp *r, const char *code,
                        const char *exact, const char *contains)
{
    xmlDoc *d;
    char *fc, *fs;

    assert_int_equal(r->status, 500);
    assert_string_equal(r->ctype, "text/xml; charset=UTF-8");
    d = parse_strict(r);
    assert_int_equal(xp_count(d, "/s:Envelope/s:Body/s:Fault"), 1);
    fc = xp_str(d, "/s:Envelope/s:Body/s:Fault/faultcode");
    fs = xp_str(d, "/s:Envelope/s:Body/s:Fault/faultstring");
    assert_string_equal(fc, code);
    if (exact != NULL)
        assert_string_equal(fs, exact);
    if (contains != NULL && strstr(fs, contains) == NULL)
        fail_msg("faultstring \"%s\" lacks \"%s\"", fs, contains);
    free(fc);
    free(fs);
    xmlFreeDoc(d);
}

/* "First Last" -> "Last, First" (the display form of struct avail_slot). */
static char *display_of(const char *full)
{
    const char *sp = strrchr(full, ' ');
    char *out;

    assert_non_null(sp);
    out = malloc(strlen(full) + 2);
    assert_non_null(out);
    sprintf(out, "%s, %.*s", sp + 1, (int)(sp - full), full);
    return out;
}

/* Slots of a GetAvailableTimeslots answer, in struct avail_slots form. */
static void slots_of(xmlDoc *d, const char *clinic_id, struct avail_slots *out)
{
    xmlXPathObject *o = xp(d, "/s:Envelope/s:Body/"
                              "ts:GetAvailableTimeslotsResponse/"
                              "ts:timeslotDetail");

    for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlNode *n = o->nodesetval->nodeTab[i];
        char *st = child_text(n, CORE_NS, "startTimeInclusive");
        char *en = child_text(n, CORE_NS, "endTimeExclusive");
        char *hf = child_text(n, CORE_NS, "healthcare_facility");
        char *pn = child_text(n, CORE_NS, "performerName");
        char *tn = child_text(n, CORE_NS, "timeTypeName");
        char *ti = child_text(n, CORE_NS, "timeTypeID");
        char *pf = child_text(n, CORE_NS, "performer");
        char *disp;
        int64_t a, b;

        assert_non_null(st);
        assert_non_null(en);
        assert_non_null(pn);
        assert_non_null(pf);
        assert_string_equal(hf, clinic_id);
        assert_true(conf_valid_hsa_id(pf));
        assert_int_equal(strlen(st), 14);
        assert_int_equal(clock_parse_riv_ts(st, &a), CLOCK_OK);
        assert_int_equal(clock_parse_riv_ts(en, &b), CLOCK_OK);
        disp = display_of(pn);
        assert_int_equal(avail_slots_add(out, a, b, disp, tn, ti), 0);
        free(disp);
        free(st);
        free(en);
        free(hf);
        free(pn);
        free(tn);
        free(ti);
        free(pf);
    }
    xmlXPathFreeObject(o);
}

/* Ground truth: sim_schedule_day over [d0, d1] minus passed slots. */
static void truth(uint32_t seed, const struct conf_clinic *c, int32_t d0,
                  int32_t d1, int64_t now, struct avail_slots *out)
{
    struct avail_slots all;

    avail_slots_init(&all);
    for (int32_t d = d0; d <= d1; d++)
        assert_int_equal(sim_schedule_day(seed, c, d, &all), 0);
    for (size_t i = 0; i < all.n; i++)
        if (all.v[i].start > now)
            assert_int_equal(avail_slots_add(out, all.v[i].start, all.v[i].end,
                                             all.v[i].practitioner,
                                             all.v[i].service,
                                             all.v[i].service_id),
                             0);
    avail_slots_clear(&all);
}

static const struct conf_clinic *clinic(const char *id)
{
    for (size_t i = 0; i < region.nclinics; i++)
        if (strcmp(clinics[i].id, id) == 0)
            return &clinics[i];
    fail_msg("no clinic %s", id);
    return NULL;
}

/* --- schedule rules (sim_schedule_day alone) ----------------------------- */

static int local_minute(int64_t t, int32_t day)
{
    /* Minutes after local midnight (the DST test below checks the
     * offsets independently). */
    struct clock_civil lt;
    int off;

    clock_to_local(t, &lt, &off);
    assert_int_equal(clock_local_day(t), day);
    return (int)((t - (int64_t)day * 86400 + off) / 60);
}

static void test_schedule_rules(void **state)
{
    struct avail_slots s, again;
    const struct conf_clinic *c = clinic(ID_NORMAL);
    int32_t y0 = clock_days_from_civil(2026, 1, 1);
    int32_t y1 = clock_days_from_civil(2026, 12, 31);
    long total = 0, wdays = 0;
    int len = 0;
    char names[8][64];
    int nnames = 0;

    (void)state;
    avail_slots_init(&s);
    avail_slots_init(&again);
    for (int32_t d = y0; d <= y1; d++) {
        avail_slots_clear(&s);
        avail_slots_clear(&again);
        assert_int_equal(sim_schedule_day(7, c, d, &s), 0);
        assert_int_equal(sim_schedule_day(7, c, d, &again), 0);
        assert_true(avail_slots_equal(&s, &again)); /* pure function */
        if (clock_weekday(d) >= 6 || !clock_is_working_day(d)) {
            assert_int_equal(s.n, 0);
            continue;
        }
        wdays++;
        total += (long)s.n;
        for (size_t i = 0; i < s.n; i++) {
            int m0 = local_minute(s.v[i].start, d);
            int m1 = local_minute(s.v[i].end, d);
            bool known = false;

            if (len == 0)
                len = m1 - m0;
            assert_int_equal(m1 - m0, len); /* one slot length per clinic */
            assert_true(len == 30 || len == 45);
            assert_true(m0 >= 8 * 60 && m1 <= 16 * 60 + 30);
            /* lunch 12:00-13:00 stays empty */
            assert_false(m0 < 13 * 60 && m1 > 12 * 60);
            /* on the slot grid of its half-day */
            assert_int_equal((m0 < 12 * 60 ? m0 - 8 * 60 : m0 - 13 * 60) % len,
                             0);
            assert_string_equal(s.v[i].service, "Nybesök fysioterapeut");
            assert_string_equal(s.v[i].service_id, "NYB");
            assert_non_null(strstr(s.v[i].practitioner, ", "));
            for (int k = 0; k < nnames; k++)
                if (strcmp(names[k], s.v[i].practitioner) == 0)
                    known = true;
            if (!known) {
                assert_true(nnames < 4);
                snprintf(names[nnames++], sizeof(names[0]), "%s",
                         s.v[i].practitioner);
            }
        }
    }
    /* 2-4 practitioners; about a quarter of all (time, practitioner)
     * pairs are free: 30 min gives 8 + 7 slots a day, 45 min 5 + 4. */
    assert_true(nnames >= 2 && nnames <= 4);
    {
        long pairs = wdays * nnames * (len == 30 ? 15 : 9);
        double share = (double)total / (double)pairs;
        assert_true(wdays >= 245 && wdays <= 255);
        if (share < 0.20 || share > 0.30)
            fail_msg("normal free share %.3f", share);
    }
    avail_slots_clear(&s);
    avail_slots_clear(&again);
}

static void test_schedule_known_days(void **state)
{
    struct avail_slots s;
    const struct conf_clinic *c = clinic(ID_NORMAL);
    /* Worked out by hand for 2026 (Easter Sunday is 5 April). */
    static const int closed[][3] = {
        { 2026, 3, 14 },  /* Saturday */
        { 2026, 3, 15 },  /* Sunday */
        { 2026, 1, 1 },   /* nyårsdagen */
        { 2026, 1, 6 },   /* trettondedag jul */
        { 2026, 4, 3 },   /* långfredagen */
        { 2026, 4, 6 },   /* annandag påsk */
        { 2026, 5, 1 },   /* första maj */
        { 2026, 5, 14 },  /* Kristi himmelsfärd */
        { 2026, 6, 19 },  /* midsommarafton */
        { 2026, 12, 24 }, /* julafton */
        { 2026, 12, 31 }, /* nyårsafton */
    };

    (void)state;
    avail_slots_init(&s);
    for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++) {
        for (uint32_t seed = 1; seed <= 20; seed++) {
            assert_int_equal(sim_schedule_day(seed, c,
                                              clock_days_from_civil(closed[i]
                                                                          [0],
                                                                    closed[i]
                                                                          [1],
                                                                    closed[i]
                                                                          [2]),
                                              &s),
                             0);
            assert_int_equal(s.n, 0);
        }
    }
    /* DST: Friday 27 March is CET (+1), Monday 30 March CEST (+2); a slot
     * at local HH:MM starts at HH:MM minus the offset in UTC. */
    for (int k = 0; k < 2; k++) {
        int32_t d = clock_days_from_civil(2026, 3, k == 0 ? 27 : 30);
        int off = k == 0 ? 3600 : 7200;
        size_t n = 0;
        for (uint32_t seed = 1; seed <= 5; seed++) {
            avail_slots_clear(&s);
            assert_int_equal(sim_schedule_day(seed, c, d, &s), 0);
            for (size_t i = 0; i < s.n; i++) {
                int64_t sod = s.v[i].start - (int64_t)d * 86400 + off;
                assert_true(sod >= 8 * 3600 && sod < 16 * 3600 + 1800);
                assert_int_equal(sod % 900, 0);
            }
            n += s.n;
        }
        assert_true(n > 0);
    }
    avail_slots_clear(&s);
}

static void test_schedule_seed_and_profile(void **state)
{
    struct avail_slots a, b;
    int32_t d0 = clock_days_from_civil(2026, 3, 2);
    int differ = 0;
    long busy = 0, normal = 0;

    (void)state;
    avail_slots_init(&a);
    avail_slots_init(&b);
    for (int32_t d = d0; d < d0 + 56; d++) {
        avail_slots_clear(&a);
        avail_slots_clear(&b);
        assert_int_equal(sim_schedule_day(1, clinic(ID_NORMAL), d, &a), 0);
        assert_int_equal(sim_schedule_day(2, clinic(ID_NORMAL), d, &b), 0);
        if (!avail_slots_equal(&a, &b))
            differ++;
        normal += (long)a.n;
        /* seed 0 means seed 1 */
        avail_slots_clear(&b);
        assert_int_equal(sim_schedule_day(0, clinic(ID_NORMAL), d, &b), 0);
        assert_true(avail_slots_equal(&a, &b));
        avail_slots_clear(&b);
        assert_int_equal(sim_schedule_day(1, clinic(ID_BUSY), d, &b), 0);
        busy += (long)b.n;
        avail_slots_clear(&b);
        assert_int_equal(sim_schedule_day(1, clinic(ID_FULL), d, &b), 0);
        assert_int_equal(b.n, 0);
        /* fault profiles never serve a schedule */
        assert_int_equal(sim_schedule_day(1, clinic(ID_VP004), d, &b), 0);
        assert_int_equal(sim_schedule_day(1, clinic(ID_HANG), d, &b), 0);
        assert_int_equal(b.n, 0);
    }
    assert_true(differ >= 30); /* 40 working days, nearly all differ */
    assert_true(normal > 0);
    assert_true(busy > 0 && busy * 3 < normal);
    /* Another clinic with the same seed gets another timebook. */
    avail_slots_clear(&a);
    avail_slots_clear(&b);
    for (int32_t d = d0; d < d0 + 14; d++) {
        assert_int_equal(sim_schedule_day(1, clinic(ID_NORMAL), d, &a), 0);
        assert_int_equal(sim_schedule_day(1, clinic(ID_OWNTT), d, &b), 0);
    }
    assert_false(avail_slots_equal(&a, &b));
    for (size_t i = 0; i < b.n; i++)
        assert_string_equal(b.v[i].service_id, "FYS-NY");
    avail_slots_clear(&a);
    avail_slots_clear(&b);
}

/* --- contracts over HTTP ------------------------------------------------- */

static void test_timeslots_match_schedule(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_NORMAL,
                   NULL,
                   "20260309",
                   "20260320",
                   NULL,
                   SOC,
                   false };
    struct resp r;
    struct avail_slots got, want;
    xmlDoc *d;

    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/xml; charset=UTF-8");
    d = parse_strict(&r);
    validate_body(d, "GetAvailableTimeslots");
    /* Clients must skip this: an element of a foreign namespace. */
    assert_int_equal(xp_count(d, "/s:Envelope/s:Body/*/*[namespace-uri() != "
                                 "'urn:riv:crm:scheduling:"
                                 "GetAvailableTimeslotsResponder:1']"),
                     1);

    avail_slots_init(&got);
    avail_slots_init(&want);
    slots_of(d, ID_NORMAL, &got);
    truth(7, clinic(ID_NORMAL), clock_days_from_civil(2026, 3, 9),
          clock_days_from_civil(2026, 3, 20), test_now(), &want);
    assert_true(want.n > 10);
    for (size_t i = 0; i < got.n; i++)
        assert_true(got.v[i].start > test_now()); /* nothing passed */
    avail_slots_sort(&got);
    avail_slots_sort(&want);
    assert_int_equal(got.n, want.n);
    assert_true(avail_slots_equal(&got, &want));
    /* performer <-> performerName is one-to-one */
    {
        char *a = xp_str(d, "(//ts:timeslotDetail)[1]/c:performer");
        char *an = xp_str(d, "(//ts:timeslotDetail)[1]/c:performerName");
        char expr[300];
        snprintf(expr, sizeof(expr),
                 "//ts:timeslotDetail[c:performer='%s'"
                 " and c:performerName!='%s']",
                 a, an);
        assert_int_equal(xp_count(d, expr), 0);
        free(a);
        free(an);
    }
    assert_int_equal(sim_requests(f->sim), 1);
    avail_slots_clear(&got);
    avail_slots_clear(&want);
    xmlFreeDoc(d);
    resp_clear(&r);
}

static void test_passed_slots_follow_clock(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_NORMAL,
                   NULL,
                   "20260310",
                   "20260310",
                   NULL,
                   SOC,
                   false };
    int32_t day = clock_days_from_civil(2026, 3, 10);
    struct avail_slots all;
    int64_t times[] = { clock_day_start(day), 0, 0 };
    struct resp r;

    avail_slots_init(&all);
    assert_int_equal(sim_schedule_day(7, clinic(ID_NORMAL), day, &all), 0);
    assert_true(all.n >= 2);
    avail_slots_sort(&all);
    /* exactly at a slot's start it counts as passed (start > now) */
    times[1] = all.v[1].start;
    times[2] = all.v[all.n - 1].start;
    for (int k = 0; k < 3; k++) {
        struct avail_slots got;
        xmlDoc *d;
        size_t expect = 0;

        for (size_t i = 0; i < all.n; i++)
            if (all.v[i].start > times[k])
                expect++;
        clock_set_fake(times[k]);
        soap(f, PATH_SLOTS, &q, &r);
        assert_int_equal(r.status, 200);
        d = parse_strict(&r);
        avail_slots_init(&got);
        slots_of(d, ID_NORMAL, &got);
        assert_int_equal(got.n, expect);
        avail_slots_clear(&got);
        xmlFreeDoc(d);
        resp_clear(&r);
    }
    assert_int_equal(times[0] < all.v[0].start, 1);
    avail_slots_clear(&all);
}

static void test_dates_match_schedule(void **state)
{
    struct fx *f = *state;
    struct q qs = { "GetAvailableTimeslots",
                    ID_NORMAL,
                    NULL,
                    "20260309",
                    "20260322",
                    NULL,
                    SOC,
                    false };
    struct q qd = qs;
    struct resp r1, r2;
    xmlDoc *ds, *dd;
    struct avail_slots want;
    xmlXPathObject *o;
    char pairs_want[200][96], pairs_got[200][96];
    int nwant = 0, ngot = 0;

    qd.contract = "GetAvailableDates";
    soap(f, PATH_SLOTS, &qs, &r1);
    soap(f, PATH_DATES, &qd, &r2);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 200);
    ds = parse_strict(&r1);
    dd = parse_strict(&r2);
    validate_body(dd, "GetAvailableDates");

    /* expected (date, practitioner) pairs from the ground truth */
    avail_slots_init(&want);
    truth(7, clinic(ID_NORMAL), clock_days_from_civil(2026, 3, 9),
          clock_days_from_civil(2026, 3, 22), test_now(), &want);
    for (size_t i = 0; i < want.n; i++) {
        char dt[9], key[96];
        bool seen = false;
        clock_format_riv_date(clock_local_day(want.v[i].start), dt);
        snprintf(key, sizeof(key), "%s|%s", dt, want.v[i].practitioner);
        for (int k = 0; k < nwant; k++)
            if (strcmp(pairs_want[k], key) == 0)
                seen = true;
        if (!seen) {
            assert_true(nwant < 200);
            strcpy(pairs_want[nwant++], key);
        }
    }
    assert_true(nwant > 5);

    /* got: performer ids mapped to names through the timeslots answer */
    o = xp(dd, "/s:Envelope/s:Body/ad:GetAvailableDatesResponse/"
               "ad:performerAvailabilityByDate");
    for (int i = 0; o->nodesetval && i < o->nodesetval->nodeNr; i++) {
        xmlNode *n = o->nodesetval->nodeTab[i];
        const char *ns = "urn:riv:crm:scheduling:GetAvailableDatesResponder:1";
        char *date = child_text(n, ns, "date");
        char *perf = child_text(n, ns, "performer");
        char *hf = child_text(n, ns, "healthcare_facility");
        char *tid = child_text(n, ns, "timeTypeID");
        char expr[200], *name, *disp;

        assert_string_equal(hf, ID_NORMAL);
        assert_string_equal(tid, "NYB");
        snprintf(expr, sizeof(expr),
                 "(//ts:timeslotDetail[c:performer='%s'])[1]/c:performerName",
                 perf);
        name = xp_str(ds, expr);
        assert_true(name[0] != '\0');
        disp = display_of(name);
        assert_true(ngot < 200);
        snprintf(pairs_got[ngot++], 96, "%s|%s", date, disp);
        free(date);
        free(perf);
        free(hf);
        free(tid);
        free(name);
        free(disp);
    }
    xmlXPathFreeObject(o);
    assert_int_equal(ngot, nwant);
    for (int k = 0; k < nwant; k++) {
        bool found = false;
        for (int j = 0; j < ngot; j++)
            if (strcmp(pairs_want[k], pairs_got[j]) == 0)
                found = true;
        if (!found)
            fail_msg("dates answer lacks %s", pairs_want[k]);
    }
    /* skip-me elements inside an item and after the items */
    assert_true(xp_count(dd, "//*[namespace-uri()='urn:slotfeed:sim:"
                             "extension:1' and local-name()='simInfo']") >= 1);
    avail_slots_clear(&want);
    xmlFreeDoc(ds);
    xmlFreeDoc(dd);
    resp_clear(&r1);
    resp_clear(&r2);
}

static void test_time_types(void **state)
{
    struct fx *f = *state;
    struct q q = {
        "GetAllTimeTypes", ID_NORMAL, NULL, NULL, NULL, NULL, SOC, false
    };
    struct resp r;
    xmlDoc *d;
    char *name;

    soap(f, PATH_TYPES, &q, &r);
    assert_int_equal(r.status, 200);
    d = parse_strict(&r);
    validate_body(d, "GetAllTimeTypes");
    assert_true(xp_count(d, "//tt:ListOfTimeTypes") >= 2);
    name = xp_str(d, "//tt:ListOfTimeTypes[c:timeTypeId='NYB']/"
                     "c:timeTypeName");
    assert_string_equal(name, "Nybesök fysioterapeut");
    free(name);
    xmlFreeDoc(d);
    resp_clear(&r);
}

static void test_time_type_filter(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_NORMAL,
                   NULL,
                   "20260309",
                   "20260320",
                   NULL,
                   SOC,
                   false };
    struct resp r;
    xmlDoc *d;
    int all, nyb;

    soap(f, PATH_SLOTS, &q, &r);
    d = parse_strict(&r);
    all = xp_count(d, "//ts:timeslotDetail");
    xmlFreeDoc(d);
    resp_clear(&r);
    assert_true(all > 0);

    q.tt = "NYB";
    soap(f, PATH_SLOTS, &q, &r);
    d = parse_strict(&r);
    nyb = xp_count(d, "//ts:timeslotDetail");
    assert_int_equal(nyb, all);
    assert_int_equal(xp_count(d, "//ts:timeslotDetail[c:timeTypeID='NYB']"),
                     all);
    xmlFreeDoc(d);
    resp_clear(&r);

    q.tt = "ATB"; /* a type with no free times */
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    d = parse_strict(&r);
    validate_body(d, "GetAvailableTimeslots");
    assert_int_equal(xp_count(d, "//ts:timeslotDetail"), 0);
    xmlFreeDoc(d);
    resp_clear(&r);

    /* a clinic configured with its own time type id serves that id */
    q.la = ID_OWNTT;
    q.tt = "FYS-NY";
    soap(f, PATH_SLOTS, &q, &r);
    d = parse_strict(&r);
    assert_true(xp_count(d, "//ts:timeslotDetail") > 0);
    assert_int_equal(xp_count(d, "//ts:timeslotDetail[c:timeTypeID!="
                                 "'FYS-NY']"),
                     0);
    xmlFreeDoc(d);
    resp_clear(&r);
}

static void test_busy_and_full(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_FULL,
                   NULL,
                   "20260309",
                   "20260405",
                   NULL,
                   SOC,
                   false };
    struct resp r;
    struct avail_slots got, want;
    xmlDoc *d;

    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    d = parse_strict(&r);
    validate_body(d, "GetAvailableTimeslots");
    assert_int_equal(xp_count(d, "//ts:timeslotDetail"), 0);
    xmlFreeDoc(d);
    resp_clear(&r);

    q.contract = "GetAvailableDates";
    soap(f, PATH_DATES, &q, &r);
    d = parse_strict(&r);
    validate_body(d, "GetAvailableDates");
    assert_int_equal(xp_count(d, "//ad:performerAvailabilityByDate"), 0);
    xmlFreeDoc(d);
    resp_clear(&r);

    q.contract = "GetAvailableTimeslots";
    q.la = ID_BUSY;
    soap(f, PATH_SLOTS, &q, &r);
    d = parse_strict(&r);
    avail_slots_init(&got);
    avail_slots_init(&want);
    slots_of(d, ID_BUSY, &got);
    truth(7, clinic(ID_BUSY), clock_days_from_civil(2026, 3, 9),
          clock_days_from_civil(2026, 4, 5), test_now(), &want);
    avail_slots_sort(&got);
    avail_slots_sort(&want);
    assert_true(avail_slots_equal(&got, &want));
    avail_slots_clear(&got);
    avail_slots_clear(&want);
    xmlFreeDoc(d);
    resp_clear(&r);
}

static void test_platform_faults(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_VP004,
                   NULL,
                   "20260309",
                   "20260320",
                   NULL,
                   SOC,
                   false };
    struct resp r;

    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server",
                "VP004 No Logical Adress found for serviceNamespace:"
                "urn:riv:crm:scheduling:GetAvailableTimeslotsResponder:1, "
                "receiverId:" ID_VP004,
                NULL);
    resp_clear(&r);

    q.la = ID_VP007;
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server",
                "VP007 Authorization missing for serviceNamespace: "
                "urn:riv:crm:scheduling:GetAvailableTimeslotsResponder:1, "
                "receiverId: " ID_VP007 ", senderId: SE0000000000-SIM",
                NULL);
    resp_clear(&r);

    q.contract = "GetAvailableDates";
    soap(f, PATH_DATES, &q, &r);
    check_fault(&r, "soap:Server",
                "VP007 Authorization missing for serviceNamespace: "
                "urn:riv:crm:scheduling:GetAvailableDatesResponder:1, "
                "receiverId: " ID_VP007 ", senderId: SE0000000000-SIM",
                NULL);
    resp_clear(&r);

    /* nobody with this HSA-id in the region */
    q.contract = "GetAvailableTimeslots";
    q.la = "SE2321000156-NOPE";
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server",
                "VP004 No Logical Adress found for serviceNamespace:"
                "urn:riv:crm:scheduling:GetAvailableTimeslotsResponder:1, "
                "receiverId:SE2321000156-NOPE",
                NULL);
    resp_clear(&r);

    /* no LogicalAddress at all */
    q.la = NULL;
    q.hf = ID_NORMAL;
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server", NULL, "VP003");
    resp_clear(&r);

    /* routing is case-insensitive */
    q.la = "se2321000156-t001";
    q.hf = NULL;
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);
    assert_int_equal(sim_requests(f->sim), 6);
}

static void test_producer_misbehaviour(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_ERROR,
                   NULL,
                   "20260309",
                   "20260320",
                   NULL,
                   SOC,
                   false };
    struct resp r;
    xmlDoc *d;

    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server", NULL, NULL);
    resp_clear(&r);

    q.la = ID_GARBAGE;
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0);
    d = xmlReadMemory(r.body, (int)r.len, NULL, NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR |
                          XML_PARSE_NOWARNING);
    assert_null(d); /* not XML */
    resp_clear(&r);

    /* hostile: a DTD with an external entity and nested entities. Parse
     * without substitution and look at the declarations only. */
    q.la = ID_HOSTILE;
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/xml; charset=UTF-8");
    {
        /* Read only up to the root element: the declarations are parsed,
         * nothing is expanded. */
        xmlTextReader *rd =
            xmlReaderForMemory(r.body, (int)r.len, NULL, NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR |
                                   XML_PARSE_NOWARNING);
        xmlEntity *x, *b;
        bool saw_doctype = false;

        assert_non_null(rd);
        while (xmlTextReaderRead(rd) == 1) {
            int t = xmlTextReaderNodeType(rd);
            if (t == XML_READER_TYPE_DOCUMENT_TYPE)
                saw_doctype = true;
            if (t == XML_READER_TYPE_ELEMENT)
                break;
        }
        assert_true(saw_doctype);
        d = xmlTextReaderCurrentDoc(rd);
        assert_non_null(d);
        assert_non_null(d->intSubset);
        x = xmlGetDocEntity(d, BAD_CAST "xxe");
        b = xmlGetDocEntity(d, BAD_CAST "b");
        assert_non_null(x);
        assert_int_equal(x->etype, XML_EXTERNAL_GENERAL_PARSED_ENTITY);
        assert_non_null(b);
        assert_non_null(strstr((const char *)b->content, "&a;"));
        xmlFreeTextReader(rd);
    }
    xmlFreeDoc(d);
    resp_clear(&r);

    q.la = ID_503;
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.ctype, "text/plain"));
    resp_clear(&r);
}

static void test_request_validation(void **state)
{
    struct fx *f = *state;
    struct q q = { "GetAvailableTimeslots",
                   ID_NORMAL,
                   "SE2321000156-T002",
                   "20260309",
                   "20260320",
                   NULL,
                   SOC,
                   false };
    struct resp r;
    char *env, *big;

    /* body addresses another unit than the header */
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Server", NULL, "does not match LogicalAddress");
    resp_clear(&r);

    q.hf = "se2321000156-t001"; /* same unit, other case: fine */
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);

    q.hf = NULL;
    q.soc = NULL;
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "subject_of_care");
    resp_clear(&r);

    q.soc = SOC;
    q.soc_wrong_ns = true; /* 1.0-style: not in the :1.1 namespace */
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "subject_of_care");
    resp_clear(&r);

    q.soc_wrong_ns = false;
    q.soc = "19121212";
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "subject_of_care");
    assert_null(strstr(r.body, "19121212")); /* never echoed */
    resp_clear(&r);

    q.soc = SOC;
    q.d0 = "20260320";
    q.d1 = "20260309";
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "before");
    resp_clear(&r);

    q.d0 = "2026-03-09";
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "startDateInclusive");
    resp_clear(&r);

    q.d0 = "20200101";
    q.d1 = "20291231";
    soap(f, PATH_SLOTS, &q, &r);
    check_fault(&r, "soap:Client", NULL, "longer than");
    resp_clear(&r);

    /* payload of another contract than the path names */
    q.d0 = "20260309";
    q.d1 = "20260320";
    soap(f, PATH_DATES, &q, &r);
    check_fault(&r, "soap:Client", NULL, "GetAvailableDates");
    resp_clear(&r);

    /* not XML; not SOAP */
    http_do(f, EVHTTP_REQ_POST, PATH_SLOTS, "hello <", &r);
    check_fault(&r, "soap:Client", NULL, "not well-formed");
    resp_clear(&r);
    http_do(f, EVHTTP_REQ_POST, PATH_SLOTS, "<a/>", &r);
    check_fault(&r, "soap:Client", NULL, "Envelope");
    resp_clear(&r);

    /* a DTD (XXE + entity bomb) in the request is refused outright */
    env = envelope(&q);
    {
        const char *dtd =
            "<?xml version=\"1.0\"?>\n<!DOCTYPE s:Envelope [\n"
            "<!ENTITY x SYSTEM \"file:///etc/passwd\">\n"
            "<!ENTITY a \"aaaaaaaaaaaaaaaaaaaa\">\n"
            "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
            "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
            "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n]>\n";
        const char *root = strstr(env, "<s:Envelope");
        char *bad = malloc(strlen(dtd) + strlen(root) + 16);
        assert_non_null(bad);
        sprintf(bad, "%s%s", dtd, root);
        /* and use the entities where a value goes */
        memcpy(strstr(bad, ID_NORMAL "</m:healthcare"), "&d;&x;", 6);
        http_do(f, EVHTTP_REQ_POST, PATH_SLOTS, bad, &r);
        check_fault(&r, "soap:Client", NULL, "document type declaration");
        resp_clear(&r);
        free(bad);
    }
    free(env);

    /* the server is still fine */
    soap(f, PATH_SLOTS, &q, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);

    /* HTTP level: wrong path, wrong method, other contract, too big */
    http_do(f, EVHTTP_REQ_POST, "/vp/crm/scheduling/MakeBooking/1/rivtabp21",
            "<x/>", &r);
    assert_int_equal(r.status, 404);
    resp_clear(&r);
    http_do(f, EVHTTP_REQ_POST, "/", "<x/>", &r);
    assert_int_equal(r.status, 404);
    resp_clear(&r);
    http_do(f, EVHTTP_REQ_POST, PATH_SLOTS "/x", "<x/>", &r);
    assert_int_equal(r.status, 404);
    resp_clear(&r);
    http_do(f, EVHTTP_REQ_GET, PATH_SLOTS, NULL, &r);
    assert_int_equal(r.status, 405);
    resp_clear(&r);
    http_do(f, EVHTTP_REQ_PUT, PATH_DATES, "<x/>", &r);
    assert_int_equal(r.status, 405);
    resp_clear(&r);
    /* any prefix before /crm/scheduling/ routes (VP-style base URLs) */
    {
        char *e = envelope(&q);
        http_do(f, EVHTTP_REQ_POST,
                "/some/base/crm/scheduling/GetAvailableTimeslots/1/rivtabp21",
                e, &r);
        assert_int_equal(r.status, 200);
        resp_clear(&r);
        free(e);
    }
    big = malloc(200001);
    assert_non_null(big);
    memset(big, ' ', 200000);
    big[200000] = '\0';
    memcpy(big, "<a>", 3);
    http_do(f, EVHTTP_REQ_POST, PATH_SLOTS, big, &r);
    assert_int_equal(r.status, 413);
    resp_clear(&r);
    free(big);
}

/* --- hang, latency and cleanup ------------------------------------------- */

struct pend {
    struct sim *sim;
    size_t want;
};

static bool pending_is(void *arg)
{
    struct pend *p = arg;
    return sim_pending(p->sim) == p->want;
}

static void test_hang_does_not_block(void **state)
{
    struct fx *f = *state;
    struct q qh = { "GetAvailableTimeslots",
                    ID_HANG,
                    NULL,
                    "20260309",
                    "20260320",
                    NULL,
                    SOC,
                    false };
    struct q qn = qh;
    struct resp rh = { 0 }, rn = { 0 }, rh2 = { 0 };
    struct evhttp_connection *ch, *ch2;
    struct pend p = { f->sim, 1 };
    char *eh = envelope(&qh), *en;
    unsigned long before = sim_requests(f->sim);

    qn.la = ID_NORMAL;
    en = envelope(&qn);
    ch = start_request(f, EVHTTP_REQ_POST, PATH_SLOTS, eh, strlen(eh), &rh);
    assert_true(run_until(f->base, pending_is, &p, 5000));

    /* another client is served while the first one hangs */
    http_do(f, EVHTTP_REQ_POST, PATH_SLOTS, en, &rn);
    assert_int_equal(rn.status, 200);
    assert_int_equal(rh.done, 0);
    assert_int_equal(sim_pending(f->sim), 1);
    assert_int_equal(sim_requests(f->sim), before + 1);

    /* the hanging client gives up: the simulator notices and lets go */
    evhttp_connection_free(ch);
    p.want = 0;
    assert_true(run_until(f->base, pending_is, &p, 5000));
    assert_int_equal(rh.done, 0);

    /* one more hanging request, still pending when the sim is freed
     * (teardown): no leak, no use after free (ASan build) */
    ch2 = start_request(f, EVHTTP_REQ_POST, PATH_DATES, eh, strlen(eh), &rh2);
    p.want = 1;
    assert_true(run_until(f->base, pending_is, &p, 5000));
    sim_free(f->sim);
    f->sim = NULL;
    evhttp_connection_free(ch2);
    free(eh);
    free(en);
    resp_clear(&rn);
    resp_clear(&rh);
    resp_clear(&rh2);
}

static void test_latency(void **state)
{
    struct fx *f;
    struct q q = {
        "GetAllTimeTypes", ID_NORMAL, NULL, NULL, NULL, NULL, SOC, false
    };
    struct resp r = { 0 }, r2 = { 0 };
    struct timespec t0, t1;
    struct evhttp_connection *c2;
    struct pend p;
    char *e = envelope(&q);
    long ms;

    (void)state;
    f = fx_new(7, 120);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    http_do(f, EVHTTP_REQ_POST, PATH_TYPES, e, &r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_int_equal(r.status, 200);
    assert_true(ms >= 115); /* timer granularity: allow a few ms */
    assert_int_equal(sim_requests(f->sim), 1);
    assert_int_equal(sim_pending(f->sim), 0);

    /* a delayed reply still pending when the sim goes away */
    c2 = start_request(f, EVHTTP_REQ_POST, PATH_TYPES, e, strlen(e), &r2);
    p.sim = f->sim;
    p.want = 1;
    assert_true(run_until(f->base, pending_is, &p, 5000));
    sim_free(f->sim);
    f->sim = NULL;
    evhttp_connection_free(c2);
    fx_free(f);
    free(e);
    resp_clear(&r);
    resp_clear(&r2);
}

static void test_new_errors(void **state)
{
    struct event_base *base = event_base_new();
    struct conf_clinic bad[] = { { .id = ID_NORMAL, .sim_profile = "bogus" } };
    struct conf_region rg = { .clinics = bad, .nclinics = 1 };
    struct sim_opts o = { 1, 0 };
    struct sf_error err = { 0 };
    struct sim *a, *b;

    (void)state;
    assert_non_null(base);
    assert_null(sim_new(base, &rg, "127.0.0.1", 0, &o, &err));
    assert_int_equal(err.code, SF_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "bogus"));

    a = sim_new(base, &region, "127.0.0.1", 0, NULL, &err);
    assert_non_null(a);
    /* the same port twice cannot be bound */
    b = sim_new(base, &region, "127.0.0.1", sim_port(a), &o, &err);
    assert_null(b);
    assert_int_equal(err.code, SF_ERR_TRANSPORT);
    sim_free(a);
    sim_free(NULL);
    event_base_free(base);
}

/*
 * The fault knobs (clinics[].sim besides profile) are validated by the
 * simulator alone when it loads the file; the config module only knows
 * their names. Each bad value is refused with its JSON path, and a good
 * set loads.
 */
static void test_load_faults_errors(void **state)
{
    static const struct {
        const char *sim;  /* the sim object of clinics[1] */
        const char *path; /* expected at the start of the error */
    } bad[] = {
        { "{\"latency_ms\": -1}", "$.clinics[1].sim.latency_ms:" },
        { "{\"latency_ms\": 600001}", "$.clinics[1].sim.latency_ms:" },
        { "{\"drip_bytes_per_s\": 0}", "$.clinics[1].sim.drip_bytes_per_s:" },
        { "{\"fail_rate\": 1.5}", "$.clinics[1].sim.fail_rate:" },
        { "{\"fail_rate\": \"half\"}", "$.clinics[1].sim.fail_rate:" },
        { "{\"retry_after_s\": 86401}", "$.clinics[1].sim.retry_after_s:" },
        { "{\"body_bytes\": -5}", "$.clinics[1].sim.body_bytes:" },
        { "{\"change_every_s\": 100000001}",
          "$.clinics[1].sim.change_every_s:" },
    };
    struct event_base *base = event_base_new();
    struct sf_error err = { 0 };
    struct sim *s;
    char json[256];

    (void)state;
    assert_non_null(base);
    s = sim_new(base, &region, "127.0.0.1", 0, NULL, &err);
    assert_non_null(s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"clinics\": [{}, {\"sim\": %s}]}",
                 bad[i].sim);
        memset(&err, 0, sizeof(err));
        assert_int_equal(sim_load_faults(s, json, strlen(json), &err), -1);
        assert_int_equal(err.code, SF_ERR_CONFIG);
        if (strncmp(err.msg, bad[i].path, strlen(bad[i].path)) != 0)
            fail_msg("%s: got \"%s\", want it to start with \"%s\"", bad[i].sim,
                     err.msg, bad[i].path);
    }
    snprintf(json, sizeof(json),
             "{\"clinics\": [{}, {\"sim\": "
             "{\"latency_ms\": 5, \"fail_rate\": 0.5, "
             "\"retry_after_s\": 3}}]}");
    assert_int_equal(sim_load_faults(s, json, strlen(json), &err), 0);
    sim_free(s);
    event_base_free(base);
}

/*
 * The config module checks sim.profile against its own list of names (the
 * daemon does not link the simulator): every profile the simulator knows
 * is accepted there, and a name it does not know is refused.
 */
static void test_profiles_match_conf(void **state)
{
    char json[512];
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    const char *name;
    size_t i;

    (void)state;
    for (i = 0; (name = sim_profile_name(i)) != NULL; i++) {
        snprintf(json, sizeof(json),
                 "{\"name\": \"R\", \"clinics\": "
                 "[{\"id\": \"SE2321000156-A1\", \"name\": \"C\", "
                 "\"municipality\": \"Kil\", \"operator\": \"region\", "
                 "\"sim\": {\"profile\": \"%s\"}}]}",
                 name);
        if (conf_parse(json, strlen(json), &r, &e) != 0)
            fail_msg("profile \"%s\": %s", name, e.n > 0 ? e.v[0] : "refused");
        assert_string_equal(r->clinics[0].sim_profile, name);
        conf_free(r);
        r = NULL;
        conf_errors_free(&e);
    }
    assert_true(i >= 22);
    snprintf(json, sizeof(json),
             "{\"name\": \"R\", \"clinics\": "
             "[{\"id\": \"SE2321000156-A1\", \"name\": \"C\", "
             "\"municipality\": \"Kil\", \"operator\": \"region\", "
             "\"sim\": {\"profile\": \"sleepy\"}}]}");
    assert_int_equal(conf_parse(json, strlen(json), &r, &e), -1);
    assert_null(r);
    conf_errors_free(&e);
}

/* --- the slotfeed-sim binary --------------------------------------------- */

/* Run the simulator binary with args; returns the exit status. */
static int run_bin(const char *const *args, char *err, size_t errsz)
{
    const char *bin = getenv("SLOTFEED_SIM_BIN");
    int fds[2], st;
    pid_t pid;
    ssize_t n;
    size_t got = 0;

    assert_non_null(bin);
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[16];
        int i = 0;
        argv[i++] = bin;
        for (; args[i - 1] != NULL && i < 15; i++)
            argv[i] = args[i - 1];
        argv[i] = NULL;
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    while (got + 1 < errsz &&
           (n = read(fds[0], err + got, errsz - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_cli(void **state)
{
    char err[4096], cfg[] = "/tmp/test_sim_XXXXXX";
    const char *bin = getenv("SLOTFEED_SIM_BIN");
    static const char json[] =
        "{\"name\": \"t\", \"riv\": {\"subject_of_care\": \"" SOC "\"},"
        " \"clinics\": ["
        "{\"id\": \"" ID_NORMAL "\", \"name\": \"A\", \"municipality\": "
        "\"Arvika\", \"operator\": \"private\", \"booking\": {\"adapter\": "
        "\"rivta-scheduling\", \"url\": \"http://127.0.0.1:1/vp\"}},"
        "{\"id\": \"" ID_VP007 "\", \"name\": \"B\", \"municipality\": "
        "\"Arvika\", \"operator\": \"region\", \"sim\": {\"profile\": "
        "\"vp007\"}}]}";
    int fd, out[2], st;
    pid_t pid;
    char line[256];
    ssize_t n;
    size_t got = 0;
    int port = 0;
    struct fx f = { 0 };
    struct resp r;
    struct q q = {
        "GetAllTimeTypes", ID_NORMAL, NULL, NULL, NULL, NULL, SOC, false
    };

    (void)state;
    if (bin == NULL || access(bin, X_OK) != 0)
        th_skip("SLOTFEED_SIM_BIN not set or not built (ctest sets it)");
    {
        const char *a1[] = { "--seed", "x", NULL };
        assert_int_equal(run_bin(a1, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "--seed"));
        const char *a2[] = { "--listen", "127.0.0.1:0", NULL };
        assert_int_equal(run_bin(a2, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "--config"));
        const char *a3[] = { "--config", "/nonexistent/region.json", NULL };
        assert_int_equal(run_bin(a3, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "region.json"));
        const char *a4[] = { "--bogus", NULL };
        assert_int_equal(run_bin(a4, err, sizeof(err)), 2);
        const char *a5[] = { "--help", NULL };
        assert_int_equal(run_bin(a5, err, sizeof(err)), 0);
    }

    fd = mkstemp(cfg);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"clinics\": 5}", 14), 14);
    close(fd);
    {
        const char *a[] = { "--config", cfg, NULL };
        assert_int_equal(run_bin(a, err, sizeof(err)), 2);
        assert_non_null(strstr(err, "$.")); /* conf_errors lines */
    }
    fd = open(cfg, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json, sizeof(json) - 1),
                     (ssize_t)(sizeof(json) - 1));
    close(fd);

    assert_int_equal(pipe(out), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl(bin, bin, "--config", cfg, "--listen", "127.0.0.1:0", "--seed",
              "7", "--now", "2026-03-10T10:05:00+01:00", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while (got + 1 < sizeof(line) && (n = read(out[0], line + got, 1)) == 1 &&
           line[got] != '\n')
        got++;
    line[got] = '\0';
    if (sscanf(line,
               "slotfeed-sim: listening on http://127.0.0.1:%d/vp "
               "(2 clinics)",
               &port) != 1 ||
        port <= 0)
        fail_msg("unexpected first line \"%s\"", line);
    {
        char tail[64];
        snprintf(tail, sizeof(tail), ":%d/vp (2 clinics)", port);
        assert_non_null(strstr(line, tail));
    }

    /* it answers like the in-process simulator */
    f.base = event_base_new();
    f.port = port;
    soap(&f, PATH_TYPES, &q, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);
    q.la = ID_VP007;
    soap(&f, PATH_TYPES, &q, &r);
    check_fault(&r, "soap:Server", NULL, "VP007 Authorization missing");
    resp_clear(&r);
    event_base_free(f.base);

    assert_int_equal(kill(pid, SIGTERM), 0);
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        usleep(10000);
        if (i == 499) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("slotfeed-sim did not exit on SIGTERM");
        }
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* exactly one line on stdout */
    assert_int_equal(read(out[0], line, sizeof(line)), 0);
    close(out[0]);
    unlink(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_rules),
        cmocka_unit_test(test_schedule_known_days),
        cmocka_unit_test(test_schedule_seed_and_profile),
        cmocka_unit_test_setup_teardown(test_timeslots_match_schedule, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_passed_slots_follow_clock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dates_match_schedule, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_time_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_type_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_and_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_platform_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_producer_misbehaviour, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_request_validation, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hang_does_not_block, setup,
                                        teardown),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_load_faults_errors),
        cmocka_unit_test(test_profiles_match_conf),
        cmocka_unit_test(test_cli),
    };

    signal(SIGPIPE, SIG_IGN);
    xmlInitParser();
    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
