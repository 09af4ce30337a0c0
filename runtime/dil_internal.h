/*
 * dil_internal.h - what the runtime's files share with each other, never
 * installed.
 *
 * One section per source file.  Every solver runs on a dili_ctx: the model,
 * its fixed inputs x and theta, the kernel scratch and the info record being
 * filled.  Kernels are called only through the counted wrappers of util.c,
 * which also apply the rule "a non-finite value from a kernel is an error"
 * in one place.  Scratch is carved from the caller's (or our) work array:
 * the kernel scratch first (m->work_size doubles), then the vectors of the
 * algorithm; each algorithm says how many doubles it needs.
 *
 * The forward solvers and the backward forms are described by tables in
 * GSL's style (dili_solver, dili_backward below): a row gives the name, the
 * kernels the method calls, its workspace and the function that runs it.
 * Adding a solver is one file that defines its row and one line in the
 * table of solve.c (plus its DIL_SOLVER_* value in dil.h); nothing else
 * switches on the solver.
 */
#ifndef DIL_INTERNAL_H
#define DIL_INTERNAL_H

#include <stddef.h>

#include "dil.h"

typedef struct dili_ctx {
    const dil_model *m;
    const double *x;      /* nx, may be NULL when nx == 0 */
    const double *theta;  /* ntheta, may be NULL when ntheta == 0 */
    double *kw;           /* m->work_size doubles for the kernels */
    dil_info *info;       /* never NULL: counters are kept here */
    /* linearise once: state (m->state_size) and the y it was computed at
       (lin_y, ny); NULL when the model has no linearise kernel */
    double *state, *lin_y;
    /* what the fused kernels returned at lin_y: r (lin_r, nres), and
       gy then f (lin_g, ny + 1); and a tiny J built there (lin_j,
       nres * ny when dili_small_fits, else NULL) */
    double *lin_r, *lin_g, *lin_j;
    int lin_valid;        /* the parts of state (DILI_LIN_*) that hold
                             lin_y's linearisation, and which of lin_r,
                             lin_g, lin_j hold its values; 0: none */
    int keep_jac;         /* a backward follows at the solve's answer
                             (step.c): a solver that ends on a tiny J's
                             root builds J there, for the backward */
    int wrote_theta;      /* dili_ift_out has written dl_dtheta (its kernel
                             ran): DILI_FILL_THETA below */
} dili_ctx;

/* ------------------------------------------------------------------ */
/* util.c: vectors and counted kernel calls                            */
/* ------------------------------------------------------------------ */

double dili_dot(int n, const double *a, const double *b);
double dili_norm(int n, const double *a);           /* overflow-safe 2-norm */
void dili_copy(int n, const double *src, double *dst);
void dili_zero(int n, double *v);
void dili_axpy(int n, double a, const double *xv, double *yv);  /* y += a x */
void dili_scale(int n, double a, double *v);
void dili_step(int n, const double *y, double t, const double *d, double *out);
int dili_all_finite(int n, const double *v);        /* 1 when all finite */
int dili_max_int(int a, int b);
int dili_moved(int n, const double *y, const double *y_try);  /* y_try != y */

/* The parts of the linearise-once state: what the residual_*_apply
   kernels read (filled by residual_linearise) and what the score_*_apply
   kernels read (score_linearise); `linearise` fills both. */
/* DILI_LIN_CERT: a descent solver's stopping test accepted lin_y (the
   Newton step within step_tol, the curvature certified), which implies
   the CG backward's checks with the same options (descent.c, backward.c). */
enum {
    DILI_LIN_RES = 1, DILI_LIN_SCORE = 2, DILI_LIN_R = 4, DILI_LIN_G = 8, DILI_LIN_J = 16,
    DILI_LIN_CERT = 32
};

