/*
 * store.c - the SQLite history store (see store.h for the schema and the
 * rules it keeps).
 *
 * Shape: store_record_poll() turns a clinic_state into a small owned
 * `struct rec` (figures, a shared view of the listed slots and their
 * keys) on a pending list;
 * store_flush() applies the whole list in one transaction. Per clinic we
 * cache in memory the clinic row id, its last poll run and its open slot
 * intervals, so a typical poll costs one UPDATE of the run, one UPDATE of
 * the clinic and nothing for unchanged slots. The caches are loaded from
 * the file on first use, so a restarted process (or `poll --once`)
 * continues the runs and intervals the previous one left. When a flush
 * fails the caches may be ahead of the file: they are dropped and
 * reloaded on next use.
 */
#include "slotfeed/store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>

#include "slotfeed/clock.h"
#include "slotfeed/hash.h"
#include "slotfeed/log.h"
#include "slotfeed/metrics.h"

/* --- the schema, one entry per version ------------------------------------- */

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE clinic ("
    " id INTEGER PRIMARY KEY,"
    " hsa_id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " municipality TEXT NOT NULL,"
    " operator TEXT NOT NULL,"
    " has_booking INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " last_ok INTEGER);"
    "CREATE TABLE poll ("
    " id INTEGER PRIMARY KEY,"
    " clinic_id INTEGER NOT NULL REFERENCES clinic(id),"
    " t_first INTEGER NOT NULL,"
    " t_last INTEGER NOT NULL,"
    " n INTEGER NOT NULL,"
    " interval_s INTEGER NOT NULL,"
    " local_day INTEGER NOT NULL,"
    " deadline_day INTEGER NOT NULL,"
    " status INTEGER NOT NULL,"
    " web INTEGER NOT NULL,"
    " err_class TEXT,"
    " first_free INTEGER,"
    " within_guarantee INTEGER,"
    " free_slots INTEGER,"
    " free_within INTEGER);"
    "CREATE INDEX poll_clinic_t ON poll(clinic_id, t_first);"
    "CREATE TABLE slot ("
    " id INTEGER PRIMARY KEY,"
    " clinic_id INTEGER NOT NULL REFERENCES clinic(id),"
    " start INTEGER NOT NULL,"
    " end INTEGER NOT NULL,"
    " practitioner TEXT,"
    " service TEXT,"
    " first_seen INTEGER NOT NULL,"
    " last_seen INTEGER,"
    " gone_at INTEGER,"
    " gone_reason TEXT,"
    " within_at_gone INTEGER);"
    "CREATE INDEX slot_clinic_start ON slot(clinic_id, start);"
    "CREATE INDEX slot_open ON slot(clinic_id) WHERE gone_at IS NULL;",
};
#define NMIGRATIONS (sizeof migrations / sizeof migrations[0])

/* --- statements, prepared once ---------------------------------------------- */

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_CLINIC_UPSERT,
    Q_CLINIC_TOUCH,
    Q_RUN_LAST,
    Q_RUN_INSERT,
    Q_RUN_EXTEND,
    Q_SLOT_OPEN,
    Q_SLOT_INSERT,
    Q_SLOT_CLOSE,
    Q_PURGE_POLL,
    Q_PURGE_SLOT,
    Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    /* last_seen/first_seen only ever widen, so an older record replayed
     * after a newer one cannot shrink the clinic's known life. */
    [Q_CLINIC_UPSERT] =
        "INSERT INTO clinic(hsa_id, name, municipality, operator,"
        " has_booking, first_seen, last_seen) VALUES(?1,?2,?3,?4,?5,?6,?6)"
        " ON CONFLICT(hsa_id) DO UPDATE SET name = excluded.name,"
        " municipality = excluded.municipality,"
        " operator = excluded.operator, has_booking = excluded.has_booking,"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen)"
        " RETURNING id, last_ok",
    [Q_CLINIC_TOUCH] =
        "UPDATE clinic SET last_seen = max(last_seen, ?2),"
        " first_seen = min(first_seen, ?2),"
        " last_ok = CASE WHEN ?3 THEN max(coalesce(last_ok, ?2), ?2)"
        " ELSE last_ok END WHERE id = ?1",
    [Q_RUN_LAST] =
        "SELECT id, t_first, t_last, n, interval_s, local_day, deadline_day,"
        " status, web, err_class, first_free, within_guarantee, free_slots,"
        " free_within FROM poll WHERE clinic_id = ?1"
        " ORDER BY t_first DESC, id DESC LIMIT 1",
    [Q_RUN_INSERT] =
        "INSERT INTO poll(clinic_id, t_first, t_last, n, interval_s,"
        " local_day, deadline_day, status, web, err_class, first_free,"
        " within_guarantee, free_slots, free_within)"
        " VALUES(?1,?2,?2,1,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [Q_RUN_EXTEND] = "UPDATE poll SET t_last = ?2, n = n + 1 WHERE id = ?1",
    [Q_SLOT_OPEN] =
        "SELECT id, start, end, practitioner, service, first_seen FROM slot"
        " WHERE clinic_id = ?1 AND gone_at IS NULL",
    [Q_SLOT_INSERT] =
        "INSERT INTO slot(clinic_id, start, end, practitioner, service,"
        " first_seen) VALUES(?1,?2,?3,?4,?5,?6)",
    [Q_SLOT_CLOSE] =
        "UPDATE slot SET last_seen = ?2, gone_at = ?3, gone_reason = ?4,"
        " within_at_gone = ?5 WHERE id = ?1",
    /* Old rows sit at the low rowids (insertion order), so these scans
     * find a batch quickly and stop. */
    [Q_PURGE_POLL] = "DELETE FROM poll WHERE id IN (SELECT id FROM poll"
                     " WHERE t_last < ?1 LIMIT ?2)",
    [Q_PURGE_SLOT] = "DELETE FROM slot WHERE id IN (SELECT id FROM slot"
                     " WHERE coalesce(gone_at, start) < ?1 LIMIT ?2)",
};

/* --- in-memory model ---------------------------------------------------------- */

/*
 * A slot's identity (store.h: clinic, start, end, practitioner, service)
 * is held as (start, h): h hashes (end, practitioner, service) with the
 * store's random seed (slot_hash). No strings are kept: at 10,000 clinics
 * the open intervals are ~1.7 M slots, and their text was most of the
 * store's heap. A collision (two listed keys with the same start and h)
 * would merge two intervals into one; with a 64-bit hash keyed by a seed
 * an upstream cannot see, that is not a practical event.
 */
struct open_slot {
    int64_t start;
    uint64_t h;
    int64_t id;
    int64_t first_seen;
};

/* A listed slot of a pending record: its key and where its text is. */
struct rkey {
    int64_t start;
    uint64_t h;
    size_t idx; /* into the record's view */
};

/* One poll run's identity and extent (poll row). */
struct run {
    int64_t id;
    int64_t t_first, t_last;
    int interval_s;
    int32_t local_day, deadline_day;
    int status, web;
    const char *err_class; /* static string from sf_errclass_name, or NULL */
    bool has_ff;
    int64_t first_free;
    int within;                  /* -1 unknown */
    int free_slots, free_within; /* -1 unknown */
};

