/*
 * test_feed.c - Feed v1 documents from a hand-built region and states.
 *
 * now = 2026-03-31 09:00 local (+02:00, CEST began 29 March); the care
 * guarantee is 3 calendar days, so contact day 31 March, deadline 3 April.
 * Every expected value below is worked out by hand from that, and the
 * produced documents are validated against docs/feed.schema.json with
 * Debian's python3-jsonschema (a broken document must fail there too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/hash.h"
#include "th_schema.h"
#include "th_skip.h"
#include "th_text.h"

/* 2026-03-31T09:00:00+02:00 = 07:00Z; from Python zoneinfo, not clock.c. */
#define NOW INT64_C(1774940400)
#define MIN 60
#define HOUR 3600

/* Local wall-clock time to an instant (through clock.c, tested there). */
static int64_t loc(int y, int mo, int d, int h, int mi)
{
    struct clock_civil c = { y, mo, d, h, mi, 0 };
    int64_t t = 0;

    assert_int_equal(clock_from_local(&c, &t), CLOCK_OK);
    return t;
}

/* --- fixture: a region of 7 clinics, one per interesting case ----------- */

enum {
    A,
    B,
    C,
    D,
    E,
    F,
    G,
    NCLIN
};

static char *ids[NCLIN] = {
    "SE2321000156-AAA1", "SE2321000156-BBB2", "SE2321000156-CCC3",
    "SE2321000156-DDD4", "SE2321000156-EEE5", "SE2321000156-FFF6",
    "SE2321000156-GGG7",
};

struct fixture {
    struct conf_clinic clinics[NCLIN];
    struct conf_region region;
    struct clinic_state st[NCLIN];
};

static void add(struct avail_slots *s, int64_t start, const char *who)
{
    assert_int_equal(avail_slots_add(s, start, start + 30 * MIN, who, "Nybesök",
                                     "TT1"),
                     0);
}

static void fixture_init(struct fixture *fx)
{
    size_t i;

    memset(fx, 0, sizeof(*fx));
    for (i = 0; i < NCLIN; i++) {
        struct conf_clinic *c = &fx->clinics[i];
        struct clinic_state *st = &fx->st[i];

        c->id = ids[i];
        c->name = "Fysio";
        c->municipality = "Karlstad";
        c->locality = i == A ? "Våxnäs" : NULL;
        c->operator_kind = i % 2 ? "region" : "private";
        c->phone = i == A ? "054-123456" : NULL;
        c->website = NULL;
        c->address = i == A ? "Drottninggatan 1, 652 24 Karlstad" : NULL;
        c->has_booking = i != G;
        if (c->has_booking) {
            c->booking.adapter = "rivta-scheduling";
            c->booking.url = "http://127.0.0.1:1/riv";
            c->booking.booking_url = "https://e-tjanster.1177.se/boka";
            c->booking.time_type_name = "Nybesök fysioterapeut";
        }
        st->conf = c;
        avail_slots_init(&st->slots);
        st->web = WEB_OPEN;
        st->status = CLINIC_OK;
        st->checked_at = NOW - 30;
        st->valid_at = NOW - 30;
        st->changed_at = NOW - 2 * HOUR;
        st->has_data = true;
    }
    fx->region.name = "Värmland";
    fx->region.timezone = "Europe/Stockholm";
    fx->region.guarantee.days = 3;
    fx->region.guarantee.counting = AVAIL_COUNT_CALENDAR;
    fx->region.poll_interval_s = 60;
    fx->region.clinics = fx->clinics;
    fx->region.nclinics = NCLIN;

    /* A: open, fresh; added out of order on purpose. */
    add(&fx->st[A].slots, loc(2026, 4, 20, 10, 0), NULL);
    add(&fx->st[A].slots, loc(2026, 3, 31, 10, 30), "Andersson, Eva");
    add(&fx->st[A].slots, loc(2026, 3, 31, 8, 0), "Dalmo, Jacob"); /* past */
    add(&fx->st[A].slots, NOW, "Dalmo, Jacob"); /* starts now: gone */
    add(&fx->st[A].slots, loc(2026, 3, 31, 10, 0), "Dalmo, Jacob");
    add(&fx->st[A].slots, loc(2026, 4, 3, 23, 59), "Dalmo, Jacob");
    add(&fx->st[A].slots, loc(2026, 4, 4, 0, 0), "Dalmo, Jacob");
    add(&fx->st[A].slots, loc(2026, 4, 10, 10, 0), "Dalmo, Jacob");

    /* B: the platform says not connected -> none; leftover data hidden. */
    fx->st[B].web = WEB_NONE;
    add(&fx->st[B].slots, loc(2026, 4, 1, 9, 0), "Berg, Lo");

    /* C: never answered yet. */
    fx->st[C].web = WEB_UNKNOWN;
    fx->st[C].status = CLINIC_ERROR;
    fx->st[C].has_data = false;
    fx->st[C].checked_at = fx->st[C].valid_at = fx->st[C].changed_at = 0;

    /* D: unreachable, keeps last good data (one slot passed since). */
    fx->st[D].web = WEB_UNREACHABLE;
    fx->st[D].status = CLINIC_STALE;
    fx->st[D].checked_at = NOW - 10;
    fx->st[D].valid_at = NOW - 20 * MIN;
    fx->st[D].err_class = SF_ERR_TRANSPORT;
    snprintf(fx->st[D].error, sizeof(fx->st[D].error),
             "clinic %s: connect: refused", ids[D]);
    add(&fx->st[D].slots, loc(2026, 3, 31, 8, 30), "Dahl, Ann");
    add(&fx->st[D].slots, loc(2026, 4, 1, 14, 0), "Dahl, Ann");

    /* E: "ok" but its data is 181 s old with a 60 s interval -> stale. */
    fx->st[E].valid_at = NOW - 181;
    add(&fx->st[E].slots, loc(2026, 4, 5, 10, 0), NULL);

    /* F: exactly 180 s old (not stale) and no free slots: known "none". */
    fx->st[F].valid_at = NOW - 180;

    /* G: no web booking configured, never polled. */
    fx->st[G].web = WEB_NONE;
    fx->st[G].has_data = false;
    fx->st[G].checked_at = fx->st[G].valid_at = fx->st[G].changed_at = 0;
}

