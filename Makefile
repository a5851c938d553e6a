# The README's commands. `make test` is what CI runs (.ci/run).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build test demo clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Installs what is missing, configures, builds and runs the whole suite (every label).
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The quickstart: Memory-R1 trained end to end on this machine (docs/quickstart.md).
demo: build
	$(BUILD_DIR)/cli/memr1 quickstart --config configs/quickstart.yaml

clean:
	rm -rf $(BUILD_DIR)
