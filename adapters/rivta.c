/*
 * rivta.c - RIV-TA crm:scheduling 1.1 adapter (SOAP 1.1, RIVTABP21).
 *
 * Three parts:
 *   - request building: a fixed envelope template with every text value
 *     escaped into it, after a check that the value is valid UTF-8 made
 *     only of XML 1.0 characters (the bytes libxml2's serializer wrote
 *     when the envelope was a tree; a unit test compares the two);
 *   - response parsing: one SAX2 pass with our own handler (no tree): a
 *     DOCTYPE stops it at once (SOAP 1.1 forbids DTDs; this removes XXE
 *     and entity bombs), elements are matched by namespace URI + local
 *     name and everything else is skipped (the contracts end every type
 *     in xs:any ##other);
 *   - the poll conversation: GetAvailableDates for the window, then one
 *     GetAvailableTimeslots per span of at most 7 days that has dates.
 *
 * libxml2 errors never reach stderr: the SAX handler has its own structured
 * error handler, and the thread-local generic/structured
 * handlers are swapped for quiet ones during a parse and restored after
 * (both are per-thread in a threaded libxml2, so this is thread-safe).
 */
#include "slotfeed/rivta.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <libxml/chvalid.h>
#include <libxml/dict.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlreader.h>
#include <libxml/xmlstring.h>

#include "slotfeed/clock.h"
#include "slotfeed/conf_types.h"
#include "slotfeed/hash.h"
#include "slotfeed/log.h"
#include "slotfeed/pnr.h"

#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define REG_NS "urn:riv:itintegration:registry:1"
#define HDR_NS "urn:riv:interoperability:headers:1"
#define CORE_NS "urn:riv:crm:scheduling:1"
#define NS_BASE "urn:riv:crm:scheduling:"

#define RIV_CONTENT_TYPE "text/xml; charset=UTF-8"

/* Longest text kept from one element; longer values are cut (names, ids). */
#define FIELD_MAX 4096
/* Fault text quoted in error messages. */
#define FAULT_QUOTE_MAX 200
/* A GetAvailableTimeslots span never covers more than this many dates. */
#define SPAN_DAYS 7

/* --- small helpers ------------------------------------------------------- */

const char *riv_contract_name(enum riv_contract c)
{
    switch (c) {
    case RIV_GET_AVAILABLE_DATES:
        return "GetAvailableDates";
    case RIV_GET_AVAILABLE_TIMESLOTS:
        return "GetAvailableTimeslots";
    case RIV_GET_ALL_TIME_TYPES:
        return "GetAllTimeTypes";
    }
    return NULL;
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * True when s is valid UTF-8 made only of characters XML 1.0 allows in
 * text (no C0 controls except TAB/LF/CR, no surrogates, no U+FFFE/FFFF).
 * The serializer escapes markup characters but passes these through, which
 * would make a request the producer cannot parse.
 */
static bool xml_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    while (left > 0) {
        int len = left > 4 ? 4 : (int)left;
        int c = xmlGetUTF8Char(p, &len);

        if (c < 0 || len <= 0)
            return false;
        if (!xmlIsCharQ(c) || (c >= 0xD800 && c <= 0xDFFF))
            return false;
        p += len;
        left -= (size_t)len;
    }
    return true;
}

/* Length of s cut to at most max bytes without splitting a UTF-8 char. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* --- envelope building --------------------------------------------------- */

/*
 * The envelope is a fixed template with the values escaped into it: one
 * allocation and no tree (the libxml2 tree + serializer was 5 % of a
 * poll's CPU). The bytes are those libxml2's serializer wrote for the same
 * tree (tests/unit/test_rivta.c keeps that builder as the reference and
 * compares): text escapes < > & and CR, nothing else; every value was
 * checked to be valid UTF-8 made of XML characters first.
 */

/* Bytes value takes in text content once escaped. */
static size_t xml_escaped_len(const char *v)
{
    size_t n = 0;

    for (; *v != '\0'; v++) {
        switch (*v) {
        case '<':
        case '>':
            n += 4;
            break;
        case '&':
        case '\r':
            n += 5;
            break;
        default:
            n++;
            break;
        }
    }
    return n;
}

/* Append literal s at p; returns the end. */
static char *put_lit(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return p + n;
}

/* Append v escaped as text content at p; returns the end. */
static char *put_text(char *p, const char *v)
{
    for (; *v != '\0'; v++) {
        switch (*v) {
        case '<':
            p = put_lit(p, "&lt;");
            break;
        case '>':
            p = put_lit(p, "&gt;");
            break;
        case '&':
            p = put_lit(p, "&amp;");
            break;
        case '\r':
            p = put_lit(p, "&#13;");
            break;
        default:
            *p++ = *v;
            break;
        }
    }
    return p;
}

/* One element <pfx:name>value</pfx:name> at *p, which moves past it (a
 * NULL *p: only count). Returns its length. */
static size_t put_elem(char **p, const char *pfx, const char *name,
                       const char *value)
{
    size_t tag = strlen(pfx) + 1 + strlen(name);

    if (*p != NULL) {
        char *o = *p;

        *o++ = '<';
        o = put_lit(o, pfx);
        *o++ = ':';
        o = put_lit(o, name);
        *o++ = '>';
        o = put_text(o, value);
        o = put_lit(o, "</");
        o = put_lit(o, pfx);
        *o++ = ':';
        o = put_lit(o, name);
        *o++ = '>';
        *p = o;
    }
    return 2 * tag + 5 + xml_escaped_len(value);
}

/* The values of one envelope, checked, for envelope_write. */
struct env_vals {
    const char *name, *actor_type;
    char first[9], last[9];
    const struct riv_query *q;
    bool dates;
};

/*
 * Write the envelope at p, or only count its bytes when p is NULL (the
 * same code for both, so the count cannot drift from what is written).
 */
static size_t envelope_write(char *p, const struct env_vals *v)
{
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<soapenv:Envelope xmlns:soapenv=\"" SOAP_NS "\" xmlns:reg=\"" REG_NS
        "\" xmlns:hdr=\"" HDR_NS "\" xmlns:q=\"" NS_BASE;
    const struct riv_query *q = v->q;
    char *o = p;
    size_t n = 0;
    char tail[256];

#define LIT(s)                 \
    do {                       \
        size_t k_ = strlen(s); \
        if (o != NULL)         \
            o = put_lit(o, s); \
        n += k_;               \
    } while (0)
    LIT(head);
    snprintf(tail, sizeof(tail),
             "%sResponder:1\" xmlns:qx=\"" NS_BASE
             "%sResponder:1.1\"><soapenv:Header>",
             v->name, v->name);
    LIT(tail);
    n += put_elem(&o, "reg", "LogicalAddress", q->logical_address);
    LIT("<hdr:Actor>");
    n += put_elem(&o, "hdr", "actorId", q->subject_of_care);
    n += put_elem(&o, "hdr", "actorType", v->actor_type);
    LIT("</hdr:Actor></soapenv:Header><soapenv:Body><q:");
    LIT(v->name);
    LIT(">");
    n += put_elem(&o, "q", "healthcare_facility", q->logical_address);
    if (v->dates) {
        /* Element order is the XSD sequence order. */
        n += put_elem(&o, "q", "startDateInclusive", v->first);
        n += put_elem(&o, "q", "endDateInclusive", v->last);
        if (q->time_type_id != NULL && q->time_type_id[0] != '\0')
            n += put_elem(&o, "q", "timeTypeID", q->time_type_id);
    }
    n += put_elem(&o, "qx", "subject_of_care", q->subject_of_care);
    LIT("</q:");
    LIT(v->name);
    LIT("></soapenv:Body></soapenv:Envelope>\n");
#undef LIT
    if (o != NULL)
        *o = '\0';
    return n;
}

static int check_value(const char *what, const char *v, bool required,
                       struct sf_error *err)
{
    if (v == NULL || v[0] == '\0') {
        if (!required)
            return 0;
        sf_error_set(err, SF_ERR_CONFIG, "RIV request: %s missing", what);
        return -1;
    }
    if (!xml_text_ok(v)) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "RIV request: %s is not valid UTF-8 XML text", what);
        return -1;
    }
    return 0;
}

char *riv_build_envelope(enum riv_contract c, const struct riv_query *q,
                         struct sf_error *err)
{
    struct env_vals v;
    size_t n;
    char *out;

    memset(&v, 0, sizeof(v));
    v.name = riv_contract_name(c);
    v.q = q;
    if (v.name == NULL || q == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "RIV request: bad arguments");
        return NULL;
    }
    v.actor_type = q->actor_type != NULL && q->actor_type[0] != '\0'
                       ? q->actor_type
                       : "subject_of_care";
    if (check_value("logical address (HSA-id)", q->logical_address, true, err) <
            0 ||
        check_value("subject_of_care", q->subject_of_care, true, err) < 0 ||
        check_value("timeTypeID", q->time_type_id, false, err) < 0)
        return NULL;
    if (strcmp(v.actor_type, "subject_of_care") != 0 &&
        strcmp(v.actor_type, "subject_of_care_agent") != 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "RIV request: actorType must be subject_of_care or "
                     "subject_of_care_agent");
        return NULL;
    }
    v.dates = c != RIV_GET_ALL_TIME_TYPES;
    if (v.dates && q->first_day > q->last_day) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "%s request: start date after end date", v.name);
        return NULL;
    }
    if (v.dates) {
        clock_format_riv_date(q->first_day, v.first);
        clock_format_riv_date(q->last_day, v.last);
    }
    n = envelope_write(NULL, &v);
    out = malloc(n + 1);
    if (out == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s request: out of memory", v.name);
        return NULL;
    }
    envelope_write(out, &v);
    return out;
}

/* --- quiet libxml2 ------------------------------------------------------- */

