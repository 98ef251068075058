/*
 * report_render.c - a report document (report_build) as text: JSON as
 * cJSON prints it, CSV (RFC 4180) and one self-contained HTML page. The
 * tables are read from the document alone, so every format carries the
 * numbers the JSON has; nothing here knows how they were computed.
 */
#include "slotfeed/report_render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/sbuf.h"

int report_parse_format(const char *s, enum report_format *out,
                        struct sf_error *err)
{
    if (s != NULL && strcmp(s, "json") == 0)
        *out = REPORT_FMT_JSON;
    else if (s != NULL && strcmp(s, "csv") == 0)
        *out = REPORT_FMT_CSV;
    else if (s != NULL && strcmp(s, "html") == 0)
        *out = REPORT_FMT_HTML;
    else {
        sf_error_set(err, SF_ERR_CONFIG,
                     "format \"%.40s\": want csv, json "
                     "or html",
                     s ? s : "");
        return -1;
    }
    return 0;
}

const char *report_format_content_type(enum report_format f)
{
    switch (f) {
    case REPORT_FMT_CSV:
        return "text/csv; charset=utf-8; header=present";
    case REPORT_FMT_HTML:
        return "text/html; charset=utf-8";
    default:
        return "application/json; charset=utf-8";
    }
}

/* A number exactly as cJSON prints it, so CSV and JSON text agree. */
static void fmt_number(double v, char buf[32])
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, 32, "%.0f", v);
    else {
        snprintf(buf, 32, "%1.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, 32, "%1.17g", v);
    }
}

static void csv_cell(struct sbuf *b, const cJSON *v)
{
    char num[32];
    const char *s;

    if (v == NULL || cJSON_IsNull(v))
        return;
    if (cJSON_IsNumber(v)) {
        fmt_number(v->valuedouble, num);
        sbuf_str(b, num);
    } else if (cJSON_IsBool(v))
        sbuf_str(b, cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsString(v)) {
        s = v->valuestring;
        if (strpbrk(s, ",\"\r\n") == NULL) {
            sbuf_str(b, s);
            return;
        }
        sbuf_str(b, "\"");
        for (; *s; s++) {
            if (*s == '"')
                sbuf_str(b, "\"");
            sbuf_add(b, s, 1);
        }
        sbuf_str(b, "\"");
    }
}

static void html_cell(struct sbuf *b, const char *col, const cJSON *v)
{
    char num[48];

    sbuf_str(b, "<td>");
    if (v == NULL || cJSON_IsNull(v))
        sbuf_str(b, "&ndash;");
    else if (cJSON_IsNumber(v) && strncmp(col, "share", 5) == 0)
        snprintf(num, sizeof(num), "%.1f %%", v->valuedouble * 100.0),
            sbuf_str(b, num);
    else if (cJSON_IsNumber(v) && strcmp(col, "coverage") == 0)
        snprintf(num, sizeof(num), "%.1f %%", v->valuedouble * 100.0),
            sbuf_str(b, num);
    else if (cJSON_IsNumber(v) && strlen(col) > 2 &&
             strcmp(col + strlen(col) - 2, "_s") == 0)
        snprintf(num, sizeof(num), "%.1f h", v->valuedouble / 3600.0),
            sbuf_str(b, num);
    else if (cJSON_IsString(v))
        sbuf_html(b, v->valuestring);
    else {
        struct sbuf t = { 0 };

        csv_cell(&t, v);
        if (t.p)
            sbuf_html(b, t.p);
        sbuf_free(&t);
    }
    sbuf_str(b, "</td>");
}

/* A table: one row per object of rows (with optional fixed leading cells
 * taken from `pre`, e.g. the period), columns cols. */
struct table {
    struct sbuf *b;
    enum report_format fmt;
};

/*
 * Column headings of CSV and HTML: plain Swedish for the people who open
 * the file in a spreadsheet (the JSON keys stay the machine names;
 * docs/compliance-method.md defines each). No heading holds a comma or a
 * quote, so CSV needs no quoting for them.
 */
