/*
 * check_runtime.c - Check suite for libdil, the DIL runtime.
 *
 * The models here are dil_model structs whose kernels are written by hand,
 * so the runtime is tested independently of the compiler.  Every hand
 * kernel is first checked against finite differences of the kernel below
 * it (score -> gradient -> HVP and mixed VJPs), so that a runtime test
 * failing means the runtime is wrong, not the test model.  Then:
 *   - forward solvers on the classic problems (Rosenbrock from (-1.2, 1),
 *     a start where the Hessian is indefinite, a double well), with the
 *     iteration counts asserted within bounds, GSL style;
 *   - CG on SPD, singular PSD (eps > 0), indefinite (breakdown) and capped
 *     systems, against a direct solve;
 *   - the IFT backward against closed forms (Kepler: dE/de = sin E /
 *     (1 - e cos E); a quadratic layer y* = A x + theta) and against finite
 *     differences of the whole solve-then-loss map; CG vs DENSE;
 *   - residual models with Gauss-Newton and fixed point;
 *   - every failure status, and runs with exactly dil_work_size doubles
 *     from malloc so that ASan/valgrind catch any overrun.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"

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

/* Gaussian elimination with partial pivoting for the test's direct solves
   (n <= 8); a is destroyed. */
static void direct_solve(int n, double *a, double *b, double *out)
{
    int i, j, k;
    for (k = 0; k < n; k++) {
        int p = k;
        for (i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
                p = i;
        for (j = 0; j < n; j++) {
            double t = a[k * n + j];
            a[k * n + j] = a[p * n + j];
            a[p * n + j] = t;
        }
        {
            double t = b[k];
            b[k] = b[p];
            b[p] = t;
        }
        for (i = k + 1; i < n; i++) {
            double l = a[i * n + k] / a[k * n + k];
            for (j = k; j < n; j++)
                a[i * n + j] -= l * a[k * n + j];
            b[i] -= l * b[k];
        }
    }
    for (i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (j = i + 1; j < n; j++)
            s -= a[i * n + j] * out[j];
        out[i] = s / a[i * n + i];
    }
}

static double *kernel_work(const dil_model *m)
{
    return (double *)calloc(m->work_size + 1, sizeof(double));
}

/*
 * Checks a hand model's derivative kernels by central differences at
 * (y, x, theta): gradient from the score, HVP from the gradient, the mixed
 * VJPs from the gradient, and the residual products from the residual.
 */
static void check_kernels_fd(const dil_model *m, const double *y0,
                             const double *x0, const double *th0, double tol)
{
    int n = m->ny, i, j;
    double h = 1e-6;
    double *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g);
    double *gp = malloc(n * sizeof *gp), *gm = malloc(n * sizeof *gm);
    double *v = calloc(n, sizeof *v), *hv = calloc(n, sizeof *hv);
    double *x = malloc((m->nx + 1) * sizeof *x);
    double *th = malloc((m->ntheta + 1) * sizeof *th);
    double *out = malloc((m->nx + m->ntheta + n + 1) * sizeof *out);
    double *w = kernel_work(m);

    memcpy(y, y0, n * sizeof *y);
    if (m->nx)
        memcpy(x, x0, m->nx * sizeof *x);
    if (m->ntheta)
        memcpy(th, th0, m->ntheta * sizeof *th);
    for (i = 0; i < n; i++)
        v[i] = 0.3 + 0.17 * i;

    if (m->score) {
        m->score_grad_y(y, x, th, g, w);
        for (i = 0; i < n; i++) {
            double fp, fm, s = y[i];
            y[i] = s + h;
            fp = m->score(y, x, th, w);
            y[i] = s - h;
            fm = m->score(y, x, th, w);
            y[i] = s;
            ck_assert_msg(fabs((fp - fm) / (2 * h) - g[i]) <= tol * (1 + fabs(g[i])),
                          "%s: grad[%d] %g vs fd %g", m->name, i, g[i], (fp - fm) / (2 * h));
        }
    }
    /* H v against (g(y + h v) - g(y - h v)) / 2h */
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
    /* out_x[j] = v . d g / d x_j */
    if (m->nx && m->score_vjp_xy) {
        m->score_vjp_xy(y, x, th, v, out, w);
        for (j = 0; j < m->nx; j++) {
            double s = x[j], fd = 0.0;
            x[j] = s + h;
            m->score_grad_y(y, x, th, gp, w);
            x[j] = s - h;
            m->score_grad_y(y, x, th, gm, w);
            x[j] = s;
            for (i = 0; i < n; i++)
                fd += v[i] * (gp[i] - gm[i]) / (2 * h);
            ck_assert_msg(fabs(fd - out[j]) <= tol * (1 + fabs(out[j])),
                          "%s: vjp_xy[%d] %g vs fd %g", m->name, j, out[j], fd);
        }
    }
    if (m->ntheta && m->score_vjp_thetay) {
        m->score_vjp_thetay(y, x, th, v, out, w);
        for (j = 0; j < m->ntheta; j++) {
            double s = th[j], fd = 0.0;
            th[j] = s + h;
            m->score_grad_y(y, x, th, gp, w);
            th[j] = s - h;
            m->score_grad_y(y, x, th, gm, w);
            th[j] = s;
            for (i = 0; i < n; i++)
                fd += v[i] * (gp[i] - gm[i]) / (2 * h);
            ck_assert_msg(fabs(fd - out[j]) <= tol * (1 + fabs(out[j])),
                          "%s: vjp_thetay[%d] %g vs fd %g", m->name, j, out[j], fd);
        }
    }
    /* residual: J v by differences of r, J^T w by duality, f = 1/2 |r|^2 */
    if (m->nres > 0) {
        int nr = m->nres;
        double *rp = malloc(nr * sizeof *rp), *rm = malloc(nr * sizeof *rm);
        double *jv = malloc(nr * sizeof *jv), *wr = malloc(nr * sizeof *wr);
        double lhs = 0.0, rhs = 0.0;
        for (i = 0; i < n; i++)
            y[i] = y0[i] + h * v[i];
        m->residual(y, x, th, rp, w);
        for (i = 0; i < n; i++)
            y[i] = y0[i] - h * v[i];
        m->residual(y, x, th, rm, w);
        memcpy(y, y0, n * sizeof *y);
        m->residual_jvp_y(y, x, th, v, jv, w);
        for (i = 0; i < nr; i++) {
            ck_assert_msg(fabs((rp[i] - rm[i]) / (2 * h) - jv[i]) <= tol * (1 + fabs(jv[i])),
                          "%s: jvp[%d]", m->name, i);
            wr[i] = 1.0 - 0.1 * i;
            lhs += wr[i] * jv[i];
        }
        m->residual_vjp_y(y, x, th, wr, out, w);
        for (i = 0; i < n; i++)
            rhs += out[i] * v[i];
        ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * (1 + fabs(lhs)), "%s: vjp_y duality", m->name);
        if (m->score) {
            double s = 0.0;
            m->residual(y, x, th, rp, w);
            for (i = 0; i < nr; i++)
                s += 0.5 * rp[i] * rp[i];
            ck_assert(fabs(s - m->score(y, x, th, w)) <= 1e-12 * (1 + s));
        }
        free(rp);
        free(rm);
        free(jv);
        free(wr);
    }
    free(y);
    free(g);
    free(gp);
    free(gm);
    free(v);
    free(hv);
    free(x);
    free(th);
    free(out);
    free(w);
}

/* ================================================================== */
/* model 1: Rosenbrock, f = (1 - y0)^2 + 100 (y1 - y0^2)^2             */
/* ================================================================== */

static double rb_score(const double *y, const double *x, const double *th, double *w)
{
    double a = 1 - y[0], b = y[1] - y[0] * y[0];
    (void)x; (void)th; (void)w;
    return a * a + 100 * b * b;
}

static void rb_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    double b = y[1] - y[0] * y[0];
    (void)x; (void)th; (void)w;
    g[0] = -2 * (1 - y[0]) - 400 * y[0] * b;
    g[1] = 200 * b;
}

static void rb_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    double h00 = 2 - 400 * y[1] + 1200 * y[0] * y[0], h01 = -400 * y[0], h11 = 200;
    (void)x; (void)th; (void)w;
    hv[0] = h00 * v[0] + h01 * v[1];
    hv[1] = h01 * v[0] + h11 * v[1];
}

/* the same problem as residuals r = (10 (y1 - y0^2), 1 - y0) */
static void rb_res(const double *y, const double *x, const double *th, double *r, double *w)
{
    (void)x; (void)th; (void)w;
    r[0] = 10 * (y[1] - y[0] * y[0]);
    r[1] = 1 - y[0];
}

static void rb_jvp(const double *y, const double *x, const double *th, const double *v,
                   double *jv, double *w)
{
    (void)x; (void)th; (void)w;
    jv[0] = -20 * y[0] * v[0] + 10 * v[1];
    jv[1] = -v[0];
}

static void rb_vjp(const double *y, const double *x, const double *th, const double *wr,
                   double *out, double *w)
{
    (void)x; (void)th; (void)w;
    out[0] = -20 * y[0] * wr[0] - wr[1];
    out[1] = 10 * wr[0];
}

