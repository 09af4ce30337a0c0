/*
 * dopri.h - the explicit side of Figure 2: the same neural ODE as the
 * fig2_d* models, dx/dt = h(x) - lam x with h a two-hidden-layer tanh
 * network, integrated over one interval by the adaptive Dormand-Prince
 * 5(4) method, and its gradient by backpropagation through the stages of
 * every accepted step (what an autodiff framework does when it
 * differentiates through the solver).  The network is written by hand here,
 * with its parameters in the fig2 models' flat layout, so the two sides
 * compute the same function (tests/check_repro.c checks that).
 */
#ifndef REPRO_DOPRI_H
#define REPRO_DOPRI_H

#include <stddef.h>

typedef struct dopri_net {
    int D, H;            /* state size, hidden width */
    double lam;          /* linear decay: the stiffness knob */
    const double *theta; /* W1[H,D], b1[H], W2[H,H], b2[H], W3[D,H], b3[D] */
} dopri_net;

/* Parameters of the network: H D + H + H H + H + D H + D. */
int dopri_ntheta(int D, int H);

/* f = h(x) - lam x */
void dopri_field(const dopri_net *n, const double *x, double *f, double *scratch);

typedef struct dopri_tape dopri_tape;   /* the accepted steps, for backprop */

dopri_tape *dopri_tape_new(int D, int H);
void dopri_tape_free(dopri_tape *t);

typedef struct dopri_stats {
    int accepted, rejected, nfev;
} dopri_stats;

/*
 * x1 = x(T) from x(0) = x0 by adaptive DOPRI5 with the mixed error test
 * ||e_i / (atol + rtol max(|x_i|, |x1_i|))||_rms <= 1 (step factor
 * 0.9 err^-1/5 within [0.2, 5]), recording every accepted step on the tape.
 * 0, or -1 when more than max_steps steps were needed or a value was not
 * finite.
 */
int dopri_solve(const dopri_net *n, const double *x0, double T, double rtol, double atol,
                int max_steps, double *x1, dopri_tape *t, dopri_stats *st);

/* The map the tape differentiates: the taped steps (sizes and count)
   replayed from x0 with the network as it is now, into x1 (D <= 64,
   H <= 256, as for dopri_solve). */
void dopri_replay(const dopri_net *n, const dopri_tape *t, const double *x0, double *x1);

/* Backpropagation through the taped steps: given dL/dx1, dL/dx0 (D) and
   dL/dtheta (ntheta, overwritten). */
void dopri_backward(const dopri_net *n, const dopri_tape *t, const double *g1, double *g0,
                    double *gtheta);

#endif
