/*
 * check_sema.c - unit tests of sema.c: elaboration of declarations into
 * the tensor IR, and its diagnostics.
 *
 * Each case parses a model held in a string and elaborates it, with the
 * diagnostics written to a memory stream, after a fresh arena and IR.
 * Three kinds of checks:
 *   - the SPEC's three example models elaborate, with the right block
 *     sizes, symbol offsets and node shapes;
 *   - shapes of many expressions: `score EXPR` is accepted when EXPR is a
 *     scalar and otherwise reports "score must be a scalar, got shape S",
 *     which names the shape sema inferred;
 *   - the exact first line (file:line:col: error: message) of many
 *     semantic errors, and the full text of a few with their notes.
 */
#include "dilc.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Harness                                                             */
/* ------------------------------------------------------------------ */

static char *diag_text;       /* diagnostics of the last run */
static size_t diag_len;

/* Parses and elaborates text as file "t.dil".  Returns the model, or NULL
   after errors (their text is in diag_text). */
static Model *run(const char *text)
{
    static SrcFile src;
    arena_release();
    ir_init();
    free(diag_text);
    diag_text = NULL;
    diag_len = 0;
    FILE *out = open_memstream(&diag_text, &diag_len);
    ck_assert_ptr_nonnull(out);
    src.name = "t.dil";
    src.text = text;
    src.len = strlen(text);
    diag_init(&src, out);
    Decl *decls = parse_file(&src);
    Model *m = NULL;
    if (diag_errors() == 0)
        m = sema_model(decls);
    fclose(out);
    return m;
}

/* The first line of the diagnostics ("" if none). */
static const char *first_line(void)
{
    static char line[512];
    line[0] = '\0';
    if (diag_text) {
        size_t n = strcspn(diag_text, "\n");
        if (n >= sizeof line)
            n = sizeof line - 1;
        memcpy(line, diag_text, n);
        line[n] = '\0';
    }
    return line;
}

static int count_errors(void)
{
    int n = 0;
    for (const char *p = diag_text; p && (p = strstr(p, ": error: ")); p++)
        n++;
    return n;
}

static void teardown(void)
{
    arena_release();
    free(diag_text);
    diag_text = NULL;
}

static const Symbol *sym(const Model *m, const char *name)
{
    for (int i = 0; i < m->nsyms; i++)
        if (strcmp(m->syms[i].name, name) == 0)
            return &m->syms[i];
    ck_abort_msg("no symbol '%s'", name);
    return NULL;
}

static void check_sym(const Model *m, const char *name, Role role, int rank, int rows,
                      int cols, int offset)
{
    const Symbol *s = sym(m, name);
    ck_assert_int_eq(s->role, role);
    ck_assert_int_eq(s->rank, rank);
    ck_assert_int_eq(s->rows, rows);
    ck_assert_int_eq(s->cols, cols);
    ck_assert_int_eq(s->offset, offset);
    ck_assert_ptr_nonnull(s->leaf);
    ck_assert_int_eq(s->leaf->op, OP_LEAF);
    ck_assert_int_eq(s->leaf->offset, offset);
    ck_assert_int_eq(s->leaf->rank, rank);
    ck_assert_int_eq(s->leaf->rows, rows);
    ck_assert_int_eq(s->leaf->cols, cols);
}

/* ------------------------------------------------------------------ */
/* The SPEC examples                                                   */
/* ------------------------------------------------------------------ */

static const char kepler[] =
    "# Kepler's equation, M = E - e sin E, as an implicit layer E(M; e).\n"
    "model kepler\n"
    "input M\n"
    "param e = 0.5\n"
    "var   E\n"
    "data  E_target\n"
    "score (E - e*sin(E) - M)^2\n"
    "loss  (E - E_target)^2\n";

static const char node_euler[] =
    "model node_euler\n"
    "dim   D = 2, H = 50\n"
    "const dt = 0.1\n"
    "input x0[D]\n"
    "param W1[H, D], b1[H], W2[D, H], b2[D]\n"
    "var   x1[D]\n"
    "data  target[D]\n"
    "fn    h(z[D]) = W2 @ tanh(W1 @ z + b1) + b2\n"
    "residual x1 - x0 - dt*h(x1)\n"
    "loss  sum((x1 - target)^2)\n";

static const char mpc_linear[] =
    "model mpc_linear\n"
    "dim   T = 10, NX = 2, NU = 1\n"
    "input x0[NX]\n"
    "param A[NX, NX], B[NX, NU], q[NX]\n"
    "const r = 2\n"
    "var   u[T, NU]\n"
    "let   x[0] = x0\n"
    "for t in 0:T { let x[t+1] = A @ x[t] + B @ u[t] }\n"
    "score sum(t in 1:T+1, sum(q * x[t]^2)) + r*sum(u^2)\n";

