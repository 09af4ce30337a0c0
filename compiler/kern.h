/*
 * kern.h - the kernel table and the derived kernel set, shared by kern.c
 * (which derives the kernels), schedule.c (which schedules them) and
 * emit.c (which prints them).  Private to the compiler.
 *
 * Every kernel of SPEC section 4 is one row of KERNELS, in the order of
 * its function-pointer field in `dil_model` (runtime/dil_model.h); kern.c
 * checks that order at compile time.  A kernel is named by its KernelId,
 * never by comparing name strings.
 */
#ifndef KERN_H
#define KERN_H

#include "dilc.h"

/* Which part of the model a kernel exists for. */
typedef enum KernelPart { PART_SCORE, PART_LOSS, PART_RESIDUAL } KernelPart;

/*
 * X(name, part, doc, returns, dir, data, out0, out1, out2)
 *   name     C name without prefix, also the dil_model field
 *   part     the kernel exists when the model has this part
 *   doc      one line for the emitted comment
 *   returns  1: returns a double (score, loss); 0: void, writes outputs
 *   dir      C parameter of the direction (IR block BLK_V or BLK_W, see
 *            kernel_dir_block), or NULL when there is none
 *   data     1: takes `const double *data`
 *   out0..2  C output parameters, NULL where unused
 */
#define KERNELS(X)                                                                              \
    X(score, PART_SCORE, "f(y; x, theta)", 1, NULL, 0, NULL, NULL, NULL)                        \
    X(score_grad_y, PART_SCORE, "gy = df/dy", 0, NULL, 0, "gy", NULL, NULL)                     \
    X(score_hvp_yy, PART_SCORE, "hv = (d2f/dy2) v", 0, "v", 0, "hv", NULL, NULL)                \
    X(score_vjp_xy, PART_SCORE, "out_x[j] = sum_i w_i d2f/(dy_i dx_j)", 0, "w", 0, "out_x",     \
      NULL, NULL)                                                                               \
    X(score_vjp_thetay, PART_SCORE, "out_theta[k] = sum_i w_i d2f/(dy_i dtheta_k)", 0, "w", 0,  \
      "out_theta", NULL, NULL)                                                                  \
    X(loss, PART_LOSS, "L(y, x, theta, data)", 1, NULL, 1, NULL, NULL, NULL)                    \
    X(loss_grad, PART_LOSS, "gy, gx, gtheta = partial derivatives of L", 0, NULL, 1, "gy",      \
      "gx", "gtheta")                                                                           \
    X(residual, PART_RESIDUAL, "r(y; x, theta)", 0, NULL, 0, "r", NULL, NULL)                   \
    X(residual_jvp_y, PART_RESIDUAL, "jv = J_y v", 0, "v", 0, "jv", NULL, NULL)                 \
    X(residual_vjp_y, PART_RESIDUAL, "out_y = J_y^T w", 0, "w", 0, "out_y", NULL, NULL)         \
    X(residual_vjp_x, PART_RESIDUAL, "out_x = J_x^T w", 0, "w", 0, "out_x", NULL, NULL)         \
    X(residual_vjp_theta, PART_RESIDUAL, "out_theta = J_theta^T w", 0, "w", 0, "out_theta",     \
      NULL, NULL)

typedef enum KernelId {
#define X(name, part, doc, returns, dir, data, o0, o1, o2) K_##name,
    KERNELS(X)
#undef X
    K__COUNT
} KernelId;

#define KERNEL_MAX_OUTS 3

/* One row of KERNELS. */
typedef struct KernelInfo {
    const char *name;
    KernelPart part;
    const char *doc;
    int returns;
    const char *dir;
    int data;
    const char *outs[KERNEL_MAX_OUTS];
    int nouts;
} KernelInfo;

extern const KernelInfo kernel_info[K__COUNT];

/* The IR block of a kernel's direction: the residual weight w (BLK_W)
   for the residual vjps, else the y-shaped seed (BLK_V). */
Block kernel_dir_block(KernelId id);
/* The C parameter that reads IR block b in kernel id ("y", "x", "theta",
   "data", then the direction's name for its block). */
const char *kernel_block_param(KernelId id, Block b);

typedef struct KernelOut {
    Node *node;               /* flat vector of length len; NULL if len == 0 */
    int len;
} KernelOut;

typedef struct Kernel {
    KernelId id;
    const KernelInfo *info;   /* kernel_info[id] */
    Node *ret;                /* scalar result (score, loss), or NULL */
    KernelOut outs[KERNEL_MAX_OUTS];   /* as info->outs */
} Kernel;

/* Nodes scheduled (schedule.c) over all kernels together (a node
   shared by two kernels counts twice: each kernel emits it): kern.c
   refuses a model beyond it, and schedule.c emits the linearise-once
   forms only within what is left.  The
   emitted C grows with this count, by 20 to 80 bytes a node; a million
   would be about 25 to 80 MB of C in one function per kernel, beyond what
   a C compiler handles, so the limit is half that.  The model's own IR
   is bounded in sema.c (MAX_NODES); derivation multiplies it by about 10
   to 25 here. */
#define KERN_MAX_NODES 500000L

/* The kernels of one model, in table order; k[i].info is NULL for a
   kernel the model does not have (no loss, no residual). */
struct Kernels {
    const Model *m;
    Kernel k[K__COUNT];
    long nodes;               /* nodes of all kernels (KERN_MAX_NODES) */
};

/* The roots a kernel computes (its result, its outputs of nonzero
   length), in that order; returns their number (at most 1 + outs). */
int kernel_roots(const Kernel *k, Node **roots);

#endif