static void quiet_generic(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static void quiet_structured(void *ctx, xmlErrorPtr e)
{
    (void)ctx;
    (void)e;
}

/* The calling thread's libxml2 error handlers, saved during a parse. */
struct xml_quiet {
    xmlStructuredErrorFunc sfn;
    void *sctx;
    xmlGenericErrorFunc gfn;
    void *gctx;
};

static void quiet_begin(struct xml_quiet *q)
{
    xmlInitParser();
    q->sfn = xmlStructuredError;
    q->sctx = xmlStructuredErrorContext;
    q->gfn = xmlGenericError;
    q->gctx = xmlGenericErrorContext;
    xmlSetStructuredErrorFunc(NULL, quiet_structured);
    xmlSetGenericErrorFunc(NULL, quiet_generic);
}

static void quiet_end(const struct xml_quiet *q)
{
    xmlSetStructuredErrorFunc(q->sctx, q->sfn);
    xmlSetGenericErrorFunc(q->gctx, q->gfn);
}

/* --- streaming response parser -------------------------------------------- */

/*
 * One pass of libxml2's pull parser over the whole body with our own SAX2
 * handler: no tree, no node per element or text run (the xmlTextReader we
 * used before built and freed one for each: most of a poll's CPU). Only
 * the text of the few elements we use is copied, capped at FIELD_MAX. An
 * element's role follows from its parent's (struct parse.role), which is
 * the walk the reader did with next_child/skip_element.
 */

/* A growable text buffer capped at FIELD_MAX bytes. */
struct field {
    char *p;
    size_t n, cap;
    bool set;
    bool full; /* cut at FIELD_MAX: later text pieces are dropped */
};

static void field_reset(struct field *f)
{
    f->n = 0;
    f->set = false;
    f->full = false;
    if (f->p != NULL)
        f->p[0] = '\0';
}

static void field_free(struct field *f)
{
    free(f->p);
    f->p = NULL;
    f->n = f->cap = 0;
    f->set = false;
}

/*
 * Text arrives in pieces (SAX characters of up to ~300 bytes, split at
 * references); a piece is never split inside a UTF-8 character. Once one
 * piece was cut, the rest is dropped, so the value is the text's longest
 * prefix of whole characters within FIELD_MAX, as for one whole text.
 */
static int field_append(struct field *f, const char *s, size_t len)
{
    if (f->full)
        return 0;
    if (f->n + len > FIELD_MAX) {
        len = utf8_cut(s, len, FIELD_MAX - f->n);
        f->full = true;
    }
    if (f->n + len + 1 > f->cap) {
        size_t cap = f->cap == 0 ? 64 : f->cap;
        char *np;

        while (cap < f->n + len + 1)
            cap *= 2;
        np = realloc(f->p, cap);
        if (np == NULL)
            return -1;
        f->p = np;
        f->cap = cap;
    }
    memcpy(f->p + f->n, s, len);
    f->n += len;
    f->p[f->n] = '\0';
    return 0;
}

/* Trimmed value, or NULL when absent or empty (empty = not sent). */
static const char *field_value(struct field *f)
{
    char *s, *e;

    if (!f->set || f->p == NULL)
        return NULL;
    s = f->p;
    while (is_space((unsigned char)*s))
        s++;
    e = f->p + f->n; /* text holds no NUL: XML has none */
    while (e > s && is_space((unsigned char)e[-1]))
        *--e = '\0';
    f->n = (size_t)(e - f->p);
    return *s != '\0' ? s : NULL;
}

enum item_field {
    F_START,
    F_END,
    F_PERFORMER_NAME,
    F_TT_NAME,
    F_TT_ID,
    F_DATE,
    F_FAULTCODE,
    F_FAULTSTRING,
    F_COUNT
};

/* What an open element is to us; decided from its parent's role. */
enum role {
    R_SKIP, /* anything else, and everything below it */
    R_ENVELOPE,
    R_BODY,
    R_RESPONSE,
    R_FAULT,
    R_ITEM,
    R_FIELD, /* a text field of an item or a fault: its text is kept */
};

/* Roles are kept for the first ROLE_DEPTH levels (Envelope 0, Body 1,
 * response 2, item 3, field 4, its children 5); deeper is always R_SKIP. */
#define ROLE_DEPTH 6
/* A run of character data between two tags longer than this is refused:
 * the limit libxml2's tree builder (the reader) applied to a text node
 * (XML_MAX_TEXT_LENGTH); without a tree we count it ourselves. */
#define TEXT_RUN_MAX 10000000
/* Elements may nest this deep below the root: libxml2's tree builder
 * refused deeper ones (xmlParserMaxDepth without XML_PARSE_HUGE); its
 * SAX parser alone does not, so we count. */
#define DEPTH_MAX 256
/* A reused parser context is dropped when its dictionary holds more
 * names than this (an honest answer has a few dozen). */
#define DICT_KEEP 512
/* Distinct item child names remembered per parse (an answer has ~8). */
#define SEEN_MAX 16
/* performerName -> display name pairs remembered per response. */
#define WHO_MEMO 4
#define STR_(x) #x
#define STR(x) STR_(x)

/* Why the parse was stopped early; the first reason wins. */
enum stop {
    STOP_NONE,
    STOP_DTD,
    STOP_HOSTILE,
    STOP_NOMEM,
    STOP_CAP
};

struct parse {
    xmlParserCtxtPtr ctxt;
    enum riv_contract contract;
    const char *name;
    char resp_ns[128];     /* urn:...:<C>Responder:1 */
    char resp_name[64];    /* <C>Response */
    const char *item_name; /* timeslotDetail / performerAvailabilityByDate */
    struct field f[F_COUNT];
    struct field *cur; /* the open R_FIELD's buffer */
    unsigned depth;    /* open elements */
    unsigned char role[ROLE_DEPTH];
    size_t text_run; /* bytes of character data since the last tag */
    enum stop stop;
    bool nomem;
    bool root;     /* root element seen */
    bool bad_root; /* ... and it was none of ours */
    bool body;     /* the Envelope's first Body seen */
    bool fault;
    bool found;                       /* response element (or fault) seen */
    char root_ns[96], root_local[64]; /* unexpected root, quoted */
    /* first libxml2 error, for the message */
    bool xml_err;
    int xml_err_level;
    int xml_line, xml_col;
    char xml_msg[160];
    /* Names met in this parse, by libxml2's dictionary pointer: the same
     * name comes back as the same pointer, so most elements cost a
     * pointer compare instead of string compares. Only pointers the
     * context's dictionary owns are kept. */
    const xmlChar *seen_local[SEEN_MAX];
    signed char seen_map[SEEN_MAX]; /* item_child's map index, -1: none */
    unsigned nseen;
    const xmlChar *ns_ok; /* a namespace URI field_ns_ok accepted */
    const xmlChar *item_local, *item_uri; /* an item's, once met */
    /* results */
    int32_t *days;
    size_t days_cap, ndays;
    struct avail_slots *slots;
    struct riv_time_types *tts;
    size_t skipped;
    /* Display names of the last few performerName values (a response
     * names 2-4 practitioners over dozens of slots); owned, freed at the
     * end of parse_doc. */
    struct {
        char *raw, *who;
    } names[WHO_MEMO];
    unsigned names_next;
};

static void on_xml_error(void *arg, xmlErrorPtr e)
{
    struct parse *ps = arg;
    size_t n;

    if (e == NULL)
        return;
    /* Keep the first fatal error, else the first error of any kind. */
    if (ps->xml_err &&
        !(ps->xml_err_level < XML_ERR_FATAL && e->level == XML_ERR_FATAL))
        return;
    ps->xml_err = true;
    ps->xml_err_level = e->level;
    ps->xml_line = e->line;
    ps->xml_col = e->int2;
    snprintf(ps->xml_msg, sizeof(ps->xml_msg), "%s",
             e->message != NULL ? e->message : "unknown error");
    n = strlen(ps->xml_msg);
    while (n > 0 && is_space((unsigned char)ps->xml_msg[n - 1]))
        ps->xml_msg[--n] = '\0';
}

/* Stop the parser (from a callback): nothing more is parsed or reported. */
static void stop_parse(struct parse *ps, enum stop why)
{
    if (ps->stop == STOP_NONE)
        ps->stop = why;
    xmlStopParser(ps->ctxt);
}

/* One of our caps was exceeded: a malformed body, where libxml2 is now. */
static void cap_error(struct parse *ps, const char *what)
{
    xmlParserInputPtr in = ps->ctxt->input;

    ps->xml_err = true;
    ps->xml_err_level = XML_ERR_FATAL;
    ps->xml_line = in != NULL ? in->line : 0;
    ps->xml_col = in != NULL ? in->col : 0;
    snprintf(ps->xml_msg, sizeof(ps->xml_msg), "%s", what);
    stop_parse(ps, STOP_CAP);
}

static bool name_is(const xmlChar *uri, const xmlChar *local, const char *ns,
                    const char *name)
{
    if (strcmp((const char *)local, name) != 0)
        return false;
    if (ns == NULL)
        return uri == NULL;
    return uri != NULL && strcmp((const char *)uri, ns) == 0;
}

/* Children of an item are in the core namespace; accept the responder's. */
static bool field_ns_ok(struct parse *ps, const xmlChar *uri)
{
    const char *u = (const char *)uri;

    if (u == NULL)
        return false;
    if (uri == ps->ns_ok)
        return true;
    if (strcmp(u, CORE_NS) != 0 && strcmp(u, ps->resp_ns) != 0)
        return false;
    if (xmlDictOwns(ps->ctxt->dict, uri) == 1)
        ps->ns_ok = uri;
    return true;
}

/* Insert day into the sorted unique array; when full keep the earliest. */
static void add_day(struct parse *ps, int32_t day)
{
    size_t lo = 0, hi = ps->ndays;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (ps->days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ps->ndays && ps->days[lo] == day)
        return;
    if (ps->ndays == ps->days_cap) {
        if (lo == ps->ndays)
            return;
        ps->ndays--; /* drop the latest to make room */
    }
    memmove(ps->days + lo + 1, ps->days + lo,
            (ps->ndays - lo) * sizeof(ps->days[0]));
    ps->days[lo] = day;
    ps->ndays++;
}

/* One ListOfTimeTypes: kept when it has an id; repeated ids once. */
static int finish_time_type(struct parse *ps)
{
    struct riv_time_types *t = ps->tts;
    const char *id = field_value(&ps->f[F_TT_ID]);
    const char *name = field_value(&ps->f[F_TT_NAME]);
    struct riv_time_type *nv;

    if (id == NULL) {
        ps->skipped++;
        return 0;
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].id, id) == 0)
            return 0;
    if (t->n == RIV_TIME_TYPES_MAX) {
        ps->skipped++;
        return 0;
    }
    nv = realloc(t->v, (t->n + 1) * sizeof(*nv));
    if (nv == NULL) {
        ps->nomem = true;
        return -1;
    }
    t->v = nv;
    nv[t->n].id = strdup(id);
    nv[t->n].name = name != NULL ? strdup(name) : NULL;
    if (nv[t->n].id == NULL || (name != NULL && nv[t->n].name == NULL)) {
        free(nv[t->n].id);
        free(nv[t->n].name);
        ps->nomem = true;
        return -1;
    }
    t->n++;
    return 0;
}

/* riv_display_name(raw), remembered for the response: the same raw value
 * gives the same name. NULL as riv_display_name gives it (a NULL from
 * lack of memory is not remembered). Borrowed from ps. */
static const char *display_name_memo(struct parse *ps, const char *raw)
{
    unsigned k;
    char *who, *copy;

    if (raw == NULL)
        return NULL;
    for (k = 0; k < WHO_MEMO; k++)
        if (ps->names[k].raw != NULL && strcmp(ps->names[k].raw, raw) == 0)
            return ps->names[k].who;
    if ((who = riv_display_name(raw)) == NULL)
        return NULL;
    if ((copy = strdup(raw)) == NULL) {
        free(who); /* no memory: no name, as riv_display_name gives */
        return NULL;
    }
    k = ps->names_next++ % WHO_MEMO;
    free(ps->names[k].raw);
    free(ps->names[k].who);
    ps->names[k].raw = copy;
    ps->names[k].who = who;
    return who;
}

