// Package source lays out a Kubernetes source tree that builds with its own
// go.work, from a release version served by the Go module proxy.
package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/kenv-dev/kenv/env/layout"
)

// Tree is a Kubernetes source tree ready to build.
type Tree struct {
	// Dir is the root of the tree; it holds go.work.
	Dir string
	// Key names the source in the cache, e.g. "kubernetes@v1.34.4".
	Key string
	// GoVersion is the toolchain the source pins in .go-version, e.g. "1.24.12".
	GoVersion string
	// Version holds the values of the version -X ldflags.
	Version Version
	// Stubs lists the staging modules ("path@version") the proxy serves
	// only the go.mod of; they are laid out as that go.mod alone, which
	// keeps the workspace's version selection as upstream has it. A
	// component that imports one cannot be built (see build.Run).
	Stubs []string `json:",omitempty"`
	// Omitted lists staging modules the proxy refused whole and the
	// Kubernetes module does not require.
	Omitted []string
	// Mutable is set for a checkout the user edits: its content, not only
	// its name, decides whether a binary is up to date.
	Mutable bool `json:",omitempty"`
	// Modules are the modules a tree from the module proxy was laid out
	// from, with their hashes as the module cache verified them then.
	Modules []Module `json:",omitempty"`
}

// Version holds what Kubernetes' hack/lib/version.sh computes from git.
type Version struct {
	GitVersion   string
	GitMajor     string
	GitMinor     string
	GitCommit    string `json:",omitempty"`
	GitTreeState string `json:",omitempty"`
	BuildDate    string
}

const (
	kubernetesModule = "k8s.io/kubernetes"
	stagingPrefix    = "./staging/src/k8s.io/"
	// MarkerFile is written last into a complete tree.
	MarkerFile = ".kenv-source.json"
)

