/*
 * arena.c - the compiler's memory: one arena per run.
 *
 * Every allocation of a compiler run comes from here, zeroed, and is freed
 * at once by arena_release().  GMP rationals are tracked too, so that
 * their limbs are cleared with the rest.  Running out of memory is fatal
 * with a clear message; no phase checks for NULL.
 */
#include "dilc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Chunk {
    struct Chunk *next;
    size_t size, used;
    double data[];            /* double: aligned for everything we store */
} Chunk;

typedef struct MpqList {
    struct MpqList *next;
    int n;
    mpq_t q[64];
} MpqList;

static Chunk *chunks;
static MpqList *mpqs;

DIL_NORETURN void dil_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dilc: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

DIL_NORETURN void dil_internal_error(const char *file, int line)
{
    fprintf(stderr, "dilc: internal error at %s:%d (please report)\n", file, line);
    abort();
}

void *arena_alloc(size_t n)
{
    const size_t align = sizeof(double) > sizeof(void *) ? sizeof(double) : sizeof(void *);
    n = (n + align - 1) / align * align;
    if (!chunks || chunks->size - chunks->used < n) {
        size_t size = n > (1u << 20) ? n : (1u << 20);
        Chunk *c = calloc(1, sizeof(Chunk) + size);
        if (!c)
            dil_fatal("out of memory");
        c->size = size;
        c->next = chunks;
        chunks = c;
    }
    void *p = (unsigned char *)chunks->data + chunks->used;
    chunks->used += n;
    return p;
}

/* The one growable array of the compiler (see VEC_PUSH in dilc.h).  The
   array is extended in place when it is the last allocation of the
   current chunk, else copied; a copy leaves the old block to the arena,
   at most as much again as the final array. */
void *arena_grow(void *p, int *cap, int need, size_t elt)
{
    if (need <= *cap)
        return p;
    if (need < 0 || (size_t)need > ((size_t)-1 / 4) / elt)
        dil_fatal("out of memory");
    int ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap = ncap > (1 << 29) ? need : 2 * ncap;
    size_t old = (size_t)*cap * elt, add = (size_t)(ncap - *cap) * elt;
    const size_t align = sizeof(double) > sizeof(void *) ? sizeof(double) : sizeof(void *);
    old = (old + align - 1) / align * align;
    add = (add + align - 1) / align * align;
    if (p && chunks && (unsigned char *)p + old == (unsigned char *)chunks->data + chunks->used &&
        chunks->size - chunks->used >= add) {
        memset((unsigned char *)chunks->data + chunks->used, 0, add);
        chunks->used += add;
    } else {
        void *q = arena_alloc((size_t)ncap * elt);
        if (p)
            memcpy(q, p, (size_t)*cap * elt);
        p = q;
    }
    *cap = ncap;
    return p;
}

char *arena_strndup(const char *s, size_t n)
{
    char *p = arena_alloc(n + 1);
    memcpy(p, s, n);
    return p;
}

char *dil_vasprintf(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        unreachable();
    char *p = malloc((size_t)n + 1);
    if (!p)
        dil_fatal("out of memory");
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_vprintf(const char *fmt, va_list ap)
{
    char *h = dil_vasprintf(fmt, ap);
    char *p = arena_strndup(h, strlen(h));
    free(h);
    return p;
}

char *arena_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(fmt, ap);
    va_end(ap);
    return p;
}

mpq_ptr arena_mpq(void)
{
    if (!mpqs || mpqs->n == 64) {
        MpqList *l = calloc(1, sizeof *l);
        if (!l)
            dil_fatal("out of memory");
        l->next = mpqs;
        mpqs = l;
    }
    mpq_ptr q = mpqs->q[mpqs->n++];
    mpq_init(q);
    return q;
}

void arena_release(void)
{
    while (mpqs) {
        MpqList *next = mpqs->next;
        for (int i = 0; i < mpqs->n; i++)
            mpq_clear(mpqs->q[i]);
        free(mpqs);
        mpqs = next;
    }
    while (chunks) {
        Chunk *next = chunks->next;
        free(chunks);
        chunks = next;
    }
}
