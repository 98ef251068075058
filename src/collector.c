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
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "slotfeed/adapter.h"
#include "slotfeed/clock.h"
#include "slotfeed/fetch.h"
#include "slotfeed/hash.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"
#include "slotfeed/plaus.h"
#include "slotfeed/pnr.h"
#include "slotfeed/sched.h"
#include "slotfeed/share.h"

/* Per-clinic poll machinery, parallel to states[]. */
struct cpoll {
    struct collector *c;
    size_t idx;
    const struct adapter *ad; /* NULL: clinic without booking */
    struct event *timer;      /* periodic schedule */
    struct event *kick;       /* poll now (collector_poll_all) */
    uint64_t rng;
    bool busy;
    bool in_pass;        /* counted in the running pass */
    int unreachable_run; /* consecutive transport/timeout failures */
    void *cache;         /* adapter memory across polls (ctx.cache) */
    bool applied;        /* the last poll's slots are the clinic's now */
    bool same;           /* this poll's answers: the last poll's (ctx.same) */
    /* Leads the fetch of a shared document (share.h): its answer goes to
     * the entry's waiters too. NULL otherwise. */
    struct share_entry *sh_lead;
    struct cpoll *qnext;      /* next in its host's wait queue */
    bool queued;              /* in a host's wait queue (struct hostq) */
    bool cont;                /* its request continues a conversation */
    struct sched_host *rhost; /* host of rurl, resolved once */
    char *rurl;               /* last request URL resolved; owned */
    struct sched_host *home;  /* host of booking.url (params), or NULL */
    int64_t next_tick_ms;     /* monotonic ms of the armed periodic tick */
    struct sched_grant grant; /* valid while granted */
    bool granted;             /* a request of this poll holds a grant */
    struct sched *gsched;     /* the sched that granted it */
    /* Region the poll in flight borrows (ctx.region, ctx.clinic, and
     * whatever the adapter state keeps of them); NULL when idle. */
    const struct conf_region *region;
    /* Left behind by collector_reconfigure (clinic removed or its booking
     * changed) while its request was out: the answer is discarded. */
    bool orphan;
    struct cpoll *onext; /* next orphan */
    /* Empty-answer plausibility (plaus.h, section "plausibility"): the
     * record in its host's counts, and the time of its last held answer
     * (applied with that time if the host's run releases it). */
    struct plaus_clinic plaus;
    int64_t held_at;
    /* valid while busy */
    struct adapter_ctx ctx;
    void *astate;
    struct adapter_request req;
    struct avail_slots acc;
    int64_t t0_ms;              /* monotonic ms the poll started */
    struct adapter_relay relay; /* ctx.relay: a publisher's clinic state */
};

/*
 * Clinics waiting for one host, FIFO: a freed concurrency slot or a due
 * token wakes exactly the head, so waiters neither poll the scheduler
 * nor overtake each other, with one exception: the next request of a
 * conversation already under way (RIV's timeslots after its dates) goes
 * ahead of every first request, after the continuations already there.
 * A burst of polls (a pass over every clinic) then finishes polls one
 * after another instead of taking each a step at a time: what a poll
 * holds between its steps (slots so far, answers kept unparsed) is held
 * by a few dozen polls at once, not by all of them. The host's rate is
 * the same either way. Invariant: while the queue is not empty, either
 * `wake` is pending or the host is at its concurrency limit (then the
 * next grant_release schedules `wake`). Owned by the collector; the
 * sched_host points at it (sched_host_user).
 */
struct hostq {
    struct collector *c;
    struct sched_host *h;
    struct cpoll *head, *tail; /* continuations (cont) first, then the rest */
    struct event *wake;
    struct hostq *next; /* all queues, for collector_free */
};

/* A region replaced by collector_reconfigure that polls in flight still
 * borrow; released (collector_on_release) when the last one ends. */
struct rregion {
    const struct conf_region *r;
    size_t users;
    struct rregion *next;
};

/* A sched replaced by collector_reconfigure while grants of it were out:
 * freed when the last of them is released. */
struct rsched {
    struct sched *s;
    size_t grants;
    struct rsched *next;
};

struct collector {
    struct event_base *base;
    const struct conf_region *region;
    struct fetch *fetch;
    struct clinic_state *states;
    struct cpoll **polls; /* n pointers, each owned; stable while a
                                 * poll is out (fetch and timers point at
                                 * the cpoll, not at the array) */
    size_t n;
    size_t active;
    collector_update_fn on_update;
    void *update_arg;
    bool started;
    bool pass_active;
    size_t pass_left;
    collector_pass_fn pass_done;
    void *pass_arg;
    struct event *pass_ev; /* delivers an empty pass from the loop */
    struct sched *sched;   /* per-host politeness; owned */
    struct plaus *plaus;   /* empty answers per host; owned */
    struct hostq *queues;  /* per-host wait queues; owned */
    /* reconfiguration (collector_reconfigure) */
    struct cpoll *orphans;     /* discarded polls still out; owned */
    struct rregion *retired;   /* old regions still borrowed; nodes owned */
    struct rsched *old_scheds; /* old scheds with grants out; owned */
    collector_release_fn on_release;
    void *release_arg;
    struct cpoll *resend_head, *resend_tail; /* moved off an old sched */
    struct event *resend_ev;
    /* stopping (collector_stop) */
    bool stopped;
    collector_pass_fn idle_fn;
    void *idle_arg;
    struct event *idle_ev;
    struct share *share;    /* shared documents (share.h); owned */
    bool freeing;           /* inside collector_free */
    bool no_share;          /* collector_set_sharing(c, false) */
    int64_t share_swept_at; /* clock_now() of the last idle sweep */
};

const char *collector_web_name(enum web_booking w)
{
    switch (w) {
    case WEB_OPEN:
        return "open";
    case WEB_NONE:
        return "none";
    case WEB_UNREACHABLE:
        return "unreachable";
    case WEB_UNKNOWN:
        break;
    }
    return "unknown";
}

