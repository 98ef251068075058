/*
 * fuzz_fhir.c - libFuzzer target for the fhir-slot adapter: a FHIR Slot
 * search answered by the input.
 *
 * Byte 0 picks the clinic's setup (page cap, service override, extra
 * search, base URL); byte 1 the HTTP status and Content-Type of every
 * answer (low and high nibble); the rest, split on FUZZ_SEP, are the
 * bodies of the successive pages: begin() -> step(page 1) -> step(page 2)
 * ... while the adapter asks for MORE and parts remain. Bodies are
 * NUL-terminated copies, as fetch hands them over.
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
#include "slotfeed/fhir.h"
#include "slotfeed/log.h"

#define NOW INT64_C(1774522800)
#define D_0326 20538
#define D_0408 20551
#define MAX_PARTS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[8] = { 200, 200, 200, 404, 500, 429, 304, 401 };
    static const char *const ctypes[4] = {
        "application/fhir+json; charset=utf-8", "application/json", "text/html",
        NULL
    };
    struct fuzz_part parts[MAX_PARTS];
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
    struct adapter_request req = { 0 };
    struct sf_error err = { 0 };
    struct avail_slots slots;
    enum adapter_status rc;
    void *st = NULL;
    size_t nparts, k = 0;
    uint8_t cfg, resp_sel;

    if (size < 2)
        return 0;
    log_quiet();
    clock_set_fake(NOW);
    cfg = data[0];
    resp_sel = data[1];

    memset(&region, 0, sizeof(region));
    memset(&clinic, 0, sizeof(clinic));
    memset(&ctx, 0, sizeof(ctx));
    region.name = (char *)"Fuzz";
    clinic.id = (char *)"SE2321000156-F001";
    clinic.name = (char *)"Fysio Fuzz";
    clinic.has_booking = true;
    clinic.booking.adapter = (char *)"fhir-slot";
    clinic.booking.url = (cfg & 1) ? (char *)"http://127.0.0.1:8080/r4/"
                                   : (char *)"https://fhir.example/r4";
    clinic.booking.actor =
        (cfg & 2) ? (char *)"PractitionerRole/pr-1" : (char *)"Location/123";
    clinic.booking.page_cap = (cfg & 4) ? 2 : CONF_DEFAULT_PAGE_CAP;
    if (cfg & 8)
        clinic.booking.time_type_name = (char *)"Nybesök fysioterapeut";
    if (cfg & 16)
        clinic.booking.search = (char *)"service-type=NYB&_elements=start";
    region.clinics = &clinic;
    region.nclinics = 1;
    ctx.region = &region;
    ctx.clinic = &clinic;
    ctx.now = NOW;
    ctx.first_day = D_0326;
    ctx.last_day = (cfg & 32) ? D_0326 : D_0408;

    nparts = fuzz_split(data + 2, size - 2, parts, MAX_PARTS);
    avail_slots_init(&slots);
    rc = adapter_fhir.begin(&ctx, &st, &req, &err);
    while (rc == ADAPTER_MORE && k < nparts) {
        char *body = fuzz_strndup(parts[k].p, parts[k].n);
        struct adapter_response resp = {
            /* the first answer's status is picked; later pages mostly 200 */
            .http_status = statuses[(k == 0 ? resp_sel : resp_sel >> 3) & 7],
            .body = body,
            .len = parts[k].n,
            .content_type = ctypes[(resp_sel >> 6) & 3],
            .etag = (cfg & 64) ? "W/\"1\"" : NULL,
        };
        struct adapter_request next = { 0 };
        rc = adapter_fhir.step(&ctx, st, &resp, &slots, &next, &err);
        free(body);
        adapter_request_clear(&req);
        req = next;
        k++;
    }
    if (rc == ADAPTER_DONE)
        for (size_t i = 0; i < slots.n; i++)
            if (slots.v[i].end <= slots.v[i].start)
                abort(); /* avail_slot: end > start */
    adapter_request_clear(&req);
    adapter_fhir.end(st);
    avail_slots_clear(&slots);
    return 0;
}
