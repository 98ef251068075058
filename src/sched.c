/*
 * sched.c - per-host token bucket, concurrency limit, backoff, Retry-After
 * and circuit breaker (contract in sched.h).
 *
 * Tokens are kept as integers in units of 1e-9 token and the refill as
 * nano-tokens per millisecond, so the bucket's bound holds exactly, with
 * no floating-point drift over long runs (a rate is used to 1e-6 /s).
 * Hosts live in a small chained hash table keyed by "scheme://host:port";
 * URLs are split with libcurl's URL API rather than by hand.
 */
#include "slotfeed/sched.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "slotfeed/hash.h"
#include "slotfeed/url.h"

#define NANO 1000000000LL

struct override {
    char *host; /* "name:port" or "name", lowercase */
    struct sched_params p;
};

struct sched_host {
    struct sched_host *next; /* hash chain */
    struct sched *s;
    char key[SCHED_KEY_MAX];
    const char *name; /* into key, after "://" */
    struct sched_params p;
    int64_t refill; /* nano-tokens per ms, >= 1 */
    int64_t cap;    /* burst in nano-tokens */
    int64_t tokens;
    int64_t last_ms; /* time of the last refill */
    int inflight;
    int fails;          /* consecutive failures */
    int64_t held_until; /* backoff / Retry-After */
    enum sched_breaker br;
    int64_t open_until;
    bool probe_out;
    uint32_t epoch;
    uint64_t rng;
    void *user; /* caller's, see sched_host_set_user */
};

struct sched {
    struct sched_params dflt;
    struct override *ov;
    size_t nov;
    struct sched_host **tab;
    size_t nb, n;
    struct sched_stats st;
};

void sched_params_default(struct sched_params *p)
{
    p->rate_per_s = 1.0;
    p->burst = 2;
    p->max_concurrent = 2;
    p->backoff_base_ms = 30 * 1000;
    p->backoff_max_ms = 1800 * 1000;
    p->breaker_failures = 5;
    p->breaker_cooldown_ms = 300 * 1000;
}

static bool params_ok(const struct sched_params *p)
{
    return p->rate_per_s >= 1e-6 && p->rate_per_s <= 1e6 && p->burst >= 1 &&
           p->max_concurrent >= 1 && p->backoff_base_ms >= 0 &&
           p->backoff_max_ms >= p->backoff_base_ms &&
           p->breaker_failures >= 1 && p->breaker_cooldown_ms >= 0;
}