struct ccache {
    char *hsa_id, *name, *municipality, *operator_kind;
    uint64_t idh; /* id_hash(hsa_id), for the index */
    bool has_booking;
    int64_t db_id; /* 0: not loaded from / written to the file */
    bool has_run;
    struct run last;
    int64_t last_ok;        /* 0 never */
    struct open_slot *open; /* sorted by (start, h); no spare capacity
                             * once a load or merge is done */
    size_t nopen, capopen;
};

struct rec {
    struct ccache *c;
    struct run r; /* id, t_last unused */
    bool ok;
    struct avail_rule rule;
    /* Only when ok: a view of the poll's slot list (shared with the
     * collector when it froze the list, availability.h; a copy
     * otherwise), owned by the record until rec_clear, and the listed
     * future slots' keys, sorted, one per distinct key. */
    struct avail_slots view;
    struct rkey *keys;
    size_t nkeys;
};

struct store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *q[Q_COUNT];
    int interval_s;
    int retention_days;
    uint64_t seed; /* random per store: keys of slot_hash and id_hash */
    struct ccache **clinics;
    size_t nclinics, capclinics;
    /* Index of clinics by hsa_id: open addressing, linear probing, a
     * power-of-two size at most half full; entries point into clinics
     * (never removed). */
    struct ccache **idx;
    size_t capidx;
    struct rec *pending;
    size_t npending, cappending;
    struct event *flush_ev;
    long flush_ms;
    long slice_us;    /* loop time of one flush slice (on_flush) */
    size_t slice_max; /* records per slice, 0 = no cap (tests) */
    bool flush_cont;  /* the timer continues a sliced flush */
    size_t sync_next; /* the daily sync's next clinic (sliced) */
    struct ckpt *ck;  /* WAL checkpoints off the loop (store_attach) */
    const struct conf_region *region; /* borrowed, for the daily resync */
    int32_t synced_day, purged_day;
    struct store_stats stats;
};

/* --- small helpers ------------------------------------------------------------ */

static int strcmp_null(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* One text field into the running hash: a tag byte tells NULL from "",
 * the length ends the field, so no two (prac, svc) pairs share bytes. */
static uint64_t hash_field(uint64_t h, const char *v)
{
    unsigned char tag = v != NULL;
    uint64_t len = v != NULL ? (uint64_t)strlen(v) : 0;

    h = hash_fnv1a(h, &tag, 1);
    h = hash_fnv1a(h, &len, sizeof len);
    return v != NULL ? hash_fnv1a(h, v, (size_t)len) : h;
}

/* The text part of a slot's key hash (practitioner, service). */
static uint64_t fields_hash(uint64_t seed, const char *prac, const char *svc)
{
    return hash_field(hash_field(HASH_FNV1A_INIT ^ seed, prac), svc);
}

/* The key hash of a slot's (end, practitioner, service) from its text
 * part; start is kept apart (it orders the keys and decides passed vs
 * vanished). */
static uint64_t slot_hash_end(uint64_t seed, uint64_t fh, int64_t end)
{
    /* FNV's low bits depend only on low input bits: spread them. */
    return hash_mix64(hash_fnv1a(fh, &end, sizeof end) ^ seed);
}

static uint64_t slot_hash(uint64_t seed, int64_t end, const char *prac,
                          const char *svc)
{
    return slot_hash_end(seed, fields_hash(seed, prac, svc), end);
}

static uint64_t id_hash(uint64_t seed, const char *id)
{
    return hash_mix64(hash_fnv1a(HASH_FNV1A_INIT ^ seed, id, strlen(id)));
}

/* Order of keys: (start, h). */
static int key_cmp(int64_t sa, uint64_t ha, int64_t sb, uint64_t hb)
{
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (ha != hb)
        return ha < hb ? -1 : 1;
    return 0;
}

static int rkey_qcmp(const void *a, const void *b)
{
    const struct rkey *x = a, *y = b;

    return key_cmp(x->start, x->h, y->start, y->h);
}

static int open_qcmp(const void *a, const void *b)
{
    const struct open_slot *x = a, *y = b;

    return key_cmp(x->start, x->h, y->start, y->h);
}

/* Give back an array's spare capacity; keeps the old one if that fails. */
static void open_fit(struct ccache *c)
{
    if (c->capopen == c->nopen)
        return;
    if (c->nopen == 0) {
        free(c->open);
        c->open = NULL;
        c->capopen = 0;
        return;
    }
    {
        struct open_slot *v = realloc(c->open, c->nopen * sizeof *v);
        if (v != NULL) {
            c->open = v;
            c->capopen = c->nopen;
        }
    }
}

/* A seed nobody outside the process knows (slot keys come from
 * upstreams that could otherwise choose colliding texts). */
static uint64_t random_seed(const void *salt)
{
    uint64_t v = 0;
    int fd;

    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, &v, sizeof v);
        close(fd);
        if (r == (ssize_t)sizeof v)
            return v;
    }
    /* No entropy source: at least not a constant. */
    v = (uint64_t)clock_mono_us() ^ ((uint64_t)getpid() << 32) ^
        (uint64_t)(uintptr_t)salt;
    return hash_mix64(v);
}

static int db_fail(struct store *st, struct sf_error *err, const char *what)
{
    sf_error_set(err, SF_ERR_INTERNAL, "store %s: %s: %s", st->path, what,
                 sqlite3_errmsg(st->db));
    return -1;
}

/* Run a prepared statement that returns no rows; resets it. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bind_int_or_null(sqlite3_stmt *s, int i, int v)
{
    if (v >= 0)
        sqlite3_bind_int(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

static const char *errclass_static(const char *name)
{
    /* err_class strings read back from the file are mapped to the static
     * names so runs compare by pointer-free strcmp either way. */
    int i;

    if (name == NULL)
        return NULL;
    for (i = SF_ERR_NONE + 1; i <= SF_ERR_LAST; i++)
        if (strcmp(name, sf_errclass_name((enum sf_errclass)i)) == 0)
            return sf_errclass_name((enum sf_errclass)i);
    return "internal";
}

/* --- clinic caches -------------------------------------------------------------- */

static void ccache_drop_db(struct ccache *c)
{
    /* The array goes too: the reload sizes its own. */
    free(c->open);
    c->open = NULL;
    c->nopen = c->capopen = 0;
    c->db_id = 0;
    c->has_run = false;
    c->last_ok = 0;
}

static void ccache_free(struct ccache *c)
{
    if (c == NULL)
        return;
    ccache_drop_db(c);
    free(c->hsa_id);
    free(c->name);
    free(c->municipality);
    free(c->operator_kind);
    free(c);
}

/* The index slot of id: its entry, or the empty slot where it goes. */
static size_t idx_find(const struct store *st, const char *id, uint64_t h)
{
    size_t mask = st->capidx - 1, i = (size_t)h & mask;

    while (st->idx[i] != NULL &&
           (st->idx[i]->idh != h || strcmp(st->idx[i]->hsa_id, id) != 0))
        i = (i + 1) & mask;
    return i;
}

