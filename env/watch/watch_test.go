package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/build"
)

func TestTouched(t *testing.T) {
	root := "/src/kubernetes"
	g := NewGraph(root, map[string][]build.Package{
		"kube-apiserver": {
			{ImportPath: "k8s.io/kubernetes/cmd/kube-apiserver", Dir: root + "/cmd/kube-apiserver"},
			{ImportPath: "k8s.io/apiserver/pkg/server", Dir: root + "/staging/src/k8s.io/apiserver/pkg/server", Depth: 2},
			{ImportPath: "fmt", Dir: "/usr/local/go/src/fmt", Depth: 1},
		},
		"kube-scheduler": {
			{ImportPath: "k8s.io/kubernetes/pkg/scheduler", Dir: root + "/pkg/scheduler", Depth: 2},
			{ImportPath: "k8s.io/apiserver/pkg/server", Dir: root + "/staging/src/k8s.io/apiserver/pkg/server", Depth: 3},
		},
	})
	for _, tc := range []struct {
		changed []string
		want    []string
	}{
		{[]string{root + "/pkg/scheduler/schedule_one.go"}, []string{"kube-scheduler"}},
		{[]string{root + "/staging/src/k8s.io/apiserver/pkg/server/config.go"}, []string{"kube-apiserver", "kube-scheduler"}},
		// A package no binary is compiled from, and one outside the tree.
		{[]string{root + "/pkg/kubelet/kubelet.go", "/usr/local/go/src/fmt/print.go"}, nil},
		{[]string{root + "/go.work"}, []string{"kube-apiserver", "kube-scheduler"}},
	} {
		if got := g.Touched(tc.changed); !slices.Equal(got, tc.want) {
			t.Errorf("Touched(%v) = %v, want %v", tc.changed, got, tc.want)
		}
	}
	server := []string{root + "/staging/src/k8s.io/apiserver/pkg/server/config.go"}
	if a, s := g.Depth("kube-apiserver", server), g.Depth("kube-scheduler", server); a != 2 || s != 3 {
		t.Errorf("depths of k8s.io/apiserver/pkg/server: %d in kube-apiserver, %d in kube-scheduler; want 2 and 3", a, s)
	}
	if dirs := g.Dirs(); len(dirs) != 3 || slices.Contains(dirs, "/usr/local/go/src/fmt") {
		t.Errorf("Dirs() = %v, want the tree's three package directories", dirs)
	}
}

func TestCompiled(t *testing.T) {
	for name, want := range map[string]bool{
		"a/schedule_one.go":      true,
		"a/asm_amd64.s":          true,
		"a/schedule_one_test.go": false,
		"a/.schedule_one.go.swp": false,
		"a/.#schedule_one.go":    false,
		"a/_gen.go":              false,
		"a/schedule_one.go~":     false,
		"a/4913":                 false,
		"a/README.md":            false,
	} {
		if got := Compiled(name); got != want {
			t.Errorf("Compiled(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestWatcherBatchesASave saves a file the way editors do, writing a
// temporary file and renaming it over the original, and a test file
// beside it: one batch, with the source file alone.
func TestWatcherBatchesASave(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "debug.hcl")
	for _, f := range []string{filepath.Join(pkg, "a.go"), spec} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := New([]string{pkg}, []string{spec})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tmp := filepath.Join(pkg, ".a.go.tmp")
	write := func(path string) {
		if err := os.WriteFile(path, []byte("y"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(tmp)
	if err := os.Rename(tmp, filepath.Join(pkg, "a.go")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(pkg, "a_test.go"))
	write(filepath.Join(dir, "other.hcl"))
	got, err := w.Next(ctx, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(pkg, "a.go")}; !slices.Equal(got, want) {
		t.Errorf("first batch %v, want %v", got, want)
	}

	write(spec)
	if got, err := w.Next(ctx, 100*time.Millisecond); err != nil || !slices.Equal(got, []string{spec}) {
		t.Errorf("second batch %v (%v), want the spec", got, err)
	}
}

func TestImports(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.go")
	g := NewGraph(dir, map[string][]build.Package{"kube-scheduler": {{ImportPath: "k8s.io/kubernetes/pkg/a", Dir: dir, Imports: []string{"fmt"}}}})
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"package a\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint\n", false},
		{"package a\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nvar _, _ = fmt.Sprint, os.Exit\n", true},
		{"package a\n\nfunc broken( {\n", false},
	} {
		if err := os.WriteFile(file, []byte(tc.src), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := g.Imports([]string{file}); got != tc.want {
			t.Errorf("Imports after saving\n%s= %v, want %v", tc.src, got, tc.want)
		}
	}
}

// TestChangedSince: of what a watcher would watch, the files saved after
// a time, such as during a build before the watcher ran.
func TestChangedSince(t *testing.T) {
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	other := filepath.Join(dir, "other")
	// A directory named like a Go file is not one.
	for _, d := range []string{pkg, other, filepath.Join(pkg, "sub.go")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	built := time.Now().Add(-time.Hour)
	var want []string
	for _, tc := range []struct {
		path  string
		saved time.Duration
		want  bool
	}{
		{filepath.Join(pkg, "a.go"), time.Minute, true},
		{filepath.Join(pkg, "asm_amd64.s"), time.Second, true},
		{filepath.Join(pkg, "b.go"), -time.Minute, false},
		{filepath.Join(pkg, "a_test.go"), time.Minute, false},
		{filepath.Join(pkg, ".a.go.swp"), time.Minute, false},
		{filepath.Join(pkg, "_gen.go"), time.Minute, false},
		{filepath.Join(pkg, "README.md"), time.Minute, false},
		{filepath.Join(other, "c.go"), time.Minute, false},
		{filepath.Join(dir, "go.mod"), time.Minute, true},
		{filepath.Join(dir, "go.sum"), -time.Minute, false},
		{filepath.Join(dir, "debug.hcl"), time.Minute, false},
	} {
		if err := os.WriteFile(tc.path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tc.path, built.Add(tc.saved), built.Add(tc.saved)); err != nil {
			t.Fatal(err)
		}
		if tc.want {
			want = append(want, tc.path)
		}
	}
	slices.Sort(want)
	// A package directory and a module file that are not there are left out.
	dirs := []string{pkg, filepath.Join(dir, "gone")}
	files := []string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"), filepath.Join(dir, "go.work")}
	if got := ChangedSince(dirs, files, built); !slices.Equal(got, want) {
		t.Errorf("ChangedSince = %v, want %v", got, want)
	}
}
