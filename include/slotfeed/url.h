/*
 * url.h - the one check of an outgoing URL, so that the configuration
 * refuses exactly what the runtime could never fetch.
 *
 * This module (src/url.c) owns the rule; conf.c (every URL key),
 * fetch_start (every transfer), sched (its host key) and the adapters
 * that take URLs from upstreams (smart-bulk output files) all call it. It
 * parses with libcurl's URL API (curl_url_set, flags 0: no scheme
 * guessing), the parser libcurl itself uses for CURLOPT_URL, and then
 * asks for: scheme http or https, a non-empty host of at most
 * URL_HOST_MAX bytes (the DNS limit; keeps every sched key in
 * SCHED_KEY_MAX), and a port in 1..65535 when one is given.
 */
#ifndef SLOTFEED_URL_H
#define SLOTFEED_URL_H

#include <stddef.h>

/* Longest host name (RFC 1035: 253 characters written out). */
#define URL_HOST_MAX 253

/* url_check flags */
enum {
    /*
     * Refuse a user name or password (http://user:pass@host/). Set for
     * every URL of the configuration: public ones (booking_url, website)
     * are published, polled ones (booking.url) appear in errors and logs.
     */
    URL_NO_USERINFO = 1u << 0
};

/*
 * 0 when url passes the check above, else -1 with a short reason in why
 * (NUL-terminated, cut to whysz; may be NULL). The reason never quotes
 * the URL (it may carry credentials or personal data), only the part at
 * fault when that part is safe to show (scheme, port).
 */
int url_check(const char *url, unsigned flags, char *why, size_t whysz);

#endif
