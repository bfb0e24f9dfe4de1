package app

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/source"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestPlanExamples plans every example against a cache that holds the
// source, and compares the output with golden files, paths normalised.
func TestPlanExamples(t *testing.T) {
	examples, err := filepath.Glob("../../../examples/*.hcl")
	examples = slices.DeleteFunc(examples, func(p string) bool { return strings.HasSuffix(p, ".lock.hcl") })
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
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
	t.Setenv("KENV_HOME", "/kenv-home")
	t.Setenv("KENV_CACHE", cache)
	specs, _ := filepath.Abs("../../../examples")
	for _, example := range examples {
		name := strings.TrimSuffix(filepath.Base(example), ".hcl")
		t.Run(name, func(t *testing.T) {
			if out, err := run(t, "validate", example); err != nil {
				t.Fatalf("validate: %v\n%s", err, out)
			}
			out, err := run(t, "plan", example)
			if err != nil {
				t.Fatalf("plan: %v\n%s", err, out)
			}
			out = strings.ReplaceAll(out, cache, "$KENV_CACHE")
			out = strings.ReplaceAll(out, specs, "$EXAMPLES")
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

func TestPlanWithoutTheSource(t *testing.T) {
	t.Setenv("KENV_HOME", "/kenv-home")
	t.Setenv("KENV_CACHE", t.TempDir())
	out, err := run(t, "plan", "../../../examples/debug.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(to download)", "GOTOOLCHAIN=go<.go-version>", "dlv for the source"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan without a cached source lacks %q", want)
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