// FromModule returns the tree of Kubernetes version (e.g. "v1.34.4"), laying
// it out in the cache from the Go module proxy on first use. A tree is
// complete or absent: an interrupted lay-out leaves nothing the next run
// would mistake for a tree.
func FromModule(ctx context.Context, cache layout.Cache, version string, progress func(string)) (*Tree, error) {
	key := "kubernetes@" + version
	dir := cache.SourceDir(key)
	if t, err := readMarker(dir); err == nil {
		return t, nil
	}

	progress(fmt.Sprintf("downloading %s@%s from the Go module proxy", kubernetesModule, version))
	root, err := downloadOne(ctx, kubernetesModule+"@"+version)
	if err != nil {
		return nil, err
	}
	work, err := readWork(root.Dir)
	if err != nil {
		return nil, err
	}
	required, err := requiredModules(root.Dir)
	if err != nil {
		return nil, err
	}

	stagingVersion := "v0" + strings.TrimPrefix(version, "v1")
	var names, queries []string
	for _, use := range work.Use {
		if name, ok := strings.CutPrefix(use.Path, stagingPrefix); ok {
			names = append(names, name)
			queries = append(queries, "k8s.io/"+name+"@"+stagingVersion)
		}
	}
	progress(fmt.Sprintf("downloading %d staging modules k8s.io/*@%s", len(names), stagingVersion))
	staging, err := download(ctx, queries...)
	if err != nil {
		return nil, err
	}

	t := &Tree{Dir: dir, Key: key, Version: moduleVersion(version, root.Info)}
	t.Modules = append(t.Modules, Module{Path: root.Path, Version: root.Version, Sum: root.Sum})
	var missing []string
	for i, name := range names {
		m := staging[i]
		switch {
		case m.Dir != "":
			t.Modules = append(t.Modules, Module{Path: m.Path, Version: m.Version, Sum: m.Sum})
		case m.GoMod != "":
			// A stub is locked by the hash of the go.mod it is laid out from.
			t.Modules = append(t.Modules, Module{Path: m.Path, Version: m.Version, Sum: m.GoModSum})
			t.Stubs = append(t.Stubs, m.Path+"@"+m.Version)
			progress(fmt.Sprintf("%s@%s: the module proxy serves its go.mod but not its source (%s); laid out as its go.mod alone, which builds any component that does not import it",
				m.Path, m.Version, refusal(m.Error)))
		case required["k8s.io/"+name]:
			missing = append(missing, fmt.Sprintf("%s@%s: %s", m.Path, m.Version, firstLine(m.Error)))
		default:
			t.Omitted = append(t.Omitted, name)
			progress(fmt.Sprintf("%s@%s: the module proxy refuses it (%s); left out of go.work, as nothing requires it",
				m.Path, m.Version, refusal(m.Error)))
			if err := work.DropUse(stagingPrefix + name); err != nil {
				return nil, err
			}
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the Go module proxy does not serve modules Kubernetes %s needs:\n  %s\nchoose another version, or set GOPROXY to a proxy that serves them",
			version, strings.Join(missing, "\n  "))
	}

	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+key+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	progress(fmt.Sprintf("laying out the source tree in %s", dir))
	if err := copyTree(ctx, root.Dir, tmp); err != nil {
		return nil, err
	}
	for i, name := range names {
		to := filepath.Join(tmp, "staging", "src", "k8s.io", name)
		var err error
		switch m := staging[i]; {
		case m.Dir != "":
			err = copyTree(ctx, m.Dir, to)
		case m.GoMod != "":
			if err = os.MkdirAll(to, 0o755); err == nil {
				err = copyFile(m.GoMod, filepath.Join(to, "go.mod"), 0o644)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.work"), modfile.Format(work.Syntax), 0o644); err != nil {
		return nil, err
	}
	goVersion, err := os.ReadFile(filepath.Join(tmp, ".go-version"))
	if err != nil {
		return nil, fmt.Errorf("read the toolchain version of %s: %w", key, err)
	}
	t.GoVersion = strings.TrimSpace(string(goVersion))
	if err := writeMarker(tmp, t); err != nil {
		return nil, err
	}
	// A tree without a marker is left over from an interrupted run.
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return t, nil
}

// moduleVersion derives the version ldflags of a release from its version
// string. The build date is the module's publication time, so builds of the
// same source report the same date.
func moduleVersion(version string, info moduleInfo) Version {
	major, minor := semverParts(version)
	return Version{
		GitVersion: version,
		GitMajor:   major,
		GitMinor:   minor,
		BuildDate:  info.Time.UTC().Format(time.RFC3339),
	}
}

// semverParts returns the major and minor version the way hack/lib/version.sh
// does: the minor gets a trailing "+" when the version has a pre-release or
// build suffix.
func semverParts(version string) (major, minor string) {
	mm := strings.TrimPrefix(semver.MajorMinor(version), "v")
	major, minor, _ = strings.Cut(mm, ".")
	if semver.Prerelease(version) != "" || semver.Build(version) != "" {
		minor += "+"
	}
	return major, minor
}

type module struct {
	Path     string
	Version  string
	Sum      string
	GoMod    string
	GoModSum string
	Dir      string
	Info     string
	Error    string
}

// Module is a module version and its go.sum hash.
type Module struct {
	Path    string
	Version string
	Sum     string
}

// ModuleSums returns the modules the tree of a module-sourced Kubernetes
// version is laid out from, k8s.io/kubernetes first, with their hashes: as
// the tree recorded them when it was laid out, without running go, or as
// the Go module cache holds them for a tree laid out before kenv recorded
// them, which records them then.
func ModuleSums(ctx context.Context, t *Tree, version string) ([]Module, error) {
	if len(t.Modules) > 0 {
		return t.Modules, nil
	}
	work, err := readWork(t.Dir)
	if err != nil {
		return nil, err
	}
	queries := []string{kubernetesModule + "@" + version}
	stagingVersion := "v0" + strings.TrimPrefix(version, "v1")
	for _, use := range work.Use {
		if name, ok := strings.CutPrefix(use.Path, stagingPrefix); ok {
			queries = append(queries, "k8s.io/"+name+"@"+stagingVersion)
		}
	}
	mods, err := download(ctx, queries...)
	if err != nil {
		return nil, err
	}
	sums := make([]Module, 0, len(mods))
	for _, m := range mods {
		// A stub is locked by the hash of the go.mod it is laid out from.
		if m.Sum == "" && slices.Contains(t.Stubs, m.Path+"@"+m.Version) {
			m.Sum = m.GoModSum
		}
		if m.Sum == "" {
			return nil, fmt.Errorf("no hash for %s@%s: %s", m.Path, m.Version, firstLine(m.Error))
		}
		sums = append(sums, Module{Path: m.Path, Version: m.Version, Sum: m.Sum})
	}
	// Recorded in the tree, the next call need not run go.
	t.Modules = sums
	if err := writeMarker(t.Dir, t); err != nil {
		return nil, err
	}
	return sums, nil
}

type moduleInfo struct {
	Version string
	Time    time.Time
}

type downloaded struct {
	module
	Info moduleInfo
}

func downloadOne(ctx context.Context, query string) (downloaded, error) {
	mods, err := download(ctx, query)
	if err != nil {
		return downloaded{}, err
	}
	m := mods[0]
	if m.Dir == "" {
		return downloaded{}, fmt.Errorf("the Go module proxy does not serve %s: %s", query, firstLine(m.Error))
	}
	return m, nil
}

// download runs `go mod download -json` once for all queries and returns one
// entry per query, in order. A module the proxy refuses comes back with an
// empty Dir and its Error set; only a failure of the go command itself is an
// error here.
func download(ctx context.Context, queries ...string) ([]downloaded, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"mod", "download", "-json"}, queries...)...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	dec := json.NewDecoder(&stdout)
	var mods []downloaded
	for {
		var m module
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go mod download: %w (%v: %s)", err, runErr, stderr.String())
		}
		d := downloaded{module: m}
		if m.Info != "" {
			if raw, err := os.ReadFile(m.Info); err == nil {
				_ = json.Unmarshal(raw, &d.Info)
			}
		}
		mods = append(mods, d)
	}
	if len(mods) != len(queries) {
		return nil, fmt.Errorf("go mod download %s: %v: %s", strings.Join(queries, " "), runErr, stderr.String())
	}
	return mods, nil
}

