/*
 * dil.h - the public interface of libdil, the DIL runtime.
 *
 * libdil holds the model-independent numerics of a differentiable implicit
 * layer y*(x, theta) = argmin_y f(y; x, theta): the forward solvers (Newton-CG,
 * Gauss-Newton, L-BFGS, gradient descent, fixed point, or the caller's own
 * black box) and the backward pass of the bi-level implicit function theorem
 * (Theorem 1 of the paper),
 *
 *     (H + eps I) g = dL/dy,   H = d2f/dy2 at y*          (Algorithm 1, by CG)
 *     dL/dx     = -(d2f/dx dy)^T g     + partial L/partial x
 *     dL/dtheta = -(d2f/dtheta dy)^T g + partial L/partial theta,
 *
 * all driven through the kernels of a compiled model (dil_model.h).  The API
 * follows GSL multimin: plain structs of options and results, explicit status
 * codes, no global state, nothing printed, no exit.
 *
 * Conventions shared by every function below:
 *   - The return value is a dil_status; when `info` is not NULL the same
 *     value is stored in info->status, together with the figures of the call
 *     (iterations, norms, evaluation counts).  `info` may be NULL.
 *   - `opt` may be NULL, meaning dil_default_options().
 *   - `work` may be NULL: the runtime then allocates (and frees) its own
 *     scratch and returns DIL_NO_MEMORY if it cannot.  With a caller's
 *     `work` of dil_work_size(m, opt) doubles nothing is allocated; the same
 *     buffer serves dil_solve, dil_backward and dil_loss_gradient.
 *   - A block pointer (x, theta, data) may be NULL only when its length is 0.
 *   - Non-finite values in the inputs, or produced by a kernel at an accepted
 *     point, stop the call at once with DIL_NOT_FINITE.
 */
#ifndef DIL_H
#define DIL_H

#include <stddef.h>

#include "dil_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Versions.  DIL_VERSION is the release (the same as `dilc --version`).
   DIL_ABI_VERSION changes whenever a struct or a function of this header
   changes incompatibly; it is the major number of libdil.so's soname.
   dil_version() and dil_abi_version() return the values of the library
   actually linked, so that a program (or the Python package) can check
   them against the header it was built with. */
#define DIL_VERSION "0.3.0"
#define DIL_ABI_VERSION 1
const char *dil_version(void);
int dil_abi_version(void);

/* Status codes.  DIL_OK is 0; the rest are failures the caller must see. */
enum dil_status {
    DIL_OK = 0,           /* converged / computed as asked */
    DIL_MAX_ITER,         /* forward: tolerance not reached within max_iter */
    DIL_NOT_FINITE,       /* a NaN or infinity in the inputs or from a kernel */
    DIL_CG_BREAKDOWN,     /* CG met p^T (H + eps I) p <= 0: H + eps I not SPD */
    DIL_CG_MAX_ITER,      /* CG did not reach cg_tol within its iteration cap */
    DIL_BAD_ARG,          /* NULL pointer, bad size, bad option, missing kernel */
    DIL_NOT_STATIONARY,   /* backward at a y whose Newton step ||H^-1 df/dy||
                             exceeds stationary_tol (1 + ||y||) (root form:
                             ||r|| > stationary_tol): the IFT does not hold
                             there; outputs still computed */
    DIL_SINGULAR,         /* dense backward: H + eps I is numerically
                             singular; root form: J is (eps = 0) */
    DIL_LINE_SEARCH,      /* forward: no step gave sufficient decrease */
    DIL_NO_MEMORY,        /* work == NULL and the allocation failed */
    DIL_NOT_MINIMUM       /* H = d2f/dy2 at y is not positive semi-definite
                             (forward: a saddle or maximum that could not be
                             left; backward: y is not a minimum, so the IFT
                             derivative is that of the wrong point).  Root
                             form: never (its status for a singular J is
                             DIL_SINGULAR) */
};

/* Forward solvers (dil_options.solver). */
enum dil_solver {
    DIL_SOLVER_NEWTON = 0,    /* Newton-CG (truncated, Steihaug) + Armijo; default */
    DIL_SOLVER_GAUSS_NEWTON,  /* residual models: CG on J^T J p = -J^T r, LM damping */
    DIL_SOLVER_LBFGS,         /* limited-memory BFGS + weak Wolfe line search */
    DIL_SOLVER_GRADIENT,      /* steepest descent + Armijo backtracking */
    DIL_SOLVER_FIXED_POINT,   /* residual models r(y) = y - g(y): y <- y - r(y) */
    DIL_SOLVER_USER           /* options.user_solver, a caller's black box */
};

