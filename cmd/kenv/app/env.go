package app

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/state"
)

// loadSpec parses and checks the spec at path, printing every diagnostic
// with the source line it points at.
func loadSpec(path string, streams Streams) (*spec.Spec, error) {
	s, parser, diags := spec.ParseFile(path, plan.Catalog())
	writeDiagnostics(streams, parser.Files(), diags)
	if diags.HasErrors() {
		fmt.Fprintf(streams.Err, "%s has %d error(s); nothing was started.\n", path, len(diags.Errs()))
		return nil, errReported
	}
	return s, nil
}

// writeDiagnostics prints diags, each with the source line it points at.
func writeDiagnostics(streams Streams, files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) > 0 {
		w := hcl.NewDiagnosticTextWriter(streams.Err, files, 100, false)
		_ = w.WriteDiagnostics(diags)
	}
}

// loadLock reads the lock of s and checks that s still matches it. It
// returns the lock to build from, nil when there is none yet or update
// asks to lock the spec anew, and whether to write the lock.
func loadLock(s *spec.Spec, update bool, streams Streams) (*lock.Lock, bool, error) {
	if s.Cluster != nil {
		// What the cluster runs decides the source: nothing to lock.
		return nil, false, nil
	}
	if update {
		return nil, true, nil
	}
	path := lock.PathFor(s.File)
	l, parser, diags := lock.Read(path)
	if diags.HasErrors() {
		writeDiagnostics(streams, parser.Files(), diags)
		fmt.Fprintf(streams.Err, "%s cannot be read; fix it, or lock the spec anew with `kenv lock --update %s`.\n", path, s.File)
		return nil, false, errReported
	}
	if l == nil {
		return nil, true, nil
	}
	if diags := lock.Check(s, l); diags.HasErrors() {
		// The spec is parsed again for the lines the diagnostics show.
		_, specParser, _ := spec.ParseFile(s.File, plan.Catalog())
		writeDiagnostics(streams, specParser.Files(), diags)
		fmt.Fprintf(streams.Err, "%s differs from its lock %s in %d place(s).\n", s.File, path, len(diags))
		return nil, false, errReported
	}
	return l, false, nil
}

// loadSpecEnv loads the spec at path and returns it with its environment's
// state directory and the shared cache.
func loadSpecEnv(path string, streams Streams) (*spec.Spec, layout.Env, layout.Cache, error) {
	s, err := loadSpec(path, streams)
	if err != nil {
		return nil, layout.Env{}, layout.Cache{}, err
	}
	stateRoot, err := layout.StateRoot()
	if err != nil {
		return nil, layout.Env{}, layout.Cache{}, err
	}
	cacheRoot, err := layout.CacheRoot()
	if err != nil {
		return nil, layout.Env{}, layout.Cache{}, err
	}
	return s, layout.NewEnv(stateRoot, s.Name), layout.Cache{Dir: cacheRoot}, nil
}

// envFlags select an environment for the commands other than up: by spec,
// by --name, or the only one there is.
type envFlags struct {
	name string
}

func (f *envFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", "", "the environment's name (default: the spec's, or the only environment)")
}

func (f *envFlags) resolve(args []string, streams Streams) (layout.Env, string, error) {
	stateRoot, err := layout.StateRoot()
	if err != nil {
		return layout.Env{}, "", err
	}
	name := f.name
	switch {
	case len(args) > 0 && name != "":
		return layout.Env{}, "", fmt.Errorf("pass a spec or --name, not both")
	case len(args) > 0:
		s, err := loadSpec(args[0], streams)
		if err != nil {
			return layout.Env{}, "", err
		}
		name = s.Name
	case name == "":
		names, err := state.Names(stateRoot)
		if err != nil {
			return layout.Env{}, "", err
		}
		switch len(names) {
		case 0:
			return layout.Env{}, "", fmt.Errorf("no environment is up under %s; start one with `kenv up SPEC`", stateRoot)
		case 1:
			name = names[0]
		default:
			return layout.Env{}, "", fmt.Errorf("several environments are up (%s); say which with --name or a spec", strings.Join(names, ", "))
		}
	}
	return layout.NewEnv(stateRoot, name), name, nil
}
