/*
 * test_feed_incr.c - incremental snapshots (feed_build_from) equal full
 * rebuilds (feed_build) byte for byte, over random change sequences.
 *
 * A seeded generator (the seed is printed; SLOTFEED_TEST_SEED overrides
 * it) walks a region of clinics through polls, failures, web-booking
 * changes, held answers released, the clock passing slots and stale
 * deadlines, local midnights (one across the DST change of 2026-03-29)
 * and config reloads. After every step the incremental snapshot, built
 * from the previous incremental one, must equal a snapshot built from
 * nothing at the same instant: all.json and its ETag, all.json's gzip
 * decompressed (and the gzip ETag), every clinic document, its gzip and
 * ETag, the filtered-view info, the SMART files, ETags and
 * transactionTime, Last-Modified. Old snapshots are kept alive for a
 * while and checked unchanged when freed (their bytes are shared with
 * newer ones: ASan sees any early free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/hash.h"

#include "th_text.h"

#define NCLIN 24
#define STEPS 250
#define KEEP 4 /* old snapshots held alive, as replies do */
#define MIN 60
#define HOUR 3600
#define DEFAULT_SEED UINT64_C(0x5107feed12)

struct world {
    struct conf_clinic clinics[2][NCLIN]; /* two configs: reloads swap */
    struct conf_region region[2];
    int cur;
    struct clinic_state st[NCLIN];
    char ids[NCLIN][32];
    uint64_t rng;
    int64_t now;
};

static uint64_t rnd(struct world *w, uint64_t n)
{
    return n ? hash_splitmix64(&w->rng) % n : 0;
}

/* Local wall-clock time to an instant (through clock.c, tested there). */
static int64_t loc(int y, int mo, int d, int h, int mi)
{
    struct clock_civil c = { y, mo, d, h, mi, 0 };
    int64_t t = 0;

    assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
    return t;
}

static void set_config(struct world *w, int k)
{
    struct conf_region *r = &w->region[k];
    size_t i;

    for (i = 0; i < NCLIN; i++) {
        struct conf_clinic *c = &w->clinics[k][i];

        c->id = w->ids[i];
        c->name = k == 0 ? "Fysio" : "Fysio Centrum";
        c->municipality = "Karlstad";
        c->locality = i % 3 ? "Våxnäs" : NULL;
        c->operator_kind = i % 2 ? "region" : "private";
        c->phone = (i + (size_t)k) % 4 ? "054-123456" : NULL;
        c->has_booking = i % 7 != 6;
        if (c->has_booking) {
            c->booking.adapter = "rivta-scheduling";
            c->booking.url = "http://127.0.0.1:1/riv";
            c->booking.booking_url = "https://e-tjanster.1177.se/boka";
            c->booking.time_type_name = "Nybesök fysioterapeut";
        }
    }
    r->name = "Värmland";
    r->timezone = "Europe/Stockholm";
    r->guarantee.days = 3;
    r->guarantee.counting = k == 0 ? AVAIL_COUNT_CALENDAR : AVAIL_COUNT_WORKING;
    r->poll_interval_s = 60;
    r->clinics = w->clinics[k];
    r->nclinics = NCLIN;
}

/* New slots for clinic i, as a poll that found them sets them. */
static void new_slots(struct world *w, struct clinic_state *st)
{
    static const char *who[] = { "Dalmo, Jacob", "Berg, Lo", NULL };
    uint64_t n = rnd(w, 8), k;

    avail_slots_clear(&st->slots);
    for (k = 0; k < n; k++) {
        /* Some within minutes, so the clock passes them between steps. */
        int64_t start = w->now + (int64_t)rnd(w, 4) * 7 * MIN +
                        (int64_t)rnd(w, 3) * (int64_t)rnd(w, 5) * 24 * HOUR;

        assert_int_equal(avail_slots_add(&st->slots, start, start + 30 * MIN,
                                         who[rnd(w, 3)], "Nybesök", "TT1"),
                         0);
    }
    avail_slots_sort(&st->slots);
}

