/*
 * test_availability.c - the slot list and the care-guarantee computation.
 *
 * Instants are built with glibc's timegm from UTC times worked out by hand
 * (Stockholm is UTC+1 in winter, UTC+2 from the last Sunday of March to the
 * last Sunday of October), so the expectations do not come from clock.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotfeed/availability.h"
#include "th_time.h"

static void add(struct avail_slots *s, int64_t start, const char *who)
{
    assert_int_equal(avail_slots_add(s, start, start + 1800, who, "Nybesök",
                                     "NB1"),
                     0);
}

static const struct avail_rule CAL3 = { 3, AVAIL_COUNT_CALENDAR };
static const struct avail_rule WORK3 = { 3, AVAIL_COUNT_WORKING };

/* --- slot list --------------------------------------------------------------- */

static void test_list_basics(void **state)
{
    struct avail_slots a, b;

    (void)state;
    avail_slots_init(&a);
    avail_slots_init(&b);
    assert_int_equal(a.n, 0);
    assert_null(a.v);
    for (int i = 0; i < 100; i++) /* crosses several reallocations */
        add(&a, 1000 + i, i % 2 ? "Dalmo, Jacob" : NULL);
    assert_int_equal(a.n, 100);
    assert_string_equal(a.v[99].practitioner, "Dalmo, Jacob");
    assert_null(a.v[98].practitioner);
    assert_int_equal(a.v[50].end, 1050 + 1800);

    /* copy is deep */
    assert_int_equal(avail_slots_copy(&b, &a), 0);
    assert_true(avail_slots_equal(&a, &b));
    assert_ptr_not_equal(a.v[1].practitioner, b.v[1].practitioner);
    assert_ptr_not_equal(a.v[1].service, b.v[1].service);
    assert_int_equal(avail_slots_set_str(&b, &b.v[1].service, "Xybesök"), 0);
    assert_string_equal(b.v[1].service, "Xybesök");
    assert_false(avail_slots_equal(&a, &b));
    assert_string_equal(a.v[1].service, "Nybesök");
    assert_string_equal(b.v[3].service, "Nybesök"); /* only v[1] moved */

    /* copy over a non-empty list replaces it */
    assert_int_equal(avail_slots_copy(&b, &a), 0);
    assert_true(avail_slots_equal(&a, &b));

    /* move: src emptied, dst's old content freed (ASan checks leaks) */
    avail_slots_move(&b, &a);
    assert_int_equal(a.n, 0);
    assert_null(a.v);
    assert_int_equal(b.n, 100);
    assert_false(avail_slots_equal(&a, &b));
    avail_slots_move(&b, &b); /* self-move is a no-op */
    assert_int_equal(b.n, 100);

    avail_slots_clear(&b);
    assert_int_equal(b.n, 0);
    avail_slots_clear(&b);
    avail_slots_clear(NULL);
    assert_true(avail_slots_equal(&a, &b));
    avail_slots_clear(&a);
}

