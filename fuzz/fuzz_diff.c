/*
 * fuzz_diff.c - differential libFuzzer target: what dilc emits must
 * compile, link and compute what the model says.
 *
 * For each input that the compiler accepts (the same phases as dilc_run,
 * here step by step so that the model's IR is still alive afterwards):
 *
 *   1. the emitted .c and .h are written to a private temporary directory
 *      and compiled, by fork+exec of the C compiler ($DIL_FUZZ_CC, else
 *      cc), into a shared object with -std=c99 -Wall -Wextra -Wpedantic
 *      -Werror: a warning or an error is a finding;
 *   2. the shared object is loaded with dlopen and its descriptor found
 *      by name (PREFIX_model); the sizes in it must be the model's, and
 *      theta_init must hold each parameter's default exactly;
 *   3. every kernel is called at random points (work filled with NaN
 *      first, so reading scratch that was never written shows) and
 *      compared with the hyper-dual reference evaluator of tests/support
 *      run on the model's IR: f, u.grad, v.grad, u^T H v, w^T (d2f/dy dx)
 *      ux, w^T (d2f/dy dtheta) ut, the loss and its gradient along
 *      (u, ux, ut), r, J_y v and w_r.J_b u_b.
 *
 * Random expressions can be badly conditioned (exp(exp(y)) - exp(exp(y)))
 * so that two correct evaluation orders differ by far more than rounding.
 * Each reference quantity is therefore also evaluated at a point moved by
 * a relative 1e-9; the tolerance is 1e-7 of the quantity's scale plus
 * 1e-3 of that change (rounding acts like a perturbation of about 1e-16,
 * so a correct kernel is within 1e-7 of the change; the margin is 1e4).
 * A value that is not finite on either side is skipped, as are models
 * too large to evaluate quickly (more than MAX_EVAL elements in a block
 * or the scratch) or to compile quickly (more than MAX_C_BYTES of C, or
 * $DIL_FUZZ_MAX_C bytes).
 * A mismatch prints the quantity, both values and the tolerance, then
 * aborts, so libFuzzer keeps the input.  Built by `make fuzz-diff`.
 */
#include "dilc.h"

#include "driver.h"
#include "refeval.h"

#include "dil_model.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DIL_RUNTIME_DIR
#define DIL_RUNTIME_DIR "runtime"
#endif

#define MAX_EVAL 4096             /* elements per block, and of scratch */
#define MAX_IR_ELEMS 2000000L     /* elements over all nodes the reference visits */
#define MAX_C_BYTES (2L << 20)    /* emitted C compiled at most */
#define NPOINTS 2
#define RTOL 1e-7
#define PERTURB 1e-9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char tmpdir[64];
static unsigned long serial;
static FILE *devnull;

/* Every input removes its files; the directory goes at exit. */
static void remove_tmpdir(void)
{
    rmdir(tmpdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    strcpy(tmpdir, "/tmp/dil-fuzz-diff-XXXXXX");
    if (!mkdtemp(tmpdir))
        abort();
    atexit(remove_tmpdir);
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Compiling and loading the emitted C                                  */
/* ------------------------------------------------------------------ */

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_diff: cannot write %s\n", path);
        abort();
    }
}

/* cc ... -o so c; 0 when it compiled without a diagnostic, -1 when the
   compiler reported one, 1 when it was killed (memory on a shared
   machine: not the emitted code's fault, and not a finding). */
static int run_cc_once(const char *c, const char *so, const char *log)
{
    const char *cc = getenv("DIL_FUZZ_CC");
    if (!cc || !*cc)
        cc = "cc";
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        execlp(cc, cc, "-std=c99", "-O1", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
               "-fPIC", "-shared", "-I" DIL_RUNTIME_DIR, "-I", tmpdir, "-o", so, c, "-lm",
               (char *)NULL);
        _exit(127);
    }
    int st;
    /* libFuzzer's timer signal interrupts the wait (EINTR): an abort here
       once made every compile longer than a second a "crash". */
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            abort();
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        return 1;
    /* gcc reports a killed cc1 as an error of its own. */
    FILE *f = fopen(log, "r");
    char line[512];
    int killed = 0;
    while (f && fgets(line, sizeof line, f))
        killed |= strstr(line, "Killed signal") != NULL || strstr(line, "terminated program") != NULL;
    if (f)
        fclose(f);
    return killed ? 1 : -1;
}

static int run_cc(const char *c, const char *so, const char *log)
{
    int st = run_cc_once(c, so, log);
    if (st == 1)
        st = run_cc_once(c, so, log);   /* once more, then give up */
    if (st == 1)
        fprintf(stderr, "fuzz_diff: the C compiler was killed twice; input skipped\n");
    return st;
}

