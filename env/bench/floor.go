package bench

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/etcd"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/state"
)

// poll is how often the floor asks whether a component is ready.
const poll = 50 * time.Millisecond

// readyWithin bounds a start by hand.
const readyWithin = 3 * time.Minute

// handRun is what starting a plan's components by hand took: until all
// were ready, and from SIGTERM until no process and no port was left,
// etcd closed after the components, as kenv down does.
type handRun struct{ ready, stop float64 }

// byHand starts the components of p as a person would who knows their
// flags: etcd already up, every component started at the same moment,
// the debugged ones under `dlv exec --headless --continue`, a component
// that exits started again at once, readiness asked every 50 ms.
func (b *bench) byHand(ctx context.Context, p *plan.Plan) (handRun, error) {
	h, err := b.startEtcdByHand(ctx, p)
	if err != nil {
		return handRun{}, err
	}
	began := time.Now()
	err = h.start(ctx, p.Components)
	ready := time.Since(began).Seconds()
	_ = idle(ctx) // as before kenv down
	stop := h.close()
	if err != nil {
		return handRun{}, err
	}
	return handRun{ready: ready, stop: stop}, nil
}

// hand is an environment run by hand: etcd, and the processes started.
type hand struct {
	p      *plan.Plan
	env    layout.Env
	etcd   *etcd.Server
	client *http.Client
	mu     sync.Mutex
	procs  map[string]*process.Process
	// place is where the floor's processes run: where kenv runs its own.
	place process.Place
}

// startEtcdByHand starts p's etcd, for p's components to be started by
// hand.
func (b *bench) startEtcdByHand(ctx context.Context, p *plan.Plan) (*hand, error) {
	env := layout.NewEnv(b.home, b.o.Spec.Name)
	client, err := access.HealthClient(env.CertDir())
	if err != nil {
		return nil, err
	}
	srv, err := etcd.Start(ctx, etcd.Config{ClientURL: p.Etcd.ClientURL, PeerURL: p.Etcd.PeerURL, DataDir: p.Etcd.DataDir, LogPath: p.Etcd.LogPath})
	if err != nil {
		return nil, fmt.Errorf("the floor's etcd: %w", err)
	}
	return &hand{p: p, env: env, etcd: srv, client: client, procs: map[string]*process.Process{}, place: process.Host{}}, nil
}