static void test_list_sort_dedupe(void **state)
{
    struct avail_slots s, t;

    (void)state;
    avail_slots_init(&s);
    avail_slots_init(&t);
    assert_int_equal(avail_slots_add(&s, 300, 400, "Berg, Anna", "A", "1"), 0);
    assert_int_equal(avail_slots_add(&s, 100, 200, "Dalmo, Jacob", "A", "1"),
                     0);
    assert_int_equal(avail_slots_add(&s, 100, 200, "Berg, Anna", "A", "1"), 0);
    assert_int_equal(avail_slots_add(&s, 300, 400, "Berg, Anna", "A", "1"), 0);
    assert_int_equal(avail_slots_add(&s, 100, 200, NULL, NULL, NULL), 0);
    assert_int_equal(avail_slots_add(&s, 100, 200, NULL, NULL, NULL), 0);
    /* differs from the first only in service_id: not a duplicate */
    assert_int_equal(avail_slots_add(&s, 300, 400, "Berg, Anna", "A", "2"), 0);
    avail_slots_sort(&s);

    assert_int_equal(s.n, 5);
    assert_int_equal(s.v[0].start, 100);
    assert_null(s.v[0].practitioner);
    assert_string_equal(s.v[1].practitioner, "Berg, Anna");
    assert_string_equal(s.v[2].practitioner, "Dalmo, Jacob");
    assert_int_equal(s.v[3].start, 300);
    assert_string_equal(s.v[3].service_id, "1");
    assert_string_equal(s.v[4].service_id, "2");

    /* the same slots in another order sort to an equal list */
    assert_int_equal(avail_slots_add(&t, 300, 400, "Berg, Anna", "A", "2"), 0);
    assert_int_equal(avail_slots_add(&t, 100, 200, "Dalmo, Jacob", "A", "1"),
                     0);
    assert_int_equal(avail_slots_add(&t, 100, 200, NULL, NULL, NULL), 0);
    assert_int_equal(avail_slots_add(&t, 300, 400, "Berg, Anna", "A", "1"), 0);
    assert_false(avail_slots_equal(&s, &t));
    assert_int_equal(avail_slots_add(&t, 100, 200, "Berg, Anna", "A", "1"), 0);
    avail_slots_sort(&t);
    assert_true(avail_slots_equal(&s, &t));
    /* in order but for a repeat at the end (the shortcut for sorted
     * lists): the repeat still goes */
    assert_int_equal(avail_slots_add(&t, 300, 400, "Berg, Anna", "A", "2"), 0);
    assert_int_equal(t.n, 6);
    avail_slots_sort(&t);
    assert_true(avail_slots_equal(&s, &t));

    avail_slots_clear(&s);
    avail_slots_sort(&s); /* empty: fine */
    avail_slots_clear(&t);
}

/*
 * Strings are interned per list: equal text in one list is one copy, a
 * copy or a cleared source leaves the other list intact (ASan checks the
 * use-after-free half), truncate and shrink keep the remaining slots.
 */
static void test_list_interning(void **state)
{
    struct avail_slots a, b;
    char name[32];

    (void)state;
    avail_slots_init(&a);
    avail_slots_init(&b);
    for (int i = 0; i < 300; i++) {
        /* A fresh buffer each time: sharing must come from the text. */
        snprintf(name, sizeof(name), "Pract %d", i % 3);
        assert_int_equal(avail_slots_add(&a, 1000 + i * 60, 1030 + i * 60, name,
                                         "Nybesök", "NYB"),
                         0);
    }
    assert_ptr_equal(a.v[0].practitioner, a.v[3].practitioner);
    assert_ptr_equal(a.v[0].practitioner, a.v[297].practitioner);
    assert_ptr_not_equal(a.v[0].practitioner, a.v[1].practitioner);
    assert_ptr_equal(a.v[0].service, a.v[299].service);
    assert_ptr_not_equal(a.v[0].practitioner, (const char *)name);
    assert_string_equal(a.v[1].practitioner, "Pract 1");

    /* Many distinct strings (a deep link per slot) stay distinct. */
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "https://b.example/%d", i);
        assert_int_equal(avail_slots_set_str(&a, &a.v[i].booking_url, name), 0);
    }
    assert_string_equal(a.v[0].booking_url, "https://b.example/0");
    assert_string_equal(a.v[299].booking_url, "https://b.example/299");
    assert_string_equal(a.v[150].booking_url, "https://b.example/150");

    assert_int_equal(avail_slots_copy(&b, &a), 0);
    avail_slots_clear(&a); /* b must not lean on a's pool */
    assert_int_equal(b.n, 300);
    assert_string_equal(b.v[2].practitioner, "Pract 2");
    assert_string_equal(b.v[299].booking_url, "https://b.example/299");
    assert_ptr_equal(b.v[0].service, b.v[1].service);

    avail_slots_truncate(&b, 10);
    assert_int_equal(b.n, 10);
    avail_slots_truncate(&b, 20); /* beyond n: nothing */
    assert_int_equal(b.n, 10);
    avail_slots_shrink(&b);
    assert_int_equal(b.cap, 10);
    assert_string_equal(b.v[9].booking_url, "https://b.example/9");
    assert_int_equal(avail_slots_add(&b, 5, 6, "Pract 0", NULL, NULL), 0);
    assert_ptr_equal(b.v[10].practitioner, b.v[0].practitioner);
    avail_slots_truncate(&b, 0);
    avail_slots_shrink(&b);
    assert_null(b.v);
    avail_slots_clear(&b);
}

