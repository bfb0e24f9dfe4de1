package spec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

// FuzzParse feeds arbitrary files to the parser: it must never panic, and
// a spec it accepts must hold what the rest of kenv relies on.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.hcl")
	seeds = append(seeds, "../../examples/debug.hcl", "../../examples/breakpoints.hcl")
	for _, path := range seeds {
		if raw, err := os.ReadFile(path); err == nil {
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, diags := spec.Parse(src, "/specs/fuzz.hcl", plan.Catalog())
		if diags.HasErrors() {
			if s != nil {
				t.Fatal("a spec came back with errors")
			}
			return
		}
		if s.Component("kube-apiserver") == nil {
			t.Fatal("an accepted spec has no kube-apiserver")
		}
		ports := map[int]bool{s.Etcd.Port: true}
		if ports[s.Etcd.PeerPort] {
			t.Fatal("etcd's ports collide")
		}
		ports[s.Etcd.PeerPort] = true
		for _, c := range s.Components {
			if c.Port < 1 || c.Port > 65535 || ports[c.Port] {
				t.Fatalf("%s has port %d, out of range or taken", c.Name, c.Port)
			}
			ports[c.Port] = true
			if c.Debug != nil {
				if ports[c.Debug.Port] {
					t.Fatalf("%s's Delve port %d is taken", c.Name, c.Debug.Port)
				}
				ports[c.Debug.Port] = true
			}
		}
	})
}
