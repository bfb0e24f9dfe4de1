package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

const buildUp = "fake kube-apiserver up as build with 28 flags"

func TestSessionEndRestoresAfterGrace(t *testing.T) {
	f := newFixture(t)
	original, _ := os.ReadFile(f.manifest)
	k := startKubelet(t, f, false)
	const grace = 2 * time.Second
	a := f.startAgent(t, f.swap(grace))
	a.waitOut(t, buildUp, 20*time.Second)

	p := paths{f.dir, "kube-apiserver"}
	if f.manifestThere() {
		t.Fatal("the manifest is in place while the build runs")
	}
	if running, _, _, removals := k.state(); running || !slices.Equal(removals, []bool{true}) {
		t.Fatalf("pod running %v; record and copy there at each removal: %v", running, removals)
	}
	if saved, _ := os.ReadFile(filepath.Join(p.aside(), "kube-apiserver.yaml")); string(saved) != string(original) {
		t.Errorf("the saved copy differs from the manifest")
	}
	build := readRunning(p)
	if len(build) == 0 || !build[0].Alive() {
		t.Fatalf("running.json: %v", build)
	}

	ended := time.Now()
	a.endSession()
	a.waitOut(t, "stopped kube-apiserver", 15*time.Second)
	if build[0].Alive() {
		t.Errorf("the build runs after the session ended")
	}
	if time.Since(ended) < grace && f.manifestThere() {
		t.Errorf("the manifest is back before the grace is over")
	}
	if code := a.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if time.Since(ended) < grace {
		t.Errorf("the agent put the manifest back %s after the session ended, within the grace of %s", time.Since(ended), grace)
	}
	if back, _ := os.ReadFile(f.manifest); string(back) != string(original) {
		t.Errorf("the manifest put back differs:\n%s", back)
	}
	for _, gone := range []string{p.record(), filepath.Join(p.aside(), "kube-apiserver.yaml"), p.running(), p.pid()} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s is left", gone)
		}
	}
	eventually(t, 10*time.Second, "the kubelet runs the pod again", func() bool { running, _, _, _ := k.state(); return running })
	log, _ := os.ReadFile(p.log())
	for _, want := range []string{buildUp, "kenv-agent: moved " + f.manifest + " aside", "kenv-agent: put " + f.manifest + " back"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

func TestHandOverKeepsManifestAside(t *testing.T) {
	f := newFixture(t)
	k := startKubelet(t, f, false)
	first := f.startAgent(t, f.swap(5*time.Second))
	first.waitOut(t, buildUp, 20*time.Second)
	first.endSession()
	first.waitOut(t, "waiting 5s for a new session", 15*time.Second)

	// A grace long enough that only Restore puts the manifest back.
	second := f.startAgent(t, f.swap(time.Minute))
	if code := first.wait(t, 15*time.Second); code != 0 {
		t.Errorf("the first agent's exit code %d", code)
	}
	if !strings.Contains(first.out.String(), "handed over to a new session") {
		t.Errorf("the first agent did not hand over:\n%s", first.out)
	}
	second.waitOut(t, "took over from the agent pid", 10*time.Second)
	second.waitOut(t, buildUp, 20*time.Second)
	if _, _, appeared, removals := k.state(); appeared != 0 || len(removals) != 1 {
		t.Fatalf("between sessions the manifest appeared %d times and left %d", appeared, len(removals))
	}

	start := time.Now()
	if err := Restore(f.dir, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("Restore took %s: the agent did not restore at once", took)
	}
	if code := second.wait(t, 5*time.Second); code != 0 {
		t.Errorf("the second agent's exit code %d", code)
	}
	if !f.manifestThere() {
		t.Error("the manifest is not back")
	}
	eventually(t, 5*time.Second, "the manifest appeared once", func() bool { _, _, appeared, _ := k.state(); return appeared == 1 })
}

func TestHandOverLiveSession(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, false)
	first := f.startAgent(t, f.swap(time.Minute))
	first.waitOut(t, buildUp, 20*time.Second)
	second := f.startAgent(t, f.swap(time.Minute))
	if code := first.wait(t, 15*time.Second); code != 0 || !strings.Contains(first.out.String(), "a new session takes over") {
		t.Errorf("exit code %d:\n%s", code, first.out)
	}
	second.waitOut(t, buildUp, 20*time.Second)
	if f.manifestThere() {
		t.Error("the manifest came back on a hand-over")
	}
	if err := syscall.Kill(second.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(t, 15*time.Second); code != 0 || !f.manifestThere() {
		t.Errorf("after SIGTERM: exit code %d, manifest back %v", code, f.manifestThere())
	}
}

func TestSilentSessionIsGone(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, false)
	a := f.startAgent(t, f.swap(2*time.Second))
	a.waitOut(t, buildUp, 20*time.Second)
	a.stopBeat() // the connection stays open, silent
	a.waitOut(t, "no word from kenv for 1s", 10*time.Second)
	if code := a.wait(t, 15*time.Second); code != 0 || !f.manifestThere() {
		t.Errorf("exit code %d, manifest back %v", code, f.manifestThere())
	}
}

