//go:build e2e

package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

// skewVersion is the release of the scheduler built from a source of its
// own, one minor older than kube-apiserver's, with the toolchain it asks
// for (Go 1.25.11 for v1.33.13, not the tests' release's 1.24.12): the
// end-to-end tests' older release. KENV_E2E_SKEW_VERSION chooses another.
func skewVersion() string {
	if v := os.Getenv("KENV_E2E_SKEW_VERSION"); v != "" {
		return v
	}
	return "v1.33.13"
}

// TestEndToEndSkew runs kube-apiserver, the controller-manager and kwok
// of one release with a kube-scheduler of the release before, from a tree
// of its own, with its own toolchain, under Delve with a tracepoint in its
// own tree: it schedules pods onto the simulated nodes, says its version
// in its metrics, is locked with its own source, and `kenv restart` builds
// its tree alone.
func TestEndToEndSkew(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	apiVersion, schedVersion := e2eVersion(), skewVersion()
	if k, _ := plan.KindOf("kube-scheduler"); spec.CheckSkew(k.Kind, apiVersion, schedVersion) != nil {
		t.Skipf("the skew policy refuses a %s scheduler beside kube-apiserver %s: set KENV_E2E_SKEW_VERSION", schedVersion, apiVersion)
	}
	const nodes, replicas = 3, 6
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 7)
	specPath := filepath.Join(work, "skew.hcl")
	writeFile(t, specPath, fmt.Sprintf(`
kubernetes {
  version = %q
}
build {
  binaries = []
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
  kubernetes {
    version = %q
  }
  debug {
    port = %d
    breakpoint "pkg/scheduler/schedule_one.go:(*Scheduler).schedulingCycle" {
      trace = true
    }
  }
}
component "kwok" {
  port  = %d
  nodes = %d
}
`, apiVersion, p[0], p[1], p[2], p[3], p[4], schedVersion, p[5], p[6], nodes))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "skew") })

	planned := k.mustRun("plan", specPath)
	if !strings.Contains(planned, "kube-scheduler from its own source, "+schedVersion) {
		t.Errorf("kenv plan does not show the scheduler's own tree:\n%s", planned)
	}
	start := time.Now()
	out := k.mustRun("up", "-d", "--timeout", "10m", specPath)
	t.Logf("FIGURE up with a %s scheduler (its build cold when new): %s", schedVersion, time.Since(start).Round(time.Second))
	// The tracepoint resolved in the scheduler's own tree, not in the
	// environment's.
	own := "kubernetes@" + schedVersion + "/pkg/scheduler/schedule_one.go"
	if !regexp.MustCompile(`tracepoint .* in kube-scheduler at \S*` + regexp.QuoteMeta(own)).MatchString(out) {
		t.Errorf("the tracepoint was not set in %s's tree:\n%s", schedVersion, out)
	}
	if !strings.Contains(out, fmt.Sprintf("✓ %d simulated nodes Ready", nodes)) {
		t.Errorf("up does not report the simulated nodes Ready:\n%s", out)
	}

	// The scheduler says its release in its metrics (it serves no
	// /version), asked with the admin certificate. Its client CA comes
	// from a ConfigMap it may have been refused before kube-apiserver's
	// RBAC was in place; until its informer lists it again (a back-off of
	// up to half a minute) it takes every caller for system:anonymous, so
	// a 403 is asked again, for a minute at most.
	health, err := access.HealthClient(filepath.Join(k.home, "skew", "pki"))
	if err != nil {
		t.Fatal(err)
	}
	var metrics []byte
	var code int
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := health.Get(fmt.Sprintf("https://127.0.0.1:%d/metrics", p[4]))
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if code = resp.StatusCode; code != http.StatusForbidden || time.Now().After(deadline) {
			break
		}
	}
	if want := `git_version="` + schedVersion + `"`; !strings.Contains(string(metrics), want) {
		t.Errorf("the scheduler's kubernetes_build_info lacks %s (HTTP %d):\n%.2000s", want, code, metrics)
	}
	cs := clientset(t, filepath.Join(k.home, "skew", "admin.kubeconfig"))
	if v, err := cs.Discovery().ServerVersion(); err != nil || v.GitVersion != apiVersion {
		t.Errorf("kube-apiserver's /version: %v, %v; want %s", v, err, apiVersion)
	}
	lock := readFile(t, filepath.Join(work, "skew.lock.hcl"))
	if !regexp.MustCompile(`component "kube-scheduler" \{\s+kubernetes \{\s+version\s+= "` + regexp.QuoteMeta(schedVersion) + `"`).MatchString(lock) {
		t.Errorf("the lock does not record the scheduler's own source:\n%s", lock)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "skew"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "skew"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "pause"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitScheduled := func() {
		t.Helper()
		for {
			pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=skew"})
			onKwok := 0
			for _, pod := range pods.Items {
				if pod.Status.Phase == corev1.PodRunning && strings.HasPrefix(pod.Spec.NodeName, "kwok-node-") {
					onKwok++
				}
			}
			if err == nil && onKwok == replicas {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%d of %d replicas Running on simulated nodes (%v)", onKwok, replicas, err)
			}
			time.Sleep(time.Second)
		}
	}
	waitScheduled()
	trace := readFile(t, filepath.Join(k.home, "skew", "logs", "kube-scheduler-trace.log"))
	if hits := strings.Count(trace, "schedulingCycle("); hits < replicas {
		t.Errorf("%d scheduling cycles traced for %d pods", hits, replicas)
	}

	// A restart builds the scheduler's tree alone, with its toolchain.
	pids := func() map[string]int {
		var st state
		if err := json.Unmarshal([]byte(k.mustRun("status", "--name", "skew", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		pids := map[string]int{}
		for _, c := range st.Components {
			pids[c.Name] = c.Process.Pid
		}
		return pids
	}
	before := pids()
	out = k.mustRun("restart", "--name", "skew", "kube-scheduler")
	if !regexp.MustCompile(`build kube-scheduler with Go 1\.\d+\.\d+ from ` + regexp.QuoteMeta(schedVersion)).MatchString(out) {
		t.Errorf("restart does not build the scheduler from %s:\n%s", schedVersion, out)
	}
	if strings.Contains(out, "build kube-apiserver") || strings.Contains(out, "kube-controller-manager") {
		t.Errorf("restart of the scheduler built or touched another component:\n%s", out)
	}
	after := pids()
	for name, pid := range before {
		if changed := after[name] != pid; changed != (name == "kube-scheduler") {
			t.Errorf("pids before the restart %v, after %v: want the scheduler's alone changed", before, after)
			break
		}
	}
	if err := cs.AppsV1().Deployments("default").Delete(ctx, "skew", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	k.mustRun("down", "--name", "skew")
}
