/*
 * page.c - the patient page "/" rendered on the server (page.h).
 *
 * The clinic list is the API's: the page's parameters become
 * /v1/availability filters (kommun -> municipality, nara -> near), the
 * filtered document comes from api_filter_build (or the snapshot's own
 * all.json), and the page reads it back with cJSON. So the filter, the
 * distances and the near order are exactly the API's; only the two
 * sorts the script also makes without a place (by name; earliest time
 * first in the guarantee entry) are done here. A page is rendered once
 * per snapshot and variant, then served from page_cache like the feed.
 */
#include "slotfeed/page.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "slotfeed/clock.h"

/* One rendering. */
struct pctx {
    struct sbuf *b;
    const struct page_query *q;
    const struct feed_snapshot *s;
    bool en;
    int gdays;
    bool working;
    const char *where; /* kommun shown, or NULL */
    const char *place; /* near place (table's spelling), or NULL */
    enum {
        ALERT_NONE,
        ALERT_KOMMUN,
        ALERT_NARA,
        ALERT_NO_GEO
    } alert;
    const char *deadline; /* guarantee deadline date, or NULL */
    const char *generated;
};

#define TR(c, sv_, en_) ((c)->en ? (en_) : (sv_))

static const char *const MONTHS_SV[12] = { "januari", "februari", "mars",
                                           "april",   "maj",      "juni",
                                           "juli",    "augusti",  "september",
                                           "oktober", "november", "december" };
static const char *const MONTHS_EN[12] = { "January", "February", "March",
                                           "April",   "May",      "June",
                                           "July",    "August",   "September",
                                           "October", "November", "December" };
/* 1177 writes short months as below (MARS, MAJ, JUNI, JULI in full). */
static const char *const MSHORT_SV[12] = { "jan", "feb",  "mars", "apr",
                                           "maj", "juni", "juli", "aug",
                                           "sep", "okt",  "nov",  "dec" };
static const char *const MSHORT_EN[12] = { "Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec" };
/* Monday first. */
static const char *const WD_SV[7] = { "måndag", "tisdag", "onsdag", "torsdag",
                                      "fredag", "lördag", "söndag" };
static const char *const WDS_SV[7] = { "mån", "tis", "ons", "tor",
                                       "fre", "lör", "sön" };
static const char *const WDS_EN[7] = { "Mon", "Tue", "Wed", "Thu",
                                       "Fri", "Sat", "Sun" };
static const char *const WD_EN[7] = { "Monday",   "Tuesday", "Wednesday",
                                      "Thursday", "Friday",  "Saturday",
                                      "Sunday" };

/* --- text helpers ---------------------------------------------------------- */

