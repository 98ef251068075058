/*
 * riv_parse_bench.c - CPU of the RIV response parsers alone, per poll.
 *
 *   riv_parse_bench [ROUNDS [DUMP_DIR]]
 *
 * One poll of a clinic is 5 answers (bench/poll_bench.sh, the simulator's
 * "normal" profile): one GetAvailableDates and four GetAvailableTimeslots
 * spans with 171 free slots in all (3 practitioners, 28 days). The bodies
 * are made here in slotfeed-sim's exact format (sim/sim.c answer_dates,
 * answer_slots: prefixed core elements, the simInfo extension the parser
 * must skip), then parsed ROUNDS times (default 2000) with
 * riv_parse_dates + riv_parse_timeslots as the adapter does. Prints
 * key=value lines: cpu_ms_per_poll (user+sys), bytes_per_poll,
 * slots_per_poll, and envelope_ms_per_poll: building the poll's five
 * request envelopes (riv_build_envelope, as the adapter sends them).
 * libxml2_sax2_ms_per_poll and libxml2_sax1_ms_per_poll: libxml2 alone on
 * the same bodies with callbacks that do nothing, through the SAX2
 * interface the adapter uses and through SAX1 (no namespaces), so the
 * adapter's own share of a parse is the difference.
 * With DUMP_DIR the five bodies are also written there
 * (for comparing parsers on the same input). Not a test; figures in
 * docs/performance.md ("Collector", the parser section).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libxml/parser.h>
#include <stdbool.h>

#include "slotfeed/availability.h"
#include "slotfeed/clock.h"
#include "slotfeed/error.h"
#include "slotfeed/log.h"
#include "slotfeed/rivta.h"

#define SPANS 4
#define SLOTS 171
#define PRACT 3
#define DAY0 20538 /* 2026-03-26 */
#define EXT                                                                 \
    "<x:simInfo xmlns:x=\"urn:slotfeed:sim:ext:1\"><x:generator>"           \
    "slotfeed-sim</x:generator><x:seed>42</x:seed><x:note><x:text>unknown " \
    "elements from other namespaces must be skipped</x:text></x:note>"      \
    "</x:simInfo>"
#define OPEN                                                                  \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope "             \
    "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Header/>" \
    "<soap:Body>"
#define CLOSE "</soap:Body></soap:Envelope>\n"

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n)
            break;
        b->cap = b->cap * 2 + (size_t)k + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            perror("riv_parse_bench");
            exit(1);
        }
    }
    b->n += (size_t)k;
}

static const char *const names[PRACT] = {
    "Leg. fysioterapeut Jacob Dalmo",
    "Anna Maria Berg",
    "Per-Olof \xc3\x85kesson",
};

/* Slot k: day, practitioner and time, spread over the 28 days. */
static void slot_of(int k, int *day, int *pract, int *hour, int *min)
{
    *day = (k * 28) / SLOTS;
    *pract = k % PRACT;
    *hour = 8 + (k % 8);
    *min = (k % 2) * 30;
}

static void make_dates(struct buf *b)
{
    int last = -1;

    put(b, OPEN "<GetAvailableDatesResponse xmlns=\"urn:riv:crm:scheduling:"
                "GetAvailableDatesResponder:1\">");
    for (int k = 0; k < SLOTS; k++) {
        int day, pract, hour, min;
        char dt[9];

        slot_of(k, &day, &pract, &hour, &min);
        if (day * PRACT + pract <= last)
            continue;
        last = day * PRACT + pract;
        clock_format_riv_date(DAY0 + day, dt);
        put(b,
            "<performerAvailabilityByDate><healthcare_facility>"
            "SE2321000156-B00001</healthcare_facility><performer>"
            "SE2321000156-P%05d</performer><date>%s</date><timeTypeName>"
            "Nybes\xc3\xb6k</timeTypeName><timeTypeID>NYB</timeTypeID>%s"
            "</performerAvailabilityByDate>",
            pract, dt, k == 0 ? EXT : "");
    }
    put(b, EXT "</GetAvailableDatesResponse>" CLOSE);
}

