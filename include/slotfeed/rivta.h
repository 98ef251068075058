/*
 * rivta.h - RIV-TA crm:scheduling 1.1 (SOAP 1.1, RIVTABP21) adapter.
 *
 * The adapter (adapter_rivta, name "rivta-scheduling") asks
 * GetAvailableDates for the whole window, then GetAvailableTimeslots for
 * the spans of dates that have time, and turns timeslotDetail elements into
 * slots. The building and parsing functions are exported for tests and for
 * `slotfeed compute`.
 *
 * With a time-type mapping (booking.time_types) the adapter first asks
 * GetAllTimeTypes when the mapping has more than one id or
 * booking.discover_time_types is set, then runs the Dates -> Timeslots
 * conversation once per new-visit type the unit offers, with its
 * timeTypeID. Slots get the mapped service name; slots of mapped
 * non-new-visit types are kept with follow_up set; unmapped types are
 * dropped and logged once per change (the per-clinic cache remembers).
 *
 * Endpoint of contract C for a clinic whose booking.url is B:
 *   B "/crm/scheduling/" C "/1/rivtabp21"
 * SOAPAction: "urn:riv:crm:scheduling:" C "Responder:1:" C
 * unless booking.endpoints overrides either for C. booking.tls goes to
 * every request (adapter_request tls_cert/tls_key/tls_ca).
 *
 * XML safety: bodies are parsed from memory with XML_PARSE_NONET, without
 * entity substitution or DTD loading, and any body carrying a DTD is
 * refused (SOAP 1.1 forbids DTDs) as SF_ERR_HOSTILE before anything is read.
 */
#ifndef SLOTFEED_RIVTA_H
#define SLOTFEED_RIVTA_H

#include <stddef.h>
#include <stdint.h>

#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/error.h"

enum riv_contract {
    RIV_GET_AVAILABLE_DATES,
    RIV_GET_AVAILABLE_TIMESLOTS,
    RIV_GET_ALL_TIME_TYPES
};

/* "GetAvailableDates", ... */
const char *riv_contract_name(enum riv_contract c);

struct riv_query {
    const char *logical_address; /* clinic HSA-id: header and body */
    const char *subject_of_care; /* query identity (12 digits) */
    const char *actor_type;      /* "subject_of_care" by default */
    int32_t first_day, last_day; /* inclusive local dates */
    const char *time_type_id;    /* or NULL */
};

/*
 * Build the SOAP 1.1 envelope of contract c for q. Every value must be
 * valid UTF-8 of XML characters (else SF_ERR_CONFIG) and is escaped into
 * the text (< > & and CR). Returns a malloc'd, NUL-terminated string the
 * caller frees, or NULL with err set.
 */
char *riv_build_envelope(enum riv_contract c, const struct riv_query *q,
                         struct sf_error *err);

/*
 * Parse a GetAvailableDates response (SOAP envelope or bare response
 * element). Appends each distinct local date to days (sorted, unique);
 * *ndays in/out: capacity in, count out. SOAP Faults map to
 * SF_ERR_NOT_CONNECTED (VP004, VP007) or SF_ERR_FAULT. Returns 0 or -1.
 */
int riv_parse_dates(const char *body, size_t len, int32_t *days, size_t *ndays,
                    struct sf_error *err);

/*
 * Parse a GetAvailableTimeslots response (SOAP envelope or bare response
 * element) and append its slots. Unknown elements are skipped; a
 * timeslotDetail with missing/invalid times is skipped and counted in
 * *skipped (may be NULL). Returns 0 or -1 (faults as above).
 */
int riv_parse_timeslots(const char *body, size_t len, struct avail_slots *slots,
                        size_t *skipped, struct sf_error *err);

/* One entry of a GetAllTimeTypes answer (ListOfTimeTypes). */
struct riv_time_type {
    char *id;   /* timeTypeId (note: lower-case "Id" in this type) */
    char *name; /* timeTypeName, or NULL when empty */
};

struct riv_time_types {
    struct riv_time_type *v; /* owned, with their strings */
    size_t n;
};

/* Most distinct time types kept from one answer (the rest are skipped). */
#define RIV_TIME_TYPES_MAX 256

/*
 * Parse a GetAllTimeTypes response (SOAP envelope or bare response
 * element). On success *out (initialised, e.g. zeroed; old content freed)
 * holds each distinct timeTypeId in document order; entries without an id
 * are skipped. Faults as for riv_parse_dates. Returns 0, or -1 with *out
 * unchanged.
 */
int riv_parse_time_types(const char *body, size_t len,
                         struct riv_time_types *out, struct sf_error *err);
/* Free the entries; leaves an empty list. NULL ok. */
void riv_time_types_clear(struct riv_time_types *t);

/*
 * The parsers keep one libxml2 parser context per thread between calls
 * (freed at the thread's exit). riv_parse_release frees the calling
 * thread's now: main calls it before xmlCleanupParser.
 */
void riv_parse_release(void);

/*
 * "title first [middle] last" or "last, first" -> "last, first" for display.
 * Returns malloc'd string (caller frees), or NULL on NULL/empty input.
 * Lenient rule (rivta.c): a value with a comma is kept (whitespace
 * normalised); leading titles are dropped ("leg.", "Dr.", known Swedish
 * titles such as "fysioterapeut", lower-case words while two words remain);
 * the last word is the surname: "leg. fysioterapeut Jacob Erik Dalmo" ->
 * "Dalmo, Jacob Erik"; a single remaining word is returned as is. A
 * personnummer in the value is scrubbed (pnr.h) before anything moves.
 */
char *riv_display_name(const char *performer_name);

#endif
