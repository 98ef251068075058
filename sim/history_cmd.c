/*
 * history_cmd.c - `slotfeed-sim history generate`: the command line of the
 * demo-history generator (history.h). It lives with the simulator, not in
 * the daemon, because it runs the simulator in-process.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/history.h"
#include "slotfeed/log.h"

#define EXIT_USAGE 2

static const char usage_history[] =
    "usage: slotfeed-sim history generate --config FILE --from DATE --days N\n"
    "                [--db PATH] [--interval S] [--change-every S] [--seed N]\n"
    "\n"
    "Runs the simulator and the collector in this process on a simulated\n"
    "clock from DATE (YYYY-MM-DD) for N days and records every poll into\n"
    "the history store (--db, else the config's \"store\"), so the reports\n"
    "(`slotfeed report ...`) have data. Polls every S seconds (default 900)\n"
    "from 07:00 to 18:00 local time; schedules change (bookings,\n"
    "cancellations) every --change-every seconds (default 21600). No real\n"
    "waiting: a month of 41 clinics takes seconds. Start from an empty\n"
    "store file.\n";

static int parse_int_opt(const char *name, const char *s, long lo, long hi,
                         long *out)
{
    char *end;

    errno = 0;
    *out = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || *out < lo || *out > hi) {
        fprintf(stderr,
                "slotfeed-sim: history: --%s \"%s\": want "
                "%ld..%ld\n",
                name, s, lo, hi);
        return -1;
    }
    return 0;
}

/* conf_load with every error printed as "FILE: error"; NULL on failure. */
static struct conf_region *load_config(const char *path)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;

    if (conf_load(path, &r, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s\n", path, errs.v[i]);
        conf_errors_free(&errs);
        return NULL;
    }
    conf_errors_free(&errs);
    return r;
}

/* The options after "generate" into ho; 0, 1 (--help given) or -1. */
static int parse_generate(int argc, char **argv, struct history_opts *ho,
                          const char **config, const char **from)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "from", required_argument, NULL, 'f' },
        { "days", required_argument, NULL, 'n' },
        { "db", required_argument, NULL, 'd' },
        { "interval", required_argument, NULL, 'i' },
        { "change-every", required_argument, NULL, 'e' },
        { "seed", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    long v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'f':
            *from = optarg;
            break;
        case 'd':
            ho->db_path = optarg;
            break;
        case 'n':
            if (parse_int_opt("days", optarg, 1, 400, &v) != 0)
                return -1;
            ho->days = (int)v;
            break;
        case 'i':
            if (parse_int_opt("interval", optarg, 10, 86400, &v) != 0)
                return -1;
            ho->interval_s = (int)v;
            break;
        case 'e':
            if (parse_int_opt("change-every", optarg, 60, 86400 * 30, &v))
                return -1;
            ho->change_every_s = (int)v;
            break;
        case 's':
            if (parse_int_opt("seed", optarg, 1, 2147483647L, &v) != 0)
                return -1;
            ho->seed = (uint32_t)v;
            break;
        case 'h':
            return 1;
        default:
            fputs(usage_history, stderr);
            return -1;
        }
    }
    if (*config == NULL || *from == NULL || ho->days == 0 || optind != argc) {
        fputs(usage_history, stderr);
        return -1;
    }
    if (clock_parse_date(*from, &ho->from_day) != 0) {
        fprintf(stderr,
                "slotfeed-sim: history: --from \"%s\": want "
                "YYYY-MM-DD\n",
                *from);
        return -1;
    }
    return 0;
}

int history_main(int argc, char **argv)
{
    struct history_opts ho = { 0 };
    struct history_result hr;
    struct conf_region *region = NULL;
    struct sf_error err = { 0 };
    const char *config = NULL, *from = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "generate") != 0) {
        if (argc >= 2 &&
            (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(usage_history, stdout);
            return 0;
        }
        fputs(usage_history, stderr);
        return EXIT_USAGE;
    }
    rc = parse_generate(argc - 1, argv + 1, &ho, &config, &from);
    if (rc != 0) {
        if (rc > 0)
            fputs(usage_history, stdout);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    if ((region = load_config(config)) == NULL)
        return 1;
    /* The collector polls over libcurl and parses RIV answers with
     * libxml2, as in the daemon. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "slotfeed-sim: libcurl initialisation failed\n");
        conf_free(region);
        return 1;
    }
    xmlInitParser();
    log_set_level(LOG_LVL_ERROR);
    rc = history_generate(region, &ho, &hr, &err);
    if (rc != 0)
        fprintf(stderr, "slotfeed-sim: history: %s\n", err.msg);
    else
        printf("slotfeed-sim: history: %ld passes, %ld polls recorded into "
               "%s in %.1f s\n",
               hr.passes, hr.polls, ho.db_path ? ho.db_path : region->store,
               hr.seconds);
    conf_free(region);
    xmlCleanupParser();
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