/* Each returns DIL_OK or DIL_NOT_FINITE (the output has a NaN or inf). */
double dili_score(dili_ctx *c, const double *y);    /* value, may be non-finite */
int dili_grad(dili_ctx *c, const double *y, double *g);
int dili_hvp(dili_ctx *c, const double *y, const double *v, double *hv);
int dili_residual(dili_ctx *c, const double *y, double *r);
int dili_jvp(dili_ctx *c, const double *y, const double *v, double *jv);
int dili_rvjp(dili_ctx *c, const double *y, const double *w, double *out);
/* One sweep per iterate (dil_model.h, the fused kernels).  dili_residual_lin
   is dili_residual that also leaves the residual part of the state at y
   (counted in n_score and n_linearise); dili_score_grad gives *f (may be
   non-finite) and g = df/dy, by score_linearise when the model has it
   (the score part of the state then holds y's; counted in n_score,
   n_grad and n_linearise), else by score and score_grad_y.
   DIL_NOT_FINITE when f or g is not finite (g is then not evaluated in the
   fallback).  dili_grad_lin: g alone, by score_linearise when the model
   has it (f discarded), else by score_grad_y.  dili_fused_score: 1 when
   dili_score_grad takes one kernel call. */
int dili_residual_lin(dili_ctx *c, const double *y, double *r);
int dili_score_grad(dili_ctx *c, const double *y, double *f, double *g);
int dili_grad_lin(dili_ctx *c, const double *y, double *g);
int dili_fused_score(const dili_ctx *c);
/* 1 when the context's state is at y (bit for bit) and holds the parts
   and values in `want` (DILI_LIN_*). */
int dili_kept(const dili_ctx *c, const double *y, int want);
/* The loss and its partials (counted in info->n_loss). */
int dili_loss(dili_ctx *c, const double *y, const double *data, double *value);
int dili_loss_grad(dili_ctx *c, const double *y, const double *data,
                   double *gy, double *gx, double *gtheta);

/* The mixed products that end the IFT. */
enum { DILI_MIX_XY, DILI_MIX_THETAY, DILI_MIX_RES_X, DILI_MIX_RES_THETA };

/* The last step of the IFT (Theorem 1): out = -J^T w + direct, where J^T w
   is the product `which` (score_vjp_xy, ..., residual_vjp_theta; nx or
   ntheta entries) and direct the loss's own partial derivative (NULL:
   none).  Skipped when out is NULL or the length is 0.  DIL_OK or
   DIL_NOT_FINITE. */
int dili_ift_out(dili_ctx *c, int which, const double *y, const double *w,
                 double *out, const double *direct);

/* Doubles of the linearise area (state and a copy of y), 0 without a
   linearise kernel. */
size_t dili_lin_work(const dil_model *m);

/* Saturating size arithmetic for work sizes. */
size_t dili_add(size_t a, size_t b);
size_t dili_mul(size_t a, size_t b);

/* ------------------------------------------------------------------ */
/* descent.c: what every descent solver does at its start and stop     */
/* ------------------------------------------------------------------ */

/* A descent solver's iterate, shared with the stopping test. */
typedef struct dili_iter {
    double *y, *g;        /* the iterate and its gradient (ny each) */
    double f, gn;         /* its score and ||g|| */
    int k;                /* iterations: accepted steps and escapes */
    int stalled;          /* the last step changed f by rounding only */
    int failed;           /* the last line search failed */
    double *cw;           /* dili_descent_work(ny) doubles */
    int no_escape;        /* negative curvature: DIL_NOT_MINIMUM at once */
    int have_step;        /* cw[0, ny) holds H^-1 g at y, the Newton step of
                             a failed stopping test (to -p: Newton reuses
                             it instead of its inner CG) */
} dili_iter;

enum { DILI_GO_ON = -1, DILI_ESCAPED = -2 };

size_t dili_descent_work(int n);    /* curvature block + a trial point */

/* The start of every descent solver: *f = score(y) and g = grad(y), with
   info's score and grad_norm set; DIL_OK or DIL_NOT_FINITE. */
