/*
 * store_bench.c - write cost and size of the history store (store.h).
 *
 * Simulates clinics with 3 practitioners, 30-minute slots 08:00-17:00 on
 * weekdays, a 28-day horizon, about 40 % of slots free to begin with,
 * ~25 bookings and ~3 cancellations per clinic and open day (random
 * slots), all on a simulated clock, and records one poll per clinic per
 * simulated minute through store_record_poll() exactly as the daemon
 * does. Prints:
 *   - write cost per clinic-poll record (µs) and records/s, with one
 *     transaction per record (the daemon's worst case: polls finishing
 *     alone) and one per simulated minute (a whole pass per flush), for
 *     41 and 1000 clinics;
 *   - file size after one and two simulated days of 41 clinics at one
 *     poll per minute, and the year extrapolated from the second day;
 *   - memory (mallinfo2 uordblks less SQLite's own sqlite3_memory_used)
 *     the store holds per open slot interval and per pending record, and
 *     the CPU time (getrusage) of the flush that opens every interval and
 *     of a steady-state flush, for 2000 clinics (argv[2] to change).
 * Build and run with bench/store_bench.sh. Not a test.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/log.h"
#include "slotfeed/store.h"

#define PRACT 3
#define HORIZON 28

static const char *const names[PRACT] = { "Andersson, Anna", "Berg, Johan",
                                          "Lindqvist, Sara" };

struct bslot {
    int64_t start;
    int p;
    int free;
};

struct bclinic {
    struct conf_clinic cc;
    char id[32];
    struct bslot *s;
    size_t n;
    struct clinic_state st;
};

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Slots of days [d0, d0 + days) for one clinic. */
static void gen_slots(struct bclinic *c, int32_t d0, int days)
{
    size_t cap = (size_t)days * PRACT * 18, n = 0;

    c->s = malloc(cap * sizeof *c->s);
    for (int d = 0; d < days; d++) {
        int32_t day = d0 + d;
        if (clock_weekday(day) > 5)
            continue;
        for (int h = 0; h < 18; h++)
            for (int p = 0; p < PRACT; p++) {
                struct clock_civil lt = { 0 };
                int64_t t;
                clock_civil_from_days(day, &lt.year, &lt.month, &lt.day);
                lt.hour = 8 + h / 2;
                lt.min = (h % 2) * 30;
                if (clock_from_local(&lt, &t) < 0)
                    continue;
                c->s[n].start = t;
                c->s[n].p = p;
                c->s[n].free = rnd() % 100 < 40;
                n++;
            }
    }
    c->n = n;
}

static void mk_clinics(struct bclinic *cl, size_t nc, int32_t d0, int days)
{
    for (size_t i = 0; i < nc; i++) {
        struct bclinic *c = &cl[i];
        memset(c, 0, sizeof *c);
        snprintf(c->id, sizeof c->id, "SE2321000156-B%05zu", i);
        c->cc.id = c->id;
        c->cc.name = (char *)"Fysioterapi Bench";
        c->cc.municipality = (char *)"Karlstad";
        c->cc.operator_kind = (char *)"private";
        c->cc.has_booking = true;
        avail_slots_init(&c->st.slots);
        c->st.conf = &c->cc;
        c->st.web = WEB_OPEN;
        c->st.status = CLINIC_OK;
        c->st.has_data = true;
        gen_slots(c, d0, days + HORIZON + 1);
    }
}

/* One simulated minute of bookings/cancellations, then the poll's list. */
static void tick(struct bclinic *c, int64_t t)
{
    struct clock_civil lt;
    int64_t end = t + (int64_t)HORIZON * 86400;

    clock_to_local(t, &lt, NULL);
    if (lt.hour >= 8 && lt.hour < 17 &&
        clock_weekday(clock_local_day(t)) <= 5 && c->n > 0) {
        /* ~25 bookings and ~3 cancellations per 540 open minutes. */
        if (rnd() % 540 < 25) {
            size_t k = rnd() % c->n;
            if (c->s[k].start > t && c->s[k].free)
                c->s[k].free = 0;
        }
        if (rnd() % 540 < 3) {
            size_t k = rnd() % c->n;
            if (c->s[k].start > t && !c->s[k].free)
                c->s[k].free = 1;
        }
    }
    avail_slots_clear(&c->st.slots);
    for (size_t k = 0; k < c->n; k++)
        if (c->s[k].free && c->s[k].start > t && c->s[k].start < end)
            avail_slots_add(&c->st.slots, c->s[k].start, c->s[k].start + 1800,
                            names[c->s[k].p], "Nybesök fysioterapeut", "NYB");
    /* As the collector leaves each answer (collector.c): shareable. */
    avail_slots_freeze(&c->st.slots);
    c->st.checked_at = c->st.valid_at = t;
}

static long long file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Checkpoint so the main file holds everything, then its size. */
static long long db_size(struct store *st, const char *path)
{
    sqlite3_wal_checkpoint_v2(store_db(st), NULL, SQLITE_CHECKPOINT_TRUNCATE,
                              NULL, NULL);
    return file_size(path);
}