static void fixture_clear(struct fixture *fx)
{
    for (size_t i = 0; i < NCLIN; i++)
        avail_slots_clear(&fx->st[i].slots);
}

static struct feed_snapshot *build(struct fixture *fx, int64_t now)
{
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };

    assert_int_equal(feed_build(&fx->region, fx->st, now, &s, &err), 0);
    assert_non_null(s);
    return s;
}

/* --- JSON probing -------------------------------------------------------- */

static cJSON *parse_doc(const struct doc *d)
{
    const char *t = th_doc_text(d);
    cJSON *o;

    assert_int_equal(strlen(t), d->len);
    o = cJSON_ParseWithLength(t, d->len);
    assert_non_null(o);
    return o;
}

static cJSON *get(const cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL)
        fail_msg("missing key %s", key);
    return v;
}

static void expect_str(const cJSON *o, const char *key, const char *want)
{
    cJSON *v = get(o, key);

    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", key);
    assert_string_equal(v->valuestring, want);
}

static void expect_int(const cJSON *o, const char *key, int want)
{
    cJSON *v = get(o, key);

    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", key);
    assert_int_equal(v->valueint, want);
}

static void expect_null(const cJSON *o, const char *key)
{
    if (!cJSON_IsNull(get(o, key)))
        fail_msg("%s is not null", key);
}

static void expect_bool(const cJSON *o, const char *key, int want)
{
    cJSON *v = get(o, key);

    if (!cJSON_IsBool(v))
        fail_msg("%s is not a boolean", key);
    assert_int_equal(cJSON_IsTrue(v), want);
}

/* Array of strings equal to want[0..n). */
static void expect_strs(const cJSON *o, const char *key, const char **want,
                        int n)
{
    cJSON *v = get(o, key);
    int i;

    if (!cJSON_IsArray(v))
        fail_msg("%s is not an array", key);
    assert_int_equal(cJSON_GetArraySize(v), n);
    for (i = 0; i < n; i++)
        assert_string_equal(cJSON_GetArrayItem(v, i)->valuestring, want[i]);
}

static void expect_unknown_availability(const cJSON *c)
{
    expect_null(c, "first_free");
    expect_null(c, "within_guarantee");
    expect_str(c, "guarantee_deadline", "2026-04-03");
    expect_null(c, "upcoming_days");
    expect_null(c, "more_days");
    expect_null(c, "free_slots_within_guarantee");
    expect_null(c, "free_slots");
}

/* --- tests --------------------------------------------------------------- */

