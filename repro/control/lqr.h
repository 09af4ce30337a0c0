/*
 * lqr.h - the infinite-horizon LQR of the paper's appendix C by hand: the
 * discrete algebraic Riccati equation (DARE) for two states and one input,
 * its solution by Riccati value iteration, and the analytic gradient of the
 * imitation loss through the DARE (East et al. 2020: a discrete Lyapunov
 * equation).  This is the independent reference the dilc-compiled model
 * models/dare.dil is checked against (IFT with CG and dense), by
 * tests/check_control.c and by repro/control/dare.c at every training iteration.
 *
 * Conventions: A is 2x2 row-major, B a column of 2, Q = I, R a positive
 * scalar; S symmetric 2x2 row-major; K the one row of the gain,
 * u = -K x.  The three distinct entries of S are s = (S00, S01, S11), the
 * layout of the model's variable.
 */
#ifndef REPRO_LQR_H
#define REPRO_LQR_H

#define LQR_T 6 /* steps of the imitation loss, as in models/dare.dil */

/* The Riccati matrix A'SA - S - (A'SB)(R + B'SB)^{-1}(B'SA) + I. */
void lqr_dare_residual(const double A[4], const double B[2], double R, const double S[4],
                       double D[4]);

/* K = (R + B'SB)^{-1} B'SA. */
void lqr_gain(const double A[4], const double B[2], double R, const double S[4], double K[2]);

/* Spectral radius of the closed loop A - B K. */
double lqr_closed_loop_radius(const double A[4], const double B[2], const double K[2]);

/* Riccati value iteration S <- A'SA - A'SB (R+B'SB)^{-1} B'SA + I from S = I
   until max |change| <= tol (1 + max |S|) or max_iter steps; returns the steps taken, or
   -1 if S did not settle (or left the finite numbers). */
int lqr_dare_iterate(const double A[4], const double B[2], double R, double S[4], double tol,
                     int max_iter);

/* The imitation loss L = sum_{t<T} (u_t - u_expert_t)^2 of the learner's
   closed loop from x0 (x[t+1] = A x[t] + B u[t], u[t] = -K x[t]) at the
   DARE solution S, and its total gradient with respect to A and B: the
   direct terms by reverse accumulation through the rollout and K, and the
   implicit term through S from the discrete Lyapunov equation
   Lambda - A_K Lambda A_K' = G (G the symmetrised dL/dS, A_K = A - B K):
       dL/dA += S A_K (Lambda + Lambda'),  dL/dB -= S A_K (Lambda + Lambda') K'.
   gA, gB may be NULL.  Returns 0, or -1 if the Lyapunov system is singular
   (A_K has a pair of eigenvalues with product 1). */
int lqr_loss_gradient(const double A[4], const double B[2], double R, const double S[4],
                      const double x0[2], const double u_expert[LQR_T], double *loss,
                      double gA[4], double gB[2]);

/* Expert controls: n closed-loop steps of the true system from x0 with the
   true gain; xs gets n states (2 each), us n controls. */
void lqr_rollout(const double A[4], const double B[2], const double K[2], const double x0[2],
                 int n, double *xs, double *us);

#endif