START_TEST(test_kepler)
{
    Model *m = run(kepler);
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_str_eq(m->name, "kepler");
    ck_assert_int_eq(m->ny, 1);
    ck_assert_int_eq(m->nx, 1);
    ck_assert_int_eq(m->ntheta, 1);
    ck_assert_int_eq(m->ndata, 1);
    ck_assert_int_eq(m->nres, 0);
    ck_assert_int_eq(m->nsyms, 4);
    ck_assert_str_eq(m->syms[0].name, "M");
    ck_assert_str_eq(m->syms[3].name, "E_target");
    check_sym(m, "M", ROLE_INPUT, 0, 1, 1, 0);
    check_sym(m, "e", ROLE_PARAM, 0, 1, 1, 0);
    check_sym(m, "E", ROLE_VAR, 0, 1, 1, 0);
    check_sym(m, "E_target", ROLE_DATA, 0, 1, 1, 0);
    ck_assert_int_eq(sym(m, "M")->leaf->block, BLK_X);
    ck_assert_int_eq(sym(m, "e")->leaf->block, BLK_THETA);
    ck_assert_int_eq(sym(m, "E")->leaf->block, BLK_Y);
    ck_assert_int_eq(sym(m, "E_target")->leaf->block, BLK_DATA);
    /* the default 0.5 is exactly 1/2 */
    const Symbol *e = sym(m, "e");
    ck_assert_ptr_nonnull(e->init);
    ck_assert_int_eq(mpz_get_si(mpq_numref(e->init)), 1);
    ck_assert_int_eq(mpz_get_si(mpq_denref(e->init)), 2);
    ck_assert_ptr_null(sym(m, "M")->init);
    ck_assert_int_eq(m->score->rank, 0);
    ck_assert_ptr_null(m->residual);
    ck_assert_ptr_nonnull(m->loss);
    ck_assert_int_eq(m->loss->rank, 0);
    /* (...)^2 stays a power of a difference */
    ck_assert_int_eq(m->score->op, OP_POW);
}
END_TEST

START_TEST(test_node_euler)
{
    Model *m = run(node_euler);
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->ny, 2);
    ck_assert_int_eq(m->nx, 2);
    ck_assert_int_eq(m->ntheta, 50 * 2 + 50 + 2 * 50 + 2);
    ck_assert_int_eq(m->ndata, 2);
    ck_assert_int_eq(m->nres, 2);
    ck_assert_int_eq(m->nsyms, 7);
    check_sym(m, "x0", ROLE_INPUT, 1, 2, 1, 0);
    check_sym(m, "W1", ROLE_PARAM, 2, 50, 2, 0);
    check_sym(m, "b1", ROLE_PARAM, 1, 50, 1, 100);
    check_sym(m, "W2", ROLE_PARAM, 2, 2, 50, 150);
    check_sym(m, "b2", ROLE_PARAM, 1, 2, 1, 250);
    check_sym(m, "x1", ROLE_VAR, 1, 2, 1, 0);
    check_sym(m, "target", ROLE_DATA, 1, 2, 1, 0);
    ck_assert_ptr_nonnull(m->residual);
    ck_assert_int_eq(m->residual->rank, 1);
    ck_assert_int_eq(m->residual->rows, 2);
    ck_assert_int_eq(m->score->rank, 0);
    /* f = 1/2 sum(r^2) */
    ck_assert_int_eq(m->score->op, OP_MUL);
    ck_assert_int_eq(m->score->args[0]->op, OP_CONST);
    ck_assert_int_eq(mpz_get_si(mpq_denref(m->score->args[0]->q)), 2);
    ck_assert_int_eq(m->score->args[1]->op, OP_SUM);
    ck_assert_int_eq(m->loss->rank, 0);
}
END_TEST

START_TEST(test_mpc_linear)
{
    Model *m = run(mpc_linear);
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->ny, 10);
    ck_assert_int_eq(m->nx, 2);
    ck_assert_int_eq(m->ntheta, 4 + 2 + 2);
    ck_assert_int_eq(m->ndata, 0);
    ck_assert_int_eq(m->nres, 0);
    check_sym(m, "A", ROLE_PARAM, 2, 2, 2, 0);
    check_sym(m, "B", ROLE_PARAM, 2, 2, 1, 4);
    check_sym(m, "q", ROLE_PARAM, 1, 2, 1, 6);
    check_sym(m, "u", ROLE_VAR, 2, 10, 1, 0);
    ck_assert_int_eq(m->score->rank, 0);
    ck_assert_ptr_null(m->loss);
    ck_assert_ptr_null(m->residual);
}
END_TEST

