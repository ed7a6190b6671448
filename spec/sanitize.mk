# spec/sanitize.mk -- reliability targets (included by the Makefile).
#
#   make asan       C core tests + busted suite, module built with
#                   AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   make tsan       the same under ThreadSanitizer (build-tsan/)
#   make stress     2,000,000 tasks with random cancels, timeouts, errors
#                   and executors collected mid-flight, under a watchdog
#                   (the first million is the warm-up of the RSS check)
#   make fuzz / fuzz-long   see csrc/fuzz/fuzz.mk
#
# The sanitized copies are built by re-invoking make with their own BUILD,
# OPT and SANITIZE. lua5.4 itself is not instrumented, so spec/sanitize.sh
# preloads the sanitizer runtime of $(CC) and points the cpath at the
# sanitized module; any report fails the run.

SAN_OPT      := -O1 -g -fno-omit-frame-pointer
ASAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS   := -fsanitize=thread
SAN_BUSTED_ARGS ?=
STRESS_TASKS ?= 2000000
STRESS_TIME  ?= 420

.PHONY: asan tsan stress reliability-deps san-build

reliability-deps:
	@sh .ci/deps-reliability.sh

# The sanitized build: module, C tests and the sanlua launcher.
san-build:
	@$(MAKE) --no-print-directory all $(C_TESTS) $(TEST_DEPS) $(BUILD)/sanlua

$(BUILD)/sanlua: spec/sanlua.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(ALL_LDFLAGS) -l$(LUA_PKG) -lm

asan: deps reliability-deps
	@$(MAKE) --no-print-directory san-build BUILD=build-asan OPT='$(SAN_OPT)' SANITIZE='$(ASAN_FLAGS)'
	@sh spec/sanitize.sh asan build-asan $(BUSTED) $(SAN_BUSTED_ARGS)

tsan: deps reliability-deps
	@$(MAKE) --no-print-directory san-build BUILD=build-tsan OPT='$(SAN_OPT)' SANITIZE='$(TSAN_FLAGS)'
	@sh spec/sanitize.sh tsan build-tsan $(BUSTED) $(SAN_BUSTED_ARGS)

stress: deps reliability-deps
	@$(MAKE) --no-print-directory all
	@sh spec/stress/watchdog.sh $(STRESS_TIME) $(LUA) spec/stress/stress.lua \
	  --cpath='$(BUILD)/?.so' --tasks=$(STRESS_TASKS)
	@for m in wait ac result; do \
	  sh spec/stress/watchdog.sh 120 $(LUA) spec/stress/late_callbacks.lua $$m --cpath='$(BUILD)/?.so' || exit 1; \
	done
