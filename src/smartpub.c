/*
 * smartpub.c - SMART Scheduling Links publication (smartpub.h).
 *
 * Builds the Location / Schedule / Slot NDJSON files from the region and
 * the clinic states at `now`, once per feed rebuild, and the $bulk-publish
 * manifest per request (it carries absolute URLs). Which clinics publish
 * availability follows feed.c exactly (good data and web booking not
 * "none"), so the Slot count of a clinic equals its free_slots in the feed.
 */
#include "slotfeed/smartpub.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/clock.h"
#include "slotfeed/hash.h"
#include "slotfeed/sbuf.h"
#include "slotfeed/smart.h"

#define SCHEDULE_SUFFIX "-booking"
/* Published when a clinic names no service: every clinic is physio. */
#define DEFAULT_SERVICE "Fysioterapi"

static const char *const type_names[SMARTPUB_NDOCS] = { "Location", "Schedule",
                                                        "Slot" };

/* --- output: NDJSON lines appended one by one (sbuf) -------------------- */

/* Serialize obj minified as one line; obj is deleted either way. */
static int buf_line(struct sbuf *b, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    int rc = -1;

    if (s != NULL) {
        sbuf_str(b, s);
        sbuf_add(b, "\n", 1);
        rc = b->oom ? -1 : 0;
    }
    free(s);
    cJSON_Delete(obj);
    return rc;
}

/* --- JSON helpers (NULL on allocation failure) --------------------------- */

static int add_time(cJSON *obj, const char *key, int64_t t)
{
    char buf[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(t, buf);
    return cJSON_AddStringToObject(obj, key, buf) ? 0 : -1;
}

/* {"system": system, "value": value} appended to arr. */
static int push_sysval(cJSON *arr, const char *system, const char *value)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return -1;
    cJSON_AddItemToArray(arr, o);
    if (cJSON_AddStringToObject(o, "system", system) == NULL ||
        cJSON_AddStringToObject(o, "value", value) == NULL)
        return -1;
    return 0;
}

/* {"url": url, <vkey>: value} appended to arr. */
static int push_ext_str(cJSON *arr, const char *url, const char *vkey,
                        const char *value)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return -1;
    cJSON_AddItemToArray(arr, o);
    if (cJSON_AddStringToObject(o, "url", url) == NULL ||
        cJSON_AddStringToObject(o, vkey, value) == NULL)
        return -1;
    return 0;
}

/* {"url": url, "valueInteger": v} appended to arr. */
static int push_ext_num(cJSON *arr, const char *url, int v)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return -1;
    cJSON_AddItemToArray(arr, o);
    if (cJSON_AddStringToObject(o, "url", url) == NULL ||
        cJSON_AddNumberToObject(o, "valueInteger", (double)v) == NULL)
        return -1;
    return 0;
}

/* {"url": url, "valueBoolean": true} appended to arr. */
static int push_ext_true(cJSON *arr, const char *url)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return -1;
    cJSON_AddItemToArray(arr, o);
    if (cJSON_AddStringToObject(o, "url", url) == NULL ||
        cJSON_AddTrueToObject(o, "valueBoolean") == NULL)
        return -1;
    return 0;
}

/* Slot.serviceType [{"text": service}]: the slot's own visit type. */
static int slot_service(cJSON *o, const char *service)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "serviceType"), *t;

    if (arr == NULL || (t = cJSON_CreateObject()) == NULL)
        return -1;
    cJSON_AddItemToArray(arr, t);
    return cJSON_AddStringToObject(t, "text", service) ? 0 : -1;
}

/* --- which clinics publish what (mirrors feed.c) -------------------------- */

/* The feed publishes this clinic's availability (not null). */
static bool availability_known(const struct clinic_state *st)
{
    return st->has_data && st->web != WEB_NONE;
}

/* The clinic gets a Schedule: web booking configured and not "none". */
static bool has_schedule(const struct conf_clinic *c,
                         const struct clinic_state *st)
{
    return c->has_booking && st->web != WEB_NONE;
}

/* --- resources ------------------------------------------------------------ */

