/*
 * app.h - the daemon: one event base carrying the collector (fetch +
 * adapters), the feed rebuilds and the HTTP server.
 *
 * The app owns its fetch, collector, HTTP server and feed snapshots; it
 * borrows the base and the region given to app_new, which must outlive
 * it (regions given to app_reload: see there). Feed rebuilds
 * follow the publish cadence (feed_cadence, feed.h): a finished poll
 * marks the feed dirty, and it is republished at most every
 * region->publish_interval_s (a burst coalesced over rebuild_delay_ms,
 * the first change after a quiet interval promptly); a periodic tick
 * marks it dirty too, so that passed slots and staleness follow the
 * clock even when nothing is polled.
 */
#ifndef SLOTFEED_APP_H
#define SLOTFEED_APP_H

#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/feed.h"

struct event_base;
struct app;
struct reportq_opts;

struct app_opts {
    const char *listen_host; /* default from region->listen */
    int listen_port;         /* -1: from region->listen; 0: ephemeral */
    int rebuild_delay_ms;    /* coalescing delay; default 250 */
    int refresh_s;           /* periodic dirty mark; default 30 */
    /* Sliced builds (every build but app_new's first): loop time one
     * step may take, default 20 ms (<= 0: default); and clinics per
     * step, 0 = no limit (default; tests set it to get a known number of
     * steps whatever the machine's speed). */
    int build_slice_ms;
    int build_slice_parts;
    /* Report workers (reportq.h, via http_opts); NULL = defaults. The
     * workers belong to the HTTP server: a reload keeps them, app_drain
     * cancels their reports and joins them (http_free). */
    const struct reportq_opts *reports;
};

/*
 * The daemon's event loop: an event base whose epoll backend batches
 * event changes per loop round (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST), so
 * the enable/disable pairs evhttp makes around every reply cost one
 * epoll_ctl or none instead of two to four, and with two priorities:
 * readers' connections (http.c) above all other work, which gives the
 * loop back every 10 ms (app.c). Also sets the process-wide
 * malloc option the HTTP path wants (M_MXFAST 0, see app.c); call once,
 * from main, before other threads exist. NULL when out of memory; the
 * caller frees it with event_base_free.
 */
struct event_base *app_base_new(void);
/* The process-wide malloc options app_base_new sets, alone (benches that
 * build snapshots without a loop measure what the daemon does). */
void app_malloc_setup(void);

/* Build everything and bind the HTTP port. NULL with err set on failure. */
struct app *app_new(struct event_base *base, const struct conf_region *region,
                    const struct app_opts *opts, struct sf_error *err);

/* Start periodic polling. */
int app_start(struct app *a);

/*
 * Poll every clinic once now; done(arg) when all finished (see collector),
 * after their results were published (whatever the publish cadence): a
 * build begun after the last poll ended, in slices (the loop serves the
 * previous snapshot and keeps polling meanwhile), logged as
 * pass_published. While draining, or when the build fails, done(arg)
 * comes without a publication. Returns -1 when the collector cannot
 * start the pass or the previous pass's done(arg) is still to come.
 */
int app_poll_now(struct app *a, void (*done)(void *), void *arg);

/* Port the HTTP server bound (-1 once app_drain closed it). */
int app_port(const struct app *a);

/* Port of the admin listener (http.admin_listen), -1 without one or once
 * app_drain closed it. */
int app_admin_port(const struct app *a);

/* Current snapshot (borrowed); rebuilt first when the publish cadence
 * says a publication is due now (never earlier because of a reader). */
const struct feed_snapshot *app_snapshot(struct app *a);

/*
 * Reload (SIGHUP): switch to region r, already loaded and validated.
 * Ownership: the region given to app_new stays the caller's (free it
 * after app_free); a region given to app_reload becomes the app's on
 * success, and the app frees each replaced region once nothing borrows
 * it (polls in flight that began under it, the store, the snapshot; at
 * the latest in app_free). On failure r is still the caller's, though
 * the restart-only keys below may have been rewritten in it.
 *
 * Clinics are matched by id (collector_reconfigure): kept ones keep their
 * state; added, removed and changed ones are handled as collector.h says.
 * Politeness, poll interval, guarantee, horizon, retention and the feed
 * follow r at once; the store gets store_sync_region(r). The feed of r is
 * built in slices from here on (a running build is abandoned): until it
 * is published (logged as reload_published with its loop time and
 * steps) the previous snapshot, of the previous region, stays public. Keys read only at startup (listen, store,
 * geo, fetch timeouts/body cap/User-Agent, http limits and admin_listen)
 * are logged as reload_needs_restart and keep their running values
 * (written back into r); http.public_base_url follows r. Logs "reload
 * ok added=N removed=N changed=N kept=N". Returns 0, or -1 with err set
 * and nothing changed (also while draining).
 */
int app_reload(struct app *a, struct conf_region *r, struct sf_error *err);

/*
 * Graceful stop (SIGTERM): close the HTTP server (no new connections),
 * start no more polls, let polls in flight finish for up to timeout_ms,
 * then flush the store and call done(arg) once from the loop (it should
 * end the loop; then app_free, which aborts whatever is still out). Logs
 * drain_start and drain_end (finished / aborted counts). Returns 0, or -1
 * (already draining, NULL, no memory).
 */
int app_drain(struct app *a, int timeout_ms, void (*done)(void *), void *arg);

/* Polls in flight. */
size_t app_polls_in_flight(const struct app *a);

/* Tear down in the right order (HTTP, collector, fetch, snapshots). NULL ok. */
void app_free(struct app *a);

/* Split "HOST:PORT" ("[::1]:80" too). Returns 0 or -1 with err set. */
int app_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                     struct sf_error *err);

#endif