/* booking_url/booking_phone/capacity: copied deeply, compared, defaulted. */
static void test_booking_fields(void **state)
{
    struct avail_slots a, b;
    struct avail_slot tpl = {
        .start = 5000,
        .end = 5900,
        .practitioner = NULL,
        .service = "Nybesök",
        .booking_url = "https://book.example/s?slot=1",
        .booking_phone = "054-10 00 00",
        .capacity = 4,
    };

    (void)state;
    avail_slots_init(&a);
    avail_slots_init(&b);
    assert_int_equal(avail_slots_add_slot(&a, &tpl), 0);
    assert_int_equal(avail_slots_add(&a, 6000, 6900, NULL, NULL, NULL), 0);
    tpl.capacity = 0; /* below 1: stored as 1 */
    tpl.start = 7000;
    tpl.end = 7600;
    assert_int_equal(avail_slots_add_slot(&a, &tpl), 0);

    assert_string_equal(a.v[0].booking_url, "https://book.example/s?slot=1");
    assert_ptr_not_equal(a.v[0].booking_url, tpl.booking_url);
    assert_string_equal(a.v[0].booking_phone, "054-10 00 00");
    assert_int_equal(a.v[0].capacity, 4);
    assert_null(a.v[1].booking_url);
    assert_null(a.v[1].booking_phone);
    assert_int_equal(a.v[1].capacity, 1);
    assert_int_equal(a.v[2].capacity, 1);

    assert_int_equal(avail_slots_copy(&b, &a), 0);
    assert_true(avail_slots_equal(&a, &b));
    assert_ptr_not_equal(a.v[0].booking_url, b.v[0].booking_url);
    assert_string_equal(b.v[0].booking_phone, "054-10 00 00");
    assert_int_equal(b.v[0].capacity, 4);

    /* each new field takes part in equality */
    b.v[0].capacity = 5;
    assert_false(avail_slots_equal(&a, &b));
    b.v[0].capacity = 4;
    assert_int_equal(avail_slots_set_str(&b, &b.v[0].booking_url,
                                         "https://Xook.example/s?slot=1"),
                     0);
    assert_false(avail_slots_equal(&a, &b));
    assert_int_equal(avail_slots_copy(&b, &a), 0);
    assert_int_equal(avail_slots_set_str(&b, &b.v[0].booking_phone, NULL), 0);
    assert_null(b.v[0].booking_phone);
    assert_false(avail_slots_equal(&a, &b));

    /* slots differing only in booking_url are not duplicates */
    avail_slots_clear(&b);
    tpl.start = 5000;
    tpl.end = 5900;
    tpl.capacity = 4;
    assert_int_equal(avail_slots_add_slot(&b, &tpl), 0);
    tpl.booking_url = "https://book.example/s?slot=2";
    assert_int_equal(avail_slots_add_slot(&b, &tpl), 0);
    assert_int_equal(avail_slots_add_slot(&b, &tpl), 0);
    avail_slots_sort(&b);
    assert_int_equal(b.n, 2);

    avail_slots_clear(&a);
    avail_slots_clear(&b);
}

static void test_counting_names(void **state)
{
    enum avail_counting c = AVAIL_COUNT_CALENDAR;

    (void)state;
    assert_string_equal(avail_counting_name(AVAIL_COUNT_CALENDAR), "calendar");
    assert_string_equal(avail_counting_name(AVAIL_COUNT_WORKING), "working");
    assert_int_equal(avail_counting_parse("working", &c), 0);
    assert_int_equal(c, AVAIL_COUNT_WORKING);
    assert_int_equal(avail_counting_parse("calendar", &c), 0);
    assert_int_equal(c, AVAIL_COUNT_CALENDAR);
    assert_int_equal(avail_counting_parse("Working ", &c), -1);
    assert_int_equal(avail_counting_parse("", &c), -1);
    assert_int_equal(avail_counting_parse(NULL, &c), -1);
    assert_int_equal(c, AVAIL_COUNT_CALENDAR);
}

