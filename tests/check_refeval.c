/*
 * check_refeval.c - tests of the reference evaluator (tests/support).
 *
 * The evaluator is the yardstick for every emitted derivative, so it is
 * itself checked three ways, none of which uses its hyper-dual rules:
 *   - values against hand-written C (loops and libm);
 *   - first and second derivatives against closed forms derived by hand
 *     for a small network, f = sum(tanh(W y + b)^2), and exactly for
 *     polynomials with integer values;
 *   - for every op, e1 and e2 against central differences of the values,
 *     and e12 against central differences of e2 (the exact first
 *     derivative), both with Richardson extrapolation so that truncation
 *     error is O(h^4) and the tolerance can stay tight.
 * IR is built with the ordinary ir_* builders, so their simplifications
 * are part of what is exercised (hence some expressions are written so
 * that the op under test survives them).
 */
#include "refeval.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --------------------------------------------------------- fixtures */

static void setup(void)
{
    ir_init();
}

static void teardown(void)
{
    arena_release();
}

static uint64_t rng_state = 0x853C49E6748FEA9Bu;

static double urand(double lo, double hi)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t u = rng_state * 0x2545F4914F6CDD1Du;
    return lo + (hi - lo) * (double)(u >> 11) / 9007199254740992.0;
}

/* A point: the flat blocks of the C interface with their lengths. */
typedef struct Pt {
    double *blk[BLK__COUNT];
    int len[BLK__COUNT];
} Pt;

static void pt_init(Pt *p, int ny, int nx, int ntheta, double lo, double hi)
{
    memset(p, 0, sizeof *p);
    p->len[BLK_Y] = ny;
    p->len[BLK_X] = nx;
    p->len[BLK_THETA] = ntheta;
    for (int b = 0; b < BLK__COUNT; b++)
        if (p->len[b] > 0) {
            p->blk[b] = malloc((size_t)p->len[b] * sizeof(double));
            ck_assert_ptr_nonnull(p->blk[b]);
            for (int i = 0; i < p->len[b]; i++)
                p->blk[b][i] = urand(lo, hi);
        }
}

static void pt_free(Pt *p)
{
    for (int b = 0; b < BLK__COUNT; b++)
        free(p->blk[b]);
}

static void pt_view(const Pt *p, const double *v[BLK__COUNT])
{
    for (int b = 0; b < BLK__COUNT; b++)
        v[b] = p->blk[b];
}

/* q := p + s d, block by block. */
static void pt_step(Pt *q, const Pt *p, double s, const Pt *d)
{
    for (int b = 0; b < BLK__COUNT; b++)
        for (int i = 0; i < p->len[b]; i++)
            q->blk[b][i] = p->blk[b][i] + s * d->blk[b][i];
}

static int close_to(double a, double b, double tol)
{
    double scale = fmax(1.0, fmax(fabs(a), fabs(b)));
    return fabs(a - b) <= tol * scale;
}

