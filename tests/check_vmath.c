/*
 * check_vmath.c - accuracy and special-value tests of compiler/vmath.h,
 * the vectorisable exp, expm1, log, log1p, tanh, sigmoid and softplus that
 * dilc pastes into emitted code.
 *
 * Accuracy: random points in several ranges per function, each evaluated by
 * a loop over a 512-element block (the form gcc vectorises) and compared
 * with x87 long-double libm (64-bit significand: its own error is ~2^-11
 * double ulp), in ulps of the double result.  The maximum per function must
 * stay within the bound in the table below, which docs/vmath.md reports.
 * Every result must also equal, bit for bit, the same function called one
 * element at a time through a function pointer (the scalar code path), so
 * vectorisation cannot change a model's numbers.
 *
 * VMATH_POINTS=N sets the points per range (default 200000: the suite runs
 * in a few seconds); VMATH_VERBOSE=1 prints the maximum error of every
 * range with its argument.  `make check-vmath-full` runs 4e6 points per
 * range with this file built at -O2 and at -O3 -march=native.
 */
#include "vmath.h"
#include "vmath_text.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * 0x1p-53;
}

/* ------------------------------------------------------------ references */
static long double ref_exp(long double x) { return expl(x); }
static long double ref_expm1(long double x) { return expm1l(x); }
static long double ref_log(long double x) { return logl(x); }
static long double ref_log1p(long double x) { return log1pl(x); }
static long double ref_tanh(long double x) { return tanhl(x); }

static long double ref_sigmoid(long double x)
{
    return x >= 0 ? 1 / (1 + expl(-x)) : expl(x) / (1 + expl(x));
}

static long double ref_softplus(long double x)
{
    return x > 0 ? x + log1pl(expl(-x)) : log1pl(expl(x));
}

/* ------------------------------------------------- the functions, two ways */
#define BLOCK_FN(name)                                                        \
    static void blk_##name(double *restrict out, const double *restrict in)  \
    {                                                                         \
        for (int i = 0; i < BLOCK; i++)                                       \
            out[i] = dil_##name(in[i]);                                       \
    }                                                                         \
    static double one_##name(double x) { return dil_##name(x); }
BLOCK_FN(vexp)
BLOCK_FN(vexpm1)
BLOCK_FN(vlog)
BLOCK_FN(vlog1p)
BLOCK_FN(vtanh)
BLOCK_FN(vsigmoid)
BLOCK_FN(vsoftplus)

enum { R_UNIFORM, R_LOGMAG };   /* uniform in [lo, hi]; |x| log-uniform in [lo, hi], random sign if hi2 */

typedef struct Range {
    int kind;
    double lo, hi;
    int sign;      /* R_LOGMAG: both signs */
} Range;

typedef struct Func {
    const char *name;
    void (*blk)(double *restrict, const double *restrict);
    double (*one)(double);
    long double (*ref)(long double);
    double bound;          /* ulps, asserted */
    Range ranges[4];
} Func;

static const Func funcs[] = {
    {"exp", blk_vexp, one_vexp, ref_exp, 1.0,
     {{R_UNIFORM, -745.2, 709.8, 0}, {R_UNIFORM, -2, 2, 0}, {R_LOGMAG, 1e-20, 1, 1},
      {R_UNIFORM, -745.2, -708, 0}}},
    {"expm1", blk_vexpm1, one_vexpm1, ref_expm1, 1.5,
     {{R_UNIFORM, -40, 709.8, 0}, {R_UNIFORM, -2, 2, 0}, {R_LOGMAG, 1e-20, 1, 1},
      {R_UNIFORM, 0.2, 1.2, 0}}},
    {"log", blk_vlog, one_vlog, ref_log, 1.0,
     {{R_LOGMAG, 4.9e-324, 1.7e308, 0}, {R_UNIFORM, 0.5, 2, 0}, {R_UNIFORM, 0.9, 1.1, 0},
      {R_LOGMAG, 4.9e-324, 2.2e-308, 0}}},
    {"log1p", blk_vlog1p, one_vlog1p, ref_log1p, 1.0,
     {{R_LOGMAG, 1e-300, 1e300, 0}, {R_UNIFORM, -1, 1, 0}, {R_LOGMAG, 1e-20, 1, 1},
      {R_UNIFORM, -1, -0.25, 0}}},
    {"tanh", blk_vtanh, one_vtanh, ref_tanh, 1.75,
     {{R_UNIFORM, -20, 20, 0}, {R_UNIFORM, -1.5, 1.5, 0}, {R_LOGMAG, 1e-300, 30, 1},
      {R_UNIFORM, 0.69, 1.39, 0}}},
    {"sigmoid", blk_vsigmoid, one_vsigmoid, ref_sigmoid, 1.5,
     {{R_UNIFORM, -750, 40, 0}, {R_UNIFORM, -40, 40, 0}, {R_UNIFORM, -2, 2, 0},
      {R_LOGMAG, 1e-20, 1, 1}}},
    {"softplus", blk_vsoftplus, one_vsoftplus, ref_softplus, 1.5,
     {{R_UNIFORM, -750, 750, 0}, {R_UNIFORM, -40, 40, 0}, {R_UNIFORM, -2, 2, 0},
      {R_LOGMAG, 1e-20, 1, 1}}},
};
#define NFUNCS ((int)(sizeof funcs / sizeof *funcs))