/* --- deadline ------------------------------------------------------------- */

static void test_deadline(void **state)
{
    struct avail_rule r;

    (void)state;
    assert_int_equal(avail_deadline(th_dayn(2026, 1, 15), &CAL3),
                     th_dayn(2026, 1, 18));
    r = (struct avail_rule){ 0, AVAIL_COUNT_CALENDAR };
    assert_int_equal(avail_deadline(th_dayn(2026, 1, 15), &r),
                     th_dayn(2026, 1, 15));
    r = (struct avail_rule){ 0, AVAIL_COUNT_WORKING };
    assert_int_equal(avail_deadline(th_dayn(2026, 1, 17), &r),
                     th_dayn(2026, 1, 17));

    /* Friday 2026-01-16: Mon 19, Tue 20, Wed 21. */
    assert_int_equal(avail_deadline(th_dayn(2026, 1, 16), &WORK3),
                     th_dayn(2026, 1, 21));
    /* Saturday, N=1: the next Monday. */
    r = (struct avail_rule){ 1, AVAIL_COUNT_WORKING };
    assert_int_equal(avail_deadline(th_dayn(2026, 1, 17), &r),
                     th_dayn(2026, 1, 19));
    /* Skärtorsdagen 2026-04-02: Fri 3 - Mon 6 closed; Tue 7, Wed 8, Thu 9. */
    assert_int_equal(avail_deadline(th_dayn(2026, 4, 2), &WORK3),
                     th_dayn(2026, 4, 9));
    assert_int_equal(avail_deadline(th_dayn(2026, 4, 2), &CAL3),
                     th_dayn(2026, 4, 5));
    /* Wed 2026-12-23: 24-27 closed; Mon 28, Tue 29, Wed 30. */
    assert_int_equal(avail_deadline(th_dayn(2026, 12, 23), &WORK3),
                     th_dayn(2026, 12, 30));
    /* Tue 2026-12-29: Wed 30, (31 eve, Jan 1, weekend) Mon 4, Tue 5. */
    assert_int_equal(avail_deadline(th_dayn(2026, 12, 29), &WORK3),
                     th_dayn(2027, 1, 5));
    /* Thu 2026-06-18: (19 midsommarafton, weekend) Mon 22, Tue 23, Wed 24. */
    assert_int_equal(avail_deadline(th_dayn(2026, 6, 18), &WORK3),
                     th_dayn(2026, 6, 24));
}

/* --- compute ---------------------------------------------------------------- */

static void test_empty(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 1, 15, 10, 0, 0);

    (void)state;
    avail_slots_init(&s);
    memset(&r, 0x5a, sizeof(r));
    avail_compute(&s, now, &CAL3, &r);
    assert_false(r.has_first_free);
    assert_false(r.within_guarantee);
    assert_int_equal(r.free_slots, 0);
    assert_int_equal(r.free_slots_within_guarantee, 0);
    assert_int_equal(r.n_upcoming, 0);
    assert_int_equal(r.more_days, 0);
    assert_int_equal(r.contact_day, th_dayn(2026, 1, 15));
    assert_int_equal(r.deadline_day, th_dayn(2026, 1, 18));
}

/* Winter: local midnight is 23:00 UTC of the previous UTC date. */
static void test_boundary_winter(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 1, 15, 10, 0, 0); /* Thu 11:00 local */

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 1, 18, 22, 59, 0), "A"); /* Sun 18 23:59 local */
    avail_compute(&s, now, &CAL3, &r);
    assert_true(r.within_guarantee);
    assert_int_equal(r.free_slots_within_guarantee, 1);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 1, 18));
    avail_slots_clear(&s);

    add(&s, th_utc(2026, 1, 18, 23, 0, 0), "A"); /* Mon 19 00:00 local */
    avail_compute(&s, now, &CAL3, &r);
    assert_false(r.within_guarantee);
    assert_int_equal(r.free_slots_within_guarantee, 0);
    assert_int_equal(r.free_slots, 1);
    assert_true(r.has_first_free);
    assert_int_equal(r.first_free, th_utc(2026, 1, 18, 23, 0, 0));
    assert_int_equal(r.n_upcoming, 1);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 1, 19));
    avail_slots_clear(&s);
}

