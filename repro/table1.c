/*
 * table1.c - reproduces the paper's Table 1 (backward-Euler neural ODEs on
 * Van der Pol and spiral data, trained through the implicit function
 * theorem) under the protocol of issue 9, one row per (data set, variant,
 * seed).
 *
 *   table1 [--dataset vdp,spiral,spiral01] [--variant 1layer,2layer]
 *          [--seeds N] [--seed0 S] [--jobs J | --threads T] [--csv FILE]
 *          [--runs FILE] [--traces DIR] [--batch B] [--stages K:ITERS[:B],...]
 *          [--lr LR] [--wd WD] [--ema DECAY] [--backward dense|cg|root]
 *
 * --jobs J trains J runs at once, one thread each (the runs are
 * independent: the way to use several cores); --threads T gives one run T
 * threads for its batch calls instead.
 *
 * For each run it trains the model from seed S..S+N-1 (node.c: multiple-
 * shooting rollouts with a curriculum over window length, Adam with cosine
 * decay and clipping, selection on the validation rollout), then prints
 * and writes to the CSV the test MSE of a rollout from the last validation
 * observation over the whole test segment, beside the trivial baselines
 * (predict zero; hold the last validation observation).  With --traces it
 * also writes, per run, the rollouts (DATASET_VARIANT_sS.traj) and the
 * learning curve (.curve) that repro/plots.py draws.  Models: node_vdp
 * (one hidden layer of 500) for vdp, node_euler (one hidden layer of 50)
 * for the spirals, node_mlp2 (two hidden layers of 50) for every 2layer row.
 *
 * Measured by `make reproduce-table1` (10 seeds, docs/results/table1.md):
 * test MSE, mean +- s.e., one hidden layer: Van der Pol 0.032 +- 0.009
 * (paper 0.40 +- 0.06; predict-0 baseline 2.59), spiral a11 = -0.1 0.036 +-
 * 0.004 (baselines 0.145, 0.351), spiral a11 = -1 0.053 +- 0.002 (paper 0.09;
 * baselines 0.025 and 0.012, which beat both: that variant is degenerate).
 */
// models: node_vdp node_euler node_mlp2
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "node.h"
#include "node_euler.h"
#include "node_mlp2.h"
#include "node_vdp.h"

typedef struct args {
    char datasets[128], variants[64];
    int seeds, seed0, threads, jobs, batch;
    const char *csv, *runs, *traces, *stages;
    double lr, wd, ema;
    int backward, adam_reset;
} args;

static void usage(FILE *f)
{
    fprintf(f, "usage: table1 [--dataset vdp,spiral,spiral01] [--variant 1layer,2layer]\n"
               "              [--seeds N] [--seed0 S] [--threads T] [--csv FILE]"
               " [--runs FILE] [--traces DIR]\n"
               "              [--jobs J (runs at once) | --threads T (threads per run)]\n"
               "              [--batch B] [--stages K:ITERS[:BATCH],...] [--lr LR]"
               " [--backward dense|cg|root]\n"
               "              [--adam-reset 0|1]\n");
}

