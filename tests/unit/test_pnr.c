/*
 * test_pnr.c - recognising and scrubbing personnummer / samordningsnummer:
 * every spelling the issue lists (12 and 10 digits; none, '-', '+', space,
 * en dash; day + 60), the look-alikes that must stay (bad Luhn, bad date,
 * longer digit runs, phone numbers, dates), and the in-place variant's
 * cut (UTF-8 boundary, marker whole or not at all, no digit-run prefix).
 *
 * Check digits were computed outside the module (weights 2,1,2,1,2,1,2,1,2
 * on YYMMDDNNN; products over 9 lose 9; check = (10 - sum % 10) % 10):
 *   811218-987 -> 6   (19811218-9876, the example)
 *   121212-121 -> 2   (19121212-1212, the classic test number)
 *   811278-987 -> 3   (samordningsnummer: day 18 + 60)
 *   070123-456 -> 9   (so the phone number 0701234567 fails Luhn)
 *   260331-123 -> 0   (so 20260331-1234 fails Luhn)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slotfeed/error.h"
#include "slotfeed/pnr.h"

#define EN "\xe2\x80\x93" /* en dash, U+2013 */

static void expect_scrubbed(const char *in, const char *want, size_t nwant)
{
    size_t n = 99;
    char *got = pnr_scrub(in, &n);

    assert_non_null(got);
    if (strcmp(got, want) != 0 || n != nwant)
        fail_msg("scrub(\"%s\") = \"%s\" (%zu), want \"%s\" (%zu)", in, got, n,
                 want, nwant);
    assert_int_equal(pnr_contains(in), nwant > 0);
    assert_false(pnr_contains(got));
    free(got);
}

static void expect_kept(const char *in)
{
    expect_scrubbed(in, in, 0);
}

static void test_every_spelling(void **state)
{
    static const char *const forms[] = {
        /* 12 digits */
        "198112189876",
        "19811218-9876",
        "19811218+9876",
        "19811218 9876",
        "19811218" EN "9876",
        /* 10 digits */
        "8112189876",
        "811218-9876",
        "811218+9876",
        "811218 9876",
        "811218" EN "9876",
        /* the classic test number */
        "191212121212",
        "19121212-1212",
        "1212121212",
        "121212-1212",
        /* samordningsnummer: day 18 + 60 = 78 */
        "198112789873",
        "19811278-9873",
        "8112789873",
        "811278" EN "9873",
        "811278 9873",
        /* less usual separators: minus sign, no-break space, URL escapes */
        "811218\xe2\x88\x92"
        "9876",
        "811218\xc2\xa0"
        "9876",
        "811218\t9876",
        "19811218\n9876",
        "811218\r9876",
        "19811218%2D9876",
        "19811218%2d9876",
        "811218%209876",
        "811218%2B9876",
        "811218%E2%80%939876",
    };
    char in[64], want[64];

    (void)state;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(in, sizeof(in), "Patient %s not found", forms[i]);
        expect_scrubbed(in, "Patient [personnummer] not found", 1);
        /* alone, and glued to letters and punctuation */
        expect_scrubbed(forms[i], PNR_MARK, 1);
        snprintf(in, sizeof(in), "x(%s).", forms[i]);
        expect_scrubbed(in, "x([personnummer]).", 1);
        snprintf(in, sizeof(in), "/Patient/%s/", forms[i]);
        expect_scrubbed(in, "/Patient/[personnummer]/", 1);
        snprintf(in, sizeof(in), "%s,%s", forms[i], forms[i]);
        snprintf(want, sizeof(want), "%s,%s", PNR_MARK, PNR_MARK);
        expect_scrubbed(in, want, 2);
    }
}

static void test_more_valid_numbers(void **state)
{
    (void)state;
    /* 29 Feb: 2000 is a leap year; in the 10-digit form YY % 4 == 0 */
    expect_scrubbed("200002291235", PNR_MARK, 1);
    expect_scrubbed("000229-1235", PNR_MARK, 1);
    /* samordningsnummer 701063-2391 (day 3 + 60; check 1) and 121272-1219
     * (day 12 + 60; check 9) */
    expect_scrubbed("id=701063-2391", "id=[personnummer]", 1);
    expect_scrubbed("x=\"121272-1219\"", "x=\"[personnummer]\"", 1);
    expect_scrubbed("fault: subject 19121212-1212 unknown",
                    "fault: subject [personnummer] unknown", 1);
    expect_scrubbed("SE200001012384x", "SE[personnummer]x", 1);
    /* a URL escape in front: its digits are not the number's */
    /* ("20811218-9876" reads as 2081-12-18 itself: nothing is left.) */
    expect_scrubbed("q=a%20811218-9876", "q=a%[personnummer]", 1);
    expect_scrubbed("q=%20198112189876&x", "q=%20[personnummer]&x", 1);
    /* ...but a literal '%' in front does not hide one either */
    expect_scrubbed("50%811218-9876", "50%[personnummer]", 1);
    /* JSON with a plus sign in front (the config case) */
    expect_scrubbed("\"subject_of_care\": +191212121212,",
                    "\"subject_of_care\": +[personnummer],", 1);
    expect_scrubbed("a 811218-9876 b 198112189876.",
                    "a [personnummer] b [personnummer].", 2);
}

