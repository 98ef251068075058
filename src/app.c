/*
 * app.c - wires collector -> feed -> HTTP on one event base.
 *
 * Rebuilding the feed is cheap next to a poll but not free at 10k clinics,
 * and every rebuild is new public bytes (generated_at, checked_at), hence
 * new ETags that defeat every cache. So updates only mark it dirty, and
 * the publish cadence (feed_cadence, feed.h) decides when a dirty feed is
 * rebuilt: a burst of finished polls coalesces into one rebuild, and the
 * public snapshot changes at most every publish_interval_s, the first
 * change after a quiet interval promptly. A replaced snapshot is released at
 * once: replies still being written from its bytes hold their own
 * reference (feed_snapshot_ref), so it lives exactly as long as needed.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "slotfeed/app.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <malloc.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/fetch.h"
#include "slotfeed/geo.h"
#include "slotfeed/http.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"
#include "slotfeed/store.h"

/*
 * A region given to app_reload (owned). Freed once nothing borrows it:
 * the collector has released it (no poll in flight began under it), it
 * is not current, the store does not remember it and the snapshot was
 * not built from it.
 */
struct owned_region {
    struct conf_region *r;
    bool released;
    struct owned_region *next;
};

struct app {
    struct event_base *base;
    const struct conf_region *region; /* current */
    struct owned_region *owned;
    struct geo_table *geo; /* near= places, loaded at start; owned */
    const struct conf_region *store_region; /* store_sync_region's */
    /* drain (app_drain) */
    bool draining;
    struct event *drain_ev;
    void (*drained)(void *);
    void *drained_arg;
    int64_t drain_t0_ms;
    size_t drain_polls; /* polls finished while draining */
    struct fetch *fetch;
    struct collector *coll;
    struct http_server *http;
    struct http_server *admin; /* http.admin_listen, or NULL */
    struct feed_snapshot *snap;
    struct store *store;         /* history; NULL when it cannot be opened */
    struct feed_cadence cadence; /* when a dirty feed is published */
    void (*pass_done)(void *);   /* app_poll_now's caller */
    void *pass_arg;
    struct event *rebuild_ev; /* one-shot, armed for the cadence's due */
    struct event *refresh_ev; /* periodic: the clock alone changes things */
    struct event *lag_ev;     /* one-shot, re-armed: loop-lag probe */
    int64_t lag_due_us;       /* when lag_ev should run */
    unsigned long rebuilds;
    /* A build in slices (feed.h): one step per loop turn, a->snap stays
     * public meanwhile. */
    struct feed_job *job;
    struct event *job_ev; /* one-shot, 0 s: the next step */
    int64_t job_start_ms, job_busy_ms;
    int64_t job_dirty_ms; /* first change seen while it ran */
    bool job_dirty, job_urgent;
    unsigned long job_steps;
    uint64_t jobs_started; /* the running job is number jobs_started */
    int64_t slice_ms;      /* loop time per step (APP_BUILD_SLICE_MS) */
    size_t slice_parts;    /* clinics per step, 0 = no limit (tests) */
    /* app_poll_now's pass is over: pass_done fires once a job numbered
     * >= pass_job (begun after the pass ended) is published or fails. */
    bool pass_waiting;
    uint64_t pass_job;
    /* app_reload: the feed still shows the old region until published */
    bool reload_pending;
    int64_t reload_ms;
};

/* Loop time one step of a sliced build may take (the loop-lag budget is
 * 50 ms for any one piece of work). */
#define APP_BUILD_SLICE_MS 20
/* A step longer than this is logged (build_step_slow). */
#define APP_STEP_WARN_MS 50
/*
 * The loop's two priorities: 0, the readers' connections (http.c puts
 * them there) and the loop-lag probe that stands for them; 1, the default,
 * everything else in arrival order as before (polls, whose answers are
 * parsed on the loop, build steps, store slices, timers). libevent runs
 * a lower priority only in a round where no higher one is ready, and the
 * default yields after APP_WORK_SLICE_US (event_config_set_max_dispatch_
 * interval), so a reader waits for at most one such slice (or one longer
 * callback: a build step, a flush slice) instead of a whole round of
 * answers. Work stays in one priority on purpose: polls below builds
 * starved builds, builds and flush slices above polls starved polls
 * (transfers timed out) (docs/performance.md, "Fifth round").
 */
