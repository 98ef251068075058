/*
 * http_framing.c - strict request framing (RFC 9112 §3.2, §5, §6) over
 * the header list evhttp parsed; see http_framing.h for the why.
 */
#include "slotfeed/http_framing.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 §5.6.2: a field name is 1*tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

/* Field values: visible characters, SP and HTAB (and obs-text). */
static bool is_field_value(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* 1*DIGIT, nothing else (no sign, space or list: RFC 9110 §8.6). */
static bool is_content_length(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && s[n] == '\0' && n <= HTTP_FRAMING_MAX_CL_DIGITS;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name (unreserved,
 * pct-encoded, sub-delims) or an IP literal in brackets. The character
 * set is checked here; empty is allowed by the grammar.
 */
static bool is_host(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("-._~%!$&'()*+,;=:[]", c)))
            return false;
    }
    return true;
}

/*
 * One Transfer-Encoding field value: a comma list of transfer codings,
 * each a token maybe followed by ";params". Counts the elements and how
 * many are "chunked"; *unknown when any other coding is named (we
 * implement none: RFC 9112 §6.1 -> 501). -1 when it is no such list.
 */
static int te_scan(const char *v, int *n, int *chunked, bool *unknown)
{
    const char *p = v;

    for (;;) {
        const char *tok, *end;
        size_t tl;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == ',') { /* empty element: allowed, skipped */
            p++;
            continue;
        }
        if (*p == '\0')
            return 0;
        for (tok = p; is_tchar((unsigned char)*p); p++)
            ;
        if ((tl = (size_t)(p - tok)) == 0)
            return -1;
        (*n)++;
        if (tl == 7 && strncasecmp(tok, "chunked", 7) == 0)
            (*chunked)++;
        else
            *unknown = true;
        /* parameters or OWS up to the next comma */
        end = strchr(p, ',');
        p = end != NULL ? end + 1 : p + strlen(p);
        if (end == NULL)
            return 0;
    }
}

int http_framing_check(int major, int minor, const struct evkeyvalq *headers,
                       const char **why)
{
    const struct evkeyval *kv, *te = NULL;
    int hosts = 0, cls = 0, tes = 0, codings = 0, chunked = 0;
    bool unknown = false, te_bad = false;

    if (major != 1 || (minor != 0 && minor != 1)) {
        *why = "only HTTP/1.1 and HTTP/1.0 are served";
        return 505;
    }
    for (kv = headers != NULL ? headers->tqh_first : NULL; kv != NULL;
         kv = kv->next.tqe_next) {
        if (!is_token(kv->key)) {
            /* e.g. "Content-Length : 5": RFC 9112 §5.1 says 400 */
            *why = "malformed header field name (no whitespace is allowed "
                   "before the colon)";
            return 400;
        }
        if (!is_field_value(kv->value)) {
            *why = "control character in a header field value";
            return 400;
        }
        if (strcasecmp(kv->key, "Host") == 0) {
            hosts++;
            if (!is_host(kv->value)) {
                *why = "invalid Host header";
                return 400;
            }
        } else if (strcasecmp(kv->key, "Content-Length") == 0) {
            cls++;
            if (!is_content_length(kv->value)) {
                *why = "invalid Content-Length";
                return 400;
            }
        } else if (strcasecmp(kv->key, "Transfer-Encoding") == 0) {
            tes++;
            te = kv;
            if (te_scan(kv->value, &codings, &chunked, &unknown) != 0)
                te_bad = true;
        }
    }
    if (hosts > 1) {
        *why = "more than one Host header";
        return 400;
    }
    if (hosts == 0 && minor == 1) {
        *why = "an HTTP/1.1 request needs a Host header";
        return 400;
    }
    if (cls > 1) {
        *why = "more than one Content-Length";
        return 400;
    }
    if (tes == 0)
        return 0;
    if (te_bad) {
        *why = "malformed Transfer-Encoding";
        return 400;
    }
    if (unknown) {
        *why = "only the chunked transfer coding is implemented";
        return 501;
    }
    if (minor == 0) {
        /* RFC 9112 §6.1: treat the framing as faulty */
        *why = "Transfer-Encoding in an HTTP/1.0 request";
        return 400;
    }
    if (cls > 0) {
        *why = "both Transfer-Encoding and Content-Length";
        return 400;
    }
    /* Only what evhttp reads as chunked: one line, exactly "chunked" (a
     * tab before it, "chunked, chunked" or a second line would make
     * evhttp read the body as if there were none). */
    if (tes != 1 || codings != 1 || chunked != 1 ||
        strcasecmp(te->value, "chunked") != 0) {
        *why = "Transfer-Encoding must be chunked, once";
        return 400;
    }
    return 0;
}
