package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnswerRoundTrip sends progress and a result whose error holds a log
// tail of several lines, as a failed restart's does, through the control
// protocol over HTTP, and reads both back intact.
func TestAnswerRoundTrip(t *testing.T) {
	buildFailure := errors.New("build: go build kube-scheduler: exit status 1\n" +
		"pkg/scheduler/schedule_one.go:42:2: undefined: x\n" +
		"ok  \tnot a result line\n" +
		"error: not a result line either")
	for _, tt := range []struct {
		name   string
		result error
		send   func(a *answer)
	}{
		{"success", nil, func(a *answer) { a.result(nil) }},
		{"multi-line error", buildFailure, func(a *answer) { a.result(buildFailure) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a := newAnswer(w)
				fmt.Fprintf(a, " ✓ stop kube-scheduler (%s)\n", "0.1s")
				fmt.Fprint(a, "partial ")
				fmt.Fprint(a, "line\n")
				tt.send(a)
			}))
			defer srv.Close()
			resp, err := http.Post(srv.URL, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out strings.Builder
			err = readAnswer(resp.Body, &out)
			if fmt.Sprint(err) != fmt.Sprint(tt.result) {
				t.Errorf("result %q, want %q", err, tt.result)
			}
			if want := " ✓ stop kube-scheduler (0.1s)\npartial line\n"; out.String() != want {
				t.Errorf("progress %q, want %q", out.String(), want)
			}
		})
	}
}

// TestAnswerCutShort reads an answer that ends before its result, as when
// the supervisor dies mid-restart.
func TestAnswerCutShort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(newAnswer(w), "building\n")
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out strings.Builder
	if err := readAnswer(resp.Body, &out); err == nil || !strings.Contains(err.Error(), "before its result") {
		t.Errorf("an answer without a result: %v", err)
	}
	if out.String() != "building\n" {
		t.Errorf("progress %q", out.String())
	}
}

// handler records the request it was given and answers with progress and
// a multi-line error.
type handler struct{ got Request }

func (h *handler) Handle(_ context.Context, req Request, out io.Writer) error {
	h.got = req
	fmt.Fprintln(out, "building")
	return errors.New("build failed:\n   a.go:1:1: syntax error")
}

// TestServeAndAsk sends a request through a real Unix socket and reads the
// progress and the multi-line error back intact.
func TestServeAndAsk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	h := &handler{}
	stop, err := Serve(path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	on := true
	var out strings.Builder
	err = Ask(context.Background(), path, Request{Component: "kube-scheduler", Action: Restart, Debug: &on}, &out)
	if err == nil || err.Error() != "build failed:\n   a.go:1:1: syntax error" {
		t.Errorf("result %q", err)
	}
	if out.String() != "building\n" {
		t.Errorf("progress %q", out.String())
	}
	if h.got.Component != "kube-scheduler" || h.got.Action != Restart || h.got.Debug == nil || !*h.got.Debug {
		t.Errorf("request as served: %+v", h.got)
	}
	// A node's component, whose name holds a slash.
	if _ = Ask(context.Background(), path, Request{Component: "node-1/kubelet", Action: Restart}, &out); h.got.Component != "node-1/kubelet" {
		t.Errorf("a node's component as served: %+v", h.got)
	}
	if err := Ask(context.Background(), path, Request{Component: "x", Action: "explode"}, &out); err == nil || !strings.Contains(err.Error(), `unknown action "explode"`) {
		t.Errorf("unknown action: %v", err)
	}
}
