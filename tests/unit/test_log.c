/*
 * test_log.c - log lines: one per event in both formats, fields escaped,
 * personnummer scrubbed (what counts as one: test_pnr.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/log.h"
#include "slotfeed/pnr.h"

/* Capture lines in memory. */
static char *cap_buf;
static size_t cap_len;
static FILE *cap;

static int cap_setup(void **state)
{
    (void)state;
    cap = open_memstream(&cap_buf, &cap_len);
    if (cap == NULL)
        return -1;
    log_set_output(cap);
    log_set_level(LOG_LVL_DEBUG);
    log_set_format(LOG_FMT_KV);
    return 0;
}

static int cap_teardown(void **state)
{
    (void)state;
    log_set_output(NULL);
    log_set_level(LOG_LVL_INFO);
    log_set_format(LOG_FMT_KV);
    fclose(cap);
    free(cap_buf);
    cap_buf = NULL;
    cap_len = 0;
    return 0;
}

/* The captured text so far; cleared for the next line. */
static char *take(void)
{
    char *s;

    fflush(cap);
    s = strdup(cap_buf ? cap_buf : "");
    fclose(cap);
    free(cap_buf);
    cap_buf = NULL;
    cap = open_memstream(&cap_buf, &cap_len);
    log_set_output(cap);
    return s;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == c;
    return n;
}

/* "ts=YYYY-MM-DDTHH:MM:SSZ " then the rest: returns the rest. */
static const char *after_ts(const char *line)
{
    assert_true(strncmp(line, "ts=", 3) == 0);
    assert_int_equal(line[3 + 20], ' ');
    assert_int_equal(line[3 + 19], 'Z');
    return line + 3 + 21;
}

static void test_kv_one_line_escaped(void **state)
{
    char *s;

    (void)state;
    log_info("poll", "clinic=%s outcome=ok slots=%d", "se-1", 3);
    s = take();
    assert_string_equal(after_ts(s),
                        "level=info event=poll clinic=se-1 outcome=ok "
                        "slots=3\n");
    free(s);

    /* A message with quotes, a newline, a backslash and " x=" inside the
     * caller's quoted value: still one line, and the value survives. */
    log_warn("poll", "clinic=%s error=\"%s\"", "se-2",
             "HTTP 500: \"oops\"\nline2\\ \ttab");
    s = take();
    assert_int_equal(count_char(s, '\n'), 1);
    assert_string_equal(
        after_ts(s), "level=warn event=poll clinic=se-2 "
                     "error=\"HTTP 500: \\\"oops\\\"\\nline2\\\\ \\ttab\"\n");
    free(s);

    /* Unquoted caller values with spaces and an empty value. */
    log_error("x", "reason=bad start time path=%s empty=\"\"", "/a b");
    s = take();
    assert_string_equal(after_ts(s),
                        "level=error event=x reason=\"bad start time\" "
                        "path=\"/a b\" empty=\"\"\n");
    free(s);

    /* Free text without a key, and a caller text that is empty. */
    log_info("startup_poll_done", "%s", "");
    log_info("note", "%s", "hello world");
    s = take();
    assert_int_equal(count_char(s, '\n'), 2);
    assert_non_null(strstr(s, "level=info event=startup_poll_done\n"));
    assert_non_null(strstr(s, "level=info event=note msg=\"hello world\"\n"));
    free(s);

    /* Control characters and a newline in the event name too. */
    log_info("ev\nil", "k=%s", "\x01\x7f");
    s = take();
    assert_int_equal(count_char(s, '\n'), 1);
    assert_string_equal(after_ts(s),
                        "level=info event=\"ev\\nil\" k=\"\\u0001\\u007f\"\n");
    free(s);
}

static void test_levels(void **state)
{
    char *s;
    enum log_level l = LOG_LVL_ERROR;
    enum log_format f = LOG_FMT_JSON;

    (void)state;
    log_set_level(LOG_LVL_WARN);
    log_debug("d", "a=1");
    log_info("i", "a=1");
    log_warn("w", "a=1");
    log_error("e", "a=1");
    s = take();
    assert_null(strstr(s, "event=d "));
    assert_null(strstr(s, "event=i "));
    assert_non_null(strstr(s, "level=warn event=w a=1\n"));
    assert_non_null(strstr(s, "level=error event=e a=1\n"));
    assert_int_equal(count_char(s, '\n'), 2);
    free(s);

    assert_int_equal(log_parse_level("debug", &l), 0);
    assert_int_equal(l, LOG_LVL_DEBUG);
    assert_int_equal(log_parse_level("warn", &l), 0);
    assert_int_equal(l, LOG_LVL_WARN);
    assert_int_equal(log_parse_level("loud", &l), -1);
    assert_int_equal(l, LOG_LVL_WARN);
    assert_int_equal(log_parse_level(NULL, &l), -1);
    assert_int_equal(log_parse_format("kv", &f), 0);
    assert_int_equal(f, LOG_FMT_KV);
    assert_int_equal(log_parse_format("json", &f), 0);
    assert_int_equal(f, LOG_FMT_JSON);
    assert_int_equal(log_parse_format("xml", &f), -1);
    assert_int_equal(f, LOG_FMT_JSON);
}

