//go:build e2e

package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/source"
)

// TestEndToEndWatch runs `kenv up -d --watch` on a checkout laid out from
// the module source, with the scheduler under Delve and a breakpoint in
// its scheduling cycle, and edits the checkout as a person would: a
// change to the scheduling cycle rebuilds and restarts the scheduler
// alone, under Delve on the same address, where the breakpoint is hit
// again; a change that does not compile leaves the scheduler running and
// says where the error is; fixing it recovers; the spec's flags apply
// when it is saved. What was stored before the edits is still there.
func TestEndToEndWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	work := t.TempDir()
	checkout := moduleCheckout(t, ctx, e2eVersion(), work)

	// The checkout's binaries go to a temporary cache; Go's build cache is
	// shared, and serves the tree at its new path (-trimpath).
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state"), env: []string{"KENV_CACHE=" + filepath.Join(work, "cache")}}
	p := freePorts(t, 6)
	specPath := filepath.Join(work, "watch.hcl")
	spec := func(schedulerExtra string) string {
		return fmt.Sprintf(`name = "watch"
kubernetes {
  path = "./kubernetes"
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
  debug {
    port = %d
    breakpoint "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle" {}
  }
  %s
}
`, p[0], p[1], p[2], p[3], p[4], p[5], schedulerExtra)
	}
	writeFile(t, specPath, spec(""))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "watch") })
	k.mustRun("up", "-d", "--watch", specPath)
	cs := clientset(t, strings.TrimSpace(k.mustRun("kubeconfig", "--name", "watch")))
	delveAt := fmt.Sprintf("127.0.0.1:%d", p[5])
	pids := func() map[string]int {
		out := map[string]int{}
		for _, c := range readState(t, k, "watch").Components {
			out[c.Name] = c.Process.Pid
		}
		return out
	}
	supervisorLog := filepath.Join(k.home, "watch", "logs", "kenv.log")
	rounds := 0
	// nextRound waits for the watch loop's next line of a round and
	// returns it.
	nextRound := func(what string) string {
		t.Helper()
		rounds++
		var line string
		waitFor(t, 5*time.Minute, what, func() bool {
			var n int
			for l := range strings.Lines(readFile(t, supervisorLog)) {
				if strings.HasPrefix(l, "↻ ") || strings.HasPrefix(l, "✗ ") || strings.HasPrefix(l, "• ") {
					if n++; n == rounds {
						line = strings.TrimSpace(l)
					}
				}
			}
			return line != ""
		})
		return line
	}

	// The loop lists the packages before it watches them.
	waitFor(t, time.Minute, "the watch loop to watch", func() bool {
		return strings.Contains(readFile(t, supervisorLog), "Watching the ")
	})
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hitSchedulingCycle(t, ctx, cs, delveAt, "before")
	first := pids()

	schedulingCycle := filepath.Join(checkout, "pkg", "scheduler", "schedule_one.go")
	editCycle(t, schedulingCycle, `klog.FromContext(ctx).V(5).Info("kenv edit", "n", 1)`)
	line := nextRound("the round of the first edit")
	if !strings.HasPrefix(line, "↻ pkg/scheduler/schedule_one.go: built ") || !strings.Contains(line, "restarted kube-scheduler, ready in") ||
		strings.Contains(line, "restarted kube-controller-manager") || !strings.Contains(line, "breakpoints set again") {
		t.Errorf("the first edit's round: %q, want the scheduler alone restarted, its breakpoints set again", line)
	}
	second := pids()
	if second["kube-apiserver"] != first["kube-apiserver"] || second["kube-controller-manager"] != first["kube-controller-manager"] {
		t.Errorf("an edit in pkg/scheduler restarted more than the scheduler: pids %v, then %v", first, second)
	}
	if second["kube-scheduler"] == first["kube-scheduler"] {
		t.Errorf("the scheduler was not restarted: pid %d", first["kube-scheduler"])
	}
	// An IDE reconnects to the same address; the breakpoint is set again.
	hitSchedulingCycle(t, ctx, cs, delveAt, "after")
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Errorf("the namespace made before the edit: %v", err)
	}
	if status := k.mustRun("status", "--name", "watch"); !strings.Contains(status, "kube-scheduler last rebuilt at") ||
		!strings.Contains(status, "for pkg/scheduler/schedule_one.go") {
		t.Errorf("kenv status does not say when the scheduler was rebuilt, and for which change:\n%s", status)
	}

	editCycle(t, schedulingCycle, `kenvUndefined()`)
	line = nextRound("the round of the edit that does not compile")
	if !strings.HasPrefix(line, "✗ pkg/scheduler/schedule_one.go: the build of ") {
		t.Errorf("the failed build's round: %q", line)
	}
	if log := readFile(t, supervisorLog); len(regexp.MustCompile(`pkg/scheduler/schedule_one\.go:\d+:\d+: undefined: kenvUndefined`).FindAllString(log, -1)) != 1 {
		t.Errorf("the compiler's error is not said once, with its file and line:\n%s", log)
	}
	if now := pids(); now["kube-scheduler"] != second["kube-scheduler"] || !alive(now["kube-scheduler"]) {
		t.Errorf("a build that failed touched the running scheduler: pid %d, then %d", second["kube-scheduler"], now["kube-scheduler"])
	}

	replaceInFile(t, schedulingCycle, "\tkenvUndefined()\n", "\tklog.FromContext(ctx).V(5).Info(\"kenv edit\", \"n\", 2)\n")
	line = nextRound("the round of the fix")
	if !strings.HasPrefix(line, "↻ pkg/scheduler/schedule_one.go: built ") || !strings.Contains(line, "restarted kube-scheduler, ready in") {
		t.Errorf("the fix's round: %q", line)
	}
	third := pids()
	if third["kube-scheduler"] == second["kube-scheduler"] || third["kube-apiserver"] != first["kube-apiserver"] {
		t.Errorf("after the fix: pids %v, before %v", third, second)
	}

	// The spec: a flag restarts the scheduler with it; a port takes a new
	// environment, and nothing changes.
	writeFile(t, specPath, spec(`flags = { v = "5" }`))
	line = nextRound("the round of the spec's new flag")
	if !strings.HasPrefix(line, "↻ watch.hcl: restarted kube-scheduler with its new flags") {
		t.Errorf("the spec's round: %q", line)
	}
	if flags := k.mustRun("flags", "--name", "watch", "kube-scheduler"); !strings.Contains(flags, "--v=5") {
		t.Errorf("the scheduler does not run with the spec's new flag:\n%s", flags)
	}
	before := pids()
	writeFile(t, specPath, strings.Replace(spec(`flags = { v = "5" }`), fmt.Sprintf("port = %d\n}\ncomponent \"kube-controller-manager\"", p[2]),
		fmt.Sprintf("port = %d\n}\ncomponent \"kube-controller-manager\"", freePorts(t, 1)[0]), 1))
	line = nextRound("the round of the spec's new port")
	if !strings.HasPrefix(line, "• watch.hcl: ") || !strings.Contains(line, "takes a new environment") {
		t.Errorf("a new port in the spec: %q", line)
	}
	if after := pids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a spec change that takes a new environment restarted components: %v, then %v", before, after)
	}
}

