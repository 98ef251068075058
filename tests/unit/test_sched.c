/*
 * test_sched.c - per-host politeness rules with invented times.
 *
 * Every time here is a made-up millisecond count; nothing sleeps. The
 * bucket's bound is checked over every window of long random request
 * streams (seeded, so a failure reproduces), against the definition
 * "at most burst + rate * t grants in any window of length t", computed
 * here in integers independently of the module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/sched.h"

/* The test's own PRNG (xorshift64*), unrelated to the module's. */
/* Five 63-character labels: 319 characters, over the DNS limit. */
#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG_HOST L63 "." L63 "." L63 "." L63 "." L63

static uint64_t xs(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static struct sched_params quiet(void)
{
    struct sched_params p;

    sched_params_default(&p);
    p.backoff_base_ms = 0;
    p.backoff_max_ms = 0;
    return p;
}

static struct sched_host *host(struct sched *s, const char *url)
{
    struct sf_error err;
    struct sched_host *h = sched_host_get(s, url, &err);

    if (h == NULL)
        fail_msg("sched_host_get(%s): %s", url, err.msg);
    return h;
}

/* --- token bucket --------------------------------------------------------- */

/*
 * rate_milli: rate in 1/1000 per second, so rate * t(ms) = rate_milli * t
 * / 1e6 requests, compared in integers: count * 1e6 <= burst * 1e6 +
 * rate_milli * t.
 */
static void bucket_property(long rate_milli, int burst, uint64_t seed)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g;
    int64_t *t, now = 1000000, w, period = 1000000 / rate_milli;
    size_t n = 0, i, j, max = 3000, attempts = 0;
    int exact_hits = 0;

    p.rate_per_s = (double)rate_milli / 1000.0;
    p.burst = burst;
    p.max_concurrent = 1000000;
    s = sched_new(&p);
    h = host(s, "http://bucket.example:8080/");
    t = calloc(max, sizeof(*t));
    while (n < max && attempts < 20 * max) {
        attempts++;
        switch (sched_acquire(h, now, &w, &g)) {
        case SCHED_GO:
            t[n++] = now;
            sched_release(&g, SCHED_SUCCESS, -1, now);
            break;
        case SCHED_WAIT:
            assert_true(w > 0);
            assert_true(w <= period + 1);
            /* The wait is tight: one ms earlier is still too early, and
             * exactly then it goes (nothing else competes here). */
            if (xs(&seed) % 4 == 0) {
                if (w > 1) {
                    now += w - 1;
                    assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_WAIT);
                    assert_int_equal(w, 1);
                }
                now += w;
                assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_GO);
                t[n++] = now;
                sched_release(&g, SCHED_SUCCESS, -1, now);
                exact_hits++;
            }
            break;
        default:
            fail_msg("breaker verdict without failures");
        }
        /* Bursty arrivals: mostly tight clusters, sometimes long gaps. */
        switch (xs(&seed) % 4) {
        case 0:
            break; /* same ms */
        case 1:
            now += (int64_t)(xs(&seed) % 5);
            break;
        case 2:
            now += (int64_t)(xs(&seed) % (uint64_t)(period + 1));
            break;
        default:
            now += (int64_t)(xs(&seed) % (uint64_t)(4 * period * burst + 1));
            break;
        }
    }
    assert_true(n == max);
    /* the stream did push against the limit, again and again */
    if (exact_hits < 10 || sched_stats(s)->waits < 100)
        fail_msg("rate %ld/1000: only %d exact hits, %lu waits", rate_milli,
                 exact_hits, sched_stats(s)->waits);
    for (i = 0; i < n; i++)
        for (j = i; j < n; j++) {
            int64_t lhs = (int64_t)(j - i + 1) * 1000000;
            int64_t rhs = (int64_t)burst * 1000000 + (t[j] - t[i]) * rate_milli;

            if (lhs > rhs)
                fail_msg("rate %ld/1000 burst %d: %zu grants in [%lld, "
                         "%lld]",
                         rate_milli, burst, j - i + 1, (long long)t[i],
                         (long long)t[j]);
        }
    free(t);
    sched_free(s);
}

static void test_bucket_never_exceeds_rate(void **state)
{
    (void)state;
    bucket_property(1000, 2, 1); /* the default: 1/s, burst 2 */
    bucket_property(5000, 2, 2);
    bucket_property(700, 3, 3);
    bucket_property(2500, 1, 4);
    bucket_property(333, 5, 5);
    bucket_property(100000, 3, 6); /* 100/s */
}