func TestHangUp(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, false)
	a := f.startAgent(t, f.swap(time.Second))
	a.waitOut(t, buildUp, 20*time.Second)
	a.hangUp()
	if code := a.wait(t, 15*time.Second); code != 0 || !f.manifestThere() {
		t.Errorf("exit code %d, manifest back %v, stderr %s", code, f.manifestThere(), a.err)
	}
	log, _ := os.ReadFile(paths{f.dir, "kube-apiserver"}.log())
	if !strings.Contains(string(log), "kenv-agent: put "+f.manifest+" back") {
		t.Errorf("the log does not say the manifest is back:\n%s", log)
	}
}

func TestBuildExitIsReported(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, false)
	a := f.startAgent(t, f.swap(time.Second), "KENV_FAKE_EXIT=3")
	a.waitOut(t, "kenv-agent: kube-apiserver exited: exited with code 3", 20*time.Second)
	if code := a.wait(t, 15*time.Second); code != 1 || !strings.Contains(a.err.String(), "kube-apiserver exited with code 3") {
		t.Errorf("exit code %d, stderr %s", code, a.err)
	}
	if !f.manifestThere() {
		t.Error("the manifest is not back")
	}
}

func TestKubeletThatDoesNotStop(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, true)
	a := f.startAgent(t, f.swap(time.Second), "KENV_AGENT_STOP_WAIT=1s")
	if code := a.wait(t, 20*time.Second); code != 1 {
		t.Errorf("exit code %d", code)
	}
	for _, want := range []string{"the kubelet did not stop kube-apiserver within 1s: pid ", "still runs", ":" + strconv.Itoa(f.port) + " is in use"} {
		if !strings.Contains(a.err.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, a.err)
		}
	}
	if !f.manifestThere() {
		t.Error("the manifest is not back")
	}
}

