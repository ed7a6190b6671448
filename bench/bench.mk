# bench/bench.mk -- included by the Makefile. `make bench` (the Makefile's
# target) runs bench/run.sh: every workload for this library and for the
# peers installed here, the floor (bench/floor/floor.c: bare pthreads and
# the Lua C API), then the table against the goals. Options:
#   make bench BENCH_ARGS="--repeat 3 --only A,C"  BENCH_JSON=out.json
#   make bench-quick                                (a smoke run, ~15 s)
# Each writes a chart per workload (bench/charts.lua, gnuplot): make bench
# into bench/charts/ (the images bench/README.md shows), make bench-quick
# into $(BUILD)/bench-charts/.
# A benchmark, not a test: nothing here is part of `make test`.
BENCH_ARGS ?=
BENCH_JSON ?=
export BENCH_ARGS BENCH_JSON
bench: export CONCURRENT_CPATH := $(BUILD)/?.so

# The floor program links liblua itself (unlike the module, it is its own
# host). Recursive variables: pkg-config runs only when the floor is built.
FLOOR := $(BUILD)/bench/floor
FLOOR_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) \
	$(shell $(PKG_CONFIG) --cflags $(LUA_PKG)) $(CFLAGS)
FLOOR_LIBS = $(shell $(PKG_CONFIG) --libs $(LUA_PKG)) -pthread $(LDFLAGS)

# deps first (order-only): it installs liblua5.4-dev when missing.
FLOOR_SRC := bench/floor/floor.c bench/floor/copy.c
$(FLOOR): $(FLOOR_SRC) bench/floor/floor.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(FLOOR_CFLAGS) $(FLOOR_SRC) -o $@ $(FLOOR_LIBS)

bench: $(FLOOR)
bench: export CONCURRENT_FLOOR := $(FLOOR)

.PHONY: bench-quick
bench-quick: all $(FLOOR)
	@CONCURRENT_CPATH='$(BUILD)/?.so' CONCURRENT_FLOOR='$(FLOOR)' \
	  BENCH_CHARTS='$(BUILD)/bench-charts' sh bench/run.sh $(LUA) --quick

# Workloads A, B, C and D on every Lua version (bench/versions.sh): builds
# the module for 5.3, 5.1 and LuaJIT too, then one table.
.PHONY: bench-versions
bench-versions: deps
	@sh .ci/deps-versions.sh
	@for v in 5.4 5.3 5.1 jit; do $(MAKE) --no-print-directory LUA_VERSION=$$v all || exit 1; done
	@sh bench/versions.sh $(BENCH_ARGS)
