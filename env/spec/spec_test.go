package spec_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/kenv-dev/kenv/env/spec"
)

func TestParseExample(t *testing.T) {
	s, _, diags := spec.ParseFile("../../examples/debug.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Name != "debug" || s.Kubernetes.Version != "v1.34.4" {
		t.Errorf("name %q version %q, want debug v1.34.4", s.Name, s.Kubernetes.Version)
	}
	if s.Etcd.Port != 2379 || s.Etcd.PeerPort != 2380 {
		t.Errorf("etcd ports %d/%d, want 2379/2380", s.Etcd.Port, s.Etcd.PeerPort)
	}
	var names []string
	for _, c := range s.Components {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "kube-apiserver,kube-controller-manager,kube-scheduler" {
		t.Errorf("components %s", got)
	}
	api := s.Component(spec.KubeAPIServer)
	if api.Port != 6443 || api.Debug == nil || api.Debug.Port != 2345 || api.Debug.Wait {
		t.Errorf("kube-apiserver %+v debug %+v", api, api.Debug)
	}
	if v := api.Flags["v"]; v == nil || *v != "4" {
		t.Errorf("flag v = %v, want 4", v)
	}
	if kcm := s.Component(spec.KubeControllerManager); kcm.Port != 10257 || kcm.Debug != nil {
		t.Errorf("kube-controller-manager %+v", kcm)
	}
}

func TestDefaults(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.35.0-rc.1"
}
component "kube-apiserver" {
  debug {}
}
component "kube-scheduler" {
  debug {}
  flags = { leader-elect = true, v = 5, config = null }
}
`), "/specs/my-env.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Name != "my-env" {
		t.Errorf("name %q, want the file name my-env", s.Name)
	}
	// Each component has its own default Delve port, so two debugged
	// components need no port in the spec.
	if p := s.Component(spec.KubeAPIServer).Debug.Port; p != 2345 {
		t.Errorf("kube-apiserver Delve port %d, want 2345", p)
	}
	sched := s.Component(spec.KubeScheduler)
	if sched.Debug.Port != 2347 || sched.Port != 10259 {
		t.Errorf("kube-scheduler ports %d, Delve %d", sched.Port, sched.Debug.Port)
	}
	if v := sched.Flags["leader-elect"]; v == nil || *v != "true" {
		t.Errorf("leader-elect = %v", v)
	}
	if v := sched.Flags["v"]; v == nil || *v != "5" {
		t.Errorf("v = %v", v)
	}
	if v, ok := sched.Flags["config"]; !ok || v != nil {
		t.Errorf("config = %v, %v; want a removal", v, ok)
	}
	if got := fmt.Sprint(sched.SortedFlagNames()); got != "[config leader-elect v]" {
		t.Errorf("sorted flag names %s", got)
	}
}

func TestInvalidSpecs(t *testing.T) {
	tests := []struct {
		file string
		// want holds, per diagnostic, "line:col summary: part of the detail".
		want []string
	}{
		{"unknown-block.hcl", []string{`5:3 Unsupported block type: Did you mean "debug"?`}},
		{"unknown-attribute.hcl", []string{`2:3 Unsupported argument: Did you mean "version"?`}},
		{"unknown-component.hcl", []string{`5:1 Unknown component: Did you mean "kube-scheduler"?`}},
		{"planned-component.hcl", []string{`5:1 Unknown component: "kubelet" is not supported yet`}},
		{"duplicate-component.hcl", []string{`5:1 Duplicate component: already defined at`}},
		{"port-twice.hcl", []string{`7:5 Port used twice: kube-apiserver's Delve and kube-apiserver at`}},
		{"default-port-twice.hcl", []string{`5:3 Port used twice: kube-apiserver and etcd (default port)`}},
		{"bad-version.hcl", []string{`2:13 Invalid Kubernetes version: "1.34" is not a Kubernetes release version`}},
		{"no-kubernetes.hcl", []string{`1:1 Missing kubernetes block: version = "v1.34.4"`}},
		{"no-apiserver.hcl", []string{`1:1 Missing kube-apiserver: add component "kube-apiserver"`}},
		{"bad-port.hcl", []string{`5:10 Invalid port: Port 70000 is out of range`}},
		{"bad-flag-value.hcl", []string{`7:15 Invalid flag value: Flag "vmodule" has a tuple value`}},
		{"dashed-flag.hcl", []string{`5:13 Invalid flag name: "v", not "--v"`}},
		{"bad-name.hcl", []string{`1:8 Invalid environment name: "My_Env" is not a valid name`}},
		{"wrong-type.hcl", []string{`6:13 Unsuitable value type: a bool is required`}},
		{"two-sources.hcl", []string{`3:3 More than one Kubernetes source: version is set at`}},
		{"git-without-ref.hcl", []string{`2:3 Missing ref: ref = "v1.34.4"`}},
		{"ref-without-git.hcl", []string{`3:3 ref without git: ref names a tag`}},
		{"not-a-checkout.hcl", []string{`2:10 Not a Kubernetes checkout: has no go.work`}},
		{"bad-debug.hcl", []string{
			`7:5 Conflicting Delve address: either port or listen`,
			`8:14 Invalid Delve version: "1.27" is not a Delve release`,
			`9:33 Empty breakpoint location: Name a function`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, _, diags := spec.ParseFile(filepath.Join("testdata", tt.file))
			if s != nil {
				t.Errorf("got a spec from an invalid file")
			}
			if len(diags) != len(tt.want) {
				t.Fatalf("got %d diagnostics, want %d: %v", len(diags), len(tt.want), diags)
			}
			for i, d := range diags {
				pos := ""
				if d.Subject != nil {
					if !strings.HasSuffix(d.Subject.Filename, tt.file) {
						t.Errorf("diagnostic points at %s, want %s", d.Subject.Filename, tt.file)
					}
					pos = fmt.Sprintf("%d:%d ", d.Subject.Start.Line, d.Subject.Start.Column)
				}
				got := pos + d.Summary + ": " + d.Detail
				wantPos, wantMsg, _ := strings.Cut(tt.want[i], " ")
				summary, detail, _ := strings.Cut(wantMsg, ": ")
				if !strings.HasPrefix(got, wantPos+" "+summary+": ") || !strings.Contains(got, detail) {
					t.Errorf("got  %s\nwant %s", got, tt.want[i])
				}
			}
		})
	}
}

