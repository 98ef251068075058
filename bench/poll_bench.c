/*
 * poll_bench.c - cost of one full collector pass (issue 4's bench).
 *
 * Loads a region (bench/poll_bench.sh writes one with N RIV clinics spread
 * over simulators on 127.0.0.x, each a separate process so their CPU is
 * not counted here), puts fetch + collector on one event base exactly as
 * the daemon does (app.c; the base from app_base_new, as main.c makes it), runs one collector_poll_all() pass, then one
 * feed_build() of the result. Prints key=value lines:
 *
 *   clinics polls ok failures   polls done, clinics with data, failed polls
 *   pass_wall_s                 wall time of the pass
 *   pass_cpu_s                  user+sys CPU of this process in the pass
 *   cpu_s_per_1000_polls        pass_cpu_s / polls * 1000
 *   share_10k_per_min           CPU share of one core for 10,000 clinics
 *                               polled once a minute: cpu/poll * 10000 / 60
 *   slots                       free slots held after the pass
 *   sched_grants sched_waits    politeness verdicts in the pass: requests
 *                               let go, and "wait" answers (each a timer
 *                               round for a clinic held back)
 *   feed_build_s feed_all_bytes feed_all_gz_bytes feed_clinic_bytes
 *   rss_after_pass_kb rss_peak_kb   ru_maxrss after the pass / at the end
 *   rss_now_pass_kb rss_now_feed_kb resident now (after malloc_trim) after
 *                               the pass and with the snapshot built
 *   snapshot_bytes              serialized bytes the snapshot holds (JSON,
 *                               gzip, SMART NDJSON, per-clinic objects)
 *   snapshot_slot_copies        slots copied into the snapshot (info[])
 *
 * Requests are counted by the simulators (the script reads their totals):
 * a RIV poll is GetAvailableDates plus one GetAvailableTimeslots per span
 * of dates. Logging stays at the daemon's default level (info: one line
 * per poll), written wherever stderr goes. Not a test.
 *
 * usage: poll_bench CONFIG
 */
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/app.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/feed.h"
#include "slotfeed/fetch.h"
#include "slotfeed/sched.h"

struct bench {
    struct event_base *base;
    int done;
};

static double mono_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* Resident set now, in KiB, after giving freed heap back (malloc_trim),
 * so it counts what is held rather than what malloc keeps for reuse. */
static long rss_now_kb(void)
{
    long pages = 0, res = 0;
    FILE *fp;

    malloc_trim(0);
    if ((fp = fopen("/proc/self/statm", "r")) == NULL)
        return -1;
    if (fscanf(fp, "%ld %ld", &pages, &res) != 2)
        res = -1;
    fclose(fp);
    return res < 0 ? -1 : res * 4;
}

static void on_pass(void *arg)
{
    struct bench *b = arg;

    b->done = 1;
    event_base_loopbreak(b->base);
}

