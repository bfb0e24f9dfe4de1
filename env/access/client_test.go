package access

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kenv-dev/kenv/pki"
)

// kubeconfigFor writes a kubeconfig as kenv writes the admin's, the
// server CA and the admin's certificate embedded, that names srv.
func kubeconfigFor(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	c := makeCerts(t)
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	k := pki.Kubeconfig{Name: "kenv", Server: srv.URL, CAPEM: c.serverCA.CertPEM, Client: c.admin}
	if err := k.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func nodeList(nodes ...corev1.Node) corev1.NodeList {
	return corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}, Items: nodes}
}

// withReady is a node whose Ready condition has status; none when status
// is empty.
func withReady(name string, status corev1.ConditionStatus) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}}
	if status != "" {
		n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: status})
	}
	return n
}

func TestClient(t *testing.T) {
	apiserver := serveTLS(t, adminOnly(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v1/nodes" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, nodeList(withReady("one", corev1.ConditionTrue)))
	}))
	cs, err := Client(kubeconfigFor(t, apiserver))
	if err != nil {
		t.Fatal(err)
	}
	// The request passes only with the server CA trusted and the admin's
	// certificate presented, both from the kubeconfig.
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes with the kubeconfig's credentials: %v", err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != "one" {
		t.Errorf("nodes %+v", nodes.Items)
	}
	if qps := cs.CoreV1().RESTClient().GetRateLimiter().QPS(); qps != 200 {
		t.Errorf("client QPS %v, want kenv's 200", qps)
	}

	if _, err := Client(filepath.Join(t.TempDir(), "missing.kubeconfig")); err == nil {
		t.Errorf("a client from a kubeconfig that does not exist")
	}
}

func TestIsReady(t *testing.T) {
	tests := []struct {
		status corev1.ConditionStatus
		want   bool
	}{
		{corev1.ConditionTrue, true},
		{corev1.ConditionFalse, false},
		{corev1.ConditionUnknown, false},
		{"", false}, // no Ready condition yet
	}
	for _, tt := range tests {
		n := withReady("n", tt.status)
		if got := isReady(&n); got != tt.want {
			t.Errorf("isReady(Ready=%q) = %v, want %v", tt.status, got, tt.want)
		}
	}
}

func TestWaitNodesReady(t *testing.T) {
	ready := func(name string) corev1.Node { return withReady(name, corev1.ConditionTrue) }
	notReady := func(name string) corev1.Node { return withReady(name, corev1.ConditionFalse) }
	tests := []struct {
		name  string
		names []string
		// lists are the apiserver's answers to successive lists, the last
		// repeated; nil answers 500.
		lists [][]corev1.Node
		ready bool
	}{
		{"all Ready", []string{"a", "b"}, [][]corev1.Node{{ready("a"), ready("b")}}, true},
		{"one Ready later", []string{"a", "b"}, [][]corev1.Node{{ready("a"), notReady("b")}, {ready("a"), notReady("b")}, {ready("a"), ready("b")}}, true},
		{"one stays NotReady", []string{"a", "b"}, [][]corev1.Node{{ready("a"), notReady("b")}}, false},
		{"a Ready node not named does not count", []string{"a", "b"}, [][]corev1.Node{{ready("a"), ready("c")}}, false},
		{"Ready unknown", []string{"a"}, [][]corev1.Node{{withReady("a", corev1.ConditionUnknown)}}, false},
		{"no Ready condition yet", []string{"a"}, [][]corev1.Node{{withReady("a", "")}}, false},
		{"lists fail, then answer", []string{"a"}, [][]corev1.Node{nil, nil, {ready("a")}}, true},
		{"no names", nil, [][]corev1.Node{{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // most wait for their context to end
			var mu sync.Mutex
			lists := 0
			var selectors []string
			apiserver := serveTLS(t, adminOnly(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				nodes := tt.lists[min(lists, len(tt.lists)-1)]
				lists++
				selectors = append(selectors, r.URL.Query().Get("labelSelector"))
				mu.Unlock()
				if nodes == nil {
					http.Error(w, "etcd is away", http.StatusInternalServerError)
					return
				}
				writeJSON(w, http.StatusOK, nodeList(nodes...))
			}))
			client, err := Client(kubeconfigFor(t, apiserver))
			if err != nil {
				t.Fatal(err)
			}
			timeout := 10 * time.Second
			if !tt.ready {
				timeout = 700 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err = WaitNodesReady(ctx, client, metav1.ListOptions{LabelSelector: "type=kwok"}, tt.names)
			if tt.ready && err != nil {
				t.Errorf("not ready: %v", err)
			}
			if !tt.ready && err == nil {
				t.Errorf("ready, want it to wait until the context ends")
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.ready && lists < len(tt.lists) {
				t.Errorf("ready after %d lists, before the apiserver said so at list %d", lists, len(tt.lists))
			}
			for _, s := range selectors {
				if s != "type=kwok" {
					t.Errorf("listed with selector %q, want type=kwok", s)
				}
			}
		})
	}
}
