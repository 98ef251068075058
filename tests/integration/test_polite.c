/*
 * test_polite.c - the collector's politeness measured where it matters:
 * at the upstream. Simulators on 127.0.0.1:<ephemeral> log every
 * request's arrival (monotonic ms); the collector polls them through the
 * real fetch, rivta adapter and sched, on one event base.
 *
 * The limits are checked against their definitions from the server-side
 * timestamps, not against what sched believes it did: at most burst +
 * rate * t arrivals in any window of length t (plus a few ms for the
 * loop between send and arrival), at most max_concurrent in flight, a
 * Retry-After host not asked again before it said, and an open breaker
 * silent until its cooldown has passed. Bounded: about 10 s in all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
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
#include "slotfeed/sched.h"
#include "slotfeed/sim.h"
#include "th_loopback.h"
#include "th_scale.h"

/* Tuesday 31 March 2026 09:00 CEST: a working day with free times. */
#define NOW_T 1774940400LL
/* Slack between a request leaving the collector and the sim's callback
 * on the same loop, times th_scale.h's factor: a slow build delays the
 * sim's read of one request more than the next one's. */
#define TOL_MS 15
#define MAXCL 32

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct fx {
    struct event_base *base;
    struct sim *sim[2];
    struct conf_region *sim_region;
    struct conf_region *region;
    struct fetch *f;
    struct collector *coll;
    int passes;
};

/*
 * n clinics; clinic i is served by simulator port[i % 2 ? 1 : 0] when
 * `split`, else all by port0. polite: the body of "politeness" or NULL.
 */
static struct conf_region *make_region(int n, int port0, int port1, bool split,
                                       const char *polite)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t cap = 4096 + (size_t)n * 300, len;
    char *buf = malloc(cap);
    int i;

    assert_non_null(buf);
    len = (size_t)snprintf(
        buf, cap,
        "{\"name\":\"polite\",\"horizon_days\":7,\"poll_interval_s\":60,"
        "\"fetch\":{\"connect_timeout_ms\":1000,\"timeout_ms\":3000},"
        "\"riv\":{\"subject_of_care\":\"191212121212\"},"
        "\"politeness\":{%s},\"clinics\":[",
        polite ? polite : "");
    for (i = 0; i < n; i++)
        len += (size_t)
            snprintf(buf + len, cap - len,
                     "%s{\"id\":\"SE2321000156-P%03d\",\"name\":\"P%d\","
                     "\"municipality\":\"Karlstad\",\"operator\":\"private\","
                     "\"booking\":{\"adapter\":\"rivta-scheduling\","
                     "\"url\":\"http://127.0.0.1:%d/vp\"}}",
                     i ? "," : "", i, i, split && i % 2 ? port1 : port0);
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

static int teardown(void **state)
{
    struct fx *fx = *state;

    fetch_free(fx->f);
    collector_free(fx->coll);
    sim_free(fx->sim[0]);
    sim_free(fx->sim[1]);
    conf_free(fx->region);
    conf_free(fx->sim_region);
    event_base_free(fx->base);
    clock_set_fake(-1);
    free(fx);
    return 0;
}

/* Simulators (one or two) serving n clinics, and a collector over them. */
static void start(struct fx *fx, int n, bool two, int latency_ms,
                  const char *polite)
{
    struct sim_opts so = { .seed = 7, .latency_ms = latency_ms };
    struct fetch_opts fo = { 0 };
    struct sf_error err;
    int i;

    fx->sim_region = make_region(n, 1, 1, false, NULL);
    for (i = 0; i < (two ? 2 : 1); i++) {
        fx->sim[i] =
            sim_new(fx->base, fx->sim_region, "127.0.0.1", 0, &so, &err);
        if (fx->sim[i] == NULL)
            fail_msg("sim_new: %s", err.msg);
    }
    fx->region = make_region(n, sim_port(fx->sim[0]),
                             two ? sim_port(fx->sim[1]) : 0, two, polite);
    fo.connect_timeout_ms = 1000;
    fo.timeout_ms = 3000;
    fx->f = fetch_new(fx->base, &fo, &err);
    assert_non_null(fx->f);
    fx->coll = collector_new(fx->base, fx->region, fx->f, &err);
    if (fx->coll == NULL)
        fail_msg("collector_new: %s", err.msg);
}

