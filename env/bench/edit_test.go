package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

// TestEditApply applies each edit to a tree whose file is a hard link to
// a cache's, as in the bench's checkout: the statement goes at the top of
// the function, each edit replaces the one before, and the cache's file
// stays as it was.
func TestEditApply(t *testing.T) {
	for _, ed := range edits {
		t.Run(ed.file, func(t *testing.T) {
			cache, tree := t.TempDir(), t.TempDir()
			original := "package p\n\n// before\nfunc other() {\n\treturn\n}\n\n" + ed.fn + "ctx context.Context) {\n\tfirst()\n}\n"
			for _, dir := range []string{cache, tree} {
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(ed.file)), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(cache, ed.file), []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(cache, ed.file), filepath.Join(tree, ed.file)); err != nil {
				t.Fatal(err)
			}

			for n := 1; n <= 2; n++ {
				if err := ed.apply(tree, n); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(tree, ed.file))
				if err != nil {
					t.Fatal(err)
				}
				want := strings.Replace(original, "{\n\tfirst()", "{\n\t"+fmt.Sprintf(ed.stmt, n)+"\n\tfirst()", 1)
				if string(got) != want {
					t.Errorf("edit %d:\n%s\nwant:\n%s", n, got, want)
				}
			}
			if raw, _ := os.ReadFile(filepath.Join(cache, ed.file)); string(raw) != original {
				t.Errorf("the cache's file changed:\n%s", raw)
			}
			if _, err := os.Stat(filepath.Join(tree, filepath.Dir(ed.file), ".kenv-bench-edit")); !os.IsNotExist(err) {
				t.Errorf("the temporary file is left: %v", err)
			}
		})
	}
}

func TestEditApplyWithoutTheFunction(t *testing.T) {
	ed := edits[0]
	tree := t.TempDir()
	path := filepath.Join(tree, ed.file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("package p\n\nfunc renamed() {\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ed.apply(tree, 1)
	if err == nil || !strings.Contains(err.Error(), "has no "+ed.fn) {
		t.Errorf("apply to a file without %s: %v", ed.fn, err)
	}
}

func TestSpecFor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "debug.hcl")
	src := `# A control plane with kube-apiserver under Delve.
name = "debug"

kubernetes {
  version = "v1.34.4"
  go      = "1.24.12"
}

component "kube-apiserver" {
  port = 6443
}
component "kube-scheduler" {}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	checkout, out := filepath.Join(dir, "kubernetes"), t.TempDir()
	// The spec is checked: the path must be a checkout.
	for _, f := range []string{"go.work", ".go-version", "cmd/kube-apiserver/main.go"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(checkout, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(checkout, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := specFor(path, checkout, out)
	if err != nil {
		t.Fatal(err)
	}
	if got != filepath.Join(out, "debug.hcl") {
		t.Errorf("written to %s, want beside the checkout under the same name", got)
	}
	s, _, diags := spec.ParseFile(got, plan.Catalog())
	if diags.HasErrors() {
		t.Fatalf("the spec pointed at the checkout does not parse: %v", diags)
	}
	// The checkout alone is the source: the release and its toolchain go.
	if k := s.Kubernetes; k.Path != checkout || k.Version != "" || k.Go != "" {
		t.Errorf("kubernetes %+v, want the path %s alone", k, checkout)
	}
	if s.Name != "debug" || len(s.Components) != 2 || s.Components[0].Port != 6443 {
		t.Errorf("the rest of the spec changed: name %q, components %+v", s.Name, s.Components)
	}

	if err := os.WriteFile(path, []byte("name = \"debug\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := specFor(path, checkout, out); err == nil || !strings.Contains(err.Error(), "has no kubernetes block") {
		t.Errorf("specFor of a spec without a kubernetes block: %v", err)
	}
}