static int finish_item(struct parse *ps)
{
    const char *s, *e;
    int64_t start, end;
    const char *who;
    int rc;

    if (ps->contract == RIV_GET_ALL_TIME_TYPES)
        return finish_time_type(ps);
    if (ps->contract == RIV_GET_AVAILABLE_DATES) {
        int32_t day;

        s = field_value(&ps->f[F_DATE]);
        if (s != NULL && clock_parse_riv_date(s, &day) == 0)
            add_day(ps, day);
        else
            ps->skipped++;
        return 0;
    }
    s = field_value(&ps->f[F_START]);
    e = field_value(&ps->f[F_END]);
    if (s == NULL || e == NULL || clock_parse_riv_ts(s, &start) < 0 ||
        clock_parse_riv_ts(e, &end) < 0 || end <= start) {
        ps->skipped++;
        return 0;
    }
    who = display_name_memo(ps, field_value(&ps->f[F_PERFORMER_NAME]));
    rc = avail_slots_add(ps->slots, start, end, who,
                         field_value(&ps->f[F_TT_NAME]),
                         field_value(&ps->f[F_TT_ID]));
    if (rc < 0) {
        ps->nomem = true;
        return -1;
    }
    return 0;
}

/* Start keeping the text of the element just opened in f. */
static enum role open_field(struct parse *ps, struct field *f)
{
    field_reset(f);
    f->set = true;
    if (field_append(f, "", 0) < 0) {
        ps->nomem = true;
        return R_SKIP;
    }
    ps->cur = f;
    return R_FIELD;
}

static enum role item_child(struct parse *ps, const xmlChar *uri,
                            const xmlChar *local)
{
    /* Note the spelling: TimeTypeType has "timeTypeId", TimeslotType
     * "timeTypeID". */
    static const struct {
        const char *local;
        enum item_field f;
        enum riv_contract c;
    } map[] = {
        { "startTimeInclusive", F_START, RIV_GET_AVAILABLE_TIMESLOTS },
        { "endTimeExclusive", F_END, RIV_GET_AVAILABLE_TIMESLOTS },
        { "performerName", F_PERFORMER_NAME, RIV_GET_AVAILABLE_TIMESLOTS },
        { "timeTypeName", F_TT_NAME, RIV_GET_AVAILABLE_TIMESLOTS },
        { "timeTypeID", F_TT_ID, RIV_GET_AVAILABLE_TIMESLOTS },
        { "date", F_DATE, RIV_GET_AVAILABLE_DATES },
        { "timeTypeName", F_TT_NAME, RIV_GET_ALL_TIME_TYPES },
        { "timeTypeId", F_TT_ID, RIV_GET_ALL_TIME_TYPES },
    };

    int m = -1;
    unsigned k;

    for (k = 0; k < ps->nseen; k++)
        if (ps->seen_local[k] == local) {
            m = ps->seen_map[k];
            goto known;
        }
    /* The local name first: most children are not ours, and a miss costs
     * less than the namespace comparison. */
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].c == ps->contract &&
            strcmp((const char *)local, map[i].local) == 0) {
            m = (int)i;
            break;
        }
    if (ps->nseen < SEEN_MAX && xmlDictOwns(ps->ctxt->dict, local) == 1) {
        ps->seen_local[ps->nseen] = local;
        ps->seen_map[ps->nseen++] = (signed char)m;
    }
known:
    if (m < 0)
        return R_SKIP;
    return field_ns_ok(ps, uri) ? open_field(ps, &ps->f[map[m].f]) : R_SKIP;
}

static enum role open_response(struct parse *ps)
{
    ps->found = true;
    return R_RESPONSE;
}

static enum role open_fault(struct parse *ps)
{
    ps->found = true;
    ps->fault = true;
    field_reset(&ps->f[F_FAULTCODE]);
    field_reset(&ps->f[F_FAULTSTRING]);
    return R_FAULT;
}

/* faultcode/faultstring are unqualified in SOAP 1.1; some stacks qualify. */
static enum role fault_child(struct parse *ps, const xmlChar *uri,
                             const xmlChar *local)
{
    if (name_is(uri, local, NULL, "faultcode") ||
        name_is(uri, local, SOAP_NS, "faultcode"))
        return open_field(ps, &ps->f[F_FAULTCODE]);
    if (name_is(uri, local, NULL, "faultstring") ||
        name_is(uri, local, SOAP_NS, "faultstring"))
        return open_field(ps, &ps->f[F_FAULTSTRING]);
    return R_SKIP;
}

/* The root: a SOAP Envelope, or a bare response or Fault. Anything else
 * is quoted for the message; the parse goes on, as a malformed body is
 * reported as such first. */
static enum role root_role(struct parse *ps, const xmlChar *uri,
                           const xmlChar *local)
{
    if (name_is(uri, local, SOAP_NS, "Envelope"))
        return R_ENVELOPE;
    if (name_is(uri, local, ps->resp_ns, ps->resp_name))
        return open_response(ps);
    if (name_is(uri, local, SOAP_NS, "Fault"))
        return open_fault(ps);
    if (uri == NULL)
        uri = (const xmlChar *)"";
    sf_quote(ps->root_ns, sizeof(ps->root_ns), (const char *)uri,
             strlen((const char *)uri), sizeof(ps->root_ns) - 1);
    sf_quote(ps->root_local, sizeof(ps->root_local), (const char *)local,
             strlen((const char *)local), sizeof(ps->root_local) - 1);
    ps->bad_root = true;
    return R_SKIP;
}

static void unbound_root(struct parse *ps, const xmlChar *prefix,
                         const xmlChar *local)
{
    char *qname =
        malloc(strlen((const char *)prefix) + strlen((const char *)local) + 2);

    ps->root = true;
    ps->bad_root = true;
    ps->root_ns[0] = '\0';
    if (qname == NULL) {
        ps->nomem = true;
        return;
    }
    sprintf(qname, "%s:%s", (const char *)prefix, (const char *)local);
    sf_quote(ps->root_local, sizeof(ps->root_local), qname, strlen(qname),
             sizeof(ps->root_local) - 1);
    free(qname);
}

/* An item of the answer (see struct parse.seen_local). */
static bool item_is(struct parse *ps, const xmlChar *uri, const xmlChar *local)
{
    if (local == ps->item_local && uri == ps->item_uri)
        return true;
    if (!name_is(uri, local, ps->resp_ns, ps->item_name))
        return false;
    if (xmlDictOwns(ps->ctxt->dict, local) == 1 &&
        xmlDictOwns(ps->ctxt->dict, uri) == 1) {
        ps->item_local = local;
        ps->item_uri = uri;
    }
    return true;
}

/* The role of a new element at depth d > 0 under a parent of role up. */
static enum role child_role(struct parse *ps, enum role up, const xmlChar *uri,
                            const xmlChar *local)
{
    switch (up) {
    case R_ENVELOPE: /* the first Body; Header and extensions skipped */
        if (!ps->body && name_is(uri, local, SOAP_NS, "Body")) {
            ps->body = true;
            return R_BODY;
        }
        return R_SKIP;
    case R_BODY:
        if (ps->found)
            return R_SKIP;
        if (name_is(uri, local, SOAP_NS, "Fault"))
            return open_fault(ps);
        if (name_is(uri, local, ps->resp_ns, ps->resp_name))
            return open_response(ps);
        return R_SKIP;
    case R_RESPONSE:
        if (item_is(ps, uri, local)) {
            for (size_t i = 0; i < F_COUNT; i++)
                field_reset(&ps->f[i]);
            return R_ITEM;
        }
        return R_SKIP;
    case R_ITEM:
        return item_child(ps, uri, local);
    case R_FAULT:
        return fault_child(ps, uri, local);
    case R_FIELD:
    case R_SKIP:
        break;
    }
    return R_SKIP;
}

static void on_start(void *ctx, const xmlChar *local, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces,
                     const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    struct parse *ps = ctx;
    unsigned d = ps->depth++;
    enum role r;

    (void)nb_namespaces;
    (void)namespaces;
    (void)nb_attributes;
    (void)nb_defaulted;
    (void)attributes;
    ps->text_run = 0;
    if (d > DEPTH_MAX) {
        cap_error(ps, "elements nested deeper than " STR(DEPTH_MAX));
        return;
    }
    if (uri == NULL && prefix != NULL) {
        /* An undeclared prefix (a namespace error libxml2 lets pass): the
         * element is "p:local" in no namespace, so none of ours. */
        r = R_SKIP;
        if (d == 0)
            unbound_root(ps, prefix, local);
    } else if (d == 0) {
        ps->root = true;
        r = root_role(ps, uri, local);
    } else {
        r = d <= ROLE_DEPTH ? child_role(ps, ps->role[d - 1], uri, local)
                            : R_SKIP;
    }
    if (ps->nomem)
        stop_parse(ps, STOP_NOMEM);
    if (d < ROLE_DEPTH)
        ps->role[d] = (unsigned char)r;
}

static void on_end(void *ctx, const xmlChar *local, const xmlChar *prefix,
                   const xmlChar *uri)
{
    struct parse *ps = ctx;
    unsigned d = --ps->depth;

    (void)local;
    (void)prefix;
    (void)uri;
    ps->text_run = 0;
    if (d < ROLE_DEPTH && ps->role[d] == R_ITEM && finish_item(ps) < 0)
        stop_parse(ps, STOP_NOMEM);
}

/* Text, CDATA and whitespace: kept when directly inside an R_FIELD. */
static void on_text(void *ctx, const xmlChar *ch, int len)
{
    struct parse *ps = ctx;

    ps->text_run += (size_t)len;
    if (ps->text_run > TEXT_RUN_MAX) {
        cap_error(ps, "text longer than " STR(TEXT_RUN_MAX) " bytes");
        return;
    }
    if (ps->depth == 0 || ps->depth > ROLE_DEPTH ||
        ps->role[ps->depth - 1] != R_FIELD)
        return;
    if (field_append(ps->cur, (const char *)ch, (size_t)len) < 0) {
        ps->nomem = true;
        stop_parse(ps, STOP_NOMEM);
    }
}

static void on_comment(void *ctx, const xmlChar *value)
{
    struct parse *ps = ctx;

    (void)value;
    ps->text_run = 0;
}

/* SOAP 1.1 forbids DTDs: stop at the DOCTYPE's name, before any internal
 * subset (entity declarations) is read. */
static void on_subset(void *ctx, const xmlChar *name, const xmlChar *eid,
                      const xmlChar *sid)
{
    (void)name;
    (void)eid;
    (void)sid;
    stop_parse(ctx, STOP_DTD);
}

/* Second line: these only happen with a DTD, which on_subset refused. */
static void on_reference(void *ctx, const xmlChar *name)
{
    (void)name;
    stop_parse(ctx, STOP_HOSTILE);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type,
                           const xmlChar *pid, const xmlChar *sid,
                           xmlChar *content)
{
    (void)name;
    (void)type;
    (void)pid;
    (void)sid;
    (void)content;
    stop_parse(ctx, STOP_HOSTILE);
}

