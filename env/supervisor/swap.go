package supervisor

import (
	"context"
	"os"
	"slices"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/steps"
)

// A swap builds binaries again and restarts components while the others
// keep running and keep their connections, and etcd its data. `kenv
// restart`, a round of the watch loop and an edited spec all come here.
type swap struct {
	// rebuild are the commands built again first, in one go build.
	rebuild []string
	// restart are the components started again, each as given.
	restart []plan.Component
	// next, when set, is the plan the environment runs from now on.
	next *plan.Plan
	// change says what caused the swap, for `kenv status`.
	change string
	// ifChanged restarts, of the components given, those whose binary
	// the build changed: an edit to code a binary does not reach leaves
	// the binary as it was.
	ifChanged bool
}

// swapped says how long a swap's build and restart took.
type swapped struct {
	built, restarted time.Duration
	// restartedNames are the components started again.
	restartedNames []string
	// buildFailed is set when the build failed: nothing was stopped.
	buildFailed bool
}

// swap carries sw out. The build comes first and a failed one stops
// nothing: what runs keeps running its binary. The components then start
// again in the stages up starts them in, under Delve on the same address
// with their breakpoints set again when debugged, and swap returns once
// they are ready.
func (r *Running) swap(ctx context.Context, sw swap, pr *steps.Progress) (swapped, error) {
	r.restartMu.Lock()
	defer r.restartMu.Unlock()
	return r.swapLocked(ctx, sw, pr)
}

// swapLocked is swap for a caller that holds restartMu.
func (r *Running) swapLocked(ctx context.Context, sw swap, pr *steps.Progress) (swapped, error) {
	var took swapped
	run := &steps.Runner{Progress: pr}
	start := time.Now()
	var before map[string]string
	if sw.ifChanged {
		before = r.programs(sw.restart, true)
	}
	if len(sw.rebuild) > 0 {
		if err := run.Run(ctx, r.build(sw.rebuild)); err != nil {
			took.buildFailed = true
			return took, err
		}
	}
	if sw.ifChanged {
		after := r.programs(sw.restart, false)
		sw.restart = slices.DeleteFunc(slices.Clone(sw.restart), func(c plan.Component) bool {
			same := before[c.Name] != "" && before[c.Name] == after[c.Name]
			if same {
				r.unit(c.Name).equivalent(c.Binary)
			}
			return same
		})
	}
	// A released version's binaries are built once; a checkout's are
	// built again.
	if slices.ContainsFunc(sw.rebuild, func(name string) bool { return r.currentPlan().TreeOf(name).Source.Mutable }) {
		r.updateState(func(s *state.State) {
			for i, c := range s.Components {
				if slices.ContainsFunc(sw.restart, func(pc plan.Component) bool { return pc.Name == c.Name }) {
					s.Components[i].Rebuilt = &state.Rebuild{At: time.Now(), Change: sw.change}
				}
			}
		})
	}
	took.built = time.Since(start)
	start = time.Now()
	if sw.next != nil {
		r.planMu.Lock()
		r.plan = sw.next
		r.planMu.Unlock()
	}
	var names []string
	var restart []plan.Component
	for _, c := range sw.restart {
		if r.unit(c.Name) == nil {
			continue
		}
		names = append(names, c.Name)
		restart = append(restart, c)
		if c.Serves {
			// Its clients that exit while it starts are started again.
			r.apiReady.Store(0)
		}
	}
	for _, row := range r.inStages(restart, r.restartComponents, nil, nil) {
		if err := run.Run(ctx, row...); err != nil {
			return took, err
		}
	}
	took.restarted, took.restartedNames = time.Since(start), names
	for _, name := range names {
		r.recordChildren(r.unit(name))
	}
	if len(sw.rebuild) > 0 {
		// A checkout's edit may bring in other modules: the source map is
		// made again, once the components run; the breakpoints were set
		// with the one before.
		if err := run.Run(ctx, r.mapSources()); err != nil {
			return took, err
		}
		r.updateState(func(s *state.State) {
			s.SourceMap = r.sources
			for i, c := range s.Components {
				if m, own := r.ownSources[plan.KindName(c.Name)]; own {
					s.Components[i].SourceMap = m
				}
			}
		})
	}
	return took, nil
}

// restartComponents starts cs again, side by side, each once its Delve is
// installed and its ports are free.
func (r *Running) restartComponents(cs []plan.Component) steps.Step {
	var restarts []steps.Step
	for _, c := range cs {
		restarts = append(restarts, steps.Seq(r.ensureDelveStep(c), r.relaunch(r.unit(c.Name), c)))
	}
	return steps.Together(restarts...)
}

// programs identifies what the binaries of cs do, to tell whether a build
// changed them: for a debugged component, every byte, since the person
// stepping through it sees its lines; for the others, their code and data
// (build.ProgramID). With running, only a binary that is still the one
// its component started from is identified; the others are "".
func (r *Running) programs(cs []plan.Component, running bool) map[string]string {
	ids := map[string]string{}
	for _, c := range cs {
		if u := r.unit(c.Name); running && (u == nil || !u.runsFile(c.Binary)) {
			continue
		}
		f, err := os.Open(c.Binary)
		if err != nil {
			continue
		}
		if c.Debug != nil {
			ids[c.Name], _ = build.ContentID(f)
		} else {
			ids[c.Name], _ = build.ProgramID(f)
		}
		f.Close()
	}
	return ids
}