static void make_slots(struct buf *b, int span)
{
    put(b, OPEN "<GetAvailableTimeslotsResponse xmlns=\"urn:riv:crm:"
                "scheduling:GetAvailableTimeslotsResponder:1\" xmlns:c=\""
                "urn:riv:crm:scheduling:1\">");
    for (int k = 0; k < SLOTS; k++) {
        int day, pract, hour, min;
        char dt[9];

        slot_of(k, &day, &pract, &hour, &min);
        if (day / 7 != span)
            continue;
        clock_format_riv_date(DAY0 + day, dt);
        put(b,
            "<timeslotDetail><c:startTimeInclusive>%s%02d%02d00"
            "</c:startTimeInclusive><c:endTimeExclusive>%s%02d%02d00"
            "</c:endTimeExclusive><c:healthcare_facility>"
            "SE2321000156-B00001</c:healthcare_facility><c:performer>"
            "SE2321000156-P%05d</c:performer><c:healthcare_facility_name>"
            "V\xc3\xa5rdcentralen Karlstad 1</c:healthcare_facility_name>"
            "<c:performerName>%s</c:performerName><c:timeTypeName>"
            "Nybes\xc3\xb6k</c:timeTypeName><c:timeTypeID>NYB"
            "</c:timeTypeID></timeslotDetail>",
            dt, hour, min, dt, hour, min + 29, pract, names[pract]);
    }
    put(b, EXT "</GetAvailableTimeslotsResponse>" CLOSE);
}

static double cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void dump(const char *dir, const char *name, const struct buf *b)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* One poll's parsing; returns the slots kept, or -1. */
static long parse_poll(const struct buf *dates, const struct buf *spans,
                       struct avail_slots *s)
{
    struct sf_error err;
    int32_t days[64];
    size_t n = 64;

    if (riv_parse_dates(dates->p, dates->n, days, &n, &err) < 0) {
        fprintf(stderr, "riv_parse_bench: %s\n", err.msg);
        return -1;
    }
    avail_slots_truncate(s, 0);
    for (int i = 0; i < SPANS; i++)
        if (riv_parse_timeslots(spans[i].p, spans[i].n, s, NULL, &err) < 0) {
            fprintf(stderr, "riv_parse_bench: %s\n", err.msg);
            return -1;
        }
    return (long)s->n;
}

/* Element callbacks that do nothing: libxml2's own share of a parse. */
static void nop_start_ns(void *ctx, const xmlChar *local, const xmlChar *prefix,
                         const xmlChar *uri, int nb_namespaces,
                         const xmlChar **namespaces, int nb_attributes,
                         int nb_defaulted, const xmlChar **attributes)
{
    (void)ctx;
    (void)local;
    (void)prefix;
    (void)uri;
    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_attributes;
    (void)nb_defaulted;
    (void)attributes;
}

static void nop_end_ns(void *ctx, const xmlChar *local, const xmlChar *prefix,
                       const xmlChar *uri)
{
    (void)ctx;
    (void)local;
    (void)prefix;
    (void)uri;
}

static void nop_start(void *ctx, const xmlChar *name, const xmlChar **atts)
{
    (void)ctx;
    (void)name;
    (void)atts;
}

static void nop_end(void *ctx, const xmlChar *name)
{
    (void)ctx;
    (void)name;
}

static void nop_text(void *ctx, const xmlChar *ch, int len)
{
    (void)ctx;
    (void)ch;
    (void)len;
}

/*
 * CPU ms per poll of libxml2 alone on the same five bodies: the pull
 * parser on one kept context, as the adapter parses, with callbacks that
 * do nothing. sax1: libxml2's SAX1 interface (names as written, no
 * namespace processing), the next step down; -1 on a parse error.
 */
