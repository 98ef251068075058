/*
 * sim.h - booking-system simulator: serves every clinic of a region over
 * the RIV-TA crm:scheduling 1.1 SOAP contracts on loopback, as a VP would:
 * one endpoint per contract, routed by the LogicalAddress header.
 *
 * Schedules are a pure function of (seed, clinic id, profile, local date):
 * weekdays only, no Swedish holidays, working hours with a lunch break,
 * 2-4 practitioners with Swedish names, each time free or booked by a
 * seeded hash. Passed times are not returned (clock_now()). Profiles
 * (conf_clinic.sim_profile): "normal" (default), "busy" (few free), "full"
 * (none free), "vp004"/"vp007" (platform faults: not connected), "error"
 * (SOAP Fault, 500), "garbage" (non-XML 200), "hostile" (DTD with
 * entities), "hang" (never answers), "http503"; on a normal schedule:
 * "http429" (429 + Retry-After), "reset" (TCP RST, no answer),
 * "truncated" (first half of the body), "huge" (32 MiB made on the fly),
 * "drip" (256 B/s), "flaky" (half the requests 503, 300 ms latency).
 * Hostile transport, for the client's caps: "gzip-bomb"
 * (Content-Encoding: gzip, ~250 KiB on the wire inflating to 256 MiB of
 * blanks, or to sim.body_bytes), "redirect-loop" (302, or 307 for POST,
 * to the same URL, forever), "redirect-offsite" (the same to the same
 * path on another origin: http://192.0.2.1 unless sim_set_offsite_url),
 * "slow-headers" (status line, then one header byte per 100 ms, never
 * the end of the head), "endless" (chunked filler as fast as the socket
 * takes it, never ending), "bad-length" (Content-Length of twice the
 * body + 1 KiB, the body, then close).
 *
 * The same port also serves, by the path of each clinic's booking.url:
 * FHIR R4 Slot search for "fhir-slot" clinics (GET <path>/Slot, routed by
 * schedule.actor; _count paging with absolute next links; _include of
 * Schedules carrying the practitioner), and a SMART Scheduling Links
 * $bulk-publish manifest plus <dir>/Location|Schedule|Slot.ndjson for
 * "smart-bulk" clinics (clinics sharing booking.url share one publisher;
 * its first clinic's faults apply to it; vp004/vp007 members are left
 * out; one Slot per start time with slot-capacity = free practitioners).
 */
#ifndef SLOTFEED_SIM_H
#define SLOTFEED_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/availability.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"

struct event_base;
struct sim;

struct sim_opts {
    uint32_t seed;  /* schedule seed; 0 = 1 */
    int latency_ms; /* added to every answer; 0 = none */
};

/* Start serving region (borrowed) on host:port (0 = ephemeral). */
struct sim *sim_new(struct event_base *base, const struct conf_region *region,
                    const char *host, int port, const struct sim_opts *opts,
                    struct sf_error *err);
int sim_port(const struct sim *s);

/*
 * The name of the i-th profile the simulator knows (static string), NULL
 * past the last. The config module keeps its own list to check
 * sim.profile in `check-config`; a test holds the two equal.
 */
const char *sim_profile_name(size_t i);
/* Requests answered so far (all contracts). */
unsigned long sim_requests(const struct sim *s);
/*
 * Requests received but not answered yet: delayed by latency_ms or held by
 * the "hang" profile. A client that closes its connection takes its
 * request with it (the count drops once the loop notices).
 */
size_t sim_pending(const struct sim *s);
/*
 * Stop listening, drop every pending request and free s (NULL ok). The
 * base and region must still be alive. Replies go out with plain writes:
 * processes running a sim should ignore SIGPIPE.
 */
void sim_free(struct sim *s);

/*
 * The free slots of one clinic on one local date, as the simulator will
 * serve them (before the "passed times" filter). Appends to out.
 * Tests use this as ground truth. Returns 0 or -1 (OOM).
 */
int sim_schedule_day(uint32_t seed, const struct conf_clinic *clinic,
                     int32_t day, struct avail_slots *out);

/* --- request log, in-flight count, per-clinic faults ------------------- */

/* One received request, in arrival order. Strings borrowed from the sim. */
struct sim_request_entry {
    int64_t time_ms;  /* arrival, monotonic clock (CLOCK_MONOTONIC) ms */
    long clinic;      /* index into region->clinics, or -1 (unrouted) */
    const char *path; /* request path without the query */
};

/*
 * Every request received so far, oldest first; *n gets the count. The
 * array and its strings stay valid until the next event-loop turn of the
 * sim (it may grow) or sim_free. Never NULL when *n > 0.
 */
const struct sim_request_entry *sim_request_log(const struct sim *s, size_t *n);
/* Most requests ever in flight at once (received, reply not yet done:
 * latency, drip, hang count until the last byte is sent or dropped). */
size_t sim_max_inflight(const struct sim *s);

/*
 * Per-clinic misbehaviour (config clinics[].sim object besides profile).
 * Zero fields mean "off". See sim_load_faults for the JSON keys.
 */
struct sim_faults {
    int latency_ms;       /* delay before answering, 0..600000 */
    int drip_bytes_per_s; /* send the body in small chunks at this rate */
    int fail_permille;    /* share of requests answered 5xx (fail_rate) */
    int retry_after_s;    /* > 0: failures are 429 with Retry-After */
    long body_bytes;      /* > 0: "huge" body of this size, made on the fly */
    int change_every_s;   /* > 0: free/booked hash mixes this epoch in */
};

/* Set clinic `index`'s faults (copied). Returns 0 or -1 (bad index/range). */
int sim_set_faults(struct sim *s, size_t index, const struct sim_faults *f,
                   struct sf_error *err);

/*
 * Read clinics[i].sim.{latency_ms, drip_bytes_per_s, fail_rate (0..1),
 * retry_after_s, body_bytes, change_every_s} from the region JSON text the
 * sim's region was loaded from (same clinic order) and apply them. Returns
 * 0 or -1 with err naming the JSON path.
 */
int sim_load_faults(struct sim *s, const char *json, size_t len,
                    struct sf_error *err);

/*
 * Like sim_schedule_day, at instant `now` for a clinic whose schedule
 * changes every change_every_s seconds (0 = never): the epoch
 * floor(now / change_every_s) is mixed into the free/booked hash, so the
 * answer only changes when the epoch does.
 */
int sim_schedule_day_at(uint32_t seed, const struct conf_clinic *clinic,
                        int change_every_s, int64_t now, int32_t day,
                        struct avail_slots *out);

/* --- hostile transport ------------------------------------------------ */

/*
 * Origin ("http://host:port", no path) the "redirect-offsite" profile
 * sends clients to; the request's path and query are appended. Tests
 * point it at a listener of their own to see whether it is followed.
 * Returns 0 or -1 with err (not http(s), ends in '/', too long).
 */
int sim_set_offsite_url(struct sim *s, const char *origin,
                        struct sf_error *err);

#endif
