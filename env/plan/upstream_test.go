package plan_test

import (
	"os"
	"strings"
	"testing"
)

// The flags hack/local-up-cluster.sh passes (v1.34, without a cloud, a
// kubelet or optional environment variables), from
// shared/reference/local-up-cluster.md §4.
var upstream = map[string][]string{
	"kube-apiserver": {"v", "vmodule", "audit-policy-file", "audit-log-path", "cert-dir", "egress-selector-config-file",
		"client-ca-file", "kubelet-client-certificate", "kubelet-client-key", "kubelet-port", "kubelet-read-only-port",
		"service-account-key-file", "service-account-lookup", "service-account-issuer", "service-account-jwks-uri",
		"service-account-signing-key-file", "enable-admission-plugins", "disable-admission-plugins",
		"admission-control-config-file", "bind-address", "secure-port", "tls-cert-file", "tls-private-key-file",
		"storage-backend", "storage-media-type", "etcd-servers", "service-cluster-ip-range", "feature-gates",
		"emulated-version", "external-hostname", "requestheader-username-headers", "requestheader-group-headers",
		"requestheader-extra-headers-prefix", "requestheader-client-ca-file", "requestheader-allowed-names",
		"proxy-client-cert-file", "proxy-client-key-file", "cors-allowed-origins", "authorization-mode",
		"authorization-webhook-config-file", "authentication-token-webhook-config-file"},
	"kube-controller-manager": {"v", "vmodule", "service-account-private-key-file", "service-cluster-ip-range",
		"root-ca-file", "cluster-signing-cert-file", "cluster-signing-key-file", "enable-hostpath-provisioner",
		"pvclaimbinder-sync-period", "feature-gates", "emulated-version", "cloud-provider", "cloud-config",
		"configure-cloud-routes", "authentication-kubeconfig", "authorization-kubeconfig", "kubeconfig",
		"use-service-account-credentials", "controllers", "leader-elect", "cert-dir", "secure-port", "bind-address", "master"},
	"kube-scheduler": {"v", "config", "feature-gates", "emulated-version", "authentication-kubeconfig",
		"authorization-kubeconfig", "secure-port", "bind-address", "master"},
}

// TestFlagsMatchLocalUpCluster fails for a flag local-up-cluster passes
// that kenv does not, or the other way round, unless docs/local-up-cluster.md
// names the difference.
func TestFlagsMatchLocalUpCluster(t *testing.T) {
	doc, err := os.ReadFile("../../docs/local-up-cluster.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := func(flag string) bool { return strings.Contains(string(doc), "`--"+flag+"`") }
	p := newPlan(t, `
kubernetes {
  version = "v1.34.4"
}
component "kube-apiserver" {}
component "kube-controller-manager" {}
component "kube-scheduler" {}
`)
	for _, c := range p.Components {
		ours := map[string]string{}
		for _, f := range c.Flags {
			ours[f.Name] = f.Value
		}
		theirs := map[string]bool{}
		for _, flag := range upstream[c.Name] {
			theirs[flag] = true
			if _, ok := ours[flag]; !ok && !documented(flag) {
				t.Errorf("%s: local-up-cluster passes --%s, kenv does not, and docs/local-up-cluster.md does not say why", c.Name, flag)
			}
		}
		for flag := range ours {
			if !theirs[flag] && !documented(flag) {
				t.Errorf("%s: kenv passes --%s, local-up-cluster does not, and docs/local-up-cluster.md does not say why", c.Name, flag)
			}
		}
		if ours["bind-address"] != "127.0.0.1" || !documented("bind-address") {
			t.Errorf("%s binds to %q", c.Name, ours["bind-address"])
		}
	}
}
