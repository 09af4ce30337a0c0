/*
 * model_test.c - the end-to-end test of one compiled model.
 *
 * tests/tests.mk builds this file once per model in models/, with
 *
 *   MODEL_NAME    the model's name, a bare word (kepler)
 *   MODEL_DESC    its descriptor (kepler_model)
 *   MODEL_HEADER  the header dilc emitted for it ("kepler.h")
 *   MODEL_FILE    its source, relative to the repository root
 *                 ("models/kepler.dil"); the tests run from the root
 *
 * and links the model's generated C, the runtime and the compiler library.
 * Every kernel of the descriptor is checked three independent ways:
 *
 *   (a) against finite differences of the kernels it derives from: the
 *       gradient against the score, the Hessian-vector product against the
 *       gradient, the mixed products against w . grad, the loss gradient
 *       against the loss, the residual products against w . r, and the
 *       residual against the score (f = 1/2 |r|^2).  Differences are
 *       fourth-order central ones, (f(-2h) - 8 f(-h) + 8 f(h) - f(2h))/12h
 *       with h = 1e-3 (cartpole_mpc: 2.5e-4, see fd_step) along a direction
 *       of unit max-norm, whose error is
 *       far below the 1e-6 relative tolerance;
 *   (b) against the compiler's own IR of the score, residual and loss,
 *       re-read from MODEL_FILE and evaluated in hyper-dual numbers by
 *       tests/support/refeval.c (no derivative rule in common with the
 *       emitted code), to 1e-9 relative;
 *   (c) through the runtime: the implicit gradient of the solve-then-loss
 *       map from dil_loss_gradient (CG and dense backward) and
 *       dil_backward against finite differences of the whole map, to
 *       1e-5 relative.
 *
 * (e) Linearise once: every *_apply kernel the descriptor has, after
 *     `linearise` at a point, against its plain kernel at that point
 *     (bitwise on x86-64 without FMA, where the arithmetic is the same
 *     operations in the same order; else to 1e-13 relative) for two
 *     directions on one state, and against finite differences as in (a);
 *     and the fused residual_linearise / score_linearise: their values
 *     against the plain residual / score and gradient (bitwise likewise),
 *     and the state they leave (from NaN) against the apply kernels of
 *     their part.
 *
 * Kepler, mpc_linear and rosenbrock add (d): derivatives worked out by
 * hand in this file (closed forms for Kepler and Rosenbrock; the quadratic
 * form of the unrolled linear dynamics for mpc_linear).  Model-specific code is chosen at run time by
 * the descriptor's name.  Blocks with more than FULL_MAX entries are
 * checked along random directions and projections instead of entry by
 * entry.  All points come from a fixed-seed generator, so failures
 * reproduce; the work array is filled with NaN before every kernel call,
 * so a kernel that reads scratch it did not write fails loudly.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil.h"
#include "dilc.h"
#include "padded.h"
#include "refeval.h"
#include MODEL_HEADER

#define STR_(x) #x
#define STR(x) STR_(x)

#define FULL_MAX 40       /* blocks up to this size are checked entry-wise */
#define NPROJ 3           /* random directions otherwise */
#define NPOINTS 3         /* random points per check */
#define FD_STEP 1e-3      /* along a direction of unit max-norm */
#define FD_RTOL 1e-6      /* kernels vs finite differences */
#define REF_RTOL 1e-9     /* kernels vs the hyper-dual reference */
#define IFT_RTOL 1e-5     /* implicit gradients vs differences of solves */

static const dil_model *const M = &MODEL_DESC;

/* ------------------------------------------------------------------ */
/* Points and random numbers                                           */
/* ------------------------------------------------------------------ */

/* The four flat blocks of the C interface. */
enum { BY, BX, BT, BD, NB };
static const char *const block_name[NB] = { "y", "x", "theta", "data" };
static int blen[NB];

typedef struct Point {
    double *b[NB];
} Point;

typedef struct Rng {
    unsigned long long s;
} Rng;

/* splitmix64: small, fast, and good enough for test points. */
static double rng_uniform(Rng *r, double lo, double hi)
{
    unsigned long long z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static Rng rng_seed(unsigned long long seed)
{
    Rng r;
    r.s = seed * 0x2545F4914F6CDD1Dull + 12345u;
    return r;
}

/* Zeroed, never NULL (a block of length 0 gets one spare double). */
static double *vec_new(int n)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    ck_assert_msg(v != NULL, "out of memory (%d doubles)", n);
    return v;
}

static void vec_random(Rng *r, double *v, int n, double scale)
{
    for (int i = 0; i < n; i++)
        v[i] = rng_uniform(r, -scale, scale);
}

static double vec_dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double vec_norm_inf(const double *a, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i]) > s)
            s = fabs(a[i]);
    return s;
}

static double vec_norm2(const double *a, int n)
{
    return sqrt(vec_dot(a, a, n));
}

static Point point_new(void)
{
    Point p;
    for (int k = 0; k < NB; k++)
        p.b[k] = vec_new(blen[k]);
    return p;
}

static void point_free(Point *p)
{
    for (int k = 0; k < NB; k++) {
        free(p->b[k]);
        p->b[k] = NULL;
    }
}

static Point point_clone(const Point *src)
{
    Point p = point_new();
    for (int k = 0; k < NB; k++)
        if (blen[k] > 0)
            memcpy(p.b[k], src->b[k], (size_t)blen[k] * sizeof(double));
    return p;
}

/* How far parameters stray from theta_init at test points: small enough
   to keep every score strictly convex near its minimum (mpc_linear's q,
   softmax_layer's lam, elementwise's weights stay positive).  The
   cart-pole planner composes its 64-unit network ten times: with weights
   of 0.3 the predicted states grow to ~10 and the score's fifth
   derivatives swamp the finite differences (the hyper-dual reference
   agrees either way), so its weights stay at the scale of a trained
   network. */
static double theta_noise(void)
{
    return strcmp(M->name, "cartpole_mpc") == 0 ? 0.1 : 0.3;
}

/* A test point: y, x and data uniform in [-1, 1]; theta from the model's
   defaults plus uniform noise. */
static Point point_random(unsigned long long seed)
{
    Rng r = rng_seed(seed);
    Point p = point_new();
    vec_random(&r, p.b[BY], blen[BY], 1.0);
    vec_random(&r, p.b[BX], blen[BX], 1.0);
    vec_random(&r, p.b[BT], blen[BT], theta_noise());
    for (int k = 0; k < blen[BT]; k++)
        p.b[BT][k] += M->theta_init ? M->theta_init[k] : 0.0;
    vec_random(&r, p.b[BD], blen[BD], 1.0);
    return p;
}

/* ------------------------------------------------------------------ */
/* Kernel calls, each with poisoned scratch and outputs                */
/* ------------------------------------------------------------------ */

static double *work;       /* M->work_size doubles of kernel scratch */
static double *rwork;      /* dil_work_size() doubles for the runtime */
static size_t rwork_size;

static void poison(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = NAN;
}

static void poison_work(void)
{
    poison(work, M->work_size);
}

/* Every entry of a kernel's output must have been written, and finite. */
static void assert_finite(const char *what, const double *a, int n)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(isfinite(a[i]), "%s: %s[%d] = %g (not written, or not finite)",
                      M->name, what, i, a[i]);
}

static double k_score(const Point *p)
{
    poison_work();
    double f = M->score(p->b[BY], p->b[BX], p->b[BT], work);
    assert_finite("score", &f, 1);
    return f;
}

static void k_grad(const Point *p, double *gy)
{
    poison_work();
    poison(gy, (size_t)blen[BY]);
    M->score_grad_y(p->b[BY], p->b[BX], p->b[BT], gy, work);
    assert_finite("score_grad_y", gy, blen[BY]);
}

static void k_hvp(const Point *p, const double *v, double *hv)
{
    poison_work();
    poison(hv, (size_t)blen[BY]);
    M->score_hvp_yy(p->b[BY], p->b[BX], p->b[BT], v, hv, work);
    assert_finite("score_hvp_yy", hv, blen[BY]);
}

static void k_vjp_xy(const Point *p, const double *w, double *ox)
{
    poison_work();
    poison(ox, (size_t)blen[BX]);
    M->score_vjp_xy(p->b[BY], p->b[BX], p->b[BT], w, ox, work);
    assert_finite("score_vjp_xy", ox, blen[BX]);
}

static void k_vjp_thetay(const Point *p, const double *w, double *ot)
{
    poison_work();
    poison(ot, (size_t)blen[BT]);
    M->score_vjp_thetay(p->b[BY], p->b[BX], p->b[BT], w, ot, work);
    assert_finite("score_vjp_thetay", ot, blen[BT]);
}

static double k_loss(const Point *p)
{
    poison_work();
    double l = M->loss(p->b[BY], p->b[BX], p->b[BT], p->b[BD], work);
    assert_finite("loss", &l, 1);
    return l;
}

static void k_loss_grad(const Point *p, double *gy, double *gx, double *gt)
{
    poison_work();
    poison(gy, (size_t)blen[BY]);
    poison(gx, (size_t)blen[BX]);
    poison(gt, (size_t)blen[BT]);
    M->loss_grad(p->b[BY], p->b[BX], p->b[BT], p->b[BD], gy, gx, gt, work);
    assert_finite("loss_grad gy", gy, blen[BY]);
    assert_finite("loss_grad gx", gx, blen[BX]);
    assert_finite("loss_grad gtheta", gt, blen[BT]);
}

static void k_res(const Point *p, double *r)
{
    poison_work();
    poison(r, (size_t)M->nres);
    M->residual(p->b[BY], p->b[BX], p->b[BT], r, work);
    assert_finite("residual", r, M->nres);
}

static void k_res_jvp_y(const Point *p, const double *v, double *jv)
{
    poison_work();
    poison(jv, (size_t)M->nres);
    M->residual_jvp_y(p->b[BY], p->b[BX], p->b[BT], v, jv, work);
    assert_finite("residual_jvp_y", jv, M->nres);
}

/* J_b^T w for b = y, x, theta. */
static void k_res_vjp(int blk, const Point *p, const double *w, double *out)
{
    poison_work();
    poison(out, (size_t)blen[blk]);
    if (blk == BY)
        M->residual_vjp_y(p->b[BY], p->b[BX], p->b[BT], w, out, work);
    else if (blk == BX)
        M->residual_vjp_x(p->b[BY], p->b[BX], p->b[BT], w, out, work);
    else
        M->residual_vjp_theta(p->b[BY], p->b[BX], p->b[BT], w, out, work);
    assert_finite(blk == BY ? "residual_vjp_y" : blk == BX ? "residual_vjp_x"
                                                           : "residual_vjp_theta",
                  out, blen[blk]);
}

