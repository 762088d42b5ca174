# fnbridge - build, test, demo and bench.
#   make          build/fnbridge
#   make test     install deps (as root), build, run every test
#   make asan     the whole suite under AddressSanitizer + UBSan
#   make demo     Kafka and MQTT -> local functions, end to end, in under a minute
#   make bench    throughput and memory figures (not part of test)
#   make fuzz     the libFuzzer targets of tests/fuzz, FUZZ_SECONDS each

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
PYTHON  ?= /usr/bin/python3
PKGS    := rdkafka libcurl jansson yaml-0.1 libmosquitto lmdb expat libmicrohttpd libcrypto
OPT     ?= -O2
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g $(OPT) -pthread -I. \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm

CORE_SRC := $(wildcard bridge/*.c connectors/*.c connectors/*/*.c config/*.c)
MAIN_SRC := bridge/main.c
LIB_SRC  := $(filter-out $(MAIN_SRC),$(CORE_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
TOOL_LIBS := $(shell pkg-config --libs rdkafka libmicrohttpd jansson 2>/dev/null) -pthread -lm
TOOL_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)

# Debian packages the build, the tests, the demo and the bench need.
DEB_PKGS := build-essential pkg-config librdkafka-dev libcurl4-openssl-dev libssl-dev \
            libjansson-dev libyaml-dev liblmdb-dev libmicrohttpd-dev \
            libexpat1-dev libmosquitto-dev mosquitto mosquitto-clients kcat python3 \
            python3-pytest python3-confluent-kafka python3-paho-mqtt openssl curl \
            cmake xz-utils python3-yaml systemd prometheus

.PHONY: all deps test unit e2e structure tools asan demo bench fuzz fuzz-deps fuzz-run install clean docs

all: $(BUILD)/fnbridge

# Compiler lines are long; show one short line per file (V=1 shows all).
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @echo "  $(1) $(2)"
endif
MAKEFLAGS += --no-print-directory

$(BUILD)/fnbridge: $(MAIN_OBJ) $(LIB_OBJ)
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Each object depends on the headers it includes, as the compiler lists
# them (-MMD) in a .d file beside it; -MP keeps a removed header from
# breaking the build.
DEPFLAGS = -MMD -MP

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(TOOL_CFLAGS) -o $@ $< $(TOOL_LIBS)

# Bench programs that time fnbridge's own core link its objects.
$(BUILD)/bench/%: tests/bench/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS)

# The memory floor make bench compares fnbridge's idle RSS with.
$(BUILD)/tools/rss_floor: TOOL_LIBS += $(shell pkg-config --libs libcurl 2>/dev/null)
$(BUILD)/tools/mqtt_pub: TOOL_LIBS += $(shell pkg-config --libs libmosquitto 2>/dev/null)
$(BUILD)/tools/mqtt_lat: TOOL_LIBS += $(shell pkg-config --libs libmosquitto 2>/dev/null)
$(BUILD)/tools/s3_list: TOOL_LIBS += $(shell pkg-config --libs libcurl expat 2>/dev/null)
$(BUILD)/tools/s3_put: TOOL_LIBS += $(shell pkg-config --libs libcurl 2>/dev/null)
$(BUILD)/tools/rt_echo: TOOL_LIBS += $(shell pkg-config --libs libcurl 2>/dev/null)

# test_oom fails chosen allocations of the core (not those of libc or the
# libraries it links): it wraps the allocator of the objects linked in.
$(BUILD)/tests/test_oom: LDLIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

tools: $(TOOL_BIN)

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "deps: missing packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y $$missing"; exit 1; fi
	@$(MAKE) $(S3RVER)

# The npm packages the tests run, at the versions tests/node/package-lock.json
# pins: s3rver, the S3-compatible store the S3 tests and bench run against,
# and aws-lambda-ric, AWS's Node.js runtime interface client, run unchanged
# under exec runtime-api. Its install builds curl and aws-lambda-cpp from
# the sources in its package (cmake, the C/C++ compilers, xz) and a node-gyp
# addon against Node's headers: those of /usr/include/node (the nodejs
# package of NodeSource, libnode-dev for Debian's), never a download.
S3RVER := tests/node/node_modules/.bin/s3rver
AWS_RIC := tests/node/node_modules/.bin/aws-lambda-ric
NODE_HEADERS := /usr/include/node/common.gypi
$(S3RVER): tests/node/package.json tests/node/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || \
	  { echo "deps: the tests need Node.js and npm (apt-get install nodejs npm)"; exit 1; }
	@[ -f $(NODE_HEADERS) ] || { [ "$$(id -u)" = 0 ] && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnode-dev >/dev/null; } || \
	  { echo "deps: aws-lambda-ric needs Node's headers in /usr/include/node (apt-get install libnode-dev)"; exit 1; }
	@echo "deps: npm ci in tests/node (builds aws-lambda-ric's native client: minutes)"
	cd tests/node && npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error
	@touch $@
$(AWS_RIC): $(S3RVER)

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

e2e: $(BUILD)/fnbridge tools
	FNBRIDGE=$(abspath $(BUILD)/fnbridge) TOOLS=$(abspath $(BUILD)/tools) S3RVER=$(abspath $(S3RVER)) \
	  AWS_RIC=$(abspath $(AWS_RIC)) $(PYTHON) -m pytest -q tests/e2e

test: deps
	$(MAKE) all tools
	$(MAKE) structure
	$(MAKE) unit
	$(MAKE) e2e

# The layers of the sources (tests/structure/layers.py): no include points
# up, no two files call each other in a circle (read from the objects).
# connectors/README.md's example source must still compile against the API.
structure: $(BUILD)/fnbridge
	$(PYTHON) tests/structure/layers.py --check $(BUILD)
	@{ printf '#include <stddef.h>\n#include "bridge/connector.h"\n#include "bridge/record_kind.h"\n'; \
	   printf 'static const struct br_record_kind ticker_kind = {.name = "ticker"};\n'; \
	   awk '/^```c$$/{f=1;next} /^```$$/{f=0} f' connectors/README.md; } > $(BUILD)/readme_example.c
	$(Q)$(CC) $(CFLAGS) -c -o $(BUILD)/readme_example.o $(BUILD)/readme_example.c
	@echo "structure: layers hold, connectors/README.md's example compiles"

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  unit e2e

demo: deps
	$(MAKE) all tools
	BUILD=$(abspath $(BUILD)) config/examples/demo.sh

bench: deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || \
	  { echo "bench: needs wrk (apt-get install wrk)"; exit 1; }
	$(MAKE) all tools
	FNBRIDGE=$(abspath $(BUILD)/fnbridge) TOOLS=$(abspath $(BUILD)/tools) $(PYTHON) tests/bench/bench.py
	FNBRIDGE=$(abspath $(BUILD)/fnbridge) TOOLS=$(abspath $(BUILD)/tools) $(PYTHON) tests/bench/bench_backlog.py
	FNBRIDGE=$(abspath $(BUILD)/fnbridge) TOOLS=$(abspath $(BUILD)/tools) $(PYTHON) tests/bench/bench_mqtt.py
	FNBRIDGE=$(abspath $(BUILD)/fnbridge) TOOLS=$(abspath $(BUILD)/tools) S3RVER=$(abspath $(S3RVER)) \
	  $(PYTHON) tests/bench/bench_s3.py
	$(MAKE) $(BUILD)/bench/invoke_lat
	TOOLS=$(abspath $(BUILD)/tools) BENCH=$(abspath $(BUILD)/bench) $(PYTHON) tests/bench/bench_targets.py

# Fuzzing (tests/fuzz): each target is built with Debian's clang, linked
# with the core's objects built by clang with the same sanitizers and
# libFuzzer's coverage hooks (in build-fuzz), then run for FUZZ_SECONDS on a
# copy of its seed corpus (tests/fuzz/corpus/<target>, never written to).
# A crash, a leak, a sanitizer report or a failed property fails the make;
# the input is kept in build-fuzz/fuzz/<target>/crash-*.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
# -max_len per target: a config file, a function's answer, a ListObjectsV2
# page of a few objects, a record's value, a pattern (4 KiB at most) and a
# record to match.
FUZZ_MAX_LEN_config     := 16384
FUZZ_MAX_LEN_outcome    := 8192
FUZZ_MAX_LEN_s3_list    := 16384
FUZZ_MAX_LEN_json_check := 8192
FUZZ_MAX_LEN_pattern    := 8192
rparen := )

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) $(DEPFLAGS) -fsanitize=fuzzer -o $@ $< $(LIB_OBJ) $(LDLIBS)

fuzz-deps:
	@missing=$$(for p in $(FUZZ_DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "fuzz: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "fuzz: missing packages; run as root:"; \
	  echo "  apt-get update && apt-get install -y $$missing"; exit 1; fi

fuzz: fuzz-deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang OPT="-O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	  fuzz-run

# Runs every target (BUILD is the fuzz build here); one line per target
# from libFuzzer's final stats, and the log's end when a target fails.
fuzz-run: $(FUZZ_BIN)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  dir=$(BUILD)/fuzz/$$t; rm -rf $$dir; mkdir -p $$dir/corpus; \
	  cp tests/fuzz/corpus/$$t/* $$dir/corpus/; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  case $$t in $(foreach t,$(FUZZ_TARGETS),$(t)$(rparen) max_len=$(or $(FUZZ_MAX_LEN_$(t)),4096);;) \
	    *$(rparen) max_len=4096;; esac; \
	  start=$$(date +%s); \
	  $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -max_len=$$max_len $$dict \
	    -artifact_prefix=$$dir/ $$dir/corpus >$$dir/log 2>&1; rc=$$?; \
	  secs=$$(( $$(date +%s) - start )); \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$dir/log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$dir/log); \
	  if [ $$rc = 0 ]; then \
	    echo "fuzz $$t: $${secs}s, $${execs:-?} runs ($${rate:-?}/s), corpus $$(ls $$dir/corpus | wc -l) inputs"; \
	  else \
	    fail=1; echo "fuzz $$t: FAILED after $${secs}s (exit $$rc), $${execs:-?} runs; log $$dir/log:"; \
	    tail -n 60 $$dir/log; ls $$dir/crash-* $$dir/leak-* $$dir/timeout-* $$dir/oom-* 2>/dev/null; \
	  fi; \
	done; exit $$fail

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/obj/*/*/*.d \
                   $(BUILD)/tests/*.d $(BUILD)/bench/*.d $(BUILD)/fuzz/*.d)

# README's config reference: each block between a config-reference begin
# and end marker is rewritten with that section of `fnbridge help config
# --markdown` (which prints every section between the same markers); a
# section without a block, or a block without a section, fails the make.
docs: $(BUILD)/fnbridge
	$(Q)$(BUILD)/fnbridge help config --markdown > $(BUILD)/config-reference.md
	$(Q)awk 'NR == FNR { if (/^<!-- config-reference:begin /) { name = $$3; inside = 1 } \
	         if (inside) block[name] = block[name] $$0 "\n"; \
	         if (/^<!-- config-reference:end -->$$/) inside = 0; next } \
	     /^<!-- config-reference:begin / { skip = 1; \
	         if ($$3 in block) { printf "%s", block[$$3]; done[$$3] = 1 } \
	         else { print "README.md: no config section " $$3 > "/dev/stderr"; bad = 1 } } \
	     !skip { print } \
	     skip && /^<!-- config-reference:end -->$$/ { skip = 0 } \
	     END { for (n in block) if (!(n in done)) { \
	             print "README.md: no block for config section " n > "/dev/stderr"; bad = 1 } \
	           exit bad }' $(BUILD)/config-reference.md README.md > $(BUILD)/README.md.new
	$(Q)cmp -s $(BUILD)/README.md.new README.md && echo "docs: README.md is up to date" || \
	  { cp $(BUILD)/README.md.new README.md && echo "docs: README.md rewritten"; }

install: $(BUILD)/fnbridge
	install -D -m 0755 $(BUILD)/fnbridge $(DESTDIR)$(PREFIX)/bin/fnbridge

clean:
	rm -rf build build-asan build-fuzz
