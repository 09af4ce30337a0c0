/*
 * mutate.c - a grammar-aware libFuzzer mutator for .dil models, linked
 * into both fuzz targets (fuzz_dilc.c and fuzz_diff.c).
 *
 * libFuzzer's own mutations flip, insert and erase bytes: nearly every
 * mutant of a model is then a syntax or name error, so the differential
 * target's kernel comparison (which needs a model dilc accepts) is
 * reached rarely.  Here an input is split into tokens (names, numbers,
 * operators, brackets, space) and changed the way a person edits a model:
 * a name becomes another name the model already uses, a number another
 * small number, an operator another operator, a name is wrapped in an
 * elementwise function or replaced by a bracketed expression copied from
 * elsewhere in the model or by a small combination of names, and lines
 * are deleted, duplicated, swapped or taken from another input.  Most
 * such mutants still parse and declare their names, so many more of them
 * reach sema's shape checks and, when accepted, the kernel comparison.
 * One mutation in four is libFuzzer's own, so byte-level malformations
 * (the front end's robustness) are still explored.
 *
 * A target may also set mutate_accepts (mutate.h): fuzz_diff.c points it
 * at `dilc --check`, and a token or line mutation is then retried, from
 * the same input, until the compiler's front end accepts the mutant (at
 * most MAX_TRIES times).  Checking costs milliseconds and the kernel
 * comparison of an accepted model a C compile, so the differential
 * target spends its time on models it can compare.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mutate.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed);

enum { TOK_NAME, TOK_NUM, TOK_OP, TOK_OPEN, TOK_CLOSE, TOK_SPACE, TOK_OTHER };

typedef struct Tok {
    size_t at, len;
    int kind;
} Tok;

#define MAX_TOKS 32768            /* above the targets' -max_len */

static Tok toks[MAX_TOKS];
static int ntoks;
static unsigned rstate;

static unsigned rnd(unsigned n)
{
    rstate = rstate * 1103515245u + 12345u;
    return n ? (rstate >> 8) % n : 0;
}

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Tokens of data[0, size): a comment counts as space. */
static void tokenize(const uint8_t *d, size_t size)
{
    ntoks = 0;
    size_t i = 0;
    while (i < size && ntoks < MAX_TOKS) {
        size_t s = i;
        int c = d[i], kind;
        if (c == '#') {
            while (i < size && d[i] != '\n')
                i++;
            kind = TOK_SPACE;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            while (i < size && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
                i++;
            kind = TOK_SPACE;
        } else if (c >= '0' && c <= '9') {
            while (i < size && (is_name_char(d[i]) || d[i] == '.' ||
                                ((d[i] == '+' || d[i] == '-') && (d[i - 1] == 'e' || d[i - 1] == 'E'))))
                i++;
            kind = TOK_NUM;
        } else if (is_name_char(c)) {
            while (i < size && is_name_char(d[i]))
                i++;
            kind = TOK_NAME;
        } else {
            i++;
            kind = strchr("+-*/^@", c) ? TOK_OP
                   : strchr("([{", c)  ? TOK_OPEN
                   : strchr(")]}", c)  ? TOK_CLOSE
                                       : TOK_OTHER;
        }
        toks[ntoks++] = (Tok){s, i - s, kind};
    }
}

/* The output being built, at most `cap` bytes; `over` once it did not fit. */
typedef struct Out {
    uint8_t *p;
    size_t n, cap;
    int over;
} Out;

static void put(Out *o, const void *s, size_t len)
{
    if (o->n + len > o->cap) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->n, s, len);
    o->n += len;
}

static void puts_(Out *o, const char *s)
{
    put(o, s, strlen(s));
}

static const char *const keywords[] = {"model", "dim", "const", "input", "param", "var",
                                       "data", "let", "fn", "for", "in", "score",
                                       "residual", "loss"};
static const char *const unary[] = {"sin", "cos", "tanh", "exp", "log1p", "sqrt", "abs",
                                    "sigmoid", "softplus", "atan", "sinh", "erf", "expm1",
                                    "asin", "log", "cosh", "tan", "acos"};
static const char *const reducers[] = {"sum", "mean", "norm", "logsumexp"};
static const char *const numbers[] = {"0", "1", "2", "3", "0.5", "0.1", "10", "1e-3", "4",
                                      "1/3", "100", "7", "1e6", "1e-8"};
static const char *const ops[] = {" + ", " - ", " * ", " / ", "^", " @ "};

static int is_keyword(const uint8_t *d, const Tok *t)
{
    for (size_t k = 0; k < sizeof keywords / sizeof *keywords; k++)
        if (strlen(keywords[k]) == t->len && memcmp(keywords[k], d + t->at, t->len) == 0)
            return 1;
    return 0;
}

