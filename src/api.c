/*
 * api.c - query strings, /v1/availability filters, filtered documents
 * and the slots document (see api.h).
 *
 * A filtered document is spliced from the bytes the snapshot already
 * holds (head, each clinic's object); only the summary, the "filters"
 * echo and near's distance_km are written per document, and the result is
 * cached per (snapshot, canonical filter). Ownership: api_params owns its
 * decoded strings; an api_filter borrows from the region and geo table;
 * cache entries are reference counted (the cache holds one, each reply in
 * flight one more).
 */
#include "slotfeed/api.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <time.h>
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "slotfeed/clock.h"
#include "slotfeed/error.h"
#include "slotfeed/sbuf.h"

/* --- query strings ---------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode [s, s+n) ("+" = space, %XX) into a new string; what names the
 * part for the error ("parameter name", "value of municipality").
 */
static char *decode(const char *s, size_t n, size_t max, const char *what,
                    struct sf_error *err)
{
    char *out = malloc(n + 1);
    size_t i, k = 0;

    if (out == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        int hi, lo;

        if (s[i] == '+') {
            out[k++] = ' ';
        } else if (s[i] != '%') {
            out[k++] = s[i];
        } else if (i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
                   (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            if (hi == 0 && lo == 0) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "%s: NUL byte (%%00) not "
                             "allowed",
                             what);
                goto bad;
            }
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            sf_error_set(err, SF_ERR_CONFIG, "%s: invalid percent-escape",
                         what);
            goto bad;
        }
    }
    out[k] = '\0';
    if (k > max) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: longer than %zu bytes", what,
                     max);
        goto bad;
    }
    if (!sf_utf8_valid(out, k)) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: not valid UTF-8", what);
        goto bad;
    }
    return out;
bad:
    free(out);
    return NULL;
}

void api_params_clear(struct api_params *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++) {
        free(p->v[i].name);
        free(p->v[i].value);
    }
    p->n = 0;
}

int api_params_parse(const char *query, struct api_params *out,
                     struct sf_error *err)
{
    const char *p = query;

    out->n = 0;
    while (p != NULL && *p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;
        char what[80];
        struct api_param *pp;

        if (len == 0) {
            p = amp ? amp + 1 : NULL;
            continue;
        }
        if (out->n == API_MAX_PARAMS) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "query: more than %d "
                         "parameters",
                         API_MAX_PARAMS);
            return -1;
        }
        pp = &out->v[out->n];
        if ((pp->name = decode(p, nl, API_MAX_NAME, "parameter name", err)) ==
            NULL)
            return -1;
        out->n++;
        /* The name is valid UTF-8 without NUL here: safe to quote. */
        snprintf(what, sizeof(what), "%s", pp->name);
        if ((pp->value = decode(eq ? eq + 1 : p + len, eq ? len - nl - 1 : 0,
                                API_MAX_VALUE, what, err)) == NULL)
            return -1;
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* --- filters ---------------------------------------------------------------- */

/* Split a comma list value into trimmed items; calls fn per item. */
typedef int (*item_fn)(const char *item, size_t len, void *arg,
                       struct sf_error *err);

static int each_item(const char *name, const char *v, bool commas, item_fn fn,
                     void *arg, struct sf_error *err)
{
    const char *p = v;

    for (;;) {
        const char *e = commas ? strchr(p, ',') : NULL;
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *q = p;

        while (len > 0 && (*q == ' ' || *q == '\t'))
            q++, len--;
        while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\t'))
            len--;
        if (len == 0) {
            sf_error_set(err, SF_ERR_CONFIG, "%s: empty value", name);
            return -1;
        }
        if (fn(q, len, arg, err) != 0)
            return -1;
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

struct fctx {
    const struct feed_snapshot *s;
    struct api_filter *f;
    const char *name;
};

/* Add a string to a set (pointer list) once. */
static int set_add(const char **v, size_t *n, const char *s, const char *name,
                   struct sf_error *err)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (v[i] == s)
            return 0;
    if (*n == API_MAX_VALUES) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: more than %d values", name,
                     API_MAX_VALUES);
        return -1;
    }
    v[(*n)++] = s;
    return 0;
}

