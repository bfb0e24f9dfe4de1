package build

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// A Module is a Go command kenv installs from the module proxy rather than
// builds from the Kubernetes tree: Delve, kwok.
type Module struct {
	// Path is the module's path and Package the command's directory in
	// it, such as "cmd/kwok"; empty for a command at the module's root.
	Path, Package string
	Version       string
}

// Binary is the name of the command's binary.
func (m Module) Binary() string { return path.Base(m.command()) }

// command is the command's package path: the module's own, or one in it.
func (m Module) command() string { return path.Join(m.Path, m.Package) }

// Install builds m into dir, once: a binary there is kept. Go is the
// release to build with, or newer when the module asks for it; empty uses
// the go on PATH, or the release the module asks for. Debug builds
// without optimisation, for Delve. A failed build leaves dir as it was.
func Install(ctx context.Context, m Module, dir, goVersion string, debug bool, output io.Writer) (string, error) {
	bin := filepath.Join(dir, m.Binary())
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	argv := []string{"install"}
	if debug {
		argv = append(argv, "-gcflags=all=-N -l")
	}
	cmd := exec.CommandContext(ctx, "go", append(argv, m.command()+"@"+m.Version)...)
	cmd.Dir = os.TempDir()
	toolchain := "auto"
	if goVersion != "" {
		toolchain = "go" + goVersion + "+auto"
	}
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN="+toolchain)
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install %s@%s: %w", m.Path, m.Version, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}
