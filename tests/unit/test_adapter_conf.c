/*
 * test_adapter_conf.c - each adapter's own booking keys (adapter.h
 * conf_keys, conf_same, conf_load) as the config walk and a reload use
 * them.
 *
 * The compare test walks every key of every adapter's own table, so a
 * key added to an adapter must come with samples here, and then a
 * conf_same that ignores it fails: a reload that changes the key would
 * otherwise keep the clinic's stale cache and state.
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

#include "slotfeed/adapter.h"
#include "slotfeed/conf.h"

/* Regular files for booking.tls (only their readability is checked). */
#define FILE_A SLOTFEED_SOURCE_DIR "/tests/fixtures/conf/minimal.json"
#define FILE_B SLOTFEED_SOURCE_DIR "/tests/fixtures/conf/empty.json"

/* The keys every booking has (conf.c); an adapter may not reuse them. */
static const char *const common_keys[] = { "adapter",        "url",
                                           "booking_url",    "time_type_id",
                                           "time_type_name", NULL };

/*
 * Values (JSON) for each booking key, pairwise different in what a poll
 * would send: nested entries differ in one field at a time.
 */
struct samples {
    const char *key;
    const char *v[6];
};

static const struct samples samples[] = {
    { "url", { "'https://x.example/1'", "'https://x.example/2'" } },
    { "booking_url",
      { "null", "'https://b.example/1'", "'https://b.example/2'" } },
    { "time_type_id", { "null", "'T1'", "'T2'" } },
    { "time_type_name", { "null", "'N1'", "'N2'" } },
    /* fhir-slot */
    { "actor", { "'Location/1'", "'Location/2'", "'Practitioner/1'" } },
    { "token_file", { "null", "'/nonexistent/t1'", "'/nonexistent/t2'" } },
    { "search", { "null", "'a=b'", "'a=c'" } },
    { "page_cap", { "3", "4" } },
    /* smart-bulk */
    { "location", { "'L1'", "'L2'" } },
    /* rivta-scheduling */
    { "time_types",
      { "{'A':{'service':'S','new_visit':true}}",
        "{'B':{'service':'S','new_visit':true}}",
        "{'A':{'service':'T','new_visit':true}}",
        "{'A':{'service':'S','new_visit':true},"
        "'B':{'service':'S','new_visit':true}}",
        "{'A':{'service':'S','new_visit':true},"
        "'B':{'service':'S','new_visit':false}}" } },
    { "discover_time_types", { "false", "true" } },
    { "endpoints",
      { "{'GetAvailableDates':{'url':'https://a.example/d'}}",
        "{'GetAvailableDates':{'url':'https://b.example/d'}}",
        "{'GetAvailableTimeslots':{'url':'https://a.example/d'}}",
        "{'GetAvailableDates':{'url':'https://a.example/d',"
        "'soap_action':'x'}}",
        "{'GetAvailableDates':{'url':'https://a.example/d',"
        "'soap_action':'y'}}" } },
    { "tls",
      { "{'cert':'" FILE_A "'}", "{'cert':'" FILE_B "'}",
        "{'cert':'" FILE_A "','key':'" FILE_B "'}",
        "{'cert':'" FILE_A "','ca':'" FILE_B "'}",
        "{'cert':'" FILE_A "','ca':'" FILE_A "'}" } },
};

/* A booking every adapter accepts with nothing else given. */
static const char *base_booking(const char *adapter)
{
    if (strcmp(adapter, "fhir-slot") == 0)
        return "{'adapter':'fhir-slot','url':'https://f.example/r4',"
               "'actor':'Location/9'}";
    if (strcmp(adapter, "smart-bulk") == 0)
        return "{'adapter':'smart-bulk','url':'https://s.example/p',"
               "'location':'L9'}";
    return "{'adapter':'rivta-scheduling','url':'https://r.example/x'}";
}

static const struct samples *samples_of(const char *key)
{
    size_t i;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        if (strcmp(samples[i].key, key) == 0)
            return &samples[i];
    return NULL;
}

