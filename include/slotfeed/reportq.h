/*
 * reportq.h - report computations off the event loop.
 *
 * A month's guarantee report over hundreds of clinics takes most of a
 * second of SQL; run on the loop it stalls every other request. A
 * reportq owns a fixed number of worker threads (pthreads), each with its
 * own read-only SQLite connection (report_http_open; kept open between
 * jobs, reopened after a failure or for another path), and a bounded
 * queue. The loop submits a parsed request (report_http_parse); a worker
 * computes and renders it (report_http_answer) and posts the finished
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
struct reportq;
struct reportq_job;

#define REPORTQ_DEFAULT_WORKERS 1
#define REPORTQ_DEFAULT_QUEUE 4
#define REPORTQ_MAX_WORKERS 16

struct reportq_opts {
    int workers;    /* threads; 0 = REPORTQ_DEFAULT_WORKERS */
    int queue;      /* jobs waiting for a thread; 0 = default, -1 = none */
    /*
     * Tests only: runs on the worker thread before each job is computed
     * (e.g. blocks until the test releases it). NULL in the daemon.
     */
    void (*hook)(void *arg);
    void *hook_arg;
};

/*
 * What a job came to. cancelled: reportq_cancel or reportq_free came
 * first; the body may then be NULL (never computed) or a finished
 * document nobody wants. The callback borrows body; reportq frees it.
 */
struct reportq_result {
    int cancelled;
    int status;                 /* 200, 400, 500, 503; 0 if never run */
    const char *content_type;   /* static string, or NULL */
    const char *body;
    size_t len;
};

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
