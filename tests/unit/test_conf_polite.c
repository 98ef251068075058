/*
 * test_conf_polite.c - the `politeness` config block: defaults, per-host
 * overrides inheriting the top level, and JSON-path errors; and the
 * `plausibility` block (host-wide emptying thresholds, plaus.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/conf.h"

#define HEAD                                                      \
    "{\"name\":\"t\",\"clinics\":[{\"id\":\"SE2321000156-A001\"," \
    "\"name\":\"A\",\"municipality\":\"Karlstad\",\"operator\":\"private\"}]"

static struct conf_region *ok(const char *text)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };

    if (conf_parse(text, strlen(text), &r, &e) != 0)
        fail_msg("unexpected error: %s", e.n ? e.v[0] : "?");
    conf_errors_free(&e);
    return r;
}

/* Expect exactly the given error lines (NULL-terminated). */
static void bad(const char *text, ...)
{
    struct conf_region *r = NULL;
    struct conf_errors e = { 0 };
    const char *want;
    size_t i = 0;
    va_list ap;

    assert_int_equal(conf_parse(text, strlen(text), &r, &e), -1);
    assert_null(r);
    va_start(ap, text);
    while ((want = va_arg(ap, const char *)) != NULL) {
        if (i >= e.n)
            fail_msg("missing error \"%s\"", want);
        assert_string_equal(e.v[i], want);
        i++;
    }
    va_end(ap);
    if (i != e.n)
        fail_msg("extra error \"%s\"", e.v[i]);
    conf_errors_free(&e);
}

static void test_defaults(void **state)
{
    struct conf_region *r = ok(HEAD "}");

    (void)state;
    assert_true(r->politeness.rate_per_s == 1.0);
    assert_int_equal(r->politeness.burst, 2);
    assert_int_equal(r->politeness.max_concurrent_per_host, 2);
    assert_int_equal(r->politeness.backoff_base_s, 30);
    assert_int_equal(r->politeness.backoff_max_s, 1800);
    assert_int_equal(r->politeness.breaker_failures, 5);
    assert_int_equal(r->politeness.breaker_cooldown_s, 300);
    assert_int_equal(r->npolite_hosts, 0);
    conf_free(r);
}

static void test_values_and_inheritance(void **state)
{
    /* "hosts" before the keys it inherits, on purpose */
    struct conf_region *r =
        ok(HEAD ",\"politeness\":{"
                "\"hosts\":{\"VP.Example.se:443\":{\"rate_per_s\":0.5},"
                "\"127.0.0.1\":{\"rate_per_s\":50,\"burst\":10,"
                "\"max_concurrent_per_host\":8,\"backoff_base_s\":1,"
                "\"backoff_max_s\":2,\"breaker_failures\":50,"
                "\"breaker_cooldown_s\":5}},"
                "\"rate_per_s\":2.5,\"burst\":3,\"max_concurrent_per_host\":4,"
                "\"backoff_base_s\":10,\"backoff_max_s\":600,"
                "\"breaker_failures\":7,\"breaker_cooldown_s\":120}}");
    const struct conf_politeness *a, *b;

    (void)state;
    assert_true(r->politeness.rate_per_s == 2.5);
    assert_int_equal(r->politeness.burst, 3);
    assert_int_equal(r->politeness.max_concurrent_per_host, 4);
    assert_int_equal(r->politeness.backoff_base_s, 10);
    assert_int_equal(r->politeness.backoff_max_s, 600);
    assert_int_equal(r->politeness.breaker_failures, 7);
    assert_int_equal(r->politeness.breaker_cooldown_s, 120);
    assert_int_equal(r->npolite_hosts, 2);
    assert_string_equal(r->polite_hosts[0].host, "vp.example.se:443");
    a = &r->polite_hosts[0].p;
    assert_true(a->rate_per_s == 0.5);
    assert_int_equal(a->burst, 3); /* inherited */
    assert_int_equal(a->max_concurrent_per_host, 4);
    assert_int_equal(a->backoff_base_s, 10);
    assert_int_equal(a->backoff_max_s, 600);
    assert_int_equal(a->breaker_failures, 7);
    assert_int_equal(a->breaker_cooldown_s, 120);
    assert_string_equal(r->polite_hosts[1].host, "127.0.0.1");
    b = &r->polite_hosts[1].p;
    assert_true(b->rate_per_s == 50);
    assert_int_equal(b->burst, 10);
    assert_int_equal(b->max_concurrent_per_host, 8);
    assert_int_equal(b->backoff_base_s, 1);
    assert_int_equal(b->backoff_max_s, 2);
    assert_int_equal(b->breaker_failures, 50);
    assert_int_equal(b->breaker_cooldown_s, 5);
    conf_free(r);
}

