/*
 * truth.c - the ground-truth trajectories of the Table 1 data sets.
 *
 * Both vector fields are polynomials, so the Taylor coefficients of the
 * solution through a point follow from the ODE by the recurrence of
 * automatic differentiation: if x(t) = sum_k X_k t^k then
 *     (x')_k = (k + 1) X_{k+1},      (u v)_k = sum_{i=0..k} U_i V_{k-i}
 * (the Cauchy product), and the ODE x' = F(x) gives X_{k+1} = F_k / (k + 1)
 * with F_k built from products of lower coefficients only.  A step of
 * length h then sums the series by Horner's rule.  With order 30 and h =
 * dt/16 = 1/160 the truncation term is far below rounding: the spiral's
 * nearest complex singularity is at distance >= 1/(2 |A| |x|^2) ~ 0.06 at
 * the start (the cubic blow-up time of x' = -a x^3), so (h/rho)^30 < 1e-20,
 * and Van der Pol's is farther.  The tests check the result against RK4
 * with Richardson extrapolation (a method sharing nothing with this one)
 * and against itself at half the step.
 */
#include "truth.h"

#define MAX_ORDER 64

void truth_field(const truth_system *s, const double x[2], double dx[2])
{
    if (s->kind == TRUTH_VDP) {
        dx[0] = x[1];
        dx[1] = s->mu * (1 - x[0] * x[0]) * x[1] - x[0];
    } else {
        double c0 = x[0] * x[0] * x[0], c1 = x[1] * x[1] * x[1];
        dx[0] = s->a[0][0] * c0 + s->a[0][1] * c1;
        dx[1] = s->a[1][0] * c0 + s->a[1][1] * c1;
    }
}

/* (u v)_k, the k-th coefficient of a product of two series */
static double cauchy(const double *u, const double *v, int k)
{
    double s = 0;
    for (int i = 0; i <= k; i++)
        s += u[i] * v[k - i];
    return s;
}

/*
 * Coefficients X[0..order] (two components) of the solution through x0.
 * Van der Pol:  x' = v,  v' = mu (v - x^2 v) - x, so with P = x^2, Q = P v:
 *     X_{k+1} = V_k / (k+1),  V_{k+1} = (mu (V_k - Q_k) - X_k) / (k+1).
 * Spiral:  with P = x^2, C = P x (likewise for the second component),
 *     X_{k+1} = (a00 C0_k + a01 C1_k) / (k+1), and the same for row 1.
 */
static void coefficients(const truth_system *s, const double x0[2], int order,
                         double X[][MAX_ORDER + 1])
{
    double P[2][MAX_ORDER + 1], Q[2][MAX_ORDER + 1];
    X[0][0] = x0[0];
    X[1][0] = x0[1];
    for (int k = 0; k < order; k++) {
        P[0][k] = cauchy(X[0], X[0], k);
        if (s->kind == TRUTH_VDP) {
            Q[0][k] = cauchy(P[0], X[1], k);
            X[0][k + 1] = X[1][k] / (k + 1);
            X[1][k + 1] = (s->mu * (X[1][k] - Q[0][k]) - X[0][k]) / (k + 1);
        } else {
            P[1][k] = cauchy(X[1], X[1], k);
            Q[0][k] = cauchy(P[0], X[0], k);
            Q[1][k] = cauchy(P[1], X[1], k);
            X[0][k + 1] = (s->a[0][0] * Q[0][k] + s->a[0][1] * Q[1][k]) / (k + 1);
            X[1][k + 1] = (s->a[1][0] * Q[0][k] + s->a[1][1] * Q[1][k]) / (k + 1);
        }
    }
}

static void taylor_step(const truth_system *s, double x[2], double h, int order)
{
    double X[2][MAX_ORDER + 1];
    coefficients(s, x, order, X);
    for (int c = 0; c < 2; c++) {
        double acc = X[c][order];
        for (int k = order - 1; k >= 0; k--)
            acc = acc * h + X[c][k];
        x[c] = acc;
    }
}

void truth_sample(const truth_system *s, const double x0[2], double dt, int n,
                  int order, int sub, double (*out)[2])
{
    double x[2] = { x0[0], x0[1] };
    if (order > MAX_ORDER)
        order = MAX_ORDER;
    for (int k = 0; k < n; k++) {
        if (k > 0)
            for (int j = 0; j < sub; j++)
                taylor_step(s, x, dt / sub, order);
        out[k][0] = x[0];
        out[k][1] = x[1];
    }
}

void truth_sample_default(const truth_system *s, const double x0[2], double dt,
                          int n, double (*out)[2])
{
    truth_sample(s, x0, dt, n, 30, 16, out);
}

static void rk4_step(const truth_system *s, double x[2], double h)
{
    double k1[2], k2[2], k3[2], k4[2], t[2];
    truth_field(s, x, k1);
    for (int i = 0; i < 2; i++)
        t[i] = x[i] + h / 2 * k1[i];
    truth_field(s, t, k2);
    for (int i = 0; i < 2; i++)
        t[i] = x[i] + h / 2 * k2[i];
    truth_field(s, t, k3);
    for (int i = 0; i < 2; i++)
        t[i] = x[i] + h * k3[i];
    truth_field(s, t, k4);
    for (int i = 0; i < 2; i++)
        x[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
}

void truth_sample_rk4(const truth_system *s, const double x0[2], double dt, int n,
                      int sub, double (*out)[2])
{
    double x[2] = { x0[0], x0[1] };
    for (int k = 0; k < n; k++) {
        if (k > 0) {
            double a[2] = { x[0], x[1] }, b[2] = { x[0], x[1] };
            for (int j = 0; j < sub; j++)
                rk4_step(s, a, dt / sub);
            for (int j = 0; j < 2 * sub; j++)
                rk4_step(s, b, dt / (2 * sub));
            for (int i = 0; i < 2; i++)
                x[i] = (16 * b[i] - a[i]) / 15;
        }
        out[k][0] = x[0];
        out[k][1] = x[1];
    }
}
