/*
 * diff.c - symbolic derivatives on the tensor IR.
 *
 * Two primitives build every kernel (see kern.c):
 *
 *   diff_gradient  reverse accumulation: one sweep over the graph of a
 *                  scalar f, from f down to the leaves, gives df/d(block)
 *                  for every block at a small constant multiple of the
 *                  cost of f, whatever the dimensions;
 *   diff_tangent   forward accumulation: the directional derivative of
 *                  any graph along a seed, also at a constant multiple.
 *
 * Second-order products are forward over reverse:
 *   H v                      = d/de grad_y f(y + e v)
 *   w^T d2f/(dtheta dy)      = d/de grad_theta f(y + e w)
 * i.e. diff_tangent applied to the output of diff_gradient.
 *
 * Derivatives are themselves IR built with the simplifying, hash-consing
 * builders of ir.c, so zeros vanish as they appear and a derivative
 * shares every subexpression it has in common with the primal (tanh(u)
 * in d tanh(u) = (1 - tanh(u)^2) du is the primal node itself).
 */
#include "dilc.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Elementwise partial derivatives, shared by both modes                */
/* ------------------------------------------------------------------ */

static Node *one(void) { return ir_const_si(1); }

/*
 * The derivative rules of the unary elementwise ops are the `deriv`
 * column of IR_OPS (dilc.h), written as expressions over A (the
 * argument), N (the node itself) and constants.  They are evaluated by a
 * small stack machine, one comma-sequenced step per operation: C leaves
 * the order in which a call's arguments are evaluated unspecified, and
 * the order in which nodes are created names the emitted temporaries, so
 * ir_mul(f(), g()) with both building nodes would make the output depend
 * on the compiler that built dilc.  The stack depth is the rule's nesting.
 */
enum { RULE_STACK = 16 };
static Node *rule_stack[RULE_STACK];
static int rule_sp;

static int rule_push(Node *n)
{
    if (rule_sp == RULE_STACK)
        unreachable();
    rule_stack[rule_sp++] = n;
    return 0;
}

static int rule_binary(Op op)
{
    Node *b = rule_stack[--rule_sp], *a = rule_stack[--rule_sp];
    return rule_push(ir_binary(op, a, b));
}

static int rule_unary(Op op)
{
    Node *a = rule_stack[--rule_sp];
    return rule_push(ir_unary(op, a));
}

#define A rule_push(a)
#define N rule_push(n)
#define K(v) rule_push(ir_const_si(v))
#define NAMED(c) rule_push(ir_named(NC_##c))
#define ADD(x, y) ((void)(x), (void)(y), rule_binary(OP_ADD))
#define SUB(x, y) ((void)(x), (void)(y), rule_binary(OP_SUB))
#define MUL(x, y) ((void)(x), (void)(y), rule_binary(OP_MUL))
#define DIV(x, y) ((void)(x), (void)(y), rule_binary(OP_DIV))
#define NEG(x) ((void)(x), rule_unary(OP_NEG))
#define F(op, x) ((void)(x), rule_unary(OP_##op))
#define NO_RULE (unreachable(), 0)

/* d op(a) / da as an elementwise node, with n = op(a) itself so that
   the derivative reuses the primal value where the rule allows. */
static Node *partial_unary(Op op, Node *a, Node *n)
{
    rule_sp = 0;
    switch (op) {
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv)                              \
    case OP_##name:                                                                             \
        (void)(deriv);                                                                          \
        break;
        IR_OPS(X)
#undef X
    default:
        unreachable();
    }
    if (rule_sp != 1)
        unreachable();
    return rule_stack[--rule_sp];
}

#undef A
#undef N
#undef K
#undef NAMED
#undef ADD
#undef SUB
#undef MUL
#undef DIV
#undef NEG
#undef F
#undef NO_RULE

/* For n = a^b:  dn = b a^(b-1) da + log(a) a^b db.  The db term exists
   only when b is not a constant. */
static Node *partial_pow_base(Node *a, Node *b)
{
    return ir_mul(b, ir_binary(OP_POW, a, ir_sub(b, one())));  /* b - 1 folds */
}

static Node *partial_pow_exp(Node *a, Node *n)
{
    return ir_mul(ir_unary(OP_LOG, a), n);
}

/* Sums a tensor contribution down to a scalar argument it was broadcast
   from (the adjoint of broadcasting is summation). */
static Node *reduce_to(const Node *arg, Node *v)
{
    if (arg->rank == 0 && v->rank != 0)
        return ir_sum(v);
    if (arg->rank != 0 && v->rank == 0)
        return ir_bcast(v, arg->rank, arg->rows, arg->cols);
    return v;
}

/* ------------------------------------------------------------------ */
/* Reverse mode                                                         */
/* ------------------------------------------------------------------ */

/* The adjoint of a node while the sweep runs: full-shape contributions
   are added up as they come; contributions through views are kept as
   placed pieces and become one ASSEMBLE, so that the adjoint of a vector
   read element by element (u[t] for t in 0:T) is built in one pass
   rather than as T full-length sums. */
typedef struct Adj {
    Node *full;
    Node **pieces;
    Map *place;
    int n, cap, capplace;
} Adj;

/* While a loop body is swept (loop_reverse), adjoints live in a map of
   their own: those of body nodes, and those reaching the nodes outside
   the body that it reads (each becomes a sum over t), listed in the order
   they first appear so that node ids stay deterministic. */
typedef struct Inner {
    Loop *lp;
    NodeMap adj;
    Node **outside;
    int nout, capout;
} Inner;

