/*
 * lbfgs.c - limited-memory BFGS with a weak Wolfe line search.
 *
 * The direction is d = -B^-1 g, where B^-1 is the BFGS inverse-Hessian
 * approximation built from the last `lbfgs_memory` pairs s = y_new - y,
 * v = g_new - g and applied by the classic two-loop recursion (Nocedal and
 * Wright, Algorithm 7.4) with the initial scaling gamma = s'v / v'v of the
 * newest pair.  It needs only the score and its gradient, costs O(m ny) per
 * step, and converges superlinearly on smooth problems.
 *
 * BFGS stays positive definite only if every stored pair has s'v > 0.  An
 * Armijo-only search does not guarantee that, so the step satisfies the
 * weak Wolfe conditions
 *     f(y + t d) <= f(y) + c1 t g'd        (sufficient decrease)
 *     g(y + t d)'d >= c2 g'd                (curvature),
 * found by doubling/bisection (Lewis and Overton); a pair whose s'v is not
 * safely positive anyway (rounding) is skipped rather than stored.  When
 * the quasi-Newton direction fails, the memory is dropped and steepest
 * descent is tried before giving up with DIL_LINE_SEARCH.
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

size_t dili_lbfgs_work(int ny, int mem)
{
    /* S, V (mem*ny each), rho and alpha (mem each), g, g_new, d, y_try */
    size_t pairs = dili_mul(dili_mul(2, (size_t)mem), (size_t)ny);
    return dili_add(dili_add(pairs, dili_mul(2, (size_t)mem)),
                    dili_mul(4, (size_t)ny));
}

/*
 * Weak Wolfe search along d from y (score f0, slope g0d < 0).  On DIL_OK
 * y_try = y + t d, *f_try and g_try its score and gradient.  Returns DIL_OK,
 * DIL_LINE_SEARCH or DIL_NOT_FINITE (a non-finite gradient at a point whose
 * score is finite and decreasing: a kernel fault, not a long step).
 */
static int wolfe(dili_ctx *c, const double *y, double f0, const double *d,
                 double g0d, double t0, const dil_options *o,
                 double *y_try, double *f_try, double *g_try, double *t_out)
{
    int n = c->m->ny, i, j, st;
    double lo = 0.0, hi = HUGE_VAL, t = t0, slack = dili_armijo_slack(f0);

    for (i = 0; i < o->max_backtracks; i++) {
        double f;
        for (j = 0; j < n; j++)
            y_try[j] = y[j] + t * d[j];
        if (!dili_moved(n, y, y_try))
            break;                               /* t below rounding: give up */
        f = dili_score(c, y_try);
        if (!isfinite(f) || f > f0 + o->armijo_c1 * t * g0d + (i == 0 ? slack : 0.0)) {
            hi = t;                              /* too long */
        } else {
            st = dili_grad(c, y_try, g_try);
            if (st != DIL_OK)
                return st;
            if (dili_dot(n, g_try, d) < o->wolfe_c2 * g0d) {
                lo = t;                          /* still steep: too short */
            } else {
                *f_try = f;
                *t_out = t;
                return DIL_OK;
            }
        }
        t = isinf(hi) ? 2.0 * t : 0.5 * (lo + hi);
    }
    if (lo > 0.0) {
        /* The curvature condition was never met but lo satisfies the
           sufficient decrease: take it (the pair may then be skipped). */
        for (j = 0; j < n; j++)
            y_try[j] = y[j] + lo * d[j];
        *f_try = dili_score(c, y_try);
        st = dili_grad(c, y_try, g_try);
        if (st != DIL_OK || !isfinite(*f_try))
            return DIL_NOT_FINITE;
        *t_out = lo;
        return DIL_OK;
    }
    return DIL_LINE_SEARCH;
}

/*
 * Contract as dili_newton: w holds dili_lbfgs_work(ny, o->lbfgs_memory)
 * doubles; returns DIL_OK, DIL_MAX_ITER, DIL_LINE_SEARCH or DIL_NOT_FINITE
 * with y the best (lowest-score) iterate.
 */
int dili_lbfgs(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, mem = o->lbfgs_memory, k, st, i, j;
    double *S = w, *V = S + (size_t)mem * n, *rho = V + (size_t)mem * n;
    double *alpha = rho + mem, *g = alpha + mem, *gt = g + n, *d = gt + n;
    double *yt = d + n;
    int count = 0, head = 0;        /* pairs stored; next slot to write */
    double f, gn;
    dil_info *in = c->info;

    st = dili_start(c, y, &f, g);
    if (st != DIL_OK)
        return st;

    for (k = 0;; k++) {
        double gd, ft = 0.0, t = 0.0, t0, sv, sn, vn;

        gn = dili_norm(n, g);
        if ((st = dili_stop(in, k, f, gn, o)) >= 0)
            return st;

        /* two-loop recursion: d = -B^-1 g */
        dili_copy(n, g, d);
        for (i = 0; i < count; i++) {          /* newest to oldest */
            int s = (head - 1 - i + mem) % mem;
            alpha[s] = rho[s] * dili_dot(n, S + (size_t)s * n, d);
            dili_axpy(n, -alpha[s], V + (size_t)s * n, d);
        }
        if (count > 0) {
            int s = (head - 1 + mem) % mem;
            const double *vs = V + (size_t)s * n;
            dili_scale(n, 1.0 / (rho[s] * dili_dot(n, vs, vs)), d);   /* gamma */
        }
        for (i = count - 1; i >= 0; i--) {     /* oldest to newest */
            int s = (head - 1 - i + mem) % mem;
            double beta = rho[s] * dili_dot(n, V + (size_t)s * n, d);
            dili_axpy(n, alpha[s] - beta, S + (size_t)s * n, d);
        }
        dili_scale(n, -1.0, d);
        gd = dili_dot(n, g, d);
        if (count == 0 || !(gd < 0.0)) {
            count = 0;
            for (j = 0; j < n; j++)
                d[j] = -g[j];
            gd = -gn * gn;
        }
        /* without curvature information, a unit-length first trial */
        t0 = count == 0 ? fmin(1.0, 1.0 / gn) : 1.0;
        st = wolfe(c, y, f, d, gd, t0, o, yt, &ft, gt, &t);
        if (st == DIL_LINE_SEARCH && count > 0) {
            count = 0;
            for (j = 0; j < n; j++)
                d[j] = -g[j];
            st = wolfe(c, y, f, d, -gn * gn, fmin(1.0, 1.0 / gn), o, yt, &ft, gt, &t);
        }
        if (st != DIL_OK)
            return st;

        /* new pair s = t d, v = g_new - g, stored only when s'v > 0 safely */
        {
            double *s = S + (size_t)head * n, *v = V + (size_t)head * n;
            for (j = 0; j < n; j++) {
                s[j] = t * d[j];
                v[j] = gt[j] - g[j];
            }
            sv = dili_dot(n, s, v);
            sn = dili_norm(n, s);
            vn = dili_norm(n, v);
            if (sv > 1e-12 * sn * vn && sv > 0.0) {
                rho[head] = 1.0 / sv;
                head = (head + 1) % mem;
                if (count < mem)
                    count++;
            } else if (count == mem) {
                count--;        /* the slot overwritten held the oldest pair */
            }
        }
        dili_copy(n, yt, y);
        dili_copy(n, gt, g);
        f = ft;
    }
}
