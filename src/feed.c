/*
 * feed.c - Feed v1: region + clinic states + now -> immutable JSON bytes.
 *
 * Everything published is computed here, once per rebuild, from the
 * collector's last good slots and `now`: passed slots drop out, and a
 * clinic whose good data is older than FEED_STALE_INTERVALS poll
 * intervals is reported stale even if its last poll did not fail (design
 * §7.3). Availability is tri-state: no good data (or no web booking) gives
 * null fields, never zero counts. docs/feed.md is the field reference and
 * docs/feed.schema.json the machine-checked shape; keep all three in step.
 */
#include "slotfeed/feed.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slotfeed/clock.h"
#include "slotfeed/hash.h"
#include "slotfeed/metrics.h"
#include "slotfeed/sbuf.h"

/* --- small JSON helpers (each returns 0, or -1 on allocation failure) --- */

static int add_str_or_null(cJSON *obj, const char *key, const char *s)
{
    if (s == NULL)
        return cJSON_AddNullToObject(obj, key) ? 0 : -1;
    return cJSON_AddStringToObject(obj, key, s) ? 0 : -1;
}

static int add_time(cJSON *obj, const char *key, int64_t t)
{
    char buf[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(t, buf);
    return cJSON_AddStringToObject(obj, key, buf) ? 0 : -1;
}

/* An instant that is 0 means "never" and is published as null. */
static int add_time_or_null(cJSON *obj, const char *key, int64_t t)
{
    if (t == 0)
        return cJSON_AddNullToObject(obj, key) ? 0 : -1;
    return add_time(obj, key, t);
}

static int add_date(cJSON *obj, const char *key, int32_t day)
{
    char buf[CLOCK_DATE_LEN];

    clock_format_date(day, buf);
    return cJSON_AddStringToObject(obj, key, buf) ? 0 : -1;
}

static int add_int(cJSON *obj, const char *key, long v)
{
    return cJSON_AddNumberToObject(obj, key, (double)v) ? 0 : -1;
}

static int add_null(cJSON *obj, const char *key)
{
    return cJSON_AddNullToObject(obj, key) ? 0 : -1;
}

/* Append a string to an array; 0 or -1. */
static int push_str(cJSON *arr, const char *s)
{
    cJSON *v = cJSON_CreateString(s);

    if (v == NULL)
        return -1;
    cJSON_AddItemToArray(arr, v);
    return 0;
}

/* --- names published in the feed (the schema's enums) ------------------- */

static const char *status_name(enum clinic_status s)
{
    switch (s) {
    case CLINIC_OK:
        return "ok";
    case CLINIC_STALE:
        return "stale";
    case CLINIC_ERROR:
        break;
    }
    return "error";
}

/* --- availability -------------------------------------------------------- */

/*
 * "days": future slots grouped by local start date, in time order. The
 * input need not be sorted (avail_compute accepts any order too), so an
 * array of pointers is sorted rather than the caller's list.
 */
static int add_days(cJSON *obj, const struct avail_slots *slots, int64_t now)
{
    const struct avail_slot **v = NULL;
    cJSON *days, *day = NULL, *list = NULL;
    int32_t cur = 0;
    size_t n = 0, i;
    int rc = -1;

    if ((days = cJSON_AddArrayToObject(obj, "days")) == NULL)
        return -1;
    if (avail_slots_future(slots, now, &v, &n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        const struct avail_slot *sl = v[i];
        int32_t d = clock_local_day(sl->start);
        char hhmm[6];
        cJSON *o;

        if (day == NULL || d != cur) {
            if ((day = cJSON_CreateObject()) == NULL)
                goto out;
            cJSON_AddItemToArray(days, day);
            if (add_date(day, "date", d) != 0 ||
                (list = cJSON_AddArrayToObject(day, "slots")) == NULL)
                goto out;
            cur = d;
        }
        if ((o = cJSON_CreateObject()) == NULL)
            goto out;
        cJSON_AddItemToArray(list, o);
        clock_format_hhmm(sl->start, hhmm);
        if (add_time(o, "start", sl->start) != 0 ||
            add_time(o, "end", sl->end) != 0 ||
            cJSON_AddStringToObject(o, "time", hhmm) == NULL ||
            add_str_or_null(o, "practitioner", sl->practitioner) != 0 ||
            add_str_or_null(o, "service", sl->service) != 0)
            goto out;
    }
    rc = 0;
out:
    free(v);
    return rc;
}

int feed_add_availability(cJSON *obj, const struct avail_slots *slots,
                          int64_t now, const struct avail_rule *rule,
                          int with_days)
{
    struct avail_result r;
    cJSON *up;
    int i;

    if (obj == NULL)
        return -1;
    /* Computed with slots == NULL too: the deadline needs only now. */
    avail_compute(slots, now, rule, &r);
    if (slots == NULL) {
        /* Unknown: null everywhere, so no consumer reads "none free". */
        if (add_null(obj, "first_free") != 0 ||
            add_null(obj, "within_guarantee") != 0 ||
            add_date(obj, "guarantee_deadline", r.deadline_day) != 0 ||
            add_null(obj, "upcoming_days") != 0 ||
            add_null(obj, "more_days") != 0 ||
            add_null(obj, "free_slots_within_guarantee") != 0 ||
            add_null(obj, "free_slots") != 0 ||
            (with_days && add_null(obj, "days") != 0))
            return -1;
        return 0;
    }
    if ((r.has_first_free ? add_time(obj, "first_free", r.first_free)
                          : add_null(obj, "first_free")) != 0 ||
        cJSON_AddBoolToObject(obj, "within_guarantee", r.within_guarantee) ==
            NULL ||
        add_date(obj, "guarantee_deadline", r.deadline_day) != 0 ||
        (up = cJSON_AddArrayToObject(obj, "upcoming_days")) == NULL)
        return -1;
    for (i = 0; i < r.n_upcoming; i++) {
        char buf[CLOCK_DATE_LEN];

        clock_format_date(r.upcoming_days[i], buf);
        if (push_str(up, buf) != 0)
            return -1;
    }
    if (add_int(obj, "more_days", r.more_days) != 0 ||
        add_int(obj, "free_slots_within_guarantee",
                r.free_slots_within_guarantee) != 0 ||
        add_int(obj, "free_slots", r.free_slots) != 0)
        return -1;
    if (with_days && add_days(obj, slots, now) != 0)
        return -1;
    return 0;
}

/* --- one clinic ---------------------------------------------------------- */

/* What a clinic contributes to the summary. */
struct clinic_facts {
    enum web_booking web;
    enum clinic_status status;
    bool known;    /* availability published (not null) */
    bool within;   /* known and a slot within the guarantee */
    bool any_free; /* known and at least one future slot */
};

/*
 * The status we publish: the collector's, except that good data older
 * than FEED_STALE_INTERVALS x poll_interval_s is stale even when the last
 * poll "succeeded" (e.g. a poll loop that silently stopped).
 */
static enum clinic_status effective_status(const struct clinic_state *st,
                                           int64_t now, int poll_interval_s)
{
    if (st->status == CLINIC_OK && st->has_data && poll_interval_s > 0 &&
        (st->valid_at == 0 ||
         now - st->valid_at > (int64_t)FEED_STALE_INTERVALS * poll_interval_s))
        return CLINIC_STALE;
    return st->status;
}

/*
 * Add the clinic's fields to obj (in the order docs/feed.md lists them);
 * with_days also adds "days". Fills *facts. 0 or -1 (OOM).
 */
static int add_clinic_fields(cJSON *obj, const struct conf_region *region,
                             const struct conf_clinic *c,
                             const struct clinic_state *st, int64_t now,
                             int with_days, struct clinic_facts *facts)
{
    const struct avail_slots *slots = NULL;
    struct avail_result r;
    cJSON *err, *services;

    memset(facts, 0, sizeof(*facts));
    facts->web = st->web;
    facts->status = effective_status(st, now, region->poll_interval_s);
    /*
     * Availability is published only from good data of a clinic that has
     * web booking; a stale clinic keeps its last good slots, recomputed at
     * now (its status and valid_at say how old they are).
     */
    if (st->has_data && st->web != WEB_NONE) {
        slots = &st->slots;
        facts->known = true;
        avail_compute(slots, now, &region->guarantee, &r);
        facts->within = r.within_guarantee;
        facts->any_free = r.free_slots > 0;
    }

    if (cJSON_AddStringToObject(obj, "id", c->id) == NULL ||
        add_str_or_null(obj, "name", c->name) != 0 ||
        add_str_or_null(obj, "municipality", c->municipality) != 0 ||
        add_str_or_null(obj, "locality", c->locality) != 0 ||
        add_str_or_null(obj, "operator", c->operator_kind) != 0 ||
        cJSON_AddStringToObject(obj, "web_booking",
                                collector_web_name(st->web)) == NULL ||
        cJSON_AddStringToObject(obj, "status", status_name(facts->status)) ==
            NULL ||
        add_time_or_null(obj, "checked_at", st->checked_at) != 0 ||
        add_time_or_null(obj, "valid_at", st->valid_at) != 0 ||
        add_time_or_null(obj, "changed_at", st->changed_at) != 0)
        return -1;
    if (st->err_class == SF_ERR_NONE) {
        if (add_null(obj, "error") != 0)
            return -1;
    } else {
        if ((err = cJSON_AddObjectToObject(obj, "error")) == NULL ||
            cJSON_AddStringToObject(err, "class",
                                    sf_errclass_name(st->err_class)) == NULL ||
            cJSON_AddStringToObject(err, "message", st->error) == NULL)
            return -1;
    }
    if (feed_add_availability(obj, slots, now, &region->guarantee, 0) != 0)
        return -1;
    if (add_str_or_null(obj, "booking_url",
                        c->has_booking ? c->booking.booking_url : NULL) != 0 ||
        add_str_or_null(obj, "phone", c->phone) != 0 ||
        add_str_or_null(obj, "website", c->website) != 0 ||
        add_str_or_null(obj, "address", c->address) != 0 ||
        (services = cJSON_AddArrayToObject(obj, "services")) == NULL)
        return -1;
    if (c->has_booking && c->booking.time_type_name != NULL &&
        push_str(services, c->booking.time_type_name) != 0)
        return -1;
    if (with_days) {
        if (slots == NULL)
            return add_null(obj, "days");
        return add_days(obj, slots, now);
    }
    return 0;
}

/* --- documents ----------------------------------------------------------- */

static int add_guarantee(cJSON *obj, const struct avail_rule *rule, int64_t now)
{
    int32_t contact = clock_local_day(now);
    cJSON *g;

    if ((g = cJSON_AddObjectToObject(obj, "guarantee")) == NULL ||
        add_int(g, "days", rule->days) != 0 ||
        cJSON_AddStringToObject(g, "counting",
                                avail_counting_name(rule->counting)) == NULL ||
        add_date(g, "contact_day", contact) != 0 ||
        add_date(g, "deadline", avail_deadline(contact, rule)) != 0)
        return -1;
    return 0;
}

/* Fields both documents start with. */
static int add_head(cJSON *obj, const struct conf_region *region, int64_t now)
{
    if (add_int(obj, "version", FEED_VERSION) != 0 ||
        add_time(obj, "generated_at", now) != 0 ||
        add_str_or_null(obj, "timezone",
                        region->timezone ? region->timezone : CLOCK_TZ_NAME) !=
            0)
        return -1;
    return 0;
}

/*
 * Clinic i's detail document is its fields (serialized here, without the
 * closing brace) followed by the days text `,"days":...}` (heavy_days),
 * kept only compressed. Its head says as_of (the part's window start,
 * see part_window), not the snapshot's now: the content is the same at
 * both, and so the bytes can be kept until it changes. *fields (malloc'd)
 * gets the fields text, *len its length. 0 or -1.
 */
static int build_detail(const struct conf_region *region,
                        const struct clinic_state *st, size_t i, int64_t now,
                        int64_t as_of, char **fields, size_t *len)
{
    struct clinic_facts facts;
    cJSON *obj;
    int rc = -1;

    *fields = NULL;
    if ((obj = cJSON_CreateObject()) == NULL)
        return -1;
    if (add_head(obj, region, as_of) != 0 ||
        add_guarantee(obj, &region->guarantee, as_of) != 0 ||
        add_clinic_fields(obj, region, &region->clinics[i], st, now, 0,
                          &facts) != 0 ||
        (*fields = cJSON_PrintUnformatted(obj)) == NULL)
        goto out;
    *len = strlen(*fields) - 1; /* drop the closing brace */
    rc = 0;
out:
    cJSON_Delete(obj);
    return rc;
}

/* --- the region document, spliced ----------------------------------------- */

size_t feed_summary_format(const struct feed_snapshot *s, const size_t *idx,
                           size_t n, char *buf, size_t cap)
{
    long web[4] = { 0, 0, 0, 0 }, with_free = 0, within = 0, stale = 0;
    long error = 0;
    size_t k;
    int len;

    for (k = 0; k < n; k++) {
        size_t i = idx != NULL ? idx[k] : k;
        const struct feed_clinic_info *f;

        if (s->info == NULL || i >= s->nclinics)
            continue;
        f = &s->info[i];
        if ((unsigned)f->web < 4)
            web[f->web]++;
        with_free += f->any_free;
        within += f->within == 1;
        stale += f->status == CLINIC_STALE;
        error += f->status == CLINIC_ERROR;
    }
    /* The same bytes cJSON_PrintUnformatted wrote for this object. */
    len = snprintf(buf, cap,
                   "\"summary\":{\"clinics\":%zu,\"web_booking\":{"
                   "\"open\":%ld,\"none\":%ld,\"unreachable\":%ld,"
                   "\"unknown\":%ld},\"with_free_slots\":%ld,"
                   "\"within_guarantee\":%ld,\"stale\":%ld,\"error\":%ld}",
                   n, web[WEB_OPEN], web[WEB_NONE], web[WEB_UNREACHABLE],
                   web[WEB_UNKNOWN], with_free, within, stale, error);
    if (len < 0 || (size_t)len >= cap)
        return 0;
    return (size_t)len;
}

/* The future slots of a clinic whose availability is published: when
 * src is sorted (the collector sorts every answer) they are its tail,
 * shared with the collector's list rather than copied (availability.h). */
static int copy_future(struct avail_slots *dst, const struct avail_slots *src,
                       int64_t now)
{
    size_t i, first;

    if (avail_slots_sorted(src)) {
        for (first = src->n; first > 0 && src->v[first - 1].start > now;
             first--)
            ;
        return avail_slots_share(dst, src, first);
    }
    for (i = 0; i < src->n; i++)
        if (src->v[i].start > now && avail_slots_add_slot(dst, &src->v[i]) != 0)
            return -1;
    avail_slots_sort(dst);
    avail_slots_shrink(dst); /* kept for many builds */
    return 0;
}

/* --- per-clinic parts (incremental snapshots, feed.h) -------------------- */

/*
 * What a part's bytes depend on in a clinic state besides the clock. The
 * collector counts a poll (polls or failures) whenever it sets new slots,
 * and every other change it makes moves a field listed here (status,
 * error, has_data, the timestamps, the slot count).
 */
struct part_key {
    enum web_booking web;
    enum clinic_status status;
    enum sf_errclass err_class;
    bool has_data;
    int64_t checked_at, valid_at, changed_at;
    unsigned long polls, failures;
    size_t nslots;
    uint64_t error_hash;
};

/*
 * The heavy pieces of a part: what depends only on the clinic's
 * configuration, web-booking state, whether its availability is known
 * and its future slots (not on checked_at, the status or the day): the
 * slot copy, the SMART lines and the gzip of the detail document's
 * "days". A finished poll that found the same slots moves checked_at,
 * so the part is rebuilt, but its heavy pieces are shared with the old
 * part (second reuse key). Immutable once built; refs counts the parts.
 */
/* Reused by every clinic of one build. */
struct feed_scratch {
    struct doc_zctx *zc; /* one compressor for every piece */
    struct sbuf slots;   /* a clinic's Slot lines before compression */
};

struct feed_heavy {
    unsigned refs;
    enum web_booking web;
    bool known;               /* availability published */
    struct avail_slots slots; /* future slots at build time, sorted */
    /* its Schedule line (the Location line, which carries the clinic's
     * state and times, is the part's: loc below) and the hashes of its
     * Schedule and Slot lines */
    struct sbuf smart[SMARTPUB_NDOCS];
    uint64_t smart_hash[SMARTPUB_NDOCS];
    /* Slot lines only compressed: at 10,000 clinics their text would be
     * most of the daemon's memory (docs/performance.md) */
    struct doc_zpart slot_z;
    struct doc_zpart days_z; /* `,"days":...}` compressed, sync-flushed */
    uint64_t days_hash;      /* FNV-1a of that text */
};

/*
 * One clinic's serialized pieces of a snapshot. Immutable once built
 * (except z, the region gzip's piece, which only the builder replaces, on
 * the loop thread; no served byte points into it) and shared by every
 * snapshot that reuses it: refs counts the snapshots holding it.
 */
struct feed_part {
    unsigned refs;
    uint64_t id; /* unique in the process, never 0 */
    struct part_key key;
    int32_t day;                  /* local date it was built for */
    int64_t as_of, until;         /* valid for now in [as_of, until) */
    char *entry;                  /* "," + the clinic object of all.json */
    struct sbuf loc;              /* its SMART Location line */
    uint64_t loc_hash;            /* FNV-1a of loc */
    uint64_t obj_hash;            /* FNV-1a of the object (entry + 1) */
    struct feed_clinic_info info; /* info.obj = entry + 1; slots are
                                    * heavy->slots' (a view) */
    struct doc detail;            /* kept only compressed: zsrc = &detail_gz */
    /* The detail's gzip by reference (a copy would double the days'
     * compressed bytes, ~20 MB at 10,000 clinics): header, the fields
     * piece, heavy->days_z, a final block, the trailer. */
    struct doc detail_gz;
    struct doc_zpart detail_head; /* the fields piece */
    struct doc_seg detail_seg[2 + 3];
    unsigned char detail_tail[8];
    struct feed_heavy *heavy; /* shared; never NULL once built */
    struct doc_zpart z;       /* entry compressed after its neighbours */
    uint64_t z_prev;          /* hash of the ids of the parts before it */
};

static void part_key_of(const struct clinic_state *st, struct part_key *k)
{
    memset(k, 0, sizeof(*k)); /* padding too: compared with memcmp */
    k->web = st->web;
    k->status = st->status;
    k->err_class = st->err_class;
    k->has_data = st->has_data;
    k->checked_at = st->checked_at;
    k->valid_at = st->valid_at;
    k->changed_at = st->changed_at;
    k->polls = st->polls;
    k->failures = st->failures;
    k->nslots = st->slots.n;
    k->error_hash = hash_fnv1a_str(st->error);
}

/* Instant t seen from now: the latest one at or before now raises *a,
 * the first one after it lowers *u. */
static void window_see(int64_t t, int64_t now, int64_t *a, int64_t *u)
{
    if (t <= now) {
        if (t > *a)
            *a = t;
    } else if (t < *u) {
        *u = t;
    }
}

/*
 * The clock changes a clinic's published content only at its local
 * midnight, when one of its slots starts (it drops out), when its good
 * data ages into "stale", and when a timestamp of its own is passed. The
 * content is therefore the same for every now in [as_of, until): as_of
 * is the latest such instant at or before now, until the first after.
 */
static void part_window(const struct conf_region *region,
                        const struct clinic_state *st, int64_t now, int32_t day,
                        int64_t *as_of, int64_t *until)
{
    int64_t a = clock_day_start(day), u = clock_day_start(day + 1);
    int64_t stale = (int64_t)FEED_STALE_INTERVALS * region->poll_interval_s;
    size_t i;

    if (a > now) /* cannot happen; keep as_of <= now */
        a = now;
    if (st->checked_at != 0)
        window_see(st->checked_at, now, &a, &u);
    if (st->valid_at != 0)
        window_see(st->valid_at, now, &a, &u);
    if (st->changed_at != 0)
        window_see(st->changed_at, now, &a, &u);
    if (st->has_data && st->web != WEB_NONE)
        for (i = 0; i < st->slots.n; i++)
            window_see(st->slots.v[i].start, now, &a, &u);
    /* effective_status: stale once now - valid_at > stale. */
    if (st->status == CLINIC_OK && st->has_data && stale > 0 &&
        st->valid_at != 0)
        window_see(st->valid_at + stale + 1, now, &a, &u);
    *as_of = a;
    *until = u;
}

static void part_unref(struct feed_part *p)
{
    int t;

    if (p == NULL || --p->refs > 0)
        return;
    free(p->entry);
    sbuf_free(&p->loc);
    free(p->detail.json);
    doc_zpart_free(&p->detail_head);
    doc_zpart_free(&p->z);
    if (p->heavy != NULL && --p->heavy->refs == 0) {
        struct feed_heavy *h = p->heavy;

        avail_slots_clear(&h->slots);
        for (t = 0; t < SMARTPUB_NDOCS; t++)
            sbuf_free(&h->smart[t]);
        doc_zpart_free(&h->slot_z);
        doc_zpart_free(&h->days_z);
        free(h);
    }
    free(p);
}

/* The clinic object of all.json into p->entry / p->info. 0 or -1. */
static int part_entry(struct feed_part *p, const struct conf_region *region,
                      size_t i, const struct clinic_state *st, int64_t now)
{
    struct feed_clinic_info *fi = &p->info;
    struct clinic_facts f;
    cJSON *c = cJSON_CreateObject();
    char *obj = NULL;
    int rc = -1;

    if (c == NULL)
        return -1;
    if (add_clinic_fields(c, region, &region->clinics[i], st, now, 0, &f) !=
            0 ||
        (obj = cJSON_PrintUnformatted(c)) == NULL)
        goto out;
    fi->obj_len = strlen(obj);
    if ((p->entry = malloc(fi->obj_len + 2)) == NULL)
        goto out;
    p->entry[0] = ',';
    memcpy(p->entry + 1, obj, fi->obj_len + 1);
    fi->obj = p->entry + 1;
    p->obj_hash = hash_fnv1a(HASH_FNV1A_INIT, fi->obj, fi->obj_len);
    fi->web = f.web;
    fi->status = f.status;
    fi->within = f.known ? f.within : -1;
    fi->any_free = f.any_free;
    fi->checked_at = st->checked_at;
    if (f.known)
        fi->slots = p->heavy->slots; /* a view: heavy owns them */
    rc = 0;
out:
    free(obj);
    cJSON_Delete(c);
    return rc;
}

/* Give back an sbuf's doubling slack: heavy pieces are kept for many
 * builds (the Slot lines of a large region are most of its memory). */
static void sbuf_trim(struct sbuf *b)
{
    char *q;

    if (b->p != NULL && b->cap > b->len + 1 &&
        (q = realloc(b->p, b->len + 1)) != NULL) {
        b->p = q;
        b->cap = b->len + 1;
    }
}

/*
 * The detail document's "days" member as it ends the document:
 * `,"days":[...]}` (or `,"days":null}` when the availability is not
 * published), malloc'd into *out. 0 or -1.
 */
static int heavy_days(const struct clinic_state *st, bool known, int64_t now,
                      char **out, size_t *len)
{
    cJSON *o = cJSON_CreateObject();
    char *txt = NULL;
    int rc = -1;

    *out = NULL;
    if (o == NULL)
        return -1;
    if ((known ? add_days(o, &st->slots, now) : add_null(o, "days")) != 0 ||
        (txt = cJSON_PrintUnformatted(o)) == NULL)
        goto out;
    txt[0] = ','; /* `{"days":..}` -> `,"days"..` */
    *out = txt;
    *len = strlen(txt);
    txt = NULL;
    rc = 0;
out:
    free(txt);
    cJSON_Delete(o);
    return rc;
}

/* Clinic i's heavy pieces at now from scratch (the days text and the
 * Slot lines kept only compressed). NULL on allocation failure. */
static struct feed_heavy *heavy_new(const struct conf_clinic *c,
                                    const struct clinic_state *st, int64_t now,
                                    struct feed_scratch *sc)
{
    struct doc_zctx *zc = sc->zc;
    struct feed_heavy *h = calloc(1, sizeof(*h));
    char *days = NULL;
    size_t dlen = 0;
    int t;

    if (h == NULL)
        return NULL;
    h->refs = 1;
    h->web = st->web;
    h->known = st->has_data && st->web != WEB_NONE;
    /* The Slot lines go to the job's buffer, kept between clinics (they
     * are ~100 KB each: growing a new buffer is page faults and munmaps). */
    sc->slots.len = 0;
    h->smart[SMARTPUB_SLOT] = sc->slots;
    if ((h->known && copy_future(&h->slots, &st->slots, now) != 0) ||
        smartpub_clinic_schedule_lines(c, st, now, h->smart) != 0 ||
        heavy_days(st, h->known, now, &days, &dlen) != 0 ||
        doc_zpart_make_cx(zc, days, dlen, NULL, 0, 0, &h->days_z) != 0)
        goto fail;
    sc->slots = h->smart[SMARTPUB_SLOT]; /* grown, or oom */
    memset(&h->smart[SMARTPUB_SLOT], 0, sizeof(struct sbuf));
    if (sc->slots.oom ||
        doc_zpart_make_big(zc, sc->slots.p, sc->slots.len, &h->slot_z) != 0)
        goto fail;
    /*
     * Hashes for the ETags' trees (feed.h): of the compressed days and
     * Slot lines, which stand for their text (the same text compresses to
     * the same bytes) and are 5-35 times shorter to read.
     */
    h->days_hash = hash_fnv1a(HASH_FNV1A_INIT, h->days_z.z, h->days_z.zlen);
    h->smart_hash[SMARTPUB_SLOT] =
        hash_fnv1a(HASH_FNV1A_INIT, h->slot_z.z, h->slot_z.zlen);
    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        if (t == SMARTPUB_SLOT)
            continue;
        if (h->smart[t].oom)
            goto fail;
        sbuf_trim(&h->smart[t]);
        h->smart_hash[t] =
            hash_fnv1a(HASH_FNV1A_INIT, h->smart[t].p, h->smart[t].len);
    }
    free(days);
    return h;
fail:
    if (h->smart[SMARTPUB_SLOT].p != NULL) { /* the buffer goes back */
        sc->slots = h->smart[SMARTPUB_SLOT];
        memset(&h->smart[SMARTPUB_SLOT], 0, sizeof(struct sbuf));
    }
    if (sc->slots.oom) {
        sbuf_free(&sc->slots);
        memset(&sc->slots, 0, sizeof(sc->slots));
    }
    free(days);
    avail_slots_clear(&h->slots);
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        sbuf_free(&h->smart[t]);
    doc_zpart_free(&h->slot_z);
    doc_zpart_free(&h->days_z);
    free(h);
    return NULL;
}

/*
 * True when old's heavy pieces are what clinic st would get at now: same
 * web state and knowledge, and its slots after now are exactly the ones
 * kept (st->slots sorted, so they are a suffix; an unsorted list is
 * simply not reused).
 */
static bool heavy_valid(const struct feed_heavy *h,
                        const struct clinic_state *st, int64_t now)
{
    struct avail_slots view;
    size_t i, first;

    if (h->web != st->web || h->known != (st->has_data && st->web != WEB_NONE))
        return false;
    if (!h->known)
        return true;
    for (first = st->slots.n; first > 0; first--)
        if (st->slots.v[first - 1].start <= now)
            break;
    for (i = 1; i < st->slots.n; i++)
        if (st->slots.v[i - 1].start > st->slots.v[i].start)
            return false;
    memset(&view, 0, sizeof(view));
    view.v = st->slots.v + first;
    view.n = st->slots.n - first;
    return avail_slots_equal(&view, &h->slots);
}

/*
 * Build clinic i's part at now. old (may be NULL) is the previous
 * snapshot's part of the same clinic: its heavy pieces are shared when
 * still valid (heavy_valid); *heavy_built is raised when they are not.
 * NULL on allocation failure.
 */
static struct feed_part *part_new(const struct conf_region *region, size_t i,
                                  const struct clinic_state *st, int64_t now,
                                  int32_t day, const struct feed_part *old,
                                  struct feed_scratch *sc, size_t *heavy_built)
{
    struct doc_zctx *zc = sc->zc;
    static uint64_t ids;
    struct feed_part *p = calloc(1, sizeof(*p));
    struct doc_zpart head = { 0 };
    const struct doc_zpart *z[2];
    char *fields = NULL;
    size_t flen = 0, plen;

    if (p == NULL)
        return NULL;
    p->refs = 1;
    p->id = ++ids;
    p->day = day;
    part_key_of(st, &p->key);
    part_window(region, st, now, day, &p->as_of, &p->until);
    if (old != NULL && heavy_valid(old->heavy, st, now)) {
        p->heavy = old->heavy;
        p->heavy->refs++;
    } else {
        if ((p->heavy = heavy_new(&region->clinics[i], st, now, sc)) == NULL)
            goto fail;
        (*heavy_built)++;
    }
    if (part_entry(p, region, i, st, now) != 0 ||
        smartpub_clinic_location_line(&region->clinics[i], st,
                                      effective_status(st, now,
                                                       region->poll_interval_s),
                                      &p->loc) != 0 ||
        p->loc.oom ||
        build_detail(region, st, i, now, p->as_of, &fields, &flen) != 0 ||
        doc_zpart_make_cx(zc, fields, flen, NULL, 0, 0, &head) != 0)
        goto fail;
    sbuf_trim(&p->loc);
    p->loc_hash = hash_fnv1a(HASH_FNV1A_INIT, p->loc.p, p->loc.len);
    /* The detail: a tree hash of its two pieces for the ETag, its gzip
     * from a fresh piece for the fields and the kept days. */
    p->detail.len = flen + p->heavy->days_z.len;
    doc_etag_hash(hash_fnv1a(hash_fnv1a(HASH_FNV1A_INIT, fields, flen),
                             &p->heavy->days_hash, sizeof(uint64_t)),
                  p->detail.len, p->detail.etag);
    p->detail.zsrc = &p->detail_gz;
    p->detail_head = head; /* moved: the part owns it now */
    memset(&head, 0, sizeof(head));
    z[0] = &p->detail_head;
    z[1] = &p->heavy->days_z;
    doc_gzip_segs(z, 2, NULL, p->detail_tail, p->detail_seg, &p->detail_gz,
                  &plen);
    doc_etag_gz(p->detail.etag, p->detail_gz.etag);
    free(fields);
    return p;
fail:
    doc_zpart_free(&head);
    free(fields);
    part_unref(p);
    return NULL;
}

/* prev's part for clinic i, with a reference, when still valid at now. */
static struct feed_part *part_reuse(const struct feed_snapshot *prev,
                                    const struct conf_region *region, size_t i,
                                    const struct clinic_state *st, int64_t now,
                                    int32_t day)
{
    struct feed_part *p;
    struct part_key k;

    if (prev == NULL || prev->parts == NULL || prev->region != region ||
        i >= prev->nclinics || (p = prev->parts[i]) == NULL)
        return NULL;
    if (p->day != day || now < p->as_of || now >= p->until)
        return NULL;
    part_key_of(st, &k);
    if (memcmp(&k, &p->key, sizeof(k)) != 0)
        return NULL;
    p->refs++;
    return p;
}

/* --- the region document, assembled from the parts ------------------------ */

/*
 * Part i's gzip piece: ","+object compressed with the FEED_GZ_CONTEXT
 * objects before it as the dictionary (the decompressor has just written
 * exactly those bytes, so back-references into them are valid). With one
 * neighbour the region gzip came out 3x the size of a one-pass gzip; with
 * eight it is close, and a changed clinic costs eight more small pieces.
 * The piece is kept while those neighbours stay the same (z_prev: a hash
 * of their part ids).
 */
#define FEED_GZ_CONTEXT 8

static int part_zpiece(struct feed_part *const *parts, size_t i,
                       struct doc_zctx *zc)
{
    struct feed_part *p = parts[i];
    size_t from = i > FEED_GZ_CONTEXT ? i - FEED_GZ_CONTEXT : 0, k, n = 0;
    uint64_t ctx = HASH_FNV1A_INIT;
    char *dict;
    int rc;

    /* Word-wise: run for every part of every build, byte-wise FNV of
     * the 8 ids was a tenth of a one-clinic rebuild. Internal only. */
    for (k = from; k < i; k++)
        ctx = hash_mix64(ctx ^ parts[k]->id);
    if (p->z.z != NULL && p->z_prev == ctx)
        return 0;
    doc_zpart_free(&p->z);
    p->z_prev = ctx;
    if (i == 0)
        return doc_zpart_make_cx(zc, p->info.obj, p->info.obj_len, NULL, 0, 0,
                                 &p->z);
    /* The plain bytes before the piece: obj_from, ",obj", ... ",obj_i-1". */
    for (k = from; k < i; k++)
        n += parts[k]->info.obj_len + 1;
    if ((dict = malloc(n)) == NULL)
        return -1;
    for (n = 0, k = from; k < i; k++) {
        const struct feed_part *q = parts[k];

        if (k == 0) {
            memcpy(dict + n, q->info.obj, q->info.obj_len);
            n += q->info.obj_len;
        } else {
            memcpy(dict + n, q->entry, q->info.obj_len + 1);
            n += q->info.obj_len + 1;
        }
    }
    /* Only the last 32 KiB count (doc_zpart_make_cx keeps the tail). */
    rc =
        doc_zpart_make_cx(zc, p->entry, p->info.obj_len + 1, dict, n, 0, &p->z);
    free(dict);
    return rc;
}

/*
 * What all.json and its gzip reference besides the parts' bytes (feed.h
 * all_pieces; the snapshot owns it). all is segs: the prefix, each
 * clinic's object in its part, "]}". all_gz is segs too: the gzip
 * header, the prefix compressed, zbody, "]}" compressed, an empty final
 * block, the trailer (doc_gzip_segs). zbody is the clinics' deflate
 * pieces copied together as they are collected (~270 KB at 10,000
 * clinics): by reference they would be ~30 bytes each, and a reply would
 * cost every request a chain per clinic.
 */
struct feed_all {
    char *prefix;           /* head "," summary ",\"clinics\":[" */
    struct doc_zpart zhead; /* prefix compressed */
    struct doc_zpart ztail; /* "]}" compressed */
    struct sbuf zbody;      /* each part's z, in region order */
    struct doc_zpart body;  /* zbody as one piece (a view: z is zbody's) */
    struct doc_seg gz_segs[3 + 3];
    unsigned char gz_tail[8];
    struct doc_seg segs[]; /* nclinics + 2 */
};

static void all_pieces_free(struct feed_all *a)
{
    if (a == NULL)
        return;
    free(a->prefix);
    doc_zpart_free(&a->zhead);
    doc_zpart_free(&a->ztail);
    sbuf_free(&a->zbody);
    free(a);
}

/* A build in progress (feed.h "Builds in slices"). */
struct feed_job {
    const struct conf_region *region;
    int64_t now;
    int32_t day;
    struct feed_snapshot *prev; /* held with feed_snapshot_ref */
    struct feed_snapshot *s;    /* being filled */
    struct feed_scratch sc;     /* one compressor for every piece */
    size_t next;                /* the next clinic to collect */
    uint64_t content_hash;      /* build_all's, for Last-Modified */
    /* Each part's share of the documents, noted as it is collected
     * (collect_pieces): */
    uint64_t *objh; /* its object's hash, for all.json's tree */
    struct doc_seg *smart_segs[SMARTPUB_NDOCS]; /* owned until build_smart
                                                 * gives them to s->smart */
    size_t smart_nseg[SMARTPUB_NDOCS];
    uint64_t smart_tree[SMARTPUB_NDOCS];
    const struct doc_zpart **zslot; /* the Slot file's pieces */
    bool all_built;
    bool smart_built;
    struct feed_step_stats last; /* of the last step */
};

/*
 * Part i's share of all.json, its gzip and the SMART files, noted while
 * its bytes are in cache: a pass per document over 10,000 parts at the
 * end of a build (a cache miss per part and pass) was most of a
 * one-clinic rebuild.
 */
static void collect_pieces(struct feed_job *j, const struct feed_part *p,
                           size_t i)
{
    struct feed_all *a = j->s->all_pieces;
    const struct feed_heavy *h = p->heavy;
    int t;

    /* The first object without the comma its entry starts with. */
    a->segs[i + 1].p = i == 0 ? p->info.obj : p->entry;
    a->segs[i + 1].len = p->info.obj_len + (i > 0);
    j->objh[i] = p->obj_hash;
    sbuf_add(&a->zbody, (const char *)p->z.z, p->z.zlen);
    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        const struct sbuf *b = t == SMARTPUB_LOCATION ? &p->loc : &h->smart[t];
        const uint64_t *bh =
            t == SMARTPUB_LOCATION ? &p->loc_hash : &h->smart_hash[t];

        if (t == SMARTPUB_SLOT) {
            j->zslot[i] = &h->slot_z;
        } else if (b->len > 0) {
            j->smart_segs[t][j->smart_nseg[t]].p = b->p;
            j->smart_segs[t][j->smart_nseg[t]++].len = b->len;
        }
        j->smart_tree[t] = hash_fnv1a(j->smart_tree[t], bh, sizeof(*bh));
    }
}

