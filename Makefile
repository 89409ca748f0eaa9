# cadang — see README.md.
#   make demo    the main job on the embedded default (filesystem DRCs), nothing else needed
#   make test    builds/installs what the tests need, then vet, unit tests (-race) and e2e
#   make bench   benchmarks against hand-made baselines
#   make man     the man pages of every command, into docs/man (commit them)

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/cadang/cadang/engine.Version=$(VERSION)
TEST_TIMEOUT ?= 80m

.PHONY: all build man tools restic minio staticcheck mc nats-server services test check unit e2e bench demo clean deb

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/cadang ./cmd/cadang

# The man pages, from the commands' help (cobra/doc), dated by the last commit so
# that regenerating them changes nothing when no command changed.
man:
	rm -f docs/man/*.1
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) $(GO) run ./cmd/cadang gen-man docs/man

# Pinned tools, built from their own modules (e2e/tools/*/go.mod) and cached outside
# the checkout (~/.cache/cadang-tools, keyed by version).
tools: restic minio staticcheck mc nats-server
restic:
	e2e/tools/build.sh restic
minio:
	e2e/tools/build.sh minio
staticcheck:
	e2e/tools/build.sh staticcheck
mc:
	e2e/tools/build.sh mc
nats-server:
	e2e/tools/build.sh nats-server

# The Debian package dist/cadang_<version>_amd64.deb (packaging/, docs/install.md),
# built with the pinned nfpm; reproducible: times from the last commit.
deb: build restic
	e2e/tools/build.sh nfpm
	VERSION=$(VERSION) packaging/build-deb.sh

# Real servers the tests use, installed and started when missing.
services:
	e2e/setup/services.sh

check:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^e2e/tools/')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	bin/staticcheck ./...

unit:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v /e2e$$)

e2e: build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./e2e

# The two longest packages (VMs under emulation, the end-to-end suite) start first and
# a third slot takes every other package meanwhile: much of their time is spent waiting
# on servers and VMs, and the 2-core CI budget is 45 minutes.
test: tools services build check
	$(GO) test -race -count=1 -p 3 -timeout $(TEST_TIMEOUT) ./targets/libvirt ./e2e ./...

bench: tools services build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 120m ./...

demo: restic build
	e2e/demo.sh

clean:
	rm -rf bin/cadang
