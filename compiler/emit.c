/*
 * emit.c - a kernel schedule printed as C99.
 *
 * Every decision is made by the scheduler (schedule.c): which nodes are
 * stored and where, in what order, which slot of `work` each uses.  This
 * file only writes it out.  Element (r, c) of any fused expression is
 * rendered with affine index expressions in the loop variables (i, j for
 * the node's own shape, l for a reduction), so views (rows, columns,
 * slices, transposes) never copy.  Every loop bound is a model
 * dimension, so the emitted text grows with the model's text and not
 * with its dimensions.
 */
#include "dilc.h"

#include "cover.h"

#include "kern.h"
#include "schedule.h"
#include "vmath_text.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Small utilities: growable strings, affine index forms                */
/* ------------------------------------------------------------------ */

typedef struct Str {
    char *p;
    size_t n, cap;
} Str;

static void sput(Str *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sput(Str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = dil_vasprintf(fmt, ap);
    va_end(ap);
    size_t n = strlen(t);
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            dil_fatal("out of memory");
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->n, t, n + 1);
    s->n += n;
    free(t);
}

/* k + ct*t + ci*i + cj*j + cl*l over the loop variables of the current
   nest (t: the index of a rolled loop around it). */
typedef struct Aff {
    long k, ci, cj, cl, ct;
} Aff;

static Aff aff_const(long k) { return (Aff){k, 0, 0, 0, 0}; }
static Aff aff_i(void) { return (Aff){0, 1, 0, 0, 0}; }
static Aff aff_j(void) { return (Aff){0, 0, 1, 0, 0}; }
static Aff aff_l(void) { return (Aff){0, 0, 0, 1, 0}; }

static Aff aff_lin(long k, long a, Aff x, long b, Aff y)
{
    return (Aff){k + a * x.k + b * y.k, a * x.ci + b * y.ci, a * x.cj + b * y.cj,
                 a * x.cl + b * y.cl, a * x.ct + b * y.ct};
}

/* a + ct*t */
static Aff aff_plus_t(Aff a, long ct)
{
    a.ct += ct;
    return a;
}

static int aff_is_const(Aff a) { return !a.ci && !a.cj && !a.cl && !a.ct; }

static void aff_put(Str *s, Aff a)
{
    int any = 0;
    const long c[4] = {a.ct, a.ci, a.cj, a.cl};
    const char *v[4] = {"t", "i", "j", "l"};
    for (int t = 0; t < 4; t++) {
        if (!c[t])
            continue;
        if (any)
            sput(s, c[t] < 0 ? " - " : " + ");
        else if (c[t] < 0)
            sput(s, "-");
        long m = c[t] < 0 ? -c[t] : c[t];
        if (m == 1)
            sput(s, "%s", v[t]);
        else
            sput(s, "%ld*%s", m, v[t]);
        any = 1;
    }
    if (!any)
        sput(s, "%ld", a.k);
    else if (a.k)
        sput(s, " %c %ld", a.k < 0 ? '-' : '+', a.k < 0 ? -a.k : a.k);
}

/* ------------------------------------------------------------------ */
/* The printer                                                          */
/* ------------------------------------------------------------------ */

typedef struct Emitter {
    const KernelSchedule *s;
    const Kernel *k;
    FILE *out;
    const char *prefix;   /* "PREFIX_": of every emitted name, helpers included */
    int depth;            /* indentation */
    /* open_map: reads of stored values that do not depend on j,
       declared as locals hjN before the j loop (NULL: not collecting) */
    const char **hoist;
    int nhoist, nhj;      /* collected for this row; hjN of the kernel */
} Emitter;

enum { HOIST_MAX = 8 };

/* Elementwise ops printed as calls of the vectorisable functions of
   compiler/vmath.h (docs/vmath.md) rather than of libm: glibc's are
   calls, and a call in a loop stops gcc from vectorising the whole loop.
   Their text is pasted into the emitted file with the model's prefix,
   only the functions used (vmath_write). */
static const struct {
    Op op;
    const char *name;
} vmath_ops[] = {
    {OP_TANH, "vtanh"}, {OP_EXP, "vexp"}, {OP_EXPM1, "vexpm1"}, {OP_LOG, "vlog"},
    {OP_LOG1P, "vlog1p"}, {OP_SIGMOID, "vsigmoid"}, {OP_SOFTPLUS, "vsoftplus"},
};
#define N_VMATH_OPS ((int)(sizeof vmath_ops / sizeof *vmath_ops))

static unsigned vmath_used;       /* bit i: vmath_ops[i], in the file being emitted */
static int clones_used;           /* a kernel of that file is PREFIX_CLONES */

static const char *vmath_name(Op op)
{
    for (int i = 0; i < N_VMATH_OPS; i++)
        if (vmath_ops[i].op == op) {
            vmath_used |= 1u << i;
            return vmath_ops[i].name;
        }
    return NULL;
}

/* Helper functions an emitted file may need; only those used are written
   (clang warns about unused static functions even when inline).  IR_OPS
   names them dil_NAME; the emitted file calls them PREFIX_NAME (every %s
   of the text below is the prefix), so that two emitted files can share
   one translation unit. */
enum { H_SQ = 1, H_SIGN = 2 };
static const struct {
    unsigned flag;
    const char *name, *text;
} helpers[] = {
    {H_SQ, "dil_sq", "static inline double %s_sq(double x) { return x * x; }\n"},
    {H_SIGN, "dil_sign",
     "static inline double %s_sign(double x) { return (double)((x > 0) - (x < 0)); }\n"},
};

static unsigned helpers_used;     /* of the file being emitted */

static void use_helper(const char *fn)
{
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++)
        if (!strcmp(helpers[i].name, fn))
            helpers_used |= helpers[i].flag;
}

/* A node's value in the kernel being printed: emit_kernel points each
   node's scratch field at it for the duration (sched_value's search,
   once per rendered node, cost a tenth of the run on long horizons). */
static const Value *val(const Emitter *e, const Node *n)
{
    (void)e;
    return n->aux;
}

/* ------------------------------------------------------------------ */
/* Rendering element expressions                                        */
/* ------------------------------------------------------------------ */

static void put_expr(Emitter *e, Str *s, Node *n, Aff r, Aff c);

static void put_double(Str *s, double d)
{
    char buf[40];
    rat_format_double(d, buf);
    if (signbit(d))
        sput(s, "(%s)", buf);
    else
        sput(s, "%s", buf);
}

static void put_const(Str *s, mpq_srcptr q)
{
    double d;
    if (rat_to_double(q, &d) != 0)
        unreachable();            /* sema rejects constants beyond double */
    put_double(s, d);
}

/* Where element (r, c) of a stored value is: base[*ix], or the scalar
   local base (*ix unused).  A root of a loop body stored in its row
   (HOME_STACK) is an element of the LOOP node's storage. */
