/*
 * test_smartpub.c - SMART Scheduling Links publication from a hand-built
 * region and states, through feed_build() (the way the daemon gets it).
 *
 * now = 2026-03-31 09:00 local (+02:00; CEST began 29 March) = 07:00Z.
 * Six clinics, one per case; the expected resources and counts below are
 * worked out by hand from the fixture and the SMART Scheduling Links
 * specification, and the per-clinic counts are also cross-checked against
 * the Feed v1 document's free_slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "slotfeed/adapter.h"
#include "slotfeed/clock.h"
#include "slotfeed/feed.h"
#include "slotfeed/smart.h"
#include "slotfeed/smartpub.h"
#include "th_text.h"

/* 2026-03-31T09:00:00+02:00 = 07:00Z (from Python zoneinfo). */
#define NOW INT64_C(1774940400)
#define MIN 60
#define HOUR 3600

enum {
    A,
    B,
    C,
    D,
    F,
    G,
    NCLIN
};

static char *ids[NCLIN] = {
    "SE2321000156-AAA1", "SE2321000156-BBB2", "SE2321000156-CCC3",
    "SE2321000156-DDD4", "SE2321000156-FFF6", "SE2321000156-GGG7",
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
    struct avail_slot rich;
    size_t i;

    memset(fx, 0, sizeof(*fx));
    for (i = 0; i < NCLIN; i++) {
        struct conf_clinic *c = &fx->clinics[i];
        struct clinic_state *st = &fx->st[i];

        c->id = ids[i];
        c->name = "Fysio";
        c->municipality = "Karlstad";
        c->operator_kind = "private";
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
        st->checked_at = st->valid_at = NOW - 30;
        st->changed_at = NOW - 2 * HOUR;
        st->has_data = true;
    }
    fx->clinics[A].locality = "Våxnäs";
    fx->clinics[A].phone = "054-123456";
    fx->clinics[A].website = "https://a.example/";
    fx->clinics[G].phone = "054-777";
    fx->clinics[A].address = "Drottninggatan 1, 652 24 Karlstad";
    fx->clinics[G].address = "Hamngatan 3 (plan 2)";
    fx->region.name = "Värmland";
    fx->region.timezone = "Europe/Stockholm";
    fx->region.guarantee.days = 3;
    fx->region.guarantee.counting = AVAIL_COUNT_CALENDAR;
    fx->region.poll_interval_s = 60;
    fx->region.clinics = fx->clinics;
    fx->region.nclinics = NCLIN;

    /* A: open. Future: 10:00 x2 (two practitioners), 2 April 14:00. */
    add(&fx->st[A].slots, NOW - HOUR, "Dalmo, Jacob");   /* past */
    add(&fx->st[A].slots, NOW, "Dalmo, Jacob");          /* now: gone */
    add(&fx->st[A].slots, NOW + HOUR, "Dalmo, Jacob");   /* 10:00 */
    add(&fx->st[A].slots, NOW + HOUR, "Andersson, Eva"); /* 10:00 */
    memset(&rich, 0, sizeof(rich));
    rich.start = NOW + 2 * 24 * HOUR + 5 * HOUR; /* 2 Apr 14:00 */
    rich.end = rich.start + 45 * MIN;
    rich.practitioner = "Dalmo, Jacob";
    rich.booking_url = "https://deep.example/slot?id=7";
    rich.booking_phone = "010-1";
    rich.capacity = 3;
    assert_int_equal(avail_slots_add_slot(&fx->st[A].slots, &rich), 0);

    /* B: platform says not connected: no Schedule, leftovers hidden. */
    fx->st[B].web = WEB_NONE;
    add(&fx->st[B].slots, NOW + 24 * HOUR, "Berg, Lo");

    /* C: never answered: Schedule with unknown availability. */
    fx->st[C].web = WEB_UNKNOWN;
    fx->st[C].status = CLINIC_ERROR;
    fx->st[C].has_data = false;

    /* D: unreachable with last good data: one passed, one future. */
    fx->st[D].web = WEB_UNREACHABLE;
    fx->st[D].status = CLINIC_STALE;
    add(&fx->st[D].slots, NOW - 30 * MIN, "Dahl, Ann");
    add(&fx->st[D].slots, NOW + 29 * HOUR, "Dahl, Ann");

    /* F: open, answered, nothing free: availability "none". */

    /* G: no web booking configured. */
    fx->st[G].web = WEB_NONE;
    fx->st[G].has_data = false;
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

/* --- NDJSON parsing --------------------------------------------------------- */

#define MAXRES 64

struct file {
    cJSON *res[MAXRES];
    size_t n;
};

/* Parse every line: each is a JSON object of resourceType `type` with a
 * FHIR id; the document ends with '\n' unless empty; no blank lines. */
static void parse_file(const struct doc *doc, const char *type,
                       struct file *out)
{
    const char *p, *end, *nl, *bytes;
    int copy = 0;

    memset(out, 0, sizeof(*out));
    assert_non_null(doc);
    /* The feed keeps the files as per-clinic pieces (doc.h). */
    bytes = doc_flatten(doc, &copy);
    assert_non_null(bytes);
    assert_int_equal(strlen(bytes), doc->len);
    if (doc->len > 0)
        assert_int_equal(bytes[doc->len - 1], '\n');
    for (p = bytes, end = bytes + doc->len; p < end; p = nl + 1) {
        cJSON *o, *rt, *id;
        size_t k;

        nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        assert_true(nl > p); /* no blank line */
        assert_true(out->n < MAXRES);
        o = cJSON_ParseWithLength(p, (size_t)(nl - p));
        assert_non_null(o);
        assert_true(cJSON_IsObject(o));
        rt = cJSON_GetObjectItemCaseSensitive(o, "resourceType");
        assert_true(cJSON_IsString(rt));
        assert_string_equal(rt->valuestring, type);
        id = cJSON_GetObjectItemCaseSensitive(o, "id");
        assert_true(cJSON_IsString(id));
        assert_true(strlen(id->valuestring) >= 1 &&
                    strlen(id->valuestring) <= 64);
        assert_int_equal(strspn(id->valuestring,
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-."),
                         strlen(id->valuestring));
        for (k = 0; k < out->n; k++) /* ids unique */
            assert_string_not_equal(cJSON_GetObjectItemCaseSensitive(out->res
                                                                         [k],
                                                                     "id")
                                        ->valuestring,
                                    id->valuestring);
        out->res[out->n++] = o;
    }
    if (copy)
        free((char *)bytes);
}

static void file_free(struct file *f)
{
    for (size_t i = 0; i < f->n; i++)
        cJSON_Delete(f->res[i]);
    f->n = 0;
}

static cJSON *by_id(const struct file *f, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(cJSON_GetObjectItemCaseSensitive(f->res[i], "id")
                       ->valuestring,
                   id) == 0)
            return f->res[i];
    return NULL;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

/* Value of extension `url` in o's extension array (string or number as
 * text), or NULL when absent. */
static const char *ext(const cJSON *o, const char *url, char *num, size_t n)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "extension"), *e;

    cJSON_ArrayForEach(e, arr) {
        const cJSON *v;

        if (strcmp(str(e, "url"), url) != 0)
            continue;
        cJSON_ArrayForEach(v, e) {
            if (strncmp(v->string, "value", 5) != 0)
                continue;
            if (cJSON_IsNumber(v)) {
                snprintf(num, n, "%d", v->valueint);
                return num;
            }
            return v->valuestring;
        }
    }
    return NULL;
}