/* Summer: local midnight is 22:00 UTC. */
static void test_boundary_summer(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 7, 15, 10, 0, 0);

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 7, 18, 21, 59, 0), "A"); /* 18th 23:59 local */
    add(&s, th_utc(2026, 7, 18, 22, 0, 0), "A");  /* 19th 00:00 local */
    add(&s, th_utc(2026, 7, 18, 22, 30, 0), "B"); /* 19th 00:30 local */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.deadline_day, th_dayn(2026, 7, 18));
    assert_int_equal(r.free_slots, 3);
    assert_int_equal(r.free_slots_within_guarantee, 1);
    assert_int_equal(r.n_upcoming, 2);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 7, 18));
    assert_int_equal(r.upcoming_days[1], th_dayn(2026, 7, 19));
    assert_int_equal(r.more_days, 0);
    avail_slots_clear(&s);
}

/* Now just after local midnight (still the previous UTC date). */
static void test_contact_day_local_midnight(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 1, 15, 23, 30, 0); /* Fri 16 00:30 local */

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 1, 19, 22, 59, 0), "A"); /* Mon 19 23:59 local */
    add(&s, th_utc(2026, 1, 15, 23, 45, 0), "A"); /* day 0 itself */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.contact_day, th_dayn(2026, 1, 16));
    assert_int_equal(r.deadline_day, th_dayn(2026, 1, 19));
    assert_int_equal(r.free_slots_within_guarantee, 2);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 1, 16));
    assert_int_equal(r.first_free, th_utc(2026, 1, 15, 23, 45, 0));

    /* one second before local midnight: day 0 is the 15th */
    avail_compute(&s, th_utc(2026, 1, 15, 22, 59, 59), &CAL3, &r);
    assert_int_equal(r.contact_day, th_dayn(2026, 1, 15));
    assert_int_equal(r.deadline_day, th_dayn(2026, 1, 18));
    assert_int_equal(r.free_slots_within_guarantee, 1);
    avail_slots_clear(&s);
}

static void test_now_and_past(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 3, 2, 9, 0, 0);

    (void)state;
    avail_slots_init(&s);
    add(&s, now - 86400 * 3, "A"); /* long gone */
    add(&s, now - 1, "A");
    add(&s, now, "B"); /* starts exactly now */
    avail_compute(&s, now, &CAL3, &r);
    assert_false(r.has_first_free);
    assert_int_equal(r.free_slots, 0);
    assert_int_equal(r.n_upcoming, 0);
    assert_false(r.within_guarantee);

    add(&s, now + 1, "C");
    avail_compute(&s, now, &CAL3, &r);
    assert_true(r.has_first_free);
    assert_int_equal(r.first_free, now + 1);
    assert_int_equal(r.free_slots, 1);
    assert_int_equal(r.free_slots_within_guarantee, 1);
    assert_int_equal(r.n_upcoming, 1);
    avail_slots_clear(&s);
}

/*
 * Several slots per day over five dates + past ones: the first three dates
 * listed, "(+2)" for the rest; same answer in any input order.
 */
