/*
 * test_conf.c - region file loading and validation.
 *
 * Expected error lines are written from the rules in docs/config.md, and
 * the demo region is checked against the clinic list (a copy of the CSV
 * under tests/fixtures/data) and against counts worked out by reading
 * conf/demo-region.json, never against what conf.c printed.
 *
 * Inline configs use ' for " to stay readable (see q()).
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

#include "slotfeed/conf.h"

#define FIX SLOTFEED_SOURCE_DIR "/tests/fixtures/conf/"
#define DEMO SLOTFEED_SOURCE_DIR "/conf/demo-region.json"
#define CSV             \
    SLOTFEED_SOURCE_DIR \
    "/tests/fixtures/data/varmland-fysio-clinics-2023.csv"

/* A valid clinic and a valid region around an extra top-level member. */
#define CLINIC                                               \
    "{'id':'SE2321000156-A1','name':'C','municipality':'M'," \
    "'operator':'region'}"
#define TOP(extra) "{'name':'R'," extra "'clinics':[" CLINIC "]}"
#define CLINICS(list) "{'name':'R','clinics':[" list "]}"
#define RIV "'riv':{'subject_of_care':'191212121212'},"
#define BOOKING                                \
    "'booking':{'adapter':'rivta-scheduling'," \
    "'url':'http://127.0.0.1:1/vp'}"

/* Copy of s with every ' turned into ". Caller frees. */
static char *q(const char *s)
{
    char *t = strdup(s), *p;

    assert_non_null(t);
    for (p = t; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static int parse_q(const char *s, struct conf_region **r, struct conf_errors *e)
{
    char *t = q(s);
    int rc = conf_parse(t, strlen(t), r, e);

    free(t);
    return rc;
}

static void dump(const struct conf_errors *e)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        fprintf(stderr, "  got: %s\n", e->v[i]);
}

/*
 * Expect conf_parse(q(s)) to fail with exactly the NULL-terminated list
 * of error lines, in order.
 */
static void expect_errors(const char *s, ...)
{
    struct conf_region *r = (struct conf_region *)1;
    struct conf_errors e = { 0 };
    const char *want;
    size_t i = 0;
    va_list ap;
    bool ok = true;

    assert_int_equal(parse_q(s, &r, &e), -1);
    assert_null(r);
    va_start(ap, s);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= e.n || strcmp(e.v[i], want) != 0) {
            fprintf(stderr, "want[%zu]: %s\n", i, want);
            ok = false;
        }
        i++;
    }
    va_end(ap);
    if (i != e.n)
        ok = false;
    if (!ok)
        dump(&e);
    conf_errors_free(&e);
    assert_true(ok);
}

static struct conf_region *parse_ok(const char *s)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    int rc = parse_q(s, &r, &e);

    if (rc != 0)
        dump(&e);
    assert_int_equal(rc, 0);
    assert_int_equal(e.n, 0);
    assert_non_null(r);
    return r;
}

/* ---- the demo region ------------------------------------------------- */

static void test_demo_region(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    size_t i, booking = 0, nonbooking = 0, priv = 0, unreachable = 0;
    int normal = 0, busy = 0, full = 0, vp004 = 0, vp007 = 0, other = 0;
    int riv = 0, fhir = 0, smart = 0;
    char want_id[32];

    (void)state;
    if (conf_load(DEMO, &r, &e) != 0)
        dump(&e);
    assert_non_null(r);
    assert_int_equal(e.n, 0);
    assert_string_equal(r->name,
                        "Region Värmland — vårdval fysioterapi (demo)");
    assert_int_equal(r->nclinics, 41);
    assert_int_equal(r->guarantee.days, 3);
    assert_int_equal(r->guarantee.counting, AVAIL_COUNT_CALENDAR);
    assert_int_equal(r->horizon_days, 28);
    assert_int_equal(r->poll_interval_s, 60);
    /* Not in the demo file: the default, the feed's max-age. */
    assert_int_equal(r->publish_interval_s, 30);
    assert_string_equal(r->listen, "127.0.0.1:8080");
    assert_string_equal(r->riv_subject_of_care, "191212121212");
    for (i = 0; i < r->nclinics; i++) {
        const struct conf_clinic *c = &r->clinics[i];

        snprintf(want_id, sizeof(want_id), "SE2321000156-F%03zu", i + 1);
        assert_string_equal(c->id, want_id);
        priv += strcmp(c->operator_kind, "private") == 0;
        /* Every clinic offers a way forward: a phone from the fiction
         * range, a website and an address, whatever its booking state. */
        assert_non_null(c->phone);
        assert_int_equal(strncmp(c->phone, "070-174 06 ", 11), 0);
        assert_true(atoi(c->phone + 11) >= 5);
        assert_non_null(c->website);
        assert_non_null(c->address);
        assert_non_null(
            strstr(c->address, c->locality ? c->locality : c->municipality));
        if (!c->has_booking) {
            nonbooking++;
            /* fiction range 070-174 06 05 .. 070-174 06 99 */
            assert_non_null(c->phone);
            assert_int_equal(strncmp(c->phone, "070-174 06 ", 11), 0);
            assert_true(atoi(c->phone + 11) >= 5);
            assert_non_null(c->website);
            assert_non_null(strstr(c->website, ".example/"));
            assert_null(c->sim_profile);
            continue;
        }
        booking++;
        assert_string_equal(c->booking.time_type_name, "Nybesök fysioterapeut");
        assert_non_null(c->booking.booking_url);
        if (strcmp(c->booking.adapter, "rivta-scheduling") == 0) {
            riv++;
            assert_string_equal(c->booking.time_type_id, "NYB");
            if (strcmp(c->booking.url, "http://127.0.0.1:9/vp") == 0)
                unreachable++;
            else
                assert_string_equal(c->booking.url,
                                    "http://127.0.0.1:18471/vp");
        } else if (strcmp(c->booking.adapter, "fhir-slot") == 0) {
            fhir++;
            assert_string_equal(c->booking.url,
                                "http://127.0.0.1:18471/fhir/r4");
            assert_non_null(c->booking.actor);
        } else {
            assert_string_equal(c->booking.adapter, "smart-bulk");
            smart++;
            /* one shared publisher for all SMART clinics */
            assert_string_equal(
                c->booking.url,
                "http://127.0.0.1:18471/smart/varmland/$bulk-publish");
            assert_non_null(c->booking.location);
        }
        assert_non_null(c->sim_profile);
        if (strcmp(c->sim_profile, "normal") == 0)
            normal++;
        else if (strcmp(c->sim_profile, "busy") == 0)
            busy++;
        else if (strcmp(c->sim_profile, "full") == 0)
            full++;
        else if (strcmp(c->sim_profile, "vp004") == 0)
            vp004++;
        else if (strcmp(c->sim_profile, "vp007") == 0)
            vp007++;
        else
            other++;
    }
    /* Counted by hand in the file: 25 of 41 (61 %) book on the web:
     * 17 over RIV-TA, 4 FHIR (F005 F010 F020 F023), 4 SMART bulk (F028
     * F031 F038 F041); one RIV clinic (F013) answers truncated XML. */
    assert_int_equal(booking, 25);
    assert_int_equal(nonbooking, 16);
    assert_int_equal(riv, 17);
    assert_int_equal(fhir, 4);
    assert_int_equal(smart, 4);
    assert_int_equal(normal, 12); /* includes the unreachable one */
    assert_int_equal(busy, 6);
    assert_int_equal(full, 3);
    assert_int_equal(vp007, 2);
    assert_int_equal(vp004, 1);
    assert_int_equal(other, 1);
    assert_int_equal(unreachable, 1);
    /* data/README.md: 19 private, 22 region */
    assert_int_equal(priv, 19);
    conf_free(r);
}