static Inner *inner;

static Adj *adj_of(Node *n)
{
    if (!inner)
        return n->aux;
    Adj *a = nodemap_get(&inner->adj, n);
    if (!a) {
        a = arena_alloc(sizeof *a);
        nodemap_put(&inner->adj, n, a);
        if (n->in != inner->lp) {
            if (inner->nout == inner->capout) {
                int cap = inner->capout ? 2 * inner->capout : 16;
                Node **o = arena_alloc((size_t)cap * sizeof *o);
                for (int i = 0; i < inner->nout; i++)
                    o[i] = inner->outside[i];
                inner->outside = o;
                inner->capout = cap;
            }
            inner->outside[inner->nout++] = n;
        }
    }
    return a;
}

static void adj_place(Node *target, Node *v, Map m);

static void adj_add(Node *target, Node *v)
{
    if (ir_is_zero(v))
        return;
    v = reduce_to(target, v);
    if (target->op == OP_LOOP && v->op == OP_ASSEMBLE) {
        /* scatters from several loops into one loop's stacks: one
           assembly of all their pieces, not a sum of full-size ones */
        for (int i = 0; i < v->nargs; i++)
            adj_place(target, v->args[i], v->place[i]);
        return;
    }
    Adj *a = adj_of(target);
    a->full = a->full ? ir_add(a->full, v) : v;
}

static void adj_place(Node *target, Node *v, Map m)
{
    if (ir_is_zero(v))
        return;
    Adj *a = adj_of(target);
    int n = a->n;
    VEC_PUSH(a->pieces, n, a->cap, v);
    VEC_PUSH(a->place, a->n, a->capplace, m);
}

static Node *adj_value(Node *nd)
{
    Adj *a = adj_of(nd);
    Node *v = a->full;
    if (a->n) {
        Node *as = ir_assemble(nd->rank, nd->rows, nd->cols, a->n, a->pieces, a->place);
        v = v ? ir_add(v, as) : as;
    }
    return v;
}

/* Pushes the adjoint g of node nd to its arguments. */
static void backprop(Node *nd, Node *g)
{
    Node *a = nd->nargs > 0 ? nd->args[0] : NULL;
    Node *b = nd->nargs > 1 ? nd->args[1] : NULL;
    switch (nd->op) {
    case OP_CONST: case OP_LEAF: case OP_EYE:
        return;
    case OP_BCAST:    /* bcast(s): s_bar += sum(g) */
        adj_add(a, ir_sum(g));
        return;
    case OP_VIEW:     /* gather: the adjoint scatters back */
        adj_place(a, g, nd->map);
        return;
    case OP_ASSEMBLE: /* scatter: each piece reads its place back */
        for (int i = 0; i < nd->nargs; i++)
            adj_add(nd->args[i], ir_view(g, nd->args[i]->rank, nd->args[i]->rows,
                                         nd->args[i]->cols, nd->place[i]));
        return;
    case OP_ADD:      /* d(a + b) = da + db */
        adj_add(a, g);
        adj_add(b, g);
        return;
    case OP_SUB:      /* d(a - b) = da - db */
        adj_add(a, g);
        adj_add(b, ir_neg(g));
        return;
    case OP_MUL:      /* d(ab) = b da + a db */
        adj_add(a, ir_mul(g, b));
        adj_add(b, ir_mul(g, a));
        return;
    case OP_DIV:      /* d(a/b) = da/b - (a/b) db/b */
        adj_add(a, ir_div(g, b));
        if (b->op != OP_CONST)
            adj_add(b, ir_neg(ir_div(ir_mul(g, nd), b)));
        return;
    case OP_POW:
        adj_add(a, ir_mul(g, partial_pow_base(a, b)));
        if (b->op != OP_CONST)
            adj_add(b, ir_mul(g, partial_pow_exp(a, nd)));
        return;
    case OP_NEG:
        adj_add(a, ir_neg(g));
        return;
    case OP_MATMUL:
        if (a->rank == 2 && b->rank == 2) {        /* C = AB */
            adj_add(a, ir_matmul(g, ir_transpose(b)));  /* A_bar = C_bar B' */
            adj_add(b, ir_matmul(ir_transpose(a), g));  /* B_bar = A' C_bar */
        } else if (a->rank == 2) {                 /* c = A b */
            adj_add(a, ir_outer(g, b));                 /* A_bar = c_bar b' */
            adj_add(b, ir_matmul(g, a));                /* b_bar = A' c_bar */
        } else if (b->rank == 2) {                 /* c = a B (row vector) */
            adj_add(a, ir_matmul(b, g));                /* a_bar = B c_bar */
            adj_add(b, ir_outer(a, g));                 /* B_bar = a c_bar' */
        } else {                                   /* c = a . b */
            adj_add(a, ir_mul(g, b));
            adj_add(b, ir_mul(g, a));
        }
        return;
    case OP_OUTER:    /* C = a b': a_bar = C_bar b, b_bar = C_bar' a */
        adj_add(a, ir_matmul(g, b));
        adj_add(b, ir_matmul(a, g));
        return;
    case OP_SUM:      /* d sum(a) = sum(da) */
        adj_add(a, ir_bcast(g, a->rank, a->rows, a->cols));
        return;
    case OP_LSE:      /* d lse(a) = sum(softmax(a) da), softmax = exp(a - lse) */
        adj_add(a, ir_mul(g, ir_unary(OP_EXP, ir_sub(a, nd))));
        return;
    default:
        if (ir_is_elementwise(nd->op) && ir_op_arity[nd->op] == 1) {
            adj_add(a, ir_mul(g, partial_unary(nd->op, a, nd)));
            return;
        }
        unreachable();
    }
}

