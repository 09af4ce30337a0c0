// models: dare
/*
 * dare.c - the paper's appendix C: learning the dynamics A of an
 * infinite-horizon LQR from expert controls alone, differentiating through
 * the discrete algebraic Riccati equation (DARE) as an implicit layer.
 *
 * System (mass-spring-damper, m = k = 1): A = [0 1; -1 -c], B = (0, -1)',
 * Q = I, R = 2, x0 = (0, 3), c in {1, 0.1, -0.6} (the paper reports c = 1).
 * The expert's gain K comes from the true A; its closed loop from x0 gives
 * 50 states and controls u = -K x (the training data).  The learner starts
 * from A_hat = A + U[-0.5, 0.5] per element (5 initialisations, seeds
 * 1..5) and, for 3000 iterations, picks a random start k in 0..44, solves
 * the DARE for A_hat (models/dare.dil, a residual model in the three
 * entries of the symmetric S, compiled by dilc; dil_solve with
 * Gauss-Newton warm-started from the previous S), rolls its own closed
 * loop 6 steps from the expert's state x_k and takes one Adam step on the
 * imitation loss sum_t (u_hat_t - u_k+t)^2 with respect to A_hat (B known;
 * the step decays geometrically from 3e-2 to 3e-3).
 *
 * The gradient is computed three ways at every iteration: IFT with CG
 * (dil_loss_gradient, DIL_BACKWARD_CG), IFT dense (DIL_BACKWARD_DENSE) and
 * the analytic DARE derivative through a discrete Lyapunov equation
 * (repro/control/lqr.c, East et al. 2020).  Three learners are trained, one per
 * gradient, from the same initialisations and the same sequence of starts;
 * the relative differences of the three gradients are recorded along the
 * CG learner's path.  Recorded per iteration: the imitation loss over the
 * whole data set (mean over the 45 start windows of the 6-step loss) and
 * the model loss ||A - A_hat|| (Frobenius norm, which bounds the spectral
 * norm from above).
 *
 * Usage: dare DARE_CSV CURVES_CSV   (DARE_CSV has a row every 10th
 * iteration, CURVES_CSV every 30th; the printed maximum gradient difference
 * is over every iteration)
 *   DARE_CSV    init,iteration,imitation_loss,model_loss,
 *               grad_rel_diff_cg_analytic,grad_rel_diff_dense_analytic
 *               (c = 1, the CG learner)
 *   CURVES_CSV  c,method,init,iteration,imitation_loss,model_loss
 *               (all c, all three learners; for Figure 4)
 * A summary is printed on stdout.  Deterministic: the same output on every
 * run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dare.h"
#include "dil.h"
#include "lqr.h"

#define NDATA 50              /* expert states and controls */
#define NSTART (NDATA - LQR_T + 1)
#define ITERS 3000
#define NINIT 5
#define LOG_EVERY 10          /* iterations between CSV rows */
#define R_COST 2.0
/* Adam's step decays geometrically from LR0 to LR0*LRF over the run;
   environment variables LR0 and LRF override (docs/results/control.md
   lists the settings tried). */
static double LR0 = 3e-2, LRF = 0.1;

enum { M_CG, M_DENSE, M_ANALYTIC, NMETHOD };
static const char *const method_name[NMETHOD] = { "ift_cg", "ift_dense", "analytic" };

typedef struct Expert {
    double A[4], B[2], K[2];
    double xs[2 * NDATA], us[NDATA];
} Expert;

typedef struct Layer {
    const dil_model *m;
    int oA, oB, ox0;
    dil_options opt;
    double *work, theta[6], s[3];
} Layer;

/* The DARE solution for the layer's current theta, warm-started from the
   previous s; falls back to Riccati value iteration when the solve fails
   or lands on a solution whose closed loop is not stable (the DARE has
   several solutions; the LQR needs the stabilising one). */
static long n_solves, n_restarts; /* forward calls; Riccati restarts among them */

static int forward(Layer *L)
{
    n_solves++;
    const double *A = L->theta + L->oA, *B = L->theta + L->oB;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt == 1) {
            double S[4];
            n_restarts++;
            if (lqr_dare_iterate(A, B, R_COST, S, 1e-10, 100000) < 0)
                return -1;
            L->s[0] = S[0], L->s[1] = S[1], L->s[2] = S[3];
        }
        dil_info info;
        const double x_unused[2] = { 0, 0 }; /* x0 enters the loss only */
        int st = dil_solve(L->m, x_unused, L->theta, L->s, &L->opt, &info, L->work);
        double S[4] = { L->s[0], L->s[1], L->s[1], L->s[2] }, K[2];
        lqr_gain(A, B, R_COST, S, K);
        if (st == DIL_OK && lqr_closed_loop_radius(A, B, K) < 1)
            return 0;
    }
    return -1;
}

