/*
 * error.c - struct sf_error helpers.
 *
 * Error messages quote upstream text (faults, diagnostics, URLs) and end
 * up in logs and the public feed, so every message set here is scrubbed
 * of personnummer (pnr.h) before it is cut to fit: formatted in full
 * first, so a number cannot escape by straddling the cut.
 */
#include "slotfeed/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/pnr.h"

/* Scrub text (in a buffer of tcap bytes; vsnprintf wanted n) into msg
 * (cap bytes). A cut at either end never leaves part of a digit run. */
static void set_scrubbed(char *msg, size_t cap, char *text, size_t n,
                         size_t tcap)
{
    if (n >= tcap) /* vsnprintf cut it: drop a run it may have split */
        pnr_cut(text, strlen(text) - 1);
    pnr_scrub_buf(text, tcap);
    pnr_cut(text, cap - 1);
    memcpy(msg, text, strlen(text) + 1);
}

void sf_error_set(struct sf_error *err, enum sf_errclass code, const char *fmt,
                  ...)
{
    char text[2048];
    va_list ap;
    int n;

    if (err == NULL)
        return;
    err->code = code;
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[n = 0] = '\0';
    set_scrubbed(err->msg, sizeof(err->msg), text, (size_t)n, sizeof(text));
    sf_utf8_fix(err->msg);
}

void sf_error_prefix(struct sf_error *err, const char *fmt, ...)
{
    char head[256], text[sizeof(head) + sizeof(err->msg) + 2];
    va_list ap;
    int n;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    n = vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(head))
        pnr_cut(head, sizeof(head) - 2);
    n = snprintf(text, sizeof(text), "%s: %s", head, err->msg);
    if (n < 0)
        text[n = 0] = '\0';
    set_scrubbed(err->msg, sizeof(err->msg), text, (size_t)n, sizeof(text));
    sf_utf8_fix(err->msg);
}

size_t sf_utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t len, i;

    if (n == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t sf_utf8_bad(const char *s, size_t n)
{
    size_t i = 0, k;

    while (i < n) {
        k = sf_utf8_seq(s + i, n - i);
        if (k == 0)
            return i;
        i += k;
    }
    return (size_t)-1;
}

bool sf_utf8_valid(const char *s, size_t n)
{
    return sf_utf8_bad(s, n) == (size_t)-1;
}

/* Whether the n bytes at p are a valid lead byte followed only by
 * continuation bytes, too few of them: a character cut by truncation. */
static bool utf8_cut_short(const unsigned char *p, size_t n)
{
    size_t need, i;

    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        need = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        need = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        need = 4;
    else
        return false;
    if (n >= need)
        return false;
    for (i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return false;
    return true;
}

void sf_utf8_fix(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n, k;

    if (s == NULL)
        return;
    n = strlen(s);
    while (n > 0) {
        k = sf_utf8_seq((const char *)p, n);
        if (k == 0 && utf8_cut_short(p, n)) {
            *p = '\0'; /* cut short by truncation: drop it */
            return;
        }
        if (k == 0 || (k == 1 && (*p < 0x20 || *p == 0x7f))) {
            *p = '?';
            k = 1;
        }
        p += k;
        n -= k;
    }
}

void sf_error_clear(struct sf_error *err)
{
    if (err == NULL)
        return;
    err->code = SF_ERR_NONE;
    err->msg[0] = '\0';
}

const char *sf_errclass_name(enum sf_errclass code)
{
    switch (code) {
    case SF_ERR_NONE:
        return "none";
    case SF_ERR_CONFIG:
        return "config";
    case SF_ERR_TRANSPORT:
        return "transport";
    case SF_ERR_TIMEOUT:
        return "timeout";
    case SF_ERR_TOO_LARGE:
        return "too_large";
    case SF_ERR_HTTP:
        return "http";
    case SF_ERR_PARSE:
        return "parse";
    case SF_ERR_HOSTILE:
        return "hostile";
    case SF_ERR_FAULT:
        return "fault";
    case SF_ERR_NOT_CONNECTED:
        return "not_connected";
    case SF_ERR_NOMEM:
        return "nomem";
    case SF_ERR_INTERNAL:
        return "internal";
    case SF_ERR_IMPLAUSIBLE:
        return "implausible";
    }
    return "unknown";
}

void sf_quote(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    char *t, *c;
    size_t i = 0, o = 0, k, len;

    if (cap == 0)
        return;
    if ((t = malloc(n + 1)) == NULL) {
        snprintf(dst, cap, "(not quoted: out of memory)");
        return;
    }
    while (i < n) {
        unsigned char b = (unsigned char)s[i];

        if (b < 0x20 || b == 0x7f) {
            t[o++] = ' ';
            i++;
        } else if ((k = sf_utf8_seq(s + i, n - i)) == 0) {
            t[o++] = '?';
            i++;
        } else {
            memcpy(t + o, s + i, k);
            o += k;
            i += k;
        }
    }
    t[o] = '\0';
    c = pnr_scrub(t, NULL);
    free(t);
    if (c == NULL) {
        snprintf(dst, cap, "(not quoted: out of memory)");
        return;
    }
    len = strlen(c);
    if (len > max || len > cap - 1) {
        /* cut: max bytes of text, then the "..." if cap has room */
        if (max > cap - 1)
            max = cap - 1;
        if (max > cap - 4)
            max = cap >= 4 ? cap - 4 : 0;
    }
    pnr_cut(c, max);
    snprintf(dst, cap, len > strlen(c) ? "%s..." : "%s", c);
    free(c);
}
