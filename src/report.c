/*
 * report.c - web-booking exposure and care-guarantee reports computed from
 * the history store (store.h SCHEMA), read-only. docs/compliance-method.md
 * is the definition of every figure; the comments here say how the code
 * maps to it.
 *
 * One read transaction per report, so the figures come from one
 * consistent snapshot of the file while the daemon keeps writing (WAL).
 * Per clinic the poll runs of the period are read through the
 * (clinic_id, t_first) index, so a month of 1,000 clinics is one indexed
 * range scan per clinic.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "slotfeed/clock.h"
#include "slotfeed/report.h"
#include "slotfeed/store.h"

/* Coverage below this marks a clinic's month "not reliable". */
#define REPORT_RELIABLE_COVERAGE 0.9
#define REPORT_PASSED_LOOKBACK_DAYS 31

/* --- small helpers -------------------------------------------------------- */

void report_params_init(struct report_params *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = REPORT_WEB_BOOKING;
    p->by = REPORT_BY_NONE;
    p->per = REPORT_PER_DAY;
    p->open_from_min = REPORT_DEFAULT_OPEN_FROM_MIN;
    p->open_to_min = REPORT_DEFAULT_OPEN_TO_MIN;
    p->open_days_mask = REPORT_WEEKDAYS_MASK;
}

static const char *const by_names[] = { "none", "municipality", "operator",
                                        "clinic" };

const char *report_by_name(enum report_by by)
{
    return (unsigned)by < 4 ? by_names[by] : "none";
}

int report_parse_by(const char *s, enum report_by *out, struct sf_error *err)
{
    int i;

    for (i = 0; i < 4; i++)
        if (s != NULL && strcmp(s, by_names[i]) == 0) {
            *out = (enum report_by)i;
            return 0;
        }
    sf_error_set(err, SF_ERR_CONFIG,
                 "by \"%.40s\": want municipality, "
                 "operator or clinic",
                 s ? s : "");
    return -1;
}

int report_parse_per(const char *s, enum report_per *out, struct sf_error *err)
{
    if (s != NULL && strcmp(s, "day") == 0)
        *out = REPORT_PER_DAY;
    else if (s != NULL && strcmp(s, "week") == 0)
        *out = REPORT_PER_WEEK;
    else if (s != NULL && strcmp(s, "month") == 0)
        *out = REPORT_PER_MONTH;
    else {
        sf_error_set(err, SF_ERR_CONFIG,
                     "per \"%.40s\": want day, week or "
                     "month",
                     s ? s : "");
        return -1;
    }
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int report_parse_month(const char *s, int32_t *first, int32_t *last,
                       struct sf_error *err)
{
    int y, m;

    if (s == NULL || strlen(s) != 7 || s[4] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2))
        goto bad;
    y = atoi(s);
    m = atoi(s + 5);
    if (y < 1970 || y > 9999 || m < 1 || m > 12)
        goto bad;
    *first = clock_days_from_civil(y, m, 1);
    *last = *first + clock_days_in_month(y, m) - 1;
    return 0;
bad:
    sf_error_set(err, SF_ERR_CONFIG,
                 "month \"%.40s\": want YYYY-MM, e.g. "
                 "2026-03",
                 s ? s : "");
    return -1;
}

static int parse_hhmm(const char *s, int *min)
{
    int h, m;

    if (!all_digits(s, 2) || s[2] != ':' || !all_digits(s + 3, 2))
        return -1;
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    *min = h * 60 + m;
    return 0;
}

int report_parse_hours(const char *s, struct report_params *p,
                       struct sf_error *err)
{
    int a, b;

    if (s == NULL || strlen(s) != 11 || s[5] != '-' || parse_hhmm(s, &a) != 0 ||
        parse_hhmm(s + 6, &b) != 0 || b <= a) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "hours \"%.40s\": want HH:MM-HH:MM "
                     "with the end after the start, e.g. 08:00-17:00",
                     s ? s : "");
        return -1;
    }
    p->open_from_min = a;
    p->open_to_min = b;
    return 0;
}

/* Instant of local wall time `min` minutes into local date `day`. A time
 * in March's skipped hour is taken one hour later (it does not exist). */
static int64_t local_at(int32_t day, int min)
{
    struct clock_civil c = { 0 };
    int64_t t;

    if (min >= 24 * 60)
        return clock_day_start(day + 1);
    clock_civil_from_days(day, &c.year, &c.month, &c.day);
    c.hour = min / 60;
    c.min = min % 60;
    if (clock_from_local(&c, &t) >= 0)
        return t;
    c.hour++;
    if (c.hour < 24 && clock_from_local(&c, &t) >= 0)
        return t;
    return clock_day_start(day) + (int64_t)min * 60;
}

static double round4(double x)
{
    return floor(x * 10000.0 + 0.5) / 10000.0;
}

/* ISO 8601 week label "2026-W09" and the Monday of day's week. */
static void iso_week(int32_t day, char buf[16], int32_t *monday)
{
    int32_t thu = day + (4 - clock_weekday(day));
    int y, m, d, week;

    clock_civil_from_days(thu, &y, &m, &d);
    week = (int)((thu - clock_days_from_civil(y, 1, 1)) / 7) + 1;
    snprintf(buf, 16, "%04d-W%02d", y, week);
    *monday = day - (clock_weekday(day) - 1);
}

/* --- database ------------------------------------------------------------- */

int report_db_open(const char *path, sqlite3 **out, struct sf_error *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    long appid = 0, ver = 0;
    int rc;

    *out = NULL;
    if (path == NULL || *path == '\0') {
        sf_error_set(err, SF_ERR_CONFIG,
                     "no store: give --db PATH or a "
                     "config with a \"store\" key");
        return -1;
    }
    if (stat(path, &sb) != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: not a regular file", path);
        return -1;
    }
    /* Read-only, never created; WAL readers need no write access to the
     * main file as long as the -shm exists (the daemon keeps it). */
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: %s", path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: %s", path,
                     sqlite3_errmsg(db));
        goto fail;
    }
    appid = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: %s", path,
                     sqlite3_errmsg(db));
        goto fail;
    }
    ver = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (appid != STORE_APPLICATION_ID) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: not a slotfeed store "
                     "(application_id %ld)",
                     path, appid);
        goto fail;
    }
    if (ver != STORE_SCHEMA_VERSION) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: schema version %ld, this"
                     " build reads %d",
                     path, ver, STORE_SCHEMA_VERSION);
        goto fail;
    }
    *out = db;
    return 0;