static int on_municipality(const char *it, size_t len, void *arg,
                           struct sf_error *err)
{
    struct fctx *x = arg;
    const struct conf_region *r = x->s->region;
    size_t i;

    for (i = 0; r != NULL && i < r->nclinics; i++) {
        const char *m = r->clinics[i].municipality;
        size_t k;

        if (m == NULL || !geo_name_equal_n(it, len, m))
            continue;
        /* Canonical pointer: the first clinic with this municipality. */
        for (k = 0; k < i; k++)
            if (r->clinics[k].municipality != NULL &&
                strcmp(r->clinics[k].municipality, m) == 0) {
                m = r->clinics[k].municipality;
                break;
            }
        return set_add(x->f->municipality, &x->f->nmunicipality, m,
                       "municipality", err);
    }
    sf_error_set(err, SF_ERR_CONFIG,
                 "municipality: \"%.*s\" is not a "
                 "municipality of this region",
                 (int)(len > 64 ? 64 : len), it);
    return -1;
}

static int on_service(const char *it, size_t len, void *arg,
                      struct sf_error *err)
{
    struct fctx *x = arg;
    const struct conf_region *r = x->s->region;
    size_t i, k;

    for (i = 0; r != NULL && i < r->nclinics; i++) {
        const struct conf_clinic *c = &r->clinics[i];
        const char *sv = c->has_booking ? c->booking.time_type_name : NULL;

        if (sv == NULL || !geo_name_equal_n(it, len, sv))
            continue;
        for (k = 0; k < i; k++) {
            const struct conf_clinic *o = &r->clinics[k];
            if (o->has_booking && o->booking.time_type_name != NULL &&
                strcmp(o->booking.time_type_name, sv) == 0) {
                sv = o->booking.time_type_name;
                break;
            }
        }
        return set_add(x->f->service, &x->f->nservice, sv, "service", err);
    }
    sf_error_set(err, SF_ERR_CONFIG,
                 "service: \"%.*s\" is not a service "
                 "of any clinic in this region",
                 (int)(len > 64 ? 64 : len), it);
    return -1;
}

static const char *const op_names[2] = { "private", "region" };

static int on_operator(const char *it, size_t len, void *arg,
                       struct sf_error *err)
{
    struct fctx *x = arg;
    unsigned i;

    for (i = 0; i < 2; i++)
        if (strlen(op_names[i]) == len && strncmp(it, op_names[i], len) == 0) {
            x->f->operator_mask |= 1u << i;
            return 0;
        }
    sf_error_set(err, SF_ERR_CONFIG,
                 "operator: \"%.*s\": want private or "
                 "region",
                 (int)(len > 64 ? 64 : len), it);
    return -1;
}

static int on_web(const char *it, size_t len, void *arg, struct sf_error *err)
{
    struct fctx *x = arg;
    unsigned i;

    for (i = 0; i < WEB_BOOKINGS; i++)
        if (strlen(collector_web_name((enum web_booking)i)) == len &&
            strncmp(it, collector_web_name((enum web_booking)i), len) == 0) {
            x->f->web_mask |= 1u << i;
            return 0;
        }
    sf_error_set(err, SF_ERR_CONFIG,
                 "web_booking: \"%.*s\": want open, none,"
                 " unreachable or unknown",
                 (int)(len > 64 ? 64 : len), it);
    return -1;
}

/* Canonical key: everything that changes the document, in fixed order. */
static void make_key(const struct feed_snapshot *s, struct api_filter *f)
{
    struct sbuf b = { 0 };
    char num[64];
    size_t i;

    sbuf_str(&b, "m=");
    for (i = 0; s->region != NULL && i < s->region->nclinics; i++) {
        const char *m = s->region->clinics[i].municipality;
        size_t k;

        for (k = 0; k < f->nmunicipality; k++)
            if (f->municipality[k] == m) {
                sbuf_str(&b, m);
                sbuf_str(&b, "\x1f");
            }
    }
    snprintf(num, sizeof(num), ";o=%u;w=%d;b=%u;s=", f->operator_mask,
             f->within, f->web_mask);
    sbuf_str(&b, num);
    for (i = 0; s->region != NULL && i < s->region->nclinics; i++) {
        const struct conf_clinic *c = &s->region->clinics[i];
        size_t k;

        for (k = 0; k < f->nservice; k++)
            if (c->has_booking && f->service[k] == c->booking.time_type_name) {
                sbuf_str(&b, f->service[k]);
                sbuf_str(&b, "\x1f");
            }
    }
    if (f->near) {
        sbuf_str(&b, ";n=");
        sbuf_str(&b, f->near_place);
    }
    if (b.oom || b.len >= sizeof(f->key)) {
        /* Too long to cache safely: an impossible key never matches. */
        snprintf(f->key, sizeof(f->key), "\x01nocache");
    } else {
        memcpy(f->key, b.p, b.len + 1);
    }
    free(b.p);
}

