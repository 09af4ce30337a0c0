/*
 * cartpole.h - the true cart-pole system of the paper's Table 2 (section
 * 3.2, the setup of Gal et al. 2016), its task cost, and the random-shooting
 * expert.  Where the paper is silent this file decides, and
 * docs/results/control.md repeats it:
 *
 *   state     s = (x, xdot, th, thdot): cart position [m] and velocity,
 *             pole angle [rad] from hanging down (th = pi is upright) and
 *             its rate.
 *   physics   cart mass 0.5 kg, pole a uniform rod of mass 0.5 kg and
 *             length 0.6 m (moment of inertia m l^2 / 3 about the pivot),
 *             gravity 9.82 m/s^2, cart friction 0.1 N s/m (the PILCO
 *             cart-pole that Gal et al. use).
 *   control   u in [-1, 1] (clamped), force F = 10 u N, held constant over
 *             a step of dt = 0.1 s.
 *   integrator classic Runge-Kutta 4 with CP_SUBSTEPS substeps per step.
 *   task cost c(s) = 1 - exp(-d^2 / (2 * 0.25^2)), d the distance of the
 *             pole tip (x + l sin th, -l cos th) to the upright target
 *             (0, l); an episode's cost is sum_{t=1..40} c(s_t) (the states
 *             reached after each of the 40 controls).
 *   expert    random shooting on the true dynamics: 1000 control sequences
 *             of 10 steps, each control uniform in [-1, 1]; the sequence of
 *             least summed task cost gives the first control.
 */
#ifndef REPRO_CARTPOLE_H
#define REPRO_CARTPOLE_H

#define CP_NX 4
#define CP_DT 0.1
#define CP_SUBSTEPS 4
#define CP_FORCE 10.0
#define CP_MCART 0.5
#define CP_MPOLE 0.5
#define CP_LEN 0.6
#define CP_GRAV 9.82
#define CP_FRICTION 0.1
#define CP_COST_WIDTH 0.25
#define CP_EPISODE 40

/* ds/dt for force f [N] and cart friction coefficient b. */
void cp_deriv(const double s[CP_NX], double f, double b, double ds[CP_NX]);

/* One control step of CP_DT: s <- s after u (clamped to [-1, 1]). */
void cp_step(double s[CP_NX], double u);

/* The same with a chosen friction and number of RK4 substeps (tests). */
void cp_step_with(double s[CP_NX], double u, double b, int substeps);

/* Total mechanical energy (kinetic + potential, zero potential at the
   pivot height) [J]. */
double cp_energy(const double s[CP_NX]);

/* Task cost of a state, in [0, 1). */
double cp_cost(const double s[CP_NX]);

/* Random-shooting plan from s: the first control of the best of
   `particles` uniform sequences of `horizon` steps.  rng_state is a
   caller-owned 64-bit state, advanced. */
double cp_random_shooting(const double s[CP_NX], int horizon, int particles,
                          unsigned long long *rng_state);

/* The behavioural-cloning policy pi(s) = tanh(p2 . tanh(P1 phi(s) + c1) + c2)
   with phi(s) = (x, xdot/3, sin th, cos th, thdot/6), the formula of
   models/cartpole_bc.dil (tests/check_control.c checks the two agree);
   theta_pol holds P1 (np x 5), c1 (np), p2 (np), c2 in that order. */
double cp_bc_policy(const double *theta_pol, int np, const double s[CP_NX]);

#endif
