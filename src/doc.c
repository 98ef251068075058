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

/* The gzip header doc_gzip_segs writes: deflate, no
 * flags, no mtime, unix (RFC 1952). */
static const unsigned char gz_head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

/* The trailer of a gzip member: crc32 and ISIZE (the length modulo
 * 2^32), little-endian. */
static void gz_tail(unsigned char *p, uLong crc, size_t len)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(crc >> (8 * i));
    for (i = 0; i < 4; i++)
        p[4 + i] = (unsigned char)((uint64_t)len >> (8 * i));
}

struct doc_unzip {
    z_stream z;
    const struct doc *gz;
    size_t seg; /* the next piece to feed (segs), or 1 once json is fed */
    int state;  /* 1 running, 0 done, -1 failed */
};

struct doc_unzip *doc_unzip_new(const struct doc *gz)
{
    struct doc_unzip *u = calloc(1, sizeof(*u));

    if (u == NULL)
        return NULL;
    /* 15 + 32: a zlib or gzip wrapper, detected. */
    if (inflateInit2(&u->z, 15 + 32) != Z_OK) {
        free(u);
        return NULL;
    }
    u->gz = gz;
    u->state = 1;
    return u;
}

/* Give the inflater its next piece of input; 0 when none is left. */
static int unzip_feed(struct doc_unzip *u)
{
    const struct doc *g = u->gz;

    if (g->segs == NULL) {
        if (u->seg++ > 0 || g->json == NULL)
            return 0;
        u->z.next_in = (Bytef *)g->json;
        u->z.avail_in = (uInt)g->len;
        return 1;
    }
    while (u->seg < g->nseg && g->segs[u->seg].len == 0)
        u->seg++;
    if (u->seg >= g->nseg)
        return 0;
    u->z.next_in = (Bytef *)(uintptr_t)g->segs[u->seg].p;
    u->z.avail_in = (uInt)g->segs[u->seg].len;
    u->seg++;
    return 1;
}

int doc_unzip_read(struct doc_unzip *u, char *out, size_t cap, size_t *got)
{
    *got = 0;
    if (u->state <= 0)
        return u->state;
    u->z.next_out = (Bytef *)out;
    u->z.avail_out = (uInt)cap;
    while (u->z.avail_out > 0) {
        int rc;

        if (u->z.avail_in == 0 && !unzip_feed(u)) {
            u->state = -1; /* input ended before the stream did */
            break;
        }
        rc = inflate(&u->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            /* One member, nothing after it. */
            u->state = u->z.avail_in == 0 && !unzip_feed(u) ? 0 : -1;
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            u->state = -1;
            break;
        }
    }
    *got = cap - u->z.avail_out;
    return u->state;
}

void doc_unzip_free(struct doc_unzip *u)
{
    if (u == NULL)
        return;
    inflateEnd(&u->z);
    free(u);
}

/* d's plain bytes inflated from d->zsrc, malloc'd. */
static const char *unzip_all(const struct doc *d, int *copy)
{
    struct doc_unzip *u = doc_unzip_new(d->zsrc);
    char *p = malloc(d->len + 1), extra;
    size_t got = 0, more = 0;
    int rc = -1;

    if (u != NULL && p != NULL &&
        (rc = doc_unzip_read(u, p, d->len, &got)) == 1 && got == d->len)
        rc = doc_unzip_read(u, &extra, 1, &more); /* must end here */
    doc_unzip_free(u);
    if (rc != 0 || got != d->len || more != 0) {
        free(p);
        return NULL;
    }
    p[got] = '\0';
    *copy = 1;
    return p;
}

void doc_flatten_free(const char *text, int copy)
{
    if (copy)
        free((char *)(uintptr_t)text); /* ours: made by doc_flatten */
}

