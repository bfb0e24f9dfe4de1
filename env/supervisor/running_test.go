package supervisor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/control"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/env/state"
)

// These tests run the supervisor's own code (start, watch, restart with
// back-off, readiness, the control socket, Stop) on sh children in place
// of Kubernetes components, in seconds.

// healthy answers 200 to every health check.
var healthy = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})

// newTestRunning returns an environment whose components are sh scripts,
// ready when handler answers 200, with its state recorded.
func newTestRunning(t *testing.T, handler http.Handler, scripts map[string]string) *Running {
	t.Helper()
	env := layout.NewEnv(t.TempDir(), "t")
	if err := os.MkdirAll(env.LogDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	r := newRunning(Options{Spec: &spec.Spec{Name: "t"}, Env: env, Out: io.Discard, ReadyTimeout: 2 * time.Second})
	r.plan = &plan.Plan{Name: "t"}
	for name, script := range scripts {
		r.plan.Components = append(r.plan.Components, plan.Component{
			Name: name, Binary: "/bin/sh", Args: []string{"-c", script}, LogPath: env.Log(name),
			HealthURL: srv.URL, Address: "127.0.0.1:0", RestartOnFailure: true,
		})
	}
	r.health = srv.Client()
	r.state = &state.State{Name: "t"}
	t.Cleanup(func() { r.Stop() })
	return r
}

func names(cs []plan.Component) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func (r *Running) statusOf(name string) state.Status {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	for _, c := range r.state.Components {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBackoffRestartsAFailedComponent(t *testing.T) {
	firstBackoff = 10 * time.Millisecond
	t.Cleanup(func() { firstBackoff = time.Second })
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	up := filepath.Join(dir, "up")
	// Fails its first two runs, then stays up, and is healthy once up.
	script := `echo run >> ` + starts + `; [ "$(wc -l < ` + starts + `)" -ge 3 ] && touch ` + up + ` && exec sleep 60; exit 1`
	health := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, err := os.Stat(up); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	r := newTestRunning(t, health, map[string]string{"flaky": script})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third run is ready", func() bool { return r.statusOf("flaky") == state.Ready })
	raw, _ := os.ReadFile(starts)
	if n := strings.Count(string(raw), "run"); n != 3 {
		t.Errorf("started %d times, want 3", n)
	}
}

// followersDone waits until the followers of the component processes have
// returned: each exit is recorded and whether to restart decided, and
// nothing starts again unless asked.
func followersDone(t *testing.T, r *Running) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		r.followers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting until the exits are handled")
	}
}

func TestBackoffGivesUp(t *testing.T) {
	firstBackoff = 5 * time.Millisecond
	t.Cleanup(func() { firstBackoff = time.Second })
	starts := filepath.Join(t.TempDir(), "starts")
	r := newTestRunning(t, http.NotFoundHandler(), map[string]string{"broken": `echo run >> ` + starts + `; exit 3`})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	followersDone(t, r)
	if raw, _ := os.ReadFile(starts); strings.Count(string(raw), "run") != maxRestarts+1 || r.statusOf("broken") != "exited with code 3" {
		t.Errorf("given up, it ran %d times, want %d, and is %q", strings.Count(string(raw), "run"), maxRestarts+1, r.statusOf("broken"))
	}
}

func TestStopInterruptsTheBackoff(t *testing.T) {
	firstBackoff = time.Hour
	t.Cleanup(func() { firstBackoff = time.Second })
	r := newTestRunning(t, healthy, map[string]string{"broken": `exit 1`})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a restart is due", func() bool { return strings.HasPrefix(string(r.statusOf("broken")), "restarting in 1h0m0s") })
	start := time.Now()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %s while a restart waited", d)
	}
}

// TestStopDuringTheBackoffHolds: `kenv stop` while a restart is due
// cancels the restart.
func TestStopDuringTheBackoffHolds(t *testing.T) {
	// The test ends the back-off, once it has stopped the component; any
	// after it, of a restart that should not have been, end at once.
	began := make(chan chan time.Time, 1)
	var held atomic.Bool
	backoffAfter = func(time.Duration) <-chan time.Time {
		end := make(chan time.Time, 1)
		if held.CompareAndSwap(false, true) {
			began <- end
		} else {
			end <- time.Now()
		}
		return end
	}
	t.Cleanup(func() { backoffAfter = time.After })
	starts := filepath.Join(t.TempDir(), "starts")
	r := newTestRunning(t, healthy, map[string]string{"broken": `echo run >> ` + starts + `; exit 1`})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	var end chan time.Time
	select {
	case end = <-began:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the back-off")
	}
	if err := r.Handle(context.Background(), control.Request{Component: "broken", Action: control.Stop}, io.Discard); err != nil {
		t.Fatal(err)
	}
	end <- time.Now()
	followersDone(t, r)
	if raw, _ := os.ReadFile(starts); strings.Count(string(raw), "run") != 1 || r.statusOf("broken") != state.Stopped {
		t.Errorf("stopped during its back-off, it ran %d times and is %q", strings.Count(string(raw), "run"), r.statusOf("broken"))
	}
}

