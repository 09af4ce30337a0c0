/*
 * util.c - small vector routines and the counted kernel wrappers.
 *
 * Every call from the runtime into a model kernel goes through one of the
 * dili_* wrappers here, so that evaluation counts in dil_info are exact and
 * the rule "a NaN or infinity produced by a kernel is an error" is applied
 * in one place: each wrapper scans the kernel's output and reports
 * DIL_NOT_FINITE, and the solvers stop at once on it.  The scan is O(n), far
 * below the cost of the kernel itself.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dil_internal.h"

double dili_dot(int n, const double *a, const double *b)
{
    double s = 0.0;
    int i;
    for (i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/*
 * The plain sqrt(sum a_i^2) overflows once some |a_i| > 1e154 although the
 * norm itself is representable; it also underflows to 0 for tiny vectors,
 * which would turn a relative test into a division by zero.  Take the plain
 * route first and rescale by max |a_i| only when it fails.
 */
double dili_norm(int n, const double *a)
{
    double s = dili_dot(n, a, a), amax = 0.0;
    int i;
    if (isfinite(s) && s > 1e-280)
        return sqrt(s);
    for (i = 0; i < n; i++) {
        double v = fabs(a[i]);
        if (!(v <= amax))       /* also propagates NaN */
            amax = v;
    }
    if (amax == 0.0 || !isfinite(amax))
        return amax;
    s = 0.0;
    for (i = 0; i < n; i++) {
        double v = a[i] / amax;
        s += v * v;
    }
    return amax * sqrt(s);
}

void dili_copy(int n, const double *src, double *dst)
{
    int i;
    for (i = 0; i < n; i++)
        dst[i] = src[i];
}

void dili_zero(int n, double *v)
{
    int i;
    for (i = 0; i < n; i++)
        v[i] = 0.0;
}

void dili_axpy(int n, double a, const double *xv, double *yv)
{
    int i;
    for (i = 0; i < n; i++)
        yv[i] += a * xv[i];
}

void dili_scale(int n, double a, double *v)
{
    int i;
    for (i = 0; i < n; i++)
        v[i] *= a;
}

/*
 * Finiteness as a reduction, so that the scans of ntheta-long outputs
 * vectorise: v * 0.0 is +0 or -0 for every finite v and NaN for an
 * infinity (inf * 0 is invalid) or a NaN, so a sum of such terms is a zero
 * exactly when every v is finite and NaN otherwise.  The sum is exact
 * whatever the order (zeros add to a zero without rounding; a NaN stays
 * NaN), which lets it keep DILI_LANES independent partial sums: gcc -O2
 * turns the fully unrolled lane loop into SSE2 mulpd/addpd on four
 * registers (objdump -d build/runtime/util.o), where the test-and-branch
 * per element ran at one element per cycle.  No early exit: the scans
 * are over kernel outputs, which are finite in every call that matters.
 */
#define DILI_LANES 8

/* The lanes' partial sums added as a tree (3 additions deep). */
static double lanes_sum(const double *acc)
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static double zero_sum(int n, const double *restrict v)
{
    double acc[DILI_LANES] = {0.0};
    int i = 0, j;
    for (; i + DILI_LANES <= n; i += DILI_LANES)
#pragma GCC unroll 8
        for (j = 0; j < DILI_LANES; j++)
            acc[j] += v[i + j] * 0.0;
    for (; i < n; i++)
        acc[0] += v[i] * 0.0;
    return lanes_sum(acc);
}

int dili_all_finite(int n, const double *v)
{
    double s;
    int i;
    if (n < 2 * DILI_LANES) {
        /* short vectors (ny, nx: most calls) test element by element */
        for (i = 0; i < n; i++)
            if (!isfinite(v[i]))
                return 0;
        return 1;
    }
    s = zero_sum(n, v);
    return s == s;
}

/*
 * 1 when y_try differs from y in some component.  Once a backtracked step
 * is below the rounding unit of y, y + t d == y and the "new" point passes
 * any decrease test with slack; such a step is no progress and must count
 * as a failed search, or the solver would spin until max_iter.
 */
