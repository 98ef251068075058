/*
 * log.c - one event per line on stderr, logfmt or JSON (see log.h).
 *
 * Each line is formatted whole in memory and written with one write(2), so
 * lines from the daemon and a child never interleave mid-line. The caller's
 * text goes through three steps: the personnummer scrub (pnr.h, on the raw
 * text, so a number cannot hide inside a split), a split into key=value fields,
 * and escaping for the chosen format. The split is tolerant because callers
 * write `error="%s"` around messages that may hold quotes or " x=" of their
 * own: a quoted value ends at the first quote followed by the end or by
 * " key="; an unquoted value runs to the next " key=". A message that fools
 * this gives extra fields, never a broken or second line.
 */
#include "slotfeed/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slotfeed/error.h"
#include "slotfeed/pnr.h"
#include "slotfeed/sbuf.h"

/* Caller text beyond this is cut (a runaway message must not flood). */
#define LOG_MAX_TEXT 8192

static enum log_level min_level = LOG_LVL_INFO;
static enum log_format line_format = LOG_FMT_KV;
static FILE *out_stream; /* NULL = stderr */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}
void log_quiet(void)
{
    min_level = LOG_LVL_ERROR;
}
void log_set_format(enum log_format fmt)
{
    line_format = fmt;
}
void log_set_output(FILE *f)
{
    out_stream = f;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (s != NULL && strcmp(s, "kv") == 0)
        *out = LOG_FMT_KV;
    else if (s != NULL && strcmp(s, "json") == 0)
        *out = LOG_FMT_JSON;
    else
        return -1;
    return 0;
}

int log_parse_level(const char *s, enum log_level *out)
{
    int i;

    for (i = 0; s != NULL && i <= LOG_LVL_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* --- fields -------------------------------------------------------------- */

/* Length of "key" when p starts with key= (key: letter or _ then
 * [A-Za-z0-9_.-]), else 0. */
static size_t key_at(const char *p)
{
    size_t n = 0;

    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
        return 0;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
           is_digit(p[n]) || p[n] == '_' || p[n] == '.' || p[n] == '-')
        n++;
    return p[n] == '=' ? n : 0;
}

/* Start of the next " key=" at or after p, or the terminating NUL. */
static const char *next_key(const char *p)
{
    for (; *p != '\0'; p++)
        if (*p == ' ' && key_at(p + 1) > 0)
            return p;
    return p;
}

struct field {
    const char *k, *v;
    size_t kl, vl;
};

typedef void (*field_fn)(const struct field *f, void *arg);

static void split_fields(const char *s, field_fn fn, void *arg)
{
    const char *p = s;

    while (*p != '\0') {
        struct field f = { 0 };
        const char *end;

        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        if ((f.kl = key_at(p)) == 0) {
            /* Free text before any key: the message. */
            f.k = "msg";
            f.kl = 3;
            f.v = p;
            end = next_key(p);
            f.vl = (size_t)(end - p);
            while (f.vl > 0 && f.v[f.vl - 1] == ' ')
                f.vl--;
            fn(&f, arg);
            p = end;
            continue;
        }
        f.k = p;
        p += f.kl + 1;
        if (*p == '"') {
            const char *q;

            f.v = ++p;
            for (q = p; *q != '\0'; q++)
                if (*q == '"' &&
                    (q[1] == '\0' || (q[1] == ' ' && key_at(q + 2) > 0)))
                    break;
            f.vl = (size_t)(q - p);
            p = *q == '"' ? q + 1 : q;
        } else {
            f.v = p;
            end = next_key(p);
            f.vl = (size_t)(end - p);
            while (f.vl > 0 && f.v[f.vl - 1] == ' ')
                f.vl--;
            p = end;
        }
        fn(&f, arg);
    }
}

/* Bytes that are not valid UTF-8 become '?', so JSON consumers never see
 * an invalid document (upstream error texts are not ours to trust). */
static void fix_utf8(char *s)
{
    size_t n = strlen(s), k;

    while (n > 0) {
        k = sf_utf8_seq(s, n);
        if (k == 0) {
            *s = '?';
            k = 1;
        }
        s += k;
        n -= k;
    }
}

/* logfmt value: bare when it is a non-empty run of visible bytes without
 * '"', '=' or '\\'; else quoted with \" \\ \n \r \t and \u00XX escapes. */
static void kv_value(struct sbuf *b, const char *v, size_t n)
{
    size_t i;
    bool bare = n > 0;

    for (i = 0; i < n && bare; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '=' || c == '\\')
            bare = false;
    }
    if (bare) {
        sbuf_add(b, v, n);
        return;
    }
    sbuf_add(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        char esc[8];

        switch (c) {
        case '"':
            sbuf_add(b, "\\\"", 2);
            break;
        case '\\':
            sbuf_add(b, "\\\\", 2);
            break;
        case '\n':
            sbuf_add(b, "\\n", 2);
            break;
        case '\r':
            sbuf_add(b, "\\r", 2);
            break;
        case '\t':
            sbuf_add(b, "\\t", 2);
            break;
        default:
            if (c < ' ' || c == 0x7f) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                sbuf_str(b, esc);
            } else {
                sbuf_add(b, &v[i], 1);
            }
        }
    }
    sbuf_add(b, "\"", 1);
}

