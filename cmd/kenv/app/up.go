package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/supervisor"
)

type upOptions struct {
	detach     bool
	supervised bool
	timeout    time.Duration
	retain     bool
	updateLock bool
	noDebug    bool
	watch      bool
	// restore is a snapshot to start from; restoreAnyVersion restores
	// one taken of other versions.
	restore           string
	restoreAnyVersion bool
}

func newUpCommand(streams Streams) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up SPEC",
		Short: "Build and start the environment a spec describes",
		Long: `Build and start the environment SPEC describes, and wait until it is ready.

In the foreground, Ctrl-C stops everything. With -d, kenv returns once the
environment is ready and keeps it running in the background until
` + "`kenv down`" + `.

With --watch, each save in the checkout a spec builds from
(kubernetes { path }) rebuilds the binaries compiled from the changed
packages, the component nearest the change first, and restarts those whose
code changed with the same flags, under Delve again with their breakpoints;
the others keep running. A build that fails stops nothing. A save of the spec restarts the components whose
flags changed. One line per save says what happened: in the terminal, or
with -d in ` + "`kenv logs kenv`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), args[0], o, streams)
		},
	}
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "return once ready and keep the environment running in the background")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the components to become ready")
	cmd.Flags().BoolVar(&o.retain, "retain", false, "on failure, keep what started running for inspection until `kenv down`")
	cmd.Flags().BoolVar(&o.updateLock, "update-lock", false, "build from the spec as it is and write its lock anew, instead of refusing a spec that differs from its lock")
	cmd.Flags().BoolVar(&o.noDebug, "no-debug", false, "run every component without Delve this time, whatever the spec says (the build is the same)")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "rebuild and restart what each save in the checkout (kubernetes { path }) touches, and apply each save of the spec")
	cmd.Flags().StringVar(&o.restore, "restore", "", "start from the snapshot `NAME` (see `kenv snapshot`): etcd's data is replaced by it, the data it replaces kept until ready")
	cmd.Flags().BoolVar(&o.restoreAnyVersion, "restore-any-version", false, "with --restore, restore a snapshot taken of other versions than the spec's")
	cmd.Flags().BoolVar(&o.supervised, "supervise", false, "run as the detached supervisor (internal)")
	_ = cmd.Flags().MarkHidden("supervise")
	return cmd
}

func runUp(ctx context.Context, specPath string, o upOptions, streams Streams) error {
	s, env, cache, err := loadSpecEnv(specPath, streams)
	if err != nil {
		return err
	}
	if o.noDebug {
		s.WithoutDelve()
	}
	locked, writeLock, err := loadLock(s, o.updateLock, streams)
	if err != nil {
		return err
	}
	if err := state.PrepareDirs(env, s); err != nil {
		return err
	}
	if o.restore != "" {
		if s.Cluster != nil {
			return fmt.Errorf("--restore: %s swaps components of a cluster kenv did not make, whose etcd is the cluster's own", specPath)
		}
		if o.restore, err = snapshotPath(env, o.restore); err != nil {
			return err
		}
		if _, err := os.Stat(o.restore); err != nil {
			return fmt.Errorf("--restore: %w; see `kenv snapshot list`", err)
		}
	}
	if o.detach && !o.supervised {
		return detach(s, env, o, streams)
	}

	out := streams.Out
	var parent *supervisor.Parent
	if o.supervised {
		parent = supervisor.ParentOf()
		out = parent
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	running, err := supervisor.Up(ctx, supervisor.Options{
		Spec:              s,
		Env:               env,
		Cache:             cache,
		Out:               out,
		ReadyTimeout:      o.timeout,
		Retain:            o.retain,
		Lock:              locked,
		WriteLock:         writeLock,
		Restore:           o.restore,
		RestoreAnyVersion: o.restoreAnyVersion,
	})
	var errs *multierror.Error
	switch {
	case err != nil && running == nil && ctx.Err() != nil:
		fmt.Fprintf(out, "\nInterrupted: what had started is stopped; the next `kenv up` goes on from the caches.\n")
		if parent != nil {
			parent.Failed()
		}
		return fmt.Errorf("interrupted: %w", errReported)
	case err != nil && running == nil:
		fmt.Fprintf(out, "\nError: kenv up %s: %v\n", specPath, err)
		if parent != nil {
			parent.Failed()
		}
		return fmt.Errorf("%v: %w", err, errReported)
	case err != nil:
		fmt.Fprintf(out, "\nError: kenv up %s: %v\n", specPath, err)
		fmt.Fprintf(out, "\nWhat started is kept for inspection (--retain): see `kenv status --name %s`; `kenv down --name %s` stops it.\n", s.Name, s.Name)
		errs = multierror.Append(errs, errReported)
		if parent != nil {
			parent.Kept()
		}
	default:
		running.Summary(out)
		if parent != nil {
			parent.Ready()
		} else {
			fmt.Fprintln(out, "Ctrl-C stops it.")
		}
		if o.watch {
			// A detached supervisor's, once ready, goes to its log.
			go watch(ctx, running, specPath, o, Streams{Out: out, Err: out})
		}
	}
	errs = multierror.Append(errs, running.Supervise(ctx))
	errs = multierror.Append(errs, running.Stop())
	return errs.ErrorOrNil()
}

// detach starts `kenv up --supervise` in the background and returns once
// it reports the environment ready.
func detach(s *spec.Spec, env layout.Env, o upOptions, streams Streams) error {
	if err := env.Make(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	argv := []string{exe, "up", "--supervise", "--detach", "--timeout", o.timeout.String()}
	if o.updateLock {
		argv = append(argv, "--update-lock")
	}
	if o.retain {
		argv = append(argv, "--retain")
	}
	if o.noDebug {
		argv = append(argv, "--no-debug")
	}
	if o.watch {
		argv = append(argv, "--watch")
	}
	if o.restore != "" {
		argv = append(argv, "--restore", o.restore)
	}
	if o.restoreAnyVersion {
		argv = append(argv, "--restore-any-version")
	}
	err = supervisor.Detach(append(argv, s.File), filepath.Dir(s.File), env.Log("kenv"), streams.Out)
	if errors.Is(err, supervisor.ErrKept) || errors.Is(err, supervisor.ErrFailed) {
		return errReported
	}
	return err
}

// watch runs the watch loop of --watch until ctx ends; a loop that cannot
// go on says why, and the environment keeps running.
func watch(ctx context.Context, running *supervisor.Running, specPath string, o upOptions, streams Streams) {
	loadSpec := func() (*spec.Spec, error) {
		s, _, _, err := loadSpecEnv(specPath, streams)
		if err == nil {
			if o.noDebug {
				s.WithoutDelve()
			}
			_, _, err = loadLock(s, false, streams)
		}
		if errors.Is(err, errReported) {
			return nil, errors.New("see above")
		}
		return s, err
	}
	if err := running.Watch(ctx, streams.Out, loadSpec); err != nil {
		fmt.Fprintf(streams.Out, "\nError: %v; the environment keeps running, without watching.\n", err)
	}
}