static void on_pass(void *arg)
{
    ((struct fx *)arg)->passes++;
}

/* One poll_all pass to its end (bounded). Returns its duration in ms. */
static int64_t pass(struct fx *fx)
{
    int before = fx->passes, never = 0;
    int64_t t0 = mono_ms();

    assert_int_equal(collector_poll_all(fx->coll, on_pass, fx), 0);
    while (fx->passes == before && mono_ms() - t0 < 15000)
        th_lo_run_until(fx->base, &never, 20);
    assert_int_equal(fx->passes, before + 1);
    return mono_ms() - t0;
}

static const struct clinic_state *st(struct fx *fx, int i)
{
    size_t n;

    return &collector_states(fx->coll, &n)[i];
}

/* --- rate and concurrency -------------------------------------------------- */

static void test_rate_and_concurrency_at_the_server(void **state)
{
    struct fx *fx = *state;
    const struct sim_request_entry *log;
    size_t n, i, j;
    int64_t dur, worst_1s = 0;
    int c;

    /* 20 clinics behind one host, 10/s burst 2, 2 in flight; answers
     * take 120 ms so the concurrency limit has something to do. */
    start(fx, 20, false, 120,
          "\"rate_per_s\":10,\"burst\":2,\"max_concurrent_per_host\":2");
    dur = pass(fx);
    for (c = 0; c < 20; c++) {
        assert_int_equal(st(fx, c)->status, CLINIC_OK);
        assert_int_equal(st(fx, c)->web, WEB_OPEN);
    }
    log = sim_request_log(fx->sim[0], &n);
    /* GetAvailableDates + GetAvailableTimeslots per clinic at least */
    assert_true(n >= 40);
    for (i = 0; i < n; i++) {
        assert_true(log[i].clinic >= 0);
        for (j = i; j < n; j++) {
            int64_t dt = log[j].time_ms - log[i].time_ms;

            /* (j-i+1) <= burst + rate * (dt + tol) / 1000, in integers */
            if ((int64_t)(j - i + 1) * 1000 >
                2 * 1000 + 10 * (dt + th_ms(TOL_MS)))
                fail_msg("%zu requests within %lld ms (limit 10/s, burst "
                         "2)",
                         j - i + 1, (long long)dt);
            if (dt < 1000 && (int64_t)(j - i + 1) > worst_1s)
                worst_1s = (int64_t)(j - i + 1);
        }
    }
    /* never more than 2 in flight at the server, and the limit did bind */
    assert_int_equal(sim_max_inflight(fx->sim[0]), 2);
    /* the pass cannot be faster than the bucket allows */
    assert_true(dur >= ((int64_t)n - 2) * 100 - 50);
    assert_true(sched_stats(collector_sched(fx->coll))->waits > 0);
    print_message("polite: %zu requests in %lld ms, worst 1 s window %lld "
                  "(limit 12), max in flight %zu\n",
                  n, (long long)dur, (long long)worst_1s,
                  sim_max_inflight(fx->sim[0]));
}

/* --- fairness ---------------------------------------------------------------- */

/*
 * Clinics waiting for a host are served in arrival order, except that a
 * conversation under way goes first: with one request in flight at a
 * time (answers take 20 ms, tokens are plentiful, so the concurrency
 * limit is what binds), all 12 clinics queue at the start of the pass and
 * a clinic's next request (its timeslots after its dates) goes ahead of
 * the first requests still waiting. So each clinic's requests come in one
 * unbroken run, and every clinic gets one.
 */
