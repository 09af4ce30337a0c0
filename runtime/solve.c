/*
 * solve.c - dil_solve, the forward pass: the table of forward solvers and
 * the dispatch through it.
 *
 * Each solver is one file that defines its row (a dili_solver: name,
 * kernels, workspace, option check, run function); the table below lists
 * the rows, and everything that depends on the solver (which kernels must
 * be present, how much scratch, which function runs) is read from the row.
 * Lookup is by the DIL_SOLVER_* value, so nothing depends on the order of
 * the enum or of the table.
 */
#include <stddef.h>

#include "dil_internal.h"

static const dili_solver *const solvers[] = {
    &dili_newton_solver,
    &dili_gauss_newton_solver,
    &dili_lbfgs_solver,
    &dili_gradient_solver,
    &dili_fixed_point_solver,
    &dili_user_solver,
};

const dili_solver *dili_find_solver(int id)
{
    size_t i;
    for (i = 0; i < sizeof solvers / sizeof solvers[0]; i++)
        if (solvers[i]->id == id)
            return solvers[i];
    return NULL;
}

int dil_solve(const dil_model *m, const double *x, const double *theta,
              double *y, const dil_options *opt, dil_info *info, double *work)
{
    return dili_solve_call(m, x, theta, y, opt, info, work, 0);
}

int dili_solve_call(const dil_model *m, const double *x, const double *theta,
                    double *y, const dil_options *opt, dil_info *info, double *work,
                    int flags)
{
    dili_call k;
    dili_args a = {DILI_CALL_SOLVE, y, x, theta, NULL, NULL, NULL, NULL, flags};
    int st = dili_begin(&k, m, opt, &a);

    if (st == DIL_OK)
        st = dili_acquire(&k, m, x, theta, dili_solve_work(m, k.o), work);
    if (st == DIL_OK)
        st = dili_find_solver(k.o->solver)->run(&k.c, y, k.o, k.w);
    return dili_end(&k, info, st);
}
