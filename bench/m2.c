/*
 * m2.c - M2 emitted by dilc against M2 written by hand (m2_hand.c), at one
 * (M2_D, M2_H) fixed at build time; `make bench` builds it at (2, 50),
 * (2, 500), (200, 200) and (1000, 1000) (bench/run.sh).
 *
 * The point: theta uniform (W1 scaled by 1/sqrt(D), W2 by 1/sqrt(H)), x
 * uniform, y the solution of the backward-Euler step (fixed-point
 * iteration, so f = 0 and H is positive definite there), dl_dy uniform.
 * First every dil result is checked against the hand one (relative 1e-9;
 * the program fails otherwise), then each pair is timed: thread CPU time,
 * dil and hand interleaved, ROUNDS rounds of at least MIN_NS each, the
 * fastest round of each kept (the machine is shared: CPU time and minima
 * are the figures least disturbed by other jobs).  Prints microseconds
 * per call and the ratio dil / hand.
 *
 *   hvp, mixed theta   dil: score_hvp_yy_apply / score_vjp_thetay_apply on a
 *                      state from linearise; hand: on its cached M2State.
 *                      The plain kernels (forward sweep included) are
 *                      shown beside them for reference.
 *   backward cg/dense  dil_backward with a caller's work (DIL_BACKWARD_CG,
 *                      DIL_BACKWARD_DENSE) against the same algorithm by
 *                      hand: linearise, CG with the same stopping rule (or
 *                      ny Hessian-vector products and Cholesky), then the
 *                      two mixed products.  dil's "backward cg" runs
 *                      with the default options, so it also makes the
 *                      curvature certificate (curvature_check Lanczos
 *                      steps) and the Newton-step stationarity test, which
 *                      the hand version does not; "backward cg (bare)"
 *                      turns both off (curvature_check = 0,
 *                      stationary_tol = HUGE_VAL): the same work as hand.
 */
#include "dil.h"
#include "m2.h"
#include "m2_hand.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 5
#define MIN_NS 2e7

enum { NY = M2_D, NT = M2_NTHETA };

