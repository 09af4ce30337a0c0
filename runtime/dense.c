/*
 * dense.c - the naive backward solve: form the Hessian, factor it.
 *
 * The paper's baseline for Algorithm 1: build H = d2f/dy2 column by column
 * from ny Hessian-vector products with the unit vectors (as many kernel
 * calls as a full CG run, plus O(ny^3) work and ny^2 memory), then solve
 * (H + eps I) g = b directly.  It is here for comparison, for small ny, and
 * for the cases CG cannot handle: an indefinite but nonsingular H (a saddle
 * point, where the IFT still holds) is solved by the LU fallback.
 *
 * Numerics: the HVP kernel is symmetric only up to rounding, so H is first
 * symmetrised, (H + H^T)/2.  Cholesky (the SPD case, the usual one at a
 * strict minimum) runs in the lower triangle and leaves the upper triangle
 * intact, so if it fails the matrix is rebuilt from the upper triangle and
 * a saved diagonal and handed to LU with partial pivoting, without a second
 * ny^2 buffer.  A pivot at or below ny * DBL_EPSILON * max|H_ij| counts as
 * zero: H + eps I is then numerically singular and we say so (DIL_SINGULAR)
 * rather than return a g dominated by rounding.  Finally the true residual
 * ||b - (H + eps I) g|| / ||b|| is measured with one more HVP and reported
 * in info->cg_residual.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t dense_work(const dil_model *m)
{
    /* g and the stationarity gradient (backward.c), then H (n*n), saved
       diagonal, unit vector / HVP output, pivots */
    size_t n = (size_t)m->ny;
    return dili_add(dili_mul(n, n), dili_mul(5, n));
}

/* Cholesky in the lower triangle of the row-major a; 0 when a pivot is not
   safely positive. */
static int cholesky(int n, double *a, double thresh)
{
    int i, j, k;
    for (j = 0; j < n; j++) {
        double d = a[(size_t)j * n + j], ljj;
        for (k = 0; k < j; k++)
            d -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(d > thresh))
            return 0;
        ljj = sqrt(d);
        a[(size_t)j * n + j] = ljj;
        for (i = j + 1; i < n; i++) {
            double s = a[(size_t)i * n + j];
            for (k = 0; k < j; k++)
                s -= a[(size_t)i * n + k] * a[(size_t)j * n + k];
            a[(size_t)i * n + j] = s / ljj;
        }
    }
    return 1;
}

/* L L^T g = b, g holding b on entry */
static void cholesky_solve(int n, const double *a, double *g)
{
    int i, k;
    for (i = 0; i < n; i++) {                   /* L z = b */
        double s = g[i];
        for (k = 0; k < i; k++)
            s -= a[(size_t)i * n + k] * g[k];
        g[i] = s / a[(size_t)i * n + i];
    }
    for (i = n - 1; i >= 0; i--) {              /* L^T g = z */
        double s = g[i];
        for (k = i + 1; k < n; k++)
            s -= a[(size_t)k * n + i] * g[k];
        g[i] = s / a[(size_t)i * n + i];
    }
}

/* LU with partial pivoting, P A = L U in place; piv[k] the row swapped with
   k (stored as doubles: exact for any int).  0 when singular. */
static int lu(int n, double *a, double *piv, double thresh)
{
    int i, j, k;
    for (k = 0; k < n; k++) {
        int p = k;
        double best = fabs(a[(size_t)k * n + k]);
        for (i = k + 1; i < n; i++) {
            double v = fabs(a[(size_t)i * n + k]);
            if (v > best) {
                best = v;
                p = i;
            }
        }
        if (!(best > thresh))
            return 0;
        piv[k] = (double)p;
        if (p != k)
            for (j = 0; j < n; j++) {
                double t = a[(size_t)k * n + j];
                a[(size_t)k * n + j] = a[(size_t)p * n + j];
                a[(size_t)p * n + j] = t;
            }
        for (i = k + 1; i < n; i++) {
            double l = a[(size_t)i * n + k] / a[(size_t)k * n + k];
            a[(size_t)i * n + k] = l;
            for (j = k + 1; j < n; j++)
                a[(size_t)i * n + j] -= l * a[(size_t)k * n + j];
        }
    }
    return 1;
}

static void lu_solve(int n, const double *a, const double *piv, double *g)
{
    int i, k;
    for (k = 0; k < n; k++) {
        int p = (int)piv[k];
        if (p != k) {
            double t = g[k];
            g[k] = g[p];
            g[p] = t;
        }
    }
    for (i = 0; i < n; i++)                     /* unit lower */
        for (k = 0; k < i; k++)
            g[i] -= a[(size_t)i * n + k] * g[k];
    for (i = n - 1; i >= 0; i--) {              /* upper */
        double s = g[i];
        for (k = i + 1; k < n; k++)
            s -= a[(size_t)i * n + k] * g[k];
        g[i] = s / a[(size_t)i * n + i];
    }
}

/*
 * Contract: y (ny) the point, b (ny, finite) the right-hand side, g (ny)
 * the output, w n*n + 3n doubles; eps is o->cg_eps.  Fills
 * c->info->cg_iterations (0) and cg_residual (true relative residual).
 * Returns DIL_OK, DIL_SINGULAR or DIL_NOT_FINITE (from an HVP); g is
 * meaningful only on DIL_OK.
 */
static int dense_solve(dili_ctx *c, const double *y, const double *b, double *g,
                       const dil_options *o, double *w)
{
    int n = c->m->ny, i, j, st;
    double *a = w, *diag = a + (size_t)n * n, *e = diag + n, *piv = e + n;
    double amax = 0.0, thresh, bn = dili_norm(n, b), rr = 0.0, eps = o->cg_eps;

    c->info->cg_iterations = 0;
    c->info->cg_residual = 0.0;
    if (bn == 0.0) {
        dili_zero(n, g);
        return DIL_OK;
    }
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
        a[(size_t)i * n + i] += eps;
        diag[i] = a[(size_t)i * n + i];
    }
    {
        size_t q, nn = (size_t)n * n;
        for (q = 0; q < nn; q++)
            if (fabs(a[q]) > amax)
                amax = fabs(a[q]);
    }
    thresh = n * DBL_EPSILON * amax;

    dili_copy(n, b, g);
    if (cholesky(n, a, thresh)) {
        cholesky_solve(n, a, g);
    } else {
        /* not SPD: restore the lower triangle from the upper, then LU */
        for (i = 0; i < n; i++) {
            a[(size_t)i * n + i] = diag[i];
            for (j = 0; j < i; j++)
                a[(size_t)i * n + j] = a[(size_t)j * n + i];
        }
        if (!lu(n, a, piv, thresh))
            return DIL_SINGULAR;
        lu_solve(n, a, piv, g);
    }
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
    c->info->cg_residual = sqrt(rr) / bn;
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
