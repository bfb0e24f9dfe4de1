package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/host"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/state"
)

// Down stops the environment from any process: it asks the supervisor to
// stop, and cleans up after one that died. With purge it also deletes the
// environment's state: etcd data, certificates and logs.
func Down(env layout.Env, name string, purge bool, out io.Writer) error {
	start := time.Now()
	st, err := state.Read(env)
	switch {
	case errors.Is(err, state.ErrNotUp):
		fmt.Fprintf(out, "Environment %q is not up.\n", name)
	case err != nil:
		return err
	default:
		if err := stop(env, st, out); err != nil {
			return err
		}
		fmt.Fprintf(out, " ✓ stopped %q (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
	}
	if purge {
		if _, err := os.Stat(env.Dir); err != nil {
			return nil
		}
		if err := purgeNodes(env, out); err != nil {
			return err
		}
		if err := purgeLinkedDirs(env, out); err != nil {
			return err
		}
		if err := os.RemoveAll(env.Dir); err != nil {
			return fmt.Errorf("purge %s: %w", env.Dir, err)
		}
		fmt.Fprintf(out, " ✓ deleted %s (etcd data, certificates, kubeconfigs, logs)\n", env.Dir)
	}
	return nil
}

// purgeLinkedDirs deletes what kenv wrote into the log and etcd directories
// a spec named, and nothing else: such a directory may hold the user's own
// files.
func purgeLinkedDirs(env layout.Env, out io.Writer) error {
	logDir, etcdDir := env.LinkedDirs()
	if etcdDir != "" {
		if err := os.RemoveAll(filepath.Join(etcdDir, "member")); err != nil {
			return fmt.Errorf("purge etcd data: %w", err)
		}
		fmt.Fprintf(out, " ✓ deleted the etcd data in %s\n", etcdDir)
	}
	if logDir != "" {
		var deleted int
		for _, name := range kenvLogs() {
			err := os.Remove(filepath.Join(logDir, name+".log"))
			switch {
			case err == nil:
				deleted++
			case !errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("purge logs: %w", err)
			}
		}
		fmt.Fprintf(out, " ✓ deleted kenv's %d log(s) in %s\n", deleted, logDir)
	}
	return nil
}

// kenvLogs names the logs kenv writes: the components', their trace logs,
// the audit log, etcd's, the build's, Delve's installation and its own.
func kenvLogs() []string {
	names := []string{"etcd", "kenv", "build", "delve-install", "kwok-install", "kube-apiserver-audit", "images", "pause-build"}
	for _, k := range plan.Kinds {
		names = append(names, k.Name, k.Name+"-trace")
	}
	return names
}

func stop(env layout.Env, st *state.State, out io.Writer) error {
	cluster, err := recordedCluster(env)
	if err != nil {
		return err
	}
	patience := 60 * time.Second
	if cluster != nil {
		patience += restoreWait // the supervisor puts the cluster back
	}
	died := !st.Supervisor.Alive()
	// A detached supervisor says in its log what it put back.
	var relay func()
	if cluster != nil && !died {
		relay = relayRestores(env.Log("kenv"), out)
	}
	if sup := st.Supervisor; !died {
		// The supervisor gives its claim up once its components are
		// stopped, and exits a moment later: down returns when nothing
		// of the environment runs, the supervisor included.
		released := func() bool { return !state.Claimed(env) }
		_ = syscall.Kill(sup.Pid, syscall.SIGTERM)
		if !process.WaitFor(context.Background(), patience, released) {
			_ = syscall.Kill(sup.Pid, syscall.SIGKILL)
			process.WaitFor(context.Background(), 10*time.Second, released)
		}
		if err := process.StopAll("the supervisor of "+st.Name, []process.ID{sup}, 10*time.Second); err != nil {
			return err
		}
	}
	if relay != nil {
		relay()
	}
	if err := stopLeftovers(process.Host{}, st); err != nil {
		return err
	}
	if died && cluster != nil {
		// The nodes' agents put the static pods back after their grace;
		// now, rather.
		if err := restoreCluster(cluster, out); err != nil {
			return err
		}
	}
	if state.Claimed(env) {
		return fmt.Errorf("the supervisor of %q (pid %d) does not stop", st.Name, st.Supervisor.Pid)
	}
	if err := os.Remove(env.StateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// relayRestores returns a func that copies to out the lines saying what
// was put back (restoreCluster's) that the supervisor adds to its log from
// now on: down's user sees them as a supervisor in the foreground shows
// them.
func relayRestores(log string, out io.Writer) func() {
	var from int64
	if info, err := os.Stat(log); err == nil {
		from = info.Size()
	}
	return func() {
		f, err := os.Open(log)
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(from, io.SeekStart); err != nil {
			return
		}
		lines := bufio.NewScanner(f)
		for lines.Scan() {
			if strings.Contains(lines.Text(), backMark) {
				fmt.Fprintln(out, lines.Text())
			}
		}
	}
}

// stopLeftovers stops the recorded processes that outlived their
// supervisor, at the place they ran, such as a program Delve debugged when
// Delve was killed, and sweeps what its nodes left on the machine.
func stopLeftovers(place process.Place, st *state.State) error {
	var procs []process.ID
	for _, c := range st.Components {
		procs = append(append(procs, c.Process), c.Descendants...)
	}
	if err := place.StopAll(st.Name, procs, stopTimeout); err != nil {
		return err
	}
	if st.Nodes != nil {
		return host.Sweep(*st.Nodes)
	}
	return nil
}

// purgeNodes deletes kenv's directory for the environment from each node
// of a cluster it swapped components of, once their static pods are back.
func purgeNodes(env layout.Env, out io.Writer) error {
	c, err := recordedCluster(env)
	if err != nil || c == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		// Nothing to put back after a down: the agents' records are gone.
		if err := n.Restore(ctx); err != nil {
			return err
		}
		if err := n.Purge(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, " ✓ deleted %s on node %s\n", n.Dir, n.Name)
	}
	return nil
}
