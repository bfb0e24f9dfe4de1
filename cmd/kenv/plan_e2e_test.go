//go:build e2e

package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kenv-dev/kenv/env/plan"
	envstate "github.com/kenv-dev/kenv/env/state"
)

// TestEndToEndPlanIsUp shows that up carries out the plan `kenv plan`
// prints: the same command line, environment and Delve for each
// component, the same binaries and source, with a dlv on PATH that both
// must prefer to the cache's.
func TestEndToEndPlanIsUp(t *testing.T) {
	k, specPath, _ := newEnvironment(t, "planned", "", "")
	planOf := func() *plan.Plan {
		t.Helper()
		var p plan.Plan
		if err := json.Unmarshal([]byte(k.mustRun("plan", "-o", "json", specPath)), &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	// The Delve the plan names must exist to be copied onto PATH: an up
	// installs it on a fresh cache.
	cached := planOf().Components[0].Debug.Dlv
	if _, err := os.Stat(cached); err != nil {
		k.mustRun("up", "-d", specPath)
		k.mustRun("down", "--name", "planned")
	}
	// Without a lock, which would pin the cache's release, the dlv on
	// PATH wins.
	if err := os.Remove(filepath.Join(filepath.Dir(specPath), "planned.lock.hcl")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	pathDir := t.TempDir()
	onPath := filepath.Join(pathDir, "dlv")
	if out, err := exec.Command("cp", cached, onPath).CombinedOutput(); err != nil {
		t.Fatalf("copy dlv: %v\n%s", err, out)
	}
	k.env = append(k.env, "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	p := planOf()
	k.mustRun("up", "-d", specPath)
	var st envstate.State
	if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "planned", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Components) != len(p.Components) {
		t.Fatalf("up runs %d components, the plan %d", len(st.Components), len(p.Components))
	}
	for i, c := range p.Components {
		got := st.Components[i]
		if got.Name != c.Name || !slices.Equal(got.Command, c.Command()) || !slices.Equal(got.Env, c.Env) {
			t.Errorf("%s: up runs\n  %q %q\nthe plan says\n  %q %q", c.Name, got.Env, got.Command, c.Env, c.Command())
		}
		if c.Debug != nil && (c.Debug.Dlv != onPath || got.Dlv != onPath) {
			t.Errorf("%s: the plan's dlv %s, up's %s, want the one on PATH, %s", c.Name, c.Debug.Dlv, got.Dlv, onPath)
		}
	}
	if st.SourceDir != p.Source.Dir || st.Kubectl != filepath.Join(p.BinDir, "kubectl") || st.APIServerURL != p.APIServerURL {
		t.Errorf("up's source %s, kubectl %s, apiserver %s; the plan's %s, %s, %s",
			st.SourceDir, st.Kubectl, st.APIServerURL, p.Source.Dir, p.BinDir, p.APIServerURL)
	}
}
