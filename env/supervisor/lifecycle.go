package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/control"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/sourcemap"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/steps"
)

const (
	stopTimeout = 15 * time.Second
	// maxRestarts bounds the restarts after failures in a row; a run of
	// healthyRun resets the count.
	maxRestarts = 5
	healthyRun  = time.Minute
)

// firstBackoff is the wait before the first restart after a failure; it
// doubles with each failure in a row.
var firstBackoff = time.Second

// backoffAfter is time.After for the back-off; tests hold it and end it.
var backoffAfter = time.After

// unit is one component under supervision: what runs it and its current
// process.
type unit struct {
	name string
	mu   sync.Mutex
	// c is how the component runs; a restart with --debug changes it.
	c    plan.Component
	proc *process.Process
	// children are what the process started (the program under Delve),
	// stopped with it even after Delve died.
	children []process.ID
	// intended is set while kenv stops the process on purpose.
	intended bool
	failures int
	// started is when proc started.
	started time.Time
	// binary is the binary proc runs as it was when proc started.
	binary os.FileInfo
}

func newUnit(c plan.Component) *unit { return &unit{name: c.Name, c: c} }

// running is how u runs now, its process and when that started.
func (u *unit) running() (plan.Component, *process.Process, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.c, u.proc, u.started
}

// equivalent notes that the binary at path, built again, does what u's
// process does.
func (u *unit) equivalent(path string) {
	fi, err := os.Stat(path)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.binary = fi
	}
}

// runsFile reports whether the binary file at path is the one u's process
// started from, not rewritten since.
func (u *unit) runsFile(path string) bool {
	fi, err := os.Stat(path)
	u.mu.Lock()
	defer u.mu.Unlock()
	return err == nil && u.binary != nil && os.SameFile(fi, u.binary) && fi.ModTime().Equal(u.binary.ModTime()) && fi.Size() == u.binary.Size()
}

// component is how u runs now.
func (u *unit) component() plan.Component {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.c
}

func (r *Running) unit(name string) *unit {
	r.unitsMu.Lock()
	defer r.unitsMu.Unlock()
	for _, u := range r.units {
		if u.name == name {
			return u
		}
	}
	return nil
}

// unitsOf are the units that run the binary name: one, or one per node
// for a kind that runs on each.
func (r *Running) unitsOf(name string) []*unit {
	r.unitsMu.Lock()
	defer r.unitsMu.Unlock()
	var units []*unit
	for _, u := range r.units {
		if u.name == name || plan.KindName(u.name) == name {
			units = append(units, u)
		}
	}
	return units
}

func (r *Running) addUnit(u *unit) {
	r.unitsMu.Lock()
	defer r.unitsMu.Unlock()
	r.units = append(r.units, u)
}

// allUnits are the units up started so far.
func (r *Running) allUnits() []*unit {
	r.unitsMu.Lock()
	defer r.unitsMu.Unlock()
	return slices.Clone(r.units)
}

// launch starts u's process as c says, records it, and watches it for
// exits.
func (r *Running) launch(u *unit, c plan.Component) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	// Stop cancels r.stopped before it stops the units, which takes u.mu,
	// so a process started here is either refused or seen and stopped.
	if r.stopped.Err() != nil {
		return fmt.Errorf("start %s: the environment is stopping", c.Name)
	}
	argv := c.Command()
	place, err := r.placeOf(c)
	if err != nil {
		return err
	}
	p, err := place.Start(process.Spec{Name: c.Name, Argv: argv, Env: c.Env, LogPath: c.LogPath})
	if err != nil {
		return err
	}
	u.c, u.proc, u.children, u.intended, u.started = c, p, nil, false, time.Now()
	u.binary, _ = os.Stat(c.Binary)
	cs := state.ComponentState{Name: c.Name, Status: state.Starting, Process: process.IDOf(p.Pid()), Address: c.Address, Endpoint: c.Endpoint,
		LogPath: c.LogPath, Command: argv, Env: c.Env, Started: time.Now()}
	if c.Debug != nil {
		cs.DebugAddress, cs.Dlv = c.Debug.Listen, c.Debug.Dlv
	}
	if m, own := r.ownSources[c.Kind]; own {
		cs.SourceDir, cs.SourceMap, cs.DelveInit = r.currentPlan().TreeOf(c.Name).Source.Dir, m, r.opts.Env.DelveInitOf(c.Kind)
	}
	r.updateState(func(s *state.State) {
		for i := range s.Components {
			if s.Components[i].Name == cs.Name {
				cs.Rebuilt = s.Components[i].Rebuilt
				s.Components[i] = cs
				return
			}
		}
		s.Components = append(s.Components, cs)
	})
	r.followers.Go(func() { r.follow(u, p) })
	return nil
}

