/*
 * check_minimum.c - never DIL_OK with a wrong gradient (issue 13): saddles,
 * maxima, flat directions and extreme scales, each started at its worst
 * point, through every descent solver and both score-form backwards.
 *
 * The models are .dil files in tests/minimum/, compiled by build/dilc when
 * the tests are built (tests/tests.mk), so their kernels are the compiler's
 * and are checked by the compiler's own tests; the answers here are closed
 * forms.  Each model either reaches its minimiser with the right
 * derivative, or gets a status: DIL_OK at a saddle, a maximum or a point
 * far from the minimiser fails the test.  Every solver must reach the
 * minimiser from the same start as Newton, with the same tol.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dil.h"
#include "m13_cancel.h"
#include "m13_cosmax.h"
#include "m13_flat.h"
#include "m13_huge.h"
#include "m13_max.h"
#include "m13_saddle.h"
#include "m13_stiffflat.h"
#include "m13_tiny.h"
#include "m13_wide.h"

static const double PI = 3.14159265358979323846;
static const int descent[3] = {DIL_SOLVER_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_GRADIENT};

/* dil_solve from start with the default options (tol 1e-10 for every
   solver) and a budget that suits the solver. */
static int solve(const dil_model *m, const double *x, const double *th, const double *start,
                 int solver, double *y, dil_info *info)
{
    dil_options o = dil_default_options();
    o.solver = solver;
    o.max_iter = solver == DIL_SOLVER_NEWTON ? 100 : 20000;
    memcpy(y, start, sizeof(double) * (size_t)m->ny);
    return dil_solve(m, x, th, y, &o, info, NULL);
}

static int loss_grad(const dil_model *m, int form, const double *y, const double *x,
                     const double *th, double *dx, double *dth)
{
    dil_options o = dil_default_options();
    double L, none = 0.0;
    o.backward = form;
    return dil_loss_gradient(m, y, x, th, &none, &L, dx, dth, &o, NULL, NULL);
}

static int near(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(b), 1e-300);
}

/* score (y0^2 - 1)^2 + (y1 - a - y0^2)^2 from (0, 0): Newton used to stop
   at the saddle (0, 1) with DIL_OK, and both backwards gave dL/da = -4. */
START_TEST(test_saddle)
{
    const double *a = m13_saddle_model.theta_init, start[2] = {0, 0}, saddle[2] = {0, 1};
    double y[2], da;
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_saddle_model, NULL, a, start, s, y, &info), DIL_OK);
    ck_assert_msg(near(fabs(y[0]), 1, 1e-8) && near(y[1], 2, 1e-8), "solver %d: (%g, %g)",
                  s, y[0], y[1]);
    ck_assert_int_eq(loss_grad(&m13_saddle_model, DIL_BACKWARD_CG, y, NULL, a, NULL, &da), DIL_OK);
    ck_assert_msg(near(da, -2, 1e-6), "dL/da %g", da);
    ck_assert_int_eq(loss_grad(&m13_saddle_model, DIL_BACKWARD_DENSE, y, NULL, a, NULL, &da),
                     DIL_OK);
    ck_assert(near(da, -2, 1e-6));
    /* at the saddle itself both backwards refuse */
    da = 7;
    ck_assert_int_eq(loss_grad(&m13_saddle_model, DIL_BACKWARD_CG, saddle, NULL, a, NULL, &da),
                     DIL_NOT_MINIMUM);
    ck_assert_int_eq(loss_grad(&m13_saddle_model, DIL_BACKWARD_DENSE, saddle, NULL, a, NULL,
                               &da), DIL_NOT_MINIMUM);
    ck_assert(da == 7);
}
END_TEST

/* The check is what makes the difference: without it Newton stops at the
   saddle, as before (documented as the cost of curvature_check = 0). */
START_TEST(test_saddle_without_check)
{
    dil_options o = dil_default_options();
    double y[2] = {0, 0};
    o.curvature_check = 0;
    ck_assert_int_eq(dil_solve(&m13_saddle_model, NULL, m13_saddle_model.theta_init, y, &o,
                               NULL, NULL), DIL_OK);
    ck_assert(y[0] == 0.0 && near(y[1], 1, 1e-12));
}
END_TEST

/* The same escape without an HVP kernel: the curvature operator is then a
   difference of gradients (L-BFGS and gradient descent need no HVP). */
START_TEST(test_saddle_no_hvp)
{
    dil_model m = m13_saddle_model;
    const double start[2] = {0, 0};
    double y[2];
    dil_info info;
    m.score_hvp_yy = NULL;
    ck_assert_int_eq(solve(&m, NULL, m.theta_init, start, DIL_SOLVER_LBFGS, y, &info), DIL_OK);
    ck_assert(near(fabs(y[0]), 1, 1e-8) && near(y[1], 2, 1e-8));
    ck_assert_int_eq(info.n_hvp, 0);
}
END_TEST

