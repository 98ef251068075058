/*
 * test_geo.c - the near= place table: the shipped conf/geo-varmland.json
 * covers the demo region, names and postcodes resolve, distances agree
 * with an independent formula (spherical law of cosines), bad tables and
 * bad queries are refused with messages that name them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "slotfeed/conf.h"
#include "slotfeed/geo.h"
#include "th_file.h"

static struct geo_table *load_shipped(void)
{
    struct sf_error err = { 0 };
    struct geo_table *t =
        geo_load(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", &err);

    if (t == NULL)
        fail_msg("geo_load: %s", err.msg);
    return t;
}

static char *slurp(const char *path)
{
    char *b = th_read_file("", path, NULL);

    assert_non_null(b);
    return b;
}

/* Independent distance: spherical law of cosines, R = 6371 km. */
static double cosine_km(double la1, double lo1, double la2, double lo2)
{
    double r = acos(-1.0) / 180.0;
    double c = sin(la1 * r) * sin(la2 * r) +
               cos(la1 * r) * cos(la2 * r) * cos((lo2 - lo1) * r);

    if (c > 1)
        c = 1;
    return 6371.0 * acos(c);
}

static void test_shipped_covers_demo(void **state)
{
    struct geo_table *t = load_shipped();
    char *text = slurp(SLOTFEED_SOURCE_DIR "/conf/demo-region.json");
    cJSON *r = cJSON_Parse(text), *c;
    static const char *const muns[] = {
        "Arvika", "Eda",          "Filipstad", "Forshaga",
        "Grums",  "Hagfors",      "Hammarö",   "Karlstad",
        "Kil",    "Kristinehamn", "Munkfors",  "Storfors",
        "Sunne",  "Säffle",       "Torsby",    "Årjäng",
    };
    struct geo_point p;
    size_t i;

    (void)state;
    /* Värmland's 16 municipalities, every one resolvable. */
    assert_int_equal(geo_count_municipalities(t), 16);
    for (i = 0; i < 16; i++)
        assert_int_equal(geo_resolve(t, muns[i], &p, NULL, NULL), 0);
    assert_non_null(r);
    /* Every clinic of the demo region has a point, from its locality. */
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(r, "clinics")) {
        const char *m = cJSON_GetObjectItem(c, "municipality")->valuestring;
        cJSON *l = cJSON_GetObjectItem(c, "locality");
        struct geo_point q;

        assert_true(
            geo_place(t, m, cJSON_IsString(l) ? l->valuestring : NULL, &p));
        if (cJSON_IsString(l)) {
            assert_int_equal(geo_resolve(t, l->valuestring, &q, NULL, NULL), 0);
            assert_true(p.lat == q.lat && p.lon == q.lon);
        }
        /* Everything lies in Värmland's bounding box. */
        assert_true(p.lat > 58.9 && p.lat < 61.1);
        assert_true(p.lon > 11.5 && p.lon < 14.6);
    }
    assert_true(geo_count_postcodes(t) >= 20);
    cJSON_Delete(r);
    free(text);
    geo_free(t);
}

