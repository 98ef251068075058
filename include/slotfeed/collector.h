/*
 * collector.h - polls every clinic of a region through its adapter.
 *
 * Owns one struct clinic_state per clinic (same order as region->clinics)
 * and drives polls on a libevent base with a struct fetch: each clinic is
 * polled every poll_interval_s, the first poll staggered with jitter over
 * the interval so clinics do not all fire at once. A poll walks the
 * adapter's begin/step conversation; its result replaces the clinic's
 * slots only when the whole conversation succeeded. A failed poll keeps
 * the last good slots and marks the clinic stale (or error, when it never
 * had data). "now" comes from clock_now(), so tests fix it.
 *
 * Politeness (sched.h, config `politeness`): every request of a poll asks
 * the per-host scheduler first and waits on a timer when told to; a
 * clinic whose host's circuit breaker is open is not asked (status
 * stale/error, error "circuit open for HOST until T", not counted as a
 * failure); a failed periodic poll delays the clinic's next one by a
 * jittered backoff when that is later than the regular interval.
 *
 * Web-booking status: clinic without booking config -> NONE (never
 * polled); adapter answered -> OPEN; platform says not connected
 * (SF_ERR_NOT_CONNECTED) -> NONE; COLLECTOR_UNREACHABLE_AFTER consecutive
 * transport/timeout failures -> UNREACHABLE; never answered yet -> UNKNOWN.
 * An answer that relays its publisher's own state of the clinic (adapter.h,
 * struct adapter_relay) shows that state instead: web, status, valid_at,
 * checked_at, error; relayed "error" drops the slots.
 */
#ifndef SLOTFEED_COLLECTOR_H
#define SLOTFEED_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotfeed/availability.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"

#define COLLECTOR_UNREACHABLE_AFTER 3

enum web_booking {
    WEB_UNKNOWN = 0,
    WEB_OPEN,
    WEB_NONE,
    WEB_UNREACHABLE
};
#define WEB_BOOKINGS (WEB_UNREACHABLE + 1)

/* The published name of w, the feed schema's enum: "unknown", "open",
 * "none" or "unreachable" (a value out of range gives "unknown"). The
 * feed, the filter parser and the metrics labels all use it. */
const char *collector_web_name(enum web_booking w);

enum clinic_status {
    CLINIC_OK = 0, /* last poll succeeded */
    CLINIC_STALE,  /* last poll failed; older good data kept */
    CLINIC_ERROR   /* failed and no good data ever (or not polled) */
};

/* The published name of s: "ok", "stale" or "error" (out of range:
 * "error"). */
const char *collector_status_name(enum clinic_status s);

struct clinic_state {
    const struct conf_clinic *conf; /* borrowed from the current region */
    enum web_booking web;
    enum clinic_status status;
    int64_t checked_at;         /* last poll finished (0 = never) */
    int64_t valid_at;           /* last successful poll (0 = never) */
    int64_t changed_at;         /* slots last changed (0 = never) */
    bool has_data;              /* slots hold a good answer */
    struct avail_slots slots;   /* last good slots, sorted; owned */
    enum sf_errclass err_class; /* last poll's error, NONE if ok */
    char error[256];            /* last poll's error message */
    int consecutive_failures;
    unsigned long polls, failures; /* counters since start */
};

struct event_base;
struct fetch;
struct collector;

/*
 * Called on the loop after each finished poll of clinic `index` (the
 * state is already updated). Must not free the collector or the fetch.
 */
typedef void (*collector_update_fn)(void *arg, size_t index);
/* Called once when collector_poll_all()'s pass has finished. */
typedef void (*collector_pass_fn)(void *arg);

/*
 * New collector for region (borrowed; must outlive the collector) using
 * fetch f (borrowed). States start UNKNOWN/ERROR (or NONE for clinics
 * without booking). Returns NULL with err set on failure.
 */
struct collector *collector_new(struct event_base *base,
                                const struct conf_region *region,
                                struct fetch *f, struct sf_error *err);

void collector_on_update(struct collector *c, collector_update_fn fn,
                         void *arg);

/* Schedule periodic polling of every clinic (first poll within jitter). */
int collector_start(struct collector *c);

/*
 * Poll every clinic with booking once, now; done(arg) fires when all have
 * finished (success or failure). Independent of collector_start().
 * Polls start from the loop, never inside this call; a clinic already
 * polling is not polled twice: its running poll counts for the pass.
 * done fires exactly once, from the loop (also when there is nothing to
 * poll) and may start the next pass. Returns -1 while a pass is running.
 */
int collector_poll_all(struct collector *c, collector_pass_fn done, void *arg);

/* Borrowed array of region->nclinics states (the current region), valid
 * until collector_free or the next collector_reconfigure. */
const struct clinic_state *collector_states(const struct collector *c,
                                            size_t *n);

/* Polls in flight (discarded ones still out included). */
size_t collector_active(const struct collector *c);

/*
 * The per-host politeness state every request goes through (sched.h),
 * built from region->politeness: for metrics (waits, breaker changes) and
 * tests. Borrowed; valid until collector_free.
 */