/*
 * Canonical sets must also be in a fixed order for the echo; sort the
 * pointers by their first position in the region.
 */
static size_t first_pos(const struct conf_region *r, const char *p, int svc)
{
    size_t i;

    for (i = 0; r != NULL && i < r->nclinics; i++) {
        const struct conf_clinic *c = &r->clinics[i];
        if ((!svc && c->municipality == p) ||
            (svc && c->has_booking && c->booking.time_type_name == p))
            return i;
    }
    return (size_t)-1;
}

static void sort_set(const struct conf_region *r, const char **v, size_t n,
                     int svc)
{
    size_t i, j;

    for (i = 1; i < n; i++)
        for (j = i;
             j > 0 && first_pos(r, v[j - 1], svc) > first_pos(r, v[j], svc);
             j--) {
            const char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

int api_filter_parse(const struct api_params *p, const struct feed_snapshot *s,
                     const struct geo_table *geo, struct api_filter *f,
                     struct sf_error *err)
{
    struct fctx x = { s, f, NULL };
    bool seen_within = false;
    size_t i;

    memset(f, 0, sizeof(*f));
    f->within = -1;
    for (i = 0; i < p->n; i++) {
        const char *n = p->v[i].name, *v = p->v[i].value;
        int rc;

        if (strcmp(n, "municipality") == 0) {
            rc = each_item(n, v, true, on_municipality, &x, err);
        } else if (strcmp(n, "service") == 0) {
            rc = each_item(n, v, false, on_service, &x, err);
        } else if (strcmp(n, "operator") == 0) {
            rc = each_item(n, v, true, on_operator, &x, err);
        } else if (strcmp(n, "web_booking") == 0) {
            rc = each_item(n, v, true, on_web, &x, err);
        } else if (strcmp(n, "within_guarantee") == 0) {
            int w = strcmp(v, "true") == 0    ? 1
                    : strcmp(v, "false") == 0 ? 0
                                              : -1;
            if (w < 0) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "within_guarantee: want "
                             "true or false");
                return -1;
            }
            if (seen_within && w != f->within) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "within_guarantee: given "
                             "twice with different values");
                return -1;
            }
            seen_within = true;
            f->within = w;
            rc = 0;
        } else if (strcmp(n, "near") == 0) {
            struct geo_point pt;
            const char *label = NULL;

            if (geo == NULL) {
                sf_error_set(err, SF_ERR_CONFIG, "near is not available");
                return -1;
            }
            if (geo_resolve(geo, v, &pt, &label, err) != 0)
                return -1;
            if (f->near && strcmp(label, f->near_place) != 0) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "near: given twice with "
                             "different places");
                return -1;
            }
            f->near = true;
            f->near_pt = pt;
            f->near_place = label;
            rc = 0;
        } else {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: unknown parameter (known: "
                         "municipality, operator, within_guarantee, service,"
                         " web_booking, near)",
                         n);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    /* Both operators (or all four statuses) is the same as none. */
    if (f->operator_mask == 3)
        f->operator_mask = 0;
    if (f->web_mask == 15)
        f->web_mask = 0;
    sort_set(s->region, f->municipality, f->nmunicipality, 0);
    sort_set(s->region, f->service, f->nservice, 1);
    make_key(s, f);
    return 0;
}

bool api_filter_empty(const struct api_filter *f)
{
    return f->nmunicipality == 0 && f->operator_mask == 0 && f->within < 0 &&
           f->nservice == 0 && f->web_mask == 0 && !f->near;
}

