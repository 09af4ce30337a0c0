/*
 * fuzz_diff.c - differential libFuzzer target: what dilc emits must
 * compile, link and compute what the model says.
 *
 * Each input is compiled by dilc_run exactly as dilc compiles a file (the
 * same limits and diagnostics, the IR verifier on, --unroll for one input
 * in eight); for each input it accepts, driver.c's `emitted` hook runs
 * while the model's IR is still alive:
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
 * too large to evaluate quickly (more than MAX_EVAL elements in a block,
 * MAX_WORK of scratch, or MAX_IR_ELEMS of reference work, ir_cost) or
 * to compile quickly (more than MAX_C_BYTES of C, or
 * $DIL_FUZZ_MAX_C bytes).
 * A mismatch prints the quantity, both values and the tolerance, then
 * aborts, so libFuzzer keeps the input.  So does any other finding, and
 * an input that uses up its CPU budget (cpu_budget_start) or whose C the
 * C compiler cannot compile within its own (run_cc_once).  Built by
 * `make fuzz-diff`, with the grammar-aware mutator of mutate.c.
 */
#include "dilc.h"

#include "driver.h"
#include "mutate.h"
#include "refeval.h"

#include "dil_model.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DIL_RUNTIME_DIR
#define DIL_RUNTIME_DIR "runtime"
#endif

#define MAX_EVAL 4096             /* elements per block */
#define MAX_WORK (1L << 20)       /* doubles of scratch (filled with NaN per call) */
#define MAX_IR_ELEMS 2000000L     /* elements over all nodes the reference visits */
#define MAX_C_BYTES (2L << 20)    /* emitted C compiled at most */
#define MAX_C_O1 (256L << 10)     /* ... and at -O1 (above: -O0, see run_cc_once) */
#define CPU_BUDGET 60             /* CPU seconds for one input in this process */
#define CC_CPU_BUDGET 60          /* CPU seconds for one run of the C compiler */
#define NPOINTS 2
#define RTOL 1e-7
#define PERTURB 1e-9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char tmpdir[64];
static unsigned long serial;
static FILE *devnull;
static int findings_fd = -1, stats_fd = -1;

/* What became of the inputs this process ran (DIL_FUZZ_STATS). */
static struct {
    long accepted;    /* dilc accepted the model and emitted C */
    long too_big;     /* ... more than MAX_C_BYTES of it: not compiled */
    long compiled;    /* the C compiled without a diagnostic and loaded */
    long checked;     /* at least one kernel value compared with the reference */
    long comparisons; /* values compared in all */
} stats;

#ifndef DIL_FUZZ_REPLAY
static int front_end_accepts(const uint8_t *data, size_t size);
#endif

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : dflt;
}

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
    /* The verifier between the passes is one more oracle (driver.c). */
    setenv("DILC_VERIFY", "1", 1);
#ifndef DIL_FUZZ_REPLAY
    mutate_accepts = front_end_accepts;
#endif
    const char *path = getenv("DIL_FUZZ_FINDINGS");
    if (path && *path)
        findings_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    path = getenv("DIL_FUZZ_STATS");
    if (path && *path)
        stats_fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    return 0;
}

/* One line per accepted input, appended in one write (fork mode's jobs
   share the file): accepted, compiled, checked (0 or 1) and comparisons,
   so that `make fuzz-diff` can say how many inputs reached the kernel
   check (scripts: awk over the file). */
static long last_compiled, last_checked, last_comparisons, last_too_big;
static void stats_line(void)
{
    char line[128];
    int n = snprintf(line, sizeof line, "accepted 1 too_big %ld compiled %ld checked %ld comparisons %ld\n",
                     stats.too_big - last_too_big, stats.compiled - last_compiled,
                     stats.checked - last_checked, stats.comparisons - last_comparisons);
    last_too_big = stats.too_big;
    last_compiled = stats.compiled;
    last_checked = stats.checked;
    last_comparisons = stats.comparisons;
    if (stats_fd >= 0 && write(stats_fd, line, (size_t)n) != n)
        abort();
}

/* ------------------------------------------------------------------ */
/* CPU budgets                                                          */
/* ------------------------------------------------------------------ */

/* libFuzzer's -timeout is wall-clock time, which on a shared machine at
   nice 19 says more about the load than about the input.  So each input
   gets a budget of CPU time instead (ITIMER_PROF counts this process's
   user and system time only): compiling the model, checking the kernels
   and running them.  The slowest legitimate inputs measured take about
   10 s under ASan (the seeds at the node limits), so the default budget,
   $DIL_FUZZ_CPU or CPU_BUDGET seconds, is six times that, while a real
   hang (a loop that never ends) uses CPU and is caught.  The Makefile
   keeps a long wall-clock -timeout for a hang that sleeps or blocks.
   The C compiler, a child, has its own budget (RLIMIT_CPU, run_cc_once). */
static const uint8_t *cur_data;
static size_t cur_size;

static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