fail:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return -1;
}

struct rclinic {
    int64_t id;
    char *hsa, *name, *muni, *op;
    int has_booking;
    int64_t first_seen, last_seen;
};

struct rctx {
    sqlite3 *db;
    const struct report_params *p;
    struct sf_error *err;
    struct rclinic *c;
    size_t nc;
    int64_t max_last_seen;
    int64_t now;
    /* Local midnights from from_day - DAYS_PAD on: clock_local_day() of
     * the instants a report meets, without the DST rule each time. */
    int64_t *mid;
    int32_t mid_day0;
    size_t nmid;
    int64_t *open_a, *open_b; /* open window of each day; a == b: none */
};

#define DAYS_PAD 3
#define DAYS_AHEAD 40 /* first free slots lie up to the horizon ahead */

static int day_cache_init(struct rctx *x)
{
    size_t i, n = (size_t)(x->p->to_day - x->p->from_day) + 1 + DAYS_PAD +
                  DAYS_AHEAD + 1;

    if ((x->mid = malloc(n * sizeof(*x->mid))) == NULL)
        return -1;
    x->mid_day0 = x->p->from_day - DAYS_PAD;
    for (i = 0; i < n; i++)
        x->mid[i] = clock_day_start(x->mid_day0 + (int32_t)i);
    x->nmid = n;
    n = (size_t)(x->p->to_day - x->p->from_day) + 1;
    if ((x->open_a = calloc(n, sizeof(*x->open_a))) == NULL ||
        (x->open_b = calloc(n, sizeof(*x->open_b))) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        int32_t day = x->p->from_day + (int32_t)i;

        if (x->p->open_days_mask & (1u << clock_weekday(day))) {
            x->open_a[i] = local_at(day, x->p->open_from_min);
            x->open_b[i] = local_at(day, x->p->open_to_min);
        }
    }
    return 0;
}

/* clock_local_day(t), by binary search over the cached midnights. */
static int32_t local_day(const struct rctx *x, int64_t t)
{
    size_t lo = 0, hi;

    if (x->nmid < 2 || t < x->mid[0] || t >= x->mid[x->nmid - 1])
        return clock_local_day(t);
    hi = x->nmid - 1; /* mid[lo] <= t < mid[hi] */
    while (hi - lo > 1) {
        size_t m = (lo + hi) / 2;

        if (t >= x->mid[m])
            lo = m;
        else
            hi = m;
    }
    return x->mid_day0 + (int32_t)lo;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);

    return strdup(s ? (const char *)s : "");
}

static void clinics_free(struct rctx *x)
{
    size_t i;

    for (i = 0; i < x->nc; i++) {
        free(x->c[i].hsa);
        free(x->c[i].name);
        free(x->c[i].muni);
        free(x->c[i].op);
    }
    free(x->c);
    x->c = NULL;
    x->nc = 0;
}

static int db_fail(struct rctx *x, const char *what)
{
    sf_error_set(x->err, SF_ERR_INTERNAL, "store: %s: %s", what,
                 sqlite3_errmsg(x->db));
    return -1;
}

static int load_clinics(struct rctx *x)
{
    static const char sql[] =
        "SELECT id, hsa_id, name, municipality, operator, has_booking,"
        " first_seen, last_seen FROM clinic ORDER BY name, hsa_id";
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    struct rclinic *nv;
    int rc;

    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(x, "clinics");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct rclinic *c;

        if (x->nc == cap) {
            cap = cap ? cap * 2 : 64;
            if ((nv = realloc(x->c, cap * sizeof(*nv))) == NULL)
                goto oom;
            x->c = nv;
        }
        c = &x->c[x->nc];
        c->id = sqlite3_column_int64(st, 0);
        c->hsa = col_dup(st, 1);
        c->name = col_dup(st, 2);
        c->muni = col_dup(st, 3);
        c->op = col_dup(st, 4);
        x->nc++;
        if (!c->hsa || !c->name || !c->muni || !c->op)
            goto oom;
        c->has_booking = sqlite3_column_int(st, 5) != 0;
        c->first_seen = sqlite3_column_int64(st, 6);
        c->last_seen = sqlite3_column_int64(st, 7);
        if (c->last_seen > x->max_last_seen)
            x->max_last_seen = c->last_seen;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(x, "clinics");
    return 0;
oom:
    sqlite3_finalize(st);
    sf_error_set(x->err, SF_ERR_NOMEM, "report: out of memory");
    return -1;
}

static const char *group_key(const struct rclinic *c, enum report_by by)
{
    switch (by) {
    case REPORT_BY_MUNICIPALITY:
        return c->muni;
    case REPORT_BY_OPERATOR:
        return c->op;
    case REPORT_BY_CLINIC:
        return c->hsa;
    default:
        return "all";
    }
}

/* Distinct group keys in first-seen order of the sorted clinic list, then
 * sorted by name (municipality / operator) so the output is stable. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char **group_keys(const struct rctx *x, size_t *n)
{
    const char **k = calloc(x->nc + 1, sizeof(*k));
    size_t i, j, m = 0;

    if (k == NULL)
        return NULL;
    for (i = 0; i < x->nc; i++) {
        const char *s = group_key(&x->c[i], x->p->by);

        for (j = 0; j < m; j++)
            if (strcmp(k[j], s) == 0)
                break;
        if (j == m)
            k[m++] = s;
    }
    if (x->p->by != REPORT_BY_CLINIC)
        qsort(k, m, sizeof(*k), cmp_str);
    *n = m;
    return k;
}

static long key_index(const char **keys, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(keys[i], s) == 0)
            return (long)i;
    return -1;
}

/*
 * cJSON returns NULL when an allocation fails. Each helper adds one member
 * and returns 0, or -1 then, so a chain of them joined with || fails the
 * whole report (SF_ERR_NOMEM) instead of publishing it without the field.
 */
static int j_str(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v) != NULL ? 0 : -1;
}

