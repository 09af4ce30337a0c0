# repro.mk - included by the Makefile: the paper's Table 1 and Figure 2
# (issue 9).  The reproduction programs are built with their own copies of
# the model objects, compiled with REPRO_OPT (by default -O3 -march=native,
# which vectorises the emitted vtanh loops; the test suite builds the same
# generated C with the default flags) and OpenMP when the compiler has it.
# Never -ffast-math: it folds the emitted vtanh's rounding constant
# ((x + M) - M to x, docs/vmath.md), and the kernels then return wrong
# values (Newton on node_vdp stalls at a residual of 7e-4).
REPRO_OPT ?= -O3 -march=native
REPRO_OMP ?= -fopenmp
REPRO_LIB_SRC := repro/truth.c repro/step.c repro/node.c repro/csv.c repro/dopri.c
REPRO_LIB_OBJ := $(REPRO_LIB_SRC:%.c=$(BUILD)/%.o)
REPRO_INC := -Iruntime -Igenerated -Irepro

$(BUILD)/repro/%.o: repro/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(REPRO_OMP) $(REPRO_INC) -c $< -o $@

# (repro.mk itself is a prerequisite: a change of REPRO_OPT must rebuild them)
$(BUILD)/repro/gen/%.o: generated/%.c repro/repro.mk
	@mkdir -p $(@D)
	@echo "  CC      $< (REPRO_OPT)"
	$(Q)$(CC) -std=c99 $(REPRO_OPT) $(GEN_WARN_EMITTED) $(SAN) -Iruntime -Igenerated -c $< -o $@

$(BUILD)/repro/librepro.a: $(REPRO_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

# Each program NAME.c uses the models on its `// models:` line.
$(BUILD)/repro/%: $(BUILD)/repro/%.o $(BUILD)/repro/librepro.a $(BUILD)/libdil.a $(MODELS:%=$(BUILD)/repro/gen/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) $(REPRO_OMP) $< \
	    $$(sed -n 's|^// models: *||p' repro/$*.c | tr ' ' '\n' | sed '/^$$/d;s|^|$(BUILD)/repro/gen/|;s|$$|.o|') \
	    $(BUILD)/repro/librepro.a $(BUILD)/libdil.a -lm -o $@

repro: $(BUILD)/repro/table1 $(BUILD)/repro/fig2
.PHONY: repro

# The unit suite of repro/ (tests/check_repro.c): an explicit rule, since it
# links the repro library and models besides what tests.mk's pattern gives.
# Its model objects are the test suite's (default flags), not REPRO_OPT's.
REPRO_TEST_MODELS := node_euler node_mlp2 fig2_d8
REPRO_TEST_SRC := $(REPRO_LIB_SRC)
$(BUILD)/tests/check_repro: tests/check_repro.c $(REPRO_TEST_SRC) $(BUILD)/libdil.a $(REPRO_TEST_MODELS:%=$(BUILD)/gen/%.o)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) $(REPRO_OMP) $(REPRO_INC) $< $(REPRO_TEST_SRC) \
	    $(REPRO_TEST_MODELS:%=$(BUILD)/gen/%.o) $(BUILD)/libdil.a $(CHECK_LIBS) -lm -o $@

# The command-line test (tests/golden/repro_cli.sh) runs the programs.
check: $(BUILD)/repro/table1 $(BUILD)/repro/fig2

# The paper's Table 1 and Figure 2 (issue 9), two trainings at a time;
# SEEDS=N and JOBS=N override the defaults (10, 2).
reproduce-table1: $(BUILD)/repro/table1 $(BUILD)/repro/fig2
	$(Q)BUILD=$(BUILD) sh repro/reproduce.sh
reproduce: reproduce-table1
.PHONY: reproduce reproduce-table1
