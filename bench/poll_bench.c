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
 *   pass_cpu_s                  user+sys CPU of this process in the pass,
 *                               the reference units (below) taken out
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
 *   ref_unit_us                 CPU of one reference unit, sampled every
 *                               REF_EVERY_MS through the pass (below)
 *   pass_per_ref                pass CPU per poll / ref_unit_us: the
 *                               collector's cost
 *                               in units of this host's speed right then
 *
 * The reference: this guest's CPU speed moves by a third from run to run
 * (host stalls and neighbours, docs/performance.md), more than a change
 * of the collector does. A unit is a fixed piece of work of the same
 * kinds (libxml2 parsing a 7 KB document into a tree, 16 KiB through a
 * socket pair), run between the pass's own callbacks, so it sees the
 * same host at the same moments; two builds compare by pass_per_ref.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libxml/parser.h>

#include "slotfeed/app.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/feed.h"
#include "slotfeed/fetch.h"
#include "slotfeed/metrics.h"
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

/* --- the reference -------------------------------------------------- */

#define REF_EVERY_MS 20
#define REF_ITEMS 100
#define REF_SOCK_BYTES 16384

struct ref {
    struct event *tick;
    char *doc;
    int doclen;
    int sv[2];
    char buf[REF_SOCK_BYTES];
    double cpu;
    unsigned long units;
};

static double thread_cpu_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int ref_init(struct ref *r)
{
    size_t cap = 64 + (size_t)REF_ITEMS * 96, n;

    memset(r, 0, sizeof(*r));
    r->sv[0] = r->sv[1] = -1;
    if ((r->doc = malloc(cap)) == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, r->sv) != 0)
        return -1;
    n = (size_t)snprintf(r->doc, cap, "<?xml version=\"1.0\"?><r>");
    for (int i = 0; i < REF_ITEMS; i++)
        n += (size_t)snprintf(r->doc + n, cap - n,
                              "<i n=\"%d\"><a>20260326%06d</a><b>V\xc3\xa5rd"
                              "centralen Karlstad %d</b><c>NYB</c></i>",
                              i, i * 7, i % 41);
    n += (size_t)snprintf(r->doc + n, cap - n, "</r>");
    r->doclen = (int)n;
    memset(r->buf, 'x', sizeof(r->buf));
    return 0;
}

/* One unit: parse the document into a tree and free it; 16 KiB there and
 * back through the socket pair. */
static void ref_unit(struct ref *r)
{
    xmlDocPtr d = xmlReadMemory(r->doc, r->doclen, NULL, NULL, XML_PARSE_NONET);
    size_t got = 0;

    xmlFreeDoc(d);
    if (write(r->sv[0], r->buf, sizeof(r->buf)) != (ssize_t)sizeof(r->buf))
        return;
    while (got < sizeof(r->buf)) {
        ssize_t k = read(r->sv[1], r->buf, sizeof(r->buf) - got);

        if (k <= 0)
            return;
        got += (size_t)k;
    }
}

static void on_ref_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ref *r = arg;
    double c0 = thread_cpu_s();

    (void)fd;
    (void)what;
    ref_unit(r);
    r->cpu += thread_cpu_s() - c0;
    r->units++;
}

static void ref_free(struct ref *r)
{
    if (r->tick != NULL)
        event_free(r->tick);
    if (r->sv[0] >= 0)
        close(r->sv[0]);
    if (r->sv[1] >= 0)
        close(r->sv[1]);
    free(r->doc);
}

static void on_pass(void *arg)
{
    struct bench *b = arg;

    b->done = 1;
    event_base_loopbreak(b->base);
}

/* One collector_poll_all pass with the reference ticking: its wall time
 * (*t0, *t1) and rusage (*r0, *r1). 0, or -1 with the reason printed. */
static int run_pass(struct bench *b, struct collector *c, struct ref *ref,
                    double *t0, double *t1, struct rusage *r0,
                    struct rusage *r1)
{
    const struct timeval ref_every = { 0, REF_EVERY_MS * 1000 };

