/*
 * irprint.c - the IR as readable math (--print-derivatives, IR dumps) and
 * as a Graphviz graph (--dot).
 *
 * A node used more than once in the printed expression is named once
 * (`t12 = ...`) and referred to by name after that, so what is printed
 * is the DAG the emitter will compute, not an exponentially large tree.
 */
#include "dilc.h"

#include <stdlib.h>
#include <string.h>

/* Collects the nodes under root (once each) into *list, counting uses. */
static void collect(Node *root, Node ***list, int *n, int *cap)
{
    Node **stack = NULL;
    int sp = 0, scap = 0;
    VEC_PUSH(stack, sp, scap, root);
    root->uses = 0;
    root->mark = -1;
    while (sp) {
        Node *nd = stack[--sp];
        if (nd->mark == 1)
            continue;
        nd->mark = 1;
        VEC_PUSH(*list, *n, *cap, nd);
        for (int i = 0; i < nd->nargs; i++) {
            Node *c = nd->args[i];
            if (c->mark != 1 && c->mark != -1) {
                c->mark = -1;
                c->uses = 0;
            }
            c->uses++;
            if (c->mark != 1)
                VEC_PUSH(stack, sp, scap, c);
        }
    }
}

static int cmp_id(const void *a, const void *b)
{
    const Node *x = *(Node *const *)a, *y = *(Node *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

static int trivial(const Node *n)
{
    return n->op == OP_CONST || n->op == OP_LEAF || n->op == OP_EYE;
}

static void print_expr(FILE *out, Node *n, int top);

static void print_shape(FILE *out, const Node *n)
{
    if (n->rank == 1)
        fprintf(out, "[%d]", n->rows);
    else if (n->rank == 2)
        fprintf(out, "[%d, %d]", n->rows, n->cols);
}

static void print_ref(FILE *out, Node *n)
{
    if (!trivial(n) && n->uses > 1)
        fprintf(out, "t%d", n->id);
    else
        print_expr(out, n, 0);
}

static void print_map(FILE *out, const Map *m, const Node *small)
{
    long size = ir_size(small);
    if (small->rank == 0)
        fprintf(out, "[%d, %d]", m->r0, m->c0);
    else if (m->c0 == 0 && m->acr == 0 && m->acc == 0 &&
             (small->rows == 1 || m->arr == small->cols) && (small->cols == 1 || m->arc == 1))
        fprintf(out, "[%d:%ld]", m->r0, m->r0 + size);   /* contiguous, row-major */
    else
        fprintf(out, "[%d%+d*i%+d*j, %d%+d*i%+d*j]", m->r0, m->arr, m->arc, m->c0, m->acr,
                m->acc);
}

/* One node in readable math, its arguments recursively (fused like the
   emitted C).  (Long: one case per printed form of the op table.) */
static void print_expr(FILE *out, Node *n, int top)
{
    (void)top;
    switch (n->op) {
    case OP_CONST: {
        char *s = mpq_get_str(NULL, 10, n->q);
        fputs(s, out);
        void (*freefn)(void *, size_t);
        mp_get_memory_functions(NULL, NULL, &freefn);
        freefn(s, strlen(s) + 1);
        return;
    }
    case OP_LEAF:
        if (n->name)
            fputs(n->name, out);
        else if (ir_size(n) == 1)
            fprintf(out, "%s[%d]", ir_block_name[n->block], n->offset);
        else
            fprintf(out, "%s[%d:%ld]", ir_block_name[n->block], n->offset, n->offset + ir_size(n));
        return;
    case OP_EYE:
        fprintf(out, "eye(%d)", n->rows);
        return;
    case OP_BCAST:
        fputs("bcast", out);
        print_shape(out, n);
        fputc('(', out);
        print_ref(out, n->args[0]);
        fputc(')', out);
        return;
    case OP_VIEW:
        print_ref(out, n->args[0]);
        if (n->rank == 2 && n->map.arc == 1 && n->map.acr == 1 && n->map.r0 == 0 && n->map.c0 == 0)
            fputc('\'', out);
        else
            print_map(out, &n->map, n);
        return;
    case OP_ASSEMBLE:
        fputs("assemble", out);
        print_shape(out, n);
        fputc('(', out);
        for (int i = 0; i < n->nargs; i++) {
            if (i)
                fputs(", ", out);
            print_map(out, &n->place[i], n->args[i]);
            fputs(" <- ", out);
            print_ref(out, n->args[i]);
        }
        fputc(')', out);
        return;
    case OP_ITER:
        fprintf(out, "t%d", n->loop->id);
        return;
    case OP_CARRY:
        fprintf(out, "%s@%d[t%d%+d]", n->loop->st[n->state].name, n->loop->id, n->loop->id,
                n->offset);
        return;
    case OP_TVIEW:
        print_ref(out, n->args[0]);
        fprintf(out, "[%d%+d*t%d%+d*i%+d*j, %d%+d*t%d%+d*i%+d*j]", n->map.r0, n->trow,
                n->args[1]->loop->id, n->map.arr, n->map.arc, n->map.c0, n->tcol,
                n->args[1]->loop->id, n->map.acr, n->map.acc);
        return;
    case OP_LOOP: {
        /* loopN(t in lo:hi; x[t+d] = body from init rows; sum body) */
        const Loop *lp = n->loop;
        fprintf(out, "loop%d(t%d in %ld:%ld%s", lp->id, lp->id, lp->lo, lp->hi,
                lp->dir < 0 ? " descending" : "");
        for (int s = 0; s < lp->nst; s++) {
            const LoopState *st = &lp->st[s];
            fprintf(out, "; %s[t%d%+ld] = ", st->name, lp->id, st->d);
            print_ref(out, st->body);
            fprintf(out, " rows %ld:%ld", st->kmin, st->kmax);
            if (st->init) {
                fputs(" init ", out);
                print_ref(out, st->init);
            }
        }
        for (int k = 0; k < lp->nsum; k++) {
            fputs("; sum ", out);
            print_ref(out, lp->sum[k]);
        }
        fputc(')', out);
        return;
    }
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MATMUL:
        fputc('(', out);
        print_ref(out, n->args[0]);
        fprintf(out, " %s ", ir_op_name[n->op]);
        print_ref(out, n->args[1]);
        fputc(')', out);
        return;
    case OP_NEG:
        fputs("-", out);
        print_ref(out, n->args[0]);
        return;
    default:
        fprintf(out, "%s(", ir_op_name[n->op]);
        for (int i = 0; i < n->nargs; i++) {
            if (i)
                fputs(", ", out);
            print_ref(out, n->args[i]);
        }
        fputc(')', out);
        return;
    }
}

void ir_print(FILE *out, const char *label, Node *root)
{
    Node **list = NULL;
    int n = 0, cap = 0;
    collect(root, &list, &n, &cap);
    qsort(list, (size_t)n, sizeof *list, cmp_id);
    /* Deep unshared chains are named every few levels, so that printing
       (which recurses through unnamed nodes) stays shallow. */
    int *depth = calloc(n > 0 ? (size_t)n : 1u, sizeof *depth);
    if (!depth)
        dil_fatal("out of memory");
    for (int i = 0; i < n; i++) {
        Node *nd = list[i];
        nd->aux = &depth[i];
        int d = 0;
        for (int a = 0; a < nd->nargs; a++) {
            Node *c = nd->args[a];
            if (c->uses <= 1 && *(int *)c->aux > d)
                d = *(int *)c->aux;
        }
        depth[i] = d + 1;
        if (depth[i] > 16 && nd != root && !trivial(nd)) {
            nd->uses = 2;
            depth[i] = 0;
        }
    }
    for (int i = 0; i < n; i++)
        list[i]->aux = NULL;
    free(depth);
    fprintf(out, "%s:\n", label);
    for (int i = 0; i < n; i++) {
        Node *nd = list[i];
        if (nd != root && !trivial(nd) && nd->uses > 1) {
            fprintf(out, "  t%d", nd->id);
            print_shape(out, nd);
            fputs(" = ", out);
            print_expr(out, nd, 1);
            fputc('\n', out);
        }
    }
    fputs("  = ", out);
    print_expr(out, root, 1);
    fputc('\n', out);
    for (int i = 0; i < n; i++)
        list[i]->mark = 0;
}

void ir_dot(FILE *out, Node **roots, const char **labels, int nroots)
{
    Node **list = NULL;
    int n = 0, cap = 0;
    for (int r = 0; r < nroots; r++)
        if (roots[r])
            collect(roots[r], &list, &n, &cap);
    fputs("digraph dil {\n  node [shape=box, fontname=\"monospace\"];\n", out);
    for (int i = 0; i < n; i++) {
        Node *nd = list[i];
        fprintf(out, "  n%d [label=\"", nd->id);
        if (nd->op == OP_CONST || nd->op == OP_LEAF)
            print_expr(out, nd, 0);
        else
            fputs(ir_op_name[nd->op], out);
        print_shape(out, nd);
        fputs("\"];\n", out);
        for (int a = 0; a < nd->nargs; a++)
            fprintf(out, "  n%d -> n%d;\n", nd->args[a]->id, nd->id);
    }
    for (int r = 0; r < nroots; r++)
        if (roots[r])
            fprintf(out, "  out%d [label=\"%s\", shape=ellipse];\n  n%d -> out%d;\n", r,
                    labels[r], roots[r]->id, r);
    fputs("}\n", out);
    for (int i = 0; i < n; i++)
        list[i]->mark = 0;
}
