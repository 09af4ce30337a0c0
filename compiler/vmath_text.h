/*
 * vmath_text.h - the vectorisable elementwise functions of compiler/vmath.h
 * as text, for dilc to paste into emitted C (docs/vmath.md).
 *
 * The table is generated from vmath.h by scripts/vmath_text.sh into
 * $(BUILD)/compiler/vmath_text.c; vmath.c writes the blocks a model needs.
 */
#ifndef VMATH_TEXT_H
#define VMATH_TEXT_H

#include <stdio.h>

typedef struct VmathFn {
    const char *name;   /* "vtanh": the C name is prefix + name */
    const char *deps;   /* space-separated names of the blocks it uses */
    const char *text;   /* the source, every identifier prefixed by DILP_ */
} VmathFn;

/* In dependency order: every block after the blocks it uses. */
extern const VmathFn vmath_fns[];
extern const int vmath_nfns;

/* Write to out the functions named in names[0..n-1] (vexp, vexpm1, vlog,
   vlog1p, vtanh, vsigmoid, vsoftplus) and everything they use, each
   once, in dependency order, with the token DILP_ replaced by prefix (so
   prefix "node_vdp_" defines node_vdp_vtanh; its helpers are node_vdp_vm_*
   and the macro node_vdp_VM_INLINE).  The text starts with the includes it
   needs (<math.h>, <stdint.h>, <string.h>), so it can follow other code at
   file scope.  Writes nothing when n is 0.  Returns 0, or -1 (and writes
   nothing) when a name is unknown. */
int vmath_write(FILE *out, const char *prefix, const char *const *names, int n);

#endif
