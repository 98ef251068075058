/*
 * test_hostile_client.c - the client's caps against the simulator's
 * hostile transport profiles (the client side), on 127.0.0.1.
 *
 * Two layers, one event base each test:
 *   - fetch: a GET of a FHIR clinic whose sim profile is hostile, with a
 *     normal clinic's GET on the same loop. Checked: error class, that the
 *     message names the host and the cap, elapsed below the configured
 *     bound plus slack, and the bytes kept (never over the cap).
 *   - collector: a RIV clinic (POST, so redirects are 307s) polled once
 *     while normal, then with its profile switched to the hostile one:
 *     the second poll fails with the right class, within the bound, the
 *     clinic keeps its slots and goes stale, and the other clinics on
 *     the same loop and simulator are served.
 *
 * The sim reads each clinic's profile from its (borrowed) region at
 * request time, so the test switches a profile by replacing the string
 * in the sim's own copy of the region. No sleeps: the loop runs until a
 * flag is set, with a deadline. Set HOSTILE_VERBOSE=1 to print figures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "slotfeed/sim.h"
#include "th_loopback.h"
#include "th_scale.h"

/* Tuesday 31 March 2026 09:00 CEST: a working day with free times. */
#define NOW_T 1774940400LL
/* Configured bounds, small so the test stays fast. */
#define TIMEOUT_MS 500L
#define CAP_BYTES ((size_t)1 << 20)
/* Slack on top of a time bound (times th_scale.h's factor): a loaded
 * machine, a sanitizer build. */
#define SLACK_MS 700L

/* Clinics: 0 RIV (collector target), 1 FHIR normal, 2 RIV normal,
 * 3 FHIR (fetch target), 4 FHIR normal (fetch companion). */
enum {
    C_RIV,
    C_FHIR_OK,
    C_RIV_OK,
    C_TARGET,
    C_FHIR_OK2,
    NCL
};

static bool verbose(void)
{
    return getenv("HOSTILE_VERBOSE") != NULL;
}

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long peak_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static struct conf_region *make_region(int port)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    char buf[4096];
    int len;

    len = snprintf(
        buf, sizeof(buf),
        "{\"name\":\"hostile\",\"horizon_days\":7,\"poll_interval_s\":60,"
        "\"riv\":{\"subject_of_care\":\"191212121212\"},"
        "\"politeness\":{\"rate_per_s\":200,\"burst\":50,"
        "\"max_concurrent_per_host\":8},\"clinics\":["
        "{\"id\":\"SE2321000156-H000\",\"name\":\"H0\","
        "\"municipality\":\"Karlstad\",\"operator\":\"private\","
        "\"booking\":{\"adapter\":\"rivta-scheduling\","
        "\"url\":\"http://127.0.0.1:%d/vp\"}},"
        "{\"id\":\"SE2321000156-H001\",\"name\":\"H1\","
        "\"municipality\":\"Karlstad\",\"operator\":\"private\","
        "\"booking\":{\"adapter\":\"fhir-slot\","
        "\"url\":\"http://127.0.0.1:%d/fx\",\"actor\":\"Location/h1\"}},"
        "{\"id\":\"SE2321000156-H002\",\"name\":\"H2\","
        "\"municipality\":\"Karlstad\",\"operator\":\"private\","
        "\"booking\":{\"adapter\":\"rivta-scheduling\","
        "\"url\":\"http://127.0.0.1:%d/vp\"}},"
        "{\"id\":\"SE2321000156-H003\",\"name\":\"H3\","
        "\"municipality\":\"Karlstad\",\"operator\":\"private\","
        "\"booking\":{\"adapter\":\"fhir-slot\","
        "\"url\":\"http://127.0.0.1:%d/fx\",\"actor\":\"Location/h3\"}},"
        "{\"id\":\"SE2321000156-H004\",\"name\":\"H4\","
        "\"municipality\":\"Karlstad\",\"operator\":\"private\","
        "\"booking\":{\"adapter\":\"fhir-slot\","
        "\"url\":\"http://127.0.0.1:%d/fx\",\"actor\":\"Location/h4\"}}"
        "]}",
        port, port, port, port, port);
    assert_true(len > 0 && (size_t)len < sizeof(buf));
    if (conf_parse(buf, (size_t)len, &r, &errs) != 0 && errs.n > 0)
        fail_msg("config: %s", errs.v[0]);
    conf_errors_free(&errs);
    assert_non_null(r);
    return r;
}

