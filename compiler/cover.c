/*
 * cover.c - how the pieces of an assembly cover it, from their placements.
 *
 * An ASSEMBLE node adds up pieces placed into a rows x cols tensor.  The
 * emitter stores a piece that no other piece meets with `=` (or computes
 * it straight into the output), clears what no such piece writes, and adds
 * the rest.  That was once found by marking every element of the
 * assembly, which made the compiler's time grow with tensor sizes (a
 * 75-byte model with a 2^27-element vector ran for hours).  Here only the
 * placements are looked at:
 *
 *   - Each piece's footprint is a box [r0, r1) x [c0, c1) of the assembly
 *     when its placement fills a box exactly once (rows, columns, blocks,
 *     transposes, and a matrix flattened row- or column-major into a
 *     vector); any other placement (a diagonal, say) is given its bounding
 *     box and counted as meeting whatever that box meets, which is safe:
 *     it is then only ever added.
 *   - Which boxes meet another: a sweep down the rows, the boxes crossing
 *     the current row held in two max-trees over the boxes sorted by first
 *     column (value: end column while active).  A box meets an active box
 *     iff some active box starting left of its end ends right of its
 *     start: one prefix maximum.  The boxes it meets that were not yet
 *     known to meet anything are taken out of the second tree as they are
 *     found, so each is found once.  O(P log P) for P pieces.
 *   - What no exclusive piece writes: a second sweep over the rows where
 *     exclusive boxes start or end; between two such rows every row has
 *     the same gaps, one box each.  The number of boxes is bounded by a
 *     budget linear in P; past it (only contrived placements get there)
 *     the whole assembly is cleared and every piece added, which is
 *     correct for any placement.
 */
#include "cover.h"

#include <limits.h>
#include <stdlib.h>

/* The values k + a*r + b*c for r < h, c < w: their range [lo, hi), and
   whether they fill it, each value once. */
static int axis_range(long k, long a, long h, long b, long w, long *lo, long *hi)
{
    if (h <= 1)
        a = 0;
    if (w <= 1)
        b = 0;
    long ra = a * (h - 1), rb = b * (w - 1);
    *lo = k + (ra < 0 ? ra : 0) + (rb < 0 ? rb : 0);
    *hi = k + (ra > 0 ? ra : 0) + (rb > 0 ? rb : 0) + 1;
    long aa = labs(a), ab = labs(b);
    if (!a && !b)
        return 1;
    if (!a)
        return ab == 1;
    if (!b)
        return aa == 1;
    return (aa == 1 && ab == h) || (ab == 1 && aa == w);
}

/* Piece p's bounding box; 1 when the piece fills it exactly. */
static int piece_box(const Node *as, int p, CoverBox *bx)
{
    const Map *m = &as->place[p];
    long h = as->args[p]->rows, w = as->args[p]->cols;
    int er = axis_range(m->r0, m->arr, h, m->arc, w, &bx->r0, &bx->r1);
    int ec = axis_range(m->c0, m->acr, h, m->acc, w, &bx->c0, &bx->c1);
    /* A product of the two ranges only when no piece index moves both. */
    int row_r = h > 1 && m->arr, row_c = w > 1 && m->arc;
    int col_r = h > 1 && m->acr, col_c = w > 1 && m->acc;
    return er && ec && !(row_r && col_r) && !(row_c && col_c);
}

/* ------------------------------------------------------------------ */
/* A max-tree over n leaves; LONG_MIN is an empty leaf                  */
/* ------------------------------------------------------------------ */

typedef struct Tree {
    long *t;
    int cap;
} Tree;

static void tree_init(Tree *tr, int n)
{
    tr->cap = 1;
    while (tr->cap < n)
        tr->cap *= 2;
    tr->t = malloc(2 * (size_t)tr->cap * sizeof *tr->t);
    if (!tr->t)
        dil_fatal("out of memory");
    for (int i = 0; i < 2 * tr->cap; i++)
        tr->t[i] = LONG_MIN;
}

static void tree_set(Tree *tr, int i, long v)
{
    int p = tr->cap + i;
    tr->t[p] = v;
    for (p /= 2; p >= 1; p /= 2)
        tr->t[p] = tr->t[2 * p] > tr->t[2 * p + 1] ? tr->t[2 * p] : tr->t[2 * p + 1];
}

