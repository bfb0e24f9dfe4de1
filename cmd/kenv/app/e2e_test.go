package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTailSince(t *testing.T) {
	log := filepath.Join(t.TempDir(), "kube-apiserver.log")
	before := "old 1\nold 2\n"
	if err := os.WriteFile(log, []byte(before+"new 1\nnew 2\nnew 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tailSince(log, int64(len(before)), 2); got != "new 2\nnew 3\n" {
		t.Errorf("the last 2 lines since the run began: %q", got)
	}
	if got := tailSince(log, int64(len(before)+18), 2); got != "" {
		t.Errorf("nothing logged during the run: %q", got)
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{line: func(l string) { lines = append(lines, l) }}
	for _, chunk := range []string{"Ran 1 of 7", "012 Specs in 3.2 seconds\nSUC", "CESS! -- 1 Passed\n"} {
		w.Write([]byte(chunk))
	}
	if len(lines) != 2 || !summaryRE.MatchString(lines[0]) || !strings.HasPrefix(lines[1], "SUCCESS!") {
		t.Errorf("lines %q", lines)
	}
}

func TestGinkgoFlags(t *testing.T) {
	o := e2eOptions{focus: []string{"a b", "c"}, skip: []string{"Slow"}, labels: "Conformance"}
	want := []string{"--no-color", "--junit-report=junit.xml", "--focus=a b", "--focus=c", "--skip=Slow", "--label-filter=Conformance"}
	if got := ginkgoFlags(o, "--", "junit.xml"); !slices.Equal(got, want) {
		t.Errorf("ginkgo's flags %q, want %q", got, want)
	}
	// e2e.test itself, under Delve, takes them as --ginkgo.*.
	if got := ginkgoFlags(e2eOptions{focus: []string{"x"}}, "--ginkgo.", "j.xml"); !slices.Equal(got, []string{"--ginkgo.no-color", "--ginkgo.junit-report=j.xml", "--ginkgo.focus=x"}) {
		t.Errorf("e2e.test's ginkgo flags %q", got)
	}
}
