/*
 * sema.c - semantic analysis: the declaration list becomes a Model.
 *
 * One pass over the declarations, in source order, elaborates every
 * expression straight into the hash-consed tensor IR (ir.c).  There is no
 * typed AST in between: the IR node of a value carries its shape, constants
 * fold exactly as the nodes are built, so "compile-time integer" simply
 * means "the node is a CONST whose rational is an integer".  Everything the
 * language unrolls at compile time is unrolled here: `fn` bodies are
 * inlined at each call with their parameters bound to the argument nodes,
 * `for` bodies and `sum(t in a:b, e)` are elaborated once per value of t.
 *
 * Every rule of SPEC section 2 is checked before the builder that relies
 * on it is called (the builders abort on bad shapes).  After an error the
 * offending value becomes POISON, a sentinel that every operation passes
 * through silently, so one mistake gives one message and elaboration goes
 * on to find the next.  Errors at a source range already reported are not
 * repeated (a bad line inside a loop or a fn body is reported once, with a
 * note naming the loop iteration or the call).
 *
 * Names live in one global table (dims, consts, symbols, lets, families,
 * fns) and a stack of locals (fn parameters, loop indices); a fn body sees
 * its parameters and the globals defined up to and including the fn
 * itself, which is checked with a definition counter (`gen`).
 *
 * Data values may be used only in the loss.  Each let remembers the first
 * data use it depends on (its "taint"); using a data symbol or a tainted
 * let while elaborating the score or residual is reported at that use.
 * The check follows the source, not the simplified IR: `0*t` in a score
 * is still an error.
 *
 * Choices where SPEC is silent: names are defined before they are used,
 * in source order, and once; a value may take the name of a built-in
 * function (a call is told apart by its parentheses) but a fn may not;
 * locals (fn parameters, loop indices) shadow globals; a `for` body
 * defines only family members (a plain let there is an error); a range
 * a:b with a >= b is empty; a constant that does not fit a double is an
 * error only if it reaches the score, residual or loss.
 */
#include "dilc.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/* Elements of one tensor, and of one flat block: 2^31 / 8, so that byte
   offsets of doubles fit an int with room to spare. */
#define MAX_ELEMS (1L << 28)
/* The param block is also theta_init, a static array of the emitted C
   (128 MiB at most), and the elements up to the last nonzero default are
   written out one by one (gcc -O2 reads 2^20 of them in about 7 s). */
#define MAX_THETA (1L << 24)
#define MAX_INIT (1L << 20)
/* Work of the compile-time unrolling (loops, sums, inlined calls): one
   step per elaborated expression or loop iteration.  A step that builds
   no new node (hash-consing finds it) is cheap: 4,000,000 take well
   under a second. */
#define MAX_STEPS 4000000L
/* Nodes of the model's IR (score, residual, loss), all tensors together.
   This bounds the memory and time of elaboration and derivation:
   derivation ends with 8 to 11 times as many nodes (gradient, tangents, loss
   and residual kernels), so a model at the limit derives in well under a
   second to about a million nodes, some 200 MB.  What the emitter then
   writes is bounded separately and more tightly (KERN_MAX_NODES, kern.c):
   the emitted C grows with the node count, not with the tensor sizes. */
#define MAX_NODES 100000   /* counted by ir_node_weight: an assembly of n
                              pieces counts 1 + n */
/* Bits of an exactly folded constant (numerator plus denominator), and
   the largest exponent of an exactly folded power (as in ir.c). */
#define MAX_CONST_BITS IR_FOLD_MAX_BITS
#define MAX_POW_EXP IR_FOLD_MAX_EXP
/* Depth of elaboration: the parser bounds the nesting of one expression,
   but inlining stacks fn bodies on top of each other. */
#define MAX_DEPTH 5000
/* Overflowing constants whose source is remembered (the others are
   reported at their declaration). */
#define MAX_SITES 1000
/* Notes naming the enclosing calls and loop iterations under an error. */
#define MAX_CONTEXT_NOTES 8

/* The value of an expression that already failed: every operation on it
   yields it again without a message. */
static Node poison_node;
#define POISON (&poison_node)

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

typedef enum EntryKind { E_DIM, E_CONST, E_SYMBOL, E_LET, E_FAMILY, E_FN } EntryKind;

/* The first use of a data symbol that a value depends on. */
typedef struct Taint {
    const char *name;         /* the data symbol */
    Loc loc;                  /* where it is used */
} Taint;

/* Member k of an indexed family; or members k .. kend-1, rows of state s
   of a rolled loop (then val is NULL). */
typedef struct Member {
    long k, kend;
    Loop *lp;
    int s;
    Node *val;
    Loc loc;                  /* the `let x[k]` that defined it */
    int gen;
    const Taint *taint;
} Member;

/* Declared shape of a fn parameter. */
typedef struct ParamShape {
    int rank;                 /* -1: any shape */
    int rows, cols;
} ParamShape;

typedef struct Entry {
    EntryKind kind;
    const char *name;
    Loc loc;                  /* the defining name */
    int gen;                  /* definition counter at its definition */
    Node *val;                /* DIM CONST SYMBOL LET (POISON after an error) */
    Role role;                /* SYMBOL */
    const Taint *taint;       /* LET: first data use it depends on */
    Member *mem;              /* FAMILY: sorted by k */
    int nmem, capmem;
    int poisoned;             /* FAMILY: a member definition failed */
    Decl *fn;                 /* FN */
    ParamShape *pshape;       /* FN: one per parameter */
    int bad;                  /* FN: a parameter shape failed */
    int active;               /* FN: its body is being elaborated */
    struct Entry *hnext;
} Entry;

#define NBUCKETS 1024

/* A later definition of a name, found by a scan before elaboration, so
   that "undefined name" can point at it. */
typedef struct Later {
    const char *name;
    Loc loc;
    struct Later *hnext;
} Later;

/* A local binding: fn parameter or loop index.  A barrier hides the
   locals below it (the caller's) from an inlined fn body. */
typedef struct Local {
    const char *name;
    Node *val;
    int barrier;
} Local;

/* Where elaboration is, for the notes under an error. */
typedef struct Frame {
    int is_call;              /* 1: inlined call, 0: loop iteration */
    const char *name;         /* fn or loop index */
    Loc loc;
    long value;               /* loop index value */
} Frame;

/* An error printed: its range and the format it came from. */
typedef struct Reported {
    Loc loc;
    const char *fmt;
} Reported;

/* What the top-level declaration being elaborated is. */
typedef enum Ctx { CTX_VALUE, CTX_SCORE, CTX_LOSS } Ctx;

/* A CONST that does not fit a double, and the first expression that
   produced it (checked only if it reaches the model). */
typedef struct Site {
    Node *n;
    Loc loc;
} Site;

static struct {
    Entry **globals;          /* NBUCKETS chains */
    Later **later;
    int gen;
    int visible_gen;          /* globals with a larger gen are not in scope */
    Entry *cur_fn;            /* innermost fn being inlined, or NULL */
    int checking_fn;          /* check_fn_names is running */

    Local *locals;
    int nlocals, caplocals;
    Frame *frames;
    int nframes, capframes;

    Reported *reported;       /* errors printed */
    int nreported, capreported;
    Site *sites;
    int nsites, capsites;

    Ctx ctx;
    const Taint *taint;       /* first data use in the current let */
    long steps;
    int depth;
    int stopped;              /* error limit or size limit reached */

    struct Roll *roll;        /* the loop being rolled on trial, or NULL */
    int unroll;               /* --unroll: never roll */
    LoopReport *loops;
    int nloops, caploops;

    Symbol *syms;
    int nsyms, capsyms;
    long blk_len[BLK__COUNT];
    int have_var;
    Decl *model_decl;
    Decl *objective;          /* the score or residual */
    Decl *loss_decl;
    Model *m;
} S;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

/* "scalar", "[3]" or "[2, 3]". */
static const char *shape_str(const Node *n)
{
    if (n->rank == 0)
        return "scalar";
    if (n->rank == 1)
        return arena_printf("[%d]", n->rows);
    return arena_printf("[%d, %d]", n->rows, n->cols);
}

/* A rational for a message: exact when short, else its magnitude. */
static const char *q_str(mpq_srcptr q)
{
    size_t digits = mpz_sizeinbase(mpq_numref(q), 10) + mpz_sizeinbase(mpq_denref(q), 10);
    if (digits > 40)
        return "a number too long to print";
    char *s = mpq_get_str(NULL, 10, q);
    char *r = arena_printf("%s", s);
    void (*freefn)(void *, size_t);
    mp_get_memory_functions(NULL, NULL, &freefn);
    freefn(s, strlen(s) + 1);
    return r;
}

static long q_bits(mpq_srcptr q)
{
    return (long)(mpz_sizeinbase(mpq_numref(q), 2) + mpz_sizeinbase(mpq_denref(q), 2));
}

static Block role_block(Role r)
{
    switch (r) {
    case ROLE_INPUT: return BLK_X;
    case ROLE_PARAM: return BLK_THETA;
    case ROLE_VAR: return BLK_Y;
    case ROLE_DATA: return BLK_DATA;
    case ROLE__COUNT: break;
    }
    unreachable();
}

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */
/* ------------------------------------------------------------------ */

/* Reports an error at loc, unless the same check already reported one
   at exactly that range (a loop body or fn body elaborated many times
   would repeat it).  note/nloc: an optional note right after it.  Then one note per
   enclosing inlined call and loop iteration, innermost first.  Returns
   whether the error was printed. */
