/*
 * user.c - DIL_SOLVER_USER: the caller's own forward solver.
 *
 * The forward solver is a black box to the backward pass (the paper's
 * point: the IFT only needs the solution, not how it was found), so a
 * caller may bring one.  Its answer is not taken on trust: a DIL_OK from it
 * is checked against the same stopping rule as ours (descent.c: gradient,
 * model step, curvature), because a silently unconverged y, or a saddle,
 * would make the backward pass wrong without any sign.
 */
#include "dil_internal.h"

/* The user's share, then the acceptance check's gradient and block. */
static size_t user_work(const dil_model *m, const dil_options *o)
{
    return dili_add(dili_add(o->user_work_size, (size_t)m->ny), dili_descent_work(m->ny));
}

static int user_check(const dil_options *o)
{
    return o->user_solver != NULL ? DIL_OK : DIL_BAD_ARG;
}

/* The caller's solver, then our acceptance check of its y.  Its work is
   the kernel scratch followed by its own user_work_size doubles, which is
   where c->kw starts; our gradient comes after both. */
static int user_run(dili_ctx *c, double *y, const dil_options *o, double *w)
{
    const dil_model *m = c->m;
    double *g = w + o->user_work_size;
    dili_iter it = {y, g, 0.0, 0.0, 0, 0, 0, g + m->ny, 1, 0};
    dil_options check = *o;
    int st = o->user_solver(m, c->x, c->theta, y, o, c->info, c->kw, o->user_context);

    check.max_iter = 0;         /* test only; never step */

    if (st != DIL_OK)
        return st;
    if (!dili_all_finite(m->ny, y))
        return DIL_NOT_FINITE;
    st = dili_grad(c, y, g);
    c->info->grad_norm = dili_norm(m->ny, g);
    if (st != DIL_OK)
        return st;
    it.f = m->score ? dili_score(c, y) : 0.0;
    it.gn = c->info->grad_norm;
    it.k = c->info->iterations;
    /* our stopping test, without its escape: a saddle is the solver's to
       leave, so DIL_NOT_MINIMUM */
    st = dili_stop(c, &it, &check);
    return st == DILI_GO_ON ? DIL_MAX_ITER : st;
}

const dili_solver dili_user_solver = {
    DIL_SOLVER_USER, "user", DILI_K_GRAD, user_work, user_check, user_run,
};