#define APP_PRIORITIES 2
#define APP_WORK_SLICE_US 10000

/*
 * Milliseconds until the next rebuild may start, -1 when the feed is
 * clean. A rebuild costs the loop its whole duration (about 1 ms per 10
 * clinics, in slices), so the cadence also spaces rebuilds at least four
 * durations apart, however fast polls finish.
 */
static int64_t rebuild_wait_ms(const struct app *a)
{
    return feed_cadence_wait_ms(&a->cadence, clock_mono_ms());
}

static void sweep_regions(struct app *a);

static void schedule_rebuild(struct app *a);

/* snap is complete: make it public. busy_ms is the loop time it took. */
static void publish(struct app *a, struct feed_snapshot *snap, int64_t busy_ms)
{
    int64_t t1 = clock_mono_ms();

    feed_snapshot_free(a->snap);
    a->snap = snap;
    if (a->owned != NULL)
        sweep_regions(a);
    a->rebuilds++;
    feed_cadence_published(&a->cadence, t1 - busy_ms, t1);
    if (a->rebuild_ev != NULL)
        evtimer_del(a->rebuild_ev);
    metrics_feed_rebuild((double)busy_ms / 1e3);
}

/* Abandon a sliced build (a restart, a reload, a drain, the end); what
 * changed while it ran is still to publish. */
static void job_cancel(struct app *a)
{
    if (a->job == NULL)
        return;
    feed_job_free(a->job);
    a->job = NULL;
    if (a->job_ev != NULL)
        evtimer_del(a->job_ev);
}

/* Changes seen while the job ran (after it may have collected those
 * clinics) are dirty again once it is published. */
static void job_redirty(struct app *a)
{
    if (a->job_dirty) {
        feed_cadence_touch(&a->cadence, a->job_dirty_ms);
        if (a->job_urgent)
            feed_cadence_touch_urgent(&a->cadence, a->job_dirty_ms);
        schedule_rebuild(a);
    }
    a->job_dirty = a->job_urgent = false;
}

/* app_poll_now's caller, once (its pass's results are public, or the
 * build failed, or the app drains). */
static void pass_fire(struct app *a)
{
    void (*done)(void *) = a->pass_done;

    if (!a->pass_waiting)
        return;
    a->pass_waiting = false;
    a->pass_done = NULL;
    if (done != NULL)
        done(a->pass_arg);
}

/* Job number seq ended (published when ok): tell who waits for it. */
static void job_ended(struct app *a, uint64_t seq, bool ok)
{
    int64_t wall = clock_mono_ms() - a->job_start_ms;

    if (ok && a->reload_pending) {
        a->reload_pending = false;
        log_info("reload_published",
                 "clinics=%zu loop_ms=%lld steps=%lu wall_ms=%lld "
                 "since_reload_ms=%lld",
                 a->snap->nclinics, (long long)a->job_busy_ms, a->job_steps,
                 (long long)wall, (long long)(clock_mono_ms() - a->reload_ms));
    }
    if (a->pass_waiting && seq >= a->pass_job) {
        if (ok)
            log_info("pass_published",
                     "clinics=%zu loop_ms=%lld steps=%lu wall_ms=%lld",
                     a->snap->nclinics, (long long)a->job_busy_ms, a->job_steps,
                     (long long)wall);
        pass_fire(a);
    }
}