/* ------------------------------------------------------------------ */
/* The runtime                                                          */
/* ------------------------------------------------------------------ */

/* Tight options: the finite differences of whole solves need y* to
   nearly full precision, and CG must not stop early. */
static dil_options tight_options(int backward)
{
    dil_options o = dil_default_options();
    o.tol = 1e-11;
    o.max_iter = 500;
    o.backward = backward;
    o.cg_tol = 1e-12;
    o.cg_max_iter = 20 * blen[BY] + 200;
    o.cg_eps = 0;
    return o;
}

/* y* from the start in p->b[BY]; the status must be DIL_OK. */
static void solve(Point *p, int solver)
{
    dil_options o = tight_options(DIL_BACKWARD_CG);
    o.solver = solver;
    dil_info info;
    memset(&info, 0, sizeof info);
    int st = dil_solve(M, p->b[BX], p->b[BT], p->b[BY], &o, &info, rwork);
    ck_assert_msg(st == DIL_OK, "%s: dil_solve (solver %d): %s after %d iterations, "
                  "|grad| = %g", M->name, solver, dil_status_string(st),
                  info.iterations, info.grad_norm);
    ck_assert_int_eq(info.status, st);
}

/* ------------------------------------------------------------------ */
/* Scalar probes and finite differences                                */
/* ------------------------------------------------------------------ */

typedef enum ProbeKind {
    PR_SCORE,        /* f */
    PR_GRAD_DOT,     /* u . df/dy */
    PR_LOSS,         /* L */
    PR_RES_DOT,      /* u . r */
    PR_SOLVE_LOSS,   /* L(y*(x, theta)), solved from ystart */
    PR_SOLVE_DOT     /* u . y*(x, theta), solved from ystart */
} ProbeKind;

typedef struct Probe {
    ProbeKind kind;
    const double *u;
    const double *ystart;
} Probe;

static double probe_eval(const Probe *pr, Point *p)
{
    double *tmp;
    double s;
    switch (pr->kind) {
    case PR_SCORE:
        return k_score(p);
    case PR_GRAD_DOT:
        tmp = vec_new(blen[BY]);
        k_grad(p, tmp);
        s = vec_dot(pr->u, tmp, blen[BY]);
        free(tmp);
        return s;
    case PR_LOSS:
        return k_loss(p);
    case PR_RES_DOT:
        tmp = vec_new(M->nres);
        k_res(p, tmp);
        s = vec_dot(pr->u, tmp, M->nres);
        free(tmp);
        return s;
    case PR_SOLVE_LOSS:
    case PR_SOLVE_DOT:
        memcpy(p->b[BY], pr->ystart, (size_t)blen[BY] * sizeof(double));
        solve(p, DIL_SOLVER_NEWTON);
        return pr->kind == PR_SOLVE_LOSS ? k_loss(p) : vec_dot(pr->u, p->b[BY], blen[BY]);
    }
    return NAN;
}

/* The difference step: FD_STEP, except for the cart-pole planner, whose
   solve-then-loss map along a direction moving all ~700 network weights at
   once has fifth derivatives large enough that the truncation error of
   the step 1e-3 exceeds the 1e-5 tolerance (measured: 3e-5 relative; with
   2.5e-4 every check passes, and rounding stays ~1e-11 relative). */
static double fd_step(void)
{
    return strcmp(M->name, "cartpole_mpc") == 0 ? FD_STEP / 4 : FD_STEP;
}

/* d/dt probe(p + t d) at t = 0, d moving block blk: fourth-order central
   differences, step fd_step() / max|d|. */
static double fd_dir(const Probe *pr, const Point *p, int blk, const double *d)
{
    static const double at[4] = { -2, -1, 1, 2 };
    static const double wt[4] = { 1, -8, 8, -1 };
    double dn = vec_norm_inf(d, blen[blk]);
    double h = fd_step() / (dn > 0 ? dn : 1);
    Point q = point_clone(p);
    double acc = 0;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < blen[blk]; i++)
            q.b[blk][i] = p->b[blk][i] + at[k] * h * d[i];
        acc += wt[k] * probe_eval(pr, &q);
    }
    point_free(&q);
    return acc / (12 * h);
}

/* a and b agree to rtol relative to the larger, or to `scale` (the size
   of the quantities a and b are built from, for results that cancel). */
static void check_close(const char *what, int index, double a, double b, double rtol,
                        double scale)
{
    double tol = rtol * (fmax(fabs(a), fabs(b)) + scale) + 1e-300;
    ck_assert_msg(fabs(a - b) <= tol,
                  "%s: %s [%d]: got %.17g, expected %.17g (diff %.3g, tol %.3g)",
                  M->name, what, index, a, b, fabs(a - b), tol);
}

/* `a` (over block blk) is the gradient of the probe at p: entry by entry
   for small blocks, along NPROJ random directions otherwise. */
static void check_gradient(const char *what, const double *a, const Probe *pr,
                           const Point *p, int blk, double rtol, unsigned long long seed)
{
    int n = blen[blk];
    if (n == 0)
        return;
    double *d = vec_new(n);
    /* Differences cannot resolve much below eps |probe| / h: a floor for
       entries that are (nearly) zero. */
    Point q = point_clone(p);
    double fd_floor = 1e-4 * (1 + fabs(probe_eval(pr, &q)));
    point_free(&q);
    double scale = 1e-3 * vec_norm_inf(a, n) + fd_floor;
    if (n <= FULL_MAX) {
        for (int j = 0; j < n; j++) {
            memset(d, 0, (size_t)n * sizeof *d);
            d[j] = 1;
            check_close(what, j, a[j], fd_dir(pr, p, blk, d), rtol, scale);
        }
    } else {
        Rng r = rng_seed(seed);
        for (int k = 0; k < NPROJ; k++) {
            vec_random(&r, d, n, 1.0);
            check_close(what, -1 - k, vec_dot(a, d, n), fd_dir(pr, p, blk, d), rtol,
                        1e-3 * vec_norm_inf(a, n) * vec_norm2(d, n) + fd_floor);
        }
    }
    free(d);
}

/* jv (length m) is d/dt F(p + t d) along d in block blk, where the probe
   of `kind` with weight u is u . F: checked on every unit u for small m,
   on NPROJ random u otherwise. */