/* s with every ' turned into " (test texts stay readable). Caller frees. */
static char *dq(const char *s)
{
    char *t = strdup(s), *p;

    assert_non_null(t);
    for (p = t; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static cJSON *parse_json(const char *s)
{
    char *t = dq(s);
    cJSON *j = cJSON_Parse(t);

    free(t);
    assert_non_null(j);
    return j;
}

/* A region of one clinic whose booking is adapter's base with key set to
 * value (JSON). The parse must succeed. Caller frees with conf_free. */
static struct conf_region *region_with(const char *adapter, const char *key,
                                       const char *value)
{
    cJSON *root, *clinic, *booking;
    struct conf_region *r = NULL;
    struct conf_errors errs = { 0 };
    char *text;
    size_t i;

    root = parse_json("{'name':'R','riv':{'subject_of_care':'191212121212'},"
                      "'clinics':[{'id':'SE2321000156-A1','name':'C',"
                      "'municipality':'M','operator':'region'}]}");
    clinic = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "clinics"), 0);
    booking = parse_json(base_booking(adapter));
    cJSON_DeleteItemFromObject(booking, key);
    cJSON_AddItemToObject(booking, key, parse_json(value));
    cJSON_AddItemToObject(clinic, "booking", booking);
    text = cJSON_PrintUnformatted(root);
    assert_non_null(text);
    if (conf_parse(text, strlen(text), &r, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s = %s: %s\n", adapter, key, value,
                    errs.v[i]);
        fail();
    }
    conf_errors_free(&errs);
    free(text);
    cJSON_Delete(root);
    return r;
}

/* For one key of one adapter: equal samples compare the same, different
 * ones do not. */
static void check_key(const char *adapter, const char *key)
{
    const struct samples *s = samples_of(key);
    struct conf_region *a, *b;
    size_t i, j;

    if (s == NULL) {
        fprintf(stderr,
                "booking key \"%s\" of %s has no samples here: "
                "add some, so the compare is checked\n",
                key, adapter);
        fail();
    }
    for (i = 0; i < 6 && s->v[i] != NULL; i++) {
        for (j = 0; j < 6 && s->v[j] != NULL; j++) {
            bool want = i == j, got;

            a = region_with(adapter, key, s->v[i]);
            b = region_with(adapter, key, s->v[j]);
            got = adapter_booking_same(&a->clinics[0].booking,
                                       &b->clinics[0].booking);
            if (got != want)
                fprintf(stderr, "%s %s: %s vs %s: conf_same says %s\n", adapter,
                        key, s->v[i], s->v[j], got ? "same" : "different");
            assert_true(got == want);
            conf_free(a);
            conf_free(b);
        }
    }
}

static void test_every_key_compared(void **state)
{
    const char *const *name;
    const struct adapter *a;
    size_t i;

    (void)state;
    for (name = adapter_names(); *name != NULL; name++) {
        a = adapter_find(*name);
        assert_non_null(a);
        assert_non_null(a->conf_keys);
        assert_non_null(a->conf_same);
        for (i = 0; common_keys[i] != NULL; i++)
            if (strcmp(common_keys[i], "adapter") != 0)
                check_key(*name, common_keys[i]);
        for (i = 0; a->conf_keys[i].name != NULL; i++)
            check_key(*name, a->conf_keys[i].name);
    }
}

/* A key belongs to one adapter, and the walk's 32 seen bits hold them. */
static void test_keys_unique(void **state)
{
    const char *all[64];
    const char *const *name;
    const struct adapter *a;
    size_t n = 0, i, j;

    (void)state;
    for (i = 0; common_keys[i] != NULL; i++)
        all[n++] = common_keys[i];
    for (name = adapter_names(); *name != NULL; name++) {
        a = adapter_find(*name);
        for (i = 0; a->conf_keys[i].name != NULL; i++) {
            assert_true(n < 64);
            assert_non_null(a->conf_keys[i].parse);
            all[n++] = a->conf_keys[i].name;
        }
    }
    assert_true(n <= 32);
    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            assert_string_not_equal(all[i], all[j]);
}

