//go:build e2e

package main_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kenv-dev/kenv/env/node"
)

const syncPod = "k8s.io/kubernetes/pkg/kubelet.(*Kubelet).SyncPod"

// TestEndToEndNodes runs real nodes in namespaces of their own, offline:
// environment A with three nodes, node-2's kubelet under Delve, beside
// environment B with two. In A a pod bound to node-2 stops the kubelet at
// a breakpoint in its pod sync; a DaemonSet runs a pod from an image built
// here (busybox as one layer) on every node; the pod on node-0 reaches the
// one on node-2 by its IP and through a ClusterIP Service, which this
// machine reaches too, and finds it by its name through CoreDNS; logs and
// exec work; a third spec in A's ranges is refused. In B, `kenv e2e` runs
// the tree's e2e test of a pod. Then A's supervisor is
// killed with SIGKILL and `kenv down` sweeps what it left; A comes up
// again with its data, B goes down as usual, and the machine is as it was.
func TestEndToEndNodes(t *testing.T) {
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
		t.Fatalf("a static busybox for the pods' image: %v (Debian: apt-get install busybox-static)", err)
	}
	work := t.TempDir()
	image := filepath.Join(work, "busybox.tar")
	if err := node.ExecutableImage(image, "kenv.test/busybox:e2e", busybox, v1.Config{Entrypoint: []string{"/busybox"}}); err != nil {
		t.Fatal(err)
	}
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	before := takeHost(t)

	// Ranges of their own, apart from anything this machine routes.
	a := nodesSpec(t, work, "nodes-a", "10.231", image, []string{"node-0", "node-1", "node-2"}, true)
	b := nodesSpec(t, work, "nodes-b", "10.232", image, []string{"node-0", "node-1"}, false)
	t.Cleanup(func() {
		_, _ = k.run("down", "--name", "nodes-a")
		_, _ = k.run("down", "--name", "nodes-b")
	})
	start := time.Now()
	out := k.mustRun("up", "-d", a.path)
	upA := time.Since(start)
	if !strings.Contains(out, "✓ 3 nodes Ready: node-0, node-1, node-2") {
		t.Fatal("up does not report the three nodes Ready")
	}
	start = time.Now()
	k.mustRun("up", "-d", b.path)
	upB := time.Since(start)
	t.Logf("FIGURES up -d of three nodes %s, of two beside them %s", upA.Round(100*time.Millisecond), upB.Round(100*time.Millisecond))

	// A third spec in A's ranges is refused before anything starts, at
	// its lines.
	clash := nodesSpec(t, work, "nodes-c", "10.231", image, []string{"node-0"}, false)
	out, err = k.run("up", "-d", clash.path)
	if err == nil || !regexp.MustCompile(`nodes-c\.hcl:\d+,\d+-\d+: the nodes' range 10\.231\.0\.0/24 overlaps the route to 10\.231\.0\.0/24 on kenv-nodes-a`).MatchString(out) {
		t.Errorf("up of a spec in nodes-a's ranges: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(k.home, "nodes-c", "state.json")); err == nil {
		t.Errorf("the refused environment left a state file")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := clientset(t, filepath.Join(k.home, "nodes-a", "admin.kubeconfig"))
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Name == "node-1" && n.Labels["topology.kubernetes.io/zone"] != "b" {
			t.Errorf("node-1's labels %v lack the spec's zone", n.Labels)
		}
		if n.Spec.PodCIDR == "" || n.Status.Addresses[0].Address == "127.0.0.1" {
			t.Errorf("node %s: pod range %q, addresses %v", n.Name, n.Spec.PodCIDR, n.Status.Addresses)
		}
	}

	// node-2's kubelet stops in SyncPod for a pod bound to node-2. Its
	// Delve listens in the node, reached through this machine's loopback.
	dlv := rpc2.NewClient(fmt.Sprintf("127.0.0.1:%d", a.delve))
	if _, err := dlv.Halt(); err != nil {
		t.Fatalf("halt node-2's kubelet: %v", err)
	}
	bp, err := dlv.CreateBreakpoint(&api.Breakpoint{FunctionName: syncPod})
	if err != nil {
		t.Fatalf("breakpoint in node-2's kubelet: %v", err)
	}
	bound := webPod()
	bound.Spec.NodeName = "node-2"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, bound, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stoppedAtPod(t, dlv, bp.ID, "web")
	if _, err := dlv.ClearBreakpoint(bp.ID); err != nil {
		t.Fatal(err)
	}
	if err := dlv.Disconnect(true); err != nil {
		t.Fatal(err)
	}
	waitPodRunning(ctx, t, cs, "web")

	// A DaemonSet's pod Running on each node.
	labels := map[string]string{"app": "everywhere"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "everywhere"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: webPod().Spec},
		},
	}
	if _, err := cs.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	onNode := map[string]corev1.Pod{}
	for ctx.Err() == nil && len(onNode) < 3 {
		time.Sleep(time.Second)
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=everywhere"})
		if err != nil {
			continue
		}
		clear(onNode)
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				onNode[p.Spec.NodeName] = p
			}
		}
	}
	if len(onNode) < 3 {
		t.Fatalf("the DaemonSet runs on %d nodes, want 3", len(onNode))
	}

	// The pod on node-0 reaches the pod on node-2 by its IP, and the
	// Service by its ClusterIP; this machine reaches the Service too.
	from, to := onNode["node-0"], onNode["node-2"]
	wget := func(url string) string {
		out, err := k.run("kubectl", "--name", "nodes-a", "--", "exec", from.Name, "--", "/busybox", "wget", "-q", "-O", "-", url)
		if err != nil {
			t.Errorf("from %s on node-0, %s: %v\n%s", from.Name, url, err, out)
		}
		return out
	}
	if out := wget("http://" + net.JoinHostPort(to.Status.PodIP, "8080") + "/"); !strings.Contains(out, "hello from a kenv pod") {
		t.Errorf("the pod on node-2 answered %q", out)
	}
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "everywhere"},
		Spec: corev1.ServiceSpec{Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svcCtx, svcCancel := context.WithTimeout(ctx, time.Minute)
	defer svcCancel()
	if body := getUntil(svcCtx, t, "http://"+net.JoinHostPort(svc.Spec.ClusterIP, "80")+"/"); !strings.Contains(body, "hello from a kenv pod") {
		t.Errorf("the Service's ClusterIP answered this machine %q", body)
	}
	if out := wget("http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"); !strings.Contains(out, "hello from a kenv pod") {
		t.Errorf("the Service's ClusterIP answered the pod on node-0 %q", out)
	}
	// A pod finds the Service by its name, through the cluster's DNS.
	if out, err := k.run("kubectl", "--name", "nodes-a", "--", "exec", from.Name, "--", "/busybox", "nslookup", "everywhere.default.svc.cluster.local"); err != nil || !strings.Contains(out, svc.Spec.ClusterIP) {
		t.Errorf("the pod on node-0 looked up everywhere.default.svc.cluster.local: %v\n%s\nwant %s", err, out, svc.Spec.ClusterIP)
	}
	if out := k.mustRun("kubectl", "--name", "nodes-a", "--", "logs", "web"); !strings.Contains(out, "serving") {
		t.Errorf("kubectl logs: no line of the pod's")
	}
	if out := k.mustRun("logs", "--name", "nodes-a", "--node", "node-2", "kubelet"); !strings.Contains(out, "kubelet") {
		t.Errorf("kenv logs --node node-2 kubelet printed no kubelet log")
	}

	// B's nodes are its own.
	csB := clientset(t, filepath.Join(k.home, "nodes-b", "admin.kubeconfig"))
	if nodes, err := csB.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil || len(nodes.Items) != 2 {
		t.Errorf("environment B's nodes: %v, %v", nodes, err)
	}
	// The tree's e2e test of a pod passes on B's nodes: its pod runs e2e's
	// pause image, which is the one kenv built.
	suiteBuilt(t)
	out = k.mustRun("e2e", "--name", "nodes-b", "--focus", `Pods should get a host IP`)
	if !regexp.MustCompile(`(?m)^Ran 1 of \d+ Specs? in `).MatchString(out) || !strings.Contains(out, "SUCCESS!") {
		t.Errorf("kenv e2e of a test that runs a pod on a node does not print ginkgo's summary of one spec passed:\n%s", out)
	}
	if !regexp.MustCompile(`the nodes' pause image is \S+/pause:\S+ too`).MatchString(out) {
		t.Errorf("kenv e2e does not say the nodes' pause image has e2e's name:\n%s", out)
	}

	// A's supervisor dies; down sweeps what it left. B goes down as usual.
	var st state
	if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "nodes-a", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.Supervisor.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.mustRun("down", "--name", "nodes-a")

	// Up again: etcd's data, the images and the cluster's DNS are kept,
	// and the DaemonSet runs again on every node.
	k.mustRun("up", "-d", "--no-debug", a.path)
	for ctx.Err() == nil {
		ds, err := cs.AppsV1().DaemonSets("default").Get(ctx, "everywhere", metav1.GetOptions{})
		if err == nil && ds.Status.NumberReady == 3 {
			break
		}
		time.Sleep(time.Second)
	}
	if ctx.Err() != nil {
		t.Errorf("the DaemonSet is not Ready on the three nodes after down and up")
	}
	if out, err := k.run("kubectl", "--name", "nodes-a", "--", "get", "service", "-n", "kube-system", "kube-dns"); err != nil {
		t.Errorf("kube-dns after down and up: %v\n%s", err, out)
	}
	k.mustRun("down", "--name", "nodes-a")
	k.mustRun("down", "--name", "nodes-b")
	sameHost(t, "down", before, takeHost(t))
	if stays, err := os.Stat(filepath.Join(k.home, "nodes-a", "etcd")); err != nil || !stays.IsDir() {
		t.Errorf("etcd's data did not survive down: %v", err)
	}
}

