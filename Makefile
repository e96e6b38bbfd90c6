# The two commands of the README: `make serve` and `make test`.
SWIFT ?= swift
DATA_DIR ?= ./uploads
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: deps build serve test bench clean

deps:
	@scripts/install-deps.sh

# Release binary at .build/release/uploadverify.
build: deps
	$(SWIFT) build -c release

serve: build
	.build/release/uploadverify serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

# Every test: unit tests and end-to-end tests of the built binary, then a
# short random kill loop (scripts/kill-loop.sh ROUNDS runs a long one).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	UPLOADVERIFY_BIN=.build/debug/uploadverify scripts/kill-loop.sh 3

# Release build, then uploadverify against xxhsum/openssl (scripts/bench.sh;
# env BENCH_SIZE, BENCH_ROUNDS, BENCH_DIR).
bench:
	scripts/bench.sh

clean:
	rm -rf .build .build-release bench-work
