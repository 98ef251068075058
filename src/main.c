/*
 * main.c - the slotfeed command line. Parses argv, loads the config, sets
 * up the event loop and runs it; everything else lives in the modules.
 *
 *   slotfeed run --config F [--listen HOST:PORT]
 *   slotfeed poll --once --config F [--now T]
 *   slotfeed compute --now T [--guarantee-days N] [--counting calendar|working] FILE
 *   slotfeed check-config F
 *   slotfeed report web-booking|guarantee ... (--config F | --db PATH)
 *   slotfeed version
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/parser.h>
#include <libxml/xmlversion.h>
#include <sqlite3.h>
#include <zlib.h>

#include "slotfeed/app.h"
#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/federate.h"
#include "slotfeed/feed.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"
#include "slotfeed/priv.h"
#include "slotfeed/rivta.h"
#include "slotfeed/report.h"
#include "slotfeed/sbuf.h"
#include "slotfeed/store.h"

#define EXIT_USAGE 2
#define COMPUTE_MAX_BYTES (64L * 1024 * 1024)

static const char usage_main[] =
    "usage: slotfeed COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run           poll the region's clinics and serve the feed over HTTP\n"
    "  poll --once   poll every clinic once and print the feed JSON\n"
    "  compute       compute one clinic's availability from a RIV response\n"
    "  check-config  validate a region config, reporting every error\n"
    "  federate      a national config from regional SMART publications\n"
    "  report        web-booking and care-guarantee reports from the history\n"
    "  version       print the version\n"
    "\n"
    "'slotfeed COMMAND --help' describes each command.\n";

static const char usage_run[] =
    "usage: slotfeed run --config FILE [--listen HOST:PORT] [--poll-now] [-v]\n"
    "                    [--user NAME] [--log-format kv|json]\n"
    "                    [--log-level debug|info|warn|error]\n"
    "\n"
    "Polls every clinic of the region on its schedule and serves the feed\n"
    "(/v1/availability, /v1/clinics/{id}, /healthz, the page at /) until\n"
    "SIGINT or SIGTERM, which stop new polls and connections and give polls\n"
    "in flight 5 s to finish (a second signal stops at once). SIGHUP reloads\n"
    "the config (kept as is when it has errors; listen, store, geo, fetch and\n"
    "http settings need a restart). --listen overrides the config's \"listen\"\n"
    "key.\n"
    "--poll-now polls every clinic once at startup instead of waiting for\n"
    "each clinic's staggered first poll. -v logs debug lines.\n"
    "\n"
    "It refuses to run as root unless --user names the account to switch\n"
    "to once start-up is done (config read, port bound, store opened),\n"
    "before any booking system or HTTP client is heard from. Under systemd\n"
    "use DynamicUser (conf/slotfeed.service) and no --user.\n";

static const char usage_poll[] =
    "usage: slotfeed poll --once --config FILE [--now T]\n"
    "\n"
    "Polls every clinic with web booking once and prints the feed JSON\n"
    "(Feed v1, docs/feed.md) on stdout. --now fixes \"now\" (RFC 3339 with\n"
    "offset, e.g. 2026-03-31T09:00:00+02:00) for the computation; the\n"
    "network timeouts stay real.\n";

static const char usage_compute[] =
    "usage: slotfeed compute --now T [--guarantee-days N]\n"
    "                        [--counting calendar|working] FILE\n"
    "\n"
    "Reads one GetAvailableTimeslots response (SOAP envelope or the bare\n"
    "response element) from FILE ('-' = stdin) and prints that clinic's\n"
    "availability object as in the feed, with its day-by-day slots.\n"
    "Defaults: --guarantee-days 3, --counting calendar.\n";

static const char usage_report[] =
    "usage: slotfeed report web-booking --from DATE --to DATE\n"
    "                [--per day|week|month] [--by municipality|operator|clinic]\n"
    "                [--format csv|json|html]\n"
    "                (--config FILE | --db PATH) [--now T]\n"
    "       slotfeed report guarantee --month YYYY-MM [--by ...] [--format ...]\n"
    "                [--hours HH:MM-HH:MM] (--config FILE | --db PATH) [--now T]\n"
    "\n"
    "Reports for the vårdvalsenhet from the history store (the config's\n"
    "\"store\" key, or --db): clinics with open web booking per day, ISO\n"
    "week or month, and per clinic for one month the share of open hours\n"
    "(default 08:00-17:00 Mon-Fri) with a free slot within the care\n"
    "guarantee, days to the first free slot (median, 90th percentile),\n"
    "inferred bookings and data coverage. docs/compliance-method.md defines\n"
    "every figure. DATE is YYYY-MM-DD (Europe/Stockholm local dates). --now\n"
    "(RFC 3339) stops the figures at that instant; default: now.\n";

static const char usage_check[] =
    "usage: slotfeed check-config FILE\n"
    "\n"
    "Validates a region config and prints every problem with its JSON path.\n"
    "Exit status 0 when valid, 1 when not.\n";

static const char usage_federate[] =
    "usage: slotfeed federate [--output FILE [--dry-run]] URL...\n"
    "\n"
    "Reads each region's SMART Scheduling Links manifest (URL, e.g.\n"
    "https://region.example/$bulk-publish) and its Location and Schedule\n"
    "files, and writes a region config with one smart-bulk clinic per\n"
    "published Location (id, name, municipality, operator, phone, website,\n"
    "booking block), ready for check-config. Without --output it prints\n"
    "the config. With --output, an existing FILE keeps its other keys\n"
    "(listen, politeness, ...), the clinics that were added, removed or\n"
    "changed are listed, then FILE is replaced (--dry-run: only listed).\n"
    "Exit status 0, 1 on a failed download or config, 2 on usage.\n";

static int parse_now(const char *s)
{
    int64_t t;

    if (clock_parse_rfc3339(s, &t) != 0) {
        fprintf(stderr,
                "slotfeed: --now \"%s\": want RFC 3339 with an offset, "
                "e.g. 2026-03-31T09:00:00+02:00\n",
                s);
        return -1;
    }
    clock_set_fake(t);
    return 0;
}

static struct conf_region *load_config(const char *path)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t i;

    if (conf_load(path, &r, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s\n", path, errs.v[i]);
        conf_errors_free(&errs);
        return NULL;
    }
    conf_errors_free(&errs);
    return r;
}

/* Read a whole file (or stdin for "-") up to max bytes, NUL-terminated.
 * Caller frees. */
