package kwok

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kenv-dev/kenv/env/build"
)

func TestInstalled(t *testing.T) {
	dir := t.TempDir()
	if Installed(dir) {
		t.Errorf("an empty directory is installed")
	}
	if Installed(filepath.Join(dir, "missing")) {
		t.Errorf("a missing directory is installed")
	}
	// The binary alone is an interrupted install: the stages come last.
	if err := os.WriteFile(filepath.Join(dir, "kwok"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if Installed(dir) {
		t.Errorf("a directory without %s is installed", StagesFile)
	}
	if err := os.WriteFile(filepath.Join(dir, StagesFile), []byte("---\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !Installed(dir) {
		t.Errorf("a directory with %s is not installed", StagesFile)
	}
	// Once installed, Install neither builds nor downloads: the module
	// named here does not exist.
	if err := Install(context.Background(), build.Module{Path: "example.invalid/kwok", Version: "v0.0.0"}, dir, io.Discard); err != nil {
		t.Errorf("Install over an install: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("Install over an install changed the directory: %v", entries)
	}
}

func TestWriteStages(t *testing.T) {
	mod := t.TempDir()
	var want strings.Builder
	for _, name := range stages {
		stage := strings.TrimSuffix(filepath.Base(name), ".yaml")
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// kwok's files end in a newline or two; the stages file holds
		// each once, after its document separator.
		if err := os.WriteFile(p, []byte("kind: Stage\nmetadata:\n  name: "+stage+"\n\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want.WriteString("---\nkind: Stage\nmetadata:\n  name: " + stage + "\n")
	}
	dir := t.TempDir()
	if err := writeStages(filepath.Join(dir, StagesFile), mod, DefaultVersion); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, StagesFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("stages file:\n%s\nwant:\n%s", got, want.String())
	}
	if !Installed(dir) {
		t.Errorf("not installed once the stages are written")
	}

	// A release without one of the stages: no stages file, not installed.
	missing := stages[len(stages)-1]
	if err := os.Remove(filepath.Join(mod, missing)); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	err = writeStages(filepath.Join(dir, StagesFile), mod, "v0.9.9")
	if err == nil || !strings.Contains(err.Error(), "kwok v0.9.9 has no stage "+missing) {
		t.Errorf("writeStages without %s: %v", missing, err)
	}
	if Installed(dir) {
		t.Errorf("installed without all the stages")
	}
}

func TestNode(t *testing.T) {
	n := node("kwok-node-3")
	// kwok manages the node: its --manage-nodes-with-annotation-selector
	// selects it.
	sel, err := labels.Parse(Selector)
	if err != nil {
		t.Fatalf("kwok's selector %q: %v", Selector, err)
	}
	if !sel.Matches(labels.Set(n.Annotations)) {
		t.Errorf("Selector %s does not select the annotations %v", Selector, n.Annotations)
	}
	ours, _ := labels.Parse("type=kwok")
	if !ours.Matches(labels.Set(n.Labels)) {
		t.Errorf("type=kwok does not select the labels %v", n.Labels)
	}
	for k, want := range map[string]string{
		corev1.LabelHostname:   "kwok-node-3",
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
	} {
		if n.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], want)
		}
	}
	if n.Name != "kwok-node-3" || len(n.Spec.Taints) != 0 {
		t.Errorf("node %s with taints %v", n.Name, n.Spec.Taints)
	}
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "32", corev1.ResourceMemory: "256Gi", corev1.ResourcePods: "110"} {
		c, a := n.Status.Capacity[name], n.Status.Allocatable[name]
		if c.Cmp(resource.MustParse(want)) != 0 || a.Cmp(c) != 0 {
			t.Errorf("%s: capacity %s, allocatable %s; want %s", name, c.String(), a.String(), want)
		}
	}
}

// apiserver holds nodes, answers the node requests Register makes and, as
// kwok does, makes each node it creates Ready.
type apiserver struct {
	mu    sync.Mutex
	nodes map[string]*corev1.Node
	// refuse answers 403 to the creation of these nodes.
	refuse []string
	// calls are "POST name" and "DELETE name", in order.
	calls []string
}

func (a *apiserver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	name, _ := strings.CutPrefix(r.URL.Path, "/api/v1/nodes/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes":
		sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		list := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"}}
		for _, n := range a.nodes {
			if sel.Matches(labels.Set(n.Labels)) {
				list.Items = append(list.Items, *n)
			}
		}
		writeJSON(w, http.StatusOK, list)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/nodes":
		raw, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
		n, ok := obj.(*corev1.Node)
		if err != nil || !ok {
			http.Error(w, "not a node", http.StatusBadRequest)
			return
		}
		a.calls = append(a.calls, "POST "+n.Name)
		switch {
		case slices.Contains(a.refuse, n.Name):
			writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, "nodes is forbidden")
		case a.nodes[n.Name] != nil:
			writeStatus(w, http.StatusConflict, metav1.StatusReasonAlreadyExists, n.Name+" already exists")
		default:
			n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			a.nodes[n.Name] = n
			writeJSON(w, http.StatusCreated, n)
		}
	case r.Method == http.MethodDelete && name != "":
		a.calls = append(a.calls, "DELETE "+name)
		if a.nodes[name] == nil {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, name+" not found")
			return
		}
		delete(a.nodes, name)
		writeStatus(w, http.StatusOK, "", "")
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	s := metav1.StatusSuccess
	if code >= 300 {
		s = metav1.StatusFailure
	}
	writeJSON(w, code, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: s, Code: int32(code), Reason: reason, Message: msg})
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
	ready := func(n *corev1.Node) *corev1.Node {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		return n
	}
	// A node labelled type=kwok that kwok does not manage.
	labelled := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "labelled", Labels: map[string]string{label: labelValue}}}
	tests := []struct {
		name   string
		have   []*corev1.Node
		names  []string
		refuse []string
		calls  []string
		left   []string
		want   string
	}{{
		name:  "first registration",
		names: []string{"kwok-0", "kwok-1"},
		calls: []string{"POST kwok-0", "POST kwok-1"},
		left:  []string{"kwok-0", "kwok-1"},
	}, {
		name:  "fewer nodes than before",
		have:  []*corev1.Node{ready(node("kwok-0")), ready(node("kwok-1")), ready(node("kwok-2")), labelled, {ObjectMeta: metav1.ObjectMeta{Name: "real"}}},
		names: []string{"kwok-0"},
		calls: []string{"DELETE kwok-1", "DELETE kwok-2", "POST kwok-0"},
		left:  []string{"kwok-0", "labelled", "real"},
	}, {
		name:  "more nodes than before",
		have:  []*corev1.Node{ready(node("kwok-0"))},
		names: []string{"kwok-0", "kwok-1"},
		calls: []string{"POST kwok-0", "POST kwok-1"},
		left:  []string{"kwok-0", "kwok-1"},
	}, {
		name:   "creation refused",
		names:  []string{"kwok-0", "kwok-1"},
		refuse: []string{"kwok-1"},
		calls:  []string{"POST kwok-0", "POST kwok-1"},
		left:   []string{"kwok-0"},
		want:   "register node kwok-1: nodes is forbidden",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &apiserver{nodes: map[string]*corev1.Node{}, refuse: tt.refuse}
			for _, n := range tt.have {
				c := n.DeepCopy()
				c.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
				api.nodes[n.Name] = c
			}
			srv := httptest.NewServer(api)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Register(ctx, kubeconfig(t, srv.URL), tt.names)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Register: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Register = %v, want an error with %q", err, tt.want)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			// The stale nodes go first, in the list's order, a map's here.
			verb := func(call string) string { v, _, _ := strings.Cut(call, " "); return v }
			if !slices.IsSortedFunc(api.calls, func(a, b string) int { return strings.Compare(verb(a), verb(b)) }) {
				t.Errorf("calls %v: a node created before a stale one was deleted", api.calls)
			}
			if got, want := slices.Sorted(slices.Values(api.calls)), slices.Sorted(slices.Values(tt.calls)); !slices.Equal(got, want) {
				t.Errorf("calls %v, want %v", got, want)
			}
			var left []string
			for name := range api.nodes {
				left = append(left, name)
			}
			slices.Sort(left)
			if !slices.Equal(left, tt.left) {
				t.Errorf("nodes left %v, want %v", left, tt.left)
			}
		})
	}
}
