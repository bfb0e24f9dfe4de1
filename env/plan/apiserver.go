package plan

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const apiServerName = "kube-apiserver"

// kubeAPIServer is the API server, with local-up-cluster's flags, bound to
// the spec's address. It needs only etcd, which starts beside it.
var kubeAPIServer = Kind{
	Kind: spec.Kind{Name: apiServerName, Port: 6443, DebugPort: 2345, Required: true, Takes: emulating},
	plan: (*Plan).apiServer,
}

// admissionChain is local-up-cluster's ENABLE_ADMISSION_PLUGINS.
var admissionChain = []string{"NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultStorageClass",
	"DefaultTolerationSeconds", "Priority", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook", "ResourceQuota", "NodeRestriction"}

// corsOrigins is local-up-cluster's: this machine's browsers.
const corsOrigins = `//127.0.0.1(:[0-9]+)?$,//localhost(:[0-9]+)?$`

func (p *Plan) apiServer(c spec.Component, _ *Node) Component {
	s := p.spec
	policy := s.Audit.Policy
	if policy == "" {
		policy = auditPolicyYAML
	}
	auditPolicy := filepath.Join(p.Env.ConfigDir(), "audit-policy.yaml")
	egress := filepath.Join(p.Env.ConfigDir(), "egress-selector.yaml")
	p.Files = append(p.Files,
		File{Path: auditPolicy, Content: policy},
		File{Path: egress, Content: egressSelectorYAML},
	)
	saKey := p.key(pki.ServiceAccount)
	var admission []string
	for _, plugin := range appendNew(admissionChain, s.Admission.Enable...) {
		if !slices.Contains(s.Admission.Disable, plugin) {
			admission = append(admission, plugin)
		}
	}
	flags := []Flag{
		{"authorization-mode", strings.Join(s.AuthorizationModes, ",")},
		{"audit-policy-file", auditPolicy},
		{"audit-log-path", p.Log("kube-apiserver-audit")},
		{"cert-dir", p.Env.CertDir()},
		{"egress-selector-config-file", egress},
		{"client-ca-file", p.cert(pki.ClientCA)},
		{"kubelet-client-certificate", p.cert(pki.KubeletClient)},
		{"kubelet-client-key", p.key(pki.KubeletClient)},
		{"service-account-key-file", saKey},
		{"service-account-lookup", "true"},
		{"service-account-issuer", "https://kubernetes.default.svc"},
		{"service-account-jwks-uri", "https://kubernetes.default.svc/openid/v1/jwks"},
		{"service-account-signing-key-file", saKey},
		{"enable-admission-plugins", strings.Join(admission, ",")},
		{"bind-address", p.apiBind},
		{"secure-port", strconv.Itoa(c.Port)},
		{"tls-cert-file", p.cert(pki.APIServerServing)},
		{"tls-private-key-file", p.key(pki.APIServerServing)},
		{"storage-backend", "etcd3"},
		{"storage-media-type", "application/vnd.kubernetes.protobuf"},
		{"etcd-servers", p.Etcd.ClientURL},
		{"service-cluster-ip-range", s.Network.ServiceCIDR},
		{"feature-gates", p.featureGates()},
		{"external-hostname", "localhost"},
		{"requestheader-username-headers", "X-Remote-User"},
		{"requestheader-group-headers", "X-Remote-Group"},
		{"requestheader-extra-headers-prefix", "X-Remote-Extra-"},
		{"requestheader-client-ca-file", p.cert(pki.RequestHeaderCA)},
		{"requestheader-allowed-names", "system:auth-proxy"},
		{"proxy-client-cert-file", p.cert(pki.AuthProxyClient)},
		{"proxy-client-key-file", p.key(pki.AuthProxyClient)},
		{"cors-allowed-origins", corsOrigins},
	}
	if len(s.Admission.Disable) > 0 {
		flags = append(flags, Flag{"disable-admission-plugins", strings.Join(s.Admission.Disable, ",")})
	}
	if len(s.Nodes) > 0 {
		// logs, exec and port-forward check the kubelet's certificate,
		// and reach the kubelet at its node's address: no resolver
		// knows the nodes' names.
		flags = append(flags, Flag{"kubelet-certificate-authority", p.cert(pki.ServerCA)},
			Flag{"kubelet-preferred-address-types", "InternalIP,Hostname"})
	}
	// Loopback binding would otherwise make the apiserver look for a
	// non-loopback interface to advertise; bound to every interface, it
	// picks one as upstream does. The kubernetes Service's endpoint is
	// this address: with real nodes, the bridge's, which pods reach.
	if !netip.MustParseAddr(p.apiBind).IsUnspecified() {
		flags = append(flags, Flag{"advertise-address", p.apiBind})
	}
	return Component{Address: hostPort(p.apiBind, c.Port), HealthURL: p.localURL + "/readyz", Flags: flags}
}

const auditPolicyYAML = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
`

const egressSelectorYAML = `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
  - name: cluster
    connection:
      proxyProtocol: Direct
  - name: controlplane
    connection:
      proxyProtocol: Direct
  - name: etcd
    connection:
      proxyProtocol: Direct
`