static bool matches(const struct feed_snapshot *s, size_t i,
                    const struct api_filter *f)
{
    const struct conf_clinic *c = &s->region->clinics[i];
    const struct feed_clinic_info *in = &s->info[i];
    size_t k;
    bool ok;

    if (f->nmunicipality > 0) {
        for (ok = false, k = 0; k < f->nmunicipality && !ok; k++)
            ok = c->municipality != NULL &&
                 strcmp(c->municipality, f->municipality[k]) == 0;
        if (!ok)
            return false;
    }
    if (f->operator_mask != 0) {
        unsigned bit = c->operator_kind == NULL                   ? 0
                       : strcmp(c->operator_kind, "private") == 0 ? 1u
                       : strcmp(c->operator_kind, "region") == 0  ? 2u
                                                                  : 0;
        if ((f->operator_mask & bit) == 0)
            return false;
    }
    if (f->within >= 0 && in->within != f->within)
        return false;
    if (f->web_mask != 0 &&
        ((unsigned)in->web >= 4 || (f->web_mask & (1u << in->web)) == 0))
        return false;
    if (f->nservice > 0) {
        const char *sv = c->has_booking ? c->booking.time_type_name : NULL;
        for (ok = false, k = 0; k < f->nservice && !ok; k++)
            ok = sv != NULL && strcmp(sv, f->service[k]) == 0;
        if (!ok)
            return false;
    }
    return true;
}

static int near_cmp(const void *a, const void *b)
{
    const struct api_near_row *x = a, *y = b;
    int c;

    if (x->has != y->has)
        return x->has ? -1 : 1;
    if (x->has && x->deci_km != y->deci_km)
        return x->deci_km < y->deci_km ? -1 : 1;
    c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    return c != 0 ? c : strcmp(x->id, y->id);
}

void api_near_row(struct api_near_row *r, const struct feed_snapshot *s,
                  size_t i, const struct geo_table *geo, struct geo_point from)
{
    const struct conf_clinic *c = &s->region->clinics[i];
    struct geo_point pt;

    r->i = i;
    r->name = c->name;
    r->id = c->id;
    r->has = geo != NULL && geo_place(geo, c->municipality, c->locality, &pt);
    r->deci_km = r->has ? lround(geo_distance_km(from, pt) * 10.0) : 0;
}

void api_near_sort(struct api_near_row *rows, size_t n)
{
    if (n > 1)
        qsort(rows, n, sizeof(*rows), near_cmp);
}

/* The filters as compact JSON (malloc'd), or NULL when out of memory.
 * cJSON_AddItemToArray refuses a NULL item, so a failed
 * cJSON_CreateString shows as false there. */
static char *filters_json(const struct api_filter *f)
{
    cJSON *o = cJSON_CreateObject(), *a;
    char *out = NULL;
    size_t k;

    if (o == NULL)
        return NULL;
    if (f->nmunicipality > 0) {
        if ((a = cJSON_AddArrayToObject(o, "municipality")) == NULL)
            goto out;
        for (k = 0; k < f->nmunicipality; k++)
            if (!cJSON_AddItemToArray(a,
                                      cJSON_CreateString(f->municipality[k])))
                goto out;
    }
    if (f->operator_mask != 0) {
        if ((a = cJSON_AddArrayToObject(o, "operator")) == NULL)
            goto out;
        for (k = 0; k < 2; k++)
            if ((f->operator_mask & (1u << k)) &&
                !cJSON_AddItemToArray(a, cJSON_CreateString(op_names[k])))
                goto out;
    }
    if (f->within >= 0 &&
        cJSON_AddBoolToObject(o, "within_guarantee", f->within) == NULL)
        goto out;
    if (f->nservice > 0) {
        if ((a = cJSON_AddArrayToObject(o, "service")) == NULL)
            goto out;
        for (k = 0; k < f->nservice; k++)
            if (!cJSON_AddItemToArray(a, cJSON_CreateString(f->service[k])))
                goto out;
    }
    if (f->web_mask != 0) {
        /* Published order: open, none, unreachable, unknown. */
        static const enum web_booking order[4] = { WEB_OPEN, WEB_NONE,
                                                   WEB_UNREACHABLE,
                                                   WEB_UNKNOWN };
        if ((a = cJSON_AddArrayToObject(o, "web_booking")) == NULL)
            goto out;
        for (k = 0; k < 4; k++)
            if ((f->web_mask & (1u << order[k])) &&
                !cJSON_AddItemToArray(a, cJSON_CreateString(
                                             collector_web_name(order[k]))))
                goto out;
    }
    if (f->near) {
        cJSON *n = cJSON_AddObjectToObject(o, "near");
        if (n == NULL ||
            cJSON_AddStringToObject(n, "place", f->near_place) == NULL ||
            cJSON_AddNumberToObject(n, "lat", f->near_pt.lat) == NULL ||
            cJSON_AddNumberToObject(n, "lon", f->near_pt.lon) == NULL)
            goto out;
    }
    out = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return out;
}