/* score (y^2 - a)^2 from its maximum y = 0 (gradient exactly 0). */
START_TEST(test_maximum)
{
    const double *a = m13_max_model.theta_init, start = 0.0, top = 0.0;
    double y, da;
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_max_model, NULL, a, &start, s, &y, &info), DIL_OK);
    ck_assert_msg(near(fabs(y), 1, 1e-8), "solver %d: y = %g", s, y);
    ck_assert_int_eq(loss_grad(&m13_max_model, DIL_BACKWARD_CG, &y, NULL, a, NULL, &da), DIL_OK);
    ck_assert_msg(near(da, (y - 2) / y, 1e-6), "dL/da %g at y %g", da, y);
    ck_assert_int_eq(loss_grad(&m13_max_model, DIL_BACKWARD_DENSE, &y, NULL, a, NULL, &da),
                     DIL_OK);
    ck_assert(near(da, (y - 2) / y, 1e-6));
    ck_assert_int_eq(loss_grad(&m13_max_model, DIL_BACKWARD_CG, &top, NULL, a, NULL, &da),
                     DIL_NOT_MINIMUM);
    ck_assert_int_eq(loss_grad(&m13_max_model, DIL_BACKWARD_DENSE, &top, NULL, a, NULL, &da),
                     DIL_NOT_MINIMUM);
}
END_TEST

/* The root of 2 w (y - 1) + 4 y^3 = 0 by Newton's method in long double. */
static double tiny_argmin(double w)
{
    long double y = 1e-4L;
    int i;
    for (i = 0; i < 60; i++)
        y -= (2.0L * w * (y - 1.0L) + 4.0L * y * y * y) / (2.0L * w + 12.0L * y * y);
    return (double)y;
}

/* score w (y - x)^2 + y^4, w = 1e-12, from y = 0: ||g|| = 2e-12 there. */
START_TEST(test_tiny_scale)
{
    const double x = 1.0, *w = m13_tiny_model.theta_init, start = 0.0;
    double y, dx, ys = tiny_argmin(*w), want;
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_tiny_model, &x, w, &start, s, &y, &info), DIL_OK);
    ck_assert_msg(near(y, ys, 1e-6), "solver %d: y %g, y* %g", s, y, ys);
    /* dL/dx = dy/dx = 2 w / (2 w + 12 y^2) */
    want = 2 * *w / (2 * *w + 12 * ys * ys);
    ck_assert_int_eq(loss_grad(&m13_tiny_model, DIL_BACKWARD_CG, &y, &x, w, &dx, NULL), DIL_OK);
    ck_assert_msg(near(dx, want, 1e-5), "dL/dx %g, want %g", dx, want);
    ck_assert_int_eq(loss_grad(&m13_tiny_model, DIL_BACKWARD_DENSE, &y, &x, w, &dx, NULL), DIL_OK);
    ck_assert(near(dx, want, 1e-5));
    /* at the start the gradient is tiny, but y is not stationary */
    ck_assert_int_eq(loss_grad(&m13_tiny_model, DIL_BACKWARD_CG, &start, &x, w, &dx, NULL),
                     DIL_NOT_STATIONARY);
}
END_TEST

/* A score of size 1e8: the gradient cannot reach tol = 1e-10, the model
   step can; Newton used to spin to max_iter. */
START_TEST(test_huge_scale)
{
    const double *s8 = m13_huge_model.theta_init, start[2] = {1.0, 0.5};
    double y[2], ds, r = sqrt(0.5);
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_huge_model, NULL, s8, start, s, y, &info), DIL_OK);
    ck_assert_msg(near(y[0], r, 1e-9) && near(y[1], r, 1e-9), "solver %d: (%.17g, %.17g)", s,
                  y[0], y[1]);
    /* y* does not depend on s: dL/ds = 0 to rounding */
    ck_assert_int_eq(loss_grad(&m13_huge_model, DIL_BACKWARD_CG, y, NULL, s8, NULL, &ds), DIL_OK);
    ck_assert_msg(fabs(ds) < 1e-14, "dL/ds %g", ds);
    ck_assert_int_eq(loss_grad(&m13_huge_model, DIL_BACKWARD_DENSE, y, NULL, s8, NULL, &ds),
                     DIL_OK);
    ck_assert(fabs(ds) < 1e-14);
}
END_TEST

