//go:build e2e

package main_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
)

const startupFunction = "k8s.io/kubernetes/cmd/kube-apiserver/app.Run"

// TestEndToEndBreakpoints puts breakpoints in the spec: one in
// kube-apiserver start-up code, which is hit before the server is ready,
// and one on the request path, hit by `kenv kubectl create namespace`.
func TestEndToEndBreakpoints(t *testing.T) {
	k, specPath, p := newEnvironment(t, "breakpoints", `
    breakpoints = ["cmd/kube-apiserver/app/server.go:Run"]
    breakpoint "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create" {
      condition = "e.DefaultQualifiedResource.Resource == \"namespaces\""
    }`, "")
	dlvAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p[3]))

	up := exec.Command(k.bin, "up", "-d", specPath)
	up.Env = append(os.Environ(), "KENV_HOME="+k.home)
	var upOut bytes.Buffer
	up.Stdout, up.Stderr = &upOut, &upOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait() }()
	defer func() { t.Logf("$ kenv up -d %s\n%s", specPath, upOut.String()) }()

	// The first end-to-end test may build Kubernetes from a cold cache.
	client := connectDelve(t, dlvAddr, coldBuild)
	st := waitHalted(t, client, coldBuild)
	if bp := st.CurrentThread.Breakpoint; bp == nil || bp.FunctionName != startupFunction {
		t.Fatalf("first stop is not the start-up breakpoint: %+v", st.CurrentThread)
	}
	status := k.mustRun("status", "--name", "breakpoints")
	if !strings.Contains(status, "halted at app.Run (server.go:") {
		t.Errorf("status does not say where kube-apiserver is stopped")
	}
	select {
	case err := <-upDone:
		t.Fatalf("up ended while kube-apiserver was stopped at a breakpoint: %v", err)
	default:
	}

	// Continue until up reports the environment ready; the apiserver
	// creates its own namespaces on the way.
	stops := make(chan *api.DebuggerState, 1)
	resume := func() {
		go func() { stops <- <-client.Continue() }()
	}
	resume()
	for ready := false; !ready; {
		select {
		case err := <-upDone:
			if err != nil {
				t.Fatalf("up: %v", err)
			}
			ready = true
		case st := <-stops:
			if st.Exited || st.Err != nil {
				t.Fatalf("kube-apiserver ended: %v", st.Err)
			}
			resume()
		case <-time.After(5 * time.Minute):
			t.Fatal("the environment did not come up after continuing")
		}
	}
	if !strings.Contains(upOut.String(), "is halted at breakpoint "+startupFunction) {
		t.Errorf("up did not report the stop at the start-up breakpoint")
	}

	created := make(chan error, 1)
	go func() {
		_, err := k.run("kubectl", "--name", "breakpoints", "--", "create", "namespace", "created-at-a-breakpoint")
		created <- err
	}()
	select {
	case st := <-stops:
		bp := st.CurrentThread.Breakpoint
		if bp == nil || !strings.HasSuffix(bp.FunctionName, "(*Store).Create") {
			t.Fatalf("stopped at %+v, want Store.Create", st.CurrentThread)
		}
		obj, err := client.EvalVariable(api.EvalScope{GoroutineID: -1}, "obj",
			api.LoadConfig{FollowPointers: true, MaxVariableRecurse: 4, MaxStringLen: 64, MaxStructFields: -1})
		if err != nil {
			t.Fatal(err)
		}
		if name := field(obj, "ObjectMeta", "Name"); name != "created-at-a-breakpoint" {
			t.Errorf("the stop creates %q (%s), not our namespace", name, obj.Type)
		}
		// After up, status asks Delve where the component is.
		if status := k.mustRun("status", "--name", "breakpoints"); !strings.Contains(status, "halted at registry.(*Store).Create (store.go:") {
			t.Errorf("status does not say kube-apiserver is stopped at Store.Create")
		}
	case err := <-created:
		t.Fatalf("kubectl create returned before the breakpoint was hit: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the request-path breakpoint was not hit")
	}
	resume()
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("kubectl create after continue: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("kubectl create did not finish after continue")
	}

	t.Run("flags prints the command that runs the component", func(t *testing.T) {
		out := k.mustRun("flags", "--name", "breakpoints", "kube-apiserver")
		for _, want := range []string{"exec \\\n", "--headless", "--listen=" + dlvAddr, "--secure-port=" + strconv.Itoa(p[2]), "'--cors-allowed-origins=//127.0.0.1(:[0-9]+)?$,//localhost(:[0-9]+)?$'"} {
			if !strings.Contains(out, want) {
				t.Errorf("kenv flags lacks %q", want)
			}
		}
	})

	t.Run("ide vscode writes an attach configuration", func(t *testing.T) {
		ws := t.TempDir()
		k.mustRun("ide", "vscode", "--name", "breakpoints", "--workspace", ws)
		raw, err := os.ReadFile(filepath.Join(ws, ".vscode", "launch.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"port":    `+strconv.Itoa(p[3])) || !strings.Contains(string(raw), `"mode":    "remote"`) {
			t.Errorf("launch.json:\n%s", raw)
		}
		// The binaries name their files by module path; VS Code finds
		// them in the tree kenv built.
		if !regexp.MustCompile(`"from":\s*"[^"]*/src/kubernetes@[^"]*",\s*"to":\s*"k8s.io/kubernetes"`).Match(raw) {
			t.Errorf("launch.json does not map k8s.io/kubernetes to the tree:\n%s", raw)
		}
	})
}

