package source_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/source"
)

// fakeVersion is the release the test's module proxy serves.
const fakeVersion = "v1.99.0"

// fakeProxy makes a file-system module proxy that serves a small
// Kubernetes-shaped release: k8s.io/kubernetes with two commands and the
// staging modules its go.work uses. k8s.io/sample-apiserver is served as
// its go.mod alone, as the real proxy here serves some releases of it, and
// k8s.io/sample-controller not at all.
func fakeProxy(t *testing.T) string {
	t.Helper()
	proxy := t.TempDir()
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	stagingVersion := "v0.99.0"

	root := map[string]string{
		".go-version": goVersion + "\n",
		"go.mod": "module k8s.io/kubernetes\n\ngo 1.24\n\nrequire (\n\tk8s.io/api v0.0.0\n\tk8s.io/sample-apiserver v0.0.0\n)\n\n" +
			"replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/sample-apiserver => ./staging/src/k8s.io/sample-apiserver\n)\n",
		"go.work":                      "go 1.24\n\nuse (\n\t.\n\t./staging/src/k8s.io/api\n\t./staging/src/k8s.io/sample-apiserver\n\t./staging/src/k8s.io/sample-controller\n)\n",
		"cmd/kube-apiserver/main.go":   "package main\n\nimport \"k8s.io/api/core\"\n\nfunc main() { println(core.Name) }\n",
		"cmd/sample-apiserver/main.go": "package main\n\nimport \"k8s.io/sample-apiserver/pkg/server\"\n\nfunc main() { server.Run() }\n",
	}
	publish(t, proxy, "k8s.io/kubernetes", fakeVersion, root, true)
	publish(t, proxy, "k8s.io/api", stagingVersion, map[string]string{
		"go.mod":       "module k8s.io/api\n\ngo 1.24\n",
		"core/core.go": "package core\n\nconst Name = \"core\"\n",
	}, true)
	publish(t, proxy, "k8s.io/sample-apiserver", stagingVersion, map[string]string{
		"go.mod":               "module k8s.io/sample-apiserver\n\ngo 1.24\n\nrequire k8s.io/api v0.0.0\n",
		"pkg/server/server.go": "package server\n\nfunc Run() {}\n",
	}, false)
	return proxy
}

// publish lays out one module version in a file-system proxy: its .info and
// .mod, and its .zip when withZip is set.
func publish(t *testing.T, proxy, path, version string, files map[string]string, withZip bool) {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(proxy, path, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("list", version+"\n")
	write(version+".info", `{"Version":"`+version+`","Time":"2026-01-02T03:04:05Z"}`)
	write(version+".mod", files["go.mod"])
	if !withZip {
		return
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, module.Version{Path: path, Version: version}, src); err != nil {
		t.Fatal(err)
	}
	write(version+".zip", zip.String())
}

// TestFromModuleRefusedModules lays out a release whose proxy refuses the
// source of one staging module and all of another: the first becomes a
// stub of its go.mod, the second is left out, a component that imports
// neither resolves its packages and builds (not under -short), and one that
// imports the stub is refused by name.
func TestFromModuleRefusedModules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	proxy := fakeProxy(t)
	modcache := t.TempDir()
	t.Cleanup(func() {
		// The module cache is read-only; go clean empties it.
		clean := exec.Command("go", "clean", "-modcache")
		clean.Env = append(os.Environ(), "GOMODCACHE="+modcache)
		_ = clean.Run()
	})
	t.Setenv("GOPROXY", "file://"+proxy)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GONOSUMDB", "")
	t.Setenv("GOMODCACHE", modcache)
	t.Setenv("GOTOOLCHAIN", "local")
	t.Setenv("GOCACHE", t.TempDir())

	ctx := context.Background()
	var progress []string
	tree, err := source.FromModule(ctx, layout.Cache{Dir: t.TempDir()}, fakeVersion, func(msg string) { progress = append(progress, msg) })
	if err != nil {
		t.Fatal(err)
	}
	said := strings.Join(progress, "\n")
	for _, want := range []string{
		"k8s.io/sample-apiserver@v0.99.0: the module proxy serves its go.mod but not its source",
		"k8s.io/sample-controller@v0.99.0: the module proxy refuses it",
	} {
		if !strings.Contains(said, want) {
			t.Errorf("progress does not say %q:\n%s", want, said)
		}
	}
	if strings.Join(tree.Stubs, ",") != "k8s.io/sample-apiserver@v0.99.0" || strings.Join(tree.Omitted, ",") != "sample-controller" {
		t.Errorf("stubs %v, omitted %v", tree.Stubs, tree.Omitted)
	}
	stubMod, err := os.ReadFile(filepath.Join(tree.Dir, "staging/src/k8s.io/sample-apiserver/go.mod"))
	if err != nil || !strings.Contains(string(stubMod), "require k8s.io/api v0.0.0") {
		t.Errorf("the stub is not the module's own go.mod (%v):\n%s", err, stubMod)
	}
	work, _ := os.ReadFile(filepath.Join(tree.Dir, "go.work"))
	if !strings.Contains(string(work), "./staging/src/k8s.io/sample-apiserver") || strings.Contains(string(work), "sample-controller") {
		t.Errorf("go.work keeps the stub and drops the refused module:\n%s", work)
	}
	sums, err := source.ModuleSums(ctx, tree, fakeVersion)
	if err != nil {
		t.Fatalf("module hashes for the lock: %v", err)
	}
	if len(sums) != 3 {
		t.Errorf("module hashes %+v, want kubernetes, api and the stub's go.mod", sums)
	}

	// The workspace resolves kube-apiserver's imports beside the stub:
	// k8s.io/api from the tree's staging copy, nothing from the stub.
	out := t.TempDir()
	apiserver := build.Request{Tree: tree, Components: []string{"kube-apiserver"}, OutDir: out, Unoptimized: true}
	deps, err := build.Packages(ctx, apiserver)
	if err != nil {
		t.Fatalf("the packages of kube-apiserver beside the stub: %v", err)
	}
	dirs := map[string]string{}
	for _, p := range deps["kube-apiserver"] {
		dirs[p.ImportPath] = p.Dir
		if strings.HasPrefix(p.ImportPath, "k8s.io/sample-apiserver") {
			t.Errorf("kube-apiserver imports %s of the stub", p.ImportPath)
		}
	}
	if want := filepath.Join(tree.Dir, "staging/src/k8s.io/api/core"); dirs["k8s.io/api/core"] != want {
		t.Errorf("k8s.io/api/core is at %q, want %q", dirs["k8s.io/api/core"], want)
	}

	// Refused before go build runs: build.Run lists the packages first.
	var log bytes.Buffer
	_, err = build.Run(ctx, build.Request{Tree: tree, Components: []string{"sample-apiserver"}, OutDir: out, Unoptimized: true}, &log)
	if err == nil || !strings.Contains(err.Error(), "sample-apiserver imports k8s.io/sample-apiserver/pkg/server, but the Go module proxy does not serve the source of k8s.io/sample-apiserver@v0.99.0") {
		t.Errorf("a component that imports the stub: %v", err)
	}

	if testing.Short() {
		// go build -N -l into the test's empty build cache compiles the
		// runtime too: 10 s of a short run.
		t.Log("-short: not building kube-apiserver beside the stub")
		return
	}
	built, err := build.Run(ctx, apiserver, &log)
	if err != nil || len(built) != 1 {
		t.Fatalf("build kube-apiserver beside the stub: %v\n%s", err, log.String())
	}
}