/* ------------------------------------------------------------------ */
/* Loops (docs/design.md, "Derivatives through a loop")                */
/* ------------------------------------------------------------------ */

/* The roots of lp's body: the state bodies, then the sums. */
static int body_roots(const Loop *lp, Node ***out)
{
    int n = lp->nst + lp->nsum;
    Node **r = arena_alloc((size_t)(n ? n : 1) * sizeof *r);
    for (int s = 0; s < lp->nst; s++)
        r[s] = lp->st[s].body;
    for (int k = 0; k < lp->nsum; k++)
        r[lp->nst + k] = lp->sum[k];
    *out = r;
    return n;
}

/* lp's body rebuilt in the body of `to`, which runs over the same t:
   ITER becomes to's, CARRY(s, lag) the stored member t + lag of lp's
   stack (a TVIEW of lp's value).  The builders simplify again. */
static void transplant(const Loop *lp, Loop *to, Node **roots, int n, Node **out)
{
    Node **order;
    int cnt = ir_body_topo(lp, roots, n, &order);
    NodeMap memo = {0, 0, 0, 0};
    for (int i = 0; i < cnt; i++) {
        Node *nd = order[i], *r;
        if (nd->op == OP_ITER) {
            r = to->iter;
        } else if (nd->op == OP_CARRY) {
            r = ir_loop_read(lp, nd->state, nd->offset, to->iter);
        } else {
            Node **args = arena_alloc((size_t)(nd->nargs ? nd->nargs : 1) * sizeof *args);
            for (int k = 0; k < nd->nargs; k++) {
                Node *a = nd->args[k];
                args[k] = a->in == lp ? nodemap_get(&memo, a) : a;
            }
            r = ir_rebuild(nd, args);
            if (r->in == to && !r->twin && ir_same_shape(r, nd))
                r->twin = nd;     /* the same value at every t */
        }
        nodemap_put(&memo, nd, r);
    }
    for (int i = 0; i < n; i++)
        out[i] = roots[i]->in == lp ? nodemap_get(&memo, roots[i]) : roots[i];
}

/* A read of lp's stored stack inside a transplanted body (a TVIEW of
   lp's value): which state, the member t + *lag it reads, and where its
   elements lie in the member's flat row (*within). */
static int own_read(const Loop *lp, const Node *rd, long *lag, Map *within)
{
    long t0 = rd->args[1]->loop->lo, rel;
    int is_sum;
    int s = ir_loop_locate(lp, rd->map.r0 + (long)rd->trow * t0, &is_sum, &rel);
    const LoopState *st = &lp->st[s];
    long w = (long)st->rows * st->cols;
    if (is_sum || rd->trow != w)
        unreachable();
    *lag = rel / w + st->kmin - t0;
    *within = (Map){(int)(rel % w), rd->map.arr, rd->map.arc, 0, 0, 0};
    return s;
}

/* A member-shaped value as a flat vector of its w elements, and back. */
static Node *flatten(Node *v)
{
    if (v->rank == 1)
        return v;
    Map m = {0, v->rank == 2 ? v->cols : 0, v->rank == 2, 0, 0, 0};
    return ir_assemble(1, v->rows * v->cols, 1, 1, &v, &m);
}

static Node *unflatten(Node *flat, int rank, int rows, int cols)
{
    Map m = {0, rank == 2 ? cols : rank, rank == 2, 0, 0, 0};
    return ir_view(flat, rank, rows, cols, m);
}

/* Row `row0 + t` of a [rows, w] stack, read in iter's loop as a member
   of the given shape. */
static Node *row_read(Node *stack, Node *iter, const LoopState *st, long row0)
{
    Map m = {(int)row0, 0, 0, 0, st->rank == 2 ? st->cols : st->rank, st->rank == 2};
    return ir_tview(stack, iter, st->rank, st->rows, st->cols, m, 1, 0);
}

/* One adjoint state of the reverse loop: contributions of the reads of
   state s at lag e (see loop_reverse). */
typedef struct Lag {
    int s;
    long e;
    int p;                    /* its state in the reverse loop */
    Node **pieces;
    Map *place;
    int n, cap;
} Lag;

static Lag *lag_find(Lag *lags, int n, int s, long e)
{
    for (int i = 0; i < n; i++)
        if (lags[i].s == s && lags[i].e == e)
            return &lags[i];
    return NULL;
}

/* A read of an outside tensor in the body, and its stacked adjoint. */
typedef struct Read {
    Node *rd;
    int y;                    /* its state in the reverse loop */
} Read;

/* The reverse loop's adjoint states, one per (state, lag) read in lp's
   body.  Returns their number. */
static int reverse_lags(const Loop *lp, Loop *rp, Node **roots, int nr, Lag **out)
{
    Node **order;
    int cnt = ir_body_topo(lp, roots, nr, &order), n = 0;
    Lag *lags = arena_alloc((size_t)(cnt ? cnt : 1) * sizeof *lags);
    for (int i = 0; i < cnt; i++) {
        Node *c = order[i];
        if (c->op != OP_CARRY)
            continue;
        const LoopState *st = &lp->st[c->state];
        long e = lp->dir * (st->d - c->offset);
        if (e < 1)
            unreachable();            /* sema reads only earlier members */
        if (lag_find(lags, n, c->state, e))
            continue;
        Lag *l = &lags[n++];
        memset(l, 0, sizeof *l);
        l->s = c->state;
        l->e = e;
        long w = (long)st->rows * st->cols;
        l->p = ir_loop_add_state(rp, arena_printf("adj_%s_%ld", st->name, e), 1, (int)w, 1, 0);
        LoopState *ps = &rp->st[l->p];
        ps->kmin = lp->dir > 0 ? lp->lo : lp->lo - e;
        ps->kmax = lp->dir > 0 ? lp->hi + e : lp->hi;
        ps->init_k0 = lp->dir > 0 ? lp->hi : lp->lo - e;
        ps->ninit = e;
    }
    *out = lags;
    return n;
}

