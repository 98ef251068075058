/*
 * th_text.h - text checks shared by tests: is a message fit to publish
 * (valid UTF-8, no control characters)?
 */
#ifndef TH_TEXT_H
#define TH_TEXT_H

#include <stdbool.h>

/* s is strict UTF-8 (no overlongs, surrogates, > U+10FFFF) without
 * control characters (C0 and DEL). NULL is not. */
bool th_text_clean(const char *s);

#endif