/* A finding also goes to $DIL_FUZZ_FINDINGS (fork mode keeps no job's
   output): the reason, then the input. */
static void record_finding(const char *why, const uint8_t *data, size_t size)
{
    const char *path = getenv("DIL_FUZZ_FINDINGS");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    fprintf(f, "=== %s\n", why);
    fwrite(data, 1, size, f);
    fputs("\n=== end\n", f);
    fclose(f);
}

static void show_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[4096];
    size_t n;
    int lines = 0;
    while (lines < 40 && fgets(buf, sizeof buf, f)) {
        fputs(buf, stderr);
        lines++;
    }
    (void)n;
    fclose(f);
}

/* ------------------------------------------------------------------ */
/* Points and comparisons                                               */
/* ------------------------------------------------------------------ */

static unsigned long long rng;

static double uniform(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static double *vec(int n)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (!v)
        abort();
    return v;
}

static double *rand_vec(int n)
{
    double *v = vec(n);
    for (int i = 0; i < n; i++)
        v[i] = uniform();
    return v;
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static double absdot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += fabs(a[i] * b[i]);
    return s;
}

typedef struct Ctx {
    const Model *m;
    const dil_model *d;
    const uint8_t *input;
    size_t size;
    double *blk[BLK__COUNT];     /* the point: y, x, theta, data (v, w unused) */
    double *blk2[BLK__COUNT];    /* the point moved by PERTURB */
    double *zeros;
    double *work;
    int len[BLK__COUNT];
    int checked, skipped;
} Ctx;

static void mismatch(const Ctx *c, const char *what, double got, double want, double tol)
{
    fprintf(stderr, "fuzz_diff: MISMATCH in model '%s': %s: kernel %.17g, reference %.17g, "
            "tolerance %.3g\n--- input ---\n",
            c->m->name, what, got, want, tol);
    fwrite(c->input, 1, c->size, stderr);
    fputs("\n--- end ---\n", stderr);
    char why[256];
    snprintf(why, sizeof why, "mismatch: %s: kernel %.17g, reference %.17g", what, got, want);
    record_finding(why, c->input, c->size);
    abort();
}

/* got (kernel) against want (reference at the point) and want2 (at the
   moved point), `scale` the size of the terms that make up want. */
static void compare(Ctx *c, const char *what, double got, double want, double want2,
                    double scale)
{
    if (!isfinite(got) || !isfinite(want) || !isfinite(want2) || !isfinite(scale) ||
        fabs(want) > 1e100 || scale > 1e100) {
        c->skipped++;
        return;
    }
    double tol = RTOL * fmax(fmax(fabs(want), scale), 1e-300) + 1e-3 * fabs(want2 - want) +
                 1e-280;
    c->checked++;
    if (fabs(got - want) > tol)
        mismatch(c, what, got, want, tol);
}

/* A hyper-dual evaluation of root at the point (moved or not), the first
   derivative along the blocks d1 (NULL entries: zero), the second along
   d2.  NULL when the reference cannot evaluate it (reported as skipped). */
static hdual *ref(Ctx *c, Node *root, int moved, double *const d1[BLK__COUNT],
                  double *const d2[BLK__COUNT])
{
    const double *blocks[BLK__COUNT], *dir1[BLK__COUNT], *dir2[BLK__COUNT];
    for (int b = 0; b < BLK__COUNT; b++) {
        blocks[b] = moved ? c->blk2[b] : c->blk[b];
        dir1[b] = d1 && d1[b] ? d1[b] : c->zeros;
        dir2[b] = d2 && d2[b] ? d2[b] : c->zeros;
    }
    hdual *out = calloc((size_t)ir_size(root), sizeof *out);
    if (!out)
        abort();
    if (refeval_hd(root, blocks, dir1, dir2, out) != 0) {
        fprintf(stderr, "fuzz_diff: reference cannot evaluate: %s\n", refeval_error());
        abort();          /* the IR the compiler built is inconsistent */
    }
    return out;
}

static void poison(Ctx *c)
{
    for (size_t i = 0; i < c->d->work_size; i++)
        c->work[i] = NAN;
}

#define Y(c) (c)->blk[BLK_Y]
#define X(c) (c)->blk[BLK_X]
#define T(c) (c)->blk[BLK_THETA]
#define D(c) (c)->blk[BLK_DATA]

