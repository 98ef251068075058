/*
 * pnr.h - recognising Swedish personal identity numbers (personnummer and
 * samordningsnummer) in text that came from outside, and scrubbing them.
 *
 * Every place where outside text becomes public, logged or stored goes
 * through this module (docs/architecture.md, docs/security.md): error
 * messages (sf_error_set, the collector's clinic error, config errors),
 * every string of a slot (availability.c interns them scrubbed), log lines
 * (log.c) and quoted upstream text (RIV faults, FHIR OperationOutcome,
 * SMART manifest URLs). A leaf module: no I/O, no other slotfeed module.
 *
 * What counts as a number ("the predicate"):
 *   - a digit run of exactly 12 digits YYYYMMDDNNNC (century 18..20) or
 *     exactly 10 digits YYMMDDNNNC; or
 *   - a run of exactly 8 (YYYYMMDD) or 6 (YYMMDD) digits, one separator,
 *     then a run of exactly 4 digits (NNNC). Separators: '-', '+', ' ',
 *     en dash U+2013 (the spellings people write), tab, CR, LF (a line
 *     break that a log escape or a name normaliser would hide), minus sign
 *     U+2212, no-break space U+00A0, and the URL escapes %2D %2B %20
 *     %E2%80%93 (any case);
 *   - with a real calendar date (day + 60 for a samordningsnummer; 29 Feb
 *     only in a leap year, or when YY % 4 == 0 in the 10-digit form whose
 *     century is unknown) and a correct Luhn check digit on YYMMDDNNNC.
 * A run is judged whole: 12 digits in the middle of a 13-digit run (an
 * account number, a timestamp) are not a number. One exception: a run
 * right after '%' is also judged without its first two digits, the rest
 * of a URL escape ("%20" + "198112189876").
 *
 * Invariants (tests/unit/test_pnr.c, tests/fuzz/fuzz_pnr.c): the output
 * of pnr_scrub / pnr_scrub_buf never holds a number the predicate accepts
 * (pnr_contains is false) and scrubbing it again changes nothing.
 */
#ifndef SLOTFEED_PNR_H
#define SLOTFEED_PNR_H

#include <stdbool.h>
#include <stddef.h>

/* What replaces each number. Holds no digit (so a scrub is idempotent). */
#define PNR_MARK "[personnummer]"

/* True when s (NUL-terminated; NULL is false) holds a number. */
bool pnr_contains(const char *s);

/*
 * A new NUL-terminated copy of s (not NULL) with every number replaced by
 * PNR_MARK. *count (may be NULL) gets the number of replacements. Returns
 * NULL when out of memory; the caller frees.
 */
char *pnr_scrub(const char *s, size_t *count);

/*
 * Scrub the NUL-terminated string in buf in place, for fixed-size message
 * buffers. The result is cut to at most cap - 1 bytes (cap >= 1; buf has
 * room for cap bytes; the input may be longer than that): at a UTF-8
 * character boundary, never inside a marker, and never leaving the first
 * part of a digit run at the end (a cut 13-digit run could otherwise
 * become a 12-digit number). Returns the number of replacements. Uses no
 * heap for strings under 1 KiB; when a longer one meets an allocation
 * failure, buf is emptied (better nothing than a number) and 0 returned.
 */
size_t pnr_scrub_buf(char *buf, size_t cap);

/*
 * Cut s to at most max bytes with the same rule as pnr_scrub_buf (UTF-8
 * boundary; a digit run that went on past the cut is dropped whole). No
 * scrubbing: for callers that shorten text which is scrubbed later or
 * already was. Nothing happens when strlen(s) <= max.
 */
void pnr_cut(char *s, size_t max);

#endif
