/*
 * refeval.c - the reference evaluator: IR interpreted in hyper-dual
 * arithmetic (see refeval.h for what the four components mean).
 *
 * Independence is the point of this file.  It reads the IR only through
 * the Node fields documented in dilc.h, walks the graph with its own
 * traversal (not ir_topo, and without the nodes' per-pass scratch fields),
 * and differentiates with its own first and second derivatives of every
 * elementwise function, written out by hand below; nothing here calls
 * diff.c, kern.c or the emitter.  A mistake in a symbolic rule therefore
 * shows up as a disagreement, not as the same wrong number twice.
 *
 * Propagation rules.  A smooth g of one hyper-dual x = (f, a, b, c):
 *
 *     g(x) = (g(f), g'(f) a, g'(f) b, g'(f) c + g''(f) a b)
 *
 * and of two, x = (f, a1, a2, a12), y = (h, b1, b2, b12):
 *
 *     g(x, y) = (g, gx a1 + gy b1, gx a2 + gy b2,
 *                gx a12 + gy b12 + gxx a1 a2 + gxy (a1 b2 + a2 b1) + gyy b1 b2)
 *
 * Both are exact consequences of e1^2 = e2^2 = 0 applied to the Taylor
 * series; the evaluator is as accurate as the double evaluation of g, g'
 * and g'' themselves, which is why those are computed stably (sigmoid,
 * softplus and logsumexp never exponentiate a large positive number).
 */
#include "refeval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Named constants of the IR, as doubles typed in here (not read from
   the compiler's table): pi, and 2/sqrt(pi) for erf' */
#define PI 3.141592653589793
#define TWO_OVER_SQRT_PI 1.1283791670955126

static char errbuf[256];

const char *refeval_error(void)
{
    return errbuf;
}