static const char *stored_at(const Emitter *e, const Value *v, Aff r, Aff c, Aff *ix)
{
    switch (v->home) {
    case HOME_LOCAL:
        *ix = aff_const(0);
        return arena_printf("s%d", v->node->id);
    case HOME_WORK:
        *ix = aff_lin(0, v->ld, r, 1, c);
        return arena_printf("t%d", v->node->id);
    case HOME_OUT:
        *ix = aff_lin(v->off, v->ld, r, 1, c);
        return e->k->info->outs[v->out];
    case HOME_STACK: {
        Aff row = aff_plus_t(aff_lin(v->off, v->ld, r, 1, c), v->tstride);
        return stored_at(e, val(e, v->owner), row, aff_const(0), ix);
    }
    case HOME_STASH:
        *ix = aff_plus_t(aff_lin(v->off, v->ld, r, 1, c), v->tstride);
        return arena_printf("h%d", v->owner->id);
    case HOME_STATE:
        *ix = aff_lin(v->off, v->ld, r, 1, c);
        return "state";
    case HOME_FUSED: case HOME_NONE:
        break;
    }
    unreachable();
}

/* Element f (affine) of a value stored contiguously, row-major. */
static const char *stored_flat(const Emitter *e, const Value *v, Aff f, Aff *ix)
{
    const char *base = stored_at(e, v, aff_const(0), aff_const(0), ix);
    *ix = aff_lin(0, 1, *ix, 1, f);
    return base;
}

static void put_storage(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    const Value *v = val(e, n);
    Aff ix;
    const char *base = stored_at(e, v, r, c, &ix);
    if (v->home == HOME_LOCAL) {
        sput(s, "%s", base);
        return;
    }
    if (e->hoist != NULL && ix.cj == 0 && ix.cl == 0 && e->nhoist < HOIST_MAX) {
        Str t = {0};
        aff_put(&t, ix);
        e->hoist[e->nhoist++] = arena_printf("const double hj%d = %s[%s];", e->nhj, base, t.p);
        sput(s, "hj%d", e->nhj++);
        free(t.p);
        return;
    }
    sput(s, "%s[", base);
    aff_put(s, ix);
    sput(s, "]");
}

/* Element `row` of a LOOP node's value (rank 1), wherever it is. */
static void put_loop_elem(Emitter *e, Str *s, Node *loop, Aff row)
{
    put_storage(e, s, loop, row, aff_const(0));
}

/* Element (r, c) of the member t + lag of state k of loop lp: a row of
   its stack in the loop's storage. */
static Aff member_row(const Loop *lp, int k, long lag, Aff r, Aff c)
{
    const LoopState *st = &lp->st[k];
    long w = (long)st->rows * st->cols;
    return aff_plus_t(aff_lin(st->offset + (lag - st->kmin) * w, st->cols, r, 1, c), w);
}

/* x^2 as PREFIX_sq(x), x^-1 as 1/x: exact and much cheaper than pow. */
static void put_pow(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    Node *a = n->args[0], *b = n->args[1];
    Aff z = aff_const(0), ra = a->rank ? r : z, ca = a->rank ? c : z;
    if (ir_is_const(b, 2)) {
        use_helper("dil_sq");
        sput(s, "%ssq(", e->prefix);
        put_expr(e, s, a, ra, ca);
        sput(s, ")");
        return;
    }
    if (ir_is_const(b, -1)) {
        sput(s, "(1.0 / ");
        put_expr(e, s, a, ra, ca);
        sput(s, ")");
        return;
    }
    sput(s, "pow(");
    put_expr(e, s, a, ra, ca);
    sput(s, ", ");
    put_expr(e, s, b, b->rank ? r : z, b->rank ? c : z);
    sput(s, ")");
}

/* "(a[ra, ca] op b[rb, cb])" */
static void put_infix(Emitter *e, Str *s, Node *a, Aff ra, Aff ca, const char *op, Node *b, Aff rb,
                      Aff cb)
{
    sput(s, "(");
    put_expr(e, s, a, ra, ca);
    sput(s, " %s ", op);
    put_expr(e, s, b, rb, cb);
    sput(s, ")");
}

/* Element (r, c) of n computed from its arguments (n's own operation).
   (Long: one case per class of the op table, each a few lines.) */
static void put_op(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    Node *a = n->nargs > 0 ? n->args[0] : NULL;
    Node *b = n->nargs > 1 ? n->args[1] : NULL;
    Aff z = aff_const(0);
    switch (n->op) {
    case OP_CONST:
        put_const(s, n->q);
        return;
    case OP_NAMED:
        put_double(s, ir_named_value(n->named));
        return;
    case OP_LEAF:
        sput(s, "%s[", kernel_block_param(e->k->id, n->block));
        aff_put(s, aff_lin(n->offset, n->cols, r, 1, c));
        sput(s, "]");
        return;
    case OP_EYE:
        if (aff_is_const(r) && aff_is_const(c)) {
            sput(s, r.k == c.k ? "1.0" : "0.0");
            return;
        }
        sput(s, "(");
        aff_put(s, r);
        sput(s, " == ");
        aff_put(s, c);
        sput(s, " ? 1.0 : 0.0)");
        return;
    case OP_BCAST:
        put_expr(e, s, a, z, z);
        return;
    case OP_ITER:
        sput(s, "(double)t");
        return;
    case OP_CARRY:                /* member t + lag, stored by an earlier iteration */
        put_loop_elem(e, s, n->loop->node, member_row(n->loop, n->state, n->offset, r, c));
        return;
    case OP_TVIEW: {
        const Map *m = &n->map;
        Aff ra = aff_plus_t(aff_lin(m->r0, m->arr, r, m->arc, c), n->trow);
        Aff ca = aff_plus_t(aff_lin(m->c0, m->acr, r, m->acc, c), n->tcol);
        put_expr(e, s, a, ra, ca);
        return;
    }
    case OP_VIEW: {
        const Map *m = &n->map;
        Aff ra = aff_lin(m->r0, m->arr, r, m->arc, c);
        Aff ca = aff_lin(m->c0, m->acr, r, m->acc, c);
        put_expr(e, s, a, ra, ca);
        return;
    }
    case OP_OUTER:                /* a[r] * b[c] */
        put_infix(e, s, a, r, z, "*", b, c, z);
        return;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV:   /* a scalar operand broadcasts */
        put_infix(e, s, a, a->rank ? r : z, a->rank ? c : z, ir_op_name[n->op], b,
                  b->rank ? r : z, b->rank ? c : z);
        return;
    case OP_POW:
        put_pow(e, s, n, r, c);
        return;
    case OP_NEG:
        sput(s, "(-");
        put_expr(e, s, a, r, c);
        sput(s, ")");
        return;
    default:
        if (ir_is_elementwise(n->op) && vmath_name(n->op)) {
            sput(s, "%s%s(", e->prefix, vmath_name(n->op));
            put_expr(e, s, a, r, c);
            sput(s, ")");
            return;
        }
        if (ir_is_elementwise(n->op) && ir_op_cfn[n->op]) {
            const char *fn = ir_op_cfn[n->op];
            use_helper(fn);
            if (!strncmp(fn, "dil_", 4))
                sput(s, "%s%s(", e->prefix, fn + 4);      /* a helper, prefixed */
            else
                sput(s, "%s(", fn);
            put_expr(e, s, a, r, c);
            sput(s, ")");
            return;
        }
        unreachable();            /* reductions are never fused */
    }
}

