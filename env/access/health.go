package access

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/kenv-dev/kenv/pki"
)

// HealthClient asks the components' health checks: it presents the admin
// certificate in the certificate directory dir and trusts only the server
// CA, which signs every component's serving certificate.
func HealthClient(dir string) (*http.Client, error) {
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

// Healthy asks the HTTP(S) health check at url once; it fails unless the
// answer is 200.
func Healthy(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
