/*
 * test_share.c - the shared-document cache (share.h): a body is kept
 * until the adapter's parsed form stands for it, then only the parsed
 * form (issue 12: a large publisher's Slot file is megabytes, held once
 * as text and once parsed before).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slotfeed/share.h"

static int freed;

static void parsed_free(void *p)
{
    freed++;
    free(p);
}

/* One leader fetches url and gets a 200 with body: the doc it delivers. */
static struct share_doc *settle_200(struct share *s, const char *url,
                                    const char *body)
{
    struct share_entry *e = NULL;
    struct share_doc *d = NULL, *stale = NULL;
    struct fetch_result res;
    int who = 0;
    size_t nw = 0;
    void **w;

    assert_int_equal(share_ask(s, url, url, 1000, 60, &who, &e, &stale),
                     SHARE_LEAD);
    memset(&res, 0, sizeof(res));
    res.http_status = 200;
    res.body = body;
    res.len = strlen(body);
    res.etag = "\"v1\"";
    w = share_settle(s, e, &res, 1000, &d, &nw);
    assert_int_equal(nw, 0);
    free(w);
    assert_non_null(d);
    return d;
}

static void test_text_dropped_once_parsed(void **state)
{
    static const char body[] = "{\"resourceType\":\"Slot\"}\n";
    struct share *s = share_new(16, 1 << 20);
    struct share_doc *d, *hit = NULL;
    struct share_entry *e = NULL;
    struct adapter_response r;
    size_t bytes = 0;
    int who = 1;

    (void)state;
    assert_non_null(s);
    d = settle_200(s, "http://127.0.0.1:1/Slot.ndjson", body);

    /* Not parsed yet: the text is what a reader gets, and it stays. */
    share_doc_parsed(d);
    share_doc_response(d, &r);
    assert_int_equal(r.len, sizeof(body) - 1);
    assert_memory_equal(r.body, body, r.len);

    /* Parsed: the text goes, the parsed form and the validators stay. */
    d->parsed.kind = "test";
    d->parsed.p = malloc(8);
    d->parsed.free_fn = parsed_free;
    share_doc_parsed(d);
    assert_null(d->body);
    share_doc_response(d, &r);
    assert_non_null(r.body);
    assert_int_equal(r.len, 0); /* an empty body, never stale text */
    assert_ptr_equal(r.parsed, &d->parsed);
    assert_string_equal(r.etag, "\"v1\"");

    /* The next poll's hit delivers the same doc with its parsed form;
     * the cache's byte count still holds the body's length. */
    assert_int_equal(share_ask(s, "http://127.0.0.1:1/Slot.ndjson",
                               "http://127.0.0.1:1/Slot.ndjson", 1010, 60, &who,
                               &e, &hit),
                     SHARE_HIT);
    assert_ptr_equal(hit, d);
    assert_non_null(hit->parsed.p);
    assert_int_equal(share_entries(s, &bytes), 1);
    assert_int_equal(bytes, sizeof(body) - 1);
    share_doc_unref(hit);
    share_doc_unref(d);
    share_free(s); /* the last reference: the parsed form is freed */
    assert_int_equal(freed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_dropped_once_parsed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