/* Only absolute http(s) URLs without blanks or controls become links. */
static const char *safe_url(const char *u)
{
    const char *p;

    if (u == NULL || (strncasecmp(u, "https://", 8) != 0 &&
                      strncasecmp(u, "http://", 7) != 0))
        return NULL;
    for (p = u; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return NULL;
    return u;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring
                                                          : NULL;
}

/* Date part of "YYYY-MM-DD..." -> y, m (1-12), d and weekday (0 = Mon). */
static bool parse_date(const char *s, int *y, int *m, int *d, int *wd)
{
    if (s == NULL || strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return false;
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
    if (*m < 1 || *m > 12 || *d < 1 || *d > 31)
        return false;
    /* 1970-01-01 (day 0) was a Thursday. */
    *wd = (int)(((clock_days_from_civil(*y, *m, *d) % 7) + 7 + 3) % 7);
    return true;
}

/* Month m (1-12) by name; the modulo keeps the index visibly in range. */
static const char *month(const struct pctx *c, int m, bool shrt)
{
    size_t i = (size_t)(m - 1) % 12;

    return shrt ? TR(c, MSHORT_SV, MSHORT_EN)[i]
                : TR(c, MONTHS_SV, MONTHS_EN)[i];
}

/* "31 mars" / "31 Mar". */
static void short_date(const struct pctx *c, const char *s)
{
    int y, m, d, wd;

    if (parse_date(s, &y, &m, &d, &wd))
        sbuf_printf(c->b, "%d %s", d, month(c, m, true));
}

/* "tisdag 31 mars" / "Tuesday 31 March". */
static void weekday_date(const struct pctx *c, const char *s)
{
    int y, m, d, wd;

    if (parse_date(s, &y, &m, &d, &wd))
        sbuf_printf(c->b, "%s %d %s", TR(c, WD_SV, WD_EN)[(size_t)wd % 7], d,
                    month(c, m, false));
}

/* "tis 31 mars kl. 10:00" / "Tue 31 March, 10:00": the instant carries
 * its local offset, so its own digits are the local time. */
static void instant_text(const struct pctx *c, const char *s)
{
    int y, m, d, wd;

    if (!parse_date(s, &y, &m, &d, &wd) || strlen(s) < 16 || s[10] != 'T')
        return;
    sbuf_printf(c->b, "%s %d %s%s%.5s", TR(c, WDS_SV, WDS_EN)[(size_t)wd % 7],
                d, month(c, m, false), TR(c, " kl. ", ", "), s + 11);
}

/* "3 dagar", "1 dag", "3 vardagar" / "3 days", "3 working days". */
static void span_text(const struct pctx *c)
{
    int n = c->gdays;

    if (c->en)
        sbuf_printf(c->b, "%d %sday%s", n, c->working ? "working " : "",
                    n == 1 ? "" : "s");
    else
        sbuf_printf(c->b, "%d %s%s", n, c->working ? "vardag" : "dag",
                    n == 1 ? "" : "ar");
}

/* " i Arvika" / " in Arvika" when a municipality is chosen. */
static void where_text(const struct pctx *c)
{
    if (c->where == NULL)
        return;
    sbuf_str(c->b, TR(c, " i ", " in "));
    sbuf_html(c->b, c->where);
}

/* --- order ------------------------------------------------------------------ */

/* A collation close enough to Swedish for clinic names: letters ignore
 * case, and Å Ä Ö (å ä ö) sort after Z in that order, as sv does. */
static int coll_next(const unsigned char **p)
{
    int ch = **p;

    if (ch == 0)
        return 0;
    (*p)++;
    if (ch == 0xC3 && **p != 0) {
        int x = *(*p)++;
        switch (x) {
        case 0x85:
        case 0xA5:
            return 'z' + 1;
        case 0x84:
        case 0xA4:
        case 0x86:
        case 0xA6:
            return 'z' + 2;
        case 0x96:
        case 0xB6:
        case 0x98:
        case 0xB8:
            return 'z' + 3;
        default:
            return 0x100 + x;
        }
    }
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static int name_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)(a ? a : "");
    const unsigned char *y = (const unsigned char *)(b ? b : "");
    int cx, cy;

    do {
        cx = coll_next(&x);
        cy = coll_next(&y);
    } while (cx == cy && cx != 0);
    return cx - cy;
}

struct row {
    const cJSON *c;
    const char *name;
    int64_t first; /* first free instant, INT64_MAX = none */
};

static int by_name(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    return name_cmp(x->name, y->name);
}

static int by_first(const void *a, const void *b)
{
    const struct row *x = a, *y = b;

    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return by_name(a, b);
}

int page_name_cmp(const char *a, const char *b)
{
    return name_cmp(a, b);
}

const char *page_safe_url(const char *u)
{
    return safe_url(u);
}

void page_instant(struct sbuf *b, enum page_lang lang, const char *instant)
{
    struct pctx c = { .b = b, .en = lang == PAGE_EN };

    instant_text(&c, instant);
}

void page_weekday_date(struct sbuf *b, enum page_lang lang, const char *date)
{
    struct pctx c = { .b = b, .en = lang == PAGE_EN };

    weekday_date(&c, date);
}

/* --- cards ------------------------------------------------------------------ */

static void phone_link(const struct pctx *c, const char *phone)
{
    char tel[40];
    size_t n = 0;
    const char *p;

    for (p = phone; *p != '\0' && n + 1 < sizeof(tel); p++)
        if ((*p >= '0' && *p <= '9') || *p == '+')
            tel[n++] = *p;
    tel[n] = '\0';
    if (n == 0) {
        sbuf_html(c->b, phone);
        return;
    }
    sbuf_printf(c->b, "<a class=\"tel\" href=\"tel:%s\">", tel);
    sbuf_html(c->b, phone);
    sbuf_str(c->b, "</a>");
}

/* Every card ends with a way to reach the clinic: phone, website,
 * address; "contact the clinic" only when the feed has none of them. */
static void contact_block(const struct pctx *c, const cJSON *o, bool none)
{
    const char *phone = jstr(o, "phone"), *addr = jstr(o, "address");
    const char *web = safe_url(jstr(o, "website"));

    if (phone != NULL) {
        sbuf_str(c->b, "<p class=\"contact\">");
        sbuf_str(c->b, none ? TR(c, "Ingen webbokning — ring ",
                                 "No web booking — call ")
                            : TR(c, "Telefon ", "Phone "));
        phone_link(c, phone);
        sbuf_str(c->b, "</p>");
    } else if (none) {
        sbuf_printf(c->b, "<p class=\"contact\">%s</p>",
                    TR(c, "Ingen webbokning", "No web booking"));
    }
    if (web != NULL) {
        sbuf_str(c->b, "<p class=\"contact\"><a class=\"site-link\" href=\"");
        sbuf_html(c->b, web);
        sbuf_printf(c->b,
                    "\" rel=\"noopener noreferrer\">%s"
                    "<span class=\"visually-hidden\"> (",
                    TR(c, "Mottagningens webbplats", "The clinic's website"));
        sbuf_html(c->b, jstr(o, "name"));
        sbuf_str(c->b, ")</span></a></p>");
    }
    if (addr != NULL) {
        sbuf_printf(c->b, "<p class=\"contact address\">%s ",
                    TR(c, "Adress:", "Address:"));
        sbuf_html(c->b, addr);
        sbuf_str(c->b, "</p>");
    }
    if (phone == NULL && web == NULL && addr == NULL && none)
        sbuf_printf(c->b, "<p class=\"contact\">%s</p>",
                    TR(c, "Kontakta mottagningen för att boka.",
                       "Contact the clinic to book."));
}

static void card_meta(const struct pctx *c, const cJSON *o)
{
    const char *mun = jstr(o, "municipality"), *loc = jstr(o, "locality");
    const char *op = jstr(o, "operator");
    const cJSON *dist = cJSON_GetObjectItemCaseSensitive(o, "distance_km");

    sbuf_str(c->b, "<p class=\"meta\">");
    if (mun != NULL || loc != NULL) {
        sbuf_str(c->b, "<span class=\"place\">");
        if (loc != NULL && (mun == NULL || strcmp(loc, mun) != 0)) {
            sbuf_html(c->b, loc);
            if (mun != NULL)
                sbuf_str(c->b, ", ");
            sbuf_html(c->b, mun);
        } else {
            sbuf_html(c->b, mun);
            sbuf_str(c->b, TR(c, " kommun", " municipality"));
        }
        sbuf_str(c->b, "</span>");
    }
    sbuf_printf(c->b, "<span class=\"operator operator-%s\">%s</span>",
                op != NULL && strcmp(op, "private") == 0  ? "private"
                : op != NULL && strcmp(op, "region") == 0 ? "region"
                                                          : "unknown",
                op != NULL && strcmp(op, "private") == 0
                    ? TR(c, "Privat vårdgivare", "Private provider")
                : op != NULL && strcmp(op, "region") == 0
                    ? TR(c, "Regionens mottagning", "Run by the region")
                    : TR(c, "Driftform okänd", "Operator unknown"));
    if (cJSON_IsNumber(dist)) {
        double km = dist->valuedouble;
        char num[32];

        if (km < 1.0) {
            sbuf_printf(c->b, "<span class=\"distance\">%s</span>",
                        TR(c, "mindre än 1 km bort", "less than 1 km away"));
        } else {
            snprintf(num, sizeof(num), km < 10 ? "%.1f" : "%.0f", km);
            if (!c->en && strchr(num, '.') != NULL)
                *strchr(num, '.') = ',';
            sbuf_printf(c->b, "<span class=\"distance\">%s km %s</span>", num,
                        TR(c, "bort", "away"));
        }
    }
    sbuf_str(c->b, "</p>");
}

static void upcoming(const struct pctx *c, const cJSON *o)
{
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(o, "upcoming_days");
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(o, "more_days");
    const cJSON *d;
    int i = 0;

    sbuf_printf(c->b, "<p class=\"label\">%s</p><p class=\"upcoming-days\">",
                TR(c, "Kommande dagar med lediga tider",
                   "Upcoming days with free times"));
    cJSON_ArrayForEach(d, days) {
        if (!cJSON_IsString(d))
            continue;
        if (i++ > 0)
            sbuf_str(c->b, " ");
        sbuf_str(c->b, "<time class=\"day\" datetime=\"");
        sbuf_html(c->b, d->valuestring);
        sbuf_str(c->b, "\">");
        short_date(c, d->valuestring);
        sbuf_str(c->b, "</time>");
    }
    /* "(+14)" alone said nothing to a screen reader or a phone: say it. */
    if (cJSON_IsNumber(more) && more->valueint > 0)
        sbuf_printf(c->b, " <span class=\"more-days\">%s%d %s</span>",
                    TR(c, "och ", "and "), more->valueint,
                    more->valueint == 1 ? TR(c, "dag till", "more day")
                                        : TR(c, "dagar till", "more days"));
    sbuf_str(c->b, "</p>");
}

/* A web-booking clinic's card (the script's clinicCard). */
static void card_web(const struct pctx *c, const cJSON *o)
{
    const char *id = jstr(o, "id"), *first = jstr(o, "first_free");
    const char *book = safe_url(jstr(o, "booking_url"));
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "within_guarantee");
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(o, "upcoming_days");
    const char *status = jstr(o, "status");

    sbuf_str(c->b, "<li class=\"clinic-card\" data-id=\"");
    sbuf_html(c->b, id);
    sbuf_str(c->b, "\"><div class=\"card-head\"><h3 class=\"clinic-name\">"
                   "<a class=\"clinic-link\" href=\"/#/klinik/");
    sbuf_html(c->b, id);
    sbuf_str(c->b, "\" data-focus=\"card:");
    sbuf_html(c->b, id);
    sbuf_str(c->b, "\">");
    sbuf_html(c->b, jstr(o, "name"));
    sbuf_str(c->b, "</a></h3>");
    if (cJSON_IsTrue(w)) {
        sbuf_printf(c->b, "<span class=\"badge badge-ok\">%s",
                    TR(c, "Ledig tid inom ", "Free time within "));
        span_text(c);
        sbuf_str(c->b, "</span>");
    }
    sbuf_str(c->b, "</div>");
    card_meta(c, o);
    if (status != NULL && strcmp(status, "stale") == 0 && !cJSON_IsNull(w))
        sbuf_printf(c->b, "<p class=\"note note-stale\">%s</p>",
                    TR(c, "Uppgifterna kan vara inaktuella",
                       "This information may be out of date"));
    sbuf_str(c->b, "<div class=\"availability\">");
    if (!cJSON_IsBool(w) || !cJSON_IsArray(days))
        sbuf_printf(c->b, "<p class=\"no-data\">%s</p>",
                    TR(c, "Tidboken kunde inte nås just nu",
                       "The booking system could not be reached just now"));
    else if (cJSON_GetArraySize(days) > 0)
        upcoming(c, o);
    else
        sbuf_printf(c->b, "<p class=\"no-times\">%s</p>",
                    TR(c, "Just nu finns inga lediga tider",
                       "No free times just now"));
    sbuf_str(c->b, "</div>");
    if (first != NULL) {
        sbuf_printf(c->b, "<p class=\"first-free\">%s<time datetime=\"",
                    TR(c, "Första lediga tid: ", "First free time: "));
        sbuf_html(c->b, first);
        sbuf_str(c->b, "\">");
        instant_text(c, first);
        sbuf_str(c->b, "</time></p>");
    }
    if (book != NULL) {
        sbuf_str(c->b, "<p class=\"book\"><a class=\"button book-link\" "
                       "rel=\"noopener noreferrer\" href=\"");
        sbuf_html(c->b, book);
        sbuf_printf(c->b, "\">%s<span class=\"visually-hidden\"> ",
                    TR(c, "Boka tid", "Book a time"));
        sbuf_html(c->b, TR(c, "hos ", "at "));
        sbuf_html(c->b, jstr(o, "name"));
        sbuf_printf(c->b, "</span></a> <span class=\"hint\">%s</span></p>",
                    TR(c, "(i mottagningens tidbok)",
                       "(in the clinic's booking system)"));
    }
    contact_block(c, o, false);
    sbuf_str(c->b, "</li>");
}

