/*
 * common.h - small helpers shared by the reproduction programs of
 * repro/control/ (the paper's Table 2 and appendix C): a seeded random
 * number generator, Adam, wall and CPU clocks, symbol lookup in a compiled
 * model, and thin wrappers of libdil's batch calls (repro_*_batch).
 */
#ifndef REPRO_COMMON_H
#define REPRO_COMMON_H

#include <stddef.h>

#include "dil.h"

/* ---- random numbers: splitmix64 seeding a xoshiro256** stream ---- */
typedef struct repro_rng {
    unsigned long long s[4];
} repro_rng;

void repro_rng_seed(repro_rng *r, unsigned long long seed);
double repro_uniform(repro_rng *r, double lo, double hi); /* [lo, hi) */
double repro_normal(repro_rng *r);                        /* N(0, 1) */
int repro_index(repro_rng *r, int n);                     /* 0 .. n-1 */

/* ---- Adam over n parameters, with a caller-chosen step per call ---- */
typedef struct repro_adam {
    int n, t;
    double b1, b2, eps;
    double *m, *v;
} repro_adam;

int repro_adam_init(repro_adam *a, int n);      /* 0, or -1 out of memory */
void repro_adam_step(repro_adam *a, double *theta, const double *grad, double lr);
void repro_adam_free(repro_adam *a);

/* ---- clocks ---- */
double repro_wall(void); /* seconds, monotonic */
double repro_cpu(void);  /* CPU seconds of the process (all threads) */

/* ---- models ---- */
/* Offset of the symbol `name` of `role` in its flat block; exits with a
   message if it is absent or its size is not `size` (the program and the
   model file disagree: a build error, not a run-time condition). */
int repro_symbol(const dil_model *m, const char *name, int role, int size);

/* ---- batches: n instances sharing theta ----
   libdil's dil_solve_batch / dil_loss_gradient_batch (SPEC section 5: x,
   y, data stacked, dl_dtheta the sum over the instances in index order,
   the same bits for any thread count; nthreads 0 every core, 1 the caller's
   thread), with one status per instance in `status` (may be NULL) instead
   of a dil_info array.  On a shared machine use nthreads 1 for instances
   of a few microseconds, whose fork-join costs more than they do. */
int repro_solve_batch(const dil_model *m, int n, const double *x, const double *theta,
                      double *y, const dil_options *opt, int *status, int nthreads);
int repro_loss_gradient_batch(const dil_model *m, int n, const double *y, const double *x,
                              const double *theta, const double *data, double *loss,
                              double *dl_dtheta, const dil_options *opt, int *status,
                              int nthreads);

#endif
