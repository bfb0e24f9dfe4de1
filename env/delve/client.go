package delve

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"

	"github.com/kenv-dev/kenv/env/sourcemap"
)

// State is what a headless Delve says about the program it debugs.
type State struct {
	// Exited is set once the program has ended; How says how, and
	// Status is its exit status.
	Exited bool
	How    string
	Status int
	// Halted is set while the program is stopped: at entry, at a
	// breakpoint (then Breakpoint names it) or by a client.
	Halted     bool
	Breakpoint string
	File       string
	Line       int
}

// Inspect asks the headless Delve at addr about its program without
// stopping it. Delve stays up after the program exits, waiting for
// clients, so its process alone does not tell.
func Inspect(addr string) (State, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return State{}, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return State{}, err
	}
	st, err := rpc2.NewClientFromConn(conn).GetStateNonBlocking()
	switch {
	case err != nil && exitedRE.MatchString(err.Error()):
		// Delve answers "Process 42 has exited with status 1".
		status, _ := strconv.Atoi(exitedRE.FindStringSubmatch(err.Error())[1])
		return State{Exited: true, How: err.Error(), Status: status}, nil
	case err != nil:
		return State{}, err
	case st.Exited:
		return State{Exited: true, How: fmt.Sprintf("the program exited with status %d", st.ExitStatus), Status: st.ExitStatus}, nil
	}
	// A stop at a tracepoint is passing: the tracer resumes it.
	s := State{Halted: !st.Running && !atTracepoint(st)}
	if th := st.CurrentThread; s.Halted && th != nil {
		s.File, s.Line = th.File, th.Line
		if th.Breakpoint != nil {
			s.Breakpoint = breakpointName(th.Breakpoint)
		}
	}
	return s, nil
}

// exitedRE reads Delve's word on a program that ended.
var exitedRE = regexp.MustCompile(`has exited with status (-?\d+)`)

// Summary fits a stop into a status column: "halted at" the function
// without its package path, the file without its directory. "Halted", not
// "stopped", which is what `kenv stop` does.
func (s State) Summary() string {
	where := fmt.Sprintf("%s:%d", filepath.Base(s.File), s.Line)
	if s.Breakpoint == "" {
		return "halted at " + where + ", waiting for a debugger"
	}
	name := s.Breakpoint
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return fmt.Sprintf("halted at %s (%s)", name, where)
}

func breakpointName(bp *api.Breakpoint) string {
	if bp.FunctionName != "" {
		return bp.FunctionName
	}
	return fmt.Sprintf("%s:%d", bp.File, bp.Line)
}

// Breakpoint is a breakpoint to set; Location is in Delve's syntax or
// the file.go:Function form Location translates.
type Breakpoint struct {
	Location  string
	Condition string
	// Trace makes a tracepoint; Trace resumes the program at each hit.
	Trace bool
}

// SetBreakpoint is one breakpoint as Delve set it, or why it could not.
type SetBreakpoint struct {
	Breakpoint
	File string
	Line int
	Err  error
}

// SetBreakpoints connects to the Delve at addr, waiting up to timeout for it
// to listen, sets bps and, when resume is true, continues the program.
// Files in bps are local files, which sources maps to the binary's names.
func SetBreakpoints(ctx context.Context, addr string, sources sourcemap.Map, bps []Breakpoint, resume bool, timeout time.Duration) ([]SetBreakpoint, error) {
	conn, err := dialUntil(ctx, addr, timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to Delve at %s: %w", addr, err)
	}
	client := rpc2.NewClientFromConn(conn)
	var out []SetBreakpoint
	failed := false
	for _, bp := range bps {
		s := SetBreakpoint{Breakpoint: bp}
		s.File, s.Line, s.Err = setBreakpoint(client, sources.Delve(), bp)
		s.File = sources.Local(s.File)
		failed = failed || s.Err != nil
		out = append(out, s)
	}
	if failed || !resume {
		return out, conn.Close()
	}
	// Disconnect sends continue before it closes the connection.
	return out, client.Disconnect(true)
}

// setBreakpoint resolves bp's location first: Delve would otherwise accept
// a location that matches nothing as a breakpoint at no address.
func setBreakpoint(client *rpc2.RPCClient, rules [][2]string, bp Breakpoint) (file string, line int, err error) {
	loc := Location(bp.Location)
	found, _, err := client.FindLocation(api.EvalScope{GoroutineID: -1}, loc, false, rules)
	if err != nil {
		return "", 0, err
	}
	if len(found) == 0 || len(found[0].PCs) == 0 && found[0].PC == 0 {
		return "", 0, fmt.Errorf("location %q matches no code", loc)
	}
	req := &api.Breakpoint{Cond: bp.Condition, Tracepoint: bp.Trace}
	if bp.Trace {
		req.LoadArgs = &traceLoad
	}
	set, err := client.CreateBreakpointWithExpr(req, loc, rules, false)
	if err != nil {
		return "", 0, err
	}
	return set.File, set.Line, nil
}

func dialUntil(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil || time.Now().After(deadline) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var fileFunction = regexp.MustCompile(`^(.+)/[^/]+\.go:([A-Za-z_(][\w.()*]*)$`)

// Location translates "dir/file.go:Function", which Delve does not take,
// into the function's full name. A path inside a Kubernetes tree maps to
// its package: staging/src/k8s.io/x/... is k8s.io/x/..., cmd/... is
// k8s.io/kubernetes/cmd/.... Everything else is Delve's own syntax and is
// returned as it is.
func Location(loc string) string {
	m := fileFunction.FindStringSubmatch(loc)
	if m == nil {
		return loc
	}
	dir, fn := m[1], m[2]
	if rest, ok := strings.CutPrefix(dir, "staging/src/"); ok {
		dir = rest
	} else if first, _, _ := strings.Cut(dir, "/"); !strings.Contains(first, ".") {
		dir = "k8s.io/kubernetes/" + dir
	}
	return dir + "." + fn
}
