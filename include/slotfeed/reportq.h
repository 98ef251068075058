/*
 * reportq.h - report computations off the event loop.
 *
 * A month's guarantee report over hundreds of clinics takes most of a
 * second of SQL; run on the loop it stalls every other request. A
 * reportq owns a fixed number of worker threads (pthreads), each with its
 * own read-only SQLite connection (reportq_open; kept open between
 * jobs, reopened after a failure or for another path), and a bounded
 * queue. The loop submits a parsed request (api_report_parse); a worker
 * computes and renders it (reportq_compute) and posts the finished
 * job to a mutex-protected list, waking the loop through a pipe (libevent
 * is not initialised for threads: nothing but the pipe's byte crosses
 * into the loop). The loop then calls the job's done callback.
 *
 * Threads: every function here is called on the loop's thread only; done
 * callbacks run there too. Workers touch nothing but their job, their
 * connection and the log. SQLite must be built thread-safe
 * (sqlite3_threadsafe() != 0; reportq_new checks) - the system library
 * is (THREADSAFE=1); each connection is used by one thread only anyway.
 *
 * Bound: at most workers + queue jobs are accepted (running or waiting);
 * reportq_submit refuses more (the HTTP server answers 503 with
 * Retry-After). Finished jobs waiting for the loop do not count.
 */
#ifndef SLOTFEED_REPORTQ_H
#define SLOTFEED_REPORTQ_H

#include <stddef.h>

#include "slotfeed/error.h"
#include "slotfeed/report.h"

struct event_base;
struct sqlite3;
struct reportq;
struct reportq_job;

#define REPORTQ_DEFAULT_WORKERS 1
#define REPORTQ_DEFAULT_QUEUE 4
#define REPORTQ_MAX_WORKERS 16

struct reportq_opts {
    int workers; /* threads; 0 = REPORTQ_DEFAULT_WORKERS */
    int queue;   /* jobs waiting for a thread; 0 = default, -1 = none */
    /*
     * Tests only: runs on the worker thread before each job is computed
     * (e.g. blocks until the test releases it). NULL in the daemon.
     */
    void (*hook)(void *arg);
    void *hook_arg;
};

/* Longest problem detail a job carries, with its NUL. */
#define REPORTQ_DETAIL_LEN 600

/*
 * What a job came to. cancelled: reportq_cancel or reportq_free came
 * first; the body may then be NULL (never computed) or a finished
 * document nobody wants. Status 200 carries the rendered document
 * (body, len, content_type); any other status carries no body but the
 * detail of the problem the server answers with (its problem body is
 * written on the loop, by the writer every route uses). The callback
 * borrows body and detail; reportq frees them after it returns, unless
 * the callback took body with reportq_take_body.
 */
struct reportq_result {
    int cancelled;
    int status;               /* 200, 400, 500, 503; 0 if never run */
    const char *content_type; /* 200: static string; else NULL */
    const char *body;         /* 200: the document; else NULL */
    size_t len;
    const char *detail;      /* not 200: the problem's detail */
    struct reportq_job *job; /* for reportq_take_body */
};

/*
 * Inside the callback: the document (r->body) becomes the caller's, to
 * free() when done with it (an HTTP reply sends it by reference instead
 * of copying it on the loop). NULL when there is none or it was taken.
 */
char *reportq_take_body(const struct reportq_result *r);

/*
 * What a worker does with a job, callable on any thread with that
 * thread's own connection (touches no global state but the log):
 *
 * reportq_open: report_db_open, but the reason (which names the path) goes
 * to the log only; returns 0 with *db (close with sqlite3_close), or -1
 * with *db NULL.
 *
 * reportq_compute: build and render rq from db (borrowed; NULL = the store
 * could not be opened). Sets *status: 200 with *body (malloc'd, free())
 * and *len; otherwise *body NULL and detail (REPORTQ_DETAIL_LEN bytes,
 * the caller's) the problem's public words: 400 a parameter range, 503
 * the store cannot be read, 500 the build or render failed (out of
 * memory, or the connection failed or was interrupted: reopen it).
 */
int reportq_open(const char *db_path, struct sqlite3 **db);
void reportq_compute(struct sqlite3 *db, const struct report_request *rq,
                     int *status, char **body, size_t *len, char *detail);

/* Called once per accepted job, on the loop's thread. */
typedef void (*reportq_done_fn)(const struct reportq_result *r, void *arg);

/*
 * Start the workers on base. NULL with err set (no memory, no threads,
 * SQLite without thread support). The workers block every signal: they
 * are the main thread's.
 */
struct reportq *reportq_new(struct event_base *base,
                            const struct reportq_opts *opts,
                            struct sf_error *err);

/*
 * Queue rq for db_path (both copied). Returns the job (a handle for
 * reportq_cancel, valid until done has been called) or NULL: the bound
 * is reached (err->code SF_ERR_TIMEOUT: answer 503 + Retry-After) or no
 * memory (SF_ERR_NOMEM). done(arg) then is never called.
 */
struct reportq_job *reportq_submit(struct reportq *q, const char *db_path,
                                   const struct report_request *rq,
                                   reportq_done_fn done, void *arg,
                                   struct sf_error *err);

/*
 * Nobody waits for job any more (the client went away). A waiting job is
 * not started; a running one has its SQL interrupted (sqlite3_interrupt).
 * done is still called exactly once, later, from the loop, with
 * cancelled set.
 */
void reportq_cancel(struct reportq *q, struct reportq_job *job);

/* Jobs accepted and not yet delivered (running, waiting or finished). */
size_t reportq_pending(const struct reportq *q);

/*
 * Stop: cancel every job (running SQL is interrupted), join the
 * threads, close their connections, then call done (cancelled) for each
 * job not delivered yet, on this thread, before returning. NULL ok.
 */
void reportq_free(struct reportq *q);

#endif
