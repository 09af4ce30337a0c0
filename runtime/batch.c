/*
 * batch.c - the batch calls (SPEC section 5): n instances of dil_solve,
 * dil_backward, dil_loss_gradient or dil_solve_loss_gradient that share
 * theta, spread over threads.
 *
 * Instance i reads and writes the i-th block of every stacked array (x at
 * x + i nx, y at y + i ny, ...) and gets its own dil_info; it runs the
 * single-instance call on a workspace of dil_work_size doubles that belongs
 * to the thread running it.  Workspaces are allocated once per call and
 * per thread, never per instance.
 *
 * Determinism: an instance's result depends only on its inputs (the
 * workspace's previous contents never matter, tests/check_runtime.c
 * checks that with NaN-filled work), so which thread runs it changes
 * nothing.  The summed dL/dtheta is the one place where order matters.
 * It is added in index order,
 *     dl_dtheta = ((0 + g_0) + g_1) + ... + g_{n-1},
 * the same bits for any thread count, and the same bits as a loop over
 * the single calls that accumulates in that order.  Serially, each
 * instance writes g_i into one block, which is added as it comes.  On
 * threads, each thread has a small ring of blocks (RING, below): it runs
 * instance i into a free block of its ring, then, under the batch's lock,
 * records the block as instance i's and adds every recorded block that
 * is next in index order, whoever ran it; a block is free again once
 * added.  A thread thus waits only when all its blocks hold instances
 * whose predecessors are still running.  The blocks stay in cache
 * (ntheta doubles, 20 KB for the Van der Pol batch).  Before this, each
 * instance had its own block of an n x ntheta buffer (2 MB there) summed
 * afterwards; docs/solvers.md has the figures for both and for the
 * alternatives measured.  An instance whose outputs are not written (a
 * status that leaves them untouched) contributes zeros: the call zeroes
 * its block then (DILI_FILL_THETA), and only then, since a written block
 * is written whole.
 *
 * Threads come from OpenMP when the compiler has it (the Makefile detects
 * -fopenmp); without it every batch runs serially on the caller's thread,
 * whatever nthreads says.  nthreads = 1 never enters a parallel region.
 */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dil_internal.h"

typedef struct batch {
    int kind;                       /* DILI_CALL_* */
    const dil_model *m;
    int n;
    const double *x, *theta, *data, *dl_dy, *yin;
    double *y;                      /* dil_solve_batch: in and out */
    double *loss, *dl_dx, *gth;     /* gth: the dL/dtheta blocks of ntheta
                                       (1 serial, RING per thread), or NULL */
    double *sum;                    /* dl_dtheta: the blocks are added to it */
    const dil_options *o;
    int theta_finite;               /* theta checked once for every instance */
    dil_info *info;                 /* n entries, or NULL */
    int *status;                    /* n entries */
} batch;

/* Block i of a stacked array of blocks of len (NULL stays NULL; a length
   of 0 does not move the pointer). */
static const double *blk(const double *base, int i, int len)
{
    return base != NULL && len > 0 ? base + (size_t)i * (size_t)len : base;
}

static double *blk_out(double *base, int i, int len)
{
    return base != NULL && len > 0 ? base + (size_t)i * (size_t)len : base;
}

/* Instance i, its dL/dtheta into dth (ntheta, or NULL; written whole,
   zeros when the call stops before its theta product). */
static void run_one(const batch *b, int i, double *dth, double *work)
{
    const dil_model *m = b->m;
    const double *x = blk(b->x, i, m->nx);
    dil_info *in = b->info != NULL ? b->info + i : NULL;
    double *dx = blk_out(b->dl_dx, i, m->nx);
    int fl = (b->theta_finite ? DILI_THETA_FINITE : 0) | DILI_FILL_THETA, st;

    if (b->kind == DILI_CALL_SOLVE)
        st = dili_solve_call(m, x, b->theta, blk_out(b->y, i, m->ny), b->o, in, work, fl);
    else if (b->kind == DILI_CALL_STEP)
        st = dili_step_call(m, x, b->theta, blk_out(b->y, i, m->ny),
                            blk(b->data, i, m->ndata), blk_out(b->loss, i, 1), dx, dth, b->o,
                            in, work, fl);
    else if (b->kind == DILI_CALL_BACKWARD)
        st = dili_backward_call(m, blk(b->yin, i, m->ny), x, b->theta,
                                blk(b->dl_dy, i, m->ny), dx, dth, b->o, in, work, fl);
    else
        st = dili_loss_call(m, blk(b->yin, i, m->ny), x, b->theta, blk(b->data, i, m->ndata),
                            blk_out(b->loss, i, 1), dx, dth, b->o, in, work, fl);
    b->status[i] = st;
}