static void check_jvp(const char *what, const double *jv, int m, ProbeKind kind,
                      const Point *p, int blk, const double *d, double rtol,
                      unsigned long long seed)
{
    double *u = vec_new(m);
    double scale = 1e-3 * vec_norm_inf(jv, m) + 1e-4;
    Probe pr = { kind, u, NULL };
    if (m <= FULL_MAX) {
        for (int i = 0; i < m; i++) {
            memset(u, 0, (size_t)m * sizeof *u);
            u[i] = 1;
            check_close(what, i, jv[i], fd_dir(&pr, p, blk, d), rtol, scale);
        }
    } else {
        Rng r = rng_seed(seed);
        for (int k = 0; k < NPROJ; k++) {
            vec_random(&r, u, m, 1.0);
            check_close(what, -1 - k, vec_dot(u, jv, m), fd_dir(&pr, p, blk, d), rtol,
                        scale * vec_norm2(u, m));
        }
    }
    free(u);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

static void setup(void)
{
    blen[BY] = M->ny;
    blen[BX] = M->nx;
    blen[BT] = M->ntheta;
    blen[BD] = M->ndata;
    work = vec_new((int)M->work_size);
    dil_options o = tight_options(DIL_BACKWARD_DENSE);
    rwork_size = dil_work_size(M, &o);
    o.solver = DIL_SOLVER_GAUSS_NEWTON;
    if (M->nres > 0 && dil_work_size(M, &o) > rwork_size)
        rwork_size = dil_work_size(M, &o);
    o = tight_options(DIL_BACKWARD_ROOT);
    if (M->nres > 0 && dil_work_size(M, &o) > rwork_size)
        rwork_size = dil_work_size(M, &o);
    rwork = vec_new((int)rwork_size);
}

static void teardown(void)
{
    free(work);
    free(rwork);
    work = rwork = NULL;
}

/* ------------------------------------------------------------------ */
/* The descriptor against the model's source                           */
/* ------------------------------------------------------------------ */

/* The model re-read from MODEL_FILE by the compiler's front end: the
   independent reference of the hyper-dual checks.  Parsed once per
   process; NULL (with a failed assertion) when it does not compile. */
static Model *ir_model(void)
{
    static Model *model;
    static SrcFile src;
    static int done;
    if (done) {
        ck_assert_msg(model != NULL, "%s does not compile", MODEL_FILE);
        return model;
    }
    done = 1;
    FILE *f = fopen(MODEL_FILE, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run from the repository root)", MODEL_FILE);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    ck_assert_msg(len >= 0, "cannot read %s", MODEL_FILE);
    char *text = arena_alloc((size_t)len + 1);
    ck_assert_msg(fread(text, 1, (size_t)len, f) == (size_t)len, "cannot read %s",
                  MODEL_FILE);
    fclose(f);
    text[len] = '\0';
    src.name = MODEL_FILE;
    src.text = text;
    src.len = (size_t)len;
    ir_init();
    diag_init(&src, stderr);
    Decl *decls = parse_file(&src);
    /* unrolled: the reference shares neither the loop construct nor its
       derivative rules with the rolled kernels dilc emits */
    if (diag_errors() == 0)
        model = sema_model_ex(decls, 1);
    ck_assert_msg(model != NULL && diag_errors() == 0, "%s does not compile", MODEL_FILE);
    return model;
}

START_TEST(descriptor)
{
    ck_assert_str_eq(M->name, STR(MODEL_NAME));
    ck_assert_int_gt(M->ny, 0);
    ck_assert_int_ge(M->nx, 0);
    ck_assert_int_ge(M->ntheta, 0);
    ck_assert_int_ge(M->ndata, 0);
    ck_assert_int_ge(M->nres, 0);
    ck_assert(M->score && M->score_grad_y && M->score_hvp_yy && M->score_vjp_xy &&
              M->score_vjp_thetay);
    ck_assert_msg((M->loss == NULL) == (M->loss_grad == NULL), "loss without loss_grad");
    int res = M->nres > 0;
    ck_assert((M->residual != NULL) == res);
    ck_assert((M->residual_jvp_y != NULL) == res);
    ck_assert((M->residual_vjp_y != NULL) == res);
    ck_assert((M->residual_vjp_x != NULL) == res);
    ck_assert((M->residual_vjp_theta != NULL) == res);
    ck_assert((M->theta_init != NULL) == (M->ntheta > 0));

    /* Symbols tile their blocks in declaration order. */
    int fill[4] = { 0, 0, 0, 0 };
    const int total[4] = { M->nx, M->ntheta, M->ny, M->ndata };  /* by DIL_ROLE_* */
    for (int i = 0; i < M->nsymbols; i++) {
        const dil_symbol *s = &M->symbols[i];
        ck_assert(s->role >= 0 && s->role < 4);
        ck_assert(s->rank >= 0 && s->rank <= 2);
        ck_assert_int_eq(s->offset, fill[s->role]);
        fill[s->role] += s->shape[0] * s->shape[1];
    }
    for (int r = 0; r < 4; r++)
        ck_assert_int_eq(fill[r], total[r]);

    /* The same as the compiler's own reading of the source. */
    Model *m = ir_model();
    ck_assert_str_eq(m->name, M->name);
    ck_assert_int_eq(m->ny, M->ny);
    ck_assert_int_eq(m->nx, M->nx);
    ck_assert_int_eq(m->ntheta, M->ntheta);
    ck_assert_int_eq(m->ndata, M->ndata);
    ck_assert_int_eq(m->nres, M->nres);
    ck_assert((m->loss != NULL) == (M->loss != NULL));
    ck_assert_int_eq(m->nsyms, M->nsymbols);
    for (int i = 0; i < m->nsyms; i++) {
        const Symbol *s = &m->syms[i];
        const dil_symbol *d = &M->symbols[i];
        ck_assert_str_eq(d->name, s->name);
        ck_assert_int_eq(d->role, (int)s->role);
        ck_assert_int_eq(d->rank, s->rank);
        ck_assert_int_eq(d->shape[0], s->rows);
        ck_assert_int_eq(d->shape[1], s->cols);
        ck_assert_int_eq(d->offset, s->offset);
        if (s->role == ROLE_PARAM) {
            double want = 0;
            if (s->init)
                ck_assert(rat_to_double(s->init, &want) == 0);
            for (int k = 0; k < s->rows * s->cols; k++)
                ck_assert_msg(M->theta_init[s->offset + k] == want,
                              "%s: theta_init of %s[%d] is %.17g, declared %.17g", M->name,
                              s->name, k, M->theta_init[s->offset + k], want);
        }
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* (a) kernels against finite differences                              */
/* ------------------------------------------------------------------ */

START_TEST(score_derivatives)
{
    int ny = blen[BY];
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(100 + (unsigned)pt);
        Rng r = rng_seed(200 + (unsigned)pt);
        double *g = vec_new(ny), *v = vec_new(ny), *u = vec_new(ny);
        double *hv = vec_new(ny), *hu = vec_new(ny), *w = vec_new(ny);
        double *ox = vec_new(blen[BX]), *ot = vec_new(blen[BT]);
        vec_random(&r, v, ny, 1.0);
        vec_random(&r, u, ny, 1.0);
        vec_random(&r, w, ny, 1.0);

        /* df/dy against differences of f */
        Probe pf = { PR_SCORE, NULL, NULL };
        k_grad(&p, g);
        check_gradient("score_grad_y", g, &pf, &p, BY, FD_RTOL, 300 + (unsigned)pt);

        /* H v against differences of grad along v; H symmetric */
        k_hvp(&p, v, hv);
        check_jvp("score_hvp_yy", hv, ny, PR_GRAD_DOT, &p, BY, v, FD_RTOL,
                  400 + (unsigned)pt);
        k_hvp(&p, u, hu);
        double uhv = vec_dot(u, hv, ny), vhu = vec_dot(v, hu, ny);
        check_close("hvp symmetry u.Hv = v.Hu", 0, uhv, vhu, 1e-11,
                    vec_norm2(u, ny) * vec_norm2(hv, ny));

        /* w^T d2f/dy dx and w^T d2f/dy dtheta against differences of w . grad */
        Probe pw = { PR_GRAD_DOT, w, NULL };
        k_vjp_xy(&p, w, ox);
        check_gradient("score_vjp_xy", ox, &pw, &p, BX, FD_RTOL, 500 + (unsigned)pt);
        k_vjp_thetay(&p, w, ot);
        check_gradient("score_vjp_thetay", ot, &pw, &p, BT, FD_RTOL, 600 + (unsigned)pt);

        /* The kernels are deterministic and keep no state. */
        double *g2 = vec_new(ny);
        k_grad(&p, g2);
        ck_assert_msg(memcmp(g, g2, (size_t)ny * sizeof *g) == 0,
                      "%s: score_grad_y differs between two calls", M->name);
        free(g2);

        free(g), free(v), free(u), free(hv), free(hu), free(w), free(ox), free(ot);
        point_free(&p);
    }
}
END_TEST

START_TEST(loss_derivatives)
{
    if (M->loss == NULL)
        return;
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(700 + (unsigned)pt);
        double *gy = vec_new(blen[BY]), *gx = vec_new(blen[BX]), *gt = vec_new(blen[BT]);
        Probe pl = { PR_LOSS, NULL, NULL };
        k_loss_grad(&p, gy, gx, gt);
        check_gradient("loss_grad gy", gy, &pl, &p, BY, FD_RTOL, 800 + (unsigned)pt);
        check_gradient("loss_grad gx", gx, &pl, &p, BX, FD_RTOL, 810 + (unsigned)pt);
        check_gradient("loss_grad gtheta", gt, &pl, &p, BT, FD_RTOL, 820 + (unsigned)pt);
        free(gy), free(gx), free(gt);
        point_free(&p);
    }
}
END_TEST

START_TEST(residual_derivatives)
{
    int nr = M->nres, ny = blen[BY];
    if (nr == 0)
        return;
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(900 + (unsigned)pt);
        Rng rg = rng_seed(1000 + (unsigned)pt);
        double *r = vec_new(nr), *w = vec_new(nr), *v = vec_new(ny), *jv = vec_new(nr);
        double *g = vec_new(ny), *jtr = vec_new(ny);
        vec_random(&rg, w, nr, 1.0);
        vec_random(&rg, v, ny, 1.0);

        /* f = 1/2 |r|^2, so also df/dy = J_y^T r */
        k_res(&p, r);
        double half = 0.5 * vec_dot(r, r, nr);
        check_close("score = 1/2 |residual|^2", 0, k_score(&p), half, 1e-12, 0);
        k_grad(&p, g);
        k_res_vjp(BY, &p, r, jtr);
        for (int i = 0; i < ny; i++)
            check_close("score_grad_y = J^T r", i, g[i], jtr[i], 1e-11,
                        vec_norm_inf(g, ny));

        /* J_y v against differences of r along v */
        k_res_jvp_y(&p, v, jv);
        check_jvp("residual_jvp_y", jv, nr, PR_RES_DOT, &p, BY, v, FD_RTOL,
                  1100 + (unsigned)pt);

        /* J^T w against differences of w . r in each block */
        Probe pw = { PR_RES_DOT, w, NULL };
        for (int blk = BY; blk <= BT; blk++) {
            double *out = vec_new(blen[blk]);
            char what[64];
            snprintf(what, sizeof what, "residual_vjp_%s", block_name[blk]);
            k_res_vjp(blk, &p, w, out);
            check_gradient(what, out, &pw, &p, blk, FD_RTOL, 1200 + 10 * (unsigned)blk + (unsigned)pt);
            free(out);
        }

        /* Adjointness: w . (J v) = v . (J^T w) */
        double *jtw = vec_new(ny);
        k_res_vjp(BY, &p, w, jtw);
        check_close("w.(J v) = v.(J^T w)", 0, vec_dot(w, jv, nr), vec_dot(v, jtw, ny),
                    1e-11, vec_norm2(w, nr) * vec_norm2(jv, nr));
        free(jtw);

        free(r), free(w), free(v), free(jv), free(g), free(jtr);
        point_free(&p);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* (e) linearise once: apply kernels against the plain ones             */
/* ------------------------------------------------------------------ */

/* Contraction into FMAs could make a value stored in state differ in its
   last bit from the same expression fused into a plain kernel; without
   FMA instructions the emitted arithmetic is the same either way. */
#if defined(__x86_64__) && !defined(__FMA__)
#define APPLY_BITWISE 1
#else
#define APPLY_BITWISE 0
#endif

typedef void (*plain_fn)(const double *, const double *, const double *, const double *,
                         double *, double *);
typedef void (*apply_fn)(const double *, const double *, const double *, const double *,
                         const double *, double *, double *);

/* One kernel with a direction: its two forms, the lengths of its
   direction and output, and how (a) checks it: a jvp of `probe` along
   the direction in y, or the gradient over block `blk` of probe . dir. */
typedef struct ApplyCase {
    const char *name;
    plain_fn plain;
    apply_fn apply;
    int dir_len, out_len;
    ProbeKind probe;
    int jvp;                  /* 1: check_jvp along the direction */
    int blk;                  /* else: check_gradient over this block */
} ApplyCase;

static int apply_cases(ApplyCase *c)
{
    int ny = M->ny, nr = M->nres, n = 0;
    c[n++] = (ApplyCase){ "score_hvp_yy", M->score_hvp_yy, M->score_hvp_yy_apply, ny, ny,
                          PR_GRAD_DOT, 1, BY };
    c[n++] = (ApplyCase){ "score_vjp_xy", M->score_vjp_xy, M->score_vjp_xy_apply, ny, M->nx,
                          PR_GRAD_DOT, 0, BX };
    c[n++] = (ApplyCase){ "score_vjp_thetay", M->score_vjp_thetay, M->score_vjp_thetay_apply,
                          ny, M->ntheta, PR_GRAD_DOT, 0, BT };
    if (nr == 0)
        return n;
    c[n++] = (ApplyCase){ "residual_jvp_y", M->residual_jvp_y, M->residual_jvp_y_apply, ny, nr,
                          PR_RES_DOT, 1, BY };
    c[n++] = (ApplyCase){ "residual_vjp_y", M->residual_vjp_y, M->residual_vjp_y_apply, nr, ny,
                          PR_RES_DOT, 0, BY };
    c[n++] = (ApplyCase){ "residual_vjp_x", M->residual_vjp_x, M->residual_vjp_x_apply, nr,
                          M->nx, PR_RES_DOT, 0, BX };
    c[n++] = (ApplyCase){ "residual_vjp_theta", M->residual_vjp_theta,
                          M->residual_vjp_theta_apply, nr, M->ntheta, PR_RES_DOT, 0, BT };
    return n;
}

/* Output `a` of kernel `name` equals the plain kernel's `b` (n each). */
static void check_same_vec(const char *name, const double *a, const double *b, int n)
{
    double scale = vec_norm_inf(b, n);
    for (int i = 0; i < n; i++) {
        if (APPLY_BITWISE)
            ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0,
                          "%s: %s[%d] = %.17g, plain %.17g (not bitwise equal)", M->name,
                          name, i, a[i], b[i]);
        else
            check_close(name, i, a[i], b[i], 1e-13, scale);
    }
}

/* The apply output `a` equals the plain kernel's `b`. */
static void check_same(const ApplyCase *c, const double *a, const double *b)
{
    char what[80];
    snprintf(what, sizeof what, "%s_apply", c->name);
    check_same_vec(what, a, b, c->out_len);
}

/* (a) for an apply output: finite differences along dir. */
static void check_apply_fd(const ApplyCase *c, const Point *p, const double *dir,
                           const double *out, unsigned long long seed)
{
    char what[80];
    snprintf(what, sizeof what, "%s_apply", c->name);
    if (c->jvp) {
        check_jvp(what, out, c->out_len, c->probe, p, BY, dir, FD_RTOL, seed);
    } else {
        Probe pw = { c->probe, dir, NULL };
        check_gradient(what, out, &pw, p, c->blk, FD_RTOL, seed);
    }
}

START_TEST(apply_kernels)
{
    ApplyCase cs[7];
    int nc = apply_cases(cs), any = 0;
    for (int k = 0; k < nc; k++)
        any |= cs[k].apply != NULL;
    ck_assert_msg((M->linearise != NULL) == any && (M->state_size > 0) == any,
                  "%s: linearise, state_size and the apply kernels disagree", M->name);
    /* Models with a transcendental nonlinearity in y have state to keep. */
    static const char *const nonlinear[] = { "node_euler", "node_vdp", "node_spiral",
                                             "kepler", "elementwise", "softmax_layer" };
    for (size_t i = 0; i < sizeof nonlinear / sizeof *nonlinear; i++)
        if (strcmp(M->name, nonlinear[i]) == 0)
            ck_assert_msg(M->score_hvp_yy_apply != NULL, "%s: no score_hvp_yy_apply", M->name);
    if (!any)
        return;
    double *state = vec_new((int)M->state_size), *saved = vec_new((int)M->state_size);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(2100 + (unsigned)pt);
        poison(state, M->state_size);
        poison_work();
        M->linearise(p.b[BY], p.b[BX], p.b[BT], state, work);
        assert_finite("linearise state", state, (int)M->state_size);
        memcpy(saved, state, M->state_size * sizeof *state);
        Rng r = rng_seed(2200 + (unsigned)pt);
        for (int k = 0; k < nc; k++) {
            const ApplyCase *c = &cs[k];
            if (!c->apply)
                continue;
            double *dir = vec_new(c->dir_len), *a = vec_new(c->out_len);
            double *b = vec_new(c->out_len);
            for (int rep = 0; rep < 2; rep++) {      /* two directions, one state */
                vec_random(&r, dir, c->dir_len, 1.0);
                poison_work();
                poison(a, (size_t)c->out_len);
                c->apply(p.b[BY], p.b[BX], p.b[BT], state, dir, a, work);
                assert_finite(c->name, a, c->out_len);
                poison_work();
                c->plain(p.b[BY], p.b[BX], p.b[BT], dir, b, work);
                check_same(c, a, b);
            }
            check_apply_fd(c, &p, dir, a, 2300 + 10 * (unsigned)k + (unsigned)pt);
            ck_assert_msg(memcmp(state, saved, M->state_size * sizeof *state) == 0,
                          "%s: %s_apply changed the state", M->name, c->name);
            free(dir), free(a), free(b);
        }
        point_free(&p);
    }
    free(state), free(saved);
}
END_TEST