int main(int argc, char **argv)
{
    struct conf_errors errs = { 0 };
    struct conf_region *region = NULL;
    struct fetch_opts fo = { 0 };
    struct sf_error err = { 0 };
    struct bench b = { 0 };
    struct fetch *f = NULL;
    struct collector *c = NULL;
    struct feed_snapshot *snap = NULL;
    const struct clinic_state *st;
    struct rusage r0, r1, r2;
    unsigned long polls = 0, failures = 0;
    size_t i, n, ok = 0, slots = 0, clinic_bytes = 0, snap_bytes = 0;
    size_t snap_slots = 0;
    long rss_pass, rss_feed;
    double t0, t1, t2, t3, cpu, per_poll;
    bool no_feed;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: poll_bench CONFIG\n");
        return 2;
    }
    if (conf_load(argv[1], &region, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s\n", argv[1], errs.v[i]);
        conf_errors_free(&errs);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* the daemon's base (main.c): epoll changelist, no fast bins */
    b.base = app_base_new();
    fetch_opts_from_region(&fo, region);
    if (b.base == NULL || (f = fetch_new(b.base, &fo, &err)) == NULL ||
        (c = collector_new(b.base, region, f, &err)) == NULL) {
        fprintf(stderr, "poll_bench: %s\n", err.msg);
        goto out;
    }

    getrusage(RUSAGE_SELF, &r0);
    t0 = mono_s();
    if (collector_poll_all(c, on_pass, &b) != 0) {
        fprintf(stderr, "poll_bench: cannot start the pass\n");
        goto out;
    }
    event_base_dispatch(b.base);
    t1 = mono_s();
    getrusage(RUSAGE_SELF, &r1);
    if (!b.done) {
        fprintf(stderr, "poll_bench: the loop ended before the pass\n");
        goto out;
    }

    st = collector_states(c, &n);
    for (i = 0; i < n; i++) {
        polls += st[i].polls;
        failures += st[i].failures;
        if (st[i].has_data) {
            ok++;
            slots += st[i].slots.n;
        }
    }

    rss_pass = rss_now_kb();
    t2 = mono_s();
    /* SLOTFEED_BENCH_FEED=0: the pass alone, for A/B runs of the collector
     * (the one-shot build takes longer than the pass at 10,000). */
    no_feed = getenv("SLOTFEED_BENCH_FEED") != NULL &&
              strcmp(getenv("SLOTFEED_BENCH_FEED"), "0") == 0;
    if (!no_feed && feed_build(region, st, clock_now(), &snap, &err) != 0) {
        fprintf(stderr, "poll_bench: feed_build: %s\n", err.msg);
        goto out;
    }
    t3 = mono_s();
    getrusage(RUSAGE_SELF, &r2);
    rss_feed = rss_now_kb();
    for (i = 0; snap != NULL && i < snap->nclinics; i++) {
        clinic_bytes += snap->clinics[i].len;
        snap_bytes += snap->clinics[i].len + snap->info[i].obj_len;
        if (snap->clinics_gz != NULL)
            snap_bytes += snap->clinics_gz[i].len;
        snap_slots += snap->info[i].slots.n;
    }
    if (snap != NULL) {
        snap_bytes += snap->all.len + snap->all_gz.len + snap->head_len;
        for (i = 0; i < SMARTPUB_NDOCS; i++)
            snap_bytes += snap->smart.doc[i].len;
    }

    cpu = cpu_s(&r1) - cpu_s(&r0);
    per_poll = polls > 0 ? cpu / (double)polls : 0;
    printf("clinics=%zu\npolls=%lu\nok=%zu\nfailures=%lu\n", n, polls, ok,
           failures);
    printf("pass_wall_s=%.3f\npass_cpu_s=%.3f\n", t1 - t0, cpu);
    printf("pass_cpu_user_s=%.3f\npass_cpu_sys_s=%.3f\n",
           (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
               (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6,
           (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
               (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6);
    printf("cpu_s_per_1000_polls=%.3f\n", per_poll * 1000);
    printf("share_10k_per_min=%.4f\n", per_poll * 10000 / 60);
    printf("slots=%zu\n", slots);
    printf("sched_grants=%lu\nsched_waits=%lu\n",
           sched_stats(collector_sched(c))->grants,
           sched_stats(collector_sched(c))->waits);
    printf("feed_build_s=%.3f\nfeed_all_bytes=%zu\nfeed_all_gz_bytes=%zu\n"
           "feed_clinic_bytes=%zu\n",
           t3 - t2, snap != NULL ? snap->all.len : 0,
           snap != NULL ? snap->all_gz.len : 0, clinic_bytes);
    printf("snapshot_bytes=%zu\nsnapshot_slot_copies=%zu\n", snap_bytes,
           snap_slots);
    printf("rss_after_pass_kb=%ld\nrss_peak_kb=%ld\n", r1.ru_maxrss,
           r2.ru_maxrss);
    printf("rss_now_pass_kb=%ld\nrss_now_feed_kb=%ld\n", rss_pass, rss_feed);
    rc = failures == 0 ? 0 : 3;
out:
    feed_snapshot_free(snap);
    fetch_free(f); /* before the collector: collector.h */
    collector_free(c);
    if (b.base != NULL)
        event_base_free(b.base);
    conf_free(region);
    return rc;
}
