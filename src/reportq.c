/*
 * reportq.c - report workers: a bounded queue of report computations run
 * on pthreads, each thread with its own read-only SQLite connection,
 * finished jobs handed back to the event loop through a pipe.
 *
 * Why a pipe and not event_active() from the worker: libevent would need
 * evthread_use_pthreads() before the base was made, which changes locking
 * for every event of the daemon; one byte per finished job on a pipe
 * keeps the loop single-threaded as before. All job lists and counters
 * are under one mutex; a job's result fields are written by its worker
 * before it is put on the done list and read by the loop after it is
 * taken off it (the mutex orders the two).
 */
#include "slotfeed/reportq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "slotfeed/log.h"
#include "slotfeed/report_render.h"

enum job_state {
    JOB_WAITING,
    JOB_RUNNING,
    JOB_DONE
};

struct reportq_job {
    struct report_request rq;
    char *db_path;
    reportq_done_fn done;
    void *arg;
    enum job_state state; /* under q->mu */
    int cancelled;        /* under q->mu */
    struct worker *w;     /* while JOB_RUNNING */
    int status;           /* written by the worker, see top */
    char *body;
    size_t len;
    char detail[REPORTQ_DETAIL_LEN];
    struct reportq_job *next;
};

struct worker {
    struct reportq *q;
    pthread_t th;
    int started;
    sqlite3 *db;   /* set and cleared under q->mu (interrupt) */
    char *db_path; /* the worker's own */
};

struct job_list {
    struct reportq_job *head, *tail;
    size_t n;
};

struct reportq {
    struct event_base *base;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job_list waiting, done;
    size_t running;
    size_t max_accepted; /* workers + queue */
    int stopping;
    int pipefd[2];
    struct event *wake_ev;
    struct worker *w;
    size_t nw;
    void (*hook)(void *);
    void *hook_arg;
};

static void list_push(struct job_list *l, struct reportq_job *j)
{
    j->next = NULL;
    if (l->tail != NULL)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static struct reportq_job *list_pop(struct job_list *l)
{
    struct reportq_job *j = l->head;

    if (j == NULL)
        return NULL;
    l->head = j->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->n--;
    j->next = NULL;
    return j;
}

static void list_remove(struct job_list *l, struct reportq_job *j)
{
    struct reportq_job **pp, *prev = NULL;

    for (pp = &l->head; *pp != NULL; prev = *pp, pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            if (l->tail == j)
                l->tail = prev;
            l->n--;
            j->next = NULL;
            return;
        }
}

static void job_free(struct reportq_job *j)
{
    if (j == NULL)
        return;
    free(j->db_path);
    free(j->body);
    free(j);
}

/* One byte: "something is on the done list". A full pipe already holds
 * a wakeup, so EAGAIN is fine. */
static void wake_loop(struct reportq *q)
{
    ssize_t n;

    do
        n = write(q->pipefd[1], "j", 1);
    while (n < 0 && errno == EINTR);
}

/* Worker: close the connection (under the mutex: reportq_cancel may be
 * interrupting it right now). */
static void worker_close_db(struct worker *w)
{
    sqlite3 *db;

    pthread_mutex_lock(&w->q->mu);
    db = w->db;
    w->db = NULL;
    pthread_mutex_unlock(&w->q->mu);
    sqlite3_close(db);
    free(w->db_path);
    w->db_path = NULL;
}

/* Worker: compute j on this thread's connection, (re)opened as needed. */
static void worker_run(struct worker *w, struct reportq_job *j)
{
    sqlite3 *db = NULL;

    if (w->db != NULL &&
        (w->db_path == NULL || strcmp(w->db_path, j->db_path) != 0))
        worker_close_db(w);
    if (w->db == NULL && reportq_open(j->db_path, &db) == 0) {
        if ((w->db_path = strdup(j->db_path)) == NULL) {
            sqlite3_close(db); /* no memory: use it once, keep none */
            db = NULL;
        } else {
            pthread_mutex_lock(&w->q->mu);
            w->db = db;
            pthread_mutex_unlock(&w->q->mu);
        }
    }
    /* Only this thread changes w->db: reading it unlocked is safe here. */
    reportq_compute(w->db, &j->rq, &j->status, &j->body, &j->len, j->detail);
    /* A failed or interrupted connection is not trusted again. */
    if (j->status == 500 && w->db != NULL)
        worker_close_db(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct reportq *q = w->q;
    struct reportq_job *j;
    int skip;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stopping && q->waiting.head == NULL)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stopping)
            break;
        j = list_pop(&q->waiting);
        j->state = JOB_RUNNING;
        j->w = w;
        q->running++;
        pthread_mutex_unlock(&q->mu);

        if (q->hook != NULL)
            q->hook(q->hook_arg);
        pthread_mutex_lock(&q->mu);
        skip = j->cancelled;
        pthread_mutex_unlock(&q->mu);
        if (!skip)
            worker_run(w, j);

        pthread_mutex_lock(&q->mu);
        q->running--;
        j->state = JOB_DONE;
        j->w = NULL;
        list_push(&q->done, j);
        wake_loop(q);
    }
    pthread_mutex_unlock(&q->mu);
    worker_close_db(w);
    return NULL;
}

