/*
 * emit.c - kernels to C99: scheduling, scratch allocation, loops.
 *
 * For each kernel the emitter decides which nodes are *materialised*
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
 * Element (r, c) of any fused expression is rendered with affine index
 * expressions in the loop variables (i, j for the node's own shape, l
 * for a reduction), so views (rows, columns, slices, transposes) never
 * copy.  Every loop bound is a model dimension, so the emitted text grows
 * with the model's text and not with its dimensions.
 *
 * Scratch: materialised tensors live in `work`; a slot is released after
 * the last node that reads it and reused first-fit.  The peak over all
 * kernels is the descriptor's work_size.  Outputs assembled from pieces
 * (a gradient is the concatenation of one adjoint per symbol) have those
 * pieces computed directly into the output array.
 */
#include "dilc.h"

#include "cover.h"
#include "kern.h"

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
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        unreachable();
    if (s->n + (size_t)n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            dil_fatal("out of memory");
        s->p = p;
        s->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(s->p + s->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->n += (size_t)n;
}

/* k + ci*i + cj*j + cl*l over the loop variables of the current nest. */
typedef struct Aff {
    long k, ci, cj, cl;
} Aff;

static Aff aff_const(long k) { return (Aff){k, 0, 0, 0}; }
static Aff aff_i(void) { return (Aff){0, 1, 0, 0}; }
static Aff aff_j(void) { return (Aff){0, 0, 1, 0}; }
static Aff aff_l(void) { return (Aff){0, 0, 0, 1}; }

static Aff aff_lin(long k, long a, Aff x, long b, Aff y)
{
    return (Aff){k + a * x.k + b * y.k, a * x.ci + b * y.ci, a * x.cj + b * y.cj,
                 a * x.cl + b * y.cl};
}

static int aff_is_const(Aff a) { return !a.ci && !a.cj && !a.cl; }

static void aff_put(Str *s, Aff a)
{
    int any = 0;
    const long c[3] = {a.ci, a.cj, a.cl};
    const char *v[3] = {"i", "j", "l"};
    for (int t = 0; t < 3; t++) {
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
/* Per-node scheduling state                                           */
/* ------------------------------------------------------------------ */

typedef struct Info {
    int mat;              /* computed once into storage */
    int is_out;           /* storage is an output parameter */
    long demand;          /* evaluations of each element if fused */
    int pos;              /* emission position among materialised nodes */
    int last;             /* last position that reads it */
    int ready;            /* storage holds the value */
    const char *base;     /* storage: base[off + r*ld + c] */
    long off, ld;
    int local;            /* scalar held in local variable sN */
    int slot;             /* index into the work allocations, or -1 */
    int direct;           /* a piece computed into its assembly's storage */
    int fuse_depth;       /* levels of fused operations in its expression */
} Info;

#define MAX_FUSE 24

#define INFO(n) ((Info *)(n)->aux)

typedef struct Stats {
    double arith, calls, loads;
} Stats;

typedef struct Slot {
    long off, size;
    int live;
} Slot;

typedef struct Emitter {
    const Kernel *k;
    FILE *out;
    int used[BLK__COUNT];
    int used_work;
    long trip;            /* iterations of the innermost loop being emitted */
    Stats st;
    Slot *slots;
    int nslots, capslots;
    /* First fit must stay fast with many thousands of slots (a long
       unrolled horizon keeps every step's tensors live until the reverse
       sweep reads them): seg is a max-tree over the free size of each slot
       (0 when live), leaves at segcap + i; top is the end of the highest
       slot. */
    long *seg;
    int segcap;
    long top;
    long peak;
    int depth;            /* indentation */
    const char *prefix;   /* of every emitted name, helpers included */
} Emitter;

/* Helper functions an emitted file may need; only those used are written
   (clang warns about unused static functions even when inline).  IR_OPS
   names them dil_NAME; the emitted file calls them PREFIX_NAME (every %s
   of the text below is the prefix), so that two emitted files can share
   one translation unit. */
enum { H_SQ = 1, H_SIGN = 2, H_SIGMOID = 4, H_SOFTPLUS = 8 };
static const struct {
    unsigned flag;
    const char *name, *text;
} helpers[] = {
    {H_SQ, "dil_sq", "static inline double %s_sq(double x) { return x * x; }\n"},
    {H_SIGN, "dil_sign",
     "static inline double %s_sign(double x) { return (double)((x > 0) - (x < 0)); }\n"},
    {H_SIGMOID, "dil_sigmoid",
     "/* 1 / (1 + e^-x) without overflow for large |x| */\n"
     "static inline double %s_sigmoid(double x)\n"
     "{\n"
     "    if (x >= 0)\n"
     "        return 1.0 / (1.0 + exp(-x));\n"
     "    double e = exp(x);\n"
     "    return e / (1.0 + e);\n"
     "}\n"},
    {H_SOFTPLUS, "dil_softplus",
     "/* log(1 + e^x) without overflow for large x */\n"
     "static inline double %s_softplus(double x)\n"
     "{\n"
     "    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));\n"
     "}\n"},
};

static unsigned helpers_used;     /* of the file being emitted */

static void use_helper(const char *fn)
{
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++)
        if (!strcmp(helpers[i].name, fn))
            helpers_used |= helpers[i].flag;
}

static int is_trivial(const Node *n)
{
    return n->op == OP_LEAF || n->op == OP_CONST || n->op == OP_EYE;
}

/* Ops whose element (r, c) is an expression of their arguments' elements. */
static int is_map(const Node *n)
{
    return is_trivial(n) || n->op == OP_BCAST || n->op == OP_VIEW || n->op == OP_OUTER ||
           ir_is_elementwise(n->op);
}

/* How often one evaluation of element of n reads each element of arg p. */
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
/* Rendering element expressions                                        */
/* ------------------------------------------------------------------ */

static void put_expr(Emitter *e, Str *s, Node *n, Aff r, Aff c);

static void put_const(Str *s, mpq_srcptr q)
{
    double d;
    char buf[40];
    if (rat_to_double(q, &d) != 0)
        unreachable();            /* sema rejects constants beyond double */
    rat_format_double(d, buf);
    if (signbit(d))
        sput(s, "(%s)", buf);
    else
        sput(s, "%s", buf);
}

static void put_storage(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    Info *in = INFO(n);
    e->st.loads += (double)e->trip;
    if (in->local) {
        sput(s, "s%d", n->id);
        return;
    }
    sput(s, "%s[", in->base);
    aff_put(s, aff_lin(in->off, in->ld, r, 1, c));
    sput(s, "]");
}

/* Element (r, c) of n computed from its arguments (n's own operation). */
static void put_op(Emitter *e, Str *s, Node *n, Aff r, Aff c)
{
    Node *a = n->nargs > 0 ? n->args[0] : NULL;
    Node *b = n->nargs > 1 ? n->args[1] : NULL;
    Aff z = aff_const(0);
    switch (n->op) {
    case OP_CONST:
        put_const(s, n->q);
        return;
    case OP_LEAF:
        e->used[n->block] = 1;
        e->st.loads += (double)e->trip;
        sput(s, "%s[", e->k->blkname[n->block]);
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
    case OP_VIEW: {
        const Map *m = &n->map;
        Aff ra = aff_lin(m->r0, m->arr, r, m->arc, c);
        Aff ca = aff_lin(m->c0, m->acr, r, m->acc, c);
        put_expr(e, s, a, ra, ca);
        return;
    }
    case OP_OUTER:
        e->st.arith += (double)e->trip;
        sput(s, "(");
        put_expr(e, s, a, r, z);
        sput(s, " * ");
        put_expr(e, s, b, c, z);
        sput(s, ")");
        return;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
        static const char sym[] = {[OP_ADD] = '+', [OP_SUB] = '-', [OP_MUL] = '*', [OP_DIV] = '/'};
        e->st.arith += (double)e->trip;
        sput(s, "(");
        put_expr(e, s, a, a->rank ? r : z, a->rank ? c : z);
        sput(s, " %c ", sym[n->op]);
        put_expr(e, s, b, b->rank ? r : z, b->rank ? c : z);
        sput(s, ")");
        return;
    }
    case OP_POW: {
        /* Small integer exponents as products: exact and much cheaper. */
        Aff ra = a->rank ? r : z, ca = a->rank ? c : z;
        if (ir_is_const(b, 2)) {
            e->st.arith += (double)e->trip;
            use_helper("dil_sq");
            sput(s, "%s_sq(", e->prefix);
            put_expr(e, s, a, ra, ca);
            sput(s, ")");
            return;
        }
        if (ir_is_const(b, -1)) {
            e->st.arith += (double)e->trip;
            sput(s, "(1.0 / ");
            put_expr(e, s, a, ra, ca);
            sput(s, ")");
            return;
        }
        e->st.calls += (double)e->trip;
        sput(s, "pow(");
        put_expr(e, s, a, ra, ca);
        sput(s, ", ");
        put_expr(e, s, b, b->rank ? r : z, b->rank ? c : z);
        sput(s, ")");
        return;
    }
    case OP_NEG:
        e->st.arith += (double)e->trip;
        sput(s, "(-");
        put_expr(e, s, a, r, c);
        sput(s, ")");
        return;
    default:
        if (ir_is_elementwise(n->op) && ir_op_cfn[n->op]) {
            e->st.calls += (double)e->trip;
            const char *fn = ir_op_cfn[n->op];
            use_helper(fn);
            if (!strncmp(fn, "dil_", 4))
                sput(s, "%s_%s(", e->prefix, fn + 4);     /* a helper, prefixed */
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
    if (INFO(n)->mat && INFO(n)->ready)
        put_storage(e, s, n, r, c);
    else if (INFO(n)->mat && !is_trivial(n))
        unreachable();            /* read before it was computed */
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
        e->trip *= rows;
        *r = aff_i();
        n++;
    }
    if (cols > 1) {
        line(e, "for (int j = 0; j < %d; j++) {", cols);
        e->depth++;
        e->trip *= cols;
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

/* ------------------------------------------------------------------ */
/* Scratch allocation                                                   */
/* ------------------------------------------------------------------ */

/* Sets slot i's leaf of the max-tree and the maxima above it. */
static void seg_update(Emitter *e, int i)
{
    int p = e->segcap + i;
    e->seg[p] = e->slots[i].live ? 0 : e->slots[i].size;
    for (p /= 2; p >= 1; p /= 2)
        e->seg[p] = e->seg[2 * p] > e->seg[2 * p + 1] ? e->seg[2 * p] : e->seg[2 * p + 1];
}

/* Room for one more slot, in the slot array and in the max-tree. */
static void slot_reserve(Emitter *e)
{
    if (e->nslots == e->capslots) {
        e->capslots = e->capslots ? 2 * e->capslots : 16;
        e->slots = realloc(e->slots, (size_t)e->capslots * sizeof *e->slots);
        if (!e->slots)
            dil_fatal("out of memory");
    }
    if (e->nslots == e->segcap) {
        e->segcap = e->segcap ? 2 * e->segcap : 16;
        free(e->seg);
        e->seg = calloc(2 * (size_t)e->segcap, sizeof *e->seg);
        if (!e->seg)
            dil_fatal("out of memory");
        for (int i = 0; i < e->nslots; i++)
            e->seg[e->segcap + i] = e->slots[i].live ? 0 : e->slots[i].size;
        for (int p = e->segcap - 1; p >= 1; p--)
            e->seg[p] = e->seg[2 * p] > e->seg[2 * p + 1] ? e->seg[2 * p] : e->seg[2 * p + 1];
    }
}

static void slot_release(Emitter *e, int i)
{
    e->slots[i].live = 0;
    seg_update(e, i);
}

static int slot_alloc(Emitter *e, long size)
{
    /* First fit among released slots (the free slot of lowest index that
       is large enough, found by descending the max-tree), else grow the
       arena of work. */
    if (e->segcap && e->seg[1] >= size) {
        int p = 1;
        while (p < e->segcap)
            p = e->seg[2 * p] >= size ? 2 * p : 2 * p + 1;
        int i = p - e->segcap;
        if (e->slots[i].size > size) {
            /* split: keep the remainder as a free slot */
            slot_reserve(e);
            e->slots[e->nslots] = (Slot){e->slots[i].off + size, e->slots[i].size - size, 0};
            seg_update(e, e->nslots++);
            e->slots[i].size = size;
        }
        e->slots[i].live = 1;
        seg_update(e, i);
        return i;
    }
    slot_reserve(e);
    /* Splits never move the end of the highest slot: top is a running max. */
    e->slots[e->nslots] = (Slot){e->top, size, 1};
    e->top += size;
    if (e->top > e->peak)
        e->peak = e->top;
    seg_update(e, e->nslots);
    return e->nslots++;
}

/* ------------------------------------------------------------------ */
/* Materialised nodes                                                   */
/* ------------------------------------------------------------------ */

/* Puts n's value in its storage by a loop over its shape. */
static void emit_map(Emitter *e, Node *n)
{
    Info *in = INFO(n);
    long saved = e->trip;
    Aff r, c;
    if (in->local) {
        Str s = {0};
        put_op(e, &s, n, aff_const(0), aff_const(0));
        line(e, "const double s%d = %s;", n->id, s.p);
        free(s.p);
        return;
    }
    int loops = open_loops(e, n->rows, n->cols, &r, &c);
    Str s = {0};
    put_op(e, &s, n, r, c);
    store(e, in->base, in->off, in->ld, r, c, "=", &s);
    free(s.p);
    close_loops(e, loops);
    e->trip = saved;
}

/* The value of a scalar reduction is in local accN; move it to storage. */
static void finish_scalar(Emitter *e, Node *n, const char *acc)
{
    Info *in = INFO(n);
    if (in->local)
        return;
    line(e, "%s[%ld] = %s;", in->base, in->off, acc);
}

static void emit_sum(Emitter *e, Node *n)
{
    Node *a = n->args[0];
    long saved = e->trip;
    const char *acc = arena_printf("s%d", n->id);
    line(e, "double %s = 0.0;", acc);
    Aff r, c;
    int loops = open_loops(e, a->rows, a->cols, &r, &c);
    Str s = {0};
    e->st.arith += (double)e->trip;
    put_expr(e, &s, a, r, c);
    line(e, "%s += %s;", acc, s.p);
    free(s.p);
    close_loops(e, loops);
    e->trip = saved;
    finish_scalar(e, n, acc);
}

/* log sum exp with the maximum factored out, so that no exp overflows. */
static void emit_lse(Emitter *e, Node *n)
{
    Node *a = n->args[0];
    long saved = e->trip;
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
    e->trip = saved;
    line(e, "double %s = 0.0;", acc);
    loops = open_loops(e, a->rows, a->cols, &r, &c);
    s = (Str){0};
    put_expr(e, &s, a, r, c);
    e->st.calls += (double)e->trip;
    e->st.arith += 2.0 * (double)e->trip;
    line(e, "%s += exp(%s - m%d);", acc, s.p, n->id);
    free(s.p);
    close_loops(e, loops);
    e->trip = saved;
    line(e, "%s = m%d + log(%s);", acc, n->id, acc);
    finish_scalar(e, n, acc);
}

/* C = A B with A m x k, B k x n (vectors as the SPEC pairs them). */
static void emit_matmul(Emitter *e, Node *n)
{
    Node *a = n->args[0], *b = n->args[1];
    Info *in = INFO(n);
    long saved = e->trip;
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
    line(e, "double acc = 0.0;");
    int kl = k > 1;
    Aff l = kl ? aff_l() : aff_const(0);
    if (kl) {
        line(e, "for (int l = 0; l < %d; l++)", k);
        e->trip *= k;
    }
    Str s = {0};
    if (a->rank == 2)
        put_expr(e, &s, a, r, l);
    else
        put_expr(e, &s, a, l, aff_const(0));
    sput(&s, " * ");
    if (b->rank == 2)
        put_expr(e, &s, b, l, c);
    else
        put_expr(e, &s, b, l, aff_const(0));
    e->st.arith += 2.0 * (double)e->trip;
    if (kl)
        e->depth++;
    line(e, "acc += %s;", s.p);
    if (kl)
        e->depth--;
    free(s.p);
    Str v = {0};
    sput(&v, "acc");
    store(e, in->base, in->off, in->ld, out_r, out_c, "=", &v);
    free(v.p);
    e->trip = saved;
    close_loops(e, loops ? loops : 1);
}

/* Flat affine form of a placement: element (r, c) of a piece lands at
   f0 + fr*r + fc*c of the assembly's row-major storage. */
static void place_flat(const Node *as, const Map *m, long *f0, long *fr, long *fc)
{
    *f0 = (long)m->r0 * as->cols + m->c0;
    *fr = (long)m->arr * as->cols + m->acr;
    *fc = (long)m->arc * as->cols + m->acc;
}

/* Clears the boxes of cv->zero: one loop over a flat run where boxes
   follow each other in storage, two loops over a box that is not a run.
   (cover.c finds them from the placements: the cost of this never
   depends on the size of the tensors.) */
static void emit_zero(Emitter *e, const Node *n, const Cover *cv)
{
    Info *in = INFO(n);
    long cols = n->cols, f = 0, g = 0;    /* pending flat run [f, g) */
    for (int z = 0; z <= cv->nzero; z++) {
        const CoverBox *b = z < cv->nzero ? &cv->zero[z] : NULL;
        int flat = b && (b->r1 - b->r0 == 1 || (b->c0 == 0 && b->c1 == cols));
        long bf = b ? b->r0 * cols + b->c0 : 0, bg = b ? (b->r1 - 1) * cols + b->c1 : 0;
        if (flat && g > f && bf == g) {
            g = bg;               /* continues the pending run */
            continue;
        }
        if (g - f == 1)
            line(e, "%s[%ld] = 0.0;", in->base, in->off + f);
        else if (g > f)
            line(e, "for (int i = %ld; i < %ld; i++) %s[i] = 0.0;", in->off + f, in->off + g,
                 in->base);
        f = g = 0;
        if (flat) {
            f = bf;
            g = bg;
        } else if (b) {
            /* Rows r0.. of columns c0..: a strided loop for one column. */
            int one = b->c1 - b->c0 == 1;
            Str ix = {0};
            aff_put(&ix, aff_lin(in->off + (one ? b->c0 : 0), cols, aff_i(), one ? 0 : 1, aff_j()));
            if (one) {
                line(e, "for (int i = %ld; i < %ld; i++) %s[%s] = 0.0;", b->r0, b->r1, in->base,
                     ix.p);
            } else {
                line(e, "for (int i = %ld; i < %ld; i++)", b->r0, b->r1);
                line(e, "    for (int j = %ld; j < %ld; j++) %s[%s] = 0.0;", b->c0, b->c1,
                     in->base, ix.p);
            }
            free(ix.p);
        }
    }
}

static void emit_assemble(Emitter *e, Node *n)
{
    Info *in = INFO(n);
    /* Elements no exclusive piece writes start at zero; pieces that
       overlap others are then added in. */
    Cover cv;
    cover_of(n, &cv);
    emit_zero(e, n, &cv);
    for (int p = 0; p < n->nargs; p++) {
        Node *pc = n->args[p];
        if (INFO(pc)->direct && INFO(pc)->base == in->base)
            continue;             /* already computed in place */
        long f0, fr, fc;
        place_flat(n, &n->place[p], &f0, &fr, &fc);
        long saved = e->trip;
        Aff r, c;
        int loops = open_loops(e, pc->rows, pc->cols, &r, &c);
        Str s = {0};
        put_expr(e, &s, pc, r, c);
        Str ix = {0};
        aff_put(&ix, aff_lin(in->off + f0, fr, r, fc, c));
        line(e, "%s[%s] %s %s;", in->base, ix.p, cv.excl[p] ? "=" : "+=", s.p);
        free(ix.p);
        free(s.p);
        close_loops(e, loops);
        e->trip = saved;
    }
}

static void emit_node(Emitter *e, Node *n)
{
    switch (n->op) {
    case OP_SUM: emit_sum(e, n); break;
    case OP_LSE: emit_lse(e, n); break;
    case OP_MATMUL: emit_matmul(e, n); break;
    case OP_ASSEMBLE: emit_assemble(e, n); break;
    default:
        if (!is_map(n))
            unreachable();
        emit_map(e, n);
    }
    INFO(n)->ready = 1;
}

/* ------------------------------------------------------------------ */
/* One kernel                                                           */
/* ------------------------------------------------------------------ */

/* Gives the pieces of an output assembly their place in the output array
   when nothing else writes there and they would be materialised anyway. */
static void place_pieces(Node *as)
{
    Info *ai = INFO(as);
    Cover cv;
    cover_of(as, &cv);
    for (int p = 0; p < as->nargs; p++) {
        Node *pc = as->args[p];
        Info *pi = INFO(pc);
        if (!pi->mat || pi->is_out || pi->base || is_trivial(pc) || !cv.excl[p])
            continue;
        long f0, fr, fc;
        place_flat(as, &as->place[p], &f0, &fr, &fc);
        if (pc->cols > 1 && fc != 1)
            continue;
        if (pc->rows > 1 && pc->cols > 1 && fr < pc->cols)
            continue;
        pi->base = ai->base;
        pi->off = ai->off + f0;
        pi->ld = fr;
        pi->direct = 1;
        pi->local = 0;
    }
}

/* The block a kernel is differentiated along (its direction argument). */
static Block direction(const Kernel *k)
{
    return !strncmp(k->name, "residual_vjp", 12) ? BLK_W : BLK_V;
}

static int has_direction(const Kernel *k)
{
    return !k->ret && strcmp(k->name, "score_grad_y") && strcmp(k->name, "loss_grad") &&
           strcmp(k->name, "residual");
}

/* The C signature of SPEC section 4. */
static const char *signature(const Kernel *k, const char *prefix)
{
    const char *in = "const double *y, const double *x, const double *theta";
    const char *n = k->name;
    if (!strcmp(n, "score"))
        return arena_printf("double %s_score(%s, double *work)", prefix, in);
    if (!strcmp(n, "loss"))
        return arena_printf("double %s_loss(%s,\n    const double *data, double *work)", prefix, in);
    if (!strcmp(n, "loss_grad"))
        return arena_printf("void %s_loss_grad(%s,\n    const double *data, double *gy, double *gx, "
                            "double *gtheta, double *work)", prefix, in);
    if (!has_direction(k))
        return arena_printf("void %s_%s(%s,\n    double *%s, double *work)", prefix, n, in,
                            k->outs[0].param);
    return arena_printf("void %s_%s(%s,\n    const double *%s, double *%s, double *work)", prefix, n,
                        in, k->blkname[direction(k)], k->outs[0].param);
}

/* Emits one kernel; returns the doubles of work it needs. */
static long emit_kernel(FILE *fp, const Kernel *k, const Model *m, const char *prefix, Stats *st)
{
    Emitter e;
    memset(&e, 0, sizeof e);
    e.k = k;
    e.trip = 1;
    e.prefix = prefix;
    char *body = NULL;
    size_t bodylen = 0;
    e.out = open_memstream(&body, &bodylen);
    if (!e.out)
        dil_fatal("out of memory");

    Node *roots[4];
    int nroots = 0;
    if (k->ret)
        roots[nroots++] = k->ret;
    for (int i = 0; i < k->nouts; i++)
        if (k->outs[i].node && k->outs[i].len > 0)
            roots[nroots++] = k->outs[i].node;
    Node **order;
    int n = ir_topo(roots, nroots, &order);
    for (int i = 0; i < n; i++) {
        order[i]->aux = arena_alloc(sizeof(Info));
        INFO(order[i])->slot = -1;
    }

    /* Outputs: storage is the caller's array.  A node that is two outputs
       is computed into the first and copied to the second. */
    int own_loop[3] = {0};    /* output emitted by a loop of its own */
    for (int i = 0; i < k->nouts; i++) {
        Node *o = k->outs[i].node;
        if (!o || k->outs[i].len == 0)
            continue;
        Info *in = INFO(o);
        if (in->is_out || is_trivial(o)) {
            own_loop[i] = 1;      /* a leaf, or a node already output */
            continue;
        }
        in->is_out = 1;
        in->mat = 1;
        in->base = k->outs[i].param;
        in->off = 0;
        in->ld = o->cols;
    }
    if (k->ret)
        INFO(k->ret)->demand = 1;
    for (int i = 0; i < k->nouts; i++)
        if (k->outs[i].node && k->outs[i].len > 0)
            INFO(k->outs[i].node)->demand += 1;

    /* Demand, from consumers (larger ids) to arguments. */
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Info *in = INFO(nd);
        if (!in->is_out) {
            if (is_trivial(nd) || nd->op == OP_VIEW || nd->op == OP_BCAST)
                in->mat = 0;
            else if (!is_map(nd))
                in->mat = 1;
            else
                in->mat = in->demand > 1;
        }
        long f = in->mat ? 1 : in->demand;
        for (int p = 0; p < nd->nargs; p++)
            INFO(nd->args[p])->demand += f * reuse(nd, p);
    }

    /* Fused expressions stay shallow: a node more than MAX_FUSE levels of
       fused operations above its materialised inputs is materialised too.
       This bounds the emitter's recursion and the size of one C expression
       (an unrolled chain x[t+1] = x[t] + 1 would otherwise be one
       expression T levels deep). */
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        Info *in = INFO(nd);
        int depth = 0;
        for (int p = 0; p < nd->nargs; p++) {
            Info *ai = INFO(nd->args[p]);
            if (!ai->mat && ai->fuse_depth > depth)
                depth = ai->fuse_depth;
        }
        in->fuse_depth = depth + 1;
        if (!in->mat && !is_trivial(nd) && in->fuse_depth > MAX_FUSE) {
            in->mat = 1;
            in->fuse_depth = 0;
        }
    }

    /* Storage of materialised scalars: locals; outputs' pieces: in place. */
    for (int i = 0; i < n; i++) {
        Info *in = INFO(order[i]);
        if (in->mat && !in->is_out && order[i]->rank == 0)
            in->local = 1;
    }
    for (int i = n - 1; i >= 0; i--)
        if (INFO(order[i])->is_out && order[i]->op == OP_ASSEMBLE)
            place_pieces(order[i]);

    /* Positions and last uses. */
    int pos = 0;
    for (int i = 0; i < n; i++)
        if (INFO(order[i])->mat && !is_trivial(order[i]))
            INFO(order[i])->pos = pos++;
    for (int i = n - 1; i >= 0; i--) {
        Node *nd = order[i];
        Info *in = INFO(nd);
        if (in->is_out || nd == k->ret)
            in->last = pos + 1;
        int reader = in->mat ? in->pos : in->last;
        for (int p = 0; p < nd->nargs; p++) {
            Info *ai = INFO(nd->args[p]);
            if (reader > ai->last)
                ai->last = reader;
        }
    }

    /* Emission in id order, releasing scratch after its last reader.  A
       slot in use is filed under the position after which it is free
       (bucket[b], chained through next[]), so that releasing costs
       nothing per live slot: with a scan over every live slot at every
       position, a long unrolled horizon took time quadratic in its
       length. */
    int *bucket = malloc((size_t)(pos + 2) * sizeof *bucket);
    int *next = malloc((n > 0 ? (size_t)n : 1u) * sizeof *next);
    if (!bucket || !next)
        dil_fatal("out of memory");
    for (int b = 0; b < pos + 2; b++)
        bucket[b] = -1;
    int released = 0;     /* buckets below this one are free already */
    for (int i = 0; i < n; i++) {
        Node *nd = order[i];
        Info *in = INFO(nd);
        if (!in->mat || is_trivial(nd))
            continue;
        for (; released < in->pos; released++)
            for (int t = bucket[released]; t >= 0; t = next[t])
                slot_release(&e, INFO(order[t])->slot);
        if (!in->base && !in->local) {
            in->slot = slot_alloc(&e, ir_size(nd));
            in->base = arena_printf("t%d", nd->id);
            in->off = 0;
            in->ld = nd->cols;
            line(&e, "double *const t%d = work + %ld;", nd->id, e.slots[in->slot].off);
            e.used_work = 1;
            /* free once a position beyond `last` is reached (at the next
               one if nothing reads it after this position) */
            int b = in->last > in->pos ? in->last : in->pos;
            next[i] = bucket[b];
            bucket[b] = i;
        }
        emit_node(&e, nd);
    }
    free(bucket);
    free(next);

    /* Outputs that were not computed in place: zeros, leaves, copies. */
    for (int i = 0; i < k->nouts; i++) {
        Node *o = k->outs[i].node;
        if (!o || k->outs[i].len == 0 || !own_loop[i])
            continue;
        long saved = e.trip;
        Aff r, c;
        int loops = open_loops(&e, o->rows, o->cols, &r, &c);
        Str s = {0};
        if (is_map(o))
            put_op(&e, &s, o, r, c);   /* cheap to recompute: no copy */
        else
            put_expr(&e, &s, o, r, c);
        store(&e, k->outs[i].param, 0, o->cols, r, c, "=", &s);
        free(s.p);
        close_loops(&e, loops);
        e.trip = saved;
    }
    if (k->ret) {
        Str s = {0};
        put_expr(&e, &s, k->ret, aff_const(0), aff_const(0));
        line(&e, "return %s;", s.p);
        free(s.p);
    }
    fclose(e.out);

    /* Header, then the parameters the body never read, then the body. */
    fprintf(fp, "/* %s */\n%s\n{\n", k->doc, signature(k, prefix));
    const char *params[] = {"y", "x", "theta"};
    for (int b = 0; b < 3; b++)
        if (!e.used[b])
            fprintf(fp, "    (void)%s;\n", params[b]);
    if (!strcmp(k->name, "loss") || !strcmp(k->name, "loss_grad"))
        if (!e.used[BLK_DATA])
            fputs("    (void)data;\n", fp);
    if (has_direction(k) && !e.used[direction(k)])
        fprintf(fp, "    (void)%s;\n", k->blkname[direction(k)]);
    for (int i = 0; i < k->nouts; i++)
        if (k->outs[i].len == 0)
            fprintf(fp, "    (void)%s;\n", k->outs[i].param);
    if (!e.used_work)
        fputs("    (void)work;\n", fp);
    fwrite(body, 1, bodylen, fp);
    fputs("}\n\n", fp);
    free(body);
    free(e.slots);
    free(e.seg);
    for (int i = 0; i < n; i++)
        order[i]->aux = NULL;
    if (st)
        *st = e.st;
    return e.peak;
}

/* ------------------------------------------------------------------ */
/* Files                                                                */
/* ------------------------------------------------------------------ */

static const char *const kernel_names[] = {
    "score", "score_grad_y", "score_hvp_yy", "score_vjp_xy", "score_vjp_thetay", "loss",
    "loss_grad", "residual", "residual_jvp_y", "residual_vjp_y", "residual_vjp_x",
    "residual_vjp_theta",
};

static const Kernel *find(const Kernels *ks, const char *name)
{
    for (int i = 0; i < ks->n; i++)
        if (!strcmp(ks->k[i].name, name))
            return &ks->k[i];
    return NULL;
}

static const char *const role_const[] = {"DIL_ROLE_INPUT", "DIL_ROLE_PARAM", "DIL_ROLE_VAR",
                                         "DIL_ROLE_DATA"};

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
        if (runs[r].len >= 16)
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
        if (runs[r].len >= 16) {
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

int emit_c(FILE *fp, const Model *m, const Kernels *ks, const EmitOptions *opt)
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
    /* Kernels first into a buffer: which helpers they use is known after. */
    char *kbuf = NULL;
    size_t klen = 0;
    FILE *kf = open_memstream(&kbuf, &klen);
    if (!kf)
        dil_fatal("out of memory");
    helpers_used = 0;
    long work = 0;
    for (int i = 0; i < ks->n; i++) {
        long w = emit_kernel(kf, &ks->k[i], m, p, NULL);
        if (w > work)
            work = w;
    }
    fclose(kf);
    for (size_t i = 0; i < sizeof helpers / sizeof *helpers; i++)
        if (helpers_used & helpers[i].flag) {
            fprintf(fp, helpers[i].text, p);
            fputc('\n', fp);
        }
    fwrite(kbuf, 1, klen, fp);
    free(kbuf);
    fprintf(fp, "static const dil_symbol %s_symbols[%d] = {\n", p, m->nsyms ? m->nsyms : 1);
    for (int i = 0; i < m->nsyms; i++) {
        const Symbol *s = &m->syms[i];
        fprintf(fp, "    {\"%s\", %s, %d, {%d, %d}, %d},\n", s->name, role_const[s->role], s->rank,
                s->rows, s->cols, s->offset);
    }
    if (!m->nsyms)
        fputs("    {0}\n", fp);
    fputs("};\n\n", fp);
    if (m->ntheta)
        emit_theta_init(fp, m, p);
    fprintf(fp, "const dil_model %s_model = {\n", p);
    fprintf(fp, "    \"%s\",\n    %d, %d, %d, %d,\n    %d,\n    %ld,\n", m->name, m->ny, m->nx,
            m->ntheta, m->ndata, m->nres, work);
    for (size_t i = 0; i < sizeof kernel_names / sizeof *kernel_names; i++) {
        if (find(ks, kernel_names[i]))
            fprintf(fp, "    %s_%s,\n", p, kernel_names[i]);
        else
            fputs("    NULL,\n", fp);
    }
    fprintf(fp, "    %s_symbols,\n    %d,\n", p, m->nsyms);
    if (m->ntheta)
        fprintf(fp, "    %s_theta_init,\n", p);
    else
        fputs("    NULL,\n", fp);
    fputs("};\n", fp);
    return ferror(fp) ? -1 : 0;
}

int emit_h(FILE *fp, const Model *m, const Kernels *ks, const EmitOptions *opt)
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
    for (int i = 0; i < ks->n; i++)
        fprintf(fp, "%s;\n", signature(&ks->k[i], p));
    fputs("\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n", fp);
    return ferror(fp) ? -1 : 0;
}

void kern_print_stats(FILE *fp, const Kernels *ks)
{
    FILE *sink = fopen("/dev/null", "w");
    if (!sink)
        return;
    Stats base = {0};
    fprintf(fp, "%-20s %12s %10s %12s %10s %8s\n", "kernel", "arith", "calls", "loads", "work",
            "x score");
    for (int i = 0; i < ks->n; i++) {
        Stats st;
        long w = emit_kernel(sink, &ks->k[i], ks->m, "stats", &st);
        if (i == 0)
            base = st;
        double cost = st.arith + 20 * st.calls, cost0 = base.arith + 20 * base.calls;
        fprintf(fp, "%-20s %12.0f %10.0f %12.0f %10ld %8.2f\n", ks->k[i].name, st.arith, st.calls,
                st.loads, w, cost0 > 0 ? cost / cost0 : 0.0);
    }
    fputs("(arith: + - * / per call; calls: libm calls; cost ratio counts a call as 20 ops)\n", fp);
    fclose(sink);
}
