// Package spec reads a kenv environment spec (HCL), fills in its defaults and
// checks it. Every problem is reported as an hcl.Diagnostic that points at the
// spec's file, line and column.
package spec

import (
	"maps"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// A Kind is what the spec knows of a kind of component: its name, its
// default ports, the attributes only it takes, and whether every
// environment runs it. The kinds are env/plan's, one file each; the parser
// is handed them.
type Kind struct {
	Name            string
	Port, DebugPort int
	Origin          Origin
	// Takes are the component attributes of this kind alone: "nodes",
	// "version", "images".
	Takes []string
	// Required says every environment runs it.
	Required bool
	// NeedsNodes says a component of this kind serves the real nodes
	// (cluster DNS), and runs only beside them.
	NeedsNodes bool
	// OnNode says a component of this kind runs on every node, in the
	// node's namespaces (the kubelet, kube-proxy); a node block may say
	// how it runs there.
	OnNode bool
	// Skew is how many minor versions older than kube-apiserver a
	// component of this kind may be, when it is built from its own source
	// (the Kubernetes version skew policy); none may be newer.
	Skew int
}

// Origin is where a kind's binary comes from.
type Origin int

const (
	// FromTree is built from the Kubernetes tree.
	FromTree Origin = iota
	// FromModule is installed from its own Go module, at a release (kwok).
	FromModule
	// OnMachine is found on this machine (containerd).
	OnMachine
)

// Kinds are the kinds of component a spec may list.
type Kinds []Kind

// Find returns the kind called name.
func (ks Kinds) Find(name string) (Kind, bool) {
	for _, k := range ks {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Names are the kinds' names, sorted.
func (ks Kinds) Names() []string {
	var names []string
	for _, k := range ks {
		names = append(names, k.Name)
	}
	sort.Strings(names)
	return names
}

// Restart policies of a component.
const (
	RestartNever     = "no"
	RestartOnFailure = "on-failure"
)

// Spec is a parsed, defaulted and checked environment spec.
type Spec struct {
	// Name names the environment; it keys its state directory.
	Name string
	// File is the absolute path of the spec file.
	File string

	Kubernetes Kubernetes
	Build      Build
	Network    Network
	Etcd       Etcd
	Log        Log
	// FeatureGates are passed to every component; nil means kenv's default,
	// local-up-cluster's AllAlpha=false.
	FeatureGates map[string]bool
	// AuthorizationModes are kube-apiserver's, in order.
	AuthorizationModes []string
	Admission          Admission
	Audit              Audit
	// Components to run, in the order the spec lists them; those with
	// enabled = false are left out.
	Components []Component
	// Nodes are the real nodes, each running the components of the kinds
	// that run on a node; one, DefaultNode, when the spec lists a kubelet
	// and no node block. None without a kubelet.
	Nodes []Node
	// Cluster, when set, is a cluster kenv did not make: the components
	// run on its nodes, in place of their static pods, and Kubernetes is
	// the cluster's version unless the spec names a source.
	Cluster *Cluster
	// Kinds are the kinds of component the spec was read with.
	Kinds Kinds

	// Ranges says where the spec sets what a lock file records, keyed by
	// the attribute's dotted name ("kubernetes.version", "build.tags"), so
	// that a mismatch can point at the line.
	Ranges map[string]hcl.Range
}

// Range returns where the spec sets the named attribute; where it does
// not, the block that would hold it, or the start of the file.
func (s *Spec) Range(name string) hcl.Range {
	for {
		if r, ok := s.Ranges[name]; ok {
			return r
		}
		i := strings.LastIndex(name, ".")
		if i < 0 {
			return hcl.Range{Filename: s.File, Start: hcl.InitialPos, End: hcl.InitialPos}
		}
		name = name[:i]
	}
}

// Kubernetes says where the Kubernetes source comes from: exactly one of
// Version, Git and Path is set.
type Kubernetes struct {
	// Version is a released version served by the Go module proxy, e.g. v1.34.4.
	Version string
	// Git is a repository URL or path; Ref the tag, branch or commit in it.
	Git string
	Ref string
	// Path is a local checkout, absolute, built in place as it is.
	Path string
	// Go pins the Go toolchain, e.g. "1.24.12"; empty means the one the
	// source's .go-version names.
	Go string
}

// Source names the source for people: "kubernetes@v1.34.4", the
// repository and ref, or the path.
func (k Kubernetes) Source() string {
	switch {
	case k.Path != "":
		return k.Path
	case k.Git != "":
		return k.Git + " at " + k.Ref
	}
	return "kubernetes@" + k.Version
}

// Build says how the components are compiled.
type Build struct {
	// Unoptimized compiles without optimisation and inlining (-N -l):
	// build { debug }, not a component's debug {}, which is Delve.
	Unoptimized bool
	// Tags, GCFlags and LDFlags are added to kenv's own.
	Tags    []string
	GCFlags []string
	LDFlags []string
	// Optimize are the package patterns a debug build compiles optimised
	// all the same: the standard library by default, whose unoptimised
	// crypto doubles kube-apiserver's start-up, and which few step
	// through.
	Optimize []string
	// Binaries are more commands under cmd/ to build beside the
	// components, kubectl by default.
	Binaries []string
}

// Network says where the components listen and how clients reach them.
type Network struct {
	// BindAddress is the address the components listen on.
	BindAddress string
	// APIHost is the host clients use for kube-apiserver; it is in the
	// serving certificate.
	APIHost string
	// ServiceCIDR is the range of Service IPs; its first address is the
	// kubernetes Service's, and in the serving certificate.
	ServiceCIDR string
	// PodCIDR is the range the nodes' pods get their IPs from; the
	// controller-manager gives each node a /24 of it.
	PodCIDR string
	// NodeCIDR is the range of the nodes' own addresses, on the
	// environment's bridge; the host holds its first address.
	NodeCIDR string
}

// Etcd configures the embedded etcd.
type Etcd struct {
	Port     int
	PeerPort int
	// DataDir is absolute; empty means the environment's state directory.
	DataDir string
}

// Log configures the components' logs.
type Log struct {
	// Verbosity is klog's -v for every component.
	Verbosity int
	// Dir is absolute; empty means the environment's state directory.
	Dir string
}

// Admission changes kube-apiserver's admission plugins.
type Admission struct {
	// Enable adds plugins to local-up-cluster's chain; Disable turns
	// plugins off, those of the chain included.
	Enable  []string
	Disable []string
}

// Audit configures kube-apiserver's audit policy.
type Audit struct {
	// Policy is the policy document (JSON or YAML); empty means
	// local-up-cluster's, Metadata for everything.
	Policy string
}

// Component is one Kubernetes component to build and run.
type Component struct {
	Name string
	// Port is the component's secure port.
	Port int
	// Debug is set when the component runs under Delve.
	Debug *Debug
	// Flags adds to or overrides the computed flags. A nil value removes
	// the computed flag of that name.
	Flags map[string]*string
	// Restart is RestartNever or RestartOnFailure.
	Restart string
	// Verbosity overrides the spec's log verbosity when set.
	Verbosity *int
	// VModule is klog's -vmodule: file pattern to verbosity.
	VModule map[string]int
	// Args are appended to the command line as they are.
	Args []string
	// Env is added to the component's environment.
	Env map[string]string
	// Nodes is how many simulated nodes kwok keeps registered, and
	// Version the kwok release the spec pins, empty when it leaves the
	// choice to the lock or kenv; kwok's only.
	Nodes   int
	Version string
	// Images are image tarballs (docker-archive or OCI) the kubelet's
	// runtime imports at up, absolute; the kubelet's only.
	Images []string
	// Kubernetes, when set, is the source this component is built from
	// instead of the environment's: a release or checkout of its own, to
	// debug version skew.
	Kubernetes *Kubernetes
	// Node is the node of the Cluster it runs on.
	Node string
	// Emulation is the release it runs as (KEP-4330): the kubernetes
	// block's, or its own; empty for its binary's own, and for the kinds
	// that do not take --emulated-version.
	Emulation Emulation

	// DeclRange is where the component's block starts, for later messages.
	DeclRange hcl.Range
}

// Debug configures Delve for one component.
type Debug struct {
	// Listen is the host:port of Delve's API; 127.0.0.1 unless the spec
	// says otherwise.
	Listen string
	Port   int
	// Wait keeps the component stopped at entry until a client continues it.
	Wait bool
	// Dlv pins a Delve version, e.g. "v1.27.2"; empty means the one that
	// supports the component's Go toolchain.
	Dlv string
	// DlvArgs are passed to dlv exec after kenv's own options.
	DlvArgs     []string
	Breakpoints []Breakpoint
}

// Breakpoint is set through Delve before the component runs.
type Breakpoint struct {
	// Location is anything Delve's location syntax takes, a file:line
	// relative to the source tree, or file.go:Function.
	Location  string
	Condition string
	// Trace makes a tracepoint: kenv logs each hit and lets the program
	// go on instead of stopping it.
	Trace bool
	// Range is where the spec names the breakpoint.
	Range hcl.Range
}

// Component returns the named component, or nil when the spec does not list it.
func (s *Spec) Component(name string) *Component {
	for i := range s.Components {
		if s.Components[i].Name == name {
			return &s.Components[i]
		}
	}
	return nil
}

// TreeComponents lists, in spec order, the components built from the
// spec's Kubernetes tree: not those installed otherwise, nor those built
// from a source of their own.
func (s *Spec) TreeComponents() []string {
	var names []string
	for _, c := range s.Components {
		if k, _ := s.Kinds.Find(c.Name); k.Origin == FromTree && c.Kubernetes == nil {
			names = append(names, c.Name)
		}
	}
	return names
}

// OwnTrees are the specs of the components built from a source of their
// own, one each: s as it is but for its source, the component's, and its
// components, that one alone. They are locked, got and built as a spec of
// their own is.
func (s *Spec) OwnTrees() []*Spec {
	var trees []*Spec
	for _, c := range s.Components {
		if c.Kubernetes == nil {
			continue
		}
		t := *s
		t.Kubernetes = *c.Kubernetes
		c.Kubernetes = nil
		t.Components = []Component{c}
		t.Build.Binaries = nil
		t.Ranges = maps.Clone(s.Ranges)
		maps.DeleteFunc(t.Ranges, func(name string, _ hcl.Range) bool { return strings.HasPrefix(name, "kubernetes") })
		prefix := "component." + c.Name + ".kubernetes"
		for name, r := range s.Ranges {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				t.Ranges["kubernetes"+rest] = r
			}
		}
		trees = append(trees, &t)
	}
	return trees
}

// WithoutDelve runs every component of s without Delve, whatever s says.
func (s *Spec) WithoutDelve() {
	for i := range s.Components {
		s.Components[i].Debug = nil
	}
	for i := range s.Nodes {
		for j := range s.Nodes[i].Components {
			s.Nodes[i].Components[j].Debug = nil
		}
	}
}

// SortedFlagNames returns the names of c.Flags in a stable order.
func (c *Component) SortedFlagNames() []string {
	names := make([]string, 0, len(c.Flags))
	for name := range c.Flags {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// defaultName is the spec file's name without its .hcl extension.
func defaultName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), ".hcl")
}
