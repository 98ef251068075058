/*
 * sim.c - the booking-system simulator: an evhttp server that plays the
 * NTjP virtualisation platform (VP) in front of every clinic of a region
 * and answers the RIV-TA crm:scheduling 1.1 read contracts
 * (GetAvailableDates, GetAvailableTimeslots, GetAllTimeTypes) over SOAP 1.1.
 *
 * Requests are routed by the LogicalAddress SOAP header, as the VP does;
 * each clinic's sim profile then decides whether it behaves (normal, busy,
 * full) or misbehaves (platform faults, producer faults, garbage, hostile
 * XML, hanging, HTTP 503). Schedules are a pure function of the seed, the
 * clinic id, its profile and the local date (sim_schedule_day), so tests
 * can compute the ground truth without talking to the server.
 *
 * Every request gets exactly one reply, except under the "hang" profile.
 * Replies that are delayed (latency) or never sent (hang) live in a job
 * list; a connection close callback drops the jobs of a connection that
 * goes away, because libevent frees (or detaches) their requests on its own.
 */
#include "slotfeed/sim.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <cjson/cJSON.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <zlib.h>

#include "slotfeed/api.h"
#include "slotfeed/clock.h"
#include "slotfeed/hash.h"

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define REG_NS "urn:riv:itintegration:registry:1"
#define CORE_NS "urn:riv:crm:scheduling:1"
#define RESP_NS_FMT "urn:riv:crm:scheduling:%sResponder:1"
/* A namespace no client knows: answers carry one element of it (xs:any). */
#define EXT_NS "urn:slotfeed:sim:extension:1"
#define SIM_SENDER_ID "SE0000000000-SIM"
#define XML_CTYPE "text/xml; charset=UTF-8"

/* Request size caps: SOAP queries are a few hundred bytes. */
#define SIM_MAX_BODY 65536
#define SIM_MAX_HEADERS 16384
/* Longest date range one query may ask for (days, inclusive). */
#define SIM_MAX_RANGE_DAYS 366
/* Longest identifier we accept from a request (HSA-ids are <= 31). */
#define SIM_ID_MAX 64

#define TT_NEW_NAME "Nybesök fysioterapeut"
#define TT_NEW_ID "NYB"
#define TT_FOLLOWUP_NAME "Återbesök fysioterapeut"
#define TT_FOLLOWUP_ID "ATB"

/* Working hours (local wall time) and lunch, in minutes after midnight. */
#define DAY_OPEN_MIN (8 * 60)
#define DAY_CLOSE_MIN (16 * 60 + 30)
#define LUNCH_START_MIN (12 * 60)
#define LUNCH_END_MIN (13 * 60)
#define MAX_PRACT 4

/* --- profiles ------------------------------------------------------------ */

enum profile {
    P_NORMAL,
    P_BUSY,
    P_FULL,
    P_VP004,
    P_VP007,
    P_ERROR,
    P_GARBAGE,
    P_HOSTILE,
    P_HANG,
    P_HTTP503,
    P_HTTP429,
    P_RESET,
    P_TRUNCATED,
    P_HUGE,
    P_DRIP,
    P_FLAKY,
    P_GZIP_BOMB,
    P_REDIRECT_LOOP,
    P_REDIRECT_OFFSITE,
    P_SLOW_HEADERS,
    P_ENDLESS,
    P_BAD_LENGTH
};

static const struct {
    const char *name;
    enum profile p;
    int permille; /* share of (practitioner, time) pairs that are free */
} profiles[] = {
    { "normal", P_NORMAL, 250 },
    { "busy", P_BUSY, 40 },
    { "full", P_FULL, 0 },
    { "vp004", P_VP004, 0 },
    { "vp007", P_VP007, 0 },
    { "error", P_ERROR, 0 },
    { "garbage", P_GARBAGE, 0 },
    { "hostile", P_HOSTILE, 0 },
    { "hang", P_HANG, 0 },
    { "http503", P_HTTP503, 0 },
    /* Transport-level misbehaviour on top of a normal schedule. */
    { "http429", P_HTTP429, 250 },
    { "reset", P_RESET, 250 },
    { "truncated", P_TRUNCATED, 250 },
    { "huge", P_HUGE, 250 },
    { "drip", P_DRIP, 250 },
    { "flaky", P_FLAKY, 250 },
    /* Hostile transport: what the client's caps are for. */
    { "gzip-bomb", P_GZIP_BOMB, 250 },
    { "redirect-loop", P_REDIRECT_LOOP, 250 },
    { "redirect-offsite", P_REDIRECT_OFFSITE, 250 },
    { "slow-headers", P_SLOW_HEADERS, 250 },
    { "endless", P_ENDLESS, 250 },
    { "bad-length", P_BAD_LENGTH, 250 },
};

/* Index into profiles[] of a profile name (NULL = normal), or -1. */
static int profile_index(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *sim_profile_name(size_t i)
{
    return i < sizeof(profiles) / sizeof(profiles[0]) ? profiles[i].name : NULL;
}

/* --- seeded schedule ----------------------------------------------------- */

static const char *const first_names[] = {
    "Anna",    "Eva",    "Maria",  "Karin",   "Sara",  "Emma",   "Lena",
    "Kerstin", "Ingrid", "Elin",   "Johanna", "Malin", "Åsa",    "Linnea",
    "Sofia",   "Ida",    "Erik",   "Lars",    "Karl",  "Anders", "Johan",
    "Per",     "Mikael", "Nils",   "Olof",    "Björn", "Jonas",  "Magnus",
    "Fredrik", "Oskar",  "Gustav", "Jörgen",
};

static const char *const last_names[] = {
    "Andersson",   "Johansson", "Karlsson",   "Nilsson",   "Eriksson",
    "Larsson",     "Olsson",    "Persson",    "Svensson",  "Gustafsson",
    "Pettersson",  "Jonsson",   "Jansson",    "Hansson",   "Bengtsson",
    "Jönsson",     "Lindberg",  "Jakobsson",  "Magnusson", "Lindström",
    "Olofsson",    "Lindqvist", "Lindgren",   "Berg",      "Axelsson",
    "Bergström",   "Lundberg",  "Lundgren",   "Mattsson",  "Berglund",
    "Fredriksson", "Sandberg",  "Forsberg",   "Sjöberg",   "Wallin",
    "Engström",    "Eklund",    "Danielsson", "Håkansson", "Björk",
    "Bergman",     "Holm",      "Nyström",    "Holmberg",  "Löfgren",
    "Söderberg",   "Nyberg",    "Blomqvist",
};

#define NFIRST (sizeof(first_names) / sizeof(first_names[0]))
#define NLAST (sizeof(last_names) / sizeof(last_names[0]))

/* One splitmix64 step from x: a cheap, well-mixed 64-bit hash step. */
static uint64_t mix64(uint64_t x)
{
    return hash_splitmix64(&x);
}

static uint64_t hash2(uint64_t h, uint64_t v)
{
    return mix64(h ^ mix64(v));
}

/* FNV-1a of the upper-cased id: HSA-ids compare case-insensitively. */
static uint64_t id_hash(const char *id)
{
    uint64_t h = HASH_FNV1A_INIT;

    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        unsigned char c = *p;
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        h = hash_fnv1a(h, &c, 1);
    }
    return h;
}

/* Everything about one clinic's timebook that does not depend on the date. */
struct plan {
    uint64_t h;   /* hash of seed and clinic id */
    int slot_min; /* 30 or 45 */
    int npract;   /* 2..4 */
    int permille; /* free share per profile */
    const char *first[MAX_PRACT], *last[MAX_PRACT];
    char hsa[MAX_PRACT][CONF_HSA_ID_MAX + 1]; /* invented performer ids */
    char display[MAX_PRACT][64]; /* "Last, First" (struct avail_slot) */
    char full[MAX_PRACT][64];    /* "First Last" (RIV performerName) */
    const char *tt_id;           /* the clinic's bookable time type id */
    uint64_t epoch;              /* 0, or change epoch + 1 (change_every_s) */
};

static void plan_init(struct plan *p, uint32_t seed,
                      const struct conf_clinic *c)
{
    int pi = profile_index(c->sim_profile);
    char prefix[13] = "SE0000000000";
    size_t n;

    memset(p, 0, sizeof(*p));
    if (seed == 0)
        seed = 1;
    p->h = hash2(mix64(seed), id_hash(c->id != NULL ? c->id : ""));
    p->slot_min = (hash2(p->h, 1) & 1) ? 45 : 30;
    p->npract = 2 + (int)(hash2(p->h, 2) % 3);
    p->permille = pi < 0 ? profiles[0].permille : profiles[pi].permille;
    /* The simulated producer offers one new-visit type; honour the
     * clinic's configured id so that a poller asking for it finds it. */
    p->tt_id = (c->has_booking && c->booking.time_type_id != NULL &&
                c->booking.time_type_id[0] != '\0')
                   ? c->booking.time_type_id
                   : TT_NEW_ID;

    /* Performer ids share the clinic's "SE" + 10 digit organisation part. */
    n = c->id != NULL ? strlen(c->id) : 0;
    if (n >= 12 && (c->id[0] == 'S' || c->id[0] == 's') &&
        (c->id[1] == 'E' || c->id[1] == 'e') &&
        strspn(c->id + 2, "0123456789") >= 10) {
        memcpy(prefix, "SE", 2);
        memcpy(prefix + 2, c->id + 2, 10);
    }

    for (int i = 0; i < p->npract; i++) {
        /* Draw until the full name is new in this clinic. */
        for (uint64_t salt = 0;; salt++) {
            uint64_t r = hash2(p->h, 100 + (uint64_t)i * 1000 + salt);
            bool dup = false;
            p->first[i] = first_names[r % NFIRST];
            p->last[i] = last_names[(r >> 32) % NLAST];
            for (int j = 0; j < i; j++)
                if (p->first[j] == p->first[i] && p->last[j] == p->last[i])
                    dup = true;
            if (!dup)
                break;
        }
        snprintf(p->hsa[i], sizeof(p->hsa[i]), "%s-FT%d%04X", prefix, i + 1,
                 (unsigned)(hash2(p->h, 200 + (uint64_t)i) & 0xffff));
        snprintf(p->display[i], sizeof(p->display[i]), "%s, %s", p->last[i],
                 p->first[i]);
        snprintf(p->full[i], sizeof(p->full[i]), "%s %s", p->first[i],
                 p->last[i]);
    }
}

struct gen_slot {
    int64_t start, end;
    int pract;
};

struct gen_list {
    struct gen_slot *v;
    size_t n, cap;
};

static int gen_push(struct gen_list *l, int64_t start, int64_t end, int pract)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct gen_slot *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct gen_slot){ start, end, pract };
    return 0;
}

/* Instant of local wall time day + minute; -1 when it does not exist. */
static int local_instant(int32_t day, int minute, int64_t *out)
{
    struct clock_civil lt = { 0 };
    enum clock_local_result r;

    clock_civil_from_days(day, &lt.year, &lt.month, &lt.day);
    lt.hour = minute / 60;
    lt.min = minute % 60;
    r = clock_from_local(&lt, out);
    return (r == CLOCK_OK || r == CLOCK_AMBIGUOUS) ? 0 : -1;
}

/*
 * Append the free slots of plan p on local date `day` to l, ordered by
 * start time, then practitioner. Returns 0 or -1 (OOM).
 */
