package app

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/agent"
)

// newAgentCommand is what kenv runs on a node of a cluster it did not
// make, having shipped itself there (env/agent); not for users.
func newAgentCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "agent",
		Short:  "kenv's side on a node whose static pod it swaps for a debug build",
		Hidden: true,
	}
	cmd.AddCommand(
		newAgentCheckCommand(streams),
		newAgentSwapCommand(streams),
		newAgentRestoreCommand(),
		newAgentPipeCommand(streams),
		newAgentProbeCommand(),
	)
	return cmd
}

// swapFlags name the component, its manifest and kenv's directory.
type swapFlags struct{ component, manifest, dir string }

func (f *swapFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.component, "component", "", "kube-apiserver, kube-controller-manager, kube-scheduler or kubelet")
	cmd.Flags().StringVar(&f.manifest, "manifest", "", "the component's static pod manifest (none for the kubelet, which systemd runs)")
	cmd.Flags().StringVar(&f.dir, "dir", "", "kenv's directory on the node for the environment")
	for _, name := range []string{"component", "dir"} {
		_ = cmd.MarkFlagRequired(name)
	}
}

func newAgentCheckCommand(streams Streams) *cobra.Command {
	var f swapFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Print, as JSON, what the component's manifest (or the kubelet's unit) runs; change nothing",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			found, err := agent.Check(f.component, f.manifest, f.dir)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(streams.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(found)
		},
	}
	f.register(cmd)
	return cmd
}

func newAgentSwapCommand(streams Streams) *cobra.Command {
	var (
		f     swapFlags
		grace time.Duration
	)
	cmd := &cobra.Command{
		Use:   "swap --component C [--manifest M] --dir D [--grace 60s] -- PREFIX...",
		Short: "Run the debug build in the static pod's (or the kubelet unit's) place for as long as stdin's session lives",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return errors.New("the command that runs the debug build comes after --")
			}
			// The agent outlives whoever started it (agent.Detach).
			self, err := os.Executable()
			if err != nil {
				return err
			}
			if code, handled := agent.Detach(self, os.Args[1:]); handled {
				os.Exit(code)
			}
			s := agent.Swap{Component: f.component, Manifest: f.manifest, Dir: f.dir, Prefix: args, Grace: grace}
			err = s.Run(cmd.Context(), os.Stdin, streams.Out)
			code := 0
			if err != nil {
				code = 1
			}
			agent.Report(code)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&grace, "grace", time.Minute, "how long to wait for a new session once this one is gone, before putting the manifest back")
	return cmd
}

func newAgentRestoreCommand() *cobra.Command {
	var (
		dir  string
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "restore --dir D",
		Short: "Put back the manifests kenv put aside (start the units it stopped), stopping the agents that run",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return agent.Restore(dir, wait)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "kenv's directory on the node for the environment")
	_ = cmd.MarkFlagRequired("dir")
	cmd.Flags().DurationVar(&wait, "wait", time.Minute, "how long a running agent has to put its manifest back before it is killed")
	return cmd
}

func newAgentPipeCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "pipe ADDRESS",
		Short: "Copy stdin to a TCP connection to ADDRESS and the connection to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return agent.Pipe(cmd.Context(), args[0], os.Stdin, streams.Out)
		},
	}
}

func newAgentProbeCommand() *cobra.Command {
	var f swapFlags
	cmd := &cobra.Command{
		Use:   "probe --component C [--manifest M] --dir D",
		Short: "Ask the swapped component's health check on the node's loopback",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agent.Probe(cmd.Context(), f.component, f.manifest, f.dir)
		},
	}
	f.register(cmd)
	return cmd
}