static void test_resolve(void **state)
{
    struct geo_table *t = load_shipped();
    struct sf_error err = { 0 };
    struct geo_point p, q;
    const char *label = NULL;

    (void)state;
    /* Names: case-insensitive, Swedish letters, blanks around. */
    assert_int_equal(geo_resolve(t, "  karlSTAD ", &p, &label, &err), 0);
    assert_string_equal(label, "Karlstad");
    assert_true(fabs(p.lat - 59.379) < 1e-9 && fabs(p.lon - 13.504) < 1e-9);
    assert_int_equal(geo_resolve(t, "ÅRJÄNG", &p, &label, &err), 0);
    assert_string_equal(label, "Årjäng");
    assert_int_equal(geo_resolve(t, "säFFLE", &p, &label, &err), 0);
    assert_string_equal(label, "Säffle");
    assert_int_equal(geo_resolve(t, "SKÅRE", &p, &label, &err), 0);
    assert_string_equal(label, "Skåre");
    assert_int_equal(geo_resolve(t, "töcksfors", &p, &label, &err), 0);
    assert_true(fabs(p.lat - 59.508) < 1e-9);

    /* Postcodes with and without the blank -> the prefix's locality. */
    assert_int_equal(geo_resolve(t, "652 24", &p, &label, &err), 0);
    assert_string_equal(label, "Karlstad");
    assert_int_equal(geo_resolve(t, "66341", &q, &label, &err), 0);
    assert_string_equal(label, "Skoghall");
    assert_true(fabs(q.lat - 59.323) < 1e-9);
    assert_int_equal(geo_resolve(t, "681 30", &p, &label, &err), 0);
    assert_string_equal(label, "Kristinehamn");

    /* Unknown or malformed: -1 and a message naming the value. */
    assert_int_equal(geo_resolve(t, "Oslo", &p, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "\"Oslo\" is not a known"));
    assert_int_equal(geo_resolve(t, "111 22", &p, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "111 22"));
    assert_int_equal(geo_resolve(t, "6522", &p, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not a postcode"));
    assert_int_equal(geo_resolve(t, "65 224", &p, NULL, &err), -1);
    assert_int_equal(geo_resolve(t, "652  24", &p, NULL, &err), -1);
    assert_int_equal(geo_resolve(t, "652241", &p, NULL, &err), -1);
    assert_int_equal(geo_resolve(t, "   ", &p, NULL, &err), -1);
    assert_int_equal(geo_resolve(t, "Karlstadx", &p, NULL, &err), -1);
    assert_int_equal(geo_resolve(NULL, "Karlstad", &p, NULL, &err), -1);
    assert_string_equal(err.msg, "near is not available");
    geo_free(t);
}

static void test_distance(void **state)
{
    struct geo_table *t = load_shipped();
    struct geo_point a, b;
    double d, want;

    (void)state;
    assert_int_equal(geo_resolve(t, "Karlstad", &a, NULL, NULL), 0);
    assert_int_equal(geo_resolve(t, "Kristinehamn", &b, NULL, NULL), 0);
    d = geo_distance_km(a, b);
    want = cosine_km(59.379, 13.504, 59.310, 14.108);
    assert_true(fabs(d - want) < 0.01);
    /* Sanity against geography: Karlstad-Kristinehamn is ~35 km. */
    assert_true(d > 30 && d < 40);
    assert_true(geo_distance_km(a, a) == 0.0);
    /* Symmetric. */
    assert_true(fabs(geo_distance_km(b, a) - d) < 1e-9);
    /* One degree of latitude is ~111.2 km. */
    a.lat = 59.0;
    a.lon = 13.0;
    b.lat = 60.0;
    b.lon = 13.0;
    assert_true(fabs(geo_distance_km(a, b) - 111.19) < 0.01);
    geo_free(t);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(geo_name_equal("Hammarö", "HAMMARÖ"));
    assert_true(geo_name_equal("ÅÄÖÉ", "åäöé"));
    assert_false(geo_name_equal("Hammaro", "Hammarö"));
    assert_false(geo_name_equal("Kil", "Kils"));
    assert_false(geo_name_equal("Kil", NULL));
    /* U+00D7 (×) and U+00F7 (÷) are not a case pair. */
    assert_false(geo_name_equal("\xc3\x97", "\xc3\xb7"));
    /* A truncated UTF-8 sequence compares bytewise, no overread. */
    assert_false(geo_name_equal("\xc3", "\xc3\xa5"));
    assert_true(geo_name_equal_n("Kilx", 3, "KIL"));
}

static void test_bad_tables(void **state)
{
    static const char *const bad[] = {
        "not json",
        "[]",
        "{\"localities\":[]}",
        "{\"municipalities\":[{\"name\":\"A\",\"lat\":91,\"lon\":1}],"
        "\"localities\":[]}",
        "{\"municipalities\":[{\"name\":\"A\",\"lat\":1}],"
        "\"localities\":[]}",
        "{\"municipalities\":[{\"name\":\"A\",\"lat\":1,\"lon\":1},"
        "{\"name\":\"a\",\"lat\":1,\"lon\":1}],\"localities\":[]}",
        "{\"municipalities\":[],\"localities\":[],"
        "\"postcodes\":[{\"prefix\":\"651\",\"locality\":\"X\"}]}",
        "{\"municipalities\":[],\"localities\":[{\"name\":\"X\","
        "\"lat\":1,\"lon\":1}],\"postcodes\":[{\"prefix\":\"65\","
        "\"locality\":\"X\"}]}",
        "{\"municipalities\":[],\"localities\":[{\"name\":\"X\","
        "\"lat\":1,\"lon\":1}],\"postcodes\":[{\"prefix\":\"651\","
        "\"locality\":\"X\"},{\"prefix\":\"651\",\"locality\":\"X\"}]}",
    };
    static const char *const where[] = {
        "not valid JSON",          "$:",
        "$.municipalities",        "$.municipalities[0]",
        "$.municipalities[0]",     "$.municipalities[1].name",
        "$.postcodes[0].locality", "$.postcodes[0].prefix",
        "$.postcodes[1].prefix",
    };
    struct sf_error err = { 0 };
    struct geo_table *t;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = geo_parse(bad[i], strlen(bad[i]), "t.json", &err);
        assert_null(t);
        if (strstr(err.msg, where[i]) == NULL ||
            strncmp(err.msg, "t.json: ", 8) != 0)
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
                     where[i]);
    }
    t = geo_load("/nonexistent/geo.json", &err);
    assert_null(t);
    assert_non_null(strstr(err.msg, "/nonexistent/geo.json"));
    /* Minimal good table. */
    t = geo_parse("{\"municipalities\":[],\"localities\":[]}", 37, NULL, &err);
    assert_non_null(t);
    assert_int_equal(geo_count_localities(t), 0);
    geo_free(t);
    geo_free(NULL);
}

