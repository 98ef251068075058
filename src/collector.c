/*
 * collector.c - drives every clinic's poll on the loop and keeps its state.
 *
 * A poll is the adapter conversation begin -> fetch -> step (-> fetch ->
 * step ...) -> DONE | ERROR. Slots found along the way collect in a
 * per-poll list and replace the clinic's slots only when the whole
 * conversation succeeded; a failure keeps the last good slots (tri-state:
 * a failed poll never means "no free times", design.md §7).
 *
 * Each clinic with booking has two timers: `timer` for its periodic
 * schedule (first shot at a hash-of-id offset within the interval, later
 * shots interval ± 10 % from a per-clinic PRNG seeded by the same hash, so
 * a run is reproducible) and `kick` for collector_poll_all(). The `busy`
 * flag ensures one poll per clinic at a time: a tick that finds the clinic
 * busy is skipped, a pass that finds it busy counts the running poll.
 *
 * Ownership: the collector owns states[] (and their slots) and polls[],
 * including each clinic's adapter cache slot (freed with the adapter's
 * cache_free); the region and the fetch are borrowed.
 */
#include "slotfeed/collector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/adapter.h"
#include "slotfeed/clock.h"
#include "slotfeed/fetch.h"
#include "slotfeed/log.h"

/* Per-clinic poll machinery, parallel to states[]. */
struct cpoll {
    struct collector *c;
    size_t idx;
    const struct adapter *ad;   /* NULL: clinic without booking */
    struct event *timer;        /* periodic schedule */
    struct event *kick;         /* poll now (collector_poll_all) */
    uint64_t rng;
    bool busy;
    bool in_pass;               /* counted in the running pass */
    int unreachable_run;        /* consecutive transport/timeout failures */
    void *cache;                /* adapter memory across polls (ctx.cache) */
    /* valid while busy */
    struct adapter_ctx ctx;
    void *astate;
    struct adapter_request req;
    struct avail_slots acc;
    struct timespec t0;
};

struct collector {
    struct event_base *base;
    const struct conf_region *region;
    struct fetch *fetch;
    struct clinic_state *states;
    struct cpoll *polls;
    size_t n;
    size_t active;
    collector_update_fn on_update;
    void *update_arg;
    bool started;
    bool pass_active;
    size_t pass_left;
    collector_pass_fn pass_done;
    void *pass_arg;
    struct event *pass_ev;      /* delivers an empty pass from the loop */
};

const char *web_booking_name(enum web_booking w)
{
    switch (w) {
    case WEB_UNKNOWN: return "unknown";
    case WEB_OPEN: return "open";
    case WEB_NONE: return "none";
    case WEB_UNREACHABLE: return "unreachable";
    }
    return "unknown";
}

const char *clinic_status_name(enum clinic_status s)
{
    switch (s) {
    case CLINIC_OK: return "ok";
    case CLINIC_STALE: return "stale";
    case CLINIC_ERROR: return "error";
    }
    return "error";
}

/* FNV-1a: stable across runs and machines, unlike pointer-based seeds. */
static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* splitmix64's finalizer: FNV's low bits alone mix poorly for ids that
 * differ only in their last characters. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* splitmix64 */