/* A random token of the kind, or -1; names exclude keywords. */
static int pick(const uint8_t *d, int kind)
{
    int n = 0;
    for (int i = 0; i < ntoks; i++)
        n += toks[i].kind == kind && !(kind == TOK_NAME && is_keyword(d, &toks[i]));
    if (n == 0)
        return -1;
    int k = (int)rnd((unsigned)n);
    for (int i = 0; i < ntoks; i++)
        if (toks[i].kind == kind && !(kind == TOK_NAME && is_keyword(d, &toks[i])) && k-- == 0)
            return i;
    return -1;
}

/* The token after the opening bracket i's matching close, or -1. */
static int match(int i)
{
    int depth = 0;
    for (int j = i; j < ntoks; j++) {
        depth += toks[j].kind == TOK_OPEN ? 1 : toks[j].kind == TOK_CLOSE ? -1 : 0;
        if (depth == 0)
            return j + 1;
    }
    return -1;
}

static void put_tok(Out *o, const uint8_t *d, int i)
{
    put(o, d + toks[i].at, toks[i].len);
}

/* What replaces token `at` (a name) when it is replaced. */
static void put_replacement(Out *o, const uint8_t *d, int at, unsigned how)
{
    int a = pick(d, TOK_NAME), b = pick(d, TOK_NAME);
    switch (how) {
    case 0:                                   /* another name of the model */
        put_tok(o, d, a);
        break;
    case 1:                                   /* f(name) */
        puts_(o, unary[rnd(sizeof unary / sizeof *unary)]);
        puts_(o, "(");
        put_tok(o, d, at);
        puts_(o, ")");
        break;
    case 2:                                   /* (name op name2) */
        puts_(o, "(");
        put_tok(o, d, at);
        puts_(o, ops[rnd(5)]);
        put_tok(o, d, b);
        puts_(o, ")");
        break;
    case 3: {                                 /* a bracketed expression from elsewhere */
        int open = pick(d, TOK_OPEN), end = open < 0 ? -1 : match(open);
        if (end < 0 || d[toks[open].at] == '{') {
            put_tok(o, d, at);
            break;
        }
        if (d[toks[open].at] == '[')
            puts_(o, "(");
        for (int i = open + (d[toks[open].at] == '['); i < end - (d[toks[open].at] == '['); i++)
            put_tok(o, d, i);
        if (d[toks[open].at] == '[')
            puts_(o, ")");
        break;
    }
    case 4:                                   /* reduce(name) */
        puts_(o, reducers[rnd(sizeof reducers / sizeof *reducers)]);
        puts_(o, "(");
        put_tok(o, d, at);
        puts_(o, ")");
        break;
    default:                                  /* (name * number) */
        puts_(o, "(");
        put_tok(o, d, at);
        puts_(o, ops[rnd(4)]);
        puts_(o, numbers[rnd(sizeof numbers / sizeof *numbers)]);
        puts_(o, ")");
        break;
    }
}

/* One token-level change: every token copied except `at`, which is
   replaced according to its kind. */
static void mutate_token(Out *o, const uint8_t *d, int at)
{
    unsigned how = rnd(6);
    for (int i = 0; i < ntoks; i++) {
        if (i != at) {
            put_tok(o, d, i);
            continue;
        }
        switch (toks[i].kind) {
        case TOK_NAME:
            put_replacement(o, d, i, how);
            break;
        case TOK_NUM:
            if (how < 2) {                    /* an integer one away: dims, ranges, indices */
                long v = strtol((const char *)d + toks[i].at, NULL, 10);
                char buf[32];
                int n = snprintf(buf, sizeof buf, "%ld", v + (how ? 1 : -1) * (long)(1 + rnd(2)));
                put(o, buf, (size_t)n);
            } else {
                puts_(o, numbers[rnd(sizeof numbers / sizeof *numbers)]);
            }
            break;
        case TOK_OP:
            puts_(o, ops[rnd(sizeof ops / sizeof *ops)]);
            break;
        default:
            put_tok(o, d, i);
        }
    }
}

/* Line boundaries: token indices where each line starts (after '\n'). */
static int lines(const uint8_t *d, int *start, int max)
{
    int n = 0;
    if (max > 0)
        start[n++] = 0;
    for (int i = 0; i < ntoks && n < max; i++)
        if (toks[i].kind == TOK_SPACE && memchr(d + toks[i].at, '\n', toks[i].len))
            start[n++] = i + 1;
    return n;
}

