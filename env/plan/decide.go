package plan

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
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
	// (source.Peek); Trees those of the components built from a source of
	// their own, by component.
	Tree  *source.Tree
	Trees map[string]*source.Tree
	// Machine is what Decide takes from this machine, found beforehand.
	Machine Machine
	// Cluster is what up read of the cluster a spec with a cluster block
	// swaps components of.
	Cluster ClusterFacts
}

// Machine is what a plan takes from this machine, found before Decide
// runs and handed to it as values, so that deciding looks at nothing: the
// same inputs give the same plan on any machine.
type Machine struct {
	// Dlv is the dlv on PATH and its release; zero when there is none.
	Dlv delve.Dlv `json:",omitempty"`
	// CNIBinDir holds the machine's CNI plugins.
	CNIBinDir string `json:",omitempty"`
	// Kenv is kenv's own executable, which a cluster's nodes run as
	// their agent.
	Kenv string `json:",omitempty"`
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

// Own is a component's own source: its spec (spec.OwnTrees), its lock,
// which may be nil, and where it is got from.
type Own struct {
	Name  string
	Spec  *spec.Spec
	Lock  *lock.Lock
	Where source.Location
}

// Owns are the own sources of the components of s that have one, with
// their part of its lock l, which may be nil.
func Owns(s *spec.Spec, l *lock.Lock) []Own {
	var owns []Own
	for _, t := range s.OwnTrees() {
		o := Own{Name: t.Components[0].Name, Spec: t}
		if l != nil {
			o.Lock = l.Components[o.Name]
		}
		o.Where = Where(t, o.Lock)
		owns = append(owns, o)
	}
	return owns
}

// Decide turns a spec, its lock and the sources into everything up does:
// the toolchains, the builds, the binaries' directories, the certificates
// and files, and each component's command line, Delve and health check.
// `kenv plan` prints this value, and up carries it out. It looks at
// nothing: what it needs of the machine is in in.Machine.
func Decide(in Inputs) (*Plan, error) {
	main := decideTree(in.Spec, in.Lock, in.Tree, in.Cache)
	main.Where = Where(in.Spec, in.Lock)
	p, err := New(in, main.BinDir)
	if err != nil {
		return nil, err
	}
	p.Tree = main
	for _, own := range Owns(in.Spec, in.Lock) {
		src := in.Trees[own.Name]
		if src == nil {
			return nil, fmt.Errorf("%s: its own source is not at hand", own.Name)
		}
		t := decideTree(own.Spec, own.Lock, src, in.Cache)
		t.Where = own.Where
		if err := checkSkew(in.Spec, own.Name, main.Source, t.Source); err != nil {
			return nil, err
		}
		if p.Trees == nil {
			p.Trees = map[string]*Tree{}
		}
		p.Trees[own.Name] = &t
		for i, c := range p.Components {
			if c.Kind == own.Name {
				p.Components[i].Binary = filepath.Join(t.BinDir, c.Kind)
			}
		}
	}
	for _, c := range in.Spec.Components {
		if err := checkEmulation(in.Spec, c, p.TreeOf(c.Name).Source); err != nil {
			return nil, err
		}
	}
	if n := p.Nodes; n != nil {
		n.PauseSource = filepath.Join(main.Source.Dir, "build", "pause", "linux", "pause.c")
		n.PauseDir = in.Cache.PauseDir(main.Source.Key)
	}
	for i, c := range p.Components {
		if c.Debug == nil {
			continue
		}
		if p.Components[i].Debug, err = p.delve(c.Name, c.Debug); err != nil {
			return nil, err
		}
	}
	if p.Cluster != nil {
		p.ship()
	}
	return p, nil
}

// decideTree decides how the tree src of s, locked in l, is built: the
// toolchain the spec or lock settles, and the build of its components.
func decideTree(s *spec.Spec, l *lock.Lock, src *source.Tree, cache layout.Cache) Tree {
	tree := *src
	lock.Settle(s, l, &tree)
	toolchain := Toolchain{Go: tree.GoVersion, From: ".go-version"}
	switch {
	case s.Kubernetes.Go != "":
		toolchain.From = "spec"
	case l != nil:
		toolchain.From = "lock"
	case tree.GoVersion == "":
		tree.GoVersion, toolchain = unknownGo, Toolchain{Go: unknownGo}
	}
	binDir := BinDir(cache, s, &tree)
	return Tree{Source: &tree, Toolchain: toolchain, Build: Build(s, &tree, binDir), BinDir: binDir}
}

// checkSkew refuses a component whose own tree the version skew policy
// does not allow beside kube-apiserver's, once both trees say their
// versions (a checkout or a git ref says it only then).
func checkSkew(s *spec.Spec, name string, api, own *source.Tree) error {
	k, _ := KindOf(name)
	if err := spec.CheckSkew(k.Kind, api.Version.GitVersion, own.Version.GitVersion); err != nil {
		at := s.Range("component." + name + ".kubernetes")
		return fmt.Errorf("%s: %w", at, err)
	}
	return nil
}

// checkEmulation refuses an emulated version the binary of c, built from
// tree, does not take, once the tree says its version (a checkout or a
// git ref says it only then).
func checkEmulation(s *spec.Spec, c spec.Component, tree *source.Tree) error {
	if err := spec.CheckEmulation(c.Name, tree.Version.GitVersion, c.Emulation); err != nil {
		return fmt.Errorf("%s: %w", s.EmulationRange(c, err), err)
	}
	return nil
}

// delve decides the Delve that runs the component name as d says.
func (p *Plan) delve(name string, d *Debug) (*Debug, error) {
	out := *d
	toolchain := p.TreeOf(name).Toolchain.Go
	if toolchain == unknownGo {
		out.Dlv, out.Release = "<dlv for the source's Go version>", ""
		return &out, nil
	}
	l, kind := p.inputs.Lock, KindName(name)
	if _, own := p.Trees[kind]; own && l != nil {
		l = l.Components[kind]
	}
	dlv, err := delve.Choose(p.inputs.Cache, lock.DelvePin(l, kind, d.Pin), toolchain, p.inputs.Machine.Dlv)
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
		// The kind's Delve port, or the next one no other component's
		// Delve has: each node's kubelet is of the same kind.
		k, _ := KindOf(c.Kind)
		port := k.DebugPort
		for p.delveListens(net.JoinHostPort(Loopback, strconv.Itoa(port))) {
			port++
		}
		listen := net.JoinHostPort(Loopback, strconv.Itoa(port))
		d, err := p.delve(name, &Debug{Listen: listen})
		if err != nil {
			return Component{}, err
		}
		c.Debug = d
	}
	return c, nil
}

// delveListens reports whether a component's Delve listens at addr.
func (p *Plan) delveListens(addr string) bool {
	return slices.ContainsFunc(p.Components, func(c Component) bool { return c.Debug != nil && c.Debug.Listen == addr })
}

// Versions are the releases the components built from a Kubernetes tree
// run as, by kind: their tree's version, and the release they emulate
// ("v1.34.4 emulating 1.33"). They decide how the objects in etcd are
// stored: a snapshot records them.
func (p *Plan) Versions() map[string]string {
	versions := map[string]string{}
	for _, c := range p.Components {
		k, ok := KindOf(c.Kind)
		tree := p.TreeOf(c.Kind).Source
		if !ok || k.Origin != spec.FromTree || tree == nil {
			continue
		}
		v := tree.Version.GitVersion
		if sc := p.spec.Component(c.Kind); sc != nil && sc.Emulation.Version != "" {
			v += " emulating " + sc.Emulation.Version
		}
		versions[c.Kind] = v
	}
	return versions
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
