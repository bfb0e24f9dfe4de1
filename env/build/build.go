// Package build compiles Kubernetes components from a source tree with
// debug-friendly flags and the upstream version ldflags.
package build

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/renameio/v2"

	"github.com/kenv-dev/kenv/env/source"
)

// Request says what to build.
type Request struct {
	Tree *source.Tree
	// Components are command names under cmd/, e.g. "kube-apiserver".
	Components []string
	// OutDir receives one binary per component.
	OutDir string
	// Unoptimized disables optimisation and inlining; symbols and DWARF are always
	// kept.
	Unoptimized bool
	// Tags, GCFlags and LDFlags are added to kenv's own; GCFlags and LDFlags
	// apply to every package.
	Tags    []string
	GCFlags []string
	LDFlags []string
	// Optimize are package patterns an Unoptimized build compiles optimised, with
	// GCFlags alone.
	Optimize []string
	// Cgo builds with cgo, as upstream builds the commands that are not
	// static (Static).
	Cgo bool
}

// The binaries the build knows besides the commands under cmd/: the e2e
// suite (go test -c of test/e2e) and the ginkgo that runs it, at the
// release the tree's go.mod requires.
const (
	E2ETest = "e2e.test"
	Ginkgo  = "ginkgo"
)

// packageOf is the package the binary c is built from.
func packageOf(c string) string {
	switch c {
	case E2ETest:
		return "./test/e2e"
	case Ginkgo:
		return "github.com/onsi/ginkgo/v2/ginkgo"
	}
	return "./cmd/" + c
}

// staticCommands are the commands upstream builds with CGO_ENABLED=0
// (KUBE_STATIC_BINARIES in hack/lib/golang.sh); the others, the kubelet
// among them, are built with cgo.
var staticCommands = []string{"apiextensions-apiserver", "kube-aggregator", "kube-apiserver", "kube-controller-manager",
	"kube-scheduler", "kube-proxy", "kube-log-runner", "kubeadm", "kubectl", "kubectl-convert", "kubemark", "mounter",
	E2ETest, Ginkgo}

// Static reports whether upstream builds the named command without cgo.
func Static(command string) bool { return slices.Contains(staticCommands, command) }