/*
 * sum += g over nt elements, in blocks of 8 with the 8 written out as a
 * fully unrolled loop: gcc -O2 vectorises only loops that need no scalar
 * remainder, which this block loop is (the remainder is its own loop).
 * Element by element the same additions as the plain loop: same bits.
 * (Arguments, not b's members: through b, every store to sum would
 * reload them.)
 */
static void add_block(int nt, const double *restrict g, double *restrict sum)
{
    int k = 0, j;
    for (; k + 8 <= nt; k += 8)
#pragma GCC unroll 8
        for (j = 0; j < 8; j++)
            sum[k + j] += g[k + j];
    for (; k < nt; k++)
        sum[k] += g[k];
}

/* The number of threads run_all will use: 1 means the caller's thread,
   no parallel region. */
static int team_size(const batch *b, int nthreads)
{
#ifdef _OPENMP
    int t = nthreads > 0 ? nthreads : omp_get_max_threads();
    return b->n > 1 ? (t < b->n ? t : b->n) : 1;
#else
    (void)b;
    (void)nthreads;
    return 1;
#endif
}

/* dL/dtheta blocks per thread on threads: 2 would do when instances cost
   the same; 4 lets a thread run ahead of a slow (or descheduled) one. */
enum { RING = 4 };

#ifdef _OPENMP
/* The threaded sum's shared state, touched only under lock. */
typedef struct ring {
    omp_lock_t lock;
    int *ready;       /* n: the block that holds g_i, -1 until it does */
    int *busy;        /* t * RING: 1 from an instance's start until its
                         block has been added */
    int next;         /* the first instance not yet added */
} ring;

/*
 * A free block of thread me's ring, marked busy; polls while every one
 * holds an instance whose predecessors are still running.  The wait ends
 * because the schedule is monotonic (run_threads): each thread takes its
 * instances in increasing order, so the lowest instance not yet added is
 * held by a thread whose earlier instances are all added, whose blocks
 * are therefore free, which is never waiting here.  With OpenMP 5's
 * default nonmonotonic dynamic schedule (LLVM's libomp steals ranges) a
 * thread can be handed an instance below those in its ring and wait for
 * itself: the batch tests hung so under libomp (make tsan).
 */
static int take_block(ring *r, int me)
{
    int k, got = -1;
    while (got < 0) {
        omp_set_lock(&r->lock);
        for (k = me * RING; k < me * RING + RING && got < 0; k++)
            if (!r->busy[k]) {
                r->busy[k] = 1;
                got = k;
            }
        omp_unset_lock(&r->lock);
    }
    return got;
}

/* Instance i is in block k: record it, then add every block that is next
   in index order (one thread adds at a time, under the lock). */
static void finish_block(const batch *b, ring *r, int i, int k)
{
    int nt = b->m->ntheta;
    omp_set_lock(&r->lock);
    r->ready[i] = k;
    while (r->next < b->n && r->ready[r->next] >= 0) {
        k = r->ready[r->next++];
        add_block(nt, b->gth + (size_t)k * (size_t)nt, b->sum);
        r->busy[k] = 0;
    }
    omp_unset_lock(&r->lock);
}

/* Every instance on t threads, dynamically scheduled; idx: n + t * RING
   ints for the ring (NULL without dL/dtheta). */
static void run_threads(const batch *b, size_t ws, int t, int *idx)
{
    ring r;
    int i;
    if (idx != NULL) {
        omp_init_lock(&r.lock);
        r.ready = idx;
        r.busy = idx + b->n;
        r.next = 0;
        for (i = 0; i < b->n + t * RING; i++)
            idx[i] = i < b->n ? -1 : 0;
    }
#pragma omp parallel num_threads(t) private(i)
    {
        int me = omp_get_thread_num(), k;
        double *w = (double *)malloc(ws * sizeof(double));
        if (idx == NULL) {
#pragma omp for schedule(dynamic, 1)
            for (i = 0; i < b->n; i++)
                run_one(b, i, NULL, w);
        } else {
#pragma omp for schedule(monotonic: dynamic, 1)
            for (i = 0; i < b->n; i++) {
                k = take_block(&r, me);
                run_one(b, i, b->gth + (size_t)k * (size_t)b->m->ntheta, w);
                finish_block(b, &r, i, k);
            }
        }
        free(w);
    }
    if (idx != NULL)
        omp_destroy_lock(&r.lock);
}
#endif

/*
 * Every instance, on t threads (1: the caller's); work: ws doubles per
 * thread (a failed allocation falls back to the calls' own, which report
 * DIL_NO_MEMORY if that fails too).
 */
static void run_all(const batch *b, size_t ws, int t, int *idx)
{
    double *w;
    int i;
    if (b->gth != NULL)
        dili_zero(b->m->ntheta, b->sum);
#ifdef _OPENMP
    if (t > 1) {
        run_threads(b, ws, t, idx);
        return;
    }
#else
    (void)t;
    (void)idx;
#endif
    w = (double *)malloc(ws * sizeof(double));
    for (i = 0; i < b->n; i++) {
        run_one(b, i, b->gth, w);
        if (b->gth != NULL)
            add_block(b->m->ntheta, b->gth, b->sum);
    }
    free(w);
}

