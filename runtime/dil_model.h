/*
 * dil_model.h - the descriptor of a compiled DIL model.
 *
 * dilc emits one `const dil_model` per model; the runtime (dil.h) and user
 * programs drive every derivative kernel through it.  This header has no
 * library behind it: emitted code compiles against it alone.
 *
 * All arrays are flat doubles: y (ny), x (nx), theta (ntheta), data (ndata),
 * each the concatenation of its role's declarations in order, matrices
 * row-major.  A pointer for an empty block may be NULL.  `work` is caller
 * scratch of at least work_size doubles; kernels never allocate, keep no
 * state, and may be called from several threads with separate work arrays.
 * Output arrays must not alias inputs.
 */
#ifndef DIL_MODEL_H
#define DIL_MODEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    DIL_ROLE_INPUT = 0,  /* x: input of the layer */
    DIL_ROLE_PARAM = 1,  /* theta: learnable parameters */
    DIL_ROLE_VAR = 2,    /* y: the argmin variables */
    DIL_ROLE_DATA = 3    /* data: used only by the loss */
};

typedef struct dil_symbol {
    const char *name;
    int role;        /* DIL_ROLE_INPUT, DIL_ROLE_PARAM, DIL_ROLE_VAR, DIL_ROLE_DATA */
    int rank;        /* 0 scalar, 1 vector, 2 matrix */
    int shape[2];    /* rows, columns as declared (unused entries 1) */
    int offset;      /* first index in its role's flat block */
} dil_symbol;

typedef struct dil_model {
    const char *name;
    int ny, nx, ntheta, ndata;      /* flat lengths of y, x, theta, data */
    int nres;                       /* residual length; 0 for a score model */
    size_t work_size;               /* doubles of scratch any kernel may use */
    /* f(y; x, theta) */
    double (*score)(const double *y, const double *x, const double *theta, double *work);
    /* gy = df/dy */
    void (*score_grad_y)(const double *y, const double *x, const double *theta,
                         double *gy, double *work);
    /* hv = (d2f/dy2) v */
    void (*score_hvp_yy)(const double *y, const double *x, const double *theta,
                         const double *v, double *hv, double *work);
    /* out_x[j] = sum_i w_i d2f/(dy_i dx_j) */
    void (*score_vjp_xy)(const double *y, const double *x, const double *theta,
                         const double *w, double *out_x, double *work);
    /* out_theta[k] = sum_i w_i d2f/(dy_i dtheta_k) */
    void (*score_vjp_thetay)(const double *y, const double *x, const double *theta,
                             const double *w, double *out_theta, double *work);
    /* L(y, x, theta, data) and its partial derivatives; NULL without a loss */
    double (*loss)(const double *y, const double *x, const double *theta,
                   const double *data, double *work);
    void (*loss_grad)(const double *y, const double *x, const double *theta,
                      const double *data, double *gy, double *gx, double *gtheta,
                      double *work);
    /* residual models only (nres > 0), else NULL */
    void (*residual)(const double *y, const double *x, const double *theta,
                     double *r, double *work);
    void (*residual_jvp_y)(const double *y, const double *x, const double *theta,
                           const double *v, double *jv, double *work);        /* J_y v */
    void (*residual_vjp_y)(const double *y, const double *x, const double *theta,
                           const double *w, double *out_y, double *work);     /* J_y^T w */
    void (*residual_vjp_x)(const double *y, const double *x, const double *theta,
                           const double *w, double *out_x, double *work);     /* J_x^T w */
    void (*residual_vjp_theta)(const double *y, const double *x, const double *theta,
                               const double *w, double *out_theta, double *work); /* J_theta^T w */
    /* every declared symbol: name, role, shape, offset in its flat block */
    const struct dil_symbol *symbols;
    int nsymbols;
    /* members beyond the SPEC's list */
    const double *theta_init;       /* ntheta defaults from `param p = c` (0 where
                                       none was given); NULL when ntheta == 0 */
    /* Linearise once (docs/design.md): `linearise` computes everything the
       apply kernels need that depends only on (y, x, theta) and stores it in
       `state` (state_size doubles, caller-provided, separate from work).  The
       *_apply kernels then take a direction; they give the same values as the
       plain kernels at the (y, x, theta) given to the last `linearise` on that
       state.  Any of these may be NULL. */
    size_t state_size;
    void (*linearise)(const double *y, const double *x, const double *theta,
                      double *state, double *work);
    void (*score_hvp_yy_apply)(const double *y, const double *x, const double *theta,
                               const double *state, const double *v, double *hv,
                               double *work);
    void (*score_vjp_xy_apply)(const double *y, const double *x, const double *theta,
                               const double *state, const double *w, double *out_x,
                               double *work);
    void (*score_vjp_thetay_apply)(const double *y, const double *x, const double *theta,
                                   const double *state, const double *w,
                                   double *out_theta, double *work);
    void (*residual_jvp_y_apply)(const double *y, const double *x, const double *theta,
                                 const double *state, const double *v, double *jv,
                                 double *work);
    void (*residual_vjp_y_apply)(const double *y, const double *x, const double *theta,
                                 const double *state, const double *w, double *out_y,
                                 double *work);
    void (*residual_vjp_x_apply)(const double *y, const double *x, const double *theta,
                                 const double *state, const double *w, double *out_x,
                                 double *work);
    void (*residual_vjp_theta_apply)(const double *y, const double *x, const double *theta,
                                     const double *state, const double *w,
                                     double *out_theta, double *work);
    /* Fused value and linearisation (docs/design.md, "Linearise once"): one
       sweep that returns what the plain kernel gives (r; f and gy) and
       also fills the part of `state` that the residual_*_apply kernels
       (residual_linearise) or the score_*_apply kernels (score_linearise)
       read, at the same offsets as `linearise` (which fills both parts).
       A solver evaluates each iterate with it and then takes its Jacobian
       or Hessian products from the state without a second sweep.  Bitwise
       the plain kernels' values.  NULL when not emitted (no apply kernel
       of that part reads state): the runtime then calls the plain kernels
       and `linearise`. */
    void (*residual_linearise)(const double *y, const double *x, const double *theta,
                               double *state, double *r, double *work);
    double (*score_linearise)(const double *y, const double *x, const double *theta,
                              double *state, double *gy, double *work);
} dil_model;

#ifdef __cplusplus
}
#endif

#endif