static void put_expr(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    if (val(e, n)->home != HOME_FUSED)
        put_storage(e, s, n, r, c);
    else
        put_op(e, s, n, r, c);
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */
/* ------------------------------------------------------------------ */

static void line(Emitter *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void line(Emitter *e, const char *fmt, ...)
{
    for (int i = 0; i < e->depth + 1; i++)
        fputs("    ", e->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(e->out, fmt, ap);
    va_end(ap);
    fputc('\n', e->out);
}

/* Opens loops over rows x cols with variables i, j; a dimension of size 1
   gets no loop and the constant 0.  Returns the number of loops opened. */
static int open_loops(Emitter *e, int rows, int cols, Aff *r, Aff *c)
{
    int n = 0;
    *r = aff_const(0);
    *c = aff_const(0);
    if (rows > 1) {
        line(e, "for (int i = 0; i < %d; i++) {", rows);
        e->depth++;
        *r = aff_i();
        n++;
    }
    if (cols > 1) {
        line(e, "for (int j = 0; j < %d; j++) {", cols);
        e->depth++;
        *c = aff_j();
        n++;
    }
    return n;
}

static void close_loops(Emitter *e, int n)
{
    while (n--) {
        e->depth--;
        line(e, "}");
    }
}

/* "base[index] op= expression" for element (r, c) of a store. */
static void store(Emitter *e, const char *base, long off, long ld, Aff r, Aff c, const char *op,
                  Str *val)
{
    Str s = {0};
    aff_put(&s, aff_lin(off, ld, r, 1, c));
    line(e, "%s[%s] %s %s;", base, s.p, op, val->p);
    free(s.p);
}

/* "base[ix] op= expression" */
static void store_at(Emitter *e, const char *base, Aff ix, const char *op, const char *text)
{
    Str s = {0};
    aff_put(&s, ix);
    line(e, "%s[%s] %s %s;", base, s.p, op, text);
    free(s.p);
}

/* A store into n's own storage. */
static void store_value(Emitter *e, Node *n, Aff r, Aff c, const char *op, Str *val_text)
{
    Aff ix;
    const char *base = stored_at(e, val(e, n), r, c, &ix);
    store_at(e, base, ix, op, val_text->p);
}

/* ------------------------------------------------------------------ */
/* Stored nodes                                                         */
/* ------------------------------------------------------------------ */

/*
 * The loops over element (r, c) of a rows x cols value and the text of
 * node n's element there (put_op when `op`, else put_expr), for the caller
 * to store and then close the loops it was given.  Over a matrix the
 * stored values read at an index without j (the column vector of an outer
 * product, a row's scale) are read into locals hjN before the j loop.
 * Without that, a read from the output array being written
 * (out_theta[i + 2500] * state[j] into out_theta[500*i + j + 1500]) may
 * alias the row as far as gcc can tell, and it vectorises nothing:
 * node_vdp's residual_vjp_theta_apply took twice as long.  The same loads
 * and arithmetic, so the same bits.
 */
static int open_map(Emitter *e, Node *n, int op, int rows, int cols, Aff *r, Aff *c, Str *s)
{
    const char *hoisted[HOIST_MAX];
    if (rows == 1 || cols == 1) {
        int loops = open_loops(e, rows, cols, r, c);
        (op ? put_op : put_expr)(e, s, n, *r, *c);
        return loops;
    }
    *r = aff_i();
    *c = aff_j();
    line(e, "for (int i = 0; i < %d; i++) {", rows);
    e->depth++;
    e->hoist = hoisted;
    e->nhoist = 0;
    (op ? put_op : put_expr)(e, s, n, *r, *c);
    e->hoist = NULL;
    for (int k = 0; k < e->nhoist; k++)
        line(e, "%s", hoisted[k]);
    line(e, "for (int j = 0; j < %d; j++) {", cols);
    e->depth++;
    return 2;
}

/* Puts n's value in its storage by a loop over its shape. */
static void emit_map(Emitter *e, Node *n)
{
    Aff r, c;
    if (val(e, n)->home == HOME_LOCAL) {
        Str s = {0};
        put_op(e, &s, n, aff_const(0), aff_const(0));
        line(e, "const double s%d = %s;", n->id, s.p);
        free(s.p);
        return;
    }
    Str s = {0};
    int loops = open_map(e, n, 1, n->rows, n->cols, &r, &c, &s);
    store_value(e, n, r, c, "=", &s);
    free(s.p);
    close_loops(e, loops);
}

/* The value of a scalar reduction is in local accN; move it to storage. */
static void finish_scalar(Emitter *e, Node *n, const char *acc)
{
    const Value *v = val(e, n);
    if (v->home == HOME_LOCAL)
        return;
    Aff ix;
    const char *base = stored_at(e, v, aff_const(0), aff_const(0), &ix);
    store_at(e, base, ix, "=", acc);
}

/*
 * acc = the sum of term(l) for l < k in SCHED_LANES partial sums (Value.lanes,
 * schedule.c's pass_lanes): lane q adds the terms l = q mod SCHED_LANES in
 * order, the last k mod SCHED_LANES terms after the loop, and the lanes are
 * added pairwise, ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)), into a new
 * local `acc`.  One statement per lane, not a loop over an array of
 * them: gcc -O2 keeps named locals in (vector) registers, an array in
 * memory.
 */
typedef struct Term {
    Node *a, *b;              /* a(r, l) * b(l, c), or a(l) alone (b NULL) */
    Aff r, c;
    int a_vec, b_vec;         /* indexed by l alone */
    int a_row;                /* a is a row vector: l is its column */
} Term;

static void put_term(Emitter *e, Str *s, const Term *t, Aff l)
{
    Aff z = aff_const(0);
    if (t->a_vec)
        put_expr(e, s, t->a, t->a_row ? z : l, t->a_row ? l : z);
    else
        put_expr(e, s, t->a, t->r, l);
    if (t->b == NULL)
        return;
    sput(s, " * ");
    if (t->b_vec)
        put_expr(e, s, t->b, l, z);
    else
        put_expr(e, s, t->b, l, t->c);
}

static void emit_lanes(Emitter *e, const char *acc, int k, const Term *t)
{
    int body = k / SCHED_LANES * SCHED_LANES, q;
    Str s = {0};
    for (q = 0; q < SCHED_LANES; q++)
        sput(&s, "%s%s_%d = 0.0", q ? ", " : "double ", acc, q);
    line(e, "%s;", s.p);
    free(s.p);
    line(e, "for (int l = 0; l < %d; l += %d) {", body, SCHED_LANES);
    e->depth++;
    for (q = 0; q < SCHED_LANES; q++) {
        Aff l = aff_l();
        l.k = q;
        s = (Str){0};
        put_term(e, &s, t, l);
        line(e, "%s_%d += %s;", acc, q, s.p);
        free(s.p);
    }
    e->depth--;
    line(e, "}");
    for (q = 0; body + q < k; q++) {
        s = (Str){0};
        put_term(e, &s, t, aff_const(body + q));
        line(e, "%s_%d += %s;", acc, q, s.p);
        free(s.p);
    }
    line(e, "const double %s = ((%s_0 + %s_1) + (%s_2 + %s_3)) + ((%s_4 + %s_5) + (%s_6 + %s_7));",
         acc, acc, acc, acc, acc, acc, acc, acc, acc);
}

static void emit_sum(Emitter *e, Node *n)
{
    Node *a = n->args[0];
    const char *acc = arena_printf("s%d", n->id);
    if (val(e, n)->lanes) {
        Term t = {a, NULL, aff_const(0), aff_const(0), 1, 0, a->rows == 1};
        emit_lanes(e, acc, (int)ir_size(a), &t);
        finish_scalar(e, n, acc);
        return;
    }
    line(e, "double %s = 0.0;", acc);
    Aff r, c;
    int loops = open_loops(e, a->rows, a->cols, &r, &c);
    Str s = {0};
    put_expr(e, &s, a, r, c);
    line(e, "%s += %s;", acc, s.p);
    free(s.p);
    close_loops(e, loops);
    finish_scalar(e, n, acc);
}

/* log sum exp with the maximum factored out, so that no exp overflows. */
static void emit_lse(Emitter *e, Node *n)
{
    Node *a = n->args[0];
    const char *acc = arena_printf("s%d", n->id);
    Aff r, c;
    Str s = {0};
    put_expr(e, &s, a, aff_const(0), aff_const(0));
    line(e, "double m%d = %s;", n->id, s.p);
    free(s.p);
    int loops = open_loops(e, a->rows, a->cols, &r, &c);
    s = (Str){0};
    put_expr(e, &s, a, r, c);
    line(e, "if (%s > m%d) m%d = %s;", s.p, n->id, n->id, s.p);
    free(s.p);
    close_loops(e, loops);
    line(e, "double %s = 0.0;", acc);
    loops = open_loops(e, a->rows, a->cols, &r, &c);
    s = (Str){0};
    put_expr(e, &s, a, r, c);
    line(e, "%s += exp(%s - m%d);", acc, s.p, n->id);
    free(s.p);
    close_loops(e, loops);
    line(e, "%s = m%d + log(%s);", acc, n->id, acc);
    finish_scalar(e, n, acc);
}

/* A matrix-vector product streamed over the rows of its matrix
   (schedule.c, pass_matvec): out[i] = 0, then out[i] += M(i, l) * vec[l]
   for l in order; the same operations per element as the dot-product
   loop, so the same bits. */
static void emit_matvec_rows(Emitter *e, Node *n)
{
    Node *a = n->args[0], *b = n->args[1];
    int k = a->rank == 2 ? a->cols : a->rows;
    int len = n->rows;
    Aff z = aff_const(0), i = aff_i(), l = aff_l();
    Str zero = {0}, vec = {0}, mat = {0};
    sput(&zero, "0.0");
    line(e, "for (int i = 0; i < %d; i++)", len);
    e->depth++;
    store_value(e, n, i, z, "=", &zero);
    e->depth--;
    line(e, "for (int l = 0; l < %d; l++) {", k);
    e->depth++;
    put_expr(e, &vec, a->rank == 2 ? b : a, l, z);
    line(e, "const double vl = %s;", vec.p);
    if (a->rank == 2) {
        put_expr(e, &mat, a, i, l);
        sput(&mat, " * vl");
    } else {
        sput(&mat, "vl * ");
        put_expr(e, &mat, b, l, i);
    }
    line(e, "for (int i = 0; i < %d; i++)", len);
    e->depth++;
    store_value(e, n, i, z, "+=", &mat);
    e->depth -= 2;
    line(e, "}");
    free(zero.p);
    free(vec.p);
    free(mat.p);
}

/* acc = the sum of term(l) for l < k, one accumulator, l in order. */
static void emit_dot(Emitter *e, const Term *t, int k)
{
    Str s = {0};
    line(e, "double acc = 0.0;");
    put_term(e, &s, t, k > 1 ? aff_l() : aff_const(0));
    if (k > 1)
        line(e, "for (int l = 0; l < %d; l++)", k);
    e->depth += k > 1;
    line(e, "acc += %s;", s.p);
    e->depth -= k > 1;
    free(s.p);
}

/* C = A B with A m x k, B k x n (vectors as the SPEC pairs them). */
static void emit_matmul(Emitter *e, Node *n)
{
    Node *a = n->args[0], *b = n->args[1];
    if (val(e, n)->rowwise) {
        emit_matvec_rows(e, n);
        return;
    }
    int k = a->rank == 2 ? a->cols : a->rows;
    int rows = a->rank == 2 ? a->rows : 1;
    int cols = b->rank == 2 ? b->cols : 1;
    Aff r, c;
    /* Output element (r, c); a vector result is indexed by its only index. */
    int loops = open_loops(e, rows, cols, &r, &c);
    if (loops == 0) {
        line(e, "{");
        e->depth++;
    }
    Aff out_r = r, out_c = c;
    if (a->rank == 1) {           /* row vector times matrix: index is the column */
        out_r = c;
        out_c = aff_const(0);
    }
    Term t = {a, b, r, c, a->rank == 1, b->rank == 1, 0};
    if (val(e, n)->lanes)
        emit_lanes(e, "acc", k, &t);
    else
        emit_dot(e, &t, k);
    Str v = {0};
    sput(&v, "acc");
    store_value(e, n, out_r, out_c, "=", &v);
    free(v.p);
    close_loops(e, loops ? loops : 1);
}

/* Zeros elements [f, g) of an assembly. */
static void zero_range(Emitter *e, Node *n, long f, long g)
{
    Aff ix0;
    const char *base = stored_flat(e, val(e, n), aff_const(0), &ix0);
    if (g <= f)
        return;
    if (g - f == 1) {
        store_at(e, base, aff_lin(f, 1, ix0, 0, ix0), "=", "0.0");
    } else if (aff_is_const(ix0)) {
        line(e, "for (int i = %ld; i < %ld; i++) %s[i] = 0.0;", ix0.k + f, ix0.k + g, base);
    } else {                  /* in a row of a loop's stack */
        Str ix = {0};
        aff_put(&ix, aff_lin(f, 1, ix0, 1, aff_i()));
        line(e, "for (int i = 0; i < %ld; i++) %s[%s] = 0.0;", g - f, base, ix.p);
        free(ix.p);
    }
}

/* Clears what no exclusive piece writes: the boxes of cv->zero (cover.c
   finds them from the placements, so the cost never depends on the size
   of the tensors).  A box that is a flat run is one loop; any other box
   is two.  The base may be a row of a loop's stack (t in its index). */
static void emit_zero(Emitter *e, Node *n, const Cover *cv)
{
    long cols = n->cols;
    for (int z = 0; z < cv->nzero; z++) {
        const CoverBox *b = &cv->zero[z];
        if (b->r1 - b->r0 == 1 || (b->c0 == 0 && b->c1 == cols)) {
            zero_range(e, n, b->r0 * cols + b->c0, (b->r1 - 1) * cols + b->c1);
            continue;
        }
        Aff ix;
        const char *base = stored_flat(e, val(e, n), aff_lin(b->c0, cols, aff_i(), 1, aff_j()),
                                       &ix);
        Str is = {0};
        aff_put(&is, ix);
        line(e, "for (int i = %ld; i < %ld; i++)", b->r0, b->r1);
        line(e, "    for (int j = 0; j < %ld; j++) %s[%s] = 0.0;", b->c1 - b->c0, base, is.p);
        free(is.p);
    }
}

static void emit_assemble(Emitter *e, Node *n)
{
    /* Elements no exclusive piece writes start at zero; pieces that
       overlap others are then added in. */
    Cover cv;
    cover_of(n, &cv);
    emit_zero(e, n, &cv);
    for (int p = 0; p < n->nargs; p++) {
        Node *pc = n->args[p];
        if (sched_piece_in_place(val(e, n), val(e, pc), p))
            continue;             /* already computed in place */
        long f0, fr, fc;
        assembly_place_flat(n, p, &f0, &fr, &fc);
        Aff r, c;
        Str s = {0};
        int loops = open_map(e, pc, 0, pc->rows, pc->cols, &r, &c, &s);
        Aff ix;
        const char *base = stored_flat(e, val(e, n), aff_lin(f0, fr, r, fc, c), &ix);
        store_at(e, base, ix, cv.excl[p] ? "=" : "+=", s.p);
        free(s.p);
        close_loops(e, loops);
    }
}

static void emit_compute(Emitter *e, Node *n)
{
    const Value *v = val(e, n);
    if (v->home == HOME_WORK)
        line(e, "double *const t%d = work + %ld;", n->id, v->off);
    switch (n->op) {
    case OP_SUM: emit_sum(e, n); break;
    case OP_LSE: emit_lse(e, n); break;
    case OP_MATMUL: emit_matmul(e, n); break;
    case OP_ASSEMBLE: emit_assemble(e, n); break;
    default:
        if (!sched_is_map(n))
            unreachable();
        emit_map(e, n);
    }
}

/* ------------------------------------------------------------------ */
/* Rolled loops                                                         */
/* ------------------------------------------------------------------ */

/* loop[at + i] = 0.0 for i < n. */
static void zero_run(Emitter *e, Node *loop, long at, long n)
{
    if (n <= 0)
        return;
    Aff ix;
    const char *base = stored_flat(e, val(e, loop), aff_const(at), &ix);
    if (n == 1) {
        store_at(e, base, ix, "=", "0.0");
        return;
    }
    Str s = {0};
    aff_put(&s, aff_lin(0, 1, ix, 1, aff_i()));
    line(e, "for (int i = 0; i < %ld; i++) %s[%s] = 0.0;", n, base, s.p);
    free(s.p);
}

/* Before the loop: the init rows of each state copied in, rows that
   neither the init nor an iteration writes zeroed, the sums zeroed. */
static void emit_loop_init(Emitter *e, const LoopSched *ls)
{
    Node *L = ls->node;
    const Loop *lp = L->loop;
    for (int k = 0; k < lp->nst; k++) {
        const LoopState *st = &lp->st[k];
        if (!ls->st_live[k])
            continue;
        long w = (long)st->rows * st->cols, rows = st->kmax - st->kmin;
        long b0 = lp->lo + st->d - st->kmin, b1 = lp->hi + st->d - st->kmin;
        long i0 = st->init ? st->init_k0 - st->kmin : b0, i1 = st->init ? i0 + st->ninit : b0;
        /* rows [0, rows) less the two written runs [b0, b1), [i0, i1) */
        long a0 = i0 < b0 ? i0 : b0, a1 = i0 < b0 ? i1 : b1;
        long c0 = i0 < b0 ? b0 : i0, c1 = i0 < b0 ? b1 : i1;
        if (c1 <= c0)
            c0 = c1 = a1;
        zero_run(e, L, st->offset, a0 * w);
        zero_run(e, L, st->offset + a1 * w, (c0 - a1) * w);
        zero_run(e, L, st->offset + c1 * w, (rows - c1) * w);
        if (!st->init)
            continue;
        Aff r, c;
        int loops = open_loops(e, st->init->rows, 1, &r, &c);
        Str s = {0};
        put_expr(e, &s, st->init, r, c);
        Aff ix;
        const char *base = stored_flat(e, val(e, L), aff_lin(st->offset + i0 * w, 1, r, 0, c), &ix);
        store_at(e, base, ix, "=", s.p);
        free(s.p);
        close_loops(e, loops);
    }
    for (int k = 0; k < lp->nsum; k++)
        if (ls->sum_live[k])
            zero_run(e, L, lp->sum_off[k], ir_size(lp->sum[k]));
}

/* After the body's steps: each state's row t + d, unless the body
   computed it in place, and each sum's term. */
static void emit_loop_stores(Emitter *e, const LoopSched *ls)
{
    Node *L = ls->node;
    const Loop *lp = L->loop;
    const Value *lv = val(e, L);
    for (int j = 0; j < ls->nsteps; j++) {
        const Value *v = val(e, ls->steps[j].node);
        if (sched_stash_copy(v))
            store_at(e, arena_printf("h%d", L->id), aff_plus_t(aff_const(v->off), v->tstride),
                     "=", arena_printf("s%d", v->node->id));
    }
    for (int k = 0; k < lp->nst + lp->nsum; k++) {
        int is_sum = k >= lp->nst;
        Node *b = is_sum ? lp->sum[k - lp->nst] : lp->st[k].body;
        if (is_sum ? !ls->sum_live[k - lp->nst]
                   : !ls->st_live[k] || sched_row_in_place(e->s, ls, k))
            continue;
        Aff r, c, ix;
        int loops = open_loops(e, b->rows, b->cols, &r, &c);
        Str s = {0};
        put_expr(e, &s, b, r, c);
        Aff at = is_sum ? aff_lin(lp->sum_off[k - lp->nst], b->cols, r, 1, c)
                        : member_row(lp, k, lp->st[k].d, r, c);
        const char *base = stored_at(e, lv, at, aff_const(0), &ix);
        store_at(e, base, ix, is_sum ? "+=" : "=", s.p);
        free(s.p);
        close_loops(e, loops);
    }
}

static void emit_compute(Emitter *e, Node *n);

/* A rolled loop: one C loop over t around its body's steps. */
static void emit_loop(Emitter *e, const LoopSched *ls)
{
    Node *L = ls->node;
    const Loop *lp = L->loop;
    const Value *lv = val(e, L);
    if (lv->home == HOME_WORK)
        line(e, "double *const t%d = work + %ld;", L->id, lv->off);
    if (ls->stash_w > 0)
        line(e, "double *const h%d = work + %ld;", L->id, ls->stash_off);
    emit_loop_init(e, ls);
    if (lp->dir > 0)
        line(e, "for (long t = %ld; t < %ld; t++) {", lp->lo, lp->hi);
    else
        line(e, "for (long t = %ld; t >= %ld; t--) {", lp->hi - 1, lp->lo);
    e->depth++;
    for (int j = 0; j < ls->nsteps; j++)
        emit_compute(e, ls->steps[j].node);
    emit_loop_stores(e, ls);
    e->depth--;
    line(e, "}");
}

/* An output written by a loop of its own: a leaf, a constant, or a copy
   of a node another output holds. */
static void emit_copy(Emitter *e, Node *o, int out)
{
    Aff r, c;
    Str s = {0};
    /* a value cheap to recompute is computed again here, not copied */
    int loops = open_map(e, o, sched_copy_recomputes(val(e, o)), o->rows, o->cols, &r, &c, &s);
    store(e, e->k->info->outs[out], 0, o->cols, r, c, "=", &s);
    free(s.p);
    close_loops(e, loops);
}

/* ------------------------------------------------------------------ */
/* One kernel                                                           */
/* ------------------------------------------------------------------ */

/* The C signature of SPEC section 4, from the kernel's row of KERNELS;
   an apply kernel takes the state before its direction, linearise and
   the fused kernels write it (before their outputs; runtime/dil_model.h). */
/* rq is "" in the header and "restrict " in the definition: arrays of a
   call never overlap where one is written (dil_model.h), and without
   saying so gcc -O2 vectorises no loop that reads theta and writes work
   (it would need a run-time alias check, which its cheap cost model
   refuses).  Qualifiers of parameters are not part of the function's
   type, so both declare the same function. */
static const char *signature(const KernelInfo *ki, Form form, const char *prefix, const char *rq)
{
    const char *in = arena_printf("const double *%sy, const double *%sx, const double *%stheta",
                                  rq, rq, rq);
    const char *extra = "";
    if (ki->data)
        extra = arena_printf("%sconst double *%sdata, ", extra, rq);
    if (form != FORM_PLAIN)
        extra = arena_printf("%s%sdouble *%sstate, ", extra, form == FORM_APPLY ? "const " : "",
                             rq);
    if (ki->dir)
        extra = arena_printf("%sconst double *%s%s, ", extra, rq, ki->dir);
    for (int i = 0; i < ki->nouts; i++)
        extra = arena_printf("%sdouble *%s%s, ", extra, rq, ki->outs[i]);
    return arena_printf("%s %s_%s%s(%s,%s%sdouble *%swork)", ki->returns ? "double" : "void",
                        prefix, ki->name, form == FORM_APPLY ? "_apply" : "", in,
                        *extra ? "\n    " : " ", extra, rq);
}

/* The parameters a kernel's body never reads, as (void) statements. */
static void put_unused(FILE *fp, const KernelSchedule *ks)
{
    const Kernel *k = ks->k;
    for (int b = BLK_Y; b <= BLK_THETA; b++)
        if (!ks->reads[b])
            fprintf(fp, "    (void)%s;\n", ir_block_name[b]);
    if (k->info->data && !ks->reads[BLK_DATA])
        fputs("    (void)data;\n", fp);
    if (k->info->dir && !ks->reads[kernel_dir_block(k->id)])
        fprintf(fp, "    (void)%s;\n", k->info->dir);
    for (int i = 0; i < k->info->nouts; i++)
        if (k->outs[i].len == 0)
            fprintf(fp, "    (void)%s;\n", k->info->outs[i]);
    if (ks->work == 0)
        fputs("    (void)work;\n", fp);
}

/*
 * Kernels with vector loops are compiled twice where the toolchain can
 * pick a version at load time: for AVX2 and for the baseline
 * (target_clones, an ifunc of glibc's dynamic loader; GCC 6 or later on
 * x86-64.  Clang 14 names the dispatcher `NAME.ifunc` and defines no
 * plain NAME, so a kernel called by its name would not link: its builds
 * get the baseline).  Our loops are written for the vectoriser (compiler/vmath.h,
 * the lanes of long sums), and twice the lanes is up to twice the speed on
 * the machines that have them, at -O2, without -march; PyTorch does the
 * same by run-time dispatch.  The two versions give the same bits: "avx2"
 * does not include FMA, so no multiply-add is ever contracted, and the
 * order of every sum is fixed by the text (tests/golden/clones.sh
 * compares them).  DIL_NO_CLONES compiles the baseline only.
 */
static const char clones_text[] =
    "/* %s_CLONES: kernels with vector loops in two versions, AVX2 and the\n"
    "   baseline, the loader picking one for the CPU; the same bits either way\n"
    "   (no FMA; sums in the order written).  -DDIL_NO_CLONES: the baseline only. */\n"
    "#if !defined(DIL_NO_CLONES) && defined(__x86_64__) && defined(__linux__) \\\n"
    "    && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 6\n"
    "#define %s_CLONES __attribute__((target_clones(\"avx2\", \"default\")))\n"
    "#else\n"
    "#define %s_CLONES\n"
    "#endif\n\n";

/* 1 when a kernel has a loop worth vectorising (a value of 4 or more
   elements). */
static int has_vector_loop(const KernelSchedule *ks)
{
    for (int i = 0; i < ks->n; i++)
        if (ir_size(ks->order[i]) >= 4)
            return 1;
    return 0;
}

/* Prints one kernel's schedule as a C function. */
static void emit_kernel(FILE *fp, const KernelSchedule *ks, const char *prefix)
{
    Emitter e;
    memset(&e, 0, sizeof e);
    e.s = ks;
    e.k = ks->k;
    e.out = fp;
    e.prefix = arena_printf("%s_", prefix);
    for (int i = 0; i < ks->n; i++)
        ks->order[i]->aux = &ks->val[i];
    int clones = has_vector_loop(ks);
    clones_used |= clones;
    fprintf(fp, "/* %s%s */\n%s%s\n{\n", ks->k->info->doc,
            ks->form == FORM_APPLY ? ", from the state of linearise" : "",
            clones ? arena_printf("%s_CLONES ", prefix) : "",
            signature(ks->k->info, ks->form, prefix, "restrict "));
    put_unused(fp, ks);
    for (int i = 0; i < ks->nsteps; i++) {
        const Step *st = &ks->steps[i];
        switch (st->kind) {
        case STEP_COMPUTE:
            emit_compute(&e, st->node);
            break;
        case STEP_COPY:
            emit_copy(&e, st->node, st->out);
            break;
        case STEP_LOOP:
            emit_loop(&e, &ks->loops[st->out]);
            break;
        case STEP_RETURN: {
            Str s = {0};
            put_expr(&e, &s, st->node, aff_const(0), aff_const(0));
            line(&e, "return %s;", s.p);
            free(s.p);
            break;
        }
        }
    }
    fputs("}\n\n", fp);
    for (int i = 0; i < ks->n; i++)
        ks->order[i]->aux = NULL;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

/* "DIL_ROLE_INPUT" etc.: the runtime's constant for a role. */
static const char *role_const(Role r)
{
    char *c = arena_printf("DIL_ROLE_%s", role_name[r]);
    for (char *t = c; *t; t++)
        if (*t >= 'a' && *t <= 'z')
            *t = (char)(*t - 'a' + 'A');
    return c;
}

/* The kernels, after the helper functions they use (known only once the
   kernels are written, so they go through a buffer). */
static void emit_kernels(FILE *fp, const Schedule *sc, const char *p)
{
    char *kbuf = NULL;
    size_t klen = 0;
    FILE *kf = open_memstream(&kbuf, &klen);
    if (!kf)
        dil_fatal("out of memory");
    helpers_used = 0;
    vmath_used = 0;
    clones_used = 0;
    for (int i = 0; i < K__COUNT; i++)
        if (sc->k[i].k)
            emit_kernel(kf, &sc->k[i], p);
    if (sc->lin.k)
        emit_kernel(kf, &sc->lin, p);
    for (int i = 0; i < K__COUNT; i++)
        if (sc->apply[i].k)
            emit_kernel(kf, &sc->apply[i], p);
    for (int i = 0; i < FUSED__COUNT; i++)
        if (sc->fused[i].k)
            emit_kernel(kf, &sc->fused[i], p);
    fclose(kf);
    const char *names[N_VMATH_OPS];
    int nnames = 0;
    for (int i = 0; i < N_VMATH_OPS; i++)
        if (vmath_used & (1u << i))
            names[nnames++] = vmath_ops[i].name;
    if (vmath_write(fp, arena_printf("%s_", p), names, nnames) != 0)
        unreachable();            /* every name of vmath_ops is in the table */
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++)
        if (helpers_used & helpers[i].flag) {
            fprintf(fp, helpers[i].text, p);
            fputc('\n', fp);
        }
    if (clones_used)
        fprintf(fp, clones_text, p, p, p);
    fwrite(kbuf, 1, klen, fp);
    free(kbuf);
}

/* Text from the command line (a file name) made safe inside a C comment:
   a "*" before "/" would end it, and control bytes have no business in a
   source file, so the slash becomes "\/" and a control byte '?'. */
static const char *comment_text(const char *s)
{
    if (!s)
        return "(unnamed)";
    char *t = arena_alloc(2 * strlen(s) + 1), *o = t;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '/' && c > (const unsigned char *)s && c[-1] == '*')
            *o++ = '\\';
        *o++ = *c < 0x20 || *c == 0x7f ? '?' : (char)*c;
    }
    *o = '\0';
    return t;
}

const char *emit_reserved_prefix(const char *p)
{
    static const char *const spaces[] = {"dil", "dili", "DIL"};
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++) {
        size_t n = strlen(spaces[i]);
        if (!strncmp(p, spaces[i], n) && (p[n] == '\0' || p[n] == '_'))
            return arena_printf("its names (%s_model, ...) would fall in libdil's namespace "
                                "'%s_'", p, spaces[i]);
    }
    if (p[0] == '_')
        return "C reserves names that begin with an underscore";
    return NULL;
}

