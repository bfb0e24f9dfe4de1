package spec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
)

func TestParseExample(t *testing.T) {
	s, _, diags := spec.ParseFile("../../examples/debug.hcl", plan.Catalog())
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
	api := s.Component("kube-apiserver")
	if api.Port != 6443 || api.Debug == nil || api.Debug.Port != 2345 || api.Debug.Wait {
		t.Errorf("kube-apiserver %+v debug %+v", api, api.Debug)
	}
	if v := api.Flags["v"]; v == nil || *v != "4" {
		t.Errorf("flag v = %v, want 4", v)
	}
	if kcm := s.Component("kube-controller-manager"); kcm.Port != 10257 || kcm.Debug != nil {
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
`), "/specs/my-env.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Name != "my-env" {
		t.Errorf("name %q, want the file name my-env", s.Name)
	}
	if !s.Build.Unoptimized || strings.Join(s.Build.Optimize, ",") != "std" {
		t.Errorf("build debug %t, optimize %q; want a debug build with the standard library optimised", s.Build.Unoptimized, s.Build.Optimize)
	}
	// Each component has its own default Delve port, so two debugged
	// components need no port in the spec.
	if p := s.Component("kube-apiserver").Debug.Port; p != 2345 {
		t.Errorf("kube-apiserver Delve port %d, want 2345", p)
	}
	sched := s.Component("kube-scheduler")
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
		// The misspelt attribute is the first problem; without it the
		// block names no source, which is said too.
		{"unknown-attribute.hcl", []string{`2:3 Unsupported argument: Did you mean "version"?`, `1:1 Missing Kubernetes source: Set one of version`}},
		// A schema error in one block hides no problem elsewhere.
		{"every-problem.hcl", []string{
			`8:3 Unsupported argument: An argument named "prot" is not expected here. Did you mean "port"?`,
			`5:18 Invalid service CIDR: `,
			`11:1 Duplicate component: already defined at`,
			`12:1 Unknown component: Did you mean "kube-scheduler"?`,
		}},
		{"unknown-component.hcl", []string{`5:1 Unknown component: Did you mean "kube-scheduler"?`}},
		{"node-attributes.hcl", []string{
			`5:14 Invalid pod CIDR: "10.0.0.0/16" overlaps the service range 10.0.0.0/24`,
			`8:3 Unsupported argument: images is set on component "kubelet" only`,
			`11:13 Image not found: no-such-image.tar is not an image tarball`,
		}},
		{"duplicate-component.hcl", []string{`5:1 Duplicate component: already defined at`}},
		{"kwok-attributes.hcl", []string{
			`5:30 Unsupported argument: nodes is set on component "kwok" only`,
			`7:13 Invalid node count: nodes is from 0 to 10000, not 100001.`,
			`8:13 Invalid kwok version: "0.8" is not a kwok release`,
		}},
		{"port-twice.hcl", []string{`7:5 Port used twice: kube-apiserver's Delve and kube-apiserver at`}},
		{"default-port-twice.hcl", []string{`5:3 Port used twice: kube-apiserver and etcd (default port)`}},
		{"bad-version.hcl", []string{`2:13 Invalid Kubernetes version: "1.34" is not a Kubernetes release version`}},
		{"no-kubernetes.hcl", []string{`1:1 Missing kubernetes block: version = "v1.34.4"`}},
		{"no-apiserver.hcl", []string{`1:1 Missing kube-apiserver: add component "kube-apiserver"`}},
		{"bad-port.hcl", []string{`5:10 Invalid port: Port 70000 is out of range`}},
		// The invalid port is not taken for the default one etcd was
		// moved to.
		{"bad-port-beside-default.hcl", []string{`5:10 Invalid port: Port 70000 is out of range`}},
		{"bad-flag-value.hcl", []string{`7:15 Invalid flag value: Flag "vmodule" has a tuple value`}},
		{"dashed-flag.hcl", []string{`5:13 Invalid flag name: "v", not "--v"`}},
		{"bad-name.hcl", []string{`1:8 Invalid environment name: "My_Env" is not a valid name`}},
		{"wrong-type.hcl", []string{`6:13 Unsuitable value type: a bool is required`}},
		{"two-sources.hcl", []string{`3:3 More than one Kubernetes source: version is set at`}},
		{"git-without-ref.hcl", []string{`2:3 Missing ref: ref = "v1.34.4"`}},
		{"ref-without-git.hcl", []string{`3:3 ref without git: ref names a tag`}},
		{"not-a-checkout.hcl", []string{`2:10 Not a Kubernetes checkout: has no go.work`}},
		{"bad-network.hcl", []string{
			`5:18 Invalid bind address: "localhost" is not an IP address`,
			`6:18 Invalid API host: "Not A Host" is neither an IP address nor a DNS name`,
			`7:18 Invalid service CIDR: "10.0.0.1/24" has host bits set; write "10.0.0.0/24"`,
		}},
		{"small-service-cidr.hcl", []string{`5:18 Invalid service CIDR: an IPv4 service range is /12 to /30`}},
		{"bad-go-version.hcl", []string{`3:13 Invalid Go version: write it like "1.24.12"`}},
		{"bad-cluster-settings.hcl", []string{
			`6:31 Invalid feature gate value: InPlacePodVerticalScaling is true or false`,
			`7:3 Invalid feature gate: "lower-case" is not a feature gate name`,
			`4:32 Unknown authorization mode: Did you mean "RBAC"?`,
			`11:34 Invalid admission plugin: "not a plugin" is not an admission plugin name`,
			`11:13 Plugin enabled and disabled: AlwaysPullImages is in both enable and disable`,
		}},
		{"two-audit-policies.hcl", []string{`6:3 Two audit policies: policy is set at`}},
		{"bad-audit-policy.hcl", []string{`5:12 Invalid audit policy: The policy has no rules`}},
		{"missing-audit-file.hcl", []string{`5:17 Cannot read audit policy: no-such-policy.yaml: no such file`}},
		{"bad-locals.hcl", []string{
			`4:15 Invalid function argument: environment variable KENV_TEST_SURELY_UNSET is not set`,
			`2:7 Local refers to itself: local.a depends`,
			`3:7 Local refers to itself: local.b depends`,
		}},
		{"bad-component-settings.hcl", []string{
			`9:26 Delve option set by kenv: kenv sets --listen itself`,
			`6:15 Invalid verbosity: not -1`,
			`7:36 Invalid vmodule level: a whole number`,
			`5:3 kube-apiserver cannot be disabled: remove enabled = false`,
		}},
		{"bad-build.hcl", []string{
			`5:15 Invalid build tag: "providerless,dockerless" is not a build tag`,
			`7:22 Invalid package pattern: "k8s.io/=x" is not a package pattern`,
			`6:44 Invalid binary: "../x" is not a command of the Kubernetes tree`,
			`6:3 Binary listed twice: kube-apiserver is a component of the spec`,
		}},
		{"empty-version.hcl", []string{`2:13 Invalid Kubernetes version: "" is not a Kubernetes release version`}},
		{"empty-git.hcl", []string{`2:9 Empty git repository: Name a repository`, `3:9 Empty ref: Name a tag, branch or commit`}},
		{"go-language-version.hcl", []string{`3:13 Invalid Go version: "1.24" is not a Go release`}},
		{"etcd-last-port.hcl", []string{`5:10 Invalid port: The peer port defaults to port + 1, 65536`}},
		{"self-local.hcl", []string{`2:7 Local refers to itself: local.a depends`}},
		{"bad-skew.hcl", []string{
			`15:3 Unsupported block: kwok is not built from the Kubernetes tree`,
			`6:16 Version skew not supported: kube-scheduler v1.35.0 is newer than kube-apiserver v1.34.4; the version skew policy allows no kube-scheduler newer than kube-apiserver.`,
			`9:16 Version skew not supported: kube-controller-manager v1.32.9 is 2 minor versions older than kube-apiserver v1.34.4; the version skew policy allows kube-controller-manager at most 1 older.`,
			`12:16 Version skew not supported: kubelet v1.30.0 is 4 minor versions older than kube-apiserver v1.34.4; the version skew policy allows kubelet at most 3 older.`,
		}},
		{"bad-nodes.hcl", []string{
			`10:13 Invalid taint: write a taint as key=value:Effect`,
			`12:1 Duplicate node: Node "a" is already defined at`,
			`13:1 Invalid node name: "Node_B" is not a valid node name`,
			`14:3 Invalid label: zone=not valid!`,
			`15:3 Not a node's component: kube-scheduler does not run on a node`,
			`16:3 Component not in the spec: The spec does not run kube-proxy`,
			`5:14 Pod range too small for the nodes: for 2 nodes set network { pod_cidr } to a /23 or wider`,
		}},
		{"bad-swap.hcl", []string{
			`6:19 restore_after too short: give kenv at least 5s`,
			`7:3 How to reach the node: Say how kenv reaches node "cp-1"`,
			`10:12 Both ssh and exec`,
			`14:17 Invalid path on the node: "etc/kubernetes/manifests" must be an absolute directory`,
			`4:1 Not for a cluster kenv did not make: etcd sets up an environment kenv makes itself`,
			`18:10 Unknown node: "cp-9" is not a node of the cluster block; it has cp-1, cp-2, cp-3.`,
			`20:1 Not for a cluster's component: kube-scheduler runs with the command, flags and environment of its manifest on the node; flags is not taken here.`,
			`20:1 Not for a cluster's component: kube-scheduler runs with the command, flags and environment of its manifest on the node; emulated_version is not taken here.`,
			`20:1 Which node: The cluster block has 3 nodes`,
			`24:1 Not a component kenv swaps: kenv swaps the static pods of kube-apiserver, kube-controller-manager, kube-scheduler, and a node's kubelet that systemd runs.`,
		}},
		{"node-without-kubelet.hcl", []string{`5:1 Node without a kubelet: add component "kubelet" {}`}},
		{"bad-emulation.hcl", []string{
			`6:31 Invalid min_compatibility_version: "v1.33" is not a Kubernetes minor release; write it like "1.33".`,
			`16:5 Not a source's: A component's emulated version is its own: set it on the component`,
			`20:3 Unsupported argument: emulated_version is set on component "kube-apiserver", component "kube-controller-manager" and component "kube-scheduler" only. Only the control plane takes --emulated-version`,
			`23:3 Unsupported argument: emulated_version is set on`,
			`26:3 Unsupported argument: min_compatibility_version is set on`,
			`3:3 Emulated version not supported: kube-apiserver v1.34.4 emulates 1.31 to 1.34, not 1.30.`,
			`9:22 Emulated version not supported: kube-controller-manager v1.34.4 cannot emulate 1.35, a newer release`,
			`13:31 Emulated version not supported: kube-scheduler v1.33.4 has no --min-compatibility-version: it came with Kubernetes 1.35`,
		}},
		{"bad-debug.hcl", []string{
			`7:5 Conflicting Delve address: either port or listen`,
			`8:14 Invalid Delve version: "1.27" is not a Delve release`,
			`9:33 Empty breakpoint location: Name a function`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, _, diags := spec.ParseFile(filepath.Join("testdata", tt.file), plan.Catalog())
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
`), "/specs/debug.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Listening beyond loopback is allowed, with a warning.
	if len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || !strings.Contains(diags[0].Detail, "neither authenticated nor encrypted") {
		t.Errorf("diagnostics %v, want one warning about an unauthenticated Delve", diags)
	}
	d := s.Component("kube-apiserver").Debug
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
`), "/specs/debug.hcl", plan.Catalog())
	if len(diags) != 0 {
		t.Errorf("a default debug block has diagnostics: %v", diags)
	}
	if l := local.Component("kube-apiserver").Debug.Listen; l != "127.0.0.1:2345" {
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
`), "/specs/git.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if s.Kubernetes.Git != "/kubernetes" || s.Kubernetes.Ref != "release-1.34" {
		t.Errorf("a local repository is not resolved against the spec: %+v", s.Kubernetes)
	}
	for _, url := range []string{"https://example.invalid/kubernetes.git", "git@example.invalid:kubernetes/kubernetes.git"} {
		remote, diags := spec.Parse([]byte(fmt.Sprintf("kubernetes {\n  git = %q\n  ref = \"v1.34.4\"\n}\ncomponent \"kube-apiserver\" {}\n", url)), "/specs/git.hcl", plan.Catalog())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		if remote.Kubernetes.Git != url {
			t.Errorf("the remote %s was taken for a path: %s", url, remote.Kubernetes.Git)
		}
	}
}

func TestEverySetting(t *testing.T) {
	t.Setenv("KENV_TEST_VERBOSITY", "5")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gates.txt"), "WatchList")
	src := `
locals {
  gate = trimspace(file("gates.txt"))
  v    = tonumber(env("KENV_TEST_VERBOSITY"))
  home = env("KENV_TEST_SURELY_UNSET", "/nowhere")
}
kubernetes {
  version = "v1.34.4"
  go      = "1.24.12"
}
build {
  debug    = false
  tags     = ["providerless"]
  gcflags  = ["-d=checkptr"]
  ldflags  = ["-X main.x=1"]
  binaries = []
}
network {
  bind_address = "0.0.0.0"
  service_cidr = "10.96.0.0/16"
}
etcd {
  data_dir = "data/etcd"
}
log {
  verbosity = local.v
  dir       = "${local.home}/logs"
}
feature_gates       = { (local.gate) = true, AllAlpha = false }
authorization_modes = ["AlwaysAllow"]
admission {
  enable  = ["AlwaysPullImages"]
  disable = ["ResourceQuota"]
}
audit {
  policy = { rules = [{ level = "RequestResponse", resources = [{ group = "", resources = ["configmaps"] }] }] }
}
component "kube-apiserver" {
  verbosity = 2
  vmodule   = { "round_trippers" = 6, "httplog" = 4 }
  args      = ["--profiling"]
  env       = { GODEBUG = "http2debug=1", N = 2 }
  debug {
    dlv_args = ["--log", "--log-output=rpc"]
  }
}
component "kube-scheduler" {
  enabled = false
}
`
	writeFile(t, filepath.Join(dir, "all.hcl"), src)
	s, _, diags := spec.ParseFile(filepath.Join(dir, "all.hcl"), plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Binding to every interface is allowed, with a warning.
	if len(diags) != 1 || diags[0].Summary != "Components listen beyond loopback" {
		t.Errorf("diagnostics %v, want one warning about binding beyond loopback", diags)
	}
	if s.Kubernetes.Go != "1.24.12" {
		t.Errorf("go pin %q", s.Kubernetes.Go)
	}
	if b := s.Build; b.Unoptimized || fmt.Sprint(b.Tags, b.GCFlags, b.LDFlags) != "[providerless] [-d=checkptr] [-X main.x=1]" || len(b.Binaries) != 0 {
		t.Errorf("build %+v", b)
	}
	if n := s.Network; n.BindAddress != "0.0.0.0" || n.APIHost != "127.0.0.1" || n.ServiceCIDR != "10.96.0.0/16" {
		t.Errorf("network %+v: a spec bound to every interface is reached on loopback", n)
	}
	if s.Etcd.DataDir != filepath.Join(dir, "data/etcd") {
		t.Errorf("etcd data dir %q, want it relative to the spec", s.Etcd.DataDir)
	}
	if s.Log.Verbosity != 5 || s.Log.Dir != "/nowhere/logs" {
		t.Errorf("log %+v, want verbosity from the environment and the env default", s.Log)
	}
	if fmt.Sprint(s.FeatureGates) != "map[AllAlpha:false WatchList:true]" {
		t.Errorf("feature gates %v", s.FeatureGates)
	}
	if fmt.Sprint(s.AuthorizationModes, s.Admission) != "[AlwaysAllow] {[AlwaysPullImages] [ResourceQuota]}" {
		t.Errorf("authorization %v, admission %+v", s.AuthorizationModes, s.Admission)
	}
	if !strings.Contains(s.Audit.Policy, `"kind": "Policy"`) || !strings.Contains(s.Audit.Policy, `"level": "RequestResponse"`) {
		t.Errorf("audit policy %s", s.Audit.Policy)
	}
	if got := s.TreeComponents(); len(got) != 1 {
		t.Errorf("components %v, want the disabled scheduler left out", got)
	}
	api := s.Component("kube-apiserver")
	if *api.Verbosity != 2 || fmt.Sprint(api.VModule, api.Args, api.Env) != "map[httplog:4 round_trippers:6] [--profiling] map[GODEBUG:http2debug=1 N:2]" {
		t.Errorf("kube-apiserver %+v", api)
	}
	if fmt.Sprint(api.Debug.DlvArgs) != "[--log --log-output=rpc]" {
		t.Errorf("dlv args %v", api.Debug.DlvArgs)
	}
	if r := s.Range("kubernetes.go"); r.Start.Line != 9 {
		t.Errorf("kubernetes.go is at %s, want line 9", r)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOwnSource(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kube-scheduler" {
  kubernetes {
    version = "v1.33.13"
    go      = "1.25.11"
  }
}
component "kubelet" {
  kubernetes { version = "v1.31.14" }
}
`), "/specs/skew.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := s.TreeComponents(); len(got) != 1 || got[0] != "kube-apiserver" {
		t.Errorf("TreeComponents = %v, want kube-apiserver alone: the others have sources of their own", got)
	}
	trees := s.OwnTrees()
	if len(trees) != 2 {
		t.Fatalf("%d own trees, want 2", len(trees))
	}
	sched := trees[0]
	if sched.Kubernetes.Version != "v1.33.13" || sched.Kubernetes.Go != "1.25.11" || len(sched.Components) != 1 ||
		sched.Components[0].Name != "kube-scheduler" || sched.Components[0].Kubernetes != nil || len(sched.Build.Binaries) != 0 {
		t.Errorf("the scheduler's tree: %+v", sched)
	}
	if got := sched.TreeComponents(); len(got) != 1 || got[0] != "kube-scheduler" {
		t.Errorf("the scheduler's tree builds %v", got)
	}
	// The lock's messages point at the component's own block.
	if r := sched.Range("kubernetes.version"); r.Start.Line != 8 {
		t.Errorf("kubernetes.version of the scheduler's tree is at line %d, want 8", r.Start.Line)
	}
	if r := trees[1].Range("kubernetes.go"); r.Start.Line != 13 {
		t.Errorf("the kubelet's tree sets no go: its range is the block's, line 13; got %d", r.Start.Line)
	}
	if s.Kubernetes.Version != "v1.34.4" {
		t.Errorf("OwnTrees changed the spec")
	}
}