/* Room in the index for one more clinic (at most half full). */
static int idx_reserve(struct store *st)
{
    struct ccache **v;
    size_t cap, i, mask;

    if ((st->nclinics + 1) * 2 <= st->capidx)
        return 0;
    cap = st->capidx ? st->capidx * 2 : 128;
    if ((v = calloc(cap, sizeof *v)) == NULL)
        return -1;
    mask = cap - 1;
    for (i = 0; i < st->nclinics; i++) {
        size_t k = (size_t)st->clinics[i]->idh & mask;
        while (v[k] != NULL)
            k = (k + 1) & mask;
        v[k] = st->clinics[i];
    }
    free(st->idx);
    st->idx = v;
    st->capidx = cap;
    return 0;
}

/* Cache entry for clinic cc (created, with its descriptive fields
 * refreshed from cc). NULL on allocation failure. */
static struct ccache *ccache_get(struct store *st, const struct conf_clinic *cc)
{
    struct ccache *c = NULL;
    char *n = NULL, *m = NULL, *o = NULL;
    uint64_t h = id_hash(st->seed, cc->id);
    size_t slot = 0;

    if (st->capidx > 0) {
        slot = idx_find(st, cc->id, h);
        c = st->idx[slot];
    }
    if (c == NULL) {
        if (idx_reserve(st) != 0)
            return NULL;
        if (st->nclinics == st->capclinics) {
            size_t cap = st->capclinics ? st->capclinics * 2 : 64;
            struct ccache **v = realloc(st->clinics, cap * sizeof *v);
            if (v == NULL)
                return NULL;
            st->clinics = v;
            st->capclinics = cap;
        }
        if ((c = calloc(1, sizeof *c)) == NULL ||
            (c->hsa_id = strdup(cc->id)) == NULL) {
            free(c);
            return NULL;
        }
        c->idh = h;
        st->clinics[st->nclinics++] = c;
        st->idx[idx_find(st, cc->id, h)] = c;
    }
    /* Descriptive fields follow the latest config. */
    if (c->name == NULL || strcmp(c->name, cc->name ? cc->name : "") != 0 ||
        strcmp_null(c->municipality, cc->municipality) != 0 ||
        strcmp_null(c->operator_kind, cc->operator_kind) != 0) {
        n = strdup(cc->name ? cc->name : "");
        m = strdup(cc->municipality ? cc->municipality : "");
        o = strdup(cc->operator_kind ? cc->operator_kind : "");
        if (n == NULL || m == NULL || o == NULL) {
            free(n);
            free(m);
            free(o);
            return NULL;
        }
        free(c->name);
        free(c->municipality);
        free(c->operator_kind);
        c->name = n;
        c->municipality = m;
        c->operator_kind = o;
    }
    c->has_booking = cc->has_booking;
    return c;
}

static int open_push(struct ccache *c, const struct open_slot *o)
{
    if (c->nopen == c->capopen) {
        size_t cap = c->capopen ? c->capopen * 2 : 64;
        struct open_slot *v = realloc(c->open, cap * sizeof *v);
        if (v == NULL)
            return -1;
        c->open = v;
        c->capopen = cap;
    }
    c->open[c->nopen++] = *o;
    return 0;
}

/*
 * Inside a transaction: upsert c's clinic row (descriptive fields from
 * the config, last_seen = t). A cache not loaded yet takes the row's id
 * and last_ok; a loaded one keeps its run and open slots, which are the
 * file's (the daily sync refreshes names without reloading them).
 */
static int clinic_upsert(struct store *st, struct ccache *c, int64_t t,
                         struct sf_error *err)
{
    sqlite3_stmt *s = st->q[Q_CLINIC_UPSERT];
    int rc;

    sqlite3_bind_text(s, 1, c->hsa_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, c->municipality, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, c->operator_kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 5, c->has_booking);
    sqlite3_bind_int64(s, 6, t);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return db_fail(st, err, "upsert clinic");
    }
    if (c->db_id == 0) {
        c->db_id = sqlite3_column_int64(s, 0);
        c->last_ok = sqlite3_column_type(s, 1) == SQLITE_NULL
                         ? 0
                         : sqlite3_column_int64(s, 1);
    }
    /* Drain to DONE so the upsert completes before the next statement. */
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        return db_fail(st, err, "upsert clinic");
    return 0;
}

/* Inside a transaction: make sure the clinic row exists (upserting the
 * descriptive fields) and its last run and open slots are in memory. */
static int ccache_load(struct store *st, struct ccache *c, int64_t t,
                       struct sf_error *err)
{
    sqlite3_stmt *s;
    int rc;

    if (c->db_id != 0)
        return 0;
    if (clinic_upsert(st, c, t, err) != 0) {
        ccache_drop_db(c);
        return -1;
    }

    s = st->q[Q_RUN_LAST];
    sqlite3_bind_int64(s, 1, c->db_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        struct run *r = &c->last;
        r->id = sqlite3_column_int64(s, 0);
        r->t_first = sqlite3_column_int64(s, 1);
        r->t_last = sqlite3_column_int64(s, 2);
        r->interval_s = sqlite3_column_int(s, 4);
        r->local_day = sqlite3_column_int(s, 5);
        r->deadline_day = sqlite3_column_int(s, 6);
        r->status = sqlite3_column_int(s, 7);
        r->web = sqlite3_column_int(s, 8);
        r->err_class = errclass_static((const char *)sqlite3_column_text(s, 9));
        r->has_ff = sqlite3_column_type(s, 10) != SQLITE_NULL;
        r->first_free = sqlite3_column_int64(s, 10);
        r->within = sqlite3_column_type(s, 11) == SQLITE_NULL
                        ? -1
                        : sqlite3_column_int(s, 11);
        r->free_slots = sqlite3_column_type(s, 12) == SQLITE_NULL
                            ? -1
                            : sqlite3_column_int(s, 12);
        r->free_within = sqlite3_column_type(s, 13) == SQLITE_NULL
                             ? -1
                             : sqlite3_column_int(s, 13);
        c->has_run = true;
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        goto fail;

    s = st->q[Q_SLOT_OPEN];
    sqlite3_bind_int64(s, 1, c->db_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct open_slot o = { 0 };
        /* Types first: reading the text may convert the value. */
        bool pnull = sqlite3_column_type(s, 3) == SQLITE_NULL;
        bool snull = sqlite3_column_type(s, 4) == SQLITE_NULL;
        const char *prac =
            pnull ? NULL : (const char *)sqlite3_column_text(s, 3);
        const char *svc =
            snull ? NULL : (const char *)sqlite3_column_text(s, 4);
        o.id = sqlite3_column_int64(s, 0);
        o.start = sqlite3_column_int64(s, 1);
        o.h = slot_hash(st->seed, sqlite3_column_int64(s, 2), prac, svc);
        o.first_seen = sqlite3_column_int64(s, 5);
        /* A NULL text for a non-NULL value is SQLite out of memory. */
        if ((!pnull && prac == NULL) || (!snull && svc == NULL) ||
            open_push(c, &o) != 0) {
            sqlite3_reset(s);
            sqlite3_clear_bindings(s);
            ccache_drop_db(c);
            sf_error_set(err, SF_ERR_NOMEM, "store %s: out of memory",
                         st->path);
            return -1;
        }
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE)
        goto fail;
    open_fit(c);
    if (c->nopen > 1)
        qsort(c->open, c->nopen, sizeof *c->open, open_qcmp);
    return 0;
fail:
    ccache_drop_db(c);
    return db_fail(st, err, "load clinic");
}

/* --- pending records ------------------------------------------------------------- */

static void rec_clear(struct rec *r)
{
    free(r->keys);
    r->keys = NULL;
    r->nkeys = 0;
    avail_slots_clear(&r->view);
}

static void pending_clear(struct store *st)
{
    size_t i;

    for (i = 0; i < st->npending; i++)
        rec_clear(&st->pending[i]);
    st->npending = 0;
}

static int status_code(enum clinic_status s)
{
    switch (s) {
    case CLINIC_OK:
        return STORE_STATUS_OK;
    case CLINIC_STALE:
        return STORE_STATUS_STALE;
    default:
        return STORE_STATUS_ERROR;
    }
}

static int web_code(enum web_booking w)
{
    switch (w) {
    case WEB_OPEN:
        return STORE_WEB_OPEN;
    case WEB_NONE:
        return STORE_WEB_NONE;
    case WEB_UNREACHABLE:
        return STORE_WEB_UNREACHABLE;
    default:
        return STORE_WEB_UNKNOWN;
    }
}

static bool run_same(const struct run *a, const struct run *b)
{
    return a->interval_s == b->interval_s && a->local_day == b->local_day &&
           a->deadline_day == b->deadline_day && a->status == b->status &&
           a->web == b->web && strcmp_null(a->err_class, b->err_class) == 0 &&
           a->has_ff == b->has_ff &&
           (!a->has_ff || a->first_free == b->first_free) &&
           a->within == b->within && a->free_slots == b->free_slots &&
           a->free_within == b->free_within;
}

/* --- applying one record ------------------------------------------------------------ */

static int apply_run(struct store *st, struct ccache *c, const struct rec *rc,
                     struct sf_error *err)
{
    const struct run *r = &rc->r;
    sqlite3_stmt *s;
    int64_t t = r->t_first;
    /* Gap rule (store.h): a missed poll (about 2 intervals) breaks the run. */
    int64_t max_gap = (int64_t)r->interval_s * 3 / 2;