static const char *const col_labels[][2] = {
    { "period", "Period" },
    { "from", "Från" },
    { "to", "Till" },
    { "group", "Grupp" },
    { "clinics", "Mottagningar" },
    { "observed", "Mottagningar med hämtning" },
    { "open", "Med öppen webbokning" },
    { "open_all", "Öppen webbokning vid varje hämtning" },
    { "share", "Andel med öppen webbokning" },
    { "share_all", "Andel öppen vid varje hämtning" },
    { "hsa_id", "HSA-id" },
    { "name", "Mottagning" },
    { "municipality", "Kommun" },
    { "operator", "Driftform" },
    { "reason", "Orsak" },
    { "web_booking", "Webbokning" },
    { "clinics_with_web", "Mottagningar med webbokning" },
    { "observed_days", "Dagar med hämtning" },
    { "open_s", "Öppettid (s)" },
    { "covered_s", "Öppettid med data (s)" },
    { "coverage", "Datatäckning" },
    { "stale_s", "Inaktuella uppgifter (s)" },
    { "error_s", "Fel vid hämtning (s)" },
    { "gap_s", "Glapp (s)" },
    { "within_s", "Ledig tid inom vårdgarantin (s)" },
    { "share_within", "Andel av tiden med data med ledig tid inom "
                      "vårdgarantin" },
    { "share_within_open", "Andel av hela öppettiden med ledig tid inom "
                           "vårdgarantin" },
    { "reliable", "Tillförlitlig (täckning minst 90 %)" },
    { "polls_expected", "Förväntade hämtningar" },
    { "polls_made", "Gjorda hämtningar" },
    { "polls_missed", "Missade hämtningar" },
    { "polls_ok", "Lyckade hämtningar" },
    { "median_days", "Median dagar till första lediga tid" },
    { "p90_days", "90:e percentilen dagar till första lediga tid" },
    { "polls_without_free", "Hämtningar utan ledig tid" },
    { "bookings_within", "Bokade inom vårdgarantin (härlett)" },
    { "bookings_later", "Bokade senare (härlett)" },
    { "slots_passed", "Tider som passerade obokade" },
};

const char *report_column_label(const char *key)
{
    size_t i;

    for (i = 0; i < sizeof(col_labels) / sizeof(col_labels[0]); i++)
        if (strcmp(col_labels[i][0], key) == 0)
            return col_labels[i][1];
    return key;
}

static void t_head(struct table *t, const char *const *cols, size_t n)
{
    size_t i;

    if (t->fmt == REPORT_FMT_HTML)
        sbuf_str(t->b, "<table><thead><tr>");
    for (i = 0; i < n; i++) {
        if (t->fmt == REPORT_FMT_CSV) {
            if (i)
                sbuf_str(t->b, ",");
            sbuf_str(t->b, report_column_label(cols[i]));
        } else {
            sbuf_str(t->b, "<th>");
            sbuf_html(t->b, report_column_label(cols[i]));
            sbuf_str(t->b, "</th>");
        }
    }
    sbuf_str(t->b,
             t->fmt == REPORT_FMT_CSV ? "\r\n" : "</tr></thead><tbody>\n");
}

/* One row: column i is looked up in o, falling back to pre. */
static void t_row(struct table *t, const char *const *cols, size_t n,
                  const cJSON *o, const cJSON *pre)
{
    size_t i;

    if (t->fmt == REPORT_FMT_HTML)
        sbuf_str(t->b, "<tr>");
    for (i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, cols[i]);

        if (v == NULL && pre != NULL)
            v = cJSON_GetObjectItemCaseSensitive(pre, cols[i]);
        if (t->fmt == REPORT_FMT_CSV) {
            if (i)
                sbuf_str(t->b, ",");
            csv_cell(t->b, v);
        } else
            html_cell(t->b, cols[i], v);
    }
    sbuf_str(t->b, t->fmt == REPORT_FMT_CSV ? "\r\n" : "</tr>\n");
}

static void t_end(struct table *t)
{
    if (t->fmt == REPORT_FMT_HTML)
        sbuf_str(t->b, "</tbody></table>\n");
}

static const char *const web_cols[] = { "period",   "from",     "to",
                                        "group",    "clinics",  "observed",
                                        "open",     "open_all", "share",
                                        "share_all" };
static const char *const none_cols[] = { "hsa_id", "name", "municipality",
                                         "operator", "reason" };
static const char *const g_clinic_cols[] = { "hsa_id",
                                             "name",
                                             "municipality",
                                             "operator",
                                             "web_booking",
                                             "observed_days",
                                             "open_s",
                                             "covered_s",
                                             "coverage",
                                             "stale_s",
                                             "error_s",
                                             "gap_s",
                                             "within_s",
                                             "share_within",
                                             "share_within_open",
                                             "reliable",
                                             "polls_expected",
                                             "polls_made",
                                             "polls_missed",
                                             "polls_ok",
                                             "median_days",
                                             "p90_days",
                                             "polls_without_free",
                                             "bookings_within",
                                             "bookings_later",
                                             "slots_passed" };
static const char *const g_group_cols[] = { "group",
                                            "clinics",
                                            "clinics_with_web",
                                            "observed_days",
                                            "open_s",
                                            "covered_s",
                                            "coverage",
                                            "stale_s",
                                            "error_s",
                                            "gap_s",
                                            "within_s",
                                            "share_within",
                                            "share_within_open",
                                            "reliable",
                                            "polls_expected",
                                            "polls_made",
                                            "polls_missed",
                                            "polls_ok",
                                            "median_days",
                                            "p90_days",
                                            "polls_without_free",
                                            "bookings_within",
                                            "bookings_later",
                                            "slots_passed" };

#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static void render_tables(struct sbuf *b, const cJSON *doc,
                          enum report_format fmt, int web)
{
    struct table t = { b, fmt };
    const cJSON *it, *g, *pre;
    cJSON *all = NULL;

