/*
 * check_solvers.c - libdil's solvers on the classic test problems, the
 * root-finding backward, and a fault-injection suite that reaches every
 * status through the public API.
 *
 * Every test model is a least-squares problem r(y; x, theta) written once
 * by hand as four pieces (residual, Jacobians J_y, J_x, J_theta as dense
 * matrices, and the second-order contraction sum_i w_i d2 r_i); generic
 * kernels turn them into a complete dil_model for f = 1/2 |r|^2:
 *     df/dy = J^T r,   H v = J^T J v + sum_i r_i (d2 r_i / dy2) v,
 *     (d2f/dx dy)^T w = J_x^T J w + sum_i r_i (d2 r_i / dx dy) w
 * (likewise theta), plus the residual products.  All of them are checked
 * against finite differences first (test_kernels_fd), so a failure below
 * is the runtime's.  Every kernel call also goes through `tick`, which
 * counts calls per kind and can be armed to return NaN on the k-th call of
 * one kind: that is how kernel faults are injected, and how "no further
 * evaluation after a fault" is checked (nothing is called after the NaN).
 * That counter is test-local state; the library keeps none.
 *
 * Problems (More, Garbow, Hillstrom 1981 for the first four):
 *   rosen    Rosenbrock, n = m = 2, from (-1.2, 1); argmin (1, 1)
 *   wood     Wood, n = 4, m = 6, from (-3, -1, -3, -1); argmin (1, 1, 1, 1)
 *   powell   Powell singular, n = m = 4, from (3, -1, 0, 1); argmin 0, where
 *            the Hessian is singular (rank 2): every method is only linear
 *   helical  helical valley, n = m = 3, from (-1, 0, 0); argmin (1, 0, 0)
 *   beale    Beale, n = 2, m = 3, from (1, 1); argmin (3, 1/2)
 *   quad     r = S Q (y - x) - theta, n = m = 8, S = diag(10^(3i/7)),
 *            Q a Householder reflection: a convex quadratic with
 *            cond(H) = 1e6; y* = x + Q S^-1 theta in closed form
 *   rober    one backward-Euler step of Robertson's stiff chemical
 *            kinetics, r = y - y0 - dt f(y; k), x = (y0, dt), theta = k
 *            = (0.04, 3e7, 1e4): stiff for dt = 1 (fixed point diverges),
 *            non-stiff for dt = 1e-4
 * Run with CHECK_SOLVERS_REPORT=1 to print the measured counts of every
 * classic run (the figures recorded in docs/solvers.md).
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"
#include "padded.h"

#define MAXN 8
#define MAXR 8
#define MAXP 8

/* ================================================================== */
/* fault injection and call counting                                   */
/* ================================================================== */

enum { K_SCORE, K_GRAD, K_HVP, K_VJP_XY, K_VJP_THY, K_RES, K_JVP, K_RVJP,
       K_RVJP_X, K_RVJP_TH, K_N };

static struct {
    int count[K_N];
    int total;            /* kernel calls since inj_reset */
    int armed_kind;       /* -1: none */
    int armed_at;         /* the call number (1-based) of that kind */
    int fired_at_total;   /* total when the NaN was produced; -1 before */
} inj;

static void inj_reset(void)
{
    memset(&inj, 0, sizeof inj);
    inj.armed_kind = -1;
    inj.fired_at_total = -1;
}

static void inj_arm(int kind, int at)
{
    inj_reset();
    inj.armed_kind = kind;
    inj.armed_at = at;
}

/* Count a call; 1 when this call must produce a NaN. */
static int tick(int kind)
{
    inj.count[kind]++;
    inj.total++;
    if (kind == inj.armed_kind && inj.count[kind] == inj.armed_at) {
        inj.fired_at_total = inj.total;
        return 1;
    }
    return 0;
}

static void poison_out(int fire, double *out, int n)
{
    if (fire && n > 0)
        out[0] = NAN;
}

/* ================================================================== */
/* least-squares problems and the generic kernels                      */
/* ================================================================== */

typedef struct prob {
    int n, m, nx, nth;
    void (*res)(const double *y, const double *x, const double *th, double *r);
    /* J_y (m x n), J_x (m x nx), J_theta (m x nth), row-major; the last two
       may be NULL when nx (nth) is 0 */
    void (*jy)(const double *y, const double *x, const double *th, double *J);
    void (*jx)(const double *y, const double *x, const double *th, double *J);
    void (*jt)(const double *y, const double *x, const double *th, double *J);
    /* oy = sum_i w_i (d2 r_i/dy2) v; ox[j] = sum_i w_i (d2 r_i/dx_j dy) . v;
       ot likewise for theta.  NULL: r is linear in y (all zero). */
    void (*d2)(const double *y, const double *x, const double *th, const double *w,
               const double *v, double *oy, double *ox, double *ot);
} prob;

static void matvec(int m, int n, const double *A, const double *v, double *out)
{
    int i, j;
    for (i = 0; i < m; i++) {
        out[i] = 0.0;
        for (j = 0; j < n; j++)
            out[i] += A[i * n + j] * v[j];
    }
}

static void matTvec(int m, int n, const double *A, const double *w, double *out)
{
    int i, j;
    for (j = 0; j < n; j++)
        out[j] = 0.0;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++)
            out[j] += A[i * n + j] * w[i];
}

static void d2_all(const prob *p, const double *y, const double *x, const double *th,
                   const double *w, const double *v, double *oy, double *ox, double *ot)
{
    int j;
    for (j = 0; j < p->n; j++)
        oy[j] = 0.0;
    for (j = 0; j < p->nx; j++)
        ox[j] = 0.0;
    for (j = 0; j < p->nth; j++)
        ot[j] = 0.0;
    if (p->d2)
        p->d2(y, x, th, w, v, oy, ox, ot);
}

static double g_score(const prob *p, const double *y, const double *x, const double *th)
{
    double r[MAXR], s = 0.0;
    int i;
    p->res(y, x, th, r);
    for (i = 0; i < p->m; i++)
        s += 0.5 * r[i] * r[i];
    return s;
}

static void g_grad(const prob *p, const double *y, const double *x, const double *th,
                   double *g)
{
    double r[MAXR], J[MAXR * MAXN];
    p->res(y, x, th, r);
    p->jy(y, x, th, J);
    matTvec(p->m, p->n, J, r, g);
}

static void g_hvp(const prob *p, const double *y, const double *x, const double *th,
                  const double *v, double *hv)
{
    double r[MAXR], J[MAXR * MAXN], jv[MAXR], oy[MAXN], ox[MAXP], ot[MAXP];
    int j;
    p->res(y, x, th, r);
    p->jy(y, x, th, J);
    matvec(p->m, p->n, J, v, jv);
    matTvec(p->m, p->n, J, jv, hv);
    d2_all(p, y, x, th, r, v, oy, ox, ot);
    for (j = 0; j < p->n; j++)
        hv[j] += oy[j];
}

/* which = 0: x, 1: theta.  out = J_blk^T J w + sum_i r_i d2 r_i/(dblk dy) w */
static void g_vjp_mixed(const prob *p, int which, const double *y, const double *x,
                        const double *th, const double *w, double *out)
{
    double r[MAXR], J[MAXR * MAXN], Jb[MAXR * MAXP], jw[MAXR];
    double oy[MAXN], ox[MAXP], ot[MAXP];
    int nb = which ? p->nth : p->nx, j;
    p->res(y, x, th, r);
    p->jy(y, x, th, J);
    (which ? p->jt : p->jx)(y, x, th, Jb);
    matvec(p->m, p->n, J, w, jw);
    matTvec(p->m, nb, Jb, jw, out);
    d2_all(p, y, x, th, r, w, oy, ox, ot);
    for (j = 0; j < nb; j++)
        out[j] += which ? ot[j] : ox[j];
}

static void g_jvp(const prob *p, const double *y, const double *x, const double *th,
                  const double *v, double *jv)
{
    double J[MAXR * MAXN];
    p->jy(y, x, th, J);
    matvec(p->m, p->n, J, v, jv);
}

static void g_rvjp(const prob *p, int which, const double *y, const double *x,
                   const double *th, const double *w, double *out)
{
    double J[MAXR * MAXN];
    int nb = which == 0 ? p->n : which == 1 ? p->nx : p->nth;
    (which == 0 ? p->jy : which == 1 ? p->jx : p->jt)(y, x, th, J);
    matTvec(p->m, nb, J, w, out);
}

/* L = 1/2 |y - t|^2 with data t (ndata = n) */
static double g_loss(const prob *p, const double *y, const double *t)
{
    double s = 0.0;
    int i;
    for (i = 0; i < p->n; i++)
        s += 0.5 * (y[i] - t[i]) * (y[i] - t[i]);
    return s;
}

static void g_loss_grad(const prob *p, const double *y, const double *t, double *gy,
                        double *gx, double *gth)
{
    int i;
    for (i = 0; i < p->n; i++)
        gy[i] = y[i] - t[i];
    for (i = 0; i < p->nx; i++)
        gx[i] = 0.0;
    for (i = 0; i < p->nth; i++)
        gth[i] = 0.0;
}

/* One dil_model per problem P (a static `prob P##_p`); every kernel ticks. */
#define DEFINE_MODEL(P, N, M, NX, NTH)                                               \
    static double P##_score(const double *y, const double *x, const double *th,      \
                            double *w)                                               \
    {                                                                                \
        (void)w;                                                                     \
        return tick(K_SCORE) ? NAN : g_score(&P##_p, y, x, th);                      \
    }                                                                                \
    static void P##_grad(const double *y, const double *x, const double *th,         \
                         double *g, double *w)                                       \
    {                                                                                \
        int f = tick(K_GRAD);                                                        \
        (void)w;                                                                     \
        g_grad(&P##_p, y, x, th, g);                                                 \
        poison_out(f, g, N);                                                         \
    }                                                                                \
    static void P##_hvp(const double *y, const double *x, const double *th,          \
                        const double *v, double *hv, double *w)                      \
    {                                                                                \
        int f = tick(K_HVP);                                                         \
        (void)w;                                                                     \
        g_hvp(&P##_p, y, x, th, v, hv);                                              \
        poison_out(f, hv, N);                                                        \
    }                                                                                \
    static void P##_vjp_xy(const double *y, const double *x, const double *th,       \
                           const double *v, double *o, double *w)                    \
    {                                                                                \
        int f = tick(K_VJP_XY);                                                      \
        (void)w;                                                                     \
        g_vjp_mixed(&P##_p, 0, y, x, th, v, o);                                      \
        poison_out(f, o, NX);                                                        \
    }                                                                                \
    static void P##_vjp_thy(const double *y, const double *x, const double *th,      \
                            const double *v, double *o, double *w)                   \
    {                                                                                \
        int f = tick(K_VJP_THY);                                                     \
        (void)w;                                                                     \
        g_vjp_mixed(&P##_p, 1, y, x, th, v, o);                                      \
        poison_out(f, o, NTH);                                                       \
    }                                                                                \
    static double P##_loss(const double *y, const double *x, const double *th,       \
                           const double *t, double *w)                               \
    {                                                                                \
        (void)x; (void)th; (void)w;                                                  \
        return g_loss(&P##_p, y, t);                                                 \
    }                                                                                \
    static void P##_loss_grad(const double *y, const double *x, const double *th,    \
                              const double *t, double *gy, double *gx, double *gt,   \
                              double *w)                                             \
    {                                                                                \
        (void)x; (void)th; (void)w;                                                  \
        g_loss_grad(&P##_p, y, t, gy, gx, gt);                                       \
    }                                                                                \
    static void P##_res(const double *y, const double *x, const double *th,          \
                        double *r, double *w)                                        \
    {                                                                                \
        int f = tick(K_RES);                                                         \
        (void)w;                                                                     \
        P##_p.res(y, x, th, r);                                                      \
        poison_out(f, r, M);                                                         \
    }                                                                                \
    static void P##_jvp(const double *y, const double *x, const double *th,          \
                        const double *v, double *o, double *w)                       \
    {                                                                                \
        int f = tick(K_JVP);                                                         \
        (void)w;                                                                     \
        g_jvp(&P##_p, y, x, th, v, o);                                               \
        poison_out(f, o, M);                                                         \
    }                                                                                \
    static void P##_rvjp(const double *y, const double *x, const double *th,         \
                         const double *v, double *o, double *w)                      \
    {                                                                                \
        int f = tick(K_RVJP);                                                        \
        (void)w;                                                                     \
        g_rvjp(&P##_p, 0, y, x, th, v, o);                                           \
        poison_out(f, o, N);                                                         \
    }                                                                                \
    static void P##_rvjp_x(const double *y, const double *x, const double *th,       \
                           const double *v, double *o, double *w)                    \
    {                                                                                \
        int f = tick(K_RVJP_X);                                                      \
        (void)w;                                                                     \
        g_rvjp(&P##_p, 1, y, x, th, v, o);                                           \
        poison_out(f, o, NX);                                                        \
    }                                                                                \
    static void P##_rvjp_th(const double *y, const double *x, const double *th,      \
                            const double *v, double *o, double *w)                   \
    {                                                                                \
        int f = tick(K_RVJP_TH);                                                     \
        (void)w;                                                                     \
        g_rvjp(&P##_p, 2, y, x, th, v, o);                                           \
        poison_out(f, o, NTH);                                                       \
    }                                                                                \
    static const dil_model P##_model = {                                             \
        .name = #P, .ny = N, .nx = NX, .ntheta = NTH, .ndata = N, .nres = M,         \
        .work_size = 1, .score = P##_score, .score_grad_y = P##_grad,                \
        .score_hvp_yy = P##_hvp, .score_vjp_xy = P##_vjp_xy,                         \
        .score_vjp_thetay = P##_vjp_thy, .loss = P##_loss,                           \
        .loss_grad = P##_loss_grad, .residual = P##_res, .residual_jvp_y = P##_jvp,  \
        .residual_vjp_y = P##_rvjp, .residual_vjp_x = P##_rvjp_x,                    \
        .residual_vjp_theta = P##_rvjp_th,                                           \
    };

