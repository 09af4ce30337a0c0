/*
 * truth.h - ground truth for the paper's Table 1 data sets: the Van der Pol
 * oscillator and the cubic spiral, integrated to about 1e-13 by a
 * high-order Taylor series method, plus an independent second integrator
 * (classical Runge-Kutta 4 with Richardson extrapolation) that the tests
 * and the reproduction program use to check it.
 */
#ifndef REPRO_TRUTH_H
#define REPRO_TRUTH_H

/* The two vector fields of the paper's footnotes 1 and 2. */
typedef enum { TRUTH_VDP, TRUTH_SPIRAL } truth_kind;

typedef struct truth_system {
    truth_kind kind;
    double mu;        /* Van der Pol: x'' - mu (1 - x^2) x' + x = 0 */
    double a[2][2];   /* spiral: dx/dt = A (x o x o x), elementwise cube */
} truth_system;

/* dx/dt at x (the vector field itself). */
void truth_field(const truth_system *s, const double x[2], double dx[2]);

/*
 * Samples x(k dt), k = 0..n-1, from x(0) = x0 into out (n rows of 2), by the
 * Taylor method of order `order` with `sub` equal steps per interval dt.
 * The reproduction uses order 30 and sub 16 (truth_sample_default).
 */
void truth_sample(const truth_system *s, const double x0[2], double dt, int n,
                  int order, int sub, double (*out)[2]);
void truth_sample_default(const truth_system *s, const double x0[2], double dt,
                          int n, double (*out)[2]);

/* The same samples by classical RK4 with `sub` steps per interval, each
   interval done at step h and at h/2 and combined as (16 y_{h/2} - y_h)/15
   (Richardson: the h^4 error terms cancel). */
void truth_sample_rk4(const truth_system *s, const double x0[2], double dt, int n,
                      int sub, double (*out)[2]);

#endif
