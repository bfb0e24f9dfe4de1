package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

func TestLockIsExclusive(t *testing.T) {
	env := layout.NewEnv(t.TempDir(), "x")
	l, err := acquire(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(env); !errors.Is(err, ErrLocked) {
		t.Errorf("second acquire: %v, want ErrLocked", err)
	}
	if !locked(env) {
		t.Errorf("locked() = false while held")
	}
	l.release()
	if locked(env) {
		t.Errorf("locked() = true after release")
	}
}

func TestStateRoundTrip(t *testing.T) {
	root := t.TempDir()
	env := layout.NewEnv(root, "x")
	if _, err := ReadState(env); !errors.Is(err, ErrNotUp) {
		t.Fatalf("no state file: %v, want ErrNotUp", err)
	}
	if err := os.MkdirAll(env.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := &State{Name: "x", Phase: Ready, Supervisor: procOf(os.Getpid()),
		Components: []ComponentState{{Name: "kube-apiserver", Status: "ready", Process: procOf(os.Getpid())}}}
	if err := writeState(env, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(env)
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
	if _, err := ReadState(env); err == nil || !strings.Contains(err.Error(), "damaged") {
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
	dead := Proc{Pid: cmd.Process.Pid, Start: 1}
	s := Observe(&State{Name: "x", Supervisor: dead, Components: []ComponentState{{Name: "kube-scheduler", Status: "ready", Process: dead}}})
	if !strings.HasPrefix(string(s.Phase), "supervisor gone") {
		t.Errorf("phase %q", s.Phase)
	}
	if s.Components[0].Status != "not running" {
		t.Errorf("component status %q", s.Components[0].Status)
	}
	// A live pid with another start time is a reused pid, not the process.
	if (Proc{Pid: os.Getpid(), Start: 1}).Alive() {
		t.Errorf("a reused pid counts as alive")
	}
}

func TestCheckPortsNamesTheSpecAttribute(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	s := &spec.Spec{File: "debug.hcl", Etcd: spec.Etcd{Port: freePort(t), PeerPort: freePort(t)},
		Components: []spec.Component{{Name: "kube-apiserver", Port: freePort(t), Debug: &spec.Debug{Port: taken}}}}
	err = checkPorts(s)
	if err == nil {
		t.Fatal("a taken port passed the check")
	}
	for _, want := range []string{"port", "in use by pid " + strconv.Itoa(os.Getpid()), `component "kube-apiserver" { debug { port } }`, "debug.hcl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestWaitsForUser(t *testing.T) {
	entry := delve.State{Halted: true, File: "runtime/rt0_linux_amd64.s", Line: 8}
	atBreakpoint := delve.State{Halted: true, Breakpoint: "k8s.io/kubernetes/cmd/kube-apiserver/app.Run", File: "server.go", Line: 150}
	for _, tt := range []struct {
		name  string
		debug plan.Debug
		st    delve.State
		want  bool
	}{
		{"starting, wait = false", plan.Debug{}, entry, false},
		{"at entry, wait = true", plan.Debug{Wait: true}, entry, true},
		{"at a breakpoint", plan.Debug{}, atBreakpoint, true},
		{"running", plan.Debug{Wait: true}, delve.State{}, false},
	} {
		if got := waitsForUser(&tt.debug, tt.st); got != tt.want {
			t.Errorf("%s: waitsForUser = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestParallel(t *testing.T) {
	certs := errors.New("write certificates: disk full")
	t.Run("the first failure stops the others", func(t *testing.T) {
		buildStopped := make(chan struct{})
		err := parallel(context.Background(),
			func(context.Context) error { return certs },
			func(ctx context.Context) error {
				select {
				case <-ctx.Done():
					close(buildStopped)
					return fmt.Errorf("go build: %w", ctx.Err())
				case <-time.After(10 * time.Second):
					return errors.New("the build was not cancelled")
				}
			},
		)
		select {
		case <-buildStopped:
		default:
			t.Fatal("the build did not see the cancellation")
		}
		if err == nil || err.Error() != multierror.Append(nil, certs).Error() {
			t.Errorf("parallel returned %v, want only the certificate failure", err)
		}
	})
	t.Run("every failure is kept", func(t *testing.T) {
		other := errors.New("install Delve: exit status 1")
		err := parallel(context.Background(),
			func(context.Context) error { return certs },
			func(context.Context) error { time.Sleep(50 * time.Millisecond); return other },
		)
		if err == nil || !strings.Contains(err.Error(), certs.Error()) || !strings.Contains(err.Error(), other.Error()) {
			t.Errorf("parallel returned %v, want both failures", err)
		}
	})
	t.Run("an interrupted up is reported", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := parallel(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("parallel returned %v, want the interruption", err)
		}
	})
}