static double draw(const Range *r)
{
    if (r->kind == R_UNIFORM)
        return r->lo + (r->hi - r->lo) * rng_unit();
    double x = exp(log(r->lo) + (log(r->hi) - log(r->lo)) * rng_unit());
    return r->sign && (rng_next() & 1) ? -x : x;
}

/* |y - ref| in units of the last place of the double nearest ref; 0 for
   matching infinities/NaNs, infinite for a mismatch. */
static double ulp_error(double y, long double ref)
{
    if (isnan(ref))
        return isnan(y) ? 0 : INFINITY;
    double rd = (double)ref;
    if (isinf(rd) || isinf(y))
        return y == rd ? 0 : INFINITY;
    if (isnan(y))
        return INFINITY;
    int e = ref == 0 ? -1022 : ilogbl(ref);
    if (e < -1022)
        e = -1022;
    return (double)(fabsl((long double)y - ref) / ldexpl(1.0L, e - 52));
}

static long npoints(void)
{
    const char *s = getenv("VMATH_POINTS");
    long n = s ? (long)strtod(s, NULL) : 200000;
    return n < BLOCK ? BLOCK : n;
}

static int verbose(void)
{
    const char *s = getenv("VMATH_VERBOSE");
    return s && *s && *s != '0';
}

/* Max error of f over n points of range r; counts scalar/vector mismatches. */
static double sweep(const Func *f, const Range *r, long n, double *worst_x, long *mismatch)
{
    static double in[BLOCK], out[BLOCK];
    double (*volatile one)(double) = f->one;
    double worst = 0;
    for (long done = 0; done < n; done += BLOCK) {
        for (int i = 0; i < BLOCK; i++)
            in[i] = draw(r);
        f->blk(out, in);
        for (int i = 0; i < BLOCK; i++) {
            double e = ulp_error(out[i], f->ref(in[i]));
            double s = one(in[i]);
            if (memcmp(&s, &out[i], sizeof s) != 0)
                (*mismatch)++;
            if (e > worst || isnan(e)) {
                worst = e;
                *worst_x = in[i];
            }
        }
    }
    return worst;
}

START_TEST(accuracy)
{
    const Func *f = &funcs[_i];
    long n = npoints();
    double worst = 0, wx = 0;
    long mismatch = 0;
    for (int k = 0; k < 4; k++) {
        const Range *r = &f->ranges[k];
        double x = 0;
        double e = sweep(f, r, n, &x, &mismatch);
        if (verbose())
            printf("%-9s %-7s [%-9.3g, %9.3g] %ld points: max %.3f ulp at %a (%.17g)\n", f->name,
                   r->kind == R_UNIFORM ? "uniform" : "log|x|", r->kind == R_LOGMAG && r->sign ? -r->hi : r->lo,
                   r->hi, n, e, x, x);
        if (e > worst) {
            worst = e;
            wx = x;
        }
    }
    if (verbose())
        printf("%-9s max %.3f ulp at %a over %d ranges (bound %.2f)\n", f->name, worst, wx, 4,
               f->bound);
    ck_assert_msg(worst <= f->bound, "%s: %.3f ulp at %a exceeds the bound %.2f", f->name, worst,
                  wx, f->bound);
    ck_assert_msg(mismatch == 0, "%s: %ld vectorised results differ from scalar ones", f->name,
                  mismatch);
}
END_TEST

