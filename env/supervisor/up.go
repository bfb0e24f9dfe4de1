// Package supervisor brings an environment up, keeps it running, and takes
// it down: it carries out the plan env/plan decided, step by step.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/renameio/v2"
	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/errgroup"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/etcd"
	"github.com/kenv-dev/kenv/env/host"
	"github.com/kenv-dev/kenv/env/kwok"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/ns"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/snapshot"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/sourcemap"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/steps"
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
	// Restore is a snapshot file whose etcd data replaces the
	// environment's (kept until it is ready); RestoreAnyVersion restores
	// it when it was taken of other versions.
	Restore           string
	RestoreAnyVersion bool
	// Place is where the components run; this machine when nil.
	Place process.Place
}

// Running is an environment that is up. Supervise keeps it running; Stop
// takes it down.
type Running struct {
	opts  Options
	place process.Place
	// forwards are the Delve addresses of this machine forwarded into a
	// node, to the node.
	forwardsMu sync.Mutex
	forwards   map[string]string
	claim      *state.Claim
	// run undoes the steps of up when it fails, and on Stop.
	run *steps.Runner
	// plan is what the environment runs; a spec edit replaces it while
	// other requests read it (currentPlan).
	plan   *plan.Plan
	planMu sync.Mutex
	etcd   *etcd.Server
	// health asks the components' health URLs.
	health *http.Client
	// clusterFacts are what up read of a cluster kenv did not make, and
	// clusterRecord the cluster it swaps static pods of, as recorded.
	clusterFacts  plan.ClusterFacts
	clusterRecord *clusterRecord
	// units are the components started so far.
	units   []*unit
	unitsMu sync.Mutex
	// sources maps the file names in the binaries to the tree, the
	// toolchain and the module cache; ownSources those of the components
	// built from a source of their own (sourcesOf).
	sources    sourcemap.Map
	ownSources map[string]sourcemap.Map
	// stopTracing ends the tracers of components with tracepoints.
	stopTracing []context.CancelFunc
	// followers follow the component processes, to record how they end
	// and restart them.
	followers sync.WaitGroup
	// restartMu keeps restarts, which build, one at a time.
	restartMu sync.Mutex
	// stopped ends restart back-offs once the environment is stopping.
	stopped    context.Context
	stop       context.CancelFunc
	state      *state.State
	stateMu    sync.Mutex
	readyAfter time.Duration
	// apiReady is when kube-apiserver became ready, in Unix nanoseconds;
	// 0 until it is.
	apiReady atomic.Int64
	// treeRead is when up's build started reading the tree: what was
	// saved after it, before Watch ran, is Watch's first round.
	treeRead time.Time
}

func newRunning(o Options) *Running {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 3 * time.Minute
	}
	if o.Place == nil {
		o.Place = process.Host{}
	}
	r := &Running{opts: o, place: o.Place, run: &steps.Runner{Progress: steps.NewProgress(o.Out)}}
	r.stopped, r.stop = context.WithCancel(context.Background())
	return r
}

