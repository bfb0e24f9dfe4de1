package app

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/etcd"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/snapshot"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/supervisor"
)

func newSnapshotCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save an environment's state and put it back: etcd's own snapshot, one file",
		Long: `A snapshot is etcd's own snapshot of the environment's embedded member,
taken while everything runs, with the versions the components run as and
the spec's hash: one file, NAME.snapshot in the environment's directory,
or wherever NAME is a path (it holds a / or ends in .snapshot), to copy
next to the spec and commit. down --purge deletes the environment's
directory, its snapshots with it.`,
	}
	cmd.AddCommand(newSnapshotSaveCommand(streams), newSnapshotRestoreCommand(streams),
		newSnapshotListCommand(streams), newSnapshotDeleteCommand(streams))
	return cmd
}

// snapshotNameRE is a snapshot's name when it is not a path.
var snapshotNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// snapshotPath is where the snapshot name of env is, or why name names
// none.
func snapshotPath(env layout.Env, name string) (string, error) {
	path := snapshot.Path(env, name)
	if path == name {
		return filepath.Abs(path)
	}
	if !snapshotNameRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a snapshot name: use letters, digits, dots, dashes and underscores, or a path to a .snapshot file", name)
	}
	return path, nil
}

// snapshotTarget is what a snapshot command's arguments NAME [SPEC] name:
// the environment, its name, and the snapshot's file.
type snapshotTarget struct {
	env        layout.Env
	name, path string
}

func (f *envFlags) snapshot(args []string, streams Streams) (snapshotTarget, error) {
	env, name, err := f.resolve(args[1:], streams)
	if err != nil {
		return snapshotTarget{}, err
	}
	path, err := snapshotPath(env, args[0])
	return snapshotTarget{env, name, path}, err
}

// read reads what the snapshot was taken of, or says it has none.
func (t snapshotTarget) read(snapshotName string) (snapshot.Meta, error) {
	m, err := snapshot.Read(t.path, "")
	if errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("environment %q has no snapshot %s (%s); see `kenv snapshot list`", t.name, snapshotName, t.path)
	}
	return m, err
}

func newSnapshotSaveCommand(streams Streams) *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "save NAME [SPEC]",
		Short: "Save the running environment's state as the snapshot NAME, stopping nothing",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.snapshot(args, streams)
			if err != nil {
				return err
			}
			env, name, path := t.env, t.name, t.path
			st, err := state.Read(env)
			if errors.Is(err, state.ErrNotUp) {
				return fmt.Errorf("environment %q is not up: a snapshot is taken of a running environment; `kenv up` it first", name)
			}
			if err != nil {
				return err
			}
			if st.Etcd.ClientURL == "" {
				return fmt.Errorf("environment %q swaps components of a cluster kenv did not make, whose etcd is the cluster's own: kenv has no snapshot of it", name)
			}
			start := time.Now()
			db, err := os.CreateTemp(env.Dir, "saving-*.db")
			if err != nil {
				return err
			}
			defer os.Remove(db.Name())
			saved, err := etcd.Save(cmd.Context(), st.Etcd.ClientURL, db)
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			hash, err := snapshot.SpecHash(st.Spec)
			if err != nil {
				return err
			}
			m := snapshot.Meta{Name: args[0], Environment: name, Taken: time.Now().UTC(), Spec: st.Spec, SpecHash: hash,
				Versions: st.Versions, Revision: saved.Revision, Keys: saved.Keys, DBSize: saved.Size}
			if err := snapshot.Write(path, m, db.Name()); err != nil {
				return err
			}
			info, err := os.Stat(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, " ✓ snapshot %s of %q: %d keys at revision %d, etcd's %s in %s (%s)\n   %s\n",
				args[0], name, saved.Keys, saved.Revision, size(saved.Size), size(info.Size()),
				time.Since(start).Round(100*time.Millisecond), path)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newSnapshotRestoreCommand(streams Streams) *cobra.Command {
	var (
		f     envFlags
		force bool
		o     = upOptions{detach: true}
	)
	cmd := &cobra.Command{
		Use:   "restore NAME [SPEC]",
		Short: "Put the environment back as the snapshot NAME holds it",
		Long: `Put the environment back as the snapshot NAME holds it: its components
stop, etcd's data is replaced from the snapshot, and everything starts again
in order, in the background (as up -d). The data it replaces is kept until
the restored environment is ready: a restore that fails, or that is
killed, leaves the environment's data as it was.

A snapshot taken of other versions than the environment runs is refused
unless --force. An environment that is not up needs its SPEC.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.snapshot(args, streams)
			if err != nil {
				return err
			}
			env, name, path := t.env, t.name, t.path
			m, err := t.read(args[0])
			if err != nil {
				return err
			}
			specPath := ""
			if len(args) > 1 {
				specPath = args[1]
			}
			st, err := state.Read(env)
			switch {
			case errors.Is(err, state.ErrNotUp) && specPath == "":
				return fmt.Errorf("environment %q is not up; name its spec: kenv snapshot restore %s SPEC", name, args[0])
			case errors.Is(err, state.ErrNotUp):
			case err != nil:
				return err
			default:
				// Refused before anything stops.
				if err := snapshot.Check(m, st.Versions); err != nil && !force {
					return err
				}
				if specPath == "" {
					specPath = st.Spec
				}
				if err := supervisor.Down(env, name, false, streams.Out); err != nil {
					return err
				}
			}
			fmt.Fprintf(streams.Out, " • restoring snapshot %s, taken %s (%d keys)\n", args[0], m.Taken.Local().Format(time.DateTime), m.Keys)
			o.restore, o.restoreAnyVersion = path, force
			return runUp(cmd.Context(), specPath, o, streams)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "restore a snapshot taken of other versions than the environment runs")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the components to become ready")
	return cmd
}

func newSnapshotListCommand(streams Streams) *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "list [SPEC]",
		Short: "List the environment's snapshots",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, name, err := f.resolve(args, streams)
			if err != nil {
				return err
			}
			list, err := snapshot.List(env)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintf(streams.Out, "Environment %q has no snapshots; take one with `kenv snapshot save NAME`.\n", name)
				return nil
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTAKEN\tKEYS\tSIZE\tVERSIONS")
			for _, l := range list {
				var versions []string
				for _, c := range slices.Sorted(maps.Keys(l.Versions)) {
					versions = append(versions, c+" "+l.Versions[c])
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", l.Name, l.Taken.Local().Format(time.DateTime), l.Keys, size(l.Size), strings.Join(versions, ", "))
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	return cmd
}

func newSnapshotDeleteCommand(streams Streams) *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "delete NAME [SPEC]",
		Short: "Delete the snapshot NAME",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := f.snapshot(args, streams)
			if err != nil {
				return err
			}
			if _, err := t.read(args[0]); err != nil {
				return err
			}
			if err := os.Remove(t.path); err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, " ✓ deleted snapshot %s (%s)\n", args[0], t.path)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// size is a byte count for people: "812 kB", "2.1 MB".
func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d kB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
