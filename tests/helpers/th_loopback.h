/*
 * th_loopback.h - loopback helpers for tests that talk HTTP on one
 * libevent base: an evhttp server on 127.0.0.1:<ephemeral>, a port that
 * refuses connections, and a listener that accepts but never answers.
 */
#ifndef TH_LOOPBACK_H
#define TH_LOOPBACK_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_request;

/*
 * evhttp on 127.0.0.1, port chosen by the kernel, TCP_NODELAY set; every
 * request goes to cb(req, arg). *port gets the port. NULL on failure.
 * Free with evhttp_free().
 */
struct evhttp *th_lo_http(struct event_base *base,
                          void (*cb)(struct evhttp_request *, void *),
                          void *arg, int *port);

/* A port on 127.0.0.1 that was just free and now has nobody listening. */
int th_lo_refused_port(void);

/*
 * A listening socket that never accepts or answers: connections complete
 * (kernel backlog) and requests hang. Returns the fd (close it), *port set.
 */
int th_lo_black_hole(int *port);

/* Request body as a malloc'd NUL-terminated copy (caller frees). */
char *th_lo_body(struct evhttp_request *req, size_t *len);

/* Run base until flag != 0 or ms elapse; returns flag's value. */
int th_lo_run_until(struct event_base *base, const int *flag, long ms);

#endif
