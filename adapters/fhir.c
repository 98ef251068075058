/*
 * fhir.c - FHIR R4 Slot search adapter ("fhir-slot").
 *
 * One poll: a Slot search for the clinic's actor over the poll window,
 * then the Bundle's next links, page by page, until there is none or the
 * page cap is reached. The request and the paging rules are in fhir.h;
 * what each error class means for the feed is in docs/adapters.md.
 *
 * Paging safety: a next link is followed only when it stays on the scheme,
 * host and port of booking.url, so a hostile or misconfigured server
 * cannot point us (and our bearer token) at another host.
 */
#include "slotfeed/fhir.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fhir_json.h"
#include "slotfeed/clock.h"
#include "slotfeed/log.h"
#include "slotfeed/sbuf.h"

#define FHIR_ACCEPT "application/fhir+json"
/* Longest next link followed; longer ones are refused as garbage. */
#define FHIR_URL_MAX 8192

/* A Schedule seen in an _include, reduced to what slots borrow from it. */
struct fhir_sched {
    char *id;
    char *practitioner; /* actor display of a (Practitioner|Role) ref */
    char *service;      /* serviceType text, or NULL */
};

struct fhir_state {
    int pages;         /* responses consumed so far */
    int cap;           /* booking.page_cap */
    const char *token; /* booking.token (borrowed), never logged */
    char *url;         /* the request in flight (next links resolve here) */
    char *scheme, *host, *port; /* origin of booking.url */
    struct fhir_sched *scheds;
    size_t nscheds, capscheds;
    size_t not_free, bad, outside;
};

/* --- small helpers ---------------------------------------------------------- */

/*
 * Scheme, host and port (default port filled in) of url, lowercased by
 * curl where it normalises. Returns 0, or -1 if curl cannot parse it.
 */
static int url_origin(const char *url, char **scheme, char **host, char **port)
{
    CURLU *u = curl_url();
    int rc = -1;

    *scheme = *host = *port = NULL;
    if (u == NULL)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        curl_free(*scheme);
        curl_free(*host);
        curl_free(*port);
        *scheme = *host = *port = NULL;
    }
    curl_url_cleanup(u);
    return rc;
}

/*
 * Resolve link against the URL of the request just answered (next links
 * are absolute in FHIR, but a relative one costs nothing to accept) and
 * check that it stays on booking.url's origin. Returns a malloc'd URL for
 * the next request, or NULL with err set.
 */
static char *next_url(struct fhir_state *st, const char *link,
                      struct sf_error *err)
{
    CURLU *u = NULL;
    char *abs = NULL, *out = NULL, *sch = NULL, *host = NULL, *port = NULL;
    char q[FHIRJ_QUOTE_MAX + 8];

    sf_quote(q, sizeof(q), link, strlen(link), FHIRJ_QUOTE_MAX);
    if (strlen(link) > FHIR_URL_MAX) {
        sf_error_set(err, SF_ERR_PARSE,
                     "Slot search: next link longer than "
                     "%d bytes",
                     FHIR_URL_MAX);
        return NULL;
    }
    u = curl_url();
    if (u == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "Slot search: out of memory");
        return NULL;
    }
    if (curl_url_set(u, CURLUPART_URL, st->url, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, link, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &abs, 0) != CURLUE_OK) {
        sf_error_set(err, SF_ERR_PARSE,
                     "Slot search: next link \"%s\" is "
                     "not a valid URL",
                     q);
        goto out;
    }
    if (url_origin(abs, &sch, &host, &port) != 0 ||
        strcasecmp(sch, st->scheme) != 0 || strcasecmp(host, st->host) != 0 ||
        strcmp(port, st->port) != 0) {
        sf_error_set(err, SF_ERR_PARSE,
                     "Slot search: next link leaves the "
                     "server (%s://%s:%s): \"%s\"",
                     st->scheme, st->host, st->port, q);
        goto out;
    }
    out = strdup(abs);
    if (out == NULL)
        sf_error_set(err, SF_ERR_NOMEM, "Slot search: out of memory");
