// Package build compiles Kubernetes components from a source tree with
// debug-friendly flags and the upstream version ldflags.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/kenv-dev/kenv/env/source"
)

// Request says what to build.
type Request struct {
	Tree *source.Tree
	// Components are command names under cmd/, e.g. "kube-apiserver".
	Components []string
	// OutDir receives one binary per component.
	OutDir string
	// Debug disables optimisation and inlining; symbols and DWARF are always
	// kept.
	Debug bool
	// Tags, GCFlags and LDFlags are added to kenv's own; GCFlags and LDFlags
	// apply to every package.
	Tags    []string
	GCFlags []string
	LDFlags []string
}

// Command returns the go command line and its environment for r. It is a
// pure function of r so that it can be shown before anything runs.
func Command(r Request) (argv []string, env []string) {
	var gcflags []string
	if r.Debug {
		gcflags = []string{"-N", "-l"}
	}
	gcflags = append(gcflags, r.GCFlags...)
	ldflags := append(VersionLDFlags(r.Tree.Version), r.LDFlags...)
	// The tags hack/lib/golang.sh uses for a debug build.
	tags := append([]string{"selinux", "notest"}, r.Tags...)
	argv = []string{"go", "build",
		"-o=" + r.OutDir + string(filepath.Separator),
		"-gcflags=all=" + strings.Join(gcflags, " "),
		"-ldflags=all=" + strings.Join(ldflags, " "),
		"-tags=" + strings.Join(tags, ","),
	}
	for _, c := range r.Components {
		argv = append(argv, "./cmd/"+c)
	}
	env = []string{
		"GOTOOLCHAIN=go" + r.Tree.GoVersion,
		"GOWORK=" + filepath.Join(r.Tree.Dir, "go.work"),
		// The control-plane components are static binaries upstream.
		"CGO_ENABLED=0",
		"GOFLAGS=-buildvcs=false",
	}
	return argv, env
}

// VersionLDFlags returns the -X flags that set the version variables in
// both packages Kubernetes reads them from.
func VersionLDFlags(v source.Version) []string {
	vars := [][2]string{
		{"gitVersion", v.GitVersion},
		{"gitMajor", v.GitMajor},
		{"gitMinor", v.GitMinor},
		{"buildDate", v.BuildDate},
		{"gitCommit", v.GitCommit},
		{"gitTreeState", v.GitTreeState},
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, kv := range vars {
			if kv[1] != "" {
				flags = append(flags, fmt.Sprintf("-X '%s.%s=%s'", pkg, kv[0], kv[1]))
			}
		}
	}
	return flags
}

// stamp records what a binary was built from.
type stamp struct {
	Inputs string
}

// Run builds the components of r that are missing or were built from other
// inputs, all in one go build. It returns the components it built; none
// when everything was up to date.
func Run(ctx context.Context, r Request, output *os.File) ([]string, error) {
	argv, env := Command(r)
	inputs := inputsHash(r, argv, env)
	// A checkout the user edits is always handed to go build, whose own
	// cache knows what changed.
	var stale []string
	for _, c := range r.Components {
		if r.Tree.Mutable || !upToDate(r.OutDir, c, inputs) {
			stale = append(stale, c)
		}
	}
	if len(stale) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(r.OutDir, 0o755); err != nil {
		return nil, err
	}
	sub := r
	sub.Components = stale
	argv, env = Command(sub)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = r.Tree.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w", strings.Join(stale, " "), err)
	}
	for _, c := range stale {
		raw, _ := json.Marshal(stamp{Inputs: inputs})
		if err := os.WriteFile(stampPath(r.OutDir, c), raw, 0o644); err != nil {
			return nil, err
		}
	}
	return stale, nil
}

// inputsHash names everything a binary depends on besides the tree's
// content, which is fixed for a released version.
func inputsHash(r Request, argv, env []string) string {
	h := sha256.New()
	fmt.Fprintln(h, r.Tree.Key, r.Tree.GoVersion)
	// The component list is not an input of any one binary.
	for _, a := range argv {
		if !strings.HasPrefix(a, "./cmd/") {
			fmt.Fprintln(h, a)
		}
	}
	for _, e := range slices.Sorted(slices.Values(env)) {
		fmt.Fprintln(h, e)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func upToDate(dir, component, inputs string) bool {
	if _, err := os.Stat(filepath.Join(dir, component)); err != nil {
		return false
	}
	raw, err := os.ReadFile(stampPath(dir, component))
	if err != nil {
		return false
	}
	var s stamp
	return json.Unmarshal(raw, &s) == nil && s.Inputs == inputs
}

func stampPath(dir, component string) string {
	return filepath.Join(dir, "."+component+".stamp")
}

// Hash returns the SHA-256 of a built binary, in hex.
func Hash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Where names the places a build of r reads from: the tree, the toolchain's
// GOROOT and the module cache. Binaries keep those absolute paths in their
// debug information, for the debugger to find the sources, so two builds
// of the same inputs are identical only when Where is too.
func Where(ctx context.Context, r Request) (string, error) {
	_, env := Command(r)
	cmd := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOMODCACHE")
	cmd.Dir = r.Tree.Dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	h := sha256.New()
	fmt.Fprintln(h, r.Tree.Dir, runtime.GOOS, runtime.GOARCH)
	h.Write(out)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
