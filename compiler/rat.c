/*
 * rat.c - exact rational numbers for the compiler, and their one-way trip
 * to double.
 *
 * Every numeric literal of a model is read exactly into a GMP rational, so
 * that `0.1` is 1/10 and constant folding loses nothing.  Doubles appear
 * only at the very end, when the C emitter prints a constant: the rational
 * is rounded once, correctly (nearest, ties to even, subnormals included),
 * and printed with the fewest digits that read back as the same double.
 *
 * The main idea of rat_to_double is to avoid floating point altogether
 * until the last, exact step: the quotient is computed as an integer with
 * exactly as many bits as the target significand, the rounding decision is
 * made from the integer remainder, and ldexp() then only moves the binary
 * point, which is exact.  (mpq_get_d truncates, and dividing two doubles
 * is exact only while both operands fit in 53 bits, so neither will do.)
 */
#include "dilc.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exponents beyond this are refused: the literal could only overflow or
   underflow a double anyway (doubles end near 1e308 and 4.9e-324), and
   the exponent is the one part of a literal whose cost is not in
   proportion to its text.  At 100000, each 8-byte "1e99999" cost 41 KB
   and a millisecond, so a 400 KB file of them took 18 s and 820 MB (found
   while fuzzing the limits); 10^1000 has 3322 bits, 415 bytes. */
#define RAT_MAX_EXP 1000L

int rat_is_int(mpq_srcptr q)
{
    return mpz_cmp_ui(mpq_denref(q), 1) == 0;
}

int rat_is(mpq_srcptr q, long v)
{
    return rat_is_int(q) && mpz_cmp_si(mpq_numref(q), v) == 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The exponent of a literal at *p ([eE] [+-]? digits, or nothing),
   saturated while reading so that a long run of digits cannot overflow a
   long.  -1 when malformed, or beyond RAT_MAX_EXP for a nonzero value. */
static int read_exponent(const char **pp, int nonzero, long *exp10)
{
    const char *p = *pp;
    *exp10 = 0;
    if (*p != 'e' && *p != 'E')
        return 0;
    p++;
    int eneg = 0;
    if (*p == '+' || *p == '-')
        eneg = *p++ == '-';
    if (!is_digit(*p))
        return -1;
    while (is_digit(*p)) {
        if (*exp10 <= RAT_MAX_EXP)
            *exp10 = *exp10 * 10 + (*p - '0');
        p++;
    }
    if (*exp10 > RAT_MAX_EXP && nonzero)
        return -1;
    if (eneg)
        *exp10 = -*exp10;
    *pp = p;
    return 0;
}

/* decimal := [+-]? (digits ('.' digits?)? | '.' digits) ([eE] [+-]? digits)?
 *
 * The literal is read as the integer of all its significant digits times
 * 10^(exponent - digits after the point).  Returns -1 for malformed text
 * and for an exponent of magnitude above RAT_MAX_EXP, unless the digits
 * are all zero (then the value is 0 whatever the exponent). */
int rat_from_decimal(mpq_ptr q, const char *text)
{
    const char *p = text;
    int negative = 0;
    if (*p == '+' || *p == '-')
        negative = *p++ == '-';

    /* Mantissa: copy the digits without the point, for mpz_set_str, which
       converts long digit strings in subquadratic time (a digit-by-digit
       multiply-add would be quadratic on a fuzzer's megabyte of digits). */
    size_t len = strlen(p);
    char *digits = malloc(len + 2);
    if (!digits)
        dil_fatal("out of memory");
    size_t nd = 0, nfrac = 0;
    int nonzero = 0;
    while (is_digit(*p)) {
        nonzero |= *p != '0';
        digits[nd++] = *p++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            nonzero |= *p != '0';
            digits[nd++] = *p++;
            nfrac++;
        }
    }
    digits[nd] = '\0';
    if (nd == 0) {
        free(digits);
        return -1;
    }

    long exp10;
    if (read_exponent(&p, nonzero, &exp10) != 0 || *p != '\0') {
        free(digits);
        return -1;
    }
    if (!nonzero) {
        free(digits);
        mpq_set_ui(q, 0, 1);
        return 0;
    }

    mpz_ptr num = mpq_numref(q), den = mpq_denref(q);
    if (mpz_set_str(num, digits, 10) != 0)
        unreachable();
    free(digits);
    /* nfrac is bounded by the text's length, so 10^nfrac costs memory in
       proportion to the input, like the digits themselves. */
    long e = exp10 - (long)nfrac;
    mpz_set_ui(den, 1);
    if (e >= 0) {
        mpz_t pow10;
        mpz_init(pow10);
        mpz_ui_pow_ui(pow10, 10, (unsigned long)e);
        mpz_mul(num, num, pow10);
        mpz_clear(pow10);
    } else {
        mpz_ui_pow_ui(den, 10, (unsigned long)-e);
    }
    mpq_canonicalize(q);
    if (negative)
        mpq_neg(q, q);
    return 0;
}

