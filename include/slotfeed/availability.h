/*
 * availability.h - free slots and what we compute from them.
 *
 * Owns struct avail_slots (a growable array of free slots whose strings
 * the list owns, each distinct string stored once) and the pure computation of a clinic's availability
 * from slots + now + the care-guarantee rule. Nothing here reads the clock
 * or does I/O: "now" is always a parameter.
 *
 * The care guarantee (vårdgaranti): contact day = local date of now = day 0.
 * With counting CALENDAR the deadline is day 0 + N; with WORKING it is the
 * N-th working day (clock_is_working_day) after day 0. A slot is within the
 * guarantee when it starts strictly after now and its local start date is
 * <= the deadline date.
 */
#ifndef SLOTFEED_AVAILABILITY_H
#define SLOTFEED_AVAILABILITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * String ownership: in a slot held by a struct avail_slots the five
 * strings point into that list's string pool (struct avail_strpool):
 * slots of one list that carry equal text share one copy (a clinic's
 * few practitioners and one service repeat over hundreds of slots).
 * They stay valid until the list is cleared (avail_slots_clear/copy/move
 * into it); never free() them or write through them. To change one, use
 * avail_slots_set_str. A template passed to avail_slots_add_slot may
 * point anywhere (the list interns its own copies).
 *
 * The list's copies hold no personnummer: every string is scrubbed on
 * its way in (pnr.h; a number becomes "[personnummer]"), so no slot text
 * from an upstream reaches the feed, the documents or the store with one.
 */
struct avail_slot {
    int64_t start;             /* instant, UTC seconds */
    int64_t end;               /* instant, UTC seconds; end > start */
    const char *practitioner;  /* display form "Dalmo, Jacob", or NULL */
    const char *service;       /* time type name, e.g. "Nybesök", or NULL */
    const char *service_id;    /* time type id, or NULL */
    const char *booking_url;   /* deep link to book this very slot, or NULL */
    const char *booking_phone; /* phone number to book this slot, or NULL */
    int capacity; /* patients this slot takes; 1 unless told (>= 1) */
    /*
     * The slot's time type is mapped as NOT a new visit (e.g. a RIV
     * "Återbesök" type, booking.time_types): published with its service
     * name, but it counts neither for first_free nor for the guarantee.
     * The zero value (false: a new-visit slot) is the default, so
     * zero-initialised templates stay new-visit slots (hence follow_up,
     * not a new_visit flag that would have to default to true).
     */
    bool follow_up;
};

/* Distinct strings of one list (availability.c); owned by the list. */
struct avail_strpool;
/* The array and strings of lists sharing them (avail_slots_share). */
struct avail_share;

struct avail_slots {
    struct avail_slot *v;
    size_t n, cap;
    struct avail_strpool *pool; /* the slots' strings; NULL while none */
    struct avail_share *share;  /* NULL, or v and pool are shared: the
                                 * last list cleared frees them */
};

/* Empty list; no allocation until the first add. A zeroed struct is an
 * empty list too. */
void avail_slots_init(struct avail_slots *s);
/* Free the slots' strings (the pool) and the array; leaves an empty list.
 * NULL ok. */
void avail_slots_clear(struct avail_slots *s);
/*
 * Append a slot; the strings are copied into the list's pool (each may
 * be NULL; text the list already holds is not copied again). The new slot
 * has no booking_url/booking_phone and capacity 1.
 * Returns 0, or -1 on allocation failure (list unchanged).
 */
int avail_slots_add(struct avail_slots *s, int64_t start, int64_t end,
                    const char *practitioner, const char *service,
                    const char *service_id);
/*
 * Append a copy of *sl, every field included (strings copied; a capacity
 * below 1 is stored as 1). Returns 0, or -1 on allocation failure (list
 * unchanged).
 */
int avail_slots_add_slot(struct avail_slots *s, const struct avail_slot *sl);
/* Deep copy src into dst (dst must be initialised; its old content freed).
 * dst gets its own pool, holding only the strings its slots use. */
