package supervisor

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/spec"
)

// envLock is held by the one process that supervises an environment. The
// kernel drops it when that process dies, so a lock is never stale.
type envLock struct {
	f *os.File
}

// ErrLocked means another process supervises the environment.
var ErrLocked = errors.New("environment is locked by another kenv process")

func acquire(env layout.Env) (*envLock, error) {
	if err := env.Make(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(env.LockFile(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", env.LockFile(), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", env.LockFile(), err)
	}
	return &envLock{f: f}, nil
}

func (l *envLock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// locked reports whether a process holds the environment's lock.
func locked(env layout.Env) bool {
	l, err := acquire(env)
	if err != nil {
		return errors.Is(err, ErrLocked)
	}
	l.release()
	return false
}

// PrepareDirs points the environment's log and etcd directories where s
// says, unless the environment is up: its supervisor uses them.
func PrepareDirs(env layout.Env, s *spec.Spec) error {
	l, err := acquire(env)
	if errors.Is(err, ErrLocked) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.release()
	return env.UseDirs(s.Log.Dir, s.Etcd.DataDir)
}
