# kenv's build and test entry points. `make test` is what CI runs.

GO ?= go

.PHONY: build test unit e2e vet

build:
	$(GO) build -o bin/kenv ./cmd/kenv

# Unit tests, then the end-to-end test that builds real Kubernetes components
# (a cold build takes several minutes; the Go build cache and kenv's cache
# under $KENV_CACHE make later runs fast).
test: vet
	$(GO) test -count=1 -timeout 80m ./...

unit:
	$(GO) test -short ./...

e2e:
	$(GO) test -count=1 -timeout 80m -run 'TestEndToEnd' -v ./cmd/kenv/

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd env pki)" || { gofmt -l cmd env pki; echo "gofmt needed"; exit 1; }