/* An instant: seconds and an explicit offset ("Z" or +hh:mm / -hh:mm). */
static int64_t instant(const char *s)
{
    size_t n = strlen(s);
    int64_t t = 0;

    assert_true(n >= 20);
    assert_true(s[n - 1] == 'Z' ||
                ((s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':'));
    assert_int_equal(s[16], ':'); /* hh:mm:ss present */
    assert_int_equal(clock_parse_rfc3339(s, &t), 0);
    return t;
}

struct files {
    struct file loc, sch, slot;
};

static void parse_all(const struct feed_snapshot *s, struct files *f)
{
    parse_file(smartpub_ndjson(&s->smart, "Location"), "Location", &f->loc);
    parse_file(smartpub_ndjson(&s->smart, "Schedule"), "Schedule", &f->sch);
    parse_file(smartpub_ndjson(&s->smart, "Slot"), "Slot", &f->slot);
}

static void files_free(struct files *f)
{
    file_free(&f->loc);
    file_free(&f->sch);
    file_free(&f->slot);
}

/* Location id a Slot belongs to, through Slot.schedule -> Schedule.actor;
 * fails the test when a reference does not resolve within the files. */
static const char *slot_location(const struct files *f, const cJSON *slot)
{
    const char *ref =
        str(cJSON_GetObjectItemCaseSensitive(slot, "schedule"), "reference");
    const cJSON *sch, *actor;

    assert_int_equal(strncmp(ref, "Schedule/", 9), 0);
    sch = by_id(&f->sch, ref + 9);
    assert_non_null(sch);
    actor = cJSON_GetObjectItemCaseSensitive(sch, "actor");
    assert_int_equal(cJSON_GetArraySize(actor), 1);
    ref = str(cJSON_GetArrayItem(actor, 0), "reference");
    assert_int_equal(strncmp(ref, "Location/", 9), 0);
    assert_non_null(by_id(&f->loc, ref + 9));
    return ref + 9;
}

/* --- tests ------------------------------------------------------------------ */

static void test_shapes_and_references(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    struct files f;
    size_t i;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    parse_all(s, &f);

    /* Every clinic has a Location; A, C, D, F (booking, not "none") a
     * Schedule; slots: A 3 + D 1. */
    assert_int_equal(f.loc.n, NCLIN);
    assert_int_equal(f.sch.n, 4);
    assert_int_equal(f.slot.n, 4);
    for (i = 0; i < f.sch.n; i++) {
        const cJSON *actor =
            cJSON_GetObjectItemCaseSensitive(f.sch.res[i], "actor");
        const char *ref = str(cJSON_GetArrayItem(actor, 0), "reference");

        assert_int_equal(cJSON_GetArraySize(actor), 1);
        assert_int_equal(strncmp(ref, "Location/", 9), 0);
        assert_non_null(by_id(&f.loc, ref + 9));
        assert_true(cJSON_GetArraySize(
                        cJSON_GetObjectItemCaseSensitive(f.sch.res[i],
                                                         "serviceType")) >= 1);
    }
    for (i = 0; i < f.slot.n; i++) {
        const cJSON *sl = f.slot.res[i];
        int64_t start = instant(str(sl, "start"));
        int64_t end = instant(str(sl, "end"));

        assert_string_equal(str(sl, "status"), "free");
        assert_true(start > NOW); /* only future slots */
        assert_true(end > start);
        (void)slot_location(&f, sl);
    }
    /* Clinics without web booking (B: not connected, G: none configured)
     * have a Location and no Schedule. */
    for (i = 0; i < f.sch.n; i++) {
        const char *ref =
            str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(f.sch
                                                                        .res[i],
                                                                    "actor"),
                                   0),
                "reference");

        assert_string_not_equal(ref + 9, ids[B]);
        assert_string_not_equal(ref + 9, ids[G]);
    }
    assert_non_null(by_id(&f.loc, ids[B]));
    assert_non_null(by_id(&f.loc, ids[G]));
    files_free(&f);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void test_resource_content(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    struct files f;
    const cJSON *o, *a, *idf;
    char num[16], id[80];

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    parse_all(s, &f);

    /* Location A: HSA identifier, name, telecom, address. */
    o = by_id(&f.loc, ids[A]);
    assert_non_null(o);
    idf = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "identifier"),
                             0);
    assert_string_equal(str(idf, "system"), "urn:oid:1.2.752.29.4.19");
    assert_string_equal(str(idf, "value"), ids[A]);
    assert_string_equal(str(o, "name"), "Fysio");
    a = cJSON_GetObjectItemCaseSensitive(o, "telecom");
    assert_int_equal(cJSON_GetArraySize(a), 2);
    assert_string_equal(str(cJSON_GetArrayItem(a, 0), "system"), "phone");
    assert_string_equal(str(cJSON_GetArrayItem(a, 0), "value"), "054-123456");
    assert_string_equal(str(cJSON_GetArrayItem(a, 1), "system"), "url");
    assert_string_equal(str(cJSON_GetArrayItem(a, 1), "value"),
                        "https://a.example/");
    a = cJSON_GetObjectItemCaseSensitive(o, "address");
    assert_string_equal(str(a, "city"), "Våxnäs");
    assert_string_equal(str(a, "district"), "Karlstad");
    /* The configured address: text, and its street and postcode split. */
    assert_string_equal(str(a, "text"), "Drottninggatan 1, 652 24 Karlstad");
    assert_string_equal(str(a, "postalCode"), "652 24");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "line"), 0)
            ->valuestring,
        "Drottninggatan 1");
    /* G: no locality -> city is the municipality; phone only; an address
     * not in the "street, postcode town" form stays text only. */
    o = by_id(&f.loc, ids[G]);
    a = cJSON_GetObjectItemCaseSensitive(o, "address");
    assert_string_equal(str(a, "city"), "Karlstad");
    assert_string_equal(str(a, "text"), "Hamngatan 3 (plan 2)");
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "line"));
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "postalCode"));
    a = cJSON_GetObjectItemCaseSensitive(o, "telecom");
    assert_int_equal(cJSON_GetArraySize(a), 1);
    assert_string_equal(str(cJSON_GetArrayItem(a, 0), "value"), "054-777");

    /* Schedules: has-availability by case. */
    snprintf(id, sizeof(id), "%s-booking", ids[A]);
    o = by_id(&f.sch, id);
    assert_non_null(o);
    assert_string_equal(ext(o, SMARTPUB_EXT_HAS_AVAILABILITY, num, sizeof(num)),
                        "some");
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                                   o, "serviceType"),
                                               0),
                            "text"),
                        "Nybesök fysioterapeut");
    snprintf(id, sizeof(id), "%s-booking", ids[C]);
    assert_string_equal(ext(by_id(&f.sch, id), SMARTPUB_EXT_HAS_AVAILABILITY,
                            num, sizeof(num)),
                        "unknown");
    snprintf(id, sizeof(id), "%s-booking", ids[D]);
    assert_string_equal(ext(by_id(&f.sch, id), SMARTPUB_EXT_HAS_AVAILABILITY,
                            num, sizeof(num)),
                        "some");
    snprintf(id, sizeof(id), "%s-booking", ids[F]);
    assert_string_equal(ext(by_id(&f.sch, id), SMARTPUB_EXT_HAS_AVAILABILITY,
                            num, sizeof(num)),
                        "none");

    /* A's 10:00 slots: two, told apart by the last id part; local time
     * with the CEST offset; the clinic's deep link and phone. */
    snprintf(id, sizeof(id), "%s-%lld-0", ids[A], (long long)(NOW + HOUR));
    o = by_id(&f.slot, id);
    assert_non_null(o);
    assert_string_equal(str(o, "start"), "2026-03-31T10:00:00+02:00");
    assert_string_equal(str(o, "end"), "2026-03-31T10:30:00+02:00");
    snprintf(id, sizeof(id), "Schedule/%s-booking", ids[A]);
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(o, "schedule"),
                            "reference"),
                        id);
    assert_string_equal(ext(o, SMART_EXT_DEEP_LINK, num, sizeof(num)),
                        "https://e-tjanster.1177.se/boka");
    assert_string_equal(ext(o, SMART_EXT_PHONE, num, sizeof(num)),
                        "054-123456");
    assert_null(ext(o, SMART_EXT_CAPACITY, num, sizeof(num)));
    snprintf(id, sizeof(id), "%s-%lld-1", ids[A], (long long)(NOW + HOUR));
    assert_non_null(by_id(&f.slot, id));
    /* The slot with its own deep link, phone and capacity. */
    snprintf(id, sizeof(id), "%s-%lld-0", ids[A], (long long)(NOW + 53 * HOUR));
    o = by_id(&f.slot, id);
    assert_non_null(o);
    assert_string_equal(str(o, "start"), "2026-04-02T14:00:00+02:00");
    assert_string_equal(str(o, "end"), "2026-04-02T14:45:00+02:00");
    assert_string_equal(ext(o, SMART_EXT_DEEP_LINK, num, sizeof(num)),
                        "https://deep.example/slot?id=7");
    assert_string_equal(ext(o, SMART_EXT_PHONE, num, sizeof(num)), "010-1");
    assert_string_equal(ext(o, SMART_EXT_CAPACITY, num, sizeof(num)), "3");
    /* D has no phone anywhere: deep link only. */
    snprintf(id, sizeof(id), "%s-%lld-0", ids[D], (long long)(NOW + 29 * HOUR));
    o = by_id(&f.slot, id);
    assert_non_null(o);
    assert_string_equal(str(o, "start"), "2026-04-01T14:00:00+02:00");
    assert_null(ext(o, SMART_EXT_PHONE, num, sizeof(num)));
    assert_non_null(ext(o, SMART_EXT_DEEP_LINK, num, sizeof(num)));

    files_free(&f);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* Per clinic, the Slot count equals the feed's free_slots (null -> 0). */
