/*
 * ir.c - the tensor IR: hash-consed nodes, simplified as they are built.
 *
 * Every builder first simplifies (exact constant folding on GNU MP
 * rationals, 0 and 1 identities, x - x, collecting constant factors,
 * composing views) and then looks the result up in one hash table, so a
 * structurally equal node is never built twice.  This is where common
 * subexpressions of the score and of all its derivatives are merged, which
 * is why the emitted kernels compute every shared value once.
 *
 * Numerical care (after Lua's lcode.c): folding is exact, so it can never
 * produce NaN, an infinity or -0.0; a fold that is not exact (sin of a
 * constant, a power with a fractional exponent) is left to the C compiler.
 * The identities used (x*0 = 0, x - x = 0, 0/x = 0) are exact for every
 * finite x; the runtime rejects non-finite inputs before they reach a
 * kernel (DIL_NOT_FINITE), which is what makes them safe here.
 */
#include "dilc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) cls,
const OpClass ir_op_class[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) arity,
const int ir_op_arity[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) cfn,
const char *const ir_op_cfn[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) pname,
const char *const ir_op_name[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) builtin,
const int ir_op_builtin[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) at0,
const int ir_op_at0[OP__COUNT] = {IR_OPS(X)};
#undef X
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) nonneg,
const int ir_op_nonneg[OP__COUNT] = {IR_OPS(X)};
#undef X

#define X(name, pname, digits) pname,
const char *const ir_named_name[NC__COUNT] = {IR_NAMED(X)};
#undef X
#define X(name, pname, digits) digits,
static const char *const named_digits[NC__COUNT] = {IR_NAMED(X)};
#undef X

int ir_op_builtin_find(const char *name)
{
    for (int op = 0; op < OP__COUNT; op++)
        if (ir_op_builtin[op] && !strcmp(ir_op_name[op], name))
            return op;
    return -1;
}

double ir_named_value(Named c)
{
    mpq_t q;
    mpq_init(q);
    double d;
    if (rat_from_decimal(q, named_digits[c]) != 0 || rat_to_double(q, &d) != 0)
        unreachable();
    mpq_clear(q);
    return d;
}

const char *const ir_block_name[BLK__COUNT] = {"y", "x", "theta", "data", "v", "w"};

/* ------------------------------------------------------------------ */
/* The hash-cons table                                                 */
/* ------------------------------------------------------------------ */

static Node **table;
static size_t table_size, table_count;
static int next_id;
static int next_loop;         /* ids of loops built so far */
static long weight;           /* see ir_node_weight() */

void ir_init(void)
{
    table_size = 1024;
    table = arena_alloc(table_size * sizeof *table);
    table_count = 0;
    next_id = 0;
    next_loop = 0;
    weight = 0;
    /* The small constants every derivative rule uses exist from the start,
       so that building them never creates a node.  Node ids name the
       emitted temporaries, and C leaves the order in which the arguments
       of ir_div(one(), ir_mul(...)) are evaluated unspecified: the output
       must not depend on which compiler built dilc.  (Calls with two
       arguments that each build a new node are split into statements.) */
    for (long k = -2; k <= 2; k++)
        ir_const_si(k);
}

int ir_node_count(void)
{
    return next_id;
}

long ir_node_weight(void)
{
    return weight;
}

long ir_size(const Node *n)
{
    return (long)n->rows * n->cols;
}

static unsigned mix(unsigned h, unsigned v)
{
    h ^= v + 0x9e3779b9u + (h << 6) + (h >> 2);
    return h;
}

static unsigned map_hash(unsigned h, const Map *m)
{
    h = mix(h, (unsigned)m->r0);
    h = mix(h, (unsigned)m->arr);
    h = mix(h, (unsigned)m->arc);
    h = mix(h, (unsigned)m->c0);
    h = mix(h, (unsigned)m->acr);
    return mix(h, (unsigned)m->acc);
}

static unsigned node_hash(const Node *n)
{
    unsigned h = mix((unsigned)n->op, (unsigned)n->rank);
    h = mix(h, (unsigned)n->rows);
    h = mix(h, (unsigned)n->cols);
    for (int i = 0; i < n->nargs; i++)
        h = mix(h, (unsigned)n->args[i]->id);
    switch (n->op) {
    case OP_CONST:
        h = mix(h, (unsigned)mpz_get_ui(mpq_numref(n->q)));
        h = mix(h, (unsigned)mpz_get_ui(mpq_denref(n->q)));
        h = mix(h, (unsigned)mpq_sgn(n->q));
        break;
    case OP_NAMED:
        h = mix(h, (unsigned)n->named);
        break;
    case OP_LEAF:
        h = mix(h, (unsigned)n->block);
        h = mix(h, (unsigned)n->offset);
        break;
    case OP_VIEW:
        h = map_hash(h, &n->map);
        break;
    case OP_TVIEW:
        h = map_hash(h, &n->map);
        h = mix(h, (unsigned)n->trow);
        h = mix(h, (unsigned)n->tcol);
        break;
    case OP_ASSEMBLE:
        for (int i = 0; i < n->nargs; i++)
            h = map_hash(h, &n->place[i]);
        break;
    case OP_CARRY:
        h = mix(h, (unsigned)n->state);
        h = mix(h, (unsigned)n->offset);
        /* fall through */
    case OP_ITER: case OP_LOOP:
        h = mix(h, (unsigned)n->loop->id);
        break;
    default:
        break;
    }
    return h;
}

static int map_eq(const Map *a, const Map *b)
{
    return a->r0 == b->r0 && a->arr == b->arr && a->arc == b->arc &&
           a->c0 == b->c0 && a->acr == b->acr && a->acc == b->acc;
}

static int node_eq(const Node *a, const Node *b)
{
    if (a->op != b->op || a->rank != b->rank || a->rows != b->rows ||
        a->cols != b->cols || a->nargs != b->nargs)
        return 0;
    for (int i = 0; i < a->nargs; i++)
        if (a->args[i] != b->args[i])
            return 0;
    switch (a->op) {
    case OP_CONST:
        return mpq_equal(a->q, b->q);
    case OP_NAMED:
        return a->named == b->named;
    case OP_LEAF:
        return a->block == b->block && a->offset == b->offset;
    case OP_VIEW:
        return map_eq(&a->map, &b->map);
    case OP_TVIEW:
        return map_eq(&a->map, &b->map) && a->trow == b->trow && a->tcol == b->tcol;
    case OP_ITER: case OP_LOOP:
        return a->loop == b->loop;
    case OP_CARRY:
        return a->loop == b->loop && a->state == b->state && a->offset == b->offset;
    case OP_ASSEMBLE:
        for (int i = 0; i < a->nargs; i++)
            if (!map_eq(&a->place[i], &b->place[i]))
                return 0;
        return 1;
    default:
        return 1;
    }
}