/* ---------------------------------------------------------------- rosen */
/* r = (10 (y1 - y0^2), 1 - y0) */
static void rosen_r(const double *y, const double *x, const double *th, double *r)
{
    (void)x; (void)th;
    r[0] = 10 * (y[1] - y[0] * y[0]);
    r[1] = 1 - y[0];
}

static void rosen_j(const double *y, const double *x, const double *th, double *J)
{
    (void)x; (void)th;
    J[0] = -20 * y[0]; J[1] = 10;
    J[2] = -1;         J[3] = 0;
}

/* d2 r0 / dy0^2 = -20 */
static void rosen_d2(const double *y, const double *x, const double *th, const double *w,
                     const double *v, double *oy, double *ox, double *ot)
{
    (void)y; (void)x; (void)th; (void)ox; (void)ot;
    oy[0] = -20 * w[0] * v[0];
}

static const prob rosen_p = { 2, 2, 0, 0, rosen_r, rosen_j, NULL, NULL, rosen_d2 };
DEFINE_MODEL(rosen, 2, 2, 0, 0)

/* ----------------------------------------------------------------- wood */
/* r = (10 (y1 - y0^2), 1 - y0, sqrt(90) (y3 - y2^2), 1 - y2,
        sqrt(10) (y1 + y3 - 2), (y1 - y3) / sqrt(10)) */
static void wood_r(const double *y, const double *x, const double *th, double *r)
{
    (void)x; (void)th;
    r[0] = 10 * (y[1] - y[0] * y[0]);
    r[1] = 1 - y[0];
    r[2] = sqrt(90.0) * (y[3] - y[2] * y[2]);
    r[3] = 1 - y[2];
    r[4] = sqrt(10.0) * (y[1] + y[3] - 2);
    r[5] = (y[1] - y[3]) / sqrt(10.0);
}

static void wood_j(const double *y, const double *x, const double *th, double *J)
{
    double s90 = sqrt(90.0), s10 = sqrt(10.0);
    (void)x; (void)th;
    memset(J, 0, 24 * sizeof *J);
    J[0 * 4 + 0] = -20 * y[0];
    J[0 * 4 + 1] = 10;
    J[1 * 4 + 0] = -1;
    J[2 * 4 + 2] = -2 * s90 * y[2];
    J[2 * 4 + 3] = s90;
    J[3 * 4 + 2] = -1;
    J[4 * 4 + 1] = s10;
    J[4 * 4 + 3] = s10;
    J[5 * 4 + 1] = 1 / s10;
    J[5 * 4 + 3] = -1 / s10;
}

static void wood_d2(const double *y, const double *x, const double *th, const double *w,
                    const double *v, double *oy, double *ox, double *ot)
{
    (void)y; (void)x; (void)th; (void)ox; (void)ot;
    oy[0] = -20 * w[0] * v[0];
    oy[2] = -2 * sqrt(90.0) * w[2] * v[2];
}

static const prob wood_p = { 4, 6, 0, 0, wood_r, wood_j, NULL, NULL, wood_d2 };
DEFINE_MODEL(wood, 4, 6, 0, 0)

/* --------------------------------------------------------------- powell */
/* r = (y0 + 10 y1, sqrt5 (y2 - y3), (y1 - 2 y2)^2, sqrt10 (y0 - y3)^2) */
static void powell_r(const double *y, const double *x, const double *th, double *r)
{
    double u = y[1] - 2 * y[2], s = y[0] - y[3];
    (void)x; (void)th;
    r[0] = y[0] + 10 * y[1];
    r[1] = sqrt(5.0) * (y[2] - y[3]);
    r[2] = u * u;
    r[3] = sqrt(10.0) * s * s;
}

static void powell_j(const double *y, const double *x, const double *th, double *J)
{
    double u = y[1] - 2 * y[2], s = y[0] - y[3], s5 = sqrt(5.0), s10 = sqrt(10.0);
    (void)x; (void)th;
    memset(J, 0, 16 * sizeof *J);
    J[0] = 1; J[1] = 10;
    J[4 + 2] = s5; J[4 + 3] = -s5;
    J[8 + 1] = 2 * u; J[8 + 2] = -4 * u;
    J[12 + 0] = 2 * s10 * s; J[12 + 3] = -2 * s10 * s;
}

/* r2 = u^2: d2 = 2 du du';  r3 = sqrt10 s^2: d2 = 2 sqrt10 ds ds' */
static void powell_d2(const double *y, const double *x, const double *th, const double *w,
                      const double *v, double *oy, double *ox, double *ot)
{
    double du = v[1] - 2 * v[2], ds = v[0] - v[3];
    double a = 2 * w[2] * du, b = 2 * sqrt(10.0) * w[3] * ds;
    (void)y; (void)x; (void)th; (void)ox; (void)ot;
    oy[0] = b;
    oy[1] = a;
    oy[2] = -2 * a;
    oy[3] = -b;
}

static const prob powell_p = { 4, 4, 0, 0, powell_r, powell_j, NULL, NULL, powell_d2 };
DEFINE_MODEL(powell, 4, 4, 0, 0)

/* -------------------------------------------------------------- helical */
/* r = (10 (y2 - 10 theta(y0, y1)), 10 (rho - 1), y2),
   theta = atan(y1/y0)/(2 pi) (+ 1/2 for y0 < 0), rho = |(y0, y1)| */
static const double TWO_PI = 6.283185307179586;

static void helical_r(const double *y, const double *x, const double *th, double *r)
{
    double t = atan(y[1] / y[0]) / TWO_PI + (y[0] < 0 ? 0.5 : 0.0);
    (void)x; (void)th;
    r[0] = 10 * (y[2] - 10 * t);
    r[1] = 10 * (sqrt(y[0] * y[0] + y[1] * y[1]) - 1);
    r[2] = y[2];
}

/* dtheta = (-y1, y0) / (2 pi rho^2), drho = (y0, y1) / rho */
static void helical_j(const double *y, const double *x, const double *th, double *J)
{
    double q = y[0] * y[0] + y[1] * y[1], rho = sqrt(q);
    (void)x; (void)th;
    J[0] = 100 * y[1] / (TWO_PI * q);
    J[1] = -100 * y[0] / (TWO_PI * q);
    J[2] = 10;
    J[3] = 10 * y[0] / rho;
    J[4] = 10 * y[1] / rho;
    J[5] = 0;
    J[6] = 0; J[7] = 0; J[8] = 1;
}

/* theta_00 = 2 y0 y1 / (2 pi q^2), theta_11 = -theta_00,
   theta_01 = (y1^2 - y0^2) / (2 pi q^2); rho_ij = (delta_ij q - yi yj) / rho^3 */
static void helical_d2(const double *y, const double *x, const double *th, const double *w,
                       const double *v, double *oy, double *ox, double *ot)
{
    double q = y[0] * y[0] + y[1] * y[1], rho = sqrt(q), c = TWO_PI * q * q;
    double t00 = 2 * y[0] * y[1] / c, t01 = (y[1] * y[1] - y[0] * y[0]) / c;
    double r00 = (q - y[0] * y[0]) / (rho * q), r01 = -y[0] * y[1] / (rho * q);
    double r11 = (q - y[1] * y[1]) / (rho * q);
    double a = -100 * w[0], b = 10 * w[1];
    (void)x; (void)th; (void)ox; (void)ot;
    oy[0] = a * (t00 * v[0] + t01 * v[1]) + b * (r00 * v[0] + r01 * v[1]);
    oy[1] = a * (t01 * v[0] - t00 * v[1]) + b * (r01 * v[0] + r11 * v[1]);
    oy[2] = 0;
}

static const prob helical_p = { 3, 3, 0, 0, helical_r, helical_j, NULL, NULL, helical_d2 };
DEFINE_MODEL(helical, 3, 3, 0, 0)

/* ---------------------------------------------------------------- beale */
/* r_i = c_i - y0 (1 - y1^k), k = i + 1, c = (1.5, 2.25, 2.625) */
static const double beale_c[3] = {1.5, 2.25, 2.625};

static void beale_r(const double *y, const double *x, const double *th, double *r)
{
    int i;
    (void)x; (void)th;
    for (i = 0; i < 3; i++)
        r[i] = beale_c[i] - y[0] * (1 - pow(y[1], i + 1));
}

static void beale_j(const double *y, const double *x, const double *th, double *J)
{
    int i;
    (void)x; (void)th;
    for (i = 0; i < 3; i++) {
        J[2 * i] = -(1 - pow(y[1], i + 1));
        J[2 * i + 1] = y[0] * (i + 1) * pow(y[1], i);
    }
}

/* d2 r_i: (0,1) = k y1^(k-1), (1,1) = y0 k (k-1) y1^(k-2) */
static void beale_d2(const double *y, const double *x, const double *th, const double *w,
                     const double *v, double *oy, double *ox, double *ot)
{
    double p1[3] = {1, 2 * y[1], 3 * y[1] * y[1]};     /* k y1^(k-1) */
    double p2[3] = {0, 2 * y[0], 6 * y[0] * y[1]};     /* y0 k (k-1) y1^(k-2) */
    int i;
    (void)x; (void)th; (void)ox; (void)ot;
    oy[0] = oy[1] = 0;
    for (i = 0; i < 3; i++) {
        oy[0] += w[i] * p1[i] * v[1];
        oy[1] += w[i] * (p1[i] * v[0] + p2[i] * v[1]);
    }
}

static const prob beale_p = { 2, 3, 0, 0, beale_r, beale_j, NULL, NULL, beale_d2 };
DEFINE_MODEL(beale, 2, 3, 0, 0)

/* ----------------------------------------------------------------- quad */
/* r = S Q (y - x) - theta; S = diag(10^(3 i / 7)), Q = I - 2 u u'/u'u */
enum { QN = 8 };

static double quad_s(int i)
{
    return pow(10.0, 3.0 * i / (QN - 1));
}

static void quad_Q(double *Q)
{
    double u[QN], uu = 0;
    int i, j;
    for (i = 0; i < QN; i++) {
        u[i] = 1.0 + 0.5 * i - 0.1 * i * i;
        uu += u[i] * u[i];
    }
    for (i = 0; i < QN; i++)
        for (j = 0; j < QN; j++)
            Q[i * QN + j] = (i == j) - 2 * u[i] * u[j] / uu;
}

static void quad_j(const double *y, const double *x, const double *th, double *J)
{
    int i, j;
    (void)y; (void)x; (void)th;
    quad_Q(J);
    for (i = 0; i < QN; i++)
        for (j = 0; j < QN; j++)
            J[i * QN + j] *= quad_s(i);
}

static void quad_r(const double *y, const double *x, const double *th, double *r)
{
    double J[QN * QN], d[QN];
    int i;
    quad_j(y, x, th, J);
    for (i = 0; i < QN; i++)
        d[i] = y[i] - x[i];
    matvec(QN, QN, J, d, r);
    for (i = 0; i < QN; i++)
        r[i] -= th[i];
}

static void quad_jx(const double *y, const double *x, const double *th, double *J)
{
    int i;
    quad_j(y, x, th, J);
    for (i = 0; i < QN * QN; i++)
        J[i] = -J[i];
}

static void quad_jt(const double *y, const double *x, const double *th, double *J)
{
    int i;
    (void)y; (void)x; (void)th;
    for (i = 0; i < QN * QN; i++)
        J[i] = (i % (QN + 1) == 0) ? -1.0 : 0.0;
}

static const prob quad_p = { QN, QN, QN, QN, quad_r, quad_j, quad_jx, quad_jt, NULL };
DEFINE_MODEL(quad, QN, QN, QN, QN)

static const double quad_x[QN] = {0.5, -0.25, 1.0, 0.0, -1.5, 0.75, 0.2, -0.6};
static const double quad_th[QN] = {1.0, -2.0, 3.0, 0.5, -1.0, 2.0, -0.3, 0.8};

/* y* = x + Q S^-1 theta */
static void quad_argmin(const double *x, const double *th, double *y)
{
    double Q[QN * QN], t[QN];
    int i;
    quad_Q(Q);
    for (i = 0; i < QN; i++)
        t[i] = th[i] / quad_s(i);
    matvec(QN, QN, Q, t, y);
    for (i = 0; i < QN; i++)
        y[i] += x[i];
}

/* ---------------------------------------------------------------- rober */
/* f(y; k) = (-k0 y0 + k2 y1 y2, k0 y0 - k2 y1 y2 - k1 y1^2, k1 y1^2);
   r = y - x[0:3] - x[3] f(y; theta) */
static void rober_f(const double *y, const double *k, double *f)
{
    f[0] = -k[0] * y[0] + k[2] * y[1] * y[2];
    f[1] = k[0] * y[0] - k[2] * y[1] * y[2] - k[1] * y[1] * y[1];
    f[2] = k[1] * y[1] * y[1];
}

/* F = df/dy */
static void rober_F(const double *y, const double *k, double *F)
{
    F[0] = -k[0]; F[1] = k[2] * y[2];                    F[2] = k[2] * y[1];
    F[3] = k[0];  F[4] = -k[2] * y[2] - 2 * k[1] * y[1]; F[5] = -k[2] * y[1];
    F[6] = 0;     F[7] = 2 * k[1] * y[1];                F[8] = 0;
}

static void rober_r(const double *y, const double *x, const double *th, double *r)
{
    double f[3];
    int i;
    rober_f(y, th, f);
    for (i = 0; i < 3; i++)
        r[i] = y[i] - x[i] - x[3] * f[i];
}