static void test_look_alikes_kept(void **state)
{
    (void)state;
    expect_kept("19121212-1213"); /* Luhn wants 2 */
    expect_kept("191212121213");
    expect_kept("1212121213");
    expect_kept("811218" EN "9875");
    expect_kept("811218 9875");
    expect_kept("19121312-1211"); /* month 13 (Luhn right) */
    expect_kept("19121200-1216"); /* day 00 */
    expect_kept("121292-1215");   /* day 92 = 32 + 60 */
    expect_kept("19000229-1235"); /* 1900 is not a leap year */
    expect_kept("17121212-1212"); /* century 17 */
    /* a number inside a longer digit run is not a number */
    expect_kept("1191212121212");
    expect_kept("19121212121212");
    expect_kept("1198112189876");
    expect_kept("98112189876");
    expect_kept("121212-12120"); /* exactly four after the separator */
    expect_kept("121212-121");
    expect_kept("1121212-1212");
    expect_kept("121212--1212"); /* one separator */
    expect_kept("121212  1212");
    /* phone numbers */
    expect_kept("tel 0701234567"); /* Luhn wants 9 */
    expect_kept("tel 070-123 45 67");
    expect_kept("tel +46701234567");
    expect_kept("tel 054-61 00 00");
    /* dates, times, counts, ids */
    expect_kept("date=2026-03-31 t=09:00:00+02:00");
    expect_kept("20260331-1234"); /* Luhn wants 0 */
    expect_kept("20260331 1234");
    expect_kept("ts=20261123101500");
    expect_kept("hsa=SE2321000016-1234"); /* HSA-id: month 21 */
    expect_kept("org=232100-0016");
    expect_kept("duration_ms=1234567890"); /* month 34 */
    expect_kept("epoch=1763891700");       /* month 63 */
    expect_kept("url=http://127.0.0.1:18471/ port=8080 slots=1212");
    expect_kept("%E2%80%93");
    expect_kept("");
    assert_false(pnr_contains(NULL));
}

/* The in-place variant: result cut to cap - 1 bytes, never mid-marker,
 * mid-character or leaving the front of a digit run. */
static void expect_buf(const char *in, size_t cap, const char *want,
                       size_t nwant)
{
    char buf[256];
    size_t n;

    assert_true(strlen(in) < sizeof(buf));
    memset(buf, 'Z', sizeof(buf));
    strcpy(buf, in);
    n = pnr_scrub_buf(buf, cap);
    if (strcmp(buf, want) != 0 || n != nwant)
        fail_msg("scrub_buf(\"%s\", %zu) = \"%s\" (%zu), want \"%s\" (%zu)", in,
                 cap, buf, n, want, nwant);
    assert_true(strlen(buf) < cap);
    assert_false(pnr_contains(buf));
    /* nothing written past the cap */
    for (size_t i = (strlen(in) + 1 > cap ? strlen(in) + 1 : cap);
         i < sizeof(buf); i++)
        assert_int_equal(buf[i], 'Z');
}

static void test_scrub_buf(void **state)
{
    (void)state;
    expect_buf("a 811218-9876 b", 64, "a [personnummer] b", 1);
    expect_buf("plain text", 64, "plain text", 0);
    expect_buf("plain text", 6, "plain", 0);
    /* the marker is longer than the number: the tail is cut */
    expect_buf("8112189876 tail", 18, "[personnummer] ta", 1);
    /* a marker that does not fit is left out whole */
    expect_buf("ab 8112189876", 10, "ab ", 1);
    expect_buf("ab 8112189876", 17, "ab ", 1);
    expect_buf("ab 8112189876", 18, "ab [personnummer]", 1);
    /* a 13-digit run cut to 12 would be a number: the run goes whole */
    expect_buf("x 1198112189876", 15, "x ", 0);
    expect_buf("x 1198112189876", 14, "x ", 0);
    expect_buf("x 1198112189876 y", 17, "x 1198112189876 ", 0);
    /* the date part alone stays ("811218-"), its check digits do not */
    expect_buf("x 811218-98765", 13, "x 811218-", 0);
    /* a UTF-8 character is never cut: é is two bytes, the en dash three */
    expect_buf("caf\xc3\xa9", 5, "caf", 0);
    expect_buf("a" EN "b", 3, "a", 0);
    expect_buf("a" EN "b", 5, "a" EN, 0);
    /* the text may be longer than the cap (the caller's buffer is) */
    expect_buf("0123456789 abcdefghijklmnopqrstuvwxyz 19811218" EN "9876", 30,
               "0123456789 abcdefghijklmnopqr", 1);
    /* cap 1: only the NUL */
    expect_buf("8112189876", 1, "", 1);
}

