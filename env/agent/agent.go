// Package agent is kenv's side on a node of a cluster kenv did not make
// (kubeadm, kind, minikube): it swaps a control-plane component that the
// kubelet runs from a static pod manifest for kenv's debug build, and puts
// the manifest back afterwards; or the kubelet itself, which systemd runs
// from its unit: the unit is stopped instead, and started again (unit.go).
// kenv ships itself to the node and runs `kenv agent …` there over ssh or
// an exec prefix; this package is what those commands do.
//
// # A session
//
// Swap.Run is one session. It moves the manifest out of the kubelet's
// directory, waits until the kubelet has stopped the pod, runs the debug
// build (under Delve when the Prefix says so) with the manifest's flags,
// environment and user, and serves the session: kenv writes a line every
// few seconds on the agent's stdin. When the session is gone (end of
// input, or silence for half the Grace, which is how a closed laptop
// looks) the agent stops the build and waits up to Grace for a new
// session before it puts the manifest back.
//
// # What lives in Dir
//
// Each component has a directory of its own in Dir, so that one
// environment may swap several on a node:
//
//	Dir/<component>/agent.lock   flock held by the agent, or by a restore
//	Dir/<component>/agent.pid    the agent's pid and start time
//	Dir/<component>/record.json  the manifest is aside: where, and its sha256
//	Dir/<component>/aside/<name> the saved manifest
//	Dir/<component>/running.json the build's processes as last seen
//	Dir/logs/<component>.log     the agent's lines and the build's output
//
// The record is written and synced before the saved copy, and the copy
// before the manifest leaves; the manifest is back before the record goes.
// So whenever an agent dies, Restore finds the manifest in one place or
// the other.
//
// # Signals
//
// One agent at a time holds a component's lock. The process that wants it
// asks the holder to let go by signal: SIGUSR1 from a new session means
// hand over (stop the build, leave the manifest aside, exit); SIGTERM, from
// Restore or anyone, means restore now. SIGHUP and SIGPIPE, which the end
// of an ssh session may bring, are ignored.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// Swap is what one session of the agent does on the node.
type Swap struct {
	Component string // "kube-apiserver", "kube-controller-manager", "kube-scheduler" or "kubelet"
	// Manifest is the static pod manifest, e.g.
	// /etc/kubernetes/manifests/kube-apiserver.yaml; none for the
	// kubelet, which its systemd unit runs (KubeletUnit).
	Manifest string
	Dir      string // kenv's directory on the node for this environment (0700), e.g. /var/lib/kenv/<env>
	// Prefix is the command line up to the component's own flags: the
	// debug build alone ([binary]) or Delve running it ([dlv, exec,
	// --headless, --listen=127.0.0.1:P, ..., binary, --]). The agent
	// appends the manifest container's command[1:] and args.
	Prefix []string
	// Grace is how long the agent waits, once its session is gone, for a
	// new session to take over before it puts the manifest back.
	Grace time.Duration
}

// How long the agent waits for things outside it; tests shorten them.
var (
	// stopWait bounds the wait for the kubelet to stop the pod.
	stopWait = 2 * time.Minute
	// handOverWait bounds the wait for a previous agent to hand over.
	handOverWait = 30 * time.Second
	// stopTimeout is how long the build has between SIGTERM and SIGKILL.
	stopTimeout = 10 * time.Second
)

// Run is one session: see the package doc. session is kenv's heartbeat,
// out gets the agent's lines and the build's output (all also in the
// log). Run returns nil once it has put the manifest back after the
// session ended or ctx ended (SIGTERM and SIGINT end it too), or once it
// has handed over to a new session; an error when something failed or the
// build exited by itself.
func (s Swap) Run(ctx context.Context, session io.Reader, out io.Writer) error {
	if err := s.validate(); err != nil {
		return err
	}
	handOver := make(chan os.Signal, 1)
	signal.Notify(handOver, syscall.SIGUSR1)
	defer signal.Stop(handOver)
	// Caught rather than ignored, so the build does not inherit SIG_IGN.
	ignored := make(chan os.Signal, 1)
	signal.Notify(ignored, syscall.SIGHUP, syscall.SIGPIPE)
	defer signal.Stop(ignored)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	p := paths{s.Dir, s.Component}
	for _, dir := range []string{s.Dir, p.own(), filepath.Dir(p.log())} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	o, err := openOutput(p.log(), out)
	if err != nil {
		return err
	}
	defer o.close()
	a := &agent{Swap: s, p: p, o: o, handOver: handOver}
	if err := a.run(ctx, session); err != nil {
		o.say("%v", err)
		return err
	}
	return nil
}

// holder names what runs the component when kenv does not: its manifest,
// or the kubelet's unit.
func (s Swap) holder() string {
	if s.Component == Kubelet {
		return KubeletUnit
	}
	return s.Manifest
}