int api_filter_build(const struct feed_snapshot *s, const struct geo_table *geo,
                     const struct api_filter *f, struct doc *doc)
{
    struct api_near_row *rows = NULL;
    size_t *idx = NULL, n = 0, i;
    char sum[FEED_SUMMARY_MAX];
    struct sbuf b = { 0 };
    char *fj = NULL;
    size_t sl;
    int rc = -1;

    memset(doc, 0, sizeof(*doc));
    if (s->nclinics > 0 &&
        ((idx = calloc(s->nclinics, sizeof(*idx))) == NULL ||
         (rows = calloc(s->nclinics, sizeof(*rows))) == NULL))
        goto out;
    for (i = 0; i < s->nclinics; i++)
        if (matches(s, i, f))
            idx[n++] = i;
    if ((sl = feed_summary_format(s, idx, n, sum, sizeof(sum))) == 0 ||
        (fj = filters_json(f)) == NULL)
        goto out;
    for (i = 0; i < n; i++)
        api_near_row(&rows[i], s, idx[i], f->near ? geo : NULL, f->near_pt);
    if (f->near)
        api_near_sort(rows, n);
    sbuf_add(&b, s->head, s->head_len);
    sbuf_str(&b, ",");
    sbuf_add(&b, sum, sl);
    sbuf_str(&b, ",\"filters\":");
    sbuf_str(&b, fj);
    sbuf_str(&b, ",\"clinics\":[");
    for (i = 0; i < n; i++) {
        const struct feed_clinic_info *in = &s->info[rows[i].i];

        if (i > 0)
            sbuf_str(&b, ",");
        if (!f->near) {
            sbuf_add(&b, in->obj, in->obj_len);
            continue;
        }
        /* Splice distance_km in before the object's closing brace. */
        assert(in->obj_len >= 2 && in->obj[in->obj_len - 1] == '}');
        sbuf_add(&b, in->obj, in->obj_len - 1);
        if (rows[i].has) {
            char d[48];
            snprintf(d, sizeof(d), ",\"distance_km\":%ld.%ld}",
                     rows[i].deci_km / 10, rows[i].deci_km % 10);
            sbuf_str(&b, d);
        } else {
            sbuf_str(&b, ",\"distance_km\":null}");
        }
    }
    sbuf_str(&b, "]}");
    if (doc_take_sbuf(doc, &b) != 0)
        goto out;
    rc = 0;
out:
    free(b.p);
    free(fj);
    free(idx);
    free(rows);
    return rc;
}

/* --- slots -------------------------------------------------------------------- */

static int param_date(const struct api_params *p, const char *name,
                      int32_t *day, bool *given, struct sf_error *err)
{
    size_t i;

    *given = false;
    for (i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, name) != 0)
            continue;
        if (*given) {
            sf_error_set(err, SF_ERR_CONFIG, "%s: given twice", name);
            return -1;
        }
        if (strlen(p->v[i].value) != 10 ||
            clock_parse_date(p->v[i].value, day) != 0) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: \"%.20s\" is not a date "
                         "YYYY-MM-DD",
                         name, p->v[i].value);
            return -1;
        }
        {
            /* Refuse 2026-02-31 and the like: round-trip the date. */
            char back[CLOCK_DATE_LEN];
            clock_format_date(*day, back);
            if (strcmp(back, p->v[i].value) != 0) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "%s: \"%s\" is not a date "
                             "of the calendar",
                             name, p->v[i].value);
                return -1;
            }
        }
        *given = true;
    }
    return 0;
}

