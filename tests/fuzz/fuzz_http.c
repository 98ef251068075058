/*
 * fuzz_http.c - libFuzzer target for what the public HTTP side parses
 * from clients: the query string
 * (api_params_parse, then api_filter_parse against a three-clinic
 * snapshot and the Värmland place table, api_filter_build or
 * api_slots_build on success), If-Modified-Since (clock_parse_http_date)
 * and Accept-Encoding (api_accepts_gzip).
 *
 * Input, split on FUZZ_SEP: query, If-Modified-Since, Accept-Encoding,
 * request path, request head (each as a C string: a NUL ends it, as it
 * would in evhttp's copy). The path goes through http_route, the server's
 * own router: a clinic id it hands out must be the whole segment after
 * /v1/clinics/ and a valid HSA-id. The head is "major.minor" then one
 * header line per '\n', split at the first ':' as evhttp does, and goes
 * through http_framing_check: what it accepts must have the framing
 * evhttp reads (one Content-Length of digits, or exactly one
 * "Transfer-Encoding: chunked" without it, Host once in 1.1).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "fuzz.h"
#include "slotfeed/api.h"
#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/collector.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/feed.h"
#include "slotfeed/geo.h"
#include "slotfeed/http.h"
#include "slotfeed/http_framing.h"
#include "slotfeed/log.h"

#define NOW INT64_C(1774940400) /* 2026-03-31T09:00:00+02:00 */
#define NCLIN 3

/* Built on the first input and kept for the process (still reachable). */
static struct conf_clinic clinics[NCLIN];
static struct conf_region region;
static struct feed_snapshot *snap;
static struct geo_table *geo;

static void setup(void)
{
    static const char *const ids[NCLIN] = { "SE2321000156-AAA1",
                                            "SE2321000156-BBB2",
                                            "SE2321000156-CCC3" };
    static const char *const mun[NCLIN] = { "Karlstad", "Kil", "Hammarö" };
    static const char *const loc[NCLIN] = { "Karlstad", "Kil", "Skoghall" };
    struct clinic_state states[NCLIN];
    struct sf_error err = { 0 };

    memset(states, 0, sizeof(states));
    for (int i = 0; i < NCLIN; i++) {
        clinics[i].id = (char *)ids[i];
        clinics[i].name = (char *)"Fysio";
        clinics[i].municipality = (char *)mun[i];
        clinics[i].locality = (char *)loc[i];
        clinics[i].operator_kind = (char *)(i == 1 ? "region" : "private");
        clinics[i].has_booking = i != 2;
        states[i].conf = &clinics[i];
        avail_slots_init(&states[i].slots);
    }
    states[0].web = WEB_OPEN;
    states[0].status = CLINIC_OK;
    states[0].checked_at = states[0].valid_at = NOW - 10;
    states[0].has_data = true;
    if (avail_slots_add(&states[0].slots, NOW + 3600, NOW + 5400,
                        "Dalmo, Jacob", "Nybesök", "FYS-NY") != 0 ||
        avail_slots_add(&states[0].slots, NOW + 5 * 86400,
                        NOW + 5 * 86400 + 1800, NULL, "Återbesök",
                        "FYS-ATER") != 0)
        abort();
    states[1].web = WEB_UNREACHABLE;
    states[1].status = CLINIC_ERROR;
    states[2].web = WEB_NONE;
    region.name = (char *)"Fuzz";
    region.timezone = (char *)"Europe/Stockholm";
    region.guarantee.days = 3;
    region.horizon_days = 28;
    region.poll_interval_s = 60;
    region.clinics = clinics;
    region.nclinics = NCLIN;
    if (feed_build(&region, states, NOW, &snap, &err) != 0)
        abort();
    for (int i = 0; i < NCLIN; i++)
        avail_slots_clear(&states[i].slots);
    geo = geo_load(SLOTFEED_SOURCE_DIR "/conf/geo-varmland.json", &err);
    if (geo == NULL)
        abort();
}

