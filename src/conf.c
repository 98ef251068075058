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

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
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
/* Longest string value accepted anywhere (URLs are the longest real ones). */
#define STR_MAX 2048
/* Longest key or value shown inside a message, in bytes. */
#define SHOW_MAX 60
#define PATH_LEN 256

/* The adapter whose clinics need riv.subject_of_care. */
#define RIV_ADAPTER "rivta-scheduling"
#define FHIR_ADAPTER "fhir-slot"
#define SMART_ADAPTER "smart-bulk"

/*
 * The names clinics[].sim.profile accepts (sim/sim.c's profiles[] must
 * list the same). Kept here so that `check-config` names a mistyped
 * profile by its JSON path with every other error; the simulator itself
 * is not part of the daemon.
 */
static const char *const known_profiles[] = {
    "normal", "busy", "full", "vp004", "vp007", "error", "garbage",
    "hostile", "hang", "http503",
    /* transport faults on a normal schedule */
    "http429", "reset", "truncated", "huge", "drip", "flaky",
    /* hostile transport for the client's caps */
    "gzip-bomb", "redirect-loop", "redirect-offsite", "slow-headers",
    "endless", "bad-length", NULL
};

/* ---- error list ------------------------------------------------------ */

/* Validation state shared by every checker. */
struct vctx {
    struct conf_errors *errs;
    bool oom;       /* an allocation failed: the result is unusable */
    bool full;      /* CONF_ERRORS_MAX reached: further errors dropped */
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

/* Append a copy of line; sets cx->oom when memory runs out. */
static void errs_push(struct vctx *cx, const char *line)
{
    char **nv;
    char *copy;

    copy = strdup(line);
    if (copy == NULL) {
        cx->oom = true;
        return;
    }
    nv = realloc(cx->errs->v, (cx->errs->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        free(copy);
        cx->oom = true;
        return;
    }
    nv[cx->errs->n++] = copy;
    cx->errs->v = nv;
}

/* Report "path: message". path NULL means the message stands alone. */
static void verr(struct vctx *cx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verr(struct vctx *cx, const char *path, const char *fmt, ...)
{
    char msg[768], line[1024];
    va_list ap;

    if (cx->full)
        return;
    if (cx->errs->n >= CONF_ERRORS_MAX) {
        snprintf(line, sizeof(line),
                 "too many errors (more than %d); the rest are not reported",
                 CONF_ERRORS_MAX);
        errs_push(cx, line);
        cx->full = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (path != NULL)
        snprintf(line, sizeof(line), "%s: %s", path, msg);
    else
        snprintf(line, sizeof(line), "%s", msg);
    /* Config errors quote the file (values, keys, syntax context), and
     * riv.subject_of_care is a personnummer: never echo one (pnr.h). */
    pnr_scrub_buf(line, sizeof(line));
    errs_push(cx, line);
}

/* ---- text helpers ---------------------------------------------------- */

/*
 * Copy s (n bytes) into dst for display: at most SHOW_MAX bytes, whole
 * characters only, control characters and invalid bytes shown as '?',
 * and "..." when cut. Safe for any input.
 */
static void show_n(char *dst, size_t dstlen, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, k;

    while (n > 0 && o + 4 < dstlen) {
        k = sf_utf8_seq((const char *)p, n);
        if (o + (k ? k : 1) > SHOW_MAX) {
            break;
        } else if (k == 0 || (k == 1 && (p[0] < 0x20 || p[0] == 0x7f))) {
            dst[o++] = '?';
            k = 1;
        } else {
            memcpy(dst + o, p, k);
            o += k;
        }
        p += k;
        n -= k;
    }
    if (n > 0 && *p >= '0' && *p <= '9') {
        /* A number cut here would escape verr's scrub: drop a cut run
         * that is short enough to be (part of) one. */
        size_t d = o;

        while (d > 0 && dst[d - 1] >= '0' && dst[d - 1] <= '9')
            d--;
        if (o - d <= 12)
            o = d;
    }
    if (n > 0 && o + 4 <= dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

static void show(char *dst, size_t dstlen, const char *s)
{
    show_n(dst, dstlen, s, strlen(s));
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "an unknown value";
}

static void path_key(char *dst, size_t n, const char *base, const char *key)
{
    char k[SHOW_MAX + 8];

    show(k, sizeof(k), key);
    snprintf(dst, n, "%s.%s", base, k);
}

/* Small edit distance, for "did you mean" hints on misspelt keys. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t prev[41], cur[41];

    if (la > 40 || lb > 40)
        return 99;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t m = del < ins ? del : ins;
            cur[j] = m < sub ? m : sub;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

/* ---- member dispatch ------------------------------------------------- */

/*
 * Look up member `it` of an object among the NULL-terminated `keys`.
 * Fills path with "<base>.<key>". Returns the key's index, or -1 after
 * reporting an unknown or repeated key (the caller then skips it).
 * *seen collects a bit per key seen, for required-key checks.
 */
static int member(struct vctx *cx, const cJSON *it, const char *base,
                  const char *const *keys, unsigned *seen, char *path,
                  size_t pathlen)
{
    const char *key = it->string ? it->string : "";
    size_t best = 99, d;
    int i, hint = -1;

    path_key(path, pathlen, base, key);
    for (i = 0; keys[i] != NULL; i++) {
        if (strcmp(keys[i], key) == 0) {
            if (*seen & (1u << i)) {
                verr(cx, path, "duplicate key");
                return -1;
            }
            *seen |= 1u << i;
            return i;
        }
        d = edit_distance(key, keys[i]);
        if (d < best) {
            best = d;
            hint = i;
        }
    }
    if (hint >= 0 && best <= 2 && best < strlen(key))
        verr(cx, path, "unknown key (did you mean \"%s\"?)", keys[hint]);
    else
        verr(cx, path, "unknown key");
    return -1;
}

/* Report each key of `required` (indexes into keys, -1 ended) not seen. */
static void check_required(struct vctx *cx, const char *path,
                           const char *const *keys, const int *required,
                           unsigned seen)
{
    for (; *required >= 0; required++)
        if (!(seen & (1u << *required)))
            verr(cx, path, "missing required key \"%s\"", keys[*required]);
}

static bool is_object(struct vctx *cx, const cJSON *v, const char *path)
{
    if (cJSON_IsObject(v))
        return true;
    verr(cx, path, "expected an object, got %s", type_name(v));
    return false;
}

/* ---- typed values ---------------------------------------------------- */

/*
 * Check that v is a string fit for the config: valid UTF-8, no control
 * characters (every value is single-line and may reach logs, HTTP headers
 * or XML), at most STR_MAX bytes and, if nonempty, not empty. Returns the
 * borrowed string or NULL after reporting.
 */
static const char *check_str(struct vctx *cx, const cJSON *v,
                             const char *path, bool nonempty)
{
    const char *s;
    size_t i;

    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        verr(cx, path, "expected a string, got %s", type_name(v));
        return NULL;
    }
    s = v->valuestring;
    if (!sf_utf8_valid(s, strlen(s))) {
        verr(cx, path, "not valid UTF-8");
        return NULL;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            verr(cx, path, "contains a control character");
            return NULL;
        }
    }
    if (i > STR_MAX) {
        verr(cx, path, "longer than %d bytes", STR_MAX);
        return NULL;
    }
    if (nonempty && i == 0) {
        verr(cx, path, "must not be empty");
        return NULL;
    }
    return s;
}

/* strdup into *dst (freeing any old value); sets cx->oom on failure. */
static void store(struct vctx *cx, char **dst, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL) {
        cx->oom = true;
        return;
    }
    free(*dst);
    *dst = copy;
}

static void get_str(struct vctx *cx, const cJSON *v, const char *path,
                    bool nonempty, char **dst)
{
    const char *s = check_str(cx, v, path, nonempty);

    if (s != NULL)
        store(cx, dst, s);
}

/* Optional string: null means "absent"; else it must be nonempty. */
static void get_opt_str(struct vctx *cx, const cJSON *v, const char *path,
                        char **dst)
{
    if (!cJSON_IsNull(v))
        get_str(cx, v, path, true, dst);
}

/* Integer in lo..hi. Returns 0 and sets *dst, or -1 after reporting. */
static int get_int(struct vctx *cx, const cJSON *v, const char *path,
                   long lo, long hi, long *dst)
{
    double d;

    if (!cJSON_IsNumber(v)) {
        verr(cx, path, "expected an integer, got %s", type_name(v));
        return -1;
    }
    d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) {
        verr(cx, path, "%.15g is not a whole number", d);
        return -1;
    }
    if (d < (double)lo || d > (double)hi) {
        verr(cx, path, "%.15g is out of range (%ld..%ld)", d, lo, hi);
        return -1;
    }
    *dst = (long)d;
    return 0;
}

static void get_int_field(struct vctx *cx, const cJSON *v, const char *path,
                          long lo, long hi, int *dst)
{
    long x;

    if (get_int(cx, v, path, lo, hi, &x) == 0)
        *dst = (int)x;
}

/*
 * An absolute http:// or https:// URL with a host and no characters that
 * would need quoting in a header or an HTML attribute.
 */
static bool valid_http_url(const char *s)
{
    size_t skip;
    const char *p;

    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (s[skip] == '\0' || s[skip] == '/' || s[skip] == ':' ||
        s[skip] == '?' || s[skip] == '#')
        return false;
    for (p = s; *p != '\0'; p++)
        if (strchr(" \"<>\\^`{|}", *p) != NULL)
            return false;
    return true;
}

static void get_url(struct vctx *cx, const cJSON *v, const char *path,
                    char **dst)
{
    const char *s = check_str(cx, v, path, true);
    char shown[SHOW_MAX + 8], why[160];
    bool secret;

    if (s == NULL)
        return;
    /* A URL with '@' may hold a password: such a URL is never echoed. */
    secret = strchr(s, '@') != NULL;
    show(shown, sizeof(shown), secret ? "(not shown: it has an '@')" : s);
    if (secret && url_check(s, URL_NO_USERINFO, why, sizeof(why)) != 0) {
        verr(cx, path, "%s", why);
        return;
    }
    if (!valid_http_url(s)) {
        verr(cx, path, "\"%s\" is not an http:// or https:// URL", shown);
        return;
    }
    /* The runtime's own check (libcurl's parser, port, host length), so
     * nothing accepted here fails every poll later. Credentials are
     * refused in every URL, polled or published: see url.h. */
    if (url_check(s, URL_NO_USERINFO, why, sizeof(why)) != 0) {
        verr(cx, path, "\"%s\": %s", shown, why);
        return;
    }
    store(cx, dst, s);
}

static void get_opt_url(struct vctx *cx, const cJSON *v, const char *path,
                        char **dst)
{
    if (!cJSON_IsNull(v))
        get_url(cx, v, path, dst);
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
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", *p) == NULL)
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

static void parse_guarantee(struct vctx *cx, const cJSON *obj,
                            const char *base, struct avail_rule *rule,
                            bool *days_ok)
{
    static const char *const keys[] = { "days", "counting", NULL };
    char path[PATH_LEN];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;
    enum avail_counting c;
    long x;

    *days_ok = false;
    if (!is_object(cx, obj, base))
        return;
    *days_ok = true;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            if (get_int(cx, it, path, 0, 30, &x) == 0)
                rule->days = (int)x;
            else
                *days_ok = false;
            break;
        case 1:
            s = check_str(cx, it, path, false);
            if (s == NULL)
                break;
            if (avail_counting_parse(s, &c) == 0)
                rule->counting = c;
            else
                verr(cx, path, "must be \"calendar\" or \"working\"");
            break;
        default:
            break;
        }
    }
}

static void parse_fetch(struct vctx *cx, const cJSON *obj, const char *base,
                        struct conf_region *r, bool *timeouts_ok)
{
    static const char *const keys[] = {
        "connect_timeout_ms", "timeout_ms", "max_body_bytes", "user_agent",
        "max_decompress_ratio", NULL
    };
    char path[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;
    long x;

    *timeouts_ok = false;
    if (!is_object(cx, obj, base))
        return;
    *timeouts_ok = true;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            if (get_int(cx, it, path, 100, 60000, &x) == 0)
                r->connect_timeout_ms = (int)x;
            else
                *timeouts_ok = false;
            break;
        case 1:
            if (get_int(cx, it, path, 100, 600000, &x) == 0)
                r->timeout_ms = (int)x;
            else
                *timeouts_ok = false;
            break;
        case 2:
            if (get_int(cx, it, path, 1024, 256L * 1024 * 1024, &x) == 0)
                r->max_body_bytes = x;
            break;
        case 3:
            s = check_str(cx, it, path, true);
            if (s == NULL)
                break;
            if (!valid_user_agent(s)) {
                show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\" is not a valid User-Agent "
                     "(printable ASCII, at most 200 characters)", shown);
                break;
            }
            store(cx, &r->user_agent, s);
            break;
        case 4:
            if (get_int(cx, it, path, 10, 100000, &x) == 0)
                r->max_decompress_ratio = x;
            break;
        default:
            break;
        }
    }
}

