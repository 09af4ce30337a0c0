/*
 * dopri.c - adaptive Dormand-Prince 5(4) for the Figure 2 network, with
 * backpropagation through the stages (dopri.h).
 *
 * The tableau is Dormand and Prince's (J. Comput. Appl. Math. 6, 1980):
 * stage i evaluates k_i = f(z_i) at z_i = x + h sum_{j<i} a_ij k_j, the
 * fifth-order solution is x + h sum b_i k_i, and the embedded fourth-order
 * one gives the error estimate e = h sum (b_i - bhat_i) k_i, with the 7th
 * stage f(x_new) reused as the next step's first (FSAL).
 *
 * Backpropagation through one accepted step, reverse mode on the formulas
 * above (step sizes, chosen by the error test, are constants):
 *     xbar += x1bar;  kbar_i = h b_i x1bar;
 *     for i = 6 .. 1:  zbar_i = (df/dz)^T kbar_i   (and thetabar += ...)
 *                      xbar  += zbar_i;  kbar_j += h a_ij zbar_i  (j < i).
 * The network's own VJP (tanh layers, y = W a + b):
 *     dbar = ybar (.) (1 - a^2)  for a = tanh(u),   Wbar += dbar a_prev^T,
 *     bbar += dbar,   a_prevbar = W^T dbar;   and -lam xbar for the decay.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dopri.h"


static const double A[7][6] = {
    { 0 },
    { 1.0 / 5 },
    { 3.0 / 40, 9.0 / 40 },
    { 44.0 / 45, -56.0 / 15, 32.0 / 9 },
    { 19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729 },
    { 9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656 },
    { 35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84 },
};
static const double B[7] = { 35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784,
                             11.0 / 84, 0 };
static const double BHAT[7] = { 5179.0 / 57600, 0, 7571.0 / 16695, 393.0 / 640,
                                -92097.0 / 339200, 187.0 / 2100, 1.0 / 40 };

int dopri_ntheta(int D, int H)
{
    return H * D + H + H * H + H + D * H + D;
}

/* f = W3 a2 + b3 - lam x with a1 = tanh(W1 x + b1), a2 = tanh(W2 a1 + b2) */
static void forward(const dopri_net *n, const double *x, double *f, double *a1, double *a2)
{
    const int D = n->D, H = n->H;
    const double *W1 = n->theta, *b1 = W1 + H * D, *W2 = b1 + H, *b2 = W2 + H * H;
    const double *W3 = b2 + H, *b3 = W3 + D * H;
    for (int i = 0; i < H; i++) {
        double s = b1[i];
        for (int j = 0; j < D; j++)
            s += W1[i * D + j] * x[j];
        a1[i] = tanh(s);
    }
    for (int i = 0; i < H; i++) {
        double s = b2[i];
        for (int j = 0; j < H; j++)
            s += W2[i * H + j] * a1[j];
        a2[i] = tanh(s);
    }
    for (int i = 0; i < D; i++) {
        double s = b3[i] - n->lam * x[i];
        for (int j = 0; j < H; j++)
            s += W3[i * H + j] * a2[j];
        f[i] = s;
    }
}

void dopri_field(const dopri_net *n, const double *x, double *f, double *scratch)
{
    forward(n, x, f, scratch, scratch + n->H);
}

/* gx += (df/dx)^T w, gth += (df/dtheta)^T w at the point with activations
   a1, a2; d holds 2H doubles of scratch. */
static void vjp(const dopri_net *n, const double *x, const double *a1, const double *a2,
                const double *w, double *gx, double *gth, double *d)
{
    const int D = n->D, H = n->H;
    const double *W1 = n->theta, *W2 = W1 + H * D + H, *W3 = W2 + H * H + H;
    double *gW1 = gth, *gb1 = gW1 + H * D, *gW2 = gb1 + H, *gb2 = gW2 + H * H;
    double *gW3 = gb2 + H, *gb3 = gW3 + D * H, *d1 = d, *d2 = d + H;
    for (int i = 0; i < D; i++) {
        gb3[i] += w[i];
        gx[i] -= n->lam * w[i];
        for (int j = 0; j < H; j++)
            gW3[i * H + j] += w[i] * a2[j];
    }
    for (int j = 0; j < H; j++) {
        double s = 0;
        for (int i = 0; i < D; i++)
            s += W3[i * H + j] * w[i];
        d2[j] = s * (1 - a2[j] * a2[j]);
        gb2[j] += d2[j];
    }
    memset(d1, 0, (size_t)H * sizeof *d1);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            gW2[i * H + j] += d2[i] * a1[j];
            d1[j] += W2[i * H + j] * d2[i];
        }
    for (int i = 0; i < H; i++) {
        d1[i] *= 1 - a1[i] * a1[i];
        gb1[i] += d1[i];
        for (int j = 0; j < D; j++) {
            gW1[i * D + j] += d1[i] * x[j];
            gx[j] += W1[i * D + j] * d1[i];
        }
    }
}

