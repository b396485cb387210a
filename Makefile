# jobplane: plain Makefile with pkg-config.
#   make            build/jobplane
#   make SAN=1      build-asan/jobplane (AddressSanitizer + UndefinedBehaviorSanitizer)
#   make test       install dependencies, build both, run every test
#   make run        install dependencies, build, start a server on ./jobplane.db

VERSION := 0.1.0
PKGS := libmicrohttpd jansson sqlite3 libpq libcrypto libcurl gnutls
CC ?= cc

ifeq ($(SAN),1)
BUILD := build-asan
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
OPT := -O1 -g -fno-omit-frame-pointer $(SAN_FLAGS)
else
BUILD := build
SAN_FLAGS :=
OPT := -O2 -g
endif

CFLAGS := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc -pthread $(OPT) \
          -DJOBPLANE_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS))
LDLIBS := $(shell pkg-config --libs $(PKGS)) -pthread

SRC := $(filter-out src/main.c,$(wildcard src/*/*.c))
OBJ := $(SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test run deps clean format
all: $(BUILD)/jobplane $(UNIT_BIN)

$(BUILD)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	@$(CC) $(CFLAGS) -c $< -o $@

# Made anew each time: ar never drops the member of a source file that is gone.
$(BUILD)/libjobplane.a: $(OBJ)
	@rm -f $@
	@$(AR) rcs $@ $^

$(BUILD)/jobplane: $(BUILD)/src/main.o $(BUILD)/libjobplane.a
	@echo "  LD      $@"
	@$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libjobplane.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) $(shell pkg-config --cflags cmocka) $(SAN_FLAGS) -o $@ $< \
	    $(BUILD)/libjobplane.a $(shell pkg-config --libs cmocka) $(LDLIBS)

deps:
	@scripts/install-deps.sh

# The README's test command. Dependencies first, then both builds (two
# compilers at a time), then the suite (tests/run.sh runs it in parallel).
test: deps
	@$(MAKE) --no-print-directory -j2 all
	@$(MAKE) --no-print-directory -j2 SAN=1 all
	@$(MAKE) --no-print-directory -j2 fuzz-build
	@tests/run.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

format:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h \
	    bench/*.c bench/*.h

clean:
	rm -rf build build-asan

# Fuzzing (clang/libFuzzer): build-fuzz/fuzz_*; `make fuzz FUZZ_SECONDS=600`
# runs each target that long on a copy of its corpus in tests/fuzz/corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := heartbeat routeros jwt sign jobreq text
FUZZ_CORE := $(wildcard src/core/*.c)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              -D_GNU_SOURCE -Isrc -Itests/fuzz $(shell pkg-config --cflags jansson libcrypto)
FUZZ_LIBS := $(shell pkg-config --libs jansson libcrypto)

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_CORE) $(wildcard src/core/*.h) tests/fuzz/fuzz.h
	@mkdir -p build-fuzz
	@echo "  FUZZ    $@"
	@clang $(FUZZ_FLAGS) -o $@ $< $(FUZZ_CORE) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)

.PHONY: fuzz fuzz-build
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# The long robustness run: 20 crash rounds per store and 60 s of 2x overload.
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory all
	@tests/soak.sh

# Benchmarks: `make bench` (BENCH_SECONDS=10 by default per measurement).
BENCH_FLAGS := -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Isrc -pthread
build-bench/hello: bench/hello.c
	@mkdir -p build-bench
	@$(CC) $(BENCH_FLAGS) -o $@ $< $(shell pkg-config --cflags --libs libmicrohttpd)
build-bench/lifecycle: bench/lifecycle.c bench/wire.h $(BUILD)/libjobplane.a
	@mkdir -p build-bench
	@$(CC) $(BENCH_FLAGS) -o $@ $< $(BUILD)/libjobplane.a $(LDLIBS)
build-bench/listing: bench/listing.c bench/wire.h
	@mkdir -p build-bench
	@$(CC) $(BENCH_FLAGS) -o $@ $< $(shell pkg-config --cflags --libs libcurl)
build-bench/held: bench/held.c bench/wire.h
	@mkdir -p build-bench
	@$(CC) $(BENCH_FLAGS) -o $@ $<
build-bench/beanstalk: bench/beanstalk.c bench/wire.h
	@mkdir -p build-bench
	@$(CC) $(BENCH_FLAGS) -o $@ $<

.PHONY: bench
bench: deps
	@$(MAKE) --no-print-directory all build-bench/hello build-bench/lifecycle build-bench/held build-bench/beanstalk \
	    build-bench/listing
	@bench/run.sh
