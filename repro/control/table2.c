// models: cartpole_dyn cartpole_bc cartpole_mpc
/*
 * table2.c - the paper's Table 2: cart-pole swing-up imitation from
 * observed states, MPC_IFT against behavioural cloning and the expert
 * (section 3.2, Algorithm 2 of appendix B).
 *
 * 1. Expert data: 100 trajectories of 40 steps from s0 ~ N(0, 0.04 I) by
 *    the random-shooting expert on the true system (repro/control/cartpole.c:
 *    horizon 10, 1000 particles); only the states are kept.
 * 2. For each run r (seed r; RUNS runs):
 *    a. train.h: the dynamics network (models/cartpole_dyn.dil) fit on
 *       triplets (s, a, s') with s from the expert states, a ~ U[-1, 1],
 *       s' from the true system, by Adam on the squared error.
 *    b. BC (models/cartpole_bc.dil): a policy network mapped through that
 *       dynamics network, Adam on the squared error to the observed next
 *       state (dynamics fixed).
 *    c. MPC_IFT (models/cartpole_mpc.dil): the learned cost (target and
 *       log-weights) trained by Adam on the IFT gradient of the squared
 *       error between the observed next state and the dynamics network's
 *       prediction after the first planned control; the plan is the
 *       minimiser found by Newton-CG from v = 0 (dil_solve), the gradient
 *       dil_loss_gradient with CG; the horizon grows from 1 to 10.
 *    d. Evaluation at both variances (0.04 and 0.08): 50 initial states
 *       drawn with seed r, one 40-step episode each on the true system for
 *       the expert, BC and MPC_IFT (MPC_IFT replans every step over 10
 *       steps, from the shifted previous plan and from zero, keeping the
 *       lower score); the task cost of each episode (cartpole.h).
 * Writes OUTDIR/table2.csv (method,variance,run,mean_cost,se_cost, a row
 * per run), OUTDIR/table2_traj.csv (episode states of run 0 at low
 * variance, for the Figure 3 plot) and prints the table and timings.
 *
 * Usage: table2 OUTDIR [RUNS]   (RUNS defaults to 10)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cartpole.h"
#include "cartpole_bc.h"
#include "cartpole_dyn.h"
#include "cartpole_mpc.h"
#include "common.h"
#include "dil.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define NTRAJ 100
#define TLEN CP_EPISODE
#define NEVAL 50
#define RS_HORIZON 10
#define RS_PARTICLES 1000
#define HMAX 10
#define NTRAJ_PLOT 10

enum { VAR_LOW, VAR_HIGH, NVAR };
static const char *const var_name[NVAR] = { "low", "high" };
static const double var_value[NVAR] = { 0.04, 0.08 };

enum { P_EXPERT, P_BC, P_MPC, NPOL };
static const char *const pol_name[NPOL] = { "expert", "bc", "mpc_ift" };

/* Expert states: NTRAJ trajectories of TLEN + 1 states. */
static double data_s[NTRAJ][TLEN + 1][CP_NX];

/* Layout of the three models' theta: the dynamics network first in each. */
typedef struct Layout {
    int ndyn;          /* entries of W1, b1, W2, b2 */
    int bc_pol, bc_n;  /* policy block of cartpole_bc */
    int mpc_cost, mpc_n; /* target and logq of cartpole_mpc */
} Layout;
static Layout lay;

/* Offset of a param, whatever its size. */
static int param_offset(const dil_model *m, const char *name)
{
    for (int i = 0; i < m->nsymbols; i++)
        if (m->symbols[i].role == DIL_ROLE_PARAM && strcmp(m->symbols[i].name, name) == 0)
            return m->symbols[i].offset;
    fprintf(stderr, "table2: %s has no param %s\n", m->name, name);
    exit(EXIT_FAILURE);
}

