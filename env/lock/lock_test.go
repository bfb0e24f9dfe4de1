package lock_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

const specSource = `
kubernetes {
  version = "v1.34.4"
}
build {
  tags = ["providerless"]
}
component "kube-apiserver" {
  debug {}
}
`

// locked is the lock of specSource as up writes it.
func locked(file string) *lock.Lock {
	return &lock.Lock{
		File:    file,
		Version: "v1.34.4",
		Modules: []source.Module{
			{Path: "k8s.io/kubernetes", Version: "v1.34.4", Sum: "h1:a="},
			{Path: "k8s.io/api", Version: "v0.34.4", Sum: "h1:b="},
		},
		Go:          "1.24.12",
		BuildDate:   "2026-02-10T12:53:36Z",
		Delve:       map[string]string{"kube-apiserver": "v1.26.2"},
		Installed:   map[string]string{"kwok": "v0.8.0"},
		Unoptimized: true,
		Tags:        []string{"providerless"},
		Optimize:    []string{"std"},
		Built: build.Provenance{GoVersion: "go1.24.12",
			Settings: map[string]string{"-trimpath": "true", "-tags": "selinux,notest", "CGO_ENABLED": "0"}},
		Binaries: map[string]lock.Binary{"kube-apiserver": {SHA256: "aa", Modules: "m1"}, "kubectl": {SHA256: "bb", Modules: "m2"}},
	}
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "debug.lock.hcl")
	want := locked(path)
	if err := want.Write(); err != nil {
		t.Fatal(err)
	}
	got, _, diags := lock.Read(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got.Version != want.Version || got.Go != want.Go || got.Delve["kube-apiserver"] != "v1.26.2" || got.BuildDate != want.BuildDate ||
		!got.Unoptimized || strings.Join(got.Tags, ",") != "providerless" || strings.Join(got.Optimize, ",") != "std" {
		t.Errorf("read back %+v", got)
	}
	if len(got.Modules) != 2 || got.Modules[1] != want.Modules[1] {
		t.Errorf("modules %+v", got.Modules)
	}
	if !reflect.DeepEqual(got.Binaries, want.Binaries) {
		t.Errorf("binaries %v, want %v", got.Binaries, want.Binaries)
	}
	if !reflect.DeepEqual(got.Built, want.Built) {
		t.Errorf("provenance %+v, want %+v", got.Built, want.Built)
	}
	if d := got.Provenance("kubectl").Differences(want.Provenance("kubectl")); len(d) > 0 {
		t.Errorf("kubectl's provenance read back differs: %v", d)
	}
	raw, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(raw), "# Written by kenv for debug.hcl") {
		t.Errorf("the lock does not say what it is:\n%s", raw)
	}
	if none, _, diags := lock.Read(filepath.Join(t.TempDir(), "none.lock.hcl")); none != nil || diags != nil {
		t.Errorf("a missing lock reads as %v, %v", none, diags)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		// edit changes specSource; want is "line:col part of the detail"
		// per diagnostic, none when the spec still matches.
		from, to string
		want     []string
	}{
		{"unchanged", "", "", nil},
		{"flags do not matter", `debug {}`, "debug {}\n  flags = { v = 5 }", nil},
		{"version", `"v1.34.4"`, `"v1.35.0"`, []string{`3:3 kubernetes.version is "v1.35.0" here; debug.lock.hcl locks "v1.34.4"`}},
		{"go pin", `version = "v1.34.4"`, "version = \"v1.34.4\"\n  go = \"1.25.0\"", []string{`4:3 kubernetes.go is "1.25.0" here; debug.lock.hcl locks "1.24.12"`}},
		{"tags", `tags = ["providerless"]`, `tags = []`, []string{`6:3 build.tags is none here; debug.lock.hcl locks ["providerless"]`}},
		{"debug off", `tags = ["providerless"]`, "tags = [\"providerless\"]\n  debug = false", []string{`7:3 build.debug is false here; debug.lock.hcl locks true`}},
		{"nothing optimised", `tags = ["providerless"]`, "tags = [\"providerless\"]\n  optimize = []", []string{`7:3 build.optimize is none here; debug.lock.hcl locks ["std"]`}},
		{"new component", `component "kube-apiserver" {`, "component \"kube-scheduler\" {}\ncomponent \"kube-apiserver\" {", []string{`8:1 kube-scheduler runs here; debug.lock.hcl locks no kube-scheduler binary`}},
		{"kwok as locked", `component "kube-apiserver" {`, "component \"kwok\" {}\ncomponent \"kube-apiserver\" {", nil},
		{"other kwok", `component "kube-apiserver" {`, "component \"kwok\" { version = \"v0.9.0\" }\ncomponent \"kube-apiserver\" {", []string{`8:20 component.kwok.version is "v0.9.0" here; debug.lock.hcl locks "v0.8.0"`}},
		{"other delve", `debug {}`, `debug { dlv = "v1.27.2" }`, []string{`9:11 component.kube-apiserver.debug.dlv is "v1.27.2" here; debug.lock.hcl locks "v1.26.2"`}},
		{"source kind", `version = "v1.34.4"`, "git = \"../kubernetes\"\n  ref = \"v1.34.4\"", []string{
			`2:1 kubernetes.version is none here; debug.lock.hcl locks "v1.34.4"`,
			`3:3 kubernetes.git is "../kubernetes" here; debug.lock.hcl locks none`,
			`4:3 kubernetes.ref is "v1.34.4" here; debug.lock.hcl locks none`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(specSource, tt.from, tt.to, 1)
			s, diags := spec.Parse([]byte(src), "/specs/debug.hcl", plan.Catalog())
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := lock.Check(s, locked("/specs/debug.lock.hcl"))
			if len(got) != len(tt.want) {
				t.Fatalf("%d diagnostics, want %d: %v", len(got), len(tt.want), got)
			}
			for i, d := range got {
				pos, detail, _ := strings.Cut(tt.want[i], " ")
				if at := d.Subject.Start; pos != strconv.Itoa(at.Line)+":"+strconv.Itoa(at.Column) || !strings.Contains(d.Detail, detail) {
					t.Errorf("got %d:%d %s\nwant %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Detail, tt.want[i])
				}
				if !strings.Contains(d.Detail, "kenv lock --update debug.hcl") {
					t.Errorf("%q does not say how to lock anew", d.Detail)
				}
			}
		})
	}
}

