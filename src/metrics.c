/*
 * metrics.c - counters and the Prometheus text exposition (format 0.0.4).
 *
 * Single-threaded by design (the event loop's thread): plain globals, no
 * locks. Polls and failures are aggregated by error class, never by clinic
 * (41 clinics x classes is fine, 10,000 is not); per-clinic state is in
 * the feed. Feed gauges are counted from the served snapshot by the caller
 * (feed_metrics) at render time.
 */
#include "slotfeed/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/sbuf.h"

#define NCLASS (SF_ERR_LAST + 1)
#define NSTATUS 600

static const double bucket_le[METRICS_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,   0.025,   0.05,   0.1,   0.25,   1.0,
};

/* Loop lag: 1 ms is noise, 50 ms is the budget for one blocking piece. */
static const double lag_le[METRICS_LOOP_LAG_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
};

/* A histogram over lag_le (loop lag, snapshot build time). */
struct lag_hist {
    unsigned long bucket[METRICS_LOOP_LAG_BUCKETS]; /* not cumulative */
    unsigned long count;
    double sum;
};

/* Counts by host key; the first METRICS_IMPLAUSIBLE_HOSTS hosts get a
 * label of their own, n[METRICS_IMPLAUSIBLE_HOSTS] is "other". */
struct host_table {
    char host[METRICS_IMPLAUSIBLE_HOSTS][128];
    unsigned long n[METRICS_IMPLAUSIBLE_HOSTS + 1];
};

static struct {
    unsigned long polls;
    unsigned long polls_same;
    unsigned long failures[NCLASS];
    unsigned long rebuilds;
    unsigned long http[METRICS_ROUTE_COUNT][NSTATUS];
    unsigned long lat_bucket[METRICS_LATENCY_BUCKETS]; /* not cumulative */
    unsigned long lat_count;
    double lat_sum;
    struct lag_hist lag;   /* slotfeed_loop_lag_seconds */
    struct lag_hist build; /* slotfeed_feed_rebuild_seconds */
    struct lag_hist step;  /* slotfeed_feed_build_step_seconds */
    struct lag_hist flush; /* slotfeed_store_flush_seconds */
    unsigned long conns_open, slow_dropped; /* http.c */
    unsigned long accept_errors;            /* http.c */
    unsigned long reports_rejected;         /* http.c, report cap */
    struct host_table implaus;              /* host-wide emptyings (plaus.h) */
    struct host_table breaker; /* open breakers (gauge, collector.c) */
    unsigned long store_errors[METRICS_STORE_OPS];
} m;

static const char *const route_names[METRICS_ROUTE_COUNT] = {
    "availability", "clinic", "slots",  "healthz",
    "metrics",      "bulk",   "static", "other",
};

void metrics_poll(enum sf_errclass cls)
{
    m.polls++;
    if (cls != SF_ERR_NONE && (unsigned)cls < NCLASS)
        m.failures[cls]++;
}

/* Slot of host in table t (claimed on first use). */
static size_t host_slot(struct host_table *t, const char *host, int claim)
{
    size_t i;

    if (host == NULL)
        host = "";
    for (i = 0; i < METRICS_IMPLAUSIBLE_HOSTS; i++) {
        if (t->host[i][0] == '\0') {
            /* Hosts longer than the label buffer share "other". */
            if (!claim || strlen(host) >= sizeof(t->host[i]) || host[0] == '\0')
                break;
            memcpy(t->host[i], host, strlen(host) + 1);
            return i;
        }
        if (strcmp(t->host[i], host) == 0)
            return i;
    }
    return METRICS_IMPLAUSIBLE_HOSTS;
}

/* The count of host in t (NULL: "other"; an unknown host: 0). */
static unsigned long host_count(struct host_table *t, const char *host)
{
    size_t i = host != NULL ? host_slot(t, host, 0) : METRICS_IMPLAUSIBLE_HOSTS;

    return i < METRICS_IMPLAUSIBLE_HOSTS || host == NULL ? t->n[i] : 0;
}

void metrics_implausible(const char *host)
{
    m.implaus.n[host_slot(&m.implaus, host, 1)]++;
}

unsigned long metrics_implausible_total(const char *host)
{
    return host_count(&m.implaus, host);
}

void metrics_breaker(const char *host, int open)
{
    size_t i = host_slot(&m.breaker, host, 1);

    if (i < METRICS_IMPLAUSIBLE_HOSTS)
        m.breaker.n[i] = open != 0;
    else if (open)
        m.breaker.n[i]++; /* "other" sums its hosts' open breakers */
    else if (m.breaker.n[i] > 0)
        m.breaker.n[i]--;
}