/* One taped step: h, then for stages 0..5 the input z (D), a1, a2 (H each). */
struct dopri_tape {
    int D, H, nsteps, cap;
    double *rec;
};

static size_t rec_len(int D, int H)
{
    return 1 + 6 * (size_t)(D + 2 * H);
}

dopri_tape *dopri_tape_new(int D, int H)
{
    dopri_tape *t = calloc(1, sizeof *t);
    if (t) {
        t->D = D;
        t->H = H;
    }
    return t;
}

void dopri_tape_free(dopri_tape *t)
{
    if (t)
        free(t->rec);
    free(t);
}

static double *tape_push(dopri_tape *t)
{
    size_t len = rec_len(t->D, t->H);
    if (t->nsteps == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        double *p = realloc(t->rec, (size_t)cap * len * sizeof *p);
        if (!p)
            return NULL;
        t->rec = p;
        t->cap = cap;
    }
    return t->rec + (size_t)t->nsteps++ * len;
}

/* the error norm of the step control: rms of e_i / (atol + rtol max|x|) */
static double err_norm(int D, const double *e, const double *x, const double *y,
                       double rtol, double atol)
{
    double s = 0;
    for (int i = 0; i < D; i++) {
        double sc = atol + rtol * fmax(fabs(x[i]), fabs(y[i]));
        s += (e[i] / sc) * (e[i] / sc);
    }
    return sqrt(s / D);
}

/* Hairer, Norsett and Wanner's starting step (Solving ODEs I, II.4):
   h0 = 0.01 |x|/|f|, then one Euler trial to see how fast f changes. */
static double initial_step(const dopri_net *n, const double *x, const double *f0,
                           double rtol, double atol, double *tmp, double *act,
                           int *nfev)
{
    const int D = n->D;
    double d0 = err_norm(D, x, x, x, rtol, atol), d1 = err_norm(D, f0, x, x, rtol, atol);
    double h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
    double *x1 = tmp, *f1 = tmp + D, *df = tmp + 2 * D;
    for (int i = 0; i < D; i++)
        x1[i] = x[i] + h0 * f0[i];
    forward(n, x1, f1, act, act + n->H);
    (*nfev)++;
    for (int i = 0; i < D; i++)
        df[i] = (f1[i] - f0[i]) / h0;
    double d2 = err_norm(D, df, x, x, rtol, atol), m = fmax(d1, d2);
    double h1 = m <= 1e-15 ? fmax(1e-6, h0 * 1e-3) : pow(0.01 / m, 0.2);
    return fmin(100 * h0, h1);
}

/* The stages of one trial step of size h from x (k[0] = f(x) given, its
   activations in rec's stage 0): rec gets h and every stage, xn the
   fifth-order result, k[6] = f(xn) with activations act6; returns the
   error norm. */
static double trial(const dopri_net *n, const double *x, double h, double (*k)[64],
                    double *rec, double *xn, double *act6, double rtol, double atol)
{
    const int D = n->D, H = n->H;
    const size_t sl = (size_t)(D + 2 * H);
    double e[64];
    rec[0] = h;
    for (int s = 1; s <= 6; s++) {
        double *z = s < 6 ? rec + 1 + s * sl : xn;
        for (int i = 0; i < D; i++) {
            double acc = 0;
            for (int j = 0; j < s; j++)
                acc += A[s][j] * k[j][i];
            z[i] = x[i] + h * acc;
        }
        if (s < 6)
            forward(n, z, k[s], z + D, z + D + H);
        else
            forward(n, z, k[6], act6, act6 + H);
    }
    for (int i = 0; i < D; i++) {
        double acc = 0;
        for (int j = 0; j < 7; j++)
            acc += (B[j] - BHAT[j]) * k[j][i];
        e[i] = h * acc;
    }
    return err_norm(D, e, x, xn, rtol, atol);
}