    if (c->has_run && run_same(&c->last, r) && t >= c->last.t_last &&
        t - c->last.t_last <= max_gap) {
        s = st->q[Q_RUN_EXTEND];
        sqlite3_bind_int64(s, 1, c->last.id);
        sqlite3_bind_int64(s, 2, t);
        if (step_done(s) != 0)
            return db_fail(st, err, "extend poll run");
        c->last.t_last = t;
        st->stats.runs_extended++;
        return 0;
    }
    s = st->q[Q_RUN_INSERT];
    sqlite3_bind_int64(s, 1, c->db_id);
    sqlite3_bind_int64(s, 2, t);
    sqlite3_bind_int(s, 3, r->interval_s);
    sqlite3_bind_int(s, 4, r->local_day);
    sqlite3_bind_int(s, 5, r->deadline_day);
    sqlite3_bind_int(s, 6, r->status);
    sqlite3_bind_int(s, 7, r->web);
    bind_text_or_null(s, 8, r->err_class);
    if (r->has_ff)
        sqlite3_bind_int64(s, 9, r->first_free);
    else
        sqlite3_bind_null(s, 9);
    bind_int_or_null(s, 10, r->within);
    bind_int_or_null(s, 11, r->free_slots);
    bind_int_or_null(s, 12, r->free_within);
    if (step_done(s) != 0)
        return db_fail(st, err, "insert poll run");
    c->last = *r;
    c->last.id = sqlite3_last_insert_rowid(st->db);
    c->last.t_last = t;
    c->has_run = true;
    st->stats.runs_inserted++;
    return 0;
}

static int close_slot(struct store *st, const struct ccache *c,
                      const struct open_slot *o, int64_t t,
                      const struct avail_rule *rule, struct sf_error *err)
{
    sqlite3_stmt *s = st->q[Q_SLOT_CLOSE];
    bool passed = o->start <= t;
    /* The last poll that listed it is the clinic's previous successful
     * poll (every successful poll since first_seen listed it). */
    int64_t last_seen =
        c->last_ok >= o->first_seen ? c->last_ok : o->first_seen;

    sqlite3_bind_int64(s, 1, o->id);
    sqlite3_bind_int64(s, 2, last_seen);
    sqlite3_bind_int64(s, 3, t);
    sqlite3_bind_text(s, 4, passed ? "passed" : "vanished", -1, SQLITE_STATIC);
    if (passed) {
        sqlite3_bind_null(s, 5);
    } else {
        int32_t dl = avail_deadline(clock_local_day(t), rule);
        sqlite3_bind_int(s, 5, clock_local_day(o->start) <= dl);
    }
    if (step_done(s) != 0)
        return db_fail(st, err, "close slot");
    st->stats.slots_closed++;
    return 0;
}

/* Merge the poll's listed slots (sorted, all starting after t) with the
 * clinic's open intervals (sorted): equal keys continue, open-only close,
 * listed-only open. The new open list replaces the old one only when every
 * statement succeeded (the transaction is rolled back otherwise). */
static int apply_slots(struct store *st, struct ccache *c, struct rec *rc,
                       struct sf_error *err)
{
    int64_t t = rc->r.t_first;
    struct open_slot *nv = NULL;
    size_t i = 0, j = 0, nn = 0, cap = c->nopen + rc->nkeys;
    sqlite3_stmt *s = st->q[Q_SLOT_INSERT];

    if (cap > 0 && (nv = malloc(cap * sizeof *nv)) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "store %s: out of memory", st->path);
        return -1;
    }
    while (i < c->nopen || j < rc->nkeys) {
        int cmp;
        if (i == c->nopen)
            cmp = 1;
        else if (j == rc->nkeys)
            cmp = -1;
        else
            cmp = key_cmp(c->open[i].start, c->open[i].h, rc->keys[j].start,
                          rc->keys[j].h);
        if (cmp == 0) {
            nv[nn++] = c->open[i++];
            j++;
        } else if (cmp < 0) {
            if (close_slot(st, c, &c->open[i], t, &rc->rule, err) != 0)
                goto fail;
            i++;
        } else {
            const struct rkey *k = &rc->keys[j];
            /* The view outlives the statement (rec_clear frees it). */
            const struct avail_slot *sl = &rc->view.v[k->idx];
            sqlite3_bind_int64(s, 1, c->db_id);
            sqlite3_bind_int64(s, 2, sl->start);
            sqlite3_bind_int64(s, 3, sl->end);
            bind_text_or_null(s, 4, sl->practitioner);
            bind_text_or_null(s, 5, sl->service);
            sqlite3_bind_int64(s, 6, t);
            if (step_done(s) != 0) {
                db_fail(st, err, "insert slot");
                goto fail;
            }
            nv[nn].start = k->start;
            nv[nn].h = k->h;
            nv[nn].id = sqlite3_last_insert_rowid(st->db);
            nv[nn].first_seen = t;
            nn++;
            j++;
            st->stats.slots_inserted++;
        }
    }
    /* Kept until the next poll: no spare room (cap counted both lists). */
    free(c->open);
    c->open = nv;
    c->nopen = nn;
    c->capopen = cap;
    open_fit(c);
    c->last_ok = t;
    return 0;
fail:
    /* c->open is untouched; the caller drops the cache. */
    free(nv);
    return -1;
}