// Up brings the environment of o.Spec up and returns once it is ready. On
// any failure it undoes what it did and says which step failed; with
// o.Retain it returns the error together with the environment as far as it
// got, still running, for the caller to supervise until `kenv down`.
func Up(ctx context.Context, o Options) (retained *Running, err error) {
	start := time.Now()
	claim, err := state.Take(o.Env)
	if errors.Is(err, state.ErrClaimed) {
		return nil, fmt.Errorf("environment %q is already up or being brought up; see `kenv status --name %s`, or `kenv down --name %s`",
			o.Spec.Name, o.Spec.Name, o.Spec.Name)
	}
	if err != nil {
		return nil, err
	}
	r := newRunning(o)
	r.claim = claim
	defer func() {
		switch {
		case err == nil:
		case o.Retain && r.state != nil:
			r.updateState(func(s *state.State) { s.Phase = state.PhaseFailed })
			retained = r
		default:
			r.Stop()
		}
	}()
	// The steps of up, in order; those in one row run side by side.
	// Building takes minutes on a cold cache: Delve and the certificates
	// are made meanwhile. Then each component starts as early as what it
	// needs allows (inStages), so that their start-ups overlap.
	// A cluster's version, which askCluster reads, is the source of a
	// spec that swaps its components: the rows after it name it.
	for _, row := range [][]steps.Step{{r.prepare()}, {r.askCluster()}} {
		if err := r.run.Run(ctx, row...); err != nil {
			return nil, err
		}
	}
	rows := [][]steps.Step{
		{r.getSource()},
		{r.check()},
		{r.build(nil), r.installDelve(), r.installKwok(), r.installDNS(), r.buildPause(), r.writeConfig()},
		{r.mapSources()},
		{r.settleLock(true)},
		{r.recordState()},
		{r.holdNodes()},
		{r.shipToNodes()},
	}
	for _, row := range rows {
		if err := r.run.Run(ctx, row...); err != nil {
			return nil, err
		}
	}
	// The components' rows follow from the plan the source step decided.
	components := r.inStages(r.plan.Components, r.startComponents, []steps.Step{r.startEtcd()}, []steps.Step{r.loadImages()})
	for _, row := range append(components, []steps.Step{r.registerNodes()}) {
		if err := r.run.Run(ctx, row...); err != nil {
			return nil, err
		}
	}
	if r.opts.Restore != "" && r.plan.Etcd.ClientURL != "" {
		if err := etcd.Commit(r.plan.Etcd.DataDir); err != nil {
			return nil, err
		}
	}
	r.readyAfter = time.Since(start)
	for _, u := range r.allUnits() {
		r.recordChildren(u)
	}
	r.updateState(func(s *state.State) { s.Phase = state.PhaseReady })
	return r, nil
}

// prepare cleans up after a supervisor that died and makes the
// environment's directories.
func (r *Running) prepare() steps.Step {
	return steps.Step{Do: func(_ context.Context, pr *steps.Progress) error {
		o := r.opts
		// What a supervisor that died started may still run.
		if stale, err := state.Read(o.Env); err == nil {
			pr.Printf(" • cleaning up after the supervisor that died (pid %d)\n", stale.Supervisor.Pid)
			if err := stopLeftovers(r.place, stale); err != nil {
				return err
			}
		} else if !errors.Is(err, state.ErrNotUp) {
			return err
		}
		for _, dir := range []string{o.Env.LogDir(), o.Env.ConfigDir(), o.Env.CertDir()} {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
		}
		return nil
	}}
}

// check fails, before anything is built or started, when the machine
// cannot run the plan: a port it takes is in use, or it runs nodes on a
// machine that lacks what a node needs, or whose networks their ranges
// would clash with.
func (r *Running) check() steps.Step {
	return steps.Step{Do: func(ctx context.Context, _ *steps.Progress) error {
		if r.plan.Cluster != nil {
			if err := checkCluster(ctx, r.plan); err != nil {
				return err
			}
		}
		if n := r.plan.Nodes; n != nil {
			if err := node.Check(); err != nil {
				return err
			}
			if err := checkNetwork(r.opts.Spec, n); err != nil {
				return err
			}
		}
		return checkPorts(r.plan)
	}}
}

