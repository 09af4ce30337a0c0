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
 *            Its long sums (W2 S; W1 Y for D >= 16) run in k order for
 *            each lane, so its values differ from the emitted kernels' in
 *            the last bits;
 *   batch=   the same blocks with every sum in the emitted order (8
 *            partial sums per lane, added in the emitted tree): the same
 *            bits as n calls, which runtime/batch.c promises today.
 *
 * Before timing, every s, r and J v of `batch` is compared with the
 * emitted kernels' (relative 1e-12: the emitted dot products of 16+ terms
 * run in 8 partial sums) and every one of `batch=` bit for bit; the
 * program exits 1 otherwise.  Timing: thread
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

/* mat_lanes_tree: the same product in the emitted kernels' order, lane by
   lane, for the same bits as n calls (inner >= 16, compiler/emit.c's long
   sums): sum p of the products k = p, p + 8, ... (the last inner % 8
   products going to sums 0, 1, ... as the emitted tail does), then
   ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).  Eight sums per lane
   do not fit the registers for 8 lanes, so a row is taken for lanes 0-3,
   then 4-7 (32 sums, eight AVX2 registers): one row per pass, so each
   weight load serves 4 products, not 32 as in mat_lanes_long.  k runs in
   tiles of KTILE, x's tile (16 KB) staying in L1 while every row passes
   over it; the 64 sums of a row are kept in `part` (rows x 64 doubles)
   from one tile to the next (the tiles change nothing measurable: this
   loop is bound by its loads, two per vector product, as the emitted
   per-instance loop is). */
enum { KTILE = 256 };
#define LANE4_LOAD(a, q) double a##0 = (q)[0], a##1 = (q)[1], a##2 = (q)[2], a##3 = (q)[3]
#define LANE4_STORE(q, a) ((q)[0] = a##0, (q)[1] = a##1, (q)[2] = a##2, (q)[3] = a##3)
#define LANE4_ADD(a, u, xr) (a##0 += (u) * (xr)[0], a##1 += (u) * (xr)[1], \
                             a##2 += (u) * (xr)[2], a##3 += (u) * (xr)[3])
#define LANE4_TREE(j) (((q[j] + q[4 + j]) + (q[8 + j] + q[12 + j])) \
                       + ((q[16 + j] + q[20 + j]) + (q[24 + j] + q[28 + j])))
