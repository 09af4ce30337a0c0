/*
 * schedule.h - the schedule of every kernel: which IR nodes are computed
 * into storage and in what order, where each value lives, when its
 * scratch is free again, how much `work` the kernel needs and what it
 * costs.  schedule.c decides all of it from the kernels (kern.h); emit.c
 * prints a Schedule as C and decides nothing; `--stats` and
 * `--dump=schedule` only read it.  Private to the compiler and its tests.
 *
 * A kernel's schedule is a list of steps over the kernel's nodes (sorted
 * by id, so children before parents).  Each node has a Value saying where
 * it lives (its home): fused nodes have no storage and are written out
 * inside the expression of every reader; the others are computed once by
 * a STEP_COMPUTE, into a scalar local, a slot of `work`, or straight into
 * an output array.
 *
 * Extension points (see docs/design.md, "Scheduling"): a rolled loop
 * (issue 7) is a step that owns a sub-list of steps run T times, with
 * values whose home is a stacked slot of work (one stride per iteration).
 *
 * Linearise once (issue 8): every kernel with a direction is scheduled a
 * second time in the apply form (Form), where the values that do not
 * depend on the direction are split off: those an apply kernel reads are
 * either recomputed inline (cheap maps read once) or given a home in the
 * caller's `state` block (HOME_STATE), and the `linearise` schedule
 * computes every such value of every apply kernel into it.
 */
#ifndef SCHEDULE_H
#define SCHEDULE_H

#include "dilc.h"

#include "kern.h"

typedef enum Home {
    HOME_FUSED,   /* no storage: recomputed inside each reader's loop */
    HOME_LOCAL,   /* a scalar C local, sN (N the node id) */
    HOME_WORK,    /* a slot of work: tN = work + off */
    HOME_OUT,     /* an output array: element (r, c) at off + r*ld + c */
    HOME_STACK,   /* a root of a rolled loop's body stored straight into its
                     row of the loop's value: element (r, c) of iteration t
                     at off + tstride*t + r*ld + c of the storage of the
                     LOOP node `owner` */
    HOME_STASH,   /* a value of a loop's body kept for every t because later
                     loops of the kernel read it (the reverse sweep reads
                     sin(x[t]) rather than computing it again): element
                     (r, c) of iteration t at off + tstride*t + r*ld + c of
                     the stash of the LOOP node `owner` */
    HOME_STATE,   /* the caller's state block, element (r, c) at off + r*ld + c:
                     computed by linearise, read by the apply kernels */
    HOME_NONE,    /* apply form: a direction-independent value the kernel
                     never reads (only linearise may need it) */
} Home;

/* Long sums (docs/design.md, "Reductions"): a dot product or SUM of at
   least SCHED_LANES_MIN terms is kept in SCHED_LANES partial sums. */
enum { SCHED_LANES = 8, SCHED_LANES_MIN = 16 };

/* Which C function a KernelSchedule is printed as. */
typedef enum Form {
    FORM_PLAIN,       /* the kernel of SPEC section 4 */
    FORM_APPLY,       /* NAME_apply: direction-independent values from state */
    FORM_LINEARISE,   /* linearise: computes the state of every apply kernel */
    FORM_FUSED,       /* residual_linearise, score_linearise: a plain kernel's
                         values and, in the same sweep, the state of the
                         apply kernels of its part */
} Form;

/* The fused kernels (FORM_FUSED), in descriptor order. */
typedef enum Fused { FUSED_RESIDUAL, FUSED_SCORE, FUSED__COUNT } Fused;

