# The two commands of the README: `make serve` and `make test`.
SWIFT ?= swift
DATA_DIR ?= ./uploads
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: deps test-deps build serve completions test test-cluster lint format test-sanitizers fuzz bench clean

deps:
	@scripts/install-deps.sh

# deps, and what the browser page's tests need (chromium, node, tsc, selenium).
test-deps:
	@scripts/install-deps.sh --browser

# Release binary at .build/release/uploadverify.
build: deps
	$(SWIFT) build -c release

serve: build
	.build/release/uploadverify serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

# Shell completion scripts and the man page, from the release binary, into
# .build/share (copy them where your shell and man look: see the README).
SHARE_DIR ?= .build/share
completions: build
	mkdir -p $(SHARE_DIR)/bash-completion $(SHARE_DIR)/zsh $(SHARE_DIR)/fish $(SHARE_DIR)/man/man1
	.build/release/uploadverify completions bash > $(SHARE_DIR)/bash-completion/uploadverify
	.build/release/uploadverify completions zsh > $(SHARE_DIR)/zsh/_uploadverify
	.build/release/uploadverify completions fish > $(SHARE_DIR)/fish/uploadverify.fish
	.build/release/uploadverify manual > $(SHARE_DIR)/man/man1/uploadverify.1

# Every test: unit tests and end-to-end tests of the built binary, a short
# random kill loop (scripts/kill-loop.sh ROUNDS runs a long one), the
# browser page's tests (in Chromium when it is installed), then, as root
# only, the cluster tests (test-cluster).
# One test at a time: the end-to-end tests wait for the binary's processes
# on the test's own thread, and in parallel, on 2 cores, they held every
# thread of Swift's concurrency pool long enough (10 s and more) for a test
# with a deadline to fail (ExpiryTests' prompt stop, 1 full run in 4). In
# series the suite takes 95 s instead of 52 s.
TEST_FLAGS ?= --no-parallel
test: test-deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build $(TEST_FLAGS)
	python3 -B -m unittest discover -s Tests/scripts
	UPLOADVERIFY_BIN=.build/debug/uploadverify scripts/kill-loop.sh 3
	Tests/browser/run.sh .build/debug/uploadverify
	@if [ "$$(id -u)" -eq 0 ]; then \
	  $(MAKE) --no-print-directory test-cluster; \
	else \
	  echo "make test: the cluster tests (make test-cluster) skipped: they need root"; \
	fi

# Several nodes on one GlusterFS volume behind nginx (scripts/cluster.sh), as
# root: Tests/cluster, each test class with a cluster of its own (up, the
# tests, down, and a check that nothing of it is left). About 80 s here.
# make test runs it when run as root. Env: UPLOADVERIFY_BINARY, and
# CLUSTER_RACE_ROUNDS, CLUSTER_KILL_ROUNDS (see Tests/cluster/test_cluster.py).
UPLOADVERIFY_BINARY ?= .build/debug/uploadverify
test-cluster:
	@scripts/install-deps.sh --cluster
	UPLOADVERIFY_BINARY=$(UPLOADVERIFY_BINARY) python3 -B -m unittest discover -s Tests/cluster -v

# The house style (.swift-format), checked in make test; `make format` applies it.
SWIFT_SOURCES = Sources Tests Fuzz/Sources Package.swift
lint:
	$(SWIFT) format lint --strict -r $(SWIFT_SOURCES)

format:
	$(SWIFT) format format -i -r $(SWIFT_SOURCES)

# The whole test suite under ThreadSanitizer, then AddressSanitizer, each in
# its own build folder (SwiftPM instruments this package's targets). Leak
# checking is off: NIO's and XCTest's process-lifetime singletons are never
# freed, and LeakSanitizer would fail every process for them.
test-sanitizers: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build $(TEST_FLAGS) --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --skip-build $(TEST_FLAGS) --sanitize=address --scratch-path .build-asan

# libFuzzer on each parser of untrusted bytes for FUZZ_SECONDS (default 600)
# each; new corpus inputs land in Fuzz/Corpus, crashes in Fuzz/Crashes.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= content-range digest-field upload-id chunkmap range-request
fuzz: deps
	UPLOADVERIFY_FUZZ=1 $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz --product Fuzz
	for target in $(FUZZ_TARGETS); do \
	  mkdir -p Fuzz/Corpus/$$target Fuzz/Crashes/$$target; \
	  UPLOADVERIFY_FUZZ_TARGET=$$target .build-fuzz/release/Fuzz Fuzz/Corpus/$$target -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -artifact_prefix=Fuzz/Crashes/$$target/ -print_final_stats=1 || exit 1; \
	done

# Release build (.build-release), then uploadverify against xxhsum, openssl,
# nginx, curl and rsync (scripts/bench.py, which installs them through
# scripts/install-deps.sh --bench; env BENCH_SIZE, BENCH_ROUNDS,
# BENCH_SCALING_ROUNDS, BENCH_DIR, BENCH_ONLY, BENCH_BASELINE; BENCH_ARGS,
# e.g. --rows 'verify-*', goes to the script).
bench:
	scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf .build .build-release .build-tsan .build-asan .build-fuzz bench-work
