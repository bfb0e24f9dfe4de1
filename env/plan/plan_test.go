package plan_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/kwok"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

func newPlan(t *testing.T, src string) *plan.Plan {
	t.Helper()
	s, diags := spec.Parse([]byte(src), "/specs/test.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, err := plan.New(plan.Inputs{Spec: s, Env: layout.NewEnv("/state", s.Name), Cache: layout.Cache{Dir: "/cache"}}, "/cache/bin")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const allThree = `
kubernetes {
  version = "v1.34.4"
}
etcd {
  port = 12379
}
component "kube-apiserver" {
  port = 16443
  debug {
    port = 12345
  }
  flags = {
    v              = 6
    feature-gates  = "AllAlpha=false,WatchList=true"
    cors-allowed-origins = null
    profiling      = true
  }
}
component "kube-controller-manager" {
  port = 20257
}
component "kube-scheduler" {
  port = 20259
}
`

func TestComputedFlags(t *testing.T) {
	p := newPlan(t, allThree)
	want := map[string]map[string]string{
		"kube-apiserver": {
			"v":                                "6",
			"authorization-mode":               "Node,RBAC",
			"bind-address":                     "127.0.0.1",
			"advertise-address":                "127.0.0.1",
			"secure-port":                      "16443",
			"etcd-servers":                     "http://127.0.0.1:12379",
			"client-ca-file":                   "/state/test/pki/client-ca.crt",
			"tls-cert-file":                    "/state/test/pki/serving-kube-apiserver.crt",
			"tls-private-key-file":             "/state/test/pki/serving-kube-apiserver.key",
			"service-account-key-file":         "/state/test/pki/service-account.key",
			"service-account-signing-key-file": "/state/test/pki/service-account.key",
			"service-account-issuer":           "https://kubernetes.default.svc",
			"service-cluster-ip-range":         "10.0.0.0/24",
			"requestheader-client-ca-file":     "/state/test/pki/request-header-ca.crt",
			"requestheader-allowed-names":      "system:auth-proxy",
			"proxy-client-cert-file":           "/state/test/pki/client-auth-proxy.crt",
			"kubelet-client-certificate":       "/state/test/pki/client-kube-apiserver.crt",
			"feature-gates":                    "AllAlpha=false,WatchList=true",
			"audit-policy-file":                "/state/test/config/audit-policy.yaml",
			"egress-selector-config-file":      "/state/test/config/egress-selector.yaml",
			"profiling":                        "true",
		},
		"kube-controller-manager": {
			"kubeconfig":                       "/state/test/controller.kubeconfig",
			"authentication-kubeconfig":        "/state/test/controller.kubeconfig",
			"service-account-private-key-file": "/state/test/pki/service-account.key",
			"root-ca-file":                     "/state/test/pki/server-ca.crt",
			"cluster-signing-cert-file":        "/state/test/pki/client-ca.crt",
			"cluster-signing-key-file":         "/state/test/pki/client-ca.key",
			"use-service-account-credentials":  "true",
			"controllers":                      "*",
			"leader-elect":                     "false",
			"secure-port":                      "20257",
			"bind-address":                     "127.0.0.1",
		},
		"kube-scheduler": {
			"config":                    "/state/test/config/kube-scheduler.yaml",
			"authentication-kubeconfig": "/state/test/scheduler.kubeconfig",
			"secure-port":               "20259",
			"bind-address":              "127.0.0.1",
		},
	}
	for _, c := range p.Components {
		for name, value := range want[c.Name] {
			if got, ok := c.Flag(name); !ok || got != value {
				t.Errorf("%s --%s=%q (set: %v), want %q", c.Name, name, got, ok, value)
			}
		}
		seen := map[string]bool{}
		for _, f := range c.Flags {
			if seen[f.Name] {
				t.Errorf("%s has --%s twice", c.Name, f.Name)
			}
			seen[f.Name] = true
			if strings.HasSuffix(f.Name, "address") && f.Value != "127.0.0.1" {
				t.Errorf("%s --%s=%s binds beyond loopback", c.Name, f.Name, f.Value)
			}
		}
	}
	api := p.Components[0]
	if _, ok := api.Flag("cors-allowed-origins"); ok {
		t.Errorf("a null flag in the spec did not remove --cors-allowed-origins")
	}
	// An override keeps the computed flag's place; an addition goes last.
	if api.Flags[0].Name != "v" || api.Flags[len(api.Flags)-1].Name != "profiling" {
		t.Errorf("flag order: first %s, last %s", api.Flags[0].Name, api.Flags[len(api.Flags)-1].Name)
	}
	if api.HealthURL != "https://127.0.0.1:16443/readyz" || p.Components[1].HealthURL != "https://127.0.0.1:20257/healthz" {
		t.Errorf("health URLs %s, %s", api.HealthURL, p.Components[1].HealthURL)
	}
}

func TestDelveCommand(t *testing.T) {
	p := newPlan(t, allThree)
	api := p.Components[0]
	cmd := withDlv(api, "/cache/dlv/dlv").Command()
	wantPrefix := []string{"/cache/dlv/dlv", "exec", "--headless", "--api-version=2", "--accept-multiclient",
		"--listen=127.0.0.1:12345", "--continue", "/cache/bin/kube-apiserver", "--"}
	if !slices.Equal(cmd[:len(wantPrefix)], wantPrefix) {
		t.Errorf("command %q", cmd[:len(wantPrefix)])
	}
	if !slices.Equal(cmd[len(wantPrefix):], api.CommandArgs()) {
		t.Errorf("the component's flags do not follow --")
	}
	kcm := p.Components[1]
	if cmd := kcm.Command(); cmd[0] != "/cache/bin/kube-controller-manager" {
		t.Errorf("an undebugged component runs as %q", cmd[0])
	}

	waiting := newPlan(t, `
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  debug {
    wait = true
  }
}`)
	if slices.Contains(withDlv(waiting.Components[0], "dlv").Command(), "--continue") {
		t.Errorf("wait = true still passes --continue")
	}
}

func TestFilesAndCertificates(t *testing.T) {
	p := newPlan(t, allThree)
	var paths []string
	for _, f := range p.Files {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	want := []string{"/state/test/config/audit-policy.yaml", "/state/test/config/egress-selector.yaml", "/state/test/config/kube-scheduler.yaml"}
	if !slices.Equal(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, "kube-scheduler.yaml") && !strings.Contains(f.Content, "kubeconfig: /state/test/scheduler.kubeconfig") {
			t.Errorf("scheduler config does not name its kubeconfig:\n%s", f.Content)
		}
	}
	serving := p.Certificates[0]
	if serving.Name != "serving-kube-apiserver" || !slices.Contains(serving.Hosts, "10.0.0.1") || !slices.Contains(serving.Hosts, "kubernetes.default.svc.cluster.local") {
		t.Errorf("serving certificate %+v", serving)
	}
	if p.APIServerURL != "https://127.0.0.1:16443" || p.Etcd.PeerURL != "http://127.0.0.1:12380" {
		t.Errorf("URLs %s %s", p.APIServerURL, p.Etcd.PeerURL)
	}
}

func TestClusterSettings(t *testing.T) {
	p := newPlan(t, `
kubernetes {
  version = "v1.34.4"
}
network {
  bind_address = "0.0.0.0"
  api_host     = "kenv.example"
  service_cidr = "10.96.0.0/16"
}
log {
  verbosity = 2
  dir       = "/logs"
}
etcd {
  data_dir = "/data"
}
feature_gates       = { WatchList = true, AllAlpha = false }
authorization_modes = ["AlwaysAllow"]
admission {
  enable  = ["AlwaysPullImages", "NamespaceLifecycle"]
  disable = ["ResourceQuota"]
}
audit {
  policy = { rules = [{ level = "None" }] }
}
component "kube-apiserver" {
  vmodule = { "round_trippers" = 6 }
  args    = ["--profiling=false"]
  env     = { GODEBUG = "gctrace=1" }
  debug {
    dlv_args = ["--log"]
  }
}
component "kube-controller-manager" {
  verbosity = 5
}
`)
	api, kcm := p.Components[0], p.Components[1]
	for name, want := range map[string]string{
		"v":                         "2",
		"vmodule":                   "round_trippers=6",
		"bind-address":              "0.0.0.0",
		"service-cluster-ip-range":  "10.96.0.0/16",
		"feature-gates":             "AllAlpha=false,WatchList=true",
		"authorization-mode":        "AlwaysAllow",
		"enable-admission-plugins":  "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,DefaultTolerationSeconds,Priority,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,NodeRestriction,AlwaysPullImages",
		"disable-admission-plugins": "ResourceQuota",
		"audit-log-path":            "/logs/kube-apiserver-audit.log",
	} {
		if got, _ := api.Flag(name); got != want {
			t.Errorf("kube-apiserver --%s=%q, want %q", name, got, want)
		}
	}
	// Bound to every interface, the apiserver picks the address to
	// advertise itself, as upstream.
	if v, set := api.Flag("advertise-address"); set {
		t.Errorf("advertise-address=%s set with bind address 0.0.0.0", v)
	}
	if v, _ := kcm.Flag("v"); v != "5" {
		t.Errorf("kube-controller-manager -v=%s, want its own 5", v)
	}
	if kcm.HealthURL != "https://127.0.0.1:10257/healthz" || p.APIServerURL != "https://kenv.example:6443" {
		t.Errorf("health %s, API %s", kcm.HealthURL, p.APIServerURL)
	}
	// api_host is for the admin's tools; the components reach the
	// apiserver on this machine, whether or not the name resolves here.
	for _, k := range p.Kubeconfigs {
		want := "https://127.0.0.1:6443"
		if k.Client == pki.AdminClient {
			want = "https://kenv.example:6443"
		}
		if k.Server != want {
			t.Errorf("the %s kubeconfig names %s, want %s", k.Client, k.Server, want)
		}
	}
	if p.Etcd.DataDir != "/data" || p.Etcd.LogPath != "/logs/etcd.log" || api.LogPath != "/logs/kube-apiserver.log" {
		t.Errorf("etcd %+v, log %s", p.Etcd, api.LogPath)
	}
	cmd := withDlv(api, "dlv").Command()
	if !slices.Contains(cmd, "--log") || slices.Index(cmd, "--log") > slices.Index(cmd, api.Binary) {
		t.Errorf("dlv_args not given to dlv: %v", cmd)
	}
	if cmd[len(cmd)-1] != "--profiling=false" {
		t.Errorf("args not last: %v", cmd)
	}
	if !slices.Contains(api.Env, "GODEBUG=gctrace=1") {
		t.Errorf("env %v", api.Env)
	}
	var serving []string
	for _, c := range p.Certificates {
		if c.Name == pki.APIServerServing {
			serving = c.Hosts
		}
	}
	for _, host := range []string{"kenv.example", "10.96.0.1", "127.0.0.1", "kubernetes.default.svc"} {
		if !slices.Contains(serving, host) {
			t.Errorf("serving certificate SANs %v lack %s", serving, host)
		}
	}
	var policy string
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, "audit-policy.yaml") {
			policy = f.Content
		}
	}
	if !strings.Contains(policy, `"level": "None"`) {
		t.Errorf("audit policy %q is not the spec's", policy)
	}
}

func TestBuildRequest(t *testing.T) {
	s, diags := spec.Parse([]byte(`
kubernetes {
  version = "v1.34.4"
}
build {
  debug    = false
  tags     = ["providerless"]
  gcflags  = ["-d=checkptr"]
  binaries = ["kubectl", "kubeadm"]
}
component "kube-apiserver" {}
`), "/specs/test.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tree := &source.Tree{Dir: "/src", GoVersion: "1.24.12"}
	argv, env := build.Command(plan.Build(s, tree, "/bin"))
	got := strings.Join(argv, " ")
	for _, want := range []string{"-gcflags=all=-d=checkptr ", "-tags=selinux,notest,providerless ", "./cmd/kube-apiserver ./cmd/kubectl ./cmd/kubeadm"} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("go build %s lacks %q", got, want)
		}
	}
	if strings.Contains(got, "-N -l") {
		t.Errorf("debug = false still builds with -N -l: %s", got)
	}
	if !slices.Contains(env, "GOTOOLCHAIN=go1.24.12") {
		t.Errorf("env %v", env)
	}
}

// withDlv is c run by the dlv at path, as Decide locates it.
func withDlv(c plan.Component, path string) plan.Component {
	d := *c.Debug
	d.Dlv = path
	c.Debug = &d
	return c
}

// TestKwok: kwok is installed from its module, not built from the tree;
// it serves the nodes' endpoint with a certificate of the server CA, and
// manages only the nodes kenv registers for it.
func TestKwok(t *testing.T) {
	const src = `
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kwok" {
  nodes = 3
  port  = 11247
}
`
	p := newPlan(t, src)
	if p.Kwok == nil || !slices.Equal(p.Kwok.Nodes, []string{"kwok-node-0", "kwok-node-1", "kwok-node-2"}) {
		t.Fatalf("kwok plan: %+v", p.Kwok)
	}
	if m := p.Kwok.Module; m.Path != "sigs.k8s.io/kwok" || m.Version != kwok.DefaultVersion || p.Kwok.Dir != "/cache/kwok/"+m.Version {
		t.Errorf("kwok module %+v in %s", m, p.Kwok.Dir)
	}
	c, _ := p.Component("kwok")
	if c.Binary != "/cache/kwok/"+kwok.DefaultVersion+"/kwok" || c.HealthURL != "https://127.0.0.1:11247/healthz" {
		t.Errorf("kwok runs %s, ready at %s", c.Binary, c.HealthURL)
	}
	for name, want := range map[string]string{
		"manage-nodes-with-annotation-selector": "kwok.x-k8s.io/node=fake",
		"server-address":                        "127.0.0.1:11247",
		"tls-cert-file":                         pki.CertPath(p.Env.CertDir(), pki.KwokServing),
		"v":                                     "INFO",
	} {
		if got, _ := c.Flag(name); got != want {
			t.Errorf("kwok --%s=%q, want %q", name, got, want)
		}
	}
	if got, _ := c.Flag("config"); got != "/cache/kwok/"+kwok.DefaultVersion+"/stages.yaml" {
		t.Errorf("kwok --config=%s", got)
	}
	s, _ := spec.Parse([]byte(src), "/specs/test.hcl", plan.Catalog())
	if b := plan.Build(s, &source.Tree{Dir: "/src"}, "/bin"); slices.Contains(b.Components, "kwok") || !slices.Contains(b.Components, "kube-apiserver") {
		t.Errorf("the tree's build includes kwok: %v", b.Components)
	}
	if !slices.ContainsFunc(p.Certificates, func(l pki.Leaf) bool { return l.Name == pki.KwokServing && slices.Contains(l.Hosts, "127.0.0.1") }) {
		t.Errorf("no serving certificate for kwok: %v", p.Certificates)
	}
	// The lock's release, unless the spec pins one.
	in := plan.Inputs{Spec: s, Env: p.Env, Cache: layout.Cache{Dir: "/cache"}, Lock: &lock.Lock{Installed: map[string]string{"kwok": "v0.7.0"}}}
	if locked, err := plan.New(in, "/bin"); err != nil || locked.Kwok.Module.Version != "v0.7.0" {
		t.Errorf("with a lock of kwok v0.7.0: %+v, %v", locked.Kwok, err)
	}
	pinned, _ := spec.Parse([]byte(strings.Replace(src, "nodes = 3", "nodes = 3\n  version = \"v0.8.1\"", 1)), "/specs/test.hcl", plan.Catalog())
	in.Spec = pinned
	if p, err := plan.New(in, "/bin"); err != nil || p.Kwok.Module.Version != "v0.8.1" {
		t.Errorf("pinned to kwok v0.8.1 with a lock of v0.7.0: %+v, %v", p.Kwok, err)
	}
}

// TestOwnTree decides a scheduler built from a release of its own beside
// the environment's tree: its binary, toolchain and Delve are its tree's,
// and the environment's build leaves it out.
func TestOwnTree(t *testing.T) {
	const src = `
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {
  debug {}
}
component "kube-scheduler" {
  kubernetes {
    version = "v1.33.13"
  }
  debug {}
}
`
	s, diags := spec.Parse([]byte(src), "/specs/skew.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cache := layout.Cache{Dir: "/cache"}
	main := &source.Tree{Key: "kubernetes@v1.34.4", Dir: "/cache/src/kubernetes@v1.34.4", GoVersion: "1.24.12", Version: source.Version{GitVersion: "v1.34.4"}}
	own := &source.Tree{Key: "kubernetes@v1.33.13", Dir: "/cache/src/kubernetes@v1.33.13", GoVersion: "1.27.1", Version: source.Version{GitVersion: "v1.33.13"}}
	in := plan.Inputs{Spec: s, Env: layout.NewEnv("/state", s.Name), Cache: cache, Tree: main,
		Trees: map[string]*source.Tree{"kube-scheduler": own}, Machine: plan.Machine{Dlv: delve.Dlv{Path: "/usr/bin/dlv", Release: "v1.26.2"}}}
	p, err := plan.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Build.Components; slices.Contains(got, "kube-scheduler") || !slices.Contains(got, "kube-apiserver") {
		t.Errorf("the environment's tree builds %v", got)
	}
	tree := p.TreeOf("kube-scheduler")
	if tree.Source.Dir != own.Dir || tree.Toolchain.Go != "1.27.1" || !slices.Equal(tree.Build.Components, []string{"kube-scheduler"}) {
		t.Errorf("the scheduler's tree: %+v", tree)
	}
	sched, _ := p.Component("kube-scheduler")
	if want := "/cache/bin/kubernetes@v1.33.13/debug/kube-scheduler"; sched.Binary != want {
		t.Errorf("the scheduler's binary is %s, want %s", sched.Binary, want)
	}
	// Go 1.27 needs Delve 1.27: not the dlv on PATH, which debugs the
	// environment's Go 1.24 binaries.
	api, _ := p.Component("kube-apiserver")
	if sched.Debug.Release != "v1.27.2" || !sched.Debug.Install || api.Debug.Dlv != "/usr/bin/dlv" {
		t.Errorf("Delve: the scheduler's %+v, kube-apiserver's %+v", sched.Debug, api.Debug)
	}

	// A spec edit that keeps the trees restarts the component with its
	// new flags; another tree for it takes a new environment.
	decide := func(src string, trees map[string]*source.Tree) *plan.Plan {
		t.Helper()
		s, diags := spec.Parse([]byte(src), "/specs/skew.hcl", plan.Catalog())
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		next := in
		next.Spec, next.Trees = s, trees
		p, err := plan.Decide(next)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	flagged := decide(strings.Replace(src, "  }\n  debug {}\n", "  }\n  debug {}\n  flags = { v = 6 }\n", 1), in.Trees)
	if ch := plan.Compare(p, flagged); len(ch.Anew) > 0 || len(ch.Restart) != 1 || ch.Restart[0].Name != "kube-scheduler" {
		t.Errorf("a flag of the scheduler: %+v", ch)
	}
	other := &source.Tree{Key: "kubernetes@v1.33.12", Dir: "/cache/src/kubernetes@v1.33.12", GoVersion: "1.27.1", Version: source.Version{GitVersion: "v1.33.12"}}
	moved := decide(strings.Replace(src, "v1.33.13", "v1.33.12", 1), map[string]*source.Tree{"kube-scheduler": other})
	if ch := plan.Compare(p, moved); !slices.Contains(ch.Anew, "the components' own sources") {
		t.Errorf("another release of the scheduler: %+v", ch)
	}

	// A tree whose version shows only once it is at hand is checked then,
	// at the component's block.
	own.Version.GitVersion = "v1.35.1"
	if _, err := plan.Decide(in); err == nil || !strings.Contains(err.Error(), "/specs/skew.hcl:9,") ||
		!strings.Contains(err.Error(), "kube-scheduler v1.35.1 is newer than kube-apiserver v1.34.4; the version skew policy") {
		t.Errorf("a newer scheduler's tree: %v", err)
	}
}

// TestNodes: each node runs its containerd, kubelet and kube-proxy in its
// own namespaces, at its own address on the environment's bridge, with
// its own certificates and files; kube-apiserver listens on the bridge's
// host address, and the controller-manager gives the nodes their ranges.
func TestNodes(t *testing.T) {
	const src = `
