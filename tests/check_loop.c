/*
 * check_loop.c - rolled loops (docs/design.md, "Rolled loops"), checked on
 * the IR before any C is emitted.
 *
 * Each model below is compiled twice, rolled and with --unroll, and every
 * kernel's IR (score, gradient, Hessian-vector product, mixed products,
 * loss gradient, residual products) is evaluated by the independent
 * reference evaluator (tests/support/refeval.c, which runs LOOP nodes as
 * their definition says) at random points.  The unrolled kernels share no
 * loop rule with the rolled ones, so agreement to 1e-13 checks the adjoint
 * and tangent recurrences of diff.c; the hyper-dual second derivatives of
 * the rolled *model* are checked against the rolled HVP as a second,
 * independent reference.  Also: which loops roll, that the rolled IR does
 * not grow with the horizon, and the diagnostics of horizons too large.
 * The IR verifier (verify.c) checks every rolled model and kernel.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dilc.h"
#include "kern.h"
#include "refeval.h"

static char *diag_text;
static size_t diag_len;

static Model *run(const char *text, int unroll)
{
    static SrcFile src;
    arena_release();
    ir_init();
    free(diag_text);
    diag_text = NULL;
    diag_len = 0;
    FILE *out = open_memstream(&diag_text, &diag_len);
    ck_assert_ptr_nonnull(out);
    src.name = "t.dil";
    src.text = text;
    src.len = strlen(text);
    diag_init(&src, out);
    Decl *decls = parse_file(&src);
    Model *m = NULL;
    if (diag_errors() == 0)
        m = sema_model_ex(decls, unroll);
    fclose(out);
    return m;
}

static double *random_vec(int n, unsigned *seed, double scale)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    for (int i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = scale * (((*seed >> 8) % 20001) / 10000.0 - 1.0);
    }
    return p;
}

/* Every output of every kernel, evaluated by refeval, concatenated. */
static double *eval_kernels(const Model *m, unsigned seed, int *len)
{
    ir_verify_model(m);
    Kernels *ks = kern_derive(m);
    ck_assert_ptr_nonnull(ks);
    for (int i = 0; i < K__COUNT; i++)
        if (ks->k[i].info) {
            Node *roots[1 + KERNEL_MAX_OUTS];
            ir_verify(roots, kernel_roots(&ks->k[i], roots), "derive");
        }
    double *blk[BLK__COUNT];
    blk[BLK_Y] = random_vec(m->ny, &seed, 1.0);
    blk[BLK_X] = random_vec(m->nx, &seed, 1.0);
    blk[BLK_THETA] = random_vec(m->ntheta, &seed, 0.5);
    blk[BLK_DATA] = random_vec(m->ndata, &seed, 1.0);
    blk[BLK_V] = random_vec(m->ny, &seed, 1.0);
    blk[BLK_W] = random_vec(m->nres > 0 ? m->nres : m->ny, &seed, 1.0);
    const double *cb[BLK__COUNT];
    for (int b = 0; b < BLK__COUNT; b++)
        cb[b] = blk[b];
    int cap = 16, n = 0;
    double *all = malloc((size_t)cap * sizeof *all);
    for (int i = 0; i < K__COUNT; i++) {
        const Kernel *k = &ks->k[i];
        if (!k->info)
            continue;
        Node *nodes[1 + KERNEL_MAX_OUTS];
        int nn = kernel_roots(k, nodes);
        for (int j = 0; j < nn; j++) {
            long sz = ir_size(nodes[j]);
            while (n + sz > cap) {
                cap *= 2;
                all = realloc(all, (size_t)cap * sizeof *all);
            }
            int rc = refeval(nodes[j], cb, all + n);
            if (rc != 0)
                ck_abort_msg("kernel %s: %s", k->info->name, refeval_error());
            n += (int)sz;
        }
    }
    for (int b = 0; b < BLK__COUNT; b++)
        free(blk[b]);
    *len = n;
    return all;
}

static int rolled_loops(const Model *m)
{
    int r = 0;
    for (int i = 0; i < m->nloops; i++)
        r += m->loops[i].rolled;
    return r;
}

/* Rolled and unrolled kernels agree to tol (relative to the largest
   magnitude of each); the rolled model rolls `expect` loops. */