out:
    curl_free(abs);
    curl_free(sch);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* RFC 3339 of local midnight starting `day`, '+' escaped for a query. */
static void query_instant(int32_t day, char out[CLOCK_RFC3339_LEN + 4])
{
    char t[CLOCK_RFC3339_LEN];
    size_t i, o = 0;

    clock_format_rfc3339(clock_day_start(day), t);
    for (i = 0; t[i] != '\0'; i++) {
        if (t[i] == '+') {
            memcpy(out + o, "%2B", 3);
            o += 3;
        } else {
            out[o++] = t[i];
        }
    }
    out[o] = '\0';
}

/* Fill req as a GET of url (taken over) with our headers. */
static enum adapter_status make_request(struct fhir_state *st, char *url,
                                        struct adapter_request *req,
                                        struct sf_error *err)
{
    char *auth = NULL;
    int rc;

    memset(req, 0, sizeof(*req));
    req->url = url;
    req->label = adapter_strdupf("Slot search page %d", st->pages + 1);
    rc = req->url && req->label ? 0 : -1;
    if (rc == 0)
        rc = adapter_request_add_header(req, "Accept", FHIR_ACCEPT);
    if (rc == 0 && st->token != NULL) {
        auth = adapter_strdupf("Bearer %s", st->token);
        rc = auth ? adapter_request_add_header(req, "Authorization", auth) : -1;
        if (auth != NULL) {
            memset(auth, 0, strlen(auth));
            free(auth);
        }
    }
    if (rc == 0) {
        free(st->url);
        st->url = strdup(req->url);
        rc = st->url ? 0 : -1;
    }
    if (rc != 0) {
        adapter_request_clear(req);
        sf_error_set(err, SF_ERR_NOMEM, "fhir: out of memory");
        return ADAPTER_ERROR;
    }
    return ADAPTER_MORE;
}

/* --- begin ------------------------------------------------------------------ */

static void fhir_end(void *state);

static enum adapter_status fhir_begin(const struct adapter_ctx *ctx,
                                      void **state,
                                      struct adapter_request *first,
                                      struct sf_error *err)
{
    const struct conf_booking *b;
    struct fhir_state *st;
    char ge[CLOCK_RFC3339_LEN + 4], lt[CLOCK_RFC3339_LEN + 4];
    size_t blen;
    char *url;

    *state = NULL;
    if (adapter_begin_check(ctx, "fhir", err) != 0)
        return ADAPTER_ERROR;
    b = &ctx->clinic->booking;
    if (b->actor == NULL) {
        sf_error_set(err, SF_ERR_CONFIG, "fhir: booking.actor is required");
        return ADAPTER_ERROR;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "fhir: out of memory");
        return ADAPTER_ERROR;
    }
    *state = st;
    st->cap = b->page_cap > 0 ? b->page_cap : CONF_DEFAULT_PAGE_CAP;
    if (url_origin(b->url, &st->scheme, &st->host, &st->port) != 0) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "fhir: booking.url %s is not a "
                     "valid URL",
                     b->url);
        return ADAPTER_ERROR;
    }
    /* Read with the config (fhir_conf_load): a poll does no file I/O. */
    if (b->token_file != NULL && b->token == NULL) {
        sf_error_set(err, SF_ERR_CONFIG,
                     "fhir: booking.token_file was not "
                     "loaded with the configuration");
        return ADAPTER_ERROR;
    }
    st->token = b->token;

    blen = adapter_url_base_len(b->url);
    query_instant(ctx->first_day, ge);
    query_instant(ctx->last_day + 1, lt);
    url = adapter_strdupf("%.*s/Slot?schedule.actor=%s&status=free"
                          "&start=ge%s&start=lt%s&_include=Slot:schedule"
                          "&_sort=start&_count=%d%s%s",
                          (int)blen, b->url, b->actor, ge, lt, FHIR_PAGE_SIZE,
                          b->search ? "&" : "", b->search ? b->search : "");
    if (url == NULL) {
        sf_error_set(err, SF_ERR_NOMEM, "fhir: out of memory");
        return ADAPTER_ERROR;
    }
    return make_request(st, url, first, err);
}

