# rulekeeper — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
OPA_VERSION := v1.22.2
OPA := $(GO) run github.com/open-policy-agent/opa@$(OPA_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# Profile-guided optimization of the release build (make build, the
# Dockerfile, bench/loadbench): a CPU profile of a loaded server
# (bench/README.md, "Profile-guided build"). Not default.pgo: go test of
# cmd/rulekeeper would rebuild every dependency with it.
PGO ?= cmd/rulekeeper/rulekeeper.pgo
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
build: ## build bin/rulekeeper, optimized with the CPU profile cmd/rulekeeper/rulekeeper.pgo (PGO=off: without)
	$(GO) build -pgo=$(PGO) -ldflags "$(LDFLAGS)" -o bin/rulekeeper ./cmd/rulekeeper

.PHONY: test
test: ## vet, every Go and Rego test (short form, -short) and, beside them, the fuzz targets
	$(GO) vet ./...
	@fuzzlog=$$(mktemp); \
	export GOGC=$(TESTGOGC); \
	$(MAKE) --no-print-directory fuzz FUZZTESTS=1 >"$$fuzzlog" 2>&1 & fuzz=$$!; \
	rc=0; $(GO) test -p $(TESTP) -short -count=1 $(TESTLDFLAGS) -timeout 10m $$($(GO) list ./... | grep -vxF -f <($(FUZZTESTPKGS))) || rc=1; \
	wait $$fuzz || rc=1; \
	echo "--- fuzz (run beside the tests)"; cat "$$fuzzlog"; rm -f "$$fuzzlog"; exit $$rc

# The fuzz targets run beside the tests, not after them: the tests leave a
# core idle for a third of their time (a few slow test binaries finish
# last), and the fuzz targets fill it (measured: 186 s of tests then 37 s of
# fuzzing on a quiet 2-core machine; see the commit for the overlapped time).
#
# Linking a test binary costs 2-5 CPU-seconds (a third to a half of make
# test's CPU went to links), and a fuzz target needs a binary of its own,
# built with coverage instrumentation. So make test runs the tests of a
# package with fuzz targets from that instrumented binary (`make fuzz
# FUZZTESTS=1`), one link instead of two, and leaves the package out of
# `go test ./...`. The instrumentation only counts: the tests decide the
# same, at about the same CPU cost. Packages whose tests cost more
# instrumented than a link saves (the embedded database, many OPA
# evaluations) keep their tests in `go test ./...`: PLAINTESTS.
PLAINTESTS := authz resources/pushdown

# The import paths of the packages whose tests `make fuzz FUZZTESTS=1` runs.
FUZZTESTPKGS = grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/]*$$|\1|' | sort -u | \
	grep -vxF -e "" $(foreach p,$(PLAINTESTS),-e $(p)) | sed 's|^|$(shell $(GO) list -m)/|'

# The tests that evaluate policies allocate many short-lived OPA values: a
# heap allowed to grow to five times the live data instead of twice (GOGC
# 400, not 100) spends a third less CPU in the garbage collector (authz:
# 12.4 -> 8.4 CPU-s, peak RSS 44 -> 79 MB; authz/rules -17 %; the linker
# sets its own GC and does not change).
TESTGOGC ?= 400

# Test binaries run four at a time on two cores: many of them wait on
# servers, databases and browsers, so two at a time left the cores idle
# (measured: 2 min 39 s for the tests at -p 4 on a warm cache).
TESTP ?= 4

# Test binaries need no debug information: leaving it out makes each of the
# thirty links a third cheaper.
TESTLDFLAGS := -ldflags='-s -w'

.PHONY: test-full
test-full: ## every Go and Rego test at full size (what -short reduces: random samples, scale cases)
	GOGC=$(TESTGOGC) $(GO) test -count=1 $(TESTLDFLAGS) -timeout 20m ./...

# Fuzz targets are found in the sources (asking `go test -list` would link
# every test binary once more). Each package with fuzz targets is built once,
# instrumented (`go test -c -fuzz=.`), and that binary runs each of its
# targets in turn, one worker each; the packages run at the same time —
# after the first, alone: it compiles the instrumented dependencies into the
# build cache once, instead of a dozen go commands compiling them side by
# side. With FUZZTESTS=1 (make test) the binary first runs the package's
# tests (-short), except for the packages in PLAINTESTS.
#
# Each run starts from the seed corpus (f.Add and testdata/fuzz) with an
# empty corpus cache of its own (FUZZCACHE, removed afterwards): with the
# default cache in GOCACHE/fuzz, which keeps every interesting input of every
# earlier run, the inputs counted by FUZZTIME were all spent replaying that
# cache (authz/rules' FuzzIndexed: 313 cached inputs, 150 replayed, none
# new) and the run grew longer each time. FUZZCACHE=dir keeps a corpus.
.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME inputs (default 150x), all at once
	@targets=$$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^\./(.*)/[^/]*:func (.*)$$|\1 \2|' | sort); \
	test -n "$$targets" || { echo "fuzz: no fuzz target found"; exit 1; }; \
	bins=$$(mktemp -d); cache="$(FUZZCACHE)"; \
	if [ -z "$$cache" ]; then cache=$$(mktemp -d); trap 'rm -rf "$$cache" "$$bins"' EXIT; else trap 'rm -rf "$$bins"' EXIT; fi; \
	plain=" $(PLAINTESTS) "; \
	fuzzpkg() { \
	  local dir=$$1 fn bin="$$bins/$${1//\//_}.test" rc=0; shift; \
	  $(GO) test -c -fuzz=. $(TESTLDFLAGS) -o "$$bin" ./$$dir || { echo "FAIL	./$$dir (build)"; return 1; }; \
	  if [ -n "$(FUZZTESTS)" ] && [[ "$$plain" != *" $$dir "* ]]; then \
	    echo "test ./$$dir (-short, from the fuzz binary)"; \
	    (cd $$dir && "$$bin" -test.paniconexit0 -test.short -test.count=1 -test.timeout=10m) && echo "ok	./$$dir" || { echo "FAIL	./$$dir"; rc=1; }; \
	  fi; \
	  for fn in "$$@"; do \
	    echo "fuzz ./$$dir $$fn ($(FUZZTIME))"; \
	    (cd $$dir && "$$bin" -test.run '^$$' -test.fuzz "^$$fn$$" -test.fuzztime $(FUZZTIME) -test.parallel 1 \
	      -test.timeout=10m -test.fuzzcachedir="$$cache/$$dir") && echo "ok	./$$dir $$fn" || { echo "FAIL	./$$dir $$fn"; rc=1; }; \
	  done; \
	  return $$rc; \
	}; \
	pids=(); rc=0; first=1; \
	for dir in $$(cut -d' ' -f1 <<< "$$targets" | uniq); do \
	  fns=$$(awk -v d="$$dir" '$$1 == d {print $$2}' <<< "$$targets"); \
	  if [ -n "$$first" ]; then fuzzpkg $$dir $$fns || rc=1; first=; \
	  else fuzzpkg $$dir $$fns >"$$bins/$${dir//\//_}.log" 2>&1 & pids+=($$!); fi; \
	done; \
	for p in "$${pids[@]}"; do wait $$p || rc=1; done; \
	cat "$$bins"/*.log 2>/dev/null; exit $$rc

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