// nodesSpec is a spec of nodes called names, in ranges under prefix
// ("10.231": nodes in 10.231.0.0/24, pods in 10.231.128.0/17, Services
// 10.231.1.0/24), the last node's kubelet under Delve, every node holding
// image, each node but the first labelled with its zone; with cluster DNS
// when dns.
type nodesSpecFile struct {
	path  string
	delve int
}

func nodesSpec(t *testing.T, dir, name, prefix, image string, names []string, dns bool) nodesSpecFile {
	t.Helper()
	p := freePorts(t, 6)
	var nodes strings.Builder
	for i, n := range names {
		fmt.Fprintf(&nodes, "node %q {\n", n)
		if i > 0 {
			fmt.Fprintf(&nodes, "  labels = { \"topology.kubernetes.io/zone\" = %q }\n", string(rune('a'+i)))
		}
		if i == len(names)-1 {
			fmt.Fprintf(&nodes, "  component \"kubelet\" {\n    debug {\n      port = %d\n    }\n  }\n", p[5])
		}
		nodes.WriteString("}\n")
	}
	if dns {
		nodes.WriteString("component \"coredns\" {}\n")
	}
	path := filepath.Join(dir, name+".hcl")
	writeFile(t, path, fmt.Sprintf(`
name = %q
kubernetes {
  version = %q
}
network {
  node_cidr    = "%[3]s.0.0/24"
  pod_cidr     = "%[3]s.128.0/17"
  service_cidr = "%[3]s.1.0/24"
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
  images = [%q]
}
component "kube-proxy" {}
%s`, name, e2eVersion(), prefix, p[0], p[1], p[2], p[3], p[4], image, nodes.String()))
	return nodesSpecFile{path: path, delve: p[5]}
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
// rules (v4 and v6), network interfaces, routes, network namespaces,
// mounts, the processes of containerd's shims, cgroups named after kenv
// and after the test's kubeadm clusters, the kernel settings the kubelets
// and kube-proxies write, and the directories beside the system's /run,
// /var/lib and /var/log.
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
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			// An exited shim its parent has not reaped yet holds nothing.
			if !strings.Contains(line, "<defunct>") {
				h["shims"] = append(h["shims"], line)
			}
		}
	}
	if out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output(); err == nil {
		h["routes"] = strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	netns, _ := os.ReadDir("/run/netns")
	for _, e := range netns {
		h["network namespaces"] = append(h["network namespaces"], e.Name())
	}
	for _, name := range []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
		"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"} {
		if v, err := os.ReadFile(filepath.Join("/proc/sys", name)); err == nil {
			h["kernel settings"] = append(h["kernel settings"], name+"="+strings.TrimSpace(string(v)))
		}
	}
	// kenv's, and the test's kubeadm clusters'.
	for _, pattern := range []string{"/sys/fs/cgroup/*/kenv-*", "/sys/fs/cgroup/kenv-*", "/sys/fs/cgroup/*/kadm-*", "/sys/fs/cgroup/kadm-*"} {
		cgroups, _ := filepath.Glob(pattern)
		h["cgroups"] = append(h["cgroups"], cgroups...)
	}
	for _, dir := range []string{"/run", "/var/lib", "/var/log"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			h["directories"] = append(h["directories"], filepath.Join(dir, e.Name()))
		}
	}
	return h
}

// sameHost fails t for each thing in after that before does not hold,
// and each thing gone from it: what left them is who.
func sameHost(t *testing.T, who string, before, after map[string][]string) {
	t.Helper()
	for _, what := range slices.Sorted(maps.Keys(before)) {
		if added := addedTo(before[what], after[what]); len(added) > 0 {
			t.Errorf("%s left %s: %s", who, what, strings.Join(added, "; "))
		}
		if gone := addedTo(after[what], before[what]); len(gone) > 0 {
			t.Errorf("%s took %s away: %s", who, what, strings.Join(gone, "; "))
		}
	}
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
