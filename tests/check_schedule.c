/*
 * check_schedule.c - the scheduler's decisions, read from the Schedule
 * itself rather than from emitted text: which nodes are fused or stored
 * and where, work size and slot reuse, liveness, cost counts, and the
 * verifier accepting every kernel of a model, and rolled loops (their
 * steps, body schedules, homes, hoisting, work linear in the horizon).
 * Each model here is small
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
        ck_assert(sched_piece_in_place(gv, pv, p));
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

/* The fused kernels of a residual y - x - V tanh(W y): residual_linearise
   computes tanh(W y) once, into state at linearise's offset, and the
   residual from it (6 tanh calls, not 12); score_linearise likewise gives
   f and gy with its part of the state.  They read no direction.  A model
   whose apply kernels keep no state has no fused kernel. */
START_TEST(test_fused)
{
    sched = build("model m\ndim H = 6\ninput x[2]\nparam W[H, 2], V[2, H]\nvar y[2]\n"
                  "residual y - x - V @ tanh(W @ y)\n");
    const KernelSchedule *fr = &sched->fused[FUSED_RESIDUAL], *fs = &sched->fused[FUSED_SCORE];
    ck_assert_ptr_nonnull(fr->k);
    ck_assert_ptr_nonnull(fs->k);
    ck_assert_int_eq(fr->form, FORM_FUSED);
    ck_assert_str_eq(sched_name(fr), "residual_linearise");
    ck_assert_str_eq(sched_name(fs), "score_linearise");
    ck_assert(fr->cost.calls == 6 && fs->cost.calls == 6);
    ck_assert(!fr->reads[BLK_V] && !fr->reads[BLK_W] && !fs->reads[BLK_V]);
    const Value *t[1];
    ck_assert_int_eq(steps_of(fr, OP_TANH, t, 1), 1);
    ck_assert_int_eq(t[0]->home, HOME_STATE);
    ck_assert_int_eq(t[0]->off, sched_value(&sched->lin, t[0]->node)->off);
    ck_assert_int_eq(sched_value(fr, fr->k->outs[0].node)->home, HOME_OUT);
    ck_assert_ptr_nonnull(fs->k->ret);
    ck_assert_int_eq(sched_value(fs, fs->k->outs[0].node)->home, HOME_OUT);
    /* every state value of the fused kernel is in state, at linearise's
       offset, and the residual's part is what the residual apply kernels
       read */
    for (int i = 0; i < fr->n; i++)
        if (fr->val[i].home == HOME_STATE)
            ck_assert_int_eq(fr->val[i].off, sched_value(&sched->lin, fr->order[i])->off);
    const KernelSchedule *jv = &sched->apply[K_residual_jvp_y];
    for (int i = 0; i < jv->n; i++)
        if (jv->val[i].home == HOME_STATE)
            ck_assert_int_eq(sched_value(fr, jv->order[i])->home, HOME_STATE);
    ck_assert(fr->work <= sched->work && fs->work <= sched->work);
    sched = build("model m\nparam A[3, 2]\ninput x[3]\nvar y[2]\nscore sum((A @ y - x)^2)\n");
    ck_assert_ptr_nonnull(sched->fused[FUSED_SCORE].k);
    ck_assert_ptr_null(sched->fused[FUSED_RESIDUAL].k);
    sched = build("model m\nvar y[2]\nscore sum(y^2)\n");
    ck_assert_ptr_null(sched->lin.k);
    ck_assert_ptr_null(sched->fused[FUSED_SCORE].k);
    /* r = exp(y) is itself the state J v = exp(y) v reads: computed into
       state once and copied to r, not evaluated twice */
    sched = build("model m\nvar y[2]\nresidual exp(y)\n");
    fr = &sched->fused[FUSED_RESIDUAL];
    ck_assert_ptr_nonnull(fr->k);
    const Value *rv = sched_value(fr, fr->k->outs[0].node);
    ck_assert_int_eq(rv->home, HOME_STATE);
    ck_assert(!sched_copy_recomputes(rv));
    ck_assert_int_eq(fr->steps[fr->nsteps - 1].kind, STEP_COPY);
    ck_assert(fr->cost.calls == 2);
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


/* One adjoint read at several places is several pieces of the gradient
   (the same node): computed in place at the one place where no other
   piece writes (gy[0]), and written by the assembly at the others, which
   other pieces also add to. */
START_TEST(test_repeated_piece)
{
    sched = build("model m\nvar y[3]\nscore (y[0] + y[1] + y[2])^2/2 + sum(sin(y[1:3]))\n");
    const KernelSchedule *ks = &sched->k[K_score_grad_y];
    Node *g = ks->k->outs[0].node;
    ck_assert_int_eq(g->op, OP_ASSEMBLE);
    int in_place = 0, repeated = 0;
    for (int p = 0; p < g->nargs; p++) {
        int same = 0;
        for (int q = 0; q < g->nargs; q++)
            same += g->args[q] == g->args[p];
        if (same < 3)
            continue;
        repeated++;
        if (sched_piece_in_place(sched_value(ks, g), sched_value(ks, g->args[p]), p)) {
            in_place++;
            ck_assert_int_eq(g->place[p].r0, 0);
        }
    }
    ck_assert_int_eq(repeated, 3);
    ck_assert_int_eq(in_place, 1);
}
END_TEST

/* The kernel's STEP_LOOPs and their LoopScheds. */
static int loops_of(const KernelSchedule *ks, const LoopSched **out, int max)
{
    int n = 0;
    for (int i = 0; i < ks->ncompute && n < max; i++)
        if (ks->steps[i].kind == STEP_LOOP) {
            ck_assert_int_eq(ks->steps[i].node->op, OP_LOOP);
            out[n] = &ks->loops[ks->steps[i].out];
            ck_assert_ptr_eq(out[n], sched_loop(ks, ks->steps[i].node));
            ck_assert_int_eq(out[n]->at, i);
            n++;
        }
    return n;
}

static const char *linear_fmt =
    "model m\ndim T = %d\ninput x0[2]\nparam A[2, 2], k = 1\nvar u[T]\n"
    "let x[0] = x0\nfor t in 0:T { let x[t+1] = A @ x[t] * exp(k) + u[t] }\n"
    "score sum(t in 1:T+1, sum(x[t]^2)) + sum(u^2)\n";

static Schedule *build_linear(int T)
{
    static char text[512];
    snprintf(text, sizeof text, linear_fmt, T);
    return build(text);
}

/* A rolled `for`: one STEP_LOOP whose body computes A x[t] into scratch
   and stores x[t+1] in its row of the stack; exp(k), read every
   iteration, is computed once before the loop (a local of the kernel,
   not a body step); the LOOP value holds the stack [T+1, 2]. */
START_TEST(test_loop_steps_and_homes)
{
    sched = build_linear(10);
    const KernelSchedule *ks = &sched->k[K_score];
    const LoopSched *ls[4];
    ck_assert_int_eq(loops_of(ks, ls, 4), 2);     /* the for, the sum */
    const Loop *lp = ls[0]->lp;
    ck_assert_int_eq(lp->nst, 1);
    ck_assert_int_eq(lp->st[0].kmax - lp->st[0].kmin, 11);
    const Value *lv = sched_value(ks, ls[0]->node);
    ck_assert_int_eq(lv->home, HOME_WORK);
    ck_assert_int_eq(ir_size(ls[0]->node), 22);
    /* body: the product A x[t], stored in scratch */
    int prod = 0;
    for (int j = 0; j < ls[0]->nsteps; j++) {
        const Node *n = ls[0]->steps[j].node;
        const Value *v = sched_value(ks, n);
        ck_assert_ptr_eq(n->in, lp);
        ck_assert_int_eq(v->step, j);
        if (n->op == OP_MATMUL) {
            prod++;
            ck_assert_int_eq(v->home, HOME_WORK);
            ck_assert(v->off >= ls[0]->scratch_off &&
                      v->off + 2 <= ls[0]->scratch_off + ls[0]->scratch);
        }
        ck_assert_int_ne(n->op, OP_EXP);
    }
    ck_assert_int_eq(prod, 1);
    ck_assert_int_ge(ls[0]->scratch, 2);
    /* exp(k): stored once, before the loop, last read by the loop */
    int hoisted = 0;
    for (int i = 0; i < ks->n; i++)
        if (ks->order[i]->op == OP_EXP) {
            const Value *v = &ks->val[i];
            ck_assert_ptr_null(ks->order[i]->in);
            ck_assert_int_eq(v->home, HOME_LOCAL);
            ck_assert_int_lt(v->step, ls[0]->at);
            ck_assert_int_eq(v->last, ls[0]->at);
            hoisted++;
        }
    ck_assert_int_eq(hoisted, 1);
    /* the state's body (an elementwise sum read by the next iteration
       only) is fused into the store of its row */
    ck_assert_int_eq(sched_value(ks, lp->st[0].body)->home, HOME_FUSED);
    /* the gradient's adjoint loop runs descending */
    const KernelSchedule *gs = &sched->k[K_score_grad_y];
    int n = loops_of(gs, ls, 4), desc = 0;
    for (int i = 0; i < n; i++)
        desc += ls[i]->lp->dir < 0;
    ck_assert_int_ge(desc, 1);
}
END_TEST

/* A stored root of a body (a product) is computed straight into its row
   of the loop's stack. */
START_TEST(test_loop_root_in_row)
{
    sched = build("model m\ndim T = 5\ninput x0[3]\nparam A[3, 3]\nvar y\n"
                  "let x[0] = x0\nfor t in 0:T { let x[t+1] = A @ x[t] }\n"
                  "score sum(x[T]^2) * y^2\n");
    const KernelSchedule *ks = &sched->k[K_score];
    const LoopSched *ls[2];
    ck_assert_int_eq(loops_of(ks, ls, 2), 1);
    const Node *body = ls[0]->lp->st[0].body;
    ck_assert_int_eq(body->op, OP_MATMUL);
    const Value *v = sched_value(ks, body);
    ck_assert_int_eq(v->home, HOME_STACK);
    ck_assert_int_eq(v->state, 0);
    ck_assert_int_eq(v->tstride, 3);
    ck_assert_int_eq(v->off, 3);              /* row t + 1 of rows 0.. */
    ck_assert_int_eq(ls[0]->scratch, 0);
}
END_TEST

/* Work and cost grow linearly in the horizon: equal increments from
   T = 10 to 20 to 30, in every kernel; the schedule (its steps) does
   not grow at all. */
START_TEST(test_loop_linear_in_horizon)
{
    long work[3][K__COUNT];
    double arith[3][K__COUNT];
    int nsteps[3][K__COUNT];
    for (int r = 0; r < 3; r++) {
        sched = build_linear(10 * (r + 1));
        for (int i = 0; i < K__COUNT; i++) {
            const KernelSchedule *ks = &sched->k[i];
            if (!ks->k)
                continue;
            work[r][i] = ks->work;
            arith[r][i] = ks->cost.arith;
            nsteps[r][i] = ks->nsteps;
        }
    }
    for (int i = 0; i < K__COUNT; i++) {
        if (!sched->k[i].k)
            continue;
        ck_assert_int_eq(work[2][i] - work[1][i], work[1][i] - work[0][i]);
        ck_assert(arith[2][i] - arith[1][i] == arith[1][i] - arith[0][i]);
        ck_assert_int_eq(nsteps[0][i], nsteps[2][i]);
    }
    ck_assert_int_gt(work[1][K_score_hvp_yy], work[0][K_score_hvp_yy]);
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
    tcase_add_test(tc, test_repeated_piece);
    tcase_add_test(tc, test_loop_steps_and_homes);
    tcase_add_test(tc, test_loop_root_in_row);
    tcase_add_test(tc, test_loop_linear_in_horizon);
    tcase_add_test(tc, test_linearise_split);
    tcase_add_test(tc, test_linearise_quadratic);
    tcase_add_test(tc, test_fused);
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