/* 1/2 |r|^2 = 1/2 * Rosenbrock */
static double rbr_score(const double *y, const double *x, const double *th, double *w)
{
    return 0.5 * rb_score(y, x, th, w);
}

static void rbr_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    rb_grad(y, x, th, g, w);
    g[0] *= 0.5;
    g[1] *= 0.5;
}

static void rbr_hvp(const double *y, const double *x, const double *th, const double *v,
                    double *hv, double *w)
{
    rb_hvp(y, x, th, v, hv, w);
    hv[0] *= 0.5;
    hv[1] *= 0.5;
}

static const dil_model rosenbrock = {
    .name = "rosenbrock", .ny = 2, .score = rb_score, .score_grad_y = rb_grad,
    .score_hvp_yy = rb_hvp,
};

static const dil_model rosenbrock_res = {
    .name = "rosenbrock_res", .ny = 2, .nres = 2, .score = rbr_score,
    .score_grad_y = rbr_grad, .score_hvp_yy = rbr_hvp, .residual = rb_res,
    .residual_jvp_y = rb_jvp, .residual_vjp_y = rb_vjp,
};

/* ================================================================== */
/* model 2: quadratic layer f = 1/2 z'Qz, z = y - A x - theta          */
/*   y* = A x + theta, dy/dx = A, dy/dtheta = I.                       */
/*   loss L = 1/2 |y - t|^2 + 0.15 |theta|^2 + 0.5 sum(x)              */
/* ================================================================== */

enum { QN = 4, QX = 3 };
static const double qA[QN * QX] = {
    1.0, -0.5, 0.25,
    0.0, 2.0, -1.0,
    0.5, 0.5, 0.5,
    -1.5, 0.0, 1.0,
};
/* SPD, distinct eigenvalues (tridiagonal 4, -1) plus a coupling */
static const double qSPD[QN * QN] = {
    4, -1, 0, 0.5,
    -1, 4, -1, 0,
    0, -1, 4, -1,
    0.5, 0, -1, 4,
};
/* rank 2 PSD: u u' + v v', u = (1,1,0,0), v = (0,1,-1,2) */
static const double qPSD[QN * QN] = {
    1, 1, 0, 0,
    1, 2, -1, 2,
    0, -1, 1, -2,
    0, 2, -2, 4,
};
/* indefinite */
static const double qIND[QN * QN] = {
    1, 0, 0, 0,
    0, -1, 0, 0,
    0, 0, 2, 0,
    0, 0, 0, 3,
};
static const double *qQ = qSPD;     /* the Q in use (test-local state) */

static void qmul(const double *q, const double *v, double *out)
{
    int i, j;
    for (i = 0; i < QN; i++) {
        out[i] = 0;
        for (j = 0; j < QN; j++)
            out[i] += q[i * QN + j] * v[j];
    }
}

/* z = y - A x - theta into work (the kernels use their scratch) */
static void q_z(const double *y, const double *x, const double *th, double *z)
{
    int i, j;
    for (i = 0; i < QN; i++) {
        z[i] = y[i] - th[i];
        for (j = 0; j < QX; j++)
            z[i] -= qA[i * QX + j] * x[j];
    }
}

static double q_score(const double *y, const double *x, const double *th, double *w)
{
    double *z = w, *qz = w + QN, s = 0;
    int i;
    q_z(y, x, th, z);
    qmul(qQ, z, qz);
    for (i = 0; i < QN; i++)
        s += 0.5 * z[i] * qz[i];
    return s;
}

static void q_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    q_z(y, x, th, w);
    qmul(qQ, w, g);
}

static void q_hvp(const double *y, const double *x, const double *th, const double *v,
                  double *hv, double *w)
{
    (void)y; (void)x; (void)th; (void)w;
    qmul(qQ, v, hv);
}

/* d g / d x = -Q A:  out_x = -A' Q w */
static void q_vjp_x(const double *y, const double *x, const double *th, const double *wv,
                    double *out, double *w)
{
    int i, j;
    (void)y; (void)x; (void)th;
    qmul(qQ, wv, w);
    for (j = 0; j < QX; j++) {
        out[j] = 0;
        for (i = 0; i < QN; i++)
            out[j] -= qA[i * QX + j] * w[i];
    }
}

/* d g / d theta = -Q:  out = -Q w */
static void q_vjp_th(const double *y, const double *x, const double *th, const double *wv,
                     double *out, double *w)
{
    int i;
    (void)y; (void)x; (void)th; (void)w;
    qmul(qQ, wv, out);
    for (i = 0; i < QN; i++)
        out[i] = -out[i];
}

static double q_loss(const double *y, const double *x, const double *th, const double *t,
                     double *w)
{
    double s = 0;
    int i;
    (void)w;
    for (i = 0; i < QN; i++)
        s += 0.5 * (y[i] - t[i]) * (y[i] - t[i]) + 0.15 * th[i] * th[i];
    for (i = 0; i < QX; i++)
        s += 0.5 * x[i];
    return s;
}

static void q_loss_grad(const double *y, const double *x, const double *th, const double *t,
                        double *gy, double *gx, double *gth, double *w)
{
    int i;
    (void)x; (void)w;
    for (i = 0; i < QN; i++) {
        gy[i] = y[i] - t[i];
        gth[i] = 0.3 * th[i];
    }
    for (i = 0; i < QX; i++)
        gx[i] = 0.5;
}

static const dil_model quad = {
    .name = "quad", .ny = QN, .nx = QX, .ntheta = QN, .ndata = QN,
    .work_size = 2 * QN, .score = q_score, .score_grad_y = q_grad,
    .score_hvp_yy = q_hvp, .score_vjp_xy = q_vjp_x, .score_vjp_thetay = q_vjp_th,
    .loss = q_loss, .loss_grad = q_loss_grad,
};

static const double qx[QX] = {0.3, -0.7, 1.1};
static const double qth[QN] = {0.2, -0.1, 0.4, 0.05};
static const double qt[QN] = {1.0, -2.0, 0.5, 0.0};

static void quad_solution(const double *x, const double *th, double *y)
{
    int i, j;
    for (i = 0; i < QN; i++) {
        y[i] = th[i];
        for (j = 0; j < QX; j++)
            y[i] += qA[i * QX + j] * x[j];
    }
}

/* ================================================================== */
/* model 3: Kepler, f = (E - e sin E - M)^2, x = M, theta = e          */
/* ================================================================== */

static double kp_score(const double *y, const double *x, const double *th, double *w)
{
    double u = y[0] - th[0] * sin(y[0]) - x[0];
    (void)w;
    return u * u;
}

static void kp_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    double u = y[0] - th[0] * sin(y[0]) - x[0];
    (void)w;
    g[0] = 2 * u * (1 - th[0] * cos(y[0]));
}

static void kp_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    double e = th[0], E = y[0], u = E - e * sin(E) - x[0], d = 1 - e * cos(E);
    (void)w;
    hv[0] = v[0] * (2 * d * d + 2 * u * e * sin(E));
}

static void kp_vjp_x(const double *y, const double *x, const double *th, const double *wv,
                     double *out, double *w)
{
    (void)x; (void)w;
    out[0] = wv[0] * (-2 * (1 - th[0] * cos(y[0])));
}

static void kp_vjp_th(const double *y, const double *x, const double *th, const double *wv,
                      double *out, double *w)
{
    double e = th[0], E = y[0], u = E - e * sin(E) - x[0];
    (void)w;
    out[0] = wv[0] * (-2 * sin(E) * (1 - e * cos(E)) - 2 * u * cos(E));
}

static double kp_loss(const double *y, const double *x, const double *th, const double *t,
                      double *w)
{
    (void)x; (void)th; (void)w;
    return (y[0] - t[0]) * (y[0] - t[0]);
}

static void kp_loss_grad(const double *y, const double *x, const double *th, const double *t,
                         double *gy, double *gx, double *gth, double *w)
{
    (void)x; (void)th; (void)w;
    gy[0] = 2 * (y[0] - t[0]);
    gx[0] = 0;
    gth[0] = 0;
}

static const dil_model kepler = {
    .name = "kepler", .ny = 1, .nx = 1, .ntheta = 1, .ndata = 1,
    .score = kp_score, .score_grad_y = kp_grad, .score_hvp_yy = kp_hvp,
    .score_vjp_xy = kp_vjp_x, .score_vjp_thetay = kp_vjp_th,
    .loss = kp_loss, .loss_grad = kp_loss_grad,
};

/* ================================================================== */
/* model 4: one backward-Euler step, r(y) = y - x - dt tanh(W y + b)   */
/*   residual model, nres = ny = 2, x = x0, theta = b                  */
/* ================================================================== */

static const double eW[4] = {0.8, -1.2, 1.5, 0.4};
static const double edt = 0.3;

static void eu_pre(const double *y, const double *th, double *t)
{
    t[0] = tanh(eW[0] * y[0] + eW[1] * y[1] + th[0]);
    t[1] = tanh(eW[2] * y[0] + eW[3] * y[1] + th[1]);
}

static void eu_res(const double *y, const double *x, const double *th, double *r, double *w)
{
    eu_pre(y, th, w);
    r[0] = y[0] - x[0] - edt * w[0];
    r[1] = y[1] - x[1] - edt * w[1];
}

