/*
 * backward.c - the layer backward (dil_backward) and the loss gradient
 * (dil_loss_gradient): the bi-level implicit function theorem, Theorem 1.
 *
 * At a minimiser y* of f(.; x, theta), df/dy = 0 holds identically in x and
 * theta; differentiating it gives dy/dx = -H^-1 d2f/dx dy (Theorem 2), and
 * for a downstream loss L
 *     g solves (H + eps I) g = dL/dy                        (Eq. 3)
 *     dL/dx     = -(d2f/dx dy)^T g     + partial L/partial x
 *     dL/dtheta = -(d2f/dtheta dy)^T g + partial L/partial theta.
 * g comes from CG on Hessian-vector products (Algorithm 1, cg.c) or from the
 * dense solve (dense.c); the two mixed products are one call each of the
 * model's score_vjp_xy / score_vjp_thetay kernels with w = g.
 *
 * The IFT holds only where df/dy = 0.  Users do call the backward at a
 * loosely solved y, and the formula then silently computes the wrong
 * gradient, so ||df/dy|| is measured first and an excess over
 * stationary_tol is reported as DIL_NOT_STATIONARY (outputs still filled).
 *
 * Residual models with nres == ny may instead use the root-finding form
 * (DIL_BACKWARD_ROOT, root_backward.c): J^T g = dL/dy from residual Jacobian
 * products only; backward_core hands over to it, and the argument checks
 * below ask for the kernels of the form chosen.
 */
#include <math.h>
#include <stdlib.h>

#include "dil_internal.h"

/*
 * The shared core.  b = dL/dy (finite).  When add_x / add_theta are given
 * they are the direct terms added to the implicit ones.  w holds
 * dili_backward_work doubles.
 */
static int backward_core(dili_ctx *c, const double *y, const double *b,
                         double *dl_dx, double *dl_dtheta,
                         const double *add_x, const double *add_theta,
                         const dil_options *o, double *w)
{
    const dil_model *m = c->m;
    int n = m->ny, st, stationary;
    double *g = w, *tmp = g + n, *rest = tmp + n;
    dil_info *in = c->info;

    if (o->backward == DIL_BACKWARD_ROOT)
        return dili_root_backward(c, y, b, dl_dx, dl_dtheta, add_x, add_theta, o, w);

    st = dili_grad(c, y, tmp);
    in->grad_norm = dili_norm(n, tmp);
    if (st != DIL_OK)
        return st;
    stationary = in->grad_norm <= o->stationary_tol;

    if (o->backward == DIL_BACKWARD_CG) {
        dili_hess_op hop;
        dili_cg_problem pb;
        int it;
        hop.c = c;
        hop.y = y;
        pb.n = n;
        pb.apply = dili_hess_apply;
        pb.op = &hop;
        pb.eps = o->cg_eps;
        pb.rtol = o->cg_tol;
        pb.max_iter = o->cg_max_iter > 0 ? o->cg_max_iter : dili_default_cap(n);
        if (o->cg_x0 != NULL)
            dili_copy(n, o->cg_x0, g);
        st = dili_cg(&pb, b, g, o->cg_x0 != NULL, rest, rest + n, rest + 2 * n,
                     &it, &in->cg_residual);
        in->cg_iterations = it;
        in->cg_total = it;
        if (st != DIL_OK && st != DIL_CG_MAX_ITER)
            return st;
    } else {
        st = dili_dense_solve(c, y, o->cg_eps, b, g, rest);
        if (st != DIL_OK)
            return st;
    }
    if (o->cg_solution != NULL)
        dili_copy(n, g, o->cg_solution);

    /* dL/dx = -(d2f/dx dy)^T g (+ direct): one mixed VJP with w = g;
       likewise theta */
    int fs = dili_ift_out(c, m->score_vjp_xy, y, g, m->nx, dl_dx, add_x);
    if (fs == DIL_OK)
        fs = dili_ift_out(c, m->score_vjp_thetay, y, g, m->ntheta, dl_dtheta, add_theta);
    if (fs != DIL_OK)
        return fs;
    if (!stationary)
        return DIL_NOT_STATIONARY;
    return st;
}

