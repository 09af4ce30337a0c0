/*
 * driver.h - one compiler run on a buffer (driver.c), shared by main.c
 * and the fuzz target.
 */
#ifndef DRIVER_H
#define DRIVER_H

#include "dilc.h"

/* Passes whose result --dump=PASS prints. */
typedef enum DumpPass { DUMP_SEMA, DUMP_DERIVE, DUMP_SCHEDULE, DUMP__COUNT } DumpPass;
extern const char *const dilc_pass_name[DUMP__COUNT];

typedef struct DriverOptions {
    const char *prefix;          /* NULL: the model name */
    const char *header_name;     /* what the .c includes; NULL: the header's
                                    text is put at the top of c_out instead */
    int check_only;              /* --check */
    int unroll;                  /* --unroll: no rolled loops (for testing) */
    FILE *print_derivatives;     /* streams for the optional reports, or NULL */
    FILE *stats;
    FILE *dot;
    FILE *dump_ast;
    FILE *dump;                  /* --dump=PASS: where, and which passes */
    unsigned dump_passes;        /* bit 1 << DumpPass */
    FILE *c_out, *h_out;         /* NULL: not emitted */
    /* Called once the C and the header are written, while the model's IR
       is still alive (the arena is released after it), so that the
       differential fuzzer checks what dilc itself accepted and emitted
       against the IR it came from; NULL: nothing. */
    void (*emitted)(void *arg, const Model *m, const char *prefix);
    void *emitted_arg;
} DriverOptions;

/* 0 when the model compiled, 1 when diagnostics were reported. */
int dilc_run(const SrcFile *src, const DriverOptions *o, FILE *diag_out);

#endif
