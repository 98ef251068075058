/*
 * share.c - shared documents keyed by URL (share.h): a chained hash of
 * entries, each with its last good body and the polls waiting for the
 * request in flight.
 */
#include "slotfeed/share.h"

#include <stdlib.h>
#include <string.h>

#include "slotfeed/hash.h"

#define SHARE_BUCKETS 1024u /* power of two */

struct share_entry {
    char *url;
    char *root;
    struct share_doc *doc; /* last good body, or NULL */
    int64_t fetched_at;    /* clock_now() of doc's last 200/304 */
    int64_t used_at;       /* last ask */
    bool in_flight;
    void **waiters;
    size_t nwait, capwait;
    struct share_entry *next; /* bucket chain */
};

struct share {
    struct share_entry *b[SHARE_BUCKETS];
    size_t n, max_entries;
    size_t bytes, max_bytes;
};

struct share *share_new(size_t max_entries, size_t max_bytes)
{
    struct share *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->max_entries = max_entries;
    s->max_bytes = max_bytes;
    return s;
}

struct share_doc *share_doc_ref(struct share_doc *d)
{
    if (d != NULL)
        d->refs++;
    return d;
}

void share_doc_unref(struct share_doc *d)
{
    if (d == NULL || --d->refs > 0)
        return;
    if (d->parsed.p != NULL && d->parsed.free_fn != NULL)
        d->parsed.free_fn(d->parsed.p);
    free(d->body);
    free(d->content_type);
    free(d->etag);
    free(d->last_modified);
    free(d);
}

void share_doc_parsed(struct share_doc *d)
{
    if (d != NULL && d->parsed.p != NULL) {
        free(d->body);
        d->body = NULL;
    }
}

void share_doc_response(struct share_doc *d, struct adapter_response *r)
{
    memset(r, 0, sizeof(*r));
    r->http_status = 200;
    r->body = d->body != NULL ? d->body : "";
    r->len = d->body != NULL ? d->len : 0;
    r->content_type = d->content_type;
    r->etag = d->etag;
    r->last_modified = d->last_modified;
    r->parsed = &d->parsed;
}