static void test_upcoming_days(void **state)
{
    struct avail_slots s, sorted;
    struct avail_result r, r2;
    int64_t now = th_utc(2026, 2, 2, 9, 0, 0); /* Mon 10:00 local */
    /* (day of February, local hour) */
    static const int when[][2] = {
        { 10, 8 }, { 3, 9 },  { 3, 14 }, { 9, 13 }, { 3, 8 }, { 4, 16 },
        { 10, 9 }, { 1, 12 }, { 9, 7 },  { 2, 9 },  { 4, 0 }, { 13, 23 },
    };

    (void)state;
    avail_slots_init(&s);
    avail_slots_init(&sorted);
    for (size_t i = 0; i < sizeof(when) / sizeof(when[0]); i++)
        add(&s, th_utc(2026, 2, when[i][0], when[i][1] - 1, 0, 0), "A");
    /* 1 Feb and 2 Feb 09:00 are past: 10 future slots on 3,4,9,10,13 Feb */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.free_slots, 10);
    assert_int_equal(r.contact_day, th_dayn(2026, 2, 2));
    assert_int_equal(r.deadline_day, th_dayn(2026, 2, 5));
    assert_int_equal(r.free_slots_within_guarantee, 5); /* 3x 3rd, 2x 4th */
    assert_int_equal(r.first_free, th_utc(2026, 2, 3, 7, 0, 0));
    assert_int_equal(r.n_upcoming, 3);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 2, 3));
    assert_int_equal(r.upcoming_days[1], th_dayn(2026, 2, 4));
    assert_int_equal(r.upcoming_days[2], th_dayn(2026, 2, 9));
    assert_int_equal(r.more_days, 2);

    assert_int_equal(avail_slots_copy(&sorted, &s), 0);
    avail_slots_sort(&sorted);
    avail_compute(&sorted, now, &CAL3, &r2);
    assert_memory_equal(&r, &r2, sizeof(r));
    /* the input was not modified */
    assert_int_equal(s.v[0].start, th_utc(2026, 2, 10, 7, 0, 0));

    /* A slot at 00:00 local on the 4th (23:00 UTC on the 3rd) counts for
     * the 4th, not a new date. */
    add(&sorted, th_utc(2026, 2, 3, 23, 0, 0), "B");
    avail_slots_sort(&sorted);
    avail_compute(&sorted, now, &CAL3, &r2);
    assert_int_equal(r2.upcoming_days[1], th_dayn(2026, 2, 4));
    assert_int_equal(r2.more_days, 2);
    assert_int_equal(r2.free_slots_within_guarantee, 6);

    avail_slots_clear(&s);
    avail_slots_clear(&sorted);
}

/* Exactly the first three dates: no "(+N)". */
static void test_upcoming_exactly_three(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    int64_t now = th_utc(2026, 5, 4, 6, 0, 0);

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 5, 20, 8, 0, 0), "A");
    add(&s, th_utc(2026, 5, 6, 8, 0, 0), "A");
    add(&s, th_utc(2026, 5, 6, 9, 0, 0), "A");
    add(&s, th_utc(2026, 5, 11, 8, 0, 0), "A");
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.n_upcoming, 3);
    assert_int_equal(r.more_days, 0);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 5, 6));
    assert_int_equal(r.upcoming_days[1], th_dayn(2026, 5, 11));
    assert_int_equal(r.upcoming_days[2], th_dayn(2026, 5, 20));
    assert_true(r.within_guarantee);
    avail_slots_clear(&s);
}

/* Working-day counting across a weekend and across Easter. */
static void test_working_rule(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    /* Skärtorsdagen 2026-04-02 14:00 local (CEST) */
    int64_t now = th_utc(2026, 4, 2, 12, 0, 0);

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 4, 8, 8, 0, 0), "A");   /* Wed 8 April */
    add(&s, th_utc(2026, 4, 9, 21, 59, 0), "A"); /* Thu 9 23:59 local */
    add(&s, th_utc(2026, 4, 9, 22, 0, 0), "A");  /* Fri 10 00:00 local */
    avail_compute(&s, now, &WORK3, &r);
    assert_int_equal(r.deadline_day, th_dayn(2026, 4, 9));
    assert_true(r.within_guarantee);
    assert_int_equal(r.free_slots_within_guarantee, 2);
    /* calendar days: deadline påskdagen, nothing within */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.deadline_day, th_dayn(2026, 4, 5));
    assert_false(r.within_guarantee);
    avail_slots_clear(&s);

    /* Friday 2026-01-16 14:00 local: Mon, Tue, Wed. */
    now = th_utc(2026, 1, 16, 13, 0, 0);
    add(&s, th_utc(2026, 1, 21, 15, 0, 0), "A"); /* Wed 16:00 */
    add(&s, th_utc(2026, 1, 22, 7, 0, 0), "A");  /* Thu 08:00 */
    avail_compute(&s, now, &WORK3, &r);
    assert_int_equal(r.deadline_day, th_dayn(2026, 1, 21));
    assert_int_equal(r.free_slots_within_guarantee, 1);
    avail_slots_clear(&s);
}