static void table_grow(void)
{
    size_t size = table_size * 2;
    Node **t = arena_alloc(size * sizeof *t);
    for (size_t i = 0; i < table_size; i++) {
        Node *n = table[i];
        while (n) {
            Node *next = n->hnext;
            size_t j = n->hash & (size - 1);
            n->hnext = t[j];
            t[j] = n;
            n = next;
        }
    }
    table = t;
    table_size = size;
}

/* Interns a candidate node built on the stack: returns the existing equal
   node, or an arena copy of the candidate. */
static Node *intern(Node *cand)
{
    if (!table)
        ir_init();
    cand->hash = node_hash(cand);
    size_t i = cand->hash & (table_size - 1);
    for (Node *n = table[i]; n; n = n->hnext)
        if (n->hash == cand->hash && node_eq(n, cand))
            return n;
    Node *n = arena_alloc(sizeof *n);
    *n = *cand;
    if (cand->nargs) {
        n->args = arena_alloc((size_t)cand->nargs * sizeof *n->args);
        memcpy(n->args, cand->args, (size_t)cand->nargs * sizeof *n->args);
    }
    if (cand->op == OP_ASSEMBLE) {
        n->place = arena_alloc((size_t)cand->nargs * sizeof *n->place);
        memcpy(n->place, cand->place, (size_t)cand->nargs * sizeof *n->place);
    }
    if (cand->op == OP_CONST) {
        n->q = arena_mpq();
        mpq_set(n->q, cand->q);
    }
    /* The loop a node belongs to: that of its placeholders.  A LOOP node
       closes over its own body; no node mixes two loops' iterations. */
    n->in = NULL;
    if (n->op == OP_ITER || n->op == OP_CARRY)
        n->in = n->loop;
    else if (n->op != OP_LOOP)
        for (int k = 0; k < n->nargs; k++) {
            struct Loop *l = n->args[k]->in;
            if (l && n->in && l != n->in)
                unreachable();
            if (l)
                n->in = l;
        }
    n->id = next_id++;
    /* Counted here, where nodes are made: an assembly of n pieces holds
       n arguments and n placements, so it weighs 1 + n (a fn returning a
       1000-element vector literal, called 3900 times, once made 3.9
       million pieces in 3900 nodes). */
    weight += 1 + (cand->op == OP_ASSEMBLE ? cand->nargs : 0);
    n->hnext = table[i];
    table[i] = n;
    if (++table_count > table_size)
        table_grow();
    return n;
}

Node *ir_interned(const Node *cand)
{
    if (!table)
        return NULL;
    unsigned h = node_hash(cand);
    for (Node *n = table[h & (table_size - 1)]; n; n = n->hnext)
        if (n->hash == h && node_eq(n, cand))
            return n;
    return NULL;
}

static Node shaped(Op op, int rank, int rows, int cols)
{
    Node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.rank = rank;
    n.rows = rows;
    n.cols = cols;
    return n;
}

/* Interns op(a) or op(a, b) (b NULL for one argument) of the given shape. */
static Node *intern_op(Op op, int rank, int rows, int cols, Node *a, Node *b)
{
    Node n = shaped(op, rank, rows, cols);
    Node *args[2] = {a, b};
    n.args = args;
    n.nargs = b ? 2 : 1;
    return intern(&n);
}

/* ------------------------------------------------------------------ */
/* Predicates                                                          */
/* ------------------------------------------------------------------ */

int ir_is_const(const Node *n, long v)
{
    return n->op == OP_CONST && rat_is(n->q, v);
}

int ir_is_zero(const Node *n)
{
    if (n->op == OP_BCAST)
        n = n->args[0];
    return n->op == OP_CONST && mpq_sgn(n->q) == 0;
}

mpq_srcptr ir_const_value(const Node *n)
{
    if (n->op == OP_BCAST)
        n = n->args[0];
    return n->op == OP_CONST ? n->q : NULL;
}

int ir_is_elementwise(Op op)
{
    return ir_op_class[op] == OPC_ELEMENTWISE;
}

int ir_same_shape(const Node *a, const Node *b)
{
    return a->rank == b->rank && a->rows == b->rows && a->cols == b->cols;
}

/* ------------------------------------------------------------------ */
/* Leaves and shapes                                                   */
/* ------------------------------------------------------------------ */

Node *ir_const(mpq_srcptr q)
{
    Node n = shaped(OP_CONST, 0, 1, 1);
    mpq_t tmp;
    mpq_init(tmp);
    mpq_set(tmp, q);
    n.q = tmp;
    Node *r = intern(&n);
    mpq_clear(tmp);
    return r;
}

Node *ir_const_si(long v)
{
    mpq_t q;
    mpq_init(q);
    mpq_set_si(q, v, 1);
    Node *r = ir_const(q);
    mpq_clear(q);
    return r;
}

Node *ir_named(Named c)
{
    Node n = shaped(OP_NAMED, 0, 1, 1);
    n.named = c;
    return intern(&n);
}

Node *ir_leaf(Block b, int offset, int rank, int rows, int cols)
{
    Node n = shaped(OP_LEAF, rank, rows, cols);
    n.block = b;
    n.offset = offset;
    return intern(&n);
}

Node *ir_eye(int size)
{
    if (size == 1)
        return ir_bcast(ir_const_si(1), 2, 1, 1);
    Node n = shaped(OP_EYE, 2, size, size);
    return intern(&n);
}

Node *ir_bcast(Node *s, int rank, int rows, int cols)
{
    if (s->rank != 0)
        unreachable();
    if (rank == 0)
        return s;
    return intern_op(OP_BCAST, rank, rows, cols, s, NULL);
}

Node *ir_zeros(int rank, int rows, int cols)
{
    return ir_bcast(ir_const_si(0), rank, rows, cols);
}

/* Broadcasts a scalar to the shape of `like` (a no-op for tensors). */
static Node *fit(Node *v, const Node *like)
{
    if (v->rank == 0 && like->rank != 0)
        return ir_bcast(v, like->rank, like->rows, like->cols);
    return v;
}

/* ------------------------------------------------------------------ */
/* Views and assembly                                                  */
/* ------------------------------------------------------------------ */

/* Element (r, c) of the result of `outer` applied after `inner`:
   inner maps small -> middle, outer maps middle -> large. */
