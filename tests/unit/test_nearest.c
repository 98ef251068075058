/*
 * test_nearest.c - the clinicians' question (nearest.h): strict
 * parameters, the two lists (nearest by distance, nearest within the
 * guarantee) from a snapshot and the real Värmland place table, the JSON
 * against docs/feed.schema.json $defs/nearest, and the page: escaped,
 * phone and address on every clinic, the form echoing what was typed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "slotfeed/api.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/nearest.h"
#include "th_schema.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00 */

enum {
    KSD,
    MOLKOM,
    KIL,
    ARVIKA,
    NOWHERE,
    NCLIN
};

static struct geo_table *geo;
static struct conf_clinic clinics[NCLIN];
static struct conf_region region;
static struct clinic_state states[NCLIN];

static const char hostile[] = "Fysio <img src=x onerror=alert(1)> & \"Co\"";

/* Karlstad and Kil have a free time within 3 days; Molkom (nearest to
 * Molkom) has no web booking; Arvika's first time is after the window;
 * one clinic's locality is not in the table. */
static struct feed_snapshot *snapshot(void)
{
    static const char *const ids[NCLIN] = {
        "SE2321000156-AAA1", "SE2321000156-BBB2", "SE2321000156-CCC3",
        "SE2321000156-DDD4", "SE2321000156-EEE5"
    };
    static const char *const munis[NCLIN] = { "Karlstad", "Karlstad", "Kil",
                                              "Arvika", "Atlantis" };
    static const char *const locs[NCLIN] = { "Karlstad", "Molkom", NULL, NULL,
                                             NULL };
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    int i;

    memset(clinics, 0, sizeof(clinics));
    memset(states, 0, sizeof(states));
    memset(&region, 0, sizeof(region));
    for (i = 0; i < NCLIN; i++) {
        clinics[i].id = (char *)ids[i];
        clinics[i].name = i == KIL ? (char *)hostile : "Fysio";
        clinics[i].municipality = (char *)munis[i];
        clinics[i].locality = (char *)locs[i];
        clinics[i].operator_kind = "region";
        clinics[i].phone = "070-174 06 05";
        clinics[i].address = "Storgatan 1, 652 24 Karlstad";
        clinics[i].has_booking = i != MOLKOM;
        clinics[i].booking.booking_url = "https://e-tjanster.1177.se/boka";
        states[i].conf = &clinics[i];
        avail_slots_init(&states[i].slots);
        states[i].web = i == MOLKOM ? WEB_NONE : WEB_OPEN;
        states[i].status = CLINIC_OK;
        states[i].checked_at = states[i].valid_at = NOW - 10;
        states[i].has_data = i != MOLKOM;
    }
    clinics[KIL].website = "javascript:alert(1)"; /* never a link */
    assert_int_equal(avail_slots_add(&states[KSD].slots, NOW + 3600, NOW + 5400,
                                     NULL, NULL, NULL),
                     0);
    assert_int_equal(avail_slots_add(&states[KIL].slots, NOW + 7200, NOW + 9000,
                                     NULL, NULL, NULL),
                     0);
    assert_int_equal(avail_slots_add(&states[ARVIKA].slots, NOW + 10 * 86400,
                                     NOW + 10 * 86400 + 1800, NULL, NULL, NULL),
                     0);
    assert_int_equal(avail_slots_add(&states[NOWHERE].slots, NOW + 3600,
                                     NOW + 5400, NULL, NULL, NULL),
                     0);
    region.name = "Test";
    region.timezone = "Europe/Stockholm";
    region.guarantee.days = 3;
    region.poll_interval_s = 60;
    region.clinics = clinics;
    region.nclinics = NCLIN;
    assert_int_equal(feed_build(&region, states, NOW, &s, &err), 0);
    for (i = 0; i < NCLIN; i++)
        avail_slots_clear(&states[i].slots);
    return s;
}

static void params(struct api_params *p, const char *query)
{
    struct sf_error err = { 0 };

    assert_int_equal(api_params_parse(query, p, &err), 0);
}

