/*
 * test_hash.c - hash_bytes64: stable, blind to alignment, and changed by
 * any single bit or length (what the RIV adapter's unchanged-answer check
 * rests on); FNV-1a against its published test vectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "slotfeed/hash.h"

#define N 203 /* three rounds of lanes and a tail of 11 bytes */

static void fill(unsigned char *b, size_t n)
{
    uint64_t s = 42;

    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)hash_splitmix64(&s);
}

static void test_fnv1a_vectors(void **state)
{
    (void)state;
    assert_true(hash_fnv1a_str("") == HASH_FNV1A_INIT);
    assert_true(hash_fnv1a_str("a") == UINT64_C(0xaf63dc4c8601ec8c));
    assert_true(hash_fnv1a_str("foobar") == UINT64_C(0x85944171f73967e8));
    assert_true(hash_fnv1a(HASH_FNV1A_INIT, "foobar", 6) ==
                hash_fnv1a_str("foobar"));
}

static void test_bytes64_every_bit(void **state)
{
    unsigned char b[N];
    uint64_t h0;

    (void)state;
    fill(b, sizeof(b));
    h0 = hash_bytes64(b, sizeof(b), 7);
    assert_true(hash_bytes64(b, sizeof(b), 7) == h0);
    assert_true(hash_bytes64(b, sizeof(b), 8) != h0);
    for (size_t i = 0; i < sizeof(b) * 8; i++) {
        b[i / 8] ^= (unsigned char)(1u << (i % 8));
        if (hash_bytes64(b, sizeof(b), 7) == h0)
            fail_msg("flipping bit %zu does not change the hash", i);
        b[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    assert_true(hash_bytes64(b, sizeof(b), 7) == h0);
}

static void test_bytes64_lengths_and_alignment(void **state)
{
    unsigned char b[N], shifted[N + 8];
    uint64_t h[N + 1];

    (void)state;
    fill(b, sizeof(b));
    /* every prefix differs from every other (zero bytes appended too) */
    memset(shifted, 0, sizeof(shifted));
    for (size_t n = 0; n <= N; n++)
        h[n] = hash_bytes64(b, n, 0);
    for (size_t i = 0; i <= N; i++)
        for (size_t j = i + 1; j <= N; j++)
            if (h[i] == h[j])
                fail_msg("prefixes of %zu and %zu bytes collide", i, j);
    assert_true(hash_bytes64(shifted, 64, 0) != hash_bytes64(shifted, 65, 0));
    assert_true(hash_bytes64(NULL, 0, 0) == h[0]);
    /* the same bytes at any address */
    for (size_t off = 1; off < 8; off++) {
        memcpy(shifted + off, b, sizeof(b));
        assert_true(hash_bytes64(shifted + off, sizeof(b), 0) == h[N]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a_vectors),
        cmocka_unit_test(test_bytes64_every_bit),
        cmocka_unit_test(test_bytes64_lengths_and_alignment),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
