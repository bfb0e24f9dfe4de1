package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/state"
)

func newStatusCommand(streams Streams) *cobra.Command {
	var (
		f      envFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "status [SPEC]",
		Short: "Show what runs in an environment, where, and its Delve addresses",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, name, err := f.resolve(args, streams)
			if err != nil {
				return err
			}
			st, err := state.Read(env)
			if errors.Is(err, state.ErrNotUp) {
				return fmt.Errorf("environment %q is not up", name)
			}
			if err != nil {
				return err
			}
			st = state.Observe(st)
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(streams.Out, "%s: %s since %s (supervisor pid %d)\n", st.Name, st.Phase,
				st.Started.Format(time.TimeOnly), st.Supervisor.Pid)
			fmt.Fprintf(streams.Out, "KUBECONFIG=%s\n\n", st.Kubeconfig)
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tSTATUS\tPID\tUPTIME\tADDRESS\tDELVE\tLOG")
			if st.Etcd.ClientURL != "" {
				fmt.Fprintf(tw, "etcd\tembedded\t%d\t%s\t%s\t-\t%s\n", st.Supervisor.Pid, uptime(st.Started),
					st.Etcd.ClientURL, st.Etcd.LogPath)
			}
			for _, c := range st.Components {
				debug := c.DebugAddress
				if debug == "" {
					debug = "-"
				}
				up := "-"
				if c.Process.Alive() {
					up = uptime(c.Started)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Name, c.Status, c.Process.Pid, up, c.Endpoint, debug, c.LogPath)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, c := range st.Components {
				if c.Rebuilt != nil {
					fmt.Fprintf(streams.Out, "%s last rebuilt at %s (%s ago), for %s\n", c.Name,
						c.Rebuilt.At.Format(time.TimeOnly), uptime(c.Rebuilt.At), c.Rebuilt.Change)
				}
			}
			// Say why what is down went down.
			for _, c := range st.Components {
				if c.Status.Settled() {
					continue
				}
				var tail strings.Builder
				if f, err := os.Open(c.LogPath); err == nil {
					err = printTail(f, 8, &tail)
					f.Close()
					if err != nil {
						return err
					}
				}
				if tail.Len() == 0 {
					fmt.Fprintf(streams.Out, "\n%s: %s; %s is empty\n", c.Name, c.Status, c.LogPath)
					continue
				}
				fmt.Fprintf(streams.Out, "\n%s: %s; the last lines of %s:\n%s", c.Name, c.Status, c.LogPath, tail.String())
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func uptime(since time.Time) string {
	if since.IsZero() {
		return "-"
	}
	return time.Since(since).Round(time.Second).String()
}

func newKubeconfigCommand(streams Streams) *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "kubeconfig [SPEC]",
		Short: "Print the path of the environment's admin kubeconfig",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, _, err := f.resolve(args, streams)
			if err != nil {
				return err
			}
			fmt.Fprintln(streams.Out, env.Kubeconfig("admin"))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
