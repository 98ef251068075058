/*
 * test_doc.c - immutable documents: the strong ETag and the gzip copy.
 *
 * ETag values are FNV-1a 64 test vectors (published with the algorithm),
 * not recomputed here; the gzip copy is checked by inflating it with zlib.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "slotfeed/doc.h"
#include "th_skip.h"

static void test_etag(void **state)
{
    char a[DOC_ETAG_LEN], b[DOC_ETAG_LEN];

    (void)state;
    /* FNV-1a 64 test vectors: "" -> offset basis, "a" -> af63dc4c8601ec8c */
    doc_etag("", 0, a);
    assert_string_equal(a, "\"cbf29ce484222325-0\"");
    doc_etag("a", 1, a);
    assert_string_equal(a, "\"af63dc4c8601ec8c-1\"");
    doc_etag("foobar", 6, a);
    assert_string_equal(a, "\"85944171f73967e8-6\"");
    /* One changed byte, same length: different tag. */
    doc_etag("{\"x\":1}", 7, a);
    doc_etag("{\"x\":2}", 7, b);
    assert_string_not_equal(a, b);
}

/* Inflate a gzip member (RFC 1952) into out (cap bytes); its length. */
static size_t gunzip(const struct doc *gz, char *out, size_t cap)
{
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz->json;
    z.avail_in = (uInt)gz->len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    inflateEnd(&z);
    return cap - z.avail_out;
}

static void test_gzip(void **state)
{
    static const char text[] = "{\"clinics\":[\"a\",\"a\",\"a\",\"a\"]}";
    char tag[DOC_ETAG_LEN], back[128], want[DOC_ETAG_LEN];
    struct doc gz;

    (void)state;
    doc_etag(text, strlen(text), tag);
    assert_int_equal(doc_gzip(text, strlen(text), tag, &gz), 0);
    assert_non_null(gz.json);
    /* gzip magic, then the bytes back exactly. */
    assert_true(gz.len > 2 && (unsigned char)gz.json[0] == 0x1f &&
                (unsigned char)gz.json[1] == 0x8b);
    assert_int_equal(gunzip(&gz, back, sizeof(back)), strlen(text));
    assert_memory_equal(back, text, strlen(text));
    /* The plain tag with -gz inside the quotes. */
    snprintf(want, sizeof(want), "%.*s-gz\"", (int)strlen(tag) - 1, tag);
    assert_string_equal(gz.etag, want);
    free(gz.json);

    /* Without a usable plain tag: the tag of the gzip bytes themselves. */
    assert_int_equal(doc_gzip(text, strlen(text), NULL, &gz), 0);
    doc_etag(gz.json, gz.len, want);
    assert_string_equal(gz.etag, want);
    free(gz.json);
    assert_int_equal(doc_gzip(text, strlen(text), "\"", &gz), 0);
    doc_etag(gz.json, gz.len, want);
    assert_string_equal(gz.etag, want);
    free(gz.json);

    /* An empty document is a document. */
    assert_int_equal(doc_gzip("", 0, "\"e\"", &gz), 0);
    assert_int_equal(gunzip(&gz, back, sizeof(back)), 0);
    assert_string_equal(gz.etag, "\"e-gz\"");
    free(gz.json);
}

/* Text of n NDJSON-like lines, different enough to need real codes. */
static char *lines(size_t n, unsigned seed, size_t *len)
{
    char *t = malloc(n * 64 + 1);
    size_t at = 0, i;

    assert_non_null(t);
    for (i = 0; i < n; i++)
        at += (size_t)snprintf(t + at, 64, "{\"id\":\"S%u-%zu\",\"n\":%u}\n",
                               seed, i, (unsigned)(i * 7919u + seed) % 1000u);
    *len = at;
    return t;
}

/* gz (bytes or pieces), flattened, is one gzip member of want's total
 * bytes. */
static void assert_gunzips_to(const struct doc *gz, const char *want,
                              size_t total)
{
    int copy = 0;
    const char *g = doc_flatten(gz, &copy);
    struct doc one = { 0 };
    char *back = malloc(total + 1);

    assert_non_null(g);
    one.json = (char *)(uintptr_t)g;
    one.len = gz->len;
    assert_int_equal(gunzip(&one, back, total + 1), total);
    assert_memory_equal(back, want, total);
    free(back);
    if (copy)
        free((char *)(uintptr_t)g);
}