static void layout_init(void)
{
    const dil_model *d = &cartpole_dyn_model, *b = &cartpole_bc_model, *m = &cartpole_mpc_model;
    lay.ndyn = d->ntheta;
    int nh = 0;
    for (int i = 0; i < d->nsymbols; i++)
        if (strcmp(d->symbols[i].name, "b1") == 0)
            nh = d->symbols[i].shape[0];
    /* The shared prefix has the same symbols at the same offsets. */
    const char *shared[4] = { "W1", "b1", "W2", "b2" };
    int size[4] = { nh * 6, nh, CP_NX * nh, CP_NX };
    for (int k = 0; k < 4; k++) {
        int o = repro_symbol(d, shared[k], DIL_ROLE_PARAM, size[k]);
        if (repro_symbol(b, shared[k], DIL_ROLE_PARAM, size[k]) != o ||
            repro_symbol(m, shared[k], DIL_ROLE_PARAM, size[k]) != o) {
            fprintf(stderr, "table2: the dynamics network differs between the models\n");
            exit(EXIT_FAILURE);
        }
    }
    lay.bc_pol = param_offset(b, "P1");
    lay.bc_n = b->ntheta - lay.bc_pol;
    lay.mpc_cost = param_offset(m, "target");
    lay.mpc_n = m->ntheta - lay.mpc_cost;
    if (lay.bc_pol != lay.ndyn || lay.mpc_cost != lay.ndyn || m->ny != HMAX ||
        m->nx != CP_NX + HMAX) {
        fprintf(stderr, "table2: unexpected model layout\n");
        exit(EXIT_FAILURE);
    }
}

static void initial_state(repro_rng *r, double var, double s[CP_NX])
{
    for (int i = 0; i < CP_NX; i++)
        s[i] = sqrt(var) * repro_normal(r);
}

/* ------------------------------------------------------------------ */
/* 1. expert data                                                      */
/* ------------------------------------------------------------------ */

static void expert_data(void)
{
    const char *cache = getenv("TABLE2_CACHE");
    FILE *f = cache ? fopen(cache, "rb") : NULL;
    if (f) {
        size_t got = fread(data_s, sizeof data_s, 1, f);
        fclose(f);
        if (got == 1)
            return;
    }
    repro_rng r;
    repro_rng_seed(&r, 12345);
    for (int n = 0; n < NTRAJ; n++)
        initial_state(&r, var_value[VAR_LOW], data_s[n][0]);
    /* each trajectory its own random-shooting stream: the same data for
       any number of threads */
#pragma omp parallel for schedule(dynamic)
    for (int n = 0; n < NTRAJ; n++) {
        unsigned long long rs = 777 + 7919 * (unsigned long long)n;
        for (int t = 0; t < TLEN; t++) {
            memcpy(data_s[n][t + 1], data_s[n][t], sizeof data_s[n][t]);
            cp_step(data_s[n][t + 1],
                    cp_random_shooting(data_s[n][t], RS_HORIZON, RS_PARTICLES, &rs));
        }
    }
    if (cache && (f = fopen(cache, "wb")) != NULL) {
        fwrite(data_s, sizeof data_s, 1, f);
        fclose(f);
    }
}

/* ------------------------------------------------------------------ */
/* 2a-c. training                                                       */
/* ------------------------------------------------------------------ */

/* Uniform initialisation of a network block: scale 1/sqrt(fan_in). */
static void init_block(repro_rng *r, double *w, int n, int fan_in)
{
    double a = 1 / sqrt((double)fan_in);
    for (int k = 0; k < n; k++)
        w[k] = repro_uniform(r, -a, a);
}

/* Random network weights for a model's W1..b2 (and, for BC, P1..c2). */
static void init_network(repro_rng *r, const dil_model *m, double *theta)
{
    memset(theta, 0, (size_t)m->ntheta * sizeof *theta);
    for (int i = 0; i < m->nsymbols; i++) {
        const dil_symbol *s = &m->symbols[i];
        if (s->role != DIL_ROLE_PARAM)
            continue;
        if (s->rank == 2)
            init_block(r, theta + s->offset, s->shape[0] * s->shape[1], s->shape[1]);
        else if (strcmp(s->name, "p2") == 0)
            init_block(r, theta + s->offset, s->shape[0], s->shape[0]);
    }
}

#define DYN_STEPS 4000
#define DYN_BATCH 32
#define DYN_LR 3e-3

