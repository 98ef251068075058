/*
 * geo.c - place table for near= (see geo.h): load with cJSON, resolve
 * names and postcodes, haversine distance.
 *
 * The table is small (tens of places), so lookups are linear scans; the
 * strings are copied into the table, which owns them.
 */
#include "slotfeed/geo.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/sbuf.h"

#define GEO_EARTH_KM 6371.0
#define GEO_PI 3.14159265358979323846

struct geo_place {
    char *name;
    char *municipality; /* localities only; may be NULL */
    struct geo_point pt;
};

struct geo_postcode {
    char prefix[4];
    const struct geo_place *place; /* a locality of the table */
};

struct geo_table {
    struct geo_place *mun, *loc;
    size_t nmun, nloc;
    struct geo_postcode *pc;
    size_t npc;
};

/* --- names ---------------------------------------------------------------- */

/*
 * Next folded code unit of a UTF-8 string: ASCII upper -> lower, and the
 * two-byte sequences C3 80..C3 9E (U+00C0..U+00DE, except U+00D7 the
 * multiplication sign) -> C3 A0..C3 BE. Returns bytes consumed (1 or 2);
 * *out gets a value comparable across strings.
 */
static size_t fold_next(const unsigned char *p, size_t left, unsigned *out)
{
    if (left >= 2 && p[0] == 0xC3 && p[1] >= 0x80 && p[1] <= 0xBF) {
        unsigned c = p[1];
        if (c <= 0x9E && c != 0x97)
            c += 0x20;
        *out = 0xC300u | c;
        return 2;
    }
    *out = (unsigned)tolower(p[0]);
    return 1;
}

bool geo_name_equal_n(const char *a, size_t alen, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    size_t blen = strlen(b), i = 0, j = 0;

    while (i < alen && j < blen) {
        unsigned cx, cy;

        i += fold_next(x + i, alen - i, &cx);
        j += fold_next(y + j, blen - j, &cy);
        if (cx != cy)
            return false;
    }
    return i == alen && j == blen;
}

bool geo_name_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    return geo_name_equal_n(a, strlen(a), b);
}

/* --- loading -------------------------------------------------------------- */

static void table_free_places(struct geo_place *v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i].name);
        free(v[i].municipality);
    }
    free(v);
}

void geo_free(struct geo_table *t)
{
    if (t == NULL)
        return;
    table_free_places(t->mun, t->nmun);
    table_free_places(t->loc, t->nloc);
    free(t->pc);
    free(t);
}

static const struct geo_place *find_place(const struct geo_place *v, size_t n,
                                          const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (geo_name_equal_n(name, len, v[i].name))
            return &v[i];
    return NULL;
}

/* Parse arr (key at $.key) into a place array. 0 or -1 with err. */
static int parse_places(const cJSON *root, const char *key, bool locality,
                        const char *name, struct geo_place **out, size_t *n,
                        struct sf_error *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, key), *it;
    size_t i = 0;

    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr)) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: $.%s: want an array", name, key);
        return -1;
    }
    if (cJSON_GetArraySize(arr) == 0)
        return 0;
    if ((*out = calloc((size_t)cJSON_GetArraySize(arr), sizeof(**out))) ==
        NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", name);
        return -1;
    }
    cJSON_ArrayForEach(it, arr) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(it, "lat");
        const cJSON *lon = cJSON_GetObjectItemCaseSensitive(it, "lon");
        const cJSON *mu = cJSON_GetObjectItemCaseSensitive(it, "municipality");
        struct geo_place *p = &(*out)[i];

        if (!cJSON_IsString(nm) || nm->valuestring[0] == '\0' ||
            strlen(nm->valuestring) > GEO_NAME_MAX) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.%s[%zu].name: want a "
                         "string of 1..%d bytes",
                         name, key, i, GEO_NAME_MAX);
            return -1;
        }
        if (!cJSON_IsNumber(lat) || !cJSON_IsNumber(lon) ||
            !(lat->valuedouble >= -90 && lat->valuedouble <= 90) ||
            !(lon->valuedouble >= -180 && lon->valuedouble <= 180)) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.%s[%zu]: want lat in "
                         "[-90,90] and lon in [-180,180]",
                         name, key, i);
            return -1;
        }
        if (locality && mu != NULL && !cJSON_IsString(mu)) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.%s[%zu].municipality: "
                         "want a string",
                         name, key, i);
            return -1;
        }
        if (find_place(*out, i, nm->valuestring, strlen(nm->valuestring)) !=
            NULL) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.%s[%zu].name: \"%s\" "
                         "listed twice",
                         name, key, i, nm->valuestring);
            return -1;
        }
        p->pt.lat = lat->valuedouble;
        p->pt.lon = lon->valuedouble;
        if ((p->name = strdup(nm->valuestring)) == NULL ||
            (locality && cJSON_IsString(mu) &&
             (p->municipality = strdup(mu->valuestring)) == NULL)) {
            *n = i + 1;
            sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", name);
            return -1;
        }
        *n = ++i;
    }
    return 0;
}