#define ASSERT_CLOSE(a, b, tol)                                                  \
    do {                                                                         \
        double a_ = (a), b_ = (b);                                               \
        ck_assert_msg(close_to(a_, b_, (tol)), "%s = %.17g, %s = %.17g", #a, a_, \
                      #b, b_);                                                   \
    } while (0)

static void hd_eval(Node *root, const Pt *p, const Pt *d1, const Pt *d2, hdual *out)
{
    const double *b[BLK__COUNT], *s1[BLK__COUNT], *s2[BLK__COUNT];
    pt_view(p, b);
    if (d1)
        pt_view(d1, s1);
    if (d2)
        pt_view(d2, s2);
    int rc = refeval_hd(root, b, d1 ? s1 : NULL, d2 ? s2 : NULL, out);
    ck_assert_msg(rc == 0, "refeval_hd: %s", refeval_error());
}

/* Richardson-extrapolated central difference along d of component `which`
   (0: value, 1: e1 with dir1 = seed) of every output element:
     D(h) = (F(p + h d) - F(p - h d)) / 2h,   (4 D(h/2) - D(h)) / 3. */
static void fd_along(Node *root, const Pt *p, const Pt *d, const Pt *seedd,
                     double h, double *out)
{
    long n = ir_size(root);
    hdual *tmp = malloc((size_t)n * sizeof *tmp);
    double *acc = calloc((size_t)n, sizeof *acc);
    Pt q;
    pt_init(&q, p->len[BLK_Y], p->len[BLK_X], p->len[BLK_THETA], 0, 0);
    static const double steps[4] = {1, -1, 0.5, -0.5};
    static const double wts[4] = {-1.0 / 3, 1.0 / 3, 8.0 / 3, -8.0 / 3};
    for (int k = 0; k < 4; k++) {
        pt_step(&q, p, steps[k] * h, d);
        hd_eval(root, &q, seedd, NULL, tmp);
        for (long i = 0; i < n; i++)
            acc[i] += wts[k] * (seedd ? tmp[i].e1 : tmp[i].f);
    }
    for (long i = 0; i < n; i++)
        out[i] = acc[i] / (2 * h);
    pt_free(&q);
    free(tmp);
    free(acc);
}

/* Checks refeval_hd at p against finite differences along random
   directions in every block, for every output element. */
static void check_derivs(Node *root, const Pt *p, double tol)
{
    long n = ir_size(root);
    Pt d1, d2;
    pt_init(&d1, p->len[BLK_Y], p->len[BLK_X], p->len[BLK_THETA], -1, 1);
    pt_init(&d2, p->len[BLK_Y], p->len[BLK_X], p->len[BLK_THETA], -1, 1);
    hdual *h = malloc((size_t)n * sizeof *h), *hs = malloc((size_t)n * sizeof *hs);
    double *val = malloc((size_t)n * sizeof *val);
    double *fd = malloc((size_t)n * sizeof *fd);
    const double *b[BLK__COUNT];
    pt_view(p, b);

    hd_eval(root, p, &d1, &d2, h);
    ck_assert_int_eq(refeval(root, b, val), 0);
    for (long i = 0; i < n; i++)
        ck_assert(val[i] == h[i].f);             /* seeds never touch f */

    fd_along(root, p, &d1, NULL, 1e-3, fd);
    for (long i = 0; i < n; i++)
        ASSERT_CLOSE(h[i].e1, fd[i], tol);
    fd_along(root, p, &d2, NULL, 1e-3, fd);
    for (long i = 0; i < n; i++)
        ASSERT_CLOSE(h[i].e2, fd[i], tol);
    /* d/ds of (d2 . grad F)(p + s d1) = d1^T H d2 */
    fd_along(root, p, &d1, &d2, 1e-3, fd);
    for (long i = 0; i < n; i++)
        ASSERT_CLOSE(h[i].e12, fd[i], tol);
    /* The Hessian is symmetric: swapping the seeds swaps e1 and e2 and
       leaves e12, up to rounding. */
    hd_eval(root, p, &d2, &d1, hs);
    for (long i = 0; i < n; i++) {
        ck_assert(hs[i].e1 == h[i].e2 && hs[i].e2 == h[i].e1);
        ASSERT_CLOSE(hs[i].e12, h[i].e12, 1e-13);
    }
    free(h);
    free(hs);
    free(val);
    free(fd);
    pt_free(&d1);
    pt_free(&d2);
}

static Node *yvec(int n) { return ir_leaf(BLK_Y, 0, 1, n, 1); }

static Node *cnum(long num, unsigned long den)
{
    mpq_t q;
    mpq_init(q);
    mpq_set_si(q, num, den);
    mpq_canonicalize(q);
    Node *c = ir_const(q);
    mpq_clear(q);
    return c;
}

/* ------------------------------------------------------- the network */

/* f = sum(tanh(W y + b)^2), W (H x N) and b (H) in theta.  By hand, with
   u = W y + b, t = tanh u, s = 1 - t^2:
     df/dy            = W^T (2 t s)
     d2f/dy2          = W^T diag(2 s (1 - 3 t^2)) W      (d(2ts)/du = 2s(1-3t^2))
     d2f/(dy dW_jk) v = 2 s_j (1 - 3 t_j^2) (W v)_j y_k + 2 t_j s_j v_k */
enum { NN = 3, HH = 4 };

static Node *network(void)
{
    Node *W = ir_leaf(BLK_THETA, 0, 2, HH, NN);
    Node *b = ir_leaf(BLK_THETA, HH * NN, 1, HH, 1);
    Node *t = ir_unary(OP_TANH, ir_add(ir_matmul(W, yvec(NN)), b));
    return ir_sum(ir_binary(OP_POW, t, ir_const_si(2)));
}

START_TEST(network_hand)
{
    Node *f = network();
    Pt p;
    pt_init(&p, NN, 0, HH * NN + HH, -1, 1);
    const double *y = p.blk[BLK_Y], *W = p.blk[BLK_THETA], *bb = W + HH * NN;
    double u[HH], t[HH], s[HH], f0 = 0;
    for (int j = 0; j < HH; j++) {
        u[j] = bb[j];
        for (int k = 0; k < NN; k++)
            u[j] += W[j * NN + k] * y[k];
        t[j] = tanh(u[j]);
        s[j] = 1 - t[j] * t[j];
        f0 += t[j] * t[j];
    }
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    ASSERT_CLOSE(refeval_value(f, blk), f0, 1e-14);

    double g[NN], want[NN], v[NN], hv[NN];
    ck_assert_int_eq(refeval_vjp(f, blk, BLK_Y, NN, NULL, g), 0);
    for (int k = 0; k < NN; k++) {
        want[k] = 0;
        for (int j = 0; j < HH; j++)
            want[k] += W[j * NN + k] * 2 * t[j] * s[j];
        ASSERT_CLOSE(g[k], want[k], 1e-14);
        v[k] = urand(-1, 1);
    }
    ck_assert_int_eq(refeval_second(f, blk, BLK_Y, NN, BLK_Y, v, NULL, hv), 0);
    double wv[HH];
    for (int j = 0; j < HH; j++) {
        wv[j] = 0;
        for (int k = 0; k < NN; k++)
            wv[j] += W[j * NN + k] * v[k];
    }
    for (int k = 0; k < NN; k++) {
        double h = 0;
        for (int j = 0; j < HH; j++)
            h += W[j * NN + k] * 2 * s[j] * (1 - 3 * t[j] * t[j]) * wv[j];
        ASSERT_CLOSE(hv[k], h, 1e-13);
    }
    /* The mixed product v^T d2f/(dy dtheta): the W part and the b part. */
    double mix[HH * NN + HH];
    ck_assert_int_eq(refeval_second(f, blk, BLK_THETA, HH * NN + HH, BLK_Y, v, NULL, mix), 0);
    for (int j = 0; j < HH; j++) {
        double c = 2 * s[j] * (1 - 3 * t[j] * t[j]) * wv[j];
        for (int k = 0; k < NN; k++)
            ASSERT_CLOSE(mix[j * NN + k], c * y[k] + 2 * t[j] * s[j] * v[k], 1e-13);
        ASSERT_CLOSE(mix[HH * NN + j], c, 1e-13);
    }
    check_derivs(f, &p, 1e-8);
    pt_free(&p);
}
END_TEST

/* f = y0^2 y1^3 at (2, 3): every derivative is an integer, and hyper-dual
   arithmetic must reproduce them exactly (no truncation error at all). */
START_TEST(polynomial_exact)
{
    Node *y0 = ir_leaf(BLK_Y, 0, 0, 1, 1), *y1 = ir_leaf(BLK_Y, 1, 0, 1, 1);
    Node *fm = ir_mul(ir_mul(y0, y0), ir_mul(y1, ir_mul(y1, y1)));
    Node *fp = ir_mul(ir_binary(OP_POW, y0, ir_const_si(2)),
                      ir_binary(OP_POW, y1, ir_const_si(3)));
    double y[2] = {2, 3}, e0[2] = {1, 0}, e1[2] = {0, 1};
    const double *blk[BLK__COUNT] = {y}, *d1[BLK__COUNT] = {e0}, *d2[BLK__COUNT] = {e1};
    Node *fs[2] = {fm, fp};
    for (int i = 0; i < 2; i++) {
        hdual h;
        ck_assert_int_eq(refeval_hd(fs[i], blk, d1, d2, &h), 0);
        ck_assert(h.f == 108 && h.e1 == 108 && h.e2 == 108 && h.e12 == 108);
        d2[BLK_Y] = e0;          /* d2f/dy0^2 = 2 y1^3 = 54 */
        ck_assert_int_eq(refeval_hd(fs[i], blk, d1, d2, &h), 0);
        ck_assert(h.e12 == 54);
        d1[BLK_Y] = e1;
        d2[BLK_Y] = e1;          /* d2f/dy1^2 = 6 y0^2 y1 = 72 */
        ck_assert_int_eq(refeval_hd(fs[i], blk, d1, d2, &h), 0);
        ck_assert(h.e12 == 72);
        d1[BLK_Y] = e0;
    }
}
END_TEST

/* --------------------------------------------------- elementwise ops */

static double hand_unary(Op op, double t)
{
    switch (op) {
    case OP_NEG: return -t;
    case OP_SIN: return sin(t);
    case OP_COS: return cos(t);
    case OP_TAN: return tan(t);
    case OP_ASIN: return asin(t);
    case OP_ACOS: return acos(t);
    case OP_ATAN: return atan(t);
    case OP_SINH: return sinh(t);
    case OP_COSH: return cosh(t);
    case OP_TANH: return tanh(t);
    case OP_EXP: return exp(t);
    case OP_LOG: return log(t);
    case OP_LOG1P: return log1p(t);
    case OP_EXPM1: return expm1(t);
    case OP_SQRT: return sqrt(t);
    case OP_ABS: return fabs(t);
    case OP_SIGMOID: return 1 / (1 + exp(-t));
    case OP_SOFTPLUS: return log(1 + exp(t));
    case OP_SIGN: return (t > 0) - (t < 0);
    case OP_ERF: return erf(t);
    default: return NAN;
    }
}

static const struct {
    Op op;
    double lo, hi;            /* a domain where FD steps stay smooth */
} unary_cases[] = {
    {OP_NEG, -2, 2},     {OP_SIN, -2, 2},    {OP_COS, -2, 2},
    {OP_TAN, -1, 1},     {OP_ASIN, -0.8, 0.8}, {OP_ACOS, -0.8, 0.8},
    {OP_ATAN, -2, 2},    {OP_SINH, -2, 2},   {OP_COSH, -2, 2},
    {OP_TANH, -2, 2},    {OP_EXP, -2, 2},    {OP_LOG, 0.3, 3},
    {OP_LOG1P, -0.5, 2}, {OP_EXPM1, -2, 2},  {OP_SQRT, 0.3, 3},
    {OP_ABS, 0.2, 2},    {OP_SIGMOID, -4, 4}, {OP_SOFTPLUS, -4, 4},
    {OP_SIGN, 0.2, 2},   {OP_ERF, -2, 2},
};

START_TEST(unary_op)
{
    Op op = unary_cases[_i].op;
    enum { N = 5 };
    Pt p;
    pt_init(&p, N, 0, 0, unary_cases[_i].lo, unary_cases[_i].hi);
    if (op == OP_ABS || op == OP_SIGN)
        for (int i = 0; i < N; i += 2)
            p.blk[BLK_Y][i] = -p.blk[BLK_Y][i];  /* both sides of the kink */
    Node *y = yvec(N), *g = ir_unary(op, y);
    ck_assert_int_eq(g->op, op);
    double val[N];
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    ck_assert_int_eq(refeval(g, blk, val), 0);
    for (int i = 0; i < N; i++)
        ASSERT_CLOSE(val[i], hand_unary(op, p.blk[BLK_Y][i]), 1e-15);
    check_derivs(g, &p, 2e-8);
    /* Cross terms: outer(g(y), y) has a non-diagonal Hessian. */
    check_derivs(ir_outer(g, y), &p, 2e-8);
    pt_free(&p);
}
END_TEST

/* Far out in the tails the stable forms must neither overflow nor turn a
   vanishing derivative into NaN. */
START_TEST(unary_tails)
{
    double y[4] = {-800, -40, 40, 800}, d[4] = {1, 1, 1, 1};
    const double *blk[BLK__COUNT] = {y}, *dd[BLK__COUNT] = {d};
    hdual h[4];
    ck_assert_int_eq(refeval_hd(ir_unary(OP_SIGMOID, yvec(4)), blk, dd, dd, h), 0);
    ck_assert(h[0].f == 0 && h[0].e1 == 0 && h[0].e12 == 0);
    ck_assert(h[3].f == 1 && h[3].e1 == 0 && h[3].e12 == 0);
    ASSERT_CLOSE(h[1].f / exp(-40), 1, 1e-15);
    ASSERT_CLOSE(h[1].e1 / exp(-40), 1, 1e-15);
    ck_assert_int_eq(refeval_hd(ir_unary(OP_SOFTPLUS, yvec(4)), blk, dd, dd, h), 0);
    ck_assert(h[0].f == 0 && h[0].e1 == 0);
    ASSERT_CLOSE(h[1].f / exp(-40), 1, 1e-15);  /* log1p keeps the tail */
    ck_assert(h[3].f == 800 && h[3].e1 == 1 && h[3].e12 == 0);
    ck_assert(h[2].f == 40 + log1p(exp(-40)));

    /* logsumexp of huge and tiny values. */
    double z[3] = {1000, 1000.5, 999};
    const double *zb[BLK__COUNT] = {z};
    double m = 1000.5, s = exp(-0.5) + 1 + exp(-1.5);
    ASSERT_CLOSE(refeval_value(ir_lse(yvec(3)), zb), m + log(s), 1e-15);
    z[0] = -1000, z[1] = -1000.5, z[2] = -1001;
    s = 1 + exp(-0.5) + exp(-1);
    ASSERT_CLOSE(refeval_value(ir_lse(yvec(3)), zb), -1000 + log(s), 1e-15);
}
END_TEST

/* Binary ops with a scalar operand broadcast on either side. */
START_TEST(binary_ops)
{
    enum { N = 4 };
    static const Op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW};
    Pt p;
    pt_init(&p, N, N, 1, 0.5, 2);               /* positive: pow is smooth */
    Node *y = yvec(N), *x = ir_leaf(BLK_X, 0, 1, N, 1);
    Node *s = ir_leaf(BLK_THETA, 0, 0, 1, 1);
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        Op op = ops[k];
        Node *cases[3] = {ir_binary(op, y, x), ir_binary(op, s, y), ir_binary(op, y, s)};
        for (int c = 0; c < 3; c++) {
            ck_assert_int_eq(cases[c]->op, op);
            double val[N];
            ck_assert_int_eq(refeval(cases[c], blk, val), 0);
            for (int i = 0; i < N; i++) {
                double a = c == 1 ? p.blk[BLK_THETA][0] : p.blk[BLK_Y][i];
                double b = c == 0 ? p.blk[BLK_X][i] : c == 1 ? p.blk[BLK_Y][i]
                                                              : p.blk[BLK_THETA][0];
                double want = op == OP_ADD ? a + b : op == OP_SUB ? a - b
                            : op == OP_MUL ? a * b : op == OP_DIV ? a / b : pow(a, b);
                ck_assert(val[i] == want);
            }
            check_derivs(cases[c], &p, 2e-8);
        }
    }
    /* A constant exponent over a negative base never meets log(base):
       y^3 at -2 is -8 with derivatives 12 and -12; y^2 at 0 has 0 and 2. */
    double yy[2] = {-2, 0}, one[2] = {1, 1};
    const double *b2[BLK__COUNT] = {yy}, *d[BLK__COUNT] = {one};
    hdual h[2];
    ck_assert_int_eq(refeval_hd(ir_binary(OP_POW, yvec(2), ir_const_si(3)), b2, d, d, h), 0);
    ck_assert(h[0].f == -8 && h[0].e1 == 12 && h[0].e12 == -12);
    ck_assert(h[1].f == 0 && h[1].e1 == 0 && h[1].e12 == 0);
    ck_assert_int_eq(refeval_hd(ir_binary(OP_POW, yvec(2), ir_const_si(2)), b2, d, d, h), 0);
    ck_assert(h[1].f == 0 && h[1].e1 == 0 && h[1].e12 == 2);
    /* Half-integer exponent and a constant base: 2^y. */
    ck_assert_int_eq(refeval_hd(ir_binary(OP_POW, ir_const_si(2), yvec(2)), b2, d, d, h), 0);
    ck_assert(h[0].f == 0.25);
    ASSERT_CLOSE(h[0].e1, 0.25 * log(2.0), 1e-15);
    ASSERT_CLOSE(h[0].e12, 0.25 * log(2.0) * log(2.0), 1e-15);
    check_derivs(ir_binary(OP_POW, y, cnum(3, 2)), &p, 2e-8);
    check_derivs(ir_binary(OP_POW, cnum(3, 2), y), &p, 2e-8);
    pt_free(&p);
}
END_TEST

