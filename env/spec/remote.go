package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultManifests is where kubeadm, kind and minikube keep a node's
// static pod manifests.
const DefaultManifests = "/etc/kubernetes/manifests"

// DefaultRemoteDir is kenv's directory on a cluster's node, one
// environment per subdirectory.
const DefaultRemoteDir = "/var/lib/kenv"

// defaultRestoreAfter is how long a node waits for kenv to come back
// before it puts its static pod back.
const defaultRestoreAfter = time.Minute

// swappable are the kinds kenv can put in place of a cluster's static
// pod, and the kubelet, in place of its systemd unit's.
var swappable = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}

type clusterSchema struct {
	Kubeconfig     *string             `hcl:"kubeconfig,optional"`
	KubeconfigAt   hcl.Range           `hcl:"kubeconfig,attr_value_range"`
	Context        *string             `hcl:"context,optional"`
	RestoreAfter   *string             `hcl:"restore_after,optional"`
	RestoreAfterAt hcl.Range           `hcl:"restore_after,attr_value_range"`
	Nodes          []clusterNodeSchema `hcl:"node,block"`
	DefRange       hcl.Range           `hcl:",def_range"`
}

type clusterNodeSchema struct {
	Name        string    `hcl:"name,label"`
	SSH         *string   `hcl:"ssh,optional"`
	SSHAt       hcl.Range `hcl:"ssh,attr_value_range"`
	SSHOptions  []string  `hcl:"ssh_options,optional"`
	Exec        []string  `hcl:"exec,optional"`
	ExecAt      hcl.Range `hcl:"exec,attr_value_range"`
	Manifests   *string   `hcl:"manifests,optional"`
	ManifestsAt hcl.Range `hcl:"manifests,attr_value_range"`
	Dir         *string   `hcl:"dir,optional"`
	DirAt       hcl.Range `hcl:"dir,attr_value_range"`
	DefRange    hcl.Range `hcl:",def_range"`
}

// Cluster is a cluster kenv did not make (kubeadm, kind, minikube): the
// spec's components run on its nodes in place of their static pods.
type Cluster struct {
	// Kubeconfig is absolute; Context empty means its current one.
	Kubeconfig string
	Context    string
	// RestoreAfter is how long a node waits, once kenv's session with it
	// is gone, before it puts the static pods back on its own.
	RestoreAfter time.Duration
	Nodes        []ClusterNode
	DeclRange    hcl.Range
}

// ClusterNode is how kenv reaches one node of a Cluster: SSH (with
// SSHOptions before the destination) or an Exec prefix that runs a command
// there with its standard input and output passed through.
type ClusterNode struct {
	Name       string
	SSH        string
	SSHOptions []string
	Exec       []string
	// Manifests is the kubelet's static pod directory on the node; Dir
	// kenv's own directory there.
	Manifests string
	Dir       string
	DeclRange hcl.Range
}

// Reach names how kenv reaches the node, for people.
func (n ClusterNode) Reach() string {
	if n.SSH != "" {
		return "ssh " + n.SSH
	}
	return strings.Join(n.Exec, " ")
}

// ClusterNode returns the cluster's node called name, or nil.
func (c *Cluster) Node(name string) *ClusterNode {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i]
		}
	}
	return nil
}