static int plan_day(const struct plan *p, int32_t day, struct gen_list *l)
{
    static const int blocks[2][2] = { { DAY_OPEN_MIN, LUNCH_START_MIN },
                                      { LUNCH_END_MIN, DAY_CLOSE_MIN } };

    if (p->permille <= 0 || !clock_is_working_day(day))
        return 0;
    for (int b = 0; b < 2; b++) {
        for (int m = blocks[b][0]; m + p->slot_min <= blocks[b][1];
             m += p->slot_min) {
            for (int i = 0; i < p->npract; i++) {
                uint64_t r = hash2(hash2(hash2(p->h, (uint64_t)(int64_t)day),
                                         (uint64_t)i),
                                   (uint64_t)m);
                int64_t start, end;
                /* Changing schedules: a new epoch redraws every time. */
                if (p->epoch != 0)
                    r = hash2(r, p->epoch);
                if ((int)(r % 1000) >= p->permille)
                    continue;
                if (local_instant(day, m, &start) != 0 ||
                    local_instant(day, m + p->slot_min, &end) != 0)
                    continue;
                if (gen_push(l, start, end, i) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* floor(now / every) + 1, or 0 when the schedule never changes. */
static uint64_t epoch_of(int change_every_s, int64_t now)
{
    int64_t q;

    if (change_every_s <= 0)
        return 0;
    q = now / change_every_s;
    if (now % change_every_s != 0 && now < 0)
        q--;
    return (uint64_t)q + 1;
}

/* Start instant of the epoch containing now (0 when never changing). */
static int64_t epoch_start(int change_every_s, int64_t now)
{
    if (change_every_s <= 0)
        return 0;
    return ((int64_t)epoch_of(change_every_s, now) - 1) * change_every_s;
}

static int schedule_day(uint32_t seed, const struct conf_clinic *clinic,
                        uint64_t epoch, int32_t day, struct avail_slots *out)
{
    struct plan p;
    struct gen_list l = { 0 };
    size_t n0 = out->n;
    int rc = 0;

    plan_init(&p, seed, clinic);
    p.epoch = epoch;
    if (plan_day(&p, day, &l) != 0) {
        rc = -1;
        goto out;
    }
    for (size_t k = 0; k < l.n; k++) {
        if (avail_slots_add(out, l.v[k].start, l.v[k].end,
                            p.display[l.v[k].pract], TT_NEW_NAME,
                            p.tt_id) != 0) {
            /* Leave the list as it was: drop what this call added. */
            avail_slots_truncate(out, n0);
            rc = -1;
            goto out;
        }
    }
out:
    free(l.v);
    return rc;
}

int sim_schedule_day(uint32_t seed, const struct conf_clinic *clinic,
                     int32_t day, struct avail_slots *out)
{
    return schedule_day(seed, clinic, 0, day, out);
}

int sim_schedule_day_at(uint32_t seed, const struct conf_clinic *clinic,
                        int change_every_s, int64_t now, int32_t day,
                        struct avail_slots *out)
{
    return schedule_day(seed, clinic, epoch_of(change_every_s, now), day, out);
}

/* --- server state -------------------------------------------------------- */

/* What to answer; body owned until sent. */
struct reply {
    int status;
    const char *reason;
    const char *ctype;
    struct evbuffer *body;
    bool hang;              /* never answer */
    bool reset;             /* close the connection with a TCP RST, no answer */
    bool allow_post;        /* add "Allow: POST" (405) */
    bool retry_after;       /* add "Retry-After" (503) */
    int retry_after_s;      /* > 0: "Retry-After: N" instead of 60 */
    int delay_ms;           /* wait before the first byte */
    int drip_bps;           /* > 0: send the body at this many bytes/s */
    long huge_bytes;        /* > 0: filler of this size follows the body */
    bool huge_json;         /* filler is JSON (else XML) */
    const char *etag;       /* static storage or NULL */
    char last_modified[40]; /* "" = none */
    char location[512];     /* "" = none; else a Location: header */
    bool gzip;              /* body is gzip: "Content-Encoding: gzip" */
    bool slow_headers;      /* status line, then header bytes at a drip */
    bool bad_length;        /* Content-Length beyond the body, then close */
};

/* A request whose reply is delayed, streamed or never sent. */
struct sim_job {
    struct sim *s;
    struct evhttp_request *req;      /* owned by libevent */
    struct evhttp_connection *evcon; /* the request's connection */
    struct event *timer;             /* delay / drip tick, or NULL */
    struct event *watch;             /* hang: notices the peer leaving */
    struct reply r;
    bool streaming;          /* reply started, chunks follow */
    bool closing;            /* bad-length: body out, close next */
    bool slow;               /* slow-headers: dripping headers */
    unsigned long slow_sent; /* header bytes dripped so far */
    long huge_left;          /* filler bytes still to make */
    struct sim_job *prev, *next;
};

struct sim {
    struct event_base *base;          /* borrowed */
    const struct conf_region *region; /* borrowed */
    struct evhttp *http;
    uint32_t seed;
    int latency_ms;
    int port;
    unsigned long requests;
    size_t npending;
    size_t max_inflight;
    struct sim_job *jobs;          /* delayed or hanging replies */
    struct sim_faults *faults;     /* per clinic (nclinics) */
    unsigned long *nreq;           /* per clinic request counter */
    char **base_path;              /* per clinic: booking.url path */
    struct sim_request_entry *log; /* paths owned */
    size_t nlog, caplog;
    unsigned char *bomb; /* gzip-bomb body, made on demand */
    size_t bomb_len;
    long bomb_inflated; /* what bomb inflates to */
    char offsite[256];  /* redirect-offsite target base */
};

static void job_unlink(struct sim_job *j)
{
    struct sim *s = j->s;

    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        s->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    s->npending--;
}

/* Unlink and free a job; never touches its request. */
static void job_free(struct sim_job *j)
{
    job_unlink(j);
    if (j->timer != NULL)
        event_free(j->timer);
    if (j->watch != NULL)
        event_free(j->watch);
    if (j->r.body != NULL)
        evbuffer_free(j->r.body);
    free(j);
}

static void add_headers(struct evhttp_request *req, const struct reply *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char ra[24];

    if (r->ctype != NULL)
        evhttp_add_header(h, "Content-Type", r->ctype);
    if (r->allow_post)
        evhttp_add_header(h, "Allow", "POST");
    if (r->retry_after) {
        snprintf(ra, sizeof(ra), "%d",
                 r->retry_after_s > 0 ? r->retry_after_s : 60);
        evhttp_add_header(h, "Retry-After", ra);
    }
    if (r->etag != NULL)
        evhttp_add_header(h, "ETag", r->etag);
    if (r->last_modified[0] != '\0')
        evhttp_add_header(h, "Last-Modified", r->last_modified);
    if (r->location[0] != '\0')
        evhttp_add_header(h, "Location", r->location);
    if (r->gzip)
        evhttp_add_header(h, "Content-Encoding", "gzip");
    evhttp_add_header(h, "Server", "slotfeed-sim");
}

static void send_now(struct sim *s, struct evhttp_request *req, struct reply *r)
{
    add_headers(req, r);
    evhttp_send_reply(req, r->status, r->reason, r->body);
    if (r->body != NULL) {
        evbuffer_free(r->body);
        r->body = NULL;
    }
    s->requests++;
}

/*
 * A connection is going away (client closed, error, or evhttp_free). The
 * request of a pending job on it is either still attached (libevent frees
 * it right after this callback) or was detached by libevent when it saw
 * EOF (then nobody else will free it). Either way our job must go.
 */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct sim *s = arg;
    struct sim_job *j = s->jobs, *next;

    for (; j != NULL; j = next) {
        next = j->next;
        if (j->evcon != evcon)
            continue;
        if (evhttp_request_get_connection(j->req) == NULL)
            evhttp_request_free(j->req);
        job_free(j);
    }
}

/* Chunk size of a drip tick (10 ticks a second). */
#define DRIP_TICK_MS 100
/* Filler chunk of a huge body: made when the previous one has left. */
#define HUGE_CHUNK 65536

/* The last bytes are out: end the reply. Frees j first (see below). */
static void stream_end(struct sim_job *j)
{
    struct sim *s = j->s;
    struct evhttp_request *req = j->req;

    /* Ending may close the connection at once, which would run
     * on_conn_close on a job we still hold: drop the job first. */
    job_free(j);
    s->requests++;
    evhttp_send_reply_end(req);
}

/* Append up to n filler bytes of a huge body to b; returns the count. */
static size_t huge_fill(struct evbuffer *b, bool json, size_t n)
{
    static const char jpad[] =
        "{\"resource\":{\"resourceType\":\"Basic\",\"id\":\"pad\"}},";
    static const char xpad[] = "<pad>slotfeed-sim filler</pad>";
    const char *pad = json ? jpad : xpad;
    size_t plen = json ? sizeof(jpad) - 1 : sizeof(xpad) - 1, done = 0;

    while (done + plen <= n) {
        evbuffer_add(b, pad, plen);
        done += plen;
    }
    /* The odd tail is blanks: harmless between elements. */
    for (; done < n; done++)
        evbuffer_add(b, " ", 1);
    return done;
}

static void on_huge_sent(struct evhttp_connection *evcon, void *arg);

/* Send the next filler chunk of a huge body, or end it. */
static void huge_next(struct sim_job *j)
{
    struct evbuffer *b;
    size_t n;

    if (j->huge_left <= 0) {
        stream_end(j);
        return;
    }
    b = evbuffer_new();
    if (b == NULL) {
        stream_end(j); /* a short body; the client sees it cut */
        return;
    }
    n = j->huge_left > HUGE_CHUNK ? HUGE_CHUNK : (size_t)j->huge_left;
    j->huge_left -= (long)huge_fill(b, j->r.huge_json, n);
    evhttp_send_reply_chunk_with_cb(j->req, b, on_huge_sent, j);
    evbuffer_free(b);
}

/* The previous chunk has reached the socket: make the next one. Only
 * then, so a huge body never sits in memory. */
static void on_huge_sent(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    huge_next(arg);
}

/* One drip tick: a few bytes of the body (then of the filler), re-arm. */
static void drip_tick(struct sim_job *j)
{
    size_t per = (size_t)j->r.drip_bps * DRIP_TICK_MS / 1000;
    struct evbuffer *b = evbuffer_new();
    struct timeval tv = { 0, DRIP_TICK_MS * 1000 };
    size_t have;

    if (per == 0)
        per = 1;
    if (b == NULL) {
        stream_end(j);
        return;
    }
    have = evbuffer_get_length(j->r.body);
    if (have > 0) {
        evbuffer_remove_buffer(j->r.body, b, per < have ? per : have);
    } else if (j->huge_left > 0) {
        size_t n = (size_t)j->huge_left < per ? (size_t)j->huge_left : per;
        j->huge_left -= (long)huge_fill(b, j->r.huge_json, n);
    } else {
        evbuffer_free(b);
        stream_end(j);
        return;
    }
    evhttp_send_reply_chunk(j->req, b);
    evbuffer_free(b);
    evtimer_add(j->timer, &tv);
}

/* Start a streamed reply: drip or huge (or both). */
static void stream_start(struct sim_job *j)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
    char cl[24];

    add_headers(j->req, &j->r);
    j->streaming = true;
    j->huge_left = j->r.huge_bytes;
    /* A known length is sent as such (a drip then looks like a healthy
     * but slow answer); a huge body is chunked, its end unknown. */
    if (j->huge_left <= 0) {
        snprintf(cl, sizeof(cl), "%zu", evbuffer_get_length(j->r.body));
        evhttp_add_header(h, "Content-Length", cl);
    }
    evhttp_send_reply_start(j->req, j->r.status, j->r.reason);
    if (j->r.drip_bps > 0) {
        drip_tick(j);
        return;
    }
    /* Huge: the head of the answer, then filler as the socket drains. */
    evhttp_send_reply_chunk(j->req, j->r.body);
    huge_next(j);
}

/* Close the connection with an RST instead of answering. */
static void job_reset(struct sim_job *j)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(j->evcon);
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    struct linger lg = { 1, 0 };

    struct evhttp_connection *evcon = j->evcon;

    /* evhttp would shut the socket down (FIN) before closing it; a close
     * with zero linger time sends the RST first. evhttp's own close then
     * finds the descriptor gone, which it does not mind, and nothing can
     * reuse the number in between (one thread). */
    event_del(j->timer);
    if (fd >= 0) {
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    evhttp_connection_free(evcon); /* frees j via on_conn_close */
}

/* The connection's descriptor, or -1. */
static evutil_socket_t job_fd(const struct sim_job *j)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(j->evcon);

    return bev != NULL ? bufferevent_getfd(bev) : -1;
}

/*
 * slow-headers: evhttp only writes whole heads, so the status line and
 * the header bytes go straight to the socket (its output buffer is empty:
 * nothing of this reply was queued). One header byte a tick, a new
 * header line every 16 bytes, never the blank line that ends the head.
 * The peer leaving is noticed by the job's watch (on_hang_readable) or
 * by a failing send; either frees the connection and with it the job.
 */
static void slow_tick(struct sim_job *j)
{
    static const char status[] = "HTTP/1.1 200 OK\r\n";
    struct timeval tv = { 0, DRIP_TICK_MS * 1000 };
    evutil_socket_t fd = job_fd(j);
    char line[24];
    const char *out;
    size_t n;

    if (!j->slow) {
        j->slow = true;
        out = status;
        n = sizeof(status) - 1;
    } else {
        unsigned long k = j->slow_sent % 16;

        /* "X-Pad-NNNN: ....\r\n": emitted one byte per tick */
        snprintf(line, sizeof(line), "X-Pad-%04lu: aa\r\n",
                 (j->slow_sent / 16) % 10000);
        out = line + k;
        n = 1;
        j->slow_sent++;
    }
    if (fd < 0 || send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        evhttp_connection_free(j->evcon); /* frees j via on_conn_close */
        return;
    }
    evtimer_add(j->timer, &tv);
}

static void on_bad_length_sent(struct evhttp_connection *evcon, void *arg)
{
    struct sim_job *j = arg;
    struct timeval zero = { 0, 0 };

    (void)evcon;
    /* Not from inside evhttp's write callback: close on the next turn. */
    j->closing = true;
    evtimer_add(j->timer, &zero);
}

/*
 * bad-length: promise more than the body (Content-Length twice its size
 * plus 1 KiB), send the body, then close the connection (FIN).
 */
static void bad_length_start(struct sim_job *j)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
    size_t n = evbuffer_get_length(j->r.body);
    char cl[24];

    add_headers(j->req, &j->r);
    snprintf(cl, sizeof(cl), "%zu", 2 * n + 1024);
    evhttp_add_header(h, "Content-Length", cl);
    evhttp_send_reply_start(j->req, j->r.status, j->r.reason);
    j->streaming = true;
    j->s->requests++;
    if (n == 0) {
        on_bad_length_sent(j->evcon, j);
        return;
    }
    evhttp_send_reply_chunk_with_cb(j->req, j->r.body, on_bad_length_sent, j);
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sim_job *j = arg;
    struct sim *s = j->s;
    struct evhttp_request *req = j->req;
    struct reply r = j->r;

    (void)fd;
    (void)what;
    if (j->closing) {
        evhttp_connection_free(j->evcon); /* frees j via on_conn_close */
        return;
    }
    if (j->r.slow_headers) {
        slow_tick(j);
        return;
    }
    if (j->r.bad_length) {
        bad_length_start(j);
        return;
    }
    if (j->streaming) {
        drip_tick(j);
        return;
    }
    if (j->r.reset) {
        job_reset(j);
        return;
    }
    if (j->r.drip_bps > 0 || j->r.huge_bytes > 0) {
        stream_start(j);
        return;
    }
    j->r.body = NULL; /* handed to send_now */
    job_free(j);
    send_now(s, req, &r);
}

/*
 * evhttp stops reading a connection while its request is being answered,
 * so it would not notice a client that gives up on a hanging request. We
 * watch the socket ourselves: EOF or an error means the client is gone,
 * and freeing the connection runs on_conn_close, which frees the job.
 */
static void on_hang_readable(evutil_socket_t fd, short what, void *arg)
{
    struct sim_job *j = arg;
    char c;
    ssize_t n;

    (void)what;
    n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 ||
        (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        evhttp_connection_free(j->evcon); /* frees j via on_conn_close */
        return;
    }
    /* Spurious wake-up: watch on. Pipelined bytes: stop watching (the
     * request stays pending until sim_free) rather than spin. */
    if (n < 0)
        event_add(j->watch, NULL);
}

/* Does r need a job (anything but an immediate plain answer)? */
static bool needs_job(const struct reply *r)
{
    return r->hang || r->reset || r->delay_ms > 0 || r->drip_bps > 0 ||
           r->huge_bytes > 0 || r->slow_headers || r->bad_length;
}

/* Park req in a job: delayed, streamed (timer) or hanging (watch). The
 * timer fires after delay_ms (0: on the next loop turn). -1 on OOM. */
static int job_start(struct sim *s, struct evhttp_request *req, struct reply *r)
{
    struct sim_job *j = calloc(1, sizeof(*j));
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (j == NULL || evcon == NULL) {
        free(j);
        return -1;
    }
    j->s = s;
    j->req = req;
    j->evcon = evcon;
    if (r->hang || r->slow_headers) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
        evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
        if (fd >= 0)
            j->watch = event_new(s->base, fd, EV_READ, on_hang_readable, j);
        if (j->watch == NULL || event_add(j->watch, NULL) != 0)
            goto fail;
    }
    if (!r->hang) {
        struct timeval tv = { r->delay_ms / 1000, (r->delay_ms % 1000) * 1000 };
        j->timer = evtimer_new(s->base, on_job_timer, j);
        if (j->timer == NULL || evtimer_add(j->timer, &tv) != 0)
            goto fail;
    }
    j->r = *r;
    r->body = NULL;
    evhttp_connection_set_closecb(evcon, on_conn_close, s);
    j->next = s->jobs;
    if (s->jobs != NULL)
        s->jobs->prev = j;
    s->jobs = j;
    s->npending++;
    return 0;
fail:
    if (j->watch != NULL)
        event_free(j->watch);
    if (j->timer != NULL)
        event_free(j->timer);
    free(j);
    return -1;
}