/* ------------------------------------------- shapes: views, assembly */

START_TEST(views)
{
    enum { R = 3, C = 4 };
    Pt p;
    pt_init(&p, 0, 0, R * C, -1, 1);
    const double *A = p.blk[BLK_THETA], *blk[BLK__COUNT];
    pt_view(&p, blk);
    Node *a = ir_leaf(BLK_THETA, 0, 2, R, C);
    double v[R * C];

    Node *t = ir_transpose(a);
    ck_assert(t->op == OP_VIEW && t->rows == C && t->cols == R);
    ck_assert_int_eq(refeval(t, blk, v), 0);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < R; j++)
            ck_assert(v[i * R + j] == A[j * C + i]);
    ck_assert_int_eq(refeval(ir_row(a, 1), blk, v), 0);
    for (int j = 0; j < C; j++)
        ck_assert(v[j] == A[1 * C + j]);
    ck_assert_int_eq(refeval(ir_col(a, 2), blk, v), 0);
    for (int i = 0; i < R; i++)
        ck_assert(v[i] == A[i * C + 2]);
    ck_assert(refeval_value(ir_element(a, 2, 3), blk) == A[2 * C + 3]);
    ck_assert_int_eq(refeval(ir_slice(a, 1, 3, 1, 4), blk, v), 0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            ck_assert(v[i * 3 + j] == A[(1 + i) * C + 1 + j]);
    /* Composed: a column of the transpose is a row. */
    ck_assert_int_eq(refeval(ir_col(t, 1), blk, v), 0);
    for (int j = 0; j < C; j++)
        ck_assert(v[j] == A[1 * C + j]);
    /* A view with steps that are not 0 or 1: the anti-diagonal,
       element i = A[i, 3 - i]. */
    Map anti = {0, 1, 0, 3, -1, 0};
    ck_assert_int_eq(refeval(ir_view(a, 1, R, 1, anti), blk, v), 0);
    for (int i = 0; i < R; i++)
        ck_assert(v[i] == A[i * C + 3 - i]);
    check_derivs(ir_mul(ir_view(a, 1, R, 1, anti), ir_col(a, 0)), &p, 1e-8);

    /* An out-of-range view is an error, not a wild read. */
    Map bad = {2, 1, 0, 0, 0, 1};
    ck_assert_int_eq(refeval(ir_view(a, 2, 2, C, bad), blk, v), -1);
    ck_assert(strstr(refeval_error(), "outside") != NULL);
    pt_free(&p);
}
END_TEST