static void card_none(const struct pctx *c, const cJSON *o)
{
    sbuf_str(c->b, "<li class=\"clinic-card clinic-card-none\" data-id=\"");
    sbuf_html(c->b, jstr(o, "id"));
    sbuf_str(c->b, "\"><h3 class=\"clinic-name\">");
    sbuf_html(c->b, jstr(o, "name"));
    sbuf_str(c->b, "</h3>");
    card_meta(c, o);
    contact_block(c, o, true);
    sbuf_str(c->b, "</li>");
}

/* --- the page ---------------------------------------------------------------- */

/* Append v percent-encoded for a query string. */
static void url_enc(struct sbuf *b, const char *v)
{
    const unsigned char *p;

    for (p = (const unsigned char *)v; *p != '\0'; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
            sbuf_add(b, (const char *)p, 1);
        else
            sbuf_printf(b, "%%%02X", *p);
    }
}

/* "/?vy=...&kommun=...&nara=...&lang=..." for this page's filters (the
 * HTML escaping of '&' included). */
static void page_link(const struct pctx *c, bool guarantee, bool en)
{
    const char *sep = "?";

    sbuf_str(c->b, "/");
    if (guarantee) {
        sbuf_str(c->b, "?vy=inom-3-dagar");
        sep = "&amp;";
    }
    if (c->where != NULL) {
        sbuf_printf(c->b, "%skommun=", sep);
        url_enc(c->b, c->where);
        sep = "&amp;";
    }
    if (c->q->nara != NULL && c->q->nara[0] != '\0') {
        sbuf_printf(c->b, "%snara=", sep);
        url_enc(c->b, c->q->nara);
        sep = "&amp;";
    }
    if (en)
        sbuf_printf(c->b, "%slang=en", sep);
}

