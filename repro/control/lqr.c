/*
 * lqr.c - the DARE of a two-state, one-input LQR and the analytic gradient
 * of the appendix-C imitation loss through it (see lqr.h).  Everything is
 * written out for 2x2 matrices; nothing here uses libdil or dilc, so that
 * it is an independent reference for the implicit-layer gradients.
 */
#include "lqr.h"

#include <math.h>
#include <string.h>

/* C = X Y for 2x2 row-major matrices (C may not alias). */
static void mm(const double X[4], const double Y[4], double C[4])
{
    C[0] = X[0] * Y[0] + X[1] * Y[2];
    C[1] = X[0] * Y[1] + X[1] * Y[3];
    C[2] = X[2] * Y[0] + X[3] * Y[2];
    C[3] = X[2] * Y[1] + X[3] * Y[3];
}

static void tr(const double X[4], double T[4])
{
    T[0] = X[0], T[1] = X[2], T[2] = X[1], T[3] = X[3];
}

void lqr_gain(const double A[4], const double B[2], double R, const double S[4], double K[2])
{
    double SB[2] = { S[0] * B[0] + S[1] * B[1], S[2] * B[0] + S[3] * B[1] };
    double den = R + B[0] * SB[0] + B[1] * SB[1];
    /* (B'SA)_j = sum_i (SB)_i A_ij */
    K[0] = (SB[0] * A[0] + SB[1] * A[2]) / den;
    K[1] = (SB[0] * A[1] + SB[1] * A[3]) / den;
}

void lqr_dare_residual(const double A[4], const double B[2], double R, const double S[4],
                       double D[4])
{
    double At[4], SA[4], AtSA[4], K[2];
    tr(A, At);
    mm(S, A, SA);
    mm(At, SA, AtSA);
    lqr_gain(A, B, R, S, K);
    double SB[2] = { S[0] * B[0] + S[1] * B[1], S[2] * B[0] + S[3] * B[1] };
    double den = R + B[0] * SB[0] + B[1] * SB[1];
    /* (A'SB)(B'SA)/den = den K'K */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            D[2 * i + j] = AtSA[2 * i + j] - S[2 * i + j] - den * K[i] * K[j] + (i == j);
}

/* Eigenvalues of a real 2x2 matrix: max modulus. */
double lqr_closed_loop_radius(const double A[4], const double B[2], const double K[2])
{
    double a = A[0] - B[0] * K[0], b = A[1] - B[0] * K[1];
    double c = A[2] - B[1] * K[0], d = A[3] - B[1] * K[1];
    double t = a + d, det = a * d - b * c, disc = t * t / 4 - det;
    if (disc >= 0)
        return fmax(fabs(t / 2 + sqrt(disc)), fabs(t / 2 - sqrt(disc)));
    return sqrt(det); /* complex pair: |lambda|^2 = det */
}

int lqr_dare_iterate(const double A[4], const double B[2], double R, double S[4], double tol,
                     int max_iter)
{
    static const double I[4] = { 1, 0, 0, 1 };
    memcpy(S, I, sizeof I);
    for (int k = 1; k <= max_iter; k++) {
        double D[4], change = 0, size = 0;
        /* S + D is the next iterate: D is the Riccati matrix at S. */
        lqr_dare_residual(A, B, R, S, D);
        for (int i = 0; i < 4; i++) {
            S[i] += D[i];
            if (!isfinite(S[i]))
                return -1;
            change = fmax(change, fabs(D[i]));
            size = fmax(size, fabs(S[i]));
        }
        S[1] = S[2] = (S[1] + S[2]) / 2; /* keep it exactly symmetric */
        if (change <= tol * (1 + size))
            return k;
    }
    return -1;
}

void lqr_rollout(const double A[4], const double B[2], const double K[2], const double x0[2],
                 int n, double *xs, double *us)
{
    double x[2] = { x0[0], x0[1] };
    for (int t = 0; t < n; t++) {
        double u = -(K[0] * x[0] + K[1] * x[1]);
        xs[2 * t] = x[0], xs[2 * t + 1] = x[1];
        us[t] = u;
        double y0 = A[0] * x[0] + A[1] * x[1] + B[0] * u;
        double y1 = A[2] * x[0] + A[3] * x[1] + B[1] * u;
        x[0] = y0, x[1] = y1;
    }
}

/* Solves Lambda - F Lambda F' = G (2x2) through its 4x4 Kronecker form
   (I - F (x) F) vec(Lambda) = vec(G), row-major vec, by elimination with
   partial pivoting.  Returns -1 if singular. */
static int lyapunov(const double F[4], const double G[4], double Lam[4])
{
    double M[4][5];
    for (int r = 0; r < 4; r++) {
        int i = r / 2, j = r % 2;
        for (int c = 0; c < 4; c++) {
            int k = c / 2, l = c % 2;
            /* (F Lambda F')_ij = sum_kl F_ik Lambda_kl F_jl */
            M[r][c] = (r == c) - F[2 * i + k] * F[2 * j + l];
        }
        M[r][4] = G[r];
    }
    for (int k = 0; k < 4; k++) {
        int p = k;
        for (int r = k + 1; r < 4; r++)
            if (fabs(M[r][k]) > fabs(M[p][k]))
                p = r;
        if (fabs(M[p][k]) < 1e-14)
            return -1;
        for (int c = 0; c < 5; c++) {
            double t = M[k][c];
            M[k][c] = M[p][c];
            M[p][c] = t;
        }
        for (int r = k + 1; r < 4; r++) {
            double f = M[r][k] / M[k][k];
            for (int c = k; c < 5; c++)
                M[r][c] -= f * M[k][c];
        }
    }
    for (int k = 3; k >= 0; k--) {
        double s = M[k][4];
        for (int c = k + 1; c < 4; c++)
            s -= M[k][c] * Lam[c];
        Lam[k] = s / M[k][k];
    }
    return 0;
}

