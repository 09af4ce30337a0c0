# DIL: one non-recursive Makefile.  Everything built goes to build/.
#
#   make            dilc, libdil, the examples
#   make demo       build, then run the Kepler demo
#   make check      build and run every test
#   make bench      benchmarks (callgrind instruction counts, timings, the
#                   horizon sweep of rolled loops: bench/horizon.sh)
#   make sanitize   the test suite under ASan+UBSan
#   make tsan       the batch tests under ThreadSanitizer (tests/tsan.sh)
#   make valgrind   dilc, the unit suites and the model tests under memcheck
#   make fuzz       libFuzzer on the whole compiler (FUZZ_SECONDS=N)
#   make generated  refresh generated/ from models/ (then commit it)
#   V=1             show the commands

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2 -g -gdwarf-4   # DWARF 4: valgrind 3.19 cannot read clang 14's DWARF 5
WARN    = -Wall -Wextra -Wpedantic -Werror -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -Wno-unused-parameter
CSTD    = -std=c99 -D_POSIX_C_SOURCE=200809L
SAN     ?=
# OpenMP for libdil's batch calls, when the compiler has it: OPENMP= builds
# without (the batches then run serially; every test passes either way).
OPENMP  ?= $(shell printf 'int main(void){return 0;}\n' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) $(SAN) $(OPENMP) $(CFLAGS) -MMD -MP
# Check's flags are looked up when a recipe runs, after `deps` has had
# its chance to install it.
CHECK_CFLAGS = $$(pkg-config --cflags check)
CHECK_LIBS   = $$(pkg-config --libs check)

ifeq ($(V),1)
Q =
else
Q = @
endif

.PHONY: all demo check bench sanitize generated clean deps examples
# Keep intermediate objects (generated model objects are shared by several links),
# and no built-in rules: an object is built only the way this file says.
.SECONDARY:
.SUFFIXES:
%.o: %.c
all: $(BUILD)/dilc $(BUILD)/libdil.a examples

deps:
	$(Q)sh scripts/deps.sh

# ---------------------------------------------------------------- compiler
COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
COMPILER_GEN := $(BUILD)/compiler/parser.c $(BUILD)/compiler/scanner.c $(BUILD)/compiler/vmath_text.c
COMPILER_OBJ := $(COMPILER_SRC:%.c=$(BUILD)/%.o) $(COMPILER_GEN:.c=.o)
COMPILER_INC := -Icompiler -I$(BUILD)/compiler

$(BUILD)/compiler/parser.c $(BUILD)/compiler/parser.h: compiler/parser.y | deps
	@mkdir -p $(@D)
	@echo "  BISON   $<"
	$(Q)bison -Wall -Werror -o $(BUILD)/compiler/parser.c --header=$(BUILD)/compiler/parser.h $<

$(BUILD)/compiler/scanner.c $(BUILD)/compiler/scanner.h: compiler/scanner.l | deps
	@mkdir -p $(@D)
	@echo "  FLEX    $<"
	$(Q)flex -o $(BUILD)/compiler/scanner.c --header-file=$(BUILD)/compiler/scanner.h $<

# compiler/vmath.h as a string table (docs/vmath.md).
$(BUILD)/compiler/vmath_text.c: compiler/vmath.h scripts/vmath_text.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)sh scripts/vmath_text.sh compiler/vmath.h > $@.tmp && mv $@.tmp $@