static Map map_compose(const Map *outer, const Map *inner)
{
    Map m;
    m.r0 = outer->r0 + outer->arr * inner->r0 + outer->arc * inner->c0;
    m.arr = outer->arr * inner->arr + outer->arc * inner->acr;
    m.arc = outer->arr * inner->arc + outer->arc * inner->acc;
    m.c0 = outer->c0 + outer->acr * inner->r0 + outer->acc * inner->c0;
    m.acr = outer->acr * inner->arr + outer->acc * inner->acr;
    m.acc = outer->acr * inner->arc + outer->acc * inner->acc;
    return m;
}

/* Canonical form: coefficients of an index that is always 0 are 0, and
   coordinates of a source dimension of size 1 are 0. */
static Map map_normal(Map m, int rows, int cols, int src_rows, int src_cols)
{
    if (rows == 1)
        m.arr = m.acr = 0;
    if (cols == 1)
        m.arc = m.acc = 0;
    if (src_rows == 1)
        m.r0 = m.arr = m.arc = 0;
    if (src_cols == 1)
        m.c0 = m.acr = m.acc = 0;
    return m;
}

static int map_is_identity(const Map *m, int rows, int cols)
{
    return m->r0 == 0 && m->c0 == 0 && (rows == 1 || (m->arr == 1 && m->acr == 0)) &&
           (cols == 1 || (m->arc == 0 && m->acc == 1));
}

/* A map that places a rows x cols block at (r0, c0) without reordering. */
static int map_is_block(const Map *m, int rows, int cols)
{
    return (rows == 1 || (m->arr == 1 && m->acr == 0)) &&
           (cols == 1 || (m->arc == 0 && m->acc == 1));
}

static int blocks_overlap(const Map *a, const Node *pa, const Map *b, const Node *pb)
{
    return a->r0 < b->r0 + pb->rows && b->r0 < a->r0 + pa->rows &&
           a->c0 < b->c0 + pb->cols && b->c0 < a->c0 + pa->cols;
}