static void head_html(const struct pctx *c)
{
    struct sbuf *b = c->b;

    sbuf_printf(b,
                "<!doctype html>\n<html lang=\"%s\">\n<head>\n"
                "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
                "content=\"width=device-width, initial-scale=1\">\n"
                "<meta name=\"color-scheme\" content=\"light\">\n"
                "<link rel=\"icon\" href=\"data:,\">\n<title>",
                TR(c, "sv", "en"));
    if (c->q->guarantee) {
        sbuf_str(b, TR(c, "Boka tid till fysioterapeut inom ",
                       "Book a physiotherapist within "));
        span_text(c);
    } else {
        sbuf_str(b, TR(c, "Sök lediga tider hos fysioterapeut",
                       "Find free physiotherapy appointments"));
    }
    sbuf_str(b, "</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n"
                "<script src=\"/common.js\" defer></script>\n"
                "<script src=\"/app.js\" defer></script>\n</head>\n<body>\n");
    sbuf_printf(b,
                "<a class=\"skip-link\" href=\"#main\">%s</a>\n"
                "<header class=\"site-header\">\n<div class=\"wrap\">\n"
                "<p class=\"brand\"><a href=\"%s\" class=\"brand-link\">"
                "<span class=\"brand-mark\" aria-hidden=\"true\"></span>"
                "<span id=\"region-name\">",
                TR(c, "Hoppa till innehållet", "Skip to content"),
                TR(c, "/", "/?lang=en"));
    sbuf_html(b, c->s->region != NULL && c->s->region->name != NULL
                     ? c->s->region->name
                     : TR(c, "Vårdval fysioterapi", "Physiotherapy"));
    sbuf_printf(b,
                "</span></a></p>\n<p class=\"lang-switch\"><a lang=\"%s\" "
                "hreflang=\"%s\" id=\"lang-link\" href=\"",
                TR(c, "en", "sv"), TR(c, "en", "sv"));
    page_link(c, c->q->guarantee, !c->en);
    sbuf_printf(b, "\">%s</a></p>\n</div>\n</header>\n\n",
                TR(c, "In English", "På svenska"));
}

static void entries_html(const struct pctx *c)
{
    struct sbuf *b = c->b;

    sbuf_printf(b,
                "<main id=\"main\" tabindex=\"-1\">\n<div class=\"wrap\">\n"
                "<h1 id=\"page-title\" tabindex=\"-1\">%s</h1>\n"
                "<p class=\"freshness\" id=\"freshness\">%s<time "
                "datetime=\"",
                TR(c, "Sök lediga tider hos fysioterapeut",
                   "Find free physiotherapy appointments"),
                TR(c, "Uppdaterad ", "Updated "));
    sbuf_html(b, c->generated);
    sbuf_str(b, "\">");
    instant_text(c, c->generated);
    sbuf_str(b, "</time></p>\n<p class=\"alert\" id=\"load-error\" "
                "role=\"alert\" hidden></p>\n");
    sbuf_printf(b,
                "<nav class=\"entries\" aria-label=\"%s\">\n"
                "<a class=\"entry\" id=\"entry-guarantee\" href=\"",
                TR(c, "Välj hur du vill söka", "Choose how to search"));
    page_link(c, true, c->en);
    sbuf_printf(b,
                "\" aria-current=\"%s\"><span class=\"entry-title\">%s"
                "<span id=\"guarantee-days\">%d</span> %s</span>"
                "<span class=\"entry-text\">%s</span></a>\n",
                c->q->guarantee ? "page" : "false",
                TR(c, "Boka tid till fysioterapeut inom ",
                   "Book a physiotherapist within "),
                c->gdays,
                c->en ? (c->working ? "working days" : "days")
                      : (c->working ? "vardagar" : "dagar"),
                TR(c,
                   "Mottagningar som har en ledig tid inom vårdgarantin, "
                   "den tidigaste först.",
                   "Clinics with a free time within the care guarantee, "
                   "earliest first."));
    sbuf_str(b, "<a class=\"entry\" id=\"entry-all\" href=\"");
    page_link(c, false, c->en);
    sbuf_printf(b,
                "\" aria-current=\"%s\"><span class=\"entry-title\">%s"
                "</span><span class=\"entry-text\">%s</span></a>\n</nav>\n\n",
                c->q->guarantee ? "false" : "page",
                TR(c, "Sök lediga tider", "Search free times"),
                TR(c,
                   "Alla mottagningar i regionen, även de som saknar "
                   "webbokning.",
                   "Every clinic in the region, also those without web "
                   "booking."));
}