/* Saturated for T ms: the bucket gives burst + rate*T, not less. */
static void test_bucket_is_not_stingy(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g;
    int64_t now, w;
    int n = 0;

    (void)state;
    p.rate_per_s = 5;
    p.burst = 2;
    p.max_concurrent = 100;
    s = sched_new(&p);
    h = host(s, "http://a.example/");
    for (now = 0; now <= 10000; now++) {
        while (sched_acquire(h, now, &w, &g) == SCHED_GO) {
            n++;
            sched_release(&g, SCHED_SUCCESS, -1, now);
        }
    }
    /* 2 at t=0, then one per 200 ms: t=200..10000 gives 50 more */
    assert_int_equal(n, 52);
    sched_free(s);
}

/*
 * A rate that does not divide a second: 0.7/s refills 700000 nano-tokens
 * per ms, so an empty bucket (burst 1) holds 1428 * 700000 = 0.9996 token
 * after 1428 ms and one token only at 1429 ms. The refill's shortcut to
 * "full" must not round that 1 ms up: a grant at 1428 ms would exceed
 * the rate.
 */
static void test_bucket_exact_at_uneven_rate(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g;
    int64_t w, t0 = 5000;

    (void)state;
    p.rate_per_s = 0.7;
    p.burst = 1;
    p.max_concurrent = 10;
    s = sched_new(&p);
    h = host(s, "http://uneven.example/");
    assert_int_equal(sched_acquire(h, t0, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_SUCCESS, -1, t0);
    assert_int_equal(sched_acquire(h, t0, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 1429);
    assert_int_equal(sched_acquire(h, t0 + 1428, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 1);
    assert_int_equal(sched_acquire(h, t0 + 1429, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_SUCCESS, -1, t0 + 1429);
    /* Straight to 1428 ms after the grant, no look in between. */
    assert_int_equal(sched_acquire(h, t0 + 1429 + 1428, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 1);
    sched_free(s);
}

/* --- concurrency ----------------------------------------------------------- */

static void test_concurrency_limit(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g[4];
    int64_t w;

    (void)state;
    p.rate_per_s = 1000;
    p.burst = 100;
    p.max_concurrent = 3;
    s = sched_new(&p);
    h = host(s, "http://c.example/");
    assert_int_equal(sched_acquire(h, 0, &w, &g[0]), SCHED_GO);
    assert_int_equal(sched_acquire(h, 0, &w, &g[1]), SCHED_GO);
    assert_int_equal(sched_acquire(h, 0, &w, &g[2]), SCHED_GO);
    assert_int_equal(sched_host_inflight(h), 3);
    /* tokens left, but no slot: wait, and not zero */
    assert_int_equal(sched_acquire(h, 0, &w, &g[3]), SCHED_WAIT);
    assert_true(w >= 1);
    assert_int_equal(sched_acquire(h, 500, &w, &g[3]), SCHED_WAIT);
    sched_release(&g[1], SCHED_NEUTRAL, -1, 600);
    assert_int_equal(sched_host_inflight(h), 2);
    assert_int_equal(sched_acquire(h, 600, &w, &g[3]), SCHED_GO);
    assert_int_equal(sched_acquire(h, 600, &w, &g[1]), SCHED_WAIT);
    assert_int_equal(sched_stats(s)->grants, 4);
    assert_int_equal(sched_stats(s)->waits, 3);
    sched_free(s);
}

/* --- backoff -------------------------------------------------------------- */

static void test_backoff_full_jitter(void **state)
{
    uint64_t rng = 42, rng2 = 42;
    int a, i;

    (void)state;
    assert_int_equal(sched_backoff_ms(1000, 60000, 0, &rng), 0);
    assert_int_equal(sched_backoff_ms(1000, 60000, -3, &rng), 0);
    for (a = 1; a <= 12; a++) {
        /* cap computed here: 1 s doubling, cut at 60 s */
        int64_t cap = 1000LL << (a - 1), mx = 0;
        double sum = 0;

        if (cap > 60000)
            cap = 60000;
        for (i = 0; i < 4000; i++) {
            int64_t d = sched_backoff_ms(1000, 60000, a, &rng);

            assert_true(d >= 0 && d <= cap);
            if (d > mx)
                mx = d;
            sum += (double)d;
        }
        /* uniform on [0, cap]: the largest of 4000 is near cap, the mean
         * near cap/2 (sd of the mean ~ cap/219) */
        assert_true(mx >= cap - cap / 50);
        assert_true(sum / 4000 > cap * 0.46 && sum / 4000 < cap * 0.54);
    }
    /* no overflow however long the run */
    for (i = 0; i < 100; i++) {
        int64_t d = sched_backoff_ms(30000, 1800000, 1000 + i, &rng);

        assert_true(d >= 0 && d <= 1800000);
    }
    /* reproducible from the seed: two generators from 42 agree */
    rng = 42;
    for (i = 0; i < 10; i++)
        assert_int_equal(sched_backoff_ms(1000, 60000, 5, &rng),
                         sched_backoff_ms(1000, 60000, 5, &rng2));
}

static void fail_once(struct sched_host *h, int64_t now)
{
    struct sched_grant g;
    int64_t w;

    assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_FAILURE, -1, now);
}

/* A host's failures hold it for a jittered, growing delay; success
 * resets the growth. */
static void test_host_backoff_grows_and_resets(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g;
    int64_t now = 0, w, held, cap;
    int k, over_base = 0, round;

    (void)state;
    p.rate_per_s = 1000;
    p.burst = 10;
    p.backoff_base_ms = 1000;
    p.backoff_max_ms = 16000;
    p.breaker_failures = 1000;
    s = sched_new(&p);
    h = host(s, "http://b.example/");
    for (round = 0; round < 20; round++) {
        for (k = 1; k <= 7; k++) {
            assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_GO);
            sched_release(&g, SCHED_FAILURE, -1, now);
            assert_int_equal(sched_host_failures(h), k);
            /* the first failure of a run holds nothing; the k-th
             * holds up to base * 2^(k-2), cut at max */
            cap = k == 1 ? 0 : 1000LL << (k - 2);
            if (cap > 16000)
                cap = 16000;
            held = sched_host_held_until(h) - now;
            if (k == 1)
                held = sched_host_held_until(h) > now ? -1 : 0;
            assert_true(held >= 0 && held <= cap);
            if (k >= 3 && held > 1000)
                over_base++;
            if (held > 0) {
                /* held means held: not a ms earlier */
                assert_int_equal(sched_acquire(h, now + held - 1, &w, &g),
                                 SCHED_WAIT);
                assert_int_equal(w, 1);
            }
            now += held + 1000;
        }
        /* one success: the next failure starts from base again */
        assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_GO);
        sched_release(&g, SCHED_SUCCESS, -1, now);
        assert_int_equal(sched_host_failures(h), 0);
        fail_once(h, now);
        assert_true(sched_host_held_until(h) <= now);
        fail_once(h, now);
        assert_true(sched_host_held_until(h) - now <= 1000);
        now += 2000;
        assert_int_equal(sched_acquire(h, now, &w, &g), SCHED_GO);
        sched_release(&g, SCHED_SUCCESS, -1, now);
        now += 1000;
    }
    /* the delays do grow: beyond base many times over 100 samples */
    assert_true(over_base > 50);
    sched_free(s);
}

/* --- breaker ---------------------------------------------------------------- */

static void test_breaker_transitions(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g, old, probe;
    int64_t w;

    (void)state;
    p.rate_per_s = 1000;
    p.burst = 10;
    p.max_concurrent = 10;
    p.breaker_failures = 3;
    p.breaker_cooldown_ms = 10000;
    s = sched_new(&p);
    h = host(s, "https://br.example/");

    /* a request sent before the breaker opens, answered after */
    assert_int_equal(sched_acquire(h, 0, &w, &old), SCHED_GO);
    fail_once(h, 100);
    fail_once(h, 200);
    assert_int_equal(sched_host_breaker(h), SCHED_CLOSED);
    /* a success in between resets the count */
    assert_int_equal(sched_acquire(h, 250, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_SUCCESS, -1, 250);
    fail_once(h, 300);
    fail_once(h, 400);
    assert_int_equal(sched_host_breaker(h), SCHED_CLOSED);
    fail_once(h, 1000); /* the third in a row */
    assert_int_equal(sched_host_breaker(h), SCHED_OPENED);
    assert_int_equal(sched_host_open_until(h), 11000);
    assert_int_equal(sched_stats(s)->opened, 1);

    /* the old request's answer does not move the breaker */
    sched_release(&old, SCHED_FAILURE, -1, 1500);
    assert_int_equal(sched_host_open_until(h), 11000);
    assert_int_equal(sched_host_inflight(h), 0);

    assert_int_equal(sched_acquire(h, 1000, &w, &g), SCHED_OPEN);
    assert_int_equal(w, 10000);
    assert_int_equal(sched_acquire(h, 10999, &w, &g), SCHED_OPEN);
    assert_int_equal(w, 1);
    /* exactly at the end of the cooldown: one probe */
    assert_int_equal(sched_acquire(h, 11000, &w, &probe), SCHED_GO);
    assert_true(probe.probe);
    assert_int_equal(sched_host_breaker(h), SCHED_HALF_OPEN);
    assert_int_equal(sched_acquire(h, 11001, &w, &g), SCHED_OPEN);
    assert_int_equal(w, 0);
    /* the probe fails: open again for a full cooldown from now */
    sched_release(&probe, SCHED_FAILURE, -1, 12000);
    assert_int_equal(sched_host_breaker(h), SCHED_OPENED);
    assert_int_equal(sched_host_open_until(h), 22000);
    assert_int_equal(sched_acquire(h, 21999, &w, &g), SCHED_OPEN);
    /* a neutral probe (never sent) lets the next one try */
    assert_int_equal(sched_acquire(h, 22000, &w, &probe), SCHED_GO);
    sched_release(&probe, SCHED_NEUTRAL, -1, 22000);
    assert_int_equal(sched_host_breaker(h), SCHED_HALF_OPEN);
    assert_int_equal(sched_acquire(h, 22001, &w, &probe), SCHED_GO);
    assert_true(probe.probe);
    sched_release(&probe, SCHED_SUCCESS, -1, 22100);
    assert_int_equal(sched_host_breaker(h), SCHED_CLOSED);
    assert_int_equal(sched_host_failures(h), 0);
    assert_int_equal(sched_acquire(h, 22100, &w, &g), SCHED_GO);
    assert_false(g.probe);
    assert_int_equal(sched_acquire(h, 22100, &w, &old), SCHED_GO);
    sched_release(&g, SCHED_SUCCESS, -1, 22100);
    sched_release(&old, SCHED_SUCCESS, -1, 22100);
    assert_int_equal(sched_stats(s)->opened, 2);
    assert_int_equal(sched_stats(s)->half_opened, 2);
    assert_int_equal(sched_stats(s)->closed, 1);
    /* closed again: it takes three fresh failures to reopen */
    fail_once(h, 23000);
    fail_once(h, 23001);
    assert_int_equal(sched_host_breaker(h), SCHED_CLOSED);
    fail_once(h, 23002);
    assert_int_equal(sched_host_breaker(h), SCHED_OPENED);
    assert_int_equal(sched_host_open_until(h), 33002);
    sched_free(s);
}

/* --- Retry-After -------------------------------------------------------- */

static void test_retry_after(void **state)
{
    struct sched_params p = quiet();
    struct sched *s;
    struct sched_host *h;
    struct sched_grant g;
    int64_t w;

    (void)state;
    p.rate_per_s = 1000;
    p.burst = 10;
    p.backoff_base_ms = 100000; /* would be longer: RA wins */
    p.backoff_max_ms = 100000;
    s = sched_new(&p);
    h = host(s, "http://ra.example/");
    assert_int_equal(sched_acquire(h, 5000, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_FAILURE, 2, 5000);
    assert_int_equal(sched_host_held_until(h), 7000);
    assert_int_equal(sched_acquire(h, 5000, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 2000);
    assert_int_equal(sched_acquire(h, 6999, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 1);
    assert_int_equal(sched_acquire(h, 7000, &w, &g), SCHED_GO);
    /* an absurd Retry-After is cut to an hour */
    sched_release(&g, SCHED_FAILURE, 999999, 7000);
    assert_int_equal(sched_host_held_until(h),
                     7000 + SCHED_RETRY_AFTER_MAX_S * 1000LL);
    assert_int_equal(sched_acquire(h, 7000 + 3599999, &w, &g), SCHED_WAIT);
    assert_int_equal(sched_acquire(h, 7000 + 3600000, &w, &g), SCHED_GO);
    /* Retry-After on a success (e.g. a 200) is not a hold */
    sched_release(&g, SCHED_SUCCESS, 50, 3607000);
    assert_int_equal(sched_acquire(h, 3607000, &w, &g), SCHED_GO);
    sched_free(s);
}

/* --- hosts ----------------------------------------------------------------- */

static void test_hosts_keys_and_independence(void **state)
{
    struct sched_params p = quiet(), slow = quiet(), any = quiet();
    struct sched *s;
    struct sched_host *a, *b, *c;
    struct sched_grant g;
    struct sf_error err;
    int64_t w;
    int i;

    (void)state;
    p.rate_per_s = 1;
    p.burst = 1;
    p.breaker_failures = 1;
    p.breaker_cooldown_ms = 60000;
    s = sched_new(&p);
    slow.rate_per_s = 0.5;
    slow.burst = 4;
    any.burst = 7;
    assert_int_equal(sched_set_host_params(s, "Slow.example:8443", &slow, &err),
                     0);
    assert_int_equal(sched_set_host_params(s, "slow.example", &any, &err), 0);
    assert_int_equal(sched_set_host_params(s, "[::1]:8080", &any, &err), 0);
    assert_int_equal(sched_set_host_params(s, "bad host", &any, &err), -1);
    assert_int_equal(sched_set_host_params(s, "x:0", &any, &err), -1);
    assert_int_equal(sched_set_host_params(s, "x:", &any, &err), -1);

    a = host(s, "http://A.example/vp/GetAvailableDates");
    assert_string_equal(sched_host_key(a), "http://a.example:80");
    assert_string_equal(sched_host_name(a), "a.example:80");
    assert_ptr_equal(host(s, "http://a.example:80/other?x=1"), a);
    b = host(s, "https://a.example/");
    assert_ptr_not_equal(a, b);
    assert_string_equal(sched_host_key(b), "https://a.example:443");
    assert_int_equal(sched_host_count(s), 2);

    /* overrides: exact host:port first, then the bare name */
    c = host(s, "https://slow.example:8443/fhir");
    assert_int_equal(sched_host_params(c)->burst, 4);
    assert_int_equal(sched_host_params(host(s, "http://SLOW.example:81/"))
                         ->burst,
                     7);
    assert_int_equal(sched_host_params(host(s, "http://[::1]:8080/"))->burst,
                     7);
    assert_int_equal(sched_host_params(a)->burst, 1);

    /* a's breaker opens; b and c do not care */
    fail_once(a, 0);
    assert_int_equal(sched_acquire(a, 1, &w, &g), SCHED_OPEN);
    assert_int_equal(sched_acquire(b, 1, &w, &g), SCHED_GO);
    sched_release(&g, SCHED_SUCCESS, -1, 1);
    for (i = 0; i < 4; i++) {
        assert_int_equal(sched_acquire(c, 1, &w, &g), SCHED_GO);
        sched_release(&g, SCHED_SUCCESS, -1, 1);
    }
    assert_int_equal(sched_acquire(c, 1, &w, &g), SCHED_WAIT);
    assert_int_equal(w, 2000); /* 0.5/s */
    assert_int_equal(sched_host_breaker(b), SCHED_CLOSED);

    /* not http(s) or no host: refused with a message */
    assert_null(sched_host_get(s, "ftp://a.example/", &err));
    assert_non_null(strstr(err.msg, "scheme \"ftp\" is not http or https"));
    /* the reason, never the URL: it may carry credentials */
    assert_null(sched_host_get(s, "http://u:secret@a.example:65536/", &err));
    assert_non_null(strstr(err.msg, "not a valid URL"));
    assert_null(strstr(err.msg, "secret"));
    /* a host over the DNS limit would not fit a key: refused, said so */
    assert_null(sched_host_get(s, "http://" LONG_HOST "/", &err));
    assert_non_null(strstr(err.msg, "host longer than 253"));
    assert_null(sched_host_get(s, "no url at all", &err));
    assert_null(sched_host_get(s, NULL, &err));
    sched_free(s);
    sched_free(NULL);
}

/* Many hosts: the table grows and every host stays findable. */
static void test_many_hosts(void **state)
{
    struct sched *s = sched_new(NULL);
    struct sched_host *h[500];
    char url[64];
    int i;

    (void)state;
    for (i = 0; i < 500; i++) {
        snprintf(url, sizeof(url), "http://h%d.example:%d/", i, 1000 + i);
        h[i] = host(s, url);
    }
    for (i = 0; i < 500; i++) {
        snprintf(url, sizeof(url), "http://H%d.EXAMPLE:%d/x", i, 1000 + i);
        assert_ptr_equal(host(s, url), h[i]);
    }
    assert_int_equal(sched_host_count(s), 500);
    /* defaults as documented */
    assert_true(sched_host_params(h[0])->rate_per_s == 1.0);
    assert_int_equal(sched_host_params(h[0])->burst, 2);
    assert_int_equal(sched_host_params(h[0])->max_concurrent, 2);
    assert_int_equal(sched_host_params(h[0])->backoff_base_ms, 30000);
    assert_int_equal(sched_host_params(h[0])->backoff_max_ms, 1800000);
    assert_int_equal(sched_host_params(h[0])->breaker_failures, 5);
    assert_int_equal(sched_host_params(h[0])->breaker_cooldown_ms, 300000);
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_never_exceeds_rate),
        cmocka_unit_test(test_bucket_is_not_stingy),
        cmocka_unit_test(test_bucket_exact_at_uneven_rate),
        cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_backoff_full_jitter),
        cmocka_unit_test(test_host_backoff_grows_and_resets),
        cmocka_unit_test(test_breaker_transitions),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_hosts_keys_and_independence),
        cmocka_unit_test(test_many_hosts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
