/*
 * main.c - the dilc command line (SPEC section 3).
 *
 *   dilc model.dil -o model.c     writes model.c and model.h
 *
 * Exit status: 0 success, 1 errors in the model, 2 bad usage or I/O.
 *
 * The input is read whole, after a size check (a regular file's size is
 * looked at before anything is read; a pipe or device is read up to the
 * limit and no further).  Every output (the C file, its header, the --dot
 * graph) is produced in memory and written only when the whole
 * compilation succeeded: first each regular file to a temporary beside
 * its target, then outputs that are not regular files (standard output,
 * a device) directly, then the temporaries are renamed into place, the
 * previous files kept as hard links until every rename has succeeded so
 * that a failed rename puts them back.  docs/robustness.md says exactly
 * what that does and does not guarantee.
 */
#include "dilc.h"

#include "driver.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: dilc MODEL.dil [-o FILE.c] [options]\n"
    "\n"
    "Compiles a differentiable implicit layer model to C: FILE.c holds the\n"
    "kernels and the descriptor, FILE.h (beside it) declares them.  MODEL.dil\n"
    "may be '-' for standard input.\n"
    "\n"
    "options:\n"
    "  -o FILE              the C file; the header is FILE with its extension\n"
    "                       (.c .cc .cpp .cxx .C) replaced by .h, or with .h\n"
    "                       added.  '-o -' writes the C to standard output with\n"
    "                       the header's declarations at its top (or, with\n"
    "                       --header, an #include of that header).  Without -o:\n"
    "                       MODEL.c next to MODEL.dil (standard output for\n"
    "                       '-'), unless a report option below is given, which\n"
    "                       then writes no C at all\n"
    "  --header FILE        the header's path instead of the one derived from -o\n"
    "  --prefix NAME        C prefix instead of the model name\n"
    "  --check              parse and check only; diagnostics, no output\n"
    "  --unroll             unroll every `for` and `sum(t in ...)` instead of\n"
    "                       emitting C loops (for testing and comparison)\n"
    "  --print-derivatives  print the simplified derivatives (standard output)\n"
    "  --stats              operation counts and work of every kernel, and which\n"
    "                       loops rolled or why not (standard output)\n"
    "  --dot FILE           the expression graph as Graphviz ('-': standard output)\n"
    "  --dump-ast           print the syntax tree (standard output, for debugging)\n"
    "  --dump=PASS          print the result of a pass (standard output): sema\n"
    "                       (the model's IR), derive (every kernel's IR),\n"
    "                       schedule (each kernel's steps, storage and work);\n"
    "                       repeatable\n"
    "  --help, --version    as usual\n"
    "\n"
    "Outputs are written only when the compilation succeeds, regular files\n"
    "through temporaries renamed into place; -o writes through symbolic links.\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("dilc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nTry 'dilc --help'.\n", stderr);
    return 2;
}

