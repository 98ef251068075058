/*
 * nearest.c - GET /v1/nearest and the clinicians' page GET /narmast
 * (nearest.h). The page is rendered from the JSON document, never from
 * the snapshot directly, so what a clinician prints and what a referral
 * system reads are the same figures.
 */
#include "slotfeed/nearest.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "slotfeed/sbuf.h"

/* --- parameters ---------------------------------------------------------- */

static int resolve(const struct geo_table *geo, const char *v,
                   struct nearest_query *q, const char *name,
                   struct sf_error *err)
{
    const char *label = NULL;

    if (geo == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "%s is not available", name);
        return -1;
    }
    if (geo_resolve(geo, v, &q->pt, &label, err) != 0)
        return -1;
    q->has_place = true;
    q->place = label != NULL ? label : "";
    return 0;
}

static void query_init(struct nearest_query *q)
{
    memset(q, 0, sizeof(*q));
    q->limit = NEAREST_LIMIT_DEFAULT;
}

int nearest_parse_api(const struct api_params *p, const struct geo_table *geo,
                      struct nearest_query *q, struct sf_error *err)
{
    bool seen_near = false, seen_limit = false;
    size_t i;

    query_init(q);
    for (i = 0; i < p->n; i++) {
        const char *n = p->v[i].name, *v = p->v[i].value;
        char *end;
        long l;

        if (strcmp(n, "near") == 0) {
            if (seen_near) {
                sf_error_set(err, SF_ERR_CONFIG, "near: given twice");
                return -1;
            }
            seen_near = true;
            if (resolve(geo, v, q, "near", err) != 0)
                return -1;
        } else if (strcmp(n, "limit") == 0) {
            if (seen_limit) {
                sf_error_set(err, SF_ERR_CONFIG, "limit: given twice");
                return -1;
            }
            seen_limit = true;
            l = strtol(v, &end, 10);
            if (*v < '0' || *v > '9' || *end != '\0' || l < 1 ||
                l > NEAREST_LIMIT_MAX) {
                sf_error_set(err, SF_ERR_CONFIG,
                             "limit: \"%.20s\" is not "
                             "a number in 1..%d",
                             v, NEAREST_LIMIT_MAX);
                return -1;
            }
            q->limit = (int)l;
        } else {
            sf_error_set(err, SF_ERR_CONFIG,
                         "unknown parameter \"%.32s\" "
                         "(known: near, limit)",
                         n);
            return -1;
        }
    }
    if (!seen_near) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "near: required (a place or "
                     "postcode, e.g. near=Molkom or near=652+24)");
        return -1;
    }
    return 0;
}

int nearest_parse_page(const struct api_params *p, const struct geo_table *geo,
                       struct nearest_query *q, struct sf_error *err)
{
    const char *v = NULL;
    size_t i;

    query_init(q);
    for (i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, "nara") != 0) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "Okänd parameter \"%.32s\" "
                         "(sidan tar bara nara).",
                         p->v[i].name);
            return -1;
        }
        if (v != NULL) {
            sf_error_set(err, SF_ERR_CONFIG,
                         "Ange bara en ort eller ett "
                         "postnummer.");
            return -1;
        }
        v = p->v[i].value;
        snprintf(q->typed, sizeof(q->typed), "%s", v);
    }
    if (v == NULL || v[strspn(v, " \t")] == '\0')
        return 0;
    if (geo == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "Sökning på ort finns inte i "
                     "den här installationen.");
        return -1;
    }
    if (resolve(geo, v, q, "nara", err) != 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "Vi känner inte igen \"%.60s\" "
                     "som ort eller postnummer i regionen.",
                     v);
        return -1;
    }
    return 0;
}

/* --- the document -------------------------------------------------------- */

/* One list: the first q->limit rows (of n, sorted) that pass. */
static void add_list(struct sbuf *b, const struct feed_snapshot *s,
                     const struct api_near_row *rows, size_t n, int limit,
                     bool within_only)
{
    size_t i;
    int k = 0;

    sbuf_str(b, "[");
    for (i = 0; i < n && k < limit; i++) {
        const struct feed_clinic_info *in = &s->info[rows[i].i];

        if (within_only && in->within != 1)
            continue;
        if (k++ > 0)
            sbuf_str(b, ",");
        /* The object as all.json has it, distance_km before its '}'. */
        assert(in->obj_len >= 2 && in->obj[in->obj_len - 1] == '}');
        sbuf_add(b, in->obj, in->obj_len - 1);
        sbuf_printf(b, ",\"distance_km\":%ld.%ld}", rows[i].deci_km / 10,
                    rows[i].deci_km % 10);
    }
    sbuf_str(b, "]");
}

