# Dabba — the two commands in the README are `make demo` and `make test`.
# Both install what is missing from Debian's packages first (run as root on Debian 12).

SWIFT        ?= swift
SWIFTC       ?= swiftc
PREFIX       ?= /usr/local
CONFIG       ?= debug
BUILD_FLAGS  ?=
DEMO_DIR     ?= $(CURDIR)/demo-run
# Device builds: one binary with the Swift runtime linked in (only libmosquitto, libgps, libsqlite3, libssl and libc
# stay dynamic), in its own build folder.
RELEASE      := -c release --static-swift-stdlib --scratch-path .build-static

# Debian packages the build, the tests and the demo need. postgresql (Debian 12's is 15): the HubPostgres tests start
# their own server from /usr/lib/postgresql/15/bin on a private port (README, Storage backends: PostgreSQL).
PROMTOOL := .build/tools/promtool
DEBS := pkg-config libgps-dev gpsd gpsd-clients python3-gps libmosquitto-dev mosquitto mosquitto-clients \
        libsqlite3-dev sqlite3 systemd openssl procps iproute2 python3-venv \
        libjs-leaflet chromium chromium-driver wrk postgresql strace

.PHONY: deps build test screenshots lint test-soak demo demo-cluster demo-build install install-hub bench bench-run fuzz api-fuzz clean

## deps: install exactly the Debian packages that are missing (apt-get update first); safe to run twice.
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi
	@# promtool (checks and unit-tests hub/deploy/prometheus-rules.yml) from Debian's prometheus package, unpacked
	@# into .build/tools/ rather than installed: the package would also install and start a Prometheus server.
	@if [ ! -x $(PROMTOOL) ]; then \
	  tmp=$$(mktemp -d) && chmod 755 $$tmp && \
	  { (cd $$tmp && apt-get download -qq prometheus 2>/dev/null) || \
	    { apt-get update -qq && (cd $$tmp && apt-get download -qq prometheus 2>/dev/null); }; } && \
	  dpkg-deb -x $$tmp/prometheus_*.deb $$tmp/x && mkdir -p $(dir $(PROMTOOL)) && \
	  cp $$tmp/x/usr/bin/promtool $(PROMTOOL) && rm -rf $$tmp && echo "make deps: promtool unpacked into $(PROMTOOL)"; \
	fi

## build: the agent, simulator and benchmark binaries.
build: deps
	$(SWIFT) build -c $(CONFIG) $(BUILD_FLAGS)

## test: install what is missing, build, run every test (real mosquitto and gpsfake on loopback), then the bounded
## contract-fuzzing pass of the HTTP API (api-fuzz with API_FUZZ_TEST_* below: every operation and role, no
## coverage phase, the five role passes at once: about a minute and a half).
API_FUZZ_TEST_EXAMPLES ?= 3
API_FUZZ_TEST_PHASES   ?= examples,fuzzing,stateful
API_FUZZ_TEST_JOBS     ?= 5
test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)
	BIN=$$($(SWIFT) build --show-bin-path $(BUILD_FLAGS)) API_FUZZ_MAX_EXAMPLES=$(API_FUZZ_TEST_EXAMPLES) \
	  API_FUZZ_PHASES=$(API_FUZZ_TEST_PHASES) API_FUZZ_JOBS=$(API_FUZZ_TEST_JOBS) bash hub/api-fuzz/run.sh

## screenshots: the web app's browser tests (WebAppBrowserTests, OperatorConsoleBrowserTests), writing their 360 px
## and 1280 px screenshots into docs/screenshots/ (the README's); a plain test run writes them into .build/screenshots/.
screenshots: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	DABBA_SCREENSHOTS=$(CURDIR)/docs/screenshots $(SWIFT) test --skip-build $(BUILD_FLAGS) --filter 'WebAppBrowserTests|OperatorConsoleBrowserTests'

## lint: swift format lint --strict with the committed .swift-format (no build needed; CI runs it first).
lint:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Tests Benchmarks

## test-soak: the suite 5 times in a row on one build, then 3 times with two `sha256sum /dev/zero` keeping both
## cores busy; stops at the first failure and prints one line per run (QUIET_RUNS, LOADED_RUNS, LOAD_PROCS).
test-soak: deps
	SWIFT=$(SWIFT) bash .ci/soak