int api_slots_build(const struct feed_snapshot *s, size_t ci,
                    const struct api_params *p, struct doc *doc,
                    struct sf_error *err)
{
    const struct feed_clinic_info *in = &s->info[ci];
    const struct conf_clinic *c = &s->region->clinics[ci];
    int32_t today = clock_local_day(s->generated_at), from = today, to;
    int horizon = s->region->horizon_days > 0 ? s->region->horizon_days : 28;
    bool gf, gt;
    char ds[CLOCK_DATE_LEN], ts[CLOCK_RFC3339_LEN];
    cJSON *o = NULL, *arr;
    size_t i;

    memset(doc, 0, sizeof(*doc));
    for (i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, "from") != 0 &&
            strcmp(p->v[i].name, "to") != 0) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: unknown parameter (known: "
                         "from, to)",
                         p->v[i].name);
            return -1;
        }
    if (param_date(p, "from", &from, &gf, err) != 0 ||
        param_date(p, "to", &to, &gt, err) != 0)
        return -1;
    if (!gt)
        to = (gf ? from : today) + horizon;
    if (to < from) {
        sf_error_set(err, SF_ERR_CONFIG, "to: before from");
        return -1;
    }
    if (to - from + 1 > API_SLOTS_MAX_SPAN) {
        sf_error_set(err, SF_ERR_CONFIG, "to: more than %d days after from",
                     API_SLOTS_MAX_SPAN - 1);
        return -1;
    }
    if ((o = cJSON_CreateObject()) == NULL)
        goto oom;
    clock_format_rfc3339(s->generated_at, ts);
    if (cJSON_AddNumberToObject(o, "version", FEED_VERSION) == NULL ||
        cJSON_AddStringToObject(o, "generated_at", ts) == NULL ||
        cJSON_AddStringToObject(o, "timezone", CLOCK_TZ_NAME) == NULL ||
        cJSON_AddStringToObject(o, "id", c->id) == NULL)
        goto oom;
    clock_format_date(from, ds);
    if (cJSON_AddStringToObject(o, "from", ds) == NULL)
        goto oom;
    clock_format_date(to, ds);
    if (cJSON_AddStringToObject(o, "to", ds) == NULL ||
        cJSON_AddStringToObject(o, "web_booking",
                                collector_web_name(in->web)) == NULL ||
        cJSON_AddStringToObject(o, "status",
                                in->status == CLINIC_OK      ? "ok"
                                : in->status == CLINIC_STALE ? "stale"
                                                             : "error") == NULL)
        goto oom;
    if (in->within < 0) {
        /* Unknown availability: null, never an empty list. */
        if (cJSON_AddNullToObject(o, "slots") == NULL)
            goto oom;
    } else {
        if ((arr = cJSON_AddArrayToObject(o, "slots")) == NULL)
            goto oom;
        for (i = 0; i < in->slots.n; i++) {
            const struct avail_slot *sl = &in->slots.v[i];
            int32_t d = clock_local_day(sl->start);
            const char *url = sl->booking_url  ? sl->booking_url
                              : c->has_booking ? c->booking.booking_url
                                               : NULL;
            char hhmm[6];
            cJSON *e;

            if (d < from || d > to)
                continue;
            if ((e = cJSON_CreateObject()) == NULL)
                goto oom;
            cJSON_AddItemToArray(arr, e);
            clock_format_date(d, ds);
            clock_format_hhmm(sl->start, hhmm);
            if (cJSON_AddStringToObject(e, "date", ds) == NULL)
                goto oom;
            clock_format_rfc3339(sl->start, ts);
            if (cJSON_AddStringToObject(e, "start", ts) == NULL)
                goto oom;
            clock_format_rfc3339(sl->end, ts);
            if (cJSON_AddStringToObject(e, "end", ts) == NULL ||
                cJSON_AddStringToObject(e, "time", hhmm) == NULL ||
                (sl->practitioner
                     ? cJSON_AddStringToObject(e, "practitioner",
                                               sl->practitioner)
                     : cJSON_AddNullToObject(e, "practitioner")) == NULL ||
                (sl->service
                     ? cJSON_AddStringToObject(e, "service", sl->service)
                     : cJSON_AddNullToObject(e, "service")) == NULL ||
                (url ? cJSON_AddStringToObject(e, "booking_url", url)
                     : cJSON_AddNullToObject(e, "booking_url")) == NULL)
                goto oom;
        }
    }
    if ((doc->json = cJSON_PrintUnformatted(o)) == NULL)
        goto oom;
    cJSON_Delete(o);
    doc->len = strlen(doc->json);
    doc_etag(doc->json, doc->len, doc->etag);
    return 0;
