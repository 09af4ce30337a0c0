/*
 * small.c - dense linear algebra on small matrices: the Jacobian J of a
 * residual model held densely when it is tiny, and the factorisations the
 * direct solves need.
 *
 * When nres * ny <= DILI_SMALL_JAC (the Van der Pol step: 2 x 2), building
 * J from ny products J e_j costs less than the kernel calls of a single
 * Krylov iteration, and every solve with J^T J + eps I is then done
 * directly: Gauss-Newton's step (gauss_newton.c) and the root-form
 * backward (root_backward.c) form A = J^T J + eps I (dili_small_gram),
 * factor it by Cholesky (dili_cholesky) and solve (dili_cholesky_solve);
 * the root form judges "J singular" from the eigenvalues of J^T J by
 * cyclic Jacobi (dili_small_eig).  The Cholesky pair is also the dense
 * score-form backward's (dense.c), for any ny.
 *
 * Layouts: J is column-major, jd[j*nres + i] = dr_i/dy_j (column j is the
 * product J e_j); square matrices are row-major, a[i*n + j].
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

int dili_small_fits(const dil_model *m)
{
    return m->nres > 0 && m->ny > 0 && m->nres <= DILI_SMALL_JAC / m->ny;
}

/* J at y by ny products J e_j, column j straight into jd + j nres. */
int dili_small_jac(dili_ctx *c, const double *y, double *jd)
{
    int n = c->m->ny, nr = c->m->nres, j, st;
    double e[DILI_SMALL_JAC];
    /* built at this point before in this call (a solve that ends here and
       the backward after it, step.c): the same bits again */
    if (c->lin_j != NULL && dili_kept(c, y, DILI_LIN_RES | DILI_LIN_J)) {
        dili_copy(n * nr, c->lin_j, jd);
        return DIL_OK;
    }
    dili_zero(n, e);
    dili_zero(n * nr, jd);      /* the columns after a failing one */
    for (j = 0; j < n; j++) {
        e[j] = 1.0;
        if ((st = dili_jvp(c, y, e, jd + (size_t)j * nr)) != DIL_OK)
            return st;
        e[j] = 0.0;
    }
    if (c->lin_j != NULL && dili_kept(c, y, DILI_LIN_RES)) {
        dili_copy(n * nr, jd, c->lin_j);
        c->lin_valid |= DILI_LIN_J;
    }
    return DIL_OK;
}

int dili_jtw(dili_ctx *c, const double *y, const double *w, double *jd, double *g)
{
    int st;
    if (jd == NULL)
        return dili_rvjp(c, y, w, g);
    /* a J that went non-finite leaves its NaN in g, as the kernel would */
    st = dili_small_jac(c, y, jd);
    dili_small_jtw(c->m->nres, c->m->ny, jd, w, g);
    return st == DIL_OK && !dili_all_finite(c->m->ny, g) ? DIL_NOT_FINITE : st;
}

/* jv = J v (nres) */
void dili_small_jv(int nr, int n, const double *jd, const double *v, double *jv)
{
    int i, j;
    dili_zero(nr, jv);
    for (j = 0; j < n; j++)
        for (i = 0; i < nr; i++)
            jv[i] += jd[j * nr + i] * v[j];
}

/* out = J^T w (ny) */
void dili_small_jtw(int nr, int n, const double *jd, const double *w, double *out)
{
    int j;
    for (j = 0; j < n; j++)
        out[j] = dili_dot(nr, jd + j * nr, w);
}

/* a = J^T J + eps I: (J^T J)_ij = (J e_i) . (J e_j), the dot product of
   columns i and j; computed once for i <= j and mirrored, so a is exactly
   symmetric. */
void dili_small_gram(int nr, int n, const double *jd, double eps, double *a)
{
    int i, j;
    for (i = 0; i < n; i++) {
        for (j = i; j < n; j++)
            a[i * n + j] = a[j * n + i] = dili_dot(nr, jd + i * nr, jd + j * nr);
        a[i * n + i] += eps;
    }
}

/* out = b - (J^T (J z) + eps z), the residual of the normal equations
   through J itself (not through a formed J^T J); jz: nres doubles. */
void dili_small_normal_res(int nr, int n, const double *jd, double eps, const double *b,
                           const double *z, double *jz, double *out)
{
    int j;
    dili_small_jv(nr, n, jd, z, jz);
    dili_small_jtw(nr, n, jd, jz, out);
    for (j = 0; j < n; j++)
        out[j] = b[j] - (out[j] + eps * z[j]);
}