    event_add(ref->tick, &ref_every);
    b->done = 0;
    getrusage(RUSAGE_SELF, r0);
    *t0 = mono_s();
    if (collector_poll_all(c, on_pass, b) != 0) {
        fprintf(stderr, "poll_bench: cannot start a pass\n");
        return -1;
    }
    event_base_dispatch(b->base);
    *t1 = mono_s();
    getrusage(RUSAGE_SELF, r1);
    event_del(ref->tick);
    if (!b->done) {
        fprintf(stderr, "poll_bench: the loop ended before the pass\n");
        return -1;
    }
    return 0;
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
    double ref_cpu1;
    unsigned long ref_units1;
    struct ref ref = { .sv = { -1, -1 } };
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

    if (ref_init(&ref) != 0 ||
        (ref.tick = event_new(b.base, -1, EV_PERSIST, on_ref_tick, &ref)) ==
            NULL) {
        fprintf(stderr, "poll_bench: cannot set up the reference\n");
        goto out;
    }
    ref_unit(&ref); /* warm: the first parse sets libxml2 up */
    if (run_pass(&b, c, &ref, &t0, &t1, &r0, &r1) != 0)
        goto out;
    ref_cpu1 = ref.cpu;
    ref_units1 = ref.units;

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
    /* SLOTFEED_BENCH_REPOLL=0: no second pass. The second pass asks every
     * clinic again at once: the answers are the first pass's but for a
     * slot that began since, as a minute later in the daemon's steady
     * state, so its polls show what unchanged answers cost. */
    if (getenv("SLOTFEED_BENCH_REPOLL") == NULL ||
        strcmp(getenv("SLOTFEED_BENCH_REPOLL"), "0") != 0) {
        double ref_cpu0 = ref.cpu;
        unsigned long ref_units0 = ref.units, same0 = metrics_polls_same();
        unsigned long polls0 = polls, polls2 = 0;
        struct rusage q0, q1;
        double w0, w1, cpu2;

        if (run_pass(&b, c, &ref, &w0, &w1, &q0, &q1) != 0)
            goto out;
        st = collector_states(c, &n);
        for (i = 0; i < n; i++)
            polls2 += st[i].polls;
        polls2 -= polls0;
        cpu2 = cpu_s(&q1) - cpu_s(&q0) - (ref.cpu - ref_cpu0);
        printf("repoll_polls=%lu\nrepoll_unchanged=%lu\n", polls2,
               metrics_polls_same() - same0);
        printf("repoll_wall_s=%.3f\nrepoll_cpu_s=%.3f\n", w1 - w0, cpu2);
        printf("repoll_cpu_s_per_1000_polls=%.3f\n",
               polls2 > 0 ? cpu2 / (double)polls2 * 1000 : 0);
        if (ref.units > ref_units0 && polls2 > 0)
            printf("repoll_per_ref=%.3f\n",
                   cpu2 / (double)polls2 /
                       ((ref.cpu - ref_cpu0) /
                        (double)(ref.units - ref_units0)));
        failures = 0;
        for (i = 0; i < n; i++)
            failures += st[i].failures;
    }
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

    /* The reference's units are not the collector's. */
    cpu = cpu_s(&r1) - cpu_s(&r0) - ref_cpu1;
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
    if (ref_units1 > 0 && polls > 0) {
        double unit = ref_cpu1 / (double)ref_units1;

        printf("ref_units=%lu\nref_unit_us=%.1f\n", ref_units1, unit * 1e6);
        printf("pass_per_ref=%.3f\n", per_poll / unit);
    }
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
    ref_free(&ref);
    feed_snapshot_free(snap);
    fetch_free(f); /* before the collector: collector.h */
    collector_free(c);
    if (b.base != NULL)
        event_base_free(b.base);
    conf_free(region);
    return rc;
}