/* The apply kernels of one part (the residual's, or the score's) at p
   from `state`, each against its plain kernel for one direction. */
static void check_part_applies(const ApplyCase *cs, int nc, int residual, const Point *p,
                               const double *state, Rng *r)
{
    for (int k = 0; k < nc; k++) {
        const ApplyCase *c = &cs[k];
        if (!c->apply || (c->probe == PR_RES_DOT) != residual)
            continue;
        double *dir = vec_new(c->dir_len), *a = vec_new(c->out_len);
        double *b = vec_new(c->out_len);
        vec_random(r, dir, c->dir_len, 1.0);
        poison_work();
        poison(a, (size_t)c->out_len);
        c->apply(p->b[BY], p->b[BX], p->b[BT], state, dir, a, work);
        assert_finite(c->name, a, c->out_len);
        poison_work();
        c->plain(p->b[BY], p->b[BX], p->b[BT], dir, b, work);
        check_same(c, a, b);
        free(dir), free(a), free(b);
    }
}

/* The fused kernels (dil_model.h): residual_linearise gives the residual,
   score_linearise the score and its gradient, bitwise as the plain
   kernels do; and the state each leaves, starting from NaN with no
   `linearise` call, is all that its part's apply kernels read: each of
   them then equals its plain kernel.  Each fused kernel exists exactly
   when an apply kernel of its part does. */
START_TEST(fused_kernels)
{
    ApplyCase cs[7];
    int nc = apply_cases(cs), any[2] = { 0, 0 };
    for (int k = 0; k < nc; k++)
        any[cs[k].probe == PR_RES_DOT] |= cs[k].apply != NULL;
    ck_assert_msg((M->score_linearise != NULL) == any[0],
                  "%s: score_linearise and the score apply kernels disagree", M->name);
    ck_assert_msg((M->residual_linearise != NULL) == any[1],
                  "%s: residual_linearise and the residual apply kernels disagree", M->name);
    if (!any[0] && !any[1])
        return;
    int ny = M->ny, nr = M->nres;
    double *state = vec_new((int)M->state_size), *a = vec_new(ny > nr ? ny : nr);
    double *b = vec_new(ny > nr ? ny : nr);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(2500 + (unsigned)pt);
        Rng r = rng_seed(2600 + (unsigned)pt);
        if (M->residual_linearise) {
            poison(state, M->state_size);
            poison_work();
            M->residual_linearise(p.b[BY], p.b[BX], p.b[BT], state, a, work);
            poison_work();
            M->residual(p.b[BY], p.b[BX], p.b[BT], b, work);
            check_same_vec("residual_linearise r", a, b, nr);
            check_part_applies(cs, nc, 1, &p, state, &r);
        }
        if (M->score_linearise) {
            poison(state, M->state_size);
            poison_work();
            double f = M->score_linearise(p.b[BY], p.b[BX], p.b[BT], state, a, work);
            poison_work();
            double f0 = M->score(p.b[BY], p.b[BX], p.b[BT], work);
            check_same_vec("score_linearise f", &f, &f0, 1);
            poison_work();
            M->score_grad_y(p.b[BY], p.b[BX], p.b[BT], b, work);
            check_same_vec("score_linearise gy", a, b, ny);
            check_part_applies(cs, nc, 0, &p, state, &r);
        }
        point_free(&p);
    }
    free(state), free(a), free(b);
}
END_TEST

/* The runtime with and without the fused kernels: `linearise` calls
   counted through a wrapper around the model's own. */
static long plain_lin_calls;
static void counted_linearise(const double *y, const double *x, const double *th, double *state,
                              double *w)
{
    plain_lin_calls++;
    M->linearise(y, x, th, state, w);
}

/* One solve (from y = 0) and loss gradient with solver/backward on
   descriptor m: y, the loss, dL/dx, dL/dtheta into out (ny + 1 + nx +
   ntheta); returns the plain linearise calls it made. */
static long solve_and_gradient(const dil_model *m, const Point *p, int solver, int backward,
                               double *out)
{
    dil_options o = tight_options(backward);
    o.solver = solver;
    int ny = blen[BY], nx = blen[BX];
    plain_lin_calls = 0;
    memset(out, 0, (size_t)ny * sizeof *out);
    int st = dil_solve(m, p->b[BX], p->b[BT], out, &o, NULL, NULL);
    ck_assert_msg(st == DIL_OK, "%s: dil_solve (solver %d): %s", M->name, solver,
                  dil_status_string(st));
    st = dil_loss_gradient(m, out, p->b[BX], p->b[BT], p->b[BD], out + ny, out + ny + 1,
                           out + ny + 1 + nx, &o, NULL, NULL);
    ck_assert_msg(st == DIL_OK, "%s: dil_loss_gradient (backward %d): %s", M->name, backward,
                  dil_status_string(st));
    return plain_lin_calls;
}

/* Newton-CG with the CG backward, and (square residual models)
   Gauss-Newton with the root backward, give bitwise the same answer with
   the fused kernels as without (the runtime's fallback: descriptor
   members NULL), and take fewer separate linearisations: the fused
   kernel's sweep at each iterate leaves the state the products need. */
START_TEST(fused_runtime)
{
    if (M->loss == NULL || (!M->score_linearise && !M->residual_linearise))
        return;
    dil_model fused = *M, plain = *M;
    fused.linearise = plain.linearise = counted_linearise;
    plain.score_linearise = NULL;
    plain.residual_linearise = NULL;
    int n = blen[BY] + 1 + blen[BX] + blen[BT];
    double *a = vec_new(n), *b = vec_new(n);
    for (int pass = 0; pass < 2; pass++) {
        int residual = pass == 1;
        if (residual && (!M->residual_linearise || M->nres != M->ny))
            continue;
        if (!residual && !M->score_linearise)
            continue;
        int solver = residual ? DIL_SOLVER_GAUSS_NEWTON : DIL_SOLVER_NEWTON;
        int backward = residual ? DIL_BACKWARD_ROOT : DIL_BACKWARD_CG;
        Point p = point_random(2700 + (unsigned)pass);
        long lf = solve_and_gradient(&fused, &p, solver, backward, a);
        long lp = solve_and_gradient(&plain, &p, solver, backward, b);
        check_same_vec(residual ? "Gauss-Newton and root backward, fused"
                                : "Newton and CG backward, fused", a, b, n);
        ck_assert_msg(lf < lp, "%s: %ld linearise calls with the fused kernels, %ld without",
                      M->name, lf, lp);
        point_free(&p);
    }
    free(a), free(b);
}
END_TEST

/* dil_solve_loss_gradient (one call, the backward starting from the
   solve's last sweep) against dil_solve then dil_loss_gradient: the same
   bits in y, the loss and both gradients, in fewer model sweeps when the
   model has a fused kernel; and its batch on 1 and 2 threads against the
   single calls summed in order.  A solve that fails (max_iter 0 from a
   point that is not a solution) returns its status with the outputs
   untouched. */
