/*
 * smart.c - SMART Scheduling Links bulk adapter ("smart-bulk").
 *
 * A poll is: the $bulk-publish manifest, then its NDJSON files in the
 * order Location, Schedule, Slot (whatever order the manifest lists them
 * in), so that each file can be reduced to what this clinic needs as it
 * arrives: the Location confirms the clinic is published, the Schedules
 * whose actor is that Location give the set of schedule ids, and the
 * Slots are kept when they belong to one of those schedules. Nothing of
 * a file is kept after its step.
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

enum smart_type { T_LOCATION = 0, T_SCHEDULE = 1, T_SLOT = 2 };

static const char *const type_names[] = { "Location", "Schedule", "Slot" };

struct smart_cache {
    char *transaction_time;   /* of the manifest the slots came from */
    char *etag;               /* validators of that manifest, or NULL */
    char *last_modified;
    struct avail_slots slots; /* every free slot of the clinic, any date */
    struct adapter_relay relay;   /* its clinic-state extension, if any */
};

struct smart_output {
    enum smart_type type;
    size_t order;          /* position in the manifest (stable sort) */
    char *url;
};

struct smart_sched {
    char *id;
    char *service;
};

struct smart_state {
    bool files;                   /* past the manifest */
    char *txtime, *etag, *last_modified;   /* of the manifest just read */
    struct smart_output *outs;
    size_t nouts, cur;
    bool have_location_file, location_found;
    struct smart_sched *scheds;
    size_t nscheds, capscheds;
    struct avail_slots all;       /* free slots of the clinic, any date */
    size_t bad_lines, skipped_slots;
    struct adapter_relay relay;   /* the Location's clinic-state, if any */
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
                       const struct avail_slots *src,
                       struct avail_slots *dst)
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
        sf_error_set(err, SF_ERR_CONFIG,
                     "smart: booking.location is required");
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

static enum adapter_status read_manifest(const struct adapter_ctx *ctx,
                                         struct smart_state *st,
                                         const struct adapter_response *resp,
                                         struct avail_slots *slots,
                                         struct adapter_request *next,
                                         struct sf_error *err)
{
    struct smart_cache *c = cache_of(ctx);
    enum adapter_status rc = ADAPTER_ERROR;
    const cJSON *outs, *o;
    const char *tt, *type, *url;
    char q[FHIRJ_QUOTE_MAX + 8], why[128];
    cJSON *root;
    size_t n = 0;
    bool oom;
    int t;

