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
 * algorithm; each algorithm file exports how many doubles it needs.
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
int dili_all_finite(int n, const double *v);        /* 1 when all finite */
int dili_max_int(int a, int b);
int dili_moved(int n, const double *y, const double *y_try);  /* y_try != y */

/* Each returns DIL_OK or DIL_NOT_FINITE (the output has a NaN or inf). */
double dili_score(dili_ctx *c, const double *y);    /* value, may be non-finite */
int dili_grad(dili_ctx *c, const double *y, double *g);
int dili_hvp(dili_ctx *c, const double *y, const double *v, double *hv);
int dili_residual(dili_ctx *c, const double *y, double *r);
int dili_jvp(dili_ctx *c, const double *y, const double *v, double *jv);
int dili_rvjp(dili_ctx *c, const double *y, const double *w, double *out);

/* The stopping test at the top of every descent iteration k: records
   k, f and ||g|| in info; DIL_OK when ||g|| <= tol, DIL_MAX_ITER when k
   reached max_iter, else -1 (go on). */
int dili_stop(dil_info *in, int k, double f, double gn, const dil_options *o);

/* The start of every descent solver: *f = score(y) and g = grad(y), with
   info's score and grad_norm set; DIL_OK or DIL_NOT_FINITE. */
int dili_start(dili_ctx *c, const double *y, double *f, double *g);

/* A vector-Jacobian product kernel (score_vjp_xy, residual_vjp_theta, ...). */
typedef void (*dili_vjp_fn)(const double *y, const double *x, const double *theta,
                            const double *w, double *out, double *work);

/* The last step of the IFT (Theorem 1): out = -J^T w + direct, where J^T w
   is the kernel's product (len entries) and direct the loss's own partial
   derivative (NULL: none).  Skipped when out is NULL or len is 0.
   DIL_OK or DIL_NOT_FINITE. */
int dili_ift_out(dili_ctx *c, dili_vjp_fn vjp, const double *y, const double *w, int len,
                 double *out, const double *direct);

/* Workspace: the caller's, or malloc'ed (*own, freed by the caller of
   this; NULL on failure). */
double *dili_work_acquire(const dil_model *m, size_t extra, double *work,
                          double **own);
/* Store status in loc and copy loc to info (if not NULL); returns status. */
int dili_finish(dil_info *info, dil_info *loc, int status);
void dili_info_init(dil_info *loc);

/* Saturating size arithmetic for work sizes. */
size_t dili_add(size_t a, size_t b);
size_t dili_mul(size_t a, size_t b);

/* ------------------------------------------------------------------ */
/* options.c: argument checks shared by the entry points               */
/* ------------------------------------------------------------------ */

int dili_check_model(const dil_model *m);           /* DIL_OK or DIL_BAD_ARG */
int dili_check_options(const dil_model *m, const dil_options *o);
int dili_default_cap(int ny);                       /* max(2*ny, 50) */
/* Per-call scratch beyond m->work_size, in doubles. */
size_t dili_solve_work(const dil_model *m, const dil_options *o);
size_t dili_backward_work(const dil_model *m, const dil_options *o);
size_t dili_loss_work(const dil_model *m, const dil_options *o);

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
} dili_cg_problem;

int dili_cg(const dili_cg_problem *pb, const double *b, double *xs,
            int have_x0, double *r, double *p, double *ap,
            int *iters, double *relres);
size_t dili_cg_work(int n);                         /* r, p, ap: 3n */

/* The Hessian H = d2f/dy2 at y as a dili_apply_fn (op: dili_hess_op). */
typedef struct dili_hess_op {
    dili_ctx *c;
    const double *y;
} dili_hess_op;
int dili_hess_apply(void *op, const double *v, double *av);

/* The Gauss-Newton (normal-equations) matrix J^T J of the residual at a
   fixed y as a dili_apply_fn: J v (residual_jvp_y) into jv, then J^T (J v)
   (residual_vjp_y); two Jacobian products per application. */
typedef struct dili_normal_op {
    dili_ctx *c;
    const double *y;
    double *jv;           /* nres doubles of scratch */
} dili_normal_op;
int dili_normal_apply(void *op, const double *v, double *av);

/* ------------------------------------------------------------------ */
/* dense.c: the naive backward solve                                   */
/* ------------------------------------------------------------------ */

int dili_dense_solve(dili_ctx *c, const double *y, double eps,
                     const double *b, double *g, double *w);
size_t dili_dense_work(int n);                      /* n*n + 3n */

/* ------------------------------------------------------------------ */
/* root_backward.c: the root-finding backward of residual models       */
/* ------------------------------------------------------------------ */

/*
 * DIL_BACKWARD_ROOT for nres == ny: z from (J^T J + eps I) z = b by CG, the
 * adjoint a = J z (so J^T a = b when eps = 0), then dl_dx = -J_x^T a
 * (+ add_x) and dl_dtheta = -J_theta^T a (+ add_theta).  Same output and
 * status rules as the score-form backward; w holds dili_root_work(ny).
 */
int dili_root_backward(dili_ctx *c, const double *y, const double *b,
                       double *dl_dx, double *dl_dtheta,
                       const double *add_x, const double *add_theta,
                       const dil_options *o, double *w);
size_t dili_root_work(int n);                       /* z, r, J^T r, CG: 6n */

/* ------------------------------------------------------------------ */
/* line search helpers (newton.c) and the solvers, one file each       */
/* ------------------------------------------------------------------ */

/*
 * Armijo backtracking along d from y (score f0, slope g0d = g^T d < 0):
 * the first t in t0, t0/2, ... with f(y + t d) <= f0 + c1 t g0d (+ a few
 * ulps of |f0|).  On success y_try holds y + t d, *f_try its score.
 * Returns DIL_OK or DIL_LINE_SEARCH.
 */
int dili_armijo(dili_ctx *c, const double *y, double f0, const double *d,
                double g0d, double t0, const dil_options *o,
                double *y_try, double *f_try, double *t_out);
double dili_armijo_slack(double f0);

int dili_newton(dili_ctx *c, double *y, const dil_options *o, double *w);
size_t dili_newton_work(int ny);
int dili_gradient(dili_ctx *c, double *y, const dil_options *o, double *w);
size_t dili_gradient_work(int ny);
int dili_lbfgs(dili_ctx *c, double *y, const dil_options *o, double *w);
size_t dili_lbfgs_work(int ny, int mem);
int dili_gauss_newton(dili_ctx *c, double *y, const dil_options *o, double *w);
size_t dili_gauss_newton_work(int ny, int nres);
int dili_fixed_point(dili_ctx *c, double *y, const dil_options *o, double *w);
size_t dili_fixed_point_work(int ny);

#endif