int dili_start(dili_ctx *c, const double *y, double *f, double *g);

/* After a step to it->y (score f_new): g (unless have_g: the caller has
   stored it), gn, f, stalled, failed and k updated.  On a non-finite
   gradient info gets the step's figures and DIL_NOT_FINITE is returned. */
int dili_after_step(dili_ctx *c, dili_iter *it, double f_new, int have_g);

/*
 * The stopping test at the top of every iteration (descent.c): records the
 * figures in info; DIL_OK (converged and certified), DIL_MAX_ITER,
 * DIL_LINE_SEARCH (it->failed and not converged), DIL_NOT_MINIMUM,
 * DIL_NOT_FINITE, DILI_ESCAPED (moved off a saddle: curvature memory is
 * stale) or DILI_GO_ON.
 */
int dili_stop(dili_ctx *c, dili_iter *it, const dil_options *o);

/* 1 when Ritz values show a clearly negative eigenvalue of H. */
struct dili_ritz;
int dili_negative(const dil_model *m, const struct dili_ritz *r);

/* ------------------------------------------------------------------ */
/* call.c (with the prologue below): which kernels a method needs      */
/* ------------------------------------------------------------------ */

enum {
    DILI_K_SCORE = 1u << 0,       /* score */
    DILI_K_GRAD = 1u << 1,        /* score_grad_y */
    DILI_K_HVP = 1u << 2,         /* score_hvp_yy */
    DILI_K_VJP_XY = 1u << 3,      /* score_vjp_xy */
    DILI_K_VJP_THETAY = 1u << 4,  /* score_vjp_thetay */
    DILI_K_LOSS = 1u << 5,        /* loss and loss_grad */
    DILI_K_RES = 1u << 6,         /* residual, and nres >= 1 */
    DILI_K_JVP = 1u << 7,         /* residual_jvp_y */
    DILI_K_RVJP = 1u << 8,        /* residual_vjp_y */
    DILI_K_RVJP_X = 1u << 9,      /* residual_vjp_x */
    DILI_K_RVJP_THETA = 1u << 10, /* residual_vjp_theta */
    DILI_K_SQUARE = 1u << 11      /* nres == ny */
};

/* 1 when m has every kernel (and shape) in `need`. */
int dili_has_kernels(const dil_model *m, unsigned need);

/* ------------------------------------------------------------------ */
/* solve.c and the solver files: the forward solver table              */
/* ------------------------------------------------------------------ */

typedef struct dili_solver {
    int id;               /* DIL_SOLVER_* */
    const char *name;
    unsigned kernels;     /* DILI_K_* that it calls */
    /* doubles it needs beyond m->work_size (o is checked) */
    size_t (*work)(const dil_model *m, const dil_options *o);
    /* its own options: DIL_OK or DIL_BAD_ARG; NULL when it has none */
    int (*check)(const dil_options *o);
    /* the solve: y (finite) in, best iterate out; w holds work() doubles */
    int (*run)(dili_ctx *c, double *y, const dil_options *o, double *w);
} dili_solver;

/* The row of solver id, NULL when there is none. */
const dili_solver *dili_find_solver(int id);

extern const dili_solver dili_newton_solver, dili_gauss_newton_solver,
    dili_lbfgs_solver, dili_gradient_solver, dili_fixed_point_solver,
    dili_user_solver;

/* ------------------------------------------------------------------ */
/* backward.c and the backward files: the backward form table          */
/* ------------------------------------------------------------------ */

/* The outputs of a backward call and the direct terms added to them. */
typedef struct dili_outputs {
    double *dl_dx, *dl_dtheta;              /* NULL: not wanted */
    const double *add_x, *add_theta;        /* NULL: none */
} dili_outputs;

