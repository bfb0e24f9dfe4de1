package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEndToEndLock locks a spec, then builds it again from a clean kenv
// cache and a clean Go build cache, and sees the same binary; then it sees a
// changed spec and a changed binary refused until the lock is updated.
func TestEndToEndLock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Kubernetes twice from nothing")
	}
	work := t.TempDir()
	kenvCache, goCache := filepath.Join(work, "cache"), filepath.Join(work, "gocache")
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state"),
		env: []string{"KENV_CACHE=" + kenvCache, "GOCACHE=" + goCache}}
	specPath := filepath.Join(work, "locked.hcl")
	lockPath := filepath.Join(work, "locked.lock.hcl")
	p := freePorts(t, 3)
	spec := fmt.Sprintf(`
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
}
`, e2eVersion(), p[0], p[1], p[2])
	writeFile(t, specPath, spec)
	binary := filepath.Join(kenvCache, "bin", "kubernetes@"+e2eVersion(), "debug", "kube-apiserver")

	start := time.Now()
	k.mustRun("lock", specPath)
	t.Logf("FIGURE kenv lock from a clean cache (cold build of kube-apiserver): %s", time.Since(start).Round(time.Second))
	first := readFile(t, lockPath)
	sum := fileSHA256(t, binary)
	if !strings.Contains(first, fmt.Sprintf("binary \"kube-apiserver\" {\n    sha256 = %q", sum)) {
		t.Fatalf("the lock does not record the binary's sha256 %s:\n%s", sum, first)
	}
	for _, want := range []string{`version = "` + e2eVersion() + `"`, `module "k8s.io/apiserver"`, `sum     = "h1:`, `go      = "1.`} {
		if !strings.Contains(first, want) {
			t.Errorf("the lock lacks %s:\n%s", want, first)
		}
	}

	// Everything built is thrown away: the kenv cache (source tree and
	// binaries) and Go's build cache. The paths stay the same, as they
	// would on another machine with the same layout.
	for _, dir := range []string{kenvCache, goCache} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	out := k.mustRun("lock", specPath)
	t.Logf("FIGURE second build from a clean cache: %s", time.Since(start).Round(time.Second))
	if strings.Contains(out, "up to date") {
		t.Fatalf("nothing was rebuilt:\n%s", out)
	}
	if !strings.Contains(out, "the binaries match locked.lock.hcl: kube-apiserver") {
		t.Errorf("kenv lock does not report the binaries matching:\n%s", out)
	}
	if again := fileSHA256(t, binary); again != sum {
		t.Errorf("kube-apiserver rebuilt from a clean cache has sha256 %s, the first build %s", again, sum)
	}
	if readFile(t, lockPath) != first {
		t.Errorf("checking the lock changed it")
	}

	// A spec that no longer matches its lock is refused, at the line
	// that changed, and nothing starts.
	writeFile(t, specPath, strings.Replace(spec, "binaries = []", "binaries = []\n  tags     = [\"providerless\"]", 1))
	out, err := k.run("up", "-d", specPath)
	if err == nil {
		t.Fatalf("up accepted a spec that differs from its lock:\n%s", out)
	}
	for _, want := range []string{"locked.hcl line 7", `build.tags is ["providerless"] here; locked.lock.hcl locks none`, "kenv lock --update locked.hcl"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(k.home, "locked", "state.json")); err == nil {
		t.Errorf("a refused up left state behind")
	}

	// A binary that differs from the locked one is refused too, until the
	// lock is updated.
	writeFile(t, specPath, spec)
	writeFile(t, lockPath, strings.Replace(first, sum, strings.Repeat("0", 64), 1))
	out, err = k.run("lock", specPath)
	if err == nil || !regexp.MustCompile(`kube-apiserver: sha256 `+sum+`, locked 0{64}`).MatchString(out) {
		t.Errorf("a binary that differs from the lock was not refused (%v):\n%s", err, out)
	}
	k.mustRun("lock", "--update", specPath)
	if readFile(t, lockPath) != first {
		t.Errorf("lock --update did not write the lock of the spec as it is:\n%s", readFile(t, lockPath))
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
