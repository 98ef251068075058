/*
 * feed.h - the published availability feed (Feed v1, docs/feed.md).
 *
 * feed_build() turns the region + clinic states + now into an immutable
 * snapshot: the whole-region JSON and each clinic's detail JSON (with its
 * day-by-day slots), serialized once, each with a strong ETag. The HTTP
 * layer serves these bytes as they are. Availability is recomputed from
 * the stored slots at `now`, so passed slots drop out on every rebuild.
 *
 * Tri-state rule: a clinic with no good data has first_free null and
 * within_guarantee null (unknown), never "no free times".
 */
#ifndef SLOTFEED_FEED_H
#define SLOTFEED_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "slotfeed/availability.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/doc.h"
#include "slotfeed/error.h"
#include "slotfeed/smartpub.h"

/* What filters and metrics need to know of one clinic (feed.c). */
struct feed_clinic_info {
    enum web_booking web;
    enum clinic_status status; /* as published (age-stale included) */
    int within;                /* 1, 0, or -1 = unknown */
    bool any_free;             /* known and at least one future slot */
    char *obj;                 /* its object exactly as in all.json
                                 * (owned by the snapshot's part) */
    size_t obj_len;
    struct avail_slots slots; /* future slots (start > generated_at),
                                 * sorted; empty when unknown; owned by
                                 * the snapshot's part (read only) */
    int64_t checked_at;       /* as published; 0 = never polled */
};

struct feed_part; /* feed.c: one clinic's shared pieces */
struct feed_all;  /* feed.c: what all and all_gz reference */

struct feed_snapshot {
    int64_t generated_at;
    struct doc all;      /* GET /v1/availability: kept as pieces
                                 * (segs: see all_segs; doc_flatten for
                                 * contiguous text) */
    struct doc *clinics; /* GET /v1/clinics/{id}, region order */
    size_t nclinics;
    const struct conf_region *region; /* borrowed */
    /* SMART Scheduling Links NDJSON and their content-change time. */
    struct smartpub_docs smart;
    /*
     * For filtered answers and gzip (feed.c fills, http.c/api.c read):
     * all.json is head + summary + the clinic objects (by reference to
     * info[i].obj), so a filtered document is spliced from the same bytes
     * without re-serializing (feed_summary_format recomputes the summary).
     */
    char *head; /* all.json's first fields, "{...guarantee"
                                 * without the closing brace; owned */
    size_t head_len;
    struct feed_clinic_info *info; /* nclinics entries, region order */
    struct doc all_gz;             /* gzip of all, also pieces (segs);
                                 * ETag "...-gz" */
    struct doc *clinics_gz;        /* gzip of each clinic doc */
    int64_t changed_at;            /* content (all.json minus generated_at)
                                 * last changed: Last-Modified */
    uint64_t serial;               /* unique per feed_build in this process */
    size_t parts_built;            /* clinics serialized anew by this build
                                 * (the others' parts were reused) */
    size_t heavy_built;            /* of those, clinics whose slot pieces
                                 * (slot copy, SMART lines, gzip of the
                                 * detail's days) were made anew: the
                                 * others changed only in checked_at,
                                 * status or the like (second key) */
    /* private (feed.c): each clinic's part (bytes shared with the
     * snapshots that reused it), references besides the builder's */
    struct feed_part **parts;
    /* what all and all_gz reference besides the parts' bytes: the
     * piece lists, all.json's prefix (head, summary, "clinics":[), the
     * gzip's pieces (owned) */
    struct feed_all *all_pieces;
    /* crc32 of all.json's clinic pieces and of the Slot file's pieces,
     * by blocks, for the next build to reuse (doc_crcmemo) */
    struct doc_crcmemo crc_all, crc_slot;
    unsigned extra_refs;
    int released; /* the builder called feed_snapshot_free */
};

/*
 * Build a snapshot. states has region->nclinics entries. Returns 0 and a
 * new snapshot in *out (free with feed_snapshot_free), or -1 with err set.
 */
int feed_build(const struct conf_region *region,
               const struct clinic_state *states, int64_t now,
               struct feed_snapshot **out, struct sf_error *err);

