package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/kenv-dev/kenv/env/process"
)

// The test binary plays three parts: the tests; an agent (Swap.Run in a
// process of its own, as `kenv agent swap` runs it, so that it gets and
// sends signals of its own); and, under the name kube-apiserver, the
// component, both the kubelet's pod and the debug build.
func TestMain(m *testing.M) {
	switch {
	case filepath.Base(os.Args[0]) == "kube-apiserver":
		fakeComponent()
	case os.Getenv("KENV_AGENT_TEST") == "agent":
		os.Exit(agentMain())
	}
	os.Exit(m.Run())
}

// fakeComponent listens on its --secure-port, which must be free, says so,
// and runs until killed. KENV_FAKE_EXIT makes it exit with that code;
// KENV_FAKE_ORPHAN makes it start a process in a group of its own, as
// Delve starts its debuggee.
func fakeComponent() {
	port, _ := flag(os.Args[1:], "secure-port")
	l, err := net.Listen("tcp", net.JoinHostPort("0.0.0.0", port))
	if err != nil {
		fmt.Printf("fake kube-apiserver: %v\n", err)
		os.Exit(2)
	}
	defer l.Close()
	fmt.Printf("fake kube-apiserver up as %s with %d flags\n", os.Getenv("KENV_FAKE_ROLE"), len(os.Args)-1)
	if code := os.Getenv("KENV_FAKE_EXIT"); code != "" {
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	if os.Getenv("KENV_FAKE_ORPHAN") != "" {
		orphan := exec.Command("sleep", "600")
		orphan.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := orphan.Start(); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Printf("orphan %d\n", orphan.Process.Pid)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	os.Exit(0)
}

// agentMain runs the Swap the test put in the environment.
func agentMain() int {
	var s Swap
	if err := json.Unmarshal([]byte(os.Getenv("KENV_AGENT_SWAP")), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// Only the test's own fakes count as the component: other tests may
	// run a kube-apiserver on the machine.
	root := os.Getenv("KENV_AGENT_ROOT")
	runs = func(argv0, component string) bool {
		return strings.HasPrefix(argv0, root+"/") && filepath.Base(argv0) == component
	}
	if d, err := time.ParseDuration(os.Getenv("KENV_AGENT_STOP_WAIT")); err == nil {
		stopWait = d
	}
	stopTimeout = 2 * time.Second
	if err := s.Run(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fixture is a node: a manifests directory with kubeadm's kube-apiserver
// on a port of the test's, kenv's directory, and the fake component.
type fixture struct {
	root, manifests, manifest, dir string
	// bin is the fake component, named kube-apiserver.
	bin  string
	port int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	needRoot(t)
	root := t.TempDir()
	f := &fixture{
		root:      root,
		manifests: filepath.Join(root, "etc", "kubernetes", "manifests"),
		dir:       filepath.Join(root, "var", "lib", "kenv", "env"),
		bin:       filepath.Join(root, "bin", "kube-apiserver"),
		port:      freePort(t),
	}
	f.manifest = filepath.Join(f.manifests, "kube-apiserver.yaml")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{f.manifests, filepath.Dir(f.bin)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(self, f.bin); err != nil {
		t.Fatal(err)
	}
	m := strings.ReplaceAll(kubeadm(t), "6443", strconv.Itoa(f.port))
	if err := os.WriteFile(f.manifest, []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// childEnv is the environment of the test binary's other parts. Under the
// race detector a process waits a second as it exits; not these.
func childEnv() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (f *fixture) swap(grace time.Duration) Swap {
	return Swap{Component: "kube-apiserver", Manifest: f.manifest, Dir: f.dir, Prefix: []string{f.bin}, Grace: grace}
}

func (f *fixture) manifestThere() bool {
	_, err := os.Stat(f.manifest)
	return err == nil
}

// eventually polls cond for up to timeout and fails the test if it never holds.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !process.WaitFor(context.Background(), timeout, cond) {
		t.Fatalf("after %s: %s", timeout, what)
	}
}

// kubelet plays the kubelet for the fixture's manifest: it runs the pod
// while the manifest is there, and stops it when it goes. It notes each
// time the manifest appears, and whether kenv's record and copy were
// there when the manifest left.
type kubelet struct {
	f *fixture
	// stubborn keeps the pod running when the manifest goes.
	stubborn bool

	mu       sync.Mutex
	pod      *exec.Cmd
	started  int
	appeared int
	removals []bool // for each removal, whether the record and the copy were there
	watcher  *fsnotify.Watcher
	done     chan struct{}
}

func startKubelet(t *testing.T, f *fixture, stubborn bool) *kubelet {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add(f.manifests); err != nil {
		t.Fatal(err)
	}
	k := &kubelet{f: f, stubborn: stubborn, watcher: w, done: make(chan struct{})}
	k.sync()
	go k.loop()
	t.Cleanup(func() {
		w.Close()
		<-k.done
		k.mu.Lock()
		defer k.mu.Unlock()
		k.stopPod()
	})
	eventually(t, 10*time.Second, "the kubelet's pod does not listen", func() bool { return len(busyPorts(f.found(t).Ports)) > 0 })
	return k
}

func (f *fixture) found(t *testing.T) Found {
	fd, err := inspect("kube-apiserver", f.manifest, []byte(strings.ReplaceAll(kubeadm(t), "6443", strconv.Itoa(f.port))))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func (k *kubelet) loop() {
	defer close(k.done)
	for ev := range k.watcher.Events {
		if ev.Name != k.f.manifest {
			continue
		}
		k.mu.Lock()
		if ev.Has(fsnotify.Create) {
			k.appeared++
		}
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			p := paths{k.f.dir, "kube-apiserver"}
			_, errRecord := os.Stat(p.record())
			_, errCopy := os.Stat(filepath.Join(p.aside(), "kube-apiserver.yaml"))
			k.removals = append(k.removals, errRecord == nil && errCopy == nil)
		}
		k.mu.Unlock()
		k.sync()
	}
}

func (k *kubelet) sync() {
	k.mu.Lock()
	defer k.mu.Unlock()
	there := k.f.manifestThere()
	switch {
	case there && k.pod == nil:
		k.pod = exec.Command(k.f.bin, "--secure-port="+strconv.Itoa(k.f.port))
		k.pod.Env = append(childEnv(), "KENV_FAKE_ROLE=pod")
		if err := k.pod.Start(); err != nil {
			panic(err)
		}
		k.started++
	case !there && k.pod != nil && !k.stubborn:
		k.stopPod()
	}
}

func (k *kubelet) stopPod() {
	if k.pod != nil {
		_ = k.pod.Process.Signal(syscall.SIGTERM)
		_ = k.pod.Wait()
		k.pod = nil
	}
}

func (k *kubelet) state() (running bool, started, appeared int, removals []bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pod != nil, k.started, k.appeared, append([]bool(nil), k.removals...)
}

// agentProc is an agent run as `kenv agent swap` runs it, with kenv's
// heartbeat on its stdin.
type agentProc struct {
	cmd      *exec.Cmd
	stdin    interface{ Close() error }
	stdout   *os.File
	out, err *syncBuffer
	beat     chan struct{}
	beatOnce sync.Once
	done     chan struct{}
	exit     error
}

func (f *fixture) startAgent(t *testing.T, s Swap, env ...string) *agentProc {
	t.Helper()
	raw, _ := json.Marshal(s)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(childEnv(), "KENV_AGENT_TEST=agent", "KENV_AGENT_SWAP="+string(raw), "KENV_AGENT_ROOT="+f.root, "KENV_FAKE_ROLE=build")
	cmd.Env = append(cmd.Env, env...)
	a := &agentProc{cmd: cmd, out: &syncBuffer{}, err: &syncBuffer{}, beat: make(chan struct{}), done: make(chan struct{})}
	// stdout is a pipe of the test's, which hangUp closes as sshd would.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a.stdout = r
	go func() { _, _ = io.Copy(a.out, r) }()
	cmd.Stdout, cmd.Stderr = w, a.err
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.stdin = stdin
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		a.exit = cmd.Wait()
		close(a.done)
	}()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-a.beat:
				return
			case <-tick.C:
				if _, err := stdin.Write([]byte(".\n")); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		a.stopBeat()
		_ = cmd.Process.Kill()
		<-a.done
		if t.Failed() {
			t.Logf("agent pid %d stdout:\n%s\nstderr:\n%s", cmd.Process.Pid, a.out, a.err)
		}
	})
	return a
}

// hangUp is the end of an ssh session as the agent may see it: SIGHUP,
// and its output goes nowhere.
func (a *agentProc) hangUp() {
	a.stopBeat()
	_ = a.cmd.Process.Signal(syscall.SIGHUP)
	a.stdout.Close()
	a.stdin.Close()
}

// stopBeat stops the heartbeat, the session left open: a closed laptop.
func (a *agentProc) stopBeat() { a.beatOnce.Do(func() { close(a.beat) }) }

// endSession ends the agent's input.
func (a *agentProc) endSession() {
	a.stopBeat()
	a.stdin.Close()
}

func (a *agentProc) waitOut(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("the agent did not say %q", want), func() bool { return strings.Contains(a.out.String(), want) })
}

// wait waits for the agent to exit and returns its exit code.
func (a *agentProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(timeout):
		t.Fatalf("the agent runs after %s", timeout)
	}
	return a.cmd.ProcessState.ExitCode()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
