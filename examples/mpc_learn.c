// models: mpc_linear
/*
 * mpc_learn.c - learning the dynamics and the cost of a finite-horizon
 * linear MPC controller from expert plans alone: a small demonstration on
 * the mass-spring-damper system of the paper's appendix C, NOT that
 * experiment.  The paper's appendix C differentiates an infinite-horizon
 * LQR through the discrete algebraic Riccati equation and imitates 6-step
 * closed-loop controls; that reproduction is repro/control/dare.c with
 * models/dare.dil (`make reproduce-dare`, docs/results/control.md).  Here
 * instead the layer is a 10-step open-loop plan (models/mpc_linear.dil), the
 * imitation target is the expert's whole plan, and the state weights q are
 * learned too.
 *
 * The expert plans with models/mpc_linear.dil: controls u[0..T-1]
 * minimising sum_t x[t]' diag(q) x[t] + 2 |u|^2 under x[t+1] = A x[t] + B u[t],
 * with the mass-spring-damper A = [0 1; -k/m -c/m], B = [0; -1/m],
 * k = m = c = 1, q = (1, 1).  Running the expert in closed loop from
 * x = (0, 3) (apply u[0], observe the next state, plan again) yields 50
 * states and the expert's plans there: the training data.  The learner
 * knows B; it starts from A plus uniform noise in [-0.5, 0.5] and from the
 * wrong state weights q = (2, 0.4), and learns both (q is kept positive by
 * projection, so the plan stays a strictly convex problem).
 * Each iteration plans from a random training state with its current A,
 * measures the imitation loss |u - u_expert|^2 and gets dL/dA through the
 * implicit function theorem, in one call (dil_solve_loss_gradient); Adam
 * updates A and q with a decaying step.  The imitation loss over all
 * states is one batch call (dil_solve_loss_gradient_batch).  Printed: the imitation loss over
 * all states, the model error |A - A_true| (Frobenius) and the cost error
 * |q - q_true|.  Measured: A converges to the truth (error 2e-4) and the
 * plans are imitated to 7e-7, while q settles near (1.66, 0.34): along
 * this closed-loop trajectory different state weights give the same
 * plans, so q is not identifiable from these data (inverse optimal
 * control has this ambiguity in general; the paper's appendix reports the
 * model error for this experiment).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"
#include "mpc_linear.h"

#define NDATA 50
#define ITERS 6000

/* Offset of a declared symbol of a role, checking its size; -1 if absent. */
static int symbol(const dil_model *m, const char *name, int role, int size)
{
    for (int i = 0; i < m->nsymbols; i++) {
        const dil_symbol *s = &m->symbols[i];
        if (s->role == role && strcmp(s->name, name) == 0)
            return s->shape[0] * s->shape[1] == size ? s->offset : -1;
    }
    return -1;
}

static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/* Imitation loss of theta, averaged over the training states: every
   state's plan and loss in one batch call (us: NDATA plans of ny). */
static int imitation(const dil_model *m, const double *theta, double (*xs)[2],
                     const double *plans, double *us, const dil_options *opt, double *mean)
{
    double loss[NDATA];
    memset(us, 0, (size_t)NDATA * (size_t)m->ny * sizeof *us);
    int st = dil_solve_loss_gradient_batch(m, NDATA, &xs[0][0], theta, us, plans, loss, NULL,
                                           NULL, opt, NULL, 1);
    *mean = 0;
    for (int d = 0; d < NDATA; d++)
        *mean += loss[d] / NDATA;
    return st;
}

