/*
 * federate.h - a national region config from regional SMART publications
 * (`slotfeed federate URL... [--output FILE]`, docs/operations.md).
 *
 * Reads each regional $bulk-publish manifest and its Location and
 * Schedule files (over the fetch module: the same URL rule, timeouts and
 * size cap as polls) and writes one clinic per published Location: id
 * (the HSA identifier), name, municipality, locality, operator, phone,
 * website and a smart-bulk booking block {url: the manifest, location:
 * Location.id, booking_url, time_type_name}, taken from the spec's
 * fields and our clinic-state extension (smart.h; mapping in
 * docs/feed.md). Each clinic is checked on its own with conf_parse: one
 * the config would refuse is left out with a warning, so the result
 * passes check-config.
 */
#ifndef SLOTFEED_FEDERATE_H
#define SLOTFEED_FEDERATE_H

#include <stddef.h>
#include <stdio.h>

#include "slotfeed/error.h"

struct cJSON;

/* Largest manifest or file read (bytes): a national Location file of
 * 10,000 clinics is about 8 MB. */
#define FEDERATE_MAX_BYTES ((size_t)64 << 20)

/*
 * The config for the manifests urls[0..n) (n >= 1), clinics in the order
 * of the urls and of their Location files, the first of a duplicate id
 * kept. keep: an earlier config whose top-level keys other than
 * "clinics" are carried over (listen, politeness, ... as the operator
 * set them), or NULL for a minimal {"_comment", "name"}. Warnings (a
 * Location left out and why, an operator assumed) are printed to warn
 * (may be NULL). *out: a new object the caller deletes. 0, or -1 with
 * err set (a manifest or file that could not be read: nothing half done).
 */
int federate_build(const char *const *urls, size_t n, const struct cJSON *keep,
                   FILE *warn, struct cJSON **out, struct sf_error *err);

/*
 * What changed from config old to config new, clinic by clinic (matched
 * by id): "+ ID name", "- ID name", "~ ID: key, key" lines on out (may be
 * NULL: only counted). Returns the number of clinics added, removed or
 * changed.
 */
size_t federate_diff(const struct cJSON *old, const struct cJSON *new_cfg,
                     FILE *out);

#endif
