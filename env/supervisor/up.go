// Package supervisor brings an environment up, keeps it running, reports on
// it and takes it down.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/etcd"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/sourcemap"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// Options configure Up.
type Options struct {
	Spec  *spec.Spec
	Env   layout.Env
	Cache layout.Cache
	// Out receives progress lines and the summary.
	Out io.Writer
	// ReadyTimeout bounds the wait for the components to become ready.
	ReadyTimeout time.Duration
	// Retain keeps what started running when up fails, for inspection.
	Retain bool
	// Lock is the spec's lock to build from and check the binaries
	// against; nil when there is none or it is being written anew.
	Lock *lock.Lock
	// WriteLock writes the spec's lock once the binaries are built.
	WriteLock bool
}

// Running is an environment that is up. Supervise keeps it running; Stop
// takes it down.
type Running struct {
	opts  Options
	lock  *envLock
	plan  *plan.Plan
	tree  *source.Tree
	etcd  *etcd.Server
	units []*unit
	// binDir holds the binaries built from tree.
	binDir string
	// sources maps the file names in the binaries to the tree, the
	// toolchain and the module cache.
	sources sourcemap.Map
	// stopTracing ends the tracers of components with tracepoints.
	stopTracing []context.CancelFunc
	// restartMu keeps restarts, which build, one at a time.
	restartMu  sync.Mutex
	state      *State
	stateMu    sync.Mutex
	readyAfter time.Duration
}

// Up brings the environment of o.Spec up and returns once it is ready. On
// any failure it stops what it started and says which step failed; with
// o.Retain it returns the error together with the environment as far as it
// got, still running, for the caller to supervise until `kenv down`.
func Up(ctx context.Context, o Options) (retained *Running, err error) {
	start := time.Now()
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 3 * time.Minute
	}
	pr := &progress{out: o.Out}
	l, err := acquire(o.Env)
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("environment %q is already up or being brought up; see `kenv status --name %s`, or `kenv down --name %s`",
			o.Spec.Name, o.Spec.Name, o.Spec.Name)
	}
	if err != nil {
		return nil, err
	}
	r := &Running{opts: o, lock: l}
	defer func() {
		switch {
		case err == nil:
		case o.Retain && r.state != nil:
			r.updateState(func(s *State) { s.Phase = Failed })
			retained = r
		default:
			r.Stop()
		}
	}()
	// State left by a supervisor that died: what it started may still run.
	if stale, err := ReadState(o.Env); err == nil {
		pr.printf(" • cleaning up after the supervisor that died (pid %d)\n", stale.Supervisor.Pid)
		if err := stopLeftovers(stale); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, ErrNotUp) {
		return nil, err
	}
	for _, dir := range []string{o.Env.LogDir(), o.Env.ConfigDir(), o.Env.CertDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := checkPorts(o.Spec); err != nil {
		return nil, err
	}

	tree, err := getSource(ctx, o, pr)
	if err != nil {
		return nil, err
	}
	r.tree = tree
	r.binDir = binDir(o, tree)
	r.plan, err = plan.New(o.Spec, o.Env, r.binDir)
	if err != nil {
		return nil, err
	}

	// Building takes minutes on a cold cache; Delve and the certificates
	// are made meanwhile.
	var dlvs, releases map[string]string
	err = parallel(ctx,
		func(ctx context.Context) error { return r.build(ctx, pr, tree, nil) },
		func(ctx context.Context) (err error) { dlvs, releases, err = r.installDelve(ctx, pr, tree); return err },
		func(context.Context) error { return r.writeConfig(pr) },
	)
	if err != nil {
		return nil, err
	}
	if err := r.mapSources(ctx); err != nil {
		return nil, err
	}
	// The environment runs either way; a lock that cannot be written is
	// reported, and written by the next up.
	if err := r.settleLock(ctx, pr, releases); err != nil && o.Lock == nil {
		pr.printf(" ! %v\n", err)
	} else if err != nil {
		return nil, err
	}

	r.state = &State{
		Name:         o.Spec.Name,
		Spec:         o.Spec.File,
		Phase:        Starting,
		Started:      time.Now(),
		Supervisor:   procOf(os.Getpid()),
		APIServerURL: r.plan.APIServerURL,
		Kubeconfig:   o.Env.Kubeconfig("admin"),
		SourceDir:    tree.Dir,
		SourceMap:    r.sources,
		Kubectl:      filepath.Join(r.binDir, "kubectl"),
		Etcd:         EtcdState{ClientURL: r.plan.Etcd.ClientURL, LogPath: r.plan.Etcd.LogPath},
	}
	if err := r.saveState(); err != nil {
		return nil, err
	}

	done := pr.step("etcd on " + r.plan.Etcd.ClientURL)
	r.etcd, err = etcd.Start(ctx, etcd.Config{
		ClientURL: r.plan.Etcd.ClientURL,
		PeerURL:   r.plan.Etcd.PeerURL,
		DataDir:   r.plan.Etcd.DataDir,
		LogPath:   r.plan.Etcd.LogPath,
	})
	done(err)
	if err != nil {
		return nil, err
	}

	// kube-apiserver first: the controller-manager exits when the RBAC
	// roles it needs are not yet there. The rest start together once the
	// apiserver is ready.
	var first, rest []plan.Component
	for _, c := range r.plan.Components {
		if c.Name == spec.KubeAPIServer {
			first = append(first, c)
		} else {
			rest = append(rest, c)
		}
	}
	for _, wave := range [][]plan.Component{first, rest} {
		if err := r.start(ctx, pr, wave, dlvs); err != nil {
			return nil, err
		}
		if err := r.waitReady(ctx, pr, wave); err != nil {
			return nil, err
		}
	}
	r.readyAfter = time.Since(start)
	for _, u := range r.units {
		r.recordChildren(u)
	}
	r.updateState(func(s *State) { s.Phase = Ready })
	return r, nil
}

