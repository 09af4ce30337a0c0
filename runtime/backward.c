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
 * The IFT holds only where df/dy = 0, and gives the derivative of the
 * minimiser only where H is positive definite.  Users do call the backward
 * at a loosely solved y, and the formula then silently computes the wrong
 * gradient, so stationarity is measured first (stationary_at) and a failure
 * reported as DIL_NOT_STATIONARY (outputs still filled); and H is checked
 * (Lanczos in the CG form, Cholesky in the dense form): DIL_NOT_MINIMUM,
 * outputs untouched.
 *
 * Residual models with nres == ny may instead use the root-finding form
 * (DIL_BACKWARD_ROOT, root_backward.c): J^T g = dL/dy from residual Jacobian
 * products only.  The three forms are the rows of the table below
 * (dili_backward): each names its kernels, workspace and run function, and
 * the entry points dispatch through it (the checks are in call.c).
 */
#include <math.h>
#include <stddef.h>

#include "dil_internal.h"

static const dili_backward *const backwards[] = {
    &dili_cg_backward,
    &dili_dense_backward,
    &dili_root_backward,
};

const dili_backward *dili_find_backward(int id)
{
    size_t i;
    for (i = 0; i < sizeof backwards / sizeof backwards[0]; i++)
        if (backwards[i]->id == id)
            return backwards[i];
    return NULL;
}

/*
 * Is y stationary?  The gradient gy alone cannot say: its size scales with
 * f, so the score w (y - x)^2 + y^4 with w = 1e-12 has ||gy|| = 2e-12 at
 * y = 0, a distance 1 from its minimiser, and a score of size 1e8 has a
 * gradient whose rounding floor is far above 1e-6 at its minimiser.  The
 * distance itself is scale-free: the local quadratic model puts the
 * stationary point dist = ||H^-1 gy|| away.  The dense form takes it
 * exactly from its factors; the CG form computes the Newton step exactly
 * as the forward solvers' stopping test does (stationary.c), so a y that
 * dil_solve accepted passes here under the same options.  The verdict is
 * dili_backward_stationary: dist <= stationary_tol (1 + ||y||); without
 * an estimate (dist < 0), ||gy|| <= stationary_tol.
 */
/*
 * The score form's core.  b = dL/dy (finite); w holds 2 ny doubles (g and a
 * gradient for the stationarity check) then what `solve` needs.  Returns
 * the status of the solve unless the outputs fail (DIL_NOT_FINITE) or y is
 * not stationary (DIL_NOT_STATIONARY, outputs still written).
 */
int dili_score_backward(dili_ctx *c, const double *y, const double *b,
                        const dili_outputs *out, const dil_options *o, double *w,
                        dili_linsolve_fn solve)
{
    const dil_model *m = c->m;
    int n = m->ny, st, fs;
    double *g = w, *gy = g + n, dist = -1.0;
    dil_info *in = c->info;

    /* with stationary_tol = HUGE_VAL (a caller who has just solved to tol)
       the gradient is not evaluated at all: grad_norm stays 0 */
    dili_zero(n, gy);
    if (!isinf(o->stationary_tol)) {
        st = dili_grad_lin(c, y, gy);   /* and H's state, one sweep */
        in->grad_norm = dili_norm(n, gy);
        if (st != DIL_OK)
            return st;
    }
    st = solve(c, y, b, g, gy, &dist, o, gy + n);
    if (st != DIL_OK && st != DIL_CG_MAX_ITER)
        return st;
    if (o->cg_solution != NULL)
        dili_copy(n, g, o->cg_solution);

    /* dL/dx = -(d2f/dx dy)^T g (+ direct): one mixed VJP with w = g;
       likewise theta */
    fs = dili_ift_out(c, DILI_MIX_XY, y, g, out->dl_dx, out->add_x);
    if (fs == DIL_OK)
        fs = dili_ift_out(c, DILI_MIX_THETAY, y, g, out->dl_dtheta, out->add_theta);
    if (fs != DIL_OK)
        return fs;
    return dili_backward_stationary(dist, in->grad_norm, dili_norm(n, y), o)
           ? st : DIL_NOT_STATIONARY;
}

/*
 * The checks before the solve: when curvature_check > 0, Lanczos from a
 * random start certifies that H is positive semi-definite (curvature.c):
 * CG from b alone can miss a negative eigenvalue whose eigenvector is
 * orthogonal to b, and return the IFT derivative of a saddle without a sign
 * (issue 13).  eps does not enter the check: H + eps I positive definite
 * does not make y a minimum.  Then the forward's Newton step at y (in g,
 * with w as CG's scratch: both idle until the solve starts), ended once the
 * verdict is known; skipped when the check is off.
 */
static int cg_checks(dili_ctx *c, const double *y, const double *gy, double *g,
                     double *dist, const dil_options *o, double *w)
{
    int n = c->m->ny, st;
    double lo = 0.0;
    dili_hess_op hop = {c, y};
    if (o->curvature_check > 0) {
        dili_ritz r;
        st = dili_spectrum(dili_hess_apply, &hop, n, o->curvature_check, w, NULL, &r);
        if (st != DIL_OK)
            return st;
        if (dili_negative(c->m, &r))
            return DIL_NOT_MINIMUM;
        /* Lanczos that saw all of H: its smallest Ritz value is H's, up to
           rounding of eps |H| (so trusted only well above that) */
        if (r.steps >= n && r.lmin > 1e-8 * fabs(r.lmax))
            lo = r.lmin + o->cg_eps;
    }
    if (!isinf(o->stationary_tol) && dili_norm(n, gy) > 0.0)
        return dili_newton_within(dili_hess_apply, &hop, n, gy, o->cg_eps,
                                  o->stationary_tol * (1.0 + dili_norm(n, y)), lo, g, w,
                                  dist);
    return DIL_OK;
}

