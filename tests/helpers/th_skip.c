/*
 * th_skip.c - see th_skip.h.
 */
#include <stdio.h>

#include "th_skip.h"

int th_skipped;

void th_skip_note(const char *why)
{
    th_skipped++;
    fprintf(stderr, "SKIPPED: %s\n", why);
}

int th_exit(int rc)
{
    if (rc != 0)
        return rc == TH_SKIP_CODE ? 1 : rc;
    return th_skipped > 0 ? TH_SKIP_CODE : 0;
}