struct sched;
struct sched *collector_sched(const struct collector *c);

/*
 * Shared documents (adapter.h): requests an adapter marks shared are
 * answered from one copy per URL (share.h). A body answers without a
 * request for half the poll interval after it was fetched (or found
 * unchanged by a 304), so a publisher sees at most two requests per
 * document per interval however many clinics read it; an expired one is
 * revalidated with If-None-Match / If-Modified-Since. Caps: 4096 URLs and
 * 64 MiB of bodies (each body also within fetch's max_body_bytes). A
 * reload drops the documents of booking URLs no clinic has any more.
 *
 * collector_set_sharing(c, false) turns it off (every clinic fetches and
 * parses its own copy: tests and benches compare the two); on by default.
 * collector_shared_entries: URLs held and, in *bytes (may be NULL), the
 * bytes of their stored bodies.
 */
void collector_set_sharing(struct collector *c, bool on);
size_t collector_shared_entries(const struct collector *c, size_t *bytes);

/*
 * Delay of a clinic's first periodic poll after collector_start(): a hash
 * of its id modulo interval_ms, so in [0, interval_ms), the same on every
 * run and machine, spread evenly over the interval. 0 if interval_ms <= 0.
 */
long collector_stagger_ms(const char *clinic_id, long interval_ms);

/*
 * Reconfiguration (SIGHUP). Ownership of regions: the collector borrows
 * the region it was made with or last reconfigured to, and every poll in
 * flight borrows the region that was current when it began (its adapter
 * conversation keeps pointers into that region's clinic). So a replaced
 * region must stay alive until the collector says it is done with it:
 * release(arg, r) is called once per replaced region, when no poll
 * borrows it any more: from inside collector_reconfigure when nothing
 * did, else from the loop when the last such poll ends (the callee may
 * free r then; it must not free the collector). collector_free calls no
 * release: the owner frees whatever regions it still holds after it.
 */
typedef void (*collector_release_fn)(void *arg, const struct conf_region *r);
void collector_on_release(struct collector *c, collector_release_fn fn,
                          void *arg);

/* What collector_reconfigure did, by clinic id. */
struct collector_diff {
    size_t added;   /* new ids: start UNKNOWN, first poll at their
                         * stagger in the new interval */
    size_t removed; /* gone: no more polls, gone from the states */
    size_t changed; /* booking block (or the RIV query identity)
                         * differs: state kept, adapter cache reset,
                         * polled now */
    size_t kept;    /* identical: state, cache and schedule kept */
};

/*
 * Switch c to region r (borrowed; see the ownership note above). Clinics
 * are matched by id. A matched clinic keeps its state (slots, web status,
 * timestamps, counters); when any field of its booking block changed (or
 * the region's riv subject/actor type), its adapter cache is dropped and
 * it is polled at once (when collector_start ran). A clinic that lost its
 * booking becomes NONE without slots; one that gained it starts UNKNOWN.
 * A removed or changed clinic's poll in flight is left to finish on its
 * own and its answer is discarded (log line poll_discarded); it never
 * touches the new states. Polls of kept clinics continue and their
 * results count. poll_interval_s takes effect at once (kept clinics'
 * next tick is moved forward when the new interval is shorter). When the
 * politeness config differs, a new sched is built from r (breaker and
 * backoff state start over; requests already granted finish under the
 * old one, which is freed after the last); waiting requests re-queue on
 * the new one. A running collector_poll_all pass loses removed and
 * changed clinics (done still fires once). Indices of states change: the
 * caller must rebuild anything indexed by them (the feed).
 *
 * Everything that can fail is done before anything changes: returns 0
 * and fills *diff (may be NULL), or -1 with err set (unknown adapter, bad
 * politeness host, out of memory, r == current region, collector
 * stopped) and c exactly as before. Not from inside a collector callback.
 */
int collector_reconfigure(struct collector *c, const struct conf_region *r,
                          struct collector_diff *diff, struct sf_error *err);

/*
 * Stop starting polls (shutdown): periodic timers, pending poll_all kicks
 * and backoff re-arms are dropped. Polls waiting for their host's turn
 * (rate limit, concurrency) end at once without changing their clinic's
 * state (log poll_cancelled); so does a later step of a conversation
 * that would have to wait; on_update does not fire for them (nothing
 * was polled, nothing to record). Requests already out go on: their
 * results count and on_update fires. idle(arg)
 * is called once, from the loop, when no poll is in flight (at the next
 * loop turn if none is). Afterwards collector_start, collector_poll_all
 * and collector_reconfigure fail. Returns 0, or -1 for NULL.
 */
int collector_stop(struct collector *c, collector_pass_fn idle, void *arg);

/*
 * Cancel timers and polls in flight, free states. NULL ok.
 *
 * Teardown order: fetch_free(f) FIRST, then collector_free(c). A poll in
 * flight has a transfer in f whose done callback points into c;
 * fetch_free drops those callbacks, after which collector_free can free
 * the collector's half of each conversation. Freeing the collector while
 * f still runs its transfers is a use-after-free. Do not call either from
 * inside a collector or fetch callback.
 */
void collector_free(struct collector *c);

#endif