static int apply_rec(struct store *st, struct rec *rc, struct sf_error *err)
{
    struct ccache *c = rc->c;
    sqlite3_stmt *s;
    int64_t t = rc->r.t_first;

    if (ccache_load(st, c, t, err) != 0)
        return -1;
    if (apply_run(st, c, rc, err) != 0)
        return -1;
    if (rc->ok && apply_slots(st, c, rc, err) != 0)
        return -1;
    s = st->q[Q_CLINIC_TOUCH];
    sqlite3_bind_int64(s, 1, c->db_id);
    sqlite3_bind_int64(s, 2, t);
    sqlite3_bind_int(s, 3, rc->ok);
    if (step_done(s) != 0)
        return db_fail(st, err, "update clinic");
    return 0;
}

static void drop_caches(struct store *st)
{
    size_t i;

    for (i = 0; i < st->nclinics; i++)
        ccache_drop_db(st->clinics[i]);
}

static int tx_begin(struct store *st, struct sf_error *err)
{
    if (step_done(st->q[Q_BEGIN]) != 0)
        return db_fail(st, err, "begin");
    return 0;
}

static int tx_commit(struct store *st, struct sf_error *err)
{
    if (step_done(st->q[Q_COMMIT]) != 0) {
        db_fail(st, err, "commit");
        return -1;
    }
    return 0;
}

static void tx_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        step_done(st->q[Q_ROLLBACK]);
}

static void ckpt_kick(struct store *st);

/* A slice that has done `done` items (at least one) is over once the
 * deadline (monotonic us, > 0) has passed or max (> 0) items are done. */
static bool slice_over(size_t done, int64_t deadline_us, size_t max)
{
    return done > 0 && ((max > 0 && done >= max) ||
                        (deadline_us > 0 && clock_mono_us() >= deadline_us));
}

/*
 * Apply the pending records in one transaction: all of them, or with a
 * deadline (monotonic us, > 0) or a cap (max > 0) as many as fit, at
 * least one. The applied ones leave the list; the rest move to its front
 * for the next slice. On failure the whole list is dropped (the caches
 * may be ahead of the file: they are dropped too). 0 or -1.
 */
static int flush_some(struct store *st, int64_t deadline_us, size_t max,
                      struct sf_error *err)
{
    uint64_t t0;
    size_t i, n;

    if (st == NULL || st->npending == 0)
        return 0;
    t0 = (uint64_t)clock_mono_us();
    n = st->npending;
    if (tx_begin(st, err) != 0)
        goto fail;
    for (i = 0; i < n; i++) {
        if (slice_over(i, deadline_us, max))
            break;
        if (apply_rec(st, &st->pending[i], err) != 0)
            goto fail;
    }
    if (tx_commit(st, err) != 0)
        goto fail;
    ckpt_kick(st);
    st->stats.records_written += i;
    for (size_t k = 0; k < i; k++)
        rec_clear(&st->pending[k]);
    memmove(st->pending, st->pending + i, (n - i) * sizeof(*st->pending));
    st->npending = n - i;
    st->stats.flushes++;
    st->stats.flush_us_last = (uint64_t)clock_mono_us() - t0;
    metrics_store_flush((double)st->stats.flush_us_last / 1e6);
    st->stats.flush_us_total += st->stats.flush_us_last;
    if (st->stats.flush_us_last > st->stats.flush_us_max)
        st->stats.flush_us_max = st->stats.flush_us_last;
    return 0;
fail:
    tx_rollback(st);
    drop_caches(st);
    metrics_store_error(METRICS_STORE_FLUSH);
    st->stats.records_dropped += n;
    st->stats.flush_errors++;
    pending_clear(st);
    return -1;
}

int store_flush(struct store *st, struct sf_error *err)
{
    return flush_some(st, 0, 0, err);
}

void store_set_flush_slice(struct store *st, long slice_us, size_t max_records)
{
    if (st == NULL)
        return;
    st->slice_us = slice_us > 0 ? slice_us : STORE_FLUSH_SLICE_US;
    st->slice_max = max_records;
}

/* --- WAL checkpoints on their own thread ---------------------------------- */

/*
 * SQLite's automatic checkpoint runs inside the commit that crosses 1,000
 * WAL pages: it copies them into the database file and syncs it, on the
 * event loop (in scale.sh 10000 the flushes over 100 ms). With a loop
 * (store_attach) the loop's connection turns it off and this thread, with
 * its own connection, runs PASSIVE checkpoints (never waiting for the
 * writer) after a commit, at most once a second otherwise idle.
 */
struct ckpt {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv, done;
    sqlite3 *db;
    bool stop, kick;
    unsigned long runs;   /* checkpoints run */
    unsigned long frames; /* WAL frames copied by them */
};

static void *ckpt_main(void *arg)
{
    struct ckpt *k = arg;

    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        int log = 0, copied = 0;
        if (!k->kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&k->cv, &k->mu, &ts);
            if (k->stop || !k->kick)
                continue;
        }
        k->kick = false;
        pthread_mutex_unlock(&k->mu);
        sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                  &copied);
        pthread_mutex_lock(&k->mu);
        k->runs++;
        if (copied > 0)
            k->frames += (unsigned long)copied;
        pthread_cond_broadcast(&k->done);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* Start the thread; on any failure the automatic checkpoint stays. */
static void ckpt_start(struct store *st)
{
    struct ckpt *k = calloc(1, sizeof(*k));

    if (k == NULL)
        return;
    /* A read makes the new connection open the file and see it is in
     * WAL mode; until then its checkpoints do nothing. */
    if (sqlite3_open_v2(st->path, &k->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(k->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL,
                     NULL) != SQLITE_OK ||
        pthread_mutex_init(&k->mu, NULL) != 0) {
        sqlite3_close_v2(k->db);
        free(k);
        return;
    }
    pthread_cond_init(&k->cv, NULL);
    pthread_cond_init(&k->done, NULL);
    if (sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) !=
            SQLITE_OK ||
        pthread_create(&k->th, NULL, ckpt_main, k) != 0) {
        sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=1000", NULL, NULL,
                     NULL);
        pthread_cond_destroy(&k->cv);
        pthread_cond_destroy(&k->done);
        pthread_mutex_destroy(&k->mu);
        sqlite3_close_v2(k->db);
        free(k);
        log_warn("store_checkpoint_thread",
                 "path=%s started=no "
                 "(checkpoints stay in the commits)",
                 st->path);
        return;
    }
    st->ck = k;
}

static void ckpt_kick(struct store *st)
{
    if (st->ck == NULL)
        return;
    pthread_mutex_lock(&st->ck->mu);
    st->ck->kick = true;
    pthread_cond_signal(&st->ck->cv);
    pthread_mutex_unlock(&st->ck->mu);
}

static void ckpt_stop(struct store *st)
{
    struct ckpt *k = st->ck;

    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_cond_destroy(&k->done);
    pthread_mutex_destroy(&k->mu);
    sqlite3_close_v2(k->db);
    free(k);
    st->ck = NULL;
    /* Back to SQLite's own checkpoints for what follows (close). */
    sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=1000", NULL, NULL, NULL);
}

