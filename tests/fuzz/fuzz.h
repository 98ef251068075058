/*
 * fuzz.h - shared by the libFuzzer targets tests/fuzz/fuzz_*.c and the
 * replay driver replay_main.c.
 *
 * Each target defines LLVMFuzzerTestOneInput. With -DSLOTFEED_FUZZ=ON
 * (clang) it links against libFuzzer as fuzz_NAME; in every build it also
 * links against replay_main.c as replay_NAME, which ctest runs over the
 * seed corpus and the crash reproducers (tests/fuzz/regress/NAME/).
 *
 * Multi-part inputs (one body per adapter step, a query and its headers)
 * are split on FUZZ_SEP, one byte the fuzzer finds quickly and the
 * dictionaries list.
 */
#ifndef SLOTFEED_FUZZ_H
#define SLOTFEED_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SEP '\x1e' /* ASCII record separator */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One part of a split input: borrowed from the fuzzer's buffer. */
struct fuzz_part {
    const uint8_t *p;
    size_t n;
};

/*
 * Split data[0..size) on FUZZ_SEP into at most max parts (the last part
 * keeps any further separators). Returns the number of parts (>= 1).
 */
static inline size_t fuzz_split(const uint8_t *data, size_t size,
                                struct fuzz_part *parts, size_t max)
{
    size_t n = 0, start = 0;

    for (size_t i = 0; i < size && n + 1 < max; i++) {
        if (data[i] == (uint8_t)FUZZ_SEP) {
            parts[n].p = data + start;
            parts[n].n = i - start;
            n++;
            start = i + 1;
        }
    }
    parts[n].p = data + start;
    parts[n].n = size - start;
    return n + 1;
}

/*
 * A malloc'd copy of a part with a NUL after its n bytes (fetch hands
 * adapters NUL-terminated bodies; C-string APIs need one). Aborts on
 * allocation failure: the fuzzer's rss limit, not ours, decides.
 */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        abort();
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

#endif