int dili_moved(int n, const double *y, const double *y_try)
{
    int i;
    for (i = 0; i < n; i++)
        if (y_try[i] != y[i])
            return 1;
    return 0;
}

/* out = y + t d, the trial point of a line search. */
void dili_step(int n, const double *y, double t, const double *d, double *out)
{
    int i;
    for (i = 0; i < n; i++)
        out[i] = y[i] + t * d[i];
}

int dili_max_int(int a, int b)
{
    return a > b ? a : b;
}

double dili_score(dili_ctx *c, const double *y)
{
    c->info->n_score++;
    return c->m->score(y, c->x, c->theta, c->kw);
}

int dili_grad(dili_ctx *c, const double *y, double *g)
{
    c->info->n_grad++;
    c->m->score_grad_y(y, c->x, c->theta, g, c->kw);
    return dili_all_finite(c->m->ny, g) ? DIL_OK : DIL_NOT_FINITE;
}

/*
 * Linearise once (dil_model.h): the model's linearise kernel stores in
 * c->state what its *_apply kernels need at y; the apply kernels then cost
 * only the part of a product that depends on the direction.  The state is
 * recomputed whenever the point differs from the last one (compared bit
 * for bit, O(ny) against a kernel call), so every caller, CG, the dense
 * backward, Newton's inner loop and the curvature check, linearises once
 * per point without knowing it.  The fused kernels (dili_residual_lin,
 * dili_score_grad below) fill one part of the state, the residual or the
 * score apply kernels'; c->lin_valid says which parts hold lin_y's, and
 * a missing part is filled by `linearise` (both parts).  0 when the
 * model has no linearise.
 *
 * The fused kernels' values are kept too (lin_r, lin_g; DILI_LIN_R,
 * DILI_LIN_G), so that a second evaluation at the same point in the same
 * call is a copy: dil_solve_loss_gradient's backward starts at the point
 * where the solve's last sweep was, and skips that sweep.  The kernels
 * are deterministic, so the copy has the bits a new call would give.
 */
static int linearised(dili_ctx *c, const double *y, int part)
{
    const dil_model *m = c->m;
    if (c->state == NULL)
        return 0;
    if ((c->lin_valid & part) != part
        || memcmp(c->lin_y, y, sizeof(double) * (size_t)m->ny) != 0) {
        c->info->n_linearise++;
        m->linearise(y, c->x, c->theta, c->state, c->kw);
        dili_copy(m->ny, y, c->lin_y);
        c->lin_valid = DILI_LIN_RES | DILI_LIN_SCORE;
    }
    return 1;
}

/* After a fused kernel filled `part` of the state at y. */
static void lin_filled(dili_ctx *c, const double *y, int part)
{
    c->info->n_linearise++;
    dili_copy(c->m->ny, y, c->lin_y);
    c->lin_valid = part;
}

size_t dili_lin_work(const dil_model *m)
{
    /* state, lin_y (ny), lin_r (nres), lin_g (ny + 1), lin_j (nres ny) */
    size_t vecs = dili_add(dili_mul(2, (size_t)m->ny), (size_t)m->nres + 1);
    if (dili_small_fits(m))
        vecs = dili_add(vecs, (size_t)m->nres * (size_t)m->ny);
    return m->linearise != NULL ? dili_add(m->state_size, vecs) : 0;
}

/* 1 when lin_y is y and the parts in `want` (DILI_LIN_*) are kept. */
int dili_kept(const dili_ctx *c, const double *y, int want)
{
    return c->state != NULL && (c->lin_valid & want) == want
           && memcmp(c->lin_y, y, sizeof(double) * (size_t)c->m->ny) == 0;
}

