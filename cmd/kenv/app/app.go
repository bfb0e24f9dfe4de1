// Package app holds kenv's command-line interface: commands, flags and the
// rendering of what the engine in env/ reports.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/plan"
)

// Streams are the command's input and outputs.
type Streams struct {
	Out io.Writer
	Err io.Writer
}

// errReported is returned when the error has been shown to the user already.
var errReported = errors.New("reported")

// exitCode ends kenv with a child's exit code, the child having said what
// went wrong.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit code %d", int(e)) }

// Main runs kenv with the process's arguments and returns its exit code.
func Main() int {
	if err := Run(context.Background(), os.Args[1:], Streams{Out: os.Stdout, Err: os.Stderr}); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		if !errors.Is(err, errReported) {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		}
		return 1
	}
	return 0
}

// Run runs kenv with args.
func Run(ctx context.Context, args []string, streams Streams) error {
	cmd := newRootCommand(streams)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

func newRootCommand(streams Streams) *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:   "kenv",
		Short: "Bring up a debuggable Kubernetes control plane from an HCL spec",
		Long: `kenv builds Kubernetes components from source with debug flags, runs them
against an embedded etcd, and puts the ones you ask for under Delve.

  kenv up examples/debug.hcl     bring an environment up (Ctrl-C stops it)
  kenv up -d examples/debug.hcl  the same, in the background
  kenv status                    what runs, where
  kenv down                      stop it`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(streams.Err, &slog.HandlerOptions{Level: level})))
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log diagnostics")
	root.AddCommand(
		newUpCommand(streams),
		newDownCommand(streams),
		newStatusCommand(streams),
		newKubeconfigCommand(streams),
		newValidateCommand(streams),
		newPlanCommand(streams, plan.Survey),
		newLockCommand(streams),
		newFlagsCommand(streams),
		newAttachCommand(streams),
		newKubectlCommand(streams),
		newTokenCommand(streams),
		newIDECommand(streams),
		newRestartCommand(streams),
		newStopCommand(streams),
		newStartCommand(streams),
		newLogsCommand(streams),
		newImageCommand(streams),
		newSnapshotCommand(streams),
		newE2ECommand(streams),
		newBenchCommand(streams),
		newAgentCommand(streams),
	)
	return root
}