/* A signal handler: only write(2) and abort(). */
static void cpu_timeout(int sig)
{
    static const char msg[] = "fuzz_diff: TIMEOUT: the input used up its CPU budget "
                              "(DIL_FUZZ_CPU)\n";
    (void)sig;
    write_all(2, msg, sizeof msg - 1);
    if (findings_fd >= 0) {
        static const char head[] = "=== timeout: CPU budget used up\n", tail[] = "\n=== end\n";
        write_all(findings_fd, head, sizeof head - 1);
        write_all(findings_fd, cur_data, cur_size);
        write_all(findings_fd, tail, sizeof tail - 1);
    }
    abort();
}

static void cpu_budget_start(const uint8_t *data, size_t size)
{
    cur_data = data;
    cur_size = size;
    static int installed;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cpu_timeout;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGPROF, &sa, NULL) != 0)
            abort();
        installed = 1;
    }
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = env_long("DIL_FUZZ_CPU", CPU_BUDGET);
    if (setitimer(ITIMER_PROF, &it, NULL) != 0)
        abort();
}

static void cpu_budget_stop(void)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
}

#ifndef DIL_FUZZ_REPLAY
/* The mutator's filter (mutate.h): dilc --check accepts the mutant.  A
   mutant that hangs the front end here is a finding like any other, so
   the check has the same CPU budget as an input. */
static int front_end_accepts(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    SrcFile src = {"fuzz.dil", text, size};
    DriverOptions o;
    memset(&o, 0, sizeof o);
    o.check_only = 1;
    cpu_budget_start(data, size);
    int st = dilc_run(&src, &o, devnull);
    cpu_budget_stop();
    free(text);
    return st == 0;
}
#endif

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
   machine: not the emitted code's fault, and not a finding), 2 when it
   used up its CPU budget ($DIL_FUZZ_CC_CPU or CC_CPU_BUDGET seconds per
   process, RLIMIT_CPU, inherited by cc1).  gcc -O1 takes 5 s of CPU on
   256 KB of emitted C and over a minute (and 1.8 GB) on 2.4 MB, -O0 9 s
   and 0.4 GB on 2.4 MB (models/cartpole_nmpc.dil with --unroll), so C up
   to MAX_C_O1 bytes is compiled at -O1 and larger C at -O0: any accepted
   model's C then compiles well within the budget.  -DDIL_NO_CLONES: one
   version of each kernel (compiler/emit.c, "target_clones"), half the
   compile time; at -O1 and -O0 the AVX2 version vectorises nothing, and
   tests/golden/clones.sh checks that the two give the same bits. */
static int run_cc_once(const char *c, size_t clen, const char *so, const char *log)
{
    const char *cc = getenv("DIL_FUZZ_CC");
    if (!cc || !*cc)
        cc = "cc";
    long budget = env_long("DIL_FUZZ_CC_CPU", CC_CPU_BUDGET);
    const char *opt = clen <= (size_t)MAX_C_O1 ? "-O1" : "-O0";
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        FILE *l = freopen(log, "w", stderr);
        (void)l;
        struct rlimit rl = {(rlim_t)budget, (rlim_t)budget + 5};
        setrlimit(RLIMIT_CPU, &rl);
        execlp(cc, cc, "-std=c99", opt, "-DDIL_NO_CLONES", "-Wall", "-Wextra", "-Wpedantic",
               "-Werror", "-fPIC", "-shared", "-I" DIL_RUNTIME_DIR, "-I", tmpdir, "-o", so, c, "-lm",
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
        return WTERMSIG(st) == SIGXCPU ? 2 : 1;
    /* gcc reports a killed cc1 as an error of its own. */
    FILE *f = fopen(log, "r");
    char line[512];
    int killed = 0, cpu = 0;
    while (f && fgets(line, sizeof line, f)) {
        killed |= strstr(line, "Killed signal") != NULL || strstr(line, "terminated program") != NULL;
        cpu |= strstr(line, "CPU time limit") != NULL;
    }
    if (f)
        fclose(f);
    return cpu ? 2 : killed ? 1 : -1;
}

static int run_cc(const char *c, size_t clen, const char *so, const char *log)
{
    int st = run_cc_once(c, clen, so, log);
    if (st == 1)
        st = run_cc_once(c, clen, so, log);   /* once more, then give up */
    if (st == 1)
        fprintf(stderr, "fuzz_diff: the C compiler was killed twice; input skipped\n");
    return st;
}

/* A finding also goes to $DIL_FUZZ_FINDINGS (fork mode keeps no job's
   output): the reason, then the input. */
static void record_finding(const char *why, const uint8_t *data, size_t size)
{
    if (findings_fd < 0)
        return;
    char head[300];
    int n = snprintf(head, sizeof head, "=== %s\n", why);
    write_all(findings_fd, head, (size_t)(n < (int)sizeof head ? n : (int)sizeof head - 1));
    write_all(findings_fd, data, size);
    write_all(findings_fd, "\n=== end\n", 9);
}

/* A finding other than a mismatch: recorded, then the abort libFuzzer
   keeps the input for. */
static void fail(const char *why)
{
    record_finding(why, cur_data, cur_size);
    abort();
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
        /* The IR the compiler built is inconsistent. */
        fail("the reference cannot evaluate the IR");
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
        fail("descriptor sizes differ from the model");
    }
    if ((m->loss != NULL) != (d->loss != NULL) || (m->nres > 0) != (d->residual != NULL)) {
        fprintf(stderr, "fuzz_diff: descriptor kernels do not match the model\n");
        fail("descriptor kernels do not match the model");
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
                fail("theta_init differs from the defaults");
            }
    }
}