int nearest_build(const struct feed_snapshot *s, const struct geo_table *geo,
                  const struct nearest_query *q, struct doc *doc)
{
    struct api_near_row *rows = NULL;
    struct sbuf b = { 0 };
    cJSON *near = NULL;
    char *nj = NULL;
    size_t n = 0, i;
    int rc = -1;

    memset(doc, 0, sizeof(*doc));
    if (s->nclinics > 0 && (rows = calloc(s->nclinics, sizeof(*rows))) == NULL)
        goto out;
    /* Clinics whose place is unknown have no distance: not listed. */
    for (i = 0; i < s->nclinics; i++) {
        api_near_row(&rows[n], s, i, geo, q->pt);
        if (rows[n].has)
            n++;
    }
    api_near_sort(rows, n);
    if ((near = cJSON_CreateObject()) == NULL ||
        cJSON_AddStringToObject(near, "place", q->place) == NULL ||
        cJSON_AddNumberToObject(near, "lat", q->pt.lat) == NULL ||
        cJSON_AddNumberToObject(near, "lon", q->pt.lon) == NULL ||
        (nj = cJSON_PrintUnformatted(near)) == NULL)
        goto out;
    sbuf_add(&b, s->head, s->head_len);
    sbuf_printf(&b, ",\"near\":%s,\"limit\":%d,\"nearest\":", nj, q->limit);
    add_list(&b, s, rows, n, q->limit, false);
    sbuf_str(&b, ",\"nearest_within_guarantee\":");
    add_list(&b, s, rows, n, q->limit, true);
    sbuf_str(&b, "}");
    if (doc_take_sbuf(doc, &b) != 0)
        goto out;
    rc = 0;
out:
    sbuf_free(&b);
    cJSON_Delete(near);
    free(nj);
    free(rows);
    return rc;
}