/* One collector-like event on clinic i at w->now. */
static void change(struct world *w, size_t i)
{
    struct clinic_state *st = &w->st[i];
    uint64_t what = rnd(w, 6);

    /* Finished polls (cases 0-3) move checked_at; the others do not. */
    if (what <= 3)
        st->checked_at = w->now;
    if (!st->conf->has_booking)
        return;
    switch (what) {
    case 0:
    case 1: /* a good answer, maybe new slots */
        st->polls++;
        st->web = WEB_OPEN;
        st->status = CLINIC_OK;
        st->err_class = SF_ERR_NONE;
        st->error[0] = '\0';
        st->valid_at = w->now;
        if (!st->has_data || rnd(w, 2)) {
            new_slots(w, st);
            st->changed_at = w->now;
        }
        st->has_data = true;
        break;
    case 2: /* a failure keeps the last good data */
        st->failures++;
        st->web = rnd(w, 2) ? WEB_UNREACHABLE : WEB_OPEN;
        st->status = st->has_data ? CLINIC_STALE : CLINIC_ERROR;
        st->err_class = SF_ERR_TRANSPORT;
        snprintf(st->error, sizeof(st->error), "clinic %s: refused %u",
                 st->conf->id, (unsigned)rnd(w, 3));
        break;
    case 3: /* the platform says: no web booking */
        st->polls++;
        st->web = WEB_NONE;
        st->status = CLINIC_OK;
        st->err_class = SF_ERR_NONE;
        st->error[0] = '\0';
        break;
    case 4: /* a held empty answer released */
        avail_slots_clear(&st->slots);
        st->has_data = true;
        st->valid_at = st->changed_at = w->now - (int64_t)rnd(w, 90);
        break;
    default: /* circuit open: message only */
        st->status = st->has_data ? CLINIC_STALE : CLINIC_ERROR;
        st->err_class = SF_ERR_TRANSPORT;
        snprintf(st->error, sizeof(st->error), "clinic %s: circuit open %u",
                 st->conf->id, (unsigned)rnd(w, 3));
        break;
    }
}

static void world_init(struct world *w, uint64_t seed)
{
    size_t i;

    memset(w, 0, sizeof(*w));
    w->rng = seed;
    for (i = 0; i < NCLIN; i++)
        snprintf(w->ids[i], sizeof(w->ids[i]), "SE2321000156-T%04zu", i);
    set_config(w, 0);
    set_config(w, 1);
    /* Saturday evening before the DST change (Sunday 02:00 -> 03:00). */
    w->now = loc(2026, 3, 28, 21, 0);
    for (i = 0; i < NCLIN; i++) {
        struct clinic_state *st = &w->st[i];

        st->conf = &w->clinics[0][i];
        avail_slots_init(&st->slots);
        st->web = st->conf->has_booking ? WEB_UNKNOWN : WEB_NONE;
        st->status = st->conf->has_booking ? CLINIC_ERROR : CLINIC_OK;
    }
}

static char *gunzip(const struct doc *gz, size_t *len)
{
    z_stream z;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    int rc, copy = 0;
    /* A gzip kept as pieces (a detail document's) is read flattened. */
    const char *in = doc_flatten(gz, &copy);

    assert_non_null(out);
    assert_non_null(in);
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)gz->len;
    do {
        if (cap - n < 4096) {
            cap *= 2;
            assert_non_null(out = realloc(out, cap));
        }
        z.next_out = (Bytef *)out + n;
        z.avail_out = (uInt)(cap - n);
        rc = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
    } while (rc != Z_STREAM_END);
    /* One member, nothing after it. */
    assert_int_equal(z.avail_in, 0);
    inflateEnd(&z);
    if (copy)
        free((char *)(uintptr_t)in);
    *len = n;
    return out;
}

