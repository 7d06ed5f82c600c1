/* Running one C pass on a few threads (pthreads), for the passes of ingest that a
 * viewer waits on. Callers release the GIL first and split the work so that the
 * result never depends on which thread did what, or on how many ran: either fixed
 * shares by worker index, or items pulled from a shared counter, each written to
 * its own place in the output.
 */
#ifndef XDIAG_THREADS_H
#define XDIAG_THREADS_H

#include <pthread.h>

#define MAX_WORKERS 16

typedef void (*worker_fn)(void *ctx, int worker);

typedef struct {
    worker_fn fn;
    void *ctx;
    int worker;
} worker_arg;

static void *worker_main(void *a) {
    worker_arg *w = (worker_arg *)a;
    w->fn(w->ctx, w->worker);
    return NULL;
}

/* Runs fn(ctx, 0), ..., fn(ctx, n - 1) concurrently, worker 0 on the calling thread,
 * and returns when all are done. A thread that cannot be started has its share run
 * on the calling thread afterwards, so every share always runs exactly once. */
static void run_workers(int n, worker_fn fn, void *ctx) {
    if (n < 1) n = 1;
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    pthread_t th[MAX_WORKERS];
    worker_arg args[MAX_WORKERS];
    int started[MAX_WORKERS] = {0};
    for (int i = 1; i < n; i++) {
        args[i].fn = fn;
        args[i].ctx = ctx;
        args[i].worker = i;
        started[i] = pthread_create(&th[i], NULL, worker_main, &args[i]) == 0;
    }
    fn(ctx, 0);
    for (int i = 1; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            fn(ctx, i);
    }
}

/* The next item of a shared work list (0, 1, 2, ... across all workers). */
static inline long next_item(long *counter) {
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* Workers worth starting for `n` items of work: threads cost tens of microseconds
 * to start, so small inputs stay on the calling thread. */
static inline int workers_for(Py_ssize_t n, int asked) {
    if (asked < 1 || n < (Py_ssize_t)1 << 16) return 1;
    return asked > MAX_WORKERS ? MAX_WORKERS : asked;
}

#endif