static void parse_riv(struct vctx *cx, const cJSON *obj, const char *base,
                      struct conf_region *r, bool *soc_reported)
{
    static const char *const keys[] = {
        "subject_of_care", "actor_type", NULL
    };
    char path[PATH_LEN];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;
    size_t i;

    *soc_reported = false;
    if (!is_object(cx, obj, base)) {
        *soc_reported = true;
        return;
    }
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            *soc_reported = true;
            s = check_str(cx, it, path, true);
            if (s == NULL)
                break;
            for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
                ;
            /* never echo the value: it is a personal identity number */
            if (i != 12 || s[i] != '\0') {
                verr(cx, path, "must be 12 digits (YYYYMMDDNNNN)");
                break;
            }
            store(cx, &r->riv_subject_of_care, s);
            break;
        case 1:
            s = check_str(cx, it, path, false);
            if (s == NULL)
                break;
            if (strcmp(s, "subject_of_care") != 0 &&
                strcmp(s, "subject_of_care_agent") != 0) {
                verr(cx, path, "must be \"subject_of_care\" or "
                     "\"subject_of_care_agent\"");
                break;
            }
            store(cx, &r->riv_actor_type, s);
            break;
        default:
            break;
        }
    }
}

/* FHIR R4 id: 1..64 of letters, digits, '-' and '.'. */
static bool valid_fhir_id(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > CONF_FHIR_ID_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

/* A relative FHIR reference "Type/id": Type is a resource type name. */
static bool valid_fhir_reference(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *p;

    if (slash == NULL || slash == s || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (p = s; p < slash; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return false;
    return valid_fhir_id(slash + 1, strlen(slash + 1));
}

/*
 * Extra search parameters "name=value&name=value", appended to the query
 * verbatim: only characters that need no quoting in a URL query, each
 * part with a nonempty name and an '='. '#' would end the query, and
 * spaces or quotes would make the URL invalid.
 */
static bool valid_search(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-._~%!$'()*+,;=:@/?";
    const char *part = s, *p;
    bool eq = false;

    for (p = s;; p++) {
        if (*p == '&' || *p == '\0') {
            if (p == part || !eq || *part == '=')
                return false;
            if (*p == '\0')
                return true;
            part = p + 1;
            eq = false;
            continue;
        }
        if (*p == '=')
            eq = true;
        else if (strchr(ok, *p) == NULL)
            return false;
        if (*p == '%' && !(isxdigit((unsigned char)p[1]) &&
                           isxdigit((unsigned char)p[2])))
            return false;
    }
}

/* ---- rivta-scheduling extras: time types, endpoints, mutual TLS ------ */

/* The RIV contracts booking.endpoints may override (rivta.h names). */
static const char *const riv_contracts[] = {
    "GetAvailableDates", "GetAvailableTimeslots", "GetAllTimeTypes", NULL
};

/*
 * A file path that must name a readable regular file now (TLS material):
 * a typo would otherwise surface only as a TLS failure at the first poll.
 * Relative paths are relative to the working directory.
 */
static void get_readable_file(struct vctx *cx, const cJSON *v,
                              const char *path, char **dst)
{
    const char *s = check_str(cx, v, path, true);
    char shown[SHOW_MAX + 8];
    struct stat st;
    FILE *f;

    if (s == NULL)
        return;
    show(shown, sizeof(shown), s);
    if (stat(s, &st) != 0) {
        verr(cx, path, "cannot read \"%s\": %s", shown, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        verr(cx, path, "\"%s\" is not a regular file", shown);
        return;
    }
    f = fopen(s, "rb");
    if (f == NULL) {
        verr(cx, path, "cannot read \"%s\": %s", shown, strerror(errno));
        return;
    }
    fclose(f);
    store(cx, dst, s);
}

/* booking.time_types: { "<local id>": {service, new_visit}, ... } */
static void parse_time_types(struct vctx *cx, const cJSON *obj,
                             const char *base, struct conf_booking *b)
{
    static const char *const keys[] = { "service", "new_visit", NULL };
    static const int required[] = { 0, 1, -1 };
    char path[PATH_LEN], epath[PATH_LEN];
    const cJSON *it, *m;
    size_t n = 0, i, k, errs0 = cx->errs->n;
    bool any_new = false;

    if (!is_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj)
        n++;
    if (n == 0) {
        verr(cx, base, "must map at least one time type");
        return;
    }
    if (n > CONF_TIME_TYPES_MAX) {
        verr(cx, base, "more than %d time types", CONF_TIME_TYPES_MAX);
        return;
    }
    b->time_types = calloc(n, sizeof(*b->time_types));
    if (b->time_types == NULL) {
        cx->oom = true;
        return;
    }
    i = 0;
    cJSON_ArrayForEach(it, obj) {
        struct conf_time_type *t = &b->time_types[i];
        const char *id = it->string != NULL ? it->string : "";
        unsigned seen = 0;
        bool dup = false, bad = false;

        path_key(epath, sizeof(epath), base, id);
        for (k = 0; id[k] != '\0'; k++)
            if ((unsigned char)id[k] < 0x20 || id[k] == 0x7f)
                bad = true;
        if (id[0] == '\0' || k > 256 || bad || !sf_utf8_valid(id, k)) {
            verr(cx, epath, "a time type id must be 1..256 bytes of "
                 "UTF-8 text without control characters");
            continue;
        }
        for (k = 0; k < i; k++)
            if (strcmp(b->time_types[k].id, id) == 0)
                dup = true;
        if (dup) {
            verr(cx, epath, "duplicate time type id");
            continue;
        }
        if (!is_object(cx, it, epath))
            continue;
        store(cx, &t->id, id);
        cJSON_ArrayForEach(m, it) {
            switch (member(cx, m, epath, keys, &seen, path, sizeof(path))) {
            case 0:
                get_str(cx, m, path, true, &t->service);
                break;
            case 1:
                if (!cJSON_IsBool(m)) {
                    verr(cx, path, "expected true or false, got %s",
                         type_name(m));
                    break;
                }
                t->new_visit = cJSON_IsTrue(m);
                any_new = any_new || t->new_visit;
                break;
            default:
                break;
            }
        }
        check_required(cx, epath, keys, required, seen);
        if (t->id != NULL)
            i++;
    }
    b->ntime_types = i;
    /* Only about a mapping that is otherwise right: an entry with an
     * error may be the one meant to be the new visit. */
    if (cx->errs->n == errs0 && !any_new)
        verr(cx, base, "no time type has \"new_visit\": true (nothing "
             "would count for the care guarantee)");
}

/* booking.endpoints: { "<contract>": {url, soap_action}, ... } */
static void parse_endpoints(struct vctx *cx, const cJSON *obj,
                            const char *base, struct conf_booking *b)
{
    static const char *const keys[] = { "url", "soap_action", NULL };
    char path[PATH_LEN], epath[PATH_LEN];
    const cJSON *it, *m;
    unsigned seen_c = 0;
    size_t n = 0;
    int ci;

    if (!is_object(cx, obj, base))
        return;
    b->endpoints = calloc(sizeof(riv_contracts) / sizeof(riv_contracts[0]),
                          sizeof(*b->endpoints));
    if (b->endpoints == NULL) {
        cx->oom = true;
        return;
    }
    cJSON_ArrayForEach(it, obj) {
        struct conf_endpoint *e = &b->endpoints[n];
        unsigned seen = 0;
        const char *s;

        ci = member(cx, it, base, riv_contracts, &seen_c, epath,
                    sizeof(epath));
        if (ci < 0 || !is_object(cx, it, epath))
            continue;
        cJSON_ArrayForEach(m, it) {
            switch (member(cx, m, epath, keys, &seen, path, sizeof(path))) {
            case 0:
                get_url(cx, m, path, &e->url);
                break;
            case 1:
                s = check_str(cx, m, path, true);
                if (s == NULL)
                    break;
                /* Sent as SOAPAction: "<value>": a quote would end it. */
                if (strchr(s, '"') != NULL) {
                    verr(cx, path, "must not contain '\"'");
                    break;
                }
                store(cx, &e->soap_action, s);
                break;
            default:
                break;
            }
        }
        if (seen == 0)
            verr(cx, epath, "expected \"url\" and/or \"soap_action\"");
        store(cx, &e->contract, riv_contracts[ci]);
        n++;
    }
    b->nendpoints = n;
}

/* booking.tls: {cert, key, ca}, each a readable PEM file. */
static void parse_tls(struct vctx *cx, const cJSON *obj, const char *base,
                      struct conf_booking *b)
{
    static const char *const keys[] = { "cert", "key", "ca", NULL };
    char path[PATH_LEN];
    const cJSON *it;
    unsigned seen = 0;

    if (!is_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            get_readable_file(cx, it, path, &b->tls_cert);
            break;
        case 1:
            get_readable_file(cx, it, path, &b->tls_key);
            break;
        case 2:
            get_readable_file(cx, it, path, &b->tls_ca);
            break;
        default:
            break;
        }
    }
    if (seen == 0)
        verr(cx, base, "expected at least one of \"cert\", \"key\", \"ca\"");
    /* A key alone authenticates nothing; a cert alone may hold its key. */
    if ((seen & 2u) && !(seen & 1u))
        verr(cx, base, "\"key\" needs \"cert\"");
}

/* Index of each booking key, for the per-adapter checks below. */
enum {
    BK_ADAPTER, BK_URL, BK_BOOKING_URL, BK_TIME_TYPE_ID, BK_TIME_TYPE_NAME,
    BK_ACTOR, BK_LOCATION, BK_TOKEN_FILE, BK_SEARCH, BK_PAGE_CAP,
    BK_TIME_TYPES, BK_DISCOVER, BK_ENDPOINTS, BK_TLS
};

/* parse_booking's "adapter": one of the adapter table's names.  False
 * when it is not (the error is recorded), so the per-adapter checks are
 * skipped. */
static bool get_adapter(struct vctx *cx, const cJSON *it, const char *path,
                        struct conf_booking *b)
{
    char shown[SHOW_MAX + 8], known[256];
    const char *const *names;
    const char *s;
    size_t o;

    s = check_str(cx, it, path, true);
    if (s == NULL)
        return false;
    if (adapter_find(s) == NULL) {
        known[0] = '\0';
        o = 0;
        for (names = adapter_names(); *names != NULL; names++)
            o += (size_t)snprintf(known + o,
                                  o < sizeof(known) ?
                                      sizeof(known) - o : 0,
                                  "%s%s", o ? ", " : "", *names);
        show(shown, sizeof(shown), s);
        verr(cx, path, "unknown adapter \"%s\" (known: %s)", shown,
             known);
        return false;
    }
    store(cx, &b->adapter, s);
    return true;
}

/* parse_booking's "actor": a FHIR reference Type/id. */
static void get_actor(struct vctx *cx, const cJSON *it, const char *path,
                      struct conf_booking *b)
{
    char shown[SHOW_MAX + 8];
    const char *s;

    s = check_str(cx, it, path, true);
    if (s == NULL)
        return;
    if (!valid_fhir_reference(s)) {
        show(shown, sizeof(shown), s);
        verr(cx, path, "\"%s\" is not a FHIR reference Type/id "
             "(e.g. \"Location/123\"; id: 1..64 letters, digits, "
             "'-', '.')", shown);
        return;
    }
    store(cx, &b->actor, s);
}

/* parse_booking's "location": a FHIR id. */
static void get_location(struct vctx *cx, const cJSON *it, const char *path,
                         struct conf_booking *b)
{
    char shown[SHOW_MAX + 8];
    const char *s;

    s = check_str(cx, it, path, true);
    if (s == NULL)
        return;
    if (!valid_fhir_id(s, strlen(s))) {
        show(shown, sizeof(shown), s);
        verr(cx, path, "\"%s\" is not a FHIR id (1..64 letters, "
             "digits, '-', '.')", shown);
        return;
    }
    store(cx, &b->location, s);
}

/* parse_booking's "search": extra query pairs, or null. */
static void get_search(struct vctx *cx, const cJSON *it, const char *path,
                       struct conf_booking *b)
{
    char shown[SHOW_MAX + 8];
    const char *s;

    if (cJSON_IsNull(it))
        return;
    s = check_str(cx, it, path, true);
    if (s == NULL)
        return;
    if (!valid_search(s)) {
        show(shown, sizeof(shown), s);
        verr(cx, path, "\"%s\" is not name=value pairs joined by "
             "'&' (URL query characters only, no '#' or spaces)",
             shown);
        return;
    }
    store(cx, &b->search, s);
}

/* parse_booking, once every key is read: the keys the adapter named
 * needs, and none that only another adapter reads. */
static void check_booking_keys(struct vctx *cx, const char *base,
                               const char *const *keys, unsigned seen,
                               const struct conf_booking *b)
{
    /* Keys that only one adapter reads: given to another, they would be
     * ignored silently, so they are errors like unknown keys. */
    static const struct {
        int key;
        const char *adapter;
    } only[] = {
        { BK_ACTOR, FHIR_ADAPTER }, { BK_TOKEN_FILE, FHIR_ADAPTER },
        { BK_SEARCH, FHIR_ADAPTER }, { BK_PAGE_CAP, FHIR_ADAPTER },
        { BK_LOCATION, SMART_ADAPTER },
        { BK_TIME_TYPES, RIV_ADAPTER }, { BK_DISCOVER, RIV_ADAPTER },
        { BK_ENDPOINTS, RIV_ADAPTER }, { BK_TLS, RIV_ADAPTER },
    };
    char path[PATH_LEN];
    size_t i;

    if (strcmp(b->adapter, FHIR_ADAPTER) == 0 && !(seen & (1u << BK_ACTOR)))
        verr(cx, base, "missing required key \"actor\" (the fhir-slot "
             "adapter needs it)");
    if (strcmp(b->adapter, SMART_ADAPTER) == 0 &&
        !(seen & (1u << BK_LOCATION)))
        verr(cx, base, "missing required key \"location\" (the smart-bulk "
             "adapter needs it)");
    /* One way to choose time types: the mapping names them all. */
    if (b->ntime_types > 0 && b->time_type_id != NULL)
        verr(cx, base, "\"time_type_id\" and \"time_types\" exclude each "
             "other (list the type in time_types instead)");
    for (i = 0; i < sizeof(only) / sizeof(only[0]); i++) {
        if (!(seen & (1u << only[i].key)) ||
            strcmp(b->adapter, only[i].adapter) == 0)
            continue;
        path_key(path, sizeof(path), base, keys[only[i].key]);
        verr(cx, path, "only used by the %s adapter, not by %s",
             only[i].adapter, b->adapter);
    }
}

static void parse_booking(struct vctx *cx, const cJSON *obj,
                          const char *base, struct conf_booking *b)
{
    static const char *const keys[] = {
        "adapter", "url", "booking_url", "time_type_id", "time_type_name",
        "actor", "location", "token_file", "search", "page_cap",
        "time_types", "discover_time_types", "endpoints", "tls", NULL
    };
    static const int required[] = { BK_ADAPTER, BK_URL, -1 };
    char path[PATH_LEN];
    const cJSON *it;
    unsigned seen = 0;
    bool adapter_ok = false;
    long x;

    b->page_cap = CONF_DEFAULT_PAGE_CAP;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case BK_ADAPTER:
            if (get_adapter(cx, it, path, b))
                adapter_ok = true;
            break;
        case BK_URL:
            get_url(cx, it, path, &b->url);
            break;
        case BK_BOOKING_URL:
            get_opt_url(cx, it, path, &b->booking_url);
            break;
        case BK_TIME_TYPE_ID:
            get_opt_str(cx, it, path, &b->time_type_id);
            break;
        case BK_TIME_TYPE_NAME:
            get_opt_str(cx, it, path, &b->time_type_name);
            break;
        case BK_ACTOR:
            get_actor(cx, it, path, b);
            break;
        case BK_LOCATION:
            get_location(cx, it, path, b);
            break;
        case BK_TOKEN_FILE:
            get_opt_str(cx, it, path, &b->token_file);
            break;
        case BK_SEARCH:
            get_search(cx, it, path, b);
            break;
        case BK_PAGE_CAP:
            if (get_int(cx, it, path, 1, CONF_PAGE_CAP_MAX, &x) == 0)
                b->page_cap = (int)x;
            break;
        case BK_TIME_TYPES:
            if (!cJSON_IsNull(it))
                parse_time_types(cx, it, path, b);
            break;
        case BK_DISCOVER:
            if (!cJSON_IsBool(it))
                verr(cx, path, "expected true or false, got %s",
                     type_name(it));
            else
                b->discover_time_types = cJSON_IsTrue(it);
            break;
        case BK_ENDPOINTS:
            if (!cJSON_IsNull(it))
                parse_endpoints(cx, it, path, b);
            break;
        case BK_TLS:
            if (!cJSON_IsNull(it))
                parse_tls(cx, it, path, b);
            break;
        default:
            break;
        }
    }
    check_required(cx, base, keys, required, seen);
    if (!adapter_ok)
        return;
    check_booking_keys(cx, base, keys, seen, b);
}

static void parse_sim(struct vctx *cx, const cJSON *obj, const char *base,
                      char **profile)
{
    /* The fault knobs after "profile" are known keys here, so a typo is
     * reported; their values are the simulator's to check, by the same
     * JSON path, when it loads the file (sim_load_faults). */
    static const char *const keys[] = {
        "profile", "latency_ms", "drip_bytes_per_s", "fail_rate",
        "retry_after_s", "body_bytes", "change_every_s", NULL };
    static const int required[] = { 0, -1 };
    char path[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;
    size_t i;
    int k;

    cJSON_ArrayForEach(it, obj) {
        k = member(cx, it, base, keys, &seen, path, sizeof(path));
        if (k != 0)
            continue;
        s = check_str(cx, it, path, true);
        if (s == NULL)
            continue;
        for (i = 0; known_profiles[i] != NULL; i++)
            if (strcmp(known_profiles[i], s) == 0)
                break;
        if (known_profiles[i] == NULL) {
            show(shown, sizeof(shown), s);
            verr(cx, path, "unknown profile \"%s\" (known: normal, busy, "
                 "full, vp004, vp007, error, garbage, hostile, hang, "
                 "http503)", shown);
            continue;
        }
        store(cx, profile, s);
    }
    check_required(cx, base, keys, required, seen);
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

static long *find_duplicates(struct vctx *cx, const cJSON *arr, size_t n)
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
        id = cJSON_IsObject(it) ?
            cJSON_GetObjectItemCaseSensitive(it, "id") : NULL;
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

static void parse_clinic(struct vctx *cx, const cJSON *obj, const char *base,
                         struct conf_clinic *c, long dup_of)
{
    static const char *const keys[] = {
        "id", "name", "municipality", "locality", "operator", "phone",
        "website", "booking", "sim", NULL
    };
    static const int required[] = { 0, 1, 2, 4, -1 };
    char path[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;

    if (!is_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            s = check_str(cx, it, path, true);
            if (s == NULL)
                break;
            if (!conf_valid_hsa_id(s)) {
                show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\" is not a valid HSA-id (want SE + 10 "
                     "digits + \"-\" + letters/digits, at most %d chars)",
                     shown, CONF_HSA_ID_MAX);
                break;
            }
            store(cx, &c->id, s);
            if (c->id != NULL)
                upcase(c->id);
            if (dup_of >= 0 && c->id != NULL)
                verr(cx, base, "duplicate id %s (first at $.clinics[%ld])",
                     c->id, dup_of);
            break;
        case 1:
            get_str(cx, it, path, true, &c->name);
            break;
        case 2:
            get_str(cx, it, path, true, &c->municipality);
            break;
        case 3:
            get_opt_str(cx, it, path, &c->locality);
            break;
        case 4:
            s = check_str(cx, it, path, false);
            if (s == NULL)
                break;
            if (strcmp(s, "private") != 0 && strcmp(s, "region") != 0) {
                verr(cx, path, "must be \"private\" or \"region\"");
                break;
            }
            store(cx, &c->operator_kind, s);
            break;
        case 5:
            get_opt_str(cx, it, path, &c->phone);
            break;
        case 6:
            get_opt_url(cx, it, path, &c->website);
            break;
        case 7:
            if (cJSON_IsNull(it))
                break;
            if (!is_object(cx, it, path))
                break;
            c->has_booking = true;
            parse_booking(cx, it, path, &c->booking);
            break;
        case 8:
            if (cJSON_IsNull(it))
                break;
            if (is_object(cx, it, path))
                parse_sim(cx, it, path, &c->sim_profile);
            break;
        default:
            break;
        }
    }
    check_required(cx, base, keys, required, seen);
}

/* Returns the index of the first clinic using the RIV adapter, or -1. */
static long parse_clinics(struct vctx *cx, const cJSON *arr, const char *base,
                          struct conf_region *r)
{
    char path[PATH_LEN];
    const cJSON *it;
    long *dup_of, first_riv = -1;
    size_t n, i = 0;

    if (!cJSON_IsArray(arr)) {
        verr(cx, base, "expected an array, got %s", type_name(arr));
        return -1;
    }
    n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0) {
        verr(cx, base, "no clinics: the list must not be empty");
        return -1;
    }
    if (n > CONF_CLINICS_MAX) {
        verr(cx, base, "too many clinics (%zu; at most %d)", n,
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
        if (first_riv < 0 && r->clinics[i].booking.adapter != NULL &&
            strcmp(r->clinics[i].booking.adapter, RIV_ADAPTER) == 0)
            first_riv = (long)i;
        i++;
    }
    free(dup_of);
    return first_riv;
}

/* ---- politeness ------------------------------------------------------ */

/* Keys of politeness and of each politeness.hosts entry ("hosts" last). */
static const char *const polite_keys[] = {
    "rate_per_s", "burst", "max_concurrent_per_host", "backoff_base_s",
    "backoff_max_s", "breaker_failures", "breaker_cooldown_s", "hosts", NULL
};
#define POLITE_NFIELDS 7

/*
 * The seven numeric keys of one politeness object into *p; returns the
 * bit set of keys given. `hosts` (NULL: not allowed here) gets the hosts
 * member.
 */
static unsigned parse_polite_fields(struct vctx *cx, const cJSON *obj,
                                    const char *base,
                                    struct conf_politeness *p,
                                    const cJSON **hosts)
{
    static const char *const host_keys[] = {
        "rate_per_s", "burst", "max_concurrent_per_host", "backoff_base_s",
        "backoff_max_s", "breaker_failures", "breaker_cooldown_s", NULL
    };
    char path[PATH_LEN];
    const cJSON *it;
    unsigned seen = 0;
    int k;
    double d;

    cJSON_ArrayForEach(it, obj) {
        k = member(cx, it, base, hosts ? polite_keys : host_keys, &seen,
                   path, sizeof(path));
        switch (k) {
        case 0:
            d = it->valuedouble;
            if (!cJSON_IsNumber(it))
                verr(cx, path, "expected a number, got %s", type_name(it));
            else if (!isfinite(d) || d < 0.001 || d > 1000)
                verr(cx, path, "%.15g is out of range (0.001..1000)", d);
            else
                p->rate_per_s = d;
            break;
        case 1:
            get_int_field(cx, it, path, 1, 1000, &p->burst);
            break;
        case 2:
            get_int_field(cx, it, path, 1, 1000,
                          &p->max_concurrent_per_host);
            break;
        case 3:
            get_int_field(cx, it, path, 1, 86400, &p->backoff_base_s);
            break;
        case 4:
            get_int_field(cx, it, path, 1, 86400, &p->backoff_max_s);
            break;
        case 5:
            get_int_field(cx, it, path, 1, 1000, &p->breaker_failures);
            break;
        case 6:
            get_int_field(cx, it, path, 1, 86400, &p->breaker_cooldown_s);
            break;
        case 7:
            *hosts = it;
            break;
        default:
            break;
        }
    }
    return seen;
}

/* Report backoff_max_s < backoff_base_s (after inheritance). */
static void check_backoff(struct vctx *cx, const char *base,
                          const struct conf_politeness *p)
{
    char path[PATH_LEN];

    if (p->backoff_max_s < p->backoff_base_s) {
        path_key(path, sizeof(path), base, "backoff_max_s");
        verr(cx, path, "%d is shorter than backoff_base_s (%d)",
             p->backoff_max_s, p->backoff_base_s);
    }
}

static void parse_politeness(struct vctx *cx, const cJSON *obj,
                             const char *base, struct conf_region *r)
{
    char path[PATH_LEN], hpath[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *hosts = NULL, *it;
    unsigned *given = NULL;
    size_t n = 0, i, j;
    int f;

    if (!is_object(cx, obj, base))
        return;
    parse_polite_fields(cx, obj, base, &r->politeness, &hosts);
    check_backoff(cx, base, &r->politeness);
    if (hosts == NULL)
        return;
    path_key(path, sizeof(path), base, "hosts");
    if (!is_object(cx, hosts, path))
        return;
    cJSON_ArrayForEach(it, hosts)
        n++;
    if (n > CONF_POLITE_HOSTS_MAX) {
        verr(cx, path, "%zu hosts; at most %d", n, CONF_POLITE_HOSTS_MAX);
        return;
    }
    if (n == 0)
        return;
    r->polite_hosts = calloc(n, sizeof(*r->polite_hosts));
    given = calloc(n, sizeof(*given));
    if (r->polite_hosts == NULL || given == NULL) {
        cx->oom = true;
        free(given);
        return;
    }
    cJSON_ArrayForEach(it, hosts) {
        struct conf_host_politeness *h = &r->polite_hosts[r->npolite_hosts];
        const char *key = it->string ? it->string : "";
        bool dup = false;

        path_key(hpath, sizeof(hpath), path, key);
        if (!sched_valid_host(key)) {
            show(shown, sizeof(shown), key);
            verr(cx, hpath, "\"%s\" is not HOST or HOST:PORT (port "
                 "1..65535; IPv6 as [::1]:8080)", shown);
            continue;
        }
        for (j = 0; j < r->npolite_hosts; j++)
            if (strcasecmp(r->polite_hosts[j].host, key) == 0)
                dup = true;
        if (dup) {
            verr(cx, hpath, "duplicate host");
            continue;
        }
        if (!is_object(cx, it, hpath))
            continue;
        store(cx, &h->host, key);
        if (h->host == NULL)
            continue;
        for (i = 0; h->host[i]; i++)
            h->host[i] = (char)tolower((unsigned char)h->host[i]);
        given[r->npolite_hosts] = parse_polite_fields(cx, it, hpath, &h->p,
                                                      NULL);
        r->npolite_hosts++;
    }
    /* Keys a host leaves out come from the top level, whatever the order
     * of "hosts" and those keys in the file. */
    for (i = 0; i < r->npolite_hosts; i++) {
        struct conf_politeness *hp = &r->polite_hosts[i].p;
        const struct conf_politeness *top = &r->politeness;

        for (f = 0; f < POLITE_NFIELDS; f++) {
            if (given[i] & (1u << f))
                continue;
            switch (f) {
            case 0: hp->rate_per_s = top->rate_per_s; break;
            case 1: hp->burst = top->burst; break;
            case 2:
                hp->max_concurrent_per_host = top->max_concurrent_per_host;
                break;
            case 3: hp->backoff_base_s = top->backoff_base_s; break;
            case 4: hp->backoff_max_s = top->backoff_max_s; break;
            case 5: hp->breaker_failures = top->breaker_failures; break;
            default: hp->breaker_cooldown_s = top->breaker_cooldown_s; break;
            }
        }
        path_key(hpath, sizeof(hpath), path, r->polite_hosts[i].host);
        if (r->politeness.backoff_max_s >= r->politeness.backoff_base_s)
            check_backoff(cx, hpath, hp);
    }
    free(given);
}

/* "plausibility": when many clinics of one host empty at once (plaus.h). */
static void parse_plausibility(struct vctx *cx, const cJSON *obj,
                               const char *base, struct conf_region *r)
{
    static const char *const keys[] = {
        "min_clinics", "fraction", "confirm_polls", NULL
    };
    char path[PATH_LEN];
    const cJSON *it;
    unsigned seen = 0;
    double d;

    if (!is_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            get_int_field(cx, it, path, 2, CONF_CLINICS_MAX,
                          &r->plausibility.min_clinics);
            break;
        case 1:
            d = it->valuedouble;
            if (!cJSON_IsNumber(it))
                verr(cx, path, "expected a number, got %s", type_name(it));
            else if (!isfinite(d) || d < 0.01 || d > 1)
                verr(cx, path, "%.15g is out of range (0.01..1)", d);
            else
                r->plausibility.fraction = d;
            break;
        case 2:
            get_int_field(cx, it, path, 1, 100,
                          &r->plausibility.confirm_polls);
            break;
        default:
            break;
        }
    }
}

/*
 * http.public_base_url: a URL that passes url_check (the rule every
 * fetched URL meets), without credentials, query or fragment, printable
 * ASCII only. Returns NULL when fine, else why not.
 */
static const char *bad_base_url(const char *s)
{
    static const struct { CURLUPart part; const char *why; } none[] = {
        {CURLUPART_USER, "credentials (user@) are not allowed"},
        {CURLUPART_PASSWORD, "credentials (user:pass@) are not allowed"},
        {CURLUPART_OPTIONS, "credentials (;options) are not allowed"},
        {CURLUPART_QUERY, "a query (?) is not allowed"},
        {CURLUPART_FRAGMENT, "a fragment (#) is not allowed"},
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

/* "http": the public server's limits against slow or many clients, the
 * public base URL and the admin listener. */
static void parse_http(struct vctx *cx, const cJSON *obj, const char *base,
                       struct conf_region *r)
{
    static const char *const keys[] = {
        "request_timeout_ms", "max_connections", "public_base_url",
        "admin_listen", "max_age_s", NULL
    };
    char path[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *it;
    const char *s, *why;
    unsigned seen = 0;

    if (!is_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            get_int_field(cx, it, path, 500, 120000,
                          &r->http_request_timeout_ms);
            break;
        case 1:
            get_int_field(cx, it, path, 16, 1000000,
                          &r->http_max_connections);
            break;
        case 2:
            if ((s = check_str(cx, it, path, true)) == NULL)
                break;
            if ((why = bad_base_url(s)) != NULL) {
                /* A password is never echoed, even a refused one. */
                if (strncmp(why, "credentials", 11) == 0)
                    snprintf(shown, sizeof(shown), "(not shown)");
                else
                    show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\": %s (want e.g. "
                     "https://feed.example.se/vardval)", shown, why);
                break;
            }
            store(cx, &r->http_public_base_url, s);
            break;
        case 3:
            if ((s = check_str(cx, it, path, true)) == NULL)
                break;
            if (!valid_listen(s)) {
                show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\" is not HOST:PORT (port 1..65535; "
                     "IPv6 as [::1]:8081)", shown);
                break;
            }
            store(cx, &r->http_admin_listen, s);
            break;
        case 4:
            get_int_field(cx, it, path, 1, 86400, &r->http_max_age_s);
            break;
        default:
            break;
        }
    }
}

static void parse_root(struct vctx *cx, const cJSON *root,
                       struct conf_region *r)
{
    static const char *const keys[] = {
        "name", "timezone", "guarantee", "horizon_days", "poll_interval_s",
        "fetch", "riv", "listen", "clinics", "politeness", "store",
        "retention_days", "geo", "http", "plausibility",
        "publish_interval_s", NULL
    };
    static const int required[] = { 0, 8, -1 };
    char path[PATH_LEN], shown[SHOW_MAX + 8];
    const cJSON *it;
    const char *s;
    unsigned seen = 0;
    bool days_ok = true, horizon_ok = true, timeouts_ok = true;
    bool soc_reported = false, horizon_given = false;
    long first_riv = -1, x;

    if (!is_object(cx, root, "$"))
        return;
    cJSON_ArrayForEach(it, root) {
        switch (member(cx, it, "$", keys, &seen, path, sizeof(path))) {
        case 0:
            get_str(cx, it, path, true, &r->name);
            break;
        case 1:
            s = check_str(cx, it, path, true);
            if (s == NULL)
                break;
            if (strcmp(s, CONF_DEFAULT_TIMEZONE) != 0) {
                show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\" is not supported: only \""
                     CONF_DEFAULT_TIMEZONE "\" is", shown);
            }
            break;
        case 2:
            parse_guarantee(cx, it, path, &r->guarantee, &days_ok);
            break;
        case 3:
            horizon_given = true;
            horizon_ok = get_int(cx, it, path, 1, 90, &x) == 0;
            if (horizon_ok)
                r->horizon_days = (int)x;
            break;
        case 4:
            get_int_field(cx, it, path, 10, 86400, &r->poll_interval_s);
            break;
        case 5:
            parse_fetch(cx, it, path, r, &timeouts_ok);
            break;
        case 6:
            parse_riv(cx, it, path, r, &soc_reported);
            break;
        case 7:
            s = check_str(cx, it, path, true);
            if (s == NULL)
                break;
            if (!valid_listen(s)) {
                show(shown, sizeof(shown), s);
                verr(cx, path, "\"%s\" is not HOST:PORT (port 1..65535; "
                     "IPv6 as [::1]:8080)", shown);
                break;
            }
            store(cx, &r->listen, s);
            break;
        case 8:
            first_riv = parse_clinics(cx, it, path, r);
            break;
        case 9:
            parse_politeness(cx, it, path, r);
            break;
        case 10:
            get_str(cx, it, path, true, &r->store);
            break;
        case 11:
            get_int_field(cx, it, path, 1, CONF_RETENTION_DAYS_MAX,
                          &r->retention_days);
            break;
        case 12:
            get_str(cx, it, path, true, &r->geo);
            break;
        case 13:
            parse_http(cx, it, path, r);
            break;
        case 14:
            parse_plausibility(cx, it, path, r);
            break;
        case 15:
            get_int_field(cx, it, path, 0, CONF_PUBLISH_INTERVAL_MAX_S,
                          &r->publish_interval_s);
            break;
        default:
            break;
        }
    }
    check_required(cx, "$", keys, required, seen);

    /*
     * Cross-field rules, only when both sides are valid on their own.
     * A poll covers horizon_days local dates starting today (day 0), so
     * reaching the guarantee's last day N takes N + 1 of them.
     */
    if (days_ok && horizon_ok && r->horizon_days <= r->guarantee.days)
        verr(cx, "$.horizon_days",
             "%d%s does not reach the last day of the guarantee "
             "(guarantee.days %d): polls cover today and the next "
             "horizon_days - 1 days, so at least %d is needed",
             r->horizon_days, horizon_given ? "" : " (the default)",
             r->guarantee.days, r->guarantee.days + 1);
    if (timeouts_ok && r->timeout_ms < r->connect_timeout_ms)
        verr(cx, "$.fetch.timeout_ms",
             "%d is shorter than fetch.connect_timeout_ms (%d)",
             r->timeout_ms, r->connect_timeout_ms);
    if (first_riv >= 0 && r->riv_subject_of_care == NULL && !soc_reported)
        verr(cx, "$.riv.subject_of_care",
             "missing; required because $.clinics[%ld] uses the "
             RIV_ADAPTER " adapter", first_riv);
}

/* Defaults for everything optional; strings allocated. */
static void set_defaults(struct vctx *cx, struct conf_region *r)
{
    r->guarantee.days = CONF_DEFAULT_GUARANTEE_DAYS;
    r->guarantee.counting = AVAIL_COUNT_CALENDAR;
    r->horizon_days = CONF_DEFAULT_HORIZON_DAYS;
    r->poll_interval_s = CONF_DEFAULT_POLL_INTERVAL_S;
    r->publish_interval_s = CONF_DEFAULT_PUBLISH_INTERVAL_S;
    r->connect_timeout_ms = CONF_DEFAULT_CONNECT_TIMEOUT_MS;
    r->timeout_ms = CONF_DEFAULT_TIMEOUT_MS;
    r->max_body_bytes = CONF_DEFAULT_MAX_BODY_BYTES;
    r->max_decompress_ratio = CONF_DEFAULT_MAX_DECOMPRESS_RATIO;
    r->http_request_timeout_ms = CONF_DEFAULT_HTTP_REQUEST_TIMEOUT_MS;
    r->http_max_connections = CONF_DEFAULT_HTTP_MAX_CONNECTIONS;
    r->http_max_age_s = CONF_DEFAULT_HTTP_MAX_AGE_S;
    store(cx, &r->timezone, CONF_DEFAULT_TIMEZONE);
    store(cx, &r->user_agent, DEFAULT_USER_AGENT);
    store(cx, &r->riv_actor_type, CONF_DEFAULT_ACTOR_TYPE);
    store(cx, &r->listen, CONF_DEFAULT_LISTEN);
    store(cx, &r->store, CONF_DEFAULT_STORE);
    r->retention_days = CONF_DEFAULT_RETENTION_DAYS;
    r->politeness.rate_per_s = CONF_DEFAULT_POLITE_RATE_PER_S;
    r->politeness.burst = CONF_DEFAULT_POLITE_BURST;
    r->politeness.max_concurrent_per_host = CONF_DEFAULT_POLITE_MAX_CONCURRENT;
    r->politeness.backoff_base_s = CONF_DEFAULT_POLITE_BACKOFF_BASE_S;
    r->politeness.backoff_max_s = CONF_DEFAULT_POLITE_BACKOFF_MAX_S;
    r->politeness.breaker_failures = CONF_DEFAULT_POLITE_BREAKER_FAILURES;
    r->politeness.breaker_cooldown_s = CONF_DEFAULT_POLITE_BREAKER_COOLDOWN_S;
    r->plausibility.min_clinics = CONF_DEFAULT_PLAUS_MIN_CLINICS;
    r->plausibility.fraction = CONF_DEFAULT_PLAUS_FRACTION;
    r->plausibility.confirm_polls = CONF_DEFAULT_PLAUS_CONFIRM_POLLS;
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
static void syntax_error(struct vctx *cx, const char *text, size_t len,
                         size_t off, const char *what)
{
    char near[SHOW_MAX + 8], where[64];
    size_t line = 1, col = 1, i, end, start = off, a, b;

    if (off > len)
        off = len;
    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            col++;   /* count characters, not UTF-8 continuation bytes */
        }
    }
    for (end = off; end < len && end - off < 20 && text[end] != '\n' &&
                    text[end] != '\r'; end++)
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
    show_n(near, sizeof(near), text + start, end - start);
    snprintf(where, sizeof(where), "line %zu, column %zu", line, col);
    if (near[0] != '\0')
        verr(cx, where, "%s near '%s'", what, near);
    else
        verr(cx, where, "%s at end of file", what);
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- entry points ---------------------------------------------------- */

int conf_parse(const char *text, size_t len, struct conf_region **out,
               struct conf_errors *errs)
{
    struct vctx cx = { errs, false, false };
    struct conf_region *r = NULL;
    cJSON *root = NULL;
    const char *end = NULL, *body = text;
    size_t blen = len, i;
    const void *nul;

    *out = NULL;
    if (len > (size_t)CONF_FILE_MAX) {
        verr(&cx, NULL, "file is too large (%zu bytes; at most %ld MiB)",
             len, CONF_FILE_MAX / (1024 * 1024));
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
        verr(&cx, NULL, "file is empty: expected a JSON object");
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
        verr(&cx, NULL, "out of memory while reading the configuration");
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

int conf_load(const char *path, struct conf_region **out,
              struct conf_errors *errs)
{
    struct vctx cx = { errs, false, false };
    struct sbuf b = { 0 };
    long long size;
    int rc = -1;

    *out = NULL;
    if (path == NULL) {
        verr(&cx, NULL, "no configuration file given");
        return -1;
    }
    switch (sbuf_read_file(&b, path, (size_t)CONF_FILE_MAX, &size)) {
    case SBUF_READ_OK:
        break;
    case SBUF_READ_OPEN:
        verr(&cx, NULL, "cannot open file: %s", strerror(errno));
        return -1;
    case SBUF_READ_DIR:
        verr(&cx, NULL, "cannot read file: it is a directory");
        return -1;
    case SBUF_READ_TOO_LARGE:
        if (size > CONF_FILE_MAX)
            verr(&cx, NULL, "file is too large (%lld bytes; at most %ld MiB)",
                 size, CONF_FILE_MAX / (1024 * 1024));
        else    /* grew while read, or a pipe: no size to show */
            verr(&cx, NULL, "file is too large (more than %ld MiB)",
                 CONF_FILE_MAX / (1024 * 1024));
        return -1;
    case SBUF_READ_IO:
        verr(&cx, NULL, "cannot read file: %s", strerror(errno));
        return -1;
    case SBUF_READ_NOMEM:
        verr(&cx, NULL, "out of memory reading the file");
        return -1;
    }
    rc = conf_parse(b.p, b.len, out, errs);
    if (rc == 0 && resolve_geo(path, *out) != 0) {
        conf_free(*out);
        *out = NULL;
        verr(&cx, NULL, "out of memory");
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
    free(c->booking.adapter);
    free(c->booking.url);
    free(c->booking.booking_url);
    free(c->booking.time_type_id);
    free(c->booking.time_type_name);
    free(c->booking.actor);
    free(c->booking.location);
    free(c->booking.token_file);
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

