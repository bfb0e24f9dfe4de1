// Package kwok installs kwok, which simulates nodes and their pods, and
// registers the nodes it manages.
package kwok

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/google/renameio/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/build"
)

// DefaultVersion is the kwok release kenv installs unless the spec or its
// lock names another.
const DefaultVersion = "v0.8.0"

const (
	// StagesFile is where Install puts the stages beside the binary.
	StagesFile = "stages.yaml"
	// annotation marks the nodes kwok manages; Selector, kwok's
	// --manage-nodes-with-annotation-selector, selects them.
	annotation = "kwok.x-k8s.io/node"
	Selector   = annotation + "=fake"
	// label marks the nodes kenv registers, as kwokctl does.
	label, labelValue = "type", "kwok"
)

// stages are the module's stage files kwokctl runs by default: nodes
// become Ready and renew their leases; pods become Ready, complete and
// are deleted.
var stages = []string{
	"kustomize/stage/node/fast/node-initialize.yaml",
	"kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"kustomize/stage/pod/fast/pod-ready.yaml",
	"kustomize/stage/pod/fast/pod-complete.yaml",
	"kustomize/stage/pod/fast/pod-delete.yaml",
}

// Installed reports whether Install has completed in dir: the stages are
// written last.
func Installed(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, StagesFile))
	return err == nil
}

// Install builds kwok m into dir, without optimisation so that Delve can
// debug it, and writes its stages there, once.
func Install(ctx context.Context, m build.Module, dir string, output io.Writer) error {
	if Installed(dir) {
		return nil
	}
	if _, err := build.Install(ctx, m, dir, "", true, output); err != nil {
		return err
	}
	path := filepath.Join(dir, StagesFile)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", m.Path+"@"+m.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	cmd.Stderr = output
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("find kwok's stages: %w", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return fmt.Errorf("find kwok's stages: %w", err)
	}
	return writeStages(path, mod.Dir, m.Version)
}

// writeStages writes the stages of the kwok module version in modDir as
// one file at path.
func writeStages(path, modDir, version string) error {
	var all bytes.Buffer
	for _, name := range stages {
		raw, err := os.ReadFile(filepath.Join(modDir, name))
		if err != nil {
			return fmt.Errorf("kwok %s has no stage %s: %w", version, name, err)
		}
		fmt.Fprintf(&all, "---\n%s\n", bytes.TrimSpace(raw))
	}
	return renameio.WriteFile(path, all.Bytes(), 0o644)
}

// Register makes the apiserver of kubeconfig hold exactly the named
// simulated nodes among those kenv registered, and waits until kwok has
// made them Ready. Nodes and their pods outlive `kenv down` in etcd like
// any others; they are Ready again at the next up.
func Register(ctx context.Context, kubeconfig string, names []string) error {
	client, err := access.Client(kubeconfig)
	if err != nil {
		return err
	}
	nodes := client.CoreV1().Nodes()
	ours := metav1.ListOptions{LabelSelector: label + "=" + labelValue}
	have, err := nodes.List(ctx, ours)
	if err != nil {
		return err
	}
	for _, n := range have.Items {
		if n.Annotations[annotation] == "fake" && !slices.Contains(names, n.Name) {
			if err := nodes.Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	for _, name := range names {
		if _, err := nodes.Create(ctx, node(name), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("register node %s: %w", name, err)
		}
	}
	return access.WaitNodesReady(ctx, client, ours, names)
}

// node is a simulated node as kwokctl registers them: a machine of this
// one's architecture with 32 CPUs and 256 GiB that holds 110 pods. It has
// no taints, so that any pod may land there; select or avoid the nodes by
// their label type=kwok.
func node(name string) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				label: labelValue, corev1.LabelHostname: name,
				corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH,
				"node-role.kubernetes.io/agent": "",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}