BATCHED_CLONES __attribute__((noinline)) static void mat_lanes_tree(int rows, int inner,
    const double *restrict w, const double *restrict x, double *restrict z,
    double *restrict part)
{
    memset(part, 0, sizeof(double) * (size_t)rows * 8 * LANES);
    for (int k0 = 0; k0 < inner; k0 += KTILE) {
        const int k1 = k0 + KTILE < inner ? k0 + KTILE : inner, k8 = k0 + (k1 - k0) / 8 * 8;
        for (int i = 0; i < rows; i++)
            for (int h = 0; h < LANES; h += 4) {
                const double *wi = w + (size_t)i * inner, *xh = x + h;
                double *q = part + ((size_t)i * 2 + (size_t)(h / 4)) * 32;
                LANE4_LOAD(p0, q); LANE4_LOAD(p1, q + 4); LANE4_LOAD(p2, q + 8);
                LANE4_LOAD(p3, q + 12); LANE4_LOAD(p4, q + 16); LANE4_LOAD(p5, q + 20);
                LANE4_LOAD(p6, q + 24); LANE4_LOAD(p7, q + 28);
                for (int k = k0; k < k8; k += 8) {
                    const double *xk = xh + (size_t)k * LANES;
                    LANE4_ADD(p0, wi[k], xk);
                    LANE4_ADD(p1, wi[k + 1], xk + LANES);
                    LANE4_ADD(p2, wi[k + 2], xk + 2 * LANES);
                    LANE4_ADD(p3, wi[k + 3], xk + 3 * LANES);
                    LANE4_ADD(p4, wi[k + 4], xk + 4 * LANES);
                    LANE4_ADD(p5, wi[k + 5], xk + 5 * LANES);
                    LANE4_ADD(p6, wi[k + 6], xk + 6 * LANES);
                    LANE4_ADD(p7, wi[k + 7], xk + 7 * LANES);
                }
                const double *xt = xh + (size_t)k8 * LANES;   /* the last tile's tail */
                if (k8 + 0 < k1) LANE4_ADD(p0, wi[k8], xt);
                if (k8 + 1 < k1) LANE4_ADD(p1, wi[k8 + 1], xt + LANES);
                if (k8 + 2 < k1) LANE4_ADD(p2, wi[k8 + 2], xt + 2 * LANES);
                if (k8 + 3 < k1) LANE4_ADD(p3, wi[k8 + 3], xt + 3 * LANES);
                if (k8 + 4 < k1) LANE4_ADD(p4, wi[k8 + 4], xt + 4 * LANES);
                if (k8 + 5 < k1) LANE4_ADD(p5, wi[k8 + 5], xt + 5 * LANES);
                if (k8 + 6 < k1) LANE4_ADD(p6, wi[k8 + 6], xt + 6 * LANES);
                LANE4_STORE(q, p0); LANE4_STORE(q + 4, p1); LANE4_STORE(q + 8, p2);
                LANE4_STORE(q + 12, p3); LANE4_STORE(q + 16, p4); LANE4_STORE(q + 20, p5);
                LANE4_STORE(q + 24, p6); LANE4_STORE(q + 28, p7);
            }
    }
    for (int i = 0; i < rows; i++)
        for (int h = 0; h < LANES; h += 4) {
            const double *q = part + ((size_t)i * 2 + (size_t)(h / 4)) * 32;
            double *zi = z + (size_t)i * LANES + h;
            zi[0] = LANE4_TREE(0);
            zi[1] = LANE4_TREE(1);
            zi[2] = LANE4_TREE(2);
            zi[3] = LANE4_TREE(3);
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

/* same_bits: the emitted kernels' order for sums of 16+ terms (shorter
   ones are summed in k order by both) */
static inline void mat_lanes(int rows, int inner, const double *restrict w,
                             const double *restrict x, double *restrict z, int same_bits,
                             double *restrict part)
{
    if (inner < 16 && (inner < 8 || same_bits))
        mat_lanes_short(rows, inner, w, x, z);
    else if (same_bits)
        mat_lanes_tree(rows, inner, w, x, z, part);
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

/* The batched kernels' scratch: two D x LANES blocks (a gathered input,
   W2's product), one H x LANES (J v's hidden layer), then mat_lanes_tree's
   partial sums for the longer of W1 (H rows) and W2 (D rows). */
enum { BWORK_PART = (2 * D + H) * LANES, BWORK = BWORK_PART + 8 * LANES * (H > D ? H : D) };

/* The forward sweep of n instances: r (n blocks of D, as the runtime
   stacks them) and the state S (per block of LANES instances, H x LANES).
   work: BWORK doubles. */
BATCHED_CLONES static void batch_residual_linearise(int n, const double *restrict y,
    const double *restrict x, const double *restrict theta, double *restrict state,
    double *restrict r, double *restrict work, int same_bits)
{
    double *const yt = work, *const u = work + D * LANES, *const part = work + BWORK_PART;
    for (int b = 0; b * LANES < n; b++) {
        double *const s = state + (size_t)b * H * LANES;
        gather_lanes(n, b, y, yt);
        mat_lanes(H, D, theta + OFF_W1, yt, s, same_bits, part);
        for (int h = 0; h < H; h++)
            for (int j = 0; j < LANES; j++)
                s[h * LANES + j] = dil_vtanh(theta[OFF_B1 + h] + s[h * LANES + j]);
        mat_lanes(D, H, theta + OFF_W2, s, u, same_bits, part);
        for (int j = 0; j < LANES && b * LANES + j < n; j++) {
            const size_t i = (size_t)(b * LANES + j) * D;
            for (int k = 0; k < D; k++)
                r[i + k] = (y[i + k] - x[i + k]) - 0.1 * (theta[OFF_B2 + k] + u[k * LANES + j]);
        }
    }
}

/* J v of n instances from batch_residual_linearise's state.
   work: BWORK doubles. */
BATCHED_CLONES static void batch_jvp_y_apply(int n, const double *restrict theta,
    const double *restrict state, const double *restrict v, double *restrict jv,
    double *restrict work, int same_bits)
{
    double *const vt = work, *const u = work + D * LANES, *const t = work + 2 * D * LANES;
    double *const part = work + BWORK_PART;
    for (int b = 0; b * LANES < n; b++) {
        const double *const s = state + (size_t)b * H * LANES;
        gather_lanes(n, b, v, vt);
        mat_lanes(H, D, theta + OFF_W1, vt, t, same_bits, part);
        for (int h = 0; h < H * LANES; h++)
            t[h] = (1.0 - s[h] * s[h]) * t[h];
        mat_lanes(D, H, theta + OFF_W2, t, u, same_bits, part);
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
static double *st_b[2], *r_b[2], *jv_b[2];   /* batched: [same_bits] */

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

static void batched_forward(int n) { batch_residual_linearise(n, ys, xs, theta, st_b[0], r_b[0], bwork, 0); }
static void batched_jvp(int n) { batch_jvp_y_apply(n, theta, st_b[0], vs, jv_b[0], bwork, 0); }
static void same_forward(int n) { batch_residual_linearise(n, ys, xs, theta, st_b[1], r_b[1], bwork, 1); }
static void same_jvp(int n) { batch_jvp_y_apply(n, theta, st_b[1], vs, jv_b[1], bwork, 1); }

/* The larger of gap and |a - b| / max(1, |a|); a NaN makes it infinite. */
static double rel_gap(double gap, double a, double b)
{
    const double d = fabs(a - b) / fmax(1.0, fabs(a));
    return d != d ? INFINITY : fmax(gap, d);
}

/* The emitted kernels and batched form `sb` on n instances, then every
   value (s, r, J v) compared: the largest relative gap, and in *differ the
   number of values whose bits differ. */
static double check(int n, int sb, long *differ)
{
    calls_forward(n);
    calls_jvp(n);
    if (sb) {
        same_forward(n);
        same_jvp(n);
    } else {
        batched_forward(n);
        batched_jvp(n);
    }
    double gap = 0;
    *differ = 0;
    for (int i = 0; i < n; i++) {
        const double *sc = st_c + (size_t)i * m->state_size;
        const double *bs = st_b[sb] + (size_t)(i / LANES) * H * LANES + i % LANES;
        for (int h = 0; h < H; h++) {
            gap = rel_gap(gap, sc[h], bs[h * LANES]);
            *differ += memcmp(&sc[h], &bs[h * LANES], sizeof(double)) != 0;
        }
        for (int k = 0; k < D; k++) {
            const size_t q = (size_t)i * D + k;
            gap = rel_gap(gap, r_c[q], r_b[sb][q]);
            gap = rel_gap(gap, jv_c[q], jv_b[sb][q]);
            *differ += memcmp(&r_c[q], &r_b[sb][q], sizeof(double)) != 0;
            *differ += memcmp(&jv_c[q], &jv_b[sb][q], sizeof(double)) != 0;
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

/* The three forms interleaved, ROUNDS times; the fastest of each. */
static void row(const char *op, void (*const f[3])(int), int n)
{
    double t[3] = {INFINITY, INFINITY, INFINITY};
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 3; k++)
            t[k] = fmin(t[k], time_one(f[k], n));
    printf("%5d %5d %4d  %-9s %11.3f %11.3f %11.3f %7.2f %7.2f\n", D, H, n, op, t[0] / 1e3,
           t[1] / 1e3, t[2] / 1e3, t[0] / t[1], t[0] / t[2]);
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

static void setup(void)
{
    theta = alloc((size_t)m->ntheta);
    xs = alloc((size_t)NMAX * D);
    ys = alloc((size_t)NMAX * D);
    vs = alloc((size_t)NMAX * D);
    work = alloc(m->work_size);
    bwork = alloc(BWORK);
    st_c = alloc((size_t)NMAX * m->state_size);
    r_c = alloc((size_t)NMAX * D);
    jv_c = alloc((size_t)NMAX * D);
    for (int sb = 0; sb < 2; sb++) {
        st_b[sb] = alloc((size_t)nblk * H * LANES);
        r_b[sb] = alloc((size_t)NMAX * D);
        jv_b[sb] = alloc((size_t)NMAX * D);
    }
    unsigned long long seed = 12345;
    for (int i = 0; i < m->ntheta; i++)
        theta[i] = uniform(&seed) * (i < OFF_B1 ? 1 / sqrt((double)D)
                                     : i >= OFF_W2 && i < OFF_B2 ? 1 / sqrt((double)H) : 1.0);
    for (int i = 0; i < NMAX * D; i++) {
        xs[i] = uniform(&seed);
        ys[i] = xs[i] + 0.1 * uniform(&seed);
        vs[i] = uniform(&seed);
    }
}

int main(void)
{
    if (!expect_offsets()) {
        fprintf(stderr, "batched: the model is not M2 as a residual at (%d, %d)\n", D, H);
        return 1;
    }
    setup();
    double gap = 0, gap_sb = 0;
    long differ = 0, differ_sb = 0;
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        long d0, d1;
        gap = fmax(gap, check(ns[k], 0, &d0));
        gap_sb = fmax(gap_sb, check(ns[k], 1, &d1));
        differ += d0;
        differ_sb += d1;
    }
    printf("== M2 residual at (D, H) = (%d, %d), against the emitted kernels: batch differs "
           "in %ld values (largest relative difference %.1e), batch= in %ld\n",
           D, H, differ, gap, differ_sb);
    if (!(gap <= 1e-12) || differ_sb != 0) {
        fprintf(stderr, "batched: the batched values are not the emitted kernels'\n");
        return 1;
    }
    printf("%5s %5s %4s  %-9s %11s %11s %11s %7s %7s\n", "D", "H", "n", "operation",
           "calls", "batch", "batch=", "c/batch", "c/b=");
    static void (*const fwd[3])(int) = {calls_forward, batched_forward, same_forward};
    static void (*const jvp[3])(int) = {calls_jvp, batched_jvp, same_jvp};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        row("forward", fwd, ns[k]);
        row("J v", jvp, ns[k]);
    }
    return 0;
}