/* --- fhir-slot's bearer token, read by conf_load --------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

struct token_fx {
    char dir[64];
    char conf[128];
    char token[128];
};

static void token_fx_init(struct token_fx *x)
{
    char text[512];

    snprintf(x->dir, sizeof(x->dir), "/tmp/test_adapter_confXXXXXX");
    assert_non_null(mkdtemp(x->dir));
    snprintf(x->conf, sizeof(x->conf), "%s/region.json", x->dir);
    snprintf(x->token, sizeof(x->token), "%s/token", x->dir);
    snprintf(text, sizeof(text),
             "{\"name\":\"R\",\"clinics\":[{\"id\":\"SE2321000156-A1\","
             "\"name\":\"C\",\"municipality\":\"M\",\"operator\":"
             "\"region\",\"booking\":{\"adapter\":\"fhir-slot\","
             "\"url\":\"https://f.example/r4\",\"actor\":"
             "\"Location/1\",\"token_file\":\"%s\"}}]}",
             x->token);
    write_text(x->conf, text);
}

static void token_fx_done(struct token_fx *x)
{
    unlink(x->token);
    unlink(x->conf);
    rmdir(x->dir);
}

/* conf_load of x->conf: 0 and *r, or -1 with the one error line in why. */
static int load(const struct token_fx *x, struct conf_region **r, char *why,
                size_t whylen)
{
    struct conf_errors errs = { 0 };
    int rc = conf_load(x->conf, r, &errs);

    why[0] = '\0';
    if (rc != 0) {
        assert_int_equal(errs.n, 1);
        snprintf(why, whylen, "%s", errs.v[0]);
    }
    conf_errors_free(&errs);
    return rc;
}

static void test_token_loaded_with_config(void **state)
{
    struct token_fx x;
    struct conf_region *r1 = NULL, *r2 = NULL, *r3 = NULL;
    char why[256];

    (void)state;
    token_fx_init(&x);
    write_text(x.token, "  tok-1.abc\r\n");
    assert_int_equal(load(&x, &r1, why, sizeof(why)), 0);
    assert_string_equal(r1->clinics[0].booking.token, "tok-1.abc");

    /* The file is not read again until the next load: the poll borrows
     * the loaded token. A reload reads the new one, and the clinic
     * compares as changed (its polls restart with the new token). */
    write_text(x.token, "tok-2.abc\n");
    assert_string_equal(r1->clinics[0].booking.token, "tok-1.abc");
    assert_int_equal(load(&x, &r2, why, sizeof(why)), 0);
    assert_string_equal(r2->clinics[0].booking.token, "tok-2.abc");
    assert_false(
        adapter_booking_same(&r1->clinics[0].booking, &r2->clinics[0].booking));
    assert_int_equal(load(&x, &r3, why, sizeof(why)), 0);
    assert_true(
        adapter_booking_same(&r2->clinics[0].booking, &r3->clinics[0].booking));

    /* Bad files fail the load (a reload keeps the running config), by
     * JSON path, quoting neither the token nor the file's path. */
    conf_free(r3);
    write_text(x.token, "sec ret\n");
    assert_int_equal(load(&x, &r3, why, sizeof(why)), -1);
    assert_null(r3);
    assert_string_equal(why, "$.clinics[0].booking.token_file: the token "
                             "holds a space, control or non-ASCII byte");
    write_text(x.token, " \n\n");
    assert_int_equal(load(&x, &r3, why, sizeof(why)), -1);
    assert_null(r3);
    assert_string_equal(why, "$.clinics[0].booking.token_file: empty");
    unlink(x.token);
    assert_int_equal(load(&x, &r3, why, sizeof(why)), -1);
    assert_string_equal(why, "$.clinics[0].booking.token_file: cannot "
                             "read: No such file or directory");
    assert_null(strstr(why, x.dir));

    conf_free(r1);
    conf_free(r2);
    token_fx_done(&x);
}

/* conf_parse checks the text only: the token is conf_load's to read. */
static void test_parse_reads_no_token(void **state)
{
    struct conf_region *r =
        region_with("fhir-slot", "token_file", "'/nonexistent/t1'");

    (void)state;
    assert_string_equal(r->clinics[0].booking.token_file, "/nonexistent/t1");
    assert_null(r->clinics[0].booking.token);
    conf_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_unique),
        cmocka_unit_test(test_every_key_compared),
        cmocka_unit_test(test_token_loaded_with_config),
        cmocka_unit_test(test_parse_reads_no_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
