// Package state is an environment's record of what runs, written by its
// supervisor and read by every other kenv command, and the claim that lets
// one process supervise it.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kenv-dev/kenv/env/host"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/sourcemap"
)

// State is what a running environment records in its state file, so that
// commands in other processes can find and stop it.
type State struct {
	Name         string
	Spec         string
	Phase        Phase
	Started      time.Time
	Supervisor   process.ID
	APIServerURL string
	Kubeconfig   string
	// SourceDir is the Kubernetes tree the binaries were built from.
	SourceDir string
	// SourceMap maps the file names in the binaries to the files on this
	// machine, for Delve's clients and editors.
	SourceMap sourcemap.Map
	Kubectl   string
	Etcd      EtcdState
	// Versions are the releases the components run as, by kind
	// (plan.Versions): what a snapshot of its etcd is taken of.
	Versions   map[string]string `json:",omitempty"`
	Components []ComponentState
	// Nodes is what the environment's nodes hold on this machine, for a
	// down after a supervisor that died.
	Nodes *host.Nodes `json:",omitempty"`
}

// Phase is where an environment is in its life.
type Phase string

const (
	PhaseStarting Phase = "starting"
	PhaseReady    Phase = "ready"
	PhaseStopping Phase = "stopping"
	// PhaseFailed is an up that failed and was kept for inspection (--retain).
	PhaseFailed Phase = "failed, kept for inspection"
)

// EtcdState describes the embedded etcd.
type EtcdState struct {
	ClientURL string
	LogPath   string
}

// ComponentState describes one component process.
type ComponentState struct {
	Name    string
	Status  Status
	Process process.ID
	// Descendants are the processes the component's process started, such
	// as the program Delve debugs.
	Descendants  []process.ID `json:",omitempty"`
	Address      string
	Endpoint     string
	DebugAddress string `json:",omitempty"`
	// Dlv is the Delve that debugs the component, for attaching.
	Dlv     string `json:",omitempty"`
	LogPath string
	// Started is when the current process started.
	Started time.Time
	// Command and Env are what the component runs with.
	Command []string
	Env     []string
	// Rebuilt is when its binary was last built again while the
	// environment ran, and for which change; nil until it is.
	Rebuilt *Rebuild `json:",omitempty"`
	// SourceDir, SourceMap and DelveInit are set for a component built
	// from a source of its own: its tree, the map of its binary's file
	// names, and the commands Delve's terminal runs first for it; the
	// environment's serve the others.
	SourceDir string        `json:",omitempty"`
	SourceMap sourcemap.Map `json:",omitempty"`
	DelveInit string        `json:",omitempty"`
}

// Rebuild is a build of a component's binary while its environment runs.
type Rebuild struct {
	At time.Time
	// Change says what changed: files of the checkout, the spec, or a
	// `kenv restart`.
	Change string
}

// ErrNotUp means the environment has no state file: it is not running.
var ErrNotUp = errors.New("not up")

// Read reads the state file of env.
func Read(env layout.Env) (*State, error) {
	raw, err := os.ReadFile(env.StateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotUp
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w; the file is damaged: stop any kenv processes of this environment and remove it", env.StateFile(), err)
	}
	return &s, nil
}

// Write writes s as env's state file.
func Write(env layout.Env, s *State) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	// Other kenv processes read it at any time: never half of it.
	return renameio.WriteFile(env.StateFile(), raw, 0o600)
}

// Observe returns the recorded state s with each process checked: a
// recorded process that no longer runs is marked so, and a debugged one
// Delve holds stopped says where.
func Observe(s *State) *State {
	out := *s
	out.Components = append([]ComponentState(nil), s.Components...)
	if !s.Supervisor.Alive() {
		out.Phase = Phase(fmt.Sprintf("supervisor gone (pid %d); run `kenv down --name %s` to clean up", s.Supervisor.Pid, s.Name))
	}
	for i, c := range out.Components {
		alive := c.Process.Alive()
		switch {
		case !alive && c.Status.Running():
			out.Components[i].Status = NotRunning
		case alive && c.DebugAddress != "":
			// It may have halted at a breakpoint since it was recorded.
			if st, err := delve.Inspect(c.DebugAddress); err == nil && st.Halted {
				out.Components[i].Status = Halted(st.Summary())
			}
		}
	}
	return &out
}

// Names lists the environments under stateRoot that have state.
func Names(stateRoot string) ([]string, error) {
	entries, err := os.ReadDir(stateRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(stateRoot, e.Name(), "state.json")); err == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Status is where a component is in its life, as `kenv status` shows it.
type Status string

const (
	Starting   Status = "starting"
	Ready      Status = "ready"
	Failed     Status = "failed"
	Stopped    Status = "stopped"
	NotRunning Status = "not running"
)

// Exited is the status of a component whose process ended on its own, how
// being "killed by SIGKILL" or "exited with code 1".
func Exited(how string) Status { return Status(how) }

// Restarting is the status of a component that failed and is restarted
// after a back-off.
func Restarting(after time.Duration, exit string) Status {
	return Status(fmt.Sprintf("restarting in %s (%s)", after, exit))
}

// Halted is the status of a component Delve holds stopped, with where.
func Halted(where string) Status { return Status(where) }

// Running reports whether s is the status of a process that should run:
// starting, ready, or held by Delve.
func (s Status) Running() bool {
	return s == Starting || s == Ready || s.Halted()
}

// Halted reports whether Delve holds the component stopped.
func (s Status) Halted() bool { return strings.HasPrefix(string(s), "halted at ") }

// Settled reports whether s needs no explanation: ready, stopped on
// purpose, or stopped in the debugger.
func (s Status) Settled() bool { return s == Ready || s == Stopped || s.Halted() }