/* A positive (or, with allow_zero, non-negative) integer option value. */
static int int_arg(const char *opt, const char *s, int allow_zero, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < (allow_zero ? 0 : 1) || v > 1000000) {
        fprintf(stderr, "table1: %s expects a %s integer, got '%s'\n", opt,
                allow_zero ? "non-negative" : "positive", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* "K:ITERS,K:ITERS,..." into the config's curriculum. */
static int parse_stages(const char *s, node_config *c)
{
    c->nstages = 0;
    while (*s) {
        int k, n, b = 0, used, used2 = 0;
        if (c->nstages == NODE_MAX_STAGES || sscanf(s, "%d:%d%n", &k, &n, &used) != 2
            || k < 1 || k > 200 || n < 1
            || (s[used] == ':' && (sscanf(s + used, ":%d%n", &b, &used2) != 1 || b < 1))) {
            fprintf(stderr, "table1: --stages expects K:ITERS[:BATCH],... (1 <= K <= 200, at"
                            " most %d stages), got '%s'\n", NODE_MAX_STAGES, s);
            return -1;
        }
        c->stage[c->nstages++] = (node_stage){ k, n, b };
        s += used + used2;
        if (*s == ',')
            s++;
    }
    return c->nstages ? 0 : -1;
}

static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    snprintf(a->datasets, sizeof a->datasets, "vdp,spiral,spiral01");
    snprintf(a->variants, sizeof a->variants, "1layer");
    a->seeds = 10, a->threads = 1, a->jobs = 1, a->wd = -1, a->ema = -1, a->batch = -1, a->backward = -1, a->adam_reset = -1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "table1: unknown option or missing value: '%s'\n", o);
            usage(stderr);
            return -1;
        }
        i++;
        int rc = 0;
        if (!strcmp(o, "--dataset"))
            snprintf(a->datasets, sizeof a->datasets, "%s", v);
        else if (!strcmp(o, "--variant"))
            snprintf(a->variants, sizeof a->variants, "%s", v);
        else if (!strcmp(o, "--seeds"))
            rc = int_arg(o, v, 1, &a->seeds);
        else if (!strcmp(o, "--seed0"))
            rc = int_arg(o, v, 1, &a->seed0);
        else if (!strcmp(o, "--threads"))
            rc = int_arg(o, v, 1, &a->threads);
        else if (!strcmp(o, "--jobs"))
            rc = int_arg(o, v, 1, &a->jobs);
        else if (!strcmp(o, "--batch"))
            rc = int_arg(o, v, 1, &a->batch);
        else if (!strcmp(o, "--csv"))
            a->csv = v;
        else if (!strcmp(o, "--runs"))
            a->runs = v;
        else if (!strcmp(o, "--traces"))
            a->traces = v;
        else if (!strcmp(o, "--stages")) {
            node_config probe;
            a->stages = v;
            rc = parse_stages(v, &probe);
        }
        else if (!strcmp(o, "--lr"))
            a->lr = atof(v);
        else if (!strcmp(o, "--ema")) {
            a->ema = atof(v);
            if (!(a->ema >= 0 && a->ema < 1)) {
                fprintf(stderr, "table1: --ema expects a decay in [0, 1), got '%s'\n", v);
                rc = -1;
            }
        } else if (!strcmp(o, "--wd")) {
            a->wd = atof(v);
            if (!(a->wd >= 0 && a->wd < 1)) {
                fprintf(stderr, "table1: --wd expects a weight decay in [0, 1), got '%s'\n", v);
                rc = -1;
            }
        } else if (!strcmp(o, "--adam-reset"))
            rc = int_arg(o, v, 1, &a->adam_reset);
        else if (!strcmp(o, "--backward")) {
            a->backward = !strcmp(v, "dense") ? DIL_BACKWARD_DENSE
                        : !strcmp(v, "cg") ? DIL_BACKWARD_CG
                        : !strcmp(v, "root") ? DIL_BACKWARD_ROOT : -2;
            if (a->backward == -2) {
                fprintf(stderr, "table1: --backward expects dense, cg or root, got '%s'\n", v);
                rc = -1;
            }
        } else {
            fprintf(stderr, "table1: unknown option '%s'\n", o);
            usage(stderr);
            rc = -1;
        }
        if (rc)
            return -1;
    }
    if (a->seeds == 0) {
        fprintf(stderr, "table1: --seeds 0: nothing to run (a table needs at least one seed;"
                        " the protocol asks for 10)\n");
        return -1;
    }
    if (a->threads == 0 || a->threads > 64)
        a->threads = a->threads == 0 ? 2 : 64;
    if (a->jobs > 64)
        a->jobs = 64;
    if (a->jobs > 1 && a->threads > 1) {
        fprintf(stderr, "table1: --jobs %d with --threads %d: give threads to the runs or"
                        " run several runs at once, not both\n", a->jobs, a->threads);
        return -1;
    }
    return 0;
}

static const dil_model *pick_model(const char *dataset, const char *variant)
{
    if (!strcmp(variant, "2layer"))
        return &node_mlp2_model;
    if (!strcmp(variant, "1layer"))
        return !strcmp(dataset, "vdp") ? &node_vdp_model : &node_euler_model;
    return NULL;
}

/* The two-hidden-layer network costs about six times as much per step as
   the spirals' one-layer network, and its rows come second: half of every
   curriculum stage, and windows of 10 sampled (16 per step) rather than
   all taken. */
