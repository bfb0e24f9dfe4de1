package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

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

// handleControl streams the action's progress and ends with its result,
// each a message.
func (r *Running) handleControl(w http.ResponseWriter, req *http.Request) {
	name, action := req.PathValue("name"), req.PathValue("action")
	answer := newAnswer(w)
	pr := &progress{out: answer}
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
	answer.result(err)
}

// message is one line of an answer on the control socket: progress text
// as the supervisor writes it, or, last, the result. JSON keeps an error's
// lines (a build's or a component's log tail) within its message.
type message struct {
	Progress string `json:"progress,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Error    string `json:"error,omitempty"`
}

// answer writes messages to a client as they come.
type answer struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func newAnswer(w http.ResponseWriter) *answer { return &answer{w: w, enc: json.NewEncoder(w)} }

// Write sends p as progress.
func (a *answer) Write(p []byte) (int, error) {
	if err := a.send(message{Progress: string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (a *answer) result(err error) {
	m := message{Done: true}
	if err != nil {
		m.Error = err.Error()
	}
	_ = a.send(m)
}

func (a *answer) send(m message) error {
	if err := a.enc.Encode(m); err != nil {
		return err
	}
	if f, ok := a.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
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
	return readAnswer(resp.Body, out)
}

// readAnswer copies an answer's progress to out and returns its result.
func readAnswer(body io.Reader, out io.Writer) error {
	dec := json.NewDecoder(body)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("the supervisor ended the answer before its result; see `kenv logs kenv`")
		} else if err != nil {
			return fmt.Errorf("read the supervisor's answer: %w", err)
		}
		switch {
		case m.Done && m.Error != "":
			return errors.New(m.Error)
		case m.Done:
			return nil
		default:
			if _, err := io.WriteString(out, m.Progress); err != nil {
				return err
			}
		}
	}
}