static void rober_j(const double *y, const double *x, const double *th, double *J)
{
    int i;
    rober_F(y, th, J);
    for (i = 0; i < 9; i++)
        J[i] = (i % 4 == 0) - x[3] * J[i];
}

/* dr/d(y0_j) = -e_j, dr/ddt = -f */
static void rober_jx(const double *y, const double *x, const double *th, double *J)
{
    double f[3];
    int i;
    rober_f(y, th, f);
    for (i = 0; i < 3; i++) {
        J[i * 4 + 0] = J[i * 4 + 1] = J[i * 4 + 2] = 0;
        J[i * 4 + i] = -1;
        J[i * 4 + 3] = -f[i];
    }
}

/* dr/dk = -dt df/dk */
static void rober_jt(const double *y, const double *x, const double *th, double *J)
{
    double dt = x[3], p = y[1] * y[2], q = y[1] * y[1];
    (void)th;
    J[0] = dt * y[0]; J[1] = 0;       J[2] = -dt * p;
    J[3] = -dt * y[0]; J[4] = dt * q; J[5] = dt * p;
    J[6] = 0;         J[7] = -dt * q; J[8] = 0;
}

/* oy = -dt sum_i w_i (d2 f_i) v with d2 f_0: (1,2) = k2; d2 f_1: (1,2) = -k2,
   (1,1) = -2 k1; d2 f_2: (1,1) = 2 k1.  ox[3] = -w' F v; ot[k] = -dt w' dF/dk v */
static void rober_d2(const double *y, const double *x, const double *th, const double *w,
                     const double *v, double *oy, double *ox, double *ot)
{
    double dt = x[3], k1 = th[1], k2 = th[2], F[9], Fv[3], a, b;
    a = k2 * (w[0] - w[1]);                     /* coefficient of the (1,2) pair */
    b = 2 * k1 * (w[2] - w[1]);                 /* coefficient of (1,1) */
    oy[0] = 0;
    oy[1] = -dt * (a * v[2] + b * v[1]);
    oy[2] = -dt * a * v[1];
    rober_F(y, th, F);
    matvec(3, 3, F, v, Fv);
    ox[3] = -(w[0] * Fv[0] + w[1] * Fv[1] + w[2] * Fv[2]);
    /* dF/dk0 v = (-v0, v0, 0); dF/dk1 v = (0, -2 y1 v1, 2 y1 v1);
       dF/dk2 v = (y2 v1 + y1 v2, -(y2 v1 + y1 v2), 0) */
    ot[0] = -dt * (-w[0] * v[0] + w[1] * v[0]);
    ot[1] = -dt * (2 * y[1] * v[1] * (w[2] - w[1]));
    ot[2] = -dt * ((y[2] * v[1] + y[1] * v[2]) * (w[0] - w[1]));
}

static const prob rober_p = { 3, 3, 4, 3, rober_r, rober_j, rober_jx, rober_jt, rober_d2 };
DEFINE_MODEL(rober, 3, 3, 4, 3)

static const double rober_k[3] = {0.04, 3e7, 1e4};
static const double rober_x_stiff[4] = {1.0, 0.0, 0.0, 1.0};     /* dt = 1 */
static const double rober_x_mild[4] = {1.0, 0.0, 0.0, 1e-4};     /* dt = 1e-4 */

/* ------------------------------------------------------------ sing, saddle */
/* r = (y0, 0): J = diag(1, 0) singular everywhere; root on the line y0 = 0 */
static void sing_r(const double *y, const double *x, const double *th, double *r)
{
    (void)x; (void)th;
    r[0] = y[0];
    r[1] = 0.0;
}

static void sing_j(const double *y, const double *x, const double *th, double *J)
{
    (void)y; (void)x; (void)th;
    J[0] = 1; J[1] = 0; J[2] = 0; J[3] = 0;
}

static const prob sing_p = { 2, 2, 0, 0, sing_r, sing_j, NULL, NULL, NULL };
DEFINE_MODEL(sing, 2, 2, 0, 0)

/* ------------------------------------------------------- ill-conditioned */
/* r = J (y - x) - theta with J = R diag(1, illc_s) R^T, R the rotation by
   0.3: cond(J) = 1/illc_s, set by the test.  The root is y* = x + J^-1
   theta, and the root form has closed forms: g = J^-T b = R diag(1, 1/s)
   R^T b = dl_dtheta (J_theta = -I), dl_dx = J^T g = b (J_x = -J), and
   z = (J^T J)^-1 b = R diag(1, 1/s^2) R^T b. */
static double illc_s = 1.0;

/* R diag(d0, d1) R^T v */
static void illc_apply(double d0, double d1, const double *v, double *out)
{
    double c = cos(0.3), s = sin(0.3), u0 = c * v[0] + s * v[1], u1 = -s * v[0] + c * v[1];
    u0 *= d0;
    u1 *= d1;
    out[0] = c * u0 - s * u1;
    out[1] = s * u0 + c * u1;
}

static void illc_j(const double *y, const double *x, const double *th, double *J)
{
    double e0[2] = {1, 0}, e1[2] = {0, 1}, c0[2], c1[2];
    (void)y; (void)x; (void)th;
    illc_apply(1.0, illc_s, e0, c0);
    illc_apply(1.0, illc_s, e1, c1);
    J[0] = c0[0]; J[1] = c1[0]; J[2] = c0[1]; J[3] = c1[1];
}

static void illc_r(const double *y, const double *x, const double *th, double *r)
{
    double d[2] = {y[0] - x[0], y[1] - x[1]};
    illc_apply(1.0, illc_s, d, r);
    r[0] -= th[0];
    r[1] -= th[1];
}

static void illc_jx(const double *y, const double *x, const double *th, double *J)
{
    int i;
    illc_j(y, x, th, J);
    for (i = 0; i < 4; i++)
        J[i] = -J[i];
}

static void illc_jt(const double *y, const double *x, const double *th, double *J)
{
    (void)y; (void)x; (void)th;
    J[0] = -1; J[1] = 0; J[2] = 0; J[3] = -1;
}

static const prob illc_p = { 2, 2, 2, 2, illc_r, illc_j, illc_jx, illc_jt, NULL };
DEFINE_MODEL(illc, 2, 2, 2, 2)

/* f = 1/2 (y0 - x0)^2 - 1/2 (y1 - x1)^2: a stationary saddle at y = x */
static double sd_score(const double *y, const double *x, const double *th, double *w)
{
    (void)th; (void)w;
    return 0.5 * (y[0] - x[0]) * (y[0] - x[0]) - 0.5 * (y[1] - x[1]) * (y[1] - x[1]);
}

static void sd_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    (void)th; (void)w;
    g[0] = y[0] - x[0];
    g[1] = -(y[1] - x[1]);
}

static void sd_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    (void)y; (void)x; (void)th; (void)w;
    hv[0] = v[0];
    hv[1] = -v[1];
}

/* d2f/dy dx = diag(-1, 1) */
static void sd_vjp_x(const double *y, const double *x, const double *th, const double *v,
                     double *o, double *w)
{
    (void)y; (void)x; (void)th; (void)w;
    o[0] = -v[0];
    o[1] = v[1];
}

static const dil_model saddle_model = {
    .name = "saddle", .ny = 2, .nx = 2, .score = sd_score, .score_grad_y = sd_grad,
    .score_hvp_yy = sd_hvp, .score_vjp_xy = sd_vjp_x,
};

/* Rosenbrock with the sign of df/dy (and of J^T w) flipped: no step along
   the "descent" direction decreases f */
static void liar_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    int i;
    rosen_grad(y, x, th, g, w);
    for (i = 0; i < 2; i++)
        g[i] = -g[i];
}

static void liar_rvjp(const double *y, const double *x, const double *th, const double *v,
                      double *o, double *w)
{
    int i;
    rosen_rvjp(y, x, th, v, o, w);
    for (i = 0; i < 2; i++)
        o[i] = -o[i];
}

/* The same lie told by J v (-J, the transpose of liar_rvjp's -J^T): with a
   2 x 2 residual Gauss-Newton builds J from J v (runtime/small.c,
   dili_small_jac) and never asks residual_vjp_y. */
static void liar_jvp(const double *y, const double *x, const double *th, const double *v,
                     double *o, double *w)
{
    int i;
    rosen_jvp(y, x, th, v, o, w);
    for (i = 0; i < 2; i++)
        o[i] = -o[i];
}

/* ================================================================== */
/* helpers                                                             */
/* ================================================================== */

static double max_abs_diff(int n, const double *a, const double *b)
{
    double d = 0.0;
    int i;
    for (i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > d)
            d = fabs(a[i] - b[i]);
    return d;
}

static double max_abs(int n, const double *a)
{
    double d = 0.0;
    int i;
    for (i = 0; i < n; i++)
        if (fabs(a[i]) > d)
            d = fabs(a[i]);
    return d;
}

static double norm2(int n, const double *a)
{
    double s = 0.0;
    int i;
    for (i = 0; i < n; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

static const char *solver_name(int s)
{
    static const char *const names[] = {"newton", "gauss-newton", "lbfgs", "gradient",
                                        "fixed-point", "user"};
    return s >= 0 && s <= DIL_SOLVER_USER ? names[s] : "?";
}

static int report_on(void)
{
    const char *e = getenv("CHECK_SOLVERS_REPORT");
    return e != NULL && *e != '\0' && *e != '0';
}

/* ================================================================== */
/* the hand kernels against finite differences                         */
/* ================================================================== */

static void fd_check(const dil_model *m, const double *y0, const double *x0,
                     const double *th0, double h, double tol)
{
    int n = m->ny, nr = m->nres, i, j, b;
    double y[MAXN], x[MAXP + MAXN], th[MAXP + MAXN], v[MAXN], wr[MAXR];
    double g[MAXN], gp[MAXN], gm[MAXN], hv[MAXN], out[MAXN + MAXP], rp[MAXR], rm[MAXR];
    double jv[MAXR], w[1];

    memcpy(y, y0, n * sizeof *y);
    if (m->nx)
        memcpy(x, x0, m->nx * sizeof *x);
    if (m->ntheta)
        memcpy(th, th0, m->ntheta * sizeof *th);
    for (i = 0; i < n; i++)
        v[i] = 0.3 + 0.17 * i;
    for (i = 0; i < nr; i++)
        wr[i] = 1.0 - 0.23 * i;
    /* gradient from the score */
    m->score_grad_y(y, x, th, g, w);
    for (i = 0; i < n; i++) {
        double s = y[i], fp, fm, fd;
        y[i] = s + h;
        fp = m->score(y, x, th, w);
        y[i] = s - h;
        fm = m->score(y, x, th, w);
        y[i] = s;
        fd = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(fd - g[i]) <= tol * (1 + fabs(g[i])),
                      "%s: grad[%d] %g vs fd %g", m->name, i, g[i], fd);
    }
    /* H v from the gradient */
    m->score_hvp_yy(y, x, th, v, hv, w);
    for (i = 0; i < n; i++)
        y[i] = y0[i] + h * v[i];
    m->score_grad_y(y, x, th, gp, w);
    for (i = 0; i < n; i++)
        y[i] = y0[i] - h * v[i];
    m->score_grad_y(y, x, th, gm, w);
    memcpy(y, y0, n * sizeof *y);
    for (i = 0; i < n; i++)
        ck_assert_msg(fabs((gp[i] - gm[i]) / (2 * h) - hv[i]) <= tol * (1 + fabs(hv[i])),
                      "%s: hvp[%d] %g vs fd %g", m->name, i, hv[i], (gp[i] - gm[i]) / (2 * h));
    /* mixed products from the gradient, residual products from the residual */
    for (b = 0; b < 2; b++) {
        int nb = b ? m->ntheta : m->nx;
        double *blk = b ? th : x, hb;
        if (nb == 0)
            continue;
        (b ? m->score_vjp_thetay : m->score_vjp_xy)(y, x, th, v, out, w);
        for (j = 0; j < nb; j++) {
            double s = blk[j], fd = 0.0;
            hb = h * (1 + fabs(s));
            blk[j] = s + hb;
            m->score_grad_y(y, x, th, gp, w);
            blk[j] = s - hb;
            m->score_grad_y(y, x, th, gm, w);
            blk[j] = s;
            for (i = 0; i < n; i++)
                fd += v[i] * (gp[i] - gm[i]) / (2 * hb);
            ck_assert_msg(fabs(fd - out[j]) <= tol * (1 + fabs(out[j])),
                          "%s: mixed vjp %d[%d] %g vs fd %g", m->name, b, j, out[j], fd);
        }
        (b ? m->residual_vjp_theta : m->residual_vjp_x)(y, x, th, wr, out, w);
        for (j = 0; j < nb; j++) {
            double s = blk[j], fd = 0.0;
            hb = h * (1 + fabs(s));
            blk[j] = s + hb;
            m->residual(y, x, th, rp, w);
            blk[j] = s - hb;
            m->residual(y, x, th, rm, w);
            blk[j] = s;
            for (i = 0; i < nr; i++)
                fd += wr[i] * (rp[i] - rm[i]) / (2 * hb);
            ck_assert_msg(fabs(fd - out[j]) <= tol * (1 + fabs(out[j])),
                          "%s: residual vjp %d[%d] %g vs fd %g", m->name, b, j, out[j], fd);
        }
    }
    /* J v and J^T w */
    for (i = 0; i < n; i++)
        y[i] = y0[i] + h * v[i];
    m->residual(y, x, th, rp, w);
    for (i = 0; i < n; i++)
        y[i] = y0[i] - h * v[i];
    m->residual(y, x, th, rm, w);
    memcpy(y, y0, n * sizeof *y);
    m->residual_jvp_y(y, x, th, v, jv, w);
    for (i = 0; i < nr; i++)
        ck_assert_msg(fabs((rp[i] - rm[i]) / (2 * h) - jv[i]) <= tol * (1 + fabs(jv[i])),
                      "%s: jvp[%d]", m->name, i);
    {
        double lhs = 0.0, rhs = 0.0;
        m->residual_vjp_y(y, x, th, wr, out, w);
        for (i = 0; i < nr; i++)
            lhs += wr[i] * jv[i];
        for (i = 0; i < n; i++)
            rhs += out[i] * v[i];
        ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * (1 + fabs(lhs)), "%s: J^T duality", m->name);
    }
}

