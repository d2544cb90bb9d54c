# SPDX-License-Identifier: GPL-2.0
# bbscope: trace what btrfs does with every bio, replay it in userspace.
#
#   make            build everything into build/ (the CLI is build/bbscope)
#   make deps       install the Debian packages the project needs (idempotent)
#   make test       deps + build + the test suite on real btrfs (loop devices), on
#                   this kernel and on Debian's 5.10, 6.1, 6.12 and backports (7.3)
#                   under QEMU, and the .deb on Debian 11, 12 and 13's own systems
#                   (tests/t_deb.sh)
#   make deb        build/bbscope_VERSION_amd64.deb (tools/deb/build.sh)
#   make test-kernels   the tracing tests on those four kernels only
#   make demo       deps + build + a throwaway btrfs, a workload, live tracing
#   make bench      deps + build + benchmarks, JSON results in build/bench/
#   make fmt|lint   clang-format the tree | check formatting, layering, static analysis
#   V=1             show the commands

OUT      ?= build
PREFIX   ?= /usr/local
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# The release (the .deb's version) and the commit built (bbscope --version,
# features --json, every recording).  Only user/host/version.c sees them;
# $(OUT)/version.stamp changes only when they do, so a commit rebuilds one file.
VERSION  ?= 0.9.0
COMMIT   ?= $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)

