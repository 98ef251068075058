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
    struct conf_errors *errs; /* borrowed; lines are appended */
    bool oom;                 /* an allocation failed: the result is unusable */
    bool full; /* CONFCHECK_ERRORS_MAX reached: further lines dropped */
};

/* Report "path: message" (path NULL: the message stands alone). Sets
 * cx->oom when the line cannot be stored. */
void confcheck_err(struct confcheck *cx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
void confcheck_path_key(char *dst, size_t n, const char *base, const char *key);

/*
 * Look member `it` of an object up among the NULL-terminated `keys`
 * (at most 32). Fills path with "<base>.<key>". Returns the key's index,
 * or -1 after reporting an unknown key (with a "did you mean" hint) or a
 * repeated one; the caller then skips it. *seen collects a bit per key.
 */
int confcheck_member(struct confcheck *cx, const struct cJSON *it,
                     const char *base, const char *const *keys, unsigned *seen,
                     char *path, size_t pathlen);

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
/*
 * Nonempty string that valid (if not NULL) accepts: 0 and *dst replaced
 * by a copy, or -1 after reporting "\"<s>\" <why>" (s shortened by
 * confcheck_show). why reads as a predicate: "is not a FHIR id (...)".
 */
int confcheck_get_valid_str(struct confcheck *cx, const struct cJSON *v,
                            const char *path, bool (*valid)(const char *s),
                            const char *why, char **dst);

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

/* ---- declarative sections -------------------------------------------- */

/*
 * Most sections are a list of keys, each a number in a range or a string,
 * stored at a fixed place: such a section is a table of confcheck_field
 * (ended by { .name = NULL }) that confcheck_fields() walks, in file
 * order, with confcheck_member()'s rules and messages. Keys with rules of
 * their own (URLs, listen addresses, maps) are CONFCHECK_FN entries: one
 * function each, called by the walk.
 */
enum confcheck_kind {
    CONFCHECK_INT,     /* int, whole number in lo..hi */
    CONFCHECK_LONG,    /* long, whole number in lo..hi */
    CONFCHECK_NUM,     /* double, finite number in lo..hi */
    CONFCHECK_STR,     /* char *, nonempty string (confcheck_get_str)
                           that `valid` (if set) accepts */
    CONFCHECK_CHOICE,  /* char *, one of `choices` */
    CONFCHECK_SECTION, /* an object, walked by the table `sub` */
    CONFCHECK_FN,      /* checked and stored by `fn` */
    CONFCHECK_KNOWN    /* a known key whose value the caller reads */
};

/* The key must be given (reported after the walk, in table order). */
#define CONFCHECK_REQUIRED 1u
/* A problem with this key makes its section "bad": a cross-check that
 * reads it is skipped (one mistake, one message). */
#define CONFCHECK_CROSS 2u

/* Check v (at path) and store it at dst (the field's place); 0, or -1
 * after reporting. */
typedef int confcheck_fn(struct confcheck *cx, const struct cJSON *v,
                         const char *path, void *dst);

struct confcheck_field {
    const char *name; /* NULL ends the table */
    enum confcheck_kind kind;
    unsigned flags;                    /* CONFCHECK_REQUIRED, CONFCHECK_CROSS */
    size_t off;                        /* offsetof the value in the section */
    size_t size;                       /* sizeof the value (checked per kind) */
    double lo, hi;                     /* numbers: the accepted range */
    double def;                        /* numbers: the default */
    const char *sdef;                  /* strings: the default (NULL: none) */
    const char *const *choices;        /* CONFCHECK_CHOICE: NULL-ended */
    bool (*valid)(const char *s);      /* CONFCHECK_STR: false refuses s, */
    const char *why;                   /* reported as "\"<s>\" <why>" */
    const struct confcheck_field *sub; /* CONFCHECK_SECTION */
    confcheck_fn *fn;                  /* CONFCHECK_FN */
};

#define CONFCHECK_AT_(t, m) .off = offsetof(t, m), .size = sizeof(((t *)0)->m)
#define CONFCHECK_INT_AT(key, t, m, l, h, d, fl)              \
    {                                                         \
        .name = (key), .kind = CONFCHECK_INT, .flags = (fl),  \
        CONFCHECK_AT_(t, m), .lo = (l), .hi = (h), .def = (d) \
    }
#define CONFCHECK_LONG_AT(key, t, m, l, h, d)                                  \
    {                                                                          \
        .name = (key), .kind = CONFCHECK_LONG, CONFCHECK_AT_(t, m), .lo = (l), \
        .hi = (h), .def = (d)                                                  \
    }
#define CONFCHECK_NUM_AT(key, t, m, l, h, d)                                  \
    {                                                                         \
        .name = (key), .kind = CONFCHECK_NUM, CONFCHECK_AT_(t, m), .lo = (l), \
        .hi = (h), .def = (d)                                                 \
    }
#define CONFCHECK_STR_AT(key, t, m, d, fl)                   \
    {                                                        \
        .name = (key), .kind = CONFCHECK_STR, .flags = (fl), \
        CONFCHECK_AT_(t, m), .sdef = (d)                     \
    }
#define CONFCHECK_VALID_AT(key, t, m, ok, w, d)                    \
    {                                                              \
        .name = (key), .kind = CONFCHECK_STR, CONFCHECK_AT_(t, m), \
        .valid = (ok), .why = (w), .sdef = (d)                     \
    }
#define CONFCHECK_CHOICE_AT(key, t, m, c, d, fl)                \
    {                                                           \
        .name = (key), .kind = CONFCHECK_CHOICE, .flags = (fl), \
        CONFCHECK_AT_(t, m), .choices = (c), .sdef = (d)        \
    }
#define CONFCHECK_SECTION_AT(key, o, s)                                  \
    {                                                                    \
        .name = (key), .kind = CONFCHECK_SECTION, .off = (o), .sub = (s) \
    }
#define CONFCHECK_FN_AT(key, t, m, f, fl)                   \
    {                                                       \
        .name = (key), .kind = CONFCHECK_FN, .flags = (fl), \
        CONFCHECK_AT_(t, m), .fn = (f)                      \
    }
/* A CONFCHECK_FN whose fn gets the section itself (maps, lists). */
#define CONFCHECK_FN_SECTION(key, f, fl)                              \
    {                                                                 \
        .name = (key), .kind = CONFCHECK_FN, .flags = (fl), .fn = (f) \
    }
#define CONFCHECK_KNOWN_KEY(key)               \
    {                                          \
        .name = (key), .kind = CONFCHECK_KNOWN \
    }

/* An sdef for "no default" (a key table's source holds no NULL before
 * its end: tests/cli/man_pages.sh reads the key names from it). */
#define CONFCHECK_NODEF ((const char *)0)

/* confcheck_fields' n: the whole table. */
#define CONFCHECK_ALL ((size_t)-1)

/* What a walk found: bit i is fields[i]. */
struct confcheck_walk {
    unsigned seen; /* given (once) */
    unsigned bad;  /* given and refused (a section: not an object, or a
                       CONFCHECK_CROSS key of it refused) */
};

/*
 * Walk the members of object obj (at base; the caller has checked that
 * it is one) by the first n fields of the table (CONFCHECK_ALL: up to
 * its end, at most 32), storing each value into the section dst. Reports
 * unknown, repeated, refused and missing required keys; *w (may be NULL)
 * says what was seen and refused.
 */
void confcheck_fields(struct confcheck *cx, const struct cJSON *obj,
                      const char *base, const struct confcheck_field *fields,
                      size_t n, void *dst, struct confcheck_walk *w);

/* Every default of the table (and its sections) into dst; strings are
 * copied (cx->oom when that fails). */
void confcheck_defaults(struct confcheck *cx,
                        const struct confcheck_field *fields, void *dst);

/* Copy each number of the first n fields not in `given` from src into
 * dst (a map entry inherits what it leaves out). */
void confcheck_inherit(const struct confcheck_field *fields, size_t n,
                       unsigned given, void *dst, const void *src);

#endif
