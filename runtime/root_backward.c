/*
 * root_backward.c - the root-finding form of the backward pass, for
 * residual models with as many residuals as unknowns (nres == ny).
 *
 * Such a layer is really defined by r(y*; x, theta) = 0 (one implicit Euler
 * step, an equation solved for E, ...).  Differentiating r = 0 gives
 * J dy = -J_x dx - J_theta dtheta with J = J_y square and nonsingular, so
 * for a downstream loss
 *     g solves J^T g = dL/dy
 *     dL/dx     = -J_x^T g       (+ partial L/partial x)
 *     dL/dtheta = -J_theta^T g   (+ partial L/partial theta),
 * which needs first derivatives of r only: the products residual_jvp_y,
 * residual_vjp_y, residual_vjp_x and residual_vjp_theta.
 *
 * J is not symmetric, so CG cannot be applied to J^T g = b itself.  We use
 * CG on the normal equations in the "error-minimising" arrangement (Craig's
 * method, CGNE): substitute g = J z, then
 *     (J^T J + eps I) z = b,   g = J z.
 * Three reasons for this arrangement rather than CG on J J^T g = J b:
 *   - the CG residual is b - J^T J z = b - J^T g, the true residual of the
 *     system we want, so cg_tol keeps the meaning it has everywhere else
 *     (||b - A g|| <= cg_tol ||b||);
 *   - J^T J is the Gauss-Newton matrix, applied with the same two Jacobian
 *     products per iteration as DIL_SOLVER_GAUSS_NEWTON (the paper's
 *     Sec. 3.1 trick of multiplying by H_r^T);
 *   - at a root the Hessian of f = 1/2 |r|^2 is H = J^T J + sum_i r_i
 *     d2r_i = J^T J, so z is exactly the g of the score-form backward
 *     (Algorithm 1).  cg_x0 and cg_solution therefore mean the same vector
 *     in both forms and a warm start carries over between them.
 * Why the two forms agree: at a root H^-1 J^T = (J^T J)^-1 J^T = J^-1, and
 * the score form's mixed products are d2f/dtheta dy w = J_theta^T J w
 * (+ terms in r, zero at the root), so -J_theta^T J H^-1 b = -J_theta^T J^-T b.
 * eps > 0 regularises J^T J exactly as it does H in Algorithm 1.
 *
 * A tiny J (nres ny <= DILI_SMALL_JAC) is built once from ny products and
 * the same system is solved directly instead (root_direct: Jacobi
 * eigenvalues for the singularity check, Cholesky, one step of
 * refinement), with CG finishing only when that misses cg_tol.
 *
 * The IFT here needs r = 0, not just J^T r = 0, so stationarity is judged
 * on ||r|| (info->residual_norm) against stationary_tol; info->grad_norm
 * still reports ||df/dy|| = ||J^T r||.  J^T J squares the condition number
 * of J, as H itself does at the root; GMRES on J^T directly would not, at
 * the price of a Krylov basis in the workspace (not done).
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t root_work(const dil_model *m)
{
    int n = m->ny;
    /* z, a (residual, then the adjoint J z), t (J^T r, then the CG
       operator's J v scratch), and CG's r, p, Ap */
    return dili_add(dili_mul(3, (size_t)n), dili_cg_work(n));
}

/*
 * The root form's meaning: J nonsingular, so that r = 0 defines y*(x, theta)
 * locally.  With eps = 0 and curvature_check > 0, a few Lanczos steps on
 * J^T J from a random start (as curvature.c does for H): a smallest Ritz
 * value at rounding level of the largest (16 eps) is a singular J, and the
 * call returns DIL_SINGULAR rather than let CG find some z when b happens
 * to avoid the null space.  With eps > 0 the caller regularises on purpose.
 * w: 3n doubles.
 */
static int check_nonsingular(dili_normal_op *op, int n, const dil_options *o, double *w)
{
    dili_ritz r;
    int st;
    if (o->cg_eps > 0.0 || o->curvature_check == 0)
        return DIL_OK;
    st = dili_spectrum(dili_normal_apply, op, n, o->curvature_check, w, NULL, &r);
    if (st != DIL_OK)
        return st;
    return r.lmin <= 16.0 * DBL_EPSILON * r.lmax ? DIL_SINGULAR : DIL_OK;
}

/* root_direct's answer when z misses cg_tol after refinement: CG (the
   Krylov path's) finishes from z. */
enum { ROOT_FINISH_BY_CG = -1 };

