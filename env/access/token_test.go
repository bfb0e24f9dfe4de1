package access

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

const (
	namespaces      = "/api/v1/namespaces"
	serviceAccounts = "/api/v1/namespaces/dev/serviceaccounts"
	bindings        = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
	tokens          = "/api/v1/namespaces/dev/serviceaccounts/ci/token"
)

// tokenAPI is the part of kube-apiserver Token uses: it creates objects
// once, answers AlreadyExists after, and makes tokens for service accounts
// it holds.
type tokenAPI struct {
	mu sync.Mutex
	// objects are the paths of the objects it holds.
	objects map[string]bool
	// refuse answers 403 to a POST to these paths.
	refuse []string
	// posts are the paths posted to, and bodies their bodies.
	posts  []string
	bodies map[string]map[string]any
}

func status(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg})
}

func (a *tokenAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, err := decode(r)
	if err != nil {
		status(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	a.posts, a.bodies[r.URL.Path] = append(a.posts, r.URL.Path), body
	if slices.Contains(a.refuse, r.URL.Path) {
		status(w, http.StatusForbidden, metav1.StatusReasonForbidden, "forbidden here")
		return
	}
	if sa, ok := strings.CutSuffix(r.URL.Path, "/token"); ok {
		if !a.objects[sa] {
			status(w, http.StatusNotFound, metav1.StatusReasonNotFound, sa+" not found")
			return
		}
		body["status"] = map[string]any{"token": "token-of-" + sa[strings.LastIndex(sa, "/")+1:]}
		writeJSON(w, http.StatusCreated, body)
		return
	}
	name, _ := body["metadata"].(map[string]any)["name"].(string)
	if a.objects[r.URL.Path+"/"+name] {
		status(w, http.StatusConflict, metav1.StatusReasonAlreadyExists, name+" already exists")
		return
	}
	a.objects[r.URL.Path+"/"+name] = true
	writeJSON(w, http.StatusCreated, body)
}

// decode reads the object in the body of r, protobuf as client-go sends
// built-in types, as JSON fields.
func decode(r *http.Request) (map[string]any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	obj, gvk, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var fields map[string]any
	if err := json.Unmarshal(j, &fields); err != nil {
		return nil, err
	}
	fields["apiVersion"], fields["kind"] = gvk.GroupVersion().String(), gvk.Kind
	return fields, nil
}

func TestToken(t *testing.T) {
	all := map[string]bool{namespaces + "/dev": true, serviceAccounts + "/ci": true, bindings + "/kenv:dev:ci:cluster-admin": true}
	tests := []struct {
		name         string
		objects      map[string]bool
		refuse       []string
		clusterAdmin bool
		posts        []string
		// want is in the error; empty for the token.
		want string
	}{
		{"new namespace and account, cluster-admin", nil, nil, true, []string{namespaces, serviceAccounts, bindings, tokens}, ""},
		{"all there already", all, nil, true, []string{namespaces, serviceAccounts, bindings, tokens}, ""},
		{"not cluster-admin", nil, nil, false, []string{namespaces, serviceAccounts, tokens}, ""},
		{"namespace refused", nil, []string{namespaces}, true, []string{namespaces}, "create namespace dev: forbidden here"},
		{"service account refused", nil, []string{serviceAccounts}, true, []string{namespaces, serviceAccounts}, "create service account dev/ci: forbidden here"},
		{"binding refused", nil, []string{bindings}, true, []string{namespaces, serviceAccounts, bindings}, "bind dev/ci to cluster-admin: forbidden here"},
		{"token refused", nil, []string{tokens}, false, []string{namespaces, serviceAccounts, tokens}, "request a token for dev/ci: forbidden here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &tokenAPI{objects: map[string]bool{}, refuse: tt.refuse, bodies: map[string]map[string]any{}}
			for k, v := range tt.objects {
				api.objects[k] = v
			}
			kubeconfig := kubeconfigFor(t, serveTLS(t, adminOnly(api.ServeHTTP)))
			token, err := Token(context.Background(), kubeconfig, TokenRequest{Namespace: "dev", ServiceAccount: "ci", ClusterAdmin: tt.clusterAdmin, Seconds: 600})
			switch {
			case tt.want == "" && (err != nil || token != "token-of-ci"):
				t.Errorf("Token = %q, %v; want token-of-ci", token, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Token = %q, %v; want an error with %q", token, err, tt.want)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if !slices.Equal(api.posts, tt.posts) {
				t.Errorf("posted to\n  %s\nwant\n  %s", strings.Join(api.posts, "\n  "), strings.Join(tt.posts, "\n  "))
			}
			if b := api.bodies[bindings]; b != nil && tt.want == "" {
				raw, _ := json.Marshal(b)
				for _, want := range []string{
					`"name":"kenv:dev:ci:cluster-admin"`,
					`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"}`,
					`"subjects":[{"kind":"ServiceAccount","name":"ci","namespace":"dev"}]`,
				} {
					if !strings.Contains(string(raw), want) {
						t.Errorf("the binding %s lacks %s", raw, want)
					}
				}
			}
			if b := api.bodies[tokens]; b != nil {
				if s := b["spec"].(map[string]any)["expirationSeconds"]; s != float64(600) {
					t.Errorf("token requested for %v s, want 600", s)
				}
			}
		})
	}
}