/* --------------------------------------------------------- special values */
/* Bitwise equal, or both NaN (libm's NaN sign is not specified). */
static int same(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return memcmp(&a, &b, sizeof a) == 0;
}

static double lib_sigmoid(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

static double lib_softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static const double specials[] = {
    0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 1.0, -1.0, 0x1p-1074, -0x1p-1074,
    0x1p-1022, -0x1p-1022, 0x1.fffffffffffffp-1023, 0x1p-60, -0x1p-60, DBL_MAX, -DBL_MAX,
    709.782712893384, 709.7827128933841, 710.0, -745.1332191019411, -745.1332191019412,
    -708.3964185322641, -746.0, 1000.0, -1000.0, 19.0, 19.1, 40.0, -40.0, 36.8, -36.8,
    0.625, -0.625, 0.5, 2.0, 0.7071067811865476, 1.4142135623730951, -0.5, -0.9999999999999999,
    1e300, -1e300,
};

START_TEST(special_values)
{
    static const struct {
        const char *name;
        double (*ours)(double), (*lib)(double);
    } pairs[] = {
        {"exp", one_vexp, exp},         {"expm1", one_vexpm1, expm1},
        {"log", one_vlog, log},         {"log1p", one_vlog1p, log1p},
        {"tanh", one_vtanh, tanh},      {"sigmoid", one_vsigmoid, lib_sigmoid},
        {"softplus", one_vsoftplus, lib_softplus},
    };
    for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++)
        for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
            double x = specials[i], y = pairs[p].ours(x), l = pairs[p].lib(x);
            /* Exact for zeros, infinities, NaNs, and results that are
               exact or underflow to zero in libm; otherwise within 2 ulp. */
            if (isnan(l) || isinf(l) || l == 0 || x == 0 || isinf(x) || isnan(x))
                ck_assert_msg(same(y, l), "%s(%a) = %a, libm %a", pairs[p].name, x, y, l);
            else
                ck_assert_msg(fabs(y - l) <= 2 * (nextafter(fabs(l), INFINITY) - fabs(l)),
                              "%s(%a) = %a, libm %a", pairs[p].name, x, y, l);
        }
    /* A few exact values libm also gives exactly. */
    ck_assert(same(dil_vtanh(-0.0), -0.0));
    ck_assert(same(dil_vexpm1(-0.0), -0.0));
    ck_assert(same(dil_vlog1p(-0.0), -0.0));
    ck_assert(same(dil_vsigmoid(0.0), 0.5) && same(dil_vsigmoid(-0.0), 0.5));
    ck_assert(same(dil_vtanh(INFINITY), 1.0) && same(dil_vtanh(-INFINITY), -1.0));
    /* vtanh: NaN runs through its arithmetic and past its |x| > 20 mask
       (docs/vmath.md); above 20 the result is replaced by 1, including
       where its 4^n no longer fits (|x| >= 354); below 2^-27, tanh x = x. */
    ck_assert(isnan(dil_vtanh(NAN)) && isnan(dil_vtanh(-NAN)));
    static const double tanh_one[] = {19.1, 20.0, 20.5, 353.9, 354.5, 1000.0, 1e10, 1e300, DBL_MAX};
    for (size_t i = 0; i < sizeof tanh_one / sizeof *tanh_one; i++)
        ck_assert_msg(same(dil_vtanh(tanh_one[i]), 1.0) && same(dil_vtanh(-tanh_one[i]), -1.0),
                      "tanh(%a) = %a", tanh_one[i], dil_vtanh(tanh_one[i]));
    for (int k = 28; k <= 1074; k++) {
        double x = ldexp(1.9, -k);
        ck_assert_msg(same(dil_vtanh(x), x) && same(dil_vtanh(-x), -x), "tanh(%a) = %a", x,
                      dil_vtanh(x));
    }
    ck_assert(same(dil_vlog1p(-1.0), -INFINITY) && isnan(dil_vlog1p(-1.5)));
    ck_assert(same(dil_vlog(0.0), -INFINITY) && same(dil_vlog(-0.0), -INFINITY));
    ck_assert(isnan(dil_vlog(-1e-300)) && isnan(dil_vlog(-INFINITY)));
    ck_assert(same(dil_vexp(-INFINITY), 0.0) && same(dil_vexp(INFINITY), INFINITY));
    ck_assert(same(dil_vexp(-745.2), 0.0) && same(dil_vexp(-745.1), 0x1p-1074));
    ck_assert(same(dil_vsoftplus(-INFINITY), 0.0) && same(dil_vsoftplus(INFINITY), INFINITY));
    ck_assert(same(dil_vsoftplus(1e300), 1e300) && same(dil_vsigmoid(-1e300), 0.0));
    ck_assert(same(dil_vsoftplus(-0.0), log1p(1.0)));
    /* Subnormal exp results: within one subnormal ulp of libm (the
       accuracy sweep measures them against long double). */
    for (double x = -745.1; x < -708.3; x += 0.0137)
        ck_assert_msg(fabs(dil_vexp(x) - exp(x)) <= 0x1p-1074 || fabs(dil_vexp(x) - exp(x)) <= exp(x) * 0x1p-52,
                      "exp(%a) = %a, libm %a", x, dil_vexp(x), exp(x));
}
END_TEST

