/*
 * overview.c - the overview "/overview" filled on the server (overview.h).
 *
 * The numbers are counted as web/overview.js counts them (category,
 * isProblem, groupBy), from the snapshot's all.json read back with cJSON,
 * so the no-script page and the script's redraw show the same tables.
 * The shell's elements are filled in document order whatever order the
 * shell puts them in, so edits of overview.html need no change here as
 * long as the ids stay.
 */
#include "slotfeed/overview.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/page.h"
#include "slotfeed/sbuf.h"

/* One row of a count table (overview.js emptyCounts/add). */
struct ocount {
    int clinics, web, none, within, problems;
};

struct ogroup {
    const char *name; /* borrowed from the parsed feed */
    struct ocount n;
};

/* One rendering. */
struct octx {
    struct sbuf *b;
    const cJSON *doc, *clinics;
    struct ocount total, ops[3]; /* private, region, other */
    struct ogroup *muns;
    size_t nmuns;
    char glabel[40]; /* "inom 3 dagar" */
};

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring
                                                          : NULL;
}

static bool jis(const cJSON *o, const char *k, const char *want)
{
    const char *v = jstr(o, k);

    return v != NULL && strcmp(v, want) == 0;
}

/* overview.js isProblem: stale, no data, or the system unreachable. */
static bool is_problem(const cJSON *c)
{
    return !jis(c, "web_booking", "none") &&
           (jis(c, "status", "stale") || jis(c, "status", "error") ||
            jis(c, "web_booking", "unreachable") ||
            jis(c, "web_booking", "unknown"));
}

static void count_add(struct ocount *n, const cJSON *c)
{
    n->clinics++;
    if (jis(c, "web_booking", "none"))
        n->none++;
    else
        n->web++;
    if (!jis(c, "web_booking", "none") &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "within_guarantee")))
        n->within++;
    if (is_problem(c))
        n->problems++;
}

static int op_index(const cJSON *c)
{
    return jis(c, "operator", "private")  ? 0
           : jis(c, "operator", "region") ? 1
                                          : 2;
}

static const char *op_short(const cJSON *c)
{
    static const char *const text[3] = { "privat", "regionen", "–" };

    return text[op_index(c)];
}

static int by_group_name(const void *a, const void *b)
{
    const struct ogroup *x = a, *y = b;

    return page_name_cmp(x->name, y->name);
}

/* Totals, operators and municipalities (sorted as Swedish sorts). */
static int count_all(struct octx *c)
{
    size_t cap = (size_t)cJSON_GetArraySize(c->clinics) + 1, i;
    const cJSON *o;

    if ((c->muns = calloc(cap, sizeof(*c->muns))) == NULL)
        return -1;
    cJSON_ArrayForEach(o, c->clinics) {
        const char *mun = jstr(o, "municipality");

        if (mun == NULL)
            mun = "(ingen kommun)";
        count_add(&c->total, o);
        count_add(&c->ops[op_index(o)], o);
        for (i = 0; i < c->nmuns && strcmp(c->muns[i].name, mun) != 0; i++)
            ;
        if (i == c->nmuns)
            c->muns[c->nmuns++].name = mun;
        count_add(&c->muns[i].n, o);
    }
    qsort(c->muns, c->nmuns, sizeof(*c->muns), by_group_name);
    return 0;
}

/* Math.round(100 * part / whole) + ' %', or '–' of nothing. */
static void pct(struct sbuf *b, int part, int whole)
{
    if (whole <= 0)
        sbuf_str(b, "–");
    else
        sbuf_printf(b, "%d %%", (200 * part + whole) / (2 * whole));
}

/* --- the filled elements --------------------------------------------------- */

static void fill_region(struct octx *c)
{
    const char *r = jstr(c->doc, "region");

    sbuf_html(c->b, r != NULL ? r : "Vårdval fysioterapi");
}

/* The script says "för 2 min sedan"; a cached page gives the time. */
static void fill_freshness(struct octx *c)
{
    const char *g = jstr(c->doc, "generated_at");
    const char *dl =
        jstr(cJSON_GetObjectItemCaseSensitive(c->doc, "guarantee"), "deadline");

    sbuf_str(c->b, "Uppdaterad <time datetime=\"");
    sbuf_html(c->b, g);
    sbuf_str(c->b, "\">");
    page_instant(c->b, PAGE_SV, g);
    sbuf_str(c->b, "</time>");
    if (dl != NULL) {
        sbuf_str(c->b, " · vårdgarantin räknas till och med ");
        page_weekday_date(c->b, PAGE_SV, dl);
    }
}

static void figure(struct octx *c, const char *id, int value, const char *label,
                   const char *tail)
{
    sbuf_printf(c->b,
                "<li class=\"figure\" id=\"%s\"><span class=\""
                "figure-value\">%d</span><span class=\"figure-label\">%s",
                id, value, label);
    sbuf_str(c->b, tail);
    sbuf_str(c->b, "</span></li>");
}

