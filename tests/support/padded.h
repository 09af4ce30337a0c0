/*
 * padded.h - a square residual model padded with identity rows, for
 * tests: the same derivatives through the runtime's Krylov paths.
 *
 * The runtime holds a tiny Jacobian densely and solves with it directly
 * (runtime/small.c: nres * ny <= 64).  To compare that path with the
 * Krylov one on the same model, pad_model(m, k) returns a model with
 * k more unknowns u and residuals r' = (r(y; x, theta), u): its Jacobian
 * is blockdiag(J, I), too large to be held densely once (ny + k)^2 > 64,
 * and at (y*, 0) with dL/dy' = (dL/dy, 0) every Krylov vector keeps a zero
 * tail, so the root form's CG is CG on m's own J^T J with m's kernels and
 * gives m's gradients.  The padded model wraps m's residual kernels and
 * loss (score kernels and linearise are left out: the runtime then calls
 * the plain residual kernels).  One padded model at a time (the wrappers
 * find m in a static); for tests only.
 */
#ifndef PADDED_H
#define PADDED_H

#include "dil.h"

/* m padded with k identity rows (m square: nres == ny). */
dil_model pad_model(const dil_model *m, int k);

#endif
