/*
 * check_emit.c - properties of the emitted C, through the whole compiler
 * run in memory (dilc_run, as main.c and the fuzzer call it).
 *
 *   - deterministic: the same model gives the same bytes;
 *   - sizes do not change the text: a model at H=50 and H=5000 emits files
 *     of almost the same length (loops, not one line per scalar);
 *   - no allocation, no I/O in the emitted code;
 *   - every kernel of the SPEC is in the descriptor, with NULL for the
 *     loss and residual kernels a model does not have;
 *   - --prefix renames every exported symbol;
 *   - constants are printed as the double nearest to the exact rational.
 */
#include "dilc.h"
#include "driver.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct Out {
    char *c, *h, *diag;
    size_t clen, hlen, dlen;
    int status;
} Out;

static Out compile(const char *text, const char *prefix)
{
    Out o;
    memset(&o, 0, sizeof o);
    SrcFile src = {"test.dil", text, strlen(text)};
    FILE *c = open_memstream(&o.c, &o.clen), *h = open_memstream(&o.h, &o.hlen);
    FILE *d = open_memstream(&o.diag, &o.dlen);
    DriverOptions opt;
    memset(&opt, 0, sizeof opt);
    opt.prefix = prefix;
    opt.header_name = "test.h";
    opt.c_out = c;
    opt.h_out = h;
    o.status = dilc_run(&src, &opt, d);
    fclose(c);
    fclose(h);
    fclose(d);
    return o;
}

static void out_free(Out *o)
{
    free(o->c);
    free(o->h);
    free(o->diag);
}

static const char *mlp =
    "model mlp\n"
    "dim D = 2, H = %d\n"
    "const dt = 0.1\n"
    "input x0[D]\n"
    "param W1[H, D], b1[H], W2[D, H], b2[D]\n"
    "var x1[D]\n"
    "data target[D]\n"
    "fn h(z[D]) = W2 @ tanh(W1 @ z + b1) + b2\n"
    "residual x1 - x0 - dt*h(x1)\n"
    "loss sum((x1 - target)^2)\n";

static char *mlp_text(int h)
{
    char *s = malloc(strlen(mlp) + 16);
    sprintf(s, mlp, h);
    return s;
}

START_TEST(test_deterministic)
{
    char *t = mlp_text(50);
    Out a = compile(t, NULL), b = compile(t, NULL);
    ck_assert_int_eq(a.status, 0);
    ck_assert_uint_eq(a.clen, b.clen);
    ck_assert(memcmp(a.c, b.c, a.clen) == 0);
    ck_assert(a.hlen == b.hlen && memcmp(a.h, b.h, a.hlen) == 0);
    out_free(&a);
    out_free(&b);
    free(t);
}
END_TEST

START_TEST(test_size_independent_of_dims)
{
    char *t50 = mlp_text(50), *t5000 = mlp_text(5000);
    Out a = compile(t50, NULL), b = compile(t5000, NULL);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(b.status, 0);
    double growth = (double)b.clen / (double)a.clen - 1.0;
    ck_assert_msg(growth < 0.05, "emitted file grew by %.1f%% from H=50 to H=5000", 100 * growth);
    out_free(&a);
    out_free(&b);
    free(t50);
    free(t5000);
}
END_TEST

START_TEST(test_no_allocation)
{
    char *t = mlp_text(50);
    Out a = compile(t, NULL);
    ck_assert_int_eq(a.status, 0);
    static const char *banned[] = {"malloc", "calloc", "realloc", "free(", "printf", "static double"};
    for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
        ck_assert_msg(!strstr(a.c, banned[i]), "emitted code contains '%s'", banned[i]);
    /* reentrant: the only static objects are const tables */
    ck_assert(strstr(a.c, "static const dil_symbol"));
    out_free(&a);
    free(t);
}
END_TEST

START_TEST(test_descriptor)
{
    Out a = compile("model k\ninput M\nparam e = 0.5\nvar E\nscore (E - e*sin(E) - M)^2\n", NULL);
    ck_assert_int_eq(a.status, 0);
    /* no loss and no residual: those slots are NULL, in SPEC order */
    const char *d = strstr(a.c, "const dil_model k_model = {");
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(strstr(d, "k_score_vjp_thetay,\n    NULL,\n    NULL,\n    NULL,\n"
                                    "    NULL,\n    NULL,\n    NULL,\n    NULL,\n"));
    ck_assert_ptr_nonnull(strstr(a.h, "extern const dil_model k_model;"));
    ck_assert_ptr_nonnull(strstr(a.h, "extern \"C\""));
    /* the default 0.5 of e is in theta_init */
    ck_assert_ptr_nonnull(strstr(a.c, "k_theta_init[1] = {\n    0.5,"));
    out_free(&a);
}
END_TEST

START_TEST(test_prefix)
{
    Out a = compile("model k\nvar E\nscore E^2\n", "other");
    ck_assert_int_eq(a.status, 0);
    ck_assert_ptr_nonnull(strstr(a.c, "const dil_model other_model"));
    ck_assert_ptr_nonnull(strstr(a.c, "double other_score("));
    ck_assert_ptr_null(strstr(a.c, "k_score"));
    out_free(&a);
}
END_TEST

START_TEST(test_constants)
{
    /* 1/3 and 0.1 as the nearest doubles, shortest digits that read back; 1e-320 is subnormal; the sum
       0.1 + 0.2 folds exactly to 3/10, printed as 0.3 (not 0.30000000000000004) */
    Out a = compile("model c\nvar y\nscore (1/3)*y^2 + 0.1*y + 1e-320*y + (0.1 + 0.2)*y\n", NULL);
    ck_assert_int_eq(a.status, 0);
    ck_assert_ptr_nonnull(strstr(a.c, "0.3333333333333333 "));  /* shortest round trip */
    ck_assert_ptr_nonnull(strstr(a.c, "0.1 "));
    ck_assert_ptr_nonnull(strstr(a.c, "1e-320"));
    ck_assert_ptr_nonnull(strstr(a.c, "0.3 "));
    ck_assert_ptr_null(strstr(a.c, "0.30000000000000004"));
    out_free(&a);
}
END_TEST

/* erf is a built-in from its row of IR_OPS alone; its derivative's
   2/sqrt(pi) is a named constant, printed as the nearest double. */
START_TEST(test_erf_named_constant)
{
    Out a = compile("model e\nvar y[2]\nscore sum(erf(y)^2)\n", NULL);
    ck_assert_int_eq(a.status, 0);
    ck_assert_ptr_nonnull(strstr(a.c, "erf("));
    ck_assert_ptr_nonnull(strstr(a.c, "1.1283791670955126"));
    out_free(&a);
}
END_TEST

START_TEST(test_errors_stop_output)
{
    Out a = compile("model e\nvar y\nscore y + undefined_name\n", NULL);
    ck_assert_int_eq(a.status, 1);
    ck_assert_uint_eq(a.clen, 0);
    ck_assert_ptr_nonnull(strstr(a.diag, "test.dil:3:11: error:"));
    out_free(&a);
}
END_TEST

static Suite *emit_suite(void)
{
    Suite *s = suite_create("emit");
    TCase *tc = tcase_create("emitted C");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_size_independent_of_dims);
    tcase_add_test(tc, test_no_allocation);
    tcase_add_test(tc, test_descriptor);
    tcase_add_test(tc, test_prefix);
    tcase_add_test(tc, test_constants);
    tcase_add_test(tc, test_erf_named_constant);
    tcase_add_test(tc, test_errors_stop_output);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(emit_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