static void test_top_level_and_summary(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    cJSON *doc, *g, *sum, *w, *cl;
    int i;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    assert_int_equal(s->generated_at, NOW);
    assert_int_equal(s->nclinics, NCLIN);
    doc = parse_doc(&s->all);
    expect_int(doc, "version", 1);
    expect_str(doc, "generated_at", "2026-03-31T09:00:00+02:00");
    expect_str(doc, "timezone", "Europe/Stockholm");
    expect_str(doc, "region", "Värmland");
    g = get(doc, "guarantee");
    expect_int(g, "days", 3);
    expect_str(g, "counting", "calendar");
    expect_str(g, "contact_day", "2026-03-31");
    expect_str(g, "deadline", "2026-04-03");

    sum = get(doc, "summary");
    expect_int(sum, "clinics", 7);
    w = get(sum, "web_booking");
    expect_int(w, "open", 3);               /* A E F */
    expect_int(w, "none", 2);               /* B G */
    expect_int(w, "unreachable", 1);        /* D */
    expect_int(w, "unknown", 1);            /* C */
    expect_int(sum, "with_free_slots", 3);  /* A D E (F known empty) */
    expect_int(sum, "within_guarantee", 2); /* A D */
    expect_int(sum, "stale", 2);            /* D, E by age */
    expect_int(sum, "error", 1);            /* C */

    /* Region order, ids as configured. */
    cl = get(doc, "clinics");
    assert_int_equal(cJSON_GetArraySize(cl), NCLIN);
    for (i = 0; i < NCLIN; i++)
        expect_str(cJSON_GetArrayItem(cl, i), "id", ids[i]);
    /* The summary precedes the clinics in the bytes. */
    assert_true(strstr(th_doc_text(&s->all), "\"summary\"") <
                strstr(th_doc_text(&s->all), "\"clinics\""));
    cJSON_Delete(doc);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void test_clinic_fields(void **state)
{
    static const char *up_a[] = { "2026-03-31", "2026-04-03", "2026-04-04" };
    static const char *up_d[] = { "2026-04-01" };
    static const char *svc[] = { "Nybesök fysioterapeut" };
    struct fixture fx;
    struct feed_snapshot *s;
    cJSON *doc, *cl, *c, *e;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    doc = parse_doc(&s->all);
    cl = get(doc, "clinics");

    /* A: 08:00 passed and 09:00 == now are ignored; within the guarantee
     * are 31/3 10:00, 10:30 and 3/4 23:59 (4/4 00:00 is one minute late);
     * days 31/3, 3/4, 4/4 shown, 10/4 and 20/4 counted in more_days. */
    c = cJSON_GetArrayItem(cl, A);
    expect_str(c, "name", "Fysio");
    expect_str(c, "municipality", "Karlstad");
    expect_str(c, "locality", "Våxnäs");
    expect_str(c, "operator", "private");
    expect_str(c, "web_booking", "open");
    expect_str(c, "status", "ok");
    expect_str(c, "checked_at", "2026-03-31T08:59:30+02:00");
    expect_str(c, "valid_at", "2026-03-31T08:59:30+02:00");
    expect_str(c, "changed_at", "2026-03-31T07:00:00+02:00");
    expect_null(c, "error");
    expect_str(c, "first_free", "2026-03-31T10:00:00+02:00");
    expect_bool(c, "within_guarantee", 1);
    expect_str(c, "guarantee_deadline", "2026-04-03");
    expect_strs(c, "upcoming_days", up_a, 3);
    expect_int(c, "more_days", 2);
    expect_int(c, "free_slots_within_guarantee", 3);
    expect_int(c, "free_slots", 6);
    expect_str(c, "booking_url", "https://e-tjanster.1177.se/boka");
    expect_str(c, "phone", "054-123456");
    expect_null(c, "website");
    expect_str(c, "address", "Drottninggatan 1, 652 24 Karlstad");
    expect_strs(c, "services", svc, 1);
    assert_null(cJSON_GetObjectItem(c, "days")); /* detail only */

    /* B: web booking none -> availability null even with old data. */
    c = cJSON_GetArrayItem(cl, B);
    expect_str(c, "web_booking", "none");
    expect_str(c, "status", "ok");
    expect_unknown_availability(c);

    /* C: never answered: unknown, error status, null timestamps. */
    c = cJSON_GetArrayItem(cl, C);
    expect_str(c, "web_booking", "unknown");
    expect_str(c, "status", "error");
    expect_null(c, "checked_at");
    expect_null(c, "valid_at");
    expect_null(c, "changed_at");
    expect_null(c, "error");
    expect_unknown_availability(c);

    /* D: stale data still shown, recomputed at now (08:30 dropped). */
    c = cJSON_GetArrayItem(cl, D);
    expect_str(c, "web_booking", "unreachable");
    expect_str(c, "status", "stale");
    expect_str(c, "valid_at", "2026-03-31T08:40:00+02:00");
    e = get(c, "error");
    expect_str(e, "class", "transport");
    expect_str(e, "message", "clinic SE2321000156-DDD4: connect: refused");
    expect_str(c, "first_free", "2026-04-01T14:00:00+02:00");
    expect_bool(c, "within_guarantee", 1);
    expect_strs(c, "upcoming_days", up_d, 1);
    expect_int(c, "more_days", 0);
    expect_int(c, "free_slots_within_guarantee", 1);
    expect_int(c, "free_slots", 1);

    /* E: last poll ok, but valid_at 181 s > 3 x 60 s: stale, no error. */
    c = cJSON_GetArrayItem(cl, E);
    expect_str(c, "status", "stale");
    expect_null(c, "error");
    expect_str(c, "first_free", "2026-04-05T10:00:00+02:00");
    expect_bool(c, "within_guarantee", 0);
    expect_int(c, "free_slots_within_guarantee", 0);
    expect_int(c, "free_slots", 1);

    /* F: 180 s is not over the limit; known and empty: false and zeros,
     * not null. */
    c = cJSON_GetArrayItem(cl, F);
    expect_str(c, "status", "ok");
    expect_null(c, "first_free");
    expect_bool(c, "within_guarantee", 0);
    expect_strs(c, "upcoming_days", NULL, 0);
    expect_int(c, "more_days", 0);
    expect_int(c, "free_slots_within_guarantee", 0);
    expect_int(c, "free_slots", 0);

    /* G: no booking configured: none, null availability, no services. */
    c = cJSON_GetArrayItem(cl, G);
    expect_str(c, "web_booking", "none");
    expect_str(c, "operator", "private");
    expect_null(c, "booking_url");
    expect_null(c, "locality");
    expect_strs(c, "services", NULL, 0);
    expect_unknown_availability(c);

    cJSON_Delete(doc);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void expect_slot(const cJSON *slot, const char *start, const char *end,
                        const char *hhmm, const char *who)
{
    expect_str(slot, "start", start);
    expect_str(slot, "end", end);
    expect_str(slot, "time", hhmm);
    if (who == NULL)
        expect_null(slot, "practitioner");
    else
        expect_str(slot, "practitioner", who);
    expect_str(slot, "service", "Nybesök");
}

static void test_clinic_detail(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    const struct doc *d;
    cJSON *doc, *days, *day, *slots;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    /* Lookup is case-insensitive and gives the region-order index. */
    assert_int_equal(feed_clinic_index(s, "se2321000156-aaa1"), A);
    d = &s->clinics[A];
    assert_int_equal(feed_clinic_index(s, ids[D]), D);
    assert_int_equal(feed_clinic_index(s, "SE2321000156-ZZZ9"), -1);
    assert_int_equal(feed_clinic_index(s, ""), -1);
    assert_int_equal(feed_clinic_index(s, NULL), -1);

    doc = parse_doc(d);
    expect_int(doc, "version", 1);
    expect_str(doc, "generated_at", "2026-03-31T09:00:00+02:00");
    expect_str(get(doc, "guarantee"), "deadline", "2026-04-03");
    expect_str(doc, "id", ids[A]);
    expect_int(doc, "free_slots", 6);
    expect_str(doc, "address", "Drottninggatan 1, 652 24 Karlstad");
    /* Six future slots on five local dates, in time order. */
    days = get(doc, "days");
    assert_int_equal(cJSON_GetArraySize(days), 5);
    day = cJSON_GetArrayItem(days, 0);
    expect_str(day, "date", "2026-03-31");
    slots = get(day, "slots");
    assert_int_equal(cJSON_GetArraySize(slots), 2);
    expect_slot(cJSON_GetArrayItem(slots, 0), "2026-03-31T10:00:00+02:00",
                "2026-03-31T10:30:00+02:00", "10:00", "Dalmo, Jacob");
    expect_slot(cJSON_GetArrayItem(slots, 1), "2026-03-31T10:30:00+02:00",
                "2026-03-31T11:00:00+02:00", "10:30", "Andersson, Eva");
    day = cJSON_GetArrayItem(days, 1);
    expect_str(day, "date", "2026-04-03");
    /* The slot ends after midnight: end is on the next date. */
    expect_slot(cJSON_GetArrayItem(get(day, "slots"), 0),
                "2026-04-03T23:59:00+02:00", "2026-04-04T00:29:00+02:00",
                "23:59", "Dalmo, Jacob");
    expect_str(cJSON_GetArrayItem(days, 2), "date", "2026-04-04");
    expect_str(cJSON_GetArrayItem(days, 3), "date", "2026-04-10");
    day = cJSON_GetArrayItem(days, 4);
    expect_str(day, "date", "2026-04-20");
    expect_slot(cJSON_GetArrayItem(get(day, "slots"), 0),
                "2026-04-20T10:00:00+02:00", "2026-04-20T10:30:00+02:00",
                "10:00", NULL);
    cJSON_Delete(doc);

    /* D: the passed 08:30 slot is not listed. */
    doc = parse_doc(&s->clinics[D]);
    days = get(doc, "days");
    assert_int_equal(cJSON_GetArraySize(days), 1);
    expect_str(cJSON_GetArrayItem(days, 0), "date", "2026-04-01");
    assert_int_equal(cJSON_GetArraySize(
                         get(cJSON_GetArrayItem(days, 0), "slots")),
                     1);
    cJSON_Delete(doc);

    /* C and B: unknown -> days null, not []. */
    doc = parse_doc(&s->clinics[C]);
    expect_null(doc, "days");
    expect_unknown_availability(doc);
    cJSON_Delete(doc);
    doc = parse_doc(&s->clinics[B]);
    expect_null(doc, "days");
    cJSON_Delete(doc);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* Later rebuild, same states: passed slots drop out, staleness grows. */
static void test_rebuild_later(void **state)
{
    static const char *up[] = { "2026-03-31", "2026-04-03", "2026-04-04" };
    struct fixture fx;
    struct feed_snapshot *s;
    cJSON *doc, *cl, *c;
    int64_t later = loc(2026, 3, 31, 10, 15);

    (void)state;
    fixture_init(&fx);
    s = build(&fx, later);
    doc = parse_doc(&s->all);
    cl = get(doc, "clinics");
    c = cJSON_GetArrayItem(cl, A);
    /* 75 minutes on, every fresh clinic is stale by age (4500 s > 180 s). */
    expect_str(c, "status", "stale");
    expect_str(c, "first_free", "2026-03-31T10:30:00+02:00");
    expect_int(c, "free_slots", 5);
    expect_int(c, "free_slots_within_guarantee", 2);
    expect_strs(c, "upcoming_days", up, 3);
    expect_int(c, "more_days", 2);
    expect_str(cJSON_GetArrayItem(cl, F), "status", "stale");
    /* C stays error, G (no data) is not made stale by age. */
    expect_str(cJSON_GetArrayItem(cl, C), "status", "error");
    expect_str(cJSON_GetArrayItem(cl, G), "status", "ok");
    cJSON_Delete(doc);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* Working-day counting over Easter 2026 (Good Friday 3/4, Easter Monday
 * 6/4): from Thursday 2/4, the 3rd working day after is Thursday 9/4. */
static void test_working_days(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    cJSON *doc, *g, *c;

    (void)state;
    fixture_init(&fx);
    fx.region.guarantee.counting = AVAIL_COUNT_WORKING;
    s = build(&fx, loc(2026, 4, 2, 12, 0));
    doc = parse_doc(&s->all);
    g = get(doc, "guarantee");
    expect_str(g, "counting", "working");
    expect_str(g, "contact_day", "2026-04-02");
    expect_str(g, "deadline", "2026-04-09");
    /* A's slots 3/4 23:59, 4/4, 10/4 and 20/4 remain; only the first two
     * are within. */
    c = cJSON_GetArrayItem(get(doc, "clinics"), A);
    expect_str(c, "guarantee_deadline", "2026-04-09");
    expect_int(c, "free_slots_within_guarantee", 2);
    expect_int(c, "free_slots", 4);
    cJSON_Delete(doc);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void test_etag_tracks_bytes(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s1, *s2, *s3;

    (void)state;
    fixture_init(&fx);
    s1 = build(&fx, NOW);
    s2 = build(&fx, NOW);
    /* Same input, same bytes, same tags. */
    assert_int_equal(s1->all.len, s2->all.len);
    assert_memory_equal(th_doc_text(&s1->all), th_doc_text(&s2->all),
                        s1->all.len);
    assert_string_equal(s1->all.etag, s2->all.etag);
    assert_string_equal(s1->clinics[A].etag, s2->clinics[A].etag);
    /* The tag is the tree hash (feed.h): FNV-1a of the head, then of
     * the hash of (summary, then each clinic object's FNV-1a), + length. */
    {
        char t[DOC_ETAG_LEN];
        const char *sum = th_doc_text(&s1->all) + s1->head_len + 1;
        size_t i, sumlen = strstr(sum, ",\"clinics\":[") - sum;
        uint64_t h, ch = hash_fnv1a(HASH_FNV1A_INIT, sum, sumlen);

        for (i = 0; i < s1->nclinics; i++) {
            uint64_t oh = hash_fnv1a(HASH_FNV1A_INIT, s1->info[i].obj,
                                     s1->info[i].obj_len);
            ch = hash_fnv1a(ch, &oh, sizeof(oh));
        }
        h = hash_fnv1a(HASH_FNV1A_INIT, th_doc_text(&s1->all), s1->head_len);
        h = hash_fnv1a(h, &ch, sizeof(ch));
        doc_etag_hash(h, s1->all.len, t);
        assert_string_equal(t, s1->all.etag);
    }
    /* A changed clinic changes the region doc and its own doc only. */
    add(&fx.st[F].slots, loc(2026, 4, 1, 9, 0), NULL);
    s3 = build(&fx, NOW);
    assert_true(
        s3->all.len != s1->all.len ||
        memcmp(th_doc_text(&s3->all), th_doc_text(&s1->all), s1->all.len) != 0);
    assert_string_not_equal(s3->all.etag, s1->all.etag);
    assert_string_not_equal(s3->clinics[F].etag, s1->clinics[F].etag);
    assert_string_equal(s3->clinics[A].etag, s1->clinics[A].etag);
    assert_string_equal(th_doc_text(&s3->clinics[A]),
                        th_doc_text(&s1->clinics[A]));
    feed_snapshot_free(s1);
    feed_snapshot_free(s2);
    feed_snapshot_free(s3);
    fixture_clear(&fx);
}

static void test_refcount(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    struct feed_snapshot local;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    feed_snapshot_ref(s);
    feed_snapshot_ref(s);
    feed_snapshot_free(s); /* builder lets go: still alive */
    assert_int_equal(s->extra_refs, 2);
    feed_snapshot_unref(s);
    assert_true(th_doc_text(&s->all)[0] == '{'); /* ASan: still readable */
    feed_snapshot_unref(s); /* last one frees (ASan: no leak) */
    /* A snapshot not from feed_build is never freed by unref. */
    memset(&local, 0, sizeof(local));
    feed_snapshot_ref(&local);
    feed_snapshot_unref(&local);
    feed_snapshot_unref(&local); /* extra unref is ignored */
    assert_int_equal(local.extra_refs, 0);
    fixture_clear(&fx);
}

/* Bad input does not crash: no region, missing states. */
static void test_bad_args(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s = (struct feed_snapshot *)&fx;
    struct sf_error err = { 0 };
    cJSON *o;

    (void)state;
    fixture_init(&fx);
    assert_int_equal(feed_build(NULL, fx.st, NOW, &s, &err), -1);
    assert_null(s);
    assert_int_equal(err.code, SF_ERR_INTERNAL);
    assert_int_equal(feed_build(&fx.region, NULL, NOW, &s, &err), -1);
    assert_int_equal(feed_add_availability(NULL, NULL, NOW, NULL, 0), -1);
    /* Unknown slots through the shared entry point: nulls, deadline set. */
    o = cJSON_CreateObject();
    assert_int_equal(feed_add_availability(o, NULL, NOW, &fx.region.guarantee,
                                           1),
                     0);
    expect_unknown_availability(o);
    expect_null(o, "days");
    cJSON_Delete(o);
    /* An empty region is a valid (empty) feed. */
    fx.region.nclinics = 0;
    assert_int_equal(feed_build(&fx.region, NULL, NOW, &s, &err), 0);
    assert_int_equal(s->nclinics, 0);
    assert_int_equal(feed_clinic_index(s, ids[A]), -1);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* --- schema validation through python3-jsonschema ------------------------- */

static char workdir[512];

/* Exit status of the validator on doc against $defs/def; 77 = no module. */
static int validate(const char *def, const char *name, const char *json)
{
    return th_schema_validate(workdir, def, name, json);
}

/* Re-serialize doc after a mutation. Caller frees. */
static char *mutate(const char *json, void (*fn)(cJSON *))
{
    cJSON *o = cJSON_Parse(json);
    char *out;

    assert_non_null(o);
    fn(o);
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    assert_non_null(out);
    return out;
}

static void add_extra_field(cJSON *o)
{
    cJSON_AddNumberToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
                                                                   "clinics"),
                                               0),
                            "surprise", 1);
}

static void naive_time(cJSON *o)
{
    cJSON_ReplaceItemInObject(o, "generated_at",
                              cJSON_CreateString("2026-03-31T09:00:00"));
}

static void bad_enum(cJSON *o)
{
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
                                                                     "clinics"),
                                                 0),
                              "web_booking", cJSON_CreateString("closed"));
}

