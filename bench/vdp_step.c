/*
 * vdp_step.c - one full-batch training step of the Van der Pol neural ODE
 * (issue 8's benchmark): for each of the 107 one-step pairs (x_t, x_t+1)
 * of the trajectory node_train fits, solve the implicit step
 * y = x_t + dt h(y) (model node_vdp, H = 500, Newton from y = x_t), then
 * the IFT gradient of L = |y - x_t+1|^2, summed over the pairs.  This is
 * the loop body of examples/node_train.c; timed on 1 and 2 threads.
 *
 *   vdp_step OUT.bin    prints "threads ms cpu_ms" lines (fastest of
 *                       ROUNDS, wall clock and process CPU time: on a
 *                       shared machine the CPU time is the figure robust
 *                       to load; on 2 threads it sums both, OpenMP's
 *                       waiting included), and writes the trajectory, theta, the loss
 *                       and the summed gradient to OUT.bin for
 *                       bench/vdp_step.py, which runs the same step in
 *                       PyTorch, checks it gets the same gradient and
 *                       times it.
 */
#include "dil.h"
#include "node_vdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NPAIR 107
#define ROUNDS 7
#define DT 0.1
#define MU 3.0

static double traj[NPAIR + 1][2];

static void vdp(const double x[2], double dx[2])
{
    dx[0] = x[1];
    dx[1] = MU * (1 - x[0] * x[0]) * x[1] - x[0];
}

/* One interval dt of the true dynamics, by 20 RK4 substeps (as node_train). */
static void advance(double x[2])
{
    const int sub = 20;
    const double h = DT / sub;
    for (int s = 0; s < sub; s++) {
        double k1[2], k2[2], k3[2], k4[2], t[2];
        vdp(x, k1);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k1[i];
        vdp(t, k2);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h / 2 * k2[i];
        vdp(t, k3);
        for (int i = 0; i < 2; i++)
            t[i] = x[i] + h * k3[i];
        vdp(t, k4);
        for (int i = 0; i < 2; i++)
            x[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
}

static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/*
 * The whole batch: solve every pair, then the summed loss gradient, by
 * dil_solve_loss_gradient_batch on nthreads threads: the batch form of
 * dil_solve followed by dil_loss_gradient (the same bits), whose backward
 * starts from the solve's last sweep instead of sweeping the network
 * again.  Solver and backward are the root-finding pair for this square
 * residual model: Gauss-Newton (lambda = 0 and the step solved directly
 * from the 2 x 2 J held densely, runtime/small.c: Newton's method on r, as
 * bench/vdp_step.py does it) stopping on ||r|| <= tol, and the root-form
 * backward J^T g = dL/dy (solved directly too): per pair 3.27 sweeps of
 * the network (the fused residual_linearise at the start and at each of
 * 2.27 iterations), none for the backward, and 8.5 Jacobian products from
 * their state (n_jac: 5.5 in the solve, 3 in the backward).  The
 * score-form pair (Newton-CG on f = |r|^2/2 with its curvature
 * certificate, CG backward on H) gets the same answer with more sweeps
 * (score_linearise, each also computing the gradient) and 13 HVPs per
 * pair.  Each solve starts from y = x_t.  (From the explicit Euler step
 * y0 = x - r(x; x) instead, Gauss-Newton takes 2.05 iterations per pair
 * rather than 2.36 (both with CG steps), which saves fewer kernel sweeps, 33 fused ones and 66
 * Jacobian products per batch, than the 107 residuals the start costs.)
 */
static int step(const double *theta, double *y, double *loss, double *grad, int nthreads)
{
    const dil_model *m = &node_vdp_model;
    dil_options o = dil_default_options();

    o.solver = DIL_SOLVER_GAUSS_NEWTON;
    o.backward = DIL_BACKWARD_ROOT;
    memcpy(y, traj, sizeof(double) * 2 * NPAIR);
    return dil_solve_loss_gradient_batch(m, NPAIR, &traj[0][0], theta, y, &traj[1][0], loss,
                                         NULL, grad, &o, NULL, nthreads);
}

static double clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    const dil_model *m = &node_vdp_model;
    int nt = m->ntheta, H = (nt - 2) / 5;
    if (argc != 2 || m->ny != 2 || nt != 5 * H + 2) {
        fprintf(stderr, "usage: vdp_step OUT.bin\n");
        return 2;
    }
    traj[0][0] = 2, traj[0][1] = 0;
    for (int t = 0; t < NPAIR; t++) {
        traj[t + 1][0] = traj[t][0], traj[t + 1][1] = traj[t][1];
        advance(traj[t + 1]);
    }
    /* theta as node_train initialises it: W1, b1 of order 1, W2 small */
    double *theta = calloc((size_t)nt, sizeof *theta), *grad = calloc((size_t)nt, sizeof *grad);
    double y[NPAIR][2], loss[NPAIR];
    if (!theta || !grad)
        return 2;
    unsigned long long seed = 42;
    for (int k = 0; k < 3 * H; k++)         /* W1 (2H), b1 (H) */
        theta[k] = uniform(&seed);
    for (int k = 3 * H; k < 5 * H; k++)     /* W2 (2H); b2 = 0 */
        theta[k] = 0.1 * uniform(&seed);
    for (int threads = 1; threads <= 2; threads++) {
        double best = 1e300, best_cpu = 1e300;
        for (int r = 0; r < ROUNDS; r++) {
            double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
            int st = step(theta, &y[0][0], loss, grad, threads);
            double ms = clock_ms(CLOCK_MONOTONIC) - t0;
            double cpu = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (st != DIL_OK) {
                fprintf(stderr, "vdp_step: %s\n", dil_status_string(st));
                return 1;
            }
            if (ms < best)
                best = ms;
            if (cpu < best_cpu)
                best_cpu = cpu;
        }
        printf("%d %.3f %.3f\n", threads, best, best_cpu);
    }
    double total = 0;
    for (int t = 0; t < NPAIR; t++)
        total += loss[t];
    FILE *f = fopen(argv[1], "wb");
    int hdr[2] = {NPAIR, H};
    if (!f || fwrite(hdr, sizeof hdr, 1, f) != 1 || fwrite(traj, sizeof traj, 1, f) != 1 ||
        fwrite(theta, sizeof *theta, (size_t)nt, f) != (size_t)nt ||
        fwrite(&total, sizeof total, 1, f) != 1 ||
        fwrite(grad, sizeof *grad, (size_t)nt, f) != (size_t)nt || fclose(f) != 0) {
        fprintf(stderr, "vdp_step: cannot write %s\n", argv[1]);
        return 1;
    }
    free(theta), free(grad);
    return 0;
}