/*
 * Record `minutes` polls per clinic; flush after every record (per_rec) or
 * once per minute. Returns seconds spent in record + flush.
 */
static double run(struct store *st, struct bclinic *cl, size_t nc, int64_t t0,
                  int minutes, int per_rec, unsigned long *nrec)
{
    struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    struct sf_error err = { 0 };
    double spent = 0;

    for (int m = 0; m < minutes; m++) {
        int64_t t = t0 + (int64_t)m * 60;
        for (size_t i = 0; i < nc; i++) {
            double a;
            tick(&cl[i], t + (int64_t)i % 60);
            a = now_s();
            store_record_poll(st, &cl[i].cc, &cl[i].st, t + (int64_t)i % 60,
                              &rule);
            if (per_rec && store_flush(st, &err) != 0) {
                fprintf(stderr, "flush: %s\n", err.msg);
                exit(1);
            }
            spent += now_s() - a;
            (*nrec)++;
        }
        if (!per_rec) {
            double a = now_s();
            if (store_flush(st, &err) != 0) {
                fprintf(stderr, "flush: %s\n", err.msg);
                exit(1);
            }
            spent += now_s() - a;
        }
    }
    return spent;
}

static void free_clinics(struct bclinic *cl, size_t nc)
{
    for (size_t i = 0; i < nc; i++) {
        avail_slots_clear(&cl[i].st.slots);
        free(cl[i].s);
    }
    free(cl);
}

/* A new, empty store at path (an old file there removed); exits on
 * failure (a bench, not the product). */
static struct store *fresh_store(const char *path)
{
    struct sf_error err = { 0 };
    struct store *st;