static int64_t tv_us(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/*
 * A build step went over the loop-lag budget: say whether it was our
 * work (cpu close to wall) or the thread waiting for a core, in user
 * code or the kernel (page faults), and where in the step. On a virtual
 * machine a host that deschedules the vCPU is counted as the thread's
 * CPU time too (docs/performance.md, "Host stalls").
 */
static void log_step_slow(const struct app *a, int64_t wall_us,
                          const struct rusage *r0)
{
    const struct feed_step_stats *st = feed_job_last_step(a->job);
    struct rusage r1;

    if (getrusage(RUSAGE_THREAD, &r1) != 0)
        r1 = *r0;
    log_warn("build_step_slow",
             "wall_ms=%lld user_ms=%lld sys_ms=%lld minflt=%ld "
             "preempted=%ld step=%lu parts=%zu built=%zu part_max_us=%lld "
             "part_max_index=%zu all_us=%lld smart_us=%lld",
             (long long)(wall_us / 1000),
             (long long)((tv_us(r1.ru_utime) - tv_us(r0->ru_utime)) / 1000),
             (long long)((tv_us(r1.ru_stime) - tv_us(r0->ru_stime)) / 1000),
             r1.ru_minflt - r0->ru_minflt, r1.ru_nivcsw - r0->ru_nivcsw,
             a->job_steps + 1, st->parts, st->built, (long long)st->part_max_us,
             st->part_max_index, (long long)st->all_us,
             (long long)st->smart_us);
}

/* One step of the sliced build: at most slice_ms of the loop. */
static void job_step(struct app *a)
{
    const struct clinic_state *states;
    struct sf_error err = { 0 };
    struct timeval now0 = { 0, 0 };
    struct rusage r0;
    size_t n;
    int64_t t0 = clock_mono_ms(), t0us = clock_mono_us(), wall_us;
    uint64_t seq = a->jobs_started;
    int rc;

    if (getrusage(RUSAGE_THREAD, &r0) != 0)
        memset(&r0, 0, sizeof(r0));
    states = collector_states(a->coll, &n);
    rc = feed_job_step(a->job, states, n, a->slice_parts, t0 + a->slice_ms,
                       &err);
    wall_us = clock_mono_us() - t0us;
    metrics_feed_build_step((double)wall_us / 1e6);
    if (wall_us > APP_STEP_WARN_MS * 1000)
        log_step_slow(a, wall_us, &r0);
    a->job_busy_ms += clock_mono_ms() - t0;
    a->job_steps++;
    if (rc == 1) {
        evtimer_add(a->job_ev, &now0); /* after the pending I/O */
        return;
    }
    if (rc == 0) {
        struct feed_snapshot *snap = feed_job_take(a->job);

        a->job = NULL; /* freed: publish's sweep_regions must not read it */
        publish(a, snap, a->job_busy_ms);
    } else {
        log_error("feed_rebuild_failed", "error=\"%s\"", err.msg);
        job_cancel(a);
    }
    job_redirty(a);
    job_ended(a, seq, rc == 0); /* last: a callback may start a build */
}

/* Start a sliced build of the current state unless one runs (or the
 * app drains: nobody reads the feed any more). */
static void rebuild_sliced(struct app *a)
{
    struct sf_error err = { 0 };

    if (a->job != NULL || a->draining)
        return;
    if (feed_job_new(a->region, clock_now(), a->snap, &a->job, &err) != 0) {
        log_error("feed_rebuild_failed", "error=\"%s\"", err.msg);
        a->job = NULL;
        job_ended(a, a->jobs_started + 1, false); /* nothing to wait for */
        return;
    }
    a->jobs_started++;
    a->job_start_ms = clock_mono_ms();
    a->job_busy_ms = 0;
    a->job_steps = 0;
    a->job_dirty = a->job_urgent = false;
    job_step(a);
}

/* A build whose result must show the state as of now: a job begun
 * earlier (whose parts may predate now) is abandoned for a new one. */
static void rebuild_restart(struct app *a)
{
    job_cancel(a);
    rebuild_sliced(a);
}

static void on_job(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;

    (void)fd;
    (void)what;
    if (a->job != NULL)
        job_step(a);
}

/* A build now, in one piece: only at start-up, before the loop runs
 * (there is no snapshot to serve meanwhile). */
static void rebuild(struct app *a)
{
    const struct clinic_state *states;
    struct feed_snapshot *snap = NULL;
    struct sf_error err = { 0 };
    size_t n;
    int64_t t0 = clock_mono_ms();

    job_cancel(a);
    states = collector_states(a->coll, &n);
    /* Incremental: the clinics unchanged since a->snap keep their parts. */
    if (feed_build_from(a->region, states, clock_now(), a->snap, &snap, &err) !=
        0) {
        /* Keep serving the previous snapshot rather than nothing. */
        log_error("feed_rebuild_failed", "error=\"%s\"", err.msg);
        return;
    }
    publish(a, snap, clock_mono_ms() - t0);
    job_redirty(a);
}

/* Arm the one-shot for when the cadence lets the dirty feed out. */
static void schedule_rebuild(struct app *a)
{
    int64_t ms = rebuild_wait_ms(a);
    struct timeval tv;

    if (ms < 0)
        return;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(a->rebuild_ev, &tv); /* re-arming moves the deadline */
}

/*
 * Something readers may see changed now: publish it when the cadence
 * says. urgent: a clinic's first answer, which readers wait for (start-up,
 * a clinic added by a reload), goes out without waiting for the interval.
 */
static void mark_dirty(struct app *a, bool urgent)
{
    if (a->job != NULL) {
        if (!a->job_dirty)
            a->job_dirty_ms = clock_mono_ms();
        a->job_dirty = true;
        a->job_urgent = a->job_urgent || urgent;
    }
    if (urgent)
        feed_cadence_touch_urgent(&a->cadence, clock_mono_ms());
    else
        feed_cadence_touch(&a->cadence, clock_mono_ms());
    schedule_rebuild(a); /* re-arming is cheap; the due may be sooner */
}

/* Is this the first answer of clinic `index` since the feed showed it? */
static bool first_answer(const struct app *a, size_t index)
{
    const struct clinic_state *cs;
    size_t n;
    long i = (long)index;

    cs = collector_states(a->coll, &n);
    if (index >= n || cs[index].checked_at == 0 || a->snap == NULL)
        return false;
    /* Same region: same order. After a reload, until the next build,
     * look the clinic up by id. */
    if (a->snap->region != a->region || index >= a->snap->nclinics)
        i = cs[index].conf != NULL
                ? feed_clinic_index(a->snap, cs[index].conf->id)
                : -1;
    return i < 0 || a->snap->info == NULL || a->snap->info[i].checked_at == 0;
}

static void on_rebuild(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;

    (void)fd;
    (void)what;
    if (rebuild_wait_ms(a) > 0)
        schedule_rebuild(a); /* not due yet (timer granularity) */
    else if (a->cadence.dirty)
        rebuild_sliced(a);
}

/*
 * The clock alone changes what readers see: slots start and drop out, a
 * clinic's good data ages past FEED_STALE_INTERVALS polls into "stale",
 * the contact day turns at midnight. Each tick marks the feed dirty, so
 * such a change is published within max(refresh_s, publish_interval_s)
 * plus the coalescing delay, and within publish_interval_s while polls
 * keep the feed dirty (every publication is computed at its own now).
 */
static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;

    (void)fd;
    (void)what;
    mark_dirty(a, false);
}

