/*
 * bench_serve.c - the daemon as the HTTP bench needs it (bench/http_bench.sh).
 *
 * Same wiring as `slotfeed run` (app_new: collector, feed, HTTP server on
 * one event base) but it polls every clinic exactly once and then only
 * serves, with the periodic refresh pushed out of the way, so the feed's
 * bytes (and ETag) stay the same for the whole measurement. Prints
 * "bench_serve: ready port=N" once the first poll pass has finished and
 * the snapshot is built. Not a test; not built by CMake. Stop it with
 * SIGTERM/SIGINT.
 *
 * usage: bench_serve CONFIG PORT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "slotfeed/app.h"
#include "slotfeed/conf.h"
#include "slotfeed/log.h"

struct ctx {
    struct app *app;
    struct event_base *base;
};

static void on_pass(void *arg)
{
    struct ctx *c = arg;

    /* Build now so the first request does not pay for it. */
    (void)app_snapshot(c->app);
    printf("bench_serve: ready port=%d\n", app_port(c->app));
    fflush(stdout);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct conf_errors errs = { 0 };
    struct conf_region *region = NULL;
    struct app_opts opts = { 0 };
    struct sf_error err = { 0 };
    struct event *sigterm, *sigint;
    struct ctx c = { 0 };
    size_t i;

    if (argc != 3) {
        fprintf(stderr, "usage: bench_serve CONFIG PORT\n");
        return 2;
    }
    if (conf_load(argv[1], &region, &errs) != 0) {
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s: %s\n", argv[1], errs.v[i]);
        conf_errors_free(&errs);
        return 1;
    }
    log_set_level(LOG_LVL_ERROR);
    signal(SIGPIPE, SIG_IGN);
    c.base = app_base_new();
    opts.listen_host = "127.0.0.1";
    opts.listen_port = atoi(argv[2]);
    opts.refresh_s = 24 * 3600;
    if (c.base == NULL ||
        (c.app = app_new(c.base, region, &opts, &err)) == NULL) {
        fprintf(stderr, "bench_serve: %s\n", err.msg);
        return 1;
    }
    sigterm = evsignal_new(c.base, SIGTERM, on_signal, c.base);
    sigint = evsignal_new(c.base, SIGINT, on_signal, c.base);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    if (app_poll_now(c.app, on_pass, &c) != 0) {
        fprintf(stderr, "bench_serve: cannot start the poll pass\n");
        return 1;
    }
    event_base_dispatch(c.base);
    app_free(c.app);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(c.base);
    conf_free(region);
    return 0;
}