static void check_score(Ctx *c, double *u, double *v, double *w, double *ux, double *ut)
{
    const dil_model *d = c->d;
    int ny = c->len[BLK_Y], nx = c->len[BLK_X], nt = c->len[BLK_THETA];
    double *g = vec(ny), *hv = vec(ny), *ox = vec(nx), *ot = vec(nt);
    double *du[BLK__COUNT] = {u}, *dv[BLK__COUNT] = {v}, *dw[BLK__COUNT] = {w};
    double *dx[BLK__COUNT] = {0}, *dt[BLK__COUNT] = {0};
    dx[BLK_X] = ux;
    dt[BLK_THETA] = ut;
    hdual *h = ref(c, c->m->score, 0, du, dv), *h2 = ref(c, c->m->score, 1, du, dv);
    poison(c);
    double f = d->score(Y(c), X(c), T(c), c->work);
    poison(c);
    d->score_grad_y(Y(c), X(c), T(c), g, c->work);
    poison(c);
    d->score_hvp_yy(Y(c), X(c), T(c), v, hv, c->work);
    compare(c, "score", f, h->f, h2->f, 0);
    compare(c, "u.score_grad_y", dot(u, g, ny), h->e1, h2->e1, absdot(u, g, ny));
    compare(c, "v.score_grad_y", dot(v, g, ny), h->e2, h2->e2, absdot(v, g, ny));
    compare(c, "u.score_hvp_yy(v)", dot(u, hv, ny), h->e12, h2->e12, absdot(u, hv, ny));
    free(h);
    free(h2);
    if (nx > 0) {
        h = ref(c, c->m->score, 0, dw, dx);
        h2 = ref(c, c->m->score, 1, dw, dx);
        poison(c);
        d->score_vjp_xy(Y(c), X(c), T(c), w, ox, c->work);
        compare(c, "ux.score_vjp_xy(w)", dot(ux, ox, nx), h->e12, h2->e12, absdot(ux, ox, nx));
        free(h);
        free(h2);
    }
    if (nt > 0) {
        h = ref(c, c->m->score, 0, dw, dt);
        h2 = ref(c, c->m->score, 1, dw, dt);
        poison(c);
        d->score_vjp_thetay(Y(c), X(c), T(c), w, ot, c->work);
        compare(c, "ut.score_vjp_thetay(w)", dot(ut, ot, nt), h->e12, h2->e12,
                absdot(ut, ot, nt));
        free(h);
        free(h2);
    }
    free(g);
    free(hv);
    free(ox);
    free(ot);
}

static void check_loss(Ctx *c, double *u, double *ux, double *ut)
{
    const dil_model *d = c->d;
    int ny = c->len[BLK_Y], nx = c->len[BLK_X], nt = c->len[BLK_THETA];
    double *gy = vec(ny), *gx = vec(nx), *gt = vec(nt);
    double *all[BLK__COUNT] = {0};
    all[BLK_Y] = u;
    all[BLK_X] = ux;
    all[BLK_THETA] = ut;
    hdual *h = ref(c, c->m->loss, 0, all, NULL), *h2 = ref(c, c->m->loss, 1, all, NULL);
    poison(c);
    double l = d->loss(Y(c), X(c), T(c), D(c), c->work);
    poison(c);
    d->loss_grad(Y(c), X(c), T(c), D(c), gy, gx, gt, c->work);
    compare(c, "loss", l, h->f, h2->f, 0);
    compare(c, "loss_grad along (u, ux, ut)", dot(u, gy, ny) + dot(ux, gx, nx) + dot(ut, gt, nt),
            h->e1, h2->e1, absdot(u, gy, ny) + absdot(ux, gx, nx) + absdot(ut, gt, nt));
    free(h);
    free(h2);
    free(gy);
    free(gx);
    free(gt);
}

