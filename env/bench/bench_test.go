package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/spec"
)

// TestRunRefuses runs the bench on specs it does not measure: it refuses
// each before it runs anything, saying what to change. Kenv names no
// executable, so a bench that went further would fail otherwise.
func TestRunRefuses(t *testing.T) {
	controlPlane := []spec.Component{{Name: "kube-apiserver"}, {Name: "kube-scheduler"}}
	tests := []struct {
		name  string
		spec  spec.Spec
		wants []string
	}{
		{"a kubelet", spec.Spec{Components: append(controlPlane, spec.Component{Name: "kubelet"})},
			[]string{"kenv bench measures a control plane, or several real nodes against one; /specs/x.hcl runs kubelet: bench a spec without it"}},
		{"kube-proxy", spec.Spec{Components: append(controlPlane, spec.Component{Name: "kube-proxy"})},
			[]string{"/specs/x.hcl runs kube-proxy"}},
		{"kwok", spec.Spec{Components: append(controlPlane, spec.Component{Name: "kwok"})},
			[]string{"/specs/x.hcl runs kwok"}},
		{"etcd's data elsewhere", spec.Spec{Components: controlPlane, Etcd: spec.Etcd{DataDir: "/data/etcd"}},
			[]string{"/specs/x.hcl keeps etcd's data in /data/etcd", "bench a spec without etcd { data_dir }"}},
		{"logs elsewhere", spec.Spec{Components: controlPlane, Log: spec.Log{Dir: "/var/log/kenv"}},
			[]string{"/specs/x.hcl writes the logs to /var/log/kenv", "bench a spec without log { dir }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.spec
			s.File = "/specs/x.hcl"
			var progress strings.Builder
			r, err := Run(context.Background(), Options{Spec: &s, Kenv: "/nonexistent/kenv", Out: &progress})
			if err == nil {
				t.Fatalf("Run = %+v, want a refusal", r)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Run = %v, want it to say %q", err, w)
				}
			}
			if progress.Len() != 0 {
				t.Errorf("the bench began before it refused:\n%s", progress.String())
			}
		})
	}
}

// TestOneNode: the floor of several nodes is the spec with its first node
// alone, named apart, its other blocks as they are.
func TestOneNode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "three.hcl")
	src := `name = "three"
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kubelet" {
  images = ["app.tar"]
}
node "a" {}
node "b" {
  labels = { zone = "b" }
}
node "c" {}
`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	one, err := oneNode(file, "three-one-node")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(one) != dir {
		t.Errorf("the copy %s is not beside the spec, whose relative paths it keeps", one)
	}
	raw, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	got := string(raw)
	for _, want := range []string{`name = "three-one-node"`, `node "a" {}`, `images = ["app.tar"]`} {
		if !strings.Contains(got, want) {
			t.Errorf("the one-node spec lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `node "b"`) || strings.Contains(got, `node "c"`) {
		t.Errorf("the one-node spec keeps the other nodes:\n%s", got)
	}
}