static void test_counts_match_feed(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    struct files f;
    cJSON *all, *c;
    int total = 0, nfeed = 0;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    parse_all(s, &f);
    all = cJSON_ParseWithLength(th_doc_text(&s->all), s->all.len);
    assert_non_null(all);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(all, "clinics")) {
        const cJSON *fs = cJSON_GetObjectItemCaseSensitive(c, "free_slots");
        const char *id = str(c, "id");
        int want = cJSON_IsNumber(fs) ? fs->valueint : 0, got = 0;

        for (size_t i = 0; i < f.slot.n; i++)
            got += strcmp(slot_location(&f, f.slot.res[i]), id) == 0;
        assert_int_equal(got, want);
        total += got;
        nfeed++;
    }
    assert_int_equal(nfeed, NCLIN);
    assert_int_equal(total, (int)f.slot.n);
    cJSON_Delete(all);
    files_free(&f);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void test_manifest(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    static const char *types[] = { "Location", "Schedule", "Slot" };
    const char *bases[] = { "http://127.0.0.1:8080", "http://127.0.0.1:8080/" };
    char *m, big[SMARTPUB_BASE_URL_MAX + 2];
    size_t len = 0;
    int b, i;

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    for (b = 0; b < 2; b++) {
        cJSON *o, *out, *it;
        int64_t t = 0;

        m = smartpub_manifest(&s->smart, bases[b], &len);
        assert_non_null(m);
        assert_int_equal(strlen(m), len);
        o = cJSON_Parse(m);
        assert_non_null(o);
        assert_int_equal(clock_parse_rfc3339(str(o, "transactionTime"), &t), 0);
        assert_true(t == smartpub_transaction_time(&s->smart));
        (void)instant(str(o, "transactionTime"));
        assert_string_equal(str(o, "request"),
                            "http://127.0.0.1:8080/$bulk-publish");
        out = cJSON_GetObjectItemCaseSensitive(o, "output");
        assert_int_equal(cJSON_GetArraySize(out), 3);
        i = 0;
        cJSON_ArrayForEach(it, out) {
            char want[128];

            snprintf(want, sizeof(want), "http://127.0.0.1:8080/bulk/%s.ndjson",
                     types[i]);
            assert_string_equal(str(it, "type"), types[i]);
            assert_string_equal(str(it, "url"), want);
            i++;
        }
        it = cJSON_GetObjectItemCaseSensitive(o, "error");
        assert_true(cJSON_IsArray(it));
        assert_int_equal(cJSON_GetArraySize(it), 0);
        cJSON_Delete(o);
        free(m);
    }
    /* Refused bases. */
    assert_null(smartpub_manifest(&s->smart, "", &len));
    assert_null(smartpub_manifest(&s->smart, NULL, &len));
    assert_null(smartpub_manifest(NULL, "http://x", &len));
    assert_null(smartpub_manifest(&s->smart, "http://a b", &len));
    assert_null(smartpub_manifest(&s->smart, "http://a\r\nX: y", &len));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_null(smartpub_manifest(&s->smart, big, &len));
    /* Types: exact names only. */
    assert_ptr_equal(smartpub_ndjson(&s->smart, "Slot"),
                     &s->smart.doc[SMARTPUB_SLOT]);
    assert_null(smartpub_ndjson(&s->smart, "slot"));
    assert_null(smartpub_ndjson(&s->smart, "Patient"));
    assert_null(smartpub_ndjson(NULL, "Slot"));
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/* transactionTime moves only when the published content changes. */
static void test_transaction_time(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;

    (void)state;
    fixture_init(&fx);
    /* Content unlike any built before: a slot only this build has. */
    add(&fx.st[F].slots, NOW + 100 * HOUR, NULL);
    s = build(&fx, NOW - 100);
    assert_true(smartpub_transaction_time(&s->smart) == NOW - 100);
    feed_snapshot_free(s);
    fixture_clear(&fx);

    fixture_init(&fx);
    s = build(&fx, NOW);
    assert_true(smartpub_transaction_time(&s->smart) == NOW);
    feed_snapshot_free(s);
    /* A minute later nothing has passed (first future slot at 10:00). */
    s = build(&fx, NOW + MIN);
    assert_true(smartpub_transaction_time(&s->smart) == NOW);
    feed_snapshot_free(s);
    /* 10:00:01: the two 10:00 slots have dropped out. */
    s = build(&fx, NOW + HOUR + 1);
    assert_true(smartpub_transaction_time(&s->smart) == NOW + HOUR + 1);
    feed_snapshot_free(s);
    /* A clinic turning "not connected" loses its Schedule and slots. */
    fx.st[D].web = WEB_NONE;
    s = build(&fx, NOW + HOUR + 2);
    assert_true(smartpub_transaction_time(&s->smart) == NOW + HOUR + 2);
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

static void test_empty_region(void **state)
{
    struct conf_region r;
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    char *m;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.name = "Tom";
    r.guarantee.days = 3;
    r.poll_interval_s = 60;
    assert_int_equal(feed_build(&r, NULL, NOW, &s, &err), 0);
    for (int t = 0; t < SMARTPUB_NDOCS; t++) {
        /* A document (pieces: none; Slot: an empty gzip member), not a
         * missing one. */
        assert_true(s->smart.doc[t].json != NULL ||
                    s->smart.doc[t].segs != NULL ||
                    s->smart.doc[t].zsrc != NULL);
        assert_int_equal(s->smart.doc[t].len, 0);
        assert_string_equal(th_doc_text(&s->smart.doc[t]), "");
        assert_int_equal(s->smart.doc[t].etag[0], '"');
    }
    m = smartpub_manifest(&s->smart, "https://feed.example", NULL);
    assert_non_null(m);
    free(m);
    feed_snapshot_free(s);
}

/*
 * Publish -> consume: the project's smart-bulk adapter reads our manifest
 * and files (answered in memory, by URL) and must find, per clinic, the
 * same future slots we hold (start, end, deep link, phone, capacity).
 */
#define BASE "http://127.0.0.1:8080"

static void consume_relay(const struct feed_snapshot *s, const char *hsa,
                          struct avail_slots *got, struct adapter_relay *relay)
{
    struct conf_clinic c;
    struct conf_region r;
    struct adapter_ctx ctx;
    struct adapter_request req;
    struct sf_error err;
    void *state = NULL, *cache = NULL;
    enum adapter_status rc;
    int nreq = 0;

    memset(&c, 0, sizeof(c));
    memset(&r, 0, sizeof(r));
    memset(&ctx, 0, sizeof(ctx));
    memset(&req, 0, sizeof(req));
    c.id = "SE2321000156-ZZZ9";
    c.has_booking = true;
    c.booking.adapter = "smart-bulk";
    c.booking.url = BASE "/$bulk-publish";
    c.booking.location = (char *)hsa;
    r.clinics = &c;
    r.nclinics = 1;
    ctx.region = &r;
    ctx.clinic = &c;
    ctx.now = NOW;
    ctx.first_day = clock_local_day(NOW);
    ctx.last_day = ctx.first_day + 27;
    ctx.cache = &cache;
    ctx.relay = relay;
    sf_error_clear(&err);
    rc = adapter_smart.begin(&ctx, &state, &req, &err);
    while (rc == ADAPTER_MORE) {
        struct adapter_response resp;
        const struct doc *doc = NULL;
        char *manifest = NULL, *flat = NULL;
        const char *name = strrchr(req.url, '/');

        assert_true(++nreq <= 8);
        assert_non_null(name);
        memset(&resp, 0, sizeof(resp));
        resp.http_status = 200;
        if (strcmp(req.url, BASE "/$bulk-publish") == 0) {
            manifest = smartpub_manifest(&s->smart, BASE, &resp.len);
            resp.body = manifest;
            resp.content_type = "application/json";
        } else {
            char type[16];

            assert_int_equal(strncmp(req.url, BASE "/bulk/", 11 + 6), 0);
            assert_int_equal(sscanf(name, "/%15[A-Za-z].ndjson", type), 1);
            doc = smartpub_ndjson(&s->smart, type);
            assert_non_null(doc);
            /* Always a copy: the one-piece case is copied too. */
            assert_non_null(flat = malloc(doc->len + 1));
            {
                int copy = 0;
                const char *b = doc_flatten(doc, &copy);

                assert_non_null(b);
                memcpy(flat, b, doc->len + 1);
                if (copy)
                    free((char *)b);
            }
            resp.body = flat;
            resp.len = doc->len;
            resp.content_type = SMARTPUB_CONTENT_TYPE;
        }
        adapter_request_clear(&req);
        rc = adapter_smart.step(&ctx, state, &resp, got, &req, &err);
        free(manifest);
        free(flat);
    }
    if (rc != ADAPTER_DONE)
        fail_msg("smart-bulk on %s: %s", hsa, err.msg);
    adapter_request_clear(&req);
    if (adapter_smart.end)
        adapter_smart.end(state);
    if (adapter_smart.cache_free)
        adapter_smart.cache_free(cache);
    avail_slots_sort(got);
}

static void consume(const struct feed_snapshot *s, const char *hsa,
                    struct avail_slots *got)
{
    consume_relay(s, hsa, got, NULL);
}

static bool streq(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static void test_round_trip_smart_adapter(void **state)
{
    struct fixture fx;
    struct feed_snapshot *s;
    int which[] = { A, D };

    (void)state;
    fixture_init(&fx);
    s = build(&fx, NOW);
    for (size_t w = 0; w < 2; w++) {
        const struct conf_clinic *c = &fx.clinics[which[w]];
        const struct avail_slots *had = &fx.st[which[w]].slots;
        struct avail_slots got;
        size_t i, k = 0;

        avail_slots_init(&got);
        consume(s, c->id, &got);
        /*
         * Every future slot we hold must come back, with its practitioner
         * and visit type (our Slot extensions and Slot.serviceType), so
         * A's two 10:00 slots that differ only in practitioner stay two.
         */
        for (i = 0; i < had->n; i++) {
            const struct avail_slot *h = &had->v[i];
            const char *link =
                h->booking_url ? h->booking_url : c->booking.booking_url;
            const char *phone = h->booking_phone ? h->booking_phone : c->phone;
            int cap = h->capacity > 1 ? h->capacity : 1;
            size_t j, dup = 0;

            if (h->start <= NOW)
                continue;
            for (j = 0; j < i; j++)
                dup += had->v[j].start == h->start && had->v[j].end == h->end &&
                       had->v[j].booking_url == h->booking_url &&
                       had->v[j].booking_phone == h->booking_phone &&
                       had->v[j].capacity == h->capacity &&
                       streq(had->v[j].practitioner, h->practitioner);
            if (dup)
                continue;
            for (j = 0; j < got.n; j++)
                if (got.v[j].start == h->start && got.v[j].end == h->end &&
                    got.v[j].booking_url != NULL &&
                    strcmp(got.v[j].booking_url, link) == 0 &&
                    (phone == NULL
                         ? got.v[j].booking_phone == NULL
                         : (got.v[j].booking_phone != NULL &&
                            strcmp(got.v[j].booking_phone, phone) == 0)) &&
                    got.v[j].capacity == cap &&
                    streq(got.v[j].practitioner, h->practitioner) &&
                    (h->service == NULL ||
                     streq(got.v[j].service, h->service)) &&
                    got.v[j].follow_up == h->follow_up)
                    break;
            assert_true(j < got.n);
            k++;
        }
        assert_int_equal(got.n, k); /* nothing more than we published */
        /* A: 10:00 x2 and 2 April; D: 1 April. Worked by hand. */
        assert_int_equal(k, which[w] == A ? 3 : 1);
        avail_slots_clear(&got);
    }
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

/*
 * Every web-booking state and status a region publishes comes back out of
 * the smart-bulk adapter as the same words (docs/adapters.md, "Relayed
 * clinic state"), with valid_at/checked_at (when known) and the error,
 * and the feed's age rule included (F: ok by its last poll, stale by age).
 */
static void test_state_round_trip(void **state)
{
    static const struct {
        int which;
        const char *web, *status;
        bool times;
        enum sf_errclass cls;
        size_t slots;
    } want[] = {
        { A, "open", "ok", true, SF_ERR_NONE, 3 },
        { B, "none", "stale", true, SF_ERR_NOT_CONNECTED, 0 },
        { C, "unknown", "error", true, SF_ERR_TIMEOUT, 0 },
        { D, "unreachable", "stale", true, SF_ERR_TRANSPORT, 1 },
        { F, "open", "stale", true, SF_ERR_NONE, 0 },
        { G, "none", "ok", true, SF_ERR_NONE, 0 },
    };
    struct fixture fx;
    struct feed_snapshot *s;

    (void)state;
    fixture_init(&fx);
    fx.st[B].status = CLINIC_STALE;
    fx.st[B].err_class = SF_ERR_NOT_CONNECTED;
    snprintf(fx.st[B].error, sizeof(fx.st[B].error),
             "clinic %s: GetAvailableDates: VP004 not connected", ids[B]);
    fx.st[C].err_class = SF_ERR_TIMEOUT;
    snprintf(fx.st[C].error, sizeof(fx.st[C].error), "clinic %s: timeout",
             ids[C]);
    fx.st[C].valid_at = 0;
    fx.st[D].err_class = SF_ERR_TRANSPORT;
    snprintf(fx.st[D].error, sizeof(fx.st[D].error),
             "clinic %s: connect: refused \xc3\xa5", ids[D]);
    fx.st[D].valid_at = NOW - 2 * HOUR;
    fx.st[D].checked_at = NOW - 50;
    fx.st[F].valid_at = fx.st[F].checked_at = NOW - 4 * MIN; /* > 3 x 60 s */
    s = build(&fx, NOW);
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        const struct clinic_state *st = &fx.st[want[w].which];
        struct adapter_relay r;
        struct avail_slots got;

        memset(&r, 0, sizeof(r));
        avail_slots_init(&got);
        consume_relay(s, ids[want[w].which], &got, &r);
        assert_true(r.set);
        assert_string_equal(r.web, want[w].web);
        assert_string_equal(r.status, want[w].status);
        assert_int_equal(r.valid_at, want[w].times ? st->valid_at : 0);
        assert_int_equal(r.checked_at, want[w].times ? st->checked_at : 0);
        assert_int_equal(r.err_class, want[w].cls);
        assert_string_equal(r.error, want[w].cls ? st->error : "");
        assert_int_equal(got.n, want[w].slots);
        avail_slots_clear(&got);
    }
    feed_snapshot_free(s);
    fixture_clear(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_references),
        cmocka_unit_test(test_resource_content),
        cmocka_unit_test(test_counts_match_feed),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_transaction_time),
        cmocka_unit_test(test_empty_region),
        cmocka_unit_test(test_round_trip_smart_adapter),
        cmocka_unit_test(test_state_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