/* --- bundle ------------------------------------------------------------------ */

static int add_sched(struct fhir_state *st, const cJSON *res)
{
    const char *id = fhirj_str(res, "id");
    const cJSON *actors, *a;
    const char *prac = NULL, *ref;
    struct fhir_sched *sc;
    size_t i;

    if (id == NULL)
        return 0;
    for (i = 0; i < st->nscheds; i++)
        if (strcmp(st->scheds[i].id, id) == 0)
            return 0; /* seen on an earlier page */
    actors = cJSON_GetObjectItemCaseSensitive(res, "actor");
    if (!cJSON_IsArray(actors))
        actors = NULL;
    cJSON_ArrayForEach(a, actors) {
        ref = fhirj_str(a, "reference");
        if (ref == NULL)
            continue;
        /* "PractitionerRole/..." also starts with "Practitioner" */
        if (strncmp(ref, "Practitioner", 12) == 0 ||
            strstr(ref, "/Practitioner") != NULL) {
            prac = fhirj_str(a, "display");
            if (prac != NULL && prac[0] != '\0')
                break;
            prac = NULL;
        }
    }
    if (st->nscheds == st->capscheds) {
        size_t nc = st->capscheds ? st->capscheds * 2 : 8;
        struct fhir_sched *nv = realloc(st->scheds, nc * sizeof(*nv));

        if (nv == NULL)
            return -1;
        st->scheds = nv;
        st->capscheds = nc;
    }
    sc = &st->scheds[st->nscheds];
    sc->id = strdup(id);
    sc->practitioner = adapter_strdup_opt(prac);
    sc->service = adapter_strdup_opt(fhirj_concept_text(
        cJSON_GetObjectItemCaseSensitive(res, "serviceType")));
    if (sc->id == NULL || (prac && !sc->practitioner)) {
        free(sc->id);
        free(sc->practitioner);
        free(sc->service);
        return -1;
    }
    st->nscheds++;
    return 0;
}

static const struct fhir_sched *find_sched(const struct fhir_state *st,
                                           const char *ref)
{
    size_t i;

    for (i = 0; ref != NULL && i < st->nscheds; i++)
        if (fhirj_ref_is(ref, "Schedule", st->scheds[i].id))
            return &st->scheds[i];
    return NULL;
}

static int add_slot(const struct adapter_ctx *ctx, struct fhir_state *st,
                    const cJSON *res, struct avail_slots *slots)
{
    struct avail_slot sl = { .capacity = 1 };
    const struct fhir_sched *sc;
    const char *svc;
    int32_t day;

    switch (fhirj_slot_times(res, &sl.start, &sl.end)) {
    case FHIRJ_SLOT_NOT_FREE:
        st->not_free++;
        return 0;
    case FHIRJ_SLOT_BAD:
        st->bad++;
        return 0;
    case FHIRJ_SLOT_FREE:
        break;
    }
    day = clock_local_day(sl.start);
    if (day < ctx->first_day || day > ctx->last_day) {
        st->outside++;
        return 0;
    }
    sc = find_sched(st,
                    fhirj_str(cJSON_GetObjectItemCaseSensitive(res, "schedule"),
                              "reference"));
    svc = fhirj_concept_text(
        cJSON_GetObjectItemCaseSensitive(res, "serviceType"));
    if (svc == NULL && sc != NULL)
        svc = sc->service;
    if (ctx->clinic->booking.time_type_name != NULL)
        svc = ctx->clinic->booking.time_type_name;
    sl.practitioner = sc ? sc->practitioner : NULL;
    sl.service = (char *)svc; /* borrowed; add_slot copies */
    return avail_slots_add_slot(slots, &sl);
}