/* Every symbol's leaf, concatenated by role in declaration order. */
START_TEST(test_offsets_interleaved)
{
    Model *m = run("model m\n"
                   "input a[3]\nvar y[2, 2]\ninput b\nparam p[2, 3], q = 1/3\n"
                   "var z[4]\ndata d[2], d2[3, 1]\ninput c[2, 2]\n"
                   "score sum(y) + sum(z)\n");
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->nx, 3 + 1 + 4);
    ck_assert_int_eq(m->ny, 4 + 4);
    ck_assert_int_eq(m->ntheta, 6 + 1);
    ck_assert_int_eq(m->ndata, 2 + 3);
    check_sym(m, "a", ROLE_INPUT, 1, 3, 1, 0);
    check_sym(m, "b", ROLE_INPUT, 0, 1, 1, 3);
    check_sym(m, "c", ROLE_INPUT, 2, 2, 2, 4);
    check_sym(m, "y", ROLE_VAR, 2, 2, 2, 0);
    check_sym(m, "z", ROLE_VAR, 1, 4, 1, 4);
    check_sym(m, "p", ROLE_PARAM, 2, 2, 3, 0);
    check_sym(m, "q", ROLE_PARAM, 0, 1, 1, 6);
    check_sym(m, "d", ROLE_DATA, 1, 2, 1, 0);
    check_sym(m, "d2", ROLE_DATA, 2, 3, 1, 2);
    ck_assert_int_eq(mpz_get_si(mpq_denref(sym(m, "q")->init)), 3);
    ck_assert_str_eq(m->syms[0].name, "a");
    ck_assert_str_eq(m->syms[1].name, "y");
    ck_assert_str_eq(m->syms[8].name, "c");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Shapes                                                              */
/* ------------------------------------------------------------------ */

static const char shape_prelude[] =
    "model s\n"
    "dim N = 3, M = 2\n"
    "const c = 1/2\n"
    "input v[N], w[N], s0\n"
    "param A[M, N], B[N, M], C[N, N]\n"
    "var y\n"
    "fn f(z[N]) = 2*z\n"
    "fn g(a, b) = a * b + y\n"
    "let fam[0] = v\n"
    "for t in 0:3 { let fam[t+1] = C @ fam[t] }\n"
    "score ";

/* The shape sema gives expr: "scalar" or "[n]" or "[m, n]". */
static const char *shape_of(const char *expr)
{
    static char buf[1024];
    static char shape[64];
    snprintf(buf, sizeof buf, "%s%s\n", shape_prelude, expr);
    Model *m = run(buf);
    if (m)
        return "scalar";
    const char *p = strstr(first_line(), "score must be a scalar, got shape ");
    if (!p)
        return first_line();    /* some other error: shows in the failure */
    snprintf(shape, sizeof shape, "%s", p + strlen("score must be a scalar, got shape "));
    return shape;
}