/* {"url": url, "valueInstant": t} appended to arr. */
static int push_ext_time(cJSON *arr, const char *url, int64_t t)
{
    char buf[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(t, buf);
    return push_ext_str(arr, url, "valueInstant", buf);
}

/*
 * The clinic-state extension (smart.h) on Location o: what the feed says
 * of the clinic that the specification has no field for, so a slotfeed
 * reading us (smart-bulk) shows the same state. status is the feed's.
 */
static int state_ext(cJSON *o, const struct conf_clinic *c,
                     const struct clinic_state *st, enum clinic_status status)
{
    cJSON *ext, *x, *sub;
    const char *burl = c->has_booking ? c->booking.booking_url : NULL;
    const char *svc = c->has_booking ? c->booking.time_type_name : NULL;

    if ((ext = cJSON_AddArrayToObject(o, "extension")) == NULL ||
        (x = cJSON_CreateObject()) == NULL)
        return -1;
    cJSON_AddItemToArray(ext, x);
    if (cJSON_AddStringToObject(x, "url", SMART_EXT_CLINIC_STATE) == NULL ||
        (sub = cJSON_AddArrayToObject(x, "extension")) == NULL ||
        push_ext_str(sub, "web-booking", "valueCode",
                     collector_web_name(st->web)) != 0 ||
        push_ext_str(sub, "status", "valueCode",
                     collector_status_name(status)) != 0)
        return -1;
    /* Always, ok clinics too: a reader behind a cache that serves an old
     * copy (region down) must see how old the data is and age it into
     * stale itself. The Location file changes with every poll for it;
     * the Slot file, far larger, changes as often in a busy region. */
    if ((st->valid_at != 0 &&
         push_ext_time(sub, "valid-at", st->valid_at) != 0) ||
        (st->checked_at != 0 &&
         push_ext_time(sub, "checked-at", st->checked_at) != 0))
        return -1;
    if (st->err_class != SF_ERR_NONE &&
        (push_ext_str(sub, "error-class", "valueCode",
                      sf_errclass_name(st->err_class)) != 0 ||
         push_ext_str(sub, "error-message", "valueString", st->error) != 0))
        return -1;
    if ((burl != NULL &&
         push_ext_str(sub, "booking-url", "valueUrl", burl) != 0) ||
        (c->website != NULL &&
         push_ext_str(sub, "website", "valueUrl", c->website) != 0) ||
        (svc != NULL &&
         push_ext_str(sub, "service", "valueString", svc) != 0) ||
        (c->operator_kind != NULL &&
         push_ext_str(sub, "operator", "valueCode", c->operator_kind) != 0) ||
        (c->locality != NULL &&
         push_ext_str(sub, "locality", "valueString", c->locality) != 0))
        return -1;
    return 0;
}

/*
 * Address.text, and line + postalCode when text reads "<street>, <5 digits,
 * optionally "NNN NN"> <town>" (the Swedish convention the region file
 * follows); anything else stays text only.
 */
static int address_parts(cJSON *addr, const char *text)
{
    const char *comma = strrchr(text, ',');
    const char *p;
    char street[256], digits[5], post[8];
    size_t n = 0, slen;
    cJSON *line, *str;

    if (cJSON_AddStringToObject(addr, "text", text) == NULL)
        return -1;
    if (comma == NULL || comma == text)
        return 0;
    for (p = comma + 1; *p == ' '; p++)
        ;
    for (; n < 5 && *p != '\0'; p++) {
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
        else if (!(*p == ' ' && n == 3))
            break;
    }
    if (n != 5 || *p != ' ')
        return 0;
    snprintf(post, sizeof(post), "%.3s %.2s", digits, digits + 3);
    slen = (size_t)(comma - text);
    if (slen >= sizeof(street))
        return 0;
    memcpy(street, text, slen);
    street[slen] = '\0';
    if ((line = cJSON_AddArrayToObject(addr, "line")) == NULL ||
        (str = cJSON_CreateString(street)) == NULL)
        return -1;
    cJSON_AddItemToArray(line, str);
    return cJSON_AddStringToObject(addr, "postalCode", post) == NULL ? -1 : 0;
}

static int location_line(struct sbuf *b, const struct conf_clinic *c,
                         const struct clinic_state *st,
                         enum clinic_status status)
{
    cJSON *o = cJSON_CreateObject(), *arr, *addr;
    const char *url = c->website;

    if (o == NULL)
        return -1;
    if (cJSON_AddStringToObject(o, "resourceType", "Location") == NULL ||
        cJSON_AddStringToObject(o, "id", c->id) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "identifier")) == NULL ||
        push_sysval(arr, SMARTPUB_HSA_SYSTEM, c->id) != 0 ||
        cJSON_AddStringToObject(o, "name", c->name ? c->name : c->id) == NULL)
        goto fail;
    /* General contact points; the booking page only when no website. */
    if (url == NULL && c->has_booking)
        url = c->booking.booking_url;
    if (c->phone != NULL || url != NULL) {
        if ((arr = cJSON_AddArrayToObject(o, "telecom")) == NULL ||
            (c->phone != NULL && push_sysval(arr, "phone", c->phone) != 0) ||
            (url != NULL && push_sysval(arr, "url", url) != 0))
            goto fail;
    }
    /* The configured address is free text; its street and postcode go
     * to line/postalCode when it follows "Street 1, 123 45 Town". FHIR
     * forbids empty strings, so absent parts are left out. */
    if ((addr = cJSON_AddObjectToObject(o, "address")) == NULL ||
        (c->address != NULL && address_parts(addr, c->address) != 0) ||
        cJSON_AddStringToObject(addr, "city",
                                c->locality ? c->locality : c->municipality) ==
            NULL ||
        (c->municipality != NULL &&
         cJSON_AddStringToObject(addr, "district", c->municipality) == NULL) ||
        cJSON_AddStringToObject(addr, "country", "SE") == NULL ||
        state_ext(o, c, st, status) != 0)
        goto fail;
    return buf_line(b, o);