// Split splits r into the builds go runs: one of its static commands and
// one, with cgo, of the others, and the e2e suite's go test -c; a build
// with nothing to build is left out.
func Split(r Request) []Request {
	static, cgo, suite := r, r, r
	static.Components, cgo.Components, suite.Components = nil, nil, nil
	static.Cgo, cgo.Cgo = false, true
	for _, c := range r.Components {
		switch {
		case c == E2ETest:
			suite.Components = []string{c}
		case Static(c):
			static.Components = append(static.Components, c)
		default:
			cgo.Components = append(cgo.Components, c)
		}
	}
	var out []Request
	for _, b := range []Request{static, cgo, suite} {
		if len(b.Components) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// Command returns the go command line and its environment for r. It is a
// pure function of r so that it can be shown before anything runs.
func Command(r Request) (argv []string, env []string) {
	var gcflags []string
	if r.Unoptimized {
		gcflags = []string{"-N", "-l"}
	}
	gcflags = append(gcflags, r.GCFlags...)
	cgo := "0"
	if r.Cgo {
		cgo = "1"
	}
	argv = []string{"go", "build", "-o=" + r.OutDir + string(filepath.Separator)}
	if slices.Equal(r.Components, []string{E2ETest}) {
		// go test runs vet on the suite first: minutes, and nothing a
		// debug build of a released tree needs.
		argv = []string{"go", "test", "-c", "-vet=off", "-o=" + filepath.Join(r.OutDir, E2ETest)}
	}
	argv = append(argv,
		// Binaries name their files by module path, not by where the
		// tree, the toolchain and the module cache lie: the same source
		// builds the same binary on any machine, and a tree at a new path
		// reuses Go's build cache. sourcemap puts the paths back for
		// Delve and editors.
		"-trimpath",
		"-gcflags=all="+strings.Join(gcflags, " "),
	)
	if r.Unoptimized {
		// The last pattern a package matches decides its flags.
		for _, pattern := range r.Optimize {
			argv = append(argv, "-gcflags="+pattern+"="+strings.Join(r.GCFlags, " "))
		}
	}
	argv = append(argv,
		"-ldflags="+ldflags(r),
		"-tags="+tags(r),
	)
	for _, c := range r.Components {
		argv = append(argv, packageOf(c))
	}
	env = []string{
		"GOTOOLCHAIN=go" + r.Tree.GoVersion,
		"GOWORK=" + filepath.Join(r.Tree.Dir, "go.work"),
		"CGO_ENABLED=" + cgo,
		"GOFLAGS=-buildvcs=false",
	}
	return argv, env
}

// ldflags are the linker flags: the version -X flags and the request's.
func ldflags(r Request) string {
	return "all=" + strings.Join(append(VersionLDFlags(r.Tree.Version), r.LDFlags...), " ")
}

// tags are the build tags: those hack/lib/golang.sh uses for a debug build,
// the e2e suite's too, and the request's. notest leaves files out of
// k8s.io/apimachinery, on which everything depends: the suite built with
// another set would share no compiled package with the components.
func tags(r Request) string {
	return strings.Join(append([]string{"selinux", "notest"}, r.Tags...), ",")
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
// inputs: one go build of the static ones, one of those upstream builds
// with cgo. It returns the components it built; none when everything was
// up to date.
func Run(ctx context.Context, r Request, output io.Writer) ([]string, error) {
	var built []string
	for _, b := range Split(r) {
		stale, err := run(ctx, b, output)
		if err != nil {
			return nil, err
		}
		built = append(built, stale...)
	}
	return built, nil
}

// run builds the components of r, one build, that are not up to date.
func run(ctx context.Context, r Request, output io.Writer) ([]string, error) {
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
	if err := checkStubs(ctx, sub); err != nil {
		return nil, err
	}
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

// checkStubs fails, before a build that would take minutes, when a
// component imports a module the tree holds only the go.mod of, and says
// which.
func checkStubs(ctx context.Context, r Request) error {
	// The commands under cmd/: go itself says what the e2e suite lacks.
	r.Components = slices.DeleteFunc(slices.Clone(r.Components), func(c string) bool { return c == E2ETest || c == Ginkgo })
	if len(r.Tree.Stubs) == 0 || len(r.Components) == 0 {
		return nil
	}
	deps, err := Packages(ctx, r)
	if err != nil {
		return err
	}
	var problems []string
	for _, c := range r.Components {
		for _, stub := range r.Tree.Stubs {
			path, version, _ := strings.Cut(stub, "@")
			for _, pkg := range deps[c] {
				if pkg.ImportPath == path || strings.HasPrefix(pkg.ImportPath, path+"/") {
					problems = append(problems, fmt.Sprintf("%s imports %s, but the Go module proxy does not serve the source of %s@%s", c, pkg.ImportPath, path, version))
					break
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s\nchoose another Kubernetes version, leave the component out, or set GOPROXY to a proxy that serves the module", strings.Join(problems, "\n"))
	}
	return nil
}

// Package is one package a component is compiled from.
type Package struct {
	ImportPath string
	// Dir holds its files; empty for one go cannot find.
	Dir string
	// Depth is how many imports away from the command's main package it
	// is: 0 for the main package, 1 for what it imports, and so on.
	Depth int
	// Imports are the import paths it imports.
	Imports []string
}

// Packages returns, for each component of r, the packages its binary is
// compiled from, as go's package graph says for r's build: one go list
// for each of the builds Split makes of r.
func Packages(ctx context.Context, r Request) (map[string][]Package, error) {
	deps := map[string][]Package{}
	for _, b := range Split(r) {
		if err := listPackages(ctx, b, deps); err != nil {
			return nil, err
		}
	}
	return deps, nil
}

func listPackages(ctx context.Context, r Request, deps map[string][]Package) error {
	_, env := Command(r)
	args := []string{"list", "-e", "-deps", "-tags=" + tags(r), "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .Imports \" \"}}"}
	for _, c := range r.Components {
		args = append(args, "./cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.Tree.Dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("list the packages %s import: %w\n%s", strings.Join(r.Components, ", "), err, stderr.String())
	}
	dirs := map[string]string{}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(fields) != 3 {
			continue
		}
		dirs[fields[0]], imports[fields[0]] = fields[1], strings.Fields(fields[2])
	}
	// Breadth first from each main package: each package at its least
	// depth.
	for _, c := range r.Components {
		main := "k8s.io/kubernetes/cmd/" + c
		seen := map[string]bool{main: true}
		for depth, level := 0, []string{main}; len(level) > 0; depth++ {
			var next []string
			for _, path := range level {
				deps[c] = append(deps[c], Package{ImportPath: path, Dir: dirs[path], Depth: depth, Imports: imports[path]})
				for _, imp := range imports[path] {
					if !seen[imp] {
						seen[imp] = true
						next = append(next, imp)
					}
				}
			}
			level = next
		}
	}
	return nil
}

// inputsHash names everything a binary depends on besides the tree's
// content, which is fixed for a released version.
func inputsHash(r Request, argv, env []string) string {
	h := sha256.New()
	fmt.Fprintln(h, r.Tree.Key, r.Tree.GoVersion)
	// The component list is not an input of any one binary.
	packages := map[string]bool{}
	for _, c := range r.Components {
		packages[packageOf(c)] = true
	}
	for _, a := range argv {
		if !packages[a] {
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

// Hash returns the SHA-256 of a built binary, in hex. Reading a binary of
// a hundred megabytes takes a second, so the sum is kept beside it, with
// the size and modification time it was taken at, and reused while they
// are the binary's.
func Hash(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%d %d ", fi.Size(), fi.ModTime().UnixNano())
	sumPath := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".sha256")
	if kept, err := os.ReadFile(sumPath); err == nil {
		if sum, ok := strings.CutPrefix(string(kept), key); ok && len(sum) == sha256.Size*2 {
			return sum, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	// Without it, the next call reads the binary again.
	_ = renameio.WriteFile(sumPath, []byte(key+sum), 0o644)
	return sum, nil
}

// Toolchain returns the GOROOT of the toolchain that builds r and the
// module cache it reads, as the go command run for r sees them. The answer
// is kept in r.OutDir for the same toolchain and Go environment, so that a
// warm up runs no go command: the go command picking the toolchain takes a
// tenth of a second.
func Toolchain(ctx context.Context, r Request) (goroot, modcache string, err error) {
	_, env := Command(r)
	key := strings.Join(append(env, goEnvironment()...), "\n")
	keptPath := filepath.Join(r.OutDir, ".toolchain")
	if kept, err := os.ReadFile(keptPath); err == nil {
		if rest, ok := strings.CutPrefix(string(kept), key+"\n\n"); ok {
			goroot, modcache, _ = strings.Cut(rest, "\n")
			// A toolchain removed or replaced since is asked again.
			if version, err := os.ReadFile(filepath.Join(goroot, "VERSION")); err == nil && strings.HasPrefix(string(version), "go"+r.Tree.GoVersion+"\n") {
				return goroot, modcache, nil
			}
		}
	}
	goroot, modcache, err = askToolchain(ctx, r, env)
	if err == nil {
		_ = renameio.WriteFile(keptPath, []byte(key+"\n\n"+goroot+"\n"+modcache), 0o644)
	}
	return goroot, modcache, err
}

// goEnvironment is what in kenv's environment decides which toolchain the
// go command runs and where it keeps modules.
func goEnvironment() []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "GOENV", "GOROOT", "GOPATH", "GOMODCACHE", "GOTOOLCHAIN", "GOFLAGS", "GOPROXY"} {
		env = append(env, name+"="+os.Getenv(name))
	}
	return env
}

func askToolchain(ctx context.Context, r Request, env []string) (goroot, modcache string, err error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOMODCACHE")
	cmd.Dir = r.Tree.Dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("go env GOROOT GOMODCACHE printed %q", out)
	}
	return lines[0], lines[1], nil
}

// ContentID returns the part of a binary's Go build ID that hashes its
// content: two builds with the same ContentID are the same program, even
// when their inputs differ, as they do after an edit to code the binary
// does not reach.
func ContentID(f *os.File) (string, error) {
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", err
	}
	path := f.Name()
	s := ef.Section(".note.go.buildid")
	if s == nil {
		return "", fmt.Errorf("%s has no Go build ID", path)
	}
	note, err := s.Data()
	if err != nil {
		return "", err
	}
	// An ELF note: name size, description size, type, the name "Go" padded
	// to 4 bytes, then the description, the build ID.
	if len(note) < 16 {
		return "", fmt.Errorf("%s: short Go build ID note", path)
	}
	nameSize, descSize := binary.LittleEndian.Uint32(note[0:]), binary.LittleEndian.Uint32(note[4:])
	start := 12 + (int(nameSize)+3)&^3
	if start+int(descSize) > len(note) {
		return "", fmt.Errorf("%s: short Go build ID note", path)
	}
	id := string(note[start : start+int(descSize)])
	return id[strings.LastIndex(id, "/")+1:], nil
}

// ProgramID hashes what of a binary decides what it does, its code and
// data, and not its line tables, debug information or build ID: an edit
// that only moves lines of code a binary reaches changes those alone.
func ProgramID(f *os.File) (string, error) {
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, s := range ef.Sections {
		// Notes hold the build IDs, which hash the inputs.
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NOTE || s.Name == ".gopclntab" {
			continue
		}
		fmt.Fprintln(h, s.Name, s.Size)
		if _, err := io.Copy(h, s.Open()); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