/* --- fixture ------------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct conf_region *sim_region; /* profiles switched here */
    struct conf_region *region;     /* the collector's, real port */
    struct sim *sim;
    struct fetch *f;
    struct collector *coll;
    int passes;
    int64_t updated_at[NCL]; /* mono ms of each clinic's update */
    /* the offsite origin: counts hits, optionally bounces back */
    struct evhttp *off;
    int off_port;
    int off_hits;
    bool off_bounce;
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct sf_error err;
    struct sim_opts so = { .seed = 7 };

    assert_non_null(fx);
    log_quiet();
    clock_set_fake(NOW_T);
    fx->base = event_base_new();
    fx->sim_region = make_region(1);
    fx->sim = sim_new(fx->base, fx->sim_region, "127.0.0.1", 0, &so, &err);
    if (fx->sim == NULL)
        fail_msg("sim_new: %s", err.msg);
    fx->region = make_region(sim_port(fx->sim));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    fetch_free(fx->f);
    collector_free(fx->coll);
    sim_free(fx->sim);
    if (fx->off != NULL)
        evhttp_free(fx->off);
    conf_free(fx->region);
    conf_free(fx->sim_region);
    event_base_free(fx->base);
    clock_set_fake(-1);
    free(fx);
    return 0;
}

/* Switch clinic i's simulator profile (the sim reads it per request). */
static void set_profile(struct fx *fx, int i, const char *profile)
{
    struct conf_clinic *c = &fx->sim_region->clinics[i];

    free(c->sim_profile);
    c->sim_profile = profile != NULL ? strdup(profile) : NULL;
}

static void new_fetch(struct fx *fx, long max_redirects, size_t cap)
{
    struct fetch_opts fo = { 0 };
    struct sf_error err;

    fo.connect_timeout_ms = TIMEOUT_MS;
    fo.timeout_ms = TIMEOUT_MS;
    fo.max_body_bytes = cap;
    fo.max_redirects = max_redirects;
    fx->f = fetch_new(fx->base, &fo, &err);
    if (fx->f == NULL)
        fail_msg("fetch_new: %s", err.msg);
}

/* The offsite origin: a 302 back to the sim (ping-pong) or a plain 200. */
static void on_offsite(struct evhttp_request *req, void *arg)
{
    struct fx *fx = arg;
    struct evbuffer *b = evbuffer_new();
    char loc[512];

    fx->off_hits++;
    if (fx->off_bounce) {
        snprintf(loc, sizeof(loc), "http://127.0.0.1:%d%s", sim_port(fx->sim),
                 evhttp_request_get_uri(req));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location",
                          loc);
        evhttp_send_reply(req, 302, "Found", b);
    } else {
        evbuffer_add_printf(b, "offsite");
        evhttp_send_reply(req, 200, "OK", b);
    }
    evbuffer_free(b);
}

static void start_offsite(struct fx *fx, bool bounce)
{
    char origin[64];
    struct sf_error err;

    fx->off = th_lo_http(fx->base, on_offsite, fx, &fx->off_port);
    assert_non_null(fx->off);
    fx->off_bounce = bounce;
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", fx->off_port);
    assert_int_equal(sim_set_offsite_url(fx->sim, origin, &err), 0);
}

/* Sim requests routed to clinic i so far. */
static size_t sim_hits(struct fx *fx, long i)
{
    size_t n, k, hits = 0;
    const struct sim_request_entry *log = sim_request_log(fx->sim, &n);

    for (k = 0; k < n; k++)
        if (log[k].clinic == i)
            hits++;
    return hits;
}

/* --- fetch layer ------------------------------------------------------- */

struct got {
    int calls;
    enum sf_errclass code;
    char msg[512];
    long status;
    size_t len;
    size_t received;
    long long wire;
    int64_t at;
};

static void on_done(const struct fetch_result *res, void *arg)
{
    struct got *g = arg;

    g->calls++;
    g->code = res->err.code;
    snprintf(g->msg, sizeof(g->msg), "%s", res->err.msg);
    g->status = res->http_status;
    g->len = res->len;
    g->received = res->received;
    g->wire = res->wire_bytes;
    g->at = mono_ms();
}

