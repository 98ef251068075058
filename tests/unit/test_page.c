/*
 * test_page.c - the server-rendered patient page (page.h): markup from the
 * region and upstream is escaped, the form's parameters filter and sort
 * as the API does, a bad kommun is a 400 page that says so, English and
 * Accept-Language, and a page is byte-identical (one cached entry) for
 * one snapshot and rendered anew for the next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slotfeed/api.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/page.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00, a Tuesday */
#define DAY 86400

enum {
    C_KARL,
    C_HOSTILE,
    C_ARV,
    C_NONE,
    N
};

static struct conf_clinic clinics[N];
static struct clinic_state states[N];
static struct conf_region region;
static struct geo_table *geo;

static const char hostile[] = "Fysio <img src=x onerror=\"x()\"> & 'Co'";

static struct feed_snapshot *make(int extra_slot)
{
    static const char *const names[N] = { "Östra Fysio", NULL, "Arvika Rehab",
                                          "Ängen Fysio" };
    static const char *const muns[N] = { "Karlstad", "Karlstad", "Arvika",
                                         "Karlstad" };
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    int i;

    memset(clinics, 0, sizeof(clinics));
    memset(states, 0, sizeof(states));
    memset(&region, 0, sizeof(region));
    for (i = 0; i < N; i++) {
        static char ids[N][32];
        snprintf(ids[i], sizeof(ids[i]), "SE2321000156-AAA%d", i);
        clinics[i].id = ids[i];
        clinics[i].name = (char *)(names[i] ? names[i] : hostile);
        clinics[i].municipality = (char *)muns[i];
        clinics[i].locality = (char *)muns[i];
        clinics[i].operator_kind = "private";
        clinics[i].has_booking = i != C_NONE;
        clinics[i].booking.booking_url =
            i == C_HOSTILE ? "javascript:alert(1)" : "https://boka.example/x";
        states[i].conf = &clinics[i];
        states[i].web = i == C_NONE ? WEB_NONE : WEB_OPEN;
        states[i].has_data = i != C_NONE;
        states[i].checked_at = states[i].valid_at = NOW - 10;
        avail_slots_init(&states[i].slots);
    }
    clinics[C_NONE].phone = "054-12 34 56";
    clinics[C_NONE].website = "javascript:alert(2)";
    assert_int_equal(avail_slots_add(&states[C_KARL].slots, NOW + 2 * DAY,
                                     NOW + 2 * DAY + 1800, NULL, NULL, NULL),
                     0);
    assert_int_equal(avail_slots_add(&states[C_HOSTILE].slots, NOW + 3600,
                                     NOW + 5400, NULL, NULL, NULL),
                     0);
    assert_int_equal(avail_slots_add(&states[C_ARV].slots, NOW + 9 * DAY,
                                     NOW + 9 * DAY + 1800, NULL, NULL, NULL),
                     0);
    if (extra_slot)
        assert_int_equal(avail_slots_add(&states[C_ARV].slots, NOW + DAY,
                                         NOW + DAY + 1800, NULL, NULL, NULL),
                         0);
    region.name = "Värmland <demo>";
    region.timezone = "Europe/Stockholm";
    region.guarantee.days = 3;
    region.poll_interval_s = 60;
    region.horizon_days = 28;
    region.clinics = clinics;
    region.nclinics = N;
    assert_int_equal(feed_build(&region, states, NOW, &s, &err), 0);
    for (i = 0; i < N; i++)
        avail_slots_clear(&states[i].slots);
    return s;
}

/* Render with the query string q (as the server parses it). */
static char *render(const struct feed_snapshot *s, const char *query,
                    const char *accept_language, int *status)
{
    struct api_params p = { .n = 0 };
    struct sf_error err = { 0 };
    struct page_query pq;
    struct doc d;
    bool cacheable;

    assert_int_equal(api_params_parse(query, &p, &err), 0);
    page_query_of(&p, accept_language, &pq);
    assert_int_equal(page_render(s, geo, &pq, &d, status, &cacheable), 0);
    api_params_clear(&p);
    return d.json;
}

/* Position of needle in hay, or fail. */
static size_t at(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);

    if (p == NULL)
        fail_msg("page lacks %s", needle);
    return (size_t)(p - hay);
}

static void test_escaping(void **state)
{
    struct feed_snapshot *s = make(0);
    int st;
    char *h = render(s, NULL, NULL, &st);

    (void)state;
    assert_int_equal(st, 200);
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<demo>"));
    at(h, "Fysio &lt;img src=x onerror=&quot;x()&quot;&gt; &amp; "
          "&#39;Co&#39;");
    at(h, "Värmland &lt;demo&gt;");
    /* Not an http(s) URL: never a link. */
    assert_null(strstr(h, "javascript:"));
    at(h, "href=\"tel:054123456\"");
    at(h, "<html lang=\"sv\">");
    free(h);
    feed_snapshot_free(s);
}

