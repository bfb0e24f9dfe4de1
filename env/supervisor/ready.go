package supervisor

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
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

// waitReady waits until the components answer their health checks. A
// component that Delve holds at entry is waited for without a time limit:
// the user is stepping through it.
func (r *Running) waitReady(ctx context.Context, pr *progress, components []plan.Component) error {
	client, err := r.healthClient()
	if err != nil {
		return err
	}
	var fns []func() error
	for _, c := range components {
		p := r.process(c.Name)
		fns = append(fns, func() error {
			ctx := ctx
			if c.Debug != nil && c.Debug.Wait {
				pr.printf(" • %s waits for a debugger: dlv connect %s, then continue\n", c.Name, c.Debug.Listen)
				r.setStatus(c.Name, "waiting for debugger")
			} else {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, r.opts.ReadyTimeout)
				defer cancel()
			}
			done := pr.step(c.Name + " ready at " + c.HealthURL)
			err := waitHealthy(ctx, client, c, p)
			done(err)
			if err != nil {
				r.setStatus(c.Name, "failed")
				return fmt.Errorf("%w\nlast lines of %s:\n%s", err, c.LogPath, tailLines(c.LogPath, 15))
			}
			r.setStatus(c.Name, "ready")
			return nil
		})
	}
	return parallel(fns...)
}

func (r *Running) process(name string) *process.Process {
	for _, p := range r.processes {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func waitHealthy(ctx context.Context, client *http.Client, c plan.Component, p *process.Process) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if c.Debug != nil {
			if exited, how := delve.ProgramExited(c.Debug.Listen); exited {
				return fmt.Errorf("%s exited under Delve: %s", c.Name, how)
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
		select {
		case <-p.Done():
			return fmt.Errorf("%s: %w", c.Name, p.ExitError())
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready (%s; last answer: %s)", c.Name, ctx.Err(), last)
		case <-tick.C:
		}
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
