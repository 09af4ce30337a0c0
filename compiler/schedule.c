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
 * them), each at one offset of `state`.
 *
 * The passes, in order (schedule_kernel): outputs, demand, fusion depth,
 * homes (locals, pieces placed in their output), steps and liveness
 * (the last step reading each value), slots of work (a slot is released
 * after the last step that reads it and reused first fit; the peak over
 * all kernels is the descriptor's work_size), and cost (the operation
 * counts `--stats` prints, from the same trip counts the printed loops
 * will have).
 */
#include "dilc.h"

#include "cover.h"

#include "schedule.h"

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

int sched_is_map(const Node *n)
{
    return is_trivial(n) || n->op == OP_BCAST || n->op == OP_VIEW || n->op == OP_OUTER ||
           ir_is_elementwise(n->op);
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
        if (v->home == HOME_OUT || is_trivial(o)) {
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

/* Demand, from consumers (larger ids) to arguments; decides which nodes
   are stored (home LOCAL for now, refined by pass_homes). */
static void pass_demand(Node **order, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (v->home != HOME_OUT && v->home != HOME_STATE) {
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
            !cv.excl[p])
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

/* Homes of stored values: scalars in locals, pieces of output assemblies
   in place, every other tensor in work (its slot is chosen later). */
static void pass_homes(Node **order, int n)
{
    for (int i = 0; i < n; i++) {
        Value *v = VAL(order[i]);
        if (v->home == HOME_LOCAL && order[i]->rank != 0)
            v->home = HOME_WORK;
    }
    for (int i = n - 1; i >= 0; i--)
        if (VAL(order[i])->home == HOME_OUT && !VAL(order[i])->direct &&
            order[i]->op == OP_ASSEMBLE)
            place_pieces(order[i]);
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
        Node *a = nd->args[0], *b = nd->args[1];
        Node *mat = a->rank == 2 ? a : b;
        long sr, sc;
        if (a->rank == b->rank || !mat_strides(mat, &sr, &sc))
            continue;
        /* (output index, summed index) strides of the matrix */
        long so = a->rank == 2 ? sr : sc, sl = a->rank == 2 ? sc : sr;
        int k = a->rank == 2 ? a->cols : a->rows;
        v->rowwise = k > 1 && ir_size(nd) > 1 && (so == 1 || so == -1) && sl != 1 && sl != -1;
    }
}

/* Compute steps in id order, and the last compute step reading each
   value (through the fused expressions that read it).  Results (outputs,
   linearise's state) are live to the end.  Returns the number of compute
   steps. */
static int pass_steps(KernelSchedule *s)
{
    Node **order = s->order;
    int n = s->n, pos = 0;
    for (int i = 0; i < n; i++) {
        Value *v = VAL(order[i]);
        v->step = -1;
        if (computed_here(s, v)) {
            v->step = pos++;
            VEC_PUSH(s->steps, s->nsteps, s->capsteps, ((Step){STEP_COMPUTE, order[i], 0}));
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Value *v = VAL(nd);
        if (v->home == HOME_OUT || nd == s->k->ret ||
            (v->home == HOME_STATE && s->form == FORM_LINEARISE))
            v->last = pos + 1;
        int reader = v->step >= 0 ? v->step : v->last;
        for (int p = 0; p < nd->nargs; p++) {
            Value *a = VAL(nd->args[p]);
            if (reader > a->last)
                a->last = reader;
        }
    }
    return pos;
}

/* Slots of work, in step order, each released once the steps reach one
   beyond its last reader.  A slot in use is filed under the step after
   which it is free (bucket[b], chained through next[]), so that releasing
   costs nothing per live slot: with a scan over every live slot at every
   step, a long unrolled horizon took time quadratic in its length. */
static void pass_slots(KernelSchedule *s)
{
    int nc = s->ncompute;
    Slots w;
    memset(&w, 0, sizeof w);
    int *bucket = arena_alloc((size_t)(nc + 2) * sizeof *bucket);
    int *next = arena_alloc((size_t)(nc + 1) * sizeof *next);
    for (int b = 0; b < nc + 2; b++)
        bucket[b] = -1;
    int released = 0;     /* buckets below this one are free already */
    for (int i = 0; i < nc; i++) {
        Value *v = VAL(s->steps[i].node);
        for (; released < i; released++)
            for (int t = bucket[released]; t >= 0; t = next[t])
                slot_release(&w, VAL(s->steps[t].node)->slot);
        if (v->home != HOME_WORK)
            continue;
        v->slot = slot_alloc(&w, ir_size(v->node));
        v->off = w.s[v->slot].off;
        v->ld = v->node->cols;
        /* free once a step beyond `last` is reached (at the next one if
           nothing reads it after this step) */
        int b = v->last > i ? v->last : i;
        next[i] = bucket[b];
        bucket[b] = i;
    }
    s->work = w.peak;
}

/* ------------------------------------------------------------------ */
/* Cost: what one call computes, per the loops the printer will write    */
/* ------------------------------------------------------------------ */

static void cost_expr(Cost *c, const Node *n, double trip);

/* Element (r, c) of n from its arguments, evaluated trip times. */
static void cost_op(Cost *c, const Node *n, double trip)
{
    switch (n->op) {
    case OP_LEAF:
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
        int k = a->rank == 2 ? a->cols : a->rows;
        double trip = (double)ir_size(n) * k;
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
        case STEP_COPY:
            if (sched_is_map(n))
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
/* Kernels                                                              */
/* ------------------------------------------------------------------ */

/* Sets up a schedule of the nodes below roots (their aux points to
   their Value until sched_end). */
static void sched_begin(KernelSchedule *s, const Kernel *k, Form form, Node **roots, int nroots)
{
    memset(s, 0, sizeof *s);
    s->k = k;
    s->form = form;
    s->n = ir_topo(roots, nroots, &s->order);
    s->val = arena_alloc((size_t)(s->n ? s->n : 1) * sizeof *s->val);
    for (int i = 0; i < s->n; i++) {
        s->val[i].node = s->order[i];
        s->val[i].slot = -1;
        s->val[i].step = -1;
        s->order[i]->aux = &s->val[i];
    }
}

/* The passes after demand, the same for every form. */
static void sched_end(KernelSchedule *s, const int *copy)
{
    const Kernel *k = s->k;
    for (int i = 0; i < s->n; i++)
        if (s->order[i]->op == OP_LEAF && s->val[i].home != HOME_NONE)
            s->reads[s->order[i]->block] = 1;
    pass_fuse_depth(s->order, s->n);
    pass_homes(s->order, s->n);
    pass_matvec(s->order, s->n);
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
    pass_demand(s->order, s->n);
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

/* The state values of every apply kernel, each once, sorted by id. */
static int state_nodes(const Schedule *sc, Node ***out)
{
    Node **v = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < K__COUNT; i++) {
        const KernelSchedule *a = &sc->apply[i];
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
    int n = state_nodes(sc, &st);
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
    pass_demand(s->order, s->n);
    sched_end(s, NULL);
}

/* Apply forms of the kernels with a direction; one that would read no
   state is dropped (the plain kernel is the same function), and all of
   them when they and linearise would take the nodes emitted beyond
   KERN_MAX_NODES (a long unrolled horizon: the runtime then uses the
   plain kernels). */
static void schedule_applies(Schedule *sc)
{
    long nodes = sc->ks->nodes;
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
    if (nodes + sc->lin.n > KERN_MAX_NODES) {
        memset(sc->apply, 0, sizeof sc->apply);
        memset(&sc->lin, 0, sizeof sc->lin);
        sc->state = 0;
        return;
    }
    for (int i = 0; i < K__COUNT; i++)
        if (sc->apply[i].work > sc->work)
            sc->work = sc->apply[i].work;
    if (sc->lin.work > sc->work)
        sc->work = sc->lin.work;
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

/* Every stored value that the expression of n at step `at` reads is
   computed by an earlier step. */
static void verify_reads(const KernelSchedule *s, const Node *n, int at, int top)
{
    const Value *v = sched_value(s, n);
    if (v->home == HOME_NONE)
        unreachable();            /* read, but computed by nothing */
    if (!top && v->home == HOME_STATE && s->form == FORM_APPLY) {
        if (!v->indep)
            unreachable();        /* a state value that depends on the direction */
        return;
    }
    if (!top && v->home != HOME_FUSED) {
        if (v->step < 0 || v->step >= at)
            unreachable();        /* read before it is computed */
        return;
    }
    for (int p = 0; p < n->nargs; p++)
        verify_reads(s, n->args[p], at, 0);
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

/* Two values of work that are live at one step never share an element. */
static void verify_slots(const KernelSchedule *s)
{
    Span *sp = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < s->n; i++) {
        const Value *v = &s->val[i];
        if (v->home != HOME_WORK)
            continue;
        if (v->off < 0 || v->off + ir_size(v->node) > s->work)
            unreachable();
        Span x = {v->off, v->off + ir_size(v->node), v->step,
                  v->last > v->step ? v->last : v->step};
        VEC_PUSH(sp, n, cap, x);
    }
    if (n > 1)
        qsort(sp, (size_t)n, sizeof *sp, by_offset);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n && sp[j].off < sp[i].end; j++)
            if (sp[i].from <= sp[j].to && sp[j].from <= sp[i].to)
                unreachable();    /* two live values share work */
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
    if (s->form == FORM_LINEARISE && (s->reads[BLK_V] || s->reads[BLK_W]))
        unreachable();
}

static void verify_kernel(const KernelSchedule *s)
{
    for (int i = 0; i < s->nsteps; i++) {
        const Step *st = &s->steps[i];
        const Value *v = sched_value(s, st->node);
        if (st->kind == STEP_COMPUTE && (i >= s->ncompute || v->step != i || v->home == HOME_FUSED))
            unreachable();
        if (st->kind != STEP_COMPUTE && i < s->ncompute)
            unreachable();
        /* a compute step and a copy of a map evaluate the node's own
           operation; a return and other copies read it */
        int own = st->kind == STEP_COMPUTE || (st->kind == STEP_COPY && sched_is_map(st->node));
        verify_reads(s, st->node, st->kind == STEP_COMPUTE ? i : s->ncompute, own);
    }
    for (int i = 0; i < s->k->info->nouts; i++) {
        const Node *o = s->k->outs[i].node;
        if (o && s->k->outs[i].len > 0 && ir_size(o) != s->k->outs[i].len)
            unreachable();
    }
    verify_slots(s);
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
    if ((s->lin.k != NULL) != (s->state > 0))
        unreachable();
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

/* Every schedule in descriptor order: the plain kernels, linearise, the
   apply kernels.  Returns how many (at most 2 K__COUNT + 1). */
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
    const KernelSchedule *all[2 * K__COUNT + 1];
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
}

static const char *const home_name[] = {"fused", "local", "work", "out", "state", "none"};

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
    if (v->last > ks->ncompute)
        fputs(", live to the end", fp);
    else if (v->step >= 0)
        fprintf(fp, ", last read at %d", v->last > v->step ? v->last : v->step);
}

/* --dump=schedule: per kernel, the steps with each value's home and
   lifetime, then the kernel's work and cost. */
void schedule_dump(FILE *fp, const Schedule *s)
{
    const KernelSchedule *all[2 * K__COUNT + 1];
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
            static const char *const kind[] = {"compute", "copy", "return"};
            fprintf(fp, "%4d %-7s ", j, kind[st->kind]);
            if (st->kind == STEP_COPY)
                fprintf(fp, "%s := ", ks->k->info->outs[st->out]);
            dump_value(fp, ks, st->node);
            fputc('\n', fp);
        }
        fprintf(fp, "cost: %.0f arith, %.0f calls, %.0f loads\n\n", ks->cost.arith,
                ks->cost.calls, ks->cost.loads);
    }
}
