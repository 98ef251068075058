/*
 * smart.c - SMART Scheduling Links bulk adapter ("smart-bulk").
 *
 * A poll is: the $bulk-publish manifest, then its NDJSON files in the
 * order Location, Schedule, Slot (whatever order the manifest lists them
 * in), so that each file can be reduced to what this clinic needs as it
 * arrives: the Location confirms the clinic is published, the Schedules
 * whose actor is that Location give the set of schedule ids, and the
 * Slots are kept when they belong to one of those schedules.
 *
 * Every request is marked shared (adapter.h): the Locations of one
 * publisher read one manifest and one copy of each file per cycle, and
 * each body is parsed once into a clinic-independent form (struct
 * smart_doc: Location ids, Schedules indexed by actor, Slots indexed by
 * schedule) that each clinic then joins to its own Location. Without
 * sharing (resp->parsed NULL) the same form is built and dropped per
 * step, so both paths give the same slots.
 *
 * Per-clinic memory (*ctx->cache, see smart.h) lets an unchanged manifest
 * end the poll after one request. It is replaced only by a poll that read
 * every file, so a failure half-way leaves the previous good data and the
 * next poll downloads again.
 */
#include "slotfeed/smart.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fhir_json.h"
#include "slotfeed/clock.h"
#include "slotfeed/log.h"
#include "slotfeed/url.h"

enum smart_type {
    T_LOCATION = 0,
    T_SCHEDULE = 1,
    T_SLOT = 2,
    T_MANIFEST
};

static const char *const type_names[] = { "Location", "Schedule", "Slot" };

struct smart_cache {
    char *transaction_time; /* of the manifest the slots came from */
    char *etag;             /* validators of that manifest, or NULL */
    char *last_modified;
    struct avail_slots slots;   /* every free slot of the clinic, any date */
    struct adapter_relay relay; /* its clinic-state extension, if any */
};

struct smart_output {
    enum smart_type type;
    size_t order; /* position in the manifest (stable sort) */
    char *url;
};

struct smart_sched {
    char *id;
    char *service;
};

struct smart_state {
    bool files;                          /* past the manifest */
    char *txtime, *etag, *last_modified; /* of the manifest just read */
    struct smart_output *outs;
    size_t nouts, cur;
    bool have_location_file, location_found;
    struct smart_sched *scheds;
    size_t nscheds, capscheds;
    struct avail_slots all; /* free slots of the clinic, any date */
    size_t bad_lines, skipped_slots;
    struct adapter_relay relay; /* the Location's clinic-state, if any */
};

/* --- helpers ----------------------------------------------------------------- */

static void cache_free(void *p)
{
    struct smart_cache *c = p;

    if (c == NULL)
        return;
    free(c->transaction_time);
    free(c->etag);
    free(c->last_modified);
    avail_slots_clear(&c->slots);
    free(c);
}

static struct smart_cache *cache_of(const struct adapter_ctx *ctx)
{
    return ctx->cache != NULL ? *ctx->cache : NULL;
}

/* Copy the slots of `src` whose local start date is in the window. */
static int window_copy(const struct adapter_ctx *ctx,
                       const struct avail_slots *src, struct avail_slots *dst)
{
    for (size_t i = 0; i < src->n; i++) {
        int32_t day = clock_local_day(src->v[i].start);

        if (day < ctx->first_day || day > ctx->last_day)
            continue;
        if (avail_slots_add_slot(dst, &src->v[i]) != 0)
            return -1;
    }
    return 0;
}

static enum adapter_status nomem(struct sf_error *err)
{
    sf_error_set(err, SF_ERR_NOMEM, "smart: out of memory");
    return ADAPTER_ERROR;
}

static enum adapter_status get_request(const char *url, const char *label,
                                       const char *accept,
                                       struct adapter_request *req,
                                       struct sf_error *err)
{
    memset(req, 0, sizeof(*req));
    req->url = strdup(url);
    req->label = strdup(label);
    if (req->url == NULL || req->label == NULL ||
        adapter_request_add_header(req, "Accept", accept) != 0) {
        adapter_request_clear(req);
        return nomem(err);
    }
    /* A publisher's documents are the same for each of its Locations. */
    req->shared = true;
    return ADAPTER_MORE;
}

static enum adapter_status file_request(struct smart_state *st,
                                        struct adapter_request *req,
                                        struct sf_error *err)
{
    char label[64];

    snprintf(label, sizeof(label), "%s file %zu/%zu",
             type_names[st->outs[st->cur].type], st->cur + 1, st->nouts);
    return get_request(st->outs[st->cur].url, label, "application/fhir+ndjson",
                       req, err);
}

/*
 * Absolute URL of output `link` (resolved against the manifest's URL),
 * http or https only, and https when the manifest was: a publisher's
 * files may live on another host (a CDN), but never on a weaker scheme.
 * NULL when refused or out of memory (*oom tells which).
 */