static int j_num(cJSON *o, const char *k, double v)
{
    return cJSON_AddNumberToObject(o, k, v) != NULL ? 0 : -1;
}

static int j_null(cJSON *o, const char *k)
{
    return cJSON_AddNullToObject(o, k) != NULL ? 0 : -1;
}

static int j_bool(cJSON *o, const char *k, int v)
{
    return cJSON_AddBoolToObject(o, k, v) != NULL ? 0 : -1;
}

/* A new empty object appended to arr (owned by arr); NULL when out of
 * memory. */
static cJSON *j_push_obj(cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        o = NULL;
    }
    return o;
}

/* The common head of every report; NULL when out of memory. */
static cJSON *doc_head(const struct rctx *x, const char *kind)
{
    cJSON *d = cJSON_CreateObject(), *oh;
    char a[CLOCK_DATE_LEN], b[CLOCK_DATE_LEN], ts[CLOCK_RFC3339_LEN];
    char hh[6];
    int i, first = 1;
    static const char *const wd[] = { "",    "mon", "tue", "wed",
                                      "thu", "fri", "sat", "sun" };
    char days[40] = "";

    if (d == NULL)
        return NULL;
    clock_format_date(x->p->from_day, a);
    clock_format_date(x->p->to_day, b);
    clock_format_rfc3339(x->now, ts);
    if (j_str(d, "report", kind) || j_str(d, "from", a) || j_str(d, "to", b) ||
        j_str(d, "by", report_by_name(x->p->by)) ||
        j_str(d, "generated_at", ts) || j_str(d, "timezone", CLOCK_TZ_NAME) ||
        (oh = cJSON_AddObjectToObject(d, "open_hours")) == NULL)
        goto oom;
    snprintf(hh, sizeof(hh), "%02d:%02d", x->p->open_from_min / 60,
             x->p->open_from_min % 60);
    if (j_str(oh, "from", hh))
        goto oom;
    snprintf(hh, sizeof(hh), "%02d:%02d", x->p->open_to_min / 60,
             x->p->open_to_min % 60);
    if (j_str(oh, "to", hh))
        goto oom;
    for (i = 1; i <= 7; i++)
        if (x->p->open_days_mask & (1u << i)) {
            strcat(days, first ? "" : ",");
            strcat(days, wd[i]);
            first = 0;
        }
    if (j_str(oh, "days", days))
        goto oom;
    return d;
oom:
    cJSON_Delete(d);
    return NULL;
}

/* num / den rounded, or null when there is nothing to divide by. */
static int add_share(cJSON *o, const char *k, double num, double den)
{
    return den > 0 ? j_num(o, k, round4(num / den)) : j_null(o, k);
}

/* --- web-booking report ------------------------------------------------- */

enum {
    WF_ROSTER = 1,  /* in the roster that day */
    WF_POLLED = 2,  /* at least one poll run that day */
    WF_OPEN = 4,    /* some poll said web = open */
    WF_NOTOPEN = 8, /* some poll said otherwise */
    WF_NONE = 16,   /* some poll said web = none (not connected) */
    WF_UNREACH = 32 /* some poll said unreachable */
};

struct wcount {
    long clinics, observed, open, open_all;
};

static int wcount_json(cJSON *o, const struct wcount *w)
{
    return j_num(o, "clinics", (double)w->clinics) ||
                   j_num(o, "observed", (double)w->observed) ||
                   j_num(o, "open", (double)w->open) ||
                   j_num(o, "open_all", (double)w->open_all) ||
                   add_share(o, "share", (double)w->open, (double)w->clinics) ||
                   add_share(o, "share_all", (double)w->open_all,
                             (double)w->clinics)
               ? -1
               : 0;
}

/* One period [a, b] (indexes into the day range) as a JSON object. */
static int web_period(const struct rctx *x, const unsigned char *fl, int32_t nd,
                      int32_t a, int32_t b, const char *label,
                      const char **keys, size_t nkeys, cJSON *periods)
{
    struct wcount tot = { 0 }, *g = NULL;
    cJSON *o = cJSON_CreateObject(), *ga;
    char da[CLOCK_DATE_LEN], db[CLOCK_DATE_LEN];
    size_t i, k;
    int32_t d;

    if (o == NULL || (g = calloc(nkeys + 1, sizeof(*g))) == NULL)
        goto oom;
    for (i = 0; i < x->nc; i++) {
        int roster = 0, polled = 0, open = 0, all = 1;
        long gi;

        for (d = a; d <= b; d++) {
            unsigned f = fl[i * (size_t)nd + (size_t)d];

            if (!(f & WF_ROSTER))
                continue;
            roster = 1;
            polled |= (f & WF_POLLED) != 0;
            open |= (f & WF_OPEN) != 0;
            if (!(f & WF_OPEN) || (f & WF_NOTOPEN))
                all = 0;
        }
        if (!roster)
            continue;
        gi = key_index(keys, nkeys, group_key(&x->c[i], x->p->by));
        for (k = 0; k < 2; k++) {
            struct wcount *w = k == 0 ? &tot : gi >= 0 ? &g[gi] : NULL;

            if (w == NULL)
                continue;
            w->clinics++;
            w->observed += polled;
            w->open += open;
            w->open_all += open && all;
        }
    }
    clock_format_date(x->p->from_day + a, da);
    clock_format_date(x->p->from_day + b, db);
    if (j_str(o, "period", label) || j_str(o, "from", da) ||
        j_str(o, "to", db) || wcount_json(o, &tot))
        goto oom;
    if (x->p->by != REPORT_BY_NONE) {
        if ((ga = cJSON_AddArrayToObject(o, "groups")) == NULL)
            goto oom;
        for (k = 0; k < nkeys; k++) {
            cJSON *go;

            if (g[k].clinics == 0)
                continue;
            if ((go = j_push_obj(ga)) == NULL || j_str(go, "group", keys[k]) ||
                wcount_json(go, &g[k]))
                goto oom;
        }
    }
    if (!cJSON_AddItemToArray(periods, o))
        goto oom;
    free(g);
    return 0;
oom:
    cJSON_Delete(o);
    free(g);
    sf_error_set(x->err, SF_ERR_NOMEM, "report: out of memory");
    return -1;
}