START_TEST(solve_step)
{
    if (M->loss == NULL)
        return;
    enum { NI = 3 };
    int ny = blen[BY], nx = blen[BX], nt = blen[BT], nd = blen[BD];
    int n = ny + 1 + nx + nt;
    double *a = vec_new(n), *b = vec_new(n);
    double *xs = vec_new(NI * nx), *ys = vec_new(NI * ny), *ds = vec_new(NI * nd);
    double *s1 = vec_new(nt), *s2 = vec_new(nt), *ref = vec_new(nt), loss[NI];
    for (int pass = 0; pass < 2; pass++) {
        int residual = pass == 1;
        if (residual && (M->nres != M->ny || !M->residual_jvp_y))
            continue;
        dil_options o = tight_options(residual ? DIL_BACKWARD_ROOT : DIL_BACKWARD_CG);
        o.solver = residual ? DIL_SOLVER_GAUSS_NEWTON : DIL_SOLVER_NEWTON;
        Point p = point_random(3100 + (unsigned)pass);
        dil_info i1, i2;
        memset(a, 0, (size_t)n * sizeof *a);
        memset(b, 0, (size_t)n * sizeof *b);
        ck_assert_int_eq(dil_solve(M, p.b[BX], p.b[BT], a, &o, &i1, NULL), DIL_OK);
        ck_assert_int_eq(dil_loss_gradient(M, a, p.b[BX], p.b[BT], p.b[BD], a + ny,
                                           a + ny + 1, a + ny + 1 + nx, &o, &i2, NULL),
                         DIL_OK);
        dil_info in;
        ck_assert_int_eq(dil_solve_loss_gradient(M, p.b[BX], p.b[BT], b, p.b[BD], b + ny,
                                                 b + ny + 1, b + ny + 1 + nx, &o, &in, NULL),
                         DIL_OK);
        for (int i = 0; i < n; i++)
            ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0,
                          "%s: solve_loss_gradient[%d] = %.17g, two calls %.17g", M->name, i,
                          b[i], a[i]);
        ck_assert_int_eq(in.iterations, i1.iterations);
        ck_assert(memcmp(&in.residual_norm, &i2.residual_norm, sizeof(double)) == 0);
        ck_assert(memcmp(&in.grad_norm, &i2.grad_norm, sizeof(double)) == 0);
        if (residual ? M->residual_linearise != NULL : M->score_linearise != NULL)
            ck_assert_msg(in.n_score < i1.n_score + i2.n_score,
                          "%s: %d evaluations in one call, %d + %d in two", M->name,
                          in.n_score, i1.n_score, i2.n_score);
        /* Newton certified y*: the CG backward skips its own Lanczos */
        if (!residual && M->score_linearise != NULL && M->score_hvp_yy_apply != NULL)
            ck_assert_msg(in.n_hvp < i1.n_hvp + i2.n_hvp,
                          "%s: %d HVPs in one call, %d + %d in two", M->name, in.n_hvp,
                          i1.n_hvp, i2.n_hvp);

        /* the batch: instances with x scaled a little */
        for (int i = 0; i < NI; i++) {
            for (int j = 0; j < nx; j++)
                xs[i * nx + j] = p.b[BX][j] * (1.0 + 0.01 * i);
            memcpy(ds + i * nd, p.b[BD], (size_t)nd * sizeof *ds);
        }
        memset(ref, 0, (size_t)nt * sizeof *ref);
        for (int i = 0; i < NI; i++) {
            memset(b, 0, (size_t)ny * sizeof *b);
            ck_assert_int_eq(dil_solve_loss_gradient(M, xs + i * nx, p.b[BT], b, ds + i * nd,
                                                     &loss[i], NULL, b + ny + 1 + nx, &o,
                                                     NULL, NULL),
                             DIL_OK);
            for (int k = 0; k < nt; k++)
                ref[k] += b[ny + 1 + nx + k];
        }
        for (int t = 1; t <= 2; t++) {
            double *s = t == 1 ? s1 : s2;
            memset(ys, 0, (size_t)(NI * ny) * sizeof *ys);
            ck_assert_int_eq(dil_solve_loss_gradient_batch(M, NI, xs, p.b[BT], ys, ds, loss,
                                                           NULL, s, &o, NULL, t),
                             DIL_OK);
            ck_assert(memcmp(s, ref, (size_t)nt * sizeof *ref) == 0);
        }

        /* a failed solve: its status, the outputs untouched */
        o.max_iter = 0;
        for (int i = 0; i < n; i++)
            b[i] = 7.0;
        memcpy(b, p.b[BY], (size_t)ny * sizeof *b);
        b[0] += 1.0;
        int st = dil_solve_loss_gradient(M, p.b[BX], p.b[BT], b, p.b[BD], b + ny, b + ny + 1,
                                         b + ny + 1 + nx, &o, &in, NULL);
        ck_assert_msg(st != DIL_OK, "%s: a solve with max_iter 0 succeeded", M->name);
        ck_assert_int_eq(st, in.status);
        for (int i = ny; i < n; i++)
            ck_assert(b[i] == 7.0);
        point_free(&p);
    }
    free(a), free(b), free(xs), free(ys), free(ds), free(s1), free(s2), free(ref);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (b) kernels against the hyper-dual evaluation of the IR              */
/* ------------------------------------------------------------------ */

/* Seeds of a hyper-dual evaluation: one direction per block, NULL for a
   block that does not move. */
typedef struct Dirs {
    const double *d[NB];
} Dirs;

static double *zero_block;   /* enough zeros for any block */

/* Evaluates `root` at p with first-order directions d1 and d2: out[i].f
   is the value, e1/e2 the derivatives along d1/d2, e12 the second
   derivative along both. */
static void ref_eval(Node *root, const Point *p, const Dirs *d1, const Dirs *d2, hdual *out)
{
    const double *blocks[BLK__COUNT], *dir1[BLK__COUNT], *dir2[BLK__COUNT];
    static const Block map[NB] = { BLK_Y, BLK_X, BLK_THETA, BLK_DATA };
    for (int b = 0; b < BLK__COUNT; b++)
        blocks[b] = dir1[b] = dir2[b] = zero_block;
    for (int k = 0; k < NB; k++) {
        blocks[map[k]] = p->b[k];
        if (d1 && d1->d[k])
            dir1[map[k]] = d1->d[k];
        if (d2 && d2->d[k])
            dir2[map[k]] = d2->d[k];
    }
    int st = refeval_hd(root, blocks, dir1, dir2, out);
    ck_assert_msg(st == 0, "%s: refeval_hd failed: %s", M->name, refeval_error());
}

START_TEST(reference)
{
    Model *m = ir_model();
    int ny = blen[BY], nx = blen[BX], nt = blen[BT], nr = M->nres;
    int zn = ny + nx + nt + blen[BD] + nr + 1;
    zero_block = vec_new(zn);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(1300 + (unsigned)pt);
        Rng r = rng_seed(1400 + (unsigned)pt);
        double *u = vec_new(ny), *v = vec_new(ny), *w = vec_new(ny);
        double *ux = vec_new(nx), *ut = vec_new(nt);
        double *g = vec_new(ny), *hv = vec_new(ny), *ox = vec_new(nx), *ot = vec_new(nt);
        hdual h;
        vec_random(&r, u, ny, 1.0);
        vec_random(&r, v, ny, 1.0);
        vec_random(&r, w, ny, 1.0);
        vec_random(&r, ux, nx, 1.0);
        vec_random(&r, ut, nt, 1.0);

        /* f, u.grad, v.grad, u^T H v */
        Dirs du = { { u, NULL, NULL, NULL } }, dv = { { v, NULL, NULL, NULL } };
        ref_eval(m->score, &p, &du, &dv, &h);
        k_grad(&p, g);
        k_hvp(&p, v, hv);
        double sg = vec_norm2(u, ny) * vec_norm2(g, ny);
        check_close("ref: score", 0, k_score(&p), h.f, REF_RTOL, 0);
        check_close("ref: u.score_grad_y", 0, vec_dot(u, g, ny), h.e1, REF_RTOL, sg);
        check_close("ref: v.score_grad_y", 1, vec_dot(v, g, ny), h.e2, REF_RTOL,
                    vec_norm2(v, ny) * vec_norm2(g, ny));
        check_close("ref: u.score_hvp_yy(v)", 0, vec_dot(u, hv, ny), h.e12, REF_RTOL,
                    vec_norm2(u, ny) * vec_norm2(hv, ny));

        /* w^T (d2f/dy dx) ux and w^T (d2f/dy dtheta) ut */
        Dirs dw = { { w, NULL, NULL, NULL } };
        Dirs dx = { { NULL, ux, NULL, NULL } }, dt = { { NULL, NULL, ut, NULL } };
        if (nx > 0) {
            ref_eval(m->score, &p, &dw, &dx, &h);
            k_vjp_xy(&p, w, ox);
            check_close("ref: ux.score_vjp_xy(w)", 0, vec_dot(ux, ox, nx), h.e12, REF_RTOL,
                        vec_norm2(ux, nx) * vec_norm2(ox, nx));
        }
        if (nt > 0) {
            ref_eval(m->score, &p, &dw, &dt, &h);
            k_vjp_thetay(&p, w, ot);
            check_close("ref: ut.score_vjp_thetay(w)", 0, vec_dot(ut, ot, nt), h.e12,
                        REF_RTOL, vec_norm2(ut, nt) * vec_norm2(ot, nt));
        }

        /* L and its partial derivatives along u (y), ux, ut at once and
           one by one */
        if (M->loss) {
            double *gy = vec_new(ny), *gx = vec_new(nx), *gt = vec_new(nt);
            k_loss_grad(&p, gy, gx, gt);
            Dirs all = { { u, ux, ut, NULL } };
            ref_eval(m->loss, &p, &all, NULL, &h);
            check_close("ref: loss", 0, k_loss(&p), h.f, REF_RTOL, 0);
            double s = vec_dot(u, gy, ny) + vec_dot(ux, gx, nx) + vec_dot(ut, gt, nt);
            check_close("ref: loss_grad along (u, ux, ut)", 0, s, h.e1, REF_RTOL,
                        vec_norm2(u, ny) * vec_norm2(gy, ny) +
                            vec_norm2(ux, nx) * vec_norm2(gx, nx) +
                            vec_norm2(ut, nt) * vec_norm2(gt, nt));
            ref_eval(m->loss, &p, &du, &dx, &h);
            check_close("ref: loss_grad gy", 0, vec_dot(u, gy, ny), h.e1, REF_RTOL,
                        vec_norm2(u, ny) * vec_norm2(gy, ny));
            check_close("ref: loss_grad gx", 0, vec_dot(ux, gx, nx), h.e2, REF_RTOL,
                        vec_norm2(ux, nx) * vec_norm2(gx, nx));
            ref_eval(m->loss, &p, &dt, NULL, &h);
            check_close("ref: loss_grad gtheta", 0, vec_dot(ut, gt, nt), h.e1, REF_RTOL,
                        vec_norm2(ut, nt) * vec_norm2(gt, nt));
            free(gy), free(gx), free(gt);
        }

        /* r, J_y v, and w_r . J_b u_b for b = y, x, theta */
        if (nr > 0) {
            hdual *hr = calloc((size_t)nr, sizeof *hr);
            double *rr = vec_new(nr), *jv = vec_new(nr), *wr = vec_new(nr);
            vec_random(&r, wr, nr, 1.0);
            ck_assert(hr != NULL);
            ref_eval(m->residual, &p, &dv, NULL, hr);
            k_res(&p, rr);
            k_res_jvp_y(&p, v, jv);
            double sj = vec_norm_inf(jv, nr), sr = vec_norm_inf(rr, nr);
            for (int i = 0; i < nr; i++) {
                check_close("ref: residual", i, rr[i], hr[i].f, REF_RTOL, sr);
                check_close("ref: residual_jvp_y", i, jv[i], hr[i].e1, REF_RTOL, sj);
            }
            const double *dirs[3] = { u, ux, ut };
            for (int blk = BY; blk <= BT; blk++) {
                if (blen[blk] == 0)
                    continue;
                Dirs db = { { NULL, NULL, NULL, NULL } };
                db.d[blk] = dirs[blk];
                ref_eval(m->residual, &p, &db, NULL, hr);
                double s = 0, sa = 0;
                for (int i = 0; i < nr; i++) {
                    s += wr[i] * hr[i].e1;
                    sa += fabs(wr[i] * hr[i].e1);
                }
                double *out = vec_new(blen[blk]);
                char what[64];
                snprintf(what, sizeof what, "ref: residual_vjp_%s", block_name[blk]);
                k_res_vjp(blk, &p, wr, out);
                check_close(what, 0, vec_dot(dirs[blk], out, blen[blk]), s, REF_RTOL, sa);
                free(out);
            }
            free(hr), free(rr), free(jv), free(wr);
        }

        free(u), free(v), free(w), free(ux), free(ut), free(g), free(hv), free(ox), free(ot);
        point_free(&p);
    }
    free(zero_block);
    zero_block = NULL;
}
END_TEST

