# custream — common tasks. `make help` lists them.
GO       ?= go
BIN      ?= bin/custream
PKGS     ?= ./...
# go test's own timeout: far above a normal run, far below CI's 90 minutes.
TESTFLAGS ?= -timeout 30m
FUZZTIME ?= 30s
# staticcheck at a fixed version: go run fetches and builds it from the Go
# module proxy on first use (about a minute), later from the build cache.
# It stays out of go.mod, so its dependencies never reach custream's build.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build run test test-short bench lint fuzz failover kafka-up kafka-down registry-up registry-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/custream
	$(GO) build -o $(BIN) ./cmd/custream

run: build ## run custream (embedded broker unless CUSTREAM_BROKERS is set)
	./$(BIN) run

test: ## all tests against a real Kafka broker and schema registry started from Maven jars (kfake, srfake without Java)
	deploy/kafka-local/with-kafka.sh deploy/registry-local/with-registry.sh $(GO) test $(TESTFLAGS) $(PKGS)

test-short: ## fast unit tests only, no broker
	$(GO) test -short $(PKGS)

bench: ## benchmarks (figures go to docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint: ## gofmt, go vet and staticcheck (CI runs it before the tests)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

kafka-up: ## start the real single-node Kafka broker (prints its address)
	deploy/kafka-local/kafka-local.sh start

kafka-down: ## stop it
	deploy/kafka-local/kafka-local.sh stop

registry-up: ## start the real schema registry (Apicurio, in memory; prints its Confluent-compatible URL)
	deploy/registry-local/registry-local.sh start

registry-down: ## stop it
	deploy/registry-local/registry-local.sh stop

# The long failover and rolling-restart measurement (issue 15, a quarter of
# an hour on 2 CPUs at the default 2,000,000 registrations): figures to
# docs/benchmarks.md. It needs a running broker; FAILOVER_REGISTERS sizes it.
FAILOVER_REGISTERS ?= 2000000
FAILOVER_LOG ?= /tmp/custream-failover.log
failover: ## failover at ~1M customers with and without a standby, rolling restarts (needs CUSTREAM_TEST_BROKERS)
	@test -n "$$CUSTREAM_TEST_BROKERS" || { echo "set CUSTREAM_TEST_BROKERS to a running broker (make kafka-up prints one)"; exit 1; }
	CUSTREAM_LONG=1 CUSTREAM_FAILOVER_REGISTERS=$(FAILOVER_REGISTERS) $(GO) test -count=1 -timeout 60m -run '^TestFailoverAtScale$$' -v ./processor/ >$(FAILOVER_LOG) 2>&1; rc=$$?; \
	  grep -E 'FIGURE|backlog|SIGKILL|results for|^(--- |ok|FAIL|PASS)' $(FAILOVER_LOG); echo "full log: $(FAILOVER_LOG)"; exit $$rc

clean:
	rm -rf bin

.PHONY: http-fuzz http-load
http-fuzz: build ## schemathesis against a seeded `custream run` and its OpenAPI document (pip install schemathesis)
	processor/facade/internal/load/http-check.sh fuzz

http-load: build ## wrk on lookup and fetch of a seeded `custream run` (apt-get install -y wrk); figures go to docs/http.md
	processor/facade/internal/load/http-check.sh load
