/*
 * check_repro.c - the pieces of the Table 1 / Figure 2 reproduction
 * (repro/), each checked against something independent of it:
 *   - the Taylor-series ground truth against RK4 with Richardson
 *     extrapolation, and against itself at half the step;
 *   - the IFT gradient through a chain of k implicit steps (dil_backward at
 *     every step, the adjoint recursion of node.c) against central
 *     differences of the whole rollout loss, for the dense, CG and root
 *     backward forms and two models;
 *   - a short training run must lower the rollout loss;
 *   - the batch wrappers: the same bits for one and two threads, and the
 *     same values as one call per instance;
 *   - the Newton step solver: a root to tolerance, and a status on failure;
 *   - the Dormand-Prince integrator against the closed form of a linear
 *     ODE, its backpropagation against differences of the replayed steps,
 *     and its hand-written network against the fig2 model's residual;
 *   - the CSV writer's exact columns;
 *   - bad input (an unknown data set) gets a message, not a crash.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "dil.h"
#include "dopri.h"
#include "fig2_d8.h"
#include "node.h"
#include "node_euler.h"
#include "node_mlp2.h"
#include "step.h"
#include "truth.h"

static double max_diff(int n, double (*a)[2], double (*b)[2])
{
    double e = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < 2; i++)
            e = fmax(e, fabs(a[k][i] - b[k][i]));
    return e;
}

/* The three systems of Table 1, from (2, 0). */
static const truth_system systems[3] = {
    { TRUTH_VDP, 3, { { 0, 0 }, { 0, 0 } } },
    { TRUTH_SPIRAL, 0, { { -1, 2 }, { -2, -0.1 } } },
    { TRUTH_SPIRAL, 0, { { -0.1, 2 }, { -2, -0.1 } } },
};

START_TEST(test_truth_two_methods)
{
    static double a[320][2], b[320][2], c[320][2];
    const double x0[2] = { 2, 0 };
    const truth_system *s = &systems[_i];
    int n = _i == 0 ? 320 : 300;
    truth_sample_default(s, x0, 0.1, n, a);
    truth_sample(s, x0, 0.1, n, 30, 32, b);      /* half the step */
    truth_sample_rk4(s, x0, 0.1, n, 200, c);     /* another method */
    double self = max_diff(n, a, b), other = max_diff(n, a, c);
    ck_assert_msg(self < 1e-12, "system %d: Taylor vs half step %.3g", _i, self);
    /* RK4's own error (order 5 after extrapolation) and its 64000 steps of
       rounding keep it a little above 1e-12 for Van der Pol */
    ck_assert_msg(other < 1e-11, "system %d: Taylor vs RK4-Richardson %.3g", _i, other);
    /* and both solve the ODE: the field's value vs a central difference of
       the samples (O(dt^2) = 1e-2 relative accuracy, a sanity check) */
    double f[2];
    truth_field(s, a[50], f);
    for (int i = 0; i < 2; i++)
        ck_assert_double_eq_tol((a[51][i] - a[49][i]) / 0.2, f[i], 0.05 * (1 + fabs(f[i])));
}
END_TEST

/* The rollout loss of node.c at theta (gradient not wanted). */
static double loss_at(node_batch *b, const node_dataset *d, const double *theta,
                      const int *starts, int nwin, int k, double *scratch)
{
    double L;
    int nf = 0, nb = 0;
    ck_assert_int_eq(node_batch_loss_grad(b, d, theta, starts, nwin, k, &L, scratch, &nf,
                                          &nb), DIL_OK);
    ck_assert_int_eq(nf + nb, 0);
    return L;
}

/* Central difference of the rollout loss along dir (NULL: the unit
   vector of coordinate q). */
static double loss_diff(node_batch *b, const node_dataset *d, double *th, int nt,
                        const double *dir, int q, const int *starts, int k, double *s)
{
    const double h = 1e-5;
    double Lp = 0, Lm = 0;
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int i = 0; i < nt; i++)
            th[i] += sgn * h * (dir ? dir[i] : i == q);
        double L = loss_at(b, d, th, starts, 3, k, s);
        for (int i = 0; i < nt; i++)
            th[i] -= sgn * h * (dir ? dir[i] : i == q);
        *(sgn > 0 ? &Lp : &Lm) = L;
    }
    return (Lp - Lm) / (2 * h);
}

/* Checks the chain gradient of model m with backward form `bw`: a sample
   of coordinates, the last one, and a random direction. */
