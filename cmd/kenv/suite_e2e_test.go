//go:build e2e && suite

package main_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEndToEndSuite runs `kenv e2e` against an environment with
// simulated nodes: e2e.test and ginkgo are built from the environment's
// tree, an API-only conformance test passes with ginkgo's summary and a
// JUnit report; a second run builds nothing; a test that lacks what it
// needs (here kubectl, at a path where there is none) fails, with the
// components' last log lines, and kenv exits with the tests' status.
func TestEndToEndSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes and its e2e suite")
	}
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 6)
	specPath := filepath.Join(work, "suite.hcl")
	writeFile(t, specPath, controlPlaneSpec(p, "", kwokNodes(p[5], 2)))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "suite") })
	k.mustRun("up", "-d", specPath)

	const discovery = `Discovery should validate PreferredVersion for each APIGroup`
	out := k.mustRun("e2e", "--name", "suite", "--focus", discovery)
	if !regexp.MustCompile(`(?m)^Ran 1 of \d+ Specs? in `).MatchString(out) || !strings.Contains(out, "SUCCESS!") {
		t.Errorf("kenv e2e of one conformance test does not print ginkgo's summary of one spec passed:\n%s", out)
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

	// kubectl where there is none: the test that runs it fails.
	out, err := k.run("e2e", "--name", "suite", "--focus", `Kubectl version should check is all data is printed`, "--", "--kubectl-path=/nonexistent/kubectl")
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