/* J = I - dt D W, D = diag(1 - tanh^2) */
static void eu_jvp(const double *y, const double *x, const double *th, const double *v,
                   double *jv, double *w)
{
    int i;
    (void)x;
    eu_pre(y, th, w);
    for (i = 0; i < 2; i++)
        jv[i] = v[i] - edt * (1 - w[i] * w[i]) * (eW[2 * i] * v[0] + eW[2 * i + 1] * v[1]);
}

static void eu_vjp(const double *y, const double *x, const double *th, const double *wr,
                   double *out, double *w)
{
    int j;
    (void)x;
    eu_pre(y, th, w);
    for (j = 0; j < 2; j++)
        out[j] = wr[j] - edt * ((1 - w[0] * w[0]) * eW[j] * wr[0]
                                + (1 - w[1] * w[1]) * eW[2 + j] * wr[1]);
}

static double eu_score(const double *y, const double *x, const double *th, double *w)
{
    double r[2];
    eu_res(y, x, th, r, w);
    return 0.5 * (r[0] * r[0] + r[1] * r[1]);
}

static void eu_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    double r[2];
    eu_res(y, x, th, r, w);
    eu_vjp(y, x, th, r, g, w);
}

/* H v = J'J v + sum_i r_i (d2 r_i) v, d2 r_i = -dt tanh''(z_i) w_i w_i',
   tanh'' = -2 tanh (1 - tanh^2) */
static void eu_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    double r[2], jv[2], c[2];
    int i;
    eu_res(y, x, th, r, w);
    eu_jvp(y, x, th, v, jv, w);
    eu_vjp(y, x, th, jv, hv, w);
    eu_pre(y, th, w);
    for (i = 0; i < 2; i++) {
        double t2 = -2 * w[i] * (1 - w[i] * w[i]);
        c[i] = r[i] * (-edt) * t2 * (eW[2 * i] * v[0] + eW[2 * i + 1] * v[1]);
    }
    for (i = 0; i < 2; i++)
        hv[i] += c[0] * eW[i] + c[1] * eW[2 + i];
}

/* d g / d x = -J':  out_x = -J w */
static void eu_vjp_x(const double *y, const double *x, const double *th, const double *wv,
                     double *out, double *w)
{
    eu_jvp(y, x, th, wv, out, w);
    out[0] = -out[0];
    out[1] = -out[1];
}

/* out_b[k] = -dt [tanh''(z_k) r_k (W w)_k + D_k (J w)_k] */
static void eu_vjp_th(const double *y, const double *x, const double *th, const double *wv,
                      double *out, double *w)
{
    double r[2], jw[2];
    int k;
    eu_res(y, x, th, r, w);
    eu_jvp(y, x, th, wv, jw, w);
    eu_pre(y, th, w);
    for (k = 0; k < 2; k++) {
        double t2 = -2 * w[k] * (1 - w[k] * w[k]);
        double ww = eW[2 * k] * wv[0] + eW[2 * k + 1] * wv[1];
        out[k] = -edt * (t2 * r[k] * ww + (1 - w[k] * w[k]) * jw[k]);
    }
}

static double eu_loss(const double *y, const double *x, const double *th, const double *t,
                      double *w)
{
    (void)x; (void)th; (void)w;
    return (y[0] - t[0]) * (y[0] - t[0]) + (y[1] - t[1]) * (y[1] - t[1]);
}

static void eu_loss_grad(const double *y, const double *x, const double *th, const double *t,
                         double *gy, double *gx, double *gth, double *w)
{
    (void)th; (void)w; (void)x;
    gy[0] = 2 * (y[0] - t[0]);
    gy[1] = 2 * (y[1] - t[1]);
    gx[0] = gx[1] = 0;
    gth[0] = gth[1] = 0;
}

static const dil_model euler = {
    .name = "euler", .ny = 2, .nx = 2, .ntheta = 2, .ndata = 2, .nres = 2,
    .work_size = 2, .score = eu_score, .score_grad_y = eu_grad,
    .score_hvp_yy = eu_hvp, .score_vjp_xy = eu_vjp_x, .score_vjp_thetay = eu_vjp_th,
    .loss = eu_loss, .loss_grad = eu_loss_grad, .residual = eu_res,
    .residual_jvp_y = eu_jvp, .residual_vjp_y = eu_vjp,
};

static const double ex0[2] = {0.5, -0.3};
static const double eb[2] = {0.1, -0.2};
static const double et[2] = {0.7, 0.1};

/* ================================================================== */
/* small models for the failure paths                                  */
/* ================================================================== */

/* double well f = (y^2 - 1)^2: H = 12 y^2 - 4 < 0 near 0 */
static double dw_score(const double *y, const double *x, const double *th, double *w)
{
    (void)x; (void)th; (void)w;
    return (y[0] * y[0] - 1) * (y[0] * y[0] - 1);
}

static void dw_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    (void)x; (void)th; (void)w;
    g[0] = 4 * y[0] * (y[0] * y[0] - 1);
}

static void dw_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    (void)x; (void)th; (void)w;
    hv[0] = (12 * y[0] * y[0] - 4) * v[0];
}

static const dil_model dwell = {
    .name = "dwell", .ny = 1, .score = dw_score, .score_grad_y = dw_grad,
    .score_hvp_yy = dw_hvp,
};

/* f = y^2 with a gradient of the wrong sign: no step can decrease f */
static double ly_score(const double *y, const double *x, const double *th, double *w)
{
    (void)x; (void)th; (void)w;
    return y[0] * y[0];
}

static void ly_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    (void)x; (void)th; (void)w;
    g[0] = -2 * y[0];
}

static void ly_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    (void)y; (void)x; (void)th; (void)w;
    hv[0] = 2 * v[0];
}

static const dil_model liar = {
    .name = "liar", .ny = 1, .score = ly_score, .score_grad_y = ly_grad,
    .score_hvp_yy = ly_hvp,
};

/* f = y - log(y): log of a negative start is NaN */
static double lg_score(const double *y, const double *x, const double *th, double *w)
{
    (void)x; (void)th; (void)w;
    return y[0] - log(y[0]);
}

static void lg_grad(const double *y, const double *x, const double *th, double *g, double *w)
{
    (void)x; (void)th; (void)w;
    g[0] = 1 - 1 / y[0];
}

static void lg_hvp(const double *y, const double *x, const double *th, const double *v,
                   double *hv, double *w)
{
    (void)x; (void)th; (void)w;
    hv[0] = v[0] / (y[0] * y[0]);
}

static const dil_model logm = {
    .name = "logm", .ny = 1, .score = lg_score, .score_grad_y = lg_grad,
    .score_hvp_yy = lg_hvp,
};

/* ================================================================== */
/* tests: the hand kernels themselves                                  */
/* ================================================================== */

START_TEST(test_kernels_fd)
{
    double y2[2] = {-0.7, 0.4}, ek[1] = {0.6}, Mk[1] = {1.1}, Ek[1] = {1.7};
    double yq[QN] = {0.3, 0.1, -0.4, 0.9};
    double ye[2] = {0.2, -0.6};
    check_kernels_fd(&rosenbrock, y2, NULL, NULL, 1e-6);
    check_kernels_fd(&rosenbrock_res, y2, NULL, NULL, 1e-6);
    qQ = qSPD;
    check_kernels_fd(&quad, yq, qx, qth, 1e-6);
    check_kernels_fd(&kepler, Ek, Mk, ek, 1e-6);
    check_kernels_fd(&euler, ye, ex0, eb, 1e-6);
}
END_TEST

/* ================================================================== */
/* tests: forward solvers                                              */
/* ================================================================== */

static int solve_rosenbrock(int solver, int max_iter, double tol, const double *start,
                            dil_info *info)
{
    dil_options o = dil_default_options();
    double y[2];
    int st;
    o.solver = solver;
    o.max_iter = max_iter;
    o.tol = tol;
    y[0] = start[0];
    y[1] = start[1];
    st = dil_solve(&rosenbrock, NULL, NULL, y, &o, info, NULL);
    if (st == DIL_OK) {
        /* |y - y*| <~ ||g|| / lambda_min(H) = ||g|| / 0.4 */
        ck_assert_msg(fabs(y[0] - 1) < 10 * tol && fabs(y[1] - 1) < 10 * tol,
                      "solver %d ended at (%g, %g)", solver, y[0], y[1]);
    }
    return st;
}

START_TEST(test_rosenbrock_newton)
{
    const double start[2] = {-1.2, 1.0}, saddle[2] = {0.0, 1.0};
    dil_info info;
    ck_assert_int_eq(solve_rosenbrock(DIL_SOLVER_NEWTON, 100, 1e-10, start, &info), DIL_OK);
    ck_assert_int_eq(info.status, DIL_OK);
    /* recorded: 23 iterations, 31 scores, 24 gradients, 45 HVPs */
    ck_assert_msg(info.iterations >= 15 && info.iterations <= 30,
                  "Newton took %d iterations", info.iterations);
    ck_assert(info.grad_norm <= 1e-10);
    ck_assert(info.score < 1e-18);
    ck_assert(info.n_hvp > 0 && info.n_grad == info.iterations + 1);
    /* from a point where the Hessian is indefinite (Steihaug fallback) */
    ck_assert_int_eq(solve_rosenbrock(DIL_SOLVER_NEWTON, 100, 1e-10, saddle, &info), DIL_OK);
    /* recorded: 16 */
    ck_assert_msg(info.iterations >= 8 && info.iterations <= 25,
                  "Newton (indefinite start) took %d", info.iterations);
}
END_TEST

