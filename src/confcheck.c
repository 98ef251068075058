/*
 * confcheck.c - checking one value of a JSON configuration, each problem
 * reported with its JSON path (confcheck.h). Shared by the region walk
 * (conf.c) and the adapters, which check their own booking keys.
 */
#include "slotfeed/confcheck.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "slotfeed/error.h"
#include "slotfeed/pnr.h"
#include "slotfeed/url.h"

/* Append a copy of line; sets cx->oom when memory runs out. */
static void push_line(struct confcheck *cx, const char *line)
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
void confcheck_err(struct confcheck *cx, const char *path, const char *fmt, ...)
{
    char msg[768], line[1024];
    va_list ap;

    if (cx->full)
        return;
    if (cx->errs->n >= CONFCHECK_ERRORS_MAX) {
        snprintf(line, sizeof(line),
                 "too many errors (more than %d); the rest are not reported",
                 CONFCHECK_ERRORS_MAX);
        push_line(cx, line);
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
    push_line(cx, line);
}

/* ---- text helpers ---------------------------------------------------- */

void confcheck_show_n(char *dst, size_t dstlen, const char *s, size_t n)
{
    sf_quote(dst, dstlen, s, n, CONFCHECK_SHOW_MAX);
}

void confcheck_show(char *dst, size_t dstlen, const char *s)
{
    confcheck_show_n(dst, dstlen, s, strlen(s));
}

const char *confcheck_type_name(const cJSON *v)
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

void confcheck_path_key(char *dst, size_t n, const char *base, const char *key)
{
    char k[CONFCHECK_SHOWN];

    confcheck_show(k, sizeof(k), key);
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
 * "_comment" is a note for the people who edit the file (JSON has no
 * comments; the packaged /etc/slotfeed/region.json explains itself with
 * them): accepted in every object, ignored, and checked like any string
 * so that it cannot smuggle control characters or bad UTF-8 into a
 * message. Only this exact spelling: "_coment" stays an unknown key.
 */
static void check_comment(struct confcheck *cx, const cJSON *v,
                          const char *path)
{
    const cJSON *line;

    if (cJSON_IsString(v)) {
        confcheck_str(cx, v, path, false);
        return;
    }
    if (!cJSON_IsArray(v)) {
        confcheck_err(cx, path,
                      "expected a string or an array of strings, "
                      "got %s",
                      confcheck_type_name(v));
        return;
    }
    cJSON_ArrayForEach(line, v) {
        if (!cJSON_IsString(line)) {
            confcheck_err(cx, path,
                          "expected a string or an array of "
                          "strings, got an array holding %s",
                          confcheck_type_name(line));
            return;
        }
        if (confcheck_str(cx, line, path, false) == NULL)
            return;
    }
}

/*
 * Look up member `it` of an object among the NULL-terminated `keys`.
 * Fills path with "<base>.<key>". Returns the key's index, or -1 after
 * reporting an unknown or repeated key, or for a "_comment" (checked
 * here): the caller then skips it.
 * *seen collects a bit per key seen, for required-key checks.
 */
int confcheck_member(struct confcheck *cx, const cJSON *it, const char *base,
                     const char *const *keys, unsigned *seen, char *path,
                     size_t pathlen)
{
    const char *key = it->string ? it->string : "";
    size_t best = 99, d;
    int i, hint = -1;

    confcheck_path_key(path, pathlen, base, key);
    if (strcmp(key, CONF_COMMENT_KEY) == 0) {
        check_comment(cx, it, path);
        return -1;
    }
    for (i = 0; keys[i] != NULL; i++) {
        if (strcmp(keys[i], key) == 0) {
            if (*seen & (1u << i)) {
                confcheck_err(cx, path, "duplicate key");
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
    d = edit_distance(key, CONF_COMMENT_KEY);
    if (d <= 2 && d < best)
        confcheck_err(cx, path, "unknown key (did you mean \"%s\"?)",
                      CONF_COMMENT_KEY);
    else if (hint >= 0 && best <= 2 && best < strlen(key))
        confcheck_err(cx, path, "unknown key (did you mean \"%s\"?)",
                      keys[hint]);
    else
        confcheck_err(cx, path, "unknown key");
    return -1;
}

/* Report each key of `required` (indexes into keys, -1 ended) not seen. */
void confcheck_required(struct confcheck *cx, const char *path,
                        const char *const *keys, const int *required,
                        unsigned seen)
{
    for (; *required >= 0; required++)
        if (!(seen & (1u << *required)))
            confcheck_err(cx, path, "missing required key \"%s\"",
                          keys[*required]);
}

bool confcheck_object(struct confcheck *cx, const cJSON *v, const char *path)
{
    if (cJSON_IsObject(v))
        return true;
    confcheck_err(cx, path, "expected an object, got %s",
                  confcheck_type_name(v));
    return false;
}

/* ---- typed values ---------------------------------------------------- */

/* Every value is single-line and may reach logs, HTTP headers or XML:
 * no control characters anywhere. */
const char *confcheck_str(struct confcheck *cx, const cJSON *v,
                          const char *path, bool nonempty)
{
    const char *s;
    size_t i;

    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        confcheck_err(cx, path, "expected a string, got %s",
                      confcheck_type_name(v));
        return NULL;
    }
    s = v->valuestring;
    if (!sf_utf8_valid(s, strlen(s))) {
        confcheck_err(cx, path, "not valid UTF-8");
        return NULL;
    }
    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            confcheck_err(cx, path, "contains a control character");
            return NULL;
        }
    }
    if (i > CONFCHECK_STR_MAX) {
        confcheck_err(cx, path, "longer than %d bytes", CONFCHECK_STR_MAX);
        return NULL;
    }
    if (nonempty && i == 0) {
        confcheck_err(cx, path, "must not be empty");
        return NULL;
    }
    return s;
}

/* strdup into *dst (freeing any old value); sets cx->oom on failure. */
void confcheck_store(struct confcheck *cx, char **dst, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL) {
        cx->oom = true;
        return;
    }
    free(*dst);
    *dst = copy;
}

void confcheck_get_str(struct confcheck *cx, const cJSON *v, const char *path,
                       bool nonempty, char **dst)
{
    const char *s = confcheck_str(cx, v, path, nonempty);

    if (s != NULL)
        confcheck_store(cx, dst, s);
}

/* Optional string: null means "absent"; else it must be nonempty. */
void confcheck_get_opt_str(struct confcheck *cx, const cJSON *v,
                           const char *path, char **dst)
{
    if (!cJSON_IsNull(v))
        confcheck_get_str(cx, v, path, true, dst);
}

/* Integer in lo..hi. Returns 0 and sets *dst, or -1 after reporting. */
int confcheck_get_int(struct confcheck *cx, const cJSON *v, const char *path,
                      long lo, long hi, long *dst)
{
    double d;

    if (!cJSON_IsNumber(v)) {
        confcheck_err(cx, path, "expected an integer, got %s",
                      confcheck_type_name(v));
        return -1;
    }
    d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) {
        confcheck_err(cx, path, "%.15g is not a whole number", d);
        return -1;
    }
    if (d < (double)lo || d > (double)hi) {
        confcheck_err(cx, path, "%.15g is out of range (%ld..%ld)", d, lo, hi);
        return -1;
    }
    *dst = (long)d;
    return 0;
}

