/* adapter.c - the table of adapters, chosen at run time by config name. */
#include "slotfeed/adapter.h"

#include <stdlib.h>
#include <string.h>

#include "slotfeed/rivta.h"

static const struct adapter *const adapters[] = {
    &adapter_rivta,
};

static const char *const names[] = {
    "rivta-scheduling",
    NULL
};

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

void adapter_request_clear(struct adapter_request *r)
{
    if (r == NULL)
        return;
    free(r->url);
    free(r->body);
    free(r->content_type);
    free(r->soap_action);
    free(r->label);
    memset(r, 0, sizeof(*r));
}