static char *read_file(const char *path, long max, size_t *len)
{
    struct sbuf b = { 0 };
    enum sbuf_read rc;

    if (strcmp(path, "-") == 0)
        rc = sbuf_read_stream(&b, stdin, (size_t)max);
    else
        rc = sbuf_read_file(&b, path, (size_t)max, NULL);
    switch (rc) {
    case SBUF_READ_OK:
        *len = b.len;
        return b.p;
    case SBUF_READ_OPEN:
        fprintf(stderr, "slotfeed: %s: %s\n", path, strerror(errno));
        break;
    case SBUF_READ_NOMEM:
        fprintf(stderr, "slotfeed: %s: out of memory\n", path);
        break;
    case SBUF_READ_TOO_LARGE:
        fprintf(stderr, "slotfeed: %s: larger than %ld bytes\n", path, max);
        break;
    case SBUF_READ_DIR:
    case SBUF_READ_IO:
        fprintf(stderr, "slotfeed: %s: read error\n", path);
        break;
    }
    return NULL;
}

/* --- check-config ------------------------------------------------------- */

static int cmd_check_config(int argc, char **argv)
{
    struct conf_region *r;
    size_t i, booking = 0;

    if (argc == 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_check, stdout);
        return 0;
    }
    if (argc != 2) {
        fputs(usage_check, stderr);
        return EXIT_USAGE;
    }
    if ((r = load_config(argv[1])) == NULL)
        return 1;
    for (i = 0; i < r->nclinics; i++)
        booking += r->clinics[i].has_booking;
    printf("%s: ok: %zu clinics, %zu with web booking configured\n", argv[1],
           r->nclinics, booking);
    conf_free(r);
    return 0;
}

/* --- federate ----------------------------------------------------------- */

/* text is a valid region config; else its problems on stderr. */
static bool federate_valid(const char *text)
{
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    size_t i;
    bool ok = conf_parse(text, strlen(text), &r, &errs) == 0;

    for (i = 0; i < errs.n; i++)
        fprintf(stderr, "slotfeed: federate: %s\n", errs.v[i]);
    conf_errors_free(&errs);
    conf_free(r);
    return ok;
}