/* Mean squared one-step error of the dynamics network on n fresh
   triplets from the expert states (the statistic of train.h). */
static double dyn_batch(const double *theta, repro_rng *r, int n, double *grad, double *x,
                        double *y, double *data)
{
    const dil_model *m = &cartpole_dyn_model;
    for (int i = 0; i < n; i++) {
        const double *s = data_s[repro_index(r, NTRAJ)][repro_index(r, TLEN + 1)];
        double a = repro_uniform(r, -1, 1), *xi = x + i * m->nx, *di = data + i * m->ndata;
        memcpy(xi, s, CP_NX * sizeof *s);
        xi[CP_NX] = a;
        memcpy(di, s, CP_NX * sizeof *s);
        cp_step(di, a);
        memset(y + i * m->ny, 0, (size_t)m->ny * sizeof *y);
    }
    dil_options opt = dil_default_options();
    double loss[DYN_BATCH * 8];
    if (repro_solve_batch(m, n, x, theta, y, &opt, NULL, 1) != DIL_OK ||
        repro_loss_gradient_batch(m, n, y, x, theta, data, loss, grad, &opt, NULL, 1) !=
            DIL_OK) {
        fprintf(stderr, "table2: dynamics layer failed\n");
        exit(EXIT_FAILURE);
    }
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += loss[i] / n;
    return mean;
}

static double fit_dynamics(double *theta, unsigned long long seed)
{
    const dil_model *m = &cartpole_dyn_model;
    repro_rng r;
    repro_rng_seed(&r, 100 + seed);
    init_network(&r, m, theta);
    double *g = malloc((size_t)m->ntheta * sizeof *g), x[DYN_BATCH * 8 * 5],
           y[DYN_BATCH * 8 * 4], data[DYN_BATCH * 8 * 4];
    repro_adam adam;
    if (!g || repro_adam_init(&adam, m->ntheta) != 0)
        exit(EXIT_FAILURE);
    for (int it = 0; it < DYN_STEPS; it++) {
        dyn_batch(theta, &r, DYN_BATCH, g, x, y, data);
        for (int k = 0; k < m->ntheta; k++)
            g[k] /= DYN_BATCH;
        repro_adam_step(&adam, theta, g, DYN_LR * pow(0.1, (double)it / DYN_STEPS));
    }
    double held_out = dyn_batch(theta, &r, DYN_BATCH * 8, g, x, y, data);
    repro_adam_free(&adam);
    free(g);
    return held_out;
}

static int BC_STEPS = 8000;
#define BC_BATCH 32
static double BC_LR = 1e-2;

/* A random expert transition (s_t, s_t+1). */
static void transition(repro_rng *r, const double **s, const double **s_next)
{
    int n = repro_index(r, NTRAJ), t = repro_index(r, TLEN);
    *s = data_s[n][t];
    *s_next = data_s[n][t + 1];
}

/* BC: the policy block of cartpole_bc trained with the dynamics fixed.
   Returns the mean squared next-state error of the last batch. */
static double train_bc(double *theta, const double *theta_dyn, unsigned long long seed)
{
    const dil_model *m = &cartpole_bc_model;
    repro_rng r;
    repro_rng_seed(&r, 200 + seed);
    init_network(&r, m, theta);
    memcpy(theta, theta_dyn, (size_t)lay.ndyn * sizeof *theta);
    double *g = malloc((size_t)m->ntheta * sizeof *g), x[BC_BATCH * CP_NX],
           y[BC_BATCH * CP_NX], data[BC_BATCH * CP_NX], loss[BC_BATCH], mean = 0;
    repro_adam adam;
    if (!g || repro_adam_init(&adam, lay.bc_n) != 0)
        exit(EXIT_FAILURE);
    dil_options opt = dil_default_options();
    for (int it = 0; it < BC_STEPS; it++) {
        for (int i = 0; i < BC_BATCH; i++) {
            const double *s, *sn;
            transition(&r, &s, &sn);
            memcpy(x + i * CP_NX, s, CP_NX * sizeof *s);
            memcpy(data + i * CP_NX, sn, CP_NX * sizeof *s);
            memset(y + i * CP_NX, 0, CP_NX * sizeof *y);
        }
        if (repro_solve_batch(m, BC_BATCH, x, theta, y, &opt, NULL, 1) != DIL_OK ||
            repro_loss_gradient_batch(m, BC_BATCH, y, x, theta, data, loss, g, &opt, NULL, 1) !=
                DIL_OK) {
            fprintf(stderr, "table2: BC layer failed\n");
            exit(EXIT_FAILURE);
        }
        mean = 0;
        for (int i = 0; i < BC_BATCH; i++)
            mean += loss[i] / BC_BATCH;
        for (int k = 0; k < lay.bc_n; k++)
            g[lay.bc_pol + k] /= BC_BATCH;
        repro_adam_step(&adam, theta + lay.bc_pol, g + lay.bc_pol,
                        BC_LR * pow(0.1, (double)it / BC_STEPS));
    }
    repro_adam_free(&adam);
    free(g);
    return mean;
}