// getSource gets the trees of the spec, the environment's and those of
// the components built from a source of their own, at the commits the
// lock records, checks them against the lock, and decides the plan.
func (r *Running) getSource() steps.Step {
	o := r.opts
	return steps.Step{Title: "source " + o.Spec.Kubernetes.Source(), Do: func(ctx context.Context, pr *steps.Progress) error {
		say := func(msg string) { pr.Printf("   %s\n", msg) }
		tree, err := source.Get(ctx, o.Cache, plan.Where(o.Spec, o.Lock), say)
		if err == nil && o.Lock != nil {
			err = lock.CheckSource(ctx, o.Spec, o.Lock, tree)
		}
		if err != nil {
			return fmt.Errorf("get the Kubernetes source: %w", err)
		}
		trees := map[string]*source.Tree{}
		for _, own := range plan.Owns(o.Spec, o.Lock) {
			pr.Printf("   %s from %s\n", own.Name, own.Spec.Kubernetes.Source())
			t, err := source.Get(ctx, o.Cache, own.Where, say)
			if err == nil && own.Lock != nil {
				err = lock.CheckSource(ctx, own.Spec, own.Lock, t)
			}
			if err != nil {
				return fmt.Errorf("get the source of %s: %w", own.Name, err)
			}
			trees[own.Name] = t
		}
		r.plan, err = plan.Decide(plan.Inputs{Spec: o.Spec, Lock: o.Lock, Env: o.Env, Cache: o.Cache, Tree: tree, Trees: trees,
			Machine: plan.Survey(), Cluster: r.clusterFacts})
		return err
	}}
}

// build builds the named commands that are not up to date, each in its
// tree; all the plan builds when names is nil.
func (r *Running) build(names []string) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		if names == nil {
			// What is saved in a checkout from now on, the watch loop
			// builds first (Watch).
			r.treeRead = time.Now()
		}
		for _, t := range r.plan.AllTrees() {
			req := t.Build
			if names != nil {
				req.Components = slices.DeleteFunc(slices.Clone(req.Components), func(name string) bool { return !slices.Contains(names, name) })
			}
			if len(req.Components) == 0 {
				continue
			}
			var built []string
			title := "build " + strings.Join(req.Components, ", ") + " with Go " + t.Toolchain.Go
			if t != &r.plan.Tree {
				title += " from " + t.Source.Version.GitVersion
			}
			err := r.logged(pr, title, "build", false, func(log io.Writer) (err error) {
				built, err = build.Run(ctx, req, log)
				return err
			})
			if err != nil {
				return fmt.Errorf("build: %w", err)
			}
			if len(built) == 0 {
				pr.Result("   binaries are up to date\n")
			}
		}
		return nil
	}}
}

// installDelve installs the Delve releases the plan runs that are not in
// the cache yet; a dlv on PATH the plan chose is used as it is.
func (r *Running) installDelve() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		for _, c := range r.plan.Components {
			if c.Debug == nil {
				continue
			}
			if err := r.ensureDelve(ctx, pr, c); err != nil {
				return err
			}
		}
		return nil
	}}
}

// ensureDelve installs the Delve c runs under into the cache when the
// plan says to and it is not there yet.
func (r *Running) ensureDelve(ctx context.Context, pr *steps.Progress, c plan.Component) error {
	d := c.Debug
	if _, err := os.Stat(d.Dlv); err == nil || !d.Install {
		return nil
	}
	toolchain := r.currentPlan().TreeOf(c.Name).Toolchain.Go
	title := "Delve " + d.Release + " for " + c.Name + " (Go " + toolchain + ")"
	err := r.logged(pr, title, "delve-install", true, func(log io.Writer) error {
		_, err := delve.Ensure(ctx, r.opts.Cache, d.Release, toolchain, log)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	return nil
}

// installKwok installs the kwok release the plan runs, once.
func (r *Running) installKwok() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		k := r.plan.Kwok
		if k == nil {
			return nil
		}
		if kwok.Installed(k.Dir) {
			return nil
		}
		return r.logged(pr, "kwok "+k.Module.Version, "kwok-install", false, func(log io.Writer) error {
			return kwok.Install(ctx, k.Module, k.Dir, log)
		})
	}}
}