/* Non-200 answers: see the error-class table in docs/adapters.md. */
static enum adapter_status http_error(const struct fhir_state *st,
                                      const struct adapter_ctx *ctx,
                                      const struct adapter_response *resp,
                                      struct sf_error *err)
{
    struct sf_error ignore;
    char oo[FHIRJ_QUOTE_MAX + 80] = "";
    cJSON *root;
    const char *rt;
    long code = resp->http_status;

    sf_error_clear(&ignore);
    root = fhirj_parse(resp->body, resp->len, "", &ignore);
    rt = fhirj_str(root, "resourceType");
    if (rt != NULL && strcmp(rt, "OperationOutcome") == 0)
        fhirj_outcome_text(root, oo, sizeof(oo), NULL);
    cJSON_Delete(root);

    if (code == 404 && st->pages == 1)
        sf_error_set(err, SF_ERR_NOT_CONNECTED,
                     "Slot search: HTTP 404 for "
                     "%s: no web booking%s%s",
                     ctx->clinic->booking.actor, oo[0] ? ": " : "", oo);
    else if (code == 401 || code == 403)
        sf_error_set(err, SF_ERR_HTTP,
                     "Slot search page %d: HTTP %ld "
                     "(refused: check booking.token_file)%s%s",
                     st->pages, code, oo[0] ? ": " : "", oo);
    else if (oo[0] != '\0')
        sf_error_set(err, SF_ERR_FAULT, "Slot search page %d: HTTP %ld: %s",
                     st->pages, code, oo);
    else
        sf_error_set(err, SF_ERR_HTTP, "Slot search page %d: HTTP %ld",
                     st->pages, code);
    return ADAPTER_ERROR;
}

static enum adapter_status fhir_step(const struct adapter_ctx *ctx, void *state,
                                     const struct adapter_response *resp,
                                     struct avail_slots *slots,
                                     struct adapter_request *next,
                                     struct sf_error *err)
{
    struct fhir_state *st = state;
    enum adapter_status rc = ADAPTER_ERROR;
    const cJSON *entries, *e, *res, *links, *l;
    const char *rt, *type, *link = NULL;
    char what[64], oo[FHIRJ_QUOTE_MAX + 80];
    cJSON *root;
    char *url;

    if (st == NULL || resp == NULL || slots == NULL || next == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "fhir: bad arguments");
        return ADAPTER_ERROR;
    }
    st->pages++;
    if (resp->http_status != 200)
        return http_error(st, ctx, resp, err);
    snprintf(what, sizeof(what), "Slot search page %d", st->pages);
    root = fhirj_parse(resp->body, resp->len, what, err);
    if (root == NULL)
        return ADAPTER_ERROR;
    rt = fhirj_str(root, "resourceType");
    if (rt != NULL && strcmp(rt, "OperationOutcome") == 0) {
        fhirj_outcome_text(root, oo, sizeof(oo), NULL);
        sf_error_set(err, SF_ERR_FAULT, "%s: %s", what, oo);
        goto out;
    }
    type = fhirj_str(root, "type");
    if (rt == NULL || strcmp(rt, "Bundle") != 0 ||
        (type != NULL && strcmp(type, "searchset") != 0)) {
        sf_error_set(err, SF_ERR_PARSE, "%s: not a searchset Bundle", what);
        goto out;
    }
    entries = cJSON_GetObjectItemCaseSensitive(root, "entry");
    if (entries != NULL && !cJSON_IsArray(entries)) {
        sf_error_set(err, SF_ERR_PARSE, "%s: Bundle.entry is not an array",
                     what);
        goto out;
    }
    /* Schedules first: an _include may come after the slots using it. */
    cJSON_ArrayForEach(e, entries) {
        res = cJSON_GetObjectItemCaseSensitive(e, "resource");
        rt = fhirj_str(res, "resourceType");
        if (rt != NULL && strcmp(rt, "Schedule") == 0 &&
            add_sched(st, res) != 0)
            goto nomem;
    }
    cJSON_ArrayForEach(e, entries) {
        res = cJSON_GetObjectItemCaseSensitive(e, "resource");
        rt = fhirj_str(res, "resourceType");
        if (rt != NULL && strcmp(rt, "Slot") == 0 &&
            add_slot(ctx, st, res, slots) != 0)
            goto nomem;
    }
    links = cJSON_GetObjectItemCaseSensitive(root, "link");
    if (!cJSON_IsArray(links))
        links = NULL;
    cJSON_ArrayForEach(l, links) {
        const char *rel = fhirj_str(l, "relation");

        if (rel != NULL && strcmp(rel, "next") == 0) {
            link = fhirj_str(l, "url");
            break;
        }
    }
    if (link == NULL || link[0] == '\0') {
        rc = ADAPTER_DONE;
    } else if (st->pages >= st->cap) {
        /* The slots read are real and the earliest (_sort=start): keep
         * them, say so in the log, and leave the rest for a wider cap. */
        log_warn("fhir_page_cap",
                 "clinic=%s pages=%d slots=%zu "
                 "reason=page cap reached, later slots not read",
                 ctx->clinic->id, st->pages, slots->n);
        rc = ADAPTER_DONE;
    } else {
        url = next_url(st, link, err);
        if (url != NULL)
            rc = make_request(st, url, next, err);
    }
    if (rc == ADAPTER_DONE && (st->bad > 0))
        log_warn("fhir_slots_skipped",
                 "clinic=%s skipped=%zu reason=bad "
                 "or missing status/start/end",
                 ctx->clinic->id, st->bad);
    goto out;
