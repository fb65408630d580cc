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

.PHONY: all deps configure build run test bench image qemu format format-check clean

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

# The QEMU device image (docs/device-image.md): build/image/, booted by make qemu.
# IMAGE_ARGS: e.g. IMAGE_ARGS='--version 0.2.0 --fw-only --out build/fw-0.2.0'
IMAGE_ARGS ?=
image: configure
	cmake --build --preset $(PRESET) -j $(JOBS) --target $(BINARIES)
	scripts/make-image --build $(BUILD_DIR) $(IMAGE_ARGS)

# QEMU_ARGS: e.g. QEMU_ARGS='--port 4848'
QEMU_ARGS ?=
qemu:
	@test -f $(BUILD_DIR)/image/disk.img || $(MAKE) image
	exec scripts/qemu --image $(BUILD_DIR)/image $(QEMU_ARGS)

bench: build
	$(BUILD_DIR)/bin/myelin-bench all

format:
	@git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h' | xargs -r clang-format -i

format-check:
	@git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' '*.h' | xargs -r clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR)
