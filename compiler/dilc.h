/*
 * dilc.h - the pipeline header of the DIL compiler.
 *
 * The compiler is a straight pipeline; each section below belongs to one
 * source file and names what that phase exports:
 *
 *   source text --scanner.l/parser.y--> declaration list (AST)
 *               --sema.c-------------> Model: hash-consed tensor IR of the
 *                                      score, residual and loss
 *               --kern.c + diff.c----> the kernels' IR (reverse mode, then
 *                                      forward mode over it)
 *               --schedule.c---------> Schedule: what each kernel stores,
 *                                      where, in what order
 *               --emit.c-------------> C99 source and header
 *
 * Three private headers carry the structures that only a few files
 * share: kern.h (the KERNELS table and the kernel set: kern.c,
 * schedule.c, emit.c), schedule.h (the Schedule: schedule.c, emit.c and
 * its tests) and driver.h (one run on a buffer: main.c and the fuzzer).
 * Every phase allocates from one arena (arena.c) that is released once at
 * the end of a run.  User errors go through diag.c (GCC-style, with the
 * source line and a caret); internal errors go through unreachable() and
 * abort; verify.c checks the IR between passes in the test build.  See
 * docs/design.md for the walk-through.
 */
#ifndef DILC_H
#define DILC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>   /* before gmp.h, which then declares its FILE functions */

#include <gmp.h>

/* ------------------------------------------------------------------ */
/* arena.c: one zeroed arena per run                                   */
/* ------------------------------------------------------------------ */

void *arena_alloc(size_t n);              /* zeroed; fatal message on OOM */
char *arena_strndup(const char *s, size_t n);
char *arena_printf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Grows an arena array p (of *cap elements of elt bytes) to hold at least
   need, doubling; returns it, perhaps moved.  The one growable array. */
void *arena_grow(void *p, int *cap, int need, size_t elt);
/* Appends x to the arena array p of n elements and capacity cap. */
#define VEC_PUSH(p, n, cap, x)                                             \
    ((p) = arena_grow((p), &(cap), (n) + 1, sizeof *(p)), (p)[(n)++] = (x))
char *arena_vprintf(const char *fmt, va_list ap);
/* A new heap string (free it): the one place that sizes a format. */
char *dil_vasprintf(const char *fmt, va_list ap);
mpq_ptr arena_mpq(void);                  /* initialised to 0, cleared at release */
void arena_release(void);                 /* frees everything of this run */

#if defined(__GNUC__)
#define DIL_NORETURN __attribute__((noreturn))
#else
#define DIL_NORETURN
#endif

/* Internal compiler error: never a user's fault.  Aborts. */
#define unreachable() dil_internal_error(__FILE__, __LINE__)
DIL_NORETURN void dil_internal_error(const char *file, int line);
DIL_NORETURN void dil_fatal(const char *fmt, ...);  /* e.g. out of memory */

/* ------------------------------------------------------------------ */
/* diag.c: diagnostics                                                 */
/* ------------------------------------------------------------------ */

/* A source range as byte offsets into the file; line:col is computed only
   when a message is printed (jq does the same). */
typedef struct Loc {
    int begin, end;                       /* [begin, end) */
} Loc;

typedef struct SrcFile {
    const char *name;                     /* as given on the command line */
    const char *text;                     /* NUL-terminated copy of the file */
    size_t len;                           /* bytes, excluding the final NUL */
} SrcFile;

#define DIAG_MAX_ERRORS 20
/* The largest source file: bytes (main.c checks it before reading, and
   parse_file again for other callers).  Far beyond any model the other
   limits admit, and small enough that reading it is cheap. */
#define DIL_MAX_SOURCE (64L << 20)

