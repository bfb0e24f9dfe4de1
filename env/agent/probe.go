package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/kenv-dev/kenv/env/access"
)

// Probe fails until the agent in dir runs kenv's build of component in
// place of its static pod (until then a health check may be the old pod's,
// on its way out); then it asks the build's health check on the node's
// loopback: /healthz at the port its flags give (https; the component's
// own serving certificate is not checked, and no credentials are sent:
// the health paths are open to anyone), the kubelet's at its healthz port
// (plain http). kube-apiserver's readiness is
// asked by kenv through the cluster's kubeconfig.
func Probe(ctx context.Context, component, manifest, dir string) error {
	running := false
	for _, id := range readRunning(paths{dir, component}) {
		running = running || id.Alive()
	}
	if !running {
		return fmt.Errorf("kenv's build of %s does not run yet", component)
	}
	if component == "kube-apiserver" {
		return nil
	}
	f, err := Check(component, manifest, dir)
	if err != nil {
		return err
	}
	if f.Health == "" {
		return fmt.Errorf("%s has no health check kenv knows", component)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the node's own loopback, no credentials
	}}
	if err := access.Healthy(ctx, client, f.Health); err != nil {
		return fmt.Errorf("%s /healthz: %w", component, err)
	}
	return nil
}