int64_t sched_backoff_ms(int64_t base_ms, int64_t max_ms, int attempt,
                         uint64_t *rng)
{
    int64_t cap = base_ms;
    int i;

    if (attempt <= 0 || base_ms <= 0 || max_ms <= 0)
        return 0;
    /* Doubling stops at max: no overflow however long the failure run. */
    for (i = 1; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    return (int64_t)(hash_splitmix64(rng) % (uint64_t)(cap + 1));
}

struct sched *sched_new(const struct sched_params *defaults)
{
    struct sched *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (defaults != NULL && params_ok(defaults))
        s->dflt = *defaults;
    else
        sched_params_default(&s->dflt);
    s->nb = 64;
    s->tab = calloc(s->nb, sizeof(*s->tab));
    if (s->tab == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void sched_free(struct sched *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nb; i++) {
        struct sched_host *h = s->tab[i], *nx;

        for (; h; h = nx) {
            nx = h->next;
            free(h);
        }
    }
    for (i = 0; i < s->nov; i++)
        free(s->ov[i].host);
    free(s->ov);
    free(s->tab);
    free(s);
}

/* "name" or "name:port" with a DNS-ish name or a bracketed IPv6. */
static bool valid_host_text(const char *h)
{
    const char *p = h, *colon;
    char *end;
    long port;

    if (*p == '[') {
        p = strchr(p, ']');
        if (p == NULL || p == h + 1)
            return false;
        for (colon = h + 1; colon < p; colon++)
            if (!isxdigit((unsigned char)*colon) && *colon != ':' &&
                *colon != '.')
                return false;
        p++;
        if (*p == '\0')
            return true;
        if (*p != ':')
            return false;
        colon = p;
    } else {
        for (; *p && *p != ':'; p++)
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
                *p != '_')
                return false;
        if (p == h)
            return false;
        if (*p == '\0')
            return true;
        colon = p;
    }
    if (!isdigit((unsigned char)colon[1]))
        return false;
    port = strtol(colon + 1, &end, 10);
    return *end == '\0' && port >= 1 && port <= 65535;
}

bool sched_valid_host(const char *host)
{
    return host != NULL && strlen(host) < SCHED_KEY_MAX - 16 &&
           valid_host_text(host);
}

int sched_set_host_params(struct sched *s, const char *host,
                          const struct sched_params *p, struct sf_error *err)
{
    struct override *nv;
    char *copy;
    size_t i;

    if (s == NULL || p == NULL || !sched_valid_host(host)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "politeness: \"%s\" is not "
                     "HOST or HOST:PORT",
                     host ? host : "(null)");
        return -1;
    }
    if (!params_ok(p)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "politeness: bad parameters for "
                     "%s",
                     host);
        return -1;
    }
    copy = strdup(host);
    if (copy == NULL)
        goto nomem;
    for (i = 0; copy[i]; i++)
        copy[i] = (char)tolower((unsigned char)copy[i]);
    for (i = 0; i < s->nov; i++) {
        if (strcmp(s->ov[i].host, copy) == 0) {
            free(copy);
            s->ov[i].p = *p;
            return 0;
        }
    }
    nv = realloc(s->ov, (s->nov + 1) * sizeof(*nv));
    if (nv == NULL) {
        free(copy);
        goto nomem;
    }
    s->ov = nv;
    s->ov[s->nov].host = copy;
    s->ov[s->nov].p = *p;
    s->nov++;
    return 0;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "politeness: out of memory");
    return -1;
}

/* Params for "name:port": an exact override, else a name one, else the
 * defaults. */
static const struct sched_params *params_for(const struct sched *s,
                                             const char *name)
{
    const char *colon = strrchr(name, ':');
    size_t nlen = colon ? (size_t)(colon - name) : strlen(name), i;
    const struct sched_params *byname = NULL;

    for (i = 0; i < s->nov; i++) {
        if (strcmp(s->ov[i].host, name) == 0)
            return &s->ov[i].p;
        if (strlen(s->ov[i].host) == nlen &&
            strncmp(s->ov[i].host, name, nlen) == 0)
            byname = &s->ov[i].p;
    }
    return byname ? byname : &s->dflt;
}