static void same_doc(const struct doc *a, const struct doc *b)
{
    int ca = 0, cb = 0;
    const char *x = doc_flatten(a, &ca), *y = doc_flatten(b, &cb);

    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(x, y, a->len);
    assert_string_equal(a->etag, b->etag);
    if (ca)
        free((char *)x);
    if (cb)
        free((char *)y);
}

/* FNV-1a of a doc's bytes, pieces or not (a doc kept only compressed:
 * its gzip form's, which are the bytes it is made of). */
static uint64_t doc_hash(uint64_t h, const struct doc *d)
{
    size_t i;

    if (d->zsrc != NULL)
        return doc_hash(h, d->zsrc);
    if (d->segs == NULL)
        return hash_fnv1a(h, d->json, d->len);
    for (i = 0; i < d->nseg; i++)
        h = hash_fnv1a(h, d->segs[i].p, d->segs[i].len);
    return h;
}

/* The gzip doc decompresses to exactly plain. */
static void gz_of(const struct doc *gz, const struct doc *plain)
{
    size_t n;
    char *p = gunzip(gz, &n);

    assert_int_equal(n, plain->len);
    assert_memory_equal(p, th_doc_text(plain), n);
    free(p);
}

static void same_snapshot(const struct feed_snapshot *x,
                          const struct feed_snapshot *y)
{
    size_t i;
    int t;

    same_doc(&x->all, &y->all);
    assert_string_equal(x->all_gz.etag, y->all_gz.etag);
    gz_of(&x->all_gz, &x->all);
    gz_of(&y->all_gz, &y->all);
    assert_int_equal(x->head_len, y->head_len);
    assert_memory_equal(x->head, y->head, x->head_len);
    assert_int_equal(x->changed_at, y->changed_at);
    assert_int_equal(x->nclinics, y->nclinics);
    for (i = 0; i < x->nclinics; i++) {
        const struct feed_clinic_info *a = &x->info[i], *b = &y->info[i];

        same_doc(&x->clinics[i], &y->clinics[i]);
        same_doc(&x->clinics_gz[i], &y->clinics_gz[i]);
        gz_of(&x->clinics_gz[i], &x->clinics[i]);
        assert_int_equal(a->obj_len, b->obj_len);
        assert_memory_equal(a->obj, b->obj, a->obj_len);
        assert_int_equal(a->web, b->web);
        assert_int_equal(a->status, b->status);
        assert_int_equal(a->within, b->within);
        assert_int_equal(a->any_free, b->any_free);
        assert_int_equal(a->checked_at, b->checked_at);
        assert_true(avail_slots_equal(&a->slots, &b->slots));
    }
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        same_doc(&x->smart.doc[t], &y->smart.doc[t]);
    assert_int_equal(x->smart.transaction_time, y->smart.transaction_time);
}

struct kept {
    struct feed_snapshot *s;
    uint64_t hash; /* of all.json + every clinic doc */
};

static uint64_t snap_hash(const struct feed_snapshot *s)
{
    uint64_t h = doc_hash(HASH_FNV1A_INIT, &s->all);
    size_t i;
    int t;

    h = doc_hash(h, &s->all_gz);
    for (i = 0; i < s->nclinics; i++) {
        h = doc_hash(h, &s->clinics[i]);
        h = doc_hash(h, &s->clinics_gz[i]);
    }
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        h = doc_hash(h, &s->smart.doc[t]);
    return h;
}

/* Free a kept snapshot after checking nothing changed its bytes. */
static void release(struct kept *k)
{
    if (k->s == NULL)
        return;
    assert_true(snap_hash(k->s) == k->hash);
    feed_snapshot_free(k->s);
    k->s = NULL;
}

/* Advance the clock: mostly seconds to minutes, sometimes hours. */
static void tick(struct world *w)
{
    uint64_t r = rnd(w, 20);

    if (r < 12)
        w->now += (int64_t)rnd(w, 120);
    else if (r < 18)
        w->now += (int64_t)rnd(w, 15) * MIN;
    else
        w->now += (int64_t)(1 + rnd(w, 5)) * HOUR;
}

