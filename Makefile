# concurrent -- Python's concurrent.futures, threading and multiprocessing
# for Lua 5.4, over pthreads.
#
#   make            build build/concurrent/core.so and build/libconcurrent.a
#   make test       install what is missing, build, run the C and busted tests
#   make busted     build what the specs need and run them (BUSTED_ARGS)
#   make test-all   the busted suite on Lua 5.4, 5.3, 5.1 and LuaJIT
#   make LUA_VERSION=5.3|5.1|jit   build for another Lua (into build-VERSION/)
#   make demo       run the tour of examples with short timings
#   make install    PREFIX, DESTDIR, LUA_CMODULE_DIR, LUA_MODULE_DIR, LIBDIR,
#                   INCLUDEDIR; BYTECODE=1 installs the Lua modules precompiled
#   make env        the exports that let lua5.4 find this build from a clone:
#                   eval "$(make -s env)"
#   WERROR=1        warnings are errors (CI); never the default, so a newer
#                   compiler's new warning cannot break an install

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
PREFIX           ?= /usr/local
LUA_CMODULE_DIR  ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUA_MODULE_DIR   ?= $(PREFIX)/share/lua/$(LUA_ABI)
LIBDIR           ?= $(PREFIX)/lib
INCLUDEDIR       ?= $(PREFIX)/include
PKGCONFIGDIR     ?= $(LIBDIR)/pkgconfig
DESTDIR          ?=
BUSTED           ?= $(shell command -v busted 2>/dev/null || echo busted)
BYTECODE         ?=
ifeq ($(LUA_VERSION),5.4)
  BUILD          ?= build
else
  BUILD          ?= build-$(LUA_VERSION)
endif

# lua.h: where pkg-config says, else the usual places (computed once).
ifndef LUA_INCDIR
LUA_INCDIR := $(patsubst %/lua.h,%,$(firstword $(wildcard $(addsuffix /lua.h,\
  $(patsubst -I%,%,$(filter -I%,$(shell $(PKG_CONFIG) --cflags $(LUA_PKG) 2>/dev/null))) \
  $(if $(filter jit,$(LUA_VERSION)),/usr/include/luajit-2.1 /usr/local/include/luajit-2.1,\
  /usr/include/lua$(LUA_VERSION) /usr/local/include/lua$(LUA_VERSION) \
  /usr/include/lua-$(LUA_VERSION) /usr/local/include/lua-$(LUA_VERSION) \
  /usr/local/include /usr/include)))))
endif

CC               ?= cc
OPT              ?= -O2 -g
WARN             := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror)
BASE_CFLAGS      := -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARN)
ALL_CFLAGS        = $(BASE_CFLAGS) $(OPT) $(if $(LUA_INCDIR),-I$(LUA_INCDIR)) $(CFLAGS) $(SANITIZE)
ALL_LDFLAGS       = -pthread $(LDFLAGS) $(SANITIZE)

CORE_SRC    := $(wildcard csrc/core/*.c)
BINDING_SRC := $(wildcard csrc/binding/*.c csrc/binding/*/*.c)
CORE_OBJ    := $(CORE_SRC:csrc/%.c=$(BUILD)/%.o)
BINDING_OBJ := $(BINDING_SRC:csrc/%.c=$(BUILD)/%.o)
HEADERS     := $(wildcard csrc/*.h csrc/core/*.h csrc/binding/*/*.h)
PUBLIC_HEADERS := csrc/concurrent.h csrc/concurrent_lua.h
C_TESTS     := $(patsubst csrc/test/%.c,$(BUILD)/test/%,$(wildcard csrc/test/test_*.c))

CF_VERSION  := $(shell sed -n 's/^\#define CF_VERSION "\(.*\)"/\1/p' csrc/concurrent.h)

MODULE := $(BUILD)/concurrent/core.so
CORELIB := $(BUILD)/libconcurrent.a

