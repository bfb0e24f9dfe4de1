package supervisor

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kenv-dev/kenv/env/delve"
	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/pki"
)

// waitReady waits until the components answer their health checks. The
// time limit does not run while Delve holds a component stopped, at entry
// or at a breakpoint: the user is stepping through it.
func (r *Running) waitReady(ctx context.Context, pr *progress, components []plan.Component) error {
	client, err := r.healthClient()
	if err != nil {
		return err
	}
	var fns []func(context.Context) error
	for _, c := range components {
		u := r.unit(c.Name)
		u.mu.Lock()
		p := u.proc
		u.mu.Unlock()
		fns = append(fns, func(ctx context.Context) error {
			done := pr.step(c.Name + " ready at " + c.HealthURL)
			err := r.waitHealthy(ctx, pr, client, c, p)
			done(err)
			if errors.Is(err, context.Canceled) {
				return err
			}
			if err != nil {
				r.setStatus(c.Name, "failed")
				return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogPath, tailLines(c.LogPath, 15))
			}
			r.setStatus(c.Name, "ready")
			return nil
		})
	}
	return parallel(ctx, fns...)
}

func (r *Running) waitHealthy(ctx context.Context, pr *progress, client *http.Client, c plan.Component, p *process.Process) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(r.opts.ReadyTimeout)
	var last, lastStop string
	for {
		if c.Debug != nil {
			st, err := delve.Inspect(c.Debug.Listen)
			switch {
			case err != nil:
				// Delve is not listening yet.
			case st.Exited:
				return fmt.Errorf("%s exited under Delve: %s", c.Name, st.How)
			case waitsForUser(c.Debug, st):
				deadline = time.Now().Add(r.opts.ReadyTimeout)
				st.File = r.sources.Local(st.File)
				if stop := stopDescription(st); stop != lastStop {
					lastStop = stop
					pr.printf(" • %s is stopped %s; attach with `kenv attach %s` (or dlv connect %s) and continue\n",
						c.Name, stop, c.Name, c.Debug.Listen)
					r.setStatus(c.Name, st.Summary())
				}
			default:
				lastStop = ""
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.HealthURL, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not ready after %s (last answer: %s)", c.Name, r.opts.ReadyTimeout, last)
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s: %w", c.Name, p.ExitError())
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready: %w", c.Name, ctx.Err())
		case <-tick.C:
		}
	}
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

// healthClient presents the admin certificate and trusts only the server
// CA, which signs every component's serving certificate.
func (r *Running) healthClient() (*http.Client, error) {
	dir := r.opts.Env.CertDir()
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

func (r *Running) setStatus(name, status string) {
	r.updateState(func(s *State) {
		for i := range s.Components {
			if s.Components[i].Name == name {
				s.Components[i].Status = status
			}
		}
	})
}

// tailLines returns the last n lines of the file at path, indented.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "   (no log: " + err.Error() + ")"
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "   " + strings.Join(lines, "\n   ")
}
