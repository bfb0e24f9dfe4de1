package app

import (
	"os"
	"path/filepath"
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