void diag_init(const SrcFile *file, FILE *out);   /* out: usually stderr */
void diag_error(Loc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void diag_note(Loc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int diag_errors(void);                    /* errors reported so far */
int diag_too_many(void);                  /* the error limit was reached */
void diag_line_col(int offset, int *line, int *col);  /* 1-based */

/* ------------------------------------------------------------------ */
/* rat.c: exact rationals (GNU MP) and their conversion to double      */
/* ------------------------------------------------------------------ */

int rat_is_int(mpq_srcptr q);             /* an integer */
int rat_is(mpq_srcptr q, long v);         /* the integer v */
/* Reads a decimal literal ("3", "0.1", "2.5e-3") exactly.  Returns 0 on
   success, -1 if the exponent is absurdly large (the caller reports it). */
int rat_from_decimal(mpq_ptr q, const char *text);
/* The double nearest to q, ties to even, including subnormals.  Returns 0,
   or -1 when |q| is beyond DBL_MAX (overflow: a compile error). */
int rat_to_double(mpq_srcptr q, double *out);
/* A C99 literal for d that reads back as exactly d: the shortest of %.15g,
   %.16g, %.17g that round-trips, always with a '.' or exponent so that C
   reads it as a double ("2.0", "0.1", "1e-320").  buf needs 32 bytes. */
void rat_format_double(double d, char *buf);

/* ------------------------------------------------------------------ */
/* parser.y / scanner.l: the syntax tree                                */
/* ------------------------------------------------------------------ */

typedef enum AstKind {
    AST_NUM,        /* num */
    AST_NAME,       /* name */
    AST_BINARY,     /* a op b, op one of + - * / ^ @ */
    AST_NEG,        /* -a */
    AST_TRANSPOSE,  /* a' */
    AST_CALL,       /* name(args) */
    AST_INDEX,      /* a[args]; each arg an expression or an AST_SLICE */
    AST_SLICE,      /* a:b inside an index; a and/or b NULL when omitted */
    AST_VECTOR,     /* [args] */
    AST_SUMRANGE,   /* sum(name in a:b, c) */
} AstKind;

typedef struct Ast {
    AstKind kind;
    Loc loc;                  /* the whole expression */
    int op;                   /* AST_BINARY: '+', '-', '*', '/', '^', '@' */
    const char *name;         /* AST_NAME, AST_CALL, AST_SUMRANGE (index name) */
    Loc name_loc;
    mpq_ptr num;              /* AST_NUM, exact */
    struct Ast *a, *b, *c;    /* operands, see AstKind */
    struct Ast **args;        /* AST_CALL, AST_INDEX, AST_VECTOR */
    int nargs;
} Ast;

typedef enum Role { ROLE_INPUT, ROLE_PARAM, ROLE_VAR, ROLE_DATA, ROLE__COUNT } Role;
/* "input", "param", "var", "data": the keywords, also used in messages
   and (upper-cased) in the emitted DIL_ROLE_ constants. */
extern const char *const role_name[ROLE__COUNT];

typedef enum DeclKind {
    DECL_MODEL,     /* model name */
    DECL_DIM,       /* dim name = value */
    DECL_CONST,     /* const name = value */
    DECL_SYMBOL,    /* input/param/var/data name[shape] (= value) */
    DECL_LET,       /* let name = value, or let name[index] = value */
    DECL_FN,        /* fn name(params) = value */
    DECL_FOR,       /* for var in lo:hi { body } */
    DECL_SCORE,     /* score value */
    DECL_RESIDUAL,  /* residual value */
    DECL_LOSS,      /* loss value */
} DeclKind;

typedef struct Param {
    const char *name;
    Loc loc;
    Ast **shape;              /* dimension expressions */
    int rank;                 /* -1: no brackets, any shape accepted */
} Param;

typedef struct Decl {
    DeclKind kind;
    Loc loc;                  /* the keyword, for messages about the whole decl */
    const char *name;         /* MODEL, DIM, CONST, SYMBOL, LET, FN; FOR: loop var */
    Loc name_loc;
    Role role;                /* DECL_SYMBOL */
    Ast **shape;              /* DECL_SYMBOL dims (rank entries) */
    int rank;
    Ast *value;               /* DIM, CONST, LET, FN body, SCORE, RESIDUAL,
                                 LOSS; SYMBOL default or NULL */
    Ast *index;               /* DECL_LET of a family member, else NULL */
    Param *params;            /* DECL_FN */
    int nparams;
    Ast *lo, *hi;             /* DECL_FOR range */
    struct Decl *body;        /* DECL_FOR body */
    struct Decl *next;
} Decl;

/* Parses a whole file.  Reports syntax errors through diag (recovering at
   declaration level) and returns what it could build; callers check
   diag_errors() before going on. */
Decl *parse_file(const SrcFile *file);
void ast_dump(FILE *out, const Decl *decls);   /* debugging (--dump-ast) */

/* ------------------------------------------------------------------ */
/* ir.c: the tensor IR, hash-consed, simplified as it is built         */
/* ------------------------------------------------------------------ */

/*
 * Every value is a Node of rank 0 (scalar), 1 (vector) or 2 (matrix).
 * Shapes: rows x cols; a vector of length n is n x 1, a scalar 1 x 1.
 * Storage is row-major, so element (r, c) sits at flat index r*cols + c.
 *
 * Nodes are immutable and hash-consed: building the same operation on the
 * same arguments twice returns the same Node, so equal subexpressions
 * exist once.  Builders simplify as they go (constant folding in exact
 * rational arithmetic, 0/1 identities, view composition); see ir.c.
 *
 * Ops are listed once, here (the QBE X-macro idiom), with every fact
 * the passes need about them; adding an elementwise function is one row
 * (docs/design.md, "How to add a builtin"):
 *
 *   X(name, class, arity, cfn, pname, builtin, at0, nonneg, deriv)
 *     class    OPC_LEAF       no arguments
 *              OPC_SHAPE      moves or replicates elements
 *              OPC_ELEMENTWISE  element (r, c) from element (r, c) of
 *                             each argument; a scalar operand broadcasts
 *              OPC_ALGEBRA    matrix and outer products
 *              OPC_REDUCTION  all elements to one scalar
 *     arity    number of arguments; -1: any (ASSEMBLE)
 *     cfn      the C function the emitter calls, or NULL (an operator or
 *              a form of its own)
 *     pname    printable name (IR dumps, --print-derivatives)
 *     builtin  1: a built-in function of the language, called `pname(u)`
 *              (unary elementwise ops; the others are in sema.c)
 *     at0      f(0) when it is the integer 0 or 1, else AT0_NONE: folded
 *              exactly when the argument is the constant 0
 *     nonneg   1: f(u) >= 0 for every u, so |f(u)| is f(u)
 *     deriv    f'(a) for a unary elementwise op, in the rule notation of
 *              diff.c: A the argument, N the node f(A) itself (derivatives
 *              reuse primal values), K(v) an integer, NAMED(c) a named
 *              constant, ADD SUB MUL DIV NEG, F(OP, u) another op;
 *              NO_RULE for the others (their rules are code in diff.c)
 */
#define AT0_NONE (-1)
#define IR_OPS(X)                                                                              \
    /* leaves */                                                                               \
    X(CONST,    OPC_LEAF, 0, NULL, "const", 0, AT0_NONE, 0, NO_RULE) /* exact rational q */    \
    X(NAMED,    OPC_LEAF, 0, NULL, "named", 0, AT0_NONE, 0, NO_RULE) /* irrational, IR_NAMED */ \
    X(LEAF,     OPC_LEAF, 0, NULL, "leaf", 0, AT0_NONE, 0, NO_RULE)  /* block[offset ...] */    \
    X(EYE,      OPC_LEAF, 0, NULL, "eye", 0, AT0_NONE, 0, NO_RULE)   /* identity, rows == cols */ \
    /* shape */                                                                                \
    X(BCAST,    OPC_SHAPE, 1, NULL, "bcast", 0, AT0_NONE, 0, NO_RULE)  /* scalar -> tensor */   \
    X(VIEW,     OPC_SHAPE, 1, NULL, "view", 0, AT0_NONE, 0, NO_RULE)   /* affine gather, Map */ \
    X(ASSEMBLE, OPC_SHAPE, -1, NULL, "assemble", 0, AT0_NONE, 0, NO_RULE) /* scatter-add */     \
    /* elementwise binary: rules in diff.c */                                                  \
    X(ADD,      OPC_ELEMENTWISE, 2, NULL, "+", 0, AT0_NONE, 0, NO_RULE)                        \
    X(SUB,      OPC_ELEMENTWISE, 2, NULL, "-", 0, AT0_NONE, 0, NO_RULE)                        \
    X(MUL,      OPC_ELEMENTWISE, 2, NULL, "*", 0, AT0_NONE, 0, NO_RULE)                        \
    X(DIV,      OPC_ELEMENTWISE, 2, NULL, "/", 0, AT0_NONE, 0, NO_RULE)                        \
    X(POW,      OPC_ELEMENTWISE, 2, "pow", "pow", 0, AT0_NONE, 0, NO_RULE)                     \
    /* elementwise unary */                                                                    \
    X(NEG,      OPC_ELEMENTWISE, 1, NULL, "neg", 0, 0, 0, K(-1))                               \
    X(SIN,      OPC_ELEMENTWISE, 1, "sin", "sin", 1, 0, 0, F(COS, A))                          \
    X(COS,      OPC_ELEMENTWISE, 1, "cos", "cos", 1, 1, 0, NEG(F(SIN, A)))                     \
    X(TAN,      OPC_ELEMENTWISE, 1, "tan", "tan", 1, 0, 0, ADD(K(1), MUL(N, N)))               \
    X(ASIN,     OPC_ELEMENTWISE, 1, "asin", "asin", 1, 0, 0,                                   \
      DIV(K(1), F(SQRT, SUB(K(1), MUL(A, A)))))                                                \
    X(ACOS,     OPC_ELEMENTWISE, 1, "acos", "acos", 1, AT0_NONE, 0,                            \
      NEG(DIV(K(1), F(SQRT, SUB(K(1), MUL(A, A))))))                                           \
    X(ATAN,     OPC_ELEMENTWISE, 1, "atan", "atan", 1, 0, 0, DIV(K(1), ADD(K(1), MUL(A, A))))  \
    X(SINH,     OPC_ELEMENTWISE, 1, "sinh", "sinh", 1, 0, 0, F(COSH, A))                       \
    X(COSH,     OPC_ELEMENTWISE, 1, "cosh", "cosh", 1, 1, 1, F(SINH, A))                       \
    X(TANH,     OPC_ELEMENTWISE, 1, "tanh", "tanh", 1, 0, 0, SUB(K(1), MUL(N, N)))             \
    X(EXP,      OPC_ELEMENTWISE, 1, "exp", "exp", 1, 1, 1, N)                                  \
    X(LOG,      OPC_ELEMENTWISE, 1, "log", "log", 1, AT0_NONE, 0, DIV(K(1), A))                \
    X(LOG1P,    OPC_ELEMENTWISE, 1, "log1p", "log1p", 1, 0, 0, DIV(K(1), ADD(K(1), A)))        \
    X(EXPM1,    OPC_ELEMENTWISE, 1, "expm1", "expm1", 1, 0, 0, ADD(N, K(1)))                   \
    X(SQRT,     OPC_ELEMENTWISE, 1, "sqrt", "sqrt", 1, 0, 1, DIV(K(1), MUL(K(2), N)))          \
    X(ABS,      OPC_ELEMENTWISE, 1, "fabs", "abs", 1, 0, 1, F(SIGN, A)) /* 0 at the kink */    \
    X(SIGMOID,  OPC_ELEMENTWISE, 1, "dil_sigmoid", "sigmoid", 1, AT0_NONE, 1,                  \
      MUL(N, SUB(K(1), N)))                                                                    \
    X(SOFTPLUS, OPC_ELEMENTWISE, 1, "dil_softplus", "softplus", 1, AT0_NONE, 1, F(SIGMOID, A)) \
    X(SIGN,     OPC_ELEMENTWISE, 1, "dil_sign", "sign", 0, 0, 0, K(0)) /* piecewise constant */ \
    X(ERF,      OPC_ELEMENTWISE, 1, "erf", "erf", 1, 0, 0,                                     \
      MUL(NAMED(TWO_OVER_SQRT_PI), F(EXP, NEG(MUL(A, A)))))                                    \
    /* linear algebra and reductions */                                                        \
    X(MATMUL,   OPC_ALGEBRA, 2, NULL, "@", 0, AT0_NONE, 0, NO_RULE) /* mat/vec, any pairing */ \
    X(OUTER,    OPC_ALGEBRA, 2, NULL, "outer", 0, AT0_NONE, 0, NO_RULE) /* vec x vec -> mat */ \
    X(SUM,      OPC_REDUCTION, 1, NULL, "sum", 0, AT0_NONE, 0, NO_RULE) /* all elements */     \
    X(LSE,      OPC_REDUCTION, 1, NULL, "logsumexp", 0, AT0_NONE, 0, NO_RULE) /* stable */   \
    /* rolled loops (docs/design.md, "Rolled loops") */                                        \
    X(ITER,     OPC_LEAF, 0, NULL, "t", 0, AT0_NONE, 0, NO_RULE)     /* loop index as a value */ \
    X(CARRY,    OPC_LEAF, 0, NULL, "carry", 0, AT0_NONE, 0, NO_RULE) /* member t + lag */     \
    X(TVIEW,    OPC_SHAPE, 2, NULL, "tview", 0, AT0_NONE, 0, NO_RULE) /* view affine in t */  \
    X(LOOP,     OPC_LOOP, -1, NULL, "loop", 0, AT0_NONE, 0, NO_RULE) /* stacks, sums, flat */

typedef enum OpClass {
    OPC_LEAF, OPC_SHAPE, OPC_ELEMENTWISE, OPC_ALGEBRA, OPC_REDUCTION,
    OPC_LOOP                  /* a rolled loop: its body runs once per t */
} OpClass;

typedef enum Op {
#define X(name, cls, arity, cfn, pname, builtin, at0, nonneg, deriv) OP_##name,
    IR_OPS(X)
#undef X
    OP__COUNT
} Op;

/* The columns of IR_OPS, by op. */
extern const OpClass ir_op_class[OP__COUNT];
extern const int ir_op_arity[OP__COUNT];
extern const char *const ir_op_cfn[OP__COUNT];
extern const char *const ir_op_name[OP__COUNT];
extern const int ir_op_builtin[OP__COUNT];
extern const int ir_op_at0[OP__COUNT];
extern const int ir_op_nonneg[OP__COUNT];

/* The unary elementwise op a built-in function name calls, or -1. */
int ir_op_builtin_find(const char *name);

/*
 * Named irrational constants: exact in the IR (a NAMED node is never
 * folded into a rational), printed correctly rounded (the double nearest
 * to the 60-digit decimal, which lies far from any rounding boundary).
 *   X(name, printable name, decimal expansion)
 */
#define IR_NAMED(X)                                                                            \
    X(PI, "pi", "3.14159265358979323846264338327950288419716939937510582097494")               \
    X(TWO_OVER_SQRT_PI, "2/sqrt(pi)",                                                          \
      "1.12837916709551257389615890312154517168810125865799771368817")

typedef enum Named {
#define X(name, pname, digits) NC_##name,
    IR_NAMED(X)
#undef X
    NC__COUNT
} Named;

extern const char *const ir_named_name[NC__COUNT];
/* The double nearest to constant c. */
double ir_named_value(Named c);

/* Flat argument blocks of the emitted C interface.  V is the direction a
   kernel is differentiated along (v of hvp, w of the score vjps, v of the
   residual jvp; length ny); W is the residual weight (length nres). */
typedef enum Block { BLK_Y, BLK_X, BLK_THETA, BLK_DATA, BLK_V, BLK_W, BLK__COUNT } Block;
/* "y", "x", "theta", "data", "v", "w": printed leaves and, except where a
   kernel names its direction otherwise (kern.h), the C parameters. */
extern const char *const ir_block_name[BLK__COUNT];

/* A VIEW or ASSEMBLE placement: element (r, c) of the small tensor is
   element (r0 + arr*r + arc*c, c0 + acr*r + acc*c) of the large one.
   Rows of a matrix, columns, slices, transposes and single elements are
   all such maps, and maps compose. */
typedef struct Map {
    int r0, arr, arc;
    int c0, acr, acc;
} Map;

struct Loop;

typedef struct Node {
    Op op;
    int id;                   /* creation order: children have smaller ids */
    int rank, rows, cols;
    struct Node **args;
    int nargs;
    mpq_ptr q;                /* CONST */
    Named named;              /* NAMED */
    Block block;              /* LEAF */
    int offset;               /* LEAF: flat offset of element (0, 0) in block */
    Map map;                  /* VIEW: element (r,c) of this = map(r,c) of arg */
    Map *place;               /* ASSEMBLE: placement of each piece */
    int trow, tcol;           /* TVIEW: coefficients of t in the source row
                                 and column (added to map's) */
    struct Loop *loop;        /* ITER, CARRY: their loop; LOOP: itself */
    struct Loop *in;          /* the loop whose body this node belongs to
                                 (it reaches that loop's ITER or CARRY),
                                 NULL for a value outside every loop */
    int state;                /* CARRY: the state; offset is its lag */
    int stacked;              /* ASSEMBLE: every piece a block, in order of
                                 rows, no two sharing a row (ir_view finds
                                 the pieces a view meets by bisection) */
    const char *name;         /* LEAF: the symbol, for printing only */
    struct Node *twin;        /* a body node rebuilt into another loop over
                                 the same t (diff.c's transplant): the node
                                 of the original body it equals at every t,
                                 whose stored value the scheduler may read
                                 instead of computing this one; not part of
                                 the node's identity */
    unsigned hash;
    struct Node *hnext;       /* hash-cons chain */
    /* per-pass scratch, owned by whichever pass is running */
    int uses;
    int mark;
    void *aux;
} Node;

void ir_init(void);           /* fresh hash-cons table (after arena_release) */
int ir_node_count(void);
/* Nodes made plus the pieces of every assembly made: what the IR holds,
   for the limits (sema.c's MAX_NODES). */
long ir_node_weight(void);
long ir_size(const Node *n);  /* rows * cols */
int ir_is_const(const Node *n, long v);   /* scalar CONST equal to v */
int ir_is_zero(const Node *n);            /* CONST 0 or BCAST of CONST 0 */
int ir_is_elementwise(Op op);             /* class OPC_ELEMENTWISE */
int ir_same_shape(const Node *a, const Node *b);
/* The constant every element of n has (a CONST, or a broadcast one), or
   NULL; a NAMED constant is not a rational and gives NULL. */
mpq_srcptr ir_const_value(const Node *n);

/* Builders.  They require valid shapes (sema checks those first) and call
   unreachable() otherwise.  Each returns a simplified, shared node. */
/* Exact folding of a power of constants stops at these sizes (exponent,
   and bits of numerator plus denominator times exponent); sema reports a
   constant power beyond them rather than leave it to run time. */
#define IR_FOLD_MAX_EXP 4096
#define IR_FOLD_MAX_BITS 65536

Node *ir_const(mpq_srcptr q);
Node *ir_const_si(long v);
Node *ir_named(Named c);
Node *ir_leaf(Block b, int offset, int rank, int rows, int cols);
Node *ir_eye(int n);
Node *ir_zeros(int rank, int rows, int cols);
Node *ir_bcast(Node *scalar, int rank, int rows, int cols);
Node *ir_view(Node *a, int rank, int rows, int cols, Map map);
Node *ir_assemble(int rank, int rows, int cols, int n, Node **pieces, const Map *place);
Node *ir_binary(Op op, Node *a, Node *b);   /* ADD SUB MUL DIV POW; broadcasts */
Node *ir_unary(Op op, Node *a);             /* NEG SIN ... SIGN */
Node *ir_matmul(Node *a, Node *b);
Node *ir_transpose(Node *a);                /* a VIEW; identity on vectors */
Node *ir_outer(Node *a, Node *b);
Node *ir_sum(Node *a);
Node *ir_lse(Node *a);
/* Convenience: a + b etc. */
#define ir_add(a, b) ir_binary(OP_ADD, (a), (b))
#define ir_sub(a, b) ir_binary(OP_SUB, (a), (b))
#define ir_mul(a, b) ir_binary(OP_MUL, (a), (b))
#define ir_div(a, b) ir_binary(OP_DIV, (a), (b))
#define ir_neg(a) ir_unary(OP_NEG, (a))

/* Views by index, with compile-time indices already bounds-checked. */
Node *ir_element(Node *a, int i, int j);          /* a[i] (vector) or a[i, j] */
Node *ir_row(Node *a, int i);                     /* matrix row i, a vector */
Node *ir_col(Node *a, int j);                     /* matrix column j */
Node *ir_slice(Node *a, int r0, int r1, int c0, int c1);  /* half-open */
Node *ir_concat(int n, Node **parts);             /* scalars and vectors */

/* Every node reachable from the roots, once each, children before parents
   (sorted by id).  The array is in the arena; returns its length. */
int ir_topo(Node **roots, int nroots, Node ***out);

/*
 * Rolled loops (docs/design.md).  A Loop runs t = lo .. hi-1 (dir +1) or
 * hi-1 .. lo (dir -1).  State s stacks members kmin .. kmax-1 of a family
 * (each rank/rows/cols, w = rows*cols elements) as rows of a
 * [kmax-kmin, w] array; iteration t writes member t + d (its body); the
 * other rows are init rows, taken from `init` (a flat vector of
 * ninit*w elements holding members init_k0 ...; NULL: zero).  Sum k
 * accumulates sum[k] over t.  The LOOP node's value is every stack, then
 * every sum, flat (rank 1); the outside reads it through views.
 */
typedef struct LoopState {
    const char *name;         /* the family, for printing */
    int rank, rows, cols;     /* one member */
    long kmin, kmax;          /* members stored: row k - kmin */
    long d;                   /* iteration t writes member t + d */
    Node *init;               /* flat init rows, or NULL (zero) */
    long init_k0, ninit;      /* member of init's first row; rows */
    Node *body;               /* member t + d, in the body */
    long offset;              /* of row 0 in the loop's value */
} LoopState;

typedef struct Loop {
    int id;                   /* names its placeholders: 1, 2, ... */
    long lo, hi;
    int dir;
    Node *iter;               /* ITER */
    LoopState *st;
    int nst, capst;
    Node **sum;               /* bodies of the sums */
    long *sum_off;            /* their offsets in the loop's value */
    int nsum, capsum;
    Node *node;               /* the LOOP node, after ir_loop_finish */
    long size;                /* length of its value */
} Loop;

Loop *ir_loop_new(long lo, long hi, int dir);
/* Adds a state (body, init, kmin, kmax filled in later); returns s. */
int ir_loop_add_state(Loop *lp, const char *name, int rank, int rows, int cols, long d);
int ir_loop_add_sum(Loop *lp, Node *body);
/* CARRY: member t + lag of state s, of the member's shape. */
Node *ir_carry(Loop *lp, int s, long lag);
/* A view of a whose map adds trow*t to the source row and tcol*t to the
   source column, t the loop index of iter's loop. */
Node *ir_tview(Node *a, Node *iter, int rank, int rows, int cols, Map map, int trow, int tcol);
/* Lays out the value and interns the LOOP node (stored in lp->node). */
Node *ir_loop_finish(Loop *lp);
/* Views of a finished loop: member k of state s; the whole stack as a
   [kmax-kmin, w] matrix; sum k. */
Node *ir_loop_member(const Loop *lp, int s, long k);
Node *ir_loop_stack(const Loop *lp, int s);
Node *ir_loop_sum(const Loop *lp, int k);
/* In the body of iter's loop: member t + lag of state s of the finished
   loop lp, as a TVIEW of its value (the stored trajectory). */
Node *ir_loop_read(const Loop *lp, int s, long lag, Node *iter);
/* Which part of lp's value holds flat element `at`: returns the state (or
   sum, *is_sum set) and the offset within it. */
int ir_loop_locate(const Loop *lp, long at, int *is_sum, long *rel);
/* Body nodes of lp reachable from the roots (only nodes with in == lp),
   in increasing id; arena array, returns the count. */
int ir_body_topo(const Loop *lp, Node **roots, int nroots, Node ***out);
/* A node rebuilt by the builders with new arguments (same op and
   attributes): substitution and transplanting use it. */
Node *ir_rebuild(Node *n, Node **args);

/* Node -> value map (open addressing on node ids), arena-allocated. */
typedef struct NodeMap {
    Node **key;
    void **val;
    size_t cap, n;
} NodeMap;
void *nodemap_get(const NodeMap *m, const Node *k);
void nodemap_put(NodeMap *m, Node *k, void *v);

/* The IR verifier (verify.c), run between passes in the test build: every
   node reachable from the roots has valid ids (children first), arity,
   shape and maps for its op, and is the one node of its hash-cons class.
   `pass` names the pass just run, for the message; a violation is an
   internal error (abort).  ir_verify_model checks a model's roots. */
void ir_verify(Node **roots, int nroots, const char *pass);
/* The interned node equal to n (n itself for any built node), or NULL. */
Node *ir_interned(const Node *n);

/* Printing: readable math with shared nodes named once (--print-derivatives
   and IR dumps), and Graphviz (--dot). */
void ir_print(FILE *out, const char *label, Node *root);
void ir_dot(FILE *out, Node **roots, const char **labels, int n);

/* ------------------------------------------------------------------ */
/* sema.c: declarations -> Model                                        */
/* ------------------------------------------------------------------ */

typedef struct Symbol {
    const char *name;
    Loc loc;
    Role role;
    int rank, rows, cols;     /* as declared; unused entries 1 */
    int offset;               /* first index in its role's flat block */
    Node *leaf;               /* its LEAF in the role's block */
    mpq_ptr init;             /* PARAM default (every element), or NULL */
} Symbol;

/* One `for` or `sum(t in a:b, ...)`, rolled or not (--stats). */
typedef struct LoopReport {
    Loc loc;
    const char *what;         /* "for" or "sum" */
    long n;                   /* iterations */
    int rolled;
    const char *why;          /* why not, when not rolled */
} LoopReport;

typedef struct Model {
    const char *name;         /* from `model NAME` */
    Loc name_loc;             /* NAME in that declaration */
    Loc loc;                  /* the `model` declaration, for messages
                                 about the model as a whole */
    int ny, nx, ntheta, ndata;
    int nres;                 /* residual length, 0 for a score model */
    Symbol *syms;             /* every declared symbol, declaration order */
    int nsyms;
    Node *score;              /* scalar f; 1/2 sum(r^2) for residual models */
    Node *residual;           /* flattened r (rank 1), or NULL */
    Node *loss;               /* scalar L, or NULL */
    LoopReport *loops;        /* every loop and compile-time sum elaborated */
    int nloops;
} Model;

/* Elaborates declarations into IR with every semantic check; NULL if any
   error was reported.  Uniform loops are rolled (docs/design.md);
   sema_model_ex with `unroll` set unrolls them all (--unroll, for
   comparing the two forms). */
Model *sema_model(Decl *decls);
Model *sema_model_ex(Decl *decls, int unroll);

void ir_verify_model(const Model *m);     /* verify.c */

/* ------------------------------------------------------------------ */
/* diff.c: symbolic derivatives                                         */
/* ------------------------------------------------------------------ */

/* Reverse mode.  For a scalar f, the gradient of f with respect to every
   block, each as a flat vector node of the block's length (NULL when the
   block has length 0; a zero node when f does not depend on it).
   len[b] is the length of block b. */
void diff_gradient(Node *f, const int len[BLK__COUNT], Node *grad[BLK__COUNT]);

/* Forward mode.  Directional derivative of each root along the seed:
   every LEAF of block `from` is replaced by the LEAF at the same offset
   and shape in block `to` (e.g. y -> v), every other leaf is constant.
   out[i] is a zero node where roots[i] does not depend on `from`. */
void diff_tangent(int n, Node **roots, Block from, Block to, Node **out);

/* ------------------------------------------------------------------ */
/* emit.c: kernels to C                                                  */
/* ------------------------------------------------------------------ */

typedef struct EmitOptions {
    const char *prefix;       /* C prefix (model name unless --prefix) */
    const char *header_name;  /* basename of the .h, for the #include, or
                                 NULL: no #include (the header's text is
                                 already at the top of the file) */
    const char *source_name;  /* the .dil file name, for the banner */
} EmitOptions;

/* kern.c: the kernels of SPEC section 4 (the table is in kern.h).
   NULL, after reporting an error, when they are too large to emit (more
   than KERN_MAX_NODES scheduled nodes in all). */
typedef struct Kernels Kernels;
Kernels *kern_derive(const Model *m);
void kern_print_model(FILE *out, const Model *m);           /* --dump=sema */
void kern_print_derivatives(FILE *out, const Kernels *k);   /* --dump=derive */
void kern_verify(const Kernels *k);       /* ir_verify on every kernel */
void kern_dot(FILE *out, const Kernels *k);

/* schedule.c: how each kernel is computed (the structures are in
   schedule.h); --stats and --dump=schedule print it. */
typedef struct Schedule Schedule;
Schedule *schedule_build(const Kernels *k);
/* The most doubles of `work` a model may need (2 GiB): a rolled horizon
   grows work linearly, and beyond this the driver reports the model
   rather than emit a descriptor no caller could allocate for. */
#define SCHED_MAX_WORK (1L << 28)
long schedule_work(const Schedule *s);    /* the descriptor's work_size */
void schedule_print_stats(FILE *out, const Schedule *s);
void schedule_dump(FILE *out, const Schedule *s);
/* Checks the invariants emit.c relies on: every stored value is computed
   before a step reads it, live values of work never share an element,
   steps and outputs agree.  An internal error on a violation. */
void schedule_verify(const Schedule *s);

/* emit.c: a schedule printed as C, and the header. */
int emit_c(FILE *out, const Model *m, const Schedule *s, const EmitOptions *opt);
/* Why the emitted C cannot use `prefix` (a sentence), or NULL when it can:
   PREFIX_model etc. would fall in libdil's namespaces (dil_, dili_, DIL_)
   or in those C reserves (a leading underscore). */
const char *emit_reserved_prefix(const char *prefix);
int emit_h(FILE *out, const Model *m, const Schedule *s, const EmitOptions *opt);

/* ------------------------------------------------------------------ */
/* driver.c: the whole compiler on a buffer, for main.c and the fuzzer  */
/* ------------------------------------------------------------------ */

#define DILC_VERSION "0.3.0"

#endif