/* --- building replies ---------------------------------------------------- */

/* Append s as XML character data (text or attribute value). */
static void add_escaped(struct evbuffer *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        default:
            /* Control characters are not XML; drop them. */
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' &&
                *s != '\r')
                rep = "";
        }
        if (rep != NULL) {
            evbuffer_add(b, run, (size_t)(s - run));
            evbuffer_add(b, rep, strlen(rep));
            run = s + 1;
        }
    }
    evbuffer_add(b, run, (size_t)(s - run));
}

static void add_elem(struct evbuffer *b, const char *tag, const char *text)
{
    evbuffer_add_printf(b, "<%s>", tag);
    add_escaped(b, text);
    evbuffer_add_printf(b, "</%s>", tag);
}

static void soap_open(struct evbuffer *b)
{
    evbuffer_add_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                           "<soap:Envelope xmlns:soap=\"" SOAP_NS "\">"
                           "<soap:Header/><soap:Body>");
}

static void soap_close(struct evbuffer *b)
{
    evbuffer_add_printf(b, "</soap:Body></soap:Envelope>\n");
}

static void set_xml(struct reply *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    r->ctype = XML_CTYPE;
}

/* A SOAP 1.1 Fault, HTTP 500. code is "Server" or "Client". */
static void __attribute__((format(printf, 3, 4)))
set_fault(struct reply *r, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
    soap_open(r->body);
    evbuffer_add_printf(r->body,
                        "<soap:Fault><faultcode>soap:%s</faultcode>"
                        "<faultstring>",
                        code);
    add_escaped(r->body, msg);
    evbuffer_add_printf(r->body, "</faultstring></soap:Fault>");
    soap_close(r->body);
    set_xml(r, 500, "Internal Server Error");
}

static void set_text(struct reply *r, int status, const char *reason,
                     const char *text)
{
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
    evbuffer_add(r->body, text, strlen(text));
    r->status = status;
    r->reason = reason;
    r->ctype = "text/plain; charset=UTF-8";
}

static void add_ts(struct evbuffer *b, const char *tag, int64_t t)
{
    struct clock_civil lt;

    clock_to_local(t, &lt, NULL);
    evbuffer_add_printf(b, "<%s>%04d%02d%02d%02d%02d%02d</%s>", tag, lt.year,
                        lt.month, lt.day, lt.hour, lt.min, lt.sec, tag);
}

static void add_extension(struct evbuffer *b, const struct sim *s)
{
    evbuffer_add_printf(
        b,
        "<x:simInfo xmlns:x=\"" EXT_NS "\"><x:generator>slotfeed-sim"
        "</x:generator><x:seed>%u</x:seed><x:note><x:text>unknown elements"
        " from other namespaces must be skipped</x:text></x:note>"
        "</x:simInfo>",
        (unsigned)s->seed);
}

/* --- parsing requests ---------------------------------------------------- */

enum contract {
    C_DATES,
    C_SLOTS,
    C_TYPES,
    C_COUNT
};

static const char *const contract_names[C_COUNT] = { "GetAvailableDates",
                                                     "GetAvailableTimeslots",
                                                     "GetAllTimeTypes" };

/* Contract named by a path ending in /crm/scheduling/<C>/1/rivtabp21. */
static int path_contract(const char *path)
{
    static const char tail[] = "/1/rivtabp21";
    static const char head[] = "/crm/scheduling/";
    size_t n = strlen(path), nt = sizeof(tail) - 1, nh = sizeof(head) - 1;

    if (n < nt || strcmp(path + n - nt, tail) != 0)
        return -1;
    for (int c = 0; c < C_COUNT; c++) {
        size_t nc = strlen(contract_names[c]);
        if (n < nt + nc + nh)
            continue;
        if (memcmp(path + n - nt - nc, contract_names[c], nc) == 0 &&
            memcmp(path + n - nt - nc - nh, head, nh) == 0)
            return c;
    }
    return -1;
}

