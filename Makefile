# rulekeeper — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
OPA_VERSION := v1.22.2
OPA := $(GO) run github.com/open-policy-agent/opa@$(OPA_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Fuzzing runs a number of inputs, not a duration: a duration races Go 1.26's
# fuzz coordinator on a loaded machine (golang/go#75804: a bare "context
# deadline exceeded" failure with no failing input, seen in CI). 150 inputs:
# authz/rules' FuzzIndexed compiles a policy per input (500 took 283 s at
# load 20); longer runs: make fuzz FUZZTIME=100000x.
FUZZTIME ?= 150x

# Builds do not depend on where the checkout is: without -trimpath the build
# cache keys every package of this module by its directory, so each fresh
# clone (CI clones afresh for every run) compiled the whole module again,
# and every fuzz target instrumented it again.
export GOFLAGS := -trimpath $(GOFLAGS)

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## build bin/rulekeeper, then start it in dev mode on the embedded database (127.0.0.1:8080)
	@echo "compiling bin/rulekeeper (the first build downloads modules and compiles for a few minutes; later ones take seconds)..."
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rulekeeper ./cmd/rulekeeper
	@echo "starting bin/rulekeeper serve --dev (Ctrl-C stops it)"
	./bin/rulekeeper serve --dev

.PHONY: build
build: ## build bin/rulekeeper
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/rulekeeper ./cmd/rulekeeper

.PHONY: test
test: ## vet, every Go and Rego test (short form, -short) and, beside them, the fuzz targets
	$(GO) vet ./...
	@fuzzlog=$$(mktemp); \
	$(MAKE) --no-print-directory fuzz >"$$fuzzlog" 2>&1 & fuzz=$$!; \
	rc=0; $(GO) test -p $(TESTP) -short -count=1 $(TESTLDFLAGS) -timeout 10m ./... || rc=1; \
	wait $$fuzz || rc=1; \
	echo "--- fuzz (run beside the tests)"; cat "$$fuzzlog"; rm -f "$$fuzzlog"; exit $$rc

# The fuzz targets run beside the tests, not after them: the tests leave a
# core idle for a third of their time (a few slow test binaries finish
# last), and the fuzz targets fill it (measured: 186 s of tests then 37 s of
# fuzzing on a quiet 2-core machine; see the commit for the overlapped time).

# Test binaries run four at a time on two cores: many of them wait on
# servers, databases and browsers, so two at a time left the cores idle
# (measured: 2 min 39 s for the tests at -p 4 on a warm cache).
TESTP ?= 4

# Test binaries need no debug information: leaving it out makes each of the
# thirty links a third cheaper.
TESTLDFLAGS := -ldflags='-s -w'

.PHONY: test-full
test-full: ## every Go and Rego test at full size (what -short reduces: random samples, scale cases)
	$(GO) test -count=1 $(TESTLDFLAGS) -timeout 20m ./...

# Fuzz targets are found in the sources (asking `go test -list` would link
# every test binary once more) and run at the same time, one worker each —
# after the first, alone: it compiles the instrumented dependencies into the
# build cache once, instead of a dozen go commands compiling them side by side.
#
# Each run starts from the seed corpus (f.Add and testdata/fuzz) with an
# empty corpus cache of its own (FUZZCACHE, removed afterwards): with the
# default cache in GOCACHE/fuzz, which keeps every interesting input of every
# earlier run, the inputs counted by FUZZTIME were all spent replaying that
# cache (authz/rules' FuzzIndexed: 313 cached inputs, 150 replayed, none
# new) and the run grew longer each time. FUZZCACHE=dir keeps a corpus.
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME inputs (default 150x), all at once
	@targets=$$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/]*:func (.*)$$|\1 \2|'); \
	test -n "$$targets" || { echo "fuzz: no fuzz target found"; exit 1; }; \
	cache="$(FUZZCACHE)"; if [ -z "$$cache" ]; then cache=$$(mktemp -d); trap 'rm -rf "$$cache"' EXIT; fi; \
	pids=(); rc=0; first=1; while read -r dir fn; do \
	  echo "fuzz ./$$dir $$fn ($(FUZZTIME))"; \
	  if [ -n "$$first" ]; then \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -parallel 1 $(TESTLDFLAGS) ./$$dir -test.fuzzcachedir="$$cache/$$dir" || rc=1; first=; \
	  else \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -parallel 1 $(TESTLDFLAGS) ./$$dir -test.fuzzcachedir="$$cache/$$dir" & pids+=($$!); \
	  fi; \
	done <<< "$$targets"; \
	for p in "$${pids[@]}"; do wait $$p || rc=1; done; exit $$rc

.PHONY: screenshots
screenshots: ## regenerate the console's screenshots in web/screenshots (needs Chromium)
	SCREENSHOTS_DIR=$(CURDIR)/web/screenshots $(GO) test -count=1 -run '^TestConsole$$' ./web/browsertest/

.PHONY: bench
bench: ## run the Go benchmarks and the load benchmark in bench/
	$(GO) test -run '^$$' -bench . -benchmem ./authz/...
	$(GO) run ./bench/loadbench
	$(GO) run ./bench/rulescale -report bench/rulescale/README.md
	$(GO) run ./bench/tenantgrowth

.PHONY: faults
faults: ## run the full fault suite (FerretDB server + two replicas: pause, kill, races, propagation)
	set -o pipefail; RULEKEEPER_FAULTS=full $(GO) test -count=1 -v -timeout 20m -run TestFaults ./resources/faulttest/ | tee .faults.log | grep -E 'FIGURE|SUMMARY|^(---|ok|FAIL|PASS)'

.PHONY: lint
lint: ## gofmt, go vet and opa fmt checks
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...
	$(OPA) fmt --list --fail policies policies_test

.PHONY: clean
clean: ## remove build output and the dev data directory
	rm -rf bin .data
