/*
 * app.c - wires collector -> feed -> HTTP on one event base.
 *
 * Rebuilding the feed is cheap next to a poll but not free at 10k clinics,
 * so updates only mark it dirty and one short timer coalesces a burst of
 * finished polls into one rebuild. A replaced snapshot is released at
 * once: replies still being written from its bytes hold their own
 * reference (feed_snapshot_ref), so it lives exactly as long as needed.
 */
#include "slotfeed/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/fetch.h"
#include "slotfeed/http.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"
#include "slotfeed/store.h"

struct app {
    struct event_base *base;
    const struct conf_region *region;
    struct fetch *fetch;
    struct collector *coll;
    struct http_server *http;
    struct feed_snapshot *snap;
    struct store *store;        /* history; NULL when it cannot be opened */
    int dirty;
    struct event *rebuild_ev;   /* coalescing one-shot */
    struct event *refresh_ev;   /* periodic */
    struct timeval rebuild_delay;
    unsigned long rebuilds;
    int64_t built_at_ms;        /* monotonic end of the last rebuild */
    int64_t build_ms;           /* how long the last rebuild took */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Milliseconds until the next rebuild may start. A rebuild blocks the
 * loop for its whole duration (about 1 ms per 10 clinics), so rebuilds
 * are spaced at least four durations apart: the loop then spends at most
 * a fifth of its time rebuilding, however fast polls finish.
 */
static int64_t rebuild_wait_ms(const struct app *a)
{
    int64_t gap = a->rebuild_delay.tv_sec * 1000 +
                  a->rebuild_delay.tv_usec / 1000;
    int64_t since = mono_ms() - a->built_at_ms;

    if (4 * a->build_ms > gap)
        gap = 4 * a->build_ms;
    return since >= gap ? 0 : gap - since;
}

static void rebuild(struct app *a)
{
    const struct clinic_state *states;
    struct feed_snapshot *snap = NULL;
    struct sf_error err = {0};
    size_t n;
    int64_t t0 = mono_ms();

    states = collector_states(a->coll, &n);
    if (feed_build(a->region, states, clock_now(), &snap, &err) != 0) {
        /* Keep serving the previous snapshot rather than nothing. */
        log_error("feed_rebuild_failed", "error=\"%s\"", err.msg);
        return;
    }
    feed_snapshot_free(a->snap);
    a->snap = snap;
    a->dirty = 0;
    a->rebuilds++;
    a->built_at_ms = mono_ms();
    a->build_ms = a->built_at_ms - t0;
    metrics_feed_rebuild();
}

static void schedule_rebuild(struct app *a)
{
    int64_t ms = rebuild_wait_ms(a);
    struct timeval tv;

    if (ms < a->rebuild_delay.tv_sec * 1000 + a->rebuild_delay.tv_usec / 1000)
        ms = a->rebuild_delay.tv_sec * 1000 + a->rebuild_delay.tv_usec / 1000;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(a->rebuild_ev, &tv);
}

static void on_rebuild(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;

    (void)fd;
    (void)what;
    if (!a->dirty)
        return;
    if (rebuild_wait_ms(a) > 0)
        schedule_rebuild(a);   /* a read rebuilt meanwhile: keep spacing */
    else
        rebuild(a);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    struct app *a = arg;

    (void)fd;
    (void)what;
    rebuild(a);
}

static void on_update(void *arg, size_t index)
{
    struct app *a = arg;

    if (a->store != NULL) {
        size_t n;
        const struct clinic_state *cs = collector_states(a->coll, &n);
        /* Copies into memory; the flush timer writes (store.h). */
        if (index < n)
            store_record_poll(a->store, cs[index].conf, &cs[index],
                              clock_now(), &a->region->guarantee);
    }
    a->dirty = 1;
    if (!evtimer_pending(a->rebuild_ev, NULL))
        schedule_rebuild(a);
}

static const struct feed_snapshot *get_snapshot(void *arg)
{
    return app_snapshot(arg);
}

int app_parse_listen(const char *s, char *host, size_t hostlen, int *port,
                     struct sf_error *err)
{
    const char *colon, *h = s;
    size_t hl;
    char *end;
    long p;

