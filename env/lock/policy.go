package lock

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// The lock's policy: the source up gets is the one the lock records, and
// the binaries it builds are the ones the lock records.

// CheckSource fails when tree is not the source l records for s.
func CheckSource(ctx context.Context, s *spec.Spec, l *Lock, tree *source.Tree) error {
	k := s.Kubernetes
	switch {
	case k.Version != "":
		sums, err := source.ModuleSums(ctx, tree, k.Version)
		if err != nil {
			return err
		}
		for _, m := range sums {
			i := slices.IndexFunc(l.Modules, func(lm source.Module) bool { return lm.Path == m.Path })
			switch {
			case i < 0:
				return fmt.Errorf("%s@%s is not in %s; lock the spec anew with `kenv lock --update %s`", m.Path, m.Version, l.File, s.File)
			case l.Modules[i] != m:
				return fmt.Errorf("%s@%s has hash %s, but %s records %s@%s %s: the module proxy serves other content than when the spec was locked",
					m.Path, m.Version, m.Sum, l.File, l.Modules[i].Path, l.Modules[i].Version, l.Modules[i].Sum)
			}
		}
	case k.Path != "" && tree.Version.GitCommit != l.Commit:
		return fmt.Errorf("the checkout %s is at commit %s, but %s records %s: check that commit out, or lock the checkout as it is with `kenv lock --update %s`",
			k.Path, tree.Version.GitCommit, l.File, l.Commit, s.File)
	}
	return nil
}

// Releases are the releases of what kenv installs rather than builds from
// the tree: the Delve each debugged component runs under, and the kinds
// installed from their modules.
type Releases struct {
	Delve     map[string]string
	Installed map[string]string
}

// Of is the lock of what req built from tree for s, with the releases of
// what it installed; with the module hashes only when withModules (a lock
// being checked had them compared already, with the source).
func Of(ctx context.Context, s *spec.Spec, tree *source.Tree, req build.Request, releases Releases, withModules bool) (*Lock, error) {
	l := &Lock{
		File:   PathFor(s.File),
		Commit: tree.Version.GitCommit,
		Go:     tree.GoVersion,
		// A checkout's date is its commit's, recorded by the commit.
		BuildDate:   tree.Version.BuildDate,
		Delve:       releases.Delve,
		Installed:   releases.Installed,
		Unoptimized: s.Build.Unoptimized,
		Tags:        s.Build.Tags,
		GCFlags:     s.Build.GCFlags,
		LDFlags:     s.Build.LDFlags,
		Optimize:    s.Build.Optimize,
	}
	l.Version, l.Git, l.Ref, l.Path = SourceOf(s)
	if s.Kubernetes.Version != "" && withModules {
		sums, err := source.ModuleSums(ctx, tree, s.Kubernetes.Version)
		if err != nil {
			return nil, err
		}
		l.Modules = sums
	}
	if tree.Mutable {
		return l, nil
	}
	l.Binaries = map[string]Binary{}
	built := map[string]build.Provenance{}
	for _, name := range req.Components {
		path := filepath.Join(req.OutDir, name)
		p, err := build.ReadProvenance(path, req)
		if err != nil {
			return nil, err
		}
		built[name] = p
		// A binary built with cgo links this machine's C library, which
		// no lock pins: its modules are locked, not its bytes.
		var sum string
		if build.Static(name) {
			if sum, err = build.Hash(path); err != nil {
				return nil, err
			}
		}
		l.Binaries[name] = Binary{SHA256: sum, Modules: p.Modules}
	}
	// The toolchain and settings are the same for every binary of one go
	// build. The lock records those of the first build (the static
	// binaries', upstream's most) and, for each binary of the other, the
	// settings in which it differs.
	for _, b := range build.Split(req) {
		first := built[b.Components[0]]
		if l.Built.GoVersion == "" {
			l.Built = build.Provenance{GoVersion: first.GoVersion, Settings: first.Settings}
		}
		for _, name := range b.Components {
			bin := l.Binaries[name]
			for k, v := range built[name].Settings {
				if l.Built.Settings[k] != v {
					if bin.Settings == nil {
						bin.Settings = map[string]string{}
					}
					bin.Settings[k] = v
				}
			}
			l.Binaries[name] = bin
		}
	}
	return l, nil
}

// CompareBinaries fails when a binary of got differs from the one want
// records, those of the components' own sources included, and says which
// input of the build differs when the binaries tell. It returns the names
// of the binaries compared.
func CompareBinaries(want, got *Lock) ([]string, error) {
	matched, err := compareTree(want, got)
	for _, name := range slices.Sorted(maps.Keys(got.Components)) {
		if w := want.Components[name]; w != nil && err == nil {
			var own []string
			own, err = compareTree(w, got.Components[name])
			for _, bin := range own {
				matched = append(matched, bin+" ("+w.source()+")")
			}
		}
	}
	return matched, err
}

// source names the source l locks, for people.
func (l *Lock) source() string {
	switch {
	case l.Version != "":
		return l.Version
	case l.Git != "":
		return l.Git + " at " + l.Commit
	}
	return l.Path
}

func compareTree(want, got *Lock) ([]string, error) {
	if len(want.Binaries) == 0 || len(got.Binaries) == 0 {
		return nil, nil
	}
	var differ []string
	for _, name := range slices.Sorted(maps.Keys(got.Binaries)) {
		w, ok := want.Binaries[name]
		// A binary built with cgo has no hash to compare.
		if g := got.Binaries[name].SHA256; !ok || w.SHA256 == "" || g == "" || w.SHA256 == g {
			continue
		}
		differ = append(differ, fmt.Sprintf("%s: sha256 %s, locked %s", name, got.Binaries[name].SHA256, w.SHA256))
		why := want.Provenance(name).Differences(got.Provenance(name))
		if len(why) == 0 {
			why = []string{"same toolchain, build settings and modules: an input the binary does not record differs (the toolchain's own files, or the module cache's content)"}
		}
		for _, d := range why {
			differ = append(differ, "  "+d)
		}
	}
	if len(differ) > 0 {
		return nil, fmt.Errorf("the binaries differ from those %s records, though built from the same source:\n  %s\n"+
			"if the change is expected (a new toolchain, say), `kenv lock --update %s` accepts the new binaries",
			want.File, strings.Join(differ, "\n  "), filepath.Base(strings.TrimSuffix(want.File, ".lock.hcl")+".hcl"))
	}
	return slices.Sorted(maps.Keys(got.Binaries)), nil
}
