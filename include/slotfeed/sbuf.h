/*
 * sbuf.h - a growable, always NUL-terminated byte buffer for building
 * documents (feed JSON, NDJSON, CSV). An allocation failure sticks in
 * `oom`: callers append freely and check once at the end.
 *
 * The buffer owns p; free it with sbuf_free() or take it (then p is the
 * caller's to free()).
 */
#ifndef SLOTFEED_SBUF_H
#define SLOTFEED_SBUF_H

#include <stddef.h>
#include <stdio.h>

struct sbuf {
    char *p; /* NULL until the first append */
    size_t len, cap;
    int oom;
};

/* Append n bytes of s. A length near SIZE_MAX counts as OOM (caller bug). */
void sbuf_add(struct sbuf *b, const char *s, size_t n);
/* Append a NUL-terminated string. */
void sbuf_str(struct sbuf *b, const char *s);
/* Append s HTML-escaped (& < > " ' become entities), for text and
 * attribute values alike; NULL appends nothing. Every page renderer's one
 * escape for upstream, config and query text. */
void sbuf_html(struct sbuf *b, const char *s);
/* Append printf-formatted text (a formatting error counts as OOM). */
void sbuf_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Free the bytes and zero the struct. NULL ok. */
void sbuf_free(struct sbuf *b);

/* Why a whole-file read failed; the caller words the message. */
enum sbuf_read {
    SBUF_READ_OK = 0,
    SBUF_READ_OPEN,      /* cannot open: errno says why */
    SBUF_READ_DIR,       /* the path is a directory */
    SBUF_READ_TOO_LARGE, /* more than max bytes */
    SBUF_READ_IO,        /* read error: errno says why */
    SBUF_READ_NOMEM
};

/*
 * The one whole-file reader: append everything f gives until EOF to b,
 * which then holds the bytes NUL-terminated (b->p is never NULL on
 * success, even for an empty file). Reads at most one byte past max, so
 * a pipe or a growing file cannot make it allocate without bound. A max
 * under 64 KiB is read into one allocation (no stale copy in freed
 * memory); on failure the bytes read are wiped and b freed, errno kept
 * for SBUF_READ_IO. A caller reading a secret wipes b->cap bytes itself.
 */
enum sbuf_read sbuf_read_stream(struct sbuf *b, FILE *f, size_t max);

/*
 * sbuf_read_stream on the file at path (opened "rb", closed again). A
 * directory or a regular file over max is refused before reading. *size
 * (may be NULL) gets a regular file's size, else -1. errno is kept for
 * SBUF_READ_OPEN and SBUF_READ_IO.
 */
enum sbuf_read sbuf_read_file(struct sbuf *b, const char *path, size_t max,
                              long long *size);

#endif
