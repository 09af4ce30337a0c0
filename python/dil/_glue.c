/*
 * _glue.c - compiled by the Python package (python/dil/_build.py) into
 * every model's shared object, beside the C that dilc emitted.
 *
 * The package drives libdil through ctypes, so it must know the layout of
 * dil_model, dil_symbol, dil_options and dil_info.  Rather than trust its
 * own copy of those structs, it asks this file, which the C compiler built
 * against the installed dil.h: dilpy_layout() gives every size and offset
 * the package mirrors, dilpy_header_version() the header's release and ABI
 * numbers (the package compares them with dil_version() and
 * dil_abi_version() of the library it loaded).  dilpy_model() names the
 * model's descriptor under one fixed symbol whatever the model is called;
 * everything else in the object is hidden (-fvisibility=hidden), so that
 * two models loaded into one process never interpose on each other.
 *
 * Built with -DDILPY_HEADER='"m.h"' -DDILPY_DESC=m_model.
 */
#include <stddef.h>

#include "dil.h"
#include DILPY_HEADER

#define EXPORT __attribute__((visibility("default")))

EXPORT const dil_model *dilpy_model(void);
EXPORT size_t dilpy_layout(size_t *out, size_t n);
EXPORT const char *dilpy_header_version(int *abi);
EXPORT void dilpy_default_options(dil_options *opt);

const dil_model *dilpy_model(void)
{
    return &DILPY_DESC;
}

/* The order is the package's (_lib.py, LAYOUT): each struct's size, then
   the offset of each member it mirrors. */
static const size_t layout[] = {
    sizeof(dil_symbol),
    offsetof(dil_symbol, name), offsetof(dil_symbol, role),
    offsetof(dil_symbol, rank), offsetof(dil_symbol, shape),
    offsetof(dil_symbol, offset),
    sizeof(dil_model),
    offsetof(dil_model, name), offsetof(dil_model, ny), offsetof(dil_model, nx),
    offsetof(dil_model, ntheta), offsetof(dil_model, ndata),
    offsetof(dil_model, nres), offsetof(dil_model, work_size),
    offsetof(dil_model, loss), offsetof(dil_model, symbols),
    offsetof(dil_model, nsymbols), offsetof(dil_model, theta_init),
    sizeof(dil_options),
    offsetof(dil_options, solver), offsetof(dil_options, tol),
    offsetof(dil_options, max_iter), offsetof(dil_options, backward),
    offsetof(dil_options, cg_tol), offsetof(dil_options, cg_max_iter),
    offsetof(dil_options, cg_eps), offsetof(dil_options, cg_x0),
    offsetof(dil_options, cg_solution), offsetof(dil_options, stationary_tol),
    offsetof(dil_options, lbfgs_memory), offsetof(dil_options, inner_max_iter),
    offsetof(dil_options, inner_tol), offsetof(dil_options, armijo_c1),
    offsetof(dil_options, wolfe_c2), offsetof(dil_options, max_backtracks),
    sizeof(dil_info),
    offsetof(dil_info, status), offsetof(dil_info, iterations),
    offsetof(dil_info, grad_norm), offsetof(dil_info, cg_iterations),
    offsetof(dil_info, cg_residual), offsetof(dil_info, score),
    offsetof(dil_info, residual_norm), offsetof(dil_info, cg_total),
    offsetof(dil_info, n_score), offsetof(dil_info, n_grad),
    offsetof(dil_info, n_hvp), offsetof(dil_info, n_jac),
};

/* Copies up to n entries of the layout to out; returns how many there are. */
size_t dilpy_layout(size_t *out, size_t n)
{
    size_t total = sizeof layout / sizeof layout[0];
    for (size_t i = 0; i < n && i < total; i++)
        out[i] = layout[i];
    return total;
}

const char *dilpy_header_version(int *abi)
{
    *abi = DIL_ABI_VERSION;
    return DIL_VERSION;
}

void dilpy_default_options(dil_options *opt)
{
    *opt = dil_default_options();
}