static int is_identifier(const char *s)
{
    if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static char *xstrdup(const char *s)
{
    char *p = malloc(strlen(s) + 1);
    if (!p)
        dil_fatal("out of memory");
    return strcpy(p, s);
}

static char *concat(const char *a, size_t alen, const char *b)
{
    char *s = malloc(alen + strlen(b) + 1);
    if (!s)
        dil_fatal("out of memory");
    memcpy(s, a, alen);
    strcpy(s + alen, b);
    return s;
}

/* ------------------------------------------------------------------ */
/* The input                                                            */
/* ------------------------------------------------------------------ */

/* Reads a whole file ("-": standard input) of at most DIL_MAX_SOURCE
   bytes.  NULL with errno set on failure; *too_large when the limit was
   passed (then errno is 0).  A regular file's size is checked before any
   byte is read; anything else is read up to one byte past the limit. */
static char *read_source(const char *path, size_t *len, int *too_large)
{
    *too_large = 0;
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > DIL_MAX_SOURCE) {
        if (f != stdin)
            fclose(f);
        *too_large = 1;
        errno = 0;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    errno = 0;
    while (buf && n <= (size_t)DIL_MAX_SOURCE) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    /* Keep fread's own reason (EISDIR for a directory, which fopen
       accepts), so that the message says what is wrong. */
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    if (f != stdin)
        fclose(f);
    if (buf && !err && n > (size_t)DIL_MAX_SOURCE) {
        free(buf);
        *too_large = 1;
        errno = 0;
        return NULL;
    }
    if (!buf || err) {
        free(buf);
        errno = err ? err : ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ------------------------------------------------------------------ */
/* Output names                                                         */
/* ------------------------------------------------------------------ */

/* FILE.c, .cc, .cpp, .cxx, .C -> FILE.h; anything else gets .h added. */
static char *header_for(const char *c_path)
{
    static const char *const ext[] = {".c", ".cc", ".cpp", ".cxx", ".C"};
    size_t n = strlen(c_path);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && !strcmp(c_path + n - e, ext[i]) && c_path[n - e - 1] != '/')
            return concat(c_path, n - e, ".h");
    }
    return concat(c_path, n, ".h");
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* A header-name between quotes may not hold ", \, ', a newline or the
   start of a comment (C99 6.4.7); nothing can escape them, so such a
   name is refused. */
static int includable(const char *name)
{
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c == '"' || *c == '\\' || *c == '\'' || *c < 0x20 || *c == 0x7f)
            return 0;
    return !strstr(name, "//") && !strstr(name, "/*");
}

/* ------------------------------------------------------------------ */
/* Outputs: produced in memory, then written all or nothing             */
/* ------------------------------------------------------------------ */

typedef struct Output {
    const char *what;         /* for messages: the path as given */
    char *target;             /* the file written: symbolic links followed */
    int to_stdout;
    int direct;               /* not a regular file: written in place */
    int renamed;              /* the temporary is now the target */
    char *tmp, *backup;       /* temporary beside target; the old file */
    char *buf;                /* the content, from open_memstream */
    size_t len;
    FILE *mem;
} Output;

/* Follows symbolic links (at most 40, like the kernel) to the file they
   name, which may not exist yet.  Relative links are read against the
   link's own directory. */
static char *follow_links(const char *path)
{
    char *cur = xstrdup(path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            return cur;
        char link[PATH_MAX];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0)
            return cur;
        link[n] = '\0';
        char *next;
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash)
            next = xstrdup(link);
        else
            next = concat(cur, (size_t)(slash - cur) + 1, link);
        free(cur);
        cur = next;
    }
    return cur;               /* a loop: opening it will say so */
}

static void out_init(Output *o, const char *path)
{
    memset(o, 0, sizeof *o);
    o->what = path;
    o->to_stdout = !strcmp(path, "-");
    if (!o->to_stdout) {
        o->target = follow_links(path);
        struct stat st;
        o->direct = stat(o->target, &st) == 0 && !S_ISREG(st.st_mode);
    }
    o->mem = open_memstream(&o->buf, &o->len);
    if (!o->mem)
        dil_fatal("out of memory");
}

static void out_free(Output *o)
{
    if (o->mem)
        fclose(o->mem);
    if (o->tmp)
        remove(o->tmp);
    if (o->backup)
        remove(o->backup);
    free(o->buf);
    free(o->target);
    free(o->tmp);
    free(o->backup);
}

static int write_all(FILE *f, const char *buf, size_t len)
{
    return fwrite(buf, 1, len, f) == len && fflush(f) == 0 ? 0 : -1;
}

/* A temporary beside o->target holding the content, mode 0666 less the
   umask (as fopen would create it); 0, or -1 after a message. */
static int write_temp(Output *o)
{
    const char *b = base_name(o->target);
    size_t dir = (size_t)(b - o->target);
    char *dirpart = concat(o->target, dir, ".");
    o->tmp = concat(dirpart, strlen(dirpart), b);
    free(dirpart);
    char *tmpl = concat(o->tmp, strlen(o->tmp), ".dilc-XXXXXX");
    free(o->tmp);
    o->tmp = tmpl;
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "dilc: cannot write '%s': %s\n", o->what, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    FILE *f = fdopen(fd, "wb");
    int bad = !f || fchmod(fd, 0666 & ~mask) != 0 || write_all(f, o->buf, o->len) != 0;
    int saved = errno;
    if (f ? fclose(f) != 0 : close(fd) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "dilc: error writing '%s': %s\n", o->what, strerror(saved ? saved : EIO));
        return -1;
    }
    return 0;
}

/* Writes every output, or none of the regular files (see the top of the
   file).  0, or 2 after a message. */