func TestNodes(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kubelet" {
  debug {}
}
component "kube-proxy" {}
node "a" {}
node "b" {
  labels = { "topology.kubernetes.io/zone" = "b" }
  taints = ["dedicated=debug:NoSchedule"]
}
node "c" {
  component "kubelet" {
    flags = { v = 6 }
  }
}
`), "/specs/three.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(s.Nodes) != 3 || s.Nodes[1].Labels["topology.kubernetes.io/zone"] != "b" || s.Nodes[1].Taints[0] != "dedicated=debug:NoSchedule" {
		t.Fatalf("nodes %+v", s.Nodes)
	}
	// Every node runs the spec's kubelet, whose Delve each reaches at a
	// port of its own, but for c, whose own block replaces it.
	for i, want := range []int{2348, 2349, 0} {
		var kubelet *spec.Component
		for _, c := range s.OnNode(i) {
			if c.Name == "kubelet" {
				kubelet = &c
			}
		}
		switch {
		case kubelet == nil:
			t.Errorf("node %s runs no kubelet", s.Nodes[i].Name)
		case want == 0 && (kubelet.Debug != nil || kubelet.Flags["v"] == nil):
			t.Errorf("node %s's kubelet %+v, want its own block's", s.Nodes[i].Name, kubelet)
		case want != 0 && (kubelet.Debug == nil || kubelet.Debug.Port != want || kubelet.Debug.Listen != fmt.Sprintf("127.0.0.1:%d", want)):
			t.Errorf("node %s's kubelet Delve %+v, want port %d", s.Nodes[i].Name, kubelet.Debug, want)
		}
	}
	// The nodes reach kube-apiserver on their bridge; so does the admin.
	if s.Network.APIHost != "10.89.0.1" {
		t.Errorf("api host %s, want the bridge's address 10.89.0.1", s.Network.APIHost)
	}

	one, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kubelet" {}
`), "/specs/one.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(one.Nodes) != 1 || one.Nodes[0].Name != spec.DefaultNode {
		t.Errorf("a spec with a kubelet and no node block has nodes %+v, want one, %s", one.Nodes, spec.DefaultNode)
	}
}

