/*
 * error.h - the one error type every module reports through.
 *
 * Functions that can fail return 0 / -1 (or a module enum) and fill a
 * caller-provided struct sf_error with a class and a human message that
 * names what failed and where ("clinic SE..-1: GetAvailableDates: HTTP 503").
 * The struct is plain data on the caller's stack; nothing to free.
 */
#ifndef SLOTFEED_ERROR_H
#define SLOTFEED_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum sf_errclass {
    SF_ERR_NONE = 0,
    SF_ERR_CONFIG,    /* bad configuration or arguments */
    SF_ERR_TRANSPORT, /* connect/DNS/reset: no HTTP answer at all */
    SF_ERR_TIMEOUT,   /* connect or total timeout, slow drip */
    SF_ERR_TOO_LARGE, /* response over the size cap */
    SF_ERR_HTTP,      /* HTTP status that is neither 2xx nor a fault */
    SF_ERR_PARSE,     /* body is not what the protocol says */
    SF_ERR_HOSTILE,   /* body refused for safety (DTD, entities) */
    SF_ERR_FAULT,     /* protocol-level error (SOAP Fault, OperationOutcome) */
    SF_ERR_NOT_CONNECTED, /* platform says: unit/contract not connected (VP004/VP007) */
    SF_ERR_NOMEM,
    SF_ERR_INTERNAL,
    /* a 200 answer not applied: part of a host-wide emptying (plaus.h) */
    SF_ERR_IMPLAUSIBLE
};

/* The last class: loops over every class run SF_ERR_NONE + 1 .. this. */
#define SF_ERR_LAST SF_ERR_IMPLAUSIBLE

struct sf_error {
    enum sf_errclass code;
    char msg[512];
};

/* Set code and a printf-style message (truncated to fit). err may be NULL. */
void sf_error_set(struct sf_error *err, enum sf_errclass code, const char *fmt,
                  ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: " (for adding context). */
void sf_error_prefix(struct sf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void sf_error_clear(struct sf_error *err);

/*
 * Make s fit to publish, in place: bytes that are not strict UTF-8
 * (overlongs, surrogates, over U+10FFFF, stray continuation bytes) and
 * C0/DEL control characters become '?'; a sequence cut short by the end
 * of the string (a message truncated to its buffer) is dropped. Never
 * makes s longer. sf_error_set and sf_error_prefix apply it to every
 * message, because error text quotes upstream bytes and reaches the feed.
 */
void sf_utf8_fix(char *s);

/*
 * The one strict UTF-8 check (RFC 3629: no overlongs, surrogates, code
 * points above U+10FFFF or stray continuation bytes). Every byte below
 * 0x80 counts as valid, NUL and control characters included: callers
 * that refuse those say so themselves.
 *
 * sf_utf8_seq: length (1 to 4) of the valid sequence at s, given n bytes
 * available, or 0 when it is invalid or cut short (n == 0 gives 0).
 * sf_utf8_bad: offset of the first byte that does not start a valid
 * sequence, or (size_t)-1 when all n bytes are valid.
 * sf_utf8_valid: whether all n bytes are valid.
 */
size_t sf_utf8_seq(const char *s, size_t n);
size_t sf_utf8_bad(const char *s, size_t n);
bool sf_utf8_valid(const char *s, size_t n);

/*
 * The one way untrusted text (an upstream fault, a config value) is
 * quoted in a message. From the n bytes at s (NUL bytes included):
 * control characters become spaces (a number split by a newline is
 * joined, then caught), bytes that are not valid UTF-8 become '?', every
 * personnummer becomes PNR_MARK (pnr.h), and the result is cut with
 * pnr_cut's rule (whole characters, never the front of a digit run) to
 * at most max bytes, followed by "..." when cut (all within cap: size dst
 * max + 4 to keep max bytes of text). dst (cap >= 1) is always a NUL-terminated string; out of memory,
 * it says so instead.
 */
void sf_quote(char *dst, size_t cap, const char *s, size_t n, size_t max);

/* Stable lowercase name of a class, e.g. "timeout", for logs and the feed. */
const char *sf_errclass_name(enum sf_errclass code);

#endif
