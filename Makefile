# concurrent -- Python's concurrent.futures, threading and multiprocessing
# for Lua 5.4, over pthreads.
#
#   make            build build/concurrent/core.so and build/libconcurrent.a
#   make test       install what is missing, build, run the C and busted tests
#   make test-all   the busted suite on Lua 5.4, 5.3, 5.1 and LuaJIT
#   make LUA_VERSION=5.3|5.1|jit   build for another Lua (into build-VERSION/)
#   make demo       run the tour of examples with short timings
#   make install    PREFIX, DESTDIR, LUA_CMODULE_DIR, LUA_MODULE_DIR

# LUA_VERSION is 5.4 (the default), 5.3, 5.1 or jit (LuaJIT 2.1). Given
# only LUA (luarocks passes its interpreter), the version is asked of it.
# Each version builds into its own directory: build/ for 5.4, build-5.3/,
# build-5.1/, build-jit/ for the others.
ifndef LUA_VERSION
  ifdef LUA
    LUA_VERSION := $(shell $(LUA) -e 'io.write(jit and "jit" or _VERSION:sub(5))')
  else
    LUA_VERSION := 5.4
  endif
endif
ifeq ($(LUA_VERSION),jit)
  LUA            ?= luajit
  LUA_PKG        := luajit
  LUA_ABI        := 5.1
else
  LUA            ?= lua$(LUA_VERSION)
  LUA_PKG        := lua$(LUA_VERSION)
  LUA_ABI        := $(LUA_VERSION)
endif
PKG_CONFIG       ?= pkg-config
LUA_INCDIR       ?= $(patsubst -I%,%,$(filter -I%,$(shell $(PKG_CONFIG) --cflags $(LUA_PKG) 2>/dev/null)))
PREFIX           ?= /usr/local
LUA_CMODULE_DIR  ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUA_MODULE_DIR   ?= $(PREFIX)/share/lua/$(LUA_ABI)
LIBDIR           ?= $(PREFIX)/lib
INCLUDEDIR       ?= $(PREFIX)/include
DESTDIR          ?=
BUSTED           ?= /usr/bin/busted
ifeq ($(LUA_VERSION),5.4)
  BUILD          ?= build
else
  BUILD          ?= build-$(LUA_VERSION)
endif

CC               ?= cc
OPT              ?= -O2 -g
WARN             := -Wall -Wextra -Werror
BASE_CFLAGS      := -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARN)
ALL_CFLAGS        = $(BASE_CFLAGS) $(OPT) -I$(LUA_INCDIR) $(CFLAGS) $(SANITIZE)
ALL_LDFLAGS       = -pthread $(LDFLAGS) $(SANITIZE)

CORE_SRC    := $(wildcard csrc/core/*.c)
BINDING_SRC := $(wildcard csrc/binding/*.c csrc/binding/*/*.c)
CORE_OBJ    := $(CORE_SRC:csrc/%.c=$(BUILD)/%.o)
BINDING_OBJ := $(BINDING_SRC:csrc/%.c=$(BUILD)/%.o)
HEADERS     := $(wildcard csrc/*.h csrc/core/*.h csrc/binding/*/*.h)
C_TESTS     := $(patsubst csrc/test/%.c,$(BUILD)/test/%,$(wildcard csrc/test/test_*.c))

MODULE := $(BUILD)/concurrent/core.so
CORELIB := $(BUILD)/libconcurrent.a

