/*
 * http_framing.h - is a request's framing unambiguous (RFC 9112)?
 *
 * libevent 2.1.12's evhttp is lenient where a front proxy may read the
 * same bytes differently, so one request could hide a second one
 * (request smuggling): the first of two Content-Length lines wins, a
 * "Content-Length : 5" line (space before the colon) is kept as a field
 * named "Content-Length " and ignored, a Transfer-Encoding other than
 * exactly "chunked" is ignored, "HTTP/1.9" is taken for HTTP/1.1, and Host
 * is not required. The HTTP server (http.c) runs this check on every
 * request before anything else and answers a refused one with the status
 * given here and "Connection: close", so bytes after it are never read as
 * a request. A pure function: no I/O, no allocation (fuzz_http drives it).
 *
 * evhttp has already parsed the head when this runs; what it did there
 * and how that is covered:
 * - obs-fold (a line starting with SP/HTAB) is joined to the previous
 *   field with one SP, as RFC 9112 §5.2 allows as the alternative to a
 *   400; folded into Content-Length, Transfer-Encoding or Host the value
 *   no longer matches their strict grammar here -> 400;
 * - a fold or whitespace before the first field, a line without a colon,
 *   a version above 1.x, CR/LF inside a value: evhttp answers 400 itself.
 */
#ifndef SLOTFEED_HTTP_FRAMING_H
#define SLOTFEED_HTTP_FRAMING_H

#include <event2/keyvalq_struct.h>

/* Longest Content-Length we read as a number (no overflow at 18 digits). */
#define HTTP_FRAMING_MAX_CL_DIGITS 18

/*
 * Check the request's version (major.minor as evhttp parsed them) and its
 * header fields (evhttp's input headers, in order; borrowed). Returns 0
 * when the framing is unambiguous, else the status to answer - 400, 501
 * (a transfer coding we do not implement, RFC 9112 §6.1) or 505 (a
 * version other than HTTP/1.0 and HTTP/1.1) - with *why set to a static
 * sentence for the problem detail (no request bytes in it). A request
 * passing it has at most one Host (exactly one for HTTP/1.1), at most one
 * Content-Length of plain digits, and either no Transfer-Encoding or one
 * line "Transfer-Encoding: chunked" without Content-Length in HTTP/1.1 -
 * exactly the framing evhttp itself reads, so it and any compliant proxy
 * agree where the request ends.
 */
int http_framing_check(int major, int minor, const struct evkeyvalq *headers,
                       const char **why);

#endif