func TestWaitReady(t *testing.T) {
	unavailable := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	for _, tt := range []struct {
		name    string
		handler http.Handler
		script  string
		want    []string
	}{
		{"ready", healthy, `exec sleep 60`, nil},
		{"exits", unavailable, `echo "E0101 cannot listen"; exit 3`, []string{"c exited with code 3", "E0101 cannot listen"}},
		{"times out", unavailable, `exec sleep 60`, []string{"c is not ready after 2s (last answer: 503 Service Unavailable)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			firstBackoff = time.Hour
			t.Cleanup(func() { firstBackoff = time.Second })
			r := newTestRunning(t, tt.handler, map[string]string{"c": tt.script})
			err := r.run.Run(context.Background(), r.startComponents(r.plan.Components))
			if err == nil {
				err = r.run.Run(context.Background(), r.waitReady(names(r.plan.Components)))
			}
			if tt.want == nil {
				if err != nil || r.statusOf("c") != state.Ready {
					t.Errorf("%v, status %q", err, r.statusOf("c"))
				}
				return
			}
			for _, want := range tt.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v lacks %q", err, want)
				}
			}
		})
	}
}

// TestControl stops and restarts a component through the control socket,
// as `kenv stop` and `kenv restart` do; the other keeps running.
func TestControl(t *testing.T) {
	r := newTestRunning(t, healthy, map[string]string{"a": `exec sleep 60`, "b": `exec sleep 60`})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	stop, err := control.Serve(r.opts.Env.ControlSocket(), r)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	a, b := r.unit("a"), r.unit("b")
	pidA, pidB := a.proc.Pid(), b.proc.Pid()
	var out strings.Builder
	ask := func(action control.Action) error {
		return control.Ask(context.Background(), r.opts.Env.ControlSocket(), control.Request{Component: "a", Action: action}, &out)
	}
	if err := ask(control.Stop); err != nil {
		t.Fatal(err)
	}
	if r.statusOf("a") != state.Stopped || a.proc.Exit() == "" {
		t.Errorf("after stop: status %q, exit %q", r.statusOf("a"), a.proc.Exit())
	}
	if err := ask(control.Restart); err != nil {
		t.Fatal(err)
	}
	if r.statusOf("a") != state.Ready || a.proc.Pid() == pidA || a.proc.Exit() != "" {
		t.Errorf("after restart: status %q, pid %d (was %d)", r.statusOf("a"), a.proc.Pid(), pidA)
	}
	if b.proc.Pid() != pidB || b.proc.Exit() != "" {
		t.Errorf("b was touched by a's restart")
	}
	if !strings.Contains(out.String(), "✓ stop a (") || !strings.Contains(out.String(), "✓ a ready at ") {
		t.Errorf("progress:\n%s", out.String())
	}
	err = control.Ask(context.Background(), r.opts.Env.ControlSocket(), control.Request{Component: "nope", Action: control.Restart}, &out)
	if err == nil || err.Error() != `no component "nope" runs here` {
		t.Errorf("restart of an unknown component: %v", err)
	}
}

func TestDetach(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "kenv.log")
	for _, tt := range []struct {
		name, script, want string
	}{
		{"ready", `echo " ✓ etcd" >&3; printf '\000kenv-ready\n' >&3; exec sleep 60`, ""},
		{"kept", `printf '\000kenv-retained\n' >&3; exec sleep 60`, ErrKept.Error()},
		{"failed", `echo "Error: kenv up: port 6443 is in use" >&3; printf '\000kenv-failed\n' >&3; exit 1`, ErrFailed.Error()},
		{"died", `echo "panic: boom"; exit 2`, "the supervisor failed (exit status 2); its log is " + log},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := Detach([]string{"/bin/sh", "-c", tt.script}, dir, log, &out)
			if got := errString(err); got != tt.want {
				t.Errorf("Detach: %q, want %q", got, tt.want)
			}
			if tt.name == "ready" && !strings.HasPrefix(out.String(), " ✓ etcd\nThe supervisor (pid ") {
				t.Errorf("relayed %q", out.String())
			}
			// The supervisor's error is shown once, as it said it.
			if tt.name == "failed" && out.String() != "Error: kenv up: port 6443 is in use\n" {
				t.Errorf("relayed %q", out.String())
			}
		})
	}
	if raw, _ := os.ReadFile(log); !strings.Contains(string(raw), "panic: boom") {
		t.Errorf("the supervisor's output is not in its log: %q", raw)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestFailedStartIsUndone starts two components of which the second
// cannot start: the rollback stops the first, which did.
func TestFailedStartIsUndone(t *testing.T) {
	r := newTestRunning(t, healthy, map[string]string{"a": `exec sleep 60`})
	r.plan.Components = append(r.plan.Components, plan.Component{Name: "b", Binary: "/no/such/binary", LogPath: r.opts.Env.Log("b")})
	if err := r.run.Run(context.Background(), r.startComponents(r.plan.Components)); err == nil {
		t.Fatal("a component without a binary started")
	}
	a := r.unit("a")
	if a.proc.Exit() != "" {
		t.Fatal("a stopped before the rollback")
	}
	if err := r.run.Rollback(); err != nil {
		t.Fatal(err)
	}
	if a.proc.Exit() == "" {
		t.Error("the rollback left a running")
	}
}