Node *ir_view(Node *a, int rank, int rows, int cols, Map map)
{
    map = map_normal(map, rows, cols, a->rows, a->cols);
    if (ir_same_shape(a, &(Node){.rank = rank, .rows = rows, .cols = cols}) &&
        map_is_identity(&map, rows, cols))
        return a;
    if (a->rank == 0)
        return ir_bcast(a, rank, rows, cols);
    if (a->op == OP_BCAST)
        return ir_bcast(a->args[0], rank, rows, cols);
    if (a->op == OP_VIEW) {
        Map m = map_compose(&a->map, &map);
        return ir_view(a->args[0], rank, rows, cols, m);
    }
    if (a->op == OP_TVIEW) {     /* the inner map has no t: t terms stay */
        Map m = map_compose(&a->map, &map);
        return ir_tview(a->args[0], a->args[1], rank, rows, cols, m, a->trow, a->tcol);
    }
    if (a->op == OP_ASSEMBLE && map_is_block(&map, rows, cols)) {
        /* A view of an assembly that lies inside one rectangular piece and
           meets no other is a view of that piece; one that meets no piece
           is zero.  (Gradients assembled from per-symbol adjoints are read
           back this way by the tangent sweep.) */
        Node probe = shaped(OP_VIEW, rank, rows, cols);
        int hit = -1, overlaps = 0, all_blocks = 1;
        int from = 0;
        if (a->stacked) {
            /* Only pieces from the last one starting at or above the view's
               first row can meet it: skip the others, which a scan would
               find disjoint one by one (quadratic when every element of a
               long vector literal is read back). */
            int lo = 0, hi = a->nargs - 1;
            while (lo < hi) {
                int mid = lo + (hi - lo + 1) / 2;
                if (a->place[mid].r0 <= map.r0)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            from = lo;
        }
        for (int i = from; i < a->nargs; i++) {
            if (a->stacked && a->place[i].r0 >= map.r0 + rows)
                break;     /* this piece and all later ones lie below */
            Node *p = a->args[i];
            if (!map_is_block(&a->place[i], p->rows, p->cols)) {
                all_blocks = 0;
                break;
            }
            if (blocks_overlap(&a->place[i], p, &map, &probe)) {
                overlaps++;
                const Map *pl = &a->place[i];
                if (map.r0 >= pl->r0 && map.r0 + rows <= pl->r0 + p->rows &&
                    map.c0 >= pl->c0 && map.c0 + cols <= pl->c0 + p->cols)
                    hit = i;
            }
        }
        if (all_blocks && overlaps == 0)
            return ir_zeros(rank, rows, cols);
        if (all_blocks && overlaps == 1 && hit >= 0) {
            Map m = map;
            m.r0 -= a->place[hit].r0;
            m.c0 -= a->place[hit].c0;
            return ir_view(a->args[hit], rank, rows, cols, m);
        }
    }
    if (rank == 0 && a->op == OP_EYE)
        return ir_const_si(map.r0 == map.c0);
    Node n = shaped(OP_VIEW, rank, rows, cols);
    Node *args[1] = {a};
    n.args = args;
    n.nargs = 1;
    n.map = map;
    return intern(&n);
}

/* Rows [*r0, *r1] and columns [*c0, *c1] of the source that a view of
   rows x cols elements with map m, plus trow*t and tcol*t for every t of
   lp's range, reads. */
static void tview_box(const Map *m, int rows, int cols, int trow, int tcol, const Loop *lp,
                      long *r0, long *r1, long *c0, long *c1)
{
    long lo = lp->lo, hi = lp->hi - 1;
    long terms_r[3] = {(long)m->arr * (rows - 1), (long)m->arc * (cols - 1), 0};
    long terms_c[3] = {(long)m->acr * (rows - 1), (long)m->acc * (cols - 1), 0};
    terms_r[2] = trow * (trow > 0 ? hi : lo) - trow * (trow > 0 ? lo : hi);
    terms_c[2] = tcol * (tcol > 0 ? hi : lo) - tcol * (tcol > 0 ? lo : hi);
    *r0 = *r1 = m->r0 + (long)trow * (trow > 0 ? lo : hi);
    *c0 = *c1 = m->c0 + (long)tcol * (tcol > 0 ? lo : hi);
    for (int k = 0; k < 2; k++) {
        *r0 += terms_r[k] < 0 ? terms_r[k] : 0;
        *r1 += terms_r[k] > 0 ? terms_r[k] : 0;
        *c0 += terms_c[k] < 0 ? terms_c[k] : 0;
        *c1 += terms_c[k] > 0 ? terms_c[k] : 0;
    }
    *r1 += terms_r[2];
    *c1 += terms_c[2];
}

/* The piece of assembly a that alone holds every element of the box
   [r0, r1] x [c0, c1] (no other piece meets it), or -1; -2 when no piece
   meets it (the box is zero). */
static int assembly_box_piece(const Node *a, long r0, long r1, long c0, long c1)
{
    int hit = -1, meets = 0;
    for (int i = 0; i < a->nargs; i++) {
        const Node *p = a->args[i];
        const Map *pl = &a->place[i];
        if (!map_is_block(pl, p->rows, p->cols))
            return -1;
        if (pl->r0 > r1 || pl->r0 + p->rows <= r0 || pl->c0 > c1 || pl->c0 + p->cols <= c0)
            continue;
        meets++;
        if (pl->r0 <= r0 && r1 < pl->r0 + p->rows && pl->c0 <= c0 && c1 < pl->c0 + p->cols)
            hit = i;
    }
    return meets == 0 ? -2 : meets == 1 ? hit : -1;
}

/* A view whose source row and column also move with the loop index t:
   element (r, c) is a[r0 + trow t + arr r + arc c, c0 + tcol t + acr r +
   acc c].  Composes with VIEW and TVIEW like a view; a t term that meets
   a source dimension of size 1 vanishes, and without one it is a VIEW. */
Node *ir_tview(Node *a, Node *iter, int rank, int rows, int cols, Map map, int trow, int tcol)
{
    if (iter->op != OP_ITER || (a->in && a->in != iter->loop))
        unreachable();
    if (a->rows == 1)
        trow = 0;
    if (a->cols == 1)
        tcol = 0;
    if (!trow && !tcol)
        return ir_view(a, rank, rows, cols, map);
    map = map_normal(map, rows, cols, a->rows, a->cols);
    if (a->op == OP_BCAST)
        return ir_bcast(a->args[0], rank, rows, cols);
    if (a->op == OP_VIEW || a->op == OP_TVIEW) {
        /* outer map a->map (middle -> large) after this one (small ->
           middle): the t terms of this map go through a's coefficients */
        const Map *o = &a->map;
        int tr = o->arr * trow + o->arc * tcol, tc = o->acr * trow + o->acc * tcol;
        if (a->op == OP_TVIEW) {
            if (a->args[1] != iter)
                unreachable();
            tr += a->trow;
            tc += a->tcol;
        }
        Map m = map_compose(o, &map);
        return ir_tview(a->args[0], iter, rank, rows, cols, m, tr, tc);
    }
    if (a->op == OP_ASSEMBLE) {
        /* every t reads inside one piece: a read of that piece (an
           adjoint stack assembled from one loop's rows is not copied);
           no piece: zero */
        long r0, r1, c0, c1;
        tview_box(&map, rows, cols, trow, tcol, iter->loop, &r0, &r1, &c0, &c1);
        int p = assembly_box_piece(a, r0, r1, c0, c1);
        if (p == -2)
            return ir_zeros(rank, rows, cols);
        if (p >= 0) {
            Map m = map;
            m.r0 -= a->place[p].r0;
            m.c0 -= a->place[p].c0;
            return ir_tview(a->args[p], iter, rank, rows, cols, m, trow, tcol);
        }
    }
    Node n = shaped(OP_TVIEW, rank, rows, cols);
    Node *args[2] = {a, iter};
    n.args = args;
    n.nargs = 2;
    n.map = map;
    n.trow = trow;
    n.tcol = tcol;
    return intern(&n);
}

Node *ir_transpose(Node *a)
{
    if (a->rank < 2)
        return a;
    Map m = {0, 0, 1, 0, 1, 0};
    return ir_view(a, 2, a->cols, a->rows, m);
}

Node *ir_element(Node *a, int i, int j)
{
    if (a->rank == 0)
        return a;
    Map m = {i, 0, 0, a->rank == 2 ? j : 0, 0, 0};
    return ir_view(a, 0, 1, 1, m);
}

Node *ir_row(Node *a, int i)
{
    Map m = {i, 0, 0, 0, 1, 0};
    return ir_view(a, 1, a->cols, 1, m);
}

Node *ir_col(Node *a, int j)
{
    Map m = {0, 1, 0, j, 0, 0};
    return ir_view(a, 1, a->rows, 1, m);
}

Node *ir_slice(Node *a, int r0, int r1, int c0, int c1)
{
    if (a->rank == 1) {
        Map m = {r0, 1, 0, 0, 0, 0};
        return ir_view(a, 1, r1 - r0, 1, m);
    }
    Map m = {r0, 1, 0, c0, 0, 1};
    return ir_view(a, 2, r1 - r0, c1 - c0, m);
}

Node *ir_concat(int n, Node **parts)
{
    int len = 0;
    for (int i = 0; i < n; i++)
        len += (int)ir_size(parts[i]);
    Map *place = arena_alloc((size_t)(n ? n : 1) * sizeof *place);
    int off = 0;
    for (int i = 0; i < n; i++) {
        place[i] = (Map){off, 1, 0, 0, 0, 0};
        off += (int)ir_size(parts[i]);
    }
    return ir_assemble(1, len, 1, n, parts, place);
}

Node *ir_assemble(int rank, int rows, int cols, int n, Node **pieces, const Map *place)
{
    /* Flatten nested assemblies, drop zero pieces, merge pieces placed
       identically (their sum is one piece). */
    int cap = 0;
    for (int i = 0; i < n; i++)
        cap += pieces[i]->op == OP_ASSEMBLE ? pieces[i]->nargs : 1;
    Node **ps = arena_alloc((size_t)(cap ? cap : 1) * sizeof *ps);
    Map *pl = arena_alloc((size_t)(cap ? cap : 1) * sizeof *pl);
    /* Pieces kept so far, hashed by placement and shape, so that finding
       the one a new piece merges into does not scan them all: a vector
       literal of 40,000 elements took seconds, quadratic in its length.
       Open addressing, at most half full; -1 is an empty entry. */
    size_t hsize = 16;
    while (hsize < 2 * (size_t)cap)
        hsize *= 2;
    int *htab = malloc(hsize * sizeof *htab);
    if (!htab)
        dil_fatal("out of memory");
    for (size_t h = 0; h < hsize; h++)
        htab[h] = -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        Node *p = pieces[i];
        int sub = p->op == OP_ASSEMBLE ? p->nargs : 1;
        for (int j = 0; j < sub; j++) {
            Node *q = p->op == OP_ASSEMBLE ? p->args[j] : p;
            Map m = p->op == OP_ASSEMBLE ? map_compose(&place[i], &p->place[j]) : place[i];
            m = map_normal(m, q->rows, q->cols, rows, cols);
            if (ir_is_zero(q))
                continue;
            size_t h = map_hash(mix((unsigned)q->rows, (unsigned)q->cols), &m) & (hsize - 1);
            while (htab[h] >= 0 && !(map_eq(&pl[htab[h]], &m) && ir_same_shape(ps[htab[h]], q)))
                h = (h + 1) & (hsize - 1);
            if (htab[h] >= 0) {
                ps[htab[h]] = ir_add(ps[htab[h]], q);   /* same shape: still matches */
            } else {
                htab[h] = k;
                ps[k] = q;
                pl[k] = m;
                k++;
            }
        }
    }
    free(htab);
    if (k == 0)
        return ir_zeros(rank, rows, cols);
    if (k == 1 && ps[0]->rows == rows && ps[0]->cols == cols &&
        map_is_identity(&pl[0], rows, cols) && ps[0]->rank == rank)
        return ps[0];
    Node nd = shaped(OP_ASSEMBLE, rank, rows, cols);
    nd.args = ps;
    nd.nargs = k;
    nd.place = pl;
    /* A function of the pieces and placements, so equal nodes agree. */
    nd.stacked = 1;
    for (int i = 0; i < k && nd.stacked; i++)
        nd.stacked = map_is_block(&pl[i], ps[i]->rows, ps[i]->cols) &&
                     (i == 0 || pl[i - 1].r0 + ps[i - 1]->rows <= pl[i].r0);
    return intern(&nd);
}

