/*
 * gauss_newton.c - Gauss-Newton with Levenberg-Marquardt damping, for
 * residual models f = 1/2 ||r(y)||^2.
 *
 * Near a zero (or small) residual the score's Hessian is J^T J plus
 * sum r_i d2r_i, and the second part vanishes; Gauss-Newton drops it, which
 * keeps the model Hessian J^T J positive semi-definite everywhere, so the
 * step solves
 *     (J^T J + lambda I) p = -J^T r
 * by the CG of cg.c with lambda as its eps.  That is exactly the paper's
 * remedy for a non-symmetric residual Jacobian (Sec. 3.1, multiply both
 * sides by J^T): each CG iteration costs two Jacobian products, J v
 * (residual_jvp_y) and J^T w (residual_vjp_y); no matrix is ever formed.
 * A tiny J (nres ny <= DILI_SMALL_JAC) is the exception: built once per
 * point from ny products, it gives the step directly (gn_direct: Cholesky
 * of J^T J + lambda I, small.c).
 *
 * Globalisation is Levenberg-Marquardt: lambda starts at 0 (pure
 * Gauss-Newton, quadratic convergence on zero-residual problems).  A step is
 * accepted when the actual decrease of f is at least armijo_c1 times the
 * decrease predicted by the Gauss-Newton model; a rejected step raises
 * lambda, which shortens and turns the step toward -J^T r: first to the
 * curvature p'J'Jp / p'p of the failed step (the scale of J^T J along it),
 * then by factors 2, 4, 8, ...; an accepted step with gain ratio
 * rho = actual / predicted lowers it by max(1/3, 1 - (2 rho - 1)^3)
 * (Nielsen's rule, smoother than x10 / /10 jumps).  Every attempt, accepted or not,
 * counts as an iteration, so max_iter bounds the work.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t gauss_newton_work(const dil_model *m, const dil_options *o)
{
    /* r, r_try, J p (nres each); g, p, y_try, b (ny each); CG r, d, Ad;
       the curvature check's block (a tiny J and its factor live on the
       stack: DILI_SMALL_JAC doubles each) */
    return dili_add(dili_add(dili_mul(3, (size_t)m->nres), dili_mul(4, (size_t)m->ny)),
                    dili_add(dili_cg_work(m->ny), dili_curv_work(m->ny)));
}

/*
 * A stationary point of 1/2 |r|^2 with r != 0 may be a saddle of f: check
 * H (the score's HVP, or differences of its gradient) by Lanczos when the
 * model has those kernels.  Gauss-Newton's own matrix J^T J is positive
 * semi-definite everywhere and cannot tell; and it does not escape (use
 * Newton for that): DIL_NOT_MINIMUM.
 */
static int gn_certify(dili_ctx *c, const double *y, const dil_options *o, double *cw)
{
    dili_curv cv = {c, y, cw};
    dili_ritz r;
    int st;
    if (o->curvature_check == 0
        || !dili_has_kernels(c->m, c->m->score_hvp_yy ? DILI_K_HVP : DILI_K_GRAD))
        return DIL_OK;
    st = dili_spectrum(dili_curv_apply, &cv, c->m->ny, o->curvature_check, cw, NULL, &r);
    if (st != DIL_OK)
        return st;
    return dili_negative(c->m, &r) ? DIL_NOT_MINIMUM : DIL_OK;
}

/* The iterate and its figures: y, r = r(y), f = |r|^2/2, g = J^T r. */
typedef struct gn_state {
    double *y, *r, *g;
    double *jd;           /* J at y held densely (dili_small_jac), or NULL */
    double f, rn;
    double lambda, nu;    /* LM damping and its growth factor */
    int fails;            /* rejected attempts in a row */
} gn_state;

/* g = J^T r at y, with r (norm rn) already in z->r; info's figures follow.
   A point with rn <= tol ends the solve, and g is then only reported
   (grad_norm): one J^T r product rather than the ny products of J. */