/* web_report: the clinics in the roster at some day of the range that
 * were never open for web booking, each with the likeliest reason.
 * fl holds nd day flags per clinic.  -1: out of memory. */
static int web_never_open(const struct rctx *x, const unsigned char *fl,
                          int32_t nd, cJSON *none)
{
    int32_t d;
    size_t i;

    for (i = 0; i < x->nc; i++) {
        const struct rclinic *c = &x->c[i];
        unsigned any = 0;
        const char *why;
        cJSON *o;

        for (d = 0; d < nd; d++)
            if (fl[i * (size_t)nd + (size_t)d] & WF_ROSTER)
                any |= fl[i * (size_t)nd + (size_t)d] | WF_ROSTER;
        if (!(any & WF_ROSTER) || (any & WF_OPEN))
            continue;
        if (!c->has_booking)
            why = "no_booking_configured";
        else if (any & WF_NONE)
            why = "not_connected";
        else if (any & WF_UNREACH)
            why = "unreachable";
        else if (any & WF_POLLED)
            why = "unknown";
        else
            why = "not_polled";
        if ((o = j_push_obj(none)) == NULL || j_str(o, "hsa_id", c->hsa) ||
            j_str(o, "name", c->name) || j_str(o, "municipality", c->muni) ||
            j_str(o, "operator", c->op) || j_str(o, "reason", why))
            return -1;
    }
    return 0;
}

static int web_report(struct rctx *x, cJSON **out)
{
    static const char sql[] =
        "SELECT local_day, web FROM poll WHERE clinic_id = ?1"
        " AND t_first >= ?2 AND t_first < ?3";
    const struct report_params *p = x->p;
    int32_t nd = p->to_day - p->from_day + 1, d, a;
    unsigned char *fl = NULL;
    sqlite3_stmt *st = NULL;
    const char **keys = NULL;
    size_t i, nkeys = 0;
    cJSON *doc = NULL, *periods, *none;
    int rc;

    if ((fl = calloc((size_t)nd * (x->nc ? x->nc : 1), 1)) == NULL ||
        (keys = group_keys(x, &nkeys)) == NULL)
        goto oom;
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(x, "poll runs");
        goto fail;
    }
    for (i = 0; i < x->nc; i++) {
        const struct rclinic *c = &x->c[i];
        int32_t f0 = clock_local_day(c->first_seen);
        int32_t f1 = clock_local_day(c->last_seen);
        unsigned char *row = fl + i * (size_t)nd;

        for (d = 0; d < nd; d++)
            if (p->from_day + d >= f0 && p->from_day + d <= f1)
                row[d] |= WF_ROSTER;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_int64(st, 2, clock_day_start(p->from_day));
        sqlite3_bind_int64(st, 3, clock_day_start(p->to_day + 1));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            int32_t ld = sqlite3_column_int(st, 0) - p->from_day;
            int web = sqlite3_column_int(st, 1);

            if (ld < 0 || ld >= nd)
                continue;
            /* A poll proves the clinic was in the roster that day. */
            row[ld] |= WF_POLLED | WF_ROSTER;
            row[ld] |= web == STORE_WEB_OPEN ? WF_OPEN : WF_NOTOPEN;
            if (web == STORE_WEB_NONE)
                row[ld] |= WF_NONE;
            if (web == STORE_WEB_UNREACHABLE)
                row[ld] |= WF_UNREACH;
        }
        if (rc != SQLITE_DONE) {
            db_fail(x, "poll runs");
            goto fail;
        }
    }

    if ((doc = doc_head(x, "web-booking")) == NULL)
        goto oom;
    if (j_str(doc, "per",
              p->per == REPORT_PER_DAY    ? "day"
              : p->per == REPORT_PER_WEEK ? "week"
                                          : "month") ||
        (periods = cJSON_AddArrayToObject(doc, "periods")) == NULL)
        goto oom;
    for (a = 0; a < nd;) {
        char label[16];
        int32_t b, day = p->from_day + a, mon;
        int y, m, dd;

        if (p->per == REPORT_PER_DAY) {
            clock_format_date(day, label);
            b = a;
        } else if (p->per == REPORT_PER_WEEK) {
            iso_week(day, label, &mon);
            b = mon + 6 - p->from_day;
        } else {
            clock_civil_from_days(day, &y, &m, &dd);
            snprintf(label, sizeof(label), "%04d-%02d", y, m);
            b = clock_days_from_civil(y, m, 1) + clock_days_in_month(y, m) - 1 -
                p->from_day;
        }
        if (b >= nd)
            b = nd - 1;
        if (web_period(x, fl, nd, a, b, label, keys, nkeys, periods) != 0)
            goto fail;
        a = b + 1;
    }

    /* Clinics in the roster at some day of the range, never open. */
    if ((none = cJSON_AddArrayToObject(doc, "without_web_booking")) == NULL)
        goto oom;
    if (web_never_open(x, fl, nd, none) != 0)
        goto oom;
    sqlite3_finalize(st);
    free(fl);
    free(keys);
    *out = doc;
    return 0;
oom:
    sf_error_set(x->err, SF_ERR_NOMEM, "report: out of memory");
fail:
    sqlite3_finalize(st);
    cJSON_Delete(doc);
    free(fl);
    free(keys);
    return -1;
}

/* --- guarantee report ------------------------------------------------------ */

struct wait {
    int32_t days;   /* local_day(first_free) - local_day; INT32_MAX: none */
    int64_t weight; /* polls */
};

struct seg {
    int64_t a, b; /* [a, b) clipped to an open window */
    int cat;      /* SEG_* */
};

enum {
    SEG_WITHIN = 0,
    SEG_OK,
    SEG_STALE,
    SEG_ERROR
};

struct gstats {
    int web; /* 0 not polled, 1 open seen, 2 none only, 3
                                  polled, never open nor none */
    int interval_s;
    int observed_days;
    int64_t open_s, covered_s, within_s, stale_s, error_s, gap_s;
    int64_t polls_expected, polls_made, polls_ok;
    int64_t bookings_within, bookings_later, slots_passed;
    struct wait *w;
    size_t nw, capw;
    long clinics, clinics_web; /* groups only */
};