/* --- the page ------------------------------------------------------------ */

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool web_url(const char *u)
{
    return u != NULL &&
           (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
}

/* "2026-03-31T10:00:00+02:00" -> "tisdag 31 mars kl. 10.00" (the local
 * time the feed already gives). Anything else is shown escaped as is. */
static void when(struct sbuf *b, const char *t)
{
    static const char *const months[] = { "januari", "februari", "mars",
                                          "april",   "maj",      "juni",
                                          "juli",    "augusti",  "september",
                                          "oktober", "november", "december" };
    static const char *const wdays[] = { "söndag", "måndag",  "tisdag",
                                         "onsdag", "torsdag", "fredag",
                                         "lördag" };
    static const int moff[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
    int y, m, d, hh, mm, yy;

    if (t == NULL ||
        sscanf(t, "%4d-%2d-%2dT%2d:%2d", &y, &m, &d, &hh, &mm) != 5 || m < 1 ||
        m > 12 || d < 1 || d > 31) {
        sbuf_html(b, t);
        return;
    }
    yy = m < 3 ? y - 1 : y; /* Sakamoto's weekday */
    sbuf_printf(b, "%s %d %s kl. %02d.%02d",
                wdays[(yy + yy / 4 - yy / 100 + yy / 400 + moff[m - 1] + d) %
                      7],
                d, months[m - 1], hh, mm);
}

/* The phone number as a tel: target: digits and a leading '+'. */
static void tel_href(struct sbuf *b, const char *phone)
{
    const char *p;

    sbuf_str(b, "tel:");
    for (p = phone; *p; p++)
        if ((*p >= '0' && *p <= '9') || (*p == '+' && p == phone))
            sbuf_add(b, p, 1);
}

static void clinic_state_line(struct sbuf *b, const cJSON *c, int days)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(c, "within_guarantee");
    const char *web = str_of(c, "web_booking"), *ff = str_of(c, "first_free");

    sbuf_str(b, "<p class=\"state\">");
    if (web != NULL && strcmp(web, "none") == 0) {
        sbuf_str(b, "Ingen webbokning: ring mottagningen för tid.");
    } else if (cJSON_IsTrue(w) && ff != NULL) {
        sbuf_printf(b,
                    "<strong>Ledig nybesökstid inom %d dagar:</strong> "
                    "första ",
                    days);
        when(b, ff);
        sbuf_str(b, ".");
    } else if (cJSON_IsFalse(w) && ff != NULL) {
        sbuf_str(b, "Första lediga nybesökstid: ");
        when(b, ff);
        sbuf_printf(b, " (senare än %d dagar).", days);
    } else if (cJSON_IsFalse(w)) {
        sbuf_str(b, "Inga lediga nybesökstider i webbokningen just nu.");
    } else {
        sbuf_str(b, "Lediga tider kunde inte hämtas just nu: ring "
                    "mottagningen.");
    }
    sbuf_str(b, "</p>");
}

static void clinic_item(struct sbuf *b, const cJSON *c, int days)
{
    const char *name = str_of(c, "name"), *addr = str_of(c, "address");
    const char *phone = str_of(c, "phone"), *site = str_of(c, "website");
    const char *book = str_of(c, "booking_url"),
               *web = str_of(c, "web_booking");
    const char *muni = str_of(c, "municipality");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "distance_km");
    char km[32] = "", *dot;

    if (cJSON_IsNumber(d)) {
        snprintf(km, sizeof(km), "%.1f", d->valuedouble);
        if ((dot = strchr(km, '.')) != NULL)
            *dot = ','; /* Swedish decimal comma */
    }
    sbuf_str(b, "<li><h3>");
    sbuf_html(b, name);
    sbuf_printf(b, "</h3><p class=\"dist\">%s km", km);
    if (muni != NULL) {
        sbuf_str(b, " &middot; ");
        sbuf_html(b, muni);
        sbuf_str(b, " kommun");
    }
    sbuf_str(b, "</p><p class=\"addr\">");
    if (addr != NULL)
        sbuf_html(b, addr);
    else
        sbuf_str(b, "Adress saknas");
    sbuf_str(b, "</p><p class=\"contact\">");
    if (phone != NULL) {
        sbuf_str(b, "Telefon <a href=\"");
        tel_href(b, phone);
        sbuf_str(b, "\">");
        sbuf_html(b, phone);
        sbuf_str(b, "</a>");
    } else {
        sbuf_str(b, "Telefon saknas");
    }
    if (web_url(site)) {
        sbuf_str(b, " &middot; <a href=\"");
        sbuf_html(b, site);
        sbuf_str(b, "\">Webbplats</a>");
    }
    if (web_url(book) && web != NULL && strcmp(web, "none") != 0) {
        sbuf_str(b, " &middot; <a href=\"");
        sbuf_html(b, book);
        sbuf_str(b, "\">Webbokning</a>");
    }
    sbuf_str(b, "</p>");
    clinic_state_line(b, c, days);
    sbuf_str(b, "</li>");
}

static void clinic_list(struct sbuf *b, const cJSON *doc, const char *key,
                        const char *hid, const char *title, const char *empty,
                        int days)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, key), *c;

    sbuf_printf(b, "<section aria-labelledby=\"%s\"><h2 id=\"%s\">", hid, hid);
    sbuf_str(b, title);
    sbuf_str(b, "</h2>");
    if (cJSON_GetArraySize(a) == 0) {
        sbuf_printf(b, "<p>%s</p></section>", empty);
        return;
    }
    sbuf_str(b, "<ol class=\"clinics\">");
    cJSON_ArrayForEach(c, a)
        clinic_item(b, c, days);
    sbuf_str(b, "</ol></section>");
}

static const char page_style[] =
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:52rem;"
    "padding:1rem;line-height:1.45;color:#1a1a1a}"
    "h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;"
    "margin:1.2rem 0 .4rem}h3{font-size:1.05rem;margin:0}"
    "form{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;"
    "margin:1rem 0}label{display:block;font-weight:600}"
    "input{font-size:1rem;padding:.55rem;min-height:44px;"
    "box-sizing:border-box;border:1px solid #555;border-radius:4px}"
    "button{font-size:1rem;min-height:44px;padding:.5rem 1.2rem;"
    "background:#005a9c;color:#fff;border:0;border-radius:4px}"
    "ol.clinics{padding-left:1.4rem}ol.clinics li{margin:0 0 .9rem}"
    "ol.clinics p{margin:.1rem 0}a{color:#005a9c}"
    ".contact a{display:inline-block;min-height:44px;line-height:44px}"
    ".alert{border-left:4px solid #b00020;padding:.4rem .8rem;"
    "background:#fdecee}.note{color:#444;font-size:.9rem}"
    "@media print{form,.noprint{display:none}body{max-width:none;"
    "padding:0;font-size:10.5pt}a{color:#000;text-decoration:none}"
    ".contact a{min-height:0;line-height:inherit}"
    "h1{font-size:15pt}h2{font-size:12.5pt;margin:.6rem 0 .2rem}"
    "ol.clinics li{margin:0 0 .4rem;break-inside:avoid}}";