static void on_kv_field(const struct field *f, void *arg)
{
    struct sbuf *b = arg;

    sbuf_add(b, " ", 1);
    sbuf_add(b, f->k, f->kl);
    sbuf_add(b, "=", 1);
    kv_value(b, f->v, f->vl);
}

struct json_ctx {
    cJSON *obj;
    int oom;
};

static void on_json_field(const struct field *f, void *arg)
{
    struct json_ctx *j = arg;
    char key[80], *val;

    /* Our own keys win; a caller's ts/level/event becomes field_ts... */
    snprintf(key, sizeof(key), "%.*s", (int)(f->kl < 64 ? f->kl : 64), f->k);
    if (cJSON_GetObjectItemCaseSensitive(j->obj, key) != NULL)
        snprintf(key, sizeof(key), "field_%.*s", (int)(f->kl < 64 ? f->kl : 64),
                 f->k);
    if ((val = malloc(f->vl + 1)) == NULL) {
        j->oom = 1;
        return;
    }
    memcpy(val, f->v, f->vl);
    val[f->vl] = '\0';
    if (cJSON_AddStringToObject(j->obj, key, val) == NULL)
        j->oom = 1;
    free(val);
}

static void emit(const char *line, size_t len)
{
    FILE *f = out_stream ? out_stream : stderr;
    int fd = fileno(f);

    if (fd < 0) { /* memory streams in tests */
        fwrite(line, 1, len, f);
        fflush(f);
        return;
    }
    fflush(f);
    while (len > 0) {
        ssize_t w = write(fd, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report a failing log */
        line += w;
        len -= (size_t)w;
    }
}

/* Escape the event name like a value so it cannot split the line. */
static void kv_line(struct sbuf *b, const char *ts, enum log_level lvl,
                    const char *event, const char *text)
{
    sbuf_str(b, "ts=");
    sbuf_str(b, ts);
    sbuf_str(b, " level=");
    sbuf_str(b, level_names[lvl]);
    sbuf_str(b, " event=");
    kv_value(b, event, strlen(event));
    split_fields(text, on_kv_field, b);
    sbuf_add(b, "\n", 1);
}

static void json_line(struct sbuf *b, const char *ts, enum log_level lvl,
                      const char *event, const char *text)
{
    struct json_ctx j = { 0 };
    char *s;

    if ((j.obj = cJSON_CreateObject()) == NULL ||
        cJSON_AddStringToObject(j.obj, "ts", ts) == NULL ||
        cJSON_AddStringToObject(j.obj, "level", level_names[lvl]) == NULL ||
        cJSON_AddStringToObject(j.obj, "event", event) == NULL) {
        cJSON_Delete(j.obj);
        b->oom = 1;
        return;
    }
    split_fields(text, on_json_field, &j);
    /* Unformatted cJSON escapes control characters: one line. */
    if (j.oom || (s = cJSON_PrintUnformatted(j.obj)) == NULL) {
        cJSON_Delete(j.obj);
        b->oom = 1;
        return;
    }
    sbuf_str(b, s);
    sbuf_add(b, "\n", 1);
    cJSON_free(s);
    cJSON_Delete(j.obj);
}

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    char ts[32], small[512], *text = small, *ev = NULL, *clean = NULL;
    struct sbuf line = { 0 };
    struct timespec now;
    struct tm tm;
    va_list ap;
    int n;

    if (lvl < min_level || lvl > LOG_LVL_ERROR)
        return;
    /* Real wall time on purpose: logs say when things happened, even
     * when "now" is faked for the computation. */
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        small[0] = '\0';
    } else if ((size_t)n >= sizeof(small)) {
        size_t cap = (size_t)n < LOG_MAX_TEXT ? (size_t)n + 1 : LOG_MAX_TEXT;

        if ((text = malloc(cap)) != NULL) {
            va_start(ap, fmt);
            vsnprintf(text, cap, fmt, ap);
            va_end(ap);
        } else {
            text = small; /* truncated, but still logged */
        }
        /* Cut: a number cut in two would escape the scrub. Drop the last
         * character and any digit run it ends (pnr_cut). */
        if ((size_t)n >= (text == small ? sizeof(small) : cap))
            pnr_cut(text, strlen(text) - 1);
    }
    if ((clean = pnr_scrub(text, NULL)) == NULL ||
        (ev = pnr_scrub(event ? event : "", NULL)) == NULL)
        goto out; /* out of memory: drop rather than risk the raw text */
    fix_utf8(clean);
    fix_utf8(ev);
    if (line_format == LOG_FMT_JSON)
        json_line(&line, ts, lvl, ev, clean);
    else
        kv_line(&line, ts, lvl, ev, clean);
    if (!line.oom)
        emit(line.p, line.len);
out:
    sbuf_free(&line);
    free(clean);
    free(ev);
    if (text != small)
        free(text);
}
