//go:build e2e

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/kenv-dev/kenv/env/agent"
	"github.com/kenv-dev/kenv/env/node"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEndToEndCluster swaps the kube-apiserver of a real kubeadm cluster
// kenv did not make (startKubeadmCluster: offline, in namespaces of its
// own, reached over ssh) for kenv's debug build under Delve, and puts it
// back: a create stops at the spec's breakpoint, read through kenv's
// tunnel; Delve listens on the node's loopback only; down brings the
// static pod back Ready with the object kept; a restart hands the swap
// over to a new session, the static pod never back meanwhile. Over the
// exec transport (nsenter) a second up ships nothing and kill -9
// of kenv leaves the node's agent to put the static pod back after
// restore_after; up --watch from a checkout ships an edited scheduler
// and restarts it in place; the node's kubelet, which its systemd runs,
// is swapped for kenv's build under Delve and its unit started again by
// down and after kill -9; after down --purge nothing of kenv is on the
// node. The
// cluster itself is checked first (Ready, logs through its kubelet, the
// same manifest over ssh and exec, the kubelet's kernel settings in the
// node), and the machine is as it was after it has gone.
func TestEndToEndCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Kubernetes and runs a kubeadm cluster, as root")
	}
	before := takeHost(t)
	t.Run("swap", swapInKubeadmCluster)
	// The cluster and kenv have gone with the subtest's cleanup.
	sameHost(t, "the kubeadm cluster", before, takeHost(t))
}