START_TEST(assemble)
{
    Pt p;
    pt_init(&p, 3, 3, 0, -1, 1);
    const double *y = p.blk[BLK_Y], *x = p.blk[BLK_X], *blk[BLK__COUNT];
    pt_view(&p, blk);
    Node *yv = yvec(3), *xv = ir_leaf(BLK_X, 0, 1, 3, 1);
    double v[16];

    /* [y1, x, 1/10]: scalars and a vector concatenated. */
    Node *parts[3] = {ir_element(yv, 1, 0), xv, cnum(1, 10)};
    Node *cat = ir_concat(3, parts);
    ck_assert(cat->op == OP_ASSEMBLE && cat->rows == 5);
    ck_assert_int_eq(refeval(cat, blk, v), 0);
    ck_assert(v[0] == y[1] && v[1] == x[0] && v[2] == x[1] && v[3] == x[2] && v[4] == 0.1);

    /* Overlapping pieces add: y at 0 and x at 1 in a vector of 4. */
    Node *ps[2] = {yv, xv};
    Map pl[2] = {{0, 1, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0}};
    Node *ov = ir_assemble(1, 4, 1, 2, ps, pl);
    ck_assert(ov->op == OP_ASSEMBLE);
    ck_assert_int_eq(refeval(ov, blk, v), 0);
    ck_assert(v[0] == y[0] && v[1] == y[1] + x[0] && v[2] == y[2] + x[1] && v[3] == x[2]);
    check_derivs(ir_mul(ov, ov), &p, 1e-8);

    /* Into a matrix: y as row 0 of a 3x3, x as column 2 (overlap at (0,2)). */
    Map pm[2] = {{0, 0, 0, 0, 1, 0}, {0, 1, 0, 2, 0, 0}};
    Node *mat = ir_assemble(2, 3, 3, 2, ps, pm);
    ck_assert_int_eq(refeval(mat, blk, v), 0);
    double want[9] = {y[0], y[1], y[2] + x[0], 0, 0, x[1], 0, 0, x[2]};
    for (int i = 0; i < 9; i++)
        ck_assert(v[i] == want[i]);
    check_derivs(ir_matmul(mat, ir_mul(yv, xv)), &p, 1e-8);
    pt_free(&p);
}
END_TEST

