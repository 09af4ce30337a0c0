/*
 * check_parser.c - unit tests of the front end: scanner.l, parser.y, diag.c.
 *
 * Each case parses an in-memory source as the file "t.dil", with the
 * diagnostics written to a memory stream, and compares the exact ast_dump
 * output (for well-formed input) or the exact diagnostic text (for
 * malformed input) with what the test expects.  Sources may hold NUL
 * bytes, so their lengths are passed explicitly (sizeof - 1).  The arena is
 * released after every parse, as the compiler does after every run.
 */
#include "dilc.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Output of one parse, malloc'd. */
typedef struct Parsed {
    char *dump;               /* ast_dump of whatever was built */
    char *diag;               /* everything diag printed */
    int errors;               /* diag_errors() */
} Parsed;

static Parsed parse_n(const char *src, size_t n)
{
    Parsed r;
    size_t dlen, elen;
    FILE *dout = open_memstream(&r.dump, &dlen);
    FILE *eout = open_memstream(&r.diag, &elen);
    ck_assert(dout && eout);
    /* The scanner gets exactly n bytes; the NUL after them is the
       SrcFile's contract. */
    char *text = malloc(n + 1);
    ck_assert(text);
    memcpy(text, src, n);
    text[n] = '\0';
    SrcFile f = { "t.dil", text, n };
    diag_init(&f, eout);
    Decl *d = parse_file(&f);
    ast_dump(dout, d);
    r.errors = diag_errors();
    fclose(dout);
    fclose(eout);
    arena_release();
    free(text);
    return r;
}

static void parsed_free(Parsed *r)
{
    free(r->dump);
    free(r->diag);
}

/* src parses without a diagnostic and dumps as want. */
static void check_dump_n(const char *src, size_t n, const char *want)
{
    Parsed r = parse_n(src, n);
    ck_assert_str_eq(r.diag, "");
    ck_assert_int_eq(r.errors, 0);
    ck_assert_str_eq(r.dump, want);
    parsed_free(&r);
}

