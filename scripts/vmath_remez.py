#!/usr/bin/python3
"""vmath_remez.py - derive the polynomial coefficients of compiler/vmath.h.

Each approximation in vmath.h is a polynomial P of degree n in a variable t on
an interval [a, b], chosen to minimise the weighted error
max |w(t) (g(t) - P(t))|: the classical Remez exchange algorithm, run in
60-digit arithmetic (mpmath), then each coefficient rounded to the nearest
double.  The weight turns the error of P into the relative error of the final
function, so "minimax" here means minimax in the quantity that matters.

    /usr/bin/python3 scripts/vmath_remez.py          all fits, C literals
    /usr/bin/python3 scripts/vmath_remez.py tanh     one fit

For each fit the script prints the equioscillation level (the best possible
weighted error of that degree), the error after rounding the coefficients to
double (measured on a dense grid in high precision), and the coefficients as
shortest round-trip decimal C literals (hexadecimal in comments; vmath.h
uses the decimal form, which C++ before C++17 also accepts), lowest degree
first.
"""
import sys
import mpmath as mp

mp.mp.dps = 60


def series(terms, t):
    """Sum of terms(k) * t**k for k = 0.. until the terms vanish (small t)."""
    s, k = mp.mpf(0), 0
    while True:
        c = terms(k) * t ** k
        s += c
        if k > 4 and abs(c) < mp.mpf(10) ** (-70):
            return s
        k += 1


def remez(g, w, a, b, n, iters=40):
    """Coefficients c[0..n] of the weighted-minimax polynomial, and the level."""
    a, b = mp.mpf(a), mp.mpf(b)
    m = n + 2
    ref = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (m - 1)) for i in range(m)]
    grid = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / 3000) for i in range(3001)]
    gv = [g(t) for t in grid]
    wv = [w(t) for t in grid]
    level = None
    for _ in range(iters):
        A = mp.matrix(m, m)
        rhs = mp.matrix(m, 1)
        for i, t in enumerate(ref):
            for k in range(n + 1):
                A[i, k] = t ** k
            A[i, n + 1] = (-1) ** i / w(t)
            rhs[i] = g(t)
        sol = mp.lu_solve(A, rhs)
        c = [sol[k] for k in range(n + 1)]
        level = abs(sol[n + 1])
        err = [wv[j] * (gv[j] - mp.polyval(c[::-1], grid[j])) for j in range(len(grid))]
        # One extremum per run of equal sign: the new reference.
        runs, start = [], 0
        for j in range(1, len(grid) + 1):
            if j == len(grid) or mp.sign(err[j]) != mp.sign(err[start]):
                best = max(range(start, j), key=lambda q: abs(err[q]))
                runs.append(best)
                start = j
        while len(runs) > m:   # drop the smaller end extremum
            if abs(err[runs[0]]) < abs(err[runs[-1]]):
                runs.pop(0)
            else:
                runs.pop()
        if len(runs) < m:
            break
        ref = [grid[j] for j in runs]
        emax = max(abs(e) for e in err)
        if emax <= level * (1 + mp.mpf('1e-8')):
            break
    return c, level


def rounded_error(g, w, a, b, c):
    cd = [mp.mpf(float(x)) for x in c]
    grid = [mp.mpf(a) + (mp.mpf(b) - a) * i / 20000 for i in range(20001)]
    return max(abs(w(t) * (g(t) - mp.polyval(cd[::-1], t))) for t in grid), cd


# ------------------------------------------------------------------ the fits
LN2_HALF = mp.log(2) / 2 + mp.mpf('1e-9')   # |r| after exp's reduction

def expm1_q2(r):
    """(e^r - 1 - r) / r^2."""
    if abs(r) < mp.mpf('1e-3'):
        return series(lambda k: 1 / mp.factorial(k + 2), r)
    return (mp.expm1(r) - r) / r ** 2


def expm1_w(r):
    """Relative error of r + r^2 Q: weight r^2 / expm1(r)."""
    # Floored: Q hardly matters near r = 0, and a zero weight is singular.
    if abs(r) < mp.mpf('1e-3'):
        return mp.mpf('1e-3')
    return r ** 2 / mp.expm1(r)


TANH_T = mp.mpf('0.625')   # |x| below which tanh uses its odd polynomial

def tanh_p(z):
    """(tanh(x) - x) / x^3 as a function of z = x^2."""
    x = mp.sqrt(z)
    if x < mp.mpf('1e-3'):
        # tanh x = x - x^3/3 + 2x^5/15 - 17x^7/315 + 62x^9/2835 ...
        return -mp.mpf(1) / 3 + 2 * z / 15 - 17 * z ** 2 / 315 + 62 * z ** 3 / 2835 \
            - mp.mpf(1382) * z ** 4 / 155925
    return (mp.tanh(x) - x) / x ** 3


def tanh_w(z):
    x = mp.sqrt(z)
    if x == 0:
        return mp.mpf(0)
    return x ** 3 / mp.tanh(x)


# |s|, s = f/(2+f): log reduces f to [sqrt(2)/2 - 1, sqrt(2) - 1] (|s| <= 0.1716),
# softplus's log1p of t in [0, 1] to f in [-1/4, 1/2) (s in [-1/7, 1/5]).
LOG_S = mp.mpf('0.2') + mp.mpf('1e-9')

def log_h(z):
    """R(z)/z where log(1+f) = 2s + s R(z), z = s^2: R = 2(atanh(s)/s - 1)."""
    s = mp.sqrt(z)
    if s < mp.mpf('1e-3'):
        return series(lambda k: mp.mpf(2) / (2 * k + 3), z)
    return 2 * (mp.atanh(s) / s - 1) / z


def log_w(z):
    """Error in h costs s*z*dh; relative to log(1+f) ~ 2s: weight z/2."""
    return z / 2


FITS = {
    # name: (g, w, a, b, degree, what)
    'exp': (expm1_q2, expm1_w, -LN2_HALF, LN2_HALF, 10,
            'Q(r) in e^r - 1 = r + r^2 Q(r), |r| <= ln2/2; rel. error of expm1'),
    'tanh': (tanh_p, tanh_w, mp.mpf('1e-8'), TANH_T ** 2, 10,
             'P(z) in tanh x = x + x z P(z), z = x^2, |x| <= %s; rel. error' % mp.nstr(TANH_T, 4)),
    'log': (log_h, log_w, mp.mpf('1e-10'), LOG_S ** 2, 7,
            'L(z) in log(1+f) = 2s + s z L(z), s = f/(2+f), z = s^2; rel. error'),
}


def hexlit(x):
    return float(x).hex()


def main(names):
    for name in names:
        g, w, a, b, n, what = FITS[name]
        c, level = remez(g, w, a, b, n)
        err, cd = rounded_error(g, w, a, b, c)
        print('%s: %s' % (name, what))
        print('  degree %d on [%s, %s]: minimax level %s, after rounding to double %s'
              % (n, mp.nstr(a, 6), mp.nstr(b, 6), mp.nstr(level, 3), mp.nstr(err, 3)))
        for k, x in enumerate(cd):
            print('  c%-2d = %-24s /* %s */' % (k, repr(float(x)), hexlit(x)))


if __name__ == '__main__':
    main(sys.argv[1:] or sorted(FITS))
