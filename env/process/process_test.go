package process

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartStopAndDescendants(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	// A shell whose child ignores SIGTERM: Stop must still end both.
	p, err := Start(Spec{Name: "sh", Argv: []string{"sh", "-c", "sh -c 'trap \"\" TERM; echo child; sleep 60' & echo parent; wait"}, LogPath: log})
	if err != nil {
		t.Fatal(err)
	}
	var children []int
	for deadline := time.Now().Add(5 * time.Second); len(children) < 2 && time.Now().Before(deadline); {
		children = Descendants(p.Pid())
		time.Sleep(20 * time.Millisecond)
	}
	if len(children) < 2 {
		t.Fatalf("descendants of %d: %v, want the child shell and its sleep", p.Pid(), children)
	}
	if !Alive(p.Pid()) || p.ExitError() != nil {
		t.Fatalf("the process does not run")
	}
	if err := p.Stop(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(children, p.Pid()) {
		if Alive(pid) {
			t.Errorf("pid %d runs after Stop", pid)
		}
	}
	if p.ExitError() == nil || !strings.Contains(p.ExitError().Error(), "sh ") {
		t.Errorf("exit: %v", p.ExitError())
	}
	raw, _ := os.ReadFile(log)
	if !strings.Contains(string(raw), "==== kenv started sh") || !strings.Contains(string(raw), "parent") {
		t.Errorf("log:\n%s", raw)
	}
}

func TestPortHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	want := fmt.Sprintf("pid %d (", os.Getpid())
	if got := PortHolder(port); !strings.HasPrefix(got, want) {
		t.Errorf("PortHolder(%d) = %q, want %s...)", port, got, want)
	}
	l.Close()
	if got := PortHolder(port); got != "" {
		t.Errorf("a closed port is held by %q", got)
	}
}

func TestExit(t *testing.T) {
	for _, tt := range []struct {
		script, want string
	}{
		{"exit 3", "exited with code 3"},
		{"kill -KILL $$", "killed by SIGKILL"},
		{"kill -TERM $$", "killed by SIGTERM"},
	} {
		p, err := Start(Spec{Name: "sh", Argv: []string{"sh", "-c", tt.script}, LogPath: filepath.Join(t.TempDir(), "sh.log")})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not end", tt.script)
		}
		if got := p.Exit(); got != tt.want {
			t.Errorf("%s: Exit() = %q, want %q", tt.script, got, tt.want)
		}
		if got := p.ExitError(); got == nil || got.Error() != "sh "+tt.want {
			t.Errorf("%s: ExitError() = %v", tt.script, got)
		}
	}
}
