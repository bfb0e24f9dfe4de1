//go:build e2e

package main_test

// The end-to-end test runs kenv as a user does, against the real
// Kubernetes components built from the real source and the real Delve. The
// first run builds Kubernetes (minutes); later runs reuse $KENV_CACHE (by
// default the user's cache, shared with `kenv up`).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
	"github.com/moby/sys/reexec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const storeCreate = "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create"

// kenvCLI runs a kenv binary with its own state directory.
type kenvCLI struct {
	t    *testing.T
	bin  string
	home string
	// env is added to the environment, after KENV_HOME.
	env []string
}

func (k kenvCLI) run(args ...string) (string, error) {
	k.t.Helper()
	cmd := exec.Command(k.bin, args...)
	cmd.Env = append(append(os.Environ(), "KENV_HOME="+k.home), k.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	k.t.Logf("$ kenv %s\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

func (k kenvCLI) mustRun(args ...string) string {
	k.t.Helper()
	out, err := k.run(args...)
	if err != nil {
		k.t.Fatalf("kenv %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// kenvBinary is built once for all end-to-end tests.
var kenvBinary string

func TestMain(m *testing.M) {
	// The child env/ns starts to make a node's namespaces is this binary.
	if reexec.Init() {
		return
	}
	dir, err := os.MkdirTemp("", "kenv-e2e-")
	if err != nil {
		panic(err)
	}
	kenvBinary = filepath.Join(dir, "kenv")
	if out, err := exec.Command("go", "build", "-o", kenvBinary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build kenv: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// e2eVersion is the Kubernetes version under test; KENV_E2E_VERSION
// chooses another.
func e2eVersion() string {
	if v := os.Getenv("KENV_E2E_VERSION"); v != "" {
		return v
	}
	return "v1.34.4"
}

// newEnvironment writes a spec called name.hcl on free ports, so that the
// tests run beside other environments and nothing depends on the default
// ports; kube-apiserver runs under Delve. debugExtra goes into its debug
// block, apiserverExtra into its component block. It returns the CLI, the
// spec's path and the ports: etcd, etcd peer, kube-apiserver, its Delve,
// kube-controller-manager, kube-scheduler.
func newEnvironment(t *testing.T, name, debugExtra, apiserverExtra string) (kenvCLI, string, []int) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 6)
	specPath := filepath.Join(work, name+".hcl")
	writeFile(t, specPath, controlPlaneSpec([]int{p[0], p[1], p[2], p[4], p[5]}, controlPlane{
		apiserver: fmt.Sprintf("debug {\n    port = %d\n    %s\n  }\n  %s", p[3], debugExtra, apiserverExtra),
		scheduler: `restart = "on-failure"`,
	}))
	t.Cleanup(func() { _, _ = k.run("down", "--name", name) })
	return k, specPath, p
}

// controlPlane is what a control-plane spec holds besides the ports: in
// the kubernetes block, in kube-apiserver's and the scheduler's, and more
// after the components.
type controlPlane struct {
	kubernetes, apiserver, scheduler, more string
}

// controlPlaneSpec is a spec of the e2e version's control plane on the
// ports p: etcd, its peers, kube-apiserver, the controller-manager and the
// scheduler. Empty extras add no line: the lines of what follows stay put.
func controlPlaneSpec(p []int, c controlPlane) string {
	return fmt.Sprintf(`
kubernetes {
  version = %q
%s}
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
%s}
component "kube-controller-manager" {
  port = %d
}
component "kube-scheduler" {
  port = %d
%s}
%s`, e2eVersion(), inBlock(c.kubernetes), p[0], p[1], p[2], inBlock(c.apiserver), p[3], p[4], inBlock(c.scheduler), c.more)
}

// inBlock is extra as a line of a block, or nothing.
func inBlock(extra string) string {
	if extra == "" {
		return ""
	}
	return "  " + extra + "\n"
}

// kwokNodes is a kwok component with n simulated nodes on port.
func kwokNodes(port, n int) string {
	return fmt.Sprintf("component \"kwok\" {\n  port  = %d\n  nodes = %d\n}\n", port, n)
}

func TestEndToEnd(t *testing.T) {
	version := e2eVersion()
	k, specPath, p := newEnvironment(t, "e2e", "", `vmodule = { "httplog" = 5 }`)
	// Cluster-wide settings: they must reach the real components.
	appendFile(t, specPath, `
feature_gates = { AllAlpha = false, InPlacePodVerticalScaling = true }
audit {
  policy = {
    rules = [
      { level = "RequestResponse", resources = [{ group = "", resources = ["namespaces"] }] },
      { level = "None" },
    ]
  }
}
log {
  dir = "logs"
}
`)
	logDir := filepath.Join(filepath.Dir(specPath), "logs")

	start := time.Now()
	k.mustRun("up", "-d", "--timeout", "5m", specPath)
	t.Logf("FIGURE first up (cold when the cache is empty): %s", time.Since(start).Round(100*time.Millisecond))

	status := map[string]string{}
	for _, line := range strings.Split(k.mustRun("status"), "\n") {
		if fields := strings.Fields(line); len(fields) > 2 {
			status[fields[0]] = fields[1]
		}
	}
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if status[c] != "ready" {
			t.Errorf("status says %s is %q, want ready", c, status[c])
		}
	}
	kubeconfig := strings.TrimSpace(k.mustRun("kubeconfig", specPath))
	cs := clientset(t, kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t.Run("namespaces over HTTPS with the admin credentials", func(t *testing.T) {
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !hasNamespace(list.Items, "kube-system") {
			t.Errorf("kube-system is not among %d namespaces", len(list.Items))
		}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, namespace("kept-across-restarts"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the spec's audit policy, log dir, feature gates and vmodule", func(t *testing.T) {
		audit, err := os.ReadFile(filepath.Join(logDir, "kube-apiserver-audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		var created bool
		for _, line := range strings.Split(string(audit), "\n") {
			if strings.Contains(line, `"verb":"create"`) && strings.Contains(line, `"name":"kept-across-restarts"`) {
				created = strings.Contains(line, `"level":"RequestResponse"`) && strings.Contains(line, `"requestObject":`)
			}
		}
		if !created {
			t.Errorf("the audit log in %s has no RequestResponse event with the body of the namespace create", logDir)
		}
		flags := k.mustRun("flags", "--name", "e2e", "kube-apiserver")
		for _, want := range []string{"--feature-gates=AllAlpha=false,InPlacePodVerticalScaling=true", "--vmodule=httplog=5"} {
			if !strings.Contains(flags, want) {
				t.Errorf("kube-apiserver runs without %s:\n%s", want, flags)
			}
		}
		if _, err := os.Stat(filepath.Join(logDir, "kube-scheduler.log")); err != nil {
			t.Errorf("the components do not log into the spec's log dir: %v", err)
		}
	})

	t.Run("version", func(t *testing.T) {
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimPrefix(version, "v"), ".")
		if v.GitVersion != version || v.Major != parts[0] || v.Minor != parts[1] {
			t.Errorf("/version says %s (major %q, minor %q), want %s", v.GitVersion, v.Major, v.Minor, version)
		}
		if _, err := time.Parse(time.RFC3339, v.BuildDate); err != nil || strings.HasPrefix(v.BuildDate, "1970") {
			t.Errorf("buildDate %q is not the source's date", v.BuildDate)
		}
	})

	t.Run("token and curl line reach the apiserver directly", func(t *testing.T) {
		out := k.mustRun("token", "--name", "e2e", "--cluster-admin", "-n", "token-test")
		script := filepath.Join(t.TempDir(), "curl.sh")
		writeFile(t, script, out)
		got, err := exec.Command("bash", script).CombinedOutput()
		if err != nil {
			t.Fatalf("the printed curl line: %v\n%s", err, got)
		}
		if !strings.Contains(string(got), `"kind": "PodList"`) {
			t.Errorf("the curl line with the token got:\n%s", got)
		}
	})

	t.Run("breakpoint on Store.Create is hit by a namespace create", func(t *testing.T) {
		hitBreakpoint(ctx, t, cs, net.JoinHostPort("127.0.0.1", strconv.Itoa(p[3])))
	})

	stateBefore := readState(t, k, "e2e")
	if len(stateBefore.Components[0].Descendants) == 0 {
		t.Errorf("the state does not record the program kube-apiserver's Delve runs")
	}
	certBefore, err := os.ReadFile(filepath.Join(k.home, "e2e", "pki", "client-admin.crt"))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	k.mustRun("down", specPath)
	t.Logf("FIGURE down: %s", time.Since(start).Round(100*time.Millisecond))

	t.Run("nothing is left after down", func(t *testing.T) {
		for _, pid := range stateBefore.pids() {
			if alive(pid) {
				t.Errorf("pid %d still runs after down", pid)
			}
		}
		assertPortsClosed(t, p)
		if out, err := k.run("status", "--name", "e2e"); err == nil {
			t.Errorf("status succeeds after down:\n%s", out)
		}
	})

	start = time.Now()
	out := k.mustRun("up", "-d", specPath)
	t.Logf("FIGURE warm up (nothing to build): %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "the binaries match e2e.lock.hcl") {
		t.Errorf("the second up does not check the binaries against the lock the first wrote:\n%s", out)
	}

	t.Run("data and certificates survive down and up", func(t *testing.T) {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "kept-across-restarts", metav1.GetOptions{}); err != nil {
			t.Errorf("the namespace created before down: %v", err)
		}
		certAfter, err := os.ReadFile(filepath.Join(k.home, "e2e", "pki", "client-admin.crt"))
		if err != nil || !bytes.Equal(certBefore, certAfter) {
			t.Errorf("the admin certificate changed across down and up (%v)", err)
		}
	})

	t.Run("a second up of a running environment changes nothing", func(t *testing.T) {
		before := readState(t, k, "e2e")
		out, err := k.run("up", "-d", specPath)
		if err == nil || !strings.Contains(out, "already up") {
			t.Errorf("second up: %v\n%s", err, out)
		}
		if after := readState(t, k, "e2e"); after.Supervisor.Pid != before.Supervisor.Pid {
			t.Errorf("supervisor changed from %d to %d", before.Supervisor.Pid, after.Supervisor.Pid)
		}
	})

	k.mustRun("down", "--name", "e2e", "--purge")
	if _, err := os.Stat(filepath.Join(k.home, "e2e")); !os.IsNotExist(err) {
		t.Errorf("down --purge left the state directory: %v", err)
	}
	if logs, _ := filepath.Glob(filepath.Join(logDir, "*.log")); len(logs) > 0 {
		t.Errorf("down --purge left logs in the spec's log dir: %v", logs)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// TestEndToEndForeground brings an environment up in the foreground and
// stops it with Ctrl-C, as a user at a terminal does.
func TestEndToEndForeground(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "foreground", "", "")
	cmd := exec.Command(k.bin, "up", specPath)
	cmd.Env = append(os.Environ(), "KENV_HOME="+k.home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		t.Log(sc.Text())
		if strings.Contains(sc.Text(), "Ctrl-C stops it") {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatal("kenv up ended before the environment was ready")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	s := readState(t, k, "foreground")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("kenv up after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("kenv up did not stop within a minute of Ctrl-C")
	}
	for _, pid := range s.pids() {
		if pid != cmd.Process.Pid && alive(pid) {
			t.Errorf("pid %d still runs after Ctrl-C", pid)
		}
	}
	assertPortsClosed(t, ports)
}

// TestEndToEndFailedStart checks that a component that cannot start stops
// the whole environment, and that the error names the step and shows the
// component's log.
func TestEndToEndFailedStart(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "broken", "", `flags = { no-such-flag = "1" }`)
	out, err := k.run("up", "-d", specPath)
	if err == nil {
		t.Fatal("up succeeded with a flag kube-apiserver does not know")
	}
	for _, want := range []string{"✗ kube-apiserver", "exited under Delve", "last lines of", "unknown flag: --no-such-flag"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if out, err := k.run("status", "--name", "broken"); err == nil {
		t.Errorf("status succeeds after a failed up:\n%s", out)
	}
	assertPortsClosed(t, ports)

	// With --retain, what started stays for inspection until down.
	out, err = k.run("up", "-d", "--retain", specPath)
	if err == nil || !strings.Contains(out, "kept for inspection") {
		t.Fatalf("up --retain: %v", err)
	}
	status := k.mustRun("status", "--name", "broken")
	for _, want := range []string{"failed, kept for inspection", "kube-apiserver: failed; the last lines of", "unknown flag: --no-such-flag"} {
		if !strings.Contains(status, want) {
			t.Errorf("status of a retained environment lacks %q", want)
		}
	}
	k.mustRun("down", "--name", "broken")
	assertPortsClosed(t, ports)
}

func assertPortsClosed(t *testing.T, ports []int) {
	t.Helper()
	for _, port := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still accepts connections", port)
		}
	}
}

// hitBreakpoint sets a breakpoint through Delve's JSON-RPC API, creates a
// namespace and checks that the breakpoint stops the namespace create.
func hitBreakpoint(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, addr string) {
	client := rpc2.NewClient(addr)
	if _, err := client.Halt(); err != nil {
		t.Fatalf("halt: %v", err)
	}
	bp, err := client.CreateBreakpoint(&api.Breakpoint{FunctionName: storeCreate})
	if err != nil {
		t.Fatalf("create breakpoint: %v", err)
	}
	created := make(chan error, 1)
	go func() {
		_, err := cs.CoreV1().Namespaces().Create(ctx, namespace("created-under-delve"), metav1.CreateOptions{})
		created <- err
	}()
	hit := false
	for i := 0; i < 50 && !hit; i++ {
		state := <-client.Continue()
		if state.Err != nil || state.Exited {
			t.Fatalf("continue: %v (exited: %v)", state.Err, state.Exited)
		}
		th := state.CurrentThread
		if th == nil || th.Breakpoint == nil || th.Breakpoint.ID != bp.ID {
			continue
		}
		// Other clients create objects too; stop at the namespace.
		v, err := client.EvalVariable(api.EvalScope{GoroutineID: -1}, "e.DefaultQualifiedResource.Resource", api.LoadConfig{MaxStringLen: 64})
		if err != nil {
			t.Fatalf("read the resource at the breakpoint: %v", err)
		}
		t.Logf("breakpoint hit at %s:%d creating %s", th.File, th.Line, v.Value)
		hit = v.Value == "namespaces"
	}
	if !hit {
		t.Fatal("the breakpoint was not hit by the namespace create")
	}
	if _, err := client.ClearBreakpoint(bp.ID); err != nil {
		t.Fatal(err)
	}
	if err := client.Disconnect(true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-created:
		if err != nil {
			t.Fatalf("the namespace create after continue: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the namespace create did not finish after continue")
	}
}

type state struct {
	Supervisor struct{ Pid int }
	Components []struct {
		Name        string
		Status      string
		Process     struct{ Pid int }
		Descendants []struct{ Pid int }
	}
}

func (s state) pids() []int {
	pids := []int{s.Supervisor.Pid}
	for _, c := range s.Components {
		pids = append(pids, c.Process.Pid)
		for _, d := range c.Descendants {
			pids = append(pids, d.Pid)
		}
	}
	return pids
}

func readState(t *testing.T, k kenvCLI, name string) state {
	t.Helper()
	var s state
	if err := json.Unmarshal([]byte(k.mustRun("status", "--name", name, "-o", "json")), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Components) != 3 {
		t.Fatalf("state lacks components: %+v", s)
	}
	return s
}

// alive reports whether pid runs; a zombie waiting for its reaper does not.
func alive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

func clientset(t *testing.T, kubeconfig string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 2 * time.Minute
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func hasNamespace(items []corev1.Namespace, name string) bool {
	for _, ns := range items {
		if ns.Name == name {
			return true
		}
	}
	return false
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