/* Each CSV row is clinic i of the demo, with the same fields, in order. */
static void test_demo_matches_csv(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    char line[512], *f[5], *p;
    size_t i = 0;
    int k;
    FILE *csv;

    (void)state;
    csv = fopen(CSV, "r");
    assert_non_null(csv); /* in the repository: never a reason to skip */
    assert_int_equal(conf_load(DEMO, &r, &e), 0);
    assert_non_null(fgets(line, sizeof(line), csv)); /* header */
    while (fgets(line, sizeof(line), csv) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        for (k = 0, p = line; k < 5; k++) {
            f[k] = p;
            p = strchr(p, ',');
            if (p != NULL)
                *p++ = '\0';
            else
                p = line + strlen(line);
        }
        assert_true(i < r->nclinics);
        assert_string_equal(r->clinics[i].name, f[0]);
        assert_string_equal(r->clinics[i].municipality, f[1]);
        assert_string_equal(r->clinics[i].locality, f[2]);
        assert_string_equal(r->clinics[i].operator_kind, f[3]);
        i++;
    }
    fclose(csv);
    assert_int_equal(i, r->nclinics);
    conf_free(r);
}

static void test_find_clinic(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };

    (void)state;
    assert_int_equal(conf_load(DEMO, &r, &e), 0);
    assert_int_equal(conf_clinic_index(r, "se2321000156-f007"), 6);
    assert_int_equal(conf_clinic_index(r, "SE2321000156-F041"), 40);
    assert_int_equal(conf_clinic_index(r, "Se2321000156-F001"), 0);
    assert_int_equal(conf_clinic_index(r, "SE2321000156-F042"), -1);
    assert_int_equal(conf_clinic_index(r, "SE2321000156-F00"), -1);
    assert_int_equal(conf_clinic_index(r, NULL), -1);
    assert_int_equal(conf_clinic_index(NULL, "SE2321000156-F001"), -1);
    conf_free(r);
}

/* ---- defaults and good values ---------------------------------------- */

static void test_defaults(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    const struct conf_clinic *c;

    (void)state;
    assert_int_equal(conf_load(FIX "minimal.json", &r, &e), 0);
    assert_string_equal(r->name, "Minimal region");
    assert_string_equal(r->timezone, "Europe/Stockholm");
    assert_int_equal(r->guarantee.days, 3);
    assert_int_equal(r->guarantee.counting, AVAIL_COUNT_CALENDAR);
    assert_int_equal(r->horizon_days, 28);
    assert_int_equal(r->poll_interval_s, 60);
    assert_int_equal(r->connect_timeout_ms, 3000);
    assert_int_equal(r->timeout_ms, 10000);
    assert_int_equal(r->max_body_bytes, 4L * 1024 * 1024);
    assert_int_equal(r->max_decompress_ratio, 100);
    assert_int_equal(r->http_request_timeout_ms, 10000);
    assert_int_equal(r->http_max_connections, 1024);
    assert_int_equal(r->http_max_age_s, 30);
    assert_int_equal(strncmp(r->user_agent, "slotfeed/", 9), 0);
    assert_null(r->riv_subject_of_care);
    assert_string_equal(r->riv_actor_type, "subject_of_care");
    assert_string_equal(r->listen, "127.0.0.1:8080");
    /* the rest of the key tables' defaults (conf.c) */
    assert_int_equal(r->publish_interval_s, 30);
    assert_string_equal(r->store, "slotfeed.db");
    assert_int_equal(r->retention_days, 400);
    assert_null(r->http_public_base_url);
    assert_null(r->http_admin_listen);
    assert_int_equal(r->plausibility.min_clinics, 5);
    assert_true(r->plausibility.fraction == 0.6);
    assert_int_equal(r->plausibility.confirm_polls, 3);
    assert_int_equal(r->nclinics, 1);
    c = &r->clinics[0];
    assert_string_equal(c->id, "SE2321000156-A1");
    assert_string_equal(c->name, "Clinic");
    assert_string_equal(c->municipality, "Kil");
    assert_string_equal(c->operator_kind, "region");
    assert_null(c->locality);
    assert_null(c->phone);
    assert_null(c->website);
    assert_null(c->address);
    assert_false(c->has_booking);
    assert_null(c->booking.adapter);
    assert_null(c->sim_profile);
    conf_free(r);
}

static void test_all_keys_set(void **state)
{
    struct conf_region *r;
    const struct conf_clinic *c;

    (void)state;
    r = parse_ok(
        "\xef\xbb\xbf{'name':'R','timezone':'Europe/Stockholm',"
        "'guarantee':{'days':0,'counting':'working'},"
        "'horizon_days':90,'poll_interval_s':86400,"
        "'publish_interval_s':3600,"
        "'fetch':{'connect_timeout_ms':100,'timeout_ms':100,"
        "'max_body_bytes':1024,'user_agent':'x/1 (+a@b.example)',"
        "'max_decompress_ratio':10},"
        "'http':{'request_timeout_ms':500,'max_connections':16,"
        "'max_age_s':86400},"
        "'riv':{'subject_of_care':'191212121212',"
        "'actor_type':'subject_of_care_agent'},"
        "'listen':'[::1]:65535','clinics':["
        "{'id':'se2321000156-ab1c','name':'C','municipality':'M',"
        "'locality':'L','operator':'private','phone':'070-174 06 05',"
        "'website':'HTTPS://c.example/',"
        "'address':'Storgatan 1, 665 30 Kil','booking':{"
        "'adapter':'rivta-scheduling','url':'https://vp.example/x',"
        "'booking_url':'https://b.example/','time_type_id':'NYB',"
        "'time_type_name':'Nybesök'},'sim':{'profile':'http503'}},"
        "{'id':'SE2321000156-B','name':'D','municipality':'M',"
        "'operator':'region','phone':null,'booking':null,'address':null,"
        "'sim':null}]}");
    assert_int_equal(r->guarantee.days, 0);
    assert_int_equal(r->guarantee.counting, AVAIL_COUNT_WORKING);
    assert_int_equal(r->horizon_days, 90);
    assert_int_equal(r->poll_interval_s, 86400);
    assert_int_equal(r->publish_interval_s, 3600);
    assert_int_equal(r->connect_timeout_ms, 100);
    assert_int_equal(r->timeout_ms, 100);
    assert_int_equal(r->max_body_bytes, 1024);
    assert_int_equal(r->max_decompress_ratio, 10);
    assert_int_equal(r->http_request_timeout_ms, 500);
    assert_int_equal(r->http_max_connections, 16);
    assert_int_equal(r->http_max_age_s, 86400);
    assert_string_equal(r->user_agent, "x/1 (+a@b.example)");
    assert_string_equal(r->riv_actor_type, "subject_of_care_agent");
    assert_string_equal(r->listen, "[::1]:65535");
    c = &r->clinics[0];
    assert_string_equal(c->id, "SE2321000156-AB1C"); /* normalised */
    assert_string_equal(c->locality, "L");
    assert_string_equal(c->phone, "070-174 06 05");
    assert_string_equal(c->website, "HTTPS://c.example/");
    assert_string_equal(c->address, "Storgatan 1, 665 30 Kil");
    assert_true(c->has_booking);
    assert_string_equal(c->booking.url, "https://vp.example/x");
    assert_string_equal(c->booking.booking_url, "https://b.example/");
    assert_string_equal(c->booking.time_type_name, "Nybesök");
    assert_string_equal(c->sim_profile, "http503");
    c = &r->clinics[1];
    assert_null(c->phone);
    assert_null(c->address);
    assert_false(c->has_booking);
    assert_null(c->sim_profile);
    conf_free(r);
}

