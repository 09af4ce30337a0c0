/*
 * fake_batch.c - a serial stand-in for libdil's batch API (SPEC section 5),
 * linked into one model's shared object by python/tests/test_model.py so
 * that the package's batch path (argument passing, info arrays, the
 * lowest failing instance, dl_dtheta summed) is exercised even against a
 * libdil without dil_solve_batch & co.  The real batch calls must give the
 * same values; these are plain loops over the single-instance calls.
 */
#include <stdlib.h>

#include "dil.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int dil_solve_batch(const dil_model *m, int n, const double *x,
                           const double *theta, double *y,
                           const dil_options *opt, dil_info *info, int nthreads);
EXPORT int dil_backward_batch(const dil_model *m, int n, const double *y,
                              const double *x, const double *theta,
                              const double *dl_dy, double *dl_dx,
                              double *dl_dtheta, const dil_options *opt,
                              dil_info *info, int nthreads);
EXPORT int dil_loss_gradient_batch(const dil_model *m, int n, const double *y,
                                   const double *x, const double *theta,
                                   const double *data, double *loss,
                                   double *dl_dx, double *dl_dtheta,
                                   const dil_options *opt, dil_info *info,
                                   int nthreads);

/* The status of the lowest-numbered failing instance. */
static int first_failure(int status, int st)
{
    return status != DIL_OK ? status : st;
}

int dil_solve_batch(const dil_model *m, int n, const double *x,
                    const double *theta, double *y, const dil_options *opt,
                    dil_info *info, int nthreads)
{
    int status = DIL_OK;
    (void)nthreads;
    for (int i = 0; i < n; i++)
        status = first_failure(status, dil_solve(m, x + (size_t)i * m->nx, theta,
                                                 y + (size_t)i * m->ny, opt,
                                                 info ? info + i : NULL, NULL));
    return status;
}

/* dl_dtheta: the sum over the instances, in instance order. */
int dil_backward_batch(const dil_model *m, int n, const double *y,
                       const double *x, const double *theta,
                       const double *dl_dy, double *dl_dx, double *dl_dtheta,
                       const dil_options *opt, dil_info *info, int nthreads)
{
    int status = DIL_OK;
    double *t = calloc((size_t)m->ntheta + 1, sizeof *t);
    (void)nthreads;
    if (t == NULL)
        return DIL_NO_MEMORY;
    for (int k = 0; k < m->ntheta; k++)
        dl_dtheta[k] = 0;
    for (int i = 0; i < n; i++) {
        status = first_failure(status, dil_backward(
            m, y + (size_t)i * m->ny, x + (size_t)i * m->nx, theta,
            dl_dy + (size_t)i * m->ny, dl_dx + (size_t)i * m->nx, t, opt,
            info ? info + i : NULL, NULL));
        for (int k = 0; k < m->ntheta; k++)
            dl_dtheta[k] += t[k];
    }
    free(t);
    return status;
}

int dil_loss_gradient_batch(const dil_model *m, int n, const double *y,
                            const double *x, const double *theta,
                            const double *data, double *loss, double *dl_dx,
                            double *dl_dtheta, const dil_options *opt,
                            dil_info *info, int nthreads)
{
    int status = DIL_OK;
    double *t = calloc((size_t)m->ntheta + 1, sizeof *t);
    (void)nthreads;
    if (t == NULL)
        return DIL_NO_MEMORY;
    for (int k = 0; k < m->ntheta; k++)
        dl_dtheta[k] = 0;
    for (int i = 0; i < n; i++) {
        status = first_failure(status, dil_loss_gradient(
            m, y + (size_t)i * m->ny, x + (size_t)i * m->nx, theta,
            data + (size_t)i * m->ndata, loss + i, dl_dx + (size_t)i * m->nx, t,
            opt, info ? info + i : NULL, NULL));
        for (int k = 0; k < m->ntheta; k++)
            dl_dtheta[k] += t[k];
    }
    free(t);
    return status;
}
