/*
 * kernels.c - calls one kernel of one model many times, for benchmarks.
 *
 *   kernels_MODEL KERNEL REPS      e.g. kernels_node_euler score_hvp_yy 1000
 *
 * Built once per model (MODEL_DESC, MODEL_HEADER as in the tests).  Inputs
 * are fixed pseudo-random values; prints nanoseconds per call.  Under
 * callgrind (bench/run.sh) only the kernel's own instructions, libm calls
 * included, are collected.
 */
#include "dil_model.h"
#include MODEL_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double *filled(int n, unsigned seed)
{
    double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!p)
        exit(2);
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = ((seed >> 8) % 2001) / 1000.0 - 1.0;   /* in [-1, 1] */
    }
    return p;
}

int main(int argc, char **argv)
{
    const dil_model *m = &MODEL_DESC;
    if (argc != 3) {
        fprintf(stderr, "usage: %s KERNEL REPS\n", argv[0]);
        return 2;
    }
    const char *k = argv[1];
    long reps = atol(argv[2]);
    int big = m->ny + m->nx + m->ntheta + m->ndata + m->nres + 1;
    double *y = filled(m->ny, 1), *x = filled(m->nx, 2), *th = filled(m->ntheta, 3);
    double *d = filled(m->ndata, 4), *v = filled(big, 5), *o1 = filled(big, 6);
    double *o2 = filled(big, 7), *o3 = filled(big, 8), *work = filled((int)m->work_size + 1, 9);
    for (int i = 0; i < m->ntheta; i++)
        th[i] *= 0.3;
    volatile double sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < reps; r++) {
        if (!strcmp(k, "score"))
            sink += m->score(y, x, th, work);
        else if (!strcmp(k, "score_grad_y"))
            m->score_grad_y(y, x, th, o1, work);
        else if (!strcmp(k, "score_hvp_yy"))
            m->score_hvp_yy(y, x, th, v, o1, work);
        else if (!strcmp(k, "score_vjp_xy"))
            m->score_vjp_xy(y, x, th, v, o1, work);
        else if (!strcmp(k, "score_vjp_thetay"))
            m->score_vjp_thetay(y, x, th, v, o1, work);
        else if (!strcmp(k, "loss") && m->loss)
            sink += m->loss(y, x, th, d, work);
        else if (!strcmp(k, "loss_grad") && m->loss_grad)
            m->loss_grad(y, x, th, d, o1, o2, o3, work);
        else if (!strcmp(k, "residual") && m->residual)
            m->residual(y, x, th, o1, work);
        else if (!strcmp(k, "residual_jvp_y") && m->residual_jvp_y)
            m->residual_jvp_y(y, x, th, v, o1, work);
        else if (!strcmp(k, "residual_vjp_theta") && m->residual_vjp_theta)
            m->residual_vjp_theta(y, x, th, v, o1, work);
        else {
            fprintf(stderr, "unknown kernel '%s'\n", k);
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)reps;
    printf("%.1f\n", ns);
    (void)sink;
    return 0;
}
