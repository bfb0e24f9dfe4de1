package remote

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// heartbeat is how often kenv tells a node's agent it is still there; the
// agent takes the session for gone after half its Grace without one.
const heartbeat = 2 * time.Second

// Place runs components on the node, each in place of its static pod (the
// kubelet, of its systemd unit):
// Start runs the node's agent over the transport, which swaps the pod
// named by the Spec's kind (its Name is "node/kind") for the Spec's Argv,
// whose local paths it maps to the files shipped. The agent's session is
// the local process: it ends when the process is stopped or kenv dies,
// and the agent then stops the component and, unless a new session takes
// over within Grace, puts the static pod back.
func (n Node) Place() process.Place { return place{n} }

type place struct{ n Node }

func (p place) Start(s process.Spec) (*process.Process, error) {
	n := p.n
	kind := path.Base(s.Name)
	argv := append(append([]string{n.Agent(), "agent", "swap", "--component", kind}, n.holderFlags(kind)...),
		"--dir", n.Dir, "--grace", n.Grace.String(), "--")
	for _, a := range s.Argv {
		argv = append(argv, n.mapped(a))
	}
	local, err := n.Command(argv...)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	// The session's heartbeat: a line every few seconds on the agent's
	// standard input, until the process ends. When kenv dies the pipe
	// closes, which the agent sees too.
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.Argv, s.Stdin = local, r
	proc, err := process.Start(s)
	r.Close()
	if err != nil {
		w.Close()
		return nil, err
	}
	go func() {
		defer w.Close()
		tick := time.NewTicker(heartbeat)
		defer tick.Stop()
		for {
			if _, err := w.WriteString(".\n"); err != nil {
				return
			}
			select {
			case <-proc.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return proc, nil
}

// mapped is a's path on the node when a is a file kenv ships there.
func (n Node) mapped(a string) string {
	for _, f := range n.Files {
		if f.Local == a {
			return f.Remote
		}
	}
	return a
}

// StopAll stops the recorded sessions: they are processes of this
// machine's.
func (place) StopAll(owner string, ids []process.ID, timeout time.Duration) error {
	return process.StopAll(owner, ids, timeout)
}

// Restore has the node put back the static pods kenv swapped: it ends a
// session's agent that waits out its Grace, and restores what a dead
// agent left. It waits until the agent is done.
func (n Node) Restore(ctx context.Context) error {
	_, err := n.Run(ctx, nil, n.Agent(), "agent", "restore", "--dir", n.Dir, "--wait", "2m")
	return err
}

// Forward listens at listen on this machine (e.g. "127.0.0.1:2345") and
// carries each connection to address on the node ("127.0.0.1:2345", a
// Delve on the node's loopback) through the agent's pipe over the
// transport, until ctx ends; it returns once listening.
func (n Node) Forward(ctx context.Context, listen, address string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("forward %s to %s on node %s: %w", listen, address, n.Name, err)
	}
	context.AfterFunc(ctx, func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go n.pipe(ctx, c, address)
		}
	}()
	return nil
}

// pipe carries c to address on the node, through the agent's pipe. When
// the client hangs up, the transport's end of the pipe closes too, and the
// agent on the node stops waiting for Delve.
func (n Node) pipe(ctx context.Context, c net.Conn, address string) {
	defer c.Close()
	local, err := n.Command(n.Agent(), "agent", "pipe", address)
	if err != nil {
		return
	}
	cmd := exec.CommandContext(ctx, local[0], local[1:]...)
	cmd.Stdin, cmd.Stdout = c, c
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Once the transport exits, the copy from c (which waits for the
	// client) is not waited for.
	cmd.WaitDelay = time.Second
	_ = cmd.Run() // the client sees the connection close
}

// Probe asks, on the node, the health check of the component of kind
// swapped there.
func (n Node) Probe(ctx context.Context, kind string) error {
	argv := append(append([]string{n.Agent(), "agent", "probe", "--component", kind}, n.holderFlags(kind)...), "--dir", n.Dir)
	_, err := n.Run(ctx, nil, argv...)
	return err
}
