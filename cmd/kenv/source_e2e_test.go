package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/source"
)

// TestEndToEndLocalCheckout builds a local git checkout in place, with an
// uncommitted edit, and checks the version the apiserver reports comes from
// git: the tag, "-dirty", the commit. The checkout is new at each run, so
// this builds kube-apiserver from a cold cache.
func TestEndToEndLocalCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	version := e2eVersion()
	cacheRoot, err := layout.CacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	tree, err := source.FromModule(ctx, layout.Cache{Dir: cacheRoot}, version, func(string) {})
	if err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	checkout := filepath.Join(work, "kubernetes")
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(work, "cp", "-a", tree.Dir, checkout)
	os.Remove(filepath.Join(checkout, ".kenv-source.json"))
	gitc := []string{"git", "-c", "user.name=kenv", "-c", "user.email=kenv@example.invalid"}
	run(checkout, "git", "init", "-q")
	run(checkout, "git", "add", "-A")
	run(checkout, append(gitc, "commit", "-q", "-m", "kenv end-to-end checkout")...)
	run(checkout, "git", "tag", version)
	head := run(checkout, "git", "rev-parse", "HEAD")
	edited := filepath.Join(checkout, "cmd", "kube-apiserver", "apiserver.go")
	f, err := os.OpenFile(edited, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "\n// An uncommitted edit, as in a source experiment.")
	f.Close()

	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 3)
	specPath := filepath.Join(work, "checkout.hcl")
	writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  path = "./kubernetes"
}
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
}
`, p[0], p[1], p[2]))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "checkout") })

	start := time.Now()
	k.mustRun("up", "-d", specPath)
	t.Logf("FIGURE up of a new checkout (cold build of kube-apiserver and kubectl): %s", time.Since(start).Round(time.Second))
	v, err := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", "--name", "checkout"))).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != version+"-dirty" || v.GitTreeState != "dirty" || v.GitCommit != head {
		t.Errorf("/version says %s (%s, commit %s), want %s-dirty (dirty, commit %s)", v.GitVersion, v.GitTreeState, v.GitCommit, version, head)
	}
	k.mustRun("down", "--name", "checkout")
}
