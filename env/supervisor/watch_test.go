package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/source"
	"github.com/kenv-dev/kenv/env/spec"
)

// lockedBuffer is what the watch loop writes, read while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatchBuildsASaveMadeBeforeItRan saves a file of a checkout after
// up's build read it and before the watch loop runs: the loop's first
// round builds it and restarts the component, with no save after.
func TestWatchBuildsASaveMadeBeforeItRan(t *testing.T) {
	if _, err := os.Stat(filepath.Join(runtime.GOROOT(), "bin", "go")); err != nil {
		t.Skip("no Go toolchain to build with")
	}
	tree := t.TempDir()
	main := filepath.Join(tree, "cmd", "kube-scheduler", "main.go")
	program := func(says string) string {
		return "package main\n\nimport (\n\t\"fmt\"\n\t\"time\"\n)\n\nfunc main() {\n\tfmt.Println(\"" + says + "\")\n\ttime.Sleep(time.Hour)\n}\n"
	}
	for path, content := range map[string]string{
		filepath.Join(tree, "go.mod"):  "module k8s.io/kubernetes\n\ngo 1.22\n",
		filepath.Join(tree, "go.work"): "go 1.22\n\nuse .\n",
		main:                           program("before"),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := newTestRunning(t, healthy, map[string]string{"kube-scheduler": ""})
	r.opts.Spec.File = filepath.Join(t.TempDir(), "t.hcl")
	if err := os.WriteFile(r.opts.Spec.File, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.opts.Env.ConfigDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	// Saved well before the build, these are not built again.
	past := time.Now().Add(-time.Hour)
	for _, path := range []string{filepath.Join(tree, "go.mod"), filepath.Join(tree, "go.work"), main, r.opts.Spec.File} {
		if err := os.Chtimes(path, past, past); err != nil {
			t.Fatal(err)
		}
	}
	src := &source.Tree{Dir: tree, GoVersion: strings.TrimPrefix(runtime.Version(), "go"), Mutable: true}
	bin := t.TempDir()
	r.plan.Source = src
	r.plan.Build = build.Request{Tree: src, Components: []string{"kube-scheduler"}, OutDir: bin}
	r.plan.Components[0].Binary, r.plan.Components[0].Args = filepath.Join(bin, "kube-scheduler"), nil
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.run.Run(ctx, r.build(nil)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, []byte(program("after")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.run.Run(ctx, r.startComponents(r.plan.Components)); err != nil {
		t.Fatal(err)
	}
	if err := r.run.Run(ctx, r.waitReady(names(r.plan.Components))); err != nil {
		t.Fatal(err)
	}

	var out lockedBuffer
	watched := make(chan error)
	go func() {
		watched <- r.Watch(ctx, &out, func() (*spec.Spec, error) { return r.opts.Spec, nil })
	}()
	defer func() {
		cancel()
		if err := <-watched; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "↻ cmd/kube-scheduler/main.go: built kube-scheduler in") {
		if time.Now().After(deadline) || strings.Contains(out.String(), "✗") {
			t.Fatalf("the save before the watch loop ran was not built:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line := out.String(); !strings.Contains(line, "restarted kube-scheduler") {
		t.Errorf("the save was built but kube-scheduler was not restarted:\n%s", line)
	}
	eventually(t, "kube-scheduler runs what was saved", func() bool {
		log, _ := os.ReadFile(r.plan.Components[0].LogPath)
		return strings.Contains(string(log), "after")
	})
}