/* Runs of one default at least this long are written as macros; shorter
   ones as plain literals, eight to a line, which read better. */
#define RUN_MACRO_MIN 256

/* A run of equal defaults in theta_init. */
typedef struct Run {
    char val[40];
    long len;
} Run;

/* The defaults, up to the last nonzero one, as runs of equal values. */
static Run *default_runs(const Model *m, long *nruns, long *last)
{
    *last = 0;
    long at = 0;
    for (int i = 0; i < m->nsyms; i++) {
        const Symbol *s = &m->syms[i];
        if (s->role != ROLE_PARAM)
            continue;
        at += (long)s->rows * s->cols;
        if (s->init && mpq_sgn(s->init) != 0)
            *last = at;
    }
    Run *runs = arena_alloc((size_t)(m->nsyms + 1) * sizeof *runs);
    long n = 0, col = 0;
    for (int i = 0; i < m->nsyms && col < *last; i++) {
        const Symbol *s = &m->syms[i];
        if (s->role != ROLE_PARAM)
            continue;
        char buf[40] = "0.0";
        if (s->init) {
            double d;
            if (rat_to_double(s->init, &d) != 0)
                unreachable();
            rat_format_double(d, buf);
        }
        long len = (long)s->rows * s->cols;
        if (len > *last - col)
            len = *last - col;
        col += len;
        if (n > 0 && !strcmp(runs[n - 1].val, buf)) {
            runs[n - 1].len += len;
        } else {
            strcpy(runs[n].val, buf);
            runs[n++].len = len;
        }
    }
    *nruns = n;
    return runs;
}