/* The same build as a job of steps of at most `slice` parts. */
static struct feed_snapshot *
build_in_slices(struct world *w, struct feed_snapshot *prev, size_t slice)
{
    struct feed_job *j;
    struct sf_error err = { 0 };
    int rc, steps = 0;

    assert_int_equal(feed_job_new(&w->region[w->cur], w->now, prev, &j, &err),
                     0);
    assert_ptr_equal(feed_job_region(j), &w->region[w->cur]);
    while ((rc = feed_job_step(j, w->st, NCLIN, slice, 0, &err)) == 1)
        steps++;
    assert_int_equal(rc, 0);
    assert_true((size_t)steps >= (NCLIN - 1) / slice);
    return feed_job_take(j);
}

static void run_sequence(uint64_t seed, size_t *reused, size_t *built,
                         size_t *heavy_kept)
{
    struct world w;
    struct kept kept[KEEP] = { { 0 } };
    struct feed_snapshot *prev = NULL, *inc, *full;
    struct sf_error err = { 0 };
    int64_t start;
    size_t step, i;

    world_init(&w, seed);
    start = w.now;
    for (step = 0; step < STEPS; step++) {
        uint64_t n = rnd(&w, 10) < 7 ? 1 : rnd(&w, NCLIN);

        tick(&w);
        for (i = 0; i < n; i++)
            change(&w, (size_t)rnd(&w, NCLIN));
        if (rnd(&w, 40) == 0) { /* a reload: the other config */
            w.cur ^= 1;
            for (i = 0; i < NCLIN; i++)
                w.st[i].conf = &w.clinics[w.cur][i];
        }
        if (step % 2 == 0)
            assert_int_equal(feed_build_from(&w.region[w.cur], w.st, w.now,
                                             prev, &inc, &err),
                             0);
        else
            inc = build_in_slices(&w, prev, 1 + (size_t)rnd(&w, 7));
        assert_int_equal(feed_build(&w.region[w.cur], w.st, w.now, &full, &err),
                         0);
        same_snapshot(inc, full);
        assert_int_equal(full->parts_built, NCLIN);
        *built += inc->parts_built;
        *reused += NCLIN - inc->parts_built;
        assert_true(inc->heavy_built <= inc->parts_built);
        assert_int_equal(full->heavy_built, NCLIN);
        *heavy_kept += inc->parts_built - inc->heavy_built;
        feed_snapshot_free(full);
        /* prev lives on for a while as if a reply still held it. */
        if (prev != NULL) {
            struct kept *k = &kept[step % KEEP];

            release(k);
            k->s = prev;
            k->hash = snap_hash(prev);
        }
        prev = inc;
    }
    /* The walk crossed several local midnights and the DST change. */
    assert_true(clock_local_day(w.now) - clock_local_day(start) >= 3);
    for (i = 0; i < KEEP; i++)
        release(&kept[i]);
    feed_snapshot_free(prev);
    for (i = 0; i < NCLIN; i++)
        avail_slots_clear(&w.st[i].slots);
}

