// Package control is how other kenv processes ask an environment's
// supervisor to stop, start or restart one component: a Unix socket in the
// state directory, which only its owner can reach, carrying a request and
// an answer of progress lines that ends with the result.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
)

// Action is what a request asks of a component.
type Action string

const (
	Stop    Action = "stop"
	Start   Action = "start"
	Restart Action = "restart"
)

// Request asks for Action on Component. Debug, for a start or restart,
// switches Delve on or off when not nil.
type Request struct {
	Component string
	Action    Action
	Debug     *bool
}

// Handler carries requests out, writing progress to out as it goes.
type Handler interface {
	Handle(ctx context.Context, req Request, out io.Writer) error
}

// Serve serves h on a Unix socket at path until the returned function is
// called. A socket left at path by a process that died is replaced: the
// caller holds the environment's claim.
func Serve(path string, h Handler) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /components/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		req, err := requestOf(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a := newAnswer(w)
		a.result(h.Handle(r.Context(), req, a))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	return func() {
		srv.Close()
		os.Remove(path)
	}, nil
}

func requestOf(r *http.Request) (Request, error) {
	req := Request{Component: r.PathValue("name"), Action: Action(r.PathValue("action"))}
	switch req.Action {
	case Stop, Start, Restart:
	default:
		return req, fmt.Errorf("unknown action %q", req.Action)
	}
	if v := r.URL.Query().Get("debug"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return req, errors.New("debug must be true or false")
		}
		req.Debug = &b
	}
	return req, nil
}

// Ask sends req to the supervisor serving path, copies its progress to out
// and returns its result.
func Ask(ctx context.Context, path string, req Request, out io.Writer) error {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	// A node's component is named "node-1/kubelet": one path segment.
	url := "http://kenv/components/" + neturl.PathEscape(req.Component) + "/" + string(req.Action)
	if req.Debug != nil {
		url += "?debug=" + strconv.FormatBool(*req.Debug)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("reach the supervisor at %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return errors.New(string(msg))
	}
	return readAnswer(resp.Body, out)
}

// message is one line of an answer: progress text as the supervisor writes
// it, or, last, the result. JSON keeps an error's lines (a build's or a
// component's log tail) within its message.
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