static void test_parameters(void **state)
{
    struct feed_snapshot *s = make(0);
    char *h;
    int st;

    (void)state;
    /* All: by name, Swedish order (Ö after A), no-booking apart. */
    h = render(s, NULL, NULL, &st);
    assert_true(at(h, "Arvika Rehab") < at(h, "Fysio &lt;"));
    assert_true(at(h, "Fysio &lt;") < at(h, "Östra Fysio"));
    assert_true(at(h, "id=\"section-none\"") < at(h, "Ängen Fysio"));
    at(h, "Visar 3 mottagningar med webbokning och 1 utan, i "
          "bokstavsordning.");
    free(h);
    /* Kommun. */
    h = render(s, "kommun=Arvika", NULL, &st);
    assert_int_equal(st, 200);
    assert_null(strstr(h, "Östra Fysio"));
    at(h, "<option value=\"Arvika\" selected>");
    at(h, "Visar 1 mottagning med webbokning i Arvika");
    free(h);
    /* The guarantee entry: within 3 days only, earliest first. */
    h = render(s, "vy=inom-3-dagar", NULL, &st);
    assert_null(strstr(h, "Arvika Rehab"));
    assert_true(at(h, "Fysio &lt;") < at(h, "Östra Fysio"));
    at(h, "<input type=\"hidden\" name=\"vy\" value=\"inom-3-dagar\">");
    at(h, "2 mottagningar har en ledig tid inom 3 dagar, den tidigaste "
          "tiden först.");
    at(h, "senast fredag 3 april");
    free(h);
    /* Near: the API's distances and order, said in the live region. */
    h = render(s, "nara=Arvika", NULL, &st);
    assert_true(at(h, "Arvika Rehab") < at(h, "Fysio &lt;"));
    at(h, "sorterat efter avstånd från Arvika.");
    at(h, "value=\"Arvika\"");
    free(h);
    /* Both: said on the page. */
    h = render(s, "kommun=Karlstad&nara=Arvika", NULL, &st);
    at(h, "id=\"filter-note\"");
    assert_null(strstr(h, "Arvika Rehab"));
    free(h);
    feed_snapshot_free(s);
}

static void test_bad_query(void **state)
{
    struct feed_snapshot *s = make(0);
    char *h;
    int st;

    (void)state;
    h = render(s, "kommun=%3Cb%3EOslo", NULL, &st);
    assert_int_equal(st, 400);
    at(h, "Kommunen ”&lt;b&gt;Oslo” finns inte i regionen");
    at(h, "Arvika Rehab"); /* every clinic still shown */
    free(h);
    h = render(s, "nara=Atlantis&utm_source=x", NULL, &st);
    assert_int_equal(st, 200);
    at(h, "Vi känner inte igen ”Atlantis”");
    at(h, "i bokstavsordning");
    free(h);
    feed_snapshot_free(s);
}

static void test_english(void **state)
{
    struct feed_snapshot *s = make(0);
    char *h;
    int st;

    (void)state;
    h = render(s, "lang=en&vy=inom-3-dagar", NULL, &st);
    at(h, "<html lang=\"en\">");
    at(h, "on or before Friday 3 April");
    at(h, "The care guarantee (vårdgarantin) means");
    at(h, "<input type=\"hidden\" name=\"lang\" value=\"en\">");
    at(h, "Thu 2 April, 09:00");
    assert_null(strstr(h, "Mottagningar med webbokning"));
    free(h);
    h = render(s, NULL, "en-GB,en;q=0.9,sv;q=0.5", &st);
    at(h, "<html lang=\"en\">");
    free(h);
    h = render(s, NULL, "de, sv;q=0.8, en;q=0.7", &st);
    at(h, "<html lang=\"sv\">");
    free(h);
    h = render(s, "lang=sv", "en", &st); /* the parameter wins */
    at(h, "<html lang=\"sv\">");
    at(h, "tor 2 april kl. 09:00");
    free(h);
    feed_snapshot_free(s);
}

static void test_cache_per_snapshot(void **state)
{
    struct api_cache *c = api_cache_new(8);
    struct feed_snapshot *s1 = make(0), *s2;
    struct page_query q = { .kommun = "Arvika", .lang = PAGE_SV };
    struct api_entry *a, *b;
    int st;

    (void)state;
    assert_non_null(c);
    a = page_cache_get(c, s1, geo, &q, &st);
    b = page_cache_get(c, s1, geo, &q, &st);
    assert_ptr_equal(a, b); /* one rendering per snapshot */
    assert_non_null(a->gz.json);
    assert_string_equal(a->plain.etag, b->plain.etag);
    api_entry_unref(b);
    s2 = make(1); /* Arvika now within 3 days */
    b = page_cache_get(c, s2, geo, &q, &st);
    assert_ptr_not_equal(a, b);
    assert_string_not_equal(a->plain.etag, b->plain.etag);
    assert_non_null(strstr(b->plain.json, "badge-ok"));
    assert_null(strstr(a->plain.json, "badge-ok"));
    api_entry_unref(a);
    api_entry_unref(b);
    /* A bad kommun is not kept (it echoes what was typed). */
    q.kommun = "Oslo";
    a = page_cache_get(c, s2, geo, &q, &st);
    assert_int_equal(st, 400);
    b = page_cache_get(c, s2, geo, &q, &st);
    assert_ptr_not_equal(a, b);
    api_entry_unref(a);
    api_entry_unref(b);
    api_cache_free(c);
    feed_snapshot_free(s1);
    feed_snapshot_free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_bad_query),
        cmocka_unit_test(test_english),
        cmocka_unit_test(test_cache_per_snapshot),
    };
    struct sf_error err = { 0 };
    int rc;

    geo = geo_load(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", &err);
    if (geo == NULL) {
        fprintf(stderr, "geo_load: %s\n", err.msg);
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    geo_free(geo);
    return rc;
}
