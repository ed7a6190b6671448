# examples/examples.mk -- included by the Makefile.
#
# build/host: the embedding example (examples/host/). It is a program, so
# unlike the module it links liblua; it links the module's object files
# too, so it needs no .so at run time.
HOST_PROGRAM := $(BUILD)/host
HOST_LUA_LIBS := $(shell $(PKG_CONFIG) --libs $(LUA_PKG) 2>/dev/null || echo -l$(LUA_PKG))

$(HOST_PROGRAM): examples/host/host.c $(CORE_OBJ) $(BINDING_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icsrc examples/host/host.c $(CORE_OBJ) $(BINDING_OBJ) \
	  -o $@ $(HOST_LUA_LIBS) $(ALL_LDFLAGS) -lm -ldl

.PHONY: host
host: $(HOST_PROGRAM)

TEST_DEPS += $(HOST_PROGRAM)

# examples/love and examples/nvim run in LÖVE and Neovim, whose Lua is
# LuaJIT: `make test` builds the LuaJIT module (build-jit/) for their
# spec when LuaJIT's headers are installed (it says why it skips them
# otherwise).
.PHONY: jit-module
jit-module:
	@if $(PKG_CONFIG) --exists luajit; then \
	  $(MAKE) --no-print-directory LUA_VERSION=jit BUILD=build-jit all; \
	else echo "jit-module: libluajit-5.1-dev not installed: the LÖVE and Neovim specs will be pending"; fi

ifeq ($(LUA_VERSION),5.4)
TEST_DEPS += jit-module
endif
