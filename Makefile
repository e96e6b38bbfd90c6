# The two commands of the README: `make serve` and `make test`.
SWIFT ?= swift
DATA_DIR ?= ./uploads
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: deps test-deps build serve test test-sanitizers fuzz bench clean

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

# Every test: unit tests and end-to-end tests of the built binary, a short
# random kill loop (scripts/kill-loop.sh ROUNDS runs a long one), then the
# browser page's tests (in Chromium when it is installed).
test: test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	UPLOADVERIFY_BIN=.build/debug/uploadverify scripts/kill-loop.sh 3
	Tests/browser/run.sh .build/debug/uploadverify

# The whole test suite under ThreadSanitizer, then AddressSanitizer, each in
# its own build folder (a build is instrumented throughout).
test-sanitizers: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

# libFuzzer on each parser of untrusted bytes for FUZZ_SECONDS (default 600)
# each; new corpus inputs land in Fuzz/Corpus, crashes in Fuzz/Crashes.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= ContentRange:content-range DigestField:digest-field UploadID:upload-id ChunkMap:chunkmap
fuzz: deps
	mkdir -p .build-fuzz && ln -sfn .. .build-fuzz/uploadverify
	cd Fuzz && $(SWIFT) build -c release --sanitize=fuzzer --sanitize=address --scratch-path ../.build-fuzz
	for pair in $(FUZZ_TARGETS); do \
	  name=$${pair%%:*}; dir=$${pair##*:}; \
	  mkdir -p Fuzz/Corpus/$$dir Fuzz/Crashes/$$dir; \
	  .build-fuzz/release/Fuzz$$name Fuzz/Corpus/$$dir -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -artifact_prefix=Fuzz/Crashes/$$dir/ -print_final_stats=1 || exit 1; \
	done

# Release build, then uploadverify against xxhsum/openssl (scripts/bench.sh;
# env BENCH_SIZE, BENCH_ROUNDS, BENCH_DIR).
bench:
	scripts/bench.sh

clean:
	rm -rf .build .build-release .build-tsan .build-asan .build-fuzz bench-work