/* Defaults: only up to the last nonzero element is written (the rest of a
   static array is zero).  A long run of one value is written as a few
   macros that repeat it 2^k times (PREFIX_R5(v) is 32 copies of v), so the
   text grows with the number of parameters, not their sizes; sema bounds
   how many elements the C compiler then reads (MAX_INIT). */
static void emit_theta_init(FILE *fp, const Model *m, const char *p)
{
    long nruns, last;
    Run *runs = default_runs(m, &nruns, &last);
    if (last == 0) {
        fprintf(fp, "static const double %s_theta_init[%d];\n\n", p, m->ntheta);
        return;
    }
    int kmax = -1;            /* largest repetition macro needed */
    for (long r = 0; r < nruns; r++)
        if (runs[r].len >= RUN_MACRO_MIN)
            for (int k = 0; (1L << k) <= runs[r].len; k++)
                kmax = k > kmax ? k : kmax;
    if (kmax >= 0) {
        fprintf(fp, "/* %s_Rk(v): v repeated 2^k times, for long runs of defaults */\n", p);
        fprintf(fp, "#define %s_R0(v) v,\n", p);
        for (int k = 1; k <= kmax; k++)
            fprintf(fp, "#define %s_R%d(v) %s_R%d(v) %s_R%d(v)\n", p, k, p, k - 1, p, k - 1);
    }
    fprintf(fp, "static const double %s_theta_init[%d] = {", p, m->ntheta);
    long col = 0;
    for (long r = 0; r < nruns; r++) {
        if (runs[r].len >= RUN_MACRO_MIN) {
            fputs("\n   ", fp);
            for (int k = 62; k >= 0; k--)
                if (runs[r].len & (1L << k))
                    fprintf(fp, " %s_R%d(%s)", p, k, runs[r].val);
            col = 0;
            continue;
        }
        for (long e = 0; e < runs[r].len; e++, col++)
            fprintf(fp, "%s%s,", col % 8 ? " " : "\n    ", runs[r].val);
    }
    fputs("\n};\n", fp);
    for (int k = 0; k <= kmax; k++)
        fprintf(fp, "#undef %s_R%d\n", p, k);
    fputc('\n', fp);
}

