/*
 * batched.c - issue 8's question "is a batched kernel, one that treats the
 * n instances as the columns of a matrix, faster than n calls of the
 * per-instance kernel?", measured before anyone writes one in dilc.
 *
 * The model is M2 written as a residual (models/node_vdp.dil with its `dim`
 * line rewritten to (BATCHED_D, BATCHED_H) by the Makefile; at (2, 500) it
 * is node_vdp itself):
 *     s = tanh(W1 y + b1),  r = y - x - dt (W2 s + b2),  dt = 1/10,
 *     J v = v - dt W2 ((1 - s^2) * (W1 v)).
 * The two operations the runtime repeats per instance (docs/solvers.md,
 * "Linearise once"): the forward sweep `residual_linearise` (r, and s in the
 * state) and the Jacobian-vector product from that state
 * `residual_jvp_y_apply`.  For each n of 8, 32, 107 instances sharing theta:
 *
 *   calls    n calls of the emitted kernel through the descriptor, each
 *            instance with its own state block, as runtime/batch.c does;
 *   batched  the same operation by hand on blocks of LANES = 8 instances:
 *            Y = [y_1 ... y_8] as columns, Z = W1 Y with each weight read
 *            once per block, tanh over the H x 8 block, W2 S, and likewise
 *            for J V.  The last block is padded with zero columns (their
 *            cost is counted).  Written as scalar code that gcc -O2
 *            vectorises (the SLP pass packs the 2 x 8 accumulators into four
 *            AVX2 registers), with the emitted kernels' target_clones
 *            attribute, the same tanh (compiler/vmath.h) and no FMA.
 *
 * Before timing, every r, s and J v of the batched code is compared with the
 * emitted kernels' (relative 1e-12: the sums run in another order, the
 * emitted dot products of 16+ terms in 8 partial sums; at D = 2 the W1 y
 * sums are the same bits); the program exits 1 otherwise.  Timing: thread
 * CPU time, the two forms interleaved, ROUNDS rounds of at least MIN_NS
 * each, the fastest kept (the machine is shared); microseconds per
 * instance.  `make bench-batched` runs it at M2's four sizes
 * (docs/solvers.md, "Batches", has the figures).
 */
#include "dil_model.h"
#include "m2r.h"
#include "vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7
#define MIN_NS 3e7
#define LANES 8          /* instances per block: two AVX2 registers */

enum { D = BATCHED_D, H = BATCHED_H };
/* theta's layout, checked against the descriptor's symbols in main */
enum { OFF_W1 = 0, OFF_B1 = H * D, OFF_W2 = H * D + H, OFF_B2 = 2 * H * D + H };

/* The emitted kernels' condition for two versions (compiler/emit.c). */
#if !defined(DIL_NO_CLONES) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 6
#define BATCHED_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BATCHED_CLONES
#endif

static const dil_model *const m = &node_vdp_model;

/* ------------------------------------------------------------ batched */

/* z[i][j] = sum_k w[i][k] x[k][j] for `rows` rows of w (row-major, `inner`
   long) and LANES columns of x (inner x LANES, lanes contiguous), each sum
   in k order from 0 as the emitted one-accumulator loops do (so W1 Y at
   D = 2 gives the emitted bits).  Two forms:

   mat_lanes_long (inner >= 8): four rows at a time (then two, then one),
   so that each x[k][.] load serves 32 products; the 32 sums are separate
   scalars, which gcc's SLP pass keeps in eight AVX2 registers: eight
   independent chains of additions, enough to hide the adder's latency (an
   array accumulator would go through memory at every k).  Not inlined:
   with inner a known multiple of 4, gcc -O2's loop vectoriser takes the k
   loop instead, four k at a time, and spends more on transposing x than
   on the products (measured: J v at (2, 500) 1.9x slower than this).
   target_clones functions are not cloned for constant arguments.

   mat_lanes_short (inner < 8, inlined with its constant inner): one row at
   a time, the k loop unrolled, the lanes vectorised. */
#define LANES_ACC(a) double a##0 = 0, a##1 = 0, a##2 = 0, a##3 = 0, \
                            a##4 = 0, a##5 = 0, a##6 = 0, a##7 = 0