func TestRestoreAfterAgentKilled(t *testing.T) {
	f := newFixture(t)
	k := startKubelet(t, f, false)
	a := f.startAgent(t, f.swap(time.Minute), "KENV_FAKE_ORPHAN=1")
	a.waitOut(t, "orphan ", 20*time.Second)
	line := a.out.String()[strings.Index(a.out.String(), "orphan "):]
	pid, _ := strconv.Atoi(strings.Fields(line)[1])
	orphan := process.IDOf(pid)
	p := paths{f.dir, "kube-apiserver"}
	eventually(t, 10*time.Second, "the agent does not record the orphan", func() bool { return slices.Contains(readRunning(p), orphan) })

	_ = a.cmd.Process.Kill()
	a.wait(t, 5*time.Second)
	if !orphan.Alive() || f.manifestThere() {
		t.Fatalf("after kill -9: orphan runs %v, manifest there %v", orphan.Alive(), f.manifestThere())
	}
	if err := Restore(f.dir, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if orphan.Alive() {
		t.Error("the orphan runs after Restore")
	}
	if !f.manifestThere() {
		t.Fatal("the manifest is not back")
	}
	if err := Restore(f.dir, 5*time.Second); err != nil {
		t.Errorf("Restore again: %v", err)
	}
	eventually(t, 10*time.Second, "the kubelet runs the pod again", func() bool { running, _, _, _ := k.state(); return running })
}

// aside puts f's manifest aside as an agent that died would have left it.
func (f *fixture) aside(t *testing.T) (paths, *record) {
	t.Helper()
	p := paths{f.dir, "kube-apiserver"}
	content, _ := os.ReadFile(f.manifest)
	r := &record{Component: "kube-apiserver", Manifest: f.manifest, Saved: filepath.Join(p.aside(), "kube-apiserver.yaml"), SHA256: digest(content), Mode: 0o600, Time: time.Now()}
	if err := putAside(p, r, content); err != nil {
		t.Fatal(err)
	}
	return p, r
}

func TestCheckSwapped(t *testing.T) {
	f := newFixture(t)
	f.aside(t)
	found, err := Check("kube-apiserver", f.manifest, f.dir)
	if err != nil || !found.Swapped || len(found.Args) != 28 {
		t.Fatalf("found %+v, %v", found, err)
	}
	if _, err := Check("kube-apiserver", "/etc/kubernetes/manifests/other.yaml", f.dir); err == nil || !strings.Contains(err.Error(), "kenv agent restore") {
		t.Errorf("a record of another manifest: %v", err)
	}
}

func TestRestoreKeepsFileSomeonePutBack(t *testing.T) {
	f := newFixture(t)
	original, _ := os.ReadFile(f.manifest)
	p, r := f.aside(t)
	if f.manifestThere() {
		t.Fatal("the manifest is not aside")
	}
	if err := os.WriteFile(f.manifest, []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Restore(f.dir, time.Second)
	if err == nil || !strings.Contains(err.Error(), r.Saved) {
		t.Fatalf("Restore over someone's file: %v", err)
	}
	if now, _ := os.ReadFile(f.manifest); string(now) != "theirs" {
		t.Errorf("Restore replaced someone's file")
	}
	if _, err := os.Stat(r.Saved); err != nil {
		t.Errorf("the saved copy is gone: %v", err)
	}
	os.Remove(f.manifest)
	if err := Restore(f.dir, time.Second); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(f.manifest); string(back) != string(original) {
		t.Errorf("the manifest put back differs")
	}
	if info, _ := os.Stat(f.manifest); info.Mode().Perm() != 0o600 {
		t.Errorf("the manifest put back has mode %v", info.Mode())
	}
	entries, _ := os.ReadDir(f.manifests)
	if len(entries) != 1 {
		t.Errorf("the manifests directory holds %v", entries)
	}
	if _, err := readRecord(p); err != nil {
		t.Error(err)
	}
}

func TestRestoreAfterDeathMidMove(t *testing.T) {
	f := newFixture(t)
	original, _ := os.ReadFile(f.manifest)
	p := paths{f.dir, "kube-apiserver"}
	// The record written and synced, the copy not yet: the manifest is
	// still in place.
	if err := os.MkdirAll(p.aside(), 0o700); err != nil {
		t.Fatal(err)
	}
	r := record{Component: "kube-apiserver", Manifest: f.manifest, Saved: filepath.Join(p.aside(), "kube-apiserver.yaml"), SHA256: digest(original), Mode: 0o600}
	raw, _ := json.Marshal(r)
	if err := os.WriteFile(p.record(), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Saved, original[:10], 0o600); err != nil { // a copy cut short
		t.Fatal(err)
	}
	if err := Restore(f.dir, time.Second); err != nil {
		t.Fatal(err)
	}
	if back, _ := os.ReadFile(f.manifest); string(back) != string(original) {
		t.Error("the manifest changed")
	}
	if rec, _ := readRecord(p); rec != nil {
		t.Error("the record is left")
	}
	if err := Restore(f.dir, time.Second); err != nil {
		t.Errorf("Restore again: %v", err)
	}
}

func TestRunContextEndRestoresNow(t *testing.T) {
	f := newFixture(t)
	startKubelet(t, f, false)
	saved := runs
	runs = func(argv0, component string) bool {
		return strings.HasPrefix(argv0, f.root+"/") && filepath.Base(argv0) == component
	}
	t.Cleanup(func() { runs = saved })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	session, beat := io.Pipe()
	defer beat.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	// A grace longer than the test: only the end of ctx puts it back.
	go func() { done <- f.swap(time.Hour).Run(ctx, session, out) }()
	eventually(t, 20*time.Second, "the build does not run", func() bool { return strings.Contains(out.String(), "fake kube-apiserver up as") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if !f.manifestThere() {
		t.Error("the manifest is not back")
	}
}

func TestPipe(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	// Delve listens a moment after the pipe first tries.
	served := make(chan error, 1)
	time.AfterFunc(300*time.Millisecond, func() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			served <- err
			return
		}
		defer l.Close()
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		in, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			_, err = c.Write([]byte(strings.ToUpper(in)))
		}
		served <- err
	})
	// The client sends before Delve listens, and stays until answered.
	r, w := io.Pipe()
	go func() { _, _ = w.Write([]byte("hello delve\n")) }()
	defer w.Close()
	var out strings.Builder
	if err := Pipe(context.Background(), addr, r, &out); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if out.String() != "HELLO DELVE\n" {
		t.Errorf("out %q", out.String())
	}
}

func TestPipeGivesUpWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	r, w := io.Pipe() // a client that stays
	defer w.Close()
	err := Pipe(ctx, addr, r, io.Discard)
	if err == nil {
		t.Fatal("Pipe to nothing succeeded")
	}
}

// A client that hangs up while nothing listens yet ends the pipe at
// once: a health check's connection through the tunnel, say.
func TestPipeEndsWhenTheClientHangsUp(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	r, w := io.Pipe()
	time.AfterFunc(300*time.Millisecond, func() { w.Close() })
	start := time.Now()
	if err := Pipe(context.Background(), addr, r, io.Discard); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the pipe waited %s for Delve after the client left", took)
	}
}

func TestRestoreNothing(t *testing.T) {
	needRoot(t)
	f := newFixture(t)
	for _, dir := range []string{filepath.Join(t.TempDir(), "none"), f.dir} {
		if err := Restore(dir, 0); err != nil {
			t.Errorf("Restore(%s): %v", dir, err)
		}
	}
	if !f.manifestThere() {
		t.Error("Restore without a record moved the manifest")
	}
}