START_TEST(bcast_eye_const)
{
    double y[3] = {0.5, -1.5, 2};
    const double *blk[BLK__COUNT] = {y};
    double v[9];
    Node *s = ir_leaf(BLK_Y, 2, 0, 1, 1);
    Node *b = ir_bcast(s, 2, 3, 3);
    ck_assert(b->op == OP_BCAST);
    ck_assert_int_eq(refeval(b, blk, v), 0);
    for (int i = 0; i < 9; i++)
        ck_assert(v[i] == 2);
    Node *e = ir_eye(3);
    ck_assert(e->op == OP_EYE);
    ck_assert_int_eq(refeval(e, blk, v), 0);
    for (int i = 0; i < 9; i++)
        ck_assert(v[i] == (i % 4 == 0));
    /* (I + outer(y, y)) y = y + (y.y) y */
    Node *yv = yvec(3);
    Node *f = ir_matmul(ir_add(e, ir_outer(yv, yv)), yv);
    ck_assert_int_eq(refeval(f, blk, v), 0);
    for (int i = 0; i < 3; i++)
        ASSERT_CLOSE(v[i], y[i] * (1 + 0.25 + 2.25 + 4), 1e-15);
    Pt p;
    pt_init(&p, 3, 0, 0, -1, 1);
    check_derivs(f, &p, 1e-8);
    check_derivs(ir_mul(b, ir_outer(yv, yv)), &p, 1e-8);
    pt_free(&p);

    /* Constants convert correctly rounded; one beyond double range is an
       error, and so is a leaf of a block that was not given. */
    ck_assert(refeval_value(cnum(1, 3), blk) == 1.0 / 3.0);
    mpq_t q;
    mpq_init(q);
    ck_assert_int_eq(rat_from_decimal(q, "1e400"), 0);
    Node *big = ir_const(q);
    mpq_clear(q);
    ck_assert(isnan(refeval_value(ir_mul(big, s), blk)));
    ck_assert(strstr(refeval_error(), "double range") != NULL);
    ck_assert(isnan(refeval_value(ir_leaf(BLK_THETA, 0, 0, 1, 1), blk)));
    ck_assert(strstr(refeval_error(), "not given") != NULL);
    ck_assert(isnan(refeval_value(yv, blk)));   /* not a scalar */
}
END_TEST

