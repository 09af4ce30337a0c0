/*
 * main.c - the dilc command line (SPEC section 3).
 *
 *   dilc model.dil -o model.c     writes model.c and model.h
 *
 * Exit status: 0 success, 1 errors in the model, 2 bad usage or I/O.
 * Outputs (model.c, model.h and the --dot graph) are written to temporary
 * files and renamed into place only when the whole compilation succeeded,
 * so a failed run never leaves a half-written file behind or clobbers a
 * good one.
 */
#include "dilc.h"

#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: dilc MODEL.dil [-o FILE.c] [options]\n"
    "\n"
    "Compiles a differentiable implicit layer model to C: FILE.c holds the\n"
    "kernels and the descriptor, FILE.h (beside it) declares them.\n"
    "\n"
    "options:\n"
    "  -o FILE              output C file (default: MODEL.c next to MODEL.dil);\n"
    "                       the header goes to FILE with .h\n"
    "  --prefix NAME        C prefix instead of the model name\n"
    "  --check              parse and check only; diagnostics, no output\n"
    "  --print-derivatives  print the simplified derivatives in readable math\n"
    "  --stats              operation counts of every emitted kernel\n"
    "  --dot FILE           the expression graph as Graphviz\n"
    "  --dump-ast           print the syntax tree (for debugging)\n"
    "  --dump=PASS          print the result of a pass: sema (the model's IR),\n"
    "                       derive (every kernel's IR), schedule (each kernel's\n"
    "                       steps, storage and work); repeatable\n"
    "  --help, --version    as usual\n";

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

/* Reads a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    errno = 0;
    while (buf) {
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
    fclose(f);
    if (!buf || err) {
        free(buf);
        errno = err ? err : ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *with_suffix(const char *path, const char *old, const char *new_suffix)
{
    size_t n = strlen(path), o = strlen(old);
    if (n >= o && !strcmp(path + n - o, old))
        n -= o;
    char *s = malloc(n + strlen(new_suffix) + 1);
    if (!s)
        dil_fatal("out of memory");
    memcpy(s, path, n);
    strcpy(s + n, new_suffix);
    return s;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int main(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *dot_path = NULL;
    DriverOptions o;
    memset(&o, 0, sizeof o);
    int print_derivs = 0, stats = 0, dump_ast = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("dilc %s\n", DILC_VERSION);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--prefix") || !strcmp(a, "--dot")) {
            if (i + 1 >= argc)
                return bad_usage("option '%s' needs an argument", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o"))
                output = v;
            else if (!strcmp(a, "--dot"))
                dot_path = v;
            else if (!is_identifier(v))
                return bad_usage("--prefix needs a C identifier, got '%s'", v);
            else
                o.prefix = v;
        } else if (!strcmp(a, "--check")) {
            o.check_only = 1;
        } else if (!strcmp(a, "--print-derivatives")) {
            print_derivs = 1;
        } else if (!strcmp(a, "--stats")) {
            stats = 1;
        } else if (!strcmp(a, "--dump-ast")) {
            dump_ast = 1;
        } else if (!strncmp(a, "--dump=", 7)) {
            int p = 0;
            while (p < DUMP__COUNT && strcmp(a + 7, dilc_pass_name[p]))
                p++;
            if (p == DUMP__COUNT)
                return bad_usage("unknown pass in '%s' (sema, derive or schedule)", a);
            o.dump = stdout;
            o.dump_passes |= 1u << p;
        } else if (a[0] == '-' && a[1]) {
            return bad_usage("unknown option '%s'", a);
        } else if (input) {
            return bad_usage("more than one input file ('%s')", a);
        } else {
            input = a;
        }
    }
    if (!input)
        return bad_usage("%s", "no input file");

    SrcFile src;
    src.name = input;
    char *text = read_file(input, &src.len);
    if (!text) {
        fprintf(stderr, "dilc: cannot read '%s': %s\n", input, strerror(errno));
        return 2;
    }
    src.text = text;

    char *c_path = output ? with_suffix(output, "", "") : with_suffix(input, ".dil", ".c");
    char *h_path = with_suffix(c_path, ".c", ".h");
    char *c_tmp = with_suffix(c_path, "", ".tmp");
    char *h_tmp = with_suffix(h_path, "", ".tmp");
    char *dot_tmp = dot_path ? with_suffix(dot_path, "", ".tmp") : NULL;
    int dot_made = 0;         /* dot_tmp is ours to rename or remove */
    o.header_name = base_name(h_path);
    if (print_derivs)
        o.print_derivatives = stdout;
    if (stats)
        o.stats = stdout;
    if (dump_ast)
        o.dump_ast = stdout;
    int status = 0;
    if (!o.check_only) {
        if (!strcmp(c_path, h_path)) {
            status = bad_usage("output '%s' must end in .c", c_path);
            goto done;
        }
        o.c_out = fopen(c_tmp, "w");
        o.h_out = o.c_out ? fopen(h_tmp, "w") : NULL;
        if (!o.c_out || !o.h_out) {
            fprintf(stderr, "dilc: cannot write '%s': %s\n", o.c_out ? h_tmp : c_tmp,
                    strerror(errno));
            status = 2;
            goto done;
        }
    }
    if (dot_path && !o.check_only) {
        o.dot = fopen(dot_tmp, "w");
        if (!o.dot) {
            fprintf(stderr, "dilc: cannot write '%s': %s\n", dot_tmp, strerror(errno));
            status = 2;
            goto done;
        }
        dot_made = 1;
    }
    status = dilc_run(&src, &o, stderr);
    /* A failure without a diagnostic is a failed write of the output. */
    if (status != 0 && diag_errors() == 0) {
        fprintf(stderr, "dilc: error writing '%s'\n", c_path);
        status = 2;
    }
    if (o.dot && fclose(o.dot) != 0 && status == 0) {
        fprintf(stderr, "dilc: cannot write '%s'\n", dot_path);
        status = 2;
    }
    o.dot = NULL;
done:
    if (o.c_out) {
        int bad = fclose(o.c_out) != 0;
        bad |= o.h_out && fclose(o.h_out) != 0;
        if (status == 0 && bad) {
            fprintf(stderr, "dilc: error writing '%s'\n", c_path);
            status = 2;
        }
        if (status == 0 && (rename(c_tmp, c_path) != 0 || rename(h_tmp, h_path) != 0)) {
            fprintf(stderr, "dilc: cannot write '%s': %s\n", c_path, strerror(errno));
            status = 2;
        }
        if (status != 0) {
            remove(c_tmp);
            remove(h_tmp);
        }
    }
    if (o.dot)
        fclose(o.dot);
    if (dot_made) {
        if (status == 0 && rename(dot_tmp, dot_path) != 0) {
            fprintf(stderr, "dilc: cannot write '%s': %s\n", dot_path, strerror(errno));
            status = 2;
        }
        if (status != 0)
            remove(dot_tmp);
    }
    free(text);
    free(c_path);
    free(h_path);
    free(c_tmp);
    free(h_tmp);
    free(dot_tmp);
    return status;
}