## fuzz: libFuzzer with AddressSanitizer over each decoder of untrusted bytes (Sources/DabbaFuzz: the device
## protocol's fix, backlog, event, state, ack, sync, json, timestamp; the hub's owntracks, ingest, signature, order,
## payment, menu, cursor, query), FUZZ_SECONDS each (default 30; FUZZ_RUNS=N stops a target after N inputs
## instead), FUZZ_TARGETS to pick some. Seeds: Tests/Fuzz/corpus/<target>; what the fuzzer adds stays in
## .build-fuzz/corpus; a crashing input is written to Tests/Fuzz/crashes/<target>/ (commit it: the suite replays it).
## The first build compiles the hub's feature module and its dependencies with the sanitizers (long); later ones are
## incremental.
FUZZ_SECONDS ?= 30
FUZZ_RUNS    ?= -1
FUZZ_TARGETS ?= fix backlog event state ack sync json timestamp owntracks ingest signature order payment menu cursor query
# The driver imports DabbaFuzz, whose hub dependencies import C modules (NIO, Crypto, Numerics shims, mosquitto):
# their module maps and include directories, as SwiftPM passes them to its own targets.
FUZZ_C_MODULES = { find .build-fuzz/release/ -maxdepth 2 -name module.modulemap; \
	  find .build-fuzz/checkouts -path '*/Sources/*/include/module.modulemap'; ls Sources/*/module.modulemap; } | \
	  sed 's/^/-Xcc -fmodule-map-file=/'; find .build-fuzz/checkouts -type d -path '*/Sources/*/include' | sed 's/^/-Xcc -I/'
fuzz: deps
	$(SWIFT) build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address --product DabbaFuzz
	$(SWIFTC) -O -sanitize=fuzzer,address -parse-as-library Tests/Fuzz/LibFuzzerEntry.swift \
	  -I .build-fuzz/release/Modules $$($(FUZZ_C_MODULES)) \
	  .build-fuzz/release/libDabbaFuzz.a -o .build-fuzz/dabba-fuzz 2>&1 | \
	  { grep -v "Cannot export local symbol" || true; }
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t Tests/Fuzz/crashes/$$t; \
	  echo "fuzz: $$t ($(FUZZ_SECONDS) s, runs $(FUZZ_RUNS))"; \
	  DABBA_FUZZ_TARGET=$$t .build-fuzz/dabba-fuzz -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
	    -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=Tests/Fuzz/crashes/$$t/ \
	    .build-fuzz/corpus/$$t Tests/Fuzz/corpus/$$t 2> .build-fuzz/$$t.log || \
	    { tail -40 .build-fuzz/$$t.log; echo "fuzz: $$t FAILED (reproducer in Tests/Fuzz/crashes/$$t/)"; exit 1; }; \
	  grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^Done" .build-fuzz/$$t.log | tr '\n' ' '; echo; \
	done

## api-fuzz: contract fuzzing of the hub's HTTP API: schemathesis (pinned in hub/api-fuzz/requirements.txt, installed
## into .build/api-fuzz-venv) against the served /openapi.yaml of a seeded hub on loopback, once per role (anonymous,
## customer, restaurant, agent, operator); fails on any 5xx, crash or response the document does not allow, and
## prints operations covered, requests and failures. API_FUZZ_MAX_EXAMPLES (10 per operation and phase),
## API_FUZZ_PHASES (examples,coverage,fuzzing,stateful), API_FUZZ_ROLES (e.g. "customer operator"), API_FUZZ_SEED (1),
## API_FUZZ_STATEFUL_STEPS (20), API_FUZZ_KEEP=1 keeps the run's directory (hub log, NDJSON reports).
API_FUZZ_MAX_EXAMPLES ?= 10
API_FUZZ_PHASES       ?= examples,coverage,fuzzing,stateful
API_FUZZ_ROLES        ?= anonymous customer restaurant agent operator
API_FUZZ_SEED         ?= 1
api-fuzz: deps
	$(SWIFT) build -c $(CONFIG) --product dabba-hub $(BUILD_FLAGS)
	BIN=$$($(SWIFT) build -c $(CONFIG) --show-bin-path $(BUILD_FLAGS)) API_FUZZ_MAX_EXAMPLES=$(API_FUZZ_MAX_EXAMPLES) \
	  API_FUZZ_PHASES=$(API_FUZZ_PHASES) API_FUZZ_ROLES="$(API_FUZZ_ROLES)" API_FUZZ_SEED=$(API_FUZZ_SEED) \
	  bash hub/api-fuzz/run.sh

## demo: broker + dabba-hub on SQLite + two agents replaying GPS routes through gpsfake; prints the URLs, then a live view.
demo: demo-build
	DEMO_DIR=$(DEMO_DIR) BIN=$$($(SWIFT) build -c $(CONFIG) --show-bin-path) bash hub/demo/demo.sh

## demo-cluster: the same with two hubs (one ingest group) on a private PostgreSQL behind the one broker (README,
## Running several hubs); the second hub serves HTTP on the next port.
demo-cluster: demo-build
	CLUSTER=1 DEMO_DIR=$(DEMO_DIR) BIN=$$($(SWIFT) build -c $(CONFIG) --show-bin-path) bash hub/demo/demo.sh

demo-build: deps
	$(SWIFT) build -c $(CONFIG) --product dabba-agent $(BUILD_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product dabba-sim $(BUILD_FLAGS)
	$(SWIFT) build -c $(CONFIG) --product dabba-hub $(BUILD_FLAGS)

## bench: the agent benchmarks (salvage of a damaged 700,000-row outbox; backlog drain vs raw libmosquitto; steady-state
## RSS, start-up peak and CPU at 1 Hz, each with its verdict; the soak: a simulated week of fixes replayed fast with a
## day-long broker outage, outbox file + WAL vs the rows' payload and RSS flat, ~6 min here), then the hub benchmarks
## (ingest throughput vs a raw subscriber; ingest on PostgreSQL with 1/2/3 hubs; live-feed latency at 1,000 agents × 1 Hz vs raw MQTT; 10,000 customers'
## order feeds: latency and the hub's RSS, with `dabba-hub serve` as its own process; GET /v1/orders/{id} vs
## GET /v1/ping with wrk; customers' feeds through the cluster relay, 1/2 hubs on PostgreSQL; 10,000 offer races between three hubs; the hub's whole
## dispatch round, 1,000 orders × 5,000 agents, against the policy alone; a real device's fixes through gpsd and
## dabba-agent to its customer's WebSocket while `dabba-sim fleet` runs 1,000 other riders) and the dispatch algorithms (also 5,000 × 20,000). Figures go to BENCHMARKS.md. BENCH_ONLY=agent, BENCH_ONLY=hub or
## BENCH_ONLY=dispatch runs one of them; BENCH_ONLY=micro the package-benchmark micro-benchmarks (Benchmarks/Micro, a
## package of its own: the protocol's decoders against JSONDecoder on the same bytes and the dispatch policies, with
## allocation counts) (e.g. `make bench BENCH_ONLY=hub`); BENCH_HUB_ONLY=ingest|backlog|cluster|live|customers|relay|orders|races|round|device
## narrows the hub part; BENCH_AGENT_ONLY=salvage|drain|week|steady|soak one agent benchmark (e.g.
## `make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=soak`). The agent is measured as it ships to devices ($(RELEASE), static runtime); the hub and the
## dispatch algorithms as `install-hub` ships them (-c release). BENCH_NETNS=1 runs the hub benchmarks in a private
## network namespace with the whole port range (root; needed for more than ~27,000 customers, e.g.
## `make bench BENCH_ONLY=hub BENCH_HUB_ONLY=customers BENCH_CUSTOMERS=50000 BENCH_CUSTOMER_AGENTS=1000 BENCH_NETNS=1`).
BENCH_ONLY   ?=
HUB_RELEASE  := -c release
BENCH_RESULTS := $(CURDIR)/.build/bench/results.jsonl
bench: deps
	@case "$(BENCH_ONLY)" in ""|agent|hub|dispatch|micro) ;; *) echo "BENCH_ONLY=$(BENCH_ONLY): expected agent, hub, dispatch or micro"; exit 2;; esac
	@mkdir -p $(dir $(BENCH_RESULTS)) && rm -f $(BENCH_RESULTS)
	$(MAKE) --no-print-directory bench-run BENCH_RESULTS=$(BENCH_RESULTS) \
	  BENCH_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty); \
	  status=$$?; python3 Benchmarks/report.py $(BENCH_RESULTS) $(dir $(BENCH_RESULTS))results.json; exit $$status

# The benchmarks themselves (BENCH_RESULTS and BENCH_COMMIT come from `bench`'s command line, so they are in the
# environment of each command here).
bench-run:
	if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = agent ]; then set -e; \
	  $(SWIFT) build $(RELEASE) --product dabba-agent; \
	  $(SWIFT) build $(RELEASE) --product dabba-bench-agent; \
	  $$($(SWIFT) build $(RELEASE) --show-bin-path)/dabba-bench-agent; fi
	if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = hub ]; then set -e; \
	  $(SWIFT) build $(HUB_RELEASE) --product dabba-hub; \
	  $(SWIFT) build $(HUB_RELEASE) --product dabba-sim; \
	  $(SWIFT) build $(RELEASE) --product dabba-agent; \
	  $(SWIFT) build $(HUB_RELEASE) --product dabba-bench-hub; \
	  DABBA_BIN_DIR=$$($(SWIFT) build $(RELEASE) --show-bin-path) $(if $(BENCH_NETNS),sh Benchmarks/in-netns.sh) \
	    $$($(SWIFT) build $(HUB_RELEASE) --show-bin-path)/dabba-bench-hub; fi
	if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = dispatch ]; then set -e; \
	  $(SWIFT) build $(HUB_RELEASE) --product dabba-bench-dispatch; \
	  $$($(SWIFT) build $(HUB_RELEASE) --show-bin-path)/dabba-bench-dispatch; fi
	if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = micro ]; then set -e; \
	  cd Benchmarks/Micro && $(SWIFT) package --disable-sandbox benchmark --no-progress; fi

## install: the agent binary, its systemd unit and /etc/default/dabba-agent (kept if present), and its user.
install:
	$(SWIFT) build $(RELEASE) --product dabba-agent
	install -D -m 0755 -s $$($(SWIFT) build $(RELEASE) --show-bin-path)/dabba-agent $(DESTDIR)$(PREFIX)/bin/dabba-agent
	install -D -m 0644 systemd/dabba-agent.service $(DESTDIR)/etc/systemd/system/dabba-agent.service
	[ -e $(DESTDIR)/etc/default/dabba-agent ] || install -D -m 0644 systemd/dabba-agent.default $(DESTDIR)/etc/default/dabba-agent
	@if [ -z "$(DESTDIR)" ] && ! id dabba-agent >/dev/null 2>&1; then \
	  useradd --system --no-create-home --home-dir /var/lib/dabba-agent --shell /usr/sbin/nologin dabba-agent; fi
	@echo "installed; now: systemctl daemon-reload && systemctl enable --now dabba-agent"

## install-hub: the hub binary, its unit, /etc/default/dabba-hub (kept if present), assets (openapi.yaml, the web
## pages), and its user.
install-hub:
	$(SWIFT) build -c release --product dabba-hub
	install -D -m 0755 -s $$($(SWIFT) build -c release --show-bin-path)/dabba-hub $(DESTDIR)$(PREFIX)/bin/dabba-hub
	install -D -m 0644 systemd/dabba-hub.service $(DESTDIR)/etc/systemd/system/dabba-hub.service
	[ -e $(DESTDIR)/etc/default/dabba-hub ] || install -D -m 0644 systemd/dabba-hub.default $(DESTDIR)/etc/default/dabba-hub
	install -D -m 0644 hub/openapi.yaml $(DESTDIR)/usr/share/dabba-hub/openapi.yaml
	install -D -m 0644 -t $(DESTDIR)/usr/share/dabba-hub/web hub/web/*.html hub/web/*.js hub/web/*.css
	install -D -m 0644 hub/mosquitto/dabba.conf $(DESTDIR)/usr/share/dabba-hub/mosquitto/dabba.conf
	install -D -m 0644 hub/mosquitto/dabba.acl $(DESTDIR)/usr/share/dabba-hub/mosquitto/dabba.acl
	@if [ -z "$(DESTDIR)" ] && ! id dabba-hub >/dev/null 2>&1; then \
	  useradd --system --no-create-home --home-dir /var/lib/dabba-hub --shell /usr/sbin/nologin dabba-hub; fi
	@echo "installed; now: dabba-hub migrate && systemctl daemon-reload && systemctl enable --now dabba-hub"

clean:
	rm -rf .build $(DEMO_DIR)