// hitSchedulingCycle makes a pod for the scheduler to schedule, waits until the
// scheduler stops at the spec's breakpoint, takes the pod away and lets
// the scheduler go on.
func hitSchedulingCycle(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, delveAt, name string) {
	t.Helper()
	client := connectDelve(t, delveAt, time.Minute)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "none"}}}}
	// The namespace's service account comes from the controller-manager.
	var err error
	waitFor(t, time.Minute, "a pod to be admitted", func() bool {
		_, err = cs.CoreV1().Pods("kept").Create(ctx, pod, metav1.CreateOptions{})
		return err == nil
	})
	st := waitHalted(t, client, 2*time.Minute)
	if fn := st.CurrentThread.Function; fn == nil || !strings.HasSuffix(fn.Name(), "schedulingCycle") {
		t.Errorf("the scheduler stopped at %+v, not in its scheduling cycle", st.CurrentThread)
	}
	if err := cs.CoreV1().Pods("kept").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	go func() { <-client.Continue() }()
	waitFor(t, time.Minute, "the scheduler to run on", func() bool {
		s, err := client.GetStateNonBlocking()
		return err == nil && s.Running
	})
}

// editCycle adds stmt at the top of the scheduler's scheduling cycle.
func editCycle(t *testing.T, path, stmt string) {
	t.Helper()
	src := readFile(t, path)
	at := strings.Index(src, "func (sched *Scheduler) schedulingCycle(")
	if at < 0 {
		t.Fatalf("%s has no schedulingCycle", path)
	}
	body := at + strings.Index(src[at:], "{\n") + 2
	writeFile(t, path, src[:body]+"\t"+stmt+"\n"+src[body:])
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	src := readFile(t, path)
	if !strings.Contains(src, old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	writeFile(t, path, strings.Replace(src, old, new, 1))
}

// moduleCheckout lays the module source of Kubernetes version out in the
// cache, copies it to dir/kubernetes as a checkout a person edits, and
// returns that path. kenv builds it with -trimpath, so Go's build cache
// serves it at its new path.
func moduleCheckout(t *testing.T, ctx context.Context, version, dir string) string {
	t.Helper()
	cacheRoot, err := layout.CacheRoot()
	if err != nil {
		t.Fatal(err)
	}
	tree, err := source.FromModule(ctx, layout.Cache{Dir: cacheRoot}, version, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	checkout := filepath.Join(dir, "kubernetes")
	if out, err := exec.CommandContext(ctx, "cp", "-a", tree.Dir, checkout).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(checkout, ".kenv-source.json"))
	return checkout
}