static void lag_add(Lag *l, Node *v, Map m)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        Node **p = arena_alloc((size_t)cap * sizeof *p);
        Map *pl = arena_alloc((size_t)cap * sizeof *pl);
        for (int i = 0; i < l->n; i++) {
            p[i] = l->pieces[i];
            pl[i] = l->place[i];
        }
        l->pieces = p;
        l->place = pl;
        l->cap = cap;
    }
    l->pieces[l->n] = v;
    l->place[l->n++] = m;
}

/* Adjoint of state s's init rows: xbar on those rows, plus what the
   reads of init rows collected, in the adjoint rows P_{s,e}[t] of the
   first e iterations. */
static void reverse_init(const Loop *lp, const Loop *rp, Node *g, int s, const Lag *lags,
                         int nlags)
{
    const LoopState *st = &lp->st[s];
    if (!st->init)
        return;
    long w = (long)st->rows * st->cols;
    Node **pieces = arena_alloc((size_t)(nlags + 1) * sizeof *pieces);
    Map *place = arena_alloc((size_t)(nlags + 1) * sizeof *place);
    Map m = {(int)(st->offset + (st->init_k0 - st->kmin) * w), 1, 0, 0, 0, 0};
    pieces[0] = ir_view(g, 1, (int)(st->ninit * w), 1, m);
    place[0] = (Map){0, 1, 0, 0, 0, 0};
    int np = 1;
    for (int i = 0; i < nlags; i++) {
        const Lag *l = &lags[i];
        if (l->s != s)
            continue;
        long ta = lp->lo, tb = lp->hi;
        if (lp->dir > 0 && tb > lp->lo + l->e)
            tb = lp->lo + l->e;
        if (lp->dir < 0 && ta < lp->hi - l->e)
            ta = lp->hi - l->e;
        if (ta >= tb)
            continue;
        const LoopState *ps = &rp->st[l->p];
        Map pm = {(int)(ps->offset + (ta - ps->kmin) * w), 1, 0, 0, 0, 0};
        pieces[np] = ir_view(rp->node, 1, (int)((tb - ta) * w), 1, pm);
        long k0 = ta + st->d - lp->dir * l->e;     /* the member read at t = ta */
        place[np++] = (Map){(int)((k0 - st->init_k0) * w), 1, 0, 0, 0, 0};
    }
    adj_add(st->init, ir_assemble(1, (int)(st->ninit * w), 1, np, pieces, place));
}

/*
 * Reverse mode through loop node L with adjoint g (docs/design.md):
 *
 *   a_s(t)     = xbar_s[t + d] + sum_e P_{s,e}[t + dir e]
 *   P_{s,e}[t] = (d body(t) / d x_s[t + d - dir e])^T (a(t), sumbar)
 *
 * run in the opposite direction, reading the stored trajectory; reads of
 * outside tensors at t get a stacked adjoint scattered back, invariant
 * nodes the summed adjoint, init rows what the reads of them collected.
 *
 * (Long: the steps above share the loop's placeholder maps and the
 * adjoint accumulators; split, each piece would take most of them as
 * arguments.)
 */