/*
 * The direct solve for a tiny J held densely (jd, n x n with n^2 <=
 * DILI_SMALL_JAC), in place of the Lanczos check and CG: A = J^T J + eps I
 * is formed (dili_small_gram) and, when eps = 0 and curvature_check > 0,
 * judged as check_nonsingular judges it: DIL_SINGULAR when
 * lambda_min(J^T J) <= 16 DBL_EPSILON lambda_max.  Here the eigenvalues
 * come from cyclic Jacobi on the formed matrix (all of them, the Lanczos
 * run with k = n), accurate to a few DBL_EPSILON lambda_max in absolute
 * terms, which is also the resolution of the Ritz values of products with
 * J^T J.  Then Cholesky, A = L L^T: a pivot at or below n DBL_EPSILON
 * max A_ii (A not numerically positive definite, possible only with the
 * check off or eps > 0 lost in rounding) is the dense analogue of CG
 * meeting p'Ap <= 0: DIL_CG_BREAKDOWN.  (A check that passes keeps every
 * pivot >= lambda_min > 16 DBL_EPSILON lambda_max, above that threshold
 * for n <= 8.)
 *
 * z = A^-1 b by the factor (cg_x0 is not needed: a direct solve has no
 * starting point), and cg_residual is the true relative residual
 * ||b - (J^T (J z) + eps z)|| / ||b||, through J rather than the formed A.
 * Cholesky is backward stable, so that residual is at rounding level of
 * ||A|| ||z||; when that is above cg_tol (an ill-conditioned J with a
 * small cg_tol), one step of iterative refinement, z += A^-1 (b - A z),
 * and cg_iterations = 1 (0 otherwise: the number of corrections after the
 * direct solve).  If z still misses cg_tol, ROOT_FINISH_BY_CG: CG on the
 * dense operator continues from z under its usual rules (cg_max_iter, its
 * recursive residual), so the status never claims more than the Krylov
 * path would.  b = 0 gives z = 0 after the check and without a factor, as
 * CG does.  jz, s: n doubles each.
 */
static int root_direct(dili_ctx *c, const double *jd, const double *b, double *z,
                       double *jz, double *s, const dil_options *o)
{
    int n = c->m->ny, i;
    double a[DILI_SMALL_JAC], eps = o->cg_eps, bn = dili_norm(n, b), dmax = 0.0, bad, rel;
    dil_info *in = c->info;

    in->cg_iterations = 0;
    in->cg_residual = 0.0;
    dili_small_gram(n, n, jd, 0.0, a);
    if (!dili_all_finite(n * n, a))
        return DIL_NOT_FINITE;
    if (eps == 0.0 && o->curvature_check > 0) {
        double lmin, lmax;
        dili_small_eig(n, a, &lmin, &lmax);
        if (lmin <= 16.0 * DBL_EPSILON * lmax)
            return DIL_SINGULAR;
    }
    if (bn == 0.0) {            /* after the check, before any factor: as CG */
        dili_zero(n, z);
        return DIL_OK;
    }
    for (i = 0; i < n; i++) {
        a[i * n + i] += eps;
        dmax = fmax(dmax, a[i * n + i]);
    }
    if (!dili_cholesky(n, a, n * DBL_EPSILON * dmax, &bad))
        return DIL_CG_BREAKDOWN;
    dili_copy(n, b, z);
    dili_cholesky_solve(n, a, z);
    dili_small_normal_res(n, n, jd, eps, b, z, jz, s);
    rel = dili_norm(n, s) / bn;
    if (rel > o->cg_tol && isfinite(rel)) {
        dili_cholesky_solve(n, a, s);           /* the correction A^-1 (b - A z) */
        dili_axpy(n, 1.0, s, z);
        dili_small_normal_res(n, n, jd, eps, b, z, jz, s);
        rel = dili_norm(n, s) / bn;
        in->cg_iterations = 1;
        in->cg_total += 1;
    }
    in->cg_residual = rel;
    if (!isfinite(rel))
        return DIL_NOT_FINITE;
    return rel <= o->cg_tol ? DIL_OK : ROOT_FINISH_BY_CG;
}

/*
 * (J^T J + eps I) z = b: directly for a tiny J held densely (op->jd), else
 * the Lanczos check and CG from cg_x0 (or 0), whose products are kernel
 * calls; and CG from the direct z when that missed cg_tol.  op->jv is
 * scratch (n), w holds 3n doubles.  DIL_OK, DIL_CG_MAX_ITER, DIL_SINGULAR,
 * DIL_CG_BREAKDOWN or DIL_NOT_FINITE.
 */