func (s Swap) validate() error {
	if _, ok := defaultPort[s.Component]; !ok {
		return notSwapped(s.Component)
	}
	switch {
	case s.Component == Kubelet && s.Manifest != "":
		return fmt.Errorf("the kubelet has no manifest (%q): its systemd unit, %s, runs it", s.Manifest, KubeletUnit)
	case s.Component != Kubelet && !filepath.IsAbs(s.Manifest):
		return fmt.Errorf("the manifest (%q) is an absolute path", s.Manifest)
	case !filepath.IsAbs(s.Dir):
		return fmt.Errorf("the agent's directory (%q) is an absolute path", s.Dir)
	case len(s.Prefix) == 0:
		return errors.New("no command to run the debug build with")
	case s.Grace <= 0:
		return fmt.Errorf("grace %s: it is how long a gone session may take to come back, more than 0", s.Grace)
	}
	return checkRoot()
}

// agent is a session under way.
type agent struct {
	Swap
	p        paths
	o        *output
	handOver chan os.Signal
	// build is the debug build once started.
	build *process.Process
	// seen are the build's processes as last seen.
	seen []process.ID
}

// ending is why the agent stops serving.
type ending int

const (
	restoreNow  ending = iota // ctx ended: put the manifest back now
	handedOver                // a new session takes over
	sessionGone               // wait Grace for a new session, then put it back
)

func (a *agent) run(ctx context.Context, session io.Reader) error {
	l, holder, err := takeLock(ctx, a.p, syscall.SIGUSR1, handOverWait)
	switch {
	case errors.Is(err, errHeld):
		return fmt.Errorf("another kenv agent (%s) holds %s and did not hand over within %s; `kenv agent restore --dir %s` stops it", describe(holder), a.p.lock(), handOverWait, a.Dir)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("told to stop while waiting for %s to hand over %s", describe(holder), a.Component)
	case err != nil:
		return err
	case holder.Pid != 0:
		a.o.say("took over from the agent pid %d", holder.Pid)
	}
	defer l.release()
	if err := writePid(a.p); err != nil {
		return err
	}
	defer os.Remove(a.p.pid())

	found, err := a.putAside()
	if err != nil {
		return errors.Join(err, a.restore())
	}
	switch end, err := a.waitStopped(ctx, found); {
	case err != nil:
		return errors.Join(err, a.restore())
	case end == handedOver:
		a.o.say("handed over to a new session before %s started", a.Component)
		return nil
	case end == restoreNow:
		return a.restore()
	}
	if err := a.start(found); err != nil {
		return errors.Join(err, a.restore())
	}
	end, exited := a.serve(ctx, session)
	if err := a.stop(); err != nil {
		return errors.Join(exited, err, a.restore())
	}
	if end == sessionGone {
		a.o.say("waiting %s for a new session before putting %s back", a.Grace, a.holder())
		select {
		case <-a.handOver:
			end = handedOver
		case <-time.After(a.Grace):
			end = restoreNow
		case <-ctx.Done():
			end = restoreNow
		}
	}
	if end == handedOver {
		a.o.say("handed over to a new session; %s stays aside", a.holder())
		return exited
	}
	return errors.Join(exited, a.restore())
}

// putAside moves the manifest aside, or finds it aside already (a previous
// session handed over, or died), and returns what it holds.
func (a *agent) putAside() (Found, error) {
	found, r, content, err := check(a.Component, a.Manifest, a.Dir)
	if err != nil {
		return found, err
	}
	for _, n := range found.Notes {
		a.o.say("%s", n)
	}
	if r != nil {
		// Finish the move if an agent died on the way.
		return found, putAside(a.p, r, content)
	}
	r = &record{
		Component: a.Component,
		Manifest:  a.Manifest,
		Unit:      found.Unit,
		Saved:     Aside(a.Dir, a.Component, a.Manifest),
		SHA256:    digest(content),
		Time:      time.Now().UTC(),
	}
	if r.Unit == "" {
		info, err := os.Stat(a.Manifest)
		if err != nil {
			return found, err
		}
		r.Mode = info.Mode().Perm()
	}
	if err := putAside(a.p, r, content); err != nil {
		return found, err
	}
	if r.Unit != "" {
		a.o.say("stopped %s; what it ran is saved in %s", r.Unit, r.Saved)
	} else {
		a.o.say("moved %s aside to %s", a.Manifest, r.Saved)
	}
	return found, nil
}

