/*
 * step.c - dil_solve_loss_gradient: the forward solve and the loss's
 * gradient at its answer, one training step of one instance, in one call.
 *
 * The two calls it replaces would each build a context on the workspace;
 * here the backward runs on the solve's context, after the solve.  The
 * context remembers the point of the last fused evaluation (the residual
 * or the score's gradient, with the linearised state: util.c, "Linearise
 * once"), and a solver's last evaluation is at the point it returns: so
 * the backward's first evaluation, at that same y, is a copy instead of a
 * sweep of the model.  Two more things carry over: a tiny J that
 * Gauss-Newton builds at its answer (keep_jac, for the root form), and a
 * descent solver's certificate of its answer, which spares the CG form
 * its own checks (backward.c).  Nothing else differs, so the results are
 * the bits of dil_solve followed by dil_loss_gradient (tests/model_test.c,
 * solve_step).  The workspace is the larger of the two calls'
 * (dil_work_size is already that).
 */
#include "dil_internal.h"

int dil_solve_loss_gradient(const dil_model *m, const double *x, const double *theta,
                            double *y, const double *data, double *loss, double *dl_dx,
                            double *dl_dtheta, const dil_options *opt, dil_info *info,
                            double *work)
{
    return dili_step_call(m, x, theta, y, data, loss, dl_dx, dl_dtheta, opt, info, work, 0);
}

int dili_step_call(const dil_model *m, const double *x, const double *theta, double *y,
                   const double *data, double *loss, double *dl_dx, double *dl_dtheta,
                   const dil_options *opt, dil_info *info, double *work, int flags)
{
    dili_call k;
    dili_args a = {DILI_CALL_STEP, y, x, theta, data, NULL, dl_dx, dl_dtheta, flags};
    int st = dili_begin(&k, m, opt, &a);

    if (st == DIL_OK)
        st = dili_acquire(&k, m, x, theta, dili_step_work(m, k.o), work);
    if (st == DIL_OK) {
        /* the root form builds a tiny J at y: a solver ending there builds
           it instead of one J^T r product, and the backward copies it */
        k.c.keep_jac = k.o->backward == DIL_BACKWARD_ROOT;
        st = dili_find_solver(k.o->solver)->run(&k.c, y, k.o, k.w);
    }
    if (st == DIL_OK)
        st = dili_loss_run(&k, y, data, loss, dl_dx, dl_dtheta);
    return dili_end(&k, info, st);
}
