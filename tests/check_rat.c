/*
 * check_rat.c - unit tests of rat.c: exact decimal literals, correctly
 * rounded conversion to double, and shortest round-tripping printing.
 *
 * The conversion is checked against an oracle that shares nothing with
 * rat_to_double's integer-division method: a result d is correct when no
 * neighbouring double (nextafter in either direction) is nearer to q, and
 * on an exact tie d has an even significand.  Distances are compared as
 * exact rationals (mpq_set_d converts a double exactly), so the oracle
 * itself cannot round.  glibc's strtod, which rounds correctly, is a
 * second oracle for decimal text.
 */
#include "dilc.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* q := m * 2^e exactly. */
static void set_pow2(mpq_ptr q, long m, long e)
{
    mpq_set_si(q, m, 1);
    if (e >= 0)
        mpq_mul_2exp(q, q, (unsigned long)e);
    else
        mpq_div_2exp(q, q, (unsigned long)-e);
}

/* |q - d| compared with |q - n|: <0, 0, >0.  n may be infinite (the
   neighbour beyond DBL_MAX), which is never nearer. */
static int cmp_dist(mpq_srcptr q, double d, double n)
{
    if (isinf(n))
        return -1;
    mpq_t a, b;
    mpq_init(a);
    mpq_init(b);
    mpq_set_d(a, d);
    mpq_sub(a, q, a);
    mpq_abs(a, a);
    mpq_set_d(b, n);
    mpq_sub(b, q, b);
    mpq_abs(b, b);
    int c = mpq_cmp(a, b);
    mpq_clear(a);
    mpq_clear(b);
    return c;
}

/* The oracle: is d the double nearest to q, ties to even? */
static int is_nearest(mpq_srcptr q, double d)
{
    if (!isfinite(d))
        return 0;
    double lo = nextafter(d, -INFINITY), hi = nextafter(d, INFINITY);
    int cl = cmp_dist(q, d, lo), ch = cmp_dist(q, d, hi);
    if (cl > 0 || ch > 0)
        return 0;
    if (cl == 0 || ch == 0)
        return (double_to_bits(d) & 1) == 0;   /* tie: even significand */
    return 1;
}

/* |q| at or beyond the overflow threshold 2^1024 - 2^970, the midpoint
   between DBL_MAX and 2^1024 (a tie there goes to the even 2^1024). */
static int overflows(mpq_srcptr q)
{
    mpq_t t, a;
    mpq_init(t);
    mpq_init(a);
    set_pow2(t, 1, 1024);
    mpq_t h;
    mpq_init(h);
    set_pow2(h, 1, 970);
    mpq_sub(t, t, h);
    mpq_abs(a, q);
    int r = mpq_cmp(a, t) >= 0;
    mpq_clear(t);
    mpq_clear(a);
    mpq_clear(h);
    return r;
}