static int commit(Output *outs, int n)
{
    for (int i = 0; i < n; i++) {
        if (fclose(outs[i].mem) != 0)
            dil_fatal("out of memory");
        outs[i].mem = NULL;
    }
    for (int i = 0; i < n; i++)
        if (!outs[i].to_stdout && !outs[i].direct && write_temp(&outs[i]) != 0)
            return 2;
    for (int i = 0; i < n; i++) {
        Output *o = &outs[i];
        if (!o->to_stdout && !o->direct)
            continue;
        FILE *f = o->to_stdout ? stdout : fopen(o->target, "wb");
        int bad = !f || write_all(f, o->buf, o->len) != 0;
        if (f && f != stdout && fclose(f) != 0)
            bad = 1;
        if (bad) {
            fprintf(stderr, "dilc: error writing '%s': %s\n", o->what, strerror(errno));
            return 2;
        }
    }
    /* Keep each file about to be replaced under a second name, so that a
       rename failing half-way can put back the ones already done. */
    for (int i = 0; i < n; i++) {
        Output *o = &outs[i];
        if (!o->tmp)
            continue;
        char *bk = concat(o->tmp, strlen(o->tmp), ".old");
        if (link(o->target, bk) == 0)
            o->backup = bk;
        else
            free(bk);
    }
    for (int i = 0; i < n; i++) {
        Output *o = &outs[i];
        if (!o->tmp)
            continue;
        if (rename(o->tmp, o->target) != 0) {
            fprintf(stderr, "dilc: cannot write '%s': %s\n", o->what, strerror(errno));
            for (int j = 0; j < i; j++) {
                Output *d = &outs[j];
                if (!d->renamed)
                    continue;
                if (d->backup ? rename(d->backup, d->target) : remove(d->target))
                    fprintf(stderr, "dilc: could not restore '%s': %s\n", d->what,
                            strerror(errno));
                free(d->backup);
                d->backup = NULL;
            }
            return 2;
        }
        free(o->tmp);
        o->tmp = NULL;        /* renamed: nothing to remove */
        o->renamed = 1;
    }
    return 0;                 /* out_free removes the backups */
}

/* ------------------------------------------------------------------ */
/* The run                                                              */
/* ------------------------------------------------------------------ */

typedef struct Args {
    const char *input, *output, *header, *dot;
    int print_derivs, stats, dump_ast;
    DriverOptions o;
} Args;

static int parse_args(int argc, char **argv, Args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(s, "--version")) {
            printf("dilc %s\n", DILC_VERSION);
            return 0;
        } else if (!strcmp(s, "-o") || !strcmp(s, "--prefix") || !strcmp(s, "--dot") ||
                   !strcmp(s, "--header")) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs an argument", s);
            const char *v = argv[++i];
            if (!*v)
                return bad_usage("option '%s' needs a non-empty argument", s);
            if (!strcmp(s, "-o"))
                a->output = v;
            else if (!strcmp(s, "--dot"))
                a->dot = v;
            else if (!strcmp(s, "--header"))
                a->header = v;
            else if (!is_identifier(v))
                return bad_usage("--prefix needs a C identifier, got '%s'", v);
            else if (emit_reserved_prefix(v)) {
                fprintf(stderr, "dilc: --prefix '%s' is reserved: %s\n", v,
                        emit_reserved_prefix(v));
                return 2;
            } else
                a->o.prefix = v;
        } else if (!strcmp(s, "--check")) {
            a->o.check_only = 1;
        } else if (!strcmp(s, "--unroll")) {
            a->o.unroll = 1;
        } else if (!strcmp(s, "--print-derivatives")) {
            a->print_derivs = 1;
        } else if (!strcmp(s, "--stats")) {
            a->stats = 1;
        } else if (!strcmp(s, "--dump-ast")) {
            a->dump_ast = 1;
        } else if (!strncmp(s, "--dump=", 7)) {
            int p = 0;
            while (p < DUMP__COUNT && strcmp(s + 7, dilc_pass_name[p]))
                p++;
            if (p == DUMP__COUNT)
                return bad_usage("unknown pass in '%s' (sema, derive or schedule)", s);
            a->o.dump = stdout;
            a->o.dump_passes |= 1u << p;
        } else if (s[0] == '-' && s[1]) {
            return bad_usage("unknown option '%s'", s);
        } else if (a->input) {
            return bad_usage("more than one input file ('%s')", s);
        } else {
            a->input = s;
        }
    }
    if (!a->input)
        return bad_usage("%s", "no input file");
    return -1;                /* go on */
}

