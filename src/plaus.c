/*
 * plaus.c - holds back empty answers that look like a platform fault.
 *
 * Per host the counts are kept incrementally (candidates, held, answered
 * since the run began) so an answer costs O(1), except at the two moments
 * that touch every held clinic of a host: the run becomes a host-wide
 * emptying (flag them) or cannot become one any more (release them),
 * each at most once per run. Rules and terms: plaus.h.
 */
#include "slotfeed/plaus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct plaus_host {
    struct plaus *pl;
    char *key;
    int ncand; /* records with had_free (held ones included) */
    int nheld;
    int nanswered; /* non-held candidates with answered_seq > run */
    uint64_t run;  /* sequence of the run's first hold (nheld > 0) */
    bool event;    /* this run reached need */
    struct plaus_clinic *held_head;
    struct plaus_clinic *members; /* every attached record */
    struct plaus_host *next;
};

struct plaus {
    uint64_t seq; /* last sequence number handed out */
    struct plaus_host *hosts;
};

void plaus_params_default(struct plaus_params *p)
{
    p->min_clinics = PLAUS_DEFAULT_MIN_CLINICS;
    p->fraction = PLAUS_DEFAULT_FRACTION;
    p->confirm_polls = PLAUS_DEFAULT_CONFIRM_POLLS;
}

/* pp with zero/invalid fields replaced by the defaults. */
static void params_of(const struct plaus_params *pp, struct plaus_params *o)
{
    plaus_params_default(o);
    if (pp == NULL)
        return;
    if (pp->min_clinics > 0)
        o->min_clinics = pp->min_clinics;
    if (pp->fraction > 0 && pp->fraction <= 1)
        o->fraction = pp->fraction;
    if (pp->confirm_polls > 0)
        o->confirm_polls = pp->confirm_polls;
}

struct plaus *plaus_new(void)
{
    return calloc(1, sizeof(struct plaus));
}

void plaus_free(struct plaus *pl)
{
    if (pl == NULL)
        return;
    while (pl->hosts != NULL) {
        struct plaus_host *h = pl->hosts;

        pl->hosts = h->next;
        free(h->key);
        free(h);
    }
    free(pl);
}

int plaus_attach(struct plaus *pl, struct plaus_clinic *pc, const char *key,
                 bool had_free)
{
    struct plaus_host *h;

    if (key == NULL || pl == NULL)
        return 0;
    for (h = pl->hosts; h != NULL; h = h->next)
        if (strcmp(h->key, key) == 0)
            break;
    if (h == NULL) {
        h = calloc(1, sizeof(*h));
        if (h == NULL || (h->key = strdup(key)) == NULL) {
            free(h);
            return -1;
        }
        h->pl = pl;
        h->next = pl->hosts;
        pl->hosts = h;
    }
    pc->host = h;
    pc->had_free = had_free;
    pc->held = 0;
    pc->flagged = false;
    pc->answered_seq = 0; /* not an answer of any run */
    pc->hprev = pc->hnext = NULL;
    pc->begin_seq = pl->seq;
    pc->mprev = NULL;
    pc->mnext = h->members;
    if (h->members != NULL)
        h->members->mprev = pc;
    h->members = pc;
    if (had_free)
        h->ncand++;
    return 0;
}

void plaus_begin(struct plaus_clinic *pc)
{
    if (pc != NULL && pc->host != NULL)
        pc->begin_seq = pc->host->pl->seq;
}

static void held_unlink(struct plaus_host *h, struct plaus_clinic *pc)
{
    if (pc->hprev != NULL)
        pc->hprev->hnext = pc->hnext;
    else
        h->held_head = pc->hnext;
    if (pc->hnext != NULL)
        pc->hnext->hprev = pc->hprev;
    pc->hprev = pc->hnext = NULL;
    if (--h->nheld == 0)
        h->event = false; /* the run is over */
}

static bool counted(const struct plaus_host *h, const struct plaus_clinic *pc);

static void held_link(struct plaus_host *h, struct plaus_clinic *pc)
{
    struct plaus_clinic *m;

    if (h->nheld++ == 0) {
        /* A new run. It begins when the poll that brought its first drop
         * began: answers that came after that (a pass polls every clinic
         * at once, so they may arrive first) already speak for the host.
         * Once per run: count them. */
        h->run = pc->begin_seq;
        h->nanswered = 0;
        h->event = false;
        for (m = h->members; m != NULL; m = m->mnext)
            if (m != pc && counted(h, m))
                h->nanswered++;
    }
    pc->hprev = NULL;
    pc->hnext = h->held_head;
    if (h->held_head != NULL)
        h->held_head->hprev = pc;
    h->held_head = pc;
}

/* Counts toward nanswered: a candidate, not held, answered in this run. */
static bool counted(const struct plaus_host *h, const struct plaus_clinic *pc)
{
    return h->nheld > 0 && pc->had_free && pc->held == 0 &&
           pc->answered_seq > h->run;
}

