package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/layout"
)

func TestFromGit(t *testing.T) {
	origin := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=kenv", "-c", "user.email=kenv@example.invalid"}, args...)...)
		cmd.Dir = origin
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	for name, content := range map[string]string{
		"go.work": "go 1.24\n", ".go-version": "1.24.12\n", "cmd/kube-apiserver/main.go": "package main\n",
	} {
		path := filepath.Join(origin, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("tag", "v1.40.1")

	cache := layout.Cache{Dir: t.TempDir()}
	var said []string
	progress := func(s string) { said = append(said, s) }
	ctx := context.Background()
	tree, err := FromGit(ctx, cache, origin, "v1.40.1", progress)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Version.GitVersion != "v1.40.1" || tree.Version.GitTreeState != "clean" || tree.GoVersion != "1.24.12" || tree.Mutable {
		t.Errorf("tree %+v", tree)
	}
	if _, err := os.Stat(filepath.Join(tree.Dir, "cmd", "kube-apiserver", "main.go")); err != nil {
		t.Errorf("the worktree lacks the source: %v", err)
	}

	said = nil
	again, err := FromGit(ctx, cache, origin, "v1.40.1", progress)
	if err != nil || again.Dir != tree.Dir || len(said) != 0 {
		t.Errorf("a second use did work again (%v): %v", err, said)
	}

	// A ref the mirror lacks is fetched.
	git("commit", "-q", "--allow-empty", "-m", "two")
	git("tag", "v1.40.2")
	newer, err := FromGit(ctx, cache, origin, "v1.40.2", progress)
	if err != nil {
		t.Fatal(err)
	}
	if newer.Version.GitVersion != "v1.40.2" || newer.Dir == tree.Dir || !strings.Contains(strings.Join(said, "\n"), "fetching") {
		t.Errorf("after a new tag: %+v, said %v", newer.Version, said)
	}

	if _, err := FromGit(ctx, cache, origin, "no-such-ref", progress); err == nil || !strings.Contains(err.Error(), `ref "no-such-ref" is not in`) {
		t.Errorf("an unknown ref: %v", err)
	}
}