static void query(const char *q)
{
    struct api_params p;
    struct api_filter f;
    struct sf_error err = { 0 };

    memset(&p, 0, sizeof(p));
    if (api_params_parse(q, &p, &err) == 0) {
        for (size_t i = 0; i < p.n; i++)
            if (p.v[i].name == NULL || p.v[i].value == NULL ||
                strlen(p.v[i].name) > API_MAX_NAME ||
                strlen(p.v[i].value) > API_MAX_VALUE)
                abort(); /* the promised limits */
        memset(&f, 0, sizeof(f));
        if (api_filter_parse(&p, snap, geo, &f, &err) == 0) {
            struct doc doc;
            memset(&doc, 0, sizeof(doc));
            if (!api_filter_empty(&f) &&
                api_filter_build(snap, geo, &f, &doc) == 0)
                free(doc.json);
        }
        for (size_t ci = 0; ci < NCLIN; ci++) {
            struct doc doc;
            memset(&doc, 0, sizeof(doc));
            if (api_slots_build(snap, ci, &p, &doc, &err) == 0)
                free(doc.json);
        }
    }
    api_params_clear(&p);
}

/* "Www, DD Mmm YYYY HH:MM:SS GMT": RFC 7231's IMF-fixdate, exactly. */
static bool strict_shape(const char *s)
{
    static const char shape[] = "aaa, dd aaa dddd dd:dd:dd GMT";

    if (strlen(s) != 29)
        return false;
    for (size_t i = 0; i < 29; i++) {
        if (shape[i] == 'd' && !isdigit((unsigned char)s[i]))
            return false;
        if (shape[i] == 'a' && !isalpha((unsigned char)s[i]))
            return false;
        if (shape[i] != 'd' && shape[i] != 'a' && shape[i] != s[i])
            return false;
    }
    return true;
}

static int num(const char *s, int at, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++)
        v = v * 10 + (s[at + i] - '0');
    return v;
}

static void http_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int64_t t = 0, back = 0, want;
    const char *m;
    char buf[CLOCK_HTTP_DATE_LEN];

    if (clock_parse_http_date(s, &t) != 0)
        return;
    /* Whatever the form, it names a second that prints and parses back. */
    clock_format_http_date(t, buf);
    if (t < 0 || clock_parse_http_date(buf, &back) != 0 || back != t)
        abort();
    /* The other two forms (RFC 850, asctime): GMT-terminated with a
     * hyphenated date, or exactly 24 bytes ending in a 4-digit year. */
    if (strlen(s) != 29) {
        size_t n = strlen(s);
        if (!(strchr(s, '-') != NULL && n > 4 &&
              strcmp(s + n - 4, " GMT") == 0) &&
            !(n == 24 && isdigit((unsigned char)s[20]) &&
              isdigit((unsigned char)s[23])))
            abort();
        return;
    }
    /* an accepted IMF-fixdate has the RFC's digits where it has digits */
    if (!strict_shape(s))
        abort();
    /* ... and means what its fields say, computed here apart */
    m = strstr(months, (char[4]){ s[8], s[9], s[10], '\0' });
    if (m == NULL || (m - months) % 3 != 0)
        abort();
    want =
        (int64_t)clock_days_from_civil(num(s, 12, 4), (int)(m - months) / 3 + 1,
                                       num(s, 5, 2)) *
            86400 +
        num(s, 17, 2) * 3600 + num(s, 20, 2) * 60 + num(s, 23, 2);
    if (t != want || t < 0)
        abort();
}

