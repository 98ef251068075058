/*
 * fuzz_avail.c - libFuzzer target for avail_compute: a slot list, a now and
 * a guarantee rule decoded from the input, and every promise of
 * availability.h checked against a plain recomputation here (abort() on a
 * mismatch).
 *
 * Layout: byte 0 rule days (-2..31), byte 1 bit 0 WORKING counting, bit 1
 * sort the list first; bytes 2-5 now as a signed offset in seconds from
 * 2026-03-26 08:00Z; then slots of 5 bytes (flags, signed start offset
 * from now in seconds), or 13 with flag bit 1 (flags, any int64 start).
 * Flag bit 0: follow-up. Ends are start + 30 min.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "slotfeed/availability.h"
#include "slotfeed/clock.h"

#define BASE INT64_C(1774512000) /* 2026-03-26 08:00Z */
#define MAX_SLOTS 256
#define DUR 1800

static int64_t rd(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

static int cmp_day(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* The deadline as availability.h words it, checked rather than recomputed
 * for WORKING: the N-th working day after day 0. */
static void check_deadline(int32_t contact, int32_t deadline,
                           const struct avail_rule *rule)
{
    if (rule->days <= 0) {
        if (deadline != contact)
            abort();
        return;
    }
    if (rule->counting == AVAIL_COUNT_CALENDAR) {
        if (deadline != contact + rule->days)
            abort();
        return;
    }
    if (deadline <= contact || !clock_is_working_day(deadline))
        abort();
    {
        int working = 0;
        for (int32_t d = contact + 1; d <= deadline; d++)
            working += clock_is_working_day(d);
        if (working != rule->days)
            abort();
    }
}

static void check(const struct avail_slots *s, int64_t now,
                  const struct avail_rule *rule, const struct avail_result *r)
{
    static int32_t days[MAX_SLOTS];
    bool has_first = false;
    int64_t first = 0;
    int nfree = 0, nwithin = 0, nd = 0, distinct = 0;

    if (r->contact_day != clock_local_day(now))
        abort();
    check_deadline(r->contact_day, r->deadline_day, rule);
    for (size_t i = 0; i < s->n; i++) {
        int64_t st = s->v[i].start;
        if (st <= now)
            continue;
        nfree++;
        days[nd++] = clock_local_day(st);
        if (s->v[i].follow_up)
            continue;
        if (!has_first || st < first)
            first = st;
        has_first = true;
        if (clock_local_day(st) <= r->deadline_day)
            nwithin++;
    }
    if (r->free_slots != nfree || r->has_first_free != has_first ||
        (has_first && r->first_free != first) ||
        r->free_slots_within_guarantee != nwithin ||
        r->within_guarantee != (nwithin > 0))
        abort();
    /* first_free <= every future new-visit start, and is one of them */
    for (size_t i = 0; has_first && i < s->n; i++)
        if (s->v[i].start > now && !s->v[i].follow_up &&
            s->v[i].start < r->first_free)
            abort();
    /* upcoming: the first distinct days in order, the rest counted */
    qsort(days, (size_t)nd, sizeof(days[0]), cmp_day);
    for (int i = 0; i < nd; i++) {
        if (i > 0 && days[i] == days[i - 1])
            continue;
        if (distinct < AVAIL_UPCOMING_MAX &&
            (distinct >= r->n_upcoming ||
             r->upcoming_days[distinct] != days[i]))
            abort();
        distinct++;
    }
    if (r->n_upcoming !=
            (distinct < AVAIL_UPCOMING_MAX ? distinct : AVAIL_UPCOMING_MAX) ||
        r->n_upcoming + r->more_days != distinct)
        abort();
    for (int i = 1; i < r->n_upcoming; i++)
        if (r->upcoming_days[i] <= r->upcoming_days[i - 1])
            abort();
    if (r->n_upcoming > 0 && r->upcoming_days[0] < r->contact_day)
        abort();
}

static bool same(const struct avail_result *a, const struct avail_result *b)
{
    if (a->has_first_free != b->has_first_free ||
        (a->has_first_free && a->first_free != b->first_free) ||
        a->contact_day != b->contact_day ||
        a->deadline_day != b->deadline_day ||
        a->within_guarantee != b->within_guarantee ||
        a->free_slots_within_guarantee != b->free_slots_within_guarantee ||
        a->free_slots != b->free_slots || a->n_upcoming != b->n_upcoming ||
        a->more_days != b->more_days)
        return false;
    for (int i = 0; i < a->n_upcoming; i++)
        if (a->upcoming_days[i] != b->upcoming_days[i])
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct avail_slots s, rev;
    struct avail_rule rule;
    struct avail_result r, r2;
    int64_t now;
    size_t at = 6;

    if (size < 6)
        return 0;
    clock_set_fake(BASE);
    rule.days = (int)(data[0] % 34) - 2;
    rule.counting = (data[1] & 1) ? AVAIL_COUNT_WORKING : AVAIL_COUNT_CALENDAR;
    now = BASE + rd(data + 2, 4);
    avail_slots_init(&s);
    avail_slots_init(&rev);
    while (at < size && s.n < MAX_SLOTS) {
        uint8_t fl = data[at];
        int64_t st;
        if (fl & 2) {
            if (size - at < 9)
                break;
            st = rd(data + at + 1, 8);
            at += 9;
        } else {
            if (size - at < 5)
                break;
            st = now + rd(data + at + 1, 4);
            at += 5;
        }
        if (st > INT64_MAX - DUR)
            st = INT64_MAX - DUR;
        if (avail_slots_add(&s, st, st + DUR, NULL, NULL, NULL) != 0)
            abort();
        s.v[s.n - 1].follow_up = fl & 1;
    }
    if (data[1] & 2)
        avail_slots_sort(&s);
    avail_compute(&s, now, &rule, &r);
    check(&s, now, &rule, &r);
    /* the order of the list does not matter */
    for (size_t i = s.n; i-- > 0;)
        if (avail_slots_add_slot(&rev, &s.v[i]) != 0)
            abort();
    avail_compute(&rev, now, &rule, &r2);
    if (!same(&r, &r2))
        abort();
    avail_slots_clear(&rev);
    avail_slots_clear(&s);
    return 0;
}
