/*
 * snapshot_bench.c - cost of a feed snapshot rebuild, full and incremental
 * (issue 12 part 1). Not a test; bench/snapshot_bench.sh runs it.
 *
 * Builds an in-memory region of N RIV clinics whose states hold S future
 * free slots each (default 171: the simulator's average in poll_bench at
 * 10,000 clinics, 1.71 M slots), then times
 *   full         feed_build from nothing (FULL rounds)
 *   one_changed  feed_build_from(previous snapshot) after one random
 *                clinic's poll found new slots and the clock moved 1 s
 *                (INCR rounds; the previous snapshot is freed after)
 *   half_polled  feed_build_from(previous) after half the clinics were
 *                polled again and found the same slots (checked_at moved:
 *                a 30 s publication at N clinics polled once a minute;
 *                3 rounds)
 *   sliced       a full build as a feed_job in steps of 20 ms (the
 *                daemon's slices): steps, longest step, last step (the
 *                assembly of all.json, its gzip and the SMART files)
 * and prints key=value lines: p50/p99/max of each in ms (wall), mean CPU
 * ms of each, their ratio,
 * parts rebuilt per incremental build, the sizes of all.json, its gzip
 * and the SMART files, and the peak RSS (ru_maxrss) of the whole run.
 * Runs with the daemon's malloc options (app_malloc_setup).
 *
 * usage: snapshot_bench [N [S [FULL [INCR]]]]   (10000 171 3 200)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "slotfeed/app.h"
#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/hash.h"

static double mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static double pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);

    if (k < 1)
        k = 1;
    return v[k > n ? n - 1 : k - 1];
}

static void report(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_d);
    printf("%s_ms_p50=%.2f\n%s_ms_p99=%.2f\n%s_ms_max=%.2f\n", name,
           pct(v, n, 50), name, pct(v, n, 99), name, v[n - 1]);
}

/* S slots over the next 30 days, 08:00-16:00 local-ish, half-hour grid. */
static void fill(struct avail_slots *s, size_t nslots, int64_t now,
                 uint64_t *rng)
{
    static const char *who[] = { "Dalmo, Jacob", "Berg, Lo", "Ek, Ann",
                                 "Lind, Per" };
    size_t k;

    avail_slots_clear(s);
    for (k = 0; k < nslots; k++) {
        int64_t day = (int64_t)(hash_splitmix64(rng) % 30);
        int64_t half = (int64_t)(hash_splitmix64(rng) % 16);
        int64_t start =
            now - now % 86400 + (day + 1) * 86400 + 6 * 3600 + half * 1800;

        if (avail_slots_add(s, start, start + 1800,
                            who[hash_splitmix64(rng) % 4], "Nybesök",
                            "TT1") != 0)
            abort();
    }
    avail_slots_sort(s);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t nslots = argc > 2 ? strtoul(argv[2], NULL, 10) : 171;
    size_t full_rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 3;
    size_t incr_rounds = argc > 4 ? strtoul(argv[4], NULL, 10) : 200;
    struct conf_region region;
    struct conf_clinic *cl;
    struct clinic_state *st;
    struct feed_snapshot *prev = NULL, *s;
    struct sf_error err = { 0 };
    struct rusage ru;
    double *tf, *ti, *tic, th[3], built = 0, cf = 0, ci = 0, ch = 0;
    int64_t now = 1774940400; /* 2026-03-31T09:00:00+02:00 */
    uint64_t rng = 12;
    char(*ids)[32];
    size_t i, r, smart = 0;

    if (n == 0 || full_rounds == 0 || incr_rounds == 0)
        return 2;
    /* The daemon's allocator settings: without them main's 6.4 MB
     * all.json copy measured 3x cheaper than in the daemon (the fifth
     * round's figures; earlier rounds ran with glibc's defaults). */
    app_malloc_setup();
    cl = calloc(n, sizeof(*cl));
    st = calloc(n, sizeof(*st));
    ids = calloc(n, sizeof(*ids));
    tf = calloc(full_rounds, sizeof(*tf));
    ti = calloc(incr_rounds, sizeof(*ti));
    tic = calloc(incr_rounds, sizeof(*tic));
    if (!cl || !st || !ids || !tf || !ti || !tic)
        return 1;
    memset(&region, 0, sizeof(region));
    for (i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "SE2321000156-B%05zu", i + 1);
        cl[i].id = ids[i];
        cl[i].name = "Fysioterapi Centrum";
        cl[i].municipality = "Karlstad";
        cl[i].operator_kind = "region";
        cl[i].phone = "054-123456";
        cl[i].has_booking = true;
        cl[i].booking.adapter = "rivta-scheduling";
        cl[i].booking.url = "http://127.0.0.2:8080/riv";
        cl[i].booking.booking_url = "https://e-tjanster.1177.se/boka";
        cl[i].booking.time_type_name = "Nybesök fysioterapeut";
        st[i].conf = &cl[i];
        avail_slots_init(&st[i].slots);
        fill(&st[i].slots, nslots, now, &rng);
        st[i].web = WEB_OPEN;
        st[i].status = CLINIC_OK;
        st[i].has_data = true;
        st[i].checked_at = st[i].valid_at = st[i].changed_at = now - 30;
        st[i].polls = 1;
    }
    region.name = "Bench";
    region.timezone = "Europe/Stockholm";
    region.guarantee.days = 3;
    region.guarantee.counting = AVAIL_COUNT_CALENDAR;
    /* Long enough that no clinic ages into "stale" during the run (that
     * would rightly rebuild them all; real polls keep them fresh). */
    region.poll_interval_s = 3600;
    region.clinics = cl;
    region.nclinics = n;

    for (r = 0; r < full_rounds; r++) {
        double t0 = mono_ms(), c0 = cpu_ms();

        if (feed_build(&region, st, now, &s, &err) != 0) {
            fprintf(stderr, "snapshot_bench: %s\n", err.msg);
            return 1;
        }
        tf[r] = mono_ms() - t0;
        cf += cpu_ms() - c0;
        feed_snapshot_free(prev);
        prev = s;
    }
    for (r = 0; r < incr_rounds; r++) {
        size_t k = (size_t)(hash_splitmix64(&rng) % n);
        double t0, c0;

        now++;
        st[k].polls++;
        st[k].checked_at = st[k].valid_at = st[k].changed_at = now;
        fill(&st[k].slots, nslots, now, &rng);
        t0 = mono_ms();
        c0 = cpu_ms();
        if (feed_build_from(&region, st, now, prev, &s, &err) != 0) {
            fprintf(stderr, "snapshot_bench: %s\n", err.msg);
            return 1;
        }
        ti[r] = mono_ms() - t0;
        tic[r] = cpu_ms() - c0;
        ci += tic[r];
        built += (double)s->parts_built;
        feed_snapshot_free(prev);
        prev = s;
    }
    for (r = 0; r < 3; r++) {
        double t0, c0;

        now += 30;
        for (i = r % 2; i < n; i += 2) {
            st[i].polls++;
            st[i].checked_at = st[i].valid_at = now - 1;
        }
        t0 = mono_ms();
        c0 = cpu_ms();
        if (feed_build_from(&region, st, now, prev, &s, &err) != 0) {
            fprintf(stderr, "snapshot_bench: %s\n", err.msg);
            return 1;
        }
        th[r] = mono_ms() - t0;
        ch += cpu_ms() - c0;
        printf("half_polled_parts_built=%zu\nhalf_polled_heavy_built=%zu\n",
               s->parts_built, s->heavy_built);
        feed_snapshot_free(prev);
        prev = s;
    }
    {
        struct feed_job *j;
        double lmax = 0, last = 0, cmax = 0, clast = 0;
        size_t steps = 0;
        int rc;

        if (feed_job_new(&region, now, NULL, &j, &err) != 0)
            return 1;
        do {
            double t0 = mono_ms(), c0 = cpu_ms();

            rc =
                feed_job_step(j, st, n, 0, (int64_t)clock_mono_ms() + 20, &err);
            last = mono_ms() - t0;
            clast = cpu_ms() - c0;
            if (last > lmax)
                lmax = last;
            if (clast > cmax)
                cmax = clast;
            steps++;
        } while (rc == 1);
        if (rc != 0)
            return 1;
        feed_snapshot_free(feed_job_take(j));
        /* Wall time includes preemption on a shared machine. */
        printf("sliced_steps=%zu\nsliced_step_ms_max=%.2f\n"
               "sliced_last_step_ms=%.2f\nsliced_step_cpu_ms_max=%.2f\n"
               "sliced_last_step_cpu_ms=%.2f\n",
               steps, lmax, last, cmax, clast);
    }
    for (i = 0; i < SMARTPUB_NDOCS; i++)
        smart += prev->smart.doc[i].len;
    printf("clinics=%zu\nslots_per_clinic=%zu\n", n, nslots);
    report("full", tf, full_rounds);
    report("one_changed", ti, incr_rounds);
    /* CPU per round: what the build costs, without the preemption a
     * shared machine adds to wall time. */
    report("one_changed_cpu", tic, incr_rounds);
    report("half_polled", th, 3);
    /* Wall time suffers on a shared machine; CPU time less so. */
    printf("full_cpu_ms_mean=%.2f\none_changed_cpu_ms_mean=%.2f\n"
           "half_polled_cpu_ms_mean=%.2f\n",
           cf / (double)full_rounds, ci / (double)incr_rounds, ch / 3.0);
    printf("ratio_full_to_one_changed_p50=%.1f\n",
           pct(tf, full_rounds, 50) / pct(ti, incr_rounds, 50));
    printf("parts_built_per_incremental=%.2f\n", built / (double)incr_rounds);
    printf("all_bytes=%zu\nall_gz_bytes=%zu\nsmart_bytes=%zu\n", prev->all.len,
           prev->all_gz.len, smart);
    {
        size_t det = 0, detgz = 0;

        for (i = 0; i < prev->nclinics; i++) {
            det += prev->clinics[i].len;
            detgz += prev->clinics_gz[i].len;
        }
        printf("detail_bytes=%zu\ndetail_gz_bytes=%zu\n", det, detgz);
        for (i = 0; i < SMARTPUB_NDOCS; i++)
            printf("smart%zu_bytes=%zu\n", i, prev->smart.doc[i].len);
        printf("slot_gz_bytes=%zu\n", prev->smart.gz[SMARTPUB_SLOT].len);
        {
            struct mallinfo2 mi = mallinfo2();

            printf("heap_in_use_kb=%zu\nheap_free_kb=%zu\nmmap_kb=%zu\n",
                   mi.uordblks / 1024, mi.fordblks / 1024, mi.hblkhd / 1024);
        }
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("rss_peak_kb=%ld\n", ru.ru_maxrss);
    feed_snapshot_free(prev);
    for (i = 0; i < n; i++)
        avail_slots_clear(&st[i].slots);
    free(cl);
    free(st);
    free(ids);
    free(tf);
    free(ti);
    free(tic);
    return 0;
}
