/*
 * pnr.c - personnummer / samordningsnummer recognition and scrubbing
 * (see pnr.h for what counts as a number and the invariants).
 *
 * One scanner serves every entry point: it walks the text digit run by
 * digit run, judges each run whole (with the separator and the 4-digit
 * tail when the run is 6 or 8 long) and writes literal text and markers
 * through a small bounded writer. The writer knows how to stop: it never
 * cuts a UTF-8 character and never ends the output with part of a digit
 * run, so a cut cannot turn a longer, harmless run into a number.
 */
#include "slotfeed/pnr.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int num(const char *p, int n)
{
    int v = 0;

    while (n-- > 0)
        v = v * 10 + (*p++ - '0');
    return v;
}

/* year < 0: century unknown (10-digit form); 29 Feb is then allowed when
 * either century could make it a leap year, i.e. when YY % 4 == 0. */
static bool valid_date(int year, int yy, int month, int day)
{
    static const int dim[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (day > 60)
        day -= 60; /* samordningsnummer */
    if (month < 1 || month > 12 || day < 1 || day > dim[month - 1])
        return false;
    if (month == 2 && day == 29) {
        if (year >= 0)
            return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return yy % 4 == 0;
    }
    return true;
}

/* d: the 10 digits YYMMDDNNNC. Luhn with weights 2,1,2,... on the 9. */
static bool luhn_ok(const char *d)
{
    int i, sum = 0;

    for (i = 0; i < 9; i++) {
        int v = (d[i] - '0') * (i % 2 == 0 ? 2 : 1);
        sum += v > 9 ? v - 9 : v;
    }
    return (10 - sum % 10) % 10 == d[9] - '0';
}

/* Date digits at s (`date` = 6 or 8 of them), the last four at tail. */
static bool valid_number(const char *s, int date, const char *tail)
{
    char d[10];
    int year = -1;

    if (date == 8) {
        int century = num(s, 2);

        if (century < 18 || century > 20)
            return false;
        year = num(s, 4);
        s += 2;
    }
    memcpy(d, s, 6);
    memcpy(d + 6, tail, 4);
    return valid_date(year, num(d, 2), num(d + 2, 2), num(d + 4, 2)) &&
           luhn_ok(d);
}

/* Length of the separator at p, or 0. The longer escapes first. */
static size_t sep_len(const char *p)
{
    static const char *const seps[] = {
        "-",        "+", " ", "\t", "\n", "\r", "\xe2\x80\x93", "\xe2\x88\x92",
        "\xc2\xa0",
    };
    static const char *const escs[] = { "%E2%80%93", "%2D", "%2B", "%20" };
    size_t i, n;

    for (i = 0; i < sizeof(seps) / sizeof(seps[0]); i++)
        if (strncmp(p, seps[i], n = strlen(seps[i])) == 0)
            return n;
    for (i = 0; i < sizeof(escs) / sizeof(escs[0]); i++)
        if (strncasecmp(p, escs[i], n = strlen(escs[i])) == 0)
            return n;
    return 0;
}

/* Length of the number at s, the start of a digit run of `run` digits,
 * or 0. */
static size_t match_at(const char *s, size_t run)
{
    const char *t = s + run, *tail;
    size_t sl;

    if (run == 10 || run == 12)
        return valid_number(s, (int)run - 4, s + run - 4) ? run : 0;
    if (run != 6 && run != 8)
        return 0;
    if ((sl = sep_len(t)) == 0)
        return 0;
    tail = t + sl;
    if (strspn(tail, "0123456789") != 4 || !valid_number(s, (int)run, tail))
        return 0;
    return run + sl + 4;
}

/* --- the bounded writer --------------------------------------------------- */

struct out {
    char *p;    /* NULL: only count */
    size_t cap; /* bytes of p, NUL included */
    size_t n;   /* bytes written (or counted) */
    bool full;  /* stopped at the cap: write nothing more */
};

/*
 * Stop at the cap. `next` is the first byte that did not fit (a digit for
 * a marker that did not fit: it stands for the number's digits). Back off
 * to a character boundary, then over a digit run that went on past the
 * cut, so the output never ends in part of a run.
 */
static void out_stop(struct out *o, char next)
{
    o->full = true;
    while (o->n > 0 && ((unsigned char)next & 0xc0) == 0x80)
        next = o->p[--o->n];
    if (is_digit(next))
        while (o->n > 0 && is_digit(o->p[o->n - 1]))
            o->n--;
}

static void out_lit(struct out *o, const char *s, size_t len)
{
    size_t room;

    if (o->full || len == 0)
        return;
    if (o->p == NULL) {
        o->n += len;
        return;
    }
    room = o->cap - 1 - o->n;
    if (len <= room) {
        memcpy(o->p + o->n, s, len);
        o->n += len;
        return;
    }
    memcpy(o->p + o->n, s, room);
    o->n += room;
    out_stop(o, s[room]);
}

static void out_mark(struct out *o)
{
    static const char mark[] = PNR_MARK;
    const size_t ml = sizeof(mark) - 1;

    if (o->full)
        return;
    if (o->p != NULL && ml > o->cap - 1 - o->n) {
        out_stop(o, '0'); /* the whole marker or nothing */
        return;
    }
    if (o->p != NULL)
        memcpy(o->p + o->n, mark, ml);
    o->n += ml;
}

/*
 * Scan s, writing the scrubbed text to o (NUL not written). Returns the
 * number of numbers found (all of them, also those past a cut). With
 * first_only, stops at the first.
 */
static size_t scan(const char *s, struct out *o, bool first_only)
{
    const char *p = s, *lit = s;
    size_t found = 0;

    while (*p != '\0') {
        size_t run, n;

        if (!is_digit(*p)) {
            p++;
            continue;
        }
        run = strspn(p, "0123456789");
        n = match_at(p, run);
        /* "%20811218-9876": the digits of a URL escape in front are not
         * the number's (tried second: the '%' may be a literal one). */
        if (n == 0 && run > 2 && p > s && p[-1] == '%' &&
            (n = match_at(p + 2, run - 2)) > 0)
            p += 2;
        if (n == 0) {
            p += run; /* a run is judged whole, never from its middle */
            continue;
        }
        found++;
        if (first_only)
            return found;
        if (o != NULL) {
            out_lit(o, lit, (size_t)(p - lit));
            out_mark(o);
        }
        p += n;
        lit = p;
    }
    if (o != NULL)
        out_lit(o, lit, (size_t)(p - lit));
    return found;
}

/* --- entry points --------------------------------------------------------- */

bool pnr_contains(const char *s)
{
    return s != NULL && scan(s, NULL, true) > 0;
}

char *pnr_scrub(const char *s, size_t *count)
{
    struct out o = { 0 };
    size_t found;
    char *r;

    if (!pnr_contains(s)) { /* the common case: one scan and a copy */
        if (count != NULL)
            *count = 0;
        return strdup(s);
    }
    scan(s, &o, false); /* count the bytes */
    if ((r = malloc(o.n + 1)) == NULL)
        return NULL;
    o = (struct out){ .p = r, .cap = o.n + 1 };
    found = scan(s, &o, false);
    r[o.n] = '\0';
    if (count != NULL)
        *count = found;
    return r;
}

size_t pnr_scrub_buf(char *buf, size_t cap)
{
    char small[1024], *src = small;
    size_t len, found;
    struct out o = { .p = buf, .cap = cap };

    if (cap == 0)
        return 0;
    len = strlen(buf);
    if (len < cap && !pnr_contains(buf))
        return 0; /* the common case: nothing to change */
    if (len >= sizeof(small) && (src = malloc(len + 1)) == NULL) {
        buf[0] = '\0';
        return 0;
    }
    memcpy(src, buf, len + 1);
    found = scan(src, &o, false);
    buf[o.n] = '\0';
    if (src != small)
        free(src);
    return found;
}

void pnr_cut(char *s, size_t max)
{
    struct out o = { .p = s, .cap = max + 1, .n = max };

    if (strlen(s) <= max)
        return;
    out_stop(&o, s[max]);
    s[o.n] = '\0';
}
