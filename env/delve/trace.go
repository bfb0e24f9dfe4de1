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
		// A run of tracepoint hits is resumed without polling in between.
		for !st.Running && atTracepoint(st) {
			writeHit(w, st.CurrentThread)
			st = <-client.Continue()
			if st.Exited || ctx.Err() != nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func atTracepoint(st *api.DebuggerState) bool {
	th := st.CurrentThread
	return th != nil && th.Breakpoint != nil && th.Breakpoint.Tracepoint
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