/*
 * Incremental snapshots: the same as feed_build, byte for byte, but each
 * clinic's serialized parts (its all.json object, detail document and
 * its gzip, SMART lines, the gzip piece of all.json) are taken from prev
 * (borrowed; may be NULL; not changed in any way a reader sees) when
 * prev is of the same region (pointer: a reload builds everything anew)
 * and the clinic's part is still valid: same local date, its state's
 * published fields and poll counters unchanged, and `now` inside the
 * window where only the clock could change it (none of its slots has
 * started since, its data has not aged into stale). Parts are shared and
 * refcounted, so prev stays valid and may be freed in any order.
 *
 * A clinic's detail document therefore says as generated_at the instant
 * its content has held since (<= now; docs/feed.md), and the ETags of
 * all.json and the SMART files are tree hashes: FNV-1a over the prefix
 * and each clinic's piece hash (doc_etag_hash), so that no build reads
 * every byte again. all.json references its parts' objects (no copy);
 * its gzip is made of per-clinic deflate pieces, each compressed after
 * its neighbours and copied into one buffer as the parts are collected,
 * between the prefix's and the tail's (doc_gzip_segs).
 */
int feed_build_from(const struct conf_region *region,
                    const struct clinic_state *states, int64_t now,
                    const struct feed_snapshot *prev,
                    struct feed_snapshot **out, struct sf_error *err);

/*
 * Builds in slices: the same build as feed_build_from, cut into steps so
 * that a large one (the first pass, local midnight, a reload) never holds
 * the event loop for long; the previous snapshot stays public meanwhile.
 *
 * feed_job_new starts a build of region at now from prev (may be NULL;
 * a reference is taken, so prev may be freed by its owner meanwhile).
 * feed_job_step collects the next clinics' parts from states (nstates
 * must be region->nclinics; the caller's current states, which may have
 * changed since the last step: each part shows its clinic as of the step
 * that collected it, the snapshot's clock stays `now`), at most
 * max_parts of them (0: no limit) and until clock_mono_ms() reaches
 * deadline_ms (0: none); after the last part it assembles all.json, its
 * gzip and the SMART files (the pieces were noted as the parts were
 * collected: O(clinics) summing and hashing of compact arrays, no
 * serializing, no copying).
 * Returns 1 when more steps are needed, 0 when the snapshot is complete
 * (feed_job_take it), -1 with err set (feed_job_free the job). Without
 * limits, or with states unchanged between steps, the result equals
 * feed_build_from byte for byte (test_feed_incr).
 * feed_job_take returns the snapshot (caller frees) and frees the job.
 * feed_job_free abandons a job (NULL ok). Event-loop thread only.
 */
struct feed_job;
int feed_job_new(const struct conf_region *region, int64_t now,
                 struct feed_snapshot *prev, struct feed_job **out,
                 struct sf_error *err);
int feed_job_step(struct feed_job *j, const struct clinic_state *states,
                  size_t nstates, size_t max_parts, int64_t deadline_ms,
                  struct sf_error *err);
struct feed_snapshot *feed_job_take(struct feed_job *j);
void feed_job_free(struct feed_job *j);
/* The region the job builds (borrowed: keep it alive until the end). */
const struct conf_region *feed_job_region(const struct feed_job *j);

/* What the last feed_job_step did, for the slow-step log: parts
 * collected (and how many serialized anew), the longest one, and the
 * assembly steps' times (0 when not run in that step); microseconds. */
struct feed_step_stats {
    size_t parts, built;
    int64_t part_max_us;
    size_t part_max_index;
    int64_t all_us, smart_us;
};
const struct feed_step_stats *feed_job_last_step(const struct feed_job *j);

/*
 * Drop the builder's reference. The memory is freed now, or, when
 * feed_snapshot_ref() holders remain (replies still being written from
 * its bytes), when the last of them calls feed_snapshot_unref(). NULL ok.
 * Single-threaded: call all three on the event loop's thread.
 */
void feed_snapshot_free(struct feed_snapshot *s);

/*
 * Take / drop an extra reference (the HTTP server holds one per reply
 * that references the snapshot's bytes). A snapshot not made by
 * feed_build() (extra_refs 0, released 0) is never freed by unref.
 */
void feed_snapshot_ref(struct feed_snapshot *s);
void feed_snapshot_unref(struct feed_snapshot *s);

/* Feed format version written as "version" (docs/feed.md). */
#define FEED_VERSION 1
/* A clinic whose valid_at is older than this many poll intervals is stale. */
#define FEED_STALE_INTERVALS 3

