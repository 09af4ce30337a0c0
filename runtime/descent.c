/*
 * descent.c - what every descent solver (Newton, L-BFGS, gradient descent)
 * shares: its start, the gradient after a step, and the stopping test,
 * which certifies a minimum before it says DIL_OK.
 *
 * The stopping test (docs/solvers.md, "Stopping rule") has three parts.
 *   1. A candidate: ||g|| <= tol, or the last step changed f by rounding
 *      only, or the line search failed.
 *   2. Scaled: the Newton step dist = ||H^-1 g|| (stationary.c, by CG;
 *      the backward's stationarity check computes the same number), the
 *      distance to the minimiser that the local quadratic model predicts.
 *      Converged when dist <= step_tol (1 + ||y||) (step_tol 0, the
 *      default, means tol: for unit curvature the two tests then agree)
 *      and either ||g|| <= tol, or the remaining model decrease
 *      ||g|| dist is below the rounding error of f (32 eps |f|), or dist
 *      is below the rounding unit of y (16 eps (1 + ||y||)).  A small
 *      gradient alone is not enough: the score w (y - x)^2 + y^4 with
 *      w = 1e-12 has ||g|| = 2e-12 at y = 0, where its minimiser is 1
 *      away; and a score of size 1e8 has a gradient whose rounding floor
 *      is above any absolute tol, but whose Newton step there is at
 *      rounding level.
 *   3. Certified: when curvature_check > 0, a few Lanczos steps on H from a
 *      random start (curvature.c).  A clearly negative smallest Ritz value
 *      means a saddle or a maximum: the solver leaves it along the Ritz
 *      vector (an escape step, with backtracking on f) and goes on; if no
 *      decrease can be found along it, DIL_NOT_MINIMUM.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

size_t dili_descent_work(int n)
{
    /* the curvature block, then the escape's trial point */
    return dili_add(dili_curv_work(n), (size_t)n);
}

int dili_start(dili_ctx *c, const double *y, double *f, double *g)
{
    /* f and g in one sweep when the model has the fused kernel */
    int st = dili_score_grad(c, y, f, g);
    c->info->score = *f;
    if (!isfinite(*f))
        return DIL_NOT_FINITE;
    c->info->grad_norm = dili_norm(c->m->ny, g);
    return st;
}

int dili_after_step(dili_ctx *c, dili_iter *it, double f_new, int have_g)
{
    int st = have_g ? DIL_OK : dili_grad(c, it->y, it->g);
    it->stalled = fabs(it->f - f_new) <= 32.0 * DBL_EPSILON * fabs(f_new);
    it->f = f_new;
    it->gn = dili_norm(c->m->ny, it->g);
    it->k++;
    it->failed = 0;
    if (st != DIL_OK) {
        c->info->iterations = it->k;
        c->info->score = f_new;
        c->info->grad_norm = it->gn;
    }
    return st;
}

/* Part 2 of the test: *ok = 1 when the Newton step is small
   (stationary.c, shared with the backward). */
static int step_small(dili_ctx *c, dili_iter *it, const dil_options *o,
                      int *ok)
{
    int n = c->m->ny, st;
    double dist;
    dili_curv cv = {c, it->y, it->cw};

    *ok = 0;
    if (it->gn == 0.0) {
        *ok = 1;
        return DIL_OK;
    }
    /* the step and CG's 3n doubles are the Lanczos block and the Ritz
       vector, idle here; the difference-quotient operator uses the rest */
    st = dili_newton_distance(dili_curv_apply, &cv, n, it->g, 0.0, it->cw, it->cw + n,
                              &dist);
    if (st != DIL_OK)
        return st;
    *ok = dili_forward_converged(dist, it->gn, it->f, dili_norm(n, it->y), o);
    it->have_step = dist >= 0.0;
    return DIL_OK;
}

/* 1 when the Ritz values say H has a clearly negative eigenvalue. */
int dili_negative(const dil_model *m, const dili_ritz *r)
{
    /* relative to |H|: rounding makes a zero eigenvalue about -eps |H|;
       the difference quotient is less accurate than an HVP kernel */
    double tau = m->score_hvp_yy != NULL ? 1e-8 : 1e-5;
    return r->lmin < -tau * fmax(fabs(r->lmin), fabs(r->lmax));
}

/*
 * Part 3 and the escape.  Returns DIL_OK (H positive semi-definite as far
 * as Lanczos sees), DILI_ESCAPED (y, f, g moved along negative curvature),
 * DIL_NOT_MINIMUM (negative curvature and no decrease along it) or
 * DIL_NOT_FINITE.
 */
static int certify(dili_ctx *c, dili_iter *it, const dil_options *o)
{
    int n = c->m->ny, i, st;
    double *u = it->cw + 3 * (size_t)n, *yt = it->cw + dili_curv_work(n);
    double gu, t;
    dili_curv cv = {c, it->y, it->cw};
    dili_ritz r;

    st = dili_spectrum(dili_curv_apply, &cv, n, o->curvature_check, it->cw, NULL, &r);
    if (st != DIL_OK || !dili_negative(c->m, &r))
        return st;
    if (it->no_escape)
        return DIL_NOT_MINIMUM;
    st = dili_spectrum(dili_curv_apply, &cv, n, o->curvature_check, it->cw, u, &r);
    if (st != DIL_OK)
        return st;
    gu = dili_dot(n, it->g, u);
    if (gu > 0.0) {
        dili_scale(n, -1.0, u);
        gu = -gu;
    }
    /* f(y + t u) ~ f + t g'u + lmin t^2 / 2: any t decreases the model;
       start at the scale of y and backtrack on a fraction of that decrease */
    t = fmax(1.0, dili_norm(n, it->y));
    for (i = 0; i < o->max_backtracks; i++, t *= 0.5) {
        double ft;
        dili_step(n, it->y, t, u, yt);
        if (!dili_moved(n, it->y, yt))
            break;
        ft = dili_score(c, yt);
        if (isfinite(ft) && ft < it->f
            && ft <= it->f + o->armijo_c1 * (t * gu + 0.5 * r.lmin * t * t)) {
            dili_copy(n, yt, it->y);
            st = dili_after_step(c, it, ft, 0);
            return st == DIL_OK ? DILI_ESCAPED : st;
        }
    }
    return DIL_NOT_MINIMUM;
}

int dili_stop(dili_ctx *c, dili_iter *it, const dil_options *o)
{
    dil_info *in = c->info;
    int st, ok = 0;

    in->iterations = it->k;
    in->score = it->f;
    in->grad_norm = it->gn;
    it->have_step = 0;
    if (it->gn <= o->tol || it->stalled || it->failed) {
        if ((st = step_small(c, it, o, &ok)) != DIL_OK)
            return st;
    }
    /* certify a converged point; after a failed search, look for a way out */
    if ((ok || it->failed) && o->curvature_check > 0) {
        it->have_step = 0;      /* Lanczos overwrites it */
        st = certify(c, it, o);
        if (st != DIL_OK)
            return st;
    }
    if (ok) {
        /* for a backward at this point in the same call (step.c) */
        if (dili_kept(c, it->y, DILI_LIN_SCORE))
            c->lin_valid |= DILI_LIN_CERT;
        return DIL_OK;
    }
    if (it->failed)
        return DIL_LINE_SEARCH;
    return it->k >= o->max_iter ? DIL_MAX_ITER : DILI_GO_ON;
}
