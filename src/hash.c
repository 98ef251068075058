/*
 * hash.c - FNV-1a and splitmix64 (hash.h): one copy for the ETags, the
 * collector's schedule, the scheduler's tables and jitter, the string
 * pool and the simulator.
 */
#include "slotfeed/hash.h"

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