static void get_fhir(struct fx *fx, int clinic, const char *actor,
                     struct got *g)
{
    struct adapter_request req;
    struct sf_error err;
    char url[256];

    (void)clinic;
    memset(&req, 0, sizeof(req));
    snprintf(url, sizeof(url),
             "http://127.0.0.1:%d/fx/Slot?"
             "schedule.actor=%s&status=free",
             sim_port(fx->sim), actor);
    req.url = url;
    assert_int_equal(fetch_start(fx->f, &req, on_done, g, &err), 0);
}

/*
 * GET the target clinic under `profile` alongside a normal clinic; run
 * until both are done (deadline bound + slack). Returns the target's
 * elapsed ms; *ok gets the companion's outcome.
 */
static long fetch_hostile(struct fx *fx, const char *profile, struct got *g,
                          struct got *ok)
{
    int64_t t0, deadline;
    int never = 0;

    set_profile(fx, C_TARGET, profile);
    t0 = mono_ms();
    get_fhir(fx, C_TARGET, "Location/h3", g);
    get_fhir(fx, C_FHIR_OK2, "Location/h4", ok);
    deadline = t0 + TIMEOUT_MS + SLACK_MS + 2000;
    while ((g->calls == 0 || ok->calls == 0) && mono_ms() < deadline)
        th_lo_run_until(fx->base, &never, 10);
    assert_int_equal(g->calls, 1);
    assert_int_equal(ok->calls, 1);
    /* the normal clinic on the same loop and server is unaffected */
    assert_int_equal(ok->code, SF_ERR_NONE);
    assert_int_equal(ok->status, 200);
    assert_true(ok->len > 0);
    if (verbose())
        fprintf(stderr,
                "hostile fetch %-16s %5lld ms  class %-9s kept %zu B"
                "  wire %lld B  | %s\n",
                profile, (long long)(g->at - t0), sf_errclass_name(g->code),
                g->received, g->wire, g->msg);
    return (long)(g->at - t0);
}

static void test_fetch_gzip_bomb_ratio(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };
    long el, rss0 = peak_rss_kib();

    /* size cap far above the ratio floor: the ratio cap must stop it */
    new_fetch(fx, 0, 64u << 20);
    el = fetch_hostile(fx, "gzip-bomb", &g, &ok);
    assert_int_equal(g.code, SF_ERR_HOSTILE);
    assert_int_equal(g.status, 0);
    assert_non_null(strstr(g.msg, "127.0.0.1"));
    assert_non_null(strstr(g.msg, "decompression ratio"));
    assert_non_null(strstr(g.msg, "over cap 100:1"));
    /* Exact, with no read's slack: the body stops one byte past the
     * floor or 100 x the encoded bytes received so far, whichever is
     * more. Those are the bytes curl has handed over (16 KiB at most at
     * a time), never more than its wire count, which may be one read
     * ahead. */
    {
        const char *p = strrchr(g.msg, '(');
        size_t decoded = 0;
        long long raw = 0;

        assert_non_null(p);
        assert_int_equal(sscanf(p, "(%zu bytes decoded from %lld received)",
                                &decoded, &raw),
                         2);
        assert_true(raw > 0 && raw <= g.wire);
        assert_int_equal(g.received, decoded - 1);
        assert_int_equal(g.received, 100 * (size_t)raw > FETCH_RATIO_FLOOR
                                         ? 100 * (size_t)raw
                                         : FETCH_RATIO_FLOOR);
    }
    assert_true(g.received < 2 * FETCH_RATIO_FLOOR);
    /* about 1 KiB a MiB: far less than the 256 MiB it would become */
    assert_true(g.wire < 64 * 1024);
    assert_true(el < TIMEOUT_MS + th_ms(SLACK_MS));
    if (verbose())
        fprintf(stderr, "gzip-bomb: peak RSS %ld KiB before, %ld KiB after\n",
                rss0, peak_rss_kib());
}

static void test_fetch_gzip_bomb_size_cap(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };

    /* ratio cap out of the way: the size cap still bounds the body */
    new_fetch(fx, 0, CAP_BYTES);
    fetch_set_max_decompress_ratio(fx->f, 1000000);
    fetch_hostile(fx, "gzip-bomb", &g, &ok);
    assert_int_equal(g.code, SF_ERR_TOO_LARGE);
    assert_non_null(strstr(g.msg, "127.0.0.1"));
    assert_non_null(strstr(g.msg, "size cap"));
    assert_true(g.received <= CAP_BYTES);
}

