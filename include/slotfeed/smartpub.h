/*
 * smartpub.h - SMART Scheduling Links publication of the merged feed.
 *
 * From the same inputs as feed_build() (region, clinic states, now) we
 * produce three NDJSON documents (one minified FHIR R4 resource per line,
 * each line ending in '\n'), serialized once per rebuild into a struct
 * smartpub_docs (the feed snapshot holds one; indexed by enum
 * smartpub_type):
 *
 *   Location  one per clinic: id = the HSA-id, identifier with system
 *             SMARTPUB_HSA_SYSTEM, name, telecom (phone, url), address
 *             {city = locality or municipality, district = municipality,
 *             country "SE"}, and the clinic-state extension (smart.h:
 *             web_booking, status, valid_at/checked_at when not ok, error,
 *             booking_url, website, service) so a slotfeed reader loses
 *             nothing (docs/adapters.md).
 *   Schedule  one per clinic with web booking configured and not reported
 *             "none" (WEB_OPEN, WEB_UNREACHABLE, WEB_UNKNOWN): id =
 *             "<HSA-id>-booking", actor Location/<HSA-id>, serviceType from
 *             the clinic's time_type_name, has-availability "some"/"none"
 *             when the feed knows the availability, "unknown" otherwise.
 *             Clinics without web booking have a Location and no Schedule.
 *   Slot      one per future free slot of a clinic whose availability the
 *             feed publishes (same rule as feed.c, so counts equal the
 *             feed's free_slots): id "<HSA-id>-<start epoch>-<k>", schedule
 *             Schedule/<HSA-id>-booking, status "free", start/end with
 *             offset, booking-deep-link (the slot's booking_url, else the
 *             clinic's), booking-phone (the slot's, else the clinic's
 *             phone, when one exists), slot-capacity when above 1.
 *
 * The manifest ($bulk-publish) holds absolute URLs, so it is built per
 * request from the public base URL (config key or Host header, chosen by
 * the HTTP layer). Its transactionTime is the time the published content
 * last changed (see smartpub_docs_set_segs), not the rebuild time, so a client's
 * "same transactionTime -> nothing to fetch" check works.
 *
 * HTTP layer (routes, content types):
 *   GET /$bulk-publish            smartpub_manifest(), application/json
 *   GET /bulk/Location.ndjson     smartpub_ndjson(d, "Location")
 *   GET /bulk/Schedule.ndjson     smartpub_ndjson(d, "Schedule")
 *   GET /bulk/Slot.ndjson         smartpub_ndjson(d, "Slot")
 *                                 all three application/fhir+ndjson, with
 *                                 the doc's ETag; Last-Modified may use
 *                                 smartpub_transaction_time().
 */
#ifndef SLOTFEED_SMARTPUB_H
#define SLOTFEED_SMARTPUB_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/doc.h"
#include "slotfeed/sbuf.h"

/* Index into smartpub_docs.doc[] (SMARTPUB_NDOCS entries). */
enum smartpub_type {
    SMARTPUB_LOCATION = 0,
    SMARTPUB_SCHEDULE = 1,
    SMARTPUB_SLOT = 2
};
#define SMARTPUB_NDOCS 3

/*
 * The three NDJSON files of one rebuild and their content-change time.
 * Location and Schedule are kept as pieces of text (doc.h: segs =
 * seg[t]); Slot, most of a large region's memory (≈ 100 KB of text per
 * clinic), only compressed: doc[SLOT] has zsrc = &gz[SLOT], a gzip member
 * whose pieces (seg[SLOT]) are the clinics' deflate pieces by reference.
 */
struct smartpub_docs {
    struct doc doc[SMARTPUB_NDOCS];
    struct doc gz[SMARTPUB_NDOCS];       /* gzip forms; only gz[SLOT] set */
    struct doc_seg *seg[SMARTPUB_NDOCS]; /* owned arrays; the pieces'
                                            * bytes are the feed's parts' */
    unsigned char gz_tail[8];            /* gz[SLOT]'s trailer */
    int64_t transaction_time;            /* UTC seconds */
};

/* Paths of the files under the base URL, as the manifest lists them. */
#define SMARTPUB_MANIFEST_PATH "/$bulk-publish"
#define SMARTPUB_NDJSON_PREFIX "/bulk/" /* + "Location.ndjson" ... */
#define SMARTPUB_CONTENT_TYPE "application/fhir+ndjson"