/* all.json's gzip by reference: the prefix and the tail compressed here,
 * the clinics' pieces (zbody) with the crc32 the memo summed. */
static int assemble_gzip(struct feed_snapshot *s, struct doc_zctx *zc)
{
    struct feed_all *a = s->all_pieces;
    const struct doc_zpart *v[3];
    struct doc_crcsum sum;
    size_t plain;
    int ok;

    sum = doc_crcmemo_sum(&s->crc_all, &ok);
    if (!ok || a->zbody.oom ||
        doc_zpart_make_cx(zc, a->segs[0].p, a->segs[0].len, NULL, 0, 0,
                          &a->zhead) != 0 ||
        doc_zpart_make_cx(zc, "]}", 2, NULL, 0, 0, &a->ztail) != 0)
        return -1;
    a->body.z = (unsigned char *)a->zbody.p;
    a->body.zlen = a->zbody.len;
    a->body.crc = sum.crc;
    a->body.len = sum.len;
    v[0] = &a->zhead;
    v[1] = &a->body;
    v[2] = &a->ztail;
    /* Three pieces with their crcs (body's is the memo's): doc_gzip_segs
     * sums them itself. */
    doc_gzip_segs(v, 3, NULL, a->gz_tail, a->gz_segs, &s->all_gz, &plain);
    doc_etag_gz(s->all.etag, s->all_gz.etag);
    return 0;
}

