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
 * adjoint graph is built once and shared.  The emitter (emit.c) then
 * turns each kernel's output nodes into one C function.
 */
#include "dilc.h"

#include "kern.h"

#include <string.h>

/* Nodes scheduled by the emitter, over all kernels together (a node
   shared by two kernels counts twice: each kernel emits it).  The
   emitted C grows with this count, by 20 to 80 bytes a node; a million
   would be about 25 to 80 MB of C in one function per kernel, beyond what
   a C compiler handles, so the limit is half that.  The model's own IR
   is bounded in sema.c (MAX_NODES); derivation multiplies it by about 10
   to 25 here. */
#define KERN_MAX_NODES 500000L

static void block_lengths(const Model *m, int len[BLK__COUNT])
{
    len[BLK_Y] = m->ny;
    len[BLK_X] = m->nx;
    len[BLK_THETA] = m->ntheta;
    len[BLK_DATA] = m->ndata;
    len[BLK_V] = m->ny;
    len[BLK_W] = m->nres;
}

static Kernel *add(Kernels *ks, const char *name, const char *doc)
{
    Kernel *k = &ks->k[ks->n++];
    memset(k, 0, sizeof *k);
    k->name = name;
    k->doc = doc;
    k->blkname[BLK_Y] = "y";
    k->blkname[BLK_X] = "x";
    k->blkname[BLK_THETA] = "theta";
    k->blkname[BLK_DATA] = "data";
    k->blkname[BLK_V] = "v";
    k->blkname[BLK_W] = "w";
    return k;
}

static void out(Kernel *k, const char *param, Node *node, int len)
{
    k->outs[k->nouts].param = param;
    k->outs[k->nouts].node = node;
    k->outs[k->nouts].len = len;
    k->nouts++;
}

Kernels *kern_derive(const Model *m)
{
    Kernels *ks = arena_alloc(sizeof *ks);
    ks->m = m;
    int len[BLK__COUNT];
    block_lengths(m, len);

    Node *gf[BLK__COUNT];
    diff_gradient(m->score, len, gf);

    Kernel *k = add(ks, "score", "f(y; x, theta)");
    k->ret = m->score;

    k = add(ks, "score_grad_y", "gy = df/dy");
    out(k, "gy", gf[BLK_Y], m->ny);

    Node *tan[3];
    Node *roots[3] = {gf[BLK_Y], gf[BLK_X], gf[BLK_THETA]};
    diff_tangent(3, roots, BLK_Y, BLK_V, tan);

    k = add(ks, "score_hvp_yy", "hv = (d2f/dy2) v");
    out(k, "hv", tan[0], m->ny);

    k = add(ks, "score_vjp_xy", "out_x[j] = sum_i w_i d2f/(dy_i dx_j)");
    k->blkname[BLK_V] = "w";
    out(k, "out_x", tan[1], m->nx);

    k = add(ks, "score_vjp_thetay", "out_theta[k] = sum_i w_i d2f/(dy_i dtheta_k)");
    k->blkname[BLK_V] = "w";
    out(k, "out_theta", tan[2], m->ntheta);

    if (m->loss) {
        Node *gl[BLK__COUNT];
        diff_gradient(m->loss, len, gl);
        k = add(ks, "loss", "L(y, x, theta, data)");
        k->ret = m->loss;
        k = add(ks, "loss_grad", "gy, gx, gtheta = partial derivatives of L");
        out(k, "gy", gl[BLK_Y], m->ny);
        out(k, "gx", gl[BLK_X], m->nx);
        out(k, "gtheta", gl[BLK_THETA], m->ntheta);
    }

    if (m->residual) {
        k = add(ks, "residual", "r(y; x, theta)");
        out(k, "r", m->residual, m->nres);

        Node *r = m->residual, *jv;
        diff_tangent(1, &r, BLK_Y, BLK_V, &jv);
        k = add(ks, "residual_jvp_y", "jv = J_y v");
        out(k, "jv", jv, m->nres);

        /* J^T w = grad of the scalar w . r */
        Node *w = ir_leaf(BLK_W, 0, 1, m->nres, 1);
        w->name = "w";
        Node *gw[BLK__COUNT];
        diff_gradient(ir_sum(ir_mul(w, m->residual)), len, gw);
        k = add(ks, "residual_vjp_y", "out_y = J_y^T w");
        out(k, "out_y", gw[BLK_Y], m->ny);
        k = add(ks, "residual_vjp_x", "out_x = J_x^T w");
        out(k, "out_x", gw[BLK_X], m->nx);
        k = add(ks, "residual_vjp_theta", "out_theta = J_theta^T w");
        out(k, "out_theta", gw[BLK_THETA], m->ntheta);
    }

    long total = 0;
    for (int i = 0; i < ks->n; i++) {
        Kernel *kk = &ks->k[i];
        Node *kroots[4], **order;
        int nk = 0;
        if (kk->ret)
            kroots[nk++] = kk->ret;
        for (int j = 0; j < kk->nouts; j++)
            if (kk->outs[j].node && kk->outs[j].len > 0)
                kroots[nk++] = kk->outs[j].node;
        total += ir_topo(kroots, nk, &order);
    }
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

void kern_print_derivatives(FILE *fp, const Kernels *ks)
{
    name_leaves(ks->m);
    for (int i = 0; i < ks->n; i++) {
        const Kernel *k = &ks->k[i];
        fprintf(fp, "# %s: %s\n", k->name, k->doc);
        if (k->ret)
            ir_print(fp, k->name, k->ret);
        for (int j = 0; j < k->nouts; j++)
            if (k->outs[j].node)
                ir_print(fp, k->outs[j].param, k->outs[j].node);
        fputc('\n', fp);
    }
}

void kern_dot(FILE *fp, const Kernels *ks)
{
    name_leaves(ks->m);
    Node *roots[64];
    const char *labels[64];
    int n = 0;
    for (int i = 0; i < ks->n; i++) {
        const Kernel *k = &ks->k[i];
        if (k->ret) {
            roots[n] = k->ret;
            labels[n++] = k->name;
        }
        for (int j = 0; j < k->nouts; j++)
            if (k->outs[j].node) {
                roots[n] = k->outs[j].node;
                labels[n++] = arena_printf("%s.%s", k->name, k->outs[j].param);
            }
    }
    ir_dot(fp, roots, labels, n);
}
