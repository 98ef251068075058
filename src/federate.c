/*
 * federate.c - a national region config from regional SMART publications
 * (federate.h).
 *
 * One blocking download at a time on a private event loop: the command
 * runs once, by hand or from a timer, so simplicity beats concurrency;
 * the fetch module still applies its URL rule, timeouts and size cap.
 */
#include "slotfeed/federate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "slotfeed/adapter.h"
#include "slotfeed/conf.h"
#include "slotfeed/fetch.h"
#include "slotfeed/smart.h"
#include "slotfeed/smartpub.h"
#include "slotfeed/url.h"

/* --- downloads ------------------------------------------------------------ */

struct fed_get {
    struct event_base *base;
    bool done;
    struct sf_error err;
    long status;
    char *body;
    size_t len;
};

static void get_done(const struct fetch_result *res, void *arg)
{
    struct fed_get *g = arg;

    g->done = true;
    g->err = res->err;
    g->status = res->http_status;
    if (res->err.code == SF_ERR_NONE && res->body != NULL &&
        (g->body = malloc(res->len + 1)) != NULL) {
        memcpy(g->body, res->body, res->len);
        g->body[res->len] = '\0';
        g->len = res->len;
    } else if (res->err.code == SF_ERR_NONE) {
        sf_error_set(&g->err, SF_ERR_NOMEM, "out of memory");
    }
    event_base_loopbreak(g->base);
}

/* GET url into a malloc'd NUL-terminated *body (caller frees). 0 / -1. */
static int fed_download(struct event_base *base, struct fetch *f,
                        const char *url, const char *accept, char **body,
                        size_t *len, struct sf_error *err)
{
    struct adapter_request req;
    struct fed_get g;

    memset(&g, 0, sizeof(g));
    memset(&req, 0, sizeof(req));
    g.base = base;
    req.url = (char *)url;
    req.label = (char *)"federate";
    if (adapter_request_add_header(&req, "Accept", accept) != 0) {
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (fetch_start(f, &req, get_done, &g, err) != 0) {
        free(req.headers[0]);
        return -1;
    }
    free(req.headers[0]);
    while (!g.done)
        event_base_dispatch(base);
    if (g.err.code != SF_ERR_NONE || g.status != 200) {
        if (g.err.code == SF_ERR_NONE)
            sf_error_set(&g.err, SF_ERR_HTTP, "HTTP %ld", g.status);
        sf_error_set(err, g.err.code, "%s: %s", url, g.err.msg);
        free(g.body);
        return -1;
    }
    *body = g.body;
    *len = g.len;
    return 0;
}

/* --- reading resources ------------------------------------------------------ */

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring
                                                          : NULL;
}

/* a when it is an array, else NULL (cJSON_ArrayForEach then does nothing). */
static const cJSON *arr_only(const cJSON *a)
{
    return cJSON_IsArray(a) ? a : NULL;
}

/* Part `part` (its value under vkey) of Location loc's clinic-state
 * extension; *ours tells whether loc carries the extension at all. */
static const char *state_part(const cJSON *loc, const char *part,
                              const char *vkey, bool *ours)
{
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(loc, "extension");
    const cJSON *e, *s;
    const char *u;

    *ours = false;
    cJSON_ArrayForEach(e, arr_only(ext)) {
        u = str_of(e, "url");
        if (u == NULL || strcmp(u, SMART_EXT_CLINIC_STATE) != 0)
            continue;
        *ours = true;
        s = cJSON_GetObjectItemCaseSensitive(e, "extension");
        cJSON_ArrayForEach(e, arr_only(s)) {
            u = str_of(e, "url");
            if (u != NULL && strcmp(u, part) == 0)
                return str_of(e, vkey);
        }
        return NULL;
    }
    return NULL;
}

