/*
 * fhir_json.h - JSON helpers shared by the FHIR adapters (fhir.c, smart.c).
 * Private to adapters/: not part of the public include/ contracts.
 *
 * Everything borrows from the cJSON tree it is given; nothing allocates
 * except fhirj_parse(), whose tree the caller frees with cJSON_Delete().
 */
#ifndef SLOTFEED_FHIR_JSON_H
#define SLOTFEED_FHIR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "slotfeed/error.h"

/* Longest untrusted text quoted in an error message, in bytes. */
#define FHIRJ_QUOTE_MAX 160

/*
 * Byte offset of the first byte that is not valid UTF-8 (RFC 3629: no
 * overlongs, surrogates or code points above U+10FFFF) or is NUL, or
 * (size_t)-1 when all n bytes are fine.
 */
size_t fhirj_utf8_bad(const char *s, size_t n);

/*
 * Parse body[0..len) as exactly one JSON value (whitespace around it
 * allowed). On failure returns NULL with err set to SF_ERR_PARSE naming
 * `what` and the position ("byte 120, line 3, column 7"). The body need
 * not be NUL-terminated. Caller frees the tree with cJSON_Delete().
 */
cJSON *fhirj_parse(const char *body, size_t len, const char *what,
                   struct sf_error *err);

/* A FHIR R4 id: 1..CONF_FHIR_ID_MAX (64) letters, digits, '-', '.'. */
bool fhirj_valid_id(const char *s, size_t n);

/* obj[key] when it is a string, else NULL. obj may be NULL. */
const char *fhirj_str(const cJSON *obj, const char *key);

/*
 * Human name of the first CodeableConcept in array `arr` (e.g.
 * Slot.serviceType): its text, else its first coding's display, else NULL.
 */
const char *fhirj_concept_text(const cJSON *arr);

/* The first member of res.extension[] whose url is `url`, or NULL. */
const cJSON *fhirj_extension(const cJSON *res, const char *url);

enum fhirj_slot {
    FHIRJ_SLOT_FREE = 0,     /* status "free", start/end read, end > start */
    FHIRJ_SLOT_NOT_FREE = 1, /* any other status: not bookable, ignored */
    FHIRJ_SLOT_BAD = -1      /* no status, bad or missing start/end */
};

/* Classify a Slot resource and read its instants (any UTC offset). */
enum fhirj_slot fhirj_slot_times(const cJSON *slot, int64_t *start,
                                 int64_t *end);

/*
 * True when reference `ref` names resource type/id: "Type/id", an
 * absolute URL ending in "/Type/id", either with "/_history/v" after it.
 */
bool fhirj_ref_is(const char *ref, const char *type, const char *id);

/*
 * Text of an OperationOutcome for messages: the first issue's code and
 * its diagnostics or details.text, quoted safely into buf. *code (may be
 * NULL) gets the first issue's code or NULL.
 */
void fhirj_outcome_text(const cJSON *oo, char *buf, size_t n,
                        const char **code);

#endif
