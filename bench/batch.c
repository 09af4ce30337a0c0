/*
 * batch.c - one full-batch training step of the Van der Pol neural ODE
 * (models/node_vdp.dil, H = 500): a Newton solve of each of N implicit
 * steps, then the summed IFT gradient dL/dtheta, timed four ways in one
 * run so that the figures compare like with like:
 *   single   a loop of dil_solve + dil_loss_gradient (caller's workspace)
 *   batch/1  dil_solve_batch + dil_loss_gradient_batch, 1 thread
 *   batch/2  the same on 2 threads (bitwise the same answer, checked)
 *   step/1   dil_solve_loss_gradient_batch (the backward starts from the
 *            solve's last evaluation and skips the checks the solve's
 *            stopping test made), 1 thread; the same bits, checked
 *   step/2   the same on 2 threads
 *   nocheck  batch/1 with curvature_check = 0: the cost of the minimum
 *            certificate (issue 13) is batch/1 minus this
 *
 *   batch_node_vdp [N] [REPS]      defaults 107 pairs, 20 repetitions
 *
 * Inputs are fixed pseudo-random values (theta scaled to 0.3, states in
 * [-1, 1]); prints milliseconds per training step, the best of REPS.
 */
#include "dil.h"
#include "node_vdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fill(double *p, int n, unsigned seed, double scale)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = scale * (((seed >> 8) % 2001) / 1000.0 - 1.0);
    }
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

typedef struct problem {
    const dil_model *m;
    int n;
    double *x, *theta, *data, *y, *loss, *g;
} problem;

enum { SINGLE, BATCH, STEP };

/* One training step: single calls, the batch calls or the one-call batch
   step, on nthreads. */
static int step(problem *p, int kind, int nthreads, const dil_options *o, double *work)
{
    const dil_model *m = p->m;
    int i, k, st = DIL_OK;
    memcpy(p->y, p->x, sizeof(double) * (size_t)p->n * m->ny);   /* y0 = x0 */
    if (kind == SINGLE) {
        double *gi = malloc(sizeof(double) * (size_t)m->ntheta);
        memset(p->g, 0, sizeof(double) * (size_t)m->ntheta);
        for (i = 0; i < p->n && st == DIL_OK; i++) {
            st = dil_solve(m, p->x + i * m->nx, p->theta, p->y + i * m->ny, o, NULL, work);
            if (st == DIL_OK)
                st = dil_loss_gradient(m, p->y + i * m->ny, p->x + i * m->nx, p->theta,
                                       p->data + i * m->ndata, p->loss + i, NULL, gi, o,
                                       NULL, work);
            for (k = 0; k < m->ntheta; k++)
                p->g[k] += gi[k];
        }
        free(gi);
        return st;
    }
    if (kind == STEP)
        return dil_solve_loss_gradient_batch(m, p->n, p->x, p->theta, p->y, p->data, p->loss,
                                             NULL, p->g, o, NULL, nthreads);
    st = dil_solve_batch(m, p->n, p->x, p->theta, p->y, o, NULL, nthreads);
    if (st == DIL_OK)
        st = dil_loss_gradient_batch(m, p->n, p->y, p->x, p->theta, p->data, p->loss, NULL,
                                     p->g, o, NULL, nthreads);
    return st;
}

int main(int argc, char **argv)
{
    const dil_model *m = &node_vdp_model;
    int n = argc > 1 ? atoi(argv[1]) : 107, reps = argc > 2 ? atoi(argv[2]) : 20;
    enum { NMODE = 6 };
    static const char *names[NMODE] = {"single", "batch/1", "batch/2", "step/1", "step/2",
                                       "nocheck"};
    static const int kind[NMODE] = {SINGLE, BATCH, BATCH, STEP, STEP, BATCH};
    static const int threads[NMODE] = {1, 1, 2, 1, 2, 1};
    dil_options o = dil_default_options(), oc;
    problem p = {m, n, malloc(sizeof(double) * (size_t)n * m->nx),
                 malloc(sizeof(double) * (size_t)m->ntheta),
                 malloc(sizeof(double) * (size_t)n * m->ndata),
                 malloc(sizeof(double) * (size_t)n * m->ny), malloc(sizeof(double) * (size_t)n),
                 malloc(sizeof(double) * (size_t)m->ntheta)};
    double *work = malloc(sizeof(double) * dil_work_size(m, &o));
    double *g0 = malloc(sizeof(double) * (size_t)m->ntheta), best[NMODE];

    fill(p.x, n * m->nx, 2, 1.0);
    fill(p.theta, m->ntheta, 3, 0.3);
    fill(p.data, n * m->ndata, 4, 1.0);
    oc = o;
    oc.curvature_check = 0;
    for (int mode = 0; mode < NMODE; mode++) {
        best[mode] = 1e300;
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            int st = step(&p, kind[mode], threads[mode], mode == NMODE - 1 ? &oc : &o, work);
            double dt = now_ms() - t0;
            if (st != DIL_OK) {
                fprintf(stderr, "%s: %s\n", names[mode], dil_status_string(st));
                return 1;
            }
            best[mode] = dt < best[mode] ? dt : best[mode];
        }
        /* every mode but nocheck gives the single loop's bits */
        if (mode == 0)
            memcpy(g0, p.g, sizeof(double) * (size_t)m->ntheta);
        if (mode < NMODE - 1 && memcmp(g0, p.g, sizeof(double) * (size_t)m->ntheta) != 0) {
            fprintf(stderr, "%s: dL/dtheta differs from the single calls'\n", names[mode]);
            return 1;
        }
    }
    printf("node_vdp training step, %d pairs (H = 500), best of %d, ms:\n", n, reps);
    for (int mode = 0; mode < NMODE; mode++)
        printf("  %-8s %9.3f  (%.2fx single)\n", names[mode], best[mode], best[0] / best[mode]);
    return 0;
}
