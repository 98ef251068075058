/*
 * test_plaus.c - the empty-answer plausibility core (plaus.h), without a
 * loop: cycles of answers in every kind of order must end the same way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "slotfeed/plaus.h"

#define N 10

struct world {
    struct plaus *pl;
    struct plaus_clinic c[N];
    bool applied_empty[N]; /* last accepted answer was empty */
    int released;          /* held answers accepted via the callback */
    int suspects;          /* flagged via the callback */
    int events;
};

static void on_change(void *arg, struct plaus_clinic *pc, enum plaus_verdict v)
{
    struct world *w = arg;
    size_t i = (size_t)(pc - w->c);

    if (v == PLAUS_ACCEPT) {
        w->applied_empty[i] = true;
        w->released++;
    } else {
        w->suspects++;
    }
}

static void world_init(struct world *w, const char *key)
{
    size_t i;

    memset(w, 0, sizeof(*w));
    w->pl = plaus_new();
    assert_non_null(w->pl);
    for (i = 0; i < N; i++)
        assert_int_equal(plaus_attach(w->pl, &w->c[i], key, true), 0);
}

/* One answer of clinic i; returns the verdict. */
static enum plaus_verdict answer(struct world *w, size_t i, bool empty)
{
    bool ev = false;
    enum plaus_verdict v =
        plaus_answer(&w->c[i], empty, NULL, on_change, w, &ev);

    w->events += ev;
    if (v == PLAUS_ACCEPT)
        w->applied_empty[i] = empty;
    return v;
}

/* A cycle: every clinic answers once, in order perm; drop[i] = empty. */
static void cycle(struct world *w, const size_t *perm, const bool *drop)
{
    size_t k;

    /* a pass: every poll begins before any answer comes */
    for (k = 0; k < N; k++)
        plaus_begin(&w->c[k]);
    for (k = 0; k < N; k++)
        answer(w, perm[k], drop[perm[k]]);
}

