/*
 * th_text.h - text checks shared by tests: is a message fit to publish
 * (valid UTF-8, no control characters)? And a document's text, whatever
 * form it is kept in.
 */
#ifndef TH_TEXT_H
#define TH_TEXT_H

#include <stdbool.h>

/* s is strict UTF-8 (no overlongs, surrogates, > U+10FFFF) without
 * control characters (C0 and DEL). NULL is not. */
bool th_text_clean(const char *s);

struct doc;

/* d's plain bytes, NUL-terminated (doc_flatten: inflated when d is kept
 * only compressed); fails the test when they cannot be had. The copy
 * stays valid for the next 15 calls (a ring; freed as it turns). */
const char *th_doc_text(const struct doc *d);

#endif