// start starts cs at the same moment, each again at once when it exits,
// and returns once all are ready.
func (h *hand) start(ctx context.Context, cs []plan.Component) error {
	ctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			proc, err := h.startOne(c)
			for err == nil {
				switch {
				case proc.Exit() != "":
					proc, err = h.startOne(c)
					continue
				case access.Healthy(ctx, h.client, c.HealthURL) == nil:
					return
				}
				select {
				case <-ctx.Done():
					err = fmt.Errorf("%s started by hand is not ready: %w (see %s)", c.Name, ctx.Err(), proc.LogPath)
				case <-time.After(poll):
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return multierror.Append(nil, errs...).ErrorOrNil()
}

func (h *hand) startOne(c plan.Component) (*process.Process, error) {
	p, err := h.place.Start(process.Spec{Name: c.Name, Argv: c.CommandContinuing(), Env: c.Env, LogPath: h.env.Log("floor-" + c.Name)})
	if err == nil {
		h.mu.Lock()
		h.procs[c.Name] = p
		h.mu.Unlock()
	}
	return p, err
}

// stop stops the named processes side by side.
func (h *hand) stop(names []string) {
	var wg sync.WaitGroup
	h.mu.Lock()
	for _, name := range names {
		if p := h.procs[name]; p != nil {
			wg.Go(func() { _ = p.Stop(15 * time.Second) })
		}
	}
	h.mu.Unlock()
	wg.Wait()
}

// close stops every process, then etcd, and returns how long it took
// until no port was left.
func (h *hand) close() float64 {
	began := time.Now()
	h.mu.Lock()
	names := slices.Collect(maps.Keys(h.procs))
	h.mu.Unlock()
	h.stop(names)
	h.etcd.Close()
	_ = waitFree(context.Background(), addresses(h.p))
	return time.Since(began).Seconds()
}

// addresses are the ports p's processes and etcd listen on.
func addresses(p *plan.Plan) []string {
	var addrs []string
	for _, port := range p.Ports() {
		addrs = append(addrs, port.Address)
	}
	return addrs
}

// waitFree waits until nothing listens on addrs.
func waitFree(ctx context.Context, addrs []string) error {
	for _, addr := range addrs {
		if err := process.WaitFree(ctx, 30*time.Second, addr); err != nil {
			return err
		}
	}
	return nil
}

// down takes the environment under home down with `kenv down` and returns
// how long it took until none of its processes and none of its ports was
// left.
func (b *bench) down(ctx context.Context, home string) (float64, error) {
	st, err := readState(home, b.o.Spec.Name)
	if err != nil {
		return 0, err
	}
	ids := []process.ID{st.Supervisor}
	for _, c := range st.Components {
		ids = append(append(ids, c.Process), c.Descendants...)
	}
	began := time.Now()
	if _, err := b.kenv(ctx, home, nil, "down", "--name", b.o.Spec.Name); err != nil {
		return 0, err
	}
	gone := process.WaitFor(ctx, 30*time.Second, func() bool {
		for _, id := range ids {
			if id.Alive() {
				return false
			}
		}
		return true
	})
	if !gone {
		return 0, fmt.Errorf("kenv down returned, but processes of %s still run 30 s later", b.o.Spec.Name)
	}
	if err := waitFree(ctx, addresses(b.debugOrPlain())); err != nil {
		return 0, fmt.Errorf("after kenv down: %w", err)
	}
	return time.Since(began).Seconds(), nil
}

// debugOrPlain is a plan whose ports are the environment's: the debugged
// one, which names the Delve ports too, once decided.
func (b *bench) debugOrPlain() *plan.Plan {
	if b.debugged != nil {
		return b.debugged
	}
	return &plan.Plan{}
}

func readState(home, name string) (*state.State, error) {
	return state.Read(layout.NewEnv(home, name))
}

// residentMB is the resident memory of process pid in MB.
func residentMB(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// cold measures a cold up, with an empty binary cache and an empty Go
// build cache (the module cache and the source tree warm), against one
// plain go build of the same packages with the same flags from an empty Go
// build cache.
func (b *bench) cold(ctx context.Context) (floor, kenv float64, err error) {
	dir, err := os.MkdirTemp(b.home, "cold-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	b.progress("cold: go build from an empty Go build cache")
	req := b.debugged.Build
	req.OutDir = filepath.Join(dir, "bin")
	began := time.Now()
	for _, one := range build.Split(req) {
		argv, env := build.Command(one)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = one.Tree.Dir
		cmd.Env = append(append(os.Environ(), env...), "GOCACHE="+filepath.Join(dir, "gocache-floor"))
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, 0, fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	floor = time.Since(began).Seconds()
	os.RemoveAll(filepath.Join(dir, "gocache-floor"))

	b.progress("cold: kenv up from an empty binary cache and Go build cache")
	// A cache of its own with the source tree and Delve of kenv's, hard
	// linked: go resolves a workspace by its real path, which a symbolic
	// link would change. A checkout outside the cache is used where it is.
	cache := filepath.Join(dir, "cache")
	shared := []string{"dlv"}
	if rel, err := filepath.Rel(b.o.Cache.Dir, req.Tree.Dir); err == nil && filepath.IsLocal(rel) {
		shared = append(shared, rel)
	}
	for _, rel := range shared {
		if err := linkTree(filepath.Join(b.o.Cache.Dir, rel), filepath.Join(cache, rel)); err != nil {
			return 0, 0, err
		}
	}
	home := filepath.Join(dir, "home")
	env := []string{"KENV_CACHE=" + cache, "GOCACHE=" + filepath.Join(dir, "gocache-kenv")}
	if kenv, err = b.kenv(ctx, home, env, "up", "-d", b.o.Spec.File); err != nil {
		return 0, 0, err
	}
	_, err = b.kenv(ctx, home, env, "down", "--name", b.o.Spec.Name)
	return floor, kenv, err
}

// linkTree makes the tree at to of hard links to the files of the tree at
// from, which stays as it is.
func linkTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			return os.Link(path, target)
		}
	})
}