/* Backward linear solvers (dil_options.backward). */
enum dil_backward_kind {
    DIL_BACKWARD_CG = 0,      /* Algorithm 1: CG with Hessian-vector products */
    DIL_BACKWARD_DENSE,       /* naive: ny HVPs build H, Cholesky (LU fallback) */
    DIL_BACKWARD_ROOT         /* residual models, nres == ny: J^T g = dL/dy by
                                 CG on (J^T J + eps I) z = dL/dy, g = J z; then
                                 -J_x^T g, -J_theta^T g (first-order kernels) */
};

struct dil_options;
struct dil_info;

/*
 * A caller's forward solver (solver = DIL_SOLVER_USER).  Same contract as
 * dil_solve: y holds the initial guess on entry and the argmin on return.
 * `work` holds m->work_size doubles of kernel scratch followed by
 * opt->user_work_size doubles for the solver; `info` is never NULL (the
 * solver may fill iterations and counts); `context` is opt->user_context.
 * It returns a dil_status.  When it returns DIL_OK the runtime checks the
 * answer itself: y finite and ||df/dy|| <= tol, else DIL_NOT_FINITE or
 * DIL_MAX_ITER.
 */
typedef int (*dil_user_solver)(const dil_model *m, const double *x,
                               const double *theta, double *y,
                               const struct dil_options *opt,
                               struct dil_info *info, double *work,
                               void *context);

typedef struct dil_options {
    /* --- the SPEC members --- */
    int    solver;       /* DIL_SOLVER_*; default DIL_SOLVER_NEWTON */
    double tol;          /* forward stop: ||df/dy|| <= tol, with the Newton
                            step small (step_tol), or the gradient at its
                            rounding floor (docs/solvers.md); residual
                            solvers also stop on ||r|| <= tol; default 1e-10 */
    int    max_iter;     /* forward iteration limit; default 100.  0 only
                            checks the initial guess.  Gradient descent and
                            fixed point usually need far more. */
    int    backward;     /* DIL_BACKWARD_CG (default), DIL_BACKWARD_DENSE or
                            DIL_BACKWARD_ROOT (residual models, nres == ny) */
    double cg_tol;       /* CG stop: ||b - (H + eps I) g|| <= cg_tol * ||b||;
                            default 1e-10 */
    int    cg_max_iter;  /* CG iteration limit; 0 (default): max(2*ny, 50) */
    double cg_eps;       /* eps of Algorithm 1, >= 0; default 0 */
    /* --- more members --- */
    const double *cg_x0; /* backward CG initial guess ("Init x0"), ny doubles;
                            NULL (default): zero.  In the root form the CG
                            unknown is z of (J^T J + eps I) z = dL/dy, which
                            at a root is the g of the score form */
    double *cg_solution; /* if not NULL, the backward stores g here (ny), e.g.
                            to warm-start the next call through cg_x0 (the
                            two may be the same array) */
    double stationary_tol; /* backward: DIL_NOT_STATIONARY when the distance
                            from y to the stationary point that H predicts
                            exceeds stationary_tol (1 + ||y||), which for
                            unit curvature is ||df/dy|| > stationary_tol
                            (docs/solvers.md); root form: ||r|| exceeds it;
                            default 1e-6; HUGE_VAL disables */
    int    lbfgs_memory; /* L-BFGS pairs kept; default 8 */
    int    inner_max_iter; /* inner CG cap of Newton-CG and Gauss-Newton;
                            0 (default): max(2*ny, 50) */
    double inner_tol;    /* their inner CG relative tolerance is the forcing
                            term min(inner_tol, sqrt(||df/dy||)); in (0, 1),
                            default 1e-2 */
    double armijo_c1;    /* sufficient decrease constant, in (0, 1/2);
                            default 1e-4 */
    double wolfe_c2;     /* L-BFGS curvature constant, in (c1, 1); default 0.9 */
    int    max_backtracks; /* line-search trials per iteration (Gauss-Newton:
                            consecutive rejected steps); default 60 */
    dil_user_solver user_solver; /* DIL_SOLVER_USER only; default NULL */
    void  *user_context;  /* passed to user_solver; default NULL */
    size_t user_work_size; /* extra doubles user_solver needs; default 0 */
    double step_tol;     /* forward stop also needs the Newton step,
                            ||H^-1 g||, <= step_tol (1 + ||y||), the same
                            distance the backward's stationarity check uses;
                            0 (default): the same value as tol */
    int    curvature_check; /* Lanczos steps (at most 64, and at most ny)
                            certifying that H is positive semi-definite where
                            a forward solver converges and where a score-form
                            backward is evaluated (root form: J nonsingular);
                            0 disables; default 10 */
} dil_options;