/* Arm the loop-lag probe METRICS_LOOP_LAG_TICK_MS from now. */
static void arm_lag(struct app *a)
{
    struct timeval tv = { 0, METRICS_LOOP_LAG_TICK_MS * 1000 };

    a->lag_due_us = clock_mono_us() + METRICS_LOOP_LAG_TICK_MS * 1000;
    evtimer_add(a->lag_ev, &tv);
}

/*
 * How late the probe runs is how long the loop was held by callbacks in
 * front of it (a build, a report, a parse): the lag histogram of
 * /metrics. One-shot, re-armed from its own run, so a long stall counts
 * once at its full length, not as many missed ticks.
 */
static void on_lag(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;
    int64_t late = clock_mono_us() - a->lag_due_us;

    (void)fd;
    (void)what;
    metrics_loop_lag(late > 0 ? (double)late / 1e6 : 0.0);
    arm_lag(a);
}

static void on_update(void *arg, size_t index)
{
    struct app *a = arg;

    if (a->store != NULL) {
        size_t n;
        const struct clinic_state *cs = collector_states(a->coll, &n);
        /* Copies into memory; the flush timer writes (store.h). */
        if (index < n)
            store_record_poll(a->store, cs[index].conf, &cs[index], clock_now(),
                              &a->region->guarantee);
    }
    if (a->draining) {
        a->drain_polls++;
        return; /* nobody reads the feed any more */
    }
    mark_dirty(a, first_answer(a, index));
}

/* Free every owned region nothing borrows any more. */
static void sweep_regions(struct app *a)
{
    struct owned_region **pp = &a->owned, *o;

    while ((o = *pp) != NULL) {
        if (o->released && o->r != a->region && o->r != a->store_region &&
            (a->snap == NULL || a->snap->region != o->r) &&
            (a->job == NULL || feed_job_region(a->job) != o->r)) {
            *pp = o->next;
            conf_free(o->r);
            free(o);
        } else {
            pp = &o->next;
        }
    }
}