/*
 * The whole-region document, by reference (doc.h): the prefix (head,
 * summary, `,"clinics":[`, owned by the snapshot), every clinic object
 * in its part (the very bytes filtered documents are spliced from,
 * api.c), then `]}`. Copying them together was most of a one-clinic
 * rebuild at 10,000 clinics (6.4 MB: an mmap, its page faults, the
 * copy). Its ETag is the tree hash (feed.h): FNV-1a over the head's
 * bytes and each object's hash. *content_hash gets the same over what
 * follows the head (Last-Modified).
 */
static int build_all(struct feed_job *j)
{
    static const char open_list[] = ",\"clinics\":[";
    static const char close_list[] = "]}";
    struct feed_snapshot *s = j->s;
    struct feed_all *a = s->all_pieces;
    char sum[FEED_SUMMARY_MAX];
    struct sbuf b = { 0 };
    uint64_t h, ch;
    size_t i, n, total;
    cJSON *obj;
    int rc = -1;

    if ((obj = cJSON_CreateObject()) == NULL)
        return -1;
    if (add_head(obj, j->region, j->now) != 0 ||
        add_str_or_null(obj, "region", j->region->name) != 0 ||
        add_guarantee(obj, &j->region->guarantee, j->now) != 0 ||
        (s->head = cJSON_PrintUnformatted(obj)) == NULL)
        goto out;
    s->head_len = strlen(s->head) - 1; /* drop the closing brace */
    s->head[s->head_len] = '\0';
    if ((n = feed_summary_format(s, NULL, s->nclinics, sum, sizeof(sum))) == 0)
        goto out;
    sbuf_add(&b, s->head, s->head_len);
    sbuf_add(&b, ",", 1);
    sbuf_add(&b, sum, n);
    sbuf_add(&b, open_list, sizeof(open_list) - 1);
    if (b.oom)
        goto out;
    a->prefix = b.p; /* the snapshot's now */
    a->segs[0].p = b.p;
    a->segs[0].len = total = b.len;
    b.p = NULL;
    ch = hash_fnv1a(HASH_FNV1A_INIT, sum, n);
    for (i = 0; i < s->nclinics; i++) {
        total += a->segs[i + 1].len;
        ch = hash_fnv1a(ch, &j->objh[i], sizeof(j->objh[i]));
    }
    a->segs[i + 1].p = close_list;
    a->segs[i + 1].len = sizeof(close_list) - 1;
    total += a->segs[i + 1].len;
    s->all.segs = a->segs;
    s->all.nseg = s->nclinics + 2;
    s->all.len = total;
    h = hash_fnv1a(HASH_FNV1A_INIT, s->head, s->head_len);
    h = hash_fnv1a(h, &ch, sizeof(ch));
    doc_etag_hash(h, s->all.len, s->all.etag);
    j->content_hash = ch;
    rc = assemble_gzip(s, j->sc.zc);
out:
    free(b.p);
    cJSON_Delete(obj);
    return rc;
}

