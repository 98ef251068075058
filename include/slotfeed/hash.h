/*
 * hash.h - the two non-cryptographic hashes slotfeed uses: FNV-1a (64 bit)
 * for strings and bytes, and splitmix64 for mixing and jitter.
 *
 * Both are stable across runs and machines (no pointers, no random seed):
 * ETags, schedule offsets and the simulator's data must come out the same
 * every time. Neither is fit for anything an attacker may choose to
 * collide on where that matters; none of the users here needs that.
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

/* splitmix64's finaliser: spreads every input bit over the output. */
uint64_t hash_mix64(uint64_t z);

/* splitmix64: advance *state by the golden gamma and return the next
 * pseudo-random value. */
uint64_t hash_splitmix64(uint64_t *state);

#endif
