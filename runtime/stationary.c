/*
 * stationary.c - the one convergence criterion of the score form, shared by
 * the forward solvers' stopping test (descent.c) and the backward's
 * stationarity check (backward.c), so that the two cannot disagree.
 *
 * The criterion is a distance in y: the length of the Newton step,
 *     dist = ||H^-1 g||,   g = df/dy, H = d2f/dy2 at y,
 * the distance to the stationary point that the local quadratic model
 * predicts.  It is scale-free (multiplying f by any constant leaves it
 * unchanged, unlike ||g||) and it is the quantity the IFT's error follows:
 * the backward evaluated at y instead of y* is off by about the
 * derivative of the IFT formula times ||y - y*||.
 *
 * Why not cheaper bounds.  The forward used the Cauchy step along g,
 * ||g|| / (g'Hg / g'g), a lower bound of dist; the backward took the
 * larger of that and ||g|| / lambda_min, an upper bound.  On a stiff and
 * flat problem the two are orders of magnitude apart: on the cart-pole MPC
 * of issue 10 (eigenvalues of H from 0.02 to 3e5) the forward stopped where
 * the Cauchy step was 2e-9 and the Newton step 3e-7, and the backward then
 * measured ||g|| / lambda_min = 6e-6 and returned DIL_NOT_STATIONARY at 328
 * of 4800 plans the forward had accepted with DIL_OK.  The Newton step is
 * between the two: the Cauchy step said "converged" where y was 150 times
 * tol from y*, and the lambda_min bound said "not stationary" where the
 * smallest eigenvector carried no gradient at all.
 *
 * dist is computed by CG from 0 on (H + eps I) d = g (cg.c) to a relative
 * residual DILI_DIST_RTOL, at most 2 ny products (ny in exact arithmetic,
 * as many again for rounding: where H is nearly singular, as at Powell's
 * minimum, CG stalls at a residual of about eps cond(H) and more products
 * buy nothing).  The norms of the CG iterates grow monotonically towards
 * ||d*|| (Steihaug), so the last iterate is a lower bound that is as good
 * as rounding allows once the cap is reached.  A CG that meets
 * non-positive curvature gives no estimate (-1): the quadratic model has
 * no minimum.  The computation is deterministic, so the forward and the
 * backward get the same number at the same y with the same kernels
 * (eps = 0; eps > 0 only shortens d: ||(H + eps I)^-1 g|| falls as eps
 * grows).
 *
 * The two decisions built on it:
 *   forward converged  when dist >= 0, dist <= step_tol (1 + ||y||) (step_tol
 *                      0 means tol), and either ||g|| <= tol, or the decrease
 *                      left, at most ||g|| dist, is below the rounding of f
 *                      (32 eps |f|), or dist is below the rounding unit of y
 *                      (16 eps (1 + ||y||));
 *   backward stationary when ||g|| = 0, or dist >= 0 and
 *                      dist <= stationary_tol (1 + ||y||); with no estimate
 *                      (dist < 0), when ||g|| <= stationary_tol.
 * So a y the forward accepted passes the backward's test whenever
 * step_tol <= stationary_tol (the defaults: 1e-10 and 1e-6).  The
 * backward need not always finish the CG: dili_newton_within stops it
 * once a lower or an upper bound of dist settles the verdict.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

/* The whole CG: dili_newton_within with no bound to end it early. */
int dili_newton_distance(dili_apply_fn apply, void *op, int n, const double *g,
                         double eps, double *d, double *w, double *dist)
{
    return dili_newton_within(apply, op, n, g, eps, HUGE_VAL, 0.0, d, w, dist);
}

/* The bounds of dili_newton_within, checked after each CG iteration. */
typedef struct within {
    int n;
    double thr, lo;
    int known;            /* 1: stationary, -1: not, 0: CG to its end */
    double dist;
} within;

static int decided(void *ctx, const double *d, double rnorm)
{
    within *w = (within *)ctx;
    double dn = dili_norm(w->n, d);
    if (dn > w->thr) {
        w->known = -1;
        w->dist = dn;
    } else if (w->lo > 0.0 && dn + rnorm / w->lo <= w->thr) {
        w->known = 1;
        w->dist = dn + rnorm / w->lo;
    }
    return w->known != 0;
}

/*
 * Why the early ends keep the forward and the backward in agreement: with
 * the same operator the iterates are the forward's, whose norms grow to
 * the dist the forward accepted (<= step_tol (1 + ||y||) <= thr), so the
 * lower bound never exceeds thr on the way; the upper bound only says
 * "stationary" sooner.  A well-solved y is usually decided before the
 * first product: ||g|| / lambda_min <= thr.
 */
int dili_newton_within(dili_apply_fn apply, void *op, int n, const double *g,
                       double eps, double thr, double lo, double *d, double *w,
                       double *dist)
{
    dili_cg_problem pb = dili_cg_setup(n, apply, op, eps, DILI_DIST_RTOL, 2 * n);
    within v = {n, thr, lo, 0, -1.0};
    double relres;
    int it, st;

    dili_zero(n, d);
    if (decided(&v, d, dili_norm(n, g))) {
        *dist = v.dist;
        return DIL_OK;
    }
    if (thr < HUGE_VAL || lo > 0.0) {     /* a bound that can end it early */
        pb.watch = decided;
        pb.watch_ctx = &v;
    }
    st = dili_cg(&pb, g, d, 0, w, w + n, w + 2 * (size_t)n, &it, &relres);
    if (v.known != 0)
        *dist = v.dist;
    else
        *dist = st == DIL_OK || st == DIL_CG_MAX_ITER ? dili_norm(n, d) : -1.0;
    return st == DIL_NOT_FINITE ? DIL_NOT_FINITE : DIL_OK;
}

int dili_forward_converged(double dist, double gn, double f, double yn,
                           const dil_options *o)
{
    double stol = o->step_tol > 0.0 ? o->step_tol : o->tol;
    if (gn == 0.0)
        return 1;
    return dist >= 0.0 && dist <= stol * (1.0 + yn)
           && (gn <= o->tol || gn * dist <= 32.0 * DBL_EPSILON * fabs(f)
               || dist <= 16.0 * DBL_EPSILON * (1.0 + yn));
}

int dili_backward_stationary(double dist, double gn, double yn, const dil_options *o)
{
    if (gn == 0.0 || isinf(o->stationary_tol))
        return 1;
    if (dist < 0.0)
        return gn <= o->stationary_tol;
    return dist <= o->stationary_tol * (1.0 + yn);
}
