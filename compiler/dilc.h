/*
 * dilc.h - the one internal header of the DIL compiler.
 *
 * The compiler is a straight pipeline; each section below belongs to one
 * source file and names what that phase exports:
 *
 *   source text --scanner.l/parser.y--> declaration list (AST)
 *               --sema.c-------------> Model: hash-consed tensor IR of the
 *                                      score, residual and loss
 *               --diff.c-------------> derivative IR (reverse mode, then
 *                                      forward mode over it)
 *               --emit.c-------------> C99 source and header
 *
 * Every phase allocates from one arena (arena.c) that is released once at
 * the end of a run.  User errors go through diag.c (GCC-style, with the
 * source line and a caret); internal errors go through unreachable() and
 * abort.  See docs/design.md for the walk-through.
 */
#ifndef DILC_H
#define DILC_H

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

typedef enum Role { ROLE_INPUT, ROLE_PARAM, ROLE_VAR, ROLE_DATA } Role;

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
 * Ops are listed once, here (the QBE X-macro idiom):
 *   X(name, arity, C function or NULL, printable name)
 * arity -1 means variadic.
 */
#define IR_OPS(X)                                                        \
    /* leaves */                                                         \
    X(CONST,    0, NULL,        "const")   /* scalar exact rational q */ \
    X(LEAF,     0, NULL,        "leaf")    /* block[offset ...], row-major */ \
    X(EYE,      0, NULL,        "eye")     /* identity, rows == cols */  \
    /* shape */                                                          \
    X(BCAST,    1, NULL,        "bcast")   /* scalar -> every element */ \
    X(VIEW,     1, NULL,        "view")    /* affine gather, see map */  \
    X(ASSEMBLE, -1, NULL,       "assemble")/* scatter-add of pieces */   \
    /* elementwise binary (a scalar operand broadcasts) */               \
    X(ADD,      2, NULL,        "+")                                     \
    X(SUB,      2, NULL,        "-")                                     \
    X(MUL,      2, NULL,        "*")                                     \
    X(DIV,      2, NULL,        "/")                                     \
    X(POW,      2, "pow",       "pow")                                   \
    /* elementwise unary */                                              \
    X(NEG,      1, NULL,        "neg")                                   \
    X(SIN,      1, "sin",       "sin")                                   \
    X(COS,      1, "cos",       "cos")                                   \
    X(TAN,      1, "tan",       "tan")                                   \
    X(ASIN,     1, "asin",      "asin")                                  \
    X(ACOS,     1, "acos",      "acos")                                  \
    X(ATAN,     1, "atan",      "atan")                                  \
    X(SINH,     1, "sinh",      "sinh")                                  \
    X(COSH,     1, "cosh",      "cosh")                                  \
    X(TANH,     1, "tanh",      "tanh")                                  \
    X(EXP,      1, "exp",       "exp")                                   \
    X(LOG,      1, "log",       "log")                                   \
    X(LOG1P,    1, "log1p",     "log1p")                                 \
    X(EXPM1,    1, "expm1",     "expm1")                                 \
    X(SQRT,     1, "sqrt",      "sqrt")                                  \
    X(ABS,      1, "fabs",      "abs")                                   \
    X(SIGMOID,  1, "dil_sigmoid", "sigmoid")                             \
    X(SOFTPLUS, 1, "dil_softplus", "softplus")                           \
    X(SIGN,     1, "dil_sign",  "sign")                                  \
    /* linear algebra and reductions */                                  \
    X(MATMUL,   2, NULL,        "@")       /* mat/vec in any pairing */  \
    X(OUTER,    2, NULL,        "outer")   /* vec x vec -> mat */        \
    X(SUM,      1, NULL,        "sum")     /* all elements -> scalar */  \
    X(LSE,      1, NULL,        "logsumexp") /* log sum exp, stable */

typedef enum Op {
#define X(name, arity, cfn, pname) OP_##name,
    IR_OPS(X)
#undef X
    OP__COUNT
} Op;

extern const char *const ir_op_name[OP__COUNT];  /* printable names */
extern const char *const ir_op_cfn[OP__COUNT];   /* C function or NULL */
extern const int ir_op_arity[OP__COUNT];

/* Flat argument blocks of the emitted C interface.  V is the direction a
   kernel is differentiated along (v of hvp, w of the score vjps, v of the
   residual jvp; length ny); W is the residual weight (length nres). */
typedef enum Block { BLK_Y, BLK_X, BLK_THETA, BLK_DATA, BLK_V, BLK_W, BLK__COUNT } Block;

/* A VIEW or ASSEMBLE placement: element (r, c) of the small tensor is
   element (r0 + arr*r + arc*c, c0 + acr*r + acc*c) of the large one.
   Rows of a matrix, columns, slices, transposes and single elements are
   all such maps, and maps compose. */
typedef struct Map {
    int r0, arr, arc;
    int c0, acr, acc;
} Map;

typedef struct Node {
    Op op;
    int id;                   /* creation order: children have smaller ids */
    int rank, rows, cols;
    struct Node **args;
    int nargs;
    mpq_ptr q;                /* CONST */
    Block block;              /* LEAF */
    int offset;               /* LEAF: flat offset of element (0, 0) in block */
    Map map;                  /* VIEW: element (r,c) of this = map(r,c) of arg */
    Map *place;               /* ASSEMBLE: placement of each piece */
    int stacked;              /* ASSEMBLE: every piece a block, in order of
                                 rows, no two sharing a row (ir_view finds
                                 the pieces a view meets by bisection) */
    const char *name;         /* LEAF: the symbol, for printing only */
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
int ir_is_elementwise(Op op);             /* ADD..SIGN */

/* Builders.  They require valid shapes (sema checks those first) and call
   unreachable() otherwise.  Each returns a simplified, shared node. */
/* Exact folding of a power of constants stops at these sizes (exponent,
   and bits of numerator plus denominator times exponent); sema reports a
   constant power beyond them rather than leave it to run time. */
#define IR_FOLD_MAX_EXP 4096
#define IR_FOLD_MAX_BITS 65536

Node *ir_const(mpq_srcptr q);
Node *ir_const_si(long v);
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
} Model;

/* Elaborates declarations into IR with every semantic check; NULL if any
   error was reported. */
Model *sema_model(Decl *decls);

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

/* Derived kernels of one model, ready to emit. */
typedef struct Kernels Kernels;
/* NULL, after reporting an error, when the kernels are too large to emit
   (more than KERN_MAX_NODES scheduled nodes in all). */
Kernels *kern_derive(const Model *m);
void kern_print_derivatives(FILE *out, const Kernels *k);
void kern_print_stats(FILE *out, const Kernels *k);
void kern_dot(FILE *out, const Kernels *k);

int emit_c(FILE *out, const Model *m, const Kernels *k, const EmitOptions *opt);
/* Why the emitted C cannot use `prefix` (a sentence), or NULL when it can:
   PREFIX_model etc. would fall in libdil's namespaces (dil_, dili_, DIL_)
   or in those C reserves (a leading underscore). */
const char *emit_reserved_prefix(const char *prefix);
int emit_h(FILE *out, const Model *m, const Kernels *k, const EmitOptions *opt);

/* ------------------------------------------------------------------ */
/* driver.c: the whole compiler on a buffer, for main.c and the fuzzer  */
/* ------------------------------------------------------------------ */

#define DILC_VERSION "0.1.0"

#endif