START_TEST(test_kernels_fd)
{
    double y2[2] = {-0.7, 0.4}, y4[4] = {0.3, -0.8, 1.1, 0.6}, y3[3] = {-0.6, 0.7, 0.2};
    double yq[QN] = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8};
    double yr[3] = {0.9, 2e-5, 0.08}, ks[3] = {0.04, 3e3, 1e2};
    inj_reset();
    fd_check(&rosen_model, y2, NULL, NULL, 1e-6, 1e-6);
    fd_check(&wood_model, y4, NULL, NULL, 1e-6, 1e-6);
    fd_check(&powell_model, y4, NULL, NULL, 1e-6, 1e-6);
    fd_check(&helical_model, y3, NULL, NULL, 1e-6, 1e-6);
    fd_check(&beale_model, y2, NULL, NULL, 1e-6, 1e-6);
    /* quadratic: central differences are exact up to rounding, which a
       large step keeps far below the entries of size 1e6 */
    fd_check(&quad_model, yq, quad_x, quad_th, 1e-2, 1e-7);
    /* moderate rate constants: the differences of k2 = 3e7 terms lose digits */
    fd_check(&rober_model, yr, rober_x_stiff, ks, 1e-6, 1e-6);
    y3[1] = -0.7;                   /* helical: the other side of the x axis */
    fd_check(&helical_model, y3, NULL, NULL, 1e-6, 1e-6);
}
END_TEST

/* ================================================================== */
/* classic problems: every solver, iteration counts within bounds      */
/* ================================================================== */

typedef struct classic_case {
    const dil_model *m;
    const double *x, *th;
    const double *start;
    int solver;
    double tol;
    int max_iter;
    int want;              /* expected status */
    int lo, hi;            /* bounds on info.iterations */
    double ytol;           /* max-norm distance to the argmin on DIL_OK */
} classic_case;

static const double rosen_start[2] = {-1.2, 1.0}, rosen_min[2] = {1, 1};
static const double wood_start[4] = {-3, -1, -3, -1}, wood_min[4] = {1, 1, 1, 1};
static const double powell_start[4] = {3, -1, 0, 1}, powell_min[4] = {0, 0, 0, 0};
static const double helical_start[3] = {-1, 0, 0}, helical_min[3] = {1, 0, 0};
static const double beale_start[2] = {1, 1}, beale_min[2] = {3, 0.5};
static const double zero8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
static const double rober_start[3] = {1, 0, 0};

static const prob *prob_of(const dil_model *m)
{
    if (m == &rosen_model) return &rosen_p;
    if (m == &wood_model) return &wood_p;
    if (m == &powell_model) return &powell_p;
    if (m == &helical_model) return &helical_p;
    if (m == &beale_model) return &beale_p;
    if (m == &quad_model) return &quad_p;
    return &rober_p;
}

/* The reference argmin of a case: known in closed form, else Newton's. */
static void case_argmin(const classic_case *c, double *ystar)
{
    const dil_model *m = c->m;
    if (m == &rosen_model)
        memcpy(ystar, rosen_min, sizeof rosen_min);
    else if (m == &wood_model)
        memcpy(ystar, wood_min, sizeof wood_min);
    else if (m == &powell_model)
        memcpy(ystar, powell_min, sizeof powell_min);
    else if (m == &helical_model)
        memcpy(ystar, helical_min, sizeof helical_min);
    else if (m == &beale_model)
        memcpy(ystar, beale_min, sizeof beale_min);
    else if (m == &quad_model)
        quad_argmin(c->x, c->th, ystar);
    else {
        dil_options o = dil_default_options();
        o.tol = 1e-12;
        memcpy(ystar, c->start, m->ny * sizeof *ystar);
        ck_assert_int_eq(dil_solve(m, c->x, c->th, ystar, &o, NULL, NULL), DIL_OK);
    }
}

/*
 * The table of recorded runs.  Bounds are about [measured/2, 1.5 measured]:
 * tight enough to catch a solver that got worse, loose enough for another
 * compiler's rounding.  Measured counts are in docs/solvers.md.
 */
static const classic_case classic[] = {
    /* Rosenbrock */
    {&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_NEWTON, 1e-10, 100, DIL_OK, 11, 33, 1e-9},
    {&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GAUSS_NEWTON, 1e-10, 100, DIL_OK, 11, 33, 1e-9},
    {&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_LBFGS, 1e-10, 200, DIL_OK, 18, 56, 1e-9},
    {&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GRADIENT, 1e-10, 100000, DIL_OK, 4400, 13100, 1e-9},
    /* Wood */
    {&wood_model, NULL, NULL, wood_start, DIL_SOLVER_NEWTON, 1e-10, 100, DIL_OK, 21, 65, 1e-9},
    {&wood_model, NULL, NULL, wood_start, DIL_SOLVER_GAUSS_NEWTON, 1e-10, 150, DIL_OK, 35, 107, 1e-9},
    {&wood_model, NULL, NULL, wood_start, DIL_SOLVER_LBFGS, 1e-10, 500, DIL_OK, 50, 150, 1e-9},
    {&wood_model, NULL, NULL, wood_start, DIL_SOLVER_GRADIENT, 1e-10, 200000, DIL_OK, 4600, 13700, 1e-9},
    /* Powell singular: linear convergence for everybody; gradient descent
       does not come within tol of the minimiser (the Newton step there is
       about y/3, the error left along the singular directions) */
    {&powell_model, NULL, NULL, powell_start, DIL_SOLVER_NEWTON, 1e-10, 200, DIL_OK, 28, 86, 1e-8},
    {&powell_model, NULL, NULL, powell_start, DIL_SOLVER_GAUSS_NEWTON, 1e-10, 200, DIL_OK, 7, 21, 1e-2},
    {&powell_model, NULL, NULL, powell_start, DIL_SOLVER_LBFGS, 1e-10, 500, DIL_OK, 63, 191, 1e-8},
    {&powell_model, NULL, NULL, powell_start, DIL_SOLVER_GRADIENT, 1e-5, 20000, DIL_MAX_ITER, 20000, 20000, 0},
    /* ill-conditioned convex quadratic, cond 1e6 */
    {&quad_model, quad_x, quad_th, zero8, DIL_SOLVER_NEWTON, 1e-10, 100, DIL_OK, 2, 8, 1e-9},
    /* (the 8 x 8 J is held densely, and the step (J'J + lambda I) p = -J'r
       solved by Cholesky: the linear residual's root in one step) */
    {&quad_model, quad_x, quad_th, zero8, DIL_SOLVER_GAUSS_NEWTON, 1e-10, 100, DIL_OK, 1, 2, 1e-9},
    {&quad_model, quad_x, quad_th, zero8, DIL_SOLVER_LBFGS, 1e-10, 2000, DIL_OK, 260, 780, 1e-9},
    {&quad_model, quad_x, quad_th, zero8, DIL_SOLVER_GRADIENT, 1e-10, 20000, DIL_MAX_ITER, 20000, 20000, 0},
    /* stiff backward-Euler step (Robertson, dt = 1) */
    {&rober_model, rober_x_stiff, rober_k, rober_start, DIL_SOLVER_NEWTON, 1e-10, 100, DIL_OK, 5, 17, 1e-12},
    /* (the stop ||r|| <= 1e-10 bounds |y - y*| by ||J^-1|| 1e-10 only:
       Gauss-Newton's last, exact step lands 7e-12 away) */
    {&rober_model, rober_x_stiff, rober_k, rober_start, DIL_SOLVER_GAUSS_NEWTON, 1e-10, 100, DIL_OK, 9, 29, 1e-11},
    {&rober_model, rober_x_stiff, rober_k, rober_start, DIL_SOLVER_LBFGS, 1e-10, 2000, DIL_OK, 24, 72, 1e-9},
    {&rober_model, rober_x_stiff, rober_k, rober_start, DIL_SOLVER_FIXED_POINT, 1e-10, 1000, DIL_NOT_FINITE, 3, 12, 0},
    /* the same step with dt = 1e-4: non-stiff, fixed point converges */
    {&rober_model, rober_x_mild, rober_k, rober_start, DIL_SOLVER_NEWTON, 1e-12, 100, DIL_OK, 2, 5, 1e-12},
    {&rober_model, rober_x_mild, rober_k, rober_start, DIL_SOLVER_GAUSS_NEWTON, 1e-12, 100, DIL_OK, 2, 5, 1e-12},
    {&rober_model, rober_x_mild, rober_k, rober_start, DIL_SOLVER_FIXED_POINT, 1e-12, 1000, DIL_OK, 2, 6, 1e-12},
};

static void run_classic(const classic_case *c)
{
    const dil_model *m = c->m;
    dil_options o = dil_default_options();
    dil_info info;
    double y[MAXN], ystar[MAXN], g[MAXN], w[1];
    int st;

    case_argmin(c, ystar);
    o.solver = c->solver;
    o.tol = c->tol;
    o.max_iter = c->max_iter;
    memcpy(y, c->start, m->ny * sizeof *y);
    inj_reset();
    st = dil_solve(m, c->x, c->th, y, &o, &info, NULL);
    if (report_on())
        printf("%-8s %-13s tol %-6g %-15s iterations %6d  scores %6d  gradients %6d"
               "  hvps %5d  jacobian products %5d  |grad| %.2e  |y - y*| %.2e\n",
               m->name, solver_name(c->solver), c->tol, dil_status_string(st),
               info.iterations, info.n_score, info.n_grad, info.n_hvp, info.n_jac,
               info.grad_norm, max_abs_diff(m->ny, y, ystar));
    ck_assert_msg(st == c->want, "%s/%s: %s (want %s) after %d iterations, |g| %g",
                  m->name, solver_name(c->solver), dil_status_string(st),
                  dil_status_string(c->want), info.iterations, info.grad_norm);
    ck_assert_int_eq(info.status, st);
    ck_assert_msg(info.iterations >= c->lo && info.iterations <= c->hi,
                  "%s/%s: %d iterations, recorded bounds [%d, %d]", m->name,
                  solver_name(c->solver), info.iterations, c->lo, c->hi);
    /* info's counts are the kernel calls that were made */
    ck_assert_int_eq(info.n_score, c->solver == DIL_SOLVER_GAUSS_NEWTON
                     || c->solver == DIL_SOLVER_FIXED_POINT ? inj.count[K_RES]
                     : inj.count[K_SCORE]);
    ck_assert_int_eq(info.n_grad, inj.count[K_GRAD]);
    ck_assert_int_eq(info.n_hvp, inj.count[K_HVP]);
    ck_assert_int_eq(info.n_jac, inj.count[K_JVP] + inj.count[K_RVJP]);
    ck_assert(isfinite(y[0]));
    if (st == DIL_OK) {
        /* the residual solvers may also stop on |r| <= tol */
        ck_assert_msg(info.grad_norm <= c->tol || info.residual_norm <= c->tol,
                      "%s: |g| %g", m->name, info.grad_norm);
        ck_assert_msg(max_abs_diff(m->ny, y, ystar) <= c->ytol * (1 + max_abs(m->ny, ystar)),
                      "%s/%s: |y - y*| = %g", m->name, solver_name(c->solver),
                      max_abs_diff(m->ny, y, ystar));
        /* the reported norm is the true one at the returned y */
        if (c->solver != DIL_SOLVER_FIXED_POINT) {
            g_grad(prob_of(m), y, c->x, c->th, g);
            ck_assert(fabs(norm2(m->ny, g) - info.grad_norm) <= 1e-6 * info.grad_norm + 1e-300);
        }
    }
    (void)w;
}

/* The option comparisons quoted in docs/solvers.md (report mode only). */
static void report_options(void)
{
    static const double caps[2] = {0.5, 1e-2};
    int i;
    for (i = 0; i < 2; i++) {
        dil_options o = dil_default_options();
        dil_info info;
        double y[2] = {-1.2, 1.0};
        o.inner_tol = caps[i];
        dil_solve(&rosen_model, NULL, NULL, y, &o, &info, NULL);
        printf("rosen    newton        inner_tol %-6g %-15s iterations %6d\n", caps[i],
               dil_status_string(info.status), info.iterations);
    }
}

START_TEST(test_classic)
{
    run_classic(&classic[_i]);
    if (_i == 0 && report_on())
        report_options();
}
END_TEST

/* ================================================================== */
/* every solver reaches the argmin of unseen models from Newton's start */
/* ================================================================== */

typedef struct unseen {
    const dil_model *m;
    const double *x, *th, *start;
    int solvers[6];          /* terminated by -1 */
    double ytol;             /* agreement with Newton, max-norm, relative */
} unseen;

static const unseen unseen_models[] = {
    {&helical_model, NULL, NULL, helical_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_GRADIENT, -1}, 1e-6},
    {&beale_model, NULL, NULL, beale_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_GRADIENT, -1}, 1e-6},
    {&wood_model, NULL, NULL, wood_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_GRADIENT, -1}, 1e-6},
    {&rosen_model, NULL, NULL, rosen_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_GRADIENT, -1}, 1e-6},
    {&quad_model, quad_x, quad_th, zero8,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, -1}, 1e-8},
    {&rober_model, rober_x_stiff, rober_k, rober_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, -1}, 1e-8},
    {&rober_model, rober_x_mild, rober_k, rober_start,
     {DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS, DIL_SOLVER_FIXED_POINT, -1}, 1e-8},
};