nomem:
    sf_error_set(err, SF_ERR_NOMEM, "fhir: out of memory");
out:
    cJSON_Delete(root);
    return rc;
}

static void fhir_end(void *state)
{
    struct fhir_state *st = state;
    size_t i;

    if (st == NULL)
        return;
    free(st->url);
    curl_free(st->scheme);
    curl_free(st->host);
    curl_free(st->port);
    for (i = 0; i < st->nscheds; i++) {
        free(st->scheds[i].id);
        free(st->scheds[i].practitioner);
        free(st->scheds[i].service);
    }
    free(st->scheds);
    free(st);
}

/* --- configuration: the booking keys only fhir-slot reads ----------------- */

/* A relative FHIR reference "Type/id": Type is a resource type name. */
static bool valid_fhir_reference(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *p;

    if (slash == NULL || slash == s || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (p = s; p < slash; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return false;
    return fhirj_valid_id(slash + 1, strlen(slash + 1));
}

/*
 * Extra search parameters "name=value&name=value", appended to the query
 * verbatim: only characters that need no quoting in a URL query, each
 * part with a nonempty name and an '='. '#' would end the query, and
 * spaces or quotes would make the URL invalid.
 */
static bool valid_search(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-._~%!$'()*+,;=:@/?";
    const char *part = s, *p;
    bool eq = false;

    for (p = s;; p++) {
        if (*p == '&' || *p == '\0') {
            if (p == part || !eq || *part == '=')
                return false;
            if (*p == '\0')
                return true;
            part = p + 1;
            eq = false;
            continue;
        }
        if (*p == '=')
            eq = true;
        else if (strchr(ok, *p) == NULL)
            return false;
        if (*p == '%' &&
            !(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])))
            return false;
    }
}

/* booking.actor: a FHIR reference Type/id. */
static void conf_actor(struct confcheck *cx, const cJSON *v, const char *path,
                       struct conf_booking *b)
{
    confcheck_get_valid_str(cx, v, path, valid_fhir_reference,
                            "is not a FHIR reference Type/id (e.g. "
                            "\"Location/123\"; id: 1..64 letters, digits, "
                            "'-', '.')",
                            &b->actor);
}

/* booking.token_file: a path, or null; read by fhir_conf_load. */
static void conf_token_file(struct confcheck *cx, const cJSON *v,
                            const char *path, struct conf_booking *b)
{
    confcheck_get_opt_str(cx, v, path, &b->token_file);
}

