/*
 * descent.c - the steps every descent solver (Newton, L-BFGS, gradient
 * descent) shares: its start, its stopping test, and the gradient after an
 * accepted step.
 */
#include <math.h>

#include "dil_internal.h"

int dili_stop(dil_info *in, int k, double f, double gn, const dil_options *o)
{
    in->iterations = k;
    in->score = f;
    in->grad_norm = gn;
    if (gn <= o->tol)
        return DIL_OK;
    if (k >= o->max_iter)
        return DIL_MAX_ITER;
    return -1;
}

int dili_start(dili_ctx *c, const double *y, double *f, double *g)
{
    int st;
    *f = dili_score(c, y);
    c->info->score = *f;
    if (!isfinite(*f))
        return DIL_NOT_FINITE;
    st = dili_grad(c, y, g);
    c->info->grad_norm = dili_norm(c->m->ny, g);
    return st;
}

int dili_after_step(dili_ctx *c, int k, const double *y, double f, double *g)
{
    int st = dili_grad(c, y, g);
    if (st != DIL_OK) {
        c->info->iterations = k + 1;
        c->info->score = f;
        c->info->grad_norm = dili_norm(c->m->ny, g);
    }
    return st;
}
