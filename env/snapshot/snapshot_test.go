package snapshot_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/snapshot"
)

func TestWriteReadList(t *testing.T) {
	env := layout.NewEnv(t.TempDir(), "dev")
	db := filepath.Join(t.TempDir(), "etcd.db")
	data := bytes.Repeat([]byte("etcd page "), 10000)
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	taken := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	for i, name := range []string{"second", "first"} {
		m := snapshot.Meta{Name: name, Environment: "dev", Taken: taken.Add(-time.Duration(i) * time.Hour),
			Versions: map[string]string{"kube-apiserver": "v1.34.4"}, Keys: 12, Revision: 40, DBSize: int64(len(data))}
		if err := snapshot.Write(snapshot.Path(env, name), m, db); err != nil {
			t.Fatal(err)
		}
	}
	path := snapshot.Path(env, "second")
	if path != filepath.Join(env.Dir, "snapshots", "second.snapshot") {
		t.Errorf("path %s", path)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 || info.Size() >= int64(len(data))/10 {
		t.Errorf("the snapshot file: %v, %v (want 0600, compressed)", info, err)
	}
	out := filepath.Join(t.TempDir(), "out.db")
	m, err := snapshot.Read(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); m.Name != "second" || m.Keys != 12 || !bytes.Equal(got, data) {
		t.Errorf("read back %+v and %d bytes", m, len(got))
	}
	list, err := snapshot.List(env)
	if err != nil || len(list) != 2 || list[0].Name != "first" || list[1].Name != "second" || list[0].Size == 0 {
		t.Errorf("list: %+v, %v", list, err)
	}
	// A path is taken as it is.
	if p := snapshot.Path(env, "./bug-123.snapshot"); p != "./bug-123.snapshot" {
		t.Errorf("a path: %s", p)
	}
	if _, err := snapshot.Read(db, ""); err == nil || !strings.Contains(err.Error(), "is not a kenv snapshot") {
		t.Errorf("reading a file that is not a snapshot: %v", err)
	}
}

func TestCheck(t *testing.T) {
	m := snapshot.Meta{Name: "s", Versions: map[string]string{"kube-apiserver": "v1.34.4 emulating 1.33", "kwok": "v0.7.0"}}
	if err := snapshot.Check(m, map[string]string{"kube-apiserver": "v1.34.4 emulating 1.33", "kube-scheduler": "v1.34.4"}); err != nil {
		t.Errorf("the same versions: %v", err)
	}
	err := snapshot.Check(m, map[string]string{"kube-apiserver": "v1.34.4"})
	if err == nil || !strings.Contains(err.Error(), "kube-apiserver ran v1.34.4 emulating 1.33, runs v1.34.4") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("another emulated version: %v", err)
	}
}
