package supervisor

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
)

// Lock builds what o.Spec asks for, as its lock says when it has one, and
// checks the binaries against the lock, or writes the lock when o.WriteLock
// is set. Nothing is started.
func Lock(ctx context.Context, o Options) error {
	pr := &progress{out: o.Out}
	if err := os.MkdirAll(o.Env.LogDir(), 0o700); err != nil {
		return err
	}
	tree, err := getSource(ctx, o, pr)
	if err != nil {
		return err
	}
	r := &Running{opts: o, tree: tree, binDir: binDir(o, tree)}
	if err := r.build(ctx, pr, tree, nil); err != nil {
		return err
	}
	// The Delve releases up would use, without installing them.
	releases := map[string]string{}
	for _, c := range o.Spec.Components {
		if c.Debug == nil {
			continue
		}
		_, release, err := delve.Locate(o.Cache, lock.DelvePin(o.Lock, c.Name, c.Debug.Dlv), tree.GoVersion)
		if err != nil {
			return err
		}
		releases[c.Name] = release
	}
	return r.settleLock(ctx, pr, releases)
}

// getSource gets the tree of o.Spec, at the commit its lock records, checks
// it against the lock, and settles the toolchain and the build date.
func getSource(ctx context.Context, o Options, pr *progress) (*source.Tree, error) {
	k := o.Spec.Kubernetes
	loc := source.Location{Version: k.Version, Git: k.Git, Ref: k.Ref, Path: k.Path}
	if o.Lock != nil && k.Git != "" && o.Lock.Commit != "" {
		loc.Ref = o.Lock.Commit
	}
	done := pr.step("source " + k.Source())
	tree, err := source.Get(ctx, o.Cache, loc, func(msg string) { pr.printf("   %s\n", msg) })
	if err == nil && o.Lock != nil {
		err = checkSource(ctx, o, tree)
	}
	done(err)
	if err != nil {
		return nil, fmt.Errorf("get the Kubernetes source: %w", err)
	}
	lock.Settle(o.Spec, o.Lock, tree)
	return tree, nil
}

// checkSource fails when tree is not the source o.Lock records.
func checkSource(ctx context.Context, o Options, tree *source.Tree) error {
	l, k := o.Lock, o.Spec.Kubernetes
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
				return fmt.Errorf("%s@%s is not in %s; lock the spec anew with `kenv lock --update %s`", m.Path, m.Version, l.File, o.Spec.File)
			case l.Modules[i] != m:
				return fmt.Errorf("%s@%s has hash %s, but %s records %s@%s %s: the module proxy serves other content than when the spec was locked",
					m.Path, m.Version, m.Sum, l.File, l.Modules[i].Path, l.Modules[i].Version, l.Modules[i].Sum)
			}
		}
	case k.Path != "" && tree.Version.GitCommit != l.Commit:
		return fmt.Errorf("the checkout %s is at commit %s, but %s records %s: check that commit out, or lock the checkout as it is with `kenv lock --update %s`",
			k.Path, tree.Version.GitCommit, l.File, l.Commit, o.Spec.File)
	}
	return nil
}

func binDir(o Options, tree *source.Tree) string {
	return plan.BinDir(o.Cache, o.Spec, tree)
}

// settleLock writes the spec's lock from what was built, or compares the
// binaries with those the lock records.
func (r *Running) settleLock(ctx context.Context, pr *progress, releases map[string]string) error {
	o := r.opts
	if o.Lock == nil && !o.WriteLock {
		return nil
	}
	built, err := r.lockOf(ctx, releases)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if o.WriteLock {
		if err := built.Write(); err != nil {
			return fmt.Errorf("write the lock: %w", err)
		}
		pr.printf(" ✓ locked in %s\n", built.File)
		return nil
	}
	return compareBinaries(pr, o.Lock, built)
}

// lockOf is the lock of what r built; without module hashes unless it is
// to be written.
func (r *Running) lockOf(ctx context.Context, releases map[string]string) (*lock.Lock, error) {
	s, tree := r.opts.Spec, r.tree
	l := &lock.Lock{
		File:   lock.PathFor(s.File),
		Commit: tree.Version.GitCommit,
		Go:     tree.GoVersion,
		// A checkout's date is its commit's, recorded by the commit.
		BuildDate: tree.Version.BuildDate,
		Delve:     releases,
		Debug:     s.Build.Debug,
		Tags:      s.Build.Tags,
		GCFlags:   s.Build.GCFlags,
		LDFlags:   s.Build.LDFlags,
	}
	l.Version, l.Git, l.Ref, l.Path = lock.SourceOf(s)
	// A lock being checked had its module hashes compared already, with
	// the source.
	if s.Kubernetes.Version != "" && r.opts.WriteLock {
		sums, err := source.ModuleSums(ctx, tree, s.Kubernetes.Version)
		if err != nil {
			return nil, err
		}
		l.Modules = sums
	}
	if tree.Mutable {
		return l, nil
	}
	req := plan.Build(s, tree, r.binDir)
	l.Binaries = map[string]lock.Binary{}
	for _, name := range req.Components {
		path := filepath.Join(r.binDir, name)
		sum, err := build.Hash(path)
		if err != nil {
			return nil, err
		}
		p, err := build.ReadProvenance(path, req)
		if err != nil {
			return nil, err
		}
		// The toolchain and settings are the same for every binary of one
		// go build.
		l.Built = build.Provenance{GoVersion: p.GoVersion, Settings: p.Settings}
		l.Binaries[name] = lock.Binary{SHA256: sum, Modules: p.Modules}
	}
	return l, nil
}

// compareBinaries fails when a binary differs from the one the lock
// records, and says which input of the build differs when the binaries
// tell.
func compareBinaries(pr *progress, want, got *lock.Lock) error {
	if len(want.Binaries) == 0 || len(got.Binaries) == 0 {
		return nil
	}
	var differ []string
	for _, name := range slices.Sorted(maps.Keys(got.Binaries)) {
		w, ok := want.Binaries[name]
		if !ok || w.SHA256 == got.Binaries[name].SHA256 {
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
		return fmt.Errorf("the binaries differ from those %s records, though built from the same source:\n  %s\n"+
			"if the change is expected (a new toolchain, say), `kenv lock --update %s` accepts the new binaries",
			want.File, strings.Join(differ, "\n  "), filepath.Base(strings.TrimSuffix(want.File, ".lock.hcl")+".hcl"))
	}
	pr.printf(" ✓ the binaries match %s: %s\n", filepath.Base(want.File), strings.Join(slices.Sorted(maps.Keys(got.Binaries)), ", "))
	return nil
}
