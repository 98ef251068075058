/*
 * th_file.h - reading test input files (fixtures, vendored examples).
 */
#ifndef TH_FILE_H
#define TH_FILE_H

#include <stddef.h>

/*
 * The whole file dir followed by name (plain concatenation: dir ends in
 * '/' or is "") as a malloc'd NUL-terminated buffer; the caller frees it.
 * *len (may be NULL) gets the size without the NUL. Returns NULL when the
 * file cannot be opened; a failed seek or short read fails the test.
 */
char *th_read_file(const char *dir, const char *name, size_t *len);

#endif
