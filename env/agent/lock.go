package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// lock is held by the one process that works on a component's manifest:
// an agent for as long as it runs, or a restore. The kernel drops it when
// the process dies, so it is never stale.
type lock struct{ f *os.File }

// errHeld means another process holds the lock.
var errHeld = errors.New("held")

// tryLock takes p's lock if it is free.
func tryLock(p paths) (*lock, error) {
	if err := os.MkdirAll(p.own(), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p.lock(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errHeld
		}
		return nil, fmt.Errorf("lock %s: %w", p.lock(), err)
	}
	return &lock{f: f}, nil
}

func (l *lock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}

// takeLock takes p's lock, asking the agent that holds it to let go with
// sig (SIGUSR1: hand over; SIGTERM: restore now), for up to wait. A
// restore holds the lock without an agent.pid; it is waited for.
func takeLock(ctx context.Context, p paths, sig syscall.Signal, wait time.Duration) (*lock, process.ID, error) {
	var l *lock
	var holder process.ID
	signalled := map[process.ID]bool{}
	var err error
	taken := func() bool {
		if l, err = tryLock(p); !errors.Is(err, errHeld) {
			return true
		}
		if id, ok := agentPid(p); ok {
			holder = id
			if !signalled[id] {
				signalled[id] = true
				_ = syscall.Kill(id.Pid, sig)
			}
		}
		return false
	}
	if !taken() { // tried once even when wait is 0
		process.WaitFor(ctx, wait, taken)
	}
	switch {
	case l != nil:
		return l, holder, nil
	case err != nil && !errors.Is(err, errHeld):
		return nil, holder, err
	case ctx.Err() != nil:
		return nil, holder, ctx.Err()
	}
	return nil, holder, errHeld
}

// writePid says which agent holds p's lock.
func writePid(p paths) error {
	id := process.IDOf(os.Getpid())
	return writeSynced(p.pid(), fmt.Appendf(nil, "%d %d\n", id.Pid, id.Start), 0o600)
}

// agentPid is the agent that holds, or held, p's lock, if it runs.
func agentPid(p paths) (process.ID, bool) {
	raw, err := os.ReadFile(p.pid())
	if err != nil {
		return process.ID{}, false
	}
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return process.ID{}, false
	}
	pid, err1 := strconv.Atoi(fields[0])
	start, err2 := strconv.ParseUint(fields[1], 10, 64)
	id := process.ID{Pid: pid, Start: start}
	if err1 != nil || err2 != nil || pid == os.Getpid() || !id.Alive() {
		return process.ID{}, false
	}
	return id, true
}