int store_checkpoint_wait(struct store *st, unsigned long runs,
                          unsigned long *frames)
{
    struct ckpt *k = st != NULL ? st->ck : NULL;
    struct timespec ts;
    int rc = 0;

    if (k == NULL)
        return -1;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10; /* a bound for a stuck thread, not a pace */
    pthread_mutex_lock(&k->mu);
    while (k->runs < runs && rc == 0)
        rc = pthread_cond_timedwait(&k->done, &k->mu, &ts);
    if (frames != NULL)
        *frames = k->frames;
    rc = k->runs >= runs ? 0 : -1;
    pthread_mutex_unlock(&k->mu);
    return rc;
}

unsigned long store_checkpoint_runs(struct store *st)
{
    unsigned long n;

    if (st == NULL || st->ck == NULL)
        return 0;
    pthread_mutex_lock(&st->ck->mu);
    n = st->ck->runs;
    pthread_mutex_unlock(&st->ck->mu);
    return n;
}

/* --- the loop side ------------------------------------------------------------------ */

static int sync_region_now(struct store *st, int64_t now, int64_t deadline_us,
                           struct sf_error *err);

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;
    struct sf_error err = { 0 };
    int64_t now = clock_now();
    int32_t today = clock_local_day(now);
    bool again = false, cont = st->flush_cont;
    int64_t deadline = clock_mono_us() + st->slice_us;
    int rc;

    (void)fd;
    (void)what;
    st->flush_cont = false;
    /* A slice of the loop's time (a first pass at 10,000 clinics queues
     * thousands of slot rows a second: one transaction of them all held
     * the loop up to 500 ms); the rest in the next loop turn. */
    if (flush_some(st, deadline, st->slice_max, &err) != 0)
        log_error("store_flush_failed",
                  "path=%s records_dropped=%lu err=\"%s\"", st->path,
                  st->stats.records_dropped, err.msg);
    if (cont)
        goto next; /* the day's sync and purge run on timer ticks only */
    if (st->region != NULL && st->synced_day != today) {
        /* What is left of the slice, at least one clinic. */
        if ((rc = sync_region_now(st, now, deadline, &err)) < 0) {
            metrics_store_error(METRICS_STORE_SYNC);
            log_error("store_sync_failed", "path=%s err=\"%s\"", st->path,
                      err.msg);
        } else if (rc == 1) {
            again = true;
        }
    }
    /* One small purge batch per tick until nothing old is left today. */
    if (st->retention_days > 0 && st->purged_day != today) {
        size_t del = 0;
        if (store_purge(st, now, st->retention_days, STORE_PURGE_BATCH, &del,
                        &err) != 0) {
            metrics_store_error(METRICS_STORE_PURGE);
            log_error("store_purge_failed", "path=%s err=\"%s\"", st->path,
                      err.msg);
            st->purged_day = today;
        } else if (del == 0) {
            st->purged_day = today;
        } else {
            again = true;
        }
    }
next:
    if (st->npending > 0) {
        /* The rest after as long again (at most half the loop: the
         * feed's build steps and the polls need their turns), at once
         * when half the cap is pending (the cap flushes synchronously). */
        struct timeval tv = { 0, st->npending >= STORE_PENDING_MAX / 2 ||
                                         st->slice_max > 0
                                     ? 0
                                     : st->slice_us };

        st->flush_cont = true;
        evtimer_add(st->flush_ev, &tv);
        return;
    }
    if (again || (st->retention_days > 0 && st->purged_day != today)) {
        struct timeval tv = { st->flush_ms / 1000,
                              (st->flush_ms % 1000) * 1000 };
        evtimer_add(st->flush_ev, &tv);
    }
}

static void arm_flush(struct store *st)
{
    struct timeval tv;

    if (st->flush_ev == NULL || evtimer_pending(st->flush_ev, NULL))
        return;
    tv.tv_sec = st->flush_ms / 1000;
    tv.tv_usec = (st->flush_ms % 1000) * 1000;
    evtimer_add(st->flush_ev, &tv);
}

int store_attach(struct store *st, struct event_base *base, long flush_ms)
{
    if (st == NULL || base == NULL || st->flush_ev != NULL)
        return -1;
    st->flush_ms = flush_ms > 0 ? flush_ms : STORE_DEFAULT_FLUSH_MS;
    if ((st->flush_ev = evtimer_new(base, on_flush, st)) == NULL)
        return -1;
    ckpt_start(st);
    /* First tick soon: it runs the day's purge check. */
    {
        struct timeval tv = { st->flush_ms / 1000,
                              (st->flush_ms % 1000) * 1000 };
        evtimer_add(st->flush_ev, &tv);
    }
    return 0;
}

/*
 * The record's listed future slots: a view of the poll's list (no copy
 * when the collector froze it) and their keys, sorted, repeats dropped.
 */
static int record_keys(struct store *st, struct rec *rc,
                       const struct clinic_state *cs, int64_t now)
{
    enum {
        MEMO_N = 8
    };
    struct {
        const char *prac, *svc;
        uint64_t fh;
    } memo[MEMO_N];
    const struct avail_slots *v;
    size_t i, n = 0, nmemo = 0, next = 0;

    if (avail_slots_share(&rc->view, &cs->slots, 0) != 0)
        return -1;
    v = &rc->view;
    for (i = 0; i < v->n; i++)
        n += v->v[i].start > now;
    if (n == 0) {
        /* Nothing to insert from: the view need not live on. */
        avail_slots_clear(&rc->view);
        return 0;
    }
    if ((rc->keys = malloc(n * sizeof *rc->keys)) == NULL)
        return -1;
    for (i = 0; i < v->n; i++) {
        const struct avail_slot *sl = &v->v[i];
        struct rkey *k = &rc->keys[rc->nkeys];
        size_t m;
        if (sl->start <= now)
            continue; /* not offered any more: never opened */
        /* A list holds each distinct text once (availability.h), so a
         * pointer pair names its text: hash a clinic's few (practitioner,
         * service) pairs once, not once per slot. */
        for (m = 0; m < nmemo; m++)
            if (memo[m].prac == sl->practitioner && memo[m].svc == sl->service)
                break;
        if (m == nmemo) {
            m = nmemo < MEMO_N ? nmemo++ : next++ % MEMO_N;
            memo[m].prac = sl->practitioner;
            memo[m].svc = sl->service;
            memo[m].fh = fields_hash(st->seed, sl->practitioner, sl->service);
        }
        k->start = sl->start;
        k->h = slot_hash_end(st->seed, memo[m].fh, sl->end);
        k->idx = i;
        rc->nkeys++;
    }
    if (rc->nkeys > 1)
        qsort(rc->keys, rc->nkeys, sizeof *rc->keys, rkey_qcmp);
    /* Identical keys (capacity > 1 listed twice, different URLs) are one
     * observation: drop repeats so the merge stays one-to-one. */
    if (rc->nkeys > 1) {
        size_t w = 1;
        for (i = 1; i < rc->nkeys; i++)
            if (rkey_qcmp(&rc->keys[w - 1], &rc->keys[i]) != 0)
                rc->keys[w++] = rc->keys[i];
        rc->nkeys = w;
    }
    return 0;
}

/* --- public API ---------------------------------------------------------------------- */