/*
 * The SMART files as pieces: each clinic's lines, by reference into its
 * part (smartpub_docs_set_segs), noted by collect_pieces. At 10,000
 * clinics the Slot file is hundreds of MB; copying it together on every
 * rebuild would be most of the build and a second copy in memory.
 */
static int build_smart(struct feed_job *j)
{
    struct feed_snapshot *s = j->s;
    struct doc_crcsum slot_sum;
    int t, rc, ok;

    slot_sum = doc_crcmemo_sum(&s->crc_slot, &ok);
    rc = smartpub_docs_set_segs(&s->smart, j->smart_segs, j->smart_nseg,
                                j->zslot, s->nclinics, ok ? &slot_sum : NULL,
                                j->smart_tree, j->now);
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        j->smart_segs[t] = NULL; /* s->smart's now */
    return rc;
}

/* --- content-change time ------------------------------------------------ */

/*
 * Last-Modified: the first build time of the current content, keyed by
 * the hash of everything after the head (summary, clinics); the head
 * carries generated_at, which changes on every build. One memo per
 * process (event-loop thread only), keyed by region so that tests with
 * several regions do not mix.
 */
static int64_t content_changed_at(const struct feed_snapshot *s,
                                  uint64_t content_hash, int64_t now)
{
    static const struct conf_region *m_region;
    static uint64_t m_hash;
    static int64_t m_since;

    if (m_region != s->region || content_hash != m_hash || now < m_since) {
        m_region = s->region;
        m_hash = content_hash;
        m_since = now;
    }
    return m_since;
}