static char *dup_opt(const char *s, bool *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

/* A doc holding a copy of res's body and headers; NULL when out of
 * memory. */
static struct share_doc *doc_new(const struct fetch_result *res)
{
    struct share_doc *d = calloc(1, sizeof(*d));
    bool oom = false;

    if (d == NULL)
        return NULL;
    d->refs = 1;
    d->len = res->len;
    d->body = malloc(res->len + 1);
    if (d->body != NULL) {
        if (res->len > 0)
            memcpy(d->body, res->body, res->len);
        d->body[res->len] = '\0';
    }
    d->content_type = dup_opt(res->content_type, &oom);
    d->etag = dup_opt(res->etag, &oom);
    d->last_modified = dup_opt(res->last_modified, &oom);
    if (d->body == NULL || oom) {
        share_doc_unref(d);
        return NULL;
    }
    return d;
}

static struct share_entry **slot_of(struct share *s, const char *url)
{
    struct share_entry **pp;

    pp = &s->b[hash_fnv1a_str(url) & (SHARE_BUCKETS - 1)];
    while (*pp != NULL && strcmp((*pp)->url, url) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void entry_set_doc(struct share *s, struct share_entry *e,
                          struct share_doc *d)
{
    if (e->doc != NULL)
        s->bytes -= e->doc->len;
    share_doc_unref(e->doc);
    e->doc = d;
    if (d != NULL)
        s->bytes += d->len;
}

static void entry_free(struct share *s, struct share_entry *e)
{
    entry_set_doc(s, e, NULL);
    free(e->url);
    free(e->root);
    free(e->waiters);
    free(e);
}

void share_free(struct share *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < SHARE_BUCKETS; i++)
        while (s->b[i] != NULL) {
            struct share_entry *e = s->b[i];

            s->b[i] = e->next;
            entry_free(s, e);
        }
    free(s);
}

static struct share_entry *entry_new(struct share *s, const char *url,
                                     const char *root)
{
    struct share_entry *e;

    if (s->n >= s->max_entries)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->url = strdup(url);
    e->root = strdup(root != NULL ? root : "");
    if (e->url == NULL || e->root == NULL) {
        entry_free(s, e);
        return NULL;
    }
    s->n++;
    return e;
}

static int add_waiter(struct share_entry *e, void *who)
{
    if (e->nwait == e->capwait) {
        size_t nc = e->capwait ? e->capwait * 2 : 8;
        void **nv = realloc(e->waiters, nc * sizeof(*nv));

        if (nv == NULL)
            return -1;
        e->waiters = nv;
        e->capwait = nc;
    }
    e->waiters[e->nwait++] = who;
    return 0;
}

enum share_verdict share_ask(struct share *s, const char *url, const char *root,
                             int64_t now, int64_t fresh_s, void *who,
                             struct share_entry **e, struct share_doc **doc)
{
    struct share_entry **pp, *x;

    *e = NULL;
    *doc = NULL;
    if (s == NULL || url == NULL)
        return SHARE_BYPASS;
    pp = slot_of(s, url);
    x = *pp;
    if (x == NULL) {
        x = entry_new(s, url, root);
        if (x == NULL)
            return SHARE_BYPASS;
        *pp = x;
    }
    x->used_at = now;
    if (x->in_flight)
        return add_waiter(x, who) == 0 ? SHARE_WAIT : SHARE_BYPASS;
    if (x->doc != NULL && now >= x->fetched_at &&
        now - x->fetched_at < fresh_s) {
        *doc = share_doc_ref(x->doc);
        return SHARE_HIT;
    }
    x->in_flight = true;
    *e = x;
    *doc = x->doc;
    return SHARE_LEAD;
}

static void **take_waiters(struct share_entry *e, size_t *n)
{
    void **w = e->waiters;

    *n = e->nwait;
    e->waiters = NULL;
    e->nwait = e->capwait = 0;
    e->in_flight = false;
    return w;
}

void **share_settle(struct share *s, struct share_entry *e,
                    const struct fetch_result *res, int64_t now,
                    struct share_doc **doc, size_t *n)
{
    struct share_doc *d = NULL;

    *doc = NULL;
    if (res->err.code == SF_ERR_NONE && res->http_status == 304 &&
        e->doc != NULL) {
        /* Still the stored version: fresh again, same body and form. */
        e->fetched_at = now;
        *doc = share_doc_ref(e->doc);
    } else if (res->err.code == SF_ERR_NONE && res->http_status == 200) {
        d = doc_new(res);
        if (d != NULL &&
            s->bytes - (e->doc ? e->doc->len : 0) + d->len <= s->max_bytes) {
            entry_set_doc(s, e, share_doc_ref(d));
            e->fetched_at = now;
        } else {
            entry_set_doc(s, e, NULL); /* an older body is no use */
        }
        *doc = d; /* NULL when out of memory: deliver res as is */
    }
    return take_waiters(e, n);
}

void **share_abandon(struct share *s, struct share_entry *e, size_t *n)
{
    (void)s;
    return take_waiters(e, n);
}

size_t share_sweep(struct share *s, bool (*keep)(void *arg, const char *root),
                   void *arg, int64_t now, int64_t idle_s)
{
    size_t gone = 0;

    if (s == NULL)
        return 0;
    for (size_t i = 0; i < SHARE_BUCKETS; i++) {
        struct share_entry **pp = &s->b[i];

        while (*pp != NULL) {
            struct share_entry *e = *pp;
            bool drop =
                !e->in_flight && ((keep != NULL && !keep(arg, e->root)) ||
                                  (idle_s > 0 && e->used_at < now - idle_s));

            if (!drop) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            entry_free(s, e);
            s->n--;
            gone++;
        }
    }
    return gone;
}

size_t share_entries(const struct share *s, size_t *bytes)
{
    if (bytes != NULL)
        *bytes = s != NULL ? s->bytes : 0;
    return s != NULL ? s->n : 0;
}
