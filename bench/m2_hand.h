/*
 * m2_hand.h - M2 written by hand in C: the honest baseline of `make bench`
 * (issue 8).  Same model as bench/m2.dil, same flat layouts (theta = W1,
 * b1, W2, b2, row-major), dimensions fixed at compile time (M2_D, M2_H) as
 * dilc fixes them.  The forward state is computed once per point
 * (m2h_linearise) and every product is fused and streams its matrix: the
 * code an engineer would write for this one model.
 *
 * With r = y - x - dt (W2 s + b2), s = tanh(W1 y + b1), ds = 1 - s^2,
 * q = W2' r, J = I - dt W2 diag(ds) W1 and c = 2 q s ds:
 *   f = r'r,   grad = 2 J' r = 2 (r - dt W1' (ds q)),
 *   H v = 2 (J'J v + dt W1' diag(c) W1 v),
 *   w' d2f/dy dx = -2 J w,
 *   w' d2f/dy dtheta: see m2h_vjp_thetay.
 */
#ifndef M2_HAND_H
#define M2_HAND_H

#define M2_DT 0.1
#define M2_NTHETA (2 * M2_H * M2_D + M2_H + M2_D)

/* What depends only on (y, x, theta). */
typedef struct M2State {
    double s[M2_H], ds[M2_H], q[M2_H], c[M2_H], r[M2_D];
} M2State;

/* Scratch of the direction-dependent kernels. */
typedef struct M2Tmp {
    double u[M2_H], t[M2_H], p[M2_H], z[M2_H], jv[M2_D];
} M2Tmp;

double m2h_score(const double *y, const double *x, const double *theta, double *s);
void m2h_grad(const double *y, const double *x, const double *theta, double *g, M2State *st);
void m2h_linearise(const double *y, const double *x, const double *theta, M2State *st);
void m2h_hvp(const M2State *st, const double *theta, const double *v, double *hv, M2Tmp *tmp);
void m2h_vjp_xy(const M2State *st, const double *theta, const double *w, double *out, M2Tmp *tmp);
void m2h_vjp_thetay(const M2State *st, const double *y, const double *theta, const double *w,
                    double *out, M2Tmp *tmp);

#endif
