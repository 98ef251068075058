/*
 * history.h - a demo history for the reports: runs the simulator and the
 * collector in one process on a simulated clock (clock_set_fake stepping
 * by interval_s, no real waiting) and records every poll into the store,
 * so `slotfeed report ...` and the overview's charts have a month to show.
 *
 * The simulator's schedules change every change_every_s (sim_faults): a
 * free time that disappears before it starts is what the reports count as
 * an inferred booking, one that appears is a cancellation / new time.
 *
 * Part of the simulator library (sim/), never linked into the daemon:
 * the command is `slotfeed-sim history generate`.
 */
#ifndef SLOTFEED_HISTORY_H
#define SLOTFEED_HISTORY_H

#include <stdint.h>

#include "slotfeed/conf.h"
#include "slotfeed/error.h"

#define HISTORY_DEFAULT_INTERVAL_S 900
#define HISTORY_DEFAULT_CHANGE_EVERY_S 21600
#define HISTORY_DEFAULT_POLL_FROM_MIN (7 * 60)
#define HISTORY_DEFAULT_POLL_TO_MIN (18 * 60)

struct history_opts {
    int32_t from_day;    /* first local date */
    int days;            /* 1..400 */
    int interval_s;      /* simulated poll interval; 0 = default */
    int change_every_s;  /* schedule change epoch; 0 = default */
    int poll_from_min;   /* polls only in [from, to) local time each */
    int poll_to_min;     /*   day; both 0 = defaults (07:00-18:00) */
    uint32_t seed;       /* simulator seed; 0 = 1 */
    const char *db_path; /* store file; NULL = region->store */
};

struct history_result {
    long passes;    /* collector passes run */
    long polls;     /* clinic polls recorded */
    double seconds; /* wall time */
};

/*
 * Generate the history into the store. region is modified: booking URLs
 * are pointed at the in-process simulator (an ephemeral loopback port) and
 * the politeness limits for it are lifted, so pass a region loaded for
 * this purpose. Uses and finally resets the fake clock. Returns 0 or -1
 * with err.
 */
int history_generate(struct conf_region *region, const struct history_opts *o,
                     struct history_result *res, struct sf_error *err);

/*
 * The `slotfeed-sim history ...` command: argv[0] is "history". Prints
 * its own errors; returns the process exit code (0, 1 failure, 2 usage).
 */
int history_main(int argc, char **argv);

#endif