/* The collector is done with r (collector.h): free it when we own it. */
static void on_release(void *arg, const struct conf_region *r)
{
    struct app *a = arg;
    struct owned_region *o;

    for (o = a->owned; o != NULL; o = o->next)
        if (o->r == r)
            o->released = true;
    sweep_regions(a);
}

static const struct feed_snapshot *get_snapshot(void *arg)
{
    return app_snapshot(arg);
}

int app_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                     struct sf_error *err)
{
    const char *colon, *h = s;
    size_t hl;
    char *end;
    long p;

    if (s == NULL || *s == '\0')
        goto bad;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            goto bad;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        goto bad;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
bad:
    sf_error_set(err, SF_ERR_CONFIG,
                 "listen address \"%s\": want HOST:PORT, e.g. 127.0.0.1:8080",
                 s ? s : "");
    return -1;
}

/* A store that cannot be opened costs the history, never the feed. */
static void open_store(struct app *a)
{
    struct sf_error e = { 0 };

    if (a->region->store == NULL)
        return;
    if ((a->store = store_open(a->region->store, &e)) == NULL ||
        store_attach(a->store, a->base, STORE_DEFAULT_FLUSH_MS) != 0 ||
        store_sync_region(a->store, a->region, clock_now(), &e) != 0) {
        metrics_store_error(METRICS_STORE_OPEN);
        log_error("store_unavailable", "path=%s err=\"%s\"", a->region->store,
                  e.msg[0] ? e.msg : "attach failed");
        store_close(a->store);
        a->store = NULL;
        return;
    }
    a->store_region = a->region;
    store_set_poll_interval(a->store, a->region->poll_interval_s);
    store_set_retention(a->store, a->region->retention_days);
}

/*
 * Why M_MXFAST 0: every HTTP request makes libevent allocate evbuffer
 * chains of just over 1 KiB (too big for glibc's tcache), and every such
 * malloc first consolidates the fast bins ("malloc_consolidate" was 7 %
 * of the daemon's CPU under wrk, docs/performance.md). Without fast bins
 * there is nothing to consolidate; small blocks still come from tcache.
 * The changelist is safe here: no descriptor in the loop is dup()ed.
 *
 * Why a fixed M_MMAP_THRESHOLD of 1 MiB: a build at 10,000 clinics makes
 * arrays of about a MB (it made a 6.4 MB all.json before that was kept as
 * pieces, docs/performance.md "Fifth round"); glibc's sliding threshold
 * moves such blocks into the heap after the first one is freed, where
 * they fragment it and its top cannot shrink. mmap'd, they go back to
 * the system when freed (scale.sh 10000: peak RSS 633 -> 591 MB).
 */
void app_malloc_setup(void)
{
    mallopt(M_MXFAST, 0);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

struct event_base *app_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    app_malloc_setup();
    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    if (event_config_set_max_dispatch_interval(cfg,
                                               &(struct timeval){
                                                   0, APP_WORK_SLICE_US },
                                               -1, 1) != 0) {
        event_config_free(cfg);
        return NULL;
    }
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base != NULL && event_base_priority_init(base, APP_PRIORITIES) != 0) {
        event_base_free(base);
        return NULL;
    }
    return base;
}

