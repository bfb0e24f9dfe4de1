//go:build e2e

package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/layout"
)

// TestEndToEndExampleLocks builds each example that has a committed lock
// the way a newcomer does, `kenv lock examples/X.hcl` on a machine that
// did not write it, and fails when the binaries differ from the lock. The
// examples share their build with the other end-to-end tests.
func TestEndToEndExampleLocks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Kubernetes")
	}
	locks, _ := filepath.Glob("../../examples/*.lock.hcl")
	if len(locks) == 0 {
		t.Fatal("no example locks")
	}
	k := kenvCLI{t: t, bin: kenvBinary, home: t.TempDir()}
	for _, lockPath := range locks {
		specPath := strings.TrimSuffix(lockPath, ".lock.hcl") + ".hcl"
		t.Run(filepath.Base(specPath), func(t *testing.T) {
			before := readFile(t, lockPath)
			out, err := k.run("lock", specPath)
			if err != nil {
				t.Fatalf("kenv lock %s: %v", specPath, err)
			}
			if !strings.Contains(out, "the binaries match "+filepath.Base(lockPath)) {
				t.Errorf("kenv lock does not say the binaries match the committed lock:\n%s", out)
			}
			if readFile(t, lockPath) != before {
				t.Errorf("checking %s changed it", lockPath)
			}
		})
	}
}

// TestEndToEndVersions brings up kube-apiserver under Delve from other
// Kubernetes releases than the one the other tests use, each with the
// toolchain its source asks for and the Delve release that debugs it.
// KENV_E2E_OTHER_VERSIONS lists them (space-separated; "none" for none);
// by default it is the skew test's release, whose toolchain, Delve and
// most packages that test has built (a release of its own would be a cold
// build of minutes more: v1.36.3, with Go 1.26, is checked that way).
func TestEndToEndVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Kubernetes")
	}
	versions := strings.Fields(os.Getenv("KENV_E2E_OTHER_VERSIONS"))
	if len(versions) == 0 {
		versions = []string{skewVersion()}
	}
	if versions[0] == "none" {
		t.Skip("KENV_E2E_OTHER_VERSIONS=none")
	}
	cacheRoot, err := layout.CacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			work := t.TempDir()
			name := "v" + strings.NewReplacer(".", "-").Replace(strings.TrimPrefix(version, "v"))
			k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
			p := freePorts(t, 4)
			specPath := filepath.Join(work, name+".hcl")
			writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  version = %q
}
build {
  binaries = []
}
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
  debug {
    port = %d
  }
}
`, version, p[0], p[1], p[2], p[3]))
			t.Cleanup(func() { _, _ = k.run("down", "--name", name) })
			start := time.Now()
			out := k.mustRun("up", "-d", "--timeout", "5m", specPath)
			t.Logf("FIGURE up of %s (a cold build when new): %s", version, time.Since(start).Round(time.Second))
			if !strings.Contains(out, "binaries are up to date") && !strings.Contains(out, "build kube-apiserver with Go ") {
				t.Errorf("up does not say which toolchain builds %s:\n%s", version, out)
			}
			cs := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", specPath)))
			v, err := cs.Discovery().ServerVersion()
			if err != nil {
				t.Fatal(err)
			}
			if v.GitVersion != version {
				t.Errorf("/version says %s, want %s", v.GitVersion, version)
			}
			lock := readFile(t, strings.TrimSuffix(specPath, ".hcl")+".lock.hcl")
			goVersion := strings.TrimSpace(readFile(t, filepath.Join(cacheRoot, "src", "kubernetes@"+version, ".go-version")))
			if !strings.Contains(lock, `go_version = "go`+goVersion+`"`) {
				t.Errorf("the binaries were not built by Go %s, the toolchain the source asks for:\n%s", goVersion, lock)
			}
			if status := k.mustRun("status", "--name", name); !strings.Contains(status, "ready") {
				t.Errorf("kube-apiserver is not ready under Delve:\n%s", status)
			}
			k.mustRun("down", "--name", name)
		})
	}
}