/* Deterministic permutations (an LCG shuffle per seed). */
static void perm_of(unsigned seed, size_t *perm)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i, j, t;

    for (i = 0; i < N; i++)
        perm[i] = i;
    for (i = N - 1; i > 0; i--) {
        x = x * 1664525u + 1013904223u;
        j = (x >> 8) % (i + 1);
        t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* ndrop of N drop in one cycle: the outcome whatever the order. need is
 * max(5, ceil(0.6 x 10)) = 6. */
static void run_drops(size_t ndrop, bool want_event)
{
    unsigned seed;

    for (seed = 0; seed < 50; seed++) {
        struct world w;
        size_t perm[N], i;
        bool drop[N];
        int held = 0;

        world_init(&w, "http://vp.example:443");
        for (i = 0; i < N; i++)
            drop[i] = i < ndrop;
        perm_of(seed, perm);
        cycle(&w, perm, drop);
        for (i = 0; i < N; i++) {
            held += w.c[i].held > 0;
            if (want_event && i < ndrop) {
                assert_int_equal(w.c[i].held, 1);
                assert_true(w.c[i].flagged);
                assert_false(w.applied_empty[i]);
            } else {
                assert_int_equal(w.c[i].held, 0);
                assert_int_equal(w.applied_empty[i], i < ndrop);
            }
        }
        assert_int_equal(held, want_event ? (int)ndrop : 0);
        assert_int_equal(w.events, want_event ? 1 : 0);
        plaus_free(w.pl);
    }
}

static void test_order_independent(void **state)
{
    (void)state;
    run_drops(1, false);
    run_drops(2, false);
    run_drops(5, false); /* below need: released by the end */
    run_drops(6, true);
    run_drops(10, true);
}

/*
 * Staggered polls (each begins just before it answers): non-empty
 * answers that came before the first drop may predate the fault, so they
 * are no evidence. Five of ten dropping after the others answered stay
 * held until the others answer again, then are released; never an event.
 */
static void test_staggered_release_next_cycle(void **state)
{
    struct world w;
    size_t order[N] = { 5, 6, 7, 8, 9, 0, 1, 2, 3, 4 }, k, i;

    (void)state;
    world_init(&w, "h");
    for (k = 0; k < N; k++) {
        plaus_begin(&w.c[order[k]]);
        answer(&w, order[k], order[k] < 5);
    }
    for (i = 0; i < 5; i++)
        assert_int_equal(w.c[i].held, 1);
    for (k = 0; k < N; k++) {
        plaus_begin(&w.c[order[k]]);
        answer(&w, order[k], order[k] < 5);
        if (k == 0) /* one witness: 5 held + 4 unknown >= need 6 */
            assert_int_equal(w.released, 0);
    }
    for (i = 0; i < N; i++) {
        assert_int_equal(w.c[i].held, 0);
        assert_int_equal(w.applied_empty[i], i < 5);
    }
    assert_int_equal(w.released, 5);
    assert_int_equal(w.events, 0);
    plaus_free(w.pl);
}

/* Held for confirm_polls - 1 answers, the next one is believed; a second
 * event is not counted within the same run. */
static void test_persisting_accepted(void **state)
{
    struct world w;
    size_t perm[N], i;
    bool drop[N];

    (void)state;
    world_init(&w, "h");
    for (i = 0; i < N; i++)
        drop[i] = true;
    perm_of(7, perm);
    cycle(&w, perm, drop);
    cycle(&w, perm, drop);
    for (i = 0; i < N; i++) {
        assert_int_equal(w.c[i].held, 2);
        assert_false(w.applied_empty[i]);
    }
    cycle(&w, perm, drop);
    for (i = 0; i < N; i++) {
        assert_int_equal(w.c[i].held, 0);
        assert_true(w.applied_empty[i]);
        assert_false(w.c[i].had_free);
    }
    assert_int_equal(w.events, 1);
    /* empty again: not a drop any more */
    assert_int_equal(answer(&w, 0, true), PLAUS_ACCEPT);
    plaus_free(w.pl);
}

/* Hosts are counted apart; confirm_polls 1 turns the check off; detach
 * gives back what attach and answers took. */
static void test_hosts_params_detach(void **state)
{
    struct world w;
    struct plaus_clinic other;
    struct plaus_params off = { 0, 0, 1 };
    int cand, held, need;
    size_t i;

    (void)state;
    world_init(&w, "a");
    memset(&other, 0, sizeof(other));
    assert_int_equal(plaus_attach(w.pl, &other, "b", true), 0);
    for (i = 0; i < 6; i++)
        answer(&w, i, true);
    assert_int_equal(w.events, 1);
    /* host b's single clinic is unaffected by host a's emptying */
    assert_int_equal(plaus_answer(&other, true, NULL, NULL, NULL, NULL),
                     PLAUS_ACCEPT);
    plaus_host_counts(&w.c[0], NULL, &cand, &held, &need);
    assert_int_equal(cand, 10);
    assert_int_equal(held, 6);
    assert_int_equal(need, 6);
    for (i = 0; i < 6; i++)
        plaus_detach(&w.c[i]);
    plaus_host_counts(&w.c[9], NULL, &cand, &held, &need);
    assert_int_equal(cand, 4);
    assert_int_equal(held, 0);
    assert_int_equal(need, 5);
    /* check off: a drop is applied at once */
    assert_int_equal(plaus_answer(&w.c[9], true, &off, NULL, NULL, NULL),
                     PLAUS_ACCEPT);
    assert_int_equal(plaus_answer(NULL, true, NULL, NULL, NULL, NULL),
                     PLAUS_ACCEPT);
    plaus_free(w.pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_staggered_release_next_cycle),
        cmocka_unit_test(test_persisting_accepted),
        cmocka_unit_test(test_hosts_params_detach),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