// placeOf is where c runs: this machine, its node's namespaces, or the
// node of a cluster kenv did not make. A Delve on a node listens on the
// node's loopback, and is forwarded from this machine's, at the same
// port, for as long as the environment runs.
func (r *Running) placeOf(c plan.Component) (process.Place, error) {
	if c.Node == "" {
		return r.place, nil
	}
	var (
		place   process.Place
		forward func(ctx context.Context, listen, address string) error
	)
	if cl := r.currentPlan().Cluster; cl != nil {
		n := cl.Node(c.Node)
		if n == nil {
			return nil, fmt.Errorf("start %s: no node %s in the cluster", c.Name, c.Node)
		}
		place, forward = n.Place(), n.Forward
	} else {
		n := r.currentPlan().Nodes.Node(c.Node)
		if n == nil {
			return nil, fmt.Errorf("start %s: no node %s", c.Name, c.Node)
		}
		place, forward = n.NS().Place(), n.NS().Forward
	}
	if d := c.Debug; d != nil {
		r.forwardsMu.Lock()
		defer r.forwardsMu.Unlock()
		if r.forwards[d.Listen] != c.Node {
			if err := forward(r.stopped, d.Listen, d.Listen); err != nil {
				return nil, fmt.Errorf("reach the Delve of %s from this machine: %w", c.Name, err)
			}
			if r.forwards == nil {
				r.forwards = map[string]string{}
			}
			r.forwards[d.Listen] = c.Node
		}
	}
	return place, nil
}

// recordChildren notes the processes below u's process, once they exist.
func (r *Running) recordChildren(u *unit) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.proc == nil {
		return
	}
	u.children = nil
	for _, pid := range process.Descendants(u.proc.Pid()) {
		u.children = append(u.children, process.IDOf(pid))
	}
	children := u.children
	r.updateState(func(s *state.State) {
		for i := range s.Components {
			if s.Components[i].Name == u.name {
				s.Components[i].Descendants = children
			}
		}
	})
}

// follow waits until p ends, records how, and, when the spec asks for
// it, restarts a component that failed, after a back-off that doubles
// with each failure in a row.
func (r *Running) follow(u *unit, p *process.Process) {
	start := time.Now()
	<-p.Done()
	u.mu.Lock()
	if u.intended || u.proc != p {
		u.mu.Unlock()
		return
	}
	c, children, started := u.c, u.children, u.started
	if time.Since(start) > healthyRun {
		u.failures = 0
	}
	u.failures++
	failures := u.failures
	u.mu.Unlock()

	level := slog.LevelWarn
	if c.Start == plan.WhenServing && r.beforeAPIReady(started) {
		// Expected while kube-apiserver bootstraps; up starts it again.
		level = slog.LevelInfo
	}
	slog.Log(context.Background(), level, "component exited", "component", u.name, "err", p.ExitError(), "log", c.LogPath)
	r.setStatus(u.name, state.Exited(p.Exit()))
	// A program Delve ran outlives a killed Delve.
	if err := r.place.StopAll(r.opts.Spec.Name, children, stopTimeout); err != nil {
		slog.Warn("stop what the component left", "component", u.name, "err", err)
	}
	if !c.RestartOnFailure || failures > maxRestarts || r.stopped.Err() != nil {
		return
	}
	backoff := firstBackoff << (failures - 1)
	r.setStatus(u.name, state.Restarting(backoff, p.Exit()))
	select {
	case <-r.stopped.Done():
		return
	case <-backoffAfter(backoff):
	}
	if !r.stillExited(u, p) {
		return
	}
	if err := r.Restart(r.stopped, u.name, nil, slogWriter{}); err != nil {
		slog.Warn("restart after failure", "component", u.name, "err", err)
	}
}

// stillExited reports whether p is still u's process and nobody stopped
// it on purpose: `kenv stop` or a restart during a back-off overrides it.
func (r *Running) stillExited(u *unit, p *process.Process) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !u.intended && u.proc == p
}

// stopUnit stops u's process on purpose, with what it started.
func (r *Running) stopUnit(u *unit) error {
	u.mu.Lock()
	p, children := u.proc, u.children
	u.intended = true
	u.mu.Unlock()
	if p == nil {
		return nil
	}
	return multierror.Append(p.Stop(stopTimeout), r.place.StopAll(r.opts.Spec.Name, children, stopTimeout)).ErrorOrNil()
}

// leftRunning reports whether a process of a component still runs.
func (r *Running) leftRunning() bool {
	for _, u := range r.allUnits() {
		u.mu.Lock()
		p, children := u.proc, u.children
		u.mu.Unlock()
		if p != nil && p.Exit() == "" {
			return true
		}
		for _, c := range children {
			if c.Alive() {
				return true
			}
		}
	}
	return false
}

// Handle carries out a request that came through the control socket.
func (r *Running) Handle(ctx context.Context, req control.Request, out io.Writer) error {
	if req.Action == control.Stop {
		u := r.unit(req.Component)
		if u == nil {
			return fmt.Errorf("no component %q runs here", req.Component)
		}
		done := steps.NewProgress(out).Step("stop " + req.Component)
		err := r.stopUnit(u)
		done(err)
		if err == nil {
			r.setStatus(req.Component, state.Stopped)
		}
		return err
	}
	return r.Restart(ctx, req.Component, req.Debug, out)
}

