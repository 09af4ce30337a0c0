/*
 * vmath.c - writes the vectorisable elementwise functions an emitted model
 * uses (vmath_text.h): the closure of the requested blocks under their
 * dependencies, in the table's order, with the DILP_ prefix token replaced.
 */
#include "vmath_text.h"

#include "dilc.h"

#include <string.h>

static int find(const char *name, size_t len)
{
    for (int i = 0; i < vmath_nfns; i++)
        if (strlen(vmath_fns[i].name) == len && !strncmp(vmath_fns[i].name, name, len))
            return i;
    return -1;
}

/* Mark block i and, recursively, what it uses (the graph is a DAG whose
   edges go to earlier blocks, so this terminates). */
static void mark(int i, char *need)
{
    if (need[i])
        return;
    need[i] = 1;
    for (const char *d = vmath_fns[i].deps; *d;) {
        size_t len = strcspn(d, " ");
        int j = find(d, len);
        if (j >= 0)
            mark(j, need);
        d += len;
        d += strspn(d, " ");
    }
}

static void put_prefixed(FILE *out, const char *text, const char *prefix)
{
    const char *tok = "DILP_";
    for (const char *p; (p = strstr(text, tok)); text = p + strlen(tok)) {
        fwrite(text, 1, (size_t)(p - text), out);
        fputs(prefix, out);
    }
    fputs(text, out);
}

int vmath_write(FILE *out, const char *prefix, const char *const *names, int n)
{
    char need[64] = {0};
    if (vmath_nfns > (int)sizeof need)
        unreachable();
    for (int k = 0; k < n; k++) {
        int i = find(names[k], strlen(names[k]));
        if (i < 0)
            return -1;
        mark(i, need);
    }
    if (n == 0)
        return 0;
    fputs("#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n", out);
    for (int i = 0; i < vmath_nfns; i++)
        if (need[i]) {
            put_prefixed(out, vmath_fns[i].text, prefix);
            fputc('\n', out);
        }
    return 0;
}