#define LANES_ADD(a, u) (a##0 += (u) * xk[0], a##1 += (u) * xk[1], a##2 += (u) * xk[2], \
                         a##3 += (u) * xk[3], a##4 += (u) * xk[4], a##5 += (u) * xk[5], \
                         a##6 += (u) * xk[6], a##7 += (u) * xk[7])
#define LANES_PUT(z, a) ((z)[0] = a##0, (z)[1] = a##1, (z)[2] = a##2, (z)[3] = a##3, \
                         (z)[4] = a##4, (z)[5] = a##5, (z)[6] = a##6, (z)[7] = a##7)
BATCHED_CLONES __attribute__((noinline)) static void mat_lanes_long(int rows, int inner,
    const double *restrict w, const double *restrict x, double *restrict z)
{
    int i = 0;
    for (; i + 4 <= rows; i += 4) {
        const double *w0 = w + (size_t)i * inner, *w1 = w0 + inner, *w2 = w1 + inner,
                     *w3 = w2 + inner;
        LANES_ACC(a);
        LANES_ACC(b);
        LANES_ACC(c);
        LANES_ACC(d);
        for (int k = 0; k < inner; k++) {
            const double *xk = x + (size_t)k * LANES;
            LANES_ADD(a, w0[k]);
            LANES_ADD(b, w1[k]);
            LANES_ADD(c, w2[k]);
            LANES_ADD(d, w3[k]);
        }
        double *z0 = z + (size_t)i * LANES;
        LANES_PUT(z0, a);
        LANES_PUT(z0 + LANES, b);
        LANES_PUT(z0 + 2 * LANES, c);
        LANES_PUT(z0 + 3 * LANES, d);
    }
    for (; i + 2 <= rows; i += 2) {         /* D = 2: W2 S has two rows */
        const double *w0 = w + (size_t)i * inner, *w1 = w0 + inner;
        LANES_ACC(a);
        LANES_ACC(b);
        for (int k = 0; k < inner; k++) {
            const double *xk = x + (size_t)k * LANES;
            LANES_ADD(a, w0[k]);
            LANES_ADD(b, w1[k]);
        }
        LANES_PUT(z + (size_t)i * LANES, a);
        LANES_PUT(z + (size_t)(i + 1) * LANES, b);
    }
    for (; i < rows; i++) {
        const double *w0 = w + (size_t)i * inner;
        LANES_ACC(a);
        for (int k = 0; k < inner; k++) {
            const double *xk = x + (size_t)k * LANES;
            LANES_ADD(a, w0[k]);
        }
        LANES_PUT(z + (size_t)i * LANES, a);
    }
}

static inline void mat_lanes_short(int rows, int inner, const double *restrict w,
                                   const double *restrict x, double *restrict z)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < LANES; j++) {
            double acc = 0;
            for (int k = 0; k < inner; k++)
                acc += w[(size_t)i * inner + k] * x[k * LANES + j];
            z[(size_t)i * LANES + j] = acc;
        }
}

static inline void mat_lanes(int rows, int inner, const double *restrict w,
                             const double *restrict x, double *restrict z)
{
    if (inner < 8)
        mat_lanes_short(rows, inner, w, x, z);
    else
        mat_lanes_long(rows, inner, w, x, z);
}

/* Block b's instances as LANES columns: t[k][j] = a[(b LANES + j) D + k],
   zero for the padding columns past n. */
static inline void gather_lanes(int n, int b, const double *restrict a, double *restrict t)
{
    for (int j = 0; j < LANES; j++) {
        const int i = b * LANES + j;
        for (int k = 0; k < D; k++)
            t[k * LANES + j] = i < n ? a[(size_t)i * D + k] : 0.0;
    }
}

/* The forward sweep of n instances: r (n blocks of D, as the runtime
   stacks them) and the state S (per block of LANES instances, H x LANES).
   work: 2 D LANES doubles. */
