/*
 * call.c - the prologue and epilogue that every public entry point shares:
 * argument checks in one order, the workspace, and the info record.
 *
 * The rules are one list, so that the three calls (and the batch calls
 * built on them) cannot drift apart:
 *   1. DIL_BAD_ARG, before anything is read: a NULL or badly sized model, a
 *      NULL block whose length is not 0, an option out of range (options.c),
 *      or a kernel that the chosen method, or an output asked for, needs.
 *      Which kernels those are comes from the method's table row
 *      (dili_solver, dili_backward), never from a switch here.
 *   2. DIL_NOT_FINITE: a NaN or infinity in an input block (y, x, theta,
 *      data, dl_dy, and cg_x0 when the backward form reads it).
 *   3. DIL_NO_MEMORY: work == NULL and our allocation failed.
 * Nothing is touched and no kernel is called before all three pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dil_internal.h"

int dili_has_kernels(const dil_model *m, unsigned need)
{
    /* one line per DILI_K_* bit */
    return !(((need & DILI_K_SCORE) && !m->score)
             || ((need & DILI_K_GRAD) && !m->score_grad_y)
             || ((need & DILI_K_HVP) && !m->score_hvp_yy)
             || ((need & DILI_K_VJP_XY) && !m->score_vjp_xy)
             || ((need & DILI_K_VJP_THETAY) && !m->score_vjp_thetay)
             || ((need & DILI_K_LOSS) && (!m->loss || !m->loss_grad))
             || ((need & DILI_K_RES) && (!m->residual || m->nres < 1))
             || ((need & DILI_K_JVP) && !m->residual_jvp_y)
             || ((need & DILI_K_RVJP) && !m->residual_vjp_y)
             || ((need & DILI_K_RVJP_X) && !m->residual_vjp_x)
             || ((need & DILI_K_RVJP_THETA) && !m->residual_vjp_theta)
             || ((need & DILI_K_SQUARE) && m->nres != m->ny));
}

/* The calls that evaluate the loss, and so read data. */
static int reads_data(const dili_args *a)
{
    return a->kind == DILI_CALL_LOSS || a->kind == DILI_CALL_STEP;
}

/* The kernels the call needs with these (checked) options, or ~0u when
   the method named in them does not exist. */
static unsigned needed_kernels(const dil_model *m, const dil_options *o,
                               const dili_args *a)
{
    const dili_solver *s;
    const dili_backward *b;
    unsigned need;
    s = dili_find_solver(o->solver);
    if (a->kind == DILI_CALL_SOLVE)
        return s ? s->kernels : ~0u;
    b = dili_find_backward(o->backward);
    if (b == NULL || (a->kind == DILI_CALL_STEP && s == NULL))
        return ~0u;
    need = b->kernels | (a->kind == DILI_CALL_STEP ? s->kernels : 0u);
    if (a->dl_dx != NULL && m->nx > 0)
        need |= b->kernels_x;
    if (a->dl_dtheta != NULL && m->ntheta > 0)
        need |= b->kernels_theta;
    if (reads_data(a))
        need |= DILI_K_LOSS;
    return need;
}

static int bad_args(const dil_model *m, const dil_options *o, const dili_args *a)
{
    unsigned need;
    if (m == NULL || m->ny < 1 || m->nx < 0 || m->ntheta < 0 || m->ndata < 0
        || m->nres < 0)
        return 1;
    if (a->y == NULL || (a->x == NULL && m->nx > 0)
        || (a->theta == NULL && m->ntheta > 0)
        || (a->kind == DILI_CALL_BACKWARD && a->dl_dy == NULL)
        || (reads_data(a) && a->data == NULL && m->ndata > 0))
        return 1;
    if (dili_check_options(o) != DIL_OK)
        return 1;
    need = needed_kernels(m, o, a);
    return need == ~0u || !dili_has_kernels(m, need);
}

