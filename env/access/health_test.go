package access

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kenv-dev/kenv/pki"
)

// certs are a control plane's server CA, client CA, a serving certificate
// for 127.0.0.1 and the admin's client certificate; made once, as RSA keys
// take a while.
type certs struct {
	serverCA, clientCA, serving, admin *pki.KeyPair
}

var (
	testCertsOnce sync.Once
	testCerts     certs
	testCertsErr  error
)

func makeCerts(t *testing.T) certs {
	t.Helper()
	testCertsOnce.Do(func() {
		c := &testCerts
		if c.serverCA, testCertsErr = pki.NewCA(pki.ServerCA, time.Hour); testCertsErr != nil {
			return
		}
		if c.clientCA, testCertsErr = pki.NewCA(pki.ClientCA, time.Hour); testCertsErr != nil {
			return
		}
		if c.serving, testCertsErr = pki.Sign(c.serverCA, pki.Request{CommonName: "kubernetes.default", Hosts: []string{"127.0.0.1"}, Usage: pki.ServerAuth}, time.Hour); testCertsErr != nil {
			return
		}
		c.admin, testCertsErr = pki.Sign(c.clientCA, pki.Request{CommonName: "system:admin", Organization: []string{"system:masters"}, Usage: pki.ClientAuth}, time.Hour)
	})
	if testCertsErr != nil {
		t.Fatal(testCertsErr)
	}
	return testCerts
}

// certDir is a certificate directory as kenv lays it out, with the files
// HealthClient reads.
func certDir(t *testing.T) string {
	t.Helper()
	c := makeCerts(t)
	dir := t.TempDir()
	if err := c.serverCA.Write(dir, pki.ServerCA); err != nil {
		t.Fatal(err)
	}
	if err := c.admin.Write(dir, pki.AdminClient); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serveTLS serves h over TLS as a control plane component does: a serving
// certificate from the server CA, client certificates verified against the
// client CA when given.
func serveTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	c := makeCerts(t)
	serving, err := tls.X509KeyPair(c.serving.CertPEM, c.serving.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(c.clientCA.Cert)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: clientCAs}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// adminOnly answers 401 to a request without the admin's certificate.
func adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "system:admin" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// refusedURL is an https URL on a loopback port nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return "https://" + l.Addr().String() + "/healthz"
}

func TestHealthy(t *testing.T) {
	component := serveTLS(t, adminOnly(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok"))
		case "/readyz":
			http.Error(w, "[-]etcd failed", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	// A server whose certificate the server CA did not sign.
	stranger := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	stranger.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	stranger.StartTLS()
	defer stranger.Close()

	client, err := HealthClient(certDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		// want is in the error; empty when healthy.
		want string
	}{
		{"200 with the admin's certificate", component.URL + "/healthz", ""},
		{"500", component.URL + "/readyz", "500 Internal Server Error"},
		{"404", component.URL + "/livez", "404 Not Found"},
		{"connection refused", refusedURL(t), "connection refused"},
		{"certificate of another CA", stranger.URL + "/healthz", "certificate signed by unknown authority"},
		{"not a URL", "https://[::1/healthz", "missing ']'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Healthy(context.Background(), client, tt.url)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Healthy(%s) = %v, want healthy", tt.url, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Healthy(%s) = %v, want an error with %q", tt.url, err, tt.want)
			}
		})
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Healthy(ctx, client, component.URL+"/healthz"); err == nil {
		t.Errorf("a cancelled check is healthy")
	}
}

func TestHealthClientNeedsItsCertificates(t *testing.T) {
	tests := []struct {
		name   string
		remove string
	}{
		{"no admin certificate", pki.CertPath("", pki.AdminClient)},
		{"no admin key", pki.KeyPath("", pki.AdminClient)},
		{"no server CA", pki.CertPath("", pki.ServerCA)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := certDir(t)
			if err := os.Remove(filepath.Join(dir, tt.remove)); err != nil {
				t.Fatal(err)
			}
			if _, err := HealthClient(dir); err == nil || !strings.Contains(err.Error(), tt.remove) {
				t.Errorf("HealthClient without %s: %v", tt.remove, err)
			}
		})
	}
}