typedef struct dili_backward {
    int id;               /* DIL_BACKWARD_* */
    const char *name;
    unsigned kernels;     /* always called */
    unsigned kernels_x;   /* called for dl_dx (when nx > 0) */
    unsigned kernels_theta; /* called for dl_dtheta (when ntheta > 0) */
    int uses_x0;          /* reads cg_x0 */
    size_t (*work)(const dil_model *m);     /* beyond m->work_size */
    /* b = dL/dy at y (finite); w holds work() doubles */
    int (*run)(dili_ctx *c, const double *y, const double *b,
               const dili_outputs *out, const dil_options *o, double *w);
} dili_backward;

const dili_backward *dili_find_backward(int id);

extern const dili_backward dili_cg_backward, dili_dense_backward,
    dili_root_backward;

/* ------------------------------------------------------------------ */
/* call.c: the prologue and epilogue of every public call              */
/* ------------------------------------------------------------------ */

/* DILI_CALL_STEP: dil_solve_loss_gradient, a solve then the loss's. */
enum { DILI_CALL_SOLVE, DILI_CALL_BACKWARD, DILI_CALL_LOSS, DILI_CALL_STEP };

/* The arguments of a public call, NULL where the call has none. */
typedef struct dili_args {
    int kind;             /* DILI_CALL_* */
    const double *y, *x, *theta, *data, *dl_dy;
    double *dl_dx, *dl_dtheta;
    int flags;            /* DILI_THETA_FINITE, DILI_FILL_THETA (below) */
} dili_args;

typedef struct dili_call {
    dil_info loc;         /* the info being filled */
    dil_options def;      /* the defaults, when opt was NULL */
    const dil_options *o; /* the options in force */
    double *own;          /* our allocation, if any */
    dili_ctx c;
    double *w;            /* the method's scratch, after the kernels' */
    double *fill;         /* DILI_FILL_THETA: dl_dtheta, else NULL */
    int nfill;            /* its length, ntheta */
} dili_call;

/*
 * The checks every entry point makes, in one order: DIL_BAD_ARG for a NULL
 * or badly sized argument, an option out of range or a kernel the chosen
 * method (and outputs) need; then DIL_NOT_FINITE for a NaN or infinity in
 * an input block.  On DIL_OK, k->o holds the options in force.
 */
int dili_begin(dili_call *k, const dil_model *m, const dil_options *opt,
               const dili_args *a);
/* The workspace: m->work_size doubles of kernel scratch, `extra` for the
   method, then dili_lin_work(m) for linearise once; the caller's `work`
   or ours.  Sets k->c and k->w.  DIL_OK or DIL_NO_MEMORY. */
int dili_acquire(dili_call *k, const dil_model *m, const double *x,
                 const double *theta, size_t extra, double *work);
/* Zeroes dl_dtheta if DILI_FILL_THETA asked for it and the call did not
   write it; frees what dili_acquire allocated, stores st in info;
   returns st. */
int dili_end(dili_call *k, dil_info *info, int st);

/*
 * dil_solve, dil_backward, dil_loss_gradient and dil_solve_loss_gradient
 * (step.c), with flags (dili_args; the public calls pass 0):
 *   DILI_THETA_FINITE  the caller has found theta finite (batch.c checks
 *                      it once, which spares n scans of ntheta doubles);
 *   DILI_FILL_THETA    dl_dtheta (if wanted) is zeroed when the call
 *                      returns without having written it (a status
 *                      before the theta product): batch.c adds each
 *                      instance's block to its sum without zeroing the
 *                      block first, since a written block is written
 *                      whole (dili_ift_out is its one writer).
 * DILI_THETA_FINITE is 1, so a plain 0/1 "theta finite" means the same.
 */
enum { DILI_THETA_FINITE = 1, DILI_FILL_THETA = 2 };
int dili_solve_call(const dil_model *m, const double *x, const double *theta,
                    double *y, const dil_options *opt, dil_info *info, double *work,
                    int flags);
int dili_backward_call(const dil_model *m, const double *y, const double *x,
                       const double *theta, const double *dl_dy, double *dl_dx,
                       double *dl_dtheta, const dil_options *opt, dil_info *info,
                       double *work, int flags);