# The Lua modules, precompiled: compiling futures.lua from source is most
# of a `require "concurrent.futures"` (~0.8 ms of ~1.2), loading its
# bytecode ~0.1 ms. `make` writes $(BUILD)/lua/concurrent/*.lua as binary
# chunks and `make install` installs them under the .lua names: Lua's
# loaders (loadfile, package.searchers) take a binary chunk from any file,
# by its leading ESC byte. Bytecode is tied to the interpreter's version
# and number sizes, so it is made by $(LUA) on the machine that builds and
# installs (luarocks passes its own interpreter as LUA), never shipped.
# Debug info is kept so tracebacks keep their lines; the chunk names read
# "@concurrent/futures.lua" whatever the build directory. The dev tree
# (specs, examples: lua/?.lua) keeps using the sources.
LUA_SRC      := $(wildcard lua/concurrent/*.lua)
LUA_BYTECODE := $(LUA_SRC:lua/%=$(BUILD)/lua/%)

.PHONY: all test test-all demo bench install clean deps check-deps c-tests busted layers

all: $(MODULE) $(CORELIB) $(LUA_BYTECODE)

$(BUILD)/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The module never links liblua: the host interpreter provides it.
$(MODULE): $(CORE_OBJ) $(BINDING_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-Bsymbolic-functions -o $@ $^ $(ALL_LDFLAGS) -ldl

LUA_COMPILE = local i = assert(io.open("$<", "rb")) \
  local f = assert((loadstring or load)(i:read("*a"), "@$*.lua")) i:close() \
  local o = assert(io.open("$@.tmp", "wb")) o:write(string.dump(f)) assert(o:close())

$(BUILD)/lua/%.lua: lua/%.lua
	@mkdir -p $(dir $@)
	$(LUA) -e '$(LUA_COMPILE)'
	@mv $@.tmp $@

$(CORELIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/test/%: csrc/test/%.c $(CORELIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(CORELIB) $(ALL_LDFLAGS)

# Install what is missing from Debian's packages (as root), or say how.
deps:
	@sh .ci/deps.sh

# Lower layers never use higher ones (ARCHITECTURE.md): includes and the
# objects' undefined symbols.
layers: $(CORE_OBJ) $(BINDING_OBJ)
	@sh csrc/layers.sh $(BUILD)

c-tests: $(C_TESTS)
	@set -e; for t in $(C_TESTS); do $(TEST_ENV) $$t; done

# Before 5.4, spec/compat.lua rewrites the specs' `<close>` (it says how).
# Specs that start Lua programs run $(LUA), with this build.
ifneq ($(LUA_VERSION),5.4)
  SPEC_COMPAT := --helper=spec/compat.lua
endif
busted: $(MODULE)
	@CONCURRENT_LUA=$${CONCURRENT_LUA:-$(LUA)} LUA=$(LUA) sh spec/run.sh $(LUA) $(BUSTED) \
	  --cpath='$(BUILD)/?.so' $(SPEC_COMPAT) $(BUSTED_ARGS)

# The suite on every installed Lua (TEST_VERSIONS): one "busted:" line a
# version, then the total "N passed, N failed" as the last line.
TEST_VERSIONS ?= 5.4 5.3 5.1 jit
test-all: deps
	@sh .ci/deps-versions.sh
	@sh spec/test-all.sh $(TEST_VERSIONS)

# Fragments add their own targets, and to TEST_DEPS what `make test`
# needs built before the specs run.
TEST_DEPS :=
-include examples/examples.mk bench/bench.mk spec/sanitize.mk csrc/fuzz/fuzz.mk

test: deps
	@$(MAKE) --no-print-directory all layers c-tests $(TEST_DEPS)
	@$(MAKE) --no-print-directory busted

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/tour.sh $(LUA)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(LUA)

install: $(MODULE) $(CORELIB) $(LUA_BYTECODE)
	install -d $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent $(DESTDIR)$(LUA_MODULE_DIR)/concurrent
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent/core.so
	install -m 644 $(LUA_BYTECODE) $(DESTDIR)$(LUA_MODULE_DIR)/concurrent/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(CORELIB) $(DESTDIR)$(LIBDIR)/libconcurrent.a
	install -m 644 csrc/concurrent.h $(DESTDIR)$(INCLUDEDIR)/concurrent.h

clean:
	rm -rf $(BUILD) build-*
