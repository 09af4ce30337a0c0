/*
 * gradient.c - steepest descent with Armijo backtracking.
 *
 * The simplest forward solver: y <- y - t g with g = df/dy and t from
 * backtracking on the Armijo condition f(y - t g) <= f(y) - c1 t ||g||^2.
 * It needs only the score and its gradient (no Hessian kernel) and each
 * step is cheap, but convergence is linear with a rate set by the condition
 * number of H: expect hundreds to many thousands of iterations, so raise
 * max_iter well above the Newton default.
 *
 * Step-size memory: the first trial is a unit-length move, t = 1/||g||
 * (capped at 1), so the first step is scale-aware; afterwards each search
 * starts at twice the last accepted t.  Doubling lets t grow back after a
 * short step through a curved valley, halving finds a safe step again; the
 * net cost is about one extra score evaluation per iteration.
 */
#include <math.h>

#include "dil_internal.h"

static size_t gradient_work(const dil_model *m, const dil_options *o)
{
    return dili_mul(2, (size_t)m->ny);  /* g, y_try */
}

/*
 * Contract as newton_run: w holds gradient_work doubles; returns DIL_OK,
 * DIL_MAX_ITER, DIL_LINE_SEARCH or DIL_NOT_FINITE with y the best
 * (lowest-score) iterate.
 */
static int gradient_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, k, st;
    double *g = w, *yt = g + n;
    double f, gn, t0 = 0.0;
    dil_info *in = c->info;

    st = dili_start(c, y, &f, g);
    if (st != DIL_OK)
        return st;

    for (k = 0;; k++) {
        dili_found to = {yt, NULL, 0.0, 0.0};
        dili_search s;

        gn = dili_norm(n, g);
        if ((st = dili_stop(in, k, f, gn, o)) >= 0)
            return st;
        if (k == 0)
            t0 = fmin(1.0, 1.0 / gn);
        /* the direction is -g: negate g in place (recomputed after the step) */
        dili_scale(n, -1.0, g);
        s = (dili_search){y, g, f, -gn * gn, t0};
        st = dili_armijo(c, &s, o, &to);
        if (st != DIL_OK)
            return st;
        t0 = 2.0 * to.t;
        dili_copy(n, yt, y);
        f = to.f;
        if ((st = dili_after_step(c, k, y, f, g)) != DIL_OK)
            return st;
    }
}

const dili_solver dili_gradient_solver = {
    DIL_SOLVER_GRADIENT, "gradient", DILI_K_SCORE | DILI_K_GRAD,
    gradient_work, NULL, gradient_run,
};