    if (resp->http_status == 304) {
        if (c != NULL && c->transaction_time != NULL)
            return from_cache(ctx, c, resp, slots, err);
        sf_error_set(err, SF_ERR_HTTP, "manifest: HTTP 304 to a request "
                     "that was not conditional");
        return ADAPTER_ERROR;
    }
    if (resp->http_status != 200) {
        sf_error_set(err, SF_ERR_HTTP, "manifest: HTTP %ld",
                     resp->http_status);
        return ADAPTER_ERROR;
    }
    root = fhirj_parse(resp->body, resp->len, "manifest", err);
    if (root == NULL)
        return ADAPTER_ERROR;
    tt = fhirj_str(root, "transactionTime");
    outs = cJSON_GetObjectItemCaseSensitive(root, "output");
    if (tt == NULL || tt[0] == '\0' || !cJSON_IsArray(outs)) {
        sf_error_set(err, SF_ERR_PARSE, "manifest: not a $bulk-publish "
                     "manifest (transactionTime and output[] required)");
        goto out;
    }
    if (c != NULL && c->transaction_time != NULL &&
        strcmp(c->transaction_time, tt) == 0) {
        rc = from_cache(ctx, c, resp, slots, err);
        goto out;
    }
    if (cJSON_GetArraySize(outs) > SMART_MAX_OUTPUTS) {
        sf_error_set(err, SF_ERR_PARSE, "manifest: more than %d output "
                     "files", SMART_MAX_OUTPUTS);
        goto out;
    }
    st->outs = calloc((size_t)cJSON_GetArraySize(outs) + 1,
                      sizeof(*st->outs));
    st->txtime = strdup(tt);
    st->etag = adapter_strdup_opt(resp->etag);
    st->last_modified = adapter_strdup_opt(resp->last_modified);
    if (st->outs == NULL || st->txtime == NULL ||
        (resp->etag && !st->etag) || (resp->last_modified &&
                                      !st->last_modified)) {
        rc = nomem(err);
        goto out;
    }
    cJSON_ArrayForEach(o, outs) {
        type = fhirj_str(o, "type");
        url = fhirj_str(o, "url");
        for (t = 0; t < 3; t++)
            if (type != NULL && strcmp(type, type_names[t]) == 0)
                break;
        if (t == 3)
            continue;        /* other resource types are not ours */
        if (url == NULL) {
            sf_error_set(err, SF_ERR_PARSE, "manifest: output[%zu] (%s) has "
                         "no url", n, type);
            goto out;
        }
        st->outs[n].url = output_url(ctx->clinic->booking.url, url, &oom,
                                     why, sizeof(why));
        if (st->outs[n].url == NULL) {
            if (oom) {
                rc = nomem(err);
            } else {
                fhirj_quote(q, sizeof(q), url);
                sf_error_set(err, SF_ERR_PARSE, "manifest: output url \"%s\" "
                             "refused: %s", q, why);
            }
            goto out;
        }
        st->outs[n].type = (enum smart_type)t;
        st->outs[n].order = n;
        if (t == T_LOCATION)
            st->have_location_file = true;
        st->nouts = ++n;    /* counted as it grows: smart_end frees them */
    }
    if (n == 0) {
        /* A publisher with no Location/Schedule/Slot files at all does
         * not publish this clinic. */
        sf_error_set(err, SF_ERR_NOT_CONNECTED, "manifest lists no "
                     "Location, Schedule or Slot files: no web booking");
        goto out;
    }
    /* Location, then Schedule, then Slot; manifest order within a type. */
    qsort(st->outs, n, sizeof(*st->outs), cmp_output);
    st->files = true;
    st->cur = 0;
    rc = file_request(st, next, err);
out:
    cJSON_Delete(root);
    return rc;
}

/* --- NDJSON files -------------------------------------------------------------- */

static bool actor_is_location(const cJSON *sched, const char *loc)
{
    const cJSON *actors = cJSON_GetObjectItemCaseSensitive(sched, "actor");
    const cJSON *a;

    if (!cJSON_IsArray(actors))
        return false;
    cJSON_ArrayForEach(a, actors)
        if (fhirj_ref_is(fhirj_str(a, "reference"), "Location", loc))
            return true;
    return false;
}

static int add_sched(struct smart_state *st, const cJSON *res)
{
    const char *id = fhirj_str(res, "id");
    struct smart_sched *sc;

    if (id == NULL)
        return 0;
    if (st->nscheds == st->capscheds) {
        size_t nc = st->capscheds ? st->capscheds * 2 : 8;
        struct smart_sched *nv = realloc(st->scheds, nc * sizeof(*nv));

        if (nv == NULL)
            return -1;
        st->scheds = nv;
        st->capscheds = nc;
    }
    sc = &st->scheds[st->nscheds];
    sc->id = strdup(id);
    sc->service = adapter_strdup_opt(fhirj_concept_text(
        cJSON_GetObjectItemCaseSensitive(res, "serviceType")));
    if (sc->id == NULL) {
        free(sc->service);
        return -1;
    }
    st->nscheds++;
    return 0;
}

static const struct smart_sched *find_sched(const struct smart_state *st,
                                            const char *ref)
{
    for (size_t i = 0; ref != NULL && i < st->nscheds; i++)
        if (fhirj_ref_is(ref, "Schedule", st->scheds[i].id))
            return &st->scheds[i];
    return NULL;
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
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' ||
            *p == '<' || *p == '>' || *p == '\\')
            return false;
    return url_check(s, URL_NO_USERINFO, NULL, 0) == 0;
}

