package plan

import (
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const kubeProxyName = "kube-proxy"

// kubeProxy is the node's kube-proxy; it starts with the kubelet, and is
// not ready before the kubelet has registered the node.
var kubeProxy = Kind{
	Kind:  spec.Kind{Name: kubeProxyName, Port: 10256, DebugPort: 2349, Skew: 3},
	Needs: []Need{{apiServerName, Serving}, {containerdName, Stocked}},
	plan:  (*Plan).kubeProxy,
}

// metricsPort is where kube-proxy serves its metrics, on loopback: a
// port of the environment's like any other.
const metricsPort = 10249

// kubeProxy is kube-proxy in iptables mode for the node's pod range, its
// health check on c's port.
func (p *Plan) kubeProxy(c spec.Component) Component {
	kubeconfig := p.apiClient("kube-proxy", pki.ProxyClient, "system:kube-proxy", "system:nodes")
	return Component{
		Also:      []string{hostPort(Loopback, metricsPort)},
		Endpoint:  "http://" + hostPort(p.spec.Network.BindAddress, c.Port),
		HealthURL: "http://" + hostPort(p.localHost, c.Port) + "/healthz",
		Flags: []Flag{
			{"kubeconfig", kubeconfig},
			{"hostname-override", p.localHost},
			{"proxy-mode", "iptables"},
			{"cluster-cidr", p.spec.Network.PodCIDR},
			{"healthz-bind-address", hostPort(p.spec.Network.BindAddress, c.Port)},
			{"metrics-bind-address", hostPort(Loopback, metricsPort)},
			// Leave the machine's conntrack table size alone.
			{"conntrack-max-per-core", "0"},
			{"feature-gates", p.featureGates()},
		},
	}
}
