/* sbuf.c - growable byte buffer (see sbuf.h). */
#include "slotfeed/sbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    size_t cap;
    char *np;

    /* The bound also tells the optimizer len + n + 1 cannot wrap. */
    if (b->oom || n > SIZE_MAX / 4 || b->len > SIZE_MAX / 4) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sbuf_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_free(struct sbuf *b)
{
    if (b == NULL)
        return;
    free(b->p);
    memset(b, 0, sizeof(*b));
}
