// Package remote reaches a node of a cluster kenv did not make (kubeadm,
// kind, minikube): it runs commands there over ssh or an exec prefix,
// ships files to kenv's directory on the node, runs components there
// through kenv's agent (env/agent) in place of their static pods, and
// brings a port of the node's loopback (Delve's) to this machine's.
//
// Every command kenv runs on a node is a list of plain words (paths,
// flags), so that it reads the same whether the transport passes argv as
// it is (docker exec, nsenter) or hands a command line to the node's shell
// (ssh, minikube ssh); no command needs a shell of the node's. The agent
// is kenv itself, shipped to the node: it moves a static pod's manifest
// aside, runs the build under Delve with the manifest's flags, and puts
// the manifest back when kenv says so or when kenv's session has been
// gone for the node's Grace.
package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kenv-dev/kenv/env/agent"
)

// Node is one node of a cluster, as kenv reaches it.
type Node struct {
	Name string
	// SSH is ssh's destination, SSHOptions the options before it; or Exec
	// a command prefix that runs argv on the node.
	SSH        string
	SSHOptions []string `json:",omitempty"`
	Exec       []string `json:",omitempty"`
	// Dir is the environment's directory on the node, kenv's own (0700):
	// the files shipped, the agent's record and logs.
	Dir string
	// Manifests is the kubelet's static pod directory.
	Manifests string
	// Grace is how long the node waits, once kenv's session is gone,
	// before it puts the static pods back.
	Grace time.Duration
	// Files are what kenv ships to Dir: kenv itself (the agent), the
	// builds and Delve.
	Files []File
}

// File is a local file and where it goes on the node.
type File struct {
	Local  string
	Remote string
}

// Agent is kenv itself on the node.
func (n Node) Agent() string { return n.Bin("kenv") }

// Bin is where the file called name that kenv ships goes on the node:
// beside the agent, apart from the agent's own directories in Dir.
func (n Node) Bin(name string) string { return path.Join(n.Dir, "bin", name) }

// Manifest is the static pod manifest of the component kind on the node;
// none for the kubelet, which the node's systemd runs (agent.KubeletUnit).
func (n Node) Manifest(kind string) string {
	if kind == agent.Kubelet {
		return ""
	}
	return path.Join(n.Manifests, kind+".yaml")
}

// holderFlags are the agent's flags that say where kind runs from when
// kenv's build does not.
func (n Node) holderFlags(kind string) []string {
	if m := n.Manifest(kind); m != "" {
		return []string{"--manifest", m}
	}
	return nil
}

// Reach names how kenv reaches the node, for people.
func (n Node) Reach() string {
	if n.SSH != "" {
		return "ssh " + n.SSH
	}
	return strings.Join(n.Exec, " ")
}

// plainWord is what every argument kenv passes to a node matches.
var plainWord = regexp.MustCompile(`^[-A-Za-z0-9_./:=,@+%]*$`)

// Command is the local command line that runs argv on the node, with its
// standard input and output passed through.
func (n Node) Command(argv ...string) ([]string, error) {
	for _, a := range argv {
		if !plainWord.MatchString(a) {
			return nil, fmt.Errorf("node %s: %q is not a plain word: kenv passes nothing a shell would read otherwise", n.Name, a)
		}
	}
	if n.SSH != "" {
		// -T: no terminal, so the program's output is its own, byte for
		// byte; BatchMode: a key or agent, never a password prompt that
		// would hang kenv. kenv runs many short commands on a node (a
		// check, a hash, a health check, each Delve connection): they
		// share one connection, which ends a while after the last.
		cmd := []string{"ssh", "-T", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5",
			"-o", "ControlMaster=auto", "-o", "ControlPath=" + controlPath(), "-o", "ControlPersist=" + controlPersist}
		cmd = append(cmd, n.SSHOptions...)
		return append(append(cmd, n.SSH, "--"), argv...), nil
	}
	return append(append([]string(nil), n.Exec...), argv...), nil
}

// controlPersist is how long an ssh connection kenv shares outlives its
// last command.
const controlPersist = "20s"

// controlPath is where the shared ssh connections' sockets are: a
// directory of this user's, short enough for a socket's path (ssh's %C
// is 40 bytes).
func controlPath() string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("kenv-ssh-%d", os.Getuid()))
	_ = os.Mkdir(dir, 0o700)
	return filepath.Join(dir, "%C")
}

// cmd is the exec.Cmd that runs argv on the node.
func (n Node) cmd(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	local, err := n.Command(argv...)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, local[0], local[1:]...)
	// A shared ssh connection's master, started by this command, may
	// hold its output open: the command is done when it exits.
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// Run runs argv on the node with stdin as its input, and returns its
// output; the error carries what it wrote to its standard error.
func (n Node) Run(ctx context.Context, stdin io.Reader, argv ...string) (string, error) {
	cmd, err := n.cmd(ctx, argv...)
	if err != nil {
		return "", err
	}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return out.String(), fmt.Errorf("on node %s (%s): %s: %w: %s", n.Name, n.Reach(), strings.Join(argv, " "), err, msg)
	}
	return out.String(), nil
}

