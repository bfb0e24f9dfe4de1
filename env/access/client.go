package access

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client is a client of the cluster the kubeconfig at path names, its
// rate limit raised for kenv's own bursts (registering nodes).
func Client(kubeconfig string) (*kubernetes.Clientset, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	config.QPS, config.Burst = 200, 400
	return kubernetes.NewForConfig(config)
}

// Config is the client configuration of the kubeconfig at path, in the
// context named, or its current one: a cluster kenv did not make.
func Config(path, context string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the cluster's kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// WaitNodesReady waits until every named node among those list selects is
// Ready.
func WaitNodesReady(ctx context.Context, client kubernetes.Interface, list metav1.ListOptions, names []string) error {
	return wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, list)
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			if slices.Contains(names, n.Name) && isReady(&n) {
				ready++
			}
		}
		return ready == len(names), nil
	})
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// StaticPod is the container the mirror pod name in kube-system shows
// running, empty when there is none: what a static pod put back must not
// run any more.
func StaticPod(ctx context.Context, client kubernetes.Interface, name string) string {
	pod, err := client.CoreV1().Pods(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
	if err != nil || len(pod.Status.ContainerStatuses) == 0 {
		return ""
	}
	return pod.Status.ContainerStatuses[0].ContainerID
}

// WaitStaticPodBack waits until the kubelet runs the static pod whose
// mirror pod is name again, in a container other than before, and reports
// it Ready: a mirror pod's status lags behind its static pod's.
func WaitStaticPodBack(ctx context.Context, client kubernetes.Interface, name, before string) error {
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
			return false, nil
		case len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].ContainerID == before:
			last = "the kubelet has not started it again yet"
			return false, nil
		}
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		last = "not Ready"
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%s is not back and Ready (last: %s): %w", name, last, err)
	}
	return nil
}

// NodeLease is when the node's kubelet last renewed its lease in
// kube-node-lease (every ten seconds by default), zero when there is
// none: a renewal after a kubelet was put back is the one put back.
func NodeLease(ctx context.Context, client kubernetes.Interface, node string) time.Time {
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	if err != nil || lease.Spec.RenewTime == nil {
		return time.Time{}
	}
	return lease.Spec.RenewTime.Time
}

// WaitKubeletBack waits until the node's kubelet renews its lease again
// after before (NodeLease, read once kenv's build had stopped), and the
// node is Ready: the node's own kubelet runs and reports.
func WaitKubeletBack(ctx context.Context, client kubernetes.Interface, node string, before time.Time) error {
	last := "its lease is not renewed yet"
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		if renewed := NodeLease(ctx, client, node); !renewed.After(before) {
			return false, nil
		}
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
			return false, nil
		case !isReady(n):
			last = "the node is not Ready"
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %s's kubelet is not back (last: %s): %w", node, last, err)
	}
	return nil
}