static void test_scrub_buf_long(void **state)
{
    /* Longer than the 1 KiB stack copy: the heap path. */
    size_t len = 3000, i;
    char *buf = malloc(len + 64);

    (void)state;
    assert_non_null(buf);
    for (i = 0; i < len; i++)
        buf[i] = (char)('a' + i % 26);
    memcpy(buf + 1500, " 19811218 9876 ", 15);
    buf[len] = '\0';
    assert_int_equal(pnr_scrub_buf(buf, len + 64), 1);
    assert_non_null(strstr(buf, " [personnummer] "));
    assert_false(pnr_contains(buf));
    assert_int_equal(strlen(buf), len + 1);
    free(buf);
}

static void test_cut(void **state)
{
    char s[64];

    (void)state;
    strcpy(s, "abc 12345");
    pnr_cut(s, 7); /* inside the run: the run goes */
    assert_string_equal(s, "abc ");
    strcpy(s, "abc 12345 x");
    pnr_cut(s, 9); /* right after the run: it stays */
    assert_string_equal(s, "abc 12345");
    strcpy(s, "a\xc3\xa9");
    pnr_cut(s, 2);
    assert_string_equal(s, "a");
    strcpy(s, "short");
    pnr_cut(s, 99);
    assert_string_equal(s, "short");
}

/* Scrubbing is idempotent and the predicate is false on every output,
 * also over texts built from many spellings and look-alikes. */
static void test_idempotent(void **state)
{
    static const char *const parts[] = {
        "811218-9876",
        "19811218" EN "9876",
        "1198112189876",
        "%20",
        "%",
        " ",
        "-",
        "+",
        EN,
        "0701234567",
        "121212",
        "1212",
        "x",
        "191212121212",
        "[personnummer]",
        "\xc3",
        "9",
    };
    const size_t np = sizeof(parts) / sizeof(parts[0]);
    unsigned seed = 12345;
    char in[512];

    (void)state;
    for (int round = 0; round < 3000; round++) {
        size_t o = 0;
        char *a, *b;

        for (int k = 0; k < 12; k++) {
            const char *p;

            seed = seed * 1103515245u + 12345u;
            p = parts[(seed >> 16) % np];
            memcpy(in + o, p, strlen(p));
            o += strlen(p);
        }
        in[o] = '\0';
        a = pnr_scrub(in, NULL);
        assert_non_null(a);
        assert_false(pnr_contains(a));
        b = pnr_scrub(a, NULL);
        assert_string_equal(a, b);
        free(a);
        free(b);
        for (size_t cap = 1; cap < o + 2; cap += 7) {
            char buf[sizeof(in)];

            memcpy(buf, in, o + 1);
            pnr_scrub_buf(buf, cap);
            assert_true(strlen(buf) < cap);
            assert_false(pnr_contains(buf));
        }
    }
}

/* error.c: every message set through sf_error_set / sf_error_prefix is
 * scrubbed, formatted whole first so a cut cannot split a number. */
static void test_sf_error_scrubbed(void **state)
{
    struct sf_error err;
    char big[600];

    (void)state;
    sf_error_set(&err, SF_ERR_FAULT,
                 "OperationOutcome: \"Patient %s not "
                 "found\"",
                 "19811218-9876");
    assert_int_equal(err.code, SF_ERR_FAULT);
    assert_string_equal(err.msg, "OperationOutcome: \"Patient [personnummer] "
                                 "not found\"");
    sf_error_prefix(&err, "clinic %s", "811218 9876");
    assert_string_equal(err.msg, "clinic [personnummer]: OperationOutcome: "
                                 "\"Patient [personnummer] not found\"");
    /* a number across the 512-byte cut is not left in halves */
    memset(big, 'a', sizeof(big));
    big[505] = '\0';
    sf_error_set(&err, SF_ERR_PARSE, "%s 1198112189876 x", big);
    assert_false(pnr_contains(err.msg));
    assert_null(strstr(err.msg, "11981"));
    assert_true(strlen(err.msg) < sizeof(err.msg));
    sf_error_set(&err, SF_ERR_PARSE, "%s 8112189876", big);
    assert_null(strstr(err.msg, "811"));
    /* ordinary text is kept */
    sf_error_set(&err, SF_ERR_HTTP, "HTTP %d at %s", 503, "20260331-1234");
    assert_string_equal(err.msg, "HTTP 503 at 20260331-1234");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_spelling),
        cmocka_unit_test(test_more_valid_numbers),
        cmocka_unit_test(test_look_alikes_kept),
        cmocka_unit_test(test_scrub_buf),
        cmocka_unit_test(test_scrub_buf_long),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_idempotent),
        cmocka_unit_test(test_sf_error_scrubbed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