/* The value of loc's telecom entry of system sys, or NULL. */
static const char *telecom(const cJSON *loc, const char *sys)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(loc, "telecom"), *t;
    const char *s;

    cJSON_ArrayForEach(t, arr_only(arr))
        if ((s = str_of(t, "system")) != NULL && strcmp(s, sys) == 0)
            return str_of(t, "value");
    return NULL;
}

/* The clinic's HSA-id: the identifier of the HSA system, else an HSA-id
 * shaped Location.id (a foreign publisher may use it as the id). */
static const char *hsa_of(const cJSON *loc)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(loc, "identifier");
    const cJSON *i;
    const char *s, *id = str_of(loc, "id");

    cJSON_ArrayForEach(i, arr_only(arr))
        if ((s = str_of(i, "system")) != NULL &&
            strcmp(s, SMARTPUB_HSA_SYSTEM) == 0 &&
            (s = str_of(i, "value")) != NULL && conf_valid_hsa_id(s))
            return s;
    return id != NULL && conf_valid_hsa_id(id) ? id : NULL;
}

/* The first serviceType text of a Schedule of Location loc_id in the
 * Schedule lines sched (NDJSON), or NULL (malloc'd; caller frees). */
static char *service_of(const char *sched, const char *loc_id)
{
    char ref[128];
    const char *p = sched, *q, *ls, *le;
    char *out = NULL;

    if (sched == NULL || loc_id == NULL)
        return NULL;
    /* Relative or absolute reference: ".../Location/<id>" then a quote. */
    snprintf(ref, sizeof(ref), "Location/%s\"", loc_id);
    while (out == NULL && (q = strstr(p, ref)) != NULL) {
        cJSON *o;
        const char *t;

        for (ls = q; ls > p && ls[-1] != '\n'; ls--)
            ;
        if ((le = strchr(q, '\n')) == NULL)
            le = q + strlen(q);
        o = cJSON_ParseWithLength(ls, (size_t)(le - ls));
        t = str_of(cJSON_GetArrayItem(
                       cJSON_GetObjectItemCaseSensitive(o, "serviceType"), 0),
                   "text");
        if (t != NULL)
            out = strdup(t);
        cJSON_Delete(o);
        p = *le != '\0' ? le + 1 : le;
    }
    return out;
}

/* --- one clinic ------------------------------------------------------------ */

static int add_opt(cJSON *o, const char *key, const char *v)
{
    return v == NULL || cJSON_AddStringToObject(o, key, v) != NULL ? 0 : -1;
}

/* Would the config take this clinic? conf_parse of a one-clinic region. */
static bool clinic_ok(const cJSON *clinic, char *why, size_t whysz)
{
    cJSON *r = cJSON_CreateObject(), *arr;
    struct conf_region *reg = NULL;
    struct conf_errors errs = { 0 };
    char *text = NULL;
    bool ok = false;

    snprintf(why, whysz, "out of memory");
    if (r == NULL || cJSON_AddStringToObject(r, "name", "x") == NULL ||
        (arr = cJSON_AddArrayToObject(r, "clinics")) == NULL)
        goto out;
    cJSON_AddItemToArray(arr, cJSON_Duplicate(clinic, true));
    if ((text = cJSON_PrintUnformatted(r)) == NULL)
        goto out;
    ok = conf_parse(text, strlen(text), &reg, &errs) == 0;
    if (!ok)
        snprintf(why, whysz, "%s", errs.n > 0 ? errs.v[0] : "refused");
    conf_free(reg);
    conf_errors_free(&errs);
out:
    free(text);
    cJSON_Delete(r);
    return ok;
}

/* The config clinic for Location loc of the manifest at url, or NULL
 * (left out: *why says why; or out of memory). */
