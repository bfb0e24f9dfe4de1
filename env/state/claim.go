package state

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
)

// Claim is held by the one process that supervises an environment: a
// flock on a file in its directory, which the kernel drops when that
// process dies, so a claim is never stale.
type Claim struct {
	f *os.File
}

// ErrClaimed means another process supervises the environment.
var ErrClaimed = errors.New("environment is claimed by another kenv process")

// Take claims env for this process.
func Take(env layout.Env) (*Claim, error) {
	if err := env.Make(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(env.ClaimFile(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", env.ClaimFile(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrClaimed
		}
		return nil, fmt.Errorf("lock %s: %w", env.ClaimFile(), err)
	}
	return &Claim{f: f}, nil
}

// Release gives the claim up.
func (l *Claim) Release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// Claimed reports whether a process holds env's claim.
func Claimed(env layout.Env) bool {
	l, err := Take(env)
	if err != nil {
		return errors.Is(err, ErrClaimed)
	}
	l.Release()
	return false
}

// PrepareDirs points the environment's log and etcd directories where s
// says, unless the environment is up: its supervisor uses them.
func PrepareDirs(env layout.Env, s *spec.Spec) error {
	l, err := Take(env)
	if errors.Is(err, ErrClaimed) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.Release()
	return env.UseDirs(s.Log.Dir, s.Etcd.DataDir)
}
