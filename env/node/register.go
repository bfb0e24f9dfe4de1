package node

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kenv-dev/kenv/env/access"
)

// Register lets kube-apiserver reach the kubelet (logs, exec,
// port-forward: local-up-cluster's kube-apiserver-kubelet-admin binding of
// its kubelet client, user kube-apiserver) and waits until the node name
// has registered and is Ready, and pods can be made in the default
// namespace.
func Register(ctx context.Context, kubeconfig, name string) error {
	client, err := access.Client(kubeconfig)
	if err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver-kubelet-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "kube-apiserver"}},
	}
	_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("let kube-apiserver reach the kubelet: %w", err)
	}
	if err := access.WaitNodesReady(ctx, client, metav1.ListOptions{FieldSelector: "metadata.name=" + name}, []string{name}); err != nil {
		return err
	}
	// A pod is refused until the controller-manager has made the default
	// service account.
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}