/* src gives exactly the diagnostics want (nerr errors). */
static void check_diag_n(const char *src, size_t n, int nerr, const char *want)
{
    Parsed r = parse_n(src, n);
    ck_assert_str_eq(r.diag, want);
    ck_assert_int_eq(r.errors, nerr);
    parsed_free(&r);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

#define DUMP(src, want) check_dump_n((src), sizeof(src) - 1, (want))
#define DIAG(src, nerr, want) check_diag_n((src), sizeof(src) - 1, (nerr), (want))

/* ------------------------------------------------------ the SPEC examples */

START_TEST(spec_kepler)
{
    DUMP("# Kepler's equation, M = E - e sin E, as an implicit layer E(M; e).\n"
         "model kepler\n"
         "input M\n"
         "param e = 0.5\n"
         "var   E\n"
         "data  E_target\n"
         "score (E - e*sin(E) - M)^2\n"
         "loss  (E - E_target)^2\n",
         "(model kepler)\n"
         "(input M)\n"
         "(param e = 1/2)\n"
         "(var E)\n"
         "(data E_target)\n"
         "(score (^ (- (- E (* e (call sin E))) M) 2))\n"
         "(loss (^ (- E E_target) 2))\n");
}
END_TEST

START_TEST(spec_node_euler)
{
    DUMP("# One backward-Euler step of a neural ODE: x1 = x0 + dt*h(x1).\n"
         "model node_euler\n"
         "dim   D = 2, H = 50\n"
         "const dt = 0.1\n"
         "input x0[D]\n"
         "param W1[H, D], b1[H], W2[D, H], b2[D]\n"
         "var   x1[D]\n"
         "data  target[D]\n"
         "fn    h(z[D]) = W2 @ tanh(W1 @ z + b1) + b2\n"
         "residual x1 - x0 - dt*h(x1)\n"
         "loss  sum((x1 - target)^2)\n",
         "(model node_euler)\n"
         "(dim D 2)\n"
         "(dim H 50)\n"
         "(const dt 1/10)\n"
         "(input x0 [D])\n"
         "(param W1 [H D])\n"
         "(param b1 [H])\n"
         "(param W2 [D H])\n"
         "(param b2 [D])\n"
         "(var x1 [D])\n"
         "(data target [D])\n"
         "(fn h (z[D]) (+ (@ W2 (call tanh (+ (@ W1 z) b1))) b2))\n"
         "(residual (- (- x1 x0) (* dt (call h x1))))\n"
         "(loss (call sum (^ (- x1 target) 2)))\n");
}
END_TEST

START_TEST(spec_mpc_linear)
{
    DUMP("# Finite-horizon control with linear dynamics, unrolled at compile time.\n"
         "model mpc_linear\n"
         "dim   T = 10, NX = 2, NU = 1\n"
         "input x0[NX]\n"
         "param A[NX, NX], B[NX, NU], q[NX]\n"
         "const r = 2\n"
         "var   u[T, NU]\n"
         "let   x[0] = x0\n"
         "for t in 0:T { let x[t+1] = A @ x[t] + B @ u[t] }\n"
         "score sum(t in 1:T+1, sum(q * x[t]^2)) + r*sum(u^2)\n",
         "(model mpc_linear)\n"
         "(dim T 10)\n"
         "(dim NX 2)\n"
         "(dim NU 1)\n"
         "(input x0 [NX])\n"
         "(param A [NX NX])\n"
         "(param B [NX NU])\n"
         "(param q [NX])\n"
         "(const r 2)\n"
         "(var u [T NU])\n"
         "(let x [0] x0)\n"
         "(for t 0 T (let x [(+ t 1)] (+ (@ A (index x t)) (@ B (index u t)))))\n"
         "(score (+ (sum t 1 (+ T 1) (call sum (* q (^ (index x t) 2)))) "
         "(* r (call sum (^ u 2)))))\n");
}
END_TEST

/* ------------------------------------------------------------ declarations */

START_TEST(decl_every_kind)
{
    DUMP("model m; dim N = 3; const c = 1, d = c/2;\n"
         "input a, b[N], C[N, 2*N] param p = 2, P[N] = 0 var y[N] data t\n"
         "let z = a; let w[N - 1] = z\n"
         "fn f(u, v[N], M[N, N]) = u + v\n"
         "for i in 0:N { let q[i] = i for j in i:N { let r[j] = j } ; }\n"
         "score y; residual y; loss t;;\n",
         "(model m)\n"
         "(dim N 3)\n"
         "(const c 1)\n"
         "(const d (/ c 2))\n"
         "(input a)\n"
         "(input b [N])\n"
         "(input C [N (* 2 N)])\n"
         "(param p = 2)\n"
         "(param P [N] = 0)\n"
         "(var y [N])\n"
         "(data t)\n"
         "(let z a)\n"
         "(let w [(- N 1)] z)\n"
         "(fn f (u v[N] M[N N]) (+ u v))\n"
         "(for i 0 N (let q [i] i) (for j i N (let r [j] j)))\n"
         "(score y)\n"
         "(residual y)\n"
         "(loss t)\n");
}
END_TEST

START_TEST(decl_fields)
{
    /* What the dump does not show: kinds, roles, ranks, locations. */
    const char *src = "model m\nparam W[2, 3], e\nfn g(a, b[2]) = a\n";
    SrcFile f = { "t.dil", src, strlen(src) };
    diag_init(&f, stderr);
    Decl *d = parse_file(&f);
    ck_assert_int_eq(diag_errors(), 0);
    ck_assert_int_eq(d->kind, DECL_MODEL);
    ck_assert_int_eq(d->name_loc.begin, 6);
    ck_assert_int_eq(d->name_loc.end, 7);
    d = d->next;
    ck_assert_int_eq(d->kind, DECL_SYMBOL);
    ck_assert_int_eq(d->role, ROLE_PARAM);
    ck_assert_int_eq(d->rank, 2);
    ck_assert_int_eq(d->loc.begin, 8);    /* the keyword */
    ck_assert_int_eq(d->loc.end, 13);
    ck_assert_int_eq(d->name_loc.begin, 14);
    ck_assert_int_eq(d->shape[1]->loc.begin, 19);
    ck_assert_ptr_null(d->value);
    d = d->next;
    ck_assert_str_eq(d->name, "e");
    ck_assert_int_eq(d->rank, 0);
    ck_assert_int_eq(d->role, ROLE_PARAM);
    ck_assert_int_eq(d->loc.begin, 8);
    d = d->next;
    ck_assert_int_eq(d->kind, DECL_FN);
    ck_assert_int_eq(d->nparams, 2);
    ck_assert_int_eq(d->params[0].rank, -1);
    ck_assert_int_eq(d->params[1].rank, 1);
    ck_assert_int_eq(d->params[1].loc.begin, 33);
    ck_assert_ptr_null(d->next);
    arena_release();
}
END_TEST

START_TEST(decl_empty_file)
{
    DUMP("", "");
    DUMP("  \n\t# only a comment, with UTF-8: \xce\xbb\n;;\n", "");
}
END_TEST

/* ------------------------------------------------------------- expressions */

START_TEST(expr_precedence)
{
    DUMP("score a + b * c - d / e @ f",
         "(score (- (+ a (* b c)) (@ (/ d e) f)))\n");
    DUMP("score -x^2", "(score (- (^ x 2)))\n");
    DUMP("score 2^-1", "(score (^ 2 (- 1)))\n");
    DUMP("score a^b^c", "(score (^ a (^ b c)))\n");
    DUMP("score -a - -b * -c", "(score (- (- a) (* (- b) (- c))))\n");
    DUMP("score (a + b) * c", "(score (* (+ a b) c))\n");
    DUMP("score ((((x))))", "(score x)\n");
    DUMP("score x'^2 + A'@B", "(score (+ (^ (' x) 2) (@ (' A) B)))\n");
    DUMP("score a - b - c", "(score (- (- a b) c))\n");
}
END_TEST

START_TEST(expr_postfix)
{
    DUMP("score x[1] + A[i, j] + A[2][0] + f(x)[0] + A'[1]",
         "(score (+ (+ (+ (+ (index x 1) (index A i j)) (index (index A 2) 0)) "
         "(index (call f x) 0)) (index (' A) 1)))\n");
    DUMP("score x[a:b] + A[:, j] + A[a:, :] + x[:b] + A[1:2, 0:1]",
         "(score (+ (+ (+ (+ (index x (: a b)) (index A (: _ _) j)) "
         "(index A (: a _) (: _ _))) (index x (: _ b))) (index A (: 1 2) (: 0 1))))\n");
    DUMP("score pow(a, b) + dot(x, y) + eye(3)",
         "(score (+ (+ (call pow a b) (call dot x y)) (call eye 3)))\n");
}
END_TEST

START_TEST(expr_vector_and_sum)
{
    DUMP("score [a, 1, x[0:2]]", "(score (vec a 1 (index x (: 0 2))))\n");
    DUMP("score sum(k in 0:N-1, x[k]*k)",
         "(score (sum k 0 (- N 1) (* (index x k) k)))\n");
    DUMP("score sum(x) + sum(i in 0:2, sum(j in 0:i, i*j))",
         "(score (+ (call sum x) (sum i 0 2 (sum j 0 i (* i j)))))\n");
}
END_TEST

START_TEST(expr_numbers)
{
    DUMP("score [3, 0.1, 2.5e-3, .5, 1e10, 1E+2, 0.50, 007]",
         "(score (vec 3 1/10 1/400 1/2 10000000000 100 1/2 7))\n");
}
END_TEST

START_TEST(expr_locations)
{
    const char *src = "score -(a + b)[1]'";
    SrcFile f = { "t.dil", src, strlen(src) };
    diag_init(&f, stderr);
    Decl *d = parse_file(&f);
    ck_assert_int_eq(diag_errors(), 0);
    Ast *e = d->value;
    ck_assert_int_eq(e->kind, AST_NEG);
    ck_assert_int_eq(e->loc.begin, 6);
    ck_assert_int_eq(e->loc.end, 18);
    e = e->a;
    ck_assert_int_eq(e->kind, AST_TRANSPOSE);
    ck_assert_int_eq(e->loc.begin, 7);
    e = e->a;
    ck_assert_int_eq(e->kind, AST_INDEX);
    ck_assert_int_eq(e->loc.end, 17);
    e = e->a;                            /* (a + b), parentheses included */
    ck_assert_int_eq(e->kind, AST_BINARY);
    ck_assert_int_eq(e->loc.begin, 7);
    ck_assert_int_eq(e->loc.end, 14);
    ck_assert_int_eq(e->b->loc.begin, 12);
    arena_release();

    src = "score sum(k in 0:2, k)";
    f.text = src;
    f.len = strlen(src);
    diag_init(&f, stderr);
    d = parse_file(&f);
    e = d->value;
    ck_assert_int_eq(e->kind, AST_SUMRANGE);
    ck_assert_int_eq(e->loc.begin, 6);
    ck_assert_int_eq(e->loc.end, 22);
    ck_assert_int_eq(e->name_loc.begin, 10);
    ck_assert_int_eq(e->name_loc.end, 11);
    arena_release();
}
END_TEST

/* ------------------------------------------------------------- diagnostics */

START_TEST(diag_unterminated_paren)
{
    DIAG("model m\nscore (a + b\n", 1,
         "t.dil:2:13: error: expected ')' to close '(' at 2:7\n"
         "score (a + b\n"
         "            ^\n");
}
END_TEST

START_TEST(diag_missing_equals)
{
    DIAG("model m\ndim N 50\n", 1,
         "t.dil:2:7: error: expected '=' before '50'\n"
         "dim N 50\n"
         "      ^~\n");
    DIAG("fn f(x) x\n", 1,
         "t.dil:1:9: error: expected '=' before 'x'\n"
         "fn f(x) x\n"
         "        ^\n");
}
END_TEST

START_TEST(diag_expected_expression)
{
    DIAG("score [1, (a + ]\n", 1,
         "t.dil:1:16: error: expected expression before ']'\n"
         "score [1, (a + ]\n"
         "               ^\n");
    DIAG("score", 1,
         "t.dil:1:6: error: expected expression at end of file\n"
         "score\n"
         "     ^\n");
}
END_TEST

START_TEST(diag_expected_declaration)
{
    DIAG("model m\nx = 1\n", 1,
         "t.dil:2:1: error: expected declaration (model, dim, const, input, param, var, "
         "data, let, fn, for, score, residual, loss), found 'x'\n"
         "x = 1\n"
         "^\n");
}
END_TEST

START_TEST(diag_brackets)
{
    DIAG("let x[1 = 2", 1,
         "t.dil:1:9: error: expected ']' to close '[' at 1:6\n"
         "let x[1 = 2\n"
         "        ^\n");
    DIAG("for t in 0:2 {\n  let x = 1\n", 1,
         "t.dil:2:12: error: expected '}' to close '{' at 1:14\n"
         "  let x = 1\n"
         "           ^\n");
    DIAG("score (a]", 1,
         "t.dil:1:9: error: expected ')' to close '(' at 1:7\n"
         "score (a]\n"
         "        ^\n");
}
END_TEST

START_TEST(diag_expected_token)
{
    DIAG("for t 0:3 {}", 1,
         "t.dil:1:7: error: expected 'in' before '0'\n"
         "for t 0:3 {}\n"
         "      ^\n");
    DIAG("for t in 0 3 {}", 1,
         "t.dil:1:12: error: expected ':' before '3'\n"
         "for t in 0 3 {}\n"
         "           ^\n");
    DIAG("model\ninput x", 1,
         "t.dil:2:1: error: expected identifier before 'input'\n"
         "input x\n"
         "^~~~~\n");
}
END_TEST

START_TEST(diag_nul_byte)
{
    DIAG("model m\nscore a\0b\nloss 1\n", 1,
         "t.dil:2:8: error: stray '\\x00' in program\n"
         "score a b\n"
         "       ^\n");
    DIAG("# a \0 in a comment\n", 1,
         "t.dil:1:5: error: stray '\\x00' in comment\n"
         "# a   in a comment\n"
         "    ^\n");
}
END_TEST

START_TEST(diag_invalid_utf8)
{
    DIAG("score a \xff + 1 # \xce\n", 2,
         "t.dil:1:9: error: stray '\\xff' in program\n"
         "score a \xff + 1 # \xce\n"
         "        ^\n"
         "t.dil:1:17: error: stray '\\xce' in comment\n"
         "score a \xff + 1 # \xce\n"
         "                ^\n");
    /* A valid UTF-8 character is named as itself; the caret counts it as
       one column. */
    DIAG("score \xce\xbb\xce\xbb $\n", 3,
         "t.dil:1:7: error: stray '\xce\xbb' in program\n"
         "score \xce\xbb\xce\xbb $\n"
         "      ^\n"
         "t.dil:1:9: error: stray '\xce\xbb' in program\n"
         "score \xce\xbb\xce\xbb $\n"
         "       ^\n"
         "t.dil:1:12: error: stray '$' in program\n"
         "score \xce\xbb\xce\xbb $\n"
         "         ^\n");
}
END_TEST

START_TEST(diag_bad_tokens)
{
    DIAG("score 2x + 1e + 1e+", 3,
         "t.dil:1:7: error: invalid number '2x'\n"
         "score 2x + 1e + 1e+\n"
         "      ^~\n"
         "t.dil:1:12: error: invalid number '1e'\n"
         "score 2x + 1e + 1e+\n"
         "           ^~\n"
         "t.dil:1:17: error: invalid number '1e+'\n"
         "score 2x + 1e + 1e+\n"
         "                ^~~\n");
    DIAG("score 1e99999999999999999999", 1,
         "t.dil:1:7: error: number '1e99999999999999999999' is out of range\n"
         "score 1e99999999999999999999\n"
         "      ^~~~~~~~~~~~~~~~~~~~~~\n");
}
END_TEST

START_TEST(diag_long_identifier)
{
    char src[300] = "var ", want[300];
    memset(src + 4, 'y', 256);
    Parsed r = parse_n(src, 260);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(starts_with(r.diag, "t.dil:1:5: error: identifier is too long "
                                  "(256 bytes, at most 255)\n"));
    parsed_free(&r);
    snprintf(want, sizeof want, "(var %.255s)\n", src + 4);
    check_dump_n(src, 259, want);
}
END_TEST

START_TEST(diag_shapes_and_ranges)
{
    DIAG("input x[1, 2, 3]\nscore s(i in 0:2, i)\n", 2,
         "t.dil:1:9: error: at most 2 dimensions (vector or matrix), not 3\n"
         "input x[1, 2, 3]\n"
         "        ^~~~~~~\n"
         "t.dil:2:7: error: only sum and mean take a range ('sum(i in a:b, ...)'), not 's'\n"
         "score s(i in 0:2, i)\n"
         "      ^\n");
}
END_TEST

START_TEST(diag_recovery)
{
    /* Several errors in one run, none of them a cascade. */
    DIAG("model m\nscore a + * b\nloss ) x\nvar y[2\nparam p\n", 3,
         "t.dil:2:11: error: expected expression before '*'\n"
         "score a + * b\n"
         "          ^\n"
         "t.dil:3:6: error: expected expression before ')'\n"
         "loss ) x\n"
         "     ^\n"
         "t.dil:5:1: error: expected ']' to close '[' at 4:6\n"
         "param p\n"
         "^~~~~\n");
    const char *src = "model m\nscore )\nvar y\n";
    Parsed r = parse_n(src, strlen(src));
    ck_assert_str_eq(r.dump, "(model m)\n(var y)\n");
    parsed_free(&r);
}
END_TEST

START_TEST(diag_tabs_and_crlf)
{
    DIAG("model m\n\tscore\t(a +\t b", 1,
         "t.dil:2:15: error: expected ')' to close '(' at 2:8\n"
         "\tscore\t(a +\t b\n"
         "\t     \t    \t  ^\n");
    DIAG("model m\r\nscore (a\r\n", 1,
         "t.dil:2:9: error: expected ')' to close '(' at 2:7\n"
         "score (a\n"
         "        ^\n");
}
END_TEST

START_TEST(diag_too_many_errors)
{
    char src[400] = "";
    for (int i = 0; i < 30; i++)
        strcat(src, "score )\n");
    Parsed r = parse_n(src, strlen(src));
    ck_assert_int_eq(r.errors, DIAG_MAX_ERRORS);
    const char *tail = "t.dil:20:7: error: expected expression before ')'\n"
                       "score )\n"
                       "      ^\n"
                       "t.dil: error: too many errors, stopping\n";
    size_t n = strlen(r.diag), m = strlen(tail);
    ck_assert_uint_ge(n, m);
    ck_assert_str_eq(r.diag + n - m, tail);
    parsed_free(&r);

    /* The scanner stops too. */
    memset(src, '$', 100);
    src[100] = '\0';
    r = parse_n(src, 100);
    ck_assert_int_eq(r.errors, DIAG_MAX_ERRORS);
    ck_assert_ptr_nonnull(strstr(r.diag, "t.dil: error: too many errors, stopping\n"));
    ck_assert_ptr_null(strstr(r.diag, "t.dil:1:21:"));
    parsed_free(&r);
}
END_TEST

/* A source of n copies of s between head and tail. */
static char *repeat(const char *head, const char *s, int n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), sl = strlen(s), tl = strlen(tail);
    char *p = malloc(hl + sl * (size_t)n + tl + 1);
    ck_assert(p);
    memcpy(p, head, hl);
    for (int i = 0; i < n; i++)
        memcpy(p + hl + sl * (size_t)i, s, sl);
    memcpy(p + hl + sl * (size_t)n, tail, tl + 1);
    *len = hl + sl * (size_t)n + tl;
    return p;
}