/* The municipalities of the region, each once, in Swedish order. */
static void municipality_options(const struct pctx *c)
{
    const struct conf_region *r = c->s->region;
    struct row *v;
    size_t n = 0, i, k;

    if (r == NULL || r->nclinics == 0 ||
        (v = calloc(r->nclinics, sizeof(*v))) == NULL) {
        c->b->oom |= r != NULL && r->nclinics > 0;
        return;
    }
    for (i = 0; i < r->nclinics; i++) {
        const char *m = r->clinics[i].municipality;
        for (k = 0; m != NULL && k < n && strcmp(v[k].name, m) != 0; k++)
            ;
        if (m != NULL && k == n)
            v[n++].name = m;
    }
    qsort(v, n, sizeof(*v), by_name);
    for (i = 0; i < n; i++) {
        sbuf_str(c->b, "<option value=\"");
        sbuf_html(c->b, v[i].name);
        sbuf_printf(c->b, "\"%s>",
                    c->where != NULL && strcmp(c->where, v[i].name) == 0
                        ? " selected"
                        : "");
        sbuf_html(c->b, v[i].name);
        sbuf_str(c->b, "</option>");
    }
    free(v);
}

static void form_html(const struct pctx *c)
{
    struct sbuf *b = c->b;

    sbuf_printf(b,
                "<div id=\"list-view\">\n<form class=\"filters\" "
                "id=\"filters\" role=\"search\" aria-label=\"%s\" "
                "action=\"/\" method=\"get\">\n",
                TR(c, "Filtrera mottagningar", "Filter clinics"));
    if (c->q->guarantee)
        sbuf_str(b, "<input type=\"hidden\" name=\"vy\" "
                    "value=\"inom-3-dagar\">\n");
    if (c->en)
        sbuf_str(b, "<input type=\"hidden\" name=\"lang\" value=\"en\">\n");
    sbuf_printf(b,
                "<div class=\"field\"><label for=\"municipality\">%s"
                "</label><select id=\"municipality\" name=\"kommun\">"
                "<option value=\"\">%s</option>",
                TR(c, "Kommun", "Municipality"),
                TR(c, "Alla kommuner", "All municipalities"));
    municipality_options(c);
    sbuf_printf(b,
                "</select></div>\n<div class=\"field field-grow\">"
                "<label for=\"near\">%s</label><input id=\"near\" "
                "name=\"nara\" type=\"text\" inputmode=\"text\" "
                "autocomplete=\"postal-code\" aria-describedby=\"near-hint\""
                " maxlength=\"60\" spellcheck=\"false\" value=\"",
                TR(c, "Nära mig", "Near me"));
    sbuf_html(b, c->q->nara);
    sbuf_printf(b,
                "\"><span class=\"hint\" id=\"near-hint\">%s</span></div>"
                "\n<div class=\"field field-buttons\"><button type=\"submit\""
                " class=\"button\">%s</button><a class=\"button "
                "button-secondary\" id=\"clear-filters\" href=\"%s\">%s</a>"
                "</div>\n</form>\n",
                TR(c,
                   "Ort, kommun eller postnummer, till exempel Karlstad "
                   "eller 652 24",
                   "Town, municipality or postcode, for example Karlstad "
                   "or 652 24"),
                TR(c, "Sök", "Search"),
                c->q->guarantee ? (c->en ? "/?vy=inom-3-dagar&amp;lang=en"
                                         : "/?vy=inom-3-dagar")
                                : TR(c, "/", "/?lang=en"),
                TR(c, "Rensa", "Clear"));
}

/* A kommun or nara that matched nothing: say so, show every clinic. */
static void alert_html(const struct pctx *c)
{
    struct sbuf *b = c->b;

    sbuf_str(b, "<p class=\"alert\" id=\"near-error\" role=\"alert\">");
    if (c->alert == ALERT_KOMMUN) {
        sbuf_str(b, TR(c, "Kommunen ”", "The municipality “"));
        sbuf_html(b, c->q->kommun);
        sbuf_str(b, TR(c, "” finns inte i regionen. Alla kommuner visas.",
                       "” is not in this region. Every municipality is "
                       "shown."));
    } else if (c->alert == ALERT_NARA) {
        sbuf_str(b, TR(c, "Vi känner inte igen ”", "We do not know “"));
        sbuf_html(b, c->q->nara);
        sbuf_str(b, TR(c,
                       "”. Skriv namnet på en kommun eller ort i "
                       "regionen, eller ett postnummer med fem siffror.",
                       "”. Enter a municipality or town in the region, or "
                       "a five-digit postcode."));
    } else {
        sbuf_str(b, TR(c,
                       "Avstånd kunde inte beräknas just nu. "
                       "Mottagningarna visas utan avstånd.",
                       "Distances cannot be computed just now. The clinics "
                       "are shown without distances."));
    }
    sbuf_str(b, "</p>\n");
}