fail:
    cJSON_Delete(o);
    return -1;
}

static void schedule_id(const struct conf_clinic *c, char *out, size_t n)
{
    snprintf(out, n, "%s%s", c->id, SCHEDULE_SUFFIX);
}

static int schedule_line(struct sbuf *b, const struct conf_clinic *c,
                         const struct clinic_state *st, int64_t now)
{
    cJSON *o = cJSON_CreateObject(), *arr, *st_o, *ext, *actor;
    char id[CONF_HSA_ID_MAX + sizeof(SCHEDULE_SUFFIX) + 1];
    char ref[sizeof(id) + 16];
    const char *svc = c->booking.time_type_name, *avail = "unknown";

    if (o == NULL)
        return -1;
    schedule_id(c, id, sizeof(id));
    snprintf(ref, sizeof(ref), "Location/%s", c->id);
    if (availability_known(st))
        avail = avail_slots_any_after(&st->slots, now) ? "some" : "none";
    if (cJSON_AddStringToObject(o, "resourceType", "Schedule") == NULL ||
        cJSON_AddStringToObject(o, "id", id) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "serviceType")) == NULL ||
        (st_o = cJSON_CreateObject()) == NULL)
        goto fail;
    cJSON_AddItemToArray(arr, st_o);
    if (cJSON_AddStringToObject(st_o, "text", svc ? svc : DEFAULT_SERVICE) ==
            NULL ||
        (arr = cJSON_AddArrayToObject(o, "actor")) == NULL ||
        (actor = cJSON_CreateObject()) == NULL)
        goto fail;
    cJSON_AddItemToArray(arr, actor);
    if (cJSON_AddStringToObject(actor, "reference", ref) == NULL ||
        (ext = cJSON_AddArrayToObject(o, "extension")) == NULL ||
        push_ext_str(ext, SMARTPUB_EXT_HAS_AVAILABILITY, "valueCode", avail) !=
            0)
        goto fail;
    return buf_line(b, o);
fail:
    cJSON_Delete(o);
    return -1;
}