/* Loop: hand every finished job to its callback, then free it. */
static void deliver(struct reportq *q, int cancel_all)
{
    struct job_list got;
    struct reportq_job *j;

    pthread_mutex_lock(&q->mu);
    got = q->done;
    memset(&q->done, 0, sizeof(q->done));
    pthread_mutex_unlock(&q->mu);
    while ((j = list_pop(&got)) != NULL) {
        struct reportq_result r = { j->cancelled || cancel_all,
                                    j->status,
                                    NULL,
                                    j->body,
                                    j->len,
                                    j->detail,
                                    j };

        if (j->status == 200)
            r.content_type = report_format_content_type(j->rq.fmt);

        j->done(&r, j->arg);
        job_free(j);
    }
}

char *reportq_take_body(const struct reportq_result *r)
{
    char *b;

    if (r == NULL || r->job == NULL)
        return NULL;
    b = r->job->body;
    r->job->body = NULL;
    return b;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    char buf[64];

    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    deliver(arg, 0);
}

int reportq_open(const char *db_path, struct sqlite3 **db)
{
    struct sf_error err = { 0 };

    /*
     * The store's messages name its path and SQLite's own text: the log
     * has them, the public gets a fixed sentence (reportq_compute with db
     * NULL).
     */
    if (report_db_open(db_path, db, &err) == 0)
        return 0;
    log_error("report_store_unavailable", "err=\"%s\"", err.msg);
    return -1;
}

/* reportq_compute: a problem answer (status, the detail's words). */
static void answer_problem(int code, const char *what, int *status,
                           char *detail)
{
    *status = code;
    snprintf(detail, REPORTQ_DETAIL_LEN, "%s", what);
}

void reportq_compute(struct sqlite3 *db, const struct report_request *rq,
                     int *status, char **body, size_t *len, char *detail)
{
    struct sf_error err = { 0 };
    cJSON *doc = NULL;
    int rc;

    *body = NULL;
    *len = 0;
    detail[0] = '\0';
    if (db == NULL) {
        answer_problem(503, "the history store cannot be read now", status,
                       detail);
        return;
    }
    if (report_build(db, &rq->p, &doc, &err) != 0) {
        /* Parameter errors (ranges) are the client's own words. */
        if (err.code == SF_ERR_CONFIG) {
            answer_problem(400, err.msg, status, detail);
            return;
        }
        log_error("report_failed", "err=\"%s\"", err.msg);
        answer_problem(500, "the report could not be computed", status, detail);
        return;
    }
    rc = report_render(doc, rq->fmt, body, len, &err);
    cJSON_Delete(doc);
    if (rc != 0) {
        log_error("report_failed", "err=\"%s\"", err.msg);
        answer_problem(500, "the report could not be rendered", status, detail);
        return;
    }
    *status = 200;
}

struct reportq *reportq_new(struct event_base *base,
                            const struct reportq_opts *opts,
                            struct sf_error *err)
{
    struct reportq *q = NULL;
    sigset_t all, old;
    size_t i, nw;
    int queue;
    int rc;

