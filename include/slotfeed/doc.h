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
    /*
     * A document kept only compressed (a large region's Slot.ndjson, each
     * clinic's detail document: the text would be most of the daemon's
     * memory): json and segs NULL, len and etag those of the plain bytes,
     * which are the gunzip of *zsrc, a gzip doc (bytes or pieces) owned
     * with this one. Readers inflate: the HTTP layer streams it
     * (doc_unzip), doc_flatten copies it out.
     */
    const struct doc *zsrc;
};

/* The bytes of d, contiguous: d->json itself, or for a doc kept as pieces
 * or only compressed a new malloc'd NUL-terminated copy (*copy = 1: the
 * caller frees it, with doc_flatten_free). NULL on allocation failure,
 * corrupt compressed bytes or d NULL. */
const char *doc_flatten(const struct doc *d, int *copy);
/* Release what doc_flatten returned: frees it when it was a copy. */
void doc_flatten_free(const char *text, int copy);

/*
 * Reading a gzip doc's plain bytes a bounded piece at a time (to stream
 * a doc kept only compressed without holding its text). new: NULL on
 * allocation failure; gz is borrowed and must outlive the reader.
 * read: up to cap bytes into out, *got set; 1 while more follows, 0 at
 * the end (with the last bytes or none), -1 on corrupt or truncated
 * input (then the reader is spent).
 */
struct doc_unzip;
struct doc_unzip *doc_unzip_new(const struct doc *gz);
int doc_unzip_read(struct doc_unzip *u, char *out, size_t cap, size_t *got);
void doc_unzip_free(struct doc_unzip *u);

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
/* The ETag of a document's gzip form: plain_etag (a quoted tag) with
 * "-gz" inside the quotes, as doc_gzip makes it. */
void doc_etag_gz(const char *plain_etag, char out[DOC_ETAG_LEN]);

/*
 * One piece of a gzip member compressed on its own, so that a large
 * document assembled from cached pieces gets its gzip assembled from
 * cached compressed pieces too (doc_gzip_segs). z holds raw deflate
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

/* The crc32 and length of a run of plain bytes (of pieces, in order). */
struct doc_crcsum {
    uint32_t crc;
    size_t len;
};

/* The sum of run a followed by run b (crc32_combine). */
struct doc_crcsum doc_crcsum_cat(struct doc_crcsum a, struct doc_crcsum b);

/*
 * The crc32 of a long list of pieces (one per clinic), kept by blocks of
 * DOC_CRC_BLOCK pieces. crc32_combine costs about a microsecond, so
 * summing 10,000 pieces per rebuild would be most of a one-clinic
 * rebuild; a block whose pieces have exactly the crc and length they had
 * in the previous build's memo (same positions) takes that block's sum.
 * Fill in order with doc_crcmemo_push (a block is summed when complete),
 * read with doc_crcmemo_sum. The memo owns its arrays (12 bytes per
 * piece): doc_crcmemo_free. init: 0, or -1 on OOM (m then stays empty
 * and push does nothing; sum reports ok == 0).
 */
#define DOC_CRC_BLOCK 64
struct doc_crcmemo {
    size_t n, cap;
    uint32_t *crc;          /* per piece */
    size_t *len;            /* per piece */
    struct doc_crcsum *blk; /* per complete block */
    size_t reused;          /* blocks taken from prev (for benches) */
};
int doc_crcmemo_init(struct doc_crcmemo *m, size_t cap);
/* Append piece p; prev (NULL ok) is the previous build's memo. */
void doc_crcmemo_push(struct doc_crcmemo *m, const struct doc_zpart *p,
                      const struct doc_crcmemo *prev);
/* The sum of every piece pushed; *ok = 0 when the memo could not hold
 * them (init failed or more pushes than cap). */
struct doc_crcsum doc_crcmemo_sum(const struct doc_crcmemo *m, int *ok);
void doc_crcmemo_free(struct doc_crcmemo *m);

/*
 * One gzip member by reference from n raw-deflate pieces made with
 * final == 0 (a document too large to copy on every build, such as the
 * Slot file or all.json's gzip): segs
 * (n + 3 entries, caller storage) gets the header, each piece's deflate
 * bytes (borrowed: the pieces must outlive segs), an empty final block
 * and the trailer, which is written into tail (8 bytes, caller storage
 * living as long as segs); its crc32 is *sum's when given (the caller's
 * sum of exactly these pieces, e.g. from a doc_crcmemo), else the
 * crc32_combine of the pieces'. *gz becomes the member by reference (json NULL,
 * segs, nseg entries used, len their total; its etag is the caller's to
 * set, e.g. doc_etag_gz); *plain_len gets the length of the plain bytes.
 * Empty pieces are skipped.
 */
void doc_gzip_segs(const struct doc_zpart *const *parts, size_t n,
                   const struct doc_crcsum *sum, unsigned char tail[8],
                   struct doc_seg *segs, struct doc *gz, size_t *plain_len);

/* doc_zpart_make_cx for a large piece compressed on its own (a clinic's
 * Slot lines, ~100 KB): no dictionary, sync-flushed, not final, and with
 * its own Huffman tables (the small pieces use fixed codes, which lose
 * about a third on text of this size). cx may be NULL. */
int doc_zpart_make_big(struct doc_zctx *cx, const char *data, size_t len,
                       struct doc_zpart *out);

#endif
