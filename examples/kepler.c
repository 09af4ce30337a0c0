// models: kepler
/*
 * kepler.c - the paper's Figure 1 experiment: learning the eccentricity of
 * an orbit through Kepler's equation, an implicitly defined function.
 *
 * Kepler's equation M = E - e sin E defines the eccentric anomaly E(e) for
 * a given mean anomaly M only implicitly.  models/kepler.dil makes it an
 * implicit layer, E = argmin (E - e sin E - M)^2, with the loss
 * (E - E_target)^2.  We fix M = 1, take the target E* that the true
 * eccentricity e = 0.7 produces, start from the model's default e = 0.5
 * and run gradient descent on e.  Each step solves for E (Newton, warm
 * started from the previous E) and gets dL/de from the implicit function
 * theorem (dil_loss_gradient), never by differentiating the solver.  At
 * the end dE/de from the IFT (dil_backward with dL/dE = 1) is printed
 * beside its closed form sin E / (1 - e cos E).
 *
 * One work array of dil_work_size() doubles serves every call, so the
 * loop allocates nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dil.h"
#include "kepler.h"

/* Reports a failed call; the demo then stops. */
static int fail(double *work, const char *what, int status)
{
    fprintf(stderr, "kepler: %s: %s\n", what, dil_status_string(status));
    free(work);
    return EXIT_FAILURE;
}

int main(void)
{
    const dil_model *m = &kepler_model;
    const double M = 1.0;         /* mean anomaly (input x) */
    const double e_true = 0.7;    /* eccentricity that made the target */
    const double lr = 0.2;        /* gradient-descent step on e */
    const int steps = 40;

    dil_options opt = dil_default_options();
    opt.tol = 1e-12;
    dil_info info;
    double *work = malloc(dil_work_size(m, &opt) * sizeof *work);
    if (work == NULL) {
        fprintf(stderr, "kepler: out of memory\n");
        return EXIT_FAILURE;
    }

    /* The target: E*(e_true), solved from E = 0. */
    double e = e_true, E = 0;
    int st = dil_solve(m, &M, &e, &E, &opt, &info, work);
    if (st != DIL_OK)
        return fail(work, "target solve", st);
    const double E_target = E;
    printf("# Kepler's equation M = E - e sin E, M = %g\n", M);
    printf("# target E* = %.12f from e_true = %g; start e = %g (model default)\n",
           E_target, e_true, m->theta_init[0]);
    printf("# %4s %14s %14s %14s\n", "step", "e", "E", "loss");

    e = m->theta_init[0];
    E = 0;
    double loss = 0, dl_de = 0;
    for (int step = 0; step <= steps; step++) {
        st = dil_solve(m, &M, &e, &E, &opt, &info, work);  /* warm start: previous E */
        if (st != DIL_OK)
            return fail(work, "solve", st);
        st = dil_loss_gradient(m, &E, &M, &e, &E_target, &loss, NULL, &dl_de, &opt, &info,
                               work);
        if (st != DIL_OK)
            return fail(work, "loss gradient", st);
        printf("  %4d %14.10f %14.10f %14.6e\n", step, e, E, loss);
        if (step < steps)
            e -= lr * dl_de;
    }

    /* dE/de at the final point: the IFT against the closed form. */
    double one = 1, dE_de = 0;
    st = dil_backward(m, &E, &M, &e, &one, NULL, &dE_de, &opt, &info, work);
    if (st != DIL_OK)
        return fail(work, "backward", st);
    double closed = sin(E) / (1 - e * cos(E));
    printf("# learned e = %.10f (true %g)\n", e, e_true);
    printf("# dE/de: IFT %.15f, closed form sin E/(1 - e cos E) %.15f, rel. diff %.1e\n",
           dE_de, closed, fabs(dE_de - closed) / fabs(closed));
    free(work);
    return fabs(e - e_true) < 1e-6 ? EXIT_SUCCESS : EXIT_FAILURE;
}