/* ---- many errors at once --------------------------------------------- */

static void test_many_errors_fixture(void **state)
{
    static const char *const want[] = {
        "$.timezone: \"UTC\" is not supported: only \"Europe/Stockholm\" is",
        "$.guarantee.days: 31 is out of range (0..30)",
        "$.guarantee.counting: must be \"calendar\" or \"working\"",
        "$.horizon_dayz: unknown key (did you mean \"horizon_days\"?)",
        "$.poll_interval_s: expected an integer, got a string",
        "$.fetch.timeout_ms: 2.5 is not a whole number",
        "$.fetch.user_agent: contains a control character",
        "$.listen: \"localhost\" is not HOST:PORT (port 1..65535; IPv6 as "
        "[::1]:8080)",
        "$.clinics[1].id: \"SE123\" is not a valid HSA-id (want SE + 10 "
        "digits + \"-\" + letters/digits, at most 31 chars)",
        "$.clinics[1].name: must not be empty",
        "$.clinics[1].operator: must be \"private\" or \"region\"",
        "$.clinics[2]: duplicate id SE2321000156-F001 (first at "
        "$.clinics[0])",
        "$.clinics[2].booking.adapter: unknown adapter \"fhir\" (known: "
        "rivta-scheduling, fhir-slot, smart-bulk)",
        "$.clinics[2].booking.url: \"ftp://x\" is not an http:// or "
        "https:// URL",
        "$.clinics[2].sim.profile: unknown profile \"slow\" (known: normal, "
        "busy, full, vp004, vp007, error, garbage, hostile, hang, http503)",
        "$.clinics[3].website: \"javascript:alert(1)\" is not an http:// or "
        "https:// URL",
        "$.clinics[3]: missing required key \"id\"",
        "$.clinics[3]: missing required key \"municipality\"",
        "$.clinics[4]: expected an object, got a number",
        "$.riv.subject_of_care: missing; required because $.clinics[0] "
        "uses the rivta-scheduling adapter",
    };
    struct conf_region *r = (struct conf_region *)1;
    struct conf_errors e = { 0 };
    size_t i, n = sizeof(want) / sizeof(want[0]);

    (void)state;
    assert_int_equal(conf_load(FIX "many-errors.json", &r, &e), -1);
    assert_null(r);
    if (e.n != n)
        dump(&e);
    assert_int_equal(e.n, n);
    for (i = 0; i < n; i++)
        assert_string_equal(e.v[i], want[i]);
    conf_errors_free(&e);
    assert_null(e.v);
    assert_int_equal(e.n, 0);
}

/* More than CONF_ERRORS_MAX problems: capped, with a closing line. */
static void test_error_cap(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    char *s = malloc(64 + 2 * 150);
    size_t o, i;

    (void)state;
    assert_non_null(s);
    o = (size_t)sprintf(s, "{\"name\":\"R\",\"clinics\":[");
    for (i = 0; i < 150; i++)
        o += (size_t)sprintf(s + o, "%s1", i ? "," : "");
    strcpy(s + o, "]}");
    assert_int_equal(conf_parse(s, strlen(s), &r, &e), -1);
    free(s);
    assert_int_equal(e.n, CONF_ERRORS_MAX + 1);
    assert_string_equal(e.v[0], "$.clinics[0]: expected an object, got a "
                                "number");
    assert_string_equal(e.v[99], "$.clinics[99]: expected an object, got a "
                                 "number");
    assert_string_equal(e.v[100], "too many errors (more than 100); the "
                                  "rest are not reported");
    conf_errors_free(&e);
}

/* ---- syntax, encoding, files ----------------------------------------- */

static void test_syntax_error_line_column(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };

    (void)state;
    /* missing comma before "operator": line 4, character 69 (Å counts 1) */
    assert_int_equal(conf_load(FIX "syntax-error.json", &r, &e), -1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.v[0], "line 4, column 69: JSON syntax error near "
                                "'\"operator\": \"region\"'");
    conf_errors_free(&e);

    expect_errors("{\n  'name': 'R',\n  'clinics': [,]\n}",
                  "line 3, column 15: JSON syntax error near ',]'", NULL);
    expect_errors("{'name': 'Vå' x}",
                  "line 1, column 15: JSON syntax error near 'x}'", NULL);
    expect_errors(TOP("") "\n\n  x",
                  "line 3, column 3: unexpected text after the JSON value "
                  "near 'x'",
                  NULL);
    expect_errors("[1,\n2]]",
                  "line 2, column 3: unexpected text after the JSON value "
                  "near ']'",
                  NULL);
}

/* No config error echoes a personnummer, whichever spelling,
 * whether syntax context, a key or a value (docs/config.md promises it). */
static void test_errors_never_echo_personnummer(void **state)
{
    static const char *const spellings[] = {
        "+191212121212",
        "191212121212",
        "19121212-1212",
        "1212121212",
        "19811218 9876",
        "19811218\xe2\x80\x93"
        "9876",
        "811218+9876",
    };
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        const char *const forms[] = {
            /* a syntax error right at the number, and 18 bytes before it
             * (the 20-byte context window would cut it) */
            "{\"name\": \"R\", \"riv\": {\"subject_of_care\": @}}",
            "{\"name\": \"R\", \"riv\": {\"subject_of_care\": ] x  @}}",
            "{\"name\": \"R\", x \"abcdefghijklmnopq @\"}",
            /* a misspelt key and a value of the wrong type */
            "{\"name\": \"R\", \"riv\": {\"@\": 1}, \"clinics\": []}",
            "{\"name\": \"@\", \"clinics\": 5}",
        };

        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            struct conf_region *r = NULL;
            struct conf_errors e = { 0 };

            const char *at = strchr(forms[f], '@');

            snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - forms[f]),
                     forms[f], spellings[i], at + 1);
            assert_int_equal(conf_parse(text, strlen(text), &r, &e), -1);
            assert_true(e.n > 0);
            for (size_t k = 0; k < e.n; k++)
                if (strstr(e.v[k], "1212") != NULL ||
                    strstr(e.v[k], "9876") != NULL)
                    fail_msg("%s -> %s", text, e.v[k]);
            conf_errors_free(&e);
        }
    }
}

static void test_nul_byte(void **state)
{
    static const char text[] = "{\"name\":\"R\0x\"}";
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };

    (void)state;
    assert_int_equal(conf_parse(text, sizeof(text) - 1, &r, &e), -1);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.v[0], "line 1, column 11: NUL byte in the file "
                                "near ' x\"}'");
    conf_errors_free(&e);
}

static void test_invalid_utf8(void **state)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };

    (void)state;
    /* the fixture also has an empty clinic list: both reported */
    assert_int_equal(conf_load(FIX "invalid-utf8.json", &r, &e), -1);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0], "$.name: not valid UTF-8");
    assert_string_equal(e.v[1], "$.clinics: no clinics: the list must not "
                                "be empty");
    conf_errors_free(&e);

    /* truncated, overlong, surrogate, above U+10FFFF, lone continuation */
    expect_errors(CLINICS("{'id':'SE2321000156-A1','name':'a\xc3',"
                          "'municipality':'\xc0\xaf','locality':'\xed\xa0\x80',"
                          "'operator':'region','phone':'\xf4\x90\x80\x80',"
                          "'website':'\x80'}"),
                  "$.clinics[0].name: not valid UTF-8",
                  "$.clinics[0].municipality: not valid UTF-8",
                  "$.clinics[0].locality: not valid UTF-8",
                  "$.clinics[0].phone: not valid UTF-8",
                  "$.clinics[0].website: not valid UTF-8", NULL);
    /* a bad key is shown with '?' */
    expect_errors(TOP("'n\xffme':'x',"),
                  "$.n?me: unknown key (did you mean \"name\"?)", NULL);
    /* valid multi-byte text passes: 2, 3 and 4 byte sequences */
    conf_free(parse_ok(TOP("") "\n"));
    conf_free(
        parse_ok("{'name':'Å € \xf0\x9f\x98\x80','clinics':[" CLINIC "]}"));
}