static uint64_t next_rand(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static long interval_ms(const struct collector *c)
{
    int s = c->region->poll_interval_s > 0 ? c->region->poll_interval_s : 60;

    return (long)s * 1000L;
}

static void ms_to_tv(long ms, struct timeval *tv)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long)((t1.tv_sec - t0->tv_sec) * 1000 +
                  (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * Replace every occurrence of the query identity with a marker: SOAP
 * faults sometimes echo the request, and error text reaches logs and
 * the public feed.
 */
static void redact(char *s, size_t cap, const char *secret)
{
    static const char mark[] = "[redacted]";
    size_t sl, ml = sizeof(mark) - 1;
    char *p;

    if (secret == NULL || (sl = strlen(secret)) == 0)
        return;
    while ((p = strstr(s, secret)) != NULL) {
        size_t tail = strlen(p + sl);

        if ((size_t)(p - s) + ml + tail + 1 > cap)
            tail = cap - 1 - (size_t)(p - s) - ml;
        memmove(p + ml, p + sl, tail);
        p[ml + tail] = '\0';
        memcpy(p, mark, ml);
    }
}

/* --- one poll ----------------------------------------------------------- */

static void poll_send(struct cpoll *p);

static void pass_finish(struct collector *c)
{
    collector_pass_fn fn = c->pass_done;
    void *arg = c->pass_arg;

    /* Cleared first so done() may start the next pass. */
    c->pass_active = false;
    c->pass_done = NULL;
    c->pass_arg = NULL;
    if (fn)
        fn(arg);
}

/* End the poll of p: ok, or failed with err (label: the failing step). */
static void poll_finish(struct cpoll *p, bool ok, const struct sf_error *err,
                        const char *label)
{
    struct collector *c = p->c;
    struct clinic_state *st = &c->states[p->idx];
    int64_t now = clock_now();
    long ms = elapsed_ms(&p->t0);

    if (p->ad && p->ad->end)
        p->ad->end(p->astate);
    p->astate = NULL;
    adapter_request_clear(&p->req);

    st->checked_at = now;
    st->polls++;
    if (ok) {
        avail_slots_sort(&p->acc);
        /* Only content changes move changed_at (design.md §7.2). */
        if (!st->has_data || !avail_slots_equal(&st->slots, &p->acc)) {
            avail_slots_move(&st->slots, &p->acc);
            st->changed_at = now;
        } else {
            avail_slots_clear(&p->acc);
        }
        st->valid_at = now;
        st->has_data = true;
        st->status = CLINIC_OK;
        st->web = WEB_OPEN;
        st->err_class = SF_ERR_NONE;
        st->error[0] = '\0';
        st->consecutive_failures = 0;
        p->unreachable_run = 0;
        log_info("poll", "clinic=%s outcome=ok duration_ms=%ld slots=%zu",
                 st->conf->id, ms, st->slots.n);
    } else {
        avail_slots_clear(&p->acc);
        st->failures++;
        st->consecutive_failures++;
        st->err_class = err->code;
        if (label == NULL)
            label = "poll";
        /* Adapters often name the contract themselves: say it once. */
        if (strncmp(err->msg, label, strlen(label)) == 0)
            snprintf(st->error, sizeof(st->error), "clinic %s: %s",
                     st->conf->id, err->msg);
        else
            snprintf(st->error, sizeof(st->error), "clinic %s: %s: %s",
                     st->conf->id, label, err->msg);
        redact(st->error, sizeof(st->error), c->region->riv_subject_of_care);
        st->status = st->has_data ? CLINIC_STALE : CLINIC_ERROR;
        if (err->code == SF_ERR_NOT_CONNECTED) {
            st->web = WEB_NONE;
            p->unreachable_run = 0;
        } else if (err->code == SF_ERR_TRANSPORT ||
                   err->code == SF_ERR_TIMEOUT) {
            if (++p->unreachable_run >= COLLECTOR_UNREACHABLE_AFTER)
                st->web = WEB_UNREACHABLE;
        } else {
            /* The upstream answered, if unhelpfully: web state stays. */
            p->unreachable_run = 0;
        }
        log_warn("poll", "clinic=%s outcome=%s duration_ms=%ld "
                 "consecutive=%d error=\"%s\"", st->conf->id,
                 sf_errclass_name(err->code), ms, st->consecutive_failures,
                 st->error);
    }
    p->busy = false;
    c->active--;

    if (c->on_update)
        c->on_update(c->update_arg, p->idx);
    if (p->in_pass) {
        p->in_pass = false;
        if (--c->pass_left == 0 && c->pass_active)
            pass_finish(c);
    }
}

static void on_fetched(const struct fetch_result *res, void *arg)
{
    struct cpoll *p = arg;
    struct adapter_response resp;
    struct adapter_request next;
    struct sf_error err;
    enum adapter_status rc;
    char label[64];

    snprintf(label, sizeof(label), "%s",
             p->req.label ? p->req.label : "request");
    if (res->err.code != SF_ERR_NONE) {
        poll_finish(p, false, &res->err, label);
        return;
    }
    memset(&resp, 0, sizeof(resp));
    resp.http_status = res->http_status;
    resp.body = res->body;
    resp.len = res->len;
    resp.content_type = res->content_type;
#ifdef ADAPTER_MAX_HEADERS  /* validators/cache: adapter.h change in flight */
    resp.etag = res->etag;
    resp.last_modified = res->last_modified;
#endif
    memset(&next, 0, sizeof(next));
    sf_error_clear(&err);
    rc = p->ad->step(&p->ctx, p->astate, &resp, &p->acc, &next, &err);
    switch (rc) {
    case ADAPTER_DONE:
        adapter_request_clear(&next);
        poll_finish(p, true, NULL, NULL);
        break;
    case ADAPTER_MORE:
        adapter_request_clear(&p->req);
        p->req = next;
        poll_send(p);
        break;
    default:
        adapter_request_clear(&next);
        if (err.code == SF_ERR_NONE)
            sf_error_set(&err, SF_ERR_INTERNAL, "adapter %s failed",
                         p->ad->name);
        poll_finish(p, false, &err, label);
        break;
    }
}

static void poll_send(struct cpoll *p)
{
    struct sf_error err;

    sf_error_clear(&err);
    if (fetch_start(p->c->fetch, &p->req, on_fetched, p, &err) != 0)
        poll_finish(p, false, &err, p->req.label);
}

/* Start a poll of p; always called from the loop (a timer). */
static void poll_begin(struct cpoll *p)
{
    struct collector *c = p->c;
    struct sf_error err;
    enum adapter_status rc;
    int32_t today;

    p->busy = true;
    c->active++;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    memset(&p->ctx, 0, sizeof(p->ctx));
    p->ctx.region = c->region;
    p->ctx.clinic = c->states[p->idx].conf;
    p->ctx.now = clock_now();
#ifdef ADAPTER_MAX_HEADERS
    p->ctx.cache = &p->cache;
#endif
    today = clock_local_day(p->ctx.now);
    p->ctx.first_day = today;
    p->ctx.last_day = today + (c->region->horizon_days > 0 ?
                               c->region->horizon_days : 1) - 1;
    p->astate = NULL;
    memset(&p->req, 0, sizeof(p->req));
    avail_slots_init(&p->acc);
    sf_error_clear(&err);

    rc = p->ad->begin(&p->ctx, &p->astate, &p->req, &err);
    if (rc == ADAPTER_MORE) {
        poll_send(p);
    } else if (rc == ADAPTER_DONE) {
        poll_finish(p, true, NULL, NULL);
    } else {
        if (err.code == SF_ERR_NONE)
            sf_error_set(&err, SF_ERR_INTERNAL, "adapter %s failed",
                         p->ad->name);
        poll_finish(p, false, &err, "begin");
    }
}

/* --- timers --------------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct cpoll *p = arg;
    long base_ms = interval_ms(p->c), jit = base_ms / 10, ms;
    struct timeval tv;

    (void)fd;
    (void)what;
    /* Re-arm first: the cadence does not drift with poll duration. */
    ms = base_ms;
    if (jit > 0)
        ms += (long)(next_rand(&p->rng) % (uint64_t)(2 * jit + 1)) - jit;
    ms_to_tv(ms, &tv);
    evtimer_add(p->timer, &tv);
    if (p->busy) {
        log_debug("poll_skipped", "clinic=%s reason=busy",
                  p->c->states[p->idx].conf->id);
        return;
    }
    poll_begin(p);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct cpoll *p = arg;

    (void)fd;
    (void)what;
    if (!p->busy)
        poll_begin(p);
}

static void on_empty_pass(evutil_socket_t fd, short what, void *arg)
{
    struct collector *c = arg;

    (void)fd;
    (void)what;
    if (c->pass_active && c->pass_left == 0)
        pass_finish(c);
}

/* --- public ----------------------------------------------------------------- */

struct collector *collector_new(struct event_base *base,
                                const struct conf_region *region,
                                struct fetch *f, struct sf_error *err)
{
    struct collector *c;
    size_t i;

    if (base == NULL || region == NULL || f == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "collector: missing argument");
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    c->base = base;
    c->region = region;
    c->fetch = f;
    c->n = region->nclinics;
    c->pass_ev = evtimer_new(base, on_empty_pass, c);
    if (c->pass_ev == NULL)
        goto nomem;
    if (c->n > 0) {
        c->states = calloc(c->n, sizeof(*c->states));
        c->polls = calloc(c->n, sizeof(*c->polls));
        if (c->states == NULL || c->polls == NULL)
            goto nomem;
    }
    for (i = 0; i < c->n; i++) {
        const struct conf_clinic *cc = &region->clinics[i];
        struct clinic_state *st = &c->states[i];
        struct cpoll *p = &c->polls[i];

        st->conf = cc;
        avail_slots_init(&st->slots);
        avail_slots_init(&p->acc);
        st->err_class = SF_ERR_NONE;
        p->c = c;
        p->idx = i;
        if (!cc->has_booking) {
            /* Known answer without asking: no web booking. */
            st->web = WEB_NONE;
            st->status = CLINIC_OK;
            continue;
        }
        st->web = WEB_UNKNOWN;
        st->status = CLINIC_ERROR;
        p->ad = adapter_find(cc->booking.adapter);
        if (p->ad == NULL) {
            sf_error_set(err, SF_ERR_CONFIG, "clinic %s: unknown adapter "
                         "\"%s\"", cc->id, cc->booking.adapter ?
                         cc->booking.adapter : "(none)");
            collector_free(c);
            return NULL;
        }
        p->rng = hash_id(cc->id);
        p->timer = evtimer_new(base, on_tick, p);
        p->kick = evtimer_new(base, on_kick, p);
        if (p->timer == NULL || p->kick == NULL)
            goto nomem;
    }
    return c;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "collector: out of memory");
    collector_free(c);
    return NULL;
}

