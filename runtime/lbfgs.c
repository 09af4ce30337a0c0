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
 * found by doubling/bisection (linesearch.c); a pair whose s'v is not
 * safely positive anyway (rounding) is skipped rather than stored.  When
 * the quasi-Newton direction fails, the memory is dropped and steepest
 * descent is tried before giving up with DIL_LINE_SEARCH.
 */
#include <math.h>

#include "dil_internal.h"

static size_t lbfgs_work(const dil_model *m, const dil_options *o)
{
    /* S, V (mem*ny each), rho and alpha (mem each), g, g_new, d, y_try,
       then the stopping test's block */
    size_t mem = (size_t)(o->lbfgs_memory > 0 ? o->lbfgs_memory : 1);
    size_t pairs = dili_mul(dili_mul(2, mem), (size_t)m->ny);
    return dili_add(dili_add(dili_add(pairs, dili_mul(2, mem)), dili_mul(4, (size_t)m->ny)),
                    dili_descent_work(m->ny));
}

static int lbfgs_check(const dil_options *o)
{
    if (o->lbfgs_memory < 1 || !(o->wolfe_c2 > o->armijo_c1 && o->wolfe_c2 < 1.0))
        return DIL_BAD_ARG;
    return DIL_OK;
}

/* The memory: `count` pairs (s, v) in ring buffers S, V with rho = 1/s'v,
   the newest just before slot `head`. */
typedef struct lbfgs_mem {
    int n, mem, count, head;
    double *S, *V, *rho, *alpha;
} lbfgs_mem;

/* The two-loop recursion (Nocedal and Wright, Algorithm 7.4): d = -B^-1 g. */
static void two_loop(lbfgs_mem *L, const double *g, double *d)
{
    int n = L->n, i;
    dili_copy(n, g, d);
    for (i = 0; i < L->count; i++) {            /* newest to oldest */
        int s = (L->head - 1 - i + L->mem) % L->mem;
        L->alpha[s] = L->rho[s] * dili_dot(n, L->S + (size_t)s * n, d);
        dili_axpy(n, -L->alpha[s], L->V + (size_t)s * n, d);
    }
    if (L->count > 0) {
        int s = (L->head - 1 + L->mem) % L->mem;
        const double *vs = L->V + (size_t)s * n;
        dili_scale(n, 1.0 / (L->rho[s] * dili_dot(n, vs, vs)), d);  /* gamma */
    }
    for (i = L->count - 1; i >= 0; i--) {       /* oldest to newest */
        int s = (L->head - 1 - i + L->mem) % L->mem;
        double beta = L->rho[s] * dili_dot(n, L->V + (size_t)s * n, d);
        dili_axpy(n, L->alpha[s] - beta, L->S + (size_t)s * n, d);
    }
    dili_scale(n, -1.0, d);
}

/* Stores the pair s = t d, v = g_new - g when s'v > 0 safely. */
static void add_pair(lbfgs_mem *L, double t, const double *d, const double *g,
                     const double *gnew)
{
    int n = L->n, j;
    double *s = L->S + (size_t)L->head * n, *v = L->V + (size_t)L->head * n;
    double sv;
    for (j = 0; j < n; j++) {
        s[j] = t * d[j];
        v[j] = gnew[j] - g[j];
    }
    sv = dili_dot(n, s, v);
    if (sv > 1e-12 * dili_norm(n, s) * dili_norm(n, v) && sv > 0.0) {
        L->rho[L->head] = 1.0 / sv;
        L->head = (L->head + 1) % L->mem;
        if (L->count < L->mem)
            L->count++;
    } else if (L->count == L->mem) {
        L->count--;             /* the slot overwritten held the oldest pair */
    }
}

/* Steepest descent from y with a unit-length first trial, after the
   quasi-Newton direction failed or when there is no curvature yet. */
static void steepest(int n, const dili_iter *it, double *d, dili_search *s)
{
    int j;
    for (j = 0; j < n; j++)
        d[j] = -it->g[j];
    *s = (dili_search){it->y, d, it->f, -it->gn * it->gn, fmin(1.0, 1.0 / it->gn)};
}

/*
 * Contract as newton_run: w holds lbfgs_work doubles; returns DIL_OK,
 * DIL_MAX_ITER, DIL_LINE_SEARCH, DIL_NOT_MINIMUM or DIL_NOT_FINITE with y
 * the best (lowest-score) iterate.
 */
static int lbfgs_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, mem = o->lbfgs_memory, st;
    lbfgs_mem L = {n, mem, 0, 0, w, w + (size_t)mem * n, w + 2 * (size_t)mem * n,
                   w + 2 * (size_t)mem * n + mem};
    double *g = L.alpha + mem, *gt = g + n, *d = gt + n, *yt = d + n;
    dili_iter it = {y, g, 0.0, 0.0, 0, 0, 0, yt + n, 0, 0};

    if ((st = dili_start(c, y, &it.f, g)) != DIL_OK)
        return st;
    it.gn = dili_norm(n, g);
    for (;;) {
        dili_found to = {yt, gt, 0.0, 0.0, 0};
        dili_search s;

        st = dili_stop(c, &it, o);
        if (st == DILI_ESCAPED) {
            L.count = 0;        /* pairs from the other side of a saddle */
            continue;
        }
        if (st != DILI_GO_ON)
            return st;
        two_loop(&L, g, d);
        s = (dili_search){y, d, it.f, dili_dot(n, g, d), 1.0};
        if (L.count == 0 || !(s.g0d < 0.0)) {
            L.count = 0;
            steepest(n, &it, d, &s);
        }
        st = dili_wolfe(c, &s, o, &to);
        if (st == DIL_LINE_SEARCH && L.count > 0) {
            L.count = 0;
            steepest(n, &it, d, &s);
            st = dili_wolfe(c, &s, o, &to);
        }
        if (st == DIL_LINE_SEARCH) {
            it.failed = 1;
            continue;
        }
        if (st != DIL_OK)
            return st;
        add_pair(&L, to.t, d, g, gt);
        dili_copy(n, yt, y);
        dili_copy(n, gt, g);
        dili_after_step(c, &it, to.f, 1);
    }
}

const dili_solver dili_lbfgs_solver = {
    DIL_SOLVER_LBFGS, "lbfgs", DILI_K_SCORE | DILI_K_GRAD,
    lbfgs_work, lbfgs_check, lbfgs_run,
};