int store_record_poll(struct store *st, const struct conf_clinic *cc,
                      const struct clinic_state *cs, int64_t now,
                      const struct avail_rule *rule)
{
    struct rec rc;
    struct avail_rule defrule = { 3, AVAIL_COUNT_CALENDAR };

    if (st == NULL || cc == NULL || cs == NULL)
        return -1;
    if (rule == NULL)
        rule = &defrule;
    memset(&rc, 0, sizeof rc);
    if ((rc.c = ccache_get(st, cc)) == NULL)
        goto nomem;
    rc.rule = *rule;
    rc.r.t_first = rc.r.t_last = now;
    rc.r.interval_s = st->interval_s;
    rc.r.local_day = clock_local_day(now);
    rc.r.deadline_day = avail_deadline(rc.r.local_day, rule);
    rc.r.status = status_code(cs->status);
    rc.r.web = web_code(cs->web);
    rc.r.err_class =
        cs->err_class != SF_ERR_NONE ? sf_errclass_name(cs->err_class) : NULL;
    rc.r.within = rc.r.free_slots = rc.r.free_within = -1;
    /* Figures only from a poll that just succeeded: stale slots say
     * nothing about what was on offer now. */
    rc.ok = cs->status == CLINIC_OK && cs->has_data;
    if (rc.ok) {
        struct avail_result ar;
        avail_compute(&cs->slots, now, rule, &ar);
        rc.r.has_ff = ar.has_first_free;
        rc.r.first_free = ar.has_first_free ? ar.first_free : 0;
        rc.r.within = ar.within_guarantee ? 1 : 0;
        rc.r.free_slots = ar.free_slots;
        rc.r.free_within = ar.free_slots_within_guarantee;
        if (record_keys(st, &rc, cs, now) != 0)
            goto nomem;
    }
    if (st->npending == st->cappending) {
        size_t cap = st->cappending ? st->cappending * 2 : 64;
        struct rec *v = realloc(st->pending, cap * sizeof *v);
        if (v == NULL)
            goto nomem;
        st->pending = v;
        st->cappending = cap;
    }
    st->pending[st->npending++] = rc;
    st->stats.records++;
    if (st->npending >= STORE_PENDING_MAX) {
        struct sf_error err = { 0 };
        if (store_flush(st, &err) != 0)
            log_error("store_flush_failed", "path=%s err=\"%s\"", st->path,
                      err.msg);
    } else {
        arm_flush(st);
    }
    return 0;
nomem:
    rec_clear(&rc);
    st->stats.records_dropped++;
    log_error("store_record_failed", "path=%s clinic=%s err=\"out of memory\"",
              st->path, cc->id);
    return -1;
}

/*
 * Upsert the region's clinics from st->sync_next on, in one transaction:
 * all of them, or with a deadline (monotonic us, > 0) those that fit
 * (at least one), the rest on the next tick. 0 when the region is done
 * (synced_day set), 1 when clinics remain, -1 on failure (caches
 * dropped, the next tick starts over).
 */
static int sync_region_now(struct store *st, int64_t now, int64_t deadline_us,
                           struct sf_error *err)
{
    size_t i;

    if (st->sync_next >= st->region->nclinics)
        st->sync_next = 0;
    i = st->sync_next;
    if (tx_begin(st, err) != 0)
        return -1;
    for (; i < st->region->nclinics; i++) {
        const struct conf_clinic *cc = &st->region->clinics[i];
        struct ccache *c;
        sqlite3_stmt *s;
        /* The cap is the timer's (a deadline), not store_sync_region's. */
        if (slice_over(i - st->sync_next, deadline_us,
                       deadline_us > 0 ? st->slice_max : 0))
            break;
        if ((c = ccache_get(st, cc)) == NULL) {
            sf_error_set(err, SF_ERR_NOMEM, "store %s: out of memory",
                         st->path);
            goto fail;
        }
        /* The upsert brings changed names/booking to the file; a loaded
         * cache is not reloaded (at 10,000 clinics that read every open
         * slot again, seconds on the loop once a day). */
        if (c->db_id != 0 ? clinic_upsert(st, c, now, err) != 0
                          : ccache_load(st, c, now, err) != 0)
            goto fail;
        s = st->q[Q_CLINIC_TOUCH];
        sqlite3_bind_int64(s, 1, c->db_id);
        sqlite3_bind_int64(s, 2, now);
        sqlite3_bind_int(s, 3, 0);
        if (step_done(s) != 0) {
            db_fail(st, err, "update clinic");
            goto fail;
        }
    }
    if (tx_commit(st, err) != 0)
        goto fail;
    if (i < st->region->nclinics) {
        st->sync_next = i;
        return 1;
    }
    st->sync_next = 0;
    st->synced_day = clock_local_day(now);
    return 0;
fail:
    tx_rollback(st);
    drop_caches(st);
    st->sync_next = 0;
    return -1;
}

int store_sync_region(struct store *st, const struct conf_region *r,
                      int64_t now, struct sf_error *err)
{
    if (st == NULL || r == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "store: no store or region");
        return -1;
    }
    /* Pending records first: they were taken before this sync. */
    if (store_flush(st, err) != 0)
        return -1;
    /*
     * On failure the store keeps the region it had: the caller (app.c)
     * frees a region it replaced only once the store no longer holds it,
     * and it goes by this function's result.
     */
    {
        const struct conf_region *prev = st->region;

        st->region = r;
        st->sync_next = 0;
        if (sync_region_now(st, now, 0, err) != 0) {
            st->region = prev;
            return -1;
        }
    }
    return 0;
}

int store_purge(struct store *st, int64_t now, int days, size_t batch,
                size_t *deleted, struct sf_error *err)
{
    int64_t cutoff;
    size_t del = 0;
    sqlite3_stmt *s;

    if (deleted)
        *deleted = 0;
    if (st == NULL || days <= 0 || batch == 0)
        return 0;
    /* Whole local days: rows older than the start of (today - days). */
    cutoff = clock_day_start(clock_local_day(now) - days);
    if (store_flush(st, err) != 0)
        return -1;
    if (tx_begin(st, err) != 0)
        return -1;
    s = st->q[Q_PURGE_POLL];
    sqlite3_bind_int64(s, 1, cutoff);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)batch);
    if (step_done(s) != 0)
        goto fail;
    del = (size_t)sqlite3_changes(st->db);
    if (del < batch) {
        s = st->q[Q_PURGE_SLOT];
        sqlite3_bind_int64(s, 1, cutoff);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)(batch - del));
        if (step_done(s) != 0)
            goto fail;
        del += (size_t)sqlite3_changes(st->db);
    }
    if (tx_commit(st, err) != 0) {
        tx_rollback(st);
        return -1;
    }
    /* A purged run or open slot may be cached: reload from the file. */
    if (del > 0)
        drop_caches(st);
    st->stats.rows_purged += del;
    if (deleted)
        *deleted = del;
    return 0;
fail:
    db_fail(st, err, "purge");
    tx_rollback(st);
    return -1;
}