oom:
    cJSON_Delete(o);
    sf_error_set(err, SF_ERR_NOMEM, "out of memory");
    return -1;
}

/* --- cache -------------------------------------------------------------------- */

struct api_cache {
    struct api_entry **v;
    size_t n, max;
    uint64_t serial;
};

struct api_cache *api_cache_new(size_t max)
{
    struct api_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->max = max > 0 ? max : 1;
    if ((c->v = calloc(c->max, sizeof(*c->v))) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void api_entry_unref(struct api_entry *e)
{
    if (e == NULL || --e->refs > 0)
        return;
    free(e->plain.json);
    free(e->gz.json);
    free(e->key);
    free(e);
}

static void cache_drop_all(struct api_cache *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        api_entry_unref(c->v[i]);
    c->n = 0;
}

void api_cache_free(struct api_cache *c)
{
    if (c == NULL)
        return;
    cache_drop_all(c);
    free(c->v);
    free(c);
}

struct api_entry *api_cache_find(struct api_cache *c, uint64_t serial,
                                 const char *key)
{
    size_t i;

    if (c->serial != serial) {
        cache_drop_all(c);
        c->serial = serial;
    }
    for (i = 0; i < c->n; i++)
        if (strcmp(c->v[i]->key, key) == 0) {
            c->v[i]->refs++;
            return c->v[i];
        }
    return NULL;
}

void api_cache_put(struct api_cache *c, struct api_entry *e)
{
    if (c->n == c->max) {
        api_entry_unref(c->v[0]);
        memmove(&c->v[0], &c->v[1], (c->max - 1) * sizeof(c->v[0]));
        c->n--;
    }
    c->v[c->n++] = e;
    e->refs++;
}

struct api_entry *api_cache_get(struct api_cache *c,
                                const struct feed_snapshot *s,
                                const struct geo_table *geo,
                                const struct api_filter *f, bool want_gz)
{
    struct api_entry *e = api_cache_find(c, s->serial, f->key);

    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL)
            return NULL;
        e->refs = 1;
        e->changed_at = s->changed_at;
        if ((e->key = strdup(f->key)) == NULL ||
            api_filter_build(s, geo, f, &e->plain) != 0) {
            api_entry_unref(e);
            return NULL;
        }
        if (f->key[0] != '\x01')
            api_cache_put(c, e);
    }
    if (want_gz && e->gz.json == NULL &&
        doc_gzip(e->plain.json, e->plain.len, e->plain.etag, &e->gz) != 0) {
        api_entry_unref(e);
        return NULL;
    }
    return e;
}

/* --- Accept-Encoding ------------------------------------------------------ */

/* q-value: "q=0", "q=0.5", "q=1.000"; -1 when malformed. */
static double qvalue(const char *p, size_t n)
{
    char tmp[16];
    char *end;
    double q;

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!isdigit((unsigned char)tmp[0]))
        return -1;
    q = strtod(tmp, &end);
    if (*end != '\0' || q < 0 || q > 1)
        return -1;
    return q;
}

