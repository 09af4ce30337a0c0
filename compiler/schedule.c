/*
 * schedule.c - decides how each kernel is computed; emit.c only prints.
 *
 * For each kernel the scheduler decides which nodes are *materialised*
 * (computed once into a local, a slice of `work`, or straight into the
 * output array) and which are *fused* into the loop of the node that
 * reads them.  The rule is by demand: a node whose every element is
 * evaluated once (its demand) is fused; one read more often is computed
 * once.  Demand flows from consumers to arguments:
 *
 *   elementwise a op b        each element of a and b read once
 *   scalar s in s * v         s read size(v) times  -> a local
 *   A @ b  (A: m x k)         A read once per element, b read m times
 *   outer(a, b)               a read len(b) times, b read len(a) times
 *   view / broadcast          free: pass the demand through
 *   sum                       each element once (the loop is fused)
 *
 * Matrix products, reductions and assemblies are always materialised.
 * Fused expressions stay at most MAX_FUSE levels deep.
 *
 * Linearise once (issue 8).  A kernel with a direction (H v, J v, J^T w,
 * the mixed products) is scheduled again in an apply form: a node is
 * *independent* when no direction leaf is below it.  Demand is then
 * propagated only from what the apply kernel computes, and an
 * independent node that is read gets, by cost:
 *
 *   leaf, constant, view, broadcast        read in place (free)
 *   product, reduction, assembly,          a home in `state`, computed once
 *   libm call, or read more than once        by linearise
 *   other cheap map read once              recomputed inline from its
 *                                            arguments (which recurse)
 *
 * so transcendental results and matrix products are stored and cheap
 * elementwise expressions of them are not.  The linearise kernel is one
 * more schedule whose results are the union of every apply kernel's
 * state values (hash-consing makes tanh(W1 y + b1) one node for all of
 * them), each at one offset of `state`.  The fused kernels
 * (schedule_fused) are the residual, and the score with its gradient,
 * scheduled together with their part's state values at those offsets:
 * a solver's value and linearisation of one point in one sweep.
 *
 * The passes, in order (schedule_kernel): outputs, demand, fusion depth,
 * homes (locals, pieces placed in their output), steps and liveness
 * (the last step reading each value), slots of work (a slot is released
 * after the last step that reads it and reused first fit; the peak over
 * all kernels is the descriptor's work_size), and cost (the operation
 * counts `--stats` prints, from the same trip counts the printed loops
 * will have).
 *
 * A rolled loop (a LOOP node, docs/design.md "Rolled loops") is one step
 * of its kernel, STEP_LOOP, stored in work (its stacks, then its sums),
 * with a sub-schedule of the body nodes (Node.in) made by the same
 * passes: the body's roots are read once per iteration, what the body
 * reads from outside its loop trip-count times, so that loop-invariant
 * values are stored once before the loop; a stored root is computed
 * straight into its row of the stack (HOME_STACK); the body's stored
 * tensors take one scratch slot of work that lives only while the loop
 * runs.
 */
#include "dilc.h"

#include "cover.h"

#include "schedule.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FUSE 24

/* The value of a node while its kernel is being scheduled (aux points
   into the kernel's val array; cleared when scheduling ends). */
#define VAL(n) ((Value *)(n)->aux)

/* ------------------------------------------------------------------ */
/* Per-op facts the scheduler needs                                     */
/* ------------------------------------------------------------------ */

static int is_trivial(const Node *n)
{
    return ir_op_class[n->op] == OPC_LEAF;
}

int sched_copy_recomputes(const Value *v)
{
    return sched_is_map(v->node) && v->home != HOME_STATE;
}

int sched_is_map(const Node *n)
{
    return is_trivial(n) || n->op == OP_BCAST || n->op == OP_VIEW || n->op == OP_TVIEW ||
           n->op == OP_OUTER || ir_is_elementwise(n->op);
}

/* How often one evaluation of an element of n reads each element of
   argument p. */
static long reuse(const Node *n, int p)
{
    const Node *a = n->args[p];
    switch (n->op) {
    case OP_BCAST:
        return ir_size(n);
    case OP_OUTER:
        return p == 0 ? n->args[1]->rows : n->args[0]->rows;
    case OP_MATMUL:
        if (n->args[0]->rank == 2 && n->args[1]->rank == 2)
            return p == 0 ? n->args[1]->cols : n->args[0]->rows;
        if (n->args[0]->rank == 2)
            return p == 0 ? 1 : n->args[0]->rows;
        return p == 0 ? n->args[1]->cols : 1;
    case OP_LSE:
        return 2;
    default:
        if (ir_is_elementwise(n->op) && a->rank == 0 && n->rank != 0)
            return ir_size(n);
        return 1;
    }
}

/* Iterations of a loop. */
static long loop_trip(const Loop *lp)
{
    return lp->hi - lp->lo;
}

/* d += a * b * c, saturating: demand only needs to tell 1 from more, and
   a long horizon times a large tensor must not overflow. */
static void demand_add(Value *d, long a, long b, long c)
{
    const long cap = LONG_MAX / 4;
    double x = (double)a * (double)b * (double)c + (double)d->demand;
    d->demand = x >= (double)cap ? cap : d->demand + a * b * c;
}

/* The sub-schedule of loop lp among s's loops. */
static LoopSched *loop_sched(const KernelSchedule *s, const Loop *lp)
{
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i].lp == lp)
            return &s->loops[i];
    unreachable();            /* a body node of a loop not in the kernel */
}

const LoopSched *sched_loop(const KernelSchedule *s, const Node *loop)
{
    return loop_sched(s, loop->loop);
}

int sched_row_in_place(const KernelSchedule *s, const LoopSched *ls, int k)
{
    const Node *b = ls->lp->st[k].body;
    const Value *v = sched_value(s, b);
    return v->home == HOME_STACK && v->owner == ls->node && v->state == k && !v->alias;
}

/* The roots of a loop's body, per iteration: the state bodies, then the
   sums; *init the init nodes (NULL where a state has none). */
static int loop_roots(const Loop *lp, Node **roots)
{
    int n = 0;
    for (int k = 0; k < lp->nst; k++)
        roots[n++] = lp->st[k].body;
    for (int k = 0; k < lp->nsum; k++)
        roots[n++] = lp->sum[k];
    return n;
}

/* ------------------------------------------------------------------ */
/* Assemblies                                                           */
/* ------------------------------------------------------------------ */

void assembly_place_flat(const Node *as, int p, long *f0, long *fr, long *fc)
{
    const Map *m = &as->place[p];
    *f0 = (long)m->r0 * as->cols + m->c0;
    *fr = (long)m->arr * as->cols + m->acr;
    *fc = (long)m->arc * as->cols + m->acc;
}

/* ------------------------------------------------------------------ */
/* Slots of work: first fit over a max-tree                             */
/* ------------------------------------------------------------------ */

typedef struct Slot {
    long off, size;
    int live;
} Slot;

/* First fit must stay fast with many thousands of slots (a long unrolled
   horizon keeps every step's tensors live until the reverse sweep reads
   them): seg is a max-tree over the free size of each slot (0 when live),
   leaves at segcap + i; top is the end of the highest slot. */
typedef struct Slots {
    Slot *s;
    int n, cap;
    long *seg;
    int segcap;
    long top, peak;
} Slots;

static long seg_max(const Slots *w, int p)
{
    return w->seg[2 * p] > w->seg[2 * p + 1] ? w->seg[2 * p] : w->seg[2 * p + 1];
}

/* Sets slot i's leaf of the max-tree and the maxima above it. */
static void seg_update(Slots *w, int i)
{
    int p = w->segcap + i;
    w->seg[p] = w->s[i].live ? 0 : w->s[i].size;
    for (p /= 2; p >= 1; p /= 2)
        w->seg[p] = seg_max(w, p);
}

/* Appends a slot, growing the max-tree when it is full. */
static int slot_push(Slots *w, Slot s)
{
    VEC_PUSH(w->s, w->n, w->cap, s);
    if (w->n > w->segcap) {
        w->segcap = w->segcap ? 2 * w->segcap : 16;
        w->seg = arena_alloc(2 * (size_t)w->segcap * sizeof *w->seg);
        for (int i = 0; i < w->n; i++)
            w->seg[w->segcap + i] = w->s[i].live ? 0 : w->s[i].size;
        for (int p = w->segcap - 1; p >= 1; p--)
            w->seg[p] = seg_max(w, p);
    } else {
        seg_update(w, w->n - 1);
    }
    return w->n - 1;
}

static void slot_release(Slots *w, int i)
{
    w->s[i].live = 0;
    seg_update(w, i);
}