static char *output_url(const char *manifest, const char *link, bool *oom,
                        char *why, size_t whysz)
{
    CURLU *u = curl_url();
    char *abs = NULL, *sch = NULL, *out = NULL;
    bool https_base = strncasecmp(manifest, "https:", 6) == 0;

    snprintf(why, whysz, "not an http(s) URL, or downgrades from https");
    *oom = u == NULL;
    if (u == NULL)
        return NULL;
    if (curl_url_set(u, CURLUPART_URL, manifest, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, link, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &abs, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &sch, 0) != CURLUE_OK)
        goto out;
    if (strcasecmp(sch, "https") != 0 &&
        (https_base || strcasecmp(sch, "http") != 0))
        goto out;
    /* What fetch would refuse (a host over the DNS limit, port 0) is a
     * fault of this manifest, said here rather than at request time. */
    if (url_check(abs, 0, why, whysz) != 0)
        goto out;
    out = strdup(abs);
    *oom = out == NULL;
out:
    curl_free(abs);
    curl_free(sch);
    curl_url_cleanup(u);
    return out;
}

/* --- begin -------------------------------------------------------------------- */

static enum adapter_status smart_begin(const struct adapter_ctx *ctx,
                                       void **state,
                                       struct adapter_request *first,
                                       struct sf_error *err)
{
    const struct conf_booking *b;
    struct smart_state *st;
    struct smart_cache *c;
    enum adapter_status rc;

    *state = NULL;
    if (adapter_begin_check(ctx, "smart", err) != 0)
        return ADAPTER_ERROR;
    b = &ctx->clinic->booking;
    if (b->location == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "smart: booking.location is required");
        return ADAPTER_ERROR;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return nomem(err);
    avail_slots_init(&st->all);
    *state = st;
    rc = get_request(b->url, "manifest", "application/json", first, err);
    if (rc != ADAPTER_MORE)
        return rc;
    /* Conditional GET when a complete earlier poll left validators.
     * A validator that could not be a header line is simply not sent. */
    c = cache_of(ctx);
    if (c != NULL && c->etag != NULL)
        (void)adapter_request_add_header(first, "If-None-Match", c->etag);
    if (c != NULL && c->last_modified != NULL)
        (void)adapter_request_add_header(first, "If-Modified-Since",
                                         c->last_modified);
    return ADAPTER_MORE;
}

/* --- parsed documents ---------------------------------------------------------
 *
 * What a manifest or file says, whoever reads it, so that one parse serves
 * every Location of a publisher (adapter.h, "Shared documents"): built
 * from a 200 body, immutable afterwards, and joined to one clinic by
 * apply_file(). References are indexed by their last path segment (the
 * id of "Type/id" or ".../Type/id"), so a clinic finds its Schedules and
 * Slots by binary search and confirms each with fhirj_ref_is(), the rule
 * a plain walk would apply.
 */

static unsigned long parses; /* bodies parsed (smart_parse_count) */

unsigned long smart_parse_count(void)
{
    return parses;
}

/* A reference and the resource it came from (index into scheds/slots). */
struct smart_key {
    char *ref;        /* owned */
    const char *tail; /* last segment of ref (before _history) */
    size_t len;
    size_t item;
};

struct smart_pslot {
    bool bad; /* times unusable: counted, not published */
    int64_t start, end;
    int capacity;
    char *booking_url, *booking_phone; /* owned, or NULL */
    /* A slotfeed publisher's own fields (used only when the clinic's
     * Location carries clinic-state): Slot.serviceType text, our
     * practitioner and follow-up extensions. Owned, or NULL. */
    char *service, *practitioner;
    bool follow_up;
};

/* A Location id and, when it carries one, its clinic-state (owned). The
 * id comes first: the sorted array is searched with cmp_strp. */
struct smart_loc {
    char *id;
    struct adapter_relay *relay;
};

struct smart_doc {
    enum smart_type type;
    /* T_MANIFEST: txtime NULL with err set (refused outright), or txtime
     * with err set (refused unless the clinic already has this version),
     * or txtime and outs (sorted Location, Schedule, Slot). */
    char *txtime;
    struct sf_error err;
    struct smart_output *outs;
    size_t nouts;
    bool have_location_file;
    /* NDJSON files: lines of the file's type, other lines, first bad */
    size_t good, bad, first_bad;
    struct smart_loc *ids; /* Locations, sorted by id */
    size_t nids, capids;
    struct smart_sched *scheds; /* Schedules with an id */
    size_t nscheds, capscheds;
    struct smart_pslot *slots; /* free or bad Slots */
    size_t nslots, capslots;
    struct smart_key *keys; /* actor refs / schedule refs, by tail */
    size_t nkeys, capkeys;
};

static struct smart_doc *parse_manifest(const struct adapter_response *resp,
                                        const char *base);

static void doc_free(void *p)
{
    struct smart_doc *d = p;

    if (d == NULL)
        return;
    free(d->txtime);
    for (size_t i = 0; i < d->nouts; i++)
        free(d->outs[i].url);
    free(d->outs);
    for (size_t i = 0; i < d->nids; i++) {
        free(d->ids[i].id);
        free(d->ids[i].relay);
    }
    free(d->ids);
    for (size_t i = 0; i < d->nscheds; i++) {
        free(d->scheds[i].id);
        free(d->scheds[i].service);
    }
    free(d->scheds);
    for (size_t i = 0; i < d->nslots; i++) {
        free(d->slots[i].booking_url);
        free(d->slots[i].booking_phone);
        free(d->slots[i].service);
        free(d->slots[i].practitioner);
    }
    free(d->slots);
    for (size_t i = 0; i < d->nkeys; i++)
        free(d->keys[i].ref);
    free(d->keys);
    free(d);
}