/* Clinic i's part into j->s: prev's when still valid, else a new one
 * (sharing prev's slot pieces when those are), and its all.json gzip
 * piece (its neighbours before it are collected already). 0 or -1. */
static int collect_part(struct feed_job *j, const struct clinic_state *st,
                        size_t i)
{
    const struct feed_snapshot *prev = j->prev;
    struct feed_snapshot *s = j->s;
    struct feed_part *p;

    p = part_reuse(prev, j->region, i, st, j->now, j->day);
    if (p == NULL) {
        const struct feed_part *old = NULL;

        if (prev != NULL && prev->parts != NULL && prev->region == j->region &&
            i < prev->nclinics)
            old = prev->parts[i];
        if ((p = part_new(j->region, i, st, j->now, j->day, old, &j->sc,
                          &s->heavy_built)) == NULL)
            return -1;
        s->parts_built++;
    }
    s->parts[i] = p;
    /* The snapshot's views are the part's bytes (owned by the part). */
    s->info[i] = p->info;
    s->clinics[i] = p->detail;
    s->clinics_gz[i] = p->detail_gz;
    if (part_zpiece(s->parts, i, j->sc.zc) != 0)
        return -1;
    doc_crcmemo_push(&s->crc_all, &p->z, prev ? &prev->crc_all : NULL);
    doc_crcmemo_push(&s->crc_slot, &p->heavy->slot_z,
                     prev ? &prev->crc_slot : NULL);
    collect_pieces(j, p, i);
    return 0;
}

