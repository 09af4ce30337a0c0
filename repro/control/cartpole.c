/*
 * cartpole.c - the true cart-pole system, its task cost and the random
 * shooting expert (see cartpole.h for every choice the paper leaves open).
 *
 * Equations of motion, from the Lagrangian of a cart (mass M, position x)
 * carrying a uniform rod (mass m, length l, angle th from hanging down):
 *   T = 1/2 (M+m) xdot^2 + 1/2 m l cos(th) xdot thdot + 1/6 m l^2 thdot^2
 *   V = -1/2 m g l cos(th)
 * with the force F - b xdot on the cart:
 *   (M+m) xdd + 1/2 m l cos(th) thdd - 1/2 m l sin(th) thdot^2 = F - b xdot
 *   1/2 m l cos(th) xdd + 1/3 m l^2 thdd + 1/2 m g l sin(th) = 0.
 * Eliminating thdd = -3/(2l) (cos(th) xdd + g sin(th)):
 *   xdd  = (4 (F - b xdot) + 2 m l sin(th) thdot^2 + 3 m g sin(th) cos(th))
 *          / (4 (M+m) - 3 m cos(th)^2).
 * tests/check_control.c checks these against energy conservation (b = 0,
 * F = 0) and the power balance dE/dt = (F - b xdot) xdot.
 */
#include "cartpole.h"

#include <math.h>

void cp_deriv(const double s[CP_NX], double f, double b, double ds[CP_NX])
{
    const double M = CP_MCART, m = CP_MPOLE, l = CP_LEN, g = CP_GRAV;
    double sn = sin(s[2]), cs = cos(s[2]);
    double xdd = (4 * (f - b * s[1]) + 2 * m * l * sn * s[3] * s[3] + 3 * m * g * sn * cs) /
                 (4 * (M + m) - 3 * m * cs * cs);
    ds[0] = s[1];
    ds[1] = xdd;
    ds[2] = s[3];
    ds[3] = -1.5 / l * (cs * xdd + g * sn);
}

void cp_step_with(double s[CP_NX], double u, double b, int substeps)
{
    double f = CP_FORCE * (u > 1 ? 1 : u < -1 ? -1 : u), h = CP_DT / substeps;
    for (int k = 0; k < substeps; k++) {
        double k1[CP_NX], k2[CP_NX], k3[CP_NX], k4[CP_NX], t[CP_NX];
        cp_deriv(s, f, b, k1);
        for (int i = 0; i < CP_NX; i++)
            t[i] = s[i] + h / 2 * k1[i];
        cp_deriv(t, f, b, k2);
        for (int i = 0; i < CP_NX; i++)
            t[i] = s[i] + h / 2 * k2[i];
        cp_deriv(t, f, b, k3);
        for (int i = 0; i < CP_NX; i++)
            t[i] = s[i] + h * k3[i];
        cp_deriv(t, f, b, k4);
        for (int i = 0; i < CP_NX; i++)
            s[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
}

void cp_step(double s[CP_NX], double u)
{
    cp_step_with(s, u, CP_FRICTION, CP_SUBSTEPS);
}

double cp_energy(const double s[CP_NX])
{
    const double M = CP_MCART, m = CP_MPOLE, l = CP_LEN, g = CP_GRAV;
    double cs = cos(s[2]);
    return 0.5 * (M + m) * s[1] * s[1] + 0.5 * m * l * cs * s[1] * s[3] +
           m * l * l * s[3] * s[3] / 6 - 0.5 * m * g * l * cs;
}

double cp_cost(const double s[CP_NX])
{
    const double l = CP_LEN;
    double dx = s[0] + l * sin(s[2]), dy = -l * cos(s[2]) - l;
    return 1 - exp(-(dx * dx + dy * dy) / (2 * CP_COST_WIDTH * CP_COST_WIDTH));
}

/* splitmix64 to a uniform in [-1, 1). */
static double uniform_pm1(unsigned long long *st)
{
    unsigned long long z = (*st += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1;
}

double cp_random_shooting(const double s[CP_NX], int horizon, int particles,
                          unsigned long long *rng_state)
{
    double best = INFINITY, best_u = 0;
    for (int p = 0; p < particles; p++) {
        double x[CP_NX] = { s[0], s[1], s[2], s[3] }, cost = 0, u0 = 0;
        for (int t = 0; t < horizon; t++) {
            double u = uniform_pm1(rng_state);
            if (t == 0)
                u0 = u;
            cp_step(x, u);
            cost += cp_cost(x);
        }
        if (cost < best)
            best = cost, best_u = u0;
    }
    return best_u;
}

double cp_bc_policy(const double *theta_pol, int np, const double s[CP_NX])
{
    const double phi[5] = { s[0], s[1] / 3, sin(s[2]), cos(s[2]), s[3] / 6 };
    const double *P1 = theta_pol, *c1 = P1 + np * 5, *p2 = c1 + np, *c2 = p2 + np;
    double z = *c2;
    for (int j = 0; j < np; j++) {
        double a = c1[j];
        for (int i = 0; i < 5; i++)
            a += P1[j * 5 + i] * phi[i];
        z += p2[j] * tanh(a);
    }
    return tanh(z);
}