static void put_range(Out *o, const uint8_t *d, int from, int to)
{
    for (int i = from; i < to && i < ntoks; i++)
        put_tok(o, d, i);
}

/* Delete, duplicate or swap lines. */
static void mutate_lines(Out *o, const uint8_t *d)
{
    static int start[1024];
    int n = lines(d, start, 1023);
    start[n] = ntoks;
    int a = (int)rnd((unsigned)n), b = (int)rnd((unsigned)n), how = (int)rnd(3);
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    for (int l = 0; l < n; l++) {
        int from = start[l], to = start[l + 1];
        if (how == 0 && l == a)               /* delete line a */
            continue;
        if (how == 2 && (l == a || l == b)) { /* swap a and b */
            int k = l == a ? b : a;
            put_range(o, d, start[k], start[k + 1]);
            if (k == n - 1)
                puts_(o, "\n");
            continue;
        }
        put_range(o, d, from, to);
        if (how == 1 && l == a) {             /* duplicate line a */
            if (l == n - 1)
                puts_(o, "\n");
            put_range(o, d, from, to);
        }
    }
}

int (*mutate_accepts)(const uint8_t *data, size_t size);

#define MAX_TRIES 16

/* One token or line mutation of data into buf (at most cap bytes); 0 when
   it did not fit. */
static size_t mutate_once(const uint8_t *data, size_t size, uint8_t *copy, uint8_t *buf,
                          size_t cap)
{
    memcpy(copy, data, size);
    tokenize(copy, size);
    Out o = {buf, 0, cap, 0};
    /* Several changes at once now and then, as libFuzzer does. */
    int steps = 1 + (int)(rnd(4) == 0) * (int)rnd(3);
    for (int s = 0; s < steps && !o.over; s++) {
        if (s > 0) {
            memcpy(copy, buf, o.n);
            tokenize(copy, o.n);
            o.n = 0;
        }
        if (rnd(5) == 0) {
            mutate_lines(&o, copy);
        } else {
            static const int kinds[] = {TOK_NAME, TOK_NAME, TOK_NAME, TOK_NUM, TOK_OP};
            int at = pick(copy, kinds[rnd(5)]);
            if (at < 0)
                at = pick(copy, TOK_NAME);
            mutate_token(&o, copy, at);
        }
    }
    return o.over ? 0 : o.n;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    rstate = seed;
    if (size == 0 || rnd(4) == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    size_t cap = size > max_size ? size : max_size;
    uint8_t *copy = malloc(cap ? cap : 1), *buf = malloc(cap ? cap : 1);
    if (!copy || !buf) {
        free(copy);
        free(buf);
        return LLVMFuzzerMutate(data, size, max_size);
    }
    size_t n = 0;
    for (int t = 0; t < MAX_TRIES; t++) {
        n = mutate_once(data, size, copy, buf, max_size);
        if (n > 0 && (!mutate_accepts || mutate_accepts(buf, n)))
            break;
    }
    if (n > 0)
        memcpy(data, buf, n);
    free(copy);
    free(buf);
    return n == 0 ? LLVMFuzzerMutate(data, size, max_size) : n;
}

/* Crossover: the lines of the first input with one line of the second
   put in at a random line boundary (a declaration or a `let` of another
   model, which may use names this one declares). */
static size_t crossover_once(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                             uint8_t *out, size_t max_out)
{
    static int start[1024];
    tokenize(d2, s2);
    int n2 = lines(d2, start, 1023);
    start[n2] = ntoks;
    if (n2 == 0)
        return 0;
    int l2 = (int)rnd((unsigned)n2);
    size_t from = start[l2] < ntoks ? toks[start[l2]].at : s2;
    size_t to = start[l2 + 1] < ntoks ? toks[start[l2 + 1]].at : s2;
    tokenize(d1, s1);
    int n1 = lines(d1, start, 1023);
    int l1 = n1 > 0 ? start[rnd((unsigned)n1)] : ntoks;
    size_t at = l1 < ntoks ? toks[l1].at : s1;
    Out o = {out, 0, max_out, 0};
    put(&o, d1, at);
    put(&o, d2 + from, to - from);
    if (to == s2)
        puts_(&o, "\n");
    put(&o, d1 + at, s1 - at);
    return o.over ? 0 : o.n;
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed)
{
    rstate = seed;
    size_t n = 0;
    for (int t = 0; t < MAX_TRIES; t++) {
        n = crossover_once(d1, s1, d2, s2, out, max_out);
        if (n > 0 && (!mutate_accepts || mutate_accepts(out, n)))
            break;
    }
    return n;
}