/* The maximum of leaves [0, k). */
static long tree_prefix_max(const Tree *tr, int k)
{
    long best = LONG_MIN;
    int lo = tr->cap, hi = tr->cap + k;   /* [lo, hi) at the leaf level */
    for (; lo < hi; lo /= 2, hi /= 2) {
        if (lo & 1) {
            best = tr->t[lo] > best ? tr->t[lo] : best;
            lo++;
        }
        if (hi & 1) {
            hi--;
            best = tr->t[hi] > best ? tr->t[hi] : best;
        }
    }
    return best;
}

/* Empties, and reports through found[], every leaf of [0, k) holding a
   value above `above`; node covers leaves [lo, hi).  Each leaf found
   costs O(log n); subtrees with nothing above `above` are skipped. */
static void tree_take(Tree *tr, int node, int lo, int hi, int k, long above, int *found,
                      int *nfound)
{
    if (lo >= k || tr->t[node] <= above)
        return;
    if (hi - lo == 1) {
        found[(*nfound)++] = lo;
        tree_set(tr, lo, LONG_MIN);
        return;
    }
    int mid = lo + (hi - lo) / 2;
    tree_take(tr, 2 * node, lo, mid, k, above, found, nfound);
    tree_take(tr, 2 * node + 1, mid, hi, k, above, found, nfound);
}

/* The first non-empty leaf at or after i, or -1. */
static int tree_next(const Tree *tr, int node, int lo, int hi, int i)
{
    if (hi <= i || tr->t[node] == LONG_MIN)
        return -1;
    if (hi - lo == 1)
        return lo;
    int mid = lo + (hi - lo) / 2;
    int r = tree_next(tr, 2 * node, lo, mid, i);
    return r >= 0 ? r : tree_next(tr, 2 * node + 1, mid, hi, i);
}

/* ------------------------------------------------------------------ */
/* The two sweeps                                                       */
/* ------------------------------------------------------------------ */

typedef struct Key {
    long k;
    int i;
} Key;

static int key_cmp(const void *pa, const void *pb)
{
    const Key *a = pa, *b = pb;
    if (a->k != b->k)
        return a->k < b->k ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static Key *sorted_by(const CoverBox *bx, int n, const int *keep, int which, int *count)
{
    Key *ks = malloc((size_t)(n ? n : 1) * sizeof *ks);
    if (!ks)
        dil_fatal("out of memory");
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!keep || keep[i])
            ks[m++] = (Key){which == 0 ? bx[i].r0 : which == 1 ? bx[i].r1 : bx[i].c0, i};
    qsort(ks, (size_t)m, sizeof *ks, key_cmp);
    *count = m;
    return ks;
}

/* Clears excl[p] of every box that meets another. */
static void mark_overlaps(const CoverBox *bx, int n, int *excl)
{
    int m;
    Key *byc = sorted_by(bx, n, NULL, 2, &m);
    Key *byr0 = sorted_by(bx, n, NULL, 0, &m);
    Key *byr1 = sorted_by(bx, n, NULL, 1, &m);
    int *pos = malloc((size_t)n * sizeof *pos);
    int *found = malloc((size_t)n * sizeof *found);
    if (!pos || !found)
        dil_fatal("out of memory");
    for (int j = 0; j < n; j++)
        pos[byc[j].i] = j;
    Tree all, alone;          /* active boxes; those still exclusive */
    tree_init(&all, n);
    tree_init(&alone, n);
    int rm = 0;
    for (int s = 0; s < n; s++) {
        int p = byr0[s].i;
        /* Boxes ending at or above this one's first row are done (they
           started above it too, boxes being non-empty). */
        for (; rm < n && byr1[rm].k <= bx[p].r0; rm++) {
            tree_set(&all, pos[byr1[rm].i], LONG_MIN);
            tree_set(&alone, pos[byr1[rm].i], LONG_MIN);
        }
        /* k: the boxes starting left of this one's end column. */
        int lo = 0, hi = n;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (byc[mid].k < bx[p].c1)
                lo = mid + 1;
            else
                hi = mid;
        }
        int k = lo;
        if (tree_prefix_max(&all, k) > bx[p].c0) {
            excl[p] = 0;
            int nf = 0;
            tree_take(&alone, 1, 0, alone.cap, k, bx[p].c0, found, &nf);
            for (int f = 0; f < nf; f++)
                excl[byc[found[f]].i] = 0;
        }
        tree_set(&all, pos[p], bx[p].c1);
        if (excl[p])
            tree_set(&alone, pos[p], bx[p].c1);
    }
    free(all.t);
    free(alone.t);
    free(pos);
    free(found);
    free(byc);
    free(byr0);
    free(byr1);
}

