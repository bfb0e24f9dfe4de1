package supervisor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
)

// Down stops the environment from any process: it asks the supervisor to
// stop, and cleans up after one that died. With purge it also deletes the
// environment's state: etcd data, certificates and logs.
func Down(env layout.Env, name string, purge bool, out io.Writer) error {
	start := time.Now()
	state, err := ReadState(env)
	switch {
	case errors.Is(err, ErrNotUp):
		fmt.Fprintf(out, "Environment %q is not up.\n", name)
	case err != nil:
		return err
	default:
		if err := stop(env, state); err != nil {
			return err
		}
		fmt.Fprintf(out, " ✓ stopped %q (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
	}
	if purge {
		if _, err := os.Stat(env.Dir); err != nil {
			return nil
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
	names := []string{"etcd", "kenv", "build", "delve-install", "kube-apiserver-audit"}
	for _, c := range spec.KnownComponents() {
		names = append(names, c, c+"-trace")
	}
	return names
}

func stop(env layout.Env, state *State) error {
	if state.Supervisor.Alive() {
		_ = syscall.Kill(state.Supervisor.Pid, syscall.SIGTERM)
		if !waitUnlocked(env, 60*time.Second) {
			_ = syscall.Kill(state.Supervisor.Pid, syscall.SIGKILL)
			waitUnlocked(env, 10*time.Second)
		}
		// The supervisor releases the lock once its components are
		// stopped, and exits a moment later: down returns when nothing
		// of the environment runs, the supervisor included.
		if !waitExited(state.Supervisor, 10*time.Second) {
			_ = syscall.Kill(state.Supervisor.Pid, syscall.SIGKILL)
			waitExited(state.Supervisor, 5*time.Second)
		}
	}
	if err := stopLeftovers(state); err != nil {
		return err
	}
	if locked(env) {
		return fmt.Errorf("the supervisor of %q (pid %d) does not stop", state.Name, state.Supervisor.Pid)
	}
	if err := os.Remove(env.StateFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// stopLeftovers stops the recorded processes that outlived their
// supervisor, such as a program Delve debugged when Delve was killed.
func stopLeftovers(state *State) error {
	var procs []Proc
	for _, c := range state.Components {
		procs = append(append(procs, c.Process), c.Descendants...)
	}
	return stopProcs(state.Name, procs)
}

// stopProcs stops those of procs that still run: SIGTERM, then SIGKILL.
func stopProcs(env string, procs []Proc) error {
	var leftovers []Proc
	for _, p := range procs {
		if p.Alive() {
			leftovers = append(leftovers, p)
		}
	}
	if len(leftovers) == 0 {
		return nil
	}
	signal(leftovers, syscall.SIGTERM)
	if waitDead(leftovers, 15*time.Second) {
		return nil
	}
	signal(leftovers, syscall.SIGKILL)
	if waitDead(leftovers, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("processes of %q still run after SIGKILL: %v", env, leftovers)
}

func signal(procs []Proc, sig syscall.Signal) {
	for _, p := range procs {
		if p.Alive() {
			_ = syscall.Kill(p.Pid, sig)
		}
	}
}

func waitDead(procs []Proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		alive := false
		for _, p := range procs {
			alive = alive || p.Alive()
		}
		if !alive {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func waitExited(p Proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func waitUnlocked(env layout.Env, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !locked(env) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