// installDNS installs the CoreDNS release the plan runs, once, without
// optimisation so that Delve can debug it.
func (r *Running) installDNS() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		d := r.plan.DNS
		if d == nil {
			return nil
		}
		if _, err := os.Stat(filepath.Join(d.Dir, d.Module.Binary())); err == nil {
			return nil
		}
		return r.logged(pr, "CoreDNS "+d.Module.Version, "coredns-install", false, func(log io.Writer) error {
			_, err := build.Install(ctx, d.Module, d.Dir, "", true, log)
			return err
		})
	}}
}

// buildPause builds the pause image from the tree, once.
func (r *Running) buildPause() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		n := r.plan.Nodes
		if n == nil {
			return nil
		}
		if _, err := os.Stat(node.PauseTarball(n.PauseDir)); err == nil {
			return nil
		}
		return r.logged(pr, "pause image from "+n.PauseSource, "pause-build", false, func(log io.Writer) error {
			return node.BuildPause(ctx, n.PauseSource, n.PauseDir, log)
		})
	}}
}

// holdNodes records the machine's kernel settings before the kubelets
// change them, makes the environment's bridge and each node's
// directories, cgroup and namespaces, and routes the Services from this
// machine through the first node; undone by sweeping what the nodes left
// and letting go of the machine.
func (r *Running) holdNodes() steps.Step {
	return steps.Step{
		Do: func(context.Context, *steps.Progress) error {
			nodes := r.plan.Nodes
			if nodes == nil {
				return nil
			}
			if err := host.Take(nodes.Record); err != nil {
				return fmt.Errorf("record the machine before the nodes change it: %w", err)
			}
			// A supervisor that dies leaves the sweep to the next down or up.
			r.updateState(func(s *state.State) { h := nodes.Host(); s.Nodes = &h })
			if err := nodes.Bridge.Up(); err != nil {
				return fmt.Errorf("bridge %s: %w", nodes.Bridge.Name, err)
			}
			for _, n := range nodes.List {
				for _, dir := range []string{n.Root, n.State, n.KubeletRoot, n.CNIConfDir, filepath.Dir(n.KubeletLog)} {
					if err := os.MkdirAll(dir, 0o700); err != nil {
						return err
					}
				}
				if err := host.MakeCgroup(n.CgroupRoot); err != nil {
					return err
				}
				if err := ns.Make(n.NS(), nodes.Bridge); err != nil {
					return fmt.Errorf("node %s: %w", n.Name, err)
				}
			}
			services := netip.MustParsePrefix(nodes.ServiceCIDR)
			if err := nodes.Bridge.Route(services, nodes.List[0].Addr.Addr()); err != nil {
				return fmt.Errorf("route the Services through node %s: %w", nodes.List[0].Name, err)
			}
			return nil
		},
		Undo: func() error {
			if n := r.currentPlan().Nodes; n != nil {
				return host.Sweep(n.Host())
			}
			return nil
		},
	}
}