START_TEST(diag_deep_nesting)
{
    size_t n;
    /* 200,000 unary minuses: a tree too deep for later phases. */
    char *src = repeat("score ", "-", 200000, "x", &n);
    Parsed r = parse_n(src, n);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(starts_with(r.diag, "t.dil:1:1007: error: expression nested too deeply "
                                  "(more than 1000 levels)\n"));
    ck_assert_str_eq(r.dump, "(score _)\n");
    parsed_free(&r);
    free(src);

    /* A long left-leaning chain is deep as well. */
    src = repeat("score x", "+x", 5000, "", &n);
    r = parse_n(src, n);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(starts_with(r.diag, "t.dil:1:7: error: expression nested too deeply"));
    parsed_free(&r);
    free(src);

    /* 200,000 parentheses only group: fine. */
    char *inner = repeat("score ", "(", 200000, "x", &n);
    src = repeat(inner, ")", 200000, "", &n);
    check_dump_n(src, n, "(score x)\n");
    free(inner);
    free(src);

    /* Beyond the parser's stack: a located message, no crash. */
    src = repeat("score ", "(", 2000000, "", &n);
    r = parse_n(src, n);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(starts_with(r.diag, "t.dil:1:"));
    ck_assert_ptr_nonnull(strstr(r.diag, ": error: expression nested too deeply\n"));
    parsed_free(&r);
    free(src);

    /* `for` nested past the limit. */
    inner = repeat("", "for t in 0:1 {", 1001, "", &n);
    src = repeat(inner, "}", 1001, " score 1", &n);
    r = parse_n(src, n);
    ck_assert_int_eq(r.errors, 1);
    ck_assert(starts_with(r.diag, "t.dil:1:1: error: 'for' loops nested too deeply "
                                  "(more than 1000)\n"));
    parsed_free(&r);
    free(inner);
    free(src);
}
END_TEST