/* Rounds |q| = a/b (b > 0) to the double grid.
 *
 * With ea, eb the bit lengths of a and b, 2^(ea-eb-1) < a/b < 2^(ea-eb+1).
 * For k = 53 - (ea - eb) the scaled quotient a*2^k/b lies in (2^52, 2^54);
 * one more halving when it reaches 2^53 leaves exactly 53 bits, the width
 * of a normal significand, with ulp 2^-k.  The smallest ulp a double has
 * is 2^-1074 (subnormals), so k is capped at 1074: below the normal range
 * the quotient simply gets fewer bits, which is precisely gradual
 * underflow.  The remainder then decides the rounding: up when 2r > b,
 * and on a tie (2r == b) only if that makes the last bit even. */
int rat_to_double(mpq_srcptr q, double *out)
{
    int sign = mpq_sgn(q);
    if (sign == 0) {
        *out = 0.0;
        return 0;
    }
    mpz_srcptr a0 = mpq_numref(q), b0 = mpq_denref(q);
    long ea = (long)mpz_sizeinbase(a0, 2), eb = (long)mpz_sizeinbase(b0, 2);
    long e = ea - eb;

    /* Shortcuts that keep absurd literals from costing big shifts:
       a/b >= 2^(e-1) >= 2^1025 overflows; a/b < 2^(e+1) <= 2^-1076 is
       below half the smallest subnormal and rounds to zero. */
    if (e - 1 >= 1025)
        return -1;
    if (e + 1 <= -1076) {
        *out = sign < 0 ? -0.0 : 0.0;
        return 0;
    }

    mpz_t a, b, quo, rem;
    mpz_init(a);
    mpz_init(b);
    mpz_init(quo);
    mpz_init(rem);
    long k = 53 - e;
    if (k > 1074)
        k = 1074;
    for (;;) {
        /* quo, rem = divmod(|a| * 2^k, b), with the scaling on whichever
           side keeps it an integer operation. */
        mpz_abs(a, a0);
        mpz_set(b, b0);
        if (k >= 0)
            mpz_mul_2exp(a, a, (unsigned long)k);
        else
            mpz_mul_2exp(b, b, (unsigned long)-k);
        mpz_fdiv_qr(quo, rem, a, b);
        if (mpz_sizeinbase(quo, 2) <= 53)
            break;
        /* 54 bits: one too many.  This happens only when k was not
           capped (a capped k leaves fewer than 53 bits), so k - 1 is
           still a valid ulp exponent and the next pass ends the loop. */
        k--;
    }

    /* Round to nearest, ties to even, from the exact remainder. */
    mpz_mul_2exp(rem, rem, 1);
    int c = mpz_cmp(rem, b);
    if (c > 0 || (c == 0 && mpz_odd_p(quo)))
        mpz_add_ui(quo, quo, 1);
    /* Rounding up may carry to 2^53: renormalise so the overflow test
       below sees the true exponent. */
    if (mpz_sizeinbase(quo, 2) > 53) {
        mpz_fdiv_q_2exp(quo, quo, 1);
        k--;
    }
    /* quo < 2^53 converts exactly.  The largest double is
       (2^53 - 1) * 2^971, so any ulp exponent -k above 971 overflows. */
    double m = mpz_get_d(quo);
    mpz_clear(a);
    mpz_clear(b);
    mpz_clear(quo);
    mpz_clear(rem);
    if (-k > 971)
        return -1;
    double d = ldexp(m, (int)-k);   /* exact: m has <= 53 bits, in range */
    *out = sign < 0 ? -d : d;
    return 0;
}

/* Keeps the first of %.15g, %.16g, %.17g that reads back exactly (17
   significant digits always do).  For a normal double, any shorter
   decimal that round-trips is also what %.15g prints (DBL_DIG is 15,
   and %g drops trailing zeros), so this is the shortest, and %.15g's
   choice of fixed notation below 1e15 keeps "100.0" from becoming
   "1e+02".  Subnormals carry fewer bits, so %.15g would print digits
   that are only noise ("9.99988867182683e-321" for 1e-320); they start
   from one digit instead, and %g prints them in exponent form anyway. */
void rat_format_double(double d, char *buf)
{
    /* At most 24 characters ("-2.2250738585072014e-308"); the generous
       local buffer keeps gcc's -Wformat-truncation analysis quiet. */
    char tmp[48];
    int subnormal = d != 0 && fabs(d) < DBL_MIN;
    for (int prec = subnormal ? 1 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* "2" would be an int in C: make every literal a double literal. */
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    size_t n = strlen(tmp);
    if (n >= 32)
        unreachable();
    memcpy(buf, tmp, n + 1);
}
