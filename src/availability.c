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
#include "slotfeed/hash.h"
#include "slotfeed/pnr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- the slot list ------------------------------------------------------- */

/*
 * The list's distinct strings: each malloc'd once, found again by an
 * open-addressing hash table of indices (tab[k] = index + 1, 0 = empty),
 * kept at most half full.
 */
struct avail_strpool {
    char **str;
    size_t n, cap;
    uint32_t *tab;
    size_t nb; /* power of two */
};

static void pool_free(struct avail_strpool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->str[i]);
    free(p->str);
    free(p->tab);
    free(p);
}

/* Rehash into nb buckets; -1 when out of memory (pool unchanged). */
static int pool_rehash(struct avail_strpool *p, size_t nb)
{
    uint32_t *tab = calloc(nb, sizeof(*tab));

    if (tab == NULL)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        size_t k = (size_t)hash_fnv1a_str(p->str[i]) & (nb - 1);

        while (tab[k] != 0)
            k = (k + 1) & (nb - 1);
        tab[k] = (uint32_t)(i + 1);
    }
    free(p->tab);
    p->tab = tab;
    p->nb = nb;
    return 0;
}

/* The pooled string equal to str, or NULL; *slot gets the empty bucket
 * where str would go. */
static const char *pool_find(const struct avail_strpool *p, const char *str,
                             uint64_t h, size_t *slot)
{
    size_t k;

    for (k = (size_t)h & (p->nb - 1); p->tab[k] != 0;
         k = (k + 1) & (p->nb - 1)) {
        const char *e = p->str[p->tab[k] - 1];

        if (e == str || strcmp(e, str) == 0)
            return e;
    }
    *slot = k;
    return NULL;
}

/*
 * The list's copy of str (NULL for NULL); NULL with *ok cleared when
 * memory ran out. Every slot string of every list comes through here, so
 * this is where upstream text loses any personnummer (pnr.h): the pool
 * holds scrubbed text only, and the feed, the documents, the bulk export
 * and the store all read from it. A hit on the raw text is therefore
 * clean; a miss is scrubbed before it is stored.
 */
static const char *intern(struct avail_slots *s, const char *str, bool *ok)
{
    struct avail_strpool *p = s->pool;
    const char *e;
    size_t k, found = 0;
    uint64_t h;
    char *d;

    if (str == NULL)
        return NULL;
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL || pool_rehash(p, 16) != 0) {
            free(p);
            *ok = false;
            return NULL;
        }
        s->pool = p;
    }
    h = hash_fnv1a_str(str);
    if ((e = pool_find(p, str, h, &k)) != NULL)
        return e;
    if ((d = pnr_scrub(str, &found)) == NULL)
        goto nomem;
    if (found > 0) {
        h = hash_fnv1a_str(d);
        if ((e = pool_find(p, d, h, &k)) != NULL) {
            free(d);
            return e;
        }
    }
    if (p->n >= UINT32_MAX - 1)
        goto nomem_d;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        char **nv = realloc(p->str, ncap * sizeof(*nv));

        if (nv == NULL)
            goto nomem_d;
        p->str = nv;
        p->cap = ncap;
    }
    if ((p->n + 1) * 2 > p->nb) {
        if (pool_rehash(p, p->nb * 2) != 0)
            goto nomem_d;
        for (k = (size_t)h & (p->nb - 1); p->tab[k] != 0;
             k = (k + 1) & (p->nb - 1))
            ;
    }
    p->str[p->n++] = d;
    p->tab[k] = (uint32_t)p->n;
    return d;
nomem_d:
    free(d);
nomem:
    *ok = false;
    return NULL;
}

struct avail_share {
    unsigned refs; /* lists pointing here */
    struct avail_slot *v;
    struct avail_strpool *pool;
};

void avail_slots_init(struct avail_slots *s)
{
    s->v = NULL;
    s->n = 0;
    s->cap = 0;
    s->pool = NULL;
    s->share = NULL;
}

void avail_slots_clear(struct avail_slots *s)
{
    if (s == NULL)
        return;
    if (s->share != NULL) {
        if (--s->share->refs == 0) {
            pool_free(s->share->pool);
            free(s->share->v);
            free(s->share);
        }
    } else {
        pool_free(s->pool);
        free(s->v);
    }
    avail_slots_init(s);
}

int avail_slots_freeze(struct avail_slots *s)
{
    struct avail_share *sh;

    if (s->share != NULL)
        return 0;
    if ((sh = calloc(1, sizeof(*sh))) == NULL)
        return -1;
    sh->refs = 1;
    sh->v = s->v;
    sh->pool = s->pool;
    s->share = sh;
    s->cap = 0; /* the array is not s's to grow any more */
    return 0;
}

int avail_slots_share(struct avail_slots *dst, const struct avail_slots *src,
                      size_t from)
{
    if (dst == src)
        return 0;
    avail_slots_clear(dst);
    if (from > src->n)
        from = src->n;
    if (src->share == NULL) {
        for (size_t i = from; i < src->n; i++)
            if (avail_slots_add_slot(dst, &src->v[i]) != 0) {
                avail_slots_clear(dst);
                return -1;
            }
        return 0;
    }
    src->share->refs++; /* the block is shared, not src itself */
    dst->v = src->n > from ? src->v + from : NULL;
    dst->n = src->n - from;
    dst->share = src->share;
    return 0;
}