static void expect_api_bad(const char *query, const char *needle,
                           const struct geo_table *g)
{
    struct api_params p = { .n = 0 };
    struct nearest_query q;
    struct sf_error err = { 0 };

    params(&p, query);
    if (nearest_parse_api(&p, g, &q, &err) != -1 ||
        strstr(err.msg, needle) == NULL)
        fail_msg("%s: want an error with \"%s\", got \"%s\"", query, needle,
                 err.msg);
    api_params_clear(&p);
}

static void test_parse_api(void **state)
{
    struct api_params p = { .n = 0 };
    struct nearest_query q;
    struct sf_error err = { 0 };

    (void)state;
    expect_api_bad("", "near: required", geo);
    expect_api_bad("limit=2", "near: required", geo);
    expect_api_bad("near=Oslo", "Oslo", geo);
    expect_api_bad("near=Molkom&near=Kil", "near: given twice", geo);
    expect_api_bad("near=Molkom&limit=0", "limit", geo);
    expect_api_bad("near=Molkom&limit=11", "limit", geo);
    expect_api_bad("near=Molkom&limit=2x", "limit", geo);
    expect_api_bad("near=Molkom&limit=-1", "limit", geo);
    expect_api_bad("near=Molkom&limit=2&limit=3", "limit: given twice", geo);
    expect_api_bad("near=Molkom&kommun=Kil", "unknown parameter \"kommun\"",
                   geo);
    expect_api_bad("near=Molkom", "near is not available", NULL);

    params(&p, "near=652+24&limit=10");
    assert_int_equal(nearest_parse_api(&p, geo, &q, &err), 0);
    assert_true(q.has_place);
    assert_string_equal(q.place, "Karlstad");
    assert_int_equal(q.limit, 10);
    api_params_clear(&p);
    params(&p, "near=molkom");
    assert_int_equal(nearest_parse_api(&p, geo, &q, &err), 0);
    assert_string_equal(q.place, "Molkom");
    assert_int_equal(q.limit, NEAREST_LIMIT_DEFAULT);
    api_params_clear(&p);
}

static void test_parse_page(void **state)
{
    struct api_params p = { .n = 0 };
    struct nearest_query q;
    struct sf_error err = { 0 };

    (void)state;
    params(&p, "");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), 0);
    assert_false(q.has_place); /* the form alone */
    api_params_clear(&p);
    params(&p, "nara=+");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), 0);
    assert_false(q.has_place);
    api_params_clear(&p);
    params(&p, "nara=Skoghall");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), 0);
    assert_string_equal(q.place, "Skoghall");
    api_params_clear(&p);
    params(&p, "nara=Oslo%22%3E");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), -1);
    assert_string_equal(q.typed, "Oslo\">"); /* kept for the form */
    assert_non_null(strstr(err.msg, "känner inte igen"));
    api_params_clear(&p);
    params(&p, "nara=Kil&near=Kil");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), -1);
    api_params_clear(&p);
    params(&p, "nara=Kil&nara=Eda");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), -1);
    api_params_clear(&p);
}

static const char *id_at(const cJSON *doc, const char *list, int i)
{
    const cJSON *c =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, list), i);

    assert_non_null(c);
    return cJSON_GetObjectItemCaseSensitive(c, "id")->valuestring;
}

static char *build(struct feed_snapshot *s, const char *query, cJSON **doc)
{
    struct api_params p = { .n = 0 };
    struct nearest_query q;
    struct sf_error err = { 0 };
    struct doc d;

    params(&p, query);
    assert_int_equal(nearest_parse_api(&p, geo, &q, &err), 0);
    assert_int_equal(nearest_build(s, geo, &q, &d), 0);
    api_params_clear(&p);
    *doc = cJSON_Parse(d.json);
    assert_non_null(*doc);
    return d.json;
}