#define MPC_ITERS_PER_H 30
#define MPC_BATCH 16
#define MPC_LR 5e-2

static dil_options mpc_train_options(void)
{
    dil_options o = dil_default_options();
    o.tol = 1e-9;
    o.max_iter = 200;
    o.cg_tol = 1e-10;
    return o;
}

/* One IFT step of the cost parameters on a batch at horizon h.  Returns
   the number of instances whose solve and gradient succeeded; *mean gets
   their mean loss. */
static int mpc_step(double *theta, repro_adam *adam, repro_rng *r, int h, double lr,
                    double *g, double *mean)
{
    const dil_model *m = &cartpole_mpc_model;
    enum { NXM = CP_NX + HMAX };
    double x[MPC_BATCH * NXM], y[MPC_BATCH * HMAX], data[MPC_BATCH * CP_NX];
    double loss[MPC_BATCH];
    int st[MPC_BATCH], n = 0;
    dil_options opt = mpc_train_options();
    for (int i = 0; i < MPC_BATCH; i++) {
        const double *s, *sn;
        transition(r, &s, &sn);
        memcpy(x + i * NXM, s, CP_NX * sizeof *s);
        for (int k = 0; k < HMAX; k++)
            x[i * NXM + CP_NX + k] = k < h;
        memcpy(data + i * CP_NX, sn, CP_NX * sizeof *s);
        memset(y + i * HMAX, 0, HMAX * sizeof *y);
    }
    repro_solve_batch(m, MPC_BATCH, x, theta, y, &opt, st, 0);
    /* keep the instances the solver finished: the IFT needs a stationary y */
    for (int i = 0; i < MPC_BATCH; i++) {
        if (st[i] != DIL_OK)
            continue;
        memmove(x + n * NXM, x + i * NXM, NXM * sizeof *x);
        memmove(y + n * HMAX, y + i * HMAX, HMAX * sizeof *y);
        memmove(data + n * CP_NX, data + i * CP_NX, CP_NX * sizeof *data);
        n++;
    }
    if (n == 0)
        return 0;
    repro_loss_gradient_batch(m, n, y, x, theta, data, loss, g, &opt, st, 0);
    for (int i = 0; i < n; i++)
        if (st[i] != DIL_OK)
            return 0; /* the summed gradient would miss an instance: skip */
    *mean = 0;
    for (int i = 0; i < n; i++)
        *mean += loss[i] / n;
    for (int k = 0; k < lay.mpc_n; k++)
        g[lay.mpc_cost + k] /= n;
    repro_adam_step(adam, theta + lay.mpc_cost, g + lay.mpc_cost, lr);
    return n;
}

/* MPC_IFT: the cost block of cartpole_mpc (target 0, log-weights 0 at the
   start) trained through the planner, the horizon growing 1, 2, .., 10.
   *skipped gets the number of batch instances left out (failed solves). */