START_TEST(test_rosenbrock_gradient)
{
    const double start[2] = {-1.2, 1.0};
    dil_info info;
    ck_assert_int_eq(solve_rosenbrock(DIL_SOLVER_GRADIENT, 100000, 1e-6, start, &info), DIL_OK);
    /* recorded: 13580 iterations to ||g|| <= 1e-6 (linear convergence) */
    ck_assert_msg(info.iterations >= 5000 && info.iterations <= 30000,
                  "gradient descent took %d iterations", info.iterations);
    /* HVPs only in the stopping tests: the Newton step by CG (2 products,
       ny = 2) at each candidate, then Lanczos (2) at the end; the first
       candidates are rejected (||g|| <= 1e-6 but the Newton step about
       2.5e-6, the error left along the valley) */
    ck_assert_msg(info.n_hvp >= 4 && info.n_hvp % 2 == 0 && info.n_hvp <= 20, "%d HVPs",
                  info.n_hvp);
}
END_TEST

START_TEST(test_rosenbrock_lbfgs)
{
    const double start[2] = {-1.2, 1.0};
    dil_info info;
    ck_assert_int_eq(solve_rosenbrock(DIL_SOLVER_LBFGS, 200, 1e-10, start, &info), DIL_OK);
    /* recorded: 37 iterations, 47 scores, 39 gradients */
    ck_assert_msg(info.iterations >= 20 && info.iterations <= 60,
                  "L-BFGS took %d iterations", info.iterations);
    /* the final test only: the Newton step by CG, then Lanczos (2 + 2) */
    ck_assert_int_eq(info.n_hvp, 4);
}
END_TEST

START_TEST(test_double_well_indefinite)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y = 0.1;
    ck_assert_int_eq(dil_solve(&dwell, NULL, NULL, &y, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(fabs(y) - 1) < 1e-12);
    ck_assert(info.iterations <= 30);
    y = 0.1;
    o.solver = DIL_SOLVER_LBFGS;
    ck_assert_int_eq(dil_solve(&dwell, NULL, NULL, &y, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(fabs(y) - 1) < 1e-10);
}
END_TEST

START_TEST(test_max_iter)
{
    const double start[2] = {-1.2, 1.0};
    dil_info info;
    double y[2] = {-1.2, 1.0}, f0 = rb_score(y, NULL, NULL, NULL);
    int s;
    for (s = DIL_SOLVER_NEWTON; s <= DIL_SOLVER_GRADIENT; s++) {
        if (s == DIL_SOLVER_GAUSS_NEWTON)
            continue;
        ck_assert_int_eq(solve_rosenbrock(s, 1, 1e-10, start, &info), DIL_MAX_ITER);
        ck_assert_int_eq(info.status, DIL_MAX_ITER);
        ck_assert_int_eq(info.iterations, 1);
        ck_assert(info.score < f0);         /* the best iterate, not the start */
    }
    /* max_iter 0: only the check of the start */
    ck_assert_int_eq(solve_rosenbrock(DIL_SOLVER_NEWTON, 0, 1e-10, start, &info), DIL_MAX_ITER);
    ck_assert_int_eq(info.iterations, 0);
    ck_assert(fabs(info.score - f0) <= 1e-14 * f0);     /* the start itself */
    /* y on DIL_MAX_ITER holds a lower-score point than the start */
    {
        dil_options o = dil_default_options();
        o.max_iter = 3;
        ck_assert_int_eq(dil_solve(&rosenbrock, NULL, NULL, y, &o, &info, NULL), DIL_MAX_ITER);
        ck_assert(fabs(rb_score(y, NULL, NULL, NULL) - info.score) <= 1e-14 * info.score);
        ck_assert(info.score < f0);
    }
}
END_TEST

START_TEST(test_gauss_newton)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[2] = {-1.2, 1.0}, ye[2] = {0.0, 0.0}, r[2], w[2];
    o.solver = DIL_SOLVER_GAUSS_NEWTON;
    ck_assert_int_eq(dil_solve(&rosenbrock_res, NULL, NULL, y, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(y[0] - 1) < 1e-10 && fabs(y[1] - 1) < 1e-10);
    /* recorded: 22 attempts (the first full GN step is rejected) */
    ck_assert_msg(info.iterations >= 5 && info.iterations <= 30, "GN took %d", info.iterations);
    ck_assert(info.n_jac > 0 && info.n_hvp == 0);
    /* implicit Euler step */
    ck_assert_int_eq(dil_solve(&euler, ex0, eb, ye, &o, &info, NULL), DIL_OK);
    eu_res(ye, ex0, eb, r, w);
    ck_assert(fabs(r[0]) + fabs(r[1]) < 1e-10);
    ck_assert(info.iterations <= 10);
    ck_assert(info.residual_norm <= 1e-10);
}
END_TEST

START_TEST(test_fixed_point)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[2] = {0.0, 0.0}, yn[2] = {0.0, 0.0}, r[2], w[2];
    o.solver = DIL_SOLVER_FIXED_POINT;
    o.max_iter = 500;
    ck_assert_int_eq(dil_solve(&euler, ex0, eb, y, &o, &info, NULL), DIL_OK);
    eu_res(y, ex0, eb, r, w);
    ck_assert(fabs(r[0]) + fabs(r[1]) < 1e-10);
    ck_assert_msg(info.iterations > 3 && info.iterations < 200, "fixed point %d", info.iterations);
    /* agrees with Newton */
    ck_assert_int_eq(dil_solve(&euler, ex0, eb, yn, NULL, &info, NULL), DIL_OK);
    ck_assert(max_abs_diff(2, y, yn) < 1e-9);
    /* fixed point needs nres == ny and a residual */
    ck_assert_int_eq(dil_solve(&rosenbrock, NULL, NULL, y, &o, &info, NULL), DIL_BAD_ARG);
}
END_TEST

/* a user solver: the fixed point E = M + e sin E of Kepler's equation */
static int kepler_user(const dil_model *m, const double *x, const double *th, double *y,
                       const dil_options *opt, dil_info *info, double *work, void *ctx)
{
    int k, *calls = (int *)ctx, n = *(int *)ctx >= 0 ? 200 : 2;
    (void)m; (void)opt; (void)work;
    for (k = 0; k < n; k++)
        y[0] = x[0] + th[0] * sin(y[0]);
    info->iterations = k;
    (*calls)++;
    return DIL_OK;
}

START_TEST(test_user_solver)
{
    dil_options o = dil_default_options();
    dil_info info;
    double M = 1.0, e = 0.3, E = 1.0, *work;
    int calls = 0;
    o.solver = DIL_SOLVER_USER;
    o.user_solver = kepler_user;
    o.user_context = &calls;
    o.user_work_size = 5;
    work = malloc(dil_work_size(&kepler, &o) * sizeof *work);
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, work), DIL_OK);
    ck_assert_int_eq(calls, 1);
    ck_assert(fabs(E - e * sin(E) - M) < 1e-12);
    ck_assert_int_eq(info.iterations, 200);
    /* a solver that stops early and says OK is caught */
    calls = -100;
    E = 1.0;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, NULL), DIL_MAX_ITER);
    ck_assert(info.grad_norm > o.tol);
    o.user_solver = NULL;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, NULL), DIL_BAD_ARG);
    free(work);
}
END_TEST

/* ================================================================== */
/* tests: CG (through dil_backward on the quadratic layer, H = Q)      */
/* ================================================================== */

/* g from the backward of the quadratic with this Q, b = dl_dy */
static int quad_g(const double *Q, const double *b, dil_options *o, double *g, dil_info *info)
{
    double y[QN], dx[QX], dth[QN];
    qQ = Q;
    quad_solution(qx, qth, y);
    o->cg_solution = g;
    return dil_backward(&quad, y, qx, qth, b, dx, dth, o, info, NULL);
}

START_TEST(test_cg_spd_exact)
{
    dil_options o = dil_default_options();
    dil_info info;
    double b[QN] = {1.0, -2.0, 0.5, 3.0}, g[QN], a[QN * QN], bb[QN], gd[QN];
    ck_assert_int_eq(quad_g(qSPD, b, &o, g, &info), DIL_OK);
    ck_assert_msg(info.cg_iterations <= QN, "CG took %d > n", info.cg_iterations);
    ck_assert(info.cg_residual <= 1e-10);
    memcpy(a, qSPD, sizeof a);
    memcpy(bb, b, sizeof bb);
    direct_solve(QN, a, bb, gd);
    ck_assert_msg(max_abs_diff(QN, g, gd) < 1e-12, "CG vs direct %g", max_abs_diff(QN, g, gd));
    /* the paper's "Init x0": from the exact answer, no iteration is needed */
    o.cg_x0 = gd;
    ck_assert_int_eq(quad_g(qSPD, b, &o, g, &info), DIL_OK);
    ck_assert_int_eq(info.cg_iterations, 0);
    /* b = 0 gives g = 0 without iterating */
    memset(b, 0, sizeof b);
    o.cg_x0 = NULL;
    ck_assert_int_eq(quad_g(qSPD, b, &o, g, &info), DIL_OK);
    ck_assert(max_abs(QN, g) == 0.0);
}
END_TEST

