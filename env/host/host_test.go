package host

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTakeRestore: the machine's kernel settings are recorded by the first
// environment with nodes and put back by the last one to go, whatever the
// order; a record another environment left behind does not keep them.
func TestTakeRestore(t *testing.T) {
	dir := t.TempDir()
	procSys, machineDir = filepath.Join(dir, "proc"), filepath.Join(dir, "run", "kenv")
	t.Cleanup(func() { procSys, machineDir = "/proc/sys", "/run/kenv" })
	setting := filepath.Join(procSys, "vm", "overcommit_memory")
	if err := os.MkdirAll(filepath.Dir(setting), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(v string) {
		t.Helper()
		if err := os.WriteFile(setting, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(setting)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b := filepath.Join(dir, "a", "record"), filepath.Join(dir, "b", "record")
	write("0")
	if err := Take(a); err != nil {
		t.Fatal(err)
	}
	write("1") // a's kubelet
	if err := Take(b); err != nil {
		t.Fatal(err)
	}
	if err := Restore(a); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "1\n" {
		t.Errorf("a went while b's nodes run: the setting is %q, want b's kubelet's 1 kept", got)
	}
	if err := Restore(b); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0" {
		t.Errorf("the last environment went: the setting is %q, want the machine's 0", got)
	}
	for _, gone := range []string{a, b, machineDir} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is left: %v", gone, err)
		}
	}
	if err := Restore(a); err != nil {
		t.Errorf("Restore without a record: %v", err)
	}

	// An environment whose record was deleted by hand holds nothing.
	if err := Take(a); err != nil {
		t.Fatal(err)
	}
	if err := Take(b); err != nil {
		t.Fatal(err)
	}
	write("1")
	os.Remove(a)
	if err := Restore(b); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "0" {
		t.Errorf("the setting is %q once the only environment left went, want 0", got)
	}
}