static double train_mpc(double *theta, const double *theta_dyn, unsigned long long seed,
                        int *skipped)
{
    const dil_model *m = &cartpole_mpc_model;
    repro_rng r;
    repro_rng_seed(&r, 300 + seed);
    memset(theta, 0, (size_t)m->ntheta * sizeof *theta);
    memcpy(theta, theta_dyn, (size_t)lay.ndyn * sizeof *theta);
    double *g = malloc((size_t)m->ntheta * sizeof *g), mean = 0;
    repro_adam adam;
    if (!g || repro_adam_init(&adam, lay.mpc_n) != 0)
        exit(EXIT_FAILURE);
    *skipped = 0;
    int total = HMAX * MPC_ITERS_PER_H, it = 0;
    for (int h = 1; h <= HMAX; h++)
        for (int k = 0; k < MPC_ITERS_PER_H; k++, it++) {
            double lr = MPC_LR * pow(0.1, (double)it / total);
            *skipped += MPC_BATCH - mpc_step(theta, &adam, &r, h, lr, g, &mean);
        }
    repro_adam_free(&adam);
    free(g);
    return mean;
}

/* ------------------------------------------------------------------ */
/* 2d. evaluation                                                       */
/* ------------------------------------------------------------------ */

typedef struct Policy {
    int kind;
    const double *theta;    /* cartpole_bc or cartpole_mpc theta */
    double v[HMAX];         /* MPC: the previous plan */
    unsigned long long rs;  /* expert: random-shooting stream */
    double *work;           /* MPC: dil_work_size doubles */
    int fails;              /* MPC: plans whose solves all stopped short */
} Policy;

/* MPC: replan over HMAX steps from the shifted previous plan and from
   zero; the lower score wins. */
static double mpc_act(Policy *p, const double s[CP_NX], int t)
{
    const dil_model *m = &cartpole_mpc_model;
    double x[CP_NX + HMAX], cand[2][HMAX], score[2];
    memcpy(x, s, CP_NX * sizeof *s);
    for (int k = 0; k < HMAX; k++)
        x[CP_NX + k] = 1;
    dil_options opt = dil_default_options();
    opt.tol = 1e-6;
    opt.max_iter = 100;
    for (int k = 0; k < HMAX; k++) {
        cand[0][k] = t > 0 && k + 1 < HMAX ? p->v[k + 1] : 0;
        cand[1][k] = 0;
    }
    int ok = 0;
    for (int c = 0; c < 2; c++) {
        dil_info info;
        ok |= dil_solve(m, x, p->theta, cand[c], &opt, &info, p->work) == DIL_OK;
        score[c] = m->score(cand[c], x, p->theta, p->work);
    }
    p->fails += !ok;
    int best = score[1] < score[0];
    memcpy(p->v, cand[best], sizeof p->v);
    return tanh(p->v[0]);
}

static double act(Policy *p, const double s[CP_NX], int t)
{
    switch (p->kind) {
    case P_EXPERT:
        return cp_random_shooting(s, RS_HORIZON, RS_PARTICLES, &p->rs);
    case P_BC:
        return cp_bc_policy(p->theta + lay.bc_pol, (lay.bc_n - 1) / 7, s);
    default:
        return mpc_act(p, s, t);
    }
}

/* One episode from s0; its task cost.  traj (TLEN + 1 states) may be NULL. */
static double episode(Policy *p, const double s0[CP_NX], double *traj, double *us)
{
    double s[CP_NX], cost = 0;
    memcpy(s, s0, sizeof s);
    if (traj)
        memcpy(traj, s, sizeof s);
    for (int t = 0; t < TLEN; t++) {
        double u = act(p, s, t);
        cp_step(s, u);
        cost += cp_cost(s);
        if (traj)
            memcpy(traj + (t + 1) * CP_NX, s, sizeof s), us[t] = u;
    }
    return cost;
}

static void write_traj(FILE *f, int pol, int ep, const double *traj, const double *us)
{
    for (int t = 0; t <= TLEN; t++) {
        const double *s = traj + t * CP_NX;
        fprintf(f, "%s,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", pol_name[pol], ep, t, s[0], s[1],
                s[2], s[3], t < TLEN ? us[t] : 0.0, cp_cost(s));
    }
}

/* Mean and standard error of n values. */
static void mean_se(const double *c, int n, double *mean, double *se)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += c[i] / n;
    for (int i = 0; i < n; i++)
        v += (c[i] - m) * (c[i] - m) / (n - 1);
    *mean = m;
    *se = sqrt(v / n);
}