void plaus_detach(struct plaus_clinic *pc)
{
    struct plaus_host *h;
    void *user;

    if (pc == NULL || (h = pc->host) == NULL)
        return;
    if (counted(h, pc))
        h->nanswered--;
    if (pc->held > 0)
        held_unlink(h, pc);
    if (pc->had_free)
        h->ncand--;
    if (pc->mprev != NULL)
        pc->mprev->mnext = pc->mnext;
    else
        h->members = pc->mnext;
    if (pc->mnext != NULL)
        pc->mnext->mprev = pc->mprev;
    user = pc->user;
    memset(pc, 0, sizeof(*pc));
    pc->user = user;
}

static int need_of(const struct plaus_host *h, const struct plaus_params *p)
{
    int frac = (int)ceil(p->fraction * (double)h->ncand - 1e-9);

    return frac > p->min_clinics ? frac : p->min_clinics;
}

/* The held answer of pc is applied: no longer held, no longer a
 * candidate (its accepted data is empty now). */
static void accept_held(struct plaus_host *h, struct plaus_clinic *pc)
{
    held_unlink(h, pc);
    pc->held = 0;
    pc->flagged = false;
    if (pc->had_free) {
        pc->had_free = false;
        h->ncand--;
    }
}

/* Decide the host's run after an answer; self is reported by the caller. */
static void judge(struct plaus_host *h, const struct plaus_params *p,
                  struct plaus_clinic *self, plaus_change_fn change, void *arg,
                  bool *event)
{
    struct plaus_clinic *pc, *next;
    int need;

    if (h->nheld == 0 || h->event)
        return;
    need = need_of(h, p);
    if (h->nheld >= need) {
        h->event = true;
        *event = true;
        for (pc = h->held_head; pc != NULL; pc = pc->hnext) {
            if (pc->flagged)
                continue;
            pc->flagged = true;
            if (pc != self && change != NULL)
                change(arg, pc, PLAUS_SUSPECT);
        }
        return;
    }
    /* held + not yet answered = ncand - nanswered: the most drops this
     * run can still reach. */
    if (h->ncand - h->nanswered >= need)
        return;
    for (pc = h->held_head; pc != NULL; pc = next) {
        next = pc->hnext;
        accept_held(h, pc);
        if (pc != self && change != NULL)
            change(arg, pc, PLAUS_ACCEPT);
    }
}

enum plaus_verdict plaus_answer(struct plaus_clinic *pc, bool empty,
                                const struct plaus_params *pp,
                                plaus_change_fn change, void *arg, bool *event)
{
    struct plaus_params p;
    struct plaus_host *h;
    bool ev = false, was_counted;

    if (event != NULL)
        *event = false;
    if (pc == NULL || (h = pc->host) == NULL)
        return PLAUS_ACCEPT;
    params_of(pp, &p);
    was_counted = counted(h, pc);
    pc->answered_seq = ++h->pl->seq;

    if (!empty) {
        if (pc->held > 0) {
            /* The clinic recovered: its own answer ends its hold. */
            held_unlink(h, pc);
            pc->held = 0;
            pc->flagged = false;
        } else if (!pc->had_free) {
            pc->had_free = true;
            h->ncand++;
        }
        if (!was_counted && counted(h, pc))
            h->nanswered++;
        judge(h, &p, pc, change, arg, &ev);
        if (event != NULL)
            *event = ev;
        return PLAUS_ACCEPT;
    }
    if (!pc->had_free)
        return PLAUS_ACCEPT; /* empty before, empty now: no drop */
    if (pc->held + 1 >= p.confirm_polls) {
        /* Persisted (or the check is off): believe it. */
        if (pc->held > 0)
            accept_held(h, pc);
        else {
            if (was_counted)
                h->nanswered--;
            pc->had_free = false;
            h->ncand--;
        }
        judge(h, &p, pc, change, arg, &ev);
        if (event != NULL)
            *event = ev;
        return PLAUS_ACCEPT;
    }
    if (pc->held == 0) {
        if (was_counted)
            h->nanswered--;
        held_link(h, pc);
        if (h->event)
            pc->flagged = true; /* joins a host-wide emptying */
    }
    pc->held++;
    judge(h, &p, pc, change, arg, &ev);
    if (event != NULL)
        *event = ev;
    if (pc->held == 0)
        return PLAUS_ACCEPT; /* released by judge */
    return pc->flagged ? PLAUS_SUSPECT : PLAUS_HELD;
}

const char *plaus_host_key(const struct plaus_clinic *pc)
{
    return pc != NULL && pc->host != NULL ? pc->host->key : NULL;
}

void plaus_host_counts(const struct plaus_clinic *pc,
                       const struct plaus_params *pp, int *candidates,
                       int *held, int *need)
{
    struct plaus_params p;
    const struct plaus_host *h = pc != NULL ? pc->host : NULL;

    params_of(pp, &p);
    if (candidates)
        *candidates = h ? h->ncand : 0;
    if (held)
        *held = h ? h->nheld : 0;
    if (need)
        *need = h ? need_of(h, &p) : p.min_clinics;
}