int avail_slots_copy(struct avail_slots *dst, const struct avail_slots *src);
/* Move src's content into dst (dst's old content freed); src left empty. */
void avail_slots_move(struct avail_slots *dst, struct avail_slots *src);
/*
 * Sharing one list's memory instead of copying it (the feed keeps each
 * clinic's future slots for as long as its snapshots live, the collector
 * until the next poll: at 10,000 clinics a copy is ~100 MB).
 *
 * avail_slots_freeze: s's array and strings become shareable (s stays a
 * normal list to read; a change makes it copy them first). 0, or -1 on
 * allocation failure (s unchanged, not shareable).
 *
 * avail_slots_share: dst (its old content freed) becomes a view of src's
 * slots from index `from` on: sharing src's memory when src is frozen,
 * else a copy of those slots. Every list stays valid in any order of
 * clearing: the memory goes with the last. A shared list is changed by
 * avail_slots_add/_add_slot/_set_str/_sort only after it got its own copy
 * again (which can fail: -1, or for sort, left unsorted). 0, or -1 on
 * allocation failure (dst left empty).
 */
int avail_slots_freeze(struct avail_slots *s);
int avail_slots_share(struct avail_slots *dst, const struct avail_slots *src,
                      size_t from);
/*
 * Point *field, a string field of a slot in s (e.g. &s->v[i].service), at
 * s's copy of value (NULL ok). The old text stays in the pool until the
 * list is cleared. Returns 0, or -1 on allocation failure (*field
 * unchanged).
 */
int avail_slots_set_str(struct avail_slots *s, const char **field,
                        const char *value);
/* Drop the slots from index n on (n >= s->n: nothing). Their strings stay
 * in the pool until the list is cleared. */
void avail_slots_truncate(struct avail_slots *s, size_t n);
/* Give back the array's spare capacity (a list kept for long after it was
 * built); the list is unchanged if that fails. */
void avail_slots_shrink(struct avail_slots *s);
/* Sort by start, then practitioner; removes exact duplicates. */
void avail_slots_sort(struct avail_slots *s);
/* True when s is as avail_slots_sort leaves it (sorted, no duplicate). */
bool avail_slots_sorted(const struct avail_slots *s);
/*
 * The slots of s that start after now, as pointers into s ordered by
 * start, then practitioner (NULL first): feed and SMART publication both
 * list a clinic's future slots this way, so their slot lists agree.
 * *out is malloc'd (the caller frees it; NULL when *n is 0). 0, or -1
 * when memory runs out.
 */
int avail_slots_future(const struct avail_slots *s, int64_t now,
                       const struct avail_slot ***out, size_t *n);
/* True when s lists a slot that starts after now (a free time still
 * ahead), whatever its order. */
bool avail_slots_any_after(const struct avail_slots *s, int64_t now);
/* True when both lists hold the same slots in the same order. */
bool avail_slots_equal(const struct avail_slots *a,
                       const struct avail_slots *b);

enum avail_counting {
    AVAIL_COUNT_CALENDAR = 0,
    AVAIL_COUNT_WORKING = 1
};

struct avail_rule {
    int days;                     /* N, default 3 */
    enum avail_counting counting; /* default CALENDAR */
};

#define AVAIL_UPCOMING_MAX 3

struct avail_result {
    bool has_first_free;
    int64_t first_free;   /* earliest start > now, if has_first_free */
    int32_t contact_day;  /* local date of now (day 0) */
    int32_t deadline_day; /* last local date that still counts */
    bool within_guarantee;
    int free_slots_within_guarantee;
    int free_slots; /* all future free slots */
    int n_upcoming; /* 0..AVAIL_UPCOMING_MAX */
    int32_t
        upcoming_days[AVAIL_UPCOMING_MAX]; /* first local dates with slots */
    int more_days; /* further distinct dates with slots */
};

/* Last local date within the guarantee for contact day `contact_day`. */
int32_t avail_deadline(int32_t contact_day, const struct avail_rule *rule);

/*
 * Compute availability of `slots` (any order; not modified) at `now`.
 * Slots starting at or before now are ignored. Always succeeds.
 * first_free, within_guarantee and free_slots_within_guarantee count only
 * new-visit slots (follow_up false): the feed promises the first time a
 * new patient can book. free_slots and the upcoming days count all.
 */
void avail_compute(const struct avail_slots *slots, int64_t now,
                   const struct avail_rule *rule, struct avail_result *out);

/* "counting" name <-> enum; parse returns 0 or -1. */
const char *avail_counting_name(enum avail_counting c);
int avail_counting_parse(const char *s, enum avail_counting *out);

#endif
