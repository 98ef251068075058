/*
 * test_metrics.c - counters and the Prometheus text exposition.
 *
 * Counts are bumped by hand and read back from the rendered text; the
 * text is also checked by an independent strict parser in Python
 * (/usr/bin/python3, standard library only): every line is a HELP, a TYPE
 * or a sample `name{labels} value`, each sample's family has one HELP and
 * one TYPE before it, histogram buckets are cumulative and +Inf = _count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "slotfeed/feed.h"
#include "slotfeed/metrics.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00 */

static const char parser_py[] =
    "import re, sys\n"
    "text = open(sys.argv[1], encoding='utf-8').read()\n"
    "assert text.endswith('\\n'), 'no final newline'\n"
    "name_re = r'[a-zA-Z_:][a-zA-Z0-9_:]*'\n"
    "lab_re = r'[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\.)*\"'\n"
    "sample = re.compile(r'^(' + name_re + r')(\\{(' + lab_re + r')(,' +"
    " lab_re + r')*\\})? (-?[0-9.eE+-]+|\\+Inf|NaN)$')\n"
    "helps, types, seen = {}, {}, {}\n"
    "buckets = {}\n"
    "counts = {}\n"
    "for ln in text.split('\\n')[:-1]:\n"
    "    m = re.match(r'^# HELP (' + name_re + r') (.+)$', ln)\n"
    "    if m:\n"
    "        assert m.group(1) not in helps, 'two HELP ' + ln\n"
    "        helps[m.group(1)] = 1; continue\n"
    "    m = re.match(r'^# TYPE (' + name_re + r') "
    "(counter|gauge|histogram|summary|untyped)$', ln)\n"
    "    if m:\n"
    "        assert m.group(1) in helps and m.group(1) not in types, ln\n"
    "        types[m.group(1)] = m.group(2); continue\n"
    "    m = sample.match(ln)\n"
    "    assert m, 'bad line: ' + repr(ln)\n"
    "    n = m.group(1)\n"
    "    fam = n\n"
    "    for suf in ('_bucket', '_sum', '_count'):\n"
    "        if n.endswith(suf) and n[:-len(suf)] in types and "
    "types[n[:-len(suf)]] == 'histogram':\n"
    "            fam = n[:-len(suf)]\n"
    "    assert fam in types, 'sample before TYPE: ' + ln\n"
    "    key = ln.rsplit(' ', 1)[0]\n"
    "    assert key not in seen, 'duplicate series ' + key\n"
    "    seen[key] = 1\n"
    "    v = float(m.group(5))\n"
    "    if types[fam] == 'counter': assert v >= 0, ln\n"
    "    if n.endswith('_bucket'):\n"
    "        le = re.search(r'le=\"([^\"]+)\"', ln).group(1)\n"
    "        buckets.setdefault(fam, []).append((float(le), v))\n"
    "    if n.endswith('_count'): counts[fam] = v\n"
    "for fam, bs in buckets.items():\n"
    "    les = [b[0] for b in bs]\n"
    "    assert les == sorted(les) and les[-1] == float('inf'), fam\n"
    "    vs = [b[1] for b in bs]\n"
    "    assert vs == sorted(vs), 'not cumulative: ' + fam\n"
    "    assert vs[-1] == counts[fam], '+Inf != count: ' + fam\n"
    "print('ok', len(seen))\n";

