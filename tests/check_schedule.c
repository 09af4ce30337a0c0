/*
 * check_schedule.c - the scheduler's decisions, read from the Schedule
 * itself rather than from emitted text: which nodes are fused or stored
 * and where, work size and slot reuse, liveness, cost counts, and the
 * verifier accepting every kernel of a model.  Each model here is small
 * enough that the expected schedule is worked out by hand in its test.
 */
#include "dilc.h"
#include "kern.h"
#include "schedule.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Schedule *sched;

/* Parses, elaborates, derives and schedules a model given as text. */
static Schedule *build(const char *text)
{
    static SrcFile src;
    src = (SrcFile){"test.dil", text, strlen(text)};
    ir_init();
    diag_init(&src, stderr);
    Decl *d = parse_file(&src);
    ck_assert_int_eq(diag_errors(), 0);
    Model *m = sema_model(d);
    ck_assert_ptr_nonnull(m);
    Kernels *ks = kern_derive(m);
    ck_assert_ptr_nonnull(ks);
    Schedule *s = schedule_build(ks);
    schedule_verify(s);
    return s;
}

static void teardown(void)
{
    arena_release();
}

/* The compute steps of a kernel whose node has op `op`, in order. */
static int steps_of(const KernelSchedule *ks, Op op, const Value **out, int max)
{
    int n = 0;
    for (int i = 0; i < ks->ncompute && n < max; i++)
        if (ks->steps[i].node->op == op)
            out[n++] = sched_value(ks, ks->steps[i].node);
    return n;
}

/* score = sum(tanh(W y)), W 3x4: the product is stored in work (3
   doubles), tanh is fused into the sum's loop, the sum is a local that
   the return reads. */
START_TEST(test_score_fusion_and_cost)
{
    sched = build("model m\nparam W[3, 4]\nvar y[4]\nscore sum(tanh(W @ y))\n");
    const KernelSchedule *ks = &sched->k[K_score];
    ck_assert_int_eq(ks->ncompute, 2);
    ck_assert_int_eq(ks->steps[0].node->op, OP_MATMUL);
    ck_assert_int_eq(ks->steps[1].node->op, OP_SUM);
    ck_assert_int_eq(ks->steps[2].kind, STEP_RETURN);
    ck_assert_int_eq(ks->nsteps, 3);
    const Value *u = sched_value(ks, ks->steps[0].node);
    ck_assert_int_eq(u->home, HOME_WORK);
    ck_assert_int_eq(u->off, 0);
    ck_assert_int_eq(sched_value(ks, ks->steps[1].node)->home, HOME_LOCAL);
    Node *t = ks->steps[1].node->args[0];
    ck_assert_int_eq(t->op, OP_TANH);
    ck_assert_int_eq(sched_value(ks, t)->home, HOME_FUSED);
    ck_assert_int_eq(ks->work, 3);
    /* matmul: 3*4 multiply-adds (2 ops each), 12 loads of W and of y;
       sum: 3 adds, 3 tanh, 3 loads of u; return: 1 load of the sum */
    ck_assert(ks->cost.arith == 27 && ks->cost.calls == 3 && ks->cost.loads == 28);
    ck_assert(ks->reads[BLK_Y] && ks->reads[BLK_THETA] && !ks->reads[BLK_X]);
}
END_TEST

/* Three products in a chain.  Each tanh(u) is read 5 times by the next
   product, so it is stored too: u1 = B y at 0, tanh(u1) at 5; u1 is dead
   once tanh(u1) is computed, so u2 takes offset 0, tanh(u2) then takes
   tanh(u1)'s slot, and u3 offset 0 again.  Five vectors of 5 (25 doubles
   without reuse) fit in 10. */
