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
#include <string.h>

static const SrcFile *src;    /* the file being compiled, or NULL */
static FILE *dout;            /* where messages go */
static int nerrors;           /* errors printed */
static int stopped;           /* the limit was reached */

void diag_init(const SrcFile *file, FILE *out)
{
    src = file;
    dout = out ? out : stderr;
    nerrors = 0;
    stopped = 0;
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

static int src_len(void)
{
    return src && src->text ? (int)src->len : 0;
}

/* An offset clamped into the file.  At the end of the file after a final
   newline (or CRLF) it moves back onto that newline, so that "unexpected
   end of file" points just past the last line rather than at an empty
   line that the user never sees. */
static int clamp(int off)
{
    int len = src_len();
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

/* First byte of the line holding off. */
static int line_start(int off)
{
    while (off > 0 && src->text[off - 1] != '\n')
        off--;
    return off;
}

/* One past the last byte of the line starting at ls (its '\n' or EOF). */
static int line_end(int ls)
{
    int len = src_len();
    const char *nl = memchr(src->text + ls, '\n', (size_t)(len - ls));
    return nl ? (int)(nl - src->text) : len;
}

void diag_line_col(int offset, int *line, int *col)
{
    int off = clamp(offset), ln = 1;
    for (int i = 0; i < off; i++)
        ln += src->text[i] == '\n';
    *line = ln;
    *col = off - line_start(off) + 1;
}

/* A UTF-8 continuation byte takes no column of its own on a terminal. */
static int is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xbf;
}

/* The source line of loc and a caret line under [begin, end). */
static void show_range(Loc loc)
{
    if (!src || !src->text)
        return;
    int b = clamp(loc.begin);
    int ls = line_start(b), le = line_end(ls);
    if (le > ls && src->text[le - 1] == '\r')
        le--;                 /* a CRLF file: the CR is not shown */
    if (b > le)
        b = le;
    int e = loc.end < le ? loc.end : le;
    const unsigned char *t = (const unsigned char *)src->text;

    for (int i = ls; i < le; i++) {
        /* Control bytes (NUL, CR, ...) would garble the terminal. */
        int c = t[i];
        fputc(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : ' ', dout);
    }
    fputc('\n', dout);

    for (int i = ls; i < b; i++)
        if (!is_cont(t[i]))
            fputc(t[i] == '\t' ? '\t' : ' ', dout);
    fputc('^', dout);
    for (int i = b + 1; i < e; i++)
        if (!is_cont(t[i]))
            fputc('~', dout);
    fputc('\n', dout);
}

static void report(const char *kind, Loc loc, const char *fmt, va_list ap)
{
    int line = 1, col = 1;
    if (src && src->text)
        diag_line_col(loc.begin, &line, &col);
    fprintf(dout, "%s:%d:%d: %s: ", file_name(), line, col, kind);
    vfprintf(dout, fmt, ap);
    fputc('\n', dout);
    show_range(loc);
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
