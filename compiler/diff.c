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

static void adj_add(Node *target, Node *v)
{
    if (ir_is_zero(v))
        return;
    Adj *a = target->aux;
    v = reduce_to(target, v);
    a->full = a->full ? ir_add(a->full, v) : v;
}

static void adj_place(Node *target, Node *v, Map m)
{
    if (ir_is_zero(v))
        return;
    Adj *a = target->aux;
    int n = a->n;
    VEC_PUSH(a->pieces, n, a->cap, v);
    VEC_PUSH(a->place, a->n, a->capplace, m);
}

static Node *adj_value(Node *nd)
{
    Adj *a = nd->aux;
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
        Node *g = adj_value(nd);
        if (!g || ir_is_zero(g))
            continue;
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

/* Tangents live in aux; NULL means identically zero. */
#define T(x) ((Node *)(x)->aux)

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
    case OP_CONST: case OP_EYE:
        return NULL;
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

void diff_tangent(int n, Node **roots, Block from, Block to, Node **out)
{
    Node **order;
    int m = ir_topo(roots, n, &order);
    for (int i = 0; i < m; i++)
        order[i]->aux = NULL;
    for (int i = 0; i < m; i++) {
        Node *t = tangent(order[i], from, to);
        if (t && ir_is_zero(t))
            t = NULL;
        order[i]->aux = t;
    }
    for (int i = 0; i < n; i++)
        out[i] = roots[i] ? or_zero(T(roots[i]), roots[i]) : NULL;
    for (int i = 0; i < m; i++)
        order[i]->aux = NULL;
}
