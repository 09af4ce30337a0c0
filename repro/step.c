/*
 * step.c - the backward-Euler step: a Newton solver for dil_solve (see
 * step.h).
 *
 * Why our own forward solver: the step's residual is square (nres == ny)
 * and tiny (ny = 2 in Table 1), so a dense Newton iteration on r = 0 needs
 * ny Jacobian-vector products per Jacobian and one residual per step, fewer
 * kernel calls than the runtime's Newton-CG on f = |r|^2 / 2 (whose every
 * Hessian-vector product costs as much as a residual).  Each kernel call
 * evaluates the network once, so kernel calls are the cost.  The paper's
 * point is exactly that the forward solver is a black box: the backward
 * pass (dil_backward, the IFT) sees only the solution, and dil_solve checks
 * the answer against its own stopping rule before accepting it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "step.h"

size_t step_newton_work(const dil_model *m)
{
    size_t n = (size_t)m->ny;
    return n * n + 3 * n;   /* J (LU in place), r, e_j and J e_j */
}

dil_options step_options(const dil_model *m, int backward, double tol)
{
    dil_options o = dil_default_options();
    o.solver = DIL_SOLVER_USER;
    o.user_solver = step_newton;
    o.user_context = NULL;
    o.user_work_size = step_newton_work(m);
    o.backward = backward;
    o.tol = tol;
    o.max_iter = 30;
    /* step_newton stops only at a root (||J|| ||r|| <= tol / 2), where the
       score |r|^2 / 2 has Hessian J^T J, positive semi-definite: the
       runtime's Lanczos certificate of the answer could only confirm that,
       and costs two Hessian-vector products per step (a fifth of a solve,
       measured on node_vdp).  Its gradient and model-step tests stay on. */
    o.curvature_check = 0;
    return o;
}

/* LU with partial pivoting of the n x n row-major a, in place; 0 when a
   pivot is exactly zero or not finite. */
static int lu_factor(int n, double *a, int *piv)
{
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
                p = i;
        piv[k] = p;
        if (!(fabs(a[p * n + k]) > 0) || !isfinite(a[p * n + k]))
            return 0;
        if (p != k)
            for (int j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
        for (int i = k + 1; i < n; i++) {
            double l = a[i * n + k] /= a[k * n + k];
            for (int j = k + 1; j < n; j++)
                a[i * n + j] -= l * a[k * n + j];
        }
    }
    return 1;
}

/* b <- A^-1 b from the factors of lu_factor */
static void lu_solve(int n, const double *a, const int *piv, double *b)
{
    for (int k = 0; k < n; k++) {
        if (piv[k] != k) {
            double t = b[k];
            b[k] = b[piv[k]];
            b[piv[k]] = t;
        }
        for (int i = k + 1; i < n; i++)
            b[i] -= a[i * n + k] * b[k];
    }
    for (int i = n - 1; i >= 0; i--) {
        for (int j = i + 1; j < n; j++)
            b[i] -= a[i * n + j] * b[j];
        b[i] /= a[i * n + i];
    }
}

static double norm2(int n, const double *v)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i] * v[i];
    return sqrt(s);
}

/* J = dr/dy at y, column j = J e_j, factored; returns ||J||_F, or -1 when
   J is singular or not finite. */
static double jacobian(const dil_model *m, const double *x, const double *theta,
                       const double *y, double *J, int *piv, double *e, double *kw)
{
    int n = m->ny;
    double *col = e + n, fro = 0;
    for (int j = 0; j < n; j++) {
        memset(e, 0, (size_t)n * sizeof *e);
        e[j] = 1;
        m->residual_jvp_y(y, x, theta, e, col, kw);
        for (int i = 0; i < n; i++) {
            J[i * n + j] = col[i];
            fro += col[i] * col[i];
        }
    }
    return lu_factor(n, J, piv) && isfinite(fro) ? sqrt(fro) : -1;
}

int step_newton(const dil_model *m, const double *x, const double *theta, double *y,
                const dil_options *opt, dil_info *info, double *work, void *context)
{
    const int n = m->ny;
    double *kw = work, *J = work + m->work_size;
    double *r = J + (size_t)n * n, *e = r + n;   /* e: 2n doubles (e_j, J e_j) */
    int piv[64], it;
    double rn, jn;

    if (n > 64 || m->nres != n || m->nx < n)
        return DIL_BAD_ARG;
    if (context == NULL || *(const int *)context != 0) {
        /* explicit Euler: with x0 the first ny inputs, r(x0; x) = -dt f(x0),
           so x0 + dt f(x0) = x0 - r(x0; x) */
        m->residual(x, x, theta, r, kw);
        for (int i = 0; i < n; i++)
            y[i] = x[i] - r[i];
    }
    m->residual(y, x, theta, r, kw);
    info->n_score++;
    rn = norm2(n, r);
    jn = jacobian(m, x, theta, y, J, piv, e, kw);
    info->n_jac += n;
    for (it = 0;; it++) {
        if (!isfinite(rn))
            return DIL_NOT_FINITE;
        if (jn < 0)
            return DIL_SINGULAR;
        if (rn * jn <= 0.5 * opt->tol)
            break;
        if (it == opt->max_iter)
            return DIL_MAX_ITER;
        lu_solve(n, J, piv, r);
        for (int i = 0; i < n; i++)
            y[i] -= r[i];
        double old = rn;
        m->residual(y, x, theta, r, kw);
        info->n_score++;
        rn = norm2(n, r);
        if (rn > 0.25 * old) {       /* the chord has gone stale: refresh J */
            jn = jacobian(m, x, theta, y, J, piv, e, kw);
            info->n_jac += n;
        }
    }
    info->iterations = it;
    return DIL_OK;
}
