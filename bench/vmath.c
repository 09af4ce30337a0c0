/*
 * vmath.c - nanoseconds per element of libm's scalar functions against
 * compiler/vmath.h's vectorisable ones, in the loop form dilc emits
 * (`for (int i = 0; i < 500; i++) s[i] = f(a[i]);`), over one array of
 * 500 and over 107 arrays of 500 (the Van der Pol training batch).
 *
 * `make bench-vmath` builds this file twice (-O2, and -O3 -march=native)
 * and bench/vmath.sh prints both side by side.  Output, one line per
 * (function, size): name, elements, libm ns/element, ours ns/element.
 * Each figure is the best of 7 timings of at least 20 ms of thread CPU
 * time each (CPU time, not wall time: other jobs share the machine).
 */
#include "vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N 500
#define BATCH 107

static double in[BATCH * N], out[BATCH * N];

/* The formulas dilc emits today for sigmoid and softplus (over libm). */
static double lib_sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static double lib_softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* One fixed-trip loop per function and size: the shape gcc -O2 vectorises
   (restrict, trip count a multiple of the vector length). */
#define LOOPS(tag, f)                                                          \
    static void tag##_1(double *restrict s, const double *restrict a)         \
    {                                                                          \
        for (int i = 0; i < N; i++)                                            \
            s[i] = f(a[i]);                                                    \
    }                                                                          \
    static void tag##_b(double *restrict s, const double *restrict a)         \
    {                                                                          \
        for (int j = 0; j < BATCH; j++)                                        \
            for (int i = 0; i < N; i++)                                        \
                s[j * N + i] = f(a[j * N + i]);                                \
    }
LOOPS(lib_tanh, tanh)
LOOPS(our_tanh, dil_vtanh)
LOOPS(lib_exp, exp)
LOOPS(our_exp, dil_vexp)
LOOPS(lib_expm1, expm1)
LOOPS(our_expm1, dil_vexpm1)
LOOPS(lib_log, log)
LOOPS(our_log, dil_vlog)
LOOPS(lib_log1p, log1p)
LOOPS(our_log1p, dil_vlog1p)
LOOPS(lib_sigm, lib_sigmoid)
LOOPS(our_sigm, dil_vsigmoid)
LOOPS(lib_softp, lib_softplus)
LOOPS(our_softp, dil_vsoftplus)

typedef void (*Loop)(double *restrict, const double *restrict);

static const struct {
    const char *name;
    double lo, hi;       /* the arguments: uniform in [lo, hi] */
    Loop lib1, libb, our1, ourb;
} funcs[] = {
    {"tanh", -3, 3, lib_tanh_1, lib_tanh_b, our_tanh_1, our_tanh_b},
    {"exp", -10, 10, lib_exp_1, lib_exp_b, our_exp_1, our_exp_b},
    {"expm1", -2, 2, lib_expm1_1, lib_expm1_b, our_expm1_1, our_expm1_b},
    {"log", 0.01, 100, lib_log_1, lib_log_b, our_log_1, our_log_b},
    {"log1p", -0.5, 10, lib_log1p_1, lib_log1p_b, our_log1p_1, our_log1p_b},
    {"sigmoid", -6, 6, lib_sigm_1, lib_sigm_b, our_sigm_1, our_sigm_b},
    {"softplus", -6, 6, lib_softp_1, lib_softp_b, our_softp_1, our_softp_b},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* CPU time: the machine is shared */
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Best of 7 runs of >= 20 ms, in ns per element. */
static double time_loop(Loop f, long elems)
{
    long reps = 1;
    for (;;) {
        double t0 = now();
        for (long r = 0; r < reps; r++)
            f(out, in);
        if (now() - t0 >= 0.02)
            break;
        reps *= 2;
    }
    double best = 1e30;
    for (int k = 0; k < 7; k++) {
        double t0 = now();
        for (long r = 0; r < reps; r++)
            f(out, in);
        double t = (now() - t0) / ((double)reps * elems) * 1e9;
        if (t < best)
            best = t;
    }
    return best;
}

int main(void)
{
    unsigned long s = 12345;
    double sink = 0;
    for (size_t f = 0; f < sizeof funcs / sizeof *funcs; f++) {
        for (int i = 0; i < BATCH * N; i++) {
            s = s * 6364136223846793005ul + 1442695040888963407ul;
            in[i] = funcs[f].lo + (funcs[f].hi - funcs[f].lo) * (double)(s >> 11) * 0x1p-53;
        }
        printf("%s %d %.2f %.2f\n", funcs[f].name, N, time_loop(funcs[f].lib1, N),
               time_loop(funcs[f].our1, N));
        sink += out[N - 1];
        printf("%s %d %.2f %.2f\n", funcs[f].name, BATCH * N, time_loop(funcs[f].libb, BATCH * N),
               time_loop(funcs[f].ourb, BATCH * N));
        sink += out[BATCH * N - 1];
    }
    return sink == 12345.678 ? EXIT_FAILURE : EXIT_SUCCESS;   /* keeps the results live */
}