# Everything in the compiler may include the generated headers.
$(COMPILER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/compiler/main.o: | $(BUILD)/compiler/parser.h $(BUILD)/compiler/scanner.h
$(BUILD)/compiler/parser.o: $(BUILD)/compiler/scanner.h
$(BUILD)/compiler/scanner.o: $(BUILD)/compiler/parser.h

# flex/bison output: our warning set minus what their skeletons trip.
GEN_WARN = -Wno-unused-function -Wno-missing-prototypes -Wno-sign-compare -Wno-shadow
$(BUILD)/compiler/%.o: $(BUILD)/compiler/%.c
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(GEN_WARN) $(COMPILER_INC) -c $< -o $@

$(BUILD)/compiler/%.o: compiler/%.c | deps
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(COMPILER_INC) -c $< -o $@

$(BUILD)/libdilc.a: $(COMPILER_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/dilc: $(BUILD)/compiler/main.o $(BUILD)/libdilc.a
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -o $@ $^ -lgmp -lm

# ----------------------------------------------------------------- runtime
RUNTIME_SRC := $(wildcard runtime/*.c)
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/runtime/%.o: runtime/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -c $< -o $@

$(BUILD)/libdil.a: $(RUNTIME_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

# ------------------------------------------------------------ models
# generated/NAME.c is committed; build/gen/NAME.c is what dilc emits now.
MODELS  := $(basename $(notdir $(wildcard models/*.dil)))
GEN_WARN_EMITTED = -Wall -Wextra -Wpedantic -Werror

$(BUILD)/gen/%.c: models/%.dil $(BUILD)/dilc
	@mkdir -p $(@D)
	@echo "  DILC    $<"
	$(Q)DILC_VERIFY=1 $(BUILD)/dilc $< -o $@

# (dil_model.h: emitted code fills the descriptor; a stale object would
# hand the runtime a shorter struct)
$(BUILD)/gen/%.o: generated/%.c runtime/dil_model.h
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) -std=c99 $(OPT) $(GEN_WARN_EMITTED) $(SAN) -Iruntime -Igenerated -c $< -o $@

generated: $(MODELS:%=$(BUILD)/gen/%.c)
	$(Q)for m in $(MODELS); do cp $(BUILD)/gen/$$m.c $(BUILD)/gen/$$m.h generated/; done
	@echo "generated/ refreshed from models/"

# ---------------------------------------------------------------- examples
EXAMPLES := $(basename $(notdir $(wildcard examples/*.c)))
examples: $(EXAMPLES:%=$(BUILD)/examples/%)

# Each example NAME.c uses the models listed on its `// models:` line.
$(BUILD)/examples/%: examples/%.c $(BUILD)/libdil.a $(MODELS:%=$(BUILD)/gen/%.o)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated $< \
	    $$(sed -n 's|^// models: *||p' $< | tr ' ' '\n' | sed '/^$$/d;s|^|$(BUILD)/gen/|;s|$$|.o|') \
	    $(BUILD)/libdil.a -lm -o $@

demo: $(BUILD)/dilc $(BUILD)/libdil.a $(BUILD)/examples/kepler
	$(Q)$(BUILD)/examples/kepler

# ------------------------------------------------------------------- tests
include tests/tests.mk
include repro/repro.mk
include repro/control/control.mk

# ---------------------------------------------------------------- sanitize
sanitize:
	$(Q)$(MAKE) --no-print-directory BUILD=build/san OPT="-O1 -g -gdwarf-4" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check

# ------------------------------------------------------------------- tsan
.PHONY: tsan
tsan:
	$(Q)BUILD=$(BUILD) sh tests/tsan.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ------------------------------------------------------------------- bench
BENCH_MODELS ?= node_euler node_vdp kepler mpc_linear
$(BUILD)/bench/kernels_%: bench/kernels.c $(BUILD)/gen/%.o
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated -DMODEL_DESC=$*_model \
	    -DMODEL_HEADER='"$*.h"' $< $(BUILD)/gen/$*.o -lm -o $@

# M2 (bench/m2.dil) emitted at each (D, H) of M2_SIZES against the same
# model by hand (bench/m2_hand.c); the Van der Pol training step against
# PyTorch (bench/vdp_step.c, bench/vdp_step.py).  See bench/run.sh.
M2_SIZES ?= 2_50 2_500 200_200 1000_1000
m2_dims = D = $(word 1,$(subst _, ,$(1))), H = $(word 2,$(subst _, ,$(1)))
$(BUILD)/bench/m2_%/m2.c: bench/m2.dil $(BUILD)/dilc
	@mkdir -p $(@D)
	@echo "  DILC    $< ($(call m2_dims,$*))"
	$(Q)sed 's/^dim .*/dim   $(call m2_dims,$*)/' $< > $(@D)/m2.dil
	$(Q)DILC_VERIFY=1 $(BUILD)/dilc $(@D)/m2.dil -o $@
$(BUILD)/bench/m2_%/m2: bench/m2.c bench/m2_hand.c bench/m2_hand.h $(BUILD)/bench/m2_%/m2.c $(BUILD)/libdil.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Ibench -I$(@D) -DM2_D=$(word 1,$(subst _, ,$*)) \
	    -DM2_H=$(word 2,$(subst _, ,$*)) bench/m2.c bench/m2_hand.c $(@D)/m2.c \
	    $(BUILD)/libdil.a -lm -o $@
$(BUILD)/bench/vdp_step: bench/vdp_step.c $(BUILD)/gen/node_vdp.o $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated $< $(BUILD)/gen/node_vdp.o \
	    $(BUILD)/libdil.a -lm -o $@

# The same step with the emitted model compiled for this machine
# (BENCH_NATIVE, -march=native when the compiler takes it; libdil as
# usual): PyTorch dispatches to its AVX2 kernels at run time, and this is
# what the emitted C gets from the same instructions.
BENCH_NATIVE ?= $(shell printf 'int main(void){return 0;}\n' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)
$(BUILD)/bench/native/node_vdp.o: generated/node_vdp.c runtime/dil_model.h
	@mkdir -p $(@D)
	@echo "  CC      $< ($(BENCH_NATIVE))"
	$(Q)$(CC) -std=c99 $(OPT) $(BENCH_NATIVE) $(GEN_WARN_EMITTED) -Iruntime -Igenerated -c $< -o $@
$(BUILD)/bench/vdp_step_native: bench/vdp_step.c $(BUILD)/bench/native/node_vdp.o $(BUILD)/libdil.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated $< $(BUILD)/bench/native/node_vdp.o \
	    $(BUILD)/libdil.a -lm -o $@

# M2 and the Van der Pol step with the emitted kernels compiled for the
# baseline ISA only (-DDIL_NO_CLONES: no AVX2 version; compiler/emit.c,
# "target_clones"), to separate what the AVX2 clones give from the rest.
$(BUILD)/bench/m2_%/m2_base: bench/m2.c bench/m2_hand.c bench/m2_hand.h $(BUILD)/bench/m2_%/m2.c $(BUILD)/libdil.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -DDIL_NO_CLONES -Iruntime -Ibench -I$(@D) \
	    -DM2_D=$(word 1,$(subst _, ,$*)) -DM2_H=$(word 2,$(subst _, ,$*)) bench/m2.c \
	    bench/m2_hand.c $(@D)/m2.c $(BUILD)/libdil.a -lm -o $@
$(BUILD)/bench/base/node_vdp.o: generated/node_vdp.c runtime/dil_model.h
	@mkdir -p $(@D)
	@echo "  CC      $< (-DDIL_NO_CLONES)"
	$(Q)$(CC) -std=c99 $(OPT) -DDIL_NO_CLONES $(GEN_WARN_EMITTED) -Iruntime -Igenerated -c $< -o $@
$(BUILD)/bench/vdp_step_base: bench/vdp_step.c $(BUILD)/bench/base/node_vdp.o $(BUILD)/libdil.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated $< $(BUILD)/bench/base/node_vdp.o \
	    $(BUILD)/libdil.a -lm -o $@

# One training step of the Van der Pol neural ODE through the batch calls
# (bench/batch.c): single calls, batch on 1 and 2 threads, no curvature check.
$(BUILD)/bench/batch_node_vdp: bench/batch.c $(BUILD)/gen/node_vdp.o $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Igenerated $< $(BUILD)/gen/node_vdp.o \
	    $(BUILD)/libdil.a -lm -o $@

bench: $(BUILD)/dilc $(BENCH_MODELS:%=$(BUILD)/bench/kernels_%) \
       $(M2_SIZES:%=$(BUILD)/bench/m2_%/m2) $(M2_SIZES:%=$(BUILD)/bench/m2_%/m2_base) \
       $(BUILD)/bench/vdp_step $(BUILD)/bench/vdp_step_native $(BUILD)/bench/vdp_step_base \
       $(BUILD)/bench/batch_node_vdp
	$(Q)BUILD=$(BUILD) M2_SIZES="$(M2_SIZES)" sh bench/run.sh $(BENCH_MODELS)
	$(Q)$(BUILD)/bench/batch_node_vdp
	$(Q)BUILD=$(BUILD) sh bench/horizon.sh

# make bench-batched   n calls of the emitted per-instance kernels against
#                      a hand-written kernel on blocks of 8 instances as
#                      matrix columns (bench/batched.c), M2 as a residual
#                      (models/node_vdp.dil re-dimensioned) at each size of
#                      M2_SIZES, n = 8, 32, 107.  Not part of check or bench.
.PHONY: bench-batched
$(BUILD)/bench/batched_%/m2r.c: models/node_vdp.dil $(BUILD)/dilc
	@mkdir -p $(@D)
	@echo "  DILC    $< ($(call m2_dims,$*))"
	$(Q)sed 's/^dim .*/dim   $(call m2_dims,$*)/' $< > $(@D)/m2r.dil
	$(Q)$(BUILD)/dilc $(@D)/m2r.dil -o $@
$(BUILD)/bench/batched_%/batched: bench/batched.c compiler/vmath.h $(BUILD)/bench/batched_%/m2r.c
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) -Iruntime -Icompiler -I$(@D) -DBATCHED_D=$(word 1,$(subst _, ,$*)) \
	    -DBATCHED_H=$(word 2,$(subst _, ,$*)) bench/batched.c $(@D)/m2r.c -lm -o $@
bench-batched: $(M2_SIZES:%=$(BUILD)/bench/batched_%/batched)
	$(Q)cat /proc/loadavg 2>/dev/null | sed 's/^/load before: /' || true
	$(Q)for s in $(M2_SIZES); do $(BUILD)/bench/batched_$$s/batched || exit 1; done
	$(Q)cat /proc/loadavg 2>/dev/null | sed 's/^/load after: /' || true

# make bench-vmath   libm's tanh, exp, ... against compiler/vmath.h's, ns per
#                    element at -O2 and at -O3 -march=native (docs/vmath.md).
# make check-vmath-full   tests/check_vmath.c with 4e6 points per range, built
#                    at -O2 and at -O3 -march=native (gnu99: FMA contraction on).
.PHONY: bench-vmath check-vmath-full
VMATH_BENCH_FLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -Icompiler
$(BUILD)/bench/vmath_O2: bench/vmath.c compiler/vmath.h
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(VMATH_BENCH_FLAGS) -O2 $< -lm -o $@
$(BUILD)/bench/vmath_native: bench/vmath.c compiler/vmath.h
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(VMATH_BENCH_FLAGS) -O3 -march=native $< -lm -o $@
bench-vmath: $(BUILD)/bench/vmath_O2 $(BUILD)/bench/vmath_native
	$(Q)BUILD=$(BUILD) sh bench/vmath.sh

$(BUILD)/tests/check_vmath_native: tests/check_vmath.c compiler/vmath.h $(BUILD)/libdilc.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) -std=gnu99 -D_POSIX_C_SOURCE=200809L -O3 -march=native $(WARN) $(CHECK_CFLAGS) \
	    $(TEST_INC) $< $(BUILD)/libdilc.a $(CHECK_LIBS) -lgmp -lm -o $@
check-vmath-full: $(BUILD)/tests/check_vmath $(BUILD)/tests/check_vmath_native
	$(Q)for t in check_vmath check_vmath_native; do echo "== $$t"; \
	    VMATH_POINTS=$${VMATH_POINTS:-4000000} VMATH_VERBOSE=1 nice -n 10 $(BUILD)/tests/$$t || exit 1; done

# -------------------------------------------------------------------- fuzz
# make fuzz FUZZ_SECONDS=N   builds fuzz/fuzz_dilc.c (libFuzzer, clang) with
#                            the whole compiler under ASan+UBSan in
#                            $(BUILD)/fuzz/, seeds $(BUILD)/fuzz/corpus from
#                            models/, tests/diag/ and tests/fuzz-regress/, and
#                            fuzzes for N seconds; failing inputs are written
#                            to $(BUILD)/fuzz/ (crash-*, timeout-*, leak-*,
#                            oom-*).  FUZZ_ARGS adds libFuzzer options.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS    ?=
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   = $(CSTD) -O1 -g $(WARN) $(FUZZ_SAN) -MMD -MP
FUZZ_OBJ     := $(COMPILER_SRC:%.c=$(BUILD)/fuzz/%.o) \
                $(BUILD)/fuzz/compiler/parser.o $(BUILD)/fuzz/compiler/scanner.o \
                $(BUILD)/fuzz/compiler/vmath_text.o

$(BUILD)/fuzz/compiler/%.o: compiler/%.c | $(BUILD)/compiler/parser.h $(BUILD)/compiler/scanner.h
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(COMPILER_INC) -c $< -o $@

$(BUILD)/fuzz/compiler/%.o: $(BUILD)/compiler/%.c
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(GEN_WARN) -fsanitize=fuzzer-no-link $(COMPILER_INC) -c $< -o $@

$(BUILD)/fuzz/fuzz_dilc: fuzz/fuzz_dilc.c fuzz/mutate.c fuzz/mutate.h $(FUZZ_OBJ)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(COMPILER_INC) $(filter %.c %.o,$^) -lgmp -lm -o $@

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/fuzz_dilc
	@mkdir -p $(BUILD)/fuzz/corpus
	$(Q)for f in models/*.dil tests/diag/*.dil tests/fuzz-regress/*; do \
	    [ -f "$$f" ] && cp "$$f" $(BUILD)/fuzz/corpus/seed-$$(basename "$$f"); done; true
	$(Q)$(BUILD)/fuzz/fuzz_dilc $(BUILD)/fuzz/corpus -dict=fuzz/dil.dict \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 $(FUZZ_ARGS)

# make fuzz-diff FUZZ_SECONDS=N   the differential target fuzz/fuzz_diff.c:
#                            every input dilc accepts is emitted, compiled
#                            by the C compiler ($(DIL_FUZZ_CC), default cc)
#                            with -Wall -Wextra -Wpedantic -Werror into a
#                            shared object, loaded, and every kernel is
#                            compared with the hyper-dual reference of
#                            tests/support at random points.  Inputs up to
#                            FUZZ_DIFF_MAX_LEN bytes, mutated by the
#                            grammar-aware fuzz/mutate.c; libFuzzer's fork
#                            mode keeps going after a finding (each one is
#                            saved to $(BUILD)/fuzz-diff/ as crash-*,
#                            timeout-*, oom-*, and described in
#                            $(BUILD)/fuzz-diff/findings; keep it in
#                            tests/fuzz-regress/).  Each input has a CPU
#                            budget (fuzz_diff.c: 60 s in the target, 60 s
#                            per C compiler run; DIL_FUZZ_CPU and
#                            DIL_FUZZ_CC_CPU); libFuzzer's -timeout, wall
#                            time, is only for a hang that sleeps.  At the
#                            end, fuzz/diff_summary.sh prints how many inputs
#                            were accepted, compiled and reached the kernel
#                            check ($(BUILD)/fuzz-diff/stats).
FUZZ_DIFF_MAX_LEN ?= 16384
# Seeds: every model dilc accepts in the tree (tests/diag/'s rejected
# inputs are `make fuzz`'s; mutants of them rarely compile).
FUZZ_DIFF_SEEDS    = models/*.dil tests/minimum/*.dil tests/rolled/*.dil bench/*.dil \
                     python/tests/models/*.dil tests/fuzz-regress/*
FUZZ_DIFF_WALL    ?= 1800
$(BUILD)/fuzz/fuzz_diff: fuzz/fuzz_diff.c fuzz/mutate.c fuzz/mutate.h tests/support/refeval.c $(FUZZ_OBJ)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(COMPILER_INC) -Iruntime -Itests/support \
	    -DDIL_RUNTIME_DIR='"$(abspath runtime)"' $(filter %.c %.o,$^) -ldl -lgmp -lm -o $@

.PHONY: fuzz-diff
fuzz-diff: $(BUILD)/fuzz/fuzz_diff
	@mkdir -p $(BUILD)/fuzz-diff/corpus
	@rm -f $(BUILD)/fuzz-diff/stats
	$(Q)for f in $(FUZZ_DIFF_SEEDS); do \
	    [ -f "$$f" ] && cp "$$f" $(BUILD)/fuzz-diff/corpus/seed-$$(basename "$$f"); done; true
	$(Q)DIL_FUZZ_FINDINGS=$(abspath $(BUILD))/fuzz-diff/findings \
	    DIL_FUZZ_STATS=$(abspath $(BUILD))/fuzz-diff/stats \
	    $(BUILD)/fuzz/fuzz_diff $(BUILD)/fuzz-diff/corpus -dict=fuzz/dil.dict \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_DIFF_MAX_LEN) -timeout=$(FUZZ_DIFF_WALL) \
	    -rss_limit_mb=3072 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -artifact_prefix=$(BUILD)/fuzz-diff/ -print_final_stats=1 $(FUZZ_ARGS)
	$(Q)sh fuzz/diff_summary.sh $(BUILD)/fuzz-diff

# ---------------------------------------------------------------- valgrind
# make valgrind   dilc on every model (full compile; --print-derivatives,
#                 --stats, --dot, --dump-ast) and on every input of
#                 tests/diag/ and tests/fuzz-regress/, every unit test and
#                 every model test (CK_FORK=no), all under valgrind's
#                 memcheck: no memory error and no definite leak
#                 (tests/valgrind.sh).  About two minutes on two cores, so
#                 it is separate from `make check`, which runs only a
#                 ten-second subset (tests/golden/valgrind_quick.sh).
#                 Needs a build without sanitizers: not BUILD=build/san.
.PHONY: valgrind
valgrind: all $(UNIT_TESTS:%=$(BUILD)/tests/%) $(MODEL_TESTS)
	$(Q)BUILD=$(BUILD) sh tests/valgrind.sh

# ----------------------------------------------------------------- install
# make install [PREFIX=/usr/local] [DESTDIR=/staging]    GNU directory
# variables, each of which may be set on the command line:
#   $(bindir)/dilc
#   $(libdir)/libdil.a, libdil.so.$(DIL_VERSION) (soname libdil.so.$(DIL_ABI),
#       the DIL_ABI_VERSION of runtime/dil.h) and its two links
#   $(includedir)/dil/dil.h, dil_model.h     (dil.pc gives -I$(includedir)/dil)
#   $(pkgconfigdir)/dil.pc, $(man1dir)/dilc.1, $(man3dir)/dil.3,
#   $(docdir)/: README.md, docs/*.md,  $(pythondir)/dil/: the Python package
# make uninstall removes exactly these files.  tests/golden/install.sh
# installs into a temporary DESTDIR and builds an example with pkg-config.
PREFIX       ?= /usr/local
prefix       ?= $(PREFIX)
exec_prefix  ?= $(prefix)
bindir       ?= $(exec_prefix)/bin
libdir       ?= $(exec_prefix)/lib
includedir   ?= $(prefix)/include
datarootdir  ?= $(prefix)/share
mandir       ?= $(datarootdir)/man
man1dir      ?= $(mandir)/man1
man3dir      ?= $(mandir)/man3
docdir       ?= $(datarootdir)/doc/dil
pkgconfigdir ?= $(libdir)/pkgconfig
# Debian's python3 reads $(prefix)/lib/python3.N/dist-packages for
# prefix=/usr/local; for prefix=/usr set pythondir=/usr/lib/python3/dist-packages.
pythondir    ?= $(prefix)/lib/python$(PYTHON_VERSION)/dist-packages
INSTALL      ?= install
DIL_VERSION  := $(shell sed -n 's/^\#define DIL_VERSION "\(.*\)"/\1/p' runtime/dil.h)
DIL_ABI      := $(shell sed -n 's/^\#define DIL_ABI_VERSION \([0-9]*\).*/\1/p' runtime/dil.h)
DIL_SO       := libdil.so.$(DIL_VERSION)
DIL_SONAME   := libdil.so.$(DIL_ABI)
# Libraries a static link of libdil needs beyond -lm (dil.pc Libs.private):
# OpenMP's runtime when the batch calls were built with it.
DIL_PC_LIBS_PRIVATE ?= $(OPENMP)
# What libdil.so links with beyond libm.
DIL_SO_LIBS  ?= $(OPENMP)

.PHONY: install uninstall
all: $(BUILD)/libdil.so

# The shared library is built from its own position-independent objects.
RUNTIME_PIC_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/pic/%.o)
$(BUILD)/pic/runtime/%.o: runtime/%.c
	@mkdir -p $(@D)
	@echo "  CC      $< (PIC)"
	$(Q)$(CC) $(CFLAGS_ALL) -fPIC -Iruntime -c $< -o $@