typedef struct Value {
    Node *node;
    Home home;
    int out;                  /* HOME_OUT: index into the kernel's outputs */
    long off, ld;             /* HOME_WORK: slot offset in work, row stride;
                                 HOME_OUT: element (r, c) at off + r*ld + c */
    long demand;              /* evaluations of each element if fused */
    int fuse_depth;           /* levels of fused operations in its expression */
    int step;                 /* the STEP_COMPUTE that computes it, or -1 */
    int last;                 /* the last compute step reading it; results:
                                 ncompute + 1 (live to the end) */
    int direct;               /* 1 + the index of the assembly piece that was
                                 computed in place in its assembly's output
                                 (the assembly's step skips that piece); 0 if
                                 none.  A node that is several pieces (the
                                 same value at two places) is in place at one
                                 of them only. */
    int slot;                 /* HOME_WORK: index of its slot, else -1 */
    int state;                /* HOME_STACK: the state of its loop whose row
                                 it is */
    long tstride;             /* HOME_STACK, HOME_STASH: elements between
                                 iterations */
    Node *owner;              /* HOME_STACK, HOME_STASH: the LOOP node whose
                                 storage or stash holds it */
    const Node *alias;        /* a body node that is not computed: an earlier
                                 loop computes `alias`, its twin (the same
                                 value at every t), and this node reads its
                                 row there (its home is alias's) */
    int target;               /* a body node that later loops read (an alias
                                 of it): stored for every t (a scalar local
                                 is also copied to owner's stash, at off +
                                 tstride*t) */
    int indep;                /* apply form: does not depend on the direction */
    int rowwise;              /* a matrix-vector product accumulated over the
                                 rows of its matrix (out[j] += s * M[l][j]):
                                 the matrix is streamed where the dot-product
                                 order would read it with a stride */
    int lanes;                /* a long sum (MATMUL's dot products, SUM) kept
                                 in SCHED_LANES partial sums, lane l mod
                                 SCHED_LANES, added in a fixed tree at the
                                 end; 0: one accumulator, in order */
} Value;

typedef enum StepKind {
    STEP_COMPUTE,             /* node := its operation, into its home */
    STEP_COPY,                /* output `out` := node by a loop of its own (a
                                 leaf, a constant, or a node already stored
                                 in another output) */
    STEP_RETURN,              /* return the scalar node */
    STEP_LOOP,                /* a rolled loop (a LOOP node, in work): init
                                 rows, then its body's steps run once per t,
                                 each iteration storing its state rows and
                                 adding to its sums; counted with the
                                 compute steps */
} StepKind;

typedef struct Step {
    StepKind kind;
    Node *node;
    int out;                  /* STEP_COPY: the output written;
                                 STEP_LOOP: index of its LoopSched */
} Step;

/* Operation counts of one call, from the schedule (`--stats`). */
typedef struct Cost {
    double arith;             /* + - * / and friends */
    double calls;             /* libm calls */
    double loads;             /* reads of stored elements and inputs */
} Cost;

/* The body of a rolled loop (docs/design.md, "Rolled loops"): its own
   steps, over the body nodes of the loop (Node.in), run once per
   iteration.  Body values' `step` and `last` count in these steps (the
   loop's stores of its rows and sums come after the last, at nsteps);
   their scratch in work is one slot of the kernel, live only during the
   loop's step.  Values of the kernel that the body reads are computed
   before the loop (a value the body reads each iteration is stored
   once: loop-invariant code motion). */
typedef struct LoopSched {
    Node *node;               /* the LOOP node */
    const Loop *lp;
    unsigned char *st_live;   /* per state, per sum: the kernel reads it (the
                                 others are neither computed nor stored) */
    unsigned char *sum_live;
    long stash_w;             /* stash: doubles per iteration (0: none), */
    long stash_off;           /* its place in work, */
    int stash_slot;
    int stash_last;           /* and the last kernel step reading it */
    Step *steps;              /* STEP_COMPUTE only, in id order */
    int nsteps, capsteps;
    int at;                   /* the kernel's step that runs the loop */
    long scratch_off;         /* the body's scratch: work + scratch_off */
    long scratch;             /* its size (doubles) */
    int scratch_slot;
} LoopSched;

