/*
 * app.h - the daemon: one event base carrying the collector (fetch +
 * adapters), the feed rebuilds and the HTTP server.
 *
 * The app owns its fetch, collector, HTTP server and feed snapshots; it
 * borrows the region and the base, which must outlive it. Feed rebuilds
 * are coalesced: a finished poll marks the feed dirty and a short timer
 * rebuilds it once; a periodic timer rebuilds it anyway so that passed
 * slots and staleness follow the clock even when nothing is polled.
 */
#ifndef SLOTFEED_APP_H
#define SLOTFEED_APP_H

#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/feed.h"

struct event_base;
struct app;

struct app_opts {
    const char *listen_host;   /* default from region->listen */
    int listen_port;           /* -1: from region->listen; 0: ephemeral */
    int rebuild_delay_ms;      /* coalescing delay; default 250 */
    int refresh_s;             /* periodic rebuild; default 30 */
};

/* Build everything and bind the HTTP port. NULL with err set on failure. */
struct app *app_new(struct event_base *base, const struct conf_region *region,
                    const struct app_opts *opts, struct sf_error *err);

/* Start periodic polling. */
int app_start(struct app *a);

/* Poll every clinic once now; done(arg) when all finished (see collector). */
int app_poll_now(struct app *a, void (*done)(void *), void *arg);

/* Port the HTTP server bound. */
int app_port(const struct app *a);

/* Current snapshot (borrowed); rebuilt first when dirty and a rebuild is
 * due (rebuilds are spaced at least 4 build-durations apart). */
const struct feed_snapshot *app_snapshot(struct app *a);

/* Tear down in the right order (HTTP, collector, fetch, snapshots). NULL ok. */
void app_free(struct app *a);

/* Split "HOST:PORT" ("[::1]:80" too). Returns 0 or -1 with err set. */
int app_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                     struct sf_error *err);

#endif