/* ------------------------------------------------------------------ */
/* Elementwise arithmetic                                              */
/* ------------------------------------------------------------------ */

/* Exact a^e for an integer e of modest size; 0 if not folded. */
static int fold_pow(mpq_ptr out, mpq_srcptr a, mpq_srcptr e)
{
    if (!rat_is_int(e) || !mpz_fits_slong_p(mpq_numref(e)))
        return 0;
    long k = mpz_get_si(mpq_numref(e));
    if (k < 0 && mpq_sgn(a) == 0)
        return 0;
    unsigned long mag = (unsigned long)(k < 0 ? -k : k);
    /* Keep folded constants small: beyond a few thousand bits the value
       is far outside double range anyway, and sema reports overflow. */
    size_t bits = mpz_sizeinbase(mpq_numref(a), 2) + mpz_sizeinbase(mpq_denref(a), 2);
    if (mag > IR_FOLD_MAX_EXP || bits * mag > IR_FOLD_MAX_BITS)
        return 0;
    mpz_pow_ui(mpq_numref(out), mpq_numref(a), mag);
    mpz_pow_ui(mpq_denref(out), mpq_denref(a), mag);
    mpq_canonicalize(out);
    if (k < 0)
        mpq_inv(out, out);
    return 1;
}

/* a / b with b a power of two is exact in IEEE arithmetic, so it may
   become a multiplication; any other divisor must stay a division. */
static int is_pow2(mpq_srcptr q)
{
    if (mpq_sgn(q) == 0)
        return 0;
    mpz_srcptr num = mpq_numref(q), den = mpq_denref(q);
    return (mpz_cmpabs_ui(num, 1) == 0 && mpz_popcount(den) == 1) ||
           (mpz_cmp_ui(den, 1) == 0 && mpz_sizeinbase(num, 2) == mpz_scan1(num, 0) + 1);
}

static Node *fold_binary(Op op, mpq_srcptr a, mpq_srcptr b)
{
    mpq_t r;
    mpq_init(r);
    int ok = 1;
    switch (op) {
    case OP_ADD: mpq_add(r, a, b); break;
    case OP_SUB: mpq_sub(r, a, b); break;
    case OP_MUL: mpq_mul(r, a, b); break;
    case OP_DIV:
        if (mpq_sgn(b) == 0)
            ok = 0;  /* left for sema to report */
        else
            mpq_div(r, a, b);
        break;
    case OP_POW: ok = fold_pow(r, a, b); break;
    default: ok = 0;
    }
    Node *n = ok ? ir_const(r) : NULL;
    mpq_clear(r);
    return n;
}

static Node *make_binary(Op op, Node *a, Node *b)
{
    const Node *like = a->rank ? a : b;
    return intern_op(op, like->rank, like->rows, like->cols, a, b);
}

static int is_commutative(Op op)
{
    return op == OP_ADD || op == OP_MUL;
}

/* The identities of a op b (after folding and canonical ordering), or
   NULL when none applies.  ca, cb: the constant values of a and b, or
   NULL; shape: the result's shape. */
static Node *binary_identity(Op op, Node *a, Node *b, mpq_srcptr ca, mpq_srcptr cb,
                             const Node *shape)
{
    switch (op) {
    case OP_ADD:
        /* 0 + x = x;  x + x = 2x;  x + (-y) = x - y */
        if (ca && mpq_sgn(ca) == 0)
            return fit(b, shape);
        if (a == b)
            return ir_mul(ir_const_si(2), a);
        if (b->op == OP_NEG)
            return ir_sub(a, b->args[0]);
        if (a->op == OP_NEG)
            return ir_sub(b, a->args[0]);
        return NULL;
    case OP_SUB:
        /* x - 0 = x;  0 - x = -x;  x - x = 0;  x - (-y) = x + y */
        if (cb && mpq_sgn(cb) == 0)
            return fit(a, shape);
        if (ca && mpq_sgn(ca) == 0)
            return fit(ir_neg(b), shape);
        if (a == b)
            return ir_zeros(shape->rank, shape->rows, shape->cols);
        if (b->op == OP_NEG)
            return ir_add(a, b->args[0]);
        return NULL;
    case OP_MUL:
        /* 0x = 0;  1x = x;  (-1)x = -x;  c(dx) = (cd)x;  (-x)y = -(xy) */
        if (ca && mpq_sgn(ca) == 0)
            return ir_zeros(shape->rank, shape->rows, shape->cols);
        if (ca && rat_is(ca, 1))
            return fit(b, shape);
        if (ca && rat_is(ca, -1))
            return fit(ir_neg(b), shape);
        if (ca && b->op == OP_MUL && ir_const_value(b->args[0])) {
            Node *c = fold_binary(OP_MUL, ca, ir_const_value(b->args[0]));
            return ir_mul(c, b->args[1]);
        }
        if (a->op == OP_NEG && b->op == OP_NEG)
            return ir_mul(a->args[0], b->args[0]);
        if (a->op == OP_NEG)
            return ir_neg(ir_mul(a->args[0], b));
        if (b->op == OP_NEG)
            return ir_neg(ir_mul(a, b->args[0]));
        return NULL;
    case OP_DIV:
        /* x/1 = x;  0/x = 0 (x != 0 at any point we differentiate);
           x/c = (1/c)x when c is a power of two (exact);  (-x)/y = -(x/y) */
        if (cb && mpq_sgn(cb) != 0) {
            if (rat_is(cb, 1))
                return fit(a, shape);
            if (is_pow2(cb)) {
                mpq_t inv;
                mpq_init(inv);
                mpq_inv(inv, cb);
                Node *c = ir_const(inv);
                mpq_clear(inv);
                return ir_mul(c, a);
            }
        }
        if (ca && mpq_sgn(ca) == 0 && !(cb && mpq_sgn(cb) == 0))
            return ir_zeros(shape->rank, shape->rows, shape->cols);
        if (a->op == OP_NEG)
            return ir_neg(ir_div(a->args[0], b));
        return NULL;
    case OP_POW:
        /* x^0 = 1;  x^1 = x;  1^x = 1 */
        if (cb && mpq_sgn(cb) == 0)
            return fit(ir_const_si(1), shape);
        if (cb && rat_is(cb, 1))
            return fit(a, shape);
        if (ca && rat_is(ca, 1))
            return fit(ir_const_si(1), shape);
        return NULL;
    default:
        unreachable();
    }
}