static void loop_reverse(Node *L, Node *g)
{
    Loop *lp = L->loop;
    Loop *rp = ir_loop_new(lp->lo, lp->hi, -lp->dir);
    Node **roots, **nb;
    int nr = body_roots(lp, &roots);
    Lag *lags;
    int nlags = reverse_lags(lp, rp, roots, nr, &lags);
    nb = arena_alloc((size_t)(nr ? nr : 1) * sizeof *nb);
    transplant(lp, rp, roots, nr, nb);

    Inner in;
    memset(&in, 0, sizeof in);
    in.lp = rp;
    inner = &in;
    for (int s = 0; s < lp->nst; s++) {
        const LoopState *st = &lp->st[s];
        int w = st->rows * st->cols;
        Map sm = {(int)st->offset, w, 1, 0, 0, 0};
        Node *xbar = ir_view(g, 2, (int)(st->kmax - st->kmin), w, sm);
        Node *a = row_read(xbar, rp->iter, st, st->d - st->kmin);
        for (int i = 0; i < nlags; i++) {
            if (lags[i].s != s)
                continue;
            Node *pr = ir_carry(rp, lags[i].p, lp->dir * lags[i].e);
            Node *pm = unflatten(pr, st->rank, st->rows, st->cols);
            a = ir_add(a, pm);
        }
        adj_add(nb[s], a);
    }
    for (int k = 0; k < lp->nsum; k++) {
        const Node *b = lp->sum[k];
        Map m = {(int)lp->sum_off[k], b->rank == 2 ? b->cols : b->rank, b->rank == 2, 0, 0, 0};
        adj_add(nb[lp->nst + k], ir_view(g, b->rank, b->rows, b->cols, m));
    }

    /* the sweep; TVIEW reads are where it stops */
    Node **order;
    int cnt = ir_body_topo(rp, nb, nr, &order), nreads = 0;
    Read *reads = arena_alloc((size_t)(cnt ? cnt : 1) * sizeof *reads);
    for (int i = cnt - 1; i >= 0; i--) {
        Node *nd = order[i];
        Node *gv = adj_value(nd);
        if (!gv || ir_is_zero(gv) || nd->op == OP_ITER || nd->op == OP_CARRY)
            continue;
        if (nd->op != OP_TVIEW) {
            backprop(nd, gv);
            continue;
        }
        if (nd->args[0] == L) {           /* a carried member */
            long lag;
            Map within;
            int s = own_read(lp, nd, &lag, &within);
            lag_add(lag_find(lags, nlags, s, lp->dir * (lp->st[s].d - lag)), gv, within);
            continue;
        }
        if (nd->rank == 2)
            unreachable();                /* sema rolls no matrix read by t */
        int y = ir_loop_add_state(rp, "adj_read", 1, (int)ir_size(nd), 1, 0);
        rp->st[y].kmin = lp->lo;
        rp->st[y].kmax = lp->hi;
        rp->st[y].body = flatten(gv);
        reads[nreads++] = (Read){nd, y};
    }
    for (int i = 0; i < nlags; i++) {
        Lag *l = &lags[i];
        LoopState *ps = &rp->st[l->p];
        ps->body = l->n ? ir_assemble(1, ps->rows, 1, l->n, l->pieces, l->place)
                        : ir_zeros(1, ps->rows, 1);
    }
    /* adjoints of the outside nodes: sums over t */
    Node **ov = arena_alloc((size_t)(in.nout ? in.nout : 1) * sizeof *ov);
    int *osum = arena_alloc((size_t)(in.nout ? in.nout : 1) * sizeof *osum);
    for (int i = 0; i < in.nout; i++) {
        ov[i] = adj_value(in.outside[i]);
        osum[i] = -1;
        if (ov[i] && !ir_is_zero(ov[i]) && ov[i]->in == rp)
            osum[i] = ir_loop_add_sum(rp, ov[i]);
    }
    inner = NULL;
    ir_loop_finish(rp);

    long n = lp->hi - lp->lo;
    for (int i = 0; i < in.nout; i++) {
        if (!ov[i] || ir_is_zero(ov[i]))
            continue;
        if (osum[i] < 0) {                /* the same every t */
            Node *c = ir_const_si(n);
            adj_add(in.outside[i], ir_mul(c, ov[i]));
        } else {
            adj_add(in.outside[i], ir_loop_sum(rp, osum[i]));
        }
    }
    for (int i = 0; i < nreads; i++) {
        /* stack row j holds the adjoint of the read at t = lo + j */
        Node *rd = reads[i].rd, *q = rd->args[0];
        Node *piece = ir_loop_stack(rp, reads[i].y);
        const Map *m = &rd->map;
        Map place = {m->r0 + rd->trow * (int)lp->lo, rd->trow, m->arr,
                     m->c0 + rd->tcol * (int)lp->lo, rd->tcol, m->acr};
        long w = ir_size(rd);
        if (q->cols == 1 && rd->tcol == 0 && rd->trow == w && (rd->rank == 0 || m->arr == 1)) {
            /* consecutive reads of a flat vector (rows of a stack): the
               stack is one contiguous block there, placed flat, so that a
               later read of those rows reads the stack itself */
            Map flat = {(int)rp->st[reads[i].y].offset, 1, 0, 0, 0, 0};
            piece = ir_view(rp->node, 1, (int)(n * w), 1, flat);
            place = (Map){m->r0 + rd->trow * (int)lp->lo, 1, 0, 0, 0, 0};
        }
        adj_add(q, ir_assemble(q->rank, q->rows, q->cols, 1, &piece, &place));
    }
    for (int s = 0; s < lp->nst; s++)
        reverse_init(lp, rp, g, s, lags, nlags);
}

void diff_gradient(Node *f, const int len[BLK__COUNT], Node *grad[BLK__COUNT])
{
    Node **order;
    int n = ir_topo(&f, 1, &order);
    for (int i = 0; i < n; i++)
        order[i]->aux = arena_alloc(sizeof(Adj));
    ((Adj *)f->aux)->full = ir_const_si(1);

    /* Leaves reached, with their adjoints, per block. */
    Node **pieces = arena_alloc((size_t)(n ? n : 1) * sizeof *pieces);
    Map *place = arena_alloc((size_t)(n ? n : 1) * sizeof *place);
    int *blk = arena_alloc((size_t)(n ? n : 1) * sizeof *blk);
    int np = 0;

    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        if (nd->in)
            continue;             /* a loop body: its loop's rule covers it */
        Node *g = adj_value(nd);
        if (!g || ir_is_zero(g))
            continue;
        if (nd->op == OP_LOOP) {
            loop_reverse(nd, g);
            continue;
        }
        if (nd->op == OP_LEAF) {
            /* Element (r, c) of the leaf is element offset + r*cols + c
               of its flat block. */
            pieces[np] = g;
            place[np] = (Map){nd->offset, nd->cols, 1, 0, 0, 0};
            blk[np] = (int)nd->block;
            np++;
            continue;
        }
        backprop(nd, g);
    }
    for (int i = 0; i < n; i++)
        order[i]->aux = NULL;

    for (int b = 0; b < BLK__COUNT; b++) {
        grad[b] = NULL;
        if (len[b] == 0)
            continue;
        Node **ps = arena_alloc((size_t)(np ? np : 1) * sizeof *ps);
        Map *pl = arena_alloc((size_t)(np ? np : 1) * sizeof *pl);
        int k = 0;
        for (int i = 0; i < np; i++)
            if (blk[i] == b) {
                ps[k] = pieces[i];
                pl[k] = place[i];
                k++;
            }
        grad[b] = ir_assemble(1, len[b], 1, k, ps, pl);
    }
}