void feed_job_free(struct feed_job *j)
{
    int t;

    if (j == NULL)
        return;
    feed_snapshot_free(j->s);
    feed_snapshot_unref(j->prev);
    free(j->objh);
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        free(j->smart_segs[t]);
    free(j->zslot);
    doc_zctx_free(j->sc.zc);
    sbuf_free(&j->sc.slots);
    free(j);
}

int feed_job_new(const struct conf_region *region, int64_t now,
                 struct feed_snapshot *prev, struct feed_job **out,
                 struct sf_error *err)
{
    static uint64_t serial;
    struct feed_job *j;
    struct feed_snapshot *s;
    int t;

    *out = NULL;
    if (region == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "feed_build: no region");
        return -1;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        goto oom;
    j->region = region;
    j->now = now;
    j->day = clock_local_day(now);
    if ((j->s = s = calloc(1, sizeof(*s))) == NULL)
        goto oom;
    s->generated_at = now;
    s->region = region;
    s->nclinics = region->nclinics;
    s->serial = ++serial;
    if (s->nclinics > 0 &&
        ((s->clinics = calloc(s->nclinics, sizeof(*s->clinics))) == NULL ||
         (s->clinics_gz = calloc(s->nclinics, sizeof(*s->clinics_gz))) ==
             NULL ||
         (s->info = calloc(s->nclinics, sizeof(*s->info))) == NULL ||
         (s->parts = calloc(s->nclinics, sizeof(*s->parts))) == NULL))
        goto oom;
    if ((j->sc.zc = doc_zctx_new()) == NULL ||
        doc_crcmemo_init(&s->crc_all, s->nclinics) != 0 ||
        doc_crcmemo_init(&s->crc_slot, s->nclinics) != 0)
        goto oom;
    /* One entry more: never a zero-size (possibly NULL) malloc. */
    if ((s->all_pieces = calloc(1, sizeof(*s->all_pieces) +
                                       (s->nclinics + 2) *
                                           sizeof(struct doc_seg))) == NULL ||
        (j->objh = malloc((s->nclinics + 1) * sizeof(*j->objh))) == NULL ||
        (j->zslot = calloc(s->nclinics + 1, sizeof(*j->zslot))) == NULL)
        goto oom;
    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        j->smart_tree[t] = HASH_FNV1A_INIT;
        /* Slot: the gzip member's header, final block and trailer too. */
        if ((j->smart_segs[t] =
                 calloc(s->nclinics + 3, sizeof(*j->smart_segs[t]))) == NULL)
            goto oom;
    }
    /* The clinics' deflate pieces: about as long as the last build's. */
    if (prev != NULL && prev->all_pieces != NULL && prev->region == region) {
        size_t cap = prev->all_pieces->zbody.len + 4096;

        if ((s->all_pieces->zbody.p = malloc(cap)) == NULL)
            goto oom;
        s->all_pieces->zbody.cap = cap;
    }
    /* prev's parts are read until the job ends: keep it alive even if
     * its owner frees it meanwhile (a newer snapshot published). */
    j->prev = prev;
    feed_snapshot_ref(prev);
    *out = j;
    return 0;