/*
 * A gzip member assembled by reference from big pieces (empty ones
 * among them) inflates, through zlib itself and through doc_unzip in
 * reads of odd sizes, to the pieces' text concatenated; a doc kept only
 * compressed flattens to that text.
 */
static void test_gzip_segs(void **state)
{
    struct doc_zpart zp[4];
    const struct doc_zpart *pp[4];
    struct doc_seg segs[4 + 3];
    unsigned char tail[8];
    struct doc gz = { 0 }, plain = { 0 };
    char *text[4], *want, buf[777];
    size_t tl[4], total = 0, plen = 0, at = 0, got, i;
    struct doc_unzip *u;
    int copy = 0, rc;
    const char *flat;

    (void)state;
    for (i = 0; i < 4; i++) {
        text[i] = lines(i == 2 ? 0 : 500 + 300 * i, (unsigned)i, &tl[i]);
        assert_int_equal(doc_zpart_make_big(NULL, text[i], tl[i], &zp[i]), 0);
        pp[i] = &zp[i];
        total += tl[i];
    }
    want = malloc(total + 1);
    for (i = 0, at = 0; i < 4; at += tl[i], i++)
        memcpy(want + at, text[i], tl[i]);
    doc_gzip_segs(pp, 4, NULL, tail, segs, &gz, &plen);
    assert_ptr_equal(gz.segs, segs);
    assert_int_equal(gz.nseg, 3 + 3); /* the empty piece is left out */
    assert_int_equal(plen, total);
    for (at = 0, i = 0; i < gz.nseg; i++)
        at += segs[i].len;
    assert_int_equal(gz.len, at);

    /* zlib on the flattened member: one valid gzip stream. */
    assert_gunzips_to(&gz, want, total);
    /* doc_unzip in odd-sized reads. */
    assert_non_null(u = doc_unzip_new(&gz));
    at = 0;
    do {
        rc = doc_unzip_read(u, buf, 1 + at % sizeof(buf), &got);
        assert_true(rc >= 0);
        assert_true(at + got <= total);
        assert_memory_equal(buf, want + at, got);
        at += got;
    } while (rc == 1);
    assert_int_equal(at, total);
    assert_int_equal(doc_unzip_read(u, buf, sizeof(buf), &got), 0);
    assert_int_equal(got, 0);
    doc_unzip_free(u);

    /* The doc kept only compressed. */
    plain.zsrc = &gz;
    plain.len = total;
    assert_non_null(flat = doc_flatten(&plain, &copy));
    assert_int_equal(copy, 1);
    assert_memory_equal(flat, want, total);
    assert_int_equal(flat[total], '\0');
    free((char *)(uintptr_t)flat);

    /* Truncated (no trailer) and corrupted inputs fail, never hang. */
    gz.nseg--;
    assert_null(doc_flatten(&plain, &copy));
    gz.nseg++;
    tail[0] ^= 0xff; /* crc32 mismatch */
    assert_null(doc_flatten(&plain, &copy));
    tail[0] ^= 0xff;
    plain.len = total - 1; /* more bytes than the doc says */
    assert_null(doc_flatten(&plain, &copy));

    for (i = 0; i < 4; i++) {
        doc_zpart_free(&zp[i]);
        free(text[i]);
    }
    free(want);
}

/* The crc32 of n synthetic pieces, one combine at a time (the reference). */
static struct doc_crcsum crc_direct(const struct doc_zpart *z, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t len = 0, i;
    struct doc_crcsum s;

    for (i = 0; i < n; i++) {
        crc = crc32_combine(crc, z[i].crc, (z_off_t)z[i].len);
        len += z[i].len;
    }
    s.crc = (uint32_t)crc;
    s.len = len;
    return s;
}

static void memo_fill(struct doc_crcmemo *m, const struct doc_zpart *z,
                      size_t n, const struct doc_crcmemo *prev)
{
    size_t i;

    assert_int_equal(doc_crcmemo_init(m, n), 0);
    for (i = 0; i < n; i++)
        doc_crcmemo_push(m, &z[i], prev);
}

