/*
 * root_backward.c - the root-finding form of the backward pass, for
 * residual models with as many residuals as unknowns (nres == ny).
 *
 * Such a layer is really defined by r(y*; x, theta) = 0 (one implicit Euler
 * step, an equation solved for E, ...).  Differentiating r = 0 gives
 * J dy = -J_x dx - J_theta dtheta with J = J_y square and nonsingular, so
 * for a downstream loss
 *     g solves J^T g = dL/dy
 *     dL/dx     = -J_x^T g       (+ partial L/partial x)
 *     dL/dtheta = -J_theta^T g   (+ partial L/partial theta),
 * which needs first derivatives of r only: the products residual_jvp_y,
 * residual_vjp_y, residual_vjp_x and residual_vjp_theta.
 *
 * J is not symmetric, so CG cannot be applied to J^T g = b itself.  We use
 * CG on the normal equations in the "error-minimising" arrangement (Craig's
 * method, CGNE): substitute g = J z, then
 *     (J^T J + eps I) z = b,   g = J z.
 * Three reasons for this arrangement rather than CG on J J^T g = J b:
 *   - the CG residual is b - J^T J z = b - J^T g, the true residual of the
 *     system we want, so cg_tol keeps the meaning it has everywhere else
 *     (||b - A g|| <= cg_tol ||b||);
 *   - J^T J is the Gauss-Newton matrix, applied with the same two Jacobian
 *     products per iteration as DIL_SOLVER_GAUSS_NEWTON (the paper's
 *     Sec. 3.1 trick of multiplying by H_r^T);
 *   - at a root the Hessian of f = 1/2 |r|^2 is H = J^T J + sum_i r_i
 *     d2r_i = J^T J, so z is exactly the g of the score-form backward
 *     (Algorithm 1).  cg_x0 and cg_solution therefore mean the same vector
 *     in both forms and a warm start carries over between them.
 * Why the two forms agree: at a root H^-1 J^T = (J^T J)^-1 J^T = J^-1, and
 * the score form's mixed products are d2f/dtheta dy w = J_theta^T J w
 * (+ terms in r, zero at the root), so -J_theta^T J H^-1 b = -J_theta^T J^-T b.
 * eps > 0 regularises J^T J exactly as it does H in Algorithm 1.
 *
 * The IFT here needs r = 0, not just J^T r = 0, so stationarity is judged
 * on ||r|| (info->residual_norm) against stationary_tol; info->grad_norm
 * still reports ||df/dy|| = ||J^T r||.  J^T J squares the condition number
 * of J, as H itself does at the root; GMRES on J^T directly would not, at
 * the price of a Krylov basis in the workspace (not done).
 */
#include <float.h>
#include <math.h>

#include "dil_internal.h"

static size_t root_work(const dil_model *m)
{
    int n = m->ny;
    /* z, a (residual, then the adjoint J z), t (J^T r, then the CG
       operator's J v scratch), and CG's r, p, Ap */
    return dili_add(dili_mul(3, (size_t)n), dili_cg_work(n));
}

/*
 * The root form's meaning: J nonsingular, so that r = 0 defines y*(x, theta)
 * locally.  With eps = 0 and curvature_check > 0, a few Lanczos steps on
 * J^T J from a random start (as curvature.c does for H): a smallest Ritz
 * value at rounding level of the largest (16 eps) is a singular J, and the
 * call returns DIL_SINGULAR rather than let CG find some z when b happens
 * to avoid the null space.  With eps > 0 the caller regularises on purpose.
 * w: 3n doubles.
 */
static int check_nonsingular(dili_normal_op *op, int n, const dil_options *o, double *w)
{
    dili_ritz r;
    int st;
    if (o->cg_eps > 0.0 || o->curvature_check == 0)
        return DIL_OK;
    st = dili_spectrum(dili_normal_apply, op, n, o->curvature_check, w, NULL, &r);
    if (st != DIL_OK)
        return st;
    return r.lmin <= 16.0 * DBL_EPSILON * r.lmax ? DIL_SINGULAR : DIL_OK;
}