static int fail(const Node *n, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(errbuf, sizeof errbuf, "node %d (%s): ", n->id,
                     n->op < OP__COUNT ? ir_op_name[n->op] : "?");
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof errbuf)
        vsnprintf(errbuf + k, sizeof errbuf - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Hyper-dual arithmetic                                               */
/* ------------------------------------------------------------------ */

static hdual hd_const(double f)
{
    hdual r = {f, 0, 0, 0};
    return r;
}

static hdual hd_add(hdual x, hdual y)
{
    hdual r = {x.f + y.f, x.e1 + y.e1, x.e2 + y.e2, x.e12 + y.e12};
    return r;
}

static hdual hd_sub(hdual x, hdual y)
{
    hdual r = {x.f - y.f, x.e1 - y.e1, x.e2 - y.e2, x.e12 - y.e12};
    return r;
}

/* (f + a1 e1 + a2 e2 + a12 e1e2)(h + b1 e1 + b2 e2 + b12 e1e2): the e1e2
   part collects a12 h + f b12 and the cross terms a1 b2 + a2 b1. */
static hdual hd_mul(hdual x, hdual y)
{
    hdual r = {x.f * y.f, x.f * y.e1 + x.e1 * y.f, x.f * y.e2 + x.e2 * y.f,
               x.f * y.e12 + x.e12 * y.f + x.e1 * y.e2 + x.e2 * y.e1};
    return r;
}

/* The unary chain rule: g = value, g1 = g'(f), g2 = g''(f). */
static hdual hd_chain(hdual x, double g, double g1, double g2)
{
    hdual r = {g, g1 * x.e1, g1 * x.e2, g1 * x.e12 + g2 * x.e1 * x.e2};
    return r;
}

/* The bivariate chain rule with all five partial derivatives. */
static hdual hd_chain2(hdual x, hdual y, double g, double gx, double gy,
                       double gxx, double gxy, double gyy)
{
    hdual r;
    r.f = g;
    r.e1 = gx * x.e1 + gy * y.e1;
    r.e2 = gx * x.e2 + gy * y.e2;
    r.e12 = gx * x.e12 + gy * y.e12 + gxx * x.e1 * x.e2 +
            gxy * (x.e1 * y.e2 + x.e2 * y.e1) + gyy * y.e1 * y.e2;
    return r;
}

static int hd_is_const(hdual x)
{
    return x.e1 == 0 && x.e2 == 0 && x.e12 == 0;
}

/* x/y, with the value computed as the division itself (not x * (1/y),
   which rounds twice and would differ from the emitted code):
     gx = 1/y,  gy = -x/y^2,  gxx = 0,  gxy = -1/y^2,  gyy = 2x/y^3 */
static hdual hd_div(hdual x, hdual y)
{
    double r = 1 / y.f, q = x.f / y.f;
    return hd_chain2(x, y, q, r, -q * r, 0, -r * r, 2 * q * r * r);
}

/* x^p for a constant p:  g' = p x^(p-1),  g'' = p (p-1) x^(p-2).
   The factor p (or p - 1) is tested first: at x = 0, pow(0, -1) is
   infinite and 0 * inf would turn an exact 0 into NaN (x^1 at 0, x^2 at
   0 have finite derivatives). */
static hdual hd_pow_const(hdual x, double p)
{
    double g1 = p == 0 ? 0 : p * pow(x.f, p - 1);
    double g2 = (p == 0 || p == 1) ? 0 : p * (p - 1) * pow(x.f, p - 2);
    return hd_chain(x, pow(x.f, p), g1, g2);
}

/* x^y with both varying, for x > 0:
     gx = y x^(y-1)          gy = x^y ln x
     gxx = y (y-1) x^(y-2)   gxy = x^(y-1) (1 + y ln x)   gyy = x^y ln(x)^2
   Only the parts that vary are differentiated, so that a constant
   exponent over a negative base (x^3 at x < 0) never meets ln x. */
static hdual hd_pow(hdual x, hdual y)
{
    if (hd_is_const(y))
        return hd_pow_const(x, y.f);
    double g = pow(x.f, y.f), l = log(x.f);
    if (hd_is_const(x))
        return hd_chain(y, g, g * l, g * l * l);     /* c^y: d = c^y ln c */
    return hd_chain2(x, y, g, y.f * pow(x.f, y.f - 1), g * l,
                     y.f * (y.f - 1) * pow(x.f, y.f - 2),
                     pow(x.f, y.f - 1) * (1 + y.f * l), g * l * l);
}

/* sigmoid(t) = 1/(1 + e^-t), evaluated without exp of a large positive
   argument: for t < 0 as e^t/(1 + e^t). */
static double sigmoid(double t)
{
    if (t >= 0)
        return 1 / (1 + exp(-t));
    double e = exp(t);
    return e / (1 + e);
}

/* softplus(t) = log(1 + e^t) = max(t, 0) + log1p(e^-|t|), which neither
   overflows for large t nor loses log1p's accuracy for very negative t. */
static double softplus(double t)
{
    return (t > 0 ? t : 0) + log1p(exp(-fabs(t)));
}

/* Every elementwise unary op with its hand-derived g' and g''. */
static int hd_unary(Op op, hdual x, hdual *out)
{
    double t = x.f;
    switch (op) {
    case OP_NEG: {                /* -x:  -1, 0 */
        hdual r = {-x.f, -x.e1, -x.e2, -x.e12};
        *out = r;
        return 0;
    }
    case OP_SIN:                  /* sin:  cos, -sin */
        *out = hd_chain(x, sin(t), cos(t), -sin(t));
        return 0;
    case OP_COS:                  /* cos:  -sin, -cos */
        *out = hd_chain(x, cos(t), -sin(t), -cos(t));
        return 0;
    case OP_TAN: {                /* tan:  1 + tan^2,  2 tan (1 + tan^2) */
        double v = tan(t), s = 1 + v * v;
        *out = hd_chain(x, v, s, 2 * v * s);
        return 0;
    }
    case OP_ASIN: {               /* asin:  (1-t^2)^-1/2,  t (1-t^2)^-3/2 */
        double u = 1 - t * t, r = 1 / sqrt(u);
        *out = hd_chain(x, asin(t), r, t * r / u);
        return 0;
    }
    case OP_ACOS: {               /* acos:  -(1-t^2)^-1/2,  -t (1-t^2)^-3/2 */
        double u = 1 - t * t, r = 1 / sqrt(u);
        *out = hd_chain(x, acos(t), -r, -t * r / u);
        return 0;
    }
    case OP_ATAN: {               /* atan:  1/(1+t^2),  -2t/(1+t^2)^2 */
        double u = 1 / (1 + t * t);
        *out = hd_chain(x, atan(t), u, -2 * t * u * u);
        return 0;
    }
    case OP_SINH:                 /* sinh:  cosh, sinh */
        *out = hd_chain(x, sinh(t), cosh(t), sinh(t));
        return 0;
    case OP_COSH:                 /* cosh:  sinh, cosh */
        *out = hd_chain(x, cosh(t), sinh(t), cosh(t));
        return 0;
    case OP_TANH: {               /* tanh:  1 - tanh^2,  -2 tanh (1 - tanh^2) */
        double v = tanh(t), s = 1 - v * v;
        *out = hd_chain(x, v, s, -2 * v * s);
        return 0;
    }
    case OP_EXP: {                /* exp:  exp, exp */
        double v = exp(t);
        *out = hd_chain(x, v, v, v);
        return 0;
    }
    case OP_LOG:                  /* log:  1/t,  -1/t^2 */
        *out = hd_chain(x, log(t), 1 / t, -1 / (t * t));
        return 0;
    case OP_LOG1P: {              /* log1p:  1/(1+t),  -1/(1+t)^2 */
        double u = 1 / (1 + t);
        *out = hd_chain(x, log1p(t), u, -u * u);
        return 0;
    }
    case OP_EXPM1: {              /* expm1:  exp, exp (the -1 is constant) */
        double v = exp(t);
        *out = hd_chain(x, expm1(t), v, v);
        return 0;
    }
    case OP_SQRT: {               /* sqrt:  1/(2 sqrt t),  -1/(4 t sqrt t) */
        double v = sqrt(t);
        *out = hd_chain(x, v, 0.5 / v, -0.25 / (t * v));
        return 0;
    }
    case OP_ABS: {                /* |t|:  sign t, 0 (the kink is ignored) */
        double s = (t > 0) - (t < 0);
        *out = hd_chain(x, fabs(t), s, 0);
        return 0;
    }
    case OP_SIGMOID: {            /* s:  s(1-s),  s(1-s)(1-2s) */
        /* 1 - s is sigmoid(-t): no cancellation for large t. */
        double s = sigmoid(t), sm = sigmoid(-t);
        *out = hd_chain(x, s, s * sm, s * sm * (sm - s));
        return 0;
    }
    case OP_SOFTPLUS: {           /* softplus:  sigmoid,  s(1-s) */
        double s = sigmoid(t), sm = sigmoid(-t);
        *out = hd_chain(x, softplus(t), s, s * sm);
        return 0;
    }
    case OP_ERF: {                /* erf:  2/sqrt(pi) e^-t^2,  -2t 2/sqrt(pi) e^-t^2 */
        double g1 = TWO_OVER_SQRT_PI * exp(-t * t);
        *out = hd_chain(x, erf(t), g1, -2 * t * g1);
        return 0;
    }
    case OP_SIGN:                 /* (t>0)-(t<0):  0, 0 */
        *out = hd_const((double)((t > 0) - (t < 0)));
        return 0;
    default:
        return -1;
    }
}

static hdual hd_binary(Op op, hdual x, hdual y)
{
    switch (op) {
    case OP_ADD: return hd_add(x, y);
    case OP_SUB: return hd_sub(x, y);
    case OP_MUL: return hd_mul(x, y);
    case OP_DIV: return hd_div(x, y);
    default:     return hd_pow(x, y);
    }
}

/* ------------------------------------------------------------------ */
/* Graph evaluation                                                    */
/* ------------------------------------------------------------------ */

typedef struct Eval {
    hdual **val;              /* by node id; NULL until evaluated */
    const double **blocks, **dir1, **dir2;
} Eval;

/* Element (r, c) of a tensor of `cols` columns under map m, range-checked
   against the tensor's shape.  Returns the flat index or -1. */
static long map_index(const Map *m, int r, int c, int rows, int cols)
{
    long R = (long)m->r0 + (long)m->arr * r + (long)m->arc * c;
    long C = (long)m->c0 + (long)m->acr * r + (long)m->acc * c;
    if (R < 0 || R >= rows || C < 0 || C >= cols)
        return -1;
    return R * cols + C;
}

static int eval_node(Eval *ev, Node *n)
{
    long size = ir_size(n);
    if (n->rows < 1 || n->cols < 1)
        return fail(n, "bad shape %dx%d", n->rows, n->cols);
    hdual *v = calloc((size_t)size, sizeof *v);
    if (!v)
        return fail(n, "out of memory");
    ev->val[n->id] = v;
    hdual *a = n->nargs > 0 ? ev->val[n->args[0]->id] : NULL;
    hdual *b = n->nargs > 1 ? ev->val[n->args[1]->id] : NULL;
    Node *na = n->nargs > 0 ? n->args[0] : NULL;
    Node *nb = n->nargs > 1 ? n->args[1] : NULL;

    switch (n->op) {
    case OP_CONST: {
        double d;
        if (!n->q || rat_to_double(n->q, &d) != 0)
            return fail(n, "constant beyond double range");
        v[0] = hd_const(d);
        return 0;
    }
    case OP_LEAF: {
        if ((int)n->block < 0 || n->block >= BLK__COUNT || !ev->blocks[n->block])
            return fail(n, "leaf of block %d, which was not given", (int)n->block);
        const double *p = ev->blocks[n->block] + n->offset;
        const double *d1 = ev->dir1[n->block], *d2 = ev->dir2[n->block];
        for (long i = 0; i < size; i++) {
            v[i].f = p[i];
            v[i].e1 = d1 ? d1[n->offset + i] : 0;
            v[i].e2 = d2 ? d2[n->offset + i] : 0;
        }
        return 0;
    }
    case OP_NAMED:                /* the constants, written out here by hand */
        switch (n->named) {
        case NC_PI: v[0] = hd_const(PI); return 0;
        case NC_TWO_OVER_SQRT_PI: v[0] = hd_const(TWO_OVER_SQRT_PI); return 0;
        default: return fail(n, "unknown named constant %d", (int)n->named);
        }
    case OP_EYE:
        for (int r = 0; r < n->rows && r < n->cols; r++)
            v[(long)r * n->cols + r] = hd_const(1);
        return 0;
    case OP_BCAST:
        if (ir_size(na) != 1)
            return fail(n, "broadcast of a non-scalar");
        for (long i = 0; i < size; i++)
            v[i] = a[0];
        return 0;
    case OP_VIEW:
        for (int r = 0; r < n->rows; r++)
            for (int c = 0; c < n->cols; c++) {
                long k = map_index(&n->map, r, c, na->rows, na->cols);
                if (k < 0)
                    return fail(n, "view element (%d,%d) outside %dx%d", r, c,
                                na->rows, na->cols);
                v[(long)r * n->cols + c] = a[k];
            }
        return 0;
    case OP_ASSEMBLE:
        /* Pieces are added, not stored: overlapping placements sum. */
        for (int k = 0; k < n->nargs; k++) {
            Node *p = n->args[k];
            hdual *pv = ev->val[p->id];
            for (int r = 0; r < p->rows; r++)
                for (int c = 0; c < p->cols; c++) {
                    long t = map_index(&n->place[k], r, c, n->rows, n->cols);
                    if (t < 0)
                        return fail(n, "piece %d element (%d,%d) outside %dx%d", k,
                                    r, c, n->rows, n->cols);
                    v[t] = hd_add(v[t], pv[(long)r * p->cols + c]);
                }
        }
        return 0;
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: {
        /* A rank-0 operand broadcasts; any other must match in size. */
        long sa = ir_size(na), sb = ir_size(nb);
        int ba = na->rank == 0 || sa == 1, bb = nb->rank == 0 || sb == 1;
        if ((sa != size && !ba) || (sb != size && !bb))
            return fail(n, "operand shapes %dx%d, %dx%d for %dx%d", na->rows,
                        na->cols, nb->rows, nb->cols, n->rows, n->cols);
        for (long i = 0; i < size; i++)
            v[i] = hd_binary(n->op, a[sa == size ? i : 0], b[sb == size ? i : 0]);
        return 0;
    }
    case OP_MATMUL: {
        /* As (m x k) @ (k x p); a vector on the left is a row, on the
           right a column, and vector @ vector is the dot product. */
        int m = na->rank == 2 ? na->rows : 1, k = na->rank == 2 ? na->cols : na->rows;
        int kb = nb->rows, p = nb->rank == 2 ? nb->cols : 1;
        if (na->rank == 0 || nb->rank == 0 || k != kb || (long)m * p != size)
            return fail(n, "matmul of %dx%d (rank %d) and %dx%d (rank %d)", na->rows,
                        na->cols, na->rank, nb->rows, nb->cols, nb->rank);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < p; j++) {
                hdual s = hd_const(0);
                for (int l = 0; l < k; l++)
                    s = hd_add(s, hd_mul(a[(long)i * k + l], b[(long)l * p + j]));
                v[(long)i * p + j] = s;
            }
        return 0;
    }
    case OP_OUTER:
        if ((long)n->rows != ir_size(na) || (long)n->cols != ir_size(nb))
            return fail(n, "outer of sizes %ld, %ld into %dx%d", ir_size(na),
                        ir_size(nb), n->rows, n->cols);
        for (int i = 0; i < n->rows; i++)
            for (int j = 0; j < n->cols; j++)
                v[(long)i * n->cols + j] = hd_mul(a[i], b[j]);
        return 0;
    case OP_SUM: {
        hdual s = hd_const(0);
        for (long i = 0; i < ir_size(na); i++)
            s = hd_add(s, a[i]);
        v[0] = s;
        return 0;
    }
    case OP_LSE: {
        /* lse = m + log sum exp(x_i - m), m = max x_i: no overflow, and
           the largest term is exactly 1, so the log's argument is >= 1.
           With p = softmax(x), grad = p and Hessian = diag(p) - p p^T:
             e1  = p.a1,  e2 = p.a2,
             e12 = p.a12 + sum p_i a1_i a2_i - (p.a1)(p.a2). */
        long len = ir_size(na);
        double mx = a[0].f, s = 0;
        for (long i = 1; i < len; i++)
            if (a[i].f > mx)
                mx = a[i].f;
        for (long i = 0; i < len; i++)
            s += exp(a[i].f - mx);
        double g1 = 0, g2 = 0, g12 = 0, cross = 0;
        for (long i = 0; i < len; i++) {
            double pi = exp(a[i].f - mx) / s;
            g1 += pi * a[i].e1;
            g2 += pi * a[i].e2;
            g12 += pi * a[i].e12;
            cross += pi * a[i].e1 * a[i].e2;
        }
        hdual r = {mx + log(s), g1, g2, g12 + cross - g1 * g2};
        v[0] = r;
        return 0;
    }
    default:
        if (n->nargs == 1 && ir_is_elementwise(n->op)) {
            if (ir_size(na) != size)
                return fail(n, "operand size %ld for %ld", ir_size(na), size);
            for (long i = 0; i < size; i++)
                if (hd_unary(n->op, a[i], &v[i]) != 0)
                    return fail(n, "no rule for this op");
            return 0;
        }
        return fail(n, "unknown op %d", (int)n->op);
    }
}