typedef struct KernelSchedule {
    const Kernel *k;          /* NULL: the model has no such kernel */
    Form form;
    Node **order;             /* every node of the kernel, sorted by id */
    Value *val;               /* val[i] belongs to order[i] */
    int n;
    Step *steps;
    int nsteps, ncompute, capsteps;     /* compute steps first, then copies, return */
    long work;                /* peak doubles of work */
    int reads[BLK__COUNT];    /* 1 for each block the code reads */
    Cost cost;
    LoopSched *loops;         /* one per LOOP node, in id order */
    int nloops, caploops;
} KernelSchedule;

struct Schedule {
    const Kernels *ks;
    KernelSchedule k[K__COUNT];
    long work;                /* the descriptor's work_size: the largest */
    /* Linearise once: apply[id].k is NULL when kernel id has no direction,
       or when its apply form would read no state (it would be the plain
       kernel again); lin.k is NULL when no apply kernel exists. */
    KernelSchedule apply[K__COUNT];
    KernelSchedule lin;
    Kernel lin_kernel;        /* the row lin.k points to */
    long state;               /* the descriptor's state_size */
    /* Fused value and linearisation: fused[FUSED_RESIDUAL] computes r and
       the state values of the residual_*_apply kernels, fused[FUSED_SCORE]
       f, gy and those of the score_*_apply kernels, at linearise's
       offsets; .k is NULL when no apply kernel of that part exists. */
    KernelSchedule fused[FUSED__COUNT];
    Kernel fused_kernel[FUSED__COUNT];
};

/* The row of the linearise kernel (not in KERNELS: its outputs are the
   state values, and its descriptor field comes after theta_init). */
extern const KernelInfo linearise_info;
/* The rows of the fused kernels (their outputs are the plain kernel's;
   the state is a parameter of the form, as for linearise). */
extern const KernelInfo fused_info[FUSED__COUNT];

/* One kernel's schedule (schedule_build calls it for each). */
void schedule_kernel(const Kernel *k, KernelSchedule *out);
/* Its apply form (FORM_APPLY): state offsets are set by schedule_build,
   once every apply kernel's state values are known. */
void schedule_apply(const Kernel *k, KernelSchedule *out);
/* The value of node n in a kernel's schedule; n must be one of its nodes. */
const Value *sched_value(const KernelSchedule *s, const Node *n);

/* Piece p of an assembly was computed straight into the assembly's output
   array (the assembly's step does not write it again). */
int sched_piece_in_place(const Value *assembly, const Value *piece, int p);

/* Facts about an ASSEMBLE, shared by the scheduler and the printer. */
/* Element (r, c) of piece p lands at *f0 + *fr*r + *fc*c of the row-major
   assembly. */
void assembly_place_flat(const Node *as, int p, long *f0, long *fr, long *fc);
/* Which pieces no other piece meets, and what to clear first: cover_of
   in cover.h (from the placements, never element by element). */

/* The body schedule of a LOOP node of the kernel. */
const LoopSched *sched_loop(const KernelSchedule *s, const Node *loop);
/* A scalar of a loop's body that later loops read, kept in a local and
   copied to its stash column (owner, off, tstride) at the end of each
   iteration. */
int sched_stash_copy(const Value *v);
/* State k's body is computed straight into its row (the loop does not
   store it again). */
int sched_row_in_place(const KernelSchedule *s, const LoopSched *ls, int k);

/* Ops whose element (r, c) is an expression of their arguments' elements
   (those that can be fused into a reader). */
int sched_is_map(const Node *n);
/* A STEP_COPY of value v evaluates its operation again (a cheap map)
   rather than reading its home: not for a value in state (a fused
   kernel's output that an apply kernel also reads, exp(y) say). */
int sched_copy_recomputes(const Value *v);

/* The C name of a schedule's function without the prefix: the kernel's,
   NAME_apply, or linearise. */
const char *sched_name(const KernelSchedule *ks);

#endif
