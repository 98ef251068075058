/*
 * sched.h - per-host politeness: who may send the next request, and when.
 *
 * Pure bookkeeping with the time passed in (milliseconds on any monotonic
 * scale), no event loop and no I/O, so every rule is testable with
 * invented times. The collector asks before each HTTP request (every step
 * of a multi-step conversation too) and reports each answer back.
 *
 * A host is the scheme, host and port of a request URL
 * ("https://vp.example.se:443"); default ports are made explicit and
 * names lowercased, so equal origins share one state. Per host:
 *
 *  - token bucket: `burst` tokens, refilled at `rate_per_s`; a request
 *    takes one. Over any window of length t at most burst + rate * t
 *    requests are granted.
 *  - concurrency: at most `max_concurrent` granted and not yet released.
 *  - backoff: after the k-th failure in a row (k >= 2) the host is held
 *    for a delay drawn uniformly from [0, min(backoff_max, backoff_base *
 *    2^(k-2))] ("full jitter"), from a PRNG seeded by the host key, so a
 *    run is reproducible. A success resets k. The first failure of a run
 *    holds nothing: on a host many clinics share, one clinic hanging or
 *    failing must not delay the others (the collector backs that clinic
 *    off on its own).
 *  - Retry-After: a failure that carries one holds the host exactly that
 *    long instead (capped at SCHED_RETRY_AFTER_MAX_S).
 *  - circuit breaker: `breaker_failures` consecutive failures open it for
 *    `breaker_cooldown`; after that the next acquire is a single probe
 *    (half-open); the probe's success closes the breaker, its failure
 *    opens it again for another cooldown. Answers to requests granted
 *    before the breaker opened do not move it.
 *
 * What counts as a failure is the caller's call (see sched_outcome): the
 * collector reports transport errors, timeouts, 429 and 5xx answers that
 * carry no protocol-level reply; a SOAP fault in an HTTP 500 means the
 * host is up and answering.
 *
 * Ownership: struct sched owns its hosts; a struct sched_host pointer
 * stays valid until sched_free.
 */
#ifndef SLOTFEED_SCHED_H
#define SLOTFEED_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotfeed/error.h"

/* Longest Retry-After honoured; longer answers are cut to this. */
#define SCHED_RETRY_AFTER_MAX_S 3600
/* Most distinct hosts one sched tracks (URLs can come from upstreams). */
#define SCHED_MAX_HOSTS 65536
/* Longest host key, "scheme://host:port". */
#define SCHED_KEY_MAX 300

struct sched_params {
    double rate_per_s;           /* > 0 */
    int burst;                   /* >= 1 */
    int max_concurrent;          /* >= 1 */
    int64_t backoff_base_ms;     /* >= 0 */
    int64_t backoff_max_ms;      /* >= backoff_base_ms */
    int breaker_failures;        /* >= 1 */
    int64_t breaker_cooldown_ms; /* >= 0 */
};

/* The documented defaults (docs/config.md, politeness). */
void sched_params_default(struct sched_params *p);

enum sched_verdict {
    SCHED_GO = 0, /* send now; release the grant exactly once */
    SCHED_WAIT,   /* ask again after *wait_ms (> 0) */
    SCHED_OPEN    /* breaker open: do not send; *wait_ms until the
                           probe may go, or 0 while a probe is out */
};

enum sched_outcome {
    SCHED_SUCCESS = 0, /* the host answered: resets backoff, closes */
    SCHED_FAILURE,     /* transport/timeout/429/5xx: backoff, breaker */
    SCHED_NEUTRAL      /* not sent or no verdict: only frees the slot */
};

enum sched_breaker {
    SCHED_CLOSED = 0,
    SCHED_OPENED,
    SCHED_HALF_OPEN
};

struct sched;
struct sched_host;

/* What an acquire handed out; pass it back to sched_release. */
struct sched_grant {
    struct sched_host *host;
    bool probe;     /* the half-open probe */
    uint32_t epoch; /* breaker epoch when granted */
};

/* Counters since sched_new (for metrics and tests). */
struct sched_stats {
    unsigned long grants;
    unsigned long waits;    /* SCHED_WAIT verdicts */
    unsigned long refusals; /* SCHED_OPEN verdicts */
    unsigned long opened;   /* transitions to open */
    unsigned long half_opened;
    unsigned long closed; /* half-open -> closed */
};

/* New scheduler with *defaults (copied; NULL = sched_params_default). */
struct sched *sched_new(const struct sched_params *defaults);
void sched_free(struct sched *s);

/*
 * Parameters for one host, replacing the defaults for it: `host` is
 * "name:port" (that origin only, any scheme) or "name" (any port).
 * "name:port" wins over "name". Call before the host is first used
 * (sched_host_get); later calls do not change existing hosts. Returns 0,
 * or -1 with err set (bad host text, bad params, no memory).
 */
/* Is host acceptable to sched_set_host_params ("name" or "name:port",
 * a DNS-style name or a bracketed IPv6 address, port 1..65535)? */
bool sched_valid_host(const char *host);

int sched_set_host_params(struct sched *s, const char *host,
                          const struct sched_params *p, struct sf_error *err);

/*
 * The host state of url (created on first use). Returns NULL with err set
 * when url has no http(s) scheme and host, or the host table is full.
 */
struct sched_host *sched_host_get(struct sched *s, const char *url,
                                  struct sf_error *err);

/*
 * May a request to h go at now_ms? SCHED_GO fills *grant (in flight + 1,
 * one token taken); otherwise *wait_ms says how long until asking again
 * makes sense (for a full concurrency limit: one token interval).
 */
enum sched_verdict sched_acquire(struct sched_host *h, int64_t now_ms,
                                 int64_t *wait_ms, struct sched_grant *grant);

/*
 * The answer to a granted request: frees its concurrency slot and applies
 * the outcome. retry_after_s >= 0 on a failure holds the host that long
 * (capped); -1 = none. Each grant is released exactly once.
 */
void sched_release(const struct sched_grant *grant, enum sched_outcome o,
                   long retry_after_s, int64_t now_ms);

/*
 * Full-jitter backoff delay for the attempt-th consecutive failure
 * (attempt >= 1; <= 0 gives 0): uniform in [0, min(max_ms, base_ms *
 * 2^(attempt-1))], drawn from *rng (splitmix64 state, advanced).
 */
int64_t sched_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt,
                         uint64_t *rng);

/* The host key, e.g. "http://127.0.0.1:8080" (borrowed). */
const char *sched_host_key(const struct sched_host *h);
/* The key without the scheme, "127.0.0.1:8080", for messages. */
const char *sched_host_name(const struct sched_host *h);
const struct sched_params *sched_host_params(const struct sched_host *h);
enum sched_breaker sched_host_breaker(const struct sched_host *h);
/* When an open breaker lets its probe go (ms), or 0 when not open. */
int64_t sched_host_open_until(const struct sched_host *h);
/* Held (backoff or Retry-After) until this time (ms); 0 = not held. */
int64_t sched_host_held_until(const struct sched_host *h);
int sched_host_inflight(const struct sched_host *h);
int sched_host_failures(const struct sched_host *h);
/*
 * One caller pointer per host (NULL until set), e.g. the collector's queue
 * of clinics waiting for this host; sched never looks at it or frees it.
 */
void sched_host_set_user(struct sched_host *h, void *user);
void *sched_host_user(const struct sched_host *h);

const struct sched_stats *sched_stats(const struct sched *s);
size_t sched_host_count(const struct sched *s);

/* "closed", "open", "half-open". */
const char *sched_breaker_name(enum sched_breaker b);

#endif
