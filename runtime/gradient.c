/*
 * gradient.c - steepest descent with a weak Wolfe line search.
 *
 * The simplest forward solver: y <- y - t g with g = df/dy and t from the
 * Wolfe search of linesearch.c, whose approximate-Wolfe branch keeps it
 * making progress where the decrease in f is below rounding (an Armijo-only
 * search stalls there, within about 1e-8 of the minimiser).
 * It needs only the score and its gradient (no Hessian kernel) and each
 * step is cheap, but convergence is linear with a rate set by the condition
 * number of H: expect hundreds to many thousands of iterations, so raise
 * max_iter well above the Newton default.
 *
 * Step-size memory: the first trial is a unit-length move, t = 1/||g||
 * (capped at 1), so the first step is scale-aware; afterwards each search
 * starts at the step that minimises f along the last direction's measured
 * curvature (next_trial).  A fixed doubling rule instead let the step sit
 * near 2/L, where the iterates zig-zag and the error falls by a few percent
 * per step.
 */
#include <math.h>

#include "dil_internal.h"

static size_t gradient_work(const dil_model *m, const dil_options *o)
{
    /* g, d = -g, y_try, g_try, then the stopping test's block */
    return dili_add(dili_mul(4, (size_t)m->ny), dili_descent_work(m->ny));
}

/*
 * The first trial of the next search.  The accepted step gives the
 * curvature of f along d = -g for free, c = (g_new - g)'d / (t d'd); the
 * minimiser of a quadratic with that curvature along the next direction is
 * t = 1 / c (the Barzilai-Borwein step, Nocedal and Wright 3.6).  Without
 * positive curvature, twice the last step (doubling lets t grow back after
 * a short step through a curved valley; halving then finds a safe step).
 */
static double next_trial(int n, const double *g, const double *gnew, double t, double gn)
{
    double dv = 0.0, c;
    int i;
    for (i = 0; i < n; i++)
        dv -= (gnew[i] - g[i]) * (g[i] / gn);       /* (g_new - g)'(d/|d|) */
    c = dv / (t * gn);
    return c > 0.0 && isfinite(1.0 / c) ? 1.0 / c : 2.0 * t;
}

/*
 * Contract as newton_run: w holds gradient_work doubles; returns DIL_OK,
 * DIL_MAX_ITER, DIL_LINE_SEARCH, DIL_NOT_MINIMUM or DIL_NOT_FINITE with y
 * the best (lowest-score) iterate.
 */
static int gradient_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, st, i;
    double *g = w, *d = g + n, *yt = d + n, *gt = yt + n, t0 = 0.0;
    dili_iter it = {y, g, 0.0, 0.0, 0, 0, 0, gt + n, 0, 0};

    if ((st = dili_start(c, y, &it.f, g)) != DIL_OK)
        return st;
    it.gn = dili_norm(n, g);
    for (;;) {
        dili_found to = {yt, gt, 0.0, 0.0, 0};
        dili_search s;

        st = dili_stop(c, &it, o);
        if (st == DILI_ESCAPED) {
            t0 = 0.0;           /* a new region: a unit-length first trial */
            continue;
        }
        if (st != DILI_GO_ON)
            return st;
        if (t0 == 0.0)
            t0 = fmin(1.0, 1.0 / it.gn);
        for (i = 0; i < n; i++)
            d[i] = -g[i];
        s = (dili_search){y, d, it.f, -it.gn * it.gn, t0};
        st = dili_wolfe(c, &s, o, &to);
        if (st == DIL_LINE_SEARCH) {
            it.failed = 1;
            continue;
        }
        if (st != DIL_OK)
            return st;
        t0 = next_trial(n, g, gt, to.t, it.gn);
        dili_copy(n, yt, y);
        dili_copy(n, gt, g);
        dili_after_step(c, &it, to.f, 1);
    }
}

const dili_solver dili_gradient_solver = {
    DIL_SOLVER_GRADIENT, "gradient", DILI_K_SCORE | DILI_K_GRAD,
    gradient_work, NULL, gradient_run,
};