static void two_layer_budget(node_config *c)
{
    for (int s = 0; s < c->nstages; s++) {
        c->stage[s].iters /= 2;
        if (c->stage[s].window == 10 && c->stage[s].batch == 0 && c->batch == 0)
            c->stage[s].batch = 16;
    }
}

/* The run's rollout beside the truth, and its learning curve. */
static void write_traces(const char *dir, const char *tag, const node_dataset *d,
                         const node_result *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.traj", dir, tag);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "table1: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# k t truth0 truth1 pred0 pred1 (segment: 0 train, 1 val, 2 test)\n");
    for (int k = 0; k < d->test_end; k++) {
        double p0 = NAN, p1 = NAN;
        if (k >= d->train_end) {
            p0 = r->pred[k - d->train_end][0];
            p1 = r->pred[k - d->train_end][1];
        }
        fprintf(f, "%d %.2f %.9g %.9g %.9g %.9g %d\n", k, 0.1 * k, d->obs[k][0],
                d->obs[k][1], p0, p1, k < d->train_end ? 0 : k < d->val_end ? 1 : 2);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.curve", dir, tag);
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "table1: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# iter train_loss val_mse test_mse (selected: %d; test for information)\n",
            r->best_iter);
    for (int i = 0; i < r->ncurve; i++)
        fprintf(f, "%d %.6g %.6g %.6g\n", r->curve[i].iter, r->curve[i].train_loss,
                r->curve[i].val_mse, r->curve[i].test_mse);
    fclose(f);
}

/* Where the rows go, and the tally of runs. */
typedef struct outputs {
    FILE *csv;     /* the Table 1 CSV, exactly issue 9's columns */
    FILE *runs;    /* more figures per run: CPU time, steps, selection */
    int nruns, nfailed;
} outputs;

/* The CSV row and the extra figures of one run. */
static void write_rows(outputs *out, const char *dataset, const char *variant, int seed,
                       const node_result *r)
{
    table1_row row = { dataset, variant, seed, r->test_mse, r->val_mse, r->baseline_zero,
                       r->baseline_hold, r->newton_failures, r->wall_s };
    if (out->csv && (table1_csv_row(out->csv, &row) != 0 || fflush(out->csv) != 0))
        fprintf(stderr, "table1: error writing the CSV row of %s seed %d\n", dataset, seed);
    if (out->runs) {
        fprintf(out->runs, "%s,%s,%d,%.2f,%ld,%d,%d,%d\n", dataset, variant, seed, r->cpu_s,
                r->steps, r->best_iter, r->diverged, r->backward_failures);
        fflush(out->runs);
    }
}

/* One row of the table: a data set and a variant, its data and recipe. */
typedef struct row_spec {
    char dataset[32], variant[32];
    node_dataset d;
    node_config c;
} row_spec;

/* One run: a row and a seed. */
typedef struct task {
    int row, seed;
    double cost;        /* a guess of its CPU cost: longest first */
    node_result r;
    int state;          /* 0 waiting, 1 trained, -1 out of memory */
} task;

/* The data and recipe of one row, with the command line's overrides, and
   its config line; -1 (message printed) on an unknown name or a window
   that does not fit. */