Node *ir_binary(Op op, Node *a, Node *b)
{
    if (a->rank && b->rank && !ir_same_shape(a, b))
        unreachable();
    const Node *like = a->rank ? a : b;
    int rank = like->rank, rows = like->rows, cols = like->cols;
    /* A broadcast operand acts through its scalar. */
    if (a->op == OP_BCAST && b->op == OP_BCAST)
        return ir_bcast(ir_binary(op, a->args[0], b->args[0]), rank, rows, cols);
    if (a->op == OP_BCAST && b->rank)
        a = a->args[0];
    if (b->op == OP_BCAST && a->rank)
        b = b->args[0];
    Node shape = shaped(op, rank, rows, cols);
    mpq_srcptr ca = ir_const_value(a), cb = ir_const_value(b);

    if (ca && cb) {
        Node *f = fold_binary(op, ca, cb);
        if (f)
            return fit(f, &shape);
    }
    /* Canonical order: a constant factor or term goes left; otherwise
       by id, so that a*b and b*a are one node. */
    if (is_commutative(op) && ((cb && !ca) || (!ca && !cb && a->id > b->id))) {
        Node *t = a;
        a = b;
        b = t;
        mpq_srcptr tq = ca;
        ca = cb;
        cb = tq;
    }
    Node *id = binary_identity(op, a, b, ca, cb, &shape);
    if (id)
        return id;
    if (a->op == OP_BCAST)
        a = a->args[0];
    if (b->op == OP_BCAST)
        b = b->args[0];
    if (a->rank == 0 && b->rank == 0 && rank != 0)
        return ir_bcast(make_binary(op, a, b), rank, rows, cols);
    return make_binary(op, a, b);
}

Node *ir_unary(Op op, Node *a)
{
    if (a->op == OP_BCAST)
        return ir_bcast(ir_unary(op, a->args[0]), a->rank, a->rows, a->cols);
    if (a->op == OP_CONST) {
        mpq_t r;
        int folded = 1;
        mpq_init(r);
        if (op == OP_NEG)
            mpq_neg(r, a->q);     /* rationals have no -0: -(0) is 0 */
        else if (op == OP_ABS)
            mpq_abs(r, a->q);
        else if (op == OP_SIGN)
            mpq_set_si(r, mpq_sgn(a->q), 1);
        else if (mpq_sgn(a->q) == 0 && ir_op_at0[op] != AT0_NONE)
            mpq_set_si(r, ir_op_at0[op], 1);
        else
            folded = 0;
        Node *n = folded ? ir_const(r) : NULL;
        mpq_clear(r);
        if (n)
            return n;
    }
    if (op == OP_NEG && a->op == OP_NEG)
        return a->args[0];                      /* -(-x) = x */
    if (op == OP_NEG && a->op == OP_MUL && ir_const_value(a->args[0])) {
        mpq_t r;                                /* -(cx) = (-c)x */
        mpq_init(r);
        mpq_neg(r, ir_const_value(a->args[0]));
        Node *c = ir_const(r);
        mpq_clear(r);
        return ir_mul(c, a->args[1]);
    }
    if (op == OP_ABS && ir_op_nonneg[a->op])
        return a;                               /* |f(x)| = f(x) when f >= 0 */
    if (op == OP_SIGN && (a->op == OP_SIGN))
        return a;
    return intern_op(op, a->rank, a->rows, a->cols, a, NULL);
}

/* ------------------------------------------------------------------ */
/* Linear algebra and reductions                                       */
/* ------------------------------------------------------------------ */

Node *ir_matmul(Node *a, Node *b)
{
    int rank, rows, cols;
    if (a->rank == 2 && b->rank == 2) {
        if (a->cols != b->rows) unreachable();
        rank = 2, rows = a->rows, cols = b->cols;
    } else if (a->rank == 2 && b->rank == 1) {
        if (a->cols != b->rows) unreachable();
        rank = 1, rows = a->rows, cols = 1;
    } else if (a->rank == 1 && b->rank == 2) {
        if (a->rows != b->rows) unreachable();
        rank = 1, rows = b->cols, cols = 1;
    } else if (a->rank == 1 && b->rank == 1) {
        if (a->rows != b->rows) unreachable();
        rank = 0, rows = 1, cols = 1;
    } else {
        unreachable();
    }
    if (ir_is_zero(a) || ir_is_zero(b))
        return ir_zeros(rank, rows, cols);
    if (a->op == OP_EYE)
        return b;                                   /* I @ x = x */
    if (b->op == OP_EYE)
        return a;                                   /* x @ I = x */
    if (rank == 0)
        return ir_sum(ir_mul(a, b));                /* a . b, fused */
    /* An inner dimension of 1 makes the product elementwise:
       (m x 1)(1 x n) = outer(a, b), (m x 1) b = a b0, a0 (1 x n) = a0 b,
       which the emitter fuses instead of running a one-step reduction. */
    int inner = a->rank == 2 ? a->cols : a->rows;
    if (inner == 1) {
        Node *ac = a->rank == 2 ? ir_col(a, 0) : ir_element(a, 0, 0);
        Node *br = b->rank == 2 ? ir_row(b, 0) : ir_element(b, 0, 0);
        if (a->rank == 2 && b->rank == 2)
            return ir_outer(ac, br);
        return ir_mul(ac, br);
    }
    /* A scalar factor of either operand moves outside: (cA) @ B = c (A @ B) */
    if (a->op == OP_MUL && a->args[0]->op == OP_CONST)
        return ir_mul(a->args[0], ir_matmul(a->args[1], b));
    if (b->op == OP_MUL && b->args[0]->op == OP_CONST)
        return ir_mul(b->args[0], ir_matmul(a, b->args[1]));
    if (a->op == OP_NEG)
        return ir_neg(ir_matmul(a->args[0], b));
    if (b->op == OP_NEG)
        return ir_neg(ir_matmul(a, b->args[0]));
    return intern_op(OP_MATMUL, rank, rows, cols, a, b);
}

