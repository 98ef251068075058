/*
 * log.h - one line per event on stderr, key=value (logfmt) or JSON:
 *
 *   ts=2026-11-23T10:15:00Z level=info event=poll clinic=x error="a \"b\""
 *   {"ts":"2026-11-23T10:15:00Z","level":"info","event":"poll","clinic":"x"}
 *
 * Callers pass key=value text after the event name (values with spaces in
 * double quotes, as written today; they need not escape anything). log_msg
 * formats that text, scrubs anything shaped like a Swedish personnummer or
 * samordningsnummer (pnr.h: every spelling, valid date and check digit)
 * to "[personnummer]", then
 * splits it back into fields and writes them escaped, so a value holding
 * quotes or newlines still makes exactly one line. Never log the query
 * identity (personnummer) or credentials: the scrub is a second line of
 * defence, not a licence. docs/operations.md describes the fields.
 */
#ifndef SLOTFEED_LOG_H
#define SLOTFEED_LOG_H

#include <stddef.h>
#include <stdio.h>

enum log_level {
    LOG_LVL_DEBUG = 0,
    LOG_LVL_INFO,
    LOG_LVL_WARN,
    LOG_LVL_ERROR
};

/* Minimum level printed (default INFO). */
void log_set_level(enum log_level lvl);
/* Silence everything below ERROR (tests); same as log_set_level(ERROR). */
void log_quiet(void);

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_msg(LOG_LVL_ERROR, ev, __VA_ARGS__)

enum log_format {
    LOG_FMT_KV = 0,
    LOG_FMT_JSON
};

/* Line format (default LOG_FMT_KV). */
void log_set_format(enum log_format fmt);

/* "kv" | "json" -> *out. 0, or -1 (out untouched) for anything else. */
int log_parse_format(const char *s, enum log_format *out);

/* "debug" | "info" | "warn" | "error" -> *out. 0, or -1 (untouched). */
int log_parse_level(const char *s, enum log_level *out);

/* Where lines go; NULL = stderr (the default). Borrowed: the caller keeps
 * the stream open until it sets another one. For tests. */
void log_set_output(FILE *f);

#endif