oom:
    feed_job_free(j);
    sf_error_set(err, SF_ERR_NOMEM, "feed_build: out of memory (%zu clinics)",
                 region->nclinics);
    return -1;
}

int feed_job_step(struct feed_job *j, const struct clinic_state *states,
                  size_t nstates, size_t max_parts, int64_t deadline_ms,
                  struct sf_error *err)
{
    struct feed_snapshot *s = j->s;
    size_t done = 0, built0;
    int64_t t;

    if (nstates != s->nclinics || (states == NULL && nstates > 0)) {
        sf_error_set(err, SF_ERR_INTERNAL,
                     "feed_build: %zu states for %zu clinics", nstates,
                     s->nclinics);
        return -1;
    }
    memset(&j->last, 0, sizeof(j->last));
    built0 = s->parts_built;
    t = clock_mono_us();
    while (j->next < s->nclinics) {
        int64_t t1;

        /* Checked after every part: a new part with a clinic's slots
         * to compress costs 1-3 ms, four of them overshot the slice by
         * more than its budget; the clock read costs nanoseconds. */
        if ((max_parts > 0 && done >= max_parts) ||
            (deadline_ms > 0 && done > 0 && t / 1000 >= deadline_ms))
            break;
        if (collect_part(j, &states[j->next], j->next) != 0)
            goto oom;
        t1 = clock_mono_us();
        if (t1 - t > j->last.part_max_us) {
            j->last.part_max_us = t1 - t;
            j->last.part_max_index = j->next;
        }
        t = t1;
        j->next++;
        done++;
    }
    j->last.parts = done;
    j->last.built = s->parts_built - built0;
    if (j->next < s->nclinics)
        return 1;
    /* The assembly is O(clinics): all.json and the SMART files are a
     * step each when limited (the parts of this step took their share). */
    if (done > 0 && (max_parts > 0 || deadline_ms > 0))
        return 1;
    if (!j->all_built) {
        if (build_all(j) != 0)
            goto oom;
        j->all_built = true;
        j->last.all_us = clock_mono_us() - t;
        if (max_parts > 0 || deadline_ms > 0)
            return 1;
        t = clock_mono_us();
    }
    if (!j->smart_built) {
        if (build_smart(j) != 0)
            goto oom;
        j->smart_built = true;
        s->changed_at = content_changed_at(s, j->content_hash, j->now);
        j->last.smart_us = clock_mono_us() - t;
    }
    return 0;
oom:
    sf_error_set(err, SF_ERR_NOMEM, "feed_build: out of memory (%zu clinics)",
                 s->nclinics);
    return -1;
}