static int slot_line(struct sbuf *b, const struct conf_clinic *c,
                     const struct avail_slot *sl, unsigned k)
{
    cJSON *o = cJSON_CreateObject(), *sch, *ext;
    char sid[CONF_HSA_ID_MAX + sizeof(SCHEDULE_SUFFIX) + 1];
    char id[CONF_FHIR_ID_MAX + 1], ref[sizeof(sid) + 16];
    const char *link = sl->booking_url, *phone = sl->booking_phone;

    if (o == NULL)
        return -1;
    schedule_id(c, sid, sizeof(sid));
    snprintf(ref, sizeof(ref), "Schedule/%s", sid);
    /* HSA-id <= 31, epoch <= 20, k <= 10: always within 64. */
    snprintf(id, sizeof(id), "%s-%lld-%u", c->id, (long long)sl->start, k);
    if (link == NULL && c->has_booking)
        link = c->booking.booking_url;
    if (phone == NULL)
        phone = c->phone;
    if (cJSON_AddStringToObject(o, "resourceType", "Slot") == NULL ||
        cJSON_AddStringToObject(o, "id", id) == NULL ||
        (sch = cJSON_AddObjectToObject(o, "schedule")) == NULL ||
        cJSON_AddStringToObject(sch, "reference", ref) == NULL ||
        cJSON_AddStringToObject(o, "status", "free") == NULL ||
        add_time(o, "start", sl->start) != 0 ||
        add_time(o, "end", sl->end) != 0)
        goto fail;
    if (sl->service != NULL && slot_service(o, sl->service) != 0)
        goto fail;
    if ((ext = cJSON_CreateArray()) == NULL)
        goto fail;
    cJSON_AddItemToObject(o, "extension", ext);
    if ((link != NULL &&
         push_ext_str(ext, SMART_EXT_DEEP_LINK, "valueUrl", link) != 0) ||
        (phone != NULL &&
         push_ext_str(ext, SMART_EXT_PHONE, "valueString", phone) != 0) ||
        (sl->capacity > 1 &&
         push_ext_num(ext, SMART_EXT_CAPACITY, sl->capacity) != 0) ||
        (sl->practitioner != NULL &&
         push_ext_str(ext, SMART_EXT_PRACTITIONER, "valueString",
                      sl->practitioner) != 0) ||
        (sl->follow_up && push_ext_true(ext, SMART_EXT_FOLLOW_UP) != 0))
        goto fail;
    if (cJSON_GetArraySize(ext) == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(o, "extension");
    return buf_line(b, o);
fail:
    cJSON_Delete(o);
    return -1;
}

/* Future slots of one clinic, time order; k numbers equal starts. */
static int clinic_slots(struct sbuf *b, const struct conf_clinic *c,
                        const struct avail_slots *slots, int64_t now)
{
    const struct avail_slot **v;
    size_t n = 0, i;
    unsigned k = 0;
    int rc = 0;

    /* The feed's order: stable slot ids. */
    if (avail_slots_future(slots, now, &v, &n) != 0)
        return -1;
    for (i = 0; i < n && rc == 0; i++) {
        k = (i > 0 && v[i]->start == v[i - 1]->start) ? k + 1 : 0;
        rc = slot_line(b, c, v[i], k);
    }
    free(v);
    return rc;
}

/* --- build ---------------------------------------------------------------- */

int smartpub_clinic_location_line(const struct conf_clinic *c,
                                  const struct clinic_state *st,
                                  enum clinic_status status, struct sbuf *b)
{
    return location_line(b, c, st, status);
}

int smartpub_clinic_schedule_lines(const struct conf_clinic *c,
                                   const struct clinic_state *st, int64_t now,
                                   struct sbuf b[SMARTPUB_NDOCS])
{
    if (!has_schedule(c, st))
        return 0;
    if (schedule_line(&b[SMARTPUB_SCHEDULE], c, st, now) != 0)
        return -1;
    if (availability_known(st) &&
        clinic_slots(&b[SMARTPUB_SLOT], c, &st->slots, now) != 0)
        return -1;
    return 0;
}

/* Content memo behind transactionTime (see smartpub.h). */
static struct {
    bool set;
    uint64_t hash;
    int64_t since;
} memo;

/* ETags from the tree hashes (lengths set) and transactionTime. */
static void docs_stamp(struct smartpub_docs *out,
                       const uint64_t tree[SMARTPUB_NDOCS], int64_t now)
{
    uint64_t h = HASH_FNV1A_INIT;
    int t;

    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        doc_etag_hash(tree[t], out->doc[t].len, out->doc[t].etag);
        h = hash_fnv1a(h, &tree[t], sizeof(tree[t]));
        h = hash_fnv1a(h, &out->doc[t].len, sizeof(out->doc[t].len));
    }
    if (!memo.set || memo.hash != h) {
        memo.set = true;
        memo.hash = h;
        memo.since = now;
    }
    out->transaction_time = memo.since;
}