static const struct {
    const char *expr, *shape;
} shape_cases[] = {
    {"v + w", "[3]"},
    {"v - 1", "[3]"},
    {"2 * A", "[2, 3]"},
    {"A / s0", "[2, 3]"},
    {"s0 ^ A", "[2, 3]"},
    {"-A", "[2, 3]"},
    {"-v^2", "[3]"},
    {"A @ v", "[2]"},
    {"v @ B", "[2]"},
    {"A @ B", "[2, 2]"},
    {"B @ A", "[3, 3]"},
    {"v @ w", "scalar"},
    {"C @ C @ v", "[3]"},
    {"A'", "[3, 2]"},
    {"A''", "[2, 3]"},
    {"v'", "[3]"},
    {"s0'", "scalar"},
    {"A' @ A", "[3, 3]"},
    {"outer(v, w)", "[3, 3]"},
    {"outer(A[0], B[0])", "[3, 2]"},
    {"sin(A)", "[2, 3]"},
    {"softplus(v) + sigmoid(w) + log1p(abs(v)) + expm1(v) + sqrt(w)", "[3]"},
    {"erf(A)", "[2, 3]"},
    {"pow(v, 2)", "[3]"},
    {"pow(2, A)", "[2, 3]"},
    {"sum(A)", "scalar"},
    {"mean(B)", "scalar"},
    {"dot(A, A)", "scalar"},
    {"dot(v, w)", "scalar"},
    {"norm(v)", "scalar"},
    {"logsumexp(A)", "scalar"},
    {"A[1]", "[3]"},
    {"A[1, 2]", "scalar"},
    {"A[:, 2]", "[2]"},
    {"A[0:1, :]", "[1, 3]"},
    {"A[0:1]", "[1, 3]"},
    {"A[1, 0:2]", "[2]"},
    {"A[0:2, 1]", "[2]"},
    {"A[:, 1:]", "[2, 2]"},
    {"A[:, :]", "[2, 3]"},
    {"v[1]", "scalar"},
    {"v[1:]", "[2]"},
    {"v[:2]", "[2]"},
    {"v[0:3]", "[3]"},
    {"v[N-1]", "scalar"},
    {"v[(0.1 + 0.2) * 10 - 1]", "scalar"},   /* exact: 0.1 + 0.2 is 3/10 */
    {"v[c * 4]", "scalar"},
    {"[v, 1, w]", "[7]"},
    {"[s0]", "[1]"},
    {"[A[0], A[1][0:2]]", "[5]"},
    {"eye(3)", "[3, 3]"},
    {"eye(N) @ v", "[3]"},
    {"zeros(4)", "[4]"},
    {"zeros(M, N) + A", "[2, 3]"},
    {"ones(2, 5)", "[2, 5]"},
    {"ones(N) * 3", "[3]"},
    {"f(v)", "[3]"},
    {"f(f(w))", "[3]"},
    {"g(A, 2)", "[2, 3]"},
    {"g(2, 3)", "scalar"},
    {"fam[3]", "[3]"},
    {"fam[2][1]", "scalar"},
    {"sum(t in 0:3, v[t])", "scalar"},
    {"sum(t in 0:2, A[t])", "[3]"},
    {"sum(t in 0:0, v)", "scalar"},
    {"sum(t in 1:N, fam[t] * t)", "[3]"},
    {"sum(i in 0:M, sum(j in 0:N, A[i, j]))", "scalar"},
    {"v * y", "[3]"},
};

START_TEST(test_shapes)
{
    const char *got = shape_of(shape_cases[_i].expr);
    ck_assert_msg(strcmp(got, shape_cases[_i].shape) == 0, "shape of '%s': expected %s, got %s",
                  shape_cases[_i].expr, shape_cases[_i].shape, got);
}
END_TEST

/* The IR behind a few expressions. */
START_TEST(test_ir_nodes)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s\n", shape_prelude, "sum(A @ (v * y))");
    Model *m = run(buf);
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->score->op, OP_SUM);
    Node *mm = m->score->args[0];
    ck_assert_int_eq(mm->op, OP_MATMUL);
    ck_assert_int_eq(mm->rank, 1);
    ck_assert_int_eq(mm->rows, 2);
    ck_assert_int_eq(mm->args[0]->op, OP_LEAF);
    ck_assert_int_eq(mm->args[0]->block, BLK_THETA);

    /* a compile-time sum folds when it is constant */
    snprintf(buf, sizeof buf, "%s%s\n", shape_prelude, "y * sum(t in 1:5, t^2)");
    m = run(buf);
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->score->op, OP_MUL);
    ck_assert(ir_is_const(m->score->args[0], 1 + 4 + 9 + 16));

    /* an element of a leaf is a view of it */
    snprintf(buf, sizeof buf, "%s%s\n", shape_prelude, "y * A[1, 2]");
    m = run(buf);
    ck_assert_msg(m != NULL, "%s", diag_text);
    Node *el = m->score->args[0]->op == OP_VIEW ? m->score->args[0] : m->score->args[1];
    ck_assert_int_eq(el->op, OP_VIEW);
    ck_assert_int_eq(el->map.r0, 1);
    ck_assert_int_eq(el->map.c0, 2);
}
END_TEST

/* Residuals of every rank are flattened row-major. */
START_TEST(test_residual_flatten)
{
    Model *m = run("model r\nvar Y[2, 3]\nresidual Y - 1\n");
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->nres, 6);
    ck_assert_int_eq(m->residual->rank, 1);
    ck_assert_int_eq(m->residual->rows, 6);
    ck_assert_int_eq(m->residual->cols, 1);
    ck_assert_int_eq(m->score->rank, 0);

    m = run("model r\nvar y\nresidual y - 1\n");
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->nres, 1);
    ck_assert_int_eq(m->residual->rank, 1);

    m = run("model r\nvar y[4]\nresidual y[1:3]\n");
    ck_assert_msg(m != NULL, "%s", diag_text);
    ck_assert_int_eq(m->nres, 2);
    ck_assert_int_eq(m->residual->rank, 1);
}
END_TEST