/* ------------------------------------------------------------------ */
/* Forward mode                                                         */
/* ------------------------------------------------------------------ */

/* Tangents live in aux (those of a loop body being differentiated in a
   map, see tan_of); NULL means identically zero. */
#define T(x) tan_of(x)

/* ------------------------------------------------------------------ */
/* Tangents of loops                                                   */
/* ------------------------------------------------------------------ */

/* The tangent loop of a loop node: its states and sums are those of the
   primal whose tangent is not identically zero (smap, kmap: the primal's
   index -> the tangent's, or -1), each stored flat with the primal's
   layout of rows. */
typedef struct TanLoop {
    Loop *tl;
    int *smap, *kmap;
} TanLoop;

static NodeMap loop_tans;         /* LOOP node -> TanLoop, this sweep */
/* A body node of a loop differentiated in this sweep -> the tangent of
   its transplant in the tangent loop: a later tangent loop whose body
   holds a twin of the node has a tangent equal to it at every t (the
   same function of the inputs, differentiated along the same seed), so
   that tangent gets the twin link too (the HVP's tangent-of-adjoint loop
   then reads the tangent loop's values instead of computing them). */
static NodeMap twin_tans;

/* The body of a loop being differentiated forwards: tangents of its
   nodes, and the primal loop its own reads refer to. */
typedef struct TInner {
    Loop *tp;
    Node *L;
    const TanLoop *tan;
    NodeMap t;
} TInner;

static TInner *tinner;

static Node *tan_of(Node *x)
{
    if (tinner && x->in == tinner->tp)
        return nodemap_get(&tinner->t, x);
    return x->aux;
}

/* The tangent of a view (or TVIEW) of a loop node: the same view of the
   tangent loop, moved to where that part of the value lies there; NULL
   where the part has no tangent. */
static Node *loop_view_tangent(Node *v)
{
    Node *M = v->args[0];
    const TanLoop *tl = nodemap_get(&loop_tans, M);
    if (!tl)
        return NULL;
    const Loop *lp = M->loop;
    long t0 = v->op == OP_TVIEW ? v->args[1]->loop->lo : 0, rel;
    int is_sum;
    int k = ir_loop_locate(lp, v->map.r0 + (v->op == OP_TVIEW ? (long)v->trow * t0 : 0),
                           &is_sum, &rel);
    int k2 = is_sum ? tl->kmap[k] : tl->smap[k];
    if (k2 < 0)
        return NULL;
    long from = is_sum ? lp->sum_off[k] : lp->st[k].offset;
    long to = is_sum ? tl->tl->sum_off[k2] : tl->tl->st[k2].offset;
    Map m = v->map;
    m.r0 += (int)(to - from);
    if (v->op == OP_TVIEW)
        return ir_tview(tl->tl->node, v->args[1], v->rank, v->rows, v->cols, m, v->trow, v->tcol);
    return ir_view(tl->tl->node, v->rank, v->rows, v->cols, m);
}


static Node *or_zero(Node *t, const Node *like)
{
    return t ? t : ir_zeros(like->rank, like->rows, like->cols);
}

