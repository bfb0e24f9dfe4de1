package plan

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// Change is what a spec edited while its environment runs asks of it.
type Change struct {
	// Restart are the components to start again as the new plan runs
	// them: only how they run changed, their flags, environment,
	// arguments, restart policy, breakpoints or Delve on or off.
	Restart []Component
	// Anew names what changed that only a new environment can take: the
	// source, the build, a port, etcd, the network, the node, components
	// added or removed. Nothing is to be changed when it is not empty.
	Anew []string
}

// Compare says what going from the running plan old to next takes.
func Compare(old, next *Plan) Change {
	var ch Change
	parts := []struct {
		what      string
		old, next any
	}{
		{"the environment's name", old.Name, next.Name},
		{"the source", []any{old.spec.Kubernetes, old.Source}, []any{next.spec.Kubernetes, next.Source}},
		{"the build", []any{old.Toolchain, old.Build, old.BinDir}, []any{next.Toolchain, next.Build, next.BinDir}},
		{"the components' own sources", old.Trees, next.Trees},
		{"etcd or the network", []any{old.APIServerURL, old.Etcd, old.Certificates, old.Kubeconfigs}, []any{next.APIServerURL, next.Etcd, next.Certificates, next.Kubeconfigs}},
		{"the configuration files", old.Files, next.Files},
		{"the simulated nodes", old.Kwok, next.Kwok},
		{"the nodes", old.Nodes, next.Nodes},
	}
	for _, p := range parts {
		if !reflect.DeepEqual(p.old, p.next) {
			ch.Anew = append(ch.Anew, p.what)
		}
	}
	names := func(p *Plan) []string {
		var out []string
		for _, c := range p.Components {
			out = append(out, c.Name)
		}
		return out
	}
	if !slices.Equal(names(old), names(next)) {
		ch.Anew = append(ch.Anew, "the components")
		return ch
	}
	for i, c := range next.Components {
		was := old.Components[i]
		switch {
		case !reflect.DeepEqual(place(was), place(c)):
			ch.Anew = append(ch.Anew, fmt.Sprintf("where component %q listens or logs", c.Name))
		case !reflect.DeepEqual(running(was), running(c)):
			ch.Restart = append(ch.Restart, c)
		}
	}
	if len(ch.Anew) > 0 {
		ch.Restart = nil
	}
	return ch
}

// place is what of c other components, clients and the environment rely
// on: its binary, its addresses, its log and when it starts.
func place(c Component) []any {
	debugAt := ""
	if c.Debug != nil {
		debugAt = c.Debug.Listen
	}
	return []any{c.Binary, c.Address, c.Endpoint, c.HealthURL, c.LogPath, c.Start, debugAt}
}

// running is how c runs, without where the spec names its breakpoints:
// a line added above them moves them in the spec, not in the program.
func running(c Component) Component {
	if c.Debug != nil {
		d := *c.Debug
		d.Breakpoints = slices.Clone(d.Breakpoints)
		for i := range d.Breakpoints {
			d.Breakpoints[i].Range = hcl.Range{}
		}
		c.Debug = &d
	}
	return c
}
