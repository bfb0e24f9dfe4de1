// Package bench measures kenv against the floor, in one run: the same
// binaries started by hand with the same flags, a plain go build, a plain
// stop. Each figure is taken several times, kenv's and the floor's
// interleaved, so that the load of the machine weighs on both alike; only
// their ratio means anything from one machine to another.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// Options say what to measure and how often.
type Options struct {
	// Spec is the spec measured, and Lock its lock (nil when it has none).
	Spec *spec.Spec
	Lock *lock.Lock
	// Cache is kenv's cache, whose binaries both kenv and the floor run.
	Cache layout.Cache
	// Kenv is the kenv executable measured.
	Kenv string
	// Runs is how many times each warm figure is taken.
	Runs int
	// Short leaves out what needs another build (the all-unoptimised
	// Delve floor, kenv e2e); Cold adds the cold rows, minutes each.
	Short, Cold bool
	// Out receives progress, one line per measurement.
	Out io.Writer
}

// bench is one run of the bench: a state root of its own, so that no
// environment of the user's is touched, and the plans of the spec with and
// without Delve there.
type bench struct {
	o Options
	// home is the KENV_HOME of every kenv the bench runs; homes are those
	// of the new environments it made below home.
	home  string
	homes []string
	// debugged is the spec as written; plain runs no component under
	// Delve; unoptimised is debugged with every package built -N -l.
	debugged, plain, unoptimised *plan.Plan
}

