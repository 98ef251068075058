/*
 * log.h - one line per event on stderr: "ts=... level=info msg=... k=v".
 * Callers pass key=value text after the event name. Never log the query
 * identity (personnummer) or credentials.
 */
#ifndef SLOTFEED_LOG_H
#define SLOTFEED_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Minimum level printed (default INFO). */
void log_set_level(enum log_level lvl);
/* Silence everything below ERROR (tests); same as log_set_level(ERROR). */
void log_quiet(void);

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_LVL_ERROR, ev, __VA_ARGS__)

#endif