// loadImages imports the pause image, pinned, and the spec's images into
// each node's containerd; undone by removing the pods, while containerd
// still runs, so that it takes their networks down.
func (r *Running) loadImages() steps.Step {
	return steps.Step{
		Do: func(ctx context.Context, pr *steps.Progress) error {
			nodes := r.plan.Nodes
			if nodes == nil {
				return nil
			}
			title := fmt.Sprintf("images: pause and %d from the spec into containerd", len(nodes.List[0].Images))
			if len(nodes.List) > 1 {
				title += fmt.Sprintf(" of %d nodes", len(nodes.List))
			}
			// Each node imports the same files: the first one's notes
			// are said once.
			var platformed []string
			err := r.logged(pr, title, "images", false, func(log io.Writer) error {
				var g errgroup.Group
				for i, n := range nodes.List {
					g.Go(func() error {
						if _, err := node.Import(ctx, n.Socket, node.PauseTarball(nodes.PauseDir), []string{node.PauseImage}, log); err != nil {
							return fmt.Errorf("node %s: %w", n.Name, err)
						}
						for _, img := range n.Images {
							refs, err := node.Import(ctx, n.Socket, img, nil, log)
							if err != nil {
								return fmt.Errorf("node %s: %w", n.Name, err)
							}
							if i == 0 {
								platformed = append(platformed, refs...)
							}
						}
						return nil
					})
				}
				return g.Wait()
			})
			for _, ref := range platformed {
				pr.Printf(" ! %s\n", node.PlatformNote(ref))
			}
			return err
		},
		Undo: func() error {
			nodes := r.currentPlan().Nodes
			if nodes == nil {
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var errs *multierror.Error
			for _, n := range nodes.List {
				if node.Ready(ctx, n.Socket) != nil {
					continue // not running: the sweep takes what it left
				}
				errs = multierror.Append(errs, node.RemovePods(ctx, n.Socket))
			}
			return errs.ErrorOrNil()
		},
	}
}

// logged runs work under the progress line title, its output going to the
// environment's log called name, anew or appended to; a failure carries
// the log's last lines.
func (r *Running) logged(pr *steps.Progress, title, name string, appendTo bool, work func(log io.Writer) error) error {
	path := r.opts.Env.Log(name)
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	log, err := os.OpenFile(path, flag, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	done := pr.Step(title)
	err = work(log)
	done(err)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tailLines(path, 20))
	}
	return nil
}

// registerNodes waits until the real nodes are Ready, labels them and
// routes each node's pods from the others and from this machine; and
// registers the simulated nodes the plan names and waits until kwok has
// made them Ready.
func (r *Running) registerNodes() steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		if nodes := r.plan.Nodes; nodes != nil {
			var names []string
			for _, n := range nodes.List {
				names = append(names, n.Name)
			}
			title := "node " + names[0] + " Ready"
			if len(names) > 1 {
				title = fmt.Sprintf("%d nodes Ready: %s", len(names), strings.Join(names, ", "))
			}
			done := pr.Step(title)
			err := r.joinNodes(ctx, nodes)
			done(err)
			if err != nil {
				return err
			}
		}
		if d := r.plan.DNS; d != nil {
			done := pr.Step("cluster DNS: kube-dns at " + d.ServiceIP + ", CoreDNS on " + d.Address)
			err := node.ServeDNS(ctx, d.Kubeconfig, d.ServiceIP, d.Address)
			done(err)
			if err != nil {
				return fmt.Errorf("cluster DNS: %w", err)
			}
		}
		if k := r.plan.Kwok; k != nil {
			done := pr.Step(fmt.Sprintf("%d simulated nodes Ready", len(k.Nodes)))
			err := kwok.Register(ctx, k.Kubeconfig, k.Nodes)
			done(err)
			if err != nil {
				return fmt.Errorf("register the simulated nodes: %w", err)
			}
		}
		return nil
	}}
}

// joinNodes waits until the nodes are Ready and labelled, then routes each
// node's pod range, which the controller-manager gave it, through the
// node's address: in every other node, and on this machine.
func (r *Running) joinNodes(ctx context.Context, nodes *plan.Nodes) error {
	var labels []node.Registration
	for _, n := range nodes.List {
		labels = append(labels, node.Registration{Name: n.Name, Labels: n.Labels})
	}
	ranges, err := node.Register(ctx, nodes.Kubeconfig, labels)
	if err != nil {
		var msg strings.Builder
		for _, n := range nodes.List {
			fmt.Fprintf(&msg, "\nlast lines of %s:\n%s", n.KubeletLog, tailLines(n.KubeletLog, 10))
		}
		return fmt.Errorf("%w%s", err, msg.String())
	}
	for _, n := range nodes.List {
		pods, err := netip.ParsePrefix(ranges[n.Name])
		if err != nil {
			return fmt.Errorf("node %s has no pod range (%q): is the controller-manager running?", n.Name, ranges[n.Name])
		}
		if err := nodes.Bridge.Route(pods, n.Addr.Addr()); err != nil {
			return fmt.Errorf("route node %s's pods: %w", n.Name, err)
		}
		for _, other := range nodes.List {
			if other != n {
				if err := other.NS().Route(pods, n.Addr.Addr()); err != nil {
					return fmt.Errorf("route node %s's pods from node %s: %w", n.Name, other.Name, err)
				}
			}
		}
	}
	return nil
}

