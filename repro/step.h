/*
 * step.h - one implicit step of a backward-Euler neural ODE through libdil:
 * the forward solver, a Newton iteration handed to dil_solve (and so to
 * dil_solve_batch, which node.c uses for all windows of a batch at once)
 * as a caller's black-box solver, and the options that go with it.
 */
#ifndef REPRO_STEP_H
#define REPRO_STEP_H

#include "dil.h"

/*
 * The forward solver, for residual models of the backward-Euler form
 * r(y; x, theta) = y - x0 - dt f(y) with nres == ny, whose first ny inputs
 * are the previous state x0 (the models in models/ used by repro/; further
 * inputs, like the stiffness of fig2_d*, may follow).  It starts from the explicit-Euler prediction
 * y = x0 + dt f(x0) = x0 - r(x0; x) (one residual evaluation), then takes
 * Newton steps y <- y - J^-1 r with J = dr/dy built column by column from ny
 * Jacobian-vector products and factored by LU; J is kept while the residual
 * falls by 4x per step (chord steps cost one residual each) and rebuilt
 * otherwise.  It stops when ||J||_F ||r|| <= tol / 2, which implies the
 * runtime's own acceptance test ||df/dy|| = ||J^T r|| <= tol.
 * `context` may be NULL, or point to an int: 0 starts from the y given
 * instead of the prediction.
 */
int step_newton(const dil_model *m, const double *x, const double *theta, double *y,
                const dil_options *opt, dil_info *info, double *work, void *context);

/* Doubles of solver scratch step_newton needs (opt->user_work_size). */
size_t step_newton_work(const dil_model *m);

/* Options for a step: step_newton as the forward solver, the given backward
   (DIL_BACKWARD_DENSE, _CG or _ROOT) and forward tolerance. */
dil_options step_options(const dil_model *m, int backward, double tol);

#endif