static int row_prepare(const args *a, const char *dataset, const char *variant, row_spec *w)
{
    char err[256];
    node_config *c = &w->c;
    const dil_model *m = pick_model(dataset, variant);
    memset(w, 0, sizeof *w);
    if (!m) {
        fprintf(stderr, "table1: unknown variant '%s' (expected 1layer or 2layer)\n", variant);
        return -1;
    }
    if (node_dataset_make(dataset, &w->d, err, sizeof err) != 0) {
        fprintf(stderr, "table1: %s\n", err);
        return -1;
    }
    snprintf(w->dataset, sizeof w->dataset, "%s", dataset);
    snprintf(w->variant, sizeof w->variant, "%s", variant);
    node_config_default(dataset, m, c);
    if (m == &node_mlp2_model)
        two_layer_budget(c);
    c->nthreads = a->threads;
    if (a->batch > 0)
        c->batch = a->batch;
    if (a->lr > 0)
        c->lr_max = a->lr;
    if (a->backward >= 0)
        c->backward = a->backward;
    if (a->wd >= 0)
        c->weight_decay = a->wd;
    if (a->ema >= 0)
        c->ema = a->ema;
    if (a->adam_reset >= 0)
        c->adam_reset = a->adam_reset != 0;
    if (a->stages && parse_stages(a->stages, c) != 0)
        return -1;
    for (int s = 0; s < c->nstages; s++)
        if (c->stage[s].window >= w->d.train_end) {
            fprintf(stderr, "table1: window %d does not fit the %d training observations"
                            " of %s\n", c->stage[s].window, w->d.train_end, dataset);
            return -1;
        }
    printf("# config %s %s: model %s (%d parameters), curriculum", dataset, variant, m->name,
           m->ntheta);
    for (int s = 0; s < c->nstages; s++)
        printf(c->stage[s].batch ? "%s%d:%d:%d" : "%s%d:%d", s ? "," : " ",
               c->stage[s].window, c->stage[s].iters, c->stage[s].batch);
    char nb[16], ema[96] = "";
    snprintf(nb, sizeof nb, c->batch > 0 ? "%d" : "all", c->batch);
    if (c->ema > 0)
        snprintf(ema, sizeof ema, " running average of the parameters (decay %g) validated,",
                 c->ema);
    printf(" (window:iterations[:windows per step]), %s windows per step otherwise,"
           " Adam lr %g -> %g (cosine), weight decay %g, clip %g,%s validation every %d,%s"
           " backward %s, tol %g, threads %d\n", nb, c->lr_max, c->lr_min, c->weight_decay,
           c->clip, ema, c->eval_every, c->adam_reset ? " Adam restarted at each stage," : "",
           c->backward == DIL_BACKWARD_DENSE ? "dense"
           : c->backward == DIL_BACKWARD_CG ? "cg" : "root", c->tol, c->nthreads);
    return 0;
}

/* Implicit steps of one run times the parameters: what a run costs, up to
   a factor, used only to start the longest runs first. */
static double row_cost(const row_spec *w)
{
    double steps = 0;
    for (int s = 0; s < w->c.nstages; s++) {
        const node_stage *st = &w->c.stage[s];
        int all = w->d.train_end - st->window, b = st->batch ? st->batch : w->c.batch;
        steps += (double)st->iters * st->window * (b > 0 && b < all ? b : all);
    }
    return steps * w->c.m->ntheta;
}

/* Prints and writes one finished run, then frees its result. */
static void task_report(const args *a, const row_spec *w, task *t, outputs *out)
{
    node_result *r = &t->r;
    char tag[96];
    snprintf(tag, sizeof tag, "%s_%s_s%d", w->dataset, w->variant, t->seed);
    int beaten = r->test_mse < r->baseline_zero && r->test_mse < r->baseline_hold;
    printf("%-22s test %-10.4g val %-10.4g zero %-8.4g hold %-8.4g%s  failures %d+%d"
           "  best@%d  %ld steps  wall %.1f s  cpu %.1f s%s\n",
           tag, r->test_mse, r->val_mse, r->baseline_zero, r->baseline_hold,
           beaten ? "" : " (NOT below both baselines)", r->newton_failures,
           r->backward_failures, r->best_iter, r->steps, r->wall_s, r->cpu_s,
           r->diverged >= 0 ? "  DIVERGED" : "");
    fflush(stdout);
    out->nruns++;
    if (r->diverged >= 0 || !isfinite(r->test_mse))
        out->nfailed++;
    write_rows(out, w->dataset, w->variant, t->seed, r);
    if (a->traces)
        write_traces(a->traces, tag, &w->d, r);
    node_result_free(r);
}

/* Longest first; ties in table order (a deterministic order of starts). */
static const task *sort_base;
static int by_cost(const void *p, const void *q)
{
    const task *a = &sort_base[*(const int *)p], *b = &sort_base[*(const int *)q];
    if (a->cost != b->cost)
        return a->cost < b->cost ? 1 : -1;
    return *(const int *)p - *(const int *)q;
}

/*
 * Every run, `jobs` at a time (each a whole training on one thread; runs
 * share nothing but the read-only data, so they need no locking), started
 * longest first so that the last runs to finish are short ones.  Results
 * are printed and written in table order as soon as every earlier run is
 * done, so the output does not depend on jobs or timing.  -1 when a run
 * ran out of memory.
 */