/*
 * Cholesky A = L L^T (Cholesky-Banachiewicz, row by row):
 *     L_jj = sqrt(A_jj - sum_{k<j} L_jk^2),
 *     L_ij = (A_ij - sum_{k<j} L_ik L_jk) / L_jj   (i > j),
 * in the lower triangle of the row-major a (the strict upper triangle is
 * left intact).  A pivot A_jj - sum L_jk^2 is the Schur complement that
 * closes the leading (j+1) x (j+1) block, det(A_{0..j}) / det(A_{0..j-1});
 * one at or below thresh means A is not (numerically) positive definite:
 * 0 is returned with that pivot in *bad.
 */
int dili_cholesky(int n, double *a, double thresh, double *bad)
{
    int i, j, k;
    for (j = 0; j < n; j++) {
        double d = a[(size_t)j * n + j], ljj;
        for (k = 0; k < j; k++)
            d -= a[(size_t)j * n + k] * a[(size_t)j * n + k];
        if (!(d > thresh)) {
            *bad = d;
            return 0;
        }
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

/* L L^T x = b by forward then back substitution, x holding b on entry. */
void dili_cholesky_solve(int n, const double *a, double *x)
{
    int i, k;
    for (i = 0; i < n; i++) {                   /* L u = b */
        double s = x[i];
        for (k = 0; k < i; k++)
            s -= a[(size_t)i * n + k] * x[k];
        x[i] = s / a[(size_t)i * n + i];
    }
    for (i = n - 1; i >= 0; i--) {              /* L^T x = u */
        double s = x[i];
        for (k = i + 1; k < n; k++)
            s -= a[(size_t)k * n + i] * x[k];
        x[i] = s / a[(size_t)i * n + i];
    }
}

/*
 * The extreme eigenvalues of the symmetric a (n x n, n^2 <= DILI_SMALL_JAC,
 * not changed) by the cyclic Jacobi method: each rotation in the plane
 * (p, q) with t = tan(phi) the smaller root of t^2 + 2 theta t - 1 = 0,
 * theta = (a_qq - a_pp) / (2 a_pq), c = 1/sqrt(1 + t^2), s = t c, zeroes
 * a_pq and updates
 *     a_pp -= t a_pq,   a_qq += t a_pq,
 *     a_kp = c a_kp - s a_kq,   a_kq = s a_kp + c a_kq   (k != p, q),
 * an orthogonal similarity, so the spectrum is kept while the off-diagonal
 * mass sum a_pq^2 falls (quadratically, after the first sweeps).  Sweeps
 * stop when it is at rounding level of ||a||_F; the diagonal then holds the
 * eigenvalues to an absolute accuracy of a few DBL_EPSILON ||a||, the
 * accuracy of any backward-stable method on a formed matrix.  n = 2 takes
 * one rotation.
 */
void dili_small_eig(int n, const double *a0, double *lmin, double *lmax)
{
    double a[DILI_SMALL_JAC], fro = 0.0;
    int i, p, q, k, sweep;

    for (i = 0; i < n * n; i++) {
        a[i] = a0[i];
        fro += a[i] * a[i];
    }
    for (sweep = 0; sweep < 50; sweep++) {
        double off = 0.0;
        for (p = 0; p < n; p++)
            for (q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (!(off > DBL_EPSILON * DBL_EPSILON * fro))
            break;
        for (p = 0; p < n; p++) {
            for (q = p + 1; q < n; q++) {
                double apq = a[p * n + q], theta, t, c, s;
                if (apq == 0.0)
                    continue;
                theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                t = (theta >= 0.0 ? 1.0 : -1.0) / (fabs(theta) + hypot(theta, 1.0));
                c = 1.0 / sqrt(1.0 + t * t);
                s = t * c;
                a[p * n + p] -= t * apq;
                a[q * n + q] += t * apq;
                a[p * n + q] = a[q * n + p] = 0.0;
                for (k = 0; k < n; k++) {
                    double akp, akq;
                    if (k == p || k == q)
                        continue;
                    akp = a[k * n + p];
                    akq = a[k * n + q];
                    a[k * n + p] = a[p * n + k] = c * akp - s * akq;
                    a[k * n + q] = a[q * n + k] = s * akp + c * akq;
                }
            }
        }
    }
    *lmin = *lmax = a[0];
    for (i = 1; i < n; i++) {
        *lmin = fmin(*lmin, a[i * n + i]);
        *lmax = fmax(*lmax, a[i * n + i]);
    }
}