static bool is_elem(const xmlNode *n, const char *ns, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           strcmp((const char *)n->ns->href, ns) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNode *first_elem(xmlNode *n)
{
    for (; n != NULL; n = n->next)
        if (n->type == XML_ELEMENT_NODE)
            return n;
    return NULL;
}

static xmlNode *find_child(xmlNode *parent, const char *ns, const char *name)
{
    if (parent == NULL)
        return NULL;
    for (xmlNode *c = parent->children; c != NULL; c = c->next)
        if (is_elem(c, ns, name))
            return c;
    return NULL;
}

/*
 * Trimmed text of element n into buf. Returns 0, -1 when n is NULL or the
 * text is empty, -2 when it does not fit.
 */
static int elem_text(xmlNode *n, char *buf, size_t size)
{
    xmlChar *t;
    const char *p, *e;
    int rc = 0;

    if (n == NULL)
        return -1;
    t = xmlNodeGetContent(n);
    if (t == NULL)
        return -1;
    p = (const char *)t;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    e = p + strlen(p);
    while (e > p &&
           (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    if (e == p)
        rc = -1;
    else if ((size_t)(e - p) >= size)
        rc = -2;
    else {
        memcpy(buf, p, (size_t)(e - p));
        buf[e - p] = '\0';
    }
    xmlFree(t);
    return rc;
}

/* SOAP 1.1 forbids a DTD: stop the parser at the first sign of one. */
static void on_internal_subset(void *ctx, const xmlChar *name,
                               const xmlChar *ext_id, const xmlChar *sys_id)
{
    xmlParserCtxtPtr ctxt = ctx;

    (void)name;
    (void)ext_id;
    (void)sys_id;
    *(bool *)ctxt->_private = true;
    xmlStopParser(ctxt);
}

enum parse_result {
    PARSE_OK,
    PARSE_BAD,
    PARSE_DTD
};

/*
 * Parse a request body: from memory, no network, no entity substitution,
 * no DTD loading, and no DTD at all. *doc gets a tree the caller frees.
 */
static enum parse_result parse_xml(const char *body, size_t len, xmlDoc **doc)
{
    xmlParserCtxtPtr ctxt;
    bool saw_dtd = false;
    enum parse_result rc = PARSE_BAD;

    *doc = NULL;
    if (len == 0 || len > INT32_MAX)
        return PARSE_BAD;
    ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
    if (ctxt == NULL)
        return PARSE_BAD;
    ctxt->_private = &saw_dtd;
    ctxt->sax->internalSubset = on_internal_subset;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                XML_PARSE_NOWARNING);
    xmlParseDocument(ctxt);
    if (saw_dtd)
        rc = PARSE_DTD;
    else if (ctxt->wellFormed && ctxt->myDoc != NULL) {
        rc = PARSE_OK;
        *doc = ctxt->myDoc;
        ctxt->myDoc = NULL;
    }
    if (ctxt->myDoc != NULL)
        xmlFreeDoc(ctxt->myDoc);
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    return rc;
}

/* --- answering ----------------------------------------------------------- */

static const struct conf_clinic *find_clinic(const struct sim *s,
                                             const char *id)
{
    for (size_t i = 0; i < s->region->nclinics; i++) {
        const struct conf_clinic *c = &s->region->clinics[i];
        if (c->id != NULL && strcasecmp(c->id, id) == 0)
            return c;
    }
    return NULL;
}

static uint64_t clinic_epoch(const struct sim *s, const struct conf_clinic *c,
                             int64_t now)
{
    return epoch_of(s->faults[c - s->region->clinics].change_every_s, now);
}

/* The query fields the simulated producer looks at. */
struct query {
    int32_t first, last;    /* inclusive local dates */
    char tt_id[SIM_ID_MAX]; /* requested timeTypeID or "" */
    char performers[MAX_PRACT * 2][SIM_ID_MAX];
    int nperformers; /* 0 = all; > capacity is refused */
};

static bool performer_wanted(const struct query *q, const char *hsa)
{
    if (q->nperformers == 0)
        return true;
    for (int i = 0; i < q->nperformers; i++)
        if (strcasecmp(q->performers[i], hsa) == 0)
            return true;
    return false;
}

/* Free, not yet passed slots of clinic for q into l. -1 on OOM. */
static int query_slots(const struct plan *p, const struct query *q,
                       struct gen_list *l)
{
    int64_t now = clock_now();
    size_t w = 0;

    if (q->tt_id[0] != '\0' && strcmp(q->tt_id, p->tt_id) != 0)
        return 0;
    for (int32_t d = q->first; d <= q->last; d++) {
        size_t from = l->n;
        if (plan_day(p, d, l) != 0)
            return -1;
        /* Passed times are not offered (TKB); nor other performers. */
        w = from;
        for (size_t k = from; k < l->n; k++)
            if (l->v[k].start > now &&
                performer_wanted(q, p->hsa[l->v[k].pract]))
                l->v[w++] = l->v[k];
        l->n = w;
    }
    return 0;
}

/* The clinic's plan now and its slots for q into *l (the caller frees
 * l->v). -1 with a SOAP fault in r on allocation failure. */
static int answer_query(const struct sim *s, const struct conf_clinic *c,
                        const struct query *q, struct plan *p,
                        struct gen_list *l, struct reply *r)
{
    plan_init(p, s->seed, c);
    p->epoch = clinic_epoch(s, c, clock_now());
    if (query_slots(p, q, l) != 0) {
        set_fault(r, "Server", "out of memory");
        return -1;
    }
    return 0;
}

static void answer_slots(struct sim *s, const struct conf_clinic *c,
                         const struct query *q, struct reply *r)
{
    struct plan p;
    struct gen_list l = { 0 };

    if (answer_query(s, c, q, &p, &l, r) != 0)
        goto out;
    soap_open(r->body);
    evbuffer_add_printf(
        r->body,
        "<GetAvailableTimeslotsResponse xmlns=\"urn:riv:crm:scheduling:"
        "GetAvailableTimeslotsResponder:1\" xmlns:c=\"" CORE_NS "\">");
    for (size_t k = 0; k < l.n; k++) {
        const struct gen_slot *g = &l.v[k];
        evbuffer_add_printf(r->body, "<timeslotDetail>");
        add_ts(r->body, "c:startTimeInclusive", g->start);
        add_ts(r->body, "c:endTimeExclusive", g->end);
        add_elem(r->body, "c:healthcare_facility", c->id);
        add_elem(r->body, "c:performer", p.hsa[g->pract]);
        if (c->name != NULL)
            add_elem(r->body, "c:healthcare_facility_name", c->name);
        add_elem(r->body, "c:performerName", p.full[g->pract]);
        add_elem(r->body, "c:timeTypeName", TT_NEW_NAME);
        add_elem(r->body, "c:timeTypeID", p.tt_id);
        evbuffer_add_printf(r->body, "</timeslotDetail>");
    }
    if (l.n > 0)
        add_extension(r->body, s);
    evbuffer_add_printf(r->body, "</GetAvailableTimeslotsResponse>");
    soap_close(r->body);
    set_xml(r, 200, "OK");
out:
    free(l.v);
}

static void answer_dates(struct sim *s, const struct conf_clinic *c,
                         const struct query *q, struct reply *r)
{
    struct plan p;
    struct gen_list l = { 0 };
    bool first = true;

    if (answer_query(s, c, q, &p, &l, r) != 0)
        goto out;
    soap_open(r->body);
    evbuffer_add_printf(
        r->body, "<GetAvailableDatesResponse xmlns=\"urn:riv:crm:scheduling:"
                 "GetAvailableDatesResponder:1\">");
    /* l is ordered by date; one element per (date, practitioner). */
    for (size_t k = 0; k < l.n;) {
        int32_t day = clock_local_day(l.v[k].start);
        bool has[MAX_PRACT] = { false };
        char dt[9];
        for (; k < l.n && clock_local_day(l.v[k].start) == day; k++)
            has[l.v[k].pract] = true;
        clock_format_riv_date(day, dt);
        for (int i = 0; i < p.npract; i++) {
            if (!has[i])
                continue;
            evbuffer_add_printf(r->body, "<performerAvailabilityByDate>");
            add_elem(r->body, "healthcare_facility", c->id);
            add_elem(r->body, "performer", p.hsa[i]);
            add_elem(r->body, "date", dt);
            add_elem(r->body, "timeTypeName", TT_NEW_NAME);
            add_elem(r->body, "timeTypeID", p.tt_id);
            if (first)
                add_extension(r->body, s);
            first = false;
            evbuffer_add_printf(r->body, "</performerAvailabilityByDate>");
        }
    }
    if (!first)
        add_extension(r->body, s);
    evbuffer_add_printf(r->body, "</GetAvailableDatesResponse>");
    soap_close(r->body);
    set_xml(r, 200, "OK");
out:
    free(l.v);
}

static void answer_types(struct sim *s, const struct conf_clinic *c,
                         struct reply *r)
{
    struct plan p;

    plan_init(&p, s->seed, c);
    soap_open(r->body);
    evbuffer_add_printf(
        r->body, "<GetAllTimeTypesResponse xmlns=\"urn:riv:crm:scheduling:"
                 "GetAllTimeTypesResponder:1\" xmlns:c=\"" CORE_NS "\">");
    evbuffer_add_printf(r->body, "<ListOfTimeTypes>");
    add_elem(r->body, "c:timeTypeName", TT_NEW_NAME);
    add_elem(r->body, "c:timeTypeId", p.tt_id);
    evbuffer_add_printf(r->body, "</ListOfTimeTypes><ListOfTimeTypes>");
    add_elem(r->body, "c:timeTypeName", TT_FOLLOWUP_NAME);
    add_elem(r->body, "c:timeTypeId", TT_FOLLOWUP_ID);
    evbuffer_add_printf(r->body, "</ListOfTimeTypes>");
    add_extension(r->body, s);
    evbuffer_add_printf(r->body, "</GetAllTimeTypesResponse>");
    soap_close(r->body);
    set_xml(r, 200, "OK");
}

/* A 200 that is not XML at all (a proxy's error page cut short). */
static void answer_garbage(struct reply *r)
{
    static const char g[] =
        "<soap:Envelope xmlns:soap=\"" SOAP_NS "\"><soap:Body>"
        "<GetAvailableTimeslotsResponse><timeslotDetail><<<\x01\x02"
        " proxy error: upstream reset \xff\xfe {\"not\": xml}";
    evbuffer_add(r->body, g, sizeof(g) - 1);
    set_xml(r, 200, "OK");
}

/* A 200 whose DTD declares an external entity and an entity bomb. */
static void answer_hostile(int contract, struct reply *r)
{
    evbuffer_add_printf(
        r->body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE soap:Envelope [\n"
        "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
        "  <!ENTITY net SYSTEM \"http://127.0.0.1:1/x.dtd\">\n"
        "  <!ENTITY a \"ha!ha!ha!ha!ha!ha!ha!ha!ha!ha!\">\n"
        "  <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
        "  <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
        "  <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
        "  <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
        "  <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
        "  <!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
        "  <!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n"
        "  <!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">\n"
        "]>\n"
        "<soap:Envelope xmlns:soap=\"" SOAP_NS "\"><soap:Body>"
        "<%sResponse xmlns=\"urn:riv:crm:scheduling:%sResponder:1\""
        " xmlns:c=\"" CORE_NS "\">",
        contract_names[contract], contract_names[contract]);
    if (contract == C_DATES)
        evbuffer_add_printf(
            r->body, "<performerAvailabilityByDate><healthcare_facility>&xxe;"
                     "</healthcare_facility><performer>&net;</performer>"
                     "<date>20300101</date><timeTypeName>&i;</timeTypeName>"
                     "</performerAvailabilityByDate>");
    else if (contract == C_SLOTS)
        evbuffer_add_printf(
            r->body, "<timeslotDetail><c:startTimeInclusive>20300101080000"
                     "</c:startTimeInclusive><c:endTimeExclusive>20300101083000"
                     "</c:endTimeExclusive><c:healthcare_facility>&xxe;"
                     "</c:healthcare_facility><c:performer>&net;</c:performer>"
                     "<c:performerName>&i;</c:performerName></timeslotDetail>");
    else
        evbuffer_add_printf(
            r->body, "<ListOfTimeTypes><c:timeTypeName>&i;</c:timeTypeName>"
                     "<c:timeTypeId>&xxe;</c:timeTypeId></ListOfTimeTypes>");
    evbuffer_add_printf(r->body, "</%sResponse></soap:Body></soap:Envelope>\n",
                        contract_names[contract]);
    set_xml(r, 200, "OK");
}

/* Read the body's query fields; sets a Client fault and returns -1. */
static int read_query(xmlNode *payload, int contract, const char *resp_ns,
                      struct query *q, struct reply *r)
{
    char start[16], end[16];
    int rc;

    memset(q, 0, sizeof(*q));
    if (contract == C_TYPES)
        return 0;
    if (elem_text(find_child(payload, resp_ns, "startDateInclusive"), start,
                  sizeof(start)) != 0 ||
        clock_parse_riv_date(start, &q->first) != 0) {
        set_fault(r, "Client",
                  "startDateInclusive is missing or not a "
                  "date (YYYYMMDD)");
        return -1;
    }
    if (elem_text(find_child(payload, resp_ns, "endDateInclusive"), end,
                  sizeof(end)) != 0 ||
        clock_parse_riv_date(end, &q->last) != 0) {
        set_fault(r, "Client",
                  "endDateInclusive is missing or not a date "
                  "(YYYYMMDD)");
        return -1;
    }
    if (q->last < q->first) {
        set_fault(r, "Client",
                  "endDateInclusive %s is before "
                  "startDateInclusive %s",
                  end, start);
        return -1;
    }
    if ((int64_t)q->last - q->first >= SIM_MAX_RANGE_DAYS) {
        set_fault(r, "Client", "date range %s-%s is longer than %d days", start,
                  end, SIM_MAX_RANGE_DAYS);
        return -1;
    }
    rc = elem_text(find_child(payload, resp_ns, "timeTypeID"), q->tt_id,
                   sizeof(q->tt_id));
    if (rc == -2) {
        set_fault(r, "Client", "timeTypeID is too long");
        return -1;
    }
    for (xmlNode *n = payload->children; n != NULL; n = n->next) {
        if (!is_elem(n, resp_ns, "performer"))
            continue;
        if (q->nperformers ==
            (int)(sizeof(q->performers) / sizeof(q->performers[0]))) {
            set_fault(r, "Client", "too many performer elements");
            return -1;
        }
        if (elem_text(n, q->performers[q->nperformers], SIM_ID_MAX) != 0) {
            set_fault(r, "Client", "performer is empty or too long");
            return -1;
        }
        q->nperformers++;
    }
    return 0;
}

/* answer_soap, the platform's part: the answer a clinic's sim profile
 * gives instead of the producer's (VP007, 503, hang, faults, garbage).
 * True when r is that answer. */
static bool platform_refuses(const struct conf_clinic *c, int pi, int contract,
                             const char *resp_ns, const char *la,
                             struct reply *r)
{
    switch (profiles[pi].p) {
    case P_VP007:
        set_fault(r, "Server",
                  "VP007 Authorization missing for "
                  "serviceNamespace: %s, receiverId: %s, senderId: %s",
                  resp_ns, la, SIM_SENDER_ID);
        return true;
    case P_HTTP503:
        set_text(r, 503, "Service Unavailable",
                 "503 Service Unavailable: producer is down for "
                 "maintenance\n");
        r->retry_after = true;
        return true;
    case P_HANG:
        r->hang = true;
        return true;
    case P_ERROR:
        set_fault(r, "Server",
                  "Internal error in producer: timebook "
                  "database unavailable (clinic %s)",
                  c->id);
        return true;
    case P_GARBAGE:
        answer_garbage(r);
        return true;
    case P_HOSTILE:
        answer_hostile(contract, r);
        return true;
    default:
        return false;
    }
}

/* The VP and producer logic for one POST to contract `contract`. */
static void answer_soap(struct sim *s, int contract, const char *body,
                        size_t len, struct reply *r, long *ci)
{
    char resp_ns[96], ext_ns[96], la[SIM_ID_MAX], hf[SIM_ID_MAX],
        soc[SIM_ID_MAX];
    xmlDoc *doc = NULL;
    xmlNode *env, *header, *sbody, *payload;
    const struct conf_clinic *c;
    struct query q;
    enum parse_result pr;
    int pi, rc;

    snprintf(resp_ns, sizeof(resp_ns), RESP_NS_FMT, contract_names[contract]);
    snprintf(ext_ns, sizeof(ext_ns), "%s.1", resp_ns);

    pr = parse_xml(body, len, &doc);
    if (pr == PARSE_DTD) {
        set_fault(r, "Client",
                  "request refused: a SOAP message must not "
                  "contain a document type declaration");
        goto out;
    }
    if (pr != PARSE_OK) {
        set_fault(r, "Client", "request is not well-formed XML");
        goto out;
    }
    env = xmlDocGetRootElement(doc);
    if (!is_elem(env, SOAP_NS, "Envelope")) {
        set_fault(r, "Client", "request is not a SOAP 1.1 Envelope");
        goto out;
    }
    header = find_child(env, SOAP_NS, "Header");
    sbody = find_child(env, SOAP_NS, "Body");

    /* The platform: route by LogicalAddress, check authorisation. */
    rc =
        elem_text(find_child(header, REG_NS, "LogicalAddress"), la, sizeof(la));
    if (rc != 0) {
        set_fault(
            r, "Server",
            rc == -2 ? "VP003 No receiverId (logical address) found in message "
                       "header (too long)"
                     : "VP003 No receiverId (logical address) found in message "
                       "header");
        goto out;
    }
    c = find_clinic(s, la);
    if (c != NULL)
        *ci = (long)(c - s->region->clinics);
    pi = c != NULL ? profile_index(c->sim_profile) : -1;
    if (c == NULL || profiles[pi].p == P_VP004) {
        set_fault(r, "Server",
                  "VP004 No Logical Adress found for "
                  "serviceNamespace:%s, receiverId:%s",
                  resp_ns, la);
        goto out;
    }
    if (platform_refuses(c, pi, contract, resp_ns, la, r))
        goto out;

    /* The producer: validate the query like the reference producer. */
    payload = sbody != NULL ? first_elem(sbody->children) : NULL;
    if (!is_elem(payload, resp_ns, contract_names[contract])) {
        set_fault(r, "Client", "expected {%s}%s in the SOAP Body", resp_ns,
                  contract_names[contract]);
        goto out;
    }
    rc = elem_text(find_child(payload, resp_ns, "healthcare_facility"), hf,
                   sizeof(hf));
    if (rc != 0) {
        set_fault(r, "Client", "healthcare_facility is missing");
        goto out;
    }
    if (strcasecmp(hf, la) != 0) {
        set_fault(r, "Server",
                  "healthcare_facility %s does not match "
                  "LogicalAddress %s",
                  hf, la);
        goto out;
    }
    rc = elem_text(find_child(payload, ext_ns, "subject_of_care"), soc,
                   sizeof(soc));
    if (rc != 0) {
        set_fault(r, "Client",
                  "subject_of_care ({%s}subject_of_care) is "
                  "missing",
                  ext_ns);
        goto out;
    }
    /* Never echo the personnummer: it is personal data. */
    if (strlen(soc) != 12 || strspn(soc, "0123456789") < 8 ||
        strchr("0123456789pPtTfF", soc[8]) == NULL ||
        strspn(soc + 9, "0123456789") != 3) {
        set_fault(r, "Client",
                  "subject_of_care is not a valid "
                  "personnummer or samordningsnummer");
        goto out;
    }
    if (read_query(payload, contract, resp_ns, &q, r) != 0)
        goto out;

    switch (contract) {
    case C_DATES:
        answer_dates(s, c, &q, r);
        break;
    case C_SLOTS:
        answer_slots(s, c, &q, r);
        break;
    default:
        answer_types(s, c, r);
        break;
    }
out:
    xmlFreeDoc(doc);
}

/* --- JSON helpers (FHIR, SMART) ------------------------------------------ */

#define FHIR_CTYPE "application/fhir+json"
#define NDJSON_CTYPE "application/fhir+ndjson"
#define JSON_CTYPE "application/json"
#define FHIR_ADAPTER "fhir-slot"
#define SMART_ADAPTER "smart-bulk"
#define FHIR_DEFAULT_COUNT 100
#define FHIR_MAX_COUNT 1000
#define SMART_EXT_BASE                        \
    "http://fhir-registry.smarthealthit.org/" \
    "StructureDefinition/"

/* Append s as the inside of a JSON string. */
static void add_jstr(struct evbuffer *b, const char *s)
{
    const char *run = s;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        evbuffer_add(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            evbuffer_add_printf(b, "\\%c", c);
        else
            evbuffer_add_printf(b, "\\u%04x", c);
        run = s + 1;
    }
    evbuffer_add(b, run, (size_t)(s - run));
}

static void set_json(struct reply *r, int status, const char *reason,
                     const char *ctype)
{
    r->status = status;
    r->reason = reason;
    r->ctype = ctype;
}

/* A FHIR OperationOutcome with one issue. */
static void set_outcome(struct reply *r, int status, const char *reason,
                        const char *code, const char *diag)
{
    evbuffer_drain(r->body, evbuffer_get_length(r->body));
    evbuffer_add_printf(r->body,
                        "{\"resourceType\":\"OperationOutcome\","
                        "\"issue\":[{\"severity\":\"error\",\"code\":\"%s\","
                        "\"diagnostics\":\"",
                        code);
    add_jstr(r->body, diag);
    evbuffer_add_printf(r->body, "\"}]}\n");
    set_json(r, status, reason, FHIR_CTYPE);
}

/* The request's own origin, for absolute links ("http://host:port"). */
static void origin_of(const struct sim *s, struct evhttp_request *req,
                      char *buf, size_t size)
{
    const char *host =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    bool ok = host != NULL && host[0] != '\0' && strlen(host) < 200;

    /* A Host with characters that do not belong there is not echoed. */
    for (const char *p = host; ok && *p; p++)
        if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789.-:[]",
                   *p) == NULL)
            ok = false;
    if (ok)
        snprintf(buf, size, "http://%s", host);
    else
        snprintf(buf, size, "http://127.0.0.1:%d", s->port);
}

/*
 * What a JSON-speaking clinic does under a failing profile. Returns true
 * when r is the answer (the profile replaced the protocol's own).
 */
static bool json_profile(const struct conf_clinic *c, struct reply *r)
{
    switch (profiles[profile_index(c->sim_profile)].p) {
    case P_ERROR:
        set_outcome(r, 500, "Internal Server Error", "exception",
                    "Internal error: scheduling database unavailable");
        return true;
    case P_GARBAGE:
        evbuffer_add_printf(r->body, "<html><body>502 proxy error</body>"
                                     "</html>\x01\xff {\"resourceType\": [[[");
        set_json(r, 200, "OK", FHIR_CTYPE);
        return true;
    case P_HOSTILE:
        /* A nesting bomb: JSON's answer to billion laughs. */
        for (int i = 0; i < 100000; i++)
            evbuffer_add(r->body, "[", 1);
        set_json(r, 200, "OK", FHIR_CTYPE);
        return true;
    case P_HANG:
        r->hang = true;
        return true;
    case P_HTTP503:
        set_text(r, 503, "Service Unavailable",
                 "503 Service Unavailable: down for maintenance\n");
        r->retry_after = true;
        return true;
    default:
        return false;
    }
}

/* Parse "ge2026-03-31T00:00:00+02:00" style values; '+' may come as ' '. */
static int parse_prefixed(const char *v, char pfx[3], int64_t *t)
{
    char buf[64];

    if (strlen(v) < 3 || strlen(v) >= sizeof(buf))
        return -1;
    memcpy(pfx, v, 2);
    pfx[2] = '\0';
    strcpy(buf, v + 2);
    for (char *p = buf; *p; p++)
        if (*p == ' ')
            *p = '+';
    return clock_parse_rfc3339(buf, t);
}

/* --- FHIR R4 Slot search ------------------------------------------------- */

/* Clinic serving Slot searches at path for actor; *known: path is a base. */
static long fhir_route(const struct sim *s, const char *path, const char *actor,
                       bool *known)
{
    *known = false;
    for (size_t i = 0; i < s->region->nclinics; i++) {
        const struct conf_clinic *c = &s->region->clinics[i];
        const char *bp = s->base_path[i];
        size_t n;
        if (!c->has_booking || bp == NULL || c->booking.adapter == NULL ||
            strcmp(c->booking.adapter, FHIR_ADAPTER) != 0)
            continue;
        n = strlen(bp);
        if (strncmp(path, bp, n) != 0 || strcmp(path + n, "/Slot") != 0)
            continue;
        *known = true;
        if (actor != NULL && c->booking.actor != NULL &&
            strcmp(actor, c->booking.actor) == 0)
            return (long)i;
    }
    return -1;
}

/* Raw query without our paging parameter (_offset=N), for next links. */
static void query_without_offset(const char *q, struct evbuffer *out)
{
    bool first = true;

    while (q != NULL && *q != '\0') {
        const char *amp = strchr(q, '&');
        size_t n = amp != NULL ? (size_t)(amp - q) : strlen(q);
        if (n > 0 && strncmp(q, "_offset=", 8) != 0) {
            if (!first)
                evbuffer_add(out, "&", 1);
            evbuffer_add(out, q, n);
            first = false;
        }
        q = amp != NULL ? amp + 1 : NULL;
    }
}

static void add_instant(struct evbuffer *b, const char *key, int64_t t)
{
    char ts[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(t, ts);
    evbuffer_add_printf(b, "\"%s\":\"%s\"", key, ts);
}

/* answer_fhir: the Bundle's head, its self link and, when the page is
 * not the last, the next link (the same query with a new _offset). */
static void fhir_add_links(struct reply *r, const char *origin,
                           const char *path, const char *rawq, size_t total,
                           long offset, long count)
{
    evbuffer_add_printf(r->body,
                        "{\"resourceType\":\"Bundle\",\"type\":"
                        "\"searchset\",\"total\":%zu,\"link\":[{\"relation\":"
                        "\"self\",\"url\":\"",
                        total);
    add_jstr(r->body, origin);
    add_jstr(r->body, path);
    if (rawq != NULL) {
        evbuffer_add(r->body, "?", 1);
        add_jstr(r->body, rawq);
    }
    evbuffer_add_printf(r->body, "\"}");
    if ((size_t)offset + (size_t)count < total) {
        struct evbuffer *q = evbuffer_new();
        if (q != NULL) {
            query_without_offset(rawq, q);
            evbuffer_add_printf(q, "%s_offset=%ld",
                                evbuffer_get_length(q) > 0 ? "&" : "",
                                offset + count);
            evbuffer_add(q, "", 1);
            evbuffer_add_printf(r->body, ",{\"relation\":\"next\",\"url\":\"");
            add_jstr(r->body, origin);
            add_jstr(r->body, path);
            evbuffer_add(r->body, "?", 1);
            add_jstr(r->body, (const char *)evbuffer_pullup(q, -1));
            evbuffer_add_printf(r->body, "\"}");
            evbuffer_free(q);
        }
    }
}

/* answer_fhir: one page of Slots; used[] records the practitioners
 * (Schedules) they point at. */
static void fhir_add_slots(struct reply *r, const struct sim *s, long ci,
                           const char *origin, const struct gen_list *l,
                           long offset, long count, bool *used)
{
    const struct conf_clinic *c = &s->region->clinics[ci];

    for (size_t k = (size_t)offset;
         k < l->n && k < (size_t)offset + (size_t)count; k++) {
        const struct gen_slot *g = &l->v[k];
        evbuffer_add_printf(r->body, "%s{\"fullUrl\":\"",
                            k > (size_t)offset ? "," : "");
        add_jstr(r->body, origin);
        add_jstr(r->body, s->base_path[ci]);
        evbuffer_add_printf(r->body,
                            "/Slot/%s-%lld-%d\",\"resource\":{"
                            "\"resourceType\":\"Slot\",\"id\":\"%s-%lld-%d\","
                            "\"schedule\":{\"reference\":\"Schedule/%s-P%d\"},"
                            "\"status\":\"free\",",
                            c->id, (long long)g->start, g->pract + 1, c->id,
                            (long long)g->start, g->pract + 1, c->id,
                            g->pract + 1);
        add_instant(r->body, "start", g->start);
        evbuffer_add(r->body, ",", 1);
        add_instant(r->body, "end", g->end);
        evbuffer_add_printf(r->body,
                            ",\"serviceType\":[{\"text\":\"%s\"}]},"
                            "\"search\":{\"mode\":\"match\"}}",
                            TT_NEW_NAME);
        used[g->pract] = true;
    }
}

/* answer_fhir, _include=Slot:schedule: the Schedules this page's slots
 * point at. */
static void fhir_add_schedules(struct reply *r, const struct sim *s, long ci,
                               const char *origin, const struct plan *p,
                               const bool *used)
{
    const struct conf_clinic *c = &s->region->clinics[ci];

    for (int i = 0; i < p->npract; i++) {
        if (!used[i])
            continue;
        evbuffer_add_printf(r->body, ",{\"fullUrl\":\"");
        add_jstr(r->body, origin);
        add_jstr(r->body, s->base_path[ci]);
        evbuffer_add_printf(r->body,
                            "/Schedule/%s-P%d\",\"resource\":{"
                            "\"resourceType\":\"Schedule\",\"id\":\"%s-P%d\","
                            "\"actor\":[{\"reference\":\"Practitioner/%s\","
                            "\"display\":\"",
                            c->id, i + 1, c->id, i + 1, p->hsa[i]);
        add_jstr(r->body, p->display[i]);
        evbuffer_add_printf(r->body, "\"},{\"reference\":\"");
        add_jstr(r->body, c->booking.actor);
        evbuffer_add_printf(r->body,
                            "\"}],\"serviceType\":[{\"text\":\"%s\"}]"
                            "},\"search\":{\"mode\":\"include\"}}",
                            TT_NEW_NAME);
    }
}

static void answer_fhir(struct sim *s, struct evhttp_request *req,
                        const char *path, const char *rawq, struct reply *r,
                        long *ci)
{
    struct evkeyvalq kv;
    struct evkeyval *e;
    const char *actor = NULL, *status = NULL;
    int64_t ge = INT64_MIN, lt = INT64_MAX, now = clock_now(), t;
    long count = FHIR_DEFAULT_COUNT, offset = 0;
    bool include = false, known, used[MAX_PRACT] = { false };
    const struct conf_clinic *c;
    struct plan p;
    struct gen_list l = { 0 };
    char origin[256], pfx[3], *end;
    size_t w;

    TAILQ_INIT(&kv);
    if (rawq != NULL && evhttp_parse_query_str(rawq, &kv) != 0) {
        set_outcome(r, 400, "Bad Request", "invalid", "malformed query");
        goto out;
    }
    TAILQ_FOREACH(e, &kv, next)
    {
        if (strcmp(e->key, "schedule.actor") == 0) {
            actor = e->value;
        } else if (strcmp(e->key, "status") == 0) {
            status = e->value;
        } else if (strcmp(e->key, "_include") == 0) {
            include = include || strcmp(e->value, "Slot:schedule") == 0;
        } else if (strcmp(e->key, "start") == 0) {
            if (parse_prefixed(e->value, pfx, &t) != 0) {
                set_outcome(r, 400, "Bad Request", "invalid",
                            "start: expected ge|gt|lt|le and an instant");
                goto out;
            }
            if (strcmp(pfx, "ge") == 0 || strcmp(pfx, "gt") == 0)
                ge = strcmp(pfx, "gt") == 0 ? t + 1 : t;
            else if (strcmp(pfx, "lt") == 0 || strcmp(pfx, "le") == 0)
                lt = strcmp(pfx, "le") == 0 ? t + 1 : t;
            else {
                set_outcome(r, 400, "Bad Request", "not-supported",
                            "start: only ge, gt, lt and le are supported");
                goto out;
            }
        } else if (strcmp(e->key, "_count") == 0 ||
                   strcmp(e->key, "_offset") == 0) {
            long v = strtol(e->value, &end, 10);
            if (e->value[0] == '\0' || *end != '\0' || v < 0 ||
                v > 100000000L) {
                set_outcome(r, 400, "Bad Request", "invalid",
                            "_count/_offset: not a number");
                goto out;
            }
            if (e->key[1] == 'c')
                count = v < 1 ? 1 : v > FHIR_MAX_COUNT ? FHIR_MAX_COUNT : v;
            else
                offset = v;
        }
    }
    *ci = fhir_route(s, path, actor, &known);
    if (*ci < 0) {
        if (!known)
            set_text(r, 404, "Not Found", "404 no such service\n");
        else
            set_outcome(r, 404, "Not Found", "not-found",
                        "schedule.actor: no such actor on this server");
        goto out;
    }
    c = &s->region->clinics[*ci];
    if (json_profile(c, r))
        goto out;
    switch (profiles[profile_index(c->sim_profile)].p) {
    case P_VP004:
    case P_VP007:
        set_outcome(r, 404, "Not Found", "not-found",
                    "Schedule: this actor is not connected to online "
                    "booking");
        goto out;
    default:
        break;
    }
    if (ge == INT64_MIN)
        ge = clock_day_start(clock_local_day(now));
    if (lt == INT64_MAX)
        lt = ge + 28 * 86400;
    if (lt < ge || lt - ge > SIM_MAX_RANGE_DAYS * 86400LL) {
        set_outcome(r, 400, "Bad Request", "too-costly",
                    "start: range empty or longer than 366 days");
        goto out;
    }
    plan_init(&p, s->seed, c);
    p.epoch = clinic_epoch(s, c, now);
    /* Only free slots exist here: a status filter without "free" finds
     * nothing. */
    if (status == NULL || strstr(status, "free") != NULL) {
        for (int32_t d = clock_local_day(ge); d <= clock_local_day(lt); d++)
            if (plan_day(&p, d, &l) != 0) {
                set_outcome(r, 500, "Internal Server Error", "exception",
                            "out of memory");
                goto out;
            }
    }
    /* The window, and no passed times (as the RIV producer). */
    w = 0;
    for (size_t k = 0; k < l.n; k++)
        if (l.v[k].start >= ge && l.v[k].start < lt && l.v[k].start > now)
            l.v[w++] = l.v[k];
    l.n = w;

    origin_of(s, req, origin, sizeof(origin));
    fhir_add_links(r, origin, path, rawq, l.n, offset, count);
    evbuffer_add_printf(r->body, "],\"entry\":[");
    fhir_add_slots(r, s, *ci, origin, &l, offset, count, used);
    if (include)
        fhir_add_schedules(r, s, *ci, origin, &p, used);
    evbuffer_add_printf(r->body, "]}\n");
    set_json(r, 200, "OK", FHIR_CTYPE);
out:
    free(l.v);
    evhttp_clear_headers(&kv);
}

/* --- SMART Scheduling Links bulk publisher ------------------------------- */

enum smart_file {
    SF_MANIFEST,
    SF_LOCATION,
    SF_SCHEDULE,
    SF_SLOT
};

static const char *const smart_files[] = { NULL, "Location.ndjson",
                                           "Schedule.ndjson", "Slot.ndjson" };

static bool is_smart(const struct sim *s, size_t i)
{
    const struct conf_clinic *c = &s->region->clinics[i];

    return c->has_booking && s->base_path[i] != NULL &&
           c->booking.adapter != NULL &&
           strcmp(c->booking.adapter, SMART_ADAPTER) == 0;
}

/* Length of the directory part of a manifest path (up to the last '/'). */
static size_t dir_len(const char *mp)
{
    const char *sl = strrchr(mp, '/');

    return sl != NULL ? (size_t)(sl - mp) : 0;
}

/*
 * The publisher (its first clinic, which also decides its faults) serving
 * path, and which of its documents. -1 when none.
 */
static long smart_route(const struct sim *s, const char *path,
                        enum smart_file *f)
{
    for (size_t i = 0; i < s->region->nclinics; i++) {
        const char *mp = s->base_path[i];
        size_t dl;
        if (!is_smart(s, i))
            continue;
        if (strcmp(path, mp) == 0) {
            *f = SF_MANIFEST;
            return (long)i;
        }
        dl = dir_len(mp);
        if (strncmp(path, mp, dl) != 0 || path[dl] != '/')
            continue;
        for (int k = SF_LOCATION; k <= SF_SLOT; k++)
            if (strcmp(path + dl + 1, smart_files[k]) == 0) {
                *f = (enum smart_file)k;
                return (long)i;
            }
    }
    return -1;
}

static bool same_publisher(const struct sim *s, size_t lead, size_t i)
{
    return is_smart(s, i) && strcmp(s->base_path[lead], s->base_path[i]) == 0;
}

/* Is clinic i published (connected) at all? */
static bool smart_listed(const struct sim *s, size_t i)
{
    enum profile pr =
        profiles[profile_index(s->region->clinics[i].sim_profile)].p;

    return pr != P_VP004 && pr != P_VP007;
}

/*
 * The publisher's content is a function of the seed, the local date, and
 * each member's profile and change epoch: its transactionTime is the
 * latest moment any of those changed, its ETag a hash of them.
 */
static int64_t smart_version(const struct sim *s, size_t lead, int64_t now,
                             char etag[24])
{
    int32_t today = clock_local_day(now);
    int64_t tt = clock_day_start(today);
    uint64_t h = hash2(mix64(s->seed), (uint64_t)(int64_t)today);

    for (size_t i = lead; i < s->region->nclinics; i++) {
        const struct conf_clinic *c = &s->region->clinics[i];
        int ce;
        if (!same_publisher(s, lead, i))
            continue;
        ce = s->faults[i].change_every_s;
        h = hash2(h, id_hash(c->id));
        h = hash2(h, (uint64_t)profile_index(c->sim_profile));
        h = hash2(h, epoch_of(ce, now));
        if (ce > 0 && epoch_start(ce, now) > tt)
            tt = epoch_start(ce, now);
    }
    snprintf(etag, 24, "\"%016llx\"", (unsigned long long)h);
    return tt;
}

static void http_date(int64_t t, char buf[40])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* If-None-Match / If-Modified-Since say the client has version (etag, tt). */
static bool not_modified(struct evhttp_request *req, const char *etag,
                         int64_t tt)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *inm = evhttp_find_header(h, "If-None-Match");
    const char *ims = evhttp_find_header(h, "If-Modified-Since");
    int64_t t;

    if (inm != NULL) /* takes precedence (RFC 9110 13.2.2) */
        return strstr(inm, etag) != NULL || strcmp(inm, "*") == 0;
    if (ims != NULL && clock_parse_http_date(ims, &t) == 0)
        return t >= tt;
    return false;
}

static void smart_location(struct evbuffer *b, const struct conf_clinic *c)
{
    evbuffer_add_printf(b, "{\"resourceType\":\"Location\",\"id\":\"");
    add_jstr(b, c->booking.location);
    evbuffer_add_printf(b, "\",\"name\":\"");
    add_jstr(b, c->name != NULL ? c->name : c->id);
    evbuffer_add_printf(b, "\",\"identifier\":[{\"system\":"
                           "\"urn:oid:1.2.752.29.4.19\",\"value\":\"");
    add_jstr(b, c->id);
    evbuffer_add_printf(b, "\"}],\"telecom\":[");
    if (c->phone != NULL) {
        evbuffer_add_printf(b, "{\"system\":\"phone\",\"value\":\"");
        add_jstr(b, c->phone);
        evbuffer_add_printf(b, "\"}%s", c->website != NULL ? "," : "");
    }
    if (c->website != NULL) {
        evbuffer_add_printf(b, "{\"system\":\"url\",\"value\":\"");
        add_jstr(b, c->website);
        evbuffer_add_printf(b, "\"}");
    }
    evbuffer_add_printf(b, "],\"address\":{\"city\":\"");
    add_jstr(b, c->locality != NULL       ? c->locality
                : c->municipality != NULL ? c->municipality
                                          : "");
    evbuffer_add_printf(b, "\",\"district\":\"");
    add_jstr(b, c->municipality != NULL ? c->municipality : "");
    evbuffer_add_printf(b, "\",\"country\":\"SE\"}}\n");
}

static void smart_schedule(struct evbuffer *b, const struct conf_clinic *c)
{
    evbuffer_add_printf(b, "{\"resourceType\":\"Schedule\",\"id\":\"");
    add_jstr(b, c->booking.location);
    evbuffer_add_printf(b,
                        "-s\",\"serviceType\":[{\"text\":\"%s\"}],"
                        "\"actor\":[{\"reference\":\"Location/",
                        TT_NEW_NAME);
    add_jstr(b, c->booking.location);
    evbuffer_add_printf(b, "\"}]}\n");
}

/* One Slot line per start time: capacity = practitioners free then. */
static int smart_slots(const struct sim *s, size_t i, int64_t now,
                       struct evbuffer *b)
{
    const struct conf_clinic *c = &s->region->clinics[i];
    int32_t today = clock_local_day(now);
    struct plan p;
    struct gen_list l = { 0 };

    plan_init(&p, s->seed, c);
    p.epoch = clinic_epoch(s, c, now);
    for (int32_t d = today; d < today + s->region->horizon_days; d++)
        if (plan_day(&p, d, &l) != 0) {
            free(l.v);
            return -1;
        }
    for (size_t k = 0; k < l.n;) {
        size_t k0 = k;
        for (; k < l.n && l.v[k].start == l.v[k0].start; k++)
            ;
        evbuffer_add_printf(b, "{\"resourceType\":\"Slot\",\"id\":\"");
        add_jstr(b, c->booking.location);
        evbuffer_add_printf(b,
                            "-%lld\",\"schedule\":{\"reference\":"
                            "\"Schedule/",
                            (long long)l.v[k0].start);
        add_jstr(b, c->booking.location);
        evbuffer_add_printf(b, "-s\"},\"status\":\"free\",");
        add_instant(b, "start", l.v[k0].start);
        evbuffer_add(b, ",", 1);
        add_instant(b, "end", l.v[k0].end);
        evbuffer_add_printf(b, ",\"extension\":[");
        if (c->booking.booking_url != NULL) {
            evbuffer_add_printf(b, "{\"url\":\"" SMART_EXT_BASE
                                   "booking-deep-link\",\"valueUrl\":\"");
            add_jstr(b, c->booking.booking_url);
            evbuffer_add_printf(b, "?slot=%lld\"},", (long long)l.v[k0].start);
        }
        if (c->phone != NULL) {
            evbuffer_add_printf(b, "{\"url\":\"" SMART_EXT_BASE
                                   "booking-phone\",\"valueString\":\"");
            add_jstr(b, c->phone);
            evbuffer_add_printf(b, "\"},");
        }
        evbuffer_add_printf(b,
                            "{\"url\":\"" SMART_EXT_BASE "slot-capacity\","
                            "\"valueInteger\":%zu}]}\n",
                            k - k0);
    }
    free(l.v);
    return 0;
}

static void answer_smart(struct sim *s, struct evhttp_request *req, long lead,
                         enum smart_file f, struct reply *r)
{
    const struct conf_clinic *c = &s->region->clinics[lead];
    int64_t now = clock_now(), tt;
    static char etag[24]; /* read by add_headers before the next call */
    char origin[256], ts[CLOCK_RFC3339_LEN];

    if (json_profile(c, r))
        return;
    tt = smart_version(s, (size_t)lead, now, etag);
    r->etag = etag;
    http_date(tt, r->last_modified);
    if (not_modified(req, etag, tt)) {
        r->status = 304;
        r->reason = "Not Modified";
        return;
    }
    if (f == SF_MANIFEST) {
        const char *mp = s->base_path[lead];
        origin_of(s, req, origin, sizeof(origin));
        clock_format_rfc3339(tt, ts);
        evbuffer_add_printf(r->body,
                            "{\"transactionTime\":\"%s\","
                            "\"request\":\"",
                            ts);
        add_jstr(r->body, origin);
        add_jstr(r->body, mp);
        evbuffer_add_printf(r->body, "\",\"output\":[");
        for (int k = SF_LOCATION; k <= SF_SLOT; k++) {
            static const char *const types[] = { NULL, "Location", "Schedule",
                                                 "Slot" };
            evbuffer_add_printf(r->body, "%s{\"type\":\"%s\",\"url\":\"",
                                k > SF_LOCATION ? "," : "", types[k]);
            add_jstr(r->body, origin);
            evbuffer_add(r->body, mp, dir_len(mp));
            evbuffer_add_printf(r->body, "/%s\"}", smart_files[k]);
        }
        evbuffer_add_printf(r->body, "],\"error\":[]}\n");
        set_json(r, 200, "OK", JSON_CTYPE);
        return;
    }
    for (size_t i = (size_t)lead; i < s->region->nclinics; i++) {
        if (!same_publisher(s, (size_t)lead, i) || !smart_listed(s, i))
            continue;
        if (f == SF_LOCATION)
            smart_location(r->body, &s->region->clinics[i]);
        else if (f == SF_SCHEDULE)
            smart_schedule(r->body, &s->region->clinics[i]);
        else if (smart_slots(s, i, now, r->body) != 0) {
            set_outcome(r, 500, "Internal Server Error", "exception",
                        "out of memory");
            return;
        }
    }
    set_json(r, 200, "OK", NDJSON_CTYPE);
}

/* --- faults -------------------------------------------------------------- */

/* The clinic's faults with its profile's defaults filled in. */
static struct sim_faults effective_faults(const struct sim *s, long ci)
{
    struct sim_faults f = s->faults[ci];

    switch (profiles[profile_index(s->region->clinics[ci].sim_profile)].p) {
    case P_HUGE:
        if (f.body_bytes <= 0)
            f.body_bytes = 32L * 1024 * 1024;
        break;
    case P_DRIP:
        if (f.drip_bytes_per_s <= 0)
            f.drip_bytes_per_s = 256;
        break;
    case P_ENDLESS:
        /* Chunked filler as fast as the socket takes it, never ending. */
        f.body_bytes = LONG_MAX;
        break;
    case P_FLAKY:
        if (f.fail_permille <= 0)
            f.fail_permille = 500;
        if (f.latency_ms <= 0)
            f.latency_ms = 300;
        break;
    case P_HTTP429:
        f.fail_permille = 1000;
        if (f.retry_after_s <= 0)
            f.retry_after_s = 30;
        break;
    default:
        break;
    }
    if (s->latency_ms > f.latency_ms)
        f.latency_ms = s->latency_ms;
    return f;
}

/*
 * Does the n-th request (1-based) to clinic ci fail under fail_permille?
 * Deterministic, so tests can count failures; exported for tests through
 * nothing but the behaviour.
 */
static bool fails(const struct sim *s, long ci, unsigned long n, int permille)
{
    if (permille <= 0)
        return false;
    if (permille >= 1000)
        return true;
    return (int)(hash2(hash2(mix64(s->seed), (uint64_t)ci), n) % 1000) <
           permille;
}

/* Default inflated size of a gzip-bomb body (body_bytes overrides). */
#define BOMB_INFLATED (256L << 20)

/* Append what deflate makes of in[0..n) with `flush` to *out. */
static int deflate_into(z_stream *z, const unsigned char *in, size_t n,
                        int flush, unsigned char **out, size_t *len,
                        size_t *cap)
{
    int rc;

    z->next_in = (unsigned char *)in;
    z->avail_in = (uInt)n;
    do {
        if (*cap - *len < 4096) {
            size_t nc = *cap ? *cap * 2 : 65536;
            unsigned char *nb = realloc(*out, nc);
            if (nb == NULL)
                return -1;
            *out = nb;
            *cap = nc;
        }
        z->next_out = *out + *len;
        z->avail_out = (uInt)(*cap - *len);
        rc = deflate(z, flush);
        *len = *cap - z->avail_out;
        if (rc == Z_STREAM_END)
            return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
    } while (z->avail_in > 0 || z->avail_out == 0);
    return 0;
}

/* Append len bytes of b to *out (growing it). */
static int bytes_append(unsigned char **out, size_t *len, size_t *cap,
                        const unsigned char *b, size_t n)
{
    if (*cap - *len < n) {
        size_t nc = *cap ? *cap : 65536;
        unsigned char *nb;

        while (nc - *len < n)
            nc *= 2;
        nb = realloc(*out, nc);
        if (nb == NULL)
            return -1;
        *out = nb;
        *cap = nc;
    }
    memcpy(*out + *len, b, n);
    *len += n;
    return 0;
}

#define BOMB_CHUNK ((size_t)1 << 20)

/*
 * gzip of `inflated` blanks (rounded down to whole MiB above 4 MiB), made
 * once per size and kept; about 1 KiB per MiB (ratio ~1000:1). Deflating
 * 256 MiB would stall the loop for a second, so only two 1 MiB chunks are
 * compressed, each ending in a full flush (byte-aligned, no history): the
 * second chunk's output is then what every further chunk would give, and
 * is repeated. A final empty stored block and the gzip trailer (CRC-32
 * combined per chunk, length mod 2^32) end the stream. Returns 0 or -1.
 */
static int bomb_make(struct sim *s, long inflated)
{
    unsigned char *in = NULL, *out = NULL, *rep = NULL;
    size_t len = 0, cap = 0, rlen = 0, rcap = 0, chunks;
    uLong crc, crc1;
    z_stream z;
    int rc = -1;

    if (s->bomb != NULL && s->bomb_inflated == inflated)
        return 0;
    in = malloc(BOMB_CHUNK);
    if (in == NULL)
        return -1;
    memset(in, ' ', BOMB_CHUNK);
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        free(in);
        return -1;
    }
    if ((size_t)inflated < 4 * BOMB_CHUNK) {
        /* small: plainly, it is quick */
        rc = 0;
        for (long left = inflated; rc == 0 && left > 0;) {
            size_t n = (size_t)left > BOMB_CHUNK ? BOMB_CHUNK : (size_t)left;
            left -= (long)n;
            rc = deflate_into(&z, in, n, left > 0 ? Z_NO_FLUSH : Z_FINISH, &out,
                              &len, &cap);
        }
        goto done;
    }
    chunks = (size_t)inflated / BOMB_CHUNK;
    if (deflate_into(&z, in, BOMB_CHUNK, Z_FULL_FLUSH, &out, &len, &cap) != 0 ||
        deflate_into(&z, in, BOMB_CHUNK, Z_FULL_FLUSH, &rep, &rlen, &rcap) != 0)
        goto done;
    for (size_t i = 1; i < chunks; i++)
        if (bytes_append(&out, &len, &cap, rep, rlen) != 0)
            goto done;
    crc1 = crc32(0L, in, (uInt)BOMB_CHUNK);
    crc = crc1;
    for (size_t i = 1; i < chunks; i++)
        crc = crc32_combine(crc, crc1, (z_off_t)BOMB_CHUNK);
    {
        uint32_t isize = (uint32_t)(chunks * BOMB_CHUNK);
        unsigned char tail[13] = { 0x01, 0x00, 0x00, 0xff, 0xff };

        for (int k = 0; k < 4; k++) {
            tail[5 + k] = (unsigned char)((crc >> (8 * k)) & 0xff);
            tail[9 + k] = (unsigned char)((isize >> (8 * k)) & 0xff);
        }
        rc = bytes_append(&out, &len, &cap, tail, sizeof(tail));
    }
done:
    deflateEnd(&z);
    free(in);
    free(rep);
    if (rc != 0) {
        free(out);
        return -1;
    }
    free(s->bomb);
    s->bomb = out;
    s->bomb_len = len;
    s->bomb_inflated = inflated;
    return 0;
}