static void agree(const char *text, int expect, double tol)
{
    for (unsigned seed = 1; seed <= 3; seed++) {
        Model *m = run(text, 0);
        ck_assert_msg(m != NULL, "rolled: %s", diag_text);
        ck_assert_int_eq(rolled_loops(m), expect);
        int na, nb;
        double *a = eval_kernels(m, seed, &na);
        m = run(text, 1);
        ck_assert_msg(m != NULL, "unrolled: %s", diag_text);
        ck_assert_int_eq(rolled_loops(m), 0);
        double *b = eval_kernels(m, seed, &nb);
        ck_assert_int_eq(na, nb);
        double scale = 1e-300;
        for (int i = 0; i < na; i++)
            scale = fmax(scale, fmax(fabs(a[i]), fabs(b[i])));
        for (int i = 0; i < na; i++)
            ck_assert_msg(fabs(a[i] - b[i]) <= tol * scale,
                          "output %d: rolled %.17g, unrolled %.17g", i, a[i], b[i]);
        free(a);
        free(b);
    }
}

static const char *mpc_linear =
    "model mpc\n"
    "dim T = 10, NX = 2, NU = 1\n"
    "input x0[NX]\n"
    "param A[NX, NX], B[NX, NU]\n"
    "param q[NX] = 1\n"
    "const r = 2\n"
    "var u[T, NU]\n"
    "data u_target[T, NU]\n"
    "let x[0] = x0\n"
    "for t in 0:T { let x[t+1] = A @ x[t] + B @ u[t] }\n"
    "score sum(t in 1:T+1, sum(q * x[t]^2)) + r*sum(u^2)\n"
    "loss sum((u - u_target)^2)\n";

START_TEST(linear_mpc)
{
    agree(mpc_linear, 2, 1e-13);
}
END_TEST

/* A cart-pole with sin/cos dynamics, explicit Euler, a stage cost summed
   over the horizon; T given by the test. */
static const char *cartpole_fmt =
    "model cartpole\n"
    "dim T = %d, NX = 4\n"
    "const dt = %s, g = 9.81\n"
    "input s0[NX]\n"
    "param mc = 1, mp = 0.1, l = 0.5, w[NX] = 1\n"
    "var u[T]\n"
    "fn f(s[NX], a) = [s[2], s[3], (a + mp*sin(s[1])*(l*s[3]^2 - g*cos(s[1]))) / (mc + mp*sin(s[1])^2),"
    " (g*sin(s[1]) - cos(s[1])*(a + mp*l*s[3]^2*sin(s[1]))/(mc + mp)) / l]\n"
    "let s[0] = s0\n"
    "for t in 0:T { let s[t+1] = s[t] + dt*f(s[t], u[t]) }\n"
    "score sum(t in 1:T+1, sum(w * s[t]^2)) + 0.1*sum(u^2)\n";

static void cartpole(int T, const char *dt, double tol)
{
    char text[2048];
    snprintf(text, sizeof text, cartpole_fmt, T, dt);
    agree(text, 2, tol);
}

START_TEST(cartpole_short)
{
    cartpole(1, "0.05", 1e-13);
    cartpole(2, "0.05", 1e-13);
    cartpole(7, "0.05", 1e-13);
}
END_TEST

START_TEST(cartpole_long)
{
    cartpole(100, "0.01", 1e-12);
}
END_TEST

/* Second-order recurrence (lag 2), two families, a family first defined
   in the loop, t used as a value, reads of an earlier loop's stack,
   mean over a range, a residual model. */
static const char *features =
    "model feat\n"
    "dim T = 6, N = 2\n"
    "input a0[N], a1[N]\n"
    "param k = 0.5, W[N, N]\n"
    "var u[T, N], z\n"
    "data d[T]\n"
    "let a[0] = a0\n"
    "let a[1] = a1\n"
    "for t in 1:T { let a[t+1] = tanh(W @ a[t]) - k*a[t-1] + u[t] * sin(0.3*t) }\n"
    "let b[2] = a[2]\n"
    "for t in 2:T+1 { let c[t] = sum(a[t]^2); let b[t+1] = b[t] * z + c[t] }\n"
    "residual [mean(t in 0:T, u[t][1] - a[t+1][0]), sum(t in 3:T+1, b[t] + c[t])]\n"
    "loss sum(t in 0:T, (u[t][0] - d[t])^2)\n";

START_TEST(feature_mix)
{
    agree(features, 5, 1e-13);
}
END_TEST

/* The hyper-dual second derivative of the rolled score along (e_i, v)
   equals the rolled HVP: a reference that shares nothing with diff.c. */
