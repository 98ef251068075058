/*
 * fhir_json.c - JSON helpers shared by the FHIR Slot and SMART bulk
 * adapters: a strict parse (UTF-8 checked, one value, error position),
 * and readers for the few FHIR shapes both use (Slot times, references,
 * CodeableConcept, extensions, OperationOutcome).
 */
#include "fhir_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slotfeed/clock.h"
#include "slotfeed/conf_types.h"
#include "slotfeed/pnr.h"

size_t fhirj_utf8_bad(const char *s, size_t n)
{
    const char *nul = memchr(s, '\0', n);
    size_t upto = nul != NULL ? (size_t)(nul - s) : n;
    size_t bad = sf_utf8_bad(s, upto);

    /* A bad byte before the first NUL comes first; else the NUL. */
    return bad != (size_t)-1 ? bad : nul != NULL ? upto : (size_t)-1;
}

/* Line and column (from 1, columns in bytes) of byte offset `at`. */
static void line_col(const char *s, size_t at, size_t *line, size_t *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < at; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *fhirj_parse(const char *body, size_t len, const char *what,
                   struct sf_error *err)
{
    const char *end = NULL;
    size_t bad, at, line, col;
    cJSON *root;

    if (body == NULL || len == 0) {
        sf_error_set(err, SF_ERR_PARSE, "%s: empty body", what);
        return NULL;
    }
    /* cJSON does not check UTF-8; a name with broken bytes must not
     * reach the feed. NUL is refused here too (it would end the parse). */
    bad = fhirj_utf8_bad(body, len);
    if (bad != (size_t)-1) {
        line_col(body, bad, &line, &col);
        sf_error_set(err, SF_ERR_PARSE,
                     "%s: not UTF-8 JSON (bad byte 0x%02x "
                     "at byte %zu, line %zu, column %zu)",
                     what, (unsigned char)body[bad], bad, line, col);
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (root == NULL) {
        at = end != NULL && end >= body && end <= body + len
                 ? (size_t)(end - body)
                 : 0;
        line_col(body, at, &line, &col);
        sf_error_set(err, SF_ERR_PARSE,
                     "%s: malformed JSON at byte %zu "
                     "(line %zu, column %zu)",
                     what, at, line, col);
        return NULL;
    }
    at = end != NULL ? (size_t)(end - body) : len;
    while (at < len && json_space(body[at]))
        at++;
    if (at < len) {
        line_col(body, at, &line, &col);
        cJSON_Delete(root);
        sf_error_set(err, SF_ERR_PARSE,
                     "%s: text after the JSON value at "
                     "byte %zu (line %zu, column %zu)",
                     what, at, line, col);
        return NULL;
    }
    return root;
}

const char *fhirj_str(const cJSON *obj, const char *key)
{
    const cJSON *v;

    if (!cJSON_IsObject(obj))
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *fhirj_concept_text(const cJSON *arr)
{
    const cJSON *cc, *coding, *c;
    const char *s;

    if (!cJSON_IsArray(arr))
        return NULL;
    cJSON_ArrayForEach(cc, arr) {
        s = fhirj_str(cc, "text");
        if (s != NULL && s[0] != '\0')
            return s;
        coding = cJSON_GetObjectItemCaseSensitive(cc, "coding");
        if (!cJSON_IsArray(coding))
            continue;
        cJSON_ArrayForEach(c, coding) {
            s = fhirj_str(c, "display");
            if (s != NULL && s[0] != '\0')
                return s;
        }
    }
    return NULL;
}

const cJSON *fhirj_extension(const cJSON *res, const char *url)
{
    const cJSON *arr, *e;
    const char *u;

    if (!cJSON_IsObject(res))
        return NULL;
    arr = cJSON_GetObjectItemCaseSensitive(res, "extension");
    if (!cJSON_IsArray(arr))
        return NULL;
    cJSON_ArrayForEach(e, arr) {
        u = fhirj_str(e, "url");
        if (u != NULL && strcmp(u, url) == 0)
            return e;
    }
    return NULL;
}

enum fhirj_slot fhirj_slot_times(const cJSON *slot, int64_t *start,
                                 int64_t *end)
{
    const char *status = fhirj_str(slot, "status");
    const char *s = fhirj_str(slot, "start");
    const char *e = fhirj_str(slot, "end");

    if (status == NULL)
        return FHIRJ_SLOT_BAD;
    /* FHIR codes are case-sensitive: "Free" is not a code. */
    if (strcmp(status, "free") != 0)
        return FHIRJ_SLOT_NOT_FREE;
    if (s == NULL || e == NULL || clock_parse_rfc3339(s, start) != 0 ||
        clock_parse_rfc3339(e, end) != 0 || *end <= *start)
        return FHIRJ_SLOT_BAD;
    return FHIRJ_SLOT_FREE;
}

bool fhirj_ref_is(const char *ref, const char *type, const char *id)
{
    size_t rl, tl = strlen(type), il = strlen(id);
    const char *h, *tail;

    if (ref == NULL)
        return false;
    rl = strlen(ref);
    /* drop a version suffix "/_history/x" */
    h = strstr(ref, "/_history/");
    if (h != NULL)
        rl = (size_t)(h - ref);
    if (rl < tl + 1 + il)
        return false;
    tail = ref + rl - (tl + 1 + il);
    if (strncmp(tail, type, tl) != 0 || tail[tl] != '/' ||
        strncmp(tail + tl + 1, id, il) != 0)
        return false;
    /* "Type/id" itself, or ".../Type/id" of an absolute URL */
    return tail == ref || tail[-1] == '/';
}

void fhirj_outcome_text(const cJSON *oo, char *buf, size_t n, const char **code)
{
    const cJSON *issues, *issue;
    const char *c = NULL, *text = NULL;
    char q[FHIRJ_QUOTE_MAX + 8];

    issues = cJSON_IsObject(oo) ? cJSON_GetObjectItemCaseSensitive(oo, "issue")
                                : NULL;
    issue = cJSON_IsArray(issues) ? cJSON_GetArrayItem(issues, 0) : NULL;
    if (issue != NULL) {
        c = fhirj_str(issue, "code");
        text = fhirj_str(issue, "diagnostics");
        if (text == NULL)
            text = fhirj_str(cJSON_GetObjectItemCaseSensitive(issue, "details"),
                             "text");
    }
    if (code != NULL)
        *code = c;
    sf_quote(q, sizeof(q), text ? text : "", text ? strlen(text) : 0,
             FHIRJ_QUOTE_MAX);
    if (c != NULL) {
        char qc[40];

        sf_quote(qc, sizeof(qc), c, strlen(c), FHIRJ_QUOTE_MAX);
        snprintf(buf, n, "OperationOutcome %s%s%s%s", qc, q[0] ? ": \"" : "", q,
                 q[0] ? "\"" : "");
    } else {
        snprintf(buf, n, "OperationOutcome%s%s%s", q[0] ? ": \"" : "", q,
                 q[0] ? "\"" : "");
    }
}

bool fhirj_valid_id(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > CONF_FHIR_ID_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}
