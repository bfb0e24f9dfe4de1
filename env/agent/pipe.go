package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// pipeWait bounds the wait for Delve to listen: the kubelet's stop of the
// pod (stopWait), then Delve's start.
const pipeWait = 3 * time.Minute

// Pipe connects to address, Delve on the node's loopback, and copies in to
// the connection and the connection to out: what `ssh -W` does, the same
// over every transport. A refused connection is tried again for up to
// pipeWait, while the pod stops and Delve starts, unless in ends first:
// the client gave up. What in brings meanwhile is sent once connected. The
// end of in half-closes the connection; Pipe returns when the
// connection's side ends (or ctx does).
func Pipe(ctx context.Context, address string, in io.Reader, out io.Writer) error {
	chunks := make(chan []byte, 64)
	inEnded := make(chan struct{})
	go func() {
		defer close(chunks)
		buf := make([]byte, 32<<10)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				chunks <- bytes.Clone(buf[:n])
			}
			if err != nil {
				close(inEnded)
				return
			}
		}
	}()
	var conn net.Conn
	var err error
	var dialer net.Dialer
	process.WaitFor(ctx, pipeWait, func() bool {
		select {
		case <-inEnded:
			return true
		default:
		}
		conn, err = dialer.DialContext(ctx, "tcp", address)
		return err == nil || !errors.Is(err, syscall.ECONNREFUSED)
	})
	switch {
	case conn != nil:
	case errors.Is(err, syscall.ECONNREFUSED):
		select {
		case <-inEnded:
			return nil // the client hung up first
		default:
		}
		return fmt.Errorf("connect to %s: nothing listens there after %s (does Delve run?): %w", address, pipeWait, err)
	case err != nil:
		return fmt.Errorf("connect to %s: %w", address, err)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return nil // the client hung up before the first try
	}
	defer conn.Close()
	go func() {
		for chunk := range chunks {
			if _, err := conn.Write(chunk); err != nil {
				break
			}
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, conn)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
