//go:build e2e

package main_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kenv-dev/kenv/env/snapshot"
)

// TestEndToEndSnapshot saves an environment with simulated nodes while it
// runs, deletes a namespace with objects and Running pods in it, and
// restores the snapshot: everything is back, the pods Running on kwok's
// nodes again. A snapshot taken of other versions is refused before
// anything stops. A restore whose supervisor is killed (kill -9) once the
// restored data is in place but before it is ready leaves the next up
// with the state from before the restore, never a broken one.
func TestEndToEndSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Kubernetes")
	}
	const replicas = 4
	work := t.TempDir()
	k := kenvCLI{t: t, bin: kenvBinary, home: filepath.Join(work, "state")}
	p := freePorts(t, 6)
	specPath := filepath.Join(work, "snap.hcl")
	writeFile(t, specPath, controlPlaneSpec(p, controlPlane{more: kwokNodes(p[5], 2)}))
	t.Cleanup(func() { _, _ = k.run("down", "--name", "snap") })
	k.mustRun("up", "-d", specPath)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cs := clientset(t, filepath.Join(k.home, "snap", "admin.kubeconfig"))

	if _, err := cs.CoreV1().Namespaces().Create(ctx, namespace("kept"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := cs.CoreV1().ConfigMaps("kept").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app": "kept"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "kept"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "kept", Image: "pause"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("kept").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, ctx, cs, "kept", replicas)

	out := k.mustRun("snapshot", "save", "before", "--name", "snap")
	if !strings.Contains(out, `✓ snapshot before of "snap"`) {
		t.Errorf("save says:\n%s", out)
	}
	file := filepath.Join(k.home, "snap", "snapshots", "before.snapshot")
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the snapshot file: %v, %v", info, err)
	}
	t.Logf("FIGURE snapshot of an environment with %d pods and 20 ConfigMaps: %d bytes", replicas, info.Size())
	if list := k.mustRun("snapshot", "list", "--name", "snap"); !strings.Contains(list, "before") || !strings.Contains(list, "kube-apiserver "+e2eVersion()) {
		t.Errorf("list:\n%s", list)
	}

	deleteNamespace(t, ctx, cs, "kept")
	start := time.Now()
	k.mustRun("snapshot", "restore", "before", "--name", "snap")
	t.Logf("FIGURE snapshot restore until ready: %s", time.Since(start).Round(100*time.Millisecond))
	cms, err := cs.CoreV1().ConfigMaps("kept").List(ctx, metav1.ListOptions{})
	if err != nil || len(cms.Items) < 20 {
		t.Errorf("after the restore, namespace kept holds %v ConfigMaps (%v), want 20 and its root CA", len(cms.Items), err)
	}
	waitRunning(t, ctx, cs, "kept", replicas)
	if entries, _ := os.ReadDir(filepath.Join(k.home, "snap", "etcd")); len(entries) != 1 {
		t.Errorf("etcd's data directory after the restore: %v, want member alone", entries)
	}

	// Taken of another version: refused, and nothing stops.
	other := filepath.Join(work, "other.snapshot")
	db := filepath.Join(work, "other.db")
	m, err := snapshot.Read(file, db)
	if err != nil {
		t.Fatal(err)
	}
	m.Versions["kube-apiserver"] = "v1.20.0"
	if err := snapshot.Write(other, m, db); err != nil {
		t.Fatal(err)
	}
	pid := supervisorPid(t, k)
	if out, err := k.run("snapshot", "restore", other, "--name", "snap"); err == nil || !strings.Contains(out, "kube-apiserver ran v1.20.0, runs "+e2eVersion()) {
		t.Errorf("a snapshot of other versions: %v", err)
	}
	if supervisorPid(t, k) != pid || syscall.Kill(pid, 0) != nil {
		t.Errorf("the refused restore stopped the environment")
	}

	// Killed in the middle: the next up has the state from before it.
	deleteNamespace(t, ctx, cs, "kept")
	aside := filepath.Join(k.home, "snap", "etcd", "member.before-restore")
	restoring := make(chan error, 1)
	go func() {
		_, err := k.run("snapshot", "restore", "before", "--name", "snap")
		restoring <- err
	}()
	killed := false
	for !killed && ctx.Err() == nil {
		// The restoring supervisor has recorded its state before it
		// replaces etcd's data.
		if _, err := os.Stat(aside); err == nil {
			if now := supervisorPid(t, k); now != pid {
				killed = syscall.Kill(now, syscall.SIGKILL) == nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-restoring; err == nil {
		t.Errorf("the restore whose supervisor was killed says it succeeded")
	}
	out = k.mustRun("up", "-d", specPath)
	if !strings.Contains(out, "a snapshot restore did not finish") {
		t.Errorf("up after the killed restore does not say it put the data back:\n%s", out)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after the killed restore, namespace kept: %v, want the state before the restore (deleted)", err)
	}
	if _, err := os.Stat(aside); err == nil {
		t.Errorf("%s is left after up", aside)
	}
	k.mustRun("snapshot", "delete", "before", "--name", "snap")
	if _, err := os.Stat(file); err == nil {
		t.Errorf("delete left %s", file)
	}
}

// waitRunning waits until n pods of namespace ns run.
func waitRunning(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string, n int) {
	t.Helper()
	waitFor(t, 3*time.Minute, fmt.Sprintf("%d pods Running in %s", n, ns), func() bool {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		running := 0
		for _, pod := range pods.Items {
			if pod.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == n
	})
}

// deleteNamespace deletes ns and waits until it is gone.
func deleteNamespace(t *testing.T, ctx context.Context, cs *kubernetes.Clientset, ns string) {
	t.Helper()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "namespace "+ns+" gone", func() bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
