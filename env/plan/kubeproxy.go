package plan

import (
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const kubeProxyName = "kube-proxy"

// kubeProxy is the node's kube-proxy; it starts with the kubelet, and is
// not ready before the kubelet has registered the node.
var kubeProxy = Kind{
	Kind:  spec.Kind{Name: kubeProxyName, Port: 10256, DebugPort: 2349, Skew: 3, OnNode: true},
	Needs: []Need{{apiServerName, Serving}, {containerdName, Stocked}},
	plan:  (*Plan).kubeProxy,
}

// metricsPort is where kube-proxy serves its metrics, on the node's
// loopback.
const metricsPort = 10249

// kubeProxy is kube-proxy of node n in iptables mode for the pods' range,
// its health check on c's port at the node's address.
func (p *Plan) kubeProxy(c spec.Component, n *Node) Component {
	kubeconfig := p.Env.Kubeconfig("kube-proxy")
	if !p.hasKubeconfig(kubeconfig) {
		p.apiClient("kube-proxy", pki.ProxyClient, "system:kube-proxy", "system:nodes")
	}
	addr := hostPort(n.Addr.Addr().String(), c.Port)
	return Component{
		Endpoint:  "http://" + addr,
		HealthURL: "http://" + addr + "/healthz",
		Flags: []Flag{
			{"kubeconfig", kubeconfig},
			{"hostname-override", n.Name},
			{"proxy-mode", "iptables"},
			{"cluster-cidr", p.spec.Network.PodCIDR},
			{"healthz-bind-address", addr},
			{"metrics-bind-address", hostPort(Loopback, metricsPort)},
			// Leave the machine's conntrack table size alone.
			{"conntrack-max-per-core", "0"},
			{"feature-gates", p.featureGates()},
		},
	}
}
