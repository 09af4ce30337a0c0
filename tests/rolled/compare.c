/*
 * compare.c - the rolled and the unrolled C of one model agree.
 *
 * tests/golden/rolled.sh compiles a model twice, as dilc emits it (its
 * `for` loops and `sum(t in ...)` rolled into C loops) and with --unroll
 * (one copy of the body per step, as before loops were rolled), under
 * two prefixes, and links both with this file:
 *
 *   ROLLED, UNROLLED   the two descriptors (e.g. r_model, u_model)
 *   TOL                relative tolerance (default 1e-13)
 *
 * Every kernel of both descriptors is called at three random points, its
 * work array filled with NaN first (a kernel reading scratch it did not
 * write fails), and each output is compared element by element, relative
 * to the largest magnitude of that output.  The unrolled kernels share no
 * loop code with the rolled ones (no LOOP node, no loop derivative rule,
 * no loop in the schedule), so agreement checks the rolled emission.
 * Prints one line per model, and the two work sizes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil_model.h"

#ifndef TOL
#define TOL 1e-13
#endif

extern const dil_model ROLLED, UNROLLED;

#define STR_(x) #x
#define STR(x) STR_(x)
static const char *const name = STR(ROLLED);

static unsigned long long rng = 88172645463325252ull;

static double uniform(double scale)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return scale * ((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static double *vec(int n, double scale)
{
    double *p = calloc(n > 0 ? (size_t)n : 1, sizeof *p);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    for (int i = 0; i < n; i++)
        p[i] = uniform(scale);
    return p;
}

static double *work_a, *work_b;
static int failures;

static void poison(void)
{
    for (size_t i = 0; i < ROLLED.work_size; i++)
        work_a[i] = NAN;
    for (size_t i = 0; i < UNROLLED.work_size; i++)
        work_b[i] = NAN;
}

/* n outputs of a kernel, rolled a[] against unrolled b[]. */
static void agree(const char *kernel, const double *a, const double *b, int n)
{
    double scale = 1e-300;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fmax(fabs(a[i]), fabs(b[i])));
    for (int i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= TOL * scale)) {
            if (failures++ < 10)
                printf("%s: %s[%d]: rolled %.17g, unrolled %.17g (scale %g)\n", name,
                       kernel, i, a[i], b[i], scale);
        }
}

/* The kernels with a direction and one output: out = k(y, x, theta, dir). */
typedef void (*dirk)(const double *, const double *, const double *, const double *, double *,
                     double *);

static void one_dir(const char *kname, dirk ka, dirk kb, const double *y, const double *x,
                    const double *th, const double *dir, int nout)
{
    if (!ka && !kb)
        return;
    if (!ka || !kb) {
        printf("%s: %s in one form only\n", name, kname);
        failures++;
        return;
    }
    double *oa = vec(nout, 1), *ob = vec(nout, 1);
    poison();
    ka(y, x, th, dir, oa, work_a);
    kb(y, x, th, dir, ob, work_b);
    agree(kname, oa, ob, nout);
    free(oa), free(ob);
}

static void point(void)
{
    const dil_model *A = &ROLLED, *B = &UNROLLED;
    int ny = A->ny, nx = A->nx, nt = A->ntheta, nd = A->ndata, nr = A->nres;
    double *y = vec(ny, 1), *x = vec(nx, 1), *th = vec(nt, 0.3), *d = vec(nd, 1);
    for (int k = 0; k < nt; k++)
        th[k] += A->theta_init ? A->theta_init[k] : 0.0;
    double *v = vec(ny, 1), *w = vec(nr > ny ? nr : ny, 1);
    double sa, sb;
    poison();
    sa = A->score(y, x, th, work_a);
    sb = B->score(y, x, th, work_b);
    agree("score", &sa, &sb, 1);
    double *ga = vec(ny, 1), *gb = vec(ny, 1);
    poison();
    A->score_grad_y(y, x, th, ga, work_a);
    B->score_grad_y(y, x, th, gb, work_b);
    agree("score_grad_y", ga, gb, ny);
    one_dir("score_hvp_yy", A->score_hvp_yy, B->score_hvp_yy, y, x, th, v, ny);
    one_dir("score_vjp_xy", A->score_vjp_xy, B->score_vjp_xy, y, x, th, w, nx);
    one_dir("score_vjp_thetay", A->score_vjp_thetay, B->score_vjp_thetay, y, x, th, w, nt);
    if (A->loss) {
        poison();
        sa = A->loss(y, x, th, d, work_a);
        sb = B->loss(y, x, th, d, work_b);
        agree("loss", &sa, &sb, 1);
        double *la = vec(ny + nx + nt, 1), *lb = vec(ny + nx + nt, 1);
        poison();
        A->loss_grad(y, x, th, d, la, la + ny, la + ny + nx, work_a);
        B->loss_grad(y, x, th, d, lb, lb + ny, lb + ny + nx, work_b);
        agree("loss_grad", la, lb, ny + nx + nt);
        free(la), free(lb);
    }
    if (nr > 0) {
        double *ra = vec(nr, 1), *rb = vec(nr, 1);
        poison();
        A->residual(y, x, th, ra, work_a);
        B->residual(y, x, th, rb, work_b);
        agree("residual", ra, rb, nr);
        free(ra), free(rb);
        one_dir("residual_jvp_y", A->residual_jvp_y, B->residual_jvp_y, y, x, th, v, nr);
        one_dir("residual_vjp_y", A->residual_vjp_y, B->residual_vjp_y, y, x, th, w, ny);
        one_dir("residual_vjp_x", A->residual_vjp_x, B->residual_vjp_x, y, x, th, w, nx);
        one_dir("residual_vjp_theta", A->residual_vjp_theta, B->residual_vjp_theta, y, x, th,
                w, nt);
    }
    free(y), free(x), free(th), free(d), free(v), free(w), free(ga), free(gb);
}

int main(void)
{
    const dil_model *A = &ROLLED, *B = &UNROLLED;
    if (A->ny != B->ny || A->nx != B->nx || A->ntheta != B->ntheta || A->ndata != B->ndata ||
        A->nres != B->nres || (A->loss == NULL) != (B->loss == NULL)) {
        printf("%s: the two forms have different interfaces\n", name);
        return 1;
    }
    work_a = malloc((A->work_size ? A->work_size : 1) * sizeof *work_a);
    work_b = malloc((B->work_size ? B->work_size : 1) * sizeof *work_b);
    if (!work_a || !work_b) {
        perror("malloc");
        return 2;
    }
    for (int p = 0; p < 3; p++)
        point();
    printf("%s: rolled and unrolled %s (tolerance %g); work %zu and %zu doubles\n", name,
           failures ? "DIFFER" : "agree", TOL, A->work_size, B->work_size);
    free(work_a);
    free(work_b);
    return failures ? 1 : 0;
}