/* The live region's text: count, place and order (issue 14 §5). */
static void status_html(const struct pctx *c, size_t nweb, size_t nnone)
{
    struct sbuf *b = c->b;

    sbuf_str(b, "<p class=\"result-status\" id=\"result-status\" "
                "role=\"status\" aria-live=\"polite\">");
    if (c->q->guarantee) {
        sbuf_printf(b, "%zu %s", nweb,
                    nweb == 1 ? TR(c, "mottagning har en ledig tid inom ",
                                   "clinic has a free time within ")
                              : TR(c, "mottagningar har en ledig tid inom ",
                                   "clinics have a free time within "));
        span_text(c);
        where_text(c);
    } else {
        sbuf_printf(b, "%s%zu %s", TR(c, "Visar ", "Showing "), nweb,
                    nweb == 1 ? TR(c, "mottagning med webbokning",
                                   "clinic with web booking")
                              : TR(c, "mottagningar med webbokning",
                                   "clinics with web booking"));
        where_text(c);
        if (nnone > 0)
            sbuf_printf(b, TR(c, " och %zu utan", " and %zu without"), nnone);
    }
    if (c->place != NULL) {
        sbuf_str(b, TR(c, ", sorterat efter avstånd från ",
                       ", sorted by distance from "));
        sbuf_html(b, c->place);
    } else {
        sbuf_str(b, c->q->guarantee ? TR(c, ", den tidigaste tiden först",
                                         ", earliest time first")
                                    : TR(c, ", i bokstavsordning",
                                         ", in alphabetical "
                                         "order"));
    }
    sbuf_str(b, ".</p>\n");
    if (c->alert != ALERT_NONE)
        alert_html(c);
    else
        sbuf_str(b, "<p class=\"alert\" id=\"near-error\" role=\"alert\" "
                    "hidden></p>\n");
    /* Kommun and Nära mig together: only that municipality, say so. */
    if (c->where != NULL && c->place != NULL) {
        sbuf_printf(
            b, "<p class=\"note\" id=\"filter-note\">%s",
            TR(c, "Du har valt både kommun och plats: bara mottagningar i ",
               "You chose both a municipality and a place: only "
               "clinics in "));
        sbuf_html(b, c->where);
        sbuf_str(b, TR(c,
                       " visas. Välj Alla kommuner för att se alla "
                       "mottagningar nära ",
                       " are shown. Choose All municipalities to see every "
                       "clinic near "));
        sbuf_html(b, c->place);
        sbuf_str(b, ".</p>\n");
    }
}

static void sections_html(const struct pctx *c, const struct row *web,
                          size_t nweb, const struct row *none, size_t nnone)
{
    struct sbuf *b = c->b;
    size_t i;

    sbuf_str(b, "<section class=\"clinic-section\" id=\"section-web\" "
                "aria-labelledby=\"heading-web\">\n<h2 id=\"heading-web\">");
    if (c->q->guarantee) {
        sbuf_str(b, TR(c, "Ledig tid inom ", "Free time within "));
        span_text(c);
    } else {
        sbuf_str(b, TR(c, "Mottagningar med webbokning",
                       "Clinics with web booking"));
    }
    where_text(c);
    sbuf_str(b, "</h2>\n<p class=\"section-intro\" id=\"intro-web\">");
    if (c->q->guarantee) {
        sbuf_str(b, TR(c, "Mottagningar med en ledig tid senast ",
                       "Clinics with a free time on or before "));
        weekday_date(c, c->deadline);
        sbuf_str(b, TR(c, " (vårdgarantin, ", " (the care guarantee, "));
        span_text(c);
        sbuf_str(b, c->place != NULL
                        ? TR(c, "), närmast först.", "), nearest first.")
                        : TR(c, "), den tidigaste tiden först.",
                             "), earliest time first."));
    } else {
        sbuf_str(b, c->place != NULL
                        ? TR(c,
                             "Närmast först. Välj en mottagning för att "
                             "se alla lediga tider.",
                             "Nearest first. Choose a clinic to see all its "
                             "free times.")
                        : TR(c,
                             "Välj en mottagning för att se dess lediga "
                             "tider dag för dag.",
                             "Choose a clinic to see its free times day by "
                             "day."));
    }
    sbuf_str(b, "</p>\n<ul class=\"clinic-list\" id=\"clinic-list\">");
    for (i = 0; i < nweb; i++)
        card_web(c, web[i].c);
    sbuf_str(b, "</ul>\n<p class=\"empty\" id=\"empty-web\"");
    if (nweb > 0) {
        sbuf_str(b, " hidden>");
    } else if (c->q->guarantee) {
        sbuf_str(b, TR(c, ">Just nu har ingen mottagning", ">No clinic"));
        where_text(c);
        sbuf_str(b, TR(c, " en ledig tid inom ", " has a free time within "));
        span_text(c);
        sbuf_printf(b, TR(c, " just nu. ", " just now. "));
        sbuf_str(b, "<a href=\"");
        page_link(c, false, c->en);
        sbuf_printf(b, "\">%s</a>",
                    TR(c, "Sök bland alla lediga tider",
                       "Search all free times"));
    } else {
        sbuf_str(b, TR(c, ">Ingen mottagning", ">No clinic"));
        where_text(c);
        sbuf_str(b, TR(c, " har webbokning.", " has web booking."));
    }
    sbuf_printf(b,
                "</p>\n</section>\n\n<section class=\"clinic-section\" "
                "id=\"section-none\" aria-labelledby=\"heading-none\"%s>\n"
                "<h2 id=\"heading-none\">%s</h2>\n<p class=\"section-intro\">"
                "%s</p>\n<ul class=\"clinic-list clinic-list-none\" "
                "id=\"clinic-list-none\">",
                nnone == 0 ? " hidden" : "",
                TR(c, "Mottagningar utan webbokning",
                   "Clinics without web booking"),
                TR(c,
                   "De här mottagningarna går inte att boka på webben. "
                   "Ring eller besök deras webbplats för att fråga efter "
                   "en tid.",
                   "These clinics cannot be booked on the web. Call them or "
                   "visit their website to ask for a time."));
    for (i = 0; i < nnone; i++)
        card_none(c, none[i].c);
    sbuf_str(b, "</ul>\n</section>\n</div>\n\n<div id=\"day-view\" hidden>"
                "</div>\n</div>\n</main>\n\n");
}

