/* A fixed pool of worker threads for cpu_parallel_for. Threads are created with the context, so an
 * op never creates threads; work is handed out in chunks through an atomic counter. */
#include "cpu_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct cpu_pool {
    int threads; /* workers + the calling thread */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_mutex_t serial; /* one parallel_for at a time per pool */
    uint64_t generation;    /* bumped for each job */
    int busy;               /* workers still inside the current job */
    int stop;
    /* the current job */
    cpu_task_fn fn;
    void *arg;
    int64_t n, grain;
    atomic_llong next;
};

static void run_chunks(cpu_pool *p, int thread)
{
    for (;;) {
        int64_t begin = atomic_fetch_add(&p->next, p->grain);
        if (begin >= p->n) return;
        int64_t end = begin + p->grain < p->n ? begin + p->grain : p->n;
        p->fn(p->arg, begin, end, thread);
    }
}

typedef struct worker_arg {
    cpu_pool *pool;
    int thread;
} worker_arg;

static void *worker_main(void *v)
{
    worker_arg wa = *(worker_arg *)v;
    free(v);
    cpu_pool *p = wa.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_chunks(p, wa.thread);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

cpu_pool *cpu_pool_create(int threads)
{
    if (threads < 1) threads = 1;
    cpu_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->serial, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = 1;
    for (int t = 1; t < threads; t++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->pool = p;
        wa->thread = t;
        if (pthread_create(&p->workers[t], NULL, worker_main, wa) != 0) {
            free(wa);
            break; /* fewer threads than asked: still correct */
        }
        p->threads = t + 1;
    }
    return p;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int t = 1; t < p->threads; t++) pthread_join(p->workers[t], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->serial);
    free(p->workers);
    free(p);
}

int cpu_pool_threads(const cpu_pool *p) { return p->threads; }

void cpu_parallel_for(cpu_pool *p, int64_t n, int64_t grain, cpu_task_fn fn, void *arg)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (p->threads == 1 || n <= grain) { /* not worth waking anyone */
        fn(arg, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&p->serial);
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->grain = grain;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    run_chunks(p, 0);
    pthread_mutex_lock(&p->lock);
    while (p->busy > 0) pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_unlock(&p->serial);
}
