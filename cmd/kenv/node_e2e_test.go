//go:build e2e

package main_test

import (
	"context"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kenv-dev/kenv/env/node"
)

const syncPod = "k8s.io/kubernetes/pkg/kubelet.(*Kubelet).SyncPod"

// TestEndToEndNode makes this machine a node, offline: the kubelet under
// Delve and kube-proxy on kenv's containerd. A pod from an image built here
// (busybox as one layer) serves HTTP; logs, exec and a ClusterIP Service
// work; the kubelet stops at a breakpoint in its pod sync for that pod; and
// down leaves the machine as it was.
func TestEndToEndNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes, as root")
	}
	if err := node.Check(); err != nil {
		t.Fatal(err)
	}
	busybox, err := exec.LookPath("busybox")
	if err == nil {
		var f *elf.File
		if f, err = elf.Open(busybox); err == nil {
			defer f.Close()
			if slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
				err = fmt.Errorf("%s is linked dynamically", busybox)
			}
		}
	}
	if err != nil {
		t.Fatalf("a static busybox for the pod's image: %v (Debian: apt-get install busybox-static)", err)
	}
	work := t.TempDir()
	image := filepath.Join(work, "busybox.tar")
	if err := node.ExecutableImage(image, "kenv.test/busybox:e2e", busybox, v1.Config{Entrypoint: []string{"/busybox"}}); err != nil {
		t.Fatal(err)
	}
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 9)
	specPath := filepath.Join(work, "node.hcl")
	writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  version = %q
}
network {
  pod_cidr = "10.244.0.0/16"
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
component "kubelet" {
  port = %d
  debug {
    port = %d
  }
}
component "kube-proxy" {
  port  = %d
  flags = { metrics-bind-address = "127.0.0.1:%d" }
}
`, e2eVersion(), p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]))
	before := takeHost(t)
	t.Cleanup(func() { _, _ = k.run("down", "--name", "node") })

	start := time.Now()
	out := k.mustRun("up", "-d", specPath)
	upTook := time.Since(start)
	if !strings.Contains(out, "✓ node 127.0.0.1 Ready") {
		t.Fatal("up does not report the node Ready")
	}
	k.mustRun("image", "load", "--name", "node", image)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := clientset(t, filepath.Join(k.home, "node", "admin.kubeconfig"))
	dlv := rpc2.NewClient(fmt.Sprintf("127.0.0.1:%d", p[6]))
	if _, err := dlv.Halt(); err != nil {
		t.Fatalf("halt the kubelet: %v", err)
	}
	bp, err := dlv.CreateBreakpoint(&api.Breakpoint{FunctionName: syncPod})
	if err != nil {
		t.Fatalf("breakpoint in the kubelet: %v", err)
	}
	created := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, webPod(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stoppedAtPod(t, dlv, bp.ID, "web")
	if _, err := dlv.ClearBreakpoint(bp.ID); err != nil {
		t.Fatal(err)
	}
	if err := dlv.Disconnect(true); err != nil {
		t.Fatal(err)
	}
	running := waitPodRunning(ctx, t, cs, "web")
	t.Logf("figures: up -d %s (node Ready); pod Running %s after its creation, a breakpoint stop included",
		upTook.Round(100*time.Millisecond), running.Sub(created).Round(100*time.Millisecond))

	if out := k.mustRun("kubectl", "--name", "node", "--", "logs", "web"); !strings.Contains(out, "serving") {
		t.Errorf("kubectl logs: no line of the pod's")
	}
	if out := k.mustRun("kubectl", "--name", "node", "--", "exec", "web", "--", "/busybox", "cat", "/index.html"); !strings.Contains(out, "hello from a kenv pod") {
		t.Errorf("kubectl exec: got %q", out)
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// kube-proxy writes the Service's rules within a second or two.
	svcCtx, svcCancel := context.WithTimeout(ctx, time.Minute)
	defer svcCancel()
	body := getUntil(svcCtx, t, "http://"+net.JoinHostPort(svc.Spec.ClusterIP, "80")+"/")
	if !strings.Contains(body, "hello from a kenv pod") {
		t.Errorf("the Service's ClusterIP answered %q", body)
	}

	k.mustRun("down", "--name", "node")
	after := takeHost(t)
	for _, what := range slices.Sorted(maps.Keys(before)) {
		if added := addedTo(before[what], after[what]); len(added) > 0 {
			t.Errorf("down left %s: %s", what, strings.Join(added, "; "))
		}
	}
	if stays, err := os.Stat(filepath.Join(k.home, "node", "etcd")); err != nil || !stays.IsDir() {
		t.Errorf("etcd's data did not survive down: %v", err)
	}
}

func webPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:            "web",
			Image:           "kenv.test/busybox:e2e",
			ImagePullPolicy: corev1.PullNever,
			Command: []string{"/busybox", "sh", "-c",
				"echo hello from a kenv pod > /index.html; echo serving; exec /busybox httpd -f -p 8080 -h /"},
		}}},
	}
}

// stoppedAtPod continues the kubelet until it stops at breakpoint id for
// the named pod.
func stoppedAtPod(t *testing.T, dlv *rpc2.RPCClient, id int, pod string) {
	t.Helper()
	for range 20 {
		st := <-dlv.Continue()
		if st.Err != nil || st.Exited {
			t.Fatalf("continue the kubelet: %v (exited: %v)", st.Err, st.Exited)
		}
		th := st.CurrentThread
		if th == nil || th.Breakpoint == nil || th.Breakpoint.ID != id {
			continue
		}
		v, err := dlv.EvalVariable(api.EvalScope{GoroutineID: -1}, "pod.ObjectMeta.Name", api.LoadConfig{MaxStringLen: 64})
		if err != nil {
			t.Fatalf("read the pod at the breakpoint: %v", err)
		}
		t.Logf("the kubelet stopped at %s:%d syncing pod %s", th.File, th.Line, v.Value)
		if v.Value == pod {
			return
		}
	}
	t.Fatalf("the kubelet did not stop in SyncPod for pod %s", pod)
}

func waitPodRunning(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, name string) time.Time {
	t.Helper()
	for ctx.Err() == nil {
		pod, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && pod.Status.Phase == corev1.PodRunning {
			return time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s is not Running", name)
	return time.Time{}
}

// getUntil GETs url until it answers 200, and returns the body.
func getUntil(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	// A new connection each time: one made before kube-proxy's rules
	// went elsewhere.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var last error
	for ctx.Err() == nil {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: %v", url, last)
	return ""
}

// takeHost lists what a node may leave on the machine: iptables chains and
// rules (v4 and v6), network interfaces, mounts, the processes of
// containerd's shims, cgroups named after kenv, and the directories
// beside the system's /run, /var/lib and /var/log.
func takeHost(t *testing.T) map[string][]string {
	t.Helper()
	h := map[string][]string{}
	for _, family := range []string{"iptables", "ip6tables"} {
		out, err := exec.Command(family + "-save").Output()
		if err != nil {
			t.Fatalf("%s-save: %v", family, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			// A table iptables loads for the first time shows its
			// built-in chains, empty, with their ACCEPT policy.
			if strings.HasPrefix(line, "-A ") || strings.HasPrefix(line, ":") && !strings.Contains(line, " ACCEPT ") {
				h[family] = append(h[family], line)
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		h["network interfaces"] = append(h["network interfaces"], i.Name)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			h["mounts"] = append(h["mounts"], f[4])
		}
	}
	if out, err := exec.Command("pgrep", "-a", "containerd-shim").Output(); err == nil {
		h["shims"] = strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/kenv-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/kenv-*")
	h["cgroups"] = append(cgroups, more...)
	for _, dir := range []string{"/run", "/var/lib", "/var/log"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			h["directories"] = append(h["directories"], filepath.Join(dir, e.Name()))
		}
	}
	return h
}

// addedTo lists what after holds that before does not, as many times as
// it is added.
func addedTo(before, after []string) []string {
	remaining := slices.Clone(before)
	var added []string
	for _, a := range after {
		if i := slices.Index(remaining, a); i >= 0 {
			remaining = slices.Delete(remaining, i, i+1)
			continue
		}
		added = append(added, a)
	}
	return added
}