/* Replace r by a redirect to `target` (307 keeps a POST a POST). */
static void set_redirect(struct reply *r, struct evhttp_request *req,
                         const char *target)
{
    bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;

    set_text(r, post ? 307 : 302, post ? "Temporary Redirect" : "Found",
             "moved\n");
    snprintf(r->location, sizeof(r->location), "%s", target);
    r->etag = NULL;
    r->last_modified[0] = '\0';
}

/* Turn clinic ci's protocol answer r into what its faults make of it. */
static void apply_faults(struct sim *s, long ci, bool json,
                         struct evhttp_request *req, struct reply *r)
{
    struct sim_faults f = effective_faults(s, ci);
    enum profile pr =
        profiles[profile_index(s->region->clinics[ci].sim_profile)].p;

    s->nreq[ci]++;
    r->delay_ms = f.latency_ms;
    if (r->hang)
        return;
    if (pr == P_RESET) {
        r->reset = true;
        return;
    }
    if (pr == P_SLOW_HEADERS) {
        r->slow_headers = true;
        return;
    }
    if (pr == P_REDIRECT_LOOP || pr == P_REDIRECT_OFFSITE) {
        const char *uri = evhttp_request_get_uri(req);
        char target[sizeof(r->location)];

        /* loop: the very same URL again (relative); offsite: the same
         * path on another origin (not loopback unless a test says so). */
        snprintf(target, sizeof(target), "%s%s",
                 pr == P_REDIRECT_LOOP ? "" : s->offsite, uri ? uri : "/");
        set_redirect(r, req, target);
        return;
    }
    if (pr == P_GZIP_BOMB) {
        long inflated = f.body_bytes > 0 ? f.body_bytes : BOMB_INFLATED;

        evbuffer_drain(r->body, evbuffer_get_length(r->body));
        if (bomb_make(s, inflated) != 0) {
            set_text(r, 500, "Internal Server Error",
                     "simulator out of memory\n");
            return;
        }
        evbuffer_add(r->body, s->bomb, s->bomb_len);
        r->status = 200;
        r->reason = "OK";
        r->gzip = true;
        return;
    }
    if (pr == P_BAD_LENGTH)
        r->bad_length = true;
    if (fails(s, ci, s->nreq[ci], f.fail_permille)) {
        r->etag = NULL;
        r->last_modified[0] = '\0';
        if (f.retry_after_s > 0) {
            set_text(r, 429, "Too Many Requests",
                     "429 Too Many Requests: slow down\n");
            r->retry_after = true;
            r->retry_after_s = f.retry_after_s;
        } else {
            set_text(r, 503, "Service Unavailable",
                     "503 Service Unavailable: try again later\n");
        }
    }
    if (pr == P_TRUNCATED && r->status == 200) {
        size_t n = evbuffer_get_length(r->body);
        struct evbuffer *half = evbuffer_new();
        if (half != NULL) {
            evbuffer_remove_buffer(r->body, half, n / 2);
            evbuffer_free(r->body);
            r->body = half;
        }
    }
    if (f.body_bytes > 0 && r->status == 200) {
        /* The head of a plausible answer, then filler made on the fly. */
        evbuffer_drain(r->body, evbuffer_get_length(r->body));
        if (json)
            evbuffer_add_printf(r->body, "{\"resourceType\":\"Bundle\","
                                         "\"type\":\"searchset\",\"entry\":[");
        else
            soap_open(r->body);
        r->huge_bytes = f.body_bytes;
        r->huge_json = json;
    }
    if (f.drip_bytes_per_s > 0)
        r->drip_bps = f.drip_bytes_per_s;
}

