/*
 * step.h - one implicit step of a backward-Euler neural ODE through libdil:
 * the forward solver (a Newton iteration handed to dil_solve as a caller's
 * black-box solver) and the batch wrappers that run many independent steps
 * that share theta (one per multiple-shooting window) on several threads.
 *
 * The wrappers have exactly the signatures of dil_solve_batch and
 * dil_backward_batch of SPEC.md section 5 (plus the engine that owns the
 * per-thread scratch), so that switching to the runtime's batch API, once
 * it is in main, is one line in each.
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

/* Per-thread scratch for the batch wrappers (max_n instances at most). */
typedef struct step_engine {
    const dil_model *m;
    int nthreads, max_n;
    double *work;          /* nthreads blocks of dil_work_size doubles */
    size_t work_len;
    double *theta_rows;    /* max_n rows of ntheta: per-instance dl_dtheta */
} step_engine;

/* 0 on success, -1 when out of memory.  nthreads <= 0 means 1. */
int step_engine_init(step_engine *e, const dil_model *m, const dil_options *opt,
                     int nthreads, int max_n);
void step_engine_free(step_engine *e);

/* The batch API's contract (SPEC.md section 5): n instances sharing theta,
   blocks stacked; info (n entries) may be NULL; the status of the
   lowest-numbered failing instance, DIL_OK if none failed.  dl_dtheta is the
   sum over instances, the same bits for any thread count. */
int step_solve_batch(step_engine *e, int n, const double *x, const double *theta,
                     double *y, const dil_options *opt, dil_info *info);
int step_backward_batch(step_engine *e, int n, const double *y, const double *x,
                        const double *theta, const double *dl_dy, double *dl_dx,
                        double *dl_dtheta, const dil_options *opt, dil_info *info);

#endif