/* st in every instance's info (zeroed otherwise), before any instance
   ran; returns st. */
static int fail_all(const batch *b, int st)
{
    int i;
    for (i = 0; b->info != NULL && i < b->n; i++) {
        memset(&b->info[i], 0, sizeof b->info[i]);
        b->info[i].status = st;
    }
    return st;
}

/*
 * The common driver: checks n and nthreads, allocates the status array and
 * the dL/dtheta blocks, runs (dL/dtheta summed in index order), and
 * returns the status of the lowest-numbered failing instance.
 */
static int run_batch(batch *b, double *dl_dtheta, int nthreads)
{
    const dil_model *m = b->m;
    size_t ws, nidx;
    int i, t, sum_blocks, st = DIL_OK;

    if (b->n < 0 || nthreads < 0 || m == NULL || m->ny < 1 || m->nx < 0
        || m->ntheta < 0 || m->ndata < 0 || m->nres < 0) {
        return fail_all(b, DIL_BAD_ARG);
    }
    if (b->n == 0) {
        if (dl_dtheta != NULL)
            dili_zero(m->ntheta, dl_dtheta);
        return DIL_OK;
    }
    /* theta is shared: one scan for all instances (a non-finite theta is
       left to each instance's own checks, which report it in their order) */
    b->theta_finite = b->theta != NULL && dili_all_finite(m->ntheta, b->theta);
    ws = dil_work_size(m, b->o);
    if (ws == 0)
        ws = 1;
    t = team_size(b, nthreads);
    /* the status array, then (threaded, with dL/dtheta) the ring's
       n + t * RING indices */
    sum_blocks = dl_dtheta != NULL && m->ntheta > 0;
    nidx = (size_t)b->n + (t > 1 && sum_blocks ? (size_t)b->n + (size_t)t * RING : 0);
    b->status = (int *)malloc(sizeof(int) * nidx);
    b->gth = NULL;
    b->sum = dl_dtheta;
    if (sum_blocks)
        b->gth = (double *)malloc(sizeof(double) * (t > 1 ? (size_t)t * RING : 1)
                                  * (size_t)m->ntheta);
    if (b->status == NULL || (sum_blocks && b->gth == NULL)
        || ws >= (size_t)-1 / sizeof(double)) {
        free(b->status);
        free(b->gth);
        return fail_all(b, DIL_NO_MEMORY);
    }
    run_all(b, ws, t, nidx > (size_t)b->n ? b->status + b->n : NULL);
    for (i = b->n - 1; i >= 0; i--)
        if (b->status[i] != DIL_OK)
            st = b->status[i];
    free(b->status);
    free(b->gth);
    return st;
}

int dil_solve_batch(const dil_model *m, int n, const double *x,
                    const double *theta, double *y, const dil_options *opt,
                    dil_info *info, int nthreads)
{
    batch b = {DILI_CALL_SOLVE, m, n, x, theta, NULL, NULL, NULL, y,
               NULL, NULL, NULL, NULL, opt, 0, info, NULL};
    return run_batch(&b, NULL, nthreads);
}

int dil_backward_batch(const dil_model *m, int n, const double *y,
                       const double *x, const double *theta,
                       const double *dl_dy, double *dl_dx, double *dl_dtheta,
                       const dil_options *opt, dil_info *info, int nthreads)
{
    batch b = {DILI_CALL_BACKWARD, m, n, x, theta, NULL, dl_dy, y, NULL,
               NULL, dl_dx, NULL, NULL, opt, 0, info, NULL};
    return run_batch(&b, dl_dtheta, nthreads);
}

int dil_loss_gradient_batch(const dil_model *m, int n, const double *y,
                            const double *x, const double *theta,
                            const double *data, double *loss, double *dl_dx,
                            double *dl_dtheta, const dil_options *opt,
                            dil_info *info, int nthreads)
{
    batch b = {DILI_CALL_LOSS, m, n, x, theta, data, NULL, y, NULL,
               loss, dl_dx, NULL, NULL, opt, 0, info, NULL};
    return run_batch(&b, dl_dtheta, nthreads);
}

int dil_solve_loss_gradient_batch(const dil_model *m, int n, const double *x,
                                  const double *theta, double *y, const double *data,
                                  double *loss, double *dl_dx, double *dl_dtheta,
                                  const dil_options *opt, dil_info *info, int nthreads)
{
    batch b = {DILI_CALL_STEP, m, n, x, theta, data, NULL, NULL, y,
               loss, dl_dx, NULL, NULL, opt, 0, info, NULL};
    return run_batch(&b, dl_dtheta, nthreads);
}
