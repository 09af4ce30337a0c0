/*
 * cg.c - the conjugate gradient method of the paper's Algorithm 1 (VJP_CG).
 *
 * Solves (A + eps I) x = b for a symmetric operator A that is only ever
 * applied to vectors: in the backward pass A is the Hessian d2f/dy2 at the
 * solution (one Hessian-vector product per iteration, never a matrix), in
 * Gauss-Newton it is J^T J (two Jacobian products).  eps > 0 is the paper's
 * remedy for a singular, merely semi-definite Hessian.
 *
 * The iteration is Algorithm 1 line by line:
 *     r0 = b - (A x0 + eps x0),  p0 = r0
 *     alpha = r'r / p'(A + eps I)p,  x += alpha p,  r -= alpha (A + eps I)p
 *     beta = r_new'r_new / r'r,      p = r_new + beta p
 * and it stops when ||r|| <= rtol ||b||.  Two hazards are made explicit:
 *   - CG is only defined for SPD systems.  Away from a strict minimum, or
 *     with eps = 0 on an indefinite H, the curvature p'(A + eps I)p can be
 *     <= 0; alpha would then step to a maximum or divide by zero, so we stop
 *     with DIL_CG_BREAKDOWN.  x then holds the last iterate and p the
 *     offending direction, which Newton-CG (Steihaug) uses.
 *   - The residual r is the recursively updated one, as in Algorithm 1; it
 *     drifts from b - (A + eps I)x by rounding only, at the level of
 *     machine precision times the condition number.
 */
#include <math.h>

#include "dil_internal.h"

size_t dili_cg_work(int n)
{
    return dili_mul(3, (size_t)n);
}

dili_cg_problem dili_cg_setup(int n, dili_apply_fn apply, void *op, double eps,
                              double rtol, int cap)
{
    dili_cg_problem pb;
    pb.n = n;
    pb.apply = apply;
    pb.op = op;
    pb.eps = eps;
    pb.rtol = rtol;
    pb.max_iter = cap > 0 ? cap : dili_default_cap(n);
    pb.watch = NULL;
    pb.watch_ctx = NULL;
    return pb;
}

int dili_cg_run(const dili_cg_problem *pb, const double *b, double *xs,
                int have_x0, double *w, dil_info *info)
{
    int it, st;
    st = dili_cg(pb, b, xs, have_x0, w, w + pb->n, w + 2 * (size_t)pb->n, &it,
                 &info->cg_residual);
    info->cg_iterations = it;
    info->cg_total += it;
    return st;
}

/* (A + eps I) v, the operator of Algorithm 1. */
static int apply_shifted(const dili_cg_problem *pb, const double *v, double *av)
{
    int st = pb->apply(pb->op, v, av);
    if (st != DIL_OK)
        return st;
    if (pb->eps != 0.0)
        dili_axpy(pb->n, pb->eps, v, av);
    return DIL_OK;
}

/*
 * Contract: pb->n > 0, pb->max_iter >= 0, pb->rtol >= 0, pb->eps >= 0;
 * b, xs, r, p, ap each hold n doubles and do not overlap.  With have_x0, xs
 * holds the initial guess on entry; else it starts at 0.  On return xs holds
 * the last iterate, *iters the iterations done and *relres ||r|| / ||b||
 * (0 when b = 0, where the answer is x = 0).  Returns DIL_OK,
 * DIL_CG_MAX_ITER, DIL_CG_BREAKDOWN or DIL_NOT_FINITE (from the operator, or
 * an overflowing curvature).
 */
int dili_cg(const dili_cg_problem *pb, const double *b, double *xs,
            int have_x0, double *r, double *p, double *ap,
            int *iters, double *relres)
{
    int n = pb->n, k = 0, st;
    double bnorm = dili_norm(n, b), rr, tol;

    *iters = 0;
    *relres = 0.0;
    if (bnorm == 0.0) {
        /* (A + eps I) x = 0: x = 0 is the solution (the minimum-norm one
           when the system is singular); no operator call is needed. */
        dili_zero(n, xs);
        return DIL_OK;
    }
    /* Init x0; r0 = b - (A x0 + eps x0) */
    if (have_x0) {
        st = apply_shifted(pb, xs, ap);
        if (st != DIL_OK)
            return st;
        dili_copy(n, b, r);
        dili_axpy(n, -1.0, ap, r);
    } else {
        dili_zero(n, xs);
        dili_copy(n, b, r);
    }
    dili_copy(n, r, p);
    rr = dili_dot(n, r, r);
    tol = pb->rtol * bnorm;

    while (sqrt(rr) > tol) {
        double pap, alpha, rr_new, beta;
        if (k >= pb->max_iter) {
            *iters = k;
            *relres = sqrt(rr) / bnorm;
            return DIL_CG_MAX_ITER;
        }
        st = apply_shifted(pb, p, ap);          /* Ap_k = H p_k + eps p_k */
        if (st != DIL_OK) {
            *iters = k;
            *relres = sqrt(rr) / bnorm;
            return st;
        }
        pap = dili_dot(n, p, ap);
        if (!isfinite(pap)) {
            *iters = k;
            *relres = sqrt(rr) / bnorm;
            return DIL_NOT_FINITE;
        }
        if (pap <= 0.0) {
            /* non-positive curvature: H + eps I is not positive definite */
            *iters = k;
            *relres = sqrt(rr) / bnorm;
            return DIL_CG_BREAKDOWN;
        }
        alpha = rr / pap;                       /* alpha_k = r'r / p'Ap */
        dili_axpy(n, alpha, p, xs);             /* x_{k+1} = x_k + alpha p_k */
        dili_axpy(n, -alpha, ap, r);            /* r_{k+1} = r_k - alpha Ap_k */
        rr_new = dili_dot(n, r, r);
        beta = rr_new / rr;                     /* beta_k = r'r new / old */
        {
            int i;
            for (i = 0; i < n; i++)             /* p_{k+1} = r_{k+1} + beta p_k */
                p[i] = r[i] + beta * p[i];
        }
        rr = rr_new;
        k++;
        if (pb->watch != NULL && pb->watch(pb->watch_ctx, xs, sqrt(rr)))
            break;
    }
    *iters = k;
    *relres = sqrt(rr) / bnorm;
    return DIL_OK;
}

/* The Hessian of the score at a fixed y, one HVP kernel call per product. */
int dili_hess_apply(void *op, const double *v, double *av)
{
    dili_hess_op *h = (dili_hess_op *)op;
    return dili_hvp(h->c, h->y, v, av);
}

/* J^T (J v): Gauss-Newton's matrix and the root-form backward's. */
int dili_normal_apply(void *op, const double *v, double *av)
{
    dili_normal_op *g = (dili_normal_op *)op;
    int st;
    if (g->jd != NULL) {
        const dil_model *m = g->c->m;
        dili_small_jv(m->nres, m->ny, g->jd, v, g->jv);
        dili_small_jtw(m->nres, m->ny, g->jd, g->jv, av);
        return dili_all_finite(m->ny, av) ? DIL_OK : DIL_NOT_FINITE;
    }
    st = dili_jvp(g->c, g->y, v, g->jv);
    if (st != DIL_OK)
        return st;
    return dili_rvjp(g->c, g->y, g->jv, av);
}