static cJSON *clinic_of(const cJSON *loc, const char *url, const char *sched,
                        FILE *warn, char *why, size_t whysz)
{
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(loc, "address");
    const char *id = hsa_of(loc), *loc_id = str_of(loc, "id");
    const char *name = str_of(loc, "name"), *muni = str_of(addr, "district");
    const char *op, *loca, *web, *burl, *svc;
    cJSON *c, *b;
    char *svc_own = NULL;
    bool ours;

    snprintf(why, whysz, "out of memory");
    if (muni == NULL)
        muni = str_of(addr, "city");
    op = state_part(loc, "operator", "valueCode", &ours);
    loca = state_part(loc, "locality", "valueString", &ours);
    burl = state_part(loc, "booking-url", "valueUrl", &ours);
    svc = state_part(loc, "service", "valueString", &ours);
    /* Ours: the website is said apart (telecom url may be the booking
     * page); foreign: telecom url is the website, the Schedule the service. */
    web = ours ? state_part(loc, "website", "valueUrl", &ours)
               : telecom(loc, "url");
    if (!ours && (svc_own = service_of(sched, loc_id)) != NULL)
        svc = svc_own;
    if (id == NULL || name == NULL || muni == NULL) {
        snprintf(why, whysz, "no %s",
                 id == NULL     ? "HSA-id"
                 : name == NULL ? "name"
                                : "address.district or city");
        free(svc_own);
        return NULL;
    }
    if (op == NULL || (strcmp(op, "private") != 0 && strcmp(op, "region"))) {
        if (warn != NULL)
            fprintf(warn,
                    "federate: %s: operator not published, "
                    "\"private\" assumed\n",
                    id);
        op = "private";
    }
    if ((c = cJSON_CreateObject()) == NULL || add_opt(c, "id", id) != 0 ||
        add_opt(c, "name", name) != 0 ||
        add_opt(c, "municipality", muni) != 0 ||
        add_opt(c, "locality", loca) != 0 || add_opt(c, "operator", op) ||
        add_opt(c, "phone", telecom(loc, "phone")) != 0 ||
        add_opt(c, "website", web) != 0 ||
        (b = cJSON_AddObjectToObject(c, "booking")) == NULL ||
        add_opt(b, "adapter", "smart-bulk") != 0 || add_opt(b, "url", url) ||
        add_opt(b, "location", loc_id) != 0 ||
        add_opt(b, "booking_url", burl) != 0 ||
        add_opt(b, "time_type_name", svc) != 0) {
        cJSON_Delete(c);
        free(svc_own);
        return NULL;
    }
    free(svc_own);
    if (!clinic_ok(c, why, whysz)) {
        cJSON_Delete(c);
        return NULL;
    }
    return c;
}

/* --- one region --------------------------------------------------------------- */

struct fed {
    struct event_base *base;
    struct fetch *f;
    FILE *warn;
    cJSON *clinics; /* the config's array, being filled */
};

/* A growing string for the concatenated files. */
struct sbuf_lite {
    char *p;
    size_t len;
};

/* Download every output file of type `type` in manifest m (from url)
 * and append them to *all (NDJSON, NUL-terminated). 0 / -1. */
static int region_files(struct fed *fx, const char *url, const cJSON *m,
                        const char *type, struct sbuf_lite *all,
                        struct sf_error *err)
{
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(m, "output"), *o;
    char why[128];

    cJSON_ArrayForEach(o, arr_only(outs)) {
        const char *t = str_of(o, "type"), *link = str_of(o, "url");
        char *abs, *body = NULL, *np;
        size_t len = 0;
        bool oom;

        if (t == NULL || strcmp(t, type) != 0 || link == NULL)
            continue;
        if ((abs = smart_output_url(url, link, &oom, why, sizeof(why))) ==
            NULL) {
            sf_error_set(err, oom ? SF_ERR_NOMEM : SF_ERR_PARSE,
                         "%s: output url refused: %s", url,
                         oom ? "out of memory" : why);
            return -1;
        }
        if (fed_download(fx->base, fx->f, abs, "application/fhir+ndjson", &body,
                         &len, err) != 0) {
            free(abs);
            return -1;
        }
        free(abs);
        if (all->len + len + 2 > FEDERATE_MAX_BYTES * 4 ||
            (np = realloc(all->p, all->len + len + 2)) == NULL) {
            free(body);
            sf_error_set(err, SF_ERR_TOO_LARGE, "%s: %s files too large", url,
                         type);
            return -1;
        }
        all->p = np;
        memcpy(all->p + all->len, body, len);
        all->len += len;
        all->p[all->len++] = '\n';
        all->p[all->len] = '\0';
        free(body);
    }
    return 0;
}

