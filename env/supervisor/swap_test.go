package supervisor

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/steps"
)

// TestRestartDuringASpecEdit restarts a component, as `kenv restart` and
// a restart after a failure do, while an edited spec waits to be applied
// to it, as the watch loop applies it: the restart goes after the edit and
// restarts the component as the edited spec says, and, under -race, it
// reads the plan only once the edit has replaced it.
func TestRestartDuringASpecEdit(t *testing.T) {
	r := newTestRunning(t, healthy, map[string]string{"a": `exec sleep 60`})
	ctx := context.Background()
	if err := r.run.Run(ctx, r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	next := *r.plan
	next.Components = slices.Clone(next.Components)
	next.Components[0].Args = []string{"-c", "exec sleep 61"}
	edited := next.Components[0]

	// The test holds the lock as a swap in progress would: the edit waits
	// for it first, then the restart, and both go once it is let go.
	r.restartMu.Lock()
	release := sync.OnceFunc(r.restartMu.Unlock)
	defer release()
	var wg sync.WaitGroup
	var swapErr, restartErr error
	wg.Go(func() {
		_, swapErr = r.swap(ctx, swap{restart: []plan.Component{edited}, next: &next, change: "t.hcl"}, steps.NewNotes(io.Discard))
	})
	waitForLock(t, "(*Running).swap(")
	wg.Go(func() { restartErr = r.Restart(ctx, "a", nil, io.Discard) })
	waitForLock(t, "(*Running).Restart(")
	release()
	wg.Wait()
	if swapErr != nil || restartErr != nil {
		t.Fatalf("edit: %v; restart: %v", swapErr, restartErr)
	}
	if got := r.unit("a").component().Args; !slices.Equal(got, edited.Args) {
		t.Errorf("a runs %q after the edit and a restart, want %q", got, edited.Args)
	}
}

// waitForLock waits until a goroutine in fn waits for a mutex. It looks
// at the goroutines' stacks, which, unlike a channel, tells the race
// detector nothing about the order of what they did.
func waitForLock(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range bytes.Split(buf[:n], []byte("\n\n")) {
			if bytes.Contains(g, []byte("[sync.Mutex.Lock")) && bytes.Contains(g, []byte(fn)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s waits for a lock", fn)
		}
		time.Sleep(time.Millisecond)
	}
}
