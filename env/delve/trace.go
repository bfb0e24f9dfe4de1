package delve

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
)

// traceLoad bounds what a tracepoint hit loads of the function's arguments.
var traceLoad = api.LoadConfig{FollowPointers: false, MaxVariableRecurse: 1, MaxStringLen: 80, MaxArrayValues: 8, MaxStructFields: 8}

// Trace resumes the program behind the Delve at addr each time it stops at
// a tracepoint, writing one line per hit to w, until ctx is done or the
// program exits. Stops at ordinary breakpoints, or by a client's halt, are
// left to the user: Trace waits until the program runs again.
func Trace(ctx context.Context, addr string, w io.Writer) error {
	conn, err := dialUntil(ctx, addr, time.Minute)
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	client := rpc2.NewClientFromConn(conn)
	for ctx.Err() == nil {
		st, err := client.GetStateNonBlocking()
		switch {
		case err != nil && strings.Contains(err.Error(), "has exited"):
			return nil
		case err != nil:
			return err
		case st.Exited:
			return nil
		}
		if !st.Running && atTracepoint(st) {
			writeHits(w, st)
			// The client's continue goes on by itself past tracepoint
			// stops, sending each on the channel, and closes it at any
			// other stop.
			for st := range client.Continue() {
				if atTracepoint(st) {
					writeHits(w, st)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// atTracepoint reports a stop at tracepoints only, as Delve's client
// decides it: some thread is at a breakpoint, and every such one is a
// tracepoint.
func atTracepoint(st *api.DebuggerState) bool {
	if st.Running || st.Exited {
		return false
	}
	hit := false
	for _, th := range st.Threads {
		if th.Breakpoint != nil {
			if !th.Breakpoint.Tracepoint {
				return false
			}
			hit = true
		}
	}
	return hit
}

// writeHits logs every thread at a tracepoint: goroutines that reach one
// together stop together.
func writeHits(w io.Writer, st *api.DebuggerState) {
	for _, th := range st.Threads {
		if th.Breakpoint != nil && th.Breakpoint.Tracepoint {
			writeHit(w, th)
		}
	}
}

func writeHit(w io.Writer, th *api.Thread) {
	var args []string
	if th.BreakpointInfo != nil {
		for _, a := range th.BreakpointInfo.Arguments {
			args = append(args, a.Name+"="+a.SinglelineString())
		}
	}
	fn := ""
	if th.Function != nil {
		fn = th.Function.Name()
	}
	fmt.Fprintf(w, "%s goroutine %d %s(%s) %s:%d\n", time.Now().Format(time.RFC3339Nano), th.GoroutineID, fn,
		strings.Join(args, ", "), th.File, th.Line)
}
