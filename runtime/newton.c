/*
 * newton.c - the default forward solver: truncated Newton-CG with an Armijo
 * backtracking line search (linesearch.c).
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
 * curved valley such as Rosenbrock's the steps degrade towards steepest
 * descent: docs/solvers.md gives the measured counts.)
 * The step length comes from Armijo backtracking on the score, starting at
 * the full Newton step t = 1; when no Newton step decreases f, steepest
 * descent is tried before giving up with DIL_LINE_SEARCH.  Only decreasing
 * steps are accepted, so the current iterate is always the best one seen.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t newton_work(const dil_model *m, const dil_options *o)
{
    /* g, p, y_try (also the CG right-hand side -g), g at y_try, CG's r,
       d, Hd, then the stopping test's block */
    return dili_add(dili_add(dili_mul(4, (size_t)m->ny), dili_cg_work(m->ny)),
                    dili_descent_work(m->ny));
}

/*
 * CG stopped on a direction d with d'Hd <= 0 (hd = H d): H is indefinite
 * here, a saddle region.  The truncated iterate p alone makes little
 * progress there (near Wood's saddle it crept for tens of iterations),
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
 * The step of one iteration: Armijo along p (slope gtp), and when no
 * Newton step decreases f, along steepest descent -g before giving up.
 * On DIL_OK out holds the new point.
 */
static int newton_search(dili_ctx *c, const double *y, double f, const double *g,
                         double *p, double gtp, int steepest, const dil_options *o,
                         dili_found *out)
{
    int n = c->m->ny, i, st;
    double gn2 = dili_dot(n, g, g);
    dili_search s = {y, p, f, gtp, 1.0};

    st = dili_armijo(c, &s, o, out);
    if (st != DIL_OK && !steepest) {
        for (i = 0; i < n; i++)
            p[i] = -g[i];
        s.g0d = -gn2;
        st = dili_armijo(c, &s, o, out);
    }
    return st;
}

/*
 * The Newton direction p for H p = -g by the inner CG (forcing term as
 * relative tolerance), Steihaug-truncated, with negative curvature added;
 * *gtp = g'p < 0, *steepest when p = -g.  cw holds CG's 3n doubles.
 */
static int newton_direction(dili_ctx *c, dili_cg_problem *pb, const double *g,
                            double gn, double *p, double *rhs, double *cw,
                            double *gtp, int *steepest)
{
    int n = c->m->ny, i, cst;
    for (i = 0; i < n; i++)
        rhs[i] = -g[i];
    pb->rtol = fmin(pb->rtol, sqrt(gn));  /* pb->rtol: inner_tol on entry */
    cst = dili_cg_run(pb, rhs, p, 0, cw, c->info);
    if (cst == DIL_NOT_FINITE)
        return DIL_NOT_FINITE;
    if (cst == DIL_CG_BREAKDOWN)        /* cw + n, cw + 2n: CG's d and Hd */
        add_negative_curvature(n, g, p, cw + n, cw + 2 * n);
    /* DIL_CG_MAX_ITER: the truncated iterate is still a descent direction.
       DIL_CG_BREAKDOWN at the first inner step: p = 0, so fall back to
       steepest descent (Steihaug). */
    *gtp = dili_dot(n, g, p);
    *steepest = 0;
    if (!(*gtp < 0.0)) {        /* breakdown at once, or lost to rounding */
        for (i = 0; i < n; i++)
            p[i] = -g[i];
        *gtp = -gn * gn;
        *steepest = 1;
    }
    return DIL_OK;
}

/*
 * Contract: c, y (ny, finite), o checked by the caller; w holds
 * newton_work doubles.  Fills c->info (iterations, score, grad_norm, CG
 * figures) and returns DIL_OK, DIL_MAX_ITER, DIL_LINE_SEARCH,
 * DIL_NOT_MINIMUM or DIL_NOT_FINITE; y is the best iterate on every return.
 */
static int newton_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, st, steepest;
    double *g = w, *p = g + n, *yt = p + n, *gt = yt + n, *cw = gt + n;
    dili_iter it = {y, g, 0.0, 0.0, 0, 0, 0, cw + 3 * (size_t)n, 0, 0};
    dili_hess_op hop = {c, y};
    dili_cg_problem pb = dili_cg_setup(n, dili_hess_apply, &hop, 0.0, 0.0,
                                       o->inner_max_iter);

    if ((st = dili_start(c, y, &it.f, g)) != DIL_OK)
        return st;
    it.gn = dili_norm(n, g);
    for (;;) {
        double gtp;
        /* each trial by the fused kernel when the model has it: an
           accepted one leaves its gradient in gt and its state for the
           next direction's HVPs (one sweep per iterate) */
        dili_found to = {yt, gt, 0.0, 0.0, 0};
        int have_g;

        st = dili_stop(c, &it, o);
        if (st == DILI_ESCAPED)
            continue;
        if (st != DILI_GO_ON)
            return st;
        /* the stopping test just solved H d = g more tightly than the
           forcing term asks: p = -d, unless it is no descent direction */
        gtp = 0.0;
        steepest = 0;
        if (it.have_step) {
            dili_copy(n, it.cw, p);
            dili_scale(n, -1.0, p);
            gtp = dili_dot(n, g, p);
        }
        if (!(gtp < 0.0)) {
            pb.rtol = o->inner_tol;
            st = newton_direction(c, &pb, g, it.gn, p, yt, cw, &gtp, &steepest);
            if (st != DIL_OK)
                return st;
        }
        st = newton_search(c, y, it.f, g, p, gtp, steepest, o, &to);
        if (st == DIL_LINE_SEARCH) {
            it.failed = 1;      /* y unchanged: the best iterate */
            continue;
        }
        if (st != DIL_OK)
            return st;
        dili_copy(n, yt, y);
        /* a non-finite gradient is evaluated again, by the plain kernel,
           which reports it */
        have_g = to.have_g && dili_all_finite(n, gt);
        if (have_g)
            dili_copy(n, gt, g);
        if ((st = dili_after_step(c, &it, to.f, have_g)) != DIL_OK)
            return st;
    }
}

const dili_solver dili_newton_solver = {
    DIL_SOLVER_NEWTON, "newton", DILI_K_SCORE | DILI_K_GRAD | DILI_K_HVP,
    newton_work, NULL, newton_run,
};
