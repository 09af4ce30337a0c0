/*
 * check_control.c - checks of the paper's control experiments (repro/control/,
 * docs/results/control.md) that the per-model harness cannot make:
 *
 *   dare       the DARE layer (models/dare.dil) against the hand-written
 *              LQR of repro/control/lqr.c: the same Riccati matrix, and the
 *              imitation-loss gradient three ways -- IFT with CG, IFT
 *              dense, and the analytic derivative through the discrete
 *              Lyapunov equation -- agreeing to 1e-8 relative, at learner
 *              matrices A + U[-0.5, 0.5] of the paper's experiment; and
 *              the analytic gradient against central differences of
 *              Riccati-iterate-then-loss (no libdil in that path).
 *   cartpole   the true dynamics (repro/control/cartpole.c): mechanical energy is
 *              conserved without force and friction, and its rate equals
 *              the power of force and friction, (F - b xdot) xdot, by
 *              central differences of the energy along a trajectory.
 *   networks   the dynamics network is the same function in the three
 *              cart-pole models, and the hand-written BC policy of
 *              cartpole.c is the formula of cartpole_bc.dil.
 *   mpc_ift    one MPC_IFT training step at a realistic point (network of
 *              trained scale, expert-like state, horizon 10): the IFT
 *              gradient of the cost parameters matches central differences
 *              of solve-then-loss, and a small step along it lowers the loss.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cartpole.h"
#include "cartpole_bc.h"
#include "cartpole_dyn.h"
#include "cartpole_mpc.h"
#include "common.h"
#include "dare.h"
#include "dil.h"
#include "lqr.h"

static double rel_diff(const double *a, const double *b, int n)
{
    double d = 0, nb = 0;
    for (int k = 0; k < n; k++)
        d += (a[k] - b[k]) * (a[k] - b[k]), nb += b[k] * b[k];
    return sqrt(d) / (nb > 0 ? sqrt(nb) : 1);
}

/* Scratch for every solver and backward form used here (Newton and
   Gauss-Newton, CG and dense): the largest of their sizes. */
static double *work_for(const dil_model *m)
{
    size_t n = 0;
    for (int solver = DIL_SOLVER_NEWTON; solver <= DIL_SOLVER_GAUSS_NEWTON; solver++)
        for (int bw = DIL_BACKWARD_CG; bw <= DIL_BACKWARD_DENSE; bw++) {
            dil_options o = dil_default_options();
            o.solver = solver;
            o.backward = bw;
            size_t k = dil_work_size(m, &o);
            n = k > n ? k : n;
        }
    double *w = malloc(n * sizeof *w);
    ck_assert(w != NULL);
    return w;
}

/* ------------------------------------------------------------------ */

/* The appendix-C learner at initialisation k: A + U[-0.5, 0.5], B known. */
static void dare_point(int k, double A[4], double B[2], double x0[2], double ue[LQR_T])
{
    repro_rng r;
    repro_rng_seed(&r, 40 + (unsigned long long)k);
    const double At[4] = { 0, 1, -1, -1 };
    for (int i = 0; i < 4; i++)
        A[i] = At[i] + repro_uniform(&r, -0.5, 0.5);
    B[0] = 0, B[1] = -1;
    x0[0] = repro_uniform(&r, -3, 3), x0[1] = repro_uniform(&r, -3, 3);
    for (int t = 0; t < LQR_T; t++)
        ue[t] = repro_uniform(&r, -1, 1);
}