/* --- request log ----------------------------------------------------------- */

/* Log an arrival; returns its index or (size_t)-1 when out of memory. */
static size_t log_arrival(struct sim *s, const char *path)
{
    if (s->nlog == s->caplog) {
        size_t cap = s->caplog ? s->caplog * 2 : 64;
        struct sim_request_entry *v = realloc(s->log, cap * sizeof(*v));
        if (v == NULL)
            return (size_t)-1;
        s->log = v;
        s->caplog = cap;
    }
    s->log[s->nlog].time_ms = clock_mono_ms();
    s->log[s->nlog].clinic = -1;
    s->log[s->nlog].path = strdup(path != NULL ? path : "");
    if (s->log[s->nlog].path == NULL)
        return (size_t)-1;
    return s->nlog++;
}

const struct sim_request_entry *sim_request_log(const struct sim *s, size_t *n)
{
    *n = s->nlog;
    return s->log;
}

size_t sim_max_inflight(const struct sim *s)
{
    return s->max_inflight;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct sim *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *rawq = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct reply r = { 0 };
    size_t li;
    long ci = -1;
    bool json = false;
    int contract;
    enum smart_file sf;

    /* In flight now: the parked ones and this one. */
    if (s->npending + 1 > s->max_inflight)
        s->max_inflight = s->npending + 1;
    li = log_arrival(s, path);
    r.body = evbuffer_new();
    if (r.body == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        s->requests++;
        return;
    }
    contract = path != NULL ? path_contract(path) : -1;
    if (contract >= 0) {
        if (cmd != EVHTTP_REQ_POST) {
            set_text(&r, 405, "Method Not Allowed", "405 use POST\n");
            r.allow_post = true;
        } else {
            struct evbuffer *in = evhttp_request_get_input_buffer(req);
            size_t len = evbuffer_get_length(in);
            const char *body =
                len > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
            answer_soap(s, contract, body, len, &r, &ci);
        }
    } else if (path != NULL && (ci = smart_route(s, path, &sf)) >= 0) {
        json = true;
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
            set_text(&r, 405, "Method Not Allowed", "405 use GET\n");
        else
            answer_smart(s, req, ci, sf, &r);
    } else if (path != NULL) {
        size_t n = strlen(path);
        json = true;
        if (n >= 5 && strcmp(path + n - 5, "/Slot") == 0 &&
            cmd == EVHTTP_REQ_GET)
            answer_fhir(s, req, path, rawq, &r, &ci);
        else
            set_text(&r, 404, "Not Found", "404 no such service\n");
    } else {
        set_text(&r, 404, "Not Found", "404 no such service\n");
    }
    if (li != (size_t)-1)
        s->log[li].clinic = ci;
    if (ci >= 0)
        apply_faults(s, ci, json, req, &r);
    else if (s->latency_ms > 0)
        r.delay_ms = s->latency_ms;

    if (needs_job(&r)) {
        if (job_start(s, req, &r) == 0)
            return;
        /* Could not park it: answer at once rather than lose it. */
        r.hang = r.reset = false;
        r.slow_headers = r.bad_length = false;
        r.drip_bps = 0;
        r.huge_bytes = 0;
        set_text(&r, 500, "Internal Server Error", "simulator out of memory\n");
    }
    send_now(s, req, &r);
}

