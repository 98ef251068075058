/*
 * adapter.h - the one interface every booking-system adapter implements.
 *
 * Adapters do no I/O. A poll of one clinic is a short conversation:
 * begin() produces the first HTTP request; the collector performs it and
 * hands the response to step(), which either appends slots and is DONE,
 * asks for another request (MORE: multi-step protocols such as RIV's
 * GetAvailableDates -> GetAvailableTimeslots, or paging), or fails with an
 * error class. end() frees the adapter's per-poll state. Because of this,
 * every adapter is testable with canned bodies and no network.
 *
 * Transport failures (no HTTP answer) never reach step(): the collector
 * classifies them itself. Every HTTP answer does, whatever its status,
 * because protocols such as SOAP carry their faults in HTTP 500 bodies.
 *
 * Each adapter also owns its part of a clinic's booking block: the keys
 * only it reads (conf_keys), the rules across them (conf_check), what
 * must be read from disk with the config (conf_load) and whether two
 * blocks poll alike (conf_same). conf.c keeps the walk that every block
 * shares (adapter, url, booking_url, time_type_id, time_type_name,
 * unknown and foreign keys, the JSON paths of errors).
 */
#ifndef SLOTFEED_ADAPTER_H
#define SLOTFEED_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slotfeed/availability.h"
#include "slotfeed/conf_types.h"
#include "slotfeed/confcheck.h"
#include "slotfeed/error.h"

struct cJSON;

/* Most extra headers one request carries (see headers[] below). */
#define ADAPTER_MAX_HEADERS 8

/* One HTTP request to make. All strings owned by the struct. */
struct adapter_request {
    char *url;
    char *body; /* NULL for GET; else POSTed */
    size_t body_len;
    char *content_type; /* Content-Type of body, or NULL */
    char *soap_action;  /* SOAPAction header value (unquoted), or NULL */
    char *label; /* short name for logs/errors, e.g. "GetAvailableDates" */
    /*
     * Extra request headers, each a complete "Name: value" line without
     * CRLF (e.g. "Accept: application/fhir+json", "If-None-Match: \"x\"").
     * Filled from index 0; the first NULL ends the list. Owned like the
     * rest. Adapters must never put CR/LF in them; fetch sends them
     * verbatim and never logs them (Authorization carries credentials).
     */
    char *headers[ADAPTER_MAX_HEADERS];
    /*
     * Mutual TLS for this request: PEM file paths of the client
     * certificate (may also hold the key), its private key, and the CA
     * bundle that verifies the server (NULL: fetch's default). Each NULL
     * when not used; owned like the rest. Verification is always on.
     */
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
    /*
     * The answer depends on nothing but the URL (no credentials, no body,
     * no clinic-specific header), so clinics asking the same URL may share
     * it (shared documents, below). Only for GETs; the collector then
     * ignores the request's own If-None-Match / If-Modified-Since and
     * revalidates with its cache's validators instead.
     */
    bool shared;
};

/*
 * Shared documents (opt-in per request, adapter_request.shared). When
 * several clinics read one document (the 40 Locations of one SMART
 * publisher read one manifest and its three files), the collector keeps
 * one copy per URL for all of them: a request for a URL already in flight
 * waits for that answer instead of going out again, a body fetched within
 * the freshness window (collector.h) answers without a request, and an
 * expired one is revalidated with a conditional request, a 304 handing
 * out the stored body again. A shared answer reaches step() as a 200 with
 * the stored body (never a 304, whatever the adapter's own validators)
 * and with resp->parsed set.
 *
 * resp->parsed is the document's slot for the adapter's PARSED form of
 * this very body: the first step() that sees it empty may fill p, free_fn
 * and kind (a tag of the adapter's own, so another adapter reading the
 * same URL does not misread it); later steps, for any clinic, find it
 * there and skip the parse. Once set the form is immutable: it must not
 * depend on the clinic (index it by whatever the clinics differ in), and
 * nobody writes to it again. It is refcounted with its body and freed
 * (free_fn) when the body is replaced or dropped and no step holds it;
 * step() borrows it for its call only. resp->parsed is NULL for answers
 * that are not shared (the adapter parses for itself, as always).
 */
