/*
 * conf.c - load and validate a region file (JSON, parsed with cJSON).
 *
 * Validation walks every object member in file order and reports every
 * problem it finds as "JSON-path: message", so an operator fixes a file in
 * one round instead of one error per run (OpenBSD daemons do the same).
 * Unknown keys are errors: a misspelt optional key would otherwise be
 * ignored silently and its default used. Values are copied into a fresh
 * struct conf_region that is handed out only when no problem was found;
 * on any error it is freed, so callers never see a half-valid region.
 */
#include "slotfeed/conf.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "slotfeed/adapter.h"
#include "slotfeed/error.h"
#include "slotfeed/pnr.h"
#include "slotfeed/sbuf.h"
#include "slotfeed/sched.h"
#include "slotfeed/url.h"

#ifndef SLOTFEED_VERSION
#define SLOTFEED_VERSION "0"
#endif

#define DEFAULT_USER_AGENT "slotfeed/" SLOTFEED_VERSION

/* The adapter whose clinics need riv.subject_of_care. */
#define RIV_ADAPTER "rivta-scheduling"

/*
 * The names clinics[].sim.profile accepts (sim/sim.c's profiles[] must
 * list the same). Kept here so that `check-config` names a mistyped
 * profile by its JSON path with every other error; the simulator itself
 * is not part of the daemon.
 */
static const char *const known_profiles[] = {
    "normal", "busy", "full", "vp004", "vp007", "error", "garbage", "hostile",
    "hang", "http503",
    /* transport faults on a normal schedule */
    "http429", "reset", "truncated", "huge", "drip", "flaky",
    /* hostile transport for the client's caps */
    "gzip-bomb", "redirect-loop", "redirect-offsite", "slow-headers", "endless",
    "bad-length", NULL
};

void conf_errors_free(struct conf_errors *errs)
{
    size_t i;

    if (errs == NULL)
        return;
    for (i = 0; i < errs->n; i++)
        free(errs->v[i]);
    free(errs->v);
    errs->v = NULL;
    errs->n = 0;
}

/* "HOST:PORT" or "[V6]:PORT", port 1..65535. */
static bool valid_listen(const char *s)
{
    const char *colon, *p, *host_end;
    long port = 0;

    colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0')
        return false;
    if (s[0] == '[') {
        host_end = strchr(s, ']');
        if (host_end == NULL || host_end + 1 != colon || host_end == s + 1)
            return false;
        for (p = s + 1; p < host_end; p++)
            if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
                return false;
    } else {
        for (p = s; p < colon; p++)
            if (strchr("abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-",
                       *p) == NULL)
                return false;
    }
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || p - colon > 5)
            return false;
        port = port * 10 + (*p - '0');
    }
    return port >= 1 && port <= 65535;
}

/* User-Agent goes into an HTTP header: printable ASCII only. */
static bool valid_user_agent(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++, n++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return n > 0 && n <= 200;
}

