// Package steps runs the steps of bringing an environment up: in order,
// some side by side, the first failure cancelling the steps beside it,
// and what they did undone, last first, when the environment is taken
// down or a step fails, the way kind creates a cluster.
//
// Steps side by side are undone one after another, the last listed
// first: a row that starts etcd and, beside it, kube-apiserver stops
// kube-apiserver before etcd.
package steps

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/hashicorp/go-multierror"
)

// Step is one thing up does.
type Step struct {
	// Title, when set, is printed with the step's outcome and duration.
	Title string
	Do    func(ctx context.Context, pr *Progress) error
	// Undo reverses what Do did, whole or in part: it runs on rollback
	// whether Do succeeded or failed. Nil when there is nothing to undo.
	Undo func() error
}

// Runner runs steps and remembers how to undo those that ran.
type Runner struct {
	Progress *Progress
	mu       sync.Mutex
	undo     [][]func() error
}

// errBeside cancels the steps running beside one that failed.
var errBeside = errors.New("a step beside it failed")

// Run runs steps side by side and returns their failures together. The
// first failure cancels the context the others run with, so that a
// certificate error does not wait for a build of minutes; the
// cancellations that causes are not failures of their own.
func (r *Runner) Run(ctx context.Context, steps ...Step) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// In the order listed, whatever order the steps end in.
	undone := make([]func() error, len(steps))
	for i, s := range steps {
		wg.Go(func() {
			end := func(error) {}
			if s.Title != "" {
				end = r.Progress.Step(s.Title)
			}
			err := s.Do(ctx, r.Progress)
			end(err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				cancel(errBeside)
			}
			undone[i] = s.Undo
		})
	}
	wg.Wait()
	r.mu.Lock()
	r.undo = append(r.undo, undone)
	r.mu.Unlock()
	stopped := errors.Is(context.Cause(ctx), errBeside)
	var result *multierror.Error
	for _, err := range errs {
		if !stopped || !errors.Is(err, context.Canceled) {
			result = multierror.Append(result, err)
		}
	}
	if result != nil && len(result.Errors) == 1 {
		// One failure reads as itself.
		return result.Errors[0]
	}
	return result.ErrorOrNil()
}

// Rollback undoes what the steps run so far did, the last run first, those
// that ran side by side the last listed first. Every undo runs, whatever
// another did; their failures are returned together.
func (r *Runner) Rollback() error {
	r.mu.Lock()
	stages := r.undo
	r.undo = nil
	r.mu.Unlock()
	var result *multierror.Error
	for _, undos := range slices.Backward(stages) {
		for _, undo := range slices.Backward(undos) {
			if undo == nil {
				continue
			}
			if err := undo(); err != nil {
				result = multierror.Append(result, err)
			}
		}
	}
	return result.ErrorOrNil()
}

// Together is one step of steps run side by side, as Run runs them, for
// steps with nothing to undo.
func Together(steps ...Step) Step {
	return Step{Do: func(ctx context.Context, pr *Progress) error {
		return (&Runner{Progress: pr}).Run(ctx, steps...)
	}}
}

// Seq is one step of steps run one after another, the first failure ending
// it; it undoes them, the last first.
func Seq(steps ...Step) Step {
	return Step{
		Do: func(ctx context.Context, pr *Progress) error {
			for _, s := range steps {
				end := func(error) {}
				if s.Title != "" {
					end = pr.Step(s.Title)
				}
				err := s.Do(ctx, pr)
				end(err)
				if err != nil {
					return err
				}
			}
			return nil
		},
		Undo: func() error {
			var errs *multierror.Error
			for _, s := range slices.Backward(steps) {
				if s.Undo != nil {
					errs = multierror.Append(errs, s.Undo())
				}
			}
			return errs.ErrorOrNil()
		},
	}
}
