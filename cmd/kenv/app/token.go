package app

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/access"
	"github.com/kenv-dev/kenv/pki"
)

func newTokenCommand(streams Streams) *cobra.Command {
	var (
		f   envFlags
		r   = access.TokenRequest{}
		ttl time.Duration
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make a service account token and print a curl line that uses it",
		Long: `Make a service account token, creating the namespace, the service account and,
with --cluster-admin, a cluster-admin binding where missing. Prints shell lines
that set TOKEN and call the apiserver with curl, so that requests reach the
apiserver directly rather than through kubectl's caches.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			state, env, err := runningState(&f, streams)
			if err != nil {
				return err
			}
			r.Seconds = int64(ttl.Seconds())
			token, err := access.Token(cmd.Context(), state.Kubeconfig, r)
			if err != nil {
				return err
			}
			ca := pki.CertPath(env.CertDir(), pki.ServerCA)
			fmt.Fprintf(streams.Out, "TOKEN=%s\n", token)
			fmt.Fprintf(streams.Out, "curl -s --cacert %s -H \"Authorization: Bearer $TOKEN\" %s/api/v1/namespaces/%s/pods\n",
				shellQuote(filepath.Clean(ca)), state.APIServerURL, r.Namespace)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&r.Namespace, "namespace", "n", "default", "the service account's namespace")
	cmd.Flags().StringVar(&r.ServiceAccount, "service-account", "kenv", "the service account")
	cmd.Flags().BoolVar(&r.ClusterAdmin, "cluster-admin", false, "bind the service account to cluster-admin")
	cmd.Flags().DurationVar(&ttl, "duration", 24*time.Hour, "how long the token is valid")
	return cmd
}
