/*
 * fuzz_pnr.c - libFuzzer target for the personnummer scrubber (pnr.h).
 * The input is any text (cut at its first NUL). Invariants,
 * abort() on violation:
 *   - pnr_scrub's output holds no number (pnr_contains is false), and
 *     scrubbing it again changes nothing and counts nothing;
 *   - pnr_contains(input) agrees with pnr_scrub's count;
 *   - pnr_scrub_buf, at a cap taken from the first byte, fits the cap,
 *     writes nothing past it and leaves no number; a pnr_cut of scrubbed
 *     text leaves none either;
 *   - sf_error_set (error.c, every error message) leaves none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "slotfeed/error.h"
#include "slotfeed/pnr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, *a, *b, *buf;
    size_t n = 0, n2 = 0, len, cap;
    struct sf_error err;

    if ((s = malloc(size + 1)) == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    len = strlen(s);

    a = pnr_scrub(s, &n);
    if (a == NULL)
        abort();
    if (pnr_contains(a) || pnr_contains(s) != (n > 0))
        abort();
    b = pnr_scrub(a, &n2);
    if (b == NULL || n2 != 0 || strcmp(a, b) != 0)
        abort();

    /* in place, with a cap from the first byte; guard bytes after it */
    cap = 1 + (size > 0 ? data[0] : 0) % (len + 16);
    buf = malloc((len + 1 > cap ? len + 1 : cap) + 8);
    if (buf != NULL) {
        size_t total = (len + 1 > cap ? len + 1 : cap);

        memcpy(buf, s, len + 1);
        memset(buf + len + 1, 'G', total + 8 - (len + 1));
        pnr_scrub_buf(buf, cap);
        if (strlen(buf) >= cap || pnr_contains(buf))
            abort();
        for (size_t i = total; i < total + 8; i++)
            if (buf[i] != 'G')
                abort();
        free(buf);
    }
    pnr_cut(a, cap - 1);
    if (pnr_contains(a))
        abort();

    sf_error_set(&err, SF_ERR_FAULT, "fault: %s", s);
    if (pnr_contains(err.msg) || strlen(err.msg) >= sizeof(err.msg))
        abort();

    free(a);
    free(b);
    free(s);
    return 0;
}