    if (s == NULL || *s == '\0')
        goto bad;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            goto bad;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        goto bad;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
        goto bad;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
bad:
    sf_error_set(err, SF_ERR_CONFIG,
                 "listen address \"%s\": want HOST:PORT, e.g. 127.0.0.1:8080",
                 s ? s : "");
    return -1;
}

/* A store that cannot be opened costs the history, never the feed. */
static void open_store(struct app *a)
{
    struct sf_error e = {0};

    if (a->region->store == NULL)
        return;
    if ((a->store = store_open(a->region->store, &e)) == NULL ||
        store_attach(a->store, a->base, STORE_DEFAULT_FLUSH_MS) != 0 ||
        store_sync_region(a->store, a->region, clock_now(), &e) != 0) {
        log_error("store_unavailable", "path=%s err=\"%s\"",
                  a->region->store, e.msg[0] ? e.msg : "attach failed");
        store_close(a->store);
        a->store = NULL;
        return;
    }
    store_set_poll_interval(a->store, a->region->poll_interval_s);
    store_set_retention(a->store, a->region->retention_days);
}

struct app *app_new(struct event_base *base, const struct conf_region *region,
                    const struct app_opts *opts, struct sf_error *err)
{
    struct app_opts o = {0};
    struct fetch_opts fo = {0};
    struct app *a;
    char host[256];
    int port;

    if (opts != NULL)
        o = *opts;
    if (o.rebuild_delay_ms <= 0)
        o.rebuild_delay_ms = 250;
    if (o.refresh_s <= 0)
        o.refresh_s = 30;

    if (app_parse_listen(region->listen, host, sizeof(host), &port, err) != 0)
        return NULL;
    if (o.listen_host != NULL) {
        snprintf(host, sizeof(host), "%s", o.listen_host);
        port = o.listen_port;
    } else if (o.listen_port >= 0 && opts != NULL) {
        port = o.listen_port;
    }

    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->base = base;
    a->region = region;
    a->rebuild_delay.tv_sec = o.rebuild_delay_ms / 1000;
    a->rebuild_delay.tv_usec = (o.rebuild_delay_ms % 1000) * 1000;

    fetch_opts_from_region(&fo, region);
    if ((a->fetch = fetch_new(base, &fo, err)) == NULL)
        goto fail;
    if ((a->coll = collector_new(base, region, a->fetch, err)) == NULL)
        goto fail;
    collector_on_update(a->coll, on_update, a);
    open_store(a);
    a->rebuild_ev = evtimer_new(base, on_rebuild, a);
    a->refresh_ev = event_new(base, -1, EV_PERSIST, on_refresh, a);
    if (a->rebuild_ev == NULL || a->refresh_ev == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "cannot create timers");
        goto fail;
    }
    {
        struct timeval tv = {o.refresh_s, 0};
        event_add(a->refresh_ev, &tv);
    }
    rebuild(a);
    if (a->snap == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "cannot build the initial feed");
        goto fail;
    }
    a->http = http_new(base, host, port, NULL, get_snapshot, a, err);
    if (a->http == NULL)
        goto fail;
    return a;
fail:
    app_free(a);
    return NULL;
}

int app_start(struct app *a)
{
    return collector_start(a->coll);
}

int app_poll_now(struct app *a, void (*done)(void *), void *arg)
{
    return collector_poll_all(a->coll, done, arg);
}

int app_port(const struct app *a)
{
    return http_port(a->http);
}

const struct feed_snapshot *app_snapshot(struct app *a)
{
    /* Fresh data for a reader when a rebuild is due anyway; otherwise the
     * current snapshot, so readers cannot force rebuilds back to back. */
    if (a->dirty && rebuild_wait_ms(a) == 0)
        rebuild(a);
    return a->snap;
}

void app_free(struct app *a)
{
    if (a == NULL)
        return;
    /* HTTP first (no more readers), then polls, then the transfers the
     * polls own, then the bytes replies may have referenced. */
    http_free(a->http);
    fetch_free(a->fetch);
    collector_free(a->coll);
    store_close(a->store);      /* flushes what is pending */
    if (a->rebuild_ev)
        event_free(a->rebuild_ev);
    if (a->refresh_ev)
        event_free(a->refresh_ev);
    feed_snapshot_free(a->snap);
    free(a);
}