/*
 * Contract: nres == ny and the residual kernels present (checked by the
 * caller: residual, residual_jvp_y, residual_vjp_y, and residual_vjp_x /
 * residual_vjp_theta for each output asked for); b (ny) finite; w holds
 * root_work doubles.  Returns DIL_OK, DIL_CG_MAX_ITER, DIL_SINGULAR (J
 * singular, found by the check), DIL_CG_BREAKDOWN (J^T J + eps I not
 * positive definite: J singular and eps = 0, met by CG),
 * DIL_NOT_STATIONARY or DIL_NOT_FINITE, with the output rules of
 * dil_backward.
 */
static int root_run(dili_ctx *c, const double *y, const double *b,
                    const dili_outputs *out, const dil_options *o, double *w)
{
    const dil_model *m = c->m;
    int n = m->ny, st, fs, stationary;
    double *z = w, *a = z + n, *t = a + n, *rest = t + n, jd[DILI_SMALL_JAC];
    dil_info *in = c->info;
    dili_normal_op op = {c, y, NULL, NULL};
    dili_cg_problem pb;

    /* the root condition: ||r|| (and ||J^T r|| = ||df/dy|| for info) */
    st = dili_residual_lin(c, y, a);     /* and J's state, one sweep */
    in->residual_norm = dili_norm(n, a);
    if (st != DIL_OK)
        return st;
    /* a tiny J is built once (n products) and every product below is
       then dense (dili_small_jac) */
    if (dili_small_fits(m)) {
        op.jd = jd;
        st = dili_small_jac(c, y, jd);
        dili_small_jtw(n, n, jd, a, t);
        if (st == DIL_OK && !dili_all_finite(n, t))
            st = DIL_NOT_FINITE;
    } else {
        st = dili_rvjp(c, y, a, t);
    }
    in->grad_norm = dili_norm(n, t);
    if (st != DIL_OK)
        return st;
    stationary = in->residual_norm <= o->stationary_tol;

    /* (J^T J + eps I) z = b; the operator's J v scratch is t */
    op.jv = t;
    if ((st = check_nonsingular(&op, n, o, rest)) != DIL_OK)
        return st;
    pb = dili_cg_setup(n, dili_normal_apply, &op, o->cg_eps, o->cg_tol, o->cg_max_iter);
    if (o->cg_x0 != NULL)
        dili_copy(n, o->cg_x0, z);
    st = dili_cg_run(&pb, b, z, o->cg_x0 != NULL, rest, in);
    if (st != DIL_OK && st != DIL_CG_MAX_ITER)
        return st;
    if (o->cg_solution != NULL)
        dili_copy(n, z, o->cg_solution);

    /* the adjoint a = J z solves J^T a = b (to the CG tolerance) */
    if (op.jd != NULL) {
        dili_small_jv(n, n, jd, z, a);
        fs = dili_all_finite(n, a) ? DIL_OK : DIL_NOT_FINITE;
    } else {
        fs = dili_jvp(c, y, z, a);
    }
    if (fs != DIL_OK)
        return fs;
    /* dL/dx = -J_x^T a (+ direct), likewise theta */
    fs = dili_ift_out(c, DILI_MIX_RES_X, y, a, out->dl_dx, out->add_x);
    if (fs == DIL_OK)
        fs = dili_ift_out(c, DILI_MIX_RES_THETA, y, a, out->dl_dtheta, out->add_theta);
    if (fs != DIL_OK)
        return fs;
    if (!stationary)
        return DIL_NOT_STATIONARY;
    return st;
}

const dili_backward dili_root_backward = {
    DIL_BACKWARD_ROOT, "root", DILI_K_RES | DILI_K_SQUARE | DILI_K_JVP | DILI_K_RVJP,
    DILI_K_RVJP_X, DILI_K_RVJP_THETA, 1, root_work, root_run,
};
