/*
 * cref.c - the C side of the Python package's bit-for-bit test
 * (python/tests/test_model.py): one instance through dil_solve,
 * dil_backward and dil_loss_gradient called directly from C, on the model
 * the package compiled (prefix dilm, python/dil/_build.py), with the
 * default options (tol overridden when the first number is positive).
 *
 * Reads from stdin: tol, then x (nx), theta (ntheta), y0 (ny), dl_dy (ny)
 * and data (ndata) as numbers strtod understands (the test writes C99 hex
 * floats, exact); prints lines "y ...", "dx ...", "dtheta ...", and with a
 * loss "loss ...", "ldx ...", "ldtheta ...", each value as %a (exact).
 */
#include <stdio.h>
#include <stdlib.h>

#include "dil.h"
#include "model.h"

static void read_block(double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (scanf("%lf", &v[i]) != 1) {
            fprintf(stderr, "cref: short input\n");
            exit(2);
        }
}

static void print_block(const char *key, const double *v, int n)
{
    printf("%s", key);
    for (int i = 0; i < n; i++)
        printf(" %a", v[i]);
    printf("\n");
}

/* Exits with the status's name when a call failed. */
static void check(const char *what, int status)
{
    if (status != DIL_OK) {
        fprintf(stderr, "cref: %s: %s\n", what, dil_status_string(status));
        exit(1);
    }
}

int main(void)
{
    const dil_model *m = &dilm_model;
    /* +1: no zero-length allocations for empty blocks */
    double *x = calloc((size_t)m->nx + 1, sizeof *x);
    double *theta = calloc((size_t)m->ntheta + 1, sizeof *theta);
    double *y = calloc((size_t)m->ny + 1, sizeof *y);
    double *g = calloc((size_t)m->ny + 1, sizeof *g);
    double *data = calloc((size_t)m->ndata + 1, sizeof *data);
    double *dx = calloc((size_t)m->nx + 1, sizeof *dx);
    double *dtheta = calloc((size_t)m->ntheta + 1, sizeof *dtheta);
    double tol;
    if (!x || !theta || !y || !g || !data || !dx || !dtheta)
        return 2;
    read_block(&tol, 1);
    read_block(x, m->nx);
    read_block(theta, m->ntheta);
    read_block(y, m->ny);
    read_block(g, m->ny);
    read_block(data, m->ndata);
    dil_options opt = dil_default_options();
    if (tol > 0)
        opt.tol = tol;
    check("dil_solve", dil_solve(m, x, theta, y, &opt, NULL, NULL));
    print_block("y", y, m->ny);
    check("dil_backward", dil_backward(m, y, x, theta, g, dx, dtheta, &opt, NULL, NULL));
    print_block("dx", dx, m->nx);
    print_block("dtheta", dtheta, m->ntheta);
    if (m->loss != NULL) {
        double loss;
        check("dil_loss_gradient",
              dil_loss_gradient(m, y, x, theta, data, &loss, dx, dtheta, &opt, NULL, NULL));
        print_block("loss", &loss, 1);
        print_block("ldx", dx, m->nx);
        print_block("ldtheta", dtheta, m->ntheta);
    }
    free(x), free(theta), free(y), free(g), free(data), free(dx), free(dtheta);
    return 0;
}