static void set_fault_error(struct parse *ps, struct sf_error *err)
{
    const char *fs = field_value(&ps->f[F_FAULTSTRING]);
    const char *fc = field_value(&ps->f[F_FAULTCODE]);
    char qs[FAULT_QUOTE_MAX + 1], qc[64];

    /* sf_quote scrubs: faults often echo the query identity. */
    if (fs == NULL)
        fs = "(no faultstring)";
    if (fc == NULL)
        fc = "?";
    sf_quote(qs, sizeof(qs), fs, strlen(fs), FAULT_QUOTE_MAX);
    sf_quote(qc, sizeof(qc), fc, strlen(fc), sizeof(qc) - 1);
    if (strncmp(fs, "VP004", 5) == 0 || strncmp(fs, "VP007", 5) == 0)
        sf_error_set(err, SF_ERR_NOT_CONNECTED, "%s: not connected: %s",
                     ps->name, qs);
    else
        sf_error_set(err, SF_ERR_FAULT, "%s: SOAP Fault %s: %s", ps->name, qc,
                     qs);
}

static void set_xml_error(struct parse *ps, struct sf_error *err)
{
    if (ps->xml_err)
        sf_error_set(err, SF_ERR_PARSE,
                     "%s response: malformed XML at line %d, column %d: %s",
                     ps->name, ps->xml_line, ps->xml_col, ps->xml_msg);
    else
        sf_error_set(err, SF_ERR_PARSE, "%s response: malformed XML", ps->name);
}

/* The outcome of a finished (or stopped) parse: 0, or -1 with err set. */
static int parse_result(struct parse *ps, bool bad, struct sf_error *err)
{
    switch (ps->stop) {
    case STOP_DTD:
        sf_error_set(err, SF_ERR_HOSTILE,
                     "%s response: document type declaration refused "
                     "(SOAP forbids DTDs)",
                     ps->name);
        return -1;
    case STOP_HOSTILE:
        sf_error_set(err, SF_ERR_HOSTILE,
                     "%s response: DTD or entity reference refused", ps->name);
        return -1;
    case STOP_NOMEM:
        sf_error_set(err, SF_ERR_NOMEM, "%s response: out of memory", ps->name);
        return -1;
    case STOP_CAP:
    case STOP_NONE:
        break;
    }
    if (bad || !ps->root) {
        set_xml_error(ps, err);
        return -1;
    }
    if (ps->bad_root) {
        sf_error_set(err, SF_ERR_PARSE,
                     "%s response: unexpected root element {%s}%s", ps->name,
                     ps->root_ns, ps->root_local);
        return -1;
    }
    if (ps->fault) {
        set_fault_error(ps, err);
        return -1;
    }
    if (!ps->found) {
        sf_error_set(err, SF_ERR_PARSE, "%s response: no %s in SOAP Body",
                     ps->name, ps->resp_name);
        return -1;
    }
    return 0;
}

/*
 * One parser context per thread, reused from parse to parse: a new one is
 * some thirty allocations and a dictionary that learns the same few dozen
 * names again. Taken while a parse runs, given back after it.
 */
static pthread_key_t ctxt_key;
static pthread_once_t ctxt_once = PTHREAD_ONCE_INIT;
static bool ctxt_key_ok;

static void ctxt_destroy(void *c)
{
    xmlFreeParserCtxt(c);
}

static void ctxt_key_make(void)
{
    ctxt_key_ok = pthread_key_create(&ctxt_key, ctxt_destroy) == 0;
}

static xmlParserCtxtPtr ctxt_take(void)
{
    xmlParserCtxtPtr c;

    pthread_once(&ctxt_once, ctxt_key_make);
    if (ctxt_key_ok && (c = pthread_getspecific(ctxt_key)) != NULL) {
        pthread_setspecific(ctxt_key, NULL);
        return c;
    }
    return xmlNewParserCtxt();
}

static void ctxt_give(xmlParserCtxtPtr c)
{
    /* A body of many distinct names would keep them all: such a context
     * is dropped, so the dictionary stays the size of an honest answer. */
    if (!ctxt_key_ok || c->dict == NULL || xmlDictSize(c->dict) > DICT_KEEP ||
        pthread_setspecific(ctxt_key, c) != 0) {
        xmlFreeParserCtxt(c);
        return;
    }
    /* The kept context holds no copy of the body (upstream text, up to
     * the size cap) until the next parse: only the dictionary stays. */
    xmlCtxtReset(c);
}

void riv_parse_release(void)
{
    xmlParserCtxtPtr c;

    if (!ctxt_key_ok || (c = pthread_getspecific(ctxt_key)) == NULL)
        return;
    pthread_setspecific(ctxt_key, NULL);
    xmlFreeParserCtxt(c);
}

/*
 * Parse one response of contract c. Results go to ps->days or ps->slots.
 * Returns 0, or -1 with err set (faults included).
 */
static int parse_doc(struct parse *ps, const char *body, size_t len,
                     struct sf_error *err)
{
    xmlSAXHandler sax;
    struct xml_quiet quiet;
    int rc = -1;
    bool bad;

    ps->name = riv_contract_name(ps->contract);
    snprintf(ps->resp_ns, sizeof(ps->resp_ns), NS_BASE "%sResponder:1",
             ps->name);
    snprintf(ps->resp_name, sizeof(ps->resp_name), "%sResponse", ps->name);
    ps->item_name = ps->contract == RIV_GET_AVAILABLE_DATES
                        ? "performerAvailabilityByDate"
                    : ps->contract == RIV_GET_ALL_TIME_TYPES ? "ListOfTimeTypes"
                                                             : "timeslotDetail";
    if (body == NULL || len == 0) {
        sf_error_set(err, SF_ERR_PARSE, "%s response: empty body", ps->name);
        return -1;
    }
    if (len > INT_MAX) {
        sf_error_set(err, SF_ERR_TOO_LARGE, "%s response: body too large",
                     ps->name);
        return -1;
    }

    /* Only these callbacks: no getEntity, so no entity but the five
     * predefined ones and character references ever has a value. */
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.internalSubset = on_subset;
    sax.externalSubset = on_subset;
    sax.entityDecl = on_entity_decl;
    sax.reference = on_reference;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    sax.ignorableWhitespace = on_text;
    sax.cdataBlock = on_text;
    sax.comment = on_comment;
    sax.serror = on_xml_error;

    quiet_begin(&quiet);
    ps->ctxt = ctxt_take();
    if (ps->ctxt == NULL || ps->ctxt->sax == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s response: out of memory", ps->name);
        goto out;
    }
    /* The context's own handler becomes ours. The whole body is here:
     * the pull parser reads it straight through, without the push
     * parser's per-token bookkeeping (bench/riv_parse_bench). */
    memcpy(ps->ctxt->sax, &sax, sizeof(sax));
    ps->ctxt->userData = ps;
    xmlCtxtReadMemory(ps->ctxt, body, (int)len, NULL, NULL, XML_PARSE_NONET);
    if (ps->ctxt->input == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "%s response: out of memory", ps->name);
        goto out;
    }
    /* A stop leaves wellFormed as it was: a cap stop is malformed. */
    bad = !ps->ctxt->wellFormed || ps->stop != STOP_NONE;
    rc = parse_result(ps, bad, err);
out:
    if (ps->ctxt != NULL) {
        ps->ctxt->userData = ps->ctxt;
        ctxt_give(ps->ctxt);
    }
    ps->ctxt = NULL;
    for (size_t i = 0; i < F_COUNT; i++)
        field_free(&ps->f[i]);
    for (size_t i = 0; i < WHO_MEMO; i++) {
        free(ps->names[i].raw);
        free(ps->names[i].who);
    }
    quiet_end(&quiet);
    return rc;
}

/* The public parsers' common start: refuse bad arguments (args_ok false,
 * reported in fn's name), else a clean parse state for contract c. */
static int parse_init(struct parse *ps, enum riv_contract c, bool args_ok,
                      const char *fn, struct sf_error *err)
{
    if (!args_ok) {
        sf_error_set(err, SF_ERR_INTERNAL, "%s: bad arguments", fn);
        return -1;
    }
    memset(ps, 0, sizeof(*ps));
    ps->contract = c;
    return 0;
}

int riv_parse_dates(const char *body, size_t len, int32_t *days, size_t *ndays,
                    struct sf_error *err)
{
    struct parse ps;

    if (parse_init(&ps, RIV_GET_AVAILABLE_DATES,
                   ndays != NULL && (days != NULL || *ndays == 0),
                   "riv_parse_dates", err) != 0)
        return -1;
    ps.days = days;
    ps.days_cap = *ndays;
    if (parse_doc(&ps, body, len, err) < 0) {
        *ndays = 0;
        return -1;
    }
    *ndays = ps.ndays;
    return 0;
}

/* Drop the slots appended after index n0 (failed parse: no partial data);
 * their strings belong to the list's pool. */
static void slots_truncate(struct avail_slots *s, size_t n0)
{
    avail_slots_truncate(s, n0);
}

int riv_parse_timeslots(const char *body, size_t len, struct avail_slots *slots,
                        size_t *skipped, struct sf_error *err)
{
    struct parse ps;
    size_t n0;

    if (parse_init(&ps, RIV_GET_AVAILABLE_TIMESLOTS, slots != NULL,
                   "riv_parse_timeslots", err) != 0)
        return -1;
    ps.slots = slots;
    n0 = slots->n;
    if (parse_doc(&ps, body, len, err) < 0) {
        slots_truncate(slots, n0);
        return -1;
    }
    if (skipped != NULL)
        *skipped += ps.skipped;
    return 0;
}

void riv_time_types_clear(struct riv_time_types *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].id);
        free(t->v[i].name);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int riv_parse_time_types(const char *body, size_t len,
                         struct riv_time_types *out, struct sf_error *err)
{
    struct parse ps;
    struct riv_time_types got = { NULL, 0 };

    if (parse_init(&ps, RIV_GET_ALL_TIME_TYPES, out != NULL,
                   "riv_parse_time_types", err) != 0)
        return -1;
    ps.tts = &got;
    if (parse_doc(&ps, body, len, err) < 0) {
        riv_time_types_clear(&got);
        return -1;
    }
    riv_time_types_clear(out);
    *out = got;
    return 0;
}

/* --- display names -------------------------------------------------------- */

/*
 * Words that are titles rather than names when they lead a performerName.
 * Compared ASCII-case-insensitively (UTF-8 bytes of å/ä/ö match exactly).
 */