/* Mean 6-step imitation loss over every start window, at the layer's S. */
static double dataset_loss(const Layer *L, const Expert *E)
{
    double x[2], sum = 0;
    for (int k = 0; k < NSTART; k++) {
        x[0] = E->xs[2 * k], x[1] = E->xs[2 * k + 1];
        sum += L->m->loss(L->s, x, L->theta, E->us + k, L->work);
    }
    return sum / NSTART;
}

static double model_loss(const Layer *L, const Expert *E)
{
    double s = 0;
    for (int k = 0; k < 4; k++)
        s += (L->theta[L->oA + k] - E->A[k]) * (L->theta[L->oA + k] - E->A[k]);
    return sqrt(s);
}

static double rel_diff(const double *a, const double *b, int n)
{
    double d = 0, nb = 0;
    for (int k = 0; k < n; k++)
        d += (a[k] - b[k]) * (a[k] - b[k]), nb += b[k] * b[k];
    return sqrt(d) / (sqrt(nb) > 0 ? sqrt(nb) : 1);
}

/* The three gradients (A and B blocks, theta layout) at the solved layer
   for the start window k.  Returns 0 or -1. */
static int gradients(Layer *L, const Expert *E, int k, double g[NMETHOD][6])
{
    const double *x0 = E->xs + 2 * k, *ue = E->us + k;
    for (int meth = M_CG; meth <= M_DENSE; meth++) {
        dil_options o = L->opt;
        o.backward = meth == M_CG ? DIL_BACKWARD_CG : DIL_BACKWARD_DENSE;
        double loss;
        if (dil_loss_gradient(L->m, L->s, x0, L->theta, ue, &loss, NULL, g[meth], &o, NULL,
                              L->work) != DIL_OK)
            return -1;
    }
    double S[4] = { L->s[0], L->s[1], L->s[1], L->s[2] }, loss;
    return lqr_loss_gradient(L->theta + L->oA, L->theta + L->oB, R_COST, S, x0, ue, &loss,
                             g[M_ANALYTIC] + L->oA, g[M_ANALYTIC] + L->oB);
}

static void make_expert(Expert *E, double c)
{
    const double A[4] = { 0, 1, -1, -c }, B[2] = { 0, -1 }, x0[2] = { 0, 3 };
    double S[4];
    memcpy(E->A, A, sizeof A);
    memcpy(E->B, B, sizeof B);
    if (lqr_dare_iterate(A, B, R_COST, S, 1e-14, 100000) < 0) {
        fprintf(stderr, "dare: the expert's DARE did not converge (c = %g)\n", c);
        exit(EXIT_FAILURE);
    }
    lqr_gain(A, B, R_COST, S, E->K);
    lqr_rollout(A, B, E->K, x0, NDATA, E->xs, E->us);
}

/* One learner: ITERS Adam steps with the gradient of `method`.  Writes the
   curves; with `csv` (the CG learner at c = 1) also the gradient
   agreement.  Returns the final model loss, or -1 on a failed solve. */