static int gn_gradient(dili_ctx *c, gn_state *z, double rn, double tol)
{
    int st;
    dil_info *in = c->info;
    z->rn = rn;
    z->f = 0.5 * rn * rn;
    in->score = z->f;
    in->residual_norm = rn;
    /* J held densely for the next step; at a root only grad_norm needs g,
       one J^T r product, unless the backward that follows wants J itself
       (c->keep_jac) */
    st = dili_jtw(c, z->y, z->r, z->jd != NULL && (!(rn <= tol) || c->keep_jac) ? z->jd : NULL,
                  z->g);
    in->grad_norm = dili_norm(c->m->ny, z->g);
    return st;
}

/* gn_direct's answer when J^T J + lambda I is not numerically positive
   definite: CG takes the step. */
enum { GN_BY_CG = -1 };

/*
 * The step for a tiny J held densely (z->jd): (J^T J + lambda I) p = b
 * (b = -J^T r) by Cholesky of the formed n x n matrix (small.c), exact to
 * rounding, where CG would stop at the inexact-Newton forcing term
 * min(inner_tol, sqrt(||g||)) or inner_max_iter: those two options do not
 * apply to this solve.  A pivot at or below n DBL_EPSILON max A_ii (J
 * singular, or nearly, with lambda = 0) leaves the step to CG on the same
 * dense operator (GN_BY_CG): b = -J^T r lies in the range of J^T J, where
 * CG from 0 still finds a step, as it did before this direct solve.
 * info->cg_iterations is 0 after a direct step.  DIL_OK, GN_BY_CG or
 * DIL_NOT_FINITE (p overflowed).
 */
static int gn_direct(dili_ctx *c, const gn_state *z, const double *b, double *p)
{
    int n = c->m->ny, i;
    double a[DILI_SMALL_JAC], dmax = 0.0, bad;

    dili_small_gram(c->m->nres, n, z->jd, z->lambda, a);
    for (i = 0; i < n; i++)
        dmax = fmax(dmax, a[i * n + i]);
    if (!dili_cholesky(n, a, n * DBL_EPSILON * dmax, &bad))
        return GN_BY_CG;
    dili_copy(n, b, p);
    dili_cholesky_solve(n, a, p);
    c->info->cg_iterations = 0;
    return dili_all_finite(n, p) ? DIL_OK : DIL_NOT_FINITE;
}

/*
 * The trial y + p (slope gtp, Gauss-Newton prediction pred, |Jp| = jpn):
 * accept it (y, r, g updated; lambda lowered by Nielsen's rule) or raise
 * lambda.  Returns DIL_OK either way, DIL_LINE_SEARCH when the damping
 * shrank the step to nothing or max_backtracks attempts failed in a row,
 * DIL_NOT_FINITE from J^T r at an accepted point.
 */
static int gn_attempt(dili_ctx *c, gn_state *z, const double *p, double pred,
                      double jpn, double *yt, double *rt, const dil_options *o)
{
    int n = c->m->ny, nr = c->m->nres, st;
    double ft, rtn;

    dili_step(n, z->y, 1.0, p, yt);
    if (!dili_moved(n, z->y, yt))
        return DIL_LINE_SEARCH;
    /* a non-finite trial residual is a rejected step, as in dili_armijo;
       the fused kernel leaves the trial's linearisation in the state, so
       that an accepted trial costs one sweep of the model */
    st = dili_residual_lin(c, yt, rt);
    rtn = dili_norm(nr, rt);
    ft = 0.5 * rtn * rtn;
    if (st == DIL_OK && isfinite(ft) && pred > 0.0
        && z->f - ft >= o->armijo_c1 * pred - (z->fails == 0 ? dili_armijo_slack(z->f) : 0.0)) {
        double rho = (z->f - ft) / pred, q = 2.0 * rho - 1.0;
        z->lambda *= fmax(1.0 / 3.0, 1.0 - q * q * q);
        z->nu = 2.0;
        z->fails = 0;
        dili_copy(n, yt, z->y);
        dili_copy(nr, rt, z->r);
        return gn_gradient(c, z, rtn, o->tol);
    }
    if (z->lambda == 0.0) {
        double pn = dili_norm(n, p);
        z->lambda = pn > 0.0 ? (jpn / pn) * (jpn / pn) : 1.0;
        if (!(z->lambda > 0.0))
            z->lambda = 1.0;
    } else {
        z->lambda *= z->nu;
        z->nu *= 2.0;
    }
    return ++z->fails >= o->max_backtracks ? DIL_LINE_SEARCH : DIL_OK;
}

