package app

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/node"
)

func newImageCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Images of the environment's node",
	}
	cmd.AddCommand(newImageLoadCommand(streams))
	return cmd
}

func newImageLoadCommand(streams Streams) *cobra.Command {
	var f envFlags
	var only string
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Import image tarballs into the nodes' container runtimes",
		Long: `Import images into the containerd of each of the environment's nodes, or of
the one --node names, offline: a
tarball from docker save or podman save (docker-archive), an OCI archive, or an
OCI layout directory whose index names its images. An image whose config names
no platform is loaded as this machine's, with a new image ID. Pods then run them with
imagePullPolicy: IfNotPresent or Never. To import them at every up, list them
in the spec: component "kubelet" { images = ["app.tar"] }.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, _, err := runningState(&f, streams)
			if err != nil {
				return err
			}
			if st.Nodes == nil {
				return fmt.Errorf("environment %q runs no node; add component \"kubelet\" {} to %s", st.Name, st.Spec)
			}
			var names []string
			noted := map[string]bool{}
			for _, n := range st.Nodes.List {
				names = append(names, n.Name)
				if only != "" && n.Name != only {
					continue
				}
				for _, file := range args {
					platformed, err := node.Import(cmd.Context(), n.Socket, file, nil, io.Discard)
					if err != nil {
						return fmt.Errorf("node %s: %w", n.Name, err)
					}
					fmt.Fprintf(streams.Out, " ✓ loaded %s into node %s\n", file, n.Name)
					for _, ref := range platformed {
						if !noted[ref] {
							noted[ref] = true
							fmt.Fprintf(streams.Out, " ! %s\n", node.PlatformNote(ref))
						}
					}
				}
			}
			if only != "" && !slices.Contains(names, only) {
				return fmt.Errorf("environment %q has no node %q; its nodes are %s", st.Name, only, strings.Join(names, ", "))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&only, "node", "", "the node to load into; every node when empty")
	return cmd
}
