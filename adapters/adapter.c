/* adapter.c - the table of adapters, chosen at run time by config name. */
#include "slotfeed/adapter.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct adapter *const adapters[] = {
    &adapter_rivta,
    &adapter_fhir,
    &adapter_smart,
};

static const char *const names[] = { "rivta-scheduling", "fhir-slot",
                                     "smart-bulk", NULL };

const struct adapter *adapter_find(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
        if (strcmp(adapters[i]->name, name) == 0)
            return adapters[i];
    return NULL;
}

const char *const *adapter_names(void)
{
    return names;
}

bool adapter_str_same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool adapter_booking_same(const struct conf_booking *a,
                          const struct conf_booking *b)
{
    const struct adapter *ad = adapter_find(a->adapter);

    if (ad == NULL || !adapter_str_same(a->adapter, b->adapter) ||
        !adapter_str_same(a->url, b->url) ||
        !adapter_str_same(a->booking_url, b->booking_url) ||
        !adapter_str_same(a->time_type_id, b->time_type_id) ||
        !adapter_str_same(a->time_type_name, b->time_type_name))
        return false;
    return ad->conf_same == NULL || ad->conf_same(a, b);
}

void adapter_request_clear(struct adapter_request *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->url);
    free(r->body);
    free(r->content_type);
    free(r->soap_action);
    free(r->label);
    free(r->tls_cert);
    free(r->tls_key);
    free(r->tls_ca);
    for (i = 0; i < ADAPTER_MAX_HEADERS; i++)
        free(r->headers[i]);
    memset(r, 0, sizeof(*r));
}

/* A header line must stay one line: no CR/LF anywhere (header injection). */
static bool header_text_ok(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int adapter_request_add_header(struct adapter_request *r, const char *name,
                               const char *value)
{
    size_t i, n;
    char *line;

    if (r == NULL || !header_text_ok(name) || !header_text_ok(value) ||
        name[0] == '\0' || strchr(name, ':') != NULL)
        return -1;
    for (i = 0; i < ADAPTER_MAX_HEADERS && r->headers[i] != NULL; i++)
        ;
    if (i == ADAPTER_MAX_HEADERS)
        return -1;
    n = strlen(name) + 2 + strlen(value) + 1;
    line = malloc(n);
    if (line == NULL)
        return -1;
    snprintf(line, n, "%s: %s", name, value);
    r->headers[i] = line;
    return 0;
}

char *adapter_strdupf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *adapter_strdup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

size_t adapter_url_base_len(const char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        n--;
    return n;
}

int adapter_begin_check(const struct adapter_ctx *ctx, const char *name,
                        struct sf_error *err)
{
    const struct conf_booking *b;

    if (ctx == NULL || ctx->clinic == NULL) {
        sf_error_set(err, SF_ERR_INTERNAL, "%s: bad arguments", name);
        return -1;
    }
    b = &ctx->clinic->booking;
    if (!ctx->clinic->has_booking || b->url == NULL || b->url[0] == '\0') {
        sf_error_set(err, SF_ERR_CONFIG, "%s: clinic has no booking.url", name);
        return -1;
    }
    if (ctx->first_day > ctx->last_day) {
        sf_error_set(err, SF_ERR_CONFIG, "%s: empty date window", name);
        return -1;
    }
    return 0;
}