typedef struct dil_info {
    /* --- the SPEC members --- */
    int    status;        /* same value the call returned */
    int    iterations;    /* forward iterations (steps taken) */
    double grad_norm;     /* final ||df/dy||: forward at the returned y;
                             backward at the given y (fixed point: ||r||;
                             score-form backward with stationary_tol =
                             HUGE_VAL: 0, not evaluated) */
    int    cg_iterations; /* CG iterations of the last linear solve */
    double cg_residual;   /* its final relative residual (dense backward:
                             the true residual ||b - (H+eps I) g|| / ||b||) */
    /* --- more members --- */
    double score;         /* forward: f at the returned y */
    double residual_norm; /* residual solvers: ||r|| at the returned y;
                             root-form backward: ||r|| at the given y */
    int    cg_total;      /* CG iterations summed over the whole call */
    int    n_score;       /* score (or residual, for residual solvers) evals */
    int    n_grad;        /* gradient evaluations */
    int    n_hvp;         /* Hessian-vector products */
    int    n_jac;         /* Jacobian products: residual J v, J^T w, and the
                             mixed score_vjp_xy / score_vjp_thetay */
    int    n_loss;        /* loss and loss_grad evaluations */
    int    n_linearise;   /* linearisations: calls of the model's linearise
                             kernel or of a fused residual_linearise /
                             score_linearise (which also count in n_score,
                             and n_grad for the score's) */
} dil_info;

/* The defaults documented in dil_options. */
dil_options dil_default_options(void);

/*
 * Doubles of scratch that dil_solve, dil_backward and dil_loss_gradient need
 * with these options (opt NULL: the defaults): m->work_size for the kernels
 * plus every vector of the chosen solver and backward (ny*ny more for
 * DIL_BACKWARD_DENSE).  0 when m is NULL or has a negative size; saturates
 * at SIZE_MAX on overflow.
 */
size_t dil_work_size(const dil_model *m, const dil_options *opt);

/*
 * Forward: minimise f(.; x, theta).  y holds the initial guess on entry and
 * the argmin on return.  On DIL_MAX_ITER / DIL_LINE_SEARCH y holds the best
 * (lowest-score) iterate; on DIL_NOT_FINITE the last finite iterate; on
 * DIL_BAD_ARG / DIL_NO_MEMORY it is untouched.  See docs/solvers.md.
 */
int dil_solve(const dil_model *m, const double *x, const double *theta,
              double *y, const dil_options *opt, dil_info *info, double *work);

/*
 * Layer backward: given dl_dy (ny) at the solution y, the implicit terms
 * dl_dx = -(d2f/dx dy)^T g (nx) and dl_dtheta = -(d2f/dtheta dy)^T g
 * (ntheta) with (H + eps I) g = dl_dy; with DIL_BACKWARD_ROOT instead
 * dl_dx = -J_x^T g, dl_dtheta = -J_theta^T g with J^T g = dl_dy (the same
 * values at a root).  Either output may be NULL.  The
 * outputs are written when the status is DIL_OK, DIL_CG_MAX_ITER (from the
 * last CG iterate) or DIL_NOT_STATIONARY (the IFT formula evaluated anyway;
 * this status is reported in preference to DIL_CG_MAX_ITER, whose figures
 * stay in info).  On DIL_NOT_FINITE their contents are unspecified; on any
 * other status they are untouched.
 */
int dil_backward(const dil_model *m, const double *y, const double *x,
                 const double *theta, const double *dl_dy,
                 double *dl_dx, double *dl_dtheta,
                 const dil_options *opt, dil_info *info, double *work);

