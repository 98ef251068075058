/*
 * th_scale.h - wall-clock bounds that survive a slow build. A test whose
 * check is "within N ms" (a timeout fired, an answer came) multiplies N by
 * the factor in SLOTFEED_TEST_TIME_SCALE (an integer 1..100, default 1).
 * CMakeLists.txt sets it for every test: 1 in a plain build, more under
 * the sanitizers (SLOTFEED_TEST_TIME_SCALE cache variable, raise it on a
 * loaded machine). Bounds that mean an order or a count are written as
 * such and never scaled; lower bounds ("not before the timeout") never
 * need it.
 */
#ifndef TH_SCALE_H
#define TH_SCALE_H

#include <stdint.h>

/* The factor (read once). */
int th_time_scale(void);

/* ms times the factor. */
int64_t th_ms(int64_t ms);

#endif