/* "scheme://host:port" of url into key, lowercased. 0 or -1. */
static int url_key(const char *url, char *key, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1, len;
    char *p;

    if (u == NULL || url == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    len = snprintf(key, n, "%s://%s:%s", scheme, host, port);
    if (len < 0 || (size_t)len >= n)
        goto out;
    for (p = key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int grow(struct sched *s)
{
    size_t nb = s->nb * 2, i;
    struct sched_host **tab = calloc(nb, sizeof(*tab));

    if (tab == NULL)
        return -1;
    for (i = 0; i < s->nb; i++) {
        struct sched_host *h = s->tab[i], *nx;

        for (; h; h = nx) {
            size_t b = hash_fnv1a_str(h->key) & (nb - 1);

            nx = h->next;
            h->next = tab[b];
            tab[b] = h;
        }
    }
    free(s->tab);
    s->tab = tab;
    s->nb = nb;
    return 0;
}

struct sched_host *sched_host_get(struct sched *s, const char *url,
                                  struct sf_error *err)
{
    char key[SCHED_KEY_MAX], why[160];
    struct sched_host *h;
    size_t b;

    /* url_check first: it bounds the host so every key fits, and its
     * reason names the fault without quoting the URL (which may carry
     * credentials or personal data from an upstream). */
    if (s == NULL || url_check(url, 0, why, sizeof(why)) != 0 ||
        url_key(url, key, sizeof(key)) != 0) {
        if (s == NULL)
            snprintf(why, sizeof(why), "no scheduler");
        sf_error_set(err, SF_ERR_CONFIG, "politeness: URL refused: %s",
                     why[0] ? why : "no http(s) host");
        return NULL;
    }
    b = hash_fnv1a_str(key) & (s->nb - 1);
    for (h = s->tab[b]; h; h = h->next)
        if (strcmp(h->key, key) == 0)
            return h;
    if (s->n >= SCHED_MAX_HOSTS) {
        sf_error_set(err, SF_ERR_INTERNAL,
                     "politeness: more than %d "
                     "hosts; refusing %s",
                     SCHED_MAX_HOSTS, key);
        return NULL;
    }
    if (s->n >= s->nb && grow(s) != 0)
        goto nomem;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto nomem;
    memcpy(h->key, key, sizeof(key));
    h->name = strstr(h->key, "://") + 3;
    h->s = s;
    h->p = *params_for(s, h->name);
    h->refill = (int64_t)(h->p.rate_per_s * 1e6 + 0.5);
    if (h->refill < 1)
        h->refill = 1;
    h->cap = (int64_t)h->p.burst * NANO;
    h->tokens = h->cap; /* a fresh host may use its burst at once */
    h->last_ms = INT64_MIN;
    h->br = SCHED_CLOSED;
    h->rng = hash_fnv1a_str(h->key);
    b = hash_fnv1a_str(key) & (s->nb - 1);
    h->next = s->tab[b];
    s->tab[b] = h;
    s->n++;
    return h;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "politeness: out of memory");
    return NULL;
}

static void refill(struct sched_host *h, int64_t now)
{
    if (h->last_ms == INT64_MIN || now <= h->last_ms) {
        /* First use, or a clock that did not move: nothing to add. */
        if (h->last_ms == INT64_MIN)
            h->last_ms = now;
        return;
    }
    if (h->tokens < h->cap) {
        int64_t dt = now - h->last_ms;

        /* dt * refill could overflow after very long idle times. */
        if (dt >= (h->cap - h->tokens) / h->refill + 1)
            h->tokens = h->cap;
        else
            h->tokens += dt * h->refill;
        if (h->tokens > h->cap)
            h->tokens = h->cap;
    }
    h->last_ms = now;
}

/* ms for the bucket to reach one token; 0 if it holds one. */
static int64_t token_wait(const struct sched_host *h)
{
    int64_t deficit = NANO - h->tokens;

    if (deficit <= 0)
        return 0;
    return (deficit + h->refill - 1) / h->refill;
}

enum sched_verdict sched_acquire(struct sched_host *h, int64_t now_ms,
                                 int64_t *wait_ms, struct sched_grant *grant)
{
    struct sched *s = h->s;
    int64_t w;

    *wait_ms = 0;
    if (h->br == SCHED_OPENED) {
        if (now_ms < h->open_until) {
            *wait_ms = h->open_until - now_ms;
            s->st.refusals++;
            return SCHED_OPEN;
        }
        h->br = SCHED_HALF_OPEN;
        h->probe_out = false;
        s->st.half_opened++;
    }
    if (h->br == SCHED_HALF_OPEN && h->probe_out) {
        s->st.refusals++;
        return SCHED_OPEN;
    }
    refill(h, now_ms);
    if (now_ms < h->held_until) {
        *wait_ms = h->held_until - now_ms;
    } else if (h->inflight >= h->p.max_concurrent) {
        /* We are not told when a slot frees: look again one token
         * interval later, the soonest a new request could go anyway. */
        w = (NANO + h->refill - 1) / h->refill;
        *wait_ms = w > token_wait(h) ? w : token_wait(h);
    } else {
        *wait_ms = token_wait(h);
    }
    if (*wait_ms > 0) {
        s->st.waits++;
        return SCHED_WAIT;
    }
    h->tokens -= NANO;
    h->inflight++;
    grant->host = h;
    grant->epoch = h->epoch;
    grant->probe = h->br == SCHED_HALF_OPEN;
    if (grant->probe)
        h->probe_out = true;
    s->st.grants++;
    return SCHED_GO;
}

static void open_breaker(struct sched_host *h, int64_t now)
{
    h->br = SCHED_OPENED;
    h->open_until = now + h->p.breaker_cooldown_ms;
    h->probe_out = false;
    h->epoch++;
    h->s->st.opened++;
}

void sched_release(const struct sched_grant *grant, enum sched_outcome o,
                   long retry_after_s, int64_t now_ms)
{
    struct sched_host *h = grant->host;
    int64_t hold;

    if (h == NULL)
        return;
    if (h->inflight > 0)
        h->inflight--;
    if (o == SCHED_FAILURE && retry_after_s > 0) {
        /* The server said when: believe it (within reason), no jitter. */
        if (retry_after_s > SCHED_RETRY_AFTER_MAX_S)
            retry_after_s = SCHED_RETRY_AFTER_MAX_S;
        hold = now_ms + (int64_t)retry_after_s * 1000;
        if (hold > h->held_until)
            h->held_until = hold;
    }
    /* An answer to a request sent before the breaker last opened says
     * nothing about the host now. */
    if (grant->epoch != h->epoch)
        return;
    if (h->br == SCHED_HALF_OPEN) {
        if (!grant->probe)
            return;
        h->probe_out = false;
        if (o == SCHED_SUCCESS) {
            h->br = SCHED_CLOSED;
            h->fails = 0;
            h->s->st.closed++;
        } else if (o == SCHED_FAILURE) {
            h->fails++;
            open_breaker(h, now_ms);
        }
        return;
    }
    if (h->br != SCHED_CLOSED)
        return;
    if (o == SCHED_SUCCESS) {
        h->fails = 0;
    } else if (o == SCHED_FAILURE) {
        h->fails++;
        if (h->fails >= h->p.breaker_failures) {
            open_breaker(h, now_ms);
        } else if (retry_after_s <= 0 && h->fails >= 2) {
            /* A lone failure on a host many clinics share is more likely
             * one clinic's trouble (its poll backs off on its own); the
             * host is held from the second failure in a row. */
            hold = now_ms + sched_backoff_ms(h->p.backoff_base_ms,
                                             h->p.backoff_max_ms, h->fails - 1,
                                             &h->rng);
            if (hold > h->held_until)
                h->held_until = hold;
        }
    }
}

const char *sched_host_key(const struct sched_host *h)
{
    return h->key;
}

const char *sched_host_name(const struct sched_host *h)
{
    return h->name;
}

const struct sched_params *sched_host_params(const struct sched_host *h)
{
    return &h->p;
}

enum sched_breaker sched_host_breaker(const struct sched_host *h)
{
    return h->br;
}

int64_t sched_host_open_until(const struct sched_host *h)
{
    return h->br == SCHED_OPENED ? h->open_until : 0;
}

int64_t sched_host_held_until(const struct sched_host *h)
{
    return h->held_until;
}

int sched_host_inflight(const struct sched_host *h)
{
    return h->inflight;
}

int sched_host_failures(const struct sched_host *h)
{
    return h->fails;
}

void sched_host_set_user(struct sched_host *h, void *user)
{
    h->user = user;
}

void *sched_host_user(const struct sched_host *h)
{
    return h->user;
}

const struct sched_stats *sched_stats(const struct sched *s)
{
    return &s->st;
}

size_t sched_host_count(const struct sched *s)
{
    return s ? s->n : 0;
}

const char *sched_breaker_name(enum sched_breaker b)
{
    switch (b) {
    case SCHED_CLOSED:
        return "closed";
    case SCHED_OPENED:
        return "open";
    case SCHED_HALF_OPEN:
        return "half-open";
    }
    return "closed";
}
