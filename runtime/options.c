/*
 * options.c - defaults, status names, workspace sizes and the argument
 * checks every entry point shares.
 *
 * Keeping the checks here makes the BAD_ARG rules one list: a model needs
 * ny >= 1 and no negative size; options must be in range (a NaN anywhere
 * fails the range tests, which are written as !(ok) for that reason).  The
 * workspace of a call is m->work_size doubles for the kernels followed by
 * the vectors of the chosen algorithms; dil_work_size is the largest of the
 * three entry points' needs, so one caller buffer serves them all.
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
    default: return "unknown DIL status";
    }
}

/* The CG cap when the caller leaves it 0: at least ny (CG's exact-arithmetic
   bound) with room for rounding, and not tiny for tiny ny. */
int dili_default_cap(int ny)
{
    if (ny > 1073741823)                        /* 2*ny would overflow */
        return 2147483647;
    return dili_max_int(2 * ny, 50);
}

int dili_check_model(const dil_model *m)
{
    if (m == NULL || m->ny < 1 || m->nx < 0 || m->ntheta < 0 || m->ndata < 0
        || m->nres < 0)
        return DIL_BAD_ARG;
    return DIL_OK;
}

int dili_check_options(const dil_model *m, const dil_options *o)
{
    if (o->solver < DIL_SOLVER_NEWTON || o->solver > DIL_SOLVER_USER)
        return DIL_BAD_ARG;
    if (o->backward != DIL_BACKWARD_CG && o->backward != DIL_BACKWARD_DENSE
        && o->backward != DIL_BACKWARD_ROOT)
        return DIL_BAD_ARG;
    if (!(o->tol >= 0.0) || o->max_iter < 0 || !(o->cg_tol >= 0.0)
        || o->cg_max_iter < 0 || !(o->cg_eps >= 0.0) || !isfinite(o->cg_eps)
        || !(o->stationary_tol >= 0.0) || o->inner_max_iter < 0
        || o->max_backtracks < 1)
        return DIL_BAD_ARG;
    if (!(o->armijo_c1 > 0.0 && o->armijo_c1 < 1.0)
        || !(o->inner_tol > 0.0 && o->inner_tol < 1.0))
        return DIL_BAD_ARG;
    if (o->solver == DIL_SOLVER_LBFGS
        && (o->lbfgs_memory < 1 || !(o->wolfe_c2 > o->armijo_c1 && o->wolfe_c2 < 1.0)))
        return DIL_BAD_ARG;
    if (o->solver == DIL_SOLVER_USER && o->user_solver == NULL)
        return DIL_BAD_ARG;
    (void)m;
    return DIL_OK;
}

size_t dili_solve_work(const dil_model *m, const dil_options *o)
{
    switch (o->solver) {
    case DIL_SOLVER_NEWTON: return dili_newton_work(m->ny);
    case DIL_SOLVER_GAUSS_NEWTON: return dili_gauss_newton_work(m->ny, m->nres);
    case DIL_SOLVER_LBFGS:
        return dili_lbfgs_work(m->ny, o->lbfgs_memory > 0 ? o->lbfgs_memory : 1);
    case DIL_SOLVER_GRADIENT: return dili_gradient_work(m->ny);
    case DIL_SOLVER_FIXED_POINT: return dili_fixed_point_work(m->ny);
    case DIL_SOLVER_USER:
        /* the user's share, then one gradient for the acceptance check */
        return dili_add(o->user_work_size, (size_t)m->ny);
    default: return 0;
    }
}

size_t dili_backward_work(const dil_model *m, const dil_options *o)
{
    /* g and a gradient for the stationarity check, then the linear solver;
       the root form keeps its own layout (root_backward.c) */
    size_t lin = o->backward == DIL_BACKWARD_DENSE ? dili_dense_work(m->ny)
                                                  : dili_cg_work(m->ny);
    if (o->backward == DIL_BACKWARD_ROOT)
        return dili_root_work(m->ny);
    return dili_add(dili_mul(2, (size_t)m->ny), lin);
}

size_t dili_loss_work(const dil_model *m, const dil_options *o)
{
    /* dL/dy, dL/dx, dL/dtheta (the direct terms), then the backward */
    size_t direct = dili_add(dili_add((size_t)m->ny, (size_t)m->nx), (size_t)m->ntheta);
    return dili_add(direct, dili_backward_work(m, o));
}

size_t dil_work_size(const dil_model *m, const dil_options *opt)
{
    dil_options def;
    size_t s, l;
    if (dili_check_model(m) != DIL_OK)
        return 0;
    if (opt == NULL) {
        def = dil_default_options();
        opt = &def;
    }
    s = dili_solve_work(m, opt);
    l = dili_loss_work(m, opt);
    return dili_add(m->work_size, s > l ? s : l);
}