/* ------------------------------------------------------------------ */
/* (c) the implicit gradients against differences of whole solves      */
/* ------------------------------------------------------------------ */

/* Where the IFT is checked: a random point, solved from y = 0. */
static Point solved_point(unsigned long long seed)
{
    Point p = point_random(seed);
    memset(p.b[BY], 0, (size_t)blen[BY] * sizeof(double));
    solve(&p, DIL_SOLVER_NEWTON);
    double *g = vec_new(blen[BY]);
    k_grad(&p, g);
    ck_assert_msg(vec_norm2(g, blen[BY]) <= 1e-11 * (1 + fabs(k_score(&p))) + 1e-11,
                  "%s: |grad| = %g at the solution", M->name, vec_norm2(g, blen[BY]));
    free(g);
    return p;
}

/* The analytic gradient (block blk) of a solve-then-evaluate probe
   against its differences, entry-wise or along random directions. */
static void check_ift(const char *what, const double *a, const Probe *pr, const Point *p,
                      int blk, unsigned long long seed)
{
    check_gradient(what, a, pr, p, blk, IFT_RTOL, seed);
}

/* dil_loss_gradient_batch over a few solved instances: the summed
   dL/dtheta has the same bits on 1, 2 and 3 threads (each thread's block
   is added in instance order, batch.c) and as single calls added in
   instance order. */
START_TEST(batch_sum)
{
    if (M->loss == NULL)
        return;
    enum { NI = 5 };
    int ny = blen[BY], nx = blen[BX], nt = blen[BT], nd = blen[BD];
    Point p = solved_point(2800);
    double *x = vec_new(NI * nx), *y = vec_new(NI * ny), *d = vec_new(NI * nd);
    double *s1 = vec_new(nt), *s2 = vec_new(nt), *s3 = vec_new(nt), *one = vec_new(nt);
    double *ref = vec_new(nt);
    double loss[NI];
    dil_options o = tight_options(DIL_BACKWARD_CG);
    for (int i = 0; i < NI; i++) {
        /* instance i: x scaled a little, solved from p's y* */
        for (int j = 0; j < nx; j++)
            x[i * nx + j] = p.b[BX][j] * (1.0 + 0.01 * i);
        memcpy(y + i * ny, p.b[BY], (size_t)ny * sizeof *y);
        memcpy(d + i * nd, p.b[BD], (size_t)nd * sizeof *d);
    }
    ck_assert_int_eq(dil_solve_batch(M, NI, x, p.b[BT], y, &o, NULL, 1), DIL_OK);
    ck_assert_int_eq(dil_loss_gradient_batch(M, NI, y, x, p.b[BT], d, loss, NULL, s1, &o, NULL, 1),
                     DIL_OK);
    ck_assert_int_eq(dil_loss_gradient_batch(M, NI, y, x, p.b[BT], d, loss, NULL, s2, &o, NULL, 2),
                     DIL_OK);
    ck_assert_int_eq(dil_loss_gradient_batch(M, NI, y, x, p.b[BT], d, loss, NULL, s3, &o, NULL, 3),
                     DIL_OK);
    memset(ref, 0, (size_t)nt * sizeof *ref);
    for (int i = 0; i < NI; i++) {
        ck_assert_int_eq(dil_loss_gradient(M, y + i * ny, x + i * nx, p.b[BT], d + i * nd,
                                           &loss[i], NULL, one, &o, NULL, NULL),
                         DIL_OK);
        for (int k = 0; k < nt; k++)
            ref[k] += one[k];
    }
    ck_assert(memcmp(s1, ref, (size_t)nt * sizeof *ref) == 0);
    ck_assert(memcmp(s2, ref, (size_t)nt * sizeof *ref) == 0);
    ck_assert(memcmp(s3, ref, (size_t)nt * sizeof *ref) == 0);
    free(x), free(y), free(d), free(s1), free(s2), free(s3), free(one), free(ref);
    point_free(&p);
}
END_TEST

/* A tiny J (nres ny <= 64) is held densely by the runtime and the root
   form's system solved directly (runtime/small.c).  Its Krylov path
   (Lanczos check, CG with a kernel call per product) on the same model is
   reached by padding it with identity rows to 9 unknowns
   (tests/support/padded.h): at (y*, 0) the padded gradients are the
   model's, and the two paths must agree to CG's tolerance (cg_tol =
   1e-12 here). */
static void root_direct_vs_krylov(const Point *p, const double *gx, const double *gt)
{
    int ny = blen[BY], nx = blen[BX], nt = blen[BT];
    if (ny * M->nres > 64)
        return;
    dil_model pm = pad_model(M, 9 - ny);
    double *yp = vec_new(9), *gxk = vec_new(nx), *gtk = vec_new(nt), lk;
    memset(yp, 0, 9 * sizeof *yp);
    memcpy(yp, p->b[BY], (size_t)ny * sizeof *yp);
    dil_options o = tight_options(DIL_BACKWARD_ROOT);
    dil_info info;
    int st = dil_loss_gradient(&pm, yp, p->b[BX], p->b[BT], p->b[BD], &lk, gxk, gtk, &o, &info,
                               NULL);
    ck_assert_msg(st == DIL_OK, "%s: root form, Krylov path: %s", M->name,
                  dil_status_string(st));
    ck_assert(info.cg_iterations > 0);
    for (int j = 0; j < nx; j++)
        check_close("dL/dx: root form, direct vs Krylov", j, gx[j], gxk[j], 1e-9,
                    vec_norm_inf(gxk, nx));
    for (int j = 0; j < nt; j++)
        check_close("dL/dtheta: root form, direct vs Krylov", j, gt[j], gtk[j], 1e-9,
                    vec_norm_inf(gtk, nt));
    free(yp), free(gxk), free(gtk);
}

START_TEST(ift_loss)
{
    if (M->loss == NULL)
        return;
    int nx = blen[BX], nt = blen[BT];
    for (int pt = 0; pt < 2; pt++) {
        Point p = solved_point(1500 + (unsigned)pt);
        double lc, ld;
        double *gxc = vec_new(nx), *gtc = vec_new(nt), *gxd = vec_new(nx), *gtd = vec_new(nt);
        dil_options oc = tight_options(DIL_BACKWARD_CG), od = tight_options(DIL_BACKWARD_DENSE);
        dil_info info;
        int st = dil_loss_gradient(M, p.b[BY], p.b[BX], p.b[BT], p.b[BD], &lc, gxc, gtc,
                                   &oc, &info, rwork);
        ck_assert_msg(st == DIL_OK, "%s: dil_loss_gradient (CG): %s, cg %d its, res %g",
                      M->name, dil_status_string(st), info.cg_iterations, info.cg_residual);
        st = dil_loss_gradient(M, p.b[BY], p.b[BX], p.b[BT], p.b[BD], &ld, gxd, gtd, &od,
                               &info, rwork);
        ck_assert_msg(st == DIL_OK, "%s: dil_loss_gradient (dense): %s", M->name,
                      dil_status_string(st));
        /* the same loss, and CG agrees with the dense solve */
        check_close("loss at y*", 0, lc, k_loss(&p), 1e-14, 0);
        ck_assert(lc == ld);
        for (int j = 0; j < nx; j++)
            check_close("dL/dx: CG vs dense", j, gxc[j], gxd[j], 1e-8, vec_norm_inf(gxd, nx));
        for (int j = 0; j < nt; j++)
            check_close("dL/dtheta: CG vs dense", j, gtc[j], gtd[j], 1e-8,
                        vec_norm_inf(gtd, nt));

        /* A square residual model solved to its root: the root-finding
           backward (J_y^T g = dL/dy, then -J^T g) gives the same gradient
           through the residual kernels alone. */
        if (M->nres > 0 && M->nres == M->ny) {
            double lr;
            double *gxr = vec_new(nx), *gtr = vec_new(nt);
            dil_options orr = tight_options(DIL_BACKWARD_ROOT);
            st = dil_loss_gradient(M, p.b[BY], p.b[BX], p.b[BT], p.b[BD], &lr, gxr, gtr, &orr,
                                   &info, rwork);
            ck_assert_msg(st == DIL_OK, "%s: dil_loss_gradient (root form): %s", M->name,
                          dil_status_string(st));
            for (int j = 0; j < nx; j++)
                check_close("dL/dx: root form vs dense", j, gxr[j], gxd[j], 1e-7,
                            vec_norm_inf(gxd, nx));
            for (int j = 0; j < nt; j++)
                check_close("dL/dtheta: root form vs dense", j, gtr[j], gtd[j], 1e-7,
                            vec_norm_inf(gtd, nt));
            /* ... and against differences of the whole map */
            Probe prr = { PR_SOLVE_LOSS, NULL, p.b[BY] };
            check_ift("dL/dx (IFT, root form)", gxr, &prr, &p, BX, 1800 + (unsigned)pt);
            check_ift("dL/dtheta (IFT, root form)", gtr, &prr, &p, BT, 1900 + (unsigned)pt);
            root_direct_vs_krylov(&p, gxr, gtr);
            free(gxr), free(gtr);
        }

        /* CG (dense agrees, above) against differences of the whole map
           (x, theta) -> y*(x, theta) -> L */
        Probe pr = { PR_SOLVE_LOSS, NULL, p.b[BY] };
        check_ift("dL/dx (IFT, CG)", gxc, &pr, &p, BX, 1600 + (unsigned)pt);
        check_ift("dL/dtheta (IFT, CG)", gtc, &pr, &p, BT, 1700 + (unsigned)pt);

        /* Work == NULL gives the same answer (the runtime allocates). */
        double l2;
        double *gt2 = vec_new(nt);
        st = dil_loss_gradient(M, p.b[BY], p.b[BX], p.b[BT], p.b[BD], &l2, NULL, gt2, &oc,
                               NULL, NULL);
        ck_assert_int_eq(st, DIL_OK);
        for (int j = 0; j < nt; j++)
            check_close("dL/dtheta with work = NULL", j, gt2[j], gtc[j], 1e-12,
                        vec_norm_inf(gtc, nt));
        free(gt2);

        free(gxc), free(gtc), free(gxd), free(gtd);
        point_free(&p);
    }
}
END_TEST

