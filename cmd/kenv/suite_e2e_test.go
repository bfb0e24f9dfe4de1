//go:build e2e

package main_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-delve/delve/service/rpc2"

	"github.com/kenv-dev/kenv/env/layout"
)

// TestEndToEndSuite runs `kenv e2e` against a control plane without
// nodes: e2e.test and ginkgo are built from the environment's tree (once,
// see suiteBuild), waiting for no node, an API-only
// conformance test passes with ginkgo's summary and a
// JUnit report; a second run builds nothing; a test that lacks what it
// needs (here kubectl, at a path where there is none) fails, with the
// components' last log lines, and kenv exits with the tests' status.
// Under Delve, e2e.test stops at a breakpoint in the test's code.
func TestEndToEndSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes and its e2e suite")
	}
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 5)
	specPath := filepath.Join(work, "suite.hcl")
	writeFile(t, specPath, controlPlaneSpec(p, controlPlane{}))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "suite") })
	k.mustRun("up", "-d", specPath)

	suiteBuilt(t)
	const discovery = `Discovery should validate PreferredVersion for each APIGroup`
	out := k.mustRun("e2e", "--name", "suite", "--focus", discovery)
	if !regexp.MustCompile(`(?m)^Ran 1 of \d+ Specs? in `).MatchString(out) || !strings.Contains(out, "SUCCESS!") {
		t.Errorf("kenv e2e of one conformance test does not print ginkgo's summary of one spec passed:\n%s", out)
	}
	if !strings.Contains(out, "no nodes: e2e.test waits for none") {
		t.Errorf("kenv e2e does not say the suite waits for no node:\n%s", out)
	}
	reports, _ := filepath.Glob(filepath.Join(k.home, "suite", "e2e", "*", "junit.xml"))
	if len(reports) != 1 {
		t.Fatalf("JUnit reports %v, want one", reports)
	}
	if junit, err := os.ReadFile(reports[0]); err != nil || !strings.Contains(string(junit), discovery) {
		t.Errorf("the JUnit report %s does not name the test: %v", reports[0], err)
	}
	if out := k.mustRun("e2e", "--name", "suite", "--focus", discovery); !strings.Contains(out, "e2e.test and ginkgo are up to date") {
		t.Errorf("the second kenv e2e built again:\n%s", out)
	}

	// e2e.test under Delve: it stops at a breakpoint in the test's own
	// code, read through Delve's API, and passes once continued.
	cacheRoot, err := layout.CacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	const testFile = "test/e2e/apimachinery/discovery.go"
	_, line := lineOf(t, filepath.Join(cacheRoot, "src", "kubernetes@"+e2eVersion()), testFile, `AbsPath("/apis/").Do(ctx).Into(list)`)
	debugged := exec.Command(k.bin, "e2e", "--name", "suite", "--focus", discovery, "--break", fmt.Sprintf("%s:%d", testFile, line))
	debugged.Env = append(os.Environ(), "KENV_HOME="+k.home)
	pipe, err := debugged.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	debugged.Stderr = debugged.Stdout
	if err := debugged.Start(); err != nil {
		t.Fatal(err)
	}
	defer debugged.Process.Kill()
	var said strings.Builder
	sc := bufio.NewScanner(pipe)
	attach := regexp.MustCompile(`⏸ e2e\.test halted at .*: dlv connect (127\.0\.0\.1:\d+)`)
	var addr string
	for addr == "" && sc.Scan() {
		said.WriteString(sc.Text() + "\n")
		if m := attach.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("kenv e2e --break never said e2e.test halted:\n%s", said.String())
	}
	dlv := rpc2.NewClient(addr)
	st, err := dlv.GetState()
	if err != nil || st.CurrentThread == nil || !strings.HasSuffix(st.CurrentThread.File, testFile) || st.CurrentThread.Line != line {
		t.Errorf("e2e.test halted at %+v (%v), want %s:%d", st.CurrentThread, err, testFile, line)
	}
	if err := dlv.Disconnect(true); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		said.WriteString(sc.Text() + "\n")
	}
	if err := debugged.Wait(); err != nil || !strings.Contains(said.String(), "SUCCESS!") {
		t.Errorf("kenv e2e --break, continued: %v\n%s", err, said.String())
	}
	t.Logf("$ kenv e2e --break\n%s", said.String())

	// kubectl where there is none: the test that runs it fails.
	out, err = k.run("e2e", "--name", "suite", "--focus", `Kubectl version should check is all data is printed`, "--", "--kubectl-path=/nonexistent/kubectl")
	if code := exitStatus(err); code == 0 || !strings.Contains(out, "FAIL!") {
		t.Errorf("a failing test: exit %d, want the tests' non-zero status and ginkgo's FAIL!:\n%s", code, out)
	}
	if !strings.Contains(out, "── kube-apiserver, its last lines during the run") {
		t.Errorf("the failing run does not end with kube-apiserver's last lines:\n%s", out)
	}
}

// exitStatus is the exit status of a command run returned err for.
func exitStatus(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// suiteBuild is `kenv e2e --build-only` of e2eVersion's tree, run once,
// by the first test that needs e2e.test. It is built with the tree's
// components' flags and tags, so most of its packages come from Go's
// build cache the other tests filled: only the suite's own are compiled.
var suiteBuild struct {
	once sync.Once
	out  string
	took time.Duration
	err  error
}

// suiteBuilt builds the e2e suite the first time it is called, and fails
// t if that build failed.
func suiteBuilt(t *testing.T) {
	t.Helper()
	built := false
	suiteBuild.once.Do(func() {
		built = true
		dir := filepath.Dir(kenvBinary)
		spec := filepath.Join(dir, "suite-build.hcl")
		if suiteBuild.err = os.WriteFile(spec, []byte(fmt.Sprintf("kubernetes {\n  version = %q\n}\ncomponent \"kube-apiserver\" {}\n", e2eVersion())), 0o644); suiteBuild.err != nil {
			return
		}
		cmd := exec.Command(kenvBinary, "e2e", "--build-only", spec)
		cmd.Env = append(os.Environ(), "KENV_HOME="+filepath.Join(dir, "suite-build"))
		start := time.Now()
		out, err := cmd.CombinedOutput()
		suiteBuild.out, suiteBuild.took, suiteBuild.err = string(out), time.Since(start), err
	})
	if built {
		t.Logf("$ kenv e2e --build-only (%s)\n%s", suiteBuild.took.Round(time.Second), suiteBuild.out)
	} else {
		t.Logf("e2e.test and ginkgo: built by an earlier test (%s)", suiteBuild.took.Round(time.Second))
	}
	if suiteBuild.err != nil {
		t.Fatalf("kenv e2e --build-only: %v", suiteBuild.err)
	}
	if !regexp.MustCompile(`✓ (built (e2e\.test|ginkgo)(, (e2e\.test|ginkgo))? \(|e2e\.test and ginkgo are up to date)`).MatchString(suiteBuild.out) {
		t.Errorf("kenv e2e --build-only does not say it built e2e.test or ginkgo, or that they are up to date")
	}
}