/* Write text to path through path.tmp and a rename (never half a file). */
static int write_atomic(const char *path, const char *text)
{
    char tmp[4096];
    FILE *f;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp) ||
        (f = fopen(tmp, "w")) == NULL) {
        fprintf(stderr, "slotfeed: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fputs(text, f) == EOF || fputc('\n', f) == EOF || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "slotfeed: %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* The previous config at path, or NULL when there is none (*bad: there
 * is one, but it is not JSON). */
static cJSON *federate_previous(const char *path, bool *bad)
{
    char *text;
    size_t len;
    cJSON *o;

    *bad = false;
    if (access(path, F_OK) != 0)
        return NULL;
    if ((text = read_file(path, CONF_FILE_MAX, &len)) == NULL) {
        *bad = true;
        return NULL;
    }
    o = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(o)) {
        fprintf(stderr, "slotfeed: %s: not a JSON object; not replaced\n",
                path);
        cJSON_Delete(o);
        *bad = true;
        return NULL;
    }
    return o;
}

static int cmd_federate(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL,
                                            'o' },
                                          { "dry-run", no_argument, NULL, 'n' },
                                          { "help", no_argument, NULL, 'h' },
                                          { NULL, 0, NULL, 0 } };
    const char *output = NULL;
    bool dry = false, bad;
    cJSON *prev = NULL, *cfg = NULL;
    struct sf_error err;
    char *text = NULL;
    int c, rc = 1;
    size_t nd;

    optind = 1;
    while ((c = getopt_long(argc, argv, "o:nh", opts, NULL)) != -1) {
        if (c == 'o') {
            output = optarg;
        } else if (c == 'n') {
            dry = true;
        } else {
            fputs(usage_federate, c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : EXIT_USAGE;
        }
    }
    if (optind >= argc || (dry && output == NULL)) {
        fputs(usage_federate, stderr);
        return EXIT_USAGE;
    }
    if (output != NULL && ((prev = federate_previous(output, &bad)) == NULL) &&
        bad)
        return 1;
    sf_error_clear(&err);
    if (federate_build((const char *const *)argv + optind,
                       (size_t)(argc - optind), prev, stderr, &cfg,
                       &err) != 0) {
        fprintf(stderr, "slotfeed: federate: %s\n", err.msg);
        goto out;
    }
    if ((text = cJSON_Print(cfg)) == NULL || !federate_valid(text))
        goto out;
    if (output == NULL) {
        puts(text);
        rc = 0;
        goto out;
    }
    nd = federate_diff(prev, cfg, stdout);
    printf("federate: %s: %zu clinics, %zu %s\n", output,
           (size_t)cJSON_GetArraySize(
               cJSON_GetObjectItemCaseSensitive(cfg, "clinics")),
           nd,
           prev == NULL ? "new (no earlier file)" : "added/removed/changed");
    rc = dry || write_atomic(output, text) == 0 ? 0 : 1;
out:
    free(text);
    cJSON_Delete(cfg);
    cJSON_Delete(prev);
    return rc;
}

/* --- compute ------------------------------------------------------------ */