static void test_fetch_gzip_below_floor_is_fine(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };
    struct sim_faults small = { .body_bytes = 512 * 1024 };
    struct sf_error err;

    /* 512 KiB of blanks from ~600 bytes: ratio ~900:1 but under the
     * 1 MiB floor, so it decodes (the adapter would judge the body) */
    assert_int_equal(sim_set_faults(fx->sim, C_TARGET, &small, &err), 0);
    new_fetch(fx, 0, CAP_BYTES);
    fetch_hostile(fx, "gzip-bomb", &g, &ok);
    assert_int_equal(g.code, SF_ERR_NONE);
    assert_int_equal(g.status, 200);
    assert_int_equal(g.len, 512 * 1024);
    assert_true(g.wire > 0 && g.wire < 4096);
}

static void test_fetch_gzip_bomb_decodes_right(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };
    struct sim_faults mid = { .body_bytes = 8L << 20 };
    struct sf_error err;

    /* The sim's bomb is spliced from repeated flushed chunks: with both
     * caps out of the way curl (zlib, CRC-32 and length checked) must
     * decode it to exactly the promised size. */
    assert_int_equal(sim_set_faults(fx->sim, C_TARGET, &mid, &err), 0);
    new_fetch(fx, 0, 16u << 20);
    fetch_set_max_decompress_ratio(fx->f, 1000000);
    fetch_hostile(fx, "gzip-bomb", &g, &ok);
    assert_int_equal(g.code, SF_ERR_NONE);
    assert_int_equal(g.status, 200);
    assert_int_equal(g.len, 8u << 20);
    assert_true(g.wire > 0 && g.wire < 16 * 1024);
}

static void test_fetch_redirect_loop(void **state)
{
    struct fx *fx = *state;
    struct got off = { 0 }, on = { 0 }, ok = { 0 }, ok2 = { 0 };
    size_t before;

    /* redirects off: the 302 is the answer, nothing followed */
    new_fetch(fx, 0, CAP_BYTES);
    before = sim_hits(fx, C_TARGET);
    fetch_hostile(fx, "redirect-loop", &off, &ok);
    assert_int_equal(off.code, SF_ERR_NONE);
    assert_int_equal(off.status, 302);
    assert_int_equal(sim_hits(fx, C_TARGET) - before, 1);
    fetch_free(fx->f);
    fx->f = NULL;

    /* redirects on (3): the cap holds, 1 + 3 requests, class http */
    new_fetch(fx, 3, CAP_BYTES);
    before = sim_hits(fx, C_TARGET);
    fetch_hostile(fx, "redirect-loop", &on, &ok2);
    assert_int_equal(on.code, SF_ERR_HTTP);
    assert_non_null(strstr(on.msg, "127.0.0.1"));
    assert_non_null(strstr(on.msg, "more than 3 redirects"));
    assert_int_equal(sim_hits(fx, C_TARGET) - before, 4);
}

static void test_fetch_redirect_offsite(void **state)
{
    struct fx *fx = *state;
    struct got off = { 0 }, on = { 0 }, ok = { 0 }, ok2 = { 0 };
    size_t before;

    start_offsite(fx, true);
    /* redirects off: the other origin is never contacted */
    new_fetch(fx, 0, CAP_BYTES);
    fetch_hostile(fx, "redirect-offsite", &off, &ok);
    assert_int_equal(off.code, SF_ERR_NONE);
    assert_int_equal(off.status, 302);
    assert_int_equal(fx->off_hits, 0);
    fetch_free(fx->f);
    fx->f = NULL;

    /* redirects on (3): sim -> offsite -> sim -> offsite, then stop */
    new_fetch(fx, 3, CAP_BYTES);
    before = sim_hits(fx, C_TARGET);
    fetch_hostile(fx, "redirect-offsite", &on, &ok2);
    assert_int_equal(on.code, SF_ERR_HTTP);
    assert_non_null(strstr(on.msg, "more than 3 redirects"));
    assert_int_equal(sim_hits(fx, C_TARGET) - before, 2);
    assert_int_equal(fx->off_hits, 2);
}

