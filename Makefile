# concurrent -- Python's concurrent.futures, threading and multiprocessing
# for Lua 5.4, over pthreads.
#
#   make            build build/concurrent/core.so and build/libconcurrent.a
#   make test       install what is missing, build, run the C and busted tests
#   make demo       run the tour of examples with short timings
#   make install    PREFIX, DESTDIR, LUA_CMODULE_DIR, LUA_MODULE_DIR

LUA_VERSION      ?= 5.4
LUA              ?= lua$(LUA_VERSION)
PKG_CONFIG       ?= pkg-config
LUA_INCDIR       ?= $(shell $(PKG_CONFIG) --variable=includedir lua$(LUA_VERSION) 2>/dev/null)/lua$(LUA_VERSION)
PREFIX           ?= /usr/local
LUA_CMODULE_DIR  ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_MODULE_DIR   ?= $(PREFIX)/share/lua/$(LUA_VERSION)
LIBDIR           ?= $(PREFIX)/lib
INCLUDEDIR       ?= $(PREFIX)/include
DESTDIR          ?=
BUSTED           ?= /usr/bin/busted
BUILD            ?= build

CC               ?= cc
OPT              ?= -O2 -g
WARN             := -Wall -Wextra -Werror
BASE_CFLAGS      := -std=c11 -D_GNU_SOURCE -fPIC -pthread $(WARN)
ALL_CFLAGS        = $(BASE_CFLAGS) $(OPT) -I$(LUA_INCDIR) $(CFLAGS) $(SANITIZE)
ALL_LDFLAGS       = -pthread $(LDFLAGS) $(SANITIZE)

CORE_SRC    := $(wildcard csrc/core/*.c)
BINDING_SRC := $(wildcard csrc/binding/*.c)
CORE_OBJ    := $(CORE_SRC:csrc/%.c=$(BUILD)/%.o)
BINDING_OBJ := $(BINDING_SRC:csrc/%.c=$(BUILD)/%.o)
HEADERS     := $(wildcard csrc/*.h csrc/core/*.h csrc/binding/*.h)
C_TESTS     := $(patsubst csrc/test/%.c,$(BUILD)/test/%,$(wildcard csrc/test/test_*.c))

MODULE := $(BUILD)/concurrent/core.so
CORELIB := $(BUILD)/libconcurrent.a

.PHONY: all test demo bench install clean deps check-deps c-tests busted

all: $(MODULE) $(CORELIB)

$(BUILD)/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The module never links liblua: the host interpreter provides it.
$(MODULE): $(CORE_OBJ) $(BINDING_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-Bsymbolic-functions -o $@ $^ $(ALL_LDFLAGS) -ldl

$(CORELIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/test/%: csrc/test/%.c $(CORELIB) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(CORELIB) $(ALL_LDFLAGS)

# Install what is missing from Debian's packages (as root), or say how.
deps:
	@sh .ci/deps.sh

c-tests: $(C_TESTS)
	@set -e; for t in $(C_TESTS); do $(TEST_ENV) $$t; done

busted: $(MODULE)
	@sh spec/run.sh $(LUA) $(BUSTED) $(BUSTED_ARGS)

# Fragments add their own targets, and to TEST_DEPS what `make test`
# needs built before the specs run.
TEST_DEPS :=
-include examples/examples.mk bench/bench.mk spec/sanitize.mk csrc/fuzz/fuzz.mk

test: deps
	@$(MAKE) --no-print-directory all c-tests $(TEST_DEPS)
	@$(MAKE) --no-print-directory busted

demo: deps
	@$(MAKE) --no-print-directory all
	@sh examples/tour.sh $(LUA)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(LUA)

install: $(MODULE) $(CORELIB)
	install -d $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent $(DESTDIR)$(LUA_MODULE_DIR)/concurrent
	install -m 755 $(MODULE) $(DESTDIR)$(LUA_CMODULE_DIR)/concurrent/core.so
	install -m 644 lua/concurrent/*.lua $(DESTDIR)$(LUA_MODULE_DIR)/concurrent/
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(CORELIB) $(DESTDIR)$(LIBDIR)/libconcurrent.a
	install -m 644 csrc/concurrent.h $(DESTDIR)$(INCLUDEDIR)/concurrent.h

clean:
	rm -rf $(BUILD) build-*
