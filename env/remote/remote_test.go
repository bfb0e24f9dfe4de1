package remote

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCommand(t *testing.T) {
	ssh := Node{Name: "cp-1", SSH: "root@10.0.0.5", SSHOptions: []string{"-p", "2222"}}
	got, err := ssh.Command("/var/lib/kenv/e/kenv", "agent", "pipe", "127.0.0.1:2345")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ssh", "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5",
		"-o", "ControlMaster=auto", "-o", "ControlPath=" + controlPath(), "-o", "ControlPersist=" + controlPersist, "-p", "2222", "root@10.0.0.5", "--",
		"/var/lib/kenv/e/kenv", "agent", "pipe", "127.0.0.1:2345"}
	if !slices.Equal(got, want) {
		t.Errorf("ssh: %q, want %q", got, want)
	}
	kind := Node{Name: "kind", Exec: []string{"docker", "exec", "-i", "kind-control-plane"}}
	got, _ = kind.Command("id", "-u")
	if want := []string{"docker", "exec", "-i", "kind-control-plane", "id", "-u"}; !slices.Equal(got, want) {
		t.Errorf("exec: %q, want %q", got, want)
	}
	// A shell on the node (ssh, minikube ssh) would read these otherwise.
	for _, arg := range []string{"a b", "$(id)", "x;y", "'q'", "a\nb", "*"} {
		if _, err := kind.Command("echo", arg); err == nil {
			t.Errorf("%q passed", arg)
		}
	}
}

// local is a node that is this machine, reached by an exec prefix that
// runs argv as it is.
func local(t *testing.T) Node {
	dir := t.TempDir()
	return Node{Name: "here", Exec: []string{"env"}, Dir: filepath.Join(dir, "kenv", "env"), Manifests: filepath.Join(dir, "manifests")}
}

func TestShip(t *testing.T) {
	n := local(t)
	src := t.TempDir()
	var files []File
	for _, name := range []string{"kenv", "kube-apiserver", "dlv-v1.26.2"} {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte("contents of "+name), 0o755); err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Local: p, Remote: n.Bin(name)})
	}
	n.Files = files
	ctx := context.Background()
	shipped, err := n.Ship(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(shipped) != 3 {
		t.Errorf("first ship: %v", shipped)
	}
	for _, f := range files {
		data, err := os.ReadFile(f.Remote)
		if err != nil || string(data) != "contents of "+filepath.Base(f.Local) {
			t.Errorf("%s: %q, %v", f.Remote, data, err)
		}
		if fi, _ := os.Stat(f.Remote); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s is %v, want 0700", f.Remote, fi.Mode().Perm())
		}
	}
	for _, dir := range []string{n.Bin(""), n.Dir, filepath.Dir(n.Dir)} {
		if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
			t.Errorf("%s is %v, want 0700", dir, fi.Mode().Perm())
		}
	}
	if shipped, err = n.Ship(ctx); err != nil || len(shipped) != 0 {
		t.Errorf("second ship: %v, %v", shipped, err)
	}
	if err := os.WriteFile(files[1].Local, []byte("rebuilt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if shipped, err = n.Ship(ctx); err != nil || !slices.Equal(shipped, []string{files[1].Remote}) {
		t.Errorf("after a rebuild: %v, %v", shipped, err)
	}
	if err := n.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(n.Dir)); !os.IsNotExist(err) {
		t.Errorf("purge left %s: %v", filepath.Dir(n.Dir), err)
	}
}

func TestMapped(t *testing.T) {
	n := Node{Files: []File{{Local: "/cache/bin/kube-apiserver", Remote: "/var/lib/kenv/e/kube-apiserver"}}}
	if got := n.mapped("/cache/bin/kube-apiserver"); got != "/var/lib/kenv/e/kube-apiserver" {
		t.Errorf("mapped binary: %s", got)
	}
	if got := n.mapped("--listen=127.0.0.1:2345"); got != "--listen=127.0.0.1:2345" {
		t.Errorf("mapped flag: %s", got)
	}
}