static int wait_add(struct gstats *g, int32_t days, int64_t weight)
{
    size_t i;
    struct wait *nv;

    for (i = 0; i < g->nw; i++)
        if (g->w[i].days == days) {
            g->w[i].weight += weight;
            return 0;
        }
    if (g->nw == g->capw) {
        g->capw = g->capw ? g->capw * 2 : 16;
        if ((nv = realloc(g->w, g->capw * sizeof(*nv))) == NULL)
            return -1;
        g->w = nv;
    }
    g->w[g->nw].days = days;
    g->w[g->nw].weight = weight;
    g->nw++;
    return 0;
}

static int cmp_wait(const void *a, const void *b)
{
    const struct wait *x = a, *y = b;

    return (x->days > y->days) - (x->days < y->days);
}

/*
 * Nearest-rank percentile pct (1..100) of the weighted waits: the smallest
 * value whose cumulative weight reaches ceil(pct/100 * total). Returns 0
 * and *v, or -1 when there are no polls. *v == INT32_MAX means the rank
 * falls on polls that offered no free slot at all.
 */
static int percentile(struct gstats *g, int pct, int32_t *v)
{
    int64_t total = 0, rank, cum = 0;
    size_t i;

    for (i = 0; i < g->nw; i++)
        total += g->w[i].weight;
    if (total == 0)
        return -1;
    qsort(g->w, g->nw, sizeof(*g->w), cmp_wait);
    rank = (total * pct + 99) / 100;
    for (i = 0; i < g->nw; i++) {
        cum += g->w[i].weight;
        if (cum >= rank) {
            *v = g->w[i].days;
            return 0;
        }
    }
    *v = g->w[g->nw - 1].days;
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;

    return (x->a > y->a) - (x->a < y->a);
}

/* Measure of the union of the segments whose category is <= maxcat
 * (segs sorted by start). */
static int64_t union_len(const struct seg *s, size_t n, int maxcat)
{
    int64_t total = 0, ca = 0, cb = 0;
    int open = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i].cat > maxcat)
            continue;
        if (!open || s[i].a > cb) {
            if (open)
                total += cb - ca;
            ca = s[i].a;
            cb = s[i].b;
            open = 1;
        } else if (s[i].b > cb)
            cb = s[i].b;
    }
    if (open)
        total += cb - ca;
    return total;
}

/* Polls of a run (n, evenly spaced over [t0, t1]) whose time is in
 * [wa, wb). Exact for evenly spaced polls (a run's inner times are not
 * stored; store.h). */
static int64_t polls_in(int64_t t0, int64_t t1, int64_t n, int64_t wa,
                        int64_t wb)
{
    int64_t m = n - 1, span = t1 - t0, kmin, kmax;

    if (wb <= wa)
        return 0;
    if (n <= 1 || span <= 0)
        return t0 >= wa && t0 < wb ? n : 0;
    /* k with wa <= t0 + k*span/m < wb, 0 <= k <= m */
    if (wa <= t0)
        kmin = 0;
    else
        kmin = ((wa - t0) * m + span - 1) / span;
    if (wb <= t0)
        return 0;
    kmax = ((wb - t0) * m + span - 1) / span - 1;
    if (kmax > m)
        kmax = m;
    return kmax >= kmin ? kmax - kmin + 1 : 0;
}

struct seglist {
    struct seg *v;
    size_t n, cap;
};

static int seg_add(struct seglist *l, int64_t a, int64_t b, int cat)
{
    struct seg *nv;

    if (b <= a)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        if ((nv = realloc(l->v, l->cap * sizeof(*nv))) == NULL)
            return -1;
        l->v = nv;
    }
    l->v[l->n].a = a;
    l->v[l->n].b = b;
    l->v[l->n].cat = cat;
    l->n++;
    return 0;
}

struct gwin {     /* the month's open windows of one clinic */
    int64_t a, b; /* [a, b); a == b: closed that day */
};

/* clinic_month: each day's open window, clipped to the span the clinic
 * was in the roster; adds up g->open_s. */
static void month_windows(const struct rctx *x, const struct rclinic *c,
                          struct gwin *wins, struct gstats *g)
{
    const struct report_params *p = x->p;
    int32_t nd = p->to_day - p->from_day + 1, d;
    int64_t active_a = c->first_seen, active_b;

    /* A clinic still in the latest roster is active up to now; one that
     * left the config (its last_seen stopped a day or more before the
     * others') up to its last_seen. */
    if (local_day(x, c->last_seen) + 1 < local_day(x, x->max_last_seen))
        active_b = c->last_seen;
    else
        active_b = x->now;
    if (active_b > x->now)
        active_b = x->now;
    for (d = 0; d < nd; d++) {
        int64_t a = x->open_a[d], b = x->open_b[d];

        if (a < b) {
            if (a < active_a)
                a = active_a;
            if (b > active_b)
                b = active_b;
            if (b < a)
                b = a;
        }
        wins[d].a = a;
        wins[d].b = b;
        g->open_s += b - a;
    }
}

/* clinic_month: the month's vanished (booked) and passed slots of
 * clinic c. */
static int month_slots(struct rctx *x, const struct rclinic *c,
                       sqlite3_stmt *slots, int64_t month_a, int64_t month_b,
                       struct gstats *g)
{
    int rc;

    sqlite3_reset(slots);
    sqlite3_bind_int64(slots, 1, c->id);
    sqlite3_bind_int64(slots, 2, month_a);
    sqlite3_bind_int64(slots, 3, month_b);
    /* Index range on start: a vanished slot starts after gone_at and at
     * most the horizon (<= 90 days) after it was first seen; a passed one
     * starts before gone_at. Passed slots that started more than
     * REPORT_PASSED_LOOKBACK_DAYS before the month (a long outage) are not
     * counted (docs/compliance-method.md). */
    sqlite3_bind_int64(slots, 4,
                       month_a - (int64_t)REPORT_PASSED_LOOKBACK_DAYS * 86400);
    sqlite3_bind_int64(slots, 5, month_b + 92 * 86400LL);
    while ((rc = sqlite3_step(slots)) == SQLITE_ROW) {
        const unsigned char *why = sqlite3_column_text(slots, 0);
        int within = sqlite3_column_int(slots, 1) == 1;
        int64_t k = sqlite3_column_int64(slots, 2);

        if (why == NULL)
            continue;
        if (strcmp((const char *)why, "vanished") == 0) {
            if (within)
                g->bookings_within += k;
            else
                g->bookings_later += k;
        } else if (strcmp((const char *)why, "passed") == 0)
            g->slots_passed += k;
    }
    if (rc != SQLITE_DONE)
        return db_fail(x, "slots");
    return 0;
}

