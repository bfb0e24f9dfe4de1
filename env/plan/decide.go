package plan

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// Inputs are what a plan is decided from.
type Inputs struct {
	Spec *spec.Spec
	// Lock is the lock to follow; nil when there is none yet or the spec
	// is being locked anew.
	Lock  *lock.Lock
	Env   layout.Env
	Cache layout.Cache
	// Tree is the source as up got it, or as `kenv plan` expects it
	// (source.Peek).
	Tree *source.Tree
	// Machine is what Decide takes from this machine, found beforehand.
	Machine Machine
}

// Machine is what a plan takes from this machine, found before Decide
// runs and handed to it as values, so that deciding looks at nothing: the
// same inputs give the same plan on any machine.
type Machine struct {
	// Dlv is the dlv on PATH and its release; zero when there is none.
	Dlv delve.Dlv `json:",omitempty"`
	// CNIBinDir holds the machine's CNI plugins.
	CNIBinDir string `json:",omitempty"`
}

// Toolchain is the Go release that builds the binaries, and what chose it.
type Toolchain struct {
	Go string
	// From is "spec", "lock" or ".go-version"; empty while the source that
	// names it is not at hand.
	From string
}

// unknownGo stands for the Go release of a source not yet at hand.
const unknownGo = "<.go-version>"

// Where gets the source of s: where the spec says, at the commit its lock
// l, which may be nil, records for a git source.
func Where(s *spec.Spec, l *lock.Lock) source.Location {
	k := s.Kubernetes
	loc := source.Location{Version: k.Version, Git: k.Git, Ref: k.Ref, Path: k.Path}
	if l != nil && k.Git != "" && l.Commit != "" {
		loc.Ref = l.Commit
	}
	return loc
}

// Decide turns a spec, its lock and the source into everything up does:
// the toolchain, the build, the binaries' directory, the certificates and
// files, and each component's command line, Delve and health check. `kenv
// plan` prints this value, and up carries it out.
func Decide(in Inputs) (*Plan, error) {
	tree := *in.Tree
	lock.Settle(in.Spec, in.Lock, &tree)
	toolchain := Toolchain{Go: tree.GoVersion, From: ".go-version"}
	switch {
	case in.Spec.Kubernetes.Go != "":
		toolchain.From = "spec"
	case in.Lock != nil:
		toolchain.From = "lock"
	case tree.GoVersion == "":
		tree.GoVersion, toolchain = unknownGo, Toolchain{Go: unknownGo}
	}
	binDir := BinDir(in.Cache, in.Spec, &tree)
	p, err := New(in, binDir)
	if err != nil {
		return nil, err
	}
	p.Source, p.Toolchain, p.BinDir = &tree, toolchain, binDir
	p.Build = Build(in.Spec, &tree, binDir)
	if n := p.Node; n != nil {
		n.PauseSource = filepath.Join(tree.Dir, "build", "pause", "linux", "pause.c")
		n.PauseDir = in.Cache.PauseDir(tree.Key)
	}
	for i, c := range p.Components {
		if c.Debug == nil {
			continue
		}
		if p.Components[i].Debug, err = p.delve(c.Name, c.Debug); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// delve decides the Delve that runs the component name as d says.
func (p *Plan) delve(name string, d *Debug) (*Debug, error) {
	out := *d
	if p.Toolchain.Go == unknownGo {
		out.Dlv, out.Release = "<dlv for the source's Go version>", ""
		return &out, nil
	}
	dlv, err := delve.Choose(p.inputs.Cache, lock.DelvePin(p.inputs.Lock, name, d.Pin), p.Toolchain.Go, p.inputs.Machine.Dlv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out.Dlv, out.Release, out.Install = dlv.Path, dlv.Release, dlv.Cached
	return &out, nil
}

// Machine is what the plan took from this machine.
func (p *Plan) Machine() Machine { return p.inputs.Machine }

// WithDebug is the component name with Delve switched on or off, as
// `kenv restart --debug` asks: on, at the component's default Delve port
// unless it was debugged already.
func (p *Plan) WithDebug(name string, on bool) (Component, error) {
	c, ok := p.Component(name)
	switch {
	case !ok:
		return Component{}, fmt.Errorf("no component %q runs here", name)
	case !on:
		c.Debug = nil
	case c.Debug == nil:
		k, _ := KindOf(name)
		listen := net.JoinHostPort(Loopback, strconv.Itoa(k.DebugPort))
		d, err := p.delve(name, &Debug{Listen: listen})
		if err != nil {
			return Component{}, err
		}
		c.Debug = d
	}
	return c, nil
}

// Component returns the named component of the plan.
func (p *Plan) Component(name string) (Component, bool) {
	for _, c := range p.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}
