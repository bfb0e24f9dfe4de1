package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// registration is the apiserver a node registers with: the binding
// answers as binding says, the node is Ready from the readyAt-th list
// on, and the default service account exists from the saAt-th get on.
type registration struct {
	binding         int // http.StatusCreated, StatusConflict or StatusForbidden
	readyAt, saAt   int
	mu              sync.Mutex
	bound           *rbacv1.ClusterRoleBinding
	lists, saGets   int
	labelled        map[string]string
	unknownRequests []string
}

// podCIDR is the pod range the controller-manager gave the node.
const podCIDR = "10.88.3.0/24"

func (a *registration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings":
		raw, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.bound = obj.(*rbacv1.ClusterRoleBinding)
		reason := map[int]metav1.StatusReason{http.StatusConflict: metav1.StatusReasonAlreadyExists, http.StatusForbidden: metav1.StatusReasonForbidden}[a.binding]
		if reason != "" {
			writeJSON(w, a.binding, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(a.binding), Reason: reason, Message: string(reason)})
			return
		}
		a.bound.TypeMeta = metav1.TypeMeta{Kind: "ClusterRoleBinding", APIVersion: "rbac.authorization.k8s.io/v1"}
		writeJSON(w, http.StatusCreated, a.bound)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes":
		a.lists++
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "machine"}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}
		if a.lists >= a.readyAt {
			n.Status.Conditions[0].Status = corev1.ConditionTrue
		}
		writeJSON(w, http.StatusOK, corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, Items: []corev1.Node{n}})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes/machine":
		n := corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "machine"}}
		n.Spec.PodCIDR = podCIDR
		writeJSON(w, http.StatusOK, n)
	case r.Method == http.MethodPatch && r.URL.Path == "/api/v1/nodes/machine":
		var patch struct {
			Metadata struct{ Labels map[string]string }
		}
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &patch); err != nil || r.Header.Get("Content-Type") != "application/merge-patch+json" {
			http.Error(w, "bad patch", http.StatusBadRequest)
			return
		}
		a.labelled = patch.Metadata.Labels
		writeJSON(w, http.StatusOK, corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "machine", Labels: a.labelled}})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/default/serviceaccounts/default":
		a.saGets++
		if a.saGets < a.saAt {
			writeJSON(w, http.StatusNotFound, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound})
			return
		}
		writeJSON(w, http.StatusOK, corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{Kind: "ServiceAccount", APIVersion: "v1"}, ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}})
	default:
		a.unknownRequests = append(a.unknownRequests, r.Method+" "+r.URL.String())
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// kubeconfig names the plain HTTP server at url.
func kubeconfig(t *testing.T, url string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: url}
	cfg.AuthInfos["test"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name string
		api  *registration
		want string
	}{
		{"new environment", &registration{binding: http.StatusCreated, readyAt: 3, saAt: 3}, ""},
		{"bound at an earlier up", &registration{binding: http.StatusConflict, readyAt: 1, saAt: 1}, ""},
		{"binding refused", &registration{binding: http.StatusForbidden, readyAt: 1, saAt: 1}, "let kube-apiserver reach the kubelet: Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.api)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			labels := map[string]string{"topology.kubernetes.io/zone": "b"}
			ranges, err := Register(ctx, kubeconfig(t, srv.URL), []Registration{{Name: "machine", Labels: labels}})
			a := tt.api
			a.mu.Lock()
			defer a.mu.Unlock()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Register = %v, want an error with %q", err, tt.want)
				}
				if a.lists+a.saGets != 0 {
					t.Errorf("waited for the node after the binding failed")
				}
				return
			}
			if err != nil {
				t.Fatalf("Register: %v", err)
			}
			if b := a.bound; b == nil || b.Name != "kube-apiserver-kubelet-admin" || b.RoleRef.Name != "system:kubelet-api-admin" ||
				len(b.Subjects) != 1 || b.Subjects[0].Kind != rbacv1.UserKind || b.Subjects[0].Name != "kube-apiserver" {
				t.Errorf("binding %+v, want the user kube-apiserver bound to system:kubelet-api-admin", b)
			}
			// Register returns only once the node is Ready and the default
			// service account exists.
			if a.lists < a.readyAt || a.saGets < a.saAt {
				t.Errorf("returned after %d lists and %d gets of the service account; Ready at %d, account at %d", a.lists, a.saGets, a.readyAt, a.saAt)
			}
			if got := ranges["machine"]; got != podCIDR {
				t.Errorf("the node's pod range %q, want %q", got, podCIDR)
			}
			if a.labelled["topology.kubernetes.io/zone"] != "b" {
				t.Errorf("the node was labelled %v, want %v", a.labelled, labels)
			}
			if len(a.unknownRequests) > 0 {
				t.Errorf("unexpected requests %v", a.unknownRequests)
			}
		})
	}
}