static int cmd_compute(int argc, char **argv)
{
    static const struct option opts[] = {
        { "now", required_argument, NULL, 'n' },
        { "guarantee-days", required_argument, NULL, 'g' },
        { "counting", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct avail_rule rule = { 3, AVAIL_COUNT_CALENDAR };
    struct avail_slots slots;
    struct sf_error err = { 0 };
    const char *now_s = NULL;
    char *body = NULL, *out = NULL, *end;
    cJSON *obj = NULL;
    size_t len, skipped = 0;
    int c, rc = 1;
    long v;

    avail_slots_init(&slots);
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            now_s = optarg;
            break;
        case 'g':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || errno || v < 0 || v > 365) {
                fprintf(stderr,
                        "slotfeed: --guarantee-days \"%s\": want a "
                        "whole number 0..365\n",
                        optarg);
                return EXIT_USAGE;
            }
            rule.days = (int)v;
            break;
        case 'c':
            if (avail_counting_parse(optarg, &rule.counting) != 0) {
                fprintf(stderr,
                        "slotfeed: --counting \"%s\": want calendar "
                        "or working\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'h':
            fputs(usage_compute, stdout);
            return 0;
        default:
            fputs(usage_compute, stderr);
            return EXIT_USAGE;
        }
    }
    if (now_s == NULL || optind != argc - 1) {
        fputs(usage_compute, stderr);
        return EXIT_USAGE;
    }
    if (parse_now(now_s) != 0)
        return EXIT_USAGE;
    if ((body = read_file(argv[optind], COMPUTE_MAX_BYTES, &len)) == NULL)
        goto out;
    if (riv_parse_timeslots(body, len, &slots, &skipped, &err) != 0) {
        fprintf(stderr, "slotfeed: %s: %s (%s)\n", argv[optind], err.msg,
                sf_errclass_name(err.code));
        goto out;
    }
    if (skipped > 0)
        fprintf(stderr,
                "slotfeed: %s: skipped %zu timeslotDetail element(s)"
                " with missing or invalid times\n",
                argv[optind], skipped);
    avail_slots_sort(&slots);
    if ((obj = cJSON_CreateObject()) == NULL ||
        feed_add_availability(obj, &slots, clock_now(), &rule, 1) != 0 ||
        (out = cJSON_Print(obj)) == NULL) {
        fprintf(stderr, "slotfeed: out of memory\n");
        goto out;
    }
    puts(out);
    rc = 0;
out:
    free(out);
    cJSON_Delete(obj);
    free(body);
    avail_slots_clear(&slots);
    return rc;
}

/* --- poll --once ---------------------------------------------------------- */

static void on_pass_done(void *arg)
{
    event_base_loopbreak(arg);
}

/*
 * Record this pass into the history store (config key `store`), so a
 * history can be built step by step with --now. A store that fails is
 * reported and costs nothing else: the feed is still printed.
 */
static void record_history(const struct conf_region *region,
                           const struct clinic_state *states, size_t n)
{
    struct sf_error err = { 0 };
    struct store *st;
    size_t i;

    if (region->store == NULL)
        return;
    if ((st = store_open(region->store, &err)) == NULL ||
        store_sync_region(st, region, clock_now(), &err) != 0) {
        fprintf(stderr, "slotfeed: history not recorded: %s\n", err.msg);
        store_close(st);
        return;
    }
    store_set_poll_interval(st, region->poll_interval_s);
    for (i = 0; i < n; i++)
        if (states[i].checked_at != 0)
            store_record_poll(st, states[i].conf, &states[i], clock_now(),
                              &region->guarantee);
    if (store_flush(st, &err) != 0)
        fprintf(stderr, "slotfeed: history not recorded: %s\n", err.msg);
    store_close(st);
}

static int cmd_poll(int argc, char **argv)
{
    static const struct option opts[] = {
        { "once", no_argument, NULL, 'o' },
        { "config", required_argument, NULL, 'c' },
        { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *config = NULL, *now_s = NULL;
    struct conf_region *region = NULL;
    struct event_base *base = NULL;
    struct fetch *f = NULL;
    struct collector *coll = NULL;
    struct feed_snapshot *snap = NULL;
    struct fetch_opts fo = { 0 };
    struct sf_error err = { 0 };
    const struct clinic_state *states;
    const char *text;
    int c, once = 0, rc = 1, copy = 0;
    size_t n;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            once = 1;
            break;
        case 'c':
            config = optarg;
            break;
        case 'n':
            now_s = optarg;
            break;
        case 'h':
            fputs(usage_poll, stdout);
            return 0;
        default:
            fputs(usage_poll, stderr);
            return EXIT_USAGE;
        }
    }
    if (!once || config == NULL || optind != argc) {
        fputs(usage_poll, stderr);
        return EXIT_USAGE;
    }
    if (now_s != NULL && parse_now(now_s) != 0)
        return EXIT_USAGE;
    if ((region = load_config(config)) == NULL)
        return 1;

    if ((base = event_base_new()) == NULL) {
        fprintf(stderr, "slotfeed: cannot create the event loop\n");
        goto out;
    }
    fetch_opts_from_region(&fo, region);
    if ((f = fetch_new(base, &fo, &err)) == NULL ||
        (coll = collector_new(base, region, f, &err)) == NULL ||
        collector_poll_all(coll, on_pass_done, base) != 0) {
        fprintf(stderr, "slotfeed: %s\n", err.msg);
        goto out;
    }
    event_base_dispatch(base);
    states = collector_states(coll, &n);
    record_history(region, states, n);
    if (feed_build(region, states, clock_now(), &snap, &err) != 0) {
        fprintf(stderr, "slotfeed: feed: %s\n", err.msg);
        goto out;
    }
    /* all.json is kept as pieces (feed.h): its text copied out. */
    if ((text = doc_flatten(&snap->all, &copy)) == NULL) {
        fprintf(stderr, "slotfeed: feed: out of memory\n");
        goto out;
    }
    fwrite(text, 1, snap->all.len, stdout);
    fputc('\n', stdout);
    doc_flatten_free(text, copy);
    rc = 0;
out:
    feed_snapshot_free(snap);
    fetch_free(f);
    collector_free(coll);
    if (base)
        event_base_free(base);
    conf_free(region);
    return rc;
}

/* --- report ------------------------------------------------------------ */

/* The report's days: --month for the guarantee, --from and --to for
 * web booking. 0, or -1 after saying what is wrong on stderr. */
static int report_days(struct report_params *p, const char *from,
                       const char *to, const char *month)
{
    struct sf_error err = { 0 };

    if (p->kind == REPORT_GUARANTEE) {
        if (from != NULL || to != NULL ||
            report_parse_month(month, &p->from_day, &p->to_day, &err) != 0) {
            fprintf(stderr, "slotfeed: report guarantee: %s\n",
                    from || to ? "--from/--to: use --month YYYY-MM" : err.msg);
            return -1;
        }
    } else if (month != NULL || from == NULL || to == NULL ||
               clock_parse_date(from, &p->from_day) != 0 ||
               clock_parse_date(to, &p->to_day) != 0) {
        fprintf(stderr,
                "slotfeed: report web-booking: want --from and --to "
                "as YYYY-MM-DD dates (got \"%s\", \"%s\")\n",
                from ? from : "", to ? to : "");
        return -1;
    }
    return 0;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "month", required_argument, NULL, 'm' },
        { "per", required_argument, NULL, 'p' },
        { "by", required_argument, NULL, 'b' },
        { "format", required_argument, NULL, 'F' },
        { "hours", required_argument, NULL, 'H' },
        { "config", required_argument, NULL, 'c' },
        { "db", required_argument, NULL, 'd' },
        { "now", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *from = NULL, *to = NULL, *month = NULL, *config = NULL;
    const char *db = NULL, *kind;
    struct conf_region *region = NULL;
    struct report_params p;
    enum report_format fmt = REPORT_FMT_JSON;
    struct sf_error err = { 0 };
    char *out = NULL;
    size_t len;
    int c, rc = EXIT_USAGE;

    report_params_init(&p);
    if (argc >= 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_report, stdout);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "web-booking") != 0 &&
                     strcmp(argv[1], "guarantee") != 0)) {
        fputs(usage_report, stderr);
        return EXIT_USAGE;
    }
    kind = argv[1];
    p.kind =
        strcmp(kind, "guarantee") == 0 ? REPORT_GUARANTEE : REPORT_WEB_BOOKING;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        int bad = 0;

        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'm':
            month = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 'p':
            bad = report_parse_per(optarg, &p.per, &err);
            break;
        case 'b':
            bad = report_parse_by(optarg, &p.by, &err);
            break;
        case 'F':
            bad = report_parse_format(optarg, &fmt, &err);
            break;
        case 'H':
            bad = report_parse_hours(optarg, &p, &err);
            break;
        case 'n':
            if (clock_parse_rfc3339(optarg, &p.now) != 0) {
                sf_error_set(&err, SF_ERR_CONFIG,
                             "--now \"%s\": want RFC "
                             "3339 with an offset",
                             optarg);
                bad = -1;
            }
            break;
        case 'h':
            fputs(usage_report, stdout);
            return 0;
        default:
            fputs(usage_report, stderr);
            return EXIT_USAGE;
        }
        if (bad) {
            fprintf(stderr, "slotfeed: report %s: --%s\n", kind, err.msg);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (config == NULL) == (db == NULL)) {
        fprintf(stderr,
                "slotfeed: report %s: give exactly one of --config "
                "FILE and --db PATH\n\n",
                kind);
        fputs(usage_report, stderr);
        return EXIT_USAGE;
    }
    if (report_days(&p, from, to, month) != 0)
        return EXIT_USAGE;
    if (config != NULL) {
        if ((region = load_config(config)) == NULL)
            return 1;
        db = region->store;
    }
    rc = 1;
    if (report_run(db, &p, fmt, &out, &len, &err) != 0)
        fprintf(stderr, "slotfeed: report %s: %s\n", kind, err.msg);
    else if (fwrite(out, 1, len, stdout) == len && fflush(stdout) == 0)
        rc = 0;
    free(out);
    conf_free(region);
    return rc;
}