const char *doc_flatten(const struct doc *d, int *copy)
{
    char *p;
    size_t i, at = 0;

    *copy = 0;
    if (d == NULL)
        return NULL;
    if (d->zsrc != NULL)
        return unzip_all(d, copy);
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

void doc_etag_gz(const char *plain_etag, char out[DOC_ETAG_LEN])
{
    size_t el = plain_etag != NULL ? strlen(plain_etag) : 0;

    if (el >= 2 && el + 3 < DOC_ETAG_LEN) {
        memcpy(out, plain_etag, el - 1);
        memcpy(out + el - 1, "-gz\"", 5);
    } else {
        out[0] = '\0';
    }
}

/* plain_etag with "-gz" inside the quotes, else the tag of the bytes. */
static void gz_etag(struct doc *out, const char *plain_etag)
{
    doc_etag_gz(plain_etag, out->etag);
    if (out->etag[0] == '\0')
        doc_etag(out->json, out->len, out->etag);
}

struct doc_zctx {
    z_stream gz, raw, big;     /* gzip wrapper / raw deflate, level 6 */
    int gz_ok, raw_ok, big_ok; /* initialised */
    unsigned char *scratch;    /* compressed output before its exact copy */
    size_t scratch_cap;
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
    if (cx->big_ok)
        deflateEnd(&cx->big);
    free(cx->scratch);
    free(cx);
}

/* Kinds of stream a context keeps. */
enum zkind {
    ZK_GZIP,
    ZK_RAW, /* small pieces after their neighbours */
    ZK_BIG  /* a large piece on its own */
};

/* A ready stream: cx's (reset) or *tmp (initialised; caller ends it). */
static z_stream *zstream(struct doc_zctx *cx, enum zkind k, z_stream *tmp)
{
    /* windowBits 15 + 16: the gzip wrapper (RFC 1952); -15: raw. */
    int wbits = k == ZK_GZIP ? 15 + 16 : -15;
    z_stream *z = tmp;
    int *ok = NULL;

    if (cx != NULL) {
        z = k == ZK_GZIP ? &cx->gz : k == ZK_RAW ? &cx->raw : &cx->big;
        ok = k == ZK_GZIP  ? &cx->gz_ok
             : k == ZK_RAW ? &cx->raw_ok
                           : &cx->big_ok;
        if (*ok)
            return deflateReset(z) == Z_OK ? z : NULL;
    }
    memset(z, 0, sizeof(*z));
    /* Pieces are small and mostly matches into the neighbours before
     * them: fixed Huffman codes save a dynamic block's code table per
     * piece (measured: region gzip 36 -> 32 KB at 1,000 clinics). */
    if (deflateInit2(z, 6, Z_DEFLATED, wbits, 8,
                     k == ZK_RAW ? Z_FIXED : Z_DEFAULT_STRATEGY) != Z_OK)
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
    if ((z = zstream(cx, ZK_GZIP, &tmp)) == NULL)
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

static int zpart_make(struct doc_zctx *cx, enum zkind k, const char *data,
                      size_t len, const char *dict, size_t dictlen, int final,
                      struct doc_zpart *out)
{
    z_stream tmp, *z;
    unsigned char *buf = NULL;
    size_t cap;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((z = zstream(cx, k, &tmp)) == NULL)
        return -1;
    /* The window is 32 KiB: only the dictionary's tail can be used. */
    if (dictlen > 32768) {
        dict += dictlen - 32768;
        dictlen = 32768;
    }
    if (dict != NULL && dictlen > 0 &&
        deflateSetDictionary(z, (const Bytef *)dict, (uInt)dictlen) != Z_OK)
        goto fail;
    /* deflateBound plus the sync flush's empty stored block; the piece is
     * kept for long, so it gets an exact copy, not the bound (text
     * compresses 5-35 times: the bound would be most of its memory). */
    cap = deflateBound(z, (uLong)len) + 16;
    if (cx != NULL && cx->scratch_cap < cap) {
        free(cx->scratch);
        cx->scratch_cap = 0;
        if ((cx->scratch = malloc(cap)) == NULL)
            goto fail;
        cx->scratch_cap = cap;
    }
    if ((buf = cx != NULL ? cx->scratch : malloc(cap)) == NULL)
        goto fail;
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)len;
    z->next_out = buf;
    z->avail_out = (uInt)cap;
    rc = deflate(z, final ? Z_FINISH : Z_SYNC_FLUSH);
    if (rc != (final ? Z_STREAM_END : Z_OK) || z->avail_in != 0)
        goto fail;
    out->zlen = cap - z->avail_out;
    if ((out->z = malloc(out->zlen + 1)) == NULL)
        goto fail;
    memcpy(out->z, buf, out->zlen);
    if (cx == NULL)
        free(buf);
    zdone(cx, z);
    out->crc = (uint32_t)crc32(0L, (const Bytef *)data, (uInt)len);
    out->len = len;
    return 0;
fail:
    if (cx == NULL)
        free(buf);
    zdone(cx, z);
    doc_zpart_free(out);
    return -1;
}

int doc_zpart_make_cx(struct doc_zctx *cx, const char *data, size_t len,
                      const char *dict, size_t dictlen, int final,
                      struct doc_zpart *out)
{
    return zpart_make(cx, ZK_RAW, data, len, dict, dictlen, final, out);
}

int doc_zpart_make_big(struct doc_zctx *cx, const char *data, size_t len,
                       struct doc_zpart *out)
{
    return zpart_make(cx, ZK_BIG, data, len, NULL, 0, 0, out);
}

void doc_zpart_free(struct doc_zpart *p)
{
    if (p == NULL)
        return;
    free(p->z);
    memset(p, 0, sizeof(*p));
}

struct doc_crcsum doc_crcsum_cat(struct doc_crcsum a, struct doc_crcsum b)
{
    struct doc_crcsum r;

    r.crc = (uint32_t)crc32_combine(a.crc, b.crc, (z_off_t)b.len);
    r.len = a.len + b.len;
    return r;
}

int doc_crcmemo_init(struct doc_crcmemo *m, size_t cap)
{
    size_t nb = cap / DOC_CRC_BLOCK + 1;

    memset(m, 0, sizeof(*m));
    m->crc = malloc((cap + 1) * sizeof(*m->crc));
    m->len = malloc((cap + 1) * sizeof(*m->len));
    m->blk = malloc(nb * sizeof(*m->blk));
    if (m->crc == NULL || m->len == NULL || m->blk == NULL) {
        doc_crcmemo_free(m);
        return -1;
    }
    m->cap = cap;
    return 0;
}

void doc_crcmemo_free(struct doc_crcmemo *m)
{
    if (m == NULL)
        return;
    free(m->crc);
    free(m->len);
    free(m->blk);
    memset(m, 0, sizeof(*m));
}

/* Pieces [lo, hi) of m, summed one by one. */
static struct doc_crcsum crcmemo_run(const struct doc_crcmemo *m, size_t lo,
                                     size_t hi)
{
    struct doc_crcsum s = { 0, 0 };
    size_t i;

    /* The empty run is the identity: crc32_combine(0, c, n) is c. */
    for (i = lo; i < hi; i++) {
        struct doc_crcsum p = { m->crc[i], m->len[i] };
        s = doc_crcsum_cat(s, p);
    }
    return s;
}

void doc_crcmemo_push(struct doc_crcmemo *m, const struct doc_zpart *p,
                      const struct doc_crcmemo *prev)
{
    size_t i = m->n, b, lo;

    if (m->crc == NULL || i >= m->cap) {
        m->n++; /* remembered as too many: sum reports it */
        return;
    }
    m->crc[i] = p->crc;
    m->len[i] = p->len;
    m->n++;
    if (m->n % DOC_CRC_BLOCK != 0)
        return;
    b = i / DOC_CRC_BLOCK;
    lo = b * DOC_CRC_BLOCK;
    /* Exact comparison, no hash: a wrong crc would corrupt every gzip
     * reply of the document. */
    if (prev != NULL && prev->crc != NULL && prev->n <= prev->cap &&
        prev->n >= lo + DOC_CRC_BLOCK &&
        memcmp(prev->crc + lo, m->crc + lo, DOC_CRC_BLOCK * sizeof(*m->crc)) ==
            0 &&
        memcmp(prev->len + lo, m->len + lo, DOC_CRC_BLOCK * sizeof(*m->len)) ==
            0) {
        m->blk[b] = prev->blk[b];
        m->reused++;
        return;
    }
    m->blk[b] = crcmemo_run(m, lo, lo + DOC_CRC_BLOCK);
}

struct doc_crcsum doc_crcmemo_sum(const struct doc_crcmemo *m, int *ok)
{
    struct doc_crcsum s = { 0, 0 };
    size_t nb, b;

    *ok = m->crc != NULL && m->n <= m->cap;
    if (!*ok)
        return s;
    nb = m->n / DOC_CRC_BLOCK;
    for (b = 0; b < nb; b++)
        s = doc_crcsum_cat(s, m->blk[b]);
    return doc_crcsum_cat(s, crcmemo_run(m, nb * DOC_CRC_BLOCK, m->n));
}

/* The crc32 sum of n pieces (an empty piece adds nothing), or *sum when
 * the caller has it. */
static struct doc_crcsum pieces_sum(const struct doc_zpart *const *parts,
                                    size_t n, const struct doc_crcsum *sum)
{
    struct doc_crcsum all = { 0, 0 };
    size_t i;

    if (sum != NULL)
        return *sum;
    for (i = 0; i < n; i++) {
        struct doc_crcsum p = { parts[i]->crc, parts[i]->len };
        all = doc_crcsum_cat(all, p);
    }
    return all;
}

void doc_gzip_segs(const struct doc_zpart *const *parts, size_t n,
                   const struct doc_crcsum *sum, unsigned char tail[8],
                   struct doc_seg *segs, struct doc *gz, size_t *plain_len)
{
    /* An empty final block with fixed codes: BFINAL 1, BTYPE 01, then
     * end-of-block (seven zero bits), padded to the byte. */
    static const unsigned char last[2] = { 0x03, 0x00 };
    struct doc_crcsum all;
    size_t k = 0, i;

    segs[k].p = (const char *)gz_head;
    segs[k++].len = sizeof(gz_head);
    for (i = 0; i < n; i++) {
        if (parts[i]->len == 0) /* no text: only a sync marker */
            continue;
        segs[k].p = (const char *)parts[i]->z;
        segs[k++].len = parts[i]->zlen;
    }
    all = pieces_sum(parts, n, sum);
    segs[k].p = (const char *)last;
    segs[k++].len = sizeof(last);
    gz_tail(tail, all.crc, all.len);
    segs[k].p = (const char *)tail;
    segs[k++].len = 8;
    *plain_len = all.len;
    gz->json = NULL;
    gz->segs = segs;
    gz->nseg = k;
    for (gz->len = 0, i = 0; i < k; i++)
        gz->len += segs[i].len;
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
