// Package access gives requests a way into an environment: service account
// tokens for curl and other HTTP clients.
package access

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenRequest says whose token to make.
type TokenRequest struct {
	Namespace      string
	ServiceAccount string
	// ClusterAdmin binds the service account to the cluster-admin role.
	ClusterAdmin bool
	// Seconds is how long the token is valid.
	Seconds int64
}

// Token makes the namespace, the service account and, when asked, its
// cluster-admin binding where missing, and returns a token for the service
// account from the TokenRequest API.
func Token(ctx context.Context, kubeconfig string, r TokenRequest) (string, error) {
	cs, err := Client(kubeconfig)
	if err != nil {
		return "", err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("create namespace %s: %w", r.Namespace, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: r.ServiceAccount, Namespace: r.Namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(r.Namespace).Create(ctx, sa, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", fmt.Errorf("create service account %s/%s: %w", r.Namespace, r.ServiceAccount, err)
	}
	if r.ClusterAdmin {
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kenv:%s:%s:cluster-admin", r.Namespace, r.ServiceAccount)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.ServiceAccount, Namespace: r.Namespace}},
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); ignoreExists(err) != nil {
			return "", fmt.Errorf("bind %s/%s to cluster-admin: %w", r.Namespace, r.ServiceAccount, err)
		}
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &r.Seconds}}
	tr, err = cs.CoreV1().ServiceAccounts(r.Namespace).CreateToken(ctx, r.ServiceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request a token for %s/%s: %w", r.Namespace, r.ServiceAccount, err)
	}
	return tr.Status.Token, nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