# The Lua modules install as sources, as rocks do (tools that read the
# installed files get text). BYTECODE=1 installs them precompiled instead
# ($(BUILD)/lua/concurrent/*.lua, binary chunks under the .lua names, which
# Lua's loaders take by their leading ESC byte): made by $(LUA) on the
# machine that installs, since bytecode is tied to the interpreter's version
# and number sizes, with debug info and "@concurrent/x.lua" chunk names.
LUA_SRC      := $(wildcard lua/concurrent/*.lua)
LUA_BYTECODE := $(LUA_SRC:lua/%=$(BUILD)/lua/%)
LUA_INSTALL   = $(if $(filter 1,$(BYTECODE)),$(LUA_BYTECODE),$(LUA_SRC))

.PHONY: all test test-all demo bench install clean deps c-tests busted layers docs-check env

all: $(MODULE) $(CORELIB) $(if $(filter 1,$(BYTECODE)),$(LUA_BYTECODE))

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

$(BUILD)/test/%: csrc/test/%.c csrc/test/check.h $(CORELIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(CORELIB) $(ALL_LDFLAGS)

# test_core fails chosen allocations of the core (its __wrap_malloc and
# __wrap_calloc): the link routes the core's calls to them.
$(BUILD)/test/test_core: ALL_LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc

# test_payload reads what the writer wrote through the decoder: it links
# the layers the transfer needs (as the fuzz targets do) and liblua.
PAYLOAD_TEST_OBJ = $(CORE_OBJ) $(filter $(BUILD)/binding/runtime/% $(BUILD)/binding/transfer/%,$(BINDING_OBJ))
$(BUILD)/test/test_payload: csrc/test/test_payload.c $(PAYLOAD_TEST_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(PAYLOAD_TEST_OBJ) $(ALL_LDFLAGS) $(HOST_LUA_LIBS) -lm -ldl

# Check that what the build and the tests need is here (commands and lua.h,
# no package manager asked); if not, install it from Debian's packages (as
# root), or say what is missing.
deps:
	@sh .ci/deps-check.sh "$(LUA)" "$(LUA_INCDIR)" "$(CC)" "$(BUSTED)"
	@sh .ci/deps-optional.sh

# Lower layers never use higher ones (ARCHITECTURE.md): includes and the
# objects' undefined symbols.
layers: $(CORE_OBJ) $(BINDING_OBJ)
	@sh csrc/layers.sh $(BUILD)

# docs/reference.md's C API section names what the public headers declare.
docs-check:
	@sh docs/check-c-api.sh

c-tests: $(C_TESTS)
	@set -e; for t in $(C_TESTS); do $(TEST_ENV) $$t; done

# The suite on every installed Lua (TEST_VERSIONS): one "busted:" line a
# version, then the total "N passed, N failed" as the last line.
TEST_VERSIONS ?= 5.4 5.3 5.1 jit
test-all: deps
	@sh .ci/deps-versions.sh
	@sh spec/test-all.sh $(TEST_VERSIONS)

# Fragments add their own targets, and to TEST_DEPS what `make test`
# needs built before the specs run.
TEST_DEPS :=
-include examples/examples.mk bench/bench.mk spec/sanitize.mk csrc/fuzz/fuzz.mk \
  examples/trace/trace.mk

# After the fragments: TEST_DEPS is complete here.
# Before 5.4, spec/compat.lua rewrites the specs' `<close>` (it says how).
# Specs that start Lua programs run $(LUA), with this build.
ifneq ($(LUA_VERSION),5.4)
  SPEC_COMPAT := --helper=spec/compat.lua
endif
busted: $(MODULE) $(TEST_DEPS)
	@CONCURRENT_LUA=$${CONCURRENT_LUA:-$(LUA)} LUA=$(LUA) sh spec/run.sh $(LUA) $(BUSTED) \
	  --cpath='$(BUILD)/?.so' $(SPEC_COMPAT) $(BUSTED_ARGS)

test: deps
	@$(MAKE) --no-print-directory all layers docs-check c-tests $(TEST_DEPS)
	@$(MAKE) --no-print-directory busted

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/tour.sh $(LUA)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(LUA)

# The C module, the Lua modules, and for C hosts the static core library,
# the headers and a pkg-config file (pkg-config --cflags --libs concurrent).
install: $(MODULE) $(CORELIB) $(LUA_INSTALL)
	install -d $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent $(DESTDIR)$(LUA_MODULE_DIR)/concurrent
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent/core.so
	install -m 644 $(LUA_INSTALL) $(DESTDIR)$(LUA_MODULE_DIR)/concurrent/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(CORELIB) $(DESTDIR)$(LIBDIR)/libconcurrent.a
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(CF_VERSION)|' \
	  csrc/concurrent.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/concurrent.pc

# For a shell in a clone: eval "$$(make -s env)" lets lua5.4 (a user's own
# script, anywhere) find this build: the C module in $(BUILD), the Lua
# modules in lua/.
env:
	@top=$$(pwd); \
	echo "export LUA_PATH=\"$$top/lua/?.lua;$$top/lua/?/init.lua;;\""; \
	echo "export LUA_CPATH=\"$$top/$(BUILD)/?.so;;\""

clean:
	rm -rf $(BUILD) build-*