START_TEST(test_same_argmin)
{
    const unseen *u = &unseen_models[_i];
    const dil_model *m = u->m;
    dil_options o = dil_default_options();
    dil_info info;
    double yn[MAXN], y[MAXN];
    int k;

    memcpy(yn, u->start, m->ny * sizeof *yn);
    o.max_iter = 500;
    ck_assert_int_eq(dil_solve(m, u->x, u->th, yn, &o, &info, NULL), DIL_OK);
    for (k = 0; u->solvers[k] >= 0; k++) {
        int s = u->solvers[k];
        o = dil_default_options();
        o.solver = s;
        o.max_iter = 5000;
        if (s == DIL_SOLVER_GRADIENT)
            o.max_iter = 400000;    /* linear convergence: many more steps */
        memcpy(y, u->start, m->ny * sizeof *y);
        ck_assert_msg(dil_solve(m, u->x, u->th, y, &o, &info, NULL) == DIL_OK,
                      "%s/%s: %s after %d, |g| %g", m->name, solver_name(s),
                      dil_status_string(info.status), info.iterations, info.grad_norm);
        if (report_on())
            printf("same argmin: %-8s %-13s %6d iterations, |y - y_newton| %.2e\n",
                   m->name, solver_name(s), info.iterations, max_abs_diff(m->ny, y, yn));
        ck_assert_msg(max_abs_diff(m->ny, y, yn) <= u->ytol * (1 + max_abs(m->ny, yn)),
                      "%s/%s: argmin differs from Newton's by %g", m->name, solver_name(s),
                      max_abs_diff(m->ny, y, yn));
    }
}
END_TEST

/* ================================================================== */
/* the root-finding backward against the score form                    */
/* ================================================================== */

/* All three backward forms at a solved point of m; outputs compared. */
static void three_forms(const dil_model *m, const double *x, const double *th,
                        const double *y, const double *dly, double rtol)
{
    double dx[3][MAXN], dt[3][MAXN], g[3][MAXN];
    dil_options o;
    dil_info info;
    int k, form[3] = {DIL_BACKWARD_CG, DIL_BACKWARD_DENSE, DIL_BACKWARD_ROOT};

    for (k = 0; k < 3; k++) {
        o = dil_default_options();
        o.backward = form[k];
        o.cg_tol = 1e-14;
        o.cg_solution = g[k];
        inj_reset();
        ck_assert_msg(dil_backward(m, y, x, th, dly, dx[k], dt[k], &o, &info, NULL) == DIL_OK,
                      "%s form %d: %s", m->name, form[k], dil_status_string(info.status));
        if (form[k] == DIL_BACKWARD_ROOT) {
            /* first-order residual kernels only */
            ck_assert_int_eq(inj.count[K_HVP] + inj.count[K_VJP_XY] + inj.count[K_VJP_THY]
                             + inj.count[K_GRAD] + inj.count[K_SCORE], 0);
            ck_assert_int_eq(info.n_hvp, 0);
            ck_assert(info.residual_norm <= o.stationary_tol);
            /* a tiny J (nres ny <= 64, runtime/small.c) is built from ny
               products J e_j and the rest is dense: then J_x^T, J_theta^T
               only; else 2 per CG iteration and per Lanczos step of the
               check that J is nonsingular (min(ny, 10) here), J^T r, J z,
               J_x^T, J_theta^T */
            if (m->nres * m->ny <= 64)
                ck_assert_int_eq(info.n_jac, m->ny + (m->nx > 0) + (m->ntheta > 0));
            else
                ck_assert_int_eq(info.n_jac, 2 * info.cg_iterations
                                 + 2 * (m->ny < 10 ? m->ny : 10) + 2 + (m->nx > 0)
                                 + (m->ntheta > 0));
        }
        if (report_on())
            printf("backward %-8s form %d: cg iterations %d, relative residual %.1e\n",
                   m->name, form[k], info.cg_iterations, info.cg_residual);
    }
    for (k = 1; k < 3; k++) {
        double sx = 1 + max_abs(m->nx, dx[0]), st = 1 + max_abs(m->ntheta, dt[0]);
        double sg = 1 + max_abs(m->ny, g[0]);
        ck_assert_msg(max_abs_diff(m->nx, dx[k], dx[0]) <= rtol * sx, "%s dl_dx form %d: %g",
                      m->name, form[k], max_abs_diff(m->nx, dx[k], dx[0]));
        ck_assert_msg(max_abs_diff(m->ntheta, dt[k], dt[0]) <= rtol * st,
                      "%s dl_dtheta form %d: %g", m->name, form[k],
                      max_abs_diff(m->ntheta, dt[k], dt[0]));
        /* z of the root form is the g of the score form (H = J^T J at a root) */
        ck_assert_msg(max_abs_diff(m->ny, g[k], g[0]) <= rtol * sg, "%s g form %d: %g",
                      m->name, form[k], max_abs_diff(m->ny, g[k], g[0]));
    }
}

/* Unknowns of a padded model (tests/support/padded.h): 9^2 > 64, so its
   J is never held densely and the root form takes its Krylov path. */
#define PADN 9

/* The root form on m's tiny J held densely (the direct solve of
   runtime/small.c) against its Krylov path (Lanczos check, then CG with a
   kernel call per product) on m padded to PADN unknowns: dl_dx,
   dl_dtheta and z agree to rtol, z's padded tail stays exactly 0. */
static void root_dense_vs_krylov(const dil_model *m, const double *x, const double *th,
                                 const double *y, const double *dly, double rtol)
{
    int n = m->ny;
    dil_model pm = pad_model(m, PADN - n);
    double yp[PADN] = {0}, bp[PADN] = {0}, z[2][PADN], dx[2][MAXN], dt[2][MAXN];
    dil_options o = dil_default_options();
    dil_info info[2];
    int k, j;

    memcpy(yp, y, (size_t)n * sizeof *y);
    memcpy(bp, dly, (size_t)n * sizeof *dly);
    o.backward = DIL_BACKWARD_ROOT;
    o.cg_tol = 1e-14;
    for (k = 0; k < 2; k++) {
        o.cg_solution = z[k];
        inj_reset();
        ck_assert_msg(dil_backward(k ? &pm : m, k ? yp : y, x, th, k ? bp : dly, dx[k], dt[k],
                                   &o, &info[k], NULL) == DIL_OK, "%s path %d: %s", m->name,
                      k, dil_status_string(info[k].status));
        if (report_on())
            printf("root %-8s %s: cg iterations %d, relative residual %.1e, "
                   "jacobian products %d\n", m->name, k ? "krylov" : "dense ",
                   info[k].cg_iterations, info[k].cg_residual, info[k].n_jac);
    }
    /* the paths taken: J from n products J e_j, then J_x^T, J_theta^T;
       against 2 products per CG iteration and Lanczos step */
    ck_assert_int_eq(info[0].n_jac, n + (m->nx > 0) + (m->ntheta > 0));
    ck_assert(info[1].cg_iterations > 0 && info[1].n_jac > 2 * info[1].cg_iterations);
    for (j = n; j < PADN; j++)
        ck_assert(z[1][j] == 0.0);
    ck_assert_msg(max_abs_diff(m->nx, dx[0], dx[1]) <= rtol * (1 + max_abs(m->nx, dx[1])),
                  "%s dl_dx dense vs krylov: %g", m->name, max_abs_diff(m->nx, dx[0], dx[1]));
    ck_assert_msg(max_abs_diff(m->ntheta, dt[0], dt[1])
                  <= rtol * (1 + max_abs(m->ntheta, dt[1])), "%s dl_dtheta dense vs krylov: %g",
                  m->name, max_abs_diff(m->ntheta, dt[0], dt[1]));
    ck_assert_msg(max_abs_diff(n, z[0], z[1]) <= rtol * (1 + max_abs(n, z[1])),
                  "%s z dense vs krylov: %g", m->name, max_abs_diff(n, z[0], z[1]));
}

START_TEST(test_root_vs_score_quad)
{
    double y[QN], dly[QN], dx[QN], dth[QN], e[QN], Q[QN * QN];
    dil_options o = dil_default_options();
    int i, kind;
    quad_argmin(quad_x, quad_th, y);
    for (i = 0; i < QN; i++)
        dly[i] = 1.0 - 0.3 * i;
    /* closed form: dy/dx = I, dy/dtheta = Q S^-1, so dl_dtheta = S^-1 Q dly */
    quad_Q(Q);
    matvec(QN, QN, Q, dly, e);
    for (i = 0; i < QN; i++)
        e[i] /= quad_s(i);
    for (kind = DIL_BACKWARD_CG; kind <= DIL_BACKWARD_ROOT; kind++) {
        o.backward = kind;
        o.cg_tol = 1e-14;
        ck_assert_int_eq(dil_backward(&quad_model, y, quad_x, quad_th, dly, dx, dth, &o,
                                      NULL, NULL), DIL_OK);
        ck_assert_msg(max_abs_diff(QN, dx, dly) < 1e-8 * max_abs(QN, dly), "form %d dx %g",
                      kind, max_abs_diff(QN, dx, dly));
        ck_assert_msg(max_abs_diff(QN, dth, e) < 1e-8 * max_abs(QN, e), "form %d dth %g",
                      kind, max_abs_diff(QN, dth, e));
    }
    three_forms(&quad_model, quad_x, quad_th, y, dly, 1e-8);
    root_dense_vs_krylov(&quad_model, quad_x, quad_th, y, dly, 1e-10);
}
END_TEST

START_TEST(test_root_vs_score_nonlinear)
{
    dil_options o = dil_default_options();
    double y[MAXN], dly[MAXN] = {0.7, -1.3, 0.4, 2.0};
    int i;
    o.tol = 1e-13;
    /* the stiff Robertson step */
    memcpy(y, rober_start, sizeof rober_start);
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_stiff, rober_k, y, &o, NULL, NULL), DIL_OK);
    three_forms(&rober_model, rober_x_stiff, rober_k, y, dly, 1e-7);
    root_dense_vs_krylov(&rober_model, rober_x_stiff, rober_k, y, dly, 1e-10);
    /* the helical valley and Powell's function near (not at) its singular
       minimum are square too; helical has a nonsingular J at the root */
    memcpy(y, helical_start, sizeof helical_start);
    ck_assert_int_eq(dil_solve(&helical_model, NULL, NULL, y, &o, NULL, NULL), DIL_OK);
    three_forms(&helical_model, NULL, NULL, y, dly, 1e-9);
    root_dense_vs_krylov(&helical_model, NULL, NULL, y, dly, 1e-10);
    memcpy(y, rosen_start, sizeof rosen_start);
    ck_assert_int_eq(dil_solve(&rosen_model, NULL, NULL, y, &o, NULL, NULL), DIL_OK);
    three_forms(&rosen_model, NULL, NULL, y, dly, 1e-9);
    root_dense_vs_krylov(&rosen_model, NULL, NULL, y, dly, 1e-10);
    (void)i;
}
END_TEST

/* Phi(x, k) = L(y*(x, k)) by solving; its differences against the root
   form's dil_loss_gradient on the stiff step. */
static double rober_phi(const double *x, const double *k, const double *t, const double *y0)
{
    dil_options o = dil_default_options();
    double y[3];
    o.tol = 1e-13;
    memcpy(y, y0, sizeof y);
    ck_assert_int_eq(dil_solve(&rober_model, x, k, y, &o, NULL, NULL), DIL_OK);
    return g_loss(&rober_p, y, t);
}

START_TEST(test_root_loss_gradient_fd)
{
    dil_options o = dil_default_options();
    dil_info info;
    double x[4], k[3], y[3], t[3] = {0.5, 1e-5, 0.3}, dx[4], dk[3], dxc[4], dkc[3], L, Lc;
    int j;
    memcpy(x, rober_x_stiff, sizeof x);
    memcpy(k, rober_k, sizeof k);
    memcpy(y, rober_start, sizeof y);
    o.tol = 1e-13;
    ck_assert_int_eq(dil_solve(&rober_model, x, k, y, &o, NULL, NULL), DIL_OK);
    o.backward = DIL_BACKWARD_ROOT;
    ck_assert_int_eq(dil_loss_gradient(&rober_model, y, x, k, t, &L, dx, dk, &o, &info, NULL),
                     DIL_OK);
    o.backward = DIL_BACKWARD_CG;
    ck_assert_int_eq(dil_loss_gradient(&rober_model, y, x, k, t, &Lc, dxc, dkc, &o, NULL, NULL),
                     DIL_OK);
    ck_assert(L == Lc);
    for (j = 0; j < 4; j++) {
        double s = x[j], h = 1e-6 * (1 + fabs(s)), fp, fm, fd;
        x[j] = s + h;
        fp = rober_phi(x, k, t, y);
        x[j] = s - h;
        fm = rober_phi(x, k, t, y);
        x[j] = s;
        fd = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(fd - dx[j]) <= 1e-6 * (1e-3 + fabs(fd)), "dL/dx[%d] %.10g fd %.10g",
                      j, dx[j], fd);
        ck_assert(fabs(dxc[j] - dx[j]) <= 1e-7 * (1e-3 + fabs(dx[j])));
    }
    for (j = 0; j < 3; j++) {
        double s = k[j], h = 1e-6 * fabs(s), fp, fm, fd;
        k[j] = s + h;
        fp = rober_phi(x, k, t, y);
        k[j] = s - h;
        fm = rober_phi(x, k, t, y);
        k[j] = s;
        fd = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(fd - dk[j]) <= 1e-5 * fabs(fd) + 1e-14,
                      "dL/dk[%d] %.10g fd %.10g", j, dk[j], fd);
        ck_assert(fabs(dkc[j] - dk[j]) <= 1e-7 * fabs(dk[j]) + 1e-16);
    }
}
END_TEST

