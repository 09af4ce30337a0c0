/*
 * dense.c - the naive backward solve: form the Hessian, factor it.
 *
 * The paper's baseline for Algorithm 1: build H = d2f/dy2 column by column
 * from ny Hessian-vector products with the unit vectors (as many kernel
 * calls as a full CG run, plus O(ny^3) work and ny^2 memory), then solve
 * (H + eps I) g = b directly.  It is here for comparison, for small ny,
 * and as an exact judge of H: at a saddle or a maximum the IFT gives the
 * derivative of the wrong point, so an indefinite H is reported
 * (DIL_NOT_MINIMUM), never solved (this file used to fall back to LU there,
 * and returned DIL_OK with a wrong gradient; issue 13).
 *
 * Numerics: the HVP kernel is symmetric only up to rounding, so H is first
 * symmetrised, (H + H^T)/2.  Cholesky (dili_cholesky, small.c) runs in
 * the lower triangle and leaves the upper triangle intact, so a second
 * factorisation (of H + eps I, see factor) rebuilds the matrix from the
 * upper triangle and a saved diagonal without a second ny^2 buffer.  A pivot at or below
 * ny * DBL_EPSILON * max|H_ij| counts as zero: H + eps I is then
 * numerically singular and we say so (DIL_SINGULAR) rather than return a g
 * dominated by rounding.  Finally the true residual
 * ||b - (H + eps I) g|| / ||b|| is measured with one more HVP and reported
 * in info->cg_residual.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t dense_work(const dil_model *m)
{
    /* g and the stationarity gradient (backward.c), then H (n*n), saved
       diagonal, unit vector / HVP output */
    size_t n = (size_t)m->ny;
    return dili_add(dili_mul(n, n), dili_mul(4, n));
}

/* a := the symmetrised H from its upper triangle and saved diagonal, plus
   shift on the diagonal (Cholesky overwrote the lower triangle). */
static void restore(int n, double *a, const double *diag, double shift)
{
    int i, j;
    for (i = 0; i < n; i++) {
        a[(size_t)i * n + i] = diag[i] + shift;
        for (j = 0; j < i; j++)
            a[(size_t)i * n + j] = a[(size_t)j * n + i];
    }
}

/*
 * Factor H + eps I, and judge H on the way.  Cholesky of H itself first: a
 * pivot clearly below zero (under -sqrt(eps) max|H_ij|) proves a negative
 * eigenvalue (the leading block it closes has a negative determinant), so y
 * is not a minimum: DIL_NOT_MINIMUM, and never an LU solve of an
 * indefinite score Hessian.  A pivot near zero is a singular H: with
 * eps > 0 that is the case Algorithm 1's eps is for, so H + eps I is
 * factored; with eps = 0, DIL_SINGULAR.
 */
static int factor(int n, double *a, const double *diag, double eps, double amax)
{
    double thresh = n * DBL_EPSILON * amax, bad = 0.0;
    if (dili_cholesky(n, a, thresh, &bad)) {
        if (eps == 0.0)
            return DIL_OK;
    } else if (bad < -sqrt(DBL_EPSILON) * amax) {
        return DIL_NOT_MINIMUM;
    } else if (eps == 0.0) {
        return DIL_SINGULAR;
    }
    restore(n, a, diag, eps);
    return dili_cholesky(n, a, n * DBL_EPSILON * (amax + eps), &bad) ? DIL_OK : DIL_SINGULAR;
}

/*
 * Contract: y (ny) the point, b (ny, finite) the right-hand side, g (ny)
 * the output, w n*n + 2n doubles; eps is o->cg_eps.  Fills
 * c->info->cg_iterations (0) and cg_residual (true relative residual).
 * Returns DIL_OK, DIL_NOT_MINIMUM, DIL_SINGULAR or DIL_NOT_FINITE (from an
 * HVP); g is meaningful only on DIL_OK.
 */
static int dense_solve(dili_ctx *c, const double *y, const double *b, double *g,
                       const double *gy, double *dist, const dil_options *o, double *w)
{
    int n = c->m->ny, i, j, st;
    double *a = w, *diag = a + (size_t)n * n, *e = diag + n;
    double amax = 0.0, bn = dili_norm(n, b), rr = 0.0, eps = o->cg_eps;

    c->info->cg_iterations = 0;
    c->info->cg_residual = 0.0;
    /* row j of a := H e_j (= column j; H is symmetric) */
    dili_zero(n, e);
    for (j = 0; j < n; j++) {
        e[j] = 1.0;
        st = dili_hvp(c, y, e, a + (size_t)j * n);
        e[j] = 0.0;
        if (st != DIL_OK)
            return st;
    }
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            double s = 0.5 * (a[(size_t)i * n + j] + a[(size_t)j * n + i]);
            a[(size_t)i * n + j] = a[(size_t)j * n + i] = s;
        }
        diag[i] = a[(size_t)i * n + i];
    }
    {
        size_t q, nn = (size_t)n * n;
        for (q = 0; q < nn; q++)
            if (fabs(a[q]) > amax)
                amax = fabs(a[q]);
    }
    if ((st = factor(n, a, diag, eps, amax)) != DIL_OK)
        return st;
    /* the distance to the stationary point, ||(H + eps I)^-1 gy|| */
    dili_copy(n, gy, e);
    dili_cholesky_solve(n, a, e);
    *dist = dili_norm(n, e);
    dili_copy(n, b, g);
    dili_cholesky_solve(n, a, g);
    if (!dili_all_finite(n, g))
        return DIL_SINGULAR;

    /* the true residual, one more HVP */
    st = dili_hvp(c, y, g, e);
    if (st != DIL_OK)
        return st;
    for (i = 0; i < n; i++) {
        double ri = b[i] - (e[i] + eps * g[i]);
        rr += ri * ri;
    }
    c->info->cg_residual = bn > 0.0 ? sqrt(rr) / bn : 0.0;
    return DIL_OK;
}

static int dense_run(dili_ctx *c, const double *y, const double *b,
                     const dili_outputs *out, const dil_options *o, double *w)
{
    return dili_score_backward(c, y, b, out, o, w, dense_solve);
}

const dili_backward dili_dense_backward = {
    DIL_BACKWARD_DENSE, "dense", DILI_K_GRAD | DILI_K_HVP, DILI_K_VJP_XY,
    DILI_K_VJP_THETAY, 0, dense_work, dense_run,
};