/* The paths of the C file and header (NULL: not written; "-": standard
   output), from the options.  0, or 2 after a message. */
static int plan_outputs(Args *a, char **c_path, char **h_path)
{
    *c_path = *h_path = NULL;
    if (a->o.check_only)
        return 0;
    int reports = a->print_derivs || a->stats || a->dump_ast || a->o.dump || a->dot;
    if (a->output)
        *c_path = xstrdup(a->output);
    else if (!reports)
        *c_path = strcmp(a->input, "-") ? NULL : xstrdup("-");
    if (!a->output && !reports && strcmp(a->input, "-")) {
        size_t n = strlen(a->input);
        int dil = n > 4 && !strcmp(a->input + n - 4, ".dil");
        *c_path = concat(a->input, dil ? n - 4 : n, ".c");
    }
    if (a->header && !*c_path)
        return bad_usage("%s", "--header needs C output (-o)");
    if (*c_path)
        *h_path = a->header ? xstrdup(a->header) : strcmp(*c_path, "-") ? header_for(*c_path) : NULL;
    if (*h_path && !strcmp(*h_path, "-"))
        return bad_usage("%s", "the header cannot go to standard output (use -o - alone)");
    if (*h_path && !strcmp(*h_path, *c_path))
        return bad_usage("the C file and the header are both '%s'", *h_path);
    if (*h_path && !includable(base_name(*h_path)))
        return bad_usage("cannot #include a header named '%s': choose a name without quotes, "
                         "backslashes or control characters",
                         base_name(*h_path));
    int on_stdout = (*c_path && !strcmp(*c_path, "-")) + (a->dot && !strcmp(a->dot, "-"));
    if (on_stdout + (a->print_derivs || a->stats || a->dump_ast || a->o.dump) > 1)
        return bad_usage("%s", "more than one output for standard output");
    return 0;
}

static int compile(Args *a, const SrcFile *src)
{
    char *c_path, *h_path;
    int status = plan_outputs(a, &c_path, &h_path);
    Output outs[3];
    int n = 0;
    Output *c_out = NULL, *h_out = NULL, *dot_out = NULL;
    if (status == 0 && c_path) {
        out_init(c_out = &outs[n++], c_path);
        if (h_path)
            out_init(h_out = &outs[n++], h_path);
    }
    if (status == 0 && a->dot && !a->o.check_only)
        out_init(dot_out = &outs[n++], a->dot);
    if (status == 0) {
        DriverOptions o = a->o;
        o.c_out = c_out ? c_out->mem : NULL;
        o.h_out = h_out ? h_out->mem : NULL;
        o.header_name = h_out ? base_name(h_path) : NULL;   /* NULL: inline */
        o.dot = dot_out ? dot_out->mem : NULL;
        o.print_derivatives = a->print_derivs ? stdout : NULL;
        o.stats = a->stats ? stdout : NULL;
        o.dump_ast = a->dump_ast ? stdout : NULL;
        status = dilc_run(src, &o, stderr);
        if (status != 0 && diag_errors() == 0) {
            fprintf(stderr, "dilc: error writing the output\n");
            status = 2;
        }
    }
    if (status == 0 && fflush(stdout) != 0) {
        fprintf(stderr, "dilc: error writing to standard output: %s\n", strerror(errno));
        status = 2;
    }
    if (status == 0)
        status = commit(outs, n);
    for (int i = 0; i < n; i++)
        out_free(&outs[i]);
    free(c_path);
    free(h_path);
    return status;
}

int main(int argc, char **argv)
{
    Args a;
    int status = parse_args(argc, argv, &a);
    if (status >= 0)
        return status;
    SrcFile src;
    src.name = strcmp(a.input, "-") ? a.input : "<stdin>";
    int too_large;
    char *text = read_source(a.input, &src.len, &too_large);
    if (too_large) {
        /* A model error (exit 1), at the start of the file. */
        SrcFile none = {src.name, NULL, 0};
        diag_init(&none, stderr);
        diag_error((Loc){0, 0}, "file is too large: more than %ld bytes", (long)DIL_MAX_SOURCE);
        return 1;
    }
    if (!text) {
        fprintf(stderr, "dilc: cannot read '%s': %s\n", src.name, strerror(errno));
        return 2;
    }
    src.text = text;
    status = compile(&a, &src);
    free(text);
    return status;
}
