/*
 * th_schema.h - JSON Schema checks of feed documents against
 * docs/feed.schema.json through /usr/bin/python3 and python3-jsonschema
 * (Draft 2020-12; the schema itself is checked too).
 */
#ifndef TH_SCHEMA_H
#define TH_SCHEMA_H

/* Exit status meaning the python3 jsonschema module is missing. */
#define TH_SCHEMA_NO_MODULE 77

/*
 * Validate json against $defs/def of the feed schema. dir (created if
 * missing) receives the validator script and the document as dir/name,
 * kept for inspection. Returns the validator's exit status: 0 valid,
 * 1 invalid (up to 3 errors on stderr), TH_SCHEMA_NO_MODULE. Failing to
 * write or run it fails the test.
 */
int th_schema_validate(const char *dir, const char *def, const char *name,
                       const char *json);

#endif