START_TEST(dare_three_ways)
{
    const dil_model *m = &dare_model;
    int oA = repro_symbol(m, "A", DIL_ROLE_PARAM, 4), oB = repro_symbol(m, "B", DIL_ROLE_PARAM, 2);
    double *work = work_for(m);
    for (int k = 0; k < 5; k++) {
        double A[4], B[2], x0[2], ue[LQR_T], S[4], theta[6], s[3];
        dare_point(k, A, B, x0, ue);
        ck_assert_int_ge(lqr_dare_iterate(A, B, 2, S, 1e-13, 100000), 1);
        memcpy(theta + oA, A, sizeof A);
        memcpy(theta + oB, B, sizeof B);
        /* the layer from the Riccati iterate, polished by Gauss-Newton */
        s[0] = S[0], s[1] = S[1], s[2] = S[3];
        dil_options o = dil_default_options();
        o.solver = DIL_SOLVER_GAUSS_NEWTON;
        o.tol = 1e-12;
        o.cg_tol = 1e-13;
        ck_assert_int_eq(dil_solve(m, x0, theta, s, &o, NULL, work), DIL_OK);
        double Ss[4] = { s[0], s[1], s[1], s[2] }, D[4], r[3], K[2];
        lqr_dare_residual(A, B, 2, Ss, D);
        m->residual(s, x0, theta, r, work);
        ck_assert(fabs(r[0] - D[0]) < 1e-12 && fabs(r[1] - D[1]) < 1e-12 &&
                  fabs(r[2] - D[3]) < 1e-12);
        lqr_gain(A, B, 2, Ss, K);
        ck_assert(lqr_closed_loop_radius(A, B, K) < 1);

        double g[3][6], lc, ld, la;
        o.backward = DIL_BACKWARD_CG;
        ck_assert_int_eq(dil_loss_gradient(m, s, x0, theta, ue, &lc, NULL, g[0], &o, NULL, work),
                         DIL_OK);
        o.backward = DIL_BACKWARD_DENSE;
        ck_assert_int_eq(dil_loss_gradient(m, s, x0, theta, ue, &ld, NULL, g[1], &o, NULL, work),
                         DIL_OK);
        ck_assert_int_eq(lqr_loss_gradient(A, B, 2, Ss, x0, ue, &la, g[2] + oA, g[2] + oB), 0);
        ck_assert(fabs(lc - la) <= 1e-12 * (1 + la));
        ck_assert_msg(rel_diff(g[0], g[2], 6) < 1e-8, "CG vs analytic %g", rel_diff(g[0], g[2], 6));
        ck_assert_msg(rel_diff(g[1], g[2], 6) < 1e-8, "dense vs analytic %g",
                      rel_diff(g[1], g[2], 6));
    }
    free(work);
}
END_TEST

/* Loss of the learner (A, B) with S from Riccati iteration only. */
static double dare_loss_by_iteration(const double A[4], const double B[2], const double x0[2],
                                     const double ue[LQR_T])
{
    double S[4], L;
    ck_assert_int_ge(lqr_dare_iterate(A, B, 2, S, 1e-15, 1000000), 1);
    ck_assert_int_eq(lqr_loss_gradient(A, B, 2, S, x0, ue, &L, NULL, NULL), 0);
    return L;
}