/*
 * The rollout x[t+1] = A x[t] + B u[t], u[t] = -K x[t], loss
 * L = sum_t (u[t] - ue[t])^2.  Reverse accumulation with p[t] = dL/dx[t]
 * (p[T] = 0) and the control adjoint ub[t] = 2 (u[t] - ue[t]) + B'p[t+1]:
 *     dL/dA += p[t+1] x[t]',   dL/dB += p[t+1] u[t],
 *     dL/dK -= ub[t] x[t]',    p[t] = A'p[t+1] - K' ub[t].
 * Then K = a / den with a = A'SB, den = R + B'SB; for kb = dL/dK,
 * gb = kb / den and c = -(kb . a) / den^2:
 *     dL/dA += (SB) gb',  dL/dB += S A gb + 2 c S B,
 *     dL/dS (unsymmetrised) = (A gb) B' + c B B'.
 * The implicit term: at the DARE solution, with A_K = A - B K,
 *     dS - A_K' dS A_K = dA' S A_K + A_K' S dA - (dB K)' S A_K - A_K' S dB K
 * (the dK terms cancel because (R + B'SB) K = B'SA), so for the symmetric
 * G = sym(dL/dS) and Lambda - A_K Lambda A_K' = G (the adjoint equation),
 *     dL/dA += S A_K (Lambda + Lambda'),  dL/dB -= S A_K (Lambda + Lambda') K'.
 */
int lqr_loss_gradient(const double A[4], const double B[2], double R, const double S[4],
                      const double x0[2], const double u_expert[LQR_T], double *loss,
                      double gA[4], double gB[2])
{
    double K[2], xs[2 * (LQR_T + 1)], us[LQR_T];
    lqr_gain(A, B, R, S, K);
    lqr_rollout(A, B, K, x0, LQR_T, xs, us);
    double L = 0, a[4] = { 0 }, b[2] = { 0 }, kb[2] = { 0 }, p[2] = { 0, 0 };
    for (int t = 0; t < LQR_T; t++)
        L += (us[t] - u_expert[t]) * (us[t] - u_expert[t]);
    for (int t = LQR_T - 1; t >= 0; t--) {
        const double *x = xs + 2 * t;
        double ub = 2 * (us[t] - u_expert[t]) + B[0] * p[0] + B[1] * p[1];
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++)
                a[2 * i + j] += p[i] * x[j];
            b[i] += p[i] * us[t];
            kb[i] -= ub * x[i];
        }
        double q0 = A[0] * p[0] + A[2] * p[1] - K[0] * ub;
        double q1 = A[1] * p[0] + A[3] * p[1] - K[1] * ub;
        p[0] = q0, p[1] = q1;
    }
    double SB[2] = { S[0] * B[0] + S[1] * B[1], S[2] * B[0] + S[3] * B[1] };
    double den = R + B[0] * SB[0] + B[1] * SB[1];
    double av[2] = { A[0] * SB[0] + A[2] * SB[1], A[1] * SB[0] + A[3] * SB[1] }; /* A'SB */
    double gb[2] = { kb[0] / den, kb[1] / den };
    double c = -(kb[0] * av[0] + kb[1] * av[1]) / (den * den);
    double Agb[2] = { A[0] * gb[0] + A[1] * gb[1], A[2] * gb[0] + A[3] * gb[1] };
    double GS[4];
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            a[2 * i + j] += SB[i] * gb[j];
            GS[2 * i + j] = Agb[i] * B[j] + c * B[i] * B[j];
        }
        b[i] += S[2 * i] * Agb[0] + S[2 * i + 1] * Agb[1] + 2 * c * SB[i];
    }
    double G[4] = { GS[0], (GS[1] + GS[2]) / 2, (GS[1] + GS[2]) / 2, GS[3] };
    double AK[4] = { A[0] - B[0] * K[0], A[1] - B[0] * K[1], A[2] - B[1] * K[0],
                     A[3] - B[1] * K[1] };
    double Lam[4], Sym[4], SAK[4], W[4];
    if (lyapunov(AK, G, Lam) != 0)
        return -1;
    Sym[0] = 2 * Lam[0], Sym[3] = 2 * Lam[3], Sym[1] = Sym[2] = Lam[1] + Lam[2];
    mm(S, AK, SAK);
    mm(SAK, Sym, W);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++)
            a[2 * i + j] += W[2 * i + j];
        b[i] -= W[2 * i] * K[0] + W[2 * i + 1] * K[1];
    }
    if (loss)
        *loss = L;
    if (gA)
        memcpy(gA, a, sizeof a);
    if (gB)
        memcpy(gB, b, sizeof b);
    return 0;
}
