/*
 * smart.h - SMART Scheduling Links bulk adapter (name "smart-bulk").
 *
 * A poll reads the publisher's $bulk-publish manifest at booking.url
 * (transactionTime, output[] of {type, url}), then its NDJSON files:
 * Location (to confirm booking.location exists), Schedule and Slot. Slots
 * are joined Slot.schedule -> Schedule.actor -> Location/{booking.location};
 * free ones in the poll window become avail_slots with the booking-deep-link,
 * booking-phone and slot-capacity extensions.
 *
 * Between polls the adapter keeps, in *ctx->cache, the manifest's
 * transactionTime, ETag and Last-Modified and the slots found for the
 * clinic (all of them, not only the window's). The next poll sends
 * If-None-Match / If-Modified-Since; a 304, or a 200 with the same
 * transactionTime, ends the poll after one request with the cached slots.
 *
 * Its requests are shared documents (adapter.h): clinics with the same
 * booking.url (Locations of one publisher) share one download of the
 * manifest and of each file, and one parse of each.
 */
#ifndef SLOTFEED_SMART_H
#define SLOTFEED_SMART_H

#include "slotfeed/adapter.h"

/* Most output files a manifest may list (more is SF_ERR_PARSE). */
#define SMART_MAX_OUTPUTS 256

#define SMART_EXT_DEEP_LINK \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link"
#define SMART_EXT_PHONE \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone"
#define SMART_EXT_CAPACITY \
    "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity"

/*
 * Bodies (manifests and files) the adapter has parsed since the process
 * started: with shared documents (adapter.h) one per distinct body, not
 * one per clinic. For tests and benches; the loop's thread only.
 */
unsigned long smart_parse_count(void);

/*
 * Our own extension (docs/adapters.md, "Relayed clinic state"): on a
 * Location, what a slotfeed publisher knows of the clinic that the
 * specification has no field for. A complex extension whose parts are
 * (sub-extension url: value[x]):
 *   web-booking: valueCode   open | none | unreachable | unknown (always)
 *   status: valueCode        ok | stale | error (always; the feed's,
 *                            age rule included)
 *   valid-at, checked-at: valueInstant   when known (not "never")
 *   error-class: valueCode, error-message: valueString   while the last
 *                            poll's error lasts
 *   booking-url: valueUrl    the clinic's booking page (config)
 *   website: valueUrl        the clinic's website (config)
 *   service: valueString     the service name asked for (config)
 *   operator: valueCode      private | region (config)
 *   locality: valueString    the clinic's locality, when configured
 * valid-at is there for ok clinics too, so that a reader behind a cache
 * that keeps serving an old copy ages the data into stale itself.
 * A reader that does not know the extension ignores it (FHIR rule).
 */
#define SMART_EXT_CLINIC_STATE \
    "https://slotfeed.invalid/fhir/StructureDefinition/clinic-state"

/*
 * Our Slot extensions (a slotfeed publisher; read only from a publisher
 * whose Location carries the clinic-state extension): the slot's
 * practitioner (valueString; public in the feed's clinic document too)
 * and, for a slot that is not a new visit, follow-up (valueBoolean true).
 * The slot's own visit type is the spec's Slot.serviceType[0].text.
 */
#define SMART_EXT_PRACTITIONER \
    "https://slotfeed.invalid/fhir/StructureDefinition/practitioner"
#define SMART_EXT_FOLLOW_UP \
    "https://slotfeed.invalid/fhir/StructureDefinition/follow-up"

struct cJSON;

/*
 * The clinic-state extension of Location resource loc into *r (set true),
 * when loc carries one with both web-booking and status words; else *r is
 * left unchanged. Unknown parts are ignored, an error-message is cut to
 * fit and made strict UTF-8. The adapter fills ctx->relay with it; the
 * federate command reads it too. Nothing allocated.
 */
void smart_read_clinic_state(const struct cJSON *loc, struct adapter_relay *r);

/*
 * The absolute URL of a manifest's output link, by the adapter's own rule
 * (resolved against manifest, http(s) only, never http under an https
 * manifest, url_check). Malloc'd (caller frees), or NULL: refused (why
 * says why) or out of memory (*oom).
 */
char *smart_output_url(const char *manifest, const char *link, bool *oom,
                       char *why, size_t whysz);

#endif