/* Contact day on the DST switch days. */
static void test_dst_contact_day(void **state)
{
    struct avail_slots s;
    struct avail_result r;
    /* 2026-03-29 00:30 local, still CET (UTC 23:30 on the 28th) */
    int64_t now = th_utc(2026, 3, 28, 23, 30, 0);

    (void)state;
    avail_slots_init(&s);
    add(&s, th_utc(2026, 4, 1, 21, 59, 0), "A"); /* Wed 1 Apr 23:59 CEST */
    add(&s, th_utc(2026, 4, 1, 22, 0, 0), "A");  /* Thu 2 Apr 00:00 CEST */
    add(&s, th_utc(2026, 3, 29, 1, 0, 0), "A");  /* 29th 03:00 CEST */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.contact_day, th_dayn(2026, 3, 29));
    assert_int_equal(r.deadline_day, th_dayn(2026, 4, 1));
    assert_int_equal(r.free_slots_within_guarantee, 2);
    assert_int_equal(r.upcoming_days[0], th_dayn(2026, 3, 29));
    assert_int_equal(r.upcoming_days[1], th_dayn(2026, 4, 1));
    assert_int_equal(r.upcoming_days[2], th_dayn(2026, 4, 2));
    avail_slots_clear(&s);

    /* 2026-10-25 00:30 local, still CEST (UTC 22:30 on the 24th) */
    now = th_utc(2026, 10, 24, 22, 30, 0);
    add(&s, th_utc(2026, 10, 28, 22, 59, 0), "A"); /* Wed 28 23:59 CET */
    add(&s, th_utc(2026, 10, 28, 23, 0, 0), "A");  /* Thu 29 00:00 CET */
    add(&s, th_utc(2026, 10, 25, 1, 30, 0), "A");  /* 25th 02:30 CET (2nd) */
    avail_compute(&s, now, &CAL3, &r);
    assert_int_equal(r.contact_day, th_dayn(2026, 10, 25));
    assert_int_equal(r.deadline_day, th_dayn(2026, 10, 28));
    assert_int_equal(r.free_slots_within_guarantee, 2);
    assert_int_equal(r.first_free, th_utc(2026, 10, 25, 1, 30, 0));
    assert_int_equal(r.n_upcoming, 3);
    assert_int_equal(r.upcoming_days[2], th_dayn(2026, 10, 29));
    avail_slots_clear(&s);
}

/* Upstream text with a personnummer never gets into a list:
 * every string field, every way in (add, add_slot, set_str, copy). */
static void test_list_scrubs_personnummer(void **state)
{
    struct avail_slots s, c;
    struct avail_slot t = { 0 };
    const char *const hostile[] = {
        "Dr 19811218-9876",
        "811218\xe2\x80\x93"
        "9876 Nybes\xc3\xb6k",
        "8112189876",
        "https://book.example/p/19811218%209876/slot",
        "tel 19811218 9876",
    };

    (void)state;
    avail_slots_init(&s);
    avail_slots_init(&c);
    assert_int_equal(avail_slots_add(&s, 100, 200, hostile[0], hostile[1],
                                     hostile[2]),
                     0);
    t.start = 300;
    t.end = 400;
    t.practitioner = hostile[2];
    t.service = hostile[0];
    t.service_id = hostile[1];
    t.booking_url = hostile[3];
    t.booking_phone = hostile[4];
    assert_int_equal(avail_slots_add_slot(&s, &t), 0);
    assert_int_equal(avail_slots_set_str(&s, &s.v[0].booking_url, hostile[3]),
                     0);
    assert_int_equal(avail_slots_copy(&c, &s), 0);
    assert_string_equal(s.v[0].practitioner, "Dr [personnummer]");
    assert_string_equal(s.v[0].service, "[personnummer] Nybes\xc3\xb6k");
    assert_string_equal(s.v[0].service_id, "[personnummer]");
    assert_string_equal(s.v[1].booking_url,
                        "https://book.example/p/[personnummer]/slot");
    assert_string_equal(s.v[1].booking_phone, "tel [personnummer]");
    /* one pooled copy for the raw and the scrubbed spelling */
    assert_ptr_equal(s.v[0].service_id, s.v[1].practitioner);
    assert_ptr_equal(s.v[0].booking_url, s.v[1].booking_url);
    for (size_t i = 0; i < s.n; i++) {
        const char *f[] = { s.v[i].practitioner,  s.v[i].service,
                            s.v[i].service_id,    s.v[i].booking_url,
                            s.v[i].booking_phone, c.v[i].practitioner,
                            c.v[i].service,       c.v[i].booking_url };

        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
            assert_true(f[k] == NULL || strstr(f[k], "9876") == NULL);
    }
    /* ordinary text is untouched and still shared */
    assert_int_equal(avail_slots_add(&s, 500, 600, "Dalmo, Jacob",
                                     "Nybes\xc3\xb6k", "FYS-NY 20260331"),
                     0);
    assert_string_equal(s.v[2].service_id, "FYS-NY 20260331");
    avail_slots_clear(&s);
    avail_slots_clear(&c);
}

