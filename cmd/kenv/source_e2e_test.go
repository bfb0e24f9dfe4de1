//go:build e2e

package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apiversion "k8s.io/apimachinery/pkg/version"
)

// TestEndToEndSources builds kube-apiserver from a local git repository,
// made from the module source and tagged with its version: once in place,
// with an uncommitted edit, once from git at the tag. The version the
// apiserver reports comes from git each time: the tag, "-dirty", the
// commit. Both trees are new at each run; the binaries are built with
// -trimpath, so Go's build cache serves them as it serves the module tree
// the checkout was made from, and only the edited package and those
// importing it are compiled again.
func TestEndToEndSources(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	version := e2eVersion()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	work := t.TempDir()
	checkout := moduleCheckout(t, ctx, version, work)
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

	// The binaries of a checkout at a temporary path are of no later use:
	// they go to a temporary cache. Go's build cache is shared as always.
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state"), env: []string{"KENV_CACHE=" + filepath.Join(work, "cache")}}
	p := freePorts(t, 3)
	up := func(t *testing.T, name, kubernetes string) *apiversion.Info {
		specPath := filepath.Join(work, name+".hcl")
		writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  %s
}
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
}
`, kubernetes, p[0], p[1], p[2]))
		t.Cleanup(func() { _, _ = k.run("down", "--name", name) })
		start := time.Now()
		k.mustRun("up", "-d", specPath)
		t.Logf("FIGURE up of %s (a tree at a new path, Go's build cache shared): %s", name, time.Since(start).Round(time.Second))
		v, err := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", "--name", name))).Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		k.mustRun("down", "--name", name)
		return v
	}

	t.Run("local checkout with an uncommitted edit", func(t *testing.T) {
		v := up(t, "checkout", `path = "./kubernetes"`)
		if v.GitVersion != version+"-dirty" || v.GitTreeState != "dirty" || v.GitCommit != head {
			t.Errorf("/version says %s (%s, commit %s), want %s-dirty (dirty, commit %s)", v.GitVersion, v.GitTreeState, v.GitCommit, version, head)
		}
	})

	repository := fmt.Sprintf("git = \"./kubernetes\"\n  ref = %q", version)
	t.Run("git repository at a tag", func(t *testing.T) {
		v := up(t, "repository", repository)
		if v.GitVersion != version || v.GitTreeState != "clean" || v.GitCommit != head {
			t.Errorf("/version says %s (%s, commit %s), want %s (clean, commit %s)", v.GitVersion, v.GitTreeState, v.GitCommit, version, head)
		}
		if lock := readFile(t, filepath.Join(work, "repository.lock.hcl")); !regexp.MustCompile(`commit\s+= "` + head + `"`).MatchString(lock) {
			t.Errorf("the lock does not record commit %s:\n%s", head, lock)
		}
	})

	// The edit is committed and the tag moved onto it, as upstream moves a
	// branch. The locks written above keep each source where it was.
	run(checkout, append(gitc, "commit", "-q", "-a", "-m", "the experiment, committed")...)
	run(checkout, "git", "tag", "-f", version)
	moved := run(checkout, "git", "rev-parse", "HEAD")

	t.Run("the lock keeps a git source at the locked commit", func(t *testing.T) {
		// Without its mirror, as on another machine, kenv clones the
		// repository again, where the tag now names another commit.
		mirrors, _ := filepath.Glob(filepath.Join(work, "cache", "git", "*.git"))
		for _, m := range mirrors {
			if err := os.RemoveAll(m); err != nil {
				t.Fatal(err)
			}
		}
		if v := up(t, "repository", repository); v.GitCommit != head {
			t.Errorf("/version says commit %s, want the locked %s, not the tag's new %s", v.GitCommit, head, moved)
		}
	})

	t.Run("a checkout at another commit than the locked one is refused", func(t *testing.T) {
		out, err := k.run("up", "-d", filepath.Join(work, "checkout.hcl"))
		if err == nil || !strings.Contains(out, fmt.Sprintf("is at commit %s, but %s records %s", moved, filepath.Join(work, "checkout.lock.hcl"), head)) {
			t.Errorf("up of a checkout that moved on from its lock (%v):\n%s", err, out)
		}
	})
}
