/*
 * th_scale.c - see th_scale.h.
 */
#include <stdlib.h>

#include "th_scale.h"

int th_time_scale(void)
{
    static int scale;

    if (scale == 0) {
        const char *s = getenv("SLOTFEED_TEST_TIME_SCALE");
        char *end;
        long v = s != NULL ? strtol(s, &end, 10) : 1;

        scale = (s != NULL && (*s == '\0' || *end != '\0')) || v < 1 || v > 100
                    ? 1
                    : (int)v;
    }
    return scale;
}

int64_t th_ms(int64_t ms)
{
    return ms * th_time_scale();
}