func TestDebugBlock(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  debug {
    listen      = "0.0.0.0:4000"
    dlv         = "v1.27.2"
    breakpoints = [
      "cmd/kube-apiserver/app/server.go:Run",
      "staging/src/k8s.io/apiserver/pkg/server/handler.go:123",
    ]
    breakpoint "k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create" {
      condition = "e.DefaultQualifiedResource.Resource == \"namespaces\""
    }
  }
}
`), "/specs/debug.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Listening beyond loopback is allowed, with a warning.
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "neither authenticated nor encrypted") {
		t.Errorf("diagnostics %v, want one warning about an unauthenticated Delve", diags)
	}
	d := s.Component(spec.KubeAPIServer).Debug
	if d.Listen != "0.0.0.0:4000" || d.Port != 4000 || d.Dlv != "v1.27.2" {
		t.Errorf("debug %+v", d)
	}
	if len(d.Breakpoints) != 3 {
		t.Fatalf("%d breakpoints", len(d.Breakpoints))
	}
	if b := d.Breakpoints[1]; b.Location != "staging/src/k8s.io/apiserver/pkg/server/handler.go:123" || b.Range.Start.Line != 11 {
		t.Errorf("second breakpoint %+v", b)
	}
	if b := d.Breakpoints[2]; b.Condition != `e.DefaultQualifiedResource.Resource == "namespaces"` || b.Range.Start.Line != 13 {
		t.Errorf("conditional breakpoint %+v", b)
	}

	local, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  debug {}
}
`), "/specs/debug.hcl")
	if len(diags) != 0 {
		t.Errorf("a default debug block has diagnostics: %v", diags)
	}
	if l := local.Component(spec.KubeAPIServer).Debug.Listen; l != "127.0.0.1:2345" {
		t.Errorf("default Delve address %s, want loopback", l)
	}
}

func TestGitSource(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  git = "../kubernetes"
  ref = "release-1.34"
}
component "kube-apiserver" {}
`), "/specs/git.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Kubernetes.Git != "/kubernetes" || s.Kubernetes.Ref != "release-1.34" {
		t.Errorf("a local repository is not resolved against the spec: %+v", s.Kubernetes)
	}
	remote, _ := spec.Parse([]byte(`
kubernetes {
  git = "https://example.invalid/kubernetes.git"
  ref = "v1.34.4"
}
component "kube-apiserver" {}
`), "/specs/git.hcl")
	if remote.Kubernetes.Git != "https://example.invalid/kubernetes.git" {
		t.Errorf("a URL was changed: %s", remote.Kubernetes.Git)
	}
}