START_TEST(test_cg_singular_eps)
{
    dil_options o = dil_default_options();
    dil_info info;
    double b[QN] = {1.0, -2.0, 0.5, 3.0}, g[QN], a[QN * QN], bb[QN], gd[QN];
    int i, st;
    /* eps = 0: b has a component outside range(Q), no g exists */
    st = quad_g(qPSD, b, &o, g, &info);
    ck_assert_msg(st == DIL_CG_BREAKDOWN || st == DIL_CG_MAX_ITER,
                  "singular, eps 0: %s", dil_status_string(st));
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert_int_eq(quad_g(qPSD, b, &o, g, &info), DIL_SINGULAR);
    /* eps > 0: (Q + eps I) g = b is SPD */
    o.backward = DIL_BACKWARD_CG;
    o.cg_eps = 1e-2;
    ck_assert_int_eq(quad_g(qPSD, b, &o, g, &info), DIL_OK);
    ck_assert(info.cg_iterations <= QN + 2);
    memcpy(a, qPSD, sizeof a);
    for (i = 0; i < QN; i++)
        a[i * QN + i] += 1e-2;
    memcpy(bb, b, sizeof bb);
    direct_solve(QN, a, bb, gd);
    ck_assert_msg(max_abs_diff(QN, g, gd) < 1e-8 * max_abs(QN, gd), "eps CG vs direct");
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert_int_eq(quad_g(qPSD, b, &o, g, &info), DIL_OK);
    ck_assert(max_abs_diff(QN, g, gd) < 1e-10 * max_abs(QN, gd));
    ck_assert(info.cg_residual < 1e-12);
}
END_TEST

START_TEST(test_cg_indefinite_breakdown)
{
    dil_options o = dil_default_options();
    dil_info info;
    double b[QN] = {0.0, 1.0, 0.0, 0.0}, g[QN] = {7, 7, 7, 7};
    double y[QN], dx[QX] = {9, 9, 9}, dth[QN];
    /* the curvature check sees the indefinite H before CG runs */
    ck_assert_int_eq(quad_g(qIND, b, &o, g, &info), DIL_NOT_MINIMUM);
    ck_assert_int_eq(info.cg_iterations, 0);
    /* without it, CG meets the negative curvature itself */
    o.curvature_check = 0;
    ck_assert_int_eq(quad_g(qIND, b, &o, g, &info), DIL_CG_BREAKDOWN);
    ck_assert_int_eq(info.status, DIL_CG_BREAKDOWN);
    ck_assert_int_eq(info.cg_iterations, 0);
    /* outputs untouched on breakdown */
    quad_solution(qx, qth, y);
    o.cg_solution = NULL;
    ck_assert_int_eq(dil_backward(&quad, y, qx, qth, b, dx, dth, &o, NULL, NULL),
                     DIL_CG_BREAKDOWN);
    ck_assert(dx[0] == 9 && dx[1] == 9 && dx[2] == 9);
    /* the dense path never solves an indefinite score Hessian: y is not a
       minimum, whatever the option */
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert_int_eq(quad_g(qIND, b, &o, g, &info), DIL_NOT_MINIMUM);
    o.curvature_check = 10;
    ck_assert_int_eq(dil_backward(&quad, y, qx, qth, b, dx, dth, &o, NULL, NULL),
                     DIL_NOT_MINIMUM);
    ck_assert(dx[0] == 9 && dx[1] == 9 && dx[2] == 9);
}
END_TEST

START_TEST(test_cg_max_iter)
{
    dil_options o = dil_default_options();
    dil_info info;
    double b[QN] = {1.0, -2.0, 0.5, 3.0}, g[QN], y[QN], dx[QX], dth[QN];
    o.cg_max_iter = 2;
    ck_assert_int_eq(quad_g(qSPD, b, &o, g, &info), DIL_CG_MAX_ITER);
    ck_assert_int_eq(info.cg_iterations, 2);
    ck_assert(info.cg_residual > 1e-10 && info.cg_residual < 1.0);
    /* outputs are written from the last iterate */
    quad_solution(qx, qth, y);
    dx[0] = NAN;
    o.cg_solution = NULL;
    ck_assert_int_eq(dil_backward(&quad, y, qx, qth, b, dx, dth, &o, NULL, NULL),
                     DIL_CG_MAX_ITER);
    ck_assert(isfinite(dx[0]));
}
END_TEST

/* ================================================================== */
/* tests: backward / loss gradient                                     */
/* ================================================================== */

START_TEST(test_backward_quad_closed_form)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[QN], dly[QN] = {0.4, -1.0, 2.0, 0.1}, dx[QX], dth[QN], ex[QX];
    int i, j, kind;
    qQ = qSPD;
    quad_solution(qx, qth, y);
    for (kind = DIL_BACKWARD_CG; kind <= DIL_BACKWARD_DENSE; kind++) {
        o.backward = kind;
        ck_assert_int_eq(dil_backward(&quad, y, qx, qth, dly, dx, dth, &o, &info, NULL), DIL_OK);
        /* dL/dx = A' dl_dy, dL/dtheta = dl_dy */
        for (j = 0; j < QX; j++) {
            ex[j] = 0;
            for (i = 0; i < QN; i++)
                ex[j] += qA[i * QX + j] * dly[i];
        }
        ck_assert_msg(max_abs_diff(QX, dx, ex) < 1e-12, "dx kind %d", kind);
        ck_assert_msg(max_abs_diff(QN, dth, dly) < 1e-12, "dtheta kind %d", kind);
        ck_assert(info.grad_norm < 1e-12);
        /* either output may be NULL */
        ck_assert_int_eq(dil_backward(&quad, y, qx, qth, dly, NULL, dth, &o, NULL, NULL), DIL_OK);
        ck_assert_int_eq(dil_backward(&quad, y, qx, qth, dly, dx, NULL, &o, NULL, NULL), DIL_OK);
        ck_assert(max_abs_diff(QX, dx, ex) < 1e-12);
    }
}
END_TEST

START_TEST(test_kepler_closed_form)
{
    dil_options o = dil_default_options();
    dil_info info;
    double M = 1.2, e = 0.6, E = 1.2, Et = 2.0, one = 1.0, dM, de, L;
    double dMc, dMd, dec, ded;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(E - e * sin(E) - M) < 1e-12);
    /* dE/dM = 1/(1 - e cos E), dE/de = sin E/(1 - e cos E) */
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dMc, &dec, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(dMc - 1 / (1 - e * cos(E))) < 1e-12);
    ck_assert(fabs(dec - sin(E) / (1 - e * cos(E))) < 1e-12);
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dMd, &ded, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(dMd - dMc) < 1e-14 && fabs(ded - dec) < 1e-14);
    /* loss (E - Et)^2 */
    o.backward = DIL_BACKWARD_CG;
    ck_assert_int_eq(dil_loss_gradient(&kepler, &E, &M, &e, &Et, &L, &dM, &de, &o, &info, NULL),
                     DIL_OK);
    ck_assert(fabs(L - (E - Et) * (E - Et)) < 1e-15);
    ck_assert(fabs(de - 2 * (E - Et) * sin(E) / (1 - e * cos(E))) < 1e-12);
    ck_assert(fabs(dM - 2 * (E - Et) / (1 - e * cos(E))) < 1e-12);
}
END_TEST

/* Phi(x, theta) = L(y*(x, theta), x, theta, data) by solving then
   evaluating the model's loss. */
static double solve_then_loss(const dil_model *m, const double *x, const double *th,
                              const double *data, const double *y0, int solver)
{
    dil_options o = dil_default_options();
    double y[8], *w = kernel_work(m), L;
    o.solver = solver;
    o.tol = 1e-13;
    o.max_iter = 1000;
    memcpy(y, y0, m->ny * sizeof *y);
    ck_assert_int_eq(dil_solve(m, x, th, y, &o, NULL, NULL), DIL_OK);
    L = m->loss(y, x, th, data, w);
    free(w);
    return L;
}

