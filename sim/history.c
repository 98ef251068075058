/*
 * history.c - generate a demo history: simulator + collector + store in
 * one process on a fake clock (history.h). Each simulated step sets the
 * clock, runs one collector pass over loopback to the simulator until it
 * has finished, and records the pass; nothing waits for real time, so a
 * month of 41 clinics at a 10-minute interval takes seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/fetch.h"
#include "slotfeed/history.h"
#include "slotfeed/log.h"
#include "slotfeed/sim.h"
#include "slotfeed/store.h"

/* A pass that takes longer than this (wall time) is a bug, not slowness. */
#define HISTORY_PASS_LIMIT_S 120
#define HISTORY_HORIZON_DAYS 10

struct hctx {
    struct store *st;
    struct collector *coll;
    const struct conf_region *region;
    long polls;
    int done;
};

static void on_update(void *arg, size_t index)
{
    struct hctx *h = arg;
    size_t n;
    const struct clinic_state *cs = collector_states(h->coll, &n);

    if (index < n && store_record_poll(h->st, cs[index].conf, &cs[index],
                                       clock_now(), &h->region->guarantee) == 0)
        h->polls++;
}

static void on_pass(void *arg)
{
    ((struct hctx *)arg)->done = 1;
}

/* Point an http URL's authority at 127.0.0.1:port (the in-process sim). */
static int retarget(char **url, int port)
{
    const char *p, *rest;
    char *nu;
    size_t n;

    if (*url == NULL || (p = strstr(*url, "://")) == NULL)
        return 0;
    rest = strchr(p + 3, '/');
    if (rest == NULL)
        rest = "";
    n = strlen(rest) + 48;
    if ((nu = malloc(n)) == NULL)
        return -1;
    snprintf(nu, n, "http://127.0.0.1:%d%s", port, rest);
    free(*url);
    *url = nu;
    return 0;
}

static void lift(struct conf_politeness *p)
{
    /* The sim is ours and in-process: no rate limit is needed, and real
     * time must not throttle a simulated month. */
    p->rate_per_s = 1e6;
    p->burst = 100000;
    p->max_concurrent_per_host = 256;
}

/* Monotonic seconds, for the pass and run time limits. */
static double wall(void)
{
    return (double)clock_mono_us() / 1e6;
}

/* history_generate: every clinic's booking URLs at the in-process sim,
 * its slots changing every change_every_s, a short horizon and no rate
 * limit. */
static int aim_at_sim(struct sim *sim, struct conf_region *region,
                      const struct history_opts *o, struct sf_error *err)
{
    struct sim_faults sf = { 0 };
    int port = sim_port(sim);
    size_t i, k;

    sf.change_every_s = o->change_every_s > 0 ? o->change_every_s
                                              : HISTORY_DEFAULT_CHANGE_EVERY_S;
    for (i = 0; i < region->nclinics; i++) {
        struct conf_clinic *c = &region->clinics[i];

        if (sim_set_faults(sim, i, &sf, err) != 0)
            return -1;
        if (!c->has_booking)
            continue;
        if (retarget(&c->booking.url, port) != 0)
            goto oom;
        for (k = 0; k < c->booking.nendpoints; k++)
            if (retarget(&c->booking.endpoints[k].url, port) != 0)
                goto oom;
    }
    /* Ten days ahead is plenty for the guarantee (3 days) and the wait
     * to the first free time, and cuts the simulated traffic. */
    if (region->horizon_days > HISTORY_HORIZON_DAYS)
        region->horizon_days = HISTORY_HORIZON_DAYS;
    lift(&region->politeness);
    for (k = 0; k < region->npolite_hosts; k++)
        lift(&region->polite_hosts[k].p);
    return 0;
oom:
    sf_error_set(err, SF_ERR_NOMEM, "history: out of memory");
    return -1;
}