static int skip_expert_g, skip_mpc_g;

typedef struct Results {
    double mean[NPOL][NVAR][64], se[NPOL][NVAR][64];
} Results;

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
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

/* 2d for one run: every policy on the same 50 initial states per variance;
   episodes in parallel, each with its own random-shooting stream, so the
   results do not depend on the number of threads.  work holds
   max_threads() blocks of wsize doubles. */
static void evaluate_run(int run, const double *theta_bc, const double *theta_mpc,
                         double *work, size_t wsize, FILE *csv, FILE *traj, Results *res,
                         int *mpc_fails)
{
    static double tr[NTRAJ_PLOT][(TLEN + 1) * CP_NX], us[NTRAJ_PLOT][TLEN];
    for (int v = 0; v < NVAR; v++) {
        double s0[NEVAL][CP_NX], cost[NEVAL];
        int fails[NEVAL];
        repro_rng r;
        repro_rng_seed(&r, 1000 * (unsigned long long)(run + 1) + (unsigned long long)v);
        for (int e = 0; e < NEVAL; e++)
            initial_state(&r, var_value[v], s0[e]);
        for (int pol = 0; pol < NPOL; pol++) {
            if ((pol == P_EXPERT && skip_expert_g) || (pol == P_MPC && skip_mpc_g))
                continue;
            int plot = traj && v == VAR_LOW;
#pragma omp parallel for schedule(dynamic)
            for (int e = 0; e < NEVAL; e++) {
                unsigned long long seed = 5000 + 1000003ull * (unsigned long long)run +
                                          1009ull * (unsigned long long)v + (unsigned long long)e;
                Policy p = { pol, pol == P_BC ? theta_bc : theta_mpc, { 0 }, seed,
                             work + (size_t)thread_id() * wsize, 0 };
                int keep = plot && e < NTRAJ_PLOT;
                cost[e] = episode(&p, s0[e], keep ? tr[e] : NULL, keep ? us[e] : NULL);
                fails[e] = p.fails;
            }
            for (int e = 0; plot && e < NTRAJ_PLOT; e++)
                write_traj(traj, pol, e, tr[e], us[e]);
            mean_se(cost, NEVAL, &res->mean[pol][v][run], &res->se[pol][v][run]);
            fprintf(csv, "%s,%s,%d,%.4f,%.4f\n", pol_name[pol], var_name[v], run,
                    res->mean[pol][v][run], res->se[pol][v][run]);
            for (int e = 0; e < NEVAL; e++)
                *mpc_fails += pol == P_MPC ? fails[e] : 0;
        }
    }
    fflush(csv);
}

static void print_table(const Results *res, int runs)
{
    static const double paper[NPOL][NVAR][2] = {
        { { 9.2, 0.0 }, { 9.3, 0.1 } }, { { 14.6, 0.6 }, { 18.4, 1.4 } },
        { { 13.7, 0.4 }, { 14.7, 1.9 } } };
    printf("\n%-8s %-22s %-22s %-14s %-14s\n", "method", "low (ours)", "high (ours)",
           "low (paper)", "high (paper)");
    for (int pol = 0; pol < NPOL; pol++) {
        printf("%-8s", pol_name[pol]);
        for (int v = 0; v < NVAR; v++) {
            double m, se;
            mean_se(res->mean[pol][v], runs, &m, &se);
            printf(" %6.2f +- %-5.2f (%2d)  ", m, runs > 1 ? se : 0.0, runs);
        }
        for (int v = 0; v < NVAR; v++)
            printf(" %5.1f +- %-5.1f ", paper[pol][v][0], paper[pol][v][1]);
        printf("\n");
    }
    printf("(mean over runs of the per-run mean episode cost +- standard error over runs)\n");
}

