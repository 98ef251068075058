/*
 * doc.c - immutable serialized documents: ETag and gzip (doc.h).
 */
#include "slotfeed/doc.h"
#include "slotfeed/sbuf.h"

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

const char *doc_flatten(const struct doc *d, int *copy)
{
    char *p;
    size_t i, at = 0;

    *copy = 0;
    if (d == NULL)
        return NULL;
    if (d->segs == NULL)
        return d->json;
    if ((p = malloc(d->len + 1)) == NULL)
        return NULL;
    for (i = 0; i < d->nseg && at + d->segs[i].len <= d->len; i++) {
        memcpy(p + at, d->segs[i].p, d->segs[i].len);
        at += d->segs[i].len;
    }
    p[at] = '\0';
    *copy = 1;
    return p;
}

void doc_etag_hash(uint64_t h, size_t len, char out[DOC_ETAG_LEN])
{
    snprintf(out, DOC_ETAG_LEN, "\"%016" PRIx64 "-%zx\"", h, len);
}

/* plain_etag with "-gz" inside the quotes, else the tag of the bytes. */
static void gz_etag(struct doc *out, const char *plain_etag)
{
    size_t el = plain_etag != NULL ? strlen(plain_etag) : 0;

    if (el >= 2 && el + 3 < DOC_ETAG_LEN) {
        memcpy(out->etag, plain_etag, el - 1);
        memcpy(out->etag + el - 1, "-gz\"", 5);
    } else {
        doc_etag(out->json, out->len, out->etag);
    }
}

struct doc_zctx {
    z_stream gz, raw;  /* gzip wrapper / raw deflate, level 6 */
    int gz_ok, raw_ok; /* initialised */
};

struct doc_zctx *doc_zctx_new(void)
{
    return calloc(1, sizeof(struct doc_zctx));
}

void doc_zctx_free(struct doc_zctx *cx)
{
    if (cx == NULL)
        return;
    if (cx->gz_ok)
        deflateEnd(&cx->gz);
    if (cx->raw_ok)
        deflateEnd(&cx->raw);
    free(cx);
}

/* A ready stream: cx's (reset) or *tmp (initialised; caller ends it). */
static z_stream *zstream(struct doc_zctx *cx, int raw, z_stream *tmp)
{
    /* windowBits 15 + 16: the gzip wrapper (RFC 1952); -15: raw. */
    int wbits = raw ? -15 : 15 + 16;
    z_stream *z = tmp;
    int *ok = NULL;

    if (cx != NULL) {
        z = raw ? &cx->raw : &cx->gz;
        ok = raw ? &cx->raw_ok : &cx->gz_ok;
        if (*ok)
            return deflateReset(z) == Z_OK ? z : NULL;
    }
    memset(z, 0, sizeof(*z));
    /* Pieces are small and mostly matches into the neighbours before
     * them: fixed Huffman codes save a dynamic block's code table per
     * piece (measured: region gzip 36 -> 32 KB at 1,000 clinics). */
    if (deflateInit2(z, 6, Z_DEFLATED, wbits, 8,
                     raw ? Z_FIXED : Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    if (ok != NULL)
        *ok = 1;
    return z;
}

static void zdone(struct doc_zctx *cx, z_stream *z)
{
    if (cx == NULL)
        deflateEnd(z);
}

int doc_gzip(const char *data, size_t len, const char *plain_etag,
             struct doc *out)
{
    return doc_gzip_cx(NULL, data, len, plain_etag, out);
}

int doc_gzip_cx(struct doc_zctx *cx, const char *data, size_t len,
                const char *plain_etag, struct doc *out)
{
    z_stream tmp, *z;
    size_t cap;
    char *buf;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((z = zstream(cx, 0, &tmp)) == NULL)
        return -1;
    cap = deflateBound(z, (uLong)len) + 32;
    if ((buf = malloc(cap)) == NULL) {
        zdone(cx, z);
        return -1;
    }
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    z->next_out = (Bytef *)buf;
    z->avail_out = (uInt)cap;
    rc = deflate(z, Z_FINISH);
    cap -= z->avail_out;
    zdone(cx, z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    out->json = buf;
    out->len = cap;
    gz_etag(out, plain_etag);
    return 0;
}

int doc_zpart_make(const char *data, size_t len, const char *dict,
                   size_t dictlen, int final, struct doc_zpart *out)
{
    return doc_zpart_make_cx(NULL, data, len, dict, dictlen, final, out);
}

int doc_zpart_make_cx(struct doc_zctx *cx, const char *data, size_t len,
                      const char *dict, size_t dictlen, int final,
                      struct doc_zpart *out)
{
    z_stream tmp, *z;
    size_t cap;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((z = zstream(cx, 1, &tmp)) == NULL)
        return -1;
    /* The window is 32 KiB: only the dictionary's tail can be used. */
    if (dictlen > 32768) {
        dict += dictlen - 32768;
        dictlen = 32768;
    }
    if (dict != NULL && dictlen > 0 &&
        deflateSetDictionary(z, (const Bytef *)dict, (uInt)dictlen) != Z_OK)
        goto fail;
    /* deflateBound plus the sync flush's empty stored block. */
    cap = deflateBound(z, (uLong)len) + 16;
    if ((out->z = malloc(cap)) == NULL)
        goto fail;
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    z->next_out = out->z;
    z->avail_out = (uInt)cap;
    rc = deflate(z, final ? Z_FINISH : Z_SYNC_FLUSH);
    if (rc != (final ? Z_STREAM_END : Z_OK) || z->avail_in != 0)
        goto fail;
    out->zlen = cap - z->avail_out;
    zdone(cx, z);
    out->crc = (uint32_t)crc32(0L, (const Bytef *)data, (uInt)len);
    out->len = len;
    return 0;
fail:
    zdone(cx, z);
    doc_zpart_free(out);
    return -1;
}

void doc_zpart_free(struct doc_zpart *p)
{
    if (p == NULL)
        return;
    free(p->z);
    memset(p, 0, sizeof(*p));
}

int doc_gzip_assemble(const struct doc_zpart *const *parts, size_t n,
                      const char *plain_etag, struct doc *out)
{
    /* RFC 1952 header: deflate, no flags, no mtime, unix. */
    static const unsigned char head[10] = {
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3
    };
    unsigned char *p;
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t total = sizeof(head) + 8, len = 0, i;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return -1;
    for (i = 0; i < n; i++)
        total += parts[i]->zlen;
    if ((out->json = malloc(total)) == NULL)
        return -1;
    p = (unsigned char *)out->json;
    memcpy(p, head, sizeof(head));
    p += sizeof(head);
    for (i = 0; i < n; i++) {
        memcpy(p, parts[i]->z, parts[i]->zlen);
        p += parts[i]->zlen;
        crc = crc32_combine(crc, parts[i]->crc, (z_off_t)parts[i]->len);
        len += parts[i]->len;
    }
    for (i = 0; i < 4; i++)
        *p++ = (unsigned char)(crc >> (8 * i));
    for (i = 0; i < 4; i++) /* ISIZE: the length modulo 2^32 */
        *p++ = (unsigned char)((uint64_t)len >> (8 * i));
    out->len = total;
    gz_etag(out, plain_etag);
    return 0;
}

int doc_take_sbuf(struct doc *d, struct sbuf *b)
{
    memset(d, 0, sizeof(*d));
    if (b->oom)
        return -1;
    d->json = b->p;
    d->len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    doc_etag(d->json, d->len, d->etag);
    return 0;
}