// machines maps Go's architectures to uname -m's.
var machines = map[string][]string{"amd64": {"x86_64"}, "arm64": {"aarch64", "arm64"}}

// Check fails, changing nothing, unless kenv reaches the node as root and
// the node runs arch (GOARCH) programs.
func (n Node) Check(ctx context.Context, arch string) error {
	out, err := n.Run(ctx, nil, "id", "-u")
	if err != nil {
		return fmt.Errorf("cannot reach node %s: %w\nCheck that `%s id -u` works from this machine.", n.Name, err, strings.Join(mustCommand(n), " "))
	}
	if strings.TrimSpace(out) != "0" {
		return fmt.Errorf("node %s: kenv is user %s there, not root; it moves the node's static pod manifests, which only root may: connect as root (ssh = \"root@...\")", n.Name, strings.TrimSpace(out))
	}
	out, err = n.Run(ctx, nil, "uname", "-m")
	if err != nil {
		return err
	}
	machine := strings.TrimSpace(out)
	if want, known := machines[arch]; known && !contains(want, machine) {
		return fmt.Errorf("node %s is %s, and kenv builds for %s here: the node cannot run its builds", n.Name, machine, arch)
	}
	return nil
}

func mustCommand(n Node) []string {
	cmd, _ := n.Command()
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Runner runs commands on the node for the agent's readers
// (agent.ReadKubelet), which read the node before kenv's agent is there.
func (n Node) Runner(ctx context.Context) agent.Runner {
	return func(argv ...string) ([]byte, error) {
		out, err := n.Run(ctx, nil, argv...)
		return []byte(out), err
	}
}

// ReadFile returns a file of the node's.
func (n Node) ReadFile(ctx context.Context, p string) ([]byte, error) {
	out, err := n.Run(ctx, nil, "cat", p)
	return []byte(out), err
}

// Ship copies the node's Files that are not there yet, or differ, to the
// node, and returns those it copied. What is there is known by the
// SHA-256 sums kenv wrote beside the files when it shipped them (in a
// directory only root reads), so a second up ships nothing that has not
// changed and hashes nothing on the node. A file arrives under a
// temporary name and is renamed into place once whole; the sums are
// written last.
func (n Node) Ship(ctx context.Context) ([]string, error) {
	hashes := map[string]string{}
	for _, f := range n.Files {
		sum, err := fileSHA256(f.Local)
		if err != nil {
			return nil, err
		}
		hashes[f.Local] = sum
	}
	dirs := []string{path.Dir(n.Dir), n.Dir}
	for _, f := range n.Files {
		if d := path.Dir(f.Remote); !contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	// install -d sets the mode of directories that exist too.
	if _, err := n.Run(ctx, nil, append([]string{"install", "-d", "-m", "0700"}, dirs...)...); err != nil {
		return nil, err
	}
	sums := n.Bin(sumsFile)
	out, _ := n.Run(ctx, nil, "cat", sums) // none yet: everything goes
	there := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if sum, file, ok := strings.Cut(line, "  "); ok {
			there[file] = sum
		}
	}
	var shipped []string
	for _, f := range n.Files {
		if there[f.Remote] == hashes[f.Local] {
			continue
		}
		if err := n.put(ctx, f, strings.NewReader("")); err != nil {
			return shipped, err
		}
		shipped = append(shipped, f.Remote)
	}
	if len(shipped) == 0 {
		return nil, nil
	}
	var list strings.Builder
	for _, f := range n.Files {
		fmt.Fprintf(&list, "%s  %s\n", hashes[f.Local], f.Remote)
	}
	return shipped, n.put(ctx, File{Remote: sums}, strings.NewReader(list.String()))
}

// sumsFile holds the SHA-256 sums of what kenv shipped to the node.
const sumsFile = "SHA256SUMS"

// put copies f to the node: the local file, or content when f names
// none.
func (n Node) put(ctx context.Context, f File, content io.Reader) error {
	in := content
	if f.Local != "" {
		file, err := os.Open(f.Local)
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	part := path.Join(path.Dir(f.Remote), "."+path.Base(f.Remote)+".part")
	if _, err := n.Run(ctx, in, "dd", "of="+part, "bs=4M"); err != nil {
		return fmt.Errorf("ship %s: %w", f.Remote, err)
	}
	if _, err := n.Run(ctx, nil, "chmod", "0700", part); err != nil {
		return err
	}
	_, err := n.Run(ctx, nil, "mv", "-f", part, f.Remote)
	return err
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Purge removes the environment's directory from the node, and kenv's
// directory too once no other environment has one there.
func (n Node) Purge(ctx context.Context) error {
	if _, err := n.Run(ctx, nil, "rm", "-rf", n.Dir); err != nil {
		return err
	}
	_, _ = n.Run(ctx, nil, "rmdir", path.Dir(n.Dir)) // fails while not empty
	return nil
}