typedef struct Boxes {
    CoverBox *b;
    int n, cap;
} Boxes;

static void push_box(Boxes *z, long r0, long r1, long c0, long c1)
{
    if (z->n == z->cap) {
        z->cap = z->cap ? 2 * z->cap : 16;
        z->b = realloc(z->b, (size_t)z->cap * sizeof *z->b);
        if (!z->b)
            dil_fatal("out of memory");
    }
    z->b[z->n++] = (CoverBox){r0, r1, c0, c1};
}

/* The gaps between the exclusive boxes, band by band; 0, or -1 when they
   would take more than `budget` steps. */
static int gaps(const CoverBox *bx, int n, const int *excl, long rows, long cols, long budget,
                Boxes *z)
{
    int ne, nc;
    Key *byr0 = sorted_by(bx, n, excl, 0, &ne);
    Key *byr1 = sorted_by(bx, n, excl, 1, &ne);
    Key *byc = sorted_by(bx, n, excl, 2, &nc);
    int *pos = malloc((size_t)(n ? n : 1) * sizeof *pos);
    if (!pos)
        dil_fatal("out of memory");
    for (int j = 0; j < nc; j++)
        pos[byc[j].i] = j;
    Tree act;                 /* exclusive boxes crossing the band */
    tree_init(&act, nc ? nc : 1);
    long steps = 0;
    int ins = 0, rem = 0, status = 0;
    for (long y = 0; y < rows;) {
        for (; ins < ne && byr0[ins].k <= y; ins++)
            tree_set(&act, pos[byr0[ins].i], 0);
        for (; rem < ne && byr1[rem].k <= y; rem++)
            tree_set(&act, pos[byr1[rem].i], LONG_MIN);
        long y2 = rows;
        if (ins < ne && byr0[ins].k < y2)
            y2 = byr0[ins].k;
        if (rem < ne && byr1[rem].k < y2)
            y2 = byr1[rem].k;
        long x = 0;           /* columns before x are accounted for */
        for (int j = tree_next(&act, 1, 0, act.cap, 0); j >= 0;
             j = tree_next(&act, 1, 0, act.cap, j + 1)) {
            const CoverBox *b = &bx[byc[j].i];
            if (b->c0 > x)
                push_box(z, y, y2, x, b->c0);
            x = b->c1;
            steps++;
        }
        if (x < cols)
            push_box(z, y, y2, x, cols);
        if ((steps += 1) + z->n > budget) {
            status = -1;
            break;
        }
        y = y2;
    }
    free(act.t);
    free(pos);
    free(byr0);
    free(byr1);
    free(byc);
    return status;
}

void cover_of(const Node *as, Cover *out)
{
    int n = as->nargs;
    CoverBox *bx = malloc((size_t)(n ? n : 1) * sizeof *bx);
    out->excl = arena_alloc((size_t)(n ? n : 1) * sizeof *out->excl);
    if (!bx)
        dil_fatal("out of memory");
    for (int p = 0; p < n; p++)
        out->excl[p] = piece_box(as, p, &bx[p]);
    mark_overlaps(bx, n, out->excl);
    Boxes z = {0};
    if (gaps(bx, n, out->excl, as->rows, as->cols, 16L * n + 64, &z) != 0) {
        /* Contrived placements: clear everything, add every piece. */
        for (int p = 0; p < n; p++)
            out->excl[p] = 0;
        z.n = 0;
        push_box(&z, 0, as->rows, 0, as->cols);
    }
    out->zero = arena_alloc((size_t)(z.n ? z.n : 1) * sizeof *out->zero);
    for (int i = 0; i < z.n; i++)
        out->zero[i] = z.b[i];
    out->nzero = z.n;
    free(z.b);
    free(bx);
}
