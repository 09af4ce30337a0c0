/*
 * diag.c - diagnostics in GCC's format.
 *
 * Every message names a source range as byte offsets (Loc); only here are
 * they turned into line:col, by counting newlines, and printed as
 *
 *     file:line:col: error: message
 *     <the source line>
 *         ^~~~
 *
 * with the caret under the first byte of the range and tildes under the
 * rest of it (clipped to that line).  Errors are counted; after
 * DIAG_MAX_ERRORS one "too many errors" line is printed and everything
 * later is dropped, which tells the parser to stop.  All state lives in the
 * few statics below and diag_init() resets them, so the compiler can run
 * many times in one process (the fuzzer does).
 */
#include "dilc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const SrcFile *src;    /* the file being compiled, or NULL */
static FILE *dout;            /* where messages go */
static int nerrors;           /* errors printed */
static int stopped;           /* the limit was reached */
static long cache_off, cache_line = 1, cache_ls;   /* locate()'s last answer */

void diag_init(const SrcFile *file, FILE *out)
{
    src = file;
    dout = out ? out : stderr;
    nerrors = 0;
    stopped = 0;
    cache_off = cache_ls = 0;
    cache_line = 1;
}

int diag_errors(void)
{
    return nerrors;
}

int diag_too_many(void)
{
    return stopped;
}

static const char *file_name(void)
{
    return src && src->name ? src->name : "dilc";
}

/* Bytes of the file; offsets beyond it are clamped.  A long, never an
   int: a cast of a file of 2 GiB or more to int once went negative. */
static long src_len(void)
{
    return src && src->text ? (long)src->len : 0;
}

/* An offset clamped into the file.  At the end of the file after a final
   newline (or CRLF) it moves back onto that newline, so that "unexpected
   end of file" points just past the last line rather than at an empty
   line that the user never sees. */
static long clamp(long off)
{
    long len = src_len();
    if (off > len)
        off = len;
    if (off < 0)
        off = 0;
    if (off == len && off > 0 && src->text[off - 1] == '\n') {
        off--;
        if (off > 0 && src->text[off - 1] == '\r')
            off--;
    }
    return off;
}

/* Line number and first byte of the line of an offset.  Diagnostics come
   mostly in file order, so the count resumes from the last answer, and
   newlines are found with memchr: twenty errors at the end of a long file
   cost one pass over it, not twenty. */
static void locate(long off, long *line, long *ls)
{
    if (off < cache_off) {
        cache_off = 0;
        cache_line = 1;
        cache_ls = 0;
    }
    const char *t = src->text;
    for (;;) {
        const char *nl = memchr(t + cache_off, '\n', (size_t)(off - cache_off));
        if (!nl)
            break;
        cache_line++;
        cache_off = cache_ls = nl - t + 1;
    }
    cache_off = off;
    *line = cache_line;
    *ls = cache_ls;
}

/* One past the last byte of the line starting at ls (its '\n' or EOF),
   looking no further than `limit`. */
static long line_end(long ls, long limit)
{
    long len = src_len();
    if (limit > len)
        limit = len;
    const char *nl = memchr(src->text + ls, '\n', (size_t)(limit - ls));
    return nl ? nl - src->text : limit;
}

void diag_line_col(int offset, int *line, int *col)
{
    long off = clamp(offset), ln, ls;
    locate(off, &ln, &ls);
    *line = (int)ln;
    *col = (int)(off - ls + 1);
}

/* A UTF-8 continuation byte takes no column of its own on a terminal. */
static int is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xbf;
}

/* A longer line is shown as the DIAG_CONTEXT bytes either side of the
   range's start, with "..." where it was cut. */
#define DIAG_LONG_LINE 200
#define DIAG_CONTEXT 80

/* The source line of loc and a caret line under [begin, end). */
static void show_range(FILE *out, Loc loc)
{
    if (!src || !src->text)
        return;
    long b = clamp(loc.begin), ln, ls;
    locate(b, &ln, &ls);
    long le = line_end(ls, b + DIAG_LONG_LINE + 2);
    if (le > ls && src->text[le - 1] == '\r')
        le--;                 /* a CRLF file: the CR is not shown */
    if (b > le)
        b = le;
    const unsigned char *t = (const unsigned char *)src->text;
    /* The window [ws, we) shown of [ls, le), cut at character starts. */
    long ws = ls, we = le;
    if (le - ls > DIAG_LONG_LINE) {
        ws = b - DIAG_CONTEXT > ls ? b - DIAG_CONTEXT : ls;
        while (ws > ls && is_cont(t[ws]))
            ws--;
        we = b + DIAG_CONTEXT < le ? b + DIAG_CONTEXT : le;
        while (we < le && is_cont(t[we]))
            we++;
    }
    long e = loc.end < we ? loc.end : we;
    const char *pre = ws > ls ? "..." : "";

    fputs(pre, out);
    for (long i = ws; i < we; i++) {
        /* Control bytes (NUL, CR, ...) would garble the terminal. */
        int c = t[i];
        fputc(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : ' ', out);
    }
    fputs(we < le ? "...\n" : "\n", out);

    fputs(*pre ? "   " : "", out);
    for (long i = ws; i < b; i++)
        if (!is_cont(t[i]))
            fputc(t[i] == '\t' ? '\t' : ' ', out);
    fputc('^', out);
    for (long i = b + 1; i < e; i++)
        if (!is_cont(t[i]))
            fputc('~', out);
    fputc('\n', out);
}

/* One diagnostic is formatted in memory and written at once: stderr is
   unbuffered, and a byte at a time made 20 errors on one long line take
   seconds. */
static void report(const char *kind, Loc loc, const char *fmt, va_list ap)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        dil_fatal("out of memory");
    int line = 1, col = 1;
    if (src && src->text)
        diag_line_col(loc.begin, &line, &col);
    fprintf(out, "%s:%d:%d: %s: ", file_name(), line, col, kind);
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    show_range(out, loc);
    if (fclose(out) != 0)
        dil_fatal("out of memory");
    fwrite(buf, 1, len, dout);
    fflush(dout);
    free(buf);
}

void diag_error(Loc loc, const char *fmt, ...)
{
    if (stopped)
        return;
    va_list ap;
    va_start(ap, fmt);
    report("error", loc, fmt, ap);
    va_end(ap);
    if (++nerrors >= DIAG_MAX_ERRORS) {
        fprintf(dout, "%s: error: too many errors, stopping\n", file_name());
        stopped = 1;
    }
}

void diag_note(Loc loc, const char *fmt, ...)
{
    if (stopped)
        return;
    va_list ap;
    va_start(ap, fmt);
    report("note", loc, fmt, ap);
    va_end(ap);
}