unsigned long metrics_breaker_open(const char *host)
{
    return host_count(&m.breaker, host);
}

void metrics_store_error(enum metrics_store_op op)
{
    if ((unsigned)op < METRICS_STORE_OPS)
        m.store_errors[op]++;
}

unsigned long metrics_store_errors(enum metrics_store_op op)
{
    return (unsigned)op < METRICS_STORE_OPS ? m.store_errors[op] : 0;
}

static void lag_hist_add(struct lag_hist *h, double seconds)
{
    size_t b;

    if (!(seconds >= 0))
        seconds = 0;
    for (b = 0; b < METRICS_LOOP_LAG_BUCKETS; b++)
        if (seconds <= lag_le[b]) {
            h->bucket[b]++;
            break;
        }
    h->count++;
    h->sum += seconds;
}

void metrics_feed_rebuild(double seconds)
{
    m.rebuilds++;
    lag_hist_add(&m.build, seconds);
}

void metrics_feed_build_step(double seconds)
{
    lag_hist_add(&m.step, seconds);
}

void metrics_store_flush(double seconds)
{
    lag_hist_add(&m.flush, seconds);
}

void metrics_loop_lag(double seconds)
{
    lag_hist_add(&m.lag, seconds);
}

unsigned long metrics_loop_lag_count(void)
{
    return m.lag.count;
}

void metrics_http(enum metrics_route route, int status, double seconds)
{
    size_t b;

    if ((unsigned)route >= METRICS_ROUTE_COUNT)
        route = METRICS_ROUTE_OTHER;
    if (status < 100 || status >= NSTATUS)
        status = 0;
    m.http[route][status]++;
    if (!(seconds >= 0))
        seconds = 0;
    for (b = 0; b < METRICS_LATENCY_BUCKETS; b++)
        if (seconds <= bucket_le[b]) {
            m.lat_bucket[b]++;
            break;
        }
    m.lat_count++;
    m.lat_sum += seconds;
}

void metrics_http_connections(unsigned long open)
{
    m.conns_open = open;
}

void metrics_http_slow_dropped(unsigned long n)
{
    m.slow_dropped += n;
}

void metrics_http_accept_error(void)
{
    m.accept_errors++;
}

void metrics_report_rejected(void)
{
    m.reports_rejected++;
}

unsigned long metrics_reports_rejected_total(void)
{
    return m.reports_rejected;
}

unsigned long metrics_http_accept_errors_total(void)
{
    return m.accept_errors;
}

void metrics_reset(void)
{
    memset(&m, 0, sizeof(m));
}

unsigned long metrics_polls_total(void)
{
    return m.polls;
}

void metrics_poll_same(void)
{
    m.polls_same++;
}

unsigned long metrics_polls_same(void)
{
    return m.polls_same;
}

unsigned long metrics_poll_failures(enum sf_errclass cls)
{
    return (unsigned)cls < NCLASS ? m.failures[cls] : 0;
}

unsigned long metrics_rebuilds_total(void)
{
    return m.rebuilds;
}

unsigned long metrics_http_total(enum metrics_route route, int status)
{
    if ((unsigned)route >= METRICS_ROUTE_COUNT || status < 0 ||
        status >= NSTATUS)
        return 0;
    return m.http[route][status];
}

/* --- rendering ------------------------------------------------------------ */

