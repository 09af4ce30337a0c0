/*
 * kern.c - the kernels of SPEC section 4, each as IR.
 *
 * Everything here is a composition of diff_gradient (reverse mode) and
 * diff_tangent (forward mode) on the model's score, loss and residual:
 *
 *   score_grad_y      grad_y f
 *   score_hvp_yy      tangent of grad_y f along y -> v        (H v)
 *   score_vjp_xy      tangent of grad_x f along y -> w        (w^T d2f/dy dx)
 *   score_vjp_thetay  tangent of grad_theta f along y -> w
 *   loss_grad         grad_{y,x,theta} L
 *   residual_jvp_y    tangent of r along y -> v               (J_y v)
 *   residual_vjp_*    grad_{y,x,theta} of w . r               (J^T w)
 *
 * One reverse sweep of f serves the three score kernels above it, so the
 * adjoint graph is built once and shared.  The scheduler (schedule.c)
 * then decides how each kernel is computed and emit.c prints it.  The
 * kernels themselves are the rows of KERNELS (kern.h).
 */
#include "dilc.h"

#include "kern.h"

#include "../runtime/dil_model.h"   /* only to check the table's order */

#include <stddef.h>
#include <string.h>


const KernelInfo kernel_info[K__COUNT] = {
#define X(name, part, doc, returns, dir, data, o0, o1, o2)                                      \
    {#name, part, doc, returns, dir, data, {o0, o1, o2},                                         \
     (o0 != NULL) + (o1 != NULL) + (o2 != NULL)},
    KERNELS(X)
#undef X
};

/* The emitted descriptor initialises dil_model positionally, one kernel
   pointer per row of KERNELS after work_size: each row's field must sit
   at its index among those pointers, and `symbols` right after the last.
   A negative array size stops the build otherwise (C99 has no
   static_assert). */
typedef void (*kern_fnptr)(void);
#define KERN_AT(field, index)                                                                   \
    (offsetof(dil_model, field) == offsetof(dil_model, score) + (index) * sizeof(kern_fnptr))
#define X(name, part, doc, returns, dir, data, o0, o1, o2)                                      \
    typedef char kernel_order_##name[KERN_AT(name, K_##name) ? 1 : -1];
KERNELS(X)
#undef X
typedef char kernel_order_first[offsetof(dil_model, score) ==
                                        offsetof(dil_model, work_size) + sizeof(size_t) ? 1 : -1];
typedef char kernel_order_last[KERN_AT(symbols, K__COUNT) ? 1 : -1];

/* The linearise-once members come after theta_init: state_size, then
   linearise, then one NAME_apply pointer per row of KERNELS with a
   direction, in table order, then the fused residual_linearise and
   score_linearise (emit.c writes them so). */
#define APPLY_AT(field, index)                                                                  \
    (offsetof(dil_model, field) == offsetof(dil_model, linearise) + (index) * sizeof(kern_fnptr))
typedef char kernel_order_state[offsetof(dil_model, linearise) ==
                                        offsetof(dil_model, state_size) + sizeof(size_t) ? 1 : -1];
typedef char kernel_order_apply[APPLY_AT(score_hvp_yy_apply, 1) && APPLY_AT(score_vjp_xy_apply, 2) &&
                                        APPLY_AT(score_vjp_thetay_apply, 3) &&
                                        APPLY_AT(residual_jvp_y_apply, 4) &&
                                        APPLY_AT(residual_vjp_y_apply, 5) &&
                                        APPLY_AT(residual_vjp_x_apply, 6) &&
                                        APPLY_AT(residual_vjp_theta_apply, 7) &&
                                        APPLY_AT(residual_linearise, 8) &&
                                        APPLY_AT(score_linearise, 9) &&
                                        sizeof(dil_model) == offsetof(dil_model, linearise) +
                                                                 10 * sizeof(kern_fnptr)
                                    ? 1
                                    : -1];

Block kernel_dir_block(KernelId id)
{
    return id == K_residual_vjp_y || id == K_residual_vjp_x || id == K_residual_vjp_theta
               ? BLK_W
               : BLK_V;
}

const char *kernel_block_param(KernelId id, Block b)
{
    if ((b == BLK_V || b == BLK_W) && id < K__COUNT)
        return kernel_info[id].dir ? kernel_info[id].dir : ir_block_name[b];
    return ir_block_name[b];
}

int kernel_roots(const Kernel *k, Node **roots)
{
    int n = 0;
    if (k->ret)
        roots[n++] = k->ret;
    for (int j = 0; j < k->info->nouts; j++)
        if (k->outs[j].node && k->outs[j].len > 0)
            roots[n++] = k->outs[j].node;
    return n;
}

static void block_lengths(const Model *m, int len[BLK__COUNT])
{
    len[BLK_Y] = m->ny;
    len[BLK_X] = m->nx;
    len[BLK_THETA] = m->ntheta;
    len[BLK_DATA] = m->ndata;
    len[BLK_V] = m->ny;
    len[BLK_W] = m->nres;
}

/* Kernel id of ks, with its result or its outputs (as many as the table
   names, each with its length). */
static void set(Kernels *ks, KernelId id, Node *ret, Node *o0, int l0, Node *o1, int l1, Node *o2,
                int l2)
{
    Kernel *k = &ks->k[id];
    k->id = id;
    k->info = &kernel_info[id];
    k->ret = ret;
    k->outs[0] = (KernelOut){o0, l0};
    k->outs[1] = (KernelOut){o1, l1};
    k->outs[2] = (KernelOut){o2, l2};
}