struct adapter_parsed {
    const void *kind;         /* who built p; NULL while empty */
    void *p;                  /* the parsed form; owned by the document */
    void (*free_fn)(void *p); /* frees p; NULL: p needs no freeing */
};

/* Free the strings and zero the struct. NULL ok. */
void adapter_request_clear(struct adapter_request *r);

/*
 * Append a copy of "name: value" to r->headers. Returns 0, or -1 when the
 * list is full, allocation fails, name is empty or holds ':', or either
 * holds CR or LF (a header must stay one line). r is unchanged on failure.
 */
int adapter_request_add_header(struct adapter_request *r, const char *name,
                               const char *value);

/* An HTTP answer, borrowed for the duration of step(). */
struct adapter_response {
    long http_status;
    const char *body;
    size_t len;
    const char *content_type; /* may be NULL */
    /* Validators of this answer (ETag / Last-Modified), or NULL. */
    const char *etag;
    const char *last_modified;
    /* Shared answers only: the document's parsed-form slot (above). */
    struct adapter_parsed *parsed;
};

/*
 * A clinic's state as its publisher relays it, beyond its slots: a
 * slotfeed region read by smart-bulk through the clinic-state extension
 * (docs/adapters.md, "Relayed clinic state"). The collector zeroes it
 * before each poll; after a poll that ended DONE and was applied, a set
 * relay replaces the clinic's web-booking state, status, times and error
 * (and status "error" drops the slots: the publisher has no data). The
 * names are the feed's enums (docs/feed.md); the collector ignores a
 * relay whose web or status it does not know.
 */
#define ADAPTER_RELAY_ERROR_MAX 256
struct adapter_relay {
    bool set;
    char web[16];               /* "open", "none", "unreachable", "unknown" */
    char status[8];             /* "ok", "stale", "error" */
    int64_t valid_at;           /* UTC seconds; 0: not given, keep our own */
    int64_t checked_at;         /* UTC seconds; 0: not given, keep our own */
    enum sf_errclass err_class; /* SF_ERR_NONE: no error */
    char error[ADAPTER_RELAY_ERROR_MAX]; /* "" when err_class is NONE */
};

/* What one poll asks for: the local dates [first_day, last_day]. */
struct adapter_ctx {
    const struct conf_region *region;
    const struct conf_clinic *clinic;
    int64_t now;
    int32_t first_day;
    int32_t last_day;
    /*
     * Memory that outlives one poll, one per clinic, or NULL (no memory:
     * every poll starts from scratch, which must always work). The
     * collector owns the slot `*cache` points at: it starts NULL, the
     * adapter may allocate or replace *cache in begin()/step(), and the
     * collector frees it with the adapter's cache_free() when the clinic
     * goes away. An adapter must accept any *cache it stored earlier, also
     * after a poll that ended in ERROR.
     */
    void **cache;
    /* Where the adapter puts a relayed state (see above), or NULL: the
     * caller does not want one (tests, the federate command). */
    struct adapter_relay *relay;
    /*
     * Unchanged answers. last_applied: the clinic's previous poll ended
     * DONE and its slots are the clinic's current ones, untouched since
     * (not held as implausible, not replaced by a relay). An adapter that
     * then finds every answer of this poll the same as that poll's (its
     * *cache remembers them) may end DONE with no slots and set *same:
     * the collector keeps the current slots as this poll's. same is NULL
     * when the caller cannot keep them (tests, the federate command); an
     * adapter then parses every answer, as it must whenever last_applied
     * is false.
     */
    bool last_applied;
    bool *same;
};

enum adapter_status {
    ADAPTER_ERROR = -1, /* err set; state still needs end() */
    ADAPTER_DONE = 0,   /* slots complete */
    ADAPTER_MORE = 1    /* *next filled: perform it, call step() again */
};

/*
 * One booking key that only one adapter reads. A name belongs to one
 * adapter of the table (test_adapter_conf checks), and the whole table
 * holds at most 27 of them (conf.c's walk tracks 32 keys with the five
 * common ones).
 */
