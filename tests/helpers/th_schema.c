/* th_schema.c - see th_schema.h. */
#include "th_schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char validator_py[] =
    "import json, sys\n"
    "try:\n"
    "    import jsonschema\n"
    "except ImportError:\n"
    "    sys.exit(77)\n"
    "schema = json.load(open(sys.argv[1], encoding='utf-8'))\n"
    "schema.pop('oneOf', None)\n"
    "schema['$ref'] = '#/$defs/' + sys.argv[2]\n"
    "doc = json.load(open(sys.argv[3], encoding='utf-8'))\n"
    "v = jsonschema.Draft202012Validator(schema)\n"
    "v.check_schema(schema)\n"
    "errs = list(v.iter_errors(doc))\n"
    "for e in errs[:3]:\n"
    "    print('schema:', sys.argv[3], list(e.absolute_path), e.message[:200],"
    " file=sys.stderr)\n"
    "sys.exit(1 if errs else 0)\n";

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

int th_schema_validate(const char *dir, const char *def, const char *name,
                       const char *json)
{
    char py[700], doc[700], cmd[2400];
    int rc;

    mkdir(dir, 0755);
    assert_true((size_t)snprintf(py, sizeof(py), "%s/validate.py", dir) <
                sizeof(py));
    write_file(py, validator_py, strlen(validator_py));
    assert_true((size_t)snprintf(doc, sizeof(doc), "%s/%s", dir, name) <
                sizeof(doc));
    write_file(doc, json, strlen(json));
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 '%s' '%s/docs/feed.schema.json' '%s' '%s'", py,
             SLOTFEED_SOURCE_DIR, def, doc);
    rc = system(cmd);
    assert_true(rc != -1 && WIFEXITED(rc));
    return WEXITSTATUS(rc);
}
