/*
 * kern.h - the kernel set shared by kern.c (which derives it) and emit.c
 * (which writes it as C).  Private to those two files.
 */
#ifndef KERN_H
#define KERN_H

#include "dilc.h"

typedef struct KernelOut {
    const char *param;        /* the C output parameter, e.g. "hv" */
    Node *node;               /* flat vector of length len; NULL if len == 0 */
    int len;
} KernelOut;

typedef struct Kernel {
    const char *name;         /* SPEC name without prefix: "score_hvp_yy" */
    const char *doc;          /* one line for the emitted comment */
    Node *ret;                /* scalar result (score, loss), or NULL */
    KernelOut outs[3];
    int nouts;
    const char *blkname[BLK__COUNT];  /* C parameter reading each block */
} Kernel;

struct Kernels {
    const Model *m;
    Kernel k[16];
    int n;
};

#endif