/*
 * A slotfeed publisher's slot (its Location carries clinic-state): the
 * slot's own visit type (Slot.serviceType), practitioner and follow-up
 * mark, so the slot reads back as the region holds it. Borrowed strings.
 */
static void ours_slot(const cJSON *res, struct avail_slot *sl)
{
    const char *s;
    const cJSON *v;

    s = fhirj_concept_text(cJSON_GetObjectItemCaseSensitive(res,
                                                            "serviceType"));
    if (s != NULL && s[0] != '\0')
        sl->service = (char *)s;
    s = fhirj_str(fhirj_extension(res, SMART_EXT_PRACTITIONER), "valueString");
    if (s != NULL && s[0] != '\0')
        sl->practitioner = (char *)s;
    v = cJSON_GetObjectItemCaseSensitive(
        fhirj_extension(res, SMART_EXT_FOLLOW_UP), "valueBoolean");
    sl->follow_up = cJSON_IsTrue(v);
}

static int add_slot(const struct adapter_ctx *ctx, struct smart_state *st,
                    const cJSON *res)
{
    struct avail_slot sl = { .capacity = 1 };
    const struct smart_sched *sc;
    const cJSON *ext, *v;
    const char *s;

    sc = find_sched(st, fhirj_str(cJSON_GetObjectItemCaseSensitive(
                                      res, "schedule"), "reference"));
    if (sc == NULL)
        return 0;               /* another location's slot */
    switch (fhirj_slot_times(res, &sl.start, &sl.end)) {
    case FHIRJ_SLOT_NOT_FREE:
        return 0;
    case FHIRJ_SLOT_BAD:
        st->skipped_slots++;
        return 0;
    case FHIRJ_SLOT_FREE:
        break;
    }
    ext = fhirj_extension(res, SMART_EXT_DEEP_LINK);
    s = fhirj_str(ext, "valueUrl");
    if (s != NULL && plausible_url(s))
        sl.booking_url = (char *)s;          /* borrowed; copied on add */
    ext = fhirj_extension(res, SMART_EXT_PHONE);
    s = fhirj_str(ext, "valueString");
    if (s != NULL && s[0] != '\0')
        sl.booking_phone = (char *)s;
    ext = fhirj_extension(res, SMART_EXT_CAPACITY);
    v = ext ? cJSON_GetObjectItemCaseSensitive(ext, "valueInteger") : NULL;
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 &&
        v->valuedouble <= 1000000 && v->valuedouble == (double)v->valueint)
        sl.capacity = v->valueint;
    s = ctx->clinic->booking.time_type_name;
    sl.service = (char *)(s != NULL ? s : sc->service);
    if (st->relay.set)
        ours_slot(res, &sl);
    return avail_slots_add_slot(&st->all, &sl);
}

/* --- the clinic-state extension (smart.h) --------------------------------- */