func swapInKubeadmCluster(t *testing.T) {
	cl := startKubeadmCluster(t, "swap")
	work := t.TempDir()
	home := filepath.Join(work, "state")
	k := kenvCLI{t: t, bin: kenvBinary, home: home}
	// in is kenv's CLI for the subtest t.
	in := func(t *testing.T) kenvCLI { return kenvCLI{t: t, bin: kenvBinary, home: home} }
	inNode := func(argv ...string) (string, error) {
		out, err := exec.Command(cl.Exec[0], append(cl.Exec[1:], argv...)...).CombinedOutput()
		return string(out), err
	}
	ports := freePorts(t, 2)
	dlvPort, kubeletDlv := ports[0], ports[1]
	dlvAddr := "127.0.0.1:" + strconv.Itoa(dlvPort)
	quoted := func(list []string) string {
		var q []string
		for _, s := range list {
			q = append(q, strconv.Quote(s))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	// How the specs reach the node: over ssh, or through the exec prefix.
	bySSH := fmt.Sprintf("ssh = %q\n    ssh_options = %s", cl.SSHTarget, quoted(cl.SSHOptions))
	byExec := "exec = " + quoted(cl.Exec)
	// writeSpec writes the spec name.hcl that swaps components on the
	// node, reached as reach says.
	writeSpec := func(name, reach, components string) string {
		path := filepath.Join(work, name+".hcl")
		writeFile(t, path, fmt.Sprintf(`
cluster {
  kubeconfig    = %q
  restore_after = "15s"
  node %q {
    %s
  }
}
%s`, cl.Kubeconfig, cl.NodeName, reach, components))
		return path
	}
	// The control plane's swap: kube-apiserver under Delve, stopping at
	// a namespace's create, and the scheduler.
	controlPlane := fmt.Sprintf(`component "kube-apiserver" {
  debug {
    port = %d
    breakpoint %q {
      condition = "e.DefaultQualifiedResource.Resource == \"namespaces\""
    }
  }
}
component "kube-scheduler" {}
`, dlvPort, storeCreate)
	overSSH := writeSpec("swap", bySSH, controlPlane)
	t.Cleanup(func() { _, _ = k.run("down", "--purge", "--name", "swap") })

	manifest := filepath.Join(cl.ManifestDir, "kube-apiserver.yaml")
	cs := clientset(t, cl.Kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	staticPod := "kube-apiserver-" + cl.NodeName
	podStarted := func() time.Time {
		pod, err := cs.CoreV1().Pods("kube-system").Get(ctx, staticPod, metav1.GetOptions{})
		if err != nil || len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Running == nil {
			return time.Time{}
		}
		return pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	}
	before := podStarted()
	if before.IsZero() {
		t.Fatalf("the cluster's %s is not running", staticPod)
	}
	// putBack waits until the original static pod runs again, started
	// after since, Ready, and the API server answers.
	putBack := func(t *testing.T, since time.Time, within time.Duration) {
		t.Helper()
		waitFor(t, within, "the static pod kube-apiserver back and Ready", func() bool {
			if _, err := inNode("test", "-f", manifest); err != nil {
				return false
			}
			pod, err := cs.CoreV1().Pods("kube-system").Get(ctx, staticPod, metav1.GetOptions{})
			if err != nil || len(pod.Status.ContainerStatuses) == 0 {
				return false
			}
			st := pod.Status.ContainerStatuses[0]
			return st.Ready && st.State.Running != nil && st.State.Running.StartedAt.After(since)
		})
	}

	t.Run("the kubeadm cluster runs as a user's does", func(t *testing.T) {
		pod, err := cs.CoreV1().Pods("kube-system").Get(ctx, staticPod, metav1.GetOptions{})
		if err != nil || len(pod.Status.ContainerStatuses) == 0 || !pod.Status.ContainerStatuses[0].Ready {
			t.Errorf("the mirror pod %s is not Ready: %v", staticPod, err)
		}
		tail := int64(5)
		if log, err := cs.CoreV1().Pods("kube-system").GetLogs(staticPod, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx); err != nil || len(log) == 0 {
			t.Errorf("the log of %s through the kubelet: %v", staticPod, err)
		}
		overSSH, err := exec.CommandContext(ctx, "ssh", append(append(append([]string{}, cl.SSHOptions...), cl.SSHTarget), "cat", manifest)...).CombinedOutput()
		if err != nil || !strings.Contains(string(overSSH), "--advertise-address="+cl.Address) {
			t.Errorf("ssh %s cat %s: %v\n%s", cl.SSHTarget, manifest, err, overSSH)
		}
		if overExec, err := inNode("cat", manifest); err != nil || overExec != string(overSSH) {
			t.Errorf("%s cat %s: %v\n%s", strings.Join(cl.Exec, " "), manifest, err, overExec)
		}
		if state, err := inNode("systemctl", "is-active", agent.KubeletUnit); err != nil || strings.TrimSpace(state) != "active" {
			t.Errorf("the node's systemd does not run the kubelet: %s %v", state, err)
		}
		// The kubelet sets kernel.panic to 10: in the node's own file.
		if set, err := inNode("cat", "/proc/sys/kernel/panic"); err != nil || strings.TrimSpace(set) != "10" {
			t.Errorf("kernel.panic in the node is %q (%v), want the kubelet's 10", set, err)
		}
	})

	t.Run("a node without the static pod is refused, and nothing changes there", func(t *testing.T) {
		k := in(t)
		elsewhere := writeSpec("elsewhere", bySSH+"\n    manifests = \"/etc/kubernetes/elsewhere\"", controlPlane)
		out, err := k.run("up", "-d", elsewhere)
		if err == nil || !strings.Contains(out, "runs no static pod kube-apiserver: /etc/kubernetes/elsewhere/kube-apiserver.yaml cannot be read") || !strings.Contains(out, "/etc/kubernetes/elsewhere does not exist") {
			t.Errorf("up on a node without the static pod: %v", err)
		}
		if out, err := inNode("ls", "/var/lib/kenv"); err == nil {
			t.Errorf("the refused up left /var/lib/kenv on the node: %s", out)
		}
		if _, err := inNode("test", "-f", manifest); err != nil {
			t.Errorf("the refused up moved %s", manifest)
		}
	})

	var swappedAt time.Time
	t.Run("up swaps the static pods for the debug builds, kube-apiserver under Delve", func(t *testing.T) {
		k := in(t)
		swappedAt = time.Now().Add(-time.Second)
		out := k.mustRun("up", "-d", "--timeout", "10m", overSSH)
		if !strings.Contains(out, "kenv builds kubernetes@"+cl.Version) {
			t.Errorf("up does not say it builds the cluster's version %s", cl.Version)
		}
		if _, err := inNode("test", "-e", manifest); err == nil {
			t.Errorf("%s is still in the manifests directory", manifest)
		}
		// status, and the session that runs the swap on this machine.
		var st struct {
			Components []struct {
				Name, Status, DebugAddress string
			}
		}
		if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "swap", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Components) != 2 || st.Components[0].Name != cl.NodeName+"/kube-apiserver" ||
			st.Components[0].Status != "ready" || st.Components[0].DebugAddress != dlvAddr ||
			st.Components[1].Name != cl.NodeName+"/kube-scheduler" || st.Components[1].Status != "ready" {
			t.Errorf("status: %+v", st.Components)
		}
		// The scheduler's /healthz answered on the node's loopback, from
		// kenv's build: the kubelet's pod is gone.
		if _, err := inNode("test", "-e", filepath.Join(cl.ManifestDir, "kube-scheduler.yaml")); err == nil {
			t.Errorf("kube-scheduler's manifest is still in the manifests directory")
		}
		// Delve on the node listens on its loopback, nothing else.
		ss, err := inNode("ss", "-Htlnp")
		if err != nil {
			t.Fatalf("ss in the node: %v\n%s", err, ss)
		}
		var dlv []string
		for _, line := range strings.Split(ss, "\n") {
			if strings.Contains(line, `"dlv`) {
				dlv = append(dlv, strings.Fields(line)[3])
			}
		}
		if len(dlv) != 1 || dlv[0] != dlvAddr {
			t.Errorf("Delve listens at %v on the node, want %s only:\n%s", dlv, dlvAddr, ss)
		}
	})

	t.Run("a create stops at the spec's breakpoint through kenv's tunnel", func(t *testing.T) {
		client := connectDelve(t, dlvAddr, time.Minute)
		created := make(chan error, 1)
		go func() {
			_, err := cs.CoreV1().Namespaces().Create(ctx, namespace("created-under-kenv"), metav1.CreateOptions{})
			created <- err
		}()
		st := waitHalted(t, client, 2*time.Minute)
		obj, err := client.EvalVariable(api.EvalScope{GoroutineID: -1}, "obj",
			api.LoadConfig{FollowPointers: true, MaxVariableRecurse: 4, MaxStringLen: 64, MaxStructFields: -1})
		if err != nil {
			t.Fatal(err)
		}
		if name := field(obj, "ObjectMeta", "Name"); name != "created-under-kenv" {
			t.Errorf("stopped at %s creating %q, not our namespace", st.CurrentThread.Function.Name(), name)
		}
		client.Continue() // returns at the next stop, or never
		select {
		case err := <-created:
			if err != nil {
				t.Fatalf("the create after continue: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("the create did not finish after continue")
		}
	})

	t.Run("a restart hands over: the static pod stays aside", func(t *testing.T) {
		k := in(t)
		back := make(chan bool, 1)
		stop := make(chan struct{})
		go func() {
			seen := false
			for {
				select {
				case <-stop:
					back <- seen
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := inNode("test", "-e", manifest); err == nil {
					seen = true
				}
			}
		}()
		k.mustRun("restart", "--name", "swap", "kube-apiserver")
		close(stop)
		if <-back {
			t.Errorf("the static pod's manifest came back during the restart")
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "created-under-kenv", metav1.GetOptions{}); err != nil {
			t.Errorf("through the restarted kube-apiserver: %v", err)
		}
	})

	t.Run("down puts the static pod back, Ready, with the object kept", func(t *testing.T) {
		k := in(t)
		// The detached supervisor puts the cluster back; down says so.
		if out := k.mustRun("down", "--name", "swap"); !strings.Contains(out, staticPod+" is back, Ready (") {
			t.Errorf("down does not say %s is back:\n%s", staticPod, out)
		}
		putBack(t, swappedAt, 4*time.Minute)
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "created-under-kenv", metav1.GetOptions{}); err != nil {
			t.Errorf("the namespace created under kenv: %v", err)
		}
	})

	t.Run("over exec a second up ships nothing; kill -9 leaves the node to put the pod back", func(t *testing.T) {
		k := in(t)
		overExec := writeSpec("swap", byExec, controlPlane)
		out := k.mustRun("up", "-d", "--timeout", "10m", overExec)
		if !strings.Contains(out, "has everything already") {
			t.Errorf("the second up shipped files again")
		}
		swappedAt = time.Now()
		if _, err := inNode("test", "-e", manifest); err == nil {
			t.Errorf("%s is still in the manifests directory", manifest)
		}
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "created-under-kenv", metav1.GetOptions{}); err != nil {
			t.Errorf("through the swapped kube-apiserver: %v", err)
		}
		// The agent runs apart from kenv's process group even when the
		// exec prefix makes it kenv's child (nsenter).
		if err := syscall.Kill(supervisorPid(t, k), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// restore_after (15 s), then the kubelet's start of the pod.
		putBack(t, swappedAt, 4*time.Minute)
		t.Logf("FIGURE static pod back and Ready after kill -9 of kenv: %s", time.Since(killed).Round(time.Second))
		agentLog, _ := inNode("grep", "kenv-agent", "/var/lib/kenv/swap/logs/kube-apiserver.log")
		t.Logf("the node's agent said:\n%s", agentLog)
		k.mustRun("down", "--name", "swap")
	})

	t.Run("the kubelet: systemd's unit stopped, kenv's build under Delve in its place, the unit back on down and after kill -9", func(t *testing.T) {
		k := in(t)
		kubeletPid := func() string {
			out, _ := inNode("systemctl", "show", "--property=MainPID", "--value", agent.KubeletUnit)
			return strings.TrimSpace(out)
		}
		// back waits until systemd runs a kubelet other than was, the
		// node Ready.
		back := func(t *testing.T, was string, within time.Duration) {
			t.Helper()
			waitFor(t, within, "kubelet.service running again", func() bool {
				pid := kubeletPid()
				return pid != "0" && pid != "" && pid != was
			})
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := waitNodeReady(ctx, cs, cl.NodeName); err != nil {
				t.Errorf("node %s after the kubelet came back: %v", cl.NodeName, err)
			}
		}
		// swapped checks that kenv's kubelet runs in the unit's place, with
		// its flags, under Delve on the node's loopback, and the node Ready.
		swapped := func(t *testing.T) {
			t.Helper()
			if state, _ := inNode("systemctl", "is-active", agent.KubeletUnit); strings.TrimSpace(state) != "inactive" {
				t.Errorf("kubelet.service is %q while kenv's kubelet runs, want inactive", strings.TrimSpace(state))
			}
			ps, _ := inNode("ps", "-eo", "args")
			var build string
			for _, line := range strings.Split(ps, "\n") {
				if strings.HasPrefix(line, "/var/lib/kenv/kubelet/bin/kubelet ") {
					build = line
				}
			}
			if !strings.Contains(build, "--config=/var/lib/kubelet/config.yaml") || !strings.Contains(build, "--node-ip="+cl.Address) {
				t.Errorf("kenv's kubelet does not run with the unit's flags; the node runs:\n%s", ps)
			}
			ss, _ := inNode("ss", "-Htlnp")
			if !strings.Contains(ss, "127.0.0.1:"+strconv.Itoa(kubeletDlv)+" ") {
				t.Errorf("Delve does not listen at 127.0.0.1:%d on the node:\n%s", kubeletDlv, ss)
			}
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := waitNodeReady(ctx, cs, cl.NodeName); err != nil {
				t.Errorf("node %s under kenv's kubelet: %v", cl.NodeName, err)
			}
		}
		kubeletSpec := fmt.Sprintf(`component "kubelet" {
  debug {
    port = %d
  }
}
`, kubeletDlv)

		was := kubeletPid()
		if was == "0" || was == "" {
			t.Fatalf("kubelet.service runs no kubelet (MainPID %q)", was)
		}
		k.mustRun("up", "-d", "--timeout", "10m", writeSpec("kubelet", bySSH, kubeletSpec))
		swapped(t)
		var st struct {
			Components []struct{ Name, Status, DebugAddress string }
		}
		if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "kubelet", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Components) != 1 || st.Components[0].Name != cl.NodeName+"/kubelet" || st.Components[0].Status != "ready" ||
			st.Components[0].DebugAddress != "127.0.0.1:"+strconv.Itoa(kubeletDlv) {
			t.Errorf("status: %+v", st.Components)
		}
		// Through kenv's tunnel, the node's kubelet stops in SyncPod for
		// a pod bound to the node, and runs it once let go.
		client := connectDelve(t, st.Components[0].DebugAddress, time.Minute)
		if _, err := client.Halt(); err != nil {
			t.Fatalf("halt the node's kubelet: %v", err)
		}
		bp, err := client.CreateBreakpoint(&api.Breakpoint{FunctionName: syncPod})
		if err != nil {
			t.Fatalf("breakpoint in the node's kubelet: %v", err)
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "under-kenvs-kubelet", Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: cl.NodeName, Containers: []corev1.Container{{
				Name: "pause", Image: node.PauseImage, ImagePullPolicy: corev1.PullNever}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		stoppedAtPod(t, client, bp.ID, pod.Name)
		if _, err := client.ClearBreakpoint(bp.ID); err != nil {
			t.Fatal(err)
		}
		if err := client.Disconnect(true); err != nil {
			t.Fatal(err)
		}
		waitPodRunning(ctx, t, cs, pod.Name)
		out := k.mustRun("down", "--name", "kubelet")
		if !strings.Contains(out, "node "+cl.NodeName+"'s kubelet is back, Ready") {
			t.Errorf("down does not say the kubelet is back:\n%s", out)
		}
		back(t, was, 30*time.Second)

		// Over exec, kill -9 of kenv: the node's agent starts the unit
		// again after restore_after.
		was = kubeletPid()
		k.mustRun("up", "-d", "--timeout", "10m", writeSpec("kubelet", byExec, kubeletSpec))
		swapped(t)
		if err := syscall.Kill(supervisorPid(t, k), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		back(t, was, 2*time.Minute)
		t.Logf("FIGURE kubelet.service running again after kill -9 of kenv: %s", time.Since(killed).Round(time.Second))
		k.mustRun("down", "--purge", "--name", "kubelet")
	})

	t.Run("up --watch from a checkout: an edit ships the rebuilt scheduler and restarts it in place", func(t *testing.T) {
		// A checkout of the cluster's release; its binaries go to a cache
		// of the test's.
		checkout := moduleCheckout(t, ctx, cl.Version, work)
		k := in(t)
		k.env = []string{"KENV_CACHE=" + filepath.Join(work, "cache")}
		specPath := filepath.Join(work, "swap.hcl")
		writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  path = "./kubernetes"
}
cluster {
  kubeconfig = %q
  node %q {
    exec = %s
  }
}
component "kube-scheduler" {}
`, cl.Kubeconfig, cl.NodeName, quoted(cl.Exec)))
		k.mustRun("up", "-d", "--watch", "--timeout", "10m", specPath)
		scheduler := "/var/lib/kenv/swap/bin/kube-scheduler"
		shipped := func() string {
			sum, err := inNode("sha256sum", scheduler)
			if err != nil {
				t.Fatalf("sha256sum %s on the node: %v\n%s", scheduler, err, sum)
			}
			return strings.Fields(sum)[0]
		}
		first := shipped()
		supervisorLog := filepath.Join(home, "swap", "logs", "kenv.log")
		waitFor(t, time.Minute, "the watch loop to watch", func() bool {
			return strings.Contains(readFile(t, supervisorLog), "Watching the ")
		})

		editCycle(t, filepath.Join(checkout, "pkg", "scheduler", "schedule_one.go"), `klog.FromContext(ctx).V(5).Info("kenv edit on the node")`)
		var round string
		waitFor(t, 5*time.Minute, "the round of the edit", func() bool {
			for l := range strings.Lines(readFile(t, supervisorLog)) {
				if strings.HasPrefix(l, "↻ ") || strings.HasPrefix(l, "✗ ") {
					round = strings.TrimSpace(l)
				}
			}
			return round != ""
		})
		if !strings.HasPrefix(round, "↻ pkg/scheduler/schedule_one.go: built ") || !strings.Contains(round, "restarted "+cl.NodeName+"/kube-scheduler, ready in") {
			t.Errorf("the edit's round: %q, want the node's scheduler rebuilt and restarted", round)
		}
		if first == shipped() {
			t.Errorf("the node still runs the scheduler shipped first")
		}
		if out, err := inNode("grep", "-c", "kenv edit on the node", scheduler); err != nil {
			t.Errorf("the scheduler on the node is not the edited build: %v %s", err, out)
		}
		if _, err := inNode("test", "-e", filepath.Join(cl.ManifestDir, "kube-scheduler.yaml")); err == nil {
			t.Errorf("kube-scheduler's static pod came back during the restart")
		}
		var st struct {
			Components []struct{ Name, Status string }
		}
		if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "swap", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Components) != 1 || st.Components[0].Status != "ready" {
			t.Errorf("status after the edit: %+v", st.Components)
		}
		k.mustRun("down", "--purge", "--name", "swap")
	})

	t.Run("after down --purge nothing of kenv is on the node", func(t *testing.T) {
		if out, err := inNode("ls", "/var/lib/kenv"); err == nil {
			t.Errorf("/var/lib/kenv is still on the node: %s", out)
		}
		ps, _ := inNode("ps", "-eo", "args")
		if strings.Contains(ps, "/var/lib/kenv/") {
			t.Errorf("a process of kenv still runs on the node:\n%s", ps)
		}
		if ss, _ := inNode("ss", "-Htlnp"); strings.Contains(ss, ":"+strconv.Itoa(dlvPort)+" ") {
			t.Errorf("something listens at Delve's port on the node:\n%s", ss)
		}
	})
}

// supervisorPid is the pid of the environment's supervisor, from its state.
func supervisorPid(t *testing.T, k kenvCLI) int {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(k.home, "*", "state.json"))
	if len(matches) != 1 {
		t.Fatalf("state files: %v", matches)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"Supervisor":\s*\{\s*"Pid":\s*(\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no supervisor pid in %s", matches[0])
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}