int dili_loss_call(const dil_model *m, const double *y, const double *x,
                   const double *theta, const double *data, double *loss,
                   double *dl_dx, double *dl_dtheta, const dil_options *opt,
                   dil_info *info, double *work, int flags);
int dili_step_call(const dil_model *m, const double *x, const double *theta, double *y,
                   const double *data, double *loss, double *dl_dx, double *dl_dtheta,
                   const dil_options *opt, dil_info *info, double *work, int flags);
/* dil_loss_gradient's work after its checks, on k's context (k->w holds
   dili_loss_work doubles); step.c runs it after the solve. */
int dili_loss_run(dili_call *k, const double *y, const double *data, double *loss,
                  double *dl_dx, double *dl_dtheta);

/* options.c: DIL_OK or DIL_BAD_ARG (ranges, and the solver's own check). */
int dili_check_options(const dil_options *o);

/* Per-call scratch beyond m->work_size, in doubles (o checked). */
size_t dili_solve_work(const dil_model *m, const dil_options *o);
size_t dili_backward_work(const dil_model *m, const dil_options *o);
size_t dili_loss_work(const dil_model *m, const dil_options *o);
/* dil_solve_loss_gradient's: the larger of the solve's and the loss's. */
size_t dili_step_work(const dil_model *m, const dil_options *o);
int dili_default_cap(int ny);                       /* max(2*ny, 50) */

/* ------------------------------------------------------------------ */
/* cg.c: conjugate gradient, Algorithm 1                               */
/* ------------------------------------------------------------------ */

/* av = A v for a symmetric operator A; returns DIL_OK or DIL_NOT_FINITE. */
typedef int (*dili_apply_fn)(void *op, const double *v, double *av);

typedef struct dili_cg_problem {
    int n;
    dili_apply_fn apply;  /* A; CG solves (A + eps I) x = b */
    void *op;
    double eps;           /* >= 0 */
    double rtol;          /* stop when ||r|| <= rtol * ||b|| */
    int max_iter;         /* > 0 */
    /* NULL (dili_cg_setup's default), or called after every iteration with
       the iterate and ||r||: a nonzero return ends CG there with DIL_OK */
    int (*watch)(void *ctx, const double *x, double rnorm);
    void *watch_ctx;
} dili_cg_problem;

/* A problem of size n; cap is an iteration option (0: dili_default_cap). */
dili_cg_problem dili_cg_setup(int n, dili_apply_fn apply, void *op, double eps,
                              double rtol, int cap);

int dili_cg(const dili_cg_problem *pb, const double *b, double *xs,
            int have_x0, double *r, double *p, double *ap,
            int *iters, double *relres);
/* dili_cg with w (3n) as its r, p, ap, recording cg_iterations,
   cg_residual and cg_total in info. */
int dili_cg_run(const dili_cg_problem *pb, const double *b, double *xs,
                int have_x0, double *w, dil_info *info);
size_t dili_cg_work(int n);                         /* r, p, ap: 3n */

/* The Hessian H = d2f/dy2 at y as a dili_apply_fn (op: dili_hess_op). */
typedef struct dili_hess_op {
    dili_ctx *c;
    const double *y;
} dili_hess_op;
int dili_hess_apply(void *op, const double *v, double *av);

/* stationary.c: the convergence criterion shared by the forward stop and
   the backward's stationarity check, dist = ||(H + eps I)^-1 g|| (the
   Newton step) by CG from 0 to DILI_DIST_RTOL or 2 ny products; *dist = -1
   when CG meets non-positive curvature (no estimate).  d (n) gets the step,
   w (3n) is CG's scratch.  DIL_OK or DIL_NOT_FINITE. */
#define DILI_DIST_RTOL 1e-8
int dili_newton_distance(dili_apply_fn apply, void *op, int n, const double *g,
                         double eps, double *d, double *w, double *dist);
