/*
 * linesearch.c - the line searches of the descent solvers: Armijo
 * backtracking (Newton-CG) and a weak Wolfe search that also works at
 * rounding level (L-BFGS, gradient descent).
 *
 * Both look along a descent direction d from y (score f0, slope
 * g0d = g'd < 0) for a step t with sufficient decrease
 *     f(y + t d) <= f0 + c1 t g0d                     (Armijo)
 * and the Wolfe search also for a flattened slope
 *     g(y + t d)'d >= c2 g0d                           (curvature).
 * Two rules are shared:
 *   - A non-finite trial score (a too-long step overflowing, or leaving the
 *     model's domain) is a rejected step, not a model failure: the accepted
 *     iterates stay finite and we simply shorten the step.
 *   - A trial that no longer changes y in floating point ends the search
 *     with DIL_LINE_SEARCH: once t d is below the rounding unit of y the
 *     "new" point passes any decrease test with slack, and a solver fed a
 *     wrong gradient would spin in place until max_iter.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

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

/*
 * Where differences of f stop meaning anything.  f rounds at eps times the
 * size of its terms, not of f: when terms cancel (a quadratic, a softplus
 * and a linear term of size 1 summing to f = 1e-3) the rounding of f is
 * hundreds of ulps of |f|, and a test within a few ulps of |f0| (the slack
 * above, or the 16 eps |f0| this band used to be) still rejects every step
 * near the minimum: Newton ended in DIL_LINE_SEARCH on 34 of 20000 random
 * solves of python/tests/models/smooth.dil at tol 1e-10, L-BFGS on 48 and
 * gradient descent on 92.  Within this band, steps are judged by slopes
 * instead (approximate Wolfe, below): Hager and Zhang use 1e-6 |f0|; we
 * take sqrt(eps) |f0|, and only where the predicted decrease is inside the
 * band too, i.e. where f cannot tell.
 */
double dili_flat_band(double f0)
{
    return sqrt(DBL_EPSILON) * fabs(f0);
}

/* The approximate Wolfe conditions of Hager and Zhang at slope dg:
   c2 g0d <= dg <= (2 c1 - 1) g0d, the Armijo test written with slopes for
   a quadratic along d. */
static int slopes_pass(const dili_search *s, const dil_options *o, double dg)
{
    return dg >= o->wolfe_c2 * s->g0d && dg <= (2.0 * o->armijo_c1 - 1.0) * s->g0d;
}

/* 1 when trial i at step t (score f) passes the sufficient decrease test. */
static int decreases(const dili_search *s, const dil_options *o, int i,
                     double t, double f)
{
    double slack = i == 0 ? dili_armijo_slack(s->f0) : 0.0;
    return isfinite(f) && f <= s->f0 + o->armijo_c1 * t * s->g0d + slack;
}

/* The trial point y + t d and its score *f; 0 when it equals y.  With
   g_try (not NULL), the fused kernel's one sweep also gives the gradient
   there (*have_g = 1; it may be non-finite, which the caller checks as
   it would its own gradient evaluation) and the state of a Newton step
   from it. */
static int trial(dili_ctx *c, const dili_search *s, double t, double *y_try,
                 double *g_try, double *f, int *have_g)
{
    int n = c->m->ny;
    dili_step(n, s->y, t, s->d, y_try);
    if (!dili_moved(n, s->y, y_try))
        return 0;
    *have_g = g_try != NULL && dili_fused_score(c);
    if (!*have_g)
        *f = dili_score(c, y_try);
    else
        (void)dili_score_grad(c, y_try, f, g_try);
    return 1;
}