/* An ill-conditioned tiny J, on both paths of the root form (direct solve
   on the 2 x 2 J, and Krylov on it padded): against the closed forms of
   the illc model at cond(J) = 1e6 (J^T J: 1e12, inside the nonsingular
   range 1/(16 DBL_EPSILON) = 2.8e14); DIL_SINGULAR at cond(J) = 1e8 unless
   cg_eps regularises. */
START_TEST(test_root_ill_conditioned)
{
    double x[2] = {0.5, -1.0}, th[2] = {0.0, 0.0}, b[2] = {1.0, -2.0};
    double y[PADN] = {0}, bp[PADN] = {0}, z[PADN], dx[2], dt[2], gc[2], zc[2];
    dil_model pm = pad_model(&illc_model, PADN - 2);
    dil_options o = dil_default_options();
    dil_info info;
    int k;

    memcpy(bp, b, sizeof b);
    memcpy(y, x, sizeof x);                 /* theta = 0: the root is y = x */
    o.backward = DIL_BACKWARD_ROOT;
    o.cg_solution = z;
    illc_s = 1e-6;
    illc_apply(1.0, 1.0 / illc_s, b, gc);
    illc_apply(1.0, 1.0 / (illc_s * illc_s), b, zc);
    for (k = 0; k < 2; k++) {
        ck_assert_int_eq(dil_backward(k ? &pm : &illc_model, y, x, th, bp, dx, dt, &o, &info,
                                      NULL), DIL_OK);
        if (report_on())
            printf("illc cond 1e6 %s: cg iterations %d, relative residual %.1e, "
                   "|g - g*| / |g*| %.1e, |z - z*| / |z*| %.1e\n", k ? "krylov" : "dense ",
                   info.cg_iterations, info.cg_residual,
                   max_abs_diff(2, dt, gc) / max_abs(2, gc),
                   max_abs_diff(2, z, zc) / max_abs(2, zc));
        ck_assert(info.cg_residual <= o.cg_tol);
        ck_assert_msg(max_abs_diff(2, dt, gc) <= 1e-8 * max_abs(2, gc), "path %d: g %g", k,
                      max_abs_diff(2, dt, gc) / max_abs(2, gc));
        ck_assert_msg(max_abs_diff(2, z, zc) <= 1e-8 * max_abs(2, zc), "path %d: z %g", k,
                      max_abs_diff(2, z, zc) / max_abs(2, zc));
        /* dl_dx = J^T J z passes through z (of order 1e12 here): it is
           accurate to about DBL_EPSILON cond(J)^2 = 1e-4 of |b| only, on
           both paths (measured: 3e-5) */
        ck_assert_msg(max_abs_diff(2, dx, b) <= 1e-3 * max_abs(2, b), "path %d: dx %g", k,
                      max_abs_diff(2, dx, b));
    }
    /* cond(J) = 1e8: lambda_min(J^T J) = 1e-16 lambda_max, singular on
       both paths (the Jacobi eigenvalues, the Lanczos Ritz values);
       outputs untouched */
    illc_s = 1e-8;
    for (k = 0; k < 2; k++) {
        z[0] = dt[0] = 9.0;
        ck_assert_int_eq(dil_backward(k ? &pm : &illc_model, y, x, th, bp, dx, dt, &o, &info,
                                      NULL), DIL_SINGULAR);
        ck_assert(z[0] == 9.0 && dt[0] == 9.0);
    }
    /* cg_eps regularises on purpose: z = R diag(1/(1 + eps), 1/(s^2 + eps)) R^T b */
    o.cg_eps = 1e-6;
    illc_apply(1.0 / (1.0 + o.cg_eps), 1.0 / (illc_s * illc_s + o.cg_eps), b, zc);
    for (k = 0; k < 2; k++) {
        ck_assert_int_eq(dil_backward(k ? &pm : &illc_model, y, x, th, bp, dx, dt, &o, &info,
                                      NULL), DIL_OK);
        ck_assert_msg(max_abs_diff(2, z, zc) <= 1e-9 * max_abs(2, zc), "path %d: eps z %g", k,
                      max_abs_diff(2, z, zc) / max_abs(2, zc));
    }
    illc_s = 1.0;
}
END_TEST

/* Gauss-Newton with the step solved directly on a tiny J held densely,
   against its Krylov step (CG, to the forcing term, on the model padded to
   PADN unknowns, whose padding stays at its root 0): the same root, each
   from the same start, and the same status. */
static void gn_dense_vs_krylov(const dil_model *m, const double *x, const double *th,
                               const double *start)
{
    dil_model pm = pad_model(m, PADN - m->ny);
    dil_options o = dil_default_options();
    dil_info info[2];
    double y[2][PADN] = {{0}};
    int k, j;
    o.solver = DIL_SOLVER_GAUSS_NEWTON;
    o.tol = 1e-12;
    for (k = 0; k < 2; k++) {
        memcpy(y[k], start, (size_t)m->ny * sizeof *start);
        ck_assert_msg(dil_solve(k ? &pm : m, x, th, y[k], &o, &info[k], NULL) == DIL_OK,
                      "%s path %d: %s", m->name, k, dil_status_string(info[k].status));
        if (report_on())
            printf("gauss-newton %-8s %s: iterations %d, jacobian products %d, cg total %d\n",
                   m->name, k ? "krylov" : "dense ", info[k].iterations, info[k].n_jac,
                   info[k].cg_total);
    }
    ck_assert_int_eq(info[0].cg_total, 0);      /* every step direct */
    ck_assert(info[1].cg_total > 0);
    for (j = m->ny; j < PADN; j++)
        ck_assert(y[1][j] == 0.0);
    ck_assert_msg(max_abs_diff(m->ny, y[0], y[1]) <= 1e-10 * (1 + max_abs(m->ny, y[1])),
                  "%s: |y dense - y krylov| %g", m->name, max_abs_diff(m->ny, y[0], y[1]));
}

START_TEST(test_gauss_newton_dense_vs_krylov)
{
    gn_dense_vs_krylov(&rober_model, rober_x_stiff, rober_k, rober_start);
    gn_dense_vs_krylov(&quad_model, quad_x, quad_th, zero8);
    gn_dense_vs_krylov(&helical_model, NULL, NULL, helical_start);
    gn_dense_vs_krylov(&rosen_model, NULL, NULL, rosen_start);
    {
        /* a singular J (sing: diag(1, 0), lambda = 0): Cholesky meets the
           zero pivot and CG on the dense J^T J takes the step, -J^T r being
           in its range: the root y0 = 0 in one step, y1 untouched */
        dil_options o = dil_default_options();
        dil_info info;
        double y[2] = {1.0, 3.0};
        o.solver = DIL_SOLVER_GAUSS_NEWTON;
        ck_assert_int_eq(dil_solve(&sing_model, NULL, NULL, y, &o, &info, NULL), DIL_OK);
        ck_assert_int_eq(info.iterations, 1);
        ck_assert(info.cg_total > 0);
        ck_assert(y[0] == 0.0 && y[1] == 3.0);
    }
}
END_TEST

START_TEST(test_root_properties)
{
    dil_options o = dil_default_options();
    dil_info info;
    dil_model m;
    double y[3], dly[3] = {1, -2, 0.5}, dx[4], dk[3], dx2[4], dk2[3], z[3], *work;
    size_t n;

    memcpy(y, rober_start, sizeof y);
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_stiff, rober_k, y, &o, NULL, NULL), DIL_OK);
    /* a model with no score kernels at all is served by the root form */
    m = rober_model;
    m.score = NULL;
    m.score_grad_y = NULL;
    m.score_hvp_yy = NULL;
    m.score_vjp_xy = NULL;
    m.score_vjp_thetay = NULL;
    o.backward = DIL_BACKWARD_ROOT;
    o.cg_solution = z;
    ck_assert_int_eq(dil_backward(&m, y, rober_x_stiff, rober_k, dly, dx, dk, &o, &info, NULL),
                     DIL_OK);
    /* rober's 3 x 3 J is held densely and the system solved by Cholesky:
       no CG iteration, at most one step of refinement, the true residual
       within cg_tol */
    ck_assert_int_le(info.cg_iterations, 1);
    ck_assert(info.cg_residual <= o.cg_tol);
    ck_assert(info.grad_norm <= 1e-9 && info.residual_norm <= 1e-9);
    o.backward = DIL_BACKWARD_CG;
    ck_assert_int_eq(dil_backward(&m, y, rober_x_stiff, rober_k, dly, dx2, dk2, &o, NULL, NULL),
                     DIL_BAD_ARG);
    /* warm start: from its own solution the root form needs no iteration
       (the direct solve reads no cg_x0: the same z again; CG on rober
       padded to PADN unknowns starts from its own z), and the score
       form's g is the same vector */
    o.backward = DIL_BACKWARD_ROOT;
    o.cg_x0 = z;
    o.cg_solution = NULL;
    ck_assert_int_eq(dil_backward(&m, y, rober_x_stiff, rober_k, dly, dx2, dk2, &o, &info, NULL),
                     DIL_OK);
    ck_assert_int_le(info.cg_iterations, 1);
    ck_assert(max_abs_diff(4, dx, dx2) <= 1e-9 * max_abs(4, dx));
    {
        dil_model pm = pad_model(&rober_model, PADN - 3);
        double yp[PADN] = {0}, bp[PADN] = {0}, zp[PADN];
        memcpy(yp, y, sizeof y);
        memcpy(bp, dly, sizeof dly);
        o.cg_x0 = NULL;
        o.cg_solution = zp;
        ck_assert_int_eq(dil_backward(&pm, yp, rober_x_stiff, rober_k, bp, dx2, dk2, &o, &info,
                                      NULL), DIL_OK);
        ck_assert(info.cg_iterations > 1);
        o.cg_x0 = zp;
        o.cg_solution = NULL;
        ck_assert_int_eq(dil_backward(&pm, yp, rober_x_stiff, rober_k, bp, dx2, dk2, &o, &info,
                                      NULL), DIL_OK);
        ck_assert_int_le(info.cg_iterations, 1);
        ck_assert(max_abs_diff(4, dx, dx2) <= 1e-9 * max_abs(4, dx));
        o.cg_x0 = z;
    }
    o.backward = DIL_BACKWARD_CG;
    ck_assert_int_eq(dil_backward(&rober_model, y, rober_x_stiff, rober_k, dly, dx2, dk2, &o,
                                  &info, NULL), DIL_OK);
    ck_assert_int_le(info.cg_iterations, 1);
    /* either output may be NULL, and its kernel is then not needed */
    o = dil_default_options();
    o.backward = DIL_BACKWARD_ROOT;
    m.residual_vjp_theta = NULL;
    ck_assert_int_eq(dil_backward(&m, y, rober_x_stiff, rober_k, dly, dx2, NULL, &o, NULL, NULL),
                     DIL_OK);
    ck_assert(max_abs_diff(4, dx, dx2) <= 1e-9 * max_abs(4, dx));
    ck_assert_int_eq(dil_backward(&m, y, rober_x_stiff, rober_k, dly, dx2, dk2, &o, NULL, NULL),
                     DIL_BAD_ARG);
    /* exactly dil_work_size doubles (ASan / valgrind watch for overruns) */
    n = dil_work_size(&rober_model, &o);
    work = malloc(n * sizeof *work);
    ck_assert_int_eq(dil_backward(&rober_model, y, rober_x_stiff, rober_k, dly, dx2, dk2, &o,
                                  NULL, work), DIL_OK);
    ck_assert(max_abs_diff(3, dk, dk2) <= 1e-9 * max_abs(3, dk));
    ck_assert_int_eq(dil_loss_gradient(&rober_model, y, rober_x_stiff, rober_k, dly, NULL, dx2,
                                       dk2, &o, NULL, work), DIL_OK);
    free(work);
}
END_TEST

/* ================================================================== */
/* fault injection: every status through the public API                */
/* ================================================================== */

START_TEST(test_status_ok_and_max_iter)
{
    /* DIL_MAX_ITER: y holds the best iterate and info its figures */
    static const int solvers[] = {DIL_SOLVER_NEWTON, DIL_SOLVER_GAUSS_NEWTON, DIL_SOLVER_LBFGS,
                                  DIL_SOLVER_GRADIENT};
    dil_options o;
    dil_info info;
    double y[4], g[4], f0 = g_score(&rosen_p, rosen_start, NULL, NULL);
    int k;
    for (k = 0; k < 4; k++) {
        o = dil_default_options();
        o.solver = solvers[k];
        o.max_iter = 3;
        memcpy(y, rosen_start, sizeof rosen_start);
        ck_assert_int_eq(dil_solve(&rosen_model, NULL, NULL, y, &o, &info, NULL), DIL_MAX_ITER);
        ck_assert_int_eq(info.status, DIL_MAX_ITER);
        ck_assert_int_eq(info.iterations, 3);
        ck_assert(info.score < f0 || solvers[k] == DIL_SOLVER_GAUSS_NEWTON);
        ck_assert(info.score <= f0);
        ck_assert(fabs(g_score(&rosen_p, y, NULL, NULL) - info.score) <= 1e-14 * info.score);
        g_grad(&rosen_p, y, NULL, NULL, g);
        ck_assert(fabs(norm2(2, g) - info.grad_norm) <= 1e-12 * info.grad_norm);
        ck_assert(info.grad_norm > o.tol);
    }
    /* fixed point: the iterate of smallest |r| */
    o = dil_default_options();
    o.solver = DIL_SOLVER_FIXED_POINT;
    o.max_iter = 1;
    memcpy(y, rober_start, sizeof rober_start);
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_mild, rober_k, y, &o, &info, NULL),
                     DIL_MAX_ITER);
    ck_assert_int_eq(info.iterations, 1);
    {
        double r[3];
        rober_r(y, rober_x_mild, rober_k, r);
        ck_assert(fabs(norm2(3, r) - info.residual_norm) <= 1e-12 * info.residual_norm);
        ck_assert(info.residual_norm == info.grad_norm);
    }
}
END_TEST

