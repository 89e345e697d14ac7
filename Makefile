# Roost top-level Makefile (GNU make, no autotools).
#
#   make            build everything into build/ (build/bin/ holds the programs)
#   make check      install missing deps, build with ASan+UBSan into build/check/,
#                   run the unit tests and the end-to-end tests
#   make run        install missing deps, build, create var/ and run master in
#                   the foreground (Ctrl-C stops it)
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      compare imapd with Debian's Cyrus and Dovecot (prints ratios)
#   make docs       regenerate docs/config.md from the config key table
#   make clean
#
# Each program directory has a module.mk that declares its programs; see
# docs/architecture.md ("Build").

SHELL       := /bin/bash
PREFIX      ?= /usr/local
DESTDIR     ?=
CC          ?= cc
ifeq ($(origin CC),default)
CC          := gcc
endif

# SAN=1 builds with AddressSanitizer and UBSan (what `make check` uses).
SAN         ?= 0
ifeq ($(SAN),1)
BUILD       ?= build/check
SANFLAGS    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPTFLAGS    := -O1 -g
else ifeq ($(SAN),fuzz)
# libFuzzer build (clang): the libraries are instrumented for coverage.
BUILD       ?= build/fuzz
CC          := clang
SANFLAGS    := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPTFLAGS    := -O1 -g -Wno-unknown-warning-option
else
BUILD       ?= build
SANFLAGS    :=
OPTFLAGS    := -O2 -g
endif

PKGS        := openssl libsasl2 icu-uc icu-i18n
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
DB_LIBS     := -ldb-5.3
CMOCKA_LIBS := -lcmocka

WARNFLAGS   := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
               -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla
CFLAGS_ALL  := -std=c11 -D_GNU_SOURCE $(OPTFLAGS) $(WARNFLAGS) $(SANFLAGS) \
               -MMD -MP -Ilib -Istore -Iimapd $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)
LIBS_ALL    := $(PKG_LIBS) $(DB_LIBS) -lz -lcrypt

OBJ         := $(BUILD)/obj
BIN         := $(BUILD)/bin
LIBROOST    := $(BUILD)/lib/libroost.a
LIBSTORE    := $(BUILD)/lib/libroost-store.a
# imapd's modules as a library too, so unit tests and fuzzers can link them.
LIBIMAPD    := $(BUILD)/lib/libroost-imapd.a

