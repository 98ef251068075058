/*
 * test_overview.c - the overview filled on the server (overview.h): the
 * count tables hold the feed's numbers per operator and municipality (in
 * Swedish order, "Totalt" in the foot), the problem and no-web-booking
 * lists hold exactly their clinics, strings from the region and upstream
 * are escaped and only http(s) websites become links, the shell outside
 * the filled elements is copied as it is, and one page is kept per
 * snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slotfeed/feed.h"
#include "slotfeed/overview.h"
#include "slotfeed/web.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00, a Tuesday */
#define DAY 86400

/* Karlstad: 2 within the guarantee, 1 without web booking; Arvika: 1
 * unreachable (a hostile name and error); Årjäng: 1 open beyond the
 * guarantee, 1 without web booking. */
enum {
    C_KARL,
    C_KARL2,
    C_ARV,
    C_NONE,
    C_ARJ,
    C_ARJ_NONE,
    N
};

static struct conf_clinic clinics[N];
static struct clinic_state states[N];
static struct conf_region region;

static const char hostile[] = "Fysio <img src=x onerror=\"x()\"> & 'Co'";
static const char hostile_esc[] =
    "Fysio &lt;img src=x onerror=&quot;x()&quot;&gt; &amp; &#39;Co&#39;";

static void add_slot(int i, int64_t at)
{
    assert_int_equal(avail_slots_add(&states[i].slots, at, at + 1800, NULL,
                                     NULL, NULL),
                     0);
}

static struct feed_snapshot *make(int arj_within)
{
    static const char *const names[N] = { "Östra Fysio",  "Klara Rehab",
                                          NULL,           "Ängen Fysio",
                                          "Årjäng Fysio", "Töcksfors Fysio" };
    static const char *const muns[N] = { "Karlstad", "Karlstad", "Arvika",
                                         "Karlstad", "Årjäng",   "Årjäng" };
    static const char *const ops[N] = { "private", "region", "private",
                                        NULL,      "region", "private" };
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    int i;

    memset(clinics, 0, sizeof(clinics));
    memset(states, 0, sizeof(states));
    memset(&region, 0, sizeof(region));
    for (i = 0; i < N; i++) {
        static char ids[N][32];
        bool none = i == C_NONE || i == C_ARJ_NONE;

        snprintf(ids[i], sizeof(ids[i]), "SE2321000156-OVW%d", i);
        clinics[i].id = ids[i];
        clinics[i].name = (char *)(names[i] ? names[i] : hostile);
        clinics[i].municipality = (char *)muns[i];
        clinics[i].locality = (char *)muns[i];
        clinics[i].operator_kind = (char *)ops[i];
        clinics[i].has_booking = !none;
        clinics[i].booking.booking_url = "https://boka.example/x";
        states[i].conf = &clinics[i];
        states[i].web = none ? WEB_NONE : WEB_OPEN;
        states[i].has_data = !none;
        states[i].checked_at = states[i].valid_at = NOW - 10;
        avail_slots_init(&states[i].slots);
    }
    states[C_ARV].web = WEB_UNREACHABLE;
    states[C_ARV].has_data = false;
    states[C_ARV].valid_at = 0;
    states[C_ARV].err_class = SF_ERR_TRANSPORT;
    snprintf(states[C_ARV].error, sizeof(states[C_ARV].error),
             "<script>alert(3)</script>");
    clinics[C_NONE].phone = "054-12 34 56";
    clinics[C_NONE].website = "javascript:alert(2)";
    clinics[C_ARJ_NONE].website = "https://tocksfors.example/";
    add_slot(C_KARL, NOW + 2 * DAY);
    add_slot(C_KARL2, NOW + 3600);
    add_slot(C_ARJ, NOW + (arj_within ? 1 : 9) * DAY);
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

static char *render_shell(const struct feed_snapshot *s)
{
    const struct web_asset *a = web_asset_find("/overview");
    struct doc d;

    assert_non_null(a);
    assert_int_equal(overview_render(s, (const char *)a->data, a->len, &d), 0);
    assert_int_equal(strlen(d.json), d.len);
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

/* The count row of name: clinics, web, share, within, problems, none. */
static char *row(const char *name, const char *nums)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8], *o;
    const char *p;
    int n;

    n = snprintf(b, 512, "<tr><th scope=\"row\">%s</th>", name);
    o = b + n;
    for (p = nums; *p != '\0';) {
        size_t len = strcspn(p, "|");
        o += snprintf(o, (size_t)(b + 512 - o), "<td class=\"num\">%.*s</td>",
                      (int)len, p);
        p += len + (p[len] == '|');
    }
    snprintf(o, (size_t)(b + 512 - o), "</tr>");
    return b;
}