/* ---------------------------------------------- linear algebra, sums */

START_TEST(matmul_all_pairings)
{
    enum { M = 3, K = 4, P = 2 };
    Pt p;
    pt_init(&p, K, K, M * K + K * P + M, -1, 1);
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    const double *A = p.blk[BLK_THETA], *B = A + M * K, *u = B + K * P;
    const double *y = p.blk[BLK_Y], *x = p.blk[BLK_X];
    Node *a = ir_leaf(BLK_THETA, 0, 2, M, K);
    Node *bm = ir_leaf(BLK_THETA, M * K, 2, K, P);
    Node *uv = ir_leaf(BLK_THETA, M * K + K * P, 1, M, 1);
    Node *yv = yvec(K), *xv = ir_leaf(BLK_X, 0, 1, K, 1);
    double v[M * P];

    Node *mm = ir_matmul(a, bm);                        /* (M,K)@(K,P) */
    ck_assert(mm->op == OP_MATMUL && mm->rank == 2);
    ck_assert_int_eq(refeval(mm, blk, v), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (int l = 0; l < K; l++)
                s += A[i * K + l] * B[l * P + j];
            ASSERT_CLOSE(v[i * P + j], s, 1e-15);
        }
    Node *mv = ir_matmul(a, yv);                        /* (M,K)@(K) */
    ck_assert(mv->op == OP_MATMUL && mv->rank == 1 && mv->rows == M);
    ck_assert_int_eq(refeval(mv, blk, v), 0);
    for (int i = 0; i < M; i++) {
        double s = 0;
        for (int l = 0; l < K; l++)
            s += A[i * K + l] * y[l];
        ASSERT_CLOSE(v[i], s, 1e-15);
    }
    Node *vm = ir_matmul(uv, a);                        /* (M)@(M,K) */
    ck_assert(vm->op == OP_MATMUL && vm->rank == 1 && vm->rows == K);
    ck_assert_int_eq(refeval(vm, blk, v), 0);
    for (int j = 0; j < K; j++) {
        double s = 0;
        for (int l = 0; l < M; l++)
            s += u[l] * A[l * K + j];
        ASSERT_CLOSE(v[j], s, 1e-15);
    }
    /* vector @ vector: the builder fuses it into sum(y * x); the MATMUL
       node itself is built by hand to test the evaluator's dot case. */
    Node dot;
    memset(&dot, 0, sizeof dot);
    Node *dargs[2] = {yv, xv};
    dot.op = OP_MATMUL;
    dot.rank = 0, dot.rows = 1, dot.cols = 1;
    dot.args = dargs;
    dot.nargs = 2;
    dot.id = ir_node_count() + 1;
    double s = 0;
    for (int l = 0; l < K; l++)
        s += y[l] * x[l];
    ASSERT_CLOSE(refeval_value(&dot, blk), s, 1e-15);
    ASSERT_CLOSE(refeval_value(ir_matmul(yv, xv), blk), s, 1e-15);
    check_derivs(&dot, &p, 1e-8);

    check_derivs(mm, &p, 1e-8);
    check_derivs(mv, &p, 1e-8);
    check_derivs(vm, &p, 1e-8);
    check_derivs(ir_matmul(ir_transpose(bm), ir_unary(OP_SIN, yv)), &p, 1e-8);
    pt_free(&p);
}
END_TEST

