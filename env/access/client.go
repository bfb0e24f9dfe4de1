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
