// Package delve picks the Delve version that supports a Go toolchain and
// installs it into kenv's cache.
package delve

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/layout"
)

// supported lists, newest first, each Delve release and the Go minor
// versions it debugs (pkg/goversion/compat.go of that release).
var supported = []struct {
	version            string
	minMinor, maxMinor int
}{
	{"v1.27.2", 25, 27},
	{"v1.26.2", 24, 26},
	{"v1.25.2", 22, 25},
	{"v1.24.2", 21, 24},
}

// VersionFor returns the newest Delve that debugs binaries built by Go
// goVersion, e.g. "1.24.12".
func VersionFor(goVersion string) (string, error) {
	minor, err := goMinor(goVersion)
	if err != nil {
		return "", err
	}
	for _, s := range supported {
		if s.minMinor <= minor && minor <= s.maxMinor {
			return s.version, nil
		}
	}
	return "", fmt.Errorf("no Delve release known to kenv debugs Go %s; kenv supports Go 1.%d to 1.%d",
		goVersion, supported[len(supported)-1].minMinor, supported[0].maxMinor)
}

func goMinor(goVersion string) (int, error) {
	parts := strings.Split(strings.TrimPrefix(goVersion, "go"), ".")
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("malformed Go version %q", goVersion)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, fmt.Errorf("malformed Go version %q", goVersion)
	}
	return minor, nil
}

// Ensure returns the path of dlv at version, installing it with go install
// on first use. goVersion is the toolchain that builds it, at least.
func Ensure(ctx context.Context, cache layout.Cache, version, goVersion string, output io.Writer) (string, error) {
	dir := cache.DelveDir(version)
	dlv := filepath.Join(dir, "dlv")
	if _, err := os.Stat(dlv); err == nil {
		return dlv, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".dlv-"+version+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/go-delve/delve/cmd/dlv@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=go"+goVersion+"+auto")
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install Delve %s: %w", version, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dlv, nil
}
