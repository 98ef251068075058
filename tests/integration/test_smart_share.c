/*
 * test_smart_share.c - one download per publisher (issue 12 part 4,
 * issue 16 part 3): 40 smart-bulk clinics that are 40 Locations of one
 * publisher (one manifest URL), polled by the real collector + fetch +
 * smart adapter from the simulator on loopback. Requests are counted at
 * the simulator, parses by smart_parse_count().
 *
 * Deterministic: "now" is fixed (clock_set_fake) and moved by hand to make
 * the shared copies expire; nothing waits on wall time but the loopback
 * answers themselves (bounded).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "slotfeed/sim.h"
#include "slotfeed/smart.h"
#include "th_loopback.h"

/* Tuesday 31 March 2026 09:00 CEST: a working day with free times. */
#define NOW_T 1774940400LL
#define NCL 40
#define INTERVAL_S 60

struct fx {
    struct event_base *base;
    struct sim *sim;
    struct conf_region *sim_region;
    struct conf_region *region;
    struct fetch *f;
    struct collector *coll;
    int passes;
};

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * n clinics, Locations L00.. of the publisher at port's /pub/$bulk-publish;
 * the first one's sim profile (which decides the publisher's faults) is
 * lead_profile, or normal when NULL. extra: one more clinic of another
 * publisher (/other/...) when true.
 */
static struct conf_region *make_region(int n, int port,
                                       const char *lead_profile, bool extra)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t cap = 4096 + (size_t)n * 400, len;
    char *buf = malloc(cap), sim[64] = "";
    int i;

    assert_non_null(buf);
    if (lead_profile != NULL)
        snprintf(sim, sizeof(sim), ",\"sim\":{\"profile\":\"%s\"}",
                 lead_profile);
    len = (size_t)snprintf(
        buf, cap,
        "{\"name\":\"share\",\"horizon_days\":7,\"poll_interval_s\":%d,"
        "\"fetch\":{\"connect_timeout_ms\":1000,\"timeout_ms\":3000},"
        "\"politeness\":{\"rate_per_s\":1000,\"burst\":1000,"
        "\"max_concurrent_per_host\":8},\"clinics\":[",
        INTERVAL_S);
    for (i = 0; i < n + (extra ? 1 : 0); i++)
        len += (size_t)snprintf(
            buf + len, cap - len,
            "%s{\"id\":\"SE2321000156-S%03d\",\"name\":\"S%d\","
            "\"municipality\":\"Karlstad\",\"operator\":\"private\","
            "\"phone\":\"054-100 %02d\",\"booking\":{\"adapter\":"
            "\"smart-bulk\",\"url\":\"http://127.0.0.1:%d/%s/$bulk-publish\","
            "\"location\":\"L%02d\"}%s}",
            i ? "," : "", i, i, i, port, i < n ? "pub" : "other", i,
            i == 0 ? sim : "");
    len += (size_t)snprintf(buf + len, cap - len, "]}");
    assert_true(len < cap);
    if (conf_parse(buf, len, &r, &errs) != 0 && errs.n > 0)
        fail_msg("config: %s", errs.v[0]);
    conf_errors_free(&errs);
    free(buf);
    assert_non_null(r);
    return r;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    log_quiet();
    clock_set_fake(NOW_T);
    fx->base = event_base_new();
    *state = fx;
    return 0;
}

static void stop_collector(struct fx *fx)
{
    fetch_free(fx->f);
    collector_free(fx->coll);
    conf_free(fx->region);
    fx->f = NULL;
    fx->coll = NULL;
    fx->region = NULL;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    stop_collector(fx);
    sim_free(fx->sim);
    conf_free(fx->sim_region);
    event_base_free(fx->base);
    clock_set_fake(-1);
    free(fx);
    return 0;
}

static void start_sim(struct fx *fx, const char *lead_profile)
{
    struct sim_opts so = { .seed = 7 };
    struct sf_error err;

    fx->sim_region = make_region(NCL, 1, lead_profile, true);
    fx->sim = sim_new(fx->base, fx->sim_region, "127.0.0.1", 0, &so, &err);
    if (fx->sim == NULL)
        fail_msg("sim_new: %s", err.msg);
}

