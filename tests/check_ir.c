/*
 * check_ir.c - the IR builders, the simplifier and every derivative rule.
 *
 * Simplifier tests are structural: the builder must return the expected
 * node (hash-consing makes "the same node" a pointer comparison).
 * Derivative tests build a small function for one rule, derive it with
 * diff_gradient and diff_tangent, evaluate the derivative IR numerically
 * (refeval) and compare it with the hyper-dual evaluation of the primal
 * function, which never looks at diff.c: the two agree to rounding.
 */
#include "dilc.h"
#include "refeval.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
    ir_init();
}

static void teardown(void)
{
    arena_release();
}

static Node *q(long num, long den)
{
    mpq_t v;
    mpq_init(v);
    mpq_set_si(v, num, (unsigned long)den);
    mpq_canonicalize(v);
    Node *n = ir_const(v);
    mpq_clear(v);
    return n;
}

static Node *vec_y(int n) { return ir_leaf(BLK_Y, 0, 1, n, 1); }

/* ---------------------------------------------------------------- simplifier */

START_TEST(test_hash_consing)
{
    Node *y = vec_y(3), *x = ir_leaf(BLK_X, 0, 1, 3, 1);
    ck_assert_ptr_eq(ir_add(y, x), ir_add(y, x));
    ck_assert_ptr_eq(ir_add(y, x), ir_add(x, y));        /* commutative order */
    ck_assert_ptr_eq(ir_mul(y, x), ir_mul(x, y));
    ck_assert_ptr_ne(ir_sub(y, x), ir_sub(x, y));
    ck_assert_ptr_eq(ir_unary(OP_SIN, y), ir_unary(OP_SIN, y));
}
END_TEST

START_TEST(test_exact_folding)
{
    /* 1/10 + 2/10 is exactly 3/10 (in doubles it is not) */
    Node *s = ir_add(q(1, 10), q(2, 10));
    ck_assert_int_eq(s->op, OP_CONST);
    ck_assert_ptr_eq(s, q(3, 10));
    ck_assert_ptr_eq(ir_mul(q(1, 3), q(3, 1)), ir_const_si(1));
    ck_assert_ptr_eq(ir_binary(OP_POW, q(2, 3), ir_const_si(-2)), q(9, 4));
    /* 1/0 is not folded (sema reports it) */
    ck_assert_int_eq(ir_div(ir_const_si(1), ir_const_si(0))->op, OP_DIV);
    /* -(0) is the rational 0: no -0.0 can come out of folding */
    ck_assert_ptr_eq(ir_neg(ir_const_si(0)), ir_const_si(0));
    /* 2^(1/2) is not exact: left for run time */
    ck_assert_int_eq(ir_binary(OP_POW, ir_const_si(2), q(1, 2))->op, OP_POW);
    /* sin(0) = 0, cos(0) = 1, exp(0) = 1 exactly; sin(1) is not folded */
    ck_assert_ptr_eq(ir_unary(OP_SIN, ir_const_si(0)), ir_const_si(0));
    ck_assert_ptr_eq(ir_unary(OP_COS, ir_const_si(0)), ir_const_si(1));
    ck_assert_int_eq(ir_unary(OP_SIN, ir_const_si(1))->op, OP_SIN);
}
END_TEST

