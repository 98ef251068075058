/*
 * metrics.h - process counters for GET /metrics (Prometheus text 0.0.4).
 *
 * Plain global counters and one latency histogram, bumped on the event
 * loop's thread only (no atomics). Gauges that describe the feed (clinics
 * by status and by web_booking, feed age) are not stored here: the HTTP
 * server counts them from the snapshot being served (feed_metrics()) and
 * hands them to the renderer, so they can never disagree with the feed.
 * This module knows no feed type: it stays a leaf that the collector,
 * the feed and the server can all report to.
 *
 * Who counts what: the collector calls metrics_poll() once per finished
 * poll; the app calls metrics_feed_rebuild() per built snapshot; the HTTP
 * server calls metrics_http() once per reply.
 */
#ifndef SLOTFEED_METRICS_H
#define SLOTFEED_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/error.h"

/* Routes as labelled in slotfeed_http_requests_total{route=...}. */
enum metrics_route {
    METRICS_ROUTE_AVAILABILITY = 0, /* /v1/availability */
    METRICS_ROUTE_CLINIC,           /* /v1/clinics/{id} */
    METRICS_ROUTE_SLOTS,            /* /v1/clinics/{id}/slots */
    METRICS_ROUTE_HEALTH,           /* /healthz */
    METRICS_ROUTE_METRICS,          /* /metrics */
    METRICS_ROUTE_BULK,             /* /$bulk-publish, /bulk/... */
    METRICS_ROUTE_STATIC,           /* /, /overview, /openapi.json, web/ */
    METRICS_ROUTE_OTHER,            /* 404s and the like */
    METRICS_ROUTE_COUNT
};

/* Latency bucket upper bounds in seconds (le=...), then +Inf. */
#define METRICS_LATENCY_BUCKETS 12

/* One finished poll; cls SF_ERR_NONE for a success. */
void metrics_poll(enum sf_errclass cls);
/* One successful poll whose answers were the last one's (adapter.h,
 * ctx.same): counted besides metrics_poll. */
void metrics_poll_same(void);
/*
 * One host-wide emptying detected on host key `host` (plaus.h; the
 * collector calls it once per run). The first METRICS_IMPLAUSIBLE_HOSTS
 * distinct hosts get their own label, later ones count as "other".
 */
#define METRICS_IMPLAUSIBLE_HOSTS 32
void metrics_implausible(const char *host);
/*
 * A host's circuit breaker left or reached "closed" (collector.c, on that
 * transition only): open != 0 while it is open or half-open. Rendered as
 * the gauge slotfeed_breaker_open{host=...}; the first
 * METRICS_IMPLAUSIBLE_HOSTS hosts get their own label, the open breakers
 * of later ones are summed under "other".
 */
void metrics_breaker(const char *host, int open);
/* History store failures (slotfeed_store_errors_total{op=...}). */
enum metrics_store_op {
    METRICS_STORE_OPEN = 0, /* store_unavailable: no history at all */
    METRICS_STORE_FLUSH,    /* a batch of records dropped */
    METRICS_STORE_SYNC,     /* the daily clinic-table sync */
    METRICS_STORE_PURGE,    /* the retention purge */
    METRICS_STORE_OPS
};
void metrics_store_error(enum metrics_store_op op);
/* One feed snapshot built, in seconds (histogram
 * slotfeed_feed_rebuild_seconds, the loop-lag buckets). */
void metrics_feed_rebuild(double seconds);
/* One step of a (sliced) build, in seconds of loop time (histogram
 * slotfeed_feed_build_step_seconds, the same buckets). */
void metrics_feed_build_step(double seconds);
/* One history store flush, in seconds (histogram
 * slotfeed_store_flush_seconds, the same buckets). */
void metrics_store_flush(double seconds);
/*
 * Event-loop lag: how late a periodic timer ran (the app arms one every
 * METRICS_LOOP_LAG_TICK_MS), i.e. how long something (a feed build, a
 * report, a parse) held the loop. Histogram slotfeed_loop_lag_seconds.
 */
#define METRICS_LOOP_LAG_TICK_MS 100
#define METRICS_LOOP_LAG_BUCKETS 9
void metrics_loop_lag(double seconds);
unsigned long metrics_loop_lag_count(void);
/* One reply: status 100..599 (others counted as 0 = "other"). */
void metrics_http(enum metrics_route route, int status, double seconds);

/*
 * HTTP connections (http.c, owner of these two): the number open now
 * (gauge, set on every change) and n more dropped for missing the request
 * deadline (slow clients, slowloris).
 */
void metrics_http_connections(unsigned long open);
void metrics_http_slow_dropped(unsigned long n);
/* accept() failed (EMFILE, ENFILE, ENOBUFS...): the listener pauses. */
void metrics_http_accept_error(void);
/* A report request refused at the report workers' bound (503). */
void metrics_report_rejected(void);
unsigned long metrics_reports_rejected_total(void);

/* The served feed's gauges, counted from its snapshot by feed_metrics(). */
#define METRICS_STATUSES 3 /* enum clinic_status: ok, stale, error */
#define METRICS_WEB_BOOKINGS \
    4 /* enum web_booking: unknown, open, none,
                                 * unreachable */
#define METRICS_UNREACHABLE_MAX 256
struct metrics_feed {
    unsigned long status[METRICS_STATUSES];     /* clinics by status */
    unsigned long web[METRICS_WEB_BOOKINGS];    /* clinics by web_booking */
    const char *web_name[METRICS_WEB_BOOKINGS]; /* their labels (borrowed,
                                                  * static; NULL: left out) */
    unsigned long within;   /* with a free slot within the guarantee */
    int64_t generated_at;   /* when the snapshot was built */
    int publish_interval_s; /* the region's publish_interval_s: the
                                 * stale-feed rule scales with it */
    /* Ids of the clinics whose web_booking is unreachable, for the
     * per-clinic series slotfeed_clinic_web_booking_unreachable (borrowed
     * from the snapshot's region: valid while the caller holds it). Only
     * these clinics get a series, so a healthy region adds none; past
     * METRICS_UNREACHABLE_MAX the aggregate gauge above still counts. */
    const char *unreachable[METRICS_UNREACHABLE_MAX];
    size_t nunreachable;
};

/*
 * The exposition text (HELP/TYPE lines, then samples) with the feed
 * gauges of `feed` (may be NULL: feed gauges left out) at `now`. Returns a malloc'd
 * NUL-terminated string (caller frees) with its length in *len, or NULL
 * on allocation failure.
 */
char *metrics_render(const struct metrics_feed *feed, int64_t now, size_t *len);

/* Zero every counter (tests). */
void metrics_reset(void);

/* Read-back for tests. */
unsigned long metrics_polls_total(void);
unsigned long metrics_polls_same(void);
unsigned long metrics_poll_failures(enum sf_errclass cls);
unsigned long metrics_rebuilds_total(void);
unsigned long metrics_implausible_total(const char *host);
unsigned long metrics_http_total(enum metrics_route route, int status);
unsigned long metrics_http_accept_errors_total(void);
unsigned long metrics_store_errors(enum metrics_store_op op);
/* The breaker gauge of host (NULL: "other"). */
unsigned long metrics_breaker_open(const char *host);

#endif
