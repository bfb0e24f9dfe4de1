package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/steps"
)

// Lock builds what o.Spec asks for, as its lock says when it has one, and
// checks the binaries against the lock, or writes the lock when o.WriteLock
// is set. Nothing is started.
func Lock(ctx context.Context, o Options) error {
	if err := os.MkdirAll(o.Env.LogDir(), 0o700); err != nil {
		return err
	}
	r := newRunning(o)
	for _, row := range [][]steps.Step{
		{r.getSource()},
		{r.build(nil)},
		{r.settleLock(false)},
	} {
		if err := r.run.Run(ctx, row...); err != nil {
			return err
		}
	}
	return nil
}

// lockOf is the lock of what the plan builds from tree t for s, the
// spec of that tree, with the releases of what it installs for s's
// components.
func (r *Running) lockOf(ctx context.Context, s *spec.Spec, t *plan.Tree) (*lock.Lock, error) {
	releases := lock.Releases{Delve: map[string]string{}}
	for _, sc := range s.Components {
		if sc.Kubernetes != nil {
			continue // in the lock of its own source
		}
		// A kind that runs on each node has one Delve on all.
		for _, c := range r.plan.Components {
			if c.Kind == sc.Name && c.Debug != nil {
				releases.Delve[c.Kind] = c.Debug.Release
			}
		}
	}
	if s == r.opts.Spec { // kwok and CoreDNS are the environment's
		releases.Installed = map[string]string{}
		if k := r.plan.Kwok; k != nil {
			releases.Installed["kwok"] = k.Module.Version
		}
		if d := r.plan.DNS; d != nil {
			releases.Installed["coredns"] = d.Module.Version
		}
	}
	return lock.Of(ctx, s, t.Source, t.Build, releases, r.opts.WriteLock)
}

// settleLock writes the spec's lock from what was built, or compares the
// binaries with those the lock records. When lenient, as up is, a lock
// that cannot be written is reported, and written by the next up.
func (r *Running) settleLock(lenient bool) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		o, p := r.opts, r.plan
		if o.Lock == nil && !o.WriteLock {
			return nil
		}
		built, err := r.lockOf(ctx, o.Spec, &p.Tree)
		for _, own := range plan.Owns(o.Spec, nil) {
			if err != nil {
				break
			}
			var sub *lock.Lock
			if sub, err = r.lockOf(ctx, own.Spec, p.Trees[own.Name]); err == nil {
				if built.Components == nil {
					built.Components = map[string]*lock.Lock{}
				}
				built.Components[own.Name] = sub
			}
		}
		if err != nil {
			err = fmt.Errorf("lock: %w", err)
		} else if o.WriteLock {
			if err = built.Write(); err == nil {
				pr.Printf(" ✓ locked in %s\n", built.File)
				return nil
			}
			err = fmt.Errorf("write the lock: %w", err)
		}
		switch {
		case err != nil && lenient && o.Lock == nil:
			pr.Printf(" ! %v\n", err)
			return nil
		case err != nil:
			return err
		}
		matched, err := lock.CompareBinaries(o.Lock, built)
		if len(matched) > 0 {
			pr.Printf(" ✓ the binaries match %s: %s\n", filepath.Base(o.Lock.File), strings.Join(matched, ", "))
		}
		return err
	}}
}