void confcheck_get_int_field(struct confcheck *cx, const cJSON *v,
                             const char *path, long lo, long hi, int *dst)
{
    long x;

    if (confcheck_get_int(cx, v, path, lo, hi, &x) == 0)
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
    if (s[skip] == '\0' || s[skip] == '/' || s[skip] == ':' || s[skip] == '?' ||
        s[skip] == '#')
        return false;
    for (p = s; *p != '\0'; p++)
        if (strchr(" \"<>\\^`{|}", *p) != NULL)
            return false;
    return true;
}

void confcheck_get_url(struct confcheck *cx, const cJSON *v, const char *path,
                       char **dst)
{
    const char *s = confcheck_str(cx, v, path, true);
    char shown[CONFCHECK_SHOWN], why[160];
    bool secret;

    if (s == NULL)
        return;
    /* A URL with '@' may hold a password: such a URL is never echoed. */
    secret = strchr(s, '@') != NULL;
    confcheck_show(shown, sizeof(shown),
                   secret ? "(not shown: it has an '@')" : s);
    if (secret && url_check(s, URL_NO_USERINFO, why, sizeof(why)) != 0) {
        confcheck_err(cx, path, "%s", why);
        return;
    }
    if (!valid_http_url(s)) {
        confcheck_err(cx, path, "\"%s\" is not an http:// or https:// URL",
                      shown);
        return;
    }
    /* The runtime's own check (libcurl's parser, port, host length), so
     * nothing accepted here fails every poll later. Credentials are
     * refused in every URL, polled or published: see url.h. */
    if (url_check(s, URL_NO_USERINFO, why, sizeof(why)) != 0) {
        confcheck_err(cx, path, "\"%s\": %s", shown, why);
        return;
    }
    confcheck_store(cx, dst, s);
}