/*
 * The block memo sums like one combine per piece, reuses exactly the
 * blocks whose pieces kept crc and length, and does not reuse a block
 * where only a length moved (the crc alone would let a wrong trailer
 * through); a gzip member with the memo's sum inflates.
 */
static void test_crcmemo(void **state)
{
    enum {
        N = 5 * DOC_CRC_BLOCK + 17
    };
    struct doc_zpart *z = calloc(N, sizeof(*z));
    struct doc_crcmemo a, b, c, d;
    struct doc_crcsum want, got;
    uint32_t x = 12345;
    size_t i;
    int ok;

    (void)state;
    for (i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        z[i].crc = x;
        z[i].len = 1 + (x >> 20) % 3000;
    }
    memo_fill(&a, z, N, NULL);
    want = crc_direct(z, N);
    got = doc_crcmemo_sum(&a, &ok);
    assert_true(ok);
    assert_int_equal(got.crc, want.crc);
    assert_int_equal(got.len, want.len);
    assert_int_equal(a.reused, 0);

    /* One piece of block 2 changes: the other four blocks are reused. */
    z[2 * DOC_CRC_BLOCK + 5].crc ^= 0x5a5a5a5au;
    memo_fill(&b, z, N, &a);
    got = doc_crcmemo_sum(&b, &ok);
    want = crc_direct(z, N);
    assert_int_equal(got.crc, want.crc);
    assert_int_equal(b.reused, 4);

    /* Only a length moves (same crc): block 3 must be summed anew. */
    z[3 * DOC_CRC_BLOCK].len += 1;
    memo_fill(&c, z, N, &b);
    got = doc_crcmemo_sum(&c, &ok);
    want = crc_direct(z, N);
    assert_int_equal(got.crc, want.crc);
    assert_int_equal(got.len, want.len);
    assert_int_equal(c.reused, 4);

    /* More pushes than room: the sum says it cannot answer. */
    assert_int_equal(doc_crcmemo_init(&d, 3), 0);
    for (i = 0; i < 4; i++)
        doc_crcmemo_push(&d, &z[i], NULL);
    (void)doc_crcmemo_sum(&d, &ok);
    assert_false(ok);
    doc_crcmemo_free(&a);
    doc_crcmemo_free(&b);
    doc_crcmemo_free(&c);
    doc_crcmemo_free(&d);
    free(z);
}

/* A real member: pieces of text, the memo's sum in the trailer. */
static void test_crcmemo_gzip(void **state)
{
    enum {
        N = 2 * DOC_CRC_BLOCK + 3
    };
    struct doc_zpart zp[N];
    const struct doc_zpart *pp[N];
    struct doc_seg segs[N + 3];
    unsigned char tail[8];
    struct doc_crcmemo m;
    struct doc_crcsum sum;
    struct doc gz = { 0 };
    char *text, *want;
    size_t tl, total = 0, plen, i;
    int ok;

    (void)state;
    want = malloc(N * 4096);
    assert_int_equal(doc_crcmemo_init(&m, N), 0);
    for (i = 0; i < N; i++) {
        text = lines(1 + i % 7, (unsigned)i, &tl);
        assert_int_equal(doc_zpart_make_big(NULL, text, tl, &zp[i]), 0);
        memcpy(want + total, text, tl);
        total += tl;
        free(text);
        pp[i] = &zp[i];
        doc_crcmemo_push(&m, &zp[i], NULL);
    }
    sum = doc_crcmemo_sum(&m, &ok);
    assert_true(ok);
    doc_gzip_segs(pp, N, &sum, tail, segs, &gz, &plen);
    assert_int_equal(plen, total);
    assert_gunzips_to(&gz, want, total);
    for (i = 0; i < N; i++)
        doc_zpart_free(&zp[i]);
    doc_crcmemo_free(&m);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag),         cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_gzip_segs),    cmocka_unit_test(test_crcmemo),
        cmocka_unit_test(test_crcmemo_gzip),
    };

    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
