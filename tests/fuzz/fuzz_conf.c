/*
 * fuzz_conf.c - libFuzzer target for conf_parse: the input is a region file.
 * Either a region or an error list comes back, never both, no error holds a
 * personnummer (pnr.h), and everything is freed (LeakSanitizer checks).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz.h"
#include "slotfeed/clock.h"
#include "slotfeed/conf.h"
#include "slotfeed/error.h"
#include "slotfeed/geo.h"
#include "slotfeed/log.h"
#include "slotfeed/pnr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf_region *r = NULL;
    struct conf_errors errs = { 0 };
    int rc;

    log_quiet();
    clock_set_fake(INT64_C(1774512000));
    rc = conf_parse((const char *)data, size, &r, &errs);
    if (rc == 0 && (r == NULL || errs.n != 0))
        abort(); /* success: a region, no errors */
    if (rc != 0 && (r != NULL || errs.n == 0))
        abort(); /* failure: no region, >= 1 error */
    /* ...and never echoes a personnummer (pnr.h) */
    for (size_t i = 0; i < errs.n; i++)
        if (errs.v[i] == NULL || pnr_contains(errs.v[i]))
            abort();
    conf_free(r);
    conf_errors_free(&errs);

    /* The other operator file, the place table behind near=: a table,
     * or NULL with a message. */
    {
        struct sf_error gerr = { 0 };
        struct geo_table *g =
            geo_parse((const char *)data, size, "fuzz", &gerr);
        if (g == NULL && gerr.msg[0] == '\0')
            abort();
        geo_free(g);
    }
    return 0;
}