/* Every node under root, by a depth-first walk with an explicit stack (an
   unrolled model can be thousands of nodes deep), then in increasing id:
   children are created before their parents, so that order is a
   topological one. */
static int collect(Node *root, Node ***out)
{
    int nid = root->id + 1, n = 0, sp = 0, cap = 64;
    char *seen = calloc((size_t)nid, 1);
    Node **list = malloc((size_t)nid * sizeof *list);
    Node **stack = malloc((size_t)cap * sizeof *stack);
    if (!seen || !list || !stack) {
        free(seen);
        free(list);
        free(stack);
        return fail(root, "out of memory");
    }
    seen[root->id] = 1;
    stack[sp++] = root;
    int bad = 0;
    while (sp) {
        Node *nd = stack[--sp];
        list[n++] = nd;
        for (int i = 0; i < nd->nargs; i++) {
            Node *c = nd->args[i];
            if (!c || c->id < 0 || c->id >= nd->id) {
                bad = 1;
                break;
            }
            if (seen[c->id])
                continue;
            seen[c->id] = 1;
            if (sp == cap) {
                cap *= 2;
                Node **s = realloc(stack, (size_t)cap * sizeof *s);
                if (!s) {
                    bad = 2;
                    break;
                }
                stack = s;
            }
            stack[sp++] = c;
        }
        if (bad)
            break;
    }
    free(seen);
    free(stack);
    if (bad) {
        free(list);
        return fail(root, bad == 1 ? "child without a smaller id" : "out of memory");
    }
    /* ids are distinct and below nid: a counting pass sorts them. */
    Node **sorted = calloc((size_t)nid, sizeof *sorted);
    if (!sorted) {
        free(list);
        return fail(root, "out of memory");
    }
    for (int i = 0; i < n; i++)
        sorted[list[i]->id] = list[i];
    int k = 0;
    for (int i = 0; i < nid; i++)
        if (sorted[i])
            list[k++] = sorted[i];
    free(sorted);
    *out = list;
    return n;
}