    if (sqlite3_threadsafe() == 0) {
        sf_error_set(err, SF_ERR_INTERNAL,
                     "reports: SQLite is built "
                     "without thread support (SQLITE_THREADSAFE=0)");
        return NULL;
    }
    nw = opts != NULL && opts->workers > 0 ? (size_t)opts->workers
                                           : REPORTQ_DEFAULT_WORKERS;
    if (nw > REPORTQ_MAX_WORKERS)
        nw = REPORTQ_MAX_WORKERS;
    queue =
        opts != NULL && opts->queue != 0 ? opts->queue : REPORTQ_DEFAULT_QUEUE;
    if ((q = calloc(1, sizeof(*q))) == NULL ||
        (q->w = calloc(nw, sizeof(*q->w))) == NULL) {
        free(q);
        sf_error_set(err, SF_ERR_NOMEM, "reports: out of memory");
        return NULL;
    }
    q->base = base;
    q->nw = nw;
    q->max_accepted = nw + (queue > 0 ? (size_t)queue : 0);
    q->hook = opts != NULL ? opts->hook : NULL;
    q->hook_arg = opts != NULL ? opts->hook_arg : NULL;
    q->pipefd[0] = q->pipefd[1] = -1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (pipe(q->pipefd) != 0 || fcntl(q->pipefd[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(q->pipefd[1], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(q->pipefd[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(q->pipefd[1], F_SETFD, FD_CLOEXEC) != 0) {
        sf_error_set(err, SF_ERR_INTERNAL, "reports: pipe: %s",
                     strerror(errno));
        goto fail;
    }
    if ((q->wake_ev = event_new(base, q->pipefd[0], EV_READ | EV_PERSIST,
                                on_wake, q)) == NULL ||
        event_add(q->wake_ev, NULL) != 0) {
        sf_error_set(err, SF_ERR_NOMEM, "reports: out of memory");
        goto fail;
    }
    /* Signals stay with the main thread (libevent's handlers). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < nw; i++) {
        q->w[i].q = q;
        rc = pthread_create(&q->w[i].th, NULL, worker_main, &q->w[i]);
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            sf_error_set(err, SF_ERR_INTERNAL, "reports: thread: %s",
                         strerror(rc));
            goto fail;
        }
        q->w[i].started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return q;
fail:
    reportq_free(q);
    return NULL;
}

struct reportq_job *reportq_submit(struct reportq *q, const char *db_path,
                                   const struct report_request *rq,
                                   reportq_done_fn done, void *arg,
                                   struct sf_error *err)
{
    struct reportq_job *j;

    pthread_mutex_lock(&q->mu);
    if (q->stopping || q->waiting.n + q->running >= q->max_accepted) {
        pthread_mutex_unlock(&q->mu);
        sf_error_set(err, SF_ERR_TIMEOUT,
                     "reports: %zu computing or "
                     "waiting, the most allowed",
                     q->max_accepted);
        return NULL;
    }
    pthread_mutex_unlock(&q->mu);
    if ((j = calloc(1, sizeof(*j))) == NULL ||
        (j->db_path = strdup(db_path)) == NULL) {
        free(j);
        sf_error_set(err, SF_ERR_NOMEM, "reports: out of memory");
        return NULL;
    }
    j->rq = *rq;
    j->done = done;
    j->arg = arg;
    j->state = JOB_WAITING;
    /* Only the loop adds jobs: the count checked above still holds. */
    pthread_mutex_lock(&q->mu);
    list_push(&q->waiting, j);
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return j;
}

void reportq_cancel(struct reportq *q, struct reportq_job *j)
{
    int wake = 0;

    if (q == NULL || j == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    j->cancelled = 1;
    if (j->state == JOB_WAITING) {
        list_remove(&q->waiting, j);
        j->state = JOB_DONE;
        list_push(&q->done, j);
        wake = 1;
    } else if (j->state == JOB_RUNNING && j->w != NULL && j->w->db != NULL) {
        /* The worker clears w->db under this mutex before closing it. */
        sqlite3_interrupt(j->w->db);
    }
    pthread_mutex_unlock(&q->mu);
    if (wake) /* delivered from the loop, never inside the caller */
        event_active(q->wake_ev, EV_READ, 1);
}

size_t reportq_pending(const struct reportq *cq)
{
    struct reportq *q = (struct reportq *)cq; /* the mutex only */
    size_t n;

    if (q == NULL)
        return 0;
    pthread_mutex_lock(&q->mu);
    n = q->waiting.n + q->running + q->done.n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void reportq_free(struct reportq *q)
{
    struct reportq_job *j;
    size_t i;

    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    while ((j = list_pop(&q->waiting)) != NULL) {
        j->cancelled = 1;
        j->state = JOB_DONE;
        list_push(&q->done, j);
    }
    for (i = 0; i < q->nw; i++)
        if (q->w[i].db != NULL)
            sqlite3_interrupt(q->w[i].db);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (i = 0; i < q->nw; i++)
        if (q->w[i].started)
            pthread_join(q->w[i].th, NULL);
    deliver(q, 1);
    if (q->wake_ev != NULL)
        event_free(q->wake_ev);
    if (q->pipefd[0] >= 0)
        close(q->pipefd[0]);
    if (q->pipefd[1] >= 0)
        close(q->pipefd[1]);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->w);
    free(q);
}
