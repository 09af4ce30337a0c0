/*
 * cover.h - how the pieces of an assembly cover it (cover.c), for the
 * emitter: which pieces no other piece meets, and which regions no such
 * piece writes.  Computed from the placements alone, never element by
 * element, so the cost is O(P log P) in the number of pieces P whatever
 * the tensor sizes.
 */
#ifndef COVER_H
#define COVER_H

#include "dilc.h"

/* Rows [r0, r1) x columns [c0, c1) of the assembly. */
typedef struct CoverBox {
    long r0, r1, c0, c1;
} CoverBox;

typedef struct Cover {
    /* excl[p]: no other piece writes any element piece p writes, so p may
       be stored with `=` (or computed in place) rather than added. */
    int *excl;
    /* Every element that no exclusive piece writes lies in exactly one of
       these boxes, in row-major order of their first elements; the
       emitter clears them before adding the other pieces. */
    CoverBox *zero;
    int nzero;
} Cover;

/* The cover of an OP_ASSEMBLE node; the arrays are in the arena. */
void cover_of(const Node *as, Cover *out);

#endif
