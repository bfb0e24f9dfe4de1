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

	"github.com/kenv-dev/kenv/env/plan"
	"github.com/kenv-dev/kenv/env/process"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// waitReady waits until every component answers its health check. A
// component that Delve holds at entry is not waited for, nor, when it is the
// apiserver, are the components that need it.
func (r *Running) waitReady(ctx context.Context, pr *progress) error {
	apiClient, selfSignedClient, err := r.healthClients()
	if err != nil {
		return err
	}
	apiWaits := false
	for _, c := range r.plan.Components {
		apiWaits = apiWaits || (c.Name == spec.KubeAPIServer && c.Debug != nil && c.Debug.Wait)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.ReadyTimeout)
	defer cancel()
	var fns []func() error
	for i, c := range r.plan.Components {
		p := r.processes[i]
		if c.Debug != nil && c.Debug.Wait {
			pr.printf(" • %s waits for a debugger: dlv connect %s, then continue\n", c.Name, c.Debug.Listen)
			r.setStatus(c.Name, "waiting for debugger")
			continue
		}
		if apiWaits {
			pr.printf(" • %s started; it becomes ready once kube-apiserver is continued\n", c.Name)
			continue
		}
		client := selfSignedClient
		if c.Name == spec.KubeAPIServer {
			client = apiClient
		}
		fns = append(fns, func() error {
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

func waitHealthy(ctx context.Context, client *http.Client, c plan.Component, p *process.Process) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
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

// healthClients return the client that checks the apiserver, presenting
// the admin certificate and trusting the server CA, and the one for the
// controller-manager and scheduler. Those serve self-signed certificates on
// loopback that no CA vouches for, so only their answer is checked.
func (r *Running) healthClients() (api, selfSigned *http.Client, err error) {
	dir := r.opts.Env.CertDir()
	admin, err := tls.LoadX509KeyPair(pki.CertPath(dir, pki.AdminClient), pki.KeyPath(dir, pki.AdminClient))
	if err != nil {
		return nil, nil, err
	}
	caPEM, err := pki.LoadCAPEM(dir, pki.ServerCA)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := func(cfg *tls.Config) *http.Client {
		cfg.Certificates = []tls.Certificate{admin}
		return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	return client(&tls.Config{RootCAs: roots}), client(&tls.Config{InsecureSkipVerify: true}), nil
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