static const char *const titles[] = {
    "leg",
    "legitimerad",
    "fysioterapeut",
    "sjukgymnast",
    "dr",
    "doktor",
    "med",
    "läkare",
    "distriktsläkare",
    "sjuksköterska",
    "ssk",
    "usk",
    "undersköterska",
    "arbetsterapeut",
    "psykolog",
    "kurator",
    "naprapat",
    "kiropraktor",
    "dietist",
    "logoped",
    "barnmorska",
    "specialist",
    "professor",
    "docent",
    "överläkare",
    "specialistläkare",
};

static bool is_title(const char *w, size_t n, bool lower_is_title)
{
    if (n == 0)
        return false;
    /* "leg.", "Dr.", "med.dr." */
    if (w[n - 1] == '.')
        return true;
    /* Names are capitalised; a lower-case leading word is a title. */
    if (lower_is_title && w[0] >= 'a' && w[0] <= 'z')
        return true;
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        if (strlen(titles[i]) == n && strncasecmp(w, titles[i], n) == 0)
            return true;
    return false;
}

/*
 * Lenient rule (the contract says "title first [middle] last", but
 * producers differ):
 *   - a value with a comma is already "last, first": whitespace is
 *     normalised, nothing reordered;
 *   - otherwise words are split on whitespace and leading title words are
 *     dropped: a word ending in '.' ("leg.", "Dr.") or a known Swedish
 *     title ("fysioterapeut", "sjukgymnast", ...) while one word remains,
 *     a word starting lower-case only while two remain (so "jacob dalmo"
 *     keeps its first name);
 *   - the last word is the surname and the rest are the given names:
 *     "last, first [middle]"; a single remaining word is returned as is
 *     ("Dr. Dalmo" -> "Dalmo"). Surname particles ("van der") are not
 *     recognised: "Anna van Berg" -> "Berg, Anna van".
 */
static char *display_name(const char *performer_name);

char *riv_display_name(const char *performer_name)
{
    char *clean = NULL, *out = NULL;

    /* Scrub before the words are reordered: "Anna 19811218 9876" must not
     * become "9876, Anna 19811218", which no scrub would recognise. */
    if (performer_name == NULL ||
        (clean = pnr_scrub(performer_name, NULL)) == NULL)
        return NULL;
    out = display_name(clean);
    free(clean);
    return out;
}

