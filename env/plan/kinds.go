package plan

import (
	"github.com/kenv-dev/kenv/env/spec"
)

// A Kind is a kind of component kenv runs: what the spec may say of it,
// where its binary comes from, what it needs before it starts, and what it
// adds to a plan — its command line, health check, certificates,
// kubeconfigs and files. Each kind is one file of this package and one
// line of Kinds.
type Kind struct {
	spec.Kind
	// Needs are the kinds that must be this far before it starts; they
	// decide when up and a restart start it (startOf).
	Needs []Need
	// Implied kinds are not listed by a spec: they run when a kind that
	// needs them runs (the node's runtime).
	Implied bool
	// plan adds the component c of this kind to p, on node n for a kind
	// that runs on a node (nil for the others), and returns how it runs;
	// New fills in what every component has (binary, log, address, Delve,
	// the spec's flags).
	plan func(p *Plan, c spec.Component, n *Node) Component
	// logLevel renders the spec's verbosity as the -v of a kind that does
	// not log with klog, "" for none; nil for klog's.
	logLevel func(v int) string
}

// A Need is a kind another waits for, and how far.
type Need struct {
	Kind  string
	Until Until
}

// Until is how far a needed component must be.
type Until int

const (
	// Serving accepts connections.
	Serving Until = iota
	// Stocked is ready and holds the images pods start from: the node's
	// runtime.
	Stocked
)

// emulating are the attributes of the kinds that run as an older release
// (the control plane's, KEP-4330): emulationFlags render them.
var emulating = []string{spec.EmulatedVersion, spec.MinCompatibilityVersion}

// Kinds are the kinds of component kenv runs.
var Kinds = []*Kind{
	&kubeAPIServer,
	&kubeControllerManager,
	&kubeScheduler,
	&kubelet,
	&kubeProxy,
	&containerd,
	&kwokKind,
	&coreDNS,
}

// Catalog is what the spec parser knows of the kinds a spec may list.
func Catalog() spec.Kinds {
	var kinds spec.Kinds
	for _, k := range Kinds {
		if !k.Implied {
			kinds = append(kinds, k.Kind)
		}
	}
	return kinds
}

// KindOf returns the kind called name.
func KindOf(name string) (*Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return nil, false
}

// ControlPlane reports whether k is of the control plane: built from the
// tree, and not on a node.
func (k *Kind) ControlPlane() bool {
	return k.Origin == spec.FromTree && startOf(k) < WhenImages
}

// startOf is when up and a restart start a component of kind k: as early
// as what it needs allows, so that start-ups overlap. The same order,
// reversed, stops them.
func startOf(k *Kind) Start {
	start := AtOnce
	for _, n := range k.Needs {
		switch n.Until {
		case Serving:
			start = max(start, WhenServing)
		case Stocked:
			start = max(start, WhenImages)
		}
	}
	return start
}

// serves reports whether a component of kind name is needed Serving by
// another kind: its clients wait until it accepts connections, and one
// that exits before it is ready is started again.
func serves(name string) bool {
	for _, k := range Kinds {
		for _, n := range k.Needs {
			if n.Kind == name && n.Until == Serving {
				return true
			}
		}
	}
	return false
}
