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
 * nothing.  The summed dL/dtheta is the one place where order matters:
 * each instance writes its own ntheta block of a buffer, and the blocks are
 * then added in index order on the caller's thread,
 *     dl_dtheta = ((0 + g_0) + g_1) + ... + g_{n-1},
 * the same bits for any thread count, and the same bits as a loop over
 * the single calls that accumulates in that order.  The buffer costs
 * n * ntheta doubles on threads (2 MB for the Van der Pol batch); a serial
 * run adds each instance's block as it comes, the same sum, in one block.
 * An instance whose outputs are not written (a status
 * that leaves them untouched) contributes zeros.
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
    double *loss, *dl_dx, *gth;     /* gth: n blocks of ntheta (threads), one
                                       block (serial), or NULL */
    double *sum;                    /* dl_dtheta, the serial run adds into it */
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

/* Instance i, its dL/dtheta into dth (ntheta, or NULL). */
static void run_one(const batch *b, int i, double *dth, double *work)
{
    const dil_model *m = b->m;
    const double *x = blk(b->x, i, m->nx);
    dil_info *in = b->info != NULL ? b->info + i : NULL;
    double *dx = blk_out(b->dl_dx, i, m->nx);
    int st;

    if (dth != NULL)
        dili_zero(m->ntheta, dth);
    if (b->kind == DILI_CALL_SOLVE)
        st = dili_solve_call(m, x, b->theta, blk_out(b->y, i, m->ny), b->o, in, work,
                             b->theta_finite);
    else if (b->kind == DILI_CALL_STEP)
        st = dili_step_call(m, x, b->theta, blk_out(b->y, i, m->ny),
                            blk(b->data, i, m->ndata), blk_out(b->loss, i, 1), dx, dth, b->o,
                            in, work, b->theta_finite);
    else if (b->kind == DILI_CALL_BACKWARD)
        st = dili_backward_call(m, blk(b->yin, i, m->ny), x, b->theta,
                                blk(b->dl_dy, i, m->ny), dx, dth, b->o, in, work,
                                b->theta_finite);
    else
        st = dili_loss_call(m, blk(b->yin, i, m->ny), x, b->theta, blk(b->data, i, m->ndata),
                            blk_out(b->loss, i, 1), dx, dth, b->o, in, work,
                            b->theta_finite);
    b->status[i] = st;
}

/* sum += g over nt elements (locals: through b's members, every store
   to sum would reload them). */
static void add_block(int nt, const double *g, double *sum)
{
    int k;
    for (k = 0; k < nt; k++)
        sum[k] += g[k];
}

/* 1 when run_all will use threads. */
static int threaded(const batch *b, int nthreads)
{
#ifdef _OPENMP
    return nthreads != 1 && b->n > 1;
#else
    (void)b;
    (void)nthreads;
    return 0;
#endif
}

/* Every instance, on nthreads threads; work: ws doubles per thread (a
   failed allocation falls back to the calls' own, which report
   DIL_NO_MEMORY if that fails too).  Threaded, instance i's dL/dtheta goes
   to block i of gth and run_batch sums the blocks afterwards; serial, the
   one block of gth is added to sum after each instance, which is the same
   additions in the same order without n blocks of memory. */
static void run_all(const batch *b, size_t ws, int nthreads)
{
    double *w;
    int i;
#ifdef _OPENMP
    if (threaded(b, nthreads)) {
        int t = nthreads > 0 ? nthreads : omp_get_max_threads();
        if (t > b->n)
            t = b->n;
#pragma omp parallel num_threads(t) private(w, i)
        {
            w = (double *)malloc(ws * sizeof(double));
#pragma omp for schedule(dynamic, 1)
            for (i = 0; i < b->n; i++)
                run_one(b, i, blk_out(b->gth, i, b->m->ntheta), w);
            free(w);
        }
        return;
    }
#endif
    w = (double *)malloc(ws * sizeof(double));
    if (b->gth != NULL)
        dili_zero(b->m->ntheta, b->sum);
    for (i = 0; i < b->n; i++) {
        run_one(b, i, b->gth, w);
        if (b->gth != NULL)
            add_block(b->m->ntheta, b->gth, b->sum);
    }
    free(w);
}

/*
 * dl_dtheta = ((0 + g_0) + g_1) + ... + g_{n-1}, element by element in
 * index order, with the elements split into chunks over the threads (the
 * same additions in the same order per element: the bits do not depend
 * on the thread count, and n ntheta additions no longer run on one
 * thread after the parallel part).
 */
static void sum_blocks(const batch *b, double *dl_dtheta, int nthreads)
{
    const int chunk = 512;
    int nt = b->m->ntheta, nchunks = (nt + chunk - 1) / chunk, c;
#ifdef _OPENMP
    int t = nthreads > 0 ? nthreads : omp_get_max_threads();
#pragma omp parallel for num_threads(t) schedule(static) if (nchunks > 1)
#endif
    for (c = 0; c < nchunks; c++) {
        int lo = c * chunk, hi = lo + chunk < nt ? lo + chunk : nt, i, k;
        for (k = lo; k < hi; k++)
            dl_dtheta[k] = 0.0;
        for (i = 0; i < b->n; i++) {
            const double *g = b->gth + (size_t)i * (size_t)nt;
            for (k = lo; k < hi; k++)
                dl_dtheta[k] += g[k];
        }
    }
}

/*
 * The common driver: checks n and nthreads, allocates the status array and
 * the dL/dtheta buffer, runs, sums dL/dtheta in index order, and returns
 * the status of the lowest-numbered failing instance.
 */
static int run_batch(batch *b, double *dl_dtheta, int nthreads)
{
    const dil_model *m = b->m;
    size_t ws;
    int i, st = DIL_OK;

    if (b->n < 0 || nthreads < 0 || m == NULL || m->ny < 1 || m->nx < 0
        || m->ntheta < 0 || m->ndata < 0 || m->nres < 0) {
        for (i = 0; b->info != NULL && i < b->n; i++) {
            memset(&b->info[i], 0, sizeof b->info[i]);
            b->info[i].status = DIL_BAD_ARG;
        }
        return DIL_BAD_ARG;
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
    b->status = (int *)malloc(sizeof(int) * (size_t)b->n);
    b->gth = NULL;
    b->sum = dl_dtheta;
    if (dl_dtheta != NULL && m->ntheta > 0)
        b->gth = (double *)malloc(sizeof(double) * (threaded(b, nthreads) ? (size_t)b->n : 1)
                                  * (size_t)m->ntheta);
    if (b->status == NULL || (dl_dtheta != NULL && m->ntheta > 0 && b->gth == NULL)
        || ws >= (size_t)-1 / sizeof(double)) {
        free(b->status);
        free(b->gth);
        for (i = 0; b->info != NULL && i < b->n; i++) {
            memset(&b->info[i], 0, sizeof b->info[i]);
            b->info[i].status = DIL_NO_MEMORY;
        }
        return DIL_NO_MEMORY;
    }
    run_all(b, ws, nthreads);
    for (i = b->n - 1; i >= 0; i--)
        if (b->status[i] != DIL_OK)
            st = b->status[i];
    if (b->gth != NULL && threaded(b, nthreads))
        sum_blocks(b, dl_dtheta, nthreads);
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
