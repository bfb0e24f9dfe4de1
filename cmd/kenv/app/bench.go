package app

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/bench"
)

type benchOptions struct {
	runs        int
	short, cold bool
}

func newBenchCommand(streams Streams) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench SPEC",
		Short: "Measure kenv against the floor: the same binaries started by hand, a plain go build",
		Long: `Measure how long kenv takes to bring SPEC up and down, and how much memory its
supervisor holds, side by side with the floor measured in the same run: the
same binaries started by hand with the same flags against an etcd already up
(and under dlv exec --continue), a plain go build. Each figure is taken --runs
times, kenv's and the floor's interleaved; the table shows medians, ranges and
their ratios. The bench runs in a state directory of its own, on the spec's
ports, and leaves nothing behind.

--cold adds a cold up (empty binary and Go build caches) against go build from
an empty Go build cache: minutes. --short takes fewer figures and skips the
floor that needs a second build (every package -N -l).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, _, cache, err := loadSpecEnv(args[0], streams)
			if err != nil {
				return err
			}
			locked, _, err := loadLock(s, false, streams)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if o.short && !cmd.Flags().Changed("runs") {
				o.runs = 2
			}
			// Ctrl-C stops what the bench started and leaves nothing.
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			report, err := bench.Run(ctx, bench.Options{Spec: s, Lock: locked, Cache: cache, Kenv: exe,
				Runs: o.runs, Short: o.short, Cold: o.cold && !o.short, Out: streams.Err})
			if err != nil {
				return fmt.Errorf("the bench could not measure: %w", err)
			}
			report.Print(streams.Out, machine())
			return nil
		},
	}
	cmd.Flags().IntVar(&o.runs, "runs", 5, "how many times each warm figure is taken")
	cmd.Flags().BoolVar(&o.short, "short", false, "2 runs, no cold row, no all -N -l floor (what CI runs)")
	cmd.Flags().BoolVar(&o.cold, "cold", false, "add the cold up against a plain go build (minutes)")
	return cmd
}

// machine names the CPU the figures were taken on.
func machine() string {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return runtime.GOOS + "/" + runtime.GOARCH + ", " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}
