/*
 * share_bench.c - requests and parses per pass when many clinics are
 * Locations of one SMART publisher (issue 12 part 4: one download per
 * publisher). One in-process simulator on loopback serves N Locations at
 * one manifest URL; a collector polls them through the real fetch and the
 * smart-bulk adapter, once with shared documents off (every clinic
 * fetches and parses the manifest and 3 files: the behaviour before) and
 * once on, then a third pass one interval later (an unchanged manifest:
 * one conditional request). Politeness is lifted (1000/s) so the pass
 * measures work, not waiting; at the default 1 request/s per host a
 * pass takes about as many seconds as it makes requests.
 *
 * Prints one line per mode: mode requests parses wall_ms cpu_ms (CPU of
 * this process, simulator included: it builds every answer). Not a test.
 *
 * The body cap is 64 MiB (fetch.max_body_bytes): 400 Locations over 14
 * days make a Slot file past the 4 MiB default.
 *
 * usage: share_bench [N ...]     (default 40 400)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "slotfeed/sim.h"
#include "slotfeed/smart.h"

#define NOW_T 1774940400LL /* Tuesday 31 March 2026 09:00 CEST */
#define INTERVAL_S 60

static struct conf_region *region(int n, int port)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t cap = 4096 + (size_t)n * 400, len;
    char *buf = malloc(cap);

    if (buf == NULL)
        return NULL;
    len = (size_t)snprintf(
        buf, cap,
        "{\"name\":\"share\",\"horizon_days\":14,\"poll_interval_s\":%d,"
        "\"politeness\":{\"rate_per_s\":1000,\"burst\":1000,"
        "\"max_concurrent_per_host\":8},\"clinics\":[",
        INTERVAL_S);
    for (int i = 0; i < n; i++)
        len += (size_t)
            snprintf(buf + len, cap - len,
                     "%s{\"id\":\"SE2321000156-S%04d\",\"name\":\"S%d\","
                     "\"municipality\":\"Karlstad\",\"operator\":\"private\","
                     "\"booking\":{\"adapter\":\"smart-bulk\",\"url\":"
                     "\"http://127.0.0.1:%d/pub/$bulk-publish\",\"location\":"
                     "\"L%04d\"}}",
                     i ? "," : "", i, i, port, i);
    snprintf(buf + len, cap - len, "]}");
    if (conf_parse(buf, strlen(buf), &r, &errs) != 0)
        fprintf(stderr, "config: %s\n", errs.n ? errs.v[0] : "?");
    conf_errors_free(&errs);
    free(buf);
    return r;
}

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void on_pass(void *arg)
{
    *(bool *)arg = true;
}

/* One pass; prints its line. */
static void pass(struct event_base *base, struct collector *c, struct sim *s,
                 int n, const char *mode)
{
    const struct sim_request_entry *log;
    size_t r0, r1;
    unsigned long p0 = smart_parse_count();
    double w0 = now_ms(), c0 = cpu_ms();
    bool done = false;

    (void)sim_request_log(s, &r0);
    if (collector_poll_all(c, on_pass, &done) != 0)
        return;
    while (!done)
        event_base_loop(base, EVLOOP_ONCE);
    log = sim_request_log(s, &r1);
    (void)log;
    printf("locations=%d mode=%s requests=%zu parses=%lu wall_ms=%.0f "
           "cpu_ms=%.0f\n",
           n, mode, r1 - r0, smart_parse_count() - p0, now_ms() - w0,
           cpu_ms() - c0);
}

static int run(int n)
{
    struct event_base *base = event_base_new();
    struct sim_opts so = { .seed = 7 };
    struct fetch_opts fo = { .connect_timeout_ms = 2000,
                             .timeout_ms = 20000,
                             .max_body_bytes = (size_t)64 << 20 };
    struct conf_region *sr = region(n, 1), *r = NULL;
    struct sf_error err;
    struct sim *s = NULL;
    int rc = 1;

    clock_set_fake(NOW_T);
    if (base == NULL || sr == NULL)
        goto out;
    s = sim_new(base, sr, "127.0.0.1", 0, &so, &err);
    r = s != NULL ? region(n, sim_port(s)) : NULL;
    if (r == NULL)
        goto out;
    for (int share = 0; share <= 1; share++) {
        struct fetch *f = fetch_new(base, &fo, &err);
        struct collector *c = f ? collector_new(base, r, f, &err) : NULL;

        if (c == NULL) {
            fetch_free(f);
            goto out;
        }
        collector_set_sharing(c, share == 1);
        clock_set_fake(NOW_T);
        pass(base, c, s, n, share ? "shared" : "alone");
        if (share) {
            clock_set_fake(NOW_T + INTERVAL_S);
            pass(base, c, s, n, "shared_next_cycle");
        }
        fetch_free(f);
        collector_free(c);
    }
    rc = 0;
out:
    sim_free(s);
    conf_free(r);
    conf_free(sr);
    if (base != NULL)
        event_base_free(base);
    clock_set_fake(-1);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;

    log_quiet();
    if (argc < 2)
        return run(40) | run(400);
    for (int i = 1; i < argc; i++)
        rc |= run(atoi(argv[i]));
    return rc;
}