/* A collector over the simulator's 40 Locations (sharing on or off). */
static void start_collector(struct fx *fx, bool share, const char *prof)
{
    struct fetch_opts fo = { .connect_timeout_ms = 1000, .timeout_ms = 3000 };
    struct sf_error err;

    fx->region = make_region(NCL, sim_port(fx->sim), prof, false);
    fx->f = fetch_new(fx->base, &fo, &err);
    assert_non_null(fx->f);
    fx->coll = collector_new(fx->base, fx->region, fx->f, &err);
    if (fx->coll == NULL)
        fail_msg("collector_new: %s", err.msg);
    collector_set_sharing(fx->coll, share);
}

static void on_pass(void *arg)
{
    ((struct fx *)arg)->passes++;
}

/* Requests that reached the simulator (its arrival log: a request it
 * answers with a reset counts too). */
static unsigned long arrivals(struct fx *fx)
{
    size_t n;

    (void)sim_request_log(fx->sim, &n);
    return (unsigned long)n;
}

/* One poll_all pass to its end (bounded); returns the requests it made
 * at the simulator. */
static unsigned long pass(struct fx *fx)
{
    int before = fx->passes, never = 0;
    unsigned long r0 = arrivals(fx);
    int64_t t0 = mono_ms();

    assert_int_equal(collector_poll_all(fx->coll, on_pass, fx), 0);
    while (fx->passes == before && mono_ms() - t0 < 15000)
        th_lo_run_until(fx->base, &never, 20);
    assert_int_equal(fx->passes, before + 1);
    return arrivals(fx) - r0;
}

static const struct clinic_state *states(struct fx *fx)
{
    size_t n;
    const struct clinic_state *st = collector_states(fx->coll, &n);

    assert_int_equal(n, NCL);
    return st;
}

/* Copies of every clinic's slots, to compare two collectors. */
static struct avail_slots *snapshot(struct fx *fx)
{
    const struct clinic_state *st = states(fx);
    struct avail_slots *v = calloc(NCL, sizeof(*v));

    assert_non_null(v);
    for (int i = 0; i < NCL; i++) {
        avail_slots_init(&v[i]);
        for (size_t k = 0; k < st[i].slots.n; k++)
            assert_int_equal(avail_slots_add_slot(&v[i], &st[i].slots.v[k]), 0);
    }
    return v;
}

static void snapshot_free(struct avail_slots *v)
{
    for (int i = 0; i < NCL; i++)
        avail_slots_clear(&v[i]);
    free(v);
}

/* --- one download, one parse ------------------------------------------------ */

static void test_forty_locations_one_download_per_file(void **state)
{
    struct fx *fx = *state;
    const struct clinic_state *st;
    struct avail_slots *alone, *shared;
    unsigned long req, parses;
    size_t any = 0;

    start_sim(fx, NULL);
    /* Before: every clinic fetches and parses manifest + 3 files. */
    start_collector(fx, false, NULL);
    parses = smart_parse_count();
    req = pass(fx);
    print_message("requests per pass, 40 locations: %lu without sharing\n",
                  req);
    assert_int_equal(req, 4 * NCL);
    assert_int_equal(smart_parse_count() - parses, 4 * NCL);
    alone = snapshot(fx);
    stop_collector(fx);

    /* After: one request and one parse per document. */
    start_collector(fx, true, NULL);
    parses = smart_parse_count();
    req = pass(fx);
    print_message("requests per pass, 40 locations: %lu with sharing\n", req);
    assert_true(req <= 8);
    assert_int_equal(req, 4);
    assert_int_equal(smart_parse_count() - parses, 4);
    st = states(fx);
    shared = snapshot(fx);
    for (int i = 0; i < NCL; i++) {
        assert_int_equal(st[i].status, CLINIC_OK);
        assert_int_equal(st[i].web, WEB_OPEN);
        /* The same feed for each clinic as when it polled alone. */
        assert_true(avail_slots_equal(&alone[i], &shared[i]));
        any += shared[i].n;
    }
    assert_true(any > 0);
    /* Slots are the clinic's own: two Locations never share a phone. */
    assert_true(shared[0].n == 0 || shared[1].n == 0 ||
                strcmp(shared[0].v[0].booking_phone,
                       shared[1].v[0].booking_phone) != 0);
    /* A second pass within the fresh window asks nothing at all. */
    assert_int_equal(pass(fx), 0);
    assert_int_equal(smart_parse_count() - parses, 4);
    assert_int_equal(collector_shared_entries(fx->coll, NULL), 4);
    snapshot_free(alone);
    snapshot_free(shared);
}