/* history_generate: one poll of every clinic at the fake time now,
 * run on the loop until it ends (or a wall-clock limit says it hangs). */
static int run_pass(struct event_base *base, struct hctx *h,
                    struct sf_error *err)
{
    double ps = wall();

    h->done = 0;
    if (collector_poll_all(h->coll, on_pass, h) != 0) {
        sf_error_set(err, SF_ERR_INTERNAL, "history: pass refused");
        return -1;
    }
    while (!h->done) {
        if (event_base_loop(base, EVLOOP_ONCE) < 0 ||
            wall() - ps > HISTORY_PASS_LIMIT_S) {
            sf_error_set(err, SF_ERR_INTERNAL,
                         "history: a pass "
                         "did not finish");
            return -1;
        }
    }
    return 0;
}

int history_generate(struct conf_region *region, const struct history_opts *o,
                     struct history_result *res, struct sf_error *err)
{
    struct event_base *base = NULL;
    struct sim *sim = NULL;
    struct fetch *f = NULL;
    struct hctx h = { 0 };
    struct fetch_opts fo = { 0 };
    struct sim_opts so = { 0 };
    int interval =
        o->interval_s > 0 ? o->interval_s : HISTORY_DEFAULT_INTERVAL_S;
    int from_min = o->poll_from_min, to_min = o->poll_to_min;
    const char *path = o->db_path ? o->db_path : region->store;
    int32_t day;
    int rc = -1;
    double t0 = wall();

    memset(res, 0, sizeof(*res));
    if (from_min == 0 && to_min == 0) {
        from_min = HISTORY_DEFAULT_POLL_FROM_MIN;
        to_min = HISTORY_DEFAULT_POLL_TO_MIN;
    }
    if (o->days < 1 || o->days > 400 || interval < 10 || interval > 86400 ||
        from_min < 0 || to_min > 24 * 60 || to_min <= from_min) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "history: days 1..400, interval "
                     "10..86400 s, poll hours start < end");
        return -1;
    }
    if (path == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "history: no store (--db or the "
                     "config's \"store\" key)");
        return -1;
    }
    so.seed = o->seed ? o->seed : 1;
    clock_set_fake(clock_day_start(o->from_day));
    if ((base = event_base_new()) == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "history: no event loop");
        goto out;
    }
    if ((sim = sim_new(base, region, "127.0.0.1", 0, &so, err)) == NULL)
        goto out;
    if (aim_at_sim(sim, region, o, err) != 0)
        goto out;

    fetch_opts_from_region(&fo, region);
    if ((f = fetch_new(base, &fo, err)) == NULL ||
        (h.coll = collector_new(base, region, f, err)) == NULL ||
        (h.st = store_open(path, err)) == NULL)
        goto out;
    h.region = region;
    store_set_poll_interval(h.st, interval);
    collector_on_update(h.coll, on_update, &h);

    for (day = o->from_day; day < o->from_day + o->days; day++) {
        int64_t t = clock_day_start(day) + (int64_t)from_min * 60;
        int64_t end = clock_day_start(day) + (int64_t)to_min * 60;

        /* Polls on the wall-clock grid from..to; on DST days the grid is
         * counted from local midnight in real seconds, close enough for a
         * demo (the reports themselves are exact). */
        if (store_sync_region(h.st, region, t, err) != 0)
            goto out;
        for (; t < end; t += interval) {
            clock_set_fake(t);
            if (run_pass(base, &h, err) != 0)
                goto out;
            res->passes++;
        }
        /* One transaction per simulated day. */
        if (store_flush(h.st, err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (h.st != NULL && rc == 0 && store_flush(h.st, err) != 0)
        rc = -1;
    fetch_free(f);
    collector_free(h.coll);
    store_close(h.st);
    sim_free(sim);
    if (base)
        event_base_free(base);
    res->polls = h.polls;
    res->seconds = wall() - t0;
    clock_set_fake(-1);
    return rc;
}