func TestSwap(t *testing.T) {
	s, _, diags := spec.ParseFile(filepath.Join("testdata", "swap.hcl"), plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := s.Cluster
	if c == nil || len(c.Nodes) != 1 {
		t.Fatalf("cluster: %+v", c)
	}
	n := c.Nodes[0]
	if n.SSH != "root@10.0.0.5" || !slices.Equal(n.SSHOptions, []string{"-p", "2222"}) || n.Manifests != spec.DefaultManifests || n.Dir != spec.DefaultRemoteDir {
		t.Errorf("node: %+v", n)
	}
	if c.RestoreAfter != time.Minute || !filepath.IsAbs(c.Kubeconfig) {
		t.Errorf("restore_after %s, kubeconfig %s", c.RestoreAfter, c.Kubeconfig)
	}
	// Without a kubernetes block the source is the cluster's version,
	// which up reads; the one component runs on the one node.
	if s.Kubernetes != (spec.Kubernetes{}) || len(s.Build.Binaries) != 0 {
		t.Errorf("kubernetes %+v, binaries %v", s.Kubernetes, s.Build.Binaries)
	}
	if api := s.Component("kube-apiserver"); api == nil || api.Node != "cp-1" || api.Debug == nil {
		t.Errorf("kube-apiserver: %+v", api)
	}
}

func TestEmulation(t *testing.T) {
	s, _, diags := spec.ParseFile(filepath.Join("testdata", "emulation.hcl"), plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for name, want := range map[string]string{"kube-apiserver": "1.33", "kube-controller-manager": "1.32", "kube-scheduler": "1.33", "kubelet": ""} {
		if got := s.Component(name).Emulation.Version; got != want {
			t.Errorf("%s emulates %q, want %q (the kubernetes block's, its own, or none for the kubelet)", name, got, want)
		}
	}
	if r := s.Range(s.Component("kube-controller-manager").Emulation.SetAt[spec.EmulatedVersion]); r.Start.Line != 7 {
		t.Errorf("the controller-manager's emulated_version is at %s, want line 7", r)
	}
}

// TestCheckEmulation follows each release's own rules (k8s.io/apiserver
// pkg/util/compatibility and its predecessors).
func TestCheckEmulation(t *testing.T) {
	tests := []struct {
		binary          string
		version, compat string
		refused         string // the attribute, or "" when taken
	}{
		{"v1.30.9", "1.30", "", spec.EmulatedVersion}, // no flag before 1.31
		{"v1.31.4", "1.31", "", ""},
		{"v1.31.4", "1.30", "", spec.EmulatedVersion}, // 1.31 emulates only itself
		{"v1.32.3", "1.31", "", ""},
		{"v1.32.3", "1.30", "", spec.EmulatedVersion},
		{"v1.33.1", "1.31", "", ""},
		{"v1.34.4", "1.31", "", ""},
		{"v1.34.4", "1.30", "", spec.EmulatedVersion},
		{"v1.34.4", "1.35", "", spec.EmulatedVersion},
		{"v1.36.3", "1.33", "", ""},
		{"v1.36.3", "1.32", "", spec.EmulatedVersion}, // three back
		{"v1.34.4", "1.33", "1.32", spec.MinCompatibilityVersion},
		{"v1.35.0", "1.34", "1.32", ""},
		{"v1.35.0", "1.34", "1.35", spec.MinCompatibilityVersion}, // newer than emulated
		{"v1.35.0", "", "1.31", spec.MinCompatibilityVersion},     // below the floor 1.32
		{"v1.35.0", "", "1.32", ""},
		{"v1.34.0-alpha.1.123+abcdef", "1.33", "", ""},
		{"", "1.20", "", ""}, // a checkout not yet at hand
	}
	for _, tt := range tests {
		err := spec.CheckEmulation("kube-apiserver", tt.binary, spec.Emulation{Version: tt.version, MinCompatibility: tt.compat})
		var e *spec.EmulationError
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("%s emulating %q (compatible with %q): refused: %v", tt.binary, tt.version, tt.compat, err)
		case tt.refused != "" && (!errors.As(err, &e) || e.Attribute != tt.refused):
			t.Errorf("%s emulating %q (compatible with %q): %v, want %s refused", tt.binary, tt.version, tt.compat, err, tt.refused)
		}
	}
}
