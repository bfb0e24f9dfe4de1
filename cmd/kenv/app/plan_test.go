package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestPlanExamples validates and plans every example against a cache that
// holds the source, and compares the output with golden files, paths
// normalised. The examples are copied beside a Kubernetes checkout for
// examples/checkout.hcl to point at.
func TestPlanExamples(t *testing.T) {
	root := t.TempDir()
	specs := filepath.Join(root, "kenv", "examples")
	examples := copyExamples(t, specs)
	makeCheckout(t, filepath.Join(root, "kubernetes"))
	cache := cachedTree(t)
	t.Setenv("KENV_HOME", "/kenv-home")
	t.Setenv("KENV_CACHE", cache)
	// A contributor's dlv first on PATH changes nothing: the plan is
	// decided from the machine the test fixes.
	putDlvOnPath(t, "1.26.2")
	for _, example := range examples {
		name := strings.TrimSuffix(filepath.Base(example), ".hcl")
		t.Run(name, func(t *testing.T) {
			if out, err := run(t, "validate", example); err != nil {
				t.Fatalf("validate: %v\n%s", err, out)
			}
			out, err := runPlan(t, fixedMachine, example)
			if err != nil {
				t.Fatalf("plan: %v\n%s", err, out)
			}
			out = strings.ReplaceAll(out, cache, "$KENV_CACHE")
			out = strings.ReplaceAll(out, specs, "$EXAMPLES")
			out = strings.ReplaceAll(out, root, "$ROOT")
			out = regexp.MustCompile(`path-[0-9a-f]{12}`).ReplaceAllString(out, "path-<hash of the path>")
			golden := filepath.Join("testdata", "plan-"+name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if out != string(want) {
				t.Errorf("plan differs from %s; run go test -update and review the diff:\n%s", golden, out)
			}
		})
	}
}

// cachedTree returns a kenv cache that holds the v1.34.4 tree, as far as
// plan reads it.
func cachedTree(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	tree := filepath.Join(cache, "src", "kubernetes@v1.34.4")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	marker, _ := json.Marshal(source.Tree{Key: "kubernetes@v1.34.4", GoVersion: "1.24.12",
		Version: source.Version{GitVersion: "v1.34.4", GitMajor: "1", GitMinor: "34", BuildDate: "2026-02-10T19:32:20Z"}})
	if err := os.WriteFile(filepath.Join(tree, ".kenv-source.json"), marker, 0o644); err != nil {
		t.Fatal(err)
	}
	return cache
}

// fixedMachine is the machine the golden plans are decided for: no dlv on
// PATH, Debian's CNI plugins.
var fixedMachine = plan.Machine{CNIBinDir: "/usr/lib/cni"}

// runPlan runs `kenv plan` deciding for machine, whatever this one has.
func runPlan(t *testing.T, machine plan.Machine, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newPlanCommand(Streams{Out: &out, Err: &out}, func() plan.Machine { return machine })
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// putDlvOnPath puts a dlv that says it is release version first on PATH
// and returns its path.
func putDlvOnPath(t *testing.T, version string) string {
	t.Helper()
	bin := t.TempDir()
	dlv := filepath.Join(bin, "dlv")
	if err := os.WriteFile(dlv, []byte("#!/bin/sh\necho 'Delve Debugger'\necho 'Version: "+version+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dlv
}

// TestPlanUsesTheDlvOnPath: a dlv on PATH that debugs the toolchain is
// the one up runs (plan.Survey finds it, delve.Choose picks it for both),
// so plan shows it, not a release it would install.
func TestPlanUsesTheDlvOnPath(t *testing.T) {
	examples := copyExamples(t, t.TempDir())
	cache := cachedTree(t)
	dlv := putDlvOnPath(t, "1.26.2")
	t.Setenv("KENV_HOME", t.TempDir())
	t.Setenv("KENV_CACHE", cache)
	up, err := delve.Choose(layout.Cache{Dir: cache}, "", "1.24.12", plan.Survey().Dlv)
	if err != nil || up.Path != dlv || up.Release != "v1.26.2" || up.Cached {
		t.Fatalf("up would run %+v (%v), want the dlv on PATH", up, err)
	}
	i := slices.IndexFunc(examples, func(p string) bool { return filepath.Base(p) == "debug.hcl" })
	out, err := run(t, "plan", examples[i])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, dlv+" exec") {
		t.Errorf("plan does not run kube-apiserver under the dlv on PATH, %s:\n%s", dlv, out)
	}
}

// copyExamples copies the example specs, without lock files, into dir and
// returns their paths there.
func copyExamples(t *testing.T, dir string) []string {
	t.Helper()
	examples, err := filepath.Glob("../../../examples/*.hcl")
	examples = slices.DeleteFunc(examples, func(p string) bool { return strings.HasSuffix(p, ".lock.hcl") })
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var copies []string
	for _, example := range examples {
		raw, err := os.ReadFile(example)
		if err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(dir, filepath.Base(example))
		if err := os.WriteFile(copied, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, copied)
	}
	return copies
}

// makeCheckout makes the skeleton of a Kubernetes checkout at dir: a git
// repository with what kenv looks for, committed and tagged v1.34.4 at a
// fixed time, so that its commit is the same in every run.
func makeCheckout(t *testing.T, dir string) {
	t.Helper()
	for path, content := range map[string]string{
		"go.work":                    "go 1.24.0\n\nuse .\n",
		"go.mod":                     "module k8s.io/kubernetes\n\ngo 1.24.0\n",
		".go-version":                "1.24.12\n",
		"cmd/kube-apiserver/main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"commit", "-q", "-m", "Kubernetes, in short"},
		{"tag", "v1.34.4"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=kenv", "GIT_AUTHOR_EMAIL=kenv@example.com", "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z",
			"GIT_COMMITTER_NAME=kenv", "GIT_COMMITTER_EMAIL=kenv@example.com", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestPlanWithoutTheSource(t *testing.T) {
	t.Setenv("KENV_HOME", "/kenv-home")
	t.Setenv("KENV_CACHE", t.TempDir())
	copies := copyExamples(t, t.TempDir())
	out, err := runPlan(t, fixedMachine, copies[slices.IndexFunc(copies, func(p string) bool { return strings.HasSuffix(p, "/debug.hcl") })])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(to download)", "GOTOOLCHAIN=go<.go-version>", "dlv for the source", "lock: none yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan without a cached source lacks %q", want)
		}
	}
	// With its lock, the toolchain and Delve are known before the source is.
	out, err = runPlan(t, fixedMachine, "../../../examples/debug.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(to download)", "toolchain: Go 1.24.12 (locked)", "GOTOOLCHAIN=go1.24.12", "/dlv/v1.26.2/dlv exec", "debug.lock.hcl, followed"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan with the lock lacks %q", want)
		}
	}
	if entries, _ := os.ReadDir(os.Getenv("KENV_CACHE")); len(entries) != 0 {
		t.Errorf("plan wrote to the cache: %v", entries)
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	out, err := run(t, "validate", "../../../env/spec/testdata/bad-debug.hcl")
	if err == nil {
		t.Fatal("validate accepted an invalid spec")
	}
	if strings.Count(out, "Error: ") != 3 || !strings.Contains(out, "bad-debug.hcl has 3 error(s)") {
		t.Errorf("validate did not report all three errors:\n%s", out)
	}
}
