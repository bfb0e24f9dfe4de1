package app

import (
	"fmt"
	"io"

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
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Import image tarballs into the node's container runtime",
		Long: `Import images into the containerd of the environment's node, offline: a
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
			if st.Node == nil {
				return fmt.Errorf("environment %q runs no node; add component \"kubelet\" {} to %s", st.Name, st.Spec)
			}
			for _, file := range args {
				platformed, err := node.Import(cmd.Context(), st.Node.Socket, file, nil, io.Discard)
				if err != nil {
					return err
				}
				fmt.Fprintf(streams.Out, " ✓ loaded %s\n", file)
				for _, ref := range platformed {
					fmt.Fprintf(streams.Out, " ! %s\n", node.PlatformNote(ref))
				}
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