int dili_armijo(dili_ctx *c, const dili_search *s, const dil_options *o,
                dili_found *out)
{
    int i, st;
    double t = s->t0, f, band = dili_flat_band(s->f0);

    out->have_g = 0;
    for (i = 0; i < o->max_backtracks
                && trial(c, s, t, out->y_try, out->g_try, &f, &out->have_g); i++) {
        if (decreases(s, o, i, t, f)) {
            out->f = f;
            out->t = t;
            return DIL_OK;
        }
        /* the first trial, where f cannot tell: judge it by slopes (the
           fused kernel's gradient, or one more gradient, which the caller
           keeps when the step is taken; a non-finite one fails the test) */
        if (i == 0 && out->g_try != NULL && isfinite(f) && f <= s->f0 + band
            && -t * s->g0d <= band) {
            if (!out->have_g) {
                if ((st = dili_grad(c, out->y_try, out->g_try)) != DIL_OK)
                    return st;
                out->have_g = 1;
            }
            if (slopes_pass(s, o, dili_dot(c->m->ny, out->g_try, s->d))) {
                out->f = f;
                out->t = t;
                return DIL_OK;
            }
        }
        t *= 0.5;
    }
    return DIL_LINE_SEARCH;
}

/*
 * Weak Wolfe by doubling and bisection (Lewis and Overton): a step that
 * fails the decrease test is too long, one that passes it with the slope
 * still steep is too short.
 *
 * Near a minimum the decrease c1 t g0d is below the rounding error of f and
 * no step can pass the Armijo test, although the gradient is still far from
 * its own rounding floor (f rounds at eps |f|, g at about eps |g terms|).
 * There the search uses the approximate Wolfe conditions of Hager and Zhang
 * (2005): when f(y + t d) is within rounding of f0 (dili_flat_band), the
 * step is judged by slopes alone,
 *     c2 g0d <= g(y + t d)'d <= (2 c1 - 1) g0d,
 * which for a quadratic along d is the Armijo test written with
 * derivatives, and derivatives keep their accuracy where differences of f
 * lose it.  A wrong gradient does not get through: its slope never
 * flattens along d, so the step is "too short" at every t whose f is within
 * rounding, and "too long" beyond.
 *
 * If the curvature test is never met but some step passed the (exact)
 * Armijo test, the longest such step is taken (the caller's BFGS pair may
 * then be skipped).  A non-finite gradient at a point whose score is finite
 * and decreasing is a kernel fault: DIL_NOT_FINITE.
 */
int dili_wolfe(dili_ctx *c, const dili_search *s, const dil_options *o,
               dili_found *out)
{
    int n = c->m->ny, i, st;
    double lo = 0.0, hi = HUGE_VAL, t = s->t0, f, t_ok = 0.0;
    double flat = dili_flat_band(s->f0);
    int unused;

    for (i = 0; i < o->max_backtracks && trial(c, s, t, out->y_try, NULL, &f, &unused);
         i++) {
        /* no first-trial slack here: within rounding of f0, the slopes
           decide (below); with the slack, a step to the mirror point of a
           minimum along d would pass, and the iterates would ping-pong */
        int armijo = isfinite(f) && f <= s->f0 + o->armijo_c1 * t * s->g0d;
        double dg;
        if (!armijo && !(isfinite(f) && f <= s->f0 + flat)) {
            hi = t;                             /* too long */
        } else {
            if ((st = dili_grad(c, out->y_try, out->g_try)) != DIL_OK)
                return st;
            dg = dili_dot(n, out->g_try, s->d);
            if (dg >= o->wolfe_c2 * s->g0d && (armijo || slopes_pass(s, o, dg))) {
                out->f = f;
                out->t = t;
                return DIL_OK;
            }
            if (dg < o->wolfe_c2 * s->g0d) {
                lo = t;                         /* still steep: too short */
                if (armijo)
                    t_ok = t;
            } else {
                hi = t;                         /* past the minimum along d */
            }
        }
        t = isinf(hi) ? 2.0 * t : 0.5 * (lo + hi);
    }
    if (t_ok == 0.0)
        return DIL_LINE_SEARCH;
    dili_step(n, s->y, t_ok, s->d, out->y_try);
    out->f = dili_score(c, out->y_try);
    st = dili_grad(c, out->y_try, out->g_try);
    if (st != DIL_OK || !isfinite(out->f))
        return DIL_NOT_FINITE;
    out->t = t_ok;
    return DIL_OK;
}
