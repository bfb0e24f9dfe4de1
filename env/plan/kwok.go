package plan

import (
	"path/filepath"
	"strconv"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/kwok"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/spec"
	"github.com/kenv-dev/kenv/pki"
)

// Kwok runs simulated nodes: the kwok release kenv installs and the nodes
// it keeps registered for it.
type Kwok struct {
	Module build.Module
	// Dir holds the kwok binary and Stages, the node and pod stages kenv
	// takes from the module: nodes become Ready and keep their leases,
	// pods run.
	Dir    string
	Stages string
	// Nodes are the names of the simulated nodes kenv registers, marked
	// so that kwok manages them and no real node.
	Nodes      []string
	Kubeconfig string
}

const kwokName = "kwok"

// kwokKind simulates nodes: kwok's controller, installed from its module,
// once kube-apiserver accepts connections.
var kwokKind = Kind{
	Kind: spec.Kind{Name: kwokName, Port: 10247, DebugPort: 2350, Origin: spec.FromModule, Takes: []string{"nodes", "version"}},

	Needs: []Need{{apiServerName, Serving}},
	plan:  (*Plan).kwokController,
	// kwok's -v is a slog level, not klog's verbosity.
	logLevel: func(v int) string {
		if v >= 4 {
			return "DEBUG"
		}
		return "INFO"
	},
}

// kwokController is kwok's controller, serving the nodes' endpoint (logs, exec) on
// c's port with a certificate of the server CA.
func (p *Plan) kwokController(c spec.Component, _ *Node) Component {
	version := lock.InstallPin(p.inputs.Lock, kwokName, c.Version)
	if version == "" {
		version = kwok.DefaultVersion
	}
	dir := p.inputs.Cache.KwokDir(version)
	k := &Kwok{
		Module:     build.Module{Path: "sigs.k8s.io/kwok", Package: "cmd/kwok", Version: version},
		Dir:        dir,
		Stages:     filepath.Join(dir, kwok.StagesFile),
		Kubeconfig: p.Env.Kubeconfig("kwok"),
	}
	for i := range c.Nodes {
		k.Nodes = append(k.Nodes, "kwok-node-"+strconv.Itoa(i))
	}
	p.Kwok = k
	p.Kubeconfigs = append(p.Kubeconfigs, Kubeconfig{Path: k.Kubeconfig, Client: pki.AdminClient, Server: p.localURL})
	p.Certificates = append(p.Certificates, pki.ServingLeaf(pki.KwokServing, "kwok", p.localHosts))
	return Component{
		Binary:    filepath.Join(dir, k.Module.Binary()),
		HealthURL: p.healthURL(c.Port, "/healthz"),
		Flags: []Flag{
			{"kubeconfig", k.Kubeconfig},
			{"config", k.Stages},
			{"manage-all-nodes", "false"},
			{"manage-nodes-with-annotation-selector", kwok.Selector},
			{"node-ip", p.localHost},
			{"node-port", strconv.Itoa(c.Port)},
			{"server-address", hostPort(p.spec.Network.BindAddress, c.Port)},
			{"tls-cert-file", p.cert(pki.KwokServing)},
			{"tls-private-key-file", p.key(pki.KwokServing)},
			{"node-lease-duration-seconds", "40"},
		},
	}
}