/* Room for one more element of size sz in *v (n used, *cap allocated). */
static int grow(void **v, size_t n, size_t *cap, size_t sz)
{
    size_t nc;
    void *nv;

    if (n < *cap)
        return 0;
    nc = *cap ? *cap * 2 : 16;
    nv = realloc(*v, nc * sz);
    if (nv == NULL)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

/* Last path segment of s[0..n) (all of it when it has no '/'). */
static const char *last_seg(const char *s, size_t n, size_t *len)
{
    const char *t = s + n;

    while (t > s && t[-1] != '/')
        t--;
    *len = n - (size_t)(t - s);
    return t;
}

static int add_key(struct smart_doc *d, const char *ref, size_t item)
{
    struct smart_key *k;
    const char *h;
    size_t rl;

    if (grow((void **)&d->keys, d->nkeys, &d->capkeys, sizeof(*d->keys)))
        return -1;
    k = &d->keys[d->nkeys];
    if ((k->ref = strdup(ref)) == NULL)
        return -1;
    h = strstr(k->ref, "/_history/"); /* as fhirj_ref_is drops it */
    rl = h != NULL ? (size_t)(h - k->ref) : strlen(k->ref);
    k->tail = last_seg(k->ref, rl, &k->len);
    k->item = item;
    d->nkeys++;
    return 0;
}

static int cmp_tail(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    return c != 0 ? c : (al > bl) - (al < bl);
}

static int cmp_key(const void *a, const void *b)
{
    const struct smart_key *x = a, *y = b;
    int c = cmp_tail(x->tail, x->len, y->tail, y->len);

    return c != 0 ? c : (x->item > y->item) - (x->item < y->item);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return (x > y) - (x < y);
}

/* First key whose tail is the last segment of id; nkeys when none. */
static size_t key_first(const struct smart_doc *d, const char *id, size_t *len)
{
    const char *t = last_seg(id, strlen(id), len);
    size_t lo = 0, hi = d->nkeys;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (cmp_tail(d->keys[mid].tail, d->keys[mid].len, t, *len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int keep_location(struct smart_doc *d, const cJSON *res)
{
    const char *id = fhirj_str(res, "id");

    if (id == NULL)
        return 0;
    struct adapter_relay r = { .set = false };
    struct smart_loc *l;

    if (grow((void **)&d->ids, d->nids, &d->capids, sizeof(*d->ids)))
        return -1;
    l = &d->ids[d->nids];
    l->relay = NULL;
    if ((l->id = strdup(id)) == NULL)
        return -1;
    smart_read_clinic_state(res, &r);
    if (r.set && (l->relay = malloc(sizeof(r))) == NULL) {
        free(l->id);
        return -1;
    }
    if (r.set)
        *l->relay = r;
    d->nids++;
    return 0;
}

static int keep_schedule(struct smart_doc *d, const cJSON *res)
{
    const char *id = fhirj_str(res, "id");
    const cJSON *actors = cJSON_GetObjectItemCaseSensitive(res, "actor");
    struct smart_sched *sc;
    const cJSON *a;

    if (id == NULL)
        return 0; /* nothing could name it */
    if (grow((void **)&d->scheds, d->nscheds, &d->capscheds,
             sizeof(*d->scheds)))
        return -1;
    sc = &d->scheds[d->nscheds];
    sc->id = strdup(id);
    sc->service = adapter_strdup_opt(fhirj_concept_text(
        cJSON_GetObjectItemCaseSensitive(res, "serviceType")));
    if (sc->id == NULL) {
        free(sc->service);
        return -1;
    }
    d->nscheds++;
    if (!cJSON_IsArray(actors))
        return 0;
    cJSON_ArrayForEach(a, actors) {
        const char *ref = fhirj_str(a, "reference");

        if (ref != NULL && add_key(d, ref, d->nscheds - 1) != 0)
            return -1;
    }
    return 0;
}

/* An http(s) deep link with nothing that could break a feed attribute. */
/* A deep link we would publish: the URL rule of the config (url.h), no
 * credentials (a patient must never be handed someone's login), and no
 * byte that breaks out of an attribute where a page shows the link. */
static bool plausible_url(const char *s)
{
    const char *p;

    if (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0)
        return false;
    for (p = s; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '<' ||
            *p == '>' || *p == '\\')
            return false;
    return url_check(s, URL_NO_USERINFO, NULL, 0) == 0;
}

/*
 * A slotfeed publisher's own slot fields (read for every slot; used only
 * when the clinic's Location carries clinic-state): the slot's visit type
 * (Slot.serviceType), practitioner and follow-up mark, so the slot reads
 * back as the region holds it. 0, or -1 out of memory.
 */
static int ours_slot(const cJSON *res, struct smart_pslot *ps)
{
    const char *s;
    const cJSON *v;

    s = fhirj_concept_text(
        cJSON_GetObjectItemCaseSensitive(res, "serviceType"));
    if (s != NULL && s[0] != '\0' && (ps->service = strdup(s)) == NULL)
        return -1;
    s = fhirj_str(fhirj_extension(res, SMART_EXT_PRACTITIONER), "valueString");
    if (s != NULL && s[0] != '\0' && (ps->practitioner = strdup(s)) == NULL) {
        free(ps->service);
        ps->service = NULL;
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(fhirj_extension(res,
                                                         SMART_EXT_FOLLOW_UP),
                                         "valueBoolean");
    ps->follow_up = cJSON_IsTrue(v);
    return 0;
}

static int keep_slot(struct smart_doc *d, const cJSON *res)
{
    const char *ref =
        fhirj_str(cJSON_GetObjectItemCaseSensitive(res, "schedule"),
                  "reference");
    struct smart_pslot ps = { .capacity = 1 };
    const cJSON *ext, *v;
    const char *s;

    if (ref == NULL)
        return 0; /* no Schedule names it */
    switch (fhirj_slot_times(res, &ps.start, &ps.end)) {
    case FHIRJ_SLOT_NOT_FREE:
        return 0;
    case FHIRJ_SLOT_BAD:
        ps.bad = true;
        break;
    case FHIRJ_SLOT_FREE:
        ext = fhirj_extension(res, SMART_EXT_DEEP_LINK);
        s = fhirj_str(ext, "valueUrl");
        if (s != NULL && plausible_url(s) &&
            (ps.booking_url = strdup(s)) == NULL)
            return -1;
        ext = fhirj_extension(res, SMART_EXT_PHONE);
        s = fhirj_str(ext, "valueString");
        if (s != NULL && s[0] != '\0' &&
            (ps.booking_phone = strdup(s)) == NULL) {
            free(ps.booking_url);
            return -1;
        }
        ext = fhirj_extension(res, SMART_EXT_CAPACITY);
        v = ext ? cJSON_GetObjectItemCaseSensitive(ext, "valueInteger") : NULL;
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 &&
            v->valuedouble <= 1000000 && v->valuedouble == (double)v->valueint)
            ps.capacity = v->valueint;
        if (ours_slot(res, &ps) != 0) {
            free(ps.booking_url);
            free(ps.booking_phone);
            return -1;
        }
        break;
    }
    if (grow((void **)&d->slots, d->nslots, &d->capslots, sizeof(*d->slots)) ||
        add_key(d, ref, d->nslots) != 0) {
        free(ps.booking_url);
        free(ps.booking_phone);
        free(ps.service);
        free(ps.practitioner);
        return -1;
    }
    d->slots[d->nslots++] = ps;
    return 0;
}

/* --- the clinic-state extension (smart.h) --------------------------------- */

/* dst[n] = v when v is a short word of [a-z_]; else false, dst unchanged. */
static bool relay_word(char *dst, size_t n, const char *v)
{
    size_t len = v != NULL ? strlen(v) : n;

    if (len == 0 || len >= n || strspn(v, "abcdefghijklmnopqrstuvwxyz_") != len)
        return false;
    memcpy(dst, v, len + 1);
    return true;
}

static enum sf_errclass errclass_of(const char *name)
{
    for (int k = SF_ERR_NONE + 1; name != NULL && k <= SF_ERR_LAST; k++)
        if (strcmp(name, sf_errclass_name((enum sf_errclass)k)) == 0)
            return (enum sf_errclass)k;
    return SF_ERR_NONE;
}

static int64_t relay_time(const cJSON *e)
{
    const char *v = fhirj_str(e, "valueInstant");
    int64_t t;

    return v != NULL && clock_parse_rfc3339(v, &t) == 0 && t > 0 ? t : 0;
}

void smart_read_clinic_state(const cJSON *loc, struct adapter_relay *r)
{
    const cJSON *x = fhirj_extension(loc, SMART_EXT_CLINIC_STATE), *subs, *e;
    struct adapter_relay out;
    const char *u, *v;

    memset(&out, 0, sizeof(out));
    subs = x != NULL ? cJSON_GetObjectItemCaseSensitive(x, "extension") : NULL;
    if (!cJSON_IsArray(subs))
        return;
    cJSON_ArrayForEach(e, subs) {
        if ((u = fhirj_str(e, "url")) == NULL)
            continue;
        if (strcmp(u, "web-booking") == 0)
            (void)relay_word(out.web, sizeof(out.web),
                             fhirj_str(e, "valueCode"));
        else if (strcmp(u, "status") == 0)
            (void)relay_word(out.status, sizeof(out.status),
                             fhirj_str(e, "valueCode"));
        else if (strcmp(u, "valid-at") == 0)
            out.valid_at = relay_time(e);
        else if (strcmp(u, "checked-at") == 0)
            out.checked_at = relay_time(e);
        else if (strcmp(u, "error-class") == 0)
            out.err_class = errclass_of(fhirj_str(e, "valueCode"));
        else if (strcmp(u, "error-message") == 0 &&
                 (v = fhirj_str(e, "valueString")) != NULL)
            snprintf(out.error, sizeof(out.error), "%s", v);
    }
    /* Both words or nothing: a half-understood state is not relayed. */
    if (out.web[0] == '\0' || out.status[0] == '\0')
        return;
    if (out.err_class == SF_ERR_NONE)
        out.error[0] = '\0';
    else if (out.error[0] == '\0')
        snprintf(out.error, sizeof(out.error), "%s (relayed)",
                 sf_errclass_name(out.err_class));
    /* Upstream bytes reach the feed: strict UTF-8, no control bytes. */
    sf_utf8_fix(out.error);
    out.set = true;
    *r = out;
}

char *smart_output_url(const char *manifest, const char *link, bool *oom,
                       char *why, size_t whysz)
{
    return output_url(manifest, link, oom, why, whysz);
}

/* Is [p, p+n) only JSON whitespace? */
static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static int keep_line(struct smart_doc *d, const cJSON *res)
{
    if (d->type == T_LOCATION)
        return keep_location(d, res);
    if (d->type == T_SCHEDULE)
        return keep_schedule(d, res);
    return keep_slot(d, res);
}

/*
 * One NDJSON file: each nonblank line one resource of the file's type.
 * A line that is not valid JSON, or not a resource of that type, is
 * counted (apply_file decides what that means). NULL: out of memory.
 */
static struct smart_doc *parse_file(enum smart_type type, const char *body,
                                    size_t len)
{
    const char *p = body, *end = body + len, *nl, *rt;
    const char *want = type_names[type];
    struct smart_doc *d = calloc(1, sizeof(*d));
    size_t lineno = 0;
    cJSON *res;

    if (d == NULL)
        return NULL;
    d->type = type;
    while (p < end) {
        struct sf_error lerr;

        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        lineno++;
        if (blank(p, (size_t)(nl - p))) {
            p = nl + (nl < end);
            continue;
        }
        sf_error_clear(&lerr);
        res = fhirj_parse(p, (size_t)(nl - p), want, &lerr);
        rt = fhirj_str(res, "resourceType");
        if (res == NULL || rt == NULL || strcmp(rt, want) != 0) {
            if (d->bad++ == 0)
                d->first_bad = lineno;
        } else {
            d->good++;
            if (keep_line(d, res) != 0) {
                cJSON_Delete(res);
                doc_free(d);
                return NULL;
            }
        }
        cJSON_Delete(res);
        p = nl + (nl < end);
    }
    if (d->nids > 1)
        qsort(d->ids, d->nids, sizeof(*d->ids), cmp_strp);
    if (d->nkeys > 1)
        qsort(d->keys, d->nkeys, sizeof(*d->keys), cmp_key);
    return d;
}

/*
 * The parsed form of resp as a document of `type`: the one in the shared
 * slot when another poll built it, else parsed now and left there for the
 * next. *own: not shared, the caller frees it. NULL when out of memory.
 */
static const struct smart_doc *doc_of(const struct adapter_response *resp,
                                      enum smart_type type, const char *base,
                                      bool *own)
{
    static const char kind[] = "smart-bulk";
    struct adapter_parsed *sh = resp->parsed;
    struct smart_doc *d;

    *own = false;
    if (sh != NULL && sh->kind == kind && sh->p != NULL &&
        ((const struct smart_doc *)sh->p)->type == type)
        return sh->p;
    parses++;
    d = type == T_MANIFEST ? parse_manifest(resp, base)
                           : parse_file(type, resp->body, resp->len);
    if (d == NULL)
        return NULL;
    if (sh != NULL && sh->p == NULL) {
        sh->kind = kind;
        sh->p = d;
        sh->free_fn = doc_free;
    } else {
        *own = true;
    }
    return d;
}

static void doc_done(const struct smart_doc *d, bool own)
{
    if (own)
        doc_free((struct smart_doc *)d);
}

/* Add the clinic's Schedules of file d (those with an actor that is its
 * Location), in file order, to st->scheds. */
static int apply_schedules(const struct adapter_ctx *ctx,
                           struct smart_state *st, const struct smart_doc *d)
{
    const char *loc = ctx->clinic->booking.location;
    size_t len, k = key_first(d, loc, &len), n = 0, *v;
    const char *t = last_seg(loc, strlen(loc), &len);

    int rc = 0;

    for (size_t j = k;
         j < d->nkeys && cmp_tail(d->keys[j].tail, d->keys[j].len, t, len) == 0;
         j++)
        n++;
    if (n == 0)
        return 0;
    v = malloc(n * sizeof(*v));
    if (v == NULL)
        return -1;
    n = 0;
    for (size_t j = k;
         j < d->nkeys && cmp_tail(d->keys[j].tail, d->keys[j].len, t, len) == 0;
         j++)
        if (fhirj_ref_is(d->keys[j].ref, "Location", loc))
            v[n++] = d->keys[j].item;
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_size);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct smart_sched *sc = &d->scheds[v[i]];
        struct smart_sched *o;

        if (i > 0 && v[i] == v[i - 1])
            continue; /* two actors of one Schedule */
        if (grow((void **)&st->scheds, st->nscheds, &st->capscheds,
                 sizeof(*st->scheds)) != 0) {
            rc = -1;
            break;
        }
        o = &st->scheds[st->nscheds];
        o->id = strdup(sc->id);
        o->service = adapter_strdup_opt(sc->service);
        if (o->id == NULL || (sc->service != NULL && o->service == NULL)) {
            free(o->id);
            free(o->service);
            rc = -1;
            break;
        }
        st->nscheds++;
    }
    free(v);
    return rc;
}

static const struct smart_sched *find_sched(const struct smart_state *st,
                                            const char *ref)
{
    for (size_t i = 0; ref != NULL && i < st->nscheds; i++)
        if (fhirj_ref_is(ref, "Schedule", st->scheds[i].id))
            return &st->scheds[i];
    return NULL;
}

/* Collect the keys of d that may name one of the clinic's Schedules,
 * sorted and without repeats, into *out (malloc'd, *n). */
static int slot_candidates(const struct smart_state *st,
                           const struct smart_doc *d, size_t **out, size_t *n)
{
    size_t cap = 0, *v = NULL;

    *n = 0;
    for (size_t i = 0; i < st->nscheds; i++) {
        size_t len, k = key_first(d, st->scheds[i].id, &len);
        const char *t =
            last_seg(st->scheds[i].id, strlen(st->scheds[i].id), &len);

        for (; k < d->nkeys &&
               cmp_tail(d->keys[k].tail, d->keys[k].len, t, len) == 0;
             k++) {
            if (grow((void **)&v, *n, &cap, sizeof(*v)) != 0) {
                free(v);
                return -1;
            }
            v[(*n)++] = k;
        }
    }
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_size);
    *out = v;
    return 0;
}

/* The clinic's free Slots of file d (their Schedule is one of its). */
static int apply_slots(const struct adapter_ctx *ctx, struct smart_state *st,
                       const struct smart_doc *d)
{
    size_t *v = NULL, n;
    int rc = 0;

    if (slot_candidates(st, d, &v, &n) != 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct smart_key *k = &d->keys[v[i]];
        const struct smart_pslot *ps = &d->slots[k->item];
        const struct smart_sched *sc;
        struct avail_slot sl;
        const char *s;

        if (i > 0 && v[i] == v[i - 1])
            continue;
        sc = find_sched(st, k->ref);
        if (sc == NULL)
            continue; /* another location's slot */
        if (ps->bad) {
            st->skipped_slots++;
            continue;
        }
        memset(&sl, 0, sizeof(sl));
        sl.start = ps->start;
        sl.end = ps->end;
        sl.capacity = ps->capacity;
        sl.booking_url = ps->booking_url; /* copied on add */
        sl.booking_phone = ps->booking_phone;
        s = ctx->clinic->booking.time_type_name;
        sl.service = s != NULL ? s : sc->service;
        if (st->relay.set) { /* a slotfeed publisher: as it holds it */
            if (ps->service != NULL)
                sl.service = ps->service;
            sl.practitioner = ps->practitioner;
            sl.follow_up = ps->follow_up;
        }
        rc = avail_slots_add_slot(&st->all, &sl);
    }
    free(v);
    return rc;
}

/* One NDJSON file read for the clinic: its parsed form joined to it. */
static enum adapter_status read_file(const struct adapter_ctx *ctx,
                                     struct smart_state *st,
                                     const struct adapter_response *resp,
                                     struct sf_error *err)
{
    const struct smart_output *o = &st->outs[st->cur];
    const char *want = type_names[o->type],
               *loc = ctx->clinic->booking.location;
    const struct smart_doc *d;
    char what[64];
    bool own;
    int rc = 0;

    snprintf(what, sizeof(what), "%s file %zu/%zu", want, st->cur + 1,
             st->nouts);
    if (resp->http_status != 200) {
        sf_error_set(err, SF_ERR_HTTP, "%s: HTTP %ld", what, resp->http_status);
        return ADAPTER_ERROR;
    }
    d = doc_of(resp, o->type, NULL, &own);
    if (d == NULL)
        return nomem(err);
    if (d->bad > 0 && d->good == 0) {
        sf_error_set(err, SF_ERR_PARSE,
                     "%s: no valid %s line (%zu bad, "
                     "first at line %zu)",
                     what, want, d->bad, d->first_bad);
        doc_done(d, own);
        return ADAPTER_ERROR;
    }
    st->bad_lines += d->bad;
    if (o->type == T_LOCATION) {
        const struct smart_loc *l =
            d->nids == 0
                ? NULL
                : bsearch(&loc, d->ids, d->nids, sizeof(*d->ids), cmp_strp);

        if (l != NULL) {
            st->location_found = true;
            if (l->relay != NULL)
                st->relay = *l->relay;
        }
    } else if (o->type == T_SCHEDULE) {
        rc = apply_schedules(ctx, st, d);
    } else {
        rc = apply_slots(ctx, st, d);
    }
    doc_done(d, own);
    return rc == 0 ? ADAPTER_DONE : nomem(err);
}

/* --- manifest ------------------------------------------------------------------ */

static int cmp_output(const void *a, const void *b)
{
    const struct smart_output *x = a, *y = b;

    if (x->type != y->type)
        return (int)x->type - (int)y->type;
    return (x->order > y->order) - (x->order < y->order);
}

/* The poll is answered from the cache: refresh its validators, copy. */
static enum adapter_status from_cache(const struct adapter_ctx *ctx,
                                      struct smart_cache *c,
                                      const struct adapter_response *resp,
                                      struct avail_slots *slots,
                                      struct sf_error *err)
{
    char *etag = NULL, *lm = NULL;

    if (resp->etag != NULL && (etag = strdup(resp->etag)) == NULL)
        return nomem(err);
    if (resp->last_modified != NULL &&
        (lm = strdup(resp->last_modified)) == NULL) {
        free(etag);
        return nomem(err);
    }
    /* A 304 may omit validators; keep the ones we have then. */
    if (etag != NULL) {
        free(c->etag);
        c->etag = etag;
    }
    if (lm != NULL) {
        free(c->last_modified);
        c->last_modified = lm;
    }
    if (window_copy(ctx, &c->slots, slots) != 0)
        return nomem(err);
    if (ctx->relay != NULL)
        *ctx->relay = c->relay;
    log_debug("smart_unchanged", "clinic=%s transaction_time=%s",
              ctx->clinic->id, c->transaction_time);
    return ADAPTER_DONE;
}

/*
 * The manifest at base (the clinic's booking.url, which is also the key it
 * is shared by) as a document: what it says, or why it is refused, with
 * the same words for every clinic. NULL when out of memory.
 */
static struct smart_doc *parse_manifest(const struct adapter_response *resp,
                                        const char *base)
{
    struct smart_doc *d = calloc(1, sizeof(*d));
    const cJSON *outs, *o;
    const char *tt, *type, *url;
    char q[FHIRJ_QUOTE_MAX + 8], why[128];
    cJSON *root = NULL;
    size_t n = 0;
    bool oom = false;
    int t;

    if (d == NULL)
        return NULL;
    d->type = T_MANIFEST;
    root = fhirj_parse(resp->body, resp->len, "manifest", &d->err);
    if (root == NULL)
        return d;
    tt = fhirj_str(root, "transactionTime");
    outs = cJSON_GetObjectItemCaseSensitive(root, "output");
    if (tt == NULL || tt[0] == '\0' || !cJSON_IsArray(outs)) {
        sf_error_set(&d->err, SF_ERR_PARSE,
                     "manifest: not a $bulk-publish "
                     "manifest (transactionTime and output[] required)");
        goto out;
    }
    /* From here on, a clinic that has this version already is answered
     * from its memory whatever else is wrong (as a 304 would be). */
    if ((d->txtime = strdup(tt)) == NULL)
        goto nomem;
    if (cJSON_GetArraySize(outs) > SMART_MAX_OUTPUTS) {
        sf_error_set(&d->err, SF_ERR_PARSE,
                     "manifest: more than %d output "
                     "files",
                     SMART_MAX_OUTPUTS);
        goto out;
    }
    d->outs = calloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof(*d->outs));
    if (d->outs == NULL)
        goto nomem;
    cJSON_ArrayForEach(o, outs) {
        type = fhirj_str(o, "type");
        url = fhirj_str(o, "url");
        for (t = 0; t < 3; t++)
            if (type != NULL && strcmp(type, type_names[t]) == 0)
                break;
        if (t == 3)
            continue; /* other resource types are not ours */
        if (url == NULL) {
            sf_error_set(&d->err, SF_ERR_PARSE,
                         "manifest: output[%zu] (%s) "
                         "has no url",
                         n, type);
            goto out;
        }
        d->outs[n].url = output_url(base, url, &oom, why, sizeof(why));
        if (d->outs[n].url == NULL) {
            if (oom)
                goto nomem;
            sf_quote(q, sizeof(q), url, strlen(url), FHIRJ_QUOTE_MAX);
            sf_error_set(&d->err, SF_ERR_PARSE,
                         "manifest: output url \"%s\" "
                         "refused: %s",
                         q, why);
            goto out;
        }
        d->outs[n].type = (enum smart_type)t;
        d->outs[n].order = n;
        if (t == T_LOCATION)
            d->have_location_file = true;
        d->nouts = ++n; /* counted as it grows: doc_free frees them */
    }
    if (n == 0) {
        /* A publisher with no Location/Schedule/Slot files at all does
         * not publish this clinic. */
        sf_error_set(&d->err, SF_ERR_NOT_CONNECTED,
                     "manifest lists no "
                     "Location, Schedule or Slot files: no web booking");
        goto out;
    }
    /* Location, then Schedule, then Slot; manifest order within a type. */
    qsort(d->outs, n, sizeof(*d->outs), cmp_output);
out:
    cJSON_Delete(root);
    return d;
nomem:
    cJSON_Delete(root);
    doc_free(d);
    return NULL;
}

