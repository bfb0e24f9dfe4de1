package supervisor

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/steps"
	"github.com/kenv-dev/kenv/env/watch"
)

// quiet is how long the watch loop waits for a save to end: editors write
// a file in several steps, and checking out a branch changes many files.
const quiet = 100 * time.Millisecond

// Watch rebuilds and restarts, until ctx is done, what each save touches:
// for a checkout (`kubernetes { path }`), the components compiled from
// the changed packages; for the spec, the components whose flags changed.
// It writes one line per round to out. loadSpec reads the spec again,
// saying what is wrong with it, if anything, to out.
func (r *Running) Watch(ctx context.Context, out io.Writer, loadSpec func() (*spec.Spec, error)) error {
	specFile := r.opts.Spec.File
	files := []string{specFile}
	var graph *watch.Graph
	if r.plan.Source.Mutable {
		var err error
		if graph, err = r.packageGraph(ctx); err != nil {
			return fmt.Errorf("watch %s: %w", r.plan.Source.Dir, err)
		}
		files = append(files, graph.Modules()...)
	}
	var dirs []string
	if graph != nil {
		dirs = graph.Dirs()
	}
	w, err := watch.New(dirs, files)
	if err != nil {
		return fmt.Errorf("watch %s: %w (raise fs.inotify.max_user_watches?)", r.plan.Source.Dir, err)
	}
	defer w.Close()
	if graph != nil {
		fmt.Fprintf(out, "Watching the %d packages of %s the binaries are compiled from, and %s.\n", len(dirs), r.plan.Source.Dir, specFile)
	} else {
		fmt.Fprintf(out, "Watching %s; the source, %s, is not a checkout (`kubernetes { path }`), so only the spec is watched.\n", specFile, r.plan.Source.Dir)
	}
	// Saves made while up built, after the build read the tree and
	// before the watcher ran, go first.
	var missed []string
	if !r.treeRead.IsZero() {
		missed = watch.ChangedSince(dirs, files, r.treeRead)
	}
	// pending are the commands a failed build left to build.
	var pending []string
	for {
		changed, err := missed, error(nil)
		if len(missed) == 0 {
			changed, err = w.Next(ctx, quiet)
		}
		missed = nil
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		if slices.Contains(changed, specFile) {
			r.specChanged(ctx, out, loadSpec)
			changed = slices.DeleteFunc(changed, func(f string) bool { return f == specFile })
		}
		if graph == nil || len(changed) == 0 {
			continue
		}
		touched := graph.Touched(changed)
		for _, p := range pending {
			if !slices.Contains(touched, p) {
				touched = append(touched, p)
			}
		}
		if len(touched) == 0 {
			continue
		}
		if pending = r.round(ctx, out, graph, changed, touched); len(pending) > 0 || !graph.Imports(changed) {
			continue
		}
		// The edit imports packages that were not watched yet.
		next, err := r.packageGraph(ctx)
		if err == nil {
			err = w.Add(next.Dirs())
		}
		if err != nil {
			fmt.Fprintf(out, "• the packages the binaries are compiled from could not be listed again (%v); the packages listed before are watched.\n", err)
			continue
		}
		graph = next
	}
}

// packageGraph lists the packages the plan's binaries are compiled from.
func (r *Running) packageGraph(ctx context.Context) (*watch.Graph, error) {
	deps, err := build.Packages(ctx, r.plan.Build)
	if err != nil {
		return nil, err
	}
	return watch.NewGraph(r.plan.Source.Dir, deps), nil
}

// round rebuilds the commands the changed files touch and restarts those
// that run and whose code changed, and says in one line what changed,
// what was rebuilt and how long it took. The component nearest the
// change, in imports, goes first, alone: the controller-manager imports
// pkg/scheduler, but an edit there is the scheduler's, which should not
// wait for the controller-manager's link; the others follow in one go
// build. After a failed build, whose compiler errors it says once, it
// returns the commands left to build.
func (r *Running) round(ctx context.Context, out io.Writer, graph *watch.Graph, changed, touched []string) []string {
	change := describe(r.plan.Source.Dir, changed)
	// A component's place in the round: nearer the change first, and of
	// two as near, the one under Delve, which the person is working on.
	place := func(name string) int {
		d := graph.Depth(name, changed)
		units := r.unitsOf(name)
		if d < 0 || len(units) == 0 {
			return -1
		}
		if !slices.ContainsFunc(units, func(u *unit) bool { return u.component().Debug != nil }) {
			return 2*d + 1
		}
		return 2 * d
	}
	nearest := -1
	for _, name := range touched {
		if p := place(name); p >= 0 && (nearest < 0 || p < nearest) {
			nearest = p
		}
	}
	var first, then []string
	for _, name := range touched {
		if nearest < 0 || place(name) == nearest {
			first = append(first, name)
		} else {
			then = append(then, name)
		}
	}
	// done says what the phases that went through did; left is what was
	// not built yet.
	var done []string
	left := slices.Clone(touched)
	for _, names := range [][]string{first, then} {
		if len(names) == 0 {
			continue
		}
		sw := swap{rebuild: names, change: change, ifChanged: true}
		for _, name := range names {
			for _, u := range r.unitsOf(name) {
				sw.restart = append(sw.restart, u.component())
			}
		}
		took, err := r.swap(ctx, sw, steps.NewNotes(out))
		before := ""
		if len(done) > 0 {
			before = strings.Join(done, "; then ") + "; then "
		}
		switch {
		case err != nil && took.buildFailed:
			fmt.Fprintf(out, "✗ %s: %sthe build of %s failed; what runs keeps running. The next save tries again.\n%v\n",
				change, before, strings.Join(names, ", "), err)
			return left
		case err != nil:
			fmt.Fprintf(out, "✗ %s: %sbuilt %s in %s; restarting failed: %v\n", change, before,
				strings.Join(names, ", "), took.built.Round(100*time.Millisecond), err)
			return nil
		}
		done = append(done, phase(names, sw.restart, took))
		left = slices.DeleteFunc(left, func(n string) bool { return slices.Contains(names, n) })
	}
	fmt.Fprintf(out, "↻ %s: %s\n", change, strings.Join(done, "; then "))
	return nil
}