// waitStopped waits until the kubelet has stopped the pod (or systemd the
// kubelet): its ports are free, as a person watching the pod go sees it.
// A component that closed its listener may still drain its requests for a
// while (kube-apiserver, up to its pod's grace period): the build starts
// beside it, as it would by hand. Where the ports were free from the
// start, no process of the component's may run but the agent's own.
func (a *agent) waitStopped(ctx context.Context, found Found) (ending, error) {
	a.o.say("waiting for the kubelet to stop %s", a.Component)
	deadline := time.Now().Add(stopWait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	listened := false
	for {
		procs, busy := processesOf(a.Component), busyPorts(found.Ports)
		listened = listened || len(busy) > 0
		if len(busy) == 0 && (listened || len(procs) == 0) {
			return sessionGone, nil
		}
		if time.Now().After(deadline) {
			return sessionGone, fmt.Errorf("the kubelet did not stop %s within %s: %s", a.Component, stopWait, strings.Join(append(procs, busy...), "; "))
		}
		select {
		case <-ctx.Done():
			return restoreNow, nil
		case <-a.handOver:
			return handedOver, nil
		case <-tick.C:
		}
	}
}

// start starts the debug build with the manifest's flags.
func (a *agent) start(found Found) error {
	argv := append(append([]string{}, a.Prefix...), found.Args...)
	a.o.say("starting %s", strings.Join(argv, " "))
	p, err := process.Start(process.Spec{
		Name:       a.Component,
		Argv:       argv,
		Env:        found.Env,
		LogPath:    a.p.log(),
		Credential: found.User.sys(),
	})
	if err != nil {
		return err
	}
	a.build = p
	a.note()
	return nil
}

// note records the build's processes when they change, Delve's debuggee
// among them, so that a restore after the agent died stops what is left.
func (a *agent) note() {
	ids := []process.ID{process.IDOf(a.build.Pid())}
	for _, pid := range process.Descendants(a.build.Pid()) {
		ids = append(ids, process.IDOf(pid))
	}
	for _, id := range a.seen {
		if id.Alive() && !contains(ids, id) {
			ids = append(ids, id) // a debuggee whose Delve died
		}
	}
	if !sameIDs(ids, a.seen) {
		if err := writeRunning(a.p, ids); err != nil {
			a.o.say("record the processes of %s: %v", a.Component, err)
			return
		}
		a.seen = ids
	}
}

// serve waits for the session to end, or the build to exit (the error).
func (a *agent) serve(ctx context.Context, session io.Reader) (ending, error) {
	beat, gone := heartbeats(session)
	silence := a.Grace / 2
	quiet := time.NewTimer(silence)
	defer quiet.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-beat:
			quiet.Reset(silence)
		case <-gone:
			a.o.say("the session ended")
			return sessionGone, nil
		case <-quiet.C:
			a.o.say("no word from kenv for %s", silence)
			return sessionGone, nil
		case <-ctx.Done():
			a.o.say("told to stop: putting %s back now", a.holder())
			return restoreNow, nil
		case <-a.handOver:
			a.o.say("a new session takes over")
			return handedOver, nil
		case <-a.build.Done():
			a.o.say("%s exited: %s", a.Component, a.build.Exit())
			return sessionGone, a.build.ExitError()
		case <-tick.C:
			a.note()
		}
	}
}

// heartbeats reads the session: beat on each read, gone at its end. The
// reader may outlive the session's serving, blocked on a read.
func heartbeats(session io.Reader) (beat, gone chan struct{}) {
	beat, gone = make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(gone)
		buf := make([]byte, 512)
		for {
			n, err := session.Read(buf)
			if n > 0 {
				select {
				case beat <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return beat, gone
}

// stop stops the build and what it left running.
func (a *agent) stop() error {
	if a.build == nil {
		return nil
	}
	a.note()
	err := errors.Join(a.build.Stop(stopTimeout), process.StopAll(a.Component, a.seen, stopTimeout))
	if err == nil {
		a.o.say("stopped %s", a.Component)
		a.build, a.seen = nil, nil
		_ = os.Remove(a.p.running())
	}
	return err
}

// restore stops the build and puts the manifest back.
func (a *agent) restore() error {
	if err := a.stop(); err != nil {
		return err
	}
	back, err := restoreLocked(a.p)
	if back {
		a.o.say("put %s back", a.holder())
	}
	return err
}

// processesOf describes the processes that run component in the node's
// network namespace (a static pod of the control plane runs in the
// host's), the agent's own aside. A machine whose pid namespace holds
// several nodes shows the others' too.
func processesOf(component string) []string {
	own := map[int]bool{os.Getpid(): true}
	for _, pid := range process.Descendants(os.Getpid()) {
		own[pid] = true
	}
	node, _ := os.Readlink("/proc/self/ns/net")
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || own[pid] {
			continue
		}
		if net, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err != nil || net != node {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if argv[0] == "" || !runs(argv[0], component) {
			continue
		}
		line := strings.Join(argv, " ")
		if len(line) > 80 {
			line = line[:80] + "…"
		}
		found = append(found, fmt.Sprintf("pid %d (%s) still runs", pid, line))
	}
	return found
}

// runs reports whether a process with argv0 runs component.
var runs = func(argv0, component string) bool { return filepath.Base(argv0) == component }

// busyPorts describes those of addrs that cannot be listened on.
func busyPorts(addrs []string) []string {
	var busy []string
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			continue
		}
		what := fmt.Sprintf("%s is in use", addr)
		_, port, _ := net.SplitHostPort(addr)
		if n, err := strconv.Atoi(port); err == nil {
			if holder := process.PortHolder(n); holder != "" {
				what += " by " + holder
			}
		}
		busy = append(busy, what)
	}
	return busy
}

func describe(id process.ID) string {
	if id.Pid == 0 {
		return "a restore, or an agent whose pid is unknown"
	}
	return fmt.Sprintf("pid %d", id.Pid)
}

func contains(ids []process.ID, id process.ID) bool {
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

func sameIDs(a, b []process.ID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !contains(b, id) {
			return false
		}
	}
	return true
}
