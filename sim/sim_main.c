/*
 * sim_main.c - slotfeed-sim: serve every clinic of a region file as a
 * simulated RIV-TA crm:scheduling producer behind a simulated VP, on one
 * HTTP port. Only parses argv, loads the config and runs the loop; the
 * simulator itself is sim/sim.c. `slotfeed-sim history generate ...`
 * (sim/history_cmd.c) builds a demo history for the reports instead.
 *
 * Prints exactly one line on stdout once the port is bound, which scripts
 * wait for:  slotfeed-sim: listening on http://HOST:PORT/vp (N clinics)
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/history.h"
#include "slotfeed/sbuf.h"
#include "slotfeed/sim.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 18471

static const char usage_text[] =
    "usage: slotfeed-sim --config FILE [--listen HOST:PORT] [--seed N]\n"
    "                    [--latency-ms N] [--now RFC3339] [--help]\n"
    "       slotfeed-sim history generate --config FILE --from DATE --days N\n"
    "                    [--db PATH] [--interval S] [--change-every S]\n"
    "                    [--seed N]\n"
    "\n"
    "Serve the clinics of a region file over RIV-TA crm:scheduling 1.1\n"
    "(SOAP) as the NTjP platform would, at\n"
    "  http://HOST:PORT/vp/crm/scheduling/<Contract>/1/rivtabp21\n"
    "routed by the LogicalAddress header. Each clinic's sim.profile picks\n"
    "its behaviour (normal, busy, full, vp004, vp007, error, garbage,\n"
    "hostile, hang, http503).\n"
    "\n"
    "  --config FILE     region JSON (required)\n"
    "  --listen H:P      address to bind (default " DEFAULT_HOST ":18471;\n"
    "                    port 0 picks a free port)\n"
    "  --seed N          schedule seed, 1..4294967295 (default 1)\n"
    "  --latency-ms N    delay every answer by N ms (default 0)\n"
    "  --now T           pretend the time is T (RFC 3339 with offset)\n"
    "  --help            this text\n"
    "\n"
    "'slotfeed-sim history --help': the demo history for the reports.\n";

/* Unsigned decimal in [min, max]; returns 0 or -1. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max,
                       unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into host (buffer) and port. 0 or -1. */
static int parse_listen(const char *s, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hl;
    unsigned long p;

    if (colon == NULL || parse_ulong(colon + 1, 0, 65535, &p) != 0)
        return -1;
    hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        h = s + 1;
        hl -= 2;
    } else if (memchr(s, ':', hl) != NULL) {
        return -1; /* bare IPv6 needs brackets */
    }
    if (hl == 0 || hl >= hostsz)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

static int __attribute__((format(printf, 1, 2))) bad_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "slotfeed-sim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try slotfeed-sim --help)\n");
    return 2;
}

/* Read the region file again for its sim fault knobs. */
static int load_faults(struct sim *sim, const char *path, struct sf_error *err)
{
    struct sbuf b = { 0 };
    int rc;

    switch (sbuf_read_file(&b, path, (size_t)CONF_FILE_MAX, NULL)) {
    case SBUF_READ_OK:
        break;
    case SBUF_READ_OPEN:
        sf_error_set(err, SF_ERR_CONFIG, "cannot read: %s", strerror(errno));
        return -1;
    case SBUF_READ_NOMEM:
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        return -1;
    case SBUF_READ_TOO_LARGE:
        sf_error_set(err, SF_ERR_CONFIG, "larger than %ld bytes",
                     CONF_FILE_MAX);
        return -1;
    case SBUF_READ_DIR:
    case SBUF_READ_IO:
        sf_error_set(err, SF_ERR_CONFIG, "read error");
        return -1;
    }
    rc = sim_load_faults(sim, b.p, b.len, err);
    sbuf_free(&b);
    return rc;
}

/* What the command line asked for. */
struct args {
    const char *config;
    char host[256];
    int port;
    struct sim_opts opts;
};

/*
 * argv into a (--now sets the fake clock at once). Returns -1 to go on
 * serving, else the exit code (0 after --help, 2 on a usage error, which
 * it has printed).
 */
