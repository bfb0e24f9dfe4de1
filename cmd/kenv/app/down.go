package app

import (
	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/supervisor"
)

func newDownCommand(streams Streams) *cobra.Command {
	var (
		f     envFlags
		purge bool
	)
	cmd := &cobra.Command{
		Use:   "down [SPEC]",
		Short: "Stop an environment; its etcd data and certificates are kept unless --purge",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, name, err := f.resolve(args, streams)
			if err != nil {
				return err
			}
			return supervisor.Down(env, name, purge, streams.Out)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the environment's etcd data, certificates and logs")
	return cmd
}