/*
 * Figures of clinic c for the month [p->from_day, p->to_day]. wins has
 * one entry per day of the month (open window clipped to the clinic's
 * active span and to now).
 */
static int clinic_month(struct rctx *x, const struct rclinic *c,
                        sqlite3_stmt *runs, sqlite3_stmt *slots,
                        struct gwin *wins, struct seglist *segs,
                        int default_interval, struct gstats *g)
{
    const struct report_params *p = x->p;
    int32_t nd = p->to_day - p->from_day + 1, d;
    int64_t month_a = clock_day_start(p->from_day);
    int64_t month_b = clock_day_start(p->to_day + 1);
    unsigned char observed[32] = { 0 };
    int any_open = 0, any_none = 0, any_run = 0, last_interval = 0, rc;

    month_windows(x, c, wins, g);
    segs->n = 0;

    sqlite3_reset(runs);
    sqlite3_bind_int64(runs, 1, c->id);
    /* Runs stay within one local day, so none that starts 2 days before
     * the month can reach into it (interval_s < 1 day). */
    sqlite3_bind_int64(runs, 2, month_a - 2 * 86400);
    sqlite3_bind_int64(runs, 3, month_b);
    while ((rc = sqlite3_step(runs)) == SQLITE_ROW) {
        int64_t t0 = sqlite3_column_int64(runs, 0);
        int64_t t1 = sqlite3_column_int64(runs, 1);
        int64_t n = sqlite3_column_int64(runs, 2);
        int iv = sqlite3_column_int(runs, 3);
        int32_t ld = sqlite3_column_int(runs, 4);
        int status = sqlite3_column_int(runs, 5);
        int web = sqlite3_column_int(runs, 6);
        int has_ff = sqlite3_column_type(runs, 7) != SQLITE_NULL;
        int64_t ff = sqlite3_column_int64(runs, 7);
        int within = sqlite3_column_type(runs, 8) != SQLITE_NULL &&
                     sqlite3_column_int(runs, 8) == 1;
        int cat = status == STORE_STATUS_OK ? (within ? SEG_WITHIN : SEG_OK)
                  : status == STORE_STATUS_STALE ? SEG_STALE
                                                 : SEG_ERROR;
        int32_t da, db;
        int64_t cover_b;

        if (iv <= 0)
            iv = default_interval;
        cover_b = t1 + iv;
        /* Coverage: each poll vouches for [t, t + interval_s). */
        da = local_day(x, t0) - p->from_day;
        db = local_day(x, cover_b - 1) - p->from_day;
        for (d = da < 0 ? 0 : da; d <= db && d < nd; d++) {
            int64_t a = t0 > wins[d].a ? t0 : wins[d].a;
            int64_t b = cover_b < wins[d].b ? cover_b : wins[d].b;

            if (seg_add(segs, a, b, cat) != 0)
                goto oom;
            g->polls_made += polls_in(t0, t1, n, wins[d].a, wins[d].b);
        }
        if (ld < p->from_day || ld > p->to_day)
            continue;
        any_run = 1;
        last_interval = iv;
        if (web == STORE_WEB_OPEN)
            any_open = 1;
        else if (web == STORE_WEB_NONE)
            any_none = 1;
        if (status != STORE_STATUS_OK)
            continue;
        g->polls_ok += n;
        observed[(ld - p->from_day) / 8] |=
            (unsigned char)(1u << ((ld - p->from_day) % 8));
        if (wait_add(g, has_ff ? local_day(x, ff) - ld : INT32_MAX, n) != 0)
            goto oom;
    }
    if (rc != SQLITE_DONE)
        return db_fail(x, "poll runs");

    g->web = any_open ? 1 : any_none ? 2 : any_run ? 3 : 0;
    g->interval_s = last_interval ? last_interval : default_interval;
    for (d = 0; d < nd; d++)
        if (observed[d / 8] & (1u << (d % 8)))
            g->observed_days++;
    /* A clinic with no poll runs has no segments and v may be NULL:
     * qsort(NULL, 0, ...) is undefined (UBSan aborts the daemon). */
    if (segs->n > 0)
        qsort(segs->v, segs->n, sizeof(*segs->v), cmp_seg);
    g->within_s = union_len(segs->v, segs->n, SEG_WITHIN);
    g->covered_s = union_len(segs->v, segs->n, SEG_OK);
    g->stale_s = union_len(segs->v, segs->n, SEG_STALE) - g->covered_s;
    g->error_s =
        union_len(segs->v, segs->n, SEG_ERROR) - g->covered_s - g->stale_s;
    g->gap_s = g->open_s - g->covered_s - g->stale_s - g->error_s;
    g->polls_expected = (g->open_s + g->interval_s / 2) / g->interval_s;

    return month_slots(x, c, slots, month_a, month_b, g);
oom:
    sf_error_set(x->err, SF_ERR_NOMEM, "report: out of memory");
    return -1;
}

static void gstats_add(struct gstats *to, const struct gstats *g, int *oom)
{
    size_t i;

    to->clinics++;
    if (g->web != 1 && g->web != 3 && g->web != 0)
        return;
    to->clinics_web++;
    to->observed_days += g->observed_days;
    to->open_s += g->open_s;
    to->covered_s += g->covered_s;
    to->within_s += g->within_s;
    to->stale_s += g->stale_s;
    to->error_s += g->error_s;
    to->gap_s += g->gap_s;
    to->polls_expected += g->polls_expected;
    to->polls_made += g->polls_made;
    to->polls_ok += g->polls_ok;
    to->bookings_within += g->bookings_within;
    to->bookings_later += g->bookings_later;
    to->slots_passed += g->slots_passed;
    for (i = 0; i < g->nw; i++)
        if (wait_add(to, g->w[i].days, g->w[i].weight) != 0)
            *oom = 1;
}

static const char *web_name(int web, int has_booking)
{
    if (!has_booking)
        return "none";
    switch (web) {
    case 1:
        return "open";
    case 2:
        return "none";
    case 3:
        return "unknown";
    default:
        return "not_polled";
    }
}