static enum adapter_status
read_manifest(const struct adapter_ctx *ctx, struct smart_state *st,
              const struct adapter_response *resp, struct avail_slots *slots,
              struct adapter_request *next, struct sf_error *err)
{
    struct smart_cache *c = cache_of(ctx);
    enum adapter_status rc = ADAPTER_ERROR;
    const struct smart_doc *d;
    bool own;

    if (resp->http_status == 304) {
        if (c != NULL && c->transaction_time != NULL)
            return from_cache(ctx, c, resp, slots, err);
        sf_error_set(err, SF_ERR_HTTP,
                     "manifest: HTTP 304 to a request "
                     "that was not conditional");
        return ADAPTER_ERROR;
    }
    if (resp->http_status != 200) {
        sf_error_set(err, SF_ERR_HTTP, "manifest: HTTP %ld", resp->http_status);
        return ADAPTER_ERROR;
    }
    d = doc_of(resp, T_MANIFEST, ctx->clinic->booking.url, &own);
    if (d == NULL)
        return nomem(err);
    if (d->txtime != NULL && c != NULL && c->transaction_time != NULL &&
        strcmp(c->transaction_time, d->txtime) == 0) {
        rc = from_cache(ctx, c, resp, slots, err);
        goto out;
    }
    if (d->err.code != SF_ERR_NONE) {
        *err = d->err;
        goto out;
    }
    st->outs = calloc(d->nouts + 1, sizeof(*st->outs));
    st->txtime = strdup(d->txtime);
    st->etag = adapter_strdup_opt(resp->etag);
    st->last_modified = adapter_strdup_opt(resp->last_modified);
    if (st->outs == NULL || st->txtime == NULL || (resp->etag && !st->etag) ||
        (resp->last_modified && !st->last_modified)) {
        rc = nomem(err);
        goto out;
    }
    for (size_t i = 0; i < d->nouts; i++) {
        st->outs[i] = d->outs[i];
        if ((st->outs[i].url = strdup(d->outs[i].url)) == NULL) {
            rc = nomem(err);
            goto out;
        }
        st->nouts = i + 1;
    }
    st->have_location_file = d->have_location_file;
    st->files = true;
    st->cur = 0;
    rc = file_request(st, next, err);
out:
    doc_done(d, own);
    return rc;
}