static double theta[NT], x[NY], y[NY], dldy[NY];
static double *work, *state, *rwork;
static M2State hst;
static M2Tmp htmp;
static dil_options opt_cg, opt_dense, opt_bare;

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double uniform(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

static void *alloc(size_t n)
{
    void *p = calloc(n ? n : 1, sizeof(double));
    if (!p) {
        fprintf(stderr, "m2: out of memory\n");
        exit(2);
    }
    return p;
}

/* ---------------------------------------------------------------- hand */

/* CG on H g = b as runtime/cg.c does it (x0 = 0, stop at ||r|| <= tol ||b||). */
static int hand_cg(const double *b, double *g, double tol, int max_iter)
{
    static double r[NY], p[NY], ap[NY];
    double rr = 0;
    for (int i = 0; i < NY; i++) {
        g[i] = 0;
        r[i] = p[i] = b[i];
        rr += b[i] * b[i];
    }
    double stop = tol * sqrt(rr);
    int k = 0;
    while (sqrt(rr) > stop && k < max_iter) {
        m2h_hvp(&hst, theta, p, ap, &htmp);
        double pap = 0;
        for (int i = 0; i < NY; i++)
            pap += p[i] * ap[i];
        double alpha = rr / pap, rr1 = 0;
        for (int i = 0; i < NY; i++) {
            g[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
            rr1 += r[i] * r[i];
        }
        for (int i = 0; i < NY; i++)
            p[i] = r[i] + rr1 / rr * p[i];
        rr = rr1;
        k++;
    }
    return k;
}

/* H by ny products, then Cholesky (H is SPD at the solution). */
static void hand_dense(const double *b, double *g)
{
    static double hm[NY * NY], e[NY];
    for (int j = 0; j < NY; j++) {
        memset(e, 0, sizeof e);
        e[j] = 1;
        m2h_hvp(&hst, theta, e, hm + (size_t)j * NY, &htmp);   /* column j = row j */
    }
    for (int j = 0; j < NY; j++) {
        double *rj = hm + (size_t)j * NY;
        for (int k = 0; k < j; k++)
            rj[j] -= rj[k] * rj[k];
        rj[j] = sqrt(rj[j]);
        for (int i = j + 1; i < NY; i++) {
            double *ri = hm + (size_t)i * NY, a = ri[j];
            for (int k = 0; k < j; k++)
                a -= ri[k] * rj[k];
            ri[j] = a / rj[j];
        }
    }
    for (int i = 0; i < NY; i++) {           /* L z = b */
        double a = b[i];
        for (int k = 0; k < i; k++)
            a -= hm[(size_t)i * NY + k] * g[k];
        g[i] = a / hm[(size_t)i * NY + i];
    }
    for (int i = NY - 1; i >= 0; i--) {      /* L' g = z */
        double a = g[i];
        for (int k = i + 1; k < NY; k++)
            a -= hm[(size_t)k * NY + i] * g[k];
        g[i] = a / hm[(size_t)i * NY + i];
    }
}

static void hand_backward(int dense, double *dx, double *dth)
{
    static double g[NY];
    m2h_linearise(y, x, theta, &hst);
    if (dense)
        hand_dense(dldy, g);
    else
        hand_cg(dldy, g, opt_cg.cg_tol, NY * 2 > 50 ? NY * 2 : 50);
    m2h_vjp_xy(&hst, theta, g, dx, &htmp);
    m2h_vjp_thetay(&hst, y, theta, g, dth, &htmp);
    for (int i = 0; i < NY; i++)
        dx[i] = -dx[i];
    for (int i = 0; i < NT; i++)
        dth[i] = -dth[i];
}

/* ---------------------------------------------------------------- cases */

enum { C_F, C_GRAD, C_HVP, C_HVP_PLAIN, C_THETA, C_THETA_PLAIN, C_CG, C_CG_BARE, C_DENSE, C__N };
static const char *const case_name[C__N] = {
    "f", "gradient", "hvp (apply)", "hvp (plain)", "mixed theta (apply)",
    "mixed theta (plain)", "backward cg", "backward cg (bare)", "backward dense"};

static double out_d[NT], out_h[NT], dx_d[NY], dx_h[NY];
static volatile double sink;

static void run(int c, int hand)
{
    const dil_model *m = &m2_model;
    switch (c) {
    case C_F:
        sink = hand ? m2h_score(y, x, theta, htmp.u) : m->score(y, x, theta, work);
        break;
    case C_GRAD:
        if (hand)
            m2h_grad(y, x, theta, out_h, &hst);
        else
            m->score_grad_y(y, x, theta, out_d, work);
        break;
    case C_HVP:
    case C_HVP_PLAIN:
        if (hand)
            m2h_hvp(&hst, theta, dldy, out_h, &htmp);
        else if (c == C_HVP)
            m->score_hvp_yy_apply(y, x, theta, state, dldy, out_d, work);
        else
            m->score_hvp_yy(y, x, theta, dldy, out_d, work);
        break;
    case C_THETA:
    case C_THETA_PLAIN:
        if (hand)
            m2h_vjp_thetay(&hst, y, theta, dldy, out_h, &htmp);
        else if (c == C_THETA)
            m->score_vjp_thetay_apply(y, x, theta, state, dldy, out_d, work);
        else
            m->score_vjp_thetay(y, x, theta, dldy, out_d, work);
        break;
    case C_CG:
    case C_CG_BARE:
    case C_DENSE:
        if (hand)
            hand_backward(c == C_DENSE, dx_h, out_h);
        else if (dil_backward(m, y, x, theta, dldy, dx_d, out_d,
                              c == C_DENSE ? &opt_dense : c == C_CG ? &opt_cg : &opt_bare,
                              NULL, rwork) != DIL_OK) {
            fprintf(stderr, "m2: dil_backward failed\n");
            exit(1);
        }
        break;
    }
}

static int outputs(int c)
{
    return c == C_F ? 0 : c == C_GRAD || c == C_HVP || c == C_HVP_PLAIN ? NY : NT;
}

/* dil and hand agree (the hand code is the one to doubt: dil's kernels
   are tested against finite differences and a hyper-dual reference). */
static void check(int c)
{
    run(c, 0);
    double fd = sink;
    run(c, 1);
    int n = outputs(c);
    double scale = 0, err = 0;
    for (int i = 0; i < n; i++) {
        scale = fmax(scale, fabs(out_h[i]));
        err = fmax(err, fabs(out_d[i] - out_h[i]));
    }
    if (c == C_F)
        scale = fabs(sink), err = fabs(fd - sink);
    if (c == C_CG || c == C_CG_BARE || c == C_DENSE)
        for (int i = 0; i < NY; i++) {
            scale = fmax(scale, fabs(dx_h[i]));
            err = fmax(err, fabs(dx_d[i] - dx_h[i]));
        }
    /* f and its gradient vanish at the solution: compare to the size of
       the terms they are made of (order 1) there */
    if (c == C_F || c == C_GRAD)
        scale = fmax(scale, 1e-3);
    if (err > 1e-9 * scale) {
        fprintf(stderr, "m2 (%d, %d): %s: dil and hand differ by %.3g (scale %.3g)\n", M2_D,
                M2_H, case_name[c], err, scale);
        exit(1);
    }
}

/* Fastest round, in ns per call. */
static void timed(int c, double best[2])
{
    best[0] = best[1] = INFINITY;
    long reps = 1;
    double t0 = now_ns();
    run(c, 0);
    double one = now_ns() - t0;
    if (one < MIN_NS)
        reps = (long)(MIN_NS / (one > 1 ? one : 1)) + 1;
    for (int r = 0; r < ROUNDS; r++)
        for (int hand = 0; hand < 2; hand++) {
            t0 = now_ns();
            for (long k = 0; k < reps; k++)
                run(c, hand);
            double ns = (now_ns() - t0) / (double)reps;
            if (ns < best[hand])
                best[hand] = ns;
        }
}

static void setup(void)
{
    unsigned long long s = 12345;
    const double sd = 1 / sqrt((double)M2_D), sh = 1 / sqrt((double)M2_H);
    for (int i = 0; i < NT; i++) {
        double u = uniform(&s);
        theta[i] = i < M2_H * M2_D ? sd * u : i < M2_H * (M2_D + 1) ? 0.1 * u
                 : i < M2_H * (2 * M2_D + 1) ? sh * u : 0.1 * u;
    }
    for (int i = 0; i < NY; i++) {
        x[i] = uniform(&s);
        dldy[i] = uniform(&s);
        y[i] = x[i];
    }
    /* y = x + dt (W2 tanh(W1 y + b1) + b2) by fixed-point iteration: r = 0 */
    for (int it = 0; it < 200; it++) {
        double r[NY];
        m2h_linearise(y, x, theta, &hst);
        memcpy(r, hst.r, sizeof r);
        for (int i = 0; i < NY; i++)
            y[i] -= r[i];
    }
    m2h_linearise(y, x, theta, &hst);
    opt_cg = dil_default_options();
    opt_dense = opt_cg;
    opt_bare = opt_cg;               /* the hand version's work: no checks */
    opt_bare.curvature_check = 0;
    opt_bare.stationary_tol = HUGE_VAL;
    opt_dense.backward = DIL_BACKWARD_DENSE;
    size_t wn = dil_work_size(&m2_model, &opt_dense);
    if (dil_work_size(&m2_model, &opt_cg) > wn)
        wn = dil_work_size(&m2_model, &opt_cg);
    rwork = alloc(wn);
    work = alloc(m2_model.work_size);
    state = alloc(m2_model.state_size);
    if (!m2_model.linearise || !m2_model.score_hvp_yy_apply || !m2_model.score_vjp_thetay_apply) {
        fprintf(stderr, "m2: the model has no linearise-once kernels\n");
        exit(1);
    }
    m2_model.linearise(y, x, theta, state, work);
}

int main(void)
{
    setup();
    for (int c = 0; c < C__N; c++)
        check(c);
    for (int c = 0; c < C__N; c++) {
        double best[2];
        timed(c, best);
        printf("(%4d, %4d)  %-20s %12.2f %12.2f %8.2f\n", M2_D, M2_H, case_name[c], best[0] / 1e3,
               best[1] / 1e3, best[0] / best[1]);
        fflush(stdout);
    }
    free(work), free(state), free(rwork);
    return 0;
}