/* Things that are fine. */
START_TEST(test_accepted)
{
    static const char *ok[] = {
        /* members in any order; a fn closes over globals before it */
        "model m\nvar y[2]\nlet x[1] = 2*y\nlet x[0] = y\nconst k = 3\n"
        "fn f(a) = k*a + x[0]\nscore sum(f(x[1]))\n",
        /* data in lets used only by the loss */
        "model m\nvar y\ndata t\nlet d = y - t\nscore y^2\nloss d^2\n",
        /* values may share a name with a built-in function */
        "model m\nvar sum\nlet exp = 2\nscore exp(sum) * exp\n",
        /* locals shadow globals; nested loops; semicolons */
        "model m; dim n = 4; var y[n]; const t = 7;\n"
        "for t in 0:2 { for j in 0:2 { let a[2*t+j] = y[t+j] } }\n"
        "score sum(t in 0:4, a[t]) + t;\n",
        /* empty loop and empty sum */
        "model m\nvar y\nfor t in 3:1 { let z[t] = y }\nscore y + sum(t in 0:0, y)\n",
        /* a huge intermediate constant that does not reach the model */
        "model m\nvar y\nconst big = 1e400\nscore y * (big / 1e399)\n",
        /* fn parameters with matrix shapes, dims computed */
        "model m\ndim N = 2, K = N*N - 1\nvar Y[N, K]\nfn tr(a[N, K]) = a'\n"
        "score sum(tr(Y) @ ones(N))\n",
        /* a fn used as an index helper: its result is a compile-time int */
        "model m\nvar y[5]\nfn nxt(i) = i + 1\nscore y[nxt(3)]\n",
        /* residual and loss of a param default */
        "model m\nparam p = -2.5e-3\nvar y\nresidual p*y - 1\nloss p\n",
    };
    Model *m = run(ok[_i]);
    ck_assert_msg(m != NULL, "model %d:\n%s\n%s", _i, ok[_i], diag_text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Diagnostics                                                         */
/* ------------------------------------------------------------------ */

#define PRE "model m\ndim N = 3\ninput x[N]\nparam W[2, N], e = 0.5\nvar y[N]\ndata t[N]\n"
/* PRE has 6 lines; the case's own text starts on line 7. */

static const struct {
    const char *src, *first;
} error_cases[] = {
    {PRE "let a = W3 @ x\nscore sum(y)\n",
     "t.dil:7:9: error: undefined name 'W3'"},
    {PRE "let x = 1\nscore sum(y)\n",
     "t.dil:7:5: error: 'x' is already defined"},
    {PRE "let b = x + W\nscore sum(y)\n",
     "t.dil:7:9: error: shape mismatch in '+': [3] and [2, 3]"},
    {PRE "let b = W @ [1, 2, 3, 4]\nscore sum(y)\n",
     "t.dil:7:9: error: matrix product needs inner dimensions to agree: [2, 3] @ [4]"},
    {PRE "let d = sin(x, y)\nscore sum(y)\n",
     "t.dil:7:9: error: 'sin' takes 1 argument, got 2"},
    {PRE "let f = [x, 1, 2][5]\nscore sum(y)\n",
     "t.dil:7:19: error: index 5 out of bounds for dimension of size 5"},
    {PRE "let f = x[-1]\nscore sum(y)\n",
     "t.dil:7:11: error: index -1 out of bounds for dimension of size 3"},
    {PRE "let g = x[y[0]]\nscore sum(y)\n",
     "t.dil:7:11: error: index must be a compile-time integer"},
    {PRE "let g = x[1/2]\nscore sum(y)\n",
     "t.dil:7:11: error: index must be a compile-time integer, got 1/2"},
    {PRE "for k in 0:3 { let h[k] = k }\nscore sum(y) + h[3]\n",
     "t.dil:8:16: error: family 'h' has no member 3 (defined so far: 0..2)"},
    {PRE "score sum(y * t)\n",
     "t.dil:7:15: error: 'data' value 't' may be used only in the loss"},
    {PRE "score y\n",
     "t.dil:7:7: error: score must be a scalar, got shape [3]"},
    {"model m\ninput x\nscore x\n",
     "t.dil:1:1: error: a model needs at least one 'var'"},
    {PRE "loss sum(y)\n",
     "t.dil:1:1: error: exactly one of 'score' and 'residual' is required"},
    {PRE "score sum(y)\nresidual y\n",
     "t.dil:8:1: error: exactly one of 'score' and 'residual' is required"},
    {PRE "fn f(a) = f(a) + 1\nscore sum(f(y))\n",
     "t.dil:7:11: error: recursive call of 'f'"},
    {PRE "score sum(y) * 1e400\n",
     "t.dil:7:16: error: constant overflows a double"},
    {PRE "score sum(y) * 10^200 * 10^200\n",
     "t.dil:7:7: error: constant overflows a double"},
    {PRE "const z = 1/(2 - 2)\nscore sum(y)\n",
     "t.dil:7:11: error: division by zero in a constant expression"},
    {PRE "score sum(y / 0)\n",
     "t.dil:7:11: error: division by zero"},
    {PRE "dim K = 0\nscore sum(y)\n",
     "t.dil:7:9: error: dimension must be positive, got 0"},
    {PRE "dim K = N/2\nscore sum(y)\n",
     "t.dil:7:9: error: dimension must be a compile-time integer, got 3/2"},
    {PRE "input z[300000000]\nscore sum(y)\n",
     "t.dil:7:9: error: dimension 300000000 is too large (at most 268435456)"},
    {PRE "var big[20000, 20000]\nscore sum(y)\n",
     "t.dil:7:5: error: tensor of shape [20000, 20000] is too large (at most 268435456 elements)"},
    {PRE "input i0 = 2\nscore sum(y)\n",
     "t.dil:7:12: error: only a 'param' may have a default value ('i0' is an input)"},
    {PRE "param p = x\nscore sum(y)\n",
     "t.dil:7:11: error: default value of 'p' must be a scalar, got shape [3]"},
    {PRE "param p = sin(1)\nscore sum(y)\n",
     "t.dil:7:11: error: default value of 'p' must be an exact constant (a rational number; "
     "functions of constants such as sin(1) are not folded)"},
    {PRE "fn exp(a) = a\nscore sum(y)\n",
     "t.dil:7:4: error: 'exp' is a built-in function and cannot be redefined"},
    {PRE "fn h(z[2]) = z\nscore sum(h(y))\n",
     "t.dil:8:13: error: argument 1 of 'h' must have shape [2], got [3]"},
    {PRE "fn h(z) = z\nscore sum(h(y, y))\n",
     "t.dil:8:11: error: 'h' takes 1 argument, got 2"},
    {PRE "fn h(a, a) = a\nscore sum(y)\n",
     "t.dil:7:9: error: 'a' is already defined"},
    {PRE "score sum(y @ 2)\n",
     "t.dil:7:11: error: '@' needs a vector or matrix on each side, got [3] @ scalar"},
    {PRE "score sum(outer(W, y))\n",
     "t.dil:7:11: error: 'outer' needs two vectors, got [2, 3] and [3]"},
    {PRE "score dot(y, W)\n",
     "t.dil:7:7: error: 'dot' needs operands of the same shape, got [3] and [2, 3]"},
    {PRE "score sum([y, W])\n",
     "t.dil:7:15: error: '[...]' concatenates scalars and vectors, got a matrix [2, 3]"},
    {PRE "score sum(W[0:5, 1])\n",
     "t.dil:7:13: error: range 0:5 out of bounds for dimension of size 2"},
    {PRE "score sum(y[2:2])\n",
     "t.dil:7:13: error: range 2:2 is empty"},
    {PRE "score y[1, 2]\n",
     "t.dil:7:7: error: a vector takes 1 index, got 2"},
    {PRE "score W[1, 2, 0]\n",
     "t.dil:7:7: error: a matrix takes 1 or 2 indices, got 3"},
    {PRE "score y[0][0]\n",
     "t.dil:7:7: error: a scalar cannot be indexed"},
    {PRE "score sum(zeros(0))\n",
     "t.dil:7:17: error: size of 'zeros' must be positive, got 0"},
    {PRE "score sum(t in 0:3, y[0:t+1])\n",
     "t.dil:7:21: error: shape mismatch in 'sum': t = 1 gives [2], t = 0 gave [1]"},
    {PRE "score sum(wat(y))\n",
     "t.dil:7:11: error: undefined function 'wat'"},
    {PRE "score sum(y(1))\n",
     "t.dil:7:11: error: 'y' is not a function"},
    {PRE "score sum\n",
     "t.dil:7:7: error: 'sum' is a built-in function; call it as sum(...)"},
    {PRE "fn h(a) = a\nscore h\n",
     "t.dil:8:7: error: 'h' is a function; call it as h(...)"},
    {PRE "for k in 0:2 { let z = k }\nscore sum(y)\n",
     "t.dil:7:20: error: only family members may be defined in a 'for' body "
     "('let z' would be redefined on every iteration; write 'let z[k] = ...')"},
    {PRE "let h[1] = y\nlet h[1] = x\nscore sum(y)\n",
     "t.dil:8:5: error: 'h[1]' is already defined"},
    {PRE "let h[-1] = y\nscore sum(y)\n",
     "t.dil:7:7: error: family index must not be negative, got -1"},
    {PRE "let h[0] = y\nscore sum(h)\n",
     "t.dil:8:11: error: 'h' is an indexed family; read one member as h[k]"},
    {PRE "let h[0] = y\nscore h[0, 1]\n",
     "t.dil:8:7: error: family 'h' takes one index k; read an element as h[k][i]"},
    {PRE "const c = x + 1\nscore sum(y)\n",
     "t.dil:7:11: error: const 'c' must be a constant expression, but it depends on input 'x'"},
    {PRE "score sum(y)\nloss 1\nloss 2\n",
     "t.dil:9:1: error: a model has at most one 'loss'"},
    {PRE "score sum(y)\nloss y\n",
     "t.dil:8:6: error: loss must be a scalar, got shape [3]"},
    {PRE "score sum(y)\nmodel again\n",
     "t.dil:8:1: error: only one 'model' declaration is allowed"},
    {"var y\nmodel m\nscore y\n",
     "t.dil:2:1: error: 'model NAME' must be the first declaration"},
    {"var y\nscore y\n",
     "t.dil:1:1: error: a model file must start with 'model NAME'"},
    {PRE "let l = t * 2\nscore sum(y) + l[0]\n",
     "t.dil:8:16: error: 'l' depends on 'data' value 't', which may be used only in the loss"},
    {PRE "for k in 0:1000000000 { let h[k] = k }\nscore sum(y)\n",
     "t.dil:7:1: error: model too large to unroll: more than 4000000 elaboration steps "
     "(a loop, a compile-time sum or nested fn calls unroll too far)"},
    {PRE "let h[0] = 3\nfor k in 0:20 { let h[k+1] = h[k]^4 }\nscore sum(y) * h[20]\n",
     "t.dil:8:30: error: constant expression too large to fold exactly (more than 65536 bits)"},
    {PRE "for k in 0:y[0] { let h[k] = k }\nscore sum(y)\n",
     "t.dil:7:12: error: loop bound must be a compile-time integer"},
    {PRE "score sum(y) * 2^100000\n",
     "t.dil:7:16: error: constant expression too large to fold exactly (more than 65536 bits)"},
    {PRE "score sum(y) + 0^-1\n",
     "t.dil:7:16: error: division by zero in a constant expression (0 to a negative power)"},
    {PRE "score sum(eye(20000))\n",
     "t.dil:7:11: error: tensor of shape [20000, 20000] is too large (at most 268435456 elements)"},
    {PRE "fn h(a) = a + later\nlet later = 1\nscore sum(h(y))\n",
     "t.dil:7:15: error: undefined name 'later'"},
};

START_TEST(test_errors)
{
    Model *m = run(error_cases[_i].src);
    ck_assert_msg(m == NULL, "case %d was accepted:\n%s", _i, error_cases[_i].src);
    ck_assert_msg(strcmp(first_line(), error_cases[_i].first) == 0,
                  "case %d:\n%s\nexpected: %s\ngot:\n%s", _i, error_cases[_i].src,
                  error_cases[_i].first, diag_text);
}
END_TEST

/* Full text: the notes, the source line and the caret. */
START_TEST(test_error_notes)
{
    ck_assert_ptr_null(run(PRE "let x = 1\nscore sum(y)\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:7:5: error: 'x' is already defined\n"
                     "let x = 1\n"
                     "    ^\n"
                     "t.dil:3:7: note: 'x' was first defined here\n"
                     "input x[N]\n"
                     "      ^\n");

    /* an error inside a loop names the iteration, once */
    ck_assert_ptr_null(run(PRE "for k in 0:5 { let h[k] = y[k] }\nscore sum(y)\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:7:29: error: index 3 out of bounds for dimension of size 3\n"
                     "for k in 0:5 { let h[k] = y[k] }\n"
                     "                            ^\n"
                     "t.dil:7:5: note: in the iteration with k = 3\n"
                     "for k in 0:5 { let h[k] = y[k] }\n"
                     "    ^\n");

    /* an error inside a fn body names the call */
    ck_assert_ptr_null(run(PRE "fn h(a) = a @ W\nscore sum(h(y))\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:7:11: error: matrix product needs inner dimensions to agree: "
                     "[3] @ [2, 3]\n"
                     "fn h(a) = a @ W\n"
                     "          ^~~~~\n"
                     "t.dil:8:11: note: in this call of 'h'\n"
                     "score sum(h(y))\n"
                     "          ^~~~\n");

    /* recursion points at the fn */
    ck_assert_ptr_null(run(PRE "fn f(a) = f(a)\nscore sum(f(y))\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:7:11: error: recursive call of 'f'\n"
                     "fn f(a) = f(a)\n"
                     "          ^~~~\n"
                     "t.dil:7:4: note: 'f' is defined here\n"
                     "fn f(a) = f(a)\n"
                     "   ^\n"
                     "t.dil:8:11: note: in this call of 'f'\n"
                     "score sum(f(y))\n"
                     "          ^~~~\n");

    /* data through a let: the use in the score and the data use */
    ck_assert_ptr_null(run(PRE "let l = t * 2\nscore sum(y) + l[0]\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:8:16: error: 'l' depends on 'data' value 't', which may be used "
                     "only in the loss\n"
                     "score sum(y) + l[0]\n"
                     "               ^\n"
                     "t.dil:7:9: note: 't' is used here\n"
                     "let l = t * 2\n"
                     "        ^\n");

    /* a name used before its definition */
    ck_assert_ptr_null(run(PRE "let a = b\nlet b = 1\nscore sum(y)\n"));
    ck_assert_str_eq(diag_text,
                     "t.dil:7:9: error: undefined name 'b'\n"
                     "let a = b\n"
                     "        ^\n"
                     "t.dil:8:5: note: 'b' is defined later, here\n"
                     "let b = 1\n"
                     "    ^\n");
}
END_TEST

/* Several errors in one run; a failed value silences what follows. */
START_TEST(test_error_recovery)
{
    ck_assert_ptr_null(run(PRE "let a = W3 @ x\nlet b = a + 1\nlet c = b @ W\n"
                               "let d = x + W\nlet e2 = d * 2\nscore sum(y) + q\n"));
    ck_assert_int_eq(count_errors(), 3);
    ck_assert(strstr(diag_text, "t.dil:7:9: error: undefined name 'W3'") != NULL);
    ck_assert(strstr(diag_text, "t.dil:10:9: error: shape mismatch in '+'") != NULL);
    ck_assert(strstr(diag_text, "t.dil:12:16: error: undefined name 'q'") != NULL);

    /* a missing var and a missing score are both reported */
    ck_assert_ptr_null(run("model m\ninput x\n"));
    ck_assert_int_eq(count_errors(), 2);

    /* the error limit stops elaboration */
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "model m\nvar y\n");
    for (int i = 0; i < 40; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "let a%d = nope%d\n", i, i);
    snprintf(buf + n, sizeof buf - (size_t)n, "score y\n");
    ck_assert_ptr_null(run(buf));
    ck_assert_int_eq(count_errors(), DIAG_MAX_ERRORS + 1);   /* + "too many errors" */
    ck_assert(strstr(diag_text, "too many errors") != NULL);
}
END_TEST

/* Inputs that must not hang or exhaust memory. */
START_TEST(test_limits)
{
    /* exponential inlining */
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "model m\nvar y\nfn f0(a) = a + 1\n");
    for (int i = 1; i < 60; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "fn f%d(a) = f%d(a) * f%d(a + 1)\n", i,
                      i - 1, i - 1);
    snprintf(buf + n, sizeof buf - (size_t)n, "score f59(y)\n");
    ck_assert_ptr_null(run(buf));
    ck_assert(strstr(first_line(), "model too large to unroll") != NULL);

    /* a loop of huge constants */
    ck_assert_ptr_null(run("model m\nvar y\nlet h[0] = 2\n"
                           "for k in 0:100 { let h[k+1] = h[k] * h[k] }\nscore y * h[100]\n"));
    ck_assert(strstr(first_line(), "constant expression too large") != NULL);

    /* a block over the limit */
    ck_assert_ptr_null(run("model m\nvar a[200000000], b[100000000]\nscore sum(a)\n"));
    ck_assert_str_eq(first_line(), "t.dil:2:19: error: the 'var' block is too large: more "
                                   "than 268435456 elements in all");
}
END_TEST

static Suite *sema_suite(void)
{
    Suite *s = suite_create("sema");
    TCase *tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_kepler);
    tcase_add_test(tc, test_node_euler);
    tcase_add_test(tc, test_mpc_linear);
    tcase_add_test(tc, test_offsets_interleaved);
    suite_add_tcase(s, tc);

    tc = tcase_create("shapes");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_loop_test(tc, test_shapes, 0, (int)(sizeof shape_cases / sizeof shape_cases[0]));
    tcase_add_test(tc, test_ir_nodes);
    tcase_add_test(tc, test_residual_flatten);
    tcase_add_loop_test(tc, test_accepted, 0, 9);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, test_error_notes);
    tcase_add_test(tc, test_error_recovery);
    tcase_add_test(tc, test_limits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sema_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
