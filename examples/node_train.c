// models: node_euler
/*
 * node_train.c - training a backward-Euler neural ODE on spiral data
 * through the implicit function theorem (the paper's section 3.1).
 *
 * The data: one trajectory of the spiral dynamics dx/dt = A x^3
 * (elementwise cube; A = [-1 2; -2 -0.1] as in the paper's footnote),
 * sampled every dt = 0.1 from x(0) = (1, 0) and integrated finely with RK4.
 * The model, models/node_euler.dil, is one implicit step
 * x1 = x0 + dt h(x1) of a 50-unit tanh network h.  Training fits h so that
 * the step maps each observed state to the next: for every pair
 * (x_t, x_{t+1}) the step is solved for x1 (Newton, warm started from the
 * pair's previous solution), and dL/dtheta of L = |x1 - x_{t+1}|^2 comes
 * from dil_loss_gradient: CG on the Hessian of the score, then the mixed
 * second derivative, never a backpropagation through the solver.  Adam
 * updates theta on the full batch; the mean loss is printed as it falls,
 * and at the end the learned ODE is rolled out from x(0) by repeated
 * implicit steps and compared with the data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"
#include "node_euler.h"

#define NSTEP 60          /* observed transitions */
#define ITERS 1000        /* Adam steps on the full batch */

static const double dt = 0.1;

/* The true vector field: dx/dt = A x^3. */
static void spiral(const double x[2], double dx[2])
{
    static const double A[2][2] = { { -1, 2 }, { -2, -0.1 } };
    double c0 = x[0] * x[0] * x[0], c1 = x[1] * x[1] * x[1];
    dx[0] = A[0][0] * c0 + A[0][1] * c1;
    dx[1] = A[1][0] * c0 + A[1][1] * c1;
}

/* One interval dt of the true dynamics, by 20 RK4 substeps. */
static void advance(double x[2])
{
    const int sub = 20;
    const double h = dt / sub;
    for (int s = 0; s < sub; s++) {
        double k1[2], k2[2], k3[2], k4[2], t[2];
        spiral(x, k1);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k1[i];
        spiral(t, k2);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k2[i];
        spiral(t, k3);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h * k3[i];
        spiral(t, k4);
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

static double traj[NSTEP + 1][2];

/* Rolls the model out from x(0) by NSTEP implicit steps, each solved from
   the previous state; *mse is the mean squared distance to the data. */
static int rollout(const dil_model *m, const double *theta, double *work, double *mse)
{
    dil_options opt = dil_default_options();
    double x[2] = { traj[0][0], traj[0][1] };
    *mse = 0;
    for (int t = 0; t < NSTEP; t++) {
        double next[2] = { x[0], x[1] };
        dil_info info;
        int st = dil_solve(m, x, theta, next, &opt, &info, work);
        if (st != DIL_OK) {
            fprintf(stderr, "node_train: rollout step %d: %s\n", t, dil_status_string(st));
            return st;
        }
        x[0] = next[0], x[1] = next[1];
        *mse += ((x[0] - traj[t + 1][0]) * (x[0] - traj[t + 1][0]) +
                 (x[1] - traj[t + 1][1]) * (x[1] - traj[t + 1][1])) / NSTEP;
    }
    return DIL_OK;
}

int main(void)
{
    const dil_model *m = &node_euler_model;
    const int D = m->ny, nt = m->ntheta;
    static double y[NSTEP][2];

    /* the data */
    traj[0][0] = 1;
    traj[0][1] = 0;
    for (int t = 0; t < NSTEP; t++) {
        traj[t + 1][0] = traj[t][0];
        traj[t + 1][1] = traj[t][1];
        advance(traj[t + 1]);
    }

    /* theta: W1, b1 of order 1, W2 small, b2 zero */
    double *theta = calloc((size_t)nt, sizeof *theta);
    double *grad = calloc((size_t)nt, sizeof *grad), *g = calloc((size_t)nt, sizeof *g);
    double *am = calloc((size_t)nt, sizeof *am), *av = calloc((size_t)nt, sizeof *av);
    dil_options opt = dil_default_options();
    double *work = malloc(dil_work_size(m, &opt) * sizeof *work);
    if (!theta || !grad || !g || !am || !av || !work || D != 2) {
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

    double before;
    if (rollout(m, theta, work, &before) != DIL_OK)
        return EXIT_FAILURE;

    /* Adam on the mean loss over all transitions */
    const double lr = 0.01, b1 = 0.9, b2 = 0.999;
    double b1t = 1, b2t = 1, mean = 0;
    printf("# backward-Euler NODE (%s, %d parameters) on %d spiral transitions\n", m->name,
           nt, NSTEP);
    printf("# %5s %14s\n", "iter", "mean loss");
    for (int t = 0; t < NSTEP; t++)
        y[t][0] = traj[t][0], y[t][1] = traj[t][1];
    for (int it = 0; it <= ITERS; it++) {
        memset(grad, 0, (size_t)nt * sizeof *grad);
        mean = 0;
        for (int t = 0; t < NSTEP; t++) {
            dil_info info;
            double loss;
            int st = dil_solve(m, traj[t], theta, y[t], &opt, &info, work);
            if (st == DIL_OK)
                st = dil_loss_gradient(m, y[t], traj[t], theta, traj[t + 1], &loss, NULL, g,
                                       &opt, &info, work);
            if (st != DIL_OK) {
                fprintf(stderr, "node_train: iteration %d, pair %d: %s\n", it, t,
                        dil_status_string(st));
                return EXIT_FAILURE;
            }
            mean += loss / NSTEP;
            for (int k = 0; k < nt; k++)
                grad[k] += g[k] / NSTEP;
        }
        if (it % 50 == 0)
            printf("  %5d %14.6e\n", it, mean);
        if (it == ITERS)
            break;
        b1t *= b1;
        b2t *= b2;
        for (int k = 0; k < nt; k++) {
            am[k] = b1 * am[k] + (1 - b1) * grad[k];
            av[k] = b2 * av[k] + (1 - b2) * grad[k] * grad[k];
            theta[k] -= lr * (am[k] / (1 - b1t)) / (sqrt(av[k] / (1 - b2t)) + 1e-8);
        }
    }

    double after;
    if (rollout(m, theta, work, &after) != DIL_OK)
        return EXIT_FAILURE;
    printf("# rollout of %d implicit steps from x(0): mean squared error %.3e before "
           "training, %.3e after\n", NSTEP, before, after);
    free(theta), free(grad), free(g), free(am), free(av), free(work);
    return EXIT_SUCCESS;
}