/*
 * Add the availability fields of `slots` at `now` under `rule` to obj:
 * first_free, within_guarantee, guarantee_deadline, upcoming_days,
 * more_days, free_slots_within_guarantee, free_slots, and with_days != 0
 * also "days": [{date, slots: [{start, end, time, practitioner, service}]}].
 * With slots == NULL (unknown) the values are null / empty.
 * (Precisely: every field is null except guarantee_deadline, which depends
 * only on now and the rule; upcoming_days and days are null, not [], so
 * "unknown" can never be read as "no free times".)
 * Used by the feed and by `slotfeed compute`. Returns 0 or -1 (OOM).
 */
int feed_add_availability(cJSON *obj, const struct avail_slots *slots,
                          int64_t now, const struct avail_rule *rule,
                          int with_days);

/* Longest "summary":{...} member feed_summary_format writes, plus NUL. */
#define FEED_SUMMARY_MAX 320

/*
 * Write the "summary":{...} member (key included, no surrounding commas)
 * over the n clinics idx[0..n-1] of s (idx NULL: all clinics) into buf,
 * as all.json has it. Returns the length, or 0 when cap is too small.
 */
size_t feed_summary_format(const struct feed_snapshot *s, const size_t *idx,
                           size_t n, char *buf, size_t cap);

/*
 * Publish cadence: when the app may replace the public snapshot
 * (docs/feed.md "When the feed changes"). Plain arithmetic on a
 * monotonic millisecond clock the caller passes in, so tests drive it
 * with invented instants; the app owns one and uses it for every rebuild
 * decision (a finished poll, the refresh tick, a reader, the timer).
 *
 * Something that may change what readers see (a finished poll, the clock
 * passing a slot or a stale deadline) marks the feed dirty; a dirty feed
 * is due at
 *     max(first unpublished change + coalesce,
 *         last publication + max(interval, coalesce, 4 * last build time))
 * so a burst of polls costs one build, the public bytes (and so the
 * ETags) change at most once per interval, the first change after a
 * quiet interval goes out within `coalesce`, and no change waits longer
 * than the interval -- unless builds are so slow that four of them exceed
 * it: the loop then spends at most a fifth of its time building. A
 * publication built at instant T shows every change up to T.
 *
 * An urgent change (a clinic's first answer since it joined the feed: at
 * start-up, after a reload that added it) does not wait for the
 * interval: it is due at urgent change + coalesce, still spaced four
 * build durations (and coalesce) after the last publication. It happens
 * once per clinic, so it cannot churn the ETags in steady state.
 */
struct feed_cadence {
    int64_t interval_ms;  /* publish_interval_s * 1000; 0 = every change */
    int64_t coalesce_ms;  /* burst window, >= 1 */
    int64_t published_ms; /* end of the last publication (if published) */
    int64_t build_ms;     /* its duration */
    int64_t dirty_ms;     /* first change not yet published (if dirty) */
    int64_t urgent_ms;    /* first urgent one (if urgent) */
    bool published;
    bool dirty;
    bool urgent;
};

/* Start clean and never published (the first touch is due at once +
 * coalesce). interval_s < 0 counts as 0, coalesce_ms < 1 as 1. */
void feed_cadence_init(struct feed_cadence *c, int interval_s, int coalesce_ms);

/* A reload changed publish_interval_s: applies from the next decision. */
void feed_cadence_set_interval(struct feed_cadence *c, int interval_s);

/* Something readers may see changed at now_ms (the first one counts). */
void feed_cadence_touch(struct feed_cadence *c, int64_t now_ms);

/* The same for an urgent change (see above). */
void feed_cadence_touch_urgent(struct feed_cadence *c, int64_t now_ms);

/* Milliseconds from now_ms until a publication is due: 0 = due now,
 * -1 = clean (nothing to publish). */
int64_t feed_cadence_wait_ms(const struct feed_cadence *c, int64_t now_ms);

/* A snapshot built from start_ms to end_ms is now public: clean again. */
void feed_cadence_published(struct feed_cadence *c, int64_t start_ms,
                            int64_t end_ms);

/*
 * Count the /metrics feed gauges of s (clinics by published status and
 * web_booking, within the guarantee, build time) into *out.
 */
struct metrics_feed;
void feed_metrics(const struct feed_snapshot *s, struct metrics_feed *out);

/* Index of clinic id (case-insensitive) in the snapshot, or -1. */
long feed_clinic_index(const struct feed_snapshot *s, const char *id);

#endif
