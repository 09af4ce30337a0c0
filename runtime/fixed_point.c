/*
 * fixed_point.c - plain fixed-point iteration for residual models of the
 * form r(y) = y - g(y), e.g. one backward-Euler step y = x + dt h(y).
 *
 * The update y <- y - r(y) = g(y) needs one residual evaluation per step and
 * no derivative at all.  It converges (linearly) exactly when g is a
 * contraction near the solution; for the implicit Euler step that means
 * dt * Lip(h) < 1, the non-stiff case the paper uses it for.  Stiff or
 * non-contractive problems diverge or stall: use Newton or Gauss-Newton.
 * The stopping rule is on the residual, ||r|| <= tol (reported as grad_norm
 * and residual_norm); the best (smallest ||r||) iterate is kept, so a
 * diverging run still returns the most accurate point it met.
 */
#include <math.h>

#include "dil_internal.h"

static size_t fixed_point_work(const dil_model *m, const dil_options *o)
{
    return dili_mul(3, (size_t)m->ny);  /* r, y_new, y_best */
}

/*
 * Contract: nres == ny and the residual kernel present (checked by the
 * caller); w holds fixed_point_work doubles.  Returns DIL_OK,
 * DIL_MAX_ITER or DIL_NOT_FINITE; y holds the best iterate (on
 * DIL_NOT_FINITE, the best finite one).
 */
static int fixed_point_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    int n = c->m->ny, k, st, i;
    double *r = w, *yn = r + n, *yb = yn + n;
    double rn, best;
    dil_info *in = c->info;

    st = dili_residual(c, y, r);
    rn = dili_norm(n, r);
    in->grad_norm = in->residual_norm = rn;
    in->score = 0.5 * rn * rn;
    if (st != DIL_OK)
        return st;
    best = rn;
    dili_copy(n, y, yb);

    for (k = 0;; k++) {
        in->iterations = k;
        if (rn <= o->tol)
            break;                              /* st == DIL_OK */
        if (k >= o->max_iter) {
            st = DIL_MAX_ITER;
            break;
        }
        for (i = 0; i < n; i++)
            yn[i] = y[i] - r[i];                /* y <- g(y) */
        if (!dili_all_finite(n, yn)) {
            st = DIL_NOT_FINITE;
            break;
        }
        dili_copy(n, yn, y);
        in->iterations = k + 1;
        st = dili_residual(c, y, r);
        if (st != DIL_OK)
            break;
        rn = dili_norm(n, r);
        if (rn < best) {
            best = rn;
            dili_copy(n, y, yb);
        }
    }
    if (st != DIL_OK) {
        /* hand back the best point, and its figures */
        dili_copy(n, yb, y);
        rn = best;
    }
    in->grad_norm = in->residual_norm = rn;
    in->score = 0.5 * rn * rn;
    return st;
}

const dili_solver dili_fixed_point_solver = {
    DIL_SOLVER_FIXED_POINT, "fixed_point", DILI_K_RES | DILI_K_SQUARE,
    fixed_point_work, NULL, fixed_point_run,
};