/*
 * Contract: a residual model (nres > 0, residual kernels present), checked
 * by the caller; w holds gauss_newton_work doubles.  Stops with DIL_OK when
 * ||r|| <= tol, or ||J^T r|| <= tol and the curvature check passes (else
 * DIL_NOT_MINIMUM); else DIL_MAX_ITER, DIL_LINE_SEARCH (max_backtracks
 * rejected steps in a row) or DIL_NOT_FINITE.  y is the
 * best iterate on every return.
 */
static int gauss_newton_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, nr = c->m->nres, k, st, i;
    double *r = w, *rt = r + nr, *jp = rt + nr, *g = jp + nr, *p = g + n;
    double *yt = p + n, *b = yt + n, *cw = b + n, *vw = cw + dili_cg_work(n);
    dil_info *in = c->info;
    double jd[DILI_SMALL_JAC];
    gn_state z = {y, r, g, dili_small_fits(c->m) ? jd : NULL, 0.0, 0.0, 0.0, 2.0, 0};
    dili_normal_op op = {c, y, jp, z.jd};
    dili_cg_problem pb = dili_cg_setup(n, dili_normal_apply, &op, 0.0, 0.0,
                                       o->inner_max_iter);

    st = dili_residual_lin(c, y, r);
    if (st != DIL_OK) {
        z.rn = dili_norm(nr, r);
        in->residual_norm = z.rn;
        in->score = 0.5 * z.rn * z.rn;
        return st;
    }
    if ((st = gn_gradient(c, &z, dili_norm(nr, r), o->tol)) != DIL_OK)
        return st;
    for (k = 0;; k++) {
        double gn = dili_norm(n, g), gtp, jpn;

        in->iterations = k;
        in->score = z.f;
        in->grad_norm = gn;
        in->residual_norm = z.rn;
        if (z.rn <= o->tol)
            return DIL_OK;                      /* a root: a global minimum */
        if (gn <= o->tol)
            return gn_certify(c, y, o, vw);
        if (k >= o->max_iter)
            return DIL_MAX_ITER;

        for (i = 0; i < n; i++)
            b[i] = -g[i];
        st = z.jd != NULL ? gn_direct(c, &z, b, p) : GN_BY_CG;
        if (st == GN_BY_CG) {
            pb.eps = z.lambda;
            pb.rtol = fmin(o->inner_tol, sqrt(gn));
            st = dili_cg_run(&pb, b, p, 0, cw, in);
        }
        if (st == DIL_NOT_FINITE)
            return DIL_NOT_FINITE;
        gtp = dili_dot(n, g, p);
        if (!(gtp < 0.0)) {     /* J g = 0 at once (rounding): steepest descent */
            dili_copy(n, b, p);
            gtp = -gn * gn;
        }
        if (z.jd != NULL) {
            dili_small_jv(nr, n, z.jd, p, jp);
            st = dili_all_finite(nr, jp) ? DIL_OK : DIL_NOT_FINITE;
        } else {
            st = dili_jvp(c, y, p, jp);
        }
        if (st != DIL_OK)
            return st;
        jpn = dili_norm(nr, jp);
        /* the decrease the Gauss-Newton model predicts */
        st = gn_attempt(c, &z, p, -(gtp + 0.5 * jpn * jpn), jpn, yt, rt, o);
        if (st != DIL_OK) {
            if (st == DIL_NOT_FINITE)
                in->iterations = k + 1;
            return st;
        }
    }
}

const dili_solver dili_gauss_newton_solver = {
    DIL_SOLVER_GAUSS_NEWTON, "gauss_newton", DILI_K_RES | DILI_K_JVP | DILI_K_RVJP,
    gauss_newton_work, NULL, gauss_newton_run,
};