int dili_hvp(dili_ctx *c, const double *y, const double *v, double *hv)
{
    const dil_model *m = c->m;
    c->info->n_hvp++;
    if (m->score_hvp_yy_apply != NULL && linearised(c, y, DILI_LIN_SCORE))
        m->score_hvp_yy_apply(y, c->x, c->theta, c->state, v, hv, c->kw);
    else
        m->score_hvp_yy(y, c->x, c->theta, v, hv, c->kw);
    return dili_all_finite(m->ny, hv) ? DIL_OK : DIL_NOT_FINITE;
}

/*
 * out = -out + direct (direct NULL: + 0.0, which turns a -0 into +0 as
 * before), and 1 when every result is finite: the sign, the direct term
 * and the finiteness check (zero_sum's reduction) in one pass over the
 * (ntheta-long) output, in blocks written out as zero_sum's are, so that
 * gcc -O2 vectorises them (it does not vectorise a loop that needs a
 * scalar remainder), with the NULL test out of the loops and restrict
 * pointers (out and direct never overlap).  Same expression, same bits as
 * one element at a time.  (A separate dili_all_finite pass afterwards
 * cost 3% of the Van der Pol step.)
 */
static int ift_finish(int n, double *restrict out, const double *restrict direct)
{
    double acc[DILI_LANES] = {0.0}, s;
    int i = 0, j;
    if (direct != NULL) {
        for (; i + DILI_LANES <= n; i += DILI_LANES)
#pragma GCC unroll 8
            for (j = 0; j < DILI_LANES; j++) {
                out[i + j] = -out[i + j] + direct[i + j];
                acc[j] += out[i + j] * 0.0;
            }
        for (; i < n; i++) {
            out[i] = -out[i] + direct[i];
            acc[0] += out[i] * 0.0;
        }
    } else {
        for (; i + DILI_LANES <= n; i += DILI_LANES)
#pragma GCC unroll 8
            for (j = 0; j < DILI_LANES; j++) {
                out[i + j] = -out[i + j] + 0.0;
                acc[j] += out[i + j] * 0.0;
            }
        for (; i < n; i++) {
            out[i] = -out[i] + 0.0;
            acc[0] += out[i] * 0.0;
        }
    }
    s = lanes_sum(acc);
    return s == s;
}

