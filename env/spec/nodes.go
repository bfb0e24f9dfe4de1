package spec

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultNode names the one node of a spec that lists a kubelet and no
// node block.
const DefaultNode = "node-0"

// maxRealNodes bounds the real nodes: each is a containerd, a kubelet and
// a kube-proxy on this machine.
const maxRealNodes = 16

// taintEffects are the effects a taint may have.
var taintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}

type nodeSchema struct {
	Name       string            `hcl:"name,label"`
	Labels     map[string]string `hcl:"labels,optional"`
	LabelsAt   hcl.Range         `hcl:"labels,attr_range"`
	Taints     *hcl.Attribute    `hcl:"taints,optional"`
	Components []componentSchema `hcl:"component,block"`
	DefRange   hcl.Range         `hcl:",def_range"`
}

// Node is one real node: a kubelet, a kube-proxy and a containerd in a
// network and mount namespace of their own.
type Node struct {
	// Name is the node's name in the cluster.
	Name string
	// Labels are put on the node once it registers; Taints ("key=value:
	// Effect") it registers with.
	Labels map[string]string
	Taints []string
	// Components are this node's own blocks of the kinds that run on a
	// node: each replaces, on this node, the spec's block of that kind
	// (the kubelet of one node under Delve).
	Components []Component
	DeclRange  hcl.Range
}

// OnNode are the components node i of s runs: of each kind that runs on a
// node, the node's own block, or else the spec's, whose Delve then
// listens at its port plus i so that each node's has a port of its own.
func (s *Spec) OnNode(i int) []Component {
	n := s.Nodes[i]
	var out []Component
	for _, c := range s.Components {
		if k, _ := s.Kinds.Find(c.Name); !k.OnNode {
			continue
		}
		if own := n.component(c.Name); own != nil {
			out = append(out, *own)
			continue
		}
		if c.Debug != nil && i > 0 {
			d := *c.Debug
			d.Port += i
			host, _, _ := net.SplitHostPort(d.Listen)
			d.Listen = net.JoinHostPort(host, strconv.Itoa(d.Port))
			c.Debug = &d
		}
		out = append(out, c)
	}
	return out
}

