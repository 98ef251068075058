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

#endif