START_TEST(test_identities)
{
    Node *y = vec_y(3), *z = ir_zeros(1, 3, 1), *s = ir_leaf(BLK_X, 0, 0, 1, 1);
    ck_assert_ptr_eq(ir_add(y, z), y);                            /* x + 0 */
    ck_assert_ptr_eq(ir_add(ir_const_si(0), y), y);               /* 0 + x */
    ck_assert_ptr_eq(ir_sub(y, z), y);                            /* x - 0 */
    ck_assert_ptr_eq(ir_sub(z, y), ir_neg(y));                    /* 0 - x */
    ck_assert(ir_is_zero(ir_sub(y, y)));                          /* x - x */
    ck_assert(ir_is_zero(ir_mul(y, z)));                          /* 0 x */
    ck_assert_ptr_eq(ir_mul(ir_const_si(1), y), y);               /* 1 x */
    ck_assert_ptr_eq(ir_mul(ir_const_si(-1), y), ir_neg(y));      /* -1 x */
    ck_assert_ptr_eq(ir_div(y, ir_const_si(1)), y);               /* x / 1 */
    ck_assert_ptr_eq(ir_neg(ir_neg(y)), y);                       /* -(-x) */
    ck_assert_ptr_eq(ir_binary(OP_POW, y, ir_const_si(1)), y);    /* x^1 */
    ck_assert_ptr_eq(ir_binary(OP_POW, s, ir_const_si(0)), ir_const_si(1)); /* x^0 */
    ck_assert_ptr_eq(ir_add(y, y), ir_mul(ir_const_si(2), y));    /* x + x */
    ck_assert_ptr_eq(ir_add(y, ir_neg(s)), ir_sub(y, s));         /* x + (-y) */
    ck_assert_ptr_eq(ir_sub(y, ir_neg(s)), ir_add(y, s));         /* x - (-y) */
}
END_TEST

START_TEST(test_constants_collected)
{
    Node *y = vec_y(2);
    /* 3 (2 y) = 6 y;  -(3 y) = (-3) y;  (-y)(-y) = y y */
    ck_assert_ptr_eq(ir_mul(ir_const_si(3), ir_mul(ir_const_si(2), y)), ir_mul(ir_const_si(6), y));
    ck_assert_ptr_eq(ir_neg(ir_mul(ir_const_si(3), y)), ir_mul(ir_const_si(-3), y));
    ck_assert_ptr_eq(ir_mul(ir_neg(y), ir_neg(y)), ir_mul(y, y));
    /* y / 4 = (1/4) y exactly; y / 3 stays a division (IEEE results kept) */
    ck_assert_ptr_eq(ir_div(y, ir_const_si(4)), ir_mul(q(1, 4), y));
    ck_assert_int_eq(ir_div(y, ir_const_si(3))->op, OP_DIV);
    /* sum(c y) = c sum(y) */
    ck_assert_ptr_eq(ir_sum(ir_mul(ir_const_si(5), y)), ir_mul(ir_const_si(5), ir_sum(y)));
}
END_TEST

START_TEST(test_views)
{
    Node *A = ir_leaf(BLK_THETA, 0, 2, 3, 4);
    ck_assert_ptr_eq(ir_transpose(ir_transpose(A)), A);           /* A'' = A */
    ck_assert_ptr_eq(ir_transpose(vec_y(3)), vec_y(3));           /* v' = v */
    /* row 1 of A, element 2 == A[1, 2] */
    ck_assert_ptr_eq(ir_element(ir_row(A, 1), 2, 0), ir_element(A, 1, 2));
    /* column 3 of the transpose is row 3... of A: A'[:, 1] == A[1] */
    ck_assert_ptr_eq(ir_col(ir_transpose(A), 1), ir_row(A, 1));
    /* the whole slice is the matrix itself */
    ck_assert_ptr_eq(ir_slice(A, 0, 3, 0, 4), A);
    /* element of a slice composes into one view */
    Node *e = ir_element(ir_slice(A, 1, 3, 2, 4), 1, 1);
    ck_assert_ptr_eq(e, ir_element(A, 2, 3));
    /* a view of a concatenation picking one part is that part */
    Node *a = ir_leaf(BLK_X, 0, 1, 2, 1), *b = ir_leaf(BLK_X, 2, 1, 3, 1);
    Node *parts[2] = {a, b};
    Node *cat = ir_concat(2, parts);
    ck_assert_ptr_eq(ir_slice(cat, 2, 5, 0, 1), b);
    ck_assert_ptr_eq(ir_element(cat, 0, 0), ir_element(a, 0, 0));
    /* eye: I @ x = x, and a single element is an exact constant */
    ck_assert_ptr_eq(ir_matmul(ir_eye(3), vec_y(3)), vec_y(3));
    ck_assert_ptr_eq(ir_element(ir_eye(3), 1, 1), ir_const_si(1));
    ck_assert_ptr_eq(ir_element(ir_eye(3), 0, 1), ir_const_si(0));
}
END_TEST

