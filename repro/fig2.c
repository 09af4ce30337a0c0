/*
 * fig2.c - the paper's Figure 2: forward and backward time of one step of a
 * neural ODE (two hidden tanh layers of width 30, dt = 0.1) over 100 random
 * initialisations, mean +- standard deviation, for
 *   - the implicit backward-Euler step as a DIL: forward = dil_solve with
 *     the Newton solver of step.c; backward = dil_backward by CG
 *     (Algorithm 1) and by the dense Hessian (the paper's "naive" IFT);
 *   - the explicit adaptive Dormand-Prince 5(4) step over the same dt:
 *     forward = dopri_solve; backward = backpropagation through the stages
 *     of every accepted step (dopri.c),
 * against the state size (D = 2, 8, 32 at lam = 0) and the stiffness (D = 2,
 * dx/dt = h(x) - lam x with lam = 0, 10, 100, 1000).  Both forward solvers
 * use the same acceptance level, 1e-6: ||df/dy|| <= 1e-6 for Newton, rtol
 * = atol = 1e-6 for the local error of Dormand-Prince.
 *
 *   fig2 [--inits N] [--out FILE]
 *
 * Prints a table (microseconds per call) and writes FILE (default
 * build/repro/fig2.dat) for repro/plots.py.  Each time is the thread CPU
 * time of as many repetitions as fill about 1 ms, divided by their number.
 * Measured (docs/results/table1.md): at D = 2 the implicit step takes 4.4 us
 * forward and 8.1 us backward (CG), the same at stiffness 1000; the explicit
 * step 29 us and 18 us, growing to 567 us and 396 us at stiffness 1000.
 */
// models: fig2_d2 fig2_d8 fig2_d32
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dopri.h"
#include "fig2_d2.h"
#include "fig2_d32.h"
#include "fig2_d8.h"
#include "node.h"
#include "step.h"

#define TOL 1e-6
#define NMETHOD 5
static const char *const method_name[NMETHOD] = {
    "BE fwd (Newton)", "BE bwd (IFT, CG)", "BE bwd (IFT, dense)", "DOPRI5 fwd",
    "DOPRI5 bwd (backprop)",
};
static const char *const method_key[NMETHOD] = {
    "be_fwd", "be_bwd_cg", "be_bwd_dense", "dp_fwd", "dp_bwd",
};

typedef struct config {
    const char *sweep;        /* "size" or "stiffness" */
    const dil_model *m;
    double lam;
} config;

/* The calling thread's CPU time: on a shared machine, wall-clock times of
   microsecond calls mostly measure the other processes. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Everything one initialisation needs. */
typedef struct bench {
    const dil_model *m;
    dopri_net net;
    dil_options fwd, cg, dense;
    double *theta, *x, *y, *g, *gx, *gth, *work, *x1, *g0;
    dopri_tape *tape;
    int status;               /* first failure seen, DIL_OK if none */
    double steps, nfev;       /* DOPRI5 accepted steps and evaluations */
} bench;

/* One call of method k; returns nonzero on a failure. */
static int call(bench *b, int k)
{
    dopri_stats st;
    switch (k) {
    case 0:
        return dil_solve(b->m, b->x, b->theta, b->y, &b->fwd, NULL, b->work);
    case 1:
        return dil_backward(b->m, b->y, b->x, b->theta, b->g, b->gx, b->gth, &b->cg, NULL,
                            b->work);
    case 2:
        return dil_backward(b->m, b->y, b->x, b->theta, b->g, b->gx, b->gth, &b->dense,
                            NULL, b->work);
    case 3: {
        int rc = dopri_solve(&b->net, b->x, 0.1, TOL, TOL, 100000, b->x1, b->tape, &st);
        b->steps = st.accepted;
        b->nfev = st.nfev;
        return rc;
    }
    default:
        dopri_backward(&b->net, b->tape, b->g, b->g0, b->gth);
        return 0;
    }
}

/* Seconds per call of method k, from as many calls as fill ~1 ms. */
static double time_call(bench *b, int k)
{
    double t0 = now();
    int st = call(b, k);
    double one = now() - t0;
    if (st != 0 && b->status == DIL_OK)
        b->status = st;
    int n = one > 1e-3 ? 1 : (int)fmin(1000, ceil(1e-3 / fmax(one, 1e-8)));
    t0 = now();
    for (int r = 0; r < n; r++)
        call(b, k);
    return (now() - t0) / n;
}

