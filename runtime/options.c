/*
 * options.c - defaults, status names, the option checks and dil_work_size.
 *
 * Options must be in range: a NaN anywhere fails the range tests, which are
 * written as !(ok) for that reason; a solver with options of its own checks
 * them in its table row.  The workspace of a call is m->work_size doubles
 * for the kernels followed by the vectors of the chosen algorithms (call.c);
 * dil_work_size is the largest of the three entry points' needs, so one
 * caller buffer serves them all.
 */
#include <math.h>
#include <stddef.h>

#include "dil_internal.h"

dil_options dil_default_options(void)
{
    dil_options o;
    o.solver = DIL_SOLVER_NEWTON;
    o.tol = 1e-10;
    o.max_iter = 100;
    o.backward = DIL_BACKWARD_CG;
    o.cg_tol = 1e-10;
    o.cg_max_iter = 0;
    o.cg_eps = 0.0;
    o.cg_x0 = NULL;
    o.cg_solution = NULL;
    o.stationary_tol = 1e-6;
    o.lbfgs_memory = 8;
    o.inner_max_iter = 0;
    o.inner_tol = 1e-2;
    o.armijo_c1 = 1e-4;
    o.wolfe_c2 = 0.9;
    o.max_backtracks = 60;
    o.user_solver = NULL;
    o.user_context = NULL;
    o.user_work_size = 0;
    o.step_tol = 0.0;
    o.curvature_check = 10;
    return o;
}

const char *dil_status_string(int status)
{
    switch (status) {
    case DIL_OK: return "DIL_OK";
    case DIL_MAX_ITER: return "DIL_MAX_ITER";
    case DIL_NOT_FINITE: return "DIL_NOT_FINITE";
    case DIL_CG_BREAKDOWN: return "DIL_CG_BREAKDOWN";
    case DIL_CG_MAX_ITER: return "DIL_CG_MAX_ITER";
    case DIL_BAD_ARG: return "DIL_BAD_ARG";
    case DIL_NOT_STATIONARY: return "DIL_NOT_STATIONARY";
    case DIL_SINGULAR: return "DIL_SINGULAR";
    case DIL_LINE_SEARCH: return "DIL_LINE_SEARCH";
    case DIL_NO_MEMORY: return "DIL_NO_MEMORY";
    case DIL_NOT_MINIMUM: return "DIL_NOT_MINIMUM";
    default: return "unknown DIL status";
    }
}

int dili_check_options(const dil_options *o)
{
    const dili_solver *s = dili_find_solver(o->solver);
    if (s == NULL || dili_find_backward(o->backward) == NULL)
        return DIL_BAD_ARG;
    if (!(o->tol >= 0.0) || o->max_iter < 0 || !(o->cg_tol >= 0.0)
        || o->cg_max_iter < 0 || !(o->cg_eps >= 0.0) || !isfinite(o->cg_eps)
        || !(o->stationary_tol >= 0.0) || o->inner_max_iter < 0
        || o->max_backtracks < 1 || !(o->step_tol >= 0.0)
        || o->curvature_check < 0 || o->curvature_check > DILI_MAX_LANCZOS)
        return DIL_BAD_ARG;
    if (!(o->armijo_c1 > 0.0 && o->armijo_c1 < 1.0)
        || !(o->inner_tol > 0.0 && o->inner_tol < 1.0))
        return DIL_BAD_ARG;
    return s->check != NULL ? s->check(o) : DIL_OK;
}

size_t dil_work_size(const dil_model *m, const dil_options *opt)
{
    dil_options def;
    if (m == NULL || m->ny < 1 || m->nx < 0 || m->ntheta < 0 || m->ndata < 0
        || m->nres < 0)
        return 0;
    if (opt == NULL) {
        def = dil_default_options();
        opt = &def;
    }
    return dili_add(dili_add(m->work_size, dili_step_work(m, opt)), dili_lin_work(m));
}
