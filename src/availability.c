/*
 * availability.c - the free-slot list and the pure availability computation
 * (first free time, care guarantee, upcoming days).
 *
 * Every date here is a Europe/Stockholm local date from clock.h: "within
 * three days" is a question about calendar dates in Sweden, never about
 * UTC seconds / 86400.
 */
#include "slotfeed/availability.h"

#include "slotfeed/clock.h"

#include <stdlib.h>
#include <string.h>

/* --- the slot list ------------------------------------------------------- */

void avail_slots_init(struct avail_slots *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
}

static void slot_free(struct avail_slot *sl)
{
    free(sl->practitioner);
    free(sl->service);
    free(sl->service_id);
    free(sl->booking_url);
    free(sl->booking_phone);
    sl->practitioner = sl->service = sl->service_id = NULL;
    sl->booking_url = sl->booking_phone = NULL;
}

void avail_slots_clear(struct avail_slots *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        slot_free(&s->v[i]);
    free(s->v);
    avail_slots_init(s);
}

/* strdup that passes NULL through; *ok cleared on allocation failure. */
static char *dup_opt(const char *src, bool *ok)
{
    char *d;

    if (src == NULL)
        return NULL;
    d = strdup(src);
    if (d == NULL)
        *ok = false;
    return d;
}

int avail_slots_add_slot(struct avail_slots *s, const struct avail_slot *src)
{
    struct avail_slot sl;
    bool ok = true;

    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct avail_slot *nv;

        if (ncap > SIZE_MAX / sizeof(*nv))
            return -1;
        nv = realloc(s->v, ncap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        s->v = nv;
        s->cap = ncap;
    }
    sl.start = src->start;
    sl.end = src->end;
    sl.practitioner = dup_opt(src->practitioner, &ok);
    sl.service = dup_opt(src->service, &ok);
    sl.service_id = dup_opt(src->service_id, &ok);
    sl.booking_url = dup_opt(src->booking_url, &ok);
    sl.booking_phone = dup_opt(src->booking_phone, &ok);
    sl.capacity = src->capacity >= 1 ? src->capacity : 1;
    sl.follow_up = src->follow_up;
    if (!ok) {
        slot_free(&sl);
        return -1;
    }
    s->v[s->n++] = sl;
    return 0;
}

int avail_slots_add(struct avail_slots *s, int64_t start, int64_t end,
                    const char *practitioner, const char *service,
                    const char *service_id)
{
    /* The casts only let the borrowed strings sit in the template;
     * avail_slots_add_slot copies them and never writes through them. */
    struct avail_slot sl = {
        .start = start,
        .end = end,
        .practitioner = (char *)practitioner,
        .service = (char *)service,
        .service_id = (char *)service_id,
        .capacity = 1,
    };

    return avail_slots_add_slot(s, &sl);
}

int avail_slots_copy(struct avail_slots *dst, const struct avail_slots *src)
{
    struct avail_slots tmp;

    if (dst == src)
        return 0;
    /* Build aside, so a failure leaves dst as it was. */
    avail_slots_init(&tmp);
    for (size_t i = 0; i < src->n; i++) {
        if (avail_slots_add_slot(&tmp, &src->v[i]) != 0) {
            avail_slots_clear(&tmp);
            return -1;
        }
    }
    avail_slots_clear(dst);
    *dst = tmp;
    return 0;
}

void avail_slots_move(struct avail_slots *dst, struct avail_slots *src)
{
    if (dst == src)
        return;
    avail_slots_clear(dst);
    *dst = *src;
    avail_slots_init(src);
}

/* NULL sorts before any string. */
static int cmp_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Total order over every field, so qsort's result does not depend on the
 * input order and duplicates end up adjacent. */
static int slot_cmp(const struct avail_slot *a, const struct avail_slot *b)
{
    int c;

    if ((c = cmp_i64(a->start, b->start)) != 0)
        return c;
    if ((c = cmp_str(a->practitioner, b->practitioner)) != 0)
        return c;
    if ((c = cmp_i64(a->end, b->end)) != 0)
        return c;
    if ((c = cmp_str(a->service, b->service)) != 0)
        return c;
    if ((c = cmp_str(a->service_id, b->service_id)) != 0)
        return c;
    if ((c = cmp_str(a->booking_url, b->booking_url)) != 0)
        return c;
    if ((c = cmp_str(a->booking_phone, b->booking_phone)) != 0)
        return c;
    if ((c = (a->capacity > b->capacity) - (a->capacity < b->capacity)) != 0)
        return c;
    return (int)a->follow_up - (int)b->follow_up;
}

int avail_slot_ptr_cmp(const void *a, const void *b)
{
    const struct avail_slot *x = *(const struct avail_slot *const *)a;
    const struct avail_slot *y = *(const struct avail_slot *const *)b;
    int c;

    if ((c = cmp_i64(x->start, y->start)) != 0)
        return c;
    return cmp_str(x->practitioner, y->practitioner);
}

static int slot_qsort_cmp(const void *a, const void *b)
{
    return slot_cmp(a, b);
}

