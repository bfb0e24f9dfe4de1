// Package delve picks the Delve version that supports a Go toolchain and
// installs it into kenv's cache.
package delve

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/build"
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

// supports reports whether Delve version debugs Go goVersion; known is
// false for a release kenv has no record of.
func supports(version, goVersion string) (ok, known bool, err error) {
	minor, err := goMinor(goVersion)
	if err != nil {
		return false, false, err
	}
	for _, s := range supported {
		if s.version == version {
			return s.minMinor <= minor && minor <= s.maxMinor, true, nil
		}
	}
	return false, false, nil
}

// A Dlv is the Delve that debugs a component.
type Dlv struct {
	Path, Release string
	// Cached says Path is kenv's build of Release in the cache, which
	// Ensure installs on first use; a dlv on PATH is used as it is.
	Cached bool
}

// OnPath finds the dlv on PATH and asks it its release: what Choose needs
// to know of this machine. The zero Dlv says there is none.
func OnPath() Dlv {
	path, err := exec.LookPath("dlv")
	if err != nil {
		return Dlv{}
	}
	out, err := exec.Command(path, "version").Output()
	if err != nil {
		return Dlv{}
	}
	var version string
	for _, line := range strings.Split(string(out), "\n") {
		if v, found := strings.CutPrefix(strings.TrimSpace(line), "Version: "); found {
			version = "v" + strings.TrimSpace(v)
		}
	}
	return Dlv{Path: path, Release: version}
}

// Choose returns the dlv that debugs binaries built by Go goVersion: the
// pinned release when set, else onPath (what OnPath found) when it
// supports goVersion, else the newest release that does; those two in the
// cache, installed by Ensure on first use. It looks at nothing: a pinned
// release known not to support goVersion is an error here, not Delve's own
// at attach time.
func Choose(cache layout.Cache, pinned, goVersion string, onPath Dlv) (Dlv, error) {
	cached := func(release string) Dlv {
		return Dlv{Path: filepath.Join(cache.DelveDir(release), "dlv"), Release: release, Cached: true}
	}
	if pinned != "" {
		ok, known, err := supports(pinned, goVersion)
		if err != nil {
			return Dlv{}, err
		}
		if known && !ok {
			want, _ := VersionFor(goVersion)
			return Dlv{}, fmt.Errorf("Delve %s does not debug binaries built by Go %s; set dlv = %q or leave dlv out", pinned, goVersion, want)
		}
		return cached(pinned), nil
	}
	if ok, _, _ := supports(onPath.Release, goVersion); ok && onPath.Path != "" {
		return onPath, nil
	}
	version, err := VersionFor(goVersion)
	if err != nil {
		return Dlv{}, err
	}
	return cached(version), nil
}

// Ensure returns the path of dlv at version, installing it with go install
// on first use. goVersion is the toolchain that builds it, at least.
func Ensure(ctx context.Context, cache layout.Cache, version, goVersion string, output io.Writer) (string, error) {
	m := build.Module{Path: "github.com/go-delve/delve", Package: "cmd/dlv", Version: version}
	dlv, err := build.Install(ctx, m, cache.DelveDir(version), goVersion, false, output)
	if err != nil {
		return "", fmt.Errorf("install Delve %s: %w", version, err)
	}
	return dlv, nil
}