/* --- lifecycle ----------------------------------------------------------- */

/* Path part of a booking URL ("http://h:p/a/b" -> "/a/b"), or NULL. */
static char *url_path(const char *url)
{
    struct evhttp_uri *u = url != NULL ? evhttp_uri_parse(url) : NULL;
    const char *p = u != NULL ? evhttp_uri_get_path(u) : NULL;
    char *out = NULL;

    if (p != NULL) {
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/')
            n--;
        out = strndup(p, n);
    }
    if (u != NULL)
        evhttp_uri_free(u);
    return out;
}

struct sim *sim_new(struct event_base *base, const struct conf_region *region,
                    const char *host, int port, const struct sim_opts *opts,
                    struct sf_error *err)
{
    struct sim *s = NULL;
    struct evhttp_bound_socket *bound;
    evutil_socket_t fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1;

    if (base == NULL || region == NULL || host == NULL || port < 0 ||
        port > 65535) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "sim: bad arguments (host %s, "
                     "port %d)",
                     host != NULL ? host : "(null)", port);
        return NULL;
    }
    if (opts != NULL && (opts->latency_ms < 0 || opts->latency_ms > 600000)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "sim: latency_ms %d out of range "
                     "0..600000",
                     opts->latency_ms);
        return NULL;
    }
    for (size_t i = 0; i < region->nclinics; i++) {
        const struct conf_clinic *c = &region->clinics[i];
        if (c->id == NULL || c->id[0] == '\0') {
            sf_error_set(err, SF_ERR_CONFIG, "sim: clinic %zu has no id", i);
            return NULL;
        }
        if (profile_index(c->sim_profile) < 0) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "sim: clinic %s: unknown sim "
                         "profile \"%s\"",
                         c->id, c->sim_profile);
            return NULL;
        }
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "sim: out of memory");
        return NULL;
    }
    s->base = base;
    s->region = region;
    s->seed = (opts != NULL && opts->seed != 0) ? opts->seed : 1;
    s->latency_ms = opts != NULL ? opts->latency_ms : 0;
    /* TEST-NET-1 (RFC 5737): never routed, and not loopback. */
    snprintf(s->offsite, sizeof(s->offsite), "%s", "http://192.0.2.1");
    s->faults = calloc(region->nclinics + 1, sizeof(*s->faults));
    s->nreq = calloc(region->nclinics + 1, sizeof(*s->nreq));
    s->base_path = calloc(region->nclinics + 1, sizeof(*s->base_path));
    if (s->faults == NULL || s->nreq == NULL || s->base_path == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "sim: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < region->nclinics; i++) {
        const struct conf_clinic *c = &region->clinics[i];
        if (!c->has_booking || c->booking.url == NULL)
            continue;
        s->base_path[i] = url_path(c->booking.url);
    }
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "sim: evhttp_new failed");
        goto fail;
    }
    evhttp_set_max_body_size(s->http, SIM_MAX_BODY);
    evhttp_set_max_headers_size(s->http, SIM_MAX_HEADERS);
    evhttp_set_timeout(s->http, 60);
    /* Read and drop an oversized body before answering 413, so that the
     * client reads our answer instead of a connection reset. */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    /* Accept every method so that we, not evhttp (501), say 405. */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);

    bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (bound == NULL) {
        sf_error_set(err, SF_ERR_TRANSPORT, "sim: cannot listen on %s:%d: %s",
                     host, port, strerror(errno));
        goto fail;
    }
    fd = evhttp_bound_socket_get_fd(bound);
    /* Headers and body leave in separate segments; without this they meet
     * the peer's delayed ACK (design.md §8). Accepted sockets inherit it. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        sf_error_set(err, SF_ERR_TRANSPORT, "sim: getsockname: %s",
                     strerror(errno));
        goto fail;
    }
    if (ss.ss_family == AF_INET)
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return s;
fail:
    sim_free(s);
    return NULL;
}

int sim_set_faults(struct sim *s, size_t index, const struct sim_faults *f,
                   struct sf_error *err)
{
    if (s == NULL || f == NULL || index >= s->region->nclinics) {
        sf_error_set(err, SF_ERR_CONFIG, "sim: no clinic %zu", index);
        return -1;
    }
    if (f->latency_ms < 0 || f->latency_ms > 600000 ||
        f->drip_bytes_per_s < 0 || f->fail_permille < 0 ||
        f->fail_permille > 1000 || f->retry_after_s < 0 ||
        f->retry_after_s > 86400 || f->body_bytes < 0 ||
        f->change_every_s < 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "sim: clinic %s: fault value out "
                     "of range",
                     s->region->clinics[index].id);
        return -1;
    }
    s->faults[index] = *f;
    return 0;
}

/* One numeric key of a sim object; -1 with err on a bad value. */
static int fault_num(const cJSON *o, const char *key, size_t i, double lo,
                     double hi, double *out, struct sf_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "$.clinics[%zu].sim.%s: not a "
                     "number in %g..%g",
                     i, key, lo, hi);
        return -1;
    }
    *out = v->valuedouble;
    return 0;
}

