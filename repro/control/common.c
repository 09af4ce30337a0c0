/*
 * common.c - see common.h: random numbers, Adam, clocks, symbol lookup and
 * the per-instance batch wrapper of the reproduction programs.
 */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static unsigned long long splitmix(unsigned long long *x)
{
    unsigned long long z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void repro_rng_seed(repro_rng *r, unsigned long long seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static unsigned long long rotl(unsigned long long x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna), written from its published
   definition. */
static unsigned long long next(repro_rng *r)
{
    unsigned long long *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double repro_uniform(repro_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Box-Muller; the second value is dropped so that the stream position
   depends only on the number of calls. */
double repro_normal(repro_rng *r)
{
    double u1 = repro_uniform(r, 0, 1), u2 = repro_uniform(r, 0, 1);
    return sqrt(-2 * log(1 - u1)) * cos(6.283185307179586 * u2);
}

int repro_index(repro_rng *r, int n)
{
    return (int)(repro_uniform(r, 0, 1) * n) % n;
}

int repro_adam_init(repro_adam *a, int n)
{
    a->n = n, a->t = 0, a->b1 = 0.9, a->b2 = 0.999, a->eps = 1e-8;
    a->m = calloc((size_t)n, sizeof *a->m);
    a->v = calloc((size_t)n, sizeof *a->v);
    return a->m && a->v ? 0 : -1;
}

void repro_adam_step(repro_adam *a, double *theta, const double *grad, double lr)
{
    a->t++;
    double c1 = 1 - pow(a->b1, a->t), c2 = 1 - pow(a->b2, a->t);
    for (int k = 0; k < a->n; k++) {
        a->m[k] = a->b1 * a->m[k] + (1 - a->b1) * grad[k];
        a->v[k] = a->b2 * a->v[k] + (1 - a->b2) * grad[k] * grad[k];
        theta[k] -= lr * (a->m[k] / c1) / (sqrt(a->v[k] / c2) + a->eps);
    }
}

void repro_adam_free(repro_adam *a)
{
    free(a->m), free(a->v);
    a->m = a->v = NULL;
}

double repro_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double repro_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int repro_symbol(const dil_model *m, const char *name, int role, int size)
{
    for (int i = 0; i < m->nsymbols; i++) {
        const dil_symbol *s = &m->symbols[i];
        if (s->role == role && strcmp(s->name, name) == 0) {
            if (s->shape[0] * s->shape[1] != size)
                break;
            return s->offset;
        }
    }
    fprintf(stderr, "%s: no symbol %s of %d entries in this model\n", m->name, name, size);
    exit(EXIT_FAILURE);
}

/* Scratch per thread, grown as needed, and the per-instance gradients
   (summed in instance order afterwards, so that the result has the same
   bits for any number of threads). */
#define MAX_THREADS 64
static double *batch_work[MAX_THREADS];
static size_t batch_work_size[MAX_THREADS];
static double *batch_grad;
static size_t batch_grad_size;

static int max_threads(void)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n < MAX_THREADS ? n : MAX_THREADS;
#else
    return 1;
#endif
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Makes every thread's scratch at least dil_work_size(m, opt) doubles. */
static int scratch(const dil_model *m, const dil_options *opt)
{
    size_t need = dil_work_size(m, opt);
    for (int t = 0; t < max_threads(); t++)
        if (need > batch_work_size[t]) {
            free(batch_work[t]);
            batch_work[t] = malloc(need * sizeof(double));
            batch_work_size[t] = batch_work[t] ? need : 0;
            if (!batch_work[t])
                return -1;
        }
    return 0;
}

void repro_batch_free(void)
{
    for (int t = 0; t < MAX_THREADS; t++) {
        free(batch_work[t]);
        batch_work[t] = NULL;
        batch_work_size[t] = 0;
    }
    free(batch_grad);
    batch_grad = NULL;
    batch_grad_size = 0;
}

static int first_failure(const int *st, int n)
{
    for (int i = 0; i < n; i++)
        if (st[i] != DIL_OK)
            return st[i];
    return DIL_OK;
}

int repro_solve_batch(const dil_model *m, int n, const double *x, const double *theta,
                      double *y, const dil_options *opt, int *status, int nthreads)
{
    int *st = malloc((size_t)(n > 0 ? n : 1) * sizeof *st);
    if (!st || scratch(m, opt) != 0) {
        free(st);
        return DIL_NO_MEMORY;
    }
    int nt = nthreads > 0 ? nthreads : max_threads();
    (void)nt; /* unused without OpenMP */
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (nt > 1)
    for (int i = 0; i < n; i++)
        st[i] = dil_solve(m, x + (size_t)i * (size_t)m->nx, theta,
                          y + (size_t)i * (size_t)m->ny, opt, NULL, batch_work[thread_id()]);
    int first = first_failure(st, n);
    if (status)
        memcpy(status, st, (size_t)n * sizeof *st);
    free(st);
    return first;
}

int repro_loss_gradient_batch(const dil_model *m, int n, const double *y, const double *x,
                              const double *theta, const double *data, double *loss,
                              double *dl_dtheta, const dil_options *opt, int *status,
                              int nthreads)
{
    size_t nt = (size_t)m->ntheta, need = (size_t)n * nt;
    int *st = malloc((size_t)(n > 0 ? n : 1) * sizeof *st);
    if (need > batch_grad_size) {
        free(batch_grad);
        batch_grad = malloc(need * sizeof *batch_grad);
        batch_grad_size = batch_grad ? need : 0;
    }
    if (!st || scratch(m, opt) != 0 || (need > 0 && !batch_grad)) {
        free(st);
        return DIL_NO_MEMORY;
    }
    int nth = nthreads > 0 ? nthreads : max_threads();
    (void)nth; /* unused without OpenMP */
#pragma omp parallel for schedule(dynamic) num_threads(nth) if (nth > 1)
    for (int i = 0; i < n; i++) {
        double l = 0;
        st[i] = dil_loss_gradient(m, y + (size_t)i * (size_t)m->ny, x + (size_t)i * (size_t)m->nx,
                                  theta, data + (size_t)i * (size_t)m->ndata, &l, NULL,
                                  dl_dtheta ? batch_grad + (size_t)i * nt : NULL, opt, NULL,
                                  batch_work[thread_id()]);
        if (loss)
            loss[i] = l;
    }
    if (dl_dtheta) {
        memset(dl_dtheta, 0, nt * sizeof *dl_dtheta);
        for (int i = 0; i < n; i++)
            if (st[i] == DIL_OK)
                for (size_t k = 0; k < nt; k++)
                    dl_dtheta[k] += batch_grad[(size_t)i * nt + k];
    }
    int first = first_failure(st, n);
    if (status)
        memcpy(status, st, (size_t)n * sizeof *st);
    free(st);
    return first;
}