name = "three"
kubernetes {
  version = "v1.34.4"
}
network {
  node_cidr = "10.90.0.0/24"
}
component "kube-apiserver" {}
component "kube-controller-manager" {}
component "kubelet" {}
component "kube-proxy" {}
component "coredns" {}
node "a" {}
node "b" {
  taints = ["dedicated=debug:NoSchedule"]
}
node "c" {
  component "kubelet" {
    debug {}
  }
}
`
	p := newPlan(t, src)
	if p.Nodes == nil || len(p.Nodes.List) != 3 || p.Nodes.Bridge.Name != "kenv-three" || p.Nodes.Bridge.Addr.String() != "10.90.0.1/24" {
		t.Fatalf("nodes %+v", p.Nodes)
	}
	var names []string
	for _, c := range p.Components {
		names = append(names, c.Name)
	}
	want := []string{"kube-apiserver", "kube-controller-manager", "coredns",
		"a/containerd", "a/kubelet", "a/kube-proxy", "b/containerd", "b/kubelet", "b/kube-proxy", "c/containerd", "c/kubelet", "c/kube-proxy"}
	if !slices.Equal(names, want) {
		t.Errorf("components %v, want %v", names, want)
	}
	for i, n := range p.Nodes.List {
		if got, want := n.Addr.String(), fmt.Sprintf("10.90.0.%d/24", i+2); got != want {
			t.Errorf("node %s at %s, want %s", n.Name, got, want)
		}
		kubelet, _ := p.Component(n.Name + "/kubelet")
		if kubelet.Node != n.Name || kubelet.Kind != "kubelet" || kubelet.Address != n.Addr.Addr().String()+":10250" {
			t.Errorf("%s: node %q kind %q address %s", kubelet.Name, kubelet.Node, kubelet.Kind, kubelet.Address)
		}
		if v, _ := kubelet.Flag("node-ip"); v != n.Addr.Addr().String() {
			t.Errorf("%s --node-ip=%s", kubelet.Name, v)
		}
		// A node's port is its own, not this machine's.
		if ports := kubelet.Ports(); len(ports) != 0 && kubelet.Debug == nil {
			t.Errorf("%s takes this machine's ports %v", kubelet.Name, ports)
		}
	}
	api, _ := p.Component("kube-apiserver")
	if v, _ := api.Flag("bind-address"); v != "10.90.0.1" || api.HealthURL != "https://10.90.0.1:6443/readyz" {
		t.Errorf("kube-apiserver binds %s, checked at %s; want the bridge's address", v, api.HealthURL)
	}
	kcm, _ := p.Component("kube-controller-manager")
	if v, _ := kcm.Flag("allocate-node-cidrs"); v != "true" {
		t.Errorf("the controller-manager does not allocate the nodes' ranges")
	}
	if c, _ := p.Component("c/kubelet"); c.Debug == nil || c.Debug.Listen != "127.0.0.1:2348" {
		t.Errorf("node c's kubelet Delve %+v, want its own block's, 127.0.0.1:2348", c.Debug)
	}
	if p.DNS == nil || p.DNS.ServiceIP != "10.0.0.10" || p.DNS.Address != "10.90.0.1" {
		t.Errorf("cluster DNS %+v", p.DNS)
	}
	var config string
	for _, f := range p.Files {
		if f.Path == "/state/three/config/b/kubelet.yaml" {
			config = f.Content
		}
	}
	for _, want := range []string{"address: 10.90.0.3", "clusterDNS: [10.0.0.10]", `registerWithTaints: [{key: "dedicated", value: "debug", effect: NoSchedule}]`} {
		if !strings.Contains(config, want) {
			t.Errorf("node b's kubelet.yaml lacks %q:\n%s", want, config)
		}
	}
}

func TestCluster(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`
cluster {
  kubeconfig    = %q
  restore_after = "20s"
  node "cp-1" {
    exec = ["docker", "exec", "-i", "kind-control-plane"]
  }
}
component "kube-apiserver" {
  debug {
    port        = 2399
    breakpoints = ["k8s.io/apiserver/pkg/registry/generic/registry.(*Store).Create"]
  }
}
component "kube-scheduler" {}
component "kubelet" {}
`, kubeconfig)
	s, diags := spec.Parse([]byte(src), "/specs/swap.hcl", plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// up reads the cluster's version first, and builds it.
	s.Kubernetes.Version = "v1.33.5"
	cache := layout.Cache{Dir: "/cache"}
	tree := &source.Tree{Key: "kubernetes@v1.33.5", Dir: "/cache/src/kubernetes@v1.33.5", GoVersion: "1.24.9", Version: source.Version{GitVersion: "v1.33.5"}}
	in := plan.Inputs{Spec: s, Env: layout.NewEnv("/state", s.Name), Cache: cache, Tree: tree,
		Machine: plan.Machine{Dlv: delve.Dlv{Path: "/usr/bin/dlv", Release: "v1.26.2"}, Kenv: "/usr/local/bin/kenv"},
		Cluster: plan.ClusterFacts{Server: "https://10.0.0.5:6443", Version: "v1.33.5", Commit: "abc"}}
	p, err := plan.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cluster == nil || p.Etcd.ClientURL != "" || len(p.Certificates)+len(p.Kubeconfigs)+len(p.Files) != 0 {
		t.Fatalf("a swap plans something of kenv's own environments: %+v", p)
	}
	if got := p.Build.Components; !slices.Equal(got, []string{"kube-apiserver", "kube-scheduler", "kubelet"}) {
		t.Errorf("builds %v", got)
	}
	api, ok := p.Component("cp-1/kube-apiserver")
	if !ok {
		t.Fatalf("components %+v", p.Components)
	}
	if api.HealthURL != "https://10.0.0.5:6443/readyz" || api.Node != "cp-1" || len(api.Flags) != 0 || api.Debug.Listen != "127.0.0.1:2399" {
		t.Errorf("kube-apiserver: %+v", api)
	}
	// Only Delve's port is this machine's.
	if ports := p.Ports(); len(ports) != 1 || ports[0].Address != "127.0.0.1:2399" {
		t.Errorf("ports %+v", ports)
	}
	n := p.Cluster.Nodes[0]
	if n.Dir != "/var/lib/kenv/swap" || n.Grace != 20*time.Second || n.Manifest("kube-apiserver") != "/etc/kubernetes/manifests/kube-apiserver.yaml" ||
		n.Manifest("kubelet") != "" {
		t.Errorf("node %+v", n)
	}
	var shipped []string
	for _, f := range n.Files {
		shipped = append(shipped, f.Local+" -> "+f.Remote)
	}
	binDir := p.BinDir
	want := []string{
		"/usr/local/bin/kenv -> /var/lib/kenv/swap/bin/kenv",
		binDir + "/kube-apiserver -> /var/lib/kenv/swap/bin/kube-apiserver",
		api.Debug.Dlv + " -> /var/lib/kenv/swap/bin/dlv-" + api.Debug.Release,
		binDir + "/kube-scheduler -> /var/lib/kenv/swap/bin/kube-scheduler",
		binDir + "/kubelet -> /var/lib/kenv/swap/bin/kubelet",
	}
	// The kubelet, no static pod, is ready once its healthz answers on
	// the node, which the agent asks.
	if kubelet, ok := p.Component("cp-1/kubelet"); !ok || kubelet.Kind != "kubelet" || kubelet.HealthURL != "" || len(kubelet.Flags) != 0 {
		t.Errorf("kubelet: %+v", kubelet)
	}
	if !slices.Equal(shipped, want) {
		t.Errorf("ships\n%s\nwant\n%s", strings.Join(shipped, "\n"), strings.Join(want, "\n"))
	}
}

// TestEmulation: the kubernetes block's emulated version becomes the
// control plane's --emulated-version, a component's own overrides it, the
// kubelet runs as its binary's release; a checkout's version is checked
// once its tree is at hand, at the spec's line.
func TestEmulation(t *testing.T) {
	const src = `