int dopri_solve(const dopri_net *n, const double *x0, double T, double rtol, double atol,
                int max_steps, double *x1, dopri_tape *t, dopri_stats *st)
{
    const int D = n->D, H = n->H;
    const size_t len = rec_len(D, H);
    double k[7][64], x[64], xn[64], tmp[3 * 64] = { 0 };
    double *rec = malloc(len * sizeof *rec), *act6 = malloc(2 * (size_t)H * sizeof *act6);
    double tt = 0, h;
    int rc = -1;

    memset(st, 0, sizeof *st);
    t->nsteps = 0;
    if (!rec || !act6 || D > 64 || H > 256)
        goto out;
    memcpy(x, x0, (size_t)D * sizeof *x);
    memcpy(rec + 1, x, (size_t)D * sizeof *x);
    forward(n, x, k[0], rec + 1 + D, rec + 1 + D + H);
    st->nfev = 1;
    h = fmin(T, initial_step(n, x, k[0], rtol, atol, tmp, act6, &st->nfev));
    while (tt < T) {
        if (st->accepted + st->rejected >= max_steps || !(h > 0))
            goto out;
        if (tt + h > T)
            h = T - tt;
        double err = trial(n, x, h, k, rec, xn, act6, rtol, atol);
        st->nfev += 6;
        if (!isfinite(err))
            goto out;
        double fac = err == 0 ? 5 : fmin(5, fmax(0.2, 0.9 * pow(err, -0.2)));
        if (err <= 1) {
            double *dst = tape_push(t);
            if (!dst)
                goto out;
            memcpy(dst, rec, len * sizeof *rec);
            st->accepted++;
            tt = tt + h >= T ? T : tt + h;
            memcpy(x, xn, (size_t)D * sizeof *x);
            memcpy(k[0], k[6], (size_t)D * sizeof *x);
            memcpy(rec + 1, x, (size_t)D * sizeof *x);   /* FSAL: stage 0 of the next */
            memcpy(rec + 1 + D, act6, 2 * (size_t)H * sizeof *act6);
        } else {
            st->rejected++;
            fac = fmin(fac, 1);
        }
        h *= fac;
    }
    memcpy(x1, x, (size_t)D * sizeof *x);
    rc = 0;
out:
    free(rec);
    free(act6);
    return rc;
}

void dopri_backward(const dopri_net *n, const dopri_tape *t, const double *g1, double *g0,
                    double *gtheta)
{
    const int D = n->D, H = n->H;
    const size_t len = rec_len(D, H), sl = (size_t)(D + 2 * H);
    double xbar[64], kbar[6][64], zbar[64], d[2 * 256];
    memset(gtheta, 0, (size_t)dopri_ntheta(D, H) * sizeof *gtheta);
    memcpy(xbar, g1, (size_t)D * sizeof *xbar);
    for (int s = t->nsteps - 1; s >= 0; s--) {
        const double *rec = t->rec + (size_t)s * len, h = rec[0];
        for (int i = 0; i < 6; i++)
            for (int q = 0; q < D; q++)
                kbar[i][q] = h * B[i] * xbar[q];
        for (int i = 5; i >= 0; i--) {
            const double *z = rec + 1 + (size_t)i * sl;
            memset(zbar, 0, (size_t)D * sizeof *zbar);
            vjp(n, z, z + D, z + D + H, kbar[i], zbar, gtheta, d);
            for (int q = 0; q < D; q++)
                xbar[q] += zbar[q];
            for (int j = 0; j < i; j++)
                for (int q = 0; q < D; q++)
                    kbar[j][q] += h * A[i][j] * zbar[q];
        }
    }
    memcpy(g0, xbar, (size_t)D * sizeof *xbar);
}

void dopri_replay(const dopri_net *n, const dopri_tape *t, const double *x0, double *x1)
{
    const int D = n->D, H = n->H;
    const size_t len = rec_len(D, H);
    double k[7][64], x[64], act[2 * 256];
    if (D > 64 || H > 256)
        return;
    memcpy(x, x0, (size_t)D * sizeof *x);
    for (int s = 0; s < t->nsteps; s++) {
        double h = t->rec[(size_t)s * len];
        forward(n, x, k[0], act, act + H);
        for (int st = 1; st < 6; st++) {
            double z[64];
            for (int i = 0; i < D; i++) {
                double acc = 0;
                for (int j = 0; j < st; j++)
                    acc += A[st][j] * k[j][i];
                z[i] = x[i] + h * acc;
            }
            forward(n, z, k[st], act, act + H);
        }
        for (int i = 0; i < D; i++) {
            double acc = 0;
            for (int j = 0; j < 6; j++)
                acc += B[j] * k[j][i];
            x[i] += h * acc;
        }
    }
    memcpy(x1, x, (size_t)D * sizeof *x);
}