/* Every Location line of locs becomes a clinic (or a warning). */
static int region_clinics(struct fed *fx, const char *url, const char *locs,
                          const char *scheds)
{
    const char *p = locs, *nl;
    char why[512];

    for (; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
        cJSON *loc, *c;
        const char *rt;

        nl = strchr(p, '\n');
        loc = cJSON_ParseWithLength(p, nl ? (size_t)(nl - p) : strlen(p));
        rt = str_of(loc, "resourceType");
        if (loc == NULL || rt == NULL || strcmp(rt, "Location") != 0) {
            cJSON_Delete(loc);
            continue;
        }
        c = clinic_of(loc, url, scheds, fx->warn, why, sizeof(why));
        if (c == NULL) {
            if (fx->warn != NULL)
                fprintf(fx->warn,
                        "federate: %s: Location/%.64s left "
                        "out: %s\n",
                        url, str_of(loc, "id") ? str_of(loc, "id") : "?", why);
        } else {
            cJSON_AddItemToArray(fx->clinics, c);
        }
        cJSON_Delete(loc);
    }
    return 0;
}

static int federate_region(struct fed *fx, const char *url,
                           struct sf_error *err)
{
    struct sbuf_lite locs = { 0 }, scheds = { 0 };
    char *body = NULL;
    size_t len;
    cJSON *m = NULL;
    int rc = -1;

    if (fed_download(fx->base, fx->f, url, "application/json", &body, &len,
                     err) != 0)
        return -1;
    m = cJSON_ParseWithLength(body, len);
    if (str_of(m, "transactionTime") == NULL ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "output"))) {
        sf_error_set(err, SF_ERR_PARSE,
                     "%s: not a $bulk-publish manifest "
                     "(transactionTime and output[] required)",
                     url);
        goto out;
    }
    if (region_files(fx, url, m, "Schedule", &scheds, err) != 0 ||
        region_files(fx, url, m, "Location", &locs, err) != 0)
        goto out;
    rc = region_clinics(fx, url, locs.p, scheds.p);
out:
    cJSON_Delete(m);
    free(body);
    free(locs.p);
    free(scheds.p);
    return rc;
}

/* --- the config ----------------------------------------------------------- */

