/* th_text.c - see th_text.h. */
#include "th_text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slotfeed/doc.h"

bool th_text_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL)
        return false;
    while (*p != '\0') {
        unsigned c = *p;
        size_t k, i;
        unsigned long cp;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (i = 1; i < k; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += k;
    }
    return true;
}

const char *th_doc_text(const struct doc *d)
{
    static char *ring[16];
    static unsigned at;
    int copy = 0;
    const char *t = doc_flatten(d, &copy);
    char *own;

    assert_non_null(t);
    if (copy) {
        own = (char *)(uintptr_t)t;
    } else {
        assert_non_null(own = malloc(d->len + 1));
        memcpy(own, t, d->len);
        own[d->len] = '\0';
    }
    at = (at + 1) % 16;
    free(ring[at]);
    ring[at] = own;
    return own;
}