static void fill_figures(struct octx *c)
{
    const struct ocount *t = &c->total;
    struct sbuf web = { 0 }, within = { 0 };

    sbuf_str(&web, "har webbokning (");
    pct(&web, t->web, t->clinics);
    sbuf_printf(&within, "har en ledig tid %s just nu", c->glabel);
    figure(c, "fig-clinics", t->clinics, "mottagningar i vårdvalet", "");
    if (web.oom || within.oom)
        c->b->oom = 1;
    else {
        figure(c, "fig-web", t->web, web.p, ")");
        figure(c, "fig-within", t->within, within.p, "");
    }
    figure(c, "fig-problems", t->problems,
           "tidböcker inaktuella eller ej nåbara", "");
    figure(c, "fig-none", t->none, "saknar webbokning", "");
    sbuf_free(&web);
    sbuf_free(&within);
}

static void count_row(struct octx *c, const char *name, const struct ocount *n)
{
    sbuf_str(c->b, "<tr><th scope=\"row\">");
    sbuf_html(c->b, name);
    sbuf_printf(c->b,
                "</th><td class=\"num\">%d</td><td class=\"num\">%d"
                "</td><td class=\"num\">",
                n->clinics, n->web);
    pct(c->b, n->web, n->clinics);
    sbuf_printf(c->b,
                "</td><td class=\"num\">%d</td><td class=\"num\">%d"
                "</td><td class=\"num\">%d</td></tr>",
                n->within, n->problems, n->none);
}

/* overview.js countTable: header, the rows, "Totalt" in the foot. */
static void count_table_head(struct octx *c, const char *caption,
                             const char *first)
{
    static const char *const heads[] = {
        "Mottagningar", "Med webbokning",         "Andel med webbokning",
        NULL,           "Inaktuella / ej nåbara", "Utan webbokning"
    };
    size_t i;

    sbuf_printf(c->b,
                "<table class=\"data-table\"><caption>%s</caption>"
                "<thead><tr><th scope=\"col\">%s</th>",
                caption, first);
    for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        if (heads[i] != NULL)
            sbuf_printf(c->b, "<th scope=\"col\" class=\"num\">%s</th>",
                        heads[i]);
        else
            sbuf_printf(c->b,
                        "<th scope=\"col\" class=\"num\">Ledig tid %s"
                        "</th>",
                        c->glabel);
    }
    sbuf_str(c->b, "</tr></thead><tbody>");
}

static void count_table_foot(struct octx *c)
{
    sbuf_str(c->b, "</tbody><tfoot>");
    count_row(c, "Totalt", &c->total);
    sbuf_str(c->b, "</tfoot></table>");
}

static void fill_operator(struct octx *c)
{
    static const char *const names[3] = { "Privata vårdgivare",
                                          "Regionens mottagningar",
                                          "Okänd driftform" };
    size_t i;

    count_table_head(c, "Webbokning per driftform", "Driftform");
    for (i = 0; i < 3; i++)
        if (c->ops[i].clinics > 0)
            count_row(c, names[i], &c->ops[i]);
    count_table_foot(c);
}

static void fill_municipality(struct octx *c)
{
    size_t i;

    count_table_head(c, "Webbokning per kommun", "Kommun");
    for (i = 0; i < c->nmuns; i++)
        count_row(c, c->muns[i].name, &c->muns[i].n);
    count_table_foot(c);
}

/* "<table ...><caption>3 mottagningar</caption><thead>...": the head of
 * a clinic list of n rows with columns cols (NULL-terminated). */
static void list_head(struct octx *c, const char *id, int n,
                      const char *const *cols)
{
    sbuf_printf(c->b,
                "<table class=\"data-table\" id=\"%s\"><caption>%d %s"
                "</caption><thead><tr>",
                id, n, n == 1 ? "mottagning" : "mottagningar");
    for (; *cols != NULL; cols++)
        sbuf_printf(c->b, "<th scope=\"col\">%s</th>", *cols);
    sbuf_str(c->b, "</tr></thead><tbody>");
}

/* "<tr data-id=..><th>name</th><td>kommun</td><td>driftform</td>". */
static void list_row_start(struct octx *c, const cJSON *o)
{
    sbuf_str(c->b, "<tr data-id=\"");
    sbuf_html(c->b, jstr(o, "id"));
    sbuf_str(c->b, "\"><th scope=\"row\">");
    sbuf_html(c->b, jstr(o, "name"));
    sbuf_str(c->b, "</th><td>");
    sbuf_html(c->b, jstr(o, "municipality"));
    sbuf_printf(c->b, "</td><td>%s</td>", op_short(o));
}