BATCHED_CLONES static void batch_residual_linearise(int n, const double *restrict y,
    const double *restrict x, const double *restrict theta, double *restrict state,
    double *restrict r, double *restrict work)
{
    double *const yt = work, *const u = work + D * LANES;
    for (int b = 0; b * LANES < n; b++) {
        double *const s = state + (size_t)b * H * LANES;
        gather_lanes(n, b, y, yt);
        mat_lanes(H, D, theta + OFF_W1, yt, s);
        for (int h = 0; h < H; h++)
            for (int j = 0; j < LANES; j++)
                s[h * LANES + j] = dil_vtanh(theta[OFF_B1 + h] + s[h * LANES + j]);
        mat_lanes(D, H, theta + OFF_W2, s, u);
        for (int j = 0; j < LANES && b * LANES + j < n; j++) {
            const size_t i = (size_t)(b * LANES + j) * D;
            for (int k = 0; k < D; k++)
                r[i + k] = (y[i + k] - x[i + k]) - 0.1 * (theta[OFF_B2 + k] + u[k * LANES + j]);
        }
    }
}

/* J v of n instances from batch_residual_linearise's state.
   work: 2 D LANES + H LANES doubles. */
BATCHED_CLONES static void batch_jvp_y_apply(int n, const double *restrict theta,
    const double *restrict state, const double *restrict v, double *restrict jv,
    double *restrict work)
{
    double *const vt = work, *const u = work + D * LANES, *const t = work + 2 * D * LANES;
    for (int b = 0; b * LANES < n; b++) {
        const double *const s = state + (size_t)b * H * LANES;
        gather_lanes(n, b, v, vt);
        mat_lanes(H, D, theta + OFF_W1, vt, t);
        for (int h = 0; h < H * LANES; h++)
            t[h] = (1.0 - s[h] * s[h]) * t[h];
        mat_lanes(D, H, theta + OFF_W2, t, u);
        for (int j = 0; j < LANES && b * LANES + j < n; j++) {
            const size_t i = (size_t)(b * LANES + j) * D;
            for (int k = 0; k < D; k++)
                jv[i + k] = v[i + k] - 0.1 * u[k * LANES + j];
        }
    }
}

/* -------------------------------------------------------------- harness */

enum { NMAX = 107 };
static const int ns[] = {8, 32, NMAX};
static const int nblk = (NMAX + LANES - 1) / LANES;

static double *theta, *xs, *ys, *vs, *work, *bwork;
static double *st_c, *r_c, *jv_c;       /* calls: n state blocks, r, J v */
static double *st_b, *r_b, *jv_b;       /* batched */

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

static double *alloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p) {
        fprintf(stderr, "batched: out of memory\n");
        exit(2);
    }
    return p;
}

static void calls_forward(int n)
{
    for (int i = 0; i < n; i++)
        m->residual_linearise(ys + (size_t)i * D, xs + (size_t)i * D, theta,
                              st_c + (size_t)i * m->state_size, r_c + (size_t)i * D, work);
}

static void calls_jvp(int n)
{
    for (int i = 0; i < n; i++)
        m->residual_jvp_y_apply(ys + (size_t)i * D, xs + (size_t)i * D, theta,
                                st_c + (size_t)i * m->state_size, vs + (size_t)i * D,
                                jv_c + (size_t)i * D, work);
}

static void batched_forward(int n) { batch_residual_linearise(n, ys, xs, theta, st_b, r_b, bwork); }
static void batched_jvp(int n) { batch_jvp_y_apply(n, theta, st_b, vs, jv_b, bwork); }

/* The larger of gap and |a - b| / max(1, |a|); a NaN makes it infinite. */
static double rel_gap(double gap, double a, double b)
{
    const double d = fabs(a - b) / fmax(1.0, fabs(a));
    return d != d ? INFINITY : fmax(gap, d);
}

/* Both forms on n instances, then every value compared.  Returns the
   largest relative gap. */