/*
 * Algorithm 1: (H + eps I) g = b by CG on Hessian-vector products, after
 * the checks.  At a point that the solve of this same call accepted
 * (dil_solve_loss_gradient; DILI_LIN_CERT, descent.c) the checks are
 * skipped: the solver's stopping test ran the same Lanczos on the same H
 * and found the Newton step within step_tol (1 + ||y||), which is within
 * stationary_tol (1 + ||y||) when step_tol <= stationary_tol
 * (stationary.c): both would say what it said.
 */
static int cg_solve(dili_ctx *c, const double *y, const double *b, double *g,
                    const double *gy, double *dist, const dil_options *o, double *w)
{
    double stol = o->step_tol > 0.0 ? o->step_tol : o->tol;
    dili_hess_op hop = {c, y};
    int st;
    if (dili_kept(c, y, DILI_LIN_SCORE | DILI_LIN_CERT) && stol <= o->stationary_tol)
        *dist = 0.0;
    else if ((st = cg_checks(c, y, gy, g, dist, o, w)) != DIL_OK)
        return st;
    dili_cg_problem pb = dili_cg_setup(c->m->ny, dili_hess_apply, &hop, o->cg_eps,
                                       o->cg_tol, o->cg_max_iter);
    if (o->cg_x0 != NULL)
        dili_copy(c->m->ny, o->cg_x0, g);
    return dili_cg_run(&pb, b, g, o->cg_x0 != NULL, w, c->info);
}

static int cg_run(dili_ctx *c, const double *y, const double *b,
                  const dili_outputs *out, const dil_options *o, double *w)
{
    return dili_score_backward(c, y, b, out, o, w, cg_solve);
}

static size_t cg_work(const dil_model *m)
{
    return dili_add(dili_mul(2, (size_t)m->ny), dili_cg_work(m->ny));
}

const dili_backward dili_cg_backward = {
    DIL_BACKWARD_CG, "cg", DILI_K_GRAD | DILI_K_HVP, DILI_K_VJP_XY,
    DILI_K_VJP_THETAY, 1, cg_work, cg_run,
};

int dil_backward(const dil_model *m, const double *y, const double *x,
                 const double *theta, const double *dl_dy,
                 double *dl_dx, double *dl_dtheta,
                 const dil_options *opt, dil_info *info, double *work)
{
    return dili_backward_call(m, y, x, theta, dl_dy, dl_dx, dl_dtheta, opt, info, work, 0);
}

int dili_backward_call(const dil_model *m, const double *y, const double *x,
                       const double *theta, const double *dl_dy, double *dl_dx,
                       double *dl_dtheta, const dil_options *opt, dil_info *info,
                       double *work, int flags)
{
    dili_call k;
    dili_args a = {DILI_CALL_BACKWARD, y, x, theta, NULL, dl_dy, dl_dx, dl_dtheta, flags};
    dili_outputs out = {dl_dx, dl_dtheta, NULL, NULL};
    int st = dili_begin(&k, m, opt, &a);

    if (st == DIL_OK)
        st = dili_acquire(&k, m, x, theta, dili_backward_work(m, k.o), work);
    if (st == DIL_OK)
        st = dili_find_backward(k.o->backward)->run(&k.c, y, dl_dy, &out, k.o, k.w);
    return dili_end(&k, info, st);
}

int dil_loss_gradient(const dil_model *m, const double *y, const double *x,
                      const double *theta, const double *data, double *loss,
                      double *dl_dx, double *dl_dtheta,
                      const dil_options *opt, dil_info *info, double *work)
{
    return dili_loss_call(m, y, x, theta, data, loss, dl_dx, dl_dtheta, opt, info, work, 0);
}

int dili_loss_call(const dil_model *m, const double *y, const double *x,
                   const double *theta, const double *data, double *loss,
                   double *dl_dx, double *dl_dtheta, const dil_options *opt,
                   dil_info *info, double *work, int flags)
{
    dili_call k;
    dili_args a = {DILI_CALL_LOSS, y, x, theta, data, NULL, dl_dx, dl_dtheta, flags};
    int st = dili_begin(&k, m, opt, &a);

    if (st == DIL_OK)
        st = dili_acquire(&k, m, x, theta, dili_loss_work(m, k.o), work);
    if (st == DIL_OK)
        st = dili_loss_run(&k, y, data, loss, dl_dx, dl_dtheta);
    return dili_end(&k, info, st);
}

int dili_loss_run(dili_call *k, const double *y, const double *data, double *loss,
                  double *dl_dx, double *dl_dtheta)
{
    const dil_model *m = k->c.m;
    double *gy = k->w, *gx = gy + m->ny, *gth = gx + m->nx, lv;
    int st = dili_loss(&k->c, y, data, &lv);

    if (loss != NULL)
        *loss = lv;
    /* the direct partials; g then solves (H + eps I) g = dL/dy */
    if (st == DIL_OK)
        st = dili_loss_grad(&k->c, y, data, gy, gx, gth);
    if (st == DIL_OK) {
        dili_outputs out = {dl_dx, dl_dtheta, gx, gth};
        st = dili_find_backward(k->o->backward)->run(&k->c, y, gy, &out, k->o,
                                                     gth + m->ntheta);
    }
    return st;
}