// Run takes every figure and returns the table.
func Run(ctx context.Context, o Options) (*Report, error) {
	nodes := len(o.Spec.Nodes) > 1
	for _, c := range o.Spec.Components {
		if k, ok := plan.KindOf(c.Name); !nodes && (!ok || !k.ControlPlane()) {
			return nil, fmt.Errorf("kenv bench measures a control plane, or several real nodes against one; %s runs %s: bench a spec without it", o.Spec.File, c.Name)
		}
		if c.Kubernetes != nil {
			return nil, fmt.Errorf("kenv bench measures one tree; %s builds %s from a source of its own: bench a spec without it", o.Spec.File, c.Name)
		}
	}
	// The bench's environments are its own: they share nothing with
	// the user's.
	if d := o.Spec.Etcd.DataDir; d != "" {
		return nil, fmt.Errorf("%s keeps etcd's data in %s, which the bench's environments would share with yours: bench a spec without etcd { data_dir }", o.Spec.File, d)
	}
	if d := o.Spec.Log.Dir; d != "" {
		return nil, fmt.Errorf("%s writes the logs to %s, which the bench's environments would share with yours: bench a spec without log { dir }", o.Spec.File, d)
	}
	if o.Runs < 1 {
		o.Runs = 1
	}
	home, err := os.MkdirTemp("", "kenv-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	b := &bench{o: o, home: home}
	// An environment an interrupted or failed run left up is taken down.
	defer b.downLeftovers()
	started := time.Now()

	// Once, unmeasured: builds what is missing, makes the certificates,
	// and shows that the spec comes up at all.
	b.progress("preparing: kenv up and down once, building what is missing")
	if _, err := b.up(ctx, home, true); err != nil {
		return nil, err
	}
	if _, err := b.down(ctx, home); err != nil {
		return nil, err
	}
	if o.Spec.Cluster != nil {
		r := newReport(o.Spec.File, o.Runs, started)
		if err := b.cluster(ctx, r); err != nil {
			return nil, err
		}
		r.Took = time.Since(started)
		return r, nil
	}
	if nodes {
		// The floor of several nodes is one: the control plane's rows
		// are another run's, of a spec without nodes.
		r := newReport(o.Spec.File, o.Runs, started)
		if err := b.nodes(ctx, r); err != nil {
			return nil, err
		}
		r.Took = time.Since(started)
		return r, nil
	}
	if err := b.decide(ctx); err != nil {
		return nil, err
	}
	if !o.Short {
		b.progress("preparing: the floor's build, every package -N -l")
		if err := b.buildUnoptimised(ctx); err != nil {
			return nil, err
		}
	}

	r := newReport(o.Spec.File, o.Runs, started)
	warm, delve, unopt, reup, rss := r.row(rowWarm), r.row(rowDelve), r.row(rowUnoptimised), r.row(rowReUp), r.row(rowRSS)
	down, downDelve := r.row(rowDown), r.row(rowDownDelve)
	for i := range o.Runs {
		b.progress(fmt.Sprintf("run %d of %d", i+1, o.Runs))
		// Without Delve: kenv, then by hand.
		t, err := b.up(ctx, home, false)
		if err != nil {
			return nil, err
		}
		warm.Kenv = append(warm.Kenv, t)
		if err := idle(ctx); err != nil {
			return nil, err
		}
		if t, err = b.down(ctx, home); err != nil {
			return nil, err
		}
		down.Kenv = append(down.Kenv, t)
		hand, err := b.byHand(ctx, b.plain)
		if err != nil {
			return nil, err
		}
		warm.Floor, down.Floor = append(warm.Floor, hand.ready), append(down.Floor, hand.stop)

		// As the spec says, kube-apiserver (say) under Delve.
		if t, err = b.up(ctx, home, true); err != nil {
			return nil, err
		}
		delve.Kenv, unopt.Kenv, reup.Kenv = append(delve.Kenv, t), append(unopt.Kenv, t), append(reup.Kenv, t)
		mb, err := b.idleRSS(ctx, home)
		if err != nil {
			return nil, err
		}
		rss.Kenv = append(rss.Kenv, mb)
		if t, err = b.down(ctx, home); err != nil {
			return nil, err
		}
		downDelve.Kenv = append(downDelve.Kenv, t)
		if hand, err = b.byHand(ctx, b.debugged); err != nil {
			return nil, err
		}
		delve.Floor, downDelve.Floor = append(delve.Floor, hand.ready), append(downDelve.Floor, hand.stop)
		if b.unoptimised != nil {
			if hand, err = b.byHand(ctx, b.unoptimised); err != nil {
				return nil, err
			}
			unopt.Floor = append(unopt.Floor, hand.ready)
		}

		// The first up of a new environment: certificates made, etcd
		// empty.
		fresh, err := os.MkdirTemp(home, "new-")
		if err != nil {
			return nil, err
		}
		b.homes = append(b.homes, fresh)
		if t, err = b.up(ctx, fresh, true); err != nil {
			return nil, err
		}
		reup.Floor = append(reup.Floor, t)
		if _, err = b.down(ctx, fresh); err != nil {
			return nil, err
		}
		os.RemoveAll(fresh)
	}
	if err := b.measureEdits(ctx, r); err != nil {
		return nil, err
	}
	if err := b.measureRestore(ctx, r); err != nil {
		return nil, err
	}
	if o.Short {
		b.progress("short: kenv e2e not measured (e2e.test would be built)")
	} else if err := b.measureE2E(ctx, r); err != nil {
		return nil, err
	}
	if o.Cold {
		cold := r.row(rowCold)
		floor, t, err := b.cold(ctx)
		if err != nil {
			return nil, err
		}
		cold.Floor, cold.Kenv = append(cold.Floor, floor), append(cold.Kenv, t)
	}
	r.Took = time.Since(started)
	return r, nil
}

func (b *bench) progress(msg string) {
	fmt.Fprintf(b.o.Out, "%s  %s\n", time.Now().Format("15:04:05"), msg)
}

// kenv runs the kenv measured with args, its state under home, and returns
// how long it took; its output goes to the bench's log and is shown when it
// fails.
func (b *bench) kenv(ctx context.Context, home string, env []string, args ...string) (float64, error) {
	cmd := exec.CommandContext(ctx, b.o.Kenv, args...)
	cmd.Env = append(append(os.Environ(), "KENV_HOME="+home), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("kenv %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return took, nil
}

// up brings the spec up under home, with or without Delve, and returns how
// long `kenv up -d` took to report it ready.
func (b *bench) up(ctx context.Context, home string, delve bool) (float64, error) {
	args := []string{"up", "-d"}
	if !delve {
		args = append(args, "--no-debug")
	}
	return b.kenv(ctx, home, nil, append(args, b.o.Spec.File)...)
}

// decide computes the plans the floor runs, as kenv computes them for the
// bench's environment.
func (b *bench) decide(ctx context.Context) error {
	tree, err := source.Get(ctx, b.o.Cache, plan.Where(b.o.Spec, b.o.Lock), func(string) {})
	if err != nil {
		return err
	}
	env := layout.NewEnv(b.home, b.o.Spec.Name)
	in := plan.Inputs{Spec: b.o.Spec, Lock: b.o.Lock, Env: env, Cache: b.o.Cache, Tree: tree, Machine: plan.Survey()}
	if b.debugged, err = plan.Decide(in); err != nil {
		return err
	}
	plain := *b.o.Spec
	plain.Components = slices.Clone(plain.Components)
	plain.WithoutDelve()
	in.Spec = &plain
	b.plain, err = plan.Decide(in)
	return err
}

// buildUnoptimised builds the spec's binaries with every package -N -l,
// the debug build before kenv compiled the standard library optimised, into
// the directory a spec that says `optimize = []` builds into, and plans the
// debugged spec with them.
func (b *bench) buildUnoptimised(ctx context.Context) error {
	s := *b.o.Spec
	s.Build.Optimize = nil
	if !s.Build.Unoptimized {
		return nil // an optimised build has no unoptimised floor
	}
	p := *b.debugged
	p.Build.Optimize = nil
	p.Build.OutDir = plan.BinDir(b.o.Cache, &s, p.Build.Tree)
	if _, err := build.Run(ctx, p.Build, io.Discard); err != nil {
		return fmt.Errorf("build every package -N -l: %w", err)
	}
	p.Components = slices.Clone(p.Components)
	for i, c := range p.Components {
		if slices.Contains(p.Build.Components, c.Name) {
			p.Components[i].Binary = filepath.Join(p.Build.OutDir, c.Name)
		}
	}
	b.unoptimised = &p
	return nil
}

// downLeftovers takes down any environment under the bench's homes that
// is still up.
func (b *bench) downLeftovers() {
	for _, home := range append(b.homes, b.home) {
		if _, err := readState(home, b.o.Spec.Name); err == nil {
			_, _ = b.kenv(context.Background(), home, nil, "down", "--name", b.o.Spec.Name)
		}
	}
}

// idleRSS is the resident memory, in MB, of the supervisor of the
// environment under home once it has been idle for a while.
func (b *bench) idleRSS(ctx context.Context, home string) (float64, error) {
	st, err := readState(home, b.o.Spec.Name)
	if err != nil {
		return 0, err
	}
	if err := idle(ctx); err != nil {
		return 0, err
	}
	return residentMB(st.Supervisor.Pid)
}

// idleFor is how long an environment idles before its supervisor's memory
// is read and before it is taken down: kube-apiserver stopped within a
// second of being ready spends a second in its own graceful termination,
// whoever stops it.
const idleFor = 5 * time.Second

// idle waits idleFor, or until ctx ends.
func idle(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idleFor):
		return nil
	}
}