void confcheck_get_opt_url(struct confcheck *cx, const cJSON *v,
                           const char *path, char **dst)
{
    if (!cJSON_IsNull(v))
        confcheck_get_url(cx, v, path, dst);
}

/*
 * A file path that must name a readable regular file now (TLS material):
 * a typo would otherwise surface only as a TLS failure at the first poll.
 * Relative paths are relative to the working directory.
 */
void confcheck_get_readable_file(struct confcheck *cx, const cJSON *v,
                                 const char *path, char **dst)
{
    const char *s = confcheck_str(cx, v, path, true);
    char shown[CONFCHECK_SHOWN];
    struct stat st;
    FILE *f;

    if (s == NULL)
        return;
    confcheck_show(shown, sizeof(shown), s);
    if (stat(s, &st) != 0) {
        confcheck_err(cx, path, "cannot read \"%s\": %s", shown,
                      strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        confcheck_err(cx, path, "\"%s\" is not a regular file", shown);
        return;
    }
    f = fopen(s, "rb");
    if (f == NULL) {
        confcheck_err(cx, path, "cannot read \"%s\": %s", shown,
                      strerror(errno));
        return;
    }
    fclose(f);
    confcheck_store(cx, dst, s);
}

void confcheck_get_bool(struct confcheck *cx, const cJSON *v, const char *path,
                        bool *dst)
{
    if (!cJSON_IsBool(v)) {
        confcheck_err(cx, path, "expected true or false, got %s",
                      confcheck_type_name(v));
        return;
    }
    *dst = cJSON_IsTrue(v);
}

/* ---- declarative sections -------------------------------------------- */

/* The field's place in the section dst. */
static void *field_at(const struct confcheck_field *f, void *dst)
{
    return (char *)dst + f->off;
}

/* A table entry whose size does not fit its kind is a programming error
 * (confcheck_defaults meets every entry at every load). */
static void check_size(const struct confcheck_field *f)
{
    switch (f->kind) {
    case CONFCHECK_INT:
        assert(f->size == sizeof(int));
        break;
    case CONFCHECK_LONG:
        assert(f->size == sizeof(long));
        break;
    case CONFCHECK_NUM:
        assert(f->size == sizeof(double));
        break;
    case CONFCHECK_STR:
    case CONFCHECK_CHOICE:
        assert(f->size == sizeof(char *));
        break;
    default:
        break;
    }
    (void)f;
}

/* A number in lo..hi (the ranges print as the file would write them). */
static int get_num(struct confcheck *cx, const cJSON *v, const char *path,
                   const struct confcheck_field *f, double *dst)
{
    double d = v->valuedouble;

    if (!cJSON_IsNumber(v)) {
        confcheck_err(cx, path, "expected a number, got %s",
                      confcheck_type_name(v));
        return -1;
    }
    if (!isfinite(d) || d < f->lo || d > f->hi) {
        confcheck_err(cx, path, "%.15g is out of range (%g..%g)", d, f->lo,
                      f->hi);
        return -1;
    }
    *dst = d;
    return 0;
}

/* A string among f->choices: "must be "a" or "b"" (or "a", "b" or "c"). */
static int get_choice(struct confcheck *cx, const cJSON *v, const char *path,
                      const struct confcheck_field *f, char **dst)
{
    char want[256];
    const char *s = confcheck_str(cx, v, path, false);
    size_t i, o = 0;

    if (s == NULL)
        return -1;
    for (i = 0; f->choices[i] != NULL; i++)
        if (strcmp(f->choices[i], s) == 0) {
            confcheck_store(cx, dst, s);
            return 0;
        }
    for (i = 0; f->choices[i] != NULL && o < sizeof(want); i++)
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%s\"%s\"",
                              i == 0                      ? ""
                              : f->choices[i + 1] == NULL ? " or "
                                                          : ", ",
                              f->choices[i]);
    confcheck_err(cx, path, "must be %s", want);
    return -1;
}

int confcheck_get_valid_str(struct confcheck *cx, const cJSON *v,
                            const char *path, bool (*valid)(const char *s),
                            const char *why, char **dst)
{
    char shown[CONFCHECK_SHOWN];
    const char *s = confcheck_str(cx, v, path, true);

    if (s == NULL)
        return -1;
    if (valid != NULL && !valid(s)) {
        confcheck_show(shown, sizeof(shown), s);
        confcheck_err(cx, path, "\"%s\" %s", shown, why);
        return -1;
    }
    confcheck_store(cx, dst, s);
    return 0;
}