/* state_size, linearise, one pointer per kernel with a direction and the
   fused kernels (runtime/dil_model.h; kern.c checks the order), NULL
   where none. */
static void emit_linearise_members(FILE *fp, const Schedule *sc, const char *p)
{
    fprintf(fp, "    %ld,\n", sc->state);
    if (sc->lin.k)
        fprintf(fp, "    %s_linearise,\n", p);
    else
        fputs("    NULL,\n", fp);
    for (int i = 0; i < K__COUNT; i++) {
        if (!kernel_info[i].dir)
            continue;
        if (sc->apply[i].k)
            fprintf(fp, "    %s_%s_apply,\n", p, kernel_info[i].name);
        else
            fputs("    NULL,\n", fp);
    }
    for (int i = 0; i < FUSED__COUNT; i++) {
        if (sc->fused[i].k)
            fprintf(fp, "    %s_%s,\n", p, fused_info[i].name);
        else
            fputs("    NULL,\n", fp);
    }
}

int emit_c(FILE *fp, const Model *m, const Schedule *sc, const EmitOptions *opt)
{
    const char *p = opt->prefix;
    fprintf(fp,
            "/* %s.c - generated by dilc %s from %s; do not edit.\n"
            " *\n"
            " * Model '%s': ny = %d, nx = %d, ntheta = %d, ndata = %d, nres = %d.\n"
            " * Every kernel is derived symbolically and simplified in exact\n"
            " * arithmetic; scratch comes from `work` (%s_model.work_size doubles).\n"
            " */\n",
            p, DILC_VERSION, comment_text(opt->source_name), m->name, m->ny, m->nx, m->ntheta,
            m->ndata, m->nres, p);
    if (opt->header_name)
        fprintf(fp, "#include \"%s\"\n\n", opt->header_name);
    fputs("#include <math.h>\n#include <stddef.h>\n\n", fp);
    const Kernels *ks = sc->ks;
    emit_kernels(fp, sc, p);
    fprintf(fp, "static const dil_symbol %s_symbols[%d] = {\n", p, m->nsyms ? m->nsyms : 1);
    for (int i = 0; i < m->nsyms; i++) {
        const Symbol *s = &m->syms[i];
        fprintf(fp, "    {\"%s\", %s, %d, {%d, %d}, %d},\n", s->name, role_const(s->role), s->rank,
                s->rows, s->cols, s->offset);
    }
    if (!m->nsyms)
        fputs("    {0}\n", fp);
    fputs("};\n\n", fp);
    if (m->ntheta)
        emit_theta_init(fp, m, p);
    fprintf(fp, "const dil_model %s_model = {\n", p);
    fprintf(fp, "    \"%s\",\n    %d, %d, %d, %d,\n    %d,\n    %ld,\n", m->name, m->ny, m->nx,
            m->ntheta, m->ndata, m->nres, sc->work);
    for (int i = 0; i < K__COUNT; i++) {
        if (ks->k[i].info)
            fprintf(fp, "    %s_%s,\n", p, kernel_info[i].name);
        else
            fputs("    NULL,\n", fp);
    }
    fprintf(fp, "    %s_symbols,\n    %d,\n", p, m->nsyms);
    if (m->ntheta)
        fprintf(fp, "    %s_theta_init,\n", p);
    else
        fputs("    NULL,\n", fp);
    emit_linearise_members(fp, sc, p);
    fputs("};\n", fp);
    return ferror(fp) ? -1 : 0;
}