static void test_waiters_served_in_order(void **state)
{
    struct fx *fx = *state;
    const struct sim_request_entry *log;
    size_t n, i, runs = 0;
    int c, done[MAXCL];

    start(fx, 12, false, 20,
          "\"rate_per_s\":1000,\"burst\":10,\"max_concurrent_per_host\":1");
    pass(fx);
    for (c = 0; c < 12; c++)
        assert_int_equal(st(fx, c)->status, CLINIC_OK);
    log = sim_request_log(fx->sim[0], &n);
    assert_true(n >= 24);
    assert_int_equal(sim_max_inflight(fx->sim[0]), 1);
    memset(done, 0, sizeof(done));
    for (i = 0; i < n; i++) {
        assert_true(log[i].clinic >= 0 && log[i].clinic < 12);
        if (i > 0 && log[i].clinic == log[i - 1].clinic)
            continue;
        if (done[log[i].clinic]++)
            fail_msg("clinic %d asked again after its run ended (request "
                     "%zu): another conversation came in between",
                     log[i].clinic, i);
        runs++;
    }
    assert_int_equal(runs, 12);
}

/* --- Retry-After ------------------------------------------------------------- */

static void test_retry_after_honoured(void **state)
{
    struct fx *fx = *state;
    struct sim_faults f = { .fail_permille = 1000, .retry_after_s = 2 };
    const struct sim_request_entry *log;
    struct sf_error err;
    size_t n, i, n1;
    int64_t t_first = -1, t_second = -1, t_pass2, t_other = -1;

    /* clinic 0 on sim 0 answers 429 Retry-After: 2; clinic 1 on sim 1
     * (another host) is healthy */
    start(fx, 2, true, 0, "\"rate_per_s\":50,\"burst\":5");
    assert_int_equal(sim_set_faults(fx->sim[0], 0, &f, &err), 0);
    pass(fx);
    assert_int_equal(st(fx, 0)->err_class, SF_ERR_HTTP);
    assert_non_null(strstr(st(fx, 0)->error, "429"));
    assert_int_equal(st(fx, 1)->status, CLINIC_OK);
    log = sim_request_log(fx->sim[0], &n1);
    assert_int_equal(n1, 1);
    t_first = log[0].time_ms;

    t_pass2 = mono_ms();
    pass(fx);
    log = sim_request_log(fx->sim[0], &n);
    assert_int_equal(n, 2);
    t_second = log[1].time_ms;
    /* not asked again before the 2 s it asked for; and not much later */
    assert_true(t_second - t_first >= 2000);
    assert_true(t_second - t_first < 2000 + th_ms(600));
    /* the other host went at once: before clinic 0's host was asked
     * again, not held behind its Retry-After (an order, not a wall-clock
     * bound) */
    log = sim_request_log(fx->sim[1], &n);
    for (i = 0; i < n; i++)
        if (log[i].clinic == 1 && log[i].time_ms >= t_pass2 && t_other < 0)
            t_other = log[i].time_ms;
    assert_true(t_other >= 0 && t_other < t_second);
    print_message("polite: 429 Retry-After 2 -> next request after %lld ms"
                  "; other host after %lld ms\n",
                  (long long)(t_second - t_first),
                  (long long)(t_other - t_pass2));
}

/* --- circuit breaker --------------------------------------------------------- */

#define NB 6

