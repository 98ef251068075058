/*
 * log_bench.c - what one log line costs: the personnummer scrub of a
 * typical poll-failure line alone, then the whole line written in the kv
 * and the JSON format (to /dev/null, so the write is in the figure but no
 * disk is). docs/operations.md quotes the scrub figure.
 *
 *   build/log_bench [N]        N lines per figure, default 20000
 *
 * Prints key=value lines: line_bytes, scrub_ns, kv_line_ns, json_line_ns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotfeed/log.h"
#include "slotfeed/pnr.h"

static double ns_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e9 +
           (double)(t1.tv_nsec - t0->tv_nsec);
}

int main(int argc, char **argv)
{
    static const char line[] =
        "clinic=se-varmland-karlstad-fysio outcome=http duration_ms=1523 "
        "consecutive=3 error=\"clinic se-varmland-karlstad-fysio: "
        "GetAvailableTimeslots: HTTP 503 from 127.0.0.1:18471 at "
        "20261123101500\"";
    FILE *null = fopen("/dev/null", "w");
    struct timespec t0;
    double scrub_ns, kv_ns, json_ns;
    long i, n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;

    if (null == NULL || n <= 0) {
        fprintf(stderr, "usage: log_bench [N > 0] (and /dev/null)\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++)
        free(pnr_scrub(line, NULL));
    scrub_ns = ns_since(&t0) / (double)n;

    log_set_output(null);
    log_set_level(LOG_LVL_DEBUG);
    log_set_format(LOG_FMT_KV);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++)
        log_warn("poll", "%s", line);
    kv_ns = ns_since(&t0) / (double)n;
    log_set_format(LOG_FMT_JSON);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++)
        log_warn("poll", "%s", line);
    json_ns = ns_since(&t0) / (double)n;
    log_set_output(NULL);
    fclose(null);
    printf("line_bytes=%zu\nscrub_ns=%.0f\nkv_line_ns=%.0f\n"
           "json_line_ns=%.0f\n",
           strlen(line), scrub_ns, kv_ns, json_ns);
    return 0;
}