struct adapter_conf_key {
    const char *name;
    /*
     * Check v (JSON null included: it usually means "absent") found at
     * JSON path `path` and store it into *b, reporting each problem with
     * confcheck_err(cx, path, ...). Called whichever adapter the block
     * names: conf.c refuses a foreign key afterwards. No I/O beyond a
     * readability check (conf_parse stays a check of the text).
     */
    void (*parse)(struct confcheck *cx, const struct cJSON *v, const char *path,
                  struct conf_booking *b);
    /* A block that names this adapter must give the key: conf.c reports
     * "missing required key" with the adapter's name otherwise. */
    bool required;
};

struct adapter {
    const char *name;
    /* The booking keys only this adapter reads; ended by a NULL name. */
    const struct adapter_conf_key *conf_keys;
    /*
     * Rules across keys, for a block that names this adapter, once every
     * key was read and the required ones checked: keys that exclude each
     * other. seen has
     * bit i set when conf_keys[i] was given; path is the block's JSON
     * path. NULL: no such rules.
     */
    void (*conf_check)(struct confcheck *cx, const char *path, unsigned seen,
                       const struct conf_booking *b);
    /*
     * conf_load only, after a clean parse: read what polls need from the
     * files the block names (a bearer token), so that polls do no file
     * I/O and a changed file takes effect at the next reload. Report with
     * the key's JSON path below `path`; never quote a secret. NULL:
     * nothing to read.
     */
    void (*conf_load)(struct confcheck *cx, const char *path,
                      struct conf_booking *b);
    /*
     * Do a and b, both naming this adapter, ask the same? Looks at every
     * field conf_keys and conf_load fill (test_adapter_conf checks each
     * key), so that a reload that changes one drops the clinic's cache.
     */
    bool (*conf_same)(const struct conf_booking *a,
                      const struct conf_booking *b);
    /* Start a poll: allocate *state (may stay NULL) and fill *first. */
    enum adapter_status (*begin)(const struct adapter_ctx *ctx, void **state,
                                 struct adapter_request *first,
                                 struct sf_error *err);
    /*
     * Consume one response; append found slots to *slots. On MORE, fill
     * *next (zeroed by the caller). `slots` accumulates across steps.
     */
    enum adapter_status (*step)(const struct adapter_ctx *ctx, void *state,
                                const struct adapter_response *resp,
                                struct avail_slots *slots,
                                struct adapter_request *next,
                                struct sf_error *err);
    /* Free per-poll state. NULL ok. */
    void (*end)(void *state);
    /* Free what the adapter stored in *ctx->cache. NULL ok. May be NULL
     * for adapters that keep no memory between polls. */
    void (*cache_free)(void *cache);
};

/* --- helpers shared by the adapters (adapter.c) --- */

/* A malloc'd printf (caller frees), or NULL on allocation failure. */
char *adapter_strdupf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A malloc'd copy of s (caller frees); NULL when s is NULL or on
 * allocation failure (tell them apart by s). */
char *adapter_strdup_opt(const char *s);

/* Length of base URL url without its trailing slashes, so that
 * "%.*s/path" never doubles a slash. */
size_t adapter_url_base_len(const char *url);

/*
 * The checks every begin() starts with: ctx and its clinic present, the
 * clinic has a booking block with a non-empty url, and the date window is
 * not empty. Returns 0, or -1 with err set (messages prefixed by name).
 */
int adapter_begin_check(const struct adapter_ctx *ctx, const char *name,
                        struct sf_error *err);

/* Equal strings, NULL equal only to NULL. */
bool adapter_str_same(const char *a, const char *b);

/*
 * Would bookings a and b make the same requests? The common keys compared
 * here, then the named adapter's conf_same. False when either names no
 * known adapter (a block that never parsed).
 */
bool adapter_booking_same(const struct conf_booking *a,
                          const struct conf_booking *b);

/*
 * The adapters of the table (adapter_find), each defined by its own file:
 * rivta.c, fhir.c and smart.c (their headers document the protocol).
 * Declared here so the table needs nothing of its backends but this.
 */
extern const struct adapter adapter_rivta; /* "rivta-scheduling" */
extern const struct adapter adapter_fhir;  /* "fhir-slot" */
extern const struct adapter adapter_smart; /* "smart-bulk" */

/* Adapter by config name, or NULL. */
const struct adapter *adapter_find(const char *name);
/* Names of all adapters, NULL-terminated (for config validation/help). */
const char *const *adapter_names(void);

#endif