#define CLINICS                                    \
    "[{\"id\":\"SE2321000156-A1\",\"name\":\"C\"," \
    "\"municipality\":\"Kil\",\"operator\":\"region\"}]"

/* The region's "geo" key: relative to the config file, default beside it. */
static void test_conf_key(void **state)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    struct sf_error err = { 0 };
    struct geo_table *t;
    char dir[512], path[700];
    FILE *f;

    (void)state;
    /* Demo config without the key: conf/geo-varmland.json beside it. */
    assert_int_equal(conf_load(SLOTFEED_SOURCE_DIR "/conf/demo-region.json", &r,
                               &errs),
                     0);
    assert_non_null(r->geo);
    assert_string_equal(r->geo, SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json");
    t = geo_load(r->geo, &err);
    assert_non_null(t);
    geo_free(t);
    conf_free(r);
    r = NULL;
    /* An explicit relative name is resolved against the file's dir; with
     * no such default file the key stays unset. */
    snprintf(dir, sizeof(dir), "%s/test-geo", SLOTFEED_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/region.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"name\":\"T\",\"geo\":\"places/x.json\",\"clinics\":" CLINICS "}",
          f);
    fclose(f);
    assert_int_equal(conf_load(path, &r, &errs), 0);
    snprintf(path, sizeof(path), "%s/places/x.json", dir);
    assert_string_equal(r->geo, path);
    conf_free(r);
    r = NULL;
    snprintf(path, sizeof(path), "%s/region.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"name\":\"T\",\"clinics\":" CLINICS "}", f);
    fclose(f);
    assert_int_equal(conf_load(path, &r, &errs), 0);
    assert_null(r->geo);
    conf_free(r);
    conf_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_covers_demo),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_tables),
        cmocka_unit_test(test_conf_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
