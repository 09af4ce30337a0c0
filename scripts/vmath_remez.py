#!/usr/bin/python3
"""vmath_remez.py - derive the polynomial coefficients of compiler/vmath.h.

Each approximation in vmath.h is a polynomial P of degree n in a variable t on
an interval [a, b], chosen to minimise the weighted error
max |w(t) (g(t) - P(t))|: the classical Remez exchange algorithm, run in
60-digit arithmetic (mpmath), then each coefficient rounded to the nearest
double.  tanh's is a rational function P/Q (degrees m, k, Q(0) = 1), fitted
by the rational form of the exchange: at each reference the linear system
P(t_i) - g(t_i) Q(t_i) = (-1)^i E Q_prev(t_i) / w(t_i) is solved with the
previous Q on the right until E settles, then the reference moves to the
new extrema.  The weight turns the error of P into the relative error of the final
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


def ratremez(g, w, a, b, m, k, iters=40):
    """P (degree m), Q (degree k, Q(0) = 1) of the weighted-minimax P/Q, and
    the level."""
    a, b = mp.mpf(a), mp.mpf(b)
    nref = m + k + 2
    ref = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (nref - 1)) for i in range(nref)]
    grid = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / 4000) for i in range(4001)]
    gv = [g(t) for t in grid]
    wv = [w(t) for t in grid]
    q = [mp.mpf(1)] + [mp.mpf(0)] * k
    p, level = None, None
    for _ in range(iters):
        for _inner in range(8):   # E Q(t_i) is nonlinear: iterate with Q fixed
            A = mp.matrix(nref, nref)
            rhs = mp.matrix(nref, 1)
            for i, t in enumerate(ref):
                for j in range(m + 1):
                    A[i, j] = t ** j
                for j in range(1, k + 1):
                    A[i, m + j] = -g(t) * t ** j
                A[i, m + k + 1] = -(-1) ** i * mp.polyval(q[::-1], t) / w(t)
                rhs[i] = g(t)
            sol = mp.lu_solve(A, rhs)
            p = [sol[j] for j in range(m + 1)]
            q = [mp.mpf(1)] + [sol[m + j] for j in range(1, k + 1)]
            level = abs(sol[m + k + 1])
        err = [wv[j] * (gv[j] - mp.polyval(p[::-1], grid[j]) / mp.polyval(q[::-1], grid[j]))
               for j in range(len(grid))]
        runs, start = [], 0
        for j in range(1, len(grid) + 1):
            if j == len(grid) or mp.sign(err[j]) != mp.sign(err[start]):
                runs.append(max(range(start, j), key=lambda r: abs(err[r])))
                start = j
        while len(runs) > nref:
            if abs(err[runs[0]]) < abs(err[runs[-1]]):
                runs.pop(0)
            else:
                runs.pop()
        if len(runs) < nref:
            break
        ref = [grid[j] for j in runs]
        if max(abs(e) for e in err) <= level * (1 + mp.mpf('1e-6')):
            break
    return p, q, level


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


TANH_B = mp.mpf('0.6932')   # b = a - n ln2 in [0, ln2 = 0.693147...], with margin

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
    'log': (log_h, log_w, mp.mpf('1e-10'), LOG_S ** 2, 7,
            'L(z) in log(1+f) = 2s + s z L(z), s = f/(2+f), z = s^2; rel. error'),
}


def hexlit(x):
    return float(x).hex()


RATFITS = {
    'tanh': (tanh_p, tanh_w, mp.mpf('1e-12'), TANH_B ** 2, 2, 3,
             'P(z)/Q(z) in tanh b = b + b z P(z)/Q(z), z = b^2, 0 <= b <= %s; rel. error'
             % mp.nstr(TANH_B, 6)),
}


def main_rational(name):
    g, w, a, b, m, k, what = RATFITS[name]
    p, q, level = ratremez(g, w, a, b, m, k)
    pd = [mp.mpf(float(x)) for x in p]
    qd = [mp.mpf(float(x)) for x in q]
    grid = [mp.mpf(a) + (mp.mpf(b) - a) * i / 20000 for i in range(20001)]
    err = max(abs(w(t) * (g(t) - mp.polyval(pd[::-1], t) / mp.polyval(qd[::-1], t))) for t in grid)
    print('%s: %s' % (name, what))
    print('  degrees (%d, %d) on [%s, %s]: minimax level %s, after rounding to double %s'
          % (m, k, mp.nstr(a, 6), mp.nstr(b, 6), mp.nstr(level, 3), mp.nstr(err, 3)))
    for j, x in enumerate(pd):
        print('  p%-2d = %-24s /* %s */' % (j, repr(float(x)), hexlit(x)))
    for j, x in enumerate(qd):
        print('  q%-2d = %-24s /* %s */' % (j, repr(float(x)), hexlit(x)))


def main(names):
    for name in names:
        if name in RATFITS:
            main_rational(name)
            continue
        g, w, a, b, n, what = FITS[name]
        c, level = remez(g, w, a, b, n)
        err, cd = rounded_error(g, w, a, b, c)
        print('%s: %s' % (name, what))
        print('  degree %d on [%s, %s]: minimax level %s, after rounding to double %s'
              % (n, mp.nstr(a, 6), mp.nstr(b, 6), mp.nstr(level, 3), mp.nstr(err, 3)))
        for k, x in enumerate(cd):
            print('  c%-2d = %-24s /* %s */' % (k, repr(float(x)), hexlit(x)))


if __name__ == '__main__':
    main(sys.argv[1:] or sorted(list(FITS) + list(RATFITS)))
