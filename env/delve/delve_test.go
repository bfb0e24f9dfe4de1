package delve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/layout"
)

func TestVersionFor(t *testing.T) {
	tests := []struct{ goVersion, want string }{
		{"1.24.12", "v1.26.2"},
		{"1.25.11", "v1.27.2"},
		{"1.26.5", "v1.27.2"},
		{"go1.27.0", "v1.27.2"},
		{"1.23.4", "v1.25.2"},
		{"1.21.13", "v1.24.2"},
	}
	for _, tt := range tests {
		got, err := VersionFor(tt.goVersion)
		if err != nil || got != tt.want {
			t.Errorf("VersionFor(%s) = %s, %v; want %s", tt.goVersion, got, err, tt.want)
		}
	}
	for _, bad := range []string{"1.20.1", "1.28.0", "2.0", "x"} {
		if v, err := VersionFor(bad); err == nil {
			t.Errorf("VersionFor(%s) = %s, want an error", bad, v)
		}
	}
}

func TestSupports(t *testing.T) {
	if ok, known, _ := supports("v1.25.2", "1.26.1"); ok || !known {
		t.Errorf("v1.25.2 with Go 1.26: ok %v known %v; Delve 1.25 refuses go1.26 binaries", ok, known)
	}
	if ok, known, _ := supports("v1.27.2", "1.26.8"); !ok || !known {
		t.Errorf("v1.27.2 with Go 1.26: ok %v known %v", ok, known)
	}
	if _, known, _ := supports("v9.9.9", "1.26.8"); known {
		t.Errorf("an unknown release counts as known")
	}
}

func TestLocation(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cmd/kube-apiserver/app/server.go:Run", "k8s.io/kubernetes/cmd/kube-apiserver/app.Run"},
		{"staging/src/k8s.io/apiserver/pkg/server/config.go:NewConfig", "k8s.io/apiserver/pkg/server.NewConfig"},
		{"pkg/controlplane/instance.go:(*Config).Complete", "k8s.io/kubernetes/pkg/controlplane.(*Config).Complete"},
		{"staging/src/k8s.io/apiserver/pkg/server/handler.go:123", "staging/src/k8s.io/apiserver/pkg/server/handler.go:123"},
		{"k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create", "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create"},
		{"main.main", "main.main"},
	}
	for _, tt := range tests {
		if got := Location(tt.in); got != tt.want {
			t.Errorf("Location(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLocateRefusesAMismatchedPin(t *testing.T) {
	cache := layout.Cache{Dir: t.TempDir()}
	_, err := Choose(cache, "v1.25.2", "1.26.5", Dlv{})
	if err == nil || !strings.Contains(err.Error(), "does not debug binaries built by Go 1.26.5") || !strings.Contains(err.Error(), `"v1.27.2"`) {
		t.Errorf("pinning Delve 1.25 for Go 1.26: %v", err)
	}
	if entries, _ := os.ReadDir(cache.Dir); len(entries) != 0 {
		t.Errorf("a refused pin installed something: %v", entries)
	}
	if d, err := Choose(cache, "v1.27.2", "1.26.5", Dlv{}); err != nil || !d.Cached || d.Release != "v1.27.2" || d.Path != filepath.Join(cache.DelveDir("v1.27.2"), "dlv") {
		t.Errorf("a pinned release is not kenv's cached build: %+v, %v", d, err)
	}
}

func TestChoose(t *testing.T) {
	cache := layout.Cache{Dir: t.TempDir()}
	onPath := Dlv{Path: "/usr/local/bin/dlv", Release: "v1.26.2"}
	tests := []struct {
		name, pin, goVersion string
		onPath               Dlv
		want                 Dlv
	}{
		{"none on PATH", "", "1.24.12", Dlv{}, Dlv{Path: filepath.Join(cache.DelveDir("v1.26.2"), "dlv"), Release: "v1.26.2", Cached: true}},
		{"the one on PATH supports the toolchain", "", "1.24.12", onPath, onPath},
		{"the one on PATH is too old", "", "1.27.1", onPath, Dlv{Path: filepath.Join(cache.DelveDir("v1.27.2"), "dlv"), Release: "v1.27.2", Cached: true}},
		{"a pin wins over PATH", "v1.27.2", "1.25.3", Dlv{Path: "/bin/dlv", Release: "v1.27.2"}, Dlv{Path: filepath.Join(cache.DelveDir("v1.27.2"), "dlv"), Release: "v1.27.2", Cached: true}},
	}
	for _, tt := range tests {
		got, err := Choose(cache, tt.pin, tt.goVersion, tt.onPath)
		if err != nil || got != tt.want {
			t.Errorf("%s: Choose = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

// TestOnPath runs a dlv put first on PATH by the test.
func TestOnPath(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'Delve Debugger'\necho 'Version: 1.26.2'\necho 'Build: $Id: 1234 $'\n"
	if err := os.WriteFile(filepath.Join(dir, "dlv"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if got, want := OnPath(), (Dlv{Path: filepath.Join(dir, "dlv"), Release: "v1.26.2"}); got != want {
		t.Errorf("OnPath() = %+v, want %+v", got, want)
	}
	t.Setenv("PATH", t.TempDir())
	if got := OnPath(); got != (Dlv{}) {
		t.Errorf("OnPath() with no dlv = %+v, want the zero Dlv", got)
	}
}
