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

#define DOC_ETAG_LEN 48

struct doc {
    char *json;                 /* owned bytes: JSON or NDJSON text
                                 * (NUL-terminated), or gzip (not) */
    size_t len;
    char etag[DOC_ETAG_LEN];    /* quoted strong ETag, e.g. "\"9f..-1234\"" */
};

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

#endif