static int report_note(Loc loc, const Loc *nloc, const char *note, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void roll_fail(const char *why);
static void roll_failf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static int report_note(Loc loc, const Loc *nloc, const char *note, const char *fmt, ...)
{
    if (S.roll) {
        /* A trial elaboration prints nothing: the first error fails the
           trial, and unrolling then reports it as usual. */
        va_list ap;
        va_start(ap, fmt);
        char *msg = arena_vprintf(fmt, ap);
        va_end(ap);
        roll_fail(msg);
        return 0;
    }
    if (S.stopped)
        return 0;
    for (int i = 0; i < S.nreported; i++)
        if (S.reported[i].loc.begin == loc.begin && S.reported[i].loc.end == loc.end &&
            S.reported[i].fmt == fmt)
            return 0;
    S.reported = arena_grow(S.reported, &S.capreported, S.nreported + 1, sizeof *S.reported);
    S.reported[S.nreported++] = (Reported){loc, fmt};

    va_list ap;
    va_start(ap, fmt);
    char *msg = arena_vprintf(fmt, ap);
    va_end(ap);

    diag_error(loc, "%s", msg);
    if (note)
        diag_note(*nloc, "%s", note);
    for (int i = S.nframes - 1; i >= 0; i--) {
        Frame *f = &S.frames[i];
        if (i < S.nframes - MAX_CONTEXT_NOTES) {
            diag_note(S.frames[0].loc, "and %d more enclosing calls and loop iterations", i + 1);
            break;
        }
        if (f->is_call)
            diag_note(f->loc, "in this call of '%s'", f->name);
        else
            diag_note(f->loc, "in the iteration with %s = %ld", f->name, f->value);
    }
    if (diag_too_many())
        S.stopped = 1;
    return 1;
}

#define report(loc, ...) report_note((loc), NULL, NULL, __VA_ARGS__)

static int roll_arith_ok(Loc loc, Op op, Node *a, Node *b);
static int index_value(Ast *e, Node *n, const char *what, long *c, long *k);
static int roll_sum(Ast *e, long lo, long hi, Node **out);
/* Whether an error was reported at exactly loc already (at most
   DIAG_MAX_ERRORS entries to look at). */
static int reported_at(Loc loc)
{
    for (int i = 0; i < S.nreported; i++)
        if (S.reported[i].loc.begin == loc.begin && S.reported[i].loc.end == loc.end)
            return 1;
    return 0;
}

/* The size limits: reported once, naming the limit that was reached,
   then everything stops. */
static void too_large(Loc loc, int nodes)
{
    if (S.roll) {
        roll_fail("too large to elaborate");
        return;
    }
    if (S.stopped)
        return;
    if (!nodes)
        report(loc, "model too large to unroll: more than %ld elaboration steps "
                    "(a loop, a compile-time sum or nested fn calls unroll too far)",
               MAX_STEPS);
    else
        report(loc, "model too large to unroll: more than %d IR nodes "
                    "(a loop, a compile-time sum or nested fn calls unroll too far)",
               MAX_NODES);
    S.stopped = 1;
}

/* One more step of elaboration or of a loop: 0, or -1 after reporting
   too_large at loc.  Loops check the node count on every iteration too,
   since an iteration builds at least its index constant even when its
   body elaborates nothing (`for t in 0:3000000 { }`). */
static int step(Loc loc)
{
    if (++S.steps > MAX_STEPS || ir_node_weight() > MAX_NODES) {
        too_large(loc, S.steps <= MAX_STEPS);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Scopes                                                              */
/* ------------------------------------------------------------------ */

static Entry *global_find(const char *name)
{
    for (Entry *e = S.globals[name_hash(name)]; e; e = e->hnext)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* A global in scope: inside an inlined fn body only those defined up to
   the fn itself. */
static Entry *global_visible(const char *name)
{
    Entry *e = global_find(name);
    return e && e->gen <= S.visible_gen ? e : NULL;
}

static Local *local_find(const char *name)
{
    for (int i = S.nlocals - 1; i >= 0; i--) {
        if (S.locals[i].barrier)
            return NULL;
        if (strcmp(S.locals[i].name, name) == 0)
            return &S.locals[i];
    }
    return NULL;
}

static void local_push(const char *name, Node *val, int barrier)
{
    S.locals = arena_grow(S.locals, &S.caplocals, S.nlocals + 1, sizeof *S.locals);
    S.locals[S.nlocals++] = (Local){name, val, barrier};
}

static void frame_push(int is_call, const char *name, Loc loc, long value)
{
    S.frames = arena_grow(S.frames, &S.capframes, S.nframes + 1, sizeof *S.frames);
    S.frames[S.nframes++] = (Frame){is_call, name, loc, value};
}

/* Rule: a global name is defined once.  Returns the new entry, or NULL
   after reporting the earlier definition. */
static Entry *define(const char *name, Loc loc, EntryKind kind)
{
    Entry *old = global_find(name);
    if (old) {
        report_note(loc, &old->loc, arena_printf("'%s' was first defined here", name),
                    "'%s' is already defined", name);
        return NULL;
    }
    Entry *e = arena_alloc(sizeof *e);
    e->kind = kind;
    e->name = name;
    e->loc = loc;
    e->gen = ++S.gen;
    e->val = POISON;
    unsigned h = name_hash(name);
    e->hnext = S.globals[h];
    S.globals[h] = e;
    return e;
}

static void later_add(const char *name, Loc loc)
{
    unsigned h = name_hash(name);
    Later *l = arena_alloc(sizeof *l);
    *l = (Later){name, loc, S.later[h]};
    S.later[h] = l;
}

/* Collects every name a declaration defines, loops included. */
static void later_scan(Decl *d)
{
    for (; d; d = d->next) {
        switch (d->kind) {
        case DECL_DIM: case DECL_CONST: case DECL_SYMBOL: case DECL_LET: case DECL_FN:
            if (d->name)
                later_add(d->name, d->name_loc);
            break;
        case DECL_FOR:
            later_scan(d->body);
            break;
        default:
            break;
        }
    }
}

/* The note under "undefined name": the name exists, but out of scope
   of the fn being inlined, or it is defined further down. */
static void undefined(Loc loc, const char *what, const char *name)
{
    /* One report_note call, so that the same use is never reported twice
       (at a fn's definition and again at its calls). */
    const Loc *nloc = NULL;
    const char *note = NULL;
    Entry *e = global_find(name);
    if (e && S.cur_fn) {
        nloc = &e->loc;
        note = arena_printf("'%s' is defined here, after '%s'; a fn sees only the names "
                            "defined before it", name, S.cur_fn->name);
    } else {
        for (Later *l = S.later[name_hash(name)]; l && !note; l = l->hnext)
            if (strcmp(l->name, name) == 0 && l->loc.begin > loc.begin) {
                nloc = &l->loc;
                note = S.checking_fn
                           ? arena_printf("'%s' is defined later, here; a fn sees only the "
                                          "names defined before it", name)
                           : arena_printf("'%s' is defined later, here", name);
            }
    }
    report_note(loc, nloc, note, "undefined %s '%s'", what, name);
}

/* ------------------------------------------------------------------ */
/* Built-in functions                                                  */
/* ------------------------------------------------------------------ */

typedef enum BKind {
    B_UNARY, B_POW, B_SUM, B_MEAN, B_DOT, B_NORM, B_LSE, B_OUTER, B_EYE, B_ZEROS, B_ONES
} BKind;

typedef struct Builtin {
    const char *name;         /* NULL: the op's printable name */
    BKind kind;
    Op op;                    /* the op it builds, where there is one */
    int min, max;             /* arguments */
} Builtin;

/* The built-ins that are not a unary elementwise op: those are the ops
   IR_OPS marks `builtin` (dilc.h), found by builtin_find as B_UNARY. */
static const Builtin builtins[] = {
    {NULL, B_POW, OP_POW, 2, 2},        {NULL, B_SUM, OP_SUM, 1, 1},
    {"mean", B_MEAN, OP_SUM, 1, 1},     {"dot", B_DOT, OP_SUM, 2, 2},
    {"norm", B_NORM, OP_SUM, 1, 1},     {NULL, B_LSE, OP_LSE, 1, 1},
    {NULL, B_OUTER, OP_OUTER, 2, 2},    {NULL, B_EYE, OP_EYE, 1, 1},
    {"zeros", B_ZEROS, OP_CONST, 1, 2}, {"ones", B_ONES, OP_CONST, 1, 2},
};

/* Every op as a unary built-in; only those IR_OPS marks are looked up. */
static const Builtin unary_builtins[OP__COUNT] = {
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv)                               \
    {pname, B_UNARY, OP_##name, 1, 1},
    IR_OPS(X)
#undef X
};

static const Builtin *builtin_find(const char *name)
{
    int op = ir_op_builtin_find(name);
    if (op >= 0)
        return &unary_builtins[op];
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        const char *bn = builtins[i].name ? builtins[i].name : ir_op_name[builtins[i].op];
        if (strcmp(bn, name) == 0)
            return &builtins[i];
    }
    return NULL;
}

/* The name of a built-in, for messages. */
static const char *builtin_name(const Builtin *b)
{
    return b->name ? b->name : ir_op_name[b->op];
}
/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

/* Rule: folded constants stay of a sane size (an unrolled loop can square
   a constant on every iteration), and a CONST that does not fit a double
   is remembered with the first expression that produced it; it is an
   error only if it reaches the model (1e400/1e399 is a fine 10). */
static Node *check_const(Loc loc, Node *n)
{
    if (n->op != OP_CONST)
        return n;
    if (q_bits(n->q) > MAX_CONST_BITS) {
        report(loc, "constant expression too large to fold exactly (more than %d bits)",
               MAX_CONST_BITS);
        return POISON;
    }
    double d;
    if (rat_to_double(n->q, &d) != 0 && S.nsites < MAX_SITES) {
        for (int i = 0; i < S.nsites; i++)
            if (S.sites[i].n == n)
                return n;
        S.sites = arena_grow(S.sites, &S.capsites, S.nsites + 1, sizeof *S.sites);
        S.sites[S.nsites++] = (Site){n, loc};
    }
    return n;
}

/* Rule: a compile-time integer is a CONST with an integral value that
   fits an int.  Reports "WHAT must be a compile-time integer" at e. */
static int const_int(Ast *e, Node *n, const char *what, long *out)
{
    if (n == POISON)
        return -1;
    if (n->op != OP_CONST) {
        report(e->loc, "%s must be a compile-time integer", what);
        return -1;
    }
    if (!rat_is_int(n->q)) {
        report(e->loc, "%s must be a compile-time integer, got %s", what, q_str(n->q));
        return -1;
    }
    if (!mpz_fits_sint_p(mpq_numref(n->q))) {
        report(e->loc, "%s %s is out of range", what, q_str(n->q));
        return -1;
    }
    *out = mpz_get_si(mpq_numref(n->q));
    return 0;
}

static Node *elab(Ast *e);

/* Rule: sizes (dims, symbol shapes, eye, zeros, ones) are compile-time
   integers, positive and at most MAX_ELEMS. */
static int size_arg(Ast *e, const char *what, int *out)
{
    long v;
    if (const_int(e, elab(e), what, &v) != 0)
        return -1;
    if (v <= 0) {
        report(e->loc, "%s must be positive, got %ld", what, v);
        return -1;
    }
    if (v > MAX_ELEMS) {
        report(e->loc, "%s %ld is too large (at most %ld)", what, v, MAX_ELEMS);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Rule: no tensor has more than MAX_ELEMS elements. */
static int check_elems(Loc loc, long rows, long cols)
{
    if ((long long)rows * cols > MAX_ELEMS) {   /* each factor fits an int */
        report(loc, "tensor of shape [%ld, %ld] is too large (at most %ld elements)",
               rows, cols, MAX_ELEMS);
        return -1;
    }
    return 0;
}

/* The symbol whose leaf is n (for messages). */
static const Symbol *leaf_symbol(const Node *n)
{
    for (int i = 0; i < S.nsyms; i++)
        if (S.syms[i].leaf && S.syms[i].leaf->block == n->block &&
            n->offset >= S.syms[i].offset &&
            n->offset < S.syms[i].offset + S.syms[i].rows * S.syms[i].cols)
            return &S.syms[i];
    return NULL;
}

/* The first LEAF reachable from n (of block b, or of any block if b is
   BLK__COUNT), or NULL. */
static Node *find_leaf(Node *n, Block b)
{
    Node **all;
    int cnt = ir_topo(&n, 1, &all);
    for (int i = 0; i < cnt; i++)
        if (all[i]->op == OP_LEAF && (b == BLK__COUNT || all[i]->block == b))
            return all[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Expressions                                                          */
/* ------------------------------------------------------------------ */

/* Rule: data values reach only the loss.  Called at each use of a data
   symbol (taint NULL) or of a value depending on one.  Returns -1 after
   an error (the use then becomes POISON). */
static int use_data(Loc loc, const char *name, const Taint *taint, const char *sym)
{
    if (S.ctx == CTX_SCORE) {
        if (!taint)
            report(loc, "'data' value '%s' may be used only in the loss", sym);
        else
            report_note(loc, &taint->loc, arena_printf("'%s' is used here", sym),
                        "'%s' depends on 'data' value '%s', which may be used only in the loss",
                        name, sym);
        return -1;
    }
    if (!S.taint) {
        if (taint) {
            S.taint = taint;
        } else {
            Taint *t = arena_alloc(sizeof *t);
            *t = (Taint){sym, loc};
            S.taint = t;
        }
    }
    return 0;
}

/* name: a local, or a global value in scope. */
static Node *elab_name(Ast *e)
{
    Local *l = local_find(e->name);
    if (l)
        return l->val;
    Entry *en = global_visible(e->name);
    if (!en) {
        if (builtin_find(e->name))
            report(e->loc, "'%s' is a built-in function; call it as %s(...)", e->name, e->name);
        else
            undefined(e->loc, "name", e->name);
        return POISON;
    }
    switch (en->kind) {
    case E_FAMILY:
        report(e->loc, "'%s' is an indexed family; read one member as %s[k]", e->name, e->name);
        return POISON;
    case E_FN:
        report(e->loc, "'%s' is a function; call it as %s(...)", e->name, e->name);
        return POISON;
    case E_SYMBOL:
        if (en->role == ROLE_DATA && en->val != POISON &&
            use_data(e->loc, e->name, NULL, e->name) != 0)
            return POISON;
        return en->val;
    case E_LET:
        if (en->taint && use_data(e->loc, e->name, en->taint, en->taint->name) != 0)
            return POISON;
        return en->val;
    case E_DIM:
    case E_CONST:
        return en->val;
    }
    unreachable();
}

/* Rule: + - * / ^ are elementwise; a scalar operand broadcasts, any
   other pair of shapes must be equal.  Division by a constant zero and
   0 raised to a negative power are errors; a constant power that would
   fold into a huge exact number is refused before it is built. */
static Node *arith(Loc loc, Op op, const char *opname, Node *a, Node *b)
{
    if (a == POISON || b == POISON)
        return POISON;
    if (a->rank && b->rank && !ir_same_shape(a, b)) {
        report(loc, "shape mismatch in '%s': %s and %s", opname, shape_str(a), shape_str(b));
        return POISON;
    }
    if (!roll_arith_ok(loc, op, a, b))
        return POISON;
    mpq_srcptr qa = ir_const_value(a), qb = ir_const_value(b);
    if (op == OP_DIV && qb && mpq_sgn(qb) == 0) {
        if (qa)
            report(loc, "division by zero in a constant expression");
        else
            report(loc, "division by zero");
        return POISON;
    }
    if (op == OP_POW && qa && qb && rat_is_int(qb)) {
        int zero = mpq_sgn(qa) == 0;
        int unit = rat_is_int(qa) && mpz_cmpabs_ui(mpq_numref(qa), 1) == 0;
        if (zero && mpq_sgn(qb) < 0) {
            report(loc, "division by zero in a constant expression (0 to a negative power)");
            return POISON;
        }
        /* the same bound as ir.c's folding: beyond it a power of
           constants would silently stay a run-time pow() */
        if (!zero && !unit &&
            (mpz_cmpabs_ui(mpq_numref(qb), MAX_POW_EXP) > 0 ||
             q_bits(qa) * labs(mpz_get_si(mpq_numref(qb))) > MAX_CONST_BITS)) {
            report(loc, "constant expression too large to fold exactly (more than %d bits)",
                   MAX_CONST_BITS);
            return POISON;
        }
    }
    return ir_binary(op, a, b);
}

/* Rule: '@' takes vectors and matrices, whose inner dimensions agree:
   [m, k] @ [k, n], [m, k] @ [k], [k] @ [k, n], [k] @ [k] (a dot, scalar). */
static Node *matmul(Loc loc, Node *a, Node *b)
{
    if (a == POISON || b == POISON)
        return POISON;
    if (a->rank == 0 || b->rank == 0) {
        report(loc, "'@' needs a vector or matrix on each side, got %s @ %s", shape_str(a),
               shape_str(b));
        return POISON;
    }
    int inner_a = a->rank == 2 ? a->cols : a->rows;
    if (inner_a != b->rows) {
        report(loc, "matrix product needs inner dimensions to agree: %s @ %s", shape_str(a),
               shape_str(b));
        return POISON;
    }
    /* [m, 1] @ [1, n] is an outer product: its m*n elements need the
       same bound as any other tensor (unchecked, [100000, 1] @ [1, 100000]
       compiled to loops whose flat indices overflow an int). */
    if (a->rank == 2 && b->rank == 2 && check_elems(loc, a->rows, b->cols) != 0)
        return POISON;
    return ir_matmul(a, b);
}

static Node *elab_binary(Ast *e)
{
    Node *a = elab(e->a), *b = elab(e->b);
    switch (e->op) {
    case '+': return arith(e->loc, OP_ADD, "+", a, b);
    case '-': return arith(e->loc, OP_SUB, "-", a, b);
    case '*': return arith(e->loc, OP_MUL, "*", a, b);
    case '/': return arith(e->loc, OP_DIV, "/", a, b);
    case '^': return arith(e->loc, OP_POW, "^", a, b);
    case '@': return matmul(e->loc, a, b);
    }
    unreachable();
}

/* An index argument: one position, or a half-open range lo:hi.  In a
   rolled loop body the bounds may move with the loop index: lo + klo t,
   hi + khi t (klo == khi for a range). */
typedef struct Index {
    int is_range;
    long lo, hi;
    long klo, khi;
    Loc loc;
} Index;

/* The first and last value of the loop index being rolled (0, 0 when no
   loop is). */
static void roll_ends(long *t0, long *t1);

/* Rule: indices are compile-time integers with 0 <= i < n; ranges a:b
   have 0 <= a < b <= n (a defaults to 0, b to n).  In a rolled body they
   hold for every value of the loop index. */
static int index_arg(Ast *arg, int n, Index *ix)
{
    ix->loc = arg->loc;
    ix->klo = ix->khi = 0;
    long t0, t1;
    roll_ends(&t0, &t1);
    if (arg->kind != AST_SLICE) {
        ix->is_range = 0;
        if (index_value(arg, elab(arg), "index", &ix->lo, &ix->klo) != 0)
            return -1;
        for (int end = 0; end < 2 && n >= 0; end++) {
            long v = ix->lo + ix->klo * (end ? t1 : t0);
            if (v < 0 || v >= n) {
                report(arg->loc, "index %ld out of bounds for dimension of size %d", v, n);
                return -1;
            }
        }
        return 0;
    }
    ix->is_range = 1;
    int bad = 0;
    ix->lo = 0;
    ix->hi = n;
    if (arg->a && index_value(arg->a, elab(arg->a), "index", &ix->lo, &ix->klo) != 0)
        bad = 1;
    if (arg->b && index_value(arg->b, elab(arg->b), "index", &ix->hi, &ix->khi) != 0)
        bad = 1;
    if (bad || n < 0)
        return -1;
    if (ix->klo != ix->khi) {
        roll_failf("a slice whose length changes with the loop index");
        return -1;
    }
    for (int end = 0; end < 2; end++) {
        long t = end ? t1 : t0, lo = ix->lo + ix->klo * t, hi = ix->hi + ix->khi * t;
        if (lo < 0 || hi > n || lo > hi) {
            report(arg->loc, "range %ld:%ld out of bounds for dimension of size %d", lo, hi, n);
            return -1;
        }
        if (lo == hi) {
            report(arg->loc, "range %ld:%ld is empty", lo, hi);
            return -1;
        }
    }
    return 0;
}

/* "0..2, 5, 7..9": the members of a family in scope, for a message. */
static const char *members_str(const Entry *f)
{
    const char *s = "";
    int runs = 0;
    for (int i = 0; i < f->nmem;) {
        if (f->mem[i].gen > S.visible_gen) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < f->nmem && f->mem[j + 1].k == f->mem[j].kend &&
               f->mem[j + 1].gen <= S.visible_gen)
            j++;
        if (++runs > 8)
            return arena_printf("%s, ...", s);
        const char *sep = *s ? ", " : "";
        long last = f->mem[j].kend - 1;
        if (last == f->mem[i].k)
            s = arena_printf("%s%s%ld", s, sep, f->mem[i].k);
        else
            s = arena_printf("%s%s%ld..%ld", s, sep, f->mem[i].k, last);
        i = j + 1;
    }
    return *s ? s : "none";
}

/* Position of the first member starting at or after k (where a member
   k would be inserted). */
static int member_pos(const Entry *f, long k)
{
    int lo = 0, hi = f->nmem;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (f->mem[mid].k < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The member (or member range) holding k, or NULL. */
static Member *member_at(const Entry *f, long k)
{
    int p = member_pos(f, k + 1) - 1;
    return p >= 0 && k < f->mem[p].kend ? &f->mem[p] : NULL;
}

/* The value of member k of m. */
static Node *member_value(const Member *m, long k)
{
    return m->lp ? ir_loop_member(m->lp, m->s, k) : m->val;
}

static Node *family_read_t(Ast *e, const char *name, Entry *f, long c, long k);

/* Rule: a family is read one member at a time, x[k] with k a
   compile-time integer, and only members already defined.  (In a rolled
   loop body k may be t + c: family_read_t.) */
static Node *family_read(Ast *e, Entry *f)
{
    if (e->nargs != 1 || e->args[0]->kind == AST_SLICE) {
        report(e->loc, "family '%s' takes one index k; read an element as %s[k][i]", f->name,
               f->name);
        return POISON;
    }
    long k, kt;
    if (index_value(e->args[0], elab(e->args[0]), "index", &k, &kt) != 0)
        return POISON;
    if (kt)
        return family_read_t(e, f->name, f, k, kt);
    Member *m = member_at(f, k);
    if (!m || m->gen > S.visible_gen) {
        /* members_str walks the family: only for a message that will be
           printed (a loop repeating this read once took time quadratic
           in the family's size, building a message per iteration). */
        if (!f->poisoned && !S.stopped && !reported_at(e->loc))
            report(e->loc, "family '%s' has no member %ld (defined so far: %s)", f->name, k,
                   members_str(f));
        return POISON;
    }
    if (m->taint &&
        use_data(e->loc, arena_printf("%s[%ld]", f->name, k), m->taint, m->taint->name) != 0)
        return POISON;
    return member_value(m, k);
}

/* Rule: indexing.  Vector v: v[i] element, v[a:b] slice.  Matrix A:
   A[i] row, A[a:b] rows, A[i, j] element, A[i, a:b] and A[a:b, j]
   vectors, A[a:b, c:d] block.  A scalar cannot be indexed. */
static Node *index_by_t(Ast *e, Node *a, const Index *ix);
static int roll_defines(const char *name);

static Node *elab_index(Ast *e)
{
    if (e->a->kind == AST_NAME && !local_find(e->a->name)) {
        Entry *f = global_visible(e->a->name);
        if (f && f->kind == E_FAMILY)
            return family_read(e, f);
        if (!f && roll_defines(e->a->name)) {
            /* first defined by the loop being rolled */
            long k, kt;
            if (e->nargs != 1 || e->args[0]->kind == AST_SLICE ||
                index_value(e->args[0], elab(e->args[0]), "index", &k, &kt) != 0) {
                roll_failf("family '%s' read in an unsupported way", e->a->name);
                return POISON;
            }
            return family_read_t(e, e->a->name, NULL, k, kt);
        }
    }
    Node *a = elab(e->a);
    Index ix[2];
    memset(ix, 0, sizeof ix);
    int bad = 0;
    if (e->nargs == 0) {
        report(e->loc, "an index needs at least one position");
        return POISON;
    }
    if (a == POISON) {
        for (int i = 0; i < e->nargs; i++)   /* still check the indices */
            index_arg(e->args[i], -1, &ix[0]);
        return POISON;
    }
    if (a->rank == 0) {
        report(e->loc, "a scalar cannot be indexed");
        return POISON;
    }
    if (e->nargs > a->rank) {
        if (a->rank == 1)
            report(e->loc, "a vector takes 1 index, got %d", e->nargs);
        else
            report(e->loc, "a matrix takes 1 or 2 indices, got %d", e->nargs);
        return POISON;
    }
    for (int i = 0; i < e->nargs; i++)
        if (index_arg(e->args[i], i == 0 ? a->rows : a->cols, &ix[i]) != 0)
            bad = 1;
    if (bad)
        return POISON;
    if (ix[0].klo || ix[1].klo)
        return index_by_t(e, a, ix);
    int r0 = (int)ix[0].lo, r1 = (int)ix[0].hi;
    if (a->rank == 1)
        return ix[0].is_range ? ir_slice(a, r0, r1, 0, 1) : ir_element(a, r0, 0);
    if (e->nargs == 1)
        return ix[0].is_range ? ir_slice(a, r0, r1, 0, a->cols) : ir_row(a, r0);
    int c0 = (int)ix[1].lo, c1 = (int)ix[1].hi;
    if (!ix[0].is_range && !ix[1].is_range)
        return ir_element(a, r0, c0);
    if (!ix[0].is_range)
        return ir_slice(ir_row(a, r0), c0, c1, 0, 1);
    if (!ix[1].is_range)
        return ir_slice(ir_col(a, c0), r0, r1, 0, 1);
    return ir_slice(a, r0, r1, c0, c1);
}

/* Rule: [a, b, ...] concatenates scalars and vectors into one vector. */
static Node *elab_vector(Ast *e)
{
    if (e->nargs == 0) {
        report(e->loc, "an empty vector '[]' has no shape");
        return POISON;
    }
    Node **parts = arena_alloc((size_t)e->nargs * sizeof *parts);
    int bad = 0;
    long len = 0;
    for (int i = 0; i < e->nargs; i++) {
        parts[i] = elab(e->args[i]);
        if (parts[i] == POISON) {
            bad = 1;
        } else if (parts[i]->rank == 2) {
            report(e->args[i]->loc, "'[...]' concatenates scalars and vectors, got a matrix %s",
                   shape_str(parts[i]));
            bad = 1;
        } else {
            len += parts[i]->rows;
        }
    }
    if (bad || check_elems(e->loc, len, 1) != 0)
        return POISON;
    return ir_concat(e->nargs, parts);
}

/* sum(t in a:b, e) unrolled: e elaborated once per t. */
static Node *unroll_sum(Ast *e, long lo, long hi)
{
    if (hi > lo && hi - lo > MAX_STEPS - S.steps) {
        too_large(e->loc, 0);
        return POISON;
    }
    Node *acc = NULL;
    long first = lo;
    for (long t = lo; t < hi && !S.stopped; t++) {
        if (step(e->loc) != 0)
            return POISON;
        local_push(e->name, ir_const_si(t), 0);
        frame_push(0, e->name, e->name_loc, t);
        Node *v = elab(e->c);
        if (v != POISON && acc && !ir_same_shape(acc, v)) {
            report(e->c->loc, "shape mismatch in 'sum': %s = %ld gives %s, %s = %ld gave %s",
                   e->name, t, shape_str(v), e->name, first, shape_str(acc));
            v = POISON;
        }
        S.nframes--;
        S.nlocals--;
        if (v == POISON)
            return POISON;
        acc = acc ? check_const(e->loc, ir_add(acc, v)) : v;
        if (acc == POISON)
            return POISON;
    }
    return acc ? acc : ir_const_si(0);
}

/* Rule: a fn call binds each parameter to its argument (checking the
   declared shape, if any) and elaborates the body, which sees only its
   parameters and the globals defined up to the fn.  A call of a fn from
   inside its own body is recursion, which inlining cannot end. */
/* Rule: sum(t in a:b, e) = e[t=a] + ... + e[t=b-1]; every term has the
   same shape; an empty range is the scalar 0.  mean(t in a:b, e) is the
   sum divided by b - a, and needs a range that is not empty.  Rolled
   when e is uniform in t (roll_sum), else unrolled. */
static Node *elab_sumrange(Ast *e)
{
    long lo, hi;
    int bad = const_int(e->a, elab(e->a), "range bound", &lo) != 0;
    bad |= const_int(e->b, elab(e->b), "range bound", &hi) != 0;
    if (bad)
        return POISON;
    if (e->op == 'm' && hi <= lo) {
        report(e->loc, "mean over the empty range %ld:%ld", lo, hi);
        return POISON;
    }
    Node *acc = NULL;
    if (!roll_sum(e, lo, hi, &acc))
        acc = unroll_sum(e, lo, hi);
    if (acc == POISON || e->op != 'm')
        return acc;
    return ir_div(acc, ir_const_si(hi - lo));
}

static Node *call_fn(Ast *e, Entry *f)
{
    Decl *d = f->fn;
    Node **args = arena_alloc((size_t)(e->nargs ? e->nargs : 1) * sizeof *args);
    int bad = 0;
    for (int i = 0; i < e->nargs; i++)
        if ((args[i] = elab(e->args[i])) == POISON)
            bad = 1;
    if (e->nargs != d->nparams) {
        report(e->loc, "'%s' takes %d argument%s, got %d", f->name, d->nparams,
               plural(d->nparams), e->nargs);
        return POISON;
    }
    if (f->active) {
        report_note(e->loc, &f->loc, arena_printf("'%s' is defined here", f->name),
                    "recursive call of '%s'", f->name);
        return POISON;
    }
    if (bad || f->bad)
        return POISON;
    for (int i = 0; i < d->nparams; i++) {
        const ParamShape *ps = &f->pshape[i];
        if (ps->rank < 0)
            continue;
        if (args[i]->rank != ps->rank || args[i]->rows != ps->rows || args[i]->cols != ps->cols) {
            Node want = {.rank = ps->rank, .rows = ps->rows, .cols = ps->cols};
            report(e->args[i]->loc, "argument %d of '%s' must have shape %s, got %s", i + 1,
                   f->name, shape_str(&want), shape_str(args[i]));
            bad = 1;
        }
    }
    if (bad)
        return POISON;
    int saved_locals = S.nlocals, saved_gen = S.visible_gen;
    Entry *saved_fn = S.cur_fn;
    local_push("", NULL, 1);
    for (int i = 0; i < d->nparams; i++)
        local_push(d->params[i].name, args[i], 0);
    frame_push(1, f->name, e->loc, 0);
    S.visible_gen = f->gen;
    S.cur_fn = f;
    f->active = 1;
    Node *r = elab(d->value);
    f->active = 0;
    S.cur_fn = saved_fn;
    S.visible_gen = saved_gen;
    S.nframes--;
    S.nlocals = saved_locals;
    return r;
}

/* Rule: built-in functions; see the table above for their arities. */
static Node *call_builtin(Ast *e, const Builtin *b)
{
    if (e->nargs < b->min || e->nargs > b->max) {
        if (b->min == b->max)
            report(e->loc, "'%s' takes %d argument%s, got %d", builtin_name(b), b->min,
                   plural(b->min), e->nargs);
        else
            report(e->loc, "'%s' takes %d or %d arguments, got %d", builtin_name(b), b->min, b->max,
                   e->nargs);
        return POISON;
    }
    /* Constructors take sizes, not values. */
    if (b->kind == B_EYE || b->kind == B_ZEROS || b->kind == B_ONES) {
        int dims[2] = {1, 1};
        const char *what = arena_printf("size of '%s'", builtin_name(b));
        int bad = 0;
        for (int i = 0; i < e->nargs; i++)
            if (size_arg(e->args[i], what, &dims[i]) != 0)
                bad = 1;
        if (bad)
            return POISON;
        if (b->kind == B_EYE) {
            if (check_elems(e->loc, dims[0], dims[0]) != 0)
                return POISON;
            return ir_eye(dims[0]);
        }
        int rank = e->nargs;
        if (check_elems(e->loc, dims[0], dims[1]) != 0)
            return POISON;
        if (b->kind == B_ZEROS)
            return ir_zeros(rank, dims[0], dims[1]);
        return ir_bcast(ir_const_si(1), rank, dims[0], dims[1]);
    }
    Node *a = elab(e->args[0]);
    Node *c = e->nargs > 1 ? elab(e->args[1]) : NULL;
    if (a == POISON || c == POISON)
        return POISON;
    switch (b->kind) {
    case B_UNARY:
        return ir_unary(b->op, a);
    case B_POW:
        return arith(e->loc, OP_POW, "pow", a, c);
    /* sum(e): all elements; mean(e) = sum(e) / size(e) */
    case B_SUM:
        return ir_sum(a);
    case B_MEAN:
    {
        /* one statement per node: C leaves argument order unspecified, and
           node ids (hence the emitted names) must not depend on it */
        Node *total = ir_sum(a);
        return ir_div(total, ir_const_si(ir_size(a)));
    }
    /* dot(a, b) = sum(a * b), same shapes */
    case B_DOT:
        if (!ir_same_shape(a, c)) {
            report(e->loc, "'dot' needs operands of the same shape, got %s and %s", shape_str(a),
                   shape_str(c));
            return POISON;
        }
        return ir_sum(ir_mul(a, c));
    /* norm(e) = sqrt(sum(e * e)) */
    case B_NORM:
        return ir_unary(OP_SQRT, ir_sum(ir_mul(a, a)));
    case B_LSE:
        return ir_lse(a);
    /* outer(a, b)[i, j] = a[i] b[j], of two vectors */
    case B_OUTER:
        if (a->rank != 1 || c->rank != 1) {
            report(e->loc, "'outer' needs two vectors, got %s and %s", shape_str(a), shape_str(c));
            return POISON;
        }
        if (check_elems(e->loc, a->rows, c->rows) != 0)
            return POISON;
        return ir_outer(a, c);
    default:
        unreachable();
    }
}

/* name(args): a fn in scope, else a built-in.  Values (locals and
   globals) never shadow a function in a call. */
static Node *elab_call(Ast *e)
{
    Loc loc = e->name_loc.end > e->name_loc.begin ? e->name_loc : e->loc;
    Local *l = local_find(e->name);
    Entry *f = global_visible(e->name);
    if (f && f->kind == E_FN)
        return call_fn(e, f);
    const Builtin *b = builtin_find(e->name);
    if (b)
        return call_builtin(e, b);
    if (l || f)
        report(loc, "'%s' is not a function", e->name);
    else
        undefined(loc, "function", e->name);
    return POISON;
}

/* Elaborates an expression into IR, or POISON after an error.  Every
   result that is a constant goes through check_const. */
static Node *elab(Ast *e)
{
    if (!e || S.stopped)
        return POISON;
    if (step(e->loc) != 0)
        return POISON;
    if (S.depth >= MAX_DEPTH) {
        report(e->loc, "expression nested too deeply after inlining fn calls (more than %d levels)",
               MAX_DEPTH);
        S.stopped = !S.roll;
        return POISON;
    }
    S.depth++;
    Node *n = POISON;
    switch (e->kind) {
    /* Rule: every number is exact; it goes into the IR as it is. */
    case AST_NUM:
        n = ir_const(e->num);
        break;
    case AST_NAME:
        n = elab_name(e);
        break;
    case AST_BINARY:
        n = elab_binary(e);
        break;
    /* Rule: -a elementwise, any shape. */
    case AST_NEG:
        n = elab(e->a);
        if (n != POISON)
            n = ir_neg(n);
        break;
    /* Rule: a' transposes a matrix; vectors and scalars are unchanged. */
    case AST_TRANSPOSE:
        n = elab(e->a);
        if (n != POISON)
            n = ir_transpose(n);
        break;
    case AST_CALL:
        n = elab_call(e);
        break;
    case AST_INDEX:
        n = elab_index(e);
        break;
    case AST_SLICE:
        report(e->loc, "a range 'a:b' may appear only inside an index");
        break;
    case AST_VECTOR:
        n = elab_vector(e);
        break;
    case AST_SUMRANGE:
        n = elab_sumrange(e);
        break;
    }
    S.depth--;
    if (n != POISON)
        n = check_const(e->loc, n);
    return n;
}

/* Elaborates a let value (or a member's) and records its data taint. */
static Node *elab_value(Ast *e, const Taint **taint)
{
    const Taint *saved = S.taint;
    S.taint = NULL;
    Node *n = elab(e);
    *taint = S.taint;
    S.taint = saved;
    return n;
}

/* ------------------------------------------------------------------ */
/* Declarations                                                        */
/* ------------------------------------------------------------------ */

/* Rule: `dim N = e`: e a positive compile-time integer; N is then a
   constant like any other. */
static void decl_dim(Decl *d)
{
    int v, ok = size_arg(d->value, "dimension", &v) == 0;
    Entry *en = define(d->name, d->name_loc, E_DIM);
    if (en && ok)
        en->val = ir_const_si(v);
}

/* Rule: `const c = e`: e depends on no input, param, var or data. */
static void decl_const(Decl *d)
{
    Node *n = elab(d->value);
    Entry *en = define(d->name, d->name_loc, E_CONST);
    if (!en || n == POISON)
        return;
    Node *leaf = find_leaf(n, BLK__COUNT);
    if (leaf) {
        const Symbol *s = leaf_symbol(leaf);
        report(d->value->loc, "const '%s' must be a constant expression, but it depends on %s '%s'",
               d->name, s ? role_name[s->role] : "value", s ? s->name : "?");
        return;
    }
    en->val = n;
}

/* Rule: `input/param/var/data x[m, n]`: rank 0, 1 or 2, sizes positive
   compile-time integers; the symbols of one role are laid out one after
   another in declaration order in that role's flat block.  Only a param
   may have a default, a constant scalar given to every element. */
static void decl_symbol(Decl *d)
{
    if (d->role == ROLE_VAR)
        S.have_var = 1;
    int dims[2] = {1, 1}, bad = 0;
    if (d->rank > 2) {
        report(d->name_loc, "'%s' has %d dimensions; at most 2 are supported", d->name, d->rank);
        bad = 1;
    } else {
        for (int i = 0; i < d->rank; i++)
            if (size_arg(d->shape[i], "dimension", &dims[i]) != 0)
                bad = 1;
    }
    mpq_ptr init = NULL;
    if (d->value && d->role != ROLE_PARAM) {
        report(d->value->loc, "only a 'param' may have a default value ('%s' is %s)", d->name,
               d->role == ROLE_INPUT ? "an input" : d->role == ROLE_VAR ? "a var" : "data");
        bad = 1;
    } else if (d->value) {
        Node *v = elab(d->value);
        double x;
        if (v == POISON) {
            bad = 1;
        } else if (v->rank != 0) {
            report(d->value->loc, "default value of '%s' must be a scalar, got shape %s",
                   d->name, shape_str(v));
            bad = 1;
        } else if (v->op != OP_CONST) {
            report(d->value->loc,
                   "default value of '%s' must be an exact constant (a rational number; "
                   "functions of constants such as sin(1) are not folded)", d->name);
            bad = 1;
        } else if (rat_to_double(v->q, &x) != 0) {
            report(d->value->loc, "constant overflows a double");
            bad = 1;
        } else {
            init = arena_mpq();
            mpq_set(init, v->q);
        }
    }
    Entry *en = define(d->name, d->name_loc, E_SYMBOL);
    if (!en)
        return;
    en->role = d->role;
    if (bad || (d->rank == 2 && check_elems(d->name_loc, dims[0], dims[1]) != 0))
        return;
    int rows = d->rank >= 1 ? dims[0] : 1, cols = d->rank == 2 ? dims[1] : 1;
    Block blk = role_block(d->role);
    if (S.blk_len[blk] + (long)rows * cols > MAX_ELEMS) {
        report(d->name_loc, "the '%s' block is too large: more than %ld elements in all",
               role_name[d->role], MAX_ELEMS);
        return;
    }
    /* theta_init is a static array of the emitted C: beyond MAX_THETA it
       no longer links (2 GiB), and every element up to the last nonzero
       default is an initialiser the C compiler reads one by one. */
    if (blk == BLK_THETA && S.blk_len[blk] + (long)rows * cols > MAX_THETA) {
        report(d->name_loc, "the 'param' block is too large: more than %ld elements in all "
               "(the emitted C holds their defaults in one static array)", MAX_THETA);
        return;
    }
    if (init && mpq_sgn(init) != 0 && S.blk_len[blk] + (long)rows * cols > MAX_INIT) {
        report(d->value->loc, "a nonzero default here reaches element %ld of theta, beyond the "
               "%ld the emitted C initialises one by one; give large parameters no default "
               "and set them at run time", S.blk_len[blk] + (long)rows * cols, MAX_INIT);
        return;
    }
    S.syms = arena_grow(S.syms, &S.capsyms, S.nsyms + 1, sizeof *S.syms);
    Symbol *s = &S.syms[S.nsyms++];
    s->name = d->name;
    s->loc = d->name_loc;
    s->role = d->role;
    s->rank = d->rank;
    s->rows = rows;
    s->cols = cols;
    s->offset = (int)S.blk_len[blk];
    s->leaf = ir_leaf(blk, s->offset, d->rank, rows, cols);
    s->leaf->name = d->name;
    s->init = init;
    S.blk_len[blk] += (long)rows * cols;
    en->val = s->leaf;
}

/* Rule: `let z = e` names a value; `let x[k] = e` defines member k (a
   compile-time integer >= 0) of family x, once; members may come in any
   order, but are read only after their definition.  Inside a `for` body
   only members may be defined (checked by decl_for). */
static void decl_let(Decl *d)
{
    const Taint *taint;
    if (!d->index) {
        Entry *old = global_find(d->name);
        if (old) {
            define(d->name, d->name_loc, E_LET);   /* reports it */
            return;
        }
        Node *v = elab_value(d->value, &taint);
        Entry *en = define(d->name, d->name_loc, E_LET);
        if (!en)
            return;
        en->val = v;
        en->taint = taint;
        return;
    }
    Entry *f = global_find(d->name);
    if (f && f->kind != E_FAMILY) {
        define(d->name, d->name_loc, E_FAMILY);    /* reports it */
        return;
    }
    if (!f && !(f = define(d->name, d->name_loc, E_FAMILY)))
        return;
    long k;
    if (const_int(d->index, elab(d->index), "family index", &k) != 0) {
        f->poisoned = 1;
        return;
    }
    if (k < 0) {
        report(d->index->loc, "family index must not be negative, got %ld", k);
        f->poisoned = 1;
        return;
    }
    Member *old = member_at(f, k);
    if (old) {
        report_note(d->name_loc, &old->loc, arena_printf("'%s[%ld]' was first defined here", d->name, k),
                    "'%s[%ld]' is already defined", d->name, k);
        return;
    }
    Node *v = elab_value(d->value, &taint);
    int p = member_pos(f, k);
    f->mem = arena_grow(f->mem, &f->capmem, f->nmem + 1, sizeof *f->mem);
    memmove(&f->mem[p + 1], &f->mem[p], (size_t)(f->nmem - p) * sizeof *f->mem);
    f->nmem++;
    f->mem[p] = (Member){k, k + 1, NULL, 0, v, d->name_loc, ++S.gen, taint};
}

/* The names a fn body uses, checked once at its definition, so that a
   misspelt name is reported even in a fn that is never called (the
   shapes can be checked only at a call, once the arguments are known).
   bound: the parameters, then the indices of enclosing compile-time sums. */
static void check_fn_names(Ast *e, const char ***bound, int *nbound, int *cap)
{
    if (!e || S.stopped)
        return;
    if (e->kind == AST_NAME || e->kind == AST_CALL) {
        int found = 0;
        for (int i = 0; i < *nbound && !found; i++)
            found = strcmp((*bound)[i], e->name) == 0;
        if (!found && !global_find(e->name) && !builtin_find(e->name))
            undefined(e->kind == AST_CALL ? e->name_loc : e->loc,
                      e->kind == AST_CALL ? "function" : "name", e->name);
    }
    check_fn_names(e->a, bound, nbound, cap);
    check_fn_names(e->b, bound, nbound, cap);
    if (e->kind == AST_SUMRANGE) {
        *bound = arena_grow(*bound, cap, *nbound + 1, sizeof **bound);
        (*bound)[(*nbound)++] = e->name;
        check_fn_names(e->c, bound, nbound, cap);
        (*nbound)--;
    } else {
        check_fn_names(e->c, bound, nbound, cap);
    }
    for (int i = 0; i < e->nargs; i++)
        check_fn_names(e->args[i], bound, nbound, cap);
}

/* Rule: `fn name(a, b[N]) = e`: parameter names distinct, bracketed
   shapes are compile-time sizes; a fn may not take the name of a
   built-in function (calls would be ambiguous).  Values may: a call is
   never confused with a value. */
static void decl_fn(Decl *d)
{
    if (builtin_find(d->name)) {
        report(d->name_loc, "'%s' is a built-in function and cannot be redefined", d->name);
        return;
    }
    Entry *en = define(d->name, d->name_loc, E_FN);
    if (!en)
        return;
    en->fn = d;
    en->pshape = arena_alloc((size_t)(d->nparams ? d->nparams : 1) * sizeof *en->pshape);
    for (int i = 0; i < d->nparams; i++) {
        Param *p = &d->params[i];
        ParamShape *ps = &en->pshape[i];
        for (int j = 0; j < i; j++)
            if (strcmp(d->params[j].name, p->name) == 0) {
                report_note(p->loc, &d->params[j].loc,
                            arena_printf("'%s' was first defined here", p->name),
                            "'%s' is already defined", p->name);
                en->bad = 1;
            }
        ps->rank = p->rank;
        ps->rows = ps->cols = 1;
        if (p->rank > 2) {
            report(p->loc, "parameter '%s' has %d dimensions; at most 2 are supported", p->name,
                   p->rank);
            en->bad = 1;
            continue;
        }
        int dims[2] = {1, 1};
        for (int j = 0; j < p->rank; j++)
            if (size_arg(p->shape[j], "dimension", &dims[j]) != 0)
                en->bad = 1;
        if (p->rank >= 1)
            ps->rows = dims[0];
        if (p->rank == 2)
            ps->cols = dims[1];
    }
    int nbound = 0, cap = 0;
    const char **bound = NULL;
    for (int i = 0; i < d->nparams; i++) {
        bound = arena_grow(bound, &cap, nbound + 1, sizeof *bound);
        bound[nbound++] = d->params[i].name;
    }
    S.checking_fn = 1;
    check_fn_names(d->value, &bound, &nbound, &cap);
    S.checking_fn = 0;
}

/* ------------------------------------------------------------------ */
/* Rolled loops: trial elaboration (docs/design.md, "Rolled loops")     */
/* ------------------------------------------------------------------ */

/*
 * A `for` or `sum(t in a:b, ...)` is first elaborated once with t bound to
 * the ITER node of a new Loop, in trial mode: nothing is printed, the first
 * error or construct that cannot roll fails the trial (roll_fail), and the
 * caller then unrolls exactly as before, so the diagnostics of a bad model
 * do not depend on rolling.  Families the body defines (x[t + d]) become
 * the loop's states; reads x[t + c] of them are CARRY placeholders.
 */

/* A family defined by the body being rolled. */
typedef struct RollFam {
    const char *name;
    Loc loc;                  /* its `let` */
    long d;                   /* the body defines member t + d */
    int s;                    /* state of the loop, -1 until its shape is known */
    Node *val;                /* the member in the body, once defined */
    long minlag;              /* smallest c of a read x[t + c] */
} RollFam;

typedef struct Roll {
    Loop *lp;
    int failed;
    const char *why;          /* the first reason it cannot roll */
    long steps0;              /* S.steps at the start */
    RollFam *fam;
    int nfam, capfam;
} Roll;

static void roll_fail(const char *why)
{
    if (!S.roll->failed) {
        S.roll->failed = 1;
        S.roll->why = why;
    }
}

/* A reason found during a trial (never printed as an error: the trial
   then unrolls, and unrolling reports what is really wrong). */
static void roll_failf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static void roll_failf(const char *fmt, ...)
{
    if (!S.roll || S.roll->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = arena_vprintf(fmt, ap);
    va_end(ap);
    roll_fail(msg);
}

static void roll_ends(long *t0, long *t1)
{
    *t0 = S.roll ? S.roll->lp->lo : 0;
    *t1 = S.roll ? S.roll->lp->hi - 1 : 0;
}

static RollFam *roll_fam(const char *name)
{
    for (int i = 0; S.roll && i < S.roll->nfam; i++)
        if (!strcmp(S.roll->fam[i].name, name))
            return &S.roll->fam[i];
    return NULL;
}

static int roll_defines(const char *name)
{
    return roll_fam(name) != NULL;
}

/* n = c + k t with t the index being rolled, in exact rationals. */
static int affine_rec(const Node *n, mpq_ptr c, mpq_ptr k, int depth)
{
    if (depth > 200 || n->rank != 0)
        return -1;
    if (n->op == OP_CONST) {
        mpq_set(c, n->q);
        mpq_set_ui(k, 0, 1);
        return 0;
    }
    if (n->op == OP_ITER && n->loop == S.roll->lp) {
        mpq_set_ui(c, 0, 1);
        mpq_set_ui(k, 1, 1);
        return 0;
    }
    if (n->op == OP_NEG) {
        if (affine_rec(n->args[0], c, k, depth + 1) != 0)
            return -1;
        mpq_neg(c, c);
        mpq_neg(k, k);
        return 0;
    }
    if (n->op != OP_ADD && n->op != OP_SUB && n->op != OP_MUL && n->op != OP_DIV)
        return -1;
    mpq_t c2, k2;
    mpq_init(c2);
    mpq_init(k2);
    int rc = affine_rec(n->args[0], c, k, depth + 1);
    if (rc == 0)
        rc = affine_rec(n->args[1], c2, k2, depth + 1);
    if (rc == 0) {
        switch (n->op) {
        case OP_ADD:
            mpq_add(c, c, c2);
            mpq_add(k, k, k2);
            break;
        case OP_SUB:
            mpq_sub(c, c, c2);
            mpq_sub(k, k, k2);
            break;
        case OP_MUL:                  /* (c + k t)(c2 + k2 t), one side constant */
            if (mpq_sgn(k) == 0) {
                mpq_mul(k, c, k2);
                mpq_mul(c, c, c2);
            } else if (mpq_sgn(k2) == 0) {
                mpq_mul(c, c, c2);
                mpq_mul(k, k, c2);
            } else {
                rc = -1;
            }
            break;
        default:                      /* (c + k t) / c2 */
            if (mpq_sgn(k2) != 0 || mpq_sgn(c2) == 0) {
                rc = -1;
            } else {
                mpq_div(c, c, c2);
                mpq_div(k, k, c2);
            }
        }
    }
    mpq_clear(c2);
    mpq_clear(k2);
    return rc;
}

/* n as c + k t with integers c and k that fit an int, or -1. */
static int affine_of(const Node *n, long *c, long *k)
{
    mpq_t qc, qk;
    mpq_init(qc);
    mpq_init(qk);
    int rc = affine_rec(n, qc, qk, 0);
    if (rc == 0 && (!rat_is_int(qc) || !rat_is_int(qk) || !mpz_fits_sint_p(mpq_numref(qc)) ||
                    !mpz_fits_sint_p(mpq_numref(qk))))
        rc = -1;
    if (rc == 0) {
        *c = mpz_get_si(mpq_numref(qc));
        *k = mpz_get_si(mpq_numref(qk));
    }
    mpq_clear(qc);
    mpq_clear(qk);
    return rc;
}

/* Rule: an index is a compile-time integer c (k = 0); in a rolled loop
   body also c + k t, an affine function of the loop index. */
static int index_value(Ast *e, Node *n, const char *what, long *c, long *k)
{
    if (n == POISON)
        return -1;
    if (S.roll && n->in == S.roll->lp) {
        if (affine_of(n, c, k) != 0) {
            roll_failf("%s is not an affine function of the loop index", what);
            return -1;
        }
        return 0;
    }
    *k = 0;
    return const_int(e, n, what, c);
}

/* Whether n depends on nothing but the loop index and constants (a value
   that unrolling would fold exactly). */
static int index_only_rec(Node *n, NodeMap *seen)
{
    if (n->op == OP_CONST || n->op == OP_NAMED || n->op == OP_ITER)
        return 1;
    if (n->op == OP_LEAF || n->op == OP_CARRY || n->op == OP_TVIEW || n->op == OP_LOOP)
        return 0;
    if (nodemap_get(seen, n))
        return 1;
    for (int i = 0; i < n->nargs; i++)
        if (!index_only_rec(n->args[i], seen))
            return 0;
    nodemap_put(seen, n, n);
    return 1;
}

static int index_only(Node *n)
{
    NodeMap seen = {0, 0, 0, 0};
    return S.roll && n->in == S.roll->lp && index_only_rec(n, &seen);
}

/* Rule (rolling): what exact folding would decide per iteration when
   unrolled is not rolled: a power of an expression of the loop index
   alone, and a division by one that is zero for some t. */
static int roll_arith_ok(Loc loc, Op op, Node *a, Node *b)
{
    if (!S.roll || (a->in != S.roll->lp && b->in != S.roll->lp))
        return 1;
    if (op == OP_POW && (index_only(a) || index_only(b))) {
        roll_failf("a power of the loop index (folded exactly only when unrolled)");
        return 0;
    }
    if (op == OP_DIV && index_only(b)) {
        long c, k, t0, t1;
        roll_ends(&t0, &t1);
        if (affine_of(b, &c, &k) != 0 ||
            (k != 0 && c % k == 0 && -c / k >= t0 && -c / k <= t1)) {
            roll_failf("a division by an expression of the loop index that may be zero");
            return 0;
        }
    }
    return 1;
}

/* Member shape of m. */
static void member_shape(const Member *m, int *rank, int *rows, int *cols)
{
    if (m->lp) {
        const LoopState *st = &m->lp->st[m->s];
        *rank = st->rank, *rows = st->rows, *cols = st->cols;
    } else {
        *rank = m->val->rank, *rows = m->val->rows, *cols = m->val->cols;
    }
}

/* Gives rf its shape (and its state in the loop), or fails the trial if
   it had another one. */
static int roll_shape(Loc loc, RollFam *rf, int rank, int rows, int cols)
{
    if (rf->s < 0) {
        rf->s = ir_loop_add_state(S.roll->lp, rf->name, rank, rows, cols, rf->d);
        return 0;
    }
    const LoopState *st = &S.roll->lp->st[rf->s];
    if (st->rank != rank || st->rows != rows || st->cols != cols) {
        roll_failf("members of '%s' change shape with the loop index", rf->name);
        return -1;
    }
    return 0;
}

/* x[t + c] (k must be 1) in a rolled body: a CARRY of a family this loop
   defines, or a view, moving with t, of an earlier rolled loop's stack. */
static Node *family_read_t(Ast *e, const char *name, Entry *f, long c, long k)
{
    if (!S.roll || k != 1) {
        roll_failf("family '%s' read at an index other than t + c", name);
        return POISON;
    }
    Loop *lp = S.roll->lp;
    RollFam *rf = roll_fam(name);
    if (rf) {
        if (c == rf->d && rf->val)
            return rf->val;
        if (c >= rf->d) {
            roll_failf("'%s[t + %ld]' is read before it is defined", name, c);
            return POISON;
        }
        /* read at lag d - c: at t = lo it is member lo + c, defined before */
        Member *m = f ? member_at(f, lp->lo + c) : NULL;
        if (!m || m->gen > S.visible_gen || m->taint) {
            roll_failf("family '%s' has no member %ld usable here", name, lp->lo + c);
            return POISON;
        }
        int rank, rows, cols;
        member_shape(m, &rank, &rows, &cols);
        if (roll_shape(e->loc, rf, rank, rows, cols) != 0)
            return POISON;
        if (c < rf->minlag)
            rf->minlag = c;
        return ir_carry(lp, rf->s, c);
    }
    Member *m = f ? member_at(f, lp->hi - 1 + c) : NULL;
    if (!m || !m->lp || lp->lo + c < m->lp->st[m->s].kmin || m->gen > S.visible_gen) {
        roll_failf("family '%s' is not one rolled stack over t + %ld", name, c);
        return POISON;
    }
    if (m->taint && use_data(e->loc, name, m->taint, m->taint->name) != 0)
        return POISON;
    return ir_loop_read(m->lp, m->s, c, lp->iter);
}

/* a[...] with an index that moves with the loop index: one TVIEW.  The
   maps are those of ir_element, ir_row, ir_col and ir_slice. */
static Node *index_by_t(Ast *e, Node *a, const Index *ix)
{
    if (a->in) {
        roll_failf("a value computed in the loop body, indexed by the loop index");
        return POISON;
    }
    int rank, rows = 1, cols = 1;
    Map m = {(int)ix[0].lo, 0, 0, 0, 0, 0};
    int tr = (int)ix[0].klo, tc = 0;
    int len0 = (int)(ix[0].hi - ix[0].lo);
    if (a->rank == 1) {
        rank = ix[0].is_range;
        rows = ix[0].is_range ? len0 : 1;
        m.arr = ix[0].is_range;
    } else if (e->nargs == 1) {
        rank = ix[0].is_range ? 2 : 1;
        rows = ix[0].is_range ? len0 : a->cols;
        cols = ix[0].is_range ? a->cols : 1;
        m.arr = ix[0].is_range;
        m.acc = ix[0].is_range;
        m.acr = !ix[0].is_range;
    } else {
        int len1 = (int)(ix[1].hi - ix[1].lo);
        tc = (int)ix[1].klo;
        m.c0 = (int)ix[1].lo;
        rank = ix[0].is_range + ix[1].is_range;
        rows = ix[0].is_range ? len0 : ix[1].is_range ? len1 : 1;
        cols = rank == 2 ? len1 : 1;
        m.arr = ix[0].is_range;
        m.acr = !ix[0].is_range && ix[1].is_range;
        m.acc = rank == 2;
    }
    if (rank == 2) {
        /* its adjoint would be a matrix scattered per step (not rolled) */
        roll_failf("a matrix slice that moves with the loop index");
        return POISON;
    }
    return ir_tview(a, S.roll->lp->iter, rank, rows, cols, m, tr, tc);
}

/* Starts a trial, or returns NULL when this loop is unrolled anyway
   (--unroll, or inside another trial: a loop nested in a rolled body is
   unrolled there, its index a constant). */
static Roll *roll_begin(long lo, long hi, const char *var)
{
    if (S.unroll || S.roll || S.stopped || hi <= lo)
        return NULL;
    Roll *r = arena_alloc(sizeof *r);
    r->lp = ir_loop_new(lo, hi, 1);
    r->steps0 = S.steps;
    S.roll = r;
    local_push(var, r->lp->iter, 0);
    return r;
}

static void roll_stop(Roll *r)
{
    S.nlocals--;
    S.roll = NULL;
    if (r->failed)
        S.steps = r->steps0;      /* unrolling gets the whole budget */
}

/* --stats: one line per loop (the first time it is elaborated). */
static void loop_report(Loc loc, const char *what, long n, int rolled, const char *why)
{
    if (S.roll)
        return;
    for (int i = 0; i < S.nloops; i++)
        if (S.loops[i].loc.begin == loc.begin && S.loops[i].loc.end == loc.end)
            return;
    S.loops = arena_grow(S.loops, &S.caploops, S.nloops + 1, sizeof *S.loops);
    S.loops[S.nloops++] = (LoopReport){loc, what, n, rolled, why};
}

/* Which of the roots reach a model input: a LEAF, or a CARRY of a state
   whose flag in carry_in is set. */
static void reach_inputs(Node **roots, int n, const int *carry_in, int *out)
{
    Node **order;
    int cnt = ir_topo(roots, n, &order);
    NodeMap in = {0, 0, 0, 0};
    static int yes;
    for (int i = 0; i < cnt; i++) {
        Node *nd = order[i];
        int v = nd->op == OP_LEAF || (nd->op == OP_CARRY && nd->loop == S.roll->lp &&
                                      carry_in[nd->state]);
        for (int j = 0; j < nd->nargs && !v; j++)
            v = nodemap_get(&in, nd->args[j]) != NULL;
        if (v)
            nodemap_put(&in, nd, &yes);
    }
    for (int i = 0; i < n; i++)
        out[i] = roots[i] && nodemap_get(&in, roots[i]) != NULL;
}

/* Rule (rolling): a loop whose values do not depend on the model's inputs
   is unrolled, so that they fold exactly (such a family may be used as a
   compile-time index later). */
static void roll_check_inputs(Roll *r)
{
    Loop *lp = r->lp;
    int n = lp->nst + lp->nsum;
    int *flag = arena_alloc((size_t)(n + 1) * sizeof *flag);
    Node **roots = arena_alloc((size_t)(2 * n + 1) * sizeof *roots);
    for (int round = 0; round <= lp->nst; round++) {
        for (int s = 0; s < lp->nst; s++)
            roots[s] = lp->st[s].body;
        for (int k = 0; k < lp->nsum; k++)
            roots[lp->nst + k] = lp->sum[k];
        int *now = arena_alloc((size_t)(n + 1) * sizeof *now);
        reach_inputs(roots, n, flag, now);
        for (int s = 0; s < lp->nst; s++) {
            int init_in;
            reach_inputs(&lp->st[s].init, 1, flag, &init_in);
            now[s] |= init_in;
        }
        memcpy(flag, now, (size_t)n * sizeof *flag);
    }
    for (int i = 0; i < n; i++)
        if (!flag[i])
            roll_fail("its values are constants (folded exactly when unrolled)");
}

/* `let x[t + d] = e` in a rolled body (registered by roll_prescan). */
static void roll_let(Decl *d)
{
    long c, k;
    if (index_value(d->index, elab(d->index), "family index", &c, &k) != 0)
        return;
    RollFam *rf = roll_fam(d->name);
    if (k != 1 || !rf || rf->d != c) {
        roll_failf("family index is not t + c");
        return;
    }
    if (rf->val) {
        roll_failf("'%s' is defined twice in one iteration", d->name);
        return;
    }
    const Taint *taint;
    Node *v = elab_value(d->value, &taint);
    if (v == POISON)
        return;
    if (taint) {
        roll_failf("a family depending on data");
        return;
    }
    if (roll_shape(d->name_loc, rf, v->rank, v->rows, v->cols) == 0)
        rf->val = v;
}

/* The families a body defines, with their offsets d: known before any
   read, so that x[t] in x[t+1] = f(x[t]) is seen to be carried. */
static void roll_prescan(Decl *body)
{
    Roll *r = S.roll;
    for (Decl *b = body; b && !r->failed; b = b->next) {
        if (b->kind == DECL_FOR) {
            roll_fail("a nested 'for'");
            return;
        }
        if (b->kind != DECL_LET || !b->index)
            continue;
        long c, k;
        if (index_value(b->index, elab(b->index), "family index", &c, &k) != 0)
            return;
        if (k != 1) {
            roll_fail("a family index other than t + c");
            return;
        }
        if (roll_fam(b->name)) {
            roll_fail("a family defined twice in one iteration");
            return;
        }
        r->fam = arena_grow(r->fam, &r->capfam, r->nfam + 1, sizeof *r->fam);
        r->fam[r->nfam++] = (RollFam){b->name, b->name_loc, c, -1, NULL, c};
    }
}

/* Init rows of state rf (members kmin .. lo+d-1, defined before the loop)
   as one flat vector, or NULL after failing the trial. */
static Node *roll_init(RollFam *rf, Entry *f, long kmin, long kend)
{
    LoopState *st = &S.roll->lp->st[rf->s];
    long n = kend - kmin, w = (long)st->rows * st->cols;
    Node **pieces = arena_alloc((size_t)n * sizeof *pieces);
    Map *place = arena_alloc((size_t)n * sizeof *place);
    for (long i = 0; i < n; i++) {
        Member *m = f ? member_at(f, kmin + i) : NULL;
        int rank, rows, cols;
        if (!m || m->taint || m->gen > S.visible_gen) {
            roll_fail("a carried member read before the loop is not defined");
            return NULL;
        }
        member_shape(m, &rank, &rows, &cols);
        if (rank != st->rank || rows != st->rows || cols != st->cols) {
            roll_fail("members change shape");
            return NULL;
        }
        pieces[i] = member_value(m, kmin + i);
        if (pieces[i] == POISON) {
            roll_fail("an earlier error");
            return NULL;
        }
        place[i] = (Map){(int)(i * w), rank == 2 ? cols : rank, rank == 2, 0, 0, 0};
    }
    return ir_assemble(1, (int)(n * w), 1, (int)n, pieces, place);
}

/* Stacks of the families, after a successful trial body: the init rows
   before the loop, then one row per iteration.  0, or -1 (failed). */
static int roll_states(Roll *r)
{
    Loop *lp = r->lp;
    for (int i = 0; i < r->nfam && !r->failed; i++) {
        RollFam *rf = &r->fam[i];
        if (!rf->val) {
            roll_fail("a family member is not defined in every iteration");
            return -1;
        }
        Entry *f = global_find(rf->name);
        if (f && f->kind != E_FAMILY) {
            roll_fail("a family name already taken");
            return -1;
        }
        LoopState *st = &lp->st[rf->s];
        long first = lp->lo + rf->d;
        /* members written by the loop must not exist yet */
        if (f && (member_at(f, first) ||
                  (member_pos(f, first) < f->nmem &&
                   f->mem[member_pos(f, first)].k < lp->hi + rf->d))) {
            roll_fail("a member the loop defines is already defined");
            return -1;
        }
        st->kmin = first + (rf->minlag < rf->d ? rf->minlag - rf->d : 0);
        st->kmax = lp->hi + rf->d;
        if (st->kmin < 0) {
            roll_fail("a negative family index");
            return -1;
        }
        st->body = rf->val;
        st->init_k0 = st->kmin;
        st->ninit = first - st->kmin;
        st->init = st->ninit ? roll_init(rf, f, st->kmin, first) : NULL;
    }
    return r->failed ? -1 : 0;
}

/* Rule (limit): a rolled loop's value is one tensor, at most MAX_ELEMS
   doubles.  Reported (the loop is not unrolled instead: that would be
   larger still); 0 if it fits. */
static int roll_size_ok(Loc loc, const Loop *lp)
{
    long total = 0;
    for (int s = 0; s < lp->nst && total <= MAX_ELEMS; s++) {
        const LoopState *st = &lp->st[s];
        long w = (long)st->rows * st->cols, rows = st->kmax - st->kmin;
        total = rows > MAX_ELEMS / w ? MAX_ELEMS + 1 : total + rows * w;
    }
    for (int k = 0; k < lp->nsum; k++)
        total += ir_size(lp->sum[k]);
    if (total > MAX_ELEMS) {
        report(loc, "horizon too large: the loop's stacked values need more doubles of work "
                    "than the limit, %ld", MAX_ELEMS);
        return 0;
    }
    return 1;
}

/* Rule: a `for` whose body is uniform in its index is rolled (one LOOP
   node, families stacked); 1 when done (rolled, or a limit reported),
   0 when the caller must unroll. */
static int roll_for(Decl *d, long lo, long hi)
{
    Roll *r = roll_begin(lo, hi, d->name);
    if (!r) {
        loop_report(d->loc, "for", hi - lo, 0, S.unroll ? "--unroll" : "nested in a loop");
        return 0;
    }
    roll_prescan(d->body);
    for (Decl *b = d->body; b && !r->failed; b = b->next)
        if (b->kind == DECL_LET && b->index)
            roll_let(b);
    if (!r->failed && roll_states(r) == 0)
        roll_check_inputs(r);
    roll_stop(r);
    loop_report(d->loc, "for", hi - lo, !r->failed, r->why);
    if (r->failed)
        return 0;
    if (!r->nfam)
        return 1;
    Loop *lp = r->lp;
    if (!roll_size_ok(d->loc, lp))
        return 1;
    ir_loop_finish(lp);
    for (int i = 0; i < r->nfam; i++) {
        RollFam *rf = &r->fam[i];
        Entry *f = global_find(rf->name);
        if (!f && !(f = define(rf->name, rf->loc, E_FAMILY)))
            continue;
        long first = lo + rf->d;
        int p = member_pos(f, first);
        f->mem = arena_grow(f->mem, &f->capmem, f->nmem + 1, sizeof *f->mem);
        memmove(&f->mem[p + 1], &f->mem[p], (size_t)(f->nmem - p) * sizeof *f->mem);
        f->nmem++;
        f->mem[p] = (Member){first, hi + rf->d, lp, rf->s, NULL, rf->loc, ++S.gen, NULL};
    }
    return 1;
}

/* Rule: sum(t in a:b, e) (mean: divided by b - a) with e uniform in t is
   one loop accumulating e; 1 with *out set, or 0 (unroll). */
static int roll_sum(Ast *e, long lo, long hi, Node **out)
{
    Roll *r = roll_begin(lo, hi, e->name);
    if (!r) {
        loop_report(e->loc, "sum", hi - lo, 0, S.unroll ? "--unroll" : "nested in a loop");
        return 0;
    }
    Node *v = elab(e->c);
    if (!r->failed && v == POISON)
        roll_fail("an error in its body");
    if (!r->failed) {
        ir_loop_add_sum(r->lp, v);
        roll_check_inputs(r);
    }
    roll_stop(r);
    loop_report(e->loc, "sum", hi - lo, !r->failed, r->why);
    if (r->failed)
        return 0;
    if (v->in != r->lp) {
        *out = ir_mul(ir_const_si(hi - lo), v);  /* the same term every time */
        return 1;
    }
    if (!roll_size_ok(e->loc, r->lp)) {
        *out = POISON;
        return 1;
    }
    ir_loop_finish(r->lp);
    *out = ir_loop_sum(r->lp, 0);
    return 1;
}

static void elab_decls(Decl *d, int in_loop);

/* Rule: `for t in a:b { ... }` elaborates its body once for each t in
   a, a+1, ..., b-1 (none if a >= b), t a constant.  The body may hold
   only family members and nested loops: a plain `let z` would define z
   again on every iteration. */
static void decl_for(Decl *d)
{
    long lo, hi;
    int bad = const_int(d->lo, elab(d->lo), "loop bound", &lo) != 0;
    bad |= const_int(d->hi, elab(d->hi), "loop bound", &hi) != 0;
    for (Decl *b = d->body; b; b = b->next) {
        if (b->kind == DECL_FOR || (b->kind == DECL_LET && b->index))
            continue;
        if (b->kind == DECL_LET)
            report(b->name_loc,
                   "only family members may be defined in a 'for' body ('let %s' would be "
                   "redefined on every iteration; write 'let %s[%s] = ...')",
                   b->name, b->name, d->name);
        else
            report(b->loc, "this declaration is not allowed in a 'for' body (only 'let x[k] = ...' "
                           "and nested 'for')");
    }
    if (bad)
        return;
    if (roll_for(d, lo, hi))
        return;
    if (hi > lo && hi - lo > MAX_STEPS - S.steps) {
        too_large(d->loc, 0);
        return;
    }
    for (long t = lo; t < hi && !S.stopped; t++) {
        if (step(d->loc) != 0)
            return;
        local_push(d->name, ir_const_si(t), 0);
        frame_push(0, d->name, d->name_loc, t);
        elab_decls(d->body, 1);
        S.nframes--;
        S.nlocals--;
    }
}

/* Rule: exactly one of `score` (a scalar) and `residual` (any shape,
   flattened row-major into r; the score is then 1/2 sum(r^2)).  Neither
   may use data (see use_data). */
static void decl_objective(Decl *d)
{
    if (S.objective) {
        report_note(d->loc, &S.objective->loc,
                    arena_printf("'%s' was given here",
                                 S.objective->kind == DECL_SCORE ? "score" : "residual"),
                    "exactly one of 'score' and 'residual' is required");
        return;
    }
    S.objective = d;
    S.ctx = CTX_SCORE;
    Node *n = elab(d->value);
    S.ctx = CTX_VALUE;
    if (n == POISON)
        return;
    if (d->kind == DECL_SCORE) {
        if (n->rank != 0) {
            report(d->value->loc, "score must be a scalar, got shape %s", shape_str(n));
            return;
        }
        S.m->score = n;
        return;
    }
    Node *r = n;
    if (n->rank == 0) {
        r = ir_concat(1, &n);
    } else if (n->rank == 2) {
        /* Row-major flattening is one affine placement:
           element (i, j) of n goes to element i*cols + j of r. */
        Map place = {0, n->cols, 1, 0, 0, 0};
        r = ir_assemble(1, n->rows * n->cols, 1, 1, &n, &place);
    }
    S.m->residual = r;
    S.m->nres = r->rows;
    /* f = 1/2 * sum(r^2) */
    mpq_ptr half = arena_mpq();
    mpq_set_ui(half, 1, 2);
    Node *half_node = ir_const(half);   /* separate statements: see above */
    S.m->score = ir_mul(half_node, ir_sum(ir_binary(OP_POW, r, ir_const_si(2))));
}

/* Rule: at most one `loss`, a scalar; it may use anything. */
static void decl_loss(Decl *d)
{
    if (S.loss_decl) {
        report_note(d->loc, &S.loss_decl->loc, arena_printf("the first 'loss' is here"),
                    "a model has at most one 'loss'");
        return;
    }
    S.loss_decl = d;
    S.ctx = CTX_LOSS;
    Node *n = elab(d->value);
    S.ctx = CTX_VALUE;
    if (n == POISON)
        return;
    if (n->rank != 0) {
        report(d->value->loc, "loss must be a scalar, got shape %s", shape_str(n));
        return;
    }
    S.m->loss = n;
}

static void elab_decls(Decl *d, int in_loop)
{
    for (; d && !S.stopped; d = d->next) {
        if (in_loop && !(d->kind == DECL_FOR || (d->kind == DECL_LET && d->index)))
            continue;                   /* reported once by decl_for */
        switch (d->kind) {
        /* Rule: `model NAME` once, as the first declaration. */
        case DECL_MODEL:
            if (S.model_decl)
                report_note(d->loc, &S.model_decl->loc,
                            arena_printf("the first 'model' is here"),
                            "only one 'model' declaration is allowed");
            else {
                S.model_decl = d;
                S.m->name = d->name;
            }
            break;
        case DECL_DIM: decl_dim(d); break;
        case DECL_CONST: decl_const(d); break;
        case DECL_SYMBOL: decl_symbol(d); break;
        case DECL_LET: decl_let(d); break;
        case DECL_FN: decl_fn(d); break;
        case DECL_FOR: decl_for(d); break;
        case DECL_SCORE:
        case DECL_RESIDUAL: decl_objective(d); break;
        case DECL_LOSS: decl_loss(d); break;
        }
    }
}

/* Rule: no constant of the model overflows a double.  Reported at the
   first expression that produced it, else at the declaration. */
static void check_overflow(Node *root, Loc fallback)
{
    if (!root)
        return;
    Node **all;
    int n = ir_topo(&root, 1, &all);
    for (int i = 0; i < n && !S.stopped; i++) {
        double d;
        if (all[i]->op != OP_CONST || rat_to_double(all[i]->q, &d) == 0)
            continue;
        Loc loc = fallback;
        for (int j = 0; j < S.nsites; j++)
            if (S.sites[j].n == all[i])
                loc = S.sites[j].loc;
        report(loc, "constant overflows a double");
    }
}

Model *sema_model(Decl *decls)
{
    return sema_model_ex(decls, 0);
}

Model *sema_model_ex(Decl *decls, int unroll)
{
    memset(&S, 0, sizeof S);
    S.unroll = unroll;
    S.globals = arena_alloc(NBUCKETS * sizeof *S.globals);
    S.later = arena_alloc(NBUCKETS * sizeof *S.later);
    S.visible_gen = INT_MAX;
    S.m = arena_alloc(sizeof *S.m);
    later_scan(decls);

    Loc start = {0, 0};
    if (decls)
        start = decls->loc;
    if (!decls || decls->kind != DECL_MODEL) {
        Decl *md = decls;
        while (md && md->kind != DECL_MODEL)
            md = md->next;
        if (md)
            report(md->loc, "'model NAME' must be the first declaration");
        else
            report(start, "a model file must start with 'model NAME'");
        if (!decls)
            return NULL;
    }

    elab_decls(decls, 0);

    Loc where = S.model_decl ? S.model_decl->loc : start;
    /* Rule: at least one var; exactly one of score and residual. */
    if (!S.stopped && !S.have_var)
        report(where, "a model needs at least one 'var'");
    if (!S.stopped && !S.objective)
        report(where, "exactly one of 'score' and 'residual' is required");
    if (!S.stopped && S.objective)
        check_overflow(S.m->residual ? S.m->residual : S.m->score, S.objective->value->loc);
    if (!S.stopped && S.loss_decl)
        check_overflow(S.m->loss, S.loss_decl->value->loc);
    /* use_data keeps data out of the score; this is the safety net. */
    if (diag_errors() == 0 && S.m->score && find_leaf(S.m->score, BLK_DATA))
        unreachable();

    if (diag_errors() > 0)
        return NULL;
    Model *m = S.m;
    m->loc = where;
    if (S.model_decl)
        m->name_loc = S.model_decl->name_loc;
    m->ny = (int)S.blk_len[BLK_Y];
    m->nx = (int)S.blk_len[BLK_X];
    m->ntheta = (int)S.blk_len[BLK_THETA];
    m->ndata = (int)S.blk_len[BLK_DATA];
    m->syms = S.syms;
    m->nsyms = S.nsyms;
    m->loops = S.loops;
    m->nloops = S.nloops;
    return m;
}