/* Work of one reference evaluation of root, in hyper-dual elements: a
   node in a rolled loop's body is evaluated once per step, and each step
   scans the whole evaluation order (refeval.c's eval_loop). */
static long ir_cost(Node *root)
{
    if (!root)
        return 0;
    Node **order;
    int n = ir_topo(&root, 1, &order);
    long s = 0;
    for (int i = 0; i < n; i++) {
        long steps = order[i]->in ? order[i]->in->hi - order[i]->in->lo : 1;
        s += ir_size(order[i]) * (steps > 0 ? steps : 1);
        if (order[i]->op == OP_LOOP)
            s += (order[i]->loop->hi - order[i]->loop->lo) * (long)n;
        if (s > MAX_IR_ELEMS)
            return s;
    }
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
    int cc = run_cc(c, clen, so, log);
    if (cc == 2) {
        fprintf(stderr, "fuzz_diff: TIMEOUT: the C compiler used up its CPU budget "
                "(DIL_FUZZ_CC_CPU) on the %zu bytes of model '%s'\n", clen, m->name);
        record_finding("timeout: the C compiler used up its CPU budget", data, size);
        abort();
    }
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
        fail("dlopen failed");
    }
    void *lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "fuzz_diff: dlopen: %s\n", dlerror());
        fail("no descriptor in the emitted code");
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
    stats.compiled++;
    int small = m->ny <= MAX_EVAL && m->nx <= MAX_EVAL && m->ntheta <= MAX_EVAL &&
                m->ndata <= MAX_EVAL && m->nres <= MAX_EVAL && d->work_size <= MAX_WORK &&
                ir_cost(m->score) + ir_cost(m->loss) + ir_cost(m->residual) <= MAX_IR_ELEMS;
    if (small)
        check_kernels(&ctx);
    stats.checked += ctx.checked > 0;
    stats.comparisons += ctx.checked;
    if (getenv("DIL_FUZZ_VERBOSE"))
        fprintf(stderr, "fuzz_diff: model '%s': %d comparisons, %d skipped%s\n", m->name,
                ctx.checked, ctx.skipped, small ? "" : " (too large to evaluate)");
    dlclose(lib);
    remove(c);
    remove(h);
    remove(so);
    remove(log);
}

/* The driver calls this after emitting, with the model's IR alive. */
typedef struct Run {
    FILE *cf, *hf;
    char **ctext, **htext;
    size_t *clen, *hlen;
    const uint8_t *data;
    size_t size;
} Run;

static void emitted(void *arg, const Model *m, const char *prefix)
{
    Run *r = arg;
    if (fflush(r->cf) != 0 || fflush(r->hf) != 0)
        abort();
    stats.accepted++;
    const char *cap = getenv("DIL_FUZZ_MAX_C");
    if (*r->clen <= (cap ? (size_t)atol(cap) : (size_t)MAX_C_BYTES))
        differential(m, *r->ctext, *r->clen, *r->htext, *r->hlen, prefix, r->data, r->size);
    else
        stats.too_big++;
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
    cpu_budget_start(data, size);

    /* Exactly what dilc does with a file (driver.c): the same limits and
       checks, the IR verifier between the passes (DILC_VERIFY, set at
       initialisation), and, for one input in eight, --unroll, so that
       both forms of a loop are compared with the reference. */
    char *ctext = NULL, *htext = NULL;
    size_t clen = 0, hlen = 0;
    FILE *cf = open_memstream(&ctext, &clen), *hf = open_memstream(&htext, &hlen);
    if (!cf || !hf)
        abort();
    char header[64];
    snprintf(header, sizeof header, "m%lu.h", serial);
    Run run = {cf, hf, &ctext, &htext, &clen, &hlen, data, size};
    DriverOptions o;
    memset(&o, 0, sizeof o);
    o.header_name = header;
    o.unroll = size % 8 == 3;
    o.c_out = cf;
    o.h_out = hf;
    o.emitted = emitted;
    o.emitted_arg = &run;
    SrcFile src = {"fuzz.dil", text, size};
    long before = stats.accepted;
    dilc_run(&src, &o, devnull);
    fclose(cf);
    fclose(hf);
    free(ctext);
    free(htext);
    free(text);
    cpu_budget_stop();
    if (stats.accepted != before)
        stats_line();
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
