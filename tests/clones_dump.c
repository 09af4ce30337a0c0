/*
 * clones_dump.c - every kernel of one emitted model at a few fixed points,
 * written to stdout as raw doubles, for tests/golden/clones.sh: the model
 * compiled with its AVX2 clones and compiled with -DDIL_NO_CLONES must
 * write the same bytes.  MODEL names the descriptor (-DMODEL=node_vdp_model).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dil_model.h"

extern const dil_model MODEL;

static unsigned long long seed = 12345;

/* Uniform in [-1.5, 1.5): moderate arguments for every elementwise op. */
static double uniform(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return 3.0 * ((double)(seed >> 11) / 9007199254740992.0) - 1.5;
}

static double *fresh(size_t n)
{
    double *v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL) {
        fputs("clones_dump: out of memory\n", stderr);
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        v[i] = uniform();
    return v;
}

static void put(const double *v, size_t n)
{
    if (n > 0 && fwrite(v, sizeof *v, n, stdout) != n)
        exit(2);
}

int main(void)
{
    const dil_model *m = &MODEL;
    size_t ny = (size_t)m->ny, nx = (size_t)m->nx, nt = (size_t)m->ntheta;
    size_t nd = (size_t)m->ndata, nr = (size_t)m->nres;
    size_t big = ny + nx + nt + nd + nr + 1;
    for (int pt = 0; pt < 3; pt++) {
        double *y = fresh(ny), *x = fresh(nx), *th = fresh(nt), *d = fresh(nd);
        double *v = fresh(ny), *w = fresh(nr ? nr : ny), *out = fresh(big);
        double *work = fresh(m->work_size), *state = fresh(m->state_size), f;
        f = m->score(y, x, th, work);
        put(&f, 1);
        m->score_grad_y(y, x, th, out, work), put(out, ny);
        m->score_hvp_yy(y, x, th, v, out, work), put(out, ny);
        m->score_vjp_xy(y, x, th, v, out, work), put(out, nx);
        m->score_vjp_thetay(y, x, th, v, out, work), put(out, nt);
        if (m->loss) {
            f = m->loss(y, x, th, d, work);
            put(&f, 1);
            m->loss_grad(y, x, th, d, out, out + ny, out + ny + nx, work);
            put(out, ny + nx + nt);
        }
        if (m->residual) {
            m->residual(y, x, th, out, work), put(out, nr);
            m->residual_jvp_y(y, x, th, v, out, work), put(out, nr);
            m->residual_vjp_y(y, x, th, w, out, work), put(out, ny);
            m->residual_vjp_x(y, x, th, w, out, work), put(out, nx);
            m->residual_vjp_theta(y, x, th, w, out, work), put(out, nt);
        }
        if (m->linearise) {
            m->linearise(y, x, th, state, work);
            put(state, m->state_size);
            if (m->score_hvp_yy_apply)
                m->score_hvp_yy_apply(y, x, th, state, v, out, work), put(out, ny);
            if (m->score_vjp_thetay_apply)
                m->score_vjp_thetay_apply(y, x, th, state, v, out, work), put(out, nt);
            if (m->residual_jvp_y_apply)
                m->residual_jvp_y_apply(y, x, th, state, v, out, work), put(out, nr);
            if (m->residual_vjp_theta_apply)
                m->residual_vjp_theta_apply(y, x, th, state, w, out, work), put(out, nt);
        }
        if (m->residual_linearise)
            m->residual_linearise(y, x, th, state, out, work), put(out, nr);
        if (m->score_linearise) {
            f = m->score_linearise(y, x, th, state, out, work);
            put(&f, 1), put(out, ny);
        }
        free(y), free(x), free(th), free(d), free(v), free(w), free(out), free(work), free(state);
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