static void test_errors_with_paths(void **state)
{
    (void)state;
    bad(HEAD ",\"politeness\":[]}",
        "$.politeness: expected an object, got an array", NULL);
    bad(HEAD
        ",\"politeness\":{\"rate_per_s\":0,\"burst\":0,"
        "\"max_concurrent_per_host\":1.5,\"backoff_base_s\":\"30\","
        "\"breaker_failures\":0,\"breaker_cooldown_s\":86401,\"rate_per_sec\":1}}",
        "$.politeness.rate_per_s: 0 is out of range (0.001..1000)",
        "$.politeness.burst: 0 is out of range (1..1000)",
        "$.politeness.max_concurrent_per_host: 1.5 is not a whole number",
        "$.politeness.backoff_base_s: expected an integer, got a string",
        "$.politeness.breaker_failures: 0 is out of range (1..1000)",
        "$.politeness.breaker_cooldown_s: 86401 is out of range (1..86400)",
        "$.politeness.rate_per_sec: unknown key (did you mean \"rate_per_s\"?)",
        NULL);
    bad(HEAD ",\"politeness\":{\"backoff_base_s\":60,\"backoff_max_s\":30}}",
        "$.politeness.backoff_max_s: 30 is shorter than backoff_base_s (60)",
        NULL);
    /* a host's max below the base it inherits */
    bad(HEAD ",\"politeness\":{\"hosts\":{\"a.example\":"
             "{\"backoff_max_s\":10}}}}",
        "$.politeness.hosts.a.example.backoff_max_s: 10 is shorter than "
        "backoff_base_s (30)",
        NULL);
    bad(HEAD ",\"politeness\":{\"hosts\":{\"http://a.example\":{},"
             "\"a.example:0\":{},\"b.example\":3,\"c.example\":{\"hosts\":{}},"
             "\"d.example\":{},\"D.EXAMPLE\":{}}}}",
        "$.politeness.hosts.http://a.example: \"http://a.example\" is not "
        "HOST or HOST:PORT (port 1..65535; IPv6 as [::1]:8080)",
        "$.politeness.hosts.a.example:0: \"a.example:0\" is not HOST or "
        "HOST:PORT (port 1..65535; IPv6 as [::1]:8080)",
        "$.politeness.hosts.b.example: expected an object, got a number",
        "$.politeness.hosts.c.example.hosts: unknown key",
        "$.politeness.hosts.D.EXAMPLE: duplicate host", NULL);
}

static void test_plausibility(void **state)
{
    struct conf_region *r = ok(HEAD "}");

    (void)state;
    assert_int_equal(r->plausibility.min_clinics, 5);
    assert_true(r->plausibility.fraction == 0.6);
    assert_int_equal(r->plausibility.confirm_polls, 3);
    conf_free(r);
    r = ok(HEAD ",\"plausibility\":{\"min_clinics\":8,\"fraction\":1,"
                "\"confirm_polls\":1}}");
    assert_int_equal(r->plausibility.min_clinics, 8);
    assert_true(r->plausibility.fraction == 1.0);
    assert_int_equal(r->plausibility.confirm_polls, 1);
    conf_free(r);
    r = ok(HEAD ",\"plausibility\":{\"fraction\":0.5}}");
    assert_true(r->plausibility.fraction == 0.5);
    assert_int_equal(r->plausibility.min_clinics, 5);
    conf_free(r);
    bad(HEAD ",\"plausibility\":[]}",
        "$.plausibility: expected an object, got an array", NULL);
    bad(HEAD ",\"plausibility\":{\"min_clinics\":1,\"fraction\":0,"
             "\"confirm_polls\":0,\"confirm_poll\":3}}",
        "$.plausibility.min_clinics: 1 is out of range (2..100000)",
        "$.plausibility.fraction: 0 is out of range (0.01..1)",
        "$.plausibility.confirm_polls: 0 is out of range (1..100)",
        "$.plausibility.confirm_poll: unknown key (did you mean "
        "\"confirm_polls\"?)",
        NULL);
    bad(HEAD ",\"plausibility\":{\"min_clinics\":2.5,\"fraction\":1.5,"
             "\"confirm_polls\":\"3\"}}",
        "$.plausibility.min_clinics: 2.5 is not a whole number",
        "$.plausibility.fraction: 1.5 is out of range (0.01..1)",
        "$.plausibility.confirm_polls: expected an integer, got a string",
        NULL);
    bad(HEAD ",\"plausibility\":{\"fraction\":\"most\"}}",
        "$.plausibility.fraction: expected a number, got a string", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_and_inheritance),
        cmocka_unit_test(test_errors_with_paths),
        cmocka_unit_test(test_plausibility),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
