package app

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/control"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/process"
)

func newRestartCommand(streams Streams) *cobra.Command {
	var (
		f              controlFlags
		debug, noDebug bool
	)
	cmd := &cobra.Command{
		Use:   "restart COMPONENT",
		Short: "Rebuild a component if its source changed and restart it with the same flags",
		Long: `Restart one component with the same computed flags; the others keep running and
keep their state. Its binary is rebuilt first when its source changed.
--debug and --no-debug switch Delve on or off for it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d *bool
			switch {
			case debug && noDebug:
				return fmt.Errorf("--debug and --no-debug exclude each other")
			case debug, noDebug:
				d = &debug
			}
			return f.control(cmd, streams, args[0], control.Restart, d)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&debug, "debug", false, "run the component under Delve from now on")
	cmd.Flags().BoolVar(&noDebug, "no-debug", false, "run the component without Delve from now on")
	return cmd
}

func newStopCommand(streams Streams) *cobra.Command {
	var f controlFlags
	cmd := &cobra.Command{
		Use:   "stop COMPONENT",
		Short: "Stop one component; the others keep running",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.control(cmd, streams, args[0], control.Stop, nil)
		},
	}
	f.register(cmd)
	return cmd
}

func newStartCommand(streams Streams) *cobra.Command {
	var f controlFlags
	cmd := &cobra.Command{
		Use:   "start COMPONENT",
		Short: "Start a component that was stopped or exited",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.control(cmd, streams, args[0], control.Start, nil)
		},
	}
	f.register(cmd)
	return cmd
}

// controlFlags selects an environment, and a node, for commands that act
// through its supervisor.
type controlFlags struct {
	envFlags
	node nodeFlag
}

func (f *controlFlags) register(cmd *cobra.Command) {
	f.envFlags.register(cmd)
	f.node.register(cmd)
}

func (f *controlFlags) control(cmd *cobra.Command, streams Streams, name string, action control.Action, debug *bool) error {
	state, env, err := runningState(&f.envFlags, streams)
	if err != nil {
		return err
	}
	if !state.Supervisor.Alive() {
		return fmt.Errorf("the supervisor of %q is gone (pid %d); run `kenv down --name %s` and `kenv up` again",
			state.Name, state.Supervisor.Pid, state.Name)
	}
	c, err := component(state, f.node.of(name))
	if err != nil {
		return err
	}
	return control.Ask(cmd.Context(), env.ControlSocket(), control.Request{Component: c.Name, Action: action, Debug: debug}, streams.Out)
}

func newLogsCommand(streams Streams) *cobra.Command {
	var (
		f      envFlags
		node   nodeFlag
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs COMPONENT",
		Short: "Print a component's log (etcd and kenv's own included)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, _, err := f.resolve(nil, streams)
			if err != nil {
				return err
			}
			path, err := logOf(env, node.of(args[0]))
			if err != nil {
				return err
			}
			file, err := os.Open(path)
			if err != nil {
				return fmt.Errorf("no log for %q: %w", args[0], err)
			}
			defer file.Close()
			if err := printTail(file, tail, streams.Out); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			for {
				if _, err := io.Copy(streams.Out, file); err != nil {
					return err
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	f.register(cmd)
	node.register(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what is appended")
	cmd.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (-1: all)")
	return cmd
}

// printTail prints the last n lines of r (all when n < 0), leaving r at
// its end.
func printTail(r io.Reader, n int, out io.Writer) error {
	if n < 0 {
		_, err := io.Copy(out, r)
		return err
	}
	lines, err := process.Tail(r, n)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return err
}

// logOf is the log called name: a component's, etcd's or kenv's; or of a
// node's component, such as "node-1/kubelet", the one of that kind when
// only one node has it.
func logOf(env layout.Env, name string) (string, error) {
	path := env.Log(name)
	if _, err := os.Stat(path); err == nil || strings.Contains(name, "/") {
		return path, nil
	}
	found, _ := filepath.Glob(filepath.Join(env.LogDir(), "*", name+".log"))
	switch len(found) {
	case 0:
		return path, nil
	case 1:
		return found[0], nil
	}
	var names []string
	for _, f := range found {
		names = append(names, filepath.Base(filepath.Dir(f))+"/"+name)
	}
	return "", fmt.Errorf("each node has a log %s: name one, %s, or pass --node", name, strings.Join(names, ", "))
}