static char *tmpfile_with(const char *content, size_t len, off_t trunc_to)
{
    char *path = strdup("/tmp/test_conf_XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    if (len > 0)
        assert_int_equal(write(fd, content, len), (ssize_t)len);
    if (trunc_to > 0)
        assert_int_equal(ftruncate(fd, trunc_to), 0);
    close(fd);
    return path;
}

static void expect_load_error(const char *path, const char *want)
{
    struct conf_region *r = (struct conf_region *)1;
    struct conf_errors e = { 0 };

    assert_int_equal(conf_load(path, &r, &e), -1);
    assert_null(r);
    if (e.n != 1)
        dump(&e);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.v[0], want);
    conf_errors_free(&e);
}

static void test_files(void **state)
{
    char *p, *big;
    char buf[128];

    (void)state;
    expect_load_error("/nonexistent/slotfeed/region.json",
                      "cannot open file: No such file or directory");
    expect_load_error(FIX "empty.json",
                      "file is empty: expected a JSON object");
    expect_load_error(SLOTFEED_SOURCE_DIR "/tests",
                      "cannot read file: it is a directory");

    p = tmpfile_with(" \n\t\r\n", 5, 0);
    expect_load_error(p, "file is empty: expected a JSON object");
    unlink(p);
    free(p);

    /* one byte over the cap: refused before reading (sparse file) */
    p = tmpfile_with(NULL, 0, CONF_FILE_MAX + 1);
    snprintf(buf, sizeof(buf), "file is too large (%ld bytes; at most 16 MiB)",
             CONF_FILE_MAX + 1);
    expect_load_error(p, buf);
    unlink(p);
    free(p);

    /* exactly at the cap is read (and is all blanks here) */
    big = malloc((size_t)CONF_FILE_MAX);
    assert_non_null(big);
    memset(big, ' ', (size_t)CONF_FILE_MAX);
    p = tmpfile_with(big, (size_t)CONF_FILE_MAX, 0);
    free(big);
    expect_load_error(p, "file is empty: expected a JSON object");
    unlink(p);
    free(p);

    expect_load_error(NULL, "no configuration file given");
}

/* ---- individual rules ------------------------------------------------ */

static void test_unknown_and_duplicate_keys(void **state)
{
    (void)state;
    expect_errors(TOP("'horizon_dayz':28,"),
                  "$.horizon_dayz: unknown key (did you mean "
                  "\"horizon_days\"?)",
                  NULL);
    expect_errors(TOP("'colour':'blue',"), "$.colour: unknown key", NULL);
    /* keys are case-sensitive */
    expect_errors(TOP("'Name':'x',"),
                  "$.Name: unknown key (did you mean \"name\"?)", NULL);
    expect_errors(TOP("'name':'S',"), "$.name: duplicate key", NULL);
    /* "_comment" is a note, in any keyed object, once or more; only
     * that spelling, and only text */
    conf_free(parse_ok(TOP("'_comment':'why','guarantee':{'_comment':"
                           "['a','b'],'days':3},'_comment':'again',")));
    conf_free(parse_ok(CLINICS("{'_comment':'c','id':'SE2321000156-A1',"
                               "'name':'C','municipality':'M',"
                               "'operator':'region','sim':{'_comment':'s',"
                               "'profile':'normal'}}")));
    expect_errors(TOP("'_coment':'x',"),
                  "$._coment: unknown key (did you "
                  "mean \"_comment\"?)",
                  NULL);
    expect_errors(TOP("'_comment':7,"),
                  "$._comment: expected a string or an "
                  "array of strings, got a number",
                  NULL);
    expect_errors(TOP("'_comment':['a',{}],"),
                  "$._comment: expected a string "
                  "or an array of strings, got an array holding an object",
                  NULL);
    expect_errors(TOP("'_comment':'a\\nb',"),
                  "$._comment: contains a control character", NULL);
    expect_errors(TOP("'guarantee':{'days':3,'dayz':4,'days':2},"),
                  "$.guarantee.dayz: unknown key (did you mean \"days\"?)",
                  "$.guarantee.days: duplicate key", NULL);
    expect_errors(CLINICS("{'id':'SE2321000156-A1','name':'C',"
                          "'municipality':'M','operator':'region',"
                          "'booking':{'adapter':'rivta-scheduling',"
                          "'url':'http://h/','extra':1},"
                          "'sim':{'profil':'busy'}}"),
                  "$.clinics[0].booking.extra: unknown key",
                  "$.clinics[0].sim.profil: unknown key (did you mean "
                  "\"profile\"?)",
                  "$.clinics[0].sim: missing required key \"profile\"",
                  "$.riv.subject_of_care: missing; required because "
                  "$.clinics[0] uses the rivta-scheduling adapter",
                  NULL);
    /* a very long unknown key is cut to 60 bytes + "..." in the message */
    {
        char key[81], json[256], want[128];

        memset(key, 'a', 80);
        key[80] = '\0';
        snprintf(json, sizeof(json), TOP("'%s':1,"), key);
        key[60] = '\0';
        snprintf(want, sizeof(want), "$.%s...: unknown key", key);
        expect_errors(json, want, NULL);
    }
}

static void test_ranges(void **state)
{
    (void)state;
    expect_errors(TOP("'horizon_days':0,"),
                  "$.horizon_days: 0 is out of range (1..90)", NULL);
    expect_errors(TOP("'horizon_days':91,"),
                  "$.horizon_days: 91 is out of range (1..90)", NULL);
    expect_errors(TOP("'poll_interval_s':9,"),
                  "$.poll_interval_s: 9 is out of range (10..86400)", NULL);
    expect_errors(TOP("'poll_interval_s':86401,"),
                  "$.poll_interval_s: 86401 is out of range (10..86400)", NULL);
    expect_errors(TOP("'publish_interval_s':-1,"),
                  "$.publish_interval_s: -1 is out of range (0..3600)", NULL);
    expect_errors(TOP("'publish_interval_s':3601,"),
                  "$.publish_interval_s: 3601 is out of range (0..3600)", NULL);
    expect_errors(TOP("'publish_interval_s':'30',"),
                  "$.publish_interval_s: expected an integer, got a string",
                  NULL);
    expect_errors(TOP("'publish_interval_s':2.5,"),
                  "$.publish_interval_s: 2.5 is not a whole number", NULL);
    expect_errors(TOP("'guarantee':{'days':-1},"),
                  "$.guarantee.days: -1 is out of range (0..30)", NULL);
    expect_errors(TOP("'poll_interval_s':1e300,"),
                  "$.poll_interval_s: 1e+300 is out of range (10..86400)",
                  NULL);
    expect_errors(TOP("'horizon_days':7.5,"),
                  "$.horizon_days: 7.5 is not a whole number", NULL);
    expect_errors(TOP("'fetch':{'connect_timeout_ms':99,"
                      "'max_body_bytes':1023},"),
                  "$.fetch.connect_timeout_ms: 99 is out of range "
                  "(100..60000)",
                  "$.fetch.max_body_bytes: 1023 is out of range "
                  "(1024..268435456)",
                  NULL);
    expect_errors(TOP("'fetch':{'max_decompress_ratio':9},"
                      "'http':{'request_timeout_ms':499,"
                      "'max_connections':15,'max_age_s':0},"),
                  "$.fetch.max_decompress_ratio: 9 is out of range "
                  "(10..100000)",
                  "$.http.request_timeout_ms: 499 is out of range "
                  "(500..120000)",
                  "$.http.max_connections: 15 is out of range "
                  "(16..1000000)",
                  "$.http.max_age_s: 0 is out of range (1..86400)", NULL);
    expect_errors(TOP("'http':{'request_timeout':5000},"),
                  "$.http.request_timeout: unknown key", NULL);
    expect_errors(TOP("'http':[],"), "$.http: expected an object, got an array",
                  NULL);
    /* 7.0 is a whole number */
    conf_free(parse_ok(TOP("'horizon_days':7.0,")));
    /* 0 = publish every change (no cadence) is allowed. */
    {
        struct conf_region *r = parse_ok(TOP("'publish_interval_s':0,"));

        assert_int_equal(r->publish_interval_s, 0);
        conf_free(r);
    }
}

