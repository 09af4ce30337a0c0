/*
 * newton.c - the default forward solver: truncated Newton-CG with an Armijo
 * backtracking line search, and that line search itself.
 *
 * Each iteration solves the Newton system H p = -g (H = d2f/dy2, g = df/dy)
 * approximately with CG on Hessian-vector products only, the same cg.c the
 * backward pass uses.  Two devices make it usable far from the minimum,
 * where H may be indefinite:
 *   - Steihaug truncation: when CG meets a direction of non-positive
 *     curvature it stops and returns the iterate reached so far, which is a
 *     descent direction (every CG iterate from 0 is, while the curvature
 *     stays positive); if that happens at the very first inner iteration
 *     the step is steepest descent, -g.  The offending direction itself is
     then added to the step (add_negative_curvature), so that a saddle
     region is left along the direction in which f falls fastest.
 *   - The inner tolerance is the forcing term eta = min(inner_tol, sqrt(||g||))
 *     relative to ||g||: loose far away (cheap steps), tight near the
 *     solution, which keeps the local convergence superlinear.
 * (inner_tol caps eta; the classic cap 1/2 truncates so early that in a
 * curved valley such as Rosenbrock's the steps degrade to steepest descent:
 * 64 iterations there against 23 with the default 1e-2.)
 * The step length comes from Armijo backtracking on the score, starting at
 * the full Newton step t = 1; when no Newton step decreases f, steepest
 * descent is tried before giving up with DIL_LINE_SEARCH.  Only decreasing
 * steps are accepted, so the current iterate is always the best one seen.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

size_t dili_newton_work(int ny)
{
    /* g, p, y_try (also the CG right-hand side -g), CG's r, d, Hd */
    return dili_add(dili_mul(3, (size_t)ny), dili_cg_work(ny));
}

/*
 * The Armijo test compares f values that, near a minimum, differ by less
 * than their own rounding error: with ||g|| ~ 1e-9 the predicted decrease
 * is ~1e-18 while f itself may be ~1.  Allowing a few ulps of |f0| lets the
 * final, tiny Newton steps through instead of reporting a spurious
 * line-search failure (the same idea as the "approximate Wolfe" condition
 * of Hager and Zhang, with a much smaller slack).  The slack applies to the
 * first trial step only: on backtracked steps it would accept increases of
 * a few ulps, and a solver fed a wrong gradient would creep uphill one ulp
 * per iteration instead of reporting DIL_LINE_SEARCH.
 */
double dili_armijo_slack(double f0)
{
    return 8.0 * DBL_EPSILON * fabs(f0);
}

int dili_armijo(dili_ctx *c, const double *y, double f0, const double *d,
                double g0d, double t0, const dil_options *o,
                double *y_try, double *f_try, double *t_out)
{
    int n = c->m->ny, i, j;
    double t = t0, slack = dili_armijo_slack(f0);

    for (i = 0; i < o->max_backtracks; i++) {
        double f;
        for (j = 0; j < n; j++)
            y_try[j] = y[j] + t * d[j];
        if (!dili_moved(n, y, y_try))
            break;
        f = dili_score(c, y_try);
        /* A non-finite trial score (a too-long step overflowing, or leaving
           the model's domain) is a rejected step, not a model failure: the
           accepted iterates stay finite and we simply shorten the step. */
        if (isfinite(f) && f <= f0 + o->armijo_c1 * t * g0d + (i == 0 ? slack : 0.0)) {
            *f_try = f;
            *t_out = t;
            return DIL_OK;
        }
        t *= 0.5;
    }
    return DIL_LINE_SEARCH;
}