const struct feed_step_stats *feed_job_last_step(const struct feed_job *j)
{
    return &j->last;
}

struct feed_snapshot *feed_job_take(struct feed_job *j)
{
    struct feed_snapshot *s = j->s;

    j->s = NULL;
    feed_job_free(j);
    return s;
}

const struct conf_region *feed_job_region(const struct feed_job *j)
{
    return j->region;
}

int feed_build_from(const struct conf_region *region,
                    const struct clinic_state *states, int64_t now,
                    const struct feed_snapshot *prev,
                    struct feed_snapshot **out, struct sf_error *err)
{
    struct feed_job *j;

    *out = NULL;
    if (region == NULL || (states == NULL && region->nclinics > 0)) {
        sf_error_set(err, SF_ERR_INTERNAL, "feed_build: no region or states");
        return -1;
    }
    /* The job only reads prev (its reference count aside, which is the
     * one mutable field of a snapshot, as for the HTTP layer's holds). */
    if (feed_job_new(region, now, (struct feed_snapshot *)prev, &j, err) != 0)
        return -1;
    if (feed_job_step(j, states, region->nclinics, 0, 0, err) != 0) {
        feed_job_free(j);
        return -1;
    }
    *out = feed_job_take(j);
    return 0;
}

int feed_build(const struct conf_region *region,
               const struct clinic_state *states, int64_t now,
               struct feed_snapshot **out, struct sf_error *err)
{
    return feed_build_from(region, states, now, NULL, out, err);
}

static void snapshot_destroy(struct feed_snapshot *s)
{
    size_t i;

    all_pieces_free(s->all_pieces);
    free(s->head);
    /* clinics, clinics_gz and info are views of the parts' bytes. */
    for (i = 0; i < s->nclinics && s->parts != NULL; i++)
        part_unref(s->parts[i]);
    free(s->parts);
    free(s->clinics);
    free(s->clinics_gz);
    free(s->info);
    doc_crcmemo_free(&s->crc_all);
    doc_crcmemo_free(&s->crc_slot);
    smartpub_docs_free(&s->smart);
    free(s);
}

void feed_snapshot_free(struct feed_snapshot *s)
{
    if (s == NULL)
        return;
    s->released = 1;
    if (s->extra_refs == 0)
        snapshot_destroy(s);
}

void feed_snapshot_ref(struct feed_snapshot *s)
{
    if (s != NULL)
        s->extra_refs++;
}

void feed_snapshot_unref(struct feed_snapshot *s)
{
    if (s == NULL || s->extra_refs == 0)
        return;
    if (--s->extra_refs == 0 && s->released)
        snapshot_destroy(s);
}

long feed_clinic_index(const struct feed_snapshot *s, const char *id)
{
    size_t i;

    if (s == NULL || id == NULL || s->region == NULL || s->clinics == NULL)
        return -1;
    /* Linear: ids are short and a region has at most some thousands. */
    for (i = 0; i < s->nclinics && i < s->region->nclinics; i++)
        if (strcasecmp(s->region->clinics[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* metrics.c labels the gauges in the enums' order and knows no enum. */
_Static_assert(WEB_UNREACHABLE + 1 == METRICS_WEB_BOOKINGS,
               "metrics' web_booking labels follow enum web_booking");
_Static_assert(CLINIC_ERROR + 1 == METRICS_STATUSES,
               "metrics' status labels follow enum clinic_status");

void feed_metrics(const struct feed_snapshot *s, struct metrics_feed *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->generated_at = s->generated_at;
    out->publish_interval_s =
        s->region != NULL ? s->region->publish_interval_s : 0;
    for (i = 0; i < METRICS_WEB_BOOKINGS; i++)
        out->web_name[i] = collector_web_name((enum web_booking)i);
    for (i = 0; s->info != NULL && i < s->nclinics; i++) {
        if ((unsigned)s->info[i].web < METRICS_WEB_BOOKINGS)
            out->web[s->info[i].web]++;
        if ((unsigned)s->info[i].status < METRICS_STATUSES)
            out->status[s->info[i].status]++;
        out->within += s->info[i].within == 1;
        if (s->info[i].web == WEB_UNREACHABLE && s->region != NULL &&
            i < s->region->nclinics &&
            out->nunreachable < METRICS_UNREACHABLE_MAX)
            out->unreachable[out->nunreachable++] = s->region->clinics[i].id;
    }
}

/* --- publish cadence (feed.h) --------------------------------------------- */

void feed_cadence_init(struct feed_cadence *c, int interval_s, int coalesce_ms)
{
    memset(c, 0, sizeof(*c));
    c->coalesce_ms = coalesce_ms < 1 ? 1 : coalesce_ms;
    feed_cadence_set_interval(c, interval_s);
}

void feed_cadence_set_interval(struct feed_cadence *c, int interval_s)
{
    c->interval_ms = interval_s < 0 ? 0 : (int64_t)interval_s * 1000;
}

void feed_cadence_touch(struct feed_cadence *c, int64_t now_ms)
{
    if (c->dirty)
        return; /* the earliest unpublished change sets the deadline */
    c->dirty = true;
    c->dirty_ms = now_ms;
}

void feed_cadence_touch_urgent(struct feed_cadence *c, int64_t now_ms)
{
    feed_cadence_touch(c, now_ms);
    if (c->urgent)
        return;
    c->urgent = true;
    c->urgent_ms = now_ms;
}

/* Due instant of a change first seen at `since`, publications `gap` apart. */
static int64_t cadence_due(const struct feed_cadence *c, int64_t since,
                           int64_t gap)
{
    int64_t due = since + c->coalesce_ms;

    if (gap < c->coalesce_ms)
        gap = c->coalesce_ms;
    if (gap < 4 * c->build_ms)
        gap = 4 * c->build_ms;
    if (c->published && due < c->published_ms + gap)
        due = c->published_ms + gap;
    return due;
}

int64_t feed_cadence_wait_ms(const struct feed_cadence *c, int64_t now_ms)
{
    int64_t due;

    if (!c->dirty)
        return -1;
    due = cadence_due(c, c->dirty_ms, c->interval_ms);
    if (c->urgent) {
        int64_t u = cadence_due(c, c->urgent_ms, 0);

        if (u < due)
            due = u;
    }
    return now_ms >= due ? 0 : due - now_ms;
}

void feed_cadence_published(struct feed_cadence *c, int64_t start_ms,
                            int64_t end_ms)
{
    c->published = true;
    c->published_ms = end_ms;
    c->build_ms = end_ms > start_ms ? end_ms - start_ms : 0;
    c->dirty = false;
    c->urgent = false;
}