static void check_fd_total(const dil_model *m, const double *x0, const double *th0,
                           const double *data, const double *y0, int solver,
                           int backward, double rtol)
{
    dil_options o = dil_default_options();
    dil_info info;
    double x[8], th[8], y[8], dx[8], dth[8], L, h = 1e-5;
    int j;
    memcpy(x, x0, m->nx * sizeof *x);
    memcpy(th, th0, m->ntheta * sizeof *th);
    memcpy(y, y0, m->ny * sizeof *y);
    o.solver = solver;
    o.backward = backward;
    ck_assert_int_eq(dil_solve(m, x, th, y, &o, &info, NULL), DIL_OK);
    ck_assert_int_eq(dil_loss_gradient(m, y, x, th, data, &L, dx, dth, &o, &info, NULL), DIL_OK);
    for (j = 0; j < m->nx; j++) {
        double s = x[j], fp, fm, fd;
        x[j] = s + h;
        fp = solve_then_loss(m, x, th, data, y, solver);
        x[j] = s - h;
        fm = solve_then_loss(m, x, th, data, y, solver);
        x[j] = s;
        fd = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(fd - dx[j]) <= rtol * (1 + fabs(fd)),
                      "%s dL/dx[%d] = %.12g, fd %.12g", m->name, j, dx[j], fd);
    }
    for (j = 0; j < m->ntheta; j++) {
        double s = th[j], fp, fm, fd;
        th[j] = s + h;
        fp = solve_then_loss(m, x, th, data, y, solver);
        th[j] = s - h;
        fm = solve_then_loss(m, x, th, data, y, solver);
        th[j] = s;
        fd = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(fd - dth[j]) <= rtol * (1 + fabs(fd)),
                      "%s dL/dtheta[%d] = %.12g, fd %.12g", m->name, j, dth[j], fd);
    }
}

START_TEST(test_fd_solve_then_loss)
{
    double yq[QN] = {0, 0, 0, 0}, M = 2.5, e = 0.7, E0 = 2.5, Et = 1.0, ye[2] = {0, 0};
    int kind;
    qQ = qSPD;
    for (kind = DIL_BACKWARD_CG; kind <= DIL_BACKWARD_DENSE; kind++) {
        check_fd_total(&quad, qx, qth, qt, yq, DIL_SOLVER_NEWTON, kind, 1e-7);
        check_fd_total(&kepler, &M, &e, &Et, &E0, DIL_SOLVER_NEWTON, kind, 1e-7);
        check_fd_total(&euler, ex0, eb, et, ye, DIL_SOLVER_GAUSS_NEWTON, kind, 1e-7);
    }
}
END_TEST

START_TEST(test_quad_loss_direct_terms)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[QN], dx[QX], dth[QN], ex[QX], L, d[QN];
    int i, j;
    qQ = qSPD;
    quad_solution(qx, qth, y);
    ck_assert_int_eq(dil_loss_gradient(&quad, y, qx, qth, qt, &L, dx, dth, &o, &info, NULL),
                     DIL_OK);
    ck_assert_int_eq(info.n_loss, 2);           /* loss and loss_grad, counted */
    /* dL/dx = A'(y - t) + 0.5, dL/dtheta = (y - t) + 0.3 theta */
    for (i = 0; i < QN; i++)
        d[i] = y[i] - qt[i];
    for (j = 0; j < QX; j++) {
        ex[j] = 0.5;
        for (i = 0; i < QN; i++)
            ex[j] += qA[i * QX + j] * d[i];
    }
    ck_assert(max_abs_diff(QX, dx, ex) < 1e-12);
    for (i = 0; i < QN; i++)
        ck_assert(fabs(dth[i] - d[i] - 0.3 * qth[i]) < 1e-12);
    /* NULL outputs and NULL loss pointer are allowed */
    ck_assert_int_eq(dil_loss_gradient(&quad, y, qx, qth, qt, NULL, NULL, NULL, &o, NULL, NULL),
                     DIL_OK);
}
END_TEST

START_TEST(test_not_stationary)
{
    dil_options o = dil_default_options();
    dil_info info;
    double M = 1.2, e = 0.6, E = 1.0, one = 1.0, dM = NAN, de = NAN;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, NULL), DIL_OK);
    E += 1e-3;                          /* near, but not at, the solution */
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, &info, NULL),
                     DIL_NOT_STATIONARY);
    ck_assert(info.grad_norm > o.stationary_tol);
    ck_assert(isfinite(dM) && isfinite(de));            /* still computed */
    o.stationary_tol = HUGE_VAL;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, &info, NULL), DIL_OK);
}
END_TEST

/* ================================================================== */
/* tests: argument errors and non-finite values                        */
/* ================================================================== */