/* First fit among released slots (the free slot of lowest index that is
   large enough, found by descending the max-tree), else a new slot at
   the top of work. */
static int slot_alloc(Slots *w, long size)
{
    if (w->segcap && w->seg[1] >= size) {
        int p = 1;
        while (p < w->segcap)
            p = w->seg[2 * p] >= size ? 2 * p : 2 * p + 1;
        int i = p - w->segcap;
        if (w->s[i].size > size) {
            /* split: keep the remainder as a free slot */
            Slot rest = {w->s[i].off + size, w->s[i].size - size, 0};
            w->s[i].size = size;
            slot_push(w, rest);
        }
        w->s[i].live = 1;
        seg_update(w, i);
        return i;
    }
    /* Splits never move the end of the highest slot: top is a running max. */
    int i = slot_push(w, (Slot){w->top, size, 1});
    w->top += size;
    if (w->top > w->peak)
        w->peak = w->top;
    return i;
}

/* ------------------------------------------------------------------ */
/* The passes                                                           */
/* ------------------------------------------------------------------ */

/* Outputs: their home is the caller's array.  A node that is two outputs
   is computed into the first and copied to the second; a leaf or a
   constant output is written by a loop of its own.  Returns, per output,
   whether it needs such a copy. */
static void pass_outputs(const Kernel *k, int copy[KERNEL_MAX_OUTS])
{
    for (int i = 0; i < k->info->nouts; i++) {
        Node *o = k->outs[i].node;
        copy[i] = 0;
        if (!o || k->outs[i].len == 0)
            continue;
        Value *v = VAL(o);
        /* a fused kernel's output that is also a state value is computed
           into state and copied out */
        if (v->home == HOME_OUT || v->home == HOME_STATE || is_trivial(o)) {
            copy[i] = 1;
            continue;
        }
        v->home = HOME_OUT;
        v->out = i;
        v->off = 0;
        v->ld = o->cols;
    }
    if (k->ret)
        VAL(k->ret)->demand = 1;
    for (int i = 0; i < k->info->nouts; i++)
        if (k->outs[i].node && k->outs[i].len > 0)
            VAL(k->outs[i].node)->demand += 1;
}

/* Whether part k (a state, then the sums) of a loop is computed. */
static int part_live(const LoopSched *ls, int k)
{
    return k < ls->lp->nst ? ls->st_live[k] : ls->sum_live[k - ls->lp->nst];
}

/* A loop reads each init row of its live states once, and each live
   body root once per iteration (a root outside the loop, invariant, trip
   times). */
static void loop_demand(const LoopSched *ls)
{
    const Loop *lp = ls->lp;
    Node **roots = arena_alloc((size_t)(lp->nst + lp->nsum + 1) * sizeof *roots);
    int n = loop_roots(lp, roots);
    for (int k = 0; k < n; k++) {
        if (!part_live(ls, k))
            continue;
        if (k < lp->nst && lp->st[k].init)
            demand_add(VAL(lp->st[k].init), 1, 1, 1);
        demand_add(VAL(roots[k]), 1, 1, roots[k]->in == lp ? 1 : loop_trip(lp));
    }
}

/* Demand, from consumers (larger ids) to arguments; decides which nodes
   are stored (home LOCAL for now, refined by pass_homes).  An alias is
   computed by an earlier loop: it reads nothing; a node that aliases
   read is stored. */
static void pass_demand(KernelSchedule *s)
{
    for (int i = s->n - 1; i >= 0; i--) {
        Node *nd = s->order[i];
        Value *v = VAL(nd);
        if (v->alias)
            continue;
        if (v->home != HOME_OUT && v->home != HOME_STATE) {
            int mat;
            if (is_trivial(nd) || nd->op == OP_VIEW || nd->op == OP_TVIEW || nd->op == OP_BCAST)
                mat = 0;
            else if (!sched_is_map(nd) || v->target)
                mat = 1;
            else
                mat = v->demand > 1;
            v->home = mat ? HOME_LOCAL : HOME_FUSED;
        }
        long f = v->home != HOME_FUSED ? 1 : v->demand;
        if (nd->op == OP_LOOP) {
            loop_demand(loop_sched(s, nd->loop));
            continue;
        }
        /* a body node runs once per iteration: what it reads from
           outside its loop is read trip times */
        for (int p = 0; p < nd->nargs; p++) {
            Node *a = nd->args[p];
            demand_add(VAL(a), f, reuse(nd, p), nd->in && !a->in ? loop_trip(nd->in) : 1);
        }
    }
}

/* A libm call per element (as cost_op counts them): worth storing
   rather than recomputing at every apply. */
static int calls_libm(const Node *n)
{
    if (n->op == OP_POW)
        return !ir_is_const(n->args[1], 2) && !ir_is_const(n->args[1], -1);
    return ir_op_class[n->op] == OPC_ELEMENTWISE && ir_op_cfn[n->op] != NULL;
}

/* Apply form: which nodes depend on the direction (children first). */
static void pass_indep(Node **order, int n, Block dir)
{
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        int indep = !(nd->op == OP_LEAF && nd->block == dir);
        for (int p = 0; p < nd->nargs && indep; p++)
            indep = VAL(nd->args[p])->indep;
        VAL(nd)->indep = indep;
    }
}

/* Apply form: pass_demand, with demand only from what the apply kernel
   computes.  An independent node is read in place (trivial, views,
   broadcasts), stored in state (see the table at the top), recomputed
   inline (a cheap map read once: its arguments get demand in turn), or
   not needed at all (HOME_NONE).  Outputs are computed as usual even
   when independent. */
static void pass_split(Node **order, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (v->home != HOME_OUT && v->indep) {
            if (v->demand == 0) {
                v->home = HOME_NONE;
                continue;
            }
            int inplace = is_trivial(nd) || nd->op == OP_VIEW || nd->op == OP_BCAST;
            if (!inplace && (!sched_is_map(nd) || v->demand > 1 || calls_libm(nd))) {
                v->home = HOME_STATE;
                continue;             /* its arguments are linearise's */
            }
            v->home = HOME_FUSED;
        } else if (v->home != HOME_OUT) {
            int mat;
            if (is_trivial(nd) || nd->op == OP_VIEW || nd->op == OP_BCAST)
                mat = 0;
            else if (!sched_is_map(nd))
                mat = 1;
            else
                mat = v->demand > 1;
            v->home = mat ? HOME_LOCAL : HOME_FUSED;
        }
        long f = v->home != HOME_FUSED ? 1 : v->demand;
        for (int p = 0; p < nd->nargs; p++)
            VAL(nd->args[p])->demand += f * reuse(nd, p);
    }
}

/* Fused expressions stay shallow: a node more than MAX_FUSE levels of
   fused operations above its stored inputs is stored too.  This bounds
   the printer's recursion and the size of one C expression (an unrolled
   chain x[t+1] = x[t] + 1 would otherwise be one expression T levels
   deep). */
static void pass_fuse_depth(Node **order, int n)
{
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (v->alias || nd->op == OP_LOOP)
            continue;             /* read nothing here / always stored */
        int depth = 0;
        for (int p = 0; p < nd->nargs; p++) {
            Value *a = VAL(nd->args[p]);
            if (a->home == HOME_FUSED && a->fuse_depth > depth)
                depth = a->fuse_depth;
        }
        v->fuse_depth = depth + 1;
        if (v->home == HOME_FUSED && !is_trivial(nd) && v->fuse_depth > MAX_FUSE) {
            v->home = v->indep ? HOME_STATE : HOME_LOCAL;   /* indep: apply form */
            v->fuse_depth = 0;
        }
    }
}

/* Gives the pieces of an output assembly their place in the output array
   when nothing else writes there and they would be stored anyway. */
static void place_pieces(Node *as)
{
    Value *av = VAL(as);
    Cover cv;
    cover_of(as, &cv);
    for (int p = 0; p < as->nargs; p++) {
        Node *pc = as->args[p];
        Value *pv = VAL(pc);
        if ((pv->home != HOME_WORK && pv->home != HOME_LOCAL) || is_trivial(pc) ||
            pc->op == OP_LOOP || !cv.excl[p])
            continue;
        long f0, fr, fc;
        assembly_place_flat(as, p, &f0, &fr, &fc);
        if (pc->cols > 1 && fc != 1)
            continue;
        if (pc->rows > 1 && pc->cols > 1 && fr < pc->cols)
            continue;
        pv->home = HOME_OUT;
        pv->out = av->out;
        pv->off = av->off + f0;
        pv->ld = fr;
        pv->direct = p + 1;
    }
}

/* A stored root of a loop's body is computed into its state's row of
   the loop's value (the first state it is the body of), not copied
   there. */