int dili_ift_out(dili_ctx *c, int which, const double *y, const double *w,
                 double *out, const double *direct)
{
    typedef void (*vjp_fn)(const double *, const double *, const double *,
                           const double *, double *, double *);
    typedef void (*apply_fn)(const double *, const double *, const double *,
                             const double *, const double *, double *, double *);
    const dil_model *m = c->m;
    int xs = which == DILI_MIX_XY || which == DILI_MIX_RES_X;
    int score = which == DILI_MIX_XY || which == DILI_MIX_THETAY;
    int len = xs ? m->nx : m->ntheta;
    vjp_fn plain = which == DILI_MIX_XY ? m->score_vjp_xy
                   : which == DILI_MIX_THETAY ? m->score_vjp_thetay
                   : which == DILI_MIX_RES_X ? m->residual_vjp_x : m->residual_vjp_theta;
    apply_fn apply = which == DILI_MIX_XY ? m->score_vjp_xy_apply
                     : which == DILI_MIX_THETAY ? m->score_vjp_thetay_apply
                     : which == DILI_MIX_RES_X ? m->residual_vjp_x_apply
                     : m->residual_vjp_theta_apply;

    if (out == NULL || len == 0)
        return DIL_OK;
    c->info->n_jac++;
    if (apply != NULL && linearised(c, y, score ? DILI_LIN_SCORE : DILI_LIN_RES))
        apply(y, c->x, c->theta, c->state, w, out, c->kw);
    else
        plain(y, c->x, c->theta, w, out, c->kw);
    if (!xs)
        c->wrote_theta = 1;
    return ift_finish(len, out, direct) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_residual(dili_ctx *c, const double *y, double *r)
{
    c->info->n_score++;
    c->m->residual(y, c->x, c->theta, r, c->kw);
    return dili_all_finite(c->m->nres, r) ? DIL_OK : DIL_NOT_FINITE;
}

/* The residual and, with the fused kernel, the residual apply kernels'
   state at y in the same sweep: counted as a residual evaluation and a
   linearisation. */
int dili_residual_lin(dili_ctx *c, const double *y, double *r)
{
    const dil_model *m = c->m;
    if (m->residual_linearise == NULL || c->state == NULL)
        return dili_residual(c, y, r);
    if (dili_kept(c, y, DILI_LIN_RES | DILI_LIN_R)) {
        dili_copy(m->nres, c->lin_r, r);
    } else {
        c->info->n_score++;
        m->residual_linearise(y, c->x, c->theta, c->state, r, c->kw);
        lin_filled(c, y, DILI_LIN_RES);
        dili_copy(m->nres, r, c->lin_r);
        c->lin_valid |= DILI_LIN_R;
    }
    return dili_all_finite(m->nres, r) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_fused_score(const dili_ctx *c)
{
    return c->m->score_linearise != NULL && c->state != NULL;
}

int dili_score_grad(dili_ctx *c, const double *y, double *f, double *g)
{
    const dil_model *m = c->m;
    if (!dili_fused_score(c)) {
        *f = dili_score(c, y);
        return isfinite(*f) ? dili_grad(c, y, g) : DIL_NOT_FINITE;
    }
    if (dili_kept(c, y, DILI_LIN_SCORE | DILI_LIN_G)) {
        dili_copy(m->ny, c->lin_g, g);
        *f = c->lin_g[m->ny];
    } else {
        c->info->n_score++;
        c->info->n_grad++;
        *f = m->score_linearise(y, c->x, c->theta, c->state, g, c->kw);
        lin_filled(c, y, DILI_LIN_SCORE);
        dili_copy(m->ny, g, c->lin_g);
        c->lin_g[m->ny] = *f;
        c->lin_valid |= DILI_LIN_G;
    }
    return isfinite(*f) && dili_all_finite(m->ny, g) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_grad_lin(dili_ctx *c, const double *y, double *g)
{
    double f;
    return dili_fused_score(c) ? dili_score_grad(c, y, &f, g) : dili_grad(c, y, g);
}

int dili_jvp(dili_ctx *c, const double *y, const double *v, double *jv)
{
    const dil_model *m = c->m;
    c->info->n_jac++;
    if (m->residual_jvp_y_apply != NULL && linearised(c, y, DILI_LIN_RES))
        m->residual_jvp_y_apply(y, c->x, c->theta, c->state, v, jv, c->kw);
    else
        m->residual_jvp_y(y, c->x, c->theta, v, jv, c->kw);
    return dili_all_finite(m->nres, jv) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_rvjp(dili_ctx *c, const double *y, const double *w, double *out)
{
    const dil_model *m = c->m;
    c->info->n_jac++;
    if (m->residual_vjp_y_apply != NULL && linearised(c, y, DILI_LIN_RES))
        m->residual_vjp_y_apply(y, c->x, c->theta, c->state, w, out, c->kw);
    else
        m->residual_vjp_y(y, c->x, c->theta, w, out, c->kw);
    return dili_all_finite(m->ny, out) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_loss(dili_ctx *c, const double *y, const double *data, double *value)
{
    c->info->n_loss++;
    *value = c->m->loss(y, c->x, c->theta, data, c->kw);
    return isfinite(*value) ? DIL_OK : DIL_NOT_FINITE;
}

int dili_loss_grad(dili_ctx *c, const double *y, const double *data,
                   double *gy, double *gx, double *gtheta)
{
    const dil_model *m = c->m;
    c->info->n_loss++;
    m->loss_grad(y, c->x, c->theta, data, gy, gx, gtheta, c->kw);
    return dili_all_finite(m->ny, gy) && dili_all_finite(m->nx, gx)
                   && dili_all_finite(m->ntheta, gtheta)
               ? DIL_OK
               : DIL_NOT_FINITE;
}

size_t dili_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

size_t dili_mul(size_t a, size_t b)
{
    if (a != 0 && b > SIZE_MAX / a)
        return SIZE_MAX;
    return a * b;
}
