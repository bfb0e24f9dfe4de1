package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kenv-dev/kenv/env/access"
)

// Registration is a node kenv waits for, and the labels it puts on it.
type Registration struct {
	Name   string
	Labels map[string]string
}

// Register lets kube-apiserver reach the kubelets (logs, exec,
// port-forward: local-up-cluster's kube-apiserver-kubelet-admin binding of
// its kubelet client, user kube-apiserver), waits until the nodes have
// registered and are Ready, puts their labels on them (as the admin: a
// kubelet may not set every label on its own node), and waits until pods
// can be made in the default namespace. It returns each node's pod range.
func Register(ctx context.Context, kubeconfig string, nodes []Registration) (map[string]string, error) {
	client, err := access.Client(kubeconfig)
	if err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver-kubelet-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "kube-apiserver"}},
	}
	_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("let kube-apiserver reach the kubelet: %w", err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	if err := access.WaitNodesReady(ctx, client, metav1.ListOptions{}, names); err != nil {
		return nil, fmt.Errorf("nodes %s Ready: %w", strings.Join(names, ", "), err)
	}
	ranges := map[string]string{}
	for _, n := range nodes {
		if len(n.Labels) > 0 {
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": n.Labels}})
			if err != nil {
				return nil, err
			}
			if _, err := client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				return nil, fmt.Errorf("label node %s: %w", n.Name, err)
			}
		}
		got, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		ranges[n.Name] = got.Spec.PodCIDR
	}
	// A pod is refused until the controller-manager has made the default
	// service account.
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return ranges, err
}