kubernetes {
  path             = "."
  emulated_version = "1.33"
}
component "kube-apiserver" {}
component "kube-scheduler" {
  emulated_version = "1.32"
}
component "kubelet" {}
`
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "kube-apiserver"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.work", ".go-version"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, diags := spec.Parse([]byte(src), filepath.Join(dir, "emulate.hcl"), plan.Catalog())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tree := &source.Tree{Key: "checkout", Dir: dir, GoVersion: "1.24.12", Version: source.Version{GitVersion: "v1.34.2-12+0123456789ab"}}
	in := plan.Inputs{Spec: s, Env: layout.NewEnv("/state", s.Name), Cache: layout.Cache{Dir: "/cache"}, Tree: tree}
	p, err := plan.Decide(in)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"kube-apiserver": "kube=1.33", "kube-scheduler": "kube=1.32", "node-0/kubelet": ""} {
		c, ok := p.Component(name)
		if !ok {
			t.Fatalf("no %s in the plan", name)
		}
		var got string
		for _, f := range c.Flags {
			if f.Name == "emulated-version" {
				got = f.Value
			}
		}
		if got != want {
			t.Errorf("%s runs with --emulated-version=%q, want %q", name, got, want)
		}
	}
	tree.Version.GitVersion = "v1.37.0-alpha.0.5+fedcba987654"
	if _, err := plan.Decide(in); err == nil || !strings.Contains(err.Error(), "emulate.hcl:4,") ||
		!strings.Contains(err.Error(), "kube-apiserver v1.37.0-alpha.0.5+fedcba987654 emulates 1.34 to 1.37, not 1.33") {
		t.Errorf("a checkout of 1.37 emulating 1.33: %v", err)
	}
}