/* Unknown availability with a zero count: the tri-state rule broken. */
static void half_unknown(cJSON *o)
{
    cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(o,
                                                                     "clinics"),
                                                 C),
                              "free_slots", cJSON_CreateNumber(0));
}

static void lower_id(cJSON *o)
{
    cJSON_ReplaceItemInObject(o, "id", cJSON_CreateString("se2321000156-aaa1"));
}

static void test_schema(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    char *bad;
    int rc;
    size_t i;

    (void)state;
    snprintf(workdir, sizeof(workdir), "%s/test-feed", SLOTFEED_BINARY_DIR);
    fixture_init(&fx);
    s = build(&fx, NOW);
    rc = validate("feed", "all.json", th_doc_text(&s->all));
    if (rc == 77) {
        feed_snapshot_free(s);
        fixture_clear(&fx);
        th_skip("/usr/bin/python3 has no jsonschema module "
                "(apt install python3-jsonschema)");
    }
    assert_int_equal(rc, 0);
    for (i = 0; i < NCLIN; i++) {
        char name[32];
        snprintf(name, sizeof(name), "clinic-%zu.json", i);
        assert_int_equal(validate("clinic_detail", name,
                                  th_doc_text(&s->clinics[i])),
                         0);
    }
    /* Each document matches its own definition, not the other. */
    assert_int_equal(validate("clinic_detail", "all-as-detail.json",
                              th_doc_text(&s->all)),
                     1);
    assert_int_equal(validate("feed", "detail-as-feed.json",
                              th_doc_text(&s->clinics[A])),
                     1);

    /* Deliberately broken documents must fail. */
    bad = mutate(th_doc_text(&s->all), add_extra_field);
    assert_int_equal(validate("feed", "bad-extra.json", bad), 1);
    free(bad);
    bad = mutate(th_doc_text(&s->all), naive_time);
    assert_int_equal(validate("feed", "bad-naive.json", bad), 1);
    free(bad);
    bad = mutate(th_doc_text(&s->all), bad_enum);
    assert_int_equal(validate("feed", "bad-enum.json", bad), 1);
    free(bad);
    bad = mutate(th_doc_text(&s->all), half_unknown);
    assert_int_equal(validate("feed", "bad-tristate.json", bad), 1);
    free(bad);
    bad = mutate(th_doc_text(&s->clinics[A]), lower_id);
    assert_int_equal(validate("clinic_detail", "bad-id.json", bad), 1);
    free(bad);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* --- publish cadence: the app's decisions, driven with invented time ---- */

#define INTERVAL_MS 30000
#define COALESCE_MS 250

/*
 * What app.c does with its cadence, on an invented monotonic clock (ms
 * since NOW): polls and refresh ticks touch it; the timer and every
 * reader publish when it says the feed is due. The wall clock follows
 * (now = NOW + ms / 1000), so every build is computed at its own instant.
 */
struct pub {
    struct feed_cadence cad;
    struct feed_snapshot *snap;
    int64_t snap_ms; /* when snap was published */
    int builds;
};

static void pub_build(struct pub *p, struct fixture *fx, int64_t ms)
{
    feed_snapshot_free(p->snap);
    p->snap = build(fx, NOW + ms / 1000);
    p->snap_ms = ms;
    p->builds++;
    feed_cadence_published(&p->cad, ms, ms);
}

static void pub_init(struct pub *p, struct fixture *fx, int interval_s)
{
    memset(p, 0, sizeof(*p));
    feed_cadence_init(&p->cad, interval_s, COALESCE_MS);
    assert_int_equal(feed_cadence_wait_ms(&p->cad, 0), -1); /* clean */
    pub_build(p, fx, 0); /* app_new's first build */
}

/* The timer firing, or a reader asking, at ms. */
static void pub_step(struct pub *p, struct fixture *fx, int64_t ms)
{
    if (feed_cadence_wait_ms(&p->cad, ms) == 0)
        pub_build(p, fx, ms);
}

/* A poll of clinic i finished at ms and found the same slots: only
 * checked_at and valid_at move. */
static void poll_same(struct pub *p, struct fixture *fx, size_t i, int64_t ms)
{
    fx->st[i].checked_at = fx->st[i].valid_at = NOW + ms / 1000;
    feed_cadence_touch(&p->cad, ms);
}

/* Polls every 700 ms over A, D, F (round robin), a reader every second,
 * the timer stepped every 50 ms; from `from` to `to` ms (exclusive). */
static void churn(struct pub *p, struct fixture *fx, int64_t from, int64_t to)
{
    static const size_t who[] = { A, D, F };
    int64_t ms;

    for (ms = from; ms < to; ms += 50) {
        if (ms % 700 == 0)
            poll_same(p, fx, who[(ms / 700) % 3], ms);
        pub_step(p, fx, ms);
    }
}

/* (1) checked_at-only churn inside the interval: one ETag, then exactly one
 * new one when the interval is over. */
static void test_cadence_one_etag_per_interval(void **state)
{
    char first[DOC_ETAG_LEN], first_a[DOC_ETAG_LEN];
    struct fixture fx;
    struct pub p;
    int64_t ms;

    (void)state;
    fixture_init(&fx);
    pub_init(&p, &fx, INTERVAL_MS / 1000);
    memcpy(first, p.snap->all.etag, sizeof(first));
    memcpy(first_a, p.snap->clinics[A].etag, sizeof(first_a));
    for (ms = 50; ms < INTERVAL_MS; ms += 50) {
        churn(&p, &fx, ms, ms + 50);
        if (ms % 1000 == 0) { /* the once-a-second revalidation */
            assert_string_equal(p.snap->all.etag, first);
            assert_string_equal(p.snap->clinics[A].etag, first_a);
        }
    }
    assert_int_equal(p.builds, 1);
    /* Due at the interval: republished once, with the polls' checked_at. */
    churn(&p, &fx, INTERVAL_MS, INTERVAL_MS + 1000);
    assert_int_equal(p.builds, 2);
    assert_int_equal(p.snap_ms, INTERVAL_MS);
    assert_string_not_equal(p.snap->all.etag, first);
    assert_int_equal(p.snap->generated_at, NOW + INTERVAL_MS / 1000);
    {
        char want[CLOCK_RFC3339_LEN], key[CLOCK_RFC3339_LEN + 16];

        clock_format_rfc3339(fx.st[A].checked_at, want);
        snprintf(key, sizeof(key), "\"checked_at\":\"%s\"", want);
        assert_non_null(strstr(th_doc_text(&p.snap->clinics[A]), key));
    }
    /* A minute of churn: three publications (0, 30 s, 60 s), no more. */
    churn(&p, &fx, INTERVAL_MS + 1000, 2 * INTERVAL_MS + 1);
    assert_int_equal(p.builds, 3);
    feed_snapshot_free(p.snap);

    /* publish_interval_s 0 (every change, the old behaviour) churns. */
    pub_init(&p, &fx, 0);
    churn(&p, &fx, 50, INTERVAL_MS);
    assert_true(p.builds > 30);
    feed_snapshot_free(p.snap);
    fixture_clear(&fx);
}

/* (2) A real availability change at `at` ms (polls churning meanwhile) is
 * public no later than the interval after it happened. */
static void availability_change_at(int64_t at, int quiet, int64_t max_delay)
{
    struct fixture fx;
    struct pub p;
    int64_t ms;

    fixture_init(&fx);
    pub_init(&p, &fx, INTERVAL_MS / 1000);
    if (!quiet) /* else: the first build, then silence */
        churn(&p, &fx, 50, at);
    assert_false(p.snap->info[F].any_free);
    /* F had no free slot; a poll finds one. */
    add(&fx.st[F].slots, loc(2026, 4, 1, 9, 0), NULL);
    fx.st[F].checked_at = fx.st[F].valid_at = fx.st[F].changed_at =
        NOW + at / 1000;
    feed_cadence_touch(&p.cad, at);
    for (ms = at; !p.snap->info[F].any_free; ms += 50) {
        assert_true(ms <= at + INTERVAL_MS + 50);
        if (quiet)
            pub_step(&p, &fx, ms);
        else
            churn(&p, &fx, ms, ms + 50);
    }
    if (p.snap_ms - at > max_delay)
        fail_msg("change at %lld ms published at %lld ms (> %lld ms later)",
                 (long long)at, (long long)p.snap_ms, (long long)max_delay);
    feed_snapshot_free(p.snap);
    fixture_clear(&fx);
}

static void test_cadence_change_within_interval(void **state)
{
    (void)state;
    /* Just after a publication (the worst case), mid-interval, just
     * before the next one, in a later interval. */
    availability_change_at(100, 0, INTERVAL_MS);
    availability_change_at(12345, 0, INTERVAL_MS);
    availability_change_at(INTERVAL_MS - 100, 0, INTERVAL_MS);
    availability_change_at(INTERVAL_MS + 7000, 0, INTERVAL_MS);
    /* The first change after a quiet interval goes out within the
     * coalescing delay (plus one 50 ms step). */
    availability_change_at(95000, 1, COALESCE_MS + 50);
}

/* Age-based stale still flips on time: A's data (valid_at NOW - 30, poll
 * interval 60) turns stale at NOW + 150 with no poll at all; the refresh
 * tick (every 30 s, as app.c) gets it out within the interval. */
static void test_cadence_stale_on_time(void **state)
{
    struct fixture fx;
    struct pub p;
    int64_t ms;

    (void)state;
    fixture_init(&fx);
    pub_init(&p, &fx, INTERVAL_MS / 1000);
    for (ms = 50; p.snap->info[A].status != CLINIC_STALE; ms += 50) {
        assert_true(ms <= 150000 + INTERVAL_MS + COALESCE_MS + 50);
        if (ms % 30000 == 0)
            feed_cadence_touch(&p.cad, ms); /* on_refresh */
        pub_step(&p, &fx, ms);
    }
    assert_true(p.snap_ms >= 150000);
    feed_snapshot_free(p.snap);
    fixture_clear(&fx);
}

/* Slow builds space publications four build durations apart, even past
 * the interval; a republication never happens without a change. */
static void test_cadence_spacing(void **state)
{
    struct feed_cadence c;

    (void)state;
    feed_cadence_init(&c, 30, 250);
    feed_cadence_touch(&c, 1000);
    assert_int_equal(feed_cadence_wait_ms(&c, 1000), 250);
    assert_int_equal(feed_cadence_wait_ms(&c, 1250), 0);
    feed_cadence_published(&c, 1250, 11250); /* a 10 s build */
    assert_int_equal(feed_cadence_wait_ms(&c, 60000), -1);
    feed_cadence_touch(&c, 12000);
    feed_cadence_touch(&c, 20000); /* the first change sets the due */
    assert_int_equal(feed_cadence_wait_ms(&c, 12000), 39250);
    assert_int_equal(feed_cadence_wait_ms(&c, 51250), 0);
    /* A reload to a longer interval applies to the pending publication. */
    feed_cadence_set_interval(&c, 60);
    assert_int_equal(feed_cadence_wait_ms(&c, 51250), 20000);

    /* A clinic's first answer is urgent: out after the coalescing delay
     * even mid-interval, then the interval starts again from there. */
    feed_cadence_init(&c, 30, 250);
    feed_cadence_published(&c, 0, 0);
    feed_cadence_touch(&c, 100); /* churn: due at 30 s */
    assert_int_equal(feed_cadence_wait_ms(&c, 5000), 25000);
    feed_cadence_touch_urgent(&c, 5000);
    feed_cadence_touch_urgent(&c, 5100); /* same burst */
    assert_int_equal(feed_cadence_wait_ms(&c, 5000), 250);
    feed_cadence_published(&c, 5250, 5250);
    feed_cadence_touch(&c, 6000);
    assert_int_equal(feed_cadence_wait_ms(&c, 6000), 29250);
    /* ... and still spaced after a slow build. */
    feed_cadence_published(&c, 10000, 12000); /* a 2 s build */
    feed_cadence_touch_urgent(&c, 12100);
    assert_int_equal(feed_cadence_wait_ms(&c, 12100), 7900);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_and_summary),
        cmocka_unit_test(test_clinic_fields),
        cmocka_unit_test(test_clinic_detail),
        cmocka_unit_test(test_rebuild_later),
        cmocka_unit_test(test_working_days),
        cmocka_unit_test(test_etag_tracks_bytes),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_schema),
        cmocka_unit_test(test_cadence_one_etag_per_interval),
        cmocka_unit_test(test_cadence_change_within_interval),
        cmocka_unit_test(test_cadence_stale_on_time),
        cmocka_unit_test(test_cadence_spacing),
    };

    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