/* http.public_base_url and http.admin_listen. */
static void test_http_public_keys(void **state)
{
    struct conf_region *r;

    (void)state;
    r = parse_ok(TOP(""));
    assert_null(r->http_public_base_url);
    assert_null(r->http_admin_listen);
    conf_free(r);
    r = parse_ok(TOP("'http':{'public_base_url':"
                     "'https://feed.example.se/vardval/',"
                     "'admin_listen':'127.0.0.1:9090'},"));
    assert_string_equal(r->http_public_base_url,
                        "https://feed.example.se/vardval/");
    assert_string_equal(r->http_admin_listen, "127.0.0.1:9090");
    conf_free(r);
    conf_free(parse_ok(TOP("'http':{'public_base_url':'http://[::1]:8080',"
                           "'admin_listen':'[::1]:9090'},")));
    expect_errors(TOP("'http':{'public_base_url':'ftp://feed.example'},"),
                  "$.http.public_base_url: \"ftp://feed.example\": not an "
                  "absolute http:// or https:// URL (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'public_base_url':'/vardval'},"),
                  "$.http.public_base_url: \"/vardval\": not an absolute "
                  "http:// or https:// URL (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    /* Port 0 and over-long hosts: url_check's rule, as for every URL key. */
    expect_errors(TOP("'http':{'public_base_url':'http://h:0/'},"),
                  "$.http.public_base_url: \"http://h:0/\": not an "
                  "absolute http:// or https:// URL (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'public_base_url':'http://h:65536/'},"),
                  "$.http.public_base_url: \"http://h:65536/\": not an "
                  "absolute http:// or https:// URL (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    /* credentials are refused and never echoed */
    expect_errors(TOP("'http':{'public_base_url':"
                      "'https://u:secret@feed.example'},"),
                  "$.http.public_base_url: \"(not shown)\": credentials "
                  "(user@) are not allowed (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'public_base_url':'https://f.example/?a=1'},"),
                  "$.http.public_base_url: \"https://f.example/?a=1\": a "
                  "query (?) is not allowed (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'public_base_url':'https://f.example/#x'},"),
                  "$.http.public_base_url: \"https://f.example/#x\": a "
                  "fragment (#) is not allowed (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'public_base_url':'https://f.example/a b'},"),
                  "$.http.public_base_url: \"https://f.example/a b\": holds "
                  "a space, control or non-ASCII byte (want e.g. "
                  "https://feed.example.se/vardval)",
                  NULL);
    expect_errors(TOP("'http':{'admin_listen':'9090'},"),
                  "$.http.admin_listen: \"9090\" is not HOST:PORT (port "
                  "1..65535; IPv6 as [::1]:8081)",
                  NULL);
    expect_errors(TOP("'http':{'admin_listen':''},"),
                  "$.http.admin_listen: must not be empty", NULL);
}

static void test_cross_field_rules(void **state)
{
    (void)state;
    /* the window is days 0..horizon-1 and must include day N */
    expect_errors(TOP("'guarantee':{'days':5},'horizon_days':5,"),
                  "$.horizon_days: 5 does not reach the last day of the "
                  "guarantee (guarantee.days 5): polls cover today and the "
                  "next horizon_days - 1 days, so at least 6 is needed",
                  NULL);
    expect_errors(TOP("'guarantee':{'days':28},"),
                  "$.horizon_days: 28 (the default) does not reach the last "
                  "day of the guarantee (guarantee.days 28): polls cover "
                  "today and the next horizon_days - 1 days, so at least 29 "
                  "is needed",
                  NULL);
    expect_errors(TOP("'fetch':{'timeout_ms':4000,"
                      "'connect_timeout_ms':5000},"),
                  "$.fetch.timeout_ms: 4000 is shorter than "
                  "fetch.connect_timeout_ms (5000)",
                  NULL);
    /* A side refused on its own: one mistake, one message (the keys
     * marked CONFCHECK_CROSS in conf.c's tables)... */
    expect_errors(TOP("'guarantee':{'days':'5'},'horizon_days':2,"),
                  "$.guarantee.days: expected an integer, got a string", NULL);
    expect_errors(TOP("'guarantee':5,'horizon_days':2,"),
                  "$.guarantee: expected an object, got a number", NULL);
    expect_errors(TOP("'guarantee':{'days':5},'horizon_days':0,"),
                  "$.horizon_days: 0 is out of range (1..90)", NULL);
    expect_errors(TOP("'fetch':{'timeout_ms':2000,"
                      "'connect_timeout_ms':60001},"),
                  "$.fetch.connect_timeout_ms: 60001 is out of range "
                  "(100..60000)",
                  NULL);
    expect_errors(TOP("'fetch':[],"),
                  "$.fetch: expected an object, got an array", NULL);
    /* ...while another key of the same section refused does not hide
     * the rule. */
    expect_errors(TOP("'guarantee':{'days':5,'counting':'x'},"
                      "'horizon_days':5,"),
                  "$.guarantee.counting: must be \"calendar\" or "
                  "\"working\"",
                  "$.horizon_days: 5 does not reach the last day of the "
                  "guarantee (guarantee.days 5): polls cover today and the "
                  "next horizon_days - 1 days, so at least 6 is needed",
                  NULL);
    expect_errors(TOP("'fetch':{'timeout_ms':4000,"
                      "'connect_timeout_ms':5000,'max_body_bytes':1},"),
                  "$.fetch.max_body_bytes: 1 is out of range "
                  "(1024..268435456)",
                  "$.fetch.timeout_ms: 4000 is shorter than "
                  "fetch.connect_timeout_ms (5000)",
                  NULL);
    /* one day more than N, and equal timeouts, are fine */
    conf_free(parse_ok(TOP("'guarantee':{'days':5},'horizon_days':6,")));
    conf_free(parse_ok(TOP("'guarantee':{'days':27},")));
    conf_free(parse_ok(TOP("'fetch':{'connect_timeout_ms':500,"
                           "'timeout_ms':500},")));
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_errors("[]", "$: expected an object, got an array", NULL);
    expect_errors("'x'", "$: expected an object, got a string", NULL);
    expect_errors("{'name':5,'clinics':{}}",
                  "$.name: expected a string, got a number",
                  "$.clinics: expected an array, got an object", NULL);
    expect_errors(TOP("'guarantee':[],'fetch':true,'riv':null,"),
                  "$.guarantee: expected an object, got an array",
                  "$.fetch: expected an object, got a boolean",
                  "$.riv: expected an object, got null", NULL);
    expect_errors(TOP("'listen':8080,'timezone':null,"),
                  "$.listen: expected a string, got a number",
                  "$.timezone: expected a string, got null", NULL);
    expect_errors(CLINICS("{'id':7,'name':'C','municipality':'M',"
                          "'operator':'region','booking':'yes',"
                          "'sim':[]}"),
                  "$.clinics[0].id: expected a string, got a number",
                  "$.clinics[0].booking: expected an object, got a string",
                  "$.clinics[0].sim: expected an object, got an array", NULL);
    expect_errors(CLINICS("'x'"),
                  "$.clinics[0]: expected an object, got a string", NULL);
}

