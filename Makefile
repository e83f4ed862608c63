# Thin wrapper: the real work is in CMakePresets.json and scripts/.
.PHONY: all deps build test coverage tidy demo bench format format-check clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release

test: deps
	@scripts/check.sh

coverage: deps
	@scripts/coverage.sh

tidy: deps
	@scripts/tidy.sh

format:
	@scripts/format.sh

format-check:
	@scripts/format.sh --check

clean:
	rm -rf build

demo: deps
	@bench/seed/demo.sh

bench: deps
	@bench/seed/run.sh