/* ---------------------------------------------- monotonicity and symmetry */
/* Over 4000 consecutive doubles around each point where a method switches
   (a reduction boundary, a clamp, a branch threshold): never a step down
   of more than one ulp, so no switch leaves a jump.  (With errors above
   half an ulp, single-ulp steps down are rounding, not a defect; libm's
   functions do not promise monotonicity either.) */
static void check_monotone(const char *name, double (*f)(double), double at, int sign)
{
    double x = at;
    for (int i = 0; i < 2000; i++)
        x = nextafter(x, -INFINITY);
    double prev = sign * f(x);
    for (int i = 0; i < 4000; i++) {
        x = nextafter(x, INFINITY);
        double y = sign * f(x);
        double step = nextafter(fabs(prev), INFINITY) - fabs(prev);
        ck_assert_msg(y >= prev - step, "%s not monotone at %a: %a after %a", name, x, y, prev);
        prev = y;
    }
}

START_TEST(monotone)
{
    const double ln2 = 0.6931471805599453;
    for (int k = -1074; k <= 1024; k += 37) {
        check_monotone("exp", one_vexp, (k + 0.5) * ln2, 1);
        if (k >= -55)
            check_monotone("expm1", one_vexpm1, (k + 0.5) * ln2, 1);
    }
    for (int k = 1; k <= 29; k++)     /* vtanh's reduction boundaries n ln2 */
        check_monotone("tanh", one_vtanh, k * ln2, 1);
    check_monotone("tanh", one_vtanh, 0.0, 1);
    check_monotone("tanh", one_vtanh, 20.0, 1);
    check_monotone("sigmoid", one_vsigmoid, 0.0, 1);
    check_monotone("softplus", one_vsoftplus, 0.0, 1);
    check_monotone("softplus", one_vsoftplus, 0.6931471805599453, 1);
    check_monotone("softplus", one_vsoftplus, -0.6931471805599453, 1);
    check_monotone("log", one_vlog, 0.7071067811865476, 1);
    check_monotone("log", one_vlog, 1.0, 1);
    check_monotone("log", one_vlog, 0x1p-1022, 1);
    check_monotone("log1p", one_vlog1p, 0.0, 1);
    check_monotone("log1p", one_vlog1p, 1.0, 1);
    check_monotone("log1p", one_vlog1p, -0.2928932188134524, 1);
}
END_TEST

START_TEST(symmetry)
{
    for (int i = 0; i < 200000; i++) {
        double x = ldexp(rng_unit(), (int)(rng_next() % 80) - 70);
        ck_assert_msg(same(dil_vtanh(-x), -dil_vtanh(x)), "tanh not odd at %a", x);
        /* sigmoid(x) + sigmoid(-x) = 1 and softplus(x) - softplus(-x) = x,
           to the rounding of the results. */
        double s = dil_vsigmoid(x) + dil_vsigmoid(-x);
        ck_assert_msg(fabs(s - 1) <= 0x1p-51, "sigmoid(%a) + sigmoid(-%a) = 1 %+a", x, x, s - 1);
        double d = dil_vsoftplus(x) - dil_vsoftplus(-x);
        ck_assert_msg(fabs(d - x) <= 0x1p-50 * dil_vsoftplus(x), "softplus(%a) - softplus(-%a) = %a",
                      x, x, d);
    }
}
END_TEST

