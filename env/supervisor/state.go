package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

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
	Supervisor   Proc
	APIServerURL string
	Kubeconfig   string
	// SourceDir is the Kubernetes tree the binaries were built from.
	SourceDir string
	// SourceMap maps the file names in the binaries to the files on this
	// machine, for Delve's clients and editors.
	SourceMap  sourcemap.Map
	Kubectl    string
	Etcd       EtcdState
	Components []ComponentState
}

// Phase is where an environment is in its life.
type Phase string

const (
	Starting Phase = "starting"
	Ready    Phase = "ready"
	Stopping Phase = "stopping"
	// Failed is an up that failed and was kept for inspection (--retain).
	Failed Phase = "failed, kept for inspection"
)

// Proc names a process by pid and start time, so that a reused pid is not
// mistaken for it.
type Proc struct {
	Pid   int
	Start uint64
}

// EtcdState describes the embedded etcd.
type EtcdState struct {
	ClientURL string
	LogPath   string
}

// ComponentState describes one component process.
type ComponentState struct {
	Name    string
	Status  string
	Process Proc
	// Descendants are the processes the component's process started, such
	// as the program Delve debugs.
	Descendants  []Proc `json:",omitempty"`
	Address      string
	DebugAddress string `json:",omitempty"`
	// Dlv is the Delve that debugs the component, for attaching.
	Dlv     string `json:",omitempty"`
	LogPath string
	// Started is when the current process started.
	Started time.Time
	// Command and Env are what the component runs with.
	Command []string
	Env     []string
}

func procOf(pid int) Proc {
	start, _ := process.StartTime(pid)
	return Proc{Pid: pid, Start: start}
}

// Alive reports whether the recorded process still runs.
func (p Proc) Alive() bool {
	if !process.Alive(p.Pid) {
		return false
	}
	start, err := process.StartTime(p.Pid)
	return err == nil && start == p.Start
}

// ErrNotUp means the environment has no state file: it is not running.
var ErrNotUp = errors.New("not up")

// ReadState reads the state file of env.
func ReadState(env layout.Env) (*State, error) {
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

func writeState(env layout.Env, s *State) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	// Other kenv processes read it at any time: never half of it.
	return renameio.WriteFile(env.StateFile(), raw, 0o600)
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