static cJSON *json_line(const char *s)
{
    cJSON *o;

    assert_int_equal(count_char(s, '\n'), 1);
    assert_int_equal(s[strlen(s) - 1], '\n');
    o = cJSON_Parse(s);
    if (o == NULL)
        fail_msg("not JSON: %s", s);
    return o;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    if (!cJSON_IsString(v))
        fail_msg("no string field \"%s\"", k);
    return v->valuestring;
}

static void test_json_fields(void **state)
{
    const char *nasty = "HTTP 500: \"oops\"\nline2\\ \ttab \x01";
    cJSON *o;
    char *s;

    (void)state;
    log_set_format(LOG_FMT_JSON);
    log_warn("poll", "clinic=%s outcome=%s duration_ms=%d error=\"%s\"", "se-2",
             "http", 12, nasty);
    s = take();
    o = json_line(s);
    assert_string_equal(jstr(o, "level"), "warn");
    assert_string_equal(jstr(o, "event"), "poll");
    assert_int_equal(strlen(jstr(o, "ts")), 20);
    assert_string_equal(jstr(o, "clinic"), "se-2");
    assert_string_equal(jstr(o, "outcome"), "http");
    assert_string_equal(jstr(o, "duration_ms"), "12"); /* always strings */
    assert_string_equal(jstr(o, "error"), nasty);
    assert_int_equal(cJSON_GetArraySize(o), 7);
    cJSON_Delete(o);
    free(s);

    /* A caller key that clashes with ours is kept under another name;
     * bytes that are not UTF-8 become '?', UTF-8 stays. */
    log_info("e", "level=%s name=%s", "fake", "V\xc3\xa4xj\xc3\xb6 \xff");
    s = take();
    o = json_line(s);
    assert_string_equal(jstr(o, "level"), "info");
    assert_string_equal(jstr(o, "field_level"), "fake");
    assert_string_equal(jstr(o, "name"), "V\xc3\xa4xj\xc3\xb6 ?");
    cJSON_Delete(o);
    free(s);

    /* A personnummer is scrubbed in JSON too. */
    log_warn("poll", "error=\"subject 19121212-1212 unknown\"");
    s = take();
    o = json_line(s);
    assert_string_equal(jstr(o, "error"), "subject [personnummer] unknown");
    cJSON_Delete(o);
    assert_null(strstr(s, "1212121212"));
    free(s);
}

static void test_log_line_scrubbed(void **state)
{
    char *s;

    (void)state;
    log_warn("poll", "clinic=%s error=\"fault for %s and %s\" hsa=%s", "se-1",
             "811218-9876", "198112189876", "SE2321000016-1234");
    s = take();
    assert_string_equal(after_ts(s),
                        "level=warn event=poll clinic=se-1 error=\"fault for "
                        "[personnummer] and [personnummer]\" "
                        "hsa=SE2321000016-1234\n");
    free(s);

    /* Every spelling of pnr.h, the space and en dash forms included
     * (they reached the logs before the scrub moved to pnr.c). */
    log_warn("poll", "error=\"SOAP Fault: %s / %s / %s / %s\"", "8112189876",
             "19811218 9876",
             "19811218\xe2\x80\x93"
             "9876",
             "811218\xe2\x80\x93"
             "9876");
    s = take();
    assert_string_equal(after_ts(s),
                        "level=warn event=poll error=\"SOAP Fault: "
                        "[personnummer] / [personnummer] / [personnummer] / "
                        "[personnummer]\"\n");
    free(s);
}

/* A very long message is cut, never split or dropped. */
static void test_long_message(void **state)
{
    char *big = malloc(20000), *s;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', 19999);
    big[19999] = '\0';
    log_info("big", "v=%s", big);
    s = take();
    assert_int_equal(count_char(s, '\n'), 1);
    assert_true(strlen(s) > 8000 && strlen(s) < 8300);
    free(s);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kv_one_line_escaped, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_levels, cap_setup, cap_teardown),
        cmocka_unit_test_setup_teardown(test_json_fields, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_log_line_scrubbed, cap_setup,
                                        cap_teardown),
        cmocka_unit_test_setup_teardown(test_long_message, cap_setup,
                                        cap_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
