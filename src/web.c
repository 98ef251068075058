/* web.c - lookup of the compiled-in static files (see web.h). */
#include "slotfeed/web.h"

#include <string.h>

const struct web_asset *web_asset_find(const char *path)
{
    const struct web_asset *a;

    if (path == NULL)
        return NULL;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    else if (strcmp(path, "/overview") == 0)
        path = "/overview.html";
    for (a = web_assets; a->path != NULL; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}