struct app *app_new(struct event_base *base, const struct conf_region *region,
                    const struct app_opts *opts, struct sf_error *err)
{
    struct app_opts o = { 0 };
    struct fetch_opts fo = { 0 };
    struct sf_error gerr = { 0 };
    struct app *a;
    char host[256];
    int port;

    if (opts != NULL)
        o = *opts;
    if (o.build_slice_ms <= 0)
        o.build_slice_ms = APP_BUILD_SLICE_MS;
    if (o.build_slice_parts < 0)
        o.build_slice_parts = 0;
    if (o.rebuild_delay_ms <= 0)
        o.rebuild_delay_ms = 250;
    if (o.refresh_s <= 0)
        o.refresh_s = 30;

    if (app_parse_listen(region->listen, host, sizeof(host), &port, err) != 0)
        return NULL;
    if (o.listen_host != NULL) {
        snprintf(host, sizeof(host), "%s", o.listen_host);
        port = o.listen_port;
    } else if (o.listen_port >= 0 && opts != NULL) {
        port = o.listen_port;
    }

    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->base = base;
    a->region = region;
    a->slice_ms = o.build_slice_ms;
    a->slice_parts = (size_t)o.build_slice_parts;
    feed_cadence_init(&a->cadence, region->publish_interval_s,
                      o.rebuild_delay_ms);

    fetch_opts_from_region(&fo, region);
    if ((a->fetch = fetch_new(base, &fo, err)) == NULL)
        goto fail;
    if ((a->coll = collector_new(base, region, a->fetch, err)) == NULL)
        goto fail;
    collector_on_update(a->coll, on_update, a);
    collector_on_release(a->coll, on_release, a);
    open_store(a);
    a->rebuild_ev = evtimer_new(base, on_rebuild, a);
    a->refresh_ev = event_new(base, -1, EV_PERSIST, on_refresh, a);
    a->lag_ev = evtimer_new(base, on_lag, a);
    if (a->lag_ev != NULL)
        event_priority_set(a->lag_ev, 0); /* a reader's (above) */
    a->job_ev = evtimer_new(base, on_job, a);
    if (a->rebuild_ev == NULL || a->refresh_ev == NULL || a->lag_ev == NULL ||
        a->job_ev == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "cannot create timers");
        goto fail;
    }
    {
        struct timeval tv = { o.refresh_s, 0 };
        event_add(a->refresh_ev, &tv);
    }
    rebuild(a);
    arm_lag(a); /* after: the start-up build is not the loop's lag */
    if (a->snap == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "cannot build the initial feed");
        goto fail;
    }
    /*
     * The place table is read now, not on the first near= request: the
     * daemon may have dropped privileges by then (priv.h). Without it
     * near= answers "not available"; the rest of the feed works.
     */
    if (region->geo != NULL && (a->geo = geo_load(region->geo, &gerr)) == NULL)
        log_error("geo_load_failed", "error=\"%s\"", gerr.msg);
    {
        struct http_opts ho = { 0 };

        ho.geo = a->geo;
        ho.reports = o.reports;
        ho.request_timeout_ms = region->http_request_timeout_ms;
        ho.max_connections = region->http_max_connections;
        ho.max_age_s = region->http_max_age_s;
        /* With an admin listener the public one keeps the operator's
         * routes off (404); both are bound here, before --user. */
        ho.role = region->http_admin_listen != NULL ? HTTP_ROLE_PUBLIC
                                                    : HTTP_ROLE_ALL;
        a->http = http_new(base, host, port, &ho, get_snapshot, a, err);
        if (a->http == NULL)
            goto fail;
        /* The manifest's fallback base names the listen address: of no
         * use to anyone when it is a wildcard. */
        if (region->http_public_base_url == NULL &&
            (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0))
            log_warn("public_base_url_unset",
                     "listen=%s:%d: the "
                     "$bulk-publish manifest names this address; set "
                     "http.public_base_url to the one clients use",
                     host, http_port(a->http));
        if (region->http_admin_listen != NULL) {
            ho.role = HTTP_ROLE_ALL;
            if (app_parse_listen(region->http_admin_listen, host, sizeof(host),
                                 &port, err) != 0 ||
                (a->admin = http_new(base, host, port, &ho, get_snapshot, a,
                                     err)) == NULL)
                goto fail;
        }
    }
    return a;
fail:
    app_free(a);
    return NULL;
}

int app_start(struct app *a)
{
    return collector_start(a->coll);
}

/*
 * The pass asked for is over: its results are published now, whatever
 * the cadence (as a reload is), in slices like any build, so the loop
 * keeps serving (the old snapshot) and polling meanwhile. The caller --
 * `run --poll-now` at start-up, a bench, a test -- is told once they
 * are public. A job already running began before the pass ended, and
 * may have collected clinics before their last poll: it starts over.
 */
static void on_pass_done(void *arg)
{
    struct app *a = arg;

    a->pass_waiting = true;
    if (a->draining || (!a->cadence.dirty && a->job == NULL)) {
        pass_fire(a);
        return;
    }
    a->pass_job = a->jobs_started + 1; /* the one starting now, or later */
    rebuild_restart(a);
}