static char *display_name(const char *performer_name)
{
    const char *w[32];
    size_t wl[32], nw = 0, first = 0, len = 0;
    const char *p = performer_name;
    char *out, *o;

    while (*p != '\0') {
        while (is_space((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        if (nw == sizeof(w) / sizeof(w[0]))
            break; /* absurdly many words: keep the first 32 */
        w[nw] = p;
        while (*p != '\0' && !is_space((unsigned char)*p))
            p++;
        wl[nw] = (size_t)(p - w[nw]);
        len += wl[nw] + 2;
        nw++;
    }
    if (nw == 0)
        return NULL;
    out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    o = out;

    if (strchr(performer_name, ',') != NULL) {
        /* Already "last, first": only the whitespace is normalised. */
        for (size_t i = 0; i < nw; i++) {
            if (i > 0)
                *o++ = ' ';
            memcpy(o, w[i], wl[i]);
            o += wl[i];
        }
        *o = '\0';
        return out;
    }
    /* Lower-case words count as titles only while a first name remains. */
    while (nw - first > 1 && is_title(w[first], wl[first], nw - first > 2))
        first++;
    if (nw - first == 1) {
        memcpy(o, w[first], wl[first]);
        o[wl[first]] = '\0';
        return out;
    }
    memcpy(o, w[nw - 1], wl[nw - 1]);
    o += wl[nw - 1];
    *o++ = ',';
    for (size_t i = first; i < nw - 1; i++) {
        *o++ = ' ';
        memcpy(o, w[i], wl[i]);
        o += wl[i];
    }
    *o = '\0';
    return out;
}

/* --- the adapter ---------------------------------------------------------- */

struct span {
    int32_t first, last;
};

enum riv_phase {
    PH_TYPES, /* GetAllTimeTypes sent */
    PH_DATES, /* GetAvailableDates sent for qtypes[qi] */
    PH_SLOTS  /* GetAvailableTimeslots sent for spans[cur] */
};

/* Most distinct unknown time type ids named in one log line. */
#define UNKNOWN_LOG_MAX 10

/*
 * Unchanged answers (adapter.h, ctx.same). A producer's answers a minute
 * apart are mostly the same bytes (a book changes a few times a day), and
 * parsing is half of a poll's CPU. Each step's request and answer are
 * digested (hash_bytes64 of both, with the answer's status: CRC-32 and
 * Adler-32 were 9 % of a poll). While every step so far digests as the
 * last applied poll's did, nothing is parsed: the time-types and dates steps take their
 * outcome (the kept types, the spans) from the memo of that poll, and the
 * timeslot answers are held, unparsed. A poll that ends so sets
 * *ctx->same and the collector keeps the clinic's slots. The first step
 * that differs parses what was held and the poll goes on as always. An
 * upstream can only make its own clinic keep the slots it served before.
 */
#define MEMO_STEPS 64       /* a longer conversation is always parsed */
#define HOLD_MAX (1u << 20) /* bytes of answers held unparsed per poll */

/* One poll's conversation as digests, and what its parses decided. */
struct riv_memo {
    size_t n, cap;
    uint64_t *dig;      /* per step */
    uint32_t *nsp;      /* per step: spans a dates step made */
    uint64_t kept;      /* the time-types step: qtypes kept, by index */
    struct span *spans; /* every dates step's spans, in step order */
    size_t nspans, spans_cap;
    bool over; /* more than MEMO_STEPS steps: not kept */
};

/* A timeslot answer held unparsed, and the type it was asked for. */
struct held {
    char *body;
    size_t len;
    size_t qi;
};

struct riv_state {
    enum riv_phase phase;
    /* Time type ids to ask for, one conversation each; borrowed from the
     * config. Without a mapping: one entry, booking.time_type_id or NULL. */
    const char **qtypes;
    size_t nq, qi;
    struct span *spans;
    size_t nspans, cur;
    size_t skipped;
    /* Local time types seen that the mapping does not know (owned). */
    char *unknown[UNKNOWN_LOG_MAX];
    size_t nunknown, unknown_more;
    /* Unchanged answers (above). */
    uint64_t req_dig;            /* the request in flight */
    struct riv_memo memo;        /* this poll's, so far */
    const struct riv_memo *last; /* the applied poll's (cache), or NULL */
    bool digest;                 /* the caller keeps slots (ctx->same) */
    bool types_again;            /* the time types taken from the memo */
    bool same;                   /* every step so far as in last */
    size_t last_spans;           /* of last->spans, taken so far */
    struct held *held;
    size_t nheld, held_bytes;
};

/* Per-clinic memory: the unknown types last logged, to log each change
 * once instead of every poll, and the last finished poll's memo. */
struct riv_cache {
    char *unknown_logged; /* "a,b,c" sorted, or NULL */
    struct riv_memo last;
};

static void memo_free(struct riv_memo *m)
{
    free(m->dig);
    free(m->nsp);
    free(m->spans);
    memset(m, 0, sizeof(*m));
}

static void riv_cache_free(void *cache)
{
    struct riv_cache *c = cache;

    if (c == NULL)
        return;
    free(c->unknown_logged);
    memo_free(&c->last);
    free(c);
}

/* The clinic's cache, made on first use; NULL without one. */
static struct riv_cache *cache_of(const struct adapter_ctx *ctx)
{
    if (ctx->cache == NULL)
        return NULL;
    if (*ctx->cache == NULL)
        *ctx->cache = calloc(1, sizeof(struct riv_cache));
    return *ctx->cache;
}

/* --- unchanged answers (struct riv_memo) ----------------------------------- */

/* A request: where it goes and what it says (the window, the type). */
static uint64_t req_digest(const struct adapter_request *r)
{
    uint64_t h = hash_bytes64(r->url, r->url ? strlen(r->url) : 0, 0);

    return hash_bytes64(r->body, r->body ? r->body_len : 0, h);
}

/* One step: the request in flight and its whole answer. */
static uint64_t step_digest(uint64_t req, const struct adapter_response *resp)
{
    return hash_bytes64(resp->body, resp->body ? resp->len : 0,
                        req ^ hash_mix64((uint64_t)resp->http_status));
}

/* Append step digest d; a memo that cannot grow is marked over. */
static void memo_push(struct riv_memo *m, uint64_t d)
{
    if (m->over)
        return;
    if (m->n == MEMO_STEPS) {
        m->over = true;
        return;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        uint64_t *dig = realloc(m->dig, cap * sizeof(*dig));
        uint32_t *nsp;

        if (dig == NULL) {
            m->over = true;
            return;
        }
        m->dig = dig;
        if ((nsp = realloc(m->nsp, cap * sizeof(*nsp))) == NULL) {
            m->over = true;
            return;
        }
        m->nsp = nsp;
        m->cap = cap;
    }
    m->dig[m->n] = d;
    m->nsp[m->n] = 0;
    m->n++;
}

/* The spans the last step (a dates step) made. */
static void memo_spans(struct riv_memo *m, const struct span *sp, size_t k)
{
    if (m->over || m->n == 0)
        return;
    if (m->nspans + k > m->spans_cap) {
        size_t cap = (m->nspans + k) * 2;
        struct span *v = realloc(m->spans, cap * sizeof(*v));

        if (v == NULL) {
            m->over = true;
            return;
        }
        m->spans = v;
        m->spans_cap = cap;
    }
    if (k > 0)
        memcpy(m->spans + m->nspans, sp, k * sizeof(*sp));
    m->nspans += k;
    m->nsp[m->n - 1] = (uint32_t)k;
}

static void held_free(struct riv_state *st)
{
    for (size_t i = 0; i < st->nheld; i++)
        free(st->held[i].body);
    free(st->held);
    st->held = NULL;
    st->nheld = st->held_bytes = 0;
}

/* Keep a copy of a timeslot answer, to parse if a later step differs.
 * -1 when it would pass HOLD_MAX or memory ran out (then parse now). */
static int hold(struct riv_state *st, const struct adapter_response *resp)
{
    struct held *v;
    char *b;

    if (resp->len > HOLD_MAX - st->held_bytes)
        return -1;
    v = realloc(st->held, (st->nheld + 1) * sizeof(*v));
    if (v == NULL)
        return -1;
    st->held = v;
    if ((b = malloc(resp->len + 1)) == NULL)
        return -1;
    memcpy(b, resp->body, resp->len);
    b[resp->len] = '\0';
    v[st->nheld++] = (struct held){ b, resp->len, st->qi };
    st->held_bytes += resp->len;
    return 0;
}

/*
 * Record this step's digest; true while every step of the poll is as in
 * the applied poll's memo (and this answer a 200). Once false, false for
 * the rest of the poll.
 */
static bool step_same(struct riv_state *st, const struct adapter_response *resp)
{
    size_t k = st->memo.n;
    uint64_t d;

    if (!st->digest)
        return false;
    d = step_digest(st->req_dig, resp);
    memo_push(&st->memo, d);
    st->same = st->same && !st->memo.over && resp->http_status == 200 &&
               st->last != NULL && k < st->last->n && st->last->dig[k] == d;
    return st->same;
}

static bool has_mapping(const struct adapter_ctx *ctx)
{
    return ctx->clinic->booking.ntime_types > 0;
}

static const struct conf_time_type *mapped(const struct adapter_ctx *ctx,
                                           const char *id)
{
    const struct conf_booking *b = &ctx->clinic->booking;

    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < b->ntime_types; i++)
        if (strcmp(b->time_types[i].id, id) == 0)
            return &b->time_types[i];
    return NULL;
}

static const struct conf_endpoint *endpoint(const struct adapter_ctx *ctx,
                                            const char *contract)
{
    const struct conf_booking *b = &ctx->clinic->booking;

    for (size_t i = 0; i < b->nendpoints; i++)
        if (b->endpoints[i].contract != NULL &&
            strcmp(b->endpoints[i].contract, contract) == 0)
            return &b->endpoints[i];
    return NULL;
}

/* Remember an unknown local type for the end-of-poll log line. */
static void note_unknown(struct riv_state *st, const char *id)
{
    for (size_t i = 0; i < st->nunknown; i++)
        if (strcmp(st->unknown[i], id) == 0)
            return;
    if (st->nunknown == UNKNOWN_LOG_MAX) {
        st->unknown_more++;
        return;
    }
    st->unknown[st->nunknown] = strdup(id);
    if (st->unknown[st->nunknown] != NULL)
        st->nunknown++;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Log the unknown types of this poll once: not again while the set stays
 * the same (with a cache). Ids come from the producer, so they are shown
 * with anything but [A-Za-z0-9._-] as '?' and cut at 64 bytes.
 */
static void log_unknown(const struct adapter_ctx *ctx, struct riv_state *st)
{
    char line[UNKNOWN_LOG_MAX * 66 + 32];
    struct riv_cache *cache = NULL;
    size_t o = 0;

    /* Time types taken from the memo were not read, so this poll knows
     * only part of the set: the one logged stays. */
    if (st->nunknown == 0 || st->types_again)
        return;
    qsort(st->unknown, st->nunknown, sizeof(st->unknown[0]), cmp_cstr);
    for (size_t i = 0; i < st->nunknown; i++) {
        const char *id = st->unknown[i];

        if (i > 0)
            line[o++] = ',';
        for (size_t k = 0; id[k] != '\0' && k < 64; k++) {
            char c = id[k];

            line[o++] =
                ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
                    ? c
                    : '?';
        }
    }
    line[o] = '\0';
    if (st->unknown_more > 0)
        snprintf(line + o, sizeof(line) - o, ",+%zu", st->unknown_more);
    cache = cache_of(ctx);
    if (cache != NULL && cache->unknown_logged != NULL &&
        strcmp(cache->unknown_logged, line) == 0)
        return; /* said already */
    log_warn("riv_time_types_unmapped", "clinic=%s types=%s action=ignored",
             ctx->clinic->id, line);
    if (cache != NULL) {
        free(cache->unknown_logged);
        cache->unknown_logged = strdup(line);
    }
}

static void fill_query(const struct adapter_ctx *ctx, struct riv_query *q,
                       int32_t first, int32_t last, const char *time_type)
{
    const struct conf_clinic *cl = ctx->clinic;

    memset(q, 0, sizeof(*q));
    q->logical_address = cl->id;
    q->subject_of_care = ctx->region->riv_subject_of_care;
    q->actor_type = ctx->region->riv_actor_type;
    q->first_day = first;
    q->last_day = last;
    q->time_type_id = time_type;
}

/* adapter_strdup_opt() that clears *ok when the copy fails. */
static char *dup_opt(const char *s, bool *ok)
{
    char *d = adapter_strdup_opt(s);

    if (s != NULL && d == NULL)
        *ok = false;
    return d;
}

static enum adapter_status make_request(const struct adapter_ctx *ctx,
                                        enum riv_contract c, int32_t first,
                                        int32_t last, const char *time_type,
                                        struct adapter_request *req,
                                        struct sf_error *err)
{
    const char *name = riv_contract_name(c);
    const struct conf_booking *b = &ctx->clinic->booking;
    const struct conf_endpoint *ep = endpoint(ctx, name);
    const char *base = b->url;
    /* A trailing slash on the base would double up. */
    size_t blen = adapter_url_base_len(base);
    struct riv_query q;
    bool ok = true;

    fill_query(ctx, &q, first, last, time_type);
    memset(req, 0, sizeof(*req));
    req->body = riv_build_envelope(c, &q, err);
    if (req->body == NULL)
        return ADAPTER_ERROR;
    req->body_len = strlen(req->body);
    if (ep != NULL && ep->url != NULL)
        req->url = strdup(ep->url);
    else
        req->url = adapter_strdupf("%.*s/crm/scheduling/%s/1/rivtabp21",
                                   (int)blen, base, name);
    req->content_type = strdup(RIV_CONTENT_TYPE);
    if (ep != NULL && ep->soap_action != NULL)
        req->soap_action = strdup(ep->soap_action);
    else
        req->soap_action =
            adapter_strdupf(NS_BASE "%sResponder:1:%s", name, name);
    req->label = strdup(name);
    req->tls_cert = dup_opt(b->tls_cert, &ok);
    req->tls_key = dup_opt(b->tls_key, &ok);
    req->tls_ca = dup_opt(b->tls_ca, &ok);
    if (!ok || req->url == NULL || req->content_type == NULL ||
        req->soap_action == NULL || req->label == NULL) {
        adapter_request_clear(req);
        sf_error_set(err, SF_ERR_NOMEM, "%s: out of memory", name);
        return ADAPTER_ERROR;
    }
    return ADAPTER_MORE;
}

/* GetAvailableDates for the current time type over the whole window. */
static enum adapter_status ask_dates(const struct adapter_ctx *ctx,
                                     struct riv_state *st,
                                     struct adapter_request *req,
                                     struct sf_error *err)
{
    st->phase = PH_DATES;
    free(st->spans);
    st->spans = NULL;
    st->nspans = st->cur = 0;
    return make_request(ctx, RIV_GET_AVAILABLE_DATES, ctx->first_day,
                        ctx->last_day, st->qtypes[st->qi], req, err);
}

static enum adapter_status riv_first(const struct adapter_ctx *ctx,
                                     struct riv_state *st,
                                     struct adapter_request *first,
                                     struct sf_error *err);

static enum adapter_status riv_begin(const struct adapter_ctx *ctx,
                                     void **state,
                                     struct adapter_request *first,
                                     struct sf_error *err)
{
    const struct conf_booking *b;
    struct riv_state *st;
    enum adapter_status rc;

    *state = NULL;
    if (adapter_begin_check(ctx, "rivta", err) != 0)
        return ADAPTER_ERROR;
    if (ctx->region == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "rivta: bad arguments");
        return ADAPTER_ERROR;
    }
    b = &ctx->clinic->booking;
    if (ctx->region->riv_subject_of_care == NULL ||
        ctx->region->riv_subject_of_care[0] == '\0') {
        sf_error_set(err, SF_ERR_CONFIG,
                     "rivta: riv.subject_of_care (query identity) missing");
        return ADAPTER_ERROR;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL ||
        (st->qtypes = calloc(b->ntime_types > 0 ? b->ntime_types : 1,
                             sizeof(*st->qtypes))) == NULL) {
        free(st);
        sf_error_set(err, SF_ERR_NOMEM, "rivta: out of memory");
        return ADAPTER_ERROR;
    }
    *state = st;
    if (ctx->same != NULL && ctx->cache != NULL) {
        const struct riv_cache *cache = *ctx->cache;

        st->digest = true;
        /* Only the poll whose slots the clinic shows may be matched. */
        if (ctx->last_applied && cache != NULL && cache->last.n > 0 &&
            !cache->last.over) {
            st->last = &cache->last;
            st->same = true;
        }
    }
    rc = riv_first(ctx, st, first, err);
    if (rc == ADAPTER_MORE)
        st->req_dig = req_digest(first);
    return rc;
}

/* riv_begin: the first request, GetAllTimeTypes or GetAvailableDates. */
static enum adapter_status riv_first(const struct adapter_ctx *ctx,
                                     struct riv_state *st,
                                     struct adapter_request *first,
                                     struct sf_error *err)
{
    const struct conf_booking *b = &ctx->clinic->booking;

    if (!has_mapping(ctx)) {
        st->qtypes[0] = b->time_type_id;
        st->nq = 1;
        return ask_dates(ctx, st, first, err);
    }
    /* Only new-visit types are asked for: they make the promise. */
    for (size_t i = 0; i < b->ntime_types; i++)
        if (b->time_types[i].new_visit)
            st->qtypes[st->nq++] = b->time_types[i].id;
    if (st->nq == 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "rivta: booking.time_types has no new_visit type");
        return ADAPTER_ERROR;
    }
    if (b->ntime_types > 1 || b->discover_time_types) {
        st->phase = PH_TYPES;
        return make_request(ctx, RIV_GET_ALL_TIME_TYPES, ctx->first_day,
                            ctx->last_day, NULL, first, err);
    }
    return ask_dates(ctx, st, first, err);
}

/*
 * Classify an HTTP answer that is not a plain 200 success. A SOAP Fault in
 * the body (HTTP 500, or 200 from sloppy stacks) wins; a refused body stays
 * refused; anything else is an HTTP error naming status and contract.
 */
static bool http_ok(const struct adapter_response *resp, enum riv_contract c,
                    struct sf_error *err)
{
    struct sf_error perr;
    int32_t day;
    size_t n = 1;
    struct avail_slots tmp;
    struct riv_time_types tts = { NULL, 0 };

    if (resp->http_status == 200)
        return true;
    sf_error_clear(&perr);
    if (c == RIV_GET_AVAILABLE_DATES) {
        riv_parse_dates(resp->body, resp->len, &day, &n, &perr);
    } else if (c == RIV_GET_ALL_TIME_TYPES) {
        riv_parse_time_types(resp->body, resp->len, &tts, &perr);
        riv_time_types_clear(&tts);
    } else {
        avail_slots_init(&tmp);
        riv_parse_timeslots(resp->body, resp->len, &tmp, NULL, &perr);
        avail_slots_clear(&tmp);
    }
    if (perr.code == SF_ERR_FAULT || perr.code == SF_ERR_NOT_CONNECTED ||
        perr.code == SF_ERR_HOSTILE) {
        *err = perr;
        return false;
    }
    sf_error_set(err, SF_ERR_HTTP, "%s: HTTP %ld", riv_contract_name(c),
                 resp->http_status);
    return false;
}

/* Spans of at most SPAN_DAYS dates, each from an available date to the last
 * available date within SPAN_DAYS of it. days is sorted and unique. */
static size_t make_spans(const int32_t *days, size_t n, struct span *out)
{
    size_t ns = 0, i = 0;

    while (i < n) {
        struct span sp = { days[i], days[i] };

        while (i < n && days[i] - sp.first < SPAN_DAYS)
            sp.last = days[i++];
        out[ns++] = sp;
    }
    return ns;
}

/*
 * Map one slot through booking.time_types. A slot without timeTypeID is
 * of the type asked for (asked). Returns false when the slot must go
 * (unmapped type, noted for the log) or memory ran out (*nomem).
 */
static bool map_slot(const struct adapter_ctx *ctx, struct riv_state *st,
                     struct avail_slots *slots, struct avail_slot *sl,
                     const char *asked, bool *nomem)
{
    const struct conf_time_type *t;

    /* The slot's strings are the list's (interned): changed through it. */
    if (sl->service_id == NULL && asked != NULL &&
        avail_slots_set_str(slots, &sl->service_id, asked) != 0) {
        *nomem = true;
        return false;
    }
    t = mapped(ctx, sl->service_id);
    if (t == NULL) {
        if (sl->service_id != NULL)
            note_unknown(st, sl->service_id);
        return false;
    }
    /* The published name is ours, not the producer's local wording. */
    if (avail_slots_set_str(slots, &sl->service, t->service) != 0 ||
        avail_slots_set_str(slots, &sl->service_id, t->id) != 0) {
        *nomem = true;
        return false;
    }
    sl->follow_up = !t->new_visit;
    return true;
}

/* Keep slots [n0, n) whose local start date is in the window and whose
 * time type matches the clinic's: with a mapping, a mapped type (renamed,
 * follow_up set for non-new-visit types); without, booking.time_type_id
 * when both are known. Returns -1 when memory ran out. */
static int filter_slots(const struct adapter_ctx *ctx, struct riv_state *st,
                        struct avail_slots *slots, size_t n0)
{
    const char *want = ctx->clinic->booking.time_type_id;
    const char *asked = st->qtypes[st->qi];
    bool mapping = has_mapping(ctx), nomem = false;
    size_t w = n0;

    for (size_t i = n0; i < slots->n; i++) {
        struct avail_slot *sl = &slots->v[i];
        int32_t day = clock_local_day(sl->start);
        bool keep = day >= ctx->first_day && day <= ctx->last_day;

        if (keep && mapping)
            keep = map_slot(ctx, st, slots, sl, asked, &nomem);
        else if (keep && want != NULL && want[0] != '\0' &&
                 sl->service_id != NULL && strcmp(sl->service_id, want) != 0)
            keep = false;
        if (keep)
            slots->v[w++] = *sl; /* dropped ones: strings are the pool's */
    }
    slots->n = w;
    return nomem ? -1 : 0;
}

/* GetAllTimeTypes answered: keep the new-visit types the unit offers. */
static enum adapter_status
on_time_types(const struct adapter_ctx *ctx, struct riv_state *st,
              const struct adapter_response *resp, bool same,
              struct adapter_request *next, struct sf_error *err)
{
    struct riv_time_types tts = { NULL, 0 };
    uint64_t kept = 0; /* by index into qtypes (<= CONF_TIME_TYPES_MAX) */
    size_t keep = 0;

    if (same) {
        kept = st->last->kept; /* the same answer kept the same types */
        st->types_again = true;
    } else {
        if (!http_ok(resp, RIV_GET_ALL_TIME_TYPES, err) ||
            riv_parse_time_types(resp->body, resp->len, &tts, err) < 0)
            return ADAPTER_ERROR;
        for (size_t i = 0; i < tts.n; i++)
            if (mapped(ctx, tts.v[i].id) == NULL)
                note_unknown(st, tts.v[i].id);
        for (size_t q = 0; q < st->nq && q < 64; q++)
            for (size_t i = 0; i < tts.n; i++)
                if (strcmp(tts.v[i].id, st->qtypes[q]) == 0) {
                    kept |= (uint64_t)1 << q;
                    break;
                }
        riv_time_types_clear(&tts);
    }
    st->memo.kept = kept;
    for (size_t q = 0; q < st->nq && q < 64; q++)
        if (kept & ((uint64_t)1 << q))
            st->qtypes[keep++] = st->qtypes[q];
    st->nq = keep;
    st->qi = 0;
    if (keep == 0) {
        /* The unit offers none of our new-visit types now: no time. */
        log_unknown(ctx, st);
        return ADAPTER_DONE;
    }
    return ask_dates(ctx, st, next, err);
}

/* Next time type's conversation, or the end of the poll. */
static enum adapter_status next_type(const struct adapter_ctx *ctx,
                                     struct riv_state *st,
                                     struct adapter_request *next,
                                     struct sf_error *err)
{
    if (++st->qi < st->nq)
        return ask_dates(ctx, st, next, err);
    if (st->skipped > 0)
        log_warn("riv_slots_skipped", "clinic=%s skipped=%zu reason=%s",
                 ctx->clinic->id, st->skipped, "bad or missing times");
    log_unknown(ctx, st);
    return ADAPTER_DONE;
}

/* GetAvailableTimeslots for spans[cur] of the current time type. */
static enum adapter_status ask_span(const struct adapter_ctx *ctx,
                                    struct riv_state *st,
                                    struct adapter_request *next,
                                    struct sf_error *err)
{
    return make_request(ctx, RIV_GET_AVAILABLE_TIMESLOTS,
                        st->spans[st->cur].first, st->spans[st->cur].last,
                        st->qtypes[st->qi], next, err);
}

/* The same dates answer as in the applied poll: its spans again. */
static enum adapter_status dates_again(const struct adapter_ctx *ctx,
                                       struct riv_state *st,
                                       struct adapter_request *next,
                                       struct sf_error *err)
{
    size_t k = st->last->nsp[st->memo.n - 1];

    if (st->last_spans + k > st->last->nspans) {
        sf_error_set(err, SF_ERR_INTERNAL, "rivta: memo out of step");
        return ADAPTER_ERROR;
    }
    memo_spans(&st->memo, st->last->spans + st->last_spans, k);
    if (k == 0)
        return next_type(ctx, st, next, err);
    if ((st->spans = malloc(k * sizeof(*st->spans))) == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "rivta: out of memory");
        return ADAPTER_ERROR;
    }
    memcpy(st->spans, st->last->spans + st->last_spans, k * sizeof(*st->spans));
    st->last_spans += k;
    st->nspans = k;
    st->phase = PH_SLOTS;
    st->cur = 0;
    return ask_span(ctx, st, next, err);
}

