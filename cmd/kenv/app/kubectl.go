package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
)

func newKubectlCommand(streams Streams) *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "kubectl [--name NAME] -- ARGS",
		Short: "Run the kubectl built from the environment's source with its admin kubeconfig",
		RunE: func(cmd *cobra.Command, args []string) error {
			state, _, err := runningState(&f, streams)
			if err != nil {
				return err
			}
			if _, err := os.Stat(state.Kubectl); err != nil {
				return fmt.Errorf("kubectl is not built for this environment: add \"kubectl\" to build { binaries } in %s, or use your own kubectl with `kenv kubeconfig`", state.Spec)
			}
			kubectl := exec.CommandContext(cmd.Context(), state.Kubectl, args...)
			kubectl.Env = append(os.Environ(), "KUBECONFIG="+state.Kubeconfig)
			kubectl.Stdin, kubectl.Stdout, kubectl.Stderr = os.Stdin, streams.Out, streams.Err
			err = kubectl.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exitCode(exit.ExitCode())
			}
			return err
		},
	}
	f.register(cmd)
	return cmd
}