static void check_residual(Ctx *c, double *v, double *dirs[3])
{
    const dil_model *d = c->d;
    int nr = d->nres;
    double *r = vec(nr), *jv = vec(nr), *wr = rand_vec(nr);
    double *dv[BLK__COUNT] = {v};
    hdual *h = ref(c, c->m->residual, 0, dv, NULL), *h2 = ref(c, c->m->residual, 1, dv, NULL);
    poison(c);
    d->residual(Y(c), X(c), T(c), r, c->work);
    poison(c);
    d->residual_jvp_y(Y(c), X(c), T(c), v, jv, c->work);
    for (int i = 0; i < nr; i++) {
        compare(c, "residual", r[i], h[i].f, h2[i].f, 0);
        compare(c, "residual_jvp_y", jv[i], h[i].e1, h2[i].e1, 0);
    }
    free(h);
    free(h2);
    static const Block blocks[3] = {BLK_Y, BLK_X, BLK_THETA};
    static const char *const names[3] = {"w.residual_vjp_y", "w.residual_vjp_x",
                                         "w.residual_vjp_theta"};
    for (int k = 0; k < 3; k++) {
        int len = c->len[blocks[k]];
        if (len == 0)
            continue;
        double *db[BLK__COUNT] = {0};
        db[blocks[k]] = dirs[k];
        h = ref(c, c->m->residual, 0, db, NULL);
        h2 = ref(c, c->m->residual, 1, db, NULL);
        double s = 0, s2 = 0, sa = 0;
        for (int i = 0; i < nr; i++) {
            s += wr[i] * h[i].e1;
            s2 += wr[i] * h2[i].e1;
            sa += fabs(wr[i] * h[i].e1);
        }
        double *out = vec(len);
        poison(c);
        void (*fn)(const double *, const double *, const double *, const double *, double *,
                   double *) = k == 0   ? d->residual_vjp_y
                               : k == 1 ? d->residual_vjp_x
                                        : d->residual_vjp_theta;
        fn(Y(c), X(c), T(c), wr, out, c->work);
        compare(c, names[k], dot(dirs[k], out, len), s, s2, sa + absdot(dirs[k], out, len));
        free(out);
        free(h);
        free(h2);
    }
    free(r);
    free(jv);
    free(wr);
}

/* The descriptor against the model. */
static void check_descriptor(Ctx *c)
{
    const Model *m = c->m;
    const dil_model *d = c->d;
    if (d->ny != m->ny || d->nx != m->nx || d->ntheta != m->ntheta || d->ndata != m->ndata ||
        d->nres != m->nres || d->nsymbols != m->nsyms || strcmp(d->name, m->name) != 0) {
        fprintf(stderr, "fuzz_diff: descriptor sizes differ from the model\n");
        abort();
    }
    if ((m->loss != NULL) != (d->loss != NULL) || (m->nres > 0) != (d->residual != NULL)) {
        fprintf(stderr, "fuzz_diff: descriptor kernels do not match the model\n");
        abort();
    }
    for (int i = 0; i < m->nsyms; i++) {
        const Symbol *s = &m->syms[i];
        if (s->role != ROLE_PARAM)
            continue;
        double want = 0;
        if (s->init && rat_to_double(s->init, &want) != 0)
            abort();
        for (long e = 0; e < (long)s->rows * s->cols; e++)
            if (d->theta_init[s->offset + e] != want) {
                fprintf(stderr, "fuzz_diff: theta_init[%ld] of '%s' is %.17g, not %.17g\n",
                        (long)s->offset + e, s->name, d->theta_init[s->offset + e], want);
                abort();
            }
    }
}

/* Elements the reference visits in one evaluation of root. */
static long ir_elems(Node *root)
{
    if (!root)
        return 0;
    Node **order;
    int n = ir_topo(&root, 1, &order);
    long s = 0;
    for (int i = 0; i < n; i++)
        s += ir_size(order[i]);
    return s;
}

static void check_kernels(Ctx *c)
{
    const Model *m = c->m;
    c->len[BLK_Y] = m->ny;
    c->len[BLK_X] = m->nx;
    c->len[BLK_THETA] = m->ntheta;
    c->len[BLK_DATA] = m->ndata;
    int zn = m->ny + m->nx + m->ntheta + m->ndata + m->nres + 1;
    c->zeros = vec(zn);
    c->work = vec(c->d->work_size > 0 ? (int)c->d->work_size : 1);
    for (int pt = 0; pt < NPOINTS; pt++) {
        for (int b = 0; b < BLK__COUNT; b++) {
            c->blk[b] = rand_vec(c->len[b] > 0 ? c->len[b] : 1);
            c->blk2[b] = vec(c->len[b] > 0 ? c->len[b] : 1);
            for (int i = 0; i < c->len[b]; i++)
                c->blk2[b][i] = c->blk[b][i] * (1 + PERTURB * uniform());
        }
        double *u = rand_vec(m->ny), *v = rand_vec(m->ny), *w = rand_vec(m->ny);
        double *ux = rand_vec(m->nx), *ut = rand_vec(m->ntheta);
        check_score(c, u, v, w, ux, ut);
        if (m->loss)
            check_loss(c, u, ux, ut);
        if (m->nres > 0) {
            double *dirs[3] = {u, ux, ut};
            check_residual(c, v, dirs);
        }
        free(u);
        free(v);
        free(w);
        free(ux);
        free(ut);
        for (int b = 0; b < BLK__COUNT; b++) {
            free(c->blk[b]);
            free(c->blk2[b]);
        }
    }
    free(c->zeros);
    free(c->work);
}