/* cos(y0) + (y1 - x)^2 from (0, x): a maximum along y0. */
START_TEST(test_cos_maximum)
{
    const double x = 0.3, start[2] = {0.0, 0.3};
    double y[2], dx;
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_cosmax_model, &x, NULL, start, s, y, &info), DIL_OK);
    ck_assert_msg(near(fabs(y[0]), PI, 1e-9) && near(y[1], x, 1e-9), "solver %d: (%g, %g)",
                  s, y[0], y[1]);
    ck_assert_int_eq(loss_grad(&m13_cosmax_model, DIL_BACKWARD_CG, y, &x, NULL, &dx, NULL),
                     DIL_OK);
    ck_assert(near(dx, 1.0, 1e-8));
}
END_TEST

/* (y0 + 2 y1 - x)^2: a line of minimisers, y*(x) undefined. */
START_TEST(test_flat_direction)
{
    const double x = 0.7, start[2] = {0.0, 0.0};
    double y[2], dx = 9;
    dil_options o = dil_default_options();
    dil_info info;
    int s = descent[_i];

    ck_assert_msg(solve(&m13_flat_model, &x, NULL, start, s, y, &info) == DIL_OK,
                  "solver %d: %s after %d, |g| %g, y (%g, %g)", s,
                  dil_status_string(info.status), info.iterations, info.grad_norm, y[0], y[1]);
    ck_assert(near(y[0] + 2 * y[1], x, 1e-9));
    ck_assert_int_eq(loss_grad(&m13_flat_model, DIL_BACKWARD_CG, y, &x, NULL, &dx, NULL),
                     DIL_CG_BREAKDOWN);
    ck_assert_int_eq(loss_grad(&m13_flat_model, DIL_BACKWARD_DENSE, y, &x, NULL, &dx, NULL),
                     DIL_SINGULAR);
    ck_assert(dx == 9);
    /* eps > 0 asks for the regularised answer, and gets it: with
       H = 2 u u', u = (1, 2), (H + eps I)^-1 e0 = e0/eps - 2 u0 u / (eps (eps + 2 u'u)),
       and dL/dx = 2 u'g */
    o.cg_eps = 1e-3;
    ck_assert_int_eq(dil_loss_gradient(&m13_flat_model, y, &x, NULL, NULL, NULL, &dx, NULL, &o,
                                       NULL, NULL), DIL_OK);
    {
        double e = o.cg_eps, k = 2.0 / (e * (e + 10.0));
        double g0 = 1.0 / e - k, g1 = -2.0 * k;
        ck_assert_msg(near(dx, 2 * (g0 + 2 * g1), 1e-6), "dL/dx %g want %g", dx,
                      2 * (g0 + 2 * g1));
    }
}
END_TEST

/* (y/x - 1)^2 + (y/x - 1)^4 with x = 1e6: curvature 2e-12 at y* = x. */
START_TEST(test_wide_scale)
{
    const double x = 1e6, start = 0.0;
    double y, dx;
    dil_info info;
    int s = descent[_i];

    ck_assert_int_eq(solve(&m13_wide_model, &x, NULL, &start, s, &y, &info), DIL_OK);
    ck_assert_msg(near(y, x, 1e-9), "solver %d: y %.17g", s, y);
    ck_assert_int_eq(loss_grad(&m13_wide_model, DIL_BACKWARD_CG, &y, &x, NULL, &dx, NULL),
                     DIL_OK);
    ck_assert(near(dx, 1.0, 1e-8));
}
END_TEST

/* The forward and the backward agree (issue 13, open item 1): on a stiff
   and flat score, every y that dil_solve returns with DIL_OK is stationary
   for dil_loss_gradient under the same options, in both score forms, and
   its gradient is right.  The old tests (Cauchy step forward, ||g|| /
   lambda_min backward) disagreed at 308 of 4000 such solves; here 400
   from random inputs and starts, the gradient checked against central
   differences of the whole solve-then-loss map at every 20th. */
static void stiffflat_solve(const double *x, double *y, const double *start, int *st)
{
    dil_options o = dil_default_options();
    o.tol = 1e-9;
    o.max_iter = 200;
    memcpy(y, start, 6 * sizeof *y);
    *st = dil_solve(&m13_stiffflat_model, x, m13_stiffflat_model.theta_init, y, &o, NULL,
                    NULL);
}