int smartpub_docs_set_segs(struct smartpub_docs *out,
                           struct doc_seg *segs[SMARTPUB_NDOCS],
                           const size_t nseg[SMARTPUB_NDOCS],
                           const struct doc_zpart *const *zslot, size_t nz,
                           const struct doc_crcsum *slot_sum,
                           const uint64_t tree[SMARTPUB_NDOCS], int64_t now)
{
    struct doc *gz = &out->gz[SMARTPUB_SLOT];
    size_t i;
    int t;

    memset(out, 0, sizeof(*out));
    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        out->seg[t] = segs[t];
        if (t == SMARTPUB_SLOT)
            continue;
        out->doc[t].segs = segs[t];
        out->doc[t].nseg = nseg[t];
        for (i = 0; i < nseg[t]; i++)
            out->doc[t].len += segs[t][i].len;
    }
    /* segs[SLOT] has room for nz + 3 entries (smartpub.h). */
    doc_gzip_segs(zslot, nz, slot_sum, out->gz_tail, segs[SMARTPUB_SLOT], gz,
                  &out->doc[SMARTPUB_SLOT].len);
    out->doc[SMARTPUB_SLOT].zsrc = gz;
    docs_stamp(out, tree, now);
    /* The gzip form's tag is the plain one's with "-gz" (doc_gzip's). */
    doc_etag_gz(out->doc[SMARTPUB_SLOT].etag, gz->etag);
    return 0;
}

void smartpub_docs_free(struct smartpub_docs *d)
{
    int t;

    if (d == NULL)
        return;
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        free(d->seg[t]);
    memset(d, 0, sizeof(*d));
}

const struct doc *smartpub_ndjson(const struct smartpub_docs *d,
                                  const char *type)
{
    int t;

    if (d == NULL || type == NULL)
        return NULL;
    for (t = 0; t < SMARTPUB_NDOCS; t++)
        if (strcmp(type, type_names[t]) == 0)
            return d->doc[t].json || d->doc[t].segs || d->doc[t].zsrc
                       ? &d->doc[t]
                       : NULL;
    return NULL;
}

const struct doc *smartpub_ndjson_gz(const struct smartpub_docs *d,
                                     const char *type)
{
    const struct doc *p = smartpub_ndjson(d, type);

    return p != NULL && p->zsrc != NULL ? p->zsrc : NULL;
}

int64_t smartpub_transaction_time(const struct smartpub_docs *d)
{
    return d ? d->transaction_time : 0;
}

char *smartpub_manifest(const struct smartpub_docs *d, const char *base_url,
                        size_t *len)
{
    char url[SMARTPUB_BASE_URL_MAX + 64];
    cJSON *o, *out, *item;
    size_t n, i;
    char *json = NULL;
    int t;

    if (d == NULL || base_url == NULL)
        return NULL;
    n = strlen(base_url);
    if (n == 0 || n > SMARTPUB_BASE_URL_MAX)
        return NULL;
    for (i = 0; i < n; i++)
        if ((unsigned char)base_url[i] <= 0x20 || base_url[i] == 0x7f)
            return NULL;
    if (base_url[n - 1] == '/')
        n--;
    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    snprintf(url, sizeof(url), "%.*s%s", (int)n, base_url,
             SMARTPUB_MANIFEST_PATH);
    if (add_time(o, "transactionTime", d->transaction_time) != 0 ||
        cJSON_AddStringToObject(o, "request", url) == NULL ||
        (out = cJSON_AddArrayToObject(o, "output")) == NULL)
        goto out;
    for (t = 0; t < SMARTPUB_NDOCS; t++) {
        if ((item = cJSON_CreateObject()) == NULL)
            goto out;
        cJSON_AddItemToArray(out, item);
        snprintf(url, sizeof(url), "%.*s%s%s.ndjson", (int)n, base_url,
                 SMARTPUB_NDJSON_PREFIX, type_names[t]);
        if (cJSON_AddStringToObject(item, "type", type_names[t]) == NULL ||
            cJSON_AddStringToObject(item, "url", url) == NULL)
            goto out;
    }
    if (cJSON_AddArrayToObject(o, "error") == NULL)
        goto out;
    json = cJSON_PrintUnformatted(o);
    if (json != NULL && len != NULL)
        *len = strlen(json);
out:
    cJSON_Delete(o);
    return json;
}