static void test_required_and_empty(void **state)
{
    (void)state;
    expect_errors("{}", "$: missing required key \"name\"",
                  "$: missing required key \"clinics\"", NULL);
    expect_errors("{'name':'','clinics':[]}", "$.name: must not be empty",
                  "$.clinics: no clinics: the list must not be empty", NULL);
    expect_errors(CLINICS("{}"), "$.clinics[0]: missing required key \"id\"",
                  "$.clinics[0]: missing required key \"name\"",
                  "$.clinics[0]: missing required key \"municipality\"",
                  "$.clinics[0]: missing required key \"operator\"", NULL);
    expect_errors(CLINICS("{'id':'SE2321000156-A1','name':'C',"
                          "'municipality':'M','operator':'region',"
                          "'phone':'','booking':{}}"),
                  "$.clinics[0].phone: must not be empty",
                  "$.clinics[0].booking: missing required key \"adapter\"",
                  "$.clinics[0].booking: missing required key \"url\"", NULL);
}

static void test_duplicate_ids(void **state)
{
    (void)state;
    expect_errors(
        CLINICS("{'id':'SE2321000156-A1','name':'a','municipality':'M',"
                "'operator':'region'},"
                "{'id':'SE2321000156-B2','name':'b','municipality':'M',"
                "'operator':'region'},"
                "{'id':'se2321000156-a1','name':'c','municipality':'M',"
                "'operator':'region'},"
                "{'id':'SE2321000156-b2','name':'d','municipality':'M',"
                "'operator':'region'},"
                "{'id':'Se2321000156-A1','name':'e','municipality':'M',"
                "'operator':'region'}"),
        "$.clinics[2]: duplicate id SE2321000156-A1 (first at $.clinics[0])",
        "$.clinics[3]: duplicate id SE2321000156-B2 (first at $.clinics[1])",
        "$.clinics[4]: duplicate id SE2321000156-A1 (first at $.clinics[0])",
        NULL);
}

static void test_strings_rules(void **state)
{
    (void)state;
    expect_errors(TOP("'timezone':'Europe/Oslo',"),
                  "$.timezone: \"Europe/Oslo\" is not supported: only "
                  "\"Europe/Stockholm\" is",
                  NULL);
    expect_errors("{'name':'a\\tb','clinics':[" CLINIC "]}",
                  "$.name: contains a control character", NULL);
    expect_errors(TOP("'guarantee':{'counting':'Calendar'},"),
                  "$.guarantee.counting: must be \"calendar\" or "
                  "\"working\"",
                  NULL);
    expect_errors(TOP("'riv':{'subject_of_care':'1912121212',"
                      "'actor_type':'agent'},"),
                  "$.riv.subject_of_care: must be 12 digits (YYYYMMDDNNNN)",
                  "$.riv.actor_type: must be \"subject_of_care\" or "
                  "\"subject_of_care_agent\"",
                  NULL);
    expect_errors(TOP("'riv':{'subject_of_care':'19121212-1212'},"),
                  "$.riv.subject_of_care: must be 12 digits (YYYYMMDDNNNN)",
                  NULL);
    expect_errors(TOP("'fetch':{'user_agent':'slotfeed/1 (å)'},"),
                  "$.fetch.user_agent: \"slotfeed/1 (å)\" is not a valid "
                  "User-Agent (printable ASCII, at most 200 characters)",
                  NULL);
}

static void test_listen(void **state)
{
    static const char *const good[] = { "127.0.0.1:8080", "localhost:1",
                                        "[::1]:65535", "0.0.0.0:80", NULL };
    static const char *const bad[] = {
        "127.0.0.1",       ":8080",         "127.0.0.1:",        "127.0.0.1:0",
        "127.0.0.1:65536", "127.0.0.1:80x", "[::1:80",           "[]:80",
        "::1:80",          "host name:80",  "127.0.0.1:0000080", NULL
    };
    char json[256], want[256];
    size_t i;

    (void)state;
    for (i = 0; good[i] != NULL; i++) {
        struct conf_region *r;

        snprintf(json, sizeof(json), TOP("'listen':'%s',"), good[i]);
        r = parse_ok(json);
        assert_string_equal(r->listen, good[i]);
        conf_free(r);
    }
    for (i = 0; bad[i] != NULL; i++) {
        snprintf(json, sizeof(json), TOP("'listen':'%s',"), bad[i]);
        snprintf(want, sizeof(want),
                 "$.listen: \"%s\" is not HOST:PORT "
                 "(port 1..65535; IPv6 as [::1]:8080)",
                 bad[i]);
        expect_errors(json, want, NULL);
    }
}

static void test_urls(void **state)
{
    (void)state;
    expect_errors(CLINICS("{'id':'SE2321000156-A1','name':'C',"
                          "'municipality':'M','operator':'region',"
                          "'website':'www.example.org',"
                          "'booking':{'adapter':'rivta-scheduling',"
                          "'url':'http://','booking_url':'https://a b/'}}"),
                  "$.clinics[0].website: \"www.example.org\" is not an "
                  "http:// or https:// URL",
                  "$.clinics[0].booking.url: \"http://\" is not an http:// "
                  "or https:// URL",
                  "$.clinics[0].booking.booking_url: \"https://a b/\" is not "
                  "an http:// or https:// URL",
                  "$.riv.subject_of_care: missing; required because "
                  "$.clinics[0] uses the rivta-scheduling adapter",
                  NULL);
}

/*
 * Every URL key goes through the runtime's own check (url.h,
 * libcurl's parser): what every poll would fail on is refused here, with
 * its JSON path, in each of the four places a URL can stand.
 */
#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void test_urls_runtime_parser(void **state)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        { "http://h:99999/", "Port number was not a decimal number" },
        { "http://[::1", "Bad IPv6 address" },
        { "http://h:65536/", "Port number was not a decimal number" },
        { "http://h:-1/", "Port number was not a decimal number" },
        { "http://h:abc/", "Port number was not a decimal number" },
        { "http://[zz]/", "Bad IPv6 address" },
        { "http://h:8080:9090/", "Port number was not a decimal number" },
        { "http://h]/", "Bad hostname" },
        { "http://h:0/", "port 0 is not in 1..65535" },
        { "http://" L63 "." L63 "." L63 "." L63 "." L63 "/",
          "host longer than 253 characters" },
    };
    static const char *const paths[] = {
        "$.clinics[0].website",
        "$.clinics[0].booking.url",
        "$.clinics[0].booking.booking_url",
        "$.clinics[0].booking.endpoints.GetAvailableDates.url",
    };
    char json[2048];
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct conf_region *r = (struct conf_region *)1;
        struct conf_errors e = { 0 };
        const char *u = bad[i].url;

        snprintf(json, sizeof(json),
                 "{'name':'R'," RIV "'clinics':[{'id':'SE2321000156-A1',"
                 "'name':'C','municipality':'M','operator':'region',"
                 "'website':'%s','booking':{'adapter':'rivta-scheduling',"
                 "'url':'%s','booking_url':'%s','endpoints':{"
                 "'GetAvailableDates':{'url':'%s'}}}}]}",
                 u, u, u, u);
        if (parse_q(json, &r, &e) == 0) {
            conf_free(r);
            fail_msg("accepted %s", u);
        }
        assert_null(r);
        if (e.n != 4)
            dump(&e);
        assert_int_equal(e.n, 4);
        for (k = 0; k < 4; k++) {
            size_t pl = strlen(paths[k]);

            if (strncmp(e.v[k], paths[k], pl) != 0 ||
                strncmp(e.v[k] + pl, ": ", 2) != 0 ||
                (bad[i].why != NULL && strstr(e.v[k], bad[i].why) == NULL)) {
                dump(&e);
                fail_msg("%s: want %s: ...%s", u, paths[k],
                         bad[i].why ? bad[i].why : "");
            }
        }
        conf_errors_free(&e);
    }
}