/* The figures of g into o; `figures` false: a clinic without web booking
 * gets nulls (no compliance figure), never zeros. 0, or -1 when out of
 * memory. */
static int gstats_json(cJSON *o, struct gstats *g, int figures)
{
    int32_t v;
    int64_t missed = g->polls_expected - g->polls_made;
    static const char *const keys[] = {
        "observed_days",     "open_s",         "covered_s",
        "stale_s",           "error_s",        "gap_s",
        "coverage",          "within_s",       "share_within",
        "share_within_open", "reliable",       "polls_expected",
        "polls_made",        "polls_missed",   "polls_ok",
        "median_days",       "p90_days",       "polls_without_free",
        "bookings_within",   "bookings_later", "slots_passed"
    };
    size_t i;
    int64_t nofree = 0;

    if (!figures) {
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (j_null(o, keys[i]))
                return -1;
        return 0;
    }
    if (j_num(o, "observed_days", g->observed_days) ||
        j_num(o, "open_s", (double)g->open_s) ||
        j_num(o, "covered_s", (double)g->covered_s) ||
        j_num(o, "stale_s", (double)g->stale_s) ||
        j_num(o, "error_s", (double)g->error_s) ||
        j_num(o, "gap_s", (double)g->gap_s) ||
        add_share(o, "coverage", (double)g->covered_s, (double)g->open_s) ||
        j_num(o, "within_s", (double)g->within_s) ||
        add_share(o, "share_within", (double)g->within_s,
                  (double)g->covered_s) ||
        add_share(o, "share_within_open", (double)g->within_s,
                  (double)g->open_s) ||
        j_bool(o, "reliable",
               g->open_s > 0 &&
                   (double)g->covered_s >=
                       REPORT_RELIABLE_COVERAGE * (double)g->open_s) ||
        j_num(o, "polls_expected", (double)g->polls_expected) ||
        j_num(o, "polls_made", (double)g->polls_made) ||
        j_num(o, "polls_missed", (double)(missed > 0 ? missed : 0)) ||
        j_num(o, "polls_ok", (double)g->polls_ok))
        return -1;
    /* INT32_MAX: the rank falls on polls with no free slot at all. */
    if (percentile(g, 50, &v) == 0 && v != INT32_MAX
            ? j_num(o, "median_days", v)
            : j_null(o, "median_days"))
        return -1;
    if (percentile(g, 90, &v) == 0 && v != INT32_MAX ? j_num(o, "p90_days", v)
                                                     : j_null(o, "p90_days"))
        return -1;
    for (i = 0; i < g->nw; i++)
        if (g->w[i].days == INT32_MAX)
            nofree += g->w[i].weight;
    return j_num(o, "polls_without_free", (double)nofree) ||
                   j_num(o, "bookings_within", (double)g->bookings_within) ||
                   j_num(o, "bookings_later", (double)g->bookings_later) ||
                   j_num(o, "slots_passed", (double)g->slots_passed)
               ? -1
               : 0;
}

/* guarantee_report: one entry per clinic in the roster during the month.
 * Marks those clinics (interval_s -1) for the sums.  -1: out of memory. */
static int guarantee_clinics(struct rctx *x, cJSON *arr, struct gstats *gs)
{
    const struct report_params *p = x->p;
    cJSON *o;
    size_t i;

    for (i = 0; i < x->nc; i++) {
        const struct rclinic *c = &x->c[i];
        int figures = c->has_booking && gs[i].web != 2;

        /* In the roster during the month at all? */
        if (clock_local_day(c->first_seen) > p->to_day ||
            clock_local_day(c->last_seen) < p->from_day)
            continue;
        if ((o = j_push_obj(arr)) == NULL || j_str(o, "hsa_id", c->hsa) ||
            j_str(o, "name", c->name) || j_str(o, "municipality", c->muni) ||
            j_str(o, "operator", c->op) ||
            j_str(o, "web_booking", web_name(gs[i].web, c->has_booking)) ||
            j_num(o, "interval_s", gs[i].interval_s))
            return -1;
        if (!figures)
            gs[i].web = 2; /* counted as without web booking below */
        if (gstats_json(o, &gs[i], figures))
            return -1;
        gs[i].interval_s = -1; /* marks "in the month" for the sums */
    }
    return 0;
}

/* guarantee_report, by municipality or operator: the clinics marked by
 * guarantee_clinics summed per group.  -1: out of memory. */
static int guarantee_groups(struct rctx *x, cJSON *doc, const struct gstats *gs,
                            const char **keys, size_t nkeys)
{
    const struct report_params *p = x->p;
    struct gstats *gg = calloc(nkeys + 1, sizeof(*gg));
    cJSON *arr, *o;
    size_t i;
    int oom = 0;

    if (gg == NULL || (arr = cJSON_AddArrayToObject(doc, "groups")) == NULL) {
        free(gg);
        return -1;
    }
    for (i = 0; i < x->nc; i++) {
        long k = key_index(keys, nkeys, group_key(&x->c[i], p->by));

        if (gs[i].interval_s == -1 && k >= 0)
            gstats_add(&gg[k], &gs[i], &oom);
    }
    for (i = 0; i < nkeys && !oom; i++) {
        if (gg[i].clinics == 0)
            continue;
        if ((o = j_push_obj(arr)) == NULL || j_str(o, "group", keys[i]) ||
            j_num(o, "clinics", (double)gg[i].clinics) ||
            j_num(o, "clinics_with_web", (double)gg[i].clinics_web) ||
            gstats_json(o, &gg[i], gg[i].clinics_web > 0))
            oom = 1;
    }
    for (i = 0; i <= nkeys; i++)
        free(gg[i].w);
    free(gg);
    return oom ? -1 : 0;
}

