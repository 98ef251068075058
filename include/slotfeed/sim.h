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
 * entities), "hang" (never answers), "http503".
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
    uint32_t seed;          /* schedule seed; 0 = 1 */
    int latency_ms;         /* added to every answer; 0 = none */
};

/* Start serving region (borrowed) on host:port (0 = ephemeral). */
struct sim *sim_new(struct event_base *base, const struct conf_region *region,
                    const char *host, int port, const struct sim_opts *opts,
                    struct sf_error *err);
int sim_port(const struct sim *s);
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

#endif