START_TEST(test_not_finite_inputs)
{
    dil_options o = dil_default_options();
    dil_info info;
    double x[4], k[3], y[3], dly[3] = {1, 1, 1}, dx[4] = {7, 7, 7, 7}, dk[3], t[3] = {0, 0, 0};
    double ysol[3], bad;
    int which, form;
    memcpy(ysol, rober_start, sizeof ysol);
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_stiff, rober_k, ysol, &o, NULL, NULL),
                     DIL_OK);
    for (which = 0; which < 6; which++) {
        bad = which % 2 ? INFINITY : NAN;
        for (form = 0; form < 3; form++) {
            int want = DIL_NOT_FINITE;
            memcpy(x, rober_x_stiff, sizeof x);
            memcpy(k, rober_k, sizeof k);
            memcpy(y, ysol, sizeof y);
            dly[0] = 1;
            o = dil_default_options();
            o.backward = form;
            switch (which) {
            case 0: x[1] = bad; break;
            case 1: k[2] = bad; break;
            case 2: y[0] = bad; break;
            case 3: x[3] = bad; break;
            case 4: dly[0] = bad; break;
            default: k[0] = -bad; break;
            }
            inj_reset();
            memcpy(dx, (double[4]){7, 7, 7, 7}, sizeof dx);
            ck_assert_int_eq(dil_backward(&rober_model, y, x, k, dly, dx, dk, &o, &info, NULL),
                             want);
            ck_assert_int_eq(info.status, want);
            ck_assert_int_eq(inj.total, 0);             /* no kernel ran */
            ck_assert(dx[0] == 7);                      /* outputs untouched */
            if (which != 4) {
                ck_assert_int_eq(dil_loss_gradient(&rober_model, y, x, k, t, NULL, dx, dk, &o,
                                                   &info, NULL), want);
                ck_assert_int_eq(inj.total, 0);
            }
        }
        if (which == 4)
            continue;
        /* the forward, with every solver: stopped before any work */
        for (form = DIL_SOLVER_NEWTON; form <= DIL_SOLVER_FIXED_POINT; form++) {
            double y0[3];
            memcpy(y0, which == 2 ? y : rober_start, sizeof y0);
            o = dil_default_options();
            o.solver = form;
            inj_reset();
            ck_assert_int_eq(dil_solve(&rober_model, x, k, y0, &o, &info, NULL), DIL_NOT_FINITE);
            ck_assert_int_eq(inj.total, 0);
            ck_assert_int_eq(info.iterations, 0);
            ck_assert(memcmp(y0, which == 2 ? y : rober_start, sizeof y0) == 0);
        }
    }
    /* data and cg_x0 */
    o = dil_default_options();
    t[1] = NAN;
    ck_assert_int_eq(dil_loss_gradient(&rober_model, ysol, rober_x_stiff, rober_k, t, NULL, dx,
                                       dk, &o, NULL, NULL), DIL_NOT_FINITE);
    t[1] = 0;
    dly[0] = 1;
    {
        double x0[3] = {0, INFINITY, 0};
        o.cg_x0 = x0;
        for (form = DIL_BACKWARD_CG; form <= DIL_BACKWARD_ROOT; form += 2) {
            o.backward = form;
            inj_reset();
            ck_assert_int_eq(dil_backward(&rober_model, ysol, rober_x_stiff, rober_k, dly, dx, dk,
                                          &o, NULL, NULL), DIL_NOT_FINITE);
            ck_assert_int_eq(inj.total, 0);
        }
    }
}
END_TEST

/* Run a solve with kind's call number `at` poisoned; the run must stop
   with DIL_NOT_FINITE right at that call. */
static void kernel_fault(const dil_model *m, const double *x, const double *th,
                         const double *start, int solver, int kind, int at)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[MAXN];
    int st;
    o.solver = solver;
    o.max_iter = 1000;
    memcpy(y, start, m->ny * sizeof *y);
    inj_arm(kind, at);
    st = dil_solve(m, x, th, y, &o, &info, NULL);
    ck_assert_msg(st == DIL_NOT_FINITE, "%s/%s, kind %d call %d: %s", m->name,
                  solver_name(solver), kind, at, dil_status_string(st));
    ck_assert_int_eq(info.status, DIL_NOT_FINITE);
    /* the NaN was produced, and nothing at all was evaluated after it */
    ck_assert_int_eq(inj.fired_at_total, inj.total);
    /* info's counts are the calls made, the faulty one included */
    ck_assert_int_eq(info.n_grad, inj.count[K_GRAD]);
    ck_assert_int_eq(info.n_hvp, inj.count[K_HVP]);
    ck_assert_int_eq(info.n_jac, inj.count[K_JVP] + inj.count[K_RVJP]);
    /* y is finite (the last accepted iterate) */
    ck_assert(max_abs(m->ny, y) < HUGE_VAL && y[0] == y[0]);
}

START_TEST(test_not_finite_kernels)
{
    /* at the start: the first score / gradient / residual */
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_NEWTON, K_SCORE, 1);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_LBFGS, K_GRAD, 1);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GRADIENT, K_SCORE, 1);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GAUSS_NEWTON, K_RES, 1);
    kernel_fault(&rober_model, rober_x_mild, rober_k, rober_start, DIL_SOLVER_FIXED_POINT,
                 K_RES, 1);
    /* mid-run, at an accepted point or inside an inner solve */
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_NEWTON, K_GRAD, 5);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_NEWTON, K_HVP, 7);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_LBFGS, K_GRAD, 6);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GRADIENT, K_GRAD, 10);
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GAUSS_NEWTON, K_JVP, 6);
    /* (2 x 2: J is built from J e_j, residual_vjp_y is never called) */
    kernel_fault(&rosen_model, NULL, NULL, rosen_start, DIL_SOLVER_GAUSS_NEWTON, K_JVP, 3);
    kernel_fault(&rober_model, rober_x_mild, rober_k, rober_start, DIL_SOLVER_FIXED_POINT,
                 K_RES, 3);
    {
        /* whereas a NaN score at a line-search trial point only shortens
           the step (Newton's first trial from (-1.2, 1)) */
        dil_options o = dil_default_options();
        double y[2] = {-1.2, 1.0};
        inj_arm(K_SCORE, 2);
        ck_assert_int_eq(dil_solve(&rosen_model, NULL, NULL, y, &o, NULL, NULL), DIL_OK);
        ck_assert(inj.fired_at_total > 0);
    }
}
END_TEST

START_TEST(test_not_finite_backward_kernels)
{
    static const struct { int form, kind, at; } faults[] = {
        {DIL_BACKWARD_CG, K_GRAD, 1},       /* stationarity check */
        {DIL_BACKWARD_CG, K_HVP, 2},        /* inside CG */
        {DIL_BACKWARD_CG, K_VJP_THY, 1},
        {DIL_BACKWARD_CG, K_VJP_XY, 1},
        {DIL_BACKWARD_DENSE, K_HVP, 3},
        {DIL_BACKWARD_ROOT, K_RES, 1},
        /* rober's J is 3 x 3: built from J e_j (dili_small_jac), so
           residual_vjp_y is never called; the first and the second column */
        {DIL_BACKWARD_ROOT, K_JVP, 1},
        {DIL_BACKWARD_ROOT, K_JVP, 2},
        {DIL_BACKWARD_ROOT, K_RVJP_X, 1},
        {DIL_BACKWARD_ROOT, K_RVJP_TH, 1},
    };
    dil_options o;
    dil_info info;
    double y[3], dly[3] = {1, -1, 2}, dx[4], dk[3];
    size_t i;
    memcpy(y, rober_start, sizeof y);
    o = dil_default_options();
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_stiff, rober_k, y, &o, NULL, NULL), DIL_OK);
    for (i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        o = dil_default_options();
        o.backward = faults[i].form;
        inj_arm(faults[i].kind, faults[i].at);
        ck_assert_msg(dil_backward(&rober_model, y, rober_x_stiff, rober_k, dly, dx, dk, &o,
                                   &info, NULL) == DIL_NOT_FINITE, "fault %d: %s", (int)i,
                      dil_status_string(info.status));
        ck_assert_int_eq(inj.fired_at_total, inj.total);
    }
}
END_TEST

START_TEST(test_cg_breakdown)
{
    dil_options o = dil_default_options();
    dil_info info;
    double x[2] = {0.5, -1.0}, y[2] = {0.5, -1.0}, dly[2] = {0.0, 1.0};
    double dx[2] = {9, 9}, z[2] = {9, 9}, yz[2] = {0.0, 3.0}, dsing[2] = {0.0, 1.0};
    /* indefinite H at a stationary saddle, eps = 0: the check says so */
    ck_assert_int_eq(dil_backward(&saddle_model, y, x, NULL, dly, dx, NULL, &o, &info, NULL),
                     DIL_NOT_MINIMUM);
    ck_assert(dx[0] == 9 && dx[1] == 9);                /* untouched */
    /* without the check, CG meets p'Hp = -1 at once */
    o.curvature_check = 0;
    ck_assert_int_eq(dil_backward(&saddle_model, y, x, NULL, dly, dx, NULL, &o, &info, NULL),
                     DIL_CG_BREAKDOWN);
    ck_assert_int_eq(info.status, DIL_CG_BREAKDOWN);
    ck_assert_int_eq(info.cg_iterations, 0);
    ck_assert(dx[0] == 9 && dx[1] == 9);                /* untouched */
    /* the dense path never solves an indefinite score Hessian */
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert_int_eq(dil_backward(&saddle_model, y, x, NULL, dly, dx, NULL, &o, &info, NULL),
                     DIL_NOT_MINIMUM);
    ck_assert(dx[0] == 9 && dx[1] == 9);
    /* root form with a singular J (eps = 0): the check finds it ... */
    o = dil_default_options();
    o.backward = DIL_BACKWARD_ROOT;
    o.cg_solution = z;
    ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, dsing, NULL, NULL, &o, &info,
                                  NULL), DIL_SINGULAR);
    ck_assert(z[0] == 9 && z[1] == 9);                  /* untouched */
    /* ... and without it CG meets |J p|^2 = 0 (this 2 x 2 J is held
       densely: Cholesky meets the zero pivot; padded, CG meets it) */
    o.curvature_check = 0;
    ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, dsing, NULL, NULL, &o, &info,
                                  NULL), DIL_CG_BREAKDOWN);
    ck_assert(z[0] == 9 && z[1] == 9);                  /* untouched */
    {
        dil_model ps = pad_model(&sing_model, PADN - 2);
        double yp[PADN] = {0}, bp[PADN] = {0}, zp[PADN] = {9, 9};
        memcpy(yp, yz, sizeof yz);
        memcpy(bp, dsing, sizeof dsing);
        o.cg_solution = zp;
        ck_assert_int_eq(dil_backward(&ps, yp, NULL, NULL, bp, NULL, NULL, &o, &info, NULL),
                         DIL_CG_BREAKDOWN);
        ck_assert(zp[0] == 9 && zp[1] == 9);
        /* b = 0: z = 0 without a factorisation or a CG step, on both paths */
        memset(bp, 0, sizeof bp);
        ck_assert_int_eq(dil_backward(&ps, yp, NULL, NULL, bp, NULL, NULL, &o, &info, NULL),
                         DIL_OK);
        ck_assert(zp[0] == 0 && zp[1] == 0);
        o.cg_solution = z;
        ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, bp, NULL, NULL, &o, &info,
                                      NULL), DIL_OK);
        ck_assert(z[0] == 0 && z[1] == 0);
        z[0] = z[1] = 9;
    }
    /* and the score form at the same point: H = diag(1, 0) is only
       semi-definite, which the check accepts; CG then breaks down */
    o = dil_default_options();
    o.cg_solution = z;
    ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, dsing, NULL, NULL, &o, &info,
                                  NULL), DIL_CG_BREAKDOWN);
    /* eps > 0 regularises both: (J^T J + eps I) z = b, z = b / eps here */
    o.cg_eps = 0.5;
    ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, dsing, NULL, NULL, &o, &info,
                                  NULL), DIL_OK);
    ck_assert(fabs(z[1] - 2.0) < 1e-15);
    o.backward = DIL_BACKWARD_ROOT;
    ck_assert_int_eq(dil_backward(&sing_model, yz, NULL, NULL, dsing, NULL, NULL, &o, &info,
                                  NULL), DIL_OK);
    ck_assert(fabs(z[1] - 2.0) < 1e-15);
}
END_TEST

START_TEST(test_cg_max_iter)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[PADN] = {0}, dly[PADN] = {0}, dx[QN], dth[QN], g[PADN];
    /* the root form's CG: on the quadratic padded to PADN unknowns (its
       8 x 8 J would be held densely and solved directly) */
    dil_model pq = pad_model(&quad_model, PADN - QN);
    int i, form, pass;
    quad_argmin(quad_x, quad_th, y);
    for (i = 0; i < QN; i++)
        dly[i] = 1.0;
    for (pass = 0; pass < 3; pass++) {
        form = pass == 0 ? DIL_BACKWARD_CG : DIL_BACKWARD_ROOT;
        o.backward = form;
        o.cg_max_iter = 2;
        o.cg_solution = g;
        /* pass 2, the direct solve: cg_tol = 0 cannot be met, so one step
           of refinement, then CG from its z, capped at 2 */
        o.cg_tol = pass == 2 ? 0.0 : dil_default_options().cg_tol;
        for (i = 0; i < QN; i++)
            dx[i] = NAN;
        ck_assert_int_eq(dil_backward(pass == 1 ? &pq : &quad_model, y, quad_x, quad_th, dly, dx,
                                      dth, &o, &info, NULL), DIL_CG_MAX_ITER);
        ck_assert_int_eq(info.status, DIL_CG_MAX_ITER);
        ck_assert_int_eq(info.cg_iterations, pass == 2 ? 3 : 2);
        ck_assert(info.cg_residual > o.cg_tol && isfinite(info.cg_residual));
        /* outputs written from the last iterate */
        ck_assert(max_abs(QN, dx) < HUGE_VAL && dx[0] == dx[0]);
        ck_assert(max_abs(QN, g) > 0);
    }
}
END_TEST