/* Every file read: remember the result, hand out the window's slots. */
static enum adapter_status finish(const struct adapter_ctx *ctx,
                                  struct smart_state *st,
                                  struct avail_slots *slots,
                                  struct sf_error *err)
{
    struct smart_cache *c;

    if (st->bad_lines > 0 || st->skipped_slots > 0)
        log_warn("smart_lines_skipped",
                 "clinic=%s bad_lines=%zu "
                 "bad_slots=%zu",
                 ctx->clinic->id, st->bad_lines, st->skipped_slots);
    if (window_copy(ctx, &st->all, slots) != 0)
        return nomem(err);
    if (ctx->relay != NULL)
        *ctx->relay = st->relay;
    if (ctx->cache == NULL)
        return ADAPTER_DONE;
    c = *ctx->cache;
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return ADAPTER_DONE; /* no memory next time; no harm now */
        avail_slots_init(&c->slots);
        *ctx->cache = c;
    }
    free(c->transaction_time);
    free(c->etag);
    free(c->last_modified);
    c->transaction_time = st->txtime;
    c->etag = st->etag;
    c->last_modified = st->last_modified;
    st->txtime = st->etag = st->last_modified = NULL;
    avail_slots_move(&c->slots, &st->all);
    c->relay = st->relay;
    return ADAPTER_DONE;
}