$(BUILD)/$(DIL_SO): $(RUNTIME_PIC_OBJ) pkg/libdil.map
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) -shared -Wl,-soname,$(DIL_SONAME) -Wl,--version-script=pkg/libdil.map \
	    -o $@ $(RUNTIME_PIC_OBJ) $(DIL_SO_LIBS) -lm

$(BUILD)/libdil.so: $(BUILD)/$(DIL_SO)
	$(Q)ln -sf $(DIL_SO) $(BUILD)/$(DIL_SONAME) && ln -sf $(DIL_SO) $@

install: $(BUILD)/dilc $(BUILD)/libdil.a $(BUILD)/libdil.so
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/dil \
	    $(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(man1dir) $(DESTDIR)$(man3dir) \
	    $(DESTDIR)$(docdir) $(DESTDIR)$(pythondir)/dil
	$(INSTALL) -m 755 $(BUILD)/dilc $(DESTDIR)$(bindir)/dilc
	$(INSTALL) -m 644 $(BUILD)/libdil.a $(DESTDIR)$(libdir)/libdil.a
	$(INSTALL) -m 755 $(BUILD)/$(DIL_SO) $(DESTDIR)$(libdir)/$(DIL_SO)
	ln -sf $(DIL_SO) $(DESTDIR)$(libdir)/$(DIL_SONAME)
	ln -sf $(DIL_SO) $(DESTDIR)$(libdir)/libdil.so
	$(INSTALL) -m 644 runtime/dil.h runtime/dil_model.h $(DESTDIR)$(includedir)/dil/
	sed -e 's|@prefix@|$(prefix)|; s|@exec_prefix@|$(exec_prefix)|' \
	    -e 's|@libdir@|$(libdir)|; s|@includedir@|$(includedir)|; s|@bindir@|$(bindir)|' \
	    -e 's|@version@|$(DIL_VERSION)|; s|@libs_private@|$(DIL_PC_LIBS_PRIVATE)|' \
	    pkg/dil.pc.in > $(DESTDIR)$(pkgconfigdir)/dil.pc
	$(INSTALL) -m 644 docs/man/dilc.1 $(DESTDIR)$(man1dir)/dilc.1
	$(INSTALL) -m 644 docs/man/dil.3 $(DESTDIR)$(man3dir)/dil.3
	$(INSTALL) -m 644 README.md docs/*.md $(DESTDIR)$(docdir)/
	$(INSTALL) -m 644 $(PY_FILES) $(DESTDIR)$(pythondir)/dil/
	printf '%s\n' '"""Written by make install: where this installation of DIL lives."""' \
	    'DILC = "$(bindir)/dilc"' 'INCLUDEDIR = "$(includedir)/dil"' 'LIBDIR = "$(libdir)"' \
	    > $(DESTDIR)$(pythondir)/dil/_installed.py

uninstall:
	rm -f $(DESTDIR)$(bindir)/dilc $(DESTDIR)$(libdir)/libdil.a \
	    $(DESTDIR)$(libdir)/$(DIL_SO) $(DESTDIR)$(libdir)/$(DIL_SONAME) \
	    $(DESTDIR)$(libdir)/libdil.so $(DESTDIR)$(pkgconfigdir)/dil.pc \
	    $(DESTDIR)$(includedir)/dil/dil.h $(DESTDIR)$(includedir)/dil/dil_model.h \
	    $(DESTDIR)$(man1dir)/dilc.1 $(DESTDIR)$(man3dir)/dil.3
	rm -f $(addprefix $(DESTDIR)$(docdir)/,README.md $(notdir $(wildcard docs/*.md)))
	rm -rf $(DESTDIR)$(pythondir)/dil
	-rmdir $(DESTDIR)$(includedir)/dil $(DESTDIR)$(docdir) 2>/dev/null

# ------------------------------------------------------------------ python
# python/dil: the Python package (ctypes over libdil.so, NumPy; dil.torch
# needs python3-torch).  Its tests run in `make check` through
# tests/golden/python.sh, and on their own with `make check-python`.
PYTHON         ?= /usr/bin/python3
export PYTHON
PYTHON_VERSION  = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_FILES       := $(wildcard python/dil/*.py python/dil/*.c)

.PHONY: check-python deps-python
# make check first installs (as root) or names (otherwise) the Debian
# packages the Python tests need; without them they skip, saying so.
check: | deps-python
deps-python:
	$(Q)PYTHON=$(PYTHON) sh scripts/deps.sh python

check-python: $(BUILD)/dilc $(BUILD)/libdil.so | deps-python
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) sh tests/golden/python.sh

# Rolled horizons against PyTorch autograd at T = 40, 300 and 1000
# (tests/horizon/reference.py; make check runs a shorter version).
.PHONY: check-horizon
check-horizon: $(BUILD)/dilc $(BUILD)/libdil.so | deps-python
	$(Q)BUILD=$(BUILD) PYTHON=$(PYTHON) HORIZON_REFERENCE="40:solve 300:solve 1000" \
	    sh tests/golden/horizon_reference.sh