void avail_slots_sort(struct avail_slots *s)
{
    size_t w = 0;

    if (s->n < 2)
        return;
    qsort(s->v, s->n, sizeof(s->v[0]), slot_qsort_cmp);
    for (size_t r = 0; r < s->n; r++) {
        if (w > 0 && slot_cmp(&s->v[w - 1], &s->v[r]) == 0) {
            slot_free(&s->v[r]);
            continue;
        }
        s->v[w++] = s->v[r];
    }
    s->n = w;
}

bool avail_slots_equal(const struct avail_slots *a,
                       const struct avail_slots *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (slot_cmp(&a->v[i], &b->v[i]) != 0)
            return false;
    return true;
}

/* --- the care guarantee ---------------------------------------------------- */

/*
 * CALENDAR: day 0 + N (SKR: the guarantee counts calendar days, contact
 * day = day 0). WORKING (for regions that ask): the N-th working day
 * strictly after day 0, whether or not day 0 itself is a working day --
 * contact on a Saturday with N = 1 gives the following Monday, as a
 * weekend contact is in practice handled on the next working day. N <= 0
 * gives day 0 itself in both modes.
 */
int32_t avail_deadline(int32_t contact_day, const struct avail_rule *rule)
{
    int n = rule ? rule->days : 3;
    int32_t d = contact_day;

    if (n <= 0)
        return contact_day;
    if (rule != NULL && rule->counting == AVAIL_COUNT_WORKING) {
        /* Terminates: every week has at least one working day (n is
         * validated by config; a huge n only costs time, ~7n/5 steps). */
        while (n > 0 && d < INT32_MAX) {
            d++;
            if (clock_is_working_day(d))
                n--;
        }
        return d;
    }
    if ((int64_t)contact_day + n > INT32_MAX)
        return INT32_MAX;
    return contact_day + n;
}

/* True when the starts are non-decreasing (the list was sorted). */
static bool starts_sorted(const struct avail_slots *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i].start < s->v[i - 1].start)
            return false;
    return true;
}

/*
 * Distinct local start dates of future slots: the first AVAIL_UPCOMING_MAX
 * into out->upcoming_days, the rest counted in out->more_days.
 * Allocation-free, so avail_compute cannot fail. The local date is
 * monotonic in the instant, so a list sorted by start gives its dates in
 * order in one pass; otherwise we pick the next larger date repeatedly
 * (O(n x days); unsorted input is rare since adapters sort).
 */
static void count_days(const struct avail_slots *s, int64_t now,
                       struct avail_result *out)
{
    int64_t prev = INT64_MIN;       /* last date counted; below any int32 */
    int distinct = 0;

    if (starts_sorted(s)) {
        for (size_t i = 0; i < s->n; i++) {
            int32_t d;
            if (s->v[i].start <= now)
                continue;
            d = clock_local_day(s->v[i].start);
            if (d == prev)
                continue;
            if (distinct < AVAIL_UPCOMING_MAX)
                out->upcoming_days[distinct] = d;
            distinct++;
            prev = d;
        }
    } else {
        for (;;) {
            int64_t best = INT64_MAX;
            for (size_t i = 0; i < s->n; i++) {
                int32_t d;
                if (s->v[i].start <= now)
                    continue;
                d = clock_local_day(s->v[i].start);
                if (d > prev && d < best)
                    best = d;
            }
            if (best == INT64_MAX)
                break;
            if (distinct < AVAIL_UPCOMING_MAX)
                out->upcoming_days[distinct] = (int32_t)best;
            distinct++;
            prev = best;
        }
    }
    out->n_upcoming =
        distinct < AVAIL_UPCOMING_MAX ? distinct : AVAIL_UPCOMING_MAX;
    out->more_days = distinct - out->n_upcoming;
}

void avail_compute(const struct avail_slots *slots, int64_t now,
                   const struct avail_rule *rule, struct avail_result *out)
{
    memset(out, 0, sizeof(*out));
    out->contact_day = clock_local_day(now);
    out->deadline_day = avail_deadline(out->contact_day, rule);
    if (slots == NULL)
        return;
    for (size_t i = 0; i < slots->n; i++) {
        int64_t st = slots->v[i].start;
        if (st <= now)
            continue;               /* started or past: not bookable */
        out->free_slots++;
        if (slots->v[i].follow_up)
            continue;               /* not bookable by a new patient */
        if (!out->has_first_free || st < out->first_free) {
            out->has_first_free = true;
            out->first_free = st;
        }
        if (clock_local_day(st) <= out->deadline_day)
            out->free_slots_within_guarantee++;
    }
    out->within_guarantee = out->free_slots_within_guarantee > 0;
    count_days(slots, now, out);
}

const char *avail_counting_name(enum avail_counting c)
{
    return c == AVAIL_COUNT_WORKING ? "working" : "calendar";
}

int avail_counting_parse(const char *s, enum avail_counting *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "calendar") == 0) {
        *out = AVAIL_COUNT_CALENDAR;
        return 0;
    }
    if (strcmp(s, "working") == 0) {
        *out = AVAIL_COUNT_WORKING;
        return 0;
    }
    return -1;
}
