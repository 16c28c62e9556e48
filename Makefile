# LogStream build and test entry points. `make test` is what CI runs.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 30s
SMOKETIME ?= 3000x
SIMSEEDS  ?= 5000
CHAOS_SEED     ?= 1
CHAOS_SEEDS    ?= 1
CHAOS_DURATION ?= 5m
CHAOS_FLAGS    ?=

.PHONY: all build demo test vet fmt-check unit fuzz fuzz-smoke sim chaos bench bench-peers bench-scale exports clean docker-image docker-test

all: build

# The revision for `logstream version` where Go cannot stamp one (a git
# worktree); Go's own stamp (-buildvcs=auto, even if GOFLAGS turns it off) wins.
REVISION  := $(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null && echo $$r || echo $$r+modified; })
LDFLAGS   := -X github.com/logstream/logstream/pkg/internal/buildinfo.Revision=$(REVISION)

## build: bin/logstream and its symlinks (logstreamctl, producer, consumer)
build:
	$(GO) build -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)' -o $(BIN)/logstream ./cmd/logstream
	./$(BIN)/logstream install $(BIN) >/dev/null

## demo: three brokers, a producer and a consumer in private namespaces; the leader is killed (root)
demo: build
	./scripts/demo.sh ./$(BIN)/logstream

## test: vet, gofmt, race-enabled unit and namespace tests, a short fuzz smoke
test: vet fmt-check unit fuzz-smoke

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## fuzz: every fuzz target for FUZZTIME each
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

fuzz-smoke:
	./scripts/fuzz.sh $(SMOKETIME)

## sim: the deterministic cluster simulation over many seeds
sim:
	$(GO) test -count=1 -run 'TestSim' ./pkg/cluster/ -sim.seeds=$(SIMSEEDS)

## chaos: real processes under random faults (root; namespaces)
chaos: build
	$(GO) test -v -count=1 -timeout 0 -run TestChaos ./pkg/chaos/ -chaos.seed=$(CHAOS_SEED) -chaos.seeds=$(CHAOS_SEEDS) -chaos.duration=$(CHAOS_DURATION) $(CHAOS_FLAGS)

## docker-image: logstream:local, the static binary and its symlinks FROM scratch
docker-image:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)' -o $(BIN)/docker/logstream ./cmd/logstream
	docker build -q -f scripts/docker/Dockerfile -t logstream:local $(BIN)/docker

## docker-test: the trio under compose, a producer and a consumer, the leader killed (root; skips without a Docker engine)
docker-test:
	./scripts/docker/test.sh

## bench: Go benchmarks of the hot paths
bench:
	$(GO) test -run XXX -bench . -benchmem ./pkg/...

## bench-peers: LogStream vs NATS JetStream and Redis Streams, servers in a private namespace (root; not part of test)
bench-peers: build
	./scripts/bench-peers.sh ./$(BIN)/logstream

## bench-scale: records/s, memory and open files over 1-1000 topics, 1-100 clients, 3/5/7 brokers, in namespaces (root; not part of test)
bench-scale: build
	./scripts/bench-scale.sh ./$(BIN)/logstream

## exports: per package, exported names used by other packages' code, by their tests only, or by nothing (-v lists those)
exports:
	$(GO) run ./scripts/exports -v

clean:
	rm -rf $(BIN)