/* Credentials in a URL: refused everywhere, and never echoed. */
static void test_urls_no_credentials(void **state)
{
    static const char *const creds[] = {
        "https://alice:s3cret@vp.example/vp",
        "https://alice@vp.example/",
        "http://:s3cret@vp.example/",
        "http://alice:s3cret@vp.example:99999/",
    };
    char json[1024];
    size_t i, k;

    (void)state;
    for (i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
        struct conf_region *r = (struct conf_region *)1;
        struct conf_errors e = { 0 };
        const char *u = creds[i];

        snprintf(json, sizeof(json),
                 "{'name':'R'," RIV "'clinics':[{'id':'SE2321000156-A1',"
                 "'name':'C','municipality':'M','operator':'region',"
                 "'website':'%s','booking':{'adapter':'rivta-scheduling',"
                 "'url':'%s','booking_url':'%s'}}]}",
                 u, u, u);
        assert_int_equal(parse_q(json, &r, &e), -1);
        assert_null(r);
        if (e.n != 3)
            dump(&e);
        assert_int_equal(e.n, 3);
        assert_true(strncmp(e.v[0], "$.clinics[0].website: ", 22) == 0);
        assert_true(strncmp(e.v[1], "$.clinics[0].booking.url: ", 26) == 0);
        assert_true(strncmp(e.v[2], "$.clinics[0].booking.booking_url: ", 34) ==
                    0);
        for (k = 0; k < e.n; k++) {
            assert_null(strstr(e.v[k], "s3cret"));
            assert_null(strstr(e.v[k], "alice"));
            if (strstr(u, "99999") == NULL)
                assert_non_null(strstr(e.v[k], "user name or password"));
        }
        conf_errors_free(&e);
    }
}

/* What the runtime can fetch is accepted, IPv6 literals included. */
static void test_urls_good(void **state)
{
    struct conf_region *r;

    (void)state;
    r = parse_ok("{'name':'R'," RIV "'clinics':[{'id':'SE2321000156-A1',"
                 "'name':'C','municipality':'M','operator':'region',"
                 "'website':'https://h.example:65535/a?b=c#d',"
                 "'booking':{'adapter':'rivta-scheduling',"
                 "'url':'http://[::1]:8080/vp','booking_url':'http://h/',"
                 "'endpoints':{'GetAvailableDates':"
                 "{'url':'https://127.0.0.1:1/x'}}}}]}");
    assert_string_equal(r->clinics[0].booking.url, "http://[::1]:8080/vp");
    assert_string_equal(r->clinics[0].website,
                        "https://h.example:65535/a?b=c#d");
    conf_free(r);
}

static void test_riv_required(void **state)
{
    struct conf_region *r;

    (void)state;
    /* no RIV clinic: no riv needed */
    conf_free(parse_ok(TOP("")));
    /* RIV clinic later in the list: named in the message */
    expect_errors(CLINICS(CLINIC
                          ",{'id':'SE2321000156-A2','name':'C',"
                          "'municipality':'M','operator':'region'," BOOKING
                          "}"),
                  "$.riv.subject_of_care: missing; required because "
                  "$.clinics[1] uses the rivta-scheduling adapter",
                  NULL);
    /* riv given but without subject_of_care */
    expect_errors("{'name':'R','riv':{},'clinics':[{'id':'SE2321000156-A2',"
                  "'name':'C','municipality':'M','operator':'region'," BOOKING
                  "}]}",
                  "$.riv.subject_of_care: missing; required because "
                  "$.clinics[0] uses the rivta-scheduling adapter",
                  NULL);
    r = parse_ok("{'name':'R'," RIV "'clinics':[{'id':'SE2321000156-A2',"
                 "'name':'C','municipality':'M','operator':'region'," BOOKING
                 "}]}");
    assert_true(r->clinics[0].has_booking);
    assert_string_equal(r->clinics[0].booking.adapter, "rivta-scheduling");
    assert_null(r->clinics[0].booking.booking_url);
    assert_null(r->clinics[0].booking.time_type_id);
    conf_free(r);
}

/* The fhir-slot and smart-bulk keys: values, defaults, per-adapter rules. */
#define CL(booking)                                          \
    "{'id':'SE2321000156-A1','name':'C','municipality':'M'," \
    "'operator':'region','booking':{" booking "}}"
#define FHIR "'adapter':'fhir-slot','url':'https://fhir.example/r4',"
#define SMART "'adapter':'smart-bulk','url':'https://p.example/$bulk-publish',"

static void test_fhir_smart_keys(void **state)
{
    struct conf_region *r;
    const struct conf_booking *b;

    (void)state;
    r = parse_ok(CLINICS(
        CL(FHIR
           "'actor':'HealthcareService/abc-1.2',"
           "'token_file':'/etc/slotfeed/token',"
           "'search':'service-type=http://snomed.info/"
           "sct%7C91251008&_elements=start',"
           "'page_cap':3") ","
                           "{'id':'SE2321000156-A2','name':'C','municipality':"
                           "'M','operator':'region','booking':{" SMART
                           "'location':'0'}}"));
    b = &r->clinics[0].booking;
    assert_string_equal(b->adapter, "fhir-slot");
    assert_string_equal(b->actor, "HealthcareService/abc-1.2");
    assert_string_equal(b->token_file, "/etc/slotfeed/token");
    assert_string_equal(b->search,
                        "service-type=http://snomed.info/sct%7C91251008"
                        "&_elements=start");
    assert_int_equal(b->page_cap, 3);
    assert_null(b->location);
    b = &r->clinics[1].booking;
    assert_string_equal(b->location, "0");
    assert_null(b->actor);
    assert_null(b->token_file);
    assert_null(b->search);
    assert_int_equal(b->page_cap, CONF_DEFAULT_PAGE_CAP); /* default */
    conf_free(r);

    /* null optional keys mean absent */
    r = parse_ok(CLINICS(CL(FHIR "'actor':'Location/1','token_file':null,"
                                 "'search':null")));
    assert_null(r->clinics[0].booking.token_file);
    assert_null(r->clinics[0].booking.search);
    conf_free(r);

    /* required per adapter */
    expect_errors(CLINICS(CL(FHIR "'page_cap':2")),
                  "$.clinics[0].booking: missing required key \"actor\" "
                  "(the fhir-slot adapter needs it)",
                  NULL);
    expect_errors(CLINICS(CL(SMART "'booking_url':'https://b.example/'")),
                  "$.clinics[0].booking: missing required key \"location\" "
                  "(the smart-bulk adapter needs it)",
                  NULL);
    /* keys another adapter reads are refused, not silently ignored */
    expect_errors(CLINICS(CL(SMART "'location':'7','actor':'Location/7',"
                                   "'page_cap':5")),
                  "$.clinics[0].booking.actor: only used by the fhir-slot "
                  "adapter, not by smart-bulk",
                  "$.clinics[0].booking.page_cap: only used by the "
                  "fhir-slot adapter, not by smart-bulk",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/7','location':'7'")),
                  "$.clinics[0].booking.location: only used by the "
                  "smart-bulk adapter, not by fhir-slot",
                  NULL);

    /* bad values */
    expect_errors(CLINICS(CL(FHIR "'actor':'Location'")),
                  "$.clinics[0].booking.actor: \"Location\" is not a FHIR "
                  "reference Type/id (e.g. \"Location/123\"; id: 1..64 "
                  "letters, digits, '-', '.')",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'location/1'")),
                  "$.clinics[0].booking.actor: \"location/1\" is not a FHIR "
                  "reference Type/id (e.g. \"Location/123\"; id: 1..64 "
                  "letters, digits, '-', '.')",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1&status=busy'")),
                  "$.clinics[0].booking.actor: \"Location/1&status=busy\" is "
                  "not a FHIR reference Type/id (e.g. \"Location/123\"; id: "
                  "1..64 letters, digits, '-', '.')",
                  NULL);
    expect_errors(CLINICS(CL(SMART "'location':'a b'")),
                  "$.clinics[0].booking.location: \"a b\" is not a FHIR id "
                  "(1..64 letters, digits, '-', '.')",
                  NULL);
    expect_errors(CLINICS(CL(SMART
                             "'location':"
                             "'12345678901234567890123456789012345678901234"
                             "567890123456789012345'")),
                  /* a digit run cut short is dropped whole (pnr_cut):
                   * its front could read as a personnummer */
                  "$.clinics[0].booking.location: \"...\" is not a FHIR id "
                  "(1..64 letters, digits, '-', '.')",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1',"
                                  "'search':'a=1#frag'")),
                  "$.clinics[0].booking.search: \"a=1#frag\" is not "
                  "name=value pairs joined by '&' (URL query characters "
                  "only, no '#' or spaces)",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1','search':'&a=1'")),
                  "$.clinics[0].booking.search: \"&a=1\" is not "
                  "name=value pairs joined by '&' (URL query characters "
                  "only, no '#' or spaces)",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1','search':'novalue'")),
                  "$.clinics[0].booking.search: \"novalue\" is not "
                  "name=value pairs joined by '&' (URL query characters "
                  "only, no '#' or spaces)",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1','search':'a=%zz'")),
                  "$.clinics[0].booking.search: \"a=%zz\" is not "
                  "name=value pairs joined by '&' (URL query characters "
                  "only, no '#' or spaces)",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1','page_cap':0")),
                  "$.clinics[0].booking.page_cap: 0 is out of range "
                  "(1..1000)",
                  NULL);
    expect_errors(CLINICS(CL(FHIR "'actor':'Location/1','token_file':''")),
                  "$.clinics[0].booking.token_file: must not be empty", NULL);
}