static double check(int n)
{
    calls_forward(n);
    calls_jvp(n);
    batched_forward(n);
    batched_jvp(n);
    double gap = 0;
    for (int i = 0; i < n; i++) {
        const double *sc = st_c + (size_t)i * m->state_size;
        const double *sb = st_b + (size_t)(i / LANES) * H * LANES + i % LANES;
        for (int h = 0; h < H; h++)
            gap = rel_gap(gap, sc[h], sb[h * LANES]);
        for (int k = 0; k < D; k++) {
            gap = rel_gap(gap, r_c[(size_t)i * D + k], r_b[(size_t)i * D + k]);
            gap = rel_gap(gap, jv_c[(size_t)i * D + k], jv_b[(size_t)i * D + k]);
        }
    }
    return gap;
}

/* ns per instance of f(n): at least MIN_NS of repetitions */
static double time_one(void (*f)(int), int n)
{
    int reps = 0;
    double t0 = now_ns(), t;
    do {
        f(n);
        reps++;
    } while ((t = now_ns() - t0) < MIN_NS);
    return t / ((double)reps * n);
}

static void row(const char *op, void (*calls)(int), void (*batched)(int), int n)
{
    double tc = INFINITY, tb = INFINITY;
    for (int k = 0; k < ROUNDS; k++) {
        tc = fmin(tc, time_one(calls, n));
        tb = fmin(tb, time_one(batched, n));
    }
    printf("%6d %5d %4d  %-20s %12.3f %12.3f %8.2f\n", D, H, n, op, tc / 1e3, tb / 1e3, tc / tb);
    fflush(stdout);
}

static int expect_offsets(void)
{
    static const char *const names[] = {"W1", "b1", "W2", "b2"};
    const int offs[] = {OFF_W1, OFF_B1, OFF_W2, OFF_B2};
    int found = 0;
    for (int s = 0; s < m->nsymbols; s++)
        for (int k = 0; k < 4; k++)
            if (strcmp(m->symbols[s].name, names[k]) == 0 && m->symbols[s].role == DIL_ROLE_PARAM
                && m->symbols[s].offset == offs[k])
                found++;
    return found == 4 && m->ny == D && m->nx == D && m->ntheta == OFF_B2 + D
           && m->residual_linearise != NULL && m->residual_jvp_y_apply != NULL;
}

int main(void)
{
    if (!expect_offsets()) {
        fprintf(stderr, "batched: the model is not M2 as a residual at (%d, %d)\n", D, H);
        return 1;
    }
    theta = alloc((size_t)m->ntheta);
    xs = alloc((size_t)NMAX * D);
    ys = alloc((size_t)NMAX * D);
    vs = alloc((size_t)NMAX * D);
    work = alloc(m->work_size);
    bwork = alloc((size_t)(2 * D + H) * LANES);
    st_c = alloc((size_t)NMAX * m->state_size);
    st_b = alloc((size_t)nblk * H * LANES);
    r_c = alloc((size_t)NMAX * D);
    r_b = alloc((size_t)NMAX * D);
    jv_c = alloc((size_t)NMAX * D);
    jv_b = alloc((size_t)NMAX * D);
    unsigned long long seed = 12345;
    for (int i = 0; i < m->ntheta; i++)
        theta[i] = uniform(&seed) * (i < OFF_B1 ? 1 / sqrt((double)D)
                                     : i >= OFF_W2 && i < OFF_B2 ? 1 / sqrt((double)H) : 1.0);
    for (int i = 0; i < NMAX * D; i++) {
        xs[i] = uniform(&seed);
        ys[i] = xs[i] + 0.1 * uniform(&seed);
        vs[i] = uniform(&seed);
    }
    double gap = 0;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        gap = fmax(gap, check(ns[k]));
    printf("== M2 residual at (D, H) = (%d, %d): batched against the emitted kernels, "
           "largest relative difference %.1e\n", D, H, gap);
    if (!(gap <= 1e-12)) {
        fprintf(stderr, "batched: batched and emitted values differ by %.3e\n", gap);
        return 1;
    }
    printf("%6s %5s %4s  %-20s %12s %12s %8s\n", "D", "H", "n", "operation",
           "calls us/inst", "batch us/inst", "calls/b");
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        row("forward (linearise)", calls_forward, batched_forward, ns[k]);
        row("J v from the state", calls_jvp, batched_jvp, ns[k]);
    }
    return 0;
}
