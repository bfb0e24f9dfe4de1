package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/layout"
)

// The control socket lets other kenv processes ask the supervisor to stop,
// start or restart one component. It is a Unix socket in the state
// directory, which only its owner can reach.

// serveControl serves the control socket until the returned function is
// called.
func (r *Running) serveControl() (stop func(), err error) {
	path := r.opts.Env.ControlSocket()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(path) // left by a supervisor that died; we hold the lock
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /components/{name}/{action}", r.handleControl)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	return func() {
		srv.Close()
		os.Remove(path)
	}, nil
}

// handleControl streams the action's progress lines and ends with "ok" or
// "error: ...".
func (r *Running) handleControl(w http.ResponseWriter, req *http.Request) {
	name, action := req.PathValue("name"), req.PathValue("action")
	out := flushWriter{w}
	pr := &progress{out: out}
	var err error
	switch action {
	case "stop":
		done := pr.step("stop " + name)
		err = r.StopComponent(name)
		done(err)
	case "start", "restart":
		var debug *bool
		if v := req.URL.Query().Get("debug"); v != "" {
			b, perr := strconv.ParseBool(v)
			if perr != nil {
				http.Error(w, "debug must be true or false", http.StatusBadRequest)
				return
			}
			debug = &b
		}
		err = r.Restart(req.Context(), name, debug, pr)
	default:
		http.Error(w, "unknown action "+action, http.StatusNotFound)
		return
	}
	if err != nil {
		fmt.Fprintf(out, "error: %v\n", err)
		return
	}
	fmt.Fprintln(out, "ok")
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// Control asks the supervisor of env to stop, start or restart a
// component, copying its progress to out. debug switches Delve on or off
// for a start or restart when not nil.
func Control(ctx context.Context, env layout.Env, component, action string, debug *bool, out io.Writer) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", env.ControlSocket())
		},
	}}
	url := "http://kenv/components/" + component + "/" + action
	if debug != nil {
		url += "?debug=" + strconv.FormatBool(*debug)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach the supervisor of %s: %w", env.Dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return errors.New(string(msg))
	}
	return copyUntilResult(resp.Body, out)
}

// copyUntilResult copies progress lines to out and turns the last line,
// "ok" or "error: ...", into the result.
func copyUntilResult(body io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(body)
	last := ""
	for sc.Scan() {
		if last != "" {
			fmt.Fprintln(out, last)
		}
		last = sc.Text()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if msg, failed := strings.CutPrefix(last, "error: "); failed {
		return errors.New(msg)
	}
	if last != "ok" {
		return fmt.Errorf("the supervisor ended the answer early: %q", last)
	}
	return nil
}