static int bench_init(bench *b, const dil_model *m, double lam)
{
    const int D = m->ny, nt = m->ntheta;
    memset(b, 0, sizeof *b);
    b->m = m;
    b->fwd = step_options(m, DIL_BACKWARD_CG, TOL);
    b->cg = b->fwd;
    b->dense = step_options(m, DIL_BACKWARD_DENSE, TOL);
    size_t wl = dil_work_size(m, &b->dense) > dil_work_size(m, &b->cg)
                    ? dil_work_size(m, &b->dense) : dil_work_size(m, &b->cg);
    b->theta = malloc((size_t)nt * sizeof *b->theta);
    b->gth = malloc((size_t)nt * sizeof *b->gth);
    b->x = malloc((size_t)(D + 1) * sizeof *b->x);
    b->y = malloc((size_t)D * 6 * sizeof *b->y);
    b->g = b->y + D, b->gx = b->g + D, b->x1 = b->gx + D + 1, b->g0 = b->x1 + D;
    b->work = malloc(wl * sizeof *b->work);
    b->tape = dopri_tape_new(D, 30);
    b->net = (dopri_net){ D, 30, lam, b->theta };
    if (!b->theta || !b->gth || !b->x || !b->y || !b->work || !b->tape
        || dopri_ntheta(D, 30) != nt || m->nx != D + 1)
        return -1;
    b->x[D] = lam;
    return 0;
}

static void bench_free(bench *b)
{
    free(b->theta), free(b->gth), free(b->x), free(b->y), free(b->work);
    dopri_tape_free(b->tape);
}

/* 100 (or ninit) initialisations of one configuration: mean and std of
   each method's time, in seconds, into mean[], sd[]; -1 on a failure. */
static int run_config(const config *c, int ninit, double *mean, double *sd, double *steps)
{
    bench b;
    double s1[NMETHOD] = { 0 }, s2[NMETHOD] = { 0 };
    if (bench_init(&b, c->m, c->lam) != 0) {
        fprintf(stderr, "fig2: out of memory or a model that is not a fig2 model\n");
        bench_free(&b);
        return -1;
    }
    *steps = 0;
    for (int i = 0; i < ninit; i++) {
        unsigned long long s = 7919ull * (unsigned long long)i + 17;
        node_init_theta(c->m, 1000 + (unsigned long long)i, b.theta);
        for (int q = 0; q < c->m->ny; q++) {   /* x0 and dL/dy in [-1, 1] */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            b.x[q] = (double)(s >> 11) / 4503599627370496.0 - 1.0;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            b.g[q] = (double)(s >> 11) / 4503599627370496.0 - 1.0;
        }
        for (int k = 0; k < NMETHOD; k++) {
            double t = time_call(&b, k);
            s1[k] += t;
            s2[k] += t * t;
        }
        *steps += b.steps / ninit;
    }
    for (int k = 0; k < NMETHOD; k++) {
        mean[k] = s1[k] / ninit;
        sd[k] = sqrt(fmax(0, s2[k] / ninit - mean[k] * mean[k]));
    }
    int st = b.status;
    bench_free(&b);
    if (st != DIL_OK) {
        fprintf(stderr, "fig2: %s lam=%g: a solve failed (%s); no timing reported\n",
                c->m->name, c->lam, dil_status_string(st));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = "build/repro/fig2.dat";
    int ninit = 100;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--inits") && i + 1 < argc) {
            ninit = atoi(argv[++i]);
            if (ninit < 2) {
                fprintf(stderr, "fig2: --inits expects an integer >= 2, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else {
            fprintf(stderr, "usage: fig2 [--inits N] [--out FILE]\n");
            return 2;
        }
    }
    const config cfg[] = {
        { "size", &fig2_d2_model, 0 },        { "size", &fig2_d8_model, 0 },
        { "size", &fig2_d32_model, 0 },       { "stiffness", &fig2_d2_model, 10 },
        { "stiffness", &fig2_d2_model, 100 }, { "stiffness", &fig2_d2_model, 1000 },
    };
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "fig2: cannot write %s: %s\n", out, strerror(errno));
        return 1;
    }
    fprintf(f, "# sweep D lam method mean_us sd_us dopri_steps (%d initialisations)\n", ninit);
    printf("# Figure 2: microseconds per call, mean +- std over %d initialisations\n", ninit);
    printf("%-10s %3s %6s %7s", "sweep", "D", "lam", "steps");
    for (int k = 0; k < NMETHOD; k++)
        printf(" | %-21s", method_name[k]);
    printf("\n");
    int rc = 0;
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        double mean[NMETHOD], sd[NMETHOD], steps;
        if (run_config(&cfg[c], ninit, mean, sd, &steps) != 0) {
            rc = 1;
            continue;
        }
        printf("%-10s %3d %6g %7.1f", cfg[c].sweep, cfg[c].m->ny, cfg[c].lam, steps);
        for (int k = 0; k < NMETHOD; k++) {
            printf(" | %9.2f +- %-8.2f", 1e6 * mean[k], 1e6 * sd[k]);
            fprintf(f, "%s %d %g %s %.4f %.4f %.2f\n", cfg[c].sweep, cfg[c].m->ny, cfg[c].lam,
                    method_key[k], 1e6 * mean[k], 1e6 * sd[k], steps);
        }
        printf("\n");
        fflush(stdout);
    }
    if (fclose(f) != 0)
        rc = 1;
    return rc;
}
