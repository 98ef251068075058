/* error.c - struct sf_error helpers. */
#include "slotfeed/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sf_error_set(struct sf_error *err, enum sf_errclass code,
                  const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void sf_error_prefix(struct sf_error *err, const char *fmt, ...)
{
    char head[256], old[sizeof(err->msg)];
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", head, old);
}

void sf_error_clear(struct sf_error *err)
{
    if (err == NULL)
        return;
    err->code = SF_ERR_NONE;
    err->msg[0] = '\0';
}

const char *sf_errclass_name(enum sf_errclass code)
{
    switch (code) {
    case SF_ERR_NONE: return "none";
    case SF_ERR_CONFIG: return "config";
    case SF_ERR_TRANSPORT: return "transport";
    case SF_ERR_TIMEOUT: return "timeout";
    case SF_ERR_TOO_LARGE: return "too_large";
    case SF_ERR_HTTP: return "http";
    case SF_ERR_PARSE: return "parse";
    case SF_ERR_HOSTILE: return "hostile";
    case SF_ERR_FAULT: return "fault";
    case SF_ERR_NOT_CONNECTED: return "not_connected";
    case SF_ERR_NOMEM: return "nomem";
    case SF_ERR_INTERNAL: return "internal";
    case SF_ERR_IMPLAUSIBLE: return "implausible";
    }
    return "unknown";
}
