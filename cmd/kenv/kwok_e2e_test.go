//go:build e2e

package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestEndToEndKwok runs 100 simulated nodes beside the real control
// plane, with the scheduler under Delve tracing its scheduling cycle, and
// schedules a Deployment of 500 replicas onto them.
func TestEndToEndKwok(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	const nodes, replicas = 100, 500
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 7)
	specPath := filepath.Join(work, "kwok.hcl")
	writeFile(t, specPath, fmt.Sprintf(`
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
`, e2eVersion(), p[0], p[1], p[2], p[3], p[4], p[5], p[6], nodes))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "kwok") })

	start := time.Now()
	out := k.mustRun("up", "-d", specPath)
	upTook := time.Since(start)
	if !strings.Contains(out, fmt.Sprintf("✓ %d simulated nodes Ready", nodes)) {
		t.Errorf("up does not report the simulated nodes Ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cs := clientset(t, filepath.Join(k.home, "kwok", "admin.kubeconfig"))
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if len(list.Items) != nodes || ready != nodes {
		t.Fatalf("%d simulated nodes, %d Ready; want %d Ready", len(list.Items), ready, nodes)
	}

	labels := map[string]string{"app": "web"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "pause"}}},
			},
		},
	}
	created := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running, onKwok int
	for running < replicas {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d replicas Running after %s", running, replicas, time.Since(created).Round(time.Second))
		}
		time.Sleep(time.Second)
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			continue
		}
		running, onKwok = 0, 0
		for _, pod := range pods.Items {
			if pod.Status.Phase == corev1.PodRunning {
				running++
			}
			if strings.HasPrefix(pod.Spec.NodeName, "kwok-node-") {
				onKwok++
			}
		}
	}
	t.Logf("figures: up -d %s; %d replicas Running %s after the Deployment was created", upTook.Round(100*time.Millisecond), replicas, time.Since(created).Round(100*time.Millisecond))
	if onKwok != replicas {
		t.Errorf("%d of %d replicas on simulated nodes", onKwok, replicas)
	}
	raw, err := os.ReadFile(filepath.Join(k.home, "kwok", "logs", "kube-scheduler-trace.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The scheduler ran each pod through the traced cycle, under Delve.
	if hits := strings.Count(string(raw), "schedulingCycle("); hits < replicas {
		t.Errorf("%d scheduling cycles traced for %d pods", hits, replicas)
	}
	k.mustRun("down", "--name", "kwok")
}