START_TEST(test_solve_then_backward_agree)
{
    const dil_model *m = &m13_stiffflat_model;
    unsigned long r = 2026u;
    int i, j, n_ok = 0, n_checked = 0;

    for (i = 0; i < 400; i++) {
        double x[2], start[6], y[6], dx[2], L;
        dil_options o = dil_default_options();
        dil_info info;
        int st;
        for (j = 0; j < 8; j++) {
            double u;
            r = (r * 1103515245u + 12345u) & 0x7fffffffu;
            u = (double)r / 2147483648.0;
            if (j == 0)
                x[0] = 2 * u - 1;
            else if (j == 1)
                x[1] = 3 * u;
            else
                start[j - 2] = 4 * u - 2;
        }
        stiffflat_solve(x, y, start, &st);
        if (st != DIL_OK)
            continue;
        n_ok++;
        o.tol = 1e-9;
        o.max_iter = 200;
        st = dil_loss_gradient(m, y, x, m->theta_init, NULL, &L, dx, NULL, &o, &info, NULL);
        ck_assert_msg(st == DIL_OK, "instance %d: %s, |g| %g", i, dil_status_string(st),
                      info.grad_norm);
        o.backward = DIL_BACKWARD_DENSE;
        ck_assert_int_eq(dil_loss_gradient(m, y, x, m->theta_init, NULL, &L, dx, NULL, &o,
                                           &info, NULL), DIL_OK);
        if (i % 20 == 0) {
            /* dL/dx0 = dy0/dx0 at y*, by central differences of the solve */
            double h = 1e-5, xp[2] = {x[0] + h, x[1]}, xm[2] = {x[0] - h, x[1]};
            double yp[6], ym[6], fd;
            int sp, sm;
            stiffflat_solve(xp, yp, y, &sp);
            stiffflat_solve(xm, ym, y, &sm);
            if (sp != DIL_OK || sm != DIL_OK)
                continue;
            fd = (yp[0] - ym[0]) / (2 * h);
            ck_assert_msg(fabs(dx[0] - fd) <= 1e-5 * fmax(1.0, fabs(fd)),
                          "instance %d: dL/dx0 %.10g, differences %.10g", i, dx[0], fd);
            n_checked++;
        }
    }
    ck_assert_msg(n_ok >= 380 && n_checked >= 15, "%d solved, %d checked", n_ok, n_checked);
}
END_TEST

/* Near the minimiser of a score whose terms cancel, f cannot resolve a
   step: every descent solver must still reach tol 1e-10 (issue 13, open
   item 2: 34, 48 and 92 of 20000 random solves of this score used to end
   in DIL_LINE_SEARCH with Newton, L-BFGS and gradient descent).  2000
   instances drawn as python/tests draws them: x ~ N(0, 1), theta ~
   N(0, 1/4) with a = 0.7, from y = 0. */
static double gauss(unsigned long long *r)
{
    double u[2];
    int k;
    for (k = 0; k < 2; k++) {
        *r ^= *r << 13;
        *r ^= *r >> 7;
        *r ^= *r << 17;
        u[k] = ((double)(*r >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * PI * u[1]);
}

START_TEST(test_cancelling_terms)
{
    const dil_model *m = &m13_cancel_model;
    unsigned long long r = 88172645463325252ull;
    int i, j, s = descent[_i], bad = 0;
    dil_options o = dil_default_options();

    ck_assert(m->nx == 2 && m->ntheta <= 16);
    o.solver = s;
    o.max_iter = s == DIL_SOLVER_NEWTON ? 100 : 20000;
    for (i = 0; i < 2000; i++) {
        double x[2], th[16], y[3] = {0, 0, 0};
        dil_info info;
        int st;
        for (j = 0; j < m->nx; j++)
            x[j] = gauss(&r);
        for (j = 0; j < m->ntheta; j++)
            th[j] = 0.5 * gauss(&r);
        th[m->ntheta - 1] = 0.7;
        st = dil_solve(m, x, th, y, &o, &info, NULL);
        if (st != DIL_OK && bad++ < 3)
            fprintf(stderr, "solver %d, instance %d: %s after %d, |g| %g\n", s, i,
                    dil_status_string(st), info.iterations, info.grad_norm);
    }
    ck_assert_msg(bad == 0, "solver %d: %d of 2000 solves failed", s, bad);
}
END_TEST

static Suite *minimum_suite(void)
{
    Suite *s = suite_create("minimum");
    TCase *t = tcase_create("issue13");
    tcase_add_loop_test(t, test_saddle, 0, 3);
    tcase_add_test(t, test_saddle_without_check);
    tcase_add_test(t, test_saddle_no_hvp);
    tcase_add_loop_test(t, test_maximum, 0, 3);
    tcase_add_loop_test(t, test_tiny_scale, 0, 3);
    tcase_add_loop_test(t, test_huge_scale, 0, 3);
    tcase_add_loop_test(t, test_cos_maximum, 0, 3);
    tcase_add_loop_test(t, test_flat_direction, 0, 3);
    tcase_add_loop_test(t, test_wide_scale, 0, 3);
    tcase_add_test(t, test_solve_then_backward_agree);
    tcase_add_loop_test(t, test_cancelling_terms, 0, 3);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(minimum_suite());
    int failed;
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
