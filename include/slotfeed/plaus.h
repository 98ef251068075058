/*
 * plaus.h - is an empty answer believable?
 *
 * Many clinics sit behind one platform host (every RIV clinic behind the
 * service platform). A fault there can answer 200 with empty lists for
 * all of them at once; applied as is, that blanks the region in one
 * cycle. This module decides, per successful answer, whether an empty
 * one is applied now or held back (the clinic keeps its last good data,
 * status stale, class `implausible`). Pure bookkeeping: no time, no I/O,
 * no event loop; answers are ordered by a sequence number the module
 * hands out, so every decision is reproducible.
 *
 * Terms, per host (the scheme://host:port of a clinic's booking.url):
 *  - candidate: a clinic whose last *accepted* answer had a free slot
 *    (a held clinic stays a candidate: its accepted data is unchanged);
 *  - drop: a candidate answers with no free slot; the answer is *held*;
 *  - run: from the first held answer while none was held until none is;
 *    it begins when the poll that brought that answer began
 *    (plaus_begin), so answers of polls running at the same time count;
 *  - answered: a candidate, not held, that answered with slots since the
 *    run began (evidence that the host works);
 *  - need = max(min_clinics, ceil(fraction x candidates)).
 *
 * After every answer of a clinic of the host, while a run lasts:
 *  - held >= need: a host-wide emptying. Every held clinic of the host is
 *    flagged (PLAUS_SUSPECT) and stays held; later drops in the same run
 *    are flagged at once. Counted once per run (event).
 *  - else held + (candidates that have not answered yet) < need: the
 *    emptying can no longer be host-wide; every held answer is accepted.
 *  - else: undecided, the held answers wait (PLAUS_HELD).
 * And per clinic: its confirm_polls-th consecutive empty answer is
 * accepted whatever the host does (a truly fully booked region shows as
 * such after confirm_polls cycles); an answer with slots ends its hold.
 * confirm_polls 1 turns the check off (nothing is ever held).
 *
 * Ownership: struct plaus owns its hosts; struct plaus_clinic records are
 * the caller's (embedded in its own per-clinic data, address stable while
 * attached) and must be detached before they go away.
 */
#ifndef SLOTFEED_PLAUS_H
#define SLOTFEED_PLAUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of the config block "plausibility" (docs/config.md). */
#define PLAUS_DEFAULT_MIN_CLINICS 5
#define PLAUS_DEFAULT_FRACTION 0.6
#define PLAUS_DEFAULT_CONFIRM_POLLS 3

struct plaus_params {
    int min_clinics;   /* >= 1: fewer drops are never host-wide */
    double fraction;   /* (0, 1]: share of the host's candidates */
    int confirm_polls; /* >= 1: empty answers in a row accepted */
};

enum plaus_verdict {
    PLAUS_ACCEPT = 0, /* apply the answer */
    PLAUS_HELD,       /* held, undecided: keep the last good data */
    PLAUS_SUSPECT     /* held, part of a host-wide emptying */
};

struct plaus;
struct plaus_host;

/* One clinic's record; zero it, then plaus_attach. Fields are read-only
 * for the caller except `user`. */
struct plaus_clinic {
    struct plaus_host *host; /* NULL: not attached, never held */
    bool had_free;           /* last accepted answer had a free slot */
    int held;                /* consecutive empty answers held */
    bool flagged;            /* held as part of a host-wide emptying */
    uint64_t answered_seq;   /* sequence of its last answer (0 never) */
    uint64_t begin_seq;      /* last sequence when its poll began */
    struct plaus_clinic *hprev, *hnext; /* the host's held list */
    struct plaus_clinic *mprev, *mnext; /* the host's members */
    void *user;                         /* the caller's */
};

/*
 * Told about other clinics of the host whose held answer changed fate
 * during plaus_answer: v is PLAUS_SUSPECT (now flagged) or PLAUS_ACCEPT
 * (the held empty answer is to be applied now; the record is no longer
 * held and no longer a candidate).
 */
typedef void (*plaus_change_fn)(void *arg, struct plaus_clinic *pc,
                                enum plaus_verdict v);

/* Fill p with the defaults above. */
void plaus_params_default(struct plaus_params *p);

/* New, empty. NULL when out of memory. */
struct plaus *plaus_new(void);
/* Free every host. Records still attached must not be used afterwards
 * (their host pointers dangle). NULL ok. */
void plaus_free(struct plaus *pl);

/*
 * Attach pc (zeroed or detached) to host `key` (copied; created on first
 * use). had_free says whether the clinic's current data has a free slot
 * (a clinic carried over with data). Returns 0, or -1 when out of memory
 * (pc unchanged). key NULL: pc stays unattached (never held), returns 0.
 */
int plaus_attach(struct plaus *pl, struct plaus_clinic *pc, const char *key,
                 bool had_free);
/* pc's poll begins now (call before its answer; ties the run's start to
 * the poll, not to when its answer came). */
void plaus_begin(struct plaus_clinic *pc);
/* Take pc out of its host's counts (a removed clinic). NULL/unattached ok;
 * pc is left zeroed but for `user`. */
void plaus_detach(struct plaus_clinic *pc);

/*
 * A successful answer of pc: empty = it lists no free slot. Returns the
 * verdict for pc itself; other clinics of the host whose fate changed are
 * reported through change(arg, ...) before this returns. *event is set
 * true when this answer made the host's run a host-wide emptying (once
 * per run). pp NULL: defaults; fields <= 0 take the defaults. An
 * unattached pc is always PLAUS_ACCEPT.
 */
enum plaus_verdict plaus_answer(struct plaus_clinic *pc, bool empty,
                                const struct plaus_params *pp,
                                plaus_change_fn change, void *arg, bool *event);

/* The host's key ("http://127.0.0.1:8080"), or NULL when unattached. */
const char *plaus_host_key(const struct plaus_clinic *pc);
/* Counts of pc's host now (tests, messages): candidates, held, need. */
void plaus_host_counts(const struct plaus_clinic *pc,
                       const struct plaus_params *pp, int *candidates,
                       int *held, int *need);

#endif