bool api_accepts_gzip(const char *ae)
{
    double q_gzip = -1, q_star = -1;
    const char *p = ae;

    if (ae == NULL)
        return false;
    while (*p != '\0') {
        const char *e = strchr(p, ','), *semi;
        size_t len = e ? (size_t)(e - p) : strlen(p), tl;
        const char *tok = p;
        double q = 1;

        while (len > 0 && (*tok == ' ' || *tok == '\t'))
            tok++, len--;
        semi = memchr(tok, ';', len);
        tl = semi ? (size_t)(semi - tok) : len;
        while (tl > 0 && (tok[tl - 1] == ' ' || tok[tl - 1] == '\t'))
            tl--;
        if (semi != NULL) {
            /* Parameters: only q matters; anything odd makes it 0. */
            const char *a = semi + 1, *end = tok + len;
            while (a < end && (*a == ' ' || *a == '\t'))
                a++;
            if (end - a >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=') {
                size_t ql = (size_t)(end - a - 2);
                while (ql > 0 &&
                       (a[2 + ql - 1] == ' ' || a[2 + ql - 1] == '\t'))
                    ql--;
                q = qvalue(a + 2, ql);
            } else {
                q = -1;
            }
            if (q < 0)
                q = 0;
        }
        if ((tl == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            q_gzip = q;
        else if (tl == 1 && tok[0] == '*')
            q_star = q;
        if (e == NULL)
            break;
        p = e + 1;
    }
    if (q_gzip >= 0)
        return q_gzip > 0;
    return q_star > 0;
}

/* --- reports ------------------------------------------------------------------ */

bool api_report_path(const char *path)
{
    return path != NULL &&
           strncmp(path, API_REPORT_PREFIX, sizeof(API_REPORT_PREFIX) - 1) == 0;
}

/* api_report_parse: the first parameter named like p->v[i] before it, if
 * any (the strict rule of the other routes: a name at most once). */
static bool param_repeated(const struct api_params *p, size_t i)
{
    size_t j;

    for (j = 0; j < i; j++)
        if (strcmp(p->v[j].name, p->v[i].name) == 0)
            return true;
    return false;
}

/* api_report_parse: one parameter into rq; from, to and month are only
 * noted (checked once all are seen). 0 or -1 with err. */
static int report_param(const char *k, const char *v, struct report_request *rq,
                        const char **from, const char **to, const char **month,
                        struct sf_error *err)
{
    struct report_params *p = &rq->p;
    bool web = p->kind == REPORT_WEB_BOOKING;

    if (strcmp(k, "from") == 0 && web)
        *from = v;
    else if (strcmp(k, "to") == 0 && web)
        *to = v;
    else if (strcmp(k, "per") == 0 && web)
        return report_parse_per(v, &p->per, err);
    else if (strcmp(k, "month") == 0 && !web)
        *month = v;
    else if (strcmp(k, "by") == 0)
        return report_parse_by(v, &p->by, err);
    else if (strcmp(k, "hours") == 0)
        return report_parse_hours(v, p, err);
    else if (strcmp(k, "format") == 0)
        return report_parse_format(v, &rq->fmt, err);
    else {
        sf_error_set(err, SF_ERR_CONFIG, "unknown parameter \"%.40s\"", k);
        return -1;
    }
    return 0;
}

int api_report_parse(const char *path, const struct api_params *p,
                     const char *accept, struct report_request *rq,
                     struct sf_error *err)
{
    const char *from = NULL, *to = NULL, *month = NULL;
    size_t i;

    report_params_init(&rq->p);
    rq->fmt = REPORT_FMT_JSON;
    if (strcmp(path, API_REPORT_PREFIX "web-booking") == 0)
        rq->p.kind = REPORT_WEB_BOOKING;
    else if (strcmp(path, API_REPORT_PREFIX "guarantee") == 0)
        rq->p.kind = REPORT_GUARANTEE;
    else {
        sf_error_set(err, SF_ERR_CONFIG, "reports: web-booking, guarantee");
        return 404;
    }
    if (accept != NULL && strstr(accept, "text/csv") != NULL)
        rq->fmt = REPORT_FMT_CSV;
    for (i = 0; i < p->n; i++) {
        if (param_repeated(p, i)) {
            sf_error_set(err, SF_ERR_CONFIG, "%s: given twice", p->v[i].name);
            return 400;
        }
        if (report_param(p->v[i].name, p->v[i].value, rq, &from, &to, &month,
                         err) != 0)
            return 400;
    }
    if (rq->p.kind == REPORT_GUARANTEE)
        return report_parse_month(month, &rq->p.from_day, &rq->p.to_day, err) !=
                       0
                   ? 400
                   : 0;
    if (from == NULL || to == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "from and to are required "
                     "(YYYY-MM-DD)");
        return 400;
    }
    if (clock_parse_date(from, &rq->p.from_day) != 0 ||
        clock_parse_date(to, &rq->p.to_day) != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "from/to: want YYYY-MM-DD");
        return 400;
    }
    return 0;
}
