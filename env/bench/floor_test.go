package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kenv-dev/kenv/env/plan"
)

func TestLinkTree(t *testing.T) {
	from := t.TempDir()
	for name, content := range map[string]string{"go.work": "go 1.24\n", "cmd/kube-apiserver/main.go": "package main\n"} {
		p := filepath.Join(from, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cmd/kube-apiserver", filepath.Join(from, "apiserver")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(from, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	to := filepath.Join(t.TempDir(), "checkout")
	if err := linkTree(from, to); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.work", "cmd/kube-apiserver/main.go"} {
		a, _ := os.Stat(filepath.Join(from, name))
		b, err := os.Stat(filepath.Join(to, name))
		if err != nil || !os.SameFile(a, b) {
			t.Errorf("%s is not a hard link to the original (%v)", name, err)
		}
	}
	if link, err := os.Readlink(filepath.Join(to, "apiserver")); err != nil || link != "cmd/kube-apiserver" {
		t.Errorf("the symbolic link is %q (%v), want it as it was", link, err)
	}
	if info, err := os.Stat(filepath.Join(to, "empty")); err != nil || !info.IsDir() {
		t.Errorf("the empty directory is missing: %v", err)
	}

	if err := linkTree(filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "x")); !os.IsNotExist(err) {
		t.Errorf("linkTree of a missing tree: %v", err)
	}
}

func TestResidentMB(t *testing.T) {
	mb, err := residentMB(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary holds a few MB at least, and not gigabytes.
	if mb < 1 || mb > 4096 {
		t.Errorf("this process holds %.1f MB", mb)
	}
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := residentMB(done.Process.Pid); err == nil {
		t.Errorf("a process that has ended holds memory")
	}
}

func TestAddresses(t *testing.T) {
	p := &plan.Plan{
		Etcd: plan.Etcd{ClientURL: "http://127.0.0.1:2379", PeerURL: "http://127.0.0.1:2380"},
		Components: []plan.Component{
			{Name: "kube-apiserver", Address: "127.0.0.1:6443", Debug: &plan.Debug{Listen: "127.0.0.1:2345"}},
			{Name: "kube-scheduler", Address: "127.0.0.1:10259"},
			{Name: "kubelet-less"}, // listens on no TCP port
		},
	}
	want := []string{"127.0.0.1:2379", "127.0.0.1:2380", "127.0.0.1:6443", "127.0.0.1:2345", "127.0.0.1:10259"}
	if got := addresses(p); !slices.Equal(got, want) {
		t.Errorf("addresses = %q, want %q", got, want)
	}
}
