/*
 * th_time.h - civil UTC time to instants and day numbers via glibc's
 * timegm(), independent of clock.c, for deriving expected values.
 */
#ifndef TH_TIME_H
#define TH_TIME_H

#include <stdint.h>

/* Seconds since the epoch of the civil UTC time y-mo-d h:mi:s. */
int64_t th_utc(int y, int mo, int d, int h, int mi, int s);

/* Days since 1970-01-01 of the civil date y-mo-d. */
int32_t th_dayn(int y, int mo, int d);

#endif
