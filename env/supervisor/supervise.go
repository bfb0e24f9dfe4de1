package supervisor

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/kenv-dev/kenv/env/control"
)

// Supervise keeps the environment running until ctx is done, and serves
// the control socket through which `kenv restart`, `stop` and `start`
// reach it. A component that exits is recorded in the state file with how
// it ended, and restarted when its spec says so; the others keep running.
func (r *Running) Supervise(ctx context.Context) error {
	stopServing, err := control.Serve(r.opts.Env.ControlSocket(), r)
	if err != nil {
		return err
	}
	defer stopServing()
	var etcdErr <-chan error // nil, never ready, when up failed before etcd ran
	if r.etcd != nil {
		etcdErr = r.etcd.Err()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-etcdErr:
		return fmt.Errorf("etcd failed: %w; see %s", err, r.currentPlan().Etcd.LogPath)
	}
}

// Summary tells the user how to reach what runs.
func (r *Running) Summary(w io.Writer) {
	r.stateMu.Lock()
	s := *r.state
	s.Components = slices.Clone(s.Components)
	r.stateMu.Unlock()
	fmt.Fprintf(w, "\nEnvironment %q is up (%s).\n\n", s.Name, r.readyAfter.Round(100*time.Millisecond))
	fmt.Fprintf(w, "  export KUBECONFIG=%s\n\n", s.Kubeconfig)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if s.Etcd.ClientURL != "" {
		fmt.Fprintf(tw, "  etcd\t%s\t\t%s\n", s.Etcd.ClientURL, s.Etcd.LogPath)
	}
	for _, c := range s.Components {
		fmt.Fprintf(tw, "  %s\t%s\tpid %d\t%s\n", c.Name, c.Endpoint, c.Process.Pid, c.LogPath)
		if c.DebugAddress != "" {
			fmt.Fprintf(tw, "  \tdlv connect %s\n", c.DebugAddress)
		}
	}
	tw.Flush()
	if c := r.currentPlan().Cluster; c != nil {
		fmt.Fprintf(w, "\nThese run on the cluster's nodes in place of their static pods (the kubelet, of its systemd unit); Delve is brought to this machine's loopback.\n")
		fmt.Fprintf(w, "Put the cluster back with: kenv down --name %s (and the node does it on its own %s after kenv is gone)\n",
			s.Name, c.Nodes[0].Grace)
		return
	}
	fmt.Fprintf(w, "\nStop it with: kenv down --name %s\n", s.Name)
}
