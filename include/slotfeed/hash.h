/*
 * hash.h - the non-cryptographic hashes slotfeed uses: FNV-1a (64 bit)
 * for strings and short bytes, splitmix64 for mixing and jitter, and a
 * word-at-a-time hash for whole documents.
 *
 * All are stable across runs (no pointers, no random seed), and FNV-1a
 * and splitmix64 across machines too: ETags, schedule offsets and the
 * simulator's data must come out the same every time. hash_bytes64 reads
 * native-endian words, so its values differ between byte orders: it is
 * for comparing documents within one process, never for output. None is
 * fit for anything an attacker may choose to collide on where that
 * matters; none of the users here needs that.
 * A leaf: pure functions, no other module.
 */
#ifndef SLOTFEED_HASH_H
#define SLOTFEED_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a's 64-bit offset basis: the hash of no bytes. */
#define HASH_FNV1A_INIT UINT64_C(0xcbf29ce484222325)

/* FNV-1a of n bytes at p, continuing from h (HASH_FNV1A_INIT to start). */
uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n);

/* FNV-1a of the string s; NULL hashes like "". */
uint64_t hash_fnv1a_str(const char *s);

/*
 * A 64-bit hash of n bytes at p from seed, for telling whether a large
 * document (an upstream's answer) is the one seen before: eight lanes of
 * 8-byte words, each multiplied and xor-shifted, folded with the tail and
 * n at the end. About ten times FNV-1a's speed, a fifth of CRC-32 plus
 * Adler-32's on this project's hosts; any single changed bit changes the
 * value. Alignment of p does not matter.
 */
uint64_t hash_bytes64(const void *p, size_t n, uint64_t seed);

/* splitmix64's finaliser: spreads every input bit over the output. */
uint64_t hash_mix64(uint64_t z);

/* splitmix64: advance *state by the golden gamma and return the next
 * pseudo-random value. */
uint64_t hash_splitmix64(uint64_t *state);

#endif