int sim_load_faults(struct sim *s, const char *json, size_t len,
                    struct sf_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(root, "clinics");
    int rc = 0;

    if (!cJSON_IsArray(cl)) {
        sf_error_set(err, SF_ERR_CONFIG, "$.clinics: not an array");
        cJSON_Delete(root);
        return -1;
    }
    for (size_t i = 0; i < s->region->nclinics; i++) {
        const cJSON *o =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cl, (int)i),
                                             "sim");
        double v[6] = { 0, 0, 0, 0, 0, 0 };
        struct sim_faults f;
        if (o == NULL)
            continue;
        if (fault_num(o, "latency_ms", i, 0, 600000, &v[0], err) != 0 ||
            fault_num(o, "drip_bytes_per_s", i, 1, 1e9, &v[1], err) != 0 ||
            fault_num(o, "fail_rate", i, 0, 1, &v[2], err) != 0 ||
            fault_num(o, "retry_after_s", i, 0, 86400, &v[3], err) != 0 ||
            fault_num(o, "body_bytes", i, 0, 4e9, &v[4], err) != 0 ||
            fault_num(o, "change_every_s", i, 0, 1e8, &v[5], err) != 0) {
            rc = -1;
            break;
        }
        f.latency_ms = (int)v[0];
        f.drip_bytes_per_s = (int)v[1];
        f.fail_permille = (int)(v[2] * 1000 + 0.5);
        f.retry_after_s = (int)v[3];
        f.body_bytes = (long)v[4];
        f.change_every_s = (int)v[5];
        if (sim_set_faults(s, i, &f, err) != 0) {
            rc = -1;
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

int sim_port(const struct sim *s)
{
    return s->port;
}

unsigned long sim_requests(const struct sim *s)
{
    return s->requests;
}

size_t sim_pending(const struct sim *s)
{
    return s->npending;
}

void sim_free(struct sim *s)
{
    if (s == NULL)
        return;
    /* Frees every connection; on_conn_close drops their jobs and libevent
     * frees the requests. */
    if (s->http != NULL)
        evhttp_free(s->http);
    /* Whatever is left never reached a connection close: free the job
     * only, never its request (evhttp_free has taken care of those). */
    while (s->jobs != NULL)
        job_free(s->jobs);
    for (size_t i = 0; i < s->nlog; i++)
        free((char *)s->log[i].path);
    free(s->log);
    if (s->base_path != NULL)
        for (size_t i = 0; i < s->region->nclinics; i++)
            free(s->base_path[i]);
    free(s->base_path);
    free(s->faults);
    free(s->nreq);
    free(s->bomb);
    free(s);
}

int sim_set_offsite_url(struct sim *s, const char *origin, struct sf_error *err)
{
    size_t n = origin != NULL ? strlen(origin) : 0;

    if (s == NULL || n == 0 || n >= sizeof(s->offsite) ||
        (strncmp(origin, "http://", 7) != 0 &&
         strncmp(origin, "https://", 8) != 0) ||
        origin[n - 1] == '/' || strpbrk(origin, "\r\n ") != NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "sim: bad offsite origin \"%s\" "
                     "(want http[s]://host[:port], no path)",
                     origin != NULL ? origin : "(null)");
        return -1;
    }
    memcpy(s->offsite, origin, n + 1);
    return 0;
}
