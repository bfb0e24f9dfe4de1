package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/kenv-dev/kenv/env/process"
)

// pipeWait bounds the wait for Delve to listen.
const pipeWait = 30 * time.Second

// Pipe connects to address, Delve on the node's loopback, and copies in to
// the connection and the connection to out: what `ssh -W` does, the same
// over every transport. A refused connection is tried again for up to 30
// s, while Delve starts. The end of in half-closes the connection; Pipe
// returns when the connection's side ends (or ctx does).
func Pipe(ctx context.Context, address string, in io.Reader, out io.Writer) error {
	var conn net.Conn
	var err error
	var dialer net.Dialer
	process.WaitFor(ctx, pipeWait, func() bool {
		conn, err = dialer.DialContext(ctx, "tcp", address)
		return err == nil || !errors.Is(err, syscall.ECONNREFUSED)
	})
	switch {
	case conn != nil:
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connect to %s: nothing listens there after %s (does Delve run?): %w", address, pipeWait, err)
	case err != nil:
		return fmt.Errorf("connect to %s: %w", address, err)
	default:
		return ctx.Err()
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, in)
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
