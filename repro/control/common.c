/*
 * common.c - see common.h: random numbers, Adam, clocks, symbol lookup and
 * the batch wrappers of the reproduction programs.
 */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* libdil's batch calls (SPEC section 5), with one status per instance
   instead of a dil_info array. */
static void statuses(const dil_info *info, int n, int *status)
{
    for (int i = 0; status && i < n; i++)
        status[i] = info[i].status;
}

int repro_solve_batch(const dil_model *m, int n, const double *x, const double *theta,
                      double *y, const dil_options *opt, int *status, int nthreads)
{
    dil_info *info = malloc((size_t)(n > 0 ? n : 1) * sizeof *info);
    if (!info)
        return DIL_NO_MEMORY;
    int st = dil_solve_batch(m, n, x, theta, y, opt, info, nthreads);
    statuses(info, n, status);
    free(info);
    return st;
}

int repro_loss_gradient_batch(const dil_model *m, int n, const double *y, const double *x,
                              const double *theta, const double *data, double *loss,
                              double *dl_dtheta, const dil_options *opt, int *status,
                              int nthreads)
{
    dil_info *info = malloc((size_t)(n > 0 ? n : 1) * sizeof *info);
    if (!info)
        return DIL_NO_MEMORY;
    int st = dil_loss_gradient_batch(m, n, y, x, theta, data, loss, NULL, dl_dtheta, opt,
                                     info, nthreads);
    statuses(info, n, status);
    free(info);
    return st;
}