static void test_lists(void **state)
{
    struct feed_snapshot *s = snapshot();
    const cJSON *c;
    cJSON *doc;
    char *json, dir[512];
    int rc;

    (void)state;
    json = build(s, "near=Molkom", &doc);
    /* Nearest by distance: Molkom itself (no web booking), then Kil
     * (about 25 km), then Karlstad (about 27 km); never the clinic
     * without a known place. */
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(doc, "nearest")),
                     3);
    assert_string_equal(id_at(doc, "nearest", 0), clinics[MOLKOM].id);
    assert_string_equal(id_at(doc, "nearest", 1), clinics[KIL].id);
    assert_string_equal(id_at(doc, "nearest", 2), clinics[KSD].id);
    c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "nearest"), 0);
    assert_true(
        cJSON_GetObjectItemCaseSensitive(c, "distance_km")->valuedouble == 0.0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "address")
                            ->valuestring,
                        "Storgatan 1, 652 24 Karlstad");
    /* Within the guarantee: only Kil and Karlstad (Arvika's time is
     * later, Atlantis has no place), nearest first. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         doc, "nearest_within_guarantee")),
                     2);
    assert_string_equal(id_at(doc, "nearest_within_guarantee", 0),
                        clinics[KIL].id);
    assert_string_equal(id_at(doc, "nearest_within_guarantee", 1),
                        clinics[KSD].id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(doc, "near"),
                            "place")
                            ->valuestring,
                        "Molkom");
    snprintf(dir, sizeof(dir), "%s/test-nearest", SLOTFEED_BINARY_DIR);
    rc = th_schema_validate(dir, "nearest", "nearest.json", json);
    if (rc != TH_SCHEMA_NO_MODULE)
        assert_int_equal(rc, 0);
    cJSON_Delete(doc);
    free(json);

    /* limit cuts both lists. */
    json = build(s, "near=Arvika&limit=1", &doc);
    assert_int_equal(cJSON_GetArraySize(
                         cJSON_GetObjectItemCaseSensitive(doc, "nearest")),
                     1);
    assert_string_equal(id_at(doc, "nearest", 0), clinics[ARVIKA].id);
    assert_string_equal(id_at(doc, "nearest_within_guarantee", 0),
                        clinics[KIL].id);
    cJSON_Delete(doc);
    free(json);
    feed_snapshot_free(s);
}

static void test_page(void **state)
{
    struct feed_snapshot *s = snapshot();
    struct api_params p = { .n = 0 };
    struct nearest_query q;
    struct sf_error err = { 0 };
    struct doc d;
    char *page;
    size_t len = 0;

    (void)state;
    params(&p, "nara=molkom");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), 0);
    assert_int_equal(nearest_build(s, geo, &q, &d), 0);
    page = nearest_page(&q, d.json, d.len, NULL, &len);
    assert_non_null(page);
    assert_int_equal(strlen(page), len);
    assert_non_null(strstr(page, "<html lang=\"sv\">"));
    assert_non_null(strstr(page, "value=\"molkom\""));
    assert_non_null(strstr(page, "Närmast Molkom"));
    /* Every clinic: address and a tel: link; markup shown as text. */
    assert_non_null(strstr(page, "href=\"tel:0701740605\""));
    assert_non_null(strstr(page, "Storgatan 1, 652 24 Karlstad"));
    assert_null(strstr(page, "<img"));
    assert_non_null(strstr(page, "Fysio &lt;img src=x onerror=alert(1)&gt; "
                                 "&amp; &quot;Co&quot;"));
    assert_null(strstr(page, "javascript:"));
    assert_non_null(strstr(page, "Ingen webbokning: ring mottagningen"));
    assert_non_null(strstr(page, "Ledig nybesökstid inom 3 dagar:</strong> "
                                 "första tisdag 31 mars kl. 10.00"));
    assert_non_null(strstr(page, "Närmaste med ledig nybesökstid inom 3 "
                                 "dagar"));
    assert_non_null(strstr(page, "@media print"));
    free(page);
    free(d.json);
    api_params_clear(&p);

    /* A place we do not know: the form with what was typed, escaped, and
     * the message; no lists. */
    params(&p, "nara=%3Cscript%3E");
    assert_int_equal(nearest_parse_page(&p, geo, &q, &err), -1);
    page = nearest_page(&q, NULL, 0, err.msg, &len);
    assert_non_null(page);
    assert_null(strstr(page, "<script>"));
    assert_non_null(strstr(page, "value=\"&lt;script&gt;\""));
    assert_non_null(strstr(page, "role=\"alert\""));
    assert_null(strstr(page, "Närmaste mottagningar"));
    free(page);
    api_params_clear(&p);
    feed_snapshot_free(s);
}

static int setup(void **state)
{
    struct sf_error err = { 0 };

    (void)state;
    geo = geo_load(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", &err);
    return geo == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    geo_free(geo);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_api),
        cmocka_unit_test(test_parse_page),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_page),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
