package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/kenv-dev/kenv/env/process"
)

// killWait bounds the wait for an agent that did not finish when told to
// let go after SIGKILL.
const killWait = 10 * time.Second

// Restore puts back the manifests kenv put aside in dir. An agent that
// still runs is told to restore now (SIGTERM) and given up to wait; one that
// does not finish by then is killed, and Restore does its work. Processes of
// a debug build an agent that died left are stopped first. Without a record
// there is nothing to do: Restore may run any number of times.
func Restore(dir string, wait time.Duration) error {
	if err := checkRoot(); err != nil {
		return err
	}
	var errs *multierror.Error
	for _, component := range slices.Sorted(maps.Keys(defaultPort)) {
		p := paths{dir, component}
		if _, err := os.Stat(p.own()); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := restore(p, wait); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("restore %s: %w", component, err))
		}
	}
	return errs.ErrorOrNil()
}

func restore(p paths, wait time.Duration) error {
	l, holder, err := takeLock(context.Background(), p, syscall.SIGTERM, wait)
	if errors.Is(err, errHeld) && holder.Alive() {
		_ = syscall.Kill(holder.Pid, syscall.SIGKILL)
		l, _, err = takeLock(context.Background(), p, syscall.SIGKILL, killWait)
	}
	if errors.Is(err, errHeld) {
		return fmt.Errorf("%s holds %s and did not let go within %s", describe(holder), p.lock(), wait)
	}
	if err != nil {
		return err
	}
	defer l.release()
	_, err = restoreLocked(p)
	return err
}

// restoreLocked stops what a debug build left running and puts the
// manifest back, for the holder of p's lock. It reports whether there was
// a manifest to put back.
func restoreLocked(p paths) (bool, error) {
	if err := process.StopAll(p.component, readRunning(p), stopTimeout); err != nil {
		return false, err
	}
	r, err := readRecord(p)
	if err != nil || r == nil {
		return false, err
	}
	return true, putBack(p)
}