/* ------------------------------------------------------- the text table */
/* vmath_write into *buf (a malloc'd string the caller frees). */
static int written(char **buf, const char *prefix, const char *const *names, int n)
{
    size_t len = 0;
    FILE *f = open_memstream(buf, &len);
    ck_assert_ptr_nonnull(f);
    int rc = vmath_write(f, prefix, names, n);
    fclose(f);
    return rc;
}

START_TEST(text_closure)
{
    const char *tanh_only[] = {"vtanh"};
    char *t = NULL;
    ck_assert_int_eq(written(&t, "m_", tanh_only, 1), 0);
    ck_assert_ptr_null(strstr(t, "DILP_"));
    ck_assert_ptr_nonnull(strstr(t, "m_VM_INLINE double m_vtanh(double x)"));
    ck_assert_ptr_nonnull(strstr(t, "m_vm_sel("));     /* a dependency */
    ck_assert_ptr_nonnull(strstr(t, "#include <stdint.h>"));
    ck_assert_ptr_null(strstr(t, "m_vlog("));          /* not used */
    ck_assert_ptr_null(strstr(t, "m_vexp("));
    ck_assert_ptr_null(strstr(t, "m_vm_expq("));
    ck_assert_ptr_null(strstr(t, "m_vm_nan("));       /* unused: clang would warn */
    ck_assert_ptr_null(strstr(t, "m_vm_pow2("));
    /* Each block once, dependencies before users. */
    char *dd = strstr(t, "m_VM_INLINE double m_vm_sel(");
    ck_assert_ptr_nonnull(dd);
    ck_assert_ptr_null(strstr(dd + 1, "m_VM_INLINE double m_vm_sel("));
    ck_assert(dd < strstr(t, "m_VM_INLINE double m_vtanh("));
    free(t);
    const char *bad[] = {"vtanh", "vcosh"};
    ck_assert_int_eq(written(&t, "m_", bad, 2), -1);
    ck_assert_str_eq(t, "");
    free(t);
    ck_assert_int_eq(written(&t, "m_", bad, 0), 0);
    ck_assert_str_eq(t, "");
    free(t);
}
END_TEST

/* The written text, all functions, compiles warning-free on its own as
   C99 and as C++11 (when a C++ compiler is installed), next to a loop of
   the emitted form. */
START_TEST(text_compiles)
{
    const char *all[] = {"vexp", "vexpm1", "vlog", "vlog1p", "vtanh", "vsigmoid", "vsoftplus"};
    char *t = NULL;
    ck_assert_int_eq(written(&t, "mdl_", all, 7), 0);
    char path[] = "/tmp/check_vmath_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\nvoid mdl_k(double *s, const double *a);\n"
               "void mdl_k(double *s, const double *a)\n{\n"
               "    for (int i = 0; i < 500; i++)\n"
               "        s[i] = mdl_vtanh(a[i]) + mdl_vexp(a[i]) + mdl_vexpm1(a[i]) + mdl_vlog(a[i])\n"
               "               + mdl_vlog1p(a[i]) + mdl_vsigmoid(a[i]) + mdl_vsoftplus(a[i]);\n}\n",
            t);
    fclose(f);
    free(t);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cc -x c -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -c %s -o /dev/null", path);
    int c_rc = system(cmd);
    snprintf(cmd, sizeof cmd,
             "! command -v c++ >/dev/null || c++ -x c++ -std=c++11 -O2 -Wall -Wextra -Wpedantic "
             "-Werror -c %s -o /dev/null", path);
    int cxx_rc = system(cmd);
    remove(path);
    ck_assert_msg(c_rc == 0, "the written functions do not compile as C99");
    ck_assert_msg(cxx_rc == 0, "the written functions do not compile as C++11");
}
END_TEST

static Suite *vmath_suite(void)
{
    Suite *s = suite_create("vmath");
    TCase *tc = tcase_create("accuracy");
    tcase_set_timeout(tc, 3600);
    tcase_add_loop_test(tc, accuracy, 0, NFUNCS);
    suite_add_tcase(s, tc);
    tc = tcase_create("values");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, special_values);
    tcase_add_test(tc, monotone);
    tcase_add_test(tc, symmetry);
    suite_add_tcase(s, tc);
    tc = tcase_create("text");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, text_closure);
    tcase_add_test(tc, text_compiles);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vmath_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