/* dst[n] = v when v is a short word of [a-z_]; else false, dst unchanged. */
static bool relay_word(char *dst, size_t n, const char *v)
{
    size_t len = v != NULL ? strlen(v) : n;

    if (len == 0 || len >= n || strspn(v, "abcdefghijklmnopqrstuvwxyz_") !=
                                    len)
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

/*
 * One NDJSON file: each nonblank line one resource of the file's type.
 * A line that is not valid JSON, or not a resource of that type, is
 * counted and skipped; a file where no line was good is an error.
 */
static enum adapter_status read_file(const struct adapter_ctx *ctx,
                                     struct smart_state *st,
                                     const struct adapter_response *resp,
                                     struct sf_error *err)
{
    const struct smart_output *o = &st->outs[st->cur];
    const char *want = type_names[o->type], *loc = ctx->clinic->booking.location;
    const char *p = resp->body, *end = resp->body + resp->len, *nl, *rt;
    size_t good = 0, bad = 0, lineno = 0, first_bad = 0;
    char what[64];
    cJSON *res;

    snprintf(what, sizeof(what), "%s file %zu/%zu", want, st->cur + 1,
             st->nouts);
    if (resp->http_status != 200) {
        sf_error_set(err, SF_ERR_HTTP, "%s: HTTP %ld", what,
                     resp->http_status);
        return ADAPTER_ERROR;
    }
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
        res = fhirj_parse(p, (size_t)(nl - p), what, &lerr);
        rt = fhirj_str(res, "resourceType");
        if (res == NULL || rt == NULL || strcmp(rt, want) != 0) {
            if (bad++ == 0)
                first_bad = lineno;
        } else {
            good++;
            if (o->type == T_LOCATION) {
                const char *id = fhirj_str(res, "id");

                if (id != NULL && strcmp(id, loc) == 0) {
                    st->location_found = true;
                    smart_read_clinic_state(res, &st->relay);
                }
            } else if (o->type == T_SCHEDULE) {
                if (actor_is_location(res, loc) && add_sched(st, res) != 0) {
                    cJSON_Delete(res);
                    return nomem(err);
                }
            } else if (add_slot(ctx, st, res) != 0) {
                cJSON_Delete(res);
                return nomem(err);
            }
        }
        cJSON_Delete(res);
        p = nl + (nl < end);
    }
    if (bad > 0 && good == 0) {
        sf_error_set(err, SF_ERR_PARSE, "%s: no valid %s line (%zu bad, "
                     "first at line %zu)", what, want, bad, first_bad);
        return ADAPTER_ERROR;
    }
    st->bad_lines += bad;
    return ADAPTER_DONE;
}

/* Every file read: remember the result, hand out the window's slots. */
static enum adapter_status finish(const struct adapter_ctx *ctx,
                                  struct smart_state *st,
                                  struct avail_slots *slots,
                                  struct sf_error *err)
{
    struct smart_cache *c;

    if (st->bad_lines > 0 || st->skipped_slots > 0)
        log_warn("smart_lines_skipped", "clinic=%s bad_lines=%zu "
                 "bad_slots=%zu", ctx->clinic->id, st->bad_lines,
                 st->skipped_slots);
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
            return ADAPTER_DONE;     /* no memory next time; no harm now */
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

static enum adapter_status smart_step(const struct adapter_ctx *ctx,
                                      void *state,
                                      const struct adapter_response *resp,
                                      struct avail_slots *slots,
                                      struct adapter_request *next,
                                      struct sf_error *err)
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
        sf_error_set(err, SF_ERR_NOT_CONNECTED, "publisher lists no "
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
static void conf_location(struct confcheck *cx, const cJSON *v,
                          const char *path, struct conf_booking *b)
{
    char shown[CONFCHECK_SHOWN];
    const char *s;

    s = confcheck_str(cx, v, path, true);
    if (s == NULL)
        return;
    if (!fhirj_valid_id(s, strlen(s))) {
        confcheck_show(shown, sizeof(shown), s);
        confcheck_err(cx, path, "\"%s\" is not a FHIR id (1..64 letters, "
                      "digits, '-', '.')", shown);
        return;
    }
    confcheck_store(cx, &b->location, s);
}

static const struct adapter_conf_key smart_conf_keys[] = {
    { "location", conf_location },
    { NULL, NULL }
};

static void smart_conf_check(struct confcheck *cx, const char *path,
                             unsigned seen, const struct conf_booking *b)
{
    (void)b;
    if (!(seen & 1u))       /* smart_conf_keys[0], "location" */
        confcheck_err(cx, path, "missing required key \"location\" (the "
                      "smart-bulk adapter needs it)");
}

static bool smart_conf_same(const struct conf_booking *a,
                            const struct conf_booking *b)
{
    return adapter_str_same(a->location, b->location);
}

const struct adapter adapter_smart = {
    .name = "smart-bulk",
    .conf_keys = smart_conf_keys,
    .conf_check = smart_conf_check,
    .conf_same = smart_conf_same,
    .begin = smart_begin,
    .step = smart_step,
    .end = smart_end,
    .cache_free = cache_free,
};
