package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/spec"
)

const (
	stopTimeout = 15 * time.Second
	// maxRestarts bounds the restarts after failures in a row; a run of
	// healthyRun resets the count.
	maxRestarts = 5
	healthyRun  = time.Minute
)

// unit is one component under supervision: what runs it and its current
// process.
type unit struct {
	mu   sync.Mutex
	c    plan.Component
	dlv  string
	proc *process.Process
	// children are what the process started (the program under Delve),
	// stopped with it even after Delve died.
	children []Proc
	// intended is set while kenv stops the process on purpose.
	intended bool
	failures int
}

func (r *Running) unit(name string) *unit {
	for _, u := range r.units {
		if u.c.Name == name {
			return u
		}
	}
	return nil
}

// launch starts u's process, records it, and watches it for exits.
func (r *Running) launch(u *unit) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	// Stop takes u.mu after it marks the environment stopping, so a
	// process started here is either refused or seen and stopped by it.
	if r.stopping() {
		return fmt.Errorf("start %s: the environment is stopping", u.c.Name)
	}
	argv := u.c.Command(u.dlv)
	p, err := process.Start(process.Spec{Name: u.c.Name, Argv: argv, Env: u.c.Env, LogPath: u.c.LogPath})
	if err != nil {
		return err
	}
	u.proc, u.children, u.intended = p, nil, false
	cs := ComponentState{Name: u.c.Name, Status: "starting", Process: procOf(p.Pid()), Address: u.c.Address,
		LogPath: u.c.LogPath, Command: argv, Env: u.c.Env, Started: time.Now()}
	if u.c.Debug != nil {
		cs.DebugAddress, cs.Dlv = u.c.Debug.Listen, u.dlv
	}
	r.updateState(func(s *State) {
		for i := range s.Components {
			if s.Components[i].Name == cs.Name {
				s.Components[i] = cs
				return
			}
		}
		s.Components = append(s.Components, cs)
	})
	go r.watch(u, p)
	return nil
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
		u.children = append(u.children, procOf(pid))
	}
	children := u.children
	r.updateState(func(s *State) {
		for i := range s.Components {
			if s.Components[i].Name == u.c.Name {
				s.Components[i].Descendants = children
			}
		}
	})
}

// watch records how p ended and, when the spec asks for it, restarts a
// component that failed, with a growing back-off.
func (r *Running) watch(u *unit, p *process.Process) {
	start := time.Now()
	<-p.Done()
	u.mu.Lock()
	if u.intended || u.proc != p {
		u.mu.Unlock()
		return
	}
	exit := p.ExitError()
	children := u.children
	if time.Since(start) > healthyRun {
		u.failures = 0
	}
	u.failures++
	failures := u.failures
	u.mu.Unlock()

	slog.Warn("component exited", "component", u.c.Name, "err", exit, "log", u.c.LogPath)
	r.setStatus(u.c.Name, p.Exit())
	// A program Delve ran outlives a killed Delve.
	if err := stopProcs(r.plan.Name, children); err != nil {
		slog.Warn("stop what the component left", "component", u.c.Name, "err", err)
	}
	if !u.c.RestartOnFailure || failures > maxRestarts || r.stopping() {
		return
	}
	backoff := time.Second << (failures - 1)
	r.setStatus(u.c.Name, fmt.Sprintf("restarting in %s (%s)", backoff, exit))
	time.Sleep(backoff)
	if r.stopping() {
		return
	}
	if err := r.Restart(context.Background(), u.c.Name, nil, &progress{out: slogWriter{}}); err != nil {
		slog.Warn("restart after failure", "component", u.c.Name, "err", err)
	}
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
	err := p.Stop(stopTimeout)
	if leftErr := stopProcs(r.plan.Name, children); err == nil {
		err = leftErr
	}
	return err
}

// StopComponent stops one component; the others keep running.
func (r *Running) StopComponent(name string) error {
	u := r.unit(name)
	if u == nil {
		return fmt.Errorf("no component %q runs here", name)
	}
	if err := r.stopUnit(u); err != nil {
		return err
	}
	r.setStatus(name, "stopped")
	return nil
}

// Restart stops a component if it runs and starts it again with the same
// computed flags, after rebuilding its binary if its source changed. debug,
// when not nil, switches Delve on or off.
func (r *Running) Restart(ctx context.Context, name string, debug *bool, pr *progress) error {
	u := r.unit(name)
	if u == nil {
		return fmt.Errorf("no component %q runs here", name)
	}
	r.restartMu.Lock()
	defer r.restartMu.Unlock()
	if err := r.build(ctx, pr, r.tree, []string{name}); err != nil {
		return err
	}
	// A checkout's edit may bring in other modules.
	if err := r.mapSources(ctx); err != nil {
		return err
	}
	r.updateState(func(s *State) { s.SourceMap = r.sources })
	if debug != nil {
		if err := r.switchDebug(ctx, pr, u, *debug); err != nil {
			return err
		}
	}
	if err := r.stopUnit(u); err != nil {
		return err
	}
	if err := r.checkFree(u.c); err != nil {
		return err
	}
	if err := r.launch(u); err != nil {
		return err
	}
	if err := r.armDebugger(ctx, pr, u.c); err != nil {
		return err
	}
	if err := r.waitReady(ctx, pr, []plan.Component{u.c}); err != nil {
		return err
	}
	r.recordChildren(u)
	return nil
}

func (r *Running) switchDebug(ctx context.Context, pr *progress, u *unit, on bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case !on:
		u.c.Debug = nil
	case u.c.Debug == nil:
		dlv, version, err := delve.Resolve(ctx, r.opts.Cache, lock.DelvePin(r.opts.Lock, u.c.Name, ""), r.tree.GoVersion, slogWriter{})
		if err != nil {
			return err
		}
		pr.printf("   dlv %s: %s\n", version, dlv)
		listen := net.JoinHostPort(plan.Loopback, strconv.Itoa(spec.DefaultDebugPort(u.c.Name)))
		u.c.Debug, u.dlv = &plan.Debug{Listen: listen}, dlv
	}
	return nil
}

// checkFree fails when c's ports are still taken, for instance by a
// program that outlived its killed Delve and was not recorded.
func (r *Running) checkFree(c plan.Component) error {
	addrs := []string{c.Address}
	if c.Debug != nil {
		addrs = append(addrs, c.Debug.Listen)
	}
	for _, addr := range addrs {
		var l net.Listener
		var err error
		for range 50 {
			if l, err = net.Listen("tcp", addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("start %s: %s is still in use: %w", c.Name, addr, err)
		}
		l.Close()
	}
	return nil
}

func (r *Running) stopping() bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.state.Phase == Stopping
}

// slogWriter sends progress of work nobody waits for to the log.
type slogWriter struct{}

func (slogWriter) Write(p []byte) (int, error) {
	slog.Info(string(p))
	return len(p), nil
}