static void page_form(struct sbuf *b, const struct nearest_query *q)
{
    sbuf_str(b, "<form method=\"get\" action=\"" NEAREST_PAGE_PATH
                "\" role=\"search\"><div><label for=\"nara\">Patientens "
                "postnummer eller ort</label><input id=\"nara\" name=\"nara\" "
                "type=\"text\" maxlength=\"64\" value=\"");
    sbuf_html(b, q->typed);
    sbuf_str(b, "\" aria-describedby=\"nara-hint\"><div id=\"nara-hint\" "
                "class=\"note\">Till exempel 652 24, Molkom eller Skoghall."
                "</div></div><button type=\"submit\">Visa närmaste"
                "</button></form>");
}

static void page_results(struct sbuf *b, const cJSON *doc)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(doc, "guarantee");
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(g, "days");
    const cJSON *near = cJSON_GetObjectItemCaseSensitive(doc, "near");
    int days = cJSON_IsNumber(dv) ? dv->valueint : 3;
    char title[160];

    sbuf_str(b, "<p class=\"note\" role=\"status\">Närmast ");
    sbuf_html(b, str_of(near, "place"));
    sbuf_str(b, ", räknat fågelvägen från orten. Uppgifterna gäller ");
    when(b, str_of(doc, "generated_at"));
    sbuf_str(b, ".</p>");
    clinic_list(b, doc, "nearest", "h-nearest", "Närmaste mottagningar",
                "Ingen mottagning med känd ort.", days);
    snprintf(title, sizeof(title),
             "Närmaste med ledig nybesökstid inom "
             "%d dagar (vårdgarantin)",
             days);
    clinic_list(b, doc, "nearest_within_guarantee", "h-within", title,
                "Ingen mottagning har en ledig nybesökstid inom "
                "vårdgarantin just nu. Ring den närmaste mottagningen.",
                days);
}

char *nearest_page(const struct nearest_query *q, const char *json,
                   size_t json_len, const char *errmsg, size_t *len)
{
    struct sbuf b = { 0 };
    cJSON *doc = NULL;

    if (json != NULL && (doc = cJSON_ParseWithLength(json, json_len)) == NULL)
        return NULL;
    sbuf_str(&b, "<!doctype html><html lang=\"sv\"><head>"
                 "<meta charset=\"utf-8\"><meta name=\"viewport\" "
                 "content=\"width=device-width,initial-scale=1\">"
                 "<link rel=\"icon\" href=\"data:,\"><title>"
                 "Närmaste fysioterapimottagning för remiss</title><style>");
    sbuf_str(&b, page_style);
    sbuf_str(&b, "</style></head><body><header><h1>Var kan patienten "
                 "få tid?</h1><p>För remittenter: närmaste fysioterapi"
                 "mottagning och närmaste med ledig nybesökstid inom "
                 "vårdgarantin, med telefon och adress.</p></header><main>");
    page_form(&b, q);
    if (errmsg != NULL) {
        sbuf_str(&b, "<p class=\"alert\" role=\"alert\">");
        sbuf_html(&b, errmsg);
        sbuf_str(&b, "</p>");
    }
    if (doc != NULL)
        page_results(&b, doc);
    sbuf_str(&b, "</main><footer class=\"note\"><p>Lediga tider hämtas "
                 "från mottagningarnas bokningssystem; mottagningen bokar. "
                 "Avstånd är ungefärliga.</p><p class=\"noprint\">"
                 "<a href=\"/\">Sidan för patienter</a></p></footer>"
                 "</body></html>\n");
    cJSON_Delete(doc);
    if (b.oom) {
        sbuf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