/* Converts q and checks it against the oracle; returns the double. */
static double to_double_checked(mpq_srcptr q)
{
    double d = -1234.5;
    int rc = rat_to_double(q, &d);
    if (overflows(q)) {
        ck_assert_msg(rc == -1, "overflow not reported");
        return d;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(is_nearest(q, d), "%a is not the nearest double to %s", d,
                  mpq_get_str(NULL, 10, q));
    return d;
}

static double dec(const char *text)
{
    mpq_t q;
    mpq_init(q);
    ck_assert_int_eq(rat_from_decimal(q, text), 0);
    double d = to_double_checked(q);
    mpq_clear(q);
    return d;
}

static void expect_rat(const char *text, const char *want)
{
    mpq_t q, w;
    mpq_init(q);
    mpq_init(w);
    ck_assert_int_eq(rat_from_decimal(q, text), 0);
    ck_assert_int_eq(mpq_set_str(w, want, 10), 0);
    mpq_canonicalize(w);
    ck_assert_msg(mpq_equal(q, w), "%s read as %s, want %s", text,
                  mpq_get_str(NULL, 10, q), want);
    mpq_clear(q);
    mpq_clear(w);
}

static void expect_refused(const char *text)
{
    mpq_t q;
    mpq_init(q);
    ck_assert_msg(rat_from_decimal(q, text) == -1, "\"%s\" accepted", text);
    mpq_clear(q);
}

/* ------------------------------------------------------------ decimal */

START_TEST(decimal_exact)
{
    expect_rat("3", "3");
    expect_rat("0.1", "1/10");
    expect_rat("2.5e-3", "1/400");
    expect_rat(".5", "1/2");
    expect_rat("1.", "1");
    expect_rat("1E+2", "100");
    expect_rat("12.50e1", "125");
    expect_rat("007", "7");
    expect_rat("0.000", "0");
    expect_rat("-3.5", "-7/2");
    expect_rat("+4", "4");
    expect_rat("1e0000000000000000000000000000000005", "100000");
    expect_rat("0e999999999", "0");       /* zero whatever the exponent */
    expect_rat("123456789012345678901234567890",
               "123456789012345678901234567890");
    expect_rat("1.23456789012345678901234567890e-5",
               "123456789012345678901234567890/10000000000000000000000000000000000");
}
END_TEST

START_TEST(decimal_refused)
{
    expect_refused("");
    expect_refused(".");
    expect_refused("e5");
    expect_refused("1e");
    expect_refused("1e+");
    expect_refused("1.2.3");
    expect_refused("1x");
    expect_refused("abc");
    expect_refused("--1");
    expect_refused("1e999999999");
    expect_refused("1e-999999999");
    expect_refused("1e1001");
    expect_refused("1e-1001");
    expect_refused("1e99999999999999999999999999999999999999");
}
END_TEST

/* The bound is on the exponent; within it, huge literals are exact and
   then overflow or underflow as doubles. */
START_TEST(decimal_extremes)
{
    mpq_t q;
    mpq_init(q);
    double d;
    ck_assert_int_eq(rat_from_decimal(q, "1e1000"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), -1);
    ck_assert_int_eq(rat_from_decimal(q, "1e-1000"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), 0);
    ck_assert(d == 0 && !signbit(d));
    ck_assert_int_eq(rat_from_decimal(q, "-1e-1000"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), 0);
    ck_assert(d == 0 && signbit(d));

    /* A hundred thousand digits: read in subquadratic time. */
    size_t n = 100000;
    char *s = malloc(n + 3);
    ck_assert_ptr_nonnull(s);
    s[0] = '0';
    s[1] = '.';
    for (size_t i = 0; i < n; i++)
        s[2 + i] = (char)('0' + (i * 7 + 3) % 10);
    s[n + 2] = '\0';
    ck_assert_int_eq(rat_from_decimal(q, s), 0);
    ck_assert(rat_to_double(q, &d) == 0 && d == strtod(s, NULL));
    free(s);
    mpq_clear(q);
}
END_TEST

/* -------------------------------------------------------------- double */

START_TEST(double_simple)
{
    mpq_t q;
    mpq_init(q);
    mpq_set_ui(q, 1, 3);
    ck_assert(to_double_checked(q) == 1.0 / 3.0);
    mpq_set_si(q, -2, 3);
    ck_assert(to_double_checked(q) == -2.0 / 3.0);
    mpq_set_ui(q, 0, 1);
    ck_assert(to_double_checked(q) == 0.0);
    mpq_clear(q);

    ck_assert(dec("0.1") == 0.1);
    ck_assert(dec("2.5e-3") == 2.5e-3);
    ck_assert(dec("3") == 3.0);
    ck_assert(dec("-3.5") == -3.5);
    ck_assert(dec("-0.1") == -0.1);
    ck_assert(dec("1.7976931348623157e308") == DBL_MAX);
    ck_assert(dec("2.2250738585072014e-308") == DBL_MIN);
    ck_assert(dec("123456789.123456789e-7") == 123456789.123456789e-7);
}
END_TEST

START_TEST(double_overflow)
{
    mpq_t q;
    mpq_init(q);
    double d;
    ck_assert_int_eq(rat_from_decimal(q, "1.8e308"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), -1);
    ck_assert_int_eq(rat_from_decimal(q, "-1.8e308"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), -1);
    /* Just below the midpoint between DBL_MAX and 2^1024: DBL_MAX. */
    set_pow2(q, 1, 1024);
    mpq_t h;
    mpq_init(h);
    set_pow2(h, 1, 970);
    mpq_sub(q, q, h);
    ck_assert_int_eq(rat_to_double(q, &d), -1);      /* the midpoint: tie */
    mpq_set_ui(h, 1, 1000);
    mpq_sub(q, q, h);
    ck_assert_int_eq(rat_to_double(q, &d), 0);
    ck_assert(d == DBL_MAX);
    /* 1.7976931348623158e308 is above DBL_MAX but rounds down to it. */
    ck_assert(dec("1.7976931348623158e308") == DBL_MAX);
    ck_assert_int_eq(rat_from_decimal(q, "1.7976931348623159e308"), 0);
    ck_assert_int_eq(rat_to_double(q, &d), -1);
    mpq_clear(h);
    mpq_clear(q);
}
END_TEST

START_TEST(double_subnormal)
{
    mpq_t q;
    mpq_init(q);
    double tiny = ldexp(1.0, -1074);

    ck_assert(dec("1e-320") == 1e-320);
    ck_assert(dec("4.9406564584124654e-324") == tiny);
    ck_assert(dec("2.4703282292062328e-324") == tiny);   /* just above half */
    ck_assert(dec("2.4703282292062327e-324") == 0.0);    /* just below half */

    set_pow2(q, 1, -1074);
    ck_assert(to_double_checked(q) == tiny);
    set_pow2(q, 1, -1075);                      /* tie 0 | tiny: to 0 */
    ck_assert(to_double_checked(q) == 0.0);
    set_pow2(q, -1, -1075);
    ck_assert(to_double_checked(q) == 0.0 && signbit(to_double_checked(q)));
    set_pow2(q, 3, -1076);                      /* 0.75 ulp: not a tie */
    ck_assert(to_double_checked(q) == tiny);
    set_pow2(q, 3, -1075);                      /* 1.5 ulp: tie, to even 2 */
    ck_assert(to_double_checked(q) == 2 * tiny);
    set_pow2(q, 5, -1075);                      /* 2.5 ulp: tie, to even 2 */
    ck_assert(to_double_checked(q) == 2 * tiny);
    set_pow2(q, 7, -1075);                      /* 3.5 ulp: tie, to even 4 */
    ck_assert(to_double_checked(q) == 4 * tiny);
    set_pow2(q, 1, -2000);
    ck_assert(to_double_checked(q) == 0.0);
    set_pow2(q, 1, -1022);
    ck_assert(to_double_checked(q) == DBL_MIN);

    /* The normal/subnormal boundary: 2^-1022 - 2^-1075 is halfway between
       the largest subnormal (odd significand) and DBL_MIN (even). */
    mpq_t h;
    mpq_init(h);
    set_pow2(q, 1, -1022);
    set_pow2(h, 1, -1075);
    mpq_sub(q, q, h);
    ck_assert(to_double_checked(q) == DBL_MIN);
    set_pow2(h, 1, -1074);
    set_pow2(q, 1, -1022);
    mpq_sub(q, q, h);
    ck_assert(to_double_checked(q) == nextafter(DBL_MIN, 0));
    mpq_clear(h);

    /* 1/3 of the smallest subnormal, and 2/3 of it. */
    set_pow2(q, 1, -1074);
    mpz_mul_ui(mpq_denref(q), mpq_denref(q), 3);
    mpq_canonicalize(q);
    ck_assert(to_double_checked(q) == 0.0);
    mpz_mul_ui(mpq_numref(q), mpq_numref(q), 2);
    mpq_canonicalize(q);
    ck_assert(to_double_checked(q) == tiny);
    mpq_clear(q);
}
END_TEST

/* Numerators and denominators beyond 2^53, where converting each to double
   first (or mpq_get_d's truncation) would go wrong. */
START_TEST(double_wide)
{
    mpq_t q;
    mpq_init(q);
    double two53 = 9007199254740992.0;

    /* (2^60 + j) / 2^7 = 2^53 + j/128; the ulp at 2^53 is 2. */
    static const struct { long j; double want; } cases[] = {
        { 1, 0 },            /* 2^53 + 1/128: down */
        { 128, 0 },          /* 2^53 + 1: tie, to even 2^53 */
        { 129, 2 },          /* just above the tie: up */
        { 3 * 128, 4 },      /* 2^53 + 3: tie, to even 2^53 + 4 */
        { 3 * 128 - 1, 2 },  /* just below that tie: down */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mpz_set_ui(mpq_numref(q), 1);
        mpz_mul_2exp(mpq_numref(q), mpq_numref(q), 60);
        mpz_add_ui(mpq_numref(q), mpq_numref(q), (unsigned long)cases[i].j);
        mpz_set_ui(mpq_denref(q), 128);
        mpq_canonicalize(q);
        double d = to_double_checked(q);
        ck_assert_msg(d == two53 + cases[i].want, "case %zu: %.17g", i, d);
    }

    /* A ratio of two 70-bit primes.  mpq_get_d truncates; the oracle says
       which neighbour is nearer, so the test holds whichever way the
       truncation happened to fall. */
    mpz_t p, r;
    mpz_init(p);
    mpz_init(r);
    mpz_ui_pow_ui(p, 2, 69);
    mpz_add_ui(p, p, 123456789);
    mpz_nextprime(p, p);
    mpz_ui_pow_ui(r, 2, 69);
    mpz_add_ui(r, r, 987654321);
    mpz_nextprime(r, r);
    ck_assert_uint_eq(mpz_sizeinbase(p, 2), 70);
    mpq_set_num(q, p);
    mpq_set_den(q, r);
    mpq_canonicalize(q);
    double d = to_double_checked(q);
    ck_assert(d < 1.0);
    mpq_inv(q, q);
    ck_assert(to_double_checked(q) > 1.0);
    /* Scaled into the subnormal range and near overflow. */
    mpq_div_2exp(q, q, 1060);
    to_double_checked(q);
    mpq_mul_2exp(q, q, 1060 + 1023);
    to_double_checked(q);
    mpz_clear(p);
    mpz_clear(r);
    mpq_clear(q);
}
END_TEST

/* Random rationals of every size, across the whole exponent range. */
START_TEST(double_random)
{
    mpq_t q;
    mpz_t t;
    mpq_init(q);
    mpz_init(t);
    for (int i = 0; i < 20000; i++) {
        int nb = 1 + (int)(rng_next() % 200), db = 1 + (int)(rng_next() % 200);
        mpz_set_ui(mpq_numref(q), 0);
        mpz_set_ui(mpq_denref(q), 0);
        for (int w = 0; w < nb; w += 32) {
            mpz_mul_2exp(mpq_numref(q), mpq_numref(q), 32);
            mpz_add_ui(mpq_numref(q), mpq_numref(q), (unsigned long)(rng_next() >> 32));
        }
        for (int w = 0; w < db; w += 32) {
            mpz_mul_2exp(mpq_denref(q), mpq_denref(q), 32);
            mpz_add_ui(mpq_denref(q), mpq_denref(q), (unsigned long)(rng_next() >> 32));
        }
        mpz_fdiv_q_2exp(mpq_numref(q), mpq_numref(q), (unsigned long)(rng_next() % 32));
        if (mpz_sgn(mpq_denref(q)) == 0)
            mpz_set_ui(mpq_denref(q), 1);
        if (mpz_sgn(mpq_numref(q)) == 0)
            mpz_set_ui(mpq_numref(q), 1);
        mpq_canonicalize(q);
        /* Spread over [2^-1150, 2^1100]: subnormal, normal and overflow. */
        long shift = (long)(rng_next() % 2251) - 1150;
        if (shift >= 0)
            mpq_mul_2exp(q, q, (unsigned long)shift);
        else
            mpq_div_2exp(q, q, (unsigned long)-shift);
        if (rng_next() & 1)
            mpq_neg(q, q);
        to_double_checked(q);
    }
    /* Exact ties and near-ties: odd multiples of half an ulp, nudged. */
    for (int i = 0; i < 20000; i++) {
        uint64_t m = (rng_next() >> 10) | 1;            /* 54 bits, odd */
        long e = (long)(rng_next() % 2200) - 1130;
        mpz_set_ui(t, (unsigned long)(m >> 32));
        mpz_mul_2exp(t, t, 32);
        mpz_add_ui(t, t, (unsigned long)(m & 0xFFFFFFFFu));
        mpq_set_z(q, t);
        int nudge = (int)(rng_next() % 3) - 1;
        mpz_mul_2exp(mpq_numref(q), mpq_numref(q), 40);
        if (nudge > 0)
            mpz_add_ui(mpq_numref(q), mpq_numref(q), 1);
        else if (nudge < 0)
            mpz_sub_ui(mpq_numref(q), mpq_numref(q), 1);
        e -= 40;
        if (e >= 0)
            mpq_mul_2exp(q, q, (unsigned long)e);
        else
            mpq_div_2exp(q, q, (unsigned long)-e);
        to_double_checked(q);
    }
    mpz_clear(t);
    mpq_clear(q);
}
END_TEST

/* Random decimal literals against glibc's correctly rounded strtod. */
START_TEST(double_vs_strtod)
{
    char buf[64];
    mpq_t q;
    mpq_init(q);
    for (int i = 0; i < 20000; i++) {
        int nd = 1 + (int)(rng_next() % 25);
        int point = (int)(rng_next() % (unsigned)(nd + 1));
        int k = 0;
        for (int j = 0; j < nd; j++) {
            if (j == point)
                buf[k++] = '.';
            buf[k++] = (char)('0' + rng_next() % 10);
        }
        int e = (int)(rng_next() % 700) - 350;
        snprintf(buf + k, sizeof buf - (size_t)k, "e%d", e);
        ck_assert_int_eq(rat_from_decimal(q, buf), 0);
        double d, want = strtod(buf, NULL);
        int rc = rat_to_double(q, &d);
        if (isinf(want)) {
            ck_assert_msg(rc == -1, "%s: overflow missed", buf);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_msg(double_to_bits(d) == double_to_bits(want),
                          "%s: %a, strtod %a", buf, d, want);
        }
    }
    mpq_clear(q);
}
END_TEST

/* -------------------------------------------------------------- format */

static void expect_format(double d, const char *want)
{
    char buf[32];
    rat_format_double(d, buf);
    ck_assert_str_eq(buf, want);
}

START_TEST(format_fixed)
{
    expect_format(2.0, "2.0");
    expect_format(0.1, "0.1");
    expect_format(-3.5, "-3.5");
    expect_format(1e-320, "1e-320");
    expect_format(100.0, "100.0");
    expect_format(0.0, "0.0");
    expect_format(-0.0, "-0.0");
    expect_format(1.0 / 3.0, "0.3333333333333333");
    expect_format(1e20, "1e+20");
    expect_format(123456789012345678.0, "1.2345678901234568e+17");
    expect_format(DBL_MAX, "1.7976931348623157e+308");
    expect_format(DBL_MIN, "2.2250738585072014e-308");
    expect_format(ldexp(1.0, -1074), "5e-324");
    expect_format(0.30000000000000004, "0.30000000000000004");
}
END_TEST

/* Random bit patterns: every finite double prints as a double literal
   that reads back to the same bits, through strtod and through our own
   exact reader and rounding. */
START_TEST(format_roundtrip)
{
    char buf[32];
    mpq_t q;
    mpq_init(q);
    for (int i = 0; i < 200000; i++) {
        uint64_t u = rng_next();
        if (i % 4 == 1)
            u &= 0x800FFFFFFFFFFFFFu;          /* subnormals */
        else if (i % 4 == 2)
            u = (u & 0x8000000000000000u) | ((uint64_t)(rng_next() % 2046 + 1) << 52)
                | (u & 0x000FFFFFFFFFFFFFu);
        double d = bits_to_double(u);
        if (!isfinite(d))
            continue;
        rat_format_double(d, buf);
        ck_assert(strlen(buf) < 32);
        ck_assert_msg(strpbrk(buf, ".eE") != NULL, "%s", buf);
        ck_assert_msg(double_to_bits(strtod(buf, NULL)) == u, "%a printed %s", d, buf);
        ck_assert_int_eq(rat_from_decimal(q, buf), 0);
        double back;
        ck_assert_int_eq(rat_to_double(q, &back), 0);
        ck_assert_msg(back == d, "%s read back as %a", buf, back);
    }
    mpq_clear(q);
}
END_TEST

static Suite *rat_suite(void)
{
    Suite *s = suite_create("rat");
    TCase *tc = tcase_create("decimal");
    tcase_add_test(tc, decimal_exact);
    tcase_add_test(tc, decimal_refused);
    tcase_add_test(tc, decimal_extremes);
    suite_add_tcase(s, tc);
    tc = tcase_create("double");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, double_simple);
    tcase_add_test(tc, double_overflow);
    tcase_add_test(tc, double_subnormal);
    tcase_add_test(tc, double_wide);
    tcase_add_test(tc, double_random);
    tcase_add_test(tc, double_vs_strtod);
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, format_fixed);
    tcase_add_test(tc, format_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rat_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