// writeConfig makes the certificates, kubeconfigs and configuration files,
// and the client that asks the components whether they are ready.
func (r *Running) writeConfig() steps.Step {
	env := r.opts.Env
	if r.opts.Spec.Cluster != nil {
		// The cluster's own; askCluster made the health client.
		return steps.Step{Do: func(context.Context, *steps.Progress) error { return nil }}
	}
	return steps.Step{Title: "certificates and kubeconfigs in " + env.CertDir(), Do: func(_ context.Context, pr *steps.Progress) error {
		report, err := pki.Ensure(env.CertDir(), r.plan.Certificates)
		if err == nil {
			err = r.writeKubeconfigs()
		}
		for _, f := range r.plan.Files {
			if err == nil {
				err = os.MkdirAll(filepath.Dir(f.Path), 0o700)
			}
			if err == nil {
				err = renameio.WriteFile(f.Path, []byte(f.Content), 0o600)
			}
		}
		if err == nil {
			r.health, err = access.HealthClient(env.CertDir())
		}
		if err != nil {
			return fmt.Errorf("write certificates and configuration: %w", err)
		}
		if len(report.Generated) > 0 && len(report.Reused) > 0 {
			pr.Printf("   made anew: %s\n", strings.Join(report.Generated, ", "))
		}
		return nil
	}}
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

// mapSources maps the file names in the binaries built to the files on
// this machine, for kenv's own breakpoints, and writes the map for Delve's
// terminal client.
func (r *Running) mapSources() steps.Step {
	return steps.Step{Do: func(ctx context.Context, _ *steps.Progress) error {
		p := r.currentPlan()
		own := map[string]sourcemap.Map{}
		for _, t := range p.AllTrees() {
			m, err := mapTree(ctx, t)
			if err != nil {
				return err
			}
			init := r.opts.Env.DelveInit()
			if t != &p.Tree {
				name := t.Build.Components[0]
				own[name], init = m, r.opts.Env.DelveInitOf(name)
			} else {
				r.sources = m
			}
			if err := renameio.WriteFile(init, []byte(m.InitScript()), 0o600); err != nil {
				return err
			}
		}
		r.ownSources = own
		return nil
	}}
}

// mapTree maps the file names in the binaries built from t.
func mapTree(ctx context.Context, t *plan.Tree) (sourcemap.Map, error) {
	req := t.Build
	goroot, modcache, err := build.Toolchain(ctx, req)
	if err != nil {
		return nil, err
	}
	in := sourcemap.Inputs{Workspace: t.Source.Dir, GOROOT: goroot, GOMODCACHE: modcache}
	for _, name := range req.Components {
		in.Binaries = append(in.Binaries, filepath.Join(req.OutDir, name))
	}
	m, err := sourcemap.For(in)
	if err != nil {
		return nil, fmt.Errorf("map the binaries' source files: %w", err)
	}
	return m, nil
}

// sourcesOf maps the file names in the component name's binary.
func (r *Running) sourcesOf(name string) sourcemap.Map {
	if m, ok := r.ownSources[plan.KindName(name)]; ok {
		return m
	}
	return r.sources
}

// recordState writes the state file other kenv commands find the
// environment by; undone by removing it, unless a process of the
// environment would not stop: `kenv down` finds it there.
func (r *Running) recordState() steps.Step {
	return steps.Step{
		Do: func(context.Context, *steps.Progress) error {
			p := r.plan
			r.state = &state.State{
				Name:         r.opts.Spec.Name,
				Spec:         r.opts.Spec.File,
				Phase:        state.PhaseStarting,
				Started:      time.Now(),
				Supervisor:   process.IDOf(os.Getpid()),
				APIServerURL: p.APIServerURL,
				Kubeconfig:   r.kubeconfig(),
				SourceDir:    p.Source.Dir,
				SourceMap:    r.sources,
				Kubectl:      filepath.Join(p.BinDir, "kubectl"),
				Etcd:         state.EtcdState{ClientURL: p.Etcd.ClientURL, LogPath: p.Etcd.LogPath},
				Versions:     p.Versions(),
			}
			return r.saveState()
		},
		Undo: func() error {
			if r.leftRunning() {
				return nil
			}
			r.stateMu.Lock()
			r.state = nil // nothing writes it again
			r.stateMu.Unlock()
			if err := os.Remove(r.opts.Env.StateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		},
	}
}

// startEtcd starts the embedded etcd, on the data of the snapshot
// Options.Restore names when it names one; undone by closing it, and by
// putting back the data a restore replaced.
func (r *Running) startEtcd() steps.Step {
	restored := false
	return steps.Step{
		Do: func(ctx context.Context, pr *steps.Progress) (err error) {
			p := r.plan.Etcd
			if p.ClientURL == "" {
				return nil // the cluster's own
			}
			// A restore that did not finish (kenv killed) leaves the data
			// as it was before it.
			if back, err := etcd.Rollback(p.DataDir); err != nil {
				return fmt.Errorf("put back the etcd data a restore that did not finish replaced: %w", err)
			} else if back {
				pr.Printf(" • a snapshot restore did not finish: etcd's data in %s is as it was before it\n", p.DataDir)
			}
			if r.opts.Restore != "" {
				done := pr.Step("etcd's data from " + r.opts.Restore + ", the data it replaces kept until ready")
				err := r.restore(p)
				done(err)
				if err != nil {
					return err
				}
				restored = true
			}
			done := pr.Step("etcd on " + p.ClientURL)
			r.etcd, err = etcd.Start(ctx, etcd.Config{ClientURL: p.ClientURL, PeerURL: p.PeerURL, DataDir: p.DataDir, LogPath: p.LogPath})
			done(err)
			return err
		},
		Undo: func() error {
			if r.etcd != nil {
				r.etcd.Close()
			}
			if restored {
				_, err := etcd.Rollback(r.plan.Etcd.DataDir)
				return err
			}
			return nil
		},
	}
}

// restore replaces etcd's data by the snapshot Options.Restore names,
// unless it was taken of other versions and Options.RestoreAnyVersion is
// not set; up commits it once the environment is ready.
func (r *Running) restore(p plan.Etcd) error {
	db := filepath.Join(r.opts.Env.Dir, "restoring.db")
	defer os.Remove(db)
	m, err := snapshot.Read(r.opts.Restore, db)
	if err != nil {
		return err
	}
	if err := snapshot.Check(m, r.plan.Versions()); err != nil && !r.opts.RestoreAnyVersion {
		return err
	}
	return etcd.Restore(db, p.DataDir, p.PeerURL)
}

// startComponents starts cs, records them in the state file and sets the
// breakpoints the spec names for them; undone by stopping them.
func (r *Running) startComponents(cs []plan.Component) steps.Step {
	var started []*unit
	return steps.Step{
		Do: func(ctx context.Context, pr *steps.Progress) error {
			for _, c := range cs {
				u := newUnit(c)
				r.addUnit(u)
				started = append(started, u)
				if err := r.launch(u, c); err != nil {
					return err
				}
			}
			for _, u := range started {
				if err := r.armDebugger(ctx, pr, u.component()); err != nil {
					return err
				}
			}
			return nil
		},
		// The components of a stage stop side by side, as they started.
		Undo: func() error {
			var (
				mu   sync.Mutex
				errs *multierror.Error
				wg   sync.WaitGroup
			)
			for _, u := range started {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := r.stopUnit(u)
					mu.Lock()
					errs = multierror.Append(errs, err)
					mu.Unlock()
				}()
			}
			wg.Wait()
			return errs.ErrorOrNil()
		},
	}
}

// checkPorts fails when a port the plan takes is in use, before anything
// starts.
func checkPorts(p *plan.Plan) error {
	var errs *multierror.Error
	for _, port := range p.Ports() {
		l, err := net.Listen("tcp", port.Address)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			// An address up makes (the nodes' bridge): the port must be
			// free on every address.
			_, number, _ := net.SplitHostPort(port.Address)
			l, err = net.Listen("tcp", ":"+number)
		}
		if err != nil {
			holder := ""
			_, number, _ := net.SplitHostPort(port.Address)
			if n, err := strconv.Atoi(number); err == nil {
				if h := process.PortHolder(n); h != "" {
					holder = " by " + h
				}
			}
			errs = multierror.Append(errs, fmt.Errorf("port %s is in use%s, and %s needs it; stop what holds it (another environment: `kenv down`), or set %s in %s",
				number, holder, port.Of, port.SetBy, p.SpecFile()))
			continue
		}
		l.Close()
	}
	return errs.ErrorOrNil()
}

