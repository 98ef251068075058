/*
 * doc.c - immutable serialized documents: ETag and gzip (doc.h).
 */
#include "slotfeed/doc.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "slotfeed/hash.h"

/* FNV-1a, 64 bit: fast, well spread, and good enough to tell versions of
 * one document apart (the length is in the tag too). */
void doc_etag(const char *data, size_t len, char out[DOC_ETAG_LEN])
{
    uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, data, len);

    snprintf(out, DOC_ETAG_LEN, "\"%016" PRIx64 "-%zx\"", h, len);
}

int doc_gzip(const char *data, size_t len, const char *plain_etag,
             struct doc *out)
{
    z_stream z;
    size_t cap, el;
    char *buf;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: the gzip wrapper (RFC 1952), not zlib's. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return -1;
    cap = deflateBound(&z, (uLong)len) + 32;
    if ((buf = malloc(cap)) == NULL) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    out->json = buf;
    out->len = cap - z.avail_out;
    el = plain_etag != NULL ? strlen(plain_etag) : 0;
    if (el >= 2 && el + 3 < DOC_ETAG_LEN) {
        memcpy(out->etag, plain_etag, el - 1);
        memcpy(out->etag + el - 1, "-gz\"", 5);
    } else {
        doc_etag(buf, out->len, out->etag);
    }
    return 0;
}
