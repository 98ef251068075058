/*
 * hash.c - FNV-1a and splitmix64 (hash.h): one copy for the ETags, the
 * collector's schedule, the scheduler's tables and jitter, the string
 * pool and the simulator.
 */
#include "slotfeed/hash.h"

#include <string.h>

#define LANES 8

uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

uint64_t hash_fnv1a_str(const char *s)
{
    uint64_t h = HASH_FNV1A_INIT;

    for (; s != NULL && *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

uint64_t hash_bytes64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    uint64_t h[LANES], tail = 0, r;
    size_t i = 0, k;

    /* Lanes are independent, so the multiplies overlap; each step is a
     * bijection of its lane for a given word, so one changed word always
     * changes its lane. */
    for (k = 0; k < LANES; k++)
        h[k] = hash_mix64(seed + k);
    for (; i + 8 * LANES <= n; i += 8 * LANES)
        for (k = 0; k < LANES; k++) {
            uint64_t w;

            memcpy(&w, b + i + 8 * k, sizeof(w));
            h[k] = (h[k] ^ w) * UINT64_C(0xff51afd7ed558ccd);
            h[k] ^= h[k] >> 29;
        }
    r = hash_mix64(seed ^ (uint64_t)n);
    for (; i < n; i++)
        tail = hash_fnv1a(tail ^ r, b + i, 1);
    for (k = 0; k < LANES; k++)
        r = hash_mix64(r ^ h[k]);
    return hash_mix64(r ^ tail);
}

uint64_t hash_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t hash_splitmix64(uint64_t *state)
{
    return hash_mix64(*state += UINT64_C(0x9e3779b97f4a7c15));
}