static void head(struct sbuf *o, const char *name, const char *type,
                 const char *help)
{
    sbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A lag_le histogram in the text format (cumulative buckets). */
static void lag_hist_render(struct sbuf *o, const char *name, const char *help,
                            const struct lag_hist *h)
{
    unsigned long cum = 0;
    size_t b;

    head(o, name, "histogram", help);
    for (b = 0; b < METRICS_LOOP_LAG_BUCKETS; b++) {
        cum += h->bucket[b];
        sbuf_printf(o, "%s_bucket{le=\"%g\"} %lu\n", name, lag_le[b], cum);
    }
    sbuf_printf(o, "%s_bucket{le=\"+Inf\"} %lu\n", name, h->count);
    sbuf_printf(o, "%s_sum %.6f\n%s_count %lu\n", name, h->sum, name, h->count);
}

/* name{label="value"} n, the value escaped as the text format wants. */
static void render_label_count(struct sbuf *o, const char *name,
                               const char *label, const char *value,
                               unsigned long n)
{
    char esc[2 * 128 + 1];
    size_t i, j = 0;

    for (i = 0; value[i] != '\0' && j + 2 < sizeof(esc); i++) {
        if (value[i] == '\\' || value[i] == '"') {
            esc[j++] = '\\';
            esc[j++] = value[i];
        } else if (value[i] == '\n') {
            esc[j++] = '\\';
            esc[j++] = 'n';
        } else {
            esc[j++] = value[i];
        }
    }
    esc[j] = '\0';
    sbuf_printf(o, "%s{%s=\"%s\"} %lu\n", name, label, esc, n);
}

/* Every claimed host of t, then "other" when it counts something. */
static void render_hosts(struct sbuf *o, const char *name,
                         const struct host_table *t)
{
    size_t i;

    for (i = 0; i < METRICS_IMPLAUSIBLE_HOSTS && t->host[i][0]; i++)
        render_label_count(o, name, "host", t->host[i], t->n[i]);
    if (t->n[METRICS_IMPLAUSIBLE_HOSTS] != 0)
        sbuf_printf(o, "%s{host=\"other\"} %lu\n", name,
                    t->n[METRICS_IMPLAUSIBLE_HOSTS]);
}

static const char *const store_op_names[METRICS_STORE_OPS] = { "open", "flush",
                                                               "sync",
                                                               "purge" };

static const char *const status_names[METRICS_STATUSES] = { "ok", "stale",
                                                            "error" };

static void render_feed(struct sbuf *o, const struct metrics_feed *f,
                        int64_t now)
{
    size_t i;

    head(o, "slotfeed_clinics", "gauge",
         "Clinics in the served feed by published status.");
    for (i = 0; i < METRICS_STATUSES; i++)
        sbuf_printf(o, "slotfeed_clinics{status=\"%s\"} %lu\n", status_names[i],
                    f->status[i]);
    head(o, "slotfeed_clinics_web_booking", "gauge",
         "Clinics in the served feed by web_booking.");
    for (i = 0; i < METRICS_WEB_BOOKINGS; i++)
        if (f->web_name[i] != NULL)
            sbuf_printf(o,
                        "slotfeed_clinics_web_booking{web_booking=\"%s\"} "
                        "%lu\n",
                        f->web_name[i], f->web[i]);
    head(o, "slotfeed_clinics_within_guarantee", "gauge",
         "Clinics with a free slot within the care guarantee.");
    sbuf_printf(o, "slotfeed_clinics_within_guarantee %lu\n", f->within);
    head(o, "slotfeed_feed_age_seconds", "gauge",
         "Seconds since the served feed snapshot was built.");
    sbuf_printf(o, "slotfeed_feed_age_seconds %lld\n",
                (long long)(now - f->generated_at));
    head(o, "slotfeed_feed_generated_timestamp_seconds", "gauge",
         "Unix time the served feed snapshot was built.");
    sbuf_printf(o, "slotfeed_feed_generated_timestamp_seconds %lld\n",
                (long long)f->generated_at);
    head(o, "slotfeed_feed_publish_interval_seconds", "gauge",
         "The configured publish_interval_s (the feed is republished at "
         "least every max(30, this) seconds).");
    sbuf_printf(o, "slotfeed_feed_publish_interval_seconds %d\n",
                f->publish_interval_s);
    head(o, "slotfeed_clinic_web_booking_unreachable", "gauge",
         "1 for each clinic whose web booking is unreachable (only those "
         "clinics have a series; at most 256).");
    for (i = 0; i < f->nunreachable && i < METRICS_UNREACHABLE_MAX; i++)
        if (f->unreachable[i] != NULL)
            render_label_count(o, "slotfeed_clinic_web_booking_unreachable",
                               "clinic", f->unreachable[i], 1);
}

char *metrics_render(const struct metrics_feed *feed, int64_t now, size_t *len)
{
    struct sbuf o = { 0 };
    unsigned long cum = 0;
    size_t r, b;
    int st;

    head(&o, "slotfeed_polls_total", "counter",
         "Finished polls of booking systems (all clinics).");
    sbuf_printf(&o, "slotfeed_polls_total %lu\n", m.polls);
    head(&o, "slotfeed_polls_unchanged_total", "counter",
         "Successful polls whose answers were the last poll's, not parsed "
         "again.");
    sbuf_printf(&o, "slotfeed_polls_unchanged_total %lu\n", m.polls_same);
    head(&o, "slotfeed_poll_failures_total", "counter",
         "Failed polls by error class.");
    for (b = 1; b < NCLASS; b++)
        sbuf_printf(&o, "slotfeed_poll_failures_total{class=\"%s\"} %lu\n",
                    sf_errclass_name((enum sf_errclass)b), m.failures[b]);
    head(&o, "slotfeed_implausible_total", "counter",
         "Host-wide emptyings held back (many clinics of one host "
         "answering empty at once), by host.");
    render_hosts(&o, "slotfeed_implausible_total", &m.implaus);
    head(&o, "slotfeed_breaker_open", "gauge",
         "1 while a host's circuit breaker is open or half-open, by host "
         "(host other: open breakers of hosts past the first 32).");
    render_hosts(&o, "slotfeed_breaker_open", &m.breaker);
    head(&o, "slotfeed_store_errors_total", "counter",
         "History store failures by operation (open, flush, sync, purge).");
    for (b = 0; b < METRICS_STORE_OPS; b++)
        sbuf_printf(&o, "slotfeed_store_errors_total{op=\"%s\"} %lu\n",
                    store_op_names[b], m.store_errors[b]);
    head(&o, "slotfeed_feed_rebuilds_total", "counter",
         "Feed snapshots built.");
    sbuf_printf(&o, "slotfeed_feed_rebuilds_total %lu\n", m.rebuilds);
    if (feed != NULL)
        render_feed(&o, feed, now);
    head(&o, "slotfeed_http_requests_total", "counter",
         "HTTP replies by route and status code.");
    for (r = 0; r < METRICS_ROUTE_COUNT; r++)
        for (st = 0; st < NSTATUS; st++)
            if (m.http[r][st] != 0)
                sbuf_printf(&o,
                            "slotfeed_http_requests_total{route=\"%s\","
                            "code=\"%d\"} %lu\n",
                            route_names[r], st, m.http[r][st]);
    head(&o, "slotfeed_http_request_duration_seconds", "histogram",
         "Time from request parsed to reply queued.");
    for (b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
        cum += m.lat_bucket[b];
        sbuf_printf(&o,
                    "slotfeed_http_request_duration_seconds_bucket"
                    "{le=\"%g\"} %lu\n",
                    bucket_le[b], cum);
    }
    sbuf_printf(&o,
                "slotfeed_http_request_duration_seconds_bucket"
                "{le=\"+Inf\"} %lu\n",
                m.lat_count);
    sbuf_printf(&o, "slotfeed_http_request_duration_seconds_sum %.6f\n",
                m.lat_sum);
    sbuf_printf(&o, "slotfeed_http_request_duration_seconds_count %lu\n",
                m.lat_count);
    lag_hist_render(&o, "slotfeed_loop_lag_seconds",
                    "How late the event loop ran a periodic timer (time the "
                    "loop was held by other work).",
                    &m.lag);
    lag_hist_render(&o, "slotfeed_feed_rebuild_seconds",
                    "Time of each feed snapshot build (on the event loop).",
                    &m.build);
    lag_hist_render(&o, "slotfeed_feed_build_step_seconds",
                    "Loop time of each step of a feed snapshot build (the "
                    "longest the loop is held by snapshot work at once).",
                    &m.step);
    lag_hist_render(&o, "slotfeed_store_flush_seconds",
                    "Time of each history store flush (one transaction, on "
                    "the event loop).",
                    &m.flush);
    head(&o, "slotfeed_http_connections", "gauge",
         "HTTP connections open (from accept to close).");
    sbuf_printf(&o, "slotfeed_http_connections %lu\n", m.conns_open);
    head(&o, "slotfeed_http_slow_clients_dropped_total", "counter",
         "HTTP connections closed for not completing a request in time.");
    sbuf_printf(&o, "slotfeed_http_slow_clients_dropped_total %lu\n",
                m.slow_dropped);
    head(&o, "slotfeed_http_accept_errors_total", "counter",
         "accept() failures (out of file descriptors); each pauses the "
         "listener briefly.");
    sbuf_printf(&o, "slotfeed_http_accept_errors_total %lu\n", m.accept_errors);
    head(&o, "slotfeed_reports_rejected_total", "counter",
         "Report requests answered 503 because as many reports as "
         "allowed were computing or waiting.");
    sbuf_printf(&o, "slotfeed_reports_rejected_total %lu\n",
                m.reports_rejected);
    if (o.oom) {
        sbuf_free(&o);
        return NULL;
    }
    if (len != NULL)
        *len = o.len;
    return o.p;
}