static void chain_gradient(const dil_model *m, int bw)
{
    node_dataset d;
    char err[128];
    const int nt = m->ntheta, k = 6, starts[3] = { 0, 17, 60 };
    ck_assert_int_eq(node_dataset_make("spiral01", &d, err, sizeof err), 0);
    dil_options o = step_options(m, bw, 1e-13);
    node_batch *b = node_batch_new(m, &o, 3, k, 1);
    double *th = malloc((size_t)nt * sizeof *th), *g = malloc((size_t)nt * sizeof *g);
    double *s = malloc((size_t)nt * sizeof *s), *dir = malloc((size_t)nt * sizeof *dir);
    ck_assert(b && th && g && s && dir);
    node_init_theta(m, 5, th);
    double L, dd = 0;
    int nf = 0, nb = 0;
    ck_assert_int_eq(node_batch_loss_grad(b, &d, th, starts, 3, k, &L, g, &nf, &nb), DIL_OK);
    unsigned long long r = 99;
    for (int q = 0; q < nt; q++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        dir[q] = (double)(r >> 11) / 4503599627370496.0 - 1.0;
        dd += dir[q] * g[q];
    }
    /* coordinates 0, st, 2 st, ... (about 40, an odd stride so that they
       fall in every block), the last one, then (q = nt) the direction */
    const int st = (nt / 40) | 1;
    for (int q = 0; q <= nt; q = q + st < nt ? q + st : q < nt - 1 ? nt - 1 : q + 1) {
        int along = q == nt;
        double fd = loss_diff(b, &d, th, nt, along ? dir : NULL, q, starts, k, s);
        double want = along ? dd : g[q];
        ck_assert_msg(fabs(fd - want) <= 1e-6 * (fabs(fd) + 1e-3 * L),
                      "%s backward %d, %s %d: IFT %.10g vs differences %.10g", m->name, bw,
                      along ? "direction" : "theta", q, want, fd);
    }
    node_batch_free(b);
    free(th), free(g), free(s), free(dir);
    node_dataset_free(&d);
}

START_TEST(test_chain_gradient)
{
    static const int forms[3] = { DIL_BACKWARD_DENSE, DIL_BACKWARD_CG, DIL_BACKWARD_ROOT };
    chain_gradient(&node_euler_model, forms[_i]);
    chain_gradient(&node_mlp2_model, forms[_i]);
}
END_TEST

/* A short run (spiral01, node_euler, 1:150 then 4:50, all windows) must
   lower the rollout loss over every 4-step window by a factor 2 or more. */
START_TEST(test_training_lowers_loss)
{
    node_dataset d;
    node_config c;
    node_result r;
    char err[128];
    const dil_model *m = &node_euler_model;
    ck_assert_int_eq(node_dataset_make("spiral01", &d, err, sizeof err), 0);
    ck_assert_int_eq(node_config_default("spiral01", m, &c), 0);
    c.stage[0] = (node_stage){ 1, 150, 0 };
    c.stage[1] = (node_stage){ 4, 50, 0 };
    c.nstages = 2;
    c.batch = 0;
    ck_assert_int_eq(node_train(&d, &c, 1, &r, "check_repro"), 0);
    ck_assert_int_eq(r.diverged, -1);
    ck_assert_int_eq(r.newton_failures + r.backward_failures, 0);

    dil_options o = step_options(m, DIL_BACKWARD_DENSE, 1e-10);
    node_batch *b = node_batch_new(m, &o, d.train_end, 4, 1);
    int starts[100], n = d.train_end - 4;
    double *th0 = malloc((size_t)m->ntheta * sizeof *th0);
    double *g = malloc((size_t)m->ntheta * sizeof *g);
    ck_assert(b && th0 && g);
    for (int i = 0; i < n; i++)
        starts[i] = i;
    node_init_theta(m, 1, th0);
    double before = loss_at(b, &d, th0, starts, n, 4, g);
    double after = loss_at(b, &d, r.theta, starts, n, 4, g);
    ck_assert_msg(after < 0.5 * before, "loss %g before, %g after training", before, after);
    ck_assert(isfinite(r.test_mse) && isfinite(r.val_mse) && r.ncurve == 8);
    node_batch_free(b);
    free(th0), free(g);
    node_result_free(&r);
    node_dataset_free(&d);
}
END_TEST

/* The batch loss and gradient (dil_solve_batch and dil_backward_batch
   inside): one and two threads give the same bits, and the mean over a
   batch of windows is the mean of the windows' own losses and gradients
   computed one window at a time. */