/* --- run ------------------------------------------------------------------ */

/*
 * After switching user: the files read later must be readable by the
 * new user: TLS client certificate, key and CA at every poll, the bearer
 * token at every reload (conf_load read it as root at start-up). Say so
 * once now, by clinic and key, rather than as a failed poll of each
 * clinic every interval or a refused reload.
 */
static void warn_unreadable(const struct conf_region *r)
{
    size_t i, j;

    for (i = 0; i < r->nclinics; i++) {
        const struct conf_clinic *c = &r->clinics[i];
        const char *const f[] = { c->booking.token_file, c->booking.tls_cert,
                                  c->booking.tls_key, c->booking.tls_ca };
        static const char *const key[] = { "token_file", "tls.cert", "tls.key",
                                           "tls.ca" };

        if (!c->has_booking)
            continue;
        for (j = 0; j < 4; j++)
            if (f[j] != NULL && access(f[j], R_OK) != 0) {
                log_warn("unreadable_after_switch",
                         "clinic=%s key=booking.%s path=%s error=\"%s\"", c->id,
                         key[j], f[j], strerror(errno));
            }
    }
}

/*
 * The run loop's signals. SIGHUP reloads the config file (a config with
 * errors is logged and the running one kept); the first SIGTERM/SIGINT
 * drains (app_drain: no new connections or polls, polls in flight get
 * RUN_DRAIN_TIMEOUT_MS), a second one ends the loop at once. Either way
 * the loop returns and everything is freed in order.
 */
