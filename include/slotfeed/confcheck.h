/*
 * confcheck.h - checking one value of a JSON configuration, reporting
 * every problem as "PATH: message" with its JSON path
 * ("$.clinics[3].booking.actor: ...").
 *
 * The region walk (conf.c) and the adapters share it: conf.c walks the
 * file and the keys every clinic has; each adapter checks the booking
 * keys only it reads (adapter.h conf_keys) with the same helpers, so
 * every message has one shape and one scrub, wherever it comes from.
 *
 * A checker never stops at the first problem: it reports and carries on,
 * so one run lists them all (the operator fixes a file once). Values are
 * quoted only through confcheck_show(), which cuts and masks them; every
 * line goes through pnr_scrub_buf() (a personnummer is never echoed).
 */
#ifndef SLOTFEED_CONFCHECK_H
#define SLOTFEED_CONFCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* A member of any keyed object that conf_load accepts and ignores: a
 * note for the file's editors (a string or an array of strings). */
#define CONF_COMMENT_KEY "_comment"

struct cJSON;

/* Every problem found, in file order. Strings owned by the list; free
 * with conf_errors_free (conf.h). */
struct conf_errors {
    char **v;
    size_t n;
};

/* After this many problems one last line says the rest were skipped. */
#define CONFCHECK_ERRORS_MAX 100
/* Longest string value accepted anywhere (URLs are the longest real ones). */
#define CONFCHECK_STR_MAX 2048
/* Longest key or value quoted inside a message, in bytes. */
#define CONFCHECK_SHOW_MAX 60
/* Size of a buffer for confcheck_show()'s output. */
#define CONFCHECK_SHOWN (CONFCHECK_SHOW_MAX + 8)
/* Size of a JSON path buffer. */
#define CONFCHECK_PATH 256

/* The state every checker shares; start it as { errs, false, false }. */
struct confcheck {
    struct conf_errors *errs;   /* borrowed; lines are appended */
    bool oom;       /* an allocation failed: the result is unusable */
    bool full;      /* CONFCHECK_ERRORS_MAX reached: further lines dropped */
};

/* Report "path: message" (path NULL: the message stands alone). Sets
 * cx->oom when the line cannot be stored. */
void confcheck_err(struct confcheck *cx, const char *path, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/*
 * Copy s (n bytes; confcheck_show: up to its NUL) into dst for display,
 * at most CONFCHECK_SHOW_MAX bytes, quoted as sf_quote (error.h) quotes
 * every untrusted text: controls as spaces, invalid bytes as '?', no
 * personnummer, whole characters, "..." when cut. Safe for any input;
 * dstlen should be CONFCHECK_SHOWN.
 */
void confcheck_show_n(char *dst, size_t dstlen, const char *s, size_t n);
void confcheck_show(char *dst, size_t dstlen, const char *s);

/* "a string", "an object", ...: what v is, for messages. */
const char *confcheck_type_name(const struct cJSON *v);

/* dst = "<base>.<key>", key shown as confcheck_show() does. */
void confcheck_path_key(char *dst, size_t n, const char *base,
                        const char *key);

/*
 * Look member `it` of an object up among the NULL-terminated `keys`
 * (at most 32). Fills path with "<base>.<key>". Returns the key's index,
 * or -1 after reporting an unknown key (with a "did you mean" hint) or a
 * repeated one; the caller then skips it. *seen collects a bit per key.
 */
int confcheck_member(struct confcheck *cx, const struct cJSON *it,
                     const char *base, const char *const *keys,
                     unsigned *seen, char *path, size_t pathlen);

/* Report each key of `required` (indexes into keys, -1 ended) not in
 * seen, as a problem of the object at path. */
void confcheck_required(struct confcheck *cx, const char *path,
                        const char *const *keys, const int *required,
                        unsigned seen);

/* True when v is an object; else reports and returns false. */
bool confcheck_object(struct confcheck *cx, const struct cJSON *v,
                      const char *path);

/*
 * v as a config string: valid UTF-8, no control characters (every value
 * is single-line and may reach logs, HTTP headers or XML), at most
 * CONFCHECK_STR_MAX bytes and, if nonempty, not empty. Returns the string
 * borrowed from v, or NULL after reporting.
 */
const char *confcheck_str(struct confcheck *cx, const struct cJSON *v,
                          const char *path, bool nonempty);

/* strdup s into *dst, freeing any old value; sets cx->oom on failure. */
void confcheck_store(struct confcheck *cx, char **dst, const char *s);

/* confcheck_str, then stored into *dst. */
void confcheck_get_str(struct confcheck *cx, const struct cJSON *v,
                       const char *path, bool nonempty, char **dst);
/* Optional string: null means "absent"; else it must be nonempty. */
void confcheck_get_opt_str(struct confcheck *cx, const struct cJSON *v,
                           const char *path, char **dst);

/* Integer in lo..hi: 0 and *dst set, or -1 after reporting. */
int confcheck_get_int(struct confcheck *cx, const struct cJSON *v,
                      const char *path, long lo, long hi, long *dst);
void confcheck_get_int_field(struct confcheck *cx, const struct cJSON *v,
                             const char *path, long lo, long hi, int *dst);

/* true or false into *dst; anything else is reported. */
void confcheck_get_bool(struct confcheck *cx, const struct cJSON *v,
                        const char *path, bool *dst);

/*
 * An absolute http(s) URL that url_check() accepts (no credentials: a
 * URL with '@' is never echoed), stored into *dst. The _opt form takes
 * null as "absent".
 */
void confcheck_get_url(struct confcheck *cx, const struct cJSON *v,
                       const char *path, char **dst);
void confcheck_get_opt_url(struct confcheck *cx, const struct cJSON *v,
                           const char *path, char **dst);

/*
 * A path that names a readable regular file now (TLS material: a typo
 * would otherwise surface only as a TLS failure at the first poll),
 * stored into *dst. Relative paths are relative to the working directory.
 */
void confcheck_get_readable_file(struct confcheck *cx, const struct cJSON *v,
                                 const char *path, char **dst);

#endif
