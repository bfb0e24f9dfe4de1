package layout_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kenv-dev/kenv/env/layout"
)

func TestUseDirs(t *testing.T) {
	root := t.TempDir()
	env := layout.NewEnv(filepath.Join(root, "state"), "debug")
	logs, data := filepath.Join(root, "logs"), filepath.Join(root, "data")
	put := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Earlier runs left logs and etcd data in the state directory.
	put(filepath.Join(env.LogDir(), "kube-apiserver.log"))
	put(filepath.Join(env.EtcdDir(), "member", "wal"))
	err := env.UseDirs(logs, data)
	if err == nil || !strings.Contains(err.Error(), "mv "+env.EtcdDir()+"/* "+data+"/") {
		t.Fatalf("etcd data would be left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env.LogDir()+".old", "kube-apiserver.log")); err != nil {
		t.Errorf("the earlier logs are not kept in logs.old: %v", err)
	}
	if err := os.RemoveAll(env.EtcdDir()); err != nil {
		t.Fatal(err)
	}
	if err := env.UseDirs(logs, data); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.LinkedDirs(); got != logs {
		t.Errorf("logs link to %q, want %q", got, logs)
	}
	put(filepath.Join(env.EtcdDir(), "member", "wal")) // written through the link

	// Unchanged: nothing to do, even when the directory went away.
	if err := os.RemoveAll(logs); err != nil {
		t.Fatal(err)
	}
	if err := env.UseDirs(logs, data); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(env.LogDir()); err != nil {
		t.Errorf("a log dir removed since is not made again: %v", err)
	}

	// Another data dir, or none: the data is not left behind silently.
	for _, target := range []string{filepath.Join(root, "elsewhere"), ""} {
		if err := env.UseDirs(logs, target); err == nil || !strings.Contains(err.Error(), "data of earlier runs is in "+data) {
			t.Errorf("data_dir %q: %v", target, err)
		}
	}

	// Logs go back to the state directory; their files stay where they are.
	put(filepath.Join(logs, "etcd.log"))
	if err := env.UseDirs("", data); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.LinkedDirs(); got != "" {
		t.Errorf("logs still link to %s", got)
	}
	if _, err := os.Stat(filepath.Join(logs, "etcd.log")); err != nil {
		t.Errorf("the logs in the old log dir: %v", err)
	}
}

func TestMakeIsPrivate(t *testing.T) {
	root := t.TempDir()
	e := layout.NewEnv(filepath.Join(root, "state"), "debug")
	if err := e.Make(); err != nil {
		t.Fatal(err)
	}
	// A state directory an earlier kenv made 0755 is tightened.
	if err := os.Chmod(e.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.Make(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Join(root, "state"), e.Dir, e.LogDir()} {
		info, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s has mode %o, want 0700", dir, perm)
		}
	}
}