/* Text of a value in a {value, text} table, else the value itself. */
static const char *lookup(const char *const (*t)[2], const char *v,
                          const char *dflt)
{
    for (; v != NULL && (*t)[0] != NULL; t++)
        if (strcmp((*t)[0], v) == 0)
            return (*t)[1];
    return v != NULL ? v : dflt;
}

static const char *const WB_TEXT[][2] = { { "open", "svarar" },
                                          { "none", "ingen" },
                                          { "unreachable", "ej nåbar" },
                                          { "unknown", "okänd" },
                                          { NULL, NULL } };
static const char *const STATUS_TEXT[][2] = { { "ok", "aktuell" },
                                              { "stale", "inaktuell" },
                                              { "error", "inga uppgifter" },
                                              { NULL, NULL } };
static const char *const ERR_TEXT[][2] = {
    { "transport", "kunde inte ansluta" },
    { "timeout", "svarade inte i tid" },
    { "too_large", "för stort svar" },
    { "http", "felsvar" },
    { "parse", "oläsbart svar" },
    { "hostile", "otillåtet svar" },
    { "fault", "fel i bokningssystemet" },
    { "not_connected", "inte ansluten" },
    { "implausible", "misstänkt tomt svar" },
    { "config", "fel i inställningarna" },
    { "nomem", "internt fel" },
    { "internal", "internt fel" },
    { NULL, NULL }
};

static void pill(struct octx *c, const char *v, const char *const (*t)[2])
{
    sbuf_str(c->b, "<td><span class=\"status-pill status-");
    sbuf_html(c->b, v);
    sbuf_str(c->b, "\">");
    sbuf_html(c->b, lookup(t, v, "null"));
    sbuf_str(c->b, "</span></td>");
}

static void problem_row(struct octx *c, const cJSON *o)
{
    const char *valid = jstr(o, "valid_at");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    const char *cls = jstr(err, "class");

    list_row_start(c, o);
    pill(c, jstr(o, "web_booking"), WB_TEXT);
    pill(c, jstr(o, "status"), STATUS_TEXT);
    sbuf_str(c->b, "<td>");
    if (valid != NULL) {
        sbuf_str(c->b, "<time datetime=\"");
        sbuf_html(c->b, valid);
        sbuf_str(c->b, "\">");
        page_instant(c->b, PAGE_SV, valid);
        sbuf_str(c->b, "</time>");
    } else {
        sbuf_str(c->b, "aldrig");
    }
    sbuf_str(c->b, "</td><td class=\"error-text\">");
    if (cJSON_IsObject(err)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");

        sbuf_html(c->b, cls != NULL ? lookup(ERR_TEXT, cls, "fel") : "fel");
        sbuf_str(c->b, " (");
        sbuf_html(c->b, cJSON_IsString(m) ? m->valuestring : "");
        sbuf_str(c->b, ")");
    } else {
        sbuf_str(c->b, "–");
    }
    sbuf_str(c->b, "</td></tr>");
}

static void fill_problems(struct octx *c)
{
    static const char *const cols[] = { "Mottagning",  "Kommun",
                                        "Driftform",   "Webbokning",
                                        "Uppgifter",   "Senast bekräftade",
                                        "Senaste fel", NULL };
    const cJSON *o;

    if (c->total.problems == 0) {
        sbuf_str(c->b, "<p class=\"empty\">Alla tidböcker med webbokning "
                       "svarar och har aktuella uppgifter.</p>");
        return;
    }
    list_head(c, "problems", c->total.problems, cols);
    cJSON_ArrayForEach(o, c->clinics)
        if (is_problem(o))
            problem_row(c, o);
    sbuf_str(c->b, "</tbody></table>");
}

static void none_row(struct octx *c, const cJSON *o)
{
    const char *web = page_safe_url(jstr(o, "website"));

    list_row_start(c, o);
    sbuf_str(c->b, "<td>");
    sbuf_html(c->b, jstr(o, "phone") != NULL ? jstr(o, "phone") : "–");
    sbuf_str(c->b, "</td><td>");
    if (web != NULL) {
        sbuf_str(c->b, "<a href=\"");
        sbuf_html(c->b, web);
        sbuf_str(c->b, "\" rel=\"noopener noreferrer\">");
        sbuf_html(c->b, web);
        sbuf_str(c->b, "</a>");
    } else {
        sbuf_str(c->b, "–");
    }
    sbuf_str(c->b, "</td></tr>");
}

static void fill_none(struct octx *c)
{
    static const char *const cols[] = { "Mottagning", "Kommun",    "Driftform",
                                        "Telefon",    "Webbplats", NULL };
    const cJSON *o;

    if (c->total.none == 0) {
        sbuf_str(c->b, "<p class=\"empty\">Alla mottagningar har "
                       "webbokning.</p>");
        return;
    }
    list_head(c, "none", c->total.none, cols);
    cJSON_ArrayForEach(o, c->clinics)
        if (jis(o, "web_booking", "none"))
            none_row(c, o);
    sbuf_str(c->b, "</tbody></table>");
}