static void stack_roots(const LoopSched *ls)
{
    const Loop *lp = ls->lp;
    for (int k = 0; k < lp->nst; k++) {
        const LoopState *st = &lp->st[k];
        Node *b = st->body;
        Value *v = VAL(b);
        if (!ls->st_live[k] || b->in != lp || is_trivial(b) || v->alias ||
            v->home == HOME_FUSED || v->home == HOME_STACK)
            continue;
        long w = (long)st->rows * st->cols;
        if (ir_size(b) != w)
            unreachable();
        v->home = HOME_STACK;
        v->owner = ls->node;
        v->state = k;
        v->off = st->offset + (st->d - st->kmin) * w;
        v->ld = b->cols;
        v->tstride = w;
    }
}

/* Body values that aliases in later loops read get a column of their
   loop's stash (one row per iteration), unless they are in its stack
   already: a tensor is computed there (HOME_STASH), a scalar stays a
   local of the iteration and is copied there at its end (so that the
   iteration's own readers, and gcc's sin/cos pairing, see a register).
   Then each alias reads the stash (or the stack row). */
static void stash_homes(KernelSchedule *s)
{
    for (int i = 0; i < s->n; i++) {
        Value *v = &s->val[i];
        if (!v->target || v->home == HOME_STACK)
            continue;
        LoopSched *ls = loop_sched(s, v->node->in);
        if (v->home != HOME_LOCAL)
            v->home = HOME_STASH;
        v->owner = ls->node;
        v->off = ls->stash_w;         /* its column, for now */
        v->ld = v->node->cols;
        ls->stash_w += ir_size(v->node);
    }
    for (int i = 0; i < s->n; i++) {
        Value *v = &s->val[i];
        if (!v->target || v->home == HOME_STACK)
            continue;
        const LoopSched *ls = loop_sched(s, v->node->in);
        v->tstride = ls->stash_w;
        v->off -= ls->lp->lo * ls->stash_w;   /* row t - lo */
    }
    for (int i = 0; i < s->n; i++) {
        Value *v = &s->val[i];
        if (!v->alias)
            continue;
        const Value *a = VAL(v->alias);
        if (!a->target || (a->home != HOME_STACK && a->home != HOME_STASH && a->home != HOME_LOCAL))
            unreachable();            /* a target is stored for every t */
        v->home = a->home == HOME_STACK ? HOME_STACK : HOME_STASH;
        v->owner = a->owner;
        v->state = a->state;
        v->off = a->off;
        v->ld = a->ld;
        v->tstride = a->tstride;
    }
}

/* A scalar of a loop's body kept as a local and copied to the stash at
   the end of each iteration. */
int sched_stash_copy(const Value *v)
{
    return v->target && v->home == HOME_LOCAL;
}

/* Homes of stored values: scalars in locals, pieces of output assemblies
   in place, roots of loop bodies in their rows, values later loops read
   in their loop's stash, every other tensor in work (its slot is chosen
   later). */
static void pass_homes(KernelSchedule *s)
{
    for (int i = 0; i < s->n; i++) {
        Value *v = &s->val[i];
        if (v->home == HOME_LOCAL && s->order[i]->rank != 0)
            v->home = HOME_WORK;
        if (s->order[i]->op == OP_LOOP)
            stack_roots(loop_sched(s, s->order[i]->loop));
    }
    stash_homes(s);
    for (int i = s->n - 1; i >= 0; i--)
        if (s->val[i].home == HOME_OUT && !s->val[i].direct && s->order[i]->op == OP_ASSEMBLE)
            place_pieces(s->order[i]);
}

/* Whether this kernel computes v (an apply kernel reads its state values;
   linearise computes them). */
static int computed_here(const KernelSchedule *s, const Value *v)
{
    if (v->home == HOME_FUSED || v->home == HOME_NONE || is_trivial(v->node))
        return 0;
    return !(v->home == HOME_STATE && s->form == FORM_APPLY);
}

/* Memory strides of element (r, c) of n when it is read in place: a leaf
   (row-major in its block), a stored matrix, or views of one.  Returns 0
   when n is computed inline (no layout). */
static int mat_strides(const Node *n, long *sr, long *sc)
{
    if (n->op == OP_VIEW) {
        long br, bc;
        if (!mat_strides(n->args[0], &br, &bc))
            return 0;
        const Map *m = &n->map;
        *sr = m->arr * br + m->acr * bc;
        *sc = m->arc * br + m->acc * bc;
        return 1;
    }
    const Value *v = VAL(n);
    if (n->op != OP_LEAF && v->home != HOME_WORK && v->home != HOME_OUT &&
        v->home != HOME_STATE)
        return 0;
    *sr = n->op == OP_LEAF ? n->cols : v->ld;
    *sc = 1;
    return 1;
}

/* The terms a MATMUL sums per output element. */
static int matmul_depth(const Node *nd)
{
    const Node *a = nd->args[0];
    return a->rank == 2 ? a->cols : a->rows;
}

/* A view of a view ... of a leaf: read in place with the leaf's strides,
   whatever the kernel. */
static int leaf_strided(const Node *n)
{
    while (n->op == OP_VIEW)
        n = n->args[0];
    return n->op == OP_LEAF;
}

/* The matrix of a matrix-vector product nd (one operand of rank 2, the
   other of rank 1), read in place: 1 when it is contiguous along the
   result and strided along the sum (the layout the row-wise order
   streams), 0 when not, -1 when it has no layout in this kernel. */
static int rowwise_layout(const Node *nd)
{
    const Node *a = nd->args[0];
    long sr, sc;
    if (!mat_strides(a->rank == 2 ? a : nd->args[1], &sr, &sc))
        return -1;
    /* (output index, summed index) strides of the matrix */
    long so = a->rank == 2 ? sr : sc, sl = a->rank == 2 ? sc : sr;
    return (so == 1 || so == -1) && sl != 1 && sl != -1;
}

/* Matrix-vector products whose matrix is read with a stride along the
   sum and contiguously along the result (a transposed matrix, or a row
   vector times a matrix) are accumulated row by row: the same sums in
   the same order, but the inner loop streams the matrix and vectorises.
   DILC_ROWWISE=0 keeps every product in dot-product order (to measure
   the two; bench/README and docs/design.md give the figures). */
static void pass_matvec(Node **order, int n)
{
    const char *env = getenv("DILC_ROWWISE");
    if (env && strcmp(env, "0") == 0)
        return;
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (nd->op != OP_MATMUL || nd->rank != 1 ||
            (v->home != HOME_WORK && v->home != HOME_OUT && v->home != HOME_STATE))
            continue;
        if (nd->args[0]->rank == nd->args[1]->rank)
            continue;
        v->rowwise = matmul_depth(nd) > 1 && ir_size(nd) > 1 && rowwise_layout(nd) == 1;
    }
}

/*
 * Long sums in lanes.  Without -ffast-math a C compiler keeps the order of
 * `acc += a[l] * b[l]`, so a dot product runs at one addition per
 * floating-point add latency (4 cycles), and vectorises not at all.  With
 * SCHED_LANES partial sums (term l goes to lane l mod SCHED_LANES, the
 * lanes added in a fixed tree at the end) the additions are independent
 * and gcc -O2 keeps them in vector registers: 2.6x on node_vdp's
 * Jacobian product (docs/design.md, "Reductions").  The order is a
 * different one, fixed by the emitted text: every build gives the same bits.
 *
 * A node must sum in the same order in every kernel that computes it: the
 * fused and apply kernels are checked bitwise against the plain ones.  A
 * row-wise product (pass_matvec) sums in index order, and whether a
 * matrix-vector product is row-wise depends on its matrix's layout, which
 * for a computed matrix depends on the kernel.  So a matrix-vector product
 * takes lanes only when its matrix is a leaf (or a view of one) that is
 * not laid out for the row-wise order; every other long product (vector
 * times vector, matrix times matrix) and every long SUM of a vector does.
 */
static void pass_lanes(Node **order, int n)
{
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (nd->op == OP_SUM) {
            const Node *a = nd->args[0];
            v->lanes = (a->rows == 1 || a->cols == 1) && ir_size(a) >= SCHED_LANES_MIN;
            continue;
        }
        if (nd->op != OP_MATMUL || matmul_depth(nd) < SCHED_LANES_MIN)
            continue;
        const Node *a = nd->args[0], *b = nd->args[1];
        /* a matrix-vector product: a leaf's layout, and not the row-wise
           one (where DILC_ROWWISE allows that order) */
        if (nd->rank == 1 && a->rank != b->rank
            && (!leaf_strided(a->rank == 2 ? a : b) || rowwise_layout(nd) != 0))
            continue;
        v->lanes = 1;
    }
}

