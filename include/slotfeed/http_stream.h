/*
 * http_stream.h - replies inflated while they are written.
 *
 * A document kept only compressed (doc.h zsrc: a large region's
 * Slot.ndjson is hundreds of MB of text) is sent to a client that does not
 * take gzip by inflating a bounded piece at a time: the next piece is made
 * when the previous one has left the socket buffer (evhttp's chunk
 * callback), so a reply holds HTTP_STREAM_PIECE bytes of text at most,
 * however large the document, and the loop is held for one piece per
 * turn. The reply has a Content-Length (never chunked), so its framing is
 * that of any other reply.
 *
 * Owns: the set of replies in progress of one server (struct
 * http_streams), each holding its document through the caller's
 * reference (released with cleanup(NULL, 0, holder) once the reply is
 * over, or its connection gone). Event-loop thread only.
 */
#ifndef SLOTFEED_HTTP_STREAM_H
#define SLOTFEED_HTTP_STREAM_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/http.h>

struct doc;

/* Text made per loop turn and reply (also the largest piece in flight). */
#define HTTP_STREAM_PIECE (256 * 1024)

/* A document kept as more pieces than this (a piece per clinic: all.json,
 * the SMART files) is streamed, copied a piece at a time; one of fewer (a
 * gzip member's framing around a few pieces) is sent by reference. */
#define HTTP_SEGS_REF_MAX 8

struct http_streams;

/* A new empty set; NULL on allocation failure. */
struct http_streams *http_streams_new(void);

/*
 * Answer req with 200 and d's plain bytes, inflated from d->zsrc, or
 * copied from d->segs (a document of many pieces: by reference, libevent
 * would malloc a 1 KB chain per piece, 10 MB for all.json at 10,000
 * clinics, per reply), as the client reads (d->zsrc or d->segs must be
 * set; headers such as Content-Type and
 * ETag are the caller's, set before). cleanup(NULL, 0, holder) runs once
 * whatever happens: the reply is complete, its connection closed, the
 * set freed, or this call failed (returns -1, nothing sent: the caller
 * answers otherwise). A document that fails to inflate halfway (it
 * cannot: we compressed it) closes the connection, so the client sees a
 * short body, never wrong bytes.
 */
int http_stream_start(struct http_streams *set, struct evhttp_request *req,
                      const struct doc *d, evbuffer_ref_cleanup_cb cleanup,
                      void *holder);

/* evcon is closing (its close callback): end its reply, if any. */
void http_streams_conn_gone(struct http_streams *set,
                            struct evhttp_connection *evcon);

/* Replies still being written (for tests and metrics). */
size_t http_streams_active(const struct http_streams *set);

/* Ends every reply (releasing their documents) and frees the set. */
void http_streams_free(struct http_streams *set);

#endif
