/*
 * fhir.h - FHIR R4 Slot search adapter (name "fhir-slot").
 *
 * One poll is a Slot search on the clinic's FHIR server, followed page by
 * page through the Bundle's link[relation=next]:
 *
 *   GET {booking.url}/Slot?schedule.actor={booking.actor}&status=free
 *       &start=ge{first_day 00:00 local}&start=lt{last_day + 1, 00:00 local}
 *       &_include=Slot:schedule&_sort=start&_count=100
 *       [&{booking.search}]
 *   Accept: application/fhir+json
 *   Authorization: Bearer <token>     (only with booking.token_file)
 *
 * Slots with status "free" become avail_slots; the practitioner comes from
 * the included Schedule's Practitioner/PractitionerRole actor display, the
 * service from Slot.serviceType (else Schedule.serviceType), unless
 * booking.time_type_name overrides it. The search also asks _sort=start,
 * so pages come earliest first. Paging stops at booking.page_cap pages:
 * the poll is then DONE with the slots read so far (the earliest ones, so
 * first free time and the care guarantee stay right) and a warning is
 * logged. Error classes: docs/adapters.md.
 */
#ifndef SLOTFEED_FHIR_H
#define SLOTFEED_FHIR_H

#include "slotfeed/adapter.h"

/* Slots asked for per page (_count). */
#define FHIR_PAGE_SIZE 100
/* Largest token file read, in bytes. */
#define FHIR_TOKEN_MAX 8192

#endif
