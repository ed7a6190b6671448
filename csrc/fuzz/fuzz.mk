# csrc/fuzz/fuzz.mk -- libFuzzer targets (included by the Makefile).
#
#   make fuzz        both targets, FUZZ_TIME seconds each (default 30), from
#                    the seed corpus in csrc/fuzz/corpus/ plus what earlier
#                    runs found (build-fuzz/corpus/); CI runs this
#   make fuzz-long   the same for FUZZ_LONG_TIME seconds each (default 1800),
#                    by hand
#   make fuzz-seeds  rewrite csrc/fuzz/corpus/decode from sample values
#
# The core and the binding's runtime and transfer layers are compiled
# again with clang and -fsanitize=fuzzer-no-link,address,undefined into
# build-fuzz/ (a re-invoked make with its own BUILD); the targets link
# only those (the transfer layer needs nothing above it: fuzz_core.h
# stands in for concurrent.core) with liblua.
# A crash, a sanitizer report or a round trip that changes a value stops
# the run with the input saved as build-fuzz/crash-*. libFuzzer's leak
# check per input is off (-detect_leaks=0): the targets keep long-lived
# Lua states whose caches grow by design, and a check after nearly every
# input made the round trip target 100 times slower; LeakSanitizer still
# runs at exit.

FUZZ_CC        ?= clang
FUZZ_BUILD     := build-fuzz
FUZZ_SAN       := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_TIME      ?= 30
FUZZ_LONG_TIME ?= 1800
FUZZ_TARGETS   := decode roundtrip
FUZZ_BINS      := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_LIBS       = $(shell $(PKG_CONFIG) --libs $(LUA_PKG) 2>/dev/null || echo -l$(LUA_PKG))
FUZZ_OBJ        = $(CORE_OBJ) $(filter $(BUILD)/binding/runtime/% $(BUILD)/binding/transfer/%,$(BINDING_OBJ))
FUZZ_ENV       := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: fuzz fuzz-long fuzz-build fuzz-seeds

fuzz-build: reliability-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT='-O1 -g -DLCF_FUZZING' SANITIZE='$(FUZZ_SAN)'

$(FUZZ_BUILD)/fuzz_%: csrc/fuzz/fuzz_%.c csrc/fuzz/fuzz_core.h $(FUZZ_OBJ) $(HEADERS)
	$(CC) $(BASE_CFLAGS) $(OPT) -I$(LUA_INCDIR) -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=all $< $(FUZZ_OBJ) -o $@ $(FUZZ_LIBS) -lm -ldl -pthread

# Run each target for $(1) seconds; print the executions it made.
define fuzz_run
	@set -e; total=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  echo "== fuzz_$$t for $(1) s"; \
	  $(FUZZ_ENV) $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(1) -timeout=20 \
	    -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -detect_leaks=0 \
	    -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus/$$t csrc/fuzz/corpus/$$t > $(FUZZ_BUILD)/fuzz_$$t.log 2>&1 \
	    || { tail -60 $(FUZZ_BUILD)/fuzz_$$t.log; echo "fuzz_$$t: FAIL"; exit 1; }; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/fuzz_$$t.log); \
	  cov=$$(grep -o 'cov: [0-9]*' $(FUZZ_BUILD)/fuzz_$$t.log | tail -1); \
	  echo "fuzz_$$t: $$runs executions, $$cov, no crash"; \
	  total=$$((total + runs)); \
	done; echo "fuzz: $$total executions in all, PASS"
endef

fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_TIME))

fuzz-long: fuzz-build
	$(call fuzz_run,$(FUZZ_LONG_TIME))

fuzz-seeds: fuzz-build
	@mkdir -p csrc/fuzz/corpus/decode
	@CF_FUZZ_SEEDS=csrc/fuzz/corpus/decode $(FUZZ_BUILD)/fuzz_decode