START_TEST(diag_format)
{
    const char *src = "ab\ncdef\n";
    SrcFile f = { "x.dil", src, strlen(src) };
    char *buf = NULL;
    size_t len;
    FILE *out = open_memstream(&buf, &len);
    diag_init(&f, out);
    int line, col;
    diag_line_col(0, &line, &col);
    ck_assert(line == 1 && col == 1);
    diag_line_col(4, &line, &col);
    ck_assert(line == 2 && col == 2);
    diag_line_col(8, &line, &col);       /* EOF: end of the last line */
    ck_assert(line == 2 && col == 5);
    Loc range = { 3, 100 };               /* clipped to its line */
    diag_note(range, "a note about %s", "cdef");
    Loc eof = { 8, 8 };
    diag_error(eof, "at the end");
    ck_assert_int_eq(diag_errors(), 1);
    ck_assert_int_eq(diag_too_many(), 0);
    fclose(out);
    ck_assert_str_eq(buf, "x.dil:2:1: note: a note about cdef\n"
                          "cdef\n"
                          "^~~~\n"
                          "x.dil:2:5: error: at the end\n"
                          "cdef\n"
                          "    ^\n");
    free(buf);

    /* diag_init starts over. */
    out = open_memstream(&buf, &len);
    diag_init(&f, out);
    ck_assert_int_eq(diag_errors(), 0);
    fclose(out);
    free(buf);
}
END_TEST