static int not_finite(const dil_model *m, const dil_options *o, const dili_args *a)
{
    if (!dili_all_finite(m->ny, a->y) || !dili_all_finite(m->nx, a->x)
        || (!(a->flags & DILI_THETA_FINITE) && !dili_all_finite(m->ntheta, a->theta)))
        return 1;
    if (a->kind == DILI_CALL_BACKWARD && !dili_all_finite(m->ny, a->dl_dy))
        return 1;
    if (reads_data(a) && !dili_all_finite(m->ndata, a->data))
        return 1;
    return a->kind != DILI_CALL_SOLVE && o->cg_x0 != NULL
           && dili_find_backward(o->backward)->uses_x0
           && !dili_all_finite(m->ny, o->cg_x0);
}

int dili_begin(dili_call *k, const dil_model *m, const dil_options *opt,
               const dili_args *a)
{
    memset(&k->loc, 0, sizeof k->loc);
    k->own = NULL;
    k->c.wrote_theta = 0;       /* dili_end reads it, acquired or not */
    k->fill = (a->flags & DILI_FILL_THETA) && m != NULL && m->ntheta > 0 ? a->dl_dtheta : NULL;
    k->nfill = k->fill != NULL ? m->ntheta : 0;
    if (opt == NULL) {
        k->def = dil_default_options();
        opt = &k->def;
    }
    k->o = opt;
    if (bad_args(m, opt, a))
        return DIL_BAD_ARG;
    if (not_finite(m, opt, a))
        return DIL_NOT_FINITE;
    return DIL_OK;
}

int dili_acquire(dili_call *k, const dil_model *m, const double *x,
                 const double *theta, size_t extra, double *work)
{
    double *base = work;
    if (base == NULL) {
        size_t need = dili_add(dili_add(m->work_size, extra), dili_lin_work(m));
        if (need == 0)
            need = 1;
        if (need >= SIZE_MAX / sizeof(double))
            return DIL_NO_MEMORY;
        base = k->own = (double *)malloc(need * sizeof(double));
        if (base == NULL)
            return DIL_NO_MEMORY;
    }
    k->c = (dili_ctx){.m = m, .x = x, .theta = theta, .kw = base, .info = &k->loc};
    k->w = base + m->work_size;
    if (m->linearise != NULL) {
        /* after the method's scratch, so that the user solver's layout
           (kernel scratch, then its own share) is unchanged */
        k->c.state = k->w + extra;
        k->c.lin_y = k->c.state + m->state_size;
        k->c.lin_r = k->c.lin_y + m->ny;
        k->c.lin_g = k->c.lin_r + m->nres;
        if (dili_small_fits(m))
            k->c.lin_j = k->c.lin_g + m->ny + 1;
    }
    return DIL_OK;
}

int dili_end(dili_call *k, dil_info *info, int st)
{
    if (k->fill != NULL && !k->c.wrote_theta)
        dili_zero(k->nfill, k->fill);
    free(k->own);
    k->own = NULL;
    k->loc.status = st;
    if (info != NULL)
        *info = k->loc;
    return st;
}

/* The CG cap when the caller leaves it 0: at least ny (CG's exact-arithmetic
   bound) with room for rounding, and not tiny for tiny ny. */
int dili_default_cap(int ny)
{
    if (ny > 1073741823)                        /* 2*ny would overflow */
        return 2147483647;
    return dili_max_int(2 * ny, 50);
}

size_t dili_solve_work(const dil_model *m, const dil_options *o)
{
    const dili_solver *s = dili_find_solver(o->solver);
    return s ? s->work(m, o) : 0;
}

size_t dili_backward_work(const dil_model *m, const dil_options *o)
{
    const dili_backward *b = dili_find_backward(o->backward);
    return b ? b->work(m) : 0;
}

size_t dili_step_work(const dil_model *m, const dil_options *o)
{
    size_t s = dili_solve_work(m, o), l = dili_loss_work(m, o);
    return s > l ? s : l;
}

size_t dili_loss_work(const dil_model *m, const dil_options *o)
{
    /* dL/dy, dL/dx, dL/dtheta (the direct terms), then the backward */
    size_t direct = dili_add(dili_add((size_t)m->ny, (size_t)m->nx), (size_t)m->ntheta);
    return dili_add(direct, dili_backward_work(m, o));
}