int main(void)
{
    const dil_model *m = &mpc_linear_model;
    const int n = m->ny, nt = m->ntheta;
    const int oA = symbol(m, "A", DIL_ROLE_PARAM, 4), oB = symbol(m, "B", DIL_ROLE_PARAM, 2);
    const int oq = symbol(m, "q", DIL_ROLE_PARAM, 2);
    if (oA < 0 || oB < 0 || oq < 0 || m->nx != 2 || m->ndata != n) {
        fprintf(stderr, "mpc_learn: unexpected model layout\n");
        return EXIT_FAILURE;
    }
    const double A_true[4] = { 0, 1, -1, -1 }, B_true[2] = { 0, -1 };

    dil_options opt = dil_default_options();
    double *work = malloc(dil_work_size(m, &opt) * sizeof *work);
    double *expert = calloc((size_t)nt, sizeof *expert);
    double *theta = calloc((size_t)nt, sizeof *theta), *g = calloc((size_t)nt, sizeof *g);
    double *u = calloc((size_t)n, sizeof *u), *us = calloc((size_t)NDATA * n, sizeof *us);
    /* the expert plans, one block of n per training state (data of the
       loss, stacked as the batch call takes them) */
    double *plans = calloc((size_t)NDATA * n, sizeof *plans);
    static double xs[NDATA][2];
    if (!work || !expert || !theta || !g || !u || !us || !plans) {
        fprintf(stderr, "mpc_learn: out of memory\n");
        return EXIT_FAILURE;
    }

    /* the expert in closed loop */
    memcpy(expert + oA, A_true, sizeof A_true);
    memcpy(expert + oB, B_true, sizeof B_true);
    expert[oq] = expert[oq + 1] = 1;
    double x[2] = { 0, 3 };
    for (int d = 0; d < NDATA; d++) {
        dil_info info;
        xs[d][0] = x[0], xs[d][1] = x[1];
        int st = dil_solve(m, x, expert, plans + (size_t)d * n, &opt, &info, work);
        if (st != DIL_OK) {
            fprintf(stderr, "mpc_learn: expert plan %d: %s\n", d, dil_status_string(st));
            return EXIT_FAILURE;
        }
        double x0 = x[0], x1 = x[1], u0 = plans[(size_t)d * n];
        x[0] = A_true[0] * x0 + A_true[1] * x1 + B_true[0] * u0;
        x[1] = A_true[2] * x0 + A_true[3] * x1 + B_true[1] * u0;
    }

    /* the learner: true B, perturbed A, wrong q */
    memcpy(theta, expert, (size_t)nt * sizeof *theta);
    unsigned long long seed = 7;
    for (int k = 0; k < 4; k++)
        theta[oA + k] += 0.5 * uniform(&seed);
    theta[oq] = 2.0;
    theta[oq + 1] = 0.4;
    const int learn[6] = { oA, oA + 1, oA + 2, oA + 3, oq, oq + 1 };

    const double lr0 = 0.02, b1 = 0.9, b2 = 0.999;
    double am[6] = { 0 }, av[6] = { 0 }, b1t = 1, b2t = 1;
    printf("# learning A and q of %s from %d expert plans (horizon %d)\n", m->name, NDATA, n);
    printf("# %5s %16s %16s %16s\n", "iter", "imitation loss", "|A - A_true|", "|q - q_true|");
    for (int it = 0; it <= ITERS; it++) {
        if (it % 100 == 0) {
            double mean, err = 0;
            int st = imitation(m, theta, xs, plans, us, &opt, &mean);
            if (st != DIL_OK) {
                fprintf(stderr, "mpc_learn: evaluation: %s\n", dil_status_string(st));
                return EXIT_FAILURE;
            }
            for (int k = 0; k < 4; k++)
                err += (theta[oA + k] - A_true[k]) * (theta[oA + k] - A_true[k]);
            double qerr = hypot(theta[oq] - 1, theta[oq + 1] - 1);
            printf("  %5d %16.6e %16.6e %16.6e\n", it, mean, sqrt(err), qerr);
        }
        if (it == ITERS)
            break;
        int d = (int)((uniform(&seed) + 1) / 2 * NDATA) % NDATA;
        dil_info info;
        double loss;
        memset(u, 0, (size_t)n * sizeof *u);
        int st = dil_solve_loss_gradient(m, xs[d], theta, u, plans + (size_t)d * n, &loss, NULL,
                                         g, &opt, &info, work);
        if (st != DIL_OK) {
            fprintf(stderr, "mpc_learn: iteration %d: %s\n", it, dil_status_string(st));
            return EXIT_FAILURE;
        }
        b1t *= b1;
        b2t *= b2;
        double lr = lr0 * pow(0.05, (double)it / ITERS);   /* decays to lr0/20 */
        for (int k = 0; k < 6; k++) {
            double gk = g[learn[k]];
            am[k] = b1 * am[k] + (1 - b1) * gk;
            av[k] = b2 * av[k] + (1 - b2) * gk * gk;
            theta[learn[k]] -= lr * (am[k] / (1 - b1t)) / (sqrt(av[k] / (1 - b2t)) + 1e-8);
        }
        for (int k = 0; k < 2; k++)             /* q > 0: a convex plan */
            if (theta[oq + k] < 1e-3)
                theta[oq + k] = 1e-3;
    }
    printf("# learned A = [%.4f %.4f; %.4f %.4f], true [0 1; -1 -1]\n", theta[oA],
           theta[oA + 1], theta[oA + 2], theta[oA + 3]);
    printf("# learned q = (%.4f, %.4f), true (1, 1)\n", theta[oq], theta[oq + 1]);
    free(plans), free(us), free(work), free(expert), free(theta), free(g), free(u);
    return EXIT_SUCCESS;
}
