/*
 * fuzz_smart.c - libFuzzer target for the smart-bulk adapter: a
 * $bulk-publish manifest and its NDJSON files.
 *
 * Byte 0 picks the clinic's setup (location, service override, window)
 * and whether a second poll runs with the first one's cache; byte 1 the
 * HTTP status of the manifest (first and second poll) and of the files.
 * The rest, split on FUZZ_SEP: part 0 the manifest, parts 1.. the files
 * in the order the adapter asks for them. Bodies are NUL-terminated
 * copies, as fetch hands them over.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "slotfeed/adapter.h"
#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/log.h"
#include "slotfeed/smart.h"

#define NOW INT64_C(1774512000) /* 2026-03-26 08:00Z */
#define D_0326 20538
#define D_0408 20551
#define MAX_PARTS 32
#define MAX_STEPS 300 /* > SMART_MAX_OUTPUTS would only repeat parts */

static void poll_once(const struct adapter_ctx *ctx, long manifest_status,
                      long file_status, const struct fuzz_part *parts,
                      size_t nparts)
{
    struct adapter_request req = { 0 };
    struct sf_error err = { 0 };
    struct avail_slots slots;
    enum adapter_status rc;
    void *st = NULL;
    size_t k = 0;

    avail_slots_init(&slots);
    rc = adapter_smart.begin(ctx, &st, &req, &err);
    while (rc == ADAPTER_MORE && k < nparts && k < MAX_STEPS) {
        char *body = fuzz_strndup(parts[k].p, parts[k].n);
        struct adapter_response resp = {
            .http_status = k == 0 ? manifest_status : file_status,
            .body = body,
            .len = parts[k].n,
            .content_type =
                k == 0 ? "application/json" : "application/fhir+ndjson",
            .etag = k == 0 ? "\"m1\"" : NULL,
            .last_modified = k == 0 ? "Thu, 26 Mar 2026 06:00:00 GMT" : NULL,
        };
        struct adapter_request next = { 0 };
        rc = adapter_smart.step(ctx, st, &resp, &slots, &next, &err);
        free(body);
        adapter_request_clear(&req);
        req = next;
        k++;
    }
    if (rc == ADAPTER_DONE)
        for (size_t i = 0; i < slots.n; i++)
            if (slots.v[i].end <= slots.v[i].start || slots.v[i].capacity < 1)
                abort(); /* avail_slot invariants */
    adapter_request_clear(&req);
    adapter_smart.end(st);
    avail_slots_clear(&slots);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[8] = { 200, 200, 200, 304, 404, 500, 429, 200 };
    struct fuzz_part parts[MAX_PARTS];
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
    void *cache = NULL;
    size_t nparts;
    uint8_t cfg, sel;

    if (size < 2)
        return 0;
    log_quiet();
    clock_set_fake(NOW);
    cfg = data[0];
    sel = data[1];

    memset(&region, 0, sizeof(region));
    memset(&clinic, 0, sizeof(clinic));
    memset(&ctx, 0, sizeof(ctx));
    region.name = (char *)"Fuzz";
    clinic.id = (char *)"SE2321000156-F004";
    clinic.name = (char *)"Fysio Fuzz";
    clinic.has_booking = true;
    clinic.booking.adapter = (char *)"smart-bulk";
    clinic.booking.url =
        (cfg & 1) ? (char *)"http://127.0.0.1:8080/fhir/$bulk-publish"
                  : (char *)"https://booking.rehab.example/fhir/$bulk-publish";
    clinic.booking.location = (cfg & 2) ? (char *)"kil-2" : (char *)"kil-1";
    if (cfg & 4)
        clinic.booking.time_type_name = (char *)"Nybesök fysioterapeut";
    region.clinics = &clinic;
    region.nclinics = 1;
    ctx.region = &region;
    ctx.clinic = &clinic;
    ctx.now = NOW;
    ctx.first_day = D_0326;
    ctx.last_day = (cfg & 8) ? D_0326 : D_0408;
    ctx.cache = (cfg & 16) ? &cache : NULL;

    nparts = fuzz_split(data + 2, size - 2, parts, MAX_PARTS);
    poll_once(&ctx, statuses[sel & 7], statuses[(sel >> 6) & 1 ? 4 : 0], parts,
              nparts);
    if (cfg & 16) /* again, with the first poll's cache */
        poll_once(&ctx, statuses[(sel >> 3) & 7], 200, parts, nparts);
    adapter_smart.cache_free(cache);
    return 0;
}