Node *ir_outer(Node *a, Node *b)
{
    if (a->rank != 1 || b->rank != 1)
        unreachable();
    if (ir_is_zero(a) || ir_is_zero(b))
        return ir_zeros(2, a->rows, b->rows);
    if (a->op == OP_NEG)
        return ir_neg(ir_outer(a->args[0], b));
    if (b->op == OP_NEG)
        return ir_neg(ir_outer(a, b->args[0]));
    return intern_op(OP_OUTER, 2, a->rows, b->rows, a, b);
}

Node *ir_sum(Node *a)
{
    if (a->rank == 0)
        return a;
    if (a->op == OP_BCAST)                        /* sum(bcast s) = n s */
        return ir_mul(ir_const_si(ir_size(a)), a->args[0]);
    if (a->op == OP_NEG)
        return ir_neg(ir_sum(a->args[0]));
    if (a->op == OP_MUL && a->args[0]->rank == 0)  /* sum(c x) = c sum(x) */
        return ir_mul(a->args[0], ir_sum(a->args[1]));
    if (a->op == OP_MUL && a->args[1]->rank == 0)
        return ir_mul(a->args[1], ir_sum(a->args[0]));
    if (a->op == OP_EYE)
        return ir_const_si(a->rows);
    return intern_op(OP_SUM, 0, 1, 1, a, NULL);
}

Node *ir_lse(Node *a)
{
    if (a->rank == 0)
        return a;
    return intern_op(OP_LSE, 0, 1, 1, a, NULL);
}

/* ------------------------------------------------------------------ */
/* Traversal                                                           */
/* ------------------------------------------------------------------ */