static void test_breaker_silences_a_failing_host(void **state)
{
    struct fx *fx = *state;
    struct sim_faults bad = { .fail_permille = 1000 }, good = { 0 };
    const struct sim_request_entry *log;
    struct sched_host *h;
    struct sf_error err;
    char url[64], want[80];
    size_t n, n1, i, skipped = 0, nopen = 0, first;
    int64_t opens[16], t0;
    int c, never = 0;

    start(fx, NB, false, 0,
          "\"rate_per_s\":100,\"burst\":10,\"max_concurrent_per_host\":2,"
          "\"backoff_base_s\":1,\"backoff_max_s\":1,"
          "\"breaker_failures\":3,\"breaker_cooldown_s\":1");
    for (c = 0; c < NB; c++)
        assert_int_equal(sim_set_faults(fx->sim[0], (size_t)c, &bad, &err), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/vp", sim_port(fx->sim[0]));
    h = sched_host_get(collector_sched(fx->coll), url, &err);
    assert_non_null(h);

    /* 1. the host fails: the breaker opens after 3 failures; at most one
     * more request was already on its way (2 in flight) */
    pass(fx);
    assert_int_equal(sched_host_breaker(h), SCHED_OPENED);
    opens[nopen++] = sched_host_open_until(h);
    log = sim_request_log(fx->sim[0], &n1);
    assert_true(n1 >= 3 && n1 <= 4);
    snprintf(want, sizeof(want), "circuit open for 127.0.0.1:%d until ",
             sim_port(fx->sim[0]));
    for (c = 0; c < NB; c++) {
        const struct clinic_state *s = st(fx, c);

        assert_int_equal(s->status, CLINIC_ERROR);
        if (strstr(s->error, want) != NULL) {
            skipped++;
            /* not asked: not a failure of the clinic */
            assert_int_equal(s->checked_at, 0);
            assert_int_equal(s->consecutive_failures, 0);
            assert_int_equal(s->polls, 0);
        } else {
            assert_int_equal(s->consecutive_failures, 1);
        }
    }
    assert_int_equal(skipped, NB - n1);
    first = n1;

    /* 2. passes every 100 ms for 1.6 s: silent while open, then one
     * probe, which fails and opens it again */
    t0 = mono_ms();
    while (mono_ms() - t0 < 1600) {
        pass(fx);
        if (sched_host_open_until(h) != 0 &&
            sched_host_open_until(h) != opens[nopen - 1] && nopen < 16)
            opens[nopen++] = sched_host_open_until(h);
        th_lo_run_until(fx->base, &never, 100);
    }
    assert_true(nopen >= 2);
    log = sim_request_log(fx->sim[0], &n);
    for (i = n1; i < n; i++)
        assert_true(log[i].time_ms >= opens[0]);
    /* exactly one request (the probe) between one opening's end and the
     * next opening's end */
    for (size_t k = 0; k + 1 < nopen; k++) {
        size_t cnt = 0;

        for (i = n1; i < n; i++)
            if (log[i].time_ms >= opens[k] && log[i].time_ms < opens[k + 1])
                cnt++;
        assert_int_equal(cnt, 1);
    }

    /* 3. the host heals: the next probe closes the breaker, then every
     * clinic is polled again */
    for (c = 0; c < NB; c++)
        assert_int_equal(sim_set_faults(fx->sim[0], (size_t)c, &good, &err), 0);
    n1 = n;
    t0 = mono_ms();
    while (sched_host_breaker(h) != SCHED_CLOSED && mono_ms() - t0 < 3000) {
        pass(fx);
        th_lo_run_until(fx->base, &never, 100);
    }
    assert_int_equal(sched_host_breaker(h), SCHED_CLOSED);
    log = sim_request_log(fx->sim[0], &n);
    assert_true(n > n1);
    assert_true(log[n1].time_ms >= opens[nopen - 1]);
    pass(fx);
    for (c = 0; c < NB; c++)
        assert_int_equal(st(fx, c)->status, CLINIC_OK);
    assert_true(sched_stats(collector_sched(fx->coll))->opened >= 2);
    assert_int_equal(sched_stats(collector_sched(fx->coll))->closed, 1);
    print_message("polite: breaker opened after %zu requests; %zu "
                  "openings; %zu requests in %lld ms of failing\n",
                  first, nopen, n1,
                  (long long)(opens[nopen - 1] - opens[0] + 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rate_and_concurrency_at_the_server,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiters_served_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_honoured, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_breaker_silences_a_failing_host,
                                        setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
