/*
 * fuzz_riv.c - libFuzzer target for the RIV-TA crm:scheduling parsers and
 * the rivta adapter's conversation.
 *
 * Every input goes whole through riv_parse_dates, riv_parse_timeslots and
 * riv_parse_time_types (exact-length buffer: no NUL after it, so an
 * overread is caught). Then, with at least two bytes, byte 0 picks the
 * clinic's time-type setup and whether a second poll reuses the cache,
 * byte 1 the HTTP status of each answer, and the rest, split on FUZZ_SEP,
 * are the bodies of the successive steps (begin -> step -> step ...).
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
#include "slotfeed/rivta.h"

#define NOW INT64_C(1774512000) /* 2026-03-26 08:00Z */
#define D_0326 20538
#define D_0408 20551
#define MAX_PARTS 24
#define MAX_STEPS 40

static struct conf_time_type tt_map[] = {
    { (char *)"FYS-NY", (char *)"Nybesök fysioterapeut", true },
    { (char *)"FYS-NY-RYGG", (char *)"Nybesök fysioterapeut, rygg", true },
    { (char *)"FYS-ATER", (char *)"Återbesök fysioterapeut", false },
};

static void parse_whole(const uint8_t *data, size_t size)
{
    struct sf_error err = { 0 };
    int32_t days[64];
    size_t ndays = sizeof(days) / sizeof(days[0]);
    struct avail_slots slots;
    size_t skipped = 0;
    struct riv_time_types tt = { NULL, 0 };

    if (riv_parse_dates((const char *)data, size, days, &ndays, &err) == 0) {
        for (size_t i = 1; i < ndays; i++)
            if (days[i] <= days[i - 1])
                abort(); /* promised sorted and unique */
    }
    avail_slots_init(&slots);
    if (riv_parse_timeslots((const char *)data, size, &slots, &skipped, &err) ==
        0) {
        for (size_t i = 0; i < slots.n; i++)
            if (slots.v[i].end <= slots.v[i].start)
                abort(); /* avail_slot: end > start */
    }
    avail_slots_clear(&slots);
    riv_parse_time_types((const char *)data, size, &tt, &err);
    riv_time_types_clear(&tt);
}

/* One poll: begin, then one step per part while the adapter asks MORE. */
static void converse(const struct adapter_ctx *ctx, long status,
                     const struct fuzz_part *parts, size_t nparts)
{
    struct sf_error err = { 0 };
    struct adapter_request req = { 0 };
    struct avail_slots slots;
    void *st = NULL;
    enum adapter_status rc;
    size_t k = 0;

    avail_slots_init(&slots);
    rc = adapter_rivta.begin(ctx, &st, &req, &err);
    for (int step = 0; rc == ADAPTER_MORE && k < nparts && step < MAX_STEPS;
         step++) {
        char *body = fuzz_strndup(parts[k].p, parts[k].n);
        struct adapter_response resp = {
            .http_status = status,
            .body = body,
            .len = parts[k].n,
            .content_type = "text/xml; charset=UTF-8",
        };
        struct adapter_request next = { 0 };
        rc = adapter_rivta.step(ctx, st, &resp, &slots, &next, &err);
        free(body);
        adapter_request_clear(&req);
        req = next;
        k++;
    }
    adapter_request_clear(&req);
    adapter_rivta.end(st);
    avail_slots_clear(&slots);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[4] = { 200, 500, 200, 503 };
    struct fuzz_part parts[MAX_PARTS];
    struct conf_region region;
    struct conf_clinic clinic;
    struct adapter_ctx ctx;
    void *cache = NULL;
    size_t nparts;

    log_quiet();
    clock_set_fake(NOW);
    parse_whole(data, size);
    if (size < 2)
        return 0;

    memset(&region, 0, sizeof(region));
    memset(&clinic, 0, sizeof(clinic));
    memset(&ctx, 0, sizeof(ctx));
    region.name = (char *)"Fuzz";
    region.riv_subject_of_care = (char *)"191212121212";
    region.riv_actor_type = (char *)"subject_of_care";
    clinic.id = (char *)"SE2321000016-F1Z1";
    clinic.name = (char *)"Fysio Fuzz";
    clinic.has_booking = true;
    clinic.booking.adapter = (char *)"rivta-scheduling";
    clinic.booking.url = (char *)"http://127.0.0.1:1/vp/";
    switch (data[0] & 3) {
    case 0:
        clinic.booking.time_type_id = (char *)"FYS-NY";
        break;
    case 1:
        break; /* every time type */
    case 2:
        clinic.booking.time_types = tt_map;
        clinic.booking.ntime_types = 3;
        break;
    default:
        clinic.booking.time_types = tt_map;
        clinic.booking.ntime_types = 1;
        clinic.booking.discover_time_types = true;
        break;
    }
    region.clinics = &clinic;
    region.nclinics = 1;
    ctx.region = &region;
    ctx.clinic = &clinic;
    ctx.now = NOW;
    ctx.first_day = D_0326;
    ctx.last_day = (data[0] & 8) ? D_0326 + 60 : D_0408;
    ctx.cache = (data[0] & 4) ? &cache : NULL;

    nparts = fuzz_split(data + 2, size - 2, parts, MAX_PARTS);
    converse(&ctx, statuses[data[1] & 3], parts, nparts);
    if (data[0] & 4) /* a second poll with what it cached */
        converse(&ctx, statuses[(data[1] >> 2) & 3], parts, nparts);
    adapter_rivta.cache_free(cache);
    return 0;
}
