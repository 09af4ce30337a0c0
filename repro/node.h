/*
 * node.h - the Table 1 protocol: data sets, training of a backward-Euler
 * neural ODE by multiple-shooting rollouts through libdil's IFT gradient,
 * model selection on validation, and the test MSE with its trivial
 * baselines (issue 9 fixes every choice the paper leaves open; the README
 * of the reproduction, docs/results/table1.md, lists them).
 */
#ifndef REPRO_NODE_H
#define REPRO_NODE_H

#include "dil.h"

/* One trajectory and its split into three consecutive segments. */
typedef struct node_dataset {
    char name[16];        /* vdp, spiral (a11 = -1), spiral01 (a11 = -0.1) */
    int n;                /* observations, x(0.1 k) for k < n */
    int train_end;        /* train [0, train_end) */
    int val_end;          /* validation [train_end, val_end) */
    int test_end;         /* test [val_end, test_end) */
    double (*obs)[2];
} node_dataset;

/* 0, or -1 for an unknown name (message in errbuf) or no memory. */
int node_dataset_make(const char *name, node_dataset *d, char *errbuf, size_t errlen);
void node_dataset_free(node_dataset *d);

#define NODE_MAX_STAGES 8

/* One curriculum stage: windows of `window` steps for `iters` Adam steps,
   `batch` windows per step (0: the config's batch). */
typedef struct node_stage {
    int window, iters, batch;
} node_stage;

typedef struct node_config {
    const dil_model *m;
    node_stage stage[NODE_MAX_STAGES];
    int nstages;
    int batch;            /* windows per Adam step (0: every window) */
    double lr_max, lr_min;  /* cosine decay from lr_max to lr_min over the run */
    double clip;          /* gradient-norm clipping threshold */
    int adam_reset;       /* restart Adam's moment estimates at each stage */
    double weight_decay;  /* decoupled (AdamW) weight decay, 0 for none */
    double ema;           /* > 0: validate, select and test the running average
                             avg <- ema avg + (1 - ema) theta of the iterates */
    int eval_every;       /* validation (and selection) period in iterations */
    int backward;         /* DIL_BACKWARD_DENSE, _CG or _ROOT */
    double tol;           /* forward tolerance on ||df/dy|| */
    int nthreads;
} node_config;

/* The recipe for a data set and model (the curriculum, scaled to
   our cost budget); 0, or -1 when the data set is unknown. */
int node_config_default(const char *dataset, const dil_model *m, node_config *c);

typedef struct node_point {   /* one point of the learning curve */
    int iter;
    double train_loss;        /* mean batch loss since the previous point */
    double val_mse;           /* rollout over the validation segment */
    double test_mse;          /* and over the test segment: for the plots
                                 only, never used to choose anything */
} node_point;

typedef struct node_result {
    double test_mse, val_mse;         /* at the selected parameters */
    double baseline_zero, baseline_hold;
    int newton_failures;              /* forward solves that failed, all phases */
    int backward_failures;            /* backward solves that failed */
    int curve_failures;               /* solves failed in the test rollouts of the
                                         learning curve (information only) */
    int best_iter;                    /* iteration of the selected parameters */
    int diverged;                     /* iteration at which training stopped, or -1 */
    double wall_s, cpu_s;
    long steps;                       /* implicit steps solved in training */
    node_point *curve;
    int ncurve;
    double *theta;                    /* the selected parameters (ntheta) */
    double (*pred)[2];                /* rollout from obs[train_end-1] over
                                         validation and test: val_end - train_end
                                         + test_end - val_end rows, aligned with
                                         obs[train_end ..] (the test part restarts
                                         from obs[val_end - 1]) */
} node_result;

/* Trains one seed.  0 on completion (also for a diverged run, which is
   reported in r->diverged and on stderr), -1 when out of memory.  `tag`
   prefixes messages. */
int node_train(const node_dataset *d, const node_config *c, unsigned long long seed,
               node_result *r, const char *tag);
void node_result_free(node_result *r);

/* Rollout MSE of theta from obs[start] over obs[start+1 .. start+steps]
   (mean over points and both dimensions); pred (steps rows) may be NULL.
   A failed solve stops the rollout: the MSE is then HUGE_VAL and *fails
   is incremented. */
double node_rollout_mse(const dil_model *m, const double *theta, const node_dataset *d,
                        int start, int steps, const dil_options *opt, double (*pred)[2],
                        double *work, int *fails);

/*
 * The loss of a batch of windows and its gradient through the chain of
 * implicit steps: window i starts at obs[starts[i]] and its k states are
 * compared with obs[starts[i]+1 ..]; loss = mean over windows, steps and
 * dimensions of the squared error.  grad (ntheta) gets dloss/dtheta.
 * Windows whose forward solve fails are counted in *nfail and left out of
 * loss and gradient; a failed backward is counted in *nbfail.  Returns
 * DIL_OK when loss and gradient are valid (over the windows left), else
 * the status that stopped it (no window left, or the backward's).
 */
typedef struct node_batch node_batch;
node_batch *node_batch_new(const dil_model *m, const dil_options *opt, int max_windows,
                           int max_k, int nthreads);
void node_batch_free(node_batch *b);
int node_batch_loss_grad(node_batch *b, const node_dataset *d, const double *theta,
                         const int *starts, int nwin, int k, double *loss, double *grad,
                         int *nfail, int *nbfail);

/* PyTorch's default initialisation of every weight W[out, in] and the bias
   that follows it: uniform on +-1/sqrt(in). */
void node_init_theta(const dil_model *m, unsigned long long seed, double *theta);

#endif