/* The backward's verdict without always paying for the whole CG: the same
   iteration as dili_newton_distance, ended as soon as the answer is known,
   by the lower bound ||d_k|| (> thr: not stationary) or, given lo > 0 (a
   smallest eigenvalue of H + eps I: the Ritz value of a Lanczos run that
   saw all of H), by the upper bound ||d_k|| + ||r_k|| / lo (<= thr:
   stationary).  *dist gets the bound that decided, or the distance. */
int dili_newton_within(dili_apply_fn apply, void *op, int n, const double *g,
                       double eps, double thr, double lo, double *d, double *w,
                       double *dist);
/* The forward's verdict at y (score f, ||g|| = gn, ||y|| = yn) and the
   backward's; docs/solvers.md, "Stopping rule and certified minimum". */
int dili_forward_converged(double dist, double gn, double f, double yn,
                           const dil_options *o);
int dili_backward_stationary(double dist, double gn, double yn, const dil_options *o);

/* The Gauss-Newton (normal-equations) matrix J^T J of the residual at a
   fixed y as a dili_apply_fn: J v (residual_jvp_y) into jv, then J^T (J v)
   (residual_vjp_y); two Jacobian products per application. */
typedef struct dili_normal_op {
    dili_ctx *c;
    const double *y;
    double *jv;           /* nres doubles of scratch */
    const double *jd;     /* NULL, or J at y held densely (dili_small_jac):
                             then the products call no kernel */
} dili_normal_op;
int dili_normal_apply(void *op, const double *v, double *av);

/* ------------------------------------------------------------------ */
/* small.c: tiny Jacobians held densely, small dense factorisations    */
/* ------------------------------------------------------------------ */

/* Tiny Jacobians held densely.  When nres * ny <= DILI_SMALL_JAC (the Van
   der Pol step: 2 x 2), ny Jacobian products J e_j build J once per point
   (column-major, jd[j*nres + i] = dr_i/dy_j), and every later product at
   that point (J v, J^T w) is a small dense loop, and the systems with
   J^T J + eps I are solved directly (Cholesky) rather than by CG:
   Gauss-Newton's step and the root-form backward, which otherwise spend
   two kernel calls per CG or Lanczos step (docs/solvers.md). */
#define DILI_SMALL_JAC 64
int dili_small_fits(const dil_model *m);
int dili_small_jac(dili_ctx *c, const double *y, double *jd);
void dili_small_jv(int nr, int n, const double *jd, const double *v, double *jv);
void dili_small_jtw(int nr, int n, const double *jd, const double *w, double *out);
/* g = J^T w at y (ny): by the kernel when jd is NULL; else J is first
   built into jd (dili_small_jac) and g is the dense product.  DIL_OK or
   DIL_NOT_FINITE. */
int dili_jtw(dili_ctx *c, const double *y, const double *w, double *jd, double *g);
/* a (n x n, row-major) = J^T J + eps I, exactly symmetric. */
void dili_small_gram(int nr, int n, const double *jd, double eps, double *a);
/* out = b - (J^T J z + eps z) through J (jz: nres doubles of scratch). */
void dili_small_normal_res(int nr, int n, const double *jd, double eps, const double *b,
                           const double *z, double *jz, double *out);
/* The smallest and largest eigenvalue of the symmetric a (n^2 <=
   DILI_SMALL_JAC) by cyclic Jacobi; a is not changed. */
void dili_small_eig(int n, const double *a, double *lmin, double *lmax);
/* Cholesky of the row-major a (any n) in its lower triangle: 1, or 0 when
   a pivot is at or below thresh (that pivot in *bad); then x := A^-1 x
   from the factor. */
int dili_cholesky(int n, double *a, double thresh, double *bad);
void dili_cholesky_solve(int n, const double *a, double *x);

/* ------------------------------------------------------------------ */
/* curvature.c: Lanczos on the Hessian, the curvature operator         */
/* ------------------------------------------------------------------ */

