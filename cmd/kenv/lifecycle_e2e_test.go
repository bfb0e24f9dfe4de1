//go:build e2e

package main_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const objects = 300

// TestEndToEndLifecycle restarts, stops and starts components, injects
// faults (kill -9 of a component, of Delve, of the supervisor; a port
// taken) and checks that the environment recovers without losing objects
// or leaking processes.
func TestEndToEndLifecycle(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "life", "", "")
	k.mustRun("up", "-d", specPath)
	cs := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", "--name", "life")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	createConfigMaps(ctx, t, cs, objects)

	seen := map[int]bool{} // every pid the environment ever had
	pidsOf := func() map[string]componentPids {
		s := readState(t, k, "life")
		for _, pid := range s.pids() {
			seen[pid] = true
		}
		return s.byComponent()
	}
	before := pidsOf()
	// A fault subtest counts its fault in faults once it has injected it;
	// the environment recovered from it when the subtest passed, every
	// check of it, as t.Run reports. tried counts the fault subtests run.
	faults, recovered, tried := 0, 0, 0
	fault := func(name string, f func(t *testing.T)) {
		injected, ran := faults, false
		passed := t.Run(name, func(t *testing.T) {
			ran = true
			f(t)
		})
		if ran {
			tried++
		}
		if passed && faults == injected+1 {
			recovered++
		}
	}

	t.Run("a second environment side by side", func(t *testing.T) {
		p := freePorts(t, 5)
		other := filepath.Join(t.TempDir(), "neighbour.hcl")
		writeFile(t, other, fmt.Sprintf(`
kubernetes {
  version = %q
}
etcd {
  port      = %d
  peer_port = %d
}
component "kube-apiserver" {
  port = %d
}
component "kube-controller-manager" {
  port = %d
}
component "kube-scheduler" {
  port = %d
}
`, e2eVersion(), p[0], p[1], p[2], p[3], p[4]))
		k.mustRun("up", "-d", other)
		if out, err := k.run("status"); err == nil || !strings.Contains(out, "several environments are up") {
			t.Errorf("status without a name beside two environments: %v", err)
		}
		assertStatus(t, k, "kube-apiserver", "ready")
		k.mustRun("down", "--name", "neighbour")
		assertPortsClosed(t, p)
		if after := pidsOf(); after["kube-apiserver"].pid != before["kube-apiserver"].pid {
			t.Errorf("taking the neighbour down touched this environment")
		}
	})

	t.Run("logs", func(t *testing.T) {
		out, err := k.run("logs", "--name", "life", "kube-scheduler", "--tail", "3")
		if err != nil || strings.Count(out, "\n") != 3 {
			t.Errorf("logs --tail 3 printed %d lines: %v", strings.Count(out, "\n"), err)
		}
		if _, err := k.run("logs", "--name", "life", "etcd", "--tail", "1"); err != nil {
			t.Errorf("etcd's log: %v", err)
		}
	})

	t.Run("restart one component", func(t *testing.T) {
		k.mustRun("restart", "--name", "life", "kube-scheduler")
		after := pidsOf()
		if after["kube-scheduler"].pid == before["kube-scheduler"].pid {
			t.Errorf("the scheduler kept pid %d across a restart", before["kube-scheduler"].pid)
		}
		for _, c := range []string{"kube-apiserver", "kube-controller-manager"} {
			if after[c].pid != before[c].pid {
				t.Errorf("%s changed pid when the scheduler restarted", c)
			}
		}
		assertStatus(t, k, "kube-scheduler", "ready")
	})

	t.Run("stop and start one component", func(t *testing.T) {
		kcm := pidsOf()["kube-controller-manager"].pid
		k.mustRun("stop", "--name", "life", "kube-controller-manager")
		assertStatus(t, k, "kube-controller-manager", "stopped")
		if alive(kcm) {
			t.Errorf("pid %d runs after stop", kcm)
		}
		k.mustRun("start", "--name", "life", "kube-controller-manager")
		assertStatus(t, k, "kube-controller-manager", "ready")
	})

	fault("kill -9 of a component with restart on-failure", func(t *testing.T) {
		old := pidsOf()["kube-scheduler"].pid
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		faults++
		waitFor(t, time.Minute, "the scheduler to be restarted", func() bool {
			now := pidsOf()["kube-scheduler"].pid
			return now != old && statusOf(t, k, "kube-scheduler") == "ready"
		})
	})

	fault("kill -9 of Delve", func(t *testing.T) {
		api := pidsOf()["kube-apiserver"]
		if len(api.children) == 0 {
			t.Fatal("no program recorded under Delve")
		}
		if err := syscall.Kill(api.pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		faults++
		waitFor(t, 30*time.Second, "the program Delve ran to be stopped", func() bool {
			return !alive(api.children[0])
		})
		if st := statusOf(t, k, "kube-apiserver"); st != "killed by SIGKILL" {
			t.Errorf("status of kube-apiserver after its Delve was killed: %q", st)
		}
		// Back without Delve this time.
		k.mustRun("restart", "--name", "life", "--no-debug", "kube-apiserver")
		assertStatus(t, k, "kube-apiserver", "ready")
		if out := k.mustRun("flags", "--name", "life", "kube-apiserver"); strings.Contains(out, "dlv") {
			t.Errorf("kube-apiserver still runs under Delve after restart --no-debug:\n%s", out)
		}
	})

	fault("kill -9 of the supervisor", func(t *testing.T) {
		s := pidsOf()
		sup := readState(t, k, "life").Supervisor.Pid
		if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		faults++
		waitFor(t, 30*time.Second, "the components to die with the supervisor", func() bool {
			for _, c := range s {
				if alive(c.pid) {
					return false
				}
			}
			return true
		})
		if out, _ := k.run("status", "--name", "life"); !strings.Contains(out, "supervisor gone") {
			t.Errorf("status after the supervisor died:\n%s", out)
		}
		// A new up cleans up what is left and comes up without help.
		k.mustRun("up", "-d", specPath)
		pidsOf()
	})

	fault("a port taken by another program", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		faults++
		taken := l.Addr().(*net.TCPAddr).Port
		other := filepath.Join(t.TempDir(), "other.hcl")
		writeFile(t, other, fmt.Sprintf("kubernetes {\n  version = %q\n}\netcd {\n  port = %d\n}\ncomponent \"kube-apiserver\" {\n  port = %d\n}\n",
			e2eVersion(), taken, freePorts(t, 1)[0]))
		out, err := k.run("up", "-d", other)
		if err == nil {
			t.Fatal("up succeeded on a taken port")
		}
		if !strings.Contains(out, "port "+strconv.Itoa(taken)+" is in use") || !strings.Contains(out, "etcd { port }") {
			t.Errorf("the error does not name the port and the attribute to change")
		}
		if _, err := os.Stat(filepath.Join(k.home, "other", "state.json")); err == nil {
			t.Errorf("a refused up left state behind")
		}
	})

	lost := objects - countConfigMaps(ctx, t, cs)
	k.mustRun("down", "--name", "life")
	leaked := 0
	for pid := range seen {
		if alive(pid) {
			leaked++
			t.Errorf("pid %d of the environment still runs after down", pid)
		}
	}
	assertPortsClosed(t, ports)
	t.Logf("FIGURE faults injected %d, recovered %d, objects lost %d of %d, processes leaked %d", faults, recovered, lost, objects, leaked)
	if lost != 0 {
		t.Errorf("%d objects lost", lost)
	}
	if faults != tried || recovered != faults {
		t.Errorf("%d fault subtests ran, %d injected their fault, and the environment recovered from %d", tried, faults, recovered)
	}
}

