/*
 * m2_hand.c - the hand-written M2 kernels (see m2_hand.h for the
 * formulas).  Products with a matrix's rows are dot products; products
 * with its transpose accumulate row by row, so every loop streams memory.
 */
#include "m2_hand.h"

#include <math.h>
#include <string.h>

#define W1(th) (th)
#define B1(th) ((th) + M2_H * M2_D)
#define W2(th) ((th) + M2_H * M2_D + M2_H)
#define B2(th) ((th) + 2 * M2_H * M2_D + M2_H)

/* s = tanh(W1 y + b1), r = y - x - dt (W2 s + b2) */
static void forward(const double *y, const double *x, const double *th, double *s, double *r)
{
    const double *w1 = W1(th), *b1 = B1(th), *w2 = W2(th), *b2 = B2(th);
    for (int h = 0; h < M2_H; h++) {
        double a = b1[h];
        for (int j = 0; j < M2_D; j++)
            a += w1[h * M2_D + j] * y[j];
        s[h] = tanh(a);
    }
    for (int k = 0; k < M2_D; k++) {
        double a = 0;
        for (int h = 0; h < M2_H; h++)
            a += w2[k * M2_H + h] * s[h];
        r[k] = y[k] - x[k] - M2_DT * (a + b2[k]);
    }
}

/* out = W2' u (H), row by row of W2 */
static void w2t(const double *th, const double *u, double *out)
{
    const double *w2 = W2(th);
    memset(out, 0, M2_H * sizeof *out);
    for (int k = 0; k < M2_D; k++)
        for (int h = 0; h < M2_H; h++)
            out[h] += w2[k * M2_H + h] * u[k];
}

/* out = base + scale W1' z (D), row by row of W1 */
static void w1t(const double *th, const double *z, double scale, const double *base, double *out)
{
    const double *w1 = W1(th);
    double acc[M2_D];
    memset(acc, 0, sizeof acc);
    for (int h = 0; h < M2_H; h++)
        for (int j = 0; j < M2_D; j++)
            acc[j] += w1[h * M2_D + j] * z[h];
    for (int j = 0; j < M2_D; j++)
        out[j] = base[j] + scale * acc[j];
}

/* u = W1 v (H) */
static void w1v(const double *th, const double *v, double *u)
{
    const double *w1 = W1(th);
    for (int h = 0; h < M2_H; h++) {
        double a = 0;
        for (int j = 0; j < M2_D; j++)
            a += w1[h * M2_D + j] * v[j];
        u[h] = a;
    }
}

/* jv = v - dt W2 (ds u), with t = ds u kept */
static void jvec(const double *th, const double *ds, const double *v, const double *u, double *t,
                 double *jv)
{
    const double *w2 = W2(th);
    for (int h = 0; h < M2_H; h++)
        t[h] = ds[h] * u[h];
    for (int k = 0; k < M2_D; k++) {
        double a = 0;
        for (int h = 0; h < M2_H; h++)
            a += w2[k * M2_H + h] * t[h];
        jv[k] = v[k] - M2_DT * a;
    }
}

double m2h_score(const double *y, const double *x, const double *theta, double *s)
{
    double r[M2_D], f = 0;
    forward(y, x, theta, s, r);
    for (int k = 0; k < M2_D; k++)
        f += r[k] * r[k];
    return f;
}

void m2h_linearise(const double *y, const double *x, const double *theta, M2State *st)
{
    forward(y, x, theta, st->s, st->r);
    w2t(theta, st->r, st->q);
    for (int h = 0; h < M2_H; h++) {
        st->ds[h] = 1 - st->s[h] * st->s[h];
        st->c[h] = 2 * st->q[h] * st->s[h] * st->ds[h];
    }
}

/* grad = 2 (r - dt W1' (ds q)), from a fresh forward sweep (st is its
   scratch: the gradient alone caches nothing between calls) */
void m2h_grad(const double *y, const double *x, const double *theta, double *g, M2State *st)
{
    forward(y, x, theta, st->s, st->r);
    w2t(theta, st->r, st->q);
    for (int h = 0; h < M2_H; h++)
        st->q[h] *= 1 - st->s[h] * st->s[h];
    w1t(theta, st->q, -M2_DT, st->r, g);
    for (int j = 0; j < M2_D; j++)
        g[j] *= 2;
}

/* H v = 2 (J v + dt W1' (c u - ds p)), u = W1 v, p = W2' J v */
void m2h_hvp(const M2State *st, const double *theta, const double *v, double *hv, M2Tmp *tmp)
{
    w1v(theta, v, tmp->u);
    jvec(theta, st->ds, v, tmp->u, tmp->t, tmp->jv);
    w2t(theta, tmp->jv, tmp->p);
    for (int h = 0; h < M2_H; h++)
        tmp->z[h] = st->c[h] * tmp->u[h] - st->ds[h] * tmp->p[h];
    w1t(theta, tmp->z, M2_DT, tmp->jv, hv);
    for (int j = 0; j < M2_D; j++)
        hv[j] *= 2;
}

/* d(2 r'J w)/dx = -2 J w */
void m2h_vjp_xy(const M2State *st, const double *theta, const double *w, double *out, M2Tmp *tmp)
{
    w1v(theta, w, tmp->u);
    jvec(theta, st->ds, w, tmp->u, tmp->t, tmp->jv);
    for (int k = 0; k < M2_D; k++)
        out[k] = -2 * tmp->jv[k];
}

/*
 * d(2 r'J w)/dtheta, with u = W1 w, t = ds u, m = J w, pm = W2' m and
 * e = -2 dt (ds pm - c u):
 *   dW1[h][j] = e_h y_j - 2 dt q_h ds_h w_j,   db1[h] = e_h,
 *   dW2[k][h] = -2 dt (m_k s_h + r_k t_h),     db2[k] = -2 dt m_k.
 */
void m2h_vjp_thetay(const M2State *st, const double *y, const double *theta, const double *w,
                    double *out, M2Tmp *tmp)
{
    double *gw1 = W1(out), *gb1 = B1(out), *gw2 = W2(out), *gb2 = B2(out);
    const double k2 = -2 * M2_DT;
    w1v(theta, w, tmp->u);
    jvec(theta, st->ds, w, tmp->u, tmp->t, tmp->jv);
    w2t(theta, tmp->jv, tmp->p);
    for (int h = 0; h < M2_H; h++) {
        double e = k2 * (st->ds[h] * tmp->p[h] - st->c[h] * tmp->u[h]);
        double qd = k2 * st->q[h] * st->ds[h];
        gb1[h] = e;
        for (int j = 0; j < M2_D; j++)
            gw1[h * M2_D + j] = e * y[j] + qd * w[j];
    }
    for (int k = 0; k < M2_D; k++) {
        double mk = k2 * tmp->jv[k], rk = k2 * st->r[k];
        for (int h = 0; h < M2_H; h++)
            gw2[k * M2_H + h] = mk * st->s[h] + rk * tmp->t[h];
        gb2[k] = mk;
    }
}