static void test_fetch_slow_headers(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };
    long el;

    new_fetch(fx, 0, CAP_BYTES);
    el = fetch_hostile(fx, "slow-headers", &g, &ok);
    assert_int_equal(g.code, SF_ERR_TIMEOUT);
    assert_non_null(strstr(g.msg, "127.0.0.1"));
    assert_non_null(strstr(g.msg, "total timeout 500 ms"));
    assert_int_equal(g.received, 0);
    /* the total timeout, not earlier (the head was still coming) */
    assert_true(el >= TIMEOUT_MS - 50);
    assert_true(el < TIMEOUT_MS + th_ms(SLACK_MS));
    /* the normal clinic was served while the drip went on */
    assert_true(ok.at < g.at);
    /* the sim let go of the connection once we closed it */
    {
        int never = 0;
        int64_t t0 = mono_ms();

        while (sim_pending(fx->sim) > 0 && mono_ms() - t0 < 2000)
            th_lo_run_until(fx->base, &never, 10);
        assert_int_equal(sim_pending(fx->sim), 0);
    }
}

static void test_fetch_endless(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };
    long el;

    new_fetch(fx, 0, CAP_BYTES);
    el = fetch_hostile(fx, "endless", &g, &ok);
    assert_int_equal(g.code, SF_ERR_TOO_LARGE);
    assert_non_null(strstr(g.msg, "127.0.0.1"));
    assert_non_null(strstr(g.msg, "larger than 1048576 bytes"));
    assert_true(g.received <= CAP_BYTES);
    assert_true(el < TIMEOUT_MS + th_ms(SLACK_MS));
}

static void test_fetch_bad_length(void **state)
{
    struct fx *fx = *state;
    struct got g = { 0 }, ok = { 0 };

    new_fetch(fx, 0, CAP_BYTES);
    fetch_hostile(fx, "bad-length", &g, &ok);
    assert_int_equal(g.code, SF_ERR_TRANSPORT);
    assert_non_null(strstr(g.msg, "127.0.0.1"));
    assert_non_null(strstr(g.msg, "remaining to read"));
    /* The close is noticed at once, not at the timeout: a transport
     * error above, not SF_ERR_TIMEOUT (the meaning, not a clock). */
}

/* --- collector layer ------------------------------------------------------ */

static void on_update(void *arg, size_t index)
{
    struct fx *fx = arg;

    if (index < NCL)
        fx->updated_at[index] = mono_ms();
}

static void on_pass(void *arg)
{
    ((struct fx *)arg)->passes++;
}

static int64_t pass(struct fx *fx)
{
    int before = fx->passes, never = 0;
    int64_t t0 = mono_ms();

    memset(fx->updated_at, 0, sizeof(fx->updated_at));
    assert_int_equal(collector_poll_all(fx->coll, on_pass, fx), 0);
    while (fx->passes == before && mono_ms() - t0 < 10000)
        th_lo_run_until(fx->base, &never, 10);
    assert_int_equal(fx->passes, before + 1);
    return t0;
}

static const struct clinic_state *st(struct fx *fx, int i)
{
    size_t n;

    return &collector_states(fx->coll, &n)[i];
}

/*
 * Poll everything while normal, then with clinic 0 under `profile`.
 * Checks the common outcome; returns the poll's elapsed ms for clinic 0.
 */
static long collector_hostile(struct fx *fx, const char *profile,
                              long max_redirects, size_t cap,
                              enum sf_errclass want, const char *want_msg)
{
    struct sf_error err;
    size_t nslots;
    int64_t valid_at, t0;
    long el;
    int i;

    new_fetch(fx, max_redirects, cap);
    fx->coll = collector_new(fx->base, fx->region, fx->f, &err);
    if (fx->coll == NULL)
        fail_msg("collector_new: %s", err.msg);
    collector_on_update(fx->coll, on_update, fx);

    pass(fx);
    for (i = 0; i < NCL; i++) {
        if (st(fx, i)->status != CLINIC_OK)
            fail_msg("clinic %d: %s", i, st(fx, i)->error);
    }
    nslots = st(fx, C_RIV)->slots.n;
    valid_at = st(fx, C_RIV)->valid_at;
    assert_true(nslots > 0);