START_TEST(test_broadcast_and_zero)
{
    Node *y = vec_y(4), *s = ir_leaf(BLK_X, 0, 0, 1, 1);
    Node *b = ir_bcast(s, 1, 4, 1);
    ck_assert_ptr_eq(ir_mul(b, y), ir_mul(s, y));      /* bcast acts through its scalar */
    ck_assert_ptr_eq(ir_sum(b), ir_mul(ir_const_si(4), s));
    ck_assert(ir_is_zero(ir_matmul(ir_zeros(2, 3, 4), vec_y(4))));
    ck_assert(ir_is_zero(ir_outer(ir_zeros(1, 3, 1), y)));
    ck_assert(ir_is_zero(ir_sum(ir_zeros(1, 3, 1))));
}
END_TEST

/* ------------------------------------------------------------ derivative rules */

/* Point and direction used by every rule test: y in (0.2, 0.8) keeps
   log, sqrt, asin, acos in their domains. */
static double Y[4] = {0.31, 0.55, 0.72, 0.23}, V[4] = {0.7, -0.4, 0.25, 1.1};
static double X[4] = {0.45, -0.35, 0.6, 0.2};
static double TH[12] = {0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.15, -0.1, 0.35, -0.3, 0.05, 0.2};

static void blocks(const double *b[BLK__COUNT])
{
    memset(b, 0, BLK__COUNT * sizeof *b);
    b[BLK_Y] = Y;
    b[BLK_X] = X;
    b[BLK_THETA] = TH;
    b[BLK_V] = V;
}

/* Checks grad, Hessian-vector product and the mixed theta product of a
   scalar f of y (length n) and theta (length nt) against hyper-duals. */
static void check_rule(const char *what, Node *f, int n, int nt)
{
    const double *b[BLK__COUNT];
    blocks(b);
    int len[BLK__COUNT] = {n, 4, nt, 0, n, 0};
    Node *g[BLK__COUNT];
    diff_gradient(f, len, g);
    Node *roots[2] = {g[BLK_Y], nt ? g[BLK_THETA] : NULL}, *tan[2];
    diff_tangent(nt ? 2 : 1, roots, BLK_Y, BLK_V, tan);

    double sym[12], ref[12];
    ck_assert_int_eq(refeval(g[BLK_Y], b, sym), 0);
    ck_assert_int_eq(refeval_vjp(f, b, BLK_Y, n, NULL, ref), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(sym[i] - ref[i]) <= 1e-12 * (1 + fabs(ref[i])),
                      "%s: grad[%d] %.17g vs %.17g", what, i, sym[i], ref[i]);
    ck_assert_int_eq(refeval(tan[0], b, sym), 0);
    ck_assert_int_eq(refeval_second(f, b, BLK_Y, n, BLK_Y, V, NULL, ref), 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(sym[i] - ref[i]) <= 1e-11 * (1 + fabs(ref[i])),
                      "%s: hvp[%d] %.17g vs %.17g", what, i, sym[i], ref[i]);
    if (nt) {
        ck_assert_int_eq(refeval(tan[1], b, sym), 0);
        ck_assert_int_eq(refeval_second(f, b, BLK_THETA, nt, BLK_Y, V, NULL, ref), 0);
        for (int i = 0; i < nt; i++)
            ck_assert_msg(fabs(sym[i] - ref[i]) <= 1e-11 * (1 + fabs(ref[i])),
                          "%s: mixed[%d] %.17g vs %.17g", what, i, sym[i], ref[i]);
    }
}

static const Op unary_ops[] = {OP_SIN, OP_COS, OP_TAN, OP_ASIN, OP_ACOS, OP_ATAN, OP_SINH,
                               OP_COSH, OP_TANH, OP_EXP, OP_LOG, OP_LOG1P, OP_EXPM1, OP_SQRT,
                               OP_ABS, OP_SIGMOID, OP_SOFTPLUS, OP_ERF, OP_NEG};

/* Named constants are exact: never folded into a rational, only by the
   identities that hold for every value; printed as the nearest double. */