/* Value of the sample line starting with `series ` in text; -1 if none. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *p = text;

    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

static int run_parser(const char *text, size_t len)
{
    char dir[512], py[600], data[600], cmd[1400];
    FILE *f;
    int rc;

    snprintf(dir, sizeof(dir), "%s/test-metrics", SLOTFEED_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(py, sizeof(py), "%s/prom.py", dir);
    snprintf(data, sizeof(data), "%s/metrics.txt", dir);
    f = fopen(py, "w");
    assert_non_null(f);
    fputs(parser_py, f);
    fclose(f);
    f = fopen(data, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s'", py, data);
    rc = system(cmd);
    assert_true(rc != -1 && WIFEXITED(rc));
    return WEXITSTATUS(rc);
}

static struct feed_snapshot *snapshot(void)
{
    static struct conf_clinic c[3];
    static struct conf_region r;
    static struct clinic_state st[3];
    static char *ids[3] = { "SE2321000156-AAA1", "SE2321000156-BBB2",
                            "SE2321000156-CCC3" };
    struct feed_snapshot *s = NULL;
    struct sf_error err = { 0 };
    int i;

    memset(c, 0, sizeof(c));
    memset(st, 0, sizeof(st));
    memset(&r, 0, sizeof(r));
    for (i = 0; i < 3; i++) {
        c[i].id = ids[i];
        c[i].name = "Fysio";
        c[i].municipality = "Kil";
        c[i].operator_kind = "private";
        c[i].has_booking = true;
        st[i].conf = &c[i];
        avail_slots_init(&st[i].slots);
    }
    /* A: open, ok, a slot tomorrow (within the guarantee). */
    st[0].web = WEB_OPEN;
    st[0].has_data = true;
    st[0].checked_at = st[0].valid_at = NOW - 5;
    assert_int_equal(avail_slots_add(&st[0].slots, NOW + 86400, NOW + 88200,
                                     NULL, NULL, NULL),
                     0);
    /* B: unreachable, stale (old data kept, no slots). */
    st[1].web = WEB_UNREACHABLE;
    st[1].status = CLINIC_STALE;
    st[1].has_data = true;
    st[1].valid_at = NOW - 100;
    st[1].err_class = SF_ERR_TIMEOUT;
    /* C: never answered: unknown, error. */
    st[2].web = WEB_UNKNOWN;
    st[2].status = CLINIC_ERROR;
    r.name = "T";
    r.guarantee.days = 3;
    r.poll_interval_s = 60;
    r.publish_interval_s = 20;
    r.clinics = c;
    r.nclinics = 3;
    assert_int_equal(feed_build(&r, st, NOW, &s, &err), 0);
    avail_slots_clear(&st[0].slots);
    return s;
}

