# control.mk - included by the Makefile: the paper's control experiments,
# Table 2 (cart-pole imitation, MPC_IFT against behavioural cloning and the
# expert) and appendix C (LQR through the DARE), issue 10.  Results and how
# they were measured: docs/results/control.md.
#
#   make reproduce-control   both, writing docs/results/ (CONTROL_RESULTS);
#                            part of `make reproduce`; each target also
#                            reassembles docs/RESULTS.md (scripts/results.sh)
#   make reproduce-table2    Table 2 only (CONTROL_RUNS runs, default 10)
#   make reproduce-dare      appendix C only
#
# Programs are repro/control/PROG.c, linked with the helpers (every other
# .c there) and the models on their `// models:` line, with OpenMP over
# independent instances and episodes (the results do not depend on the
# thread count; OMP_NUM_THREADS picks it; CONTROL_OMP= OPENMP= builds serial).
# The check suite tests/check_control.c has its own rule here because it
# links the helpers and four models besides what tests.mk's pattern gives.
CONTROL_PROGS   := dare table2
CONTROL_HELPERS := $(filter-out $(CONTROL_PROGS:%=repro/control/%.c),$(wildcard repro/control/*.c))
CONTROL_OBJ     := $(CONTROL_HELPERS:%.c=$(BUILD)/%.o)
CONTROL_OMP     ?= $(OPENMP)
CONTROL_RESULTS ?= docs/results
CONTROL_RUNS    ?= 10
# -Wno-unknown-pragmas: a serial build (CONTROL_OMP=) ignores the omp pragmas.
CONTROL_INC     := -Iruntime -Igenerated -Irepro/control -Wno-unknown-pragmas

$(BUILD)/repro/control/%.o: repro/control/%.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(CONTROL_OMP) $(CONTROL_INC) -c $< -o $@

$(BUILD)/repro/control/%: $(BUILD)/repro/control/%.o $(CONTROL_OBJ) $(BUILD)/libdil.a $(MODELS:%=$(BUILD)/gen/%.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN) $(CONTROL_OMP) -o $@ $< $(CONTROL_OBJ) \
	    $$(sed -n 's|^// models: *||p' repro/control/$*.c | tr ' ' '\n' | sed '/^$$/d;s|^|$(BUILD)/gen/|;s|$$|.o|') \
	    $(BUILD)/libdil.a -lm

.PHONY: reproduce reproduce-control reproduce-dare reproduce-table2
reproduce: reproduce-control
reproduce-control: reproduce-dare reproduce-table2

reproduce-dare: $(BUILD)/repro/control/dare
	@mkdir -p $(CONTROL_RESULTS)
	$(Q)$(BUILD)/repro/control/dare $(CONTROL_RESULTS)/dare.csv $(CONTROL_RESULTS)/dare_curves.csv \
	    > $(CONTROL_RESULTS)/dare_summary.txt; st=$$?; cat $(CONTROL_RESULTS)/dare_summary.txt; exit $$st
	$(Q)sh scripts/plot_control.sh dare $(CONTROL_RESULTS)
	$(Q)sh scripts/results.sh

reproduce-table2: $(BUILD)/repro/control/table2
	@mkdir -p $(CONTROL_RESULTS)
	@echo "reproduce-table2: progress in $(CONTROL_RESULTS)/table2_summary.txt"
	$(Q)OMP_WAIT_POLICY=passive nice -n 10 $(BUILD)/repro/control/table2 $(CONTROL_RESULTS) \
	    $(CONTROL_RUNS) > $(CONTROL_RESULTS)/table2_summary.txt; st=$$?; \
	    cat $(CONTROL_RESULTS)/table2_summary.txt; exit $$st
	$(Q)sh scripts/plot_control.sh table2 $(CONTROL_RESULTS)
	$(Q)sh scripts/results.sh

CONTROL_TEST_MODELS := dare cartpole_dyn cartpole_bc cartpole_mpc
$(BUILD)/tests/check_control: tests/check_control.c $(CONTROL_OBJ) $(CONTROL_TEST_MODELS:%=$(BUILD)/gen/%.o) $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CONTROL_OMP) $(CHECK_CFLAGS) $(CONTROL_INC) $< $(CONTROL_OBJ) \
	    $(CONTROL_TEST_MODELS:%=$(BUILD)/gen/%.o) $(BUILD)/libdil.a $(CHECK_LIBS) -lm -o $@
