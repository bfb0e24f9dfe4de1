// Package spec reads a kenv environment spec (HCL), fills in its defaults and
// checks it. Every problem is reported as an hcl.Diagnostic that points at the
// spec's file, line and column.
package spec

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Component names kenv knows how to run.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
)

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
	Etcd       Etcd
	// Components in the order the spec lists them.
	Components []Component
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

// Etcd configures the embedded etcd.
type Etcd struct {
	Port     int
	PeerPort int
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
	Dlv         string
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

// ComponentNames lists the components in spec order.
func (s *Spec) ComponentNames() []string {
	names := make([]string, 0, len(s.Components))
	for _, c := range s.Components {
		names = append(names, c.Name)
	}
	return names
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