type componentPids struct {
	pid      int
	children []int
}

func (s state) byComponent() map[string]componentPids {
	out := map[string]componentPids{}
	for _, c := range s.Components {
		cp := componentPids{pid: c.Process.Pid}
		for _, d := range c.Descendants {
			cp.children = append(cp.children, d.Pid)
		}
		out[c.Name] = cp
	}
	return out
}

func createConfigMaps(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, n int) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, namespace("faults"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 10 {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%03d", i)}, Data: map[string]string{"i": strconv.Itoa(i)}}
				if _, err := cs.CoreV1().ConfigMaps("faults").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func countConfigMaps(ctx context.Context, t *testing.T, cs *kubernetes.Clientset) int {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps("faults").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range list.Items {
		if strings.HasPrefix(cm.Name, "cm-") && cm.Data["i"] != "" {
			n++
		}
	}
	return n
}

func statusOf(t *testing.T, k kenvCLI, component string) string {
	t.Helper()
	s := readState(t, k, "life")
	for _, c := range s.Components {
		if c.Name == component {
			return c.Status
		}
	}
	return ""
}

func assertStatus(t *testing.T, k kenvCLI, component, want string) {
	t.Helper()
	if got := statusOf(t, k, component); got != want {
		t.Errorf("%s is %q, want %q", component, got, want)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestEndToEndInterrupt interrupts an up while it lays out the source in
// an empty cache: it must stop at once and leave no half-written tree, no
// state and no process behind.
func TestEndToEndInterrupt(t *testing.T) {
	k, specPath, ports := newEnvironment(t, "interrupted", "", "")
	cache := t.TempDir()
	cmd := exec.Command(k.bin, "up", specPath)
	cmd.Env = append(os.Environ(), "KENV_HOME="+k.home, "KENV_CACHE="+cache)
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
	for sc.Scan() {
		t.Log(sc.Text())
		if strings.Contains(sc.Text(), "laying out the source tree") {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	go func() {
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err == nil {
			t.Error("an interrupted up exited 0")
		}
	case <-time.After(time.Minute):
		t.Fatal("up did not stop within a minute of Ctrl-C")
	}
	t.Logf("FIGURE up stopped %s after Ctrl-C", time.Since(start).Round(100*time.Millisecond))
	left, _ := filepath.Glob(filepath.Join(cache, "src", "*"))
	hidden, _ := filepath.Glob(filepath.Join(cache, "src", ".*"))
	if len(left)+len(hidden) != 0 {
		t.Errorf("the interrupted lay-out left %v %v in the cache", left, hidden)
	}
	if _, err := os.Stat(filepath.Join(k.home, "interrupted", "state.json")); err == nil {
		t.Error("the interrupted up left state behind")
	}
	assertPortsClosed(t, ports)
}