int refeval_hd(Node *root, const double *blocks[BLK__COUNT],
               const double *dir1[BLK__COUNT], const double *dir2[BLK__COUNT],
               hdual *out)
{
    static const double *none[BLK__COUNT];
    Node **order = NULL;
    errbuf[0] = '\0';
    int n = collect(root, &order);
    if (n < 0)
        return -1;
    Eval ev;
    ev.val = calloc((size_t)root->id + 1, sizeof *ev.val);
    ev.blocks = blocks ? blocks : none;
    ev.dir1 = dir1 ? dir1 : none;
    ev.dir2 = dir2 ? dir2 : none;
    int rc = ev.val ? 0 : fail(root, "out of memory");
    for (int i = 0; i < n && rc == 0; i++)
        rc = eval_node(&ev, order[i]);
    if (rc == 0)
        memcpy(out, ev.val[root->id], (size_t)ir_size(root) * sizeof *out);
    if (ev.val)
        for (int i = 0; i < n; i++)
            free(ev.val[order[i]->id]);
    free(ev.val);
    free(order);
    return rc;
}

int refeval(Node *root, const double *blocks[BLK__COUNT], double *out)
{
    long size = ir_size(root);
    hdual *h = malloc((size_t)size * sizeof *h);
    if (!h)
        return fail(root, "out of memory");
    int rc = refeval_hd(root, blocks, NULL, NULL, h);
    if (rc == 0)
        for (long i = 0; i < size; i++)
            out[i] = h[i].f;
    free(h);
    return rc;
}