// start starts components, records them in the state file, and sets the
// breakpoints the spec names for them.
func (r *Running) start(ctx context.Context, pr *progress, components []plan.Component, dlvs map[string]string) error {
	for _, c := range components {
		u := &unit{c: c, dlv: dlvs[c.Name]}
		r.units = append(r.units, u)
		if err := r.launch(u); err != nil {
			return err
		}
	}
	for _, c := range components {
		if err := r.armDebugger(ctx, pr, c); err != nil {
			return err
		}
	}
	return nil
}

// armDebugger sets the breakpoints the spec names for c, if any, and
// starts resuming its tracepoints.
func (r *Running) armDebugger(ctx context.Context, pr *progress, c plan.Component) error {
	if c.Debug == nil || len(c.Debug.Breakpoints) == 0 {
		return nil
	}
	if err := setBreakpoints(ctx, pr, c, r.sources); err != nil {
		return err
	}
	if hasTracepoints(c) {
		return r.trace(c)
	}
	return nil
}

func hasTracepoints(c plan.Component) bool {
	for _, b := range c.Debug.Breakpoints {
		if b.Trace {
			return true
		}
	}
	return false
}

// trace resumes c at its tracepoints and logs their hits until Stop.
func (r *Running) trace(c plan.Component) error {
	path := r.opts.Env.Log(c.Name + "-trace")
	log, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
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
func setBreakpoints(ctx context.Context, pr *progress, c plan.Component, sources sourcemap.Map) error {
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
			pr.printf(" ✗ breakpoint %q in %s\n", s.Location, c.Name)
			errs = multierror.Append(errs, fmt.Errorf("%s:%d:%d: breakpoint %q: %v", at.Filename, at.Start.Line, at.Start.Column, s.Location, s.Err))
			continue
		}
		kind := "breakpoint"
		if s.Trace {
			kind = "tracepoint"
		}
		pr.printf(" ✓ %s %q in %s at %s:%d\n", kind, s.Location, c.Name, s.File, s.Line)
	}
	return errs.ErrorOrNil()
}

// build builds the named commands of tree that are not up to date; all the
// spec asks for when names is nil.
func (r *Running) build(ctx context.Context, pr *progress, tree *source.Tree, names []string) error {
	req := plan.Build(r.opts.Spec, tree, r.binDir)
	if names != nil {
		req.Components = names
	}
	o := r.opts
	logPath := o.Env.Log("build")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	done := pr.step("build " + strings.Join(req.Components, ", ") + " with Go " + tree.GoVersion)
	built, err := build.Run(ctx, req, log)
	done(err)
	if err != nil {
		return fmt.Errorf("build: %w\n%s", err, tailLines(logPath, 20))
	}
	if len(built) == 0 {
		pr.printf("   binaries are up to date\n")
	}
	return nil
}

// mapSources maps the file names in the binaries built to the files on
// this machine, for kenv's own breakpoints, and writes the map for Delve's
// terminal client.
func (r *Running) mapSources(ctx context.Context) error {
	req := plan.Build(r.opts.Spec, r.tree, r.binDir)
	goroot, modcache, err := build.Toolchain(ctx, req)
	if err != nil {
		return err
	}
	in := sourcemap.Inputs{Workspace: r.tree.Dir, GOROOT: goroot, GOMODCACHE: modcache}
	for _, name := range req.Components {
		in.Binaries = append(in.Binaries, filepath.Join(r.binDir, name))
	}
	sources, err := sourcemap.For(in)
	if err != nil {
		return fmt.Errorf("map the binaries' source files: %w", err)
	}
	r.sources = sources
	return os.WriteFile(r.opts.Env.DelveInit(), []byte(sources.InitScript()), 0o600)
}

// installDelve finds or installs the Delve of each debugged component and
// returns their paths and releases by component.
func (r *Running) installDelve(ctx context.Context, pr *progress, tree *source.Tree) (paths, releases map[string]string, err error) {
	logPath := r.opts.Env.Log("delve-install")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	type found struct{ path, release string }
	byPin := map[string]found{}
	paths, releases = map[string]string{}, map[string]string{}
	for _, c := range r.plan.Components {
		if c.Debug == nil {
			continue
		}
		pin := lock.DelvePin(r.opts.Lock, c.Name, c.Debug.Dlv)
		f, done := byPin[pin]
		if !done {
			step := pr.step("Delve for " + c.Name + " (Go " + tree.GoVersion + ")")
			f.path, f.release, err = delve.Resolve(ctx, r.opts.Cache, pin, tree.GoVersion, log)
			step(err)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w\n%s", c.Name, err, tailLines(logPath, 20))
			}
			pr.printf("   dlv %s: %s\n", f.release, f.path)
			byPin[pin] = f
		}
		paths[c.Name], releases[c.Name] = f.path, f.release
	}
	return paths, releases, nil
}