START_TEST(test_named_constants)
{
    Node *pi = ir_named(NC_PI), *c = ir_named(NC_TWO_OVER_SQRT_PI);
    ck_assert_ptr_eq(pi, ir_named(NC_PI));
    ck_assert_ptr_ne(pi, c);
    ck_assert(ir_named_value(NC_PI) == 3.141592653589793);
    ck_assert(ir_named_value(NC_TWO_OVER_SQRT_PI) == 1.1283791670955126);
    ck_assert(ir_named_value(NC_TWO_OVER_SQRT_PI) == 2 / sqrt(3.141592653589793));
    ck_assert(ir_is_zero(ir_mul(ir_const_si(0), pi)));
    ck_assert_ptr_eq(ir_mul(ir_const_si(1), pi), pi);
    ck_assert_ptr_eq(ir_sub(pi, pi), ir_const_si(0));
    ck_assert_int_eq(ir_mul(pi, pi)->op, OP_MUL);            /* pi^2 is not rational */
    ck_assert_int_eq(ir_unary(OP_SIN, pi)->op, OP_SIN);       /* nor is sin(pi) folded */
    ck_assert_ptr_eq(ir_const_value(pi), NULL);
}
END_TEST

/* The columns of IR_OPS agree with the functions: each built-in is found
   by its name and is unary elementwise, and where the table gives f(0),
   the hand-written value (refeval) at 0 is that and the builder folds to
   it. */
START_TEST(test_op_table)
{
    double zero = 0;
    const double *blk[BLK__COUNT] = {&zero};
    Node *y = ir_leaf(BLK_Y, 0, 0, 1, 1);
    for (int op = 0; op < OP__COUNT; op++) {
        if (ir_op_builtin[op]) {
            ck_assert_int_eq(ir_op_builtin_find(ir_op_name[op]), op);
            ck_assert_int_eq(ir_op_class[op], OPC_ELEMENTWISE);
            ck_assert_int_eq(ir_op_arity[op], 1);
        }
        if (ir_op_class[op] == OPC_LEAF)
            ck_assert_int_eq(ir_op_arity[op], 0);
        if (ir_op_at0[op] == AT0_NONE)
            continue;
        ck_assert_msg(refeval_value(ir_unary((Op)op, y), blk) == ir_op_at0[op], "%s(0)",
                      ir_op_name[op]);
        ck_assert(ir_is_const(ir_unary((Op)op, ir_const_si(0)), ir_op_at0[op]));
    }
    ck_assert_int_eq(ir_op_builtin_find("erf"), OP_ERF);
    ck_assert_int_eq(ir_op_builtin_find("neg"), -1);
    ck_assert_int_eq(ir_op_builtin_find("sum"), -1);           /* not elementwise: sema's */
}
END_TEST

START_TEST(test_rule_unary)
{
    /* f = sum(theta[0:4] * op(y)^2 + op(y)) exercises f' (gradient) and f''
       (HVP, through the tangent of f') of one elementwise rule. */
    Op op = unary_ops[_i];
    Node *y = vec_y(4), *t = ir_leaf(BLK_THETA, 0, 1, 4, 1);
    Node *u = ir_unary(op, y);
    Node *f = ir_sum(ir_add(ir_mul(t, ir_mul(u, u)), u));
    check_rule(ir_op_name[op], f, 4, 4);
}
END_TEST

START_TEST(test_rule_binary)
{
    Node *y = vec_y(4), *t = ir_leaf(BLK_THETA, 0, 1, 4, 1), *s = ir_leaf(BLK_THETA, 4, 0, 1, 1);
    check_rule("add", ir_sum(ir_mul(ir_add(y, t), ir_add(y, s))), 4, 5);
    check_rule("sub", ir_sum(ir_mul(ir_sub(y, t), ir_sub(s, y))), 4, 5);
    check_rule("mul", ir_sum(ir_mul(ir_mul(y, t), ir_mul(y, y))), 4, 4);
    check_rule("div", ir_sum(ir_div(ir_add(t, y), ir_add(ir_const_si(2), ir_mul(y, s)))), 4, 5);
    check_rule("pow const", ir_sum(ir_binary(OP_POW, ir_add(y, t), q(5, 2))), 4, 4);
    check_rule("pow int", ir_sum(ir_binary(OP_POW, y, ir_const_si(3))), 4, 0);
    check_rule("pow var", ir_sum(ir_binary(OP_POW, ir_add(y, ir_const_si(1)), ir_add(t, y))), 4, 4);
    check_rule("scalar broadcast", ir_sum(ir_mul(ir_mul(s, y), ir_element(y, 1, 0))), 4, 5);
}
END_TEST