/* HSA-id identifier system (protocols.md §2.2, §3.5). */
#define SMARTPUB_HSA_SYSTEM "urn:oid:1.2.752.29.4.19"
#define SMARTPUB_EXT_HAS_AVAILABILITY \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/has-availability"

/* Longest base URL smartpub_manifest() accepts. */
#define SMARTPUB_BASE_URL_MAX 1024

/*
 * The pieces the feed's incremental snapshots are made of (feed.c keeps
 * each clinic's lines and reuses them):
 *
 * smartpub_clinic_location_line appends clinic c's Location line into *b
 * (its state and times, so it moves with every poll); status is the one
 * the feed publishes for it at now (feed.c's, the age rule included),
 * relayed in the clinic-state extension. smartpub_clinic_schedule_lines
 * appends its Schedule and Slot lines at now into b[SCHEDULE], b[SLOT]
 * (they move only with the slots and the web state, which is why the feed
 * keeps them apart). 0 or -1 (OOM).
 *
 * smartpub_docs_set_segs makes the three files: Location and Schedule
 * from segs[t] (nseg[t] entries, malloc'd, moved into out; their bytes
 * borrowed: whoever owns them must outlive out, as the feed's parts
 * outlive their snapshot), Slot from the nz raw-deflate pieces zslot
 * (doc_zpart_make_big, borrowed likewise) with segs[SLOT] (malloc'd with
 * room for nz + 3 entries, moved into out) holding the gzip member;
 * slot_sum (NULL: computed) is the crc32 sum of the nz pieces.
 * tree[t] is each file's tree hash (FNV-1a over the per-clinic hashes of
 * its lines, from HASH_FNV1A_INIT): a file's ETag is doc_etag_hash of it
 * and the plain length, so it is computed without reading the file
 * (and still changes with any byte); the Slot gzip's is that + "-gz".
 * transactionTime: smartpub remembers (one memo per process, event-loop
 * thread only) the hash of the last content it was given and the `now`
 * at which that content first appeared; the same content again keeps
 * that time, different content takes `now`. 0.
 */
int smartpub_clinic_location_line(const struct conf_clinic *c,
                                  const struct clinic_state *st,
                                  enum clinic_status status, struct sbuf *b);
int smartpub_clinic_schedule_lines(const struct conf_clinic *c,
                                   const struct clinic_state *st, int64_t now,
                                   struct sbuf b[SMARTPUB_NDOCS]);
int smartpub_docs_set_segs(struct smartpub_docs *out,
                           struct doc_seg *segs[SMARTPUB_NDOCS],
                           const size_t nseg[SMARTPUB_NDOCS],
                           const struct doc_zpart *const *zslot, size_t nz,
                           const struct doc_crcsum *slot_sum,
                           const uint64_t tree[SMARTPUB_NDOCS], int64_t now);

/* Free the documents' bytes and zero them. NULL ok. */
void smartpub_docs_free(struct smartpub_docs *d);

/*
 * The NDJSON document of type "Location", "Schedule" or "Slot" (exact
 * case, as in the file names), or NULL for any other type or d NULL.
 * Borrowed from d (when d is a snapshot's, hold a feed_snapshot_ref while
 * the bytes are being sent). An empty document (len 0) is a valid file.
 */
const struct doc *smartpub_ndjson(const struct smartpub_docs *d,
                                  const char *type);
/* Its gzip form when the file is kept compressed (Slot), else NULL;
 * borrowed likewise. */
const struct doc *smartpub_ndjson_gz(const struct smartpub_docs *d,
                                     const char *type);

/* Content-change time of the documents (UTC seconds); 0 for d NULL. */
int64_t smartpub_transaction_time(const struct smartpub_docs *d);

/*
 * The $bulk-publish manifest for base_url ("https://feed.example/x", no
 * trailing slash needed; one is dropped): transactionTime, request =
 * base_url + SMARTPUB_MANIFEST_PATH, output [{type, url}] for Location,
 * Schedule, Slot with absolute URLs, error []. Returns a malloc'd
 * NUL-terminated string (caller frees) and its length in *len (may be
 * NULL), or NULL when d or base_url is NULL, base_url is empty, longer
 * than SMARTPUB_BASE_URL_MAX or holds control characters or spaces, or on
 * allocation failure. Its ETag, if wanted: doc_etag() of the bytes.
 */
char *smartpub_manifest(const struct smartpub_docs *d, const char *base_url,
                        size_t *len);

#endif