static int run_tasks(const args *a, const row_spec *rows, task *tasks, int ntasks,
                     outputs *out)
{
    int *order = malloc((size_t)ntasks * sizeof *order), next = 0, rc = 0;
    if (!order)
        return -1;
    for (int i = 0; i < ntasks; i++)
        order[i] = i;
    sort_base = tasks;
    qsort(order, (size_t)ntasks, sizeof *order, by_cost);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(a->jobs) if (a->jobs > 1)
#endif
    for (int i = 0; i < ntasks; i++) {
        task *t = &tasks[order[i]];
        const row_spec *w = &rows[t->row];
        char tag[96];
        snprintf(tag, sizeof tag, "%s_%s_s%d", w->dataset, w->variant, t->seed);
        int st = node_train(&w->d, &w->c, (unsigned long long)t->seed, &t->r, tag);
#ifdef _OPENMP
#pragma omp critical(table1_out)
#endif
        {
            t->state = st == 0 ? 1 : -1;
            if (st != 0) {
                fprintf(stderr, "table1: %s: out of memory\n", tag);
                rc = -1;
            }
            for (; next < ntasks && tasks[next].state == 1; next++)
                task_report(a, &rows[tasks[next].row], &tasks[next], out);
        }
    }
    free(order);
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    outputs out = { NULL, NULL, 0, 0 };
    row_spec rows[16];
    int nrows = 0, rc = 0;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    char dsets[128];
    snprintf(dsets, sizeof dsets, "%s", a.datasets);
    for (char *ds = strtok(dsets, ","); ds && rc == 0; ds = strtok(NULL, ",")) {
        char vars[64], *save = NULL;
        snprintf(vars, sizeof vars, "%s", a.variants);
        for (char *v = strtok_r(vars, ",", &save); v && rc == 0; v = strtok_r(NULL, ",", &save)) {
            if (nrows == 16) {
                fprintf(stderr, "table1: more than 16 (data set, variant) rows\n");
                rc = -1;
            } else if (row_prepare(&a, ds, v, &rows[nrows]) != 0) {
                node_dataset_free(&rows[nrows].d);
                rc = -1;
            } else {
                nrows++;
            }
        }
    }
    task *tasks = rc == 0 ? calloc((size_t)nrows * (size_t)a.seeds, sizeof *tasks) : NULL;
    if (rc == 0 && !tasks) {
        fprintf(stderr, "table1: out of memory\n");
        rc = -1;
    }
    int ntasks = 0;
    for (int w = 0; rc == 0 && w < nrows; w++)
        for (int s = a.seed0; s < a.seed0 + a.seeds; s++, ntasks++) {
            tasks[ntasks].row = w;
            tasks[ntasks].seed = s;
            tasks[ntasks].cost = row_cost(&rows[w]);
        }
    if (rc == 0 && a.csv) {
        out.csv = fopen(a.csv, "w");
        if (!out.csv || table1_csv_header(out.csv) != 0) {
            fprintf(stderr, "table1: cannot write %s: %s\n", a.csv, strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && a.runs) {
        out.runs = fopen(a.runs, "w");
        if (!out.runs) {
            fprintf(stderr, "table1: cannot write %s: %s\n", a.runs, strerror(errno));
            rc = -1;
        } else {
            fprintf(out.runs, "dataset,variant,seed,cpu_s,steps,best_iter,diverged_at,"
                              "backward_failures\n");
        }
    }
    if (rc == 0) {
        fflush(stdout);
        rc = run_tasks(&a, rows, tasks, ntasks, &out);
    }
    if ((out.csv && fclose(out.csv) != 0) || (out.runs && fclose(out.runs) != 0)) {
        fprintf(stderr, "table1: error closing an output file\n");
        rc = -1;
    }
    if (out.nfailed)
        printf("# %d of %d runs diverged or failed their test rollout (counted, in the CSV)\n",
               out.nfailed, out.nruns);
    for (int w = 0; w < nrows; w++)
        node_dataset_free(&rows[w].d);
    free(tasks);
    return rc ? 1 : 0;
}