static void derive_score(Kernels *ks, const Model *m, const int len[BLK__COUNT])
{
    Node *gf[BLK__COUNT];
    diff_gradient(m->score, len, gf);
    set(ks, K_score, m->score, NULL, 0, NULL, 0, NULL, 0);
    set(ks, K_score_grad_y, NULL, gf[BLK_Y], m->ny, NULL, 0, NULL, 0);

    Node *tan[3];
    Node *roots[3] = {gf[BLK_Y], gf[BLK_X], gf[BLK_THETA]};
    diff_tangent(3, roots, BLK_Y, BLK_V, tan);
    set(ks, K_score_hvp_yy, NULL, tan[0], m->ny, NULL, 0, NULL, 0);
    set(ks, K_score_vjp_xy, NULL, tan[1], m->nx, NULL, 0, NULL, 0);
    set(ks, K_score_vjp_thetay, NULL, tan[2], m->ntheta, NULL, 0, NULL, 0);
}

static void derive_loss(Kernels *ks, const Model *m, const int len[BLK__COUNT])
{
    Node *gl[BLK__COUNT];
    diff_gradient(m->loss, len, gl);
    set(ks, K_loss, m->loss, NULL, 0, NULL, 0, NULL, 0);
    set(ks, K_loss_grad, NULL, gl[BLK_Y], m->ny, gl[BLK_X], m->nx, gl[BLK_THETA], m->ntheta);
}

static void derive_residual(Kernels *ks, const Model *m, const int len[BLK__COUNT])
{
    set(ks, K_residual, NULL, m->residual, m->nres, NULL, 0, NULL, 0);
    Node *r = m->residual, *jv;
    diff_tangent(1, &r, BLK_Y, BLK_V, &jv);
    set(ks, K_residual_jvp_y, NULL, jv, m->nres, NULL, 0, NULL, 0);

    /* J^T w = grad of the scalar w . r */
    Node *w = ir_leaf(BLK_W, 0, 1, m->nres, 1);
    w->name = "w";
    Node *gw[BLK__COUNT];
    diff_gradient(ir_sum(ir_mul(w, m->residual)), len, gw);
    set(ks, K_residual_vjp_y, NULL, gw[BLK_Y], m->ny, NULL, 0, NULL, 0);
    set(ks, K_residual_vjp_x, NULL, gw[BLK_X], m->nx, NULL, 0, NULL, 0);
    set(ks, K_residual_vjp_theta, NULL, gw[BLK_THETA], m->ntheta, NULL, 0, NULL, 0);
}

Kernels *kern_derive(const Model *m)
{
    Kernels *ks = arena_alloc(sizeof *ks);
    ks->m = m;
    int len[BLK__COUNT];
    block_lengths(m, len);
    derive_score(ks, m, len);
    if (m->loss)
        derive_loss(ks, m, len);
    if (m->residual)
        derive_residual(ks, m, len);

    long total = 0;
    for (int i = 0; i < K__COUNT; i++) {
        if (!ks->k[i].info)
            continue;
        Node *kroots[1 + KERNEL_MAX_OUTS], **order;
        total += ir_topo(kroots, kernel_roots(&ks->k[i], kroots), &order);
    }
    ks->nodes = total;
    if (total > KERN_MAX_NODES) {
        diag_error(m->loc, "model too large to emit: its kernels have %ld IR nodes in all "
                           "(at most %ld; unroll fewer steps)",
                   total, KERN_MAX_NODES);
        return NULL;
    }
    return ks;
}

/* Names the leaves after their symbols, for printing. */
static void name_leaves(const Model *m)
{
    for (int i = 0; i < m->nsyms; i++)
        m->syms[i].leaf->name = m->syms[i].name;
}

void kern_print_model(FILE *fp, const Model *m)
{
    name_leaves(m);
    fprintf(fp, "# model %s: ny = %d, nx = %d, ntheta = %d, ndata = %d, nres = %d\n", m->name,
            m->ny, m->nx, m->ntheta, m->ndata, m->nres);
    ir_print(fp, "score", m->score);
    if (m->residual)
        ir_print(fp, "residual", m->residual);
    if (m->loss)
        ir_print(fp, "loss", m->loss);
    fputc('\n', fp);
}

void kern_verify(const Kernels *ks)
{
    for (int i = 0; i < K__COUNT; i++) {
        if (!ks->k[i].info)
            continue;
        Node *roots[1 + KERNEL_MAX_OUTS];
        ir_verify(roots, kernel_roots(&ks->k[i], roots), ks->k[i].info->name);
    }
}

void kern_print_derivatives(FILE *fp, const Kernels *ks)
{
    name_leaves(ks->m);
    for (int i = 0; i < K__COUNT; i++) {
        const Kernel *k = &ks->k[i];
        if (!k->info)
            continue;
        fprintf(fp, "# %s: %s\n", k->info->name, k->info->doc);
        if (k->ret)
            ir_print(fp, k->info->name, k->ret);
        for (int j = 0; j < k->info->nouts; j++)
            if (k->outs[j].node)
                ir_print(fp, k->info->outs[j], k->outs[j].node);
        fputc('\n', fp);
    }
}

void kern_dot(FILE *fp, const Kernels *ks)
{
    name_leaves(ks->m);
    Node *roots[K__COUNT * (1 + KERNEL_MAX_OUTS)];
    const char *labels[K__COUNT * (1 + KERNEL_MAX_OUTS)];
    int n = 0;
    for (int i = 0; i < K__COUNT; i++) {
        const Kernel *k = &ks->k[i];
        if (!k->info)
            continue;
        if (k->ret) {
            roots[n] = k->ret;
            labels[n++] = k->info->name;
        }
        for (int j = 0; j < k->info->nouts; j++)
            if (k->outs[j].node) {
                roots[n] = k->outs[j].node;
                labels[n++] = arena_printf("%s.%s", k->info->name, k->info->outs[j]);
            }
    }
    ir_dot(fp, roots, labels, n);
}