static int parse_postcodes(const cJSON *root, const char *name,
                           struct geo_table *t, struct sf_error *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "postcodes");
    const cJSON *it;
    size_t i = 0;

    if (arr == NULL)
        return 0;
    if (!cJSON_IsArray(arr)) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: $.postcodes: want an array",
                     name);
        return -1;
    }
    if (cJSON_GetArraySize(arr) == 0)
        return 0;
    if ((t->pc = calloc((size_t)cJSON_GetArraySize(arr), sizeof(*t->pc))) ==
        NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", name);
        return -1;
    }
    cJSON_ArrayForEach(it, arr) {
        const cJSON *pf = cJSON_GetObjectItemCaseSensitive(it, "prefix");
        const cJSON *lo = cJSON_GetObjectItemCaseSensitive(it, "locality");
        const char *s = cJSON_IsString(pf) ? pf->valuestring : "";
        size_t k;

        if (strlen(s) != 3 || !isdigit((unsigned char)s[0]) ||
            !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2])) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.postcodes[%zu].prefix: "
                         "want 3 digits",
                         name, i);
            return -1;
        }
        for (k = 0; k < i; k++)
            if (strcmp(t->pc[k].prefix, s) == 0) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "%s: $.postcodes[%zu]."
                             "prefix: %s listed twice",
                             name, i, s);
                return -1;
            }
        if (!cJSON_IsString(lo) ||
            (t->pc[i].place = find_place(t->loc, t->nloc, lo->valuestring,
                                         strlen(lo->valuestring))) == NULL) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "%s: $.postcodes[%zu].locality:"
                         " want the name of one of $.localities",
                         name, i);
            return -1;
        }
        memcpy(t->pc[i].prefix, s, 4);
        t->npc = ++i;
    }
    return 0;
}

struct geo_table *geo_parse(const char *text, size_t len, const char *name,
                            struct sf_error *err)
{
    struct geo_table *t = NULL;
    cJSON *root;

    if (name == NULL)
        name = "geo";
    if (text == NULL || (root = cJSON_ParseWithLength(text, len)) == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: not valid JSON", name);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: $: want an object", name);
        goto fail;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    if (parse_places(root, "municipalities", false, name, &t->mun, &t->nmun,
                     err) != 0 ||
        parse_places(root, "localities", true, name, &t->loc, &t->nloc, err) !=
            0 ||
        parse_postcodes(root, name, t, err) != 0)
        goto fail;
    cJSON_Delete(root);
    return t;
fail:
    cJSON_Delete(root);
    geo_free(t);
    return NULL;
}

struct geo_table *geo_load(const char *path, struct sf_error *err)
{
    struct geo_table *t = NULL;
    struct sbuf b = { 0 };

