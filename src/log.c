/* log.c - key=value log lines on stderr, one event per line. */
#include "slotfeed/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level min_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl) { min_level = lvl; }
void log_quiet(void) { min_level = LOG_LVL_ERROR; }

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (lvl < min_level)
        return;
    /* Real wall time on purpose: logs say when things happened, even
     * when "now" is faked for the computation. */
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "ts=%s level=%s event=%s ", ts, names[lvl], event);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