START_TEST(ift_backward)
{
    int ny = blen[BY], nx = blen[BX], nt = blen[BT];
    for (int pt = 0; pt < 2; pt++) {
        Point p = solved_point(1800 + (unsigned)pt);
        Rng r = rng_seed(1900 + (unsigned)pt);
        double *dl = vec_new(ny), *gx = vec_new(nx), *gt = vec_new(nt);
        vec_random(&r, dl, ny, 1.0);
        for (int kind = DIL_BACKWARD_CG; kind <= DIL_BACKWARD_DENSE; kind++) {
            dil_options o = tight_options(kind);
            dil_info info;
            int st = dil_backward(M, p.b[BY], p.b[BX], p.b[BT], dl, gx, gt, &o, &info, rwork);
            ck_assert_msg(st == DIL_OK, "%s: dil_backward (%s): %s", M->name,
                          kind == DIL_BACKWARD_CG ? "CG" : "dense", dil_status_string(st));
            /* dl . y*(x, theta), differentiated through the solve */
            Probe pr = { PR_SOLVE_DOT, dl, p.b[BY] };
            check_ift(kind == DIL_BACKWARD_CG ? "dl.dy/dx (CG)" : "dl.dy/dx (dense)", gx, &pr,
                      &p, BX, 2000 + (unsigned)pt);
            if (kind == DIL_BACKWARD_CG || nt <= FULL_MAX)
                check_ift(kind == DIL_BACKWARD_CG ? "dl.dy/dtheta (CG)"
                                                  : "dl.dy/dtheta (dense)",
                          gt, &pr, &p, BT, 2100 + (unsigned)pt);
        }
        free(dl), free(gx), free(gt);
        point_free(&p);
    }
}
END_TEST

/* Residual models: Gauss-Newton finds the same root as Newton, and there
   (r = 0) the Hessian is J^T J. */
START_TEST(ift_residual)
{
    int ny = blen[BY], nr = M->nres;
    if (nr == 0)
        return;
    Point p = solved_point(2200);
    Point q = point_clone(&p);
    memset(q.b[BY], 0, (size_t)ny * sizeof(double));
    solve(&q, DIL_SOLVER_GAUSS_NEWTON);
    for (int i = 0; i < ny; i++)
        check_close("Gauss-Newton vs Newton y*", i, q.b[BY][i], p.b[BY][i], 1e-9,
                    vec_norm_inf(p.b[BY], ny));
    Rng r = rng_seed(2300);
    double *v = vec_new(ny), *hv = vec_new(ny), *jv = vec_new(nr), *jtjv = vec_new(ny);
    vec_random(&r, v, ny, 1.0);
    k_hvp(&p, v, hv);
    k_res_jvp_y(&p, v, jv);
    k_res_vjp(BY, &p, jv, jtjv);
    for (int i = 0; i < ny; i++)
        check_close("H v = J^T J v at the root", i, hv[i], jtjv[i], 1e-8,
                    vec_norm_inf(hv, ny));
    free(v), free(hv), free(jv), free(jtjv);
    point_free(&p);
    point_free(&q);
}
END_TEST

/* ------------------------------------------------------------------ */
/* (d) derivations by hand                                              */
/* ------------------------------------------------------------------ */

/* Offset of a declared symbol of a role, checking its size. */
static int sym_offset(const char *name, int role, int rows, int cols)
{
    for (int i = 0; i < M->nsymbols; i++) {
        const dil_symbol *s = &M->symbols[i];
        if (s->role == role && strcmp(s->name, name) == 0) {
            ck_assert_int_eq(s->shape[0], rows);
            ck_assert_int_eq(s->shape[1], cols);
            return s->offset;
        }
    }
    ck_abort_msg("%s: no symbol %s", M->name, name);
    return -1;
}

/*
 * Kepler: r = E - e sin E - M, f = r^2, L = (E - E_t)^2.
 *   df/dE      = 2 r (1 - e cos E)
 *   d2f/dE2    = 2 (1 - e cos E)^2 + 2 r e sin E
 *   d2f/dE de  = -2 sin E (1 - e cos E) - 2 r cos E
 *   d2f/dE dM  = -2 (1 - e cos E)
 * and at the root r = 0 (implicit differentiation of E - e sin E = M):
 *   dE/de = sin E / (1 - e cos E),  dE/dM = 1 / (1 - e cos E).
 */
static void hand_kepler(void)
{
    ck_assert(M->ny == 1 && M->nx == 1 && M->ntheta == 1 && M->ndata == 1);
    ck_assert_msg(M->theta_init[0] == 0.5, "kepler: default e = %g", M->theta_init[0]);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(2400 + (unsigned)pt);
        double E = p.b[BY][0] * 2, Mm = p.b[BX][0], e = p.b[BT][0], one = 1;
        p.b[BY][0] = E;
        double r = E - e * sin(E) - Mm, c = 1 - e * cos(E);
        double g, h, ox, ot;
        check_close("kepler f", 0, k_score(&p), r * r, 1e-13, 0);
        k_grad(&p, &g);
        check_close("kepler df/dE", 0, g, 2 * r * c, 1e-13, 1e-16);
        k_hvp(&p, &one, &h);
        check_close("kepler d2f/dE2", 0, h, 2 * c * c + 2 * r * e * sin(E), 1e-13, 1e-16);
        k_vjp_thetay(&p, &one, &ot);
        check_close("kepler d2f/dE de", 0, ot, -2 * sin(E) * c - 2 * r * cos(E), 1e-13, 1e-16);
        k_vjp_xy(&p, &one, &ox);
        check_close("kepler d2f/dE dM", 0, ox, -2 * c, 1e-13, 1e-16);
        double gy, gx, gt;
        k_loss_grad(&p, &gy, &gx, &gt);
        check_close("kepler dL/dE", 0, gy, 2 * (E - p.b[BD][0]), 1e-14, 1e-16);
        ck_assert(gx == 0 && gt == 0);
        point_free(&p);
    }

    /* The solve and the IFT, from E = 0. */
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = solved_point(2500 + (unsigned)pt);
        double E = p.b[BY][0], Mm = p.b[BX][0], e = p.b[BT][0], Et = p.b[BD][0];
        double c = 1 - e * cos(E);
        check_close("kepler E - e sin E = M", 0, E - e * sin(E), Mm, 1e-10, 1);
        double l, dx, dt, one = 1;
        int st = dil_loss_gradient(M, p.b[BY], p.b[BX], p.b[BT], p.b[BD], &l, &dx, &dt, NULL,
                                   NULL, rwork);
        ck_assert_int_eq(st, DIL_OK);
        check_close("kepler dL/de", 0, dt, 2 * (E - Et) * sin(E) / c, 1e-9, 1e-12);
        check_close("kepler dL/dM", 0, dx, 2 * (E - Et) / c, 1e-9, 1e-12);
        st = dil_backward(M, p.b[BY], p.b[BX], p.b[BT], &one, &dx, &dt, NULL, NULL, rwork);
        ck_assert_int_eq(st, DIL_OK);
        check_close("kepler dE/de", 0, dt, sin(E) / c, 1e-9, 1e-12);
        check_close("kepler dE/dM", 0, dx, 1 / c, 1e-9, 1e-12);
        point_free(&p);
    }
}

/* Dense helpers for the hand-built quadratic form, row-major. */
static double *mat_new(int r, int c)
{
    return vec_new(r * c);
}

/* Solves A z = b (n x n, A overwritten) by Gaussian elimination with
   partial pivoting; b becomes z. */