static void footer_html(const struct pctx *c)
{
    struct sbuf *b = c->b;

    sbuf_printf(b,
                "<footer class=\"site-footer\">\n<div class=\"wrap\">\n"
                "<p>%s</p>\n<p id=\"guarantee-note\">%s",
                TR(c,
                   "Tiderna hämtas automatiskt från mottagningarnas "
                   "webbokning. Själva bokningen gör du hos mottagningen "
                   "– vi bokar inga tider.",
                   "The times are collected automatically from the clinics' "
                   "web booking. You book with the clinic itself – we book "
                   "no times."),
                TR(c, "Vårdgarantin innebär att du ska få en bedömning inom ",
                   "The care guarantee (vårdgarantin) means that you are to "
                   "be assessed within "));
    span_text(c);
    sbuf_printf(b,
                "%s</p>\n<p><a href=\"/overview\">%s</a> · "
                "<a href=\"/v1/availability\">%s</a></p>\n</div>\n"
                "</footer>\n</body>\n</html>\n",
                TR(c, " från att du kontaktat vården.",
                   " of contacting the care provider."),
                TR(c, "Översikt för vårdvalsenheten",
                   "Overview for the care choice unit"),
                TR(c, "Öppna data (JSON)", "Open data (JSON)"));
}

/* --- parameters ---------------------------------------------------------- */

/* Accept-Language: the sv or en range with the highest q (the first of
 * equal ones); anything else, or nothing, is Swedish. */
static enum page_lang lang_of_header(const char *h)
{
    enum page_lang best = PAGE_SV;
    double bestq = 0.0;
    const char *p = h;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ','), *semi;
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        double qv = 1.0;

        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        semi = memchr(p, ';', n);
        if (semi != NULL) {
            const char *qs = strstr(semi, "q=");
            if (qs != NULL && qs < p + n)
                qv = strtod(qs + 2, NULL);
        }
        if (qv > bestq && n >= 2 &&
            (p[2] == '-' || p[2] == ';' || p[2] == ' ' || p + 2 == p + n ||
             p[2] == ',' || p[2] == '\0')) {
            if (strncasecmp(p, "sv", 2) == 0) {
                best = PAGE_SV;
                bestq = qv;
            } else if (strncasecmp(p, "en", 2) == 0) {
                best = PAGE_EN;
                bestq = qv;
            }
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return best;
}

void page_query_of(const struct api_params *p, const char *accept_language,
                   struct page_query *q)
{
    bool lang_set = false;
    size_t i;

    memset(q, 0, sizeof(*q));
    for (i = 0; i < p->n; i++) {
        const char *n = p->v[i].name, *v = p->v[i].value;

        if (strcmp(n, "kommun") == 0 && q->kommun == NULL && v[0] != '\0')
            q->kommun = v;
        else if (strcmp(n, "nara") == 0 && q->nara == NULL && v[0] != '\0')
            q->nara = v;
        else if (strcmp(n, "vy") == 0)
            q->guarantee = strcmp(v, "inom-3-dagar") == 0;
        else if (strcmp(n, "lang") == 0 && !lang_set &&
                 (strcmp(v, "sv") == 0 || strcmp(v, "en") == 0)) {
            q->lang = strcmp(v, "en") == 0 ? PAGE_EN : PAGE_SV;
            lang_set = true;
        }
    }
    /* A blank-only place is no place (the script trims it too). */
    if (q->nara != NULL && strspn(q->nara, " \t") == strlen(q->nara))
        q->nara = NULL;
    if (!lang_set)
        q->lang = lang_of_header(accept_language);
}

/* --- render ---------------------------------------------------------------- */

/*
 * The API filter for q: kommun then nara, each dropped (and reported on
 * the page) when the API refuses it. Cannot fail otherwise.
 */
static void page_filter(struct pctx *c, const struct geo_table *geo,
                        struct api_filter *f, int *status, bool *cacheable)
{
    struct api_params ap = { .n = 0 };
    struct sf_error err = { 0 };

    if (c->q->kommun != NULL) {
        ap.v[ap.n].name = "municipality";
        ap.v[ap.n++].value = (char *)c->q->kommun;
        if (api_filter_parse(&ap, c->s, geo, f, &err) != 0) {
            ap.n--;
            c->alert = ALERT_KOMMUN;
            *status = 400;
            *cacheable = false;
        }
    }
    if (c->q->nara != NULL) {
        ap.v[ap.n].name = "near";
        ap.v[ap.n++].value = (char *)c->q->nara;
        if (api_filter_parse(&ap, c->s, geo, f, &err) != 0) {
            ap.n--;
            if (c->alert == ALERT_NONE)
                c->alert = geo != NULL ? ALERT_NARA : ALERT_NO_GEO;
            *cacheable = false;
        }
    }
    if (api_filter_parse(&ap, c->s, geo, f, &err) != 0)
        memset(f, 0, sizeof(*f)); /* unreachable: both were accepted */
    c->where = f->nmunicipality > 0 ? f->municipality[0] : NULL;
    c->place = f->near ? f->near_place : NULL;
}