START_TEST(hvp_against_hyperdual)
{
    char text[2048];
    snprintf(text, sizeof text, cartpole_fmt, 5, "0.05");
    Model *m = run(text, 0);
    ck_assert_ptr_nonnull(m);
    Kernels *ks = kern_derive(m);
    unsigned seed = 7;
    double *y = random_vec(m->ny, &seed, 1.0), *x = random_vec(m->nx, &seed, 1.0);
    double *th = random_vec(m->ntheta, &seed, 0.5), *v = random_vec(m->ny, &seed, 1.0);
    const double *cb[BLK__COUNT] = {y, x, th, NULL, v, NULL};
    const Kernel *hk = &ks->k[K_score_hvp_yy];
    ck_assert_ptr_nonnull(hk->info);
    double *hv = malloc((size_t)m->ny * sizeof *hv), *ref = malloc((size_t)m->ny * sizeof *ref);
    ck_assert_int_eq(refeval(hk->outs[0].node, cb, hv), 0);
    ck_assert_int_eq(refeval_second(m->score, cb, BLK_Y, m->ny, BLK_Y, v, NULL, ref), 0);
    for (int i = 0; i < m->ny; i++)
        ck_assert_msg(fabs(hv[i] - ref[i]) <= 1e-11 * (1 + fabs(ref[i])), "%d: %g vs %g", i,
                      hv[i], ref[i]);
    free(y), free(x), free(th), free(v), free(hv), free(ref);
}
END_TEST

/* The rolled IR does not grow with the horizon. */
START_TEST(size_independent_of_horizon)
{
    char text[2048];
    snprintf(text, sizeof text, cartpole_fmt, 10, "0.05");
    Model *m = run(text, 0);
    ck_assert_ptr_nonnull(m);
    kern_derive(m);
    int n10 = ir_node_count();
    snprintf(text, sizeof text, cartpole_fmt, 1000, "0.05");
    m = run(text, 0);
    ck_assert_ptr_nonnull(m);
    kern_derive(m);
    int n1000 = ir_node_count();
    ck_assert_msg(abs(n1000 - n10) <= 20, "nodes %d at T=10, %d at T=1000", n10, n1000);
}
END_TEST

/* What does not roll, and why (each still compiles, unrolled). */
START_TEST(not_rolled)
{
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"model m\nvar y[3]\nlet x[0] = y[0]\n"
         "for t in 0:2 { for s in 0:1 { let x[t+1] = x[t]^2 } }\nscore x[2]\n", "nested"},
        {"model m\nvar y[4]\nscore sum(t in 0:2, y[t*t]^2)\n", "affine"},
        {"model m\nvar y[4]\nscore sum(t in 0:4, y[t]^t)\n", "power"},
        {"model m\nvar y\nlet c[0] = 1\nfor t in 0:3 { let c[t+1] = 2*c[t] }\n"
         "score y^2 * c[3]\n", "constants"},
        {"model m\nvar y[3]\nlet x[0] = y\nfor t in 0:3 { let x[t+1] = [x[t], 1] }\n"
         "score sum(x[3])\n", "shape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Model *m = run(cases[i].text, 0);
        ck_assert_msg(m != NULL, "case %zu: %s", i, diag_text);
        int unrolled = 0, why = 0;
        for (int j = 0; j < m->nloops; j++)
            if (!m->loops[j].rolled) {
                unrolled = 1;
                why |= cases[i].why && strstr(m->loops[j].why, cases[i].why) != NULL;
            }
        ck_assert_msg(unrolled, "case %zu rolled", i);
        ck_assert_msg(!cases[i].why || why, "case %zu: %s", i, m->loops[0].why);
        ck_assert_ptr_nonnull(kern_derive(m));
    }
}
END_TEST

/* Horizons beyond the work array's limit are refused, naming it. */
START_TEST(horizon_too_large)
{
    Model *m = run("model m\ndim T = 200000000\nvar u[2]\nlet x[0] = u\n"
                   "for t in 0:T { let x[t+1] = x[t] * 2 }\nscore sum(x[T])\n", 0);
    ck_assert_ptr_null(m);
    const char *want = "horizon too large: the loop's stacked values need more doubles of work than the limit, ";
    ck_assert_msg(strstr(diag_text, want) && strstr(diag_text, "limit, 268435456"), "%s",
                  diag_text);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, linear_mpc);
    tcase_add_test(tc, cartpole_short);
    tcase_add_test(tc, cartpole_long);
    tcase_add_test(tc, feature_mix);
    tcase_add_test(tc, hvp_against_hyperdual);
    tcase_add_test(tc, size_independent_of_horizon);
    tcase_add_test(tc, not_rolled);
    tcase_add_test(tc, horizon_too_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loop_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    arena_release();
    free(diag_text);
    return failed ? 1 : 0;
}