func readWork(dir string) (*modfile.WorkFile, error) {
	p := filepath.Join(dir, "go.work")
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read the Kubernetes workspace: %w", err)
	}
	return modfile.ParseWork(p, raw, nil)
}

func requiredModules(dir string) (map[string]bool, error) {
	p := filepath.Join(dir, "go.mod")
	raw, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax(p, raw, nil)
	if err != nil {
		return nil, err
	}
	required := map[string]bool{}
	for _, r := range f.Require {
		required[r.Mod.Path] = true
	}
	return required, nil
}

// copyTree copies a module from the read-only module cache into a writable
// tree, stopping early when ctx is done.
func copyTree(ctx context.Context, from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, info.Mode().Perm()|0o200)
		default:
			return nil
		}
	})
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeMarker(dir string, t *Tree) error {
	raw, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	// Whole or not at all: other environments read it meanwhile.
	return renameio.WriteFile(filepath.Join(dir, MarkerFile), raw, 0o644)
}

func readMarker(dir string) (*Tree, error) {
	raw, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return nil, err
	}
	var t Tree
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	if t.GoVersion == "" {
		return nil, errors.New("incomplete source marker")
	}
	// The cache may have moved since the tree was laid out.
	t.Dir = dir
	return &t, nil
}

// refusal is the proxy's answer in a go command's download error, such as
// "403 Forbidden".
func refusal(err string) string {
	line := firstLine(err)
	if i := strings.LastIndex(line, ": "); i >= 0 {
		return line[i+2:]
	}
	return line
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Cached returns the tree of Kubernetes version when the cache already
// holds it, without downloading anything.
func Cached(cache layout.Cache, version string) (*Tree, bool) {
	t, err := readMarker(cache.SourceDir("kubernetes@" + version))
	return t, err == nil
}

// FromPath returns the Kubernetes checkout at dir, built in place as it is,
// uncommitted edits included. Its version comes from git, as
// hack/lib/version.sh derives it; a tree outside git gets none.
func FromPath(ctx context.Context, dir string) (*Tree, error) {
	if err := IsCheckout(dir); err != nil {
		return nil, err
	}
	goVersion, err := os.ReadFile(filepath.Join(dir, ".go-version"))
	if err != nil {
		return nil, fmt.Errorf("read the toolchain version of %s: %w", dir, err)
	}
	v, err := gitVersion(ctx, dir)
	if err != nil {
		v = Version{}
	}
	sum := sha256.Sum256([]byte(dir))
	return &Tree{
		Dir:       dir,
		Key:       "path-" + hex.EncodeToString(sum[:6]),
		GoVersion: strings.TrimSpace(string(goVersion)),
		Version:   v,
		Mutable:   true,
	}, nil
}

// IsCheckout says why dir is not a Kubernetes source tree, or nil.
func IsCheckout(dir string) error {
	for _, want := range []string{"go.work", ".go-version", filepath.Join("cmd", "kube-apiserver")} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			return fmt.Errorf("%s is not a Kubernetes checkout: it has no %s", dir, want)
		}
	}
	return nil
}