/* --- the shell ---------------------------------------------------------- */

struct ofill {
    const char *attr; /* ' id="..."' as the shell writes it */
    void (*fill)(struct octx *c);
    size_t from, to; /* content to replace; from == 0: absent */
};

static int by_from(const void *a, const void *b)
{
    const struct ofill *x = a, *y = b;

    return x->from < y->from ? -1 : x->from > y->from;
}

/* Where the element with attribute f->attr has its content: after the
 * end of its start tag, up to the first closing tag. */
static void locate(const char *t, size_t tlen, struct ofill *f)
{
    size_t n = strlen(f->attr), i;

    f->from = f->to = 0;
    for (i = 0; i + n <= tlen && memcmp(t + i, f->attr, n) != 0; i++)
        ;
    if (i + n > tlen)
        return;
    for (i += n; i < tlen && t[i] != '>' && t[i] != '<'; i++)
        ;
    if (i >= tlen || t[i] != '>')
        return;
    f->from = ++i;
    for (; i + 1 < tlen && !(t[i] == '<' && t[i + 1] == '/'); i++)
        ;
    if (i + 1 >= tlen)
        f->from = 0;
    f->to = i;
}

static void splice(struct octx *c, const char *t, size_t tlen)
{
    struct ofill f[] = {
        { " id=\"region-name\"", fill_region, 0, 0 },
        { " id=\"freshness\"", fill_freshness, 0, 0 },
        { " id=\"figures\"", fill_figures, 0, 0 },
        { " id=\"table-operator\"", fill_operator, 0, 0 },
        { " id=\"table-municipality\"", fill_municipality, 0, 0 },
        { " id=\"table-problems\"", fill_problems, 0, 0 },
        { " id=\"table-none\"", fill_none, 0, 0 },
    };
    size_t n = sizeof(f) / sizeof(f[0]), i, at = 0;

    for (i = 0; i < n; i++)
        locate(t, tlen, &f[i]);
    qsort(f, n, sizeof(f[0]), by_from);
    for (i = 0; i < n; i++) {
        if (f[i].from == 0 || f[i].from < at)
            continue; /* absent, or inside another one */
        sbuf_add(c->b, t + at, f[i].from - at);
        f[i].fill(c);
        at = f[i].to;
    }
    sbuf_add(c->b, t + at, tlen - at);
}

int overview_render(const struct feed_snapshot *s, const char *tmpl,
                    size_t tlen, struct doc *out)
{
    struct octx c = { 0 };
    struct sbuf b = { 0 };
    cJSON *doc = NULL;
    const cJSON *g, *days;
    const char *text;
    int rc = -1, copy = 0;

    memset(out, 0, sizeof(*out));
    c.b = &b;
    /* all.json is kept as pieces (feed.h): parsed from a copy. */
    if ((text = doc_flatten(&s->all, &copy)) == NULL)
        goto out;
    doc = cJSON_ParseWithLength(text, s->all.len);
    doc_flatten_free(text, copy);
    if (doc == NULL)
        goto out;
    c.doc = doc;
    c.clinics = cJSON_GetObjectItemCaseSensitive(doc, "clinics");
    g = cJSON_GetObjectItemCaseSensitive(doc, "guarantee");
    days = cJSON_GetObjectItemCaseSensitive(g, "days");
    snprintf(c.glabel, sizeof(c.glabel), "inom %d %s",
             cJSON_IsNumber(days) ? days->valueint : 3,
             jis(g, "counting", "working") ? "vardagar" : "dagar");
    if (!cJSON_IsArray(c.clinics) || count_all(&c) != 0)
        goto out;
    splice(&c, tmpl, tlen);
    if (doc_take_sbuf(out, &b) != 0)
        goto out;
    rc = 0;
out:
    sbuf_free(&b);
    free(c.muns);
    cJSON_Delete(doc);
    return rc;
}

/* --- cache ----------------------------------------------------------------- */

struct api_entry *overview_cache_get(struct api_cache *c,
                                     const struct feed_snapshot *s,
                                     const char *tmpl, size_t tlen)
{
    struct api_entry *e = api_cache_find(c, s->serial, "overview");

    if (e != NULL)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->refs = 1;
    e->changed_at = s->changed_at;
    if ((e->key = strdup("overview")) == NULL ||
        overview_render(s, tmpl, tlen, &e->plain) != 0 ||
        doc_gzip(e->plain.json, e->plain.len, e->plain.etag, &e->gz) != 0) {
        api_entry_unref(e);
        return NULL;
    }
    api_cache_put(c, e);
    return e;
}
