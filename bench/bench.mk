# bench/bench.mk -- included by the Makefile. `make bench` (the Makefile's
# target) runs bench/run.sh: every workload for this library and for the
# peers installed here, then the table against the goals. Options:
#   make bench BENCH_ARGS="--repeat 3 --only A,C"  BENCH_JSON=out.json
#   make bench-quick                                (a smoke run, ~15 s)
# A benchmark, not a test: nothing here is part of `make test`.
BENCH_ARGS ?=
BENCH_JSON ?=
export BENCH_ARGS BENCH_JSON
bench: export CONCURRENT_CPATH := $(BUILD)/?.so

.PHONY: bench-quick
bench-quick: all
	@CONCURRENT_CPATH='$(BUILD)/?.so' sh bench/run.sh $(LUA) --quick