static void walk_section(struct confcheck *cx, const cJSON *v, const char *path,
                         const struct confcheck_field *f, void *dst, bool *bad)
{
    struct confcheck_walk w = { 0, 0 };
    size_t i;

    if (!confcheck_object(cx, v, path)) {
        *bad = true;
        return;
    }
    confcheck_fields(cx, v, path, f->sub, CONFCHECK_ALL, dst, &w);
    for (i = 0; f->sub[i].name != NULL; i++)
        if ((w.bad & (1u << i)) && (f->sub[i].flags & CONFCHECK_CROSS))
            *bad = true;
}

/* One member by its field; false when it was refused. */
static bool get_field(struct confcheck *cx, const cJSON *v, const char *path,
                      const struct confcheck_field *f, void *dst)
{
    void *at = field_at(f, dst);
    bool bad = false;
    long x;
    double d;

    switch (f->kind) {
    case CONFCHECK_INT:
    case CONFCHECK_LONG:
        if (confcheck_get_int(cx, v, path, (long)f->lo, (long)f->hi, &x) != 0)
            return false;
        if (f->kind == CONFCHECK_INT)
            *(int *)at = (int)x;
        else
            *(long *)at = x;
        return true;
    case CONFCHECK_NUM:
        if (get_num(cx, v, path, f, &d) != 0)
            return false;
        *(double *)at = d;
        return true;
    case CONFCHECK_STR:
        return confcheck_get_valid_str(cx, v, path, f->valid, f->why,
                                       (char **)at) == 0;
    case CONFCHECK_CHOICE:
        return get_choice(cx, v, path, f, (char **)at) == 0;
    case CONFCHECK_SECTION:
        walk_section(cx, v, path, f, at, &bad);
        return !bad;
    case CONFCHECK_FN:
        return f->fn(cx, v, path, at) == 0;
    default:
        return true;
    }
}

void confcheck_fields(struct confcheck *cx, const cJSON *obj, const char *base,
                      const struct confcheck_field *fields, size_t n, void *dst,
                      struct confcheck_walk *w)
{
    const char *names[33];
    char path[CONFCHECK_PATH];
    struct confcheck_walk mine = { 0, 0 };
    const cJSON *it;
    size_t i;
    int k;

    for (i = 0; i < n && fields[i].name != NULL; i++) {
        assert(i < 32); /* confcheck_member's seen bits */
        names[i] = fields[i].name;
    }
    names[i] = NULL;
    cJSON_ArrayForEach(it, obj) {
        k = confcheck_member(cx, it, base, names, &mine.seen, path,
                             sizeof(path));
        if (k >= 0 && !get_field(cx, it, path, &fields[k], dst))
            mine.bad |= 1u << k;
    }
    for (i = 0; names[i] != NULL; i++)
        if ((fields[i].flags & CONFCHECK_REQUIRED) && !(mine.seen & (1u << i)))
            confcheck_err(cx, base, "missing required key \"%s\"", names[i]);
    if (w != NULL)
        *w = mine;
}

void confcheck_defaults(struct confcheck *cx,
                        const struct confcheck_field *fields, void *dst)
{
    const struct confcheck_field *f;

    for (f = fields; f->name != NULL; f++) {
        void *at = field_at(f, dst);

        check_size(f);
        if (f->kind == CONFCHECK_INT)
            *(int *)at = (int)f->def;
        else if (f->kind == CONFCHECK_LONG)
            *(long *)at = (long)f->def;
        else if (f->kind == CONFCHECK_NUM)
            *(double *)at = f->def;
        else if (f->kind == CONFCHECK_SECTION)
            confcheck_defaults(cx, f->sub, at);
        else if (f->sdef != NULL)
            confcheck_store(cx, (char **)at, f->sdef);
    }
}

void confcheck_inherit(const struct confcheck_field *fields, size_t n,
                       unsigned given, void *dst, const void *src)
{
    size_t i;

    for (i = 0; i < n && fields[i].name != NULL; i++) {
        const struct confcheck_field *f = &fields[i];

        if ((given & (1u << i)) || f->kind > CONFCHECK_NUM)
            continue;
        memcpy((char *)dst + f->off, (const char *)src + f->off, f->size);
    }
}