static void test_counts(void **state)
{
    struct feed_snapshot *s = make(0);
    char *h = render_shell(s);
    size_t op, mun, prob, none;

    (void)state;
    op = at(h, "id=\"table-operator\"");
    mun = at(h, "id=\"table-municipality\"");
    prob = at(h, "id=\"table-problems\"");
    none = at(h, "id=\"table-none\"");
    /* Operators: private, region, unknown, then the total. */
    assert_true(at(h, "<caption>Webbokning per driftform</caption>") > op);
    assert_true(at(h, "<th scope=\"col\" class=\"num\">Ledig tid inom 3 "
                      "dagar</th>") > op);
    assert_true(at(h, row("Privata vårdgivare", "3|2|67 %|1|1|1")) > op);
    assert_true(at(h, row("Regionens mottagningar", "2|2|100 %|1|0|0")) >
                at(h, row("Privata vårdgivare", "3|2|67 %|1|1|1")));
    assert_true(at(h, row("Okänd driftform", "1|0|0 %|0|0|1")) < mun);
    /* Municipalities in Swedish order (Å after Z). */
    assert_true(at(h, row("Arvika", "1|1|100 %|0|1|0")) > mun);
    assert_true(at(h, row("Karlstad", "3|2|67 %|2|0|1")) >
                at(h, row("Arvika", "1|1|100 %|0|1|0")));
    assert_true(at(h, row("Årjäng", "2|1|50 %|0|0|1")) >
                at(h, row("Karlstad", "3|2|67 %|2|0|1")));
    assert_true(at(h, row("Årjäng", "2|1|50 %|0|0|1")) < prob);
    /* Both foots: "Totalt" with the region's numbers. */
    assert_true(at(h, "<tfoot>"
                      "<tr><th scope=\"row\">Totalt</th>") < mun);
    assert_true(at(h + mun, row("Totalt", "6|4|67 %|2|1|2")) + mun < prob);
    /* Key figures. */
    at(h, "id=\"fig-clinics\"><span class=\"figure-value\">6</span>");
    at(h, "id=\"fig-web\"><span class=\"figure-value\">4</span><span "
          "class=\"figure-label\">har webbokning (67 %)</span>");
    at(h, "id=\"fig-within\"><span class=\"figure-value\">2</span><span "
          "class=\"figure-label\">har en ledig tid inom 3 dagar just nu");
    at(h, "id=\"fig-problems\"><span class=\"figure-value\">1</span>");
    at(h, "id=\"fig-none\"><span class=\"figure-value\">2</span>");
    /* The lists: exactly their clinics. */
    assert_true(at(h, "<caption>1 mottagning</caption>") > prob);
    assert_true(at(h, "data-id=\"SE2321000156-OVW2\"") > prob);
    at(h, "<span class=\"status-pill status-unreachable\">ej nåbar</span>");
    at(h, "<td>aldrig</td>");
    assert_true(at(h, "<caption>2 mottagningar</caption>") > none);
    assert_true(at(h, "data-id=\"SE2321000156-OVW3\"") > none);
    assert_true(at(h, "data-id=\"SE2321000156-OVW5\"") > none);
    assert_null(strstr(h + none, "data-id=\"SE2321000156-OVW0\""));
    at(h, "<td>054-12 34 56</td>");
    at(h, "<a href=\"https://tocksfors.example/\" rel=\"noopener "
          "noreferrer\">https://tocksfors.example/</a>");
    /* The freshness line and the shell around it. */
    at(h, "Uppdaterad <time datetime=\"2026-03-31T09:00:00+02:00\">tis 31 "
          "mars kl. 09:00</time> · vårdgarantin räknas till och med ");
    assert_null(strstr(h, "Hämtar uppgifter"));
    at(h, "<script src=\"/overview.js\" defer></script>");
    at(h, "</html>");
    free(h);
    feed_snapshot_free(s);
}

static void test_escaping(void **state)
{
    struct feed_snapshot *s = make(0);
    char *h = render_shell(s);

    (void)state;
    assert_null(strstr(h, "<img"));
    assert_null(strstr(h, "<script>alert"));
    assert_null(strstr(h, "<demo>"));
    assert_null(strstr(h, "javascript:"));
    assert_true(at(h, hostile_esc) > at(h, "id=\"table-problems\""));
    at(h, "<span id=\"region-name\">Värmland &lt;demo&gt;</span>");
    at(h, "kunde inte ansluta (&lt;script&gt;alert(3)&lt;/script&gt;)");
    free(h);
    feed_snapshot_free(s);
}

/* The shell is filled in document order whatever its order, ids it
 * lacks are skipped, and the rest is copied byte for byte. */
static void test_shell(void **state)
{
    static const char shell[] =
        "<p id=\"table-none\" class=x>old</p> <b>keep</b>"
        "<span id=\"region-name\">Vårdval</span><i id=\"figures\"></i>!";
    struct feed_snapshot *s = make(0);
    struct doc d;

    (void)state;
    assert_int_equal(overview_render(s, shell, sizeof(shell) - 1, &d), 0);
    assert_true(strncmp(d.json, "<p id=\"table-none\" class=x><table ", 34) ==
                0);
    at(d.json, "</table></p> <b>keep</b><span id=\"region-name\">Värmland "
               "&lt;demo&gt;</span><i id=\"figures\"><li ");
    assert_string_equal(d.json + d.len - 5, "</i>!");
    assert_null(strstr(d.json, "old"));
    free(d.json);
    feed_snapshot_free(s);
}

static void test_cache_per_snapshot(void **state)
{
    const struct web_asset *a = web_asset_find("/overview.html");
    struct api_cache *c = api_cache_new(1);
    struct feed_snapshot *s1 = make(0), *s2;
    struct api_entry *x, *y;

    (void)state;
    assert_non_null(c);
    x = overview_cache_get(c, s1, (const char *)a->data, a->len);
    y = overview_cache_get(c, s1, (const char *)a->data, a->len);
    assert_non_null(x);
    assert_ptr_equal(x, y); /* one rendering per snapshot */
    assert_non_null(x->gz.json);
    api_entry_unref(y);
    s2 = make(1); /* Årjäng now within 3 days */
    y = overview_cache_get(c, s2, (const char *)a->data, a->len);
    assert_ptr_not_equal(x, y);
    assert_string_not_equal(x->plain.etag, y->plain.etag);
    at(y->plain.json, row("Årjäng", "2|1|50 %|1|0|1"));
    at(x->plain.json, row("Årjäng", "2|1|50 %|0|0|1"));
    api_entry_unref(x); /* the reply of the old one */
    api_entry_unref(y);
    api_cache_free(c); /* frees the kept one */
    feed_snapshot_free(s1);
    feed_snapshot_free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_shell),
        cmocka_unit_test(test_cache_per_snapshot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