static void test_counts_and_render(void **state)
{
    struct feed_snapshot *s = snapshot();
    struct metrics_feed gauges;
    char *text;
    size_t len = 0;
    int i;

    (void)state;
    metrics_reset();
    for (i = 0; i < 5; i++)
        metrics_poll(SF_ERR_NONE);
    metrics_poll(SF_ERR_TIMEOUT);
    metrics_poll(SF_ERR_TIMEOUT);
    metrics_poll(SF_ERR_PARSE);
    metrics_poll((enum sf_errclass)999); /* counted, no class */
    metrics_feed_rebuild(0.02);          /* le 0.025 */
    metrics_feed_rebuild(0.7);           /* le 1 */
    metrics_feed_build_step(0.004);      /* le 0.005 */
    metrics_feed_build_step(0.03);       /* le 0.05 */
    metrics_feed_build_step(0.3);        /* le 0.5 */
    metrics_store_flush(0.2);            /* le 0.25 */
    metrics_http(METRICS_ROUTE_AVAILABILITY, 200, 0.00005); /* le 0.0001 */
    metrics_http(METRICS_ROUTE_AVAILABILITY, 200, 0.003);   /* le 0.005 */
    metrics_http(METRICS_ROUTE_AVAILABILITY, 304, 0.0001);  /* le 0.0001 */
    metrics_http(METRICS_ROUTE_CLINIC, 404, 5.0);           /* +Inf only */
    metrics_http((enum metrics_route)77, 700, -1);          /* other, 0 */
    metrics_loop_lag(0.0004);                               /* le 0.001 */
    metrics_loop_lag(0.03);                                 /* le 0.05 */
    metrics_loop_lag(2.5);                                  /* +Inf only */
    metrics_loop_lag(-1);                                   /* clock: 0 */
    assert_int_equal(metrics_polls_total(), 9);
    metrics_poll_same();
    assert_int_equal(metrics_polls_same(), 1);
    assert_int_equal(metrics_poll_failures(SF_ERR_TIMEOUT), 2);
    assert_int_equal(metrics_rebuilds_total(), 2);
    assert_int_equal(metrics_http_total(METRICS_ROUTE_AVAILABILITY, 200), 2);
    assert_int_equal(metrics_http_total(METRICS_ROUTE_OTHER, 0), 1);

    feed_metrics(s, &gauges);
    text = metrics_render(&gauges, NOW + 42, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(value_of(text, "slotfeed_polls_total") == 9);
    assert_true(value_of(text, "slotfeed_polls_unchanged_total") == 1);
    assert_true(
        value_of(text, "slotfeed_poll_failures_total{class=\"timeout\"}") == 2);
    assert_true(
        value_of(text, "slotfeed_poll_failures_total{class=\"parse\"}") == 1);
    assert_true(
        value_of(text, "slotfeed_poll_failures_total{class=\"transport\"}") ==
        0);
    assert_true(value_of(text, "slotfeed_feed_rebuilds_total") == 2);
    assert_true(value_of(text, "slotfeed_feed_age_seconds") == 42);
    assert_true(value_of(text, "slotfeed_feed_publish_interval_seconds") == 20);
    /* A ok, B stale, C error; A open, B unreachable, C unknown. */
    assert_true(value_of(text, "slotfeed_clinics{status=\"ok\"}") == 1);
    assert_true(value_of(text, "slotfeed_clinics{status=\"stale\"}") == 1);
    assert_true(value_of(text, "slotfeed_clinics{status=\"error\"}") == 1);
    assert_true(
        value_of(text, "slotfeed_clinics_web_booking{web_booking=\"open\"}") ==
        1);
    assert_true(
        value_of(text, "slotfeed_clinics_web_booking{web_booking=\"none\"}") ==
        0);
    assert_true(
        value_of(text,
                 "slotfeed_clinics_web_booking{web_booking=\"unreachable\"}") ==
        1);
    assert_true(value_of(text, "slotfeed_clinics_within_guarantee") == 1);
    assert_true(value_of(text, "slotfeed_http_requests_total{route="
                               "\"availability\",code=\"200\"}") == 2);
    assert_true(value_of(text, "slotfeed_http_requests_total{route="
                               "\"clinic\",code=\"404\"}") == 1);
    /* Cumulative buckets worked out by hand from the five latencies. */
    assert_true(value_of(text, "slotfeed_http_request_duration_seconds_"
                               "bucket{le=\"0.0001\"}") == 3);
    assert_true(value_of(text, "slotfeed_http_request_duration_seconds_"
                               "bucket{le=\"0.0025\"}") == 3);
    assert_true(value_of(text, "slotfeed_http_request_duration_seconds_"
                               "bucket{le=\"0.005\"}") == 4);
    assert_true(value_of(text, "slotfeed_http_request_duration_seconds_"
                               "bucket{le=\"1\"}") == 4);
    assert_true(value_of(text, "slotfeed_http_request_duration_seconds_"
                               "bucket{le=\"+Inf\"}") == 5);
    assert_true(
        value_of(text, "slotfeed_http_request_duration_seconds_count") == 5);
    /* The loop-lag histogram, under the name the alert rules use. */
    assert_true(
        value_of(text, "slotfeed_loop_lag_seconds_bucket{le=\"0.001\"}") == 2);
    assert_true(
        value_of(text, "slotfeed_loop_lag_seconds_bucket{le=\"0.025\"}") == 2);
    assert_true(
        value_of(text, "slotfeed_loop_lag_seconds_bucket{le=\"0.05\"}") == 3);
    assert_true(value_of(text, "slotfeed_loop_lag_seconds_bucket{le=\"1\"}") ==
                3);
    assert_true(
        value_of(text, "slotfeed_loop_lag_seconds_bucket{le=\"+Inf\"}") == 4);
    assert_true(value_of(text, "slotfeed_loop_lag_seconds_count") == 4);
    assert_int_equal(metrics_loop_lag_count(), 4);
    /* The snapshot build-time histogram (bench/scale.sh reads it). */
    assert_true(
        value_of(text, "slotfeed_feed_rebuild_seconds_bucket{le=\"0.01\"}") ==
        0);
    assert_true(
        value_of(text, "slotfeed_feed_rebuild_seconds_bucket{le=\"0.025\"}") ==
        1);
    assert_true(
        value_of(text, "slotfeed_feed_rebuild_seconds_bucket{le=\"0.5\"}") ==
        1);
    assert_true(
        value_of(text, "slotfeed_feed_rebuild_seconds_bucket{le=\"1\"}") == 2);
    assert_true(value_of(text, "slotfeed_feed_rebuild_seconds_count") == 2);
    /* The per-step histogram: the longest hold of the loop by a build. */
    assert_true(
        value_of(text,
                 "slotfeed_feed_build_step_seconds_bucket{le=\"0.01\"}") == 1);
    assert_true(
        value_of(text,
                 "slotfeed_feed_build_step_seconds_bucket{le=\"0.05\"}") == 2);
    assert_true(value_of(text, "slotfeed_feed_build_step_seconds_count") == 3);
    assert_true(
        value_of(text, "slotfeed_store_flush_seconds_bucket{le=\"0.1\"}") == 0);
    assert_true(
        value_of(text, "slotfeed_store_flush_seconds_bucket{le=\"0.25\"}") ==
        1);
    assert_int_equal(run_parser(text, len), 0);
    free(text);

    /* Without a snapshot the feed gauges are left out; still valid. */
    text = metrics_render(NULL, NOW, &len);
    assert_non_null(text);
    assert_null(strstr(text, "slotfeed_feed_age_seconds"));
    assert_int_equal(run_parser(text, len), 0);
    free(text);
    feed_snapshot_free(s);
}

/*
 * The series the alert rules (conf/prometheus/) read besides the above:
 * a breaker gauge per host that follows open/close (the "other" bucket
 * sums), store errors by operation, and one series per clinic whose web
 * booking is unreachable (B here) and none for the others.
 */
static void test_breaker_store_unreachable(void **state)
{
    struct feed_snapshot *s = snapshot();
    struct metrics_feed gauges;
    char host[64];
    char *text;
    size_t len = 0;
    int i;

    (void)state;
    metrics_reset();
    metrics_breaker("http://a:80", 1);
    metrics_breaker("http://b:80", 1);
    metrics_breaker("http://b:80", 0);
    for (i = 0; i < METRICS_IMPLAUSIBLE_HOSTS; i++) {
        snprintf(host, sizeof(host), "http://h%d:80", i);
        metrics_breaker(host, 0); /* fills the labelled slots */
    }
    metrics_breaker("http://late1:80", 1);
    metrics_breaker("http://late2:80", 1);
    metrics_breaker("http://late1:80", 0);
    metrics_breaker("http://late1:80", 0); /* never below zero */
    metrics_breaker("http://late2:80", 0);
    metrics_breaker("http://late3:80", 1);
    assert_int_equal(metrics_breaker_open("http://a:80"), 1);
    assert_int_equal(metrics_breaker_open("http://b:80"), 0);
    assert_int_equal(metrics_breaker_open(NULL), 1);
    metrics_store_error(METRICS_STORE_FLUSH);
    metrics_store_error(METRICS_STORE_FLUSH);
    metrics_store_error(METRICS_STORE_OPEN);
    metrics_store_error((enum metrics_store_op)99); /* ignored */

    feed_metrics(s, &gauges);
    assert_int_equal(gauges.nunreachable, 1);
    text = metrics_render(&gauges, NOW, &len);
    assert_non_null(text);
    assert_true(value_of(text, "slotfeed_breaker_open{host=\"http://a:80\"}") ==
                1);
    assert_true(value_of(text, "slotfeed_breaker_open{host=\"http://b:80\"}") ==
                0);
    assert_true(value_of(text, "slotfeed_breaker_open{host=\"other\"}") == 1);
    assert_true(value_of(text, "slotfeed_store_errors_total{op=\"flush\"}") ==
                2);
    assert_true(value_of(text, "slotfeed_store_errors_total{op=\"open\"}") ==
                1);
    assert_true(value_of(text, "slotfeed_store_errors_total{op=\"purge\"}") ==
                0);
    assert_true(value_of(text, "slotfeed_clinic_web_booking_unreachable"
                               "{clinic=\"SE2321000156-BBB2\"}") == 1);
    assert_null(strstr(text, "unreachable{clinic=\"SE2321000156-AAA1\"}"));
    assert_null(strstr(text, "unreachable{clinic=\"SE2321000156-CCC3\"}"));
    assert_int_equal(run_parser(text, len), 0);
    free(text);
    feed_snapshot_free(s);
}

/* The parser itself must reject broken exposition text. */
static void test_parser_rejects(void **state)
{
    static const char *const bad[] = {
        "slotfeed_x 1\n",                           /* no TYPE */
        "# HELP a h\n# TYPE a counter\na{b=c} 1\n", /* unquoted */
        "# HELP a h\n# TYPE a counter\na 1",        /* no newline */
        "# HELP a h\n# TYPE a histogram\n"
        "a_bucket{le=\"1\"} 3\na_bucket{le=\"+Inf\"} 2\n"
        "a_sum 1\na_count 2\n", /* decreasing */
        "# HELP a h\n# TYPE a histogram\n"
        "a_bucket{le=\"1\"} 1\na_bucket{le=\"+Inf\"} 2\n"
        "a_sum 1\na_count 3\n",                   /* +Inf!=count */
        "# HELP a h\n# TYPE a gauge\na 1\na 2\n", /* duplicate */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (run_parser(bad[i], strlen(bad[i])) == 0)
            fail_msg("parser accepted case %zu", i);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_render),
        cmocka_unit_test(test_parser_rejects),
        cmocka_unit_test(test_breaker_store_unreachable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
