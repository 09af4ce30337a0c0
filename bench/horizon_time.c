/*
 * horizon_time.c - CPU time per call of the score, gradient and
 * Hessian-vector product of one compiled model, for the horizon sweep of
 * bench/horizon.sh (issue 7).
 *
 *   horizon_time_NAME [REPS]     prints "score grad hvp" in ns per call
 *
 * Built per model with MODEL_DESC and MODEL_HEADER.  The machine is
 * shared, so each figure is the least thread CPU time per call over 7
 * rounds of REPS calls (default: about 0.05 s of work per round):
 * preemption adds to wall time, not to CPU time, and the minimum drops
 * rounds disturbed by cache pollution from other processes.
 */
#include "dil_model.h"
#include MODEL_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double *filled(size_t n, unsigned seed, double scale)
{
    double *p = malloc(sizeof(double) * (n ? n : 1));
    if (!p)
        exit(2);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = scale * (((seed >> 8) % 2001) / 1000.0 - 1.0);
    }
    return p;
}

static double cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static const dil_model *M = &MODEL_DESC;
static double *y, *x, *th, *v, *out, *work;
static volatile double sink;

static void call(int k)
{
    if (k == 0)
        sink += M->score(y, x, th, work);
    else if (k == 1)
        M->score_grad_y(y, x, th, out, work);
    else
        M->score_hvp_yy(y, x, th, v, out, work);
}

/* The least CPU time per call over 7 rounds of reps calls. */
static double per_call(int k, long reps)
{
    double best = 1e300;
    for (int r = 0; r < 7; r++) {
        double t0 = cpu_ns();
        for (long i = 0; i < reps; i++)
            call(k);
        double t = (cpu_ns() - t0) / (double)reps;
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    y = filled((size_t)M->ny, 1, 0.3);
    x = filled((size_t)M->nx, 2, 0.3);
    th = filled((size_t)M->ntheta, 3, 0.1);
    for (int i = 0; i < M->ntheta; i++)
        th[i] += M->theta_init ? M->theta_init[i] : 0.0;
    v = filled((size_t)M->ny, 5, 1.0);
    out = filled((size_t)M->ny, 6, 1.0);
    work = filled(M->work_size, 7, 1.0);
    for (int k = 0; k < 3; k++) {
        long reps = argc > 1 ? atol(argv[1]) : 0;
        if (reps <= 0) {            /* about 0.05 s per round */
            double t0 = cpu_ns();
            call(k);
            double once = cpu_ns() - t0;
            reps = once > 0 ? (long)(5e7 / once) : 1000;
            reps = reps < 1 ? 1 : reps > 1000000 ? 1000000 : reps;
        }
        printf("%s%.0f", k ? " " : "", per_call(k, reps));
    }
    printf("\n");
    return 0;
}