static FILE *open_out(const char *dir, const char *name, const char *header)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "table2: cannot write %s\n", path);
        exit(2);
    }
    fprintf(f, "%s\n", header);
    return f;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUTDIR [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 10;
    if (runs < 1 || runs > 64) {
        fprintf(stderr, "table2: RUNS must be in 1..64\n");
        return 2;
    }
    layout_init();
    if (getenv("BC_STEPS")) BC_STEPS = atoi(getenv("BC_STEPS"));
    if (getenv("BC_LR")) BC_LR = atof(getenv("BC_LR"));
    int skip_expert = getenv("TABLE2_SKIP_EXPERT") != NULL, skip_mpc = getenv("TABLE2_SKIP_MPC") != NULL;
    FILE *csv = open_out(argv[1], "table2.csv", "method,variance,run,mean_cost,se_cost");
    FILE *traj = open_out(argv[1], "table2_traj.csv",
                          "method,episode,t,x,xdot,theta,thetadot,u,cost");
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("threads: %d\n", max_threads());
    double w0 = repro_wall(), c0 = repro_cpu();
    expert_data();
    printf("expert data: %d trajectories x %d steps, %.1f s wall, %.1f s CPU\n", NTRAJ, TLEN,
           repro_wall() - w0, repro_cpu() - c0);

    const dil_model *mm = &cartpole_mpc_model, *mb = &cartpole_bc_model;
    double *th_dyn = malloc((size_t)lay.ndyn * sizeof(double));
    double *th_bc = malloc((size_t)mb->ntheta * sizeof(double));
    double *th_mpc = malloc((size_t)mm->ntheta * sizeof(double));
    size_t wsize = dil_work_size(mm, NULL);
    double *work = malloc((size_t)max_threads() * wsize * sizeof(double));
    static Results res;
    if (!th_dyn || !th_bc || !th_mpc || !work)
        return EXIT_FAILURE;
    for (int run = 0; run < runs; run++) {
        double w1 = repro_wall(), c1 = repro_cpu();
        double dyn_mse = fit_dynamics(th_dyn, (unsigned long long)run);
        double c2 = repro_cpu();
        double bc_mse = train_bc(th_bc, th_dyn, (unsigned long long)run);
        double c3 = repro_cpu();
        int skipped = 0, fails = 0;
        skip_expert_g = skip_expert, skip_mpc_g = skip_mpc;
        double mpc_mse = skip_mpc ? 0 : train_mpc(th_mpc, th_dyn, (unsigned long long)run, &skipped);
        double c4 = repro_cpu();
        evaluate_run(run, th_bc, th_mpc, work, wsize, csv, run == 0 ? traj : NULL, &res, &fails);
        printf("run %d: dyn mse %.2e (%.1fs)  bc mse %.2e (%.1fs)  mpc mse %.2e (%.1fs, %d "
               "skipped)  eval %.1fs (%d mpc plans short)  wall %.1fs | expert %.2f/%.2f  "
               "bc %.2f/%.2f  mpc %.2f/%.2f\n",
               run, dyn_mse, c2 - c1, bc_mse, c3 - c2, mpc_mse, c4 - c3, skipped,
               repro_cpu() - c4, fails, repro_wall() - w1, res.mean[P_EXPERT][0][run],
               res.mean[P_EXPERT][1][run], res.mean[P_BC][0][run], res.mean[P_BC][1][run],
               res.mean[P_MPC][0][run], res.mean[P_MPC][1][run]);
        printf("        learned target %.3f %.3f %.3f %.3f %.3f  log-weights %.2f %.2f %.2f "
               "%.2f %.2f\n",
               th_mpc[lay.mpc_cost], th_mpc[lay.mpc_cost + 1], th_mpc[lay.mpc_cost + 2],
               th_mpc[lay.mpc_cost + 3], th_mpc[lay.mpc_cost + 4], th_mpc[lay.mpc_cost + 5],
               th_mpc[lay.mpc_cost + 6], th_mpc[lay.mpc_cost + 7], th_mpc[lay.mpc_cost + 8],
               th_mpc[lay.mpc_cost + 9]);
        fflush(stdout);
    }
    print_table(&res, runs);
    printf("total: %.1f s wall, %.1f s CPU\n", repro_wall() - w0, repro_cpu() - c0);
    fclose(csv);
    fclose(traj);
    free(th_dyn), free(th_bc), free(th_mpc), free(work);
    return EXIT_SUCCESS;
}