static int by_id(const void *a, const void *b)
{
    const Node *x = *(Node *const *)a, *y = *(Node *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

int ir_topo(Node **roots, int nroots, Node ***out)
{
    int cap = 0, n = 0, sp = 0, scap = 0;
    Node **list = NULL, **stack = NULL;
    for (int r = 0; r < nroots; r++) {
        if (!roots[r] || roots[r]->mark)
            continue;
        roots[r]->mark = 1;
        VEC_PUSH(stack, sp, scap, roots[r]);
        while (sp) {
            Node *nd = stack[--sp];
            VEC_PUSH(list, n, cap, nd);
            for (int i = 0; i < nd->nargs; i++) {
                Node *c = nd->args[i];
                if (c->mark)
                    continue;
                c->mark = 1;
                VEC_PUSH(stack, sp, scap, c);
            }
        }
    }
    for (int i = 0; i < n; i++)
        list[i]->mark = 0;
    if (n > 1)
        qsort(list, (size_t)n, sizeof *list, by_id);
    *out = n ? list : arena_alloc(sizeof **out);
    return n;
}

/* ------------------------------------------------------------------ */
/* Rolled loops                                                        */
/* ------------------------------------------------------------------ */

Loop *ir_loop_new(long lo, long hi, int dir)
{
    Loop *lp = arena_alloc(sizeof *lp);
    lp->id = ++next_loop;
    lp->lo = lo;
    lp->hi = hi;
    lp->dir = dir;
    Node n = shaped(OP_ITER, 0, 1, 1);
    n.loop = lp;
    lp->iter = intern(&n);
    return lp;
}

int ir_loop_add_state(Loop *lp, const char *name, int rank, int rows, int cols, long d)
{
    if (lp->nst == lp->capst) {
        int cap = lp->capst ? 2 * lp->capst : 4;
        LoopState *st = arena_alloc((size_t)cap * sizeof *st);
        if (lp->nst)
            memcpy(st, lp->st, (size_t)lp->nst * sizeof *st);
        lp->st = st;
        lp->capst = cap;
    }
    LoopState *st = &lp->st[lp->nst];
    memset(st, 0, sizeof *st);
    st->name = name;
    st->rank = rank;
    st->rows = rows;
    st->cols = cols;
    st->d = d;
    return lp->nst++;
}

int ir_loop_add_sum(Loop *lp, Node *body)
{
    if (lp->nsum == lp->capsum) {
        int cap = lp->capsum ? 2 * lp->capsum : 4;
        Node **b = arena_alloc((size_t)cap * sizeof *b);
        long *o = arena_alloc((size_t)cap * sizeof *o);
        if (lp->nsum) {
            memcpy(b, lp->sum, (size_t)lp->nsum * sizeof *b);
            memcpy(o, lp->sum_off, (size_t)lp->nsum * sizeof *o);
        }
        lp->sum = b;
        lp->sum_off = o;
        lp->capsum = cap;
    }
    lp->sum[lp->nsum] = body;
    return lp->nsum++;
}

Node *ir_carry(Loop *lp, int s, long lag)
{
    const LoopState *st = &lp->st[s];
    Node n = shaped(OP_CARRY, st->rank, st->rows, st->cols);
    n.loop = lp;
    n.state = s;
    n.offset = (int)lag;
    return intern(&n);
}

Node *ir_loop_finish(Loop *lp)
{
    long off = 0;
    int nargs = 0;
    for (int s = 0; s < lp->nst; s++) {
        LoopState *st = &lp->st[s];
        st->offset = off;
        off += (st->kmax - st->kmin) * st->rows * st->cols;
        nargs += 1 + (st->init != NULL);
    }
    for (int k = 0; k < lp->nsum; k++) {
        lp->sum_off[k] = off;
        off += ir_size(lp->sum[k]);
        nargs++;
    }
    if (off > INT_MAX)
        unreachable();              /* callers bound the stacks */
    lp->size = off;
    Node **args = arena_alloc((size_t)(nargs ? nargs : 1) * sizeof *args);
    int a = 0;
    for (int s = 0; s < lp->nst; s++) {
        if (lp->st[s].init)
            args[a++] = lp->st[s].init;
        args[a++] = lp->st[s].body;
    }
    for (int k = 0; k < lp->nsum; k++)
        args[a++] = lp->sum[k];
    Node n = shaped(OP_LOOP, 1, (int)off, 1);
    n.args = args;
    n.nargs = nargs;
    n.loop = lp;
    lp->node = intern(&n);
    return lp->node;
}

/* A tensor of shape (rank, rows, cols) stored flat from `base` in a
   rank-1 node: element (r, c) at base + r*cols + c. */
static Node *flat_view(Node *v, long base, int rank, int rows, int cols)
{
    Map m = {(int)base, rank == 2 ? cols : 1, 1, 0, 0, 0};
    return ir_view(v, rank, rows, cols, m);
}

Node *ir_loop_member(const Loop *lp, int s, long k)
{
    const LoopState *st = &lp->st[s];
    if (k < st->kmin || k >= st->kmax)
        unreachable();
    long w = (long)st->rows * st->cols;
    return flat_view(lp->node, st->offset + (k - st->kmin) * w, st->rank, st->rows, st->cols);
}

Node *ir_loop_stack(const Loop *lp, int s)
{
    const LoopState *st = &lp->st[s];
    return flat_view(lp->node, st->offset, 2, (int)(st->kmax - st->kmin), st->rows * st->cols);
}

Node *ir_loop_sum(const Loop *lp, int k)
{
    const Node *b = lp->sum[k];
    return flat_view(lp->node, lp->sum_off[k], b->rank, b->rows, b->cols);
}

Node *ir_loop_read(const Loop *lp, int s, long lag, Node *iter)
{
    const LoopState *st = &lp->st[s];
    long w = (long)st->rows * st->cols;
    Map m = {(int)(st->offset + (lag - st->kmin) * w), st->rank == 2 ? st->cols : st->rank,
             st->rank == 2, 0, 0, 0};
    return ir_tview(lp->node, iter, st->rank, st->rows, st->cols, m, (int)w, 0);
}

int ir_loop_locate(const Loop *lp, long at, int *is_sum, long *rel)
{
    for (int s = 0; s < lp->nst; s++) {
        const LoopState *st = &lp->st[s];
        long len = (st->kmax - st->kmin) * st->rows * st->cols;
        if (at >= st->offset && at < st->offset + len) {
            *is_sum = 0;
            *rel = at - st->offset;
            return s;
        }
    }
    for (int k = 0; k < lp->nsum; k++)
        if (at >= lp->sum_off[k] && at < lp->sum_off[k] + ir_size(lp->sum[k])) {
            *is_sum = 1;
            *rel = at - lp->sum_off[k];
            return k;
        }
    unreachable();
}

int ir_body_topo(const Loop *lp, Node **roots, int nroots, Node ***out)
{
    int cap = 64, n = 0, sp = 0, scap = 64;
    Node **list = malloc((size_t)cap * sizeof *list);
    Node **stack = malloc((size_t)scap * sizeof *stack);
    if (!list || !stack)
        dil_fatal("out of memory");
    for (int r = 0; r < nroots; r++) {
        if (!roots[r] || roots[r]->in != lp || roots[r]->mark)
            continue;
        roots[r]->mark = 1;
        stack[sp++] = roots[r];
        while (sp) {
            Node *nd = stack[--sp];
            if (n == cap) {
                cap *= 2;
                Node **l = realloc(list, (size_t)cap * sizeof *l);
                if (!l)
                    dil_fatal("out of memory");
                list = l;
            }
            list[n++] = nd;
            for (int i = 0; i < nd->nargs; i++) {
                Node *c = nd->args[i];
                if (c->mark || c->in != lp)
                    continue;
                c->mark = 1;
                if (sp == scap) {
                    scap *= 2;
                    Node **st = realloc(stack, (size_t)scap * sizeof *st);
                    if (!st)
                        dil_fatal("out of memory");
                    stack = st;
                }
                stack[sp++] = c;
            }
        }
    }
    free(stack);
    for (int i = 0; i < n; i++)
        list[i]->mark = 0;
    qsort(list, (size_t)n, sizeof *list, by_id);
    *out = arena_alloc((size_t)(n ? n : 1) * sizeof **out);
    memcpy(*out, list, (size_t)n * sizeof *list);
    free(list);
    return n;
}

Node *ir_rebuild(Node *n, Node **a)
{
    if (ir_op_class[n->op] == OPC_LEAF)
        return n;
    switch (n->op) {
    case OP_BCAST:
        return ir_bcast(a[0], n->rank, n->rows, n->cols);
    case OP_VIEW:
        return ir_view(a[0], n->rank, n->rows, n->cols, n->map);
    case OP_TVIEW:
        return ir_tview(a[0], a[1], n->rank, n->rows, n->cols, n->map, n->trow, n->tcol);
    case OP_ASSEMBLE:
        return ir_assemble(n->rank, n->rows, n->cols, n->nargs, a, n->place);
    case OP_MATMUL:
        return ir_matmul(a[0], a[1]);
    case OP_OUTER:
        return ir_outer(a[0], a[1]);
    case OP_SUM:
        return ir_sum(a[0]);
    case OP_LSE:
        return ir_lse(a[0]);
    default:
        if (ir_is_elementwise(n->op))
            return n->nargs == 2 ? ir_binary(n->op, a[0], a[1]) : ir_unary(n->op, a[0]);
        unreachable();              /* LOOP: loops do not nest */
    }
}

/* ------------------------------------------------------------------ */
/* Node maps                                                           */
/* ------------------------------------------------------------------ */

static size_t nodemap_slot(const NodeMap *m, const Node *k)
{
    size_t i = ((size_t)k->id * 2654435761u) & (m->cap - 1);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void *nodemap_get(const NodeMap *m, const Node *k)
{
    if (!m->cap)
        return NULL;
    size_t i = nodemap_slot(m, k);
    return m->key[i] ? m->val[i] : NULL;
}

void nodemap_put(NodeMap *m, Node *k, void *v)
{
    if (2 * (m->n + 1) > m->cap) {
        NodeMap g = {0, 0, m->cap ? 2 * m->cap : 64, 0};
        g.key = arena_alloc(g.cap * sizeof *g.key);
        g.val = arena_alloc(g.cap * sizeof *g.val);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i])
                nodemap_put(&g, m->key[i], m->val[i]);
        *m = g;
    }
    size_t i = nodemap_slot(m, k);
    if (!m->key[i]) {
        m->key[i] = k;
        m->n++;
    }
    m->val[i] = v;
}