/* Compute steps in id order: the kernel's own, and each loop's body
   steps in its LoopSched (a LOOP node is a STEP_LOOP of the kernel).
   Returns the number of the kernel's compute steps. */
static int steps_in_order(KernelSchedule *s)
{
    int pos = 0;
    for (int i = 0; i < s->n; i++) {
        Node *nd = s->order[i];
        Value *v = VAL(nd);
        v->step = -1;
        if (!computed_here(s, v) || v->alias)
            continue;
        if (nd->in) {
            LoopSched *ls = loop_sched(s, nd->in);
            v->step = ls->nsteps;
            VEC_PUSH(ls->steps, ls->nsteps, ls->capsteps, ((Step){STEP_COMPUTE, nd, 0}));
            continue;
        }
        v->step = pos++;
        if (nd->op == OP_LOOP) {
            LoopSched *ls = loop_sched(s, nd->loop);
            ls->at = v->step;
            VEC_PUSH(s->steps, s->nsteps, s->capsteps,
                     ((Step){STEP_LOOP, nd, (int)(ls - s->loops)}));
        } else {
            VEC_PUSH(s->steps, s->nsteps, s->capsteps, ((Step){STEP_COMPUTE, nd, 0}));
        }
    }
    return pos;
}

static void read_at(Node *a, int reader)
{
    if (reader > VAL(a)->last)
        VAL(a)->last = reader;
}

/* A LOOP node reads its init rows at its step, and its body's roots at
   the end of each iteration (body step nsteps); roots outside the body
   at its step. */
static void loop_reads(KernelSchedule *s, Node *L)
{
    const Loop *lp = L->loop;
    const LoopSched *ls = loop_sched(s, lp);
    Node **roots = arena_alloc((size_t)(lp->nst + lp->nsum + 1) * sizeof *roots);
    int n = loop_roots(lp, roots);
    for (int k = 0; k < n; k++) {
        if (!part_live(ls, k))
            continue;
        if (k < lp->nst && lp->st[k].init)
            read_at(lp->st[k].init, ls->at);
        read_at(roots[k], roots[k]->in == lp ? ls->nsteps : ls->at);
    }
}

/* Compute steps, and the last compute step reading each value (through
   the fused expressions that read it).  Results are live to the end.  A
   body value's steps count in its loop's body; a value read by a body
   is read at the loop's step.  Returns the number of compute steps. */
static int pass_steps(KernelSchedule *s)
{
    Node **order = s->order;
    int n = s->n, pos = steps_in_order(s);
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (v->home == HOME_OUT || nd == s->k->ret ||
            (v->home == HOME_STATE && (s->form == FORM_LINEARISE || s->form == FORM_FUSED)))
            v->last = pos + 1;
        if (nd->op == OP_LOOP) {
            loop_reads(s, nd);
            continue;
        }
        const LoopSched *ls = nd->in ? loop_sched(s, nd->in) : NULL;
        if (v->alias) {
            /* reads its source loop's stack or stash during this loop */
            LoopSched *src = loop_sched(s, v->owner->loop);
            read_at(v->owner, ls->at);
            if (ls->at > src->stash_last)
                src->stash_last = ls->at;
            continue;
        }
        int reader = v->step >= 0 ? v->step : v->last;
        for (int p = 0; p < nd->nargs; p++) {
            Node *a = nd->args[p];
            read_at(a, ls && a->in != nd->in ? ls->at : reader);
        }
    }
    return pos;
}

/* Slots of work for the stored values of a list of steps, in order,
   each released once the steps reach one beyond its last reader.  A
   slot in use is filed under the step after which it is free (bucket[b],
   chained through next[]), so that releasing costs nothing per live
   slot: with a scan over every live slot at every step, a long unrolled
   horizon took time quadratic in its length.  A STEP_LOOP also takes its
   body's scratch, free after that step.  Offsets count from 0; returns
   the peak. */
static long assign_slots(KernelSchedule *s, const Step *steps, int nc)
{
    Slots w;
    memset(&w, 0, sizeof w);
    int *bucket = arena_alloc((size_t)(nc + 2) * sizeof *bucket);
    int *next = arena_alloc((size_t)(nc + 1) * sizeof *next);
    int *scratch = arena_alloc((size_t)(nc + 1) * sizeof *scratch);
    int *sbucket = arena_alloc((size_t)(nc + 2) * sizeof *sbucket);   /* stashes */
    int *snext = arena_alloc((size_t)(nc + 1) * sizeof *snext);
    for (int b = 0; b < nc + 2; b++)
        bucket[b] = sbucket[b] = -1;
    int released = 0;     /* buckets below this one are free already */
    for (int i = 0; i < nc; i++) {
        Value *v = VAL(steps[i].node);
        for (; released < i; released++) {
            for (int t = bucket[released]; t >= 0; t = next[t])
                slot_release(&w, VAL(steps[t].node)->slot);
            for (int t = sbucket[released]; t >= 0; t = snext[t])
                slot_release(&w, s->loops[steps[t].out].stash_slot);
            if (scratch[released] >= 0)
                slot_release(&w, scratch[released]);
        }
        scratch[i] = -1;
        if (v->home == HOME_WORK) {
            v->slot = slot_alloc(&w, ir_size(v->node));
            v->off = w.s[v->slot].off;
            v->ld = v->node->cols;
            /* free once a step beyond `last` is reached (at the next one
               if nothing reads it after this step) */
            int b = v->last > i ? v->last : i;
            next[i] = bucket[b];
            bucket[b] = i;
        }
        if (steps[i].kind == STEP_LOOP) {
            LoopSched *ls = &s->loops[steps[i].out];
            if (ls->stash_w > 0) {
                /* one row per iteration, until the last loop reading it */
                ls->stash_slot = slot_alloc(&w, loop_trip(ls->lp) * ls->stash_w);
                ls->stash_off = w.s[ls->stash_slot].off;
                int b = ls->stash_last > i ? ls->stash_last : i;
                snext[i] = sbucket[b];
                sbucket[b] = i;
            }
            if (ls->scratch > 0) {
                ls->scratch_slot = scratch[i] = slot_alloc(&w, ls->scratch);
                ls->scratch_off = w.s[ls->scratch_slot].off;
            }
        }
    }
    return w.peak;
}

/* Each loop body's slots within its scratch, then the kernel's slots;
   the peak is the kernel's work. */