START_TEST(test_bad_args)
{
    dil_options o = dil_default_options();
    dil_info info;
    dil_model bad;
    double M = 1.0, e = 0.5, E = 1.0, one = 1.0, dM, de, L, data = 0.0;

    info.status = -1;
    ck_assert_int_eq(dil_solve(NULL, &M, &e, &E, &o, &info, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(info.status, DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve(&kepler, NULL, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve(&kepler, &M, NULL, &E, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, NULL, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, NULL, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_backward(&kepler, NULL, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_loss_gradient(&kepler, &E, &M, &e, NULL, &L, &dM, &de, &o, NULL, NULL),
                     DIL_BAD_ARG);
    /* negative sizes */
    bad = kepler;
    bad.nx = -1;
    ck_assert_int_eq(dil_solve(&bad, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_work_size(&bad, &o), 0);
    ck_assert_int_eq(dil_work_size(NULL, &o), 0);
    bad = kepler;
    bad.ny = 0;
    ck_assert_int_eq(dil_solve(&bad, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    /* missing kernels */
    bad = kepler;
    bad.score_hvp_yy = NULL;
    ck_assert_int_eq(dil_solve(&bad, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    ck_assert_int_eq(dil_backward(&bad, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    o.solver = DIL_SOLVER_LBFGS;                        /* L-BFGS needs no HVP */
    ck_assert_int_eq(dil_solve(&bad, &M, &e, &E, &o, NULL, NULL), DIL_OK);
    o.solver = DIL_SOLVER_GAUSS_NEWTON;                 /* not a residual model */
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    bad = kepler;
    bad.loss = NULL;
    ck_assert_int_eq(dil_loss_gradient(&bad, &E, &M, &e, &data, &L, &dM, &de, &o, NULL, NULL),
                     DIL_BAD_ARG);
    bad = kepler;
    bad.score_vjp_thetay = NULL;
    ck_assert_int_eq(dil_backward(&bad, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    E = 1.0;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_OK);
    ck_assert_int_eq(dil_backward(&bad, &E, &M, &e, &one, &dM, NULL, &o, NULL, NULL), DIL_OK);
    /* bad options */
    o.tol = -1;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.solver = 42;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.cg_eps = NAN;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.backward = 7;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.solver = DIL_SOLVER_LBFGS;
    o.lbfgs_memory = 0;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.curvature_check = 65;                             /* at most 64 */
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
    o.curvature_check = -1;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL), DIL_BAD_ARG);
    o = dil_default_options();
    o.step_tol = NAN;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_BAD_ARG);
}
END_TEST

START_TEST(test_not_finite)
{
    dil_options o = dil_default_options();
    dil_info info;
    double M = 1.0, e = NAN, E = 1.0, one = 1.0, dM, de, y;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, &info, NULL), DIL_NOT_FINITE);
    ck_assert_int_eq(info.status, DIL_NOT_FINITE);
    ck_assert_int_eq(info.n_score, 0);                  /* stopped before any work */
    ck_assert(E == 1.0);
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL),
                     DIL_NOT_FINITE);
    e = 0.5;
    E = INFINITY;
    ck_assert_int_eq(dil_solve(&kepler, &M, &e, &E, &o, NULL, NULL), DIL_NOT_FINITE);
    E = 1.0;
    one = NAN;
    ck_assert_int_eq(dil_backward(&kepler, &E, &M, &e, &one, &dM, &de, &o, NULL, NULL),
                     DIL_NOT_FINITE);
    /* produced by a kernel: log of a negative start */
    y = -1.0;
    ck_assert_int_eq(dil_solve(&logm, NULL, NULL, &y, &o, &info, NULL), DIL_NOT_FINITE);
    ck_assert_int_eq(info.iterations, 0);
    ck_assert(y == -1.0);
    /* whereas a trial step leaving the domain is only backtracked */
    y = 3.0;
    ck_assert_int_eq(dil_solve(&logm, NULL, NULL, &y, &o, &info, NULL), DIL_OK);
    ck_assert(fabs(y - 1) < 1e-10);
}
END_TEST

START_TEST(test_line_search)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y = 2.0;
    int s;
    for (s = DIL_SOLVER_NEWTON; s <= DIL_SOLVER_GRADIENT; s++) {
        if (s == DIL_SOLVER_GAUSS_NEWTON)
            continue;
        o.solver = s;
        y = 2.0;
        ck_assert_msg(dil_solve(&liar, NULL, NULL, &y, &o, &info, NULL) == DIL_LINE_SEARCH,
                      "solver %d: %s after %d", s, dil_status_string(info.status), info.iterations);
        ck_assert(y == 2.0);                             /* the best iterate */
        ck_assert_int_eq(info.iterations, 0);
    }
}
END_TEST

START_TEST(test_status_strings)
{
    int s;
    for (s = DIL_OK; s <= DIL_NO_MEMORY; s++) {
        const char *n = dil_status_string(s);
        ck_assert(n != NULL && strncmp(n, "DIL_", 4) == 0);
    }
    ck_assert_str_eq(dil_status_string(DIL_OK), "DIL_OK");
    ck_assert_str_eq(dil_status_string(DIL_CG_BREAKDOWN), "DIL_CG_BREAKDOWN");
    ck_assert(dil_status_string(-5) != NULL);
    ck_assert(dil_status_string(1000) != NULL);
}
END_TEST

START_TEST(test_defaults)
{
    dil_options o = dil_default_options();
    ck_assert_int_eq(o.solver, DIL_SOLVER_NEWTON);
    ck_assert(o.tol == 1e-10 && o.cg_tol == 1e-10 && o.cg_eps == 0.0);
    ck_assert_int_eq(o.max_iter, 100);
    ck_assert_int_eq(o.cg_max_iter, 0);
    ck_assert_int_eq(o.backward, DIL_BACKWARD_CG);
    ck_assert(o.cg_x0 == NULL && o.user_solver == NULL);
}
END_TEST

/* ================================================================== */
/* tests: caller's workspace of exactly dil_work_size doubles          */
/* ================================================================== */

static const dil_model quad_lin;

static void exact_work_run(const dil_model *m, const double *x, const double *th,
                           const double *data, const double *y0, dil_options *o)
{
    size_t n = dil_work_size(m, o);
    double *work = malloc(n * sizeof *work);        /* exact: ASan sees overruns */
    double y[8], yr[8], dx[8], dth[8], dxr[8], dthr[8], dly[8], L, Lr;
    int i;
    ck_assert(n >= m->work_size + (size_t)m->ny);
    for (i = 0; i < (int)n; i++)
        work[i] = NAN;                              /* stale contents must not matter */
    memcpy(y, y0, m->ny * sizeof *y);
    memcpy(yr, y0, m->ny * sizeof *yr);
    ck_assert_int_eq(dil_solve(m, x, th, y, o, NULL, work), DIL_OK);
    ck_assert_int_eq(dil_solve(m, x, th, yr, o, NULL, NULL), DIL_OK);
    ck_assert(max_abs_diff(m->ny, y, yr) == 0.0);
    ck_assert_int_eq(dil_loss_gradient(m, y, x, th, data, &L, dx, dth, o, NULL, work), DIL_OK);
    ck_assert_int_eq(dil_loss_gradient(m, y, x, th, data, &Lr, dxr, dthr, o, NULL, NULL), DIL_OK);
    ck_assert(L == Lr && max_abs_diff(m->nx, dx, dxr) == 0.0
              && max_abs_diff(m->ntheta, dth, dthr) == 0.0);
    for (i = 0; i < m->ny; i++)
        dly[i] = 1.0 - 0.25 * i;
    ck_assert_int_eq(dil_backward(m, y, x, th, dly, dx, dth, o, NULL, work), DIL_OK);
    ck_assert_int_eq(dil_backward(m, y, x, th, dly, dxr, dthr, o, NULL, NULL), DIL_OK);
    ck_assert(max_abs_diff(m->nx, dx, dxr) == 0.0 && max_abs_diff(m->ntheta, dth, dthr) == 0.0);
    free(work);
}

START_TEST(test_exact_work)
{
    dil_options o;
    double yq[QN] = {0}, M = 1.0, e = 0.4, E = 1.0, Et = 0.5, ye[2] = {0, 0};
    int s, b, mem;
    qQ = qSPD;
    for (b = DIL_BACKWARD_CG; b <= DIL_BACKWARD_DENSE; b++) {
        for (s = DIL_SOLVER_NEWTON; s <= DIL_SOLVER_GRADIENT; s++) {
            o = dil_default_options();
            o.backward = b;
            o.solver = s;
            o.max_iter = 100000;
            o.tol = 1e-9;
            if (s == DIL_SOLVER_GAUSS_NEWTON) {
                exact_work_run(&euler, ex0, eb, et, ye, &o);
                continue;
            }
            for (mem = 1; mem <= (s == DIL_SOLVER_LBFGS ? 5 : 1); mem += 4) {
                o.lbfgs_memory = mem;
                exact_work_run(&quad, qx, qth, qt, yq, &o);
                exact_work_run(&quad_lin, qx, qth, qt, yq, &o);    /* + the state */
                exact_work_run(&kepler, &M, &e, &Et, &E, &o);
                exact_work_run(&euler, ex0, eb, et, ye, &o);
            }
        }
        o = dil_default_options();
        o.backward = b;
        o.solver = DIL_SOLVER_FIXED_POINT;
        o.max_iter = 1000;
        exact_work_run(&euler, ex0, eb, et, ye, &o);
    }
    /* the NULL-options size equals the default-options size */
    o = dil_default_options();
    ck_assert_uint_eq(dil_work_size(&quad, NULL), dil_work_size(&quad, &o));
    o.backward = DIL_BACKWARD_DENSE;
    ck_assert(dil_work_size(&quad, &o) >= (size_t)(QN * QN) + quad.work_size);
}
END_TEST

/* ================================================================== */
/* linearise once: a hand descriptor around quad                      */
/* ================================================================== */

/* linearise stores the point; every apply kernel checks that its y is the
   linearised one, then calls the plain kernel (so the results are the
   plain ones, bit for bit).  lin_calls counts linearise. */
static int lin_calls, lin_mismatch;

static void ql_linearise(const double *y, const double *x, const double *th, double *state,
                         double *w)
{
    lin_calls++;
    memcpy(state, y, QN * sizeof *state);
}

static void ql_check(const double *y, const double *state)
{
    if (memcmp(y, state, QN * sizeof *y) != 0)
        lin_mismatch++;
}

static void ql_hvp(const double *y, const double *x, const double *th, const double *state,
                   const double *v, double *hv, double *w)
{
    ql_check(y, state);
    q_hvp(y, x, th, v, hv, w);
}

static void ql_vjp_x(const double *y, const double *x, const double *th, const double *state,
                     const double *wv, double *out, double *w)
{
    ql_check(y, state);
    q_vjp_x(y, x, th, wv, out, w);
}

static void ql_vjp_th(const double *y, const double *x, const double *th, const double *state,
                      const double *wv, double *out, double *w)
{
    ql_check(y, state);
    q_vjp_th(y, x, th, wv, out, w);
}

static const dil_model quad_lin = {  /* declared above test_exact_work */
    .name = "quad_lin", .ny = QN, .nx = QX, .ntheta = QN, .ndata = QN,
    .work_size = 2 * QN, .score = q_score, .score_grad_y = q_grad,
    .score_hvp_yy = q_hvp, .score_vjp_xy = q_vjp_x, .score_vjp_thetay = q_vjp_th,
    .loss = q_loss, .loss_grad = q_loss_grad,
    .state_size = QN, .linearise = ql_linearise, .score_hvp_yy_apply = ql_hvp,
    .score_vjp_xy_apply = ql_vjp_x, .score_vjp_thetay_apply = ql_vjp_th,
};

START_TEST(test_linearise_once)
{
    dil_options o = dil_default_options();
    dil_info info;
    double y[QN] = {0}, yp[QN] = {0}, dx[QX], dth[QN], dxp[QX], dthp[QN], L, Lp;
    int form;
    qQ = qSPD;
    lin_calls = lin_mismatch = 0;
    /* Newton: one linearise per point where HVPs are taken, the inner CG's
       iterates and the final point (the stopping test), never per HVP */
    ck_assert_int_eq(dil_solve(&quad_lin, qx, qth, y, &o, &info, NULL), DIL_OK);
    ck_assert_int_eq(dil_solve(&quad, qx, qth, yp, &o, NULL, NULL), DIL_OK);
    ck_assert(max_abs_diff(QN, y, yp) == 0.0);
    ck_assert_int_eq(info.n_linearise, lin_calls);
    ck_assert_int_eq(lin_calls, info.iterations + 1);
    ck_assert(info.n_hvp > lin_calls);
    for (form = DIL_BACKWARD_CG; form <= DIL_BACKWARD_DENSE; form++) {
        o.backward = form;
        lin_calls = 0;
        ck_assert_int_eq(dil_loss_gradient(&quad_lin, y, qx, qth, qt, &L, dx, dth, &o, &info,
                                           NULL), DIL_OK);
        ck_assert_int_eq(dil_loss_gradient(&quad, y, qx, qth, qt, &Lp, dxp, dthp, &o, NULL,
                                           NULL), DIL_OK);
        /* every HVP (check, CG or the dense columns) and both mixed
           products at one point: one linearise */
        ck_assert_int_eq(lin_calls, 1);
        ck_assert_int_eq(info.n_linearise, 1);
        ck_assert(info.n_hvp >= QN);
        ck_assert(L == Lp && max_abs_diff(QX, dx, dxp) == 0.0
                  && max_abs_diff(QN, dth, dthp) == 0.0);
    }
    ck_assert_int_eq(lin_mismatch, 0);
    /* the state lives in the caller's work: dil_work_size counts it, with
       the point it belongs to and the fused kernels' values there (y, gy
       and f; no residual) */
    ck_assert_uint_eq(dil_work_size(&quad_lin, &o), dil_work_size(&quad, &o) + QN + 2 * QN + 1);
}
END_TEST

/* ================================================================== */
/* batches                                                             */
/* ================================================================== */

#define NB 9

/* n instances of quad: x_i and targets t_i vary, theta is shared. */
static void batch_inputs(double *x, double *t, double *y0)
{
    int i, j;
    for (i = 0; i < NB; i++) {
        for (j = 0; j < QX; j++)
            x[i * QX + j] = qx[j] + 0.1 * i - 0.05 * j;
        for (j = 0; j < QN; j++) {
            t[i * QN + j] = qt[j] - 0.2 * i + 0.1 * j;
            y0[i * QN + j] = 0.0;
        }
    }
}

START_TEST(test_batch_equals_single)
{
    dil_options o = dil_default_options();
    dil_info bi[NB], si;
    double x[NB * QX], t[NB * QN], y[NB * QN], ys[NB * QN], loss[NB], dx[NB * QX];
    double dth[QN], sum[QN] = {0}, ls, dxs[QX], dths[QN], dly[NB * QN], dth2[QN];
    int i, j;
    qQ = qSPD;
    batch_inputs(x, t, y);
    memcpy(ys, y, sizeof y);
    ck_assert_int_eq(dil_solve_batch(&quad, NB, x, qth, y, &o, bi, 1), DIL_OK);
    ck_assert_int_eq(dil_loss_gradient_batch(&quad, NB, y, x, qth, t, loss, dx, dth, &o, bi, 1),
                     DIL_OK);
    for (i = 0; i < NB; i++) {
        ck_assert_int_eq(dil_solve(&quad, x + i * QX, qth, ys + i * QN, &o, &si, NULL), DIL_OK);
        ck_assert(max_abs_diff(QN, y + i * QN, ys + i * QN) == 0.0);
        ck_assert_int_eq(dil_loss_gradient(&quad, ys + i * QN, x + i * QX, qth, t + i * QN, &ls,
                                           dxs, dths, &o, &si, NULL), DIL_OK);
        ck_assert(ls == loss[i] && max_abs_diff(QX, dxs, dx + i * QX) == 0.0);
        ck_assert_int_eq(bi[i].status, DIL_OK);
        ck_assert_int_eq(bi[i].n_hvp, si.n_hvp);
        for (j = 0; j < QN; j++)
            sum[j] += dths[j];                      /* index order from 0 */
    }
    ck_assert(max_abs_diff(QN, dth, sum) == 0.0);
    /* the layer backward: dl_dy blocks in, dl_dx blocks and the sum out */
    for (i = 0; i < NB * QN; i++)
        dly[i] = 1.0 - 0.1 * i;
    ck_assert_int_eq(dil_backward_batch(&quad, NB, y, x, qth, dly, dx, dth2, &o, bi, 1), DIL_OK);
    memset(sum, 0, sizeof sum);
    for (i = 0; i < NB; i++) {
        ck_assert_int_eq(dil_backward(&quad, y + i * QN, x + i * QX, qth, dly + i * QN, dxs,
                                      dths, &o, NULL, NULL), DIL_OK);
        ck_assert(max_abs_diff(QX, dxs, dx + i * QX) == 0.0);
        for (j = 0; j < QN; j++)
            sum[j] += dths[j];
    }
    ck_assert(max_abs_diff(QN, dth2, sum) == 0.0);
}
END_TEST

/* 1, 2 and 4 threads (and 0: all cores): the same bits everywhere. */
START_TEST(test_batch_threads)
{
    static const int threads[4] = {1, 2, 4, 0};
    dil_options o = dil_default_options();
    double x[NB * QX], t[NB * QN], y0[NB * QN], y[4][NB * QN], loss[4][NB];
    double dx[4][NB * QX], dth[4][QN];
    int k;
    qQ = qSPD;
    batch_inputs(x, t, y0);
    for (k = 0; k < 4; k++) {
        memcpy(y[k], y0, sizeof y0);
        ck_assert_int_eq(dil_solve_batch(&quad, NB, x, qth, y[k], &o, NULL, threads[k]), DIL_OK);
        ck_assert_int_eq(dil_loss_gradient_batch(&quad, NB, y[k], x, qth, t, loss[k], dx[k],
                                                 dth[k], &o, NULL, threads[k]), DIL_OK);
        ck_assert(memcmp(y[k], y[0], sizeof y[0]) == 0);
        ck_assert(memcmp(loss[k], loss[0], sizeof loss[0]) == 0);
        ck_assert(memcmp(dx[k], dx[0], sizeof dx[0]) == 0);
        ck_assert(memcmp(dth[k], dth[0], sizeof dth[0]) == 0);
    }
}
END_TEST

/* Failing instances: each reported in its info with its own status; the
   call returns the lowest-numbered failure's. */
START_TEST(test_batch_failures)
{
    dil_options o = dil_default_options();
    dil_info bi[NB];
    double x[NB * QX], t[NB * QN], y[NB * QN], loss[NB], dx[NB * QX], dth[QN];
    int i;
    qQ = qSPD;
    batch_inputs(x, t, y);
    ck_assert_int_eq(dil_solve_batch(&quad, NB, x, qth, y, &o, bi, 2), DIL_OK);
    x[6 * QX] = NAN;                                /* instance 6: bad input */
    y[3 * QN] += 1.0;                               /* instance 3: not solved */
    ck_assert_int_eq(dil_loss_gradient_batch(&quad, NB, y, x, qth, t, loss, dx, dth, &o, bi, 2),
                     DIL_NOT_STATIONARY);
    for (i = 0; i < NB; i++)
        ck_assert_int_eq(bi[i].status, i == 3 ? DIL_NOT_STATIONARY
                                       : i == 6 ? DIL_NOT_FINITE : DIL_OK);
    x[2 * QX] = NAN;                                /* now instance 2 fails first */
    ck_assert_int_eq(dil_loss_gradient_batch(&quad, NB, y, x, qth, t, loss, dx, dth, &o, bi, 2),
                     DIL_NOT_FINITE);
    ck_assert_int_eq(bi[2].status, DIL_NOT_FINITE);
    ck_assert_int_eq(bi[3].status, DIL_NOT_STATIONARY);
    /* a non-finite shared theta (scanned once per batch, not per
       instance): every instance reports it */
    {
        double th[QN];
        memcpy(th, qth, sizeof th);
        th[QN - 1] = INFINITY;
        batch_inputs(x, t, y);
        ck_assert_int_eq(dil_solve_batch(&quad, NB, x, th, y, &o, bi, 1), DIL_NOT_FINITE);
        for (i = 0; i < NB; i++)
            ck_assert_int_eq(bi[i].status, DIL_NOT_FINITE);
        ck_assert_int_eq(dil_loss_gradient_batch(&quad, NB, y, x, th, t, loss, dx, dth, &o, bi,
                                                 2),
                         DIL_NOT_FINITE);
        for (i = 0; i < NB; i++)
            ck_assert_int_eq(bi[i].status, DIL_NOT_FINITE);
    }
    /* bad batch arguments */
    ck_assert_int_eq(dil_solve_batch(&quad, -1, x, qth, y, &o, NULL, 1), DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve_batch(&quad, NB, x, qth, y, &o, bi, -1), DIL_BAD_ARG);
    ck_assert_int_eq(bi[NB - 1].status, DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve_batch(NULL, NB, x, qth, y, &o, bi, 1), DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve_batch(&quad, NB, x, qth, NULL, &o, bi, 1), DIL_BAD_ARG);
    ck_assert_int_eq(bi[0].status, DIL_BAD_ARG);
    ck_assert_int_eq(dil_solve_batch(&quad, 0, NULL, qth, NULL, &o, NULL, 0), DIL_OK);
}
END_TEST

/* ================================================================== */

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *k = tcase_create("kernels"), *f = tcase_create("forward");
    TCase *c = tcase_create("cg"), *b = tcase_create("backward");
    TCase *e = tcase_create("errors"), *w = tcase_create("work");

    tcase_add_test(k, test_kernels_fd);
    tcase_add_test(f, test_rosenbrock_newton);
    tcase_add_test(f, test_rosenbrock_gradient);
    tcase_add_test(f, test_rosenbrock_lbfgs);
    tcase_add_test(f, test_double_well_indefinite);
    tcase_add_test(f, test_max_iter);
    tcase_add_test(f, test_gauss_newton);
    tcase_add_test(f, test_fixed_point);
    tcase_add_test(f, test_user_solver);
    tcase_add_test(c, test_cg_spd_exact);
    tcase_add_test(c, test_cg_singular_eps);
    tcase_add_test(c, test_cg_indefinite_breakdown);
    tcase_add_test(c, test_cg_max_iter);
    tcase_add_test(b, test_backward_quad_closed_form);
    tcase_add_test(b, test_kepler_closed_form);
    tcase_add_test(b, test_fd_solve_then_loss);
    tcase_add_test(b, test_quad_loss_direct_terms);
    tcase_add_test(b, test_not_stationary);
    tcase_add_test(e, test_bad_args);
    tcase_add_test(e, test_not_finite);
    tcase_add_test(e, test_line_search);
    tcase_add_test(e, test_status_strings);
    tcase_add_test(e, test_defaults);
    tcase_add_test(w, test_exact_work);
    tcase_add_test(w, test_linearise_once);
    tcase_add_test(w, test_batch_equals_single);
    tcase_add_test(w, test_batch_threads);
    tcase_add_test(w, test_batch_failures);
    tcase_set_timeout(w, 60);
    suite_add_tcase(s, k);
    suite_add_tcase(s, f);
    suite_add_tcase(s, c);
    suite_add_tcase(s, b);
    suite_add_tcase(s, e);
    suite_add_tcase(s, w);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(runtime_suite());
    int failed;
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
