package state

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/process"
)

func TestClaimIsExclusive(t *testing.T) {
	env := layout.NewEnv(t.TempDir(), "x")
	l, err := Take(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Take(env); !errors.Is(err, ErrClaimed) {
		t.Errorf("second acquire: %v, want ErrClaimed", err)
	}
	if !Claimed(env) {
		t.Errorf("Claimed() = false while held")
	}
	l.Release()
	if Claimed(env) {
		t.Errorf("Claimed() = true after release")
	}
}

func TestStateRoundTrip(t *testing.T) {
	root := t.TempDir()
	env := layout.NewEnv(root, "x")
	if _, err := Read(env); !errors.Is(err, ErrNotUp) {
		t.Fatalf("no state file: %v, want ErrNotUp", err)
	}
	if err := os.MkdirAll(env.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := &State{Name: "x", Phase: PhaseReady, Supervisor: process.IDOf(os.Getpid()),
		Components: []ComponentState{{Name: "kube-apiserver", Status: "ready", Process: process.IDOf(os.Getpid())}}}
	if err := Write(env, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "x" || got.Supervisor != want.Supervisor || !got.Supervisor.Alive() {
		t.Errorf("read back %+v", got)
	}
	if names, _ := Names(root); len(names) != 1 || names[0] != "x" {
		t.Errorf("Names = %v", names)
	}

	if err := os.WriteFile(env.StateFile(), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(env); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("corrupted state: %v", err)
	}
	if _, err := os.Stat(env.StateFile()); err != nil {
		t.Errorf("reading a damaged state file removed it: %v", err)
	}
}

func TestObserveMarksDeadProcesses(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := process.ID{Pid: cmd.Process.Pid, Start: 1}
	s := Observe(&State{Name: "x", Supervisor: dead, Components: []ComponentState{{Name: "kube-scheduler", Status: "ready", Process: dead}}})
	if !strings.HasPrefix(string(s.Phase), "supervisor gone") {
		t.Errorf("phase %q", s.Phase)
	}
	if s.Components[0].Status != "not running" {
		t.Errorf("component status %q", s.Components[0].Status)
	}
	// A live pid with another start time is a reused pid, not the process.
	if (process.ID{Pid: os.Getpid(), Start: 1}).Alive() {
		t.Errorf("a reused pid counts as alive")
	}
}