static void pass_slots(KernelSchedule *s)
{
    for (int l = 0; l < s->nloops; l++) {
        LoopSched *ls = &s->loops[l];
        ls->scratch = assign_slots(s, ls->steps, ls->nsteps);
    }
    s->work = assign_slots(s, s->steps, s->ncompute);
    for (int l = 0; l < s->nloops; l++) {
        LoopSched *ls = &s->loops[l];
        for (int j = 0; j < ls->nsteps; j++) {
            Value *v = VAL(ls->steps[j].node);
            if (v->home == HOME_WORK)
                v->off += ls->scratch_off;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Cost: what one call computes, per the loops the printer will write    */
/* ------------------------------------------------------------------ */

static void cost_expr(Cost *c, const Node *n, double trip);

/* Element (r, c) of n from its arguments, evaluated trip times. */
static void cost_op(Cost *c, const Node *n, double trip)
{
    switch (n->op) {
    case OP_LEAF: case OP_CARRY:
        c->loads += trip;
        return;
    case OP_POW:
        /* x^2 and x^-1 are printed as products; other powers call pow */
        if (ir_is_const(n->args[1], 2) || ir_is_const(n->args[1], -1)) {
            c->arith += trip;
            cost_expr(c, n->args[0], trip);
            return;
        }
        c->calls += trip;
        break;
    default:
        if (ir_op_class[n->op] == OPC_ELEMENTWISE && ir_op_cfn[n->op])
            c->calls += trip;
        else if (ir_op_class[n->op] == OPC_ELEMENTWISE || n->op == OP_OUTER)
            c->arith += trip;
    }
    for (int p = 0; p < n->nargs; p++)
        cost_expr(c, n->args[p], trip);
}

static void cost_expr(Cost *c, const Node *n, double trip)
{
    if (VAL(n)->home != HOME_FUSED && !is_trivial(n))
        c->loads += trip;          /* read from its storage */
    else
        cost_op(c, n, trip);
}

/* One compute step: its loops' trip count times the work per element. */
static void cost_step(Cost *c, const Node *n)
{
    const Node *a = n->nargs > 0 ? n->args[0] : NULL;
    double size = (double)ir_size(n);
    switch (n->op) {
    case OP_SUM:
        c->arith += (double)ir_size(a);
        cost_expr(c, a, (double)ir_size(a));
        return;
    case OP_LSE:               /* max, then sum of exp(a - max), then log */
        cost_expr(c, a, 1);
        cost_expr(c, a, (double)ir_size(a));
        cost_expr(c, a, (double)ir_size(a));
        c->calls += (double)ir_size(a);
        c->arith += 2.0 * (double)ir_size(a);
        return;
    case OP_MATMUL: {
        double trip = (double)ir_size(n) * matmul_depth(n);
        c->arith += 2.0 * trip;
        cost_expr(c, a, trip);
        cost_expr(c, n->args[1], trip);
        return;
    }
    case OP_ASSEMBLE:
        for (int p = 0; p < n->nargs; p++)
            if (!sched_piece_in_place(VAL(n), VAL(n->args[p]), p))
                cost_expr(c, n->args[p], (double)ir_size(n->args[p]));
        return;
    default:
        cost_op(c, n, VAL(n)->home == HOME_LOCAL ? 1 : size);
    }
}

/* A loop: its init rows copied once; per iteration, its body's steps,
   the stores of its rows (but those computed in place) and the sums. */
static void cost_loop(Cost *c, const KernelSchedule *s, const Node *L)
{
    const Loop *lp = L->loop;
    const LoopSched *ls = loop_sched(s, lp);
    Cost b = {0, 0, 0};
    for (int j = 0; j < ls->nsteps; j++)
        cost_step(&b, ls->steps[j].node);
    for (int k = 0; k < lp->nst; k++) {
        const Node *r = lp->st[k].body;
        if (!ls->st_live[k])
            continue;
        if (lp->st[k].init)
            cost_expr(c, lp->st[k].init, (double)ir_size(lp->st[k].init));
        if (!sched_row_in_place(s, ls, k))
            cost_expr(&b, r, (double)ir_size(r));
    }
    for (int k = 0; k < lp->nsum; k++) {
        if (!ls->sum_live[k])
            continue;
        b.arith += (double)ir_size(lp->sum[k]);
        cost_expr(&b, lp->sum[k], (double)ir_size(lp->sum[k]));
    }
    double n = (double)loop_trip(lp);
    c->arith += n * b.arith;
    c->calls += n * b.calls;
    c->loads += n * b.loads;
}

static void pass_cost(KernelSchedule *s)
{
    memset(&s->cost, 0, sizeof s->cost);
    for (int i = 0; i < s->nsteps; i++) {
        const Step *st = &s->steps[i];
        const Node *n = st->node;
        switch (st->kind) {
        case STEP_COMPUTE:
            cost_step(&s->cost, n);
            break;
        case STEP_LOOP:
            cost_loop(&s->cost, s, n);
            break;
        case STEP_COPY:
            if (sched_copy_recomputes(VAL(n)))
                cost_op(&s->cost, n, (double)ir_size(n));
            else
                cost_expr(&s->cost, n, (double)ir_size(n));
            break;
        case STEP_RETURN:
            cost_expr(&s->cost, n, 1);
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Liveness: what the kernel computes                                   */
/* ------------------------------------------------------------------ */

/* A rolled loop's value holds every state and sum of its body, and the
   reverse sweep's loop holds the adjoint of every parameter: a kernel
   that reads some of them (the gradient reads no theta adjoint) must not
   compute the others, as the unrolled graph would not.  And a loop built
   by transplanting an earlier loop's body (an adjoint or tangent loop)
   need not compute again what the earlier loop computed at the same t:
   it reads that value where the earlier loop stored it (an alias).  Per
   node of the kernel's graph (aux) while liveness runs: */
typedef struct Live {
    int live;
    int target;               /* a body node some alias reads */
    Node *src;                /* a stash read: the node it reads, or NULL */
    int checked;              /* src is known */
    int any, all;             /* LOOP: views read elements [lo, hi] / all */
    long lo, hi;
    unsigned char *st_live, *sum_live;   /* LOOP: parts read */
} Live;

#define LIVE(n) ((Live *)(n)->aux)

/* Worth reading from an earlier loop rather than computing: a libm call,
   a division, a product or a reduction. */
static int costly(const Node *n)
{
    switch (n->op) {
    case OP_DIV: case OP_MATMUL: case OP_SUM: case OP_LSE:
        return 1;
    case OP_POW:
        return !ir_is_const(n->args[1], 2) && !ir_is_const(n->args[1], -1);
    default:
        return ir_is_elementwise(n->op) && ir_op_cfn[n->op] != NULL;
    }
}

/* The node of an earlier loop of the kernel that body node n equals at
   every t (the first of n's twins), if reading it is worth it; else
   NULL. */
static Node *stash_source(Node *n)
{
    Live *l = LIVE(n);
    if (l->checked)
        return l->src;
    l->checked = 1;
    if (!n->in || !n->twin)
        return NULL;
    Node *tw = n->twin;
    while (tw->twin)
        tw = tw->twin;
    const Loop *src = tw->in;
    if (!src || src == n->in || !tw->aux || !src->node || !src->node->aux ||
        src->lo != n->in->lo || src->hi != n->in->hi || !costly(tw))
        return NULL;
    l->src = tw;
    return tw;
}

static void live_set(Node *n)
{
    LIVE(n)->live = 1;
}

/* A view of LOOP node L reads elements [a, b] of its value. */
static void live_view(Node *v)
{
    Live *l = LIVE(v->args[0]);
    const Map *m = &v->map;
    long dr = (long)m->arr * (v->rows - 1), dc = (long)m->arc * (v->cols - 1);
    long a = m->r0 + (dr < 0 ? dr : 0) + (dc < 0 ? dc : 0);
    long b = m->r0 + (dr > 0 ? dr : 0) + (dc > 0 ? dc : 0);
    if (v->op == OP_TVIEW) {
        const Loop *lp = v->args[1]->loop;
        long t0 = v->trow * lp->lo, t1 = v->trow * (lp->hi - 1);
        a += t0 < t1 ? t0 : t1;
        b += t0 < t1 ? t1 : t0;
    }
    if (!l->any || a < l->lo)
        l->lo = a;
    if (!l->any || b > l->hi)
        l->hi = b;
    l->any = 1;
}

/* What a live node (not a LOOP) needs: a stash read its source (and the
   source's loop), any other node its arguments; a view of a loop reads a
   range of the loop's value, any other reader all of it. */
static void live_args(Node *n)
{
    Node *src = stash_source(n);
    if (src) {
        live_set(src);
        LIVE(src)->target = 1;
        live_set(src->in->node);
        return;
    }
    for (int p = 0; p < n->nargs; p++) {
        Node *a = n->args[p];
        live_set(a);
        if (a->op != OP_LOOP)
            continue;
        if ((n->op == OP_VIEW || n->op == OP_TVIEW) && p == 0)
            live_view(n);
        else
            LIVE(a)->all = 1;
    }
}

/* The parts of live loop L that its readers and its own carries need:
   parts read from outside, then, until nothing changes, the states
   carried (read by CARRY) by the live part of the body.  Marks the body
   nodes that part reaches. */
static void live_loop(Node *L)
{
    const Loop *lp = L->loop;
    Live *l = LIVE(L);
    l->st_live = arena_alloc((size_t)(lp->nst + 1));
    l->sum_live = arena_alloc((size_t)(lp->nsum + 1));
    for (int k = 0; k < lp->nst + lp->nsum; k++) {
        int is_sum = k >= lp->nst, j = is_sum ? k - lp->nst : k;
        long a = is_sum ? lp->sum_off[j] : lp->st[j].offset;
        long len = is_sum ? ir_size(lp->sum[j])
                          : (lp->st[j].kmax - lp->st[j].kmin) * lp->st[j].rows * lp->st[j].cols;
        int on = l->all || (l->any && a <= l->hi && l->lo < a + len);
        (is_sum ? l->sum_live : l->st_live)[j] = (unsigned char)on;
    }
    Node **roots = arena_alloc((size_t)(lp->nst + lp->nsum + 1) * sizeof *roots), **body;
    int nr = loop_roots(lp, roots);
    int nb = ir_body_topo(lp, roots, nr, &body);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int k = 0; k < lp->nst; k++)
            if (l->st_live[k]) {
                live_set(lp->st[k].body);
                if (lp->st[k].init)
                    live_set(lp->st[k].init);
            }
        for (int k = 0; k < lp->nsum; k++)
            if (l->sum_live[k])
                live_set(lp->sum[k]);
        for (int i = nb - 1; i >= 0; i--) {
            Node *n = body[i];
            if (!LIVE(n)->live)
                continue;
            live_args(n);
            if (n->op == OP_CARRY && !l->st_live[n->state])
                l->st_live[n->state] = 1, changed = 1;
        }
    }
}

/* Marks what the kernel computes, from its roots down (decreasing id:
   every reader of a node before the node). */
static void pass_live(Node **full, int n, Node **roots, int nroots)
{
    for (int i = 0; i < nroots; i++) {
        live_set(roots[i]);
        LIVE(roots[i])->all = 1;      /* a LOOP result: all of it */
    }
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = full[i];
        if (!LIVE(nd)->live)
            continue;
        if (nd->op == OP_LOOP)
            live_loop(nd);
        else
            live_args(nd);
    }
}

/* ------------------------------------------------------------------ */
/* Kernels                                                              */
/* ------------------------------------------------------------------ */

/* Sets up a schedule of the live nodes below roots, in id order, each
   with its Value (aux points to it until sched_end), and a LoopSched per
   live loop with its live parts (pass_live). */
static void sched_begin(KernelSchedule *s, const Kernel *k, Form form, Node **roots, int nroots)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->form = form;
    Node **full;
    int nfull = ir_topo(roots, nroots, &full);
    Live *lv = arena_alloc((size_t)(nfull ? nfull : 1) * sizeof *lv);
    for (int i = 0; i < nfull; i++)
        full[i]->aux = &lv[i];
    pass_live(full, nfull, roots, nroots);
    s->order = arena_alloc((size_t)(nfull ? nfull : 1) * sizeof *s->order);
    s->val = arena_alloc((size_t)(nfull ? nfull : 1) * sizeof *s->val);
    for (int i = 0; i < nfull; i++) {
        if (!lv[i].live)
            continue;
        Node *nd = full[i];
        Value *v = &s->val[s->n];
        s->order[s->n++] = nd;
        v->node = nd;
        v->slot = -1;
        v->step = -1;
        v->target = lv[i].target;
        if (lv[i].src) {
            v->alias = lv[i].src;
            v->home = HOME_STASH;     /* for now: alias's, once decided */
        }
        if (nd->op == OP_LOOP) {
            LoopSched ls;
            memset(&ls, 0, sizeof ls);
            ls.node = nd;
            ls.lp = nd->loop;
            ls.scratch_slot = ls.stash_slot = -1;
            ls.st_live = lv[i].st_live;
            ls.sum_live = lv[i].sum_live;
            VEC_PUSH(s->loops, s->nloops, s->caploops, ls);
        }
    }
    for (int i = 0; i < nfull; i++)
        full[i]->aux = NULL;
    for (int i = 0; i < s->n; i++)
        s->order[i]->aux = &s->val[i];
}

/* The passes after demand, the same for every form. */
static void sched_end(KernelSchedule *s, const int *copy)
{
    const Kernel *k = s->k;
    for (int i = 0; i < s->n; i++)
        if (s->order[i]->op == OP_LEAF && s->val[i].home != HOME_NONE)
            s->reads[s->order[i]->block] = 1;
    pass_fuse_depth(s->order, s->n);
    pass_homes(s);
    pass_matvec(s->order, s->n);
    pass_lanes(s->order, s->n);
    s->ncompute = pass_steps(s);
    pass_slots(s);
    for (int i = 0; copy && i < k->info->nouts; i++)
        if (copy[i])
            VEC_PUSH(s->steps, s->nsteps, s->capsteps,
                     ((Step){STEP_COPY, k->outs[i].node, i}));
    if (k->ret)
        VEC_PUSH(s->steps, s->nsteps, s->capsteps, ((Step){STEP_RETURN, k->ret, 0}));
    pass_cost(s);
    for (int i = 0; i < s->n; i++)
        s->order[i]->aux = NULL;
}

void schedule_kernel(const Kernel *k, KernelSchedule *s)
{
    Node *roots[1 + KERNEL_MAX_OUTS];
    sched_begin(s, k, FORM_PLAIN, roots, kernel_roots(k, roots));
    int copy[KERNEL_MAX_OUTS];
    pass_outputs(k, copy);
    pass_demand(s);
    sched_end(s, copy);
}

void schedule_apply(const Kernel *k, KernelSchedule *s)
{
    Node *roots[1 + KERNEL_MAX_OUTS];
    sched_begin(s, k, FORM_APPLY, roots, kernel_roots(k, roots));
    int copy[KERNEL_MAX_OUTS];
    pass_outputs(k, copy);
    pass_indep(s->order, s->n, kernel_dir_block(k->id));
    pass_split(s->order, s->n);
    sched_end(s, copy);
}

const KernelInfo linearise_info = {
    "linearise", PART_SCORE,
    "state := what the *_apply kernels read that does not depend on the direction",
    0, NULL, 0, {NULL, NULL, NULL}, 0};

static int by_id(const void *a, const void *b)
{
    const Node *x = *(Node *const *)a, *y = *(Node *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

/* The state values of every apply kernel (part < 0) or of the apply
   kernels of one part, each once, sorted by id. */
static int state_nodes(const Schedule *sc, int part, Node ***out)
{
    Node **v = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < K__COUNT; i++) {
        const KernelSchedule *a = &sc->apply[i];
        if (part >= 0 && kernel_info[i].part != (KernelPart)part)
            continue;
        for (int j = 0; a->k && j < a->n; j++)
            if (a->val[j].home == HOME_STATE)
                VEC_PUSH(v, n, cap, a->order[j]);
    }
    if (n > 1)
        qsort(v, (size_t)n, sizeof *v, by_id);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || v[u - 1] != v[i])
            v[u++] = v[i];
    *out = v;
    return u;
}

/* The linearise kernel: every state value at its offset of `state` (in id
   order), computed as any kernel's results are; the apply kernels' state
   values get the same offsets. */
static void schedule_linearise(Schedule *sc)
{
    Node **st;
    int n = state_nodes(sc, -1, &st);
    if (n == 0)
        return;
    sc->lin_kernel = (Kernel){K__COUNT, &linearise_info, NULL, {{NULL, 0}}};
    KernelSchedule *s = &sc->lin;
    sched_begin(s, &sc->lin_kernel, FORM_LINEARISE, st, n);
    long off = 0;
    for (int i = 0; i < n; i++) {
        Value *v = VAL(st[i]);
        v->home = HOME_STATE;
        v->off = off;
        v->ld = st[i]->cols;
        v->demand = 1;
        off += ir_size(st[i]);
    }
    sc->state = off;
    for (int i = 0; i < K__COUNT; i++) {
        KernelSchedule *a = &sc->apply[i];
        for (int j = 0; a->k && j < a->n; j++)
            if (a->val[j].home == HOME_STATE) {
                a->val[j].off = sched_value(s, a->order[j])->off;
                a->val[j].ld = a->order[j]->cols;
            }
    }
    pass_demand(s);
    sched_end(s, NULL);
}

const KernelInfo fused_info[FUSED__COUNT] = {
    {"residual_linearise", PART_RESIDUAL,
     "r(y; x, theta), and state := what the residual_*_apply kernels read", 0, NULL, 0,
     {"r", NULL, NULL}, 1},
    {"score_linearise", PART_SCORE,
     "f(y; x, theta) and gy = df/dy, and state := what the score_*_apply kernels read", 1,
     NULL, 0, {"gy", NULL, NULL}, 1},
};

/* Fused kernel `which`: the plain kernels' roots (r; f and gy) together
   with the state values of its part's apply kernels, each at
   linearise's offset, in one schedule: every node the two share (the
   forward sweep) is computed once.  Not made when no apply kernel of the
   part reads state. */
static void schedule_fused(Schedule *sc, Fused which)
{
    const Kernels *ks = sc->ks;
    Kernel *fk = &sc->fused_kernel[which];
    const Kernel *val = &ks->k[which == FUSED_RESIDUAL ? K_residual : K_score_grad_y];
    Node **st;
    if (!val->info)
        return;
    int n = state_nodes(sc, which == FUSED_RESIDUAL ? PART_RESIDUAL : PART_SCORE, &st);
    if (n == 0)
        return;
    *fk = (Kernel){K__COUNT, &fused_info[which],
                   which == FUSED_SCORE ? ks->k[K_score].ret : NULL,
                   {val->outs[0], {NULL, 0}, {NULL, 0}}};
    Node **roots = arena_alloc((size_t)(n + 1 + KERNEL_MAX_OUTS) * sizeof *roots);
    int nr = kernel_roots(fk, roots);
    memcpy(roots + nr, st, (size_t)n * sizeof *st);
    KernelSchedule *s = &sc->fused[which];
    sched_begin(s, fk, FORM_FUSED, roots, nr + n);
    for (int i = 0; i < n; i++) {
        Value *v = VAL(st[i]);
        v->home = HOME_STATE;
        v->off = sched_value(&sc->lin, st[i])->off;
        v->ld = st[i]->cols;
        v->demand = 1;
    }
    int copy[KERNEL_MAX_OUTS];
    pass_outputs(fk, copy);
    pass_demand(s);
    sched_end(s, copy);
}

/* Apply forms of the kernels with a direction; one that would read no
   state is dropped (the plain kernel is the same function), and all of
   them when they and linearise would take the nodes emitted beyond
   KERN_MAX_NODES (a long unrolled horizon: the runtime then uses the
   plain kernels). */
static void schedule_applies(Schedule *sc)
{
    long nodes = sc->ks->nodes;
    /* Rolled loops have no apply form yet (a loop's value, and the stash
       later loops read, would need homes in state): a model with one gets
       no linearise and no *_apply kernels, and the runtime calls the
       plain kernels, as the descriptor's NULL members tell it. */
    for (int i = 0; i < K__COUNT; i++)
        if (sc->k[i].k && sc->k[i].nloops > 0)
            return;
    for (int i = 0; i < K__COUNT; i++) {
        if (!sc->ks->k[i].info || !kernel_info[i].dir)
            continue;
        KernelSchedule *a = &sc->apply[i];
        schedule_apply(&sc->ks->k[i], a);
        int any = 0;
        for (int j = 0; j < a->n; j++)
            any |= a->val[j].home == HOME_STATE;
        if (!any)
            memset(a, 0, sizeof *a);
        nodes += a->n;
    }
    if (nodes <= KERN_MAX_NODES)
        schedule_linearise(sc);
    nodes += sc->lin.n;
    for (int i = 0; sc->lin.k && nodes <= KERN_MAX_NODES && i < FUSED__COUNT; i++) {
        schedule_fused(sc, (Fused)i);
        nodes += sc->fused[i].n;
    }
    if (nodes > KERN_MAX_NODES) {
        memset(sc->apply, 0, sizeof sc->apply);
        memset(&sc->lin, 0, sizeof sc->lin);
        memset(sc->fused, 0, sizeof sc->fused);
        sc->state = 0;
        return;
    }
    for (int i = 0; i < K__COUNT; i++)
        if (sc->apply[i].work > sc->work)
            sc->work = sc->apply[i].work;
    if (sc->lin.work > sc->work)
        sc->work = sc->lin.work;
    for (int i = 0; i < FUSED__COUNT; i++)
        if (sc->fused[i].work > sc->work)
            sc->work = sc->fused[i].work;
}

Schedule *schedule_build(const Kernels *ks)
{
    Schedule *s = arena_alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->ks = ks;
    for (int i = 0; i < K__COUNT; i++) {
        if (!ks->k[i].info)
            continue;
        schedule_kernel(&ks->k[i], &s->k[i]);
        if (s->k[i].work > s->work)
            s->work = s->k[i].work;
    }
    schedule_applies(s);
    return s;
}

long schedule_work(const Schedule *s)
{
    return s->work;
}

const Value *sched_value(const KernelSchedule *s, const Node *n)
{
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->order[mid]->id == n->id)
            return &s->val[mid];
        if (s->order[mid]->id < n->id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    unreachable();            /* not a node of this kernel */
}

int sched_piece_in_place(const Value *as, const Value *piece, int p)
{
    return piece->direct == p + 1 && piece->home == HOME_OUT &&
           as->home == HOME_OUT && piece->out == as->out;
}

/* ------------------------------------------------------------------ */
/* Checks (the test build runs them after every schedule)               */
/* ------------------------------------------------------------------ */

/* Every stored value that the expression of n reads is computed by an
   earlier step: a value of the kernel before kernel step `at`, a value
   of the body of loop ls (NULL outside bodies) before body step `bat`;
   a body reads the kernel's values before its loop's step. */
static void verify_reads(const KernelSchedule *s, const Node *n, int at, const LoopSched *ls,
                         int bat, int top)
{
    const Value *v = sched_value(s, n);
    if (v->home == HOME_NONE)
        unreachable();            /* read, but computed by nothing */
    if (v->alias) {               /* computed by an earlier loop */
        const LoopSched *src = loop_sched(s, v->owner->loop);
        if (!ls || n->in != ls->lp || src->at >= ls->at || sched_value(s, v->alias)->step < 0)
            unreachable();
        return;
    }
    if (!top && v->home == HOME_STATE && s->form == FORM_APPLY) {
        if (!v->indep)
            unreachable();        /* a state value that depends on the direction */
        return;
    }
    if (!top && v->home != HOME_FUSED) {
        if (n->in && (!ls || n->in != ls->lp || v->step < 0 || v->step >= bat))
            unreachable();        /* a body value read outside its body, or early */
        if (!n->in && (v->step < 0 || v->step >= (ls ? ls->at : at)))
            unreachable();        /* read before it is computed */
        return;
    }
    if (n->in && (!ls || n->in != ls->lp))
        unreachable();            /* a body node outside its loop */
    for (int p = 0; p < n->nargs; p++)
        verify_reads(s, n->args[p], at, ls, bat, 0);
}

typedef struct Span {
    long off, end;            /* [off, end) of work */
    int from, to;             /* steps it is live for, inclusive */
} Span;

static int by_offset(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

/* Two spans of work that are live at one step never share an element,
   and each lies in [lo, hi). */
static void verify_spans(Span *sp, int n, long lo, long hi)
{
    for (int i = 0; i < n; i++)
        if (sp[i].off < lo || sp[i].end > hi)
            unreachable();
    if (n > 1)
        qsort(sp, (size_t)n, sizeof *sp, by_offset);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n && sp[j].off < sp[i].end; j++)
            if (sp[i].from <= sp[j].to && sp[j].from <= sp[i].to)
                unreachable();    /* two live values share work */
}

/* The values of work of the kernel (ls NULL: with each loop's scratch,
   live at the loop's step) or of one loop's body, as spans. */
static void verify_slots(const KernelSchedule *s, const LoopSched *ls)
{
    Span *sp = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < s->n; i++) {
        const Value *v = &s->val[i];
        if (v->home != HOME_WORK || v->node->in != (ls ? ls->lp : NULL))
            continue;
        Span x = {v->off, v->off + ir_size(v->node), v->step,
                  v->last > v->step ? v->last : v->step};
        VEC_PUSH(sp, n, cap, x);
    }
    for (int l = 0; !ls && l < s->nloops; l++) {
        const LoopSched *b = &s->loops[l];
        Span x = {b->scratch_off, b->scratch_off + b->scratch, b->at, b->at};
        if (b->scratch > 0)
            VEC_PUSH(sp, n, cap, x);
        Span h = {b->stash_off, b->stash_off + loop_trip(b->lp) * b->stash_w, b->at,
                  b->stash_last > b->at ? b->stash_last : b->at};
        if (b->stash_w > 0)
            VEC_PUSH(sp, n, cap, h);
    }
    if (ls)
        verify_spans(sp, n, ls->scratch_off, ls->scratch_off + ls->scratch);
    else
        verify_spans(sp, n, 0, s->work);
}

/* A loop's body steps, and what the loop reads at its step. */
static void verify_loop(const KernelSchedule *s, const LoopSched *ls, int at)
{
    const Loop *lp = ls->lp;
    if (ls->at != at || ls->node->loop != lp)
        unreachable();
    for (int j = 0; j < ls->nsteps; j++) {
        const Step *st = &ls->steps[j];
        const Value *v = sched_value(s, st->node);
        if (st->kind != STEP_COMPUTE || st->node->in != lp || v->step != j ||
            v->home == HOME_FUSED || v->home == HOME_OUT)
            unreachable();
        verify_reads(s, st->node, at, ls, j, 1);
    }
    for (int k = 0; k < lp->nst; k++) {
        if (!ls->st_live[k])
            continue;
        if (lp->st[k].init)
            verify_reads(s, lp->st[k].init, at, NULL, 0, 0);
        verify_reads(s, lp->st[k].body, at, ls, ls->nsteps, 0);
    }
    for (int k = 0; k < lp->nsum; k++)
        if (ls->sum_live[k])
            verify_reads(s, lp->sum[k], at, ls, ls->nsteps, 0);
    verify_slots(s, ls);
}

/* State values lie inside the state block; linearise reads no direction. */
static void verify_state(const KernelSchedule *s, long state)
{
    for (int i = 0; i < s->n; i++) {
        const Value *v = &s->val[i];
        if (v->home == HOME_STATE && (s->form == FORM_PLAIN || v->off < 0 ||
                                      v->off + ir_size(v->node) > state))
            unreachable();
    }
    if ((s->form == FORM_LINEARISE || s->form == FORM_FUSED) &&
        (s->reads[BLK_V] || s->reads[BLK_W]))
        unreachable();
}

static void verify_kernel(const KernelSchedule *s)
{
    for (int i = 0; i < s->nsteps; i++) {
        const Step *st = &s->steps[i];
        const Value *v = sched_value(s, st->node);
        int compute = st->kind == STEP_COMPUTE || st->kind == STEP_LOOP;
        if (compute && (i >= s->ncompute || v->step != i || v->home == HOME_FUSED))
            unreachable();
        if (!compute && i < s->ncompute)
            unreachable();
        if ((st->kind == STEP_LOOP) != (st->node->op == OP_LOOP) || st->node->in)
            unreachable();
        if (st->kind == STEP_LOOP) {
            verify_loop(s, &s->loops[st->out], i);
            continue;
        }
        /* a compute step and a copy of a map evaluate the node's own
           operation; a return and other copies read it */
        int own = st->kind == STEP_COMPUTE || (st->kind == STEP_COPY && sched_copy_recomputes(v));
        verify_reads(s, st->node, compute ? i : s->ncompute, NULL, 0, own);
    }
    for (int i = 0; i < s->k->info->nouts; i++) {
        const Node *o = s->k->outs[i].node;
        if (o && s->k->outs[i].len > 0 && ir_size(o) != s->k->outs[i].len)
            unreachable();
    }
    verify_slots(s, NULL);
}

static void verify_one(const Schedule *s, const KernelSchedule *ks)
{
    if (!ks->k)
        return;
    verify_kernel(ks);
    verify_state(ks, s->state);
    if (ks->work > s->work)
        unreachable();
}

void schedule_verify(const Schedule *s)
{
    for (int i = 0; i < K__COUNT; i++) {
        verify_one(s, &s->k[i]);
        verify_one(s, &s->apply[i]);
    }
    verify_one(s, &s->lin);
    for (int i = 0; i < FUSED__COUNT; i++) {
        verify_one(s, &s->fused[i]);
        if (s->fused[i].k && !s->lin.k)
            unreachable();        /* fused state offsets come from linearise */
    }
    if ((s->lin.k != NULL) != (s->state > 0))
        unreachable();
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

/* Every schedule in descriptor order: the plain kernels, linearise, the
   apply kernels, the fused kernels.  Returns how many (at most
   2 K__COUNT + 1 + FUSED__COUNT). */
static int all_schedules(const Schedule *s, const KernelSchedule **out)
{
    int n = 0;
    for (int i = 0; i < K__COUNT; i++)
        if (s->k[i].k)
            out[n++] = &s->k[i];
    if (s->lin.k)
        out[n++] = &s->lin;
    for (int i = 0; i < K__COUNT; i++)
        if (s->apply[i].k)
            out[n++] = &s->apply[i];
    for (int i = 0; i < FUSED__COUNT; i++)
        if (s->fused[i].k)
            out[n++] = &s->fused[i];
    return n;
}

const char *sched_name(const KernelSchedule *ks)
{
    if (ks->form == FORM_APPLY)
        return arena_printf("%s_apply", ks->k->info->name);
    return ks->k->info->name;
}

void schedule_print_stats(FILE *fp, const Schedule *s)
{
    Cost base = {0};
    int first = 1;
    const KernelSchedule *all[2 * K__COUNT + 1 + FUSED__COUNT];
    int nall = all_schedules(s, all);
    fprintf(fp, "%-24s %12s %10s %12s %10s %8s\n", "kernel", "arith", "calls", "loads", "work",
            "x score");
    for (int i = 0; i < nall; i++) {
        const KernelSchedule *ks = all[i];
        Cost st = ks->cost;
        if (first)
            base = st;
        first = 0;
        double cost = st.arith + 20 * st.calls, cost0 = base.arith + 20 * base.calls;
        fprintf(fp, "%-24s %12.0f %10.0f %12.0f %10ld %8.2f\n", sched_name(ks), st.arith,
                st.calls, st.loads, ks->work, cost0 > 0 ? cost / cost0 : 0.0);
    }
    if (s->state)
        fprintf(fp, "state_size %ld (written by linearise, read by the *_apply kernels)\n",
                s->state);
    fputs("(arith: + - * / per call; calls: libm calls; cost ratio counts a call as 20 ops)\n", fp);
    const Model *m = s->ks->m;
    for (int i = 0; i < m->nloops; i++) {
        const LoopReport *r = &m->loops[i];
        int line, col;
        diag_line_col(r->loc.begin, &line, &col);
        fprintf(fp, "%d:%d: %s over %ld steps: %s%s\n", line, col, r->what, r->n,
                r->rolled ? "rolled" : "unrolled: ", r->rolled ? "" : r->why);
    }
}

static const char *const home_name[] = {"fused", "local", "work", "out", "row", "stash",
                                        "state", "none"};

static void dump_value(FILE *fp, const KernelSchedule *ks, const Node *n)
{
    const Value *v = sched_value(ks, n);
    fprintf(fp, "%s t%d [%dx%d] %s", ir_op_name[n->op], n->id, n->rows, n->cols,
            home_name[v->home]);
    if (v->home == HOME_WORK || v->home == HOME_STATE)
        fprintf(fp, " +%ld", v->off);
    if (v->home == HOME_OUT)
        fprintf(fp, " %s+%ld ld %ld%s", ks->k->info->outs[v->out], v->off, v->ld,
                v->direct ? " (piece in place)" : "");
    if (v->home == HOME_STACK || v->home == HOME_STASH)
        fprintf(fp, " of t%d +%ld + %ld t%s", v->owner->id, v->off, v->tstride,
                v->alias ? " (computed there)" : "");
    if (n->in) {
        if (v->last >= sched_loop(ks, n->in->node)->nsteps)
            fputs(", stored by the iteration", fp);
        else if (v->step >= 0)
            fprintf(fp, ", last read at %d", v->last > v->step ? v->last : v->step);
    } else if (v->last > ks->ncompute) {
        fputs(", live to the end", fp);
    } else if (v->step >= 0) {
        fprintf(fp, ", last read at %d", v->last > v->step ? v->last : v->step);
    }
}

static void dump_loop(FILE *fp, const KernelSchedule *ks, const LoopSched *ls)
{
    const Loop *lp = ls->lp;
    int nst = 0, nsum = 0;
    for (int k = 0; k < lp->nst; k++)
        nst += ls->st_live[k];
    for (int k = 0; k < lp->nsum; k++)
        nsum += ls->sum_live[k];
    fprintf(fp, "         for t in %ld:%ld%s, %d of %d states, %d of %d sums, scratch %ld at +%ld",
            lp->lo, lp->hi, lp->dir < 0 ? " descending" : "", nst, lp->nst, nsum, lp->nsum,
            ls->scratch, ls->scratch_off);
    if (ls->stash_w)
        fprintf(fp, ", stash %ld a step at +%ld", ls->stash_w, ls->stash_off);
    fputc('\n', fp);
    for (int j = 0; j < ls->nsteps; j++) {
        fprintf(fp, "         %4d compute ", j);
        dump_value(fp, ks, ls->steps[j].node);
        fputc('\n', fp);
    }
}

/* --dump=schedule: per kernel, the steps with each value's home and
   lifetime (a loop's body steps under it), then the kernel's work and
   cost. */
void schedule_dump(FILE *fp, const Schedule *s)
{
    const KernelSchedule *all[2 * K__COUNT + 1 + FUSED__COUNT];
    int nall = all_schedules(s, all);
    for (int i = 0; i < nall; i++) {
        const KernelSchedule *ks = all[i];
        fprintf(fp, "# %s: %d nodes, %d stored, %d steps, work %ld\n", sched_name(ks), ks->n,
                ks->ncompute, ks->nsteps, ks->work);
        for (int j = 0; ks->form == FORM_APPLY && j < ks->n; j++)
            if (ks->val[j].home == HOME_STATE) {
                fputs("     read    ", fp);
                dump_value(fp, ks, ks->order[j]);
                fputc('\n', fp);
            }
        for (int j = 0; j < ks->nsteps; j++) {
            const Step *st = &ks->steps[j];
            static const char *const kind[] = {"compute", "copy", "return", "loop"};
            fprintf(fp, "%4d %-7s ", j, kind[st->kind]);
            if (st->kind == STEP_COPY)
                fprintf(fp, "%s := ", ks->k->info->outs[st->out]);
            dump_value(fp, ks, st->node);
            fputc('\n', fp);
            if (st->kind == STEP_LOOP)
                dump_loop(fp, ks, &ks->loops[st->out]);
        }
        fprintf(fp, "cost: %.0f arith, %.0f calls, %.0f loads\n\n", ks->cost.arith,
                ks->cost.calls, ks->cost.loads);
    }
}
