package app

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/spf13/cobra"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/supervisor"
)

// readyMarker ends the progress a detached supervisor sends its parent once
// the environment is ready; retainedMarker once it failed and was kept.
const (
	readyMarker    = "\x00kenv-ready"
	retainedMarker = "\x00kenv-retained"
)

type upOptions struct {
	detach     bool
	supervised bool
	timeout    time.Duration
	retain     bool
	updateLock bool
}

func newUpCommand(streams Streams) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up SPEC",
		Short: "Build and start the environment a spec describes",
		Long: `Build and start the environment SPEC describes, and wait until it is ready.

In the foreground, Ctrl-C stops everything. With -d, kenv returns once the
environment is ready and keeps it running in the background until
` + "`kenv down`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUp(cmd.Context(), args[0], o, streams)
		},
	}
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "return once ready and keep the environment running in the background")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 3*time.Minute, "how long to wait for the components to become ready")
	cmd.Flags().BoolVar(&o.retain, "retain", false, "on failure, keep what started running for inspection until `kenv down`")
	cmd.Flags().BoolVar(&o.updateLock, "update-lock", false, "build from the spec as it is and write its lock anew, instead of refusing a spec that differs from its lock")
	cmd.Flags().BoolVar(&o.supervised, "supervise", false, "run as the detached supervisor (internal)")
	_ = cmd.Flags().MarkHidden("supervise")
	return cmd
}

func runUp(ctx context.Context, specPath string, o upOptions, streams Streams) error {
	s, env, cache, err := loadSpecEnv(specPath, streams)
	if err != nil {
		return err
	}
	locked, writeLock, err := loadLock(s, o.updateLock, streams)
	if err != nil {
		return err
	}
	if err := supervisor.PrepareDirs(env, s); err != nil {
		return err
	}
	if o.detach && !o.supervised {
		return detach(ctx, s, env, o, streams)
	}

	out := streams.Out
	var ready *os.File
	if o.supervised {
		// The parent reads progress from fd 3 until the marker.
		ready = os.NewFile(3, "ready")
		// The components must not inherit it, or the parent would wait
		// for them to exit.
		syscall.CloseOnExec(3)
		out = ready
	}
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer cancel()
	running, err := supervisor.Up(ctx, supervisor.Options{
		Spec:         s,
		Env:          env,
		Cache:        cache,
		Out:          out,
		ReadyTimeout: o.timeout,
		Retain:       o.retain,
		Lock:         locked,
		WriteLock:    writeLock,
	})
	var errs *multierror.Error
	switch {
	case err != nil && running == nil && ctx.Err() != nil:
		fmt.Fprintf(out, "\nInterrupted: what had started is stopped; the next `kenv up` goes on from the caches.\n")
		return fmt.Errorf("interrupted: %w", errReported)
	case err != nil && running == nil:
		fmt.Fprintf(out, "\nError: kenv up %s: %v\n", specPath, err)
		return fmt.Errorf("%v: %w", err, errReported)
	case err != nil:
		fmt.Fprintf(out, "\nError: kenv up %s: %v\n", specPath, err)
		fmt.Fprintf(out, "\nWhat started is kept for inspection (--retain): see `kenv status --name %s`; `kenv down --name %s` stops it.\n", s.Name, s.Name)
		errs = multierror.Append(errs, errReported)
		if ready != nil {
			fmt.Fprintln(ready, retainedMarker)
			ready.Close()
		}
	default:
		running.Summary(out)
		if ready != nil {
			fmt.Fprintln(ready, readyMarker)
			ready.Close()
		} else {
			fmt.Fprintln(out, "Ctrl-C stops it.")
		}
	}
	errs = multierror.Append(errs, running.Supervise(ctx))
	errs = multierror.Append(errs, running.Stop())
	return errs.ErrorOrNil()
}

// detach starts `kenv up --supervise` in a session of its own, relays its
// progress, and returns once it reports the environment ready.
func detach(ctx context.Context, s *spec.Spec, env layout.Env, o upOptions, streams Streams) error {
	if err := env.Make(); err != nil {
		return err
	}
	logPath := env.Log("kenv")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	args := []string{"up", "--supervise", "--detach", "--timeout", o.timeout.String()}
	if o.updateLock {
		args = append(args, "--update-lock")
	}
	if o.retain {
		args = append(args, "--retain")
	}
	cmd := exec.Command(exe, append(args, s.File)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{w}
	cmd.Dir = filepath.Dir(s.File)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervisor: %w", err)
	}
	w.Close()

	// Interrupting the parent while the environment comes up stops it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}()

	sc := bufio.NewScanner(r)
	for sc.Scan() {
		switch sc.Text() {
		case readyMarker:
			fmt.Fprintf(streams.Out, "The supervisor (pid %d) logs to %s.\n", cmd.Process.Pid, logPath)
			return cmd.Process.Release()
		case retainedMarker:
			_ = cmd.Process.Release()
			return errReported
		}
		fmt.Fprintln(streams.Out, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%w; the supervisor's log is %s: %w", err, logPath, errReported)
	}
	return fmt.Errorf("the supervisor ended before the environment was ready; see %s", logPath)
}
