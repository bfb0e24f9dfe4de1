package plan

import (
	"path"
	"path/filepath"
	"strings"

	"github.com/kenv-dev/kenv/env/remote"
	"github.com/kenv-dev/kenv/env/spec"
)

// Cluster is a cluster kenv did not make, whose static pods the plan
// swaps for its builds: the spec's components run on its nodes through
// kenv's agent, with the flags of the manifests they replace, and
// kenv's checks ask its API server through its kubeconfig.
type Cluster struct {
	Kubeconfig string
	Context    string `json:",omitempty"`
	// Server is the API server's URL in the kubeconfig, and Version and
	// Commit what its /version said when up asked.
	Server  string
	Version string
	Commit  string `json:",omitempty"`
	Nodes   []remote.Node
	// Swaps are the static pods the plan swaps.
	Swaps []Swap
}

// Swap names a static pod swapped: its kind, on its node.
type Swap struct {
	Node string
	Kind string
}

// MirrorPod is the name of the pod the kubelet shows the static pod as.
func (s Swap) MirrorPod() string { return s.Kind + "-" + s.Node }

// Node returns the cluster's node called name, or nil.
func (c *Cluster) Node(name string) *remote.Node {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i]
		}
	}
	return nil
}

// ClusterFacts are what up reads of a cluster before it decides: where
// its API server is and what it runs.
type ClusterFacts struct {
	Server  string
	Version string
	Commit  string
}

// cluster plans the spec's components on the cluster's nodes: each is the
// build of its kind, under Delve if the spec says so, named "node/kind",
// ready once the node's agent runs the build and, for kube-apiserver, the
// cluster's /readyz answers through the kubeconfig (HealthURL), for the
// others their /healthz on the node's loopback (the agent asks it).
// Nothing of the environments kenv makes itself is planned: no etcd,
// certificates or kubeconfigs.
func (p *Plan) cluster(binDir string) {
	s, facts := p.spec, p.inputs.Cluster
	c := &Cluster{Kubeconfig: s.Cluster.Kubeconfig, Context: s.Cluster.Context, Server: facts.Server,
		Version: facts.Version, Commit: facts.Commit}
	for _, sn := range s.Cluster.Nodes {
		c.Nodes = append(c.Nodes, remote.Node{Name: sn.Name, SSH: sn.SSH, SSHOptions: sn.SSHOptions, Exec: sn.Exec,
			Dir: path.Join(sn.Dir, s.Name), Manifests: sn.Manifests, Grace: s.Cluster.RestoreAfter})
	}
	p.Cluster = c
	p.APIServerURL = facts.Server
	for _, sc := range s.Components {
		comp := Component{Name: ComponentName(sc.Node, sc.Name), Kind: sc.Name, Node: sc.Node,
			Binary: filepath.Join(binDir, sc.Name), Start: AtOnce}
		comp.LogPath = p.Log(comp.Name)
		if sc.Name == apiServerName {
			comp.Endpoint = facts.Server
			comp.HealthURL = strings.TrimSuffix(facts.Server, "/") + "/readyz"
		}
		if sc.Debug != nil {
			comp.Debug = &Debug{Listen: sc.Debug.Listen, Wait: sc.Debug.Wait, Pin: sc.Debug.Dlv, Args: sc.Debug.DlvArgs, Breakpoints: sc.Debug.Breakpoints}
		}
		p.Components = append(p.Components, comp)
		c.Swaps = append(c.Swaps, Swap{Node: sc.Node, Kind: sc.Name})
	}
}

// ship decides what goes to each node of the cluster, once the Delve
// releases are known: kenv itself, the agent; each build that runs there,
// and its Delve.
func (p *Plan) ship() {
	c := p.Cluster
	for i := range c.Nodes {
		n := &c.Nodes[i]
		n.Files = []remote.File{{Local: p.inputs.Machine.Kenv, Remote: n.Agent()}}
		for _, comp := range p.Components {
			if comp.Node != n.Name {
				continue
			}
			n.Files = append(n.Files, remote.File{Local: comp.Binary, Remote: n.Bin(comp.Kind)})
			if d := comp.Debug; d != nil && d.Release != "" {
				dlv := remote.File{Local: d.Dlv, Remote: n.Bin("dlv-" + d.Release)}
				if !containsFile(n.Files, dlv) {
					n.Files = append(n.Files, dlv)
				}
			}
		}
	}
}

func containsFile(files []remote.File, f remote.File) bool {
	for _, g := range files {
		if g == f {
			return true
		}
	}
	return false
}

// swaps reports whether s swaps the static pods of a cluster kenv did not
// make.
func swaps(s *spec.Spec) bool { return s.Cluster != nil }
