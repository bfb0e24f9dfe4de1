package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kenv-dev/kenv/env/lock"
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

// settleLock writes the spec's lock from what was built, or compares the
// binaries with those the lock records. When lenient, as up is, a lock
// that cannot be written is reported, and written by the next up.
func (r *Running) settleLock(lenient bool) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		o, p := r.opts, r.plan
		if o.Lock == nil && !o.WriteLock {
			return nil
		}
		releases := lock.Releases{Delve: map[string]string{}}
		for _, c := range p.Components {
			if c.Debug != nil {
				releases.Delve[c.Name] = c.Debug.Release
			}
		}
		if p.Kwok != nil {
			releases.Kwok = p.Kwok.Module.Version
		}
		built, err := lock.Of(ctx, o.Spec, p.Source, p.Build, releases, o.WriteLock)
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