static double floor_ms(const struct buf *all, long rounds, bool sax1)
{
    xmlParserCtxtPtr c = xmlNewParserCtxt();
    xmlSAXHandler sax;
    double t0 = 0;

    if (c == NULL)
        return -1;
    memset(&sax, 0, sizeof(sax));
    if (sax1) {
        sax.initialized = 1;
        sax.startElement = nop_start;
        sax.endElement = nop_end;
    } else {
        sax.initialized = XML_SAX2_MAGIC;
        sax.startElementNs = nop_start_ns;
        sax.endElementNs = nop_end_ns;
    }
    sax.characters = nop_text;
    for (long r = -1; r < rounds; r++) { /* round -1 warms up */
        if (r == 0)
            t0 = cpu_ms();
        for (int i = 0; i <= SPANS; i++) {
            memcpy(c->sax, &sax, sizeof(sax));
            xmlCtxtReadMemory(c, all[i].p, (int)all[i].n, NULL, NULL,
                              XML_PARSE_NONET);
            if (!c->wellFormed) {
                xmlFreeParserCtxt(c);
                return -1;
            }
        }
    }
    t0 = (cpu_ms() - t0) / (double)rounds;
    xmlFreeParserCtxt(c);
    return t0;
}

/* CPU ms of building one poll's five request envelopes, over rounds. */
static double envelopes_ms(long rounds)
{
    struct riv_query q = { "SE2321000156-B00001",
                           "191212121212",
                           "subject_of_care",
                           DAY0,
                           DAY0 + 27,
                           "NYB" };
    struct sf_error err;
    double t0 = cpu_ms();

    for (long r = 0; r < rounds; r++)
        for (int i = 0; i <= SPANS; i++) {
            char *e = riv_build_envelope(i == 0 ? RIV_GET_AVAILABLE_DATES
                                                : RIV_GET_AVAILABLE_TIMESLOTS,
                                         &q, &err);

            if (e == NULL)
                return -1;
            free(e);
        }
    return (cpu_ms() - t0) / (double)rounds;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 2000, got = 0;
    struct buf dates = { NULL, 0, 0 }, spans[SPANS];
    struct avail_slots s;
    size_t bytes;
    double t0, t1;

    log_quiet();
    if (rounds <= 0) {
        fprintf(stderr, "usage: riv_parse_bench [ROUNDS [DUMP_DIR]]\n");
        return 2;
    }
    make_dates(&dates);
    bytes = dates.n;
    for (int i = 0; i < SPANS; i++) {
        spans[i] = (struct buf){ NULL, 0, 0 };
        make_slots(&spans[i], i);
        bytes += spans[i].n;
    }
    if (argc > 2) {
        char name[32];

        dump(argv[2], "dates.xml", &dates);
        for (int i = 0; i < SPANS; i++) {
            snprintf(name, sizeof(name), "slots%d.xml", i);
            dump(argv[2], name, &spans[i]);
        }
    }
    avail_slots_init(&s);
    if (parse_poll(&dates, spans, &s) != SLOTS) /* warm-up and check */
        return 1;
    t0 = cpu_ms();
    for (long r = 0; r < rounds; r++)
        got += parse_poll(&dates, spans, &s);
    t1 = cpu_ms();
    if (got != rounds * SLOTS)
        return 1;
    printf("rounds=%ld\nbytes_per_poll=%zu\nslots_per_poll=%d\n", rounds, bytes,
           SLOTS);
    printf("cpu_ms_per_poll=%.4f\n", (t1 - t0) / (double)rounds);
    printf("envelope_ms_per_poll=%.4f\n", envelopes_ms(rounds));
    {
        struct buf all[SPANS + 1];

        all[0] = dates;
        for (int i = 0; i < SPANS; i++)
            all[i + 1] = spans[i];
        /* Our share of a parse = cpu_ms_per_poll - libxml2_sax2_ms. */
        printf("libxml2_sax2_ms_per_poll=%.4f\n", floor_ms(all, rounds, false));
        printf("libxml2_sax1_ms_per_poll=%.4f\n", floor_ms(all, rounds, true));
    }
    avail_slots_clear(&s);
    free(dates.p);
    for (int i = 0; i < SPANS; i++)
        free(spans[i].p);
    return 0;
}