static void route(const char *path)
{
    static const char prefix[] = "/v1/clinics/";
    const size_t pl = sizeof(prefix) - 1;
    const char *id = (const char *)1, *name;
    size_t idlen = 12345;
    char buf[CONF_HSA_ID_MAX + 1];

    name = http_route(path, &id, &idlen);
    if (name == NULL)
        abort();
    if (strcmp(name, "clinic") != 0 && strcmp(name, "slots") != 0) {
        if (id != NULL)
            abort();
        return;
    }
    /* The id is the segment right after the prefix, and nothing else
     * follows but "/slots" for the slots route. */
    if (strncmp(path, prefix, pl) != 0 || id != path + pl || idlen == 0 ||
        idlen > CONF_HSA_ID_MAX)
        abort();
    if (strcmp(id + idlen, strcmp(name, "slots") == 0 ? "/slots" : "") != 0)
        abort();
    memcpy(buf, id, idlen);
    buf[idlen] = '\0';
    if (!conf_valid_hsa_id(buf))
        abort();
}

/* Field lines as evhttp stores them: name before the first ':', value
 * after it with leading spaces and trailing whitespace cut. */
static void framing(char *head)
{
    struct evkeyvalq h;
    struct evkeyval kv[64], *e;
    const char *why = NULL, *te = NULL;
    char *line, *next, *colon;
    int major = -1, minor = -1, n = 0, st, cls = 0, tes = 0, hosts = 0;

    TAILQ_INIT(&h);
    next = strchr(head, '\n');
    if (next != NULL)
        *next++ = '\0';
    if (sscanf(head, "%d.%d", &major, &minor) != 2)
        return;
    for (line = next; line != NULL && n < 64; line = next) {
        size_t len;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if ((colon = strchr(line, ':')) == NULL)
            continue; /* evhttp refuses such a head itself */
        *colon = '\0';
        kv[n].key = line;
        kv[n].value = colon + 1 + strspn(colon + 1, " ");
        len = strlen(kv[n].value);
        while (len > 0 && strchr(" \t\r", kv[n].value[len - 1]))
            kv[n].value[--len] = '\0';
        TAILQ_INSERT_TAIL(&h, &kv[n], next);
        n++;
    }
    st = http_framing_check(major, minor, &h, &why);
    if (st != 0) {
        if ((st != 400 && st != 501 && st != 505) || why == NULL)
            abort();
        return;
    }
    if (major != 1 || (minor != 0 && minor != 1))
        abort();
    TAILQ_FOREACH(e, &h, next)
    {
        if (strcasecmp(e->key, "Content-Length") == 0) {
            cls++;
            if (e->value[0] == '\0' ||
                strspn(e->value, "0123456789") != strlen(e->value))
                abort();
        } else if (strcasecmp(e->key, "Transfer-Encoding") == 0) {
            tes++;
            te = e->value;
        } else if (strcasecmp(e->key, "Host") == 0) {
            hosts++;
        }
        for (const char *p = e->key; *p; p++)
            if (*p <= ' ' || *p == ':' || *p == 0x7f)
                abort();
    }
    if (cls > 1 || hosts > 1 || (minor == 1 && hosts != 1))
        abort();
    if (tes > 0 &&
        (tes != 1 || cls != 0 || minor != 1 || strcasecmp(te, "chunked") != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_part parts[5];
    size_t n;
    char *s;

    log_quiet();
    clock_set_fake(NOW);
    if (snap == NULL)
        setup();
    n = fuzz_split(data, size, parts, 5);
    s = fuzz_strndup(parts[0].p, parts[0].n);
    query(s);
    free(s);
    if (n > 1) {
        s = fuzz_strndup(parts[1].p, parts[1].n);
        http_date(s);
        free(s);
    }
    if (n > 2) {
        s = fuzz_strndup(parts[2].p, parts[2].n);
        (void)api_accepts_gzip(s);
        free(s);
    }
    if (n > 3) {
        s = fuzz_strndup(parts[3].p, parts[3].n);
        route(s);
        free(s);
    }
    if (n > 4) {
        s = fuzz_strndup(parts[4].p, parts[4].n);
        framing(s);
        free(s);
    }
    return 0;
}
