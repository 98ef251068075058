/*
 * http_stream.c - replies inflated while they are written (http_stream.h).
 *
 * evhttp_send_reply_start with a Content-Length set sends the head without
 * chunked framing; each evhttp_send_reply_chunk_with_cb queues one piece
 * and calls us back once the connection's output buffer has drained, and
 * the next piece is inflated (or copied from a document's pieces) then.
 * Pieces are copies (written into the evbuffer's own space), so nothing
 * of the document is borrowed by libevent: the holder can go as soon as
 * the last piece is queued.
 */
#include "slotfeed/http_stream.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/event.h>

#include "slotfeed/doc.h"

struct stream {
    struct http_streams *set;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct doc_unzip *u; /* a doc kept only compressed, or */
    const struct doc *d; /* one kept as pieces (u NULL) */
    size_t seg, seg_off; /* d's next piece and offset in it */
    size_t left;         /* plain bytes still to send */
    evbuffer_ref_cleanup_cb cleanup;
    void *holder;
    struct event *kill_ev; /* after a failure: closes the connection */
    struct stream *next;
};

struct http_streams {
    struct stream *head;
    size_t n;
};

struct http_streams *http_streams_new(void)
{
    return calloc(1, sizeof(struct http_streams));
}

static void unlink_stream(struct stream *st)
{
    struct stream **pp;

    for (pp = &st->set->head; *pp != NULL; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            st->set->n--;
            return;
        }
}

/* Release everything st holds; it is unlinked already. */
static void stream_free(struct stream *st)
{
    doc_unzip_free(st->u);
    if (st->kill_ev != NULL)
        event_free(st->kill_ev);
    st->cleanup(NULL, 0, st->holder);
    free(st);
}

/* From the loop, never inside the connection's own callbacks. */
static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    struct stream *st = arg;
    struct evhttp_connection *evcon = st->evcon;

    (void)fd;
    (void)what;
    unlink_stream(st); /* so the close callback does not find it */
    evhttp_connection_free(evcon);
    stream_free(st);
}

/* The body cannot be completed: close the connection (a short body). */
static void stream_fail(struct stream *st)
{
    struct event_base *base = evhttp_connection_get_base(st->evcon);

    if (st->kill_ev == NULL &&
        (st->kill_ev = event_new(base, -1, 0, on_kill, st)) != NULL)
        event_active(st->kill_ev, EV_TIMEOUT, 1);
}

static void on_sent(struct evhttp_connection *evcon, void *arg);

/* Copy up to want bytes of st->d's pieces from where the last call
 * stopped into out; *got is how many there were. */
static void segs_read(struct stream *st, char *out, size_t want, size_t *got)
{
    const struct doc *d = st->d;

    *got = 0;
    while (*got < want && st->seg < d->nseg) {
        const struct doc_seg *g = &d->segs[st->seg];
        size_t n = g->len - st->seg_off;

        if (n > want - *got)
            n = want - *got;
        memcpy(out + *got, g->p + st->seg_off, n);
        *got += n;
        st->seg_off += n;
        if (st->seg_off == g->len) {
            st->seg++;
            st->seg_off = 0;
        }
    }
}

/* Inflate and queue the next piece; end the reply after the last. */
static void pump(struct stream *st)
{
    struct evbuffer *buf = evbuffer_new();
    size_t want = st->left < HTTP_STREAM_PIECE ? st->left : HTTP_STREAM_PIECE;
    size_t got = 0;
    struct evbuffer_iovec v;
    int rc = -1;

    if (buf != NULL && evbuffer_reserve_space(buf, want, &v, 1) == 1 &&
        v.iov_len >= want) {
        if (st->u != NULL) {
            rc = doc_unzip_read(st->u, v.iov_base, want, &got);
        } else {
            segs_read(st, v.iov_base, want, &got);
            rc = 0;
        }
        v.iov_len = got;
        evbuffer_commit_space(buf, &v, 1);
    }
    if (rc < 0 || got != want) {
        evbuffer_free(buf);
        stream_fail(st);
        return;
    }
    st->left -= got;
    evhttp_send_reply_chunk_with_cb(st->req, buf, on_sent, st);
    evbuffer_free(buf);
    if (st->left == 0) {
        /* evhttp finishes the request once the output has drained. */
        evhttp_send_reply_end(st->req);
        unlink_stream(st);
        stream_free(st);
    }
}

static void on_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    pump(arg);
}

int http_stream_start(struct http_streams *set, struct evhttp_request *req,
                      const struct doc *d, evbuffer_ref_cleanup_cb cleanup,
                      void *holder)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct stream *st = NULL;
    char clen[32];

    if (set == NULL || d == NULL || (d->zsrc == NULL && d->segs == NULL) ||
        evcon == NULL || (st = calloc(1, sizeof(*st))) == NULL ||
        (d->zsrc != NULL && (st->u = doc_unzip_new(d->zsrc)) == NULL)) {
        free(st);
        cleanup(NULL, 0, holder);
        return -1;
    }
    st->d = d;
    st->set = set;
    st->req = req;
    st->evcon = evcon;
    st->left = d->len;
    st->cleanup = cleanup;
    st->holder = holder;
    st->next = set->head;
    set->head = st;
    set->n++;
    snprintf(clen, sizeof(clen), "%zu", d->len);
    evhttp_remove_header(evhttp_request_get_output_headers(req),
                         "Content-Length");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length",
                      clen);
    evhttp_send_reply_start(req, 200, "OK");
    if (d->len == 0) {
        evhttp_send_reply_end(req);
        unlink_stream(st);
        stream_free(st);
        return 0;
    }
    pump(st);
    return 0;
}

void http_streams_conn_gone(struct http_streams *set,
                            struct evhttp_connection *evcon)
{
    struct stream *st;

    if (set == NULL)
        return;
    for (st = set->head; st != NULL; st = st->next)
        if (st->evcon == evcon) {
            unlink_stream(st);
            /* A request evhttp detached from its failed connection (it
             * does so while we still send, http.c 2.1.12
             * evhttp_connection_incoming_fail) is ours to end, which
             * frees it; one still attached goes with the connection. */
            if (evhttp_request_get_connection(st->req) == NULL)
                evhttp_send_reply_end(st->req);
            stream_free(st);
            return;
        }
}

size_t http_streams_active(const struct http_streams *set)
{
    return set != NULL ? set->n : 0;
}

void http_streams_free(struct http_streams *set)
{
    if (set == NULL)
        return;
    while (set->head != NULL) {
        struct stream *st = set->head;

        unlink_stream(st);
        stream_free(st);
    }
    free(set);
}
