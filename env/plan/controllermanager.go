package plan

import (
	"strconv"

	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

const controllerManagerName = "kube-controller-manager"

// kubeControllerManager runs every controller, without leader election,
// with a serving certificate of the server CA; it starts once
// kube-apiserver accepts connections.
var kubeControllerManager = Kind{
	Kind:  spec.Kind{Name: controllerManagerName, Port: 10257, DebugPort: 2346, Skew: 1, Takes: emulating},
	Needs: []Need{{apiServerName, Serving}},
	plan:  (*Plan).controllerManager,
}

func (p *Plan) controllerManager(c spec.Component, _ *Node) Component {
	kubeconfig := p.apiClient("controller", pki.ControllerClient, "system:kube-controller-manager")
	p.Certificates = append(p.Certificates, pki.ServingLeaf(pki.ControllerServing, controllerManagerName, p.localHosts))
	comp := Component{
		HealthURL: p.healthURL(c.Port, "/healthz"),
		Flags: []Flag{
			{"service-account-private-key-file", p.key(pki.ServiceAccount)},
			{"service-cluster-ip-range", p.spec.Network.ServiceCIDR},
			{"root-ca-file", p.cert(pki.ServerCA)},
			{"cluster-signing-cert-file", p.cert(pki.ClientCA)},
			{"cluster-signing-key-file", p.key(pki.ClientCA)},
			{"enable-hostpath-provisioner", "false"},
			{"pvclaimbinder-sync-period", "15s"},
			{"feature-gates", p.featureGates()},
			{"authentication-kubeconfig", kubeconfig},
			{"authorization-kubeconfig", kubeconfig},
			{"kubeconfig", kubeconfig},
			{"use-service-account-credentials", "true"},
			{"controllers", "*"},
			{"leader-elect", "false"},
			{"tls-cert-file", p.cert(pki.ControllerServing)},
			{"tls-private-key-file", p.key(pki.ControllerServing)},
			{"secure-port", strconv.Itoa(c.Port)},
			{"bind-address", p.spec.Network.BindAddress},
		},
	}
	if len(p.spec.Nodes) > 0 {
		// Each real node gets a /24 of the pods' range, which its
		// containerd's pod network hands out.
		comp.Flags = append(comp.Flags,
			Flag{"allocate-node-cidrs", "true"},
			Flag{"cluster-cidr", p.spec.Network.PodCIDR},
			Flag{"node-cidr-mask-size", "24"})
	}
	return comp
}
