/*
 * refeval.h - an independent reference evaluator of IR graphs, for tests.
 *
 * Every derivative kernel that dilc emits is checked against this second
 * method, which shares nothing with the symbolic derivation (diff.c) or
 * the C emitter: the IR of the score, residual or loss is interpreted
 * directly, in hyper-dual arithmetic.  A hyper-dual number is
 *
 *     f + f1 e1 + f2 e2 + f12 e1 e2,    e1^2 = e2^2 = 0,  e1 e2 != 0,
 *
 * so seeding the inputs with x + d1 e1 + d2 e2 yields, in one evaluation
 * and without truncation error,
 *
 *     f = f(x),  f1 = d1 . grad f,  f2 = d2 . grad f,  f12 = d1^T H d2.
 *
 * The only rounding is that of ordinary floating point, so agreement with
 * the emitted kernels can be asserted to a few ulps times the condition of
 * the expression, unlike finite differences.
 */
#ifndef REFEVAL_H
#define REFEVAL_H

#include "dilc.h"

typedef struct hdual {
    double f, e1, e2, e12;
} hdual;

/* Evaluates root at the point blocks[b] (the flat y, x, theta, data, v, w
   of the C interface; NULL for a block nothing reads) along the seed
   directions dir1[b] and dir2[b] (NULL: zero), writing ir_size(root)
   hyper-duals, row-major.  Returns 0, or -1 when the graph cannot be
   evaluated (a LEAF of a NULL block, a constant beyond double range, an
   inconsistent shape or out-of-range view); refeval_error() says why. */
int refeval_hd(Node *root, const double *blocks[BLK__COUNT],
               const double *dir1[BLK__COUNT], const double *dir2[BLK__COUNT],
               hdual *out);

/* Plain values: ir_size(root) doubles.  Returns 0 or -1 as above. */
int refeval(Node *root, const double *blocks[BLK__COUNT], double *out);

/* The value of a scalar root, NaN on any error. */
double refeval_value(Node *root, const double *blocks[BLK__COUNT]);

/* out[j] = sum_i w_i d root_i / d b_j for j < len: a vector-Jacobian
   product along block b (len its length), by len evaluations seeded with
   unit vectors.  w has ir_size(root) entries; NULL means all ones (so for
   a scalar root, out is the gradient). */
int refeval_vjp(Node *root, const double *blocks[BLK__COUNT], Block b, int len,
                const double *w, double *out);

/* out[j] = sum_i dir_i d2 root / (d row_j d dirb_i) for j < len, where
   row is block `row` (length len) and dir lies in block `dirb`: for a
   scalar root, the Hessian-vector product (row = dirb = BLK_Y) and the
   mixed products w^T d2f/(dy dx), w^T d2f/(dy dtheta) (dirb = BLK_Y,
   row = BLK_X or BLK_THETA).  A non-scalar root is summed, weighted by
   w (NULL: ones). */
int refeval_second(Node *root, const double *blocks[BLK__COUNT], Block row,
                   int len, Block dirb, const double *dir, const double *w,
                   double *out);

/* Why the last call returned -1. */
const char *refeval_error(void);

#endif