// cluster decodes the cluster block and checks what a spec of a cluster
// kenv did not make may hold: the components it swaps, each on a node of
// the cluster, with their Delve and source, and nothing of the
// environments kenv makes itself.
func (d *decoder) cluster(raw *fileSchema, s *Spec) {
	rc := raw.Cluster
	c := &Cluster{DeclRange: rc.DefRange, Context: or(rc.Context, ""), RestoreAfter: defaultRestoreAfter}
	c.Kubeconfig = d.kubeconfigPath(rc)
	if rc.RestoreAfter != nil {
		after, err := time.ParseDuration(*rc.RestoreAfter)
		switch {
		case err != nil:
			d.errorf(rc.RestoreAfterAt, "Invalid duration", "%q is not a duration; write it like \"1m\" or \"30s\".", *rc.RestoreAfter)
		case after < 5*time.Second:
			d.errorf(rc.RestoreAfterAt, "restore_after too short",
				"A node waits %s for kenv before it puts the static pods back; give kenv at least 5s to come back after a moment's network loss.", after)
		default:
			c.RestoreAfter = after
		}
	}
	seen := map[string]hcl.Range{}
	for _, rn := range rc.Nodes {
		if prev, dup := seen[rn.Name]; dup {
			d.errorf(rn.DefRange, "Duplicate node", "Node %q is already defined at %s.", rn.Name, prev)
			continue
		}
		seen[rn.Name] = rn.DefRange
		if errs := validation.IsDNS1123Subdomain(rn.Name); len(errs) > 0 {
			d.errorf(rn.DefRange, "Invalid node name", "%q is not a node name: %s.", rn.Name, strings.Join(errs, "; "))
		}
		n := ClusterNode{Name: rn.Name, SSH: or(rn.SSH, ""), SSHOptions: rn.SSHOptions, Exec: rn.Exec,
			Manifests: or(rn.Manifests, DefaultManifests), Dir: or(rn.Dir, DefaultRemoteDir), DeclRange: rn.DefRange}
		switch {
		case rn.SSH == nil && len(rn.Exec) == 0:
			d.errorf(rn.DefRange, "How to reach the node",
				"Say how kenv reaches node %q: ssh = \"root@10.0.0.5\" (your ssh config, keys and agent apply), or exec = [\"docker\", \"exec\", \"-i\", \"kind-control-plane\"] (kind) or [\"minikube\", \"ssh\", \"--\"] (minikube).", rn.Name)
		case rn.SSH != nil && len(rn.Exec) > 0:
			d.errorf(rn.ExecAt, "Both ssh and exec", "Node %q is reached by ssh or by exec, not both.", rn.Name)
		case rn.SSH != nil && strings.TrimSpace(n.SSH) == "":
			d.errorf(rn.SSHAt, "Empty ssh destination", "Write the destination as ssh takes it: \"root@10.0.0.5\" or a Host of your ssh config.")
		case len(rn.SSHOptions) > 0 && rn.SSH == nil:
			d.errorf(rn.DefRange, "ssh_options without ssh", "ssh_options are passed to ssh; node %q is reached by exec.", rn.Name)
		}
		for _, p := range []struct {
			v  string
			at hcl.Range
		}{{n.Manifests, rn.ManifestsAt}, {n.Dir, rn.DirAt}} {
			if !filepath.IsAbs(p.v) || filepath.Clean(p.v) == "/" {
				d.errorf(p.at, "Invalid path on the node", "%q must be an absolute directory on the node, not /.", p.v)
			}
		}
		c.Nodes = append(c.Nodes, n)
	}
	if len(rc.Nodes) == 0 {
		d.errorf(rc.DefRange, "No node", "Name the node whose static pods kenv swaps: node \"cp-1\" { ssh = \"root@10.0.0.5\" }.")
	}
	s.Cluster = c
	if _, set := d.ranges["build.binaries"]; !set {
		s.Build.Binaries = nil // kubectl is the cluster's user's own
	}

	// What the cluster's manifests decide, the spec does not.
	for _, b := range []struct {
		set  bool
		what string
	}{
		{raw.Etcd != nil, "etcd"}, {raw.Network != nil, "network"}, {raw.Audit != nil, "audit"},
		{raw.Admission != nil, "admission"}, {raw.FeatureGates != nil, "feature_gates"},
		{raw.AuthorizationModes != nil, "authorization_modes"}, {len(raw.Nodes) > 0, "node"},
		{raw.Kubernetes != nil && (raw.Kubernetes.EmulatedVersion != nil || raw.Kubernetes.MinCompatibilityVersion != nil), "kubernetes { emulated_version }"},
	} {
		if b.set {
			d.errorf(rc.DefRange, "Not for a cluster kenv did not make",
				"%s sets up an environment kenv makes itself; the components of a cluster block run with the flags of the cluster's manifests. Remove %s, or the cluster block.", b.what, b.what)
		}
	}
	for i := range raw.Components {
		comp := &raw.Components[i]
		if !slices.Contains(swappable, comp.Name) {
			d.errorf(comp.DefRange, "Not a component kenv swaps", "kenv swaps the static pods of %s, and a node's kubelet that systemd runs.",
				strings.Join(swappable[:len(swappable)-1], ", "))
			continue
		}
		for _, a := range []struct {
			set  bool
			what string
		}{{comp.Port != nil, "port"}, {comp.Flags != nil, "flags"}, {len(comp.Args) > 0, "args"}, {len(comp.Env) > 0, "env"},
			{comp.Verbosity != nil, "verbosity"}, {comp.VModule != nil, "vmodule"}, {comp.Restart != nil, "restart"},
			{comp.EmulatedVersion != nil, EmulatedVersion}, {comp.MinCompatibilityVersion != nil, MinCompatibilityVersion}} {
			if a.set {
				from := "its manifest"
				if comp.Name == "kubelet" {
					from = "the process its systemd unit runs"
				}
				d.errorf(comp.DefRange, "Not for a cluster's component",
					"%s runs with the command, flags and environment of %s on the node; %s is not taken here. Remove it.", comp.Name, from, a.what)
			}
		}
		c := s.Component(comp.Name)
		if c == nil {
			continue
		}
		switch {
		case comp.Node != nil && s.Cluster.Node(*comp.Node) == nil:
			d.errorf(comp.NodeAt, "Unknown node", "%q is not a node of the cluster block; it has %s.", *comp.Node, strings.Join(clusterNodeNames(s.Cluster), ", "))
		case comp.Node != nil:
			c.Node = *comp.Node
		case len(s.Cluster.Nodes) == 1:
			c.Node = s.Cluster.Nodes[0].Name
		case len(s.Cluster.Nodes) > 1:
			d.errorf(comp.DefRange, "Which node", "The cluster block has %d nodes; say which one's %s kenv swaps: node = %q.",
				len(s.Cluster.Nodes), comp.Name, s.Cluster.Nodes[0].Name)
		}
	}
}

func clusterNodeNames(c *Cluster) []string {
	var names []string
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return names
}

// kubeconfigPath is the cluster's kubeconfig: the spec's, relative to
// the spec or to the home directory (~/), or else the first of
// $KUBECONFIG, or ~/.kube/config.
func (d *decoder) kubeconfigPath(rc *clusterSchema) string {
	p := ""
	if rc.Kubeconfig != nil {
		p = *rc.Kubeconfig
	} else if env := os.Getenv("KUBECONFIG"); env != "" {
		p = filepath.SplitList(env)[0]
	} else {
		p = "~/.kube/config"
	}
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			d.errorf(rc.KubeconfigAt, "No home directory", "%v; write the kubeconfig's path in full.", err)
			return p
		}
		p = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.specDir, p)
	}
	if _, err := os.Stat(p); err != nil {
		at := rc.KubeconfigAt
		if rc.Kubeconfig == nil {
			at = rc.DefRange
		}
		d.errorf(at, "No kubeconfig", "%v. kenv reads the cluster's version and health through it: set kubeconfig = \"...\" in the cluster block.", err)
	}
	return p
}
