//go:build e2e

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-delve/delve/service/rpc2"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/source"
)

// TestEndToEndSuite runs `kenv e2e` against a control plane without
// nodes: e2e.test and ginkgo are built from the environment's tree (in
// the background, see suiteBuild), waiting for no node, an API-only
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

// The e2e suite's cold build takes minutes of both CPUs. TestMain starts
// it in the background, at the lowest priority, as soon as the tree is in
// the cache (the first test's up lays it out): it takes what CPU the
// tests before those that run `kenv e2e` leave idle, waiting on
// components. Those tests wait for it with suiteBuilt.
//
// The lowest priority is its session's: the kernel shares the CPU between
// sessions (autogroups) first, so that a niced process of this one would
// still take half of it from the builds of a kenv supervisor, which runs
// in a session of its own.
var suiteBuild struct {
	done chan struct{}
	stop context.CancelFunc
	out  bytes.Buffer
	err  error
}

// startSuiteBuild starts `kenv e2e --build-only` for e2eVersion's tree,
// its spec and state in dir, once the tree is in the cache.
func startSuiteBuild(dir string) {
	ctx, cancel := context.WithCancel(context.Background())
	suiteBuild.done, suiteBuild.stop = make(chan struct{}), cancel
	go func() {
		defer close(suiteBuild.done)
		suiteBuild.err = func() error {
			cacheRoot, err := layout.CacheRoot()
			if err != nil {
				return err
			}
			marker := filepath.Join(layout.Cache{Dir: cacheRoot}.SourceDir("kubernetes@"+e2eVersion()), source.MarkerFile)
			for {
				if _, err := os.Stat(marker); err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(5 * time.Second):
				}
			}
			spec := filepath.Join(dir, "suite-build.hcl")
			if err := os.WriteFile(spec, []byte(fmt.Sprintf("kubernetes {\n  version = %q\n}\ncomponent \"kube-apiserver\" {}\n", e2eVersion())), 0o644); err != nil {
				return err
			}
			cmd := exec.CommandContext(ctx, "nice", "-n", "19", kenvBinary, "e2e", "--build-only", spec)
			cmd.Env = append(os.Environ(), "KENV_HOME="+filepath.Join(dir, "suite-build"))
			cmd.Stdout, cmd.Stderr = &suiteBuild.out, &suiteBuild.out
			// Stopped, the build's go commands stop with it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
			if err := cmd.Start(); err != nil {
				return err
			}
			// Where the kernel has no autogroups, nice alone applies.
			_ = os.WriteFile(fmt.Sprintf("/proc/%d/autogroup", cmd.Process.Pid), []byte("19"), 0)
			return cmd.Wait()
		}()
	}()
}

// stopSuiteBuild ends the background build when no test waited for it.
func stopSuiteBuild() {
	if suiteBuild.stop != nil {
		suiteBuild.stop()
		<-suiteBuild.done
	}
}

// suiteBuilt waits for the background build of the e2e suite, when one
// was started, and fails t if it failed.
func suiteBuilt(t *testing.T) {
	t.Helper()
	if suiteBuild.done == nil {
		return
	}
	start := time.Now()
	<-suiteBuild.done
	t.Logf("$ kenv e2e --build-only (in the background; waited %s)\n%s", time.Since(start).Round(time.Second), suiteBuild.out.String())
	if suiteBuild.err != nil {
		t.Fatalf("kenv e2e --build-only: %v", suiteBuild.err)
	}
	if !regexp.MustCompile(`✓ (built (e2e\.test, ginkgo|ginkgo, e2e\.test) \(|e2e\.test and ginkgo are up to date)`).MatchString(suiteBuild.out.String()) {
		t.Errorf("kenv e2e --build-only does not say it built e2e.test and ginkgo, or that they are up to date")
	}
}

// runs reports whether go test's -run selects any of the tests named.
func runs(names ...string) bool {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	re, err := regexp.Compile(f.Value.String())
	if err != nil {
		return false
	}
	return slices.ContainsFunc(names, re.MatchString)
}
