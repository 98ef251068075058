/*
 * share.h - the collector's cache of shared documents, keyed by URL
 * (adapter.h, "Shared documents"). No I/O and no loop of its own: the
 * collector asks it before sending a request marked shared, and reports
 * the answer back; this module only decides who fetches, who waits and
 * what is kept.
 *
 * One entry per URL: the last good body (a struct share_doc, refcounted,
 * holding the adapter's parsed form too), its validators, when it was
 * fetched, and, while a request for it is out, the leader (the poll that
 * sends it) and the waiters (polls that asked meanwhile). Freshness is in
 * clock_now() seconds (so tests inject it): a body fetched at t answers
 * without a request while now < t + fresh_s; after that the next asker
 * leads a conditional request. Only 200 bodies are kept; a failure or any
 * other status is handed to the leader and every waiter alike and not
 * kept. Caps: max_entries URLs, max_bytes of stored bodies (a body that
 * would pass the cap is delivered but not kept).
 */
#ifndef SLOTFEED_SHARE_H
#define SLOTFEED_SHARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotfeed/adapter.h"
#include "slotfeed/fetch.h"

/* Defaults of the caps (collector.c). */
#define SHARE_MAX_ENTRIES 4096
#define SHARE_MAX_BYTES ((size_t)64 << 20)

/* One version of a document. Immutable once made, except that the
 * parsed slot is filled once (adapter.h). */
struct share_doc {
    size_t refs;
    char *body; /* NUL-terminated, len bytes before it; NULL once the
                 * parsed form stands for it (share_doc_parsed) */
    size_t len; /* the body's length, also after it was freed (the
                 * cache's byte cap counts it) */
    char *content_type, *etag, *last_modified; /* each may be NULL */
    struct adapter_parsed parsed;
};

struct share;
struct share_entry;

/*
 * The adapter filled d's parsed form: the text is not needed any more
 * (every later reader takes the parsed form), so it is freed; a large
 * publisher's Slot file is megabytes. A reader that still asks for the
 * text (another kind of document at the same URL) gets an empty body and
 * fails to parse it, which names the file; it never gets stale text.
 */
void share_doc_parsed(struct share_doc *d);

/* New empty cache; NULL when out of memory. */
struct share *share_new(size_t max_entries, size_t max_bytes);

/* Free every entry (and every doc nobody else references). Waiters are
 * only pointers: the caller ends their polls. NULL ok. */
void share_free(struct share *s);

/* Take / drop a reference; the last drop frees the doc and its parsed
 * form (free_fn). NULL ok for both. */
struct share_doc *share_doc_ref(struct share_doc *d);
void share_doc_unref(struct share_doc *d);

/* The response step() sees for d: status 200, borrowed from d. */
void share_doc_response(struct share_doc *d, struct adapter_response *r);

enum share_verdict {
    SHARE_HIT,   /* *doc: a fresh body (a reference: unref it) */
    SHARE_WAIT,  /* `who` waits for the request in flight */
    SHARE_LEAD,  /* `who` fetches; *e for share_settle/abandon; *doc
                     * the stale body whose validators to send (borrowed,
                     * NULL when none) */
    SHARE_BYPASS /* out of memory or at the entry cap: fetch alone */
};

/*
 * Ask for url on behalf of `who` (a poll) at now. root names what made
 * the entry wanted (the clinic's booking URL): share_sweep drops entries
 * whose root is gone.
 */
enum share_verdict share_ask(struct share *s, const char *url, const char *root,
                             int64_t now, int64_t fresh_s, void *who,
                             struct share_entry **e, struct share_doc **doc);

/*
 * The leader's answer res arrived. The entry leaves flight; a 200 body
 * becomes its doc (when the caps allow), a 304 refreshes the stored doc.
 * *doc: what to deliver to the leader and every waiter (a reference:
 * unref it), or NULL: deliver res itself to each (a transport failure or
 * a status other than 200/304). Returns the waiters (malloc'd, *n of
 * them, caller frees; NULL when none) in arrival order.
 */
void **share_settle(struct share *s, struct share_entry *e,
                    const struct fetch_result *res, int64_t now,
                    struct share_doc **doc, size_t *n);

/* The leader gave up before an answer (cancelled, circuit open, ...):
 * the entry leaves flight; returns its waiters as share_settle. */
void **share_abandon(struct share *s, struct share_entry *e, size_t *n);

/*
 * Drop every entry not in flight whose root keep(arg, root) refuses, or
 * unused (no ask) since before now - idle_s (idle_s <= 0: no age rule).
 * Returns how many went.
 */
size_t share_sweep(struct share *s, bool (*keep)(void *arg, const char *root),
                   void *arg, int64_t now, int64_t idle_s);

/* Entries held and bytes of stored bodies (tests, metrics). */
size_t share_entries(const struct share *s, size_t *bytes);

#endif
