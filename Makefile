# kenv's build and test entry points. `make test` is what CI runs.

GO ?= go

.PHONY: build test unit e2e vet race node-deps

build:
	$(GO) build -o bin/kenv ./cmd/kenv

# Unit tests, then the end-to-end tests (build tag e2e) that build real
# Kubernetes components (a cold build takes several minutes; the Go build
# cache and kenv's cache under $KENV_CACHE make later runs fast).
test: vet race node-deps
	$(GO) test -count=1 -timeout 80m -tags e2e ./...

# What the node's end-to-end test runs (Debian packages): the runtime, the
# CNI plugins, iptables, and the busybox its pod serves HTTP with. Installed
# when missing, as root; elsewhere the test says what it lacks.
NODE_PACKAGES = containerd runc containernetworking-plugins iptables busybox-static
node-deps:
	@command -v dpkg >/dev/null || { echo "node-deps: not Debian; install $(NODE_PACKAGES) or their like"; exit 0; }; \
	missing=$$(for p in $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The packages whose goroutines share state, under the race detector.
race:
	$(GO) test -race -short -count=1 ./env/supervisor ./env/steps ./env/control ./env/process

# Unit tests only: seconds on a warm module cache, no Kubernetes built.
unit:
	$(GO) test -short ./...

e2e:
	$(GO) test -count=1 -timeout 80m -tags e2e -run 'TestEndToEnd' -v ./cmd/kenv/

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/kenv/
	$(GO) mod tidy -diff
	@test -z "$$(gofmt -l cmd env pki)" || { gofmt -l cmd env pki; echo "gofmt needed"; exit 1; }
