/*
 * verify.c - the IR verifier, run between passes in the test build.
 *
 * The builders of ir.c promise invariants that every later pass relies on
 * without checking: children are created before their parents (so sorting
 * by id is a topological order), each op has the arguments and shapes its
 * row of IR_OPS and its builder require, views and placements stay inside
 * their tensors, and a node is the one representative of its hash-cons
 * class (structurally equal nodes are one node, which is what makes the
 * kernels share their common subexpressions).  This file checks all of it
 * after sema, after derivation (and schedule.c checks the schedule), so
 * that a pass that breaks an invariant fails there, in the test build
 * (DILC_VERIFY=1, set by make check), instead of as wrong C later.  QBE
 * checks its SSA form between passes the same way.
 */
#include "dilc.h"

#include <stdlib.h>

static const char *verify_pass;

/* A failed check: say which node and which pass, then abort. */
static DIL_NORETURN void bad(const Node *n, const char *what)
{
    fprintf(stderr, "dilc: IR verifier: after %s: node %d (%s): %s\n", verify_pass, n->id,
            n->op < OP__COUNT ? ir_op_name[n->op] : "?", what);
    unreachable();
}

static int shape_is(const Node *n, int rank, int rows, int cols)
{
    return n->rank == rank && n->rows == rows && n->cols == cols;
}

/* Element (r, c) of m in bounds of a rows x cols tensor at the four
   corners of a small one of shape sr x sc (the map is affine, so its
   extremes are at the corners). */
static int map_inside(const Map *m, int sr, int sc, int rows, int cols)
{
    int rs[2] = {0, sr - 1}, cs[2] = {0, sc - 1};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            long R = (long)m->r0 + (long)m->arr * rs[i] + (long)m->arc * cs[j];
            long C = (long)m->c0 + (long)m->acr * rs[i] + (long)m->acc * cs[j];
            if (R < 0 || R >= rows || C < 0 || C >= cols)
                return 0;
        }
    return 1;
}

static void check_shape(const Node *n)
{
    if (n->rank < 0 || n->rank > 2 || n->rows < 1 || n->cols < 1)
        bad(n, "bad shape");
    if ((n->rank == 0 && (n->rows != 1 || n->cols != 1)) || (n->rank == 1 && n->cols != 1))
        bad(n, "shape does not match its rank");
}

static void check_elementwise(const Node *n)
{
    const Node *like = NULL;
    for (int p = 0; p < n->nargs; p++) {
        const Node *a = n->args[p];
        if (a->rank != 0 && !ir_same_shape(a, n))
            bad(n, "elementwise operand of another shape");
        if (a->rank != 0)
            like = a;
    }
    if (!like && n->rank != 0)
        bad(n, "tensor result of scalar operands (should be a broadcast)");
}

static void check_matmul(const Node *n)
{
    const Node *a = n->args[0], *b = n->args[1];
    int ok;
    if (a->rank == 2 && b->rank == 2)
        ok = a->cols == b->rows && shape_is(n, 2, a->rows, b->cols);
    else if (a->rank == 2 && b->rank == 1)
        ok = a->cols == b->rows && shape_is(n, 1, a->rows, 1);
    else if (a->rank == 1 && b->rank == 2)
        ok = a->rows == b->rows && shape_is(n, 1, b->cols, 1);
    else
        ok = 0;               /* a dot product is built as sum(a * b) */
    if (!ok)
        bad(n, "matrix product of mismatched shapes");
}

/* The op's own rules: arity from IR_OPS, then its shapes. */
static void check_op(const Node *n)
{
    int arity = ir_op_arity[n->op];
    if ((arity >= 0 && n->nargs != arity) || (arity < 0 && n->nargs < 1))
        bad(n, "wrong number of arguments");
    switch (n->op) {
    case OP_CONST:
        if (n->rank != 0 || mpz_sgn(mpq_denref(n->q)) <= 0)
            bad(n, "constant not a canonical scalar");
        return;
    case OP_NAMED:
        if (n->rank != 0 || (int)n->named < 0 || n->named >= NC__COUNT)
            bad(n, "bad named constant");
        return;
    case OP_LEAF:
        if ((int)n->block < 0 || n->block >= BLK__COUNT || n->offset < 0)
            bad(n, "bad leaf");
        return;
    case OP_EYE:
        if (n->rank != 2 || n->rows != n->cols)
            bad(n, "identity not square");
        return;
    case OP_BCAST:
        if (n->args[0]->rank != 0 || n->rank == 0)
            bad(n, "broadcast of a tensor, or to a scalar");
        return;
    case OP_VIEW:
        if (!map_inside(&n->map, n->rows, n->cols, n->args[0]->rows, n->args[0]->cols))
            bad(n, "view outside its argument");
        return;
    case OP_ASSEMBLE:
        for (int p = 0; p < n->nargs; p++)
            if (!map_inside(&n->place[p], n->args[p]->rows, n->args[p]->cols, n->rows, n->cols))
                bad(n, "piece placed outside the assembly");
        return;
    case OP_MATMUL:
        check_matmul(n);
        return;
    case OP_OUTER:
        if (n->args[0]->rank != 1 || n->args[1]->rank != 1 ||
            !shape_is(n, 2, n->args[0]->rows, n->args[1]->rows))
            bad(n, "outer product of mismatched shapes");
        return;
    default:
        if (ir_op_class[n->op] == OPC_REDUCTION && n->rank != 0)
            bad(n, "reduction to a tensor");
        if (ir_op_class[n->op] == OPC_ELEMENTWISE)
            check_elementwise(n);
    }
}

void ir_verify(Node **roots, int nroots, const char *pass)
{
    verify_pass = pass;
    Node **order;
    int n = ir_topo(roots, nroots, &order);
    for (int i = 0; i < n; i++) {
        const Node *nd = order[i];
        if ((int)nd->op < 0 || nd->op >= OP__COUNT)
            bad(nd, "unknown op");
        check_shape(nd);
        for (int p = 0; p < nd->nargs; p++)
            if (!nd->args[p] || nd->args[p]->id >= nd->id)
                bad(nd, "argument created after the node (not topological)");
        check_op(nd);
        if (ir_interned(nd) != nd)
            bad(nd, "not the representative of its hash-cons class");
    }
}

void ir_verify_model(const Model *m)
{
    Node *roots[3] = {m->score, m->residual, m->loss};
    ir_verify(roots, 3, "sema");
    if (m->score->rank != 0 || (m->loss && m->loss->rank != 0))
        bad(m->score, "score or loss not a scalar");
    if (m->residual && (m->residual->rank != 1 || m->residual->rows != m->nres))
        bad(m->residual, "residual not a flat vector of length nres");
}
