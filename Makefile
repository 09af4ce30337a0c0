# DIL: one non-recursive Makefile.  Everything built goes to build/.
#
#   make            dilc, libdil, the examples
#   make demo       build, then run the Kepler demo
#   make check      build and run every test
#   make bench      benchmarks (callgrind instruction counts, timings)
#   make sanitize   the test suite under ASan+UBSan
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
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) $(SAN) $(CFLAGS) -MMD -MP
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
COMPILER_GEN := $(BUILD)/compiler/parser.c $(BUILD)/compiler/scanner.c
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
	$(Q)$(BUILD)/dilc $< -o $@

$(BUILD)/gen/%.o: generated/%.c
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

# ---------------------------------------------------------------- sanitize
sanitize:
	$(Q)$(MAKE) --no-print-directory BUILD=build/san OPT="-O1 -g -gdwarf-4" \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" check

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

bench: $(BUILD)/dilc $(BENCH_MODELS:%=$(BUILD)/bench/kernels_%)
	$(Q)BUILD=$(BUILD) sh bench/run.sh $(BENCH_MODELS)

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
                $(BUILD)/fuzz/compiler/parser.o $(BUILD)/fuzz/compiler/scanner.o

$(BUILD)/fuzz/compiler/%.o: compiler/%.c | $(BUILD)/compiler/parser.h $(BUILD)/compiler/scanner.h
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(COMPILER_INC) -c $< -o $@

$(BUILD)/fuzz/compiler/%.o: $(BUILD)/compiler/%.c
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(GEN_WARN) -fsanitize=fuzzer-no-link $(COMPILER_INC) -c $< -o $@

$(BUILD)/fuzz/fuzz_dilc: fuzz/fuzz_dilc.c $(FUZZ_OBJ)
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
#                            FUZZ_DIFF_MAX_LEN bytes; libFuzzer's fork mode
#                            keeps going after a finding (each one is saved
#                            to $(BUILD)/fuzz-diff/ as crash-*, timeout-*,
#                            oom-*; keep it in tests/fuzz-regress/).
FUZZ_DIFF_MAX_LEN ?= 16384
$(BUILD)/fuzz/fuzz_diff: fuzz/fuzz_diff.c tests/support/refeval.c $(FUZZ_OBJ)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(COMPILER_INC) -Iruntime -Itests/support \
	    -DDIL_RUNTIME_DIR='"$(abspath runtime)"' $(filter %.c %.o,$^) -ldl -lgmp -lm -o $@

.PHONY: fuzz-diff
fuzz-diff: $(BUILD)/fuzz/fuzz_diff
	@mkdir -p $(BUILD)/fuzz-diff/corpus
	$(Q)for f in models/*.dil tests/diag/*.dil tests/fuzz-regress/*; do \
	    [ -f "$$f" ] && cp "$$f" $(BUILD)/fuzz-diff/corpus/seed-$$(basename "$$f"); done; true
	$(Q)$(BUILD)/fuzz/fuzz_diff $(BUILD)/fuzz-diff/corpus -dict=fuzz/dil.dict \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_DIFF_MAX_LEN) -timeout=60 \
	    -rss_limit_mb=3072 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -artifact_prefix=$(BUILD)/fuzz-diff/ -print_final_stats=1 $(FUZZ_ARGS)

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
