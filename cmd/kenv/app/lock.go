package app

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/supervisor"
)

func newLockCommand(streams Streams) *cobra.Command {
	var update bool
	cmd := &cobra.Command{
		Use:   "lock SPEC",
		Short: "Write the spec's lock file, or check the spec and its binaries against it",
		Long: `Lock SPEC in SPEC's .lock.hcl beside it: the resolved source (module hashes or git
commit), the Go toolchain, the Delve release, the build settings and a hash of each
binary. Commit it with the spec; ` + "`kenv up`" + ` then builds exactly that.

Without a lock, kenv lock builds and writes one (kenv up does too, the first time).
With one, it checks that the spec still matches it, builds as it says, and compares
the binaries. --update locks the spec as it is now. Nothing is started.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, env, cache, err := loadSpecEnv(args[0], streams)
			if err != nil {
				return err
			}
			locked, write, err := loadLock(s, update, streams)
			if err != nil {
				return err
			}
			if err := state.PrepareDirs(env, s); err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer cancel()
			return supervisor.Lock(ctx, supervisor.Options{
				Spec:      s,
				Env:       env,
				Cache:     cache,
				Out:       streams.Out,
				Lock:      locked,
				WriteLock: write,
			})
		},
	}
	cmd.Flags().BoolVar(&update, "update", false, "lock the spec as it is now, replacing the lock")
	return cmd
}