void collector_on_update(struct collector *c, collector_update_fn fn,
                         void *arg)
{
    if (c == NULL)
        return;
    c->on_update = fn;
    c->update_arg = arg;
}

long collector_stagger_ms(const char *clinic_id, long interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    return (long)(mix64(hash_id(clinic_id)) % (uint64_t)interval_ms);
}

int collector_start(struct collector *c)
{
    long iv;
    size_t i;

    if (c == NULL)
        return -1;
    if (c->started)
        return 0;
    iv = interval_ms(c);
    for (i = 0; i < c->n; i++) {
        struct cpoll *p = &c->polls[i];
        struct timeval tv;

        if (p->ad == NULL)
            continue;
        /* Deterministic stagger: the same clinic always lands at the same
         * offset, and clinics spread evenly over the interval. */
        ms_to_tv(collector_stagger_ms(c->states[i].conf->id, iv), &tv);
        if (evtimer_add(p->timer, &tv) != 0)
            return -1;
    }
    c->started = true;
    return 0;
}

int collector_poll_all(struct collector *c, collector_pass_fn done,
                       void *arg)
{
    struct timeval zero = {0, 0};
    size_t i;

    if (c == NULL || c->pass_active)
        return -1;
    c->pass_active = true;
    c->pass_done = done;
    c->pass_arg = arg;
    c->pass_left = 0;
    for (i = 0; i < c->n; i++) {
        struct cpoll *p = &c->polls[i];

        if (p->ad == NULL)
            continue;
        p->in_pass = true;
        c->pass_left++;
        /* A clinic already polling counts with its running poll. */
        if (!p->busy && evtimer_add(p->kick, &zero) != 0)
            return -1;
    }
    if (c->pass_left == 0 && evtimer_add(c->pass_ev, &zero) != 0)
        return -1;
    return 0;
}

const struct clinic_state *collector_states(const struct collector *c,
                                            size_t *n)
{
    if (n)
        *n = c ? c->n : 0;
    return c ? c->states : NULL;
}

size_t collector_active(const struct collector *c)
{
    return c ? c->active : 0;
}

void collector_free(struct collector *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; c->polls && i < c->n; i++) {
        struct cpoll *p = &c->polls[i];

        if (p->timer)
            event_free(p->timer);
        if (p->kick)
            event_free(p->kick);
        /* In-flight poll: its transfer is gone with fetch_free() (see
         * collector.h), so only our half of the conversation remains. */
        if (p->busy && p->ad && p->ad->end)
            p->ad->end(p->astate);
        adapter_request_clear(&p->req);
        avail_slots_clear(&p->acc);
#ifdef ADAPTER_MAX_HEADERS
        if (p->cache && p->ad && p->ad->cache_free)
            p->ad->cache_free(p->cache);
#endif
    }
    for (i = 0; c->states && i < c->n; i++)
        avail_slots_clear(&c->states[i].slots);
    if (c->pass_ev)
        event_free(c->pass_ev);
    free(c->polls);
    free(c->states);
    free(c);
}
