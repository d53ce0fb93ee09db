# vxpu front door. The real build is CMake; these targets are the commands
# people and CI type.
#
#   make          install missing build dependencies, configure, build (build/)
#   make test     build and run the whole suite with CTest
#   make asan     the same suite built with ASan + UBSan (build-asan/)
#   make bench    benchmarks (bench/), figures on stdout
#   make demo     the main job on the embedded default
#   make format   clang-format the sources
#   make lint     clang-tidy and cppcheck on src/
#   make clean    remove build outputs

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench examples -name '*.[ch]')

.PHONY: all build deps test asan bench demo format lint clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DVXPU_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

bench: build
	@scripts/bench.sh $(BUILD)

demo: build
	@scripts/demo.sh $(BUILD)

format:
	clang-format -i $(SOURCES)

lint: build
	@# One file per run: clang-tidy 14 carries analyzer state across files and
	@# then reports uninitialized va_lists that are not there.
	@for f in $(filter src/%.c,$(SOURCES)); do clang-tidy -p $(BUILD) --quiet $$f || exit 1; done
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -I src $(filter src/%,$(SOURCES))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
