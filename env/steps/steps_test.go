package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// run runs fns side by side as untitled steps.
func run(ctx context.Context, fns ...func(context.Context) error) error {
	var steps []Step
	for _, fn := range fns {
		steps = append(steps, Step{Do: func(ctx context.Context, _ *Progress) error { return fn(ctx) }})
	}
	return (&Runner{Progress: NewProgress(io.Discard)}).Run(ctx, steps...)
}

func TestRun(t *testing.T) {
	certs := errors.New("write certificates: disk full")
	t.Run("the first failure stops the others", func(t *testing.T) {
		buildStopped := make(chan struct{})
		err := run(context.Background(),
			func(context.Context) error { return certs },
			func(ctx context.Context) error {
				select {
				case <-ctx.Done():
					close(buildStopped)
					return fmt.Errorf("go build: %w", ctx.Err())
				case <-time.After(10 * time.Second):
					return errors.New("the build was not cancelled")
				}
			},
		)
		select {
		case <-buildStopped:
		default:
			t.Fatal("the build did not see the cancellation")
		}
		if err == nil || err != certs {
			t.Errorf("Run returned %v, want only the certificate failure", err)
		}
	})
	t.Run("every failure is kept", func(t *testing.T) {
		other := errors.New("install Delve: exit status 1")
		err := run(context.Background(),
			func(context.Context) error { return certs },
			func(context.Context) error { time.Sleep(50 * time.Millisecond); return other },
		)
		if err == nil || !strings.Contains(err.Error(), certs.Error()) || !strings.Contains(err.Error(), other.Error()) {
			t.Errorf("Run returned %v, want both failures", err)
		}
	})
	t.Run("an interrupted up is reported", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want the interruption", err)
		}
	})
}

// TestRollback undoes, last first, the steps that ran, the one that failed
// included: it may have done part of its work; of steps side by side, the
// last listed first.
func TestRollback(t *testing.T) {
	var undone []string
	var out strings.Builder
	r := &Runner{Progress: NewProgress(&out)}
	step := func(name string, fail bool) Step {
		return Step{
			Title: name,
			Do: func(context.Context, *Progress) error {
				if fail {
					return errors.New(name + " failed")
				}
				return nil
			},
			Undo: func() error { undone = append(undone, name); return nil },
		}
	}
	if err := r.Run(context.Background(), step("certificates", false)); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), step("etcd", false), step("kube-apiserver", false)); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), step("kube-scheduler", true)); err == nil {
		t.Fatal("a failed step did not fail Run")
	}
	if err := r.Rollback(); err != nil {
		t.Fatal(err)
	}
	// etcd and kube-apiserver ran side by side: the one listed last is
	// undone first.
	if fmt.Sprint(undone) != "[kube-scheduler kube-apiserver etcd certificates]" {
		t.Errorf("undone %v, want [kube-scheduler kube-apiserver etcd certificates]", undone)
	}
	for _, want := range []string{" ✓ etcd (", " ✗ kube-scheduler ("} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
	undone = nil
	if err := r.Rollback(); err != nil || len(undone) != 0 {
		t.Errorf("a second rollback undid %v (%v)", undone, err)
	}
}