#define RUN_DRAIN_TIMEOUT_MS 5000

struct run_signals {
    struct event_base *base;
    struct app *app;
    const char *config;
    bool draining;
};

static void on_drained(void *arg)
{
    struct run_signals *rs = arg;

    event_base_loopexit(rs->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct run_signals *rs = arg;

    (void)what;
    if (rs->draining) {
        log_warn("shutdown_now", "signal=%d aborted=%zu", (int)sig,
                 app_polls_in_flight(rs->app));
        event_base_loopbreak(rs->base);
        return;
    }
    rs->draining = true;
    log_info("shutdown", "signal=%d drain_timeout_ms=%d", (int)sig,
             RUN_DRAIN_TIMEOUT_MS);
    if (app_drain(rs->app, RUN_DRAIN_TIMEOUT_MS, on_drained, rs) != 0)
        event_base_loopexit(rs->base, NULL);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct run_signals *rs = arg;
    struct conf_errors errs = { 0 };
    struct conf_region *r = NULL;
    struct sf_error err = { 0 };
    size_t i;

    (void)sig;
    (void)what;
    if (rs->draining) {
        log_warn("reload_ignored", "reason=shutting_down");
        return;
    }
    log_info("reload_start", "config=%s", rs->config);
    if (conf_load(rs->config, &r, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            log_error("reload_config_error", "config=%s error=\"%s\"",
                      rs->config, errs.v[i]);
        log_error("reload_failed", "config=%s errors=%zu kept=running",
                  rs->config, errs.n);
        conf_errors_free(&errs);
        return;
    }
    conf_errors_free(&errs);
    if (app_reload(rs->app, r, &err) != 0) {
        log_error("reload_failed", "config=%s error=\"%s\" kept=running",
                  rs->config, err.msg);
        conf_free(r);
    }
}

static void on_startup_pass(void *arg)
{
    (void)arg;
    log_info("startup_poll_done", "%s", "");
}

/* cmd_run's command line.  Returns 0 to run, or -1 to exit at once
 * with *code (--help, or a usage error already printed). */
static int run_args(int argc, char **argv, const char **config,
                    const char **listen, const char **user, int *poll_now,
                    int *code)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "poll-now", no_argument, NULL, 'p' },
        { "verbose", no_argument, NULL, 'v' },
        { "user", required_argument, NULL, 'u' },
        { "log-format", required_argument, NULL, 'f' },
        { "log-level", required_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    enum log_format lf;
    enum log_level ll;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            *config = optarg;
            break;
        case 'l':
            *listen = optarg;
            break;
        case 'p':
            *poll_now = 1;
            break;
        case 'v':
            log_set_level(LOG_LVL_DEBUG);
            break;
        case 'u':
            *user = optarg;
            break;
        case 'f':
            if (log_parse_format(optarg, &lf) != 0) {
                fprintf(stderr, "slotfeed: --log-format: want kv or json\n");
                *code = EXIT_USAGE;
                return -1;
            }
            log_set_format(lf);
            break;
        case 'L':
            if (log_parse_level(optarg, &ll) != 0) {
                fprintf(stderr, "slotfeed: --log-level: want debug, info, "
                                "warn or error\n");
                *code = EXIT_USAGE;
                return -1;
            }
            log_set_level(ll);
            break;
        case 'h':
            fputs(usage_run, stdout);
            *code = 0;
            return -1;
        default:
            fputs(usage_run, stderr);
            *code = EXIT_USAGE;
            return -1;
        }
    }
    if (*config == NULL || optind != argc) {
        fputs(usage_run, stderr);
        *code = EXIT_USAGE;
        return -1;
    }
    return 0;
}