static int root_solve(dili_normal_op *op, const double *b, double *z, const dil_options *o,
                      double *w)
{
    dili_ctx *c = op->c;
    int n = c->m->ny, st, refined = 0, have_x0 = o->cg_x0 != NULL;
    dili_cg_problem pb;

    if (op->jd != NULL) {
        st = root_direct(c, op->jd, b, z, op->jv, w, o);
        if (st != ROOT_FINISH_BY_CG)
            return st;
        refined = c->info->cg_iterations;
        have_x0 = 1;
    } else {
        if ((st = check_nonsingular(op, n, o, w)) != DIL_OK)
            return st;
        if (have_x0)
            dili_copy(n, o->cg_x0, z);
    }
    pb = dili_cg_setup(n, dili_normal_apply, op, o->cg_eps, o->cg_tol, o->cg_max_iter);
    st = dili_cg_run(&pb, b, z, have_x0, w, c->info);
    c->info->cg_iterations += refined;
    return st;
}

/*
 * Contract: nres == ny and the residual kernels present (checked by the
 * caller: residual, residual_jvp_y, residual_vjp_y, and residual_vjp_x /
 * residual_vjp_theta for each output asked for); b (ny) finite; w holds
 * root_work doubles.  Returns DIL_OK, DIL_CG_MAX_ITER, DIL_SINGULAR (J
 * singular, found by the check), DIL_CG_BREAKDOWN (J^T J + eps I not
 * positive definite: J singular and eps = 0, met by CG or the Cholesky
 * factorisation), DIL_NOT_STATIONARY or DIL_NOT_FINITE, with the output
 * rules of dil_backward.
 */
static int root_run(dili_ctx *c, const double *y, const double *b,
                    const dili_outputs *out, const dil_options *o, double *w)
{
    const dil_model *m = c->m;
    int n = m->ny, st, fs, stationary;
    double *z = w, *a = z + n, *t = a + n, *rest = t + n, jd[DILI_SMALL_JAC];
    dil_info *in = c->info;
    dili_normal_op op = {c, y, NULL, NULL};

    /* the root condition: ||r|| (and ||J^T r|| = ||df/dy|| for info) */
    st = dili_residual_lin(c, y, a);     /* and J's state, one sweep */
    in->residual_norm = dili_norm(n, a);
    if (st != DIL_OK)
        return st;
    /* a tiny J is built once (n products); then J^T r, the solve and J z
       are dense (small.c) */
    st = dili_jtw(c, y, a, dili_small_fits(m) ? jd : NULL, t);
    op.jd = dili_small_fits(m) ? jd : NULL;
    in->grad_norm = dili_norm(n, t);
    if (st != DIL_OK)
        return st;
    stationary = in->residual_norm <= o->stationary_tol;

    /* (J^T J + eps I) z = b; the J v scratch is t */
    op.jv = t;
    st = root_solve(&op, b, z, o, rest);
    if (st != DIL_OK && st != DIL_CG_MAX_ITER)
        return st;
    if (o->cg_solution != NULL)
        dili_copy(n, z, o->cg_solution);

    /* the adjoint a = J z solves J^T a = b (to the CG tolerance) */
    if (op.jd != NULL) {
        dili_small_jv(n, n, jd, z, a);
        fs = dili_all_finite(n, a) ? DIL_OK : DIL_NOT_FINITE;
    } else {
        fs = dili_jvp(c, y, z, a);
    }
    if (fs != DIL_OK)
        return fs;
    /* dL/dx = -J_x^T a (+ direct), likewise theta */
    fs = dili_ift_out(c, DILI_MIX_RES_X, y, a, out->dl_dx, out->add_x);
    if (fs == DIL_OK)
        fs = dili_ift_out(c, DILI_MIX_RES_THETA, y, a, out->dl_dtheta, out->add_theta);
    if (fs != DIL_OK)
        return fs;
    if (!stationary)
        return DIL_NOT_STATIONARY;
    return st;
}

const dili_backward dili_root_backward = {
    DIL_BACKWARD_ROOT, "root", DILI_K_RES | DILI_K_SQUARE | DILI_K_JVP | DILI_K_RVJP,
    DILI_K_RVJP_X, DILI_K_RVJP_THETA, 1, root_work, root_run,
};
