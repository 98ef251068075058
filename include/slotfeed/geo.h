/*
 * geo.h - "near me": a small table of place coordinates and distances.
 *
 * The table (conf/geo-varmland.json) holds approximate points of
 * municipalities and localities and maps 3-digit postcode prefixes to a
 * locality. geo_resolve() turns what a patient types ("Karlstad",
 * "skoghall", "652 24") into a point; geo_place() gives a clinic's point
 * from its municipality/locality. Names compare case-insensitively,
 * Swedish letters included (geo_name_equal). A loaded table is immutable;
 * everything returned from it is borrowed until geo_free().
 */
#ifndef SLOTFEED_GEO_H
#define SLOTFEED_GEO_H

#include <stdbool.h>
#include <stddef.h>

#include "slotfeed/error.h"

#define GEO_FILE_MAX (1L * 1024 * 1024)
#define GEO_NAME_MAX 64 /* longest place name we accept */

struct geo_point {
    double lat, lon; /* WGS84 degrees */
};

struct geo_table;

/*
 * Parse a table from JSON text (name, e.g. the file name, prefixes error
 * messages). Returns a new table (free with geo_free) or NULL with err set
 * naming the JSON path of the first problem.
 */
struct geo_table *geo_parse(const char *text, size_t len, const char *name,
                            struct sf_error *err);
/* geo_parse() of a file (at most GEO_FILE_MAX bytes). */
struct geo_table *geo_load(const char *path, struct sf_error *err);
void geo_free(struct geo_table *t);

/*
 * Resolve a near= value: a 5-digit postcode ("65224" or "652 24"; the
 * prefix table picks a locality), else a locality name, else a municipality
 * name (case-insensitive, surrounding blanks ignored). Returns 0 with *out
 * set and *label (may be NULL) pointing at the canonical place name, or -1
 * with err set to a message naming the value ("... is not a known place").
 */
int geo_resolve(const struct geo_table *t, const char *q, struct geo_point *out,
                const char **label, struct sf_error *err);

/*
 * A clinic's point: its locality's when the table has it, else its
 * municipality's. Returns false when neither is known (either may be NULL).
 */
bool geo_place(const struct geo_table *t, const char *municipality,
               const char *locality, struct geo_point *out);

/* Great-circle distance in km (haversine, mean Earth radius 6371.0 km). */
double geo_distance_km(struct geo_point a, struct geo_point b);

/*
 * Equality of two UTF-8 names ignoring case: ASCII letters and the
 * Latin-1 letters of U+00C0..U+00DE (Å Ä Ö É ...) against their lower-case
 * forms. Other bytes compare exactly.
 */
bool geo_name_equal(const char *a, const char *b);
/* The same over a counted string a (not NUL-terminated) and b. */
bool geo_name_equal_n(const char *a, size_t alen, const char *b);

/* Counts (for tests and logs). */
size_t geo_count_municipalities(const struct geo_table *t);
size_t geo_count_localities(const struct geo_table *t);
size_t geo_count_postcodes(const struct geo_table *t);

#endif