static int guarantee_report(struct rctx *x, cJSON **out)
{
    static const char runs_sql[] =
        "SELECT t_first, t_last, n, interval_s, local_day, status, web,"
        " first_free, within_guarantee FROM poll WHERE clinic_id = ?1"
        " AND t_first >= ?2 AND t_first < ?3 ORDER BY t_first";
    static const char slots_sql[] =
        "SELECT gone_reason, within_at_gone, count(*) FROM slot"
        " WHERE clinic_id = ?1 AND start >= ?4 AND start < ?5"
        " AND gone_at >= ?2 AND gone_at < ?3 GROUP BY 1, 2";
    const struct report_params *p = x->p;
    sqlite3_stmt *runs = NULL, *slots = NULL, *iv = NULL;
    struct seglist segs = { 0 };
    struct gwin *wins = NULL;
    struct gstats *gs = NULL, tot = { 0 };
    const char **keys = NULL;
    size_t i, nkeys = 0;
    cJSON *doc = NULL, *arr, *o;
    int default_interval = REPORT_DEFAULT_INTERVAL_S, oom = 0;
    char month[8];
    int y, m, dd;

    if (p->to_day - p->from_day + 1 > 31) {
        sf_error_set(x->err, SF_ERR_CONFIG, "guarantee: at most one month");
        return -1;
    }
    if ((wins = calloc(31, sizeof(*wins))) == NULL ||
        (gs = calloc(x->nc + 1, sizeof(*gs))) == NULL ||
        (keys = group_keys(x, &nkeys)) == NULL)
        goto oom;
    if (sqlite3_prepare_v2(x->db, runs_sql, -1, &runs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db, slots_sql, -1, &slots, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db,
                           "SELECT interval_s FROM poll ORDER BY id"
                           " DESC LIMIT 1",
                           -1, &iv, NULL) != SQLITE_OK) {
        db_fail(x, "prepare");
        goto fail;
    }
    if (sqlite3_step(iv) == SQLITE_ROW && sqlite3_column_int(iv, 0) > 0)
        default_interval = sqlite3_column_int(iv, 0);
    for (i = 0; i < x->nc; i++)
        if (clinic_month(x, &x->c[i], runs, slots, wins, &segs,
                         default_interval, &gs[i]) != 0)
            goto fail;

    if ((doc = doc_head(x, "guarantee")) == NULL)
        goto oom;
    clock_civil_from_days(p->from_day, &y, &m, &dd);
    snprintf(month, sizeof(month), "%04d-%02d", y, m);
    if (j_str(doc, "month", month) ||
        (arr = cJSON_AddArrayToObject(doc, "clinics")) == NULL)
        goto oom;
    if (guarantee_clinics(x, arr, gs) != 0)
        goto oom;
    if ((p->by == REPORT_BY_MUNICIPALITY || p->by == REPORT_BY_OPERATOR) &&
        guarantee_groups(x, doc, gs, keys, nkeys) != 0)
        goto oom;
    for (i = 0; i < x->nc; i++)
        if (gs[i].interval_s == -1)
            gstats_add(&tot, &gs[i], &oom);
    if (oom || (o = cJSON_AddObjectToObject(doc, "total")) == NULL ||
        j_str(o, "group", "all") || j_num(o, "clinics", (double)tot.clinics) ||
        j_num(o, "clinics_with_web", (double)tot.clinics_web) ||
        gstats_json(o, &tot, tot.clinics_web > 0))
        goto oom;

    *out = doc;
    doc = NULL;
    goto done;
oom:
    sf_error_set(x->err, SF_ERR_NOMEM, "report: out of memory");
fail:
    cJSON_Delete(doc);
    doc = NULL;
    *out = NULL;
done:
    sqlite3_finalize(runs);
    sqlite3_finalize(slots);
    sqlite3_finalize(iv);
    if (gs != NULL)
        for (i = 0; i < x->nc; i++)
            free(gs[i].w);
    free(gs);
    free(tot.w);
    free(segs.v);
    free(wins);
    free(keys);
    return *out != NULL ? 0 : -1;
}

int report_build(sqlite3 *db, const struct report_params *p, cJSON **out,
                 struct sf_error *err)
{
    struct rctx x = { 0 };
    int rc;

    *out = NULL;
    if (p->to_day < p->from_day) {
        sf_error_set(err, SF_ERR_CONFIG, "to is before from");
        return -1;
    }
    if (p->to_day - p->from_day + 1 > REPORT_MAX_DAYS) {
        sf_error_set(err, SF_ERR_CONFIG, "range of %ld days: at most %d",
                     (long)(p->to_day - p->from_day + 1), REPORT_MAX_DAYS);
        return -1;
    }
    if (p->open_from_min < 0 || p->open_to_min > 24 * 60 ||
        p->open_to_min <= p->open_from_min) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "open hours: end must follow start "
                     "within the day");
        return -1;
    }
    x.db = db;
    x.p = p;
    x.err = err;
    x.now = p->now > 0 ? p->now : clock_now();
    /* One read transaction: every query sees the same snapshot. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(&x, "begin");
    rc = day_cache_init(&x) == 0 ? load_clinics(&x) : -1;
    if (x.mid == NULL)
        sf_error_set(err, SF_ERR_NOMEM, "report: out of memory");
    if (rc == 0)
        rc = p->kind == REPORT_GUARANTEE ? guarantee_report(&x, out)
                                         : web_report(&x, out);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    clinics_free(&x);
    free(x.mid);
    free(x.open_a);
    free(x.open_b);
    return rc;
}

int report_run(const char *db_path, const struct report_params *p,
               enum report_format fmt, char **out, size_t *len,
               struct sf_error *err)
{
    sqlite3 *db = NULL;
    cJSON *doc = NULL;
    int rc = -1;

    *out = NULL;
    *len = 0;
    if (report_db_open(db_path, &db, err) != 0)
        return -1;
    if (report_build(db, p, &doc, err) == 0)
        rc = report_render(doc, fmt, out, len, err);
    cJSON_Delete(doc);
    sqlite3_close(db);
    return rc;
}

void report_filename(const struct report_params *p, enum report_format fmt,
                     char *buf, size_t n)
{
    static const char *const ext[] = { "json", "csv", "html" };
    char from[CLOCK_DATE_LEN], to[CLOCK_DATE_LEN];

    clock_format_date(p->from_day, from);
    clock_format_date(p->to_day, to);
    if (p->kind == REPORT_GUARANTEE)
        snprintf(buf, n, "vardgaranti-%.7s.%s", from, ext[fmt]);
    else
        snprintf(buf, n, "webbokning-%s--%s.%s", from, to, ext[fmt]);
}
