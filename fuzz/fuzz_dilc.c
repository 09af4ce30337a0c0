/*
 * fuzz_dilc.c - libFuzzer target: the whole compiler on one input.
 *
 * Each input is compiled as if it were a file "fuzz.dil" handed to dilc:
 * dilc_run parses, checks, derives every kernel and emits the C and the
 * header, so every phase a user can reach is exercised.  Diagnostics and
 * emitted code go to /dev/null; the run's arena is released by dilc_run
 * itself, so LeakSanitizer sees any memory that outlives a run.  Built by
 * `make fuzz` with -fsanitize=fuzzer,address,undefined (see the Makefile).
 */
#include "dilc.h"

#include "driver.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* dilc reads a file into a NUL-terminated buffer; do the same. */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    if (!sink)
        sink = fopen("/dev/null", "w");
    if (!sink)
        abort();

    SrcFile src = {"fuzz.dil", text, size};
    DriverOptions o;
    memset(&o, 0, sizeof o);
    o.header_name = "fuzz.h";
    o.c_out = sink;
    o.h_out = sink;
    /* The optional reports walk the IR their own way (irprint.c): run
       them too, on a cheap deterministic choice of inputs. */
    if (size % 4 == 1)
        o.print_derivatives = sink;
    else if (size % 4 == 2)
        o.stats = sink;
    else if (size % 4 == 3)
        o.dot = sink;
    dilc_run(&src, &o, sink);
    free(text);
    return 0;
}
