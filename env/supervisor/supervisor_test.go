package supervisor

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

func TestCheckPortsNamesTheSpecAttribute(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	src := fmt.Sprintf(`
kubernetes { version = "v1.34.4" }
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
  debug { port = %d }
}
`, freePort(t), freePort(t), freePort(t), taken)
	s, diags := spec.Parse([]byte(src), "/specs/debug.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, err := plan.New(plan.Inputs{Spec: s, Env: layout.NewEnv(t.TempDir(), s.Name), Cache: layout.Cache{Dir: t.TempDir()}}, "/bin")
	if err != nil {
		t.Fatal(err)
	}
	err = checkPorts(p)
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