START_TEST(dare_analytic_vs_differences)
{
    for (int k = 0; k < 3; k++) {
        double A[4], B[2], x0[2], ue[LQR_T], S[4], gA[4], gB[2], L;
        dare_point(k, A, B, x0, ue);
        ck_assert_int_ge(lqr_dare_iterate(A, B, 2, S, 1e-15, 1000000), 1);
        ck_assert_int_eq(lqr_loss_gradient(A, B, 2, S, x0, ue, &L, gA, gB), 0);
        const double h = 1e-5;
        for (int i = 0; i < 6; i++) {
            double Ap[4], Bp[2], Am[4], Bm[2];
            memcpy(Ap, A, sizeof A), memcpy(Am, A, sizeof A);
            memcpy(Bp, B, sizeof B), memcpy(Bm, B, sizeof B);
            double *pp = i < 4 ? Ap + i : Bp + i - 4, *pm = i < 4 ? Am + i : Bm + i - 4;
            *pp += h, *pm -= h;
            double fd = (dare_loss_by_iteration(Ap, Bp, x0, ue) -
                         dare_loss_by_iteration(Am, Bm, x0, ue)) / (2 * h);
            double an = i < 4 ? gA[i] : gB[i - 4];
            ck_assert_msg(fabs(fd - an) <= 1e-6 * (1 + fabs(an)), "entry %d: fd %g analytic %g",
                          i, fd, an);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(cartpole_energy)
{
    /* No force, no friction: energy is conserved (RK4 error only). */
    double s[CP_NX] = { 0.1, 0.5, 2.5, -1.0 }, e0 = cp_energy(s);
    for (int t = 0; t < 50; t++)
        cp_step_with(s, 0, 0, 100);
    ck_assert_msg(fabs(cp_energy(s) - e0) < 1e-8 * fabs(e0), "energy %.12g -> %.12g", e0,
                  cp_energy(s));
    /* A wrong inertia or coupling term would show here as a drift. */
    ck_assert(fabs(s[2] - 2.5) > 0.1); /* it did move */
}
END_TEST

START_TEST(cartpole_power)
{
    /* dE/dt = (F - b xdot) xdot along the true flow, by central
       differences of E over a tiny RK4 step of the ODE itself. */
    repro_rng r;
    repro_rng_seed(&r, 7);
    for (int k = 0; k < 20; k++) {
        double s[CP_NX], f = repro_uniform(&r, -10, 10), b = CP_FRICTION, ds[CP_NX];
        for (int i = 0; i < CP_NX; i++)
            s[i] = repro_uniform(&r, -3, 3);
        const double h = 1e-4;
        double sp[CP_NX], sm[CP_NX];
        cp_deriv(s, f, b, ds);
        for (int i = 0; i < CP_NX; i++)
            sp[i] = s[i] + h * ds[i], sm[i] = s[i] - h * ds[i];
        double dE = (cp_energy(sp) - cp_energy(sm)) / (2 * h);
        double power = (f - b * s[1]) * s[1];
        ck_assert_msg(fabs(dE - power) < 1e-6 * (1 + fabs(power)), "dE/dt %g, power %g", dE,
                      power);
    }
}
END_TEST

START_TEST(cartpole_task_cost)
{
    double up[CP_NX] = { 0, 0, 3.14159265358979323846, 0 }, down[CP_NX] = { 0, 0, 0, 0 };
    ck_assert(cp_cost(up) < 1e-15);
    /* hanging down: the tip is 2 l = 1.2 m from the target */
    ck_assert(fabs(cp_cost(down) - (1 - exp(-1.44 / 0.125))) < 1e-15);
}
END_TEST

/* ------------------------------------------------------------------ */

/* Network weights of trained scale (uniform, 1/sqrt(fan-in)) for a
   model's rank-2 params, 0.1 for the rest. */
static void net_theta(const dil_model *m, double *theta, unsigned long long seed)
{
    repro_rng r;
    repro_rng_seed(&r, seed);
    for (int i = 0; i < m->nsymbols; i++) {
        const dil_symbol *s = &m->symbols[i];
        if (s->role != DIL_ROLE_PARAM)
            continue;
        int n = s->shape[0] * s->shape[1];
        double a = s->rank == 2 ? 1 / sqrt((double)s->shape[1]) : 0.1;
        for (int k = 0; k < n; k++)
            theta[s->offset + k] = repro_uniform(&r, -a, a);
    }
}

START_TEST(networks_agree)
{
    const dil_model *md = &cartpole_dyn_model, *mb = &cartpole_bc_model, *mm = &cartpole_mpc_model;
    double *td = malloc((size_t)mb->ntheta * sizeof(double));
    double *tm = malloc((size_t)mm->ntheta * sizeof(double));
    double *wd = work_for(md), *wb = work_for(mb), *wm = work_for(mm);
    net_theta(mb, td, 3);
    memcpy(tm, td, (size_t)md->ntheta * sizeof(double));
    for (int k = md->ntheta; k < mm->ntheta; k++)
        tm[k] = 0.1;
    int np = (mb->ntheta - md->ntheta - 1) / 7;
    double s[CP_NX] = { 0.2, -0.7, 1.3, 2.1 };
    double a = cp_bc_policy(td + md->ntheta, np, s);
    /* dynamics layer at (s, pi(s)) vs the BC layer at s */
    double xd[CP_NX + 1], yd[CP_NX] = { 0 }, yb[CP_NX] = { 0 };
    memcpy(xd, s, sizeof s);
    xd[CP_NX] = a;
    ck_assert_int_eq(dil_solve(md, xd, td, yd, NULL, NULL, wd), DIL_OK);
    ck_assert_int_eq(dil_solve(mb, s, td, yb, NULL, NULL, wb), DIL_OK);
    ck_assert_msg(rel_diff(yb, yd, CP_NX) < 1e-12, "BC layer vs dynamics at pi(s): %g",
                  rel_diff(yb, yd, CP_NX));
    /* the planner's first predicted state: its loss against y_d is 0 when
       v[0] = atanh(a) */
    double xm[CP_NX + 10], v[10];
    memcpy(xm, s, sizeof s);
    for (int k = 0; k < 10; k++)
        xm[CP_NX + k] = 1, v[k] = 0.3;
    v[0] = atanh(a);
    ck_assert(mm->loss(v, xm, tm, yd, wm) < 1e-24);
    free(td), free(tm), free(wd), free(wb), free(wm);
}
END_TEST

/* Solve the planner from y (in/out) and return the loss there. */
static double plan_loss(const double *x, const double *theta, const double *data, double *y,
                        double *work)
{
    dil_options o = dil_default_options();
    o.tol = 1e-12;
    o.max_iter = 500;
    ck_assert_int_eq(dil_solve(&cartpole_mpc_model, x, theta, y, &o, NULL, work), DIL_OK);
    return cartpole_mpc_model.loss(y, x, theta, data, work);
}

START_TEST(mpc_ift_step)
{
    const dil_model *m = &cartpole_mpc_model;
    int oc = repro_symbol(m, "target", DIL_ROLE_PARAM, 5), nc = m->ntheta - oc;
    double *theta = malloc((size_t)m->ntheta * sizeof(double)), *work = work_for(m);
    double *g = malloc((size_t)m->ntheta * sizeof(double));
    net_theta(m, theta, 11);
    const double target[5] = { 0, 0, 0, -1, 0 };
    for (int k = 0; k < 5; k++)
        theta[oc + k] = target[k], theta[oc + 5 + k] = -0.5 + 0.1 * k;
    /* an expert-like transition: the pole swinging, the next state 0.1 s on */
    double x[CP_NX + 10] = { 0.1, 0.8, 1.0, 3.0 }, data[CP_NX] = { 0.18, 1.3, 1.3, 2.5 };
    for (int k = 0; k < 10; k++)
        x[CP_NX + k] = 1;
    double y[10] = { 0 }, y0[10], loss;
    plan_loss(x, theta, data, y, work);
    memcpy(y0, y, sizeof y);
    dil_options o = dil_default_options();
    o.cg_tol = 1e-12;
    ck_assert_int_eq(dil_loss_gradient(m, y, x, theta, data, &loss, NULL, g, &o, NULL, work),
                     DIL_OK);
    /* central differences of solve-then-loss, from the solution (same
       local minimum) */
    const double h = 1e-5;
    for (int k = 0; k < nc; k++) {
        double keep = theta[oc + k], yp[10], ym[10];
        memcpy(yp, y0, sizeof y0), memcpy(ym, y0, sizeof y0);
        theta[oc + k] = keep + h;
        double lp = plan_loss(x, theta, data, yp, work);
        theta[oc + k] = keep - h;
        double lm = plan_loss(x, theta, data, ym, work);
        theta[oc + k] = keep;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(fd - g[oc + k]) <= 1e-5 * (1e-3 + fabs(g[oc + k])),
                      "cost param %d: IFT %.10g, differences %.10g", k, g[oc + k], fd);
    }
    /* a small step along -gradient lowers the loss */
    double gn = 0;
    for (int k = 0; k < nc; k++)
        gn += g[oc + k] * g[oc + k];
    ck_assert(gn > 0);
    for (int k = 0; k < nc; k++)
        theta[oc + k] -= 1e-3 / sqrt(gn) * g[oc + k];
    memcpy(y, y0, sizeof y0);
    ck_assert(plan_loss(x, theta, data, y, work) < loss);
    free(theta), free(work), free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("control");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dare_three_ways);
    tcase_add_test(tc, dare_analytic_vs_differences);
    tcase_add_test(tc, cartpole_energy);
    tcase_add_test(tc, cartpole_power);
    tcase_add_test(tc, cartpole_task_cost);
    tcase_add_test(tc, networks_agree);
    tcase_add_test(tc, mpc_ift_step);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