/*
 * A frozen list shares its memory with views of its tail (the feed's
 * future slots): the view reads the same slots at the same addresses,
 * outlives the list it came from (ASan checks the reads), and changing a
 * shared list gives it its own copy first, leaving the others as they
 * were. An unfrozen source is copied, not shared.
 */
static void test_share(void **state)
{
    struct avail_slots a, v, w, c;
    const char *who = "Dalmo, Jacob";

    (void)state;
    avail_slots_init(&a);
    avail_slots_init(&v);
    avail_slots_init(&w);
    avail_slots_init(&c);
    for (int i = 0; i < 5; i++)
        assert_int_equal(avail_slots_add(&a, 1000 + i * 100, 1050 + i * 100,
                                         i % 2 ? who : NULL, "Nybesök", NULL),
                         0);
    assert_true(avail_slots_sorted(&a));
    /* Not frozen: a copy. */
    assert_int_equal(avail_slots_share(&c, &a, 2), 0);
    assert_int_equal(c.n, 3);
    assert_ptr_not_equal(c.v, a.v + 2);
    assert_int_equal(c.v[0].start, 1200);

    assert_int_equal(avail_slots_freeze(&a), 0);
    assert_int_equal(avail_slots_share(&v, &a, 2), 0);
    assert_ptr_equal(v.v, a.v + 2);
    assert_int_equal(v.n, 3);
    assert_int_equal(avail_slots_share(&w, &v, 1), 0); /* a view of a view */
    assert_ptr_equal(w.v, a.v + 3);
    assert_int_equal(w.n, 2);
    assert_true(avail_slots_equal(&v, &c));
    /* Sorting a sorted shared list changes nothing, not even its array. */
    avail_slots_sort(&v);
    assert_ptr_equal(v.v, a.v + 2);

    /* The source goes first: the views still read their slots. */
    avail_slots_clear(&a);
    assert_int_equal(v.v[2].start, 1400);
    assert_string_equal(v.v[1].practitioner, who);

    /* A change to one view copies it; the other is untouched. */
    assert_int_equal(avail_slots_add(&v, 2000, 2050, NULL, NULL, NULL), 0);
    assert_int_equal(v.n, 4);
    assert_null(v.share);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.v[0].start, 1300);
    assert_int_equal(avail_slots_set_str(&w, &w.v[1].service, "Återbesök"), 0);
    assert_null(w.share);
    assert_string_equal(w.v[1].service, "Återbesök");
    assert_string_equal(v.v[2].service, "Nybesök");
    avail_slots_clear(&v);
    avail_slots_clear(&w);
    avail_slots_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_basics),
        cmocka_unit_test(test_list_interning),
        cmocka_unit_test(test_list_scrubs_personnummer),
        cmocka_unit_test(test_list_sort_dedupe),
        cmocka_unit_test(test_booking_fields),
        cmocka_unit_test(test_counting_names),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_boundary_winter),
        cmocka_unit_test(test_boundary_summer),
        cmocka_unit_test(test_contact_day_local_midnight),
        cmocka_unit_test(test_now_and_past),
        cmocka_unit_test(test_upcoming_days),
        cmocka_unit_test(test_upcoming_exactly_three),
        cmocka_unit_test(test_working_rule),
        cmocka_unit_test(test_dst_contact_day),
        cmocka_unit_test(test_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
