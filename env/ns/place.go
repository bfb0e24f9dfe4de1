package ns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/kenv-dev/kenv/env/process"
)

// Place is where processes of the node run: Start runs a Spec's Argv
// inside the node's network and mount namespaces, through nsenter, and
// StopAll is process.StopAll (pids are the host's; the pid namespace is
// shared).
func (n Node) Place() process.Place { return place{n} }

type place struct{ n Node }

func (p place) Start(s process.Spec) (*process.Process, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("start %s in node %s: nsenter is not installed (apt-get install util-linux)", s.Name, p.n.Link)
	}
	// nsenter execs the program: the pid started is the program's.
	s.Argv = append([]string{nsenter, "--net=" + p.n.netPin(), "--mount=" + p.n.mntPin(), "--"}, s.Argv...)
	return process.Start(s)
}

func (place) StopAll(owner string, ids []process.ID, timeout time.Duration) error {
	return process.StopAll(owner, ids, timeout)
}

// Dial connects to address (e.g. "127.0.0.1:2348") from inside the node's
// network namespace: a Delve that listens on the node's loopback is reached
// through it. A name in address is resolved on the machine.
func (n Node) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := n.inNetwork(func() error {
		// Without the fallback racer, the socket is made on this thread.
		d := net.Dialer{FallbackDelay: -1}
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in node %s: %w", address, n.Link, err)
	}
	return conn, nil
}

// inNetwork runs f on an OS thread of its own in the node's network
// namespace. A socket stays in the namespace it was made in, whichever
// thread uses it later.
func (n Node) inNetwork(f func() error) error {
	done := make(chan error, 1)
	go func() {
		// Unlocked only once back in the machine's namespace: a thread
		// left locked ends with this goroutine.
		runtime.LockOSThread()
		machine, err := netns.Get()
		if err != nil {
			done <- err
			return
		}
		defer machine.Close()
		node, err := netns.GetFromPath(n.netPin())
		if err != nil {
			done <- err
			return
		}
		defer node.Close()
		if err := netns.Set(node); err != nil {
			done <- err
			return
		}
		ferr := f()
		if err := netns.Set(machine); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("return to the machine's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// Forward listens on the host at listen (e.g. "127.0.0.1:2348") and copies every
// connection to address inside the node (through Dial) until ctx ends; returns once
// listening (error if the port is taken).
func (n Node) Forward(ctx context.Context, listen, address string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("forward %s to %s in node %s: %w", listen, address, n.Link, err)
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

// forwardPatience is how long a connection to a forward waits for the
// program in the node to listen: a client that connects as the program
// starts (kenv setting a Delve's breakpoints) is held, not refused, as it
// would be were the program on this machine's loopback and a moment late.
const forwardPatience = 30 * time.Second

// pipe copies between c and a connection to address in the node until both
// ends are done or ctx ends; the connection in the node is tried again
// while it is refused, for forwardPatience.
func (n Node) pipe(ctx context.Context, c net.Conn, address string) {
	defer c.Close()
	var remote net.Conn
	deadline := time.Now().Add(forwardPatience)
	for {
		var err error
		remote, err = n.Dial(ctx, "tcp", address)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer remote.Close()
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		remote.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	copyHalf := func(to, from net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(to, from)
		if tc, ok := to.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Add(2)
	go copyHalf(remote, c)
	go copyHalf(c, remote)
	wg.Wait()
}