double refeval_value(Node *root, const double *blocks[BLK__COUNT])
{
    double v;
    if (ir_size(root) != 1) {
        fail(root, "refeval_value of a %dx%d node", root->rows, root->cols);
        return NAN;
    }
    return refeval(root, blocks, &v) == 0 ? v : NAN;
}

/* A unit seed e_j in block b, zero elsewhere: dir[b] = unit. */
static void seed(const double *dir[BLK__COUNT], Block b, const double *unit)
{
    for (int i = 0; i < BLK__COUNT; i++)
        dir[i] = NULL;
    dir[b] = unit;
}

int refeval_vjp(Node *root, const double *blocks[BLK__COUNT], Block b, int len,
                const double *w, double *out)
{
    long size = ir_size(root);
    hdual *h = malloc((size_t)size * sizeof *h);
    double *unit = calloc(len > 0 ? (size_t)len : 1, sizeof *unit);
    const double *dir1[BLK__COUNT];
    int rc = h && unit ? 0 : fail(root, "out of memory");
    seed(dir1, b, unit);
    for (int j = 0; j < len && rc == 0; j++) {
        unit[j] = 1;
        rc = refeval_hd(root, blocks, dir1, NULL, h);
        unit[j] = 0;
        double s = 0;
        for (long i = 0; i < size && rc == 0; i++)
            s += (w ? w[i] : 1) * h[i].e1;
        out[j] = s;
    }
    free(h);
    free(unit);
    return rc;
}

int refeval_second(Node *root, const double *blocks[BLK__COUNT], Block row,
                   int len, Block dirb, const double *dir, const double *w,
                   double *out)
{
    long size = ir_size(root);
    hdual *h = malloc((size_t)size * sizeof *h);
    double *unit = calloc(len > 0 ? (size_t)len : 1, sizeof *unit);
    const double *dir1[BLK__COUNT], *dir2[BLK__COUNT];
    int rc = h && unit ? 0 : fail(root, "out of memory");
    seed(dir1, row, unit);
    seed(dir2, dirb, dir);
    for (int j = 0; j < len && rc == 0; j++) {
        unit[j] = 1;
        rc = refeval_hd(root, blocks, dir1, dir2, h);
        unit[j] = 0;
        double s = 0;
        for (long i = 0; i < size && rc == 0; i++)
            s += (w ? w[i] : 1) * h[i].e12;
        out[j] = s;
    }
    free(h);
    free(unit);
    return rc;
}