START_TEST(test_batch_threads)
{
    const dil_model *m = &node_mlp2_model;
    const int nw = 5, k = 3, nt = m->ntheta;
    dil_options o = step_options(m, DIL_BACKWARD_CG, 1e-12);
    node_dataset d;
    char err[128];
    int starts[5] = { 0, 7, 20, 41, 60 }, f = 0, bf = 0;
    double l1, l2, l3, *th = malloc((size_t)nt * sizeof *th);
    double *g1 = malloc((size_t)nt * sizeof *g1), *g2 = malloc((size_t)nt * sizeof *g2);
    double *g3 = calloc((size_t)nt, sizeof *g3), *gi = malloc((size_t)nt * sizeof *gi);
    ck_assert_int_eq(node_dataset_make("spiral01", &d, err, sizeof err), 0);
    node_batch *b1 = node_batch_new(m, &o, nw, k, 1), *b2 = node_batch_new(m, &o, nw, k, 2);
    node_batch *bs = node_batch_new(m, &o, 1, k, 1);
    ck_assert(th && g1 && g2 && g3 && gi && b1 && b2 && bs);
    node_init_theta(m, 3, th);
    ck_assert_int_eq(node_batch_loss_grad(b1, &d, th, starts, nw, k, &l1, g1, &f, &bf), DIL_OK);
    ck_assert_int_eq(node_batch_loss_grad(b2, &d, th, starts, nw, k, &l2, g2, &f, &bf), DIL_OK);
    ck_assert(l1 == l2 && memcmp(g1, g2, (size_t)nt * sizeof *g1) == 0);
    l3 = 0;
    for (int i = 0; i < nw; i++) {
        double li;
        ck_assert_int_eq(node_batch_loss_grad(bs, &d, th, starts + i, 1, k, &li, gi, &f, &bf),
                         DIL_OK);
        l3 += li / nw;
        for (int q = 0; q < nt; q++)
            g3[q] += gi[q] / nw;
    }
    ck_assert_int_eq(f + bf, 0);
    ck_assert_double_eq_tol(l3, l1, 1e-14 * (1 + l1));
    for (int q = 0; q < nt; q++)
        ck_assert_double_eq_tol(g3[q], g1[q], 1e-12 * (1 + fabs(g3[q])));
    node_batch_free(b1), node_batch_free(b2), node_batch_free(bs);
    node_dataset_free(&d);
    free(th), free(g1), free(g2), free(g3), free(gi);
}
END_TEST

/* Newton: r(y) ~ 0 to the tolerance, from the explicit-Euler start; with
   max_iter 0 (the start only) a status, not a silent answer. */
START_TEST(test_newton_step)
{
    const dil_model *m = &node_euler_model;
    dil_options o = step_options(m, DIL_BACKWARD_DENSE, 1e-12);
    dil_info info;
    double x[2] = { 1.5, -0.7 }, y[2], r[2];
    double *th = malloc((size_t)m->ntheta * sizeof *th);
    double *w = malloc(dil_work_size(m, &o) * sizeof *w);
    ck_assert(th && w);
    node_init_theta(m, 8, th);
    for (int q = 0; q < m->ntheta; q++)
        th[q] *= 6;                        /* a stiffer network than at init */
    ck_assert_int_eq(dil_solve(m, x, th, y, &o, &info, w), DIL_OK);
    m->residual(y, x, th, r, w);
    ck_assert(hypot(r[0], r[1]) < 1e-12 && info.grad_norm <= 1e-12);
    ck_assert_int_ge(info.iterations, 1);
    o.max_iter = 0;
    ck_assert_int_eq(dil_solve(m, x, th, y, &o, &info, w), DIL_MAX_ITER);
    free(th), free(w);
}
END_TEST

/* With W3 = 0 the network is the constant b3 and dx/dt = b3 - lam x has
   x(T) = b3/lam + (x0 - b3/lam) e^(-lam T): DOPRI5 must meet its tolerance. */
START_TEST(test_dopri_linear)
{
    const int D = 8, H = 30, nt = dopri_ntheta(D, H);
    double *th = calloc((size_t)nt, sizeof *th), x0[8], x1[8];
    dopri_tape *t = dopri_tape_new(D, H);
    dopri_stats st;
    ck_assert(th && t);
    double *b3 = th + nt - D;
    for (int i = 0; i < D; i++)
        b3[i] = 0.5 * i - 1, x0[i] = 1.0 / (i + 1);
    for (int i = 0; i < nt - D - D * H; i++)   /* W1, b1, W2, b2: not zero */
        th[i] = sin(i);
    const double lams[3] = { 0.5, 20, 300 };
    for (int c = 0; c < 3; c++) {
        dopri_net n = { D, H, lams[c], th };
        ck_assert_int_eq(dopri_solve(&n, x0, 0.1, 1e-9, 1e-9, 100000, x1, t, &st), 0);
        for (int i = 0; i < D; i++) {
            double e = exp(-lams[c] * 0.1), want = b3[i] / lams[c] * (1 - e) + x0[i] * e;
            ck_assert_msg(fabs(x1[i] - want) < 1e-8, "lam %g: %.12g vs %.12g", lams[c],
                          x1[i], want);
        }
        ck_assert_int_gt(st.accepted, c == 2 ? 5 : 0);   /* stiffness costs steps */
    }
    dopri_tape_free(t);
    free(th);
}
END_TEST