int app_poll_now(struct app *a, void (*done)(void *), void *arg)
{
    if (a->pass_waiting) /* the last pass's results are not public yet */
        return -1;
    if (collector_poll_all(a->coll, on_pass_done, a) != 0)
        return -1;
    a->pass_done = done;
    a->pass_arg = arg;
    return 0;
}

int app_port(const struct app *a)
{
    return a->http ? http_port(a->http) : -1;
}

int app_admin_port(const struct app *a)
{
    return a->admin ? http_port(a->admin) : -1;
}

const struct feed_snapshot *app_snapshot(struct app *a)
{
    /* Fresh data for a reader when a publication is due anyway; otherwise
     * the current snapshot: readers cannot force rebuilds (nor new ETags)
     * faster than the cadence allows. */
    if (rebuild_wait_ms(a) == 0)
        rebuild_sliced(a);
    return a->snap;
}

void app_free(struct app *a)
{
    if (a == NULL)
        return;
    /* HTTP first (no more readers), then polls, then the transfers the
     * polls own, then the bytes replies may have referenced. */
    http_free(a->http);
    http_free(a->admin);
    fetch_free(a->fetch);
    collector_free(a->coll);
    store_close(a->store); /* flushes what is pending */
    if (a->rebuild_ev)
        event_free(a->rebuild_ev);
    if (a->refresh_ev)
        event_free(a->refresh_ev);
    if (a->lag_ev)
        event_free(a->lag_ev);
    job_cancel(a);
    if (a->job_ev)
        event_free(a->job_ev);
    if (a->drain_ev)
        event_free(a->drain_ev);
    feed_snapshot_free(a->snap);
    geo_free(a->geo);
    /* Nothing borrows a region any more: free the reloaded ones. */
    while (a->owned != NULL) {
        struct owned_region *o = a->owned;

        a->owned = o->next;
        conf_free(o->r);
        free(o);
    }
    free(a);
}

/*
 * Settings only read at startup: a reload reports a change and keeps the
 * value in force, writing it back into r (owned by the app from now on)
 * so that everything reading r sees what is really used.
 */
static int keep_str(const char *key, char **newv, const char *cur)
{
    char *copy;

    if ((*newv == NULL && cur == NULL) ||
        (*newv != NULL && cur != NULL && strcmp(*newv, cur) == 0))
        return 0;
    log_warn("reload_needs_restart",
             "key=%s running=\"%s\" "
             "configured=\"%s\" kept=running",
             key, cur ? cur : "", *newv ? *newv : "");
    copy = cur ? strdup(cur) : NULL;
    if (cur != NULL && copy == NULL)
        return -1;
    free(*newv);
    *newv = copy;
    return 1;
}

static void keep_long(const char *key, long *newv, long cur)
{
    if (*newv == cur)
        return;
    log_warn("reload_needs_restart",
             "key=%s running=%ld configured=%ld "
             "kept=running",
             key, cur, *newv);
    *newv = cur;
}

static void keep_int(const char *key, int *newv, int cur)
{
    long v = *newv;

    keep_long(key, &v, cur);
    *newv = (int)v;
}

static int keep_startup_settings(const struct conf_region *o,
                                 struct conf_region *r)
{
    if (keep_str("listen", &r->listen, o->listen) < 0 ||
        keep_str("store", &r->store, o->store) < 0 ||
        keep_str("geo", &r->geo, o->geo) < 0 ||
        keep_str("fetch.user_agent", &r->user_agent, o->user_agent) < 0 ||
        keep_str("http.admin_listen", &r->http_admin_listen,
                 o->http_admin_listen) < 0)
        return -1;
    keep_int("fetch.connect_timeout_ms", &r->connect_timeout_ms,
             o->connect_timeout_ms);
    keep_int("fetch.timeout_ms", &r->timeout_ms, o->timeout_ms);
    keep_long("fetch.max_body_bytes", &r->max_body_bytes, o->max_body_bytes);
    keep_long("fetch.max_decompress_ratio", &r->max_decompress_ratio,
              o->max_decompress_ratio);
    keep_int("http.request_timeout_ms", &r->http_request_timeout_ms,
             o->http_request_timeout_ms);
    keep_int("http.max_connections", &r->http_max_connections,
             o->http_max_connections);
    keep_int("http.max_age_s", &r->http_max_age_s, o->http_max_age_s);
    return 0;
}