static void mat_solve(double *A, double *b, int n)
{
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[i * n + k]) > fabs(A[piv * n + k]))
                piv = i;
        ck_assert(A[piv * n + k] != 0);
        for (int j = 0; j < n; j++) {
            double t = A[k * n + j];
            A[k * n + j] = A[piv * n + j];
            A[piv * n + j] = t;
        }
        double t = b[k];
        b[k] = b[piv];
        b[piv] = t;
        for (int i = k + 1; i < n; i++) {
            double f = A[i * n + k] / A[k * n + k];
            for (int j = k; j < n; j++)
                A[i * n + j] -= f * A[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (int k = n - 1; k >= 0; k--) {
        for (int j = k + 1; j < n; j++)
            b[k] -= A[k * n + j] * b[j];
        b[k] /= A[k * n + k];
    }
}

/*
 * mpc_linear: x[t] = F_t x0 + G_t u with F_0 = I, G_0 = 0,
 * F_{t+1} = A F_t, G_{t+1} = A G_t + B E_t (E_t picks u[t]).  Then
 *   f = sum_{t=1..T} x[t]' Q x[t] + r |u|^2,  Q = diag(q), r = 2
 *     = 1/2 u' Hm u + b' u + c0,
 *   Hm = 2 (sum_t G_t' Q G_t + r I),  b = 2 sum_t G_t' Q F_t x0,
 *   d2f/du dx0 = 2 sum_t G_t' Q F_t,  u* = -Hm^{-1} b,
 *   d(u*)/dx0 = -Hm^{-1} 2 sum_t G_t' Q F_t,
 *   d(u*)/dq_i = -Hm^{-1} 2 sum_t G_t[i, :]' x[t]_i.
 */
static void hand_mpc(void)
{
    int T = 10, NX = 2, NU = 1, n = T * NU;
    const double rr = 2;
    ck_assert_int_eq(M->ny, n);
    int oA = sym_offset("A", DIL_ROLE_PARAM, NX, NX);
    int oB = sym_offset("B", DIL_ROLE_PARAM, NX, NU);
    int oq = sym_offset("q", DIL_ROLE_PARAM, NX, 1);
    int ox0 = sym_offset("x0", DIL_ROLE_INPUT, NX, 1);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = point_random(2600 + (unsigned)pt);
        const double *A = p.b[BT] + oA, *B = p.b[BT] + oB, *q = p.b[BT] + oq;
        const double *x0 = p.b[BX] + ox0, *u = p.b[BY];
        double *F = mat_new(NX, NX), *G = mat_new(NX, n), *F2 = mat_new(NX, NX),
               *G2 = mat_new(NX, n);
        double *Hm = mat_new(n, n), *b = vec_new(n), *Cx = mat_new(n, NX);
        double f = 0;
        for (int i = 0; i < NX; i++)
            F[i * NX + i] = 1;
        for (int t = 0; t < T; t++) {
            /* F, G <- A F, A G + B E_t */
            for (int i = 0; i < NX; i++) {
                for (int j = 0; j < NX; j++) {
                    double s = 0;
                    for (int k = 0; k < NX; k++)
                        s += A[i * NX + k] * F[k * NX + j];
                    F2[i * NX + j] = s;
                }
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int k = 0; k < NX; k++)
                        s += A[i * NX + k] * G[k * n + j];
                    G2[i * n + j] = s;
                }
                for (int j = 0; j < NU; j++)
                    G2[i * n + t * NU + j] += B[i * NU + j];
            }
            memcpy(F, F2, (size_t)(NX * NX) * sizeof *F);
            memcpy(G, G2, (size_t)(NX * n) * sizeof *G);
            /* x[t+1] and its contributions */
            for (int i = 0; i < NX; i++) {
                double xi = vec_dot(F + i * NX, x0, NX) + vec_dot(G + i * n, u, n);
                double fx = vec_dot(F + i * NX, x0, NX);
                f += q[i] * xi * xi;
                for (int a = 0; a < n; a++) {
                    for (int c = 0; c < n; c++)
                        Hm[a * n + c] += 2 * q[i] * G[i * n + a] * G[i * n + c];
                    b[a] += 2 * q[i] * G[i * n + a] * fx;
                    for (int j = 0; j < NX; j++)
                        Cx[a * NX + j] += 2 * q[i] * G[i * n + a] * F[i * NX + j];
                }
            }
        }
        f += rr * vec_dot(u, u, n);
        for (int a = 0; a < n; a++)
            Hm[a * n + a] += 2 * rr;

        /* score, gradient Hm u + b, Hessian, mixed product with x0 */
        check_close("mpc f", 0, k_score(&p), f, 1e-12, 0);
        double *g = vec_new(n), *e = vec_new(n), *hv = vec_new(n), *ox = vec_new(M->nx);
        k_grad(&p, g);
        for (int a = 0; a < n; a++)
            check_close("mpc df/du = Hm u + b", a, g[a], vec_dot(Hm + a * n, u, n) + b[a],
                        1e-12, vec_norm_inf(g, n));
        for (int c = 0; c < n; c++) {
            memset(e, 0, (size_t)n * sizeof *e);
            e[c] = 1;
            k_hvp(&p, e, hv);
            for (int a = 0; a < n; a++)
                check_close("mpc Hessian column", a * n + c, hv[a], Hm[a * n + c], 1e-12,
                            vec_norm_inf(Hm, n * n));
            k_vjp_xy(&p, e, ox);
            for (int j = 0; j < NX; j++)
                check_close("mpc d2f/du dx0 row", c * NX + j, ox[ox0 + j], Cx[c * NX + j],
                            1e-12, 1e-12);
        }

        /* u* = -Hm^{-1} b against the runtime's solve from u = 0 */
        Point s = point_clone(&p);
        memset(s.b[BY], 0, (size_t)n * sizeof(double));
        solve(&s, DIL_SOLVER_NEWTON);
        double *H2 = mat_new(n, n), *ustar = vec_new(n);
        memcpy(H2, Hm, (size_t)(n * n) * sizeof *H2);
        for (int a = 0; a < n; a++)
            ustar[a] = -b[a];
        mat_solve(H2, ustar, n);
        for (int a = 0; a < n; a++)
            check_close("mpc u*", a, s.b[BY][a], ustar[a], 1e-9, vec_norm_inf(ustar, n));

        /* dL/dx0 and dL/dq through the hand inverse: L = |u - u_t|^2.
           At u*, with z = Hm^{-1} dL/du: dL/dx0 = -Cx' z, dL/dq = -Cq' z
           (Cq evaluated at u*). */
        double *z = vec_new(n), *dx = vec_new(M->nx), *dth = vec_new(M->ntheta);
        for (int a = 0; a < n; a++)
            z[a] = 2 * (ustar[a] - s.b[BD][a]);
        memcpy(H2, Hm, (size_t)(n * n) * sizeof *H2);
        mat_solve(H2, z, n);
        double l;
        int st = dil_loss_gradient(M, s.b[BY], s.b[BX], s.b[BT], s.b[BD], &l, dx, dth, NULL,
                                   NULL, rwork);
        ck_assert_int_eq(st, DIL_OK);
        for (int j = 0; j < NX; j++) {
            double want = 0;
            for (int a = 0; a < n; a++)
                want -= Cx[a * NX + j] * z[a];
            check_close("mpc dL/dx0", j, dx[ox0 + j], want, 1e-8, vec_norm_inf(dx, M->nx));
        }
        /* Cq, column i: 2 sum_t G_t[i, :]' x[t]_i at u* */
        double *Cq = mat_new(n, NX);
        memset(F, 0, (size_t)(NX * NX) * sizeof *F);
        memset(G, 0, (size_t)(NX * n) * sizeof *G);
        for (int i = 0; i < NX; i++)
            F[i * NX + i] = 1;
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < NX; i++) {
                for (int j = 0; j < NX; j++) {
                    double sm = 0;
                    for (int k = 0; k < NX; k++)
                        sm += A[i * NX + k] * F[k * NX + j];
                    F2[i * NX + j] = sm;
                }
                for (int j = 0; j < n; j++) {
                    double sm = 0;
                    for (int k = 0; k < NX; k++)
                        sm += A[i * NX + k] * G[k * n + j];
                    G2[i * n + j] = sm;
                }
                for (int j = 0; j < NU; j++)
                    G2[i * n + t * NU + j] += B[i * NU + j];
            }
            memcpy(F, F2, (size_t)(NX * NX) * sizeof *F);
            memcpy(G, G2, (size_t)(NX * n) * sizeof *G);
            for (int i = 0; i < NX; i++) {
                double xi = vec_dot(F + i * NX, x0, NX) + vec_dot(G + i * n, ustar, n);
                for (int a = 0; a < n; a++)
                    Cq[a * NX + i] += 2 * G[i * n + a] * xi;
            }
        }
        for (int i = 0; i < NX; i++) {
            double want = 0;
            for (int a = 0; a < n; a++)
                want -= Cq[a * NX + i] * z[a];
            check_close("mpc dL/dq", i, dth[oq + i], want, 1e-8, vec_norm_inf(dth, M->ntheta));
        }

        free(F), free(G), free(F2), free(G2), free(Hm), free(b), free(Cx), free(Cq);
        free(g), free(e), free(hv), free(ox), free(H2), free(ustar), free(z), free(dx),
            free(dth);
        point_free(&s);
        point_free(&p);
    }
}

/*
 * Rosenbrock: f = (a - y0)^2 + b (y1 - y0^2)^2 has y* = (a, a^2) for any
 * b > 0, so for a caller's dl/dy:  dl/da = dl_0 + 2 a dl_1,  dl/db = 0.
 */
static void hand_rosenbrock(void)
{
    ck_assert(M->ny == 2 && M->nx == 0 && M->ntheta == 2 && M->ndata == 0 && !M->loss);
    int oa = sym_offset("a", DIL_ROLE_PARAM, 1, 1), ob = sym_offset("b", DIL_ROLE_PARAM, 1, 1);
    for (int pt = 0; pt < NPOINTS; pt++) {
        Point p = solved_point(2700 + (unsigned)pt);
        double a = p.b[BT][oa];
        check_close("rosenbrock y0* = a", 0, p.b[BY][0], a, 1e-9, 1);
        check_close("rosenbrock y1* = a^2", 0, p.b[BY][1], a * a, 1e-9, 1);
        Rng r = rng_seed(2800 + (unsigned)pt);
        double dl[2], dth[2];
        vec_random(&r, dl, 2, 1.0);
        int st = dil_backward(M, p.b[BY], NULL, p.b[BT], dl, NULL, dth, NULL, NULL, rwork);
        ck_assert_int_eq(st, DIL_OK);
        check_close("rosenbrock dl/da", 0, dth[oa], dl[0] + 2 * a * dl[1], 1e-8, 1);
        check_close("rosenbrock dl/db", 0, dth[ob], 0, 1e-8, 1);
        point_free(&p);
    }
}

START_TEST(by_hand)
{
    if (strcmp(M->name, "kepler") == 0)
        hand_kepler();
    else if (strcmp(M->name, "mpc_linear") == 0)
        hand_mpc();
    else if (strcmp(M->name, "rosenbrock") == 0)
        hand_rosenbrock();
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *model_suite(void)
{
    Suite *s = suite_create(STR(MODEL_NAME));
    TCase *tc = tcase_create("kernels");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, descriptor);
    tcase_add_test(tc, score_derivatives);
    tcase_add_test(tc, loss_derivatives);
    tcase_add_test(tc, residual_derivatives);
    tcase_add_test(tc, reference);
    tcase_add_test(tc, apply_kernels);
    tcase_add_test(tc, fused_kernels);
    tcase_add_test(tc, fused_runtime);
    suite_add_tcase(s, tc);
    tc = tcase_create("implicit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ift_loss);
    tcase_add_test(tc, batch_sum);
    tcase_add_test(tc, solve_step);
    tcase_add_test(tc, ift_backward);
    tcase_add_test(tc, ift_residual);
    tcase_add_test(tc, by_hand);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