// phase says what one swap of a round did.
func phase(built []string, restart []plan.Component, took swapped) string {
	line := fmt.Sprintf("built %s in %s", strings.Join(built, ", "), took.built.Round(100*time.Millisecond))
	if len(took.restartedNames) > 0 {
		line += fmt.Sprintf(", restarted %s, ready in %s", strings.Join(took.restartedNames, ", "), took.restarted.Round(100*time.Millisecond))
	}
	var same []string
	armed := false
	for _, c := range restart {
		restarted := slices.Contains(took.restartedNames, c.Name)
		if !restarted {
			same = append(same, c.Name)
		}
		armed = armed || (restarted && c.Debug != nil && len(c.Debug.Breakpoints) > 0)
	}
	if armed {
		line += ", breakpoints set again"
	}
	if len(same) > 0 {
		whose := "its"
		if len(same) > 1 {
			whose = "their"
		}
		line += fmt.Sprintf("; %s kept running: %s code is unchanged", strings.Join(same, ", "), whose)
	}
	return line
}

// specChanged applies an edited spec: the components whose flags changed
// start again with the new ones; a change only a new environment can take
// is said, not half applied.
func (r *Running) specChanged(ctx context.Context, out io.Writer, loadSpec func() (*spec.Spec, error)) {
	name := filepath.Base(r.opts.Spec.File)
	s, err := loadSpec()
	if err != nil {
		fmt.Fprintf(out, "✗ %s: %v; the environment runs as before.\n", name, err)
		return
	}
	// The trees at hand are those the environment runs; a component whose
	// own source the save changed needs another.
	trees := map[string]*source.Tree{}
	for _, own := range plan.Owns(s, r.opts.Lock) {
		t := r.plan.Trees[own.Name]
		if t == nil || t.Where != own.Where {
			fmt.Fprintf(out, "• %s: the source of %s changed, which takes a new environment: `kenv down --name %s` and `kenv up %s`. Nothing was changed.\n",
				name, own.Name, r.opts.Spec.Name, r.opts.Spec.File)
			return
		}
		trees[own.Name] = t.Source
	}
	next, err := plan.Decide(plan.Inputs{Spec: s, Lock: r.opts.Lock, Env: r.opts.Env, Cache: r.opts.Cache, Tree: r.plan.Source, Trees: trees, Machine: r.plan.Machine()})
	if err != nil {
		fmt.Fprintf(out, "✗ %s: %v; the environment runs as before.\n", name, err)
		return
	}
	ch := plan.Compare(r.plan, next)
	switch {
	case len(ch.Anew) > 0:
		fmt.Fprintf(out, "• %s: %s changed, which takes a new environment: `kenv down --name %s` and `kenv up %s`. Nothing was changed.\n",
			name, strings.Join(ch.Anew, ", "), r.opts.Spec.Name, r.opts.Spec.File)
		return
	case len(ch.Restart) == 0:
		fmt.Fprintf(out, "• %s: saved; the components already run as it says.\n", name)
		return
	}
	var restarted []string
	for _, c := range ch.Restart {
		restarted = append(restarted, c.Name)
	}
	took, err := r.swap(ctx, swap{restart: ch.Restart, next: next, change: name}, steps.NewNotes(out))
	if err != nil {
		fmt.Fprintf(out, "✗ %s: restarting %s failed: %v\n", name, strings.Join(restarted, ", "), err)
		return
	}
	fmt.Fprintf(out, "↻ %s: restarted %s with its new flags, ready in %s\n", name, strings.Join(restarted, ", "), took.restarted.Round(100*time.Millisecond))
}

// describe names the changed files, relative to the tree, a few at most.
func describe(root string, changed []string) string {
	var names []string
	for _, f := range changed {
		if rel, err := filepath.Rel(root, f); err == nil {
			f = rel
		}
		names = append(names, f)
	}
	if len(names) > 3 {
		return fmt.Sprintf("%s and %d more files", strings.Join(names[:2], ", "), len(names)-2)
	}
	return strings.Join(names, ", ")
}