/*
 * The model's own loss at the solution y: *loss = L(y, x, theta, data) and
 * the total gradients (Theorem 1) dl_dx = -(d2f/dx dy)^T g + dL/dx and
 * dl_dtheta = -(d2f/dtheta dy)^T g + dL/dtheta with (H + eps I) g = dL/dy.
 * loss, dl_dx and dl_dtheta may each be NULL.  *loss is written as soon as it
 * is evaluated; the gradients follow the rule of dil_backward.  Needs the
 * model's loss and loss_grad kernels (else DIL_BAD_ARG).
 */
int dil_loss_gradient(const dil_model *m, const double *y, const double *x,
                      const double *theta, const double *data, double *loss,
                      double *dl_dx, double *dl_dtheta,
                      const dil_options *opt, dil_info *info, double *work);

/*
 * A training step of one instance: dil_solve, then dil_loss_gradient at the
 * y it returned, with these options, in one call.  The results are the bits
 * of the two calls; what the call saves is work: the backward starts where
 * the solve's last evaluation was, and takes the residual (or gradient) and
 * the linearised state from it rather than from another sweep of the model
 * (docs/solvers.md).  A solve that fails returns its status: y as dil_solve
 * leaves it, and loss, dl_dx and dl_dtheta untouched.  Otherwise the
 * status and outputs are dil_loss_gradient's.  info: the solve's figures
 * (iterations, ...), then the backward's over those it sets (grad_norm and
 * residual_norm at y, the CG figures); the call counters are the sums.
 */
int dil_solve_loss_gradient(const dil_model *m, const double *x, const double *theta,
                            double *y, const double *data, double *loss, double *dl_dx,
                            double *dl_dtheta, const dil_options *opt, dil_info *info,
                            double *work);

/*
 * Batches (SPEC section 5): n instances that share theta.  x, y, data,
 * dl_dy and dl_dx are n blocks stacked one after another (instance i's x at
 * x + i*nx); loss has n entries; dl_dtheta is the sum over the instances,
 * added in index order (the same bits for any thread count, and as a loop
 * of the single calls accumulating from 0 in that order; an instance whose
 * outputs are not written adds 0); info is an array of n entries, or NULL.
 * Each instance follows the rules of its single call, on a workspace of
 * dil_work_size doubles per thread (allocated once per call), plus blocks
 * of ntheta doubles for the instances' dl_dtheta (one when the batch runs
 * serially, four per thread on threads), each added to the sum once the
 * instances before it have been.  nthreads 0 uses OpenMP's default (every
 * core, unless OMP_NUM_THREADS says otherwise), 1 runs on the caller's
 * thread; a build without OpenMP always runs serially.
 * Returns DIL_OK only if every instance did, else the status of the
 * lowest-numbered failing instance; every instance's own status is in its
 * info.  n < 0, nthreads < 0 or a bad model: DIL_BAD_ARG (every info
 * entry says so); the call's own buffers unavailable: DIL_NO_MEMORY.
 */
int dil_solve_batch(const dil_model *m, int n, const double *x,
                    const double *theta, double *y, const dil_options *opt,
                    dil_info *info, int nthreads);
int dil_backward_batch(const dil_model *m, int n, const double *y,
                       const double *x, const double *theta,
                       const double *dl_dy, double *dl_dx, double *dl_dtheta,
                       const dil_options *opt, dil_info *info, int nthreads);
int dil_loss_gradient_batch(const dil_model *m, int n, const double *y,
                            const double *x, const double *theta,
                            const double *data, double *loss, double *dl_dx,
                            double *dl_dtheta, const dil_options *opt,
                            dil_info *info, int nthreads);
/* dil_solve_loss_gradient over a batch: y is in and out as in
   dil_solve_batch; an instance whose solve failed adds 0 to dl_dtheta. */
int dil_solve_loss_gradient_batch(const dil_model *m, int n, const double *x,
                                  const double *theta, double *y, const double *data,
                                  double *loss, double *dl_dx, double *dl_dtheta,
                                  const dil_options *opt, dil_info *info, int nthreads);

/* A static English name of a status ("DIL_OK", ...); never NULL, also for
   values that are not statuses. */
const char *dil_status_string(int status);

#ifdef __cplusplus
}
#endif

#endif