static void test_incremental_equals_full(void **state)
{
    const char *env = getenv("SLOTFEED_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : DEFAULT_SEED;
    size_t reused = 0, built = 0, heavy_kept = 0;

    (void)state;
    printf("# seed 0x%llx (SLOTFEED_TEST_SEED to replay)\n",
           (unsigned long long)seed);
    run_sequence(seed, &reused, &built, &heavy_kept);
    printf("# parts reused %zu, built %zu (slot pieces kept in %zu)\n", reused,
           built, heavy_kept);
    /* Incremental really reuses: most parts are kept, and polls that
     * found the same slots keep the slot pieces of the parts they make
     * new (and stay byte-equal to the full build, checked above). */
    assert_true(reused > built);
    assert_true(heavy_kept > built / 4);
}

/* Reuse only within a part's clock window: one slot starting between two
 * builds makes exactly that clinic's part new, nothing else. */
static void test_only_changed_rebuilt(void **state)
{
    struct world w;
    struct feed_snapshot *a, *b, *c;
    struct sf_error err = { 0 };
    size_t i;

    (void)state;
    world_init(&w, DEFAULT_SEED);
    for (i = 0; i < NCLIN; i++) {
        avail_slots_clear(&w.st[i].slots);
        w.st[i].web = WEB_OPEN;
        w.st[i].status = CLINIC_OK;
        w.st[i].has_data = true;
        w.st[i].checked_at = w.st[i].valid_at = w.now;
        assert_int_equal(avail_slots_add(&w.st[i].slots,
                                         w.now + (i == 3 ? 10 : 5 * HOUR),
                                         w.now + 6 * HOUR, NULL, NULL, NULL),
                         0);
    }
    assert_int_equal(feed_build(&w.region[0], w.st, w.now, &a, &err), 0);
    assert_int_equal(feed_build_from(&w.region[0], w.st, w.now + 5, a, &b,
                                     &err),
                     0);
    assert_int_equal(b->parts_built, 0);
    /* Clinic 3's slot starts: only its part is rebuilt. */
    assert_int_equal(feed_build_from(&w.region[0], w.st, w.now + 10, b, &c,
                                     &err),
                     0);
    assert_int_equal(c->parts_built, 1);
    assert_string_not_equal(c->clinics[3].etag, b->clinics[3].etag);
    assert_string_equal(c->clinics[4].etag, b->clinics[4].etag);
    /* all.json is not copied together: its pieces are the prefix, each
     * clinic's object in its part (the one after the first with its
     * comma), "]}"; an unchanged clinic's are the previous snapshot's. */
    assert_null(c->all.json);
    assert_int_equal(c->all.nseg, NCLIN + 2);
    for (i = 0; i < NCLIN; i++) {
        const struct doc_seg *g = &c->all.segs[i + 1];

        assert_ptr_equal(g->p + (i > 0), c->info[i].obj);
        assert_int_equal(g->len, c->info[i].obj_len + (i > 0));
        if (i != 3)
            assert_ptr_equal(g->p, b->all.segs[i + 1].p);
    }
    assert_ptr_not_equal(c->all.segs[4].p, b->all.segs[4].p);
    assert_memory_equal(c->all.segs[NCLIN + 1].p, "]}", 2);
    /* Freed in build order, then in reverse: shared bytes outlive. */
    feed_snapshot_free(a);
    assert_string_equal(c->clinics[4].etag, b->clinics[4].etag);
    feed_snapshot_free(c);
    feed_snapshot_free(b);
    for (i = 0; i < NCLIN; i++)
        avail_slots_clear(&w.st[i].slots);
}

/* Second key: a poll that finds the same slots moves checked_at (the part
 * is new) but keeps the slot pieces, also across local midnight; new
 * slots make them new. */
static void test_checked_at_keeps_slot_pieces(void **state)
{
    struct world w;
    struct feed_snapshot *a, *b, *c, *d;
    struct sf_error err = { 0 };
    const struct doc *sa, *sb;
    int64_t t0;
    size_t i;

    (void)state;
    world_init(&w, DEFAULT_SEED);
    t0 = w.now;
    for (i = 0; i < NCLIN; i++) {
        avail_slots_clear(&w.st[i].slots);
        w.st[i].web = WEB_OPEN;
        w.st[i].status = CLINIC_OK;
        w.st[i].has_data = true;
        w.st[i].checked_at = w.st[i].valid_at = t0;
        assert_int_equal(avail_slots_add(&w.st[i].slots, t0 + 3 * 24 * HOUR,
                                         t0 + 3 * 24 * HOUR + 30 * MIN,
                                         "Berg, Lo", NULL, NULL),
                         0);
    }
    assert_int_equal(feed_build(&w.region[0], w.st, t0, &a, &err), 0);
    /* Clinic 2 polled again: same slots. */
    w.st[2].checked_at = w.st[2].valid_at = t0 + 60;
    w.st[2].polls++;
    assert_int_equal(feed_build_from(&w.region[0], w.st, t0 + 61, a, &b, &err),
                     0);
    assert_int_equal(b->parts_built, 1);
    assert_int_equal(b->heavy_built, 0);
    assert_string_not_equal(b->clinics[2].etag, a->clinics[2].etag);
    sa = smartpub_ndjson(&a->smart, "Slot");
    sb = smartpub_ndjson(&b->smart, "Slot");
    assert_string_equal(sa->etag, sb->etag);
    /* Kept only compressed: the same deflate piece, by reference (the
     * gzip member's header comes first). */
    assert_ptr_equal(sa->zsrc->segs[3].p, sb->zsrc->segs[3].p);
    /* A day later every part is new, the slot pieces are not. */
    assert_int_equal(feed_build_from(&w.region[0], w.st, t0 + 24 * HOUR, b, &c,
                                     &err),
                     0);
    assert_int_equal(c->parts_built, NCLIN);
    assert_int_equal(c->heavy_built, 0);
    /* New slots for clinic 5: its slot pieces are made anew. */
    assert_int_equal(avail_slots_add(&w.st[5].slots, t0 + 2 * 24 * HOUR,
                                     t0 + 2 * 24 * HOUR + 30 * MIN, NULL, NULL,
                                     NULL),
                     0);
    avail_slots_sort(&w.st[5].slots);
    w.st[5].changed_at = w.st[5].checked_at = t0 + 24 * HOUR + 5;
    w.st[5].polls++;
    assert_int_equal(feed_build_from(&w.region[0], w.st, t0 + 24 * HOUR + 6, c,
                                     &d, &err),
                     0);
    assert_int_equal(d->parts_built, 1);
    assert_int_equal(d->heavy_built, 1);
    feed_snapshot_free(b);
    feed_snapshot_free(a);
    feed_snapshot_free(d);
    feed_snapshot_free(c);
    for (i = 0; i < NCLIN; i++)
        avail_slots_clear(&w.st[i].slots);
}

/* A job outlives the snapshot it builds from, checks its states' count,
 * and can be abandoned half way. */
static void test_job_lifetime(void **state)
{
    struct world w;
    struct feed_snapshot *a, *b, *full;
    struct feed_job *j;
    struct sf_error err = { 0 };

    (void)state;
    world_init(&w, DEFAULT_SEED);
    assert_int_equal(feed_build(&w.region[0], w.st, w.now, &a, &err), 0);
    w.now += 90;
    change(&w, 3);
    assert_int_equal(feed_job_new(&w.region[0], w.now, a, &j, &err), 0);
    assert_int_equal(feed_job_step(j, w.st, NCLIN - 1, 0, 0, &err), -1);
    assert_int_equal(feed_job_step(j, w.st, NCLIN, 5, 0, &err), 1);
    feed_snapshot_free(a); /* its owner lets go: the job still reads */
    while (feed_job_step(j, w.st, NCLIN, 5, 0, &err) == 1)
        ;
    b = feed_job_take(j);
    assert_int_equal(feed_build(&w.region[0], w.st, w.now, &full, &err), 0);
    same_snapshot(b, full);
    /* Abandoned half way: nothing leaks (ASan), b unharmed. */
    assert_int_equal(feed_job_new(&w.region[0], w.now + 5, b, &j, &err), 0);
    assert_int_equal(feed_job_step(j, w.st, NCLIN, 7, 0, &err), 1);
    feed_job_free(j);
    feed_job_free(NULL);
    same_snapshot(b, full);
    feed_snapshot_free(full);
    feed_snapshot_free(b);
    for (size_t i = 0; i < NCLIN; i++)
        avail_slots_clear(&w.st[i].slots);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental_equals_full),
        cmocka_unit_test(test_only_changed_rebuilt),
        cmocka_unit_test(test_checked_at_keeps_slot_pieces),
        cmocka_unit_test(test_job_lifetime),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