START_TEST(test_not_stationary)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[3], dly[3] = {1, 2, 3}, dx[4] = {NAN}, dk[3] = {NAN};
    int form;
    o.max_iter = 2;
    memcpy(y, rober_start, sizeof y);
    ck_assert_int_eq(dil_solve(&rober_model, rober_x_stiff, rober_k, y, &o, NULL, NULL),
                     DIL_MAX_ITER);
    for (form = DIL_BACKWARD_CG; form <= DIL_BACKWARD_ROOT; form++) {
        o = dil_default_options();
        o.backward = form;
        dx[0] = dk[0] = NAN;
        ck_assert_int_eq(dil_backward(&rober_model, y, rober_x_stiff, rober_k, dly, dx, dk, &o,
                                      &info, NULL), DIL_NOT_STATIONARY);
        ck_assert_int_eq(info.status, DIL_NOT_STATIONARY);
        if (form == DIL_BACKWARD_ROOT)
            ck_assert(info.residual_norm > o.stationary_tol);
        else
            ck_assert(info.grad_norm > o.stationary_tol);
        ck_assert(isfinite(dx[0]) && isfinite(dk[0]));  /* still computed */
        o.stationary_tol = HUGE_VAL;
        ck_assert_int_eq(dil_backward(&rober_model, y, rober_x_stiff, rober_k, dly, dx, dk, &o,
                                      &info, NULL), DIL_OK);
    }
}
END_TEST

START_TEST(test_singular)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[4] = {0, 0, 0, 0}, dly[4] = {1, 0, 0, 0}, z[4] = {5, 5, 5, 5};
    /* Powell's function at its minimum: H = J^T J has rank 2 */
    o.backward = DIL_BACKWARD_DENSE;
    o.cg_solution = z;
    ck_assert_int_eq(dil_backward(&powell_model, y, NULL, NULL, dly, NULL, NULL, &o, &info, NULL),
                     DIL_SINGULAR);
    ck_assert_int_eq(info.status, DIL_SINGULAR);
    ck_assert(z[0] == 5);                               /* untouched */
    /* b = 0 does not excuse a singular H: y*(x) is not defined there */
    ck_assert_int_eq(dil_backward(&sing_model, y, NULL, NULL, dly + 2, NULL, NULL, &o, &info,
                                  NULL), DIL_SINGULAR);
    dly[1] = 1;
    ck_assert_int_eq(dil_backward(&sing_model, y, NULL, NULL, dly, NULL, NULL, &o, &info, NULL),
                     DIL_SINGULAR);
}
END_TEST

START_TEST(test_line_search)
{
    dil_model liar = rosen_model;
    dil_options o;
    dil_info info;
    double y[2];
    int s;
    liar.score_grad_y = liar_grad;
    liar.residual_vjp_y = liar_rvjp;
    liar.residual_jvp_y = liar_jvp;
    for (s = DIL_SOLVER_NEWTON; s <= DIL_SOLVER_GRADIENT; s++) {
        o = dil_default_options();
        o.solver = s;
        memcpy(y, rosen_start, sizeof y);
        ck_assert_msg(dil_solve(&liar, NULL, NULL, y, &o, &info, NULL) == DIL_LINE_SEARCH,
                      "%s: %s", solver_name(s), dil_status_string(info.status));
        ck_assert_int_eq(info.status, DIL_LINE_SEARCH);
        /* y is the best iterate: the start, never left */
        ck_assert(y[0] == rosen_start[0] && y[1] == rosen_start[1]);
        ck_assert(fabs(info.score - g_score(&rosen_p, rosen_start, NULL, NULL))
                  <= 1e-14 * info.score);
    }
}
END_TEST

START_TEST(test_bad_args)
{
    dil_options o = dil_default_options();
    dil_info info;
    dil_model m;
    double y[4] = {1, 2, 3, 4}, yk[4], dly[4] = {1, 1, 1, 1}, dx[4] = {7, 7, 7, 7}, dk[3];
    double t[3] = {0, 0, 0};
    const double *x = rober_x_stiff, *k = rober_k;
    int s;
#define EXPECT_BAD(call)                                                          \
    do {                                                                          \
        info.status = -1;                                                         \
        info.iterations = -1;                                                     \
        memcpy(yk, y, sizeof yk);                                                 \
        inj_reset();                                                              \
        ck_assert_int_eq((call), DIL_BAD_ARG);                                    \
        ck_assert_int_eq(info.status, DIL_BAD_ARG);                               \
        ck_assert_int_eq(info.iterations, 0);                                     \
        ck_assert_int_eq(inj.total, 0);                                           \
        ck_assert(memcmp(yk, y, sizeof yk) == 0 && dx[0] == 7);                   \
    } while (0)

    /* NULL model, NULL needed blocks, NULL y / dl_dy / data */
    EXPECT_BAD(dil_solve(NULL, x, k, y, &o, &info, NULL));
    EXPECT_BAD(dil_backward(NULL, y, x, k, dly, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_loss_gradient(NULL, y, x, k, t, NULL, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_solve(&rober_model, NULL, k, y, &o, &info, NULL));
    EXPECT_BAD(dil_solve(&rober_model, x, NULL, y, &o, &info, NULL));
    EXPECT_BAD(dil_solve(&rober_model, x, k, NULL, &o, &info, NULL));
    EXPECT_BAD(dil_backward(&rober_model, NULL, x, k, dly, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_backward(&rober_model, y, x, k, NULL, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_backward(&rober_model, y, NULL, k, dly, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_loss_gradient(&rober_model, y, x, k, NULL, NULL, dx, dk, &o, &info, NULL));
    /* NULL is fine for an empty block */
    memcpy(yk, rosen_start, 2 * sizeof *yk);
    ck_assert_int_eq(dil_solve(&rosen_model, NULL, NULL, yk, &o, &info, NULL), DIL_OK);
    /* inconsistent sizes */
    m = rober_model;
    m.ny = -3;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    EXPECT_BAD(dil_backward(&m, y, x, k, dly, dx, dk, &o, &info, NULL));
    ck_assert_uint_eq(dil_work_size(&m, &o), 0);
    m = rober_model;
    m.ny = 0;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    m = rober_model;
    m.ntheta = -1;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    m = rober_model;
    m.nres = -2;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    m = rober_model;
    m.ndata = -1;
    EXPECT_BAD(dil_loss_gradient(&m, y, x, k, t, NULL, dx, dk, &o, &info, NULL));
    /* missing kernels for the chosen solver */
    m = rober_model;
    m.score_hvp_yy = NULL;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));                  /* Newton */
    EXPECT_BAD(dil_backward(&m, y, x, k, dly, dx, dk, &o, &info, NULL));  /* CG */
    o.backward = DIL_BACKWARD_DENSE;
    EXPECT_BAD(dil_backward(&m, y, x, k, dly, dx, dk, &o, &info, NULL));
    o = dil_default_options();
    m = rober_model;
    m.score = NULL;
    for (s = DIL_SOLVER_NEWTON; s <= DIL_SOLVER_GRADIENT; s++) {
        if (s == DIL_SOLVER_GAUSS_NEWTON)
            continue;
        o.solver = s;
        EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    }
    o = dil_default_options();
    o.solver = DIL_SOLVER_GAUSS_NEWTON;
    m = rober_model;
    m.residual_jvp_y = NULL;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    m = saddle_model;                                   /* not a residual model */
    EXPECT_BAD(dil_solve(&m, x, NULL, y, &o, &info, NULL));
    o.solver = DIL_SOLVER_FIXED_POINT;
    EXPECT_BAD(dil_solve(&wood_model, NULL, NULL, y, &o, &info, NULL));   /* nres != ny */
    m = rober_model;
    m.residual = NULL;
    EXPECT_BAD(dil_solve(&m, x, k, y, &o, &info, NULL));
    o.solver = DIL_SOLVER_USER;                         /* no user_solver */
    EXPECT_BAD(dil_solve(&rober_model, x, k, y, &o, &info, NULL));
    /* root form: square residual models with their first-order kernels */
    o = dil_default_options();
    o.backward = DIL_BACKWARD_ROOT;
    EXPECT_BAD(dil_backward(&wood_model, y, NULL, NULL, dly, NULL, NULL, &o, &info, NULL));
    EXPECT_BAD(dil_backward(&saddle_model, y, x, NULL, dly, dx, NULL, &o, &info, NULL));
    m = rober_model;
    m.residual_vjp_x = NULL;
    EXPECT_BAD(dil_backward(&m, y, x, k, dly, dx, dk, &o, &info, NULL));
    EXPECT_BAD(dil_loss_gradient(&m, y, x, k, t, NULL, dx, dk, &o, &info, NULL));
    m = rober_model;
    m.residual_jvp_y = NULL;
    EXPECT_BAD(dil_backward(&m, y, x, k, dly, dx, dk, &o, &info, NULL));
    /* options out of range */
    {
        dil_options bad[12];
        int i;
        for (i = 0; i < 12; i++)
            bad[i] = dil_default_options();
        bad[0].tol = NAN;
        bad[1].max_iter = -1;
        bad[2].cg_eps = -1;
        bad[3].backward = 99;
        bad[4].solver = -1;
        bad[5].inner_tol = 1.0;
        bad[6].armijo_c1 = 0.0;
        bad[7].solver = DIL_SOLVER_LBFGS;
        bad[7].wolfe_c2 = 1e-5;
        bad[8].max_backtracks = 0;
        bad[9].cg_max_iter = -1;
        bad[10].stationary_tol = NAN;
        bad[11].cg_tol = -1e-3;
        for (i = 0; i < 12; i++) {
            EXPECT_BAD(dil_solve(&rober_model, x, k, y, &bad[i], &info, NULL));
            EXPECT_BAD(dil_backward(&rober_model, y, x, k, dly, dx, dk, &bad[i], &info, NULL));
        }
    }
#undef EXPECT_BAD
}
END_TEST

START_TEST(test_no_memory)
{
    dil_model m = rosen_model;
    dil_info info;
    double y[2] = {-1.2, 1.0}, dly[2] = {1, 1};
    /* scratch that cannot exist: refused before malloc is even tried */
    m.work_size = SIZE_MAX / 4;
    inj_reset();
    ck_assert_int_eq(dil_solve(&m, NULL, NULL, y, NULL, &info, NULL), DIL_NO_MEMORY);
    ck_assert_int_eq(info.status, DIL_NO_MEMORY);
    ck_assert(y[0] == -1.2 && y[1] == 1.0);
    ck_assert_int_eq(dil_backward(&m, y, NULL, NULL, dly, NULL, NULL, NULL, &info, NULL),
                     DIL_NO_MEMORY);
    ck_assert_int_eq(inj.total, 0);
    ck_assert_uint_eq(dil_work_size(&m, NULL), SIZE_MAX / 4 + dil_work_size(&rosen_model, NULL)
                      - rosen_model.work_size);
}
END_TEST

/* Every status value is reached somewhere above; this one keeps the list
   honest if a status is added. */
START_TEST(test_every_status_named)
{
    int s;
    for (s = DIL_OK; s <= DIL_NOT_MINIMUM; s++)
        ck_assert(strncmp(dil_status_string(s), "DIL_", 4) == 0);
    ck_assert_str_eq(dil_status_string(DIL_NOT_MINIMUM), "DIL_NOT_MINIMUM");
    ck_assert_str_eq(dil_status_string(DIL_NOT_MINIMUM + 1), "unknown DIL status");
}
END_TEST

/* ================================================================== */

static Suite *solvers_suite(void)
{
    Suite *s = suite_create("solvers");
    TCase *k = tcase_create("kernels"), *c = tcase_create("classic");
    TCase *u = tcase_create("same_argmin"), *r = tcase_create("root_backward");
    TCase *f = tcase_create("faults");

    tcase_add_test(k, test_kernels_fd);
    tcase_add_loop_test(c, test_classic, 0, (int)(sizeof classic / sizeof classic[0]));
    tcase_add_loop_test(u, test_same_argmin, 0,
                        (int)(sizeof unseen_models / sizeof unseen_models[0]));
    tcase_add_test(r, test_root_vs_score_quad);
    tcase_add_test(r, test_root_vs_score_nonlinear);
    tcase_add_test(r, test_root_loss_gradient_fd);
    tcase_add_test(r, test_root_properties);
    tcase_add_test(r, test_root_ill_conditioned);
    tcase_add_test(r, test_gauss_newton_dense_vs_krylov);
    tcase_add_test(f, test_status_ok_and_max_iter);
    tcase_add_test(f, test_not_finite_inputs);
    tcase_add_test(f, test_not_finite_kernels);
    tcase_add_test(f, test_not_finite_backward_kernels);
    tcase_add_test(f, test_cg_breakdown);
    tcase_add_test(f, test_cg_max_iter);
    tcase_add_test(f, test_not_stationary);
    tcase_add_test(f, test_singular);
    tcase_add_test(f, test_line_search);
    tcase_add_test(f, test_bad_args);
    tcase_add_test(f, test_no_memory);
    tcase_add_test(f, test_every_status_named);
    /* gradient descent runs tens of thousands of steps (slow under valgrind) */
    tcase_set_timeout(c, 600);
    tcase_set_timeout(u, 600);
    suite_add_tcase(s, k);
    suite_add_tcase(s, c);
    suite_add_tcase(s, u);
    suite_add_tcase(s, r);
    suite_add_tcase(s, f);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(solvers_suite());
    int failed;
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
