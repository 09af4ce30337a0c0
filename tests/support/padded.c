/*
 * padded.c - pad_model (padded.h): a square residual model with k identity
 * rows appended, r'(y, u) = (r(y), u), so that the runtime's Krylov paths
 * run where it would otherwise hold J densely.  J' = blockdiag(J, I),
 * J'_x = (J_x; 0), J'_theta = (J_theta; 0).
 */
#include <stddef.h>
#include <string.h>

#include "padded.h"

static const dil_model *inner;      /* the model being padded */
static int pad;                     /* its extra unknowns */

/* r' = (r(y), u) */
static void pad_res(const double *y, const double *x, const double *th, double *r,
                    double *w)
{
    inner->residual(y, x, th, r, w);
    memcpy(r + inner->ny, y + inner->ny, (size_t)pad * sizeof *r);
}

/* J' v = (J v_y, v_u) */
static void pad_jvp(const double *y, const double *x, const double *th, const double *v,
                    double *jv, double *w)
{
    inner->residual_jvp_y(y, x, th, v, jv, w);
    memcpy(jv + inner->ny, v + inner->ny, (size_t)pad * sizeof *jv);
}

/* J'^T w = (J^T w_r, w_u) */
static void pad_vjp_y(const double *y, const double *x, const double *th, const double *wr,
                      double *out, double *w)
{
    inner->residual_vjp_y(y, x, th, wr, out, w);
    memcpy(out + inner->ny, wr + inner->ny, (size_t)pad * sizeof *out);
}

/* J'_x^T w = J_x^T w_r (the padding does not depend on x), likewise theta */
static void pad_vjp_x(const double *y, const double *x, const double *th, const double *wr,
                      double *out, double *w)
{
    inner->residual_vjp_x(y, x, th, wr, out, w);
}

static void pad_vjp_theta(const double *y, const double *x, const double *th,
                          const double *wr, double *out, double *w)
{
    inner->residual_vjp_theta(y, x, th, wr, out, w);
}

/* L'(y, u) = L(y): dL/du = 0 */
static double pad_loss(const double *y, const double *x, const double *th, const double *d,
                       double *w)
{
    return inner->loss(y, x, th, d, w);
}

static void pad_loss_grad(const double *y, const double *x, const double *th,
                          const double *d, double *gy, double *gx, double *gt, double *w)
{
    inner->loss_grad(y, x, th, d, gy, gx, gt, w);
    memset(gy + inner->ny, 0, (size_t)pad * sizeof *gy);
}

dil_model pad_model(const dil_model *m, int k)
{
    dil_model p;
    inner = m;
    pad = k;
    memset(&p, 0, sizeof p);
    p.name = m->name;
    p.ny = m->ny + k;
    p.nres = m->nres + k;
    p.nx = m->nx;
    p.ntheta = m->ntheta;
    p.ndata = m->ndata;
    p.work_size = m->work_size;
    p.residual = m->residual ? pad_res : NULL;
    p.residual_jvp_y = m->residual_jvp_y ? pad_jvp : NULL;
    p.residual_vjp_y = m->residual_vjp_y ? pad_vjp_y : NULL;
    p.residual_vjp_x = m->residual_vjp_x ? pad_vjp_x : NULL;
    p.residual_vjp_theta = m->residual_vjp_theta ? pad_vjp_theta : NULL;
    p.loss = m->loss ? pad_loss : NULL;
    p.loss_grad = m->loss_grad ? pad_loss_grad : NULL;
    return p;
}
