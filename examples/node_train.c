// models: node_euler node_vdp
/*
 * node_train.c - a small, fast example of training a backward-Euler neural
 * ODE through the implicit function theorem (the paper's section 3.1).  It
 * is NOT the paper's Table 1 protocol: for that, with its numbers, see
 * repro/table1.c and docs/results/table1.md (`make reproduce-table1`).
 *
 *   node_train [spiral|vdp]
 *
 * What it does, exactly:
 *   data     one trajectory sampled every dt = 0.1 (RK4 with 20 substeps):
 *            spiral: dx/dt = A x^3, A = [-1 2; -2 -0.1] (the paper's
 *            footnote), from (1, 0), 60 transitions fitted, 40 extrapolated;
 *            vdp: Van der Pol with mu = 3 from (2, 0), 107 fitted, 50
 *            extrapolated;
 *   model    one implicit step x1 = x0 + dt h(x1), h a one-hidden-layer tanh
 *            network (node_euler, H = 50; node_vdp, H = 500);
 *   training one-step pairs only: for each fitted pair (x_t, x_{t+1}) the
 *            step is solved for x1 (Newton-CG) and dL/dtheta of
 *            L = |x1 - x_{t+1}|^2 summed over the pairs (CG on the Hessian
 *            of the score, then the mixed second derivative), all pairs in
 *            one dil_solve_loss_gradient_batch call on every core; full-
 *            batch Adam with a constant learning rate, one seed, no
 *            validation;
 *   output   the mean loss as it falls, then the model rolled out from x(0)
 *            over all steps: the squared error summed over the two state
 *            dimensions and averaged over the fitted and over the
 *            extrapolated steps, beside two trivial predictors on the
 *            extrapolated steps (0, and the last fitted state held).
 * Measured (build/examples/node_train spiral | vdp): spiral extrapolation
 * error 0.035 against 0.020 for holding the last state, i.e. worse than
 * that trivial baseline; Van der Pol 3.6 against 4.3 for predicting 0.
 * One-step training does not make a good long-horizon model; the Table 1
 * reproduction trains rollouts of many steps instead (multiple shooting).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"
#include "node_euler.h"
#include "node_vdp.h"

#define MAXSTEP 200       /* transitions of the longest trajectory */

static const double dt = 0.1;

/* The true vector fields. */
static void spiral(const double x[2], double dx[2])
{
    static const double A[2][2] = { { -1, 2 }, { -2, -0.1 } };
    double c0 = x[0] * x[0] * x[0], c1 = x[1] * x[1] * x[1];
    dx[0] = A[0][0] * c0 + A[0][1] * c1;
    dx[1] = A[1][0] * c0 + A[1][1] * c1;
}

static void van_der_pol(const double x[2], double dx[2])
{
    const double mu = 3;
    dx[0] = x[1];
    dx[1] = mu * (1 - x[0] * x[0]) * x[1] - x[0];
}

typedef struct Problem {
    const char *name;
    const dil_model *model;
    void (*field)(const double x[2], double dx[2]);
    double x0[2];
    int ntrain, ntest;    /* transitions fitted, then extrapolated */
    int iters;            /* Adam steps */
    double lr;
} Problem;

static const Problem problems[] = {
    {"spiral", &node_euler_model, spiral, {1, 0}, 60, 40, 1000, 0.01},
    /* the paper's split: 107 observations to train on, then extrapolate */
    {"vdp", &node_vdp_model, van_der_pol, {2, 0}, 107, 50, 800, 0.005},
};

static void (*field)(const double x[2], double dx[2]);
static int NTRAIN, NTEST, NSTEP;

