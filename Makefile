# kenv's build and test entry points. `make test` is what CI runs.

GO ?= go

.PHONY: build test unit e2e vet race node-deps bench

build:
	$(GO) build -o bin/kenv ./cmd/kenv

# Unit tests, then the end-to-end tests (build tag e2e) that build real
# Kubernetes components (a cold build takes several minutes; the Go build
# cache and kenv's cache under $KENV_CACHE make later runs fast).
# env/ns's tests compare the machine's links, routes and mounts before and
# after: they run alone, before the end-to-end tests make nodes of their own.
# The race detector needs kenv's dependencies built again, instrumented:
# minutes on a cold cache. That build runs beside the end-to-end tests,
# which wait on clusters much of the time, in a session of its own whose
# autogroup is at the lowest priority (sched(7)), so that it takes only
# the CPU they leave; the race tests themselves run after them, at full
# speed, from the built cache; they are not run without it as well.
# `make vet` ran the whole of go vet: the test runs leave out its subset.
test: vet node-deps
	$(GO) test -vet=off -count=1 ./env/ns
	@setsid sh -c 'echo 19 > /proc/self/autogroup 2>/dev/null; exec "$$@"' lowest \
		$(GO) test -vet=off -race -short -count=1 -run '^$$' $(RACE_PACKAGES) > /dev/null 2>&1 & \
	$(GO) test -vet=off -count=1 -timeout 100m -tags e2e $$($(GO) list ./... | grep -vxF "$$($(GO) list ./env/ns $(RACE_PACKAGES))"); e2e=$$?; \
	wait; exit $$e2e
	$(MAKE) --no-print-directory race

# The packages whose goroutines share state, under the race detector.
RACE_PACKAGES = ./env/supervisor ./env/steps ./env/control ./env/process ./env/agent

# What the node's end-to-end test runs (Debian packages): the runtime, the
# CNI plugins, iptables, and the busybox its pod serves HTTP with. Installed
# when missing, as root; elsewhere the test says what it lacks.
NODE_PACKAGES = containerd runc containernetworking-plugins iptables busybox-static openssh-server
node-deps:
	@command -v dpkg >/dev/null || { echo "node-deps: not Debian; install $(NODE_PACKAGES) or their like"; exit 0; }; \
	missing=$$(for p in $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

race:
	$(GO) test -vet=off -race -short -count=1 $(RACE_PACKAGES)

# Unit tests only: seconds on a warm module cache, no Kubernetes built.
unit:
	$(GO) test -short ./...

# kenv against the floor it measures in the same run (docs/performance.md):
# five runs of each warm figure and the cold up against a plain go build,
# about 20 minutes. BENCH_SPEC and BENCH_FLAGS choose another spec and
# mode; CI runs the short mode through the end-to-end tests.
BENCH_SPEC ?= examples/debug.hcl
BENCH_FLAGS ?= --cold
bench: build
	./bin/kenv bench $(BENCH_FLAGS) $(BENCH_SPEC)

e2e:
	$(GO) test -count=1 -timeout 100m -tags e2e -run 'TestEndToEnd' -v ./cmd/kenv/

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/kenv/
	$(GO) mod tidy -diff
	@test -z "$$(gofmt -l cmd env pki)" || { gofmt -l cmd env pki; echo "gofmt needed"; exit 1; }
