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
 *
 * Globalisation is Levenberg-Marquardt: lambda starts at 0 (pure
 * Gauss-Newton, quadratic convergence on zero-residual problems).  A step is
 * accepted when the actual decrease of f is at least armijo_c1 times the
 * decrease predicted by the Gauss-Newton model; a rejected step raises
 * lambda, which shortens and turns the step toward -J^T r: first to the
 * curvature p'J'Jp / p'p of the failed step (the scale of J^T J along it),
 * then by factors 2, 4, 8, ...; an accepted step with gain ratio
 * rho = actual / predicted lowers it by max(1/3, 1 - (2 rho - 1)^3)
 * (Nielsen's rule, smoother than x10 / /10 jumps: on Rosenbrock's residual
 * form it needs 22 attempts against 47).  Every attempt, accepted or not,
 * counts as an iteration, so max_iter bounds the work.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

size_t dili_gauss_newton_work(int ny, int nres)
{
    /* r, r_try, J p (nres each); g, p, y_try, b (ny each); CG r, d, Ad */
    return dili_add(dili_add(dili_mul(3, (size_t)nres), dili_mul(4, (size_t)ny)),
                    dili_cg_work(ny));
}

/*
 * Contract: a residual model (nres > 0, residual kernels present), checked
 * by the caller; w holds dili_gauss_newton_work(ny, nres) doubles.  Stops
 * with DIL_OK when ||J^T r|| <= tol or ||r|| <= tol; else DIL_MAX_ITER,
 * DIL_LINE_SEARCH (max_backtracks rejected steps in a row) or
 * DIL_NOT_FINITE.  y is the best iterate on every return.
 */
int dili_gauss_newton(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, nr = c->m->nres, k, st, i, fails = 0;
    double *r = w, *rt = r + nr, *jp = rt + nr, *g = jp + nr, *p = g + n;
    double *yt = p + n, *b = yt + n, *cr = b + n, *cd = cr + n, *cad = cd + n;
    double f, rn, lambda = 0.0, nu = 2.0;
    dil_info *in = c->info;
    dili_normal_op op;
    dili_cg_problem pb;

    op.c = c;
    op.y = y;
    op.jv = jp;
    pb.n = n;
    pb.apply = dili_normal_apply;
    pb.op = &op;
    pb.max_iter = o->inner_max_iter > 0 ? o->inner_max_iter : dili_default_cap(n);

    st = dili_residual(c, y, r);
    rn = dili_norm(nr, r);
    f = 0.5 * rn * rn;
    in->score = f;
    in->residual_norm = rn;
    if (st != DIL_OK)
        return st;
    st = dili_rvjp(c, y, r, g);                 /* g = df/dy = J^T r */
    in->grad_norm = dili_norm(n, g);
    if (st != DIL_OK)
        return st;

    for (k = 0;; k++) {
        double gn = dili_norm(n, g), gtp, pred, jpn, ft, rtn;
        int it, cst;

        in->iterations = k;
        in->score = f;
        in->grad_norm = gn;
        in->residual_norm = rn;
        if (gn <= o->tol || rn <= o->tol)
            return DIL_OK;
        if (k >= o->max_iter)
            return DIL_MAX_ITER;

        for (i = 0; i < n; i++)
            b[i] = -g[i];
        pb.eps = lambda;
        pb.rtol = fmin(o->inner_tol, sqrt(gn));
        cst = dili_cg(&pb, b, p, 0, cr, cd, cad, &it, &in->cg_residual);
        in->cg_iterations = it;
        in->cg_total += it;
        if (cst == DIL_NOT_FINITE)
            return DIL_NOT_FINITE;
        gtp = dili_dot(n, g, p);
        if (!(gtp < 0.0)) {     /* J g = 0 at once (rounding): steepest descent */
            dili_copy(n, b, p);
            gtp = -gn * gn;
        }
        st = dili_jvp(c, y, p, jp);
        if (st != DIL_OK)
            return st;
        jpn = dili_norm(nr, jp);
        pred = -(gtp + 0.5 * jpn * jpn);        /* decrease of the GN model */

        for (i = 0; i < n; i++)
            yt[i] = y[i] + p[i];
        if (!dili_moved(n, y, yt))
            return DIL_LINE_SEARCH;     /* damping shrank the step to nothing */
        /* a non-finite trial residual is a rejected step, as in dili_armijo */
        st = dili_residual(c, yt, rt);
        rtn = dili_norm(nr, rt);
        ft = 0.5 * rtn * rtn;
        if (st == DIL_OK && isfinite(ft) && pred > 0.0
            && f - ft >= o->armijo_c1 * pred - (fails == 0 ? dili_armijo_slack(f) : 0.0)) {
            /* Nielsen's update: shrink lambda smoothly with the model fit */
            double rho = (f - ft) / pred, q = 2.0 * rho - 1.0;
            lambda *= fmax(1.0 / 3.0, 1.0 - q * q * q);
            nu = 2.0;
            fails = 0;
            dili_copy(n, yt, y);
            dili_copy(nr, rt, r);
            f = ft;
            rn = rtn;
            st = dili_rvjp(c, y, r, g);
            if (st != DIL_OK) {
                in->iterations = k + 1;
                in->score = f;
                in->residual_norm = rn;
                in->grad_norm = dili_norm(n, g);
                return st;
            }
        } else {
            double pn = dili_norm(n, p);
            if (lambda == 0.0) {
                lambda = pn > 0.0 ? (jpn / pn) * (jpn / pn) : 1.0;
                if (!(lambda > 0.0))
                    lambda = 1.0;
            } else {
                lambda *= nu;
                nu *= 2.0;
            }
            if (++fails >= o->max_backtracks)
                return DIL_LINE_SEARCH;
        }
    }
}