/*
 * CG stopped on a direction d with d'Hd <= 0 (hd = H d): H is indefinite
 * here, a saddle region.  The truncated iterate p alone makes little
 * progress there (near Wood's saddle, f fell by 1e-3 over 50 iterations),
 * because the gradient is small and p ignores the one direction along
 * which f falls fastest.  Add that direction: q = d/|d|, signed so that
 * g'q <= 0, times tau = max(|p|, |kappa|) with kappa = d'Hd/d'd, the
 * curvature along it (the step |kappa|/L of negative-curvature methods
 * with a unit Hessian Lipschitz constant; Armijo backtracking corrects
 * the scale).  g'p only decreases, so p stays a descent direction.
 */
static void add_negative_curvature(int n, const double *g, double *p,
                                   const double *d, const double *hd)
{
    double dn = dili_norm(n, d), dhd = dili_dot(n, d, hd), kappa, tau, s;
    if (!(dn > 0.0) || !(dhd < 0.0) || !isfinite(dhd))
        return;
    kappa = dhd / (dn * dn);
    tau = fmax(dili_norm(n, p), -kappa);
    s = (dili_dot(n, g, d) > 0.0 ? -tau : tau) / dn;
    if (isfinite(s))
        dili_axpy(n, s, d, p);
}

/*
 * Contract: c, y (ny, finite), o checked by the caller; w holds
 * dili_newton_work(ny) doubles.  Fills c->info (iterations, score,
 * grad_norm, CG figures) and returns DIL_OK, DIL_MAX_ITER,
 * DIL_LINE_SEARCH or DIL_NOT_FINITE; y is the best iterate on every return.
 */
int dili_newton(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, k, st, i;
    double *g = w, *p = g + n, *yt = p + n, *r = yt + n, *d = r + n, *hd = d + n;
    double f, gn;
    dil_info *in = c->info;
    dili_hess_op hop;
    dili_cg_problem pb;

    hop.c = c;
    hop.y = y;
    pb.n = n;
    pb.apply = dili_hess_apply;
    pb.op = &hop;
    pb.eps = 0.0;
    pb.max_iter = o->inner_max_iter > 0 ? o->inner_max_iter : dili_default_cap(n);

    st = dili_start(c, y, &f, g);
    if (st != DIL_OK)
        return st;

    for (k = 0;; k++) {
        double gtp, ft = 0.0, t = 0.0;
        int it, cst, steepest = 0;

        gn = dili_norm(n, g);
        if ((st = dili_stop(in, k, f, gn, o)) >= 0)
            return st;

        /* inner CG on H p = -g with the forcing term as relative tolerance */
        for (i = 0; i < n; i++)
            yt[i] = -g[i];
        pb.rtol = fmin(o->inner_tol, sqrt(gn));
        cst = dili_cg(&pb, yt, p, 0, r, d, hd, &it, &in->cg_residual);
        in->cg_iterations = it;
        in->cg_total += it;
        if (cst == DIL_NOT_FINITE)
            return DIL_NOT_FINITE;
        if (cst == DIL_CG_BREAKDOWN)
            add_negative_curvature(n, g, p, d, hd);
        /* DIL_CG_MAX_ITER: the truncated iterate is still a descent
           direction.  DIL_CG_BREAKDOWN at the first inner step: p = 0, so
           fall back to steepest descent (Steihaug). */
        gtp = dili_dot(n, g, p);
        if (!(gtp < 0.0)) {     /* breakdown at once, or lost to rounding */
            for (i = 0; i < n; i++)
                p[i] = -g[i];
            gtp = -gn * gn;
            steepest = 1;
        }
        st = dili_armijo(c, y, f, p, gtp, 1.0, o, yt, &ft, &t);
        if (st != DIL_OK && !steepest) {
            for (i = 0; i < n; i++)
                p[i] = -g[i];
            st = dili_armijo(c, y, f, p, -gn * gn, 1.0, o, yt, &ft, &t);
        }
        if (st != DIL_OK)
            return st;          /* y unchanged: the best iterate */
        dili_copy(n, yt, y);
        f = ft;
        st = dili_grad(c, y, g);
        if (st != DIL_OK) {
            in->iterations = k + 1;
            in->score = f;
            in->grad_norm = dili_norm(n, g);
            return st;
        }
    }
}
