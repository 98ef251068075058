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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag),
        cmocka_unit_test(test_gzip),
    };

    return th_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