LIB_SRCS    := $(wildcard lib/*.c)
STORE_SRCS  := $(wildcard store/*.c)
IMAPD_LIB_SRCS := $(filter-out imapd/imapd.c imapd/imap_stubs.c,$(wildcard imapd/*.c))

# Programs: module.mk files append to PROGRAMS and set NAME_SRCS.
# Single-file commands: every tools/*.c and store/tools/*.c is one program.
PROGRAMS    :=
include $(wildcard */module.mk)
TOOL_SRCS   := $(wildcard tools/*.c store/tools/*.c)
TOOLS       := $(basename $(notdir $(TOOL_SRCS)))

UNIT_SRCS   := $(wildcard tests/unit/test-*.c)
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TESTSVC_SRCS:= $(wildcard tests/svc/*.c)

.PHONY: all check run install docs clean deps unit e2e fuzz fuzz-build bench programs tests-build
.DEFAULT_GOAL := all

all: programs

programs: $(addprefix $(BIN)/,$(PROGRAMS) $(TOOLS))

# V=1 shows the full commands.
Q           := $(if $(filter 1,$(V)),,@)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBROOST): $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS))
	@mkdir -p $(@D)
	$(Q)rm -f $@; ar rcs $@ $^

$(LIBSTORE): $(patsubst %.c,$(OBJ)/%.o,$(STORE_SRCS))
	@mkdir -p $(@D)
	$(Q)rm -f $@; ar rcs $@ $^

$(LIBIMAPD): $(patsubst %.c,$(OBJ)/%.o,$(IMAPD_LIB_SRCS))
	@mkdir -p $(@D)
	$(Q)rm -f $@; ar rcs $@ $^

LINK_LIBS = $(if $(STORE_SRCS),$(LIBSTORE)) $(LIBROOST)
TEST_LIBS = $(if $(IMAPD_LIB_SRCS),$(LIBIMAPD)) $(LINK_LIBS)

define program_template
$(BIN)/$(1): $$(patsubst %.c,$$(OBJ)/%.o,$$($(1)_SRCS)) $$(LINK_LIBS)
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(LDFLAGS_ALL) -o $$@ $$(patsubst %.c,$$(OBJ)/%.o,$$($(1)_SRCS)) $$(LINK_LIBS) $$(LIBS_ALL)
endef
$(foreach p,$(PROGRAMS),$(eval $(call program_template,$(p))))

define tool_template
$(BIN)/$(basename $(notdir $(1))): $$(OBJ)/$(basename $(1)).o $$(LINK_LIBS)
	@mkdir -p $$(@D)
	@$$(if $$(Q),echo "  LINK    $$@")
	$$(Q)$$(CC) $$(LDFLAGS_ALL) -o $$@ $$< $$(LINK_LIBS) $$(LIBS_ALL)
endef
$(foreach t,$(TOOL_SRCS),$(eval $(call tool_template,$(t))))

# Unit tests: one binary per tests/unit/test-*.c, linked with cmocka.
$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(TEST_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TEST_LIBS) $(LIBS_ALL) $(CMOCKA_LIBS)

# The tiny service the foundation tests run under master.
$(BUILD)/tests/testsvc: $(patsubst %.c,$(OBJ)/%.o,$(TESTSVC_SRCS)) $(LINK_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(patsubst %.c,$(OBJ)/%.o,$(TESTSVC_SRCS)) $(LINK_LIBS) $(LIBS_ALL)

# Fuzzers: every tests/fuzz/fuzz-NAME.c is a libFuzzer target, run for
# FUZZ_SECONDS each on the seed corpus tests/fuzz/corpus/NAME/.
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_SECONDS ?= 20
$(BUILD)/fuzz/%: $(OBJ)/tests/fuzz/%.o $(TEST_LIBS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(SANFLAGS) -fsanitize=fuzzer -o $@ $< $(TEST_LIBS) $(LIBS_ALL)

fuzz-build: $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

fuzz:
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-build
	@tools/run-fuzz.sh build/fuzz $(FUZZ_SECONDS)

deps:
	@tools/deps.sh test

# `make check`: dependencies, the sanitizer build, then every test layer.
check: deps
	@$(MAKE) --no-print-directory SAN=1 tests-build
	@$(if $(FUZZ_SRCS),$(MAKE) --no-print-directory SAN=fuzz fuzz-build)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tools/run-tests.sh build/check all $(if $(FUZZ_SRCS),build/fuzz)

tests-build: programs $(UNIT_TESTS) $(if $(TESTSVC_SRCS),$(BUILD)/tests/testsvc)

unit: tests-build
	@tools/run-tests.sh $(BUILD) unit

e2e: tests-build
	@tools/run-tests.sh $(BUILD) e2e

# make bench: Roost's imapd against Debian's Cyrus and Dovecot on one
# workload (tests/bench/imap_bench.py; BENCH_ARGS="--messages 2000" for a
# quick run), then the LMTP throughput figures.
BENCH_ARGS ?=
bench:
	@tools/deps.sh bench
	@$(MAKE) --no-print-directory programs
	@ROOST_BUILD=build /usr/bin/python3 tests/bench/imap_bench.py $(BENCH_ARGS)
	@ROOST_BUILD=build ROOST_BENCH=1 /usr/bin/python3 -m pytest -q -s tests/e2e/test_lmtp.py -k bench

run:
	@tools/deps.sh build
	@$(MAKE) --no-print-directory programs
	@tools/mkinstance.sh "$(CURDIR)/var" "$(CURDIR)/build/bin"
	@exec build/bin/master -C "$(CURDIR)/var/imapd.conf"

docs: programs
	$(BIN)/roost-config --markdown > docs/config.md

# Daemons go under libexec/roost; user commands get a roost- prefix in bin
# so they never clash with Debian's cyrus packages (cyradm, deliver, ...).
DAEMONS     := $(filter master imapd pop3d lmtpd smtpd qmgr,$(PROGRAMS))
COMMANDS    := $(filter-out $(DAEMONS),$(PROGRAMS)) $(TOOLS)
install: programs
	install -d $(DESTDIR)$(PREFIX)/libexec/roost $(DESTDIR)$(PREFIX)/bin
	for p in $(DAEMONS); do install -m 0755 $(BIN)/$$p $(DESTDIR)$(PREFIX)/libexec/roost/$$p; done
	for p in $(COMMANDS); do install -m 0755 $(BIN)/$$p $(DESTDIR)$(PREFIX)/bin/roost-$${p#roost-}; done
	ln -sf ../libexec/roost/master $(DESTDIR)$(PREFIX)/bin/roost-master

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