    set_profile(fx, C_RIV, profile);
    clock_set_fake(NOW_T + 60);
    t0 = pass(fx);
    el = (long)(fx->updated_at[C_RIV] - t0);
    if (verbose())
        fprintf(stderr, "hostile poll  %-16s %5ld ms  class %-9s | %s\n",
                profile, el, sf_errclass_name(st(fx, C_RIV)->err_class),
                st(fx, C_RIV)->error);
    /* failed with the right class, naming host and cap */
    assert_int_equal(st(fx, C_RIV)->err_class, want);
    assert_non_null(strstr(st(fx, C_RIV)->error, want_msg));
    /* kept its last good data, went stale */
    assert_int_equal(st(fx, C_RIV)->status, CLINIC_STALE);
    assert_true(st(fx, C_RIV)->has_data);
    assert_int_equal(st(fx, C_RIV)->slots.n, nslots);
    assert_int_equal(st(fx, C_RIV)->valid_at, valid_at);
    /* the others were served in the same pass */
    for (i = 1; i < NCL; i++) {
        assert_int_equal(st(fx, i)->status, CLINIC_OK);
        assert_int_equal(st(fx, i)->valid_at, NOW_T + 60);
    }
    assert_true(el < TIMEOUT_MS + th_ms(SLACK_MS));
    return el;
}

static void test_poll_gzip_bomb(void **state)
{
    /* the default size cap (4 MiB): the ratio cap fires first */
    collector_hostile(*state, "gzip-bomb", 0, 4u << 20, SF_ERR_HOSTILE,
                      "decompression ratio");
}

static void test_poll_redirect_loop(void **state)
{
    struct fx *fx = *state;

    collector_hostile(fx, "redirect-loop", 3, CAP_BYTES, SF_ERR_HTTP,
                      "more than 3 redirects");
}

static void test_poll_redirect_loop_not_followed(void **state)
{
    /* redirects off: the 307 reaches the adapter, which calls it http */
    collector_hostile(*state, "redirect-loop", 0, CAP_BYTES, SF_ERR_HTTP,
                      "HTTP 307");
}

static void test_poll_redirect_offsite(void **state)
{
    struct fx *fx = *state;

    start_offsite(fx, false);
    collector_hostile(fx, "redirect-offsite", 0, CAP_BYTES, SF_ERR_HTTP,
                      "HTTP 307");
    assert_int_equal(fx->off_hits, 0);
}

static void test_poll_slow_headers(void **state)
{
    struct fx *fx = *state;
    long el = collector_hostile(fx, "slow-headers", 0, CAP_BYTES,
                                SF_ERR_TIMEOUT, "total timeout 500 ms");

    assert_true(el >= TIMEOUT_MS - 50);
    /* the other clinics finished while clinic 0 was still waiting */
    for (int i = 1; i < NCL; i++)
        assert_true(fx->updated_at[i] < fx->updated_at[C_RIV]);
}

static void test_poll_endless(void **state)
{
    collector_hostile(*state, "endless", 0, CAP_BYTES, SF_ERR_TOO_LARGE,
                      "size cap");
}

static void test_poll_bad_length(void **state)
{
    collector_hostile(*state, "bad-length", 0, CAP_BYTES, SF_ERR_TRANSPORT,
                      "remaining to read");
}

static void test_offsite_origin_checked(void **state)
{
    struct fx *fx = *state;
    struct sf_error err;

    assert_int_equal(sim_set_offsite_url(fx->sim, "ftp://x", &err), -1);
    assert_int_equal(sim_set_offsite_url(fx->sim, "http://x/", &err), -1);
    assert_int_equal(sim_set_offsite_url(fx->sim, "http://a\r\nb", &err), -1);
    assert_int_equal(sim_set_offsite_url(fx->sim, "http://x:1", &err), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_fetch_gzip_bomb_ratio),
        T(test_fetch_gzip_bomb_size_cap),
        T(test_fetch_gzip_below_floor_is_fine),
        T(test_fetch_gzip_bomb_decodes_right),
        T(test_fetch_redirect_loop),
        T(test_fetch_redirect_offsite),
        T(test_fetch_slow_headers),
        T(test_fetch_endless),
        T(test_fetch_bad_length),
        T(test_poll_gzip_bomb),
        T(test_poll_redirect_loop),
        T(test_poll_redirect_loop_not_followed),
        T(test_poll_redirect_offsite),
        T(test_poll_slow_headers),
        T(test_poll_endless),
        T(test_poll_bad_length),
        T(test_offsite_origin_checked),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