static enum adapter_status
smart_step(const struct adapter_ctx *ctx, void *state,
           const struct adapter_response *resp, struct avail_slots *slots,
           struct adapter_request *next, struct sf_error *err)
{
    struct smart_state *st = state;
    enum adapter_status rc;

    if (st == NULL || resp == NULL || slots == NULL || next == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "smart: bad arguments");
        return ADAPTER_ERROR;
    }
    if (!st->files)
        return read_manifest(ctx, st, resp, slots, next, err);
    rc = read_file(ctx, st, resp, err);
    if (rc != ADAPTER_DONE)
        return rc;
    st->cur++;
    /* The Location files are all read before any other: if none lists
     * the clinic, the publisher does not offer it; stop here. */
    if (st->have_location_file && !st->location_found &&
        (st->cur == st->nouts || st->outs[st->cur].type != T_LOCATION)) {
        sf_error_set(err, SF_ERR_NOT_CONNECTED,
                     "publisher lists no "
                     "Location/%s: no web booking",
                     ctx->clinic->booking.location);
        return ADAPTER_ERROR;
    }
    if (st->cur < st->nouts)
        return file_request(st, next, err);
    return finish(ctx, st, slots, err);
}

static void smart_end(void *state)
{
    struct smart_state *st = state;

    if (st == NULL)
        return;
    free(st->txtime);
    free(st->etag);
    free(st->last_modified);
    for (size_t i = 0; i < st->nouts; i++)
        free(st->outs[i].url);
    free(st->outs);
    for (size_t i = 0; i < st->nscheds; i++) {
        free(st->scheds[i].id);
        free(st->scheds[i].service);
    }
    free(st->scheds);
    avail_slots_clear(&st->all);
    free(st);
}

/* --- configuration: the booking key only smart-bulk reads ----------------- */

/* booking.location: the publisher's Location.id of this clinic. */
static bool valid_location_id(const char *s)
{
    return fhirj_valid_id(s, strlen(s));
}

static void conf_location(struct confcheck *cx, const cJSON *v,
                          const char *path, struct conf_booking *b)
{
    confcheck_get_valid_str(cx, v, path, valid_location_id,
                            "is not a FHIR id (1..64 letters, digits, '-', "
                            "'.')",
                            &b->location);
}

static const struct adapter_conf_key smart_conf_keys[] = {
    { "location", conf_location, true }, { NULL, NULL, false }
};

static bool smart_conf_same(const struct conf_booking *a,
                            const struct conf_booking *b)
{
    return adapter_str_same(a->location, b->location);
}

const struct adapter adapter_smart = {
    .name = "smart-bulk",
    .conf_keys = smart_conf_keys,
    .conf_check = NULL,
    .conf_same = smart_conf_same,
    .begin = smart_begin,
    .step = smart_step,
    .end = smart_end,
    .cache_free = cache_free,
};