/* cmd_run, once started: where the daemon serves, in the log and, for
 * whoever started it by hand, on stdout.  host is the --listen host, or
 * NULL to show the configured one. */
static void run_announce(const struct app *app,
                         const struct conf_region *region, const char *host)
{
    struct sf_error err = { 0 };
    char shown[256];
    int p;

    if (host != NULL)
        snprintf(shown, sizeof(shown), "%s", host);
    else if (app_parse_listen(region->listen, shown, sizeof(shown), &p, &err) !=
             0)
        snprintf(shown, sizeof(shown), "127.0.0.1");
    log_info("listening", "url=http://%s:%d/ clinics=%zu", shown, app_port(app),
             region->nclinics);
    if (app_admin_port(app) >= 0)
        log_info("listening_admin",
                 "listen=%s port=%d routes=/metrics,"
                 "/v1/reports/,/overview",
                 region->http_admin_listen, app_admin_port(app));
    if (app_admin_port(app) < 0)
        printf("slotfeed: serving %zu clinics at http://%s:%d/ "
               "(page; feed at /v1/availability, overview at /overview; "
               "Ctrl-C stops)\n",
               region->nclinics, shown, app_port(app));
    else
        printf("slotfeed: serving %zu clinics at http://%s:%d/ "
               "(page; feed at /v1/availability; overview, metrics and "
               "reports at http://%s/; Ctrl-C stops)\n",
               region->nclinics, shown, app_port(app),
               region->http_admin_listen);
    fflush(stdout);
}

