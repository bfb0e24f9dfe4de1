package app

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/state"
)

// runningState returns the state of the selected environment, which must
// be up.
func runningState(f *envFlags, streams Streams) (*state.State, layout.Env, error) {
	env, name, err := f.resolve(nil, streams)
	if err != nil {
		return nil, env, err
	}
	st, err := state.Read(env)
	if errors.Is(err, state.ErrNotUp) {
		return nil, env, fmt.Errorf("environment %q is not up; start it with `kenv up SPEC`", name)
	}
	return st, env, err
}

// runningComponent returns the state of a component of the selected
// environment, which must be up.
func runningComponent(f *envFlags, name string, streams Streams) (*state.State, *state.ComponentState, error) {
	st, _, err := runningState(f, streams)
	if err != nil {
		return nil, nil, err
	}
	c, err := component(st, name)
	return st, c, err
}

// component returns the component called name, or of a node's, such as
// "node-1/kubelet", the one of that kind when only one node runs it.
func component(st *state.State, name string) (*state.ComponentState, error) {
	var names, onNodes []string
	var found *state.ComponentState
	for i := range st.Components {
		c := &st.Components[i]
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
		if strings.HasSuffix(c.Name, "/"+name) {
			found, onNodes = c, append(onNodes, c.Name)
		}
	}
	switch {
	case len(onNodes) == 1:
		return found, nil
	case len(onNodes) > 1:
		return nil, fmt.Errorf("environment %q runs %s on each node: name one, %s, or pass --node", st.Name, name, strings.Join(onNodes, ", "))
	}
	return nil, fmt.Errorf("environment %q runs no %q; it runs %s", st.Name, name, strings.Join(names, ", "))
}

// nodeFlag names the node whose component a command is about: --node N
// makes COMPONENT N/COMPONENT.
type nodeFlag struct{ node string }

func (n *nodeFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&n.node, "node", "", "the node whose component it is (kubelet, kube-proxy, containerd), when the environment has several")
}

func (n *nodeFlag) of(name string) string {
	if n.node == "" {
		return name
	}
	return n.node + "/" + name
}

func newFlagsCommand(streams Streams) *cobra.Command {
	var (
		f    envFlags
		node nodeFlag
	)
	cmd := &cobra.Command{
		Use:   "flags COMPONENT",
		Short: "Print the exact command line that runs a component, ready to paste into a shell",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := runningComponent(&f, node.of(args[0]), streams)
			if err != nil {
				return err
			}
			fmt.Fprintln(streams.Out, shellCommand(c.Env, c.Command))
			return nil
		},
	}
	f.register(cmd)
	node.register(cmd)
	return cmd
}

// shellCommand renders env and argv as one shell command, an argument a
// line; a subcommand ("go build", "dlv exec") stays with its command.
func shellCommand(env, argv []string) string {
	var b strings.Builder
	for _, e := range env {
		b.WriteString(shellQuote(e) + " \\\n  ")
	}
	for i, a := range argv {
		switch {
		case i == 0:
		case i == 1 && !strings.HasPrefix(a, "-"):
			b.WriteString(" ")
		default:
			b.WriteString(" \\\n  ")
		}
		b.WriteString(shellQuote(a))
	}
	return b.String()
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newAttachCommand(streams Streams) *cobra.Command {
	var (
		f    envFlags
		node nodeFlag
	)
	cmd := &cobra.Command{
		Use:   "attach COMPONENT",
		Short: "Open Delve's terminal client on a debugged component",
		Long: `Open Delve's terminal client (dlv connect) on a component that runs under
Delve. The binaries name their files by module path (they are built with
-trimpath, so that they are the same on every machine); kenv sets Delve's
substitute-path to the tree, the toolchain and the module cache they were
built from, so list, break and step show that source.

Leave with "exit" and answer "n" to keep the component running. To debug from
another machine, tunnel Delve's loopback port instead of exposing it:
  ssh -L 2345:127.0.0.1:2345 user@host   then: dlv connect 127.0.0.1:2345`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, env, err := runningState(&f, streams)
			if err != nil {
				return err
			}
			c, err := component(st, node.of(args[0]))
			if err != nil {
				return err
			}
			if c.DebugAddress == "" {
				return fmt.Errorf("%s does not run under Delve; add a debug {} block to its component in %s and run `kenv up` again",
					c.Name, st.Spec)
			}
			init := env.DelveInit()
			if c.DelveInit != "" { // built from a source of its own
				init = c.DelveInit
			}
			argv := []string{c.Dlv, "connect", c.DebugAddress, "--init", init}
			fmt.Fprintf(streams.Err, "%s\n", strings.Join(argv, " "))
			return syscall.Exec(c.Dlv, argv, os.Environ())
		},
	}
	f.register(cmd)
	node.register(cmd)
	return cmd
}
