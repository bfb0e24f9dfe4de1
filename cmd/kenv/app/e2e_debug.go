package app

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/go-delve/delve/service/rpc2"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/layout"
	"github.com/kenv-dev/kenv/env/state"
)

// e2eDelve is the Delve that debugs e2e.test, built by Go toolchain: the
// one a component of the tree would run under, installed on first use.
func e2eDelve(ctx context.Context, cache layout.Cache, toolchain string, streams Streams) (string, error) {
	d, err := delve.Choose(cache, "", toolchain, delve.OnPath())
	if err != nil {
		return "", err
	}
	if !d.Cached {
		return d.Path, nil
	}
	if _, err := os.Stat(d.Path); err == nil {
		return d.Path, nil
	}
	fmt.Fprintf(streams.Out, " • Delve %s for e2e.test (Go %s)\n", d.Release, toolchain)
	return delve.Ensure(ctx, cache, d.Release, toolchain, streams.Err)
}

// debugArgv runs e2e.test under a headless Delve listening at addr,
// stopped at its start: kenv sets the breakpoints, or the user does.
func debugArgv(s suite, addr string) []string {
	return []string{s.dlv, "exec", "--headless", "--api-version=2", "--accept-multiclient", "--listen=" + addr, s.e2eTest, "--"}
}

// runDebugged starts run, e2e.test under Delve at addr, sets breaks and
// resumes it, says each time it halts and how to attach, and returns its
// exit status once it has ended, stopping Delve then.
func runDebugged(ctx context.Context, run *exec.Cmd, addr string, st *state.State, breaks []string, streams Streams) (int, error) {
	if err := run.Start(); err != nil {
		return 0, err
	}
	ended := make(chan error, 1)
	go func() { ended <- run.Wait() }()
	stop := func() {
		// Delve stays up for its clients after the program ends.
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = rpc2.NewClientFromConn(conn).Detach(true)
		}
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			_ = run.Process.Kill()
			<-ended
		}
	}
	if len(breaks) > 0 {
		var bps []delve.Breakpoint
		for _, b := range breaks {
			bps = append(bps, delve.Breakpoint{Location: b})
		}
		set, err := delve.SetBreakpoints(ctx, addr, st.SourceMap, bps, true, time.Minute)
		if err == nil {
			for _, s := range set {
				if s.Err != nil {
					err = fmt.Errorf("breakpoint %q in e2e.test: %w", s.Location, s.Err)
					break
				}
				fmt.Fprintf(streams.Out, " ✓ breakpoint %q in e2e.test at %s:%d\n", s.Location, s.File, s.Line)
			}
		}
		if err != nil {
			stop()
			return 0, err
		}
	} else {
		fmt.Fprintf(streams.Out, " ⏸ e2e.test waits at its start for a debugger: dlv connect %s, set breakpoints, continue\n", addr)
	}
	var said string
	for {
		select {
		case err := <-ended:
			return runExit(err)
		case <-ctx.Done():
			stop()
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		s, err := delve.Inspect(addr)
		switch {
		case err != nil:
			continue
		case s.Exited:
			stop()
			return s.Status, nil
		case s.Halted && s.Breakpoint != "" && s.Summary() != said:
			said = s.Summary()
			fmt.Fprintf(streams.Out, " ⏸ e2e.test %s: dlv connect %s (or your editor's remote attach), then continue\n", said, addr)
		case !s.Halted:
			said = ""
		}
	}
}

// freePort is a port on the loopback nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