bool conf_valid_hsa_id(const char *s)
{
    size_t i, n;

    if (s == NULL)
        return false;
    n = strlen(s);
    /* "SE" + 10 digits + "-" + at least one letter/digit */
    if (n < 14 || n > CONF_HSA_ID_MAX)
        return false;
    /* HSA-ids compare case-insensitively, so "se" is the same prefix. */
    if ((s[0] != 'S' && s[0] != 's') || (s[1] != 'E' && s[1] != 'e'))
        return false;
    for (i = 2; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    if (s[12] != '-')
        return false;
    for (i = 13; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
              (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static void upcase(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

/* ---- sections -------------------------------------------------------- */

/* guarantee.counting: an enum avail_counting. */
static int get_counting(struct confcheck *cx, const cJSON *it, const char *path,
                        void *dst)
{
    const char *s = confcheck_str(cx, it, path, false);

    if (s == NULL)
        return -1;
    if (avail_counting_parse(s, dst) == 0)
        return 0;
    confcheck_err(cx, path, "must be \"calendar\" or \"working\"");
    return -1;
}

/* riv.subject_of_care: a personal identity number, never echoed. */
static int get_subject_of_care(struct confcheck *cx, const cJSON *it,
                               const char *path, void *dst)
{
    const char *s = confcheck_str(cx, it, path, true);
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
        ;
    if (i != 12 || s[i] != '\0') {
        confcheck_err(cx, path, "must be 12 digits (YYYYMMDDNNNN)");
        return -1;
    }
    confcheck_store(cx, dst, s);
    return 0;
}

/* A problem with a CONFCHECK_CROSS key skips the cross-checks in
 * parse_root that read it. */
static const struct confcheck_field guarantee_keys[] = {
    CONFCHECK_INT_AT("days", struct avail_rule, days, 0, 30,
                     CONF_DEFAULT_GUARANTEE_DAYS, CONFCHECK_CROSS),
    CONFCHECK_FN_AT("counting", struct avail_rule, counting, get_counting, 0),
    { .name = NULL }
};

static const struct confcheck_field fetch_keys[] = {
    CONFCHECK_INT_AT("connect_timeout_ms", struct conf_region,
                     connect_timeout_ms, 100, 60000,
                     CONF_DEFAULT_CONNECT_TIMEOUT_MS, CONFCHECK_CROSS),
    CONFCHECK_INT_AT("timeout_ms", struct conf_region, timeout_ms, 100, 600000,
                     CONF_DEFAULT_TIMEOUT_MS, CONFCHECK_CROSS),
    CONFCHECK_LONG_AT("max_body_bytes", struct conf_region, max_body_bytes,
                      1024, 256L * 1024 * 1024, CONF_DEFAULT_MAX_BODY_BYTES),
    /* it goes into an HTTP header */
    CONFCHECK_VALID_AT("user_agent", struct conf_region, user_agent,
                       valid_user_agent,
                       "is not a valid User-Agent "
                       "(printable ASCII, at most 200 characters)",
                       DEFAULT_USER_AGENT),
    CONFCHECK_LONG_AT("max_decompress_ratio", struct conf_region,
                      max_decompress_ratio, 10, 100000,
                      CONF_DEFAULT_MAX_DECOMPRESS_RATIO),
    { .name = NULL }
};

static const char *const actor_types[] = { "subject_of_care",
                                           "subject_of_care_agent", NULL };

static const struct confcheck_field riv_keys[] = {
    CONFCHECK_FN_AT("subject_of_care", struct conf_region, riv_subject_of_care,
                    get_subject_of_care, CONFCHECK_CROSS),
    CONFCHECK_CHOICE_AT("actor_type", struct conf_region, riv_actor_type,
                        actor_types, CONF_DEFAULT_ACTOR_TYPE, 0),
    { .name = NULL }
};

/* ---- booking: the generic walk; each adapter checks its own keys ----- */

/* The keys every booking has; each adapter's conf_keys follow. */
enum {
    BK_ADAPTER,
    BK_URL,
    BK_BOOKING_URL,
    BK_TIME_TYPE_ID,
    BK_TIME_TYPE_NAME,
    BK_COMMON
};

/* confcheck_member's seen bits bound the number of keys. */
#define BK_MAX 32

/*
 * Every booking key, so that a misspelt key gets its "did you mean" hint
 * and a key of another adapter is named as such: the common keys, then
 * each adapter's conf_keys in table order. owner[i]/slot[i] say who
 * parses key i (NULL for the common keys).
 */
struct booking_keys {
    const char *names[BK_MAX + 1];
    const struct adapter *owner[BK_MAX];
    int slot[BK_MAX];
};

static void booking_keys(struct booking_keys *k)
{
    static const char *const common[] = { "adapter", "url", "booking_url",
                                          "time_type_id", "time_type_name" };
    const char *const *name;
    const struct adapter *a;
    size_t n = 0;
    int i;

    memset(k, 0, sizeof(*k));
    for (n = 0; n < BK_COMMON; n++)
        k->names[n] = common[n];
    for (name = adapter_names(); *name != NULL; name++) {
        a = adapter_find(*name);
        for (i = 0; a->conf_keys != NULL && a->conf_keys[i].name != NULL; i++) {
            /* adapter.h: the table is built to fit (test_adapter_conf) */
            assert(n < BK_MAX);
            k->names[n] = a->conf_keys[i].name;
            k->owner[n] = a;
            k->slot[n] = i;
            n++;
        }
    }
    k->names[n] = NULL;
}

/* parse_booking's "adapter": one of the adapter table's names, or NULL
 * (the error is recorded, and the per-adapter checks are skipped). */
static const struct adapter *get_adapter(struct confcheck *cx, const cJSON *it,
                                         const char *path,
                                         struct conf_booking *b)
{
    char shown[CONFCHECK_SHOWN], known[256];
    const char *const *names;
    const struct adapter *a;
    const char *s;
    size_t o;

    s = confcheck_str(cx, it, path, true);
    if (s == NULL)
        return NULL;
    a = adapter_find(s);
    if (a == NULL) {
        known[0] = '\0';
        o = 0;
        for (names = adapter_names(); *names != NULL; names++)
            o += (size_t)snprintf(known + o,
                                  o < sizeof(known) ? sizeof(known) - o : 0,
                                  "%s%s", o ? ", " : "", *names);
        confcheck_show(shown, sizeof(shown), s);
        confcheck_err(cx, path, "unknown adapter \"%s\" (known: %s)", shown,
                      known);
        return NULL;
    }
    confcheck_store(cx, &b->adapter, s);
    return a;
}

/*
 * parse_booking, once every key is read and the adapter is known: the
 * adapter's own rules across its keys, then every key that only another
 * adapter reads (given here it would be ignored silently, so it is an
 * error like an unknown key).
 */
static void check_booking_keys(struct confcheck *cx, const char *base,
                               const struct booking_keys *k, unsigned seen,
                               const struct adapter *a,
                               const struct conf_booking *b)
{
    char path[CONFCHECK_PATH];
    unsigned own = 0;
    int i;

    for (i = BK_COMMON; k->names[i] != NULL; i++)
        if ((seen & (1u << i)) && k->owner[i] == a)
            own |= 1u << k->slot[i];
    for (i = 0; a->conf_keys != NULL && a->conf_keys[i].name != NULL; i++)
        if (a->conf_keys[i].required && !(own & (1u << i)))
            confcheck_err(cx, base,
                          "missing required key \"%s\" (the %s "
                          "adapter needs it)",
                          a->conf_keys[i].name, a->name);
    if (a->conf_check != NULL)
        a->conf_check(cx, base, own, b);
    for (i = BK_COMMON; k->names[i] != NULL; i++) {
        if (!(seen & (1u << i)) || k->owner[i] == a)
            continue;
        confcheck_path_key(path, sizeof(path), base, k->names[i]);
        confcheck_err(cx, path, "only used by the %s adapter, not by %s",
                      k->owner[i]->name, a->name);
    }
}

static void parse_booking(struct confcheck *cx, const cJSON *obj,
                          const char *base, struct conf_booking *b)
{
    static const int required[] = { BK_ADAPTER, BK_URL, -1 };
    struct booking_keys k;
    char path[CONFCHECK_PATH];
    const cJSON *it;
    const struct adapter *a = NULL;
    unsigned seen = 0;
    int i;

    booking_keys(&k);
    /* fhir-slot's default, set on every booking so that a hand-built
     * and a parsed one read alike (CONF_DEFAULT_PAGE_CAP). */
    b->page_cap = CONF_DEFAULT_PAGE_CAP;
    cJSON_ArrayForEach(it, obj) {
        i = confcheck_member(cx, it, base, k.names, &seen, path, sizeof(path));
        switch (i) {
        case -1:
            break;
        case BK_ADAPTER:
            a = get_adapter(cx, it, path, b);
            break;
        case BK_URL:
            confcheck_get_url(cx, it, path, &b->url);
            break;
        case BK_BOOKING_URL:
            confcheck_get_opt_url(cx, it, path, &b->booking_url);
            break;
        case BK_TIME_TYPE_ID:
            confcheck_get_opt_str(cx, it, path, &b->time_type_id);
            break;
        case BK_TIME_TYPE_NAME:
            confcheck_get_opt_str(cx, it, path, &b->time_type_name);
            break;
        default:
            /* Checked whichever adapter is named: a wrong value is worth
             * reporting even when the key is then refused as foreign. */
            k.owner[i]->conf_keys[k.slot[i]].parse(cx, it, path, b);
            break;
        }
    }
    confcheck_required(cx, base, k.names, required, seen);
    if (a != NULL)
        check_booking_keys(cx, base, &k, seen, a, b);
}

/* clinics[].sim.profile: one of known_profiles. */
static int get_profile(struct confcheck *cx, const cJSON *it, const char *path,
                       void *dst)
{
    char shown[CONFCHECK_SHOWN];
    const char *s = confcheck_str(cx, it, path, true);
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; known_profiles[i] != NULL; i++)
        if (strcmp(known_profiles[i], s) == 0)
            break;
    if (known_profiles[i] == NULL) {
        confcheck_show(shown, sizeof(shown), s);
        confcheck_err(cx, path,
                      "unknown profile \"%s\" (known: normal, busy, "
                      "full, vp004, vp007, error, garbage, hostile, hang, "
                      "http503)",
                      shown);
        return -1;
    }
    confcheck_store(cx, dst, s);
    return 0;
}

/* The fault knobs after "profile" are known keys here, so a typo is
 * reported; their values are the simulator's to check, by the same JSON
 * path, when it loads the file (sim_load_faults). */
static const struct confcheck_field clinic_sim_keys[] = {
    { .name = "profile",
      .kind = CONFCHECK_FN,
      .fn = get_profile,
      .flags = CONFCHECK_REQUIRED },
    CONFCHECK_KNOWN_KEY("latency_ms"),
    CONFCHECK_KNOWN_KEY("drip_bytes_per_s"),
    CONFCHECK_KNOWN_KEY("fail_rate"),
    CONFCHECK_KNOWN_KEY("retry_after_s"),
    CONFCHECK_KNOWN_KEY("body_bytes"),
    CONFCHECK_KNOWN_KEY("change_every_s"),
    { .name = NULL }
};

static void parse_sim(struct confcheck *cx, const cJSON *obj, const char *base,
                      char **profile)
{
    confcheck_fields(cx, obj, base, clinic_sim_keys, CONFCHECK_ALL, profile,
                     NULL);
}

/*
 * dup_of[i] is the index of the first clinic with the same id as clinic
 * i (ids compared case-insensitively), or -1. Computed before the clinic
 * walk by sorting, so 10,000 clinics cost n log n, not n^2.
 */
struct id_pos {
    char id[CONF_HSA_ID_MAX + 1];
    long pos;
};

static int cmp_id_pos(const void *a, const void *b)
{
    const struct id_pos *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    if (c != 0)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static long *find_duplicates(struct confcheck *cx, const cJSON *arr, size_t n)
{
    struct id_pos *ids;
    long *dup_of;
    const cJSON *it, *id;
    size_t m = 0, i, j, k = 0;

    dup_of = malloc((n ? n : 1) * sizeof(*dup_of));
    ids = malloc((n ? n : 1) * sizeof(*ids));
    if (dup_of == NULL || ids == NULL) {
        free(dup_of);
        free(ids);
        cx->oom = true;
        return NULL;
    }
    cJSON_ArrayForEach(it, arr) {
        dup_of[k] = -1;
        id = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "id")
                                : NULL;
        if (cJSON_IsString(id) && conf_valid_hsa_id(id->valuestring)) {
            strcpy(ids[m].id, id->valuestring);
            upcase(ids[m].id);
            ids[m].pos = (long)k;
            m++;
        }
        k++;
    }
    qsort(ids, m, sizeof(*ids), cmp_id_pos);
    /* Equal ids are sorted by position: the run's head is the first. */
    for (i = 0; i < m; i = j)
        for (j = i + 1; j < m && strcmp(ids[j].id, ids[i].id) == 0; j++)
            dup_of[ids[j].pos] = ids[i].pos;
    free(ids);
    return dup_of;
}

static void parse_clinic(struct confcheck *cx, const cJSON *obj,
                         const char *base, struct conf_clinic *c, long dup_of)
{
    static const char *const keys[] = { "id",       "name",     "municipality",
                                        "locality", "operator", "phone",
                                        "website",  "booking",  "sim",
                                        "address",  NULL };
    static const int required[] = { 0, 1, 2, 4, -1 };
    char path[CONFCHECK_PATH], shown[CONFCHECK_SHOWN];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;

    if (!confcheck_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (
            confcheck_member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            s = confcheck_str(cx, it, path, true);
            if (s == NULL)
                break;
            if (!conf_valid_hsa_id(s)) {
                confcheck_show(shown, sizeof(shown), s);
                confcheck_err(cx, path,
                              "\"%s\" is not a valid HSA-id "
                              "(want SE + 10 digits + \"-\" + "
                              "letters/digits, at most %d chars)",
                              shown, CONF_HSA_ID_MAX);
                break;
            }
            confcheck_store(cx, &c->id, s);
            if (c->id != NULL)
                upcase(c->id);
            if (dup_of >= 0 && c->id != NULL)
                confcheck_err(cx, base,
                              "duplicate id %s (first at $.clinics[%ld])",
                              c->id, dup_of);
            break;
        case 1:
            confcheck_get_str(cx, it, path, true, &c->name);
            break;
        case 2:
            confcheck_get_str(cx, it, path, true, &c->municipality);
            break;
        case 3:
            confcheck_get_opt_str(cx, it, path, &c->locality);
            break;
        case 4:
            s = confcheck_str(cx, it, path, false);
            if (s == NULL)
                break;
            if (strcmp(s, "private") != 0 && strcmp(s, "region") != 0) {
                confcheck_err(cx, path, "must be \"private\" or \"region\"");
                break;
            }
            confcheck_store(cx, &c->operator_kind, s);
            break;
        case 5:
            confcheck_get_opt_str(cx, it, path, &c->phone);
            break;
        case 6:
            confcheck_get_opt_url(cx, it, path, &c->website);
            break;
        case 7:
            if (cJSON_IsNull(it))
                break;
            if (!confcheck_object(cx, it, path))
                break;
            c->has_booking = true;
            parse_booking(cx, it, path, &c->booking);
            break;
        case 8:
            if (cJSON_IsNull(it))
                break;
            if (confcheck_object(cx, it, path))
                parse_sim(cx, it, path, &c->sim_profile);
            break;
        case 9:
            confcheck_get_opt_str(cx, it, path, &c->address);
            break;
        default:
            break;
        }
    }
    confcheck_required(cx, base, keys, required, seen);
}

/* "clinics": every clinic into r->clinics (dst, the region). */
static int parse_clinics(struct confcheck *cx, const cJSON *arr,
                         const char *base, void *dst)
{
    struct conf_region *r = dst;
    char path[CONFCHECK_PATH];
    const cJSON *it;
    long *dup_of;
    size_t n, i = 0;

    if (!cJSON_IsArray(arr)) {
        confcheck_err(cx, base, "expected an array, got %s",
                      confcheck_type_name(arr));
        return -1;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        confcheck_err(cx, base, "no clinics: the list must not be empty");
        return -1;
    }
    if (n > CONF_CLINICS_MAX) {
        confcheck_err(cx, base, "too many clinics (%zu; at most %d)", n,
                      CONF_CLINICS_MAX);
        return -1;
    }
    r->clinics = calloc(n, sizeof(*r->clinics));
    if (r->clinics == NULL) {
        cx->oom = true;
        return -1;
    }
    r->nclinics = n;
    dup_of = find_duplicates(cx, arr, n);
    if (dup_of == NULL)
        return -1;
    cJSON_ArrayForEach(it, arr) {
        if (cx->full || cx->oom)
            break;
        snprintf(path, sizeof(path), "%s[%zu]", base, i);
        parse_clinic(cx, it, path, &r->clinics[i], dup_of[i]);
        i++;
    }
    free(dup_of);
    return 0;
}

/* The index of the first clinic using the RIV adapter, or -1. */
static long first_riv_clinic(const struct conf_region *r)
{
    size_t i;

    for (i = 0; i < r->nclinics; i++)
        if (r->clinics[i].booking.adapter != NULL &&
            strcmp(r->clinics[i].booking.adapter, RIV_ADAPTER) == 0)
            return (long)i;
    return -1;
}

/* ---- politeness ------------------------------------------------------ */

/* The keys of politeness; each politeness.hosts entry takes the first
 * POLITE_NFIELDS (all but "hosts"), and inherits those it leaves out. */
static const struct confcheck_field polite_keys[] = {
    CONFCHECK_NUM_AT("rate_per_s", struct conf_politeness, rate_per_s, 0.001,
                     1000, CONF_DEFAULT_POLITE_RATE_PER_S),
    CONFCHECK_INT_AT("burst", struct conf_politeness, burst, 1, 1000,
                     CONF_DEFAULT_POLITE_BURST, 0),
    CONFCHECK_INT_AT("max_concurrent_per_host", struct conf_politeness,
                     max_concurrent_per_host, 1, 1000,
                     CONF_DEFAULT_POLITE_MAX_CONCURRENT, 0),
    CONFCHECK_INT_AT("backoff_base_s", struct conf_politeness, backoff_base_s,
                     1, 86400, CONF_DEFAULT_POLITE_BACKOFF_BASE_S, 0),
    CONFCHECK_INT_AT("backoff_max_s", struct conf_politeness, backoff_max_s, 1,
                     86400, CONF_DEFAULT_POLITE_BACKOFF_MAX_S, 0),
    CONFCHECK_INT_AT("breaker_failures", struct conf_politeness,
                     breaker_failures, 1, 1000,
                     CONF_DEFAULT_POLITE_BREAKER_FAILURES, 0),
    CONFCHECK_INT_AT("breaker_cooldown_s", struct conf_politeness,
                     breaker_cooldown_s, 1, 86400,
                     CONF_DEFAULT_POLITE_BREAKER_COOLDOWN_S, 0),
    CONFCHECK_KNOWN_KEY("hosts"),
    { .name = NULL }
};
#define POLITE_NFIELDS 7

/* Report backoff_max_s < backoff_base_s (after inheritance). */
static void check_backoff(struct confcheck *cx, const char *base,
                          const struct conf_politeness *p)
{
    char path[CONFCHECK_PATH];

    if (p->backoff_max_s < p->backoff_base_s) {
        confcheck_path_key(path, sizeof(path), base, "backoff_max_s");
        confcheck_err(cx, path, "%d is shorter than backoff_base_s (%d)",
                      p->backoff_max_s, p->backoff_base_s);
    }
}

/* "politeness" (dst: the region): the top-level keys, then the hosts. */
static int parse_politeness(struct confcheck *cx, const cJSON *obj,
                            const char *base, void *dst)
{
    struct conf_region *r = dst;
    char path[CONFCHECK_PATH], hpath[CONFCHECK_PATH], shown[CONFCHECK_SHOWN];
    const cJSON *hosts, *it;
    struct confcheck_walk w;
    unsigned *given = NULL;
    size_t n = 0, i, j;

    if (!confcheck_object(cx, obj, base))
        return -1;
    confcheck_fields(cx, obj, base, polite_keys, CONFCHECK_ALL, &r->politeness,
                     NULL);
    check_backoff(cx, base, &r->politeness);
    /* the first "hosts" (a second one is reported as a duplicate) */
    hosts = cJSON_GetObjectItemCaseSensitive(obj, "hosts");
    if (hosts == NULL)
        return 0;
    confcheck_path_key(path, sizeof(path), base, "hosts");
    if (!confcheck_object(cx, hosts, path))
        return -1;
    cJSON_ArrayForEach(it, hosts)
        n++;
    if (n > CONF_POLITE_HOSTS_MAX) {
        confcheck_err(cx, path, "%zu hosts; at most %d", n,
                      CONF_POLITE_HOSTS_MAX);
        return -1;
    }
    if (n == 0)
        return 0;
    r->polite_hosts = calloc(n, sizeof(*r->polite_hosts));
    given = calloc(n, sizeof(*given));
    if (r->polite_hosts == NULL || given == NULL) {
        cx->oom = true;
        free(given);
        return -1;
    }
    cJSON_ArrayForEach(it, hosts) {
        struct conf_host_politeness *h = &r->polite_hosts[r->npolite_hosts];
        const char *key = it->string ? it->string : "";
        bool dup = false;

        confcheck_path_key(hpath, sizeof(hpath), path, key);
        if (!sched_valid_host(key)) {
            confcheck_show(shown, sizeof(shown), key);
            confcheck_err(cx, hpath,
                          "\"%s\" is not HOST or HOST:PORT (port "
                          "1..65535; IPv6 as [::1]:8080)",
                          shown);
            continue;
        }
        for (j = 0; j < r->npolite_hosts; j++)
            if (strcasecmp(r->polite_hosts[j].host, key) == 0)
                dup = true;
        if (dup) {
            confcheck_err(cx, hpath, "duplicate host");
            continue;
        }
        if (!confcheck_object(cx, it, hpath))
            continue;
        confcheck_store(cx, &h->host, key);
        if (h->host == NULL)
            continue;
        for (i = 0; h->host[i]; i++)
            h->host[i] = (char)tolower((unsigned char)h->host[i]);
        confcheck_fields(cx, it, hpath, polite_keys, POLITE_NFIELDS, &h->p, &w);
        given[r->npolite_hosts] = w.seen;
        r->npolite_hosts++;
    }
    /* Keys a host leaves out come from the top level, whatever the order
     * of "hosts" and those keys in the file. */
    for (i = 0; i < r->npolite_hosts; i++) {
        struct conf_politeness *hp = &r->polite_hosts[i].p;

        confcheck_inherit(polite_keys, POLITE_NFIELDS, given[i], hp,
                          &r->politeness);
        confcheck_path_key(hpath, sizeof(hpath), path, r->polite_hosts[i].host);
        if (r->politeness.backoff_max_s >= r->politeness.backoff_base_s)
            check_backoff(cx, hpath, hp);
    }
    free(given);
    return 0;
}

/* "plausibility": when many clinics of one host empty at once (plaus.h). */
static const struct confcheck_field plausibility_keys[] = {
    CONFCHECK_INT_AT("min_clinics", struct conf_plausibility, min_clinics, 2,
                     CONF_CLINICS_MAX, CONF_DEFAULT_PLAUS_MIN_CLINICS, 0),
    CONFCHECK_NUM_AT("fraction", struct conf_plausibility, fraction, 0.01, 1,
                     CONF_DEFAULT_PLAUS_FRACTION),
    CONFCHECK_INT_AT("confirm_polls", struct conf_plausibility, confirm_polls,
                     1, 100, CONF_DEFAULT_PLAUS_CONFIRM_POLLS, 0),
    { .name = NULL }
};

/*
 * http.public_base_url: a URL that passes url_check (the rule every
 * fetched URL meets), without credentials, query or fragment, printable
 * ASCII only. Returns NULL when fine, else why not.
 */
static const char *bad_base_url(const char *s)
{
    static const struct {
        CURLUPart part;
        const char *why;
    } none[] = {
        { CURLUPART_USER, "credentials (user@) are not allowed" },
        { CURLUPART_PASSWORD, "credentials (user:pass@) are not allowed" },
        { CURLUPART_OPTIONS, "credentials (;options) are not allowed" },
        { CURLUPART_QUERY, "a query (?) is not allowed" },
        { CURLUPART_FRAGMENT, "a fragment (#) is not allowed" },
    };
    const char *why = NULL;
    CURLU *u;
    size_t i;

    if (strlen(s) > CONF_PUBLIC_BASE_URL_MAX)
        return "longer than 1024 bytes";
    for (i = 0; s[i] != '\0'; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return "holds a space, control or non-ASCII byte";
    if (strchr(s, '?') != NULL)
        return "a query (?) is not allowed";
    if (strchr(s, '#') != NULL)
        return "a fragment (#) is not allowed";
    /* The runtime's rule (url.h): scheme, host, port 1..65535. */
    if (url_check(s, 0, NULL, 0) != 0)
        return "not an absolute http:// or https:// URL";
    if ((u = curl_url()) == NULL)
        return "out of memory";
    if (curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK) {
        why = "not an absolute http:// or https:// URL";
        goto out;
    }
    for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        char *part = NULL;

        if (curl_url_get(u, none[i].part, &part, 0) == CURLUE_OK) {
            curl_free(part);
            why = none[i].why;
            goto out;
        }
    }
out:
    curl_url_cleanup(u);
    return why;
}

/* http.public_base_url: see bad_base_url. */
static int get_public_base_url(struct confcheck *cx, const cJSON *it,
                               const char *path, void *dst)
{
    char shown[CONFCHECK_SHOWN];
    const char *s, *why;

    if ((s = confcheck_str(cx, it, path, true)) == NULL)
        return -1;
    if ((why = bad_base_url(s)) != NULL) {
        /* A password is never echoed, even a refused one. */
        if (strncmp(why, "credentials", 11) == 0)
            snprintf(shown, sizeof(shown), "(not shown)");
        else
            confcheck_show(shown, sizeof(shown), s);
        confcheck_err(cx, path,
                      "\"%s\": %s (want e.g. "
                      "https://feed.example.se/vardval)",
                      shown, why);
        return -1;
    }
    confcheck_store(cx, dst, s);
    return 0;
}

/* "http": the public server's limits against slow or many clients, the
 * public base URL and the admin listener. */
static const struct confcheck_field http_keys[] = {
    CONFCHECK_INT_AT("request_timeout_ms", struct conf_region,
                     http_request_timeout_ms, 500, 120000,
                     CONF_DEFAULT_HTTP_REQUEST_TIMEOUT_MS, 0),
    CONFCHECK_INT_AT("max_connections", struct conf_region,
                     http_max_connections, 16, 1000000,
                     CONF_DEFAULT_HTTP_MAX_CONNECTIONS, 0),
    CONFCHECK_FN_AT("public_base_url", struct conf_region, http_public_base_url,
                    get_public_base_url, 0),
    CONFCHECK_VALID_AT("admin_listen", struct conf_region, http_admin_listen,
                       valid_listen,
                       "is not HOST:PORT "
                       "(port 1..65535; IPv6 as [::1]:8081)",
                       CONFCHECK_NODEF),
    CONFCHECK_INT_AT("max_age_s", struct conf_region, http_max_age_s, 1, 86400,
                     CONF_DEFAULT_HTTP_MAX_AGE_S, 0),
    { .name = NULL }
};

/* "timezone": only CONF_DEFAULT_TIMEZONE (clock.h knows no other). */
static bool valid_timezone(const char *s)
{
    return strcmp(s, CONF_DEFAULT_TIMEZONE) == 0;
}

/* The keys of the file's top object; parse_root's cross-checks read the
 * four named ones (-Woverride-init keeps the names on their rows). */
enum {
    RK_GUARANTEE = 2,
    RK_HORIZON = 3,
    RK_FETCH = 5,
    RK_RIV = 6
};

static const struct confcheck_field root_keys[] = {
    CONFCHECK_STR_AT("name", struct conf_region, name, CONFCHECK_NODEF,
                     CONFCHECK_REQUIRED),
    CONFCHECK_VALID_AT("timezone", struct conf_region, timezone, valid_timezone,
                       "is not supported: only \"" CONF_DEFAULT_TIMEZONE
                       "\" is",
                       CONF_DEFAULT_TIMEZONE),
    [RK_GUARANTEE] =
        CONFCHECK_SECTION_AT("guarantee",
                             offsetof(struct conf_region, guarantee),
                             guarantee_keys),
    [RK_HORIZON] =
        CONFCHECK_INT_AT("horizon_days", struct conf_region, horizon_days, 1,
                         90, CONF_DEFAULT_HORIZON_DAYS, 0),
    CONFCHECK_INT_AT("poll_interval_s", struct conf_region, poll_interval_s, 10,
                     86400, CONF_DEFAULT_POLL_INTERVAL_S, 0),
    [RK_FETCH] = CONFCHECK_SECTION_AT("fetch", 0, fetch_keys),
    [RK_RIV] = CONFCHECK_SECTION_AT("riv", 0, riv_keys),
    CONFCHECK_VALID_AT("listen", struct conf_region, listen, valid_listen,
                       "is not HOST:PORT (port 1..65535; IPv6 as "
                       "[::1]:8080)",
                       CONF_DEFAULT_LISTEN),
    CONFCHECK_FN_SECTION("clinics", parse_clinics, CONFCHECK_REQUIRED),
    CONFCHECK_FN_SECTION("politeness", parse_politeness, 0),
    CONFCHECK_STR_AT("store", struct conf_region, store, CONF_DEFAULT_STORE, 0),
    CONFCHECK_INT_AT("retention_days", struct conf_region, retention_days, 1,
                     CONF_RETENTION_DAYS_MAX, CONF_DEFAULT_RETENTION_DAYS, 0),
    CONFCHECK_STR_AT("geo", struct conf_region, geo, CONFCHECK_NODEF, 0),
    CONFCHECK_SECTION_AT("http", 0, http_keys),
    CONFCHECK_SECTION_AT("plausibility",
                         offsetof(struct conf_region, plausibility),
                         plausibility_keys),
    CONFCHECK_INT_AT("publish_interval_s", struct conf_region,
                     publish_interval_s, 0, CONF_PUBLISH_INTERVAL_MAX_S,
                     CONF_DEFAULT_PUBLISH_INTERVAL_S, 0),
    { .name = NULL }
};

static void parse_root(struct confcheck *cx, const cJSON *root,
                       struct conf_region *r)
{
    struct confcheck_walk w;
    bool horizon_given;
    long first_riv;

    if (!confcheck_object(cx, root, "$"))
        return;
    confcheck_fields(cx, root, "$", root_keys, CONFCHECK_ALL, r, &w);

    /*
     * Cross-field rules, only when both sides are valid on their own.
     * A poll covers horizon_days local dates starting today (day 0), so
     * reaching the guarantee's last day N takes N + 1 of them.
     */
    horizon_given = w.seen & (1u << RK_HORIZON);
    if (!(w.bad & (1u << RK_GUARANTEE)) && !(w.bad & (1u << RK_HORIZON)) &&
        r->horizon_days <= r->guarantee.days)
        confcheck_err(cx, "$.horizon_days",
                      "%d%s does not reach the last day of the guarantee "
                      "(guarantee.days %d): polls cover today and the next "
                      "horizon_days - 1 days, so at least %d is needed",
                      r->horizon_days, horizon_given ? "" : " (the default)",
                      r->guarantee.days, r->guarantee.days + 1);
    if (!(w.bad & (1u << RK_FETCH)) && r->timeout_ms < r->connect_timeout_ms)
        confcheck_err(cx, "$.fetch.timeout_ms",
                      "%d is shorter than fetch.connect_timeout_ms (%d)",
                      r->timeout_ms, r->connect_timeout_ms);
    /* riv is "bad" when it is not an object or its subject_of_care was
     * refused: either way that is reported already. */
    first_riv = first_riv_clinic(r);
    if (first_riv >= 0 && r->riv_subject_of_care == NULL &&
        !(w.bad & (1u << RK_RIV)))
        confcheck_err(
            cx, "$.riv.subject_of_care",
            "missing; required because $.clinics[%ld] uses the " RIV_ADAPTER
            " adapter",
            first_riv);
}

/* Defaults for everything optional (the key tables hold them); strings
 * allocated. */
static void set_defaults(struct confcheck *cx, struct conf_region *r)
{
    confcheck_defaults(cx, root_keys, r);
    confcheck_defaults(cx, polite_keys, &r->politeness);
    r->guarantee.counting = AVAIL_COUNT_CALENDAR;
}

/* ---- syntax errors --------------------------------------------------- */

/* Digits and the bytes of personnummer separators (pnr.h), for
 * syntax_error's context. */
static bool numberish(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == ' ' ||
           c == '%' || c == '\t' || ((unsigned char)c & 0x80) != 0;
}

/* True when a run of numberish bytes holding a digit crosses position i
 * of text (bytes on both sides); [*a, *b) is the run, at most 40 bytes
 * each side of i. */
static bool number_across(const char *t, size_t len, size_t i, size_t *a,
                          size_t *b)
{
    size_t s = i, e = i, k;

    while (s > 0 && i - s < 40 && numberish(t[s - 1]))
        s--;
    while (e < len && e - i < 40 && numberish(t[e]))
        e++;
    *a = s;
    *b = e;
    if (s == i || e == i)
        return false;
    for (k = s; k < e; k++)
        if (t[k] >= '0' && t[k] <= '9')
            return true;
    return false;
}

/* The run [a, b) went on past the 40-byte limit. */
static bool longer_than_shown(const char *t, size_t len, size_t a, size_t b)
{
    return (a > 0 && numberish(t[a - 1])) || (b < len && numberish(t[b]));
}

/* Report msg at byte offset off of text as "line L, column C: ...". */
static void syntax_error(struct confcheck *cx, const char *text, size_t len,
                         size_t off, const char *what)
{
    char near[CONFCHECK_SHOWN], where[64];
    size_t line = 1, col = 1, i, end, start = off, a, b;

    if (off > len)
        off = len;
    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            col++; /* count characters, not UTF-8 continuation bytes */
        }
    }
    for (end = off;
         end < len && end - off < 20 && text[end] != '\n' && text[end] != '\r';
         end++)
        ;
    /* Never start or end the context inside a number (verr scrubs whole
     * ones): take in the whole run of digits and separators across
     * either edge, or leave it out when it is too long to show. */
    if (number_across(text, len, off, &a, &b))
        start = longer_than_shown(text, len, a, b) ? b : a;
    if (end > start && number_across(text, len, end, &a, &b))
        end = longer_than_shown(text, len, a, b) ? a : b;
    if (end < start)
        end = start;
    confcheck_show_n(near, sizeof(near), text + start, end - start);
    snprintf(where, sizeof(where), "line %zu, column %zu", line, col);
    if (near[0] != '\0')
        confcheck_err(cx, where, "%s near '%s'", what, near);
    else
        confcheck_err(cx, where, "%s at end of file", what);
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- entry points ---------------------------------------------------- */

int conf_parse(const char *text, size_t len, struct conf_region **out,
               struct conf_errors *errs)
{
    struct confcheck cx = { errs, false, false };
    struct conf_region *r = NULL;
    cJSON *root = NULL;
    const char *end = NULL, *body = text;
    size_t blen = len, i;
    const void *nul;

    *out = NULL;
    if (len > (size_t)CONF_FILE_MAX) {
        confcheck_err(&cx, NULL,
                      "file is too large (%zu bytes; at most %ld MiB)", len,
                      CONF_FILE_MAX / (1024 * 1024));
        goto fail;
    }
    /* Editors on some systems write a UTF-8 byte order mark; allow it. */
    if (blen >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
        body += 3;
        blen -= 3;
    }
    for (i = 0; i < blen && json_space(body[i]); i++)
        ;
    if (i == blen) {
        confcheck_err(&cx, NULL, "file is empty: expected a JSON object");
        goto fail;
    }
    /* cJSON stops strings at NUL, which would truncate values silently. */
    nul = memchr(body, '\0', blen);
    if (nul != NULL) {
        syntax_error(&cx, text, len, (size_t)((const char *)nul - text),
                     "NUL byte in the file");
        goto fail;
    }
    root = cJSON_ParseWithLengthOpts(body, blen, &end, false);
    if (root == NULL) {
        /* end points at the failure (thread-safe cJSON_GetErrorPtr) */
        syntax_error(&cx, text, len,
                     end ? (size_t)(end - text) : (size_t)(body - text),
                     "JSON syntax error");
        goto fail;
    }
    for (i = (size_t)(end - body); i < blen && json_space(body[i]); i++)
        ;
    if (i < blen) {
        syntax_error(&cx, text, len, (size_t)(body - text) + i,
                     "unexpected text after the JSON value");
        goto fail;
    }

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        cx.oom = true;
        goto fail;
    }
    set_defaults(&cx, r);
    parse_root(&cx, root, r);
    if (errs->n > 0 || cx.oom)
        goto fail;
    cJSON_Delete(root);
    *out = r;
    return 0;

fail:
    if (cx.oom) {
        cx.full = false;
        confcheck_err(&cx, NULL,
                      "out of memory while reading the configuration");
    }
    cJSON_Delete(root);
    conf_free(r);
    return -1;
}

/*
 * "geo" (the near= place table, geo.h) is relative to the configuration
 * file's directory; without the key, CONF_DEFAULT_GEO there is used when
 * that file exists (else NULL: near is not available). 0 or -1 (OOM).
 */
static int resolve_geo(const char *conf_path, struct conf_region *r)
{
    const char *slash = strrchr(conf_path, '/');
    size_t dl = slash ? (size_t)(slash - conf_path + 1) : 0;
    const char *name = r->geo ? r->geo : CONF_DEFAULT_GEO;
    char *full;
    struct stat st;

    if (name[0] == '/' && r->geo != NULL)
        return 0;
    if ((full = malloc(dl + strlen(name) + 1)) == NULL)
        return -1;
    memcpy(full, conf_path, dl);
    strcpy(full + dl, name);
    if (r->geo == NULL && stat(full, &st) != 0) {
        free(full);
        return 0;
    }
    free(r->geo);
    r->geo = full;
    return 0;
}

/*
 * conf_load's second step: each adapter reads what its clinics' polls
 * need from the files their blocks name (adapter.h conf_load), so that
 * the file is read as the configuration is loaded or reloaded and never
 * by a poll. 0, or -1 with every problem reported by its JSON path.
 */
static int load_booking_files(struct confcheck *cx, struct conf_region *r)
{
    char path[CONFCHECK_PATH];
    const struct adapter *a;
    size_t i, n0 = cx->errs->n;

    for (i = 0; i < r->nclinics && !cx->full; i++) {
        if (!r->clinics[i].has_booking)
            continue;
        a = adapter_find(r->clinics[i].booking.adapter);
        if (a == NULL || a->conf_load == NULL)
            continue;
        snprintf(path, sizeof(path), "$.clinics[%zu].booking", i);
        a->conf_load(cx, path, &r->clinics[i].booking);
    }
    if (cx->oom) {
        cx->full = false;
        confcheck_err(cx, NULL,
                      "out of memory while reading the "
                      "configuration");
    }
    return cx->errs->n > n0 || cx->oom ? -1 : 0;
}

int conf_load(const char *path, struct conf_region **out,
              struct conf_errors *errs)
{
    struct confcheck cx = { errs, false, false };
    struct sbuf b = { 0 };
    long long size;
    int rc = -1;

    *out = NULL;
    if (path == NULL) {
        confcheck_err(&cx, NULL, "no configuration file given");
        return -1;
    }
    switch (sbuf_read_file(&b, path, (size_t)CONF_FILE_MAX, &size)) {
    case SBUF_READ_OK:
        break;
    case SBUF_READ_OPEN:
        confcheck_err(&cx, NULL, "cannot open file: %s", strerror(errno));
        return -1;
    case SBUF_READ_DIR:
        confcheck_err(&cx, NULL, "cannot read file: it is a directory");
        return -1;
    case SBUF_READ_TOO_LARGE:
        if (size > CONF_FILE_MAX)
            confcheck_err(&cx, NULL,
                          "file is too large (%lld bytes; at most %ld MiB)",
                          size, CONF_FILE_MAX / (1024 * 1024));
        else /* grew while read, or a pipe: no size to show */
            confcheck_err(&cx, NULL, "file is too large (more than %ld MiB)",
                          CONF_FILE_MAX / (1024 * 1024));
        return -1;
    case SBUF_READ_IO:
        confcheck_err(&cx, NULL, "cannot read file: %s", strerror(errno));
        return -1;
    case SBUF_READ_NOMEM:
        confcheck_err(&cx, NULL, "out of memory reading the file");
        return -1;
    }
    rc = conf_parse(b.p, b.len, out, errs);
    if (rc == 0 && load_booking_files(&cx, *out) != 0) {
        conf_free(*out);
        *out = NULL;
        rc = -1;
    }
    if (rc == 0 && resolve_geo(path, *out) != 0) {
        conf_free(*out);
        *out = NULL;
        confcheck_err(&cx, NULL, "out of memory");
        rc = -1;
    }
    sbuf_free(&b);
    return rc;
}

static void clinic_free(struct conf_clinic *c)
{
    free(c->id);
    free(c->name);
    free(c->municipality);
    free(c->locality);
    free(c->operator_kind);
    free(c->phone);
    free(c->website);
    free(c->address);
    free(c->booking.adapter);
    free(c->booking.url);
    free(c->booking.booking_url);
    free(c->booking.time_type_id);
    free(c->booking.time_type_name);
    free(c->booking.actor);
    free(c->booking.location);
    free(c->booking.token_file);
    if (c->booking.token != NULL) {
        /* a secret: do not leave it in freed memory */
        memset(c->booking.token, 0, strlen(c->booking.token));
        free(c->booking.token);
    }
    free(c->booking.search);
    for (size_t k = 0; k < c->booking.ntime_types; k++) {
        free(c->booking.time_types[k].id);
        free(c->booking.time_types[k].service);
    }
    free(c->booking.time_types);
    for (size_t k = 0; k < c->booking.nendpoints; k++) {
        free(c->booking.endpoints[k].contract);
        free(c->booking.endpoints[k].url);
        free(c->booking.endpoints[k].soap_action);
    }
    free(c->booking.endpoints);
    free(c->booking.tls_cert);
    free(c->booking.tls_key);
    free(c->booking.tls_ca);
    free(c->sim_profile);
}

void conf_free(struct conf_region *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nclinics; i++)
        clinic_free(&r->clinics[i]);
    free(r->clinics);
    free(r->name);
    free(r->timezone);
    free(r->user_agent);
    free(r->riv_subject_of_care);
    free(r->riv_actor_type);
    free(r->listen);
    free(r->http_public_base_url);
    free(r->http_admin_listen);
    free(r->store);
    free(r->geo);
    for (i = 0; i < r->npolite_hosts; i++)
        free(r->polite_hosts[i].host);
    free(r->polite_hosts);
    free(r);
}

long conf_clinic_index(const struct conf_region *r, const char *id)
{
    size_t i;

    if (r == NULL || id == NULL)
        return -1;
    for (i = 0; i < r->nclinics; i++)
        if (r->clinics[i].id != NULL && strcasecmp(r->clinics[i].id, id) == 0)
            return (long)i;
    return -1;
}