int app_reload(struct app *a, struct conf_region *r, struct sf_error *err)
{
    struct collector_diff d;
    struct owned_region *o;
    struct sf_error e = { 0 };

    if (a == NULL || r == NULL || a->draining) {
        sf_error_set(err, SF_ERR_INTERNAL, "reload: %s",
                     a && a->draining ? "shutting down" : "no app or region");
        return -1;
    }
    o = calloc(1, sizeof(*o));
    if (o == NULL || keep_startup_settings(a->region, r) != 0) {
        free(o);
        sf_error_set(err, SF_ERR_NOMEM, "reload: out of memory");
        return -1;
    }
    if (collector_reconfigure(a->coll, r, &d, err) != 0) {
        free(o);
        return -1;
    }
    /* From here on r is ours and current; the old one goes when the
     * collector, the store and the snapshot have let go of it. */
    o->r = r;
    o->next = a->owned;
    a->owned = o;
    a->region = r;
    feed_cadence_set_interval(&a->cadence, r->publish_interval_s);
    if (a->store != NULL) {
        store_set_poll_interval(a->store, r->poll_interval_s);
        store_set_retention(a->store, r->retention_days);
        if (store_sync_region(a->store, r, clock_now(), &e) == 0)
            a->store_region = r;
        else /* the store may still point at the old region: kept */
            log_error("store_sync_failed", "path=%s err=\"%s\"",
                      store_path(a->store), e.msg);
    }
    /* Built in slices: the old snapshot (of the old region, kept alive by
     * sweep_regions while it is public) is served until then. A job of
     * the old region cannot go on: its states are gone. */
    a->reload_pending = true;
    a->reload_ms = clock_mono_ms();
    rebuild_restart(a);
    sweep_regions(a);
    log_info("reload",
             "ok added=%zu removed=%zu changed=%zu kept=%zu "
             "clinics=%zu in_flight=%zu",
             d.added, d.removed, d.changed, d.kept, r->nclinics,
             collector_active(a->coll));
    return 0;
}

/* Drain over (all polls done, or the timeout): flush and tell main. */
static void drain_end(struct app *a, const char *why)
{
    struct sf_error e = { 0 };
    size_t pending = a->store ? store_pending(a->store) : 0;
    void (*done)(void *) = a->drained;

    if (done == NULL)
        return;
    a->drained = NULL;
    evtimer_del(a->drain_ev);
    if (a->store != NULL && store_flush(a->store, &e) != 0)
        log_error("store_flush_failed", "path=%s err=\"%s\"",
                  store_path(a->store), e.msg);
    log_info("drain_end",
             "reason=%s finished=%zu aborted=%zu "
             "store_flushed=%zu elapsed_ms=%lld",
             why, a->drain_polls, collector_active(a->coll), pending,
             (long long)(clock_mono_ms() - a->drain_t0_ms));
    done(a->drained_arg);
}

static void on_drain_idle(void *arg)
{
    drain_end(arg, "idle");
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_end(arg, "timeout");
}

int app_drain(struct app *a, int timeout_ms, void (*done)(void *), void *arg)
{
    struct timeval tv;

    if (a == NULL || done == NULL || a->draining)
        return -1;
    a->drain_ev = evtimer_new(a->base, on_drain_timeout, a);
    if (a->drain_ev == NULL)
        return -1;
    a->draining = true;
    a->drained = done;
    a->drained_arg = arg;
    a->drain_t0_ms = clock_mono_ms();
    log_info("drain_start", "in_flight=%zu timeout_ms=%d",
             collector_active(a->coll), timeout_ms);
    /* No new clients: the listener and open connections go now; a reply
     * still being written is cut (docs/operations.md). */
    http_free(a->http);
    a->http = NULL;
    http_free(a->admin);
    a->admin = NULL;
    event_del(a->refresh_ev);
    event_del(a->rebuild_ev);
    event_del(a->lag_ev);
    job_cancel(a); /* no more builds: nobody reads the feed */
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(a->drain_ev, &tv);
    collector_stop(a->coll, on_drain_idle, a);
    pass_fire(a); /* a pass-end build that will not be published */
    return 0;
}

size_t app_polls_in_flight(const struct app *a)
{
    return a ? collector_active(a->coll) : 0;
}
