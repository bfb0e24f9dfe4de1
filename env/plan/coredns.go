package plan

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/kenv-dev/kenv/env/build"
	"github.com/kenv-dev/kenv/env/lock"
	"github.com/kenv-dev/kenv/env/spec"
)

const coreDNSName = "coredns"

// DefaultCoreDNS is the CoreDNS release kenv installs unless the spec pins
// one: the one kubeadm deploys with Kubernetes v1.34.
const DefaultCoreDNS = "v1.12.1"

// coreDNS is the cluster's DNS, local-up-cluster's ENABLE_CLUSTER_DNS:
// CoreDNS, built from its Go module, run by kenv on this machine like any
// component (so that it runs under Delve like one), serving the nodes'
// pods on the bridge behind the kube-dns Service.
var coreDNS = Kind{
	Kind:  spec.Kind{Name: coreDNSName, Port: 10253, DebugPort: 2351, Origin: spec.FromModule, Takes: []string{"version"}, NeedsNodes: true},
	Needs: []Need{{apiServerName, Serving}},
	plan:  (*Plan).coreDNS,
	// CoreDNS logs what its Corefile says; it has no -v.
	logLevel: func(int) string { return "" },
}

// DNS is the cluster's DNS: the CoreDNS release kenv installs, and the
// kube-dns Service that sends the pods' queries to it.
type DNS struct {
	Module build.Module
	// Dir holds the coredns binary.
	Dir string
	// ServiceIP is the kube-dns Service's, the service range's tenth
	// address, the kubelets' clusterDNS; Address is where CoreDNS
	// answers, the machine's address on the nodes' bridge.
	ServiceIP  string
	Address    string
	Kubeconfig string
}

// clusterDNS is the tenth address of the Services' range, kube-dns's by
// custom.
func clusterDNS(serviceCIDR string) string {
	addr := netip.MustParsePrefix(serviceCIDR).Masked().Addr()
	for range 10 {
		addr = addr.Next()
	}
	return addr.String()
}

// coreDNS is CoreDNS answering for cluster.local from kube-apiserver's
// Services and pods, on the bridge's address, and for nothing else: the
// environment is offline. Its readiness is the ready plugin's, on c's
// port on loopback.
func (p *Plan) coreDNS(c spec.Component, _ *Node) Component {
	version := lock.InstallPin(p.inputs.Lock, coreDNSName, c.Version)
	if version == "" {
		version = DefaultCoreDNS
	}
	dir := p.inputs.Cache.ModuleDir("coredns", version)
	d := &DNS{
		Module:     build.Module{Path: "github.com/coredns/coredns", Version: version},
		Dir:        dir,
		ServiceIP:  clusterDNS(p.spec.Network.ServiceCIDR),
		Address:    p.spec.Network.BridgeAddress().Addr().String(),
		Kubeconfig: p.Env.Kubeconfig("admin"),
	}
	p.DNS = d
	corefile := filepath.Join(p.Env.ConfigDir(), "Corefile")
	p.Files = append(p.Files, File{Path: corefile, Content: fmt.Sprintf(corefileText, d.Address, hostPort(Loopback, c.Port), d.Kubeconfig)})
	return Component{
		Binary:    filepath.Join(dir, d.Module.Binary()),
		Address:   hostPort(Loopback, c.Port),
		Endpoint:  "dns://" + d.Address,
		HealthURL: "http://" + hostPort(Loopback, c.Port) + "/ready",
		Flags:     []Flag{{"conf", corefile}, {"dns.port", strconv.Itoa(53)}},
	}
}

// corefileText answers cluster.local and the reverse zones from the
// cluster as upstream's Corefile does, without forwarding anything
// beyond it.
const corefileText = `.:53 {
    bind %s
    errors
    ready %s
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loop
}
`
