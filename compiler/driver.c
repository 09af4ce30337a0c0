/*
 * driver.c - the whole compiler on one in-memory source.
 *
 * main.c (files, options, exit codes) and the fuzzer both come through
 * here, so that what is fuzzed is exactly what users run.  A run owns the
 * arena: everything it allocated is released before it returns.
 */
#include "dilc.h"

#include "driver.h"

#include <stdlib.h>
#include <string.h>

const char *const dilc_pass_name[DUMP__COUNT] = {"sema", "derive", "schedule"};

/* The IR verifier runs between the passes when DILC_VERIFY is set (make
   check sets it): a failed check is an internal error, not a message. */
static int verifying(void)
{
    const char *v = getenv("DILC_VERIFY");
    return v && *v && strcmp(v, "0") != 0;
}

static int dumping(const DriverOptions *o, DumpPass p)
{
    return o->dump && (o->dump_passes & (1u << p));
}

int dilc_run(const SrcFile *src, const DriverOptions *o, FILE *diag_out)
{
    int status = 1;
    ir_init();
    diag_init(src, diag_out);
    Decl *decls = parse_file(src);
    if (diag_errors())
        goto out;
    if (o->dump_ast)
        ast_dump(o->dump_ast, decls);
    Model *m = sema_model_ex(decls, o->unroll);
    if (!m || diag_errors())
        goto out;
    /* Names that would make the emitted C clash with libdil or with C
       itself; --check reports them too, the compile would fail. */
    if (!o->prefix && emit_reserved_prefix(m->name)) {
        diag_error(m->name_loc, "model name '%s' cannot be a C prefix: %s; rename the model "
                   "or give --prefix", m->name, emit_reserved_prefix(m->name));
        goto out;
    }
    if (verifying())
        ir_verify_model(m);
    if (dumping(o, DUMP_SEMA))
        kern_print_model(o->dump, m);
    if (o->check_only) {
        status = 0;
        goto out;
    }
    Kernels *ks = kern_derive(m);
    if (!ks)
        goto out;
    if (verifying())
        kern_verify(ks);
    if (o->print_derivatives)
        kern_print_derivatives(o->print_derivatives, ks);
    if (dumping(o, DUMP_DERIVE))
        kern_print_derivatives(o->dump, ks);
    Schedule *sc = schedule_build(ks);
    if (schedule_work(sc) > SCHED_MAX_WORK) {
        diag_error(m->loc, "model too large: its kernels need %ld doubles of work, more than "
                           "the limit, %ld (a shorter horizon needs less)",
                   schedule_work(sc), SCHED_MAX_WORK);
        goto out;
    }
    if (verifying())
        schedule_verify(sc);
    if (dumping(o, DUMP_SCHEDULE))
        schedule_dump(o->dump, sc);
    if (o->stats)
        schedule_print_stats(o->stats, sc);
    if (o->dot)
        kern_dot(o->dot, ks);
    EmitOptions eo = {o->prefix ? o->prefix : m->name, o->header_name, src->name};
    /* Without a header name the header's text opens the C file itself
       (dilc -o -), which then includes nothing of its own. */
    if (o->c_out && !o->header_name && emit_h(o->c_out, m, sc, &eo) != 0)
        goto out;
    if (o->c_out && emit_c(o->c_out, m, sc, &eo) != 0)
        goto out;
    if (o->h_out && emit_h(o->h_out, m, sc, &eo) != 0)
        goto out;
    if (o->emitted)
        o->emitted(o->emitted_arg, m, eo.prefix);
    status = 0;
out:
    arena_release();
    return status;
}