static enum adapter_status on_dates(const struct adapter_ctx *ctx,
                                    struct riv_state *st,
                                    const struct adapter_response *resp,
                                    bool same, struct adapter_request *next,
                                    struct sf_error *err)
{
    int32_t span = ctx->last_day - ctx->first_day + 1;
    int32_t *days;
    size_t nd, keep = 0;

    if (same)
        return dates_again(ctx, st, next, err);
    if (!http_ok(resp, RIV_GET_AVAILABLE_DATES, err))
        return ADAPTER_ERROR;
    /* Room for every date of the window plus strays outside it. */
    nd = (size_t)span + 64;
    days = calloc(nd, sizeof(*days));
    if (days == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "rivta: out of memory");
        return ADAPTER_ERROR;
    }
    if (riv_parse_dates(resp->body, resp->len, days, &nd, err) < 0) {
        free(days);
        return ADAPTER_ERROR;
    }
    for (size_t i = 0; i < nd; i++)
        if (days[i] >= ctx->first_day && days[i] <= ctx->last_day)
            days[keep++] = days[i];
    if (keep == 0) {
        free(days); /* the memo's count of spans stays 0 */
        return next_type(ctx, st, next, err);
    }
    st->spans = calloc(keep, sizeof(*st->spans));
    if (st->spans == NULL) {
        free(days);
        sf_error_set(err, SF_ERR_NOMEM, "rivta: out of memory");
        return ADAPTER_ERROR;
    }
    st->nspans = make_spans(days, keep, st->spans);
    memo_spans(&st->memo, st->spans, st->nspans);
    free(days);
    st->phase = PH_SLOTS;
    st->cur = 0;
    return ask_span(ctx, st, next, err);
}

/* Parse one timeslot answer (asked for qtypes[st->qi]) into slots. */
static int take_slots(const struct adapter_ctx *ctx, struct riv_state *st,
                      const char *body, size_t len, struct avail_slots *slots,
                      struct sf_error *err)
{
    size_t n0 = slots->n;

    if (riv_parse_timeslots(body, len, slots, &st->skipped, err) < 0)
        return -1;
    if (filter_slots(ctx, st, slots, n0) < 0) {
        sf_error_set(err, SF_ERR_NOMEM, "rivta: out of memory");
        return -1;
    }
    return 0;
}

/* A step differed after answers were held: parse them now, in order. */
static int catch_up(const struct adapter_ctx *ctx, struct riv_state *st,
                    struct avail_slots *slots, struct sf_error *err)
{
    size_t qi = st->qi;
    int rc = 0;

    st->same = false;
    for (size_t i = 0; i < st->nheld && rc == 0; i++) {
        st->qi = st->held[i].qi;
        rc = take_slots(ctx, st, st->held[i].body, st->held[i].len, slots, err);
    }
    st->qi = qi;
    held_free(st);
    return rc;
}

/* The poll is complete: unchanged, or parsed. Either way this poll's
 * conversation replaces the memo (one that is not whole, none). */
static enum adapter_status riv_done(const struct adapter_ctx *ctx,
                                    struct riv_state *st,
                                    struct avail_slots *slots,
                                    struct sf_error *err)
{
    struct riv_cache *cache;

    if (st->same && st->memo.n == st->last->n) {
        held_free(st);
        *ctx->same = true;
    } else if (st->nheld > 0 && catch_up(ctx, st, slots, err) < 0) {
        return ADAPTER_ERROR;
    }
    st->last = NULL; /* it goes now */
    if (st->digest && (cache = cache_of(ctx)) != NULL) {
        memo_free(&cache->last);
        if (!st->memo.over) {
            cache->last = st->memo;
            memset(&st->memo, 0, sizeof(st->memo));
        }
    }
    return ADAPTER_DONE;
}

static enum adapter_status step_in(const struct adapter_ctx *ctx,
                                   struct riv_state *st,
                                   const struct adapter_response *resp,
                                   bool same, struct avail_slots *slots,
                                   struct adapter_request *next,
                                   struct sf_error *err)
{
    if (st->phase == PH_TYPES)
        return on_time_types(ctx, st, resp, same, next, err);
    if (st->phase == PH_DATES)
        return on_dates(ctx, st, resp, same, next, err);
    if (same && hold(st, resp) != 0 && catch_up(ctx, st, slots, err) < 0)
        return ADAPTER_ERROR; /* too much to hold: parsed from here on */
    if (!st->same) {
        if (!http_ok(resp, RIV_GET_AVAILABLE_TIMESLOTS, err) ||
            take_slots(ctx, st, resp->body, resp->len, slots, err) < 0)
            return ADAPTER_ERROR;
    }
    if (++st->cur < st->nspans)
        return ask_span(ctx, st, next, err);
    return next_type(ctx, st, next, err);
}