const char *collector_status_name(enum clinic_status s)
{
    switch (s) {
    case CLINIC_OK:
        return "ok";
    case CLINIC_STALE:
        return "stale";
    case CLINIC_ERROR:
        break;
    }
    return "error";
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

/* Monotonic milliseconds: the time base of sched (evtimers run on it). */
/* Config politeness -> sched parameters; zero fields (a region built by
 * hand) take the documented defaults. */
static void polite_params(const struct conf_politeness *cp,
                          struct sched_params *sp)
{
    sched_params_default(sp);
    if (cp->rate_per_s > 0)
        sp->rate_per_s = cp->rate_per_s;
    if (cp->burst > 0)
        sp->burst = cp->burst;
    if (cp->max_concurrent_per_host > 0)
        sp->max_concurrent = cp->max_concurrent_per_host;
    if (cp->backoff_base_s > 0)
        sp->backoff_base_ms = (int64_t)cp->backoff_base_s * 1000;
    if (cp->backoff_max_s > 0)
        sp->backoff_max_ms = (int64_t)cp->backoff_max_s * 1000;
    if (sp->backoff_max_ms < sp->backoff_base_ms)
        sp->backoff_max_ms = sp->backoff_base_ms;
    if (cp->breaker_failures > 0)
        sp->breaker_failures = cp->breaker_failures;
    if (cp->breaker_cooldown_s > 0)
        sp->breaker_cooldown_ms = (int64_t)cp->breaker_cooldown_s * 1000;
}

/*
 * How an answer speaks for its host's health. A protocol-level reply in a
 * 5xx (SOAP fault, OperationOutcome) means the host is up; a bare 5xx or
 * 429, a timeout or no connection means it is struggling.
 */
static enum sched_outcome outcome_of(const struct fetch_result *res,
                                     enum adapter_status rc,
                                     enum sf_errclass step_err)
{
    if (res->err.code == SF_ERR_TRANSPORT || res->err.code == SF_ERR_TIMEOUT)
        return SCHED_FAILURE;
    if (res->err.code != SF_ERR_NONE)
        return SCHED_NEUTRAL;
    if (res->http_status == 429)
        return SCHED_FAILURE;
    if (res->http_status >= 500 && rc == ADAPTER_ERROR &&
        (step_err == SF_ERR_HTTP || step_err == SF_ERR_PARSE))
        return SCHED_FAILURE;
    return SCHED_SUCCESS;
}

/* A grant of the replaced sched s came back: free s after its last. */
static void old_sched_release(struct collector *c, struct sched *s)
{
    struct rsched **pp;

    for (pp = &c->old_scheds; *pp != NULL; pp = &(*pp)->next) {
        struct rsched *o = *pp;

        if (o->s != s)
            continue;
        if (--o->grants == 0) {
            *pp = o->next;
            sched_free(o->s);
            free(o);
        }
        return;
    }
}

/* Release p's grant with outcome o; log breaker transitions. */
static void grant_release(struct cpoll *p, enum sched_outcome o,
                          long retry_after_s)
{
    struct sched_host *h = p->grant.host;
    struct hostq *q;
    enum sched_breaker before;
    int64_t now = clock_mono_ms();

    if (!p->granted)
        return;
    p->granted = false;
    before = sched_host_breaker(h);
    sched_release(&p->grant, o, retry_after_s, now);
    if (sched_host_breaker(h) != before) {
        if (sched_host_breaker(h) == SCHED_OPENED)
            log_warn("breaker",
                     "host=%s state=open cooldown_ms=%lld "
                     "failures=%d",
                     sched_host_name(h),
                     (long long)(sched_host_open_until(h) - now),
                     sched_host_failures(h));
        else
            log_info("breaker", "host=%s state=%s", sched_host_name(h),
                     sched_breaker_name(sched_host_breaker(h)));
        if ((before == SCHED_CLOSED) != (sched_host_breaker(h) == SCHED_CLOSED))
            metrics_breaker(sched_host_key(h),
                            sched_host_breaker(h) != SCHED_CLOSED);
    }
    /* A slot is free (or the breaker moved): let the head waiter ask, from
     * the loop, so this clinic's own next request queues first (behind
     * the conversations under way, ahead of first requests: hostq). */
    q = sched_host_user(h);
    if (q != NULL && q->head != NULL) {
        struct timeval zero = { 0, 0 };

        evtimer_add(q->wake, &zero);
    }
    if (p->gsched != p->c->sched)
        old_sched_release(p->c, p->gsched);
    p->gsched = NULL;
}

/*
 * Replace every occurrence of the query identity with a marker, then
 * every personnummer (pnr.h): SOAP faults sometimes echo the request, an
 * upstream may quote anyone's number, and this text is the clinic's
 * public error (feed, clinic document, overview, store) and goes to the
 * logs. Every message put in st->error passes here.
 */
static void redact(char *s, size_t cap, const char *secret)
{
    static const char mark[] = "[redacted]";
    size_t sl, ml = sizeof(mark) - 1;
    char *p;

    if (secret == NULL || (sl = strlen(secret)) == 0) {
        pnr_scrub_buf(s, cap);
        return;
    }
    while ((p = strstr(s, secret)) != NULL) {
        size_t tail = strlen(p + sl);

        if ((size_t)(p - s) + ml + tail + 1 > cap)
            tail = cap - 1 - (size_t)(p - s) - ml;
        memmove(p + ml, p + sl, tail);
        p[ml + tail] = '\0';
        memcpy(p, mark, ml);
    }
    pnr_scrub_buf(s, cap);
}

/* --- one poll ----------------------------------------------------------- */

static void poll_send(struct cpoll *p);
static void on_fetched(const struct fetch_result *res, void *arg);
static void on_wake(evutil_socket_t fd, short what, void *arg);
static void poll_cancel(struct cpoll *p);
static void share_drop_lead(struct cpoll *p);
static void share_forget(struct collector *c, bool reload);
static void orphan_discard(struct cpoll *p);

/*
 * A poll that borrowed r has ended. r is the current region (nothing to
 * do) or a replaced one: after its last poll the owner may free it.
 */
static void region_unref(struct collector *c, const struct conf_region *r)
{
    struct rregion **pp;

    if (r == NULL || r == c->region)
        return;
    for (pp = &c->retired; *pp != NULL; pp = &(*pp)->next) {
        struct rregion *o = *pp;

        if (o->r != r)
            continue;
        if (--o->users == 0) {
            *pp = o->next;
            free(o);
            if (c->on_release)
                c->on_release(c->release_arg, r);
        }
        return;
    }
}

/* Stopped and nothing out: tell the owner, from the loop. */
static void idle_check(struct collector *c)
{
    struct timeval zero = { 0, 0 };

    if (c->stopped && c->active == 0 && c->idle_fn != NULL)
        evtimer_add(c->idle_ev, &zero);
}

/* A pass lost a member without a poll closing (reconfigure): finish it
 * from the loop when it was the last. */
static void pass_drop(struct cpoll *p)
{
    struct collector *c = p->c;
    struct timeval zero = { 0, 0 };

    if (!p->in_pass)
        return;
    p->in_pass = false;
    if (--c->pass_left == 0 && c->pass_active)
        evtimer_add(c->pass_ev, &zero);
}

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

/* Common end of every poll: no longer busy, tell the app and the pass. */
/* notify: the clinic's state changed (a poll result); false for a poll
 * cancelled at shutdown, which must not reach the store as a poll. */
static void poll_close(struct cpoll *p, bool notify)
{
    struct collector *c = p->c;
    const struct conf_region *r = p->region;

    share_drop_lead(p);
    p->busy = false;
    p->region = NULL;
    c->active--;

    if (notify && c->on_update)
        c->on_update(c->update_arg, p->idx);
    if (p->in_pass) {
        p->in_pass = false;
        if (--c->pass_left == 0 && c->pass_active)
            pass_finish(c);
    }
    region_unref(c, r);
    idle_check(c);
}

/*
 * Per-clinic backoff after a failed periodic poll: the next tick comes at
 * the regular time or after a full-jitter backoff on the clinic's run of
 * failures (base/max of its host), whichever is later.
 */
static void poll_backoff(struct cpoll *p, int failures)
{
    struct collector *c = p->c;
    struct sched_params dflt;
    const struct sched_params *sp = &dflt;
    int64_t now = clock_mono_ms(), b;
    struct timeval tv;

    if (!c->started || c->stopped || p->timer == NULL)
        return;
    if (p->home != NULL)
        sp = sched_host_params(p->home);
    else
        polite_params(&c->region->politeness, &dflt);
    b = sched_backoff_ms(sp->backoff_base_ms, sp->backoff_max_ms, failures,
                         &p->rng);
    if (now + b <= p->next_tick_ms)
        return;
    ms_to_tv((long)b, &tv);
    if (evtimer_add(p->timer, &tv) != 0)
        return;
    p->next_tick_ms = now + b;
    log_info("poll_backoff", "clinic=%s consecutive=%d next_in_ms=%lld",
             c->states[p->idx].conf->id, failures, (long long)b);
}

/*
 * The clinic's host has its breaker open: the poll ends without asking
 * (not a new failure of the clinic: checked_at and the counters stay),
 * status stale or error with a message saying until when.
 */
static void poll_skip_open(struct cpoll *p, const struct sched_host *h,
                           int64_t wait_ms)
{
    struct collector *c = p->c;
    struct clinic_state *st = &c->states[p->idx];
    char until[CLOCK_RFC3339_LEN];

    if (p->ad && p->ad->end)
        p->ad->end(p->astate);
    p->astate = NULL;
    adapter_request_clear(&p->req);
    avail_slots_clear(&p->acc);
    if (wait_ms > 0) {
        clock_format_rfc3339(clock_now() + (wait_ms + 999) / 1000, until);
        snprintf(st->error, sizeof(st->error),
                 "clinic %s: circuit open for "
                 "%s until %s",
                 st->conf->id, sched_host_name(h), until);
    } else {
        snprintf(st->error, sizeof(st->error),
                 "clinic %s: circuit "
                 "half-open for %s (probe in flight)",
                 st->conf->id, sched_host_name(h));
    }
    /* The host may be an upstream's (a SMART output URL). */
    redact(st->error, sizeof(st->error), NULL);
    /* Keep the class that describes the host's trouble, if we saw it. */
    if (st->err_class == SF_ERR_NONE)
        st->err_class = SF_ERR_TRANSPORT;
    st->status = st->has_data ? CLINIC_STALE : CLINIC_ERROR;
    log_info("poll",
             "clinic=%s outcome=skipped reason=circuit_open "
             "host=%s wait_ms=%lld",
             st->conf->id, sched_host_name(h), (long long)wait_ms);
    poll_close(p, true);
}

/* --- plausibility of empty answers (plaus.h) ------------------------------ */

/*
 * A platform fault can answer 200 with empty lists for every clinic behind
 * it. plaus.c decides whether a clinic's empty answer is applied or held;
 * this section turns its verdicts into clinic states. A held answer keeps
 * the last good data: status stale, class implausible, a message naming
 * the host; it is not a failure of the clinic (no backoff, no failure
 * count), and web_booking stays open (the host answered).
 */

static void plaus_params_of(const struct collector *c, struct plaus_params *pp)
{
    const struct conf_plausibility *cp = &c->region->plausibility;

    /* Zero fields (a region built by hand) take plaus' defaults. */
    pp->min_clinics = cp->min_clinics;
    pp->fraction = cp->fraction;
    pp->confirm_polls = cp->confirm_polls;
}

/* Attach p (clinic cc, state st or NULL) to its booking.url host. */
static int plaus_join(struct collector *c, struct cpoll *p,
                      const struct clinic_state *st, int64_t now)
{
    bool had_free =
        st != NULL && st->has_data && avail_slots_any_after(&st->slots, now);

    plaus_detach(&p->plaus);
    p->plaus.user = p;
    return plaus_attach(c->plaus, &p->plaus,
                        p->home != NULL ? sched_host_key(p->home) : NULL,
                        had_free);
}

static void plaus_message(struct cpoll *p, bool suspect)
{
    struct collector *c = p->c;
    struct clinic_state *st = &c->states[p->idx];
    struct plaus_params pp;
    int cand, held, need;

    plaus_params_of(c, &pp);
    plaus_host_counts(&p->plaus, &pp, &cand, &held, &need);
    if (pp.confirm_polls <= 0)
        pp.confirm_polls = PLAUS_DEFAULT_CONFIRM_POLLS;
    if (suspect)
        snprintf(st->error, sizeof(st->error),
                 "clinic %s: empty answer "
                 "not applied: %d of %d clinics of %s that had free times "
                 "answered empty at once (platform fault suspected); last "
                 "good data kept until %d empty answers in a row",
                 st->conf->id, held, cand, plaus_host_key(&p->plaus),
                 pp.confirm_polls);
    else
        snprintf(st->error, sizeof(st->error),
                 "clinic %s: empty answer "
                 "held until the other clinics of %s answer (%d of %d "
                 "emptied so far; %d would mean a platform fault)",
                 st->conf->id, plaus_host_key(&p->plaus), held, cand, need);
}

/* Another clinic's held answer changed fate (plaus_change_fn). */
static void on_plaus_change(void *arg, struct plaus_clinic *pc,
                            enum plaus_verdict v)
{
    struct cpoll *p = pc->user;
    struct clinic_state *st = &p->c->states[p->idx];

    (void)arg;
    if (v == PLAUS_SUSPECT) {
        if (st->err_class == SF_ERR_IMPLAUSIBLE)
            plaus_message(p, true);
        return;
    }
    /* Released: its held empty answer becomes its good data, as of when
     * it came. A failure since then keeps its own status and message. */
    avail_slots_clear(&st->slots);
    st->has_data = true;
    p->applied = false; /* the slots are not the last poll's now */
    st->valid_at = p->held_at;
    st->changed_at = p->held_at;
    if (st->err_class == SF_ERR_IMPLAUSIBLE) {
        st->status = CLINIC_OK;
        st->err_class = SF_ERR_NONE;
        st->error[0] = '\0';
    }
    log_info("poll_released", "clinic=%s host=%s reason=not_host_wide",
             st->conf->id, plaus_host_key(pc));
}

/*
 * A successful answer of p (slots in p->acc) at now: true when it is held
 * (state set: the caller only closes the poll), false to apply it.
 */
static bool plaus_hold(struct cpoll *p, int64_t now, long ms)
{
    struct collector *c = p->c;
    struct clinic_state *st = &c->states[p->idx];
    struct plaus_params pp;
    enum plaus_verdict v;
    bool event = false;
    int cand, held, need;

    plaus_params_of(c, &pp);
    v = plaus_answer(&p->plaus, !avail_slots_any_after(&p->acc, now), &pp,
                     on_plaus_change, c, &event);
    if (event) {
        plaus_host_counts(&p->plaus, &pp, &cand, &held, &need);
        metrics_implausible(plaus_host_key(&p->plaus));
        log_warn("implausible",
                 "host=%s emptied=%d of=%d need=%d "
                 "action=keep_last_good",
                 plaus_host_key(&p->plaus), held, cand, need);
    }
    if (v == PLAUS_ACCEPT)
        return false;
    avail_slots_clear(&p->acc);
    p->held_at = now;
    p->unreachable_run = 0;
    st->web = WEB_OPEN;
    st->err_class = SF_ERR_IMPLAUSIBLE;
    st->status = st->has_data ? CLINIC_STALE : CLINIC_ERROR;
    plaus_message(p, v == PLAUS_SUSPECT);
    log_warn("poll",
             "clinic=%s outcome=implausible duration_ms=%ld "
             "held=%d error=\"%s\"",
             st->conf->id, ms, p->plaus.held, st->error);
    return true;
}

/*
 * An applied answer of p came with its publisher's own state of the
 * clinic (adapter.h, struct adapter_relay: a slotfeed region read by
 * smart-bulk): the clinic is shown as the publisher shows it. Our own
 * failures still count as before (a region that stops answering makes
 * its clinics stale here, with the valid_at it last relayed).
 */
static void relay_apply(struct cpoll *p, struct clinic_state *st, int64_t now)
{
    const struct adapter_relay *r = &p->relay;
    int w, s;

    for (w = 0; w < WEB_BOOKINGS; w++)
        if (strcmp(r->web, collector_web_name((enum web_booking)w)) == 0)
            break;
    for (s = CLINIC_OK; s <= CLINIC_ERROR; s++)
        if (strcmp(r->status, collector_status_name((enum clinic_status)s)) ==
            0)
            break;
    if (!r->set || w == WEB_BOOKINGS || s > CLINIC_ERROR)
        return;
    st->web = (enum web_booking)w;
    st->status = (enum clinic_status)s;
    /* "error" is "no data at all" upstream: show none either. */
    if (st->status == CLINIC_ERROR && st->has_data) {
        if (st->slots.n > 0)
            st->changed_at = now;
        avail_slots_clear(&st->slots);
        st->has_data = false;
    }
    /* The publisher's times (so our age rule sees data a stale cache
     * keeps serving); absent: never, unless ok (a clinic without booking
     * is never polled there: ours then, or it would age into stale). */
    if (r->valid_at > 0 || st->status != CLINIC_OK)
        st->valid_at = r->valid_at <= now ? r->valid_at : now;
    if (r->checked_at > 0 || st->status != CLINIC_OK)
        st->checked_at = r->checked_at <= now ? r->checked_at : now;
    st->err_class = r->err_class;
    snprintf(st->error, sizeof(st->error), "%s",
             r->err_class != SF_ERR_NONE ? r->error : "");
    redact(st->error, sizeof(st->error), p->c->region->riv_subject_of_care);
    sf_utf8_fix(st->error);
}

/*
 * End the poll of p: ok, or failed with err (label: the failing step).
 * label and err may point into p->req (callers pass p->req.label), which
 * is freed below: both are copied first.
 */
static void poll_finish(struct cpoll *p, bool ok, const struct sf_error *in,
                        const char *in_label)
{
    struct collector *c = p->c;
    struct clinic_state *st = &c->states[p->idx];
    int64_t now = clock_now();
    long ms = (long)(clock_mono_ms() - p->t0_ms);
    struct sf_error ecopy;
    const struct sf_error *err = &ecopy;
    char lbuf[64];
    const char *label = NULL;

    sf_error_clear(&ecopy);
    if (in != NULL)
        ecopy = *in;
    if (in_label != NULL) {
        snprintf(lbuf, sizeof(lbuf), "%s", in_label);
        label = lbuf;
    }
    grant_release(p, SCHED_NEUTRAL, -1); /* callers release; be sure */
    if (p->ad && p->ad->end)
        p->ad->end(p->astate);
    p->astate = NULL;
    adapter_request_clear(&p->req);

    st->checked_at = now;
    st->polls++;
    /* The adapter found the last poll's answers again: its slots are the
     * clinic's (ctx.last_applied), so they are this poll's too. */
    if (ok && p->same) {
        if (!st->has_data) {
            ok = false;
            sf_error_set(&ecopy, SF_ERR_INTERNAL,
                         "adapter %s: unchanged answers, but no slots kept",
                         p->ad->name);
        } else if (avail_slots_share(&p->acc, &st->slots, 0) != 0) {
            ok = false;
            sf_error_set(&ecopy, SF_ERR_NOMEM, "out of memory");
        }
    }
    if (ok && plaus_hold(p, now, ms)) {
        metrics_poll(SF_ERR_IMPLAUSIBLE);
        poll_close(p, true);
        return;
    }
    if (ok) {
        avail_slots_sort(&p->acc);
        /* Only content changes move changed_at (design.md §7.2). */
        if (!st->has_data || !avail_slots_equal(&st->slots, &p->acc)) {
            /* Kept for a poll interval: no spare growth capacity. */
            avail_slots_shrink(&p->acc);
            avail_slots_move(&st->slots, &p->acc);
            /* The feed shares it (availability.h); unfrozen, it copies. */
            (void)avail_slots_freeze(&st->slots);
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
        relay_apply(p, st, now);
        p->applied = !p->relay.set;
        if (p->same)
            metrics_poll_same();
        log_info("poll", "clinic=%s outcome=ok duration_ms=%ld slots=%zu%s",
                 st->conf->id, ms, st->slots.n, p->same ? " unchanged=1" : "");
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
        /* The cut to st->error's size may split a UTF-8 sequence. */
        sf_utf8_fix(st->error);
        log_warn("poll",
                 "clinic=%s outcome=%s duration_ms=%ld "
                 "consecutive=%d error=\"%s\"",
                 st->conf->id, sf_errclass_name(err->code), ms,
                 st->consecutive_failures, st->error);
        poll_backoff(p, st->consecutive_failures);
    }
    metrics_poll(ok ? SF_ERR_NONE : err->code);
    poll_close(p, true);
}

/* Free a cpoll that has no poll out (or whose poll was just ended). */
static void cpoll_free(struct cpoll *p)
{
    if (p == NULL)
        return;
    plaus_detach(&p->plaus);
    if (p->timer)
        event_free(p->timer);
    if (p->kick)
        event_free(p->kick);
    free(p->rurl);
    share_drop_lead(p);
    if (p->busy && p->ad && p->ad->end)
        p->ad->end(p->astate);
    adapter_request_clear(&p->req);
    avail_slots_clear(&p->acc);
    if (p->cache && p->ad && p->ad->cache_free)
        p->ad->cache_free(p->cache);
    free(p);
}

/*
 * End an orphan's poll without touching any clinic state: unlink it,
 * free it, and let go of the region it borrowed. Its grant, if any, was
 * released by the caller.
 */
static void orphan_discard(struct cpoll *p)
{
    struct collector *c = p->c;
    const struct conf_region *r = p->region;
    struct cpoll **pp;

    for (pp = &c->orphans; *pp != NULL; pp = &(*pp)->onext)
        if (*pp == p) {
            *pp = p->onext;
            break;
        }
    log_info("poll_discarded", "clinic=%s reason=reconfigured",
             p->ctx.clinic && p->ctx.clinic->id ? p->ctx.clinic->id : "?");
    cpoll_free(p); /* ends the adapter's conversation */
    c->active--;
    region_unref(c, r);
    idle_check(c);
}

/*
 * The answer to p's request: res from fetch, or, for a shared document,
 * d (the stored body; res then only says how the real request went, for
 * the leader's politeness). Waiters and cache hits hold no grant, so
 * their grant_release does nothing.
 */
static void poll_answer(struct cpoll *p, const struct fetch_result *res,
                        struct share_doc *d)
{
    struct adapter_response resp;
    struct adapter_request next;
    struct sf_error err;
    enum adapter_status rc;
    char label[64];

    if (p->orphan) {
        /* The host did answer (or not): that still counts for its
         * politeness; the content is for a clinic no longer configured
         * this way. */
        enum sched_outcome o = outcome_of(res, ADAPTER_DONE, SF_ERR_NONE);

        grant_release(p, o == SCHED_SUCCESS ? SCHED_NEUTRAL : o, -1);
        orphan_discard(p);
        return;
    }
    snprintf(label, sizeof(label), "%s",
             p->req.label ? p->req.label : "request");
    if (res->err.code != SF_ERR_NONE) {
        grant_release(p, outcome_of(res, ADAPTER_ERROR, res->err.code), -1);
        poll_finish(p, false, &res->err, label);
        return;
    }
    memset(&resp, 0, sizeof(resp));
    if (d != NULL) {
        share_doc_response(d, &resp);
    } else {
        resp.http_status = res->http_status;
        resp.body = res->body;
        resp.len = res->len;
        resp.content_type = res->content_type;
        resp.etag = res->etag;
        resp.last_modified = res->last_modified;
    }
    memset(&next, 0, sizeof(next));
    sf_error_clear(&err);
    rc = p->ad->step(&p->ctx, p->astate, &resp, &p->acc, &next, &err);
    share_doc_parsed(d); /* the parsed form stands for the text now */
    /* Free the host's slot before the next request of the conversation
     * asks for one. Retry-After only means something on 429/503. */
    grant_release(p, outcome_of(res, rc, err.code),
                  res->http_status == 429 || res->http_status == 503
                      ? res->retry_after_s
                      : -1);
    switch (rc) {
    case ADAPTER_DONE:
        adapter_request_clear(&next);
        poll_finish(p, true, NULL, NULL);
        break;
    case ADAPTER_MORE:
        adapter_request_clear(&p->req);
        p->req = next;
        p->cont = true;
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

/*
 * A transfer ended. When it fetched a shared document, the same answer
 * (the stored body, or the failure with its class) goes to the leader
 * first and then to every poll that waited for it, in arrival order.
 */
static void on_fetched(const struct fetch_result *res, void *arg)
{
    struct cpoll *p = arg;
    struct share_doc *d = NULL;
    void **w = NULL;
    size_t nw = 0;

    if (p->sh_lead != NULL) {
        w = share_settle(p->c->share, p->sh_lead, res, clock_now(), &d, &nw);
        p->sh_lead = NULL;
    }
    poll_answer(p, res, d); /* may free p */
    for (size_t i = 0; i < nw; i++)
        poll_answer(w[i], res, d);
    free(w);
    share_doc_unref(d);
}

/* The request's host: resolved once per distinct URL, not on every ask
 * (URL parsing is most of sched_host_get's cost). */
static struct sched_host *poll_host(struct cpoll *p, struct sf_error *err)
{
    struct sched_host *h;
    char *u;

    if (p->rhost != NULL && p->rurl != NULL && strcmp(p->rurl, p->req.url) == 0)
        return p->rhost;
    h = sched_host_get(p->c->sched, p->req.url, err);
    if (h == NULL)
        return NULL;
    u = strdup(p->req.url);
    free(p->rurl);
    p->rurl = u;
    p->rhost = u ? h : NULL; /* no copy: just ask again next time */
    return h;
}

/* The wait queue of h, created on first use; NULL when out of memory. */
static struct hostq *hostq_of(struct collector *c, struct sched_host *h)
{
    struct hostq *q = sched_host_user(h);

    if (q != NULL)
        return q;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->wake = evtimer_new(c->base, on_wake, q);
    if (q->wake == NULL) {
        free(q);
        return NULL;
    }
    q->c = c;
    q->h = h;
    q->next = c->queues;
    c->queues = q;
    sched_host_set_user(h, q);
    return q;
}

/* Append p to a list of waiters linked by qnext (a host's queue, the
 * resend list). */
static void cpoll_append(struct cpoll **head, struct cpoll **tail,
                         struct cpoll *p)
{
    p->qnext = NULL;
    if (*tail != NULL)
        (*tail)->qnext = p;
    else
        *head = p;
    *tail = p;
}

/* sched said "wait" to the head: ask again after wait_ms, unless the host
 * is at its concurrency limit (then the next release wakes the queue). */
static void hostq_arm(struct hostq *q, int64_t wait_ms)
{
    struct timeval tv;

    if (sched_host_inflight(q->h) >= sched_host_params(q->h)->max_concurrent)
        return;
    ms_to_tv((long)(wait_ms > 0 ? wait_ms : 1), &tv);
    evtimer_add(q->wake, &tv);
}

/* The granted request of p goes out. */
static void poll_go(struct cpoll *p)
{
    struct sf_error err;

    sf_error_clear(&err);
    p->granted = true;
    p->gsched = p->c->sched;
    if (fetch_start(p->c->fetch, &p->req, on_fetched, p, &err) != 0) {
        grant_release(p, SCHED_NEUTRAL, -1);
        poll_finish(p, false, &err, p->req.label);
    }
}

/*
 * Hand out what the host allows to its waiters, in arrival order: stop
 * at the first "wait" (and arm for it); an open breaker ends each
 * waiter's poll, as it would have a fresh ask.
 */
static void hostq_pump(struct hostq *q)
{
    while (q->head != NULL) {
        struct cpoll *p = q->head;
        int64_t wait = 0;
        enum sched_verdict v;

        v = sched_acquire(q->h, clock_mono_ms(), &wait, &p->grant);
        if (v == SCHED_WAIT) {
            hostq_arm(q, wait);
            return;
        }
        q->head = p->qnext;
        if (q->head == NULL)
            q->tail = NULL;
        p->qnext = NULL;
        p->queued = false;
        if (v == SCHED_GO)
            poll_go(p);
        else
            poll_skip_open(p, q->h, wait);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hostq_pump(arg);
}

/* --- shared documents (share.h, adapter.h) ------------------------------- */

/*
 * How long a shared body answers without a request: half the poll
 * interval (the region has one interval for all its clinics). A clinic's
 * answer is then at most that much older than its poll, and a publisher
 * sees at most two (conditional) requests per document per interval,
 * however many of its Locations are configured.
 */
static int64_t share_fresh_s(const struct collector *c)
{
    return interval_ms(c) / 2000;
}

/* p leads the fetch of a shared document: the conditional headers are
 * the cache's (the adapter's own describe its per-clinic memory, not the
 * stored body a 304 would hand out). */
static void share_validators(struct adapter_request *r,
                             const struct share_doc *d)
{
    size_t w = 0, i;

    for (i = 0; i < ADAPTER_MAX_HEADERS && r->headers[i] != NULL; i++) {
        if (strncasecmp(r->headers[i], "If-None-Match:", 14) == 0 ||
            strncasecmp(r->headers[i], "If-Modified-Since:", 18) == 0) {
            free(r->headers[i]);
            continue;
        }
        r->headers[w++] = r->headers[i];
    }
    for (i = w; i < ADAPTER_MAX_HEADERS; i++)
        r->headers[i] = NULL;
    /* A validator that cannot be a header line is simply not sent. */
    if (d != NULL && d->etag != NULL)
        (void)adapter_request_add_header(r, "If-None-Match", d->etag);
    if (d != NULL && d->last_modified != NULL)
        (void)adapter_request_add_header(r, "If-Modified-Since",
                                         d->last_modified);
}

/*
 * p's leader role ends without an answer (cancelled at shutdown, circuit
 * open, discarded, or the request could not start): its waiters go their
 * own way, each sending its request alone (politeness decides for each,
 * as it did for the leader). Not while the collector is being freed.
 */
static void share_drop_lead(struct cpoll *p)
{
    void **w;
    size_t nw = 0;

    if (p->sh_lead == NULL)
        return;
    w = share_abandon(p->c->share, p->sh_lead, &nw);
    p->sh_lead = NULL;
    for (size_t i = 0; i < nw && !p->c->freeing; i++) {
        struct cpoll *q = w[i];

        if (q->orphan) {
            orphan_discard(q); /* nothing was asked for it */
            continue;
        }
        q->req.shared = false;
        poll_send(q);
    }
    free(w);
}

/*
 * A request marked shared: answered from the cache, parked behind the
 * same request in flight, or led by p (conditional on the stored body's
 * validators). Returns true when p is taken care of, false when p sends
 * its request (as leader or alone) through politeness as usual.
 */
static bool share_route(struct cpoll *p)
{
    struct collector *c = p->c;
    struct share_entry *e;
    struct share_doc *d;
    struct fetch_result hit;

    share_forget(c, false);
    switch (share_ask(c->share, p->req.url, p->ctx.clinic->booking.url,
                      clock_now(), share_fresh_s(c), p, &e, &d)) {
    case SHARE_HIT:
        memset(&hit, 0, sizeof(hit));
        hit.http_status = 200;
        hit.retry_after_s = -1;
        log_debug("share_hit", "clinic=%s label=%s", c->states[p->idx].conf->id,
                  p->req.label ? p->req.label : "request");
        poll_answer(p, &hit, d);
        share_doc_unref(d);
        return true;
    case SHARE_WAIT:
        return true;
    case SHARE_LEAD:
        p->sh_lead = e;
        share_validators(&p->req, d);
        return false;
    case SHARE_BYPASS:
        break;
    }
    return false;
}

/*
 * Send p->req when the host's politeness allows: now, or when p reaches
 * the head of the host's wait queue and sched says go (never a busy
 * loop); a host whose breaker is open ends the poll without asking.
 * Every request of a multi-step conversation comes through here.
 */
static void poll_send(struct cpoll *p)
{
    struct collector *c = p->c;
    struct sched_host *h;
    struct hostq *q;
    struct sf_error err;
    int64_t wait = 0;
    enum sched_verdict v = SCHED_WAIT;

    if (p->req.shared && !c->no_share && p->sh_lead == NULL && !p->queued &&
        share_route(p))
        return;
    sf_error_clear(&err);
    h = poll_host(p, &err);
    if (h == NULL) {
        poll_finish(p, false, &err, p->req.label);
        return;
    }
    q = hostq_of(c, h);
    if (q == NULL) {
        sf_error_set(&err, SF_ERR_NOMEM,
                     "collector: out of memory queueing "
                     "for %s",
                     sched_host_name(h));
        poll_finish(p, false, &err, p->req.label);
        return;
    }
    /* Others already wait: no overtaking, join the end of the line. */
    if (q->head == NULL)
        v = sched_acquire(h, clock_mono_ms(), &wait, &p->grant);
    switch (v) {
    case SCHED_GO:
        poll_go(p);
        return;
    case SCHED_WAIT:
        if (c->stopped) {
            /* Shutting down: a step that must wait is not sent. */
            poll_cancel(p);
            return;
        }
        p->queued = true;
        if (p->cont) {
            /* After the continuations, before first requests: a few
             * dozen at most (the polls under way), so walked. */
            struct cpoll **at = &q->head;

            while (*at != NULL && (*at)->cont)
                at = &(*at)->qnext;
            p->qnext = *at;
            *at = p;
            if (p->qnext == NULL)
                q->tail = p;
        } else {
            cpoll_append(&q->head, &q->tail, p);
        }
        if (q->head == p)
            hostq_arm(q, wait);
        log_debug("sched_wait", "clinic=%s host=%s wait_ms=%lld",
                  c->states[p->idx].conf->id, sched_host_name(h),
                  (long long)wait);
        return;
    case SCHED_OPEN:
        poll_skip_open(p, h, wait);
        return;
    }
}

/* Start a poll of p; always called from the loop (a timer). */
static void poll_begin(struct cpoll *p)
{
    struct collector *c = p->c;
    struct sf_error err;
    enum adapter_status rc;
    int32_t today;

    p->busy = true;
    p->cont = false;
    c->active++;
    p->t0_ms = clock_mono_ms();
    memset(&p->ctx, 0, sizeof(p->ctx));
    p->ctx.region = c->region;
    p->region = c->region;
    p->ctx.clinic = c->states[p->idx].conf;
    p->ctx.now = clock_now();
    p->ctx.cache = &p->cache;
    p->ctx.last_applied = p->applied;
    p->applied = false; /* until this poll's slots are */
    p->same = false;
    p->ctx.same = &p->same;
    memset(&p->relay, 0, sizeof(p->relay));
    p->ctx.relay = &p->relay;
    today = clock_local_day(p->ctx.now);
    p->ctx.first_day = today;
    p->ctx.last_day =
        today + (c->region->horizon_days > 0 ? c->region->horizon_days : 1) - 1;
    p->astate = NULL;
    memset(&p->req, 0, sizeof(p->req));
    avail_slots_init(&p->acc);
    sf_error_clear(&err);
    plaus_begin(&p->plaus);

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
    if (p->c->stopped)
        return;
    /* Re-arm first: the cadence does not drift with poll duration. */
    ms = base_ms;
    if (jit > 0)
        ms += (long)(hash_splitmix64(&p->rng) % (uint64_t)(2 * jit + 1)) - jit;
    ms_to_tv(ms, &tv);
    evtimer_add(p->timer, &tv);
    p->next_tick_ms = clock_mono_ms() + ms;
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
    if (!p->busy && !p->c->stopped)
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

/* The region's politeness as a sched: defaults plus per-host overrides. */
static int make_sched(const struct conf_region *r, struct sched **out,
                      struct sf_error *err)
{
    struct sched_params sp;
    size_t i;

    polite_params(&r->politeness, &sp);
    *out = sched_new(&sp);
    if (*out == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "collector: out of memory");
        return -1;
    }
    for (i = 0; i < r->npolite_hosts; i++) {
        polite_params(&r->polite_hosts[i].p, &sp);
        if (sched_set_host_params(*out, r->polite_hosts[i].host, &sp, err) !=
            0) {
            sched_free(*out);
            *out = NULL;
            return -1;
        }
    }
    return 0;
}

static void on_resend(evutil_socket_t fd, short what, void *arg);
static void on_idle(evutil_socket_t fd, short what, void *arg);

/* Fresh state of clinic cc, as before its first poll. */
static void state_init(struct clinic_state *st, const struct conf_clinic *cc)
{
    memset(st, 0, sizeof(*st));
    st->conf = cc;
    avail_slots_init(&st->slots);
    st->err_class = SF_ERR_NONE;
    /* Known answer without asking: no web booking. */
    st->web = cc->has_booking ? WEB_UNKNOWN : WEB_NONE;
    st->status = cc->has_booking ? CLINIC_ERROR : CLINIC_OK;
}

/* Poll machinery of clinic cc at index idx, hosts looked up in s. NULL
 * with err set on failure (unknown adapter, out of memory). */
static struct cpoll *cpoll_new(struct collector *c, struct sched *s,
                               const struct conf_clinic *cc, size_t idx,
                               struct sf_error *err)
{
    struct cpoll *p = calloc(1, sizeof(*p));

    if (p == NULL)
        goto nomem;
    p->c = c;
    p->idx = idx;
    avail_slots_init(&p->acc);
    if (!cc->has_booking)
        return p;
    p->ad = adapter_find(cc->booking.adapter);
    if (p->ad == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "clinic %s: unknown adapter \"%s\"",
                     cc->id,
                     cc->booking.adapter ? cc->booking.adapter : "(none)");
        free(p);
        return NULL;
    }
    p->rng = hash_fnv1a_str(cc->id);
    p->timer = evtimer_new(c->base, on_tick, p);
    p->kick = evtimer_new(c->base, on_kick, p);
    if (p->timer == NULL || p->kick == NULL) {
        cpoll_free(p);
        goto nomem;
    }
    /* For its backoff parameters and its plausibility host; requests
     * look up their own. */
    p->home = sched_host_get(s, cc->booking.url, NULL);
    if (plaus_join(c, p, NULL, 0) != 0) {
        cpoll_free(p);
        goto nomem;
    }
    return p;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "collector: out of memory");
    return NULL;
}

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
    c->resend_ev = evtimer_new(base, on_resend, c);
    c->idle_ev = evtimer_new(base, on_idle, c);
    if (c->pass_ev == NULL || c->resend_ev == NULL || c->idle_ev == NULL)
        goto nomem;
    if (make_sched(region, &c->sched, err) != 0) {
        collector_free(c);
        return NULL;
    }
    if ((c->plaus = plaus_new()) == NULL)
        goto nomem;
    if ((c->share = share_new(SHARE_MAX_ENTRIES, SHARE_MAX_BYTES)) == NULL)
        goto nomem;
    if (c->n > 0) {
        c->states = calloc(c->n, sizeof(*c->states));
        c->polls = calloc(c->n, sizeof(*c->polls));
        if (c->states == NULL || c->polls == NULL)
            goto nomem;
    }
    for (i = 0; i < c->n; i++) {
        state_init(&c->states[i], &region->clinics[i]);
        c->polls[i] = cpoll_new(c, c->sched, &region->clinics[i], i, err);
        if (c->polls[i] == NULL) {
            collector_free(c);
            return NULL;
        }
    }
    return c;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "collector: out of memory");
    collector_free(c);
    return NULL;
}

void collector_on_update(struct collector *c, collector_update_fn fn, void *arg)
{
    if (c == NULL)
        return;
    c->on_update = fn;
    c->update_arg = arg;
}

void collector_on_release(struct collector *c, collector_release_fn fn,
                          void *arg)
{
    if (c == NULL)
        return;
    c->on_release = fn;
    c->release_arg = arg;
}

long collector_stagger_ms(const char *clinic_id, long interval_ms)
{
    if (interval_ms <= 0)
        return 0;
    /* FNV's low bits alone mix poorly for ids that differ only in their
     * last characters: splitmix64's finaliser spreads them. */
    return (long)(hash_mix64(hash_fnv1a_str(clinic_id)) %
                  (uint64_t)interval_ms);
}

/* Arm p's periodic timer delay_ms from now. */
static int arm_tick(struct cpoll *p, long delay_ms)
{
    struct timeval tv;

    ms_to_tv(delay_ms, &tv);
    if (evtimer_add(p->timer, &tv) != 0)
        return -1;
    p->next_tick_ms = clock_mono_ms() + delay_ms;
    return 0;
}

int collector_start(struct collector *c)
{
    long iv;
    size_t i;

    if (c == NULL || c->stopped)
        return -1;
    if (c->started)
        return 0;
    iv = interval_ms(c);
    for (i = 0; i < c->n; i++) {
        struct cpoll *p = c->polls[i];

        if (p->ad == NULL)
            continue;
        /* Deterministic stagger: the same clinic always lands at the same
         * offset, and clinics spread evenly over the interval. */
        if (arm_tick(p, collector_stagger_ms(c->states[i].conf->id, iv)) != 0)
            return -1;
    }
    c->started = true;
    return 0;
}

int collector_poll_all(struct collector *c, collector_pass_fn done, void *arg)
{
    struct timeval zero = { 0, 0 };
    size_t i;

    if (c == NULL || c->pass_active || c->stopped)
        return -1;
    c->pass_active = true;
    c->pass_done = done;
    c->pass_arg = arg;
    c->pass_left = 0;
    for (i = 0; i < c->n; i++) {
        struct cpoll *p = c->polls[i];

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

/* --- reconfiguration ------------------------------------------------------ */

/* Does a clinic of the current region still poll from root? */
static bool share_keep(void *arg, const char *root)
{
    const struct collector *c = arg;

    for (size_t i = 0; i < c->n; i++) {
        const struct conf_clinic *cc = c->states[i].conf;

        if (cc->has_booking && cc->booking.url != NULL &&
            strcmp(cc->booking.url, root) == 0)
            return true;
    }
    return false;
}

/*
 * Drop shared documents no clinic reads any more: at a reload, those of a
 * booking URL no clinic has now (a scan of the clinics per entry: reloads
 * are rare); at most once an interval otherwise, those nobody asked for
 * in four intervals (a file its manifest stopped listing).
 */
static void share_forget(struct collector *c, bool reload)
{
    int64_t now = clock_now();
    size_t gone;

    if (!reload && now - c->share_swept_at < interval_ms(c) / 1000)
        return;
    c->share_swept_at = now;
    gone = share_sweep(c->share, reload ? share_keep : NULL, c, now,
                       4 * interval_ms(c) / 1000);

    if (gone > 0)
        log_debug("share_dropped", "entries=%zu", gone);
}

static bool str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Same booking block (any difference resets the clinic's cache and
 * state): the adapter compares its own keys (adapter.h conf_same). */
static bool booking_same(const struct conf_clinic *a,
                         const struct conf_clinic *b)
{
    if (a->has_booking != b->has_booking)
        return false;
    return !a->has_booking || adapter_booking_same(&a->booking, &b->booking);
}

static bool params_same(const struct conf_politeness *a,
                        const struct conf_politeness *b)
{
    struct sched_params x, y;

    polite_params(a, &x);
    polite_params(b, &y);
    return x.rate_per_s == y.rate_per_s && x.burst == y.burst &&
           x.max_concurrent == y.max_concurrent &&
           x.backoff_base_ms == y.backoff_base_ms &&
           x.backoff_max_ms == y.backoff_max_ms &&
           x.breaker_failures == y.breaker_failures &&
           x.breaker_cooldown_ms == y.breaker_cooldown_ms;
}

/* Would a and b build the same sched? */
static bool polite_same(const struct conf_region *a,
                        const struct conf_region *b)
{
    size_t i;

    if (!params_same(&a->politeness, &b->politeness) ||
        a->npolite_hosts != b->npolite_hosts)
        return false;
    for (i = 0; i < a->npolite_hosts; i++)
        if (!str_eq(a->polite_hosts[i].host, b->polite_hosts[i].host) ||
            !params_same(&a->polite_hosts[i].p, &b->polite_hosts[i].p))
            return false;
    return true;
}

struct id_idx {
    const char *id;
    size_t idx;
};

static int id_idx_cmp(const void *a, const void *b)
{
    return strcasecmp(((const struct id_idx *)a)->id,
                      ((const struct id_idx *)b)->id);
}

/*
 * Take the polls waiting for their host (in a wait queue or the resend
 * list) out: only orphans, or all of them (shutdown). Returns them as a
 * list through qnext. A waiting poll holds no grant and has no request
 * out, so the caller may end it at once.
 */
static void unqueue_list(struct cpoll **head, struct cpoll **tail, bool all,
                         struct cpoll **drop)
{
    struct cpoll **pp, *p, *prev = NULL;

    for (pp = head; (p = *pp) != NULL;) {
        if (!all && !p->orphan) {
            prev = p;
            pp = &p->qnext;
            continue;
        }
        *pp = p->qnext;
        p->queued = false;
        p->qnext = *drop;
        *drop = p;
    }
    *tail = prev;
}

static struct cpoll *unqueue(struct collector *c, bool all)
{
    struct cpoll *drop = NULL;
    struct hostq *q;

    for (q = c->queues; q != NULL; q = q->next)
        unqueue_list(&q->head, &q->tail, all, &drop);
    unqueue_list(&c->resend_head, &c->resend_tail, all, &drop);
    return drop;
}

/* Discard the orphans waiting for their host. */
static void unqueue_orphans(struct collector *c)
{
    struct cpoll *p, *drop = unqueue(c, false);

    while (drop != NULL) {
        p = drop;
        drop = p->qnext;
        p->qnext = NULL;
        orphan_discard(p);
    }
}

/*
 * Shutdown: end a poll that waits for its host without recording
 * anything. Nothing was asked of the host for this step, so the clinic
 * keeps its state as it was (a half-done conversation's slots are
 * dropped, as any unfinished poll's would be).
 */
static void poll_cancel(struct cpoll *p)
{
    if (p->ad && p->ad->end)
        p->ad->end(p->astate);
    p->astate = NULL;
    adapter_request_clear(&p->req);
    avail_slots_clear(&p->acc);
    log_debug("poll_cancelled", "clinic=%s reason=shutdown",
              p->c->states[p->idx].conf->id);
    poll_close(p, false);
}

/* Swap in sched ns: the waiters of every old queue go to the resend list
 * (asked again from the loop, on ns); the old sched lives on in node o
 * while grants of it are out. */
static void swap_sched(struct collector *c, struct sched *ns, struct rsched *o)
{
    struct timeval zero = { 0, 0 };
    struct cpoll *p;
    size_t i, grants = 0;

    while (c->queues != NULL) {
        struct hostq *q = c->queues;

        c->queues = q->next;
        while ((p = q->head) != NULL) {
            q->head = p->qnext;
            cpoll_append(&c->resend_head, &c->resend_tail, p);
        }
        sched_host_set_user(q->h, NULL);
        event_free(q->wake);
        free(q);
    }
    for (i = 0; i < c->n; i++) {
        p = c->polls[i];
        if (p->granted && p->gsched == c->sched)
            grants++;
        free(p->rurl);
        p->rurl = NULL;
        p->rhost = NULL;
        p->home = p->ad != NULL
                      ? sched_host_get(ns, c->states[i].conf->booking.url, NULL)
                      : NULL;
    }
    for (p = c->orphans; p != NULL; p = p->onext) {
        if (p->granted && p->gsched == c->sched)
            grants++;
        free(p->rurl);
        p->rurl = NULL;
        p->rhost = NULL;
        p->home = NULL;
    }
    if (grants > 0) {
        o->s = c->sched;
        o->grants = grants;
        o->next = c->old_scheds;
        c->old_scheds = o;
    } else {
        sched_free(c->sched);
        free(o);
    }
    c->sched = ns;
    if (c->resend_head != NULL)
        evtimer_add(c->resend_ev, &zero);
}

/* collector_reconfigure, step 1: match the new region's clinics to the
 * old ones by id (from/to) and make a poll for each new or changed clinic
 * (fresh).  Only this step can fail; the collector is not touched. */
static int reconf_match(struct collector *c, const struct conf_region *r,
                        struct sched *ns, struct id_idx *order, long *from,
                        long *to, bool *fresh, struct cpoll **npolls,
                        struct sf_error *err)
{
    size_t i, nn = r->nclinics;

    for (i = 0; i < c->n; i++) {
        order[i].id = c->states[i].conf->id;
        order[i].idx = i;
        to[i] = -1;
    }
    if (c->n > 0)
        qsort(order, c->n, sizeof(*order), id_idx_cmp);
    for (i = 0; i < nn; i++) {
        const struct conf_clinic *cc = &r->clinics[i];
        struct id_idx key = { cc->id, 0 }, *hit = NULL;

        from[i] = -1;
        if (c->n > 0 && cc->id != NULL)
            hit = bsearch(&key, order, c->n, sizeof(*order), id_idx_cmp);
        if (hit != NULL && to[hit->idx] < 0) {
            to[hit->idx] = (long)i;
            from[i] = (long)hit->idx;
        }
        /* Kept as is only when nothing a poll sends has changed. */
        fresh[i] =
            from[i] < 0 || !booking_same(c->states[from[i]].conf, cc) ||
            (cc->has_booking &&
             (!str_eq(c->region->riv_subject_of_care, r->riv_subject_of_care) ||
              !str_eq(c->region->riv_actor_type, r->riv_actor_type)));
        if (fresh[i] &&
            (npolls[i] = cpoll_new(c, ns ? ns : c->sched, cc, i, err)) == NULL)
            return -1;
    }
    return 0;
}

/* collector_reconfigure, commit step 1: the old polls of removed or
 * changed clinics go; kept ones stay for reconf_carry_states. */
static void reconf_drop_old(struct collector *c, const long *to,
                            const bool *fresh, struct collector_diff *d)
{
    struct cpoll *p;
    size_t i;

    for (i = 0; i < c->n; i++) {
        bool kept = to[i] >= 0 && !fresh[to[i]];

        p = c->polls[i];
        if (to[i] < 0) {
            d->removed++;
            avail_slots_clear(&c->states[i].slots);
        }
        if (kept)
            continue;
        /* Removed or changed: its machinery goes; a poll still out
         * becomes an orphan whose answer is thrown away. */
        pass_drop(p);
        plaus_detach(&p->plaus);
        if (!p->busy) {
            cpoll_free(p);
            continue;
        }
        if (p->timer)
            event_free(p->timer);
        if (p->kick)
            event_free(p->kick);
        p->timer = p->kick = NULL;
        p->orphan = true;
        p->onext = c->orphans;
        c->orphans = p;
    }
}

/* collector_reconfigure, commit step 2: build the new state of each
 * clinic, carrying over what a matched clinic had. */
static void reconf_carry_states(struct collector *c,
                                const struct conf_region *r, const long *from,
                                const bool *fresh, struct clinic_state *nstates,
                                struct cpoll **npolls, struct collector_diff *d)
{
    size_t i, nn = r->nclinics;

    for (i = 0; i < nn; i++) {
        const struct conf_clinic *cc = &r->clinics[i];

        if (from[i] < 0) {
            state_init(&nstates[i], cc);
            d->added++;
            continue;
        }
        /* Matched: slots, web status, timestamps and counters carry over. */
        nstates[i] = c->states[from[i]];
        nstates[i].conf = cc;
        if (!fresh[i]) {
            npolls[i] = c->polls[from[i]];
            npolls[i]->idx = i;
            d->kept++;
            continue;
        }
        d->changed++;
        /* Its host already exists (cpoll_new joined it): cannot fail. */
        plaus_join(c, npolls[i], &nstates[i], clock_now());
        if (!cc->has_booking) {
            struct clinic_state *st = &nstates[i];

            avail_slots_clear(&st->slots);
            st->has_data = false;
            st->web = WEB_NONE;
            st->status = CLINIC_OK;
            st->err_class = SF_ERR_NONE;
            st->error[0] = '\0';
            st->consecutive_failures = 0;
        } else if (!c->states[from[i]].conf->has_booking) {
            nstates[i].web = WEB_UNKNOWN;
            nstates[i].status = CLINIC_ERROR;
        }
    }
}

/* collector_reconfigure, last step, on the new clinic list.  Schedule:
 * added clinics at their stagger in the (new) interval, changed ones now,
 * kept ones no later than one new interval. */
static void reconf_arm(struct collector *c, const long *from, const bool *fresh)
{
    struct cpoll *p;
    size_t i;
    long iv = interval_ms(c);

    if (c->started) {
        int64_t now = clock_mono_ms();
        struct timeval zero = { 0, 0 };

        for (i = 0; i < c->n; i++) {
            p = c->polls[i];
            if (p->ad == NULL)
                continue;
            if (from[i] < 0) {
                arm_tick(p, collector_stagger_ms(c->states[i].conf->id, iv));
            } else if (fresh[i]) {
                evtimer_add(p->kick, &zero);
                arm_tick(p, iv);
            } else if (p->next_tick_ms - now > iv) {
                arm_tick(p, collector_stagger_ms(c->states[i].conf->id, iv));
            }
        }
    }
}

int collector_reconfigure(struct collector *c, const struct conf_region *r,
                          struct collector_diff *diff, struct sf_error *err)
{
    struct collector_diff d;
    struct clinic_state *nstates = NULL;
    struct cpoll **npolls = NULL, *p;
    struct id_idx *order = NULL;
    long *from = NULL; /* new index -> old index, or -1 */
    long *to = NULL;   /* old index -> new index, or -1 */
    bool *fresh = NULL;
    struct sched *ns = NULL;
    struct rsched *rs = NULL;
    struct rregion *rr = NULL;
    const struct conf_region *old;
    size_t i, nn, users = 0;

    memset(&d, 0, sizeof(d));
    if (c == NULL || r == NULL || r == c->region) {
        sf_error_set(err, SF_ERR_INTERNAL,
                     "collector_reconfigure: no "
                     "collector, no region, or the region in use");
        return -1;
    }
    if (c->stopped) {
        sf_error_set(err, SF_ERR_INTERNAL,
                     "collector_reconfigure: the "
                     "collector is stopping");
        return -1;
    }
    nn = r->nclinics;
    /* Everything that can fail happens first; the collector is untouched
     * until the commit below, which cannot fail. */
    nstates = calloc(nn ? nn : 1, sizeof(*nstates));
    npolls = calloc(nn ? nn : 1, sizeof(*npolls));
    from = calloc(nn ? nn : 1, sizeof(*from));
    fresh = calloc(nn ? nn : 1, sizeof(*fresh));
    order = calloc(c->n ? c->n : 1, sizeof(*order));
    to = calloc(c->n ? c->n : 1, sizeof(*to));
    rr = calloc(1, sizeof(*rr));
    rs = calloc(1, sizeof(*rs));
    if (!nstates || !npolls || !from || !fresh || !order || !to || !rr || !rs) {
        sf_error_set(err, SF_ERR_NOMEM, "collector: out of memory");
        goto fail;
    }
    if (!polite_same(c->region, r) && make_sched(r, &ns, err) != 0)
        goto fail;
    if (reconf_match(c, r, ns, order, from, to, fresh, npolls, err) != 0)
        goto fail;

    /* --- commit ---------------------------------------------------------- */
    reconf_drop_old(c, to, fresh, &d);
    reconf_carry_states(c, r, from, fresh, nstates, npolls, &d);
    free(c->states);
    free(c->polls);
    c->states = nstates;
    c->polls = npolls;
    c->n = nn;
    nstates = NULL;
    npolls = NULL;
    old = c->region;
    c->region = r;

    /* The old region stays borrowed by every poll that began under it. */
    for (i = 0; i < c->n; i++)
        users += c->polls[i]->busy && c->polls[i]->region == old;
    for (p = c->orphans; p != NULL; p = p->onext)
        users += p->region == old;
    if (users > 0) {
        rr->r = old;
        rr->users = users;
        rr->next = c->retired;
        c->retired = rr;
        rr = NULL;
    }
    unqueue_orphans(c); /* may release old (users reach 0) */
    if (ns != NULL) {
        swap_sched(c, ns, rs); /* takes rs */
        rs = NULL;
        ns = NULL;
    }

    reconf_arm(c, from, fresh);
    share_forget(c, true);
    if (diff != NULL)
        *diff = d;
    free(order);
    free(to);
    free(from);
    free(fresh);
    free(rs);
    if (rr != NULL) {
        /* Nothing borrowed the old region: the owner may free it now. */
        free(rr);
        if (c->on_release)
            c->on_release(c->release_arg, old);
    }
    return 0;
fail:
    for (i = 0; npolls != NULL && i < nn; i++)
        cpoll_free(npolls[i]);
    sched_free(ns);
    free(nstates);
    free(npolls);
    free(order);
    free(to);
    free(from);
    free(fresh);
    free(rs);
    free(rr);
    return -1;
}

static void on_resend(evutil_socket_t fd, short what, void *arg)
{
    struct collector *c = arg;
    struct cpoll *list = c->resend_head, *p;

    (void)fd;
    (void)what;
    c->resend_head = c->resend_tail = NULL;
    while ((p = list) != NULL) {
        list = p->qnext;
        p->qnext = NULL;
        p->queued = false;
        poll_send(p);
    }
}

/* --- stopping ------------------------------------------------------------- */

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct collector *c = arg;
    collector_pass_fn fn = c->idle_fn;

    (void)fd;
    (void)what;
    if (!c->stopped || c->active != 0 || fn == NULL)
        return;
    c->idle_fn = NULL;
    fn(c->idle_arg);
}

int collector_stop(struct collector *c, collector_pass_fn idle, void *arg)
{
    size_t i;

    if (c == NULL)
        return -1;
    c->stopped = true;
    c->idle_fn = idle;
    c->idle_arg = arg;
    for (i = 0; i < c->n; i++) {
        if (c->polls[i]->timer)
            evtimer_del(c->polls[i]->timer);
        if (c->polls[i]->kick)
            evtimer_del(c->polls[i]->kick);
    }
    /*
     * Polls still waiting for their host would each wait their turn
     * under the rate limit and hold a drain for minutes: end them now.
     * Only requests already out get the drain's time.
     */
    {
        struct cpoll *p, *drop = unqueue(c, true);

        while (drop != NULL) {
            p = drop;
            drop = p->qnext;
            p->qnext = NULL;
            if (p->orphan)
                orphan_discard(p);
            else
                poll_cancel(p);
        }
    }
    idle_check(c);
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

void collector_set_sharing(struct collector *c, bool on)
{
    if (c != NULL)
        c->no_share = !on;
}

size_t collector_shared_entries(const struct collector *c, size_t *bytes)
{
    return share_entries(c != NULL ? c->share : NULL, bytes);
}

struct sched *collector_sched(const struct collector *c)
{
    return c ? c->sched : NULL;
}

void collector_free(struct collector *c)
{
    size_t i;

    if (c == NULL)
        return;
    c->freeing = true;
    /* A poll in flight: its transfer is gone with fetch_free() (see
     * collector.h), so only our half of the conversation remains. */
    for (i = 0; c->polls && i < c->n; i++)
        cpoll_free(c->polls[i]);
    while (c->orphans != NULL) {
        struct cpoll *p = c->orphans;

        c->orphans = p->onext;
        cpoll_free(p);
    }
    for (i = 0; c->states && i < c->n; i++)
        avail_slots_clear(&c->states[i].slots);
    while (c->queues != NULL) {
        struct hostq *q = c->queues;

        c->queues = q->next;
        event_free(q->wake);
        free(q);
    }
    while (c->retired != NULL) {
        struct rregion *o = c->retired;

        c->retired = o->next;
        free(o);
    }
    while (c->old_scheds != NULL) {
        struct rsched *o = c->old_scheds;

        c->old_scheds = o->next;
        sched_free(o->s);
        free(o);
    }
    if (c->pass_ev)
        event_free(c->pass_ev);
    if (c->resend_ev)
        event_free(c->resend_ev);
    if (c->idle_ev)
        event_free(c->idle_ev);
    sched_free(c->sched);
    plaus_free(c->plaus);
    share_free(c->share);
    free(c->polls);
    free(c->states);
    free(c);
}