// currentPlan is the plan the environment runs now.
func (r *Running) currentPlan() *plan.Plan {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	return r.plan
}

func (r *Running) saveState() error {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return state.Write(r.opts.Env, r.state)
}

// updateState changes the state and writes it; a failed write is logged,
// not fatal: the processes run either way.
func (r *Running) updateState(change func(*state.State)) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	if r.state == nil {
		return
	}
	change(r.state)
	if err := state.Write(r.opts.Env, r.state); err != nil {
		fmt.Fprintf(os.Stderr, "kenv: write state: %v\n", err)
	}
}

// Stop undoes what up did: it stops the components, then etcd, removes the
// state file and gives the environment's claim up. It keeps etcd's data
// and the certificates. The state file stays when a process would not
// stop, for `kenv down` to try again.
func (r *Running) Stop() error {
	r.updateState(func(s *state.State) { s.Phase = state.PhaseStopping })
	r.stop()
	for _, cancel := range r.stopTracing {
		cancel()
	}
	err := r.run.Rollback()
	if err == nil {
		// Every process has ended: the followers are done, or in a
		// back-off Stop ended. One that would not stop leaves its
		// follower waiting.
		r.followers.Wait()
	}
	if r.claim != nil {
		r.claim.Release()
	}
	return err
}

// checkNetwork refuses nodes whose bridge or ranges this machine has
// already: another environment's nodes, or a network of its own.
func checkNetwork(s *spec.Spec, nodes *plan.Nodes) error {
	if _, err := net.InterfaceByName(nodes.Bridge.Name); err == nil {
		return fmt.Errorf("%s: this machine has the bridge %s of an environment called %q already: one of that name runs nodes (from another KENV_HOME?), or its nodes were left behind; `kenv down --name %s` there, or set name = \"...\" here",
			s.Range("name"), nodes.Bridge.Name, s.Name, s.Name)
	}
	var errs *multierror.Error
	for _, r := range []struct{ attr, what, cidr string }{
		{"node_cidr", "nodes'", s.Network.NodeCIDR},
		{"pod_cidr", "pods'", s.Network.PodCIDR},
		{"service_cidr", "Services'", s.Network.ServiceCIDR},
	} {
		clash, err := host.Clash(netip.MustParsePrefix(r.cidr), nodes.Bridge.Name)
		if err != nil {
			return err
		}
		if clash != "" {
			errs = multierror.Append(errs, fmt.Errorf("%s: the %s range %s overlaps %s (another environment's nodes, or a network of this machine's); set network { %s = \"...\" } to a range of its own",
				s.Range("network."+r.attr), r.what, r.cidr, clash, r.attr))
		}
	}
	return errs.ErrorOrNil()
}