/* ------------------------------------------------------------------ */
/* One input                                                            */
/* ------------------------------------------------------------------ */

static void differential(const Model *m, const char *ctext, size_t clen, const char *htext,
                         size_t hlen, const char *prefix, const uint8_t *data, size_t size)
{
    char c[128], h[128], so[128], log[128];
    unsigned long id = serial++;
    snprintf(c, sizeof c, "%s/m%lu.c", tmpdir, id);
    snprintf(h, sizeof h, "%s/m%lu.h", tmpdir, id);
    snprintf(so, sizeof so, "%s/m%lu.so", tmpdir, id);
    snprintf(log, sizeof log, "%s/m%lu.log", tmpdir, id);
    write_file(c, ctext, clen);
    write_file(h, htext, hlen);
    int cc = run_cc(c, so, log);
    if (cc == 1) {
        remove(c);
        remove(h);
        remove(log);
        return;
    }
    if (cc != 0) {
        fprintf(stderr, "fuzz_diff: the emitted C of model '%s' does not compile cleanly:\n",
                m->name);
        show_file(log);
        record_finding("emitted C does not compile", data, size);
        fputs("--- input ---\n", stderr);
        fwrite(data, 1, size, stderr);
        fputs("\n--- end ---\n", stderr);
        abort();
    }
    void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "fuzz_diff: dlopen: %s\n", dlerror());
        abort();
    }
    char sym[300];
    snprintf(sym, sizeof sym, "%s_model", prefix);
    const dil_model *d = dlsym(lib, sym);
    if (!d) {
        fprintf(stderr, "fuzz_diff: no %s in the emitted code\n", sym);
        abort();
    }
    Ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.m = m;
    ctx.d = d;
    ctx.input = data;
    ctx.size = size;
    check_descriptor(&ctx);
    int small = m->ny <= MAX_EVAL && m->nx <= MAX_EVAL && m->ntheta <= MAX_EVAL &&
                m->ndata <= MAX_EVAL && m->nres <= MAX_EVAL && d->work_size <= MAX_EVAL &&
                ir_elems(m->score) + ir_elems(m->loss) + ir_elems(m->residual) <= MAX_IR_ELEMS;
    if (small)
        check_kernels(&ctx);
    if (getenv("DIL_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_diff: model '%s': %d comparisons, %d skipped%s\n", m->name,
                ctx.checked, ctx.skipped, small ? "" : " (too large to evaluate)");
    dlclose(lib);
    remove(c);
    remove(h);
    remove(so);
    remove(log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    /* Points depend on the input only, so a finding reproduces. */
    rng = 88172645463325252ULL;
    for (size_t i = 0; i < size; i++)
        rng = (rng ^ data[i]) * 1099511628211ULL;

    SrcFile src = {"fuzz.dil", text, size};
    ir_init();
    diag_init(&src, devnull);
    Decl *decls = parse_file(&src);
    Model *m = diag_errors() ? NULL : sema_model(decls);
    Kernels *ks = m && !diag_errors() ? kern_derive(m) : NULL;
    if (ks) {
        char *ctext = NULL, *htext = NULL;
        size_t clen = 0, hlen = 0;
        FILE *cf = open_memstream(&ctext, &clen), *hf = open_memstream(&htext, &hlen);
        if (!cf || !hf)
            abort();
        char header[64];
        snprintf(header, sizeof header, "m%lu.h", serial);
        EmitOptions eo = {m->name, header, "fuzz.dil"};
        Schedule *sc = schedule_build(ks);
        int bad = emit_c(cf, m, sc, &eo) != 0 || emit_h(hf, m, sc, &eo) != 0;
        fclose(cf);
        fclose(hf);
        if (bad)
            abort();
        const char *cap = getenv("DIL_FUZZ_MAX_C");
        if (clen <= (cap ? (size_t)atol(cap) : (size_t)MAX_C_BYTES))
            differential(m, ctext, clen, htext, hlen, m->name, data, size);
        free(ctext);
        free(htext);
    }
    arena_release();
    free(text);
    return 0;
}

#ifdef DIL_FUZZ_REPLAY
/* Without libFuzzer (tests/golden/fuzz_diff_replay.sh): each file named
   on the command line is one input. */
int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        size_t cap = 1 << 16, n = 0;
        uint8_t *buf = malloc(cap);
        size_t got;
        while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0)
            if ((n += got) == cap)
                buf = realloc(buf, cap *= 2);
        fclose(f);
        if (!buf)
            return 2;
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    return 0;
}
#endif