// Restart stops a component if it runs and starts it again with the same
// computed flags, after rebuilding its binary if its source changed. debug,
// when not nil, switches Delve on or off.
func (r *Running) Restart(ctx context.Context, name string, debug *bool, out io.Writer) error {
	u := r.unit(name)
	if u == nil {
		return fmt.Errorf("no component %q runs here", name)
	}
	// Decided once the swap before is done: an edited spec it applied
	// changes the plan and how u runs.
	r.restartMu.Lock()
	defer r.restartMu.Unlock()
	c, p := u.component(), r.currentPlan()
	if debug != nil {
		var err error
		if c, err = p.WithDebug(name, *debug); err != nil {
			return err
		}
	}
	sw := swap{restart: []plan.Component{c}, change: "kenv restart"}
	if slices.Contains(p.TreeOf(name).Build.Components, c.Kind) {
		sw.rebuild = []string{c.Kind}
	}
	_, err := r.swapLocked(ctx, sw, steps.NewProgress(out))
	return err
}

func (r *Running) ensureDelveStep(c plan.Component) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		if c.Debug == nil {
			return nil
		}
		return r.ensureDelve(ctx, pr, c)
	}}
}

// relaunch stops u and starts it again as c, once its ports are free.
func (r *Running) relaunch(u *unit, c plan.Component) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		if err := r.stopUnit(u); err != nil {
			return err
		}
		if err := waitFree(ctx, c); err != nil {
			return err
		}
		if n := r.clusterNode(c); n != nil {
			// A rebuild runs on the node once it is there.
			if _, err := n.Ship(ctx); err != nil {
				return err
			}
		}
		if err := r.launch(u, c); err != nil {
			return err
		}
		return r.armDebugger(ctx, pr, c)
	}}
}

// waitFree waits until c's ports are free, for instance of a program that
// outlived its killed Delve and was not recorded, and fails if they stay
// taken. A component of a node has none of this machine's: its Delve's
// port here is kenv's forward, which stays.
func waitFree(ctx context.Context, c plan.Component) error {
	if c.Node != "" {
		return nil
	}
	for _, port := range c.Ports() {
		if err := process.WaitFree(ctx, 5*time.Second, port.Address); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("start %s: %w", c.Name, err)
		}
	}
	return nil
}

// armDebugger sets the breakpoints the spec names for c, if any, and
// starts resuming its tracepoints.
func (r *Running) armDebugger(ctx context.Context, pr *steps.Progress, c plan.Component) error {
	if c.Debug == nil || len(c.Debug.Breakpoints) == 0 {
		return nil
	}
	if err := setBreakpoints(ctx, pr, c, r.sourcesOf(c.Name)); err != nil {
		return err
	}
	for _, b := range c.Debug.Breakpoints {
		if b.Trace {
			return r.trace(c)
		}
	}
	return nil
}

// trace resumes c at its tracepoints and logs their hits until Stop.
func (r *Running) trace(c plan.Component) error {
	path := r.opts.Env.Log(c.Name + "-trace")
	log, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.stopped)
	r.stopTracing = append(r.stopTracing, cancel)
	go func() {
		defer log.Close()
		if err := delve.Trace(ctx, c.Debug.Listen, log); err != nil {
			slog.Warn("tracing stopped", "component", c.Name, "err", err)
		}
	}()
	return nil
}

// setBreakpoints sets the spec's breakpoints through Delve's API before the
// program runs, so that start-up code can be caught, then continues it
// unless the spec says to wait. A location Delve cannot resolve fails up
// with the spec position that names it.
func setBreakpoints(ctx context.Context, pr *steps.Progress, c plan.Component, sources sourcemap.Map) error {
	var bps []delve.Breakpoint
	for _, b := range c.Debug.Breakpoints {
		bps = append(bps, delve.Breakpoint{Location: b.Location, Condition: b.Condition, Trace: b.Trace})
	}
	set, err := delve.SetBreakpoints(ctx, c.Debug.Listen, sources, bps, !c.Debug.Wait, time.Minute)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	var errs *multierror.Error
	for i, s := range set {
		at := c.Debug.Breakpoints[i].Range
		if s.Err != nil {
			pr.Printf(" ✗ breakpoint %q in %s\n", s.Location, c.Name)
			errs = multierror.Append(errs, fmt.Errorf("%s:%d:%d: breakpoint %q: %v", at.Filename, at.Start.Line, at.Start.Column, s.Location, s.Err))
			continue
		}
		kind := "breakpoint"
		if s.Trace {
			kind = "tracepoint"
		}
		pr.Result(" ✓ %s %q in %s at %s:%d\n", kind, s.Location, c.Name, s.File, s.Line)
	}
	return errs.ErrorOrNil()
}

func (r *Running) setStatus(name string, status state.Status) {
	r.updateState(func(s *state.State) {
		for i := range s.Components {
			if s.Components[i].Name == name {
				s.Components[i].Status = status
			}
		}
	})
}

// slogWriter sends progress of work nobody waits for to the log.
type slogWriter struct{}

func (slogWriter) Write(p []byte) (int, error) {
	slog.Info(string(p))
	return len(p), nil
}