static int exec_sql(struct store *st, const char *sql, struct sf_error *err,
                    const char *what)
{
    char *msg = NULL;

    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        sf_error_set(err, SF_ERR_INTERNAL, "store %s: %s: %s", st->path, what,
                     msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int pragma_int(struct store *st, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int migrate(struct store *st, struct sf_error *err)
{
    int version = 0, appid = 0;
    size_t v;
    char sql[96];

    if (pragma_int(st, "PRAGMA user_version", &version) != 0 ||
        pragma_int(st, "PRAGMA application_id", &appid) != 0)
        return db_fail(st, err, "read schema version");
    if (appid != 0 && appid != STORE_APPLICATION_ID) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: not a slotfeed store (application_id %d)",
                     st->path, appid);
        return -1;
    }
    if (version < 0 || (size_t)version > NMIGRATIONS) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: schema version %d is newer than this "
                     "slotfeed (%d); upgrade slotfeed",
                     st->path, version, (int)NMIGRATIONS);
        return -1;
    }
    if (version == 0 && appid == 0) {
        /* An empty file is ours to create; a file with tables but no
         * version is someone else's. */
        int ntables = 0;
        if (pragma_int(st, "SELECT count(*) FROM sqlite_schema", &ntables) != 0)
            return db_fail(st, err, "read schema");
        if (ntables != 0) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "store %s: database has tables but is not a "
                         "slotfeed store",
                         st->path);
            return -1;
        }
    }
    for (v = (size_t)version; v < NMIGRATIONS; v++) {
        if (exec_sql(st, "BEGIN IMMEDIATE", err, "migration begin") != 0)
            return -1;
        snprintf(sql, sizeof sql,
                 "PRAGMA user_version = %d; PRAGMA application_id = %d;",
                 (int)v + 1, STORE_APPLICATION_ID);
        if (exec_sql(st, migrations[v], err, "migration") != 0 ||
            exec_sql(st, sql, err, "migration version") != 0 ||
            exec_sql(st, "COMMIT", err, "migration commit") != 0) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            sf_error_prefix(err, "to version %d", (int)v + 1);
            return -1;
        }
        log_info("store_migrated", "path=%s version=%d", st->path, (int)v + 1);
    }
    return 0;
}

/*
 * The store is opened with root's rights before --user drops them
 * (main.c), often in a directory the service user can write: a link
 * planted at the path (or at its -wal or -shm) would make root create or
 * open a file anywhere. So no link is followed, and a new main file is
 * created here, owner-only whatever the umask; SQLite then gives the
 * -wal and -shm it creates the main file's mode (os_unix.c: robust_open
 * fchmods a new file to it). An existing file keeps its mode.
 */
static int check_not_link(const char *path, const char *sfx,
                          struct sf_error *err)
{
    struct stat sb;
    char p[4096];

    if ((size_t)snprintf(p, sizeof(p), "%s%s", path, sfx) >= sizeof(p)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: cannot open: path too "
                     "long",
                     path);
        return -1;
    }
    if (lstat(p, &sb) != 0) {
        if (errno == ENOENT && *sfx != '\0')
            return 0;
        sf_error_set(err, SF_ERR_CONFIG, "store %s: cannot open: %s", p,
                     strerror(errno));
        return -1;
    }
    if (S_ISLNK(sb.st_mode)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: is a symbolic link; "
                     "refusing to follow it (give the real path in "
                     "\"store\")",
                     p);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: not a regular file", p);
        return -1;
    }
    return 0;
}

static int prepare_path(const char *path, struct sf_error *err)
{
    int fd, e;

    /* The side files first: a refused store leaves nothing behind. */
    if (check_not_link(path, "-wal", err) != 0 ||
        check_not_link(path, "-shm", err) != 0)
        return -1;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              STORE_FILE_MODE);
    if (fd < 0) {
        if (errno != EEXIST) {
            sf_error_set(err, SF_ERR_CONFIG, "store %s: cannot open: %s", path,
                         strerror(errno));
            return -1;
        }
        /* O_EXCL never follows a link, so a planted one lands here. */
        return check_not_link(path, "", err);
    }
    /* The umask may have taken bits away (0200 ...): set it exactly. */
    e = fchmod(fd, STORE_FILE_MODE) == 0 ? 0 : errno;
    close(fd);
    if (e != 0) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: cannot open: chmod: %s",
                     path, strerror(e));
        unlink(path);
        return -1;
    }
    return 0;
}

struct store *store_open(const char *path, struct sf_error *err)
{
    struct store *st = NULL;
    sqlite3_stmt *s = NULL;
    int i, rc;
    const char *mode;

    if (path == NULL || *path == '\0') {
        sf_error_set(err, SF_ERR_CONFIG, "store: empty path");
        return NULL;
    }
    if ((st = calloc(1, sizeof *st)) == NULL ||
        (st->path = strdup(path)) == NULL) {
        free(st);
        sf_error_set(err, SF_ERR_NOMEM, "store %s: out of memory", path);
        return NULL;
    }
    st->interval_s = 60;
    st->retention_days = 400;
    st->flush_ms = STORE_DEFAULT_FLUSH_MS;
    st->slice_us = STORE_FLUSH_SLICE_US;
    st->synced_day = st->purged_day = INT32_MIN;
    st->seed = random_seed(st);
    if (prepare_path(path, err) != 0)
        goto fail;
    /* NOFOLLOW again: the path could be swapped for a link in between. */
    rc = sqlite3_open_v2(path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                         NULL);
    if (rc != SQLITE_OK) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: cannot open: %s", path,
                     st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, 5000);
    /* journal_mode answers with the mode in force: check it took. */
    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL) !=
            SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        sf_error_set(err, SF_ERR_CONFIG, "store %s: cannot open: %s", path,
                     sqlite3_errmsg(st->db));
        goto fail;
    }
    mode = (const char *)sqlite3_column_text(s, 0);
    if (mode == NULL ||
        (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "store %s: cannot switch to WAL (journal_mode %s)", path,
                     mode ? mode : "?");
        goto fail;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (exec_sql(st,
                 "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;"
                 " PRAGMA journal_size_limit=16777216;",
                 err, "pragmas") != 0)
        goto fail;
    if (migrate(st, err) != 0)
        goto fail;
    for (i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(st->db, sql_text[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &st->q[i],
                               NULL) != SQLITE_OK) {
            db_fail(st, err, "prepare");
            goto fail;
        }
    return st;
fail:
    sqlite3_finalize(s);
    store_close(st);
    return NULL;
}

void store_close(struct store *st)
{
    struct sf_error err = { 0 };
    size_t i;
    int k;

    if (st == NULL)
        return;
    if (st->q[Q_COUNT - 1] != NULL && store_flush(st, &err) != 0)
        log_error("store_flush_failed", "path=%s err=\"%s\"", st->path,
                  err.msg);
    pending_clear(st);
    free(st->pending);
    ckpt_stop(st);
    if (st->flush_ev)
        event_free(st->flush_ev);
    for (k = 0; k < Q_COUNT; k++)
        sqlite3_finalize(st->q[k]);
    for (i = 0; i < st->nclinics; i++)
        ccache_free(st->clinics[i]);
    free(st->clinics);
    free(st->idx);
    if (st->db)
        sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

void store_set_poll_interval(struct store *st, int seconds)
{
    if (st && seconds > 0)
        st->interval_s = seconds;
}

void store_set_retention(struct store *st, int days)
{
    if (st)
        st->retention_days = days;
}

void store_get_stats(const struct store *st, struct store_stats *out)
{
    if (out == NULL)
        return;
    if (st == NULL)
        memset(out, 0, sizeof *out);
    else
        *out = st->stats;
}

size_t store_pending(const struct store *st)
{
    return st ? st->npending : 0;
}

const char *store_path(const struct store *st)
{
    return st ? st->path : NULL;
}

struct sqlite3 *store_db(struct store *st)
{
    return st ? st->db : NULL;
}