static int cmd_run(int argc, char **argv)
{
    const char *config = NULL, *listen = NULL, *user = NULL;
    const char *why = NULL;
    struct conf_region *region = NULL;
    struct event_base *base = NULL;
    struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL;
    struct run_signals rs = { 0 };
    struct app *app = NULL;
    struct app_opts ao = { 0 };
    struct sf_error err = { 0 };
    char host[256];
    int rc = 1, poll_now = 0;

    if (run_args(argc, argv, &config, &listen, &user, &poll_now, &rc) != 0)
        return rc;
    /*
     * Root without --user, or --user naming someone else when not root
     * (only root can switch): refuse before doing anything at all.
     */
    if ((user == NULL || geteuid() != 0) && priv_check(user, &err) != 0) {
        fprintf(stderr, "slotfeed: %s\n", err.msg);
        return 1;
    }
    /* A SIGHUP during start-up must not kill us (its default action);
     * the reload handler is installed with the loop below. */
    signal(SIGHUP, SIG_IGN);
    ao.listen_port = -1;
    if (listen != NULL) {
        if (app_parse_listen(listen, host, sizeof(host), &ao.listen_port,
                             &err) != 0) {
            fprintf(stderr, "slotfeed: --listen: %s\n", err.msg);
            return EXIT_USAGE;
        }
        ao.listen_host = host;
    }
    if ((region = load_config(config)) == NULL)
        return 1;
    if ((base = app_base_new()) == NULL) {
        fprintf(stderr, "slotfeed: cannot create the event loop\n");
        goto out;
    }
    if ((app = app_new(base, region, &ao, &err)) == NULL) {
        fprintf(stderr, "slotfeed: %s\n", err.msg);
        goto out;
    }
    /*
     * Start-up done with root's rights (a port below 1024, a store or
     * config only root may open): switch now, before the loop runs and
     * the first byte from a booking system or a client is read.
     */
    if (user != NULL) {
        if (priv_give(user, region->store, &err) != 0 ||
            priv_check(user, &err) != 0) {
            fprintf(stderr, "slotfeed: %s\n", err.msg);
            goto out;
        }
        log_info("privileges_dropped", "user=%s", user);
        warn_unreadable(region);
    }
    rs.base = base;
    rs.app = app;
    rs.config = config;
    /* Each step that can fail is named: the operator reads which. */
    if ((sigint = evsignal_new(base, SIGINT, on_signal, &rs)) == NULL ||
        (sigterm = evsignal_new(base, SIGTERM, on_signal, &rs)) == NULL ||
        (sighup = evsignal_new(base, SIGHUP, on_hup, &rs)) == NULL)
        why = "cannot create the signal events (out of memory)";
    else if (evsignal_add(sigint, NULL) != 0)
        why = "cannot watch SIGINT";
    else if (evsignal_add(sigterm, NULL) != 0)
        why = "cannot watch SIGTERM";
    else if (evsignal_add(sighup, NULL) != 0)
        why = "cannot watch SIGHUP (reload)";
    else if (app_start(app) != 0)
        why = "cannot schedule the polls (the collector's timers)";
    else if (poll_now && app_poll_now(app, on_startup_pass, NULL) != 0)
        why = "--poll-now: cannot start the first pass";
    if (why != NULL) {
        fprintf(stderr, "slotfeed: cannot start: %s\n", why);
        goto out;
    }
    run_announce(app, region, listen != NULL ? host : NULL);
    event_base_dispatch(base);
    rc = 0;
out:
    if (sigint)
        event_free(sigint);
    if (sigterm)
        event_free(sigterm);
    if (sighup)
        event_free(sighup);
    app_free(app); /* aborts polls still out, then flushes the store */
    if (base)
        event_base_free(base);
    conf_free(region);
    return rc;
}

/*
 * The version, the commit it was built from and the libraries it runs
 * with (as loaded, not as compiled against): what an operator pastes into
 * a bug report, and how hardening.md's version-specific advice is checked.
 */
static void print_version(void)
{
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    long xv = strtol(xmlParserVersion, NULL, 10); /* "20914" = 2.9.14 */

    printf("slotfeed %s (commit %s)\n", SLOTFEED_VERSION, SLOTFEED_COMMIT);
    printf("libevent %s\nlibcurl %s (%s)\nlibxml2 %ld.%ld.%ld\ncJSON %s\n"
           "SQLite %s\nzlib %s\n",
           event_get_version(), cv->version,
           cv->ssl_version ? cv->ssl_version : "no TLS", xv / 10000,
           xv / 100 % 100, xv % 100, cJSON_Version(), sqlite3_libversion(),
           zlibVersion());
}

int main(int argc, char **argv)
{
    const char *cmd;
    int rc;

    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        print_version();
        return 0;
    }
    /* Broken pipes (stdout closed early) must not kill a poll mid-way. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "slotfeed: libcurl initialisation failed\n");
        return 1;
    }
    xmlInitParser();

    if (strcmp(cmd, "run") == 0)
        rc = cmd_run(argc - 1, argv + 1);
    else if (strcmp(cmd, "poll") == 0)
        rc = cmd_poll(argc - 1, argv + 1);
    else if (strcmp(cmd, "compute") == 0)
        rc = cmd_compute(argc - 1, argv + 1);
    else if (strcmp(cmd, "history") == 0) {
        /* The generator runs the simulator, which the daemon leaves out. */
        fprintf(stderr, "slotfeed: \"history generate\" is now "
                        "\"slotfeed-sim history generate\"\n");
        rc = EXIT_USAGE;
    } else if (strcmp(cmd, "report") == 0)
        rc = cmd_report(argc - 1, argv + 1);
    else if (strcmp(cmd, "check-config") == 0)
        rc = cmd_check_config(argc - 1, argv + 1);
    else if (strcmp(cmd, "federate") == 0)
        rc = cmd_federate(argc - 1, argv + 1);
    else {
        fprintf(stderr, "slotfeed: unknown command \"%s\"\n\n", cmd);
        fputs(usage_main, stderr);
        rc = EXIT_USAGE;
    }
    riv_parse_release();
    xmlCleanupParser();
    curl_global_cleanup();
    return rc;
}