// TestExampleLocks keeps the committed locks of the examples in step with
// their specs.
func TestExampleLocks(t *testing.T) {
	locks, _ := filepath.Glob("../../examples/*.lock.hcl")
	if len(locks) == 0 {
		t.Fatal("no example locks")
	}
	for _, path := range locks {
		t.Run(filepath.Base(path), func(t *testing.T) {
			l, _, diags := lock.Read(path)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			s, _, diags := spec.ParseFile(strings.TrimSuffix(path, ".lock.hcl")+".hcl", plan.Catalog())
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if diags := lock.Check(s, l); len(diags) > 0 {
				t.Errorf("%s no longer matches its spec; run kenv lock --update: %v", path, diags)
			}
			if len(l.Modules) == 0 || len(l.Binaries) == 0 || l.BuildDate == "" || l.Built.Settings["-trimpath"] != "true" {
				t.Errorf("%s lacks module hashes, binaries, the build date or the -trimpath setting", path)
			}
		})
	}
}

// TestOwnSource locks a scheduler built from a release of its own as a
// lock of its own inside the spec's, written, read back and checked at
// the component's block.
func TestOwnSource(t *testing.T) {
	const src = `
kubernetes {
  version = "v1.34.4"
}
build {
  tags = ["providerless"]
}
component "kube-apiserver" {
  debug {}
}
component "kube-scheduler" {
  kubernetes {
    version = "v1.33.13"
  }
  debug {}
}
`
	path := filepath.Join(t.TempDir(), "skew.lock.hcl")
	l := locked(path)
	sched := locked(path)
	sched.Version, sched.Go, sched.Delve = "v1.33.13", "1.25.11", map[string]string{"kube-scheduler": "v1.27.2"}
	sched.Binaries = map[string]lock.Binary{"kube-scheduler": {SHA256: "cc", Modules: "m3"}}
	l.Components = map[string]*lock.Lock{"kube-scheduler": sched}
	if err := l.Write(); err != nil {
		t.Fatal(err)
	}
	got, _, diags := lock.Read(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	gs := got.Components["kube-scheduler"]
	if gs == nil || gs.Version != "v1.33.13" || gs.Go != "1.25.11" || gs.Delve["kube-scheduler"] != "v1.27.2" || gs.Binaries["kube-scheduler"].SHA256 != "cc" {
		t.Fatalf("the scheduler's lock read back: %+v", gs)
	}
	if _, ok := got.Binaries["kube-scheduler"]; ok {
		t.Errorf("the environment's lock holds the scheduler's binary")
	}

	check := func(src string) []string {
		s, diags := spec.Parse([]byte(src), "/specs/skew.hcl", plan.Catalog())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var out []string
		for _, d := range lock.Check(s, got) {
			out = append(out, fmt.Sprintf("%d:%d %s", d.Subject.Start.Line, d.Subject.Start.Column, d.Detail))
		}
		return out
	}
	if d := check(src); len(d) != 0 {
		t.Errorf("the spec as locked differs: %v", d)
	}
	d := check(strings.Replace(src, `"v1.33.13"`, `"v1.33.12"`, 1))
	if len(d) != 1 || !strings.HasPrefix(d[0], `13:5 kubernetes.version is "v1.33.12" here; skew.lock.hcl locks "v1.33.13"`) {
		t.Errorf("another release of the scheduler: %v", d)
	}
	d = check(strings.Replace(src, "  kubernetes {\n    version = \"v1.33.13\"\n  }\n", "", 1))
	if len(d) != 3 || !strings.Contains(d[0], "kube-scheduler runs here; skew.lock.hcl locks no kube-scheduler binary") ||
		!strings.Contains(d[1], "kube-scheduler runs under Delve here; skew.lock.hcl locks no Delve release for it") ||
		!strings.Contains(d[2], "kube-scheduler is built from the environment's source here; skew.lock.hcl locks a source of its own for it") {
		t.Errorf("the scheduler back on the environment's source: %v", d)
	}
}
