// Package layout names the files and directories kenv keeps: each
// environment's state under $KENV_HOME and the shared cache under $KENV_CACHE.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateRoot is where environments keep their state: $KENV_HOME, else
// $XDG_STATE_HOME/kenv, else ~/.local/state/kenv.
func StateRoot() (string, error) {
	return root("KENV_HOME", "XDG_STATE_HOME", ".local/state")
}

// CacheRoot is where sources, binaries and Delve are cached: $KENV_CACHE,
// else $XDG_CACHE_HOME/kenv, else ~/.cache/kenv.
func CacheRoot() (string, error) {
	return root("KENV_CACHE", "XDG_CACHE_HOME", ".cache")
}

func root(own, xdg, underHome string) (string, error) {
	if dir := os.Getenv(own); dir != "" {
		return filepath.Abs(dir)
	}
	if dir := os.Getenv(xdg); dir != "" {
		return filepath.Join(dir, "kenv"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find a directory for kenv: %w; set %s", err, own)
	}
	return filepath.Join(home, underHome, "kenv"), nil
}

// Env is the state directory of one environment.
type Env struct {
	Dir string
}

// NewEnv returns the state directory of the environment called name.
func NewEnv(stateRoot, name string) Env {
	return Env{Dir: filepath.Join(stateRoot, name)}
}

// Make creates the state directory and its log directory, readable by
// their owner only: they hold private keys, and audit logs that may hold
// secrets. A directory made by an earlier kenv is tightened.
func (e Env) Make() error {
	for _, dir := range []string{e.Dir, e.LogDir()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create the state directory: %w", err)
		}
	}
	return os.Chmod(e.Dir, 0o700)
}

func (e Env) CertDir() string   { return filepath.Join(e.Dir, "pki") }
func (e Env) EtcdDir() string   { return filepath.Join(e.Dir, "etcd") }
func (e Env) LogDir() string    { return filepath.Join(e.Dir, "logs") }
func (e Env) ConfigDir() string { return filepath.Join(e.Dir, "config") }
func (e Env) StateFile() string { return filepath.Join(e.Dir, "state.json") }
func (e Env) ClaimFile() string { return filepath.Join(e.Dir, "supervisor.lock") }

// DelveInit holds the commands Delve's terminal client runs first: the
// source map of the binaries.
func (e Env) DelveInit() string { return filepath.Join(e.ConfigDir(), "dlv-init") }

// DelveInitOf is DelveInit for a component built from a source of its own,
// whose files map elsewhere.
func (e Env) DelveInitOf(component string) string {
	return filepath.Join(e.ConfigDir(), "dlv-init-"+component)
}

// Log is the log file of a component, of etcd, or of the supervisor ("kenv").
func (e Env) Log(name string) string { return filepath.Join(e.LogDir(), name+".log") }

// Kubeconfig is the kubeconfig of a client identity such as "admin".
func (e Env) Kubeconfig(id string) string {
	return filepath.Join(e.Dir, id+".kubeconfig")
}

// Cache is the cache shared by all environments.
type Cache struct {
	Dir string
}

// SourceDir holds a Kubernetes tree; key names the source, e.g.
// "kubernetes@v1.34.4". The path must stay the same from run to run: Go's
// build cache keys on it.
func (c Cache) SourceDir(key string) string { return filepath.Join(c.Dir, "src", key) }

// BinDir holds the binaries built from the source called key.
func (c Cache) BinDir(key string) string { return filepath.Join(c.Dir, "bin", key) }

// DelveDir holds the dlv binary of one Delve version.
func (c Cache) DelveDir(version string) string { return filepath.Join(c.Dir, "dlv", version) }

// KwokDir holds the kwok binary of one kwok release and its stages.
func (c Cache) KwokDir(version string) string { return c.ModuleDir("kwok", version) }

// ModuleDir holds the program name kenv installs from its Go module at
// version.
func (c Cache) ModuleDir(name, version string) string { return filepath.Join(c.Dir, name, version) }

// PauseDir holds the pause image built from the source called key.
func (c Cache) PauseDir(key string) string { return filepath.Join(c.Dir, "pause", key) }

// ControlSocket is the Unix socket of the environment's supervisor. A Unix
// socket path has room for about 100 bytes; a state directory deeper than
// that gets its socket in a directory of the user's under the temporary
// directory, named after the state directory.
func (e Env) ControlSocket() string { return e.socket("supervisor.sock") }

// RuntimeSocket is the Unix socket of the containerd of node.
func (e Env) RuntimeSocket(node string) string { return e.socket(node + ".containerd.sock") }

func (e Env) socket(name string) string {
	path := filepath.Join(e.Dir, name)
	if len(path) <= 100 {
		return path
	}
	sum := sha256.Sum256([]byte(e.Dir))
	return filepath.Join(os.TempDir(), fmt.Sprintf("kenv-%d", os.Getuid()), hex.EncodeToString(sum[:8])+"-"+name)
}

// NodeDir holds the real nodes, a directory each: its namespaces,
// containerd's root (its images, kept across down) and state, the
// kubelet's root.
func (e Env) NodeDir() string { return filepath.Join(e.Dir, "nodes") }

// UseDirs makes the environment's log and etcd directories links to the
// directories the spec names, or plain directories again when it names
// none. etcd data is never left behind: when it would be, the error says
// how to move it. Logs of earlier runs in the state directory are kept
// beside it, in logs.old.
func (e Env) UseDirs(logDir, etcdDir string) error {
	if err := useDir(e.LogDir(), logDir, "log { dir }", false); err != nil {
		return err
	}
	return useDir(e.EtcdDir(), etcdDir, "etcd { data_dir }", true)
}

func useDir(link, target, attr string, precious bool) error {
	if target != "" {
		if err := os.MkdirAll(target, 0o700); err != nil {
			return err
		}
	}
	current, err := os.Readlink(link)
	isLink := err == nil
	switch {
	case isLink && current == target:
		return nil
	case !isLink && target == "":
		return nil // the default: a plain directory, made when needed
	}
	// The environment's files so far are in old.
	old := link
	if isLink {
		old = current
	}
	if entries, err := os.ReadDir(old); err == nil && len(entries) > 0 {
		switch {
		case precious && target == "":
			return fmt.Errorf("the data of earlier runs is in %s, and the spec no longer sets %s: set it back to %q, or delete the data, then run up again",
				old, attr, old)
		case precious:
			return fmt.Errorf("the data of earlier runs is in %s, and the spec now sets %s = %q: move it there (mv %s/* %s/), or delete it, then run up again",
				old, attr, target, old, target)
		case !isLink:
			if err := os.RemoveAll(link + ".old"); err != nil {
				return err
			}
			if err := os.Rename(link, link+".old"); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if target == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		return err
	}
	return os.Symlink(target, link)
}

// LinkedDirs returns the directories outside the state directory that the
// environment's logs and etcd data live in.
func (e Env) LinkedDirs() (logDir, etcdDir string) {
	logDir, _ = os.Readlink(e.LogDir())
	etcdDir, _ = os.Readlink(e.EtcdDir())
	return logDir, etcdDir
}
