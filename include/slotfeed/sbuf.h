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

struct sbuf {
    char *p;        /* NULL until the first append */
    size_t len, cap;
    int oom;
};

/* Append n bytes of s. A length near SIZE_MAX counts as OOM (caller bug). */
void sbuf_add(struct sbuf *b, const char *s, size_t n);
/* Append a NUL-terminated string. */
void sbuf_str(struct sbuf *b, const char *s);
/* Free the bytes and zero the struct. NULL ok. */
void sbuf_free(struct sbuf *b);

#endif