    if (path == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "(null): cannot open: %s",
                     strerror(ENOENT));
        return NULL;
    }
    switch (sbuf_read_file(&b, path, (size_t)GEO_FILE_MAX, NULL)) {
    case SBUF_READ_OK:
        t = geo_parse(b.p, b.len, path, err);
        sbuf_free(&b);
        break;
    case SBUF_READ_OPEN:
        sf_error_set(err, SF_ERR_CONFIG, "%s: cannot open: %s", path,
                     strerror(errno));
        break;
    case SBUF_READ_NOMEM:
        sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", path);
        break;
    case SBUF_READ_TOO_LARGE:
        sf_error_set(err, SF_ERR_CONFIG, "%s: larger than %ld bytes", path,
                     GEO_FILE_MAX);
        break;
    case SBUF_READ_DIR:
    case SBUF_READ_IO:
        sf_error_set(err, SF_ERR_CONFIG, "%s: read error", path);
        break;
    }
    return t;
}

/* --- lookups -------------------------------------------------------------- */

/* "65224" or "652 24" (one blank after the third digit) -> prefix. */
static bool postcode_prefix(const char *s, size_t len, char prefix[4])
{
    char d[5];
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (isdigit((unsigned char)s[i]) && n < 5)
            d[n++] = s[i];
        else if (!(s[i] == ' ' && i == 3 && n == 3))
            return false;
    }
    if (n != 5)
        return false;
    memcpy(prefix, d, 3);
    prefix[3] = '\0';
    return true;
}

int geo_resolve(const struct geo_table *t, const char *q, struct geo_point *out,
                const char **label, struct sf_error *err)
{
    const struct geo_place *p = NULL;
    char prefix[4];
    size_t len, i;

    if (t == NULL || q == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "near is not available");
        return -1;
    }
    while (*q == ' ' || *q == '\t')
        q++;
    len = strlen(q);
    while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\t'))
        len--;
    if (len == 0) {
        sf_error_set(err, SF_ERR_CONFIG, "near: empty value");
        return -1;
    }
    if (isdigit((unsigned char)q[0])) {
        if (!postcode_prefix(q, len, prefix)) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "near: \"%.*s\" is not a "
                         "postcode (5 digits, e.g. 652 24)",
                         (int)(len > 40 ? 40 : len), q);
            return -1;
        }
        for (i = 0; i < t->npc; i++)
            if (strcmp(t->pc[i].prefix, prefix) == 0)
                p = t->pc[i].place;
        if (p == NULL) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "near: postcode %.*s is not "
                         "in the region's table",
                         (int)len, q);
            return -1;
        }
    } else if ((p = find_place(t->loc, t->nloc, q, len)) == NULL &&
               (p = find_place(t->mun, t->nmun, q, len)) == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "near: \"%.*s\" is not a known "
                     "municipality, locality or postcode",
                     (int)(len > GEO_NAME_MAX ? GEO_NAME_MAX : len), q);
        return -1;
    }
    *out = p->pt;
    if (label != NULL)
        *label = p->name;
    return 0;
}

bool geo_place(const struct geo_table *t, const char *municipality,
               const char *locality, struct geo_point *out)
{
    const struct geo_place *p = NULL;

    if (t == NULL)
        return false;
    if (locality != NULL)
        p = find_place(t->loc, t->nloc, locality, strlen(locality));
    if (p == NULL && municipality != NULL)
        p = find_place(t->mun, t->nmun, municipality, strlen(municipality));
    if (p == NULL)
        return false;
    *out = p->pt;
    return true;
}

double geo_distance_km(struct geo_point a, struct geo_point b)
{
    double r = GEO_PI / 180.0;
    double dlat = (b.lat - a.lat) * r, dlon = (b.lon - a.lon) * r;
    double h = sin(dlat / 2) * sin(dlat / 2) +
               cos(a.lat * r) * cos(b.lat * r) * sin(dlon / 2) * sin(dlon / 2);

    if (h > 1.0)
        h = 1.0;
    return 2.0 * GEO_EARTH_KM * asin(sqrt(h));
}

size_t geo_count_municipalities(const struct geo_table *t)
{
    return t != NULL ? t->nmun : 0;
}

size_t geo_count_localities(const struct geo_table *t)
{
    return t != NULL ? t->nloc : 0;
}

size_t geo_count_postcodes(const struct geo_table *t)
{
    return t != NULL ? t->npc : 0;
}
