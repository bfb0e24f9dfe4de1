# kenv's build and test entry points. `make test` is what CI runs.

GO ?= go

.PHONY: build test unit e2e vet race

build:
	$(GO) build -o bin/kenv ./cmd/kenv

# Unit tests, then the end-to-end tests (build tag e2e) that build real
# Kubernetes components (a cold build takes several minutes; the Go build
# cache and kenv's cache under $KENV_CACHE make later runs fast).
test: vet race
	$(GO) test -count=1 -timeout 80m -tags e2e ./...

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
