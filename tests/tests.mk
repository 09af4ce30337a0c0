# tests.mk - included by the Makefile.
#
# Unit suites:  tests/check_NAME.c, each a Check program linked against the
#               compiler library (libdilc.a) and the runtime (libdil.a).
# Model suites: tests/model_test.c, built once per model in models/ with
#               that model's generated C (see the comment in that file).
# Schedule suite: tests/check_schedule.c, the scheduler's decisions read
#               from the Schedule itself (compiler/schedule.h).
# Golden tests: tests/golden/*.sh, run by tests/run_all.sh after the
#               programs (diagnostics, generated/ freshness, determinism).
# make check sets DILC_VERIFY=1: the IR verifier (compiler/verify.c) and
# the schedule checks run between the passes of every compile.

UNIT_TESTS := $(basename $(notdir $(wildcard tests/check_*.c)))
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_INC := -Icompiler -I$(BUILD)/compiler -Iruntime -Itests/support

$(BUILD)/tests/check_%: tests/check_%.c $(TEST_SUPPORT) $(BUILD)/libdilc.a $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) $(TEST_INC) $< $(TEST_SUPPORT) \
	    $(BUILD)/libdilc.a $(BUILD)/libdil.a $(CHECK_LIBS) -lgmp -lm -o $@

# check_minimum (issue 13): its models are tests/minimum/*.dil, compiled by
# the dilc just built, so that hostile numerics are tested on the kernels
# dilc really emits.
MIN_MODELS := $(basename $(notdir $(wildcard tests/minimum/*.dil)))
MIN_OBJ    := $(MIN_MODELS:%=$(BUILD)/tests/minimum/%.o)

$(BUILD)/tests/minimum/%.c: tests/minimum/%.dil $(BUILD)/dilc
	@mkdir -p $(@D)
	@echo "  DILC    $<"
	$(Q)$(BUILD)/dilc $< -o $@

$(BUILD)/tests/minimum/%.o: $(BUILD)/tests/minimum/%.c runtime/dil_model.h
	@echo "  CC      $<"
	$(Q)$(CC) -std=c99 $(OPT) $(GEN_WARN_EMITTED) $(SAN) -Iruntime -c $< -o $@

$(BUILD)/tests/check_minimum: tests/check_minimum.c $(MIN_OBJ) $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Iruntime -I$(BUILD)/tests/minimum $< $(MIN_OBJ) \
	    $(BUILD)/libdil.a $(CHECK_LIBS) -lm -o $@

ifneq ($(wildcard tests/model_test.c),)
MODEL_TESTS := $(MODELS:%=$(BUILD)/tests/model_%)
endif

# One binary per model: the model's generated code, the shared harness,
# the compiler library (for the independent reference evaluation).
$(BUILD)/tests/model_%: tests/model_test.c $(BUILD)/gen/%.o $(TEST_SUPPORT) $(BUILD)/libdilc.a $(BUILD)/libdil.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) $(TEST_INC) -Igenerated \
	    -DMODEL_NAME=$* -DMODEL_DESC=$*_model -DMODEL_HEADER='"$*.h"' \
	    -DMODEL_FILE='"models/$*.dil"' $< $(BUILD)/gen/$*.o $(TEST_SUPPORT) \
	    $(BUILD)/libdilc.a $(BUILD)/libdil.a $(CHECK_LIBS) -lgmp -lm -o $@

# The differential fuzz target without libFuzzer, for replaying inputs
# (tests/golden/fuzz_diff_replay.sh).
$(BUILD)/tests/fuzz_diff_replay: fuzz/fuzz_diff.c $(TEST_SUPPORT) $(BUILD)/libdilc.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS_ALL) $(TEST_INC) -DDIL_FUZZ_REPLAY -DDIL_RUNTIME_DIR='"$(abspath runtime)"' \
	    $< $(TEST_SUPPORT) $(BUILD)/libdilc.a -ldl -lgmp -lm -o $@

check: all $(UNIT_TESTS:%=$(BUILD)/tests/%) $(MODEL_TESTS) $(MODELS:%=$(BUILD)/gen/%.c) \
       $(BUILD)/tests/fuzz_diff_replay
	$(Q)DILC_VERIFY=1 BUILD=$(BUILD) sh tests/run_all.sh $(UNIT_TESTS:%=$(BUILD)/tests/%) $(MODEL_TESTS)