START_TEST(test_rule_linear_algebra)
{
    Node *y = vec_y(3);
    Node *A = ir_leaf(BLK_THETA, 0, 2, 3, 3), *B = ir_leaf(BLK_THETA, 0, 2, 2, 3);
    Node *Y2 = ir_leaf(BLK_Y, 0, 2, 3, 1);   /* y as a 3 x 1 matrix */
    /* mat @ vec, vec @ mat, vec @ vec, mat @ mat, outer, transpose */
    check_rule("matvec", ir_sum(ir_unary(OP_TANH, ir_matmul(A, y))), 3, 9);
    check_rule("vecmat", ir_sum(ir_unary(OP_SIN, ir_matmul(y, A))), 3, 9);
    check_rule("dot", ir_mul(ir_matmul(y, ir_matmul(A, y)), ir_matmul(y, y)), 3, 9);
    check_rule("matmat", ir_sum(ir_unary(OP_EXP, ir_matmul(B, ir_matmul(A, Y2)))), 3, 9);
    check_rule("outer", ir_sum(ir_mul(ir_outer(y, y), A)), 3, 9);
    check_rule("transpose", ir_sum(ir_mul(ir_matmul(ir_transpose(A), y), y)), 3, 9);
}
END_TEST

START_TEST(test_rule_reductions_views)
{
    Node *y = vec_y(4), *t = ir_leaf(BLK_THETA, 0, 1, 4, 1);
    check_rule("sum", ir_mul(ir_sum(ir_mul(y, t)), ir_sum(y)), 4, 4);
    check_rule("logsumexp", ir_unary(OP_LOG, ir_add(ir_const_si(3), ir_lse(ir_mul(y, t)))), 4, 4);
    check_rule("element", ir_mul(ir_element(y, 0, 0), ir_unary(OP_SIN, ir_element(y, 3, 0))), 4, 0);
    check_rule("slice", ir_sum(ir_unary(OP_EXP, ir_mul(ir_slice(y, 1, 3, 0, 1), ir_slice(t, 0, 2, 0, 1)))), 4, 4);
    Node *parts[3] = {ir_element(y, 2, 0), ir_slice(y, 0, 2, 0, 1), ir_element(t, 1, 0)};
    Node *cat = ir_concat(3, parts);
    check_rule("concat", ir_sum(ir_unary(OP_SIN, ir_mul(cat, cat))), 4, 4);
    Node *M = ir_leaf(BLK_THETA, 0, 2, 3, 4);
    Node *row = ir_row(M, 1), *col = ir_col(M, 2);
    check_rule("row/col", ir_mul(ir_matmul(row, y), ir_sum(ir_mul(col, ir_slice(y, 0, 3, 0, 1)))), 4, 12);
    check_rule("bcast", ir_sum(ir_mul(ir_bcast(ir_sum(ir_mul(y, y)), 1, 4, 1), t)), 4, 4);
}
END_TEST

static Suite *ir_suite(void)
{
    Suite *s = suite_create("ir");
    TCase *tc = tcase_create("simplifier");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hash_consing);
    tcase_add_test(tc, test_exact_folding);
    tcase_add_test(tc, test_identities);
    tcase_add_test(tc, test_constants_collected);
    tcase_add_test(tc, test_views);
    tcase_add_test(tc, test_broadcast_and_zero);
    tcase_add_test(tc, test_named_constants);
    tcase_add_test(tc, test_op_table);
    suite_add_tcase(s, tc);
    tc = tcase_create("derivative rules");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_rule_unary, 0, (int)(sizeof unary_ops / sizeof *unary_ops));
    tcase_add_test(tc, test_rule_binary);
    tcase_add_test(tc, test_rule_linear_algebra);
    tcase_add_test(tc, test_rule_reductions_views);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ir_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
