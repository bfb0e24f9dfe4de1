package sourcemap

import (
	"debug/dwarf"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFor maps a workspace shaped like a Kubernetes tree and the standard
// library by name; then every file a real -trimpath binary names, from its
// own module, the module cache and the standard library, to a file that
// is there.
func TestFor(t *testing.T) {
	tree := t.TempDir()
	writeFile(t, filepath.Join(tree, "go.work"), "go 1.24\n\nuse (\n\t.\n\t./staging/src/k8s.io/api\n\t./staging/src/k8s.io/apiserver\n)\n")
	writeFile(t, filepath.Join(tree, "go.mod"), "module k8s.io/kubernetes\n\ngo 1.24\n")
	writeFile(t, filepath.Join(tree, "staging/src/k8s.io/api/go.mod"), "module k8s.io/api\n")
	writeFile(t, filepath.Join(tree, "staging/src/k8s.io/apiserver/go.mod"), "module k8s.io/apiserver\n")
	m, err := For(Inputs{Workspace: tree, GOROOT: "/goroot", GOMODCACHE: "/modcache"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"k8s.io/kubernetes/cmd/kube-apiserver/app/server.go": tree + "/cmd/kube-apiserver/app/server.go",
		"k8s.io/apiserver/pkg/server/handler.go":             tree + "/staging/src/k8s.io/apiserver/pkg/server/handler.go",
		"k8s.io/api/core/v1/types.go":                        tree + "/staging/src/k8s.io/api/core/v1/types.go",
		"runtime/proc.go":                                    "/goroot/src/runtime/proc.go",
		"/abs/path.go":                                       "/abs/path.go",
	} {
		if got := m.Local(name); got != want {
			t.Errorf("%s maps to %s, want %s", name, got, want)
		}
	}
	if last := m[len(m)-1]; last.From != "" || last.To != "/goroot/src" {
		t.Errorf("the standard library's rule is not last: %+v", last)
	}
	script := m.InitScript()
	if !strings.Contains(script, `config substitute-path "k8s.io/apiserver" "`+tree+`/staging/src/k8s.io/apiserver"`+"\n") ||
		!strings.HasSuffix(script, `config substitute-path "" "/goroot/src"`+"\n") {
		t.Errorf("init script:\n%s", script)
	}
}

func TestForBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	bin := filepath.Join(t.TempDir(), "prog")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/prog")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := exec.Command("go", "env", "GOROOT", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	goenv := strings.Fields(string(out))
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// The module is used from a workspace, as a Kubernetes tree is.
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "go.work"), "go 1.24\n\nuse "+root+"\n")
	m, err := For(Inputs{Workspace: work, GOROOT: goenv[0], GOMODCACHE: goenv[1], Binaries: []string{bin}})
	if err != nil {
		t.Fatal(err)
	}
	names := sourceFiles(t, bin)
	var own, cache, std int
	for _, name := range names {
		if filepath.IsAbs(name) || strings.HasPrefix(name, "<") || name == "?" {
			continue
		}
		local := m.Local(name)
		if _, err := os.Stat(local); err != nil {
			t.Errorf("%s maps to %s: %v", name, local, err)
		}
		switch {
		case strings.HasPrefix(name, "github.com/kenv-dev/kenv/"):
			own++
		case strings.HasPrefix(name, "golang.org/x/mod@"):
			cache++
		case strings.HasPrefix(local, goenv[0]):
			std++
		}
	}
	if own == 0 || cache == 0 || std == 0 {
		t.Errorf("files mapped: %d of the module, %d from the module cache, %d of the standard library; want some of each", own, cache, std)
	}
}

// sourceFiles lists the files the binary's line tables name.
func sourceFiles(t *testing.T, bin string) []string {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for r := d.Reader(); ; {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return names
		}
		if e.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := d.LineReader(e)
		if err != nil || lr == nil {
			continue
		}
		for _, file := range lr.Files() {
			if file != nil && !seen[file.Name] {
				seen[file.Name] = true
				names = append(names, file.Name)
			}
		}
	}
}

func TestCachedEscapes(t *testing.T) {
	for _, c := range []struct {
		dep      debug.Module
		from, to string
		ok       bool
	}{
		{debug.Module{Path: "github.com/Azure/go-ansiterm", Version: "v0.0.0-2021"}, "github.com/Azure/go-ansiterm@v0.0.0-2021", "/mc/github.com/!azure/go-ansiterm@v0.0.0-2021", true},
		{debug.Module{Path: "example.com/a", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/B", Version: "v1.1.0"}}, "example.com/a@v1.0.0", "/mc/example.com/!b@v1.1.0", true},
		{debug.Module{Path: "example.com/a", Version: "v1.0.0", Replace: &debug.Module{Path: "../a"}}, "", "", false},
		{debug.Module{Path: "k8s.io/api", Version: "(devel)"}, "", "", false},
	} {
		from, to, ok := cached("/mc", &c.dep)
		if from != c.from || to != c.to || ok != c.ok {
			t.Errorf("%+v maps %q to %q (%t), want %q to %q (%t)", c.dep, from, to, ok, c.from, c.to, c.ok)
		}
	}
}
