//go:build e2e

package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEndLock locks a spec, its binary served by the Go build cache
// the tests share, then builds it again from a tree laid out at another
// path, with another kenv cache, and sees the same binary; then it sees a
// changed spec and changed binaries
// refused, with the input that changed, until the lock is updated. Last,
// the binary built at the second path debugs: a file:line breakpoint from
// the spec is hit, in the tree's own code and in staging code, and Delve's
// terminal lists the source there.
func TestEndToEndLock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Kubernetes")
	}
	work := t.TempDir()
	// Both builds are served by Go's build cache the other tests share.
	// The second one's tree lies at another path: without -trimpath, or
	// with a path that reached the binary, go would compile everything
	// again and the binaries would differ. That the same bytes come from
	// empty caches on another machine, TestEndToEndExampleLocks shows:
	// it builds the committed example locks.
	at := func(dir string) kenvCLI {
		return kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state"),
			env: []string{"KENV_CACHE=" + filepath.Join(work, dir, "cache")}}
	}
	first, second := at("first"), at("second")
	specPath := filepath.Join(work, "locked.hcl")
	lockPath := filepath.Join(work, "locked.lock.hcl")
	p := freePorts(t, 4)
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
  debug {
    port = %d
    BREAKPOINTS
  }
}
`, e2eVersion(), p[0], p[1], p[2], p[3])
	writeFile(t, specPath, strings.Replace(spec, "BREAKPOINTS", "", 1))
	binary := func(dir string) string {
		return filepath.Join(work, dir, "cache", "bin", "kubernetes@"+e2eVersion(), "debug", "kube-apiserver")
	}

	start := time.Now()
	first.mustRun("lock", specPath)
	t.Logf("FIGURE kenv lock from a new kenv cache (kube-apiserver from the shared Go build cache, -trimpath): %s", time.Since(start).Round(time.Second))
	locked := readFile(t, lockPath)
	sum := fileSHA256(t, binary("first"))
	if !regexp.MustCompile(`binary "kube-apiserver" \{\n\s+sha256\s+= "` + sum + `"`).MatchString(locked) {
		t.Fatalf("the lock does not record the binary's sha256 %s:\n%s", sum, locked)
	}
	for _, want := range []string{`version\s+= "` + regexp.QuoteMeta(e2eVersion()) + `"`, `module "k8s.io/apiserver"`, `sum\s+= "h1:`, `go\s+= "1\.`,
		`build_date\s+= "`, `"-trimpath"\s+= "true"`, `"-ldflags"\s+= ".*buildDate=`, `go_version\s+= "go1\.`} {
		if !regexp.MustCompile(want).MatchString(locked) {
			t.Errorf("the lock lacks %s:\n%s", want, locked)
		}
	}

	// Another kenv cache: the source tree lies elsewhere, and kenv builds
	// again.
	start = time.Now()
	out := second.mustRun("lock", specPath)
	t.Logf("FIGURE second build, its tree at another path (the shared Go build cache, -trimpath): %s", time.Since(start).Round(time.Second))
	if strings.Contains(out, "up to date") {
		t.Fatalf("nothing was rebuilt:\n%s", out)
	}
	if !strings.Contains(out, "the binaries match locked.lock.hcl: kube-apiserver") {
		t.Errorf("kenv lock does not report the binaries matching:\n%s", out)
	}
	if again := fileSHA256(t, binary("second")); again != sum {
		t.Errorf("kube-apiserver built at other paths has sha256 %s, the first build %s", again, sum)
	}
	if readFile(t, lockPath) != locked {
		t.Errorf("checking the lock changed it")
	}

	// A spec that no longer matches its lock is refused, at the line
	// that changed, and nothing starts.
	writeFile(t, specPath, strings.Replace(strings.Replace(spec, "BREAKPOINTS", "", 1), "binaries = []", "binaries = []\n  tags     = [\"providerless\"]", 1))
	out, err := second.run("up", "-d", specPath)
	if err == nil {
		t.Fatalf("up accepted a spec that differs from its lock:\n%s", out)
	}
	for _, want := range []string{"locked.hcl line 7", `build.tags is ["providerless"] here; locked.lock.hcl locks none`, "kenv lock --update locked.hcl"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(second.home, "locked", "state.json")); err == nil {
		t.Errorf("a refused up left state behind")
	}

	// A binary that differs from the locked one is refused, until the lock
	// is updated; the refusal says which input differs when the binary
	// records it.
	writeFile(t, specPath, strings.Replace(spec, "BREAKPOINTS", "", 1))
	writeFile(t, lockPath, strings.Replace(locked, sum, strings.Repeat("0", 64), 1))
	out, err = second.run("lock", specPath)
	if err == nil || !regexp.MustCompile(`kube-apiserver: sha256 `+sum+`, locked 0{64}`).MatchString(out) ||
		!strings.Contains(out, "same toolchain, build settings and modules") {
		t.Errorf("a binary that differs from the lock was not refused with its reason (%v):\n%s", err, out)
	}
	date := regexp.MustCompile(`build_date\s+= "([^"]+)"`).FindStringSubmatch(locked)[1]
	tampered := strings.Replace(locked, `"`+date+`"`, `"2001-02-03T04:05:06Z"`, 1)
	writeFile(t, lockPath, tampered)
	out, err = second.run("lock", specPath)
	if err == nil || !strings.Contains(out, `build setting -ldflags has "'k8s.io/client-go/pkg/version.buildDate=2001-02-03T04:05:06Z' 'k8s.io/component-base/version.buildDate=2001-02-03T04:05:06Z'", locked "'k8s.io/client-go/pkg/version.buildDate=`+date) {
		t.Errorf("a lock whose build date was changed by hand was not refused with the setting that differs (%v):\n%s", err, out)
	}
	second.mustRun("lock", "--update", specPath)
	// Locking anew takes the build date from the source again.
	if got := readFile(t, lockPath); got != locked {
		t.Errorf("lock --update did not write the lock of the source as it is:\n%s", got)
	}

	// The binaries name their files by module path: the spec's file:line
	// breakpoints, in the tree and in staging, still resolve, stop the
	// program, and Delve's terminal lists the source at the stop.
	tree := filepath.Join(work, "second", "cache", "src", "kubernetes@"+e2eVersion())
	mainFile, mainLine := lineOf(t, tree, "cmd/kube-apiserver/apiserver.go", "app.NewAPIServerCommand()")
	runFile, runLine := lineOf(t, tree, "staging/src/k8s.io/component-base/cli/run.go", "func Run(")
	writeFile(t, specPath, strings.Replace(spec, "BREAKPOINTS", fmt.Sprintf(`breakpoints = ["%s:%d", "%s:%d"]`, mainFile, mainLine, runFile, runLine), 1))
	up := exec.Command(second.bin, "up", "-d", specPath)
	up.Env = append(append(os.Environ(), "KENV_HOME="+second.home), second.env...)
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	defer func() { t.Logf("$ kenv up -d %s\n%s", specPath, upOut.String()) }()
	t.Cleanup(func() { _, _ = second.run("down", "--name", "locked") })

	client := connectDelve(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p[3])), 5*time.Minute)
	st := waitHalted(t, client, 5*time.Minute)
	if th := st.CurrentThread; th.File != "k8s.io/kubernetes/"+mainFile || th.Line != mainLine {
		t.Errorf("first stop at %s:%d, want the binary's name k8s.io/kubernetes/%s:%d", th.File, th.Line, mainFile, mainLine)
	}
	st = <-client.Continue()
	if th := st.CurrentThread; st.Err != nil || th == nil || th.File != "k8s.io/component-base/cli/run.go" {
		t.Fatalf("second stop: %+v %v", st.CurrentThread, st.Err)
	}
	// Delve's terminal, as `kenv attach` opens it, reads the source of
	// the stop from the tree.
	attach := exec.Command(second.bin, "attach", "--name", "locked", "kube-apiserver")
	attach.Env = append(append(os.Environ(), "KENV_HOME="+second.home), second.env...)
	attach.Stdin = strings.NewReader("list\nexit\nn\n")
	listed, err := attach.CombinedOutput()
	if err != nil {
		t.Errorf("kenv attach: %v", err)
	}
	want := strings.TrimSpace(sourceLine(t, filepath.Join(tree, runFile), runLine))
	listed = regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAll(listed, nil) // Delve's colours
	if !regexp.MustCompile(`=>\s*` + strconv.Itoa(runLine) + `:\s*` + regexp.QuoteMeta(want)).Match(listed) {
		t.Errorf("Delve's list at %s:%d does not show %q:\n%s", runFile, runLine, want, listed)
	}
	if err := client.Disconnect(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-upDone:
		if err != nil {
			t.Fatalf("up: %v", err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("the environment did not come up after continuing")
	}
	for _, want := range []string{
		fmt.Sprintf("breakpoint %q in kube-apiserver at %s:%d", fmt.Sprintf("%s:%d", mainFile, mainLine), filepath.Join(tree, mainFile), mainLine),
		"the binaries match locked.lock.hcl",
	} {
		if !strings.Contains(upOut.String(), want) {
			t.Errorf("up does not say %q", want)
		}
	}
	second.mustRun("down", "--name", "locked")
}

// lineOf finds the first line of file, relative to tree, that holds text.
func lineOf(t *testing.T, tree, file, text string) (string, int) {
	t.Helper()
	for i, line := range strings.Split(readFile(t, filepath.Join(tree, file)), "\n") {
		if strings.Contains(line, text) {
			return file, i + 1
		}
	}
	t.Fatalf("%s has no line with %q", file, text)
	return "", 0
}

func sourceLine(t *testing.T, path string, n int) string {
	t.Helper()
	return strings.Split(readFile(t, path), "\n")[n-1]
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