VMLINUX_H ?= $(OUT)/vmlinux.h
PKGS      := libbpf liburing jansson libcrypto libsodium blkid libmicrohttpd gsl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ifeq ($(PKG_LIBS),)
ifeq ($(filter deps clean fmt check-fmt,$(MAKECMDGOALS)),)
$(warning pkg-config cannot find all of: $(PKGS) (run 'make deps' as root))
endif
endif

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes \
	    -D_GNU_SOURCE -Iinclude -Iuser -I$(OUT) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   += $(PKG_LIBS) -lisal -lxxhash -lelf -lz -lpthread -lm
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(OUT) \
	      -Wall -Wno-unused-function

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
# The tracer is also built without BPF_ATOMIC compare-and-swap, which
# kernels before 5.12 refuse anywhere in an object (user/trace/tracer.c picks one).
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/%.bpf.o,$(BPF_SRCS)) $(OUT)/bbscope_nocas.bpf.o
SKELS     := $(patsubst %.bpf.o,%.skel.h,$(BPF_OBJS))
# user/<role>/*.c, in layer order (tools/layers.sh): cli/ (commands), trace/, replay/,
# verify/, bench/, diff/, sandbox/ (engines), render/ (output formats), tracefile/ (the recording),
# model/ (the report), host/, btrfs/ (below them all); docs/design.md maps them.
USER_DIRS := cli trace replay verify bench diff sandbox render tracefile model host btrfs
MAIN_SRC  := user/cli/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(foreach d,$(USER_DIRS),$(wildcard user/$(d)/*.c)))
LIB_OBJS  := $(patsubst user/%.c,$(OUT)/user/%.o,$(LIB_SRCS))
USER_HDRS := $(foreach d,$(USER_DIRS),$(wildcard user/$(d)/*.h))
TEST_SRCS := $(wildcard tests/*.c)
TEST_BINS := $(patsubst tests/%.c,$(OUT)/tests/%,$(TEST_SRCS))
TOOL_SRCS := $(wildcard tools/*.c)
TOOL_BINS := $(patsubst tools/%.c,$(OUT)/tools/%,$(TOOL_SRCS))

.PHONY: FORCE deb all deps test test-kernels demo bench fuzz install clean fmt lint check-fmt
all: $(OUT)/bbscope $(TEST_BINS) $(TOOL_BINS)

deps:
	$(Q)tools/deps.sh

$(OUT) $(OUT)/tests $(OUT)/tools $(addprefix $(OUT)/user/,$(USER_DIRS)):
	$(Q)mkdir -p $@

$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) $(VMLINUX_H) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -include $(VMLINUX_H) -c $< -o $@.tmp && \
		$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/bbscope_nocas.bpf.o: bpf/bbscope.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) \
			    $(VMLINUX_H) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DBBS_NO_CMPXCHG -include $(VMLINUX_H) -c $< -o $@.tmp && \
		$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(OUT)/user/%.o: user/%.c $(USER_HDRS) $(wildcard include/*.h) $(SKELS) \
		 | $(addprefix $(OUT)/user/,$(USER_DIRS))
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/version.stamp: FORCE | $(OUT)
	$(Q)echo '$(VERSION) $(COMMIT)' | cmp -s - $@ || echo '$(VERSION) $(COMMIT)' > $@

$(OUT)/user/host/version.o: $(OUT)/version.stamp
$(OUT)/user/host/version.o: CFLAGS += -DBBS_VERSION='"$(VERSION)"' -DBBS_COMMIT='"$(COMMIT)"'

$(OUT)/libbbscope.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/bbscope: $(OUT)/user/cli/main.o $(OUT)/libbbscope.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/tests/%: tests/%.c $(wildcard tests/*.h) $(USER_HDRS) $(OUT)/libbbscope.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libbbscope.a $(LDLIBS) -o $@

$(OUT)/tools/%: tools/%.c $(USER_HDRS) $(OUT)/libbbscope.a | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUT)/libbbscope.a $(LDLIBS) -o $@

test: deps
	$(Q)$(MAKE) --no-print-directory all deb
	$(Q)tests/run.sh

# build/bbscope_VERSION_amd64.deb: one package for Debian 11, 12 and 13
# (tools/deb/build.sh says how: static libraries, linked against Debian 11's libc).
deb: $(OUT)/bbscope
	$(Q)OUT=$(OUT) VERSION=$(VERSION) tools/deb/build.sh

# The tracing tests on Debian 11, 12 and 13's kernels only (tools/vm/vm.sh).
test-kernels: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BBSCOPE_HOST=0 tests/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench.sh

install: $(OUT)/bbscope
	$(Q)install -D -m 0755 $(OUT)/bbscope $(DESTDIR)$(PREFIX)/sbin/bbscope
	$(Q)install -D -m 0644 docs/bbscope.8 $(DESTDIR)$(PREFIX)/share/man/man8/bbscope.8 2>/dev/null || true

FMT_SRCS = $(wildcard bpf/*.c bpf/*.h include/*.h tests/*.c tests/*.h tools/*.c) $(LIB_SRCS) \
	   $(MAIN_SRC) $(USER_HDRS)
fmt:
	$(Q)clang-format -i $(FMT_SRCS)

check-fmt:
	$(Q)clang-format --dry-run --Werror $(FMT_SRCS)

# System headers are not parsed (fast); the few macros from them that change
# control flow are spelled out so cppcheck can follow the code.
CPPCHECK_DEFS = -D_GNU_SOURCE -D'LIBBPF_OPTS(t,n,...)=struct t n = {0}' \
	-D'json_array_foreach(a,i,v)=for (i = 0; (v = json_array_get(a, i)); i++)' \
	-D'json_object_foreach(o,k,v)=for (k = 0; (v = 0);)'
# tools/layers.sh: no #include reaches up a layer (docs/design.md).
lint: check-fmt
	$(Q)tools/layers.sh
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --suppress=missingIncludeSystem -Iinclude -Iuser \
		$(CPPCHECK_DEFS) $(LIB_SRCS) $(MAIN_SRC) $(TEST_SRCS) $(TOOL_SRCS)

clean:
	$(Q)rm -rf $(OUT)

.SECONDARY: $(BPF_OBJS) $(SKELS)
.DELETE_ON_ERROR:

# make fuzz: the trace file reader (user/tracefile/read.c) under libFuzzer, ASan and
# UBSan (clang), for FUZZ_SECS seconds, seeded from tests/fuzz/.  New inputs
# go to $(OUT)/fuzz-corpus/, a crashing input to $(OUT)/crash-*; replay one
# with the plain build: $(OUT)/tools/fuzz_tracefile FILE.
FUZZ_SECS ?= 60
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -DBBS_LIBFUZZER \
	       -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
	       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

# The reader and the model below it, alone: nothing that touches the running system.
FUZZ_SRCS := user/tracefile/read.c $(wildcard user/model/*.c)
$(OUT)/fuzz_tracefile: tools/fuzz_tracefile.c $(FUZZ_SRCS) $(wildcard user/tracefile/*.h) \
		       $(wildcard user/model/*.h) include/bbscope.h | $(OUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) tools/fuzz_tracefile.c $(FUZZ_SRCS) -lisal -o $@

fuzz: $(OUT)/fuzz_tracefile
	$(Q)mkdir -p $(OUT)/fuzz-corpus
	$(Q)$(OUT)/fuzz_tracefile -max_total_time=$(FUZZ_SECS) -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(OUT)/ \
		$(OUT)/fuzz-corpus tests/fuzz
