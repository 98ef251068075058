/*
 * doc.h - an immutable serialized document: its bytes, strong ETag and
 * gzip form.
 *
 * Everything slotfeed serves from memory (the feed's JSON, the SMART
 * NDJSON files, filtered answers, the web assets) is built once into a
 * struct doc and then only read. This module is a leaf: it knows bytes,
 * hashes and zlib, nothing of feeds, clinics or HTTP, so both the feed and
 * the SMART publication build on it without depending on each other.
 */
#ifndef SLOTFEED_DOC_H
#define SLOTFEED_DOC_H

#include <stddef.h>
#include <stdint.h>

struct sbuf;

#define DOC_ETAG_LEN 48

/* One piece of a document kept as pieces (below). */
struct doc_seg {
    const char *p; /* borrowed from whoever owns the doc */
    size_t len;
};

struct doc {
    char *json;              /* owned bytes: JSON or NDJSON text
                                 * (NUL-terminated), or gzip (not) */
    size_t len;              /* total length, also when segs is set */
    char etag[DOC_ETAG_LEN]; /* quoted strong ETag, e.g. "\"9f..-1234\"" */
    /*
     * A document too large to copy on every rebuild (the SMART files of a
     * large region) is kept as nseg pieces in order instead of json
     * (json NULL, segs non-NULL even when nseg is 0): its bytes are the
     * pieces concatenated. The HTTP layer sends them by reference; other
     * readers use doc_flatten. The owner of the doc owns segs.
     */
    const struct doc_seg *segs;
    size_t nseg;
};

/* The bytes of d, contiguous: d->json itself, or for a doc kept as pieces
 * a new malloc'd NUL-terminated copy (*copy = 1: the caller frees it).
 * NULL on allocation failure or d NULL. */
const char *doc_flatten(const struct doc *d, int *copy);

/*
 * d (zeroed first) takes the bytes built in b, with their ETag: 0 and b
 * left empty, or -1 when b ran out of memory (b untouched: the caller
 * frees it, as always). The end of every document builder.
 */
int doc_take_sbuf(struct doc *d, struct sbuf *b);

/* Strong ETag of bytes: quoted hex of a 64-bit hash plus length. */
void doc_etag(const char *data, size_t len, char out[DOC_ETAG_LEN]);

/*
 * Gzip (RFC 1952, zlib deflate with the gzip wrapper) len bytes into a new
 * doc (json = the compressed bytes, owned by the caller, free() them; not
 * NUL-terminated text) whose ETag is plain_etag with "-gz" added inside
 * the quotes (plain_etag NULL or unusable: the ETag of the gzip bytes).
 * 0, or -1 on allocation failure (*out zeroed).
 */
int doc_gzip(const char *data, size_t len, const char *plain_etag,
             struct doc *out);

/* The same tag for a 64-bit hash h of len bytes computed elsewhere (a
 * hash over part hashes: see feed.h "Incremental snapshots"). */
void doc_etag_hash(uint64_t h, size_t len, char out[DOC_ETAG_LEN]);

/*
 * One piece of a gzip member compressed on its own, so that a large
 * document assembled from cached pieces gets its gzip assembled from
 * cached compressed pieces too (doc_gzip_assemble). z holds raw deflate
 * blocks, none of them final, ending byte-aligned (sync flush), or with
 * the final block when the piece was made with final != 0; crc is the
 * crc32 and len the length of the piece's plain bytes.
 */
struct doc_zpart {
    unsigned char *z; /* owned; free() */
    size_t zlen;
    uint32_t crc;
    size_t len;
};

/*
 * Compress len bytes into *out. dict (dictlen <= 32 KiB, may be NULL)
 * must be exactly the plain bytes that precede this piece in the
 * assembled document: the compressor may then refer back into them,
 * which the decompressor can follow because it has just written them.
 * 0, or -1 on allocation failure (*out zeroed). Free with
 * doc_zpart_free.
 */
int doc_zpart_make(const char *data, size_t len, const char *dict,
                   size_t dictlen, int final, struct doc_zpart *out);

/*
 * A compressor kept across many small documents: deflateInit allocates
 * about 270 KB per call (mmap'd, page-faulted in), which dominates the
 * cost of compressing a 2 KB clinic document; a context is reset instead.
 * One context per thread at a time. NULL from new on allocation failure;
 * the _cx functions accept cx NULL (then they allocate per call).
 */
struct doc_zctx;
struct doc_zctx *doc_zctx_new(void);
void doc_zctx_free(struct doc_zctx *cx);
int doc_zpart_make_cx(struct doc_zctx *cx, const char *data, size_t len,
                      const char *dict, size_t dictlen, int final,
                      struct doc_zpart *out);
int doc_gzip_cx(struct doc_zctx *cx, const char *data, size_t len,
                const char *plain_etag, struct doc *out);
void doc_zpart_free(struct doc_zpart *p);

/*
 * One gzip member (RFC 1952) from n pieces in document order, the last
 * made with final != 0: header, the pieces' deflate data, then the crc32
 * (crc32_combine of the pieces') and length. The result is a doc as
 * doc_gzip makes (its ETag plain_etag + "-gz"), decompressing to the
 * concatenation of the pieces' plain bytes. 0, or -1 (OOM or n == 0).
 */
int doc_gzip_assemble(const struct doc_zpart *const *parts, size_t n,
                      const char *plain_etag, struct doc *out);

#endif