static Node *tangent(Node *nd, Block from, Block to)
{
    Node *a = nd->nargs > 0 ? nd->args[0] : NULL;
    Node *b = nd->nargs > 1 ? nd->args[1] : NULL;
    Node *ta = a ? T(a) : NULL, *tb = b ? T(b) : NULL;
    switch (nd->op) {
    case OP_LEAF:
        return nd->block == from ? ir_leaf(to, nd->offset, nd->rank, nd->rows, nd->cols) : NULL;
    case OP_CONST: case OP_EYE: case OP_ITER: case OP_CARRY:
        return NULL;
    case OP_VIEW: case OP_TVIEW:
        if (a->op != OP_LOOP)
            break;
        if (tinner && a == tinner->L) {       /* a carried member: CARRY' */
            long lag;
            Map within;
            int s = own_read(a->loop, nd, &lag, &within);
            if (tinner->tan->smap[s] < 0)
                return NULL;
            Node *c = ir_carry(tinner->tp, tinner->tan->smap[s], lag);
            return ir_view(c, nd->rank, nd->rows, nd->cols, within);
        }
        return loop_view_tangent(nd);
    default:
        break;
    }
    int any = 0;
    for (int i = 0; i < nd->nargs; i++)
        any |= T(nd->args[i]) != NULL;
    if (!any)
        return NULL;
    switch (nd->op) {
    case OP_BCAST:
        return ir_bcast(ta, nd->rank, nd->rows, nd->cols);
    case OP_VIEW:
        return ir_view(ta, nd->rank, nd->rows, nd->cols, nd->map);
    case OP_TVIEW:   /* a read of an outside tensor: the same read of its tangent */
        return ta ? ir_tview(ta, nd->args[1], nd->rank, nd->rows, nd->cols, nd->map, nd->trow,
                             nd->tcol)
                  : NULL;
    case OP_ASSEMBLE: {
        Node **ps = arena_alloc((size_t)nd->nargs * sizeof *ps);
        for (int i = 0; i < nd->nargs; i++)
            ps[i] = or_zero(T(nd->args[i]), nd->args[i]);
        return ir_assemble(nd->rank, nd->rows, nd->cols, nd->nargs, ps, nd->place);
    }
    case OP_ADD: case OP_SUB: { /* d(a +- b) = da +- db */
        Node *x = or_zero(ta, a);   /* in order: node ids must not depend on */
        Node *y = or_zero(tb, b);   /* the compiler's argument order */
        return reduce_to(nd, ir_binary(nd->op, x, y));
    }
    case OP_MUL: { /* d(ab) = da b + a db */
        Node *x = ta ? ir_mul(ta, b) : NULL, *y = tb ? ir_mul(a, tb) : NULL;
        return reduce_to(nd, x && y ? ir_add(x, y) : x ? x : y);
    }
    case OP_DIV: { /* d(a/b) = (da - (a/b) db) / b */
        Node *num = ta ? ta : NULL;
        if (tb)
            num = num ? ir_sub(num, ir_mul(nd, tb)) : ir_neg(ir_mul(nd, tb));
        return reduce_to(nd, ir_div(num, b));
    }
    case OP_POW: {
        Node *x = ta ? ir_mul(partial_pow_base(a, b), ta) : NULL;
        Node *y = tb ? ir_mul(partial_pow_exp(a, nd), tb) : NULL;
        return reduce_to(nd, x && y ? ir_add(x, y) : x ? x : y);
    }
    case OP_NEG:
        return ir_neg(ta);
    case OP_MATMUL: { /* d(AB) = dA B + A dB */
        Node *x = ta ? ir_matmul(ta, b) : NULL, *y = tb ? ir_matmul(a, tb) : NULL;
        return x && y ? ir_add(x, y) : x ? x : y;
    }
    case OP_OUTER: {
        Node *x = ta ? ir_outer(ta, b) : NULL, *y = tb ? ir_outer(a, tb) : NULL;
        return x && y ? ir_add(x, y) : x ? x : y;
    }
    case OP_SUM:
        return ir_sum(ta);
    case OP_LSE:   /* d lse(a) = sum(exp(a - lse(a)) da) */
        return ir_sum(ir_mul(ir_unary(OP_EXP, ir_sub(a, nd)), ta));
    default:
        if (ir_is_elementwise(nd->op) && ir_op_arity[nd->op] == 1)
            return ir_mul(partial_unary(nd->op, a, nd), ta);
        unreachable();
    }
}

/* Whether body node nd of lp may have a nonzero tangent, given which
   states do (active) and the tangents outside the body. */
static int may_vary(const Node *nd, const Loop *lp, const int *active, NodeMap *flags)
{
    if (nd->op == OP_CARRY)
        return active[nd->state];
    for (int i = 0; i < nd->nargs; i++) {
        Node *a = nd->args[i];
        if (a->in == lp ? nodemap_get(flags, a) != NULL
                        : (a->aux != NULL || (a->op == OP_LOOP && nodemap_get(&loop_tans, a))))
            return 1;
    }
    return 0;
}

/* Which states and sums of lp have a tangent: a fixpoint from the init
   tangents through the body.  Structural, so a state kept may still
   turn out zero (it then costs a loop of zeros, never a wrong value). */
static void tangent_activity(const Loop *lp, Node **order, int cnt, int *active, int *sum_active)
{
    static int yes;
    for (int s = 0; s < lp->nst; s++)
        active[s] = lp->st[s].init && lp->st[s].init->aux;
    for (int round = 0; round <= lp->nst; round++) {
        NodeMap flags = {0, 0, 0, 0};
        for (int i = 0; i < cnt; i++)
            if (may_vary(order[i], lp, active, &flags))
                nodemap_put(&flags, order[i], &yes);
        int changed = 0;
        for (int s = 0; s < lp->nst; s++) {
            Node *b = lp->st[s].body;
            int v = b->in == lp ? nodemap_get(&flags, b) != NULL : b->aux != NULL;
            if (v && !active[s])
                active[s] = changed = 1;
        }
        for (int k = 0; k < lp->nsum; k++) {
            Node *b = lp->sum[k];
            sum_active[k] = b->in == lp ? nodemap_get(&flags, b) != NULL : b->aux != NULL;
        }
        if (!changed)
            break;
    }
}

/* t, the tangent of transplanted body node b of tangent loop tp: the
   tangent of each of b's twins (twin_tans), and the twin of the tangent
   an earlier tangent loop has for one of them. */
static void twin_tangent(Node *b, Node *t, const Loop *tp)
{
    if (!t || t->in != tp)
        return;
    for (Node *tw = b->twin; tw; tw = tw->twin) {
        Node *e = nodemap_get(&twin_tans, tw);
        if (e && !t->twin && e != t && e->in && e->in != tp && ir_same_shape(e, t))
            t->twin = e;
        if (!e)
            nodemap_put(&twin_tans, tw, t);
    }
}

/* Forward mode through loop node L: a loop in the same direction whose
   state s is the tangent of x_s (init: the init's tangent; body: the
   tangent of the body, in which CARRY(s, lag) has tangent CARRY'(s, lag),
   a read of Q the same read of Q's tangent, an outside node its tangent),
   and whose sums are the sums of the tangents. */