/* booking.search: extra query pairs, or null. */
static void conf_search(struct confcheck *cx, const cJSON *v, const char *path,
                        struct conf_booking *b)
{
    if (!cJSON_IsNull(v))
        confcheck_get_valid_str(cx, v, path, valid_search,
                                "is not name=value pairs joined by '&' "
                                "(URL query characters only, no '#' or "
                                "spaces)",
                                &b->search);
}

/* booking.page_cap: 1..CONF_PAGE_CAP_MAX (default set by conf.c). */
static void conf_page_cap(struct confcheck *cx, const cJSON *v,
                          const char *path, struct conf_booking *b)
{
    confcheck_get_int_field(cx, v, path, 1, CONF_PAGE_CAP_MAX, &b->page_cap);
}

/* The order is the order of "only used by" errors and of seen bits. */
static const struct adapter_conf_key fhir_conf_keys[] = {
    { "actor", conf_actor, true },
    { "token_file", conf_token_file, false },
    { "search", conf_search, false },
    { "page_cap", conf_page_cap, false },
    { NULL, NULL, false }
};

/*
 * Read the bearer token: at most FHIR_TOKEN_MAX bytes, surrounding
 * whitespace trimmed, and nothing but visible ASCII inside (RFC 6750's
 * b64token is narrower; anything else would break the header line).
 * Returns the token (caller frees, after zeroing), or NULL with *why set
 * to a message that names neither the token nor the file's path (the
 * message is quoted by check-config and a reload's log).
 */
static char *read_token(const char *path, char *why, size_t whylen)
{
    struct sbuf file = { 0 };
    char *buf;
    size_t a = 0, b;

    switch (sbuf_read_file(&file, path, FHIR_TOKEN_MAX, NULL)) {
    case SBUF_READ_OK:
        break;
    case SBUF_READ_NOMEM:
        snprintf(why, whylen, "out of memory");
        return NULL;
    case SBUF_READ_TOO_LARGE:
        snprintf(why, whylen, "larger than %d bytes", FHIR_TOKEN_MAX);
        return NULL;
    case SBUF_READ_DIR:
        errno = EISDIR;
        /* fall through */
    case SBUF_READ_OPEN:
    case SBUF_READ_IO:
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return NULL;
    }
    buf = file.p;
    b = file.len;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r' ||
                     buf[a] == '\n'))
        a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' ||
                     buf[b - 1] == '\r' || buf[b - 1] == '\n'))
        b--;
    if (a == b) {
        snprintf(why, whylen, "empty");
        goto fail;
    }
    for (size_t i = a; i < b; i++) {
        if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
            snprintf(why, whylen,
                     "the token holds a space, control or "
                     "non-ASCII byte");
            goto fail;
        }
    }
    memmove(buf, buf + a, b - a);
    memset(buf + (b - a), 0, file.cap - (b - a)); /* no stale tail */
    return buf;
fail:
    /* wipe: the buffer held a credential */
    memset(buf, 0, file.cap);
    sbuf_free(&file);
    return NULL;
}

static void fhir_conf_load(struct confcheck *cx, const char *path,
                           struct conf_booking *b)
{
    char kpath[CONFCHECK_PATH], why[128];

    if (b->token_file == NULL || b->token != NULL)
        return;
    b->token = read_token(b->token_file, why, sizeof(why));
    if (b->token == NULL) {
        confcheck_path_key(kpath, sizeof(kpath), path, "token_file");
        confcheck_err(cx, kpath, "%s", why);
    }
}

static bool fhir_conf_same(const struct conf_booking *a,
                           const struct conf_booking *b)
{
    return adapter_str_same(a->actor, b->actor) &&
           adapter_str_same(a->token_file, b->token_file) &&
           adapter_str_same(a->token, b->token) &&
           adapter_str_same(a->search, b->search) && a->page_cap == b->page_cap;
}

const struct adapter adapter_fhir = {
    .name = "fhir-slot",
    .conf_keys = fhir_conf_keys,
    .conf_check = NULL,
    .conf_load = fhir_conf_load,
    .conf_same = fhir_conf_same,
    .begin = fhir_begin,
    .step = fhir_step,
    .end = fhir_end,
    .cache_free = NULL,
};
