/* th_time.c - see th_time.h. */
#include "th_time.h"

#include <time.h>

int64_t th_utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { 0 };

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}

int32_t th_dayn(int y, int mo, int d)
{
    return (int32_t)(th_utc(y, mo, d, 0, 0, 0) / 86400);
}