// writeConfig makes the certificates, kubeconfigs and configuration files.
func (r *Running) writeConfig(pr *progress) error {
	env := r.opts.Env
	done := pr.step("certificates and kubeconfigs in " + env.CertDir())
	report, err := pki.Ensure(env.CertDir(), r.plan.Certificates)
	if err == nil {
		err = r.writeKubeconfigs()
	}
	for _, f := range r.plan.Files {
		if err == nil {
			err = os.WriteFile(f.Path, []byte(f.Content), 0o644)
		}
	}
	done(err)
	if err != nil {
		return fmt.Errorf("write certificates and configuration: %w", err)
	}
	if len(report.Generated) > 0 && len(report.Reused) > 0 {
		pr.printf("   made anew: %s\n", strings.Join(report.Generated, ", "))
	}
	return nil
}

func (r *Running) writeKubeconfigs() error {
	dir := r.opts.Env.CertDir()
	caPEM, err := pki.LoadCAPEM(dir, pki.ServerCA)
	if err != nil {
		return err
	}
	for _, k := range r.plan.Kubeconfigs {
		client, err := pki.Load(dir, k.Client)
		if err != nil {
			return err
		}
		kc := pki.Kubeconfig{Name: "kenv-" + r.plan.Name, Server: k.Server, CAPEM: caPEM, Client: client}
		if err := kc.Write(k.Path); err != nil {
			return err
		}
	}
	return nil
}

// checkPorts fails when a port the spec needs is taken, before anything
// starts.
func checkPorts(s *spec.Spec) error {
	type want struct {
		host string
		port int
		attr string
	}
	wants := []want{
		{plan.Loopback, s.Etcd.Port, "etcd { port }"},
		{plan.Loopback, s.Etcd.PeerPort, "etcd { peer_port }"},
	}
	for _, c := range s.Components {
		wants = append(wants, want{s.Network.BindAddress, c.Port, fmt.Sprintf("component %q { port }", c.Name)})
		if c.Debug != nil {
			host, _, _ := net.SplitHostPort(c.Debug.Listen)
			wants = append(wants, want{host, c.Debug.Port, fmt.Sprintf("component %q { debug { port } }", c.Name)})
		}
	}
	var errs *multierror.Error
	for _, w := range wants {
		l, err := net.Listen("tcp", net.JoinHostPort(w.host, fmt.Sprint(w.port)))
		if err != nil {
			holder := ""
			if h := process.PortHolder(w.port); h != "" {
				holder = " by " + h
			}
			errs = multierror.Append(errs, fmt.Errorf("port %d is in use%s; stop what holds it (another environment: `kenv down`), or set %s in %s",
				w.port, holder, w.attr, s.File))
			continue
		}
		l.Close()
	}
	return errs.ErrorOrNil()
}

// errStepFailed cancels the steps running beside one that failed.
var errStepFailed = errors.New("a step beside it failed")

// parallel runs fns at once and returns their failures together. The first
// failure cancels the context the others run with, so that a certificate
// error does not wait for a build of minutes; the cancellations that
// causes are not failures of their own.
func parallel(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel(errStepFailed)
			}
		}()
	}
	wg.Wait()
	stopped := errors.Is(context.Cause(ctx), errStepFailed)
	var result *multierror.Error
	for _, err := range errs {
		if !stopped || !errors.Is(err, context.Canceled) {
			result = multierror.Append(result, err)
		}
	}
	return result.ErrorOrNil()
}

func (r *Running) saveState() error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return writeState(r.opts.Env, r.state)
}

// updateState changes the state and writes it; a failed write is logged,
// not fatal: the processes run either way.
func (r *Running) updateState(change func(*State)) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	change(r.state)
	if err := writeState(r.opts.Env, r.state); err != nil {
		fmt.Fprintf(os.Stderr, "kenv: write state: %v\n", err)
	}
}

// Stop stops the components, then etcd, and releases the environment. It
// keeps etcd's data and the certificates.
func (r *Running) Stop() error {
	if r.state != nil {
		r.updateState(func(s *State) { s.Phase = Stopping })
	}
	for _, cancel := range r.stopTracing {
		cancel()
	}
	var stops []func(context.Context) error
	for _, u := range r.units {
		// Stopping is not cancelled: each unit is stopped whatever another did.
		stops = append(stops, func(context.Context) error { return r.stopUnit(u) })
	}
	err := parallel(context.Background(), stops...)
	if r.etcd != nil {
		r.etcd.Close()
	}
	if r.lock != nil {
		if err == nil {
			_ = os.Remove(r.opts.Env.StateFile())
		}
		r.lock.release()
	}
	return err
}