START_TEST(test_slot_reuse)
{
    sched = build("model m\nparam B[5, 4], C[5, 5], D[5, 5]\nvar y[4]\n"
                  "score sum(tanh(D @ tanh(C @ tanh(B @ y))))\n");
    const KernelSchedule *ks = &sched->k[K_score];
    const Value *mm[3];
    ck_assert_int_eq(steps_of(ks, OP_MATMUL, mm, 3), 3);
    const Value *th[2];
    ck_assert_int_eq(steps_of(ks, OP_TANH, th, 2), 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mm[i]->home, HOME_WORK);
        ck_assert_int_eq(mm[i]->off, 0);      /* reused twice */
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(th[i]->home, HOME_WORK);
        ck_assert_int_eq(th[i]->off, 5);
        ck_assert_int_eq(mm[i]->last, th[i]->step);   /* last read by its tanh */
    }
    ck_assert_int_eq(ks->work, 10);
    /* the descriptor's work_size is the largest kernel's */
    long most = 0;
    for (int i = 0; i < K__COUNT; i++)
        if (sched->k[i].k && sched->k[i].work > most)
            most = sched->k[i].work;
    ck_assert_int_eq(sched->work, most);
    ck_assert_int_ge(sched->work, 10);
}
END_TEST

/* A gradient is an assembly of one adjoint per symbol: the pieces are
   computed straight into the output array, which is their home, and
   outputs and results are live to the end. */
START_TEST(test_outputs_in_place)
{
    sched = build("model m\nparam W[3, 2]\nvar a[2], b[2]\n"
                  "score sum(tanh(W @ a)) + sum(sin(W @ b))\n");
    const KernelSchedule *ks = &sched->k[K_score_grad_y];
    Node *g = ks->k->outs[0].node;
    ck_assert_int_eq(g->op, OP_ASSEMBLE);
    const Value *gv = sched_value(ks, g);
    ck_assert_int_eq(gv->home, HOME_OUT);
    ck_assert_int_eq(gv->out, 0);
    ck_assert_int_gt(gv->last, ks->ncompute);
    ck_assert_int_eq(g->nargs, 2);
    long offs = 0;
    for (int p = 0; p < 2; p++) {
        const Value *pv = sched_value(ks, g->args[p]);
        ck_assert_int_eq(pv->home, HOME_OUT);
        ck_assert(sched_piece_in_place(gv, pv));
        ck_assert_int_eq(pv->ld, 1);
        offs += 1L << pv->off;
    }
    ck_assert_int_eq(offs, 1 + 4);            /* one at 0 (a), one at 2 (b) */
}
END_TEST

/* An output that is a leaf (the residual r = y) is written by a copy
   step; a part the model does not have (the loss) has no kernel. */
START_TEST(test_copy_steps)
{
    sched = build("model m\nvar y[3]\nresidual y\n");
    const KernelSchedule *ks = &sched->k[K_residual];
    ck_assert_int_eq(ks->ncompute, 0);
    ck_assert_int_eq(ks->nsteps, 1);
    ck_assert_int_eq(ks->steps[0].kind, STEP_COPY);
    ck_assert_int_eq(ks->steps[0].node->op, OP_LEAF);
    ck_assert_int_eq(ks->work, 0);
    ck_assert_ptr_null(sched->k[K_loss].k);
    ck_assert_ptr_nonnull(sched->k[K_residual_vjp_theta].k);
}
END_TEST

/* Every kernel of a model with all three parts passes the verifier, and
   every stored value is computed before its last reader. */
/* Linearise once on score = sum(tanh(W y)), W 3x4.  The Hessian-vector
   product is W' (-2 t (1 - t^2) (W v)) with t = tanh(W y): its apply form
   reads t from state (a libm result) and computes only the products with
   v; the mixed theta product also reads 1 - t^2 (read twice there, so
   stored).  linearise computes W y into work and both into state, in id
   order, and every apply kernel sees them at linearise's offsets. */
