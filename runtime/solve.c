/*
 * solve.c - dil_solve, the forward pass: argument checks, workspace, and
 * dispatch to the solver chosen in the options.
 *
 * The forward solver is a black box to the backward pass (the paper's
 * point: the IFT only needs the solution, not how it was found), so this
 * file also hosts the caller's own solver (DIL_SOLVER_USER).  Its answer is
 * not taken on trust: a DIL_OK from it is checked against the same
 * stopping rule as ours, ||df/dy|| <= tol, because a silently unconverged y
 * would make the backward pass wrong without any sign.
 */
#include <stdlib.h>

#include "dil_internal.h"

/* The kernels a solver calls; DIL_BAD_ARG when one is missing. */
static int check_kernels(const dil_model *m, int solver)
{
    switch (solver) {
    case DIL_SOLVER_NEWTON:
        if (!m->score || !m->score_grad_y || !m->score_hvp_yy)
            return DIL_BAD_ARG;
        break;
    case DIL_SOLVER_LBFGS:
    case DIL_SOLVER_GRADIENT:
        if (!m->score || !m->score_grad_y)
            return DIL_BAD_ARG;
        break;
    case DIL_SOLVER_GAUSS_NEWTON:
        if (m->nres < 1 || !m->residual || !m->residual_jvp_y || !m->residual_vjp_y)
            return DIL_BAD_ARG;
        break;
    case DIL_SOLVER_FIXED_POINT:
        if (m->nres != m->ny || !m->residual)
            return DIL_BAD_ARG;
        break;
    case DIL_SOLVER_USER:
        if (!m->score_grad_y)
            return DIL_BAD_ARG;
        break;
    default:
        return DIL_BAD_ARG;
    }
    return DIL_OK;
}

/* The caller's solver, then our acceptance check of its y. */
static int user_solve(dili_ctx *c, double *y, const dil_options *o, double *base)
{
    const dil_model *m = c->m;
    double *g = base + m->work_size + o->user_work_size;
    int st = o->user_solver(m, c->x, c->theta, y, o, c->info, base, o->user_context);

    if (st != DIL_OK)
        return st;
    if (!dili_all_finite(m->ny, y))
        return DIL_NOT_FINITE;
    st = dili_grad(c, y, g);
    c->info->grad_norm = dili_norm(m->ny, g);
    if (st != DIL_OK)
        return st;
    if (m->score)
        c->info->score = dili_score(c, y);
    return c->info->grad_norm <= o->tol ? DIL_OK : DIL_MAX_ITER;
}

int dil_solve(const dil_model *m, const double *x, const double *theta,
              double *y, const dil_options *opt, dil_info *info, double *work)
{
    dil_info loc;
    dil_options def;
    dili_ctx c;
    double *base, *own, *w;
    int st;

    dili_info_init(&loc);
    if (opt == NULL) {
        def = dil_default_options();
        opt = &def;
    }
    if (dili_check_model(m) != DIL_OK || y == NULL
        || (x == NULL && m->nx > 0) || (theta == NULL && m->ntheta > 0)
        || dili_check_options(m, opt) != DIL_OK
        || check_kernels(m, opt->solver) != DIL_OK)
        return dili_finish(info, &loc, DIL_BAD_ARG);
    if (!dili_all_finite(m->nx, x) || !dili_all_finite(m->ntheta, theta)
        || !dili_all_finite(m->ny, y))
        return dili_finish(info, &loc, DIL_NOT_FINITE);

    base = dili_work_acquire(m, dili_solve_work(m, opt), work, &own);
    if (base == NULL)
        return dili_finish(info, &loc, DIL_NO_MEMORY);
    c = (dili_ctx){m, x, theta, base, &loc};
    w = base + m->work_size;

    switch (opt->solver) {
    case DIL_SOLVER_NEWTON: st = dili_newton(&c, y, opt, w); break;
    case DIL_SOLVER_GAUSS_NEWTON: st = dili_gauss_newton(&c, y, opt, w); break;
    case DIL_SOLVER_LBFGS: st = dili_lbfgs(&c, y, opt, w); break;
    case DIL_SOLVER_GRADIENT: st = dili_gradient(&c, y, opt, w); break;
    case DIL_SOLVER_FIXED_POINT: st = dili_fixed_point(&c, y, opt, w); break;
    default: st = user_solve(&c, y, opt, base); break;
    }
    free(own);
    return dili_finish(info, &loc, st);
}