static void test_unchanged_manifest_costs_one_304(void **state)
{
    struct fx *fx = *state;
    const struct sim_request_entry *log;
    const struct clinic_state *st;
    unsigned long parses;
    size_t n;

    start_sim(fx, NULL);
    start_collector(fx, true, NULL);
    assert_int_equal(pass(fx), 4);
    /* Next cycle: the copies expired (fresh for half the interval). The
     * publisher is unchanged: one conditional request, answered 304
     * (a 200 would have been parsed again), and every clinic ok. */
    clock_set_fake(NOW_T + INTERVAL_S);
    parses = smart_parse_count();
    assert_int_equal(pass(fx), 1);
    assert_int_equal(smart_parse_count(), parses);
    log = sim_request_log(fx->sim, &n);
    assert_true(n >= 5);
    assert_string_equal(log[n - 1].path, "/pub/$bulk-publish");
    st = states(fx);
    for (int i = 0; i < NCL; i++) {
        assert_int_equal(st[i].status, CLINIC_OK);
        assert_int_equal(st[i].valid_at, NOW_T + INTERVAL_S);
    }
}

/* --- failures ---------------------------------------------------------------- */

static void check_all_failed(struct fx *fx, enum sf_errclass want)
{
    const struct clinic_state *st = states(fx);

    for (int i = 0; i < NCL; i++) {
        assert_int_equal(st[i].status, CLINIC_ERROR);
        assert_int_equal(st[i].err_class, want);
    }
}

static void test_failed_download_fails_every_clinic_alike(void **state)
{
    struct fx *fx = *state;

    /* The publisher resets every connection: one attempt, 40 transport
     * failures, and nothing kept: the next pass asks again. */
    start_sim(fx, "reset");
    start_collector(fx, true, "reset");
    assert_int_equal(pass(fx), 1);
    check_all_failed(fx, SF_ERR_TRANSPORT);
    assert_int_equal(pass(fx), 1);
    check_all_failed(fx, SF_ERR_TRANSPORT);
}

static void test_bad_manifest_fails_every_clinic_alike(void **state)
{
    struct fx *fx = *state;
    unsigned long parses;

    /* A 200 that is not JSON: parsed once, the same error for each. */
    start_sim(fx, "garbage");
    start_collector(fx, true, "garbage");
    parses = smart_parse_count();
    assert_int_equal(pass(fx), 1);
    assert_int_equal(smart_parse_count() - parses, 1);
    check_all_failed(fx, SF_ERR_PARSE);
    assert_string_equal(strchr(states(fx)[0].error, ':'),
                        strchr(states(fx)[NCL - 1].error, ':'));
}

/* --- reload ------------------------------------------------------------------- */

static void test_reload_dropping_clinics_frees_entries(void **state)
{
    struct fx *fx = *state;
    struct conf_region *other;
    struct collector_diff d;
    struct sf_error err;
    size_t bytes = 0;

    start_sim(fx, NULL);
    start_collector(fx, true, NULL);
    assert_int_equal(pass(fx), 4);
    assert_int_equal(collector_shared_entries(fx->coll, &bytes), 4);
    assert_true(bytes > 0);
    /* The same ids, all moved to another publisher: nobody reads /pub
     * any more, so its documents go at once. */
    other = make_region(0, sim_port(fx->sim), NULL, true);
    assert_int_equal(collector_reconfigure(fx->coll, other, &d, &err), 0);
    assert_int_equal(collector_shared_entries(fx->coll, &bytes), 0);
    assert_int_equal(bytes, 0);
    conf_free(fx->region);
    fx->region = other;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_forty_locations_one_download_per_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_manifest_costs_one_304,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failed_download_fails_every_clinic_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_bad_manifest_fails_every_clinic_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reload_dropping_clinics_frees_entries, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