/* One interval dt of the true dynamics, by 20 RK4 substeps. */
static void advance(double x[2])
{
    const int sub = 20;
    const double h = dt / sub;
    for (int s = 0; s < sub; s++) {
        double k1[2], k2[2], k3[2], k4[2], t[2];
        field(x, k1);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k1[i];
        field(t, k2);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k2[i];
        field(t, k3);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h * k3[i];
        field(t, k4);
        for (int i = 0; i < 2; i++)
            x[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
}

/* A reproducible uniform number in [-1, 1] (a 64-bit LCG). */
static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/* Offset and size of a parameter by name, -1 if absent. */
static int param(const dil_model *m, const char *name, int *size)
{
    for (int i = 0; i < m->nsymbols; i++)
        if (m->symbols[i].role == DIL_ROLE_PARAM && strcmp(m->symbols[i].name, name) == 0) {
            *size = m->symbols[i].shape[0] * m->symbols[i].shape[1];
            return m->symbols[i].offset;
        }
    return -1;
}

static double traj[MAXSTEP + 1][2];

/* Rolls the model out from x(0) by NSTEP implicit steps, each solved from
   the previous state; mean squared distance to the data over the training
   steps (*fit) and over the extrapolated ones (*extra). */
static int rollout(const dil_model *m, const double *theta, double *work, double *fit,
                   double *extra)
{
    dil_options opt = dil_default_options();
    double x[2] = { traj[0][0], traj[0][1] };
    *fit = *extra = 0;
    for (int t = 0; t < NSTEP; t++) {
        double next[2] = { x[0], x[1] };
        dil_info info;
        int st = dil_solve(m, x, theta, next, &opt, &info, work);
        if (st != DIL_OK) {
            fprintf(stderr, "node_train: rollout step %d: %s\n", t, dil_status_string(st));
            return st;
        }
        x[0] = next[0], x[1] = next[1];
        double e = (x[0] - traj[t + 1][0]) * (x[0] - traj[t + 1][0]) +
                   (x[1] - traj[t + 1][1]) * (x[1] - traj[t + 1][1]);
        if (t < NTRAIN)
            *fit += e / NTRAIN;
        else
            *extra += e / NTEST;
    }
    return DIL_OK;
}

int main(int argc, char **argv)
{
    const Problem *pb = &problems[0];
    if (argc > 1) {
        pb = NULL;
        for (size_t i = 0; i < sizeof problems / sizeof *problems; i++)
            if (strcmp(argv[1], problems[i].name) == 0)
                pb = &problems[i];
        if (!pb) {
            fprintf(stderr, "usage: node_train [spiral|vdp]\n");
            return 2;
        }
    }
    const dil_model *m = pb->model;
    const int D = m->ny, nt = m->ntheta;
    static double y[MAXSTEP][2];
    field = pb->field;
    NTRAIN = pb->ntrain;
    NTEST = pb->ntest;
    NSTEP = NTRAIN + NTEST;

    /* the data */
    traj[0][0] = pb->x0[0];
    traj[0][1] = pb->x0[1];
    for (int t = 0; t < NSTEP; t++) {
        traj[t + 1][0] = traj[t][0];
        traj[t + 1][1] = traj[t][1];
        advance(traj[t + 1]);
    }

    /* theta: W1, b1 of order 1, W2 small, b2 zero */
    double *theta = calloc((size_t)nt, sizeof *theta);
    double *grad = calloc((size_t)nt, sizeof *grad);
    double *am = calloc((size_t)nt, sizeof *am), *av = calloc((size_t)nt, sizeof *av);
    dil_options opt = dil_default_options();
    double *work = malloc(dil_work_size(m, &opt) * sizeof *work);
    if (!theta || !grad || !am || !av || !work || D != 2) {
        fprintf(stderr, "node_train: out of memory or unexpected model\n");
        return EXIT_FAILURE;
    }
    unsigned long long seed = 42;
    int n, off;
    if ((off = param(m, "W1", &n)) >= 0)
        for (int k = 0; k < n; k++)
            theta[off + k] = uniform(&seed);
    if ((off = param(m, "b1", &n)) >= 0)
        for (int k = 0; k < n; k++)
            theta[off + k] = uniform(&seed);
    if ((off = param(m, "W2", &n)) >= 0)
        for (int k = 0; k < n; k++)
            theta[off + k] = 0.1 * uniform(&seed);

    double before, before_x;
    if (rollout(m, theta, work, &before, &before_x) != DIL_OK)
        return EXIT_FAILURE;

    /* Adam on the mean loss over all transitions */
    const double lr = pb->lr, b1 = 0.9, b2 = 0.999;
    double b1t = 1, b2t = 1, mean = 0;
    printf("# backward-Euler NODE (%s, %d parameters) on %d %s transitions\n", m->name, nt,
           NTRAIN, pb->name);
    printf("# %5s %14s\n", "iter", "mean loss");
    for (int t = 0; t < NTRAIN; t++)
        y[t][0] = traj[t][0], y[t][1] = traj[t][1];
    for (int it = 0; it <= pb->iters; it++) {
        /* every pair at once: solve x1 (warm-started from the last
           iteration's), then L and dL/dtheta summed over the pairs, on
           every core (the sum has the same bits for any thread count) */
        static double loss[MAXSTEP];
        static dil_info info[MAXSTEP];
        int st = dil_solve_loss_gradient_batch(m, NTRAIN, &traj[0][0], theta, &y[0][0],
                                               &traj[1][0], loss, NULL, grad, &opt, info, 0);
        if (st != DIL_OK) {
            int t = 0;
            while (t < NTRAIN - 1 && info[t].status == DIL_OK)
                t++;
            fprintf(stderr, "node_train: iteration %d, pair %d: %s\n", it, t,
                    dil_status_string(st));
            return EXIT_FAILURE;
        }
        mean = 0;
        for (int t = 0; t < NTRAIN; t++)
            mean += loss[t] / NTRAIN;
        for (int k = 0; k < nt; k++)
            grad[k] /= NTRAIN;
        if (it % 50 == 0)
            printf("  %5d %14.6e\n", it, mean);
        if (it == pb->iters)
            break;
        b1t *= b1;
        b2t *= b2;
        for (int k = 0; k < nt; k++) {
            am[k] = b1 * am[k] + (1 - b1) * grad[k];
            av[k] = b2 * av[k] + (1 - b2) * grad[k] * grad[k];
            theta[k] -= lr * (am[k] / (1 - b1t)) / (sqrt(av[k] / (1 - b2t)) + 1e-8);
        }
    }

    double after, after_x;
    if (rollout(m, theta, work, &after, &after_x) != DIL_OK)
        return EXIT_FAILURE;
    double zero = 0, hold = 0;
    for (int t = NTRAIN + 1; t <= NSTEP; t++)
        for (int i = 0; i < 2; i++) {
            zero += traj[t][i] * traj[t][i] / NTEST;
            hold += (traj[t][i] - traj[NTRAIN][i]) * (traj[t][i] - traj[NTRAIN][i]) / NTEST;
        }
    printf("# rollout from x(0), squared error summed over both dimensions, mean over steps,\n"
           "# before -> after training:\n"
           "#   %d fitted steps        %.3e -> %.3e\n"
           "#   %d extrapolated steps  %.3e -> %.3e   (predict 0: %.3e, hold the last"
           " fitted state: %.3e)\n",
           NTRAIN, before, after, NTEST, before_x, after_x, zero, hold);
    free(theta), free(grad), free(am), free(av), free(work);
    return EXIT_SUCCESS;
}