// BridgeAddress is this machine's address on the nodes' bridge: the
// first of NodeCIDR, with its length.
func (n Network) BridgeAddress() netip.Prefix {
	p, err := netip.ParsePrefix(n.NodeCIDR)
	if err != nil {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(p.Masked().Addr().Next(), p.Bits())
}

// Images are the image tarballs node i imports: those of the spec's
// blocks, which every node imports, and those of the node's own.
func (s *Spec) Images(i int) []string {
	var images []string
	for _, c := range s.Components {
		images = append(images, c.Images...)
	}
	for _, c := range s.Nodes[i].Components {
		for _, img := range c.Images {
			if !slices.Contains(images, img) {
				images = append(images, img)
			}
		}
	}
	return images
}

// Debugged is how the component name runs under Delve: its block's
// debug, or else that of a node's own block of it; nil when it runs under
// Delve nowhere.
func (s *Spec) Debugged(name string) *Debug {
	if c := s.Component(name); c != nil && c.Debug != nil {
		return c.Debug
	}
	for _, n := range s.Nodes {
		if c := n.component(name); c != nil && c.Debug != nil {
			return c.Debug
		}
	}
	return nil
}

// Node returns the node called name, or nil.
func (s *Spec) Node(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

func (n *Node) component(name string) *Component {
	for i := range n.Components {
		if n.Components[i].Name == name {
			return &n.Components[i]
		}
	}
	return nil
}

// nodes decodes the node blocks of s; a spec with a kubelet and none has
// one node.
func (d *decoder) nodes(raw *fileSchema, s *Spec, body hcl.Body) []Node {
	var onNode []string
	for _, c := range s.Components {
		if k, _ := d.kinds.Find(c.Name); k.OnNode {
			onNode = append(onNode, c.Name)
		}
	}
	runsKubelet := len(onNode) > 0
	if !runsKubelet {
		for _, rc := range raw.Components {
			if k, _ := d.kinds.Find(rc.Name); k.NeedsNodes && s.Component(rc.Name) != nil {
				d.errorf(rc.DefRange, rc.Name+" without nodes",
					"%s serves the pods of real nodes; add component \"kubelet\" {} and component \"kube-proxy\" {}, or remove it.", rc.Name)
			}
		}
	}
	if len(raw.Nodes) == 0 {
		if !runsKubelet {
			return nil
		}
		return []Node{{Name: DefaultNode, DeclRange: body.MissingItemRange()}}
	}
	if !runsKubelet {
		d.errorf(raw.Nodes[0].DefRange, "Node without a kubelet",
			"A node runs the components of component \"kubelet\" and component \"kube-proxy\"; add component \"kubelet\" {} to the spec.")
		return nil
	}
	if len(raw.Nodes) > maxRealNodes {
		d.errorf(raw.Nodes[maxRealNodes].DefRange, "Too many nodes",
			"An environment runs up to %d real nodes on this machine; simulate more with component \"kwok\" { nodes = 100 }.", maxRealNodes)
	}
	seen := map[string]hcl.Range{}
	var nodes []Node
	for i := range raw.Nodes {
		rn := &raw.Nodes[i]
		if prev, dup := seen[rn.Name]; dup {
			d.errorf(rn.DefRange, "Duplicate node", "Node %q is already defined at %s; give each node a name of its own.", rn.Name, prev)
			continue
		}
		seen[rn.Name] = rn.DefRange
		if !nameRE.MatchString(rn.Name) || len(rn.Name) > 63 {
			d.errorf(rn.DefRange, "Invalid node name",
				"%q is not a valid node name: use lower-case letters, digits and dashes, such as \"node-1\".", rn.Name)
		}
		n := Node{Name: rn.Name, Labels: rn.Labels, DeclRange: rn.DefRange}
		for _, key := range sortedKeys(rn.Labels) {
			problems := validation.IsQualifiedName(key)
			problems = append(problems, validation.IsValidLabelValue(rn.Labels[key])...)
			if len(problems) > 0 {
				d.errorf(rn.LabelsAt, "Invalid label", "%s=%s: %s.", key, rn.Labels[key], strings.Join(problems, "; "))
			}
		}
		taints, ranges := d.list(rn.Taints)
		for j, t := range taints {
			if err := checkTaint(t); err != nil {
				d.errorf(ranges[j], "Invalid taint", "%v.", err)
			}
		}
		n.Taints = taints
		own := map[string]bool{}
		for j := range rn.Components {
			rc := &rn.Components[j]
			k, known := d.kinds.Find(rc.Name)
			switch {
			case own[rc.Name]:
				d.errorf(rc.DefRange, "Duplicate component", "Node %q has a block for %s already; merge the two.", rn.Name, rc.Name)
				continue
			case known && !k.OnNode:
				d.errorf(rc.DefRange, "Not a node's component",
					"%s does not run on a node; a node block may say how its %s run.", rc.Name, strings.Join(onNode, " and "))
				continue
			case known && s.Component(rc.Name) == nil:
				d.errorf(rc.DefRange, "Component not in the spec",
					"The spec does not run %s; add component %q {} at the top level, for every node, and say here how this node runs it.", rc.Name, rc.Name)
				continue
			case rc.Kubernetes != nil:
				d.errorf(rc.Kubernetes.DefRange, "Unsupported block",
					"A node's %s is built from the spec's source, or from the source of the top-level component %q block; kenv does not build one node's from a source of its own yet.", rc.Name, rc.Name)
				continue
			}
			own[rc.Name] = true
			if c, ok := d.component(rc); ok {
				n.Components = append(n.Components, c)
			}
		}
		nodes = append(nodes, n)
	}
	d.checkNodeRanges(raw, s, len(nodes))
	return nodes
}

// checkNodeRanges wants room for the nodes: a /24 of the pods' range
// each, and an address each beside the machine's in the nodes' range.
func (d *decoder) checkNodeRanges(raw *fileSchema, s *Spec, nodes int) {
	var at, nodeAt hcl.Range
	if raw.Network != nil {
		at, nodeAt = raw.Network.PodCIDRAt, raw.Network.NodeCIDRAt
	}
	if at == (hcl.Range{}) {
		at = raw.Nodes[0].DefRange
	}
	if nodeAt == (hcl.Range{}) {
		nodeAt = raw.Nodes[0].DefRange
	}
	if pods, err := netip.ParsePrefix(s.Network.PodCIDR); err == nil && pods.Bits() > 24-bits(nodes) {
		d.errorf(at, "Pod range too small for the nodes",
			"The controller-manager gives each node a /24 of the pods' range %s; for %d nodes set network { pod_cidr } to a /%d or wider.", s.Network.PodCIDR, nodes, 24-bits(nodes))
	}
	if own, err := netip.ParsePrefix(s.Network.NodeCIDR); err == nil && own.Bits() < 32 && 1<<(32-own.Bits())-3 < nodes {
		d.errorf(nodeAt, "Node range too small for the nodes",
			"%s holds this machine's address and the nodes'; for %d nodes choose a wider range in network { node_cidr }.", s.Network.NodeCIDR, nodes)
	}
}

// bits is how many bits count to n.
func bits(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

// checkTaint wants key[=value]:Effect.
func checkTaint(t string) error {
	kv, effect, ok := strings.Cut(t, ":")
	if !ok {
		return fmt.Errorf("%q: write a taint as key=value:Effect, such as \"dedicated=debug:NoSchedule\"", t)
	}
	key, value, _ := strings.Cut(kv, "=")
	problems := validation.IsQualifiedName(key)
	problems = append(problems, validation.IsValidLabelValue(value)...)
	if len(problems) > 0 {
		return fmt.Errorf("%q: %s", t, strings.Join(problems, "; "))
	}
	for _, e := range taintEffects {
		if e == effect {
			return nil
		}
	}
	return fmt.Errorf("%q: the effect is one of %s", t, strings.Join(taintEffects, ", "))
}
