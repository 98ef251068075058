/* sbuf.c - growable byte buffer (see sbuf.h). */
#include "slotfeed/sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Grow b to hold at least need bytes; -1 (and oom set) on failure. */
static int reserve(struct sbuf *b, size_t need)
{
    size_t cap;
    char *np;

    if (b->cap >= need)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    if ((np = realloc(b->p, cap)) == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    /* The bound also tells the optimizer len + n + 1 cannot wrap. */
    if (b->oom || n > SIZE_MAX / 4 || b->len > SIZE_MAX / 4) {
        b->oom = 1;
        return;
    }
    if (reserve(b, b->len + n + 1) != 0)
        return;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->oom || reserve(b, b->len + 1) != 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->p[b->len] = '\0';
        b->oom = 1;
        return;
    }
    if ((size_t)n >= b->cap - b->len) { /* did not fit: grow, again */
        if (reserve(b, b->len + (size_t)n + 1) != 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void sbuf_free(struct sbuf *b)
{
    if (b == NULL)
        return;
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Wipe and free b (what was read may be a credential), keep errno. */
static enum sbuf_read read_fail(struct sbuf *b, enum sbuf_read why)
{
    int e = errno;

    if (b->p != NULL)
        memset(b->p, 0, b->cap);
    sbuf_free(b);
    errno = e;
    return why;
}

#define READ_CHUNK 65536

enum sbuf_read sbuf_read_stream(struct sbuf *b, FILE *f, size_t max)
{
    size_t want, got;

    /* A small file (a token) gets its whole buffer at once: no realloc
     * leaves a copy behind in freed memory. */
    if (b->oom ||
        reserve(b, b->len + (max < READ_CHUNK ? max + 2 : READ_CHUNK)) != 0)
        return read_fail(b, SBUF_READ_NOMEM);
    b->p[b->len] = '\0';
    for (;;) {
        if (b->len > max)
            return read_fail(b, SBUF_READ_TOO_LARGE);
        want = max - b->len + 1; /* one byte past max tells "larger" */
        if (want > READ_CHUNK)
            want = READ_CHUNK;
        if (reserve(b, b->len + want + 1) != 0)
            return read_fail(b, SBUF_READ_NOMEM);
        got = fread(b->p + b->len, 1, want, f);
        b->len += got;
        b->p[b->len] = '\0';
        if (got < want) /* EOF or an error */
            break;
    }
    if (ferror(f))
        return read_fail(b, SBUF_READ_IO);
    return SBUF_READ_OK;
}

enum sbuf_read sbuf_read_file(struct sbuf *b, const char *path, size_t max,
                              long long *size)
{
    enum sbuf_read rc = SBUF_READ_OK;
    struct stat st;
    FILE *f;
    int e;

    if (size != NULL)
        *size = -1;
    if ((f = fopen(path, "rb")) == NULL)
        return SBUF_READ_OPEN;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = SBUF_READ_DIR;
        } else if (S_ISREG(st.st_mode)) {
            if (size != NULL)
                *size = (long long)st.st_size;
            if ((unsigned long long)st.st_size > max)
                rc = SBUF_READ_TOO_LARGE;
        }
    }
    if (rc == SBUF_READ_OK)
        rc = sbuf_read_stream(b, f, max);
    e = errno;
    fclose(f);
    errno = e;
    return rc;
}

void sbuf_html(struct sbuf *b, const char *s)
{
    const char *p, *run;

    if (s == NULL)
        return;
    for (p = run = s; *p != '\0'; p++) {
        const char *e = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&quot;"
                        : *p == '\'' ? "&#39;"
                                     : NULL;
        if (e == NULL)
            continue;
        sbuf_add(b, run, (size_t)(p - run));
        sbuf_str(b, e);
        run = p + 1;
    }
    sbuf_add(b, run, (size_t)(p - run));
}