static TanLoop *loop_tangent(Node *L, Block from, Block to)
{
    Loop *lp = L->loop;
    Node **roots, **order;
    int nr = body_roots(lp, &roots);
    int cnt = ir_body_topo(lp, roots, nr, &order);
    int *active = arena_alloc((size_t)(lp->nst + 1) * sizeof *active);
    int *sum_active = arena_alloc((size_t)(lp->nsum + 1) * sizeof *sum_active);
    tangent_activity(lp, order, cnt, active, sum_active);
    int any = 0;
    for (int s = 0; s < lp->nst; s++)
        any |= active[s];
    for (int k = 0; k < lp->nsum; k++)
        any |= sum_active[k];
    if (!any)
        return NULL;

    TanLoop *tl = arena_alloc(sizeof *tl);
    Loop *tp = ir_loop_new(lp->lo, lp->hi, lp->dir);
    tl->tl = tp;
    tl->smap = arena_alloc((size_t)(lp->nst + 1) * sizeof *tl->smap);
    tl->kmap = arena_alloc((size_t)(lp->nsum + 1) * sizeof *tl->kmap);
    for (int s = 0; s < lp->nst; s++) {
        const LoopState *st = &lp->st[s];
        tl->smap[s] = -1;
        if (!active[s])
            continue;
        int w = st->rows * st->cols;
        int s2 = ir_loop_add_state(tp, arena_printf("tan_%s", st->name), 1, w, 1, st->d);
        LoopState *ts = &tp->st[s2];
        ts->kmin = st->kmin;
        ts->kmax = st->kmax;
        ts->init_k0 = st->init_k0;
        ts->ninit = st->ninit;
        ts->init = st->init ? st->init->aux : NULL;
        tl->smap[s] = s2;
    }
    Node **nb = arena_alloc((size_t)(nr ? nr : 1) * sizeof *nb);
    transplant(lp, tp, roots, nr, nb);

    TInner ti;
    memset(&ti, 0, sizeof ti);
    ti.tp = tp;
    ti.L = L;
    ti.tan = tl;
    tinner = &ti;
    Node **body;
    int bc = ir_body_topo(tp, nb, nr, &body);
    for (int i = 0; i < bc; i++) {
        Node *t = tangent(body[i], from, to);
        t = t && !ir_is_zero(t) ? t : NULL;
        nodemap_put(&ti.t, body[i], t);
        twin_tangent(body[i], t, tp);
    }
    for (int s = 0; s < lp->nst; s++) {
        if (tl->smap[s] < 0)
            continue;
        LoopState *ts = &tp->st[tl->smap[s]];
        Node *t = tan_of(nb[s]);
        ts->body = t ? flatten(t) : ir_zeros(1, ts->rows, 1);
    }
    for (int k = 0; k < lp->nsum; k++) {
        tl->kmap[k] = -1;
        if (!sum_active[k])
            continue;
        Node *t = tan_of(nb[lp->nst + k]);
        tl->kmap[k] = ir_loop_add_sum(tp, or_zero(t, lp->sum[k]));
    }
    tinner = NULL;
    ir_loop_finish(tp);
    nodemap_put(&loop_tans, L, tl);
    return tl;
}

/* The tangent of a loop's whole value (for a consumer that reads it
   without a view: a view of the whole value is the node itself): the
   tangent loop's parts placed at the primal's layout. */
static Node *loop_value_tangent(Node *L, const TanLoop *tl)
{
    const Loop *lp = L->loop;
    int n = lp->nst + lp->nsum, np = 0;
    Node **pieces = arena_alloc((size_t)(n ? n : 1) * sizeof *pieces);
    Map *place = arena_alloc((size_t)(n ? n : 1) * sizeof *place);
    for (int i = 0; i < n; i++) {
        int is_sum = i >= lp->nst, k = is_sum ? i - lp->nst : i;
        int k2 = is_sum ? tl->kmap[k] : tl->smap[k];
        if (k2 < 0)
            continue;
        long from = is_sum ? lp->sum_off[k] : lp->st[k].offset;
        long to = is_sum ? tl->tl->sum_off[k2] : tl->tl->st[k2].offset;
        long len = is_sum ? ir_size(lp->sum[k])
                          : (lp->st[k].kmax - lp->st[k].kmin) * lp->st[k].rows * lp->st[k].cols;
        Map m = {(int)to, 1, 0, 0, 0, 0};
        pieces[np] = ir_view(tl->tl->node, 1, (int)len, 1, m);
        place[np++] = (Map){(int)from, 1, 0, 0, 0, 0};
    }
    return ir_assemble(1, L->rows, 1, np, pieces, place);
}

void diff_tangent(int n, Node **roots, Block from, Block to, Node **out)
{
    Node **order;
    int m = ir_topo(roots, n, &order);
    for (int i = 0; i < m; i++)
        order[i]->aux = NULL;
    memset(&loop_tans, 0, sizeof loop_tans);
    memset(&twin_tans, 0, sizeof twin_tans);
    for (int i = 0; i < m; i++) {
        Node *nd = order[i];
        if (nd->in)
            continue;             /* a loop body: its loop's rule covers it */
        if (nd->op == OP_LOOP) {
            /* views of it find the tangent loop (loop_view_tangent) */
            TanLoop *tl = loop_tangent(nd, from, to);
            nd->aux = tl ? loop_value_tangent(nd, tl) : NULL;
            continue;
        }
        Node *t = tangent(nd, from, to);
        if (t && ir_is_zero(t))
            t = NULL;
        nd->aux = t;
    }
    for (int i = 0; i < n; i++)
        out[i] = roots[i] ? or_zero(T(roots[i]), roots[i]) : NULL;
    for (int i = 0; i < m; i++)
        order[i]->aux = NULL;
}