/* Checks common to both entry points; DIL_OK, DIL_BAD_ARG or DIL_NOT_FINITE. */
static int check_backward(const dil_model *m, const double *y, const double *x,
                          const double *theta, double *dl_dx, double *dl_dtheta,
                          const dil_options *o)
{
    if (dili_check_model(m) != DIL_OK || y == NULL
        || (x == NULL && m->nx > 0) || (theta == NULL && m->ntheta > 0)
        || dili_check_options(m, o) != DIL_OK)
        return DIL_BAD_ARG;
    if (o->backward == DIL_BACKWARD_ROOT) {
        /* first-order residual kernels only, and a square J */
        if (m->nres != m->ny || !m->residual || !m->residual_jvp_y
            || !m->residual_vjp_y
            || (dl_dx != NULL && m->nx > 0 && !m->residual_vjp_x)
            || (dl_dtheta != NULL && m->ntheta > 0 && !m->residual_vjp_theta))
            return DIL_BAD_ARG;
    } else if (!m->score_grad_y || !m->score_hvp_yy
               || (dl_dx != NULL && m->nx > 0 && !m->score_vjp_xy)
               || (dl_dtheta != NULL && m->ntheta > 0 && !m->score_vjp_thetay)) {
        return DIL_BAD_ARG;
    }
    if (!dili_all_finite(m->ny, y) || !dili_all_finite(m->nx, x)
        || !dili_all_finite(m->ntheta, theta)
        || (o->backward != DIL_BACKWARD_DENSE && o->cg_x0 != NULL
            && !dili_all_finite(m->ny, o->cg_x0)))
        return DIL_NOT_FINITE;
    return DIL_OK;
}

int dil_backward(const dil_model *m, const double *y, const double *x,
                 const double *theta, const double *dl_dy,
                 double *dl_dx, double *dl_dtheta,
                 const dil_options *opt, dil_info *info, double *work)
{
    dil_info loc;
    dil_options def;
    dili_ctx c;
    double *base, *own;
    int st;

    dili_info_init(&loc);
    if (opt == NULL) {
        def = dil_default_options();
        opt = &def;
    }
    if (dl_dy == NULL)
        return dili_finish(info, &loc, DIL_BAD_ARG);
    st = check_backward(m, y, x, theta, dl_dx, dl_dtheta, opt);
    if (st != DIL_OK)
        return dili_finish(info, &loc, st);
    if (!dili_all_finite(m->ny, dl_dy))
        return dili_finish(info, &loc, DIL_NOT_FINITE);

    base = dili_work_acquire(m, dili_backward_work(m, opt), work, &own);
    if (base == NULL)
        return dili_finish(info, &loc, DIL_NO_MEMORY);
    c = (dili_ctx){m, x, theta, base, &loc};
    st = backward_core(&c, y, dl_dy, dl_dx, dl_dtheta, NULL, NULL, opt,
                       base + m->work_size);
    free(own);
    return dili_finish(info, &loc, st);
}

int dil_loss_gradient(const dil_model *m, const double *y, const double *x,
                      const double *theta, const double *data, double *loss,
                      double *dl_dx, double *dl_dtheta,
                      const dil_options *opt, dil_info *info, double *work)
{
    dil_info loc;
    dil_options def;
    dili_ctx c;
    double *base, *own, *gy, *gx, *gth, lv;
    int st;

    dili_info_init(&loc);
    if (opt == NULL) {
        def = dil_default_options();
        opt = &def;
    }
    st = check_backward(m, y, x, theta, dl_dx, dl_dtheta, opt);
    if (st == DIL_OK && (!m->loss || !m->loss_grad || (data == NULL && m->ndata > 0)))
        st = DIL_BAD_ARG;
    if (st != DIL_OK)
        return dili_finish(info, &loc, st);
    if (!dili_all_finite(m->ndata, data))
        return dili_finish(info, &loc, DIL_NOT_FINITE);

    base = dili_work_acquire(m, dili_loss_work(m, opt), work, &own);
    if (base == NULL)
        return dili_finish(info, &loc, DIL_NO_MEMORY);
    c = (dili_ctx){m, x, theta, base, &loc};
    gy = base + m->work_size;
    gx = gy + m->ny;
    gth = gx + m->nx;

    lv = m->loss(y, x, theta, data, c.kw);
    if (loss != NULL)
        *loss = lv;
    if (!isfinite(lv)) {
        st = DIL_NOT_FINITE;
    } else {
        /* the direct partials; g then solves (H + eps I) g = dL/dy */
        m->loss_grad(y, x, theta, data, gy, gx, gth, c.kw);
        if (!dili_all_finite(m->ny, gy) || !dili_all_finite(m->nx, gx)
            || !dili_all_finite(m->ntheta, gth))
            st = DIL_NOT_FINITE;
        else
            st = backward_core(&c, y, gy, dl_dx, dl_dtheta, gx, gth, opt,
                               gth + m->ntheta);
    }
    free(own);
    return dili_finish(info, &loc, st);
}