static enum adapter_status riv_step(const struct adapter_ctx *ctx, void *state,
                                    const struct adapter_response *resp,
                                    struct avail_slots *slots,
                                    struct adapter_request *next,
                                    struct sf_error *err)
{
    struct riv_state *st = state;
    enum adapter_status rc;
    bool same;

    if (st == NULL || resp == NULL || slots == NULL || next == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "rivta: bad arguments");
        return ADAPTER_ERROR;
    }
    /* Answers are held only while every step was the same. */
    same = step_same(st, resp);
    if (!same && st->nheld > 0 && catch_up(ctx, st, slots, err) < 0)
        return ADAPTER_ERROR;
    rc = step_in(ctx, st, resp, same, slots, next, err);
    if (rc == ADAPTER_MORE)
        st->req_dig = req_digest(next);
    else if (rc == ADAPTER_DONE)
        rc = riv_done(ctx, st, slots, err);
    return rc;
}

static void riv_end(void *state)
{
    struct riv_state *st = state;

    if (st == NULL)
        return;
    memo_free(&st->memo);
    held_free(st);
    for (size_t i = 0; i < st->nunknown; i++)
        free(st->unknown[i]);
    free(st->qtypes);
    free(st->spans);
    free(st);
}

/* --- configuration: the booking keys only rivta-scheduling reads ---------- */

/* The contracts booking.endpoints may override (riv_contract_name). */
static const char *const riv_conf_contracts[] = { "GetAvailableDates",
                                                  "GetAvailableTimeslots",
                                                  "GetAllTimeTypes", NULL };

/* booking.time_types: { "<local id>": {service, new_visit}, ... } */
static void riv_conf_time_types(struct confcheck *cx, const cJSON *obj,
                                const char *base, struct conf_booking *b)
{
    static const char *const keys[] = { "service", "new_visit", NULL };
    static const int required[] = { 0, 1, -1 };
    char path[CONFCHECK_PATH], epath[CONFCHECK_PATH];
    const cJSON *it, *m;
    size_t n = 0, i, k, errs0 = cx->errs->n;
    bool any_new = false;

    if (!confcheck_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj)
        n++;
    if (n == 0) {
        confcheck_err(cx, base, "must map at least one time type");
        return;
    }
    if (n > CONF_TIME_TYPES_MAX) {
        confcheck_err(cx, base, "more than %d time types", CONF_TIME_TYPES_MAX);
        return;
    }
    b->time_types = calloc(n, sizeof(*b->time_types));
    if (b->time_types == NULL) {
        cx->oom = true;
        return;
    }
    i = 0;
    cJSON_ArrayForEach(it, obj) {
        struct conf_time_type *t = &b->time_types[i];
        const char *id = it->string != NULL ? it->string : "";
        unsigned seen = 0;
        bool dup = false, bad = false;

        confcheck_path_key(epath, sizeof(epath), base, id);
        for (k = 0; id[k] != '\0'; k++)
            if ((unsigned char)id[k] < 0x20 || id[k] == 0x7f)
                bad = true;
        if (id[0] == '\0' || k > 256 || bad || !sf_utf8_valid(id, k)) {
            confcheck_err(cx, epath,
                          "a time type id must be 1..256 bytes of "
                          "UTF-8 text without control characters");
            continue;
        }
        for (k = 0; k < i; k++)
            if (strcmp(b->time_types[k].id, id) == 0)
                dup = true;
        if (dup) {
            confcheck_err(cx, epath, "duplicate time type id");
            continue;
        }
        if (!confcheck_object(cx, it, epath))
            continue;
        confcheck_store(cx, &t->id, id);
        cJSON_ArrayForEach(m, it) {
            switch (confcheck_member(cx, m, epath, keys, &seen, path,
                                     sizeof(path))) {
            case 0:
                confcheck_get_str(cx, m, path, true, &t->service);
                break;
            case 1:
                if (!cJSON_IsBool(m)) {
                    confcheck_err(cx, path, "expected true or false, got %s",
                                  confcheck_type_name(m));
                    break;
                }
                t->new_visit = cJSON_IsTrue(m);
                any_new = any_new || t->new_visit;
                break;
            default:
                break;
            }
        }
        confcheck_required(cx, epath, keys, required, seen);
        if (t->id != NULL)
            i++;
    }
    b->ntime_types = i;
    /* Only about a mapping that is otherwise right: an entry with an
     * error may be the one meant to be the new visit. */
    if (cx->errs->n == errs0 && !any_new)
        confcheck_err(cx, base,
                      "no time type has \"new_visit\": true (nothing "
                      "would count for the care guarantee)");
}

/* booking.endpoints: { "<contract>": {url, soap_action}, ... } */
static void riv_conf_endpoints(struct confcheck *cx, const cJSON *obj,
                               const char *base, struct conf_booking *b)
{
    static const char *const keys[] = { "url", "soap_action", NULL };
    char path[CONFCHECK_PATH], epath[CONFCHECK_PATH];
    const cJSON *it, *m;
    unsigned seen_c = 0;
    size_t n = 0;
    int ci;

    if (!confcheck_object(cx, obj, base))
        return;
    b->endpoints =
        calloc(sizeof(riv_conf_contracts) / sizeof(riv_conf_contracts[0]),
               sizeof(*b->endpoints));
    if (b->endpoints == NULL) {
        cx->oom = true;
        return;
    }
    cJSON_ArrayForEach(it, obj) {
        struct conf_endpoint *e = &b->endpoints[n];
        unsigned seen = 0;
        const char *s;

        ci = confcheck_member(cx, it, base, riv_conf_contracts, &seen_c, epath,
                              sizeof(epath));
        if (ci < 0 || !confcheck_object(cx, it, epath))
            continue;
        cJSON_ArrayForEach(m, it) {
            switch (confcheck_member(cx, m, epath, keys, &seen, path,
                                     sizeof(path))) {
            case 0:
                confcheck_get_url(cx, m, path, &e->url);
                break;
            case 1:
                s = confcheck_str(cx, m, path, true);
                if (s == NULL)
                    break;
                /* Sent as SOAPAction: "<value>": a quote would end it. */
                if (strchr(s, '"') != NULL) {
                    confcheck_err(cx, path, "must not contain '\"'");
                    break;
                }
                confcheck_store(cx, &e->soap_action, s);
                break;
            default:
                break;
            }
        }
        if (seen == 0)
            confcheck_err(cx, epath, "expected \"url\" and/or \"soap_action\"");
        confcheck_store(cx, &e->contract, riv_conf_contracts[ci]);
        n++;
    }
    b->nendpoints = n;
}

/* booking.tls: {cert, key, ca}, each a readable PEM file. */
static void riv_conf_tls(struct confcheck *cx, const cJSON *obj,
                         const char *base, struct conf_booking *b)
{
    static const char *const keys[] = { "cert", "key", "ca", NULL };
    char path[CONFCHECK_PATH];
    const cJSON *it;
    unsigned seen = 0;

    if (!confcheck_object(cx, obj, base))
        return;
    cJSON_ArrayForEach(it, obj) {
        switch (
            confcheck_member(cx, it, base, keys, &seen, path, sizeof(path))) {
        case 0:
            confcheck_get_readable_file(cx, it, path, &b->tls_cert);
            break;
        case 1:
            confcheck_get_readable_file(cx, it, path, &b->tls_key);
            break;
        case 2:
            confcheck_get_readable_file(cx, it, path, &b->tls_ca);
            break;
        default:
            break;
        }
    }
    if (seen == 0)
        confcheck_err(cx, base,
                      "expected at least one of \"cert\", \"key\", \"ca\"");
    /* A key alone authenticates nothing; a cert alone may hold its key. */
    if ((seen & 2u) && !(seen & 1u))
        confcheck_err(cx, base, "\"key\" needs \"cert\"");
}

/* The keys below take null as "absent", like every optional key. */
static void conf_time_types(struct confcheck *cx, const cJSON *v,
                            const char *path, struct conf_booking *b)
{
    if (!cJSON_IsNull(v))
        riv_conf_time_types(cx, v, path, b);
}

static void conf_discover(struct confcheck *cx, const cJSON *v,
                          const char *path, struct conf_booking *b)
{
    confcheck_get_bool(cx, v, path, &b->discover_time_types);
}

static void conf_endpoints(struct confcheck *cx, const cJSON *v,
                           const char *path, struct conf_booking *b)
{
    if (!cJSON_IsNull(v))
        riv_conf_endpoints(cx, v, path, b);
}

static void conf_tls(struct confcheck *cx, const cJSON *v, const char *path,
                     struct conf_booking *b)
{
    if (!cJSON_IsNull(v))
        riv_conf_tls(cx, v, path, b);
}

static const struct adapter_conf_key riv_conf_keys[] = {
    { "time_types", conf_time_types, false },
    { "discover_time_types", conf_discover, false },
    { "endpoints", conf_endpoints, false },
    { "tls", conf_tls, false },
    { NULL, NULL, false }
};

static void riv_conf_check(struct confcheck *cx, const char *path,
                           unsigned seen, const struct conf_booking *b)
{
    (void)seen;
    /* One way to choose time types: the mapping names them all. */
    if (b->ntime_types > 0 && b->time_type_id != NULL)
        confcheck_err(cx, path,
                      "\"time_type_id\" and \"time_types\" "
                      "exclude each other (list the type in time_types "
                      "instead)");
}

static bool riv_conf_same(const struct conf_booking *a,
                          const struct conf_booking *b)
{
    size_t i;

    if (a->discover_time_types != b->discover_time_types ||
        !adapter_str_same(a->tls_cert, b->tls_cert) ||
        !adapter_str_same(a->tls_key, b->tls_key) ||
        !adapter_str_same(a->tls_ca, b->tls_ca) ||
        a->ntime_types != b->ntime_types || a->nendpoints != b->nendpoints)
        return false;
    for (i = 0; i < a->ntime_types; i++)
        if (!adapter_str_same(a->time_types[i].id, b->time_types[i].id) ||
            !adapter_str_same(a->time_types[i].service,
                              b->time_types[i].service) ||
            a->time_types[i].new_visit != b->time_types[i].new_visit)
            return false;
    for (i = 0; i < a->nendpoints; i++)
        if (!adapter_str_same(a->endpoints[i].contract,
                              b->endpoints[i].contract) ||
            !adapter_str_same(a->endpoints[i].url, b->endpoints[i].url) ||
            !adapter_str_same(a->endpoints[i].soap_action,
                              b->endpoints[i].soap_action))
            return false;
    return true;
}

const struct adapter adapter_rivta = {
    .name = "rivta-scheduling",
    .conf_keys = riv_conf_keys,
    .conf_check = riv_conf_check,
    .conf_same = riv_conf_same,
    .begin = riv_begin,
    .step = riv_step,
    .end = riv_end,
    .cache_free = riv_cache_free,
};