/* Backpropagation through the stages against central differences of the
   same steps replayed (the map that backprop differentiates). */
START_TEST(test_dopri_backprop)
{
    const dil_model *m = &fig2_d8_model;
    const int D = 8, H = 30, nt = m->ntheta;
    double *th = malloc((size_t)nt * sizeof *th), *gth = malloc((size_t)nt * sizeof *gth);
    double x0[8], x1[8], g1[8], g0[8], xp[8], xm[8];
    dopri_tape *t = dopri_tape_new(D, H);
    dopri_stats st;
    ck_assert(th && gth && t && dopri_ntheta(D, H) == nt);
    node_init_theta(m, 4, th);
    for (int i = 0; i < D; i++)
        x0[i] = cos(i), g1[i] = sin(2.0 * i + 1);
    dopri_net n = { D, H, 30, th };
    ck_assert_int_eq(dopri_solve(&n, x0, 0.1, 1e-6, 1e-6, 1000, x1, t, &st), 0);
    ck_assert_int_gt(st.accepted, 2);
    dopri_backward(&n, t, g1, g0, gth);
    const double h = 1e-6;
    for (int q = 0; q < nt + D; q += 5) {       /* theta entries, then x0 */
        double *p = q < nt ? &th[q] : &x0[q - nt], v = *p, fp = 0, fm = 0;
        *p = v + h;
        dopri_replay(&n, t, x0, xp);
        *p = v - h;
        dopri_replay(&n, t, x0, xm);
        *p = v;
        for (int i = 0; i < D; i++)
            fp += g1[i] * xp[i], fm += g1[i] * xm[i];
        double fd = (fp - fm) / (2 * h), bp = q < nt ? gth[q] : g0[q - nt];
        ck_assert_msg(fabs(fd - bp) < 1e-7 * (1 + fabs(fd)), "entry %d: %.10g vs %.10g", q,
                      bp, fd);
    }
    dopri_tape_free(t);
    free(th), free(gth);
}
END_TEST

/* The hand-written network is the fig2 model's: r(y; (y, lam)) = -dt f(y). */
START_TEST(test_dopri_same_network)
{
    const dil_model *m = &fig2_d8_model;
    double *th = malloc((size_t)m->ntheta * sizeof *th), y[8], x[9], r[8], f[8], s[60];
    double *w = malloc(m->work_size * sizeof *w);
    ck_assert(th && w);
    node_init_theta(m, 6, th);
    for (int i = 0; i < 8; i++)
        y[i] = x[i] = 0.3 * i - 1;
    x[8] = 7;
    m->residual(y, x, th, r, w);
    dopri_net n = { 8, 30, 7, th };
    dopri_field(&n, y, f, s);
    for (int i = 0; i < 8; i++)
        ck_assert_double_eq_tol(-r[i] / 0.1, f[i], 1e-12 * (1 + fabs(f[i])));
    free(th), free(w);
}
END_TEST

START_TEST(test_csv_columns)
{
    char line[512];
    FILE *f = tmpfile();
    table1_row row = { "vdp", "1layer", 3, 0.0125, HUGE_VAL, 2.5, 4.75, 2, 12.345 };
    ck_assert(f);
    ck_assert_int_eq(table1_csv_header(f), 0);
    ck_assert_int_eq(table1_csv_row(f, &row), 0);
    rewind(f);
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "dataset,variant,seed,test_mse,val_mse,baseline_zero,"
                           "baseline_hold,newton_failures,wall_s\n");
    ck_assert(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "vdp,1layer,3,0.0125,inf,2.5,4.75,2,12.35\n");
    ck_assert(!fgets(line, sizeof line, f));
    fclose(f);
}
END_TEST

START_TEST(test_bad_dataset)
{
    node_dataset d;
    node_config c;
    char err[128] = "";
    ck_assert_int_eq(node_dataset_make("lorenz", &d, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown dataset 'lorenz'"));
    ck_assert_int_eq(node_config_default("lorenz", &node_euler_model, &c), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repro");
    TCase *tc = tcase_create("repro");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_truth_two_methods, 0, 3);
    tcase_add_loop_test(tc, test_chain_gradient, 0, 3);
    tcase_add_test(tc, test_training_lowers_loss);
    tcase_add_test(tc, test_batch_threads);
    tcase_add_test(tc, test_newton_step);
    tcase_add_test(tc, test_dopri_linear);
    tcase_add_test(tc, test_dopri_backprop);
    tcase_add_test(tc, test_dopri_same_network);
    tcase_add_test(tc, test_csv_columns);
    tcase_add_test(tc, test_bad_dataset);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
