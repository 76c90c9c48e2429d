# marathon-dataplane. `make demo` runs the main job on the embedded Marathon
# simulator; `make test` runs every test (whole-stack tests print one
# "SKIP: dataplaneapi not found" line when the Data Plane API binary is absent).
GO      ?= go
SHELL   := bash
BIN     := bin/marathon-dataplane
PKGS    := ./...
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build test fuzz e2e bench demo docs lint deps clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/marathon-dataplane

# deps installs what the tests and the demo need from Debian (HAProxy 2.6 and
# socat for the reload script), only when missing.
deps:
	@command -v haproxy >/dev/null 2>&1 && command -v socat >/dev/null 2>&1 || scripts/install-deps.sh

# The whole-stack tests run verbosely (minus the per-test chatter) so that
# their one "SKIP: dataplaneapi not found" line shows when the binary is absent.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -count=1 $$($(GO) list $(PKGS) | grep -v /e2e)
	$(MAKE) --no-print-directory fuzz FUZZTIME=4s
	set -o pipefail; $(GO) test -count=1 -v ./e2e/ 2>&1 | grep -v -E '^(=== (RUN|PAUSE|CONT)|\s+--- PASS)'

# fuzz runs each fuzz target for FUZZTIME (bounded in make test); new
# failing inputs land in testdata/fuzz/ and are kept as seed corpus.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./labels/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./templates/
	$(GO) test -run '^$$' -fuzz '^FuzzFill$$' -fuzztime $(FUZZTIME) ./templates/
	$(GO) test -run '^$$' -fuzz '^FuzzSSEDecoder$$' -fuzztime $(FUZZTIME) ./marathon/
	$(GO) test -run '^$$' -fuzz '^FuzzAppsJSON$$' -fuzztime $(FUZZTIME) ./marathon/

e2e: deps
	$(GO) test -count=1 -v ./e2e/

bench: deps
	$(GO) run ./bench -apps 100,1000,10000 -events 30
	$(GO) test -run "^$$" -bench . -benchmem -benchtime 3x ./sync/

demo: deps build
	$(BIN) demo

# docs regenerates docs/labels.md (a test fails when it is stale).
docs:
	$(GO) run ./cmd/marathon-dataplane --longhelp > docs/labels.md

# lint installs golangci-lint (pinned, from the module proxy) into bin/ the
# first time; it takes a few minutes to build.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := bin/golangci-lint

$(GOLANGCI_LINT):
	GOBIN=$(abspath bin) GOFLAGS= $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run ./...

clean:
	rm -rf bin
