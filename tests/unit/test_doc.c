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
    char *text[4], *want, *back, buf[777];
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
    gz.nseg = doc_gzip_segs(pp, 4, tail, segs, &plen);
    gz.segs = segs;
    assert_int_equal(gz.nseg, 3 + 3); /* the empty piece is left out */
    assert_int_equal(plen, total);
    for (i = 0; i < gz.nseg; i++)
        gz.len += segs[i].len;

    /* zlib on the flattened member: one valid gzip stream. */
    {
        int c2 = 0;
        const char *g = doc_flatten(&gz, &c2);
        struct doc one = { 0 };

        assert_non_null(g);
        one.json = (char *)(uintptr_t)g;
        one.len = gz.len;
        back = malloc(total + 1);
        assert_int_equal(gunzip(&one, back, total + 1), total);
        assert_memory_equal(back, want, total);
        free(back);
        if (c2)
            free((char *)(uintptr_t)g);
    }
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_gzip_segs),
    };

    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