    unlink(path);
    if ((st = store_open(path, &err)) == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return st;
}

static void bench_cost(const char *dir, size_t nc, int minutes, int per_rec)
{
    char path[512];
    struct bclinic *cl = calloc(nc, sizeof *cl);
    /* Monday 2026-03-09 10:00 local: bookings happen. */
    int32_t d0 = clock_days_from_civil(2026, 3, 9);
    int64_t t0 = clock_day_start(d0) + 10 * 3600;
    unsigned long nrec = 0;
    struct store *st;
    struct store_stats ss;
    double spent;

    snprintf(path, sizeof path, "%s/cost-%zu-%d.db", dir, nc, per_rec);
    st = fresh_store(path);
    mk_clinics(cl, nc, d0, 2);
    /* The first minute opens every slot interval: measured apart. */
    run(st, cl, nc, t0 - 60, 1, 0, &nrec);
    nrec = 0;
    spent = run(st, cl, nc, t0, minutes, per_rec, &nrec);
    store_get_stats(st, &ss);
    printf("clinics=%-5zu tx=%-10s records=%-7lu us_per_record=%7.1f "
           "records_per_s=%8.0f flush_max_ms=%.1f\n",
           nc, per_rec ? "per-record" : "per-minute", nrec,
           spent * 1e6 / (double)nrec, (double)nrec / spent,
           (double)ss.flush_us_max / 1000.0);
    store_close(st);
    free_clinics(cl, nc);
}

static void bench_size(const char *dir)
{
    char path[512];
    size_t nc = 41;
    struct bclinic *cl = calloc(nc, sizeof *cl);
    int32_t d0 = clock_days_from_civil(2026, 3, 9); /* a Monday */
    unsigned long nrec = 0;
    long long s1, s2;
    struct store *st;
    struct store_stats ss;
    double spent;

    snprintf(path, sizeof path, "%s/size.db", dir);
    st = fresh_store(path);
    mk_clinics(cl, nc, d0, 3);
    spent = run(st, cl, nc, clock_day_start(d0), 1440, 1, &nrec);
    s1 = db_size(st, path);
    run(st, cl, nc, clock_day_start(d0 + 1), 1440, 1, &nrec);
    s2 = db_size(st, path);
    store_get_stats(st, &ss);
    printf("size: 41 clinics, 1 poll/min: day1=%.2f MB day2=%.2f MB "
           "(+%.2f MB/day) -> year ~ %.0f MB\n",
           (double)s1 / 1e6, (double)s2 / 1e6, (double)(s2 - s1) / 1e6,
           ((double)s1 + 364.0 * (double)(s2 - s1)) / 1e6);
    printf("size: rows after 2 days: poll runs inserted=%lu (of %lu polls), "
           "slot intervals=%lu closed=%lu; day 1 write time %.2f s\n",
           ss.runs_inserted, ss.records_written, ss.slots_inserted,
           ss.slots_closed, spent);
    {
        sqlite3_stmt *q = NULL;
        sqlite3_prepare_v2(store_db(st),
                           "SELECT (SELECT count(*) FROM poll),"
                           " (SELECT count(*) FROM slot),"
                           " (SELECT sum(n) FROM poll)",
                           -1, &q, NULL);
        if (sqlite3_step(q) == SQLITE_ROW)
            printf("size: poll rows=%lld (%.1f polls per row) slot rows=%lld\n",
                   sqlite3_column_int64(q, 0),
                   (double)sqlite3_column_int64(q, 2) /
                       (double)sqlite3_column_int64(q, 0),
                   sqlite3_column_int64(q, 1));
        sqlite3_finalize(q);
    }
    store_close(st);
    free_clinics(cl, nc);
}

/* Heap in use outside SQLite (whose page cache grows on its own). */
static long long heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (long long)mi.uordblks - (long long)sqlite3_memory_used();
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static size_t future_slots(const struct bclinic *cl, size_t nc, int64_t t)
{
    size_t n = 0;

    for (size_t i = 0; i < nc; i++)
        for (size_t k = 0; k < cl[i].st.slots.n; k++)
            n += cl[i].st.slots.v[k].start > t;
    return n;
}

/* One pass: every clinic ticked at t (its list replaced, as a poll
 * does), then every clinic recorded (pending) and flushed, in batches
 * below STORE_PENDING_MAX (beyond it store_record_poll flushes itself,
 * which would mix open intervals into the pending figure). */
static void mem_pass(struct store *st, struct bclinic *cl, size_t nc, int64_t t,
                     long long *pending, size_t *listed, double *record_cpu,
                     double *flush_cpu)
{
    struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    struct sf_error err = { 0 };
    size_t batch = STORE_PENDING_MAX - 1;

    for (size_t i = 0; i < nc; i++)
        tick(&cl[i], t);
    *listed = future_slots(cl, nc, t);
    *pending = 0;
    *record_cpu = *flush_cpu = 0;
    for (size_t b = 0; b < nc; b += batch) {
        long long h0 = heap_used();
        double c0 = cpu_s();
        for (size_t i = b; i < nc && i < b + batch; i++)
            store_record_poll(st, &cl[i].cc, &cl[i].st, t, &rule);
        *record_cpu += cpu_s() - c0;
        *pending += heap_used() - h0;
        c0 = cpu_s();
        if (store_flush(st, &err) != 0) {
            fprintf(stderr, "flush: %s\n", err.msg);
            exit(1);
        }
        *flush_cpu += cpu_s() - c0;
    }
}

static void bench_mem(const char *dir, size_t nc)
{
    char path[512];
    struct bclinic *cl = calloc(nc, sizeof *cl);
    int32_t d0 = clock_days_from_civil(2026, 3, 9); /* a Monday */
    int64_t t0 = clock_day_start(d0) + 10 * 3600;
    long long h0, held, pend1, pend2;
    size_t listed1, listed2;
    double cpu1, cpu2, rcpu1, rcpu2;
    struct store *st;
    struct store_stats ss;

    snprintf(path, sizeof path, "%s/mem-%zu.db", dir, nc);
    st = fresh_store(path);
    mk_clinics(cl, nc, d0, 2);
    for (size_t i = 0; i < nc; i++)
        tick(&cl[i], t0 - 60);
    h0 = heap_used();
    /* First pass: clinic caches and every slot interval opened. */
    mem_pass(st, cl, nc, t0, &pend1, &listed1, &rcpu1, &cpu1);
    store_get_stats(st, &ss);
    held = heap_used() - h0;
    /* A minute later: a few slots booked, the rest continue. */
    mem_pass(st, cl, nc, t0 + 60, &pend2, &listed2, &rcpu2, &cpu2);
    printf("mem: clinics=%zu open_slots=%lu store_heap_MB=%.1f "
           "bytes_per_open_slot=%.1f sqlite_MB=%.1f\n",
           nc, ss.slots_inserted, (double)held / 1e6,
           (double)held / (double)ss.slots_inserted,
           (double)sqlite3_memory_used() / 1e6);
    printf("mem: pending first pass: %.1f MB, %.0f B/record, %.1f B/listed "
           "slot; steady: %.1f MB, %.0f B/record, %.1f B/listed slot\n",
           (double)pend1 / 1e6, (double)pend1 / (double)nc,
           (double)pend1 / (double)listed1, (double)pend2 / 1e6,
           (double)pend2 / (double)nc, (double)pend2 / (double)listed2);
    printf("mem: flush cpu: opening %lu intervals %.3f s (%.2f us/slot), "
           "steady pass %.3f s (%.1f us/record)\n",
           ss.slots_inserted, cpu1, cpu1 * 1e6 / (double)ss.slots_inserted,
           cpu2, cpu2 * 1e6 / (double)nc);
    printf("mem: store_record_poll cpu: first pass %.1f us/record, steady "
           "%.1f us/record\n",
           rcpu1 * 1e6 / (double)nc, rcpu2 * 1e6 / (double)nc);
    store_close(st);
    free_clinics(cl, nc);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    size_t mem_clinics = argc > 2 ? (size_t)atol(argv[2]) : 2000;

    log_quiet();
    /* First: the heap figures are clearest in a fresh process. */
    bench_mem(dir, mem_clinics);
    bench_cost(dir, 41, 60, 1);
    bench_cost(dir, 41, 60, 0);
    bench_cost(dir, 1000, 10, 1);
    bench_cost(dir, 1000, 10, 0);
    bench_size(dir);
    return 0;
}