START_TEST(test_linearise_split)
{
    sched = build("model m\nparam W[3, 4]\nvar y[4]\nscore sum(tanh(W @ y))\n");
    const KernelSchedule *lin = &sched->lin, *hv = &sched->apply[K_score_hvp_yy];
    const KernelSchedule *th = &sched->apply[K_score_vjp_thetay];
    ck_assert_ptr_nonnull(lin->k);
    ck_assert_int_eq(lin->form, FORM_LINEARISE);
    ck_assert_int_eq(sched->state, 6);
    ck_assert_int_eq(lin->ncompute, 3);
    ck_assert_int_eq(lin->steps[0].node->op, OP_MATMUL);
    ck_assert_int_eq(sched_value(lin, lin->steps[0].node)->home, HOME_WORK);
    Node *t = lin->steps[1].node;
    ck_assert_int_eq(t->op, OP_TANH);
    const Value *tv = sched_value(lin, t);
    ck_assert(tv->home == HOME_STATE && tv->off == 0);
    ck_assert_int_eq(sched_value(lin, lin->steps[2].node)->off, 3);
    ck_assert(lin->cost.calls == 3);

    ck_assert_int_eq(hv->form, FORM_APPLY);
    const Value *ht = sched_value(hv, t);
    ck_assert(ht->home == HOME_STATE && ht->off == 0 && ht->indep && ht->step == -1);
    ck_assert(hv->cost.calls == 0);
    for (int i = 0; i < hv->ncompute; i++)
        ck_assert(!sched_value(hv, hv->steps[i].node)->indep);
    /* W v is a dot product per row of W; W' z streams W row by row */
    const Value *prods[2];
    ck_assert_int_eq(steps_of(hv, OP_MATMUL, prods, 2), 2);
    ck_assert(!prods[0]->rowwise && prods[1]->rowwise);
    /* W y is linearise's business: not computed, not read */
    ck_assert_int_eq(sched_value(hv, t->args[0])->home, HOME_NONE);
    ck_assert(sched_value(th, lin->steps[2].node)->home == HOME_STATE);
    ck_assert_int_eq(sched_value(th, lin->steps[2].node)->off, 3);
    /* score_vjp_xy has no x to differentiate: its apply form reads no
       state, so it is not emitted */
    ck_assert_ptr_null(sched->apply[K_score_vjp_xy].k);
    ck_assert_ptr_null(sched->apply[K_score].k);
}
END_TEST

/* A quadratic score: the Hessian and the x mixed product do not depend
   on y, so they have no apply form; the theta mixed product reads the
   scaled residual 2 (A y - x) from state. */
START_TEST(test_linearise_quadratic)
{
    sched = build("model m\nparam A[3, 2]\ninput x[3]\nvar y[2]\nscore sum((A @ y - x)^2)\n");
    for (int i = 0; i < K__COUNT; i++)
        if (i != K_score_vjp_thetay)
            ck_assert_ptr_null(sched->apply[i].k);
    ck_assert_ptr_nonnull(sched->apply[K_score_vjp_thetay].k);
    ck_assert_int_eq(sched->state, 3);
    ck_assert_int_eq(sched->lin.ncompute, 2);
    ck_assert_int_eq(sched->lin.steps[1].node->op, OP_MUL);
}
END_TEST

START_TEST(test_all_kernels_verified)
{
    sched = build("model m\ndim H = 6\ninput x[2]\nparam W[H, 2], V[2, H]\nvar y[2]\n"
                  "data t[2]\nresidual y - x - V @ tanh(W @ y)\nloss sum((y - t)^2)\n");
    int n = 0;
    for (int i = 0; i < K__COUNT; i++) {
        const KernelSchedule *ks = &sched->k[i];
        ck_assert_ptr_nonnull(ks->k);
        n++;
        for (int j = 0; j < ks->n; j++) {
            const Value *v = &ks->val[j];
            if (v->step >= 0)
                ck_assert_int_ge(v->last >= v->step ? v->last : v->step, v->step);
        }
    }
    ck_assert_int_eq(n, K__COUNT);
    /* the dump names every kernel */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    schedule_dump(f, sched);
    fclose(f);
    for (int i = 0; i < K__COUNT; i++)
        ck_assert_ptr_nonnull(strstr(buf, kernel_info[i].name));
    free(buf);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_score_fusion_and_cost);
    tcase_add_test(tc, test_slot_reuse);
    tcase_add_test(tc, test_outputs_in_place);
    tcase_add_test(tc, test_copy_steps);
    tcase_add_test(tc, test_all_kernels_verified);
    tcase_add_test(tc, test_linearise_split);
    tcase_add_test(tc, test_linearise_quadratic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