static void test_hsa_id(void **state)
{
    /* 13 + 18 = 31 characters, then 32 */
    static const char id31[] = "SE2321000156-ABCDEFGHIJ12345678";
    static const char id32[] = "SE2321000156-ABCDEFGHIJ123456789";

    (void)state;
    assert_int_equal(strlen(id31), 31);
    assert_int_equal(strlen(id32), 32);
    assert_true(conf_valid_hsa_id(id31));
    assert_false(conf_valid_hsa_id(id32));
    assert_true(conf_valid_hsa_id("SE2321000156-F001"));
    assert_true(conf_valid_hsa_id("SE2321000016-1hz5"));
    assert_true(conf_valid_hsa_id("se2321000156-f001")); /* case-free */
    assert_true(conf_valid_hsa_id("SE2321000156-1"));
    assert_false(conf_valid_hsa_id("SE2321000156-Få1"));
    assert_false(conf_valid_hsa_id("SE2321000156F001"));   /* no dash */
    assert_false(conf_valid_hsa_id("SE2321000156-"));      /* no suffix */
    assert_false(conf_valid_hsa_id("SE232100015-F001"));   /* 9 digits */
    assert_false(conf_valid_hsa_id("SE23210001567-F001")); /* 11 digits */
    assert_false(conf_valid_hsa_id("TST2321000156-102C"));
    assert_false(conf_valid_hsa_id("SE2321000156-F0-1"));
    assert_false(conf_valid_hsa_id("SE2321000156-F001 "));
    assert_false(conf_valid_hsa_id(" SE2321000156-F001"));
    assert_false(conf_valid_hsa_id("SE23210001x6-F001"));
    assert_false(conf_valid_hsa_id(""));
    assert_false(conf_valid_hsa_id(NULL));

    /* through the parser: 32 characters and å are reported with a path */
    expect_errors(CLINICS("{'id':'SE2321000156-ABCDEFGHIJ123456789',"
                          "'name':'C','municipality':'M',"
                          "'operator':'region'}"),
                  "$.clinics[0].id: \"SE2321000156-ABCDEFGHIJ123456789\" is "
                  "not a valid HSA-id (want SE + 10 digits + \"-\" + "
                  "letters/digits, at most 31 chars)",
                  NULL);
    expect_errors(CLINICS("{'id':'SE2321000156-Få1','name':'C',"
                          "'municipality':'M','operator':'region'}"),
                  "$.clinics[0].id: \"SE2321000156-Få1\" is not a valid "
                  "HSA-id (want SE + 10 digits + \"-\" + letters/digits, at "
                  "most 31 chars)",
                  NULL);
}

/*
 * Bad input never crashes or leaks (the ASan build checks the leaks):
 * prefixes of the demo file, and copies with single bytes replaced by
 * characters that matter to JSON or UTF-8. Each run either succeeds with
 * no errors or fails with at least one, never both.
 */
static void test_mutations(void **state)
{
    static const char subst[] = "\"{}[],:0\\\x80\xc3\xff\n a";
    struct conf_region *r;
    struct conf_errors e;
    char *text = NULL, *copy;
    size_t len = 0, i, cap = 0, got;
    uint32_t seed = 12345;
    int rc, failures = 0;
    FILE *f = fopen(DEMO, "rb");

    (void)state;
    assert_non_null(f);
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            text = realloc(text, cap);
            assert_non_null(text);
        }
        got = fread(text + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    copy = malloc(len);
    assert_non_null(copy);

    for (i = 0; i < len; i += 97) {
        r = NULL;
        memset(&e, 0, sizeof(e));
        rc = conf_parse(text, i, &r, &e);
        assert_int_equal(rc, -1); /* no prefix is a whole object */
        assert_null(r);
        assert_true(e.n >= 1);
        conf_errors_free(&e);
    }
    for (i = 0; i < 2000; i++) {
        size_t pos;

        seed = seed * 1103515245u + 12345u;
        pos = (seed >> 8) % len;
        memcpy(copy, text, len);
        copy[pos] = subst[(seed >> 4) % (sizeof(subst) - 1)];
        r = NULL;
        memset(&e, 0, sizeof(e));
        rc = conf_parse(copy, len, &r, &e);
        if (rc == 0) {
            assert_non_null(r);
            assert_int_equal(e.n, 0);
            conf_free(r);
        } else {
            assert_null(r);
            assert_true(e.n >= 1);
            failures++;
        }
        conf_errors_free(&e);
    }
    /* most single-byte changes break something; some hit free text */
    assert_true(failures > 1000);
    free(copy);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_region),
        cmocka_unit_test(test_demo_matches_csv),
        cmocka_unit_test(test_find_clinic),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_all_keys_set),
        cmocka_unit_test(test_many_errors_fixture),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_syntax_error_line_column),
        cmocka_unit_test(test_errors_never_echo_personnummer),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_unknown_and_duplicate_keys),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_http_public_keys),
        cmocka_unit_test(test_cross_field_rules),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_required_and_empty),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_strings_rules),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_urls_runtime_parser),
        cmocka_unit_test(test_urls_no_credentials),
        cmocka_unit_test(test_urls_good),
        cmocka_unit_test(test_riv_required),
        cmocka_unit_test(test_hsa_id),
        cmocka_unit_test(test_fhir_smart_keys),
        cmocka_unit_test(test_mutations),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