int emit_h(FILE *fp, const Model *m, const Schedule *sc, const EmitOptions *opt)
{
    const char *p = opt->prefix;
    /* The prefix as it is: upper-casing it made models mm and MM share
       a guard. */
    char *guard = arena_printf("DIL_GENERATED_%s_H", p);
    fprintf(fp,
            "/* %s - generated by dilc %s from %s; do not edit. */\n"
            "#ifndef %s\n#define %s\n\n#include \"dil_model.h\"\n\n"
            "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
            opt->header_name ? comment_text(opt->header_name) : p, DILC_VERSION,
            comment_text(opt->source_name), guard, guard);
    fprintf(fp, "/* Model '%s': ny = %d, nx = %d, ntheta = %d, ndata = %d, nres = %d */\n", m->name,
            m->ny, m->nx, m->ntheta, m->ndata, m->nres);
    fprintf(fp, "extern const dil_model %s_model;\n\n", p);
    fputs("/* The kernels, also reachable through the descriptor. */\n", fp);
    for (int i = 0; i < K__COUNT; i++)
        if (sc->k[i].k)
            fprintf(fp, "%s;\n", signature(&kernel_info[i], FORM_PLAIN, p, ""));
    if (sc->lin.k)
        fprintf(fp, "%s;\n", signature(&linearise_info, FORM_LINEARISE, p, ""));
    for (int i = 0; i < K__COUNT; i++)
        if (sc->apply[i].k)
            fprintf(fp, "%s;\n", signature(&kernel_info[i], FORM_APPLY, p, ""));
    for (int i = 0; i < FUSED__COUNT; i++)
        if (sc->fused[i].k)
            fprintf(fp, "%s;\n", signature(&fused_info[i], FORM_FUSED, p, ""));
    fputs("\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n", fp);
    return ferror(fp) ? -1 : 0;
}