/* A shared list about to change gets its own copy first. */
static int unshare(struct avail_slots *s)
{
    struct avail_slots own;

    if (s->share == NULL)
        return 0;
    avail_slots_init(&own);
    for (size_t i = 0; i < s->n; i++)
        if (avail_slots_add_slot(&own, &s->v[i]) != 0) {
            avail_slots_clear(&own);
            return -1;
        }
    avail_slots_clear(s);
    *s = own;
    return 0;
}

int avail_slots_add_slot(struct avail_slots *s, const struct avail_slot *src)
{
    struct avail_slot sl;
    bool ok = true;

    if (unshare(s) != 0)
        return -1;
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
    /* A failed intern leaves at most an unused string in the pool. */
    sl.start = src->start;
    sl.end = src->end;
    sl.practitioner = intern(s, src->practitioner, &ok);
    sl.service = intern(s, src->service, &ok);
    sl.service_id = intern(s, src->service_id, &ok);
    sl.booking_url = intern(s, src->booking_url, &ok);
    sl.booking_phone = intern(s, src->booking_phone, &ok);
    sl.capacity = src->capacity >= 1 ? src->capacity : 1;
    sl.follow_up = src->follow_up;
    if (!ok)
        return -1;
    s->v[s->n++] = sl;
    return 0;
}

int avail_slots_set_str(struct avail_slots *s, const char **field,
                        const char *value)
{
    bool ok = true;
    const char *d;

    /* field points into s: find its index again after a copy. */
    if (s->share != NULL) {
        size_t at = (size_t)((const char *)field - (const char *)s->v);

        if (unshare(s) != 0)
            return -1;
        field = (const char **)(void *)((char *)s->v + at);
    }
    d = intern(s, value, &ok);
    if (!ok)
        return -1;
    *field = d;
    return 0;
}

void avail_slots_truncate(struct avail_slots *s, size_t n)
{
    if (n < s->n)
        s->n = n;
}

void avail_slots_shrink(struct avail_slots *s)
{
    struct avail_slot *nv;

    if (s->share != NULL || s->cap == s->n)
        return; /* a shared array is not ours to resize */
    if (s->n == 0) {
        free(s->v);
        s->v = NULL;
        s->cap = 0;
        return;
    }
    nv = realloc(s->v, s->n * sizeof(*nv));
    if (nv != NULL) {
        s->v = nv;
        s->cap = s->n;
    }
}

int avail_slots_add(struct avail_slots *s, int64_t start, int64_t end,
                    const char *practitioner, const char *service,
                    const char *service_id)
{
    /* Borrowed strings: avail_slots_add_slot interns its own copies. */
    struct avail_slot sl = {
        .start = start,
        .end = end,
        .practitioner = practitioner,
        .service = service,
        .service_id = service_id,
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
    if (a == b) /* interned: same list, same text */
        return 0;
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

/* qsort() comparator for an array of `const struct avail_slot *`. */
static int slot_ptr_cmp(const void *a, const void *b)
{
    const struct avail_slot *x = *(const struct avail_slot *const *)a;
    const struct avail_slot *y = *(const struct avail_slot *const *)b;
    int c;

    if ((c = cmp_i64(x->start, y->start)) != 0)
        return c;
    return cmp_str(x->practitioner, y->practitioner);
}

int avail_slots_future(const struct avail_slots *s, int64_t now,
                       const struct avail_slot ***out, size_t *n)
{
    const struct avail_slot **v;
    size_t i, m = 0;

    *out = NULL;
    *n = 0;
    if (s->n == 0)
        return 0;
    if ((v = calloc(s->n, sizeof(*v))) == NULL)
        return -1;
    for (i = 0; i < s->n; i++)
        if (s->v[i].start > now)
            v[m++] = &s->v[i];
    if (m > 1)
        qsort(v, m, sizeof(*v), slot_ptr_cmp);
    *out = v;
    *n = m;
    return 0;
}

static int slot_qsort_cmp(const void *a, const void *b)
{
    return slot_cmp(a, b);
}

bool avail_slots_sorted(const struct avail_slots *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (slot_cmp(&s->v[i - 1], &s->v[i]) >= 0)
            return false;
    return true;
}

void avail_slots_sort(struct avail_slots *s)
{
    size_t w = 0;

    /* Upstreams mostly answer in time order: one pass proves it (and no
     * duplicates) for a fraction of qsort's comparisons. */
    if (s->n < 2 || avail_slots_sorted(s))
        return;
    if (s->share != NULL && unshare(s) != 0)
        return; /* no memory for a copy */
    qsort(s->v, s->n, sizeof(s->v[0]), slot_qsort_cmp);
    for (size_t r = 0; r < s->n; r++) {
        /* A duplicate's strings are the pool's: nothing to free. */
        if (w > 0 && slot_cmp(&s->v[w - 1], &s->v[r]) == 0)
            continue;
        s->v[w++] = s->v[r];
    }
    s->n = w;
}

bool avail_slots_any_after(const struct avail_slots *s, int64_t now)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->v[i].start > now)
            return true;
    return false;
}

bool avail_slots_equal(const struct avail_slots *a, const struct avail_slots *b)
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
    int64_t prev = INT64_MIN; /* last date counted; below any int32 */
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
            continue; /* started or past: not bookable */
        out->free_slots++;
        if (slots->v[i].follow_up)
            continue; /* not bookable by a new patient */
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