    if (web) {
        t_head(&t, web_cols, NCOLS(web_cols));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "periods")) {
            /* The period's own counts are the group "all". A row without
             * it would be a partial table: out of memory fails the
             * render (sbuf's sticky oom). */
            if ((all = cJSON_CreateObject()) == NULL ||
                cJSON_AddStringToObject(all, "group", "all") == NULL)
                b->oom = 1;
            t_row(&t, web_cols, NCOLS(web_cols), it, all);
            cJSON_Delete(all);
            pre = it;
            cJSON_ArrayForEach(g, cJSON_GetObjectItem(it, "groups"))
                t_row(&t, web_cols, NCOLS(web_cols), g, pre);
        }
        t_end(&t);
        /* CSV: the second table follows after one empty line. */
        if (fmt == REPORT_FMT_CSV)
            sbuf_str(b, "\r\n");
        else
            sbuf_str(b, "<h2>Mottagningar utan öppen webbokning</h2>\n");
        t_head(&t, none_cols, NCOLS(none_cols));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "without_web_booking"))
            t_row(&t, none_cols, NCOLS(none_cols), it, NULL);
        t_end(&t);
        return;
    }
    if (cJSON_GetObjectItem(doc, "groups") != NULL) {
        t_head(&t, g_group_cols, NCOLS(g_group_cols));
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "groups"))
            t_row(&t, g_group_cols, NCOLS(g_group_cols), it, NULL);
        t_row(&t, g_group_cols, NCOLS(g_group_cols),
              cJSON_GetObjectItem(doc, "total"), NULL);
        t_end(&t);
        return;
    }
    t_head(&t, g_clinic_cols, NCOLS(g_clinic_cols));
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(doc, "clinics"))
        t_row(&t, g_clinic_cols, NCOLS(g_clinic_cols), it, NULL);
    /* The total row: its key goes in the first column. */
    all = cJSON_Duplicate(cJSON_GetObjectItem(doc, "total"), 1);
    if (all == NULL || cJSON_AddStringToObject(all, "hsa_id", "all") == NULL)
        b->oom = 1;
    else
        t_row(&t, g_clinic_cols, NCOLS(g_clinic_cols), all, NULL);
    cJSON_Delete(all);
    t_end(&t);
}

int report_render(const cJSON *doc, enum report_format fmt, char **out,
                  size_t *len, struct sf_error *err)
{
    const cJSON *kind = cJSON_GetObjectItem(doc, "report");
    struct sbuf b = { 0 };
    int web;
    char *s;

    *out = NULL;
    *len = 0;
    if (!cJSON_IsString(kind)) {
        sf_error_set(err, SF_ERR_INTERNAL, "report_render: not a report");
        return -1;
    }
    web = strcmp(kind->valuestring, "web-booking") == 0;
    if (fmt == REPORT_FMT_JSON) {
        if ((s = cJSON_Print(doc)) == NULL)
            goto oom;
        sbuf_str(&b, s);
        sbuf_str(&b, "\n");
        free(s);
    } else if (fmt == REPORT_FMT_CSV) {
        render_tables(&b, doc, fmt, web);
    } else {
        const cJSON *f = cJSON_GetObjectItem(doc, "from");
        const cJSON *t = cJSON_GetObjectItem(doc, "to");
        const cJSON *g = cJSON_GetObjectItem(doc, "generated_at");

        sbuf_str(&b, "<!doctype html>\n<html lang=\"sv\"><head><meta "
                     "charset=\"utf-8\"><meta name=\"viewport\" content=\""
                     "width=device-width,initial-scale=1\"><link rel=\"icon\" "
                     "href=\"data:,\"><title>slotfeed: ");
        sbuf_html(&b, kind->valuestring);
        sbuf_str(&b, "</title><style>body{font-family:sans-serif}table{"
                     "border-collapse:collapse}td,th{border:1px solid #ccc;"
                     "padding:2px 6px;text-align:right}</style></head><body>\n"
                     "<main><h1>");
        sbuf_str(&b, web ? "Webbokning" : "Vårdgaranti (3 dagar)");
        sbuf_str(&b, "</h1>\n<p>");
        sbuf_html(&b, cJSON_IsString(f) ? f->valuestring : "");
        sbuf_str(&b, " &ndash; ");
        sbuf_html(&b, cJSON_IsString(t) ? t->valuestring : "");
        sbuf_str(&b, ", beräknad ");
        sbuf_html(&b, cJSON_IsString(g) ? g->valuestring : "");
        sbuf_str(&b, ". <a href=\"/overview#sa-raknas\">Så räknas "
                     "siffrorna</a>.</p>\n");
        render_tables(&b, doc, fmt, web);
        /* One main landmark: a screen reader's "skip to content". */
        sbuf_str(&b, "</main></body></html>\n");
    }
    if (b.oom || b.p == NULL)
        goto oom;
    *out = b.p;
    *len = b.len;
    return 0;
oom:
    sbuf_free(&b);
    sf_error_set(err, SF_ERR_NOMEM, "report: out of memory");
    return -1;
}