#define DILI_MAX_LANCZOS 64   /* the largest curvature_check */

/* H at y as a dili_apply_fn: the HVP kernel, or central differences of the
   gradient when the model has none.  w: dili_curv_work(ny) doubles. */
typedef struct dili_curv {
    dili_ctx *c;
    const double *y;
    double *w;
} dili_curv;
int dili_curv_apply(void *op, const double *v, double *hv);
size_t dili_curv_work(int n);                       /* 7n */

/* Extreme Ritz values of k Lanczos steps and the steps (products) done. */
typedef struct dili_ritz {
    double lmin, lmax;
    int steps;
} dili_ritz;

/*
 * min(k, n, DILI_MAX_LANCZOS) Lanczos steps on the symmetric operator from
 * a fixed pseudo-random start; w holds 3n doubles (the first 3n of a
 * dili_curv work block will do).  With u != NULL, u (n) also gets the unit
 * Ritz vector of lmin (k more products).  DIL_OK or DIL_NOT_FINITE.
 */
int dili_spectrum(dili_apply_fn apply, void *op, int n, int k, double *w,
                  double *u, dili_ritz *out);

/* ------------------------------------------------------------------ */
/* linesearch.c: Armijo backtracking and the weak Wolfe search         */
/* ------------------------------------------------------------------ */

/* One line search: from y (score f0, slope g0d = g^T d < 0) along d. */
typedef struct dili_search {
    const double *y, *d;
    double f0, g0d;
    double t0;            /* first trial step */
} dili_search;

/* The result: y_try = y + t d, its score (and, for Wolfe, gradient). */
typedef struct dili_found {
    double *y_try;        /* ny, caller's */
    double *g_try;        /* ny, caller's; Wolfe, and Armijo when not NULL:
                             then each trial point is evaluated by
                             dili_score_grad when the model has the fused
                             kernel (one sweep gives f, g and the state) */
    double f, t;
    int have_g;           /* Armijo: g_try holds the gradient at y_try (the
                             fused kernel's, or that of a step accepted on
                             slopes) */
} dili_found;

/*
 * Armijo backtracking: the first t in t0, t0/2, ... with f(y + t d) <= f0
 * + c1 t g0d (+ a few ulps of |f0| on the first trial); with g_try, a
 * first trial whose f is within dili_flat_band of f0, and whose predicted
 * decrease is too, may pass on slopes (approximate Wolfe).  Returns DIL_OK,
 * DIL_LINE_SEARCH or DIL_NOT_FINITE; out->have_g says whether out->g_try
 * was filled.
 */
int dili_armijo(dili_ctx *c, const dili_search *s, const dil_options *o,
                dili_found *out);
/*
 * Weak Wolfe search by doubling and bisection: sufficient decrease and
 * g(y + t d)'d >= c2 g0d.  DIL_OK, DIL_LINE_SEARCH or DIL_NOT_FINITE.
 */
int dili_wolfe(dili_ctx *c, const dili_search *s, const dil_options *o,
               dili_found *out);
double dili_armijo_slack(double f0);
double dili_flat_band(double f0);

/* ------------------------------------------------------------------ */
/* backward.c: the score form shared by the CG and dense rows          */
/* ------------------------------------------------------------------ */

/* The score form's core, shared by the CG and dense rows: g from `solve`,
   stationarity, then the two IFT products.  w: 2 ny + what solve needs.
   `solve` gets gy = df/dy at y (gn = ||gy|| > 0) and sets *dist, its
   estimate of the distance to the stationary point, ||H^-1 gy|| (or
   -1 when H gives none). */
typedef int (*dili_linsolve_fn)(dili_ctx *c, const double *y, const double *b,
                                double *g, const double *gy, double *dist,
                                const dil_options *o, double *w);
int dili_score_backward(dili_ctx *c, const double *y, const double *b,
                        const dili_outputs *out, const dil_options *o, double *w,
                        dili_linsolve_fn solve);

#endif