/* Split the API's clinics into the two lists and order them. */
static int page_rows(struct pctx *c, const cJSON *clinics, struct row **web,
                     size_t *nweb, struct row **none, size_t *nnone)
{
    size_t n = (size_t)cJSON_GetArraySize(clinics);
    const cJSON *o;

    *nweb = *nnone = 0;
    if ((*web = calloc(n + 1, sizeof(**web))) == NULL ||
        (*none = calloc(n + 1, sizeof(**none))) == NULL)
        return -1;
    cJSON_ArrayForEach(o, clinics) {
        const char *wb = jstr(o, "web_booking"), *ff = jstr(o, "first_free");
        struct row r = { o, jstr(o, "name"), INT64_MAX };

        if (ff != NULL && clock_parse_rfc3339(ff, &r.first) != 0)
            r.first = INT64_MAX;
        if (wb != NULL && strcmp(wb, "none") == 0)
            (*none)[(*nnone)++] = r;
        else if (!c->q->guarantee ||
                 cJSON_IsTrue(
                     cJSON_GetObjectItemCaseSensitive(o, "within_guarantee")))
            (*web)[(*nweb)++] = r;
    }
    /* With a place the API's order (nearest first) stands. */
    if (c->place == NULL) {
        qsort(*web, *nweb, sizeof(**web), c->q->guarantee ? by_first : by_name);
        qsort(*none, *nnone, sizeof(**none), by_name);
    }
    return 0;
}

int page_render(const struct feed_snapshot *s, const struct geo_table *geo,
                const struct page_query *q, struct doc *out, int *status,
                bool *cacheable)
{
    struct pctx c = { 0 };
    struct sbuf b = { 0 };
    struct api_filter f;
    struct doc fd = { 0 };
    const struct doc *src;
    const char *text;
    cJSON *doc = NULL, *g;
    struct row *web = NULL, *none = NULL;
    size_t nweb = 0, nnone = 0;
    int rc = -1, copy = 0;

    memset(out, 0, sizeof(*out));
    *status = 200;
    *cacheable = true;
    c.b = &b;
    c.q = q;
    c.s = s;
    c.en = q->lang == PAGE_EN;
    page_filter(&c, geo, &f, status, cacheable);
    if (!api_filter_empty(&f) && api_filter_build(s, geo, &f, &fd) != 0)
        goto out;
    /* The filtered document, or all.json (kept as pieces, feed.h: parsed
     * from a copy). */
    src = fd.json != NULL ? &fd : &s->all;
    if ((text = doc_flatten(src, &copy)) == NULL)
        goto out;
    doc = cJSON_ParseWithLength(text, src->len);
    doc_flatten_free(text, copy);
    if (doc == NULL)
        goto out;
    g = cJSON_GetObjectItemCaseSensitive(doc, "guarantee");
    c.gdays = cJSON_GetObjectItemCaseSensitive(g, "days") != NULL
                  ? cJSON_GetObjectItemCaseSensitive(g, "days")->valueint
                  : 3;
    c.working = jstr(g, "counting") != NULL &&
                strcmp(jstr(g, "counting"), "working") == 0;
    c.deadline = jstr(g, "deadline");
    c.generated = jstr(doc, "generated_at");
    if (page_rows(&c, cJSON_GetObjectItemCaseSensitive(doc, "clinics"), &web,
                  &nweb, &none, &nnone) != 0)
        goto out;
    head_html(&c);
    entries_html(&c);
    form_html(&c);
    status_html(&c, nweb, nnone);
    sections_html(&c, web, nweb, none, nnone);
    footer_html(&c);
    if (doc_take_sbuf(out, &b) != 0)
        goto out;
    rc = 0;
out:
    sbuf_free(&b);
    cJSON_Delete(doc);
    free(fd.json);
    free(web);
    free(none);
    return rc;
}

/* --- cache ----------------------------------------------------------------- */

/* The variant's key: everything the page depends on besides the snapshot. */
static void page_key(const struct page_query *q, char *key, size_t cap)
{
    snprintf(key, cap, "%d|%d|%s|%s", (int)q->lang, (int)q->guarantee,
             q->kommun ? q->kommun : "", q->nara ? q->nara : "");
}

struct api_entry *page_cache_get(struct api_cache *c,
                                 const struct feed_snapshot *s,
                                 const struct geo_table *geo,
                                 const struct page_query *q, int *status)
{
    char key[2 * API_MAX_VALUE + 16];
    struct api_entry *e;
    bool cacheable;

    page_key(q, key, sizeof(key));
    if ((e = api_cache_find(c, s->serial, key)) != NULL) {
        *status = 200; /* only 200 pages are kept */
        return e;
    }
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->refs = 1;
    e->changed_at = s->changed_at;
    if ((e->key = strdup(key)) == NULL ||
        page_render(s, geo, q, &e->plain, status, &cacheable) != 0 ||
        doc_gzip(e->plain.json, e->plain.len, e->plain.etag, &e->gz) != 0) {
        api_entry_unref(e);
        return NULL;
    }
    if (cacheable && *status == 200)
        api_cache_put(c, e);
    return e;
}
