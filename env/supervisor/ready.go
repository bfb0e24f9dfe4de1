package supervisor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/node"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/state"
	"github.com/kenv-dev/kenv/env/steps"
	"github.com/kenv-dev/kenv/pki"
)

// pollInterval is how often readiness is asked.
const pollInterval = 100 * time.Millisecond

// waitReady waits, side by side, until the running components pick
// chooses answer their health checks.
func (r *Running) waitReady(pick func(plan.Component) bool) steps.Step {
	return steps.Step{Do: func(ctx context.Context, pr *steps.Progress) error {
		var ready []steps.Step
		for _, u := range r.allUnits() {
			u.mu.Lock()
			c, p := u.c, u.proc
			u.mu.Unlock()
			if !pick(c) {
				continue
			}
			ready = append(ready, steps.Step{Title: c.Name + " ready at " + c.HealthURL, Do: func(ctx context.Context, pr *steps.Progress) error {
				err := r.waitHealthy(ctx, pr, c, p)
				switch {
				case errors.Is(err, context.Canceled):
					return err
				case err != nil:
					// A process that ended has the status of how it ended.
					if p.Exit() == "" {
						r.setStatus(c.Name, state.Failed)
					}
					return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogPath, tailLines(c.LogPath, 15))
				}
				r.setStatus(c.Name, state.Ready)
				return nil
			}})
		}
		// The steps print to the same progress as the one they are part of.
		return (&steps.Runner{Progress: pr}).Run(ctx, ready...)
	}}
}

// waitHealthy waits until c, run by p, answers its health check. The time
// limit does not run while Delve holds c stopped, at entry or at a
// breakpoint: the user is stepping through it.
func (r *Running) waitHealthy(ctx context.Context, pr *steps.Progress, c plan.Component, p *process.Process) error {
	timeout := r.opts.ReadyTimeout
	deadline := time.Now().Add(timeout)
	var last, lastStop string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		if c.Debug != nil {
			st, err := delve.Inspect(c.Debug.Listen)
			switch {
			case err != nil:
				// Delve is not listening yet.
			case st.Exited:
				return false, fmt.Errorf("%s exited under Delve: %s", c.Name, st.How)
			case waitsForUser(c.Debug, st):
				deadline = time.Now().Add(timeout)
				st.File = r.sources.Local(st.File)
				if stop := stopDescription(st); stop != lastStop {
					lastStop = stop
					pr.Printf(" • %s is stopped %s; attach with `kenv attach %s` (or dlv connect %s) and continue\n",
						c.Name, stop, c.Name, c.Debug.Listen)
					r.setStatus(c.Name, state.Halted(st.Summary()))
				}
			default:
				lastStop = ""
			}
		}
		if p.Exit() != "" {
			return false, p.ExitError()
		}
		err := r.probe(ctx, c.HealthURL)
		if err == nil {
			return true, nil
		}
		last = err.Error()
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%s is not ready after %s (last answer: %s)", c.Name, timeout, last)
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s is not ready: %w", c.Name, ctx.Err())
	}
	return err
}

// probe asks a component's health check: an HTTP(S) URL that answers 200,
// or unix://SOCKET, a CRI runtime that says it is ready.
func (r *Running) probe(ctx context.Context, url string) error {
	if socket, ok := strings.CutPrefix(url, "unix://"); ok {
		return node.Ready(ctx, socket)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := r.health.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// waitsForUser reports whether a program Delve reports halted waits for a
// person: at a breakpoint, or at entry when the spec says to wait. A
// program that does not wait is halted for a moment while Delve starts it
// or kenv sets its breakpoints; that is no stop to report.
func waitsForUser(d *plan.Debug, st delve.State) bool {
	return st.Halted && (st.Breakpoint != "" || d.Wait)
}

func stopDescription(st delve.State) string {
	switch {
	case st.Breakpoint != "":
		return fmt.Sprintf("at breakpoint %s (%s:%d)", st.Breakpoint, st.File, st.Line)
	case st.File != "":
		return fmt.Sprintf("at %s:%d, waiting for a debugger", st.File, st.Line)
	default:
		return "at entry, waiting for a debugger"
	}
}

// healthClient presents the admin certificate in dir and trusts only the
// server CA, which signs every component's serving certificate.
func healthClient(dir string) (*http.Client, error) {
	admin, err := tls.LoadX509KeyPair(pki.CertPath(dir, pki.AdminClient), pki.KeyPath(dir, pki.AdminClient))
	if err != nil {
		return nil, err
	}
	caPEM, err := pki.LoadCAPEM(dir, pki.ServerCA)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{admin}},
		},
	}, nil
}

// tailLines returns the last n lines of the file at path, indented.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "   (no log: " + err.Error() + ")"
	}
	defer f.Close()
	lines, _ := process.Tail(f, n)
	return "   " + strings.Join(lines, "\n   ")
}