static int parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v = NULL, *eq;
        char name[32];
        unsigned long n;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0)
            return bad_usage("unexpected argument \"%s\"", arg);
        /* --name=value or --name value */
        eq = strchr(arg, '=');
        if (eq != NULL) {
            if ((size_t)(eq - arg) >= sizeof(name))
                return bad_usage("unknown option \"%s\"", arg);
            memcpy(name, arg, (size_t)(eq - arg));
            name[eq - arg] = '\0';
            v = eq + 1;
        } else {
            if (strlen(arg) >= sizeof(name))
                return bad_usage("unknown option \"%s\"", arg);
            strcpy(name, arg);
        }
        if (strcmp(name, "--config") != 0 && strcmp(name, "--listen") != 0 &&
            strcmp(name, "--seed") != 0 && strcmp(name, "--latency-ms") != 0 &&
            strcmp(name, "--now") != 0)
            return bad_usage("unknown option \"%s\"", arg);
        if (v == NULL) {
            if (i + 1 >= argc)
                return bad_usage("option %s needs a value", name);
            v = argv[++i];
        }
        if (strcmp(name, "--config") == 0) {
            a->config = v;
        } else if (strcmp(name, "--listen") == 0) {
            if (parse_listen(v, a->host, sizeof(a->host), &a->port) != 0)
                return bad_usage("--listen: \"%s\" is not HOST:PORT "
                                 "(port 0..65535)",
                                 v);
        } else if (strcmp(name, "--seed") == 0) {
            if (parse_ulong(v, 1, UINT32_MAX, &n) != 0)
                return bad_usage("--seed: \"%s\" is not an integer in "
                                 "1..4294967295",
                                 v);
            a->opts.seed = (uint32_t)n;
        } else if (strcmp(name, "--latency-ms") == 0) {
            if (parse_ulong(v, 0, 600000, &n) != 0)
                return bad_usage("--latency-ms: \"%s\" is not an integer in "
                                 "0..600000",
                                 v);
            a->opts.latency_ms = (int)n;
        } else {
            int64_t t;
            if (clock_parse_rfc3339(v, &t) != 0)
                return bad_usage("--now: \"%s\" is not an RFC 3339 time "
                                 "with offset",
                                 v);
            clock_set_fake(t);
        }
    }
    if (a->config == NULL)
        return bad_usage("--config FILE is required");
    return -1;
}

/* Serve the region until SIGINT or SIGTERM; returns the exit code. */
static int serve(const struct args *a, const struct conf_region *region)
{
    struct event_base *base = NULL;
    struct event *ev_int = NULL, *ev_term = NULL;
    struct sim *sim = NULL;
    struct sf_error err = { 0 };
    int rc = 1;

    base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "slotfeed-sim: event_base_new failed\n");
        goto out;
    }
    sim = sim_new(base, region, a->host, a->port, &a->opts, &err);
    if (sim == NULL) {
        fprintf(stderr, "slotfeed-sim: %s\n", err.msg);
        rc = err.code == SF_ERR_CONFIG ? 2 : 1;
        goto out;
    }
    /* Per-clinic fault knobs (clinics[].sim) live in the same file. */
    if (load_faults(sim, a->config, &err) != 0) {
        fprintf(stderr, "slotfeed-sim: %s: %s\n", a->config, err.msg);
        rc = 2;
        goto out;
    }
    ev_int = evsignal_new(base, SIGINT, on_signal, base);
    ev_term = evsignal_new(base, SIGTERM, on_signal, base);
    if (ev_int == NULL || ev_term == NULL || evsignal_add(ev_int, NULL) != 0 ||
        evsignal_add(ev_term, NULL) != 0) {
        fprintf(stderr, "slotfeed-sim: cannot install signal handlers\n");
        goto out;
    }

    printf("slotfeed-sim: listening on http://%s%s%s:%d/vp (%zu clinics)\n",
           strchr(a->host, ':') != NULL ? "[" : "", a->host,
           strchr(a->host, ':') != NULL ? "]" : "", sim_port(sim),
           region->nclinics);
    fflush(stdout);

    if (event_base_dispatch(base) < 0) {
        fprintf(stderr, "slotfeed-sim: event loop failed\n");
        goto out;
    }
    fprintf(stderr, "slotfeed-sim: shutting down after %lu requests\n",
            sim_requests(sim));
    rc = 0;
out:
    if (ev_int != NULL)
        event_free(ev_int);
    if (ev_term != NULL)
        event_free(ev_term);
    sim_free(sim);
    if (base != NULL)
        event_base_free(base);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = { .host = DEFAULT_HOST,
                      .port = DEFAULT_PORT,
                      .opts = { 1, 0 } };
    struct conf_region *region = NULL;
    struct conf_errors errs = { 0 };
    int rc;

    if (argc >= 2 && strcmp(argv[1], "history") == 0) {
        /* Broken pipes (stdout closed early) must not kill a run mid-way. */
        signal(SIGPIPE, SIG_IGN);
        return history_main(argc - 1, argv + 1);
    }
    rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (conf_load(a.config, &region, &errs) != 0) {
        fprintf(stderr, "slotfeed-sim: %s: invalid configuration:\n", a.config);
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "  %s\n", errs.v[i]);
        conf_errors_free(&errs);
        return 2;
    }
    conf_errors_free(&errs);

    /* A client that leaves before its reply must not kill us. */
    signal(SIGPIPE, SIG_IGN);
    rc = serve(&a, region);
    conf_free(region);
    return rc;
}