// TestEndToEndTracepoint traces a function instead of stopping in it: the
// environment comes up on its own, and each hit is logged.
func TestEndToEndTracepoint(t *testing.T) {
	k, specPath, _ := newEnvironment(t, "tracepoint", `
    breakpoint "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create" {
      condition = "e.DefaultQualifiedResource.Resource == \"namespaces\""
      trace     = true
    }`, "")
	out := k.mustRun("up", "-d", specPath)
	if !strings.Contains(out, `✓ tracepoint "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create"`) {
		t.Errorf("up does not report the tracepoint")
	}
	hits := func() int {
		raw, err := os.ReadFile(filepath.Join(k.home, "tracepoint", "logs", "kube-apiserver-trace.log"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(raw), "registry.(*Store).Create(")
	}
	// The apiserver creates its own namespaces at start.
	atStart := hits()
	if atStart == 0 {
		t.Errorf("no hit traced at start")
	}
	k.mustRun("kubectl", "--name", "tracepoint", "--", "create", "namespace", "traced")
	// The apiserver may still be making its own namespaces: at least ours
	// is added.
	if after := hits(); after < atStart+1 {
		t.Errorf("%d hits traced after a namespace create, want at least %d", after, atStart+1)
	}
	if raw, _ := os.ReadFile(filepath.Join(k.home, "tracepoint", "logs", "kube-apiserver-trace.log")); !strings.Contains(string(raw), "core.Namespace") {
		t.Errorf("the traced hits do not show their arguments:\n%s", raw)
	}
}

// TestEndToEndBadBreakpoint checks that a location Delve cannot resolve
// fails up with the spec's position and Delve's reason.
func TestEndToEndBadBreakpoint(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "badbreakpoint", `breakpoints = ["pkg/no/such/file.go:12"]`, "")
	out, err := k.run("up", "-d", specPath)
	if err == nil {
		t.Fatal("up succeeded with a breakpoint that resolves to nothing")
	}
	// The spec's breakpoint list is on line 13, its element at column 20.
	if !strings.Contains(out, specPath+":13:20: breakpoint \"pkg/no/such/file.go:12\"") {
		t.Errorf("the error does not point at the spec position")
	}
	// Delve's own words, which kenv's message does not contain.
	if !strings.Contains(out, `location "pkg/no/such/file.go:12" not found`) {
		t.Errorf("the error does not carry Delve's reason")
	}
	assertPortsClosed(t, ports)
}

// field finds the value at the path of field names below v, looking
// through interfaces and pointers.
func field(v *api.Variable, path ...string) string {
	if len(path) == 0 {
		return v.Value
	}
	for i := range v.Children {
		c := &v.Children[i]
		if c.Name == path[0] {
			if s := field(c, path[1:]...); s != "" {
				return s
			}
		}
		if c.Name == "" || strings.HasPrefix(c.Type, "*") || c.Kind == reflect.Interface || c.Kind == reflect.Ptr {
			if s := field(c, path...); s != "" {
				return s
			}
		}
	}
	return ""
}

// coldBuild bounds a wait that may include building Kubernetes.
const coldBuild = 40 * time.Minute

func connectDelve(t *testing.T, addr string, timeout time.Duration) *rpc2.RPCClient {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			client := rpc2.NewClientFromConn(conn)
			t.Cleanup(func() { conn.Close() })
			return client
		}
		if time.Now().After(deadline) {
			t.Fatalf("Delve does not listen at %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHalted waits until the program stops at a breakpoint.
func waitHalted(t *testing.T, client *rpc2.RPCClient, timeout time.Duration) *api.DebuggerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		st, err := client.GetStateNonBlocking()
		if err == nil && !st.Running && st.CurrentThread != nil && st.CurrentThread.Breakpoint != nil {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the program did not stop at a breakpoint")
	return nil
}
