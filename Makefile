# The two commands of the README (make run, make test) and a few helpers.
# A thin wrapper over the CMake presets in CMakePresets.json.

PRESET ?= release
BUILD_DIR := $(if $(filter dev,$(PRESET)),build-dev,build)
JOBS ?= $(shell nproc)
CONFIG ?= config/host.toml
# Extra arguments for myelin-boot, e.g. make run ARGS='--set log.level=debug'
ARGS ?=
# Extra arguments for ctest, e.g. make test CTEST_ARGS='-R supervisors'
CTEST_ARGS ?=

.PHONY: all deps configure build run test bench format format-check clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake --preset $(PRESET)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build --preset $(PRESET) -j $(JOBS)

# The binaries only: a first `make run` need not wait for the test suite.
BINARIES := myelin-boot myelin-apphost myelin myelin-bench

run: configure
	cmake --build --preset $(PRESET) -j $(JOBS) --target $(BINARIES)
	exec $(BUILD_DIR)/bin/myelin-boot --foreground --config $(CONFIG) $(ARGS)

test: build
	ctest --preset $(PRESET) -j $(JOBS) $(CTEST_ARGS)

bench: build
	$(BUILD_DIR)/bin/myelin-bench all

format:
	@git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h' | xargs -r clang-format -i

format-check:
	@git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h' | xargs -r clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR)