static Suite *parser_suite(void)
{
    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("spec");
    tcase_add_test(tc, spec_kepler);
    tcase_add_test(tc, spec_node_euler);
    tcase_add_test(tc, spec_mpc_linear);
    suite_add_tcase(s, tc);

    tc = tcase_create("decl");
    tcase_add_test(tc, decl_every_kind);
    tcase_add_test(tc, decl_fields);
    tcase_add_test(tc, decl_empty_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("expr");
    tcase_add_test(tc, expr_precedence);
    tcase_add_test(tc, expr_postfix);
    tcase_add_test(tc, expr_vector_and_sum);
    tcase_add_test(tc, expr_numbers);
    tcase_add_test(tc, expr_locations);
    suite_add_tcase(s, tc);

    tc = tcase_create("diag");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, diag_unterminated_paren);
    tcase_add_test(tc, diag_missing_equals);
    tcase_add_test(tc, diag_expected_expression);
    tcase_add_test(tc, diag_expected_declaration);
    tcase_add_test(tc, diag_brackets);
    tcase_add_test(tc, diag_expected_token);
    tcase_add_test(tc, diag_nul_byte);
    tcase_add_test(tc, diag_invalid_utf8);
    tcase_add_test(tc, diag_bad_tokens);
    tcase_add_test(tc, diag_long_identifier);
    tcase_add_test(tc, diag_shapes_and_ranges);
    tcase_add_test(tc, diag_recovery);
    tcase_add_test(tc, diag_tabs_and_crlf);
    tcase_add_test(tc, diag_too_many_errors);
    tcase_add_test(tc, diag_deep_nesting);
    tcase_add_test(tc, diag_format);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parser_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
