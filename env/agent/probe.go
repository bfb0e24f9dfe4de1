package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Probe asks the health check of component, swapped in place of its
// manifest, on the node's loopback: /healthz at the port its flags give
// (https; the component's own serving certificate is not checked, and no
// credentials are sent: the health paths are open to anyone).
func Probe(ctx context.Context, component, manifest, dir string) error {
	f, err := Check(component, manifest, dir)
	if err != nil {
		return err
	}
	if len(f.Ports) == 0 {
		return fmt.Errorf("%s listens on no port kenv knows", component)
	}
	host, port, err := net.SplitHostPort(f.Ports[0])
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the node's own loopback, no credentials
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /healthz: %s", component, resp.Status)
	}
	return nil
}