START_TEST(outer_sum_lse)
{
    Pt p;
    pt_init(&p, 4, 3, 0, -2, 2);
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    const double *y = p.blk[BLK_Y], *x = p.blk[BLK_X];
    Node *yv = yvec(4), *xv = ir_leaf(BLK_X, 0, 1, 3, 1);
    double v[12];
    Node *o = ir_outer(yv, xv);
    ck_assert(o->op == OP_OUTER && o->rows == 4 && o->cols == 3);
    ck_assert_int_eq(refeval(o, blk, v), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            ck_assert(v[i * 3 + j] == y[i] * x[j]);
    check_derivs(o, &p, 1e-8);

    Node *sm = ir_sum(o);
    ck_assert(sm->op == OP_SUM);
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += v[i];
    ASSERT_CLOSE(refeval_value(sm, blk), s, 1e-15);
    check_derivs(ir_sum(ir_unary(OP_EXP, o)), &p, 1e-8);

    /* logsumexp: value by hand; gradient softmax by hand; FD for the rest. */
    Node *l = ir_lse(o);
    ck_assert(l->op == OP_LSE);
    double m = v[0];
    for (int i = 1; i < 12; i++)
        m = fmax(m, v[i]);
    double z = 0;
    for (int i = 0; i < 12; i++)
        z += exp(v[i] - m);
    ASSERT_CLOSE(refeval_value(l, blk), m + log(z), 1e-15);
    double g[4];
    ck_assert_int_eq(refeval_vjp(ir_lse(yv), blk, BLK_Y, 4, NULL, g), 0);
    double zy = 0;
    for (int i = 0; i < 4; i++)
        zy += exp(y[i]);
    for (int i = 0; i < 4; i++)
        ASSERT_CLOSE(g[i], exp(y[i]) / zy, 1e-15);
    check_derivs(l, &p, 1e-8);
    check_derivs(ir_lse(ir_mul(yv, yv)), &p, 1e-8);
    pt_free(&p);
}
END_TEST

/* A residual-shaped vector root: r = W y + sin(y) - x; the helpers give
   J_y^T w and sum_i w_i d2r_i/(dy dy) v, both known in closed form. */
START_TEST(vector_helpers)
{
    enum { N = 3 };
    Pt p;
    pt_init(&p, N, N, N * N, -1, 1);
    const double *blk[BLK__COUNT];
    pt_view(&p, blk);
    const double *y = p.blk[BLK_Y], *W = p.blk[BLK_THETA];
    Node *r = ir_sub(ir_add(ir_matmul(ir_leaf(BLK_THETA, 0, 2, N, N), yvec(N)),
                            ir_unary(OP_SIN, yvec(N))),
                     ir_leaf(BLK_X, 0, 1, N, 1));
    double w[N], v[N], out[N];
    for (int i = 0; i < N; i++)
        w[i] = urand(-1, 1), v[i] = urand(-1, 1);
    ck_assert_int_eq(refeval_vjp(r, blk, BLK_Y, N, w, out), 0);
    for (int j = 0; j < N; j++) {
        double s = w[j] * cos(y[j]);
        for (int i = 0; i < N; i++)
            s += w[i] * W[i * N + j];
        ASSERT_CLOSE(out[j], s, 1e-15);
    }
    ck_assert_int_eq(refeval_vjp(r, blk, BLK_X, N, w, out), 0);
    for (int j = 0; j < N; j++)
        ck_assert(out[j] == -w[j]);
    ck_assert_int_eq(refeval_second(r, blk, BLK_Y, N, BLK_Y, v, w, out), 0);
    for (int j = 0; j < N; j++)
        ASSERT_CLOSE(out[j], -w[j] * sin(y[j]) * v[j], 1e-15);
    check_derivs(r, &p, 1e-8);
    pt_free(&p);
}
END_TEST

/* An unrolled recurrence 20000 steps deep, t <- t + sin(t)/1000 (which
   creeps towards pi, so the derivative stays representable): the walk
   uses its own stack, not the C stack, and memoisation keeps it linear. */
START_TEST(deep_chain)
{
    Node *t = ir_leaf(BLK_Y, 0, 0, 1, 1);
    Node *c = cnum(1, 1000);
    for (int k = 0; k < 20000; k++)
        t = ir_add(t, ir_mul(c, ir_unary(OP_SIN, t)));
    double y = 0.3, d = 1, val = 0.3, der = 1;
    for (int k = 0; k < 20000; k++) {
        der = der * (1 + 0.001 * cos(val));
        val = val + 0.001 * sin(val);
    }
    const double *blk[BLK__COUNT] = {&y}, *dd[BLK__COUNT] = {&d};
    hdual h;
    ck_assert_int_eq(refeval_hd(t, blk, dd, NULL, &h), 0);
    ASSERT_CLOSE(h.f, val, 1e-14);
    ASSERT_CLOSE(h.e1 / der, 1, 1e-10);
    ck_assert(der > 1e-12 && der < 1e12);
}
END_TEST

static Suite *refeval_suite(void)
{
    Suite *s = suite_create("refeval");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, network_hand);
    tcase_add_test(tc, polynomial_exact);
    tcase_add_loop_test(tc, unary_op, 0, (int)(sizeof unary_cases / sizeof unary_cases[0]));
    tcase_add_test(tc, unary_tails);
    tcase_add_test(tc, binary_ops);
    tcase_add_test(tc, views);
    tcase_add_test(tc, assemble);
    tcase_add_test(tc, bcast_eye_const);
    tcase_add_test(tc, matmul_all_pairings);
    tcase_add_test(tc, outer_sum_lse);
    tcase_add_test(tc, vector_helpers);
    tcase_add_test(tc, deep_chain);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(refeval_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
