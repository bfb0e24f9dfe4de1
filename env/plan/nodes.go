package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/kenv-dev/kenv/env/host"
	"github.com/kenv-dev/kenv/env/ns"
	"github.com/kenv-dev/kenv/env/spec"
)

// Nodes are the environment's real nodes and what joins them to this
// machine: a bridge of the environment's, whose host address is where
// the nodes reach kube-apiserver, with a veth to each node.
type Nodes struct {
	// Bridge is the bridge on this machine, with the machine's address on
	// it; the nodes' addresses are of its subnet.
	Bridge ns.Bridge
	// PodCIDR is the pods' range, a /24 of which the controller-manager
	// gives each node; ServiceCIDR the Services', routed from this
	// machine through the first node.
	PodCIDR     string
	ServiceCIDR string
	// PauseSource is the tree's pause.c, built into PauseDir as the image
	// every pod's sandbox runs.
	PauseSource string
	PauseDir    string
	// Record is where up records the kernel settings of the machine the
	// kubelets change, for down.
	Record string
	// Kubeconfig is the admin's, with which kenv registers the nodes'
	// labels and waits for them.
	Kubeconfig string
	List       []*Node
}

// Node is one real node: its containerd, kubelet and kube-proxy run in
// its own network and mount namespaces, in its own cgroup, with its files
// under Dir.
type Node struct {
	Name string
	// Addr is the node's address on the bridge: its kubelet's and
	// kube-proxy's, and the kubelet's --node-ip.
	Addr netip.Prefix
	// Link is the host's end of the node's veth.
	Link string
	// Dir holds the node's namespaces, containerd's root (images, kept
	// across down) and state, the kubelet's root and the pod IPs handed
	// out (in its own /var/lib/cni); Socket is containerd's CRI socket.
	Dir         string
	Socket      string
	Root        string
	State       string
	KubeletRoot string
	// CNIConfDir is where containerd writes the node's pod network from
	// CNITemplate once the kubelet tells it the node's pod range.
	CNIConfDir  string
	CNITemplate string
	CgroupRoot  string
	CNIBinDir   string
	// Labels are put on the node once it registers; Taints it registers
	// with.
	Labels map[string]string `json:",omitempty"`
	Taints []string          `json:",omitempty"`
	// Images are the spec's image tarballs, imported at every up.
	Images []string `json:",omitempty"`
	// KubeletLog is the kubelet's log, for a node that never gets Ready.
	KubeletLog string
}

// privateDirs are the directories programs of a node use whatever they
// are told: containerd's shim sockets, libcni's result cache, the
// kubelet's container log links and the paths it keeps under
// /var/lib/kubelet (device plugins), and /run/mount, where util-linux's
// mount keeps its table. Each node has its own; the machine's are left
// alone.
var privateDirs = []string{"/run/containerd", "/run/mount", "/var/lib/cni", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods"}

// NS is the node's namespaces, as env/ns makes them.
func (n *Node) NS() ns.Node {
	return ns.Node{Dir: filepath.Join(n.Dir, "ns"), Link: n.Link, Addr: n.Addr, Private: privateDirs}
}

// Host is what the node holds on the machine, for host.Sweep.
func (n *Node) Host() host.Node {
	nsNode := n.NS()
	// The pod network containerd wrote is kept: the node's range is, in
	// etcd, and with it the node is Ready as soon as its kubelet says so
	// at the next up.
	return host.Node{Name: n.Name, NS: nsNode, Transient: []string{n.State, filepath.Join(nsNode.Dir, "private")},
		Socket: n.Socket, CgroupRoot: n.CgroupRoot}
}

// Host is what the nodes hold on the machine, for host.Sweep.
func (ns *Nodes) Host() host.Nodes {
	h := host.Nodes{Bridge: ns.Bridge.Name, Record: ns.Record}
	for _, n := range ns.List {
		h.List = append(h.List, n.Host())
	}
	return h
}

// Node returns the node called name.
func (ns *Nodes) Node(name string) *Node {
	for _, n := range ns.List {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// ComponentName is the name of the component of kind on node: "node-1/
// kubelet"; the kind's name on no node.
func ComponentName(node, kind string) string {
	if node == "" {
		return kind
	}
	return node + "/" + kind
}

// KindName is the kind of the component called name.
func KindName(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// shortName is a name of at most 15 bytes (IFNAMSIZ) made of prefix and
// id: as it is when it fits, else with a hash of id.
func shortName(prefix, id string) string {
	if name := prefix + id; len(name) <= 15 {
		return name
	}
	sum := sha256.Sum256([]byte(id))
	return prefix + hex.EncodeToString(sum[:])[:15-len(prefix)]
}

// nodes decides the nodes' names, addresses and directories, before their
// components are planned.
func (p *Plan) nodes() {
	s := p.spec
	if len(s.Nodes) == 0 {
		return
	}
	bridge := s.Network.BridgeAddress()
	p.Nodes = &Nodes{
		Bridge:      ns.Bridge{Name: shortName("kenv-", s.Name), Addr: bridge},
		PodCIDR:     s.Network.PodCIDR,
		ServiceCIDR: s.Network.ServiceCIDR,
		Record:      filepath.Join(p.Env.NodeDir(), "host-record.json"),
		Kubeconfig:  p.Env.Kubeconfig("admin"),
	}
	addr := bridge.Addr()
	for i, sn := range s.Nodes {
		addr = addr.Next()
		dir := filepath.Join(p.Env.NodeDir(), sn.Name)
		n := &Node{
			Name:        sn.Name,
			Addr:        netip.PrefixFrom(addr, bridge.Bits()),
			Link:        shortName("kv", hex.EncodeToString([]byte{byte(i)})+"-"+s.Name),
			Dir:         dir,
			Socket:      p.Env.RuntimeSocket(sn.Name),
			Root:        filepath.Join(dir, "containerd"),
			State:       filepath.Join(dir, "run"),
			KubeletRoot: filepath.Join(dir, "kubelet"),
			CNIConfDir:  filepath.Join(dir, "cni"),
			CNITemplate: filepath.Join(p.Env.ConfigDir(), "cni-template.json"),
			CgroupRoot:  "/kenv-" + s.Name + "-" + sn.Name,
			CNIBinDir:   p.inputs.Machine.CNIBinDir,
			Labels:      sn.Labels,
			Taints:      sn.Taints,
			KubeletLog:  p.Log(ComponentName(sn.Name, kubeletName)),
		}
		n.Images = s.Images(i)
		p.Nodes.List = append(p.Nodes.List, n)
	}
	p.Files = append(p.Files, File{Path: p.Nodes.List[0].CNITemplate, Content: cniTemplateJSON})
}

// cniTemplateJSON is the nodes' pod network, as containerd renders it for
// a node once the kubelet tells it the node's range: local-up-cluster's
// bridge with host ports, without masquerade, since the pods of other
// nodes and this machine are reached by routes (the node's own, and the
// machine's through the bridge). The pod IPs handed out are kept in the
// node's state, which containerd's template cannot name: host-local's
// default, /var/lib/cni, which is the node's own.
const cniTemplateJSON = `{
  "cniVersion": "0.4.0",
  "name": "kenv",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true},
      "externalSetMarkChain": "KUBE-MARK-MASQ"
    }
  ]
}
`

// nodeKinds are the kinds every node runs, and the implied ones first.
func nodeKinds(s *spec.Spec, i int) []spec.Component {
	var out []spec.Component
	for _, k := range Kinds {
		if k.Implied && k.OnNode {
			out = append(out, spec.Component{Name: k.Name})
		}
	}
	return append(out, s.OnNode(i)...)
}