/* The top level: keep's keys but "clinics", else a minimal head. */
static cJSON *config_head(const cJSON *keep, const char *const *urls, size_t n)
{
    cJSON *o, *k;
    char note[256];

    if (cJSON_IsObject(keep)) {
        if ((o = cJSON_Duplicate(keep, true)) != NULL)
            cJSON_DeleteItemFromObjectCaseSensitive(o, "clinics");
        return o;
    }
    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    snprintf(note, sizeof(note),
             "Generated by slotfeed federate from %zu "
             "regional $bulk-publish manifest(s), first %.128s; run it "
             "again rather than editing clinics by hand",
             n, urls[0]);
    k = cJSON_AddStringToObject(o, "_comment", note);
    if (k == NULL ||
        cJSON_AddStringToObject(o, "name", "Nationell (federerad)") == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Drop the later clinics of an id already seen (case-insensitively). */
static void drop_duplicates(cJSON *arr, FILE *warn)
{
    cJSON *c = arr->child, *d, *next;

    for (; c != NULL; c = c->next)
        for (d = c->next; d != NULL; d = next) {
            next = d->next;
            if (strcasecmp(str_of(c, "id"), str_of(d, "id")) != 0)
                continue;
            if (warn != NULL)
                fprintf(warn,
                        "federate: %s published twice (%s and %s): "
                        "the first kept\n",
                        str_of(c, "id"),
                        str_of(cJSON_GetObjectItemCaseSensitive(c, "booking"),
                               "url"),
                        str_of(cJSON_GetObjectItemCaseSensitive(d, "booking"),
                               "url"));
            cJSON_Delete(cJSON_DetachItemViaPointer(arr, d));
        }
}

int federate_build(const char *const *urls, size_t n, const cJSON *keep,
                   FILE *warn, cJSON **out, struct sf_error *err)
{
    struct fetch_opts fo;
    struct fed fx;
    cJSON *cfg = NULL;
    size_t i;
    int rc = -1;

    *out = NULL;
    memset(&fx, 0, sizeof(fx));
    memset(&fo, 0, sizeof(fo));
    fx.warn = warn;
    fo.max_body_bytes = FEDERATE_MAX_BYTES;
    fo.user_agent = "slotfeed-federate";
    if (n == 0) {
        sf_error_set(err, SF_ERR_CONFIG, "no manifest URL");
        return -1;
    }
    if ((cfg = config_head(keep, urls, n)) == NULL ||
        (fx.clinics = cJSON_AddArrayToObject(cfg, "clinics")) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((fx.base = event_base_new()) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "event_base_new failed");
        goto out;
    }
    if ((fx.f = fetch_new(fx.base, &fo, err)) == NULL)
        goto out;
    for (i = 0; i < n; i++)
        if (federate_region(&fx, urls[i], err) != 0)
            goto out;
    drop_duplicates(fx.clinics, warn);
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    fetch_free(fx.f);
    if (fx.base != NULL)
        event_base_free(fx.base);
    cJSON_Delete(cfg);
    return rc;
}

/* The clinic of id in config cfg's clinics, or NULL. */
static const cJSON *clinic_by_id(const cJSON *cfg, const char *id)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(cfg, "clinics"), *c;
    const char *cid;

    cJSON_ArrayForEach(c, arr_only(arr))
        if ((cid = str_of(c, "id")) != NULL && strcasecmp(cid, id) == 0)
            return c;
    return NULL;
}

/* "~ ID: key, key" for the keys of a and b whose values differ. */
static void print_changed(const cJSON *a, const cJSON *b, const char *id,
                          FILE *out)
{
    const cJSON *sides[2] = { a, b }, *k;
    const char *sep = "";
    int s;

    fprintf(out, "~ %s:", id);
    for (s = 0; s < 2; s++)
        cJSON_ArrayForEach(k, sides[s]) {
            const cJSON *o =
                cJSON_GetObjectItemCaseSensitive(sides[!s], k->string);

            /* A key both have is named once, from the old side. */
            if ((s == 1 && o != NULL) || cJSON_Compare(k, o, true))
                continue;
            fprintf(out, "%s %s", sep, k->string);
            sep = ",";
        }
    fputc('\n', out);
}

size_t federate_diff(const cJSON *old, const cJSON *new_cfg, FILE *out)
{
    const cJSON *arr, *c, *o;
    const char *id;
    size_t n = 0;

    arr = cJSON_GetObjectItemCaseSensitive(new_cfg, "clinics");
    cJSON_ArrayForEach(c, arr_only(arr)) {
        if ((id = str_of(c, "id")) == NULL)
            continue;
        if ((o = clinic_by_id(old, id)) == NULL) {
            n++;
            if (out != NULL)
                fprintf(out, "+ %s %s\n", id, str_of(c, "name"));
        } else if (!cJSON_Compare(o, c, true)) {
            n++;
            if (out != NULL)
                print_changed(o, c, id, out);
        }
    }
    arr = cJSON_GetObjectItemCaseSensitive(old, "clinics");
    cJSON_ArrayForEach(c, arr_only(arr))
        if ((id = str_of(c, "id")) != NULL &&
            clinic_by_id(new_cfg, id) == NULL) {
            n++;
            if (out != NULL)
                fprintf(out, "- %s %s\n", id, str_of(c, "name"));
        }
    return n;
}