static double train(Layer *L, const Expert *E, double c, int init, int method, FILE *curves,
                    FILE *csv, double *worst)
{
    repro_rng rng, starts;
    repro_rng_seed(&rng, (unsigned long long)init);
    repro_rng_seed(&starts, 1000 + (unsigned long long)init);
    memset(L->theta, 0, sizeof L->theta);
    for (int k = 0; k < 4; k++)
        L->theta[L->oA + k] = E->A[k] + repro_uniform(&rng, -0.5, 0.5);
    memcpy(L->theta + L->oB, E->B, sizeof E->B);
    L->s[0] = 1, L->s[1] = 0, L->s[2] = 1;
    repro_adam adam;
    if (repro_adam_init(&adam, 4) != 0)
        return -1;
    double ml = -1;
    for (int it = 0; it <= ITERS; it++) {
        if (forward(L) != 0) {
            fprintf(stderr, "dare: no stabilising DARE solution (c %g init %d it %d)\n", c,
                    init, it);
            break;
        }
        double g[NMETHOD][6];
        int k = repro_index(&starts, NSTART);
        if (gradients(L, E, k, g) != 0) {
            fprintf(stderr, "dare: gradient failed (c %g init %d it %d)\n", c, init, it);
            break;
        }
        double il = dataset_loss(L, E);
        ml = model_loss(L, E);
        int logged = it % LOG_EVERY == 0;
        if (it % (3 * LOG_EVERY) == 0)
            fprintf(curves, "%g,%s,%d,%d,%.6e,%.6e\n", c, method_name[method], init, it, il, ml);
        if (csv) {
            double dc = rel_diff(g[M_CG], g[M_ANALYTIC], 6);
            double dd = rel_diff(g[M_DENSE], g[M_ANALYTIC], 6);
            if (logged)
                fprintf(csv, "%d,%d,%.6e,%.6e,%.3e,%.3e\n", init, it, il, ml, dc, dd);
            *worst = fmax(*worst, fmax(dc, dd)); /* over every iteration */
        }
        if (it == ITERS)
            break;
        double lr = LR0 * pow(LRF, (double)it / ITERS);
        repro_adam_step(&adam, L->theta + L->oA, g[method] + L->oA, lr);
    }
    repro_adam_free(&adam);
    return ml;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DARE_CSV CURVES_CSV\n", argv[0]);
        return 2;
    }
    FILE *csv = fopen(argv[1], "w"), *curves = fopen(argv[2], "w");
    if (!csv || !curves) {
        fprintf(stderr, "dare: cannot write %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    if (getenv("LR0")) LR0 = atof(getenv("LR0"));
    if (getenv("LRF")) LRF = atof(getenv("LRF"));
    double t0 = repro_wall(), c0 = repro_cpu();
    Layer L;
    L.m = &dare_model;
    L.oA = repro_symbol(L.m, "A", DIL_ROLE_PARAM, 4);
    L.oB = repro_symbol(L.m, "B", DIL_ROLE_PARAM, 2);
    L.opt = dil_default_options();
    L.opt.solver = DIL_SOLVER_GAUSS_NEWTON;
    L.opt.tol = 1e-12;
    L.opt.cg_tol = 1e-13;
    /* one scratch for the solve and both backward forms (dense needs most) */
    dil_options dense = L.opt;
    dense.backward = DIL_BACKWARD_DENSE;
    size_t nw = dil_work_size(L.m, &dense);
    if (dil_work_size(L.m, &L.opt) > nw)
        nw = dil_work_size(L.m, &L.opt);
    L.work = malloc(nw * sizeof(double));
    if (!L.work)
        return EXIT_FAILURE;
    fprintf(csv, "init,iteration,imitation_loss,model_loss,"
                 "grad_rel_diff_cg_analytic,grad_rel_diff_dense_analytic\n");
    fprintf(curves, "c,method,init,iteration,imitation_loss,model_loss\n");

    const double cs[3] = { 1, 0.1, -0.6 };
    int fails = 0;
    printf("# appendix C: %d iterations, %d initialisations, final ||A - A_hat||_F\n", ITERS,
           NINIT);
    printf("%6s %-10s %s\n", "c", "gradient", "per initialisation (max)");
    for (int ci = 0; ci < 3; ci++) {
        Expert E;
        make_expert(&E, cs[ci]);
        for (int meth = 0; meth < NMETHOD; meth++) {
            double worst_ml = 0, worst_g = 0;
            printf("%6g %-10s", cs[ci], method_name[meth]);
            for (int init = 1; init <= NINIT; init++) {
                FILE *agree = ci == 0 && meth == M_CG ? csv : NULL;
                double ml = train(&L, &E, cs[ci], init, meth, curves, agree, &worst_g);
                printf(" %.2e", ml);
                fails += ml < 0;
                worst_ml = ml < 0 ? INFINITY : fmax(worst_ml, ml);
            }
            printf("  (max %.2e)", worst_ml);
            if (ci == 0 && meth == M_CG)
                printf("  max gradient rel. diff vs analytic %.2e", worst_g);
            printf("\n");
        }
    }
    printf("# %ld DARE solves, %ld of them restarted from Riccati iteration\n", n_solves,
           n_restarts);
    printf("# wall %.1f s, CPU %.1f s\n", repro_wall() - t0, repro_cpu() - c0);
    free(L.work);
    fclose(csv);
    fclose(curves);
    return fails ? EXIT_FAILURE : EXIT_SUCCESS;
}
